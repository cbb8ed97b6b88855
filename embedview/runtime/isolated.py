"""Run a job in a separate process, for work that would hold the GIL and freeze the window.

Threads are enough for numpy / torch work (they release the GIL), but some steps are long
stretches of pure Python holding it: numba compiling UMAP on first use (tens of seconds),
importing big packages.  On a busy machine those stall the UI thread for seconds.  Running them
in a spawned child process keeps the window responsive; ``run_isolated`` makes that look like
an ordinary runner job: it blocks the calling (worker) thread, relays the child's progress to
the caller's ``TaskState``, kills the child when the job is cancelled, and re-raises the
child's error as a ``RuntimeError`` with the same message (its traceback goes to the log).

Qt-free on purpose: the child imports this module and the job's module only.

``fn`` must be a module-level function (it is pickled by reference) taking ``progress=``.
Large arrays are best handed over as a file (see ``save_array``), not as arguments.
Frozen (PyInstaller) builds must call ``multiprocessing.freeze_support()`` first thing in
their entry script, as for any use of ``multiprocessing``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from embedview.core.progress import TaskState

log = logging.getLogger(__name__)

#: how often the waiting thread looks for cancellation, in seconds
POLL_S = 0.1
#: the child runs at this lower CPU priority (POSIX ``nice``), so it never slows the window down
CHILD_NICENESS = 10


def run_isolated(fn: Callable, *args: Any, progress=None, **kwargs: Any) -> Any:
    """``fn(*args, progress=..., **kwargs)`` in a fresh child process; returns its result."""
    task = TaskState.coerce(progress)
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)  # a pipe, not a Queue: no semaphore to leak on kill
    proc = ctx.Process(target=_child, args=(sender, fn, args, kwargs), daemon=True,
                       name=f"embedview-{getattr(fn, '__name__', 'job')}")
    proc.start()
    sender.close()  # the child holds the writing end now
    try:
        while True:
            if not receiver.poll(POLL_S):
                task.check()  # raises Cancelled; the child is killed below
                if not proc.is_alive() and not receiver.poll(0):
                    raise RuntimeError(f"the worker process ended unexpectedly (exit code {proc.exitcode})")
                continue
            try:
                kind, *payload = receiver.recv()
            except EOFError:
                raise RuntimeError(f"the worker process ended unexpectedly (exit code {proc.exitcode})") from None
            if kind == "progress":
                task.set_fraction(*payload)
            elif kind == "result":
                return payload[0]
            else:
                message, child_traceback = payload
                log.warning("job %s failed in its worker process:\n%s", getattr(fn, "__name__", fn), child_traceback)
                raise RuntimeError(message)
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        receiver.close()


def _child(sender, fn: Callable, args: tuple, kwargs: dict) -> None:
    if hasattr(os, "nice"):  # background work: the window's process comes first for the CPU
        try:
            os.nice(CHILD_NICENESS)
        except OSError:
            pass

    def relay(fraction: float, message: str) -> None:
        sender.send(("progress", fraction, message))

    try:
        result = fn(*args, progress=TaskState(relay, min_interval=0.1), **kwargs)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        sender.send(("error", str(exc) or type(exc).__name__, traceback.format_exc()))
    else:
        sender.send(("result", result))
    sender.close()


def save_array(array: np.ndarray, prefix: str = "embedview-") -> str:
    """Write ``array`` to a temporary ``.npy`` (for a child to memory-map); delete it when done."""
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=".npy")
    with os.fdopen(fd, "wb") as f:
        np.save(f, np.ascontiguousarray(array))
    return path
