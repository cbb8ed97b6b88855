"""MapView: clicking, hovering, box / lasso selection, density rendering, colouring, export."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from viewkit import digits_set, pca_2d

from embedview.core.neighbors import topk


def _viewport_pos(view, x: float, y: float):
    """Where data point (x, y) of the map is, in the plot viewport's pixels."""
    scene = view.canvas.vb.mapViewToScene(QPointF(x, y))
    return view.plot.mapFromScene(scene)


def _isolated_point(xy: np.ndarray) -> int:
    """The point farthest from its nearest other point (an unambiguous click target)."""
    d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    return int(np.argmax(d.min(axis=1)))


def test_click_on_a_point_shows_its_neighbours(env, qtbot):
    from embedview.gui.views.map import MapView
    from embedview.gui.views.neighbors import NeighborsView

    emb = digits_set(400)
    xy = pca_2d(emb)
    view = env.add(MapView)
    neigh = env.add(NeighborsView)
    env.show()
    env.load(emb, xy)
    qtbot.waitUntil(lambda: view.mode == "points" and view.canvas.cloud.count == len(xy), timeout=10000)
    assert view.method == "pca"  # UMAP is wanted (the default) but only PCA exists yet

    target = _isolated_point(xy)
    qtbot.mouseClick(view.plot.viewport(), Qt.LeftButton, pos=_viewport_pos(view, *xy[target]))
    assert env.selection.current == target
    assert env.selection.selected.tolist() == [target]
    qtbot.waitUntil(lambda: neigh.query_index == target and len(neigh.displayed_indices) == 10, timeout=10000)
    want, scores = topk(emb.vectors, 10, queries=np.array([target]), metric="cosine")
    assert neigh.displayed_indices.tolist() == want[0].tolist()
    np.testing.assert_allclose(neigh.displayed_scores, scores[0], atol=1e-5)
    assert neigh.list.count() == 10 and "cos " in neigh.list.item(0).text()

    # clicking empty space clears the selection but keeps the current item
    corner = xy.min(axis=0) - 0.2 * (xy.max(axis=0) - xy.min(axis=0))
    view.canvas.vb.setRange(QRectF(float(corner[0]), float(corner[1]), 0.1, 0.1), padding=0)
    qtbot.mouseClick(view.plot.viewport(), Qt.LeftButton, pos=_viewport_pos(view, corner[0] + 0.05, corner[1] + 0.05))
    assert env.selection.selected.size == 0 and env.selection.current == target


def test_hover_finds_the_nearest_point_like_brute_force(env, qtbot):
    from embedview.core.maps import nearest_point
    from embedview.gui.views.map import MapView

    rng = np.random.default_rng(1)
    emb = digits_set(1500)
    xy = rng.normal(size=(len(emb), 2)).astype(np.float32) * np.array([3.0, 1.0], np.float32)
    view = env.add(MapView)
    env.show()
    env.load(emb, xy)
    qtbot.waitUntil(lambda: view.tree is not None and view.mode == "points", timeout=10000)
    px = view._pixel_size()
    hits = 0
    for x, y in rng.normal(size=(300, 2)) * np.array([3.0, 1.0]):
        got = view.point_at(x, y)
        want = nearest_point(xy, x, y, px, tree=None)
        assert got == want
        hits += got >= 0
    assert hits > 100  # most probes land near a point; the rest must agree on "nothing here"

    # a real mouse move over a point shows the hover card for that point
    target = _isolated_point(xy[:300])
    pos = _viewport_pos(view, *xy[target])
    qtbot.mouseMove(view.plot.viewport(), pos)
    qtbot.waitUntil(lambda: view.canvas.hover.isVisible() and view.canvas.hover.index == target, timeout=30_000)
    assert f"digit-{target}" in view.canvas.hover.text.text()


def test_box_and_lasso_select_exactly_the_points_inside(env, qtbot):
    from embedview.gui.views.map import MapView

    emb = digits_set(800)
    xy = pca_2d(emb)
    view = env.add(MapView)
    env.show()
    env.load(emb, xy)
    qtbot.waitUntil(lambda: view.mode == "points", timeout=10000)

    lo, hi = np.percentile(xy, 30, axis=0), np.percentile(xy, 70, axis=0)
    rect = QRectF(QPointF(hi[0], hi[1]), QPointF(lo[0], lo[1]))  # dragged up-left: not normalised
    view.canvas.vb.box_selected.emit(rect, Qt.NoModifier)
    inside = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0]) & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
    assert len(inside) > 10
    assert env.selection.selected.tolist() == inside.tolist()
    assert view.canvas.sel_item.count == len(inside)  # highlighted

    # a triangular lasso, Ctrl adds to the box selection
    c = xy.mean(axis=0)
    s = xy.std(axis=0)
    tri = np.array([[c[0] - 2 * s[0], c[1] - s[1]], [c[0] + 2 * s[0], c[1] - s[1]], [c[0], c[1] + 2 * s[1]]])
    view.canvas.vb.lasso_selected.emit(tri, Qt.ControlModifier)
    in_tri = [i for i, p in enumerate(xy) if _in_triangle(p, tri)]
    want = sorted(set(inside.tolist()) | set(in_tri))
    qtbot.waitUntil(lambda: env.selection.selected.tolist() == want, timeout=10000)


