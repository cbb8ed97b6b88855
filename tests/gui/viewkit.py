"""Helpers for testing single views without the main window: real data, real shared objects.

``ViewEnv`` holds the shared AppState / SelectionModel / JobRunner and a host widget; ``close()``
stops every job and fails if a worker or thumbnail thread survives.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QHBoxLayout, QWidget

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.workers import JobRunner
from embedview.model import AppModel


def digits_set(n: int | None = None, labelled: bool = True) -> EmbeddingSet:
    """scikit-learn's handwritten digits (8x8 pixels as 64-d vectors) as a precomputed set."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data.astype(np.float32)[:n]
    y = d.target[:n]
    ds = Dataset(
        "embedding",
        ids=[f"digit-{i}" for i in range(len(X))],
        sources=["digits.npy"] * len(X),
        labels=np.array([str(v) for v in y], dtype=object) if labelled else None,
        embeddings=X,
        metadata={"ink": [float(v) for v in X.sum(axis=1)]},
        name="digits",
    )
    return EmbeddingSet.from_dataset(ds)


def pca_2d(emb: EmbeddingSet) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=0).fit_transform(emb.unit).astype(np.float32)


class ViewEnv:
    """Shared objects for views under test, plus a visible host widget to put them in."""

    def __init__(self, qtbot, width: int = 1000, height: int = 700) -> None:
        self.qtbot = qtbot
        self.model = AppModel()
        self.selection = self.model.selection
        self.runner = JobRunner()
        self.host = QWidget()
        self.host.resize(width, height)
        self.layout = QHBoxLayout(self.host)
        qtbot.addWidget(self.host)
        self.views = []

    def add(self, cls):
        view = cls(self.model, self.runner)
        self.layout.addWidget(view, 1)
        self.views.append(view)
        return view

    def show(self) -> None:
        self.host.show()
        self.qtbot.waitExposed(self.host)

    def load(self, emb: EmbeddingSet, projection: np.ndarray | None = None) -> None:
        """Make ``emb`` the dataset and active set (and its PCA map when given), as the window does."""
        self.model.set_dataset(emb.dataset)
        self.model.add_embeddings(emb)
        if projection is not None:
            self.model.set_projection("pca", projection)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Process events until no job runs (results delivered)."""
        self.qtbot.waitUntil(lambda: not self.runner.active_keys() and not self.runner.alive_threads(),
                             timeout=int(timeout * 1000))
        self.qtbot.wait(20)

    def close(self) -> None:
        for view in self.views:
            getattr(view, "shutdown", lambda: None)()
        assert self.runner.shutdown(timeout=60), "background jobs did not stop"
        assert self.runner.alive_threads() == [], f"worker threads left running: {self.runner.alive_threads()}"
        thumbs = shared_thumbnails(self.model)
        assert thumbs.shutdown(timeout=10)
        assert thumbs.alive_threads() == []


def open_window(qtbot):
    """Generator: the real main window with its docks built; after the test, fails it if any
    worker or thumbnail thread survives the window's shutdown.  Fixtures ``yield from`` it."""
    from embedview.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.build_docks()
    yield win
    assert win.shutdown(timeout=60), "background work did not stop"
    assert win.runner.alive_threads() == [], f"worker threads left running: {win.runner.alive_threads()}"
    assert win.thumbnails.alive_threads() == []
