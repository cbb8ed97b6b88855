"""The job runtime without Qt: one live job per key, cancel, stale results, errors, progress."""

from __future__ import annotations

import threading

import pytest

from embedview.core.progress import Cancelled
from embedview.runtime import JobKey, JobKind, JobRunner, QueueDispatcher


def drain_until(dispatcher: QueueDispatcher, runner: JobRunner, timeout: float = 10.0) -> None:
    """Deliver callbacks on this thread until every job thread ended and nothing is queued."""
    assert runner.wait_all(timeout)
    while dispatcher.drain(timeout=0.05):
        pass


def gated(gate: threading.Event, value, progress=None):
    for i in range(100):
        progress.report(i, 100, "working")
        if gate.wait(0.01):
            break
    progress.check()
    return value


def test_callbacks_run_on_the_dispatching_thread_not_the_worker():
    dispatcher = QueueDispatcher()
    runner = JobRunner(dispatcher)
    threads = []
    runner.submit(JobKind.NEIGHBORS, lambda progress=None: 42,
                  on_result=lambda v: threads.append((v, threading.current_thread())))
    drain_until(dispatcher, runner)
    assert threads == [(42, threading.current_thread())]


def test_a_new_job_of_the_same_key_cancels_the_old_and_only_the_newest_result_arrives():
    dispatcher = QueueDispatcher()
    runner = JobRunner(dispatcher)
    gate = threading.Event()
    results, cancelled = [], []
    first = runner.submit(JobKind.SEARCH, gated, gate, "old", on_result=results.append,
                          on_cancelled=lambda: cancelled.append("old"))
    runner.submit(JobKind.SEARCH, gated, gate, "new", on_result=results.append)
    assert first.cancelled
    gate.set()
    drain_until(dispatcher, runner)
    assert results == ["new"]
    # the old job's cancel callback is for whoever still waits on *that* job: it is not current
    assert cancelled == []


def test_jobs_of_different_keys_run_side_by_side():
    dispatcher = QueueDispatcher()
    runner = JobRunner(dispatcher)
    results = []
    for name in ("knn", "linear_probe"):
        runner.submit(JobKind.CHECK.key(name), lambda n=name, progress=None: n, on_result=results.append)
    drain_until(dispatcher, runner)
    assert sorted(results) == ["knn", "linear_probe"]
    assert JobKind.CHECK.key("knn") == JobKey(JobKind.CHECK, "knn") and str(JobKind.CHECK.key("knn")) == "checks:knn"


def test_a_stale_result_is_dropped_in_one_place():
    dispatcher = QueueDispatcher()
    runner = JobRunner(dispatcher)
    current = {"set": "A"}
    results = []
    runner.submit(JobKind.PCA, lambda progress=None: "map of A", on_result=results.append,
                  is_stale=lambda: current["set"] != "A")
    assert runner.wait_all(10)
    current["set"] = "B"  # the data moved on before the result was delivered
    drain_until(dispatcher, runner)
    assert results == []


def test_errors_reach_on_error_or_the_error_event_with_the_key():
    dispatcher = QueueDispatcher()
    runner = JobRunner(dispatcher)
    events, handled = [], []
    runner.error.connect(lambda key, msg: events.append((key, msg)))

    def boom(progress=None):
        raise ValueError("bad vectors in x.npy")

    runner.submit(JobKind.HEATMAP, boom)
    runner.submit(JobKind.TABLE, boom, on_error=handled.append)
    drain_until(dispatcher, runner)
    assert events == [(JobKey(JobKind.HEATMAP), "bad vectors in x.npy")]
    assert handled == ["bad vectors in x.npy"]


def test_cancel_stops_a_job_at_a_chunk_boundary_and_calls_on_cancelled():
    dispatcher = QueueDispatcher()
    runner = JobRunner(dispatcher)
    gate = threading.Event()
    outcome = []
    job = runner.submit(JobKind.ENCODE, gated, gate, "done", on_result=outcome.append,
                        on_cancelled=lambda: outcome.append("cancelled"),
                        on_finished=lambda: outcome.append("finished"))
    runner.cancel(JobKind.ENCODE)
    gate.set()
    drain_until(dispatcher, runner)
    assert job.cancelled and outcome == ["cancelled", "finished"]
    assert not runner.is_running(JobKind.ENCODE) and runner.active_keys() == []


def test_progress_is_delivered_for_the_current_job_only():
    dispatcher = QueueDispatcher()
    runner = JobRunner(dispatcher)
    seen = []
    runner.progress.connect(lambda key, fraction, message: seen.append((key.kind, message)))

    def steps(progress=None):
        for i in range(3):
            progress.report(i, 3, f"step {i}")
        return "ok"

    runner.submit(JobKind.UMAP, steps)
    drain_until(dispatcher, runner)
    assert seen and all(kind is JobKind.UMAP for kind, _ in seen)


def test_job_functions_see_cancelled_as_an_exception():
    dispatcher = QueueDispatcher()
    runner = JobRunner(dispatcher)
    raised = []

    def waits(progress=None):
        try:
            while True:
                progress.check()
                threading.Event().wait(0.005)
        except Cancelled:
            raised.append(True)
            raise

    runner.submit(JobKind.OUTLIERS, waits)
    runner.shutdown(timeout=10)
    assert raised == [True]


def test_free_string_keys_are_refused():
    runner = JobRunner()
    with pytest.raises(TypeError):
        runner.submit(12, lambda progress=None: None)  # type: ignore[arg-type]
