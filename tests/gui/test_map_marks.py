"""What the map *paints* for the selection, the current item and the legend: every selection source
marks its items at once, at every zoom, in both themes, on HiDPI screens; the legend isolates
labels.  Each test grabs the plot to an image and looks at the pixels around the point."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from viewkit import digits_set, pca_2d

#: every source that changes the shared selection (the views' names)
SOURCES = ("map", "box", "lasso", "table", "neighbors", "search", "heatmap")


# -- looking at pixels ---------------------------------------------------------------------------------
def as_array(img: QImage) -> np.ndarray:
    """(H, W, 3) int array of an image's RGB (its device pixels)."""
    img = img.convertToFormat(QImage.Format_RGBA8888)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    raw = np.array(img.constBits(), copy=True).view(np.uint8)[: h * bpl]
    return raw.reshape(h, bpl // 4, 4)[:, :w, :3].astype(int)


def grab(view) -> tuple[np.ndarray, float]:
    """The map's viewport as painted now (the widget grabbed to an image) and its pixel ratio."""
    pix = view.plot.viewport().grab()
    scaled = os.environ.get("EMBEDVIEW_SCALED_RUN")
    assert not scaled or pix.devicePixelRatio() == float(scaled)  # the scaled run really is scaled
    return as_array(pix.toImage()), pix.devicePixelRatio()


def screen_pos(view, i: int) -> QPointF:
    """Item ``i``'s position in the viewport's (logical) pixels."""
    x, y = (float(v) for v in view.xy[i])
    return QPointF(view.plot.mapFromScene(view.canvas.vb.mapViewToScene(QPointF(x, y))))


def near(arr: np.ndarray, color: QColor, tol: float = 60) -> np.ndarray:
    want = np.array([color.red(), color.green(), color.blue()])
    return np.linalg.norm(arr - want, axis=-1) < tol


def ring_quadrants(arr: np.ndarray, dpr: float, centre: QPointF, color: QColor, r_in: float, r_out: float) -> list[int]:
    """Pixels of ``color`` in the annulus r_in..r_out (logical px) around ``centre``, per quadrant
    (right-down, left-down, left-up, right-up): a ring drawn there, centred, fills all four."""
    cx, cy = centre.x() * dpr, centre.y() * dpr
    r = int(np.ceil(r_out * dpr)) + 1
    x0, y0 = int(cx) - r, int(cy) - r
    win = arr[max(y0, 0): int(cy) + r + 1, max(x0, 0): int(cx) + r + 1]
    yy, xx = np.mgrid[0: win.shape[0], 0: win.shape[1]]
    dx, dy = xx + max(x0, 0) + 0.5 - cx, yy + max(y0, 0) + 0.5 - cy
    d = np.hypot(dx, dy) / dpr
    hit = near(win, color) & (d >= r_in) & (d <= r_out)
    return [int((hit & (dx >= 0) & (dy >= 0)).sum()), int((hit & (dx < 0) & (dy >= 0)).sum()),
            int((hit & (dx < 0) & (dy < 0)).sum()), int((hit & (dx >= 0) & (dy < 0)).sum())]


def colours():
    from embedview.gui.theme import plot_colors as plot_theme

    c = plot_theme()
    return QColor(c["accent"]), QColor(c["plot_foreground"]), QColor(c["plot_background"])


def current_ring(view, i: int, arr=None, dpr=1.0) -> list[int]:
    """The current item's accent ring (22 px across, 3 px pen) around item ``i``."""
    if arr is None:
        arr, dpr = grab(view)
    return ring_quadrants(arr, dpr, screen_pos(view, i), colours()[0], 9, 13)


def selection_ring(view, i: int) -> list[int]:
    """A selected item's ring (point size + 6 px across, 2 px pen, foreground colour)."""
    arr, dpr = grab(view)
    r = (view.canvas.point_size + 6) / 2
    return ring_quadrants(arr, dpr, screen_pos(view, i), colours()[1], r - 1.5, r + 1.5)


def marked(quadrants: list[int], least: int = 3) -> bool:
    return min(quadrants) >= least


def isolated_points(xy: np.ndarray, count: int) -> list[int]:
    """``count`` items far from every other (unambiguous pixels), most isolated first."""
    d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    return [int(i) for i in np.argsort(-d.min(axis=1))[:count]]


@pytest.fixture
def themed(qtbot):
    """Switch themes with ``gui.theme`` as the window does; the application's look is restored after."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from embedview.gui import theme

    app = QApplication.instance()
    palette, style = app.palette(), app.style().name()
    options = {k: pg.getConfigOption(k) for k in ("background", "foreground", "antialias")}

    def switch(mode: str, root) -> None:
        theme.apply_theme(app, mode)
        theme.apply_plot_theme(mode, root)
        qtbot.wait(1)  # the palette-change events are posted

    yield switch
    app.setStyle(style)
    app.setPalette(palette)
    pg.setConfigOptions(**options)


def _map(env, qtbot, n=400, projection=None):
    from embedview.gui.views.map import MapView

    emb = digits_set(n)
    xy = pca_2d(emb) if projection is None else projection
    view = env.add(MapView)
    env.show()
    env.load(emb, xy)
    qtbot.waitUntil(lambda: view.mode == "points" and view.canvas.cloud.count == len(xy) and view.tree is not None,
                    timeout=10000)
    return emb, xy, view


def _select(env, view, qtbot, source: str, items: list[int]) -> None:
    """Select ``items`` (current: the first) the way ``source`` does."""
    sel = env.selection
    if source == "map":  # a real click on the point
        qtbot.mouseClick(view.plot.viewport(), Qt.LeftButton, pos=screen_pos(view, items[0]).toPoint())
        assert sel.current == items[0]
        sel.add_to_selection(items[1:], "map")
    elif source == "box":  # a box around each item, Ctrl adding
        sel.set_current(items[0], "map")
        px, py = view.canvas.pixel_size()
        for k, i in enumerate(items):
            x, y = (float(v) for v in view.xy[i])
            view.canvas.vb.box_selected.emit(QRectF(x - 2 * px, y - 2 * py, 4 * px, 4 * py),
                                      Qt.ControlModifier if k else Qt.NoModifier)
    elif source == "lasso":
        sel.set_current(items[0], "map")
        px, py = view.canvas.pixel_size()
        for k, i in enumerate(items):  # a lasso runs in the runner: each waits for the one before
            x, y = (float(v) for v in view.xy[i])
            tri = np.array([[x - 3 * px, y - 2 * py], [x + 3 * px, y - 2 * py], [x, y + 3 * py]])
            view.canvas.vb.lasso_selected.emit(tri, Qt.ControlModifier if k else Qt.NoModifier)
            qtbot.waitUntil(lambda k=k: sel.selected.tolist() == sorted(items[: k + 1]), timeout=10000)
    else:  # another view: the model's selection with that view's name
        sel.set_selection(items, source)
        sel.set_current(items[0], source)
    assert sel.selected.tolist() == sorted(items) and sel.current == items[0]


# -- the tests -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["light", "dark"])
def test_every_source_marks_its_items_at_once_at_two_zooms(env, qtbot, themed, mode):
    emb, xy, view = _map(env, qtbot)
    themed(mode, env.host)
    accent, fg, bg = colours()
    assert view.plot.backgroundBrush().color().name() == bg.name()
    a, b, c, d = isolated_points(xy, 4)
    previous: list[int] = []
    for zoom in (1.0, 3.0):
        view.reset_view()
        if zoom != 1.0:  # zoom in around the items (they stay in view)
            centre = xy[[a, b, c, d]].mean(axis=0)
            span = np.abs(xy[[a, b, c, d]] - centre).max(axis=0) * 2.6
            view.canvas.vb.setRange(QRectF(float(centre[0] - span[0] / 2), float(centre[1] - span[1] / 2),
                                    float(span[0]), float(span[1])), padding=0)
        for k, source in enumerate(SOURCES):
            items = [a, b] if k % 2 == 0 else [c, d]
            _select(env, view, qtbot, source, items)
            # at once: no wait, no zoom, no event-loop pass needed for the paint
            assert marked(current_ring(view, items[0])), (source, zoom, current_ring(view, items[0]))
            assert marked(selection_ring(view, items[1])), (source, zoom, selection_ring(view, items[1]))
            for old in previous:  # the previous source's marks are gone
                if old not in items:
                    assert sum(current_ring(view, old)) == 0 and sum(selection_ring(view, old)) == 0, (source, old)
            previous = items


def test_a_click_after_a_table_selection_moves_the_ring(env, qtbot):
    emb, xy, view = _map(env, qtbot)
    a, b = isolated_points(xy, 2)
    env.selection.set_selection([a], "table")
    env.selection.set_current(a, "table")
    assert marked(current_ring(view, a))
    qtbot.mouseClick(view.plot.viewport(), Qt.LeftButton, pos=screen_pos(view, b).toPoint())
    assert env.selection.current == b
    assert marked(current_ring(view, b)) and sum(current_ring(view, a)) == 0


def test_the_ring_is_centred_and_whole_on_a_hidpi_screen(env, qtbot):
    """Rendered at device pixel ratio 2 (a HiDPI screen): the ring is drawn full size around the
    point, not at half size in the top-left corner of where it belongs."""
    emb, xy, view = _map(env, qtbot)
    i = isolated_points(xy, 1)[0]
    env.selection.set_current(i, "table")
    vp = view.plot.viewport()
    img = QImage(vp.width() * 2, vp.height() * 2, QImage.Format_ARGB32_Premultiplied)
    img.setDevicePixelRatio(2.0)
    img.fill(Qt.white)
    painter = QPainter(img)
    view.plot.render(painter, QRectF(0, 0, vp.width(), vp.height()), vp.rect())
    painter.end()
    quads = current_ring(view, i, as_array(img), 2.0)
    assert min(quads) >= 12 and max(quads) <= 3 * min(quads), quads  # a full, centred ring


@pytest.mark.skipif(bool(os.environ.get("EMBEDVIEW_SCALED_RUN")), reason="already the scaled run")
@pytest.mark.parametrize("scale", ["1.5", "2"])
def test_marks_on_a_scaled_screen(scale, tmp_path):
    """A HiDPI / fractionally scaled screen (Qt's scale factor is read once, at start: a fresh
    process): the grabbed widget has 1.5 or 2 device pixels per pixel and the rings are still
    whole and centred -- they used to be drawn shrunk into a corner (a tinted square at 1.5)."""
    here = os.path.dirname(os.path.abspath(__file__))
    names = ["test_a_click_after_a_table_selection_moves_the_ring"]
    if scale == "2":
        names.append("test_every_source_marks_its_items_at_once_at_two_zooms[light]")
    tests = [f"{os.path.abspath(__file__)}::{name}" for name in names]
    env = dict(os.environ, QT_SCALE_FACTOR=scale, QT_QPA_PLATFORM="offscreen", EMBEDVIEW_SCALED_RUN=scale)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
                           str(tmp_path / "run"), *tests], cwd=here, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"{len(names)} passed" in done.stdout


def test_rings_show_over_the_density_image_and_after_zooming_in(env, qtbot):
    from embedview.gui.views.map import MapView

    emb = digits_set()
    xy = pca_2d(emb)
    view = env.add(MapView)
    view.density_threshold = 500  # 1797 points: a density image when all are in view
    env.show()
    env.load(emb, xy)
    qtbot.waitUntil(lambda: view.mode == "density", timeout=10000)
    i = isolated_points(xy, 1)[0]
    env.selection.set_selection([i], "search")
    env.selection.set_current(i, "search")
    assert marked(current_ring(view, i))
    x, y = (float(v) for v in xy[i])
    view.canvas.vb.setRange(QRectF(x - 0.05, y - 0.05, 0.1, 0.1), padding=0)
    qtbot.waitUntil(lambda: view.mode == "points", timeout=10000)
    assert marked(current_ring(view, i))


def test_the_legend_follows_a_theme_switch(env, qtbot, themed):
    emb, xy, view = _map(env, qtbot)
    legend = view.canvas.legend
    for mode in ("dark", "light", "dark"):
        themed(mode, env.host)
        _accent, fg, bg = colours()
        arr, dpr = grab(view)
        box = legend.mapRectToScene(legend.rect())
        corner = view.plot.mapFromScene(box.topLeft() + QPointF(box.width() - 4, box.height() / 2))
        pixel = arr[int(corner.y() * dpr), int(corner.x() * dpr)]
        assert np.linalg.norm(pixel - [bg.red(), bg.green(), bg.blue()]) < 40, (mode, pixel)
        assert legend.text.defaultTextColor().name() == fg.name()
        text = legend.mapRectToScene(legend.text.boundingRect())
        r = view.plot.mapFromScene(text).boundingRect()
        patch = arr[int(r.top() * dpr): int(r.bottom() * dpr), int(r.left() * dpr): int(r.right() * dpr)]
        assert near(patch, fg, 90).sum() > 20  # the label text is painted in the theme's colour


def _legend_click(qtbot, view, row: int, mods=Qt.NoModifier) -> None:
    legend = view.canvas.legend
    centre = legend.mapToScene(legend.row_rect(row).center())
    qtbot.mouseClick(view.plot.viewport(), Qt.LeftButton, mods, view.plot.mapFromScene(centre))


def test_clicking_a_legend_label_isolates_it(env, qtbot):
    emb, xy, view = _map(env, qtbot)
    state = env.model.views.map
    labels = emb.dataset.labels
    order = isolated_points(xy, 60)
    three = next(i for i in order if labels[i] == "3")
    other = next(i for i in order if labels[i] not in ("3", "5"))
    five = next(i for i in order if labels[i] == "5")
    names = view.coloring.names

    def colour_at(i):
        arr, dpr = grab(view)
        p = screen_pos(view, i)
        return arr[int(p.y() * dpr), int(p.x() * dpr)]

    vivid = {i: colour_at(i) for i in (three, other, five)}
    _legend_click(qtbot, view, names.index("3"))
    assert state.highlighted_labels == ("3",)
    assert np.abs(colour_at(three) - vivid[three]).max() < 25  # kept its colour
    faded = colour_at(other)
    bg = view.plot.backgroundBrush().color()
    bg = np.array([bg.red(), bg.green(), bg.blue()])
    assert np.abs(faded - vivid[other]).max() > 40  # greyed and faint: close to the background
    assert np.linalg.norm(faded - bg) < 0.5 * np.linalg.norm(vivid[other] - bg)
    assert "show all" in view.canvas.legend.text.toPlainText()

    _legend_click(qtbot, view, names.index("5"), Qt.ControlModifier)  # Ctrl adds
    assert state.highlighted_labels == ("3", "5")
    assert np.abs(colour_at(five) - vivid[five]).max() < 25
    _legend_click(qtbot, view, names.index("5"), Qt.ShiftModifier)  # and takes away again
    assert state.highlighted_labels == ("3",)

    _legend_click(qtbot, view, names.index("3"))  # the isolated label again: all shown
    assert state.highlighted_labels == ()
    assert np.abs(colour_at(other) - vivid[other]).max() < 25

    state.highlighted_labels = ("7",)  # the state drives the map (sessions, scripts)
    assert view.canvas.highlighted == ("7",)
    _legend_click(qtbot, view, len(view.coloring.legend))  # the "show all" row
    assert state.highlighted_labels == ()

    state.highlighted_labels = ("7",)
    view.plot.setFocus()
    qtbot.keyClick(view.plot, Qt.Key_Escape)
    assert state.highlighted_labels == ()
    assert "show all" not in view.canvas.legend.text.toPlainText()
