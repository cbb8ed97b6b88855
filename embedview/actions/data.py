"""Open → load → show → encode, on the model and a job runner, without Qt.

:class:`DataActions` is what File → Open, a drop, the encoder box and Encoder → Add call:

* ``open_paths`` loads in the runner (``JobKind.LOAD``); when a table's text column cannot be
  guessed it asks ``choose_columns(path, info)`` (the window shows a dialog; a script passes a
  function or nothing, and opening stops);
* the dataset goes into the model, then is embedded: precomputed vectors directly, else
  ``encode`` in the runner (``JobKind.ENCODE``) with the encoder chosen for the next encode;
* ``add_encoder`` encodes the same data with another encoder (``JobKind.ENCODE_EXTRA.key(name)``)
  without making it active, for Compare and Collapse; ``cancel_extra`` stops it;
* progress, speed and time left are plain numbers (:class:`EncodeProgress`), through events, for
  the main encode (``encode_started`` / ``encode_progress`` / ``encode_ended``) and for each
  comparison encode (``extra_started`` / ``extra_status`` / ``extra_ended``);
* an encoder whose weights are not here while the model hub cannot be reached fails at once with
  a message naming it and why (``registry.ensure_available`` in the job, before the encoder
  process starts), not after the download libraries' retries.

The encoder for the next encode is state of these actions (``encoder_for(modality)``): an
explicit choice (``choose_encoder``), else the one remembered for the modality (``memory``: the
window's settings), else the offline default.  Nothing reads it from a widget.

Every result that may arrive after the data moved on is dropped by the runner (``is_stale``).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from psygnal import Signal

from embedview.actions.errors import Topic, record_error
from embedview.core.dataset import Dataset, count_skipped
from embedview.core.embeddings import EmbeddingSet
from embedview.core.progress import TaskState
from embedview.model import AppModel
from embedview.runtime.jobs import Job, JobRunner
from embedview.runtime.keys import JobKind

log = logging.getLogger(__name__)

TABLE_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")
#: what the encoder of precomputed vectors is called
PRECOMPUTED = "precomputed"

#: ``(table path, table_columns info) -> (text column, label column)``, or None to stop opening
ColumnChooser = Callable[[str, dict[str, Any]], tuple[str | None, str | None] | None]


# -- background jobs (plain functions; run in the runner's threads) ---------------------------------------
def load_job(paths: Sequence[str], text_column: str | None = None, label_column: str | None = None,
             progress: TaskState | None = None) -> dict[str, Any]:
    """Load ``paths``; ``{"ask": (path, columns_info)}`` when a table's text column can't be guessed."""
    from embedview.core.loaders import load_paths, table_columns

    if text_column is None:
        for p in paths:
            if os.path.isfile(p) and p.lower().endswith(TABLE_EXTENSIONS):
                info = table_columns(p)
                is_embedding = info.get("kind") == "parquet" and info.get("vector_guess")
                if info.get("kind") == "table" and not info.get("text_guess") and not is_embedding:
                    return {"ask": (p, info)}
    dataset = load_paths(list(paths), text_column=text_column, label_column=label_column, progress=progress)
    return {"dataset": dataset}


def encode_job(dataset: Dataset, model: str, progress: TaskState | None = None) -> EmbeddingSet:
    """``pipeline.embed`` in the encoder process (``runtime.encoder_host``: this process never
    imports torch).  Precomputed vectors need no model and are taken here."""
    if dataset.embeddings is not None:
        return EmbeddingSet.from_dataset(dataset)
    from embedview.encoders.registry import ensure_available

    TaskState.coerce(progress).report(0, 1, f"checking {model}")
    ensure_available(model)  # not here and offline: say so now (a file-system look, one connect)
    from embedview.encoders.pipeline import embed
    from embedview.runtime.encoder_host import encoder_host

    emb = encoder_host().call(embed, dataset, model, progress=progress)
    # the set comes back with an unpickled copy of the dataset; when every item was encoded,
    # point it at the app's own (same items): thumbnails and the table follow the object
    if len(emb.dataset) == len(dataset) and emb.dataset.ids == dataset.ids:
        emb.dataset = dataset
    return emb


def availability_job(specs: Sequence[Any], progress: TaskState | None = None) -> dict[str, tuple[bool, str]]:
    """Whether each encoder's weights are here (a file-system look per encoder: a worker job)."""
    task = TaskState.coerce(progress)
    out = {}
    for i, spec in enumerate(specs):
        task.report(i, len(specs), "checking encoders")
        out[spec.name] = spec.availability()
    return out


