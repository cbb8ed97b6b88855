"""One map canvas for the Map view and each of the Compare view's maps.

A :class:`MapCanvas` is a pyqtgraph ``PlotItem`` (put it in a ``PlotWidget`` or a
``GraphicsLayoutWidget``) that draws every item's 2-D position in a
:class:`~embedview.core.maps.Coloring`, rings the shared selection and the current item, and turns
clicks, box and lasso drags into selections of the model's :class:`~embedview.model.Selection`
(with the owning view's name as the source).  Hover shows a card with the item.  Every number it
draws (colours, drawing order, density image, picking, lasso) comes from ``core/maps.py``; the
slow ones run in the runner under the keys the owner gives it.

Rendering is chosen for speed at every size (figures in ``benchmarks/bench_map.py``):

* up to ``density_threshold`` points in view: real points, all in one :class:`PointCloud` item
  with one pre-rendered symbol per colour -- never per-point brushes or ``hoverable``, which cost
  seconds at 100k -- drawn in the colouring's order;
* more points in view: a density image (``core.maps.view_content``), recomputed at most every
  :data:`VIEW_THROTTLE_MS` while panning or zooming; zooming in until few enough points are in
  view switches back to real points.  ``density_threshold=None`` never draws density; a canvas
  with ``max_points`` draws a fixed sample instead (the Compare view's small maps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from pyqtgraph import functions as fn
from pyqtgraph.Qt.internals import PrimitiveArray
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import QWidget

from embedview.core import maps
from embedview.core.maps import Coloring
from embedview.gui import theme
from embedview.gui.widgets import HoverCard, LegendBox, SelectViewBox
from embedview.model.selection import Selection
from embedview.runtime.keys import JobKey

#: at most one density recomputation per this many milliseconds while panning / zooming
VIEW_THROTTLE_MS = 40
#: density cell size in screen pixels
DENSITY_CELL_PX = 2


# -- one item for every point --------------------------------------------------------------------------
class PointCloud(pg.GraphicsObject):
    """Many points in one item: one pre-rendered symbol per style, drawn with ``drawPixmapFragments``.

    Like pyqtgraph's ``ScatterPlotItem`` in pixel mode with its symbol atlas, but with none of its
    per-point Python work (its ``setData`` looks every point up in the atlas one by one: 0.45 s
    for 100k points here) and none of its per-item overhead (bounds and culling recomputed for
    every item at every paint), so one item holds every colour: ``set_data`` is a few array
    copies and a paint is one vectorised transform plus one Qt call.  Points are drawn in the
    order given, so the caller decides what lies on top.  Picking is the canvas's job (a k-d tree).
    """

    def __init__(self) -> None:
        super().__init__()
        self.xy = np.zeros((0, 2), dtype=np.float64)
        self.codes = np.zeros(0, dtype=np.int64)
        self._styles: list[tuple[float, Any, Any]] = []
        self._atlas: QPixmap | None = None
        self._cells = np.zeros((0, 4), dtype=np.float64)  # per style: sx, sy, w, h in the atlas
        self._dpr = 1.0
        self._lo = np.zeros(2)
        self._hi = np.zeros(2)
        self._pad_px = 0.0  # half the largest symbol, in screen pixels
        self._bounds: QRectF | None = QRectF()
        self._frags = PrimitiveArray(QPainter.PixmapFragment, 10)

    @property
    def count(self) -> int:
        return len(self.xy)

    def set_data(self, xy: np.ndarray, codes: np.ndarray, styles: Sequence[tuple[float, Any, Any]]) -> None:
        """Points ``xy`` (M, 2), each drawn with ``styles[codes[i]]`` = ``(size, pen, brush)``."""
        self.prepareGeometryChange()
        self.xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        self.codes = np.asarray(codes, dtype=np.int64).reshape(-1)
        if list(styles) != self._styles:
            self._styles = list(styles)
            self._atlas = None
        if len(self.xy):
            self._lo, self._hi = self.xy.min(axis=0), self.xy.max(axis=0)
        widest = max((size + max((pg.mkPen(p).widthF() for p in _pens(pen)), default=0.0)
                      for size, pen, _ in self._styles), default=0.0)
        self._pad_px = widest / 2 + 2
        self._bounds = None
        self.update()

    def clear(self) -> None:
        self.set_data(np.zeros((0, 2)), np.zeros(0, dtype=np.int64), self._styles)

    def _render_atlas(self, dpr: float) -> None:
        from pyqtgraph.graphicsItems.ScatterPlotItem import renderSymbol

        images = []
        for size, pen, brush in self._styles:
            pens = [pg.mkPen(p) for p in _pens(pen)] or [pg.mkPen(None)]
            widest = max(pens, key=lambda p: p.widthF())
            im = renderSymbol("o", size, widest, pg.mkBrush(None), dpr=dpr)  # sized for the widest
            im.fill(Qt.transparent)
            for k, layer in enumerate(pens):  # halo first, the ring on it; the fill with the last
                last = k == len(pens) - 1
                renderSymbol("o", size, layer, pg.mkBrush(brush) if brush is not None and last else pg.mkBrush(None),
                             device=im, dpr=dpr)
            images.append(im)
        for im in images:  # copy device pixels 1:1 (drawn at its "logical" size, a dpr-2 symbol would
            im.setDevicePixelRatio(1.0)  # land shrunk in the top-left quarter of its cell: off-centre rings)
        width = sum(im.width() for im in images)
        height = max((im.height() for im in images), default=1)
        atlas = QImage(max(width, 1), max(height, 1), QImage.Format_ARGB32_Premultiplied)
        atlas.fill(Qt.transparent)
        cells = []
        painter = QPainter(atlas)
        x = 0
        for im in images:
            painter.drawImage(x, 0, im)
            cells.append((x, 0, im.width(), im.height()))
            x += im.width()
        painter.end()
        self._atlas = QPixmap.fromImage(atlas)
        self._cells = np.array(cells, dtype=np.float64).reshape(-1, 4)
        self._dpr = dpr

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt naming
        """The points' box grown by half the largest symbol *in screen pixels*: everything painted
        lies inside it, so Qt repaints (and erases) exactly the right area -- a single point's box
        would be empty and its ring would never be repainted."""
        if self._bounds is None:
            if not len(self.xy):
                self._bounds = QRectF()
            else:
                px, py = self._pixel_size()
                pad = np.array([px, py]) * self._pad_px
                lo, hi = self._lo - pad, self._hi + pad
                self._bounds = QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])
        return self._bounds

    def _pixel_size(self) -> tuple[float, float]:
        vb = self.getViewBox()
        try:
            px, py = vb.viewPixelSize() if vb is not None else (0.0, 0.0)
        except Exception:  # noqa: BLE001 - a view without a size yet
            px, py = 0.0, 0.0
        span = float(np.max(self._hi - self._lo)) if len(self.xy) else 0.0
        fallback = max(span, 1.0) * 0.05  # before the view has a size: generous
        px = px if np.isfinite(px) and px > 0 else fallback
        py = py if np.isfinite(py) and py > 0 else fallback
        return float(px), float(py)

    def viewTransformChanged(self) -> None:  # noqa: N802 - pyqtgraph naming
        """Zoom or resize: the symbols keep their pixel size, so the bounds change."""
        self.prepareGeometryChange()
        super().viewTransformChanged()
        self._bounds = None

    def paint(self, painter, option, widget=None) -> None:
        if not len(self.xy) or not self._styles:
            return
        device = painter.device()
        dpr = device.devicePixelRatioF() if device is not None else (widget.devicePixelRatioF() if widget else 1.0)
        if self._atlas is None or dpr != self._dpr:
            self._render_atlas(dpr)
        view = self.viewRect()
        x, y = self.xy[:, 0], self.xy[:, 1]
        if view is not None:
            mx, my = 0.02 * view.width(), 0.02 * view.height()
            keep = ((x >= view.left() - mx) & (x <= view.right() + mx)
                    & (y >= view.top() - my) & (y <= view.bottom() + my))
            x, y, codes = x[keep], y[keep], self.codes[keep]
        else:
            codes = self.codes
        if not len(x):
            return
        pts = fn.transformCoordinates(painter.transform(), np.vstack([x, y]))
        pts = fn.clip_array(pts, -2 ** 30, 2 ** 30)
        painter.resetTransform()
        self._frags.resize(len(x))
        frags = self._frags.ndarray()
        frags[:, 0] = pts[0]
        frags[:, 1] = pts[1]
        frags[:, 2:6] = self._cells[codes]
        frags[:, 6:10] = [1 / dpr, 1 / dpr, 0.0, 1.0]
        painter.drawPixmapFragments(*self._frags.drawargs(), self._atlas)


def _pens(pen: Any) -> list:
    """A style's pen as a list of layers (a list or tuple of pens is drawn in order; None: none)."""
    if pen is None:
        return []
    return list(pen) if isinstance(pen, (list, tuple)) else [pen]


