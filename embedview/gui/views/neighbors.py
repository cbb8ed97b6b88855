"""Neighbours: the current item and its top-k nearest neighbours, or the hits of a search.

The search for one item (:func:`embedview.core.search.neighbors_of`) runs in the runner
(``JobKind.NEIGHBORS``): exact search over 100k x 256 takes a few ms, but a million rows would
not, and the window must never wait.  For sets of ``index_above`` items or more (50 000) a
:class:`~embedview.core.neighbors.NeighborIndex` is fitted in the background
(``JobKind.NEIGHBOR_INDEX``, cosine): it measures whether an approximate index is faster than
exact search at recall@10 >= 0.95 on held-out items.  Exact search answers until it is ready, and
afterwards whenever it chose exact search; once the approximate index answers, the status line
says so and shows the recall@10 it measured (and on how many items).  ``k`` and the metric are
``model.views.neighbors``, bound to their controls.  The hits of the Search view arrive through
the model (``model.views.search.results``) and are listed here, best first.  Clicking a
neighbour makes it the current item everywhere (source ``"neighbors"``) and shows its own
neighbours.

When the window's analysis scheduler has the set's kept neighbour graph
(:func:`embedview.actions.analysis.kept_graph`, ``k`` <= the graph's neighbours per item and the
same metric), a click reads the item's row of it on the GUI thread -- no search at all; the
status line says so (and, for an approximate graph, its measured recall@10).  Otherwise the
search above answers.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout

from embedview.actions.analysis import kept_graph
from embedview.core.neighbors import NeighborIndex
from embedview.core.search import (
    BACKGROUND_INDEX_ABOVE,
    NeighborHits,
    SearchHits,
    build_neighbor_index,
    neighbors_of,
)
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
    #: sets of this many items or more get a NeighborIndex fitted in the background
    index_above = BACKGROUND_INDEX_ABOVE
    #: extra NeighborIndex parameters (tests lower its threshold)
    index_params: dict = {}

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.thumbnails = shared_thumbnails(model)
        #: items shown in the list, best first, and their scores (None for substring matches)
        self.displayed_indices = np.empty(0, dtype=np.int64)
        self.displayed_scores: np.ndarray | None = None
        self.query_text = ""  # set while showing search results
        self.query_index = -1  # the item whose neighbours are shown
        #: the fitted NeighborIndex of the active set (cosine), None until the background job ends
        self.neighbor_index: NeighborIndex | None = None
        self._index_emb = None  # the set it indexes, and whether a build is running for it
        self._index_state = ""  # "", "building", "ready", "failed: ..."
        #: the kept neighbour graph the shown hits were read from (None: they were searched)
        self.hits_graph = None

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
        self._build_index()

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
        choices = model.views.neighbors
        graph = kept_graph(emb)
        if graph is not None and graph.covers(len(emb), choices.k, choices.metric):
            self.runner.cancel(JobKind.NEIGHBORS)
            self._show_result(self._graph_hits(graph, index, choices.k), graph)
            return
        self.status.setText("searching\u2026")
        nx = self.neighbor_index if self._index_emb is emb else None
        self.runner.submit(JobKind.NEIGHBORS, neighbors_of, emb, index, choices.k, choices.metric,
                           neighbor_index=nx, on_result=self._show_result, on_error=self._show_error,
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

    def _build_index(self) -> None:
        """Fit a NeighborIndex of the active set in the background (big sets only, once per set)."""
        model = self.model
        emb, name = model.emb, model.active
        if emb is self._index_emb:
            return
        self.runner.cancel(JobKind.NEIGHBOR_INDEX)
        self.neighbor_index = None
        self._index_emb = None
        self._index_state = ""
        if emb is None or len(emb) < self.index_above:
            return
        self._index_emb = emb
        self._index_state = "building"

        def done(index: NeighborIndex) -> None:
            if self._index_emb is emb:
                self.neighbor_index = index
                self._index_state = "ready"
                log.info("neighbour index for %s: %s", name, index.reason_)
                self._recompute()

        def failed(message: str) -> None:
            if self._index_emb is emb:
                self._index_state = f"failed: {message}"
                log.warning("neighbour index failed: %s", message)

        self.runner.submit(JobKind.NEIGHBOR_INDEX, build_neighbor_index, emb, "cosine", **self.index_params,
                           on_result=done, on_error=failed, is_stale=lambda: not model.is_current(emb, name))

    def _reset(self) -> None:
        if self._index_emb is not None and self.model.emb is not self._index_emb:
            self._build_index()  # another dataset: drop (or replace) the index of the old set
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
        self._build_index()
        if self.query_text:
            return
        index = self.query_index if self.query_index >= 0 else self.selection.current
        if index < 0 and self.selection.selected.size:
            index = int(self.selection.selected[0])
        if index >= 0:
            self.show_neighbors(index)

    @staticmethod
    def _graph_hits(graph, index: int, k: int) -> NeighborHits:
        """Item ``index``'s first ``k`` neighbours read from the kept graph (a row lookup)."""
        start = time.perf_counter()
        idx, scores = graph.head(k)
        return NeighborHits(int(index), idx[index].astype(np.int64), scores[index].astype(np.float32), graph.metric,
                            time.perf_counter() - start, approximate=not graph.exact,
                            recall_at_10=None if graph.exact else graph.recall_at_10,
                            recall_queries=int(graph.info.get("n_recall_queries", 0)),
                            method="exact" if graph.exact else str(graph.info.get("decision", "approximate")))

    def _show_result(self, hits: NeighborHits, graph=None) -> None:
        if hits.index != self.query_index or self.query_text:
            return
        self.hits_graph = graph
        self._fill(hits.indices, hits.scores, hits.metric)
        emb = self.model.emb
        n = len(emb) if emb is not None else 0
        if graph is not None:
            self.status.setText(self.graph_status_text(hits, graph))
            self.status.setToolTip(graph.summary)
            return
        self.status.setText(self.status_text(hits, n))
        nx = self.neighbor_index if self._index_emb is emb else None
        self.status.setToolTip(nx.reason_ if nx is not None else "")

    @staticmethod
    def graph_status_text(hits: NeighborHits, graph) -> str:
        """The line under the list when the hits were read from the kept neighbour graph."""
        ms = hits.seconds * 1000
        took = float(graph.info.get("search_seconds", 0.0))
        took_text = f"{took:.1f} s" if took >= 1 else f"{took * 1000:.0f} ms"
        return (f"{graph.how} {hits.metric} neighbours of {graph.n_items:,} items, read from the kept "
                f"neighbour graph in {ms:.2f} ms (the graph was searched once, in {took_text})")

    def status_text(self, hits: NeighborHits, n: int) -> str:
        """The line under the list: how the neighbours were found, and what that costs in recall."""
        ms = f"{hits.seconds * 1000:.0f} ms" if hits.seconds >= 0.001 else f"{hits.seconds * 1000:.2f} ms"
        if hits.approximate:
            return (f"approximate {hits.metric} search ({hits.method.upper()}) over {n:,} items in {ms}; "
                    f"recall@10 {hits.recall_at_10:.2f} (measured against exact search on "
                    f"{hits.recall_queries:,} held-out items)")
        text = f"exact {hits.metric} search over {n:,} items in {ms}"
        emb = self.model.emb
        if self._index_emb is emb and emb is not None:
            if self._index_state == "building":
                text += "; an approximate index is being measured in the background"
            elif self._index_state == "ready" and self.neighbor_index is not None:
                nx = self.neighbor_index
                if hits.metric != nx.metric:
                    text += f" (the approximate index serves {nx.metric} only)"
                elif not nx.approximate_ and nx.approx_recall_at_10_ is not None:
                    if nx.approx_recall_at_10_ < nx.target_recall:
                        text += (f"; the approximate index was not used: it reached recall@10 "
                                 f"{nx.approx_recall_at_10_:.2f} only (target {nx.target_recall:.2f})")
                    else:
                        text += (f"; the approximate index was not used: not faster at recall@10 "
                                 f"\u2265 {nx.target_recall:.2f}")
        return text

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
        self.runner.cancel(JobKind.NEIGHBOR_INDEX)
