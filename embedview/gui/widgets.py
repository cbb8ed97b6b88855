"""Small widgets and helpers shared by the views: colours, item cards, hover card, region selection.

* colours: :func:`categorical_colors` (``core.maps``' fixed, colour-blind-aware palette, then
  evenly spread hues), :func:`colormap` (pyqtgraph's bundled maps, no download), :data:`OTHER_COLOR`.
* :func:`export_plot_item`: PNG / SVG export of a plot (the views' ``export_plot``).
* text: :func:`item_title`, :func:`item_html`, :func:`score_text` -- how one item and one
  similarity score are written everywhere in the app ("cos 0.87").
* :class:`ItemCard`: thumbnail or text of one item, its label, id and an optional score.
* :class:`LegendBox`: a cheap legend (one rich-text block) pinned to a plot corner.
* :class:`HoverCard`: a frameless tooltip window with a thumbnail and rich text, cheap to move.
* :class:`SelectViewBox`: a pyqtgraph ViewBox that turns a left click into ``clicked``, a
  Shift-drag (or any drag in "box" mode) into ``box_selected`` and an Alt-drag (or "lasso"
  mode) into ``lasso_selected``; other drags pan/zoom as usual.
  (The hit tests for those regions are ``core.maps.points_in_box`` / ``points_in_polygon``.)

This module imports pyqtgraph, so import it only from views (after the window is shown).
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainterPath, QPen, QPixmap, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsTextItem,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from embedview.core import maps
from embedview.core.dataset import Dataset
from embedview.gui import theme

# -- colours ---------------------------------------------------------------------------------------
#: items outside every named category (unlabelled, "other", not in a duplicate group)
OTHER_COLOR = QColor(maps.OTHER_COLOR)


def categorical_colors(n: int) -> list[QColor]:
    """``n`` distinguishable colours (``core.maps.categorical_palette``) as QColors."""
    return [QColor(c) for c in maps.categorical_palette(n)]


def colormap(name: str = "viridis") -> pg.ColorMap:
    """A colour map shipped with pyqtgraph (``viridis``, ``CET-D1`` diverging, ...)."""
    return pg.colormap.get(name)


def export_plot_item(item, path: str) -> None:
    """Save a pyqtgraph PlotItem as SVG (``.svg``) or a PNG image (anything else).

    SVG is written by Qt's own ``QSvgGenerator`` rendering the item's part of the scene:
    pyqtgraph 0.14's SVGExporter cannot parse the path data Qt 6.12 writes and fails on every plot.
    """
    path = str(path)
    if not path.lower().endswith(".svg"):
        import pyqtgraph.exporters as exporters

        exporters.ImageExporter(item).export(path)
        return
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    source = item.sceneBoundingRect()
    target = QRectF(0, 0, source.width(), source.height())
    gen = QSvgGenerator()
    gen.setFileName(path)
    gen.setSize(target.size().toSize())
    gen.setViewBox(target)
    gen.setTitle("embedview plot")
    painter = QPainter(gen)
    try:
        item.scene().render(painter, target, source)
    finally:
        painter.end()


# -- describing items ------------------------------------------------------------------------------
def item_title(dataset: Dataset, i: int) -> str:
    """The item's label, or "unlabelled"."""
    if dataset.labels is not None and dataset.labels[i] is not None:
        return str(dataset.labels[i])
    return "unlabelled" if dataset.labels is not None else ""


def item_html(dataset: Dataset, i: int, extra: str = "", max_chars: int = 300) -> str:
    """Rich text for item ``i``: bold label, muted id, the text (escaped), and ``extra`` lines."""
    parts = []
    title = item_title(dataset, i)
    if title:
        parts.append(f"<b>{html.escape(title)}</b>")
    parts.append(f"<span style='color:#888'>{html.escape(dataset.ids[i])}</span>")
    if dataset.texts is not None and dataset.texts[i] is not None:
        parts.append(html.escape(dataset.display_text(i, max_chars)))
    if extra:
        parts.append(extra)
    return "<br>".join(parts)


_METRIC_ABBR = {"cosine": "cos", "dot": "dot", "euclidean": "dist"}


def score_text(metric: str, value: float) -> str:
    """How a neighbour score reads in the UI: ``cos 0.873``, ``dot 12.3``, ``dist 0.452``."""
    abbr = _METRIC_ABBR.get(metric, metric)
    if metric == "dot" and abs(value) >= 100:
        return f"{abbr} {value:.1f}"
    return f"{abbr} {value:.3f}"


