"""Nearest neighbours: exact blocked top-k, an approximate index for big sets, similarity matrices.

Metrics and the scores convention
---------------------------------
``"cosine"`` (default)
    cosine similarity, computed as the dot product of L2-normalised vectors (an all-zero vector
    has similarity 0 to everything).  Scores are similarities, sorted **descending**.
``"dot"``
    the raw inner product.  Scores are similarities, sorted **descending**.
``"euclidean"``
    the L2 distance.  Scores are distances, sorted **ascending**.

Ties are broken by the lower item index, so results are deterministic.

Exact search (:func:`topk`)
---------------------------
Queries are processed block by block: one float32 BLAS ``sgemm`` of a block of queries against
the whole matrix, then a top-k selection inside the block, so the working memory stays within
``memory_budget_mb`` and no ``N x N`` matrix ever exists.  The selection avoids a full
``argpartition`` of every row (which costs about three times the matrix product itself): the
columns are cut into contiguous groups, the ``k``-th largest group maximum is a lower bound of
each row's ``k``-th best score, and only the few scores above that bound are sorted.  Euclidean
distances are ranked through ``||q||^2 - 2 q.x + ||x||^2`` in the same blocks; the distances
returned for the ``k`` winners are then recomputed directly, so duplicates get exactly 0.

Approximate search (:class:`NeighborIndex`)
-------------------------------------------
Above ``threshold`` items (50 000 by default) the index switches to an HNSW graph from faiss
(``IndexHNSWFlat``; inner product for cosine, on normalised vectors, and for dot; L2 for
euclidean).  Why faiss: it is mature and widely used, its distance kernels are SIMD-optimised,
its flat index is the standard exact reference the benchmarks compare against, and HNSW needs
no training step (unlike IVF / PQ), so building it is one pass and its quality does not depend
on a training sample.  faiss is imported inside the functions that use it.  Whenever the
approximate path is used, recall@10 against the exact search is measured on a random sample of
queries and stored in ``recall_at_10_`` so the user sees what was traded for speed.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from typing import Any

import numpy as np

from embedview.core.embeddings import l2_normalize
from embedview.core.progress import TaskState

METRICS = ("cosine", "dot", "euclidean")

# Bytes of working memory per (query, item) score in a block: float32 score + bool mask + the
# bounded candidate arrays (group path); float32 score + its negated copy + int64 argsort
# output (sort path).
_BYTES_GROUP_PATH = 8
_BYTES_SORT_PATH = 16


def check_metric(metric: str) -> str:
    """Return ``metric`` if it is one of :data:`METRICS`, else raise ``ValueError``."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    return metric


def higher_is_better(metric: str) -> bool:
    """True when the metric's scores are similarities (cosine, dot), False for distances."""
    return check_metric(metric) != "euclidean"


#: read-only matrices already checked by prepare_vectors: (id, metric) -> weak reference.
#: A single-item query (click-to-neighbours) then costs one pass over the matrix, not three.
_VALIDATED: dict = {}


def prepare_vectors(X, metric: str, name: str = "X") -> np.ndarray:
    """2-D float32 matrix ready for ``metric``: finite, and L2-normalised for cosine.

    No copy is made when ``X`` is already float32, C-contiguous and (for cosine) unit-length
    (zero rows allowed), e.g. ``EmbeddingSet.unit``.  A read-only matrix that passed once is
    remembered (weakly) and not scanned again.
    """
    key = (id(X), metric)
    ref = _VALIDATED.get(key)
    if ref is not None and ref() is X:
        return X
    X_in = X
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix of vectors, got shape {X.shape}")
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.size and not np.isfinite(X).all():
        bad = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise ValueError(f"{name} contains NaN or infinite values (first in row {bad})")
    if metric == "cosine" and X.size:
        norms = np.sqrt(np.einsum("ij,ij->i", X, X))
        if not np.all((np.abs(norms - 1.0) < 1e-4) | (norms == 0.0)):
            X = l2_normalize(X)
    if X is X_in and isinstance(X, np.ndarray) and not X.flags.writeable:
        def forget(_ref: Any, key: Any = key) -> None:  # the array is gone: so is its entry
            _VALIDATED.pop(key, None)

        _VALIDATED[key] = weakref.ref(X, forget)
    return X


