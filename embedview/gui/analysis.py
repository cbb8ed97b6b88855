"""Background analyses every view shares, started when embeddings arrive or become active.

For the active :class:`EmbeddingSet` the scheduler runs, each under its own runner key:

* ``analysis.pca``  PCA map first: it takes well under a second, so the map shows something at once;
* ``analysis.umap`` then UMAP, reusing one kNN graph, in a child process (the first run compiles
  numba for tens of seconds while holding the GIL, which would freeze the window in a thread);
* ``analysis.outliers`` outlier scores (mean distance to the k nearest neighbours);
* ``analysis.duplicates`` exact and near duplicates.

One chain of threads, PCA -> outliers -> duplicates, with UMAP started in its own process as
soon as PCA is done: one Python-heavy thread at a time competes with the UI thread for the GIL.
Results go into :class:`AppState` (``set_projection`` / ``set_analysis``) only if the set they
were computed for is still the one in the state; a new dataset cancels everything.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Callable, List, Optional

from PySide6.QtCore import QObject, Signal

from embedview.core.embeddings import EmbeddingSet
from embedview.gui.state import AppState
from embedview.gui.workers import JobRunner

log = logging.getLogger(__name__)

KEYS = ("analysis.pca", "analysis.umap", "analysis.outliers", "analysis.duplicates")
#: UMAP's neighbours (the same graph feeds the map's quality measure)
UMAP_NEIGHBORS = 15
OUTLIER_K = 10


#: inputs up to this many numbers run with one BLAS thread (see ``_blas_for``)
ONE_BLAS_THREAD_UP_TO = 4_000_000


@contextmanager
def _blas_for(n_values: int):
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
def run_pca(emb: EmbeddingSet, progress=None):
    from embedview.core.projection import Projection

    with _blas_for(emb.vectors.size):
        return Projection(method="pca").fit(emb, progress=progress)


def run_umap(emb: EmbeddingSet, progress=None):
    """UMAP in a child process: numba's compilation holds the GIL for tens of seconds on first
    use, which would freeze the window if it ran in a thread of this process."""
    from embedview.runtime.isolated import run_isolated, save_array

    path = save_array(emb.vectors, prefix="embedview-umap-")
    try:
        return run_isolated(umap_from_file, path, UMAP_NEIGHBORS, progress=progress)
    finally:
        os.unlink(path)


def umap_from_file(path: str, n_neighbors: int, progress=None):
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


def run_outliers(emb: EmbeddingSet, progress=None):
    from embedview.core.evaluation import OutlierScores

    with _blas_for(emb.vectors.size):
        return OutlierScores(k=OUTLIER_K).fit(emb, progress=progress)


def run_duplicates(emb: EmbeddingSet, progress=None):
    from embedview.core.duplicates import DuplicateFinder

    with _blas_for(emb.vectors.size):
        return DuplicateFinder().fit(emb, progress=progress)


class AnalysisScheduler(QObject):
    """Starts the shared analyses for the active embedding set and files their results.

    ``status_changed(str)`` carries a short line for the status bar ("UMAP 40 %", "" when idle).
    """

    status_changed = Signal(str)

    def __init__(self, state: AppState, runner: JobRunner, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.state = state
        self.runner = runner
        self._scheduled: Optional[EmbeddingSet] = None
        self._umap_for: Optional[EmbeddingSet] = None  # the set whose UMAP job was submitted last
        self._labels = {"analysis.pca": "PCA map", "analysis.umap": "UMAP map",
                        "analysis.outliers": "outlier scores", "analysis.duplicates": "duplicates"}
        state.dataset_changed.connect(self.cancel)
        state.active_set_changed.connect(lambda _name: self.schedule())
        runner.progress.connect(self._on_progress)
        runner.busy_changed.connect(self._on_busy)

    # -- triggers -----------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop every analysis (a new dataset arrived)."""
        self._scheduled = None
        self._umap_for = None
        for key in KEYS:
            self.runner.cancel(key)

    def schedule(self) -> None:
        """Run whatever the active set is missing (nothing when it is all there already)."""
        emb, name = self.state.emb, self.state.active
        if emb is None or emb is self._scheduled:
            return
        self.cancel()
        self._scheduled = emb
        self._next(emb, name)

    def _next(self, emb: EmbeddingSet, name: str) -> None:
        """Start the first missing step of the thread chain (PCA -> outliers -> duplicates)."""
        if self.state.projection("pca", name) is None:
            self._submit("analysis.pca", run_pca, emb, name, self._pca_done)
            return
        if self.state.projection("umap", name) is None and self._umap_for is not emb:
            # once per set: a cancelled UMAP of the previous set may still be winding down, so
            # "is a UMAP job running" cannot tell whether this set's has been started
            self._umap_for = emb
            self._submit("analysis.umap", run_umap, emb, name, self._umap_done)
        if self.state.get_analysis("outliers", name) is None:
            self._submit("analysis.outliers", run_outliers, emb, name, self._outliers_done)
        elif self.state.get_analysis("duplicates", name) is None:
            self._submit("analysis.duplicates", run_duplicates, emb, name, self._duplicates_done)

    def _submit(self, key: str, fn: Callable, emb: EmbeddingSet, name: str, done: Callable) -> None:
        def on_result(result, emb=emb, name=name) -> None:
            if self.state.sets.get(name) is emb:
                done(emb, name, result)

        self.runner.submit(key, fn, emb, on_result=on_result)

    # -- results ----------------------------------------------------------------------------------
    def _pca_done(self, emb: EmbeddingSet, name: str, proj) -> None:
        self.state.set_projection("pca", proj.embedding_, proj, name=name)
        self._next(emb, name)

    def _umap_done(self, emb: EmbeddingSet, name: str, proj) -> None:
        self.state.set_projection("umap", proj.embedding_, proj, name=name)

    def _outliers_done(self, emb: EmbeddingSet, name: str, scores) -> None:
        self.state.set_analysis("outliers", scores, name=name)
        self._next(emb, name)

    def _duplicates_done(self, emb: EmbeddingSet, name: str, finder) -> None:
        self.state.set_analysis("duplicates", finder, name=name)

    # -- status -----------------------------------------------------------------------------------
    def running(self) -> List[str]:
        return [k for k in KEYS if self.runner.is_running(k)]

    def _on_progress(self, key: str, fraction: float, message: str) -> None:
        if key in self._labels:
            self.status_changed.emit(f"{self._labels[key]} {fraction * 100:.0f} %")

    def _on_busy(self) -> None:
        running = self.running()
        if not running:
            self.status_changed.emit("")
        else:
            self.status_changed.emit(", ".join(self._labels[k] for k in running) + "\u2026")