# -- cluster names ---------------------------------------------------------------------------------------
@dataclass
class LabelLevel:
    """One granularity of cluster names: centres (k, 2) on the map, names, sizes (placement order)."""

    centres: np.ndarray
    names: list[str]
    sizes: np.ndarray


class ClusterLabels(pg.GraphicsObject):
    """Cluster names at their centres, in a font of constant pixel size on a halo box.

    Several levels, coarsest first.  At each paint the finest level whose names fit is drawn: the
    names of the clusters in view are placed biggest cluster first and a name that would overlap
    one already placed (or the legend) is dropped; a finer level "fits" when at most
    :attr:`MAX_NAMES` of its names are in view and at least :attr:`FIT_SHARE` of them (or all but
    one) can be placed.  Zoomed out the fine names are many and collide, so the coarse ones show;
    zoomed in they spread apart and the fine level takes over.  The placement is a few hundred
    rectangle tests: about 1.5 ms, run at every paint (measured at 100k points with 36 / 12
    clusters: the names add 3-5 ms to a frame, the contours 5-10 ms).
    """

    FIT_SHARE = 0.75
    #: a finer level shows only with at most this many of its names in view: zoomed out, a few
    #: big clusters read better than thirty small ones even where thirty would fit
    MAX_NAMES = 15
    PAD_X, PAD_Y, GAP = 5.0, 2.0, 3.0

    def __init__(self) -> None:
        super().__init__()
        self.levels: list[LabelLevel] = []
        self.font = QFont()
        self.font.setPixelSize(12)
        self.font.setBold(True)
        self._metrics = QFontMetricsF(self.font)
        self._widths: list[np.ndarray] = []
        self.fg = QColor("#202020")
        self.bg = QColor(255, 255, 255, 200)
        self.level = -1  #: the level drawn at the last paint (-1: none)
        self.placed: list[str] = []  #: the names drawn at the last paint
        self.obstacles: list[Any] = []  #: graphics items (the legend) no name may cover

    def set_levels(self, levels: Sequence[LabelLevel]) -> None:
        self.levels = list(levels)
        self._widths = [np.array([self._metrics.horizontalAdvance(t) for t in lv.names], dtype=np.float64)
                        for lv in self.levels]
        self.prepareGeometryChange()
        self.update()

    def set_colors(self, fg: QColor, bg: QColor) -> None:
        self.fg = QColor(fg)
        self.bg = QColor(bg)
        self.bg.setAlpha(205)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt naming
        view = self.viewRect()  # names are drawn anywhere in view, in screen pixels
        return QRectF(view) if view is not None and self.levels else QRectF()

    def viewRangeChanged(self) -> None:  # noqa: N802 - pyqtgraph naming
        self.prepareGeometryChange()
        super().viewRangeChanged()
        self.update()

    def viewTransformChanged(self) -> None:  # noqa: N802 - pyqtgraph naming
        self.prepareGeometryChange()
        super().viewTransformChanged()  # drops pyqtgraph's cached view rectangle
        self.update()

    def _blocked(self) -> list[tuple[float, float, float, float]]:
        """The visible obstacles' boxes in the view box's pixels."""
        vb = self.getViewBox()
        if vb is None:
            return []
        origin = vb.sceneBoundingRect().topLeft()
        out = []
        for item in self.obstacles:
            if item.isVisible():
                r = item.sceneBoundingRect()
                out.append((r.left() - origin.x(), r.top() - origin.y(), r.width(), r.height()))
        return out

    def _place(self, level: int, transform: QTransform, width: float, height: float) -> tuple[int, list]:
        """(names of that level in view, [(x, y, w, h, name) placed in pixels])."""
        lv = self.levels[level]
        if not len(lv.centres):
            return 0, []
        c = lv.centres
        m = transform
        px = m.m11() * c[:, 0] + m.m21() * c[:, 1] + m.dx()
        py = m.m12() * c[:, 0] + m.m22() * c[:, 1] + m.dy()
        visible = np.isfinite(px) & np.isfinite(py) & (px >= 0) & (px <= width) & (py >= 0) & (py <= height)
        taken: list[tuple[float, float, float, float]] = self._blocked()
        for bx, by, bw, bh in taken:  # a centre under the legend: that name is not in view
            visible &= ~((px >= bx) & (px <= bx + bw) & (py >= by) & (py <= by + bh))
        inside = np.flatnonzero(visible)
        h = self._metrics.height() + 2 * self.PAD_Y
        out = []
        for i in inside[np.argsort(-lv.sizes[inside], kind="stable")]:
            w = self._widths[level][i] + 2 * self.PAD_X
            x0, y0 = px[i] - w / 2, py[i] - h / 2
            x0 = min(max(x0, 1.0), max(width - w - 1.0, 1.0))  # keep the box on the canvas
            y0 = min(max(y0, 1.0), max(height - h - 1.0, 1.0))
            g = self.GAP
            if any(x0 < bx + bw + g and bx < x0 + w + g and y0 < by + bh + g and by < y0 + h + g
                   for bx, by, bw, bh in taken):
                continue
            taken.append((x0, y0, w, h))
            out.append((x0, y0, w, h, lv.names[i]))
        return len(inside), out

    def layout(self, transform: QTransform, width: float, height: float) -> tuple[int, list]:
        """(level drawn, [(x, y, w, h, name)]) for a view ``width`` x ``height`` pixels whose data
        -> pixel mapping is ``transform``: the finest level that fits, else the coarsest."""
        if not self.levels:
            return -1, []
        for level in range(len(self.levels) - 1, 0, -1):
            n_in, boxes = self._place(level, transform, width, height)
            if 0 < n_in <= self.MAX_NAMES and n_in - len(boxes) <= max(1.0, (1 - self.FIT_SHARE) * n_in):
                return level, boxes
        return 0, self._place(0, transform, width, height)[1]

    def current_layout(self) -> tuple[int, list]:
        """:meth:`layout` for the view as it is now (tests, and what the last paint drew)."""
        vb = self.getViewBox()
        if vb is None or not self.levels:
            return -1, []
        to_scene = vb.childGroup.sceneTransform()
        rect = vb.sceneBoundingRect()
        move = QTransform.fromTranslate(-rect.left(), -rect.top())
        return self.layout(to_scene * move, rect.width(), rect.height())

    def paint(self, painter, option, widget=None) -> None:
        if not self.levels:
            return
        vb = self.getViewBox()
        if vb is None:
            return
        # the view box's own rectangle in device pixels: names stay inside it
        rect = vb.sceneBoundingRect()
        to_device = painter.transform()
        corner = self.mapFromScene(rect.topLeft())
        origin = to_device.map(corner)
        move = QTransform.fromTranslate(-origin.x(), -origin.y())
        self.level, boxes = self.layout(to_device * move, rect.width(), rect.height())
        self.placed = [b[4] for b in boxes]
        painter.save()
        painter.resetTransform()
        painter.translate(origin)
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setFont(self.font)
        painter.setPen(Qt.NoPen)
        painter.setBrush(self.bg)
        for x, y, w, h, _ in boxes:
            painter.drawRoundedRect(QRectF(x, y, w, h), 4, 4)
        painter.setPen(self.fg)
        for x, y, w, h, name in boxes:
            painter.drawText(QRectF(x, y, w, h), Qt.AlignCenter, name)
        painter.restore()


