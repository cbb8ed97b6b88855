"""Summaries of the dataset's columns for linked charts (Embedding Atlas's cross-filtering views).

Every column of the data -- the label, each metadata column, the split, and per-item analysis
columns (uniqueness scores, cluster names) -- becomes one :class:`Facet`: a histogram for numbers,
counts of the most frequent values for categories.  Each item is assigned once to a *slot* (a bin,
a category, "other" or "missing"), kept as a small integer array ``codes``, so that

* the share of any selection in every slot is one ``np.bincount(codes[selection])``
  (milliseconds at a million items), and
* a brush (a numeric range, or a set of categories) becomes item indices with one comparison.

Decisions, each reported in ``Facet.note`` so the user knows how the chart was made:

* a column whose non-missing values all read as numbers is numeric (a CSV's ``"3.5"`` strings
  too); if at least 95 % read as numbers, the rest count as missing and the note says how many;
* integers with at most ``max_int_categories`` distinct values are categories (a 0/1 flag, a
  rating 1-5), not a histogram of mostly empty bins;
* bin edges are "nice" numbers (1, 2, 2.5, 5 x 10^k) over the range of the values; when a few
  values lie far outside the bulk (beyond the 0.5-99.5 % quantiles by more than the width of
  that range), the range is the bulk's and the extreme values are counted in the end bins, whose
  labels say so (``<= lo`` / ``>= hi``) -- one outlier never squeezes the histogram into one bar;
* NaN, None and empty strings are "missing"; +-inf count in the end bins;
* a text-like column (nearly every value different, e.g. file names or free text) is left out,
  with the reason, since a bar per item shows nothing.

Qt-free; :class:`FacetSet` builds the facets of a dataset (scikit-learn style: parameters in
``__init__``, work in ``fit``, results with a trailing underscore).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedview.core.progress import ProgressArg, TaskState

#: what a slot is
SLOT_BIN, SLOT_CATEGORY, SLOT_OTHER, SLOT_MISSING = "bin", "category", "other", "missing"
#: where a facet's values came from
SOURCES = ("label", "split", "metadata", "score", "cluster", "derived")

#: the metadata column holding each item's split (what the loaders and ``core.audit`` use)
SPLIT_COLUMN = "split"
MISSING_LABEL = "(missing)"
OTHER_LABEL = "(other)"


@dataclass
class Facet:
    """One column summarised: slots (bins or categories), every item's slot, and how it was made."""

    name: str
    source: str  #: one of :data:`SOURCES`
    kind: str  #: "numeric" (histogram) or "categorical" (bar per value)
    codes: np.ndarray  #: (N,) int16/int32: the slot of each item
    counts: np.ndarray  #: (n_slots,) int64: items per slot (sums to N)
    labels: list[str]  #: (n_slots,) what each slot is called
    slot_kinds: list[str]  #: (n_slots,) :data:`SLOT_BIN` / `SLOT_CATEGORY` / `SLOT_OTHER` / `SLOT_MISSING`
    #: numeric: the (n_bins + 1) bin edges (the end bins also hold values beyond them when ``clipped``)
    edges: np.ndarray | None = None
    #: numeric: every item's value (NaN when missing), for range brushes
    values: np.ndarray | None = None
    #: categorical: the value of each category slot (``str``), in slot order
    categories: list[str] = field(default_factory=list)
    #: numeric: whether the end bins hold values beyond ``edges`` (outliers / infinities)
    clipped: bool = False
    integer: bool = False  #: numeric: every value is an integer
    n_missing: int = 0
    n_distinct: int = 0  #: distinct non-missing values
    note: str = ""  #: how the chart was made, in words

    @property
    def n(self) -> int:
        return int(self.codes.shape[0])

    @property
    def n_slots(self) -> int:
        return len(self.labels)

    def selected_counts(self, indices: np.ndarray | None) -> np.ndarray:
        """Items of ``indices`` per slot: one bincount over precomputed codes."""
        if indices is None:
            return np.zeros(self.n_slots, dtype=np.int64)
        idx = np.asarray(indices, dtype=np.int64)
        return np.bincount(self.codes[idx], minlength=self.n_slots).astype(np.int64)

    def mask_range(self, lo: float, hi: float) -> np.ndarray:
        """Items whose value lies in ``[lo, hi)`` -- the bins' own convention, so a range from one
        bin edge to another takes exactly those bars -- with ``hi`` included once it reaches the
        last edge.  A range reaching an end bin that holds clipped values reaches past it (to -inf /
        +inf), so the brush takes what that bar shows.  Missing values are never inside."""
        if self.kind != "numeric" or self.values is None or self.edges is None:
            raise ValueError(f"{self.name!r} is not numeric: brush it by categories")
        lo, hi = float(min(lo, hi)), float(max(lo, hi))
        v = self.values
        last = hi >= float(self.edges[-1])
        if self.clipped:
            if lo <= float(self.edges[0]):
                lo = -np.inf
            if last:
                hi = np.inf
        with np.errstate(invalid="ignore"):
            return (v >= lo) & ((v <= hi) if last else (v < hi))

    def mask_slots(self, slots: Iterable[int]) -> np.ndarray:
        """Items in any of ``slots`` (category bars, "other", "missing", or bins)."""
        wanted = np.zeros(max(self.n_slots, 1), dtype=bool)
        for s in slots:
            if 0 <= int(s) < self.n_slots:
                wanted[int(s)] = True
        return wanted[self.codes]

    def mask_categories(self, values: Iterable[str]) -> np.ndarray:
        """Items whose value is one of ``values`` (category names, or ``OTHER_LABEL`` /
        ``MISSING_LABEL`` for those slots)."""
        want = {str(v) for v in values}
        return self.mask_slots(i for i, lab in enumerate(self.labels) if lab in want)

    def slot_at(self, x: float) -> int:
        """The numeric bin holding value ``x`` (-1 outside the edges)."""
        if self.edges is None:
            return -1
        e = self.edges
        if x < e[0] or x > e[-1]:
            return -1
        return int(min(np.searchsorted(e, x, side="right") - 1, len(e) - 2))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.source, "kind": self.kind, "n": self.n,
            "labels": list(self.labels), "counts": [int(c) for c in self.counts],
            "edges": None if self.edges is None else [float(e) for e in self.edges],
            "clipped": self.clipped, "n_missing": self.n_missing, "n_distinct": self.n_distinct,
            "note": self.note,
        }


