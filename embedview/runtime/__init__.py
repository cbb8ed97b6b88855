"""The job runtime: background jobs with progress, cancel and stale-result dropping, Qt-free.

``jobs.JobRunner`` runs every background job; ``keys`` types their keys; ``encoder_host`` keeps
encoders in one long-lived child process; ``isolated`` runs a job in a spawned child process.
The GUI adds only a dispatcher that posts callbacks to its thread (``gui/workers.py``).
"""

from embedview.runtime.jobs import Job, JobRunner, QueueDispatcher, call_now
from embedview.runtime.keys import JobKey, JobKind

__all__ = ["Job", "JobKey", "JobKind", "JobRunner", "QueueDispatcher", "call_now"]
