"""Uniqueness and representativeness of every item, as FiftyOne Brain defines them.

Uniqueness (0 to 1; high = unlike anything else in the set)
    How far an item is from its closest neighbours.  Its distances (``1 - cosine``, or L2 for
    ``metric="euclidean"``) to its three nearest other items are averaged with weights 0.6, 0.3
    and 0.1 (the nearest counts most), then divided by the largest such value in the dataset, so
    the most isolated item scores 1.  An item with one near-copy scores low (re-scanned digits:
    0.06 against 0.13 typical), with several near 0; sort descending to find rare items worth
    labelling first, ascending to find redundant ones.  This is FiftyOne
    Brain's ``compute_uniqueness`` (same three neighbours, same weights, same normalisation) on
    the vectors embedview already has.
Representativeness (0 to 1; high = typical of a large part of the data)
    How central an item is in its region of the data.  The vectors (L2-normalised for cosine)
    are grouped into ``n_clusters`` clusters by k-means (20, as FiftyOne's ``cluster-center``
    method); each item's distance to its cluster centre is rescaled within its cluster, from the
    nearest item (1) to the farthest (0): ``(far - d) / (far - near)``.  So the most central
    item of every cluster scores 1 and its most peripheral item 0, in any dimension (in high
    dimension even the most central item is far from the centre, so FiftyOne's ``d / far`` alone
    would leave every score crowded in a narrow band: 0 to 0.39 on the Debian texts).  The
    version of FiftyOne's code read returns that normalised distance itself, which would rank
    the periphery first; embedview scores closeness, the meaning the name states.

Both scale to 100 000 items: neighbours come from :class:`~embedview.core.neighbors.NeighborIndex`
(exact blocked search, or an approximate index above ``approximate_above`` items, whose recall
is measured and kept in ``recall_at_10_``) and
k-means runs in mini-batches above 50 000 items.  Both are relative to this dataset: adding or
removing items changes them.  Given the data's neighbour graph (:func:`embedview.core.graph.knn_graph`,
kept in the cache), uniqueness reads it instead of searching when it holds ``k`` neighbours per item
under the same metric.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedview.core.embeddings import as_matrix, l2_normalize
from embedview.core.neighbors import NeighborIndex, limit_threads
from embedview.core.progress import TaskState

#: FiftyOne Brain's weights of the three nearest neighbours' distances
UNIQUENESS_WEIGHTS = (0.6, 0.3, 0.1)
#: above this many items k-means runs in mini-batches
MINIBATCH_ABOVE = 50_000


class ItemScores:
    """Per-item uniqueness and representativeness (see the module docstring).

    Parameters
    ----------
    k : int
        Neighbours searched per item (at least 3 are used by uniqueness; ``knn_similarity_``
        is the mean over all ``k``).
    n_clusters : int
        Clusters of representativeness (capped at ``N // 2``).
    metric : "cosine" | "euclidean"
    approximate, approximate_above :
        Passed to :class:`NeighborIndex`.
    random_state : int
    n_threads : int or None
        Threads of k-means (OpenMP / BLAS); ``None``: the libraries' default.  One by default: on
        a busy 2-core machine the spinning threads made k-means of 800 items 12 times slower.

    Attributes (after ``fit``)
    --------------------------
    uniqueness_, representativeness_ : (N,) float64 in [0, 1]
    knn_similarity_ : (N,) float64, mean similarity to the ``k`` nearest others (cosine only,
        else NaN); ``cluster_`` : (N,) int64 k-means cluster of each item
    n_clusters_ : int; approximate_, recall_at_10_ : from the neighbour search (or the graph)
    neighbours_how_ : str, where the neighbours came from (a reused graph, or a search)
    """

    def __init__(self, k: int = 10, n_clusters: int = 20, metric: str = "cosine", *,
                 approximate: Any = "auto", approximate_above: int = 50_000, random_state: int = 0,
                 n_threads: int | None = 1):
        self.k = k
        self.n_clusters = n_clusters
        self.metric = metric
        self.approximate = approximate
        self.approximate_above = approximate_above
        self.random_state = random_state
        self.n_threads = n_threads

    def fit(self, X: Any, progress=None, graph: Any = None) -> ItemScores:
        """``X``: (N, D) matrix or :class:`EmbeddingSet`.  ``graph``: the
        :class:`~embedview.core.graph.NeighborGraph` of the same vectors under this metric, read
        instead of a search when it holds ``max(k, 3)`` neighbours per item."""
        if self.metric not in ("cosine", "euclidean"):
            raise ValueError(f"item scores use metric 'cosine' or 'euclidean', not {self.metric!r}")
        if int(self.k) < 1 or int(self.n_clusters) < 1:
            raise ValueError(f"k and n_clusters must be at least 1 (got {self.k}, {self.n_clusters})")
        task = TaskState.coerce(progress)
        X = as_matrix(X)
        n = len(X)
        self.n_items_ = int(n)
        self._uniqueness(X, task.sub(0.0, 0.7), graph)
        self._representativeness(X, task.sub(0.7, 1.0))
        task.report(1, 1, "item scores done")
        return self

    def _uniqueness(self, X: np.ndarray, task: TaskState, graph: Any = None) -> None:
        n = len(X)
        need = max(int(self.k), len(UNIQUENESS_WEIGHTS))
        if graph is not None and n > 1 and graph.covers(n, min(need, n - 1), self.metric):
            scores = graph.head(min(need, n - 1))[1]
            self.approximate_ = not graph.exact
            self.recall_at_10_ = graph.recall_at_10
            self.neighbours_how_ = f"{graph.how} neighbour graph ({graph.origin}) of {n:,} items"
        else:
            index = NeighborIndex(self.metric, approximate=self.approximate, threshold=self.approximate_above,
                                  random_state=self.random_state)
            index.fit(X, progress=task.sub(0.0, 0.3))
            self.approximate_ = bool(index.approximate_)
            self.recall_at_10_ = float(index.recall_at_10_)
            _, scores = index.kneighbors(need, progress=task.sub(0.3, 1.0))
            self.neighbours_how_ = (f"approximate neighbour search, measured recall@10 {self.recall_at_10_:.3f}"
                                    if self.approximate_ else "exact neighbour search")
        scores = scores.astype(np.float64)
        dist = np.maximum(1.0 - scores, 0.0) if self.metric == "cosine" else scores
        self.knn_similarity_ = (scores[:, : int(self.k)].mean(axis=1) if self.metric == "cosine" and scores.shape[1]
                                else np.full(n, np.nan))
        m = min(len(UNIQUENESS_WEIGHTS), dist.shape[1])
        if m == 0:  # a single item: nothing to compare with
            self.uniqueness_ = np.ones(n)
            return
        w = np.asarray(UNIQUENESS_WEIGHTS[:m]) / np.sum(UNIQUENESS_WEIGHTS[:m])
        raw = dist[:, :m] @ w
        top = raw.max()
        self.uniqueness_ = raw / top if top > 0 else np.zeros(n)

    def _representativeness(self, X: np.ndarray, task: TaskState) -> None:
        from sklearn.cluster import KMeans, MiniBatchKMeans

        n = len(X)
        k = max(1, min(int(self.n_clusters), n // 2))
        self.n_clusters_ = k
        Z = l2_normalize(X) if self.metric == "cosine" else X
        task.report(0, 1, f"k-means with {k} clusters")
        algo = MiniBatchKMeans if n > MINIBATCH_ABOVE else KMeans
        with self._threads():
            km = algo(n_clusters=k, n_init=3, random_state=self.random_state).fit(Z)
        task.check()
        self.cluster_ = km.labels_.astype(np.int64)
        d = np.linalg.norm(Z - km.cluster_centers_[self.cluster_], axis=1).astype(np.float64)
        far = np.zeros(k)
        np.maximum.at(far, self.cluster_, d)
        near = np.full(k, np.inf)
        np.minimum.at(near, self.cluster_, d)
        span = (far - near)[self.cluster_]
        ok = span > 0
        self.representativeness_ = np.where(ok, (far[self.cluster_] - d) / np.where(ok, span, 1.0), 1.0)
        task.report(1, 1, "representativeness done")

    def _threads(self) -> Any:
        return limit_threads(self.n_threads, user_api=None)  # BLAS and OpenMP

    def columns(self) -> dict[str, np.ndarray]:
        """``{"uniqueness": (N,), "representativeness": (N,)}`` for the table and the map colouring."""
        if not hasattr(self, "representativeness_"):
            raise RuntimeError("ItemScores is not fitted; call fit(X) first")
        return {"uniqueness": self.uniqueness_, "representativeness": self.representativeness_}

    def describe(self) -> dict[str, str]:
        """One sentence per column: how it was computed here (for tooltips and reports)."""
        search = self.neighbours_how_
        return {
            "uniqueness": (f"weighted mean (0.6, 0.3, 0.1) of the {self.metric} distance to the 3 nearest other "
                           f"items, divided by the largest in these {self.n_items_:,} items ({search}); "
                           f"1 = the most isolated item, near 0 = has a near-copy"),
            "representativeness": (f"closeness to its k-means cluster centre, rescaled within the cluster "
                                   f"({self.n_clusters_} clusters over {self.n_items_:,} items): "
                                   f"1 = the most central item of its cluster, 0 = its most peripheral"),
        }
