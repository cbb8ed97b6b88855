"""A headless driver for the actions: the model, a job runner whose callbacks run on the test's
thread (``QueueDispatcher``), and ``wait_until`` that delivers them while waiting."""

from __future__ import annotations

import time
from collections.abc import Callable

from embedview.actions.data import DataActions
from embedview.actions.exports import ExportActions
from embedview.model import AppModel
from embedview.runtime.jobs import JobRunner, QueueDispatcher


class Driver:
    """One headless app: ``model``, ``runner``, ``data`` and ``exports`` actions, the messages said."""

    def __init__(self, choose_columns=None) -> None:
        self.dispatcher = QueueDispatcher()
        self.runner = JobRunner(self.dispatcher)
        self.model = AppModel()
        self.data = DataActions(self.model, self.runner, choose_columns=choose_columns)
        self.exports = ExportActions(self.model, self.runner)
        self.messages: list[str] = []
        self.model.message.connect(lambda text, _ms: self.messages.append(text))

    def wait_until(self, condition: Callable[[], bool], timeout: float = 240.0) -> None:
        """Deliver job callbacks until ``condition()`` holds; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached in {timeout} s; messages: {self.messages[-5:]}")
            self.dispatcher.drain(timeout=0.05)

    def settle(self, timeout: float = 120.0) -> None:
        """Deliver callbacks until no job runs and none is queued."""
        self.wait_until(lambda: not self.runner.alive_threads(), timeout)
        while self.dispatcher.drain():
            pass

    def close(self) -> None:
        assert self.runner.shutdown(60), "background jobs did not stop"
        while self.dispatcher.drain():
            pass
        assert self.runner.alive_threads() == []
