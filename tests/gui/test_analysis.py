"""The analysis scheduler (``actions/analysis.py``, Qt-free) under the window's Qt runner: results
delivered on the GUI thread, which set's UMAP runs after switching sets back and forth.

The jobs are stand-ins (the scheduler is under test, not the projections, which tests/core and
tests/gui/test_app.py run for real); the stand-in UMAP polls for cancellation every 0.1 s and so
winds down a moment after it is cancelled, as ``run_isolated`` does."""

import time

import numpy as np

from embedview.actions import analysis
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.progress import TaskState
from embedview.gui.workers import JobRunner
from embedview.model import AnalysisKind, AppModel


class _Projection:
    def __init__(self, n):
        self.embedding_ = np.zeros((n, 2), np.float32)


def test_umap_is_started_again_for_a_set_whose_umap_was_cancelled(qtbot, monkeypatch):
    calls = []

    def slow_umap(emb, progress=None):
        calls.append(emb.encoder)
        task = TaskState.coerce(progress)
        for _ in range(15):
            time.sleep(0.1)
            task.check()
        return _Projection(len(emb))

    monkeypatch.setattr(analysis, "run_pca", lambda emb, progress=None: _Projection(len(emb)))
    monkeypatch.setattr(analysis, "run_umap", slow_umap)
    monkeypatch.setattr(analysis, "run_graph", lambda emb, source=None, progress=None: None)  # no graph: each searches
    monkeypatch.setattr(analysis, "run_outliers", lambda emb, graph=None, progress=None: "outliers")
    monkeypatch.setattr(analysis, "run_duplicates", lambda emb, graph=None, progress=None: "duplicates")
    monkeypatch.setattr(analysis, "run_item_scores",
                        lambda emb, graph=None, progress=None: {"uniqueness": np.zeros(len(emb))})
    monkeypatch.setattr(analysis, "run_clusters", lambda emb, xy, source, progress=None: "clusters")
    state, runner = AppModel(), JobRunner()
    scheduler = analysis.AnalysisScheduler(state, runner)  # kept: the model holds its slots weakly
    X = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    ds = Dataset("text", [str(i) for i in range(50)], ["notes.txt"] * 50, texts=["t"] * 50)
    a, b = EmbeddingSet(ds, X, encoder="A"), EmbeddingSet(ds, X.copy(), encoder="B")
    state.set_dataset(ds)
    state.add_embeddings(a)
    qtbot.waitUntil(lambda: state.get_analysis(AnalysisKind.DUPLICATES, "A") is not None, timeout=10_000)
    state.add_embeddings(b)  # B becomes active: A's UMAP is cancelled mid-way
    qtbot.waitUntil(lambda: state.get_analysis(AnalysisKind.DUPLICATES, "B") is not None, timeout=10_000)
    qtbot.waitUntil(lambda: state.projection("umap", "B") is not None, timeout=20_000)
    state.set_active("A")  # back to A: only its UMAP is missing
    qtbot.waitUntil(lambda: state.projection("umap", "A") is not None, timeout=20_000)
    assert calls == ["A", "B", "A"]
    assert runner.wait_all(10)
    assert scheduler.running() == []
