"""The audit: every finder of dataset problems the data allows, run once, as one set of findings.

:class:`Audit` runs, in this order and each only when the data allows it,

``label_issue``
    :class:`embedview.core.label_issues.LabelIssues` (out-of-fold probabilities, cleanlab);
    only with labels.
``leak``
    :class:`embedview.core.leaks.SplitLeaks`: near-duplicates across splits; only when the
    metadata has a ``split`` column with at least two splits.
``duplicate``
    :class:`embedview.core.duplicates.DuplicateFinder` at its suggested threshold (or the one
    given): every member of a group but the suggested keeper is flagged, with its group, the kept
    item's id and its similarity to it (:func:`duplicate_findings`).
``outlier``
    :class:`embedview.core.evaluation.OutlierScores` (mean cosine distance to the ``k`` nearest
    neighbours): items whose score is far above the data's own typical score, a robust cut read
    from the score distribution (:func:`outlier_threshold`), each with the reason
    (:func:`outlier_findings`).

Each kind is a :class:`~embedview.core.findings.FindingSet` in ``findings_``; a kind that could
not run is in ``skipped_`` with the reason, never silently missing.  :meth:`Audit.rows` is one
row per flagged item (what ``embedview audit -o findings.csv`` writes and the Issues view lists),
:meth:`Audit.to_dict` strict JSON, :meth:`Audit.gate` the limits a data pipeline sets
(``--fail-on label_issue=20``).  The progress is split across the finders by their usual cost and
a cancel is honoured between (and inside) them; nothing is half-filled after a cancel.

A fitted duplicate finder or outlier scores (the window computes both in the background) can be
given to :meth:`Audit.fit` so nothing is computed twice; so can the data's neighbour graph
(:func:`audit_graph`, kept in the cache by whichever command searched it first), which the
outlier scores and (when exact) the duplicate graph shared by leaks and duplicates read instead of
searching.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet, as_matrix
from embedview.core.findings import BASE_COLUMNS, KINDS, FindingSet, _plain
from embedview.core.progress import TaskState

#: the finding kinds the audit knows, in the order it runs (and lists) them
AUDIT_KINDS = ("label_issue", "leak", "duplicate", "outlier")
#: what :meth:`Audit.gate` can limit: each kind's flagged items, and ``leak_pairs``: the leaking
#: pairs across splits (``leak`` counts items, both sides of each pair)
GATE_KINDS = (*AUDIT_KINDS, "leak_pairs")
#: rough share of the run each finder takes (cross-validated classifiers cost most)
_WEIGHTS = {"label_issue": 0.45, "leak": 0.2, "duplicate": 0.2, "outlier": 0.15}
#: the metadata column that holds each item's split (train / test / ...)
SPLIT_COLUMN = "split"
#: the robust z-score above which an item is an outlier (Iglewicz & Hoaglin's 3.5)
OUTLIER_Z = 3.5
#: the columns every row of :meth:`Audit.rows` has after the base columns, in this order
LEAD_COLUMNS = ("label", "suggested_label")
#: what a user may decide for a flagged item (the Issues view, exports)
DECISIONS = ("keep", "fix", "drop", "not_an_issue")


# -- duplicates and outliers as findings --------------------------------------------------------------
def duplicate_findings(finder: Any) -> FindingSet:
    """A fitted :class:`~embedview.core.duplicates.DuplicateFinder` as findings: every member of a
    group but the suggested keeper, most similar to its kept item first.

    Columns: ``group`` (1-based, as the Duplicates view numbers them), ``keep_id`` (the item the
    keep rule keeps), ``similarity`` (cosine to the kept item, also the score).
    """
    ds = getattr(finder, "_dataset", None)
    idx: list[int] = []
    sims: list[float] = []
    groups: list[int] = []
    keep_ids: list[str] = []
    for g, (members, kept) in enumerate(zip(finder.groups_, finder.keep_, strict=True)):
        kept = int(kept)
        others = np.asarray([int(m) for m in members if int(m) != kept], dtype=np.int64)
        if not others.size:
            continue
        s = finder._sims_to(others, kept)
        for m, v in zip(others.tolist(), s.tolist(), strict=True):
            idx.append(m)
            sims.append(round(float(v), 6))
            groups.append(g + 1)
            keep_ids.append(str(ds.ids[kept]) if ds is not None else str(kept))
    order = np.lexsort((np.asarray(idx, dtype=np.int64), -np.asarray(sims, dtype=np.float64)))
    pick = [int(o) for o in order] if idx else []
    n_groups = len(finder.groups_)
    approx = ""
    if getattr(finder, "approximate_", False):
        approx = f" (approximate neighbours, measured recall@10 {float(finder.recall_at_10_):.3f})"
    user_set = getattr(finder, "threshold", None) is not None or not math.isclose(
        float(finder.threshold_), float(finder.suggested_threshold_), abs_tol=1e-9)
    reason = ("chosen by the user (suggested from the data: "
              f"{float(finder.suggested_threshold_):.4f})") if user_set else str(finder.suggestion_reason_)
    return FindingSet(
        kind="duplicate",
        indices=np.asarray([idx[o] for o in pick], dtype=np.int64),
        scores=np.asarray([sims[o] for o in pick], dtype=np.float64),
        score_name="cosine similarity to the kept item",
        explanation=KINDS["duplicate"][1],
        threshold=float(finder.threshold_),
        threshold_reason=reason,
        n_considered=int(finder.n_items_),
        method=(f"{n_groups} group(s) of items linked at cosine similarity \u2265 {float(finder.threshold_):.4f} "
                f"among each item's {finder.k} nearest neighbours{approx}; the keep rule ({finder.keep}) keeps one "
                "item per group, the others are flagged"),
        columns={"group": [groups[o] for o in pick], "keep_id": [keep_ids[o] for o in pick],
                 "similarity": [sims[o] for o in pick]},
    )


def outlier_threshold(scores: np.ndarray, z: float = OUTLIER_Z) -> tuple[float, str]:
    """A cut read from the scores themselves and a sentence saying how.

    The robust z-score of Iglewicz & Hoaglin: ``median + z * 1.4826 * MAD`` (the MAD scaled to a
    normal standard deviation), so the cut follows the data's own spread and a few extreme items
    cannot move it.  When more than half the items share one score (MAD 0) the cut is the largest
    score below the 99th percentile's neighbourhood: the top 1 %.
    """
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size < 3:
        return math.inf, "fewer than 3 scored items: no outlier cut"
    med = float(np.median(s))
    mad = float(np.median(np.abs(s - med))) * 1.4826
    if mad <= 1e-12:
        t = float(np.quantile(s, 0.99))
        return t, (f"more than half the items have the same score ({med:.4g}): the top 1 % (score > {t:.4g}) "
                   "is flagged")
    t = med + z * mad
    return t, (f"median score {med:.4f} + {z:g} robust standard deviations (1.4826 \u00d7 MAD = {mad:.4f}), "
               f"read from the {s.size:,} items' scores (Iglewicz\u2013Hoaglin rule)")


def outlier_findings(outliers: Any, threshold: float | None = None) -> FindingSet:
    """Fitted :class:`~embedview.core.evaluation.OutlierScores` as findings: the items whose score
    is above ``threshold`` (default: :func:`outlier_threshold` of the scores), most isolated first,
    each with a ``reason`` column in words."""
    s = np.asarray(outliers.scores_, dtype=np.float64)
    finite = s[np.isfinite(s)]
    med = float(np.median(finite)) if finite.size else math.nan
    mad = float(np.median(np.abs(finite - med))) * 1.4826 if finite.size else math.nan
    if threshold is None:
        t, why = outlier_threshold(s)
    else:
        t, why = float(threshold), "chosen by the user"
    if finite.size:
        why += f"; the most isolated item scores {float(finite.max()):.4f}"
    flagged = np.flatnonzero(np.isfinite(s) & (s > t))
    flagged = flagged[np.lexsort((flagged, -s[flagged]))]
    k = int(getattr(outliers, "k_", getattr(outliers, "k", 10)))
    reasons = []
    for i in flagged.tolist():
        z = (s[i] - med) / mad if mad > 1e-12 else math.inf
        ztext = f"{z:.1f} robust SDs above" if math.isfinite(z) else "above"
        reasons.append(f"mean cosine distance {s[i]:.3f} to its {k} nearest neighbours, {ztext} the median "
                       f"{med:.3f}: far from every other item")
    return FindingSet(
        kind="outlier",
        indices=flagged,
        scores=s[flagged],
        score_name=f"mean cosine distance to the {k} nearest neighbours",
        explanation=KINDS["outlier"][1],
        threshold=None if not math.isfinite(t) else float(t),
        threshold_reason=why,
        n_considered=int(finite.size),
        method=f"every item scored by its mean cosine distance to its {k} nearest neighbours (exact search)",
        columns={"reason": reasons},
    )


def split_values(dataset: Dataset | None) -> tuple[list[str] | None, str]:
    """The items' splits from ``dataset.metadata["split"]`` and ``""``, or ``None`` and why not."""
    if dataset is None:
        return None, "no dataset: the splits are read from its metadata"
    col = dataset.metadata.get(SPLIT_COLUMN)
    if col is None:
        return None, ("the data has no split column (sub-folders such as train/ and test/, or a "
                      f"'{SPLIT_COLUMN}' column)")
    values = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in col]
    distinct = sorted({v for v in values if v})
    if len(distinct) < 2:
        only = f" (only {distinct[0]!r})" if distinct else ""
        return None, f"the split column holds fewer than two splits{only}"
    return values, ""


