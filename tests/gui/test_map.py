"""MapView: clicking, hovering, box / lasso selection, density rendering, colouring, export."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt

from embedview.core.neighbors import topk
from viewkit import digits_set, pca_2d




def _viewport_pos(view, x: float, y: float):
    """Where data point (x, y) of the map is, in the plot viewport's pixels."""
    scene = view.vb.mapViewToScene(QPointF(x, y))
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
    qtbot.waitUntil(lambda: view.mode == "points" and view.cloud.count == len(xy), timeout=10000)
    assert "PCA" in view.info.text()

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
    view.vb.setRange(QRectF(float(corner[0]), float(corner[1]), 0.1, 0.1), padding=0)
    qtbot.mouseClick(view.plot.viewport(), Qt.LeftButton, pos=_viewport_pos(view, corner[0] + 0.05, corner[1] + 0.05))
    assert env.selection.selected.size == 0 and env.selection.current == target


def test_hover_finds_the_nearest_point_like_brute_force(env, qtbot):
    from embedview.gui.views.map import MapView, nearest_point

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
    qtbot.waitUntil(lambda: view.hover.isVisible() and view.hover.index == target, timeout=30_000)
    assert f"digit-{target}" in view.hover.text.text()


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
    view.vb.box_selected.emit(rect, Qt.NoModifier)
    inside = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0]) & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
    assert len(inside) > 10
    assert env.selection.selected.tolist() == inside.tolist()
    assert view.sel_item.count == len(inside)  # highlighted

    # a triangular lasso, Ctrl adds to the box selection
    c = xy.mean(axis=0)
    s = xy.std(axis=0)
    tri = np.array([[c[0] - 2 * s[0], c[1] - s[1]], [c[0] + 2 * s[0], c[1] - s[1]], [c[0], c[1] + 2 * s[1]]])
    view.vb.lasso_selected.emit(tri, Qt.ControlModifier)
    in_tri = [i for i, p in enumerate(xy) if _in_triangle(p, tri)]
    want = sorted(set(inside.tolist()) | set(in_tri))
    qtbot.waitUntil(lambda: env.selection.selected.tolist() == want, timeout=10000)


def _in_triangle(p, tri) -> bool:
    """Reference point-in-triangle test by signs of cross products (independent of the lasso code)."""
    def cross(a, b, q):
        return (b[0] - a[0]) * (q[1] - a[1]) - (b[1] - a[1]) * (q[0] - a[0])

    d = [cross(tri[i], tri[(i + 1) % 3], p) for i in range(3)]
    return all(v > 0 for v in d) or all(v < 0 for v in d)


def test_polygon_hit_test_matches_reference_on_a_concave_shape():
    from embedview.gui.widgets import points_in_polygon

    rng = np.random.default_rng(3)
    pts = rng.uniform(-1, 1, size=(4000, 2))
    # a concave "C" shape
    poly = np.array([[-0.8, -0.8], [0.8, -0.8], [0.8, -0.4], [-0.3, -0.4], [-0.3, 0.4], [0.8, 0.4], [0.8, 0.8], [-0.8, 0.8]])
    got = points_in_polygon(pts, poly)
    x, y = pts[:, 0], pts[:, 1]
    outer = (np.abs(x) < 0.8) & (np.abs(y) < 0.8)
    notch = (x > -0.3) & (np.abs(y) < 0.4)
    assert got.tolist() == np.flatnonzero(outer & ~notch).tolist()


def test_density_rendering_above_the_threshold_and_points_when_zoomed_in(env, qtbot):
    from embedview.gui.views.map import MapView

    emb = digits_set()
    xy = pca_2d(emb)
    view = env.add(MapView)
    view.density_threshold = 500  # 1797 points: above it when everything is in view
    env.show()
    env.load(emb, xy)
    qtbot.waitUntil(lambda: view.mode == "density", timeout=10000)
    assert view.image.isVisible() and view.cloud.count == 0
    rgba = view.image.image
    assert rgba.ndim == 3 and rgba.shape[2] == 4 and (rgba[..., 3] > 0).any()

    # zoom into a corner with fewer points than the threshold: real points again, exactly those in view
    lo = np.percentile(xy, 5, axis=0)
    view.vb.setRange(QRectF(float(lo[0]), float(lo[1]), 0.3, 0.3), padding=0)
    qtbot.waitUntil(lambda: view.mode == "points", timeout=10000)
    (x0, x1), (y0, y1) = view.vb.viewRange()
    in_view = ((xy[:, 0] >= x0) & (xy[:, 0] < x1) & (xy[:, 1] >= y0) & (xy[:, 1] < y1)).sum()
    assert view.cloud.count == in_view


def test_density_cells_take_the_dominant_category():
    from embedview.gui.views.map import categorical_coloring, view_content

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1, size=(3000, 2)).astype(np.float32)
    labels = rng.choice(["a", "b", "c"], size=3000, p=[0.5, 0.3, 0.2])
    coloring = categorical_coloring(list(labels), "label")
    kind, rgba, _ = view_content(xy, coloring, (0.0, 0.0, 1.0, 1.0), (6, 5), threshold=100)
    assert kind == "density" and rgba.shape == (5, 6, 4)
    table = coloring.rgba_table()
    for cy in range(5):
        for cx in range(6):
            inside = (np.floor(xy[:, 0] * 6) == cx) & (np.floor(xy[:, 1] * 5) == cy)
            counts = np.bincount(coloring.codes[inside], minlength=3)
            assert rgba[cy, cx, :3].tolist() == table[int(np.argmax(counts)), :3].tolist()


def test_colour_by_outlier_score_label_and_column(env, qtbot):
    from embedview.core.evaluation import OutlierScores
    from embedview.gui.views.map import MapView

    emb = digits_set(500)
    view = env.add(MapView)
    env.show()
    env.load(emb, pca_2d(emb))
    qtbot.waitUntil(lambda: view.coloring is not None and view.mode == "points", timeout=10000)
    assert view.color_box.currentText() == "label"
    assert [t.split(' ')[0] for _, t in view.legend.rows] == [str(d) for d in range(10)]  # ten digits, in order
    assert view.legend.isVisible()

    scores = OutlierScores(k=5).fit(emb)
    env.state.set_analysis("outliers", scores)
    view.color_box.setCurrentIndex(view.color_box.findText("outlier score"))
    qtbot.waitUntil(lambda: view.coloring is not None and view.coloring.continuous, timeout=10000)
    assert view.coloring.vrange == pytest.approx((scores.scores_.min(), scores.scores_.max()), rel=1e-5)
    assert view._color_bar is not None
    top = int(np.argmax(scores.scores_))
    assert view.coloring.codes[top] == len(view.coloring.colors) - 1  # brightest colour

    view.color_box.setCurrentIndex(view.color_box.findText("ink"))  # numeric metadata: continuous
    qtbot.waitUntil(lambda: view.coloring.title == "ink", timeout=10000)
    assert view.coloring.continuous


def test_umap_choice_falls_back_to_pca_until_it_exists(env, qtbot):
    from embedview.gui.views.map import MapView

    emb = digits_set(300)
    xy = pca_2d(emb)
    view = env.add(MapView)
    env.show()
    env.load(emb, xy)
    assert view.method_box.currentData() == "umap" and view.method == "pca"
    assert "computing UMAP" in view.info.text()
    umap_like = xy[:, ::-1].copy()
    env.state.set_projection("umap", umap_like)
    assert view.method == "umap" and np.array_equal(view.xy, umap_like)
    assert "computing" not in view.info.text()


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
