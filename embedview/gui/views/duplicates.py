"""Duplicates: pick a near-duplicate threshold on a histogram, review the groups, mark keep / drop, export.

Everything works on the :class:`~embedview.core.duplicates.DuplicateFinder` that the
:class:`~embedview.gui.analysis.AnalysisScheduler` computes once per embedding set (one k-NN
pass) and files in ``state.analysis[encoder]["duplicates"]``.  Nothing here searches
neighbours again:

* **live** (every slider / spin box / line move, coalesced to one update per event-loop turn):
  :meth:`DuplicateFinder.groups_at` on the stored spanning forest gives the number of groups
  and of items in groups (~15-30 ms at 100k items, ``benchmarks/bench_dup_threshold.py``);
* **settled** (:data:`SETTLE_MS` after the last move): a copy of the finder is moved to the
  threshold in the runner (key ``"duplicates.apply"``; ``set_threshold`` recomputes groups and
  the suggested keep), the list of groups is refilled, and the copy replaces the finder in the
  state (``analysis_changed("duplicates")``), so the map's "duplicate group" colouring and
  exports follow the threshold.  The shared finder is never mutated from a worker thread.

Decisions: the user's keep / drop choices are ``{item index: "keep" | "drop"}`` in
``state.analysis[encoder]["duplicate_decisions"]`` (only explicit choices; everything else
follows the keep rule).  When the threshold moves, choices for items that are still in a group
are kept, the others forgotten.  Exports (CSV / JSON via ``DuplicateFinder.to_csv`` /
``to_json``) only write the list: no user file is ever deleted, moved or changed.

Click-to-find: whenever the shared current item changes (any view), the "Near-duplicates of"
panel lists the items at or above the threshold (:meth:`DuplicateFinder.near_duplicates_of`,
key ``"duplicates.near"``).  Selecting groups sets the shared selection to their members.
"""

from __future__ import annotations

import html
import logging
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QCheckBox, QDoubleSpinBox, QFileDialog, QHBoxLayout,
                               QLabel, QListView, QMenu, QProgressBar, QPushButton,
                               QSlider, QSplitter, QStackedWidget, QStyle, QStyledItemDelegate, QStyleOptionViewItem,
                               QVBoxLayout, QWidget)

from embedview.core.dataset import Dataset
from embedview.gui import theme
from embedview.gui.settings import Settings
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.widgets import ItemList, export_plot_item, item_title, score_text
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.gui.views.base import View

log = logging.getLogger(__name__)

#: the analysis job that computes the finder (AnalysisScheduler's key; the "Find now" button reuses it)
FIND_KEY = "analysis.duplicates"
APPLY_KEY = "duplicates.apply"
NEAR_KEY = "duplicates.near"
EXPORT_KEY = "duplicates.export"
#: state.analysis kinds this view reads / writes
FINDER_KIND = "duplicates"
DECISIONS_KIND = "duplicate_decisions"
#: steps of the threshold slider over its range
SLIDER_STEPS = 2000
#: a threshold is applied to the group list this long after the last move
SETTLE_MS = 150
HIST_BINS = 120
#: group rows show at most this many lines of member cells ("+N more" after that)
MAX_CELL_LINES = 3
EXPORT_NOTE = ("Exports only write a list of decisions: no file of your data is deleted, moved or changed.")

KEEP_COLOR = QColor("#2e7d32")
DROP_COLOR = QColor("#c62828")


# -- background jobs (plain functions, run in worker threads) -----------------------------------------
def at_threshold(finder, threshold: float):
    """``finder`` at ``threshold``: a new finder (``with_threshold``), the shared one is never changed."""
    return finder.with_threshold(float(threshold))


def apply_threshold(finder, threshold: float, progress=None):
    """:func:`at_threshold` and each grouped item's similarity to its group's kept item.

    Returns ``(finder at threshold, sim_to_kept)``; ``sim_to_kept`` is an (N,) float32 array (NaN
    for items in no group) taken from ``to_rows()``, so it is exactly the exported value.
    """
    out = at_threshold(finder, threshold)
    if progress is not None:
        progress.check()
    sims = np.full(out.n_items_, np.nan, dtype=np.float32)
    rows = out.to_rows()
    if rows:
        idx = np.fromiter((r["index"] for r in rows), dtype=np.int64, count=len(rows))
        sims[idx] = np.fromiter((r["similarity_to_kept"] for r in rows), dtype=np.float32, count=len(rows))
    return out, sims


def near_duplicates(finder, index: int, threshold: float, progress=None) -> Tuple[np.ndarray, np.ndarray]:
    """``finder.near_duplicates_of(index, threshold)`` (may compare with every item: a worker job)."""
    return finder.near_duplicates_of(index, threshold)


def export_decisions(finder, threshold: float, path: str, dataset: Dataset, decisions: Dict[int, str],
                     progress=None) -> Tuple[str, int]:
    """Write the groups at ``threshold`` with ``decisions`` as CSV or JSON (by extension).

    Returns ``(path, rows written)``.  Only ``path`` is written (atomically, by the core, which
    refuses to overwrite a file of the dataset).
    """
    finder = at_threshold(finder, threshold)
    if progress is not None:
        progress.report(0, 1, "writing")
    decisions = {int(i): d for i, d in decisions.items() if 0 <= int(i) < finder.n_items_ and finder.labels_[int(i)] >= 0}
    if str(path).lower().endswith(".json"):
        written = finder.to_json(path, dataset, decisions)
    else:
        written = finder.to_csv(path, dataset, decisions)
    return str(written), int(sum(len(g) for g in finder.groups_))


