"""The neighbour graph of an embedding set: searched once, kept in the cache, reused by everything.

Every analysis that needs each item's nearest neighbours -- ``embedview neighbors``, the duplicate
graph, outlier scores, leave-one-out kNN accuracy, UMAP's kNN graph, uniqueness -- asks
:func:`knn_graph` instead of searching on its own.  The first call searches
(:class:`~embedview.core.neighbors.NeighborIndex`: exact, or an approximate index where measured
faster at recall@10 >= 0.95) and stores the result in the embedding cache
(:meth:`embedview.core.cache.EmbeddingCache.put_graph`); later calls, in this process or in
another command on the same data, load it instead of searching.

Identity: a graph is stored under the SHA-256 of the vectors it was searched on, as prepared for
the metric (L2-normalised for cosine, so the raw vectors and ``EmbeddingSet.unit`` share one
graph), plus the metric and whether it is exact.  Changed vectors have another fingerprint and
are searched again; a stored graph with ``k`` neighbours per item serves every request for ``k``
or fewer (the first columns: neighbours are sorted, ties by the lower index, so the first ``k'``
columns of a top-``k`` are the top-``k'``).  A search stores at least ``store_k`` (15)
neighbours, so the usual consumers (k = 10, UMAP's 15 with the item itself) share one graph.

Hashing costs about 0.4 s per 150 MB of vectors on this machine (100k x 384); it is remembered
for read-only arrays (``EmbeddingSet.unit``), as :func:`~embedview.core.neighbors.prepare_vectors`
remembers its checks.  A graph found in memory (still held by someone in this process) is reused
without reading the cache.

The consumers take a :class:`NeighborGraph` through a ``graph=`` argument and use it when
:meth:`NeighborGraph.covers` their need (same number of items, same metric, enough neighbours,
exact when they require it); otherwise they search as before.  The caller is responsible for
handing them the graph of the same vectors (the fingerprint is on the graph to check).
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedview.core.neighbors import NeighborIndex, check_metric, prepare_vectors
from embedview.core.progress import TaskState

#: neighbours per item a search stores at least (UMAP's default 15 = the item + 14 others)
DEFAULT_STORE_K = 15

_FINGERPRINT_VERSION = b"embedview-vectors-v1"
#: read-only arrays already hashed: id -> (weak reference, fingerprint)
_FINGERPRINTS: dict[int, tuple[Any, str]] = {}
#: graphs alive in this process: (fingerprint, metric, exact) -> weak reference
_ALIVE: dict[tuple[str, str, bool], Any] = {}


def vectors_fingerprint(X: np.ndarray) -> str:
    """Hex SHA-256 of a float32 matrix's shape and bytes (remembered for read-only arrays)."""
    ref = _FINGERPRINTS.get(id(X))
    if ref is not None and ref[0]() is X:
        return ref[1]
    A = np.ascontiguousarray(X, dtype=np.float32)
    h = hashlib.sha256(_FINGERPRINT_VERSION)
    h.update(np.asarray(A.shape, dtype="<i8").tobytes())
    h.update(A.reshape(-1).view(np.uint8).data)
    fp = h.hexdigest()
    if isinstance(X, np.ndarray) and not X.flags.writeable:
        key = id(X)

        def forget(_ref: Any, key: int = key) -> None:
            _FINGERPRINTS.pop(key, None)

        _FINGERPRINTS[key] = (weakref.ref(X, forget), fp)
    return fp


def source_of(paths: Sequence[str | os.PathLike], encoder: str) -> str:
    """The name a graph's data goes by (its files and encoder): storing a graph of new vectors for
    the same source drops the graphs of the old ones.  The CLI and the window use this one."""
    return "|".join(sorted(os.path.abspath(os.fspath(p)) for p in paths)) + "#" + str(encoder)


def prepared_vectors(emb_or_X: Any, metric: str) -> np.ndarray:
    """The matrix searched for ``metric``: ``EmbeddingSet.unit`` for cosine (or the normalised
    matrix), the raw vectors for dot and euclidean; finite float32, checked once."""
    from embedview.core.embeddings import EmbeddingSet

    metric = check_metric(metric)
    if isinstance(emb_or_X, EmbeddingSet):
        X = emb_or_X.unit if metric == "cosine" else emb_or_X.vectors
    else:
        X = emb_or_X
    return prepare_vectors(X, metric, "vectors")


