"""Run every check the data allows on an embedding, as one JSON-ready dict.

This is what ``embedview check`` prints, what the HTML report shows and what the GUI's checks
view runs.  Which checks run:

``collapse``
    always (:class:`~embedview.core.collapse.CollapseDiagnostics`); its verdict is the
    headline: ``healthy``, ``dimensional collapse`` or ``complete collapse``.
``knn``, ``knn_weighted``, ``linear_probe``, ``clustering``, ``retrieval``
    only when the dataset has labels: at least :data:`MIN_CLASSES` classes with at least
    :data:`MIN_PER_CLASS` items each.  Items of smaller classes are left out of these measures
    (a class of one item has no neighbour of its own kind), and the result says so in
    ``notes``.
``outliers``
    the most isolated items (:class:`~embedview.core.evaluation.OutlierScores`).
``duplicates``
    exact and near duplicates (:class:`~embedview.core.duplicates.DuplicateFinder`) at the
    suggested threshold: the threshold, the number of groups and the size of the largest.

A check that cannot run on this data is listed in ``skipped`` with the reason, never silently
dropped.  Every number in the result is a plain Python ``int`` / ``float`` (``None`` instead of
NaN), so ``json.dumps`` works and the output is strict JSON.
"""

from __future__ import annotations

import math
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional

import numpy as np

from embedview import __version__
from embedview.core.embeddings import EmbeddingSet
from embedview.core.progress import TaskState

#: every check, in the order they run (and their rough share of the running time)
CHECKS: Dict[str, float] = {
    "collapse": 2.0,
    "knn": 1.0,
    "knn_weighted": 1.0,
    "linear_probe": 3.0,
    "clustering": 2.0,
    "retrieval": 1.5,
    "outliers": 1.0,
    "duplicates": 1.5,
}
LABEL_CHECKS = ("knn", "knn_weighted", "linear_probe", "clustering", "retrieval")
#: label-aware checks need at least this many classes ...
MIN_CLASSES = 2
#: ... of at least this many items each
MIN_PER_CLASS = 2


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars / arrays turned into plain Python and NaN / inf into ``None``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def usable_labels(emb: EmbeddingSet):
    """Labels for the label-aware checks, or ``None``; plus a note or the reason they are unusable.

    Returns ``(labels, note)``: ``labels`` is an object array with ``None`` for unlabelled
    items and for items of classes smaller than :data:`MIN_PER_CLASS`; ``note`` explains what
    was left out (or, when ``labels`` is ``None``, why the label checks cannot run).
    """
    from embedview.core.evaluation import encode_labels

    raw = emb.dataset.labels
    if raw is None or not emb.dataset.has_labels:
        return None, "the dataset has no labels"
    codes, classes = encode_labels(raw)
    counts = np.bincount(codes[codes >= 0], minlength=len(classes))
    big = counts >= MIN_PER_CLASS
    if int(big.sum()) < MIN_CLASSES:
        return None, (
            f"needs at least {MIN_CLASSES} labels with {MIN_PER_CLASS} or more items each; "
            f"found {int(big.sum())} of {len(classes)} label(s)"
        )
    keep = (codes >= 0) & big[np.maximum(codes, 0)]
    labels = np.where(keep, np.asarray(raw, dtype=object), None)
    notes = []
    n_unlabelled = int((codes < 0).sum())
    if n_unlabelled:
        notes.append(f"{n_unlabelled} unlabelled item(s) left out")
    small = int((~big & (counts > 0)).sum())
    if small:
        n_items = int(counts[~big].sum())
        notes.append(f"{small} label(s) with fewer than {MIN_PER_CLASS} items left out ({n_items} items)")
    return labels, "; ".join(notes)