@dataclass
class SkippedColumn:
    name: str
    source: str
    reason: str


# -- reading columns --------------------------------------------------------------------------------
def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str) and not v.strip():
        return True
    return False


def _as_numbers(col: Any) -> tuple[np.ndarray | None, np.ndarray, int]:
    """``(values, missing, n_unparsed)``: the column as float64 with NaN for missing, or ``None``
    when it is not numeric (fewer than 95 % of its non-missing values read as numbers)."""
    arr = np.asarray(col) if not isinstance(col, np.ndarray) else col
    if arr.dtype.kind == "b":
        return None, np.zeros(len(arr), dtype=bool), 0
    if arr.dtype.kind in "iuf":
        vals = arr.astype(np.float64, copy=False)
        return vals, np.isnan(vals), 0
    items = list(col) if not isinstance(col, np.ndarray) else col.tolist()
    n = len(items)
    if n > 2000 and _mostly_words(items[:: max(1, n // 500)]):
        return None, np.zeros(n, dtype=bool), 0
    if not any(isinstance(v, bool) for v in items[:100]):
        try:  # every value a number or a number's text (a CSV column without gaps): numpy parses it at C speed
            fast = np.asarray(items, dtype=np.float64)
            return fast, np.isnan(fast), 0
        except (TypeError, ValueError):
            pass
    vals = np.full(n, np.nan)
    missing = np.zeros(n, dtype=bool)
    bad = 0
    for i, v in enumerate(items):
        if _is_missing(v):
            missing[i] = True
            continue
        if isinstance(v, bool):
            return None, missing, 0
        if isinstance(v, (int, float, np.integer, np.floating)):
            vals[i] = float(v)
            continue
        try:
            vals[i] = float(str(v).strip())
        except ValueError:
            bad += 1
            if bad > 0.05 * n + 1:  # clearly not numeric: stop early
                return None, missing, bad
    present = n - int(missing.sum())
    if present == 0 or bad > 0.05 * present:
        return None, missing, bad
    missing |= np.isnan(vals)
    return vals, missing, bad


def _mostly_words(sample: Sequence[Any]) -> bool:
    """Whether more than 5 % of a sample's present values are not numbers (a cheap first look)."""
    present = [v for v in sample if not _is_missing(v)]
    bad = 0
    for v in present:
        try:
            float(v)
        except (TypeError, ValueError):
            bad += 1
    return bad > 0.05 * max(len(present), 1)


def _distinct_strings(col: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(uniq, inverse, blank)``: the column's distinct values as text, each item's index into
    them, and which of them are blank (missing: None, NaN, empty or spaces).

    Texts (and None) take the vectorised path: numpy converts and sorts them at C speed, and
    whether a value is blank is decided once per distinct value, not once per item (a million
    labels in well under a second, not several)."""
    items = col.tolist() if isinstance(col, np.ndarray) else list(col)
    types = set(map(type, items))
    if types <= {str, type(None)}:
        obj = np.asarray(items, dtype=object)
        if type(None) in types:
            obj[np.array([v is None for v in items], dtype=bool)] = ""
        arr = obj.astype(str) if len(obj) else np.empty(0, dtype=str)
    else:
        arr = np.array(["" if _is_missing(v) else str(v) for v in items], dtype=str)
    uniq, inverse = np.unique(arr, return_inverse=True)
    blank = np.fromiter((not u.strip() for u in uniq.tolist()), dtype=bool, count=uniq.size)
    return uniq, inverse.reshape(-1), blank


def _s(k: int) -> str:
    return "" if k == 1 else "s"


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= m * mag * (1 + 1e-9):
            return m * mag
    return 10.0 * mag


def _fmt(x: float, step: float = 0.0) -> str:
    """A bin edge as short text, with as many decimals as the bin width needs."""
    if not math.isfinite(x):
        return str(x)
    if x == int(x) and abs(x) < 1e15 and (step == 0 or step >= 1):
        return f"{int(x):,}" if abs(x) >= 10000 else str(int(x))
    if step > 0:
        exp = math.floor(math.log10(step))
        decimals = max(0, min(8, -exp + (1 if round(step / 10.0 ** exp, 6) == 2.5 else 0)))
        return f"{x:.{decimals}f}"
    return f"{x:.4g}"


# -- building facets ----------------------------------------------------------------------------------
def numeric_facet(name: str, values: np.ndarray, source: str = "metadata", max_bins: int = 30,
                  max_int_categories: int = 20, unparsed: int = 0) -> Facet:
    """A histogram of ``values`` (float, NaN = missing); small sets of integers become categories."""
    v = np.asarray(values, dtype=np.float64)
    missing = np.isnan(v)
    finite = np.isfinite(v)
    fv = v[finite]
    n_missing = int(missing.sum())
    n_inf = int((~finite & ~missing).sum())
    integer = bool(fv.size) and bool(np.all(fv == np.round(fv)))
    distinct = np.unique(fv)
    notes: list[str] = []
    if unparsed:
        notes.append(f"{unparsed} non-numeric value{_s(unparsed)} counted as missing")
    if integer and 0 < distinct.size <= max_int_categories and n_inf == 0:
        cats = [_fmt(float(d)) for d in distinct]
        codes = np.searchsorted(distinct, np.where(finite, v, distinct[0])).astype(np.int32)
        labels = list(cats)
        kinds = [SLOT_CATEGORY] * len(cats)
        if n_missing:
            codes[missing] = len(labels)
            labels.append(MISSING_LABEL)
            kinds.append(SLOT_MISSING)
        counts = np.bincount(codes, minlength=len(labels)).astype(np.int64)
        notes.insert(0, f"{distinct.size} whole-number values, one bar each")
        f = Facet(name, source, "categorical", codes, counts, labels, kinds, categories=cats,
                  n_missing=n_missing, n_distinct=int(distinct.size), integer=True, values=v)
        f.note = _note(f, notes)
        return f
    if fv.size == 0:
        lo = hi = 0.0
    else:
        lo, hi = float(fv.min()), float(fv.max())
    clipped = n_inf > 0
    if fv.size >= 20:
        q_lo, q_hi = (float(q) for q in np.quantile(fv, [0.005, 0.995]))
        width = q_hi - q_lo
        if width > 0 and (lo < q_lo - width or hi > q_hi + width):
            n_out = int(((fv < q_lo - width) | (fv > q_hi + width)).sum())
            if lo < q_lo - width:
                lo = q_lo
            if hi > q_hi + width:
                hi = q_hi
            clipped = True
            notes.append(f"{n_out} far outlier{_s(n_out)} counted in the end bars")
    if n_inf:
        notes.append(f"{n_inf} infinite value{_s(n_inf)} counted in the end bars")
    span = hi - lo
    target = int(min(max_bins, max(5, math.ceil(math.log2(max(fv.size, 1)) + 1) * 2)))
    if span <= 0:
        step = 1.0 if integer or lo == 0 else abs(lo) * 0.1 or 1.0
        start = lo - step / 2
        edges = np.array([start, start + step])
    else:
        step = _nice_step(span, target)
        if integer:
            step = max(1.0, math.ceil(step))
        start = math.floor(lo / step) * step
        stop = math.floor(hi / step) * step + step if integer else math.ceil(hi / step) * step
        if stop <= hi and not integer:
            stop += step
        nb = max(1, int(round((stop - start) / step)))
        while nb > max_bins * 2:  # guard against float drift on pathological spans
            step *= 2
            nb = max(1, int(round((stop - start) / step)))
        edges = start + step * np.arange(nb + 1)
    nb = len(edges) - 1
    with np.errstate(invalid="ignore"):
        b = np.floor((np.where(finite, v, np.where(v > 0, np.inf, -np.inf)) - edges[0]) / step)
    b = np.where(np.isnan(b), 0, b)
    codes = np.clip(b, 0, nb - 1).astype(np.int32)
    labels = []
    for i in range(nb):
        a, z = float(edges[i]), float(edges[i + 1])
        if integer and step == 1:
            text = _fmt(a)
        elif integer:
            text = f"{_fmt(a)}\u2013{_fmt(z - 1)}"
        else:
            text = f"{_fmt(a, step)}\u2013{_fmt(z, step)}"
        if clipped and i == 0 and (fv.size and fv.min() < edges[0] or n_inf):
            text = f"\u2264 {_fmt(z, step)}" if not integer else f"\u2264 {_fmt(z - 1)}"
        if clipped and i == nb - 1 and (fv.size and fv.max() >= edges[-1] or n_inf):
            text = f"\u2265 {_fmt(a, step)}"
        labels.append(text)
    kinds = [SLOT_BIN] * nb
    if n_missing:
        codes[missing] = nb
        labels.append(MISSING_LABEL)
        kinds.append(SLOT_MISSING)
    counts = np.bincount(codes, minlength=len(labels)).astype(np.int64)
    f = Facet(name, source, "numeric", codes, counts, labels, kinds, edges=edges, values=v, clipped=clipped,
              integer=integer, n_missing=n_missing, n_distinct=int(distinct.size))
    f.note = _note(f, notes)
    return f


def categorical_facet(name: str, col: Any, source: str = "metadata", max_categories: int = 12,
                      text_like: float = 0.9) -> Facet | SkippedColumn:
    """Counts of the ``max_categories`` most frequent values, the rest as "other", plus "missing".
    A column with nearly every value different (more than ``text_like`` of them, and more values
    than bars) is text-like: returned as a :class:`SkippedColumn` with the reason."""
    all_uniq, all_inverse, blank = _distinct_strings(col)
    n = len(all_inverse)
    missing = blank[all_inverse] if all_uniq.size else np.zeros(n, dtype=bool)
    keep = ~blank
    uniq = all_uniq[keep]
    index_of = np.cumsum(keep) - 1  # position of each kept distinct value among the kept ones
    cnt = np.bincount(all_inverse, minlength=all_uniq.size)[keep]
    n_present = int(n - missing.sum())
    if n_present == 0:
        return SkippedColumn(name, source, "every value missing")
    if uniq.size > max_categories and uniq.size > text_like * n_present and n_present >= 20:
        return SkippedColumn(name, source, f"{uniq.size:,} different values in {n_present:,} items: text-like, "
                                           "no chart (a bar per item shows nothing)")
    order = np.lexsort((uniq, -cnt))  # most frequent first, ties by name
    top = order[:max_categories]
    slot_of_unique = np.full(uniq.size, len(top), dtype=np.int32)
    slot_of_unique[top] = np.arange(len(top), dtype=np.int32)
    cats = [str(uniq[i]) for i in top]
    labels = list(cats)
    kinds = [SLOT_CATEGORY] * len(cats)
    codes = slot_of_unique[index_of[all_inverse]].astype(np.int32)  # blank items are set below
    n_other_values = int(uniq.size - len(top))
    notes = []
    if n_other_values:
        labels.append(OTHER_LABEL)
        kinds.append(SLOT_OTHER)
        notes.append(f"{uniq.size} values; the {len(top)} most frequent shown, {n_other_values} more as "
                     f"\u201cother\u201d")
    n_missing = int(missing.sum())
    if n_missing:
        codes[missing] = len(labels)
        labels.append(MISSING_LABEL)
        kinds.append(SLOT_MISSING)
    counts = np.bincount(codes, minlength=len(labels)).astype(np.int64)
    f = Facet(name, source, "categorical", codes, counts, labels, kinds, categories=cats, n_missing=n_missing,
              n_distinct=int(uniq.size))
    f.note = _note(f, notes)
    return f


def _note(f: Facet, extra: Sequence[str]) -> str:
    """How the chart was made (the item count is the view's to say once, not every chart's)."""
    parts = []
    if f.kind == "numeric" and f.edges is not None:
        parts.append(f"{len(f.edges) - 1} bins of {_fmt(float(f.edges[1] - f.edges[0]))}")
    if f.n_missing:
        parts.append(f"{f.n_missing:,} missing")
    parts.extend(extra)
    return "; ".join(parts)


def column_facet(name: str, col: Any, source: str = "metadata", max_categories: int = 12, max_bins: int = 30,
                 max_int_categories: int = 20) -> Facet | SkippedColumn:
    """The facet of one column: numeric when its values read as numbers, else categorical."""
    if len(col) == 0:
        return SkippedColumn(name, source, "no items")
    values, missing, bad = _as_numbers(col)
    if values is not None:
        if missing.all():
            return SkippedColumn(name, source, "every value missing")
        return numeric_facet(name, values, source, max_bins=max_bins, max_int_categories=max_int_categories,
                             unparsed=bad)
    return categorical_facet(name, col, source, max_categories=max_categories)


def cluster_columns(clusters: Any, n: int) -> dict[str, np.ndarray]:
    """Per-item cluster names from a fitted clustering, one column per granularity:
    ``core.clusters.Clusters`` gives "cluster (coarse)" and "cluster (fine)" (its
    ``name_per_item(level)``); any other shape works too -- an ``(N,)`` array, or an object with
    per-item ``labels_`` (an array, or {level: array}) and optional ``names_`` by cluster id, where
    -1 reads "noise".  Empty when nothing per-item is found."""
    if clusters is None:
        return {}
    levels = getattr(clusters, "levels_", None)
    if levels is not None and hasattr(clusters, "name_per_item"):
        out = {}
        for level in levels:
            try:
                names = np.asarray(clusters.name_per_item(level), dtype=object)
            except (KeyError, IndexError, ValueError):
                continue
            if names.shape == (n,):
                out[f"cluster ({level})"] = names
        return out
    raw = clusters if isinstance(clusters, np.ndarray) else getattr(clusters, "labels_", None)
    all_names: Any = getattr(clusters, "names_", None)
    if isinstance(raw, Mapping):
        return {f"cluster ({k})": col for k, v in raw.items()
                if (col := _named(v, (all_names or {}).get(k) if isinstance(all_names, Mapping) else None, n))
                is not None}
    col = _named(raw, all_names, n)
    return {} if col is None else {"cluster": col}


def _named(raw: Any, names: Any, n: int) -> np.ndarray | None:
    if raw is None:
        return None
    labels = np.asarray(raw)
    if labels.shape != (n,):
        return None
    if names is None or labels.dtype.kind not in "iu":
        return labels
    lookup = (dict(names) if isinstance(names, Mapping)
              else dict(enumerate(names)) if isinstance(names, (list, tuple, np.ndarray)) else {})
    out = np.empty(n, dtype=object)
    for k in np.unique(labels):
        out[labels == k] = "noise" if k < 0 else str(lookup.get(int(k), f"cluster {k}"))
    return out


class FacetSet:
    """The facets of every column of a dataset (and of the per-item analysis columns given).

    Parameters
    ----------
    max_categories : bars per categorical chart before the rest become "other"
    max_bins : most bins of a histogram
    max_int_categories : integers with at most this many distinct values get a bar each
    text_length : also chart the length of each text (characters) for text data
    """

    def __init__(self, max_categories: int = 12, max_bins: int = 30, max_int_categories: int = 20,
                 text_length: bool = True) -> None:
        self.max_categories = max_categories
        self.max_bins = max_bins
        self.max_int_categories = max_int_categories
        self.text_length = text_length

    def fit(self, dataset: Any, scores: Mapping[str, Any] | None = None, clusters: Any = None,
            progress: ProgressArg = None) -> FacetSet:
        """Summarise the label, the split (the ``split`` metadata column), every other metadata
        column, ``scores`` ({name: (N,) array}) and the per-item clusters of ``clusters``."""
        task = TaskState.coerce(progress)
        n = len(dataset)
        columns: list[tuple[str, str, Any]] = []
        if getattr(dataset, "labels", None) is not None:
            columns.append(("label", "label", dataset.labels))
        metadata = dict(getattr(dataset, "metadata", None) or {})
        if SPLIT_COLUMN in metadata:  # sub-folders train/ test/ or a split column: next to the label
            columns.append((SPLIT_COLUMN, "split", metadata.pop(SPLIT_COLUMN)))
        for key, col in metadata.items():
            columns.append((str(key), "metadata", col))
        if self.text_length and getattr(dataset, "texts", None) is not None:
            texts = dataset.texts
            lengths = np.array([np.nan if t is None else len(t) for t in texts], dtype=np.float64)
            columns.append(("text length (characters)", "derived", lengths))
        for key, col in cluster_columns(clusters, n).items():
            columns.append((key, "cluster", col))
        for key, col in (scores or {}).items():
            arr = np.asarray(col)
            if arr.shape == (n,):
                columns.append((str(key), "score", arr))
        facets: list[Facet] = []
        skipped: list[SkippedColumn] = []
        seen: set[str] = set()
        for i, (name, source, col) in enumerate(columns):
            task.report(i, len(columns), f"summarising {name}")
            shown = name if name not in seen else f"{name} ({source})"
            seen.add(shown)
            try:
                out = column_facet(shown, col, source, self.max_categories, self.max_bins, self.max_int_categories)
            except (TypeError, ValueError) as exc:
                out = SkippedColumn(shown, source, f"could not be summarised: {exc}")
            if isinstance(out, SkippedColumn):
                skipped.append(out)
            else:
                facets.append(out)
        task.report(len(columns), max(len(columns), 1), "charts ready")
        self.n_items_ = n
        self.facets_ = facets
        self.skipped_ = skipped
        return self

    def facet(self, name: str) -> Facet:
        for f in self.facets_:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names_(self) -> list[str]:
        return [f.name for f in self.facets_]

    def selected_counts(self, indices: np.ndarray | None) -> dict[str, np.ndarray]:
        """Per facet, the items of ``indices`` in each slot."""
        return {f.name: f.selected_counts(indices) for f in self.facets_}

    def brush_mask(self, brushes: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
        """Items inside every brush (AND).  A brush is ``{"range": [lo, hi]}`` (numeric) or
        ``{"values": [category, ...]}``; brushes of columns not charted are ignored."""
        mask = np.ones(self.n_items_, dtype=bool)
        for name, brush in brushes.items():
            try:
                f = self.facet(name)
            except KeyError:
                continue
            mask &= brush_mask(f, brush)
        return mask

    def brush_indices(self, brushes: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
        return np.flatnonzero(self.brush_mask(brushes)).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {"n_items": self.n_items_, "facets": [f.to_dict() for f in self.facets_],
                "skipped": [{"name": s.name, "source": s.source, "reason": s.reason} for s in self.skipped_]}


def brush_mask(f: Facet, brush: Mapping[str, Any]) -> np.ndarray:
    """Items of facet ``f`` inside one brush (``{"range": [lo, hi]}`` or ``{"values": [...]}``)."""
    if "range" in brush:
        lo, hi = brush["range"]
        return f.mask_range(float(lo), float(hi))
    if "values" in brush:
        return f.mask_categories(brush["values"])
    raise ValueError(f"a brush is {{'range': [lo, hi]}} or {{'values': [...]}}, not {dict(brush)!r}")
