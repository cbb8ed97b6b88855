"""The one shared selection every view follows (glue's hub / napari's evented model, small).

``selected`` is a sorted, unique int64 array of item indices into the active dataset;
``current`` is the single focused item (the one the Neighbours view shows), or -1.
Every change carries a ``source`` string: a view sets it to its own name and ignores events
whose source is itself, so views never echo each other in loops.

Qt-free: the events are psygnal signals, emitted on the thread that made the change (the GUI
thread, in the window: every change comes from a widget or from a job's result callback).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from psygnal import Signal

IndexLike = Iterable[int] | np.ndarray


def as_indices(indices: IndexLike) -> np.ndarray:
    """Any iterable of ints as a sorted, unique int64 array."""
    arr = indices if isinstance(indices, np.ndarray) else np.fromiter((int(i) for i in indices), dtype=np.int64)
    return np.unique(np.asarray(arr, dtype=np.int64))


class Selection:
    """The selected items and the current one.  ``reset(n)`` for a new dataset."""

    selection_changed = Signal(object, str)  # (np.ndarray indices, source)
    current_changed = Signal(int, str)  # (index or -1, source)

    def __init__(self, n_items: int = 0) -> None:
        self._selected = np.empty(0, dtype=np.int64)
        self._current = -1
        self._n = int(n_items)

    # -- state --------------------------------------------------------------------------
    @property
    def selected(self) -> np.ndarray:
        return self._selected

    @property
    def current(self) -> int:
        return self._current

    @property
    def n_items(self) -> int:
        return self._n

    def reset(self, n_items: int) -> None:
        """A new dataset: forget everything (emits both events with source 'reset')."""
        self._n = int(n_items)
        self._selected = np.empty(0, dtype=np.int64)
        self._current = -1
        self.selection_changed.emit(self._selected, "reset")
        self.current_changed.emit(-1, "reset")

    # -- changes --------------------------------------------------------------------------
    def set_selection(self, indices: IndexLike, source: str = "") -> None:
        idx = as_indices(indices)
        if self._n:
            idx = idx[(idx >= 0) & (idx < self._n)]
        if np.array_equal(idx, self._selected):
            return
        self._selected = idx
        self.selection_changed.emit(idx, source)

    def add_to_selection(self, indices: IndexLike, source: str = "") -> None:
        self.set_selection(np.concatenate([self._selected, as_indices(indices)]), source)

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

    # -- sessions -------------------------------------------------------------------------
    def to_dict(self, ids: list) -> dict:
        """By item id, so a session survives items being reordered or dropped."""
        current = ids[self._current] if self._current >= 0 else None
        return {"ids": [ids[int(i)] for i in self._selected], "current": current}
