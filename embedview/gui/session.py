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


def _remember_encoders(window: Any) -> None:
    """The encoders of the window's sets were loaded by this user here: a session naming them loads them
    without asking (``Settings.used_encoders``)."""
    settings = getattr(window, "settings", None)
    if settings is not None and hasattr(settings, "add_used_encoders"):
        settings.add_used_encoders([n for n in window.model.sets if n != "precomputed"])


def save_session(window: Any, path: Any) -> str:
    """Save the session of ``window`` (its model and layout) to ``path`` now; returns the path."""
    _remember_encoders(window)
    return sessions.save_session(window.model, path, layout_of(window))


def ask_encoders(window: Any, names: list[str]) -> list[str]:
    """A dialog: the session names encoders not used here before; load them?  Returns the allowed
    names (all or none; Cancel / Escape refuses)."""
    from PySide6.QtWidgets import QMessageBox

    from embedview.encoders.registry import display_name

    listing = "\n".join(f"\u2022 {display_name(n)}   ({n})" for n in names)
    box = QMessageBox(QMessageBox.Warning, "Load the session's encoders?",
                      f"This session names {len(names)} encoder(s) you have not used here before:\n\n{listing}\n\n"
                      "Loading a model reads the files it names (a folder, a checkpoint, a download). "
                      "Load them only if you trust where this session file comes from. "
                      "Refused encoders are listed in Problems; the rest of the session is restored.",
                      QMessageBox.NoButton, window)
    load = box.addButton("Load them", QMessageBox.AcceptRole)
    box.addButton("Don't load", QMessageBox.RejectRole)
    box.setDefaultButton(box.buttons()[-1])
    box.exec()
    if box.clickedButton() is not load:
        return []
    settings = getattr(window, "settings", None)
    if settings is not None and hasattr(settings, "add_used_encoders"):
        settings.add_used_encoders(names)  # chosen by the user: not asked about again
    return list(names)


def restore(window: Any, doc: dict[str, Any]) -> sessions.SessionRestorer:
    """The layout at once, then the model through :func:`actions.session.from_dict`; encoders the
    user has not used are loaded only after :func:`ask_encoders` (``window.confirm_encoders``, when
    set, replaces the dialog: tests, scripts)."""
    restore_layout(window, doc.get("layout"))
    confirm = getattr(window, "confirm_encoders", None) or (lambda names: ask_encoders(window, names))
    settings = getattr(window, "settings", None)
    known = sessions.known_encoders(settings) if settings is not None else None
    if known is not None:
        known |= set(window.model.sets)
    window.session_restorer = sessions.from_dict(doc, window.model, window.runner, window.data,
                                                 previous=window.session_restorer, confirm_encoders=confirm,
                                                 known=known)
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
    _remember_encoders(window)
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