# -- item card ---------------------------------------------------------------------------------------
class ItemCard(QFrame):
    """One item: its thumbnail (image data) or text, label, id and an optional score line."""

    def __init__(self, thumb_size: int = 96, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.StyledPanel)
        self.thumb_size = thumb_size
        self.index = -1
        self.image = QLabel()
        self.image.setFixedSize(thumb_size, thumb_size)
        self.image.setAlignment(Qt.AlignCenter)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.RichText)
        self.text.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 6, 6, 6)
        row.addWidget(self.image, 0, Qt.AlignTop)
        row.addWidget(self.text, 1)
        self.clear()

    def clear(self, message: str = "") -> None:
        """Show nothing but ``message``."""
        self.index = -1
        self.image.hide()
        self.text.setText(f"<i>{html.escape(message)}</i>" if message else "")

    def set_item(self, dataset: Dataset, i: int, pixmap: QPixmap | None = None, score: str = "",
                 heading: str = "") -> None:
        """Show item ``i`` of ``dataset``; ``pixmap`` is its thumbnail when there is one."""
        self.index = int(i)
        extra = f"<b>{html.escape(score)}</b>" if score else ""
        body = item_html(dataset, i, extra)
        if heading:
            body = f"<span style='color:#888'>{html.escape(heading)}</span><br>{body}"
        self.text.setText(body)
        self.image.setVisible(dataset.modality == "image")
        self.set_pixmap(pixmap)

    def set_pixmap(self, pixmap: QPixmap | None) -> None:
        if pixmap is None or pixmap.isNull():
            self.image.setPixmap(QPixmap())
            self.image.setText("\u2026")
        else:
            self.image.setPixmap(pixmap.scaled(self.thumb_size, self.thumb_size, Qt.KeepAspectRatio,
                                               Qt.SmoothTransformation))


class HoverCard(QFrame):
    """A frameless floating card (thumbnail + rich text) that follows the mouse like a tooltip.

    Unlike ``QToolTip`` it can show a pixmap and be updated in place without flicker.
    """

    def __init__(self, parent: QWidget | None = None, thumb_size: int = 96) -> None:
        super().__init__(parent, Qt.ToolTip | Qt.FramelessWindowHint)
        self.setAttribute(Qt.WA_ShowWithoutActivating)
        self.setFrameShape(QFrame.Box)
        self.setAutoFillBackground(True)
        self.thumb_size = thumb_size
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignCenter)
        self.text = QLabel()
        self.text.setTextFormat(Qt.RichText)
        self.text.setWordWrap(True)
        self.text.setMaximumWidth(320)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.image, 0, Qt.AlignTop)
        lay.addWidget(self.text, 1)
        self.index = -1

    def show_at(self, global_pos: QPoint, index: int, rich_text: str, pixmap: QPixmap | None = None) -> None:
        """Show the card for item ``index`` just below-right of ``global_pos`` (kept on screen)."""
        self.index = int(index)
        self.text.setText(rich_text)
        self.set_pixmap(pixmap)
        self.adjustSize()
        pos = global_pos + QPoint(16, 16)
        screen = QGuiApplication.screenAt(global_pos) or QGuiApplication.primaryScreen()
        if screen is not None:
            area = screen.availableGeometry()
            if pos.x() + self.width() > area.right():
                pos.setX(global_pos.x() - self.width() - 8)
            if pos.y() + self.height() > area.bottom():
                pos.setY(global_pos.y() - self.height() - 8)
        self.move(pos)
        if not self.isVisible():
            self.show()

    def set_pixmap(self, pixmap: QPixmap | None) -> None:
        if pixmap is None or pixmap.isNull():
            self.image.clear()
            self.image.hide()
        else:
            self.image.setPixmap(pixmap.scaled(self.thumb_size, self.thumb_size, Qt.KeepAspectRatio,
                                               Qt.SmoothTransformation))
            self.image.show()
        self.adjustSize()

    def hide_card(self) -> None:
        self.index = -1
        self.hide()


