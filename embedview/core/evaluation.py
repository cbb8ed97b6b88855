"""How good is an embedding for the task at hand: kNN accuracy, linear probe, clustering,
retrieval and outlier scores.

Labels are any array of ``str`` / ``int`` per item; ``None``, ``NaN``, ``""`` and the integer
``-1`` mean *unlabelled* and those items are left out of every labelled measure (they are
neither queries nor neighbours).  Classes are ordered like ``numpy.unique`` (numbers
numerically, otherwise as strings); ties between classes go to the first class in that order,
exactly like scikit-learn.

Definitions
-----------
kNN accuracy
    Leave-one-out: each labelled item is classified by the ``k`` nearest *other* labelled
    items (by index, so an exact duplicate still counts as a neighbour).  ``vote="majority"``
    counts votes; ``vote="weighted"`` weights each vote by ``1 / distance`` (scikit-learn's
    ``weights="distance"``: when some neighbours are at distance 0, only they vote).
Linear probe
    Standardised features, multinomial logistic regression, stratified k-fold; accuracy and
    macro-F1 per fold, reported as mean and standard deviation.
Clustering
    k-means (on L2-normalised vectors for cosine) with k = number of classes, the best of
    ``n_init`` initialisations (k-means++; lowest inertia); NMI and ARI
    against the labels; silhouette (cosine) of the true labels and of the k-means clusters,
    on a random sample of at most ``sample`` items.
Retrieval
    Each query is ranked against the candidates (ties keep index order): against the documents
    only when the queries are a separate set, else against every other item.
    ``hit_rate_at_[k]`` is the fraction of queries with at least one relevant item in the top k
    (what metric-learning papers call Recall@K); ``recall_at_[k]`` the mean over queries of the
    share of their relevant items found in the top k (recall as in information retrieval);
    ``precision_at_[k]`` the mean fraction of the top k that is relevant, and ``map_`` the mean
    over queries of the average precision over the full ranking:
    ``AP = (1/R) * sum over relevant items of precision at their rank``.
Outliers
    Score = mean distance (``1 - cosine``) to the ``k`` nearest other items; higher is more
    isolated.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from embedview.core.dataset import LoadProblem
from embedview.core.embeddings import as_matrix, l2_normalize
from embedview.core.neighbors import limit_threads, topk
from embedview.core.progress import TaskState
from embedview.core.projection import _sample

# -- labels ----------------------------------------------------------------------------------


def _is_unlabelled(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return True
    if isinstance(v, str) and v.strip() == "":
        return True
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v == -1:
        return True
    return False


def _plain(v: Any) -> Any:
    """numpy scalar -> Python scalar, so results are JSON-ready."""
    return v.item() if isinstance(v, np.generic) else v


def encode_labels(y: Any) -> tuple[np.ndarray, list[Any]]:
    """Labels -> ``(codes, classes)``: int64 code per item into ``classes``, ``-1`` if unlabelled.

    ``classes`` are sorted like ``numpy.unique`` (numerically when all labels are numbers,
    otherwise as strings) and are plain Python values.
    """
    values = [_plain(v) for v in (y.tolist() if isinstance(y, np.ndarray) else list(y))]
    present = [v for v in values if not _is_unlabelled(v)]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    key = (lambda v: v) if numeric else (lambda v: str(v))
    classes = sorted({key(v) for v in present})
    lookup = {c: i for i, c in enumerate(classes)}
    codes = np.array([-1 if _is_unlabelled(v) else lookup[key(v)] for v in values], dtype=np.int64)
    return codes, classes


def _labelled(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
    """Matrix, codes, indices of labelled items and classes, with length checks."""
    X = as_matrix(X)
    if y is None:
        raise ValueError("this measure needs labels")
    codes, classes = encode_labels(y)
    if len(codes) != len(X):
        raise ValueError(f"{len(X)} vectors but {len(codes)} labels")
    return X, codes, np.flatnonzero(codes >= 0), classes


def _to_distances(scores: np.ndarray, metric: str) -> np.ndarray:
    scores = scores.astype(np.float64)
    if metric == "cosine":
        dist = np.maximum(1.0 - scores, 0.0)
    elif metric == "dot":
        dist = -scores
    else:
        dist = scores
    return dist


def _neighbours(X: np.ndarray, k: int, metric: str, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """``k`` nearest other items of every item: ``(indices, distances)``, nearest first.

    Distances are ``max(0, 1 - cosine)`` for cosine, L2 for euclidean and the negated inner
    product for dot (so smaller is always closer).
    """
    idx, scores = topk(X, k, metric=metric, exclude_self=True, progress=progress)
    return idx, _to_distances(scores, metric)


def _neighbours_among(X: np.ndarray, lab: np.ndarray, k: int, metric: str, graph: Any,
                      progress=None) -> tuple[np.ndarray, np.ndarray, str]:
    """``k`` nearest other items among the items ``lab`` (indices into ``lab``), reusing ``graph``
    (a :class:`~embedview.core.graph.NeighborGraph` of all of ``X``) where it covers them.

    The neighbours among a subset are the first ``k`` neighbours of the full graph that belong
    to it (the order is total: score, then index); rows whose stored list holds fewer than ``k``
    of them are searched.  Returns ``(indices, distances, how)``.
    """
    m = len(lab)
    if graph is None or not graph.covers(len(X), min(k, len(X) - 1), metric):
        idx, dist = _neighbours(X[lab], k, metric, progress=progress)
        return idx, dist, f"{metric} neighbours searched exactly among {m:,} items"
    pos = np.full(len(X), -1, dtype=np.int64)
    pos[lab] = np.arange(m)
    g_idx, g_sc = graph.indices[lab], graph.scores[lab]
    mapped = np.where(g_idx >= 0, pos[np.maximum(g_idx, 0)], -1)
    ok = mapped >= 0
    pick = np.argsort(~ok, axis=1, kind="stable")[:, :k]  # the first k members, in graph order
    idx = np.take_along_axis(mapped, pick, axis=1)
    sc = np.take_along_axis(g_sc, pick, axis=1).astype(np.float32)
    short = np.flatnonzero(ok.sum(axis=1) < k)
    if short.size:
        idx[short], sc[short] = topk(X[lab], k, queries=short, metric=metric, exclude_self=True,
                                     progress=progress)
    how = f"{graph.how} neighbour graph ({graph.origin}) reused for {m - short.size:,} of {m:,} items"
    if short.size:
        how += f", {short.size:,} searched exactly"
    return idx, _to_distances(sc, metric), how


# -- kNN accuracy ----------------------------------------------------------------------------
class KNNAccuracy:
    """Leave-one-out k-nearest-neighbour accuracy of the labels.

    Parameters
    ----------
    k : int
    vote : "majority" or "weighted" (``1/distance``, as scikit-learn's ``weights="distance"``)
    metric : "cosine", "euclidean" or "dot"

    Attributes
    ----------
    accuracy_ : float
    per_class_ : {label: accuracy}
    predictions_ : object array (N,), predicted label per item, ``None`` for unlabelled items
    n_evaluated_ : number of labelled items evaluated
    neighbours_ : (idx, dist) of the labelled items among themselves (reusable by another vote)
    neighbours_how_ : str, where the neighbours came from (a reused graph, or a search)
    """

    def __init__(self, k: int = 10, vote: str = "majority", metric: str = "cosine"):
        self.k = k
        self.vote = vote
        self.metric = metric

    def fit(self, X: Any, y: Any, progress=None,
            neighbours: tuple[np.ndarray, np.ndarray] | None = None, graph: Any = None) -> KNNAccuracy:
        """``neighbours``: the ``neighbours_`` of an earlier fit on the same ``X``, ``y``, ``k`` and
        metric (another vote), instead of searching again.  ``graph``: the
        :class:`~embedview.core.graph.NeighborGraph` of the same ``X`` (all items, this metric):
        the labelled items' neighbours among themselves are read from it where it holds ``k`` of
        them (``neighbours_how_`` says how many)."""
        if self.vote not in ("majority", "weighted"):
            raise ValueError(f"vote must be 'majority' or 'weighted', not {self.vote!r}")
        if self.vote == "weighted" and self.metric == "dot":
            raise ValueError("vote='weighted' needs a distance: use metric 'cosine' or 'euclidean'")
        task = TaskState.coerce(progress)
        X, codes, lab, classes = _labelled(X, y)
        if len(lab) < 2:
            raise ValueError(f"kNN accuracy needs at least 2 labelled items, got {len(lab)}")
        k = min(int(self.k), len(lab) - 1)
        if neighbours is not None:
            idx, dist = neighbours
            if idx.shape != (len(lab), k) or dist.shape != idx.shape:
                raise ValueError(f"neighbours of shape {idx.shape} do not fit {len(lab)} labelled items and k={k}")
            self.neighbours_how_ = "neighbours of an earlier fit"
        else:
            idx, dist, self.neighbours_how_ = _neighbours_among(X, lab, k, self.metric, graph,
                                                                progress=task.sub(0.0, 0.9))
        self.neighbours_ = (idx, dist)
        true = codes[lab]
        nb = true[idx]  # (n, k) neighbour classes
        n_classes = len(classes)
        pred = np.empty(len(lab), dtype=np.int64)
        rows_per_chunk = max(1, 5_000_000 // max(n_classes, 1))
        for start in range(0, len(lab), rows_per_chunk):
            sl = slice(start, start + rows_per_chunk)
            if self.vote == "majority":
                w = np.ones(nb[sl].shape)
            else:
                d = dist[sl]
                zero = d <= 0
                with np.errstate(divide="ignore"):
                    w = np.where(zero.any(axis=1, keepdims=True), zero.astype(float), 1.0 / d)
            votes = np.zeros((nb[sl].shape[0], n_classes))
            rows = np.repeat(np.arange(votes.shape[0]), nb.shape[1])
            np.add.at(votes, (rows, nb[sl].ravel()), w.ravel())
            pred[sl] = votes.argmax(axis=1)  # first (smallest) class among ties, as sklearn
            task.report(0.9 + 0.1 * min(start + rows_per_chunk, len(lab)) / len(lab), 1, "voting")
        correct = pred == true
        self.accuracy_ = float(correct.mean())
        self.per_class_ = {classes[c]: float(correct[true == c].mean()) for c in np.unique(true)}
        self.predictions_ = np.full(len(X), None, dtype=object)
        self.predictions_[lab] = [classes[c] for c in pred]
        self.n_evaluated_ = int(len(lab))
        self.k_ = k
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": int(self.k_),
            "vote": self.vote,
            "metric": self.metric,
            "accuracy": self.accuracy_,
            "per_class": {str(c): a for c, a in self.per_class_.items()},
            "n_evaluated": self.n_evaluated_,
            "neighbours": self.neighbours_how_,
        }


# -- linear probe ----------------------------------------------------------------------------
class LinearProbe:
    """Logistic regression on the frozen, standardised embeddings, stratified k-fold.

    Classes with fewer items than ``folds`` cannot appear in every fold; they are dropped and
    named in ``message_``.

    Scale: when a fold has more than ``max_train`` training items, the scaler and the model of
    that fold are fitted on a stratified random sample of ``max_train`` of them (every class
    kept, the others in proportion); the accuracy and macro-F1 are still measured on *all* the
    held-out items of every fold (prediction is cheap).  ``sampled_`` and ``n_train_`` say so,
    and ``message_`` states it.  At or below ``max_train`` the result is exactly scikit-learn's
    ``cross_validate(make_pipeline(StandardScaler(), LogisticRegression()))``.
    ``max_train=None`` always trains on everything.  The default 40,000 was measured on 100,000
    clustered 384-d vectors with 200 labels (``benchmarks/bench_probe.py``): 29 s and accuracy
    0.733 against 129 s and 0.750 training on all 80,000 per fold (20,000: 15 s, 0.692); training
    time no longer grows with the data, only the (cheap) prediction does.  The solver runs with ``n_threads`` BLAS
    threads (1 by default: lbfgs is many small products, and spinning threads on a busy machine
    made it far slower; ``None`` leaves the library default).

    Attributes
    ----------
    accuracy_mean_, accuracy_std_, macro_f1_mean_, macro_f1_std_ : float
    fold_scores_ : [{"accuracy": ., "macro_f1": ., "n_train": ., "n_test": .}] per fold
    classes_ : the classes used
    n_items_ : labelled items of the used classes (all of them are evaluated once)
    n_train_ : most items any fold's model was trained on
    sampled_ : bool, whether some fold trained on a sample
    message_ : str, what was dropped, sampled or did not converge ("" when nothing)
    """

    def __init__(self, folds: int = 5, C: float = 1.0, max_iter: int = 1000, random_state: int | None = 0,
                 max_train: int | None = 40_000, n_threads: int | None = 1):
        self.folds = folds
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state
        self.max_train = max_train
        self.n_threads = n_threads

    @staticmethod
    def _stratified(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Sorted positions of exactly ``min(n, len(y))`` items of ``y``: at least one of every
        class, the rest in proportion to the class sizes (largest remainders first)."""
        if len(y) <= n:
            return np.arange(len(y))
        classes, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
        if n < len(classes):
            raise ValueError(f"max_train ({n}) must be at least the number of classes ({len(classes)})")
        exact = counts * (n / len(y))
        take = np.clip(np.floor(exact).astype(np.int64), 1, counts)
        short = n - int(take.sum())
        order = np.argsort(-(exact - np.floor(exact)), kind="stable")
        while short != 0:
            for c in order:
                if short > 0 and take[c] < counts[c]:
                    take[c] += 1
                    short -= 1
                elif short < 0 and take[c] > 1:
                    take[c] -= 1
                    short += 1
                if short == 0:
                    break
        picked = [rng.choice(np.flatnonzero(inv == c), int(take[c]), replace=False) for c in range(len(classes))]
        return np.sort(np.concatenate(picked))

    def _threads(self) -> Any:
        return limit_threads(self.n_threads, user_api=None)  # BLAS and OpenMP

    def fit(self, X: Any, y: Any, progress=None) -> LinearProbe:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, f1_score
        from sklearn.model_selection import StratifiedKFold
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        task = TaskState.coerce(progress)
        if int(self.folds) < 2:
            raise ValueError(f"folds must be at least 2, not {self.folds}")
        if self.max_train is not None and int(self.max_train) < 2:
            raise ValueError(f"max_train must be at least 2 (or None), not {self.max_train}")
        X, codes, lab, classes = _labelled(X, y)
        counts = np.bincount(codes[lab], minlength=len(classes))
        small = [c for c in range(len(classes)) if 0 < counts[c] < self.folds]
        notes = []
        if small:
            listed = ", ".join(f"{classes[c]!r} ({counts[c]})" for c in small)
            notes.append(f"dropped {len(small)} class(es) with fewer than {self.folds} items: {listed}")
        usable = [c for c in range(len(classes)) if counts[c] >= self.folds]
        if len(usable) < 2:
            raise ValueError(
                f"the linear probe needs at least 2 classes with {self.folds} or more labelled items each; "
                f"found {len(usable)} (class sizes: "
                + ", ".join(f"{classes[c]!r}: {counts[c]}" for c in range(len(classes)))
                + ")"
            )
        if self.max_train is not None and int(self.max_train) < len(usable):
            raise ValueError(f"max_train ({self.max_train}) must be at least the number of classes ({len(usable)})")
        keep = lab[np.isin(codes[lab], usable)]
        Xk, yk = X[keep], codes[keep]
        splitter = StratifiedKFold(n_splits=int(self.folds), shuffle=True, random_state=self.random_state)
        rng = np.random.default_rng(self.random_state)
        scores = []
        converged = True
        sampled = False
        n_train = 0
        for i, (tr, te) in enumerate(splitter.split(Xk, yk)):
            task.report(i, self.folds, f"linear probe: fold {i + 1} of {self.folds}")
            if self.max_train is not None and len(tr) > int(self.max_train):
                tr = tr[self._stratified(yk[tr], int(self.max_train), rng)]
                sampled = True
            n_train = max(n_train, len(tr))
            model = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=self.max_iter))
            with warnings.catch_warnings(record=True) as caught, self._threads():
                warnings.simplefilter("always", ConvergenceWarning)
                model.fit(Xk[tr], yk[tr])
                p = model.predict(Xk[te])
            converged &= not any(issubclass(w.category, ConvergenceWarning) for w in caught)
            scores.append(
                {
                    "accuracy": float(accuracy_score(yk[te], p)),
                    "macro_f1": float(f1_score(yk[te], p, average="macro", zero_division=0)),
                    "n_train": int(len(tr)),
                    "n_test": int(len(te)),
                }
            )
        if sampled:
            full = len(keep) - min(s["n_test"] for s in scores)
            notes.append(f"trained on a stratified sample of {n_train:,} of the {full:,} training items per fold "
                         f"(max_train; every class kept); accuracy on all {len(keep):,} held-out items")
        if not converged:
            notes.append(f"logistic regression did not converge in {self.max_iter} iterations in some folds")
        acc = np.array([s["accuracy"] for s in scores])
        f1 = np.array([s["macro_f1"] for s in scores])
        self.accuracy_mean_, self.accuracy_std_ = float(acc.mean()), float(acc.std())
        self.macro_f1_mean_, self.macro_f1_std_ = float(f1.mean()), float(f1.std())
        self.fold_scores_ = scores
        self.classes_ = [classes[c] for c in usable]
        self.n_items_ = int(len(keep))
        self.n_train_ = int(n_train)
        self.sampled_ = bool(sampled)
        self.message_ = "; ".join(notes)
        task.report(1, 1, "linear probe done")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "folds": int(self.folds),
            "C": float(self.C),
            "accuracy_mean": self.accuracy_mean_,
            "accuracy_std": self.accuracy_std_,
            "macro_f1_mean": self.macro_f1_mean_,
            "macro_f1_std": self.macro_f1_std_,
            "fold_scores": self.fold_scores_,
            "n_classes": len(self.classes_),
            "n_items": self.n_items_,
            "n_train": self.n_train_,
            "sampled": self.sampled_,
            "max_train": None if self.max_train is None else int(self.max_train),
            "message": self.message_,
        }


