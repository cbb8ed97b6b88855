"""File → Export: the selection as CSV, the active embeddings, the duplicate decisions, without Qt.

Each export is a plain function writing one file through :func:`core.export.atomic_path` (a
cancelled or failed write leaves the target as it was; the duplicate decisions are written by
:func:`core.duplicates.export_decisions`) and an :class:`ExportActions` method that
runs it in the runner from what the model holds, saying in ``model.message`` when it is written.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from embedview.actions.errors import Topic, record_error
from embedview.core.audit import write_findings
from embedview.core.csvsafe import safe_row
from embedview.core.dataset import Dataset
from embedview.core.duplicates import export_decisions
from embedview.core.embeddings import EmbeddingSet
from embedview.core.export import atomic_path
from embedview.core.progress import TaskState
from embedview.model import AnalysisKind, AppModel
from embedview.runtime.jobs import Job, JobRunner
from embedview.runtime.keys import JobKind

SELECTION_FIELDS = ("index", "id", "source", "label")


# -- the writers (worker jobs) -------------------------------------------------------------------------------
def write_selection_csv(dataset: Dataset, indices: Sequence[int], path: Any,
                        progress: TaskState | None = None) -> int:
    """Items ``indices`` of ``dataset`` as CSV (index, id, source, label); returns the row count.
    Text cells a spreadsheet would run as a formula are neutralised (:func:`core.csvsafe.safe_cell`)."""
    task = TaskState.coerce(progress)
    rows = [int(i) for i in indices]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(SELECTION_FIELDS)
        for n, i in enumerate(rows):
            if n % 10_000 == 0:
                task.report(n, len(rows), "writing the selection")
            label = dataset.labels[i] if dataset.labels is not None else None
            w.writerow(safe_row([i, dataset.ids[i], dataset.sources[i], "" if label is None else label]))
    return len(rows)


def write_embeddings(emb: EmbeddingSet, path: Any, progress: TaskState | None = None) -> int:
    """``emb`` to ``path`` (``.parquet`` with ids and labels, else ``.npy``), written atomically;
    returns the number of vectors."""
    from embedview.core.export import save_parquet

    TaskState.coerce(progress).report(0, 1, "writing the embeddings")
    with atomic_path(path) as tmp:
        if str(path).lower().endswith(".parquet"):
            save_parquet(emb, tmp)
        else:
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(emb.vectors, dtype=np.float32))
    return len(emb)


# -- the actions -----------------------------------------------------------------------------------------------
class ExportActions:
    """Exports of what ``model`` holds, written in ``runner``'s threads."""

    #: an export failed (already recorded in the model): (topic, message, path)
    failed = Signal(object, str, str)
    #: an export was written: (kind, path, count)
    written = Signal(object, str, int)

    def __init__(self, model: AppModel, runner: JobRunner) -> None:
        self.model = model
        self.runner = runner

    def _fail(self, topic: Topic, message: str, path: str = "") -> None:
        record_error(self.model, topic, message, path)
        self.failed.emit(topic, message, path)

    def _submit(self, kind: JobKind, fn: Any, *args: Any, path: str, done: str) -> Job:
        target = Path(path).resolve()
        for given in self.model.paths:  # a save dialog makes it easy to pick the file the data came from
            if target == Path(given).resolve():
                raise ValueError(f"{path} is a file the open data was loaded from; choose another name")

        def finished(result: Any) -> None:
            count = int(result[1] if isinstance(result, tuple) else result)
            self.model.message.emit(done.format(n=count, path=path), 0)
            self.written.emit(kind, path, count)

        return self.runner.submit(kind, fn, *args, on_result=finished,
                                  on_error=lambda msg: self._fail(kind, f"could not write {path}: {msg}"))

    def export_selection(self, path: str) -> Job:
        """The selected items as CSV (index, id, source, label)."""
        ds = self.model.dataset
        if ds is None:
            raise ValueError("no data is open")
        selected = self.model.selection.selected.copy()
        if not len(selected):
            raise ValueError("nothing is selected")
        return self._submit(JobKind.EXPORT_SELECTION, write_selection_csv, ds, selected, str(path), path=str(path),
                            done="Wrote {n:,} rows to {path}")

    def export_embeddings(self, path: str) -> Job:
        """The active embeddings (hundreds of MB at 100k x 768): ``.npy`` (the matrix) or
        ``.parquet`` (id, source, label, …, ``embedding`` as a fixed-size list)."""
        emb = self.model.emb
        if emb is None:
            raise ValueError("there are no embeddings yet (encoding still running or cancelled)")
        return self._submit(JobKind.EXPORT_EMBEDDINGS, write_embeddings, emb, str(path), path=str(path),
                            done="Wrote {n:,} vectors to {path}")

    def export_duplicates(self, path: str) -> Job:
        """The near-duplicate groups of the active set at the chosen threshold, with the keep /
        drop decisions (a list only: no file of the data is changed)."""
        finder = self.model.get_analysis(AnalysisKind.DUPLICATES)
        if finder is None or self.model.dataset is None:
            raise ValueError("no duplicates to export yet")
        decisions = dict(self.model.get_analysis(AnalysisKind.DUPLICATE_DECISIONS) or {})
        chosen = self.model.views.duplicates.threshold
        threshold = float(finder.threshold_ if chosen is None else chosen)
        return self._submit(JobKind.DUPLICATES_EXPORT, export_decisions, finder, threshold, str(path),
                            self.model.dataset, decisions, path=str(path), done="Wrote {n:,} rows to {path}")

    def export_findings(self, path: str) -> Job:
        """Every item the active set's audit flagged (Issues view), with the user's decisions
        (``model.views.issues.decisions``), as CSV or ``.json`` (a list only: no file of the data is changed)."""
        audit = self.model.get_analysis(AnalysisKind.FINDINGS)
        if audit is None or self.model.dataset is None:
            raise ValueError("no findings to export yet (run the audit in the Issues view)")
        decisions = {k: dict(v) for k, v in self.model.views.issues.decisions.items()}
        return self._submit(JobKind.ISSUES_EXPORT, write_findings, audit, str(path), decisions, path=str(path),
                            done="Wrote {n:,} flagged items to {path}")
