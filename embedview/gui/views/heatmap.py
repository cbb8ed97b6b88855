"""Similarity heatmap: cosine similarity of every pair among the selected items (or a sample).

Rows (and columns) are exactly the selected items when 2 .. :data:`MAX_ITEMS` are selected;
otherwise a label-stratified sample of :data:`SAMPLE_SIZE` items (of the selection when it is
too big, else of everything).  Rows are grouped by label with boundaries drawn; unlabelled data
is ordered by average-linkage clustering so blocks of similar items show.  Which items, their
order and matrix come from :mod:`embedview.core.similarity`, computed in the runner
(``JobKind.HEATMAP``); the colour scale is ``model.views.heatmap.scale``, bound to its box.
Hovering a cell names the pair and its similarity; clicking it shows both items side by side
and selects the pair.  Nothing the hover or the click writes changes the view's size: the hover
line is one elided line of fixed height, the pair panel is always there at a fixed height (its
cards are filled, not shown), so the cell under a still mouse is the cell the hover named.  The
diagonal (each item with itself) is drawn in :data:`DIAGONAL_COLOR`, outside both colour scales
(:func:`core.similarity.without_diagonal`); the colour bar's numbers come from
:func:`core.similarity.color_ticks`, with as many decimals as a collapsed set needs.
"""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetrics, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
)

from embedview.core.embeddings import EmbeddingSet
from embedview.core.similarity import (
    MAX_ITEMS,
    SAMPLE_SIZE,
    ItemChoice,
    SimilarityHeatmap,
    choose_items,
    color_levels,
    color_ticks,
    label_boundaries,
    without_diagonal,
)
from embedview.gui.bind import bind
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.views.base import View
from embedview.gui.widgets import ItemCard, colormap, export_plot_item, item_title, score_text
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.runtime.keys import JobKind

log = logging.getLogger(__name__)

__all__ = ["HeatmapView", "MAX_ITEMS", "SAMPLE_SIZE", "MAX_TICK_GROUPS", "DIAGONAL_COLOR"]

#: label groups named on the axes (more would be unreadable)
MAX_TICK_GROUPS = 30
#: the diagonal's own colour: a mid grey, in neither viridis nor the blue-white-red map
DIAGONAL_COLOR = (128, 128, 128)
#: the hint the hover line shows when no cell is hovered
HOVER_HINT = ("Hover a cell to see the pair; click it to compare the two items. "
              "The diagonal (an item with itself) is grey.")


def heatmap_job(emb: EmbeddingSet, indices: np.ndarray, progress=None) -> SimilarityHeatmap:
    """:class:`SimilarityHeatmap` of ``indices`` (the job the view runs)."""
    return SimilarityHeatmap().fit(emb, indices, progress=progress)


