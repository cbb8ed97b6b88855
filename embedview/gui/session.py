"""Sessions in the window: the File menu's dialogs and the dock layout, the only Qt part.

Everything else of a session (what is saved, the file format, reading old files, bringing the
model back step by step as the data loads) is :mod:`embedview.actions.session`, Qt-free.  This
module adds the window's layout (dock state and geometry, base64 of Qt's own bytes) to what is
saved, puts it back first when a session opens, and runs the reading and writing in the runner.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QByteArray

from embedview.actions import session as sessions
from embedview.runtime.jobs import Job
from embedview.runtime.keys import JobKind

FILE_FILTER = "embedview session (*.embedview.json *.json);;All files (*)"


def _b64(data: QByteArray) -> str:
    return bytes(data.toBase64().data()).decode("ascii")


def layout_of(window: Any) -> dict[str, str]:
    """The window's dock layout and geometry, once its docks exist (else nothing: a layout
    without the docks would hide them when restored)."""
    if not getattr(window, "docks_built", False):
        return {}
    return {"state": _b64(window.saveState()), "geometry": _b64(window.saveGeometry())}


def restore_layout(window: Any, layout: Any) -> None:
    """Put back a saved :func:`layout_of` (ignored before the docks exist)."""
    if not isinstance(layout, dict) or not layout or not getattr(window, "docks_built", False):
        return
    if layout.get("geometry"):
        window.restoreGeometry(QByteArray.fromBase64(str(layout["geometry"]).encode("ascii")))
    if layout.get("state"):
        window.restoreState(QByteArray.fromBase64(str(layout["state"]).encode("ascii")))


def save_session(window: Any, path: Any) -> str:
    """Save the session of ``window`` (its model and layout) to ``path`` now; returns the path."""
    return sessions.save_session(window.model, path, layout_of(window))


def restore(window: Any, doc: dict[str, Any]) -> sessions.SessionRestorer:
    """The layout at once, then the model through :func:`actions.session.from_dict`."""
    restore_layout(window, doc.get("layout"))
    window.session_restorer = sessions.from_dict(doc, window.model, window.runner, window.data,
                                                 previous=window.session_restorer)
    return window.session_restorer


# -- window actions --------------------------------------------------------------------------------------------
def _start_dir(window: Any) -> str:
    paths = window.model.paths
    if paths:
        return os.path.dirname(os.path.abspath(paths[0]))
    return os.path.expanduser("~")


def save_dialog(window: Any) -> None:
    """File -> Save session: ask where, then write it in the runner."""
    from PySide6.QtWidgets import QFileDialog

    if window.model.dataset is None:
        window.show_message("Open data first: a session records the data sources and what was done with them")
        return
    name = (window.model.dataset.name or "session").replace(os.sep, "_")
    path, _ = QFileDialog.getSaveFileName(window, "Save session",
                                          os.path.join(_start_dir(window), name + sessions.SUFFIX), FILE_FILTER)
    if path:
        if not path.lower().endswith(".json"):
            path += sessions.SUFFIX
        save_in_background(window, path)


def save_in_background(window: Any, path: str) -> Job | None:
    """Take the session now (cheap, by reference) and write it in the runner; returns the Job."""
    try:
        snap = sessions.snapshot(window.model, layout_of(window))
    except ValueError as exc:
        window.report_error(JobKind.SESSION_SAVE, str(exc))
        return None
    return window.runner.submit(
        JobKind.SESSION_SAVE, sessions.write_session, snap, path,
        on_result=lambda p: window.show_message(f"Session saved to {p}"),
        on_error=lambda msg: window.report_error(JobKind.SESSION_SAVE, f"saving the session failed: {msg}", path))


def open_dialog(window: Any) -> None:
    """File -> Open session: ask for a session file and restore it."""
    from PySide6.QtWidgets import QFileDialog

    path, _ = QFileDialog.getOpenFileName(window, "Open session", _start_dir(window), FILE_FILTER)
    if path:
        open_in_background(window, path)


def open_in_background(window: Any, path: str) -> Job:
    """Read ``path`` in the runner, then restore it; returns the Job."""
    return window.runner.submit(JobKind.SESSION_LOAD, sessions.load_session, str(path),
                                on_result=lambda doc: restore(window, doc),
                                on_error=lambda msg: window.report_error(JobKind.SESSION_LOAD, msg, str(path)))
