"""Similarity heatmap: cosine similarity of every pair among the selected items (or a sample).

Rows (and columns) are exactly the selected items when 2 .. :data:`MAX_ITEMS` are selected;
otherwise a label-stratified sample of :data:`SAMPLE_SIZE` items (of the selection when it is
too big, else of everything).  Rows are grouped by label with boundaries drawn; unlabelled data
is ordered by average-linkage clustering so blocks of similar items show.  Which items, their
order and matrix come from :mod:`embedview.core.similarity`, computed in the runner
(``JobKind.HEATMAP``); the colour scale is ``model.views.heatmap.scale``, bound to its box.
Hovering a cell names the pair and its similarity; clicking it shows both items side by side
and selects the pair.
"""

from __future__ import annotations

import html
import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QVBoxLayout

from embedview.core.embeddings import EmbeddingSet
from embedview.core.similarity import (
    MAX_ITEMS,
    SAMPLE_SIZE,
    ItemChoice,
    SimilarityHeatmap,
    choose_items,
    color_levels,
    label_boundaries,
)
from embedview.gui.bind import bind
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.views.base import View
from embedview.gui.widgets import ItemCard, colormap, export_plot_item, item_title, score_text
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.runtime.keys import JobKind

log = logging.getLogger(__name__)

__all__ = ["HeatmapView", "MAX_ITEMS", "SAMPLE_SIZE", "MAX_TICK_GROUPS"]

#: label groups named on the axes (more would be unreadable)
MAX_TICK_GROUPS = 30


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

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.scale_box = QComboBox()
        self.scale_box.addItem("data range", "data")  # values: model.views.heatmap SCALES
        self.scale_box.addItem("\u22121 \u2026 1", "full")
        self.scale_box.setToolTip("Colour scale: the range of the shown similarities (most contrast), or the full "
                                  "cosine range with white at 0 (orthogonal)")
        self.hover_label = QLabel(" ")
        self.hover_label.setTextFormat(Qt.RichText)

        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        pi = self.plot.getPlotItem()
        pi.hideButtons()
        self.vb = pi.getViewBox()
        self.vb.invertY(True)
        self.vb.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self._diverging, self._sequential = colormap("CET-D1"), colormap("viridis")
        self.bar = pg.ColorBarItem(values=(-1, 1), colorMap=self._sequential, interactive=False, width=14,
                                   label="cosine", colorMapMenu=False)
        self.bar.setImageItem(self.image, insert_in=pi)
        self.lines = pg.PlotCurveItem(pen=pg.mkPen(40, 40, 40, 200, width=1), connect="pairs")
        self.plot.addItem(self.lines)

        # the clicked pair, side by side
        self.pair = QFrame()
        self.pair.setFrameShape(QFrame.StyledPanel)
        self.left_card = ItemCard(thumb_size=80)
        self.right_card = ItemCard(thumb_size=80)
        self.pair_score = QLabel()
        self.pair_score.setAlignment(Qt.AlignCenter)
        self.pair_score.setStyleSheet("font-weight: bold;")
        row = QHBoxLayout(self.pair)
        row.setContentsMargins(2, 2, 2, 2)
        row.addWidget(self.left_card, 1)
        row.addWidget(self.pair_score)
        row.addWidget(self.right_card, 1)
        self.pair.hide()

        top = QHBoxLayout()
        top.addWidget(self.info, 1)
        top.addWidget(QLabel("scale"))
        top.addWidget(self.scale_box)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.hover_label)
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
            self.pair.hide()
            self._last_request = None
            self._clear("Similarities appear once the items are encoded." if model.dataset is not None
                        else "Open data to see item similarities.")
            return
        idx, what = self.choose_items()
        last = self._last_request
        if last is not None and last[0] is emb and np.array_equal(last[1], idx):
            return  # e.g. one more single-point click: the same sample as before
        self._last_request = (emb, idx)
        self.pair.hide()
        self.info.setText(f"Cosine similarity of {what} \u2026")
        self.runner.submit(JobKind.HEATMAP, heatmap_job, emb, idx,
                           on_result=lambda r, w=what: self._show(r, w), on_error=self._show_error,
                           is_stale=lambda: not model.is_current(emb, name))

    def _clear(self, message: str) -> None:
        self.result = None
        self.image.clear()
        self.lines.setData([], [])
        self.info.setText(message)
        self.hover_label.setText(" ")

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
        self.info.setText(f"Cosine similarity of {what}, {order}")
        self.image.setImage(self.matrix, autoLevels=False)
        self.image.setRect(0, 0, m, m)
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
        self.hover_label.setText("Hover a cell to see the pair; click it to compare the two items.")

    def _apply_levels(self) -> None:
        if self.matrix.size == 0:
            return
        scale = self.model.views.heatmap.scale
        # full: diverging, white is 0 (orthogonal); data: sequential over the off-diagonal values
        self.bar.setColorMap(self._diverging if scale == "full" else self._sequential)
        self.bar.setLevels(color_levels(self.matrix, scale))

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
        ds = self.model.dataset
        i, j = int(self.displayed_indices[row]), int(self.displayed_indices[col])

        def name(k: int) -> str:
            title = item_title(ds, k)
            return html.escape(f"{ds.ids[k]}" + (f" ({title})" if title else ""))

        return f"{name(i)} \u00d7 {name(j)}: <b>{score_text('cosine', float(self.matrix[row, col]))}</b>"

    def _on_mouse_moved(self, scene_pos) -> None:
        row, col = self.cell_at(scene_pos)
        if row >= 0:
            self.hover_label.setText(self.pair_text(row, col))

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
        self.pair.show()
        self.selection.set_selection([i, j], self.name)

    def _on_thumbnail(self, index: int) -> None:
        for card in (self.left_card, self.right_card):
            if card.index == index and self.pair.isVisible():
                card.set_pixmap(self.thumbnails.get(index))

    # -- export / shutdown ----------------------------------------------------------------------------------
    def export_plot(self, path: str) -> None:
        """Write the heatmap as PNG or SVG (by the file extension)."""
        export_plot_item(self.plot.getPlotItem(), path)

    def shutdown(self) -> None:
        self.runner.cancel(JobKind.HEATMAP)