class HeatmapView(View):
    """Pairwise cosine similarities of the selection (or a sample), grouped by label."""

    title = "Similarity heatmap"
    area = "right"
    name = "heatmap"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.thumbnails = shared_thumbnails(model)
        #: the result shown (None: nothing yet); ``displayed_indices`` / ``matrix`` / ``groups`` read it
        self.result: SimilarityHeatmap | None = None
        self._stale = False  # something changed while hidden
        self._last_request: tuple[EmbeddingSet, np.ndarray] | None = None

        # every text that changes sits in a label whose size does not depend on it (see the docstring)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        self.info.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.info.setFixedHeight(2 * QFontMetrics(self.info.font()).lineSpacing() + 2)
        self.scale_box = QComboBox()
        self.scale_box.addItem("data range", "data")  # values: model.views.heatmap SCALES
        self.scale_box.addItem("\u22121 \u2026 1", "full")
        self.scale_box.setToolTip("Colour scale: the range of the shown similarities (most contrast), or the full "
                                  "cosine range with white at 0 (orthogonal)")
        #: the hovered cell, (-1, -1) when none; the hover line: its score (bold, fixed width) and pair
        self.hovered: tuple[int, int] = (-1, -1)
        self.hover_score = QLabel()
        bold = self.hover_score.font()
        bold.setBold(True)
        self.hover_score.setFont(bold)
        self.hover_score.setFixedWidth(QFontMetrics(bold).horizontalAdvance("cos \u22120.000") + 8)
        self.hover_label = _ElidedLabel()

        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        pi = self.plot.getPlotItem()
        pi.hideButtons()
        self.vb = pi.getViewBox()
        self.vb.invertY(True)
        self.vb.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        # the diagonal is NaN in the image (transparent): this rect under it gives it its own colour
        self.diagonal = QGraphicsRectItem(QRectF(0, 0, 0, 0))
        self.diagonal.setBrush(QBrush(QColor(*DIAGONAL_COLOR)))
        self.diagonal.setPen(QPen(Qt.NoPen))
        self.diagonal.setZValue(-1)
        self.plot.addItem(self.diagonal)
        self.plot.addItem(self.image)
        self._diverging, self._sequential = colormap("CET-D1"), colormap("viridis")
        self.bar = pg.ColorBarItem(values=(-1, 1), colorMap=self._sequential, interactive=False, width=14,
                                   label="cosine", colorMapMenu=False)
        self.bar.setImageItem(self.image, insert_in=pi)
        self.bar.setToolTip("Colour of each pair's cosine similarity; the diagonal (an item with itself) is grey, "
                            "outside the scale")
        self.lines = pg.PlotCurveItem(pen=pg.mkPen(40, 40, 40, 200, width=1), connect="pairs")
        self.plot.addItem(self.lines)

        # the clicked pair, side by side: always there, at a fixed height, so a click moves nothing
        self.pair = QFrame()
        self.pair.setFrameShape(QFrame.StyledPanel)
        self.left_card = ItemCard(thumb_size=80)
        self.right_card = ItemCard(thumb_size=80)
        for card in (self.left_card, self.right_card):
            card.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)
        self.pair_score = QLabel()
        self.pair_score.setAlignment(Qt.AlignCenter)
        self.pair_score.setStyleSheet("font-weight: bold;")
        self.pair_score.setFixedWidth(self.hover_score.width())
        row = QHBoxLayout(self.pair)
        row.setContentsMargins(2, 2, 2, 2)
        row.addWidget(self.left_card, 1)
        row.addWidget(self.pair_score)
        row.addWidget(self.right_card, 1)
        self.pair.setFixedHeight(80 + 2 * 6 + 2 * 2 + 6)  # a thumbnail, the cards' and the row's margins
        self._clear_pair()

        top = QHBoxLayout()
        top.addWidget(self.info, 1)
        top.addWidget(QLabel("scale"))
        top.addWidget(self.scale_box)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)
        hover_row = QHBoxLayout()
        hover_row.addWidget(self.hover_score)
        hover_row.addWidget(self.hover_label, 1)
        lay.addLayout(hover_row)
        lay.addWidget(self.pair)

        bind(self.scale_box, model.views.heatmap, "scale", on_change=lambda _v: self._apply_levels())
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.thumbnails.ready.connect(self._on_thumbnail)
        model.selection.selection_changed.connect(self._on_selection)
        model.dataset_changed.connect(self.refresh)
        model.active_set_changed.connect(lambda _n: self.refresh())
        self.refresh()

    # -- what is shown ----------------------------------------------------------------------------------
    @property
    def displayed_indices(self) -> np.ndarray:
        """The items of the rows (= columns), in display order."""
        return np.empty(0, dtype=np.int64) if self.result is None else self.result.indices_

    @property
    def matrix(self) -> np.ndarray:
        """Their cosine similarities (m, m)."""
        return np.zeros((0, 0), dtype=np.float32) if self.result is None else self.result.matrix_

    @property
    def groups(self) -> list[tuple[int, int, str]]:
        """``(start, stop, label)`` row ranges (empty without labels)."""
        return [] if self.result is None else self.result.groups_

    # -- what to show ------------------------------------------------------------------------------------
    def _on_selection(self, indices, source: str) -> None:
        if source != self.name:
            self.refresh()

    def choose_items(self) -> ItemChoice:
        """The items to show and a sentence saying which they are (:func:`core.similarity.choose_items`)."""
        ds = self.model.dataset
        n = len(ds) if ds is not None else 0
        labels = ds.labels if ds is not None and ds.has_labels else None
        return choose_items(n, self.selection.selected, labels)

    def refresh(self) -> None:
        """Recompute the matrix for the current selection (or sample), in the runner.

        While the view is hidden (a tab behind another) nothing is computed; it catches up when shown.
        """
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        model = self.model
        emb, name = model.emb, model.active
        if emb is None or len(emb) < 2:
            self._clear_pair()
            self._last_request = None
            self._clear("Similarities appear once the items are encoded." if model.dataset is not None
                        else "Open data to see item similarities.")
            return
        idx, what = self.choose_items()
        last = self._last_request
        if last is not None and last[0] is emb and np.array_equal(last[1], idx):
            return  # e.g. one more single-point click: the same sample as before
        self._last_request = (emb, idx)
        self._clear_pair()
        self._set_info(f"Cosine similarity of {what} \u2026")
        self.runner.submit(JobKind.HEATMAP, heatmap_job, emb, idx,
                           on_result=lambda r, w=what: self._show(r, w), on_error=self._show_error,
                           is_stale=lambda: not model.is_current(emb, name))

    def _clear(self, message: str) -> None:
        self.result = None
        self.image.clear()
        self.diagonal.setRect(QRectF(0, 0, 0, 0))
        self.lines.setData([], [])
        self._set_info(message)
        self._set_hover(-1, -1, "")

    def _set_info(self, text: str) -> None:
        self.info.setText(text)
        self.info.setToolTip(text)

    def _clear_pair(self) -> None:
        self.left_card.clear("Click a cell to compare its two items.")
        self.right_card.clear()
        self.pair_score.setText("")

    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def _show_error(self, message: str) -> None:
        log.warning("heatmap failed: %s", message)
        self._last_request = None
        self._clear(f"Could not compute the heatmap: {message}")

    def _show(self, result: SimilarityHeatmap, what: str) -> None:
        self.result = result
        m = len(self.displayed_indices)
        order = "grouped by label" if result.order_ == "label" else "ordered by similarity clusters"
        self._set_info(f"Cosine similarity of {what}, {order}")
        self.image.setImage(without_diagonal(self.matrix), autoLevels=False)
        self.image.setRect(0, 0, m, m)
        self.diagonal.setRect(QRectF(0, 0, m, m))
        self._apply_levels()
        # label boundaries as line pairs, and group names on the axes
        self.lines.setData(*label_boundaries(self.groups, m))
        pi = self.plot.getPlotItem()
        if self.groups and len(self.groups) <= MAX_TICK_GROUPS:
            ticks = [[((a + b) / 2.0, name) for a, b, name in self.groups]]
        else:
            ticks = [[]]
        # names on the left only: under the matrix they would overlap (axis text cannot be rotated)
        pi.getAxis("left").setTicks(ticks)
        pi.getAxis("bottom").setTicks([[(pos, "") for pos, _name in ticks[0]]])
        self.vb.setRange(xRange=(0, m), yRange=(0, m), padding=0.02)
        self._set_hover(-1, -1, HOVER_HINT)

    def _apply_levels(self) -> None:
        if self.matrix.size == 0:
            return
        scale = self.model.views.heatmap.scale
        # full: diverging, white is 0 (orthogonal); data: sequential over the off-diagonal values
        self.bar.setColorMap(self._diverging if scale == "full" else self._sequential)
        lo, hi = color_levels(self.matrix, scale)
        self.bar.setLevels((lo, hi))
        # numbered ticks with the decimals the range needs (0.9990 .. 0.9998 on a collapsed set), and an
        # axis wide enough for them: pyqtgraph's own ticks on its fixed 45 px bar dropped every number
        ticks = color_ticks(lo, hi)
        axis = self.bar.axis
        axis.setTicks([ticks, []])
        font = axis.style.get("tickFont") or axis.font()
        text_w = max(QFontMetrics(font).horizontalAdvance(t) for _v, t in ticks)
        label_h = QFontMetrics(axis.label.font()).height() if axis.label.isVisible() else 0
        axis.setWidth(int(text_w + max(0, axis.style["tickLength"]) + axis.style["tickTextOffset"][0] + label_h + 8))

    # -- interaction --------------------------------------------------------------------------------------
    def cell_at(self, scene_pos) -> tuple[int, int]:
        """(row, column) of the cell under a scene position, or (-1, -1)."""
        m = len(self.displayed_indices)
        if m == 0:
            return -1, -1
        p = self.image.mapFromScene(scene_pos)
        col, row = int(np.floor(p.x())), int(np.floor(p.y()))
        if 0 <= row < m and 0 <= col < m:
            return row, col
        return -1, -1

    def pair_text(self, row: int, col: int) -> str:
        """The two items of cell (row, col), as plain text: ``id (label) \u00d7 id (label)``."""
        ds = self.model.dataset
        i, j = int(self.displayed_indices[row]), int(self.displayed_indices[col])

        def name(k: int) -> str:
            title = item_title(ds, k)
            return f"{ds.ids[k]}" + (f" ({title})" if title else "")

        return f"{name(i)} \u00d7 {name(j)}"

    def _set_hover(self, row: int, col: int, text: str) -> None:
        self.hovered = (row, col)
        self.hover_score.setText(score_text("cosine", float(self.matrix[row, col])) if row >= 0 else "")
        self.hover_label.set_full_text(text)

    def _on_mouse_moved(self, scene_pos) -> None:
        row, col = self.cell_at(scene_pos)
        if row >= 0 and (row, col) != self.hovered:
            self._set_hover(row, col, self.pair_text(row, col))

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.LeftButton:
            return
        row, col = self.cell_at(event.scenePos())
        if row >= 0:
            self.show_pair(row, col)

    def show_pair(self, row: int, col: int) -> None:
        """Show the items of cell (row, col) side by side and select the pair."""
        ds = self.model.dataset
        i, j = int(self.displayed_indices[row]), int(self.displayed_indices[col])
        self.left_card.set_item(ds, i, self.thumbnails.get(i))
        self.right_card.set_item(ds, j, self.thumbnails.get(j))
        self.pair_score.setText(score_text("cosine", float(self.matrix[row, col])))
        self.selection.set_selection([i, j], self.name)

    def _on_thumbnail(self, index: int) -> None:
        for card in (self.left_card, self.right_card):
            if card.index == index:
                card.set_pixmap(self.thumbnails.get(index))

    # -- export / shutdown ----------------------------------------------------------------------------------
    def export_plot(self, path: str) -> None:
        """Write the heatmap as PNG or SVG (by the file extension)."""
        export_plot_item(self.plot.getPlotItem(), path)

    def shutdown(self) -> None:
        self.runner.cancel(JobKind.HEATMAP)


class _ElidedLabel(QLabel):
    """One line of plain text, elided in the middle to the width it is given: its size hint never
    depends on the text (a long pair of names once widened the window by 40-80 px on hover), and the
    whole text is its tooltip."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setTextFormat(Qt.PlainText)
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.setFixedHeight(QFontMetrics(self.font()).height() + 4)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(0, self.contentsRect().width())
        super().setText(QFontMetrics(self.font()).elidedText(self._full, Qt.ElideMiddle, width))
