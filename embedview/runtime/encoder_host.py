"""Encoders live in one long-lived child process, so the window's process never imports torch.

Importing torch, transformers and a model's code takes seconds, much of it inside C calls that
hold the GIL (``dlopen`` of libtorch, unmarshalling big modules); in a worker thread of the
window's process that froze the window for up to half a second on the first encode of every
session (``benchmarks/bench_ui_stall.py --cold``).  The host process pays those imports instead,
keeps the loaded encoders (``pipeline.get_encoder``) for the next job, and a crash inside a
model's native code ends the host, not the app: the next call starts a fresh one.

``encoder_host().call(fn, *args, progress=task)`` runs module-level ``fn(*args, progress=...)``
in the host and returns its result, like :func:`embedview.runtime.isolated.run_isolated`: it blocks
the calling (worker) thread, relays progress into ``task`` and, when ``task`` is cancelled, asks
the host to cancel the call (the host's job stops at its next chunk boundary, so the embedding
cache commits or rolls back whole batches) and raises ``Cancelled`` at once.  Calls from several
threads run concurrently in the host, each in its own thread there.  Each call carries the
caller's environment, so ``EMBEDVIEW_CACHE_DIR`` and friends are the window's.

Qt-free on purpose: the child imports this module and the job's module only.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import multiprocessing
import os
import queue
import threading
import traceback
from collections.abc import Callable
from typing import Any

from embedview.core.progress import Cancelled, TaskState
from embedview.runtime.isolated import end_on_sigterm, exit_child, stop_child

log = logging.getLogger(__name__)

#: how often a waiting caller looks for cancellation, in seconds
POLL_S = 0.1
#: the host runs at this lower CPU priority (POSIX ``nice``): the window comes first
HOST_NICENESS = 5


class EncoderHost:
    """The child process and the calls waiting on it (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # start / stop / send
        self._proc: Any | None = None  # multiprocessing Process of the spawn context
        self._conn: Any | None = None  # its end of the pipe
        self._reader: threading.Thread | None = None
        self._pending: dict[int, tuple[queue.Queue, Any]] = {}  # call id -> (its messages, its process)
        self._ids = itertools.count(1)

    # -- the process ------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.is_alive() else None

    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            return
        ctx = multiprocessing.get_context("spawn")
        parent_end, child_end = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_host_main, args=(child_end,), daemon=True, name="embedview-encoders")
        proc.start()
        child_end.close()
        self._proc, self._conn = proc, parent_end
        self._reader = threading.Thread(target=self._read, args=(proc, parent_end),
                                        name="embedview-encoder-host-reader", daemon=True)
        self._reader.start()

    def _read(self, proc, conn) -> None:
        """Route the host's messages to the waiting calls; on EOF every waiting call learns it died."""
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            entry = self._pending.get(message[1])
            if entry is not None:
                entry[0].put(message)
        proc.join(5)
        with self._lock:
            if self._proc is proc:
                self._proc = self._conn = None
            waiting = [box for box, owner in list(self._pending.values()) if owner is proc]
        for box in waiting:
            box.put(("died", 0, proc.exitcode))

    def _send(self, message) -> None:
        with self._lock:
            if self._conn is None:
                raise RuntimeError("the encoder process is not running")
            self._conn.send(message)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the host (it starts again on the next call)."""
        with self._lock:
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None
        if proc is None or conn is None:
            return
        try:
            conn.send(("exit", 0))
            graceful = True
        except (OSError, ValueError):
            graceful = False
        stop_child(proc, graceful=graceful, timeout=timeout)
        conn.close()

    # -- calls ------------------------------------------------------------------------------------
    def call(self, fn: Callable, *args: Any, progress=None, **kwargs: Any) -> Any:
        """``fn(*args, progress=..., **kwargs)`` in the host; returns its result (see the module docstring)."""
        task = TaskState.coerce(progress)
        task.check()
        call_id = next(self._ids)
        box: queue.Queue = queue.Queue()
        try:
            with self._lock:
                self._ensure_started()
                self._pending[call_id] = (box, self._proc)
                assert self._conn is not None  # _ensure_started made one
                self._conn.send(("call", call_id, fn, args, kwargs, dict(os.environ)))
            while True:
                try:
                    kind, _, *payload = box.get(timeout=POLL_S)
                except queue.Empty:
                    self._check(task, call_id)
                    continue
                if kind == "progress":
                    try:
                        task.set_fraction(*payload)
                    except Cancelled:
                        self._cancel(call_id)
                        raise
                elif kind == "result":
                    return payload[0]
                elif kind == "cancelled":
                    raise Cancelled()
                elif kind == "error":
                    message, host_traceback = payload
                    log.warning("%s failed in the encoder process:\n%s", getattr(fn, "__name__", fn), host_traceback)
                    raise RuntimeError(message)
                else:  # died
                    raise RuntimeError(f"the encoder process ended unexpectedly (exit code {payload[0]}); "
                                       "the next run starts a new one")
        finally:
            self._pending.pop(call_id, None)

    def _check(self, task: TaskState, call_id: int) -> None:
        try:
            task.check()
        except Cancelled:
            self._cancel(call_id)
            raise

    def _cancel(self, call_id: int) -> None:
        try:
            self._send(("cancel", call_id))
        except (RuntimeError, OSError, ValueError):
            pass  # the host is gone: nothing left to cancel


_HOST: EncoderHost | None = None
_HOST_LOCK = threading.Lock()


def encoder_host() -> EncoderHost:
    """The process-wide encoder host (started on its first call)."""
    global _HOST
    with _HOST_LOCK:
        if _HOST is None:
            _HOST = EncoderHost()
            # a clean exit lets the host release what it holds (tqdm's semaphore, CUDA); this
            # runs before multiprocessing's own exit handler, which would just terminate it
            atexit.register(_HOST.shutdown)
        return _HOST


# -- jobs the window runs in the host (module-level, Qt-free: the host imports this module) --------
def embed_query(encoder_name: str, query: str, progress=None):
    """``query`` through the text tower of ``encoder_name``: a 1 x D array."""
    from embedview.encoders.pipeline import encode_queries, get_encoder

    progress.report(0, 2, f"loading {encoder_name}")
    encoder = get_encoder(encoder_name)
    progress.report(1, 2, "embedding the query")
    return encode_queries(encoder, [query])


def probe_encoder(probe, encoder_name: str, items, modality: str, progress=None):
    """``probe.run`` (an unfitted :class:`~embedview.core.invariance.InvarianceProbe`) with the
    encoder ``encoder_name``, loaded once and kept for the next call."""
    from embedview.encoders.pipeline import get_encoder

    progress.set_fraction(0.0, f"loading {encoder_name}")
    encoder = get_encoder(encoder_name)
    return probe.run(items, encoder.encode, modality, progress=progress)


# -- the child ------------------------------------------------------------------------------------
def _host_main(conn) -> None:
    if hasattr(os, "nice"):
        try:
            os.nice(HOST_NICENESS)
        except OSError:
            pass
    end_on_sigterm()
    send_lock = threading.Lock()
    tasks: dict[int, TaskState] = {}
    env_lock = threading.Lock()

    def send(message) -> None:
        with send_lock:
            try:
                conn.send(message)
            except (OSError, ValueError):
                pass  # the window went away

    def run(call_id: int, fn: Callable, args: tuple, kwargs: dict) -> None:
        task = tasks[call_id]
        try:
            result = fn(*args, progress=task, **kwargs)
        except Cancelled:
            send(("cancelled", call_id))
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the caller
            send(("error", call_id, str(exc).strip() or type(exc).__name__, traceback.format_exc()))
        else:
            send(("result", call_id, result))
        finally:
            tasks.pop(call_id, None)

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        kind, call_id, *payload = message
        if kind == "exit":
            break
        if kind == "cancel":
            task = tasks.get(call_id)
            if task is not None:
                task.cancel()
            continue
        fn, args, kwargs, env = payload
        with env_lock:
            _mirror_environment(env)

        def relay(fraction: float, text: str, call_id=call_id) -> None:
            send(("progress", call_id, fraction, text))

        tasks[call_id] = TaskState(relay, min_interval=0.1)
        threading.Thread(target=run, args=(call_id, fn, args, kwargs), name=f"embedview-host-{call_id}",
                         daemon=True).start()
    conn.close()
    # not a plain return: the interpreter's finalisation after torch & co. takes seconds, the window
    # waited for it, then terminated the host, leaking its semaphores (see ``isolated.exit_child``)
    exit_child(0)


def _mirror_environment(env: dict[str, str]) -> None:
    """Make this process's environment the caller's (cache folders, offline switches, ...)."""
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
