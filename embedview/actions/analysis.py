"""Background analyses every view shares, started when embeddings arrive or become active (Qt-free).

For the active :class:`EmbeddingSet` the :class:`AnalysisScheduler` runs, each under its own
typed runner key:

* ``JobKind.PCA``  PCA map first: it takes well under a second, so the map shows something at once;
* ``JobKind.UMAP`` then UMAP, reusing one kNN graph, in a child process (the first run compiles
  numba for tens of seconds while holding the GIL, which would freeze the window in a thread);
* ``JobKind.OUTLIERS`` outlier scores (mean distance to the k nearest neighbours);
* ``JobKind.DUPLICATES`` exact and near duplicates.

One chain of threads, PCA -> outliers -> duplicates, with UMAP started in its own process as
soon as PCA is done: one Python-heavy thread at a time competes with the UI thread for the GIL.
Results are filed in the :class:`~embedview.model.AppModel` (``set_projection`` /
``set_analysis``); a result for a set that is no longer the one stored under its name is dropped
by the runner (``is_stale``); a new dataset cancels everything.

The scheduler imports no Qt: the window gives it the GUI's runner (results delivered on the GUI
thread), tests a :class:`~embedview.runtime.jobs.JobRunner` with a ``QueueDispatcher``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from psygnal import Signal

from embedview.core.embeddings import EmbeddingSet
from embedview.model import AnalysisKind, AppModel, ProjectionMethod
from embedview.runtime.jobs import JobRunner
from embedview.runtime.keys import JobKey, JobKind

log = logging.getLogger(__name__)

#: the scheduler's jobs, and how the status bar names them
LABELS = {JobKind.PCA: "PCA map", JobKind.UMAP: "UMAP map", JobKind.OUTLIERS: "outlier scores",
          JobKind.DUPLICATES: "duplicates"}
KEYS = tuple(LABELS)
#: UMAP's neighbours (the same graph feeds the map's quality measure)
UMAP_NEIGHBORS = 15
OUTLIER_K = 10
#: inputs up to this many numbers run with one BLAS thread (see ``_blas_for``)
ONE_BLAS_THREAD_UP_TO = 4_000_000


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
    """(In the child process.)  UMAP of the vectors in ``path``, reusing one kNN graph."""
    import numpy as np

    from embedview.core.neighbors import knn_for_umap
    from embedview.core.projection import Projection

    X = np.load(path, mmap_mode="r")
    proj = Projection(method="umap", n_neighbors=n_neighbors)
    with _blas_for(X.size):
        knn = None
        if len(X) > n_neighbors + 1:
            knn = knn_for_umap(X, n_neighbors, metric=proj.metric, progress=progress.sub(0.0, 0.2))
        return proj.fit(X, knn=knn, progress=progress.sub(0.2, 1.0))


def run_outliers(emb: EmbeddingSet, progress: Any = None) -> Any:
    from embedview.core.evaluation import OutlierScores

    with _blas_for(emb.vectors.size):
        return OutlierScores(k=OUTLIER_K).fit(emb, progress=progress)


def run_duplicates(emb: EmbeddingSet, progress: Any = None) -> Any:
    from embedview.core.duplicates import DuplicateFinder

    with _blas_for(emb.vectors.size):
        return DuplicateFinder().fit(emb, progress=progress)


class AnalysisScheduler:
    """Starts the shared analyses for the active embedding set and files their results in the model.

    ``status_changed(str)`` carries a short line for the status bar ("UMAP map 40 %", "" when idle).
    """

    status_changed = Signal(str)

    def __init__(self, model: AppModel, runner: JobRunner) -> None:
        self.model = model
        self.runner = runner
        self._scheduled: EmbeddingSet | None = None
        self._umap_for: EmbeddingSet | None = None  # the set whose UMAP job was submitted last
        model.dataset_changed.connect(self.cancel)
        model.active_set_changed.connect(self._on_active_set)
        runner.progress.connect(self._on_progress)
        runner.busy_changed.connect(self._on_busy)

    # -- triggers -----------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop every analysis (a new dataset arrived)."""
        self._scheduled = None
        self._umap_for = None
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
        if model.projection(ProjectionMethod.UMAP, name) is None and self._umap_for is not emb:
            # once per set: a cancelled UMAP of the previous set may still be winding down, so
            # "is a UMAP job running" cannot tell whether this set's has been started
            self._umap_for = emb
            self._submit(JobKind.UMAP, run_umap, emb, name, self._umap_done)
        if model.get_analysis(AnalysisKind.OUTLIERS, name) is None:
            self._submit(JobKind.OUTLIERS, run_outliers, emb, name, self._outliers_done)
        elif model.get_analysis(AnalysisKind.DUPLICATES, name) is None:
            self._submit(JobKind.DUPLICATES, run_duplicates, emb, name, self._duplicates_done)

    def _submit(self, kind: JobKind, fn: Callable[..., Any], emb: EmbeddingSet, name: str,
                done: Callable[[EmbeddingSet, str, Any], None]) -> None:
        self.runner.submit(kind, fn, emb, on_result=lambda result: done(emb, name, result),
                           is_stale=lambda: not self.model.is_current(emb, name))

    # -- results ----------------------------------------------------------------------------------
    def _pca_done(self, emb: EmbeddingSet, name: str, proj: Any) -> None:
        self.model.set_projection(ProjectionMethod.PCA, proj.embedding_, proj, name=name)
        self._next(emb, name)

    def _umap_done(self, emb: EmbeddingSet, name: str, proj: Any) -> None:
        self.model.set_projection(ProjectionMethod.UMAP, proj.embedding_, proj, name=name)

    def _outliers_done(self, emb: EmbeddingSet, name: str, scores: Any) -> None:
        self.model.set_analysis(AnalysisKind.OUTLIERS, scores, name=name)
        self._next(emb, name)

    def _duplicates_done(self, emb: EmbeddingSet, name: str, finder: Any) -> None:
        self.model.set_analysis(AnalysisKind.DUPLICATES, finder, name=name)

    # -- status -----------------------------------------------------------------------------------
    def running(self) -> list[JobKind]:
        return [k for k in KEYS if self.runner.is_running(k)]

    def _on_progress(self, key: JobKey, fraction: float, message: str) -> None:
        kind = getattr(key, "kind", None)
        if kind in LABELS:
            self.status_changed.emit(f"{LABELS[kind]} {fraction * 100:.0f} %")

    def _on_busy(self) -> None:
        running = self.running()
        self.status_changed.emit(", ".join(LABELS[k] for k in running) + "\u2026" if running else "")
