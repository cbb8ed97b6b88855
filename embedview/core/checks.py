"""The one registry of checks, and the suite that runs every check the data allows.

Every place that runs a check reads :data:`REGISTRY`: ``embedview check`` and the HTML report
(through :class:`Checks` / :func:`run_checks`), the GUI's Checks view (its rows and parameter
widgets are built from the registry) and the Compare view (through :class:`Checks`).  A
:class:`CheckSpec` says what a check is called, what it needs (:class:`Need`: labels, relevance
pairs or the encoder itself), its parameters with their defaults and ranges (:class:`Param`),
how it runs (``run``) and how its fitted result reads as table rows (``rows``).  Adding a check is
adding one entry here.

What :class:`Checks` (the suite) runs:

``collapse``
    always (:class:`~embedview.core.collapse.CollapseDiagnostics`); its verdict is the
    headline: ``healthy``, ``dimensional collapse`` or ``complete collapse``.
``knn``, ``knn_weighted``, ``linear_probe``, ``clustering``, ``retrieval``
    only when the dataset has labels: at least :data:`MIN_CLASSES` classes with at least
    :data:`MIN_PER_CLASS` items each.  Items of smaller classes are left out of these measures
    (a class of one item has no neighbour of its own kind), and the result says so in
    ``notes``.  ``retrieval`` also runs without labels on explicit relevance pairs, and with a
    separate query set (``CheckInput.queries``, ``embedview check DOCS --queries QUERIES``) it
    ranks those queries against the documents only.
``outliers``
    the most isolated items (:class:`~embedview.core.evaluation.OutlierScores`).
``duplicates``
    exact and near duplicates (:class:`~embedview.core.duplicates.DuplicateFinder`) at the
    suggested threshold: the threshold, the number of groups and the size of the largest.

``invariance`` (the :class:`~embedview.core.invariance.InvarianceProbe`) needs the encoder and is
run on request only (``embedview check --invariance``, the Checks view).

A check that cannot run on this data is listed in ``skipped`` with the reason, never silently
dropped.  Every number in the result is a plain Python ``int`` / ``float`` (``None`` instead of
NaN), so ``json.dumps`` works and the output is strict JSON.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

import numpy as np

from embedview import __version__
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.progress import ProgressArg, TaskState

#: label-aware checks need at least this many classes ...
MIN_CLASSES = 2
#: ... of at least this many items each
MIN_PER_CLASS = 2
#: the similarity measures a check's ``metric`` may take: ``(shown text, value)``
METRICS: tuple[tuple[str, str], ...] = (("cosine", "cosine"), ("Euclidean", "euclidean"), ("dot product", "dot"))
#: values of a "known outliers" column that mean "this item is an outlier"
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "t", "outlier", "anomaly"})
#: the verdict of a suite whose data was too small for the collapse diagnostics (fewer than 2 items)
NOT_CHECKED = "not checked"
#: the columns of the rows a fitted check reads as (:meth:`CheckSpec.result_rows`)
ROW_COLUMNS = ("check", "metric", "value", "std", "details")


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


# ==============================================================================================
# what a check needs from the data
# ==============================================================================================
def usable_labels(emb: EmbeddingSet) -> tuple[np.ndarray | None, str]:
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
    labels = np.array(raw, dtype=object)  # a copy: the dataset's labels stay as they are
    labels[~keep] = None
    notes = []
    n_unlabelled = int((codes < 0).sum())
    if n_unlabelled:
        notes.append(f"{n_unlabelled} unlabelled item(s) left out")
    small = int((~big & (counts > 0)).sum())
    if small:
        n_items = int(counts[~big].sum())
        notes.append(f"{small} label(s) with fewer than {MIN_PER_CLASS} items left out ({n_items} items)")
    return labels, "; ".join(notes)


def invariance_unavailable(emb: EmbeddingSet | None) -> str:
    """Why the invariance probe cannot run on ``emb`` ("" when it can)."""
    if emb is None:
        return "no embeddings yet"
    if emb.encoder == "precomputed" or emb.dataset.modality not in ("image", "text"):
        return ("not available for precomputed embeddings: the probe encodes changed copies of the items, "
                "which needs the encoder (open the images or texts and encode them)")
    return ""


def outlier_flags(emb: EmbeddingSet, choice: str) -> np.ndarray | None:
    """Known-outlier flags from a choice of :func:`known_outlier_choices`: ``"column:<name>"``
    (truthy values: true, 1, yes, outlier, ...) or ``"label:<value>"`` (items with that label);
    ``None`` for no choice (``""``)."""
    ds = emb.dataset
    if not choice or choice == "(none)":  # "(none)": what sessions of older versions saved
        return None
    kind, _, key = choice.partition(":")
    if kind == "label" and ds.labels is not None:
        return np.array([v is not None and str(v) == key for v in ds.labels], dtype=bool)
    if kind == "column" and key in ds.metadata:
        def truthy(v: Any) -> bool:
            if isinstance(v, (bool, np.bool_)):
                return bool(v)
            if isinstance(v, (int, float, np.integer, np.floating)):
                return bool(np.isfinite(v) and v != 0)
            return v is not None and str(v).strip().lower() in TRUE_WORDS

        return np.array([truthy(v) for v in ds.metadata[key]], dtype=bool)
    raise ValueError(f"unknown outlier column {choice!r}")


def known_outlier_choices(ds: Dataset | None, max_labels: int = 200) -> list[tuple[str, str]]:
    """``(shown text, value)`` of the columns and labels that can mark known outliers."""
    out = [("(none)", "")]
    if ds is None:
        return out
    out += [(f"column {col}", f"column:{col}") for col in ds.metadata]
    if ds.labels is not None:
        values = sorted({str(v) for v in ds.labels if v is not None})
        if len(values) <= max_labels:
            out += [(f"label = {v}", f"label:{v}") for v in values]
    return out


def augmentation_choices(ds: Dataset | None) -> list[tuple[str, str]]:
    """``(shown text, value)`` of the invariance probe's augmentations for the data's modality."""
    from embedview.core.invariance import DEFAULTS

    if ds is None:
        return []
    return [(name, name) for name in DEFAULTS.get(ds.modality, {})]


def parse_ints(text: str, what: str = "K") -> list[int]:
    """``"1, 5, 10"`` -> ``[1, 5, 10]`` (sorted, unique); a clear error for anything else."""
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    try:
        ks = sorted({int(p) for p in parts})
    except ValueError:
        raise ValueError(f"{what} must be whole numbers separated by commas, not {text!r}") from None
    if not ks or ks[0] < 1:
        raise ValueError(f"{what} must be one or more numbers of at least 1, not {text!r}")
    return ks


# ==============================================================================================
# the registry
# ==============================================================================================
class Need(str, Enum):
    """What a check needs besides the vectors."""

    LABELS = "labels"  #: usable labels (see :func:`usable_labels`)
    LABELS_OR_RELEVANCE = "labels or relevance pairs"  #: labels, or explicit query -> relevant pairs
    ENCODER = "encoder"  #: the encoder itself (it encodes changed copies of the items)


class ParamKind(str, Enum):
    """How a parameter's value looks (and which widget edits it)."""

    INT = "int"  #: a whole number in ``[low, high]``
    FLOAT = "float"  #: a number in ``[low, high]``
    CHOICE = "choice"  #: one of ``choices``
    INTS = "ints"  #: a list of whole numbers of at least ``low`` (typed as ``"1, 5, 10"``)
    DATA_CHOICE = "data_choice"  #: one of ``choices_of(dataset)`` (values depend on the data)
    DATA_MULTI = "data_multi"  #: a subset of ``choices_of(dataset)``; ``None``: all of them