def _in_triangle(p, tri) -> bool:
    """Reference point-in-triangle test by signs of cross products (independent of the lasso code)."""
    def cross(a, b, q):
        return (b[0] - a[0]) * (q[1] - a[1]) - (b[1] - a[1]) * (q[0] - a[0])

    d = [cross(tri[i], tri[(i + 1) % 3], p) for i in range(3)]
    return all(v > 0 for v in d) or all(v < 0 for v in d)


def test_density_rendering_above_the_threshold_and_points_when_zoomed_in(env, qtbot):
    from embedview.gui.views.map import MapView

    emb = digits_set()
    xy = pca_2d(emb)
    view = env.add(MapView)
    view.density_threshold = 500  # 1797 points: above it when everything is in view
    env.show()
    env.load(emb, xy)
    qtbot.waitUntil(lambda: view.mode == "density", timeout=10000)
    assert view.canvas.image.isVisible() and view.canvas.cloud.count == 0
    rgba = view.canvas.image.image
    assert rgba.ndim == 3 and rgba.shape[2] == 4 and (rgba[..., 3] > 0).any()

    # zoom into a corner with fewer points than the threshold: real points again, exactly those in view
    lo = np.percentile(xy, 5, axis=0)
    view.canvas.vb.setRange(QRectF(float(lo[0]), float(lo[1]), 0.3, 0.3), padding=0)
    qtbot.waitUntil(lambda: view.mode == "points", timeout=10000)
    (x0, x1), (y0, y1) = view.canvas.vb.viewRange()
    in_view = ((xy[:, 0] >= x0) & (xy[:, 0] < x1) & (xy[:, 1] >= y0) & (xy[:, 1] < y1)).sum()
    assert view.canvas.cloud.count == in_view


def test_colour_by_outlier_score_label_and_column(env, qtbot):
    from embedview.core.embeddings import EmbeddingSet
    from embedview.core.evaluation import OutlierScores
    from embedview.gui.views.map import MapView
    from embedview.model import AnalysisKind

    emb = digits_set(500)
    view = env.add(MapView)
    env.show()
    env.load(emb, pca_2d(emb))
    qtbot.waitUntil(lambda: view.coloring is not None and view.mode == "points", timeout=10000)
    state = env.model.views.map
    assert state.color_by == "label" and view.coloring.title == "label"
    assert view.coloring.names == [str(d) for d in range(10)]  # ten digits, in order
    assert len(view.canvas.legend.rows) == 10 and view.canvas.legend.isVisible()

    # a wish the data cannot serve yet is kept, and taken once the scores arrive
    state.color_by = "outliers"
    assert view.color_box.findData("outliers") == -1 and view.color_box.currentData() == "label"
    scores = OutlierScores(k=5).fit(emb)
    env.model.set_analysis(AnalysisKind.OUTLIERS, scores)
    assert view.color_box.currentData() == "outliers"  # the box follows the state
    qtbot.waitUntil(lambda: view.coloring is not None and view.coloring.continuous, timeout=10000)
    assert view.coloring.vrange == pytest.approx((scores.scores_.min(), scores.scores_.max()), rel=1e-5)
    assert view._color_bar is not None
    top = int(np.argmax(scores.scores_))
    assert view.coloring.codes[top] == len(view.coloring.colors) - 1  # brightest colour

    view.color_box.setCurrentIndex(view.color_box.findText("ink"))  # the user's pick goes to the state
    assert state.color_by == "meta:ink"
    qtbot.waitUntil(lambda: view.coloring.title == "ink", timeout=10000)
    assert view.coloring.continuous  # numeric metadata: continuous

    # another set becomes active: its own (missing) scores are not offered, label again until they come
    state.color_by = "outliers"
    qtbot.waitUntil(lambda: view.coloring.title == "outlier score", timeout=10000)
    other = EmbeddingSet(emb.dataset, emb.vectors[:, ::-1].copy(), "reversed")
    env.model.add_embeddings(other)
    env.model.set_projection("pca", pca_2d(other))
    qtbot.waitUntil(lambda: view.coloring.title == "label", timeout=10000)
    assert state.color_by == "outliers" and view.color_box.currentData() == "label"


def test_umap_choice_falls_back_to_pca_until_it_exists(env, qtbot):
    from embedview.gui.views.map import MapView

    emb = digits_set(300)
    xy = pca_2d(emb)
    view = env.add(MapView)
    env.show()
    env.load(emb, xy)
    state = env.model.views.map
    assert state.method == "umap" and view.method_box.currentData() == "umap" and view.method == "pca"
    umap_like = xy[:, ::-1].copy()
    env.model.set_projection("umap", umap_like)
    assert view.method == "umap" and np.array_equal(view.xy, umap_like)

    # the method box and the state follow each other
    view.method_box.setCurrentIndex(view.method_box.findData("pca"))
    assert state.method == "pca" and view.method == "pca" and np.array_equal(view.xy, xy)
    state.method = "umap"
    assert view.method_box.currentData() == "umap" and np.array_equal(view.xy, umap_like)


def test_export_png_and_svg(env, qtbot, tmp_path):
    from embedview.gui.views.map import MapView

    emb = digits_set(200)
    view = env.add(MapView)
    env.show()
    env.load(emb, pca_2d(emb))
    qtbot.waitUntil(lambda: view.mode == "points", timeout=10000)
    png, svg = tmp_path / "map.png", tmp_path / "map.svg"
    view.export_plot(str(png))
    view.export_plot(str(svg))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()[:2000]
