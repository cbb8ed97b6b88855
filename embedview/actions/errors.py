"""Where an action's error goes: the model's Problems list and a status line, without Qt.

An error of a job or an action must never vanish nor take the app down: it becomes a
``LoadProblem`` of severity ``"error"`` in :attr:`AppModel.problems` (the Problems view lists it)
and a ``model.message`` (the status bar shows it).  The window adds a non-modal box on top.
"""

from __future__ import annotations

import logging

from embedview.core.dataset import LoadProblem
from embedview.model import AppModel
from embedview.runtime.keys import JobKey, JobKind

log = logging.getLogger(__name__)

#: what an error is about: the job that failed, or a short topic ("views", "internal")
Topic = JobKind | JobKey | str


def record_error(model: AppModel, topic: Topic, message: str, path: str = "") -> str:
    """File ``message`` as an error problem (under ``path``, else ``[topic]``) and say its first
    line in the status bar; returns that line."""
    first = message.splitlines()[0] if message else "error"
    log.error("[%s] %s", topic, message)
    model.add_problems([LoadProblem(path or f"[{topic}]", message or "error", "error")])
    model.message.emit(first, 0)
    return first
