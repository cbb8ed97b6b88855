"""Charts: one small chart per column of the data, linked to the shared selection.

Embedding Atlas's linked views: every column -- the label, the split, each metadata column, and
per-item analysis columns (uniqueness scores, clusters) -- gets a histogram (numbers) or a bar
chart of its most frequent values (categories), made by :mod:`embedview.core.facets` in the runner
(``JobKind.FACETS``; text-like columns are listed as not charted, with the reason).

* Whatever selects items (the map's lasso, the table, a search) draws the selected share of each
  bar over it, in the highlight colour: one ``bincount`` per chart on the GUI thread
  (``last_redraw_ms`` says how long the last redraw took).
* Dragging across a histogram brushes a range (snapped to the bars' edges, then movable);
  clicking a bar selects that bin or category, Ctrl+click adds to it.  Brushes on several charts
  combine (items inside all of them) and become ``model.selection`` (source ``"charts"``), so the
  map and every view follow.  The brushes live in ``model.views.charts.brushes``; a selection made
  elsewhere clears them; "Clear" clears them and the selection.
* Hovering a bar names it with its count, its share of all items and of the selection.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QCursor, QFontMetrics, QTransform
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsSimpleTextItem,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from embedview.core.facets import Facet, FacetSet
from embedview.gui import theme
from embedview.gui.views.base import View
from embedview.gui.workers import JobRunner
from embedview.model import AnalysisKind, AppModel
from embedview.runtime.keys import JobKind

log = logging.getLogger(__name__)

__all__ = ["ChartsView", "ChartPanel", "facets_job"]

#: height of a histogram's plot, and of one bar of a categorical chart, in pixels
HIST_HEIGHT = 96
BAR_PX = 18
#: charts made per turn of the event loop
BUILD_BATCH = 3


def facets_job(dataset, scores: Mapping[str, Any] | None, clusters: Any, max_categories: int,
               progress=None) -> FacetSet:
    """The job the view runs: :class:`FacetSet` of the dataset and the analyses' per-item columns."""
    return FacetSet(max_categories=max_categories).fit(dataset, scores=scores, clusters=clusters, progress=progress)


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}\u00a0%" if whole else "\u2013"


class _BrushBox(pg.ViewBox):
    """A view box that turns a left-button drag into a range brush instead of panning."""

    def __init__(self, panel: ChartPanel) -> None:
        super().__init__(enableMenu=False)
        self.panel = panel
        self.setMouseEnabled(x=False, y=False)
        self._start: float | None = None

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph name
        if ev.button() != Qt.LeftButton or self.panel.facet.kind != "numeric":
            ev.ignore()
            return
        ev.accept()
        x = self.mapSceneToView(ev.scenePos()).x()
        if ev.isStart():
            self._start = self.mapSceneToView(ev.buttonDownScenePos()).x()
        if self._start is None:
            return
        self.panel.drag_to(self._start, x, finished=ev.isFinish())
        if ev.isFinish():
            self._start = None


class _CountText(QGraphicsSimpleTextItem):
    """A bar's count, after its end, in pixels (not scaled with the view), vertically centred."""

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.ItemIgnoresTransformations, True)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt name
        super().setText(text)
        r = self.boundingRect()
        self.setTransform(QTransform.fromTranslate(4, -r.height() / 2))