def block_rows(n_items: int, memory_budget_mb: float, bytes_per_score: int = _BYTES_GROUP_PATH) -> int:
    """Queries per block so that a block's working memory stays within the budget (at least 1)."""
    budget = float(memory_budget_mb) * 2**20
    return max(1, int(budget // (max(n_items, 1) * bytes_per_score)))


@contextlib.contextmanager
def _blas_threads(n_threads: int | None):
    """Limit BLAS threads to ``n_threads`` inside the block; ``None`` keeps the library default."""
    if n_threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(n_threads), user_api="blas"):
        yield


def _n_groups(n: int, k: int) -> int:
    """Number of column groups for the bounded selection, or 0 to use a plain sort instead."""
    c = min(max(256, 4 * k), n // 16)
    return c if c >= 2 * k else 0


def _select_block(S: np.ndarray, k: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (largest) of every row of ``S``: (indices int64, values float32), ties by index.

    ``mask`` is a scratch bool buffer with at least ``S.shape[0]`` rows of ``S.shape[1]``
    (unused, and may be ``None``, when the row is short enough for a plain stable sort).
    """
    m, n = S.shape
    c = _n_groups(n, k)
    if c == 0:
        order = np.argsort(-S, axis=1, kind="stable")[:, :k]
        return order.astype(np.int64, copy=False), np.take_along_axis(S, order, axis=1)

    # Lower bound of each row's k-th best score: the k-th largest of c group maxima (k distinct
    # scores reach it).  Group r holds the columns j = r (mod c): the reduction runs over the
    # middle axis, i.e. element-wise maxima of contiguous rows, which vectorises well.
    g = n // c
    gmax = S[:, : c * g].reshape(m, g, c).max(axis=1)
    if c * g < n:
        np.maximum(gmax[:, : n - c * g], S[:, c * g :], out=gmax[:, : n - c * g])
    bound = np.partition(gmax, c - k, axis=1)[:, c - k]

    mk = mask[:m] if mask is not None else np.empty(S.shape, dtype=bool)
    np.greater_equal(S, bound[:, None], out=mk)
    cap = max(n // 16, 64 * k)
    heavy = np.empty(0, dtype=np.int64)
    if np.count_nonzero(mk) > m * cap:  # massive ties: sort those rows fully, bounding memory
        heavy = np.flatnonzero(np.count_nonzero(mk, axis=1) > cap)
        mk[heavy] = False

    flat = np.flatnonzero(mk)
    rows, cols = np.divmod(flat, n)
    vals = S.reshape(-1)[flat]
    order = np.lexsort((cols, -vals, rows))  # by row, then score descending, then index
    per_row = np.bincount(rows, minlength=m)
    starts = np.concatenate([[0], np.cumsum(per_row)[:-1]])
    idx = np.empty((m, k), dtype=np.int64)
    val = np.empty((m, k), dtype=np.float32)
    light = np.setdiff1d(np.arange(m), heavy, assume_unique=True)
    pick = order[starts[light][:, None] + np.arange(k)]
    idx[light] = cols[pick]
    val[light] = vals[pick]
    for r in heavy:
        o = np.argsort(-S[r], kind="stable")[:k]
        idx[r] = o
        val[r] = S[r, o]
    return idx, val


def _distances_to(Q: np.ndarray, X: np.ndarray, idx: np.ndarray, budget_bytes: float) -> np.ndarray:
    """``||Q[i] - X[idx[i, j]]||`` as float32, computed directly, in chunks of rows within a budget."""
    out = np.empty(idx.shape, dtype=np.float32)
    step = max(1, int(budget_bytes // max(1, idx.shape[1] * X.shape[1] * 4)))
    for a in range(0, idx.shape[0], step):
        diff = Q[a : a + step, None, :] - X[idx[a : a + step]]
        out[a : a + step] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    return out


def topk(
    X,
    k: int = 10,
    *,
    queries=None,
    metric: str = "cosine",
    exclude_self: bool = True,
    memory_budget_mb: float = 256,
    progress=None,
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours, computed block by block within a memory budget.

    Parameters
    ----------
    X : (N, D) array
        The items searched.
    k : int
        Neighbours per query.  Clamped to the number of candidates (``N``, or ``N - 1`` when the
        query's own item is excluded), so the result may have fewer than ``k`` columns.
    queries : None, (Q, D) array, or 1-D integer array
        ``None``: every item of ``X`` is a query.  Integer array: those rows of ``X`` are the
        queries.  Float matrix: external query vectors (nothing is excluded).
    metric : "cosine" | "dot" | "euclidean"
        See the module docstring for the scores convention.
    exclude_self : bool
        When the queries are items of ``X`` (``None`` or indices), leave each query's own item
        out of its neighbours.  Other identical items are still returned.
    memory_budget_mb : float
        Upper bound for the working memory of one block (the score block and the selection's
        buffers).  Copies of the inputs (float32 conversion, normalisation) are not counted.
    progress : None, callable(fraction, message) or TaskState
        Reported, and cancellation checked, between blocks.
    n_threads : int, optional
        Limit BLAS to this many threads (threadpoolctl); default: the BLAS library's own
        setting, normally all cores.

    Returns
    -------
    indices : (Q, k') int64
    scores : (Q, k') float32
        Similarities in descending order (cosine, dot) or distances in ascending order
        (euclidean); ``k' = min(k, candidates)``.
    """
    task = TaskState.coerce(progress)
    metric = check_metric(metric)
    X = prepare_vectors(X, metric, "X")
    n = X.shape[0]

    self_idx: np.ndarray | None = None
    if queries is None:
        Q = X
        if exclude_self:
            self_idx = np.arange(n, dtype=np.int64)
    else:
        q = np.asarray(queries)
        if q.ndim == 1 and q.dtype.kind in "iu":
            q = q.astype(np.int64)
            if q.size and (q.min() < 0 or q.max() >= n):
                raise IndexError(f"query indices out of range for {n} items")
            Q = X[q]
            if exclude_self:
                self_idx = q
        else:
            Q = prepare_vectors(q, metric, "queries")
            if Q.shape[1] != X.shape[1]:
                raise ValueError(f"queries have dimension {Q.shape[1]} but the items have {X.shape[1]}")
    nq = Q.shape[0]
    k = max(0, min(int(k), n - (1 if self_idx is not None else 0)))
    out_idx = np.empty((nq, k), dtype=np.int64)
    out_val = np.empty((nq, k), dtype=np.float32)
    if k == 0 or nq == 0:
        task.report(1, 1, "Nearest neighbours: nothing to search")
        return out_idx, out_val

    half_sq = 0.5 * np.einsum("ij,ij->i", X, X) if metric == "euclidean" else None
    per_score = _BYTES_GROUP_PATH if _n_groups(n, k) else _BYTES_SORT_PATH
    rows = min(nq, block_rows(n, memory_budget_mb, per_score))
    S_buf = np.empty((rows, n), dtype=np.float32)
    mask = np.empty((rows, n), dtype=bool) if _n_groups(n, k) else None
    n_blocks = -(-nq // rows)
    with _blas_threads(n_threads):
        for b, start in enumerate(range(0, nq, rows)):
            stop = min(start + rows, nq)
            m = stop - start
            qb = Q[start:stop]
            S = S_buf[:m]
            np.matmul(qb, X.T, out=S)
            if half_sq is not None:
                S -= half_sq  # q.x - |x|^2 / 2: larger means closer
            if self_idx is not None:
                S[np.arange(m), self_idx[start:stop]] = -np.inf
            idx, val = _select_block(S, k, mask)
            if half_sq is not None:
                # exact distances of the winners (no cancellation), re-sorted, ties by index
                val = _distances_to(qb, X, idx, budget_bytes=memory_budget_mb * 2**20 / 4)
                o = np.lexsort((idx, val), axis=-1)
                idx = np.take_along_axis(idx, o, axis=1)
                val = np.take_along_axis(val, o, axis=1)
            out_idx[start:stop] = idx
            out_val[start:stop] = val
            task.report(b + 1, n_blocks, f"Nearest neighbours: block {b + 1} of {n_blocks}")
    return out_idx, out_val


def _recall_against_exact(approx_scores: np.ndarray, exact_scores: np.ndarray, metric: str) -> float:
    """Tie-aware recall: an approximate neighbour counts when it scores at least the k-th exact score."""
    if exact_scores.size == 0:
        return 1.0
    kth = exact_scores[:, -1:]
    tol = 1e-5 * np.maximum(1.0, np.abs(kth))
    good = approx_scores >= kth - tol if higher_is_better(metric) else approx_scores <= kth + tol
    return float(good.sum() / exact_scores.size)


class NeighborIndex:
    """Neighbour search over one matrix: exact blocked search, or a faiss HNSW graph when big.

    Parameters
    ----------
    metric : "cosine" | "dot" | "euclidean"
        Scores convention as in the module docstring.
    approximate : "auto" | bool
        ``"auto"``: approximate above ``threshold`` items; ``True`` / ``False`` force it.
    threshold : int
        Item count above which ``"auto"`` goes approximate.
    ef_search, M, ef_construction : int
        HNSW search breadth, graph degree and build breadth (faiss parameters).
    random_state : int
        Seed for the sample of queries used to measure ``recall_at_10_``.
    memory_budget_mb : float
        Budget for the exact search (see :func:`topk`).
    n_recall_queries : int
        Size of that sample.

    Attributes (after ``fit``)
    --------------------------
    approximate_ : bool
        Whether the HNSW index is used.
    recall_at_10_ : float
        Tie-aware recall@10 of :meth:`kneighbors` against the exact search, measured on a
        random sample of items; 1.0 for the exact path (exact by construction).
    build_seconds_ : float
        Time to build the index (0 for the exact path, which needs no index).
    n_items_, dim_ : int
    """

    def __init__(
        self,
        metric: str = "cosine",
        approximate="auto",
        threshold: int = 50_000,
        ef_search: int = 64,
        M: int = 32,
        ef_construction: int = 64,
        random_state: int = 0,
        memory_budget_mb: float = 256,
        n_recall_queries: int = 1000,
    ):
        self.metric = check_metric(metric)
        if approximate not in ("auto", True, False):
            raise ValueError(f"approximate must be 'auto', True or False, not {approximate!r}")
        self.approximate = approximate
        self.threshold = int(threshold)
        self.ef_search = int(ef_search)
        self.M = int(M)
        self.ef_construction = int(ef_construction)
        self.random_state = random_state
        self.memory_budget_mb = memory_budget_mb
        self.n_recall_queries = int(n_recall_queries)

    # -- building -----------------------------------------------------------------------
    def fit(self, X, progress=None) -> NeighborIndex:
        """Prepare ``X`` (normalised for cosine) and, on the approximate path, build the HNSW graph."""
        task = TaskState.coerce(progress)
        self._X = prepare_vectors(X, self.metric, "X")
        self.n_items_, self.dim_ = self._X.shape
        self.approximate_ = self.n_items_ > 0 and bool(
            self.approximate is True or (self.approximate == "auto" and self.n_items_ > self.threshold)
        )
        self.build_seconds_ = 0.0
        self.recall_at_10_ = 1.0
        self._index = None
        if not self.approximate_:
            task.report(1, 1, "Exact neighbour search ready")
            return self
        import faiss  # lazy: heavy native library

        t0 = time.perf_counter()
        faiss_metric = faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        index = faiss.IndexHNSWFlat(self.dim_, self.M, faiss_metric)
        index.hnsw.efConstruction = self.ef_construction
        build = task.sub(0.0, 0.9)
        chunk = 10_000
        for start in range(0, self.n_items_, chunk):
            index.add(self._X[start : start + chunk])
            stop = min(start + chunk, self.n_items_)
            build.report(stop, self.n_items_, f"Building HNSW index: {stop:,} of {self.n_items_:,} items")
        index.hnsw.efSearch = self.ef_search
        self._index = index
        self.build_seconds_ = time.perf_counter() - t0
        self._measure_recall(task.sub(0.9, 1.0))
        return self

    def _measure_recall(self, task: TaskState) -> None:
        """recall@10 of the approximate ``kneighbors`` on a random sample, against :func:`topk`."""
        rng = np.random.default_rng(self.random_state)
        sample = np.sort(rng.choice(self.n_items_, min(self.n_items_, self.n_recall_queries), replace=False))
        k = min(10, self.n_items_ - 1)
        _, exact = topk(self._X, k, queries=sample, metric=self.metric, memory_budget_mb=self.memory_budget_mb,
                        progress=task.sub(0.0, 0.8))
        _, approx = self.kneighbors(k, indices=sample, progress=task.sub(0.8, 1.0))
        self.recall_at_10_ = _recall_against_exact(approx, exact, self.metric)

    def _check_fitted(self) -> None:
        if not hasattr(self, "_X"):
            raise RuntimeError("NeighborIndex is not fitted; call fit(X) first")

    # -- searching ----------------------------------------------------------------------
    def _search(self, Q: np.ndarray, k: int, task: TaskState, self_idx: np.ndarray | None):
        """HNSW search in chunks; drops each query's own item when ``self_idx`` is given."""
        index = self._index
        if index is None:
            raise RuntimeError("NeighborIndex has no approximate index; the exact path searches without one")
        extra = 1 if self_idx is not None else 0
        kk = min(k + extra, self.n_items_)
        nq = Q.shape[0]
        out_idx = np.empty((nq, kk - extra), dtype=np.int64)
        out_val = np.empty((nq, kk - extra), dtype=np.float32)
        if kk - extra == 0 or nq == 0:
            task.report(1, 1, "Approximate neighbours: nothing to search")
            return out_idx, out_val
        chunk = 8192
        for start in range(0, nq, chunk):
            stop = min(start + chunk, nq)
            D, found = index.search(np.ascontiguousarray(Q[start:stop]), kk)
            found = found.astype(np.int64, copy=False)
            if self.metric == "euclidean":
                D = np.sqrt(np.maximum(D, 0.0))
            if self_idx is not None:
                is_self = found == self_idx[start:stop, None]
                is_self[~is_self.any(axis=1), -1] = True  # self not returned: drop the last one
                keep = np.argsort(is_self, axis=1, kind="stable")[:, : kk - 1]
                found = np.take_along_axis(found, keep, axis=1)
                D = np.take_along_axis(D, keep, axis=1)
            bad = np.flatnonzero((found < 0).any(axis=1))
            if bad.size:  # HNSW returned fewer results than asked: answer those queries exactly
                q = self_idx[start:stop][bad] if self_idx is not None else Q[start:stop][bad]
                found[bad], D[bad] = topk(self._X, found.shape[1], queries=q, metric=self.metric,
                                          exclude_self=self_idx is not None, memory_budget_mb=self.memory_budget_mb)
            out_idx[start:stop] = found
            out_val[start:stop] = D
            task.report(stop, nq, f"Approximate neighbours: {stop:,} of {nq:,} queries")
        return out_idx, out_val

    def query(self, Q, k: int = 10, progress=None) -> tuple[np.ndarray, np.ndarray]:
        """Neighbours of external query vectors ``Q``: ``(indices (Q, k), scores (Q, k))``."""
        self._check_fitted()
        task = TaskState.coerce(progress)
        if not self.approximate_:
            return topk(self._X, k, queries=np.asarray(Q, dtype=np.float32), metric=self.metric,
                        exclude_self=False, memory_budget_mb=self.memory_budget_mb, progress=task)
        Qp = prepare_vectors(Q, self.metric, "queries")
        if Qp.shape[1] != self.dim_:
            raise ValueError(f"queries have dimension {Qp.shape[1]} but the index has {self.dim_}")
        return self._search(Qp, max(0, min(int(k), self.n_items_)), task, None)

    def kneighbors(self, k: int = 10, indices=None, progress=None) -> tuple[np.ndarray, np.ndarray]:
        """Neighbours of the indexed items themselves (each item's own row excluded).

        ``indices``: only these items (default: all).  Returns ``(indices (n, k'), scores (n, k'))``
        with ``k' = min(k, N - 1)``.
        """
        self._check_fitted()
        task = TaskState.coerce(progress)
        sel = np.arange(self.n_items_, dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64)
        if not self.approximate_:
            return topk(self._X, k, queries=None if indices is None else sel, metric=self.metric,
                        exclude_self=True, memory_budget_mb=self.memory_budget_mb, progress=task)
        k = max(0, min(int(k), self.n_items_ - 1))
        return self._search(self._X[sel], k, task, sel)

    def to_dict(self) -> dict:
        """JSON-ready summary of how the index was built."""
        self._check_fitted()
        return {
            "metric": self.metric,
            "n_items": int(self.n_items_),
            "dim": int(self.dim_),
            "approximate": bool(self.approximate_),
            "recall_at_10": float(self.recall_at_10_),
            "build_seconds": float(self.build_seconds_),
            "ef_search": self.ef_search if self.approximate_ else None,
            "M": self.M if self.approximate_ else None,
        }


def similarity_matrix(X, indices=None, metric: str = "cosine", max_items: int = 4096) -> np.ndarray:
    """Pairwise ``(m, m)`` float32 matrix of the chosen items (all when ``indices`` is None).

    Similarities for cosine / dot, distances for euclidean.  Meant for the heatmap: refuses more
    than ``max_items`` items (a 4096 x 4096 matrix is 64 MB) with a ``ValueError``.
    """
    metric = check_metric(metric)
    X = np.asarray(X)
    m = X.shape[0] if indices is None else len(indices)
    if m > max_items:
        raise ValueError(f"similarity matrix of {m} items is too large (limit {max_items}); select fewer items")
    sub = prepare_vectors(X if indices is None else X[np.asarray(indices, dtype=np.int64)], metric, "X")
    G = sub @ sub.T
    if metric != "euclidean":
        return G.astype(np.float32, copy=False)
    sq = np.diag(G).copy()
    d2 = sq[:, None] + sq[None, :] - 2.0 * G
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2).astype(np.float32, copy=False)


def knn_for_umap(X, n_neighbors: int, metric: str = "cosine", progress=None) -> tuple[np.ndarray, np.ndarray]:
    """k-NN graph in the layout umap-learn's ``precomputed_knn`` expects.

    Each row starts with the item itself at distance 0, followed by its ``n_neighbors - 1``
    nearest other items.  Distances are ``max(0, 1 - cosine)`` for cosine and L2 for euclidean
    (the metrics UMAP understands; ``"dot"`` raises ``ValueError``).  Uses :class:`NeighborIndex`
    with its defaults, so large sets go approximate.  Returns ``(knn_indices (N, n') int64,
    knn_dists (N, n') float32)`` with ``n' = min(n_neighbors, N)``.
    """
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"UMAP neighbours need metric 'cosine' or 'euclidean', not {metric!r}")
    if int(n_neighbors) < 1:
        raise ValueError("n_neighbors must be at least 1")
    task = TaskState.coerce(progress)
    index = NeighborIndex(metric=metric).fit(X, progress=task.sub(0.0, 0.4))
    idx, scores = index.kneighbors(int(n_neighbors) - 1, progress=task.sub(0.4, 1.0))
    n = idx.shape[0]
    dists = np.clip(1.0 - scores, 0.0, None) if metric == "cosine" else scores
    knn_idx = np.concatenate([np.arange(n, dtype=np.int64)[:, None], idx], axis=1)
    knn_dist = np.concatenate([np.zeros((n, 1), np.float32), dists.astype(np.float32)], axis=1)
    return knn_idx, knn_dist