@dataclass(frozen=True)
class Param:
    """One parameter of a check: its name, how the form shows it, its default and range."""

    name: str
    label: str
    kind: ParamKind
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    choices_of: Callable[[Dataset | None], list[tuple[str, str]]] | None = None
    #: text the form shows for ``low`` (an INT whose lowest value means "automatic")
    special: str = ""
    decimals: int = 4
    help: str = ""

    def check(self, value: Any) -> Any:
        """``value`` checked and converted to this parameter's type; ``ValueError`` says why not."""
        kind = self.kind
        if kind in (ParamKind.INT, ParamKind.FLOAT):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"{self.name} must be a number, not {value!r}")
            number = int(value) if kind is ParamKind.INT else float(value)
            if kind is ParamKind.INT and number != value:
                raise ValueError(f"{self.name} must be a whole number, not {value!r}")
            if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
                raise ValueError(f"{self.name} must be between {self.low:g} and {self.high:g}, not {value!r}")
            return number
        if kind is ParamKind.CHOICE:
            if value not in self.choices:
                raise ValueError(f"{self.name} must be one of {list(self.choices)}, not {value!r}")
            return value
        if kind is ParamKind.INTS:
            if isinstance(value, str):
                return parse_ints(value, self.label)
            try:
                ks = sorted({int(v) for v in value})
            except (TypeError, ValueError):
                raise ValueError(f"{self.label} must be whole numbers, not {value!r}") from None
            if not ks or ks[0] < (self.low or 1):
                raise ValueError(f"{self.label} must be one or more numbers of at least {self.low or 1:g}")
            return ks
        if kind is ParamKind.DATA_CHOICE:
            return "" if value is None else str(value)
        if value is None:  # DATA_MULTI
            return None
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise ValueError(f"{self.name} must be a list of names, not {value!r}")
        return [str(v) for v in value]


#: runs the invariance probe with a set's own encoder: ``(probe, items, modality, progress) -> fitted probe``
ProbeRunner = Callable[[Any, Any, str, TaskState], Any]


