"""MIGRATION shim: the window's state is :class:`embedview.model.AppModel` (Qt-free)."""

from embedview.model import AppModel as AppState

__all__ = ["AppState"]
