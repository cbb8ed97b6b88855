"""Nearest neighbours: exact blocked top-k, an approximate index where measured faster, similarity matrices.

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

Approximate search (:class:`NeighborIndex`): used only where measured faster at its promise
----------------------------------------------------------------------------------------------
An approximate index pays off only on some data: on uniformly spread (random-like) vectors no
index reaches recall@10 0.95 without scanning most of the set, and an HNSW graph on 100k x 512
vectors took minutes to build.  So ``NeighborIndex.fit`` *measures* on the data at hand:

1. Up to ``threshold`` items (50 000) it uses exact search, with no index and no measurement.
2. Above, it draws ``n_recall_queries`` items (1000) as held-out queries and runs the exact
   search for them (timed: the exact time per query).
3. It builds a faiss index: ``IndexIVFFlat`` by default (``nlist = 4 sqrt(N)`` k-means cells,
   trained in 10 iterations on ``40 * nlist`` items drawn apart from the queries), or
   ``IndexHNSWFlat`` (``method="hnsw"``).  IVF builds far faster than HNSW.
4. It raises the search breadth (IVF ``nprobe`` 1, 2, 4, ...; HNSW ``efSearch`` 16, 32, ...),
   measuring each step's tie-aware recall@10 against the exact results of the same queries and
   its time per query, until the recall reaches ``target_recall`` (0.95), or the step is already
   slower than exact search, or the breadth is at its maximum; then it bisects twice between the
   last step under the target and the first above it (doubling overshoots).
5. The index is used when that recall reaches the target *and* it is faster than exact search
   for the ``workload``: ``"batch"`` (default; many queries at once, as ``kneighbors()`` of every
   item runs them, where exact search is a cache-friendly matrix product) compares time per
   query in a batch, with the index's build time spread over the ``N`` items; ``"single"`` (a
   click in the window) compares the median time of single queries.  Otherwise exact search
   answers and the index is freed.  ``approximate=True`` uses the tuned index regardless
   (benchmarks, tests); ``False`` never builds one.

What was decided and why stays on the object: ``decision_`` ("exact" / "ivf" / "hnsw"),
``reason_`` (one sentence with the measured numbers), ``recall_at_10_`` (the recall of what
answers, measured on ``n_recall_queries_`` held-out items -- never an estimate), ``params_``,
``exact_ms_per_query_`` / ``approx_ms_per_query_`` (and ``*_ms_single_``), every tuning step in ``trials_`` and
``build_seconds_``.  Times are wall times of a batch of queries on this machine at fit time, so a
busy machine can tip a close decision either way; the recall is exact arithmetic.  faiss is
imported inside the functions that use it; no result is ever cached outside the object.
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


_CONTROLLER: list = []  # threadpoolctl's controller, made once: scanning the libraries costs ~15 ms


@contextlib.contextmanager
def limit_threads(n_threads: int | None, user_api: str | None = "blas"):
    """Limit native threads to ``n_threads`` inside the block: BLAS by default, every pool
    (BLAS and OpenMP) with ``user_api=None``; ``None`` keeps the libraries' defaults.  On a busy
    machine spinning BLAS / OpenMP threads made one logistic-regression fit 30x slower."""
    if n_threads is None:
        yield
        return
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    with _CONTROLLER[0].limit(limits=int(n_threads), user_api=user_api):
        yield


_blas_threads = limit_threads


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


#: recall@10 the approximate index promises; below it, exact search answers
TARGET_RECALL = 0.95
METHODS = ("ivf", "hnsw")
WORKLOADS = ("batch", "single")


class NeighborIndex:
    """Neighbour search over one matrix: exact blocked search, or a faiss index where measured faster.

    ``fit`` decides, on this data, between exact search (:func:`topk`) and an approximate faiss
    index (IVF-Flat by default, or HNSW), as the module docstring describes: the approximate
    index is used only when, on a sample of held-out queries, its recall@10 against the exact
    search reaches ``target_recall`` and its time per query is below the exact search's.

    Parameters
    ----------
    metric : "cosine" | "dot" | "euclidean"
        Scores convention as in the module docstring.
    approximate : "auto" | bool
        ``"auto"``: measure and decide (above ``threshold`` items; exact below);
        ``True``: use the approximate index even where it is slower or below the target (its
        parameter is still tuned and its recall still measured: for benchmarks and tests);
        ``False``: exact search, no index.
    threshold : int
        ``"auto"`` measures only above this many items (below, exact search of the whole set
        is quick and no index is worth building).
    method : "ivf" | "hnsw"
        The approximate index tried: faiss ``IndexIVFFlat`` (k-means cells, ``nprobe`` tuned) or
        ``IndexHNSWFlat`` (``efSearch`` tuned).
    target_recall : float
        The recall@10 the approximate index must reach on the sample (0.95).
    nlist : int, optional
        IVF cells; default ``round(4 * sqrt(N))``.
    max_nprobe, max_ef_search : int, optional
        Upper end of the tuning (default: every cell / 1024).
    M, ef_construction : int
        HNSW graph degree and build breadth.
    n_recall_queries : int
        Held-out items used as queries to measure recall and time (both paths on the same ones).
    n_train : int, optional
        Items the IVF k-means is trained on; default ``min(N, 40 * nlist)``, drawn apart from the
        recall queries.
    random_state : int
        Seed of both samples.
    memory_budget_mb : float
        Budget for the exact search (see :func:`topk`).
    workload : "batch" | "single"
        Which time decides.  ``"batch"``: many queries at once, as ``kneighbors()`` of every
        item runs them (exact search is a cache-friendly matrix product there, hard to beat),
        with the build time divided by ``N`` added to the index's time per query.
        ``"single"``: one query at a time, as a click in the window (exact search reads the whole
        matrix for each; the median of ``n_single_queries`` queries is compared).
    n_single_queries : int
        Queries timed one by one for ``workload="single"``.

    Attributes (after ``fit``)
    --------------------------
    approximate_ : bool
        Whether searches go through the approximate index.
    decision_ : "exact" | "ivf" | "hnsw"
        What answers searches.
    reason_ : str
        One sentence for users: what was chosen and why, with the measured numbers.
    recall_at_10_ : float
        Tie-aware recall@10 of what answers searches, measured against the exact search on
        ``n_recall_queries_`` held-out items; 1.0 for exact search (exact by construction).
    approx_recall_at_10_ : float or None
        The measured recall of the tuned approximate index, also when it was not chosen
        (None when none was built).
    params_ : dict
        The approximate index's parameters (``nlist`` / ``nprobe``, or ``M`` / ``ef_search``).
    exact_ms_per_query_, approx_ms_per_query_ : float or None
        Wall time per query of each path on the sample (a batch of ``n_recall_queries_``
        queries, as ``kneighbors`` runs them).
    exact_ms_single_, approx_ms_single_ : float or None
        Median time of one query at a time (``workload="single"`` only).
    trials_ : list of dict
        Every tuning step: the parameter, its recall and time per query.
    n_recall_queries_ : int
    build_seconds_ : float
        Time to train and fill the approximate index (0 when none was built).
    fit_seconds_ : float
        Time of the whole ``fit`` (sample search, build, tuning).
    n_items_, dim_ : int
    """

    def __init__(
        self,
        metric: str = "cosine",
        approximate="auto",
        threshold: int = 50_000,
        method: str = "ivf",
        target_recall: float = TARGET_RECALL,
        nlist: int | None = None,
        max_nprobe: int | None = None,
        max_ef_search: int = 1024,
        M: int = 32,
        ef_construction: int = 64,
        n_recall_queries: int = 1000,
        n_train: int | None = None,
        random_state: int = 0,
        memory_budget_mb: float = 256,
        workload: str = "batch",
        n_single_queries: int = 20,
    ):
        self.metric = check_metric(metric)
        if approximate not in ("auto", True, False):
            raise ValueError(f"approximate must be 'auto', True or False, not {approximate!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {method!r}")
        if not 0.0 < float(target_recall) <= 1.0:
            raise ValueError(f"target_recall must be in (0, 1], not {target_recall!r}")
        if workload not in WORKLOADS:
            raise ValueError(f"workload must be one of {WORKLOADS}, not {workload!r}")
        self.approximate = approximate
        self.threshold = int(threshold)
        self.method = method
        self.workload = workload
        self.n_single_queries = int(n_single_queries)
        self.target_recall = float(target_recall)
        self.nlist = nlist
        self.max_nprobe = max_nprobe
        self.max_ef_search = int(max_ef_search)
        self.M = int(M)
        self.ef_construction = int(ef_construction)
        self.n_recall_queries = int(n_recall_queries)
        self.n_train = n_train
        self.random_state = random_state
        self.memory_budget_mb = memory_budget_mb

    # -- building -----------------------------------------------------------------------
    def fit(self, X, progress=None) -> NeighborIndex:
        """Prepare ``X`` (normalised for cosine), then measure and decide (see the class docstring)."""
        task = TaskState.coerce(progress)
        t_fit = time.perf_counter()
        self._X = prepare_vectors(X, self.metric, "X")
        self.n_items_, self.dim_ = self._X.shape
        n = self.n_items_
        self.approximate_ = False
        self.decision_ = "exact"
        self.recall_at_10_ = 1.0
        self.approx_recall_at_10_: float | None = None
        self.params_: dict = {}
        self.exact_ms_per_query_: float | None = None
        self.approx_ms_per_query_: float | None = None
        self.exact_ms_single_: float | None = None
        self.approx_ms_single_: float | None = None
        self.trials_: list[dict] = []
        self.n_recall_queries_ = 0
        self.build_seconds_ = 0.0
        self._index = None
        if self.approximate is False:
            self.reason_ = "Exact search (the approximate index is switched off)."
        elif n < 12:
            self.reason_ = f"Exact search: {n} items are too few for an index."
        elif self.approximate == "auto" and n <= self.threshold:
            self.reason_ = (f"Exact search: {n:,} items (an approximate index is only measured above "
                            f"{self.threshold:,}).")
        else:
            self._choose(task)
        self.fit_seconds_ = time.perf_counter() - t_fit
        task.report(1, 1, "Neighbour search ready: " + self.decision_)
        return self

    def _samples(self) -> tuple[np.ndarray, np.ndarray]:
        """(recall queries, training items): disjoint random samples of the items."""
        n = self.n_items_
        rng = np.random.default_rng(self.random_state)
        perm = rng.permutation(n)
        nq = max(1, min(self.n_recall_queries, n // 2))
        queries = np.sort(perm[:nq])
        n_train = self._n_train()
        rest = perm[nq:]
        train = np.sort(rest[: min(n_train, rest.size)])
        return queries, train

    def _nlist(self) -> int:
        n = self.n_items_
        nlist = int(self.nlist) if self.nlist is not None else int(round(4 * np.sqrt(n)))
        return max(1, min(nlist, n // 39 if n >= 39 else 1))

    def _n_train(self) -> int:
        if self.method != "ivf":
            return 0
        return int(self.n_train) if self.n_train is not None else 40 * self._nlist()

    def _choose(self, task: TaskState) -> None:
        """Exact on the sample, build the index, raise its search breadth until the target recall."""
        queries, train = self._samples()
        self.n_recall_queries_ = nq = int(queries.size)
        k = min(10, self.n_items_ - 1)
        t0 = time.perf_counter()
        _, exact = topk(self._X, k, queries=queries, metric=self.metric, memory_budget_mb=self.memory_budget_mb,
                        progress=task.sub(0.0, 0.1))
        self.exact_ms_per_query_ = 1000 * (time.perf_counter() - t0) / nq
        # a busy machine makes single timings noisy: time again (on a fifth) and keep the faster
        again = queries[: max(1, nq // 5)]
        t0 = time.perf_counter()
        topk(self._X, k, queries=again, metric=self.metric, memory_budget_mb=self.memory_budget_mb)
        self.exact_ms_per_query_ = min(self.exact_ms_per_query_, 1000 * (time.perf_counter() - t0) / again.size)
        singles = queries[: min(self.n_single_queries, nq)]
        if self.workload == "single":
            self.exact_ms_single_ = self._time_single(singles, k, exact=True)

        t0 = time.perf_counter()
        self._index = self._build(train, task.sub(0.1, 0.8))
        self.build_seconds_ = time.perf_counter() - t0

        # the time the decision compares: a batch of queries, or one query at a time (the window)
        exact_ms = self.exact_ms_single_ if self.workload == "single" else self.exact_ms_per_query_
        assert exact_ms is not None
        # a batch is every item's neighbours once: the build is paid for those N queries
        build_ms = 1000 * self.build_seconds_ / self.n_items_ if self.workload == "batch" else 0.0
        tune = task.sub(0.8, 1.0)
        name = self._breadth_name()

        def trial(breadth: int) -> dict:
            self._set_breadth(breadth)
            t0 = time.perf_counter()
            _, approx = self._search(self._X[queries], k, TaskState(), queries)
            ms = 1000 * (time.perf_counter() - t0) / nq
            out = {name: int(breadth), "recall_at_10": _recall_against_exact(approx, exact, self.metric),
                   "ms_per_query": ms}
            self.trials_.append(out)
            tune.report(len(self.trials_), len(self.trials_) + 1, f"Tuning the {self.method.upper()} index: "
                        f"{name} {breadth}, recall@10 {out['recall_at_10']:.3f}")
            return out

        best: dict | None = None
        below: dict | None = None  # the widest step still under the target
        for breadth in self._breadths():
            best = trial(breadth)
            if best["recall_at_10"] >= self.target_recall:
                break
            below = best
            if self.approximate == "auto" and best["ms_per_query"] + build_ms >= exact_ms:
                break  # a wider search is only slower
        assert best is not None
        # doubling overshoots: bisect twice between the last step under the target and the first above
        if below is not None and best["recall_at_10"] >= self.target_recall:
            lo, hi = below[name], best[name]
            for _ in range(2):
                mid = (lo + hi) // 2
                if mid in (lo, hi):
                    break
                t = trial(mid)
                if t["recall_at_10"] >= self.target_recall:
                    best, hi = t, mid
                else:
                    lo = mid
        breadth = best[name]
        self._set_breadth(breadth)
        self.params_ = self._params(breadth)
        self.approx_recall_at_10_ = recall = float(best["recall_at_10"])
        t0 = time.perf_counter()  # timed again, as exact search was, and the faster kept
        self._search(self._X[queries], k, TaskState(), queries)
        self.approx_ms_per_query_ = min(float(best["ms_per_query"]), 1000 * (time.perf_counter() - t0) / nq)
        if self.workload == "single":
            self.approx_ms_single_ = ms = self._time_single(singles, k, exact=False)
            timing = (f"{ms:.2f} ms vs {exact_ms:.2f} ms for one query at a time exact "
                      f"({len(singles)} queries)")
        else:
            ms = self.approx_ms_per_query_ + build_ms
            timing = (f"{self.approx_ms_per_query_:.3f} ms per query + {build_ms:.3f} ms of build per item vs "
                      f"{exact_ms:.3f} ms per query exact (a batch of {nq:,})")
        label = self.method.upper()
        measured = f"recall@10 {recall:.3f} measured against exact search on {nq:,} held-out items, {timing}"
        reached, faster = recall >= self.target_recall, ms < exact_ms
        if self.approximate is True or (reached and faster):
            self.approximate_ = True
            self.decision_ = self.method
            self.recall_at_10_ = recall
            why = "forced" if self.approximate is True and not (reached and faster) else "faster at the target"
            self.reason_ = f"Approximate {label} search ({self._describe(breadth)}; {why}): {measured}."
            return
        self._index = None  # free the memory: exact search answers
        if not reached:
            why = (f"the {label} index reached recall@10 {recall:.3f} only (target {self.target_recall:.2f})"
                   f" before becoming slower than exact search" if not faster else
                   f"the {label} index reached recall@10 {recall:.3f} only at its widest search "
                   f"(target {self.target_recall:.2f})")
        else:
            why = f"the {label} index was not faster at recall@10 {self.target_recall:.2f}"
        self.reason_ = f"Exact search: {why} ({self._describe(breadth)}; {measured})."

    def _time_single(self, queries: np.ndarray, k: int, exact: bool) -> float:
        """Median milliseconds of one query at a time (exact: one BLAS thread, as a click runs)."""
        times = []
        X = self._X.view()
        X.flags.writeable = False  # as the window's read-only vectors: validated once, not per query
        for q in queries:
            sel = np.array([q])
            t0 = time.perf_counter()
            if exact:
                topk(X, k, queries=sel, metric=self.metric, memory_budget_mb=self.memory_budget_mb, n_threads=1)
            else:
                self._search(self._X[sel], k, TaskState(), sel)
            times.append(time.perf_counter() - t0)
        return 1000 * float(np.median(times))

    def _build(self, train: np.ndarray, task: TaskState) -> Any:
        import faiss  # lazy: heavy native library

        index: Any

        faiss_metric = faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        if self.method == "ivf":
            nlist = self._nlist()
            quantizer = faiss.IndexFlatL2(self.dim_) if self.metric == "euclidean" else faiss.IndexFlatIP(self.dim_)
            index = faiss.IndexIVFFlat(quantizer, self.dim_, nlist, faiss_metric)
            index.cp.niter = 10
            index.cp.seed = int(self.random_state)
            index.cp.min_points_per_centroid = 1  # the sample is sized on purpose: no warning
            task.report(0, 1, f"Training the IVF index: k-means of {train.size:,} items into {nlist:,} cells")
            index.train(np.ascontiguousarray(self._X[train]))
            self._quantizer = quantizer  # faiss keeps a raw pointer: keep the owner alive
            add = task.sub(0.3, 1.0)
        else:
            index = faiss.IndexHNSWFlat(self.dim_, self.M, faiss_metric)
            index.hnsw.efConstruction = self.ef_construction
            add = task
        chunk = 20_000
        for start in range(0, self.n_items_, chunk):
            index.add(self._X[start : start + chunk])
            stop = min(start + chunk, self.n_items_)
            add.report(stop, self.n_items_, f"Building the {self.method.upper()} index: "
                       f"{stop:,} of {self.n_items_:,} items")
        return index

    def _breadth_name(self) -> str:
        return "nprobe" if self.method == "ivf" else "ef_search"

    def _breadths(self) -> list[int]:
        if self.method == "ivf":
            nlist = self._nlist()
            top = min(nlist, int(self.max_nprobe) if self.max_nprobe is not None else nlist)
        else:
            top = max(16, self.max_ef_search)
        first = 1 if self.method == "ivf" else 16
        out = [first]
        while out[-1] < top:
            out.append(min(top, out[-1] * 2))
        return out

    def _set_breadth(self, breadth: int) -> None:
        assert self._index is not None
        if self.method == "ivf":
            self._index.nprobe = int(breadth)
        else:
            self._index.hnsw.efSearch = int(breadth)

    def _params(self, breadth: int) -> dict:
        if self.method == "ivf":
            return {"nlist": self._nlist(), "nprobe": int(breadth), "n_train": int(min(self._n_train(),
                                                                                        self.n_items_))}
        return {"M": self.M, "ef_construction": self.ef_construction, "ef_search": int(breadth)}

    def _describe(self, breadth: int) -> str:
        if self.method == "ivf":
            return f"nlist {self._nlist():,}, nprobe {breadth}"
        return f"M {self.M}, efSearch {breadth}"

    @property
    def summary(self) -> str:
        """Short text for a status line: ``"exact"`` or e.g. ``"approximate (IVF), recall@10 0.97 on 1,000 items"``."""
        self._check_fitted()
        if not self.approximate_:
            return "exact"
        return (f"approximate ({self.decision_.upper()}), recall@10 {self.recall_at_10_:.2f} measured on "
                f"{self.n_recall_queries_:,} items")

    def _check_fitted(self) -> None:
        if not hasattr(self, "_X"):
            raise RuntimeError("NeighborIndex is not fitted; call fit(X) first")

    # -- searching ----------------------------------------------------------------------
    def _search(self, Q: np.ndarray, k: int, task: TaskState, self_idx: np.ndarray | None):
        """Approximate search in chunks; drops each query's own item when ``self_idx`` is given."""
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
            if bad.size:  # the index returned fewer results than asked: answer those queries exactly
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

    def kneighbors(self, k: int = 10, indices=None, progress=None,
                   n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Neighbours of the indexed items themselves (each item's own row excluded).

        ``indices``: only these items (default: all).  Returns ``(indices (n, k'), scores (n, k'))``
        with ``k' = min(k, N - 1)``.  ``n_threads`` limits BLAS on the exact path (one thread is
        fastest for a single query).
        """
        self._check_fitted()
        task = TaskState.coerce(progress)
        sel = np.arange(self.n_items_, dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64)
        if not self.approximate_:
            return topk(self._X, k, queries=None if indices is None else sel, metric=self.metric,
                        exclude_self=True, memory_budget_mb=self.memory_budget_mb, progress=task,
                        n_threads=n_threads)
        if sel.size and (sel.min() < 0 or sel.max() >= self.n_items_):
            raise IndexError(f"query indices out of range for {self.n_items_} items")
        k = max(0, min(int(k), self.n_items_ - 1))
        return self._search(self._X[sel], k, task, sel)

    def to_dict(self) -> dict:
        """JSON-ready summary of what was decided and why, with the measured numbers."""
        self._check_fitted()
        return {
            "metric": self.metric,
            "n_items": int(self.n_items_),
            "dim": int(self.dim_),
            "approximate": bool(self.approximate_),
            "decision": self.decision_,
            "reason": self.reason_,
            "recall_at_10": float(self.recall_at_10_),
            "approx_recall_at_10": self.approx_recall_at_10_,
            "n_recall_queries": int(self.n_recall_queries_),
            "target_recall": self.target_recall,
            "params": dict(self.params_),
            "exact_ms_per_query": self.exact_ms_per_query_,
            "approx_ms_per_query": self.approx_ms_per_query_,
            "workload": self.workload,
            "exact_ms_single": self.exact_ms_single_,
            "approx_ms_single": self.approx_ms_single_,
            "build_seconds": float(self.build_seconds_),
            "fit_seconds": float(self.fit_seconds_),
            "trials": [dict(t) for t in self.trials_],
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
    with its defaults: large sets go approximate only where that was measured faster (build
    included) at recall@10 >= 0.95.  Returns ``(knn_indices (N, n') int64,
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