def threshold_range(finder) -> Tuple[float, float]:
    """Where the threshold can go: from the graph's floor (all pairs below it were not stored) up
    to 1 (cosine) or the largest nearest-neighbour similarity (dot)."""
    sims = np.asarray(finder.nn_similarity_, dtype=np.float64)
    sims = sims[np.isfinite(sims)]
    lo = float(finder.floor_) if np.isfinite(finder.floor_) else (float(sims.min()) if sims.size else 0.0)
    hi = 1.0 if finder.metric == "cosine" else (float(sims.max()) if sims.size else lo + 1.0)
    if hi <= lo:
        hi = lo + 1e-3
    return lo, hi


# -- the list of groups --------------------------------------------------------------------------------
class GroupModel(QAbstractListModel):
    """One row per group; the members are drawn by :class:`GroupDelegate` from the view's data."""

    def __init__(self, view: "DuplicatesView") -> None:
        super().__init__()
        self.view = view

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt name
        return 0 if parent.isValid() else len(self.view.groups)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid() or index.row() >= len(self.view.groups):
            return None
        if role == Qt.DisplayRole:
            members = self.view.groups[index.row()]
            return f"group {index.row() + 1}: {len(members)} items"
        if role == Qt.ToolTipRole:
            return ("Click a thumbnail to make it the current item, click KEEP / DROP to change the decision; "
                    "right-click for the whole group")
        return None

    def reset(self) -> None:
        self.beginResetModel()
        self.endResetModel()


