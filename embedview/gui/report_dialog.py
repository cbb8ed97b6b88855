"""File -> Export HTML report...: :func:`embedview.core.report.write_report` of every encoded set,
written in the job runner (key ``JobKind.REPORT``) with a non-modal progress dialog and Cancel.

The save dialog (:class:`ReportFileDialog`, Qt's own file dialog so it can hold an option) has a
"Leave out local paths (file names only)" box: the report's ``include_paths=False``, the same as
``embedview report --no-paths`` -- every absolute path in the page (source tooltips, problems,
encoder folders) cut to its file name, for a report to share.  The choice is remembered.

Not a view: the report covers every encoder of the model, whatever view is showing, so the
window's menu calls :func:`export_report_dialog` directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QDialog, QFileDialog, QGridLayout, QProgressDialog, QWidget

from embedview.core.embeddings import EmbeddingSet
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.runtime.keys import JobKind

#: settings key remembering the "Leave out local paths" choice
NO_PATHS_KEY = "report/no_paths"
NO_PATHS_TEXT = "Leave out local paths (file names only)"
NO_PATHS_TIP = ("For a report to share: every folder is cut from the file paths in the page (image "
                "sources, problems, encoder folders), leaving file names only; the same as "
                "'embedview report --no-paths'.")


def report_job(sets: dict[str, EmbeddingSet], path: str, projection: str = "pca", include_paths: bool = True,
               progress: Any = None) -> str:
    """The job: write the report (through a temporary file) and return its path."""
    from embedview.core.report import write_report

    return str(write_report(sets, path, progress=progress, projection=projection, include_paths=include_paths))


class ReportFileDialog(QFileDialog):
    """The save dialog of the report: Qt's file dialog (not the platform's, which cannot hold an
    option) with the "Leave out local paths (file names only)" box under the file name."""

    def __init__(self, parent: QWidget | None, name: str, no_paths: bool = False) -> None:
        super().__init__(parent, "Export HTML report", name, "HTML (*.html)")
        self.setOption(QFileDialog.DontUseNativeDialog, True)
        self.setAcceptMode(QFileDialog.AcceptSave)
        self.setFileMode(QFileDialog.AnyFile)
        self.setDefaultSuffix("html")
        self.no_paths_box = QCheckBox(NO_PATHS_TEXT, self)
        self.no_paths_box.setObjectName("no_paths")
        self.no_paths_box.setToolTip(NO_PATHS_TIP)
        self.no_paths_box.setChecked(no_paths)
        grid = self.layout()
        if isinstance(grid, QGridLayout):  # Qt's dialog: a grid; the box spans it below the file type
            grid.addWidget(self.no_paths_box, grid.rowCount(), 0, 1, grid.columnCount())
        else:  # pragma: no cover - another style's layout: still shown, at its end
            grid.addWidget(self.no_paths_box)

    @property
    def include_paths(self) -> bool:
        return not self.no_paths_box.isChecked()


def ask_report_target(parent: QWidget | None, name: str, settings: Any = None) -> tuple[str, bool] | None:
    """Ask where to write the report and whether to leave out local paths: ``(path, include_paths)``,
    or None when cancelled.  ``settings`` (:class:`~embedview.gui.settings.Settings`) remembers
    the box's state between reports."""
    no_paths = bool(settings.value(NO_PATHS_KEY, False, type=bool)) if settings is not None else False
    dialog = ReportFileDialog(parent, name, no_paths)
    try:
        if dialog.exec() != QDialog.Accepted or not dialog.selectedFiles():
            return None
        if settings is not None:
            settings.set_value(NO_PATHS_KEY, dialog.no_paths_box.isChecked())
        return dialog.selectedFiles()[0], dialog.include_paths
    finally:
        dialog.deleteLater()


@dataclass
class ReportRun:
    """A report being written: its job, its progress dialog (None once closed) and the target."""

    job: Any
    path: str
    dialog: QProgressDialog | None = None


def export_report(parent: QWidget | None, model: AppModel, runner: JobRunner, path: str | os.PathLike,
                  on_done: Callable[[str], None] | None = None, include_paths: bool = True) -> ReportRun:
    """Write the HTML report of every encoded set to ``path`` in the runner, with a non-modal
    progress dialog whose Cancel stops it (the core writes through a temporary file, so nothing
    is left half-written); ``include_paths=False`` leaves out local paths (file names only).
    ``ValueError`` when there is nothing to report on yet."""
    if not model.sets:
        raise ValueError("there are no embeddings to report on yet")
    dialog = QProgressDialog("Writing the HTML report\u2026", "Cancel", 0, 1000, parent)
    dialog.setWindowTitle("HTML report")
    dialog.setWindowModality(Qt.NonModal)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.canceled.connect(lambda: runner.cancel(JobKind.REPORT))
    run = ReportRun(job=None, path=os.fspath(path), dialog=dialog)

    def close() -> None:
        if run.dialog is None:
            return
        run.dialog = None
        dialog.canceled.disconnect()
        dialog.close()
        dialog.deleteLater()

    def progressed(fraction: float, message: str) -> None:
        if run.dialog is not None:
            dialog.setValue(int(round(fraction * 1000)))
            if message:
                dialog.setLabelText(f"Writing the HTML report\u2026\n{message}")

    def done(result: str) -> None:
        close()
        if on_done is not None:
            on_done(result)

    run.job = runner.submit(JobKind.REPORT, report_job, dict(model.sets), run.path, include_paths=include_paths,
                            on_result=done, on_progress=progressed, on_finished=close)
    dialog.show()
    return run


def export_report_dialog(window: Any) -> None:
    """Ask for the ``.html`` path, then :func:`export_report`; messages go through ``model.message``."""
    model: AppModel = window.model
    if not model.sets:
        model.message.emit("Nothing to report yet: open data and let it encode first", 0)
        return
    name = (model.dataset.name if model.dataset is not None and model.dataset.name else "embedview") + "-report.html"
    target = ask_report_target(window, name, getattr(window, "settings", None))
    if target is None:
        return
    path, include_paths = target
    if not path.lower().endswith((".html", ".htm")):
        path += ".html"
    shared = "" if include_paths else " (file names only, no local paths)"
    try:
        export_report(window, model, window.runner, path, include_paths=include_paths,
                      on_done=lambda p: model.message.emit(f"Wrote the report to {p}{shared}", 0))
    except ValueError as exc:
        window.report_error(str(JobKind.REPORT), str(exc))
