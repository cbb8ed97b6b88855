"""The base of every view's state object: an evented dataclass that saves and restores itself.

A view's state is what the user chose in that view (a method, a colouring, a threshold, ``k``):
the widgets bind to it both ways, sessions save it, tests assert on it.  Results of computations
are not view state: they live in :class:`embedview.model.analyses.EncoderAnalyses`.

Each subclass is a ``@evented @dataclass``: every field has an event,
``state.events.<field>.connect(fn)`` (``fn(new_value)``), and ``state.events.all`` fires for any.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


class ViewStateMixin:
    """``to_dict()`` / ``update(dict)`` for the dataclass it is mixed into."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def update(self, values: Mapping[str, Any]) -> None:
        """Set the known fields from ``values`` (a saved session, say); unknown keys and values of
        the wrong type are ignored, so an old or hand-edited session never breaks a view."""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.name not in values:
                continue
            value = _coerce(values[f.name], getattr(self, f.name))
            if value is not _INVALID:
                setattr(self, f.name, value)

    def reset(self) -> None:
        """Back to the defaults (a new dataset was opened)."""
        fresh = type(self)()
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            setattr(self, f.name, getattr(fresh, f.name))


_INVALID = object()


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def _coerce(value: Any, current: Any) -> Any:
    """``value`` converted to the type of ``current`` where that is safe, else ``_INVALID``."""
    if current is None or value is None:
        return value
    if isinstance(current, bool):
        return value if isinstance(value, bool) else _INVALID
    if isinstance(current, int):
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _INVALID
    if isinstance(current, float):
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _INVALID
    if isinstance(current, str):
        return value if isinstance(value, str) else _INVALID
    if isinstance(current, tuple):
        return tuple(value) if isinstance(value, (list, tuple)) else _INVALID
    if isinstance(current, list):
        return list(value) if isinstance(value, (list, tuple)) else _INVALID
    if isinstance(current, dict):
        return dict(value) if isinstance(value, dict) else _INVALID
    return value