class LegendBox(QGraphicsRectItem):
    """A legend as one rich-text block in a box pinned to the top-right corner of a ViewBox.

    One text item for all rows: setting 20 rows costs one layout, where pyqtgraph's LegendItem
    re-lays itself out for every row it adds (~10 ms each).  A click on a row calls
    ``on_click(row, modifiers)`` (the canvas isolates that label); :meth:`set_colors` restyles it
    for another theme.
    """

    def __init__(self, viewbox: pg.ViewBox, margin: int = 10) -> None:
        super().__init__()
        self.margin = margin
        self.setParentItem(viewbox)
        self.setZValue(1e6)
        self.text = QGraphicsTextItem(self)
        self.text.setPos(3, 1)
        self.rows: list[tuple] = []
        self.on_click = None  # callable(row, Qt.KeyboardModifiers), or None
        self.clickable = False
        self._muted = QColor("#888888")
        self.set_colors(pg.mkColor(pg.getConfigOption("foreground")), pg.mkColor(pg.getConfigOption("background")))
        viewbox.sigResized.connect(lambda *_: self._place())
        self.hide()

    def set_colors(self, foreground: QColor, background: QColor) -> None:
        """Text and frame in ``foreground`` on a nearly opaque ``background`` (the plot's theme)."""
        self.foreground = QColor(foreground)
        bg = QColor(background)
        bg.setAlpha(220)
        self.setBrush(bg)
        pen = QPen(QColor(foreground.red(), foreground.green(), foreground.blue(), 90))
        pen.setCosmetic(True)
        self.setPen(pen)
        self.text.setDefaultTextColor(self.foreground)
        if self.rows:
            self.set_rows(self.rows, self._muted, self.clickable)

    def set_rows(self, rows: Sequence[tuple], muted: QColor | None = None, clickable: bool = False) -> None:
        """``rows``: ``(QColor, text)`` or ``(QColor, text, dimmed)`` shown as a coloured dot and
        the text (a dimmed row in ``muted`` colours; a None colour: no dot).  ``clickable``: the
        rows answer clicks (the cursor says so)."""
        self.rows = list(rows)
        self.clickable = clickable
        if muted is not None:
            self._muted = QColor(muted)
        cells = []
        for row in self.rows:
            color, text = row[0], row[1]
            dim = len(row) > 2 and bool(row[2])
            dot = (self._muted if dim else color).name() if color is not None else None
            text_color = self._muted.name() if dim else self.foreground.name()
            bullet = "&#9679;" if dot is not None else ""
            label = html.escape(text) if color is not None else f"<i>{html.escape(text)}</i>"
            cells.append(f"<tr><td style='color:{dot or text_color}; font-size:13pt'>{bullet}</td>"
                         f"<td style='padding-left:4px; vertical-align:middle; color:{text_color}'>{label}</td></tr>")
        self.text.setHtml(f"<table cellspacing='0' cellpadding='0'>{''.join(cells)}</table>")
        r = self.text.boundingRect()
        self.setRect(0, 0, r.width() + 6, r.height() + 2)
        self.setCursor(Qt.PointingHandCursor if clickable else Qt.ArrowCursor)
        if clickable:
            self.setToolTip("Click a label to isolate it; Ctrl/Shift-click adds one; click it again or "
                            "\u201cshow all\u201d (Esc) to see every label")
        else:
            self.setToolTip("")
        self._place()
        self.setVisible(bool(self.rows))

    def _table(self):
        frame = self.text.document().rootFrame()
        for child in frame.childFrames():
            if hasattr(child, "cellAt"):
                return child
        return None

    def row_at(self, pos: QPointF) -> int:
        """The row under ``pos`` (this item's coordinates), or -1."""
        table = self._table()
        if table is None:
            return -1
        p = self.text.mapFromParent(pos)
        at = self.text.document().documentLayout().hitTest(p, Qt.ExactHit)
        if at < 0:
            at = self.text.document().documentLayout().hitTest(p, Qt.FuzzyHit)
        if at < 0:
            return -1
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(at)
        cell = table.cellAt(cursor)
        return cell.row() if cell.isValid() else -1

    def row_rect(self, row: int) -> QRectF:
        """Row ``row``'s rectangle in this item's coordinates (empty when there is no such row)."""
        table = self._table()
        if table is None or not 0 <= row < table.rows():
            return QRectF()
        layout = self.text.document().documentLayout()
        rect = QRectF()
        for col in range(table.columns()):
            block = table.cellAt(row, col).firstCursorPosition().block()
            rect = rect.united(layout.blockBoundingRect(block))
        return self.text.mapRectToParent(rect)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph naming
        if ev.button() != Qt.LeftButton or self.on_click is None or not self.clickable:
            return
        row = self.row_at(ev.pos())
        if row >= 0:
            ev.accept()
            self.on_click(row, ev.modifiers())

    def _place(self) -> None:
        vb = self.parentItem()
        self.setPos(max(0.0, vb.width() - self.rect().width() - self.margin), self.margin)


