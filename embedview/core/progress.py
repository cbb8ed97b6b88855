"""Progress reporting and cooperative cancellation for long jobs.

Every long computation in embedview takes ``progress=`` which may be ``None``, a callable
``progress(fraction: float, message: str)`` or a :class:`TaskState`.  Inside, call
``task = TaskState.coerce(progress)`` and then ``task.report(done, total, msg)`` between chunks;
``report`` (and ``check``) raise :class:`Cancelled` once the task was cancelled, so the work
stops at a chunk boundary and never leaves half-written state behind.

This mirrors Orange's ``TaskState`` and superqt's ``thread_worker``: the GUI owns one
``TaskState`` per background job, wires ``callback`` to a Qt signal and calls ``cancel()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

ProgressCallback = Callable[[float, str], None]


class Cancelled(Exception):
    """Raised inside a job when its TaskState was cancelled."""


class TaskState:
    """Progress sink plus cancel flag shared between a job and whoever started it.

    Parameters
    ----------
    callback : callable(fraction, message), optional
        Called with a fraction in [0, 1] and a short message.  Calls are throttled to at
        most one every ``min_interval`` seconds except for the final 1.0.
    min_interval : float
        Throttle for the callback, in seconds.
    """

    def __init__(self, callback: ProgressCallback | None = None, min_interval: float = 0.05):
        self.callback = callback
        self.min_interval = min_interval
        self._cancel = threading.Event()
        self._last = 0.0
        self.fraction = 0.0
        self.message = ""

    # -- construction -------------------------------------------------------------------
    @classmethod
    def coerce(cls, progress: ProgressArg) -> TaskState:
        if isinstance(progress, TaskState):
            return progress
        if progress is None or callable(progress):
            return cls(progress)
        raise TypeError(f"progress must be None, a callable or a TaskState, not {type(progress)!r}")

    # -- cancellation -------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job was cancelled."""
        if self._cancel.is_set():
            raise Cancelled()

    # -- progress -----------------------------------------------------------------------
    def set_fraction(self, fraction: float, message: str = "") -> None:
        """Report progress as a fraction; raises Cancelled if cancelled."""
        self.check()
        fraction = 0.0 if fraction != fraction else min(max(float(fraction), 0.0), 1.0)
        self.fraction = fraction
        if message:
            self.message = message
        if self.callback is None:
            return
        now = time.monotonic()
        if fraction >= 1.0 or now - self._last >= self.min_interval:
            self._last = now
            self.callback(fraction, self.message)

    def report(self, done: float, total: float, message: str = "") -> None:
        """Report ``done`` out of ``total`` units of work; raises Cancelled if cancelled."""
        self.set_fraction(done / total if total else 1.0, message)

    def sub(self, start: float, stop: float) -> TaskState:
        """A child TaskState mapping its [0, 1] onto [start, stop] of this one, same cancel flag."""
        parent = self

        def cb(fraction: float, message: str) -> None:
            parent.set_fraction(start + (stop - start) * fraction, message)

        child = TaskState(cb, min_interval=0.0)
        child._cancel = self._cancel
        return child


#: what every ``progress=`` parameter accepts
ProgressArg = TaskState | ProgressCallback | None
