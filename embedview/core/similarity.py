"""The similarity heatmap's data: which items, in which order, their cosine matrix, its colour range.

Rows (and columns) are exactly the selected items when 2 .. :data:`MAX_ITEMS` are selected;
otherwise a label-stratified sample of :data:`SAMPLE_SIZE` items (of the selection when it is
too big, else of everything) — :func:`choose_items`.  :class:`SimilarityHeatmap` orders them
(grouped by label, or by average-linkage clustering when there are no labels, so blocks of
similar items show) and computes their cosine similarity matrix.  :func:`color_levels` is the
colour range for a scale choice and :func:`color_ticks` the numbers on its colour bar.

The diagonal (each item with itself: cosine 1 by construction, 0 for a zero vector) says nothing
about the data, so it never takes part in a colour scale: :func:`color_levels` spans the
off-diagonal values only, and :func:`without_diagonal` gives the matrix to draw, with NaN on the
diagonal, which the view paints in its own colour (one that neither colour map contains).  On
3 items the most similar pair is then the top of the "data" scale, but it no longer looks like
the diagonal.  No Qt: the Heatmap view only draws what these return.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from embedview.core.embeddings import EmbeddingSet
from embedview.core.neighbors import similarity_matrix
from embedview.core.progress import TaskState

#: a selection of up to this many items is shown as it is
MAX_ITEMS = 2000
#: items sampled when there is no usable selection
SAMPLE_SIZE = 300
#: colour scales: "data" spans the off-diagonal values shown (most contrast), "full" is -1 .. 1;
#: the diagonal is in neither (see :func:`without_diagonal`)
SCALES = ("data", "full")
#: half the width of the "data" range of a constant matrix (never an empty range)
FLAT_PAD = 0.01

_UNLABELLED = "\uffff"  # sorts after every label


class ItemChoice(NamedTuple):
    """The items a heatmap shows and a sentence saying which they are."""

    indices: np.ndarray
    what: str


def stratified_sample(labels: Sequence[Any] | np.ndarray | None, n_items: int, size: int, seed: int = 0) -> np.ndarray:
    """``size`` of ``n_items`` indices (sorted), each label represented in proportion to its count.

    Systematic sampling: a random permutation is sorted by label and every ``n/size``-th item taken.
    """
    if size >= n_items:
        return np.arange(n_items, dtype=np.int64)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_items)
    if labels is not None:
        keys = np.array(["" if v is None else str(v) for v in labels], dtype=object)[perm]
        perm = perm[np.argsort(keys.astype(str), kind="stable")]
    take = perm[np.linspace(0, n_items - 1, size).round().astype(np.int64)]
    return np.sort(take).astype(np.int64)


def choose_items(n_items: int, selected: np.ndarray, labels: Sequence[Any] | np.ndarray | None = None,
                 max_items: int = MAX_ITEMS, sample_size: int = SAMPLE_SIZE) -> ItemChoice:
    """The heatmap's items for a selection: the selection itself when it is 2 .. ``max_items``
    items, else a label-stratified sample of it (too big) or of every item (fewer than 2)."""
    sel = np.asarray(selected, dtype=np.int64)
    sel = sel[(sel >= 0) & (sel < n_items)]
    if 2 <= len(sel) <= max_items:
        return ItemChoice(sel, f"{len(sel):,} selected items")
    if len(sel) > max_items:
        sub = None if labels is None else np.asarray(labels, dtype=object)[sel]
        pick = stratified_sample(sub, len(sel), sample_size)
        return ItemChoice(sel[pick], f"a sample of {sample_size:,} of the {len(sel):,} selected items")
    pick = stratified_sample(labels, n_items, sample_size)
    what = "all" if len(pick) == n_items else f"a sample of {len(pick):,} of {n_items:,}"
    return ItemChoice(pick, f"{what} items (select 2\u2013{max_items:,} points to compare them)")


class SimilarityHeatmap:
    """Cosine similarity matrix of some items of a set, ordered so structure shows.

    Parameters
    ----------
    max_items : int
        Items accepted at most (the matrix of ``m`` items takes ``4 m^2`` bytes).

    Attributes (after :meth:`fit`)
    ------------------------------
    indices_ : (m,) int64
        The items of the rows (= columns), in display order.
    matrix_ : (m, m) float32
        Their cosine similarities.
    groups_ : list of (start, stop, name)
        Row ranges of each label, in order (empty without labels).
    order_ : str
        "label" (grouped by label) or "cluster" (average-linkage leaf order).
    """

    def __init__(self, max_items: int = MAX_ITEMS) -> None:
        self.max_items = max_items

    def fit(self, emb: EmbeddingSet, indices: Any, progress: Any = None) -> SimilarityHeatmap:
        task = TaskState.coerce(progress)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        labels = emb.dataset.labels
        groups: list[tuple[int, int, str]] = []
        by_label = labels is not None and emb.dataset.has_labels
        if labels is not None and by_label:
            names = np.array([_UNLABELLED if labels[i] is None else str(labels[i]) for i in idx]).astype(str)
            order = np.argsort(names, kind="stable")
            idx, names = idx[order], names[order]
            cuts = np.flatnonzero(names[1:] != names[:-1]) + 1
            starts = np.concatenate([[0], cuts]).astype(np.int64)
            stops = np.concatenate([cuts, [len(idx)]]).astype(np.int64)
            groups = [(int(a), int(b), "unlabelled" if names[a] == _UNLABELLED else str(names[a]))
                      for a, b in zip(starts, stops, strict=True)]
        matrix = similarity_matrix(emb.unit, idx, "cosine", max_items=max(self.max_items, len(idx)))
        if not by_label and len(idx) > 2:
            task.report(1, 2, "ordering by clusters")
            order = cluster_order(matrix)
            idx = idx[order]
            matrix = matrix[np.ix_(order, order)]
        self.indices_ = idx
        self.matrix_ = np.ascontiguousarray(matrix, dtype=np.float32)
        self.groups_ = groups
        self.order_ = "label" if by_label else "cluster"
        return self

    def to_dict(self) -> dict:
        return {"indices": [int(i) for i in self.indices_], "groups": [list(g) for g in self.groups_],
                "order": self.order_}


def cluster_order(similarity: np.ndarray) -> np.ndarray:
    """Leaf order of an average-linkage clustering of a similarity matrix (similar items adjacent)."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    dist = np.clip(1.0 - np.asarray(similarity, dtype=np.float64), 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    dist = 0.5 * (dist + dist.T)
    return np.asarray(leaves_list(linkage(squareform(dist, checks=False), method="average")), dtype=np.int64)