# -- clustering ------------------------------------------------------------------------------
class ClusteringMetrics:
    """k-means agreement with the labels (NMI, ARI) and silhouette scores.

    With labels, everything is computed on the labelled items and k defaults to the number of
    classes; without labels ``n_clusters`` is required and only ``silhouette_kmeans_`` is
    computed.  Silhouettes use ``metric`` in the original space, on a random sample of at most
    ``sample`` items (``sample_size_`` says how many were used).

    Attributes
    ----------
    nmi_, ari_ : float or None (None without labels)
    silhouette_ : float or None, of the true labels
    silhouette_kmeans_ : float or None, of the k-means clusters
    assignments_ : (n,) int, k-means cluster of each item (-1 for items left out)
    n_clusters_, sample_size_ : int
    inertia_ : float, the k-means objective of the run kept (the lowest of ``n_init`` starts)
    """

    #: above this many items k-means runs in mini-batches
    MINIBATCH_ABOVE = 50_000

    def __init__(
        self,
        n_clusters: int | None = None,
        random_state: int | None = 0,
        sample: int = 5000,
        metric: str = "cosine",
        n_init: int = 10,
    ):
        """``n_init``: k-means starts; the one with the lowest inertia is kept."""
        self.n_init = n_init
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.sample = sample
        self.metric = metric

    def fit(self, X: Any, y: Any = None, progress=None) -> ClusteringMetrics:
        from sklearn.cluster import KMeans, MiniBatchKMeans
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

        if self.metric not in ("cosine", "euclidean"):
            raise ValueError(f"clustering metrics use metric 'cosine' or 'euclidean', not {self.metric!r}")
        task = TaskState.coerce(progress)
        X = as_matrix(X)
        if y is not None:
            X, codes, rows, classes = _labelled(X, y)
        else:
            codes, rows, classes = None, np.arange(len(X)), []
        k = self.n_clusters if self.n_clusters is not None else len(classes)
        if k < 2:
            raise ValueError("clustering needs labels with at least 2 classes, or n_clusters >= 2")
        if len(rows) <= k:
            raise ValueError(f"{len(rows)} items are too few for {k} clusters")
        Xr = l2_normalize(X[rows]) if self.metric == "cosine" else X[rows]
        task.report(0, 3, f"k-means with k={k}")
        algo = MiniBatchKMeans if len(rows) > self.MINIBATCH_ABOVE else KMeans
        if int(self.n_init) < 1:
            raise ValueError(f"n_init must be at least 1, not {self.n_init}")
        # several starts: one k-means++ start can land in a poor local optimum (on real data one
        # run gave the lowest NMI of ten seeds); the run with the lowest inertia is kept
        km = algo(n_clusters=int(k), n_init=int(self.n_init), random_state=self.random_state).fit(Xr)
        self.assignments_ = np.full(len(X), -1, dtype=np.int64)
        self.assignments_[rows] = km.labels_
        self.n_clusters_ = int(k)
        self.inertia_ = float(km.inertia_)
        self.nmi_ = self.ari_ = None
        if codes is not None:
            truth = codes[rows]
            self.nmi_ = float(normalized_mutual_info_score(truth, km.labels_))
            self.ari_ = float(adjusted_rand_score(truth, km.labels_))
        task.report(1, 3, "silhouette")
        pick = _sample(len(rows), self.sample, self.random_state)
        self.sample_size_ = int(len(pick))

        def silhouette(assign: np.ndarray) -> float | None:
            n_labels = len(np.unique(assign))
            if n_labels < 2 or n_labels > len(assign) - 1:
                return None
            return float(silhouette_score(Xr[pick], assign, metric=self.metric))

        self.silhouette_ = silhouette(codes[rows][pick]) if codes is not None else None
        task.report(2, 3, "silhouette of the clusters")
        self.silhouette_kmeans_ = silhouette(km.labels_[pick])
        task.report(3, 3, "clustering done")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_clusters": self.n_clusters_,
            "nmi": self.nmi_,
            "ari": self.ari_,
            "silhouette": self.silhouette_,
            "silhouette_kmeans": self.silhouette_kmeans_,
            "silhouette_sample_size": self.sample_size_,
            "metric": self.metric,
            "n_init": int(self.n_init),
        }