# -- region selection -------------------------------------------------------------------------------
class SelectViewBox(pg.ViewBox):
    """ViewBox with click, box and lasso selection.

    ``mode`` is ``"pan"`` (drag pans, Shift-drag draws a box, Alt-drag a lasso), ``"box"`` or
    ``"lasso"`` (plain left-drag selects).  Signals carry data coordinates and the keyboard
    modifiers (so Ctrl can mean "add to the selection").
    """

    clicked = Signal(object, object)  # QPointF (data), Qt.KeyboardModifiers
    box_selected = Signal(object, object)  # QRectF (data), modifiers
    lasso_selected = Signal(object, object)  # (M, 2) float array (data), modifiers

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mode = "pan"
        self._drag_kind = ""
        self._lasso: list[QPointF] = []
        pen = QPen(QColor(230, 90, 40), 1.5)
        pen.setCosmetic(True)
        pen.setStyle(Qt.DashLine)
        self._rect_item = QGraphicsRectItem()
        self._rect_item.setPen(pen)
        self._rect_item.setBrush(QColor(230, 90, 40, 30))
        self._rect_item.hide()
        self._path_item = QGraphicsPathItem()
        self._path_item.setPen(pen)
        self._path_item.setBrush(QColor(230, 90, 40, 30))
        self._path_item.hide()
        self.addItem(self._rect_item, ignoreBounds=True)
        self.addItem(self._path_item, ignoreBounds=True)
        self._rect_item.setZValue(1e9)
        self._path_item.setZValue(1e9)

    def set_mode(self, mode: str) -> None:
        if mode not in ("pan", "box", "lasso"):
            raise ValueError(f"unknown selection mode {mode!r}")
        self.mode = mode

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - Qt naming
        if ev.button() == Qt.LeftButton:
            ev.accept()
            self.clicked.emit(self.mapToView(ev.pos()), ev.modifiers())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - Qt naming
        if ev.button() != Qt.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        if ev.isStart():
            mods = ev.modifiers()
            if self.mode == "lasso" or mods & Qt.AltModifier:
                self._drag_kind = "lasso"
            elif self.mode == "box" or mods & Qt.ShiftModifier:
                self._drag_kind = "box"
            else:
                self._drag_kind = ""
        if not self._drag_kind:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        start = self.mapToView(ev.buttonDownPos())
        here = self.mapToView(ev.pos())
        if self._drag_kind == "box":
            rect = QRectF(start, here).normalized()
            if ev.isFinish():
                self._rect_item.hide()
                self._drag_kind = ""
                self.box_selected.emit(rect, ev.modifiers())
            else:
                self._rect_item.setRect(rect)
                self._rect_item.show()
            return
        # lasso: add a vertex when the mouse moved at least 3 screen pixels
        if ev.isStart() or not self._lasso:
            self._lasso = [start]
        if (QPointF(ev.pos()) - self.mapFromView(self._lasso[-1])).manhattanLength() >= 3:
            self._lasso.append(here)
        if ev.isFinish():
            self._path_item.hide()
            poly = np.array([[p.x(), p.y()] for p in self._lasso], dtype=np.float64)
            self._lasso = []
            self._drag_kind = ""
            self.lasso_selected.emit(poly, ev.modifiers())
        else:
            path = QPainterPath(self._lasso[0])
            for p in self._lasso[1:]:
                path.lineTo(p)
            path.closeSubpath()
            self._path_item.setPath(path)
            self._path_item.show()


# -- metric tables (Compare and Collapse views) ---------------------------------------------------
def metric_table() -> QTableWidget:
    """A read-only table sized to its rows (no vertical scrolling): rows of metrics, a column each."""
    t = QTableWidget(0, 0)
    t.setEditTriggers(QAbstractItemView.NoEditTriggers)
    t.setSelectionMode(QAbstractItemView.NoSelection)
    t.verticalHeader().setVisible(False)
    t.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    return t


def fit_table_height(t: QTableWidget) -> None:
    """First column stretched, the others to their contents, the height to every row."""
    header = t.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.Stretch)
    for c in range(1, t.columnCount()):
        header.setSectionResizeMode(c, QHeaderView.ResizeToContents)
    t.resizeRowsToContents()
    t.setFixedHeight(header.height() + sum(t.rowHeight(r) for r in range(t.rowCount())) + 4)


