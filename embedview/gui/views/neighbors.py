"""Neighbours: the current item and its top-k nearest neighbours, or the hits of a search.

The search for one item is exact (:func:`embedview.core.search.neighbors_of`) and runs in the
runner (``JobKind.NEIGHBORS``): 100k x 256 takes a few ms, but a million rows would not, and the
window must never wait.  ``k`` and the metric are ``model.views.neighbors``, bound to their
controls.  The hits of the Search view arrive through the model (``model.views.search.results``)
and are listed here, best first.  Clicking a neighbour makes it the current item everywhere
(source ``"neighbors"``) and shows its own neighbours.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout

from embedview.core.search import NeighborHits, SearchHits, neighbors_of
from embedview.gui import theme
from embedview.gui.bind import bind
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.views.base import View
from embedview.gui.widgets import ItemCard, ItemList, item_title, score_text
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.model.views.neighbors import K_RANGE
from embedview.runtime.keys import JobKind

log = logging.getLogger(__name__)

ICON_PX = 64
#: the view's name of the Search view, whose current-item changes come with its hits
SEARCH_SOURCE = "search"


def neighbor_row_text(ds, j: int, rank: int, scores: np.ndarray | None, metric: str) -> str:
    """One row of the list: rank, label (or the id when unlabelled) and score; below it the text,
    or the id when the label took the first line -- never the id twice."""
    title = item_title(ds, j)
    head = f"{rank + 1}. {title or ds.ids[j]}"
    if scores is not None:
        head += f"   {score_text(metric, float(scores[rank]))}"
    if ds.texts is not None and ds.texts[j] is not None:
        body = ds.display_text(j, 160)
    else:
        body = ds.ids[j] if title else ""
    return f"{head}\n{body}" if body else head


class NeighborsView(View):
    """Nearest neighbours of the current item (or text-search results) with thumbnails / text."""

    title = "Neighbours"
    area = "right"
    name = "neighbors"

    METRICS = (("cosine", "cosine"), ("dot product", "dot"), ("Euclidean", "euclidean"))

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.thumbnails = shared_thumbnails(model)
        #: items shown in the list, best first, and their scores (None for substring matches)
        self.displayed_indices = np.empty(0, dtype=np.int64)
        self.displayed_scores: np.ndarray | None = None
        self.query_text = ""  # set while showing search results
        self.query_index = -1  # the item whose neighbours are shown

        self.header = QLabel()
        self.header.setTextFormat(Qt.RichText)
        self.header.setWordWrap(True)
        self.card = ItemCard(thumb_size=112)
        self.k_box = QSpinBox()
        self.k_box.setRange(*K_RANGE)
        self.k_box.setToolTip("How many neighbours to show")
        self.metric_box = QComboBox()
        for text, key in self.METRICS:
            self.metric_box.addItem(text, key)
        self.metric_box.setToolTip("cosine: angle between vectors (what most embeddings are trained for); "
                                   "dot: raw inner product; Euclidean: straight-line distance (smaller = closer)")
        self.list = ItemList(self.thumbnails, ICON_PX, "Click a neighbour to make it the current item")
        self.list.setSpacing(1)
        self.status = QLabel()
        self.status.setStyleSheet("color: palette(placeholder-text);")
        self.status.setWordWrap(True)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("k"))
        controls.addWidget(self.k_box)
        controls.addSpacing(8)
        controls.addWidget(QLabel("metric"))
        controls.addWidget(self.metric_box)
        controls.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.header)
        lay.addWidget(self.card)
        lay.addLayout(controls)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.status)

        choices = model.views.neighbors
        bind(self.k_box, choices, "k", on_change=lambda _v: self._recompute())
        bind(self.metric_box, choices, "metric", on_change=lambda _v: self._recompute())
        model.views.search.events.results.connect(self._on_search_results)
        self.list.item_chosen.connect(self._on_item_chosen)
        self.thumbnails.ready.connect(self._on_thumbnail)
        model.selection.current_changed.connect(self._on_current)
        model.dataset_changed.connect(self._reset)
        model.active_set_changed.connect(lambda _n: self._on_active_set())
        self._reset()

    # -- public ----------------------------------------------------------------------------------------
    @property
    def metric(self) -> str:
        """The metric chosen (``model.views.neighbors.metric``)."""
        return self.model.views.neighbors.metric

    def show_neighbors(self, index: int) -> None:
        """Show item ``index`` and compute its neighbours (in the runner)."""
        self.query_text = ""
        self.query_index = int(index)
        model = self.model
        ds = model.dataset
        if ds is None or not 0 <= index < len(ds):
            self._reset()
            return
        self.header.setText("<b>Nearest neighbours of</b>")
        self.card.show()
        self.card.set_item(ds, index, self.thumbnails.get(index))
        emb, name = model.emb, model.active
        if emb is None:
            self._fill([], None)
            self.status.setText("Neighbours appear once the items are encoded.")
            return
        self.status.setText("searching\u2026")
        choices = model.views.neighbors
        self.runner.submit(JobKind.NEIGHBORS, neighbors_of, emb, index, choices.k, choices.metric,
                           on_result=self._show_result, on_error=self._show_error,
                           is_stale=lambda: not model.is_current(emb, name))

    def show_query_results(self, query_text: str, indices: Sequence[int], scores: Sequence[float] | None = None,
                           metric: str = "cosine") -> None:
        """Show the results of a text search (``scores`` None for plain text matches)."""
        self.runner.cancel(JobKind.NEIGHBORS)
        self.query_text = query_text
        self.query_index = -1
        self.header.setText(f"<b>Results for \u201c{html.escape(query_text)}\u201d</b>")
        self.card.hide()
        n = len(indices)
        self.status.setText(f"{n:,} result{'s' if n != 1 else ''}" if n else "no results")
        self._fill(indices, scores, metric)

    # -- internals -----------------------------------------------------------------------------------
    def _on_search_results(self, hits: SearchHits | None) -> None:
        """The Search view found ``hits`` (None: they were cleared)."""
        if hits is None or hits.dataset is not self.model.dataset:
            if self.query_text:
                self._reset()
            return
        self.show_query_results(hits.query, hits.indices, hits.scores)

    def _reset(self) -> None:
        self.query_text = ""
        self.query_index = -1
        self.header.setText("<b>Nearest neighbours</b>")
        self.card.show()
        self.card.clear("Click a point on the map or a row in the table to see its nearest neighbours.")
        self._fill([], None)
        self.status.setText("")

    def _on_current(self, index: int, source: str) -> None:
        if source == self.name or (source == SEARCH_SOURCE and self.query_text):
            return  # the search's best hit became current: its hits stay listed here
        if index < 0:
            if not self.query_text:
                self._reset()
            return
        self.show_neighbors(index)

    def _recompute(self) -> None:
        if self.query_text:
            return
        if self.query_index >= 0:
            self.show_neighbors(self.query_index)

    def _on_active_set(self) -> None:
        """Vectors arrived (or another set became active): list the neighbours of what the user
        picked meanwhile -- the current item, else the first selected one (a table row clicked
        while encoding selects it without making it current)."""
        if self.query_text:
            return
        index = self.query_index if self.query_index >= 0 else self.selection.current
        if index < 0 and self.selection.selected.size:
            index = int(self.selection.selected[0])
        if index >= 0:
            self.show_neighbors(index)

    def _show_result(self, hits: NeighborHits) -> None:
        if hits.index != self.query_index or self.query_text:
            return
        self._fill(hits.indices, hits.scores, hits.metric)
        emb = self.model.emb
        n = len(emb) if emb is not None else 0
        self.status.setText(f"exact {hits.metric} search over {n:,} items in {hits.seconds * 1000:.0f} ms")

    def _show_error(self, message: str) -> None:
        log.warning("neighbour search failed: %s", message)
        self._fill([], None)
        self.status.setText(theme.error_html(f"Neighbour search failed: {message}"))

    def _fill(self, indices: Sequence[int], scores: Sequence[float] | None, metric: str = "cosine") -> None:
        self.list.clear_items()
        self.displayed_indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.displayed_scores = None if scores is None else np.asarray(scores, dtype=np.float32).reshape(-1)
        ds = self.model.dataset
        if ds is None:
            return
        for rank, j in enumerate(self.displayed_indices.tolist()):
            self.list.add_item(ds, j, neighbor_row_text(ds, j, rank, self.displayed_scores, metric),
                               ds.display_text(j, 1000))

    def _on_thumbnail(self, index: int) -> None:
        self.list.thumbnail_ready(index)
        if index == self.card.index and not self.query_text:
            self.card.set_pixmap(self.thumbnails.get(index))

    def _on_item_chosen(self, j: int) -> None:
        self.selection.set_current(j, self.name)
        self.show_neighbors(j)

    def shutdown(self) -> None:
        self.runner.cancel(JobKind.NEIGHBORS)