@dataclass(eq=False)
class NeighborGraph:
    """Each item's ``k`` nearest other items: ``indices`` (N, k) int32 and ``scores`` (N, k) float32.

    Scores follow :mod:`embedview.core.neighbors`: similarities descending (cosine, dot) or
    distances ascending (euclidean); an item's own row never lists it; ties by the lower index.
    ``info`` holds how it was searched (``decision`` "exact" / "ivf" / "hnsw", ``reason``,
    ``recall_at_10`` measured on ``n_recall_queries`` held-out items, ``search_seconds``,
    ``searched_at``); ``origin`` is "searched", "cache" (loaded from the embedding cache) or
    "memory" (the same graph already held in this process).  Arrays are read-only.
    """

    indices: np.ndarray
    scores: np.ndarray
    metric: str
    exact: bool
    fingerprint: str
    info: dict[str, Any] = field(default_factory=dict)
    origin: str = "searched"
    load_seconds: float = 0.0

    @property
    def n_items(self) -> int:
        return int(self.indices.shape[0])

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    @property
    def recall_at_10(self) -> float:
        return float(self.info.get("recall_at_10", 1.0 if self.exact else float("nan")))

    def covers(self, n_items: int, k: int, metric: str, exact: bool = False) -> bool:
        """True when this graph answers a need of ``k`` neighbours of ``n_items`` items under ``metric``
        (and is exact, when ``exact``)."""
        return (self.n_items == int(n_items) and self.metric == metric and self.k >= int(k)
                and (self.exact or not exact))

    def head(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``k`` neighbours of every item: ``(indices int32, scores float32)`` (views)."""
        if int(k) > self.k:
            raise ValueError(f"the graph holds {self.k} neighbours per item; {k} were asked")
        return self.indices[:, : int(k)], self.scores[:, : int(k)]

    def distances(self, k: int) -> np.ndarray:
        """The first ``k`` scores as float64 distances, smaller closer: ``max(0, 1 - cosine)``,
        L2, or the negated inner product for dot."""
        s = self.head(k)[1].astype(np.float64)
        if self.metric == "cosine":
            return np.maximum(1.0 - s, 0.0)
        if self.metric == "dot":
            return -s
        return s

    def umap_knn(self, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
        """The graph as umap-learn's ``precomputed_knn``: ``(indices int64, distances float32)`` of
        ``n_neighbors`` columns, the item itself first at distance 0 (as
        :func:`embedview.core.neighbors.knn_for_umap`).  Cosine or euclidean only."""
        if self.metric not in ("cosine", "euclidean"):
            raise ValueError(f"UMAP neighbours need metric 'cosine' or 'euclidean', not {self.metric!r}")
        m = int(n_neighbors) - 1
        idx, _ = self.head(m)
        n = self.n_items
        knn_idx = np.concatenate([np.arange(n, dtype=np.int64)[:, None], idx.astype(np.int64)], axis=1)
        dist = self.distances(m).astype(np.float32)
        knn_dist = np.concatenate([np.zeros((n, 1), np.float32), dist], axis=1)
        return knn_idx, knn_dist

    @property
    def how(self) -> str:
        """How the neighbours were found, e.g. ``"exact"`` or ``"approximate (IVF), recall@10 0.97
        measured on 1,000 held-out items"``."""
        if self.exact:
            return "exact"
        return (f"approximate ({str(self.info.get('decision', '?')).upper()}), recall@10 "
                f"{self.recall_at_10:.3f} measured on {int(self.info.get('n_recall_queries', 0)):,} held-out items")

    @property
    def summary(self) -> str:
        """One line for users: what the graph is, where it came from, what it cost."""
        what = f"{self.how} {self.metric} neighbour graph, {self.k} per item, {self.n_items:,} items"
        took = float(self.info.get("search_seconds", 0.0))
        if self.origin == "searched":
            return f"{what}: searched in {took:.1f} s"
        where = "the cache" if self.origin == "cache" else "memory"
        return (f"{what}: loaded from {where} in {self.load_seconds:.2f} s (searched once in {took:.1f} s"
                f"{', ' + str(self.info['searched_at']) if self.info.get('searched_at') else ''}; no new search)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (without the arrays)."""
        return {"n_items": self.n_items, "k": self.k, "metric": self.metric, "exact": self.exact,
                "how": self.how, "origin": self.origin, "load_seconds": float(self.load_seconds),
                "fingerprint": self.fingerprint, **{k: v for k, v in self.info.items() if k != "trials"}}


def _open_cache(cache: Any) -> tuple[Any, bool]:
    """(cache or None, whether this function opened it and must close it)."""
    if cache is False:
        return None, False
    from embedview.core.cache import EmbeddingCache

    if isinstance(cache, EmbeddingCache):
        return cache, False
    if cache is None or isinstance(cache, (str, os.PathLike, Path)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an unusable cache: searched, not stored
            return EmbeddingCache(None if cache is None else cache), True
    raise TypeError(f"cache must be None, False, a path or an EmbeddingCache, not {type(cache)!r}")


def knn_graph(
    emb_or_X: Any,
    k: int = 10,
    metric: str = "cosine",
    *,
    cache: Any = None,
    exact: bool = False,
    source: str | None = None,
    store_k: int = DEFAULT_STORE_K,
    progress=None,
    index_params: dict[str, Any] | None = None,
) -> NeighborGraph:
    """The neighbour graph of ``emb_or_X`` with at least ``k`` neighbours per item: loaded, or searched and stored.

    Parameters
    ----------
    emb_or_X : EmbeddingSet or (N, D) array
    k : int
        Neighbours needed per item (clamped to ``N - 1``).  A search stores
        ``max(k, store_k)`` so later, larger needs are served too.
    metric : "cosine" | "dot" | "euclidean"
    cache : None, False, path or EmbeddingCache
        ``None``: the default embedding cache (``EMBEDVIEW_CACHE_DIR``); ``False``: neither read
        nor write (``--no-cache``); a path or an open cache: that one.
    exact : bool
        True: only an exact graph will do (duplicates: an approximate graph could lose pairs); a
        search is then exact.  False: an exact graph if stored, else any; a search lets
        :class:`NeighborIndex` decide by measurement.
    source : str, optional
        :func:`source_of` the data: storing drops that source's graphs of older vectors.
    progress : None, callable(fraction, message) or TaskState
        "Nearest neighbours: block ..." messages come only from a search.
    index_params : dict, optional
        Extra :class:`NeighborIndex` parameters for a search (``threshold``, ``method``, ...).

    A cache that cannot be written (full disk) is reported as a ``RuntimeWarning``; the graph is
    still returned.  Cancelling while storing stores nothing.
    """
    task = TaskState.coerce(progress)
    metric = check_metric(metric)
    X = prepared_vectors(emb_or_X, metric)
    n = X.shape[0]
    need = max(0, min(int(k), n - 1))
    t0 = time.perf_counter()
    task.report(0, 1, "Neighbour graph: fingerprinting the vectors")
    fp = vectors_fingerprint(X)

    for ex in ((True,) if exact else (True, False)):  # memory first: no read at all
        ref = _ALIVE.get((fp, metric, ex))
        alive = ref() if ref is not None else None
        if alive is not None and alive.k >= need:
            graph = NeighborGraph(alive.indices, alive.scores, metric, ex, fp, dict(alive.info), "memory",
                                  time.perf_counter() - t0)
            _remember(graph)
            task.report(1, 1, "Neighbour graph: already in memory")
            return graph

    store, opened = _open_cache(cache)
    try:
        if store is not None:
            found = store.get_graph(fp, metric, min_k=need, exact=True if exact else None)
            if found is not None and found["n"] == n:
                graph = NeighborGraph(found["indices"], found["scores"], metric, bool(found["exact"]), fp,
                                      dict(found["info"]), "cache", time.perf_counter() - t0)
                _remember(graph)
                task.report(1, 1, "Neighbour graph: loaded from the cache")
                return graph

        kk = max(0, min(max(need, int(store_k)), n - 1))
        params = dict(index_params or {})
        if exact:
            params["approximate"] = False
        t_search = time.perf_counter()
        index = NeighborIndex(metric, **params).fit(X, progress=task.sub(0.0, 0.2))
        idx, scores = index.kneighbors(kk, progress=task.sub(0.2, 0.95))
        seconds = time.perf_counter() - t_search
        info = {"decision": index.decision_, "reason": index.reason_, "recall_at_10": float(index.recall_at_10_),
                "n_recall_queries": int(index.n_recall_queries_), "search_seconds": round(seconds, 3),
                "searched_at": time.strftime("%Y-%m-%d %H:%M", time.localtime())}
        indices = np.ascontiguousarray(idx, dtype=np.int32)
        sc = np.ascontiguousarray(scores, dtype=np.float32)
        indices.flags.writeable = False
        sc.flags.writeable = False
        graph = NeighborGraph(indices, sc, metric, not index.approximate_, fp, info, "searched")
        if store is not None:
            from embedview.core.cache import CacheError

            try:
                store.put_graph(fp, metric, graph.exact, indices, sc, info, source=source,
                                progress=task.sub(0.95, 1.0))
            except CacheError as exc:
                warnings.warn(f"the neighbour graph was not kept: {exc}", RuntimeWarning, stacklevel=2)
        _remember(graph)
        task.report(1, 1, "Neighbour graph: " + graph.how)
        return graph
    finally:
        if opened:
            store.close()


def _remember(graph: NeighborGraph) -> None:
    key = (graph.fingerprint, graph.metric, graph.exact)

    def forget(ref: Any, key: tuple = key) -> None:
        if _ALIVE.get(key) is ref:
            _ALIVE.pop(key, None)

    _ALIVE[key] = weakref.ref(graph, forget)