# -- retrieval -------------------------------------------------------------------------------
def _similarity(Q: np.ndarray, X: np.ndarray, metric: str) -> np.ndarray:
    """Similarity of every query row to every candidate row (higher = closer), float64."""
    if metric in ("cosine", "dot"):
        return (Q @ X.T).astype(np.float64)
    if metric == "euclidean":
        from sklearn.metrics.pairwise import euclidean_distances

        return -euclidean_distances(Q.astype(np.float64), X.astype(np.float64))
    raise ValueError(f"unknown metric {metric!r}; expected cosine, dot or euclidean")


def load_relevance_file(path: str, ids: Sequence[str],
                        document_ids: Sequence[str] | None = None) -> tuple[dict[int, set[int]], list[LoadProblem]]:
    """Read query -> relevant pairs from a CSV file with columns ``query`` and ``relevant``.

    One pair per row (a query may appear on many rows).  Without ``document_ids`` both columns
    hold item ids from ``ids`` (queries are items of the index); with it, ``query`` holds ids
    from ``ids`` (the query set) and ``relevant`` ids from ``document_ids``.
    Returns ``(relevant, problems)``: ``{query_index: {relevant indices}}`` and a
    :class:`LoadProblem` for every row that was skipped (unknown id, empty cell).  Raises
    ``ValueError`` naming the file when it cannot be read or holds no usable pair.  The file is
    only read.
    """
    position = {str(x): i for i, x in enumerate(ids)}
    doc_position = position if document_ids is None else {str(x): i for i, x in enumerate(document_ids)}
    relevant: dict[int, set[int]] = {}
    problems: list[LoadProblem] = []
    delimiter = "\t" if str(path).lower().endswith((".tsv", ".tab")) else ","
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path}: the file is empty")
            names = [h.strip().lower() for h in header]
            if "query" not in names or "relevant" not in names:
                raise ValueError(f"{path}: expected columns 'query' and 'relevant', found {header}")
            qcol, rcol = names.index("query"), names.index("relevant")
            for line, row in enumerate(reader, start=2):
                if not any(cell.strip() for cell in row):
                    continue
                where = f"{path}:{line}"
                if len(row) <= max(qcol, rcol):
                    problems.append(LoadProblem(where, "row has too few columns"))
                    continue
                q, r = row[qcol].strip(), row[rcol].strip()
                missing = ([f"query {q!r}"] if q not in position else []) + (
                    [f"relevant {r!r}"] if r not in doc_position else [])
                if missing:
                    problems.append(LoadProblem(where, f"unknown id(s): {', '.join(missing)}"))
                    continue
                relevant.setdefault(position[q], set()).add(doc_position[r])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: cannot read relevance file ({exc})") from exc
    if not relevant:
        reason = f"; {len(problems)} row(s) skipped, first: {problems[0].reason}" if problems else ""
        raise ValueError(f"{path}: no usable query,relevant pair{reason}")
    return relevant, problems


