"""One worker pattern for every background job: progress, result, error, cancel — without Qt.

Usage::

    runner.submit(
        JobKind.NEIGHBORS,           # key: one live job per key (JobKind or JobKey)
        compute_neighbors, emb, i,   # fn(*args, progress=TaskState, **kwargs)
        on_result=show,              # called through the dispatcher with fn's return value
        on_error=None,               # default: the runner's ``error`` event
        on_progress=bar,             # (fraction, message), through the dispatcher
        is_stale=lambda: ...,        # optional: True drops the result (the data moved on)
    )

Submitting again with the same key cancels the previous job (its ``TaskState`` raises
``Cancelled`` at the next chunk boundary) and whatever it still returns is dropped: callbacks
only ever see the result of the newest job of a key, and never a result that ``is_stale`` says
the model has moved past.  That is the one place stale results are dropped.

Jobs run on plain Python threads (the heavy work is numpy / torch / PIL, which release the GIL).
Every callback goes through ``dispatch(fn)``: the Qt bridge (``gui/workers.py``) posts it to the
GUI thread; the default, :func:`call_now`, calls it on the worker thread (scripts, tests).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from psygnal import Signal

from embedview.core.progress import Cancelled, TaskState
from embedview.runtime.keys import JobKey, KeyLike, as_key

log = logging.getLogger(__name__)

Dispatcher = Callable[[Callable[[], None]], None]


def call_now(fn: Callable[[], None]) -> None:
    fn()


class QueueDispatcher:
    """Collects callbacks from worker threads; ``drain()`` runs them on the caller's thread.

    For a thread that owns the model without an event loop (headless drivers, tests)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Callable[[], None]] = queue.Queue()

    def __call__(self, fn: Callable[[], None]) -> None:
        self._queue.put(fn)

    def drain(self, timeout: float = 0.0) -> int:
        """Run every queued callback (waiting up to ``timeout`` for the first); returns how many."""
        n = 0
        try:
            fn = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return 0
        while True:
            fn()
            n += 1
            try:
                fn = self._queue.get_nowait()
            except queue.Empty:
                return n


class Job:
    """A single background run.  Created and owned by :class:`JobRunner`."""

    def __init__(self, key: JobKey, fn: Callable, args: tuple, kwargs: dict, on_progress: Callable[[float, str], None]):
        self.key = key
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.state = TaskState(on_progress)
        self.thread: threading.Thread | None = None

    def cancel(self) -> None:
        self.state.cancel()

    @property
    def cancelled(self) -> bool:
        return self.state.cancelled

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


def error_message(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else type(exc).__name__


class JobRunner:
    """Starts jobs, keeps one live job per key, routes results through ``dispatch``."""

    #: (key, message) for errors not handled by an ``on_error`` callback
    error = Signal(object, str)
    #: (key, fraction, message) of every current job, for a status bar
    progress = Signal(object, float, str)
    #: the set of running keys changed
    busy_changed = Signal()

    def __init__(self, dispatch: Dispatcher = call_now) -> None:
        self.dispatch = dispatch
        self._jobs: dict[JobKey, Job] = {}
        self._all: list[Job] = []  # every job whose thread may still be alive
        self._lock = threading.Lock()

    def submit(
        self,
        key: KeyLike,
        fn: Callable,
        *args: Any,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        is_stale: Callable[[], bool] | None = None,
        **kwargs: Any,
    ) -> Job:
        key = as_key(key)
        with self._lock:
            old = self._jobs.get(key)
        if old is not None:
            old.cancel()

        def is_current() -> bool:
            return self._jobs.get(key) is job and not job.cancelled

        def progressed(fraction: float, message: str) -> None:  # worker thread
            def deliver() -> None:
                if not is_current():
                    return
                self.progress.emit(key, fraction, message)
                if on_progress is not None:
                    on_progress(fraction, message)

            self.dispatch(deliver)

        job = Job(key, fn, args, kwargs, progressed)

        def result(value: Any) -> None:
            if not is_current() or on_result is None:
                return
            if is_stale is not None and is_stale():
                log.debug("job %s: stale result dropped", key)
                return
            on_result(value)

        def failed(message: str) -> None:
            if not is_current():
                return
            if on_error is not None:
                on_error(message)
            else:
                self.error.emit(key, message)

        def cancelled() -> None:
            if on_cancelled is not None and self._jobs.get(key) is job:
                on_cancelled()

        def finished() -> None:
            self._prune()
            with self._lock:
                if self._jobs.get(key) is job:
                    del self._jobs[key]
            if on_finished is not None:
                on_finished()
            self.busy_changed.emit()

        def run() -> None:  # worker thread
            outcome: Callable[[], None]
            try:
                value = fn(*args, progress=job.state, **kwargs)
            except Cancelled:
                outcome = cancelled
            except BaseException as exc:  # noqa: BLE001 - every error must reach the user, not kill the app
                if job.cancelled:
                    outcome = cancelled
                else:
                    log.warning("job %s failed: %s", key, exc, exc_info=True)
                    message, tb = error_message(exc), traceback.format_exc()
                    log.debug("%s", tb)

                    def outcome() -> None:
                        failed(message)
            else:
                if job.cancelled:
                    outcome = cancelled
                else:

                    def outcome() -> None:
                        result(value)

            def deliver() -> None:
                try:
                    outcome()
                finally:
                    finished()

            self.dispatch(deliver)

        with self._lock:
            self._jobs[key] = job
        self._prune()
        self._all.append(job)
        job.thread = threading.Thread(target=run, name=f"embedview-{key}", daemon=True)
        job.thread.start()
        self.busy_changed.emit()
        return job

    def _prune(self) -> None:
        """Forget jobs whose thread has ended (a finished job's thread may outlive its callbacks)."""
        self._all = [j for j in self._all if j.thread is None or j.thread.is_alive()]

    # -- control --------------------------------------------------------------------------
    def cancel(self, key: KeyLike) -> None:
        job = self._jobs.get(as_key(key))
        if job is not None:
            job.cancel()

    def cancel_all(self) -> None:
        for job in list(self._all):
            job.cancel()

    def job(self, key: KeyLike) -> Job | None:
        return self._jobs.get(as_key(key))

    def is_running(self, key: KeyLike) -> bool:
        job = self._jobs.get(as_key(key))
        return job is not None and job.running

    def active_keys(self) -> list[JobKey]:
        return [k for k, j in list(self._jobs.items()) if j.running]

    def alive_threads(self) -> list[threading.Thread]:
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