@dataclass
class CheckInput:
    """What checks run on: the set, and what some checks may use besides its vectors.

    ``relevant``: explicit relevance pairs for ``retrieval`` (query -> relevant items; with
    ``queries`` the keys are rows of the query set and the values rows of ``emb``);
    ``queries``: a separate query set for ``retrieval``, ranked against ``emb`` (the documents)
    only -- with ``relevant``, or by same label when both sets are labelled; ``run_probe``: how to run the
    invariance probe with the set's encoder (the CLI loads it here, the GUI in its encoder
    process); ``earlier``: fitted results of checks already run on this input (the weighted kNN
    vote reuses the majority vote's neighbour search); ``graph``: the
    :class:`~embedview.core.graph.NeighborGraph` of ``emb`` (from :func:`suite_graph` /
    :func:`~embedview.core.graph.knn_graph`), read by the kNN checks, outliers, the hubness and
    (when exact) duplicates instead of searching; each uses it only where it
    :meth:`~embedview.core.graph.NeighborGraph.covers` its metric and k, and says so in ``neighbours``.
    """

    emb: EmbeddingSet
    relevant: Mapping[int, Iterable[int]] | None = None
    run_probe: ProbeRunner | None = None
    queries: EmbeddingSet | None = None
    earlier: dict[str, Any] = field(default_factory=dict)
    graph: Any = None

    @cached_property
    def _labels(self) -> tuple[np.ndarray | None, str]:
        return usable_labels(self.emb)

    @property
    def labels(self) -> np.ndarray | None:
        """Usable labels (:func:`usable_labels`), ``None`` when the data has none."""
        return self._labels[0]

    @property
    def label_note(self) -> str:
        """What was left out of the labels, or why they cannot be used."""
        return self._labels[1]


Row = dict[str, Any]
#: one row of a fitted check: ``(metric, value, std, details)``
RowTuple = tuple[str, float | None, float | None, str]
RunFn = Callable[[CheckInput, dict[str, Any], TaskState], Any]
RowsFn = Callable[[Any, dict[str, Any], Dataset | None], list[RowTuple]]


@dataclass(frozen=True)
class CheckSpec:
    """One check: its name and title, what it needs, its parameters, how it runs and reads."""

    name: str
    title: str
    run: RunFn
    params: tuple[Param, ...] = ()
    needs: frozenset[Need] = frozenset()
    #: takes the shared ``metric`` (one of :data:`METRICS`)
    uses_metric: bool = False
    #: a parameter that, when set, lets a label check run without labels (clustering's ``n_clusters``)
    labels_optional_if: str = ""
    #: rough share of a suite's running time
    weight: float = 1.0
    #: run by :class:`Checks` (``embedview check``, the report)
    suite: bool = True
    #: a row of the GUI's Checks form
    form: bool = True
    #: a fitted result as ``[(metric, value, std, details)]``
    rows: RowsFn | None = None
    #: the fewest items it can run on (every check compares items with each other: two)
    min_items: int = 2

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no parameter {name!r}")

    def defaults(self) -> dict[str, Any]:
        out = {p.name: p.default for p in self.params}
        if self.uses_metric:
            out["metric"] = "cosine"
        return out

    def resolve(self, values: Mapping[str, Any] | None = None, metric: str | None = None,
                strict: bool = True) -> dict[str, Any]:
        """The full parameters: defaults, then ``values`` (each checked), then ``metric``.

        ``strict``: a name that is not a parameter of this check is an error (else ignored, for
        values shared by several checks, such as the suite's ``k``).
        """
        values = dict(values or {})
        if metric is not None:
            values["metric"] = metric
        out = self.defaults()
        for name, value in values.items():
            if name == "metric" and self.uses_metric:
                if value not in {m for _, m in METRICS}:
                    raise ValueError(f"metric must be one of {[m for _, m in METRICS]}, not {value!r}")
                out[name] = value
            elif any(p.name == name for p in self.params):
                out[name] = self.param(name).check(value)
            elif strict and name != "metric":
                raise ValueError(f"{self.name} has no parameter {name!r}")
        return out

    def missing(self, inp: CheckInput, params: Mapping[str, Any]) -> Need | None:
        """The first need the input does not meet, else ``None``."""
        for need in sorted(self.needs, key=lambda n: n.value):
            if need is Need.ENCODER and invariance_unavailable(inp.emb):
                return need
            if need is Need.LABELS and inp.labels is None:
                if not (self.labels_optional_if and params.get(self.labels_optional_if)):
                    return need
            if need is Need.LABELS_OR_RELEVANCE and inp.labels is None and inp.relevant is None:
                return need
            if (need is Need.LABELS_OR_RELEVANCE and inp.queries is not None and inp.relevant is None
                    and not inp.queries.dataset.has_labels):
                return need
        return None

    def too_few(self, inp: CheckInput) -> str:
        """Why ``inp`` has too few items for this check ("" when it has enough)."""
        n = len(inp.emb)
        if n >= self.min_items:
            return ""
        return f"needs at least {self.min_items} items, the data has {n}"

    def unavailable(self, inp: CheckInput, params: Mapping[str, Any] | None = None) -> str:
        """Why this check cannot run on ``inp`` with ``params`` ("" when it can)."""
        few = self.too_few(inp)
        if few:
            return few
        need = self.missing(inp, self.resolve(params, strict=False) if params is not None else self.defaults())
        if need is None:
            return ""
        if need is Need.ENCODER:
            return invariance_unavailable(inp.emb)
        if need is Need.LABELS_OR_RELEVANCE and inp.queries is not None:
            return ("needs relevance pairs (query,relevant ids), or labels on both the queries and the documents: "
                    "the queries have no labels" if inp.labels is not None else f"the documents' {inp.label_note}")
        return f"needs labels: {inp.label_note}"

    def note(self, inp: CheckInput) -> str:
        """What a result on ``inp`` should say about its input (items left out, relevance file)."""
        if Need.LABELS_OR_RELEVANCE in self.needs and inp.queries is not None:
            how = (f"relevance from query -> relevant pairs ({len(inp.relevant):,} queries)" if inp.relevant is not None
                   else "relevance by same label")
            return (f"{len(inp.queries):,} separate queries ranked against the {len(inp.emb):,} documents only; "
                    + how)
        if Need.LABELS_OR_RELEVANCE in self.needs and inp.relevant is not None:
            return f"relevance from a file of query -> relevant pairs ({len(inp.relevant)} queries)"
        if (Need.LABELS in self.needs or Need.LABELS_OR_RELEVANCE in self.needs) and inp.labels is not None:
            return inp.label_note
        return ""

    def fit(self, inp: CheckInput, params: Mapping[str, Any] | None = None, progress: ProgressArg = None) -> Any:
        """Run the check; returns the fitted core object.  ``ValueError`` with the reason when the
        data does not allow it (no labels, too few items per class, ...)."""
        resolved = self.resolve(params)
        reason = self.unavailable(inp, resolved)
        if reason:
            raise ValueError(reason)
        return self.run(inp, resolved, TaskState.coerce(progress))

    def result_rows(self, result: Any, params: Mapping[str, Any], dataset: Dataset | None = None) -> list[Row]:
        """The table rows of a fitted result: ``{"check", "metric", "value", "std", "details"}``.

        Values are the core's own attributes (plain floats, not rounded); ``std`` is ``None``
        where the core gives no spread.
        """
        if self.rows is None:
            return []
        return [
            {"check": self.title, "metric": metric, "value": None if value is None else float(value),
             "std": None if std is None else float(std), "details": details}
            for metric, value, std, details in self.rows(result, dict(params), dataset)
        ]


