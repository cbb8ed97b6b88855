"""Map: the 2-D projection (UMAP or PCA) of the active embedding set as a zoomable scatter plot.

Rendering is chosen for speed at every size (figures in ``benchmarks/bench_map.py``):

* up to :data:`DENSITY_THRESHOLD` points in view: real points, all in one :class:`PointCloud`
  item with one pre-rendered symbol (one brush) per colour -- never per-point brushes or
  ``hoverable``, which cost seconds at 100k -- drawn in category order;
* more points in view: a density image: the points in view are binned with ``numpy.bincount``
  into a grid of 2x2-pixel cells, each cell coloured by its dominant category (or its mean value
  for a continuous colouring), opacity by log count.  It is recomputed in the runner (key
  ``"map-view"``) at most every :data:`VIEW_THROTTLE_MS` while panning or zooming; zooming in
  until few enough points are in view switches back to real points.

Colouring (label, a metadata column, outlier score, duplicate group) is computed in the runner
(key ``"map-color"``) into integer colour codes, so a million items never block the window.
Hover finds the nearest point with a ``scipy.spatial.cKDTree`` (built in the runner, key
``"map-index"``) in screen-pixel units; click selects one point, Shift-drag (or Box mode) a
rectangle and Alt-drag (or Lasso mode) a free-hand region.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyqtgraph as pg
from pyqtgraph import functions as fn
from pyqtgraph.Qt.internals import PrimitiveArray
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QHBoxLayout, QLabel, QStackedLayout, QToolButton,
                               QVBoxLayout)

from embedview.core.dataset import Dataset
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.widgets import (OTHER_COLOR, HoverCard, LegendBox, SelectViewBox, categorical_colors, colormap,
                                   colors_to_rgba, export_plot_item, item_html, points_in_polygon, points_in_rect)
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.gui.views.base import View

#: above this many points in view, draw a density image instead of points
DENSITY_THRESHOLD = 200_000
#: categories with their own colour; the rest are drawn grey as "other"
MAX_CATEGORIES = 20
#: colour steps of a continuous colouring
CONTINUOUS_LEVELS = 24
#: at most one density recomputation per this many milliseconds while panning / zooming
VIEW_THROTTLE_MS = 40
#: density cell size in screen pixels
DENSITY_CELL_PX = 2
#: hover / click pick radius in screen pixels
PICK_RADIUS_PX = 10


# -- one item for every point --------------------------------------------------------------------------
class PointCloud(pg.GraphicsObject):
    """Many points in one item: one pre-rendered symbol per style, drawn with ``drawPixmapFragments``.

    Like pyqtgraph's ``ScatterPlotItem`` in pixel mode with its symbol atlas, but with none of its
    per-point Python work (its ``setData`` looks every point up in the atlas one by one: 0.45 s
    for 100k points here) and none of its per-item overhead (bounds and culling recomputed for
    every item at every paint), so one item holds every colour: ``set_data`` is a few array
    copies and a paint is one vectorised transform plus one Qt call.  Points are drawn in the
    order given, so the caller decides what lies on top.  Picking is the view's job (a k-d tree).
    """

    def __init__(self) -> None:
        super().__init__()
        self.xy = np.zeros((0, 2), dtype=np.float64)
        self.codes = np.zeros(0, dtype=np.int64)
        self._styles: List[Tuple[float, Any, Any]] = []
        self._atlas: Optional[QPixmap] = None
        self._cells = np.zeros((0, 4), dtype=np.float64)  # per style: sx, sy, w, h in the atlas
        self._dpr = 1.0
        self._bounds = QRectF()
        self._frags = PrimitiveArray(QPainter.PixmapFragment, 10)

    @property
    def count(self) -> int:
        return len(self.xy)

    def set_data(self, xy: np.ndarray, codes: np.ndarray, styles: Sequence[Tuple[float, Any, Any]]) -> None:
        """Points ``xy`` (M, 2), each drawn with ``styles[codes[i]]`` = ``(size, pen, brush)``."""
        self.prepareGeometryChange()
        self.xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        self.codes = np.asarray(codes, dtype=np.int64).reshape(-1)
        if list(styles) != self._styles:
            self._styles = list(styles)
            self._atlas = None
        if len(self.xy):
            lo, hi = self.xy.min(axis=0), self.xy.max(axis=0)
            pad = 0.02 * np.maximum(hi - lo, 1e-9)
            self._bounds = QRectF(lo[0] - pad[0], lo[1] - pad[1], hi[0] - lo[0] + 2 * pad[0], hi[1] - lo[1] + 2 * pad[1])
        else:
            self._bounds = QRectF()
        self.update()

    def clear(self) -> None:
        self.set_data(np.zeros((0, 2)), np.zeros(0, dtype=np.int64), self._styles)

    def _render_atlas(self, dpr: float) -> None:
        from pyqtgraph.graphicsItems.ScatterPlotItem import renderSymbol

        images = [renderSymbol("o", size, pg.mkPen(pen) if pen is not None else pg.mkPen(None),
                               pg.mkBrush(brush) if brush is not None else pg.mkBrush(None), dpr=dpr)
                  for size, pen, brush in self._styles]
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
        return self._bounds

    def paint(self, painter, option, widget=None) -> None:
        if not len(self.xy) or not self._styles:
            return
        dpr = widget.devicePixelRatioF() if widget is not None else 1.0
        if self._atlas is None or dpr != self._dpr:
            self._render_atlas(dpr)
        view = self.viewRect()
        x, y = self.xy[:, 0], self.xy[:, 1]
        if view is not None:
            mx, my = 0.02 * view.width(), 0.02 * view.height()
            keep = (x >= view.left() - mx) & (x <= view.right() + mx) & (y >= view.top() - my) & (y <= view.bottom() + my)
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


# -- colouring ---------------------------------------------------------------------------------------
@dataclass
class Coloring:
    """How every point is coloured: an integer code per point into ``colors`` (-1: grey).

    ``order`` sorts the points by code (for the density image); ``legend`` is the list of
    ``(QColor, text)`` rows to show; continuous colourings also carry ``values``, ``cmap`` and
    ``vrange`` for the colour bar and the density image's per-cell mean.
    """

    title: str
    codes: np.ndarray
    colors: List[QColor]
    legend: List[Tuple[QColor, str]] = field(default_factory=list)
    values: Optional[np.ndarray] = None
    cmap: Any = None
    vrange: Tuple[float, float] = (0.0, 1.0)
    draw_order: List[int] = field(default_factory=list)  # codes, first drawn first (-1 included)
    names: List[str] = field(default_factory=list)  # name of each code (categorical)
    group_ids: Optional[np.ndarray] = None  # duplicate group of each item (-1: none)

    @property
    def continuous(self) -> bool:
        return self.values is not None

    def rgba_table(self) -> np.ndarray:
        """(n_colors + 1, 4) uint8; the last row is the grey of code -1."""
        return colors_to_rgba(list(self.colors) + [OTHER_COLOR])

    def describe(self, i: int) -> str:
        """The colouring's value for item ``i`` as a line for the hover card."""
        if self.continuous:
            v = self.values[i]
            return f"{self.title}: {v:.4g}" if np.isfinite(v) else f"{self.title}: n/a"
        if self.group_ids is not None:
            g = int(self.group_ids[i])
            return f"{self.title} {g}" if g >= 0 else "not duplicated"
        code = int(self.codes[i])
        return f"{self.title}: {self.names[code]}" if 0 <= code < len(self.names) else ""


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _natural_key(name: str):
    """Sort numbers by value ("2" before "10"), then text."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def categorical_coloring(values: Sequence[Any], title: str, other: str = "other") -> Coloring:
    """Colour by a column of categories: the :data:`MAX_CATEGORIES` most frequent get colours.

    One pass of plain Python with a dict (no ``np.unique`` over strings), so a worker thread
    running it on a million items never holds the GIL for long and the window stays responsive.
    """
    lookup: Dict[str, int] = {}

    def code(v: Any) -> int:
        if _missing(v):
            return -1
        key = str(v)
        c = lookup.get(key)
        if c is None:
            c = lookup[key] = len(lookup)
        return c

    raw = np.fromiter((code(v) for v in values), dtype=np.int64, count=len(values))
    distinct = list(lookup)
    counts = np.bincount(raw[raw >= 0], minlength=len(distinct))
    top = sorted(np.argsort(-counts, kind="stable")[:MAX_CATEGORIES].tolist(), key=lambda t: _natural_key(distinct[t]))
    remap = np.full(len(distinct) + 1, -1, dtype=np.int32)  # the extra last slot maps raw -1 to -1
    remap[top] = np.arange(len(top), dtype=np.int32)
    codes = remap[raw]
    names = [distinct[t] for t in top]
    colors = categorical_colors(len(top))
    legend: List[Tuple[QColor, str]] = [(c, f"{name} ({counts[t]:,})") for c, name, t in zip(colors, names, top)]
    dropped = len(distinct) - len(top)
    n_other = int((codes == -1).sum())
    if n_other:
        what = f"{dropped:,} more values" if dropped else other
        if dropped and (raw == -1).any():
            what += f" / {other}"
        legend.append((OTHER_COLOR, f"{what} ({n_other:,})"))
    sizes = np.bincount(codes[codes >= 0], minlength=len(names))
    draw = [-1] + [int(c) for c in np.argsort(-sizes, kind="stable")]  # big classes under small ones
    return Coloring(title=title, codes=codes, colors=colors, legend=legend, names=names, draw_order=draw)


def continuous_coloring(values: Sequence[Any], title: str, cmap_name: str = "viridis",
                        vrange: Optional[Tuple[float, float]] = None) -> Coloring:
    """Colour by a number per item (NaN / None grey), quantised into :data:`CONTINUOUS_LEVELS`
    over ``vrange`` (default: the values' own range)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        vals = values.astype(np.float64)
    else:
        vals = np.fromiter((np.nan if _missing(v) else float(v) for v in values), dtype=np.float64, count=len(values))
    finite = np.isfinite(vals)
    if vrange is not None:
        lo, hi = float(vrange[0]), float(vrange[1])
    else:
        lo, hi = (float(vals[finite].min()), float(vals[finite].max())) if finite.any() else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    codes = np.full(len(vals), -1, dtype=np.int32)
    codes[finite] = np.clip(((vals[finite] - lo) / (hi - lo) * CONTINUOUS_LEVELS).astype(np.int32), 0,
                            CONTINUOUS_LEVELS - 1)
    cmap = colormap(cmap_name)
    centres = (np.arange(CONTINUOUS_LEVELS) + 0.5) / CONTINUOUS_LEVELS
    colors = list(cmap.map(centres, mode="qcolor"))
    legend = []
    if (~finite).any():
        legend.append((OTHER_COLOR, f"no value ({int((~finite).sum()):,})"))
    return Coloring(title=title, codes=codes, colors=colors, legend=legend, values=vals, cmap=cmap,
                    vrange=(lo, hi), draw_order=[-1] + list(range(CONTINUOUS_LEVELS)))


def group_coloring(groups: Sequence[Sequence[int]], n: int, title: str = "duplicate group") -> Coloring:
    """Colour members of each group (colours repeat every :data:`MAX_CATEGORIES` groups), others grey."""
    codes = np.full(n, -1, dtype=np.int32)
    gid = np.full(n, -1, dtype=np.int64)
    for g, members in enumerate(groups):
        members = np.asarray(members, dtype=np.int64)
        codes[members] = g % MAX_CATEGORIES
        gid[members] = g
    colors = categorical_colors(MAX_CATEGORIES)
    in_groups = int((codes >= 0).sum())
    legend = [(colors[0], f"{len(groups):,} groups, {in_groups:,} items (a colour per group)"),
              (OTHER_COLOR, f"not duplicated ({n - in_groups:,})")]
    return Coloring(title=title, codes=codes, colors=colors, legend=legend, group_ids=gid,
                    draw_order=[-1] + list(range(MAX_CATEGORIES)))


def _numeric(values: Sequence[Any]) -> Optional[np.ndarray]:
    """The column as floats if every present value is a real number (not bool), else None."""
    if isinstance(values, np.ndarray):
        return values.astype(np.float64) if values.dtype.kind in "iuf" else None
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if _missing(v):
            out[i] = np.nan
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
            out[i] = float(v)
        else:
            return None
    return out


def build_coloring(dataset: Dataset, key: Tuple[str, str], analysis: Any = None, progress=None) -> Optional[Coloring]:
    """The :class:`Coloring` for a colour-by choice (runs in a worker thread).

    ``key`` is ``("none", "")``, ``("label", "")``, ``("outliers", "")``, ``("duplicates", "")``
    or ``("meta", column)``; ``analysis`` is the matching analysis result (outlier scores /
    duplicate finder) where one is needed.
    """
    kind, column = key
    n = len(dataset)
    if kind == "label" and dataset.labels is not None:
        return categorical_coloring(dataset.labels, "label", other="unlabelled")
    if kind == "outliers" and analysis is not None:
        scores = np.asarray(getattr(analysis, "scores_", analysis), dtype=np.float64)
        return continuous_coloring(scores, "outlier score", "viridis")
    if kind == "duplicates" and analysis is not None:
        return group_coloring(getattr(analysis, "groups_", analysis), n)
    if kind == "meta" and column in dataset.metadata:
        col = dataset.metadata[column]
        numeric = _numeric(col)
        if numeric is not None and len(np.unique(numeric[np.isfinite(numeric)])) > MAX_CATEGORIES:
            return continuous_coloring(numeric, str(column))
        return categorical_coloring(list(col), str(column), other="missing")
    return Coloring(title="", codes=np.zeros(n, dtype=np.int32), colors=[QColor("#3b6fb6")], draw_order=[0])


# -- density image and picking (pure numpy; run in worker threads) -------------------------------------
def view_content(xy: np.ndarray, coloring: Coloring, rect: Tuple[float, float, float, float],
                 shape: Tuple[int, int], threshold: int, progress=None):
    """What to draw for the view ``rect = (x0, y0, w, h)`` on a grid of ``shape = (nx, ny)`` cells.

    Returns ``("points", indices)`` when at most ``threshold`` points are in view, else
    ``("density", rgba (ny, nx, 4) uint8, rect)``.
    """
    x0, y0, w, h = rect
    nx, ny = shape
    x, y = xy[:, 0], xy[:, 1]
    inside = (x >= x0) & (x < x0 + w) & (y >= y0) & (y < y0 + h)
    count = int(np.count_nonzero(inside))
    if count <= threshold:
        return ("points", np.flatnonzero(inside))
    if progress is not None:
        progress.check()
    cells = nx * ny
    sel = np.flatnonzero(inside)
    ix = ((x[sel] - x0) * (nx / w)).astype(np.int64)
    iy = ((y[sel] - y0) * (ny / h)).astype(np.int64)
    np.clip(ix, 0, nx - 1, out=ix)
    np.clip(iy, 0, ny - 1, out=iy)
    pix = iy * nx + ix
    total = np.bincount(pix, minlength=cells)
    table = coloring.rgba_table()
    if coloring.continuous:  # colour of the cell's mean value
        vals = coloring.values[sel]
        ok = np.isfinite(vals)
        sums = np.bincount(pix[ok], weights=vals[ok], minlength=cells)
        nval = np.bincount(pix[ok], minlength=cells)
        lo, hi = coloring.vrange
        mean = np.divide(sums, nval, out=np.zeros(cells), where=nval > 0)
        best = np.clip(((mean - lo) / (hi - lo) * len(coloring.colors)).astype(np.int64), 0, len(coloring.colors) - 1)
        best[nval == 0] = -1
    else:  # colour of the cell's most frequent category (ties: the lower code)
        best = np.full(cells, -1, dtype=np.int64)
        best_count = np.zeros(cells, dtype=np.int64)
        codes = coloring.codes[sel]
        for code in range(len(coloring.colors)):
            if progress is not None:
                progress.check()
            members = pix[codes == code]
            if members.size == 0:
                continue
            cnt = np.bincount(members, minlength=cells)
            better = cnt > best_count
            best_count[better] = cnt[better]
            best[better] = code
    rgba = table[best].copy()  # -1 indexes the last row: grey
    filled = total > 0
    alpha = np.zeros(cells, dtype=np.float64)
    alpha[filled] = 70 + 185 * np.log1p(total[filled]) / math.log1p(total.max())
    rgba[:, 3] = alpha.astype(np.uint8)
    return ("density", rgba.reshape(ny, nx, 4), rect)


def build_tree(xy: np.ndarray, progress=None):
    """A ``cKDTree`` over the map's points (for hover and click)."""
    from scipy.spatial import cKDTree

    return cKDTree(xy)


def nearest_point(xy: np.ndarray, x: float, y: float, pixel_size: Tuple[float, float],
                  radius_px: float = PICK_RADIUS_PX, tree=None) -> int:
    """Index of the point nearest to ``(x, y)`` in screen pixels, or -1 if none within ``radius_px``.

    ``pixel_size`` is the data size of one screen pixel ``(sx, sy)``.  With a ``tree`` only the
    tree's nearest candidates are checked (exact when ``sx == sy``, as on the aspect-locked map);
    without one, every point (the brute-force reference).
    """
    sx, sy = (float(pixel_size[0]) or 1.0), (float(pixel_size[1]) or 1.0)
    if len(xy) == 0:
        return -1
    if tree is not None:
        k = min(16, len(xy))
        dist, idx = tree.query([x, y], k=k, distance_upper_bound=radius_px * max(sx, sy))
        idx = np.atleast_1d(idx)
        idx = idx[idx < len(xy)]
        if idx.size == 0:
            return -1
        cand = xy[idx]
    else:
        idx = None
        cand = xy
    d2 = ((cand[:, 0] - x) / sx) ** 2 + ((cand[:, 1] - y) / sy) ** 2
    j = int(np.argmin(d2))
    if d2[j] > radius_px * radius_px:
        return -1
    return int(idx[j]) if idx is not None else j


def lasso_job(xy: np.ndarray, polygon: np.ndarray, progress=None) -> np.ndarray:
    """(A runner job for the map and the Compare view's maps.)  Indices of the points inside ``polygon``."""
    return points_in_polygon(xy, polygon)


def draw_coloring(cloud: "PointCloud", xy: np.ndarray, codes: np.ndarray, coloring: Coloring, size: float,
                  alpha: int, grey_alpha: Optional[int] = None) -> None:
    """Points ``xy`` with colour ``codes`` of ``coloring`` (-1: grey) into ``cloud``, in the
    colouring's drawing order (style k + 1 is colour code k; style 0 is grey)."""
    styles = []
    for code in range(-1, len(coloring.colors)):
        color = QColor(OTHER_COLOR if code < 0 else coloring.colors[code])
        color.setAlpha(grey_alpha if code < 0 and grey_alpha is not None else alpha)
        styles.append((size, None, color))
    codes = np.asarray(codes, dtype=np.int64)
    rank = np.zeros(len(coloring.colors) + 1, dtype=np.int64)
    rank[np.asarray(coloring.draw_order, dtype=np.int64) + 1] = np.arange(len(coloring.draw_order))
    order = np.argsort(rank[codes + 1], kind="stable")
    cloud.set_data(xy[order], codes[order] + 1, styles)


def _point_style(n: int) -> Tuple[float, int]:
    """Point size (px) and opacity for ``n`` points on screen."""
    if n <= 2_000:
        return 8.0, 230
    if n <= 20_000:
        return 6.0, 210
    if n <= 100_000:
        return 4.0, 170
    return 3.0, 130


# -- the view ------------------------------------------------------------------------------------------
class MapView(View):
    """The projection of the active embedding set: colour, hover, click / box / lasso selection."""

    title = "Map"
    area = "left"
    name = "map"

    METHODS = (("UMAP", "umap"), ("PCA", "pca"))

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.thumbnails = shared_thumbnails(model)
        self.density_threshold = DENSITY_THRESHOLD
        self.xy: Optional[np.ndarray] = None  # (N, 2) float32 of the shown projection
        self.method = ""  # projection shown ("umap" / "pca" / "")
        self.coloring: Optional[Coloring] = None
        self.mode = ""  # "points" or "density"
        self.tree = None
        self._hover_index = -1
        self._hover_pos = None
        self._color_bar = None
        self._color_choice: Optional[Tuple[str, str]] = None  # what the user picked last

        # -- controls
        self.method_box = QComboBox()
        for label, key in self.METHODS:
            self.method_box.addItem(label, key)
        self.method_box.setToolTip("Projection: UMAP keeps local neighbourhoods; PCA is linear and fast")
        self.color_box = QComboBox()
        self.color_box.setToolTip("Colour the points by")
        self.color_box.setMinimumContentsLength(12)
        self.mode_buttons = QButtonGroup(self)
        mode_row = QHBoxLayout()
        mode_row.setSpacing(0)
        for key, text, tip in (("pan", "Pan", "Drag pans, wheel zooms (Shift-drag: box, Alt-drag: lasso)"),
                               ("box", "Box", "Drag a rectangle to select (Ctrl adds)"),
                               ("lasso", "Lasso", "Draw around points to select (Ctrl adds)")):
            b = QToolButton()
            b.setText(text)
            b.setCheckable(True)
            b.setToolTip(tip)
            b.setProperty("mode", key)
            self.mode_buttons.addButton(b)
            mode_row.addWidget(b)
            if key == "pan":
                b.setChecked(True)
        reset = QToolButton()
        reset.setText("Reset view")
        reset.setToolTip("Zoom to show every point")
        reset.clicked.connect(self.reset_view)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 0)
        bar.addWidget(QLabel("Map"))
        bar.addWidget(self.method_box)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Colour"))
        bar.addWidget(self.color_box)
        bar.addSpacing(8)
        bar.addLayout(mode_row)
        bar.addWidget(reset)
        bar.addStretch(1)
        self.info = QLabel()
        self.info.setTextFormat(Qt.RichText)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b35900;")
        self.warning.hide()

        # -- plot
        self.vb = SelectViewBox()
        self.plot = pg.PlotWidget(viewBox=self.vb)
        self.plot.setMenuEnabled(False)
        pi = self.plot.getPlotItem()
        pi.hideAxis("left")
        pi.hideAxis("bottom")
        pi.hideButtons()
        self.vb.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-10)
        self.vb.addItem(self.image, ignoreBounds=True)
        self.image.hide()
        self.cloud = PointCloud()  # every point (or those in view), all colours
        self.sel_item = PointCloud()  # rings around the selected points
        self.cur_item = PointCloud()  # the current item
        for z, item in enumerate((self.cloud, self.sel_item, self.cur_item)):
            item.setZValue(z)
            self.vb.addItem(item, ignoreBounds=True)
        self.legend = LegendBox(self.vb)
        self.hover = HoverCard(self)

        self.placeholder = QLabel("Open images, texts or an embedding file to see the map.")
        self.placeholder.setAlignment(Qt.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.stack = QStackedLayout()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.plot)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(bar)
        info_row = QHBoxLayout()
        info_row.setContentsMargins(6, 0, 6, 0)
        info_row.addWidget(self.info, 1)
        lay.addLayout(info_row)
        lay.addWidget(self.warning)
        lay.addLayout(self.stack, 1)

        # -- throttles
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(VIEW_THROTTLE_MS)
        self._view_timer.timeout.connect(self._request_view)
        self._hover_timer = QTimer(self)
        self._hover_timer.setSingleShot(True)
        self._hover_timer.setInterval(0)  # handle the newest mouse position once per event-loop pass
        self._hover_timer.timeout.connect(self._do_hover)

        # -- wiring
        self.method_box.currentIndexChanged.connect(lambda _i: self._load_projection())
        self.color_box.currentIndexChanged.connect(lambda _i: self._request_coloring())
        self.color_box.activated.connect(lambda _i: setattr(self, "_color_choice", self.color_box.currentData()))
        self.mode_buttons.buttonClicked.connect(lambda b: self.vb.set_mode(b.property("mode")))
        self.vb.clicked.connect(self._on_click)
        self.vb.box_selected.connect(lambda rect, mods: self.select_rect(rect, add=bool(mods & Qt.ControlModifier)))
        self.vb.lasso_selected.connect(lambda poly, mods: self.select_polygon(poly, add=bool(mods & Qt.ControlModifier)))
        self.vb.sigRangeChanged.connect(self._on_range_changed)
        self.vb.sigResized.connect(self._on_range_changed)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.viewport().installEventFilter(self)
        self.thumbnails.ready.connect(self._on_thumbnail)
        model.dataset_changed.connect(self._on_dataset)
        model.active_set_changed.connect(lambda _n: self._on_active())
        model.projection_changed.connect(lambda n: self._load_projection() if n == model.active else None)
        model.analysis_changed.connect(self._on_analysis)
        model.selection.selection_changed.connect(lambda _idx, _src: self._update_selection_overlay())
        model.selection.current_changed.connect(lambda _i, _src: self._update_current_overlay())
        self._on_dataset()

    # -- state -------------------------------------------------------------------------------------------
    def _on_dataset(self) -> None:
        self._clear_all()
        self.coloring = None
        self._fill_color_box()
        self._load_projection()

    def _on_active(self) -> None:
        self._fill_color_box()
        self._load_projection()

    def _on_analysis(self, kind: str) -> None:
        if kind in ("outliers", "duplicates"):
            self._fill_color_box()
            if self.color_box.currentData() == (kind, ""):
                self._request_coloring()

    def choose_color(self, key: Tuple[str, str]) -> None:
        """Colour by ``key`` (e.g. ``("label", "")``, ``("meta", "year")``); a choice the data does
        not offer yet (outlier scores still computing) is remembered and taken when it appears."""
        self._color_choice = tuple(key)
        keys = [self.color_box.itemData(i) for i in range(self.color_box.count())]
        if self._color_choice in keys:
            self.color_box.setCurrentIndex(keys.index(self._color_choice))

    def _fill_color_box(self) -> None:
        """Colour-by choices the data allows; keeps the current one when still possible."""
        ds = self.state.dataset
        keep = self.color_box.currentData()
        options: List[Tuple[str, Tuple[str, str]]] = [("none", ("none", ""))]
        if ds is not None:
            if ds.has_labels:
                options.append(("label", ("label", "")))
            if self.state.get_analysis("outliers") is not None:
                options.append(("outlier score", ("outliers", "")))
            if self.state.get_analysis("duplicates") is not None:
                options.append(("duplicate group", ("duplicates", "")))
            options += [(str(col), ("meta", str(col))) for col in ds.metadata]
        current = [self.color_box.itemData(i) for i in range(self.color_box.count())]
        if current == [key for _, key in options]:
            return
        self.color_box.blockSignals(True)
        self.color_box.clear()
        for text, key in options:
            self.color_box.addItem(text, key)
        keys = [key for _, key in options]
        for want in (self._color_choice, ("label", ""), ("none", "")):
            if want in keys:
                self.color_box.setCurrentIndex(keys.index(want))
                break
        self.color_box.blockSignals(False)
        if self.color_box.currentData() != keep:
            self._request_coloring()

    def _load_projection(self) -> None:
        """Show the chosen projection of the active set, or the other one while it is computed."""
        want = self.method_box.currentData()
        emb = self.state.emb
        got = self.state.projection(want) if emb is not None else None
        method = want
        note = ""
        if got is None and emb is not None:
            other = "pca" if want == "umap" else "umap"
            got = self.state.projection(other)
            if got is not None:
                method = other
                note = f"computing {want.upper()}\u2026 showing {other.upper()} for now"
        if got is None:
            self._clear_points()
            self.method = ""
            if self.state.dataset is None:
                self.placeholder.setText("Open images, texts or an embedding file to see the map.")
            elif emb is None:
                self.placeholder.setText("Encoding\u2026 the map appears when the embeddings are ready.")
            else:
                self.placeholder.setText("Computing the map\u2026")
            self.stack.setCurrentWidget(self.placeholder)
            self.info.setText("")
            self.warning.hide()
            return
        embedding, model = got
        xy = np.ascontiguousarray(np.asarray(embedding, dtype=np.float32)[:, :2])
        if xy.shape[1] < 2:
            xy = np.column_stack([xy[:, 0], np.zeros(len(xy), np.float32)])
        same = self.xy is not None and self.method == method and self.xy.shape == xy.shape and np.array_equal(self.xy, xy)
        self._show_info(method, model, len(xy), note)
        self.stack.setCurrentWidget(self.plot)
        if same:
            return
        self.method = method
        self.xy = xy
        self.tree = None
        self.runner.submit("map-index", build_tree, xy, on_result=self._set_tree)
        if self.coloring is None or len(self.coloring.codes) != len(xy):
            self._request_coloring()
        else:
            self._render()
        self.reset_view()
        self._update_selection_overlay()
        self._update_current_overlay()

    def _set_tree(self, tree) -> None:
        if self.xy is not None and tree.n == len(self.xy):
            self.tree = tree

    def _show_info(self, method: str, model: Any, n: int, note: str) -> None:
        parts = [f"<b>{method.upper()}</b> of {n:,} items"]
        trust = getattr(model, "trustworthiness_", None)
        warning = getattr(model, "warning_", "") or ""
        if trust is not None:
            low = trust < getattr(model, "TRUST_WARN", 0.8)
            colour = "#b35900" if low else "#2e7d32"
            parts.append(f"trustworthiness <b style='color:{colour}'>{trust:.2f}</b>")
        kp = getattr(model, "knn_preservation_", None)
        if kp is not None:
            parts.append(f"kNN kept {kp:.0%}")
        if note:
            parts.append(f"<i>{html.escape(note)}</i>")
        self.info.setText(" \u00b7 ".join(parts))
        self.info.setToolTip("Trustworthiness (0..1): how many points that look close on the map are really close "
                             "in the embedding. kNN kept: share of each item's 10 nearest neighbours that stay its "
                             "neighbours on the map.")
        self.warning.setText(f"\u26a0 {warning}" if warning else "")
        self.warning.setVisible(bool(warning))

    # -- colouring -----------------------------------------------------------------------------------------
    def _request_coloring(self) -> None:
        ds = self.state.dataset
        if ds is None:
            return
        key = self.color_box.currentData() or ("none", "")
        analysis = self.state.get_analysis(key[0]) if key[0] in ("outliers", "duplicates") else None
        self.runner.submit("map-color", build_coloring, ds, key, analysis, on_result=self._set_coloring)

    def _set_coloring(self, coloring: Optional[Coloring]) -> None:
        if coloring is None or self.state.dataset is None or len(coloring.codes) != len(self.state.dataset):
            return
        self.coloring = coloring
        self._update_legend()
        self._render()

    def _update_legend(self) -> None:
        pi = self.plot.getPlotItem()
        if self._color_bar is not None:
            pi.layout.removeItem(self._color_bar)
            if self._color_bar.scene() is not None:
                self._color_bar.scene().removeItem(self._color_bar)
            self._color_bar = None
        c = self.coloring
        self.legend.set_rows(c.legend if c is not None else [])
        if c is None:
            return
        if c.continuous:
            self._color_bar = pg.ColorBarItem(values=c.vrange, colorMap=c.cmap, interactive=False, width=14,
                                              label=c.title, colorMapMenu=False)
            pi.layout.addItem(self._color_bar, 2, 5)

    # -- drawing ---------------------------------------------------------------------------------------------
    def _clear_points(self) -> None:
        self.cloud.clear()
        self.image.hide()
        self.mode = ""
        if self.xy is None:
            self.sel_item.clear()
            self.cur_item.clear()
        self.hover.hide_card()

    def _clear_all(self) -> None:
        self.xy = None
        self.tree = None
        self._clear_points()

    def _render(self) -> None:
        """Draw the points: all of them, or (above the threshold) whatever the view needs."""
        if self.xy is None or self.coloring is None:
            return
        if len(self.xy) <= self.density_threshold:
            self._draw_points(None)
        else:
            self._request_view()

    def _draw_points(self, indices: Optional[np.ndarray]) -> None:
        """Draw ``indices`` (None: every point) as real points, in the colouring's drawing order."""
        self.image.hide()
        self.mode = "points"
        c = self.coloring
        xy = self.xy if indices is None else self.xy[indices]
        codes = c.codes if indices is None else c.codes[indices]
        size, alpha = _point_style(len(xy))
        draw_coloring(self.cloud, xy, codes, c, size, alpha, grey_alpha=min(alpha, 150))

    def _on_range_changed(self, *args) -> None:
        if self.xy is not None and len(self.xy) > self.density_threshold and not self._view_timer.isActive():
            self._view_timer.start()

    def _request_view(self) -> None:
        if self.xy is None or self.coloring is None:
            return
        (x0, x1), (y0, y1) = self.vb.viewRange()
        size = self.vb.size()
        nx = max(16, int(size.width() / DENSITY_CELL_PX))
        ny = max(16, int(size.height() / DENSITY_CELL_PX))
        rect = (float(x0), float(y0), float(x1 - x0) or 1.0, float(y1 - y0) or 1.0)
        self.runner.submit("map-view", view_content, self.xy, self.coloring, rect, (nx, ny), self.density_threshold,
                           on_result=self._show_view)

    def _show_view(self, result) -> None:
        if self.xy is None:
            return
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
        """Zoom to show every point."""
        if self.xy is None or len(self.xy) == 0:
            return
        lo, hi = self.xy.min(axis=0), self.xy.max(axis=0)
        span = np.maximum(hi - lo, 1e-6)
        self.vb.setRange(QRectF(float(lo[0]), float(lo[1]), float(span[0]), float(span[1])), padding=0.05)
        if len(self.xy) > self.density_threshold:
            self._request_view()

    # -- selection overlays -------------------------------------------------------------------------------------
    def _update_selection_overlay(self) -> None:
        sel = self.selection.selected
        if self.xy is None or sel.size == 0 or sel.max() >= len(self.xy):
            self.sel_item.clear()
            return
        size = _point_style(len(self.xy))[0] + 5
        self.sel_item.set_data(self.xy[sel], np.zeros(len(sel), dtype=np.int64),
                               [(size, pg.mkPen(20, 20, 20, 230, width=1.5), None)])

    def _update_current_overlay(self) -> None:
        i = self.selection.current
        if self.xy is None or not 0 <= i < len(self.xy):
            self.cur_item.clear()
            return
        self.cur_item.set_data(self.xy[i:i + 1], np.zeros(1, dtype=np.int64),
                               [(18, pg.mkPen("#e4572e", width=3), pg.mkBrush(228, 87, 46, 60))])

    # -- picking -------------------------------------------------------------------------------------------------
    def point_at(self, x: float, y: float, radius_px: float = PICK_RADIUS_PX) -> int:
        """Index of the point nearest to data position ``(x, y)`` within ``radius_px`` screen pixels, or -1."""
        if self.xy is None:
            return -1
        return nearest_point(self.xy, x, y, self._pixel_size(), radius_px, self.tree)

    def _pixel_size(self) -> Tuple[float, float]:
        px = self.vb.viewPixelSize()
        return float(px[0]), float(px[1])

    def _on_click(self, pos: QPointF, mods) -> None:
        i = self.point_at(pos.x(), pos.y())
        add = bool(mods & Qt.ControlModifier)
        if i >= 0:
            self.selection.set_current(i, self.name)
            if add:
                self.selection.add_to_selection([i], self.name)
            else:
                self.selection.set_selection([i], self.name)
        elif not add:
            self.selection.set_selection([], self.name)

    def select_rect(self, rect: QRectF, add: bool = False) -> np.ndarray:
        """Select the points inside ``rect`` (data coordinates); returns their indices."""
        if self.xy is None:
            return np.empty(0, dtype=np.int64)
        idx = points_in_rect(self.xy, rect)
        self._apply_selection(idx, add)
        return idx

    def select_polygon(self, polygon: np.ndarray, add: bool = False) -> None:
        """Select the points inside the lasso ``polygon`` ((M, 2) data coordinates), in the runner."""
        if self.xy is None:
            return
        self.runner.submit("map-select", lasso_job, self.xy, polygon,
                           on_result=lambda idx: self._apply_selection(idx, add))

    def _apply_selection(self, idx: np.ndarray, add: bool) -> None:
        if add:
            self.selection.add_to_selection(idx, self.name)
        else:
            self.selection.set_selection(idx, self.name)

    # -- hover -----------------------------------------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos) -> None:
        self._hover_pos = scene_pos
        if not self._hover_timer.isActive():
            self._hover_timer.start()

    def _do_hover(self) -> None:
        pos = self._hover_pos
        if pos is None or self.xy is None or not self.vb.sceneBoundingRect().contains(pos):
            self.hover.hide_card()
            return
        data = self.vb.mapSceneToView(pos)
        i = self.point_at(data.x(), data.y())
        if i < 0:
            self.hover.hide_card()
            self._hover_index = -1
            return
        global_pos = self.plot.viewport().mapToGlobal(self.plot.mapFromScene(pos))
        if i == self.hover.index and self.hover.isVisible():
            return
        self._hover_index = i
        self.hover.show_at(global_pos, i, self.hover_text(i), self.thumbnails.get(i))

    def hover_text(self, i: int) -> str:
        """Rich text of the hover card for item ``i``."""
        ds = self.state.dataset
        extra = ""
        if self.coloring is not None and self.coloring.title and self.coloring.title != "label":
            extra = html.escape(self.coloring.describe(i))
        return item_html(ds, i, extra)

    def _on_thumbnail(self, i: int) -> None:
        if i == self.hover.index and self.hover.isVisible():
            self.hover.set_pixmap(self.thumbnails.get(i))

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Leave:
            self._hover_pos = None
            self.hover.hide_card()
        return False

    # -- export / shutdown -------------------------------------------------------------------------------------------
    def export_plot(self, path: str) -> None:
        """Write the map as PNG or SVG (by the file extension)."""
        export_plot_item(self.plot.getPlotItem(), path)

    def shutdown(self) -> None:
        self.hover.hide_card()
        self._view_timer.stop()
        for key in ("map-color", "map-view", "map-index", "map-select"):
            self.runner.cancel(key)