class GroupDelegate(QStyledItemDelegate):
    """Draws a group: a header line, then its members side by side (thumbnail or text snippet),
    each with its similarity to the kept item and a KEEP / DROP badge, wrapped over at most
    :data:`MAX_CELL_LINES` lines."""

    PAD = 6
    GAP = 6
    HEADER = 20
    THUMB = 88
    CAPTION = 20

    def __init__(self, view: "DuplicatesView", list_view: QListView) -> None:
        super().__init__(list_view)
        self.view = view
        self.list_view = list_view

    # geometry shared by painting, size hints and clicks
    def cell_size(self) -> QSize:
        ds = self.view.state.dataset
        if ds is not None and ds.modality == "image":
            return QSize(self.THUMB + 28, self.THUMB + self.CAPTION + 8)
        return QSize(230, 4 * QFontMetrics(self.list_view.font()).lineSpacing() + self.CAPTION + 10)

    def per_line(self, width: int) -> int:
        cell = self.cell_size()
        return max(1, (width - 2 * self.PAD + self.GAP) // (cell.width() + self.GAP))

    def cells(self, rect: QRect, n_members: int) -> Tuple[List[Tuple[int, QRect]], Optional[QRect], int]:
        """``([(member position, cell rect)], "+N more" rect or None, N)`` for a row in ``rect``."""
        cell = self.cell_size()
        per_line = self.per_line(rect.width())
        cap = per_line * MAX_CELL_LINES
        shown = n_members if n_members <= cap else cap - 1
        out = []
        for k in range(shown):
            line, col = divmod(k, per_line)
            x = rect.left() + self.PAD + col * (cell.width() + self.GAP)
            y = rect.top() + self.HEADER + line * (cell.height() + self.GAP)
            out.append((k, QRect(x, y, cell.width(), cell.height())))
        more_rect = None
        if shown < n_members:
            line, col = divmod(shown, per_line)
            more_rect = QRect(rect.left() + self.PAD + col * (cell.width() + self.GAP),
                              rect.top() + self.HEADER + line * (cell.height() + self.GAP), cell.width(), cell.height())
        return out, more_rect, n_members - shown

    def badge_rect(self, cell: QRect) -> QRect:
        return QRect(cell.right() - 44, cell.bottom() - self.CAPTION + 2, 42, self.CAPTION - 4)

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt name
        width = self.list_view.viewport().width()
        n = len(self.view.groups[index.row()]) if index.row() < len(self.view.groups) else 1
        lines = min(MAX_CELL_LINES, math.ceil(n / self.per_line(width)))
        cell = self.cell_size()
        return QSize(width, self.HEADER + lines * (cell.height() + self.GAP) + self.PAD)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        row = index.row()
        if row >= len(self.view.groups):
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawPrimitive(QStyle.PE_PanelItemViewItem, opt, painter, widget)
        members = self.view.groups[row]
        ds = self.view.state.dataset
        if ds is None:
            return
        pal = opt.palette
        text_color = pal.highlightedText().color() if opt.state & QStyle.State_Selected else pal.text().color()
        muted = QColor(text_color)
        muted.setAlpha(160)
        painter.save()
        painter.setClipRect(opt.rect)
        rect = opt.rect
        sims = self.view.sim_to_kept
        lo = float(np.nanmin(sims[members])) if len(members) else float("nan")
        header = f"Group {row + 1}  \u00b7  {len(members)} items  \u00b7  lowest {score_text(self.view.metric, lo)} to the kept item"
        painter.setPen(text_color)
        font = painter.font()
        bold = painter.font()
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawText(QRect(rect.left() + self.PAD, rect.top() + 2, rect.width() - 2 * self.PAD, self.HEADER - 2),
                         Qt.AlignLeft | Qt.AlignVCenter, header)
        painter.setFont(font)
        cells, more_rect, n_more = self.cells(rect, len(members))
        images = ds.modality == "image"
        kept = self.view.kept_of_group(row)
        for pos, cell in cells:
            i = int(members[pos])
            self._paint_member(painter, cell, ds, i, i == kept, images, text_color, muted, pal)
        if more_rect is not None:
            painter.setPen(muted)
            painter.drawText(more_rect, Qt.AlignCenter | Qt.TextWordWrap,
                             f"+{n_more} more\n(right-click for the whole group)")
        painter.restore()

    def _paint_member(self, painter: QPainter, cell: QRect, ds: Dataset, i: int, kept: bool, images: bool,
                      text_color: QColor, muted: QColor, pal) -> None:
        frame = QColor(KEEP_COLOR if self.view.decision_of(i) == "keep" else muted)
        pen = QPen(frame, 2 if kept else 1)
        painter.setPen(pen)
        painter.setBrush(Qt.NoBrush)
        painter.drawRoundedRect(cell.adjusted(0, 0, -1, -1), 4, 4)
        body = QRect(cell.left() + 4, cell.top() + 4, cell.width() - 8, cell.height() - self.CAPTION - 6)
        if images:
            pix = self.view.thumbnails.get(i)
            if pix is not None and not pix.isNull():
                scaled = pix.scaled(body.size(), Qt.KeepAspectRatio, Qt.SmoothTransformation)
                x = body.left() + (body.width() - scaled.width()) // 2
                y = body.top() + (body.height() - scaled.height()) // 2
                painter.drawPixmap(x, y, scaled)
            else:
                painter.setPen(muted)
                painter.drawText(body, Qt.AlignCenter, self.view.thumbnails.error(i) and "no preview" or "\u2026")
        else:
            painter.setPen(text_color)
            title = item_title(ds, i) or ds.ids[i]
            snippet = ds.display_text(i, 240) if ds.texts is not None else ds.ids[i]
            head = title if title == ds.ids[i] else f"{ds.ids[i]} \u00b7 {title}"
            fm = QFontMetrics(painter.font())
            painter.drawText(QRect(body.left(), body.top(), body.width(), fm.lineSpacing()), Qt.AlignLeft,
                             fm.elidedText(head, Qt.ElideRight, body.width()))
            painter.setPen(muted if not snippet else text_color)
            painter.drawText(body.adjusted(0, fm.lineSpacing(), 0, 0), Qt.AlignLeft | Qt.TextWordWrap, snippet)
        caption = QRect(cell.left() + 4, cell.bottom() - self.CAPTION + 2, cell.width() - 52, self.CAPTION - 4)
        painter.setPen(text_color)
        sim = float(self.view.sim_to_kept[i])
        painter.drawText(caption, Qt.AlignLeft | Qt.AlignVCenter,
                         "\u2605 kept" if kept else score_text(self.view.metric, sim))
        badge = self.badge_rect(cell)
        decision = self.view.decision_of(i)
        painter.setPen(Qt.NoPen)
        painter.setBrush(KEEP_COLOR if decision == "keep" else DROP_COLOR)
        painter.drawRoundedRect(badge, 7, 7)
        painter.setPen(QColor("white"))
        small = painter.font()
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.8))
        small.setBold(True)
        painter.save()
        painter.setFont(small)
        painter.drawText(badge, Qt.AlignCenter, decision.upper())
        painter.restore()

    def hit(self, rect: QRect, row: int, pos: QPoint) -> Tuple[str, int]:
        """What a click at ``pos`` in the row at ``rect`` means: ``("badge"|"cell", item)`` or ``("", -1)``."""
        if row >= len(self.view.groups):
            return "", -1
        members = self.view.groups[row]
        cells, _more, _n = self.cells(rect, len(members))
        for k, cell in cells:
            if cell.contains(pos):
                return ("badge" if self.badge_rect(cell).contains(pos) else "cell"), int(members[k])
        return "", -1


class GroupList(QListView):
    """The virtualised list of groups: clicks on a member's badge toggle keep / drop, clicks on a
    member make it the current item."""

    member_clicked = Signal(int)
    badge_clicked = Signal(int)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt name
        if event.button() == Qt.LeftButton:
            index = self.indexAt(event.position().toPoint())
            delegate = self.itemDelegate()
            if index.isValid() and isinstance(delegate, GroupDelegate):
                kind, item = delegate.hit(self.visualRect(index), index.row(), event.position().toPoint())
                if kind == "badge":
                    self.badge_clicked.emit(item)
                elif kind == "cell":
                    self.member_clicked.emit(item)
        super().mouseReleaseEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().resizeEvent(event)
        self.scheduleDelayedItemsLayout()  # rows wrap their members to the new width