# -- the checks: how each runs -----------------------------------------------------------------
def _run_collapse(inp: CheckInput, p: dict[str, Any], task: TaskState) -> Any:
    from embedview.core.collapse import CollapseDiagnostics

    return CollapseDiagnostics(k=p["k"]).fit(inp.emb.vectors, progress=task, graph=inp.graph)


def _run_knn(inp: CheckInput, p: dict[str, Any], task: TaskState) -> Any:
    from embedview.core.evaluation import KNNAccuracy

    return KNNAccuracy(p["k"], p["vote"], p["metric"]).fit(inp.emb.vectors, inp.labels, progress=task,
                                                           graph=inp.graph)


def _run_knn_weighted(inp: CheckInput, p: dict[str, Any], task: TaskState) -> Any:
    from embedview.core.evaluation import KNNAccuracy

    metric = "cosine" if p["metric"] == "dot" else p["metric"]  # a vote by distance needs one
    knn = inp.earlier.get("knn")
    neighbours = knn.neighbours_ if knn is not None and knn.metric == metric and knn.k == p["k"] else None
    return KNNAccuracy(p["k"], "weighted", metric).fit(inp.emb.vectors, inp.labels, progress=task,
                                                       neighbours=neighbours, graph=inp.graph)


def _run_linear_probe(inp: CheckInput, p: dict[str, Any], task: TaskState) -> Any:
    from embedview.core.evaluation import LinearProbe

    return LinearProbe(folds=p["folds"], C=p["C"]).fit(inp.emb.vectors, inp.labels, progress=task)


def _run_clustering(inp: CheckInput, p: dict[str, Any], task: TaskState) -> Any:
    from embedview.core.evaluation import ClusteringMetrics

    return ClusteringMetrics(n_clusters=p["n_clusters"] or None, sample=p["sample"], metric=p["metric"]).fit(
        inp.emb.vectors, inp.labels, progress=task)


def _run_retrieval(inp: CheckInput, p: dict[str, Any], task: TaskState) -> Any:
    from embedview.core.evaluation import RetrievalMetrics

    metrics = RetrievalMetrics(ks=p["ks"], metric=p["metric"])
    if inp.queries is not None:
        if inp.relevant is not None:
            return metrics.fit(inp.emb.vectors, None, inp.relevant, progress=task, queries=inp.queries.vectors)
        docs, _ = usable_labels(inp.emb)
        return metrics.fit(inp.emb.vectors, docs, progress=task, queries=inp.queries.vectors,
                           query_labels=inp.queries.dataset.labels)
    if inp.relevant is not None:
        return metrics.fit(inp.emb.vectors, None, inp.relevant, progress=task)
    return metrics.fit(inp.emb.vectors, inp.labels, progress=task)


def _run_outliers(inp: CheckInput, p: dict[str, Any], task: TaskState) -> Any:
    from embedview.core.evaluation import OutlierScores

    return OutlierScores(p["k"], p["metric"]).fit(inp.emb.vectors, outliers=outlier_flags(inp.emb, p["known"]),
                                                  progress=task, graph=inp.graph)


