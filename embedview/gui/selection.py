"""MIGRATION shim: the selection is :class:`embedview.model.Selection` (Qt-free)."""

from embedview.model.selection import Selection as SelectionModel

__all__ = ["SelectionModel"]
