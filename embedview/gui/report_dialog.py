"""File -> Export HTML report...: :func:`embedview.core.report.write_report` of every encoded set,
written in the job runner (key ``JobKind.REPORT``) with a non-modal progress dialog and Cancel.

Not a view: the report covers every encoder of the model, whatever view is showing, so the
window's menu calls :func:`export_report_dialog` directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QWidget

from embedview.core.embeddings import EmbeddingSet
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.runtime.keys import JobKind


def report_job(sets: dict[str, EmbeddingSet], path: str, projection: str = "pca", progress: Any = None) -> str:
    """The job: write the report (through a temporary file) and return its path."""
    from embedview.core.report import write_report

    return str(write_report(sets, path, progress=progress, projection=projection))


@dataclass
class ReportRun:
    """A report being written: its job, its progress dialog (None once closed) and the target."""

    job: Any
    path: str
    dialog: QProgressDialog | None = None


def export_report(parent: QWidget | None, model: AppModel, runner: JobRunner, path: str | os.PathLike,
                  on_done: Callable[[str], None] | None = None) -> ReportRun:
    """Write the HTML report of every encoded set to ``path`` in the runner, with a non-modal
    progress dialog whose Cancel stops it (the core writes through a temporary file, so nothing
    is left half-written).  ``ValueError`` when there is nothing to report on yet."""
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

    run.job = runner.submit(JobKind.REPORT, report_job, dict(model.sets), run.path, on_result=done,
                            on_progress=progressed, on_finished=close)
    dialog.show()
    return run


def export_report_dialog(window: Any) -> None:
    """Ask for the ``.html`` path, then :func:`export_report`; messages go through ``model.message``."""
    model: AppModel = window.model
    if not model.sets:
        model.message.emit("Nothing to report yet: open data and let it encode first", 0)
        return
    name = (model.dataset.name if model.dataset is not None and model.dataset.name else "embedview") + "-report.html"
    path, _ = QFileDialog.getSaveFileName(window, "Export HTML report", name, "HTML (*.html)")
    if not path:
        return
    if not path.lower().endswith((".html", ".htm")):
        path += ".html"
    try:
        export_report(window, model, window.runner, path,
                      on_done=lambda p: model.message.emit(f"Wrote the report to {p}", 0))
    except ValueError as exc:
        window.report_error(str(JobKind.REPORT), str(exc))
