"""Leaks across splits: near-duplicates that sit in different splits (train / test, ...).

A test item with a near-copy in the training split is not a test of generalisation: the model
has seen it.  :class:`SplitLeaks` lists every such pair and counts them per pair of splits.

How it works
------------
The near-duplicate machinery of :class:`~embedview.core.duplicates.DuplicateFinder` is used as
it is (or a finder already fitted on the same vectors is reused): each item's ``k`` nearest
neighbours over the whole set, and the threshold read from the data by
:func:`~embedview.core.duplicates.explain_threshold` exactly as for duplicates (the valley
between items with a copy and the distinct items), unless the user sets one.  A *leak* is a
pair of neighbours at or above the threshold whose two items have different, known splits.
Items without a split (``None``, ``NaN``, ``""``) take part in the neighbour search but are
never counted.

Limit: a pair is found when one item is among the other's ``k`` nearest neighbours, so an item
with more than ``k`` near-copies inside its own split may hide a copy in another split; raise
``k`` for heavily duplicated data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from embedview.core.duplicates import PAIR_DTYPE, DuplicateFinder
from embedview.core.findings import FindingSet
from embedview.core.progress import TaskState

#: usual split names, in the order a pair is named (train before validation before test)
_SPLIT_ORDER = {"train": 0, "training": 0, "trn": 0, "val": 1, "valid": 1, "validation": 1, "dev": 1,
                "eval": 2, "test": 2, "testing": 2, "tst": 2, "holdout": 2}


def _no_split(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return True
    return isinstance(v, str) and v.strip() == ""


def split_codes(splits: Any) -> tuple[np.ndarray, list[str]]:
    """Split names -> ``(codes, names)``: int64 code per item (``-1``: no split) and the names,
    ordered train, validation, test, then the others alphabetically."""
    values = splits.tolist() if isinstance(splits, np.ndarray) else list(splits)
    names = sorted({str(v).strip() for v in values if not _no_split(v)},
                   key=lambda s: (_SPLIT_ORDER.get(s.lower(), 3), s))
    lookup = {s: i for i, s in enumerate(names)}
    codes = np.array([-1 if _no_split(v) else lookup[str(v).strip()] for v in values], dtype=np.int64)
    return codes, names


class SplitLeaks:
    """Near-duplicate pairs whose items are in different splits.

    Parameters
    ----------
    threshold : float, optional
        Similarity at or above which two items are near-duplicates; ``None``: read from the data
        as for duplicates (:func:`~embedview.core.duplicates.explain_threshold`).
    metric : "cosine" | "dot"
    k : int
        Neighbours per item in the near-duplicate graph.
    approximate : "auto" | bool
        Passed to the neighbour index (approximate above 50 000 items; its recall is reported).

    Attributes (after ``fit``)
    --------------------------
    splits_ : list of str, the split names found (train, validation, test first)
    split_of_ : (N,) int64, each item's split (index into ``splits_``; -1: none)
    threshold_, suggested_threshold_ : float; ``threshold_reason_`` : str
    pairs_ : structured array ``(i, j, sim)`` of the leaks, ``i < j``, most similar first
    pair_counts_ : {(split a, split b): number of leaking pairs}, a before b in ``splits_`` order
    item_counts_ : {split: number of its items with a near-copy in another split}
    n_considered_ : items with a split; ``n_items_`` : all items
    approximate_, recall_at_10_ : from the neighbour search
    finder_ : the :class:`DuplicateFinder` used (shared; never changed)
    notes_ : str
    """

    def __init__(self, threshold: float | None = None, metric: str = "cosine", k: int = 10,
                 approximate: Any = "auto"):
        self.threshold = threshold
        self.metric = metric
        self.k = k
        self.approximate = approximate

    def fit(self, X: Any, splits: Sequence[Any] | np.ndarray, progress=None,
            finder: DuplicateFinder | None = None, graph: Any = None) -> SplitLeaks:
        """``X``: (N, D) matrix or :class:`EmbeddingSet`; ``splits``: split name per item.

        ``finder``: a :class:`DuplicateFinder` already fitted on the same vectors (the Duplicates
        view's), reused instead of searching neighbours again; it is moved to ``threshold`` when
        one is given, else its own threshold is used.  ``graph``: an exact
        :class:`~embedview.core.graph.NeighborGraph` of the same vectors (kept in the cache), read
        by the finder fitted here instead of a search (an approximate one is not: it could lose pairs).
        """
        task = TaskState.coerce(progress)
        codes, names = split_codes(splits)
        n = len(getattr(X, "vectors", X)) if finder is None else finder.n_items_
        if len(codes) != n:
            raise ValueError(f"{n} vectors but {len(codes)} split values")
        notes = []
        if finder is None:
            finder = DuplicateFinder(threshold=self.threshold, k=self.k, metric=self.metric,
                                     approximate=self.approximate).fit(X, progress=task.sub(0.0, 0.95), graph=graph)
        elif self.threshold is not None:
            finder = finder.with_threshold(float(self.threshold))
        task.check()
        self.finder_ = finder
        self.splits_ = names
        self.split_of_ = codes
        self.n_items_ = int(n)
        self.n_considered_ = int(np.count_nonzero(codes >= 0))
        if len(names) < 2:
            notes.append(f"only {len(names)} split found ({', '.join(names) or 'none'}): nothing can leak")
        if self.n_considered_ < n:
            notes.append(f"{n - self.n_considered_} item(s) have no split and are not counted")
        self.notes_ = "; ".join(notes)
        self._select(finder)
        task.report(1, 1, f"{len(self.pairs_)} leaking pairs")
        return self

    def _select(self, finder: DuplicateFinder) -> None:
        self.threshold_ = float(finder.threshold_)
        self.suggested_threshold_ = float(finder.suggested_threshold_)
        self.threshold_reason_ = (str(finder.suggestion_reason_) if finder.threshold is None
                                  else f"set by the user (the data suggests {finder.suggested_threshold_:.3f})")
        self.approximate_ = bool(finder.approximate_)
        self.recall_at_10_ = float(finder.recall_at_10_)
        pairs = finder.pairs_
        si, sj = self.split_of_[pairs["i"]], self.split_of_[pairs["j"]]
        cross = (si >= 0) & (sj >= 0) & (si != sj)
        self.pairs_ = np.asarray(pairs[cross], dtype=PAIR_DTYPE)
        a, b = np.minimum(si[cross], sj[cross]), np.maximum(si[cross], sj[cross])
        self.pair_counts_: dict[tuple[str, str], int] = {}
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            key = (self.splits_[x], self.splits_[y])
            self.pair_counts_[key] = self.pair_counts_.get(key, 0) + 1
        leaked = np.unique(np.concatenate([self.pairs_["i"], self.pairs_["j"]]))
        self.item_counts_ = {name: int(np.count_nonzero(self.split_of_[leaked] == s))
                             for s, name in enumerate(self.splits_)}

    def with_threshold(self, threshold: float) -> SplitLeaks:
        """The leaks at another threshold from the stored graph (no neighbour search); a new object."""
        self._check_fitted()
        out = SplitLeaks(threshold=float(threshold), metric=self.metric, k=self.k, approximate=self.approximate)
        out.splits_, out.split_of_ = self.splits_, self.split_of_
        out.n_items_, out.n_considered_, out.notes_ = self.n_items_, self.n_considered_, self.notes_
        out.finder_ = self.finder_.with_threshold(float(threshold))
        out._select(out.finder_)
        return out

    def _check_fitted(self) -> None:
        if not hasattr(self, "pairs_"):
            raise RuntimeError("SplitLeaks is not fitted; call fit(X, splits) first")

    def partners(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For every leaking item: ``(items, closest partner in another split, similarity)``,
        most similar first (ties by index)."""
        self._check_fitted()
        p = self.pairs_
        items = np.concatenate([p["i"], p["j"]])
        other = np.concatenate([p["j"], p["i"]])
        sims = np.concatenate([p["sim"], p["sim"]]).astype(np.float64)
        order = np.lexsort((other, -sims, items))  # per item, its most similar partner first
        items, other, sims = items[order], other[order], sims[order]
        first = np.ones(items.size, dtype=bool)
        first[1:] = items[1:] != items[:-1]
        items, other, sims = items[first], other[first], sims[first]
        rank = np.lexsort((items, -sims))
        return items[rank], other[rank], sims[rank]

    def findings(self) -> FindingSet:
        """Every item with a near-copy in another split (both sides of each pair), most similar
        first: kind ``"leak"``, score = similarity to its closest item in another split; columns
        ``split``, ``other_index``, ``other_split``, ``similarity`` and ``n_partners`` (its
        near-copies in other splits)."""
        self._check_fitted()
        items, other, sims = self.partners()
        p = self.pairs_
        n_partners = np.bincount(np.concatenate([p["i"], p["j"]]), minlength=self.n_items_)
        counts = ", ".join(f"{a}-{b}: {c}" for (a, b), c in self.pair_counts_.items()) or "none"
        per_split = ", ".join(f"{c} in {s}" for s, c in self.item_counts_.items() if c)
        notes = f" Notes: {self.notes_}." if self.notes_ else ""
        explanation = (f"{len(self.pairs_):,} near-duplicate pair(s) cross splits ({counts}); "
                       f"{len(items):,} items involved ({per_split or 'none'}). A test item with a near-copy in "
                       f"training inflates the test score: drop one side of each pair (usually the test copy)."
                       f"{notes}")
        search = (f"approximate neighbour search (faiss index, measured recall@10 {self.recall_at_10_:.3f})"
                  if self.approximate_ else "exact neighbour search")
        method = (f"near-duplicate graph of each item's {self.finder_.k} nearest neighbours ({self.metric}, "
                  f"{search}) over all {self.n_items_:,} items; pairs at or above the threshold whose items are "
                  f"in different splits ({self.n_considered_:,} items have a split)")
        return FindingSet(
            kind="leak",
            indices=items,
            scores=sims,
            score_name=f"{self.metric} similarity to its closest item in another split",
            explanation=explanation,
            threshold=self.threshold_,
            threshold_reason=self.threshold_reason_,
            n_considered=self.n_considered_,
            method=method,
            columns={
                "split": [self.splits_[self.split_of_[i]] for i in items],
                "other_index": [int(o) for o in other],
                "other_split": [self.splits_[self.split_of_[o]] for o in other],
                "similarity": [round(float(s), 6) for s in sims],
                "n_partners": [int(n_partners[i]) for i in items],
            },
        )

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "metric": self.metric,
            "k": int(self.finder_.k),
            "threshold": self.threshold_,
            "suggested_threshold": self.suggested_threshold_,
            "threshold_reason": self.threshold_reason_,
            "splits": list(self.splits_),
            "n_items": self.n_items_,
            "n_considered": self.n_considered_,
            "n_pairs": int(len(self.pairs_)),
            "pair_counts": {f"{a}|{b}": c for (a, b), c in self.pair_counts_.items()},
            "item_counts": dict(self.item_counts_),
            "approximate": self.approximate_,
            "recall_at_10": self.recall_at_10_,
            "notes": self.notes_,
        }
