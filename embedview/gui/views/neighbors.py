"""Neighbours: the current item and its top-k nearest neighbours, or the results of a text search.

The search for one query is exact (:func:`embedview.core.neighbors.topk`) and runs in the runner
(key ``"neighbors"``): 100k x 256 takes a few ms, but a million rows would not, and the window
must never wait.  Cosine uses the set's cached unit vectors with the dot product (the same
scores, without normalising the matrix again for every click).  Clicking a neighbour makes it
the current item everywhere (source ``"neighbors"``) and shows its own neighbours.
"""

from __future__ import annotations

import html
import logging
import time
from typing import Optional, Sequence

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout)

from embedview.core.embeddings import EmbeddingSet
from embedview.gui import theme
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.widgets import ItemCard, ItemList, item_title, score_text
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.gui.views.base import View

log = logging.getLogger(__name__)

ICON_PX = 64


def neighbors_of(emb: EmbeddingSet, index: int, k: int, metric: str, progress=None):
    """Top-``k`` neighbours of item ``index`` (itself excluded): ``(indices, scores, seconds)``."""
    from embedview.core.neighbors import topk

    start = time.perf_counter()
    # cosine on the set's cached unit vectors is the dot product (no re-normalising per click);
    # one query is a memory-bound matrix-vector product: one BLAS thread is as fast, and on a busy
    # machine much faster than waking a thread pool
    X, m = (emb.unit, "dot") if metric == "cosine" else (emb.vectors, metric)
    idx, scores = topk(X, k, queries=np.array([index]), metric=m, exclude_self=True, n_threads=1, progress=progress)
    return idx[0], scores[0], time.perf_counter() - start


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
        self.displayed_scores: Optional[np.ndarray] = None
        self.query_text = ""  # set while showing search results
        self.query_index = -1  # the item whose neighbours are shown

        self.header = QLabel()
        self.header.setTextFormat(Qt.RichText)
        self.header.setWordWrap(True)
        self.card = ItemCard(thumb_size=112)
        self.k_box = QSpinBox()
        self.k_box.setRange(1, 500)
        self.k_box.setValue(10)
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

        self.k_box.valueChanged.connect(lambda _v: self._recompute())
        self.metric_box.currentIndexChanged.connect(lambda _i: self._recompute())
        self.list.item_chosen.connect(self._on_item_chosen)
        self.thumbnails.ready.connect(self._on_thumbnail)
        model.selection.current_changed.connect(self._on_current)
        model.dataset_changed.connect(self._reset)
        model.active_set_changed.connect(lambda _n: self._recompute())
        self._reset()

    # -- public ----------------------------------------------------------------------------------------
    @property
    def metric(self) -> str:
        return self.metric_box.currentData()

    def show_neighbors(self, index: int) -> None:
        """Show item ``index`` and compute its neighbours (in the runner)."""
        self.query_text = ""
        self.query_index = int(index)
        ds = self.state.dataset
        if ds is None or not 0 <= index < len(ds):
            self._reset()
            return
        self.header.setText("<b>Nearest neighbours of</b>")
        self.card.show()
        self.card.set_item(ds, index, self.thumbnails.get(index))
        emb = self.state.emb
        if emb is None:
            self._fill([], None)
            self.status.setText("Neighbours appear once the items are encoded.")
            return
        self.status.setText("searching\u2026")
        metric = self.metric
        self.runner.submit("neighbors", neighbors_of, emb, index, self.k_box.value(), metric,
                           on_result=lambda r, i=index, m=metric: self._show_result(i, m, r),
                           on_error=self._show_error)

    def show_query_results(self, query_text: str, indices: Sequence[int], scores: Optional[Sequence[float]] = None,
                           metric: str = "cosine") -> None:
        """Show the results of a text search (``scores`` None for plain text matches)."""
        self.runner.cancel("neighbors")
        self.query_text = query_text
        self.query_index = -1
        self.header.setText(f"<b>Results for \u201c{html.escape(query_text)}\u201d</b>")
        self.card.hide()
        n = len(indices)
        self.status.setText(f"{n:,} result{'s' if n != 1 else ''}" if n else "no results")
        self._fill(indices, scores, metric)

    # -- internals -----------------------------------------------------------------------------------
    def _reset(self) -> None:
        self.query_text = ""
        self.query_index = -1
        self.header.setText("<b>Nearest neighbours</b>")
        self.card.show()
        self.card.clear("Click a point on the map or a row in the table to see its nearest neighbours.")
        self._fill([], None)
        self.status.setText("")

    def _on_current(self, index: int, source: str) -> None:
        if source == self.name:
            return
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

    def _show_result(self, index: int, metric: str, result) -> None:
        idx, scores, seconds = result
        if index != self.query_index or self.query_text:
            return
        self._fill(idx, scores, metric)
        emb = self.state.emb
        n = len(emb) if emb is not None else 0
        self.status.setText(f"exact {metric} search over {n:,} items in {seconds * 1000:.0f} ms")

    def _show_error(self, message: str) -> None:
        log.warning("neighbour search failed: %s", message)
        self._fill([], None)
        self.status.setText(theme.error_html(f"Neighbour search failed: {message}"))

    def _fill(self, indices: Sequence[int], scores: Optional[Sequence[float]], metric: str = "cosine") -> None:
        self.list.clear_items()
        self.displayed_indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.displayed_scores = None if scores is None else np.asarray(scores, dtype=np.float32).reshape(-1)
        ds = self.state.dataset
        if ds is None:
            return
        for rank, j in enumerate(self.displayed_indices.tolist()):
            head = f"{rank + 1}. {item_title(ds, j) or ds.ids[j]}"
            if self.displayed_scores is not None:
                head += f"   {score_text(metric, float(self.displayed_scores[rank]))}"
            body = ds.display_text(j, 160) if ds.texts is not None else ds.ids[j]
            self.list.add_item(ds, j, f"{head}\n{body}", ds.display_text(j, 1000))

    def _on_thumbnail(self, index: int) -> None:
        self.list.thumbnail_ready(index)
        if index == self.card.index and not self.query_text:
            self.card.set_pixmap(self.thumbnails.get(index))

    def _on_item_chosen(self, j: int) -> None:
        self.selection.set_current(j, self.name)
        self.show_neighbors(j)

    def shutdown(self) -> None:
        self.runner.cancel("neighbors")
