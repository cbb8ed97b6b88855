"""2-D (or 3-D) maps of an embedding: PCA or UMAP, with a measure of how far to trust them.

:class:`Projection` fits the map and scores it:

* ``trustworthiness_`` (Venna & Kaski; the same number as :func:`sklearn.manifold.trustworthiness`)
  computed on a random sample of at most ``EVAL_SAMPLE`` items, cosine distance in the
  embedding space, euclidean on the map.  1.0 means every point's map neighbours are also
  neighbours in the embedding; below :attr:`Projection.TRUST_WARN` the map is flagged.
* ``knn_preservation_``: for sampled items, the mean fraction of their ``EVAL_K`` nearest
  neighbours in the embedding (over all items) that are also among their ``EVAL_K`` nearest
  points on the map.  Typical UMAP maps of real embeddings keep 20-50 %; PCA much less.

UMAP reuses the kNN graph embedview computes anyway
(:func:`embedview.core.neighbors.knn_for_umap`, or the ``knn`` argument), passed to umap-learn
as ``precomputed_knn`` so there is no second neighbour search.

Reproducibility versus speed: with ``random_state`` set (the default, 42) umap-learn runs its
layout single-threaded and the same input gives the same map.  ``random_state=None`` lets it
use every core, but its parallel layout is not reproducible, and on the 2 busy cores measured
(``benchmarks/bench_umap.py``, 20k x 512) it was not faster: 26.8 s unseeded vs 23.8 s seeded
given the graph (plain umap-learn: 34.1 s unseeded, 23.4 s seeded).  Reproducibility wins by
default; on a many-core workstation ``random_state=None`` is the faster choice.

umap-learn is built on numba, whose compilation takes tens of seconds on first use.  Before
umap is imported, ``NUMBA_CACHE_DIR`` is pointed at ``<embedview cache dir>/numba`` (the
embedding-cache folder, movable with ``EMBEDVIEW_CACHE_DIR``) unless the user set it, and
umap-learn's own kernels (which it compiles without caching) are switched to the disk cache,
so later processes load the compiled code instead of compiling again.  Measured on digits
(2 busy cores), import + first fit: 233 s in the first process, 15 s and 12 s in the next two
(a fit there, 9-10 s, takes as long as a second fit in the same process); with the cache
folder alone, umap's uncached kernels still cost ~35-40 s in every new process.
"""

from __future__ import annotations

import os
import re
import sys
import time
import warnings
from typing import Any

import numpy as np

from embedview.core.embeddings import as_matrix, l2_normalize
from embedview.core.neighbors import knn_for_umap, topk
from embedview.core.progress import TaskState

METHODS = ("umap", "pca")


# -- numba cache -----------------------------------------------------------------------------
def configure_numba_cache() -> str:
    """Point numba's on-disk cache at ``<embedview cache dir>/numba`` unless the user chose one.

    Must run before ``import umap`` (or anything importing numba) to take full effect; if numba
    is already imported its configuration is reloaded.  Returns the cache folder in use.
    """
    if not os.environ.get("NUMBA_CACHE_DIR"):
        from embedview.core.cache import cache_dir

        folder = cache_dir("numba")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:  # read-only home etc.: numba then falls back to its own default
            return ""
        os.environ["NUMBA_CACHE_DIR"] = str(folder)
        if "numba" in sys.modules:
            from numba.core import config

            config.reload_config()
    return os.environ["NUMBA_CACHE_DIR"]


def _import_umap():
    """``import umap`` with numba's disk cache configured, and extended to umap's own kernels."""
    configure_numba_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap's import-time tensorflow / numba chatter
        import umap

    _cache_umap_kernels()
    return umap


_kernels_cached = False


def _cache_umap_kernels() -> int:
    """Turn on numba's disk cache for umap-learn's jitted functions that do not ask for it.

    pynndescent caches its kernels, but umap-learn compiles ``smooth_knn_dist``,
    ``compute_membership_strengths`` and the layout epoch (about 20 s on a 2-core machine) in
    every new process.  ``Dispatcher.enable_caching`` is what ``@njit(cache=True)`` itself
    calls; doing it before their first call stores the compiled code in ``NUMBA_CACHE_DIR`` so
    later processes load it instead.  Returns the number of functions switched.
    """
    global _kernels_cached
    if _kernels_cached:
        return 0
    _kernels_cached = True
    try:
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher
    except ImportError:  # a numba without these internals: just compile as usual
        return 0
    switched = 0
    for name, module in list(sys.modules.items()):
        if not (name == "umap" or name.startswith("umap.")) or module is None:
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, Dispatcher) and isinstance(getattr(obj, "_cache", None), NullCache):
                try:
                    obj.enable_caching()
                    switched += 1
                except Exception:  # e.g. a function defined where numba cannot cache
                    pass
    return switched


