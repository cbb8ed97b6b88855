"""Problems: every file or row that was skipped while loading or encoding, and every job error,
each with its reason, so nothing silently disappears.

Reads ``model.problems`` (``LoadProblem`` objects: path, reason, severity) and redraws on
``problems_changed``.  Job and action errors are filed there too (severity ``"error"``, by
``actions.errors.record_error``).
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from embedview.gui.views.base import View
from embedview.gui.workers import JobRunner
from embedview.model import AppModel


class ProblemsView(View):
    """A flat list: file name, reason, severity, folder.  Copy puts it all on the clipboard."""

    title = "Problems"
    area = "bottom"
    name = "problems"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)

        self.summary = QLabel("No problems.")
        self.copy_button = QPushButton("Copy list")
        self.copy_button.setToolTip("Copy every problem (path and reason) to the clipboard")
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.summary, 1)
        top.addWidget(self.copy_button)

        self.tree = QTreeWidget()
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.tree.setHeaderLabels(["File", "Reason", "Kind", "Folder"])
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.Interactive)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.Interactive)
        header.setStretchLastSection(False)
        header.resizeSection(0, 220)
        header.resizeSection(3, 260)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)

        model.problems_changed.connect(self.refresh)
        self.refresh()

    # -- content ------------------------------------------------------------------------------
    def refresh(self) -> None:
        problems = list(self.model.problems)
        self.tree.clear()
        items: list[QTreeWidgetItem] = []
        for p in problems:
            path = str(getattr(p, "path", ""))
            reason = str(getattr(p, "reason", p))
            severity = str(getattr(p, "severity", "skipped"))
            name, folder = os.path.basename(path) or path, os.path.dirname(path)
            item = QTreeWidgetItem([name, reason, severity, folder])
            item.setToolTip(0, path)
            item.setToolTip(1, reason)
            item.setData(0, Qt.UserRole, path)
            items.append(item)
        self.tree.addTopLevelItems(items)
        skipped = sum(1 for p in problems if getattr(p, "severity", "skipped") == "skipped")
        errors = sum(1 for p in problems if getattr(p, "severity", "") == "error")
        if not problems:
            self.summary.setText("No problems.")
        else:
            parts = []
            if skipped:
                parts.append(f"{skipped} item{'s' if skipped != 1 else ''} skipped")
            if errors:
                parts.append(f"{errors} error{'s' if errors != 1 else ''}")
            rest = len(problems) - skipped - errors
            if rest:
                parts.append(f"{rest} warning{'s' if rest != 1 else ''}")
            self.summary.setText(", ".join(parts) + ".")
        self.copy_button.setEnabled(bool(problems))

    def rows(self) -> list[tuple]:
        """(file name, reason, kind, folder) of every listed problem (for tests and copying)."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            out.append(tuple(item.text(c) for c in range(4)))
        return out

    def copy_to_clipboard(self) -> None:
        lines = [f"{getattr(p, 'path', '')}\t{getattr(p, 'reason', p)}" for p in self.model.problems]
        QGuiApplication.clipboard().setText("\n".join(lines))