def color_levels(matrix: np.ndarray, scale: str) -> tuple[float, float]:
    """The colour range of a similarity matrix: ``(-1, 1)`` for the "full" scale, else the range
    of the off-diagonal values (most contrast among the items shown).

    The diagonal never counts: with it, the "data" range of nearly any set would end at 1 and the
    most similar pair of 3 items would take the diagonal's colour.  A constant (or single-valued)
    off-diagonal gets :data:`FLAT_PAD` either side, kept inside -1 .. 1: never an empty range.
    """
    if scale == "full" or matrix.size == 0:
        return -1.0, 1.0
    off = np.asarray(matrix)[~np.eye(len(matrix), dtype=bool)]
    off = off[np.isfinite(off)]
    if not off.size:
        return -1.0, 1.0
    lo, hi = float(off.min()), float(off.max())
    if hi - lo < 1e-7:
        mid = 0.5 * (lo + hi)
        lo, hi = mid - FLAT_PAD, mid + FLAT_PAD
        if hi > 1.0:  # e.g. identical vectors: all 1 (float32 may say 1.0000001)
            lo, hi = lo - (hi - max(1.0, mid)), max(1.0, mid)
        elif lo < -1.0:
            lo, hi = min(-1.0, mid), hi + (min(-1.0, mid) - lo)
    return lo, hi


def without_diagonal(matrix: np.ndarray) -> np.ndarray:
    """A float32 copy of a square matrix with NaN on the diagonal: what the heatmap draws, the
    diagonal left to its own colour (see the module's docstring)."""
    out = np.array(matrix, dtype=np.float32, copy=True)
    if out.ndim == 2 and out.shape[0] == out.shape[1]:
        np.fill_diagonal(out, np.nan)
    return out


_NICE_STEPS = (1.0, 2.0, 2.5, 5.0)


def color_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[tuple[float, str]]:
    """Numbered ticks for a colour bar over ``lo .. hi``: 3 .. ``max_ticks`` round values inside
    the range, each written with as many decimals as their spacing needs (so 0.9990 .. 0.9998 for a
    collapsed set, whose values all read "1.00" at two decimals) and distinct.

    A range too narrow for 3 round values (or an empty one) gets its two ends and its middle.
    """
    lo, hi = float(min(lo, hi)), float(max(lo, hi))
    span = hi - lo
    max_ticks = max(3, int(max_ticks))
    if not np.isfinite(span) or span <= 0:
        return [(lo, _tick_text(lo, 6))]
    eps = span * 1e-9
    best: tuple[int, list[float]] | None = None
    top = int(np.floor(np.log10(span))) + 1
    for e in range(top - 3, top + 1):  # the smallest round step that gives at most max_ticks ticks
        for mantissa in _NICE_STEPS:
            step = mantissa * 10.0 ** e
            first = np.ceil((lo - eps) / step)
            values = [float((first + k) * step) for k in range(int((hi + eps) / step - first) + 1)]
            values = [v for v in values if lo - eps <= v <= hi + eps]
            if 3 <= len(values) <= max_ticks:
                decimals = max(0, -int(np.floor(np.log10(step) + 1e-9))) + (1 if mantissa == 2.5 else 0)
                best = (decimals, values)
                break
        if best is not None:
            break
    if best is None:  # a range too narrow for 3 round values: its ends and its middle
        decimals = max(0, -int(np.floor(np.log10(span / 2)))) + 1
        values = [lo, 0.5 * (lo + hi), hi]
    else:
        decimals, values = best
    texts = [_tick_text(v, decimals) for v in values]
    while len(set(texts)) < len(texts) and decimals < 12:  # never two ticks that read the same
        decimals += 1
        texts = [_tick_text(v, decimals) for v in values]
    return list(zip((float(v) for v in values), texts, strict=True))


def _tick_text(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if float(text) == 0.0:
        text = text.lstrip("-")  # no "-0.0"
    return text.replace("-", "\u2212")


def label_boundaries(groups: Sequence[tuple[int, int, str]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Line pairs ``(xs, ys)`` drawing the boundaries between label groups across a ``size``-item
    matrix (a vertical and a horizontal segment at each group start after the first)."""
    xs: list[float] = []
    ys: list[float] = []
    for start, _stop, _name in list(groups)[1:]:
        xs += [start, start, 0, size]
        ys += [0, size, start, start]
    return np.array(xs, dtype=float), np.array(ys, dtype=float)
