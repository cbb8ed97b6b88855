"""The base of every dockable view: what the main window hands it, and how it is placed.

A view is built with the shared :class:`AppState`, :class:`SelectionModel` and
:class:`JobRunner` and keeps them as ``state``, ``selection`` and ``runner``.  ``title`` is the
dock title, ``area`` where the dock goes ("left", "right", "bottom"), and ``name`` the
``source`` string the view puts on selection changes (it ignores changes carrying its own name).
Optional: ``export_plot(path)`` (PNG / SVG) and ``shutdown()``.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from embedview.gui.selection import SelectionModel
from embedview.gui.state import AppState
from embedview.gui.workers import JobRunner


class View(QWidget):
    title = ""
    area = "right"
    name = ""

    def __init__(self, state: AppState, selection: SelectionModel, runner: JobRunner, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.selection = selection
        self.runner = runner
