"""The encoder process (gui.encoder_host): results, errors, progress, cancel, a crash, the
caller's environment; with small module-level jobs (the host imports this module to run them)."""

import os
import threading
import time

import numpy as np
import pytest

from embedview.core.progress import Cancelled, TaskState
from embedview.runtime.encoder_host import EncoderHost


def job_sum(values, progress=None):
    for i in range(3):
        progress.report(i, 3, f"step {i}")
    return np.asarray(values, dtype=np.float32).sum(), os.getpid()


def job_env(name, progress=None):
    return os.environ.get(name)


def job_fail(progress=None):
    raise ValueError("the checkpoint file is truncated")


def job_until_cancelled(marker, progress=None):
    open(marker, "w").close()
    while True:  # a long job: stops only at a chunk boundary once cancelled
        progress.check()
        time.sleep(0.01)


def job_crash(progress=None):
    os._exit(3)  # what a segfault in a model's native code looks like from outside


@pytest.fixture
def host():
    h = EncoderHost()
    yield h
    h.shutdown()


def test_results_progress_errors_and_environment(host, monkeypatch):
    seen = []
    total, pid = host.call(job_sum, [1, 2, 3.5], progress=TaskState(lambda f, m: seen.append(m), min_interval=0))
    assert total == pytest.approx(6.5) and pid != os.getpid() and pid == host.pid
    assert seen[:1] == ["step 0"]  # relayed (the host throttles progress to 10 a second)

    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", "/somewhere/else")
    assert host.call(job_env, "EMBEDVIEW_CACHE_DIR") == "/somewhere/else"  # the caller's, at each call
    monkeypatch.delenv("EMBEDVIEW_CACHE_DIR")
    assert host.call(job_env, "EMBEDVIEW_CACHE_DIR") is None

    with pytest.raises(RuntimeError, match="the checkpoint file is truncated"):
        host.call(job_fail)
    assert host.call(job_sum, [1])[1] == pid  # an error leaves the same process serving


def test_cancel_stops_the_job_and_the_host_serves_the_next_call(host, tmp_path):
    marker = tmp_path / "started"
    task = TaskState()
    result = {}

    def run():
        try:
            host.call(job_until_cancelled, str(marker), progress=task)
        except Cancelled:
            result["cancelled"] = True

    caller = threading.Thread(target=run)
    caller.start()
    for _ in range(600):
        if marker.exists():
            break
        time.sleep(0.05)
    assert marker.exists(), "the job never started in the host"
    pid = host.pid
    task.cancel()
    caller.join(30)
    assert not caller.is_alive() and result == {"cancelled": True}
    assert host.call(job_sum, [2, 2])[0] == 4 and host.pid == pid  # cancelled in place, not killed


def test_a_crash_is_reported_and_the_next_call_starts_a_new_process(host):
    first = host.call(job_sum, [1])[1]
    with pytest.raises(RuntimeError, match="ended unexpectedly"):
        host.call(job_crash)
    total, second = host.call(job_sum, [5])
    assert total == 5 and second != first


def test_shutdown_and_sigterm_end_the_host_through_its_clean_exit(host):
    """``exit`` ends the host at once with code 0 (multiprocessing's clean-up, then ``os._exit``:
    no seconds of finalising torch & co., which the window used to wait for and then cut short);
    SIGTERM (a host that did not answer in time) releases the same way, then ends by that signal."""
    import signal

    host.call(job_sum, [1])
    proc, reader = host._proc, host._reader
    host.shutdown()
    reader.join(30)  # its own join of the process races ours: wait until both saw the exit
    assert proc.exitcode == 0
    host.call(job_sum, [1])  # started again on the next call
    proc, reader = host._proc, host._reader
    os.kill(proc.pid, signal.SIGTERM)
    reader.join(30)
    proc.join(30)
    assert proc.exitcode == -signal.SIGTERM
    total, pid = host.call(job_sum, [2])
    assert total == 2 and pid != proc.pid  # a new host serves the next call