class RetrievalMetrics:
    """Hit rate@K, Recall@K, Precision@K and mAP of a retrieval task.

    Three ways to say what is relevant:

    * ``fit(X, y)``: every labelled item is a query; the relevant items are the *other* items
      with the same label.  A query is ranked against every other labelled item, never itself.
    * ``fit(X, relevant={query: {relevant items}})``: the queries are items of ``X`` too (see
      :func:`load_relevance_file`); each is ranked against every other item of ``X``, other
      queries included.  Use this only when the queries belong in the index.
    * ``fit(X, relevant=..., queries=Q)`` (or ``fit(X, y, queries=Q, query_labels=yq)``): the
      queries are a separate set ``Q`` and are ranked against the documents ``X`` only -- the
      usual semantic-search evaluation (``embedview check DOCS --queries QUERIES``).  Keys of
      ``relevant`` are rows of ``Q``, values rows of ``X``.

    Queries without any relevant candidate are skipped (``n_skipped_``).  With more than
    ``max_queries`` queries a random sample of them is used (``n_queries_``).  Ties keep index
    order.

    Attributes
    ----------
    hit_rate_at_ : {k: fraction of queries with at least one relevant item in the top k}
        (what metric-learning papers call "Recall@K")
    recall_at_ : {k: mean over queries of (relevant items in the top k) / (relevant items)}
        (recall as in information retrieval; at most k / R for a query with R relevant items)
    precision_at_ : {k: mean fraction of the top k that is relevant}
    map_ : mean average precision over the full ranking
    average_precision_ : (n_queries,) AP of each query; ``queries_`` their indices (rows of ``Q``
        when queries were given, else items of ``X``)
    n_candidates_ : how many items each query was ranked against
    separate_queries_ : whether the queries were a separate set
    """

    def __init__(
        self,
        ks: Iterable[int] = (1, 5, 10),
        metric: str = "cosine",
        max_queries: int = 2000,
        random_state: int | None = 0,
    ):
        self.ks = ks
        self.metric = metric
        self.max_queries = max_queries
        self.random_state = random_state

    def fit(
        self,
        X: Any,
        y: Any = None,
        relevant: Mapping[int, Iterable[int]] | None = None,
        progress=None,
        queries: Any = None,
        query_labels: Any = None,
    ) -> RetrievalMetrics:
        task = TaskState.coerce(progress)
        if self.metric not in ("cosine", "dot", "euclidean"):
            raise ValueError(f"unknown metric {self.metric!r}; expected cosine, dot or euclidean")
        X = as_matrix(X)
        if self.metric == "cosine":
            X = l2_normalize(X)
        n = len(X)
        if (y is None) == (relevant is None):
            raise ValueError("give either labels (y) or explicit relevance (relevant=...), not both or neither")
        separate = queries is not None
        rel_sets: dict[int, np.ndarray] = {}
        codes = qcodes = None
        if separate:
            Q = as_matrix(queries)
            if Q.shape[1] != X.shape[1]:
                raise ValueError(f"the queries have {Q.shape[1]} dimensions and the documents {X.shape[1]}: "
                                 "encode both with the same model")
            if self.metric == "cosine":
                Q = l2_normalize(Q)
            candidates = np.arange(n)
            if relevant is not None:
                for query, items in relevant.items():
                    r = np.array(sorted({int(i) for i in items}), dtype=np.int64)
                    if not 0 <= int(query) < len(Q):
                        raise ValueError(f"relevance names query {query}, outside 0..{len(Q) - 1}")
                    if len(r) and (r.min() < 0 or r.max() >= n):
                        raise ValueError(f"relevance for query {query} refers to documents outside 0..{n - 1}")
                    rel_sets[int(query)] = r
                qs = np.array(sorted(q for q, r in rel_sets.items() if len(r)), dtype=np.int64)
                n_skipped = len(rel_sets) - len(qs)
            else:
                if query_labels is None:
                    raise ValueError("separate queries need relevance pairs, or labels on both queries and documents")
                both, _ = encode_labels(list(y) + list(query_labels))
                if len(y) != n or len(query_labels) != len(Q):
                    raise ValueError(f"{n} documents / {len(Q)} queries but {len(y)} / {len(query_labels)} labels")
                codes, qcodes = both[:n], both[n:]
                sizes = np.bincount(codes[codes >= 0], minlength=int(both.max()) + 1 if len(both) else 0)
                labelled = np.flatnonzero(qcodes >= 0)
                has_doc = sizes[qcodes[labelled]] >= 1 if len(labelled) else np.zeros(0, dtype=bool)
                qs = labelled[has_doc]
                n_skipped = int((~has_doc).sum())
        else:
            Q = X
            if relevant is not None:
                candidates = np.arange(n)
                for query, items in relevant.items():
                    r = np.array(sorted({int(i) for i in items} - {int(query)}), dtype=np.int64)
                    if not 0 <= int(query) < n or (len(r) and (r.min() < 0 or r.max() >= n)):
                        raise ValueError(f"relevance for query {query} refers to items outside 0..{n - 1}")
                    rel_sets[int(query)] = r
                qs = np.array(sorted(q for q, r in rel_sets.items() if len(r)), dtype=np.int64)
                n_skipped = len(rel_sets) - len(qs)
            else:
                codes, _ = encode_labels(y)
                if len(codes) != n:
                    raise ValueError(f"{n} vectors but {len(codes)} labels")
                qcodes = codes
                candidates = np.flatnonzero(codes >= 0)
                sizes = np.bincount(codes[candidates]) if len(candidates) else np.zeros(0, dtype=np.int64)
                has_peer = sizes[codes[candidates]] >= 2
                qs = candidates[has_peer]
                n_skipped = int((~has_peer).sum())
        if len(qs) == 0:
            raise ValueError("no query has a relevant item to find")
        if len(qs) > self.max_queries:
            qs = qs[_sample(len(qs), self.max_queries, self.random_state)]
        ks = sorted({int(k) for k in self.ks})
        Xc = X[candidates]
        n_c = len(candidates)
        pos_of = np.full(n, -1, dtype=np.int64)
        pos_of[candidates] = np.arange(n_c)
        # the number of candidates a query really competes with (itself is not one of them)
        n_ranked = n_c if separate else n_c - 1
        ap = np.empty(len(qs))
        hits = {k: np.empty(len(qs), dtype=bool) for k in ks}
        rec = {k: np.empty(len(qs)) for k in ks}
        prec = {k: np.empty(len(qs)) for k in ks}
        chunk = max(1, 2_000_000 // max(n_c, 1))
        ranks = np.arange(1, n_c + 1, dtype=np.float64)
        for start in range(0, len(qs), chunk):
            q = qs[start : start + chunk]
            sims = _similarity(Q[q], Xc, self.metric)
            rows = np.arange(len(q))
            if not separate:
                sims[rows, pos_of[q]] = -np.inf  # the query itself goes last ...
            order = np.argsort(-sims, axis=1, kind="stable")
            if codes is not None and qcodes is not None:
                rel_mask = codes[candidates][None, :] == qcodes[q][:, None]
            else:
                rel_mask = np.zeros((len(q), n_c), dtype=bool)
                for i, qi in enumerate(q):
                    rel_mask[i, pos_of[rel_sets[int(qi)]]] = True
            if not separate:
                rel_mask[rows, pos_of[q]] = False  # ... and is never relevant to itself
            rel = np.take_along_axis(rel_mask, order, axis=1)
            cum = np.cumsum(rel, axis=1)
            n_rel = cum[:, -1]
            sl = slice(start, start + len(q))
            ap[sl] = (rel * (cum / ranks)).sum(axis=1) / n_rel
            for k in ks:
                found = cum[:, min(k, n_ranked) - 1]
                hits[k][sl] = found > 0
                rec[k][sl] = found / n_rel
                prec[k][sl] = found / k
            task.report(start + len(q), len(qs), "ranking")
        self.hit_rate_at_ = {k: float(hits[k].mean()) for k in ks}
        self.recall_at_ = {k: float(rec[k].mean()) for k in ks}
        self.precision_at_ = {k: float(prec[k].mean()) for k in ks}
        self.map_ = float(ap.mean())
        self.average_precision_ = ap
        self.queries_ = qs
        self.n_queries_ = int(len(qs))
        self.n_skipped_ = int(n_skipped)
        self.n_candidates_ = int(n_ranked)
        self.separate_queries_ = bool(separate)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "hit_rate_at": {str(k): v for k, v in self.hit_rate_at_.items()},
            "recall_at": {str(k): v for k, v in self.recall_at_.items()},
            "precision_at": {str(k): v for k, v in self.precision_at_.items()},
            "map": self.map_,
            "n_queries": self.n_queries_,
            "n_skipped": self.n_skipped_,
            "n_candidates": self.n_candidates_,
            "separate_queries": self.separate_queries_,
        }


