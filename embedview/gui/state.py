"""``AppState``: what the window currently shows, with signals.  Views read it, never own it.

One dataset at a time; one or more embedding sets of it (one per encoder, for Compare); one
*active* set that the map, neighbours, heatmap and duplicates views use.  Analysis results that
several views share (projections, outlier scores, duplicate finder) are cached here per encoder
so computing them once serves every view.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
from PySide6.QtCore import QObject, Signal

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet


class AppState(QObject):
    dataset_changed = Signal()  # new data: everything else was cleared
    embeddings_changed = Signal(str)  # an embedding set was added/replaced (encoder name)
    active_changed = Signal(str)  # the active encoder changed
    #: the active set is another object: another encoder became active, or the active one was
    #: re-encoded (what every view showing "the active set" listens to)
    active_set_changed = Signal(str)
    projection_changed = Signal(str)  # projections[name] (of the active set) changed
    analysis_changed = Signal(str)  # "outliers", "duplicates", "checks", ... changed
    problems_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dataset: Optional[Dataset] = None
        self.paths: List[str] = []  # what the user opened
        self.sets: Dict[str, EmbeddingSet] = {}
        self.active: str = ""
        # per encoder name -> {method: (embedding_ (N,2) float32, Projection object)}
        self.projections: Dict[str, Dict[str, Any]] = {}
        # per encoder name -> {kind: result object}
        self.analysis: Dict[str, Dict[str, Any]] = {}
        self.problems: List[Any] = []

    # -- data ---------------------------------------------------------------------------------
    def set_dataset(self, dataset: Optional[Dataset], paths: Optional[List[str]] = None) -> None:
        self.dataset = dataset
        self.paths = list(paths or [])
        self.sets.clear()
        self.projections.clear()
        self.analysis.clear()
        self.active = ""
        self.problems = list(dataset.problems) if dataset is not None else []
        self.dataset_changed.emit()
        self.problems_changed.emit()

    def add_embeddings(self, emb: EmbeddingSet, activate: bool = True) -> None:
        """Store ``emb`` under its encoder name.  Encoding may have dropped items that failed to
        decode: the set's dataset then becomes the app's dataset (indices follow the set)."""
        name = emb.encoder
        if self.dataset is None or len(emb.dataset) != len(self.dataset) or self.sets == {}:
            self.dataset = emb.dataset
        self.sets[name] = emb
        self.projections.pop(name, None)
        self.analysis.pop(name, None)
        if emb.problems:
            self.problems = list(self.problems) + [p for p in emb.problems if p not in self.problems]
            self.problems_changed.emit()
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

    @property
    def emb(self) -> Optional[EmbeddingSet]:
        return self.sets.get(self.active)

    @property
    def n_items(self) -> int:
        return 0 if self.dataset is None else len(self.dataset)

    # -- shared analysis results -----------------------------------------------------------------
    def set_projection(self, method: str, embedding: np.ndarray, model: Any = None, name: Optional[str] = None) -> None:
        name = name or self.active
        self.projections.setdefault(name, {})[method] = (np.asarray(embedding, dtype=np.float32), model)
        self.projection_changed.emit(name)

    def projection(self, method: str, name: Optional[str] = None):
        return self.projections.get(name or self.active, {}).get(method)

    def set_analysis(self, kind: str, result: Any, name: Optional[str] = None) -> None:
        self.analysis.setdefault(name or self.active, {})[kind] = result
        self.analysis_changed.emit(kind)

    def get_analysis(self, kind: str, name: Optional[str] = None) -> Any:
        return self.analysis.get(name or self.active, {}).get(kind)
