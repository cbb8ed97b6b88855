"""The base of every view: what the window hands it, and how it is placed.

A view is built with the window's :class:`~embedview.model.AppModel` and
:class:`~embedview.gui.workers.JobRunner`; it keeps them as ``model`` and ``runner``, and the
model's shared selection as ``selection``.  A view reads and writes *only* the model: its own
choices in its state object (``model.views.<name>``), results in ``model.analyses()``; it never
reads another view's widgets.  ``title`` is the dock title, ``area`` where the dock goes ("left",
"right", "bottom"), and ``name`` the ``source`` string the view puts on selection changes (it
ignores changes carrying its own name).  Optional: ``export_plot(path)`` (PNG / SVG) and
``shutdown()``.
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
        self.state = model  # MIGRATION: the views' old name for the model; removed once unused
        self.selection = model.selection
        self.runner = runner
