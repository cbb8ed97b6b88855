"""Remote control of the window by :func:`embedview.show` (the Python API), from another process.

When the window's process starts with ``EMBEDVIEW_REMOTE`` naming a settings file (JSON, mode
0600, written by :class:`embedview.api.Window`: a random ``authkey``, where to write the
address), :func:`start_from_env` opens a :class:`multiprocessing.connection.Listener` on
127.0.0.1 (a random port; every connection must prove it knows the key), writes the address
beside the settings, and serves requests on a listener thread (one more thread per client).
These threads never touch Qt or the model: each request is handed to the GUI thread through a
queued signal, answered there from the model, and the answer goes back on the connection.

Requests (dicts with ``op``):

``load`` (``path``, ``modality``, ``token``, ``name``)
    read an ``.npz`` / ``.parquet`` written by :func:`embedview.core.export.save_parquet` in a
    job and show it (the selection is cleared); ``state`` says when it is shown.
``state``
    ``token`` of the last data shown, ``failed`` / ``error`` of the last that could not be,
    ``n_items``, ``modality``, ``name``.
``selection``
    the ids of ``model.selection.selected`` and of the current item.
``select`` (``ids``)
    select these items (unknown ids are returned).
``close``
    close the window (the answer goes out first).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
from dataclasses import replace
from multiprocessing.connection import Listener
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

log = logging.getLogger("embedview")

#: the environment variable naming the remote-control settings (as embedview.api.REMOTE_ENV)
REMOTE_ENV = "EMBEDVIEW_REMOTE"
#: the source name of selection changes made by the remote
SOURCE = "remote"
#: how long the listener thread waits for the GUI thread's answer
ANSWER_TIMEOUT_S = 60.0


def load_shown(path: str, modality: str, name: str, progress: Any = None):
    """The dataset of a file written by :class:`embedview.api.Window`: the loaders read it; its
    ``source`` column becomes the items' sources (image paths, shown as thumbnails)."""
    from embedview.core.loaders import load_paths

    ds = load_paths([path], progress=progress)
    if len(ds) == 0:
        raise ValueError(f"{path}: nothing to show ({'; '.join(str(p) for p in ds.problems[:3])})")
    metadata = dict(ds.metadata)
    sources = metadata.pop("source", None)
    if modality == "image" and sources is not None:
        return replace(ds, modality="image", sources=[str(s) for s in sources], metadata=metadata, name=name)
    return replace(ds, metadata=metadata, name=name)


class RemoteServer(QObject):
    """The listener (a thread) and the GUI-thread side that answers from the window's model."""

    requested = Signal(object)

    def __init__(self, window: Any, settings: dict[str, Any]) -> None:
        super().__init__(window)
        self.window = window
        self.token = 0
        self.failed = 0
        self.error = ""
        self._folder = settings.get("folder")
        self._stopped = False
        self.requested.connect(self._handle, Qt.QueuedConnection)
        self.listener = Listener(("127.0.0.1", 0), authkey=bytes.fromhex(settings["authkey"]))
        address_file = Path(settings["address_file"])
        tmp = address_file.with_name(address_file.name + ".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"address": list(self.listener.address), "pid": os.getpid()}, fh)
        os.replace(tmp, address_file)  # the API polls for this file: it appears whole
        self.thread = threading.Thread(target=self._serve, name="embedview-remote", daemon=True)
        self.thread.start()

    # -- the listener thread --------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stopped:
            try:
                conn = self.listener.accept()
            except Exception as exc:  # noqa: BLE001 - a wrong key, a closed listener: keep serving or stop
                if self._stopped:
                    return
                log.warning("remote control: refused a connection (%s: %s)", type(exc).__name__, exc)
                continue
            # each client on its own thread: a kept-open connection (the API's) never blocks another
            threading.Thread(target=self._talk, args=(conn,), name="embedview-remote-client", daemon=True).start()

    def _talk(self, conn: Any) -> None:
        with conn:
            while not self._stopped:
                try:
                    request = conn.recv()
                except (EOFError, OSError):
                    return
                box: dict[str, Any] = {"done": threading.Event()}
                self.requested.emit((request, box))
                if box["done"].wait(ANSWER_TIMEOUT_S):
                    reply = box.get("reply", {"error": "no answer"})
                else:
                    reply = {"error": f"the window did not answer within {ANSWER_TIMEOUT_S:.0f} s"}
                try:
                    conn.send(reply)
                except OSError:
                    return

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self.listener.close()
        if self._folder:  # the data files are in the window's memory; the API may be gone already
            shutil.rmtree(self._folder, ignore_errors=True)

    # -- the GUI thread ------------------------------------------------------------------------------
    def _handle(self, item: tuple[dict[str, Any], dict[str, Any]]) -> None:
        request, box = item
        try:
            box["reply"] = self.answer(request)
        except Exception as exc:  # noqa: BLE001 - the caller gets the message, the window stays up
            box["reply"] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            box["done"].set()

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """The answer to one request (on the GUI thread)."""
        op = request.get("op") if isinstance(request, dict) else None
        model = self.window.model
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "state":
            ds = model.dataset
            return {"token": self.token, "failed": self.failed, "error": self.error,
                    "n_items": 0 if ds is None else len(ds), "modality": None if ds is None else ds.modality,
                    "name": None if ds is None else ds.name, "docks_built": bool(self.window.docks_built)}
        if op == "selection":
            ds = model.dataset
            if ds is None:
                return {"ids": [], "current": None}
            cur = model.selection.current
            return {"ids": [ds.ids[int(i)] for i in model.selection.selected],
                    "current": ds.ids[cur] if 0 <= cur < len(ds) else None}
        if op == "select":
            ds = model.dataset
            if ds is None:
                return {"error": "no data is shown"}
            pos = {v: i for i, v in enumerate(ds.ids)}
            wanted = [str(v) for v in request.get("ids", [])]
            idx = sorted({pos[v] for v in wanted if v in pos})
            model.selection.set_selection(idx, SOURCE)
            return {"n_selected": len(idx), "unknown": [v for v in wanted if v not in pos]}
        if op == "load":
            self._load(str(request["path"]), str(request.get("modality", "embedding")), int(request["token"]),
                       str(request.get("name", "")))
            return {"ok": True}
        if op == "close":
            QTimer.singleShot(0, self.window.close)
            return {"ok": True}
        return {"error": f"unknown request {op!r}"}

    def _load(self, path: str, modality: str, token: int, name: str) -> None:
        from embedview.runtime.keys import JobKind

        def fail(message: str) -> None:
            self.failed, self.error = token, message
            self.window.report_error(JobKind.LOAD, message, path)

        def shown(ds: Any) -> None:
            self.window.data.show_dataset(ds, [path])
            self.token, self.error = token, ""

        def submit() -> None:
            self.window.runner.submit(JobKind.LOAD, load_shown, path, modality, name, on_result=shown, on_error=fail)

        self.window.when_ready(submit)


def start_from_env(window: Any) -> RemoteServer | None:
    """Serve remote control when the process was started by :func:`embedview.show` (the
    variable is removed, so the window's own child processes do not see it)."""
    path = os.environ.pop(REMOTE_ENV, None)
    if not path:
        return None
    try:
        settings = json.loads(Path(path).read_text(encoding="utf-8"))
        server = RemoteServer(window, settings)
    except (OSError, ValueError, KeyError) as exc:
        log.error("remote control not started: %s: %s", path, exc)
        return None
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(server.stop)
    return server
