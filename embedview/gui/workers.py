"""The Qt bridge of the job runtime: callbacks of background jobs run on the GUI thread.

Everything about jobs (one live job per key, cancel, progress, stale results dropped) is in
:mod:`embedview.runtime.jobs`, Qt-free.  This module adds only :class:`QtDispatcher`, which posts
a job's callbacks to the thread that owns it through a queued Qt signal, and :class:`JobRunner`,
the runtime's runner wired to one.  So a view's ``on_result`` may touch widgets.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from embedview.runtime.jobs import Job, error_message
from embedview.runtime.jobs import JobRunner as _RuntimeRunner

__all__ = ["Job", "JobRunner", "QtDispatcher", "error_message"]


class QtDispatcher(QObject):
    """``dispatcher(fn)`` from any thread runs ``fn()`` on this object's (the GUI) thread."""

    _post = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._post.connect(self._run, Qt.QueuedConnection)

    def __call__(self, fn: Callable[[], None]) -> None:
        self._post.emit(fn)

    @staticmethod
    def _run(fn: Callable[[], None]) -> None:
        fn()


class JobRunner(_RuntimeRunner):
    """The runtime's :class:`~embedview.runtime.jobs.JobRunner` delivering on the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        self.dispatcher = QtDispatcher(parent)
        super().__init__(self.dispatcher)
