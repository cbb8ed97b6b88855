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
import sys
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
#: how long a child may take to end (by itself, then after SIGTERM) before it is killed, in seconds
JOIN_S = 5.0


def run_isolated(fn: Callable, *args: Any, progress=None, **kwargs: Any) -> Any:
    """``fn(*args, progress=..., **kwargs)`` in a fresh child process; returns its result."""
    task = TaskState.coerce(progress)
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)  # a pipe, not a Queue: no semaphore to leak on kill
    proc = ctx.Process(target=_child, args=(sender, fn, args, kwargs), daemon=True,
                       name=f"embedview-{getattr(fn, '__name__', 'job')}")
    proc.start()
    sender.close()  # the child holds the writing end now
    answered = False  # the child sent its result or error and is ending by itself (``exit_child``)
    try:
        while True:
            if not receiver.poll(POLL_S):
                task.check()  # raises Cancelled; the child is stopped below
                if not proc.is_alive() and not receiver.poll(0):
                    raise RuntimeError(f"the worker process ended unexpectedly (exit code {proc.exitcode})")
                continue
            try:
                kind, *payload = receiver.recv()
            except EOFError:
                raise RuntimeError(f"the worker process ended unexpectedly (exit code {proc.exitcode})") from None
            if kind == "progress":
                task.set_fraction(*payload)
                continue
            answered = True
            if kind == "result":
                return payload[0]
            message, child_traceback = payload
            log.warning("job %s failed in its worker process:\n%s", getattr(fn, "__name__", fn), child_traceback)
            raise RuntimeError(message)
    finally:
        stop_child(proc, graceful=answered)
        receiver.close()


def stop_child(proc: Any, graceful: bool = False, timeout: float = JOIN_S) -> None:
    """Make sure ``proc`` has ended.  ``graceful``: it is ending by itself, wait for it first.

    Otherwise (a cancelled job, a lost child) SIGTERM, on which the child releases its semaphores
    between two Python steps before it ends (:func:`end_on_sigterm`); SIGKILL when it does not
    end within ``timeout`` (a long native call).  The old order, terminate at once even after a
    result, stopped the UMAP child before it had unlinked its semaphores (tqdm's lock, made by
    umap's epoch bar): a "leaked semaphore" warning at quit.
    """
    if graceful:
        proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join(timeout)


def _child(sender, fn: Callable, args: tuple, kwargs: dict) -> None:
    if hasattr(os, "nice"):  # background work: the window's process comes first for the CPU
        try:
            os.nice(CHILD_NICENESS)
        except OSError:
            pass
    end_on_sigterm()

    def send(message: tuple) -> None:
        try:
            sender.send(message)
        except (OSError, ValueError):  # the parent is gone (killed): nobody to report to
            exit_child(1)

    def relay(fraction: float, message: str) -> None:
        send(("progress", fraction, message))

    try:
        result = fn(*args, progress=TaskState(relay, min_interval=0.1), **kwargs)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        send(("error", str(exc) or type(exc).__name__, traceback.format_exc()))
    else:
        send(("result", result))
    sender.close()
    exit_child(0)


def end_on_sigterm() -> None:
    """In a child: SIGTERM (a cancelled job, a host that did not stop in time) first releases what
    multiprocessing tracks (see :func:`exit_child`), then ends the process by that same signal, so
    its exit code still reads ``-SIGTERM``."""
    import signal

    def on_sigterm(signum: int, _frame: Any) -> None:
        _release()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, on_sigterm)


def exit_child(code: int = 0) -> None:
    """End a spawned child at once, after releasing what multiprocessing tracks for it.

    A child that has imported umap / numba or torch / transformers spends seconds in the
    interpreter's own finalisation (a full garbage collection over those packages' module graphs:
    5 s to over 15 s measured here for the encoder process, niced, on a busy machine).  The parent
    waited for that, then terminated the child; the quit took ~8 s.  And a child terminated before
    its clean-up never unlinks the semaphores it created (tqdm's multiprocessing lock, made when
    umap or a model's code first draws a progress bar): the resource tracker then warned about a
    "leaked semaphore" at every quit.  Here multiprocessing's exit handler runs first (its
    finalisers unlink those semaphores and tell the tracker), the output is flushed, and the
    process ends without the slow finalisation: nothing it holds needs it (the embedding cache
    commits whole batches, numba writes its cache when it compiles).
    """
    _release()
    os._exit(code)


def _release() -> None:
    from multiprocessing import util

    try:
        # the finalisers of semaphores, queues, ...; daemonic children ended
        util._exit_function()  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - ending anyway
        log.warning("cleaning up the worker process: %s", exc)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream: nothing to flush
            pass


def save_array(array: np.ndarray, prefix: str = "embedview-") -> str:
    """Write ``array`` to a temporary ``.npy`` (for a child to memory-map); delete it when done."""
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=".npy")
    with os.fdopen(fd, "wb") as f:
        np.save(f, np.ascontiguousarray(array))
    return path