class Checks:
    """Every check the data allows on one :class:`EmbeddingSet`; keeps the fitted objects.

    Parameters
    ----------
    k : int
        Neighbours for kNN accuracy, retrieval's largest cut-off, outliers and hubness.
    include : iterable of str, optional
        Names from :data:`CHECKS` to run (default all); ``collapse`` always runs.
    metric : "cosine" (default), "euclidean" or "dot"
    relevant : {query index: relevant indices}, optional
        Explicit relevance for ``retrieval`` (e.g. from
        :func:`~embedview.core.evaluation.load_relevance_file`) instead of same-label relevance;
        retrieval then runs without labels.

    Attributes (after :meth:`fit`)
    ------------------------------
    results_ : {check name: fitted object} (``CollapseDiagnostics``, ``KNNAccuracy``, ...)
    skipped_ : [{"check": name, "reason": text}]
    notes_ : {check name: text} about items left out
    seconds_ : {check name: wall time}
    """

    def __init__(self, k: int = 10, include: Optional[Iterable[str]] = None, metric: str = "cosine",
                 relevant: Optional[Mapping[int, Iterable[int]]] = None):
        self.k = k
        self.include = include
        self.metric = metric
        self.relevant = relevant

    def _selected(self) -> List[str]:
        if self.include is None:
            return list(CHECKS)
        wanted = set(self.include)
        unknown = wanted - set(CHECKS)
        if unknown:
            raise ValueError(f"unknown check(s) {sorted(unknown)}; choose from {list(CHECKS)}")
        return [name for name in CHECKS if name in wanted or name == "collapse"]

    def fit(self, emb: EmbeddingSet, progress=None) -> "Checks":
        from embedview.core import evaluation
        from embedview.core.collapse import CollapseDiagnostics

        task = TaskState.coerce(progress)
        if int(self.k) < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        self.emb_ = emb
        self.results_: Dict[str, Any] = {}
        self.skipped_: List[Dict[str, str]] = []
        self.notes_: Dict[str, str] = {}
        self.seconds_: Dict[str, float] = {}
        names = self._selected()
        labels, label_note = usable_labels(emb)
        X = emb.vectors
        k = int(self.k)
        weighted_metric = "cosine" if self.metric == "dot" else self.metric  # a vote by distance needs one
        jobs = {
            "collapse": lambda p: CollapseDiagnostics(k=k).fit(X, progress=p),
            "knn": lambda p: evaluation.KNNAccuracy(k, "majority", self.metric).fit(X, labels, progress=p),
            "knn_weighted": lambda p: evaluation.KNNAccuracy(k, "weighted", weighted_metric).fit(
                X, labels, progress=p, neighbours=self._knn_neighbours(weighted_metric)
            ),
            "linear_probe": lambda p: evaluation.LinearProbe().fit(X, labels, progress=p),
            "clustering": lambda p: evaluation.ClusteringMetrics(metric=self.metric).fit(X, labels, progress=p),
            "retrieval": lambda p: evaluation.RetrievalMetrics(ks=sorted({1, 5, k}), metric=self.metric).fit(
                X, *((None, self.relevant) if self.relevant is not None else (labels, None)), progress=p
            ),
            "outliers": lambda p: evaluation.OutlierScores(k, self.metric).fit(X, progress=p),
            "duplicates": lambda p: _duplicates(emb, p),
        }
        total = sum(CHECKS[n] for n in names)
        done = 0.0
        for name in names:
            sub = task.sub(done / total, (done + CHECKS[name]) / total)
            done += CHECKS[name]
            by_labels = name in LABEL_CHECKS and not (name == "retrieval" and self.relevant is not None)
            if by_labels and labels is None:
                self.skipped_.append({"check": name, "reason": label_note})
                continue
            if by_labels and label_note:
                self.notes_[name] = label_note
            if name == "retrieval" and self.relevant is not None:
                self.notes_[name] = f"relevance from a file of query -> relevant pairs ({len(self.relevant)} queries)"
            sub.report(0, 1, name.replace("_", " "))
            start = time.perf_counter()
            try:
                self.results_[name] = jobs[name](sub)
            except ValueError as exc:  # the data does not allow it: say why, keep going
                if name == "collapse":
                    raise
                self.skipped_.append({"check": name, "reason": str(exc)})
            self.seconds_[name] = time.perf_counter() - start
        task.report(1, 1, "checks done")
        return self

    def _knn_neighbours(self, metric: str):
        """The majority vote's neighbour search, when the weighted vote can reuse it (same metric)."""
        knn = self.results_.get("knn")
        return knn.neighbours_ if knn is not None and metric == self.metric else None

    @property
    def verdict_(self) -> str:
        return self.results_["collapse"].verdict_

    @property
    def healthy_(self) -> bool:
        return self.verdict_ == "healthy"

    def to_dict(self) -> Dict[str, Any]:
        """The JSON-ready result (see :func:`run_checks`)."""
        emb = self.emb_
        ds = emb.dataset
        labels = ds.label_counts()
        problems = emb.all_problems
        out: Dict[str, Any] = {
            "embedview_version": __version__,
            "verdict": self.verdict_,
            "healthy": self.healthy_,
            "dataset": {
                "name": ds.name,
                "modality": ds.modality,
                "encoder": emb.encoder,
                "n_items": len(emb),
                "dim": emb.dim,
                "n_labelled": int(sum(labels.values())),
                "labels": labels,
                "n_problems": len(problems),
                "problems": [str(p) for p in problems[:100]],
            },
        }
        for name, result in self.results_.items():
            if name == "outliers":
                d = result.to_dict(top=10)
                for row in d["top"]:
                    row["id"] = ds.ids[row["index"]]
                out[name] = d
            elif name == "duplicates":
                out[name] = dict(result.to_dict(), largest_group=max((len(g) for g in result.groups_), default=0))
            else:
                out[name] = result.to_dict()
            if name in self.notes_:
                out[name]["notes"] = self.notes_[name]
        out["skipped"] = list(self.skipped_)
        out["seconds"] = {name: round(s, 3) for name, s in self.seconds_.items()}
        return jsonable(out)


