"""Duplicates: pick a near-duplicate threshold on a histogram, review the groups, mark keep / drop, export.

Everything works on the :class:`~embedview.core.duplicates.DuplicateFinder` that the
:class:`~embedview.gui.analysis.AnalysisScheduler` computes once per embedding set (one k-NN
pass) and files as ``AnalysisKind.DUPLICATES`` of the set.  Nothing here searches neighbours
again, and nothing here computes: the numpy is in :mod:`embedview.core.duplicates`, the rules
tying threshold, finder and decisions in :mod:`embedview.model.views.duplicates`.

Where things live (the view holds no state of its own, only what it draws):

* the **threshold**: ``model.views.duplicates.threshold`` (``None``: the data's suggestion).
  The spin box, the slider and the histogram's marker write it and show it;
* the **finder at that threshold**: ``model.get_analysis(AnalysisKind.DUPLICATES)``;
* the **keep / drop choices**: ``AnalysisKind.DUPLICATE_DECISIONS``, ``{item: "keep" | "drop"}``,
  explicit choices only (everything else follows the keep rule).

When the threshold moves:

* **live** (coalesced to one update per event-loop turn): ``finder.counts_at`` on the stored
  spanning forest gives the number of groups and of items in groups (~15-30 ms at 100k items,
  ``benchmarks/bench_dup_threshold.py``);
* **settled** (:data:`SETTLE_MS` after the last move): ``core.duplicates.apply_threshold`` in the
  runner (``JobKind.DUPLICATES_APPLY``) makes a *new* finder at the threshold and its group
  table; the list is refilled and the new finder filed in the model
  (``model.views.duplicates.file_finder``: choices for items still in a group are kept, the
  others forgotten), so the map's "duplicate group" colouring and exports follow.

Exports (CSV / JSON, ``JobKind.DUPLICATES_EXPORT``) only write the list: no user file is ever
deleted, moved or changed.  Click-to-find: whenever the shared current item changes (any view),
the "Near-duplicates of" panel lists the items at or above the threshold
(``JobKind.DUPLICATES_NEAR``).  Selecting groups sets the shared selection to their members.
The threshold last chosen for an encoder is remembered in the settings (written from the
state's event) and offered when a fresh finder of that encoder arrives.
"""

from __future__ import annotations

import html
import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QPoint,
    QRect,
    QSignalBlocker,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from embedview.core.dataset import Dataset
from embedview.core.duplicates import (
    DuplicateFinder,
    GroupTable,
    apply_threshold,
    export_decisions,
    near_duplicates,
    similarity_histogram,
)
from embedview.gui import theme
from embedview.gui.bind import bind
from embedview.gui.dialogs import ask_list_export
from embedview.gui.settings import Settings
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.views.base import View
from embedview.gui.widgets import ItemList, export_plot_item, item_title, score_text
from embedview.gui.workers import JobRunner
from embedview.model import AnalysisKind, AppModel
from embedview.model.views.duplicates import (
    decisions_of,
    effective_threshold,
    file_finder,
    forget_decisions,
    set_decisions,
)
from embedview.runtime.keys import JobKey, JobKind

log = logging.getLogger(__name__)

#: the analysis job that computes the finder (AnalysisScheduler's key; the "Find now" button reuses it)
FIND_KEY: JobKey = JobKind.DUPLICATES.key()
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


