"""Similarity heatmap: cosine similarity of every pair among the selected items (or a sample).

Rows (and columns) are exactly the selected items when 2 .. :data:`MAX_ITEMS` are selected;
otherwise a label-stratified sample of :data:`SAMPLE_SIZE` items (of the selection when it is
too big, else of everything).  Rows are grouped by label with boundaries drawn; unlabelled data
is ordered by average-linkage clustering so blocks of similar items show.  The matrix is computed
in the runner (key ``"heatmap"``) with :func:`embedview.core.neighbors.similarity_matrix`.
Hovering a cell names the pair and its similarity; clicking it shows both items side by side
and selects the pair.
"""

from __future__ import annotations

import html
import logging
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QVBoxLayout

from embedview.core.embeddings import EmbeddingSet
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.widgets import ItemCard, colormap, export_plot_item, item_title, score_text
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.gui.views.base import View

log = logging.getLogger(__name__)

#: a selection of up to this many items is shown as it is
MAX_ITEMS = 2000
#: items sampled when there is no usable selection
SAMPLE_SIZE = 300
#: label groups named on the axes (more would be unreadable)
MAX_TICK_GROUPS = 30


def stratified_sample(labels: Optional[np.ndarray], n_items: int, size: int, seed: int = 0) -> np.ndarray:
    """``size`` of ``n_items`` indices (sorted), each label represented in proportion to its count.

    Systematic sampling: a random permutation is sorted by label and every ``n/size``-th item taken.
    """
    if size >= n_items:
        return np.arange(n_items, dtype=np.int64)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_items)
    if labels is not None:
        keys = np.array(["" if v is None else str(v) for v in labels], dtype=object)[perm]
        perm = perm[np.argsort(keys.astype(str), kind="stable")]
    take = perm[np.linspace(0, n_items - 1, size).round().astype(np.int64)]
    return np.sort(take).astype(np.int64)


def heatmap_data(emb: EmbeddingSet, indices: np.ndarray, progress=None) -> Dict[str, Any]:
    """Order ``indices`` (by label, else by clustering) and compute their cosine similarity matrix.

    Returns ``{"indices", "matrix", "groups": [(start, stop, name)], "order": "label"|"cluster"}``.
    """
    from embedview.core.neighbors import similarity_matrix

    idx = np.asarray(indices, dtype=np.int64)
    labels = emb.dataset.labels
    groups: List[Tuple[int, int, str]] = []
    by_label = labels is not None and emb.dataset.has_labels
    if by_label:
        names = np.array(["\uffff" if labels[i] is None else str(labels[i]) for i in idx], dtype=str)
        order = np.argsort(names, kind="stable")
        idx, names = idx[order], names[order]
        cuts = np.flatnonzero(names[1:] != names[:-1]) + 1
        starts = np.concatenate([[0], cuts])
        stops = np.concatenate([cuts, [len(idx)]])
        groups = [(int(a), int(b), "unlabelled" if names[a] == "\uffff" else str(names[a])) for a, b in zip(starts, stops)]
    matrix = similarity_matrix(emb.unit, idx, "cosine", max_items=max(MAX_ITEMS, len(idx)))
    if not by_label and len(idx) > 2:
        from scipy.cluster.hierarchy import leaves_list, linkage
        from scipy.spatial.distance import squareform

        if progress is not None:
            progress.report(1, 2, "ordering by clusters")
        dist = np.clip(1.0 - matrix, 0.0, 2.0).astype(np.float64)
        np.fill_diagonal(dist, 0.0)
        dist = 0.5 * (dist + dist.T)
        order = leaves_list(linkage(squareform(dist, checks=False), method="average"))
        idx = idx[order]
        matrix = matrix[np.ix_(order, order)]
    how = "label" if by_label else "cluster"
    return {"indices": idx, "matrix": np.ascontiguousarray(matrix, dtype=np.float32), "groups": groups, "order": how}


