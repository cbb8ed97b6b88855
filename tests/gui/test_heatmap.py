"""HeatmapView: exactly the selected items, stratified sample otherwise, label groups, pair click."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from viewkit import digits_set, pca_2d

from embedview.runtime.keys import JobKind

ENV_SIZE = (1200, 700)  # the host window of the ``env`` fixture (tests/gui/conftest.py)


def test_box_selected_points_are_exactly_the_heatmap_rows(env, qtbot):
    from embedview.gui.views.heatmap import HeatmapView
    from embedview.gui.views.map import MapView

    emb = digits_set(700)
    xy = pca_2d(emb)
    map_view = env.add(MapView)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb, xy)
    qtbot.waitUntil(lambda: map_view.mode == "points", timeout=10000)
    lo, hi = np.percentile(xy, 35, axis=0), np.percentile(xy, 65, axis=0)
    map_view.vb.box_selected.emit(QRectF(QPointF(*lo), QPointF(*hi)), Qt.NoModifier)
    selected = env.selection.selected.copy()
    assert 5 < len(selected) < 700
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == len(selected), timeout=10000)
    assert sorted(heat.displayed_indices.tolist()) == selected.tolist()
    U = emb.unit[heat.displayed_indices]
    np.testing.assert_allclose(heat.matrix, U @ U.T, atol=1e-5)
    # rows are grouped by label, with one group per label present
    labels = emb.dataset.labels[heat.displayed_indices]
    assert [g[2] for g in heat.groups] == sorted(set(labels))
    for start, stop, name in heat.groups:
        assert set(labels[start:stop]) == {name}
    assert heat.image.image.shape == (len(selected), len(selected))


def test_without_selection_a_label_stratified_sample(env, qtbot):
    from embedview.gui.views.heatmap import SAMPLE_SIZE, HeatmapView

    emb = digits_set()  # 1797 items, ten labels of ~180
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == SAMPLE_SIZE, timeout=10000)
    counts = np.unique(emb.dataset.labels[heat.displayed_indices], return_counts=True)[1]
    assert len(counts) == 10 and counts.min() >= 27 and counts.max() <= 33
    assert "a sample of 300" in heat.choose_items().what
    assert heat.choose_items().what in heat.info.text()  # and the view says so
    # one selected item is not a pair: still the sample
    env.selection.set_selection([3], "test")
    env.wait_idle()
    assert len(heat.displayed_indices) == SAMPLE_SIZE


def test_unlabelled_items_are_ordered_by_clusters(env, qtbot):
    from embedview.gui.views.heatmap import HeatmapView

    emb = digits_set(200, labelled=False)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 200, timeout=10000)
    assert heat.groups == [] and heat.result.order_ == "cluster"
    assert sorted(heat.displayed_indices.tolist()) == list(range(200))
    U = emb.unit[heat.displayed_indices]
    np.testing.assert_allclose(heat.matrix, U @ U.T, atol=1e-5)
    # clustering puts similar items next to each other: neighbours along the diagonal are closer
    # than random pairs
    assert np.diag(heat.matrix, 1).mean() > heat.matrix.mean() + 0.05


def test_hover_and_click_on_a_cell_show_and_select_the_pair(env, qtbot):
    from embedview.gui.views.heatmap import HeatmapView

    emb = digits_set(300)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    env.selection.set_selection([4, 17, 60, 61, 99], "test")
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 5, timeout=10000)
    row, col = 1, 3
    i, j = int(heat.displayed_indices[row]), int(heat.displayed_indices[col])
    # the cell's position is read again on every try: the view may still be fitting its range
    # to the new image, and a move to where the cursor already is sends no event, so each try
    # comes from a corner
    for _ in range(60):
        scene = heat.image.mapToScene(QPointF(col + 0.5, row + 0.5))
        pos = heat.plot.mapFromScene(scene)
        qtbot.mouseMove(heat.plot.viewport(), QPoint(1, 1))
        qtbot.wait(20)
        qtbot.mouseMove(heat.plot.viewport(), pos)
        try:
            qtbot.waitUntil(lambda: f"digit-{i}" in heat.hover_label.text(), timeout=500)
            break
        except qtbot.TimeoutError:
            continue
    assert f"digit-{i}" in heat.hover_label.text() and f"digit-{j}" in heat.hover_label.text(), heat.hover_label.text()
    qtbot.mouseClick(heat.plot.viewport(), Qt.LeftButton, pos=pos)
    assert heat.pair.isVisible()
    assert {heat.left_card.index, heat.right_card.index} == {i, j}
    assert env.selection.selected.tolist() == sorted([i, j])
    assert heat.pair_score.text() == f"cos {float(emb.unit[i] @ emb.unit[j]):.3f}"
    # the heatmap keeps showing the five items (its own selection change is not echoed)
    env.wait_idle()
    assert len(heat.displayed_indices) == 5


def test_hidden_heatmap_waits_until_shown(env, qtbot):
    from embedview.gui.views.heatmap import HeatmapView

    emb = digits_set(300)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 300, timeout=10000)
    heat.hide()  # e.g. a tab behind the Neighbours view
    env.selection.set_selection([7, 8, 9], "test")
    assert not env.runner.is_running(JobKind.HEATMAP)
    env.wait_idle()
    assert len(heat.displayed_indices) == 300
    heat.show()
    qtbot.waitUntil(lambda: heat.displayed_indices.tolist() != [] and len(heat.displayed_indices) == 3, timeout=10000)
    assert sorted(heat.displayed_indices.tolist()) == [7, 8, 9]


def test_colour_scale_is_the_models_choice(env, qtbot):
    from embedview.core.similarity import color_levels
    from embedview.gui.views.heatmap import HeatmapView

    emb = digits_set(200)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 200, timeout=10000)
    choices = env.model.views.heatmap
    assert choices.scale == "data" and heat.scale_box.currentData() == "data"
    assert heat.bar.levels() == pytest.approx(color_levels(heat.matrix, "data"))
    lo, hi = heat.bar.levels()
    assert -1 < lo < hi <= 1.0001 and (lo, hi) != (-1.0, 1.0)
    heat.scale_box.setCurrentIndex(heat.scale_box.findData("full"))  # the user picks -1 .. 1
    assert choices.scale == "full" and heat.bar.levels() == pytest.approx((-1.0, 1.0))
    choices.scale = "data"  # a session sets it back: the box and the colours follow
    assert heat.scale_box.currentData() == "data"
    assert heat.bar.levels() == pytest.approx((lo, hi))


def test_a_reencoded_active_set_is_shown_again(env, qtbot):
    from embedview.core.embeddings import EmbeddingSet
    from embedview.gui.views.heatmap import HeatmapView

    emb = digits_set(300)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 300, timeout=10000)
    # the active set is re-encoded (another object, other vectors): the matrix is of the new vectors
    other = EmbeddingSet(emb.dataset, emb.vectors[:, ::-1].copy(), emb.encoder)
    env.model.add_embeddings(other)
    env.wait_idle()
    U = other.unit[heat.displayed_indices]
    np.testing.assert_allclose(heat.matrix, U @ U.T, atol=1e-5)