class ContourLine(pg.GraphicsObject):
    """One density iso-line (many closed lines, NaN between them) as one path built once, stroked
    with a cosmetic pen of constant pixel width: pyqtgraph's ``PlotCurveItem`` re-checked and
    re-stroked its data at every frame (100-250 ms at 100k points on a loaded machine; this: a few)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        super().__init__()
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.path = pg.arrayToQPath(self.x, self.y, connect="finite")
        self._rect = self.path.boundingRect()
        self.pen = pg.mkPen("#808080")

    def setPen(self, pen: Any) -> None:  # noqa: N802 - Qt naming
        self.pen = pg.mkPen(pen)
        self.pen.setCosmetic(True)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt naming
        return self._rect

    def paint(self, painter, option, widget=None) -> None:
        if not len(self.x):
            return
        # mapped to pixels and stroked without antialiasing: the antialiased stroke of the lines of
        # 100k points measured 150-210 ms a frame here (2 loaded cores), 20-45 ms without
        pts = fn.transformCoordinates(painter.transform(), np.vstack([self.x, self.y]))
        pts = fn.clip_array(pts, -2 ** 20, 2 ** 20)
        path = pg.arrayToQPath(pts[0], pts[1], connect="finite")
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.Antialiasing, False)
        painter.setPen(self.pen)
        painter.setBrush(Qt.NoBrush)
        painter.drawPath(path)
        painter.restore()


def contour_paths(grid: np.ndarray, rect: Sequence[float], levels: Sequence[float],
                  progress: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(worker thread) The iso-lines of ``grid`` (rows = y) at ``levels`` as (x, y) arrays on the
    map, lines separated by NaN (one curve item per level)."""
    from embedview.core.progress import TaskState

    task = TaskState.coerce(progress)
    x0, y0, w, h = (float(v) for v in rect)
    ny, nx = grid.shape
    out = []
    for k, level in enumerate(levels):
        task.report(k, len(levels), "density contours")
        lines = fn.isocurve(grid, level, connected=True, extendToEdge=True)
        xs: list[float] = []
        ys: list[float] = []
        for line in lines:
            arr = np.asarray(line, dtype=np.float64)  # (row, column) in cells
            xs.extend((x0 + (arr[:, 1] + 0.5) * w / nx).tolist() + [np.nan])
            ys.extend((y0 + (arr[:, 0] + 0.5) * h / ny).tolist() + [np.nan])
        out.append((np.array(xs), np.array(ys)))
    return out