class Breach(NamedTuple):
    """One limit of :meth:`Audit.gate` that the findings exceed."""

    kind: str
    n_flagged: int
    limit: int
    #: what ``n_flagged`` counts, e.g. "items (both sides of each of the 5 leaking pairs)"
    counted: str = "items"

    def __str__(self) -> str:
        return f"{self.kind}: {self.n_flagged} {self.counted} flagged, more than the limit {self.limit}"


# -- the audit -------------------------------------------------------------------------------------------
class Audit:
    """Run every finder the data allows and collect their findings.

    Parameters
    ----------
    kinds : which of :data:`AUDIT_KINDS` to run (default: all the data allows).
    k : neighbours for the label-issue kNN vote, the duplicate graph and the outlier scores.
    thresholds : optional ``{kind: threshold}`` replacing the one read from the data
        (``duplicate``: cosine similarity; ``leak``: cosine similarity across splits;
        ``outlier``: the score above which an item is flagged; ``label_issue``: only items whose
        score is at least this are kept).
    cv_folds, random_state : for the label-issue classifiers' out-of-fold probabilities.

    Attributes (after ``fit``)
    --------------------------
    findings_ : {kind: FindingSet}, in :data:`AUDIT_KINDS` order, for every kind that ran
    skipped_ : {kind: reason} for every asked kind that did not run
    seconds_ : {kind: seconds} each finder took
    n_items_ : items audited
    leak_pairs_ : ``[{"splits": [a, b], "pairs": n}]``, the leaking pairs per split pair (split a
        before b in the data's split order) when leaks ran; None when not (or after
        :meth:`with_findings` replaced the leaks, whose pairs are not in a FindingSet)
    ids_, sources_, labels_ : the dataset's, for the rows
    """

    def __init__(self, kinds: Sequence[str] | None = None, k: int = 10,
                 thresholds: Mapping[str, float] | None = None, cv_folds: int = 5, random_state: int = 0):
        kinds = tuple(AUDIT_KINDS if kinds is None else kinds)
        unknown = [kd for kd in kinds if kd not in AUDIT_KINDS]
        if unknown:
            raise ValueError(f"unknown finding kind(s) {', '.join(unknown)}; expected {', '.join(AUDIT_KINDS)}")
        bad = [kd for kd in (thresholds or {}) if kd not in AUDIT_KINDS]
        if bad:
            raise ValueError(f"threshold for unknown finding kind(s) {', '.join(bad)}")
        if int(k) < 1:
            raise ValueError("k must be at least 1")
        self.kinds = kinds
        self.k = int(k)
        self.thresholds = dict(thresholds or {})
        self.cv_folds = int(cv_folds)
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, emb: EmbeddingSet | np.ndarray, dataset: Dataset | None = None, progress=None, *,
            duplicates: Any = None, outliers: Any = None, graph: Any = None) -> Audit:
        """Run the finders on ``emb`` (an EmbeddingSet, or vectors with ``dataset``).

        ``duplicates`` / ``outliers``: an already fitted ``DuplicateFinder`` / ``OutlierScores``
        of these vectors, used as they are (at the finder's threshold) instead of computing them.
        ``graph``: the cosine :class:`~embedview.core.graph.NeighborGraph` of these vectors
        (:func:`audit_graph`): the outlier scores read it, and the duplicate finder (leaks and
        duplicates) when it is exact; ``neighbours_`` says, per kind, where its neighbours came from.
        """
        task = TaskState.coerce(progress)
        if dataset is None:
            if not isinstance(emb, EmbeddingSet):
                raise ValueError("give the dataset with plain vectors (its ids name the flagged items)")
            dataset = emb.dataset
        X = emb.vectors if isinstance(emb, EmbeddingSet) else as_matrix(emb)
        n = len(X)
        if len(dataset) != n:
            raise ValueError(f"{n} vectors but {len(dataset)} items in the dataset")
        self.n_items_ = n
        self.ids_ = list(dataset.ids)
        self.sources_ = list(dataset.sources)
        self.labels_ = None if dataset.labels is None else list(dataset.labels)
        findings: dict[str, FindingSet] = {}
        skipped: dict[str, str] = {}
        seconds: dict[str, float] = {}
        plan: list[str] = []
        for kind in self.kinds:
            why = self._cannot_run(kind, dataset, n)
            if why:
                skipped[kind] = why
            else:
                plan.append(kind)
        self._finder: Any = None  # the duplicate graph, shared by leaks and duplicates during fit
        self.leak_pairs_: list[dict[str, Any]] | None = None
        if graph is not None and graph.n_items != n:
            raise ValueError(f"the neighbour graph has {graph.n_items} items, the data {n}")
        self._graph = graph
        self.neighbours_: dict[str, str] = {}
        total = sum(_WEIGHTS[kd] for kd in plan) or 1.0
        start = 0.0
        for kind in plan:
            stop = start + _WEIGHTS[kind] / total
            sub = task.sub(start, stop)
            task.report(start, 1.0, f"{KINDS[kind][0]}\u2026")
            t0 = time.perf_counter()
            try:
                result = self._run(kind, emb, X, dataset, sub, duplicates, outliers)
            except ValueError as exc:  # the finder says the data does not allow it (too few per class, ...)
                skipped[kind] = str(exc)
            except ImportError as exc:  # a finder's library (or module) is missing from this installation
                skipped[kind] = f"not available in this installation: {exc}"
            else:
                findings[kind] = result
            seconds[kind] = time.perf_counter() - t0
            start = stop
        self._finder = None  # the findings hold what is needed; the graph is not kept with the audit
        self._graph = None
        task.report(1, 1, f"{sum(len(f) for f in findings.values())} items flagged")
        self.findings_ = {kd: findings[kd] for kd in AUDIT_KINDS if kd in findings}
        self.skipped_ = {kd: skipped[kd] for kd in AUDIT_KINDS if kd in skipped}
        self.seconds_ = seconds
        return self

    def _cannot_run(self, kind: str, dataset: Dataset, n: int) -> str:
        if n < 2:
            return "needs at least 2 items"
        if kind == "label_issue":
            if not dataset.has_labels:
                return "the data has no labels"
            if len(dataset.label_names) < 2:
                return "needs at least two different labels"
        if kind == "leak":
            _values, why = split_values(dataset)
            return why
        return ""

    def _run(self, kind: str, emb: Any, X: np.ndarray, dataset: Dataset, task: TaskState,
             duplicates: Any, outliers: Any) -> FindingSet:
        t = self.thresholds.get(kind)
        if kind == "label_issue":
            from embedview.core.label_issues import LabelIssues

            found = LabelIssues(k=self.k, cv_folds=self.cv_folds, random_state=self.random_state).fit(
                X, dataset.labels, progress=task).findings()
            if t is not None:
                found = _at_least(found, float(t), "chosen by the user")
            return found
        if kind == "leak":
            from embedview.core.leaks import SplitLeaks

            splits, why = split_values(dataset)
            if splits is None:
                raise ValueError(why)
            finder = self._duplicate_finder(emb, duplicates, task.sub(0.0, 0.9))
            self.neighbours_[kind] = getattr(finder, "search_reason_", "")
            leaks = SplitLeaks(threshold=t).fit(X, splits, progress=task.sub(0.9, 1.0), finder=finder)
            found = leaks.findings()
            self.leak_pairs_ = [{"splits": [a, b], "pairs": int(c)} for (a, b), c in leaks.pair_counts_.items()]
            return found
        if kind == "duplicate":
            finder = self._duplicate_finder(emb, duplicates, task)
            self.neighbours_[kind] = getattr(finder, "search_reason_", "")
            if t is not None and duplicates is not None:
                finder = finder.with_threshold(t)
            return duplicate_findings(finder)
        from embedview.core.evaluation import OutlierScores

        scores = outliers if outliers is not None else OutlierScores(k=self.k).fit(X, progress=task,
                                                                                   graph=self._graph)
        self.neighbours_[kind] = getattr(scores, "neighbours_how_", "")
        return outlier_findings(scores, t)

    def with_findings(self, found: FindingSet) -> Audit:
        """A NEW audit with ``found`` in place of its kind's findings (the Duplicates view moved
        its threshold); ``self`` is never changed, so threads and views can share a fitted audit."""
        self._check_fitted()
        out = copy.copy(self)
        out.findings_ = {kd: (found if kd == found.kind else f) for kd, f in self.findings_.items()}
        if found.kind not in out.findings_:
            out.findings_[found.kind] = found
            out.findings_ = {kd: out.findings_[kd] for kd in AUDIT_KINDS if kd in out.findings_}
        out.skipped_ = {kd: why for kd, why in self.skipped_.items() if kd != found.kind}
        if found.kind == "leak":  # the pairs behind the new leak findings are not known here
            out.leak_pairs_ = None
        return out

    def _duplicate_finder(self, emb: Any, given: Any, task: TaskState) -> Any:
        """The duplicate graph, searched once for both leaks and duplicates: the one given, else one
        fitted here (at the ``duplicate`` threshold if set) and kept for the other kind."""
        if given is not None:
            return given
        if self._finder is None:
            from embedview.core.duplicates import DuplicateFinder

            self._finder = DuplicateFinder(threshold=self.thresholds.get("duplicate"), k=self.k).fit(
                emb, progress=task, graph=self._graph)  # read only when exact: approximate graphs lose pairs
        return self._finder

    # -- results ---------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "findings_"):
            raise RuntimeError("Audit is not fitted; call fit(...) first")

    def counts(self) -> dict[str, int]:
        """Flagged items per kind that ran."""
        self._check_fitted()
        return {kd: len(f) for kd, f in self.findings_.items()}

    def columns(self, decisions: bool = False) -> list[str]:
        """The columns of :meth:`rows`: the base columns, ``label``, ``suggested_label``, then every
        kind's own columns in order of appearance (``decision`` last when asked)."""
        self._check_fitted()
        cols = [*BASE_COLUMNS, "index", *LEAD_COLUMNS]
        for f in self.findings_.values():
            cols += [c for c in f.columns if c not in cols]
            if "other_index" in f.columns and "other_id" not in cols:
                cols.insert(cols.index("other_index") + 1, "other_id")
        if decisions:
            cols.append("decision")
        return cols

    def rows(self, decisions: Mapping[str, Mapping[str, str]] | None = None) -> list[dict[str, Any]]:
        """One row per flagged item of every kind (kinds in order, each most severe first), with
        every column of :meth:`columns` (``None`` where a kind has no such value).  ``label`` is the
        item's label for every kind.  ``decisions`` ({kind: {item id: decision}}) adds a
        ``decision`` column ("" where the user decided nothing)."""
        cols = self.columns(decisions is not None)
        out = []
        for kind, f in self.findings_.items():
            chosen = (decisions or {}).get(kind, {})
            for j, i in enumerate(f.indices.tolist()):
                row: dict[str, Any] = dict.fromkeys(cols)
                row.update(kind=kind, id=self.ids_[i], source=self.sources_[i], score=_plain(float(f.scores[j])),
                           index=int(i))
                if self.labels_ is not None and self.labels_[i] is not None:
                    row["label"] = str(self.labels_[i])
                for name, values in f.columns.items():
                    row[name] = _plain(values[j])
                if "other_index" in f.columns:
                    other = f.columns["other_index"][j]
                    row["other_id"] = self.ids_[int(other)] if other is not None and int(other) >= 0 else None
                if decisions is not None:
                    row["decision"] = str(chosen.get(self.ids_[i], ""))
                out.append(row)
        return out

    def summary(self) -> list[dict[str, Any]]:
        """One entry per asked kind: the kind's summary (count, threshold and why, method) for the
        kinds that ran, ``{"kind", "title", "skipped": reason}`` for the others; in run order.
        The leak entry adds ``n_pairs`` and ``pair_counts`` (``[{"splits": [a, b], "pairs": n}]``):
        its ``count`` is items, both sides of each pair."""
        self._check_fitted()
        out: list[dict[str, Any]] = []
        for kind in AUDIT_KINDS:
            if kind in self.findings_:
                entry = {**self.findings_[kind].summary(), "seconds": round(self.seconds_.get(kind, 0.0), 3)}
                if kind == "leak":
                    pairs = self.leak_pairs()
                    entry["counted"] = "items: both sides of each leaking pair"
                    entry["n_pairs"] = None if pairs is None else sum(p["pairs"] for p in pairs)
                    entry["pair_counts"] = pairs
                out.append(entry)
            elif kind in self.skipped_:
                out.append({"kind": kind, "title": KINDS[kind][0], "count": None, "skipped": self.skipped_[kind]})
        return out

    def to_dict(self, decisions: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
        """Strict-JSON-ready: the summary per kind, the skipped kinds and every flagged row."""
        self._check_fitted()
        return {
            "n_items": int(self.n_items_),
            "k": self.k,
            "counts": self.counts(),
            "kinds": self.summary(),
            "skipped": dict(self.skipped_),
            "neighbours": dict(getattr(self, "neighbours_", {})),  # per kind: a reused graph, or a search
            "rows": self.rows(decisions),
        }

    def leak_pairs(self) -> list[dict[str, Any]] | None:
        """The leaking pairs per split pair (``leak_pairs_``), or None when they are not known."""
        self._check_fitted()
        pairs = getattr(self, "leak_pairs_", None)
        return None if pairs is None or "leak" not in self.findings_ else [dict(p) for p in pairs]

    def gate(self, max_counts: Mapping[str, int]) -> list[Breach]:
        """The limits ``{kind: most allowed}`` (kinds of :data:`GATE_KINDS`) that the findings
        exceed.  A finding kind counts flagged items -- ``leak`` both sides of each leaking pair;
        ``leak_pairs`` counts the pairs.  A kind that did not run (or ``leak_pairs`` without known
        pairs) breaches nothing: :meth:`not_applied` says why."""
        self._check_fitted()
        out = []
        for kind, limit in max_counts.items():
            if kind not in GATE_KINDS:
                raise ValueError(f"unknown finding kind {kind!r}; expected one of {', '.join(GATE_KINDS)}")
            if kind == "leak_pairs":
                pairs = self.leak_pairs()
                n_pairs = None if pairs is None else sum(p["pairs"] for p in pairs)
                if n_pairs is not None and n_pairs > int(limit):
                    out.append(Breach(kind, n_pairs, int(limit), "leaking pairs across splits"))
                continue
            if kind in self.findings_ and len(self.findings_[kind]) > int(limit):
                counted = "items"
                if kind == "leak":
                    pairs = self.leak_pairs()
                    counted = ("items (both sides of each leaking pair)" if pairs is None else
                               f"items (both sides of each of the {sum(p['pairs'] for p in pairs)} leaking pairs)")
                out.append(Breach(kind, len(self.findings_[kind]), int(limit), counted))
        return out

    def not_applied(self, kind: str) -> str:
        """Why a limit on ``kind`` (of :data:`GATE_KINDS`) cannot be applied; "" when it can."""
        self._check_fitted()
        base = "leak" if kind == "leak_pairs" else kind
        if base in self.skipped_:
            return f"{base} was not checked: {self.skipped_[base]}"
        if base not in self.findings_:
            return f"{base} was not run (not among the kinds asked for)"
        if kind == "leak_pairs" and self.leak_pairs() is None:
            return "the leaking pairs are not known for these leak findings"
        return ""

    # -- writing ---------------------------------------------------------------------------------------
    def write_csv(self, f, decisions: Mapping[str, Mapping[str, str]] | None = None) -> int:
        """:meth:`rows` as CSV to the open text stream ``f``; text cells a spreadsheet would run as
        a formula are neutralised (:mod:`core.csvsafe`).  Returns the number of rows."""
        from embedview.core.csvsafe import safe_dict

        rows = self.rows(decisions)
        w = csv.DictWriter(f, fieldnames=self.columns(decisions is not None), lineterminator="\n")
        w.writeheader()
        w.writerows(safe_dict({k: "" if v is None else v for k, v in r.items()}) for r in rows)
        return len(rows)

    def json_text(self, decisions: Mapping[str, Mapping[str, str]] | None = None) -> str:
        """:meth:`to_dict` as strict JSON text (no NaN)."""
        return json.dumps(self.to_dict(decisions), indent=1, allow_nan=False) + "\n"


def _at_least(found: FindingSet, t: float, why: str) -> FindingSet:
    keep = np.flatnonzero(found.scores >= t)
    return FindingSet(
        kind=found.kind, indices=found.indices[keep], scores=found.scores[keep], score_name=found.score_name,
        explanation=found.explanation, threshold=t, threshold_reason=why, n_considered=found.n_considered,
        method=found.method, columns={c: [v[j] for j in keep.tolist()] for c, v in found.columns.items()},
    )


def write_findings(audit: Audit, path: Any, decisions: Mapping[str, Mapping[str, str]] | None = None,
                   progress=None) -> tuple[str, int]:
    """Write the audit's rows (with ``decisions``) to ``path``: ``.json`` (strict JSON) or CSV,
    atomically (a failed write leaves the target as it was).  Returns ``(path, rows)``."""
    from embedview.core.export import atomic_path

    TaskState.coerce(progress).report(0, 1, "writing the findings")
    path = str(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        if path.lower().endswith(".json"):
            f.write(audit.json_text(decisions))
            n = sum(audit.counts().values())
        else:
            n = audit.write_csv(f, decisions)
    return path, n


def run_audit(emb: EmbeddingSet, progress=None, *, duplicates: Any = None, outliers: Any = None,
              k: int = 10, graph: Any = None) -> Audit:
    """The audit of ``emb`` with every kind the data allows (the window's background job);
    ``graph``: its neighbour graph (:func:`audit_graph`), read instead of searching."""
    return Audit(k=k).fit(emb, progress=progress, duplicates=duplicates, outliers=outliers, graph=graph)


def audit_graph(emb: EmbeddingSet, kinds: Sequence[str] | None = None, k: int = 10, *, cache: Any = None,
                source: str | None = None, progress=None) -> Any:
    """The cosine neighbour graph an :class:`Audit` of ``kinds`` reads
    (:func:`~embedview.core.graph.knn_graph`: loaded from the cache when another command searched
    it, else searched once and kept): exact when duplicates or leaks run (an approximate graph
    could lose duplicate pairs), with at least ``k`` neighbours per item."""
    from embedview.core.graph import knn_graph

    wanted = AUDIT_KINDS if kinds is None else tuple(kinds)
    exact = "duplicate" in wanted or "leak" in wanted
    return knn_graph(emb, int(k), "cosine", cache=cache, exact=exact, source=source, progress=progress)