def demo_job(progress: TaskState | None = None) -> dict[str, str]:
    """Build the demo data once (it is kept in the cache folder); ``{"images": path, "texts": path}``."""
    from embedview.core.demo import build_demo, demo_dir

    TaskState.coerce(progress).report(0, 1, "building the demo data")
    return {k: str(v) for k, v in build_demo(demo_dir()).items()}


# -- progress as plain data ------------------------------------------------------------------------------------
class Eta:
    """Speed and time left from ``(time, fraction)`` samples over a sliding window.

    Timing starts at the first *increase* of the fraction: before it the model loads (no
    progress), and the first increase may be the items served from the cache at once, which
    would inflate the speed.  So the speed shows from the second step on.
    """

    def __init__(self, total: int, window_s: float = 20.0) -> None:
        self.total = total
        self.window_s = window_s
        self.samples: deque[tuple[float, float]] = deque()
        self._started = False

    def update(self, fraction: float, now: float | None = None) -> tuple[float | None, float | None]:
        """Add a sample; returns (items per second, seconds left), None while unknown."""
        now = time.monotonic() if now is None else now
        if not self._started:
            if self.samples and fraction > self.samples[-1][1]:
                self._started = True
            self.samples.clear()
            self.samples.append((now, fraction))
            return None, None
        self.samples.append((now, fraction))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window_s:
            self.samples.popleft()
        t0, f0 = self.samples[0]
        dt, df = now - t0, fraction - f0
        if dt < 0.5 or df <= 0:
            return None, None
        rate = df / dt
        return rate * self.total, (1.0 - fraction) / rate


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass(frozen=True)
class EncodeProgress:
    """Where an encode stands: what the status bar shows, as numbers."""

    encoder: str
    total: int  #: items to encode
    fraction: float  #: 0..1 done
    rate: float | None = None  #: items per second, None while unknown
    seconds_left: float | None = None
    message: str = ""  #: the encoder's own last word ("loading the model", ...)

    @property
    def done(self) -> int:
        return int(round(self.fraction * self.total))

    def text(self) -> str:
        """``"default-text: 120/640 · 10.1 items/s · 0:52 left"``."""
        parts = [f"{self.encoder}: {self.done:,}/{self.total:,}"]
        if self.rate is not None and self.seconds_left is not None:
            parts.append(f"{self.rate:.1f} items/s")
            parts.append(f"{format_duration(self.seconds_left)} left")
        elif self.message:
            parts.append(self.message)
        return "  \u00b7  ".join(parts)


def noun(ds: Dataset) -> str:
    """What the items of ``ds`` are, for messages."""
    return {"image": "images", "text": "texts", "embedding": "vectors"}.get(ds.modality, "items")


def n_skipped(model: AppModel) -> int:
    """Items not loaded (a problem may stand for many rows; warnings are not skips)."""
    return count_skipped(model.problems)


def _skipped_note(n: int) -> str:
    return f"; {n:,} item{'s' if n != 1 else ''} skipped \u2014 see Problems" if n else ""


def _failure_text(name: str, message: str) -> str:
    """``encoding with NAME failed: ...``, unless the message already names the encoder and
    says what is wrong (``registry.unavailable_reason``)."""
    from embedview.encoders.registry import display_name

    if message.startswith((name, display_name(name))):
        return message
    return f"encoding with {name} failed: {message}"


# -- the actions -------------------------------------------------------------------------------------------------
class EncoderMemory(Protocol):
    """Where the last encoder per modality is remembered (the window's ``Settings``)."""

    def last_encoder(self, modality: str) -> str: ...

    def set_last_encoder(self, modality: str, name: str) -> None: ...