class HeatmapView(View):
    """Pairwise cosine similarities of the selection (or a sample), grouped by label."""

    title = "Similarity heatmap"
    area = "right"
    name = "heatmap"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.thumbnails = shared_thumbnails(model)
        #: the items of the rows (= columns), in display order, and their similarity matrix
        self.displayed_indices = np.empty(0, dtype=np.int64)
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.groups: List[Tuple[int, int, str]] = []
        self._stale = False  # something changed while hidden
        self._last_request: Optional[Tuple[EmbeddingSet, np.ndarray]] = None

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.scale_box = QComboBox()
        self.scale_box.addItem("data range", "data")
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

        self.scale_box.currentIndexChanged.connect(lambda _i: self._apply_levels())
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.thumbnails.ready.connect(self._on_thumbnail)
        model.selection.selection_changed.connect(self._on_selection)
        model.dataset_changed.connect(self.refresh)
        model.active_set_changed.connect(lambda _n: self.refresh())
        self.refresh()

    # -- what to show ------------------------------------------------------------------------------------
    def _on_selection(self, indices, source: str) -> None:
        if source != self.name:
            self.refresh()

    def choose_items(self) -> Tuple[np.ndarray, str]:
        """The items to show and a sentence saying which they are."""
        ds = self.state.dataset
        n = len(ds) if ds is not None else 0
        sel = self.selection.selected
        sel = sel[sel < n]
        labels = ds.labels if ds is not None and ds.has_labels else None
        if 2 <= len(sel) <= MAX_ITEMS:
            return sel.astype(np.int64), f"{len(sel):,} selected items"
        if len(sel) > MAX_ITEMS:
            pick = stratified_sample(None if labels is None else labels[sel], len(sel), SAMPLE_SIZE)
            return sel[pick], f"a sample of {SAMPLE_SIZE:,} of the {len(sel):,} selected items"
        pick = stratified_sample(labels, n, SAMPLE_SIZE)
        what = "all" if len(pick) == n else f"a sample of {len(pick):,} of {n:,}"
        return pick, f"{what} items (select 2\u2013{MAX_ITEMS:,} points to compare them)"

    def refresh(self) -> None:
        """Recompute the matrix for the current selection (or sample), in the runner.

        While the view is hidden (a tab behind another) nothing is computed; it catches up when shown.
        """
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        emb = self.state.emb
        if emb is None or len(emb) < 2:
            self.pair.hide()
            self._last_request = None
            self._clear("Similarities appear once the items are encoded." if self.state.dataset is not None
                        else "Open data to see item similarities.")
            return
        idx, what = self.choose_items()
        last = self._last_request
        if last is not None and last[0] is emb and np.array_equal(last[1], idx):
            return  # e.g. one more single-point click: the same sample as before
        self._last_request = (emb, idx)
        self.pair.hide()
        self.info.setText(f"Cosine similarity of {what} \u2026")
        self.runner.submit("heatmap", heatmap_data, emb, idx,
                           on_result=lambda r, w=what: self._show(r, w), on_error=self._show_error)

    def _clear(self, message: str) -> None:
        self.displayed_indices = np.empty(0, dtype=np.int64)
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.groups = []
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

    def _show(self, result: Dict[str, Any], what: str) -> None:
        self.displayed_indices = result["indices"]
        self.matrix = result["matrix"]
        self.groups = result["groups"]
        m = len(self.displayed_indices)
        order = "grouped by label" if result["order"] == "label" else "ordered by similarity clusters"
        self.info.setText(f"Cosine similarity of {what}, {order}")
        self.image.setImage(self.matrix, autoLevels=False)
        self.image.setRect(0, 0, m, m)
        self._apply_levels()
        # label boundaries as line pairs, and group names on the axes
        xs: List[float] = []
        ys: List[float] = []
        for start, _stop, _name in self.groups[1:]:
            xs += [start, start, 0, m]
            ys += [0, m, start, start]
        self.lines.setData(np.array(xs, dtype=float), np.array(ys, dtype=float))
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
        if self.scale_box.currentData() == "full":  # diverging: white is 0 (orthogonal)
            lo, hi = -1.0, 1.0
            cmap = self._diverging
        else:  # sequential over the off-diagonal values: most contrast among the items shown
            off = self.matrix[~np.eye(len(self.matrix), dtype=bool)]
            lo, hi = (float(off.min()), float(off.max())) if off.size else (-1.0, 1.0)
            if hi <= lo:
                lo, hi = lo - 0.01, hi + 0.01
            cmap = self._sequential
        self.bar.setColorMap(cmap)
        self.bar.setLevels((lo, hi))

    # -- interaction --------------------------------------------------------------------------------------
    def cell_at(self, scene_pos) -> Tuple[int, int]:
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
        ds = self.state.dataset
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
        ds = self.state.dataset
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
        self.runner.cancel("heatmap")