class ChartPanel(QWidget):
    """One column's chart: title, note, the bars (all items, and the selection over them), a brush."""

    #: (facet name, brush dict or None): the user brushed or cleared this chart
    brushed = Signal(str, object)
    #: what the bar under the mouse holds ("" when the mouse left the bars)
    hovered = Signal(str)

    def __init__(self, facet: Facet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.facet = facet
        self.selected = np.zeros(facet.n_slots, dtype=np.int64)
        self.n_selected = 0
        self.brush: dict[str, Any] | None = None
        numeric = facet.kind == "numeric"
        #: the slots drawn (a histogram leaves "missing" to its note; a bar chart draws every slot)
        self.drawn = np.array([i for i, k in enumerate(facet.slot_kinds) if not numeric or k == "bin"], dtype=np.int64)

        self.title = QLabel()
        self.title.setTextFormat(Qt.RichText)
        self.title.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.note = QLabel(facet.note)
        self.note.setVisible(bool(facet.note))
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(placeholder-text);")
        font = self.note.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        self.note.setFont(font)
        self.title.setToolTip(f"{facet.name} ({facet.source}): {facet.note}")

        self.box = _BrushBox(self)
        self.plot = pg.PlotWidget(viewBox=self.box)
        self.plot.setAntialiasing(False)  # axis-aligned bars need none; painting costs half
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseTracking(True)
        pi = self.plot.getPlotItem()
        pi.setContentsMargins(0, 2, 6, 0)
        self.plot.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.plot.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.plot.wheelEvent = lambda ev: ev.ignore()  # the wheel scrolls the column of charts
        self.all_bars = pg.BarGraphItem(x0=[0], x1=[0], y0=[0], y1=[0])
        self.sel_bars = pg.BarGraphItem(x0=[0], x1=[0], y0=[0], y1=[0])
        self.plot.addItem(self.all_bars)
        self.plot.addItem(self.sel_bars)
        self.count_texts: list[_CountText] = []
        self._drawn_with_selection = False
        self.region: pg.LinearRegionItem | None = None
        counts = facet.counts[self.drawn]
        if numeric:
            e = facet.edges
            assert e is not None
            self._x0, self._x1 = e[:-1], e[1:]
            self.plot.setFixedHeight(HIST_HEIGHT)
            self.box.setLimits(xMin=float(e[0]) - (e[-1] - e[0]) * 0.02, xMax=float(e[-1]) + (e[-1] - e[0]) * 0.02)
            self.box.setXRange(float(e[0]), float(e[-1]), padding=0.01)
            self.box.setYRange(0, float(max(counts.max(initial=0), 1)) * 1.05, padding=0)
            pi.getAxis("left").setWidth(40)
            pi.getAxis("left").setTicks(None)
            self.region = pg.LinearRegionItem(values=(float(e[0]), float(e[0])), movable=True)
            self.region.setZValue(10)
            self.region.hide()
            self.region.sigRegionChangeFinished.connect(self._on_region_moved)
            self.plot.addItem(self.region)
        else:
            m = len(self.drawn)
            self.plot.setFixedHeight(m * BAR_PX + 10)
            self.box.invertY(True)
            self.box.setYRange(-0.5, m - 0.5, padding=0)
            self._top = float(max(counts.max(initial=0), 1))
            self._fit_counts()
            self.box.sigResized.connect(lambda _b: self._fit_counts())
            left = pi.getAxis("left")
            fm = QFontMetrics(self.font())
            names = [facet.labels[i] for i in self.drawn]
            width = min(150, max(fm.horizontalAdvance(n) for n in names) + 14) if names else 40
            left.setWidth(width)
            left.setTicks([[(k, fm.elidedText(n, Qt.ElideMiddle, width - 12)) for k, n in enumerate(names)], []])
            left.setStyle(tickLength=0)
            pi.hideAxis("bottom")
            for _ in range(m):  # plain text items: a tenth of pg.TextItem's cost to update
                t = _CountText()
                self.count_texts.append(t)
                self.box.addItem(t, ignoreBounds=True)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 4, 2, 4)
        lay.setSpacing(1)
        lay.addWidget(self.title)
        lay.addWidget(self.note)
        lay.addWidget(self.plot)
        self.restyle()
        self._update_title()

    # -- drawing ----------------------------------------------------------------------------------------
    def _fit_counts(self) -> None:
        """Leave room after the longest bar for its count ("12,345 / 67,890"), in pixels."""
        fm = QFontMetrics(self.font())
        big = f"{int(self._top):,}"
        room = fm.horizontalAdvance(f"{big} / {big}") + 10
        width = max(self.box.width(), room + 40)
        self.box.setXRange(0, self._top * width / (width - room), padding=0)

    def restyle(self) -> None:
        c = theme.plot_colors()
        self._colors = c
        self.plot.setBackground(c["plot_background"])
        fg = pg.mkColor(c["plot_foreground"])
        for name in ("left", "bottom"):
            ax = self.plot.getPlotItem().getAxis(name)
            ax.setPen(fg)
            ax.setTextPen(fg)
        if self.region is not None:
            hl = QColor(c["highlight"])
            hl.setAlpha(50)
            self.region.setBrush(hl)
            edge = QColor(c["highlight"])
            for line in self.region.lines:
                line.setPen(pg.mkPen(edge, width=2))
        self.redraw()

    def set_selected(self, counts: np.ndarray, n_selected: int) -> None:
        if n_selected == self.n_selected and np.array_equal(counts, self.selected):
            return
        self.selected = counts
        self.n_selected = int(n_selected)
        self.redraw(colors=False)

    def redraw(self, colors: bool = True) -> None:
        """Draw the bars; ``colors=False`` when only the selection changed (the all-items bars keep
        their geometry, so only their colour is touched, and only when a selection appears or goes)."""
        c = self._colors
        f = self.facet
        sel = self.selected[self.drawn].astype(float)
        any_sel = self.n_selected > 0
        if colors or any_sel != self._drawn_with_selection:
            self._draw_all(any_sel)
        hl = QColor(c["highlight"])
        shown = sel if any_sel else np.zeros_like(sel)
        if f.kind == "numeric":
            self.sel_bars.setOpts(y1=shown, brush=hl) if colors else self.sel_bars.setOpts(y1=shown)
        else:
            self.sel_bars.setOpts(x1=shown, brush=hl) if colors else self.sel_bars.setOpts(x1=shown)
            total = f.counts[self.drawn]
            for k, t in enumerate(self.count_texts):
                text = f"{int(sel[k]):,} / {int(total[k]):,}" if any_sel else f"{int(total[k]):,}"
                if t.text() != text:
                    t.setText(text)
        self._update_title()

    def _draw_all(self, any_sel: bool) -> None:
        """The bars of all items: the highlight colour alone, muted under a selection."""
        c = self._colors
        f = self.facet
        self._drawn_with_selection = any_sel
        total = f.counts[self.drawn].astype(float)
        base = QColor(c["muted"]) if any_sel else QColor(c["highlight"])
        base.setAlpha(90 if any_sel else 200)
        missing = QColor(c["muted"])
        missing.setAlpha(140)
        brushes = [missing if f.slot_kinds[i] in ("missing", "other") and not any_sel else base for i in self.drawn]
        no_pen = pg.mkPen(None)
        zeros = np.zeros_like(total)
        if f.kind == "numeric":
            gap = (self._x1 - self._x0) * 0.04
            x0, x1 = self._x0 + gap, self._x1 - gap
            self.all_bars.setOpts(x0=x0, x1=x1, y0=zeros, y1=total, brushes=brushes, pen=no_pen)
            self.sel_bars.setOpts(x0=x0, x1=x1, y0=zeros, y1=zeros, pen=no_pen)
        else:
            y = np.arange(len(self.drawn), dtype=float)
            self.all_bars.setOpts(x0=zeros, x1=total, y0=y - 0.38, y1=y + 0.38, brushes=brushes, pen=no_pen)
            self.sel_bars.setOpts(x0=zeros, x1=zeros, y0=y - 0.38, y1=y + 0.38, pen=no_pen)
            fg = QColor(c["plot_foreground"])
            for k, t in enumerate(self.count_texts):
                t.setBrush(fg)
                t.setPos(float(total[k]), float(k))

    def _update_title(self) -> None:
        f = self.facet
        head = f"<b>{html.escape(f.name)}</b>"
        if self.brush is not None:
            head += f" <span style='color:{self._colors['highlight']}'>\u00b7 brushed: " \
                    f"{html.escape(self.brush_text())}</span>"
        self.title.setText(head)

    def brush_text(self) -> str:
        b = self.brush or {}
        if "range" in b:
            lo, hi = b["range"]
            return f"{lo:g} \u2013 {hi:g}"
        vals = list(b.get("values", []))
        return ", ".join(vals[:3]) + (f" +{len(vals) - 3}" if len(vals) > 3 else "")

    # -- brushes ------------------------------------------------------------------------------------------
    def set_brush(self, brush: dict[str, Any] | None) -> None:
        """Show ``brush`` (from the state; no signal)."""
        self.brush = dict(brush) if brush else None
        if self.region is not None:
            if self.brush and "range" in self.brush:
                lo, hi = self.brush["range"]
                self.region.blockSignals(True)
                self.region.setRegion((lo, hi))
                self.region.blockSignals(False)
                self.region.show()
            else:
                self.region.hide()
        self._update_title()

    def _snap(self, lo: float, hi: float) -> tuple[float, float]:
        """The range widened to whole bars (the bins it touches)."""
        e = self.facet.edges
        assert e is not None
        lo, hi = min(lo, hi), max(lo, hi)
        i = int(np.clip(np.searchsorted(e, lo, side="right") - 1, 0, len(e) - 2))
        j = int(np.clip(np.searchsorted(e, hi, side="left"), i + 1, len(e) - 1))
        return float(e[i]), float(e[j])

    def drag_to(self, start: float, x: float, finished: bool) -> None:
        assert self.region is not None
        self.region.blockSignals(True)
        if finished:
            lo, hi = self._snap(start, x)
            self.region.setRegion((lo, hi))
        else:
            self.region.setRegion((min(start, x), max(start, x)))
        self.region.blockSignals(False)
        self.region.show()
        if finished:
            lo, hi = self.region.getRegion()
            self.brushed.emit(self.facet.name, {"range": [float(lo), float(hi)]})

    def _on_region_moved(self) -> None:
        assert self.region is not None
        lo, hi = self._snap(*self.region.getRegion())
        self.region.blockSignals(True)
        self.region.setRegion((lo, hi))
        self.region.blockSignals(False)
        if self.brush != {"range": [lo, hi]}:
            self.brushed.emit(self.facet.name, {"range": [lo, hi]})

    def slot_at(self, scene_pos: QPointF) -> int:
        """The slot (index into the facet's slots) under a scene position, or -1."""
        if not self.box.sceneBoundingRect().contains(scene_pos):
            return -1
        p = self.box.mapSceneToView(scene_pos)
        if self.facet.kind == "numeric":
            s = self.facet.slot_at(p.x())
            return s if s >= 0 and s in set(self.drawn.tolist()) else -1
        k = int(round(p.y()))
        return int(self.drawn[k]) if 0 <= k < len(self.drawn) else -1

    def click_slot(self, slot: int, add: bool) -> None:
        """What a click on bar ``slot`` does (Ctrl held: ``add``): select that bin / category, add it
        to this chart's brush, or (clicking the only brushed category again) clear the brush."""
        f = self.facet
        if slot < 0:
            if not add and self.brush is not None:
                self.brushed.emit(f.name, None)
            return
        if f.kind == "numeric":
            assert f.edges is not None
            lo, hi = float(f.edges[slot]), float(f.edges[slot + 1])
            if add and self.brush and "range" in self.brush:
                lo, hi = min(lo, self.brush["range"][0]), max(hi, self.brush["range"][1])
            self.brushed.emit(f.name, {"range": [lo, hi]})
            return
        name = f.labels[slot]
        current = list((self.brush or {}).get("values", []))
        if add:
            values = [v for v in current if v != name] if name in current else current + [name]
        else:
            values = [] if current == [name] else [name]
        self.brushed.emit(f.name, {"values": values} if values else None)

    def _on_mouse_clicked(self, ev) -> None:
        if ev.button() != Qt.LeftButton or ev.double():
            return
        slot = self.slot_at(ev.scenePos())
        add = bool(ev.modifiers() & (Qt.ControlModifier | Qt.MetaModifier))
        if self.facet.kind == "numeric" and slot < 0 and not self.box.sceneBoundingRect().contains(ev.scenePos()):
            return
        ev.accept()
        self.click_slot(slot, add)

    def hover_text(self, slot: int) -> str:
        f = self.facet
        c = int(f.counts[slot])
        text = f"{f.name}: {f.labels[slot]}\n{c:,} items ({_pct(c, f.n)} of {f.n:,})"
        if self.n_selected:
            s = int(self.selected[slot])
            text += (f"\nselected: {s:,} ({_pct(s, c)} of this bar, {_pct(s, self.n_selected)} of the "
                     f"{self.n_selected:,} selected)")
        return text

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().leaveEvent(event)
        self.hovered.emit("")

    def _on_mouse_moved(self, pos: QPointF) -> None:
        slot = self.slot_at(pos)
        if slot < 0:
            QToolTip.hideText()
            self.hovered.emit("")
            return
        text = self.hover_text(slot)
        QToolTip.showText(QCursor.pos(), text, self.plot)
        self.hovered.emit(text)


