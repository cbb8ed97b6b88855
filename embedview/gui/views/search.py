"""Search: find items by a text query, by meaning where the active encoder allows it.

* text datasets: the query is embedded by the same sentence encoder as the items;
* image datasets: by the encoder's text tower when it has one (CLIP: ``spec.text_query``);
* otherwise (an image encoder without a text tower, precomputed vectors) the view says why and
  searches ids, labels and texts for the words instead.

Query encoding (which may first load the model) runs in the runner (key ``"search"``).  Results
go to every :class:`~embedview.gui.views.neighbors.NeighborsView` of the window
(``show_query_results``), are emitted as ``results_ready(query, indices, scores)`` and become
the selection (source ``"search"``), so the map and heatmap show them too.
"""

from __future__ import annotations

import html
import logging
from typing import Optional, Tuple

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QSpinBox,
                               QVBoxLayout)

from embedview.core.embeddings import EmbeddingSet
from embedview.gui import theme
from embedview.gui.views.neighbors import NeighborsView
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.gui.views.base import View

log = logging.getLogger(__name__)


def query_support(emb: Optional[EmbeddingSet]) -> Tuple[bool, str]:
    """Whether text can search ``emb`` by meaning, and a sentence for the user either way."""
    if emb is None:
        return False, "Search needs embeddings: open data and wait for the encoding."
    if emb.encoder == "precomputed":
        return False, "Precomputed vectors have no encoder for text queries: search finds words in ids, labels, texts."
    if emb.dataset.modality == "text":
        return True, f"Search by meaning with {emb.encoder}."
    from embedview.encoders.registry import get_spec

    try:
        spec = get_spec(emb.encoder)
    except Exception:  # noqa: BLE001 - an unknown plugin name: just no text tower
        spec = None
    if spec is not None and spec.text_query:
        return True, f"Search images by meaning with the text tower of {emb.encoder}."
    return False, f"The image encoder {emb.encoder} has no text tower: choose a CLIP encoder to search images by text."


def semantic_search(emb: EmbeddingSet, query: str, k: int, progress=None):
    """Embed ``query`` with the set's encoder (its text tower, in the encoder process) and
    return the ``k`` most similar items."""
    from embedview.core.neighbors import topk
    from embedview.runtime.encoder_host import embed_query, encoder_host

    q = encoder_host().call(embed_query, emb.encoder, query, progress=progress)
    idx, scores = topk(emb.unit, k, queries=q, metric="cosine", exclude_self=False)
    return idx[0], scores[0]


def substring_search(dataset, query: str, limit: int, progress=None):
    """Items whose id, label or text contains ``query`` (case-insensitive): ``(first indices, total)``."""
    from embedview.gui.views.table import filter_order, search_text

    hits = filter_order(np.arange(len(dataset), dtype=np.int64), search_text(dataset), query)
    return hits[:limit], len(hits)


class SearchView(View):
    """A query field: semantic search through the matching text tower, or plain text matching."""

    title = "Search"
    area = "right"
    name = "search"

    #: (query, indices, scores or None)
    results_ready = Signal(str, object, object)

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.last_query = ""
        self.last_indices = np.empty(0, dtype=np.int64)
        self.last_scores: Optional[np.ndarray] = None

        self.edit = QLineEdit()
        self.edit.setClearButtonEnabled(True)
        self.button = QPushButton("Search")
        self.k_box = QSpinBox()
        self.k_box.setRange(1, 1000)
        self.k_box.setValue(20)
        self.k_box.setPrefix("top ")
        self.k_box.setToolTip("How many results to show")
        self.words = QCheckBox("words")
        self.words.setToolTip("Find items whose id, label or text contains the query, instead of searching by meaning")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.RichText)
        self.status.setMinimumHeight(2 * self.status.fontMetrics().lineSpacing() + 2)  # room for a wrapped message

        row = QHBoxLayout()
        row.addWidget(self.edit, 1)
        row.addWidget(self.k_box)
        row.addWidget(self.words)
        row.addWidget(self.button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(2)
        lay.addLayout(row)
        lay.addWidget(self.status)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Maximum)  # a compact bar: leave height to others

        self.words.toggled.connect(lambda _on: self._update_placeholder())
        self.edit.returnPressed.connect(self.search)
        self.button.clicked.connect(self.search)
        model.dataset_changed.connect(self._update_support)
        model.active_changed.connect(lambda _n: self._update_support())
        model.embeddings_changed.connect(lambda _n: self._update_support())
        self._update_support()

    # -- public ----------------------------------------------------------------------------------------
    def focus_search(self) -> None:
        self.edit.setFocus(Qt.ShortcutFocusReason)
        self.edit.selectAll()

    def search(self, query: Optional[str] = None) -> None:
        """Run a search for ``query`` (default: the field's text)."""
        if isinstance(query, str):
            self.edit.setText(query)
        text = self.edit.text().strip()
        ds = self.state.dataset
        if not text or ds is None:
            return
        k = self.k_box.value()
        semantic, _ = query_support(self.state.emb)
        if semantic and not self.words.isChecked():
            self.status.setText(f"searching for \u201c{html.escape(text)}\u201d\u2026")
            self.runner.submit("search", semantic_search, self.state.emb, text, k,
                               on_result=lambda r, q=text: self._deliver(q, r[0], r[1], "by meaning"),
                               on_progress=lambda f, msg: self.status.setText(html.escape(msg)),
                               on_error=self._failed)
        else:
            self.runner.submit("search", substring_search, ds, text, k,
                               on_result=lambda r, q=text: self._deliver(q, r[0], None, f"{r[1]:,} items contain it"),
                               on_error=self._failed)

    # -- internals -----------------------------------------------------------------------------------
    def _update_support(self) -> None:
        ok, message = query_support(self.state.emb)
        was_forced = not self.words.isEnabled()
        self.words.setEnabled(ok)
        if not ok:
            self.words.setChecked(True)
        elif was_forced:
            self.words.setChecked(False)
        self.status.setText(html.escape(message) if self.state.dataset is not None else "")
        self._update_placeholder()
        self.edit.setEnabled(self.state.dataset is not None)
        self.button.setEnabled(self.state.dataset is not None)

    def _update_placeholder(self) -> None:
        if self.words.isChecked():
            self.edit.setPlaceholderText("Find words in ids, labels and texts")
        else:
            self.edit.setPlaceholderText("Search by meaning, e.g. \u201ca dog on a beach\u201d")

    def _deliver(self, query: str, indices, scores, how: str) -> None:
        self.last_query = query
        self.last_indices = np.asarray(indices, dtype=np.int64)
        self.last_scores = None if scores is None else np.asarray(scores, dtype=np.float32)
        n = len(self.last_indices)
        self.status.setText(f"{n:,} result{'s' if n != 1 else ''} for \u201c{html.escape(query)}\u201d ({how})")
        self.results_ready.emit(query, self.last_indices, self.last_scores)
        win = self.window()
        for view in win.findChildren(NeighborsView):
            view.show_query_results(query, self.last_indices, self.last_scores)
        if hasattr(win, "show_view"):
            win.show_view("NeighborsView")
        self.selection.set_selection(self.last_indices, self.name)

    def _failed(self, message: str) -> None:
        log.warning("search failed: %s", message)
        self.status.setText(theme.error_html(f"Search failed: {message}"))

    def shutdown(self) -> None:
        self.runner.cancel("search")