def _run_duplicates(inp: CheckInput, p: dict[str, Any], task: TaskState) -> Any:
    from embedview.core.duplicates import DuplicateFinder

    return DuplicateFinder().fit(inp.emb, progress=task, graph=inp.graph)  # the graph only when exact


def _run_invariance(inp: CheckInput, p: dict[str, Any], task: TaskState) -> Any:
    from embedview.core.images import LazyImages
    from embedview.core.invariance import InvarianceProbe

    if p["augmentations"] is not None and not p["augmentations"]:
        raise ValueError("choose at least one augmentation")
    if inp.run_probe is None:
        raise ValueError("the invariance probe needs the encoder, and none was given to run it")
    ds = inp.emb.dataset
    if ds.modality == "image":
        items: Any = LazyImages(ds.sources)
    elif ds.texts is not None:
        items = [t or "" for t in ds.texts]
    else:
        raise ValueError("the probe needs the items' texts, and this dataset has none")
    probe = InvarianceProbe(augmentations=p["augmentations"], n_items=p["n_items"])
    return inp.run_probe(probe, items, ds.modality, task)


# -- the checks: how each reads as rows ----------------------------------------------------------


def _rows_knn(r: Any, p: dict[str, Any], ds: Dataset | None) -> list[RowTuple]:
    worst = sorted(r.per_class_.items(), key=lambda kv: kv[1])[:3]
    return [("accuracy", r.accuracy_, None,
             f"k={r.k_}, {r.vote} vote, {r.metric}, {r.n_evaluated_:,} items; "
             "lowest: " + ", ".join(f"{c} {a:.2f}" for c, a in worst))]


def _rows_linear_probe(r: Any, p: dict[str, Any], ds: Dataset | None) -> list[RowTuple]:
    base = f"{r.folds}-fold, C={r.C:g}, {len(r.classes_)} classes, {r.n_items_:,} items"
    details = base + (f"; {r.message_}" if r.message_ else "")
    if getattr(r, "sampled_", False):  # the F1 row says it too: trained on a sample, scored on all
        base += f", trained on {r.n_train_:,} sampled per fold"
    return [("accuracy", r.accuracy_mean_, r.accuracy_std_, details),
            ("macro-F1", r.macro_f1_mean_, r.macro_f1_std_, base)]


def _rows_clustering(r: Any, p: dict[str, Any], ds: Dataset | None) -> list[RowTuple]:
    base = f"k-means k={r.n_clusters_}, {r.metric}; silhouette on {r.sample_size_:,} items"
    out: list[RowTuple] = []
    if r.nmi_ is not None:
        out += [("NMI", r.nmi_, None, base), ("ARI", r.ari_, None, base)]
    if r.silhouette_ is not None:
        out.append(("silhouette (labels)", r.silhouette_, None, base))
    out.append(("silhouette (k-means)", r.silhouette_kmeans_, None, base))
    return out


def _rows_retrieval(r: Any, p: dict[str, Any], ds: Dataset | None) -> list[RowTuple]:
    against = (f"against the {r.n_candidates_:,} documents only" if r.separate_queries_
               else f"each against the {r.n_candidates_:,} other items")
    base = (f"{r.metric}, {r.n_queries_:,} queries {against}"
            + (f", {r.n_skipped_:,} without a relevant item skipped" if r.n_skipped_ else ""))
    out: list[RowTuple] = [(f"Hit rate@{k}", v, None, "queries with a relevant item in the top K "
                            "(what metric-learning papers call Recall@K); " + base)
                           for k, v in r.hit_rate_at_.items()]
    out += [(f"Recall@{k}", v, None, "share of each query's relevant items found in the top K; " + base)
            for k, v in r.recall_at_.items()]
    out += [(f"Precision@{k}", v, None, base) for k, v in r.precision_at_.items()]
    out.append(("mAP", r.map_, float(np.std(r.average_precision_)), base))
    return out


def _rows_outliers(r: Any, p: dict[str, Any], ds: Dataset | None) -> list[RowTuple]:
    ids = ds.ids if ds is not None else None
    top = ", ".join(ids[i] if ids is not None else str(i) for i in r.ranking_[:5].tolist())
    out: list[RowTuple] = [("mean outlier score", float(r.scores_.mean()), float(r.scores_.std()),
                            f"k={r.k_}, {r.metric}; most isolated: {top}")]
    known = p.get("known") or ""
    if r.auroc_ is not None:
        out.append(("AUROC (known outliers)", r.auroc_, None, f"scores against '{known}'"))
    elif known and known != "(none)":
        out.append(("AUROC (known outliers)", None, None, f"'{known}' marks no item, or every item, as an outlier"))
    return out


def _rows_invariance(r: Any, p: dict[str, Any], ds: Dataset | None) -> list[RowTuple]:
    out: list[RowTuple] = []
    for aug, res in r.results_.items():
        details = (f"{r.n_items_} items; median cosine {res['median_cosine']:.4f}, "
                   f"median rank {res['median_rank']:g}, top-1 {res['top1']:.2f}")
        out.append((f"{aug}: mean cosine", res["mean_cosine"], float(np.std(r.cosines_[aug])), details))
        out.append((f"{aug}: mean rank", res["mean_rank"], float(np.std(r.ranks_[aug])), details))
    return out