# -- helpers ---------------------------------------------------------------------------------
def _sample(n: int, size: int, random_state: int | None) -> np.ndarray:
    """Sorted random subset of ``range(n)`` of at most ``size`` items (all when ``n <= size``)."""
    if n <= size:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=size, replace=False))


def trustworthiness(
    X: Any,
    Y: Any,
    n_neighbors: int = 5,
    metric: str = "cosine",
    sample: int | None = None,
    random_state: int | None = 0,
) -> float:
    """Trustworthiness of the map ``Y`` of ``X`` (Venna & Kaski 2001), in [0, 1].

    Equal to :func:`sklearn.manifold.trustworthiness` (``metric`` in the original space,
    euclidean on the map) on the same points; computed without the ``argsort`` of every row,
    by counting for each of the ``n_neighbors`` map neighbours ``j`` of ``i`` how many points are
    closer to ``i`` than ``j`` in the original space.  With ``sample`` set and more points than
    that, it is computed on a random subset of ``sample`` points (neighbours within the subset).
    """
    from sklearn.metrics import pairwise_distances

    X = as_matrix(X)
    Y = as_matrix(Y)
    if len(X) != len(Y):
        raise ValueError(f"{len(X)} vectors but {len(Y)} map positions")
    if sample is not None:
        idx = _sample(len(X), sample, random_state)
        X, Y = X[idx], Y[idx]
    n = len(X)
    k = int(n_neighbors)
    if k < 1 or k >= n / 2:
        raise ValueError(f"n_neighbors ({k}) must be at least 1 and below half the number of points ({n})")
    dist_x = pairwise_distances(X.astype(np.float64), metric=metric)
    np.fill_diagonal(dist_x, np.inf)
    dist_y = pairwise_distances(Y.astype(np.float64))
    np.fill_diagonal(dist_y, np.inf)
    nn_y = np.argpartition(dist_y, k - 1, axis=1)[:, :k]
    penalty = 0
    rows_per_chunk = max(1, 4_000_000 // (n * k))
    for start in range(0, n, rows_per_chunk):
        rows = np.arange(start, min(n, start + rows_per_chunk))
        d_rows = dist_x[rows]  # (r, n)
        d_nb = np.take_along_axis(d_rows, nn_y[rows], axis=1)  # (r, k) distance to each map neighbour
        ranks = 1 + (d_rows[:, None, :] < d_nb[:, :, None]).sum(axis=2)  # rank in the original space
        penalty += int(np.maximum(ranks - k, 0).sum())
    return float(1.0 - penalty * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))))


class _EpochReporter:
    """File-like sink for umap-learn's tqdm bar: turns ``"epoch/total"`` into progress reports.

    Raising :class:`Cancelled` from ``write`` stops the layout loop between epochs.  tqdm's
    ``refresh`` takes its process-wide write lock by hand and releases it only when ``display``
    returns, so an exception raised inside ``write`` would leave that lock held for ever and
    deadlock every later progress bar in the process (sentence-transformers uses one for each
    encode).  So the reporter raises only from inside ``refresh`` and releases that lock first;
    on any other path it just stops reporting, and the caller checks the task after UMAP returns.
    """

    _pattern = re.compile(r"(\d+)/(\d+)")

    def __init__(self, task: TaskState):
        self.task = task
        self.stopped = False

    def write(self, text: str) -> None:
        found = self._pattern.findall(text)
        if not found or self.stopped:
            return
        done, total = map(int, found[-1])
        try:
            self.task.report(done, total, f"UMAP layout: epoch {done} of {total}")
        except Exception:
            self.stopped = True  # raise once; tqdm's later clean-up writes are ignored
            if _release_tqdm_refresh_lock(sys._getframe(1)):
                raise

    def flush(self) -> None:
        pass