class Overlay(PointCloud):
    """A :class:`PointCloud` for a few marked points (current item, selection rings); its bounds
    cover its rings in screen pixels at every zoom (:meth:`PointCloud.boundingRect`)."""


def ring_styles(point_size: float, colors: dict[str, str] | None = None) -> tuple[list, list]:
    """Styles of the selection rings and of the current item's mark (``PointCloud`` styles) in the
    theme's colours: a ring in the plot's foreground colour on a halo of its background colour
    (the ring shows on every point colour and on both backgrounds), and for the current item a
    thick accent ring on a wide halo."""
    c = colors or theme.plot_colors()
    bg, fg, accent = QColor(c["plot_background"]), QColor(c["plot_foreground"]), QColor(c["accent"])
    fill = QColor(accent)
    fill.setAlpha(60)
    size = point_size + 6
    sel = [(size, (pg.mkPen(bg, width=4), pg.mkPen(fg, width=2)), None)]
    cur = [(22, pg.mkPen(bg, width=6), None), (22, pg.mkPen(accent, width=3), pg.mkBrush(fill))]
    return sel, cur


# -- point styles ----------------------------------------------------------------------------------------
def main_point_style(n: int) -> tuple[float, int]:
    """Point size (px) and opacity for ``n`` points on the Map view."""
    if n <= 2_000:
        return 8.0, 230
    if n <= 20_000:
        return 6.0, 210
    if n <= 100_000:
        return 4.0, 170
    return 3.0, 130