# -- the list of groups --------------------------------------------------------------------------------
class GroupModel(QAbstractListModel):
    """One row per group; the members are drawn by :class:`GroupDelegate` from the view's data."""

    def __init__(self, view: DuplicatesView) -> None:
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

    def __init__(self, view: DuplicatesView, list_view: QListView) -> None:
        super().__init__(list_view)
        self.view = view
        self.list_view = list_view

    # geometry shared by painting, size hints and clicks
    def cell_size(self) -> QSize:
        ds = self.view.model.dataset
        if ds is not None and ds.modality == "image":
            return QSize(self.THUMB + 28, self.THUMB + self.name_height() + self.CAPTION + 8)
        return QSize(230, 4 * QFontMetrics(self.list_view.font()).lineSpacing() + self.CAPTION + 10)

    def per_line(self, width: int) -> int:
        cell = self.cell_size()
        return max(1, (width - 2 * self.PAD + self.GAP) // (cell.width() + self.GAP))

    def cells(self, rect: QRect, n_members: int) -> tuple[list[tuple[int, QRect]], QRect | None, int]:
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

    def name_height(self) -> int:
        """Height of the file-name line under an image card's thumbnail."""
        return QFontMetrics(self.list_view.font()).lineSpacing()

    def name_rect(self, cell: QRect) -> QRect:
        """Where an image card's file name is drawn: just above the caption."""
        h = self.name_height()
        return QRect(cell.left() + 4, cell.bottom() - self.CAPTION - h + 1, cell.width() - 8, h)

    @staticmethod
    def file_name(ds: Dataset, i: int) -> str:
        """The item's file name (its source's base name; the id when there is none)."""
        src = str(ds.sources[i]) if i < len(ds.sources) else ""
        return os.path.basename(src) or str(ds.ids[i])

    def name_text(self, ds: Dataset, i: int, width: int) -> str:
        """The file name as drawn on a card ``width`` wide: elided in the middle (the extension stays)."""
        return QFontMetrics(self.list_view.font()).elidedText(self.file_name(ds, i), Qt.ElideMiddle, width)

    def tooltip_for(self, item: int) -> str:
        """A member's tooltip: its full path (or id), then its similarity to the kept item."""
        ds = self.view.model.dataset
        if ds is None or not 0 <= item < len(ds.ids):
            return ""
        src = str(ds.sources[item]) if item < len(ds.sources) else ""
        where = src if ds.modality == "image" and src else str(ds.ids[item])
        sim = float(self.view.sim_to_kept[item]) if item < len(self.view.sim_to_kept) else float("nan")
        tail = "" if not math.isfinite(sim) else f"\n{score_text(self.view.metric, sim)} to the kept item"
        return f"{where}{tail}\nClick: make it the current item \u00b7 KEEP / DROP: change the decision"

    def helpEvent(self, event, view, option, index) -> bool:  # noqa: N802 - Qt name
        if event.type() == QEvent.ToolTip and index.isValid():
            _kind, item = self.hit(view.visualRect(index), index.row(), event.pos())
            if item >= 0:
                QToolTip.showText(event.globalPos(), self.tooltip_for(item), view)
                return True
        return super().helpEvent(event, view, option, index)

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
        ds = self.view.model.dataset
        if ds is None:
            return
        pal = opt.palette
        text_color = pal.highlightedText().color() if opt.state & QStyle.State_Selected else pal.text().color()
        muted = QColor(text_color)
        muted.setAlpha(160)
        painter.save()
        painter.setClipRect(opt.rect)
        rect = opt.rect
        lo = float(self.view.lowest_to_kept[row]) if row < len(self.view.lowest_to_kept) else float("nan")
        header = (f"Group {row + 1}  \u00b7  {len(members)} items  \u00b7  "
                  f"lowest {score_text(self.view.metric, lo)} to the kept item")
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
            name = self.name_rect(cell)
            body.setBottom(name.top() - 2)
            painter.setPen(text_color)
            painter.drawText(name, Qt.AlignHCenter | Qt.AlignVCenter, self.name_text(ds, i, name.width()))
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

    def hit(self, rect: QRect, row: int, pos: QPoint) -> tuple[str, int]:
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
        self.dup_state = model.views.duplicates
        self._settings: Settings | None = None
        # what is drawn (derived from the model, refilled when it changes)
        #: the finder whose groups are listed (the model's, once the last move settled)
        self._shown: DuplicateFinder | None = None
        #: the threshold range of the controls (the finder's ``threshold_range()``)
        self.range = (0.0, 1.0)
        self.groups: list[np.ndarray] = []
        self.sim_to_kept = np.zeros(0, dtype=np.float32)
        self.lowest_to_kept = np.zeros(0, dtype=np.float32)
        #: the live counts at the threshold (from counts_at), what the count label shows
        self.n_groups = 0
        self.n_items_in_groups = 0
        self._live_queued = False  # a live update is queued for the next event-loop turn
        self._syncing = False  # the view is showing the threshold in its controls: ignore their echo
        self._adopting = False  # the view is choosing the threshold for a finder that just arrived
        #: the near-duplicates panel: whose, and what it shows
        self.near_index = -1
        self.near_ready = False  # the list shows the result for near_index
        self.near_indices = np.empty(0, dtype=np.int64)
        self.near_scores = np.empty(0, dtype=np.float32)
        self.last_export: tuple[str, int] | None = None

        self._build()
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._apply_settled)

        self.thumbnails.ready.connect(self._on_thumbnail)
        self.dup_state.events.threshold.connect(self._on_threshold)
        model.selection.current_changed.connect(self._on_current)
        model.dataset_changed.connect(self._reload)
        model.active_set_changed.connect(self._on_active_set)
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
        self.line_label = pg.InfLineLabel(self.line, text="{value:.4f}", position=0.88, anchors=[(0, 0), (0, 0)],
                                          color="#e4572e")
        self.plot.addItem(self.line)
        self.line.sigPositionChanged.connect(self._place_line_label)
        pi.getViewBox().sigXRangeChanged.connect(self._place_line_label)

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

        # the threshold's three controls write model.views.duplicates.threshold; _on_threshold shows it
        self.slider.valueChanged.connect(lambda v: self._write_threshold(self._from_slider(v)))
        self.spin.valueChanged.connect(lambda v: self._write_threshold(float(v)))
        self.line.sigPositionChanged.connect(lambda line: self._write_threshold(float(line.value())))
        self.reset_button.clicked.connect(self.reset_threshold)
        bind(self.log_box, self.dup_state, "log_counts", on_change=lambda _on: self._draw_histogram())
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
    def finder(self) -> DuplicateFinder | None:
        """The active set's finder in the model (at the applied threshold), or None."""
        if self.model.emb is None:
            return None
        return self.model.get_analysis(AnalysisKind.DUPLICATES)

    @property
    def threshold(self) -> float:
        """The threshold in force: ``model.views.duplicates.threshold``, else the suggestion
        (NaN without a finder)."""
        return effective_threshold(self.dup_state, self.finder)

    @property
    def decisions(self) -> dict[int, str]:
        """The user's explicit keep / drop choices of the active set (a copy of the model's)."""
        return decisions_of(self.model) if self.model.active else {}

    @property
    def metric(self) -> str:
        return getattr(self.finder, "metric", "cosine")

    def set_threshold(self, threshold: float) -> None:
        """Move the threshold as if the user typed it (clipped to the allowed range)."""
        self._write_threshold(float(threshold))

    def reset_threshold(self) -> None:
        """Back to the suggested threshold."""
        self.dup_state.threshold = None

    def kept_of_group(self, row: int) -> int:
        """The suggested item to keep of group ``row`` (the finder's keep rule)."""
        f = self._shown
        return int(f.keep_[row]) if f is not None and row < len(f.keep_) else -1

    def decision_of(self, index: int) -> str:
        """``"keep"`` or ``"drop"`` for an item in a group: the user's choice, else the keep rule."""
        f = self._shown
        if f is None:
            return "keep"
        stored: Mapping[int, str] = self.model.get_analysis(AnalysisKind.DUPLICATE_DECISIONS) or {}
        return f.decision(index, stored)

    def set_decision(self, index: int, decision: str) -> None:
        """Mark an item of a group ``"keep"`` or ``"drop"`` (stored in the model)."""
        self.set_decisions({int(index): decision})

    def set_decisions(self, changes: dict[int, str]) -> None:
        if self.model.active:
            set_decisions(self.model, changes)  # -> analysis_changed -> repaint

    def toggle_decision(self, index: int) -> None:
        self.set_decision(index, "drop" if self.decision_of(index) == "keep" else "keep")

    def find_now(self) -> None:
        """Compute the duplicates of the active set now (the same job the analysis scheduler runs)."""
        from embedview.actions.analysis import kept_graph, run_duplicates

        emb, name = self.model.emb, self.model.active
        if emb is None:
            return
        self.runner.submit(FIND_KEY, run_duplicates, emb, kept_graph(emb),  # an exact kept graph: no search
                           on_result=lambda finder: self.model.set_analysis(AnalysisKind.DUPLICATES, finder, name=name),
                           is_stale=lambda: not self.model.is_current(emb, name))
        self._update_placeholder()

    def export_decisions(self, path: str, on_done=None):
        """Write the groups at the current threshold and the keep / drop decisions to ``path``
        (``.json`` or CSV) in the runner; returns the Job."""
        finder = self.finder
        if finder is None or self.model.dataset is None:
            raise RuntimeError("no duplicates to export yet")

        def finished(result: tuple[str, int]) -> None:
            self.last_export = result
            self.groups_label.setText(f"Wrote {result[1]:,} rows to {html.escape(result[0])}. {EXPORT_NOTE}")
            if on_done is not None:
                on_done(result)

        def failed(message: str) -> None:
            self.groups_label.setText(theme.error_html(f"Export failed: {message}"))
            self.runner.error.emit(JobKind.DUPLICATES_EXPORT.key(), f"exporting duplicate decisions failed: {message}")

        return self.runner.submit(JobKind.DUPLICATES_EXPORT, export_decisions, finder, self.threshold, str(path),
                                  self.model.dataset, self.decisions, on_result=finished, on_error=failed)

    def export_dialog(self) -> None:
        """Ask where to save the decisions (CSV or JSON) and write them."""
        if self.finder is None:
            self.groups_label.setText("No duplicates to export yet.")
            return
        path = ask_list_export(
            self, "Export duplicate decisions \u2014 a list only; no file of your data is deleted, moved or changed",
            "duplicates.csv")
        if path is not None:
            self.export_decisions(path)

    def export_plot(self, path: str) -> None:
        """Write the histogram with the threshold as PNG or SVG (by the file extension)."""
        export_plot_item(self.plot.getPlotItem(), path)

    def shutdown(self) -> None:
        self._settle.stop()
        for kind in (JobKind.DUPLICATES_APPLY, JobKind.DUPLICATES_NEAR, JobKind.DUPLICATES_EXPORT):
            self.runner.cancel(kind)

    # ======================================================================================
    # the model -> the view
    # ======================================================================================
    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings()
        return self._settings

    def _settings_key(self) -> str:
        return f"duplicates/threshold/{self.model.active or 'none'}/{self.metric}"

    def _on_active_set(self, _name: str = "") -> None:
        """Another set: its own threshold comes with its finder (or the remembered one)."""
        self._adopting = True
        try:
            self.dup_state.threshold = None
        finally:
            self._adopting = False
        self._reload()

    def _reload(self) -> None:
        """The active set (or the dataset) changed: adopt its finder, or wait for it."""
        self._settle.stop()
        self.runner.cancel(JobKind.DUPLICATES_APPLY)
        self._shown = None
        self.groups = []
        self.group_model.reset()
        self._clear_near()
        finder = self.finder
        if finder is not None:
            self._adopt(finder)
        self._update_placeholder()

    def _on_analysis(self, kind: Any, name: str = "") -> None:
        if name and name != self.model.active:
            return  # another set's
        if kind == AnalysisKind.DUPLICATES:
            finder = self.finder
            if finder is None:
                self._reload()
            elif finder is not self._shown:  # from elsewhere: the scheduler, a session
                self._adopt(finder)
            self._update_placeholder()
        elif kind == AnalysisKind.DUPLICATE_DECISIONS:
            self.group_list.viewport().update()

    def _adopt(self, finder: DuplicateFinder) -> None:
        """Show a finder that arrived from elsewhere, at the threshold it was filed at if someone
        moved it there (this view before, a session), else at the one chosen before it came,
        else at the remembered one if it fits, else at the suggestion."""
        self.range = finder.threshold_range()
        lo, hi = self.range
        want: float | None
        if not math.isclose(finder.threshold_, finder.suggested_threshold_, rel_tol=0.0, abs_tol=1e-9):
            want = float(finder.threshold_)
        elif self.dup_state.threshold is not None:
            want = self.dup_state.threshold
        else:
            remembered = self.settings.value(self._settings_key(), None, float)
            want = remembered if remembered is not None and lo <= remembered <= hi else None
        self._adopting = True
        try:
            self.dup_state.threshold = None if want is None else finder.clip_threshold(want)
        finally:
            self._adopting = False
        self._settle.stop()
        self._setup_controls(finder)
        self._draw_histogram()
        self._show_threshold()
        self._live_update()
        self._shown = None
        self.groups = []
        self.group_model.reset()
        self.groups_label.setText("Listing the groups\u2026")
        self._apply_settled()

    def _update_placeholder(self) -> None:
        ds, emb = self.model.dataset, self.model.emb
        if self.finder is not None:
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

    def _on_job_progress(self, key: Any, fraction: float, message: str) -> None:
        if key == FIND_KEY:
            self.wait_bar.setValue(int(round(fraction * 1000)))
            self.wait_bar.setFormat(f"{fraction * 100:.0f} %  {message}")
            if not self.wait_bar.isVisible() and self.stack.currentWidget() is self.placeholder:
                self._update_placeholder()

    # ======================================================================================
    # threshold: controls <-> model.views.duplicates.threshold, live counts, settled groups
    # ======================================================================================
    def _setup_controls(self, finder: DuplicateFinder) -> None:
        lo, hi = self.range
        self._syncing = True
        try:
            self.spin.setRange(lo, hi)
            self.line.setBounds([lo, hi])
        finally:
            self._syncing = False
        suggested = float(finder.suggested_threshold_)
        self.suggested_line.setValue(suggested)
        reason = str(getattr(finder, "suggestion_reason_", ""))
        self.suggested_line.setToolTip(f"suggested threshold {suggested:.4f}" + (f": {reason}" if reason else ""))
        self.reset_button.setToolTip(f"Back to the suggested threshold, {suggested:.4f}")

    def _place_line_label(self, *_args) -> None:
        """Keep the marker's label inside the plot: right of the line in the left half of the
        view, left of it in the right half (near 1 it was cut off at the right edge)."""
        (x0, x1), _ = self.plot.getPlotItem().getViewBox().viewRange()
        right_half = x1 > x0 and (float(self.line.value()) - x0) / (x1 - x0) > 0.5
        anchor = (1, 0) if right_half else (0, 0)
        self.line_label.anchors = [anchor, anchor]
        self.line_label.updatePosition()

    def _to_slider(self, t: float) -> int:
        lo, hi = self.range
        return int(round((t - lo) / (hi - lo) * SLIDER_STEPS))

    def _from_slider(self, v: int) -> float:
        lo, hi = self.range
        return lo + (hi - lo) * v / SLIDER_STEPS

    def _write_threshold(self, t: float) -> None:
        """A control moved (or the API): the value goes to the model, clipped to the range."""
        if self._syncing or not math.isfinite(t):
            return
        finder = self.finder
        self.dup_state.threshold = finder.clip_threshold(t) if finder is not None else float(t)

    def _on_threshold(self, _value: float | None) -> None:
        """``model.views.duplicates.threshold`` changed, from anywhere: show it, count live,
        settle, remember it for this encoder."""
        if self._adopting or self.finder is None:
            return  # _adopt shows and applies what it chose; without a finder, _adopt will
        self._show_threshold()
        if not self._live_queued:  # one live update per event-loop turn, however many moves
            self._live_queued = True
            QTimer.singleShot(0, self._flush)
        self._settle.start()
        if self.model.active:
            if self.dup_state.threshold is None:
                self.settings.remove(self._settings_key())
            else:
                self.settings.set_value(self._settings_key(), float(self.dup_state.threshold))

    def _show_threshold(self) -> None:
        """Put the threshold in force in the spin box, the slider and the histogram's marker
        (their echoes are ignored; the marker's own signal still moves its label)."""
        t = self.threshold
        if not math.isfinite(t):
            return
        self._syncing = True
        try:
            with QSignalBlocker(self.spin):
                self.spin.setValue(t)
            with QSignalBlocker(self.slider):
                self.slider.setValue(self._to_slider(t))
            self.line.setValue(t)
        finally:
            self._syncing = False

    def _flush(self) -> None:
        self._live_queued = False
        if _alive(self) and self.finder is not None:
            self._live_update()

    def _live_update(self) -> None:
        """The live path: groups and grouped items at the threshold from the stored graph."""
        finder = self.finder
        if finder is None:
            return
        self.n_groups, self.n_items_in_groups = finder.counts_at(self.threshold)
        self._show_counts()

    def _show_counts(self) -> None:
        f = self.finder
        spare = self.n_items_in_groups - self.n_groups
        exact = len(f.exact_groups_) if f is not None else 0
        self.count_label.setText(
            f"<b>{self.n_groups:,}</b> groups \u00b7 <b>{self.n_items_in_groups:,}</b> items in groups "
            f"({spare:,} could go) \u00b7 {exact:,} exact-copy group{'s' if exact != 1 else ''}")

    def _apply_settled(self) -> None:
        """The threshold stopped moving: a new finder at it, with its group table, in the runner."""
        base, emb, name = self.finder, self.model.emb, self.model.active
        if base is None or emb is None:
            return

        def stale() -> bool:  # the set changed, or someone filed another finder meanwhile
            return (not self.model.is_current(emb, name)
                    or self.model.get_analysis(AnalysisKind.DUPLICATES, name) is not base)

        self.runner.submit(JobKind.DUPLICATES_APPLY, apply_threshold, base, self.threshold,
                           on_result=lambda table: self._applied(name, table), is_stale=stale)

    def _applied(self, name: str, table: GroupTable) -> None:
        self._show_groups(table)  # first: filing it below must not look like a finder from elsewhere
        file_finder(self.model, table.finder, name)
        self._refresh_near()

    def _show_groups(self, table: GroupTable) -> None:
        finder = table.finder
        self._shown = finder
        self.sim_to_kept = table.similarity_to_kept
        self.lowest_to_kept = table.lowest_to_kept
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

    def _draw_histogram(self) -> None:
        f = self.finder
        if f is None:
            return
        log_y = bool(self.dup_state.log_counts)
        hist = similarity_histogram(f, HIST_BINS, log_counts=log_y)
        lo, hi = self.range
        pi = self.plot.getPlotItem()
        axis = pi.getAxis("left")
        if log_y:  # heights are log10(1 + count): ticks at 1, 10, 100, ... (0 stays at the baseline)
            top = int(math.ceil(float(hist.heights.max()))) if hist.heights.size else 1
            axis.setTicks([[(math.log10(10**e + 1.0), f"{10**e:,}") for e in range(top + 1)], []])
        else:
            axis.setTicks(None)
        self.hist.setData(hist.edges, hist.heights, stepMode="center")
        pi.setLabel("left", "items (log)" if log_y else "items")
        self.below_floor.setRegion((hist.left, lo))
        self.below_floor.setVisible(hist.left < lo)
        pi.getViewBox().setXRange(hist.left, hi, padding=0.01)
        pi.getViewBox().enableAutoRange(axis="y")

    # ======================================================================================
    # groups -> selection, decisions menu
    # ======================================================================================
    def selected_groups(self) -> list[int]:
        return sorted(ix.row() for ix in self.group_list.selectionModel().selectedRows())

    def select_group(self, row: int) -> None:
        """Select group ``row`` in the list (which selects its members everywhere)."""
        self.group_list.setCurrentIndex(self.group_model.index(row))

    def _on_groups_selected(self) -> None:
        rows = [r for r in self.selected_groups() if r < len(self.groups)]
        if not rows:
            return
        self.selection.set_selection(np.concatenate([self.groups[r] for r in rows]), self.name)

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
        ds = self.model.dataset
        menu.addAction("Copy ids", lambda: QApplication.clipboard().setText("\n".join(ds.ids[m] for m in members)))
        menu.exec(self.group_list.viewport().mapToGlobal(pos))

    def _reset_group(self, members: Sequence[int]) -> None:
        if self.model.active:
            forget_decisions(self.model, members)

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
        self.near_index = index = int(index)
        ds, finder, emb, name = self.model.dataset, self.finder, self.model.emb, self.model.active
        if finder is None or ds is None or emb is None or not 0 <= index < len(ds):
            self._clear_near()
            return
        t = self.threshold
        self.near_header.setText(f"<b>Near-duplicates of</b> {html.escape(ds.ids[index])} "
                                 f"<span style='color:#888'>(\u2265 {t:.4f})</span>")
        self.near_ready = False
        self.near_indices = np.empty(0, dtype=np.int64)
        self.near_scores = np.empty(0, dtype=np.float32)
        self.near_list.clear_items()
        self.runner.submit(JobKind.DUPLICATES_NEAR, near_duplicates, finder, index, t,
                           on_result=lambda r: self._show_near(t, r),
                           is_stale=lambda: index != self.near_index or not self.model.is_current(emb, name))

    def _refresh_near(self) -> None:
        if self.near_index >= 0:
            self.show_near_duplicates(self.near_index)

    def _show_near(self, t: float, result: tuple[np.ndarray, np.ndarray]) -> None:
        idx, sims = result
        self.near_ready = True
        self.near_indices = np.asarray(idx, dtype=np.int64)
        self.near_scores = np.asarray(sims, dtype=np.float32)
        self.near_list.clear_items()
        ds = self.model.dataset
        if ds is None:
            return
        if not len(idx):
            self.near_list.add_note(f"No item at or above {t:.4f}.")
            return
        for j, s in zip(self.near_indices.tolist(), self.near_scores.tolist(), strict=True):
            head = f"{ds.ids[j]}   {score_text(self.metric, s)}"
            label = item_title(ds, j)
            if label and label != ds.ids[j]:
                head += f"   \u00b7 {label}"
            body = ds.display_text(j, 140) if ds.texts is not None else ""
            self.near_list.add_item(ds, j, head + (f"\n{body}" if body else ""))

    def _clear_near(self) -> None:
        self.runner.cancel(JobKind.DUPLICATES_NEAR)
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


def _alive(widget: QWidget) -> bool:
    try:
        widget.objectName()
    except RuntimeError:  # the C++ object is gone
        return False
    return True