def _release_tqdm_refresh_lock(frame) -> bool:
    """If ``frame`` is inside a locking ``tqdm.refresh``, release the lock it took; True if so."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "refresh" and "tqdm" in code.co_filename:
            bar = frame.f_locals.get("self")
            if bar is None or frame.f_locals.get("nolock"):
                return False
            bar._lock.release()
            return True
        frame = frame.f_back
    return False


# -- the projection --------------------------------------------------------------------------
class Projection:
    """A 2-D/3-D map of the embedding by UMAP or PCA, and how trustworthy it is.

    Parameters
    ----------
    method : "umap" or "pca"
    n_components : int
        Dimension of the map (2 or 3 for display).
    n_neighbors, min_dist : UMAP parameters (ignored by PCA).
    metric : "cosine" (default) or "euclidean".  With cosine, PCA runs on L2-normalised
        vectors, so both methods see the geometry that cosine neighbours see.
    random_state : int or None
        Seed; ``None`` lets UMAP run multi-threaded but the map then changes from run to run.

    Attributes (after :meth:`fit`)
    ------------------------------
    embedding_ : (N, n_components) float32
    trustworthiness_ : float, on a sample of at most ``EVAL_SAMPLE`` items
    knn_preservation_ : float, mean fraction of ``EVAL_K`` embedding neighbours kept on the map
    seconds_ : wall time of the fit, in seconds
    method_ : the method actually used (tiny inputs fall back from UMAP to PCA)
    warning_ : str, empty unless the map may mislead or a fallback was used
    """

    #: trustworthiness below this gets a warning
    TRUST_WARN = 0.8
    #: items sampled for trustworthiness and kNN preservation
    EVAL_SAMPLE = 2000
    #: neighbours used by both quality measures
    EVAL_K = 10

    def __init__(
        self,
        method: str = "umap",
        n_components: int = 2,
        n_neighbors: int = 15,
        min_dist: float = 0.1,
        metric: str = "cosine",
        random_state: int | None = 42,
    ):
        self.method = method
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.random_state = random_state

    # ----------------------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        knn: tuple[np.ndarray, np.ndarray] | None = None,
        progress=None,
        graph: Any = None,
    ) -> Projection:
        """Compute the map of ``X`` (array or ``EmbeddingSet``).

        ``knn``: optional ``(indices, distances)`` as returned by
        :func:`embedview.core.neighbors.knn_for_umap` (self first, at least ``n_neighbors``
        columns) so UMAP does not search neighbours again; it is also used for
        ``knn_preservation_``.  ``graph``: the :class:`~embedview.core.graph.NeighborGraph` of the
        same vectors under this metric (from :func:`embedview.core.graph.knn_graph`); when it holds
        ``n_neighbors - 1`` neighbours per item it becomes ``knn`` and nothing is searched
        (``knn_how_`` says which graph UMAP used).
        """
        if self.method not in METHODS:
            raise ValueError(f"unknown projection method {self.method!r}; expected one of {METHODS}")
        if self.metric not in ("cosine", "euclidean"):
            raise ValueError(f"maps use metric 'cosine' or 'euclidean', not {self.metric!r}")
        task = TaskState.coerce(progress)
        start = time.perf_counter()
        X = as_matrix(X)
        n, d = X.shape
        if n == 0:
            raise ValueError("no vectors to project")
        if self.metric == "cosine":
            X = l2_normalize(X)
        notes = []
        self.knn_how_ = ""
        self.method_ = self.method
        if self.method == "umap" and n < 4:
            notes.append(f"only {n} item(s): UMAP needs at least 4, showing PCA instead")
            self.method_ = "pca"

        if self.method_ == "pca":
            task.report(0, 1, "PCA")
            self.embedding_ = self._pca(X)
        else:
            n_neighbors = min(int(self.n_neighbors), n - 1)
            if n_neighbors < self.n_neighbors:
                notes.append(f"n_neighbors lowered from {self.n_neighbors} to {n_neighbors} ({n} items)")
            if knn is None and graph is not None and graph.covers(n, n_neighbors - 1, self.metric):
                knn = graph.umap_knn(n_neighbors)
                self.knn_how_ = f"{graph.how} neighbour graph ({graph.origin})"
            elif knn is None:
                knn = knn_for_umap(X, n_neighbors, metric=self.metric, progress=task.sub(0.0, 0.3))
                self.knn_how_ = "searched for this map"
            else:
                self.knn_how_ = "given"
            self.embedding_ = self._umap(X, knn, n_neighbors, task.sub(0.3, 0.95))

        task.report(0.95, 1, "scoring the map")
        self._score(X, knn)
        if self.trustworthiness_ < self.TRUST_WARN:
            notes.append(
                f"trustworthiness is {self.trustworthiness_:.2f} (below {self.TRUST_WARN}): many points that look "
                "close on this map are not close in the embedding, so the map may mislead; check neighbours "
                "in the neighbour list rather than by eye"
            )
        self.warning_ = "; ".join(notes)
        self.n_items_ = n
        self.seconds_ = time.perf_counter() - start
        task.report(1, 1, "map ready")
        return self

    # ----------------------------------------------------------------------------------------
    def _pca(self, X: np.ndarray) -> np.ndarray:
        from sklearn.decomposition import PCA

        n, d = X.shape
        k = min(self.n_components, n, d)
        out = np.zeros((n, self.n_components), dtype=np.float32)
        if n < 2:
            return out
        # scikit-learn's "auto": eigh of the D x D covariance when N >= 10 D (D <= 1000), the
        # randomized SVD for other big inputs, the full SVD for small ones.
        out[:, :k] = PCA(n_components=k, svd_solver="auto", random_state=self.random_state).fit_transform(X)
        return out

    def _umap(self, X: np.ndarray, knn, n_neighbors: int, task: TaskState) -> np.ndarray:
        idx, dists = knn
        idx = np.asarray(idx)
        dists = np.asarray(dists)
        if idx.shape != dists.shape or idx.shape[0] != len(X):
            raise ValueError(f"kNN graph of shape {idx.shape}/{dists.shape} does not match {len(X)} items")
        if idx.shape[1] < n_neighbors:
            raise ValueError(f"kNN graph has {idx.shape[1]} neighbours per item; UMAP needs {n_neighbors}")
        # umap-learn writes into the graph it is given: hand it private copies of the columns it uses.
        idx = np.ascontiguousarray(idx[:, :n_neighbors], dtype=np.int64)
        dists = np.ascontiguousarray(dists[:, :n_neighbors], dtype=np.float32)
        task.report(0, 1, "loading UMAP (the first run compiles numba code)")
        umap = _import_umap()
        task.check()
        reducer = umap.UMAP(
            n_components=self.n_components,
            n_neighbors=n_neighbors,
            min_dist=self.min_dist,
            metric=self.metric,
            random_state=self.random_state,
            n_jobs=1 if self.random_state is not None else -1,
            precomputed_knn=(idx, dists),
            tqdm_kwds={"disable": False, "file": _EpochReporter(task), "bar_format": "{n}/{total}", "mininterval": 0.2},
        )
        import numba

        threads = numba.get_num_threads()
        try:
            with warnings.catch_warnings():
                # "no search index: transform unavailable" -- we never call transform.
                warnings.filterwarnings("ignore", message=".*knn_search_index.*")
                warnings.filterwarnings("ignore", message=".*n_jobs value.*")
                emb = reducer.fit_transform(X)
        finally:  # umap-learn only restores numba's thread count when it finishes normally
            numba.set_num_threads(threads)
        task.check()  # a cancel the epoch reporter could not raise (see _EpochReporter)
        return np.asarray(emb, dtype=np.float32)

    def _score(self, X: np.ndarray, knn) -> None:
        """Fill ``trustworthiness_`` and ``knn_preservation_`` from a sample of items."""
        n = len(X)
        Y = self.embedding_
        sample = _sample(n, self.EVAL_SAMPLE, self.random_state if self.random_state is not None else 0)
        m = len(sample)
        k_t = min(self.EVAL_K, (m - 1) // 2)
        if k_t < 1:  # too few points for the measure to mean anything
            self.trustworthiness_ = 1.0
        else:
            # sample already drawn: pass the subset, not ``sample=``
            self.trustworthiness_ = trustworthiness(X[sample], Y[sample], n_neighbors=k_t, metric=self.metric)
        k = min(self.EVAL_K, n - 1)
        if k < 1:
            self.knn_preservation_ = 1.0
            return
        graph = None if knn is None else np.asarray(knn[0])
        if graph is not None and graph.shape[0] == n and graph.shape[1] > k:
            high = graph[sample, 1 : k + 1]  # column 0 is the item itself
        else:
            high, _ = topk(X, k, queries=sample, metric=self.metric, exclude_self=True)
        low, _ = topk(Y, k, queries=sample, metric="euclidean", exclude_self=True)
        hits = (high[:, :, None] == low[:, None, :]).any(axis=2).sum(axis=1)
        self.knn_preservation_ = float(hits.mean() / k)

    # ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Parameters and quality figures as plain JSON values (the map itself is not included)."""
        return {
            "method": self.method_,
            "n_components": int(self.n_components),
            "n_neighbors": int(self.n_neighbors),
            "min_dist": float(self.min_dist),
            "metric": self.metric,
            "random_state": self.random_state,
            "n_items": int(self.n_items_),
            "trustworthiness": float(self.trustworthiness_),
            "knn_preservation": float(self.knn_preservation_),
            "seconds": float(self.seconds_),
            "warning": self.warning_,
        }