class InMemoryEncoders:
    """An :class:`EncoderMemory` that forgets on exit (scripts, tests)."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def last_encoder(self, modality: str) -> str:
        return self._last.get(modality, "")

    def set_last_encoder(self, modality: str, name: str) -> None:
        self._last[modality] = name


class DataActions:
    """Open, load, show and encode data into ``model`` with jobs on ``runner`` (see the module)."""

    #: the encoder for the next encode changed (explicit choice)
    encoder_changed = Signal(str)
    #: the list of encoders or their availability is known / changed
    encoders_listed = Signal()
    #: paths were loaded into the model (for a recent-files list)
    opened = Signal(list)
    #: an encode of the active data began: (encoder, items)
    encode_started = Signal(str, int)
    #: :class:`EncodeProgress` of the running encode
    encode_progress = Signal(object)
    #: the encode ended: "done", "cancelled" or "failed"
    encode_ended = Signal(str)
    #: a comparison encode began: (encoder, items)
    extra_started = Signal(str, int)
    #: a comparison encode progressed: (encoder, fraction)
    extra_progress = Signal(str, float)
    #: :class:`EncodeProgress` of a comparison encode (its ``encoder`` names which)
    extra_status = Signal(object)
    #: a comparison encode ended: (encoder, "done" / "cancelled" / "failed")
    extra_ended = Signal(str, str)
    #: an error was recorded in the model: (topic, message, path); the window shows a box
    failed = Signal(object, str, str)

    def __init__(self, model: AppModel, runner: JobRunner, memory: EncoderMemory | None = None,
                 choose_columns: ColumnChooser | None = None) -> None:
        self.model = model
        self.runner = runner
        self.memory: EncoderMemory = memory if memory is not None else InMemoryEncoders()
        self.choose_columns = choose_columns
        self.specs: list[Any] = []
        self.availability: dict[str, tuple[bool, str]] = {}
        self.chosen = ""  # the explicit choice for the next encode ("" : remembered / default)
        self.encode_job: Job | None = None  # the running or last encode (its state holds the fraction)
        self.encode_target: tuple[str, int] = ("", 0)  # encoder, items
        self._eta: Eta | None = None
        self.extra_jobs: dict[str, Job] = {}  # running comparison encodes by encoder
        self._extra_eta: dict[str, Eta] = {}

    # -- errors ---------------------------------------------------------------------------------------
    def fail(self, topic: Topic, message: str, path: str = "") -> None:
        record_error(self.model, topic, message, path)
        self.failed.emit(topic, message, path)

    def say(self, text: str, timeout_ms: int = 0) -> None:
        self.model.message.emit(text, timeout_ms)

    # -- encoders -------------------------------------------------------------------------------------
    def list_encoders(self, check_availability: bool = True) -> None:
        """The registry's encoders now; whether their weights are here in the runner."""
        from embedview.encoders.registry import list_encoders

        try:
            self.specs = list_encoders()
        except Exception as exc:  # noqa: BLE001 - a broken plugin listing must not stop the app
            self.specs = list_encoders(include_plugins=False)
            self.fail(JobKind.ENCODER_AVAILABILITY, f"encoder plugins could not be listed: {exc}")
        self.encoders_listed.emit()
        if check_availability:
            self.runner.submit(JobKind.ENCODER_AVAILABILITY, availability_job, list(self.specs),
                               on_result=self._on_availability)

    def _on_availability(self, result: dict[str, tuple[bool, str]]) -> None:
        self.availability = dict(result)
        self.encoders_listed.emit()

    def _modality_of(self, name: str) -> str | None:
        for spec in self.specs:
            if spec.name == name:
                return str(spec.modality)
        return None

    def preferred_encoder(self, modality: str) -> str:
        """The remembered encoder for ``modality``, else the offline default, else the first offline one."""
        from embedview.encoders.registry import default_encoder_for

        if not modality or modality == "embedding":
            return ""
        names = [s.name for s in self.specs if s.modality == modality]
        last = self.memory.last_encoder(modality)
        if last and (last in names or ":" in last):
            return last
        default = default_encoder_for(modality)
        if self.availability.get(default, (True, ""))[0]:
            return default
        for name in names:
            if self.availability.get(name, (False, ""))[0]:
                return name
        return default

    def encoder_for(self, modality: str) -> str:
        """The encoder the next encode of ``modality`` data uses: the explicit choice when it fits
        that modality (or its modality is unknown: a plugin, ``sbert:<folder>``), else
        :meth:`preferred_encoder`."""
        if modality == "embedding":
            return PRECOMPUTED
        chosen = self.chosen
        if chosen and (not modality or self._modality_of(chosen) in (None, modality)):
            return chosen
        return self.preferred_encoder(modality)

    @property
    def encoder(self) -> str:
        """The encoder for the next encode of the open data (or of the next data opened)."""
        ds = self.model.dataset
        return self.encoder_for(ds.modality if ds is not None else "")

    def choose_encoder(self, name: str, encode: bool = True) -> None:
        """Make ``name`` the encoder of the next encode; with ``encode``, re-encode the open data
        with it now (when it is not already the active set)."""
        if not name or name == PRECOMPUTED:
            return
        if name != self.chosen:
            self.chosen = name
            self.encoder_changed.emit(name)
        ds = self.model.dataset
        if not encode:
            return
        if ds is None:
            self.say(f"{name} will embed the next data you open")
        elif ds.modality != "embedding" and name != self.model.active:
            self.encode(name)

    # -- opening --------------------------------------------------------------------------------------
    def open_demo(self, which: str = "images") -> Job:
        """Build the demo data (once; it is kept in the cache folder) and open ``which``."""
        self.say("Preparing the demo data\u2026")
        return self.runner.submit(
            JobKind.LOAD, demo_job, on_result=lambda parts: self._open_demo_part(parts, which),
            on_error=lambda msg: self.fail(JobKind.LOAD, f"the demo data could not be built: {msg}"))

    def _open_demo_part(self, parts: dict[str, str], which: str) -> None:
        self.open_paths([parts[which]])

    def open_paths(self, paths: Sequence[Any], text_column: str | None = None,
                   label_column: str | None = None) -> Job | None:
        """Load ``paths`` in the background, then show and encode them."""
        paths = [os.fspath(p) for p in paths]
        if not paths:
            return None
        from embedview.core.timeline import is_run_folder

        if len(paths) == 1 and is_run_folder(paths[0]):  # a run over training: the Timeline shows it
            self.model.views.timeline.run_path = paths[0]
            self.model.show_view_requested.emit("timeline")
            self.say(f"Opening the run {os.path.basename(paths[0].rstrip('/'))} in the Timeline\u2026", 5000)
            return None
        self.runner.cancel(JobKind.ENCODE)
        short = os.path.basename(paths[0].rstrip("/\\")) + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")
        self.say(f"Loading {short}\u2026")
        options = {"text_column": text_column, "label_column": label_column}
        return self.runner.submit(
            JobKind.LOAD, load_job, paths, text_column, label_column,
            on_result=lambda res: self._on_loaded(paths, options, res),
            on_error=lambda msg: self.fail(JobKind.LOAD, msg, paths[0]),
        )

    def _on_loaded(self, paths: list[str], options: dict[str, str | None], result: dict[str, Any]) -> None:
        if "ask" in result:
            path, info = result["ask"]
            chosen = self.choose_columns(path, info) if self.choose_columns is not None else None
            if chosen is None:
                if self.choose_columns is None:
                    self.fail(JobKind.LOAD, f"{path}: which column holds the text? Open it again naming the "
                                            f"column (columns: {', '.join(map(str, info.get('columns', [])))})", path)
                else:
                    self.say("Opening cancelled")
                return
            self.open_paths(paths, *chosen)
            return
        self.opened.emit(list(paths))
        self.show_dataset(result["dataset"], paths, options)

    def show_dataset(self, dataset: Dataset, paths: Sequence[str] = (),
                     load_options: dict[str, str | None] | None = None) -> None:
        """Put ``dataset`` in the model (selection reset), then embed it: precomputed vectors
        directly, else an encode with :attr:`encoder`."""
        self.runner.cancel(JobKind.ENCODE)
        self.model.set_dataset(dataset, list(paths), load_options)
        self.say(f"Loaded {len(dataset):,} {noun(dataset)}" + _skipped_note(n_skipped(self.model)))
        if dataset.embeddings is not None:
            self.model.add_embeddings(EmbeddingSet.from_dataset(dataset))
        elif dataset.modality in ("image", "text"):
            self.encode(self.encoder_for(dataset.modality))

    # -- encoding -------------------------------------------------------------------------------------
    def encode(self, name: str | None = None) -> Job | None:
        """Embed the open dataset with ``name`` (default :attr:`encoder`) in the background; the
        set becomes the active one.  Cancels a running encode."""
        ds = self.model.dataset
        name = name or self.encoder
        if ds is None or not name:
            return None
        previous = self.memory.last_encoder(ds.modality)
        self.memory.set_last_encoder(ds.modality, name)
        self.encode_target = (name, len(ds))
        self._eta = Eta(len(ds))
        self.encode_started.emit(name, len(ds))
        self.encode_job = self.runner.submit(
            JobKind.ENCODE, encode_job, ds, name,
            on_result=self._on_encoded,
            on_progress=self._on_encode_progress,
            on_cancelled=self._on_encode_cancelled,
            on_error=lambda msg: self._on_encode_error(name, msg, ds.modality, previous),
            is_stale=lambda: self.model.dataset is not ds,
        )
        return self.encode_job

    def cancel(self) -> None:
        """Stop encoding; every finished batch stays in the cache."""
        self.runner.cancel(JobKind.ENCODE)

    @property
    def encoding(self) -> bool:
        return self.runner.is_running(JobKind.ENCODE)

    def progress_now(self, fraction: float, message: str = "", now: float | None = None) -> EncodeProgress:
        """The :class:`EncodeProgress` of the running encode at ``fraction``."""
        name, total = self.encode_target
        rate, left = self._eta.update(fraction, now) if self._eta is not None else (None, None)
        return EncodeProgress(name, total, fraction, rate, left, message)

    def _on_encode_progress(self, fraction: float, message: str) -> None:
        self.encode_progress.emit(self.progress_now(fraction, message))

    def _on_encoded(self, emb: EmbeddingSet) -> None:
        self.model.add_embeddings(emb)
        self.encode_ended.emit("done")
        stats = getattr(emb, "stats", {}) or {}
        text = f"Encoded {len(emb):,} {noun(emb.dataset)} with {emb.encoder}"
        if stats:
            text += (f" ({stats.get('n_cached', 0):,} cached, {stats.get('n_encoded', 0):,} new, "
                     f"{stats.get('seconds', 0):.1f} s)")
        self.say(text + _skipped_note(n_skipped(self.model)))

    def _on_encode_cancelled(self) -> None:
        self.encode_ended.emit("cancelled")
        name, total = self.encode_target
        # every batch reported before the cancel is in the cache (one more may have landed since)
        fraction = self.encode_job.state.fraction if self.encode_job is not None else 0.0
        self.say(f"Encoding cancelled \u2014 {int(round(fraction * total)):,} of {total:,} cached")

    def _on_encode_error(self, name: str, message: str, modality: str = "", previous: str = "") -> None:
        # the failed choice is not kept: the next data opened (or the next start) uses the encoder
        # remembered before it, not one that cannot load here
        if modality and self.memory.last_encoder(modality) == name and previous != name:
            self.memory.set_last_encoder(modality, previous)
        if self.chosen == name:
            self.chosen = ""
            self.encoder_changed.emit(self.encoder)
        self.encode_ended.emit("failed")
        self.fail(JobKind.ENCODE, _failure_text(name, message))

    # -- comparison -----------------------------------------------------------------------------------
    def add_encoder(self, name: str, show: bool = True) -> Job | None:
        """Encode the open data with ``name`` as well (``JobKind.ENCODE_EXTRA.key(name)``); the set
        joins the model without becoming active, for Compare and Collapse (``show``: ask for the
        Compare view when it is ready)."""
        ds = self.model.dataset
        if ds is None or not name:
            return None
        if ds.modality == "embedding":
            self.say("Precomputed embeddings cannot be encoded again; open the images or texts to compare encoders")
            return None
        if name in self.model.sets:
            self.say(f"{name} is already computed")
            self.model.show_view_requested.emit("compare")
            return None
        if name in self.extra_jobs and self.extra_jobs[name].running:
            self.say(f"{name} is already encoding for comparison")
            return self.extra_jobs[name]
        self.say(f"Encoding with {name} for comparison\u2026")
        self._extra_eta[name] = Eta(len(ds))
        job = self.runner.submit(
            JobKind.ENCODE_EXTRA.key(name), encode_job, ds, name,
            on_result=lambda emb: self._on_extra_encoded(emb, show, name),
            on_progress=lambda f, m: self._on_extra_progress(name, len(ds), f, m),
            on_cancelled=lambda: self._on_extra_cancelled(name, len(ds)),
            on_error=lambda msg: self._on_extra_error(name, msg),
            on_finished=lambda: self._extra_finished(name),
            is_stale=lambda: self.model.dataset is not ds,
        )
        self.extra_jobs[name] = job
        self.extra_started.emit(name, len(ds))
        return job

    def cancel_extra(self, name: str | None = None) -> None:
        """Stop the comparison encode with ``name`` (every one when None); finished batches stay
        in the cache, so encoding with it again resumes there."""
        for key in [name] if name is not None else list(self.extra_jobs):
            self.runner.cancel(JobKind.ENCODE_EXTRA.key(key))

    @property
    def extras_running(self) -> list[str]:
        """The encoders of the comparison encodes running now, in the order they began."""
        return [n for n, job in self.extra_jobs.items() if job.running and not job.cancelled]

    def extra_progress_now(self, name: str, total: int, fraction: float, message: str = "",
                           now: float | None = None) -> EncodeProgress:
        eta = self._extra_eta.get(name)
        rate, left = eta.update(fraction, now) if eta is not None else (None, None)
        return EncodeProgress(name, total, fraction, rate, left, message)

    def _on_extra_progress(self, name: str, total: int, fraction: float, message: str) -> None:
        self.extra_progress.emit(name, fraction)
        self.extra_status.emit(self.extra_progress_now(name, total, fraction, message))

    def _on_extra_cancelled(self, name: str, total: int) -> None:
        job = self.extra_jobs.get(name)
        fraction = job.state.fraction if job is not None else 0.0
        self.extra_ended.emit(name, "cancelled")
        self.say(f"Encoding with {name} for comparison cancelled \u2014 {int(round(fraction * total)):,} of "
                 f"{total:,} cached")

    def _on_extra_error(self, name: str, message: str) -> None:
        self.extra_ended.emit(name, "failed")
        self.fail(JobKind.ENCODE_EXTRA.key(name), _failure_text(name, message))

    def _extra_finished(self, name: str) -> None:
        if self.runner.job(JobKind.ENCODE_EXTRA.key(name)) is None:  # no newer encode with it
            self.extra_jobs.pop(name, None)
            self._extra_eta.pop(name, None)

    def _on_extra_encoded(self, emb: EmbeddingSet, show: bool = True, name: str = "") -> None:
        current = self.model.dataset
        self.extra_ended.emit(name or emb.encoder, "done")
        if current is None:
            return
        if list(emb.dataset.ids) != list(current.ids):
            self.fail(JobKind.ENCODE_EXTRA.key(emb.encoder),
                      f"{emb.encoder} did not encode the same items ({len(emb):,} of {len(current):,}, "
                      "see Problems); comparing encoders needs every item")
            return
        self.model.add_embeddings(emb, activate=False)
        self.say(f"{emb.encoder} is ready to compare ({len(emb):,} items)")
        if show:
            self.model.show_view_requested.emit("compare")