# -- outliers --------------------------------------------------------------------------------
class OutlierScores:
    """Isolation of each item: mean distance to its ``k`` nearest neighbours.

    Attributes
    ----------
    scores_ : (N,) float, higher = more isolated (``1 - cosine`` for cosine)
    ranking_ : (N,) item indices, most outlying first
    auroc_ : float or None, ROC AUC of ``scores_`` against known outlier flags
    neighbours_how_ : str, where the neighbours came from (a reused graph, or a search)
    """

    def __init__(self, k: int = 10, metric: str = "cosine"):
        self.k = k
        self.metric = metric

    def fit(self, X: Any, outliers: Sequence[bool] | np.ndarray | None = None, progress=None,
            graph: Any = None) -> OutlierScores:
        """``graph``: the :class:`~embedview.core.graph.NeighborGraph` of the same ``X`` under this
        metric; used instead of a search when it holds at least ``k`` neighbours per item."""
        X = as_matrix(X)
        if len(X) < 2:
            raise ValueError("outlier scores need at least 2 items")
        k = min(int(self.k), len(X) - 1)
        if graph is not None and graph.covers(len(X), k, self.metric):
            dist = graph.distances(k)
            self.neighbours_how_ = f"{graph.how} neighbour graph ({graph.origin}) of {len(X):,} items"
        else:
            _, dist = _neighbours(X, k, self.metric, progress=progress)
            self.neighbours_how_ = f"{self.metric} neighbours searched exactly among {len(X):,} items"
        self.scores_ = dist.mean(axis=1).astype(np.float32)
        self.ranking_ = np.argsort(-self.scores_, kind="stable")
        self.auroc_ = None
        if outliers is not None:
            from sklearn.metrics import roc_auc_score

            flags = np.asarray(outliers, dtype=bool)
            if len(flags) != len(X):
                raise ValueError(f"{len(X)} vectors but {len(flags)} outlier flags")
            if 0 < flags.sum() < len(flags):
                self.auroc_ = float(roc_auc_score(flags, self.scores_))
        self.k_ = k
        return self

    def to_dict(self, top: int = 20) -> dict[str, Any]:
        """Summary with the ``top`` most outlying items and their scores."""
        head = self.ranking_[:top]
        return {
            "k": int(self.k_),
            "metric": self.metric,
            "auroc": self.auroc_,
            "score_mean": float(self.scores_.mean()),
            "neighbours": self.neighbours_how_,
            "top": [{"index": int(i), "score": float(self.scores_[i])} for i in head],
        }
