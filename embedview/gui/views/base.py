"""The base of every view: what the window hands it, and how it is placed.

A view is built with the window's :class:`~embedview.model.AppModel` and
:class:`~embedview.gui.workers.JobRunner`; it keeps them as ``model`` and ``runner``, and the
model's shared selection as ``selection``.  A view reads and writes *only* the model: its own
choices in its state object (``model.views.<name>``), results in ``model.analyses()``; it never
reads another view's widgets.  ``title`` is the dock's (or workspace tab's) title, ``area`` where
the dock goes in the Explore workspace ("left", "right", "bottom"; a view listed in
``views.WORKSPACES`` is a whole workspace instead), and ``name`` the ``source`` string the view
puts on selection changes (it ignores changes carrying its own name).  Optional: ``export_plot(path)`` (PNG / SVG) and
``shutdown()``; ``focus_input()`` (Ctrl+F puts the cursor in the view's text field).
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from embedview.gui.workers import JobRunner
from embedview.model import AppModel


class View(QWidget):
    title = ""
    area = "right"
    name = ""

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self.selection = model.selection
        self.runner = runner

    def focus_input(self) -> bool:
        """Put the keyboard focus in the view's text field (Ctrl+F); False when it has none."""
        return False
