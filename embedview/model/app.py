"""``AppModel``: the whole state of an embedview window, Qt-free and evented.

One dataset at a time; one or more embedding sets of it (one per encoder, for Compare); one
*active* set that the map, neighbours, heatmap and duplicates views use; the shared
:class:`~embedview.model.selection.Selection`; the analyses of each set
(:class:`~embedview.model.analyses.EncoderAnalyses`); and one state object per view
(:class:`~embedview.model.views.ViewStates`).  Widgets bind to it; nothing else holds state.

Events are psygnal signals (same ``connect`` / ``emit`` as Qt's), emitted synchronously on the
thread that changed the model.  In the window every change is made on the GUI thread: job results
reach the model through the runtime's dispatcher, never from a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from psygnal import Signal

from embedview.core.dataset import Dataset, LoadProblem
from embedview.core.embeddings import EmbeddingSet
from embedview.model.analyses import AnalysisKind, EncoderAnalyses, Projection2D
from embedview.model.selection import Selection
from embedview.model.views import ViewStates


class AppModel:
    dataset_changed = Signal()  #: new data: sets, analyses and selection were cleared
    embeddings_changed = Signal(str)  #: an embedding set was added / replaced (encoder name)
    active_changed = Signal(str)  #: the active encoder changed
    #: the active set is another object: another encoder became active, or the active one was
    #: re-encoded (what every view showing "the active set" listens to)
    active_set_changed = Signal(str)
    projection_changed = Signal(str)  #: a projection of set ``name`` changed
    #: (kind, name): the :class:`AnalysisKind` of set ``name`` changed (handlers may take kind only)
    analysis_changed = Signal(object, str)
    problems_changed = Signal()
    #: a view asks the window to bring view ``name`` (a ``View.name``) to the front, e.g. search
    #: shows the Neighbours of a hit; views never look each other up
    show_view_requested = Signal(str)
    #: a line for the status bar from anywhere (actions, views): (text, timeout in ms; 0 = stays)
    message = Signal(str, int)

    def __init__(self) -> None:
        self.dataset: Dataset | None = None
        self.paths: list[str] = []  # what the user opened
        #: how ``paths`` were read: {"text_column": ..., "label_column": ...}
        self.load_options: dict[str, str | None] = {}
        self.sets: dict[str, EmbeddingSet] = {}
        self.active: str = ""
        self.analyses_by_set: dict[str, EncoderAnalyses] = {}
        self.problems: list[LoadProblem] = []
        self.selection = Selection()
        self.views = ViewStates()

    # -- data ---------------------------------------------------------------------------------
    def set_dataset(self, dataset: Dataset | None, paths: Sequence[str] | None = None,
                    load_options: dict[str, str | None] | None = None) -> None:
        """Show ``dataset``: every set, analysis and the selection are cleared; view choices that
        only made sense for the old data go back to their defaults."""
        self.dataset = dataset
        self.paths = list(paths or [])
        self.load_options = dict(load_options or {})
        self.sets.clear()
        self.analyses_by_set.clear()
        self.active = ""
        self.problems = list(dataset.problems) if dataset is not None else []
        self.views.reset_for_new_data()
        self.dataset_changed.emit()
        self.selection.reset(len(dataset) if dataset is not None else 0)
        self.problems_changed.emit()

    def add_embeddings(self, emb: EmbeddingSet, activate: bool = True) -> None:
        """Store ``emb`` under its encoder name.  Encoding may have dropped items that failed to
        decode: the set's dataset then becomes the app's dataset (indices follow the set) and the
        selection starts again."""
        name = emb.encoder
        dropped = self.dataset is not None and len(emb.dataset) != len(self.dataset)
        if self.dataset is None or dropped or not self.sets:
            self.dataset = emb.dataset
        self.sets[name] = emb
        self.analyses_by_set.pop(name, None)
        if emb.problems:
            self.add_problems(emb.problems)
        if dropped:
            self.selection.reset(len(emb))
        self.embeddings_changed.emit(name)
        if name == self.active:
            self.active_set_changed.emit(name)
        elif activate or not self.active:
            self.set_active(name)

    def set_active(self, name: str) -> None:
        if name not in self.sets:
            raise KeyError(name)
        if name == self.active:
            return
        self.active = name
        self.active_changed.emit(name)
        self.active_set_changed.emit(name)

    def add_problems(self, problems: Sequence[LoadProblem]) -> None:
        new = [p for p in problems if p not in self.problems]
        if new:
            self.problems = list(self.problems) + new
            self.problems_changed.emit()

    @property
    def emb(self) -> EmbeddingSet | None:
        """The active embedding set, or None."""
        return self.sets.get(self.active)

    def ordered_sets(self, limit: int | None = None) -> dict[str, EmbeddingSet]:
        """The embedding sets, the active one first, at most ``limit`` (what side-by-side views show)."""
        names = [self.active] if self.active in self.sets else []
        names += [n for n in self.sets if n not in names]
        return {n: self.sets[n] for n in names[:limit]}

    @property
    def n_items(self) -> int:
        return 0 if self.dataset is None else len(self.dataset)

    @property
    def name(self) -> str:
        """What the data is called: the dataset's own name, else the first opened path's."""
        if self.dataset is None:
            return ""
        if self.dataset.name:
            return self.dataset.name
        return os.path.basename(self.paths[0].rstrip("/\\")) if self.paths else "data"

    # -- analyses -----------------------------------------------------------------------------
    def analyses(self, name: str | None = None) -> EncoderAnalyses:
        """The analyses of set ``name`` (default: the active one), created empty on first use."""
        return self.analyses_by_set.setdefault(name or self.active, EncoderAnalyses())

    def set_projection(self, method: str, embedding: np.ndarray, model: Any = None, name: str | None = None) -> None:
        name = name or self.active
        self.analyses(name).projections[str(method)] = Projection2D(np.asarray(embedding, dtype=np.float32), model)
        self.projection_changed.emit(name)

    def projection(self, method: str, name: str | None = None) -> Projection2D | None:
        found = self.analyses_by_set.get(name or self.active)
        return None if found is None else found.projections.get(str(method))

    def set_analysis(self, kind: AnalysisKind, result: Any, name: str | None = None) -> None:
        """File ``result`` as the ``kind`` of set ``name`` (default: the active one)."""
        kind = AnalysisKind(kind)
        name = name or self.active
        self.analyses(name).set(kind, result)
        self.analysis_changed.emit(kind, name)

    def get_analysis(self, kind: AnalysisKind, name: str | None = None) -> Any:
        found = self.analyses_by_set.get(name or self.active) or EncoderAnalyses()  # not computed: the empty value
        return found.get(AnalysisKind(kind))

    def is_current(self, emb: EmbeddingSet, name: str) -> bool:
        """Whether ``emb`` is still the set stored as ``name``: the one test of a stale result."""
        return self.sets.get(name) is emb
