"""NeighborsView reads the window's kept neighbour graph (issue 14): a click with k <= the graph's
neighbours per item and the graph's metric is a row lookup, with the same neighbours as exact
search; a larger k or another metric searches as before.  Real digits vectors, the real graph job."""

from __future__ import annotations

import numpy as np
from viewkit import digits_set

from embedview.actions import analysis
from embedview.core.neighbors import topk


class _Projection:
    def __init__(self, n: int) -> None:
        self.embedding_ = np.zeros((n, 2), np.float32)


def test_a_click_reads_the_kept_graph_when_it_covers_k_and_the_metric(env, qtbot, monkeypatch):
    from embedview.gui.views.neighbors import NeighborsView

    # the real PCA, graph, outliers, duplicates; UMAP's child process and the clusters stand in
    monkeypatch.setattr(analysis, "run_umap", lambda emb, progress=None: _Projection(len(emb)))
    monkeypatch.setattr(analysis, "run_clusters", lambda emb, xy, source, progress=None: "clusters")
    monkeypatch.setattr(analysis, "item_scores_available", lambda: False)
    scheduler = analysis.AnalysisScheduler(env.model, env.runner)
    emb = digits_set(600)
    view = env.add(NeighborsView)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: scheduler.graph() is not None, timeout=60_000)
    graph = scheduler.graph()
    assert analysis.kept_graph(env.model.emb) is graph and graph.exact and graph.k == analysis.GRAPH_K

    view.k_box.setValue(10)
    env.selection.set_current(42, "test")
    qtbot.waitUntil(lambda: view.query_index == 42 and len(view.displayed_indices) == 10, timeout=10_000)
    assert view.hits_graph is graph  # read, not searched
    want_idx, want_scores = topk(emb.vectors, 10, queries=np.array([42]), metric="cosine")
    assert view.displayed_indices.tolist() == want_idx[0].tolist()
    np.testing.assert_allclose(view.displayed_scores, want_scores[0], rtol=1e-4, atol=1e-4)
    assert "read from the kept neighbour graph" in view.status.text()
    assert "exact cosine neighbours of 600 items" in view.status.text()

    view.k_box.setValue(graph.k + 5)  # more than the graph holds: an exact search
    qtbot.waitUntil(lambda: len(view.displayed_indices) == graph.k + 5, timeout=10_000)
    assert view.hits_graph is None and view.status.text().startswith("exact cosine search over 600 items")
    want_idx, _ = topk(emb.vectors, graph.k + 5, queries=np.array([42]), metric="cosine")
    assert view.displayed_indices.tolist() == want_idx[0].tolist()

    view.k_box.setValue(10)
    view.metric_box.setCurrentIndex(view.metric_box.findData("euclidean"))  # another metric: searched
    qtbot.waitUntil(lambda: view.status.text().startswith("exact euclidean search"), timeout=10_000)
    assert view.hits_graph is None
    want_idx, _ = topk(emb.vectors, 10, queries=np.array([42]), metric="euclidean")
    assert view.displayed_indices.tolist() == want_idx[0].tolist()
    env.wait_idle()
