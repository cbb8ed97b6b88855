"""One worker pattern for every background job: progress, result, error, cancel.

Usage (in a view)::

    self.runner.submit(
        "neighbors",                 # key: one live job per key
        compute_neighbors, emb, i,   # fn(*args, progress=TaskState, **kwargs)
        on_result=self._show,        # called on the GUI thread with fn's return value
        on_error=None,               # default: the runner's ``error`` signal (window shows it)
        on_progress=self._bar,       # (fraction, message) on the GUI thread
    )

Submitting again with the same key cancels the previous job (its TaskState raises
``Cancelled`` at the next chunk boundary) and whatever it still returns is dropped: callbacks
only ever see the result of the newest job of a key.  Jobs run on plain Python threads (the
heavy work is numpy / torch / PIL, which release the GIL); their signals cross to the GUI thread
through queued Qt connections, so callbacks run on the GUI thread and may touch widgets.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

from PySide6.QtCore import QObject, Signal

from embedview.core.progress import Cancelled, TaskState

log = logging.getLogger(__name__)


class Job(QObject):
    """A single background run.  Created and owned by :class:`JobRunner`."""

    progressed = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(str, str)  # message, traceback
    was_cancelled = Signal()
    finished = Signal()  # always last, whatever happened

    def __init__(self, key: str, fn: Callable, args: tuple, kwargs: dict, parent: QObject | None = None):
        super().__init__(parent)
        self.key = key
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.state = TaskState(self._emit_progress)
        self.thread: Optional[threading.Thread] = None

    def _emit_progress(self, fraction: float, message: str) -> None:
        self.progressed.emit(fraction, message)

    def cancel(self) -> None:
        self.state.cancel()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _run(self) -> None:
        try:
            result = self.fn(*self.args, progress=self.state, **self.kwargs)
        except Cancelled:
            self.was_cancelled.emit()
        except BaseException as exc:  # noqa: BLE001 - every error must reach the window, not kill it
            if self.state.cancelled:
                self.was_cancelled.emit()
            else:
                log.warning("job %r failed: %s", self.key, exc, exc_info=True)
                self.failed.emit(_message(exc), traceback.format_exc())
        else:
            if self.state.cancelled:
                self.was_cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            self.finished.emit()


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else type(exc).__name__


class JobRunner(QObject):
    """Starts jobs, keeps one live job per key, routes results to the GUI thread."""

    #: (key, message) for errors not handled by an ``on_error`` callback
    error = Signal(str, str)
    #: (key, fraction, message) of every job, for a status bar
    progress = Signal(str, float, str)
    #: emitted when the set of running keys changes
    busy_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: Dict[str, Job] = {}
        self._all: List[Job] = []  # every job whose thread may still be alive

    def submit(
        self,
        key: str,
        fn: Callable,
        *args: Any,
        on_result: Optional[Callable[[Any], None]] = None,
        on_error: Optional[Callable[[str], None]] = None,
        on_progress: Optional[Callable[[float, str], None]] = None,
        on_cancelled: Optional[Callable[[], None]] = None,
        on_finished: Optional[Callable[[], None]] = None,
        **kwargs: Any,
    ) -> Job:
        old = self._jobs.get(key)
        if old is not None:
            old.cancel()
        job = Job(key, fn, args, kwargs, parent=self)

        def is_current() -> bool:
            return self._jobs.get(key) is job and not job.state.cancelled

        def result(value: Any) -> None:
            if is_current() and on_result is not None:
                on_result(value)

        def failed(message: str, tb: str) -> None:
            if not is_current():
                return
            if on_error is not None:
                on_error(message)
            else:
                self.error.emit(key, message)

        def prog(fraction: float, message: str) -> None:
            if not is_current():
                return
            self.progress.emit(key, fraction, message)
            if on_progress is not None:
                on_progress(fraction, message)

        def cancelled() -> None:
            if on_cancelled is not None and self._jobs.get(key) is job:
                on_cancelled()

        def finished() -> None:
            # no join here: this runs on the UI thread, and the worker may still need the GIL
            # (held by another job) to unwind; a thread still ending stays in ``_all`` until
            # the next prune, so ``alive_threads`` / ``wait_all`` still see it
            self._prune()
            if self._jobs.get(key) is job:
                del self._jobs[key]
            if on_finished is not None:
                on_finished()
            self.busy_changed.emit()
            job.deleteLater()

        job.succeeded.connect(result)
        job.failed.connect(failed)
        job.progressed.connect(prog)
        job.was_cancelled.connect(cancelled)
        job.finished.connect(finished)
        self._jobs[key] = job
        self._prune()
        self._all.append(job)
        job.thread = threading.Thread(target=job._run, name=f"embedview-{key}", daemon=True)
        job.thread.start()
        self.busy_changed.emit()
        return job

    def _prune(self) -> None:
        """Forget jobs whose thread has ended (a finished job's thread may outlive its signal)."""
        self._all = [j for j in self._all if j.thread is None or j.thread.is_alive()]

    # -- control --------------------------------------------------------------------------
    def cancel(self, key: str) -> None:
        job = self._jobs.get(key)
        if job is not None:
            job.cancel()

    def cancel_all(self) -> None:
        for job in list(self._all):
            job.cancel()

    def is_running(self, key: str) -> bool:
        job = self._jobs.get(key)
        return job is not None and job.running

    def active_keys(self) -> List[str]:
        return [k for k, j in self._jobs.items() if j.running]

    def alive_threads(self) -> List[threading.Thread]:
        return [j.thread for j in self._all if j.thread is not None and j.thread.is_alive()]

    def wait_all(self, timeout: float = 30.0) -> bool:
        """Block until every job thread ended (tests, shutdown).  True if all ended."""
        deadline = time.monotonic() + timeout
        for thread in self.alive_threads():
            thread.join(max(0.0, deadline - time.monotonic()))
        return not self.alive_threads()

    def shutdown(self, timeout: float = 10.0) -> bool:
        self.cancel_all()
        return self.wait_all(timeout)