def small_point_style(n: int) -> tuple[float, int]:
    """Smaller points for the Compare view's maps: two or three of them share the main map's width."""
    if n <= 2_000:
        return 7.0, 220
    if n <= 20_000:
        return 4.0, 180
    return 3.0, 150


def qcolor(color: Any) -> QColor:
    """A QColor from ``#rrggbb``, an RGBA row or a QColor."""
    if isinstance(color, QColor):
        return QColor(color)
    if isinstance(color, str):
        return QColor(color)
    r, g, b, *a = (int(v) for v in color)
    return QColor(r, g, b, a[0] if a else 255)


@dataclass(frozen=True)
class CanvasKeys:
    """The runner keys of one canvas's jobs (one live job per key, so each canvas needs its own)."""

    index: JobKey  #: the k-d tree for picking
    select: JobKey  #: a lasso's hit test
    view: JobKey | None = None  #: the density image (canvases that draw one)

    def all(self) -> list[JobKey]:
        return [k for k in (self.index, self.select, self.view) if k is not None]


# -- the canvas ----------------------------------------------------------------------------------------
class MapCanvas(QObject):
    """Points of a map in a colouring, selection and current rings, click / box / lasso, hover.

    A click on a categorical legend row asks to isolate that label: ``highlight_requested`` carries
    the labels to isolate (``core.maps.next_highlight``); the owner keeps them in its state and
    calls :meth:`set_highlight`, which dims every other label.
    """

    #: the labels the user asks to isolate (a tuple of legend keys; empty: show all)
    highlight_requested = Signal(object)

    def __init__(self, selection: Selection, runner: Any, source: str, keys: CanvasKeys, *,
                 density_threshold: int | None = None, max_points: int | None = None,
                 point_style: Callable[[int], tuple[float, int]] = main_point_style,
                 pick_px: float = maps.PICK_RADIUS_PX, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.selection = selection
        self.runner = runner
        self.source = source
        self.keys = keys
        self.density_threshold = density_threshold
        self.max_points = max_points
        self.point_style = point_style
        self.pick_px = pick_px
        self.xy: np.ndarray | None = None  # (N, 2) every item's position, dataset order
        self.shown = np.empty(0, dtype=np.int64)  # items drawn and picked (all, or a fixed sample)
        self.tree: Any = None  # over xy[shown]
        self.coloring: Coloring | None = None  # as computed (hover cards, legend)
        self.highlighted: tuple[str, ...] = ()  # labels isolated from the legend
        self._drawn: Coloring | None = None  # what is painted: the colouring with the others dimmed
        self._legend_on = True
        self.mode = ""  # "points" or "density"
        self.point_size = 8.0  # of the points as last drawn (the selection rings are a little larger)
        self.hover: HoverCard | None = None
        self._hover_text: Callable[[int], str] | None = None
        self._thumbnails: Any = None
        self._hover_pos: Any = None
        self._hover_widget: pg.GraphicsView | None = None

        self.vb = SelectViewBox()
        self.plot_item = pg.PlotItem(viewBox=self.vb)
        self.plot_item.hideAxis("left")
        self.plot_item.hideAxis("bottom")
        self.plot_item.hideButtons()
        self.plot_item.setMenuEnabled(False)
        self.vb.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-10)
        self.vb.addItem(self.image, ignoreBounds=True)
        self.image.hide()
        self.cloud = PointCloud()  # every point (or those in view), all colours
        self.sel_item = Overlay()  # rings around the selected points
        self.cur_item = Overlay()  # the current item
        for z, item in enumerate((self.cloud, self.sel_item, self.cur_item)):
            item.setZValue(z)
            self.vb.addItem(item, ignoreBounds=True)
        self.labels = ClusterLabels()  # cluster names, above the points and rings
        self.labels.setZValue(5)
        self.vb.addItem(self.labels, ignoreBounds=True)
        self.contour_items: list[ContourLine] = []  # density iso-lines, under the points
        self._contours: list[tuple[np.ndarray, np.ndarray]] = []
        self.legend = LegendBox(self.vb)
        self.legend.on_click = self._on_legend_click
        self.labels.obstacles = [self.legend]

        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(VIEW_THROTTLE_MS)
        self._view_timer.timeout.connect(self._request_view)
        self._hover_timer = QTimer(self)
        self._hover_timer.setSingleShot(True)
        self._hover_timer.setInterval(0)  # handle the newest mouse position once per event-loop pass
        self._hover_timer.timeout.connect(self._do_hover)

        self.vb.clicked.connect(self._on_click)
        self.vb.box_selected.connect(lambda rect, mods: self.select_rect(rect, bool(mods & Qt.ControlModifier)))
        self.vb.lasso_selected.connect(lambda poly, mods: self.select_polygon(poly, bool(mods & Qt.ControlModifier)))
        self.vb.sigRangeChanged.connect(self._on_range_changed)
        self.vb.sigResized.connect(self._on_range_changed)
        self._on_selection = lambda *_: self.draw_selection()
        selection.selection_changed.connect(self._on_selection)
        selection.current_changed.connect(self._on_selection)
        self.plot_item.destroyed.connect(lambda *_: self._unfollow())
        self.plot_item.installEventFilter(self)  # the theme changed: rings and legend follow
        self.restyle()

    def close(self) -> None:
        """Stop every job and stop following the selection (the canvas is thrown away)."""
        self.shutdown()
        self._unfollow()

    def _unfollow(self) -> None:
        for signal in (self.selection.selection_changed, self.selection.current_changed):
            try:
                signal.disconnect(self._on_selection)
            except (TypeError, ValueError):  # already gone
                pass

    # -- data ------------------------------------------------------------------------------------------
    def set_points(self, xy: np.ndarray | None) -> bool:
        """Positions of every item (dataset order); None clears.  False when ``xy`` is what is shown."""
        if xy is not None:
            xy = np.ascontiguousarray(np.asarray(xy, dtype=np.float32)[:, :2])
            if xy.shape[1] < 2:
                xy = np.column_stack([xy[:, 0], np.zeros(len(xy), np.float32)])
        if xy is not None and self.xy is not None and xy.shape == self.xy.shape and np.array_equal(xy, self.xy):
            return False
        self.xy, self.tree = xy, None
        self._clear_points()
        if xy is None:
            self.shown = np.empty(0, dtype=np.int64)
            self.draw_selection()
            return True
        self.shown = maps.sample_indices(len(xy), self.max_points)
        pts = xy if len(self.shown) == len(xy) else xy[self.shown]
        self.runner.submit(self.keys.index, maps.build_tree, np.asarray(pts, dtype=np.float64),
                           on_result=self._set_tree, is_stale=lambda xy=xy: self.xy is not xy)
        self.render()
        self.reset_view()
        self.draw_selection()
        return True

    def _set_tree(self, tree: Any) -> None:
        self.tree = tree

    def set_coloring(self, coloring: Coloring | None, legend: bool = True) -> None:
        """Draw in ``coloring`` (None: nothing until one comes); its rows go in the legend when
        ``legend`` (continuous colourings show a colour bar instead, placed by the view)."""
        self.coloring = coloring
        self._legend_on = legend
        self._apply_highlight()

    def set_highlight(self, labels: Sequence[str]) -> None:
        """Isolate ``labels`` (legend keys, ``core.maps.legend_keys``): the other categories are
        greyed and drawn underneath; empty shows every label alike."""
        labels = tuple(str(k) for k in labels)
        if labels != self.highlighted:
            self.highlighted = labels
            self._apply_highlight()

    def _apply_highlight(self) -> None:
        c = self.coloring
        self._drawn = maps.highlight_coloring(c, self.highlighted) if c is not None else None
        self._update_legend()
        self.render()

    def _update_legend(self) -> None:
        c = self.coloring
        if c is None or not self._legend_on:
            self.legend.set_rows([])
            return
        keys = maps.legend_keys(c)
        active = self._drawn is not c  # something is isolated
        muted = QColor(theme.plot_colors()["muted"])
        rows = [(qcolor(color), text, active and key not in self.highlighted)
                for (color, text), key in zip(c.legend, keys, strict=True)]
        if active:
            rows.append((None, "show all", False))
        self.legend.set_rows(rows, muted=muted, clickable=any(k is not None for k in keys))

    def _on_legend_click(self, row: int, mods: Any) -> None:
        c = self.coloring
        if c is None:
            return
        keys = maps.legend_keys(c)
        if row >= len(keys):  # "show all"
            self.highlight_requested.emit(())
        elif keys[row] is not None:
            additive = bool(mods & (Qt.ControlModifier | Qt.ShiftModifier))
            self.highlight_requested.emit(maps.next_highlight(self.highlighted, keys[row], additive))

    def restyle(self) -> None:
        """Take the colours of the theme in use (rings, legend); called when the palette changes."""
        c = theme.plot_colors()
        self.legend.set_colors(QColor(c["plot_foreground"]), QColor(c["plot_background"]))
        self.labels.set_colors(QColor(c["plot_foreground"]), QColor(c["plot_background"]))
        self._restyle_contours()
        self._update_legend()
        self.draw_selection()

    # -- cluster names and density contours --------------------------------------------------------------
    def set_cluster_labels(self, levels: Sequence[LabelLevel]) -> None:
        """Cluster names to draw, coarsest level first (empty: none)."""
        self.labels.set_levels(levels)

    def set_contours(self, lines: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Density iso-lines ((x, y) arrays with NaN between lines, outermost first); empty: none."""
        for item in self.contour_items:
            self.vb.removeItem(item)
        self.contour_items = []
        self._contours = list(lines)
        for k, (x, y) in enumerate(self._contours):
            item = ContourLine(x, y)
            item.setZValue(-5 + k * 0.01)
            self.vb.addItem(item, ignoreBounds=True)
            self.contour_items.append(item)
        self._restyle_contours()

    def _restyle_contours(self) -> None:
        c = theme.plot_colors()
        n = len(self.contour_items)
        for k, item in enumerate(self.contour_items):
            color = QColor(c["plot_foreground"])
            color.setAlpha(70 + int(110 * (k + 1) / max(n, 1)))  # inner (denser) lines stronger
            item.setPen(pg.mkPen(color, width=1))

    # -- drawing -------------------------------------------------------------------------------------------
    def _clear_points(self) -> None:
        self.cloud.clear()
        self.image.hide()
        self.mode = ""
        if self.hover is not None:
            self.hover.hide_card()

    def clear(self) -> None:
        """Forget the points and the colouring."""
        self.coloring = None
        self._drawn = None
        self.legend.set_rows([])
        self.set_cluster_labels([])
        self.set_contours([])
        self.set_points(None)

    def render(self) -> None:
        """Draw the points: all of them, or (above the density threshold) whatever the view needs."""
        c = self._drawn
        if self.xy is None or c is None or len(c.codes) != len(self.xy):
            self._clear_points()
            return
        if self.density_threshold is not None and len(self.shown) > self.density_threshold:
            self._request_view()
        else:
            self._draw_points(None if len(self.shown) == len(self.xy) else self.shown)

    def _draw_points(self, indices: np.ndarray | None) -> None:
        """Draw items ``indices`` (None: every item) as real points, in the colouring's drawing order."""
        c = self._drawn
        if self.xy is None or c is None:
            return
        self.image.hide()
        self.mode = "points"
        xy = self.xy if indices is None else self.xy[indices]
        codes = c.codes if indices is None else c.codes[indices]
        size, alpha = self.point_style(len(xy))
        grey_alpha = min(alpha, 150)
        styles = []
        for code in range(-1, c.n_colors):
            color = qcolor(maps.OTHER_COLOR if code < 0 else c.colors[code])
            color.setAlpha(grey_alpha if code < 0 else round(alpha * color.alpha() / 255))
            styles.append((size, None, color))
        order = maps.draw_order(c, codes)
        self.cloud.set_data(xy[order], np.asarray(codes, dtype=np.int64)[order] + 1, styles)
        if size != self.point_size:
            self.point_size = size
            self.draw_selection()

    def _on_range_changed(self, *args: Any) -> None:
        if (self.xy is not None and self.density_threshold is not None and len(self.shown) > self.density_threshold
                and not self._view_timer.isActive()):
            self._view_timer.start()

    def _request_view(self) -> None:
        xy, coloring = self.xy, self._drawn
        if xy is None or coloring is None or self.keys.view is None or self.density_threshold is None:
            return
        (x0, x1), (y0, y1) = self.vb.viewRange()
        size = self.vb.size()
        nx = max(16, int(size.width() / DENSITY_CELL_PX))
        ny = max(16, int(size.height() / DENSITY_CELL_PX))
        rect = (float(x0), float(y0), float(x1 - x0) or 1.0, float(y1 - y0) or 1.0)
        self.runner.submit(self.keys.view, maps.view_content, xy, coloring, rect, (nx, ny), self.density_threshold,
                           on_result=self._show_view,
                           is_stale=lambda: self.xy is not xy or self._drawn is not coloring)

    def _show_view(self, result: tuple) -> None:
        if result[0] == "points":
            self._draw_points(result[1])
            return
        _, rgba, (x0, y0, w, h) = result
        self.cloud.clear()
        self.image.setImage(rgba, autoLevels=False)
        self.image.setRect(QRectF(x0, y0, w, h))
        self.image.show()
        self.mode = "density"

    def reset_view(self) -> None:
        """Zoom to show every drawn point."""
        if self.xy is None or len(self.xy) == 0:
            return
        pts = self.xy if len(self.shown) == len(self.xy) else self.xy[self.shown]
        self.vb.setRange(QRectF(*maps.fit_box(pts)), padding=0.05)
        if self.density_threshold is not None and len(self.shown) > self.density_threshold:
            self._request_view()

    def draw_selection(self) -> None:
        """Ring the shared selection's items and mark the current one (:func:`ring_styles`: in
        the theme's colours, on a halo, so they show on every point colour and both themes)."""
        xy = self.xy
        sel = self.selection.selected
        sel_styles, cur_styles = ring_styles(self.point_size)
        if xy is None or sel.size == 0:
            self.sel_item.clear()
        else:
            sel = sel[(sel >= 0) & (sel < len(xy))]
            if self.max_points is not None:
                sel = sel[:self.max_points]
            self.sel_item.set_data(xy[sel], np.zeros(len(sel), dtype=np.int64), sel_styles)
        i = self.selection.current
        if xy is None or not 0 <= i < len(xy):
            self.cur_item.clear()
            return
        self.cur_item.set_data(np.repeat(xy[i:i + 1], 2, axis=0), np.array([0, 1]), cur_styles)

    # -- picking and selecting ---------------------------------------------------------------------------
    def pixel_size(self) -> tuple[float, float]:
        px = self.vb.viewPixelSize()
        return float(px[0]), float(px[1])

    def point_at(self, x: float, y: float, radius_px: float | None = None) -> int:
        """The drawn item nearest to data position ``(x, y)`` within the pick radius (screen pixels), or -1."""
        if self.xy is None or not len(self.shown):
            return -1
        radius = self.pick_px if radius_px is None else radius_px
        pts = self.xy if len(self.shown) == len(self.xy) else self.xy[self.shown]
        j = maps.nearest_point(pts, x, y, self.pixel_size(), radius, self.tree)
        return int(self.shown[j]) if j >= 0 else -1

    def _on_click(self, pos: QPointF, mods: Any) -> None:
        i = self.point_at(pos.x(), pos.y())
        add = bool(mods & Qt.ControlModifier)
        if i >= 0:
            self.selection.set_current(i, self.source)
            if add:
                self.selection.add_to_selection([i], self.source)
            else:
                self.selection.set_selection([i], self.source)
        elif not add:
            self.selection.set_selection([], self.source)

    def select_rect(self, rect: QRectF, add: bool = False) -> np.ndarray:
        """Select the items inside ``rect`` (data coordinates); returns their indices."""
        if self.xy is None:
            return np.empty(0, dtype=np.int64)
        idx = maps.points_in_box(self.xy, rect.left(), rect.top(), rect.right(), rect.bottom())
        self._apply_selection(idx, add)
        return idx

    def select_polygon(self, polygon: np.ndarray, add: bool = False) -> None:
        """Select the items inside the lasso ``polygon`` ((M, 2) data coordinates), in the runner."""
        if self.xy is not None:
            self.runner.submit(self.keys.select, maps.points_in_polygon, self.xy, polygon,
                               on_result=lambda idx: self._apply_selection(idx, add))

    def _apply_selection(self, idx: np.ndarray, add: bool) -> None:
        if add:
            self.selection.add_to_selection(idx, self.source)
        else:
            self.selection.set_selection(idx, self.source)

    # -- hover -----------------------------------------------------------------------------------------------
    def enable_hover(self, widget: pg.GraphicsView, text: Callable[[int], str], thumbnails: Any = None,
                     card_parent: QWidget | None = None) -> None:
        """Show a card for the item under the mouse in ``widget`` (the view the canvas is in):
        ``text(i)`` its rich text, and ``thumbnails.get(i)`` its picture when there is one."""
        self._hover_widget = widget
        self._hover_text = text
        self._thumbnails = thumbnails
        self.hover = HoverCard(card_parent or widget)
        widget.scene().sigMouseMoved.connect(self._on_mouse_moved)
        widget.viewport().installEventFilter(self)
        if thumbnails is not None:
            thumbnails.ready.connect(self._on_thumbnail)

    def _on_mouse_moved(self, scene_pos: Any) -> None:
        self._hover_pos = scene_pos
        if not self._hover_timer.isActive():
            self._hover_timer.start()

    def _do_hover(self) -> None:
        pos, card, widget = self._hover_pos, self.hover, self._hover_widget
        if card is None or widget is None or self._hover_text is None:
            return
        if pos is None or self.xy is None or not self.vb.sceneBoundingRect().contains(pos):
            card.hide_card()
            return
        data = self.vb.mapSceneToView(pos)
        i = self.point_at(data.x(), data.y())
        if i < 0:
            card.hide_card()
            return
        if i == card.index and card.isVisible():
            return
        global_pos = widget.viewport().mapToGlobal(widget.mapFromScene(pos))
        card.show_at(global_pos, i, self._hover_text(i), self._thumbnails.get(i) if self._thumbnails else None)

    def _on_thumbnail(self, i: int) -> None:
        if self.hover is not None and i == self.hover.index and self.hover.isVisible():
            self.hover.set_pixmap(self._thumbnails.get(i))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if event.type() == QEvent.PaletteChange and obj is self.plot_item:
            self.restyle()
            return False
        if event.type() == QEvent.Leave and self.hover is not None:
            self._hover_pos = None
            self.hover.hide_card()
        return False

    # -- shutdown ----------------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the timers and every job of this canvas."""
        if self.hover is not None:
            self.hover.hide_card()
        self._view_timer.stop()
        self._hover_timer.stop()
        for key in self.keys.all():
            self.runner.cancel(key)