class ChartsView(View):
    """Charts of every column (label, split, metadata, scores, clusters) linked to the selection."""

    title = "Charts"
    area = "right"
    name = "charts"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.facets: FacetSet | None = None
        self.panels: dict[str, ChartPanel] = {}
        #: milliseconds the last selection redraw of every chart took (bincounts and bars)
        self.last_redraw_ms = 0.0
        self._applying = False  # the view is setting the selection from its brushes
        self._quiet = False  # the brushes are cleared because the selection came from elsewhere
        self._pending: list[Facet] = []  # facets whose chart is still to be made
        self._generation = 0  # which summary the charts being made belong to

        self.info = QLabel()
        self.info.setTextFormat(Qt.RichText)
        self.info.setWordWrap(True)
        self.info.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.columns_button = QToolButton()
        self.columns_button.setText("Columns")
        self.columns_button.setPopupMode(QToolButton.InstantPopup)
        self.columns_button.setToolTip("Which columns have a chart")
        self.columns_menu = QMenu(self.columns_button)
        self.columns_button.setMenu(self.columns_menu)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear every brush and the selection they made")
        self.clear_button.clicked.connect(self.clear_brushes)

        self.body = QWidget()
        self.column = QVBoxLayout(self.body)
        self.column.setContentsMargins(0, 0, 0, 0)
        self.column.setSpacing(6)
        self.column.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.body)
        #: the bar under the mouse, in words (fixed height: hovering never moves the charts)
        self.hover_line = QLabel()
        self.hover_line.setStyleSheet("color: palette(placeholder-text);")
        self.hover_line.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.hover_line.setFixedHeight(2 * QFontMetrics(self.hover_line.font()).lineSpacing() + 2)
        self.hover_line.setWordWrap(True)
        self._show_hover("")
        self.skipped = QLabel()
        self.skipped.setWordWrap(True)
        self.skipped.setStyleSheet("color: palette(placeholder-text);")

        top = QHBoxLayout()
        top.addWidget(self.info, 1)
        top.addWidget(self.columns_button)
        top.addWidget(self.clear_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.scroll, 1)
        lay.addWidget(self.hover_line)

        state = model.views.charts
        state.events.brushes.connect(self._on_brushes_changed)
        state.events.hidden.connect(lambda _v: self._layout_panels())
        state.events.max_categories.connect(lambda _v: self.refresh())
        model.selection.selection_changed.connect(self._on_selection)
        model.dataset_changed.connect(self._on_dataset)
        model.active_set_changed.connect(lambda _n: self.refresh())
        model.analysis_changed.connect(self._on_analysis)
        self.refresh()

    # -- facets --------------------------------------------------------------------------------------------
    def _on_dataset(self) -> None:
        self._drop_brushes()
        self.refresh()

    def _drop_brushes(self) -> None:
        """Forget the brushes without touching the selection (it was set elsewhere, or reset)."""
        if not self.model.views.charts.brushes:
            return
        self._quiet = True
        try:
            self.model.views.charts.brushes = {}
        finally:
            self._quiet = False

    def _on_analysis(self, kind, _name: str = "") -> None:
        if kind in (AnalysisKind.ITEM_SCORES, AnalysisKind.CLUSTERS):
            self.refresh()

    def refresh(self) -> None:
        """Summarise the columns again (in the runner)."""
        model = self.model
        ds = model.dataset
        if ds is None or len(ds) == 0:
            self._show_facets(None)
            self.info.setText("Open data to see charts of its columns.")
            return
        scores = model.get_analysis(AnalysisKind.ITEM_SCORES) if model.active else {}
        clusters = model.get_analysis(AnalysisKind.CLUSTERS) if model.active else None
        self.info.setText(f"Summarising the columns of {len(ds):,} items\u2026")
        self.runner.submit(JobKind.FACETS, facets_job, ds, dict(scores or {}), clusters,
                           model.views.charts.max_categories,
                           on_result=self._show_facets, on_error=self._show_error,
                           is_stale=lambda: model.dataset is not ds)

    def _show_error(self, message: str) -> None:
        log.warning("charts failed: %s", message)
        self.info.setText(theme.error_html(f"Could not summarise the columns: {message}"))

    def _show_facets(self, facets: FacetSet | None) -> None:
        self.facets = facets
        self._generation += 1
        for panel in self.panels.values():
            panel.setParent(None)
            panel.deleteLater()
        self.panels = {}
        self._pending = []
        self.columns_menu.clear()
        if facets is None:
            self.skipped.setText("")
            return
        state = self.model.views.charts
        for f in facets.facets_:
            act = self.columns_menu.addAction(f.name.replace("&", "&&"))
            act.setData(f.name)
            act.setCheckable(True)
            act.setChecked(f.name not in state.hidden)
            act.toggled.connect(lambda on, n=f.name: self.show_column(n, on))
        if facets.skipped_:
            lines = "; ".join(f"{s.name} ({s.reason})" for s in facets.skipped_)
            self.skipped.setText(f"Not charted: {lines}")
        else:
            self.skipped.setText("")
        # brushes of columns no longer charted go
        names = set(facets.names_)
        kept = {k: v for k, v in state.brushes.items() if k in names}
        if kept != state.brushes:
            self._quiet = True
            try:
                state.brushes = kept
            finally:
                self._quiet = False
        self._pending = list(facets.facets_)
        self._build_some(self._generation)

    @property
    def building(self) -> bool:
        """Whether charts are still being made (a few per turn of the event loop)."""
        return bool(self._pending)

    def _build_some(self, generation: int) -> None:
        """Make the next few charts (a pyqtgraph plot costs tens of ms: twenty at once would hold
        the window for a second), then let the event loop run before the next few."""
        if generation != self._generation or self.facets is None:
            return
        state = self.model.views.charts
        sel = self.selection.selected
        same_data = self.facets.n_items_ == self.selection.n_items or not self.selection.n_items
        batch, self._pending = self._pending[:BUILD_BATCH], self._pending[BUILD_BATCH:]
        for f in batch:
            panel = ChartPanel(f, self.body)
            panel.brushed.connect(self.set_brush)
            panel.hovered.connect(self._show_hover)
            panel.set_brush(state.brushes.get(f.name))
            if sel.size and same_data:
                panel.set_selected(f.selected_counts(sel), int(sel.size))
            self.panels[f.name] = panel
        self._layout_panels()
        if self._pending:
            QTimer.singleShot(0, lambda: self._build_some(generation))

    def _layout_panels(self) -> None:
        while self.column.count():
            self.column.takeAt(0)
        hidden = set(self.model.views.charts.hidden)
        for act in self.columns_menu.actions():
            act.blockSignals(True)
            act.setChecked(act.data() not in hidden)
            act.blockSignals(False)
        for name, panel in self.panels.items():
            panel.setVisible(name not in hidden)
            self.column.addWidget(panel)
        self.column.addWidget(self.skipped)
        self.column.addStretch(1)
        self._update_info()

    def _update_info(self) -> None:
        if self.facets is None:
            return
        names = self.facets.names_
        shown = [n for n in names if n not in set(self.model.views.charts.hidden)]
        n = self.facets.n_items_
        charts = f"{len(shown)} chart{'s' if len(shown) != 1 else ''}"
        if len(shown) != len(names):
            charts += f" of {len(names)}"
        k = int(self.selection.selected.size)
        if k:
            text = f"<b>{k:,}</b> of {n:,} items selected ({_pct(k, n)}) \u00b7 {charts}"
        else:
            text = f"{n:,} items \u00b7 {charts} \u00b7 drag or click bars to select"
        self.info.setText(text)
        self.info.setToolTip(f"Every chart counts all {n:,} items (none sampled). Drag across a histogram to "
                             "select a range, click a bar to select it, Ctrl+click to add bars; brushes on "
                             "several charts select the items inside all of them. A selection made anywhere "
                             "else is drawn over the bars in the highlight colour.")

    def show_column(self, name: str, shown: bool) -> None:
        state = self.model.views.charts
        hidden = [h for h in state.hidden if h != name]
        if not shown:
            hidden.append(name)
        state.hidden = tuple(hidden)

    def _show_hover(self, text: str) -> None:
        lines = text.split("\n")
        if not text:
            self.hover_line.setText("Hover a bar for its counts.")
        else:  # two lines: what the bar is and its count; the selected share after it
            self.hover_line.setText(f"{lines[0]} \u2014 {lines[1]}" + (f"\n{lines[2]}" if len(lines) > 2 else ""))

    # -- the selection -------------------------------------------------------------------------------------
    def _on_selection(self, _indices, source: str) -> None:
        if source != self.name and not self._applying:
            self._drop_brushes()  # another view chose items: the brushes no longer say what is selected
        self.update_selection()

    def update_selection(self) -> None:
        """Draw the selected share of every bar (one bincount per chart)."""
        if self.facets is None:
            return
        t0 = time.perf_counter()
        sel = self.selection.selected
        n_sel = int(sel.size)
        if self.facets.n_items_ != self.selection.n_items and self.selection.n_items:
            return  # the facets of other data: a new summary is on its way
        for panel in self.panels.values():
            counts = panel.facet.selected_counts(sel) if n_sel else np.zeros(panel.facet.n_slots, dtype=np.int64)
            panel.set_selected(counts, n_sel)
        self._update_info()
        self.last_redraw_ms = (time.perf_counter() - t0) * 1000.0

    # -- brushes -------------------------------------------------------------------------------------------
    def set_brush(self, name: str, brush: dict[str, Any] | None) -> None:
        """Brush chart ``name`` (None clears its brush); the selection becomes the items inside every brush."""
        brushes = dict(self.model.views.charts.brushes)
        if brush:
            brushes[name] = brush
        else:
            brushes.pop(name, None)
        self.model.views.charts.brushes = brushes

    def clear_brushes(self) -> None:
        """Clear every brush and the selection (the Clear button)."""
        if self.model.views.charts.brushes:
            self.model.views.charts.brushes = {}  # clears the selection too
        else:
            self._select(np.empty(0, dtype=np.int64))

    def _select(self, idx: np.ndarray) -> None:
        self._applying = True
        try:
            self.selection.set_selection(idx, self.name)
        finally:
            self._applying = False

    def _on_brushes_changed(self, brushes: dict) -> None:
        for name, panel in self.panels.items():
            panel.set_brush(brushes.get(name))
        if self._quiet or self.facets is None:
            return
        if not brushes:  # the user took the last brush away: nothing is selected by the charts
            self._select(np.empty(0, dtype=np.int64))
            return
        idx = self.facets.brush_indices(brushes)
        self._select(idx)
        if idx.size == 0:
            self.model.message.emit("The brushes together hold no items.", 4000)

    # -- theme ---------------------------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt name
        super().changeEvent(event)
        if event.type() == QEvent.PaletteChange:
            for panel in self.panels.values():
                panel.restyle()

    def shutdown(self) -> None:
        self.runner.cancel(JobKind.FACETS)

