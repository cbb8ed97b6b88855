"""The map's cluster names, density contours and the colourings of clusters and item scores, on
real data (scikit-learn's digits; clusters by ``core.clusters`` on the PCA map the view shows)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from viewkit import digits_set, pca_2d

from embedview.core.clusters import Clusters
from embedview.model import AnalysisKind


@pytest.fixture
def mapped(env, qtbot):
    from embedview.gui.views.map import MapView

    emb = digits_set()
    xy = pca_2d(emb)
    view = env.add(MapView)
    env.host.resize(480, 360)  # small: zoomed out, the fine names collide
    env.show()
    env.load(emb, xy)
    qtbot.waitUntil(lambda: view.mode == "points", timeout=10000)
    clusters = Clusters(fine_size=0.003).fit(xy, labels=emb.dataset.labels, source="PCA")  # 79 fine, 5 coarse
    return view, emb, xy, clusters


def _overlap(boxes) -> bool:
    for i, (x, y, w, h, _) in enumerate(boxes):
        for (x2, y2, w2, h2, _) in boxes[i + 1:]:
            if x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h:
                return True
    return False


def test_names_appear_without_overlap_and_zooming_in_shows_the_fine_level(mapped, env, qtbot):
    view, emb, xy, clusters = mapped
    assert view.canvas.labels.levels == []  # nothing before the clusters exist
    env.model.set_analysis(AnalysisKind.CLUSTERS, clusters)
    labels = view.canvas.labels
    assert [len(lv.names) for lv in labels.levels] == [len(clusters.names_["coarse"]), len(clusters.names_["fine"])]
    # the centres are those of the points on the map shown
    c0 = clusters.labels_["coarse"] == 0
    np.testing.assert_allclose(labels.levels[0].centres[0], clusters.centres_for(xy, "coarse")[0])
    assert np.isclose(xy[c0], labels.levels[0].centres[0]).all(axis=1).any()  # on one of its points
    view.reset_view()
    qtbot.wait(50)
    level, boxes = labels.current_layout()
    assert level == 0 and boxes, "zoomed out: the coarse names"
    assert not _overlap(boxes)
    assert {b[4] for b in boxes} <= set(clusters.names_["coarse"])
    qtbot.waitUntil(lambda: labels.placed != [], timeout=5000)  # painted

    # zoom in, as a user would, on the biggest fine cluster: the names spread apart, the fine level fits
    centre = labels.levels[1].centres[0]
    (x0, x1), (y0, y1) = view.canvas.vb.viewRange()
    w, h = x1 - x0, y1 - y0
    for _ in range(12):
        w, h = w * 0.75, h * 0.75
        view.canvas.vb.setRange(QRectF(centre[0] - w / 2, centre[1] - h / 2, w, h), padding=0)
        qtbot.wait(20)  # the view box applies a new range at the next paint
        level, boxes = labels.current_layout()
        if level == 1:
            break
    assert level == 1, "zoomed in: the fine names"
    assert clusters.names_["fine"][0] in {b[4] for b in boxes}
    assert not _overlap(boxes)
    # what is painted follows the zoom (a stale view rectangle once kept every name off screen)
    qtbot.waitUntil(lambda: labels.level == 1 and set(labels.placed) == {b[4] for b in boxes}, timeout=5000)
    # no name under the legend
    legend = view.canvas.legend
    assert legend.isVisible()
    origin = view.canvas.vb.sceneBoundingRect().topLeft()
    lr = legend.sceneBoundingRect().translated(-origin)
    assert not _overlap(boxes + [(lr.left(), lr.top(), lr.width(), lr.height(), "legend")])
    # every box lies inside the plot
    rect = view.canvas.vb.sceneBoundingRect()
    assert all(0 <= x and x + w <= rect.width() + 1 and 0 <= y and y + h <= rect.height() + 1
               for x, y, w, h, _ in boxes)


def test_the_toggles_hide_names_and_draw_contours(mapped, env, qtbot):
    view, emb, xy, clusters = mapped
    env.model.set_analysis(AnalysisKind.CLUSTERS, clusters)
    state = env.model.views.map
    assert state.clusters and view.clusters_button.isChecked()
    view.clusters_button.click()
    assert state.clusters is False and view.canvas.labels.levels == []
    state.clusters = True
    assert view.clusters_button.isChecked() and view.canvas.labels.levels
    assert "HDBSCAN" in view.clusters_button.toolTip()  # how the clusters were computed

    assert not state.contours and view.canvas.contour_items == []
    view.contours_button.click()
    qtbot.waitUntil(lambda: len(view.canvas.contour_items) == 3, timeout=10000)
    x, y = view.canvas.contour_items[0].x, view.canvas.contour_items[0].y
    inside = np.isfinite(x)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = hi - lo
    assert inside.sum() > 20  # real lines, around the points
    for k, v in ((0, x), (1, y)):
        assert (v[inside] > lo[k] - 0.2 * span[k]).all() and (v[inside] < hi[k] + 0.2 * span[k]).all()
    state.contours = False
    assert view.canvas.contour_items == []
    assert env.model.views.map.to_dict()["clusters"] is True  # saved with the session


def test_colour_by_cluster_and_by_item_scores(mapped, env, qtbot):
    view, emb, xy, clusters = mapped
    keys = [k for _, k in view.color_options()]
    assert "cluster" not in keys
    env.model.set_analysis(AnalysisKind.CLUSTERS, clusters)
    uniq = np.linspace(0, 1, len(emb)).astype(np.float32)
    env.model.set_analysis(AnalysisKind.ITEM_SCORES, {"uniqueness": uniq, "representativeness": 1 - uniq})
    keys = [k for _, k in view.color_options()]
    assert {"cluster", "cluster:fine", "score:uniqueness", "score:representativeness"} <= set(keys)
    view.choose_color("cluster")
    qtbot.waitUntil(lambda: view.coloring is not None and view.coloring.title == "cluster", timeout=10000)
    c = view.coloring
    noise = clusters.labels_["coarse"] < 0
    assert (c.codes[noise] == -1).all()
    assert set(c.names) == set(clusters.names_["coarse"])
    member = int(np.flatnonzero(clusters.labels_["fine"] == 0)[0])
    assert f"cluster: {clusters.names_['fine'][0]}" in view.hover_text(member)  # the hover card names it
    view.choose_color("score:uniqueness")
    qtbot.waitUntil(lambda: view.coloring.title == "uniqueness", timeout=10000)
    np.testing.assert_allclose(view.coloring.values, uniq, rtol=1e-6)
