"""Search: find items by a text query, by meaning where the active encoder allows it.

* text datasets: the query is embedded by the same sentence encoder as the items;
* image datasets: by the encoder's text tower when it has one (CLIP: ``spec.text_query``);
* otherwise (an image encoder without a text tower, precomputed vectors) the view says why and
  searches ids, labels and texts for the words instead.

The query, ``k`` and the word-match choice are ``model.views.search``, bound to the controls.
Query encoding (which may first load the model) runs in the runner (``JobKind.SEARCH``); the
ranking is :mod:`embedview.core.search`.  The hits go to the model: ``model.views.search.results``
(the Neighbours view lists them), the selection (the map, table and heatmap show them) with the
best hit as the current item (source ``"search"``), and ``model.show_view_requested("neighbors")``
asks the window to bring the list to the front.
"""

from __future__ import annotations

import html
import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QSpinBox, QVBoxLayout

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.search import SearchHits, search_by_vector, substring_search
from embedview.gui import theme
from embedview.gui.bind import bind
from embedview.gui.views.base import View
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.model.views.search import K_RANGE
from embedview.runtime.keys import JobKind

log = logging.getLogger(__name__)

#: the view that lists the hits (``View.name`` of the Neighbours view)
RESULTS_VIEW = "neighbors"


def query_support(emb: EmbeddingSet | None) -> tuple[bool, str]:
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


def semantic_search(emb: EmbeddingSet, query: str, k: int, progress=None) -> tuple:
    """Embed ``query`` with the set's encoder (its text tower, in the encoder process) and
    return the ``k`` most similar items as ``(indices, scores)``."""
    hits = semantic_hits(emb, query, k, progress=progress)
    return hits.indices, hits.scores


def semantic_hits(emb: EmbeddingSet, query: str, k: int, progress=None) -> SearchHits:
    """:func:`semantic_search` as :class:`~embedview.core.search.SearchHits` (the view's job)."""
    from embedview.runtime.encoder_host import embed_query, encoder_host

    q = encoder_host().call(embed_query, emb.encoder, query, progress=progress)
    return search_by_vector(emb, q, k, query=query)


def word_hits(dataset: Dataset, query: str, k: int, progress=None) -> SearchHits:
    """The first ``k`` items containing ``query`` (the view's job for a word match)."""
    return substring_search(dataset, query, k, progress=progress)


class SearchView(View):
    """A query field: semantic search through the matching text tower, or plain text matching."""

    title = "Search"
    area = "right"
    name = "search"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.edit = QLineEdit()
        self.edit.setClearButtonEnabled(True)
        self.button = QPushButton("Search")
        self.k_box = QSpinBox()
        self.k_box.setRange(*K_RANGE)
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

        choices = model.views.search
        bind(self.edit, choices, "query")
        # every edit reaches the model at once (bind writes a line edit when editing finishes,
        # which comes after returnPressed): a search reads the query from the model
        self.edit.textChanged.connect(lambda text: setattr(choices, "query", text))
        bind(self.k_box, choices, "k")
        bind(self.words, choices, "words", on_change=lambda _v: self._update_placeholder())
        self.edit.returnPressed.connect(self.search)
        self.button.clicked.connect(lambda: self.search())
        model.dataset_changed.connect(self._on_dataset)
        model.active_changed.connect(lambda _n: self._update_support())
        model.embeddings_changed.connect(lambda _n: self._update_support())
        self._update_support()

    # -- public ----------------------------------------------------------------------------------------
    def focus_input(self) -> bool:
        self.edit.setFocus(Qt.ShortcutFocusReason)
        self.edit.selectAll()
        return True

    @property
    def results(self) -> SearchHits | None:
        """The hits of the last search (``model.views.search.results``)."""
        return self.model.views.search.results

    def search(self, query: str | None = None) -> None:
        """Run a search for ``query`` (default: ``model.views.search.query``)."""
        choices = self.model.views.search
        if isinstance(query, str):
            choices.query = query
        text = choices.query.strip()
        model = self.model
        ds = model.dataset
        if not text or ds is None:
            return
        semantic, _ = query_support(model.emb)
        if semantic and not choices.words:
            emb, name = model.emb, model.active
            self.status.setText(f"searching for \u201c{html.escape(text)}\u201d\u2026")
            self.runner.submit(JobKind.SEARCH, semantic_hits, emb, text, choices.k,
                               on_result=self._deliver,
                               on_progress=lambda f, msg: self.status.setText(html.escape(msg)),
                               on_error=self._failed,
                               is_stale=lambda: not model.is_current(emb, name))
        else:
            self.runner.submit(JobKind.SEARCH, word_hits, ds, text, choices.k,
                               on_result=self._deliver, on_error=self._failed,
                               is_stale=lambda: model.dataset is not ds)

    # -- internals -----------------------------------------------------------------------------------
    def _on_dataset(self) -> None:
        self.runner.cancel(JobKind.SEARCH)
        self.model.views.search.results = None  # hits of other data
        self._update_support()

    def _update_support(self) -> None:
        """Word matching is forced (the box ticked and disabled) while the active set cannot be
        searched by meaning, and given back when it can."""
        ok, message = query_support(self.model.emb)
        choices = self.model.views.search
        was_forced = not self.words.isEnabled()
        self.words.setEnabled(ok)
        if not ok:
            choices.words = True
        elif was_forced:
            choices.words = False
        has_data = self.model.dataset is not None
        self.status.setText(html.escape(message) if has_data else "")
        self._update_placeholder()
        self.edit.setEnabled(has_data)
        self.button.setEnabled(has_data)

    def _update_placeholder(self) -> None:
        if self.model.views.search.words:
            self.edit.setPlaceholderText("Find words in ids, labels and texts")
        else:
            self.edit.setPlaceholderText("Search by meaning, e.g. \u201ca dog on a beach\u201d")

    def _deliver(self, hits: SearchHits) -> None:
        """Hand the hits to the model: listed by the Neighbours view, selected, the best current."""
        n = len(hits)
        self.status.setText(f"{n:,} result{'s' if n != 1 else ''} for \u201c{html.escape(hits.query)}\u201d"
                            f" ({hits.how})")
        self.model.views.search.results = hits
        self.selection.set_selection(hits.indices, self.name)
        if n:
            self.selection.set_current(int(hits.indices[0]), self.name)
        self.model.show_view_requested.emit(RESULTS_VIEW)

    def _failed(self, message: str) -> None:
        log.warning("search failed: %s", message)
        self.status.setText(theme.error_html(f"Search failed: {message}"))

    def shutdown(self) -> None:
        self.runner.cancel(JobKind.SEARCH)