def fill_metric_rows(t: QTableWidget, headers: list[str], rows: list[tuple[str, list[str] | None]]) -> None:
    """``rows`` of ``(metric title, one cell per column)`` under ``"metric"`` + ``headers``; a row
    whose cells are None is a bold group heading across the table."""
    t.clear()
    t.clearSpans()
    t.setRowCount(len(rows))
    t.setColumnCount(len(headers) + 1)
    t.setHorizontalHeaderLabels(["metric"] + list(headers))
    for r, (title, cells) in enumerate(rows):
        item = QTableWidgetItem(title)
        t.setItem(r, 0, item)
        if cells is None:
            font = item.font()
            font.setBold(True)
            item.setFont(font)
            t.setSpan(r, 0, 1, len(headers) + 1)
            continue
        for c, text in enumerate(cells):
            cell = QTableWidgetItem(text)
            cell.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            t.setItem(r, c + 1, cell)
    fit_table_height(t)


# -- a list of dataset items (Neighbours view, the Duplicates view's near-duplicates) ------------
class ItemList(QListWidget):
    """Items of the dataset as list rows (text, and for images a thumbnail icon that may arrive
    later); ``item_chosen(index)`` when a row is clicked or activated."""

    item_chosen = Signal(int)

    def __init__(self, thumbnails, icon_px: int, tooltip: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self._rows: dict = {}  # item index -> its row, for thumbnails that arrive later
        self.setIconSize(QSize(icon_px, icon_px))
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)
        if tooltip:
            self.setToolTip(tooltip)
        self.itemClicked.connect(self._chosen)
        self.itemActivated.connect(self._chosen)

    def clear_items(self) -> None:
        self.clear()
        self._rows = {}

    def add_item(self, ds: Dataset, index: int, text: str, tooltip: str = "") -> None:
        item = QListWidgetItem(text)
        item.setData(Qt.UserRole, int(index))
        if tooltip:
            item.setToolTip(tooltip)
        if ds.modality == "image":
            pix = self.thumbnails.get(int(index))
            if pix is not None:
                item.setIcon(QIcon(pix))
            self._rows[int(index)] = item
        self.addItem(item)

    def add_note(self, text: str) -> None:
        """A row that is not an item (e.g. "nothing found")."""
        item = QListWidgetItem(text)
        item.setFlags(Qt.NoItemFlags)
        self.addItem(item)

    def thumbnail_ready(self, index: int) -> None:
        """Give row ``index`` its icon once the thumbnail cache has it."""
        item = self._rows.get(index)
        if item is not None:
            pix = self.thumbnails.get(index)
            if pix is not None:
                item.setIcon(QIcon(pix))

    def _chosen(self, item: QListWidgetItem) -> None:
        index = item.data(Qt.UserRole)
        if index is not None:
            self.item_chosen.emit(int(index))


#: encoders shown side by side in Collapse and Compare (the active one first)
MAX_SETS = 3


def job_progress_bar(max_width: int = 160) -> QProgressBar:
    """The thin, text-less progress bar of a view's background job (0..1000), hidden until it runs."""
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setMaximumWidth(max_width)
    bar.setTextVisible(False)
    bar.hide()
    return bar


def status_label() -> QLabel:
    """A view's one-line status / hint: rich text in the placeholder colour, never widening its row."""
    label = QLabel()
    label.setTextFormat(Qt.RichText)
    label.setStyleSheet("color: palette(placeholder-text);")
    label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
    return label


class SpanProgress:
    """For a view with a :func:`job_progress_bar` ``progress``, a :func:`status_label` ``status``
    and ``_span`` (the part of the bar the running job draws): the runner's progress callback and
    the status line, shared by the Drift and Timeline views."""

    progress: QProgressBar
    status: QLabel
    _span: tuple[float, float] = (0.0, 1.0)

    def _progress(self, fraction: float, message: str) -> None:
        start, stop = self._span
        self.progress.setValue(int(1000 * (start + (stop - start) * fraction)))
        if message:
            self.status.setText(html.escape(message))

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(theme.error_html(text) if error else html.escape(text))
        self.status.setToolTip(text)


def short_name(name: str, width: int = 28) -> str:
    """An encoder name short enough for a column header or a plot title.

    A local path inside the name (``sbert:/models/my-model``, ``clip:ARCH@/ckpt/file.pt``) is cut
    to its last part; what is still longer than ``width`` loses its middle.
    """
    kind, sep, rest = name.partition(":")
    if sep:
        head, at, path = rest.rpartition("@") if "@" in rest else ("", "", rest)
        if path.startswith(("/", "~", ".", "\\")) or (len(path) > 2 and path[1] == ":" and path[2] in "/\\"):
            rest = head + at + os.path.basename(path.rstrip("/\\"))
        name = kind + sep + rest
    if len(name) > width:
        keep = width - 1
        name = name[: (keep + 1) // 2] + "\u2026" + name[len(name) - keep // 2:]
    return name

