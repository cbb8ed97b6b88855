"""The one shared selection every view listens to (glue's hub / napari's evented model, small).

``selected`` is a sorted, unique int64 array of item indices into the active dataset;
``current`` is the single focused item (the one the Neighbours view shows), or -1.
Every change carries a ``source`` string: a view sets it to its own name and ignores signals
whose source is itself, so views never echo each other in loops.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from PySide6.QtCore import QObject, Signal


class SelectionModel(QObject):
    selection_changed = Signal(object, str)  # (np.ndarray indices, source)
    current_changed = Signal(int, str)  # (index or -1, source)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._selected = np.empty(0, dtype=np.int64)
        self._current = -1
        self._n = 0

    # -- state --------------------------------------------------------------------------
    @property
    def selected(self) -> np.ndarray:
        return self._selected

    @property
    def current(self) -> int:
        return self._current

    def reset(self, n_items: int) -> None:
        """A new dataset: forget everything (emits both signals with source 'reset')."""
        self._n = int(n_items)
        self._selected = np.empty(0, dtype=np.int64)
        self._current = -1
        self.selection_changed.emit(self._selected, "reset")
        self.current_changed.emit(-1, "reset")

    # -- changes --------------------------------------------------------------------------
    def set_selection(self, indices: Iterable[int], source: str = "") -> None:
        idx = np.unique(np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices, dtype=np.int64))
        if self._n:
            idx = idx[(idx >= 0) & (idx < self._n)]
        if np.array_equal(idx, self._selected):
            return
        self._selected = idx
        self.selection_changed.emit(idx, source)

    def add_to_selection(self, indices: Iterable[int], source: str = "") -> None:
        extra = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices, dtype=np.int64)
        self.set_selection(np.concatenate([self._selected, extra]), source)

    def set_current(self, index: int, source: str = "") -> None:
        index = int(index)
        if self._n and not (-1 <= index < self._n):
            raise IndexError(f"item {index} out of range for {self._n} items")
        if index == self._current:
            return
        self._current = index
        self.current_changed.emit(index, source)

    def clear(self, source: str = "") -> None:
        self.set_selection(np.empty(0, dtype=np.int64), source)
        self.set_current(-1, source)