def _duplicates(emb: EmbeddingSet, progress):
    from embedview.core.duplicates import DuplicateFinder

    return DuplicateFinder().fit(emb, progress=progress)


def run_checks(
    emb: EmbeddingSet, *, k: int = 10, progress=None, include: Optional[Iterable[str]] = None,
    relevant: Optional[Mapping[int, Iterable[int]]] = None,
) -> Dict[str, Any]:
    """Every check the data allows on ``emb``, as a JSON-ready dict.

    Keys: ``verdict`` and ``healthy`` (from the collapse diagnostics), ``dataset`` (counts,
    labels, problems), one key per check that ran (``collapse``, ``knn``, ``knn_weighted``,
    ``linear_probe``, ``clustering``, ``retrieval``, ``outliers``, ``duplicates``; each the
    check's ``to_dict()``), ``skipped`` (``[{"check", "reason"}]``) and ``seconds``.
    """
    return Checks(k=k, include=include, relevant=relevant).fit(emb, progress=progress).to_dict()


def is_healthy(result: Mapping[str, Any]) -> bool:
    """True when a :func:`run_checks` result's collapse verdict is ``"healthy"``."""
    return result.get("verdict") == "healthy"


def compare_checks(
    sets: Mapping[str, EmbeddingSet],
    *,
    k: int = 10,
    progress=None,
    include: Optional[Iterable[str]] = None,
) -> Dict[str, Any]:
    """:func:`run_checks` for several encoders, plus how their geometries agree.

    Returns ``{"sets": {name: run_checks result}, "comparison": {...} or None, "skipped": [...]}``.
    ``comparison`` (linear CKA and kNN overlap for every pair, via
    :class:`~embedview.core.compare.EncoderComparison`) needs the sets to hold the same items
    (matched by id); when they do not, ``skipped`` says why.
    """
    task = TaskState.coerce(progress)
    names = list(sets)
    if not names:
        raise ValueError("nothing to compare: no embedding sets given")
    n_steps = len(names) + 1
    out: Dict[str, Any] = {"sets": {}, "comparison": None, "skipped": []}
    for i, name in enumerate(names):
        sub = task.sub(i / n_steps, (i + 1) / n_steps)
        out["sets"][name] = run_checks(sets[name], k=k, include=include, progress=sub)
    out["comparison"], reason = comparison(sets, k=k, progress=task.sub(len(names) / n_steps, 1.0))
    if reason:
        out["skipped"].append({"check": "comparison", "reason": reason})
    task.report(1, 1, "comparison done")
    return jsonable(out)


def comparison(sets: Mapping[str, EmbeddingSet], *, k: int = 10, progress=None):
    """``(EncoderComparison.to_dict() or None, why it was skipped or "")`` for ``sets``.

    Only the geometry is compared here (CKA, kNN overlap); each set's own checks are run by the
    caller.  Sets that do not hold the same items cannot be compared, and the reason says so.
    """
    if len(sets) < 2:
        return None, "only one encoder: nothing to compare"
    from embedview.core.compare import EncoderComparison

    try:
        result = EncoderComparison(k=k, metrics=False).fit(dict(sets), progress=progress)
    except ValueError as exc:
        return None, str(exc)
    return result.to_dict(), ""
