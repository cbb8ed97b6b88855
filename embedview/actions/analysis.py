"""Background analyses every view shares, started when embeddings arrive or become active (Qt-free).

For the active :class:`EmbeddingSet` the :class:`AnalysisScheduler` runs, each under its own
typed runner key:

* ``JobKind.PCA``  PCA map first: it takes well under a second, so the map shows something at once;
* ``JobKind.GRAPH`` then the set's neighbour graph (:func:`embedview.core.graph.knn_graph`, 15
  per item, cosine): loaded from the embedding cache when this data was searched before, else
  searched once and kept there.  Up to ``EXACT_GRAPH_UP_TO`` items it is exact and serves
  everything below, duplicates included; above that the search may be approximate (measured
  recall) and the duplicate finder keeps its own exact search;
* ``JobKind.UMAP`` then UMAP, reading that graph from the cache (no second search), (the first run compiles
  numba for tens of seconds while holding the GIL, which would freeze the window in a thread);
* ``JobKind.OUTLIERS`` outlier scores (mean distance to the k nearest neighbours);
* ``JobKind.DUPLICATES`` exact and near duplicates;
* ``JobKind.ITEM_SCORES`` uniqueness and representativeness per item (``core.uniqueness``, when
  that module is installed);
* ``JobKind.CLUSTERS`` named density clusters of the UMAP map (``core.clusters``), once UMAP is
  there (the PCA map when UMAP failed).

One chain of threads, PCA -> graph -> outliers -> duplicates -> clusters / item scores (the clusters
first when the UMAP map is there, else the scores while UMAP runs), with UMAP started
in its own process as soon as the graph is there (or failed): one Python-heavy thread at a time competes with the UI
thread for the GIL.  A failed item-score or cluster job is reported like any job error and the
chain goes on without it.
Results are filed in the :class:`~embedview.model.AppModel` (``set_projection`` /
``set_analysis``); a result for a set that is no longer the one stored under its name is dropped
by the runner (``is_stale``); a new dataset cancels everything.

The scheduler imports no Qt: the window gives it the GUI's runner (results delivered on the GUI
thread), tests a :class:`~embedview.runtime.jobs.JobRunner` with a ``QueueDispatcher``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from psygnal import Signal

from embedview.core.embeddings import EmbeddingSet
from embedview.core.graph import source_of
from embedview.model import AnalysisKind, AppModel, ProjectionMethod
from embedview.runtime.jobs import JobRunner
from embedview.runtime.keys import JobKey, JobKind

log = logging.getLogger(__name__)

#: the scheduler's jobs, and how the status bar names them
LABELS = {JobKind.PCA: "PCA map", JobKind.GRAPH: "neighbour graph", JobKind.UMAP: "UMAP map",
          JobKind.OUTLIERS: "outlier scores",
          JobKind.DUPLICATES: "duplicates", JobKind.ITEM_SCORES: "uniqueness scores",
          JobKind.CLUSTERS: "clusters"}
KEYS = tuple(LABELS)
#: UMAP's neighbours (the same graph feeds the map's quality measure)
UMAP_NEIGHBORS = 15
OUTLIER_K = 10
#: neighbours per item in the set's graph (UMAP's 15 = the item + 14; the others need 10)
GRAPH_K = 15
GRAPH_METRIC = "cosine"
#: up to this many items the graph is searched exactly (one graph serves duplicates too)
EXACT_GRAPH_UP_TO = 50_000
#: inputs up to this many numbers run with one BLAS thread (see ``_blas_for``)
ONE_BLAS_THREAD_UP_TO = 4_000_000


#: id(set) -> (weak reference to the set, its NeighborGraph): the graphs the schedulers filed,
#: for views that read a row of it (:func:`kept_graph`); an entry goes with its set
_KEPT: dict[int, tuple[Any, Any]] = {}


def kept_graph(emb: EmbeddingSet | None) -> Any:
    """The :class:`~embedview.core.graph.NeighborGraph` a scheduler's graph job filed for this very
    set (the same object, not an equal one), or None (not there yet, failed, or another set)."""
    if emb is None:
        return None
    entry = _KEPT.get(id(emb))
    return entry[1] if entry is not None and entry[0]() is emb else None


def _keep_graph(emb: EmbeddingSet, graph: Any) -> None:
    import weakref

    key = id(emb)

    def forget(ref: Any, key: int = key) -> None:
        if key in _KEPT and _KEPT[key][0] is ref:
            _KEPT.pop(key, None)

    _KEPT[key] = (weakref.ref(emb, forget), graph)


@contextmanager
def _blas_for(n_values: int) -> Iterator[None]:
    """One BLAS thread for small inputs.  OpenBLAS's worker threads spin-wait for each other;
    on a busy machine (encoder threads, other programs) a 200 x 384 PCA measured 137 ms median and
    2 s worst with 2 threads, 16 ms with one, and scipy's LAPACK calls hold the GIL meanwhile,
    which stalls the window.  Big inputs keep every thread: there the work outweighs the waits."""
    if n_values > ONE_BLAS_THREAD_UP_TO:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


# -- the jobs (plain functions, run in worker threads) -----------------------------------------------
def run_pca(emb: EmbeddingSet, progress: Any = None) -> Any:
    from embedview.core.projection import Projection

    with _blas_for(emb.vectors.size):
        return Projection(method="pca").fit(emb, progress=progress)


def run_graph(emb: EmbeddingSet, source: str | None = None, progress: Any = None) -> Any:
    """The set's :class:`~embedview.core.graph.NeighborGraph` from the default embedding cache, or
    searched (exact up to ``EXACT_GRAPH_UP_TO`` items) and stored there under ``source``."""
    from embedview.core.graph import knn_graph

    with _blas_for(emb.vectors.size):
        return knn_graph(emb, GRAPH_K, GRAPH_METRIC, cache=None, exact=len(emb) <= EXACT_GRAPH_UP_TO,
                         source=source, progress=progress)


def run_umap(emb: EmbeddingSet, progress: Any = None) -> Any:
    """UMAP in a child process: numba's compilation holds the GIL for tens of seconds on first
    use, which would freeze the window if it ran in a thread of this process."""
    from embedview.runtime.isolated import run_isolated, save_array

    path = save_array(emb.vectors, prefix="embedview-umap-")
    try:
        return run_isolated(umap_from_file, path, UMAP_NEIGHBORS, progress=progress)
    finally:
        os.unlink(path)


def umap_from_file(path: str, n_neighbors: int, progress: Any = None) -> Any:
    """(In the child process.)  UMAP of the vectors in ``path``, reusing one kNN graph: the
    neighbour graph of these vectors from the default embedding cache (the window's graph job
    stored it; searched and stored here when it is not there).

    Until the layout's first epoch the progress says whether numba compiles UMAP's code now (a
    cold cache: about a minute, once) or loads it from the disk cache, instead of a bare
    percentage that stands still meanwhile."""
    import numpy as np

    from embedview.core.graph import knn_graph
    from embedview.core.projection import Projection, configure_numba_cache

    folder = configure_numba_cache()
    warm = umap_cache_warm(folder)
    X = np.load(path, mmap_mode="r")
    proj = Projection(method="umap", n_neighbors=n_neighbors)
    with _blas_for(X.size):
        graph = None
        if len(X) > n_neighbors + 1:
            graph = knn_graph(X, n_neighbors - 1, proj.metric, progress=progress.sub(0.0, 0.2))
        with compile_noted(progress.sub(0.2, 1.0), warm) as task:
            result = proj.fit(X, graph=graph, progress=task)
    mark_umap_cache_warm(folder)
    return result


#: the status while numba compiles UMAP's code (the first UMAP with an empty cache), and while it
#: loads that code from the disk cache; the layout's epochs replace it
UMAP_COMPILING = "numba compiles UMAP's code: first run only, a minute or two; cached on disk"
UMAP_LOADING = "loading UMAP's compiled code from the cache"
#: written into numba's cache folder after a UMAP finished there (with the versions it was for)
UMAP_WARM_MARKER = "embedview-umap-compiled"


def _umap_stamp() -> str:
    import sys
    from importlib.metadata import PackageNotFoundError, version

    try:
        versions = f"umap-learn {version('umap-learn')}, numba {version('numba')}"
    except PackageNotFoundError:
        versions = "unknown"
    return f"{versions}, python {sys.version_info[0]}.{sys.version_info[1]}"


def umap_cache_warm(folder: str | os.PathLike | None) -> bool:
    """Whether numba's cache ``folder`` holds UMAP's compiled code for these versions: a UMAP
    finished there before (the marker names umap-learn, numba and Python) and the compiled files
    are still there (someone may have emptied the folder since)."""
    if not folder:
        return False
    from pathlib import Path

    root = Path(folder)
    try:
        stamp = (root / UMAP_WARM_MARKER).read_text(encoding="utf-8")
    except OSError:
        return False
    return stamp == _umap_stamp() and any(root.glob("umap_*/*.nbi"))


def mark_umap_cache_warm(folder: str | os.PathLike | None) -> None:
    """After a UMAP: say that ``folder`` now holds its compiled code (see :func:`umap_cache_warm`)."""
    if not folder:
        return
    from pathlib import Path

    try:
        (Path(folder) / UMAP_WARM_MARKER).write_text(_umap_stamp(), encoding="utf-8")
    except OSError:  # a read-only cache folder: the next run just says "compiling" again
        pass


@contextmanager
def compile_noted(task: Any, warm: bool, every: float = 1.0) -> Iterator[Any]:
    """A TaskState for UMAP's fit whose messages, until the layout's first epoch is done, say that
    numba compiles UMAP's code (``warm`` False) or loads it from the cache, with the seconds spent.

    A heartbeat thread repeats that line every ``every`` seconds: numba reports nothing while it
    compiles, and the one message sent before the stall was often dropped by the progress
    throttles (one report per 0.1 s in the child, 0.05 s in the runner), so the status bar sat at
    "UMAP map 8 %" with no word for minutes."""
    noted = task.sub(0.0, 1.0)  # same cancel flag, same fractions
    forward = noted.callback
    note = UMAP_LOADING if warm else UMAP_COMPILING
    state = {"started": False, "fraction": 0.0}
    t0 = time.monotonic()

    def callback(fraction: float, message: str) -> None:
        state["fraction"] = fraction
        if not state["started"] and message.startswith("UMAP layout") and not message.startswith(
                "UMAP layout: epoch 0 "):
            state["started"] = True  # numba's kernels are compiled or loaded by the first epoch's end
        forward(fraction, message if state["started"] else f"{note} ({time.monotonic() - t0:.0f} s)")

    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every) and not state["started"]:
            try:
                callback(state["fraction"], "")
            except Exception:  # noqa: BLE001 - cancelled, or the parent went away: the fit sees it
                return

    noted.callback = callback
    heartbeat = threading.Thread(target=beat, name="embedview-umap-heartbeat", daemon=True)
    heartbeat.start()
    try:
        callback(0.0, "")
        yield noted
    finally:
        stop.set()
        heartbeat.join()


def run_outliers(emb: EmbeddingSet, graph: Any = None, progress: Any = None) -> Any:
    from embedview.core.evaluation import OutlierScores

    with _blas_for(emb.vectors.size):
        return OutlierScores(k=OUTLIER_K).fit(emb, progress=progress, graph=graph)


def run_duplicates(emb: EmbeddingSet, graph: Any = None, progress: Any = None) -> Any:
    """Duplicates read ``graph`` only when it is exact (an approximate one could lose pairs)."""
    from embedview.core.duplicates import DuplicateFinder

    with _blas_for(emb.vectors.size):
        return DuplicateFinder().fit(emb, progress=progress,
                                     graph=graph if graph is not None and graph.exact else None)


def item_scores_available() -> bool:
    """Whether ``embedview.core.uniqueness`` (uniqueness / representativeness) is installed."""
    from importlib.util import find_spec

    try:
        return find_spec("embedview.core.uniqueness") is not None
    except (ImportError, ValueError):
        return False


def run_item_scores(emb: EmbeddingSet, graph: Any = None, progress: Any = None) -> dict[str, Any]:
    """{column: (N,) scores}: ``core.uniqueness.ItemScores`` (imported here: it may not exist)."""
    from embedview.core.uniqueness import ItemScores  # type: ignore[import-not-found,unused-ignore]

    with _blas_for(emb.vectors.size):
        return dict(ItemScores(k=OUTLIER_K).fit(emb, progress=progress, graph=graph).columns())


def run_clusters(emb: EmbeddingSet, xy: Any, source: str, progress: Any = None) -> Any:
    """Named clusters of the map ``xy`` (``core.clusters``), named from the set's texts, labels or
    metadata."""
    from embedview.core.clusters import Clusters

    ds = emb.dataset
    n = len(emb)
    texts = ds.texts if ds.texts is not None and len(ds.texts) == n else None
    labels = ds.labels if ds.labels is not None and len(ds.labels) == n else None
    meta = {k: v for k, v in (ds.metadata or {}).items() if hasattr(v, "__len__") and len(v) == n}
    with _blas_for(emb.vectors.size):
        return Clusters().fit(xy, texts=texts, labels=labels, metadata=meta, source=source,
                              progress=progress)


class AnalysisScheduler:
    """Starts the shared analyses for the active embedding set and files their results in the model.

    ``status_changed(str)`` carries a short line for the status bar ("UMAP map 40 % \u2014 UMAP layout:
    epoch 80 of 200", "UMAP map 20 % \u2014 compiling UMAP's numba code: once, ...", "" when idle).
    """

    status_changed = Signal(str)

    def __init__(self, model: AppModel, runner: JobRunner) -> None:
        self.model = model
        self.runner = runner
        self._scheduled: EmbeddingSet | None = None
        self._umap_for: EmbeddingSet | None = None  # the set whose UMAP job was submitted last
        self._umap_failed: EmbeddingSet | None = None  # clusters then use the PCA map
        self._gave_up: set[tuple[int, JobKind]] = set()  # (id of set, job) that failed: not again
        self._pending: object | None = None  # the chain's job in flight (until its result is filed)
        #: set name -> (the set, its NeighborGraph): kept across set switches, dropped with the dataset
        self._graphs: dict[str, tuple[EmbeddingSet, Any]] = {}
        model.dataset_changed.connect(self._new_dataset)
        model.active_set_changed.connect(self._on_active_set)
        runner.progress.connect(self._on_progress)
        runner.busy_changed.connect(self._on_busy)

    # -- the neighbour graph -----------------------------------------------------------------------
    def graph(self, name: str | None = None) -> Any:
        """The :class:`~embedview.core.graph.NeighborGraph` of set ``name`` (default: the active
        one) when the graph job has filed it for the set stored under that name now, else None."""
        name = self.model.active if name is None else name
        entry = self._graphs.get(name) if name is not None else None
        if entry is None or not self.model.is_current(entry[0], name):
            return None
        return entry[1]

    def _graph_of(self, emb: EmbeddingSet, name: str) -> Any:
        entry = self._graphs.get(name)
        return entry[1] if entry is not None and entry[0] is emb else None

    # -- triggers -----------------------------------------------------------------------------
    def _new_dataset(self, *_args: Any) -> None:
        for emb, _graph in self._graphs.values():
            _KEPT.pop(id(emb), None)
        self._graphs.clear()
        self.cancel()

    def cancel(self) -> None:
        """Stop every analysis (a new dataset arrived)."""
        self._scheduled = None
        self._umap_for = None
        self._umap_failed = None
        self._gave_up.clear()
        self._pending = None
        for key in KEYS:
            self.runner.cancel(key)

    def _on_active_set(self, _name: str) -> None:
        self.schedule()

    def schedule(self) -> None:
        """Run whatever the active set is missing (nothing when it is all there already)."""
        emb, name = self.model.emb, self.model.active
        if emb is None or emb is self._scheduled:
            return
        self.cancel()
        self._scheduled = emb
        self._next(emb, name)

    def _next(self, emb: EmbeddingSet, name: str) -> None:
        """Start the first missing step of the thread chain (PCA -> outliers -> duplicates)."""
        model = self.model
        if model.projection(ProjectionMethod.PCA, name) is None:
            self._submit(JobKind.PCA, run_pca, emb, name, self._pca_done)
            return
        graph = self._graph_of(emb, name)
        if graph is None and (id(emb), JobKind.GRAPH) not in self._gave_up:
            # UMAP's child and the chain read the graph: they wait for it (a failed graph: they search)
            if self._pending is None:
                source = source_of(model.paths, emb.encoder) if model.paths else None
                self._submit(JobKind.GRAPH, run_graph, emb, name, self._graph_done, source)
            return
        if model.projection(ProjectionMethod.UMAP, name) is None and self._umap_for is not emb:
            # once per set: a cancelled UMAP of the previous set may still be winding down, so
            # "is a UMAP job running" cannot tell whether this set's has been started
            self._umap_for = emb
            self.runner.submit(JobKind.UMAP, run_umap, emb,
                               on_result=lambda result: self._umap_done(emb, name, result),
                               on_error=lambda message: self._umap_error(emb, name, message),
                               is_stale=lambda: not self.model.is_current(emb, name))
        if self._pending is not None:
            return  # one step of the chain at a time (UMAP's arrival calls this again)
        if model.get_analysis(AnalysisKind.OUTLIERS, name) is None:
            self._submit(JobKind.OUTLIERS, run_outliers, emb, name, self._outliers_done, graph)
        elif model.get_analysis(AnalysisKind.DUPLICATES, name) is None:
            self._submit(JobKind.DUPLICATES, run_duplicates, emb, name, self._duplicates_done, graph)
        else:
            clusters_map = self._clusters_map(emb, name)
            wants_scores = (not model.get_analysis(AnalysisKind.ITEM_SCORES, name) and item_scores_available()
                            and (id(emb), JobKind.ITEM_SCORES) not in self._gave_up)
            # the clusters first when their map is there (names on the map are what the user sees)
            if clusters_map is not None:
                self._submit(JobKind.CLUSTERS, run_clusters, emb, name, self._clusters_done, *clusters_map)
            elif wants_scores:
                self._submit(JobKind.ITEM_SCORES, run_item_scores, emb, name, self._item_scores_done, graph)

    def _clusters_map(self, emb: EmbeddingSet, name: str) -> tuple[Any, str] | None:
        """(map, its name) to cluster when the clusters are missing and their map is there."""
        model = self.model
        if (model.get_analysis(AnalysisKind.CLUSTERS, name) is not None
                or (id(emb), JobKind.CLUSTERS) in self._gave_up):
            return None
        umap = model.projection(ProjectionMethod.UMAP, name)
        if umap is not None:
            return umap.xy, "UMAP"
        pca = model.projection(ProjectionMethod.PCA, name)
        if self._umap_failed is emb and pca is not None:
            return pca.xy, "PCA (UMAP failed)"
        return None  # waits for UMAP

    def _submit(self, kind: JobKind, fn: Callable[..., Any], emb: EmbeddingSet, name: str,
                done: Callable[[EmbeddingSet, str, Any], None], *args: Any) -> None:
        token = self._pending = object()

        def release() -> bool:
            mine = self._pending is token
            if mine:
                self._pending = None
            return mine

        def on_result(result: Any) -> None:
            release()
            done(emb, name, result)

        def on_error(message: str) -> None:
            release()
            if kind not in (JobKind.GRAPH, JobKind.ITEM_SCORES, JobKind.CLUSTERS):
                self.runner.error.emit(kind.key(), message)
                return
            # optional steps: reported as any job's error, and the chain goes on (without a graph,
            # each analysis searches on its own)
            self._gave_up.add((id(emb), kind))
            self.runner.error.emit(kind.key(), message)
            if self.model.is_current(emb, name):
                self._next(emb, name)

        self.runner.submit(kind, fn, emb, *args, on_result=on_result, on_error=on_error,
                           on_finished=lambda: None if release() else None,
                           is_stale=lambda: not self.model.is_current(emb, name))

    # -- results ----------------------------------------------------------------------------------
    def _pca_done(self, emb: EmbeddingSet, name: str, proj: Any) -> None:
        self.model.set_projection(ProjectionMethod.PCA, proj.embedding_, proj, name=name)
        self._next(emb, name)

    def _graph_done(self, emb: EmbeddingSet, name: str, graph: Any) -> None:
        if graph is None:  # no graph (e.g. too few items): the analyses search on their own
            self._gave_up.add((id(emb), JobKind.GRAPH))
        else:
            self._graphs[name] = (emb, graph)
            _keep_graph(emb, graph)
            log.info("%s: %s", name, graph.summary)
        self._next(emb, name)

    def _umap_done(self, emb: EmbeddingSet, name: str, proj: Any) -> None:
        self.model.set_projection(ProjectionMethod.UMAP, proj.embedding_, proj, name=name)
        self._next(emb, name)  # the clusters waited for this map

    def _umap_error(self, emb: EmbeddingSet, name: str, message: str) -> None:
        self.runner.error.emit(JobKind.UMAP.key(), message)
        self._umap_failed = emb
        if self.model.is_current(emb, name):
            self._next(emb, name)

    def _outliers_done(self, emb: EmbeddingSet, name: str, scores: Any) -> None:
        self.model.set_analysis(AnalysisKind.OUTLIERS, scores, name=name)
        self._next(emb, name)

    def _duplicates_done(self, emb: EmbeddingSet, name: str, finder: Any) -> None:
        self.model.set_analysis(AnalysisKind.DUPLICATES, finder, name=name)
        self._next(emb, name)

    def _item_scores_done(self, emb: EmbeddingSet, name: str, columns: Any) -> None:
        self.model.set_analysis(AnalysisKind.ITEM_SCORES, columns, name=name)
        self._next(emb, name)

    def _clusters_done(self, emb: EmbeddingSet, name: str, clusters: Any) -> None:
        self.model.set_analysis(AnalysisKind.CLUSTERS, clusters, name=name)
        self._next(emb, name)  # the item scores may still be missing

    # -- status -----------------------------------------------------------------------------------
    def running(self) -> list[JobKind]:
        return [k for k in KEYS if self.runner.is_running(k)]

    def _on_progress(self, key: JobKey, fraction: float, message: str) -> None:
        kind = getattr(key, "kind", None)
        if kind in LABELS:
            line = f"{LABELS[kind]} {fraction * 100:.0f} %"
            self.status_changed.emit(f"{line} \u2014 {message}" if message else line)

    def _on_busy(self) -> None:
        running = self.running()
        self.status_changed.emit(", ".join(LABELS[k] for k in running) + "\u2026" if running else "")