# -- the view ------------------------------------------------------------------------------------------------
class DuplicatesView(View):
    """Near-duplicate groups at a threshold chosen on the nearest-neighbour similarity histogram."""

    title = "Duplicates"
    area = "bottom"
    name = "duplicates"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.thumbnails = shared_thumbnails(model)
        self._settings: Optional[Settings] = None
        #: the finder whose groups are listed (its threshold_ is the applied threshold), and its base range
        self.finder = None
        self.range = (0.0, 1.0)
        self.groups: List[np.ndarray] = []
        self.sim_to_kept = np.zeros(0, dtype=np.float32)
        #: the user's explicit choices {item: "keep" | "drop"}; everything else follows the keep rule
        self.decisions: Dict[int, str] = {}
        self._published_decisions: Optional[Dict[int, str]] = None
        #: the live threshold and its counts (from groups_at)
        self.threshold = float("nan")
        self.n_groups = 0
        self.n_items_in_groups = 0
        self._pending: Optional[float] = None
        self._user_moved = False
        self._syncing = False  # the view is setting its own controls
        #: the near-duplicates panel: whose, and what it shows
        self.near_index = -1
        self.near_ready = False  # the list shows the result for near_index
        self.near_indices = np.empty(0, dtype=np.int64)
        self.near_scores = np.empty(0, dtype=np.float32)
        self.last_export: Optional[Tuple[str, int]] = None

        self._build()
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._apply_settled)

        self.thumbnails.ready.connect(self._on_thumbnail)
        model.selection.current_changed.connect(self._on_current)
        model.dataset_changed.connect(self._reload)
        model.active_set_changed.connect(lambda _n: self._reload())
        model.analysis_changed.connect(self._on_analysis)
        runner.progress.connect(self._on_job_progress)
        runner.busy_changed.connect(self._update_placeholder)
        self._reload()

    # ======================================================================================
    # construction
    # ======================================================================================
    def _build(self) -> None:
        # placeholder page: nothing to show yet / computing
        self.placeholder = QWidget()
        self.wait_label = QLabel()
        self.wait_label.setWordWrap(True)
        self.wait_label.setAlignment(Qt.AlignCenter)
        self.wait_bar = QProgressBar()
        self.wait_bar.setRange(0, 1000)
        self.wait_bar.setMaximumWidth(360)
        self.find_button = QPushButton("Find duplicates now")
        self.find_button.setToolTip("Compute the nearest-neighbour graph of the active embeddings")
        self.find_button.clicked.connect(self.find_now)
        p = QVBoxLayout(self.placeholder)
        p.addStretch(1)
        p.addWidget(self.wait_label)
        p.addWidget(self.wait_bar, 0, Qt.AlignHCenter)
        p.addWidget(self.find_button, 0, Qt.AlignHCenter)
        p.addStretch(2)

        # controls
        self.spin = QDoubleSpinBox()
        self.spin.setDecimals(4)
        self.spin.setSingleStep(0.001)
        self.spin.setKeyboardTracking(False)
        self.spin.setToolTip("Items at or above this similarity to each other form a group")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setMinimumWidth(160)
        self.slider.setToolTip(self.spin.toolTip())
        self.reset_button = QPushButton("Suggested")
        self.reset_button.setToolTip("Back to the threshold suggested from the histogram")
        self.count_label = QLabel()
        self.count_label.setTextFormat(Qt.RichText)
        self.export_button = QPushButton("Export decisions\u2026")
        self.export_button.setToolTip("Save the groups with keep / drop as CSV or JSON. " + EXPORT_NOTE)
        self.log_box = QCheckBox("log counts")
        self.log_box.setChecked(True)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Threshold"))
        controls.addWidget(self.spin)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.reset_button)
        controls.addSpacing(10)
        controls.addWidget(self.count_label, 1)
        controls.addWidget(self.log_box)
        controls.addWidget(self.export_button)

        # histogram
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMinimumHeight(110)
        pi = self.plot.getPlotItem()
        pi.hideButtons()
        pi.setLabel("bottom", "similarity to the nearest other item")
        pi.setLabel("left", "items")
        pi.getViewBox().setMouseEnabled(x=False, y=False)
        self.hist = pg.PlotCurveItem(fillLevel=0, brush=pg.mkBrush(78, 121, 167, 150),
                                     pen=pg.mkPen(78, 121, 167, 255))
        self.plot.addItem(self.hist)
        pi.getAxis("left").enableAutoSIPrefix(False)
        # similarities below the graph's floor were never stored: the threshold cannot go there
        self.below_floor = pg.LinearRegionItem(values=(0.0, 0.0), movable=False, brush=pg.mkBrush(128, 128, 128, 45),
                                               pen=pg.mkPen(None))
        self.below_floor.setToolTip("Below the lowest similarity kept in the duplicate graph: "
                                    "the threshold cannot go there")
        self.plot.addItem(self.below_floor)
        self.suggested_line = pg.InfiniteLine(angle=90, movable=False,
                                              pen=pg.mkPen(120, 120, 120, 200, width=1, style=Qt.DashLine))
        self.plot.addItem(self.suggested_line)
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#e4572e", width=2),
                                    hoverPen=pg.mkPen("#e4572e", width=4))
        self.line.setToolTip("Drag to move the threshold")
        self.line_label = pg.InfLineLabel(self.line, text="{value:.4f}", position=0.88, anchors=[(0, 0), (0, 0)], color="#e4572e")
        self.plot.addItem(self.line)

        # groups and the near-duplicates panel
        self.group_list = GroupList()
        self.group_model = GroupModel(self)
        self.group_list.setModel(self.group_model)
        self.group_list.setItemDelegate(GroupDelegate(self, self.group_list))
        self.group_list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.group_list.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.group_list.setResizeMode(QListView.Adjust)
        self.group_list.setLayoutMode(QListView.Batched)
        self.group_list.setBatchSize(200)
        self.group_list.setMouseTracking(True)
        self.group_list.setContextMenuPolicy(Qt.CustomContextMenu)
        self.groups_label = QLabel()
        self.groups_label.setWordWrap(True)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.groups_label)
        ll.addWidget(self.group_list, 1)

        self.near_header = QLabel()
        self.near_header.setTextFormat(Qt.RichText)
        self.near_header.setWordWrap(True)
        self.near_list = ItemList(self.thumbnails, 56, "Click an item to make it the current item")
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.near_header)
        rl.addWidget(self.near_list, 1)

        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)

        self.content = QWidget()
        top = QSplitter(Qt.Vertical)
        top.addWidget(self.plot)
        top.addWidget(self.splitter)
        top.setStretchFactor(0, 1)
        top.setStretchFactor(1, 3)
        top.setChildrenCollapsible(False)
        cl = QVBoxLayout(self.content)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addLayout(controls)
        cl.addWidget(top, 1)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.content)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.stack)

        self.slider.valueChanged.connect(lambda v: self._moved(self._from_slider(v), "slider"))
        self.spin.valueChanged.connect(lambda v: self._moved(float(v), "spin"))
        self.line.sigPositionChanged.connect(lambda line: self._moved(float(line.value()), "line"))
        self.reset_button.clicked.connect(self.reset_threshold)
        self.log_box.toggled.connect(lambda _c: self._draw_histogram())
        self.export_button.clicked.connect(self.export_dialog)
        self.group_list.selectionModel().selectionChanged.connect(lambda *_: self._on_groups_selected())
        self.group_list.member_clicked.connect(self._on_member_clicked)
        self.group_list.badge_clicked.connect(self.toggle_decision)
        self.group_list.customContextMenuRequested.connect(self._group_menu)
        self.near_list.item_chosen.connect(self._on_near_chosen)

    # ======================================================================================
    # public
    # ======================================================================================
    @property
    def metric(self) -> str:
        return getattr(self.finder, "metric", "cosine")

    def set_threshold(self, threshold: float) -> None:
        """Move the threshold as if the user typed it (clipped to the allowed range)."""
        self._moved(float(threshold), "api")

    def reset_threshold(self) -> None:
        """Back to the suggested threshold."""
        if self.finder is not None:
            self._moved(float(self.finder.suggested_threshold_), "api")

    def kept_of_group(self, row: int) -> int:
        """The suggested item to keep of group ``row`` (the finder's keep rule)."""
        return int(self.finder.keep_[row]) if self.finder is not None and row < len(self.finder.keep_) else -1

    def decision_of(self, index: int) -> str:
        """``"keep"`` or ``"drop"`` for an item in a group: the user's choice, else the keep rule."""
        index = int(index)
        if index in self.decisions:
            return self.decisions[index]
        f = self.finder
        if f is not None and 0 <= index < f.n_items_ and f.labels_[index] >= 0:
            return "keep" if int(f.keep_[f.labels_[index]]) == index else "drop"
        return "keep"

    def set_decision(self, index: int, decision: str) -> None:
        """Mark an item of a group ``"keep"`` or ``"drop"`` (stored in the state)."""
        if decision not in ("keep", "drop"):
            raise ValueError(f"decision must be 'keep' or 'drop', not {decision!r}")
        self.set_decisions({int(index): decision})

    def set_decisions(self, changes: Dict[int, str]) -> None:
        for i, d in changes.items():
            self.decisions[int(i)] = d
        self._publish_decisions()
        self.group_list.viewport().update()

    def toggle_decision(self, index: int) -> None:
        self.set_decision(index, "drop" if self.decision_of(index) == "keep" else "keep")

    def find_now(self) -> None:
        """Compute the duplicates of the active set now (the same job the analysis scheduler runs)."""
        from embedview.gui.analysis import run_duplicates

        emb, name = self.state.emb, self.state.active
        if emb is None:
            return

        def done(finder, emb=emb, name=name) -> None:
            if self.state.sets.get(name) is emb:
                self.state.set_analysis(FINDER_KIND, finder, name=name)

        self.runner.submit(FIND_KEY, run_duplicates, emb, on_result=done)
        self._update_placeholder()

    def export_decisions(self, path: str, on_done=None):
        """Write the groups at the current threshold and the keep / drop decisions to ``path``
        (``.json`` or CSV) in the runner; returns the Job."""
        if self.finder is None or self.state.dataset is None:
            raise RuntimeError("no duplicates to export yet")

        def finished(result) -> None:
            self.last_export = result
            self.groups_label.setText(f"Wrote {result[1]:,} rows to {html.escape(result[0])}. {EXPORT_NOTE}")
            if on_done is not None:
                on_done(result)

        def failed(message: str) -> None:
            self.groups_label.setText(theme.error_html(f"Export failed: {message}"))
            self.runner.error.emit(EXPORT_KEY, f"exporting duplicate decisions failed: {message}")

        return self.runner.submit(EXPORT_KEY, export_decisions, self.finder, self.threshold, str(path),
                                  self.state.dataset, dict(self.decisions), on_result=finished, on_error=failed)

    def export_dialog(self) -> None:
        """Ask where to save the decisions (CSV or JSON) and write them."""
        if self.finder is None:
            self.groups_label.setText("No duplicates to export yet.")
            return
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export duplicate decisions \u2014 a list only; no file of your data is deleted, moved or changed",
            "duplicates.csv", "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
        if not path.lower().endswith((".csv", ".json")):
            path += ".json" if "json" in chosen.lower() else ".csv"
        self.export_decisions(path)

    def export_plot(self, path: str) -> None:
        """Write the histogram with the threshold as PNG or SVG (by the file extension)."""
        export_plot_item(self.plot.getPlotItem(), path)

    def shutdown(self) -> None:
        self._settle.stop()
        for key in (APPLY_KEY, NEAR_KEY, EXPORT_KEY):
            self.runner.cancel(key)

    # ======================================================================================
    # state
    # ======================================================================================
    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings()
        return self._settings

    def _settings_key(self) -> str:
        return f"duplicates/threshold/{self.state.active or 'none'}/{self.metric}"

    def _reload(self) -> None:
        """The active set (or the dataset) changed: adopt its finder, or wait for it."""
        self._settle.stop()
        self.runner.cancel(APPLY_KEY)
        self.runner.cancel(NEAR_KEY)
        self.finder = None
        self.groups = []
        self.group_model.reset()
        self.decisions = dict(self.state.get_analysis(DECISIONS_KIND) or {}) if self.state.active else {}
        self._published_decisions = None
        self._clear_near()
        finder = self.state.get_analysis(FINDER_KIND) if self.state.emb is not None else None
        if finder is not None:
            self._adopt(finder)
        self._update_placeholder()

    def _on_analysis(self, kind: str) -> None:
        if kind == FINDER_KIND:
            finder = self.state.get_analysis(FINDER_KIND)
            if finder is not None and finder is not self.finder:
                self._adopt(finder)
            elif finder is None:
                self._reload()
            self._update_placeholder()
        elif kind == DECISIONS_KIND:
            stored = self.state.get_analysis(DECISIONS_KIND)
            if stored is not self._published_decisions:  # restored from elsewhere (a session)
                self.decisions = {int(i): str(d) for i, d in dict(stored or {}).items()}
                self.group_list.viewport().update()

    def _adopt(self, finder) -> None:
        """Show a finder that arrived from elsewhere (the scheduler, a session)."""
        self.finder = finder
        self.range = threshold_range(finder)
        self._setup_controls()
        self._draw_histogram()
        suggested = float(finder.suggested_threshold_)
        start = float(finder.threshold_)
        if math.isclose(start, suggested, abs_tol=1e-9):  # nobody chose one: the remembered one, if it fits
            remembered = self.settings.value(self._settings_key(), None, float)
            if remembered is not None and self.range[0] <= remembered <= self.range[1]:
                start = remembered
        self._user_moved = False
        self._set_controls(start)
        self.threshold = start
        self._live_update(start)
        self.groups = []
        self.group_model.reset()
        self.groups_label.setText("Listing the groups\u2026")
        self._apply_settled()

    def _update_placeholder(self) -> None:
        ds, emb = self.state.dataset, self.state.emb
        if self.finder is not None and emb is not None:
            self.stack.setCurrentWidget(self.content)
            return
        self.stack.setCurrentWidget(self.placeholder)
        running = self.runner.is_running(FIND_KEY)
        self.wait_bar.setVisible(running)
        self.find_button.setVisible(emb is not None and not running)
        if ds is None:
            self.wait_label.setText("Open data to look for exact and near-duplicate items.")
        elif emb is None:
            self.wait_label.setText("Duplicates are searched once the items are encoded.")
        elif running:
            self.wait_label.setText("Finding near-duplicates\u2026 computing each item's nearest neighbours.")
        else:
            self.wait_label.setText("Near-duplicates are found in the background after the outlier scores "
                                    "(computing\u2026). Start now to have them sooner.")

    def _on_job_progress(self, key: str, fraction: float, message: str) -> None:
        if key == FIND_KEY:
            self.wait_bar.setValue(int(round(fraction * 1000)))
            self.wait_bar.setFormat(f"{fraction * 100:.0f} %  {message}")
            if not self.wait_bar.isVisible() and self.stack.currentWidget() is self.placeholder:
                self._update_placeholder()

    # ======================================================================================
    # threshold: controls, live counts, settled groups
    # ======================================================================================
    def _setup_controls(self) -> None:
        lo, hi = self.range
        self._syncing = True
        try:
            self.spin.setRange(lo, hi)
            self.line.setBounds([lo, hi])
        finally:
            self._syncing = False
        self.suggested_line.setValue(float(self.finder.suggested_threshold_))
        self.suggested_line.setToolTip(f"suggested threshold {self.finder.suggested_threshold_:.4f}")
        self.reset_button.setToolTip(f"Back to the suggested threshold, {self.finder.suggested_threshold_:.4f}")

    def _to_slider(self, t: float) -> int:
        lo, hi = self.range
        return int(round((t - lo) / (hi - lo) * SLIDER_STEPS))

    def _from_slider(self, v: int) -> float:
        lo, hi = self.range
        return lo + (hi - lo) * v / SLIDER_STEPS

    def _set_controls(self, t: float, source: str = "") -> None:
        """Show ``t`` in the controls other than ``source``; their change signals are ignored
        meanwhile (not blocked: the line's label follows its own signal)."""
        self._syncing = True
        try:
            if source != "spin":
                self.spin.setValue(t)
            if source != "slider":
                self.slider.setValue(self._to_slider(t))
            if source != "line":
                self.line.setValue(t)
        finally:
            self._syncing = False

    def _moved(self, t: float, source: str) -> None:
        if self._syncing or self.finder is None or not math.isfinite(t):
            return
        lo, hi = self.range
        t = min(max(t, lo), hi)
        self._user_moved = True
        self._set_controls(t, source)
        self.threshold = t
        if self._pending is None:
            QTimer.singleShot(0, self._flush)  # one update per event-loop turn, however many moves
        self._pending = t
        self._settle.start()

    def _flush(self) -> None:
        t, self._pending = self._pending, None
        if t is not None and self.finder is not None:
            self._live_update(t)

    def _live_update(self, t: float) -> None:
        """The live path: groups and grouped items at ``t`` from the stored graph (no neighbour search)."""
        n_groups, labels = self.finder.groups_at(t)
        self.n_groups = int(n_groups)
        self.n_items_in_groups = int(np.count_nonzero(labels >= 0))
        self._show_counts()

    def _show_counts(self) -> None:
        f = self.finder
        spare = self.n_items_in_groups - self.n_groups
        exact = len(f.exact_groups_) if f is not None else 0
        self.count_label.setText(
            f"<b>{self.n_groups:,}</b> groups \u00b7 <b>{self.n_items_in_groups:,}</b> items in groups "
            f"({spare:,} could go) \u00b7 {exact:,} exact-copy group{'s' if exact != 1 else ''}")

    def _apply_settled(self) -> None:
        """The threshold stopped moving: recompute groups and keep on a copy of the finder."""
        f = self.finder
        if f is None:
            return
        t = self.threshold
        self.runner.submit(APPLY_KEY, apply_threshold, f, t,
                           on_result=lambda res, base=f, t=t: self._applied(base, t, res))

    def _applied(self, base, t: float, result) -> None:
        if base is not self.finder or self.state.get_analysis(FINDER_KIND) is not base:
            return  # the set changed meanwhile
        finder, sims = result
        self._show_groups(finder, sims)
        # choices are kept for items still in a group, forgotten for the others
        kept = {i: d for i, d in self.decisions.items() if 0 <= i < finder.n_items_ and finder.labels_[i] >= 0}
        if kept != self.decisions:
            self.decisions = kept
            self._publish_decisions()
        if finder is not base:
            self.state.set_analysis(FINDER_KIND, finder)
        if self._user_moved and self.state.active:
            self.settings.set_value(self._settings_key(), float(t))
        self._refresh_near()

    def _show_groups(self, finder, sims: np.ndarray) -> None:
        self.finder = finder
        self.sim_to_kept = sims
        self.groups = list(finder.groups_)
        self.group_model.reset()
        n_items = sum(len(g) for g in self.groups)
        self.groups_label.setText(
            f"{len(self.groups):,} groups at {score_text(finder.metric, finder.threshold_)} ({n_items:,} items). "
            "Click a picture to inspect it, KEEP / DROP to change the decision; select groups to show them "
            "on the map.")
        if math.isclose(self.threshold, finder.threshold_, abs_tol=1e-12):
            self.n_groups, self.n_items_in_groups = len(self.groups), n_items
            self._show_counts()

    def _publish_decisions(self) -> None:
        published = dict(self.decisions)
        self._published_decisions = published
        if self.state.active:
            self.state.set_analysis(DECISIONS_KIND, published)

    def _draw_histogram(self) -> None:
        f = self.finder
        if f is None:
            return
        sims = np.asarray(f.nn_similarity_, dtype=np.float64)
        sims = sims[np.isfinite(sims)]
        lo, hi = self.range
        left = float(min(lo, sims.min())) if sims.size else lo
        counts, edges = np.histogram(sims, bins=HIST_BINS, range=(left, hi))
        log_y = self.log_box.isChecked()
        pi = self.plot.getPlotItem()
        axis = pi.getAxis("left")
        if log_y:  # log10(1 + count), with ticks at 1, 10, 100, ... (0 stays at the baseline)
            heights = np.log10(counts + 1.0)
            top = int(np.ceil(heights.max())) if heights.size else 1
            axis.setTicks([[(float(np.log10(10**e + 1.0)), f"{10**e:,}") for e in range(top + 1)], []])
        else:
            heights = counts.astype(float)
            axis.setTicks(None)
        self.hist.setData(edges, heights, stepMode="center")
        pi.setLabel("left", "items (log)" if log_y else "items")
        self.below_floor.setRegion((left, lo))
        self.below_floor.setVisible(left < lo)
        pi.getViewBox().setXRange(left, hi, padding=0.01)
        pi.getViewBox().enableAutoRange(axis="y")

    # ======================================================================================
    # groups -> selection, decisions menu
    # ======================================================================================
    def selected_groups(self) -> List[int]:
        return sorted(ix.row() for ix in self.group_list.selectionModel().selectedRows())

    def select_group(self, row: int) -> None:
        """Select group ``row`` in the list (which selects its members everywhere)."""
        self.group_list.setCurrentIndex(self.group_model.index(row))

    def _on_groups_selected(self) -> None:
        rows = self.selected_groups()
        if not rows:
            return
        members = np.concatenate([self.groups[r] for r in rows if r < len(self.groups)])
        self.selection.set_selection(members, self.name)

    def _on_member_clicked(self, index: int) -> None:
        self.selection.set_current(index, self.name)
        self.show_near_duplicates(index)

    def _group_menu(self, pos: QPoint) -> None:
        index = self.group_list.indexAt(pos)
        if not index.isValid():
            return
        row = index.row()
        members = [int(m) for m in self.groups[row]]
        kept = self.kept_of_group(row)
        menu = QMenu(self)
        menu.addAction("Keep all", lambda: self.set_decisions({m: "keep" for m in members}))
        menu.addAction("Keep only the suggested item",
                       lambda: self.set_decisions({m: "keep" if m == kept else "drop" for m in members}))
        menu.addAction("Reset to the suggestion", lambda: self._reset_group(members))
        menu.addSeparator()
        ds = self.state.dataset
        menu.addAction("Copy ids", lambda: QApplication.clipboard().setText("\n".join(ds.ids[m] for m in members)))
        menu.exec(self.group_list.viewport().mapToGlobal(pos))

    def _reset_group(self, members: Sequence[int]) -> None:
        for m in members:
            self.decisions.pop(int(m), None)
        self._publish_decisions()
        self.group_list.viewport().update()

    # ======================================================================================
    # near-duplicates of the current item
    # ======================================================================================
    def _on_current(self, index: int, source: str) -> None:
        if source == self.name:
            return
        if index < 0:
            self._clear_near()
            return
        self.show_near_duplicates(index)

    def show_near_duplicates(self, index: int) -> None:
        """List the items at or above the threshold to item ``index`` (in the runner)."""
        self.near_index = int(index)
        ds = self.state.dataset
        if self.finder is None or ds is None or not 0 <= index < len(ds):
            self._clear_near()
            return
        self.near_header.setText(f"<b>Near-duplicates of</b> {html.escape(ds.ids[index])} "
                                 f"<span style='color:#888'>(\u2265 {self.threshold:.4f})</span>")
        t = self.threshold
        self.near_ready = False
        self.near_indices = np.empty(0, dtype=np.int64)
        self.near_scores = np.empty(0, dtype=np.float32)
        self.near_list.clear_items()
        self.runner.submit(NEAR_KEY, near_duplicates, self.finder, int(index), t,
                           on_result=lambda r, i=int(index), t=t: self._show_near(i, t, r))

    def _refresh_near(self) -> None:
        if self.near_index >= 0:
            self.show_near_duplicates(self.near_index)

    def _show_near(self, index: int, t: float, result) -> None:
        if index != self.near_index:
            return
        idx, sims = result
        self.near_ready = True
        self.near_indices = np.asarray(idx, dtype=np.int64)
        self.near_scores = np.asarray(sims, dtype=np.float32)
        self.near_list.clear_items()
        ds = self.state.dataset
        if ds is None:
            return
        if not len(idx):
            self.near_list.add_note(f"No item at or above {t:.4f}.")
            return
        for j, s in zip(self.near_indices.tolist(), self.near_scores.tolist()):
            head = f"{ds.ids[j]}   {score_text(self.metric, s)}"
            label = item_title(ds, j)
            if label and label != ds.ids[j]:
                head += f"   \u00b7 {label}"
            body = ds.display_text(j, 140) if ds.texts is not None else ""
            self.near_list.add_item(ds, j, head + (f"\n{body}" if body else ""))

    def _clear_near(self) -> None:
        self.runner.cancel(NEAR_KEY)
        self.near_index = -1
        self.near_ready = False
        self.near_indices = np.empty(0, dtype=np.int64)
        self.near_scores = np.empty(0, dtype=np.float32)
        self.near_list.clear_items()
        self.near_header.setText("<b>Near-duplicates</b><br><span style='color:#888'>Click an item anywhere "
                                 "(map, table, a picture here) to list its near-duplicates.</span>")

    def _on_near_chosen(self, j: int) -> None:
        self.selection.set_current(j, self.name)
        self.show_near_duplicates(j)

    def _on_thumbnail(self, index: int) -> None:
        self.near_list.thumbnail_ready(index)
        if self.groups:
            self.group_list.viewport().update()