def _rows_collapse(r: Any, p: dict[str, Any], ds: Dataset | None) -> list[RowTuple]:
    d = r.to_dict()
    return [("verdict: " + str(d.get("verdict")), None, None, str(d.get("verdict_reason", ""))),
            ("effective rank (centred)", d.get("effective_rank"), None,
             f"of {d.get('dim')} dimensions; entropy of the centred matrix's singular values (the verdict uses it)"),
            ("RankMe (raw matrix)", d.get("rankme"), None,
             "as published (Garrido et al. 2023): the same entropy on the uncentred vectors; "
             "a shared offset lowers it")]


def _rows_duplicates(r: Any, p: dict[str, Any], ds: Dataset | None) -> list[RowTuple]:
    return [("duplicate groups", len(r.groups_), None, f"cosine similarity >= {r.threshold_:.3f}")]


_K = Param("k", "k", ParamKind.INT, 10, 1, 1000, help="Neighbours that vote (leave-one-out)")

REGISTRY: dict[str, CheckSpec] = {spec.name: spec for spec in (
    CheckSpec("collapse", "Collapse", _run_collapse, weight=2.0, form=False, rows=_rows_collapse,
              params=(Param("k", "k", ParamKind.INT, 10, 1, 1000, help="Neighbours for the hubness"),)),
    CheckSpec("knn", "kNN accuracy", _run_knn, needs=frozenset({Need.LABELS}), uses_metric=True, rows=_rows_knn,
              params=(_K, Param("vote", "vote", ParamKind.CHOICE, "majority", choices=("majority", "weighted"),
                                help="majority: one vote each; weighted: 1 / distance"))),
    CheckSpec("knn_weighted", "kNN accuracy (distance-weighted)", _run_knn_weighted, needs=frozenset({Need.LABELS}),
              uses_metric=True, form=False, rows=_rows_knn, params=(_K,)),
    CheckSpec("linear_probe", "Linear probe", _run_linear_probe, needs=frozenset({Need.LABELS}), weight=3.0,
              rows=_rows_linear_probe,
              params=(Param("folds", "folds", ParamKind.INT, 5, 2, 20, help="Stratified cross-validation folds"),
                      Param("C", "C", ParamKind.FLOAT, 1.0, 0.0001, 10000.0, decimals=4,
                            help="Inverse regularisation strength of the logistic regression"))),
    CheckSpec("clustering", "Clustering", _run_clustering, needs=frozenset({Need.LABELS}), uses_metric=True,
              labels_optional_if="n_clusters", weight=2.0, rows=_rows_clustering,
              params=(Param("n_clusters", "clusters", ParamKind.INT, 0, 0, 10000, special="labels",
                            help="k of k-means; 'labels' = the number of classes"),
                      Param("sample", "sample", ParamKind.INT, 5000, 100, 1_000_000,
                            help="Items used for the silhouette scores (random sample)"))),
    CheckSpec("retrieval", "Retrieval", _run_retrieval, needs=frozenset({Need.LABELS_OR_RELEVANCE}),
              uses_metric=True, weight=1.5, rows=_rows_retrieval,
              params=(Param("ks", "K", ParamKind.INTS, (1, 5, 10), low=1,
                            help="Cut-offs for hit rate@K, Recall@K and Precision@K"),)),
    CheckSpec("outliers", "Outliers", _run_outliers, uses_metric=True, rows=_rows_outliers,
              params=(Param("k", "k", ParamKind.INT, 10, 1, 1000, help="Score = mean distance to the k nearest items"),
                      Param("known", "known", ParamKind.DATA_CHOICE, "", choices_of=known_outlier_choices,
                            help="A label or a column that marks real outliers: gives the AUROC of the scores "
                                 "against it"))),
    CheckSpec("duplicates", "Duplicates", _run_duplicates, weight=1.5, form=False, rows=_rows_duplicates),
    CheckSpec("invariance", "Invariance", _run_invariance, needs=frozenset({Need.ENCODER}), weight=3.0,
              suite=False, rows=_rows_invariance,
              params=(Param("n_items", "items", ParamKind.INT, 50, 2, 100_000, help="Items sampled for the probe"),
                      Param("augmentations", "augmentations", ParamKind.DATA_MULTI, None,
                            choices_of=augmentation_choices,
                            help="Augmentations to apply (each changes every sampled item once)"))),
)}

#: the checks :class:`Checks` runs by default (``embedview check``, the report), in running order
CHECKS: tuple[str, ...] = tuple(name for name, spec in REGISTRY.items() if spec.suite)
#: the checks of the GUI's Checks form, in the order "Run all" runs them
FORM_CHECKS: tuple[str, ...] = tuple(name for name, spec in REGISTRY.items() if spec.form)
#: the checks that read labels
LABEL_CHECKS: tuple[str, ...] = tuple(
    name for name, spec in REGISTRY.items() if spec.needs & {Need.LABELS, Need.LABELS_OR_RELEVANCE})


def get_check(name: str) -> CheckSpec:
    """The registry entry of ``name``; ``ValueError`` naming the known checks otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown check {name!r}; choose from {list(REGISTRY)}") from None


@dataclass
class CheckRun:
    """One check run on one set: the parameters, the fitted result, its rows and what it says."""

    name: str
    params: dict[str, Any]
    result: Any
    rows: list[Row]
    #: the core's ``message_`` and the note about items left out, "" when there is nothing to say
    message: str = ""
    seconds: float = 0.0

    def value(self, metric: str) -> float | None:
        """The value of row ``metric``; ``KeyError`` when the result has no such row."""
        for row in self.rows:
            if row["metric"] == metric:
                return row["value"]
        raise KeyError(f"{self.name}: no metric {metric!r}")

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"params": self.params, "result": self.result.to_dict(), "rows": self.rows,
                         "message": self.message})


def run_check(name: str, inp: CheckInput, params: Mapping[str, Any] | None = None,
              progress: ProgressArg = None) -> CheckRun:
    """Run check ``name`` of :data:`REGISTRY` on ``inp`` with ``params`` (defaults for the rest)."""
    spec = get_check(name)
    resolved = spec.resolve(params)
    start = time.perf_counter()
    result = spec.fit(inp, resolved, progress=progress)
    seconds = time.perf_counter() - start
    message = "; ".join(t for t in (getattr(result, "message_", "") or "", spec.note(inp)) if t)
    return CheckRun(name, resolved, result, spec.result_rows(result, resolved, inp.emb.dataset), message, seconds)


# ==============================================================================================
# the suite
# ==============================================================================================
class Checks:
    """Every check the data allows on one :class:`EmbeddingSet`; keeps the fitted objects.

    Parameters
    ----------
    k : int
        Neighbours for kNN accuracy, retrieval's largest cut-off, outliers and hubness.
    include : iterable of str, optional
        Names from :data:`REGISTRY` to run (default :data:`CHECKS`); ``collapse`` always runs.
    metric : "cosine" (default), "euclidean" or "dot"
    relevant : {query index: relevant indices}, optional
        Explicit relevance for ``retrieval`` (e.g. from
        :func:`~embedview.core.evaluation.load_relevance_file`) instead of same-label relevance;
        retrieval then runs without labels.
    queries : EmbeddingSet, optional
        A separate query set for ``retrieval``: ranked against the documents (the set being
        checked) only; ``relevant`` then maps query rows to document rows.
    graph : NeighborGraph, optional
        The neighbour graph of the checked set (:func:`suite_graph`): the kNN checks, outliers,
        the hubness and duplicates read it instead of searching (see :class:`CheckInput`).

    Attributes (after :meth:`fit`)
    ------------------------------
    results_ : {check name: fitted object} (``CollapseDiagnostics``, ``KNNAccuracy``, ...)
    skipped_ : [{"check": name, "reason": text}]
    notes_ : {check name: text} about items left out
    seconds_ : {check name: wall time}
    """

    def __init__(self, k: int = 10, include: Iterable[str] | None = None, metric: str = "cosine",
                 relevant: Mapping[int, Iterable[int]] | None = None, queries: EmbeddingSet | None = None,
                 graph: Any = None):
        self.k = k
        self.include = include
        self.metric = metric
        self.relevant = relevant
        self.queries = queries
        self.graph = graph

    def _selected(self) -> list[str]:
        if self.include is None:
            return list(CHECKS)
        wanted = set(self.include)
        unknown = wanted - set(REGISTRY)
        if unknown:
            raise ValueError(f"unknown check(s) {sorted(unknown)}; choose from {list(REGISTRY)}")
        return [name for name in REGISTRY if name in wanted or name == "collapse"]

    def params(self, name: str) -> dict[str, Any]:
        """The parameters check ``name`` runs with in this suite (its defaults, the suite's k and metric)."""
        k = int(self.k)
        return get_check(name).resolve({"k": k, "ks": sorted({1, 5, k})}, metric=self.metric, strict=False)

    def fit(self, emb: EmbeddingSet, progress: ProgressArg = None) -> Checks:
        task = TaskState.coerce(progress)
        if int(self.k) < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        self.emb_ = emb
        self.results_: dict[str, Any] = {}
        self.skipped_: list[dict[str, str]] = []
        self.notes_: dict[str, str] = {}
        self.seconds_: dict[str, float] = {}
        names = self._selected()
        graph = self.graph
        if graph is not None and graph.n_items != len(emb):
            raise ValueError(f"the neighbour graph has {graph.n_items} items, the set {len(emb)}")
        inp = CheckInput(emb, relevant=self.relevant, earlier=self.results_, queries=self.queries, graph=graph)
        total = sum(REGISTRY[n].weight for n in names)
        done = 0.0
        for name in names:
            spec = REGISTRY[name]
            sub = task.sub(done / total, (done + spec.weight) / total)
            done += spec.weight
            params = self.params(name)
            few = spec.too_few(inp)
            if few:
                self.skipped_.append({"check": name, "reason": few})
                continue
            need = spec.missing(inp, params)
            if need is not None:
                plain = need is not Need.ENCODER and (need is Need.LABELS or inp.queries is None)
                reason = inp.label_note if plain else spec.unavailable(inp, params)
                self.skipped_.append({"check": name, "reason": reason})
                continue
            note = spec.note(inp)
            if note:
                self.notes_[name] = note
            sub.report(0, 1, name.replace("_", " "))
            start = time.perf_counter()
            try:
                self.results_[name] = spec.run(inp, params, sub)
            except ValueError as exc:  # the data does not allow it: say why, keep going
                if name == "collapse":
                    raise
                self.skipped_.append({"check": name, "reason": str(exc)})
            self.seconds_[name] = time.perf_counter() - start
        task.report(1, 1, "checks done")
        return self

    @property
    def verdict_(self) -> str:
        """The collapse verdict; ``"not checked"`` when the data was too small for it."""
        collapse = self.results_.get("collapse")
        return NOT_CHECKED if collapse is None else str(collapse.verdict_)

    @property
    def healthy_(self) -> bool:
        return self.verdict_ == "healthy"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready result (see :func:`run_checks`)."""
        emb = self.emb_
        ds = emb.dataset
        labels = ds.label_counts()
        problems = emb.all_problems
        out: dict[str, Any] = {
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
        if self.queries is not None:
            q = self.queries.dataset
            out["queries"] = {"name": q.name, "modality": q.modality, "encoder": self.queries.encoder,
                              "n_items": len(self.queries), "dim": self.queries.dim,
                              "n_with_relevance": None if self.relevant is None else len(self.relevant)}
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
        if self.graph is not None:  # where the neighbours came from (each check's own "neighbours" says if it used it)
            out["neighbour_graph"] = dict(self.graph.to_dict(), summary=self.graph.summary)
        out["skipped"] = list(self.skipped_)
        out["seconds"] = {name: round(s, 3) for name, s in self.seconds_.items()}
        return jsonable(out)


def run_checks(
    emb: EmbeddingSet, *, k: int = 10, progress: ProgressArg = None, include: Iterable[str] | None = None,
    relevant: Mapping[int, Iterable[int]] | None = None, queries: EmbeddingSet | None = None,
    graph: Any = None,
) -> dict[str, Any]:
    """Every check the data allows on ``emb``, as a JSON-ready dict.

    Keys: ``verdict`` and ``healthy`` (from the collapse diagnostics), ``dataset`` (counts,
    labels, problems), one key per check that ran (``collapse``, ``knn``, ``knn_weighted``,
    ``linear_probe``, ``clustering``, ``retrieval``, ``outliers``, ``duplicates``; each the
    check's ``to_dict()``), ``skipped`` (``[{"check", "reason"}]``) and ``seconds``.
    ``queries``: a separate query set for ``retrieval`` (see :class:`Checks`); the result then
    has a ``queries`` key describing it.  ``graph``: the set's neighbour graph (:func:`suite_graph`),
    reused instead of searching; the result then has a ``neighbour_graph`` key describing it.
    """
    result: dict[str, Any] = Checks(k=k, include=include, relevant=relevant, queries=queries, graph=graph).fit(
        emb, progress=progress).to_dict()
    return result


def suite_graph(emb: EmbeddingSet, *, k: int = 10, metric: str = "cosine", include: Iterable[str] | None = None,
                cache: Any = None, source: str | None = None, progress: ProgressArg = None) -> Any:
    """The one neighbour graph a suite of checks reads (:func:`~embedview.core.graph.knn_graph`:
    loaded from the cache when another command searched it, else searched once and kept).

    ``k``: the suite's k (duplicates and the hubness need 10); exact when ``duplicates`` runs
    (an approximate graph could lose duplicate pairs; the exact graph then serves every check),
    else whatever :class:`~embedview.core.neighbors.NeighborIndex` measures best.  ``cache`` and
    ``source`` as :func:`~embedview.core.graph.knn_graph` (``cache=False``: ``--no-cache``).
    """
    from embedview.core.graph import knn_graph

    names = list(CHECKS) if include is None else [n for n in REGISTRY if n in set(include) or n == "collapse"]
    exact = "duplicates" in names
    need = max(int(k), 10)
    return knn_graph(emb, need, metric, cache=cache, exact=exact, source=source, progress=progress)


def is_healthy(result: Mapping[str, Any]) -> bool:
    """True when a :func:`run_checks` result's collapse verdict is ``"healthy"``."""
    return result.get("verdict") == "healthy"


__all__ = [
    "CHECKS", "FORM_CHECKS", "LABEL_CHECKS", "METRICS", "NOT_CHECKED", "REGISTRY", "CheckInput", "CheckRun",
    "CheckSpec", "Checks",
    "Need", "Param", "ParamKind", "ProbeRunner", "get_check", "invariance_unavailable", "is_healthy",
    "jsonable", "known_outlier_choices", "outlier_flags", "parse_ints", "run_check", "run_checks", "suite_graph",
    "usable_labels",
]
