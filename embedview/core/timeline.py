"""Embeddings over training: a *run* is a folder of checkpoint dumps, one file per step.

Writing (from a training loop): :func:`write_step` appends one step as ``step_{step:09d}.npy``
(float32, written through :func:`embedview.core.export.atomic_path`, so a crash never leaves a
half-written step) and keeps the items' ids, labels and positive pairs once, in the run's small
manifest ``embedview_run.json``.  Later calls check that the items did not change.

Reading: :func:`read_run` takes any folder of dumps (``step_000100.npy``, ``epoch_3.parquet``,
``ckpt-12.npz`` ...), orders them by the number in the name (the last number of the file's stem)
and matches the items across steps by id.  Each file is parsed by the loaders of
:mod:`embedview.core.loaders`; a step's vectors are loaded only when :meth:`Run.vectors` asks for
them (``.npy`` files memory-mapped).

Measuring: :class:`Timeline` gives, per step, the collapse diagnostics' figures and verdict
(:class:`embedview.core.collapse.CollapseDiagnostics`: effective rank, directions for 90 % of the
variance, mean pairwise cosine, uniformity, alignment with positive pairs), and with labels the
leave-one-out kNN accuracy and the linear probe (:mod:`embedview.core.evaluation`).  Every step
is measured on the same random sample of items, so the curves compare like with like.

Seeing: :func:`aligned_maps` projects each step to 2-D (PCA) and rotates every step's map onto
the previous one (orthogonal Procrustes on the shared items), so points move smoothly when
stepping through the run rather than flipping and spinning with each PCA's arbitrary axes.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedview.core.collapse import CollapseDiagnostics
from embedview.core.embeddings import as_matrix
from embedview.core.evaluation import KNNAccuracy, LinearProbe
from embedview.core.export import atomic_path
from embedview.core.progress import TaskState
from embedview.core.projection import _sample

#: the manifest of a run written by :func:`write_step`: ids, labels and positive pairs, once
MANIFEST = "embedview_run.json"
MANIFEST_FORMAT = "embedview.run"
#: the file name of one step written by :func:`write_step`
STEP_FILE = "step_{step:09d}.npy"
#: the files a run folder's steps may be (the loaders' embedding formats)
STEP_EXTENSIONS = (".npy", ".npz", ".parquet", ".arrow")

#: (key in a row, title, how it is read) of the per-step metrics, in the order they are shown
METRICS: tuple[tuple[str, str, str], ...] = (
    ("effective_rank", "effective rank (centred)", "higher: more directions used"),
    ("dims_90", "directions for 90% of the variance", "higher: variance spread wider"),
    ("mean_pairwise_cosine", "mean pairwise cosine", "near 1: all items point one way"),
    ("uniformity", "uniformity (Wang & Isola, t=2)", "lower: spread more evenly on the sphere"),
    ("alignment", "alignment of positive pairs", "lower: positive pairs closer"),
    ("knn_accuracy", "kNN accuracy (leave-one-out)", "higher: neighbours share labels"),
    ("linear_probe", "linear probe accuracy", "higher: labels linearly separable"),
)


class RunError(ValueError):
    """A run folder or a step that cannot be used: the message names the file and the reason."""


# ==============================================================================================
# writing
# ==============================================================================================
_manifest_cache: dict[str, tuple[int, int, dict[str, Any]]] = {}


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of a run (cached by modification time and size: a training loop calls
    :func:`write_step` often and the ids need not be parsed each time)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    key = str(path.resolve())
    hit = _manifest_cache.get(key)
    if hit is not None and hit[0] == st.st_mtime_ns and hit[1] == st.st_size:
        return hit[2]
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: not a readable run manifest ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT or not isinstance(doc.get("n"), int):
        raise RunError(f"{path}: not an embedview run manifest (format {MANIFEST_FORMAT!r} with the item count 'n')")
    _manifest_cache[key] = (st.st_mtime_ns, st.st_size, doc)
    return doc


def _strings(values: Sequence[Any] | np.ndarray, what: str, n: int) -> list[str | None]:
    out = [None if v is None else str(v) for v in list(values)]
    if len(out) != n:
        raise RunError(f"{len(out)} {what} for {n} vectors")
    return out


def _pairs(positives: Any, n: int) -> list[list[int]]:
    pp = np.asarray(positives, dtype=np.int64)
    if pp.ndim != 2 or pp.shape[1] != 2:
        raise RunError(f"positives must be item index pairs of shape (P, 2), got shape {pp.shape}")
    if pp.size and (pp.min() < 0 or pp.max() >= n):
        raise RunError(f"positives refer to items outside 0..{n - 1}")
    return pp.tolist()


def write_step(run_dir: str | os.PathLike, step: int, vectors: Any, ids: Sequence[Any] | None = None,
               labels: Sequence[Any] | None = None, positives: Any = None,
               on_nonfinite: str = "record") -> Path:
    """Append one step to the run in ``run_dir`` (created when missing); return the file the step
    went to: its ``.npy``, or the manifest when the step diverged (see ``on_nonfinite``).

    ``vectors`` (N, D) are written as float32 to ``step_{step:09d}.npy`` atomically: a reader,
    or a crash of the training loop, never sees a half-written step; writing a step again
    replaces it.  ``ids`` (N), ``labels`` (N; ``None`` for unlabelled items) and ``positives``
    ((P, 2) item indices of pairs that should be close, for the alignment) are kept in the
    run's manifest on the first call; later calls may leave them out, and when given they must
    be the same.  A step with another number of items or dimensions is refused with
    :class:`RunError`: every step must hold the same items, in the same order.

    ``on_nonfinite``: what a step with NaN or infinite values (also values too large for float32)
    does.  ``"record"`` (the default: a training loop is not killed the moment it diverges): no
    vectors are written; the step is kept in the manifest's ``"diverged"`` {step: rows with a
    non-finite value}, a :class:`RuntimeWarning` names the run folder and the step, and the
    manifest's path is returned.  ``"raise"``: :class:`RunError`, nothing written.  Writing the step again with
    finite vectors clears the record; a diverged step replaces an earlier file of the same step.
    """
    if on_nonfinite not in ("record", "raise"):
        raise RunError(f"on_nonfinite must be 'record' or 'raise', not {on_nonfinite!r}")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or int(step) < 0:
        raise RunError(f"step must be a whole number >= 0, not {step!r}")
    step = int(step)
    n_bad = 0
    try:
        with np.errstate(over="ignore"):  # a value beyond float32's range is caught as infinite below
            X = np.ascontiguousarray(as_matrix(vectors), dtype=np.float32)
    except ValueError as exc:
        if on_nonfinite == "raise" or "NaN or infinite" not in str(exc):  # other bad input: still refused
            raise RunError(f"step {step}: {exc}") from exc
        with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32's range are inf once cast
            X = np.asarray(getattr(vectors, "vectors", vectors), dtype=np.float32)
        n_bad = int((~np.isfinite(X)).any(axis=1).sum())
    n, d = X.shape
    folder = Path(run_dir)
    if folder.exists() and not folder.is_dir():
        raise RunError(f"{folder}: is a file, not a run folder")
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    doc = _read_manifest(manifest_path)
    id_list = None if ids is None else _strings(ids, "ids", n)
    if id_list is not None:
        if any(i is None for i in id_list):
            raise RunError(f"step {step}: an id is None; every item needs an id")
        if len(set(id_list)) != n:
            raise RunError(f"step {step}: the ids are not unique ({n - len(set(id_list))} repeated)")
    label_list = None if labels is None else _strings(labels, "labels", n)
    pairs = None if positives is None else _pairs(positives, n)
    if doc is None:
        doc = {"format": MANIFEST_FORMAT, "version": 1, "n": n, "dim": d, "ids": id_list, "labels": label_list,
               "positives": pairs}
        with atomic_path(manifest_path) as tmp:
            tmp.write_text(json.dumps(doc), encoding="utf-8")
    else:
        where = f"{folder}: step {step}"
        if doc["n"] != n:
            raise RunError(f"{where} has {n} items but the run was started with {doc['n']}: "
                           "every step must hold the same items")
        if doc.get("dim") not in (None, d):
            raise RunError(f"{where} has {d} dimensions but the run was started with {doc['dim']}")
        if id_list is not None and doc.get("ids") is not None and doc["ids"] != id_list:
            first = next(i for i, (a, b) in enumerate(zip(doc["ids"], id_list, strict=True)) if a != b)
            raise RunError(f"{where}: the ids changed (item {first}: {doc['ids'][first]!r} in the run, "
                           f"{id_list[first]!r} now); every step must hold the same items in the same order")
        if id_list is not None and doc.get("ids") is None:
            raise RunError(f"{where}: ids given now but the run was started without ids")
        if label_list is not None and doc.get("labels") is not None and doc["labels"] != label_list:
            raise RunError(f"{where}: the labels differ from the run's first step")
        if pairs is not None and doc.get("positives") is not None and doc["positives"] != pairs:
            raise RunError(f"{where}: the positive pairs differ from the run's first step")
        missing = {k: v for k, v in (("labels", label_list), ("positives", pairs))
                   if v is not None and doc.get(k) is None}
        if missing:  # given for the first time after the first step: kept from now on
            doc = {**doc, **missing}
            with atomic_path(manifest_path) as tmp:
                tmp.write_text(json.dumps(doc), encoding="utf-8")
    target = folder / STEP_FILE.format(step=step)
    diverged = dict(doc.get("diverged") or {})
    if n_bad:
        diverged[str(step)] = n_bad
        doc = {**doc, "diverged": diverged}
        with atomic_path(manifest_path) as tmp:
            tmp.write_text(json.dumps(doc), encoding="utf-8")
        target.unlink(missing_ok=True)  # the step is the diverged one now, not an earlier write of it
        warnings.warn(f"{folder}: step {step} diverged ({n_bad} of {n} rows have NaN or infinite values); "
                      f"recorded in {MANIFEST}, no vectors written", RuntimeWarning, stacklevel=2)
        return manifest_path
    if str(step) in diverged:  # written again, finite now
        del diverged[str(step)]
        doc = {**doc, "diverged": diverged}
        with atomic_path(manifest_path) as tmp:
            tmp.write_text(json.dumps(doc), encoding="utf-8")
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.save(fh, X, allow_pickle=False)
    return target


# ==============================================================================================
# reading
# ==============================================================================================
_NUMBER = re.compile(r"\d+")


def step_number(name: str) -> int | None:
    """The step of a dump's file name: the last number in its stem (``step_000100.npy`` -> 100,
    ``epoch_3.parquet`` -> 3, ``ckpt-12.npz`` -> 12); ``None`` when it has none."""
    found = _NUMBER.findall(Path(name).stem)
    return int(found[-1]) if found else None


def _step_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in STEP_EXTENSIONS and not p.name.startswith(".") and p.is_file())


#: names that say "a checkpoint of training" (``step_100``, ``epoch-3``, ``ckpt12``, ``iter_5000``)
_STEP_WORD = re.compile(r"(?:^|[^a-z])(?:step|steps|epoch|epochs|ckpt|checkpoint|iter|iteration|it|global_step)"
                        r"[-_ ]?\d+", re.IGNORECASE)


def is_run_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a run: a folder with a run manifest, or with at least two
    embedding files (``.npy`` / ``.npz`` / ``.parquet`` / ``.arrow``) all named as checkpoints
    (``step_100``, ``epoch_3``, ``ckpt-12``, ``iter5000``...).  Numbered shards of one dataset
    (``part_0.npy``, ``part_1.npy``) are not a run (:func:`read_run` still reads them as one)."""
    folder = Path(path)
    if not folder.is_dir():
        return False
    if (folder / MANIFEST).is_file():
        return True
    try:
        files = _step_files(folder)
    except OSError:
        return False
    return len(files) >= 2 and all(_STEP_WORD.search(p.stem) is not None for p in files)


def _positional_ids(n: int) -> list[str]:
    return [str(i) for i in range(n)]


def _npy_rows(path: Path) -> int:
    """The rows of an ``.npy`` file from its header (memory-mapped: nothing is read)."""
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise RunError(f"{path}: not a readable .npy file ({type(exc).__name__}: {exc})") from exc
    if x.ndim != 2:
        raise RunError(f"{path}: {x.ndim}-D array of shape {x.shape}; expected (items x dimensions)")
    return int(x.shape[0])


def _load(path: Path):
    from embedview.core.loaders import LoadError, load_paths

    try:
        ds = load_paths(path)
    except LoadError as exc:
        raise RunError(f"{path}: {exc}") from exc
    if ds.embeddings is None:
        raise RunError(f"{path}: holds no vectors")
    return ds


@dataclass
class Run:
    """A run: ``steps`` (ascending), one file per step, the items matched across steps.

    ``ids`` and ``labels`` (object array of str / None, or None) are in the run's item order;
    ``positives`` are (P, 2) indices into it (from the manifest) or None; ``notes`` say what was
    left out and why; ``diverged`` {step: non-finite rows} are the steps :func:`write_step`
    recorded as diverged instead of writing them (listed in ``notes`` too).  :meth:`vectors`
    loads one step's (N, D) float32 vectors in that order.
    """

    path: Path
    steps: list[int]
    files: list[Path]
    ids: list[str]
    labels: np.ndarray | None = None
    positives: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    #: per step: the file's ids (None: positional rows 0..N-1) to find the run's items in it
    _file_ids: list[list[str] | None] = field(default_factory=list, repr=False)
    #: steps that diverged {step: rows with NaN / infinite values}, recorded by :func:`write_step`
    #: instead of their vectors (not in ``steps``: they have no file)
    diverged: dict[int, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ids)

    def __len__(self) -> int:
        return len(self.steps)

    def vectors(self, i: int) -> np.ndarray:
        """The (N, D) float32 vectors of step ``i`` (an index into ``steps``), rows in the run's
        item order.  Raises :class:`RunError` naming the file when items are missing from it
        (rows the loader dropped for NaN / infinity)."""
        path = self.files[i]
        ds = _load(path)
        X = ds.embeddings
        keyed = bool(self._file_ids) and self._file_ids[i] is not None
        # a file with ids is searched by the run's ids; one without by row (the loader names rows by number)
        keys = self.ids if keyed else _positional_ids(self.n)
        pos = {v: r for r, v in enumerate(ds.ids)}
        rows = np.fromiter((pos.get(k, -1) for k in keys), dtype=np.int64, count=self.n)
        missing = int(np.sum(rows < 0))
        if missing:
            problems = "; ".join(str(p) for p in ds.problems[:2])
            raise RunError(f"{path}: {missing} of the run's {self.n} items are missing from this step"
                           + (f" ({problems})" if problems else ""))
        if len(rows) == len(X) and np.array_equal(rows, np.arange(len(X))):
            return np.asarray(X, dtype=np.float32)
        return np.ascontiguousarray(X[rows], dtype=np.float32)


def read_run(path: str | os.PathLike, progress: Any = None) -> Run:
    """Open the run in folder ``path``: its numbered dumps in step order, items matched by id.

    Files with ids (``.npz`` / ``.parquet`` / ``.arrow`` with an id column) are matched by id:
    the items in every step are kept, in the first step's order, and ``notes`` say how many were
    dropped.  Files without ids (``.npy``, or tables without an id column) are matched by row and
    must all hold the same number of items; with a manifest (a run written by
    :func:`write_step`) their rows are the manifest's ids.  Raises :class:`RunError` naming the
    file: no number in its name, two files with the same number, different item counts, ids on
    some steps but not others, no item in every step.
    """
    task = TaskState.coerce(progress)
    folder = Path(path)
    if not folder.is_dir():
        raise RunError(f"{folder}: not a folder; a run is a folder of numbered dumps (step_000100.npy, ...)")
    manifest = _read_manifest(folder / MANIFEST)
    diverged = _diverged(manifest, folder)
    files = _step_files(folder)
    if not files:
        also = (f"; steps {', '.join(map(str, diverged))} diverged (NaN or infinite vectors, recorded in {MANIFEST})"
                if diverged else "")
        raise RunError(f"{folder}: no embedding files in it (.npy, .npz, .parquet, .arrow){also}")
    numbered: dict[int, Path] = {}
    for p in files:
        s = step_number(p.name)
        if s is None:
            raise RunError(f"{p}: no step number in its name; name every dump by its step "
                           "(step_000100.npy, epoch_3.parquet, ckpt-12.npz)")
        if s in numbered:
            raise RunError(f"{p} and {numbered[s].name} both are step {s}: keep one file per step")
        numbered[s] = p
    steps = sorted(numbered)
    ordered = [numbered[s] for s in steps]

    labels_by_id: dict[str, Any] = {}
    file_ids: list[list[str] | None] = []
    counts: list[int] = []
    for i, p in enumerate(ordered):
        task.report(i, len(ordered), f"reading {p.name}")
        if p.suffix.lower() == ".npy":
            n_rows = _npy_rows(p)
            file_ids.append(None)
            counts.append(n_rows)
            continue
        ds = _load(p)
        own = list(ds.ids)
        positional = own == _positional_ids(len(own))
        file_ids.append(None if positional else own)
        counts.append(len(own))
        if ds.labels is not None and not labels_by_id:
            labels_by_id = dict(zip(own, ds.labels, strict=True))
    task.report(len(ordered), len(ordered), "matching items")

    notes: list[str] = []
    keyed = [i for i, f in enumerate(file_ids) if f is not None]
    if keyed and len(keyed) < len(ordered):
        bare = next(i for i, f in enumerate(file_ids) if f is None)
        raise RunError(f"{ordered[keyed[0]]} has item ids but {ordered[bare]} has none: items cannot be matched "
                       "across steps; give every step the same id column (or none)")
    if not keyed:
        n = counts[0]
        for p, c in zip(ordered, counts, strict=True):
            if c != n:
                raise RunError(f"{p} has {c} items but {ordered[0].name} has {n}: without ids, every step must "
                               "hold the same items in the same order")
        if manifest is not None:
            if manifest["n"] != n:
                raise RunError(f"{ordered[0]} has {n} items but the run's manifest ({MANIFEST}) says {manifest['n']}")
            ids = list(manifest["ids"]) if manifest.get("ids") else _positional_ids(n)
        else:
            ids = _positional_ids(n)
        run_ids = ids
    else:
        sets = [set(f) for f in file_ids if f is not None]
        common = set.intersection(*sets)
        first = file_ids[0]
        assert first is not None
        run_ids = [v for v in first if v in common]
        if not run_ids:
            raise RunError(f"{folder}: no item id is in every step ({len(ordered)} steps, {len(first)} items in "
                           f"{ordered[0].name})")
        union = set.union(*sets)
        dropped = len(union) - len(run_ids)
        if dropped:
            worst = min(range(len(ordered)), key=lambda j: len(sets[j]))
            notes.append(f"{dropped:,} item(s) are not in every step and were left out; {len(run_ids):,} kept "
                         f"(the smallest step, {ordered[worst].name}, has {len(sets[worst]):,})")

    labels = None
    positives = None
    if manifest is not None and manifest.get("labels") is not None and not keyed:
        labels = _as_labels(manifest["labels"])
    elif labels_by_id:
        labels = _as_labels([labels_by_id.get(v) for v in run_ids])
    if manifest is not None and manifest.get("positives") and not keyed:
        positives = np.asarray(manifest["positives"], dtype=np.int64).reshape(-1, 2)
    diverged = {s: c for s, c in diverged.items() if s not in numbered}  # a file written later wins
    if diverged:
        listed = ", ".join(f"{s} ({c:,} of {len(run_ids):,} rows)" for s, c in list(diverged.items())[:10])
        more = f" and {len(diverged) - 10} more" if len(diverged) > 10 else ""
        notes.append(f"{len(diverged)} step(s) diverged (NaN or infinite vectors; recorded, not written): "
                     f"{listed}{more}")
    return Run(folder, steps, ordered, run_ids, labels, positives, notes, file_ids, diverged)


def _diverged(manifest: dict[str, Any] | None, folder: Path) -> dict[int, int]:
    """The manifest's diverged steps {step: non-finite rows}, ascending by step."""
    raw = (manifest or {}).get("diverged") or {}
    try:
        return {int(k): int(v) for k, v in sorted(raw.items(), key=lambda kv: int(kv[0]))}
    except (AttributeError, TypeError, ValueError) as exc:
        raise RunError(f"{folder / MANIFEST}: its 'diverged' entry is not {{step: rows}} ({exc})") from exc


def _as_labels(values: Sequence[Any]) -> np.ndarray | None:
    out = np.empty(len(values), dtype=object)
    out[:] = [None if v is None or (isinstance(v, str) and not v.strip()) else str(v) for v in values]
    return out if any(v is not None for v in out) else None


# ==============================================================================================
# the metrics per step
# ==============================================================================================
def _finite(v: Any) -> float | None:
    """A JSON-safe number: ``None`` for None, NaN and infinity."""
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _stamp(path: Path) -> tuple[str, int, int]:
    """A step file as last seen: name, size, modification time (a rewritten step is measured again)."""
    try:
        st = path.stat()
    except OSError:
        return (path.name, -1, -1)
    return (path.name, int(st.st_size), int(st.st_mtime_ns))


def run_stamp(path: str | os.PathLike) -> tuple[tuple[str, int, int], ...]:
    """The step files of a run folder as they are now (cheap: one listing and a stat per file),
    to notice that a training loop wrote a step since the run was read."""
    folder = Path(path)
    try:
        return tuple(_stamp(p) for p in _step_files(folder))
    except OSError:
        return ()


def _named(task: TaskState, start: float, stop: float, prefix: str) -> TaskState:
    """``task.sub(start, stop)`` whose messages start with ``prefix`` ("step 40 (3 of 16): ..."),
    so a progress bar says which step a fold or a neighbour search belongs to."""

    def cb(fraction: float, message: str) -> None:
        task.set_fraction(start + (stop - start) * fraction, f"{prefix}: {message}" if message else prefix)

    child = TaskState(cb, min_interval=0.0)
    child._cancel = task._cancel
    return child


class Timeline:
    """The collapse diagnostics and label metrics of every step of a run.

    Parameters
    ----------
    k : int
        Neighbours for the kNN accuracy and the hubness of the diagnostics.
    sample : int
        Items measured at most per step: one random sample, the same items at every step.
    pair_sample : int
        Items at most for the pairwise measures (mean cosine, uniformity), as the diagnostics.
    probe_folds, probe_sample, probe_max_iter :
        The linear probe (stratified folds, logistic regression on standardised vectors) on at most
        ``probe_sample`` of the sampled items: it is the slowest measure, and runs at every step.
    random_state : int
        Seed of the sample.

    Attributes
    ----------
    rows_ : list of dict, one per step in step order: ``step``, ``file``, ``verdict`` and
        ``verdict_reason`` (:class:`CollapseDiagnostics`'s), ``effective_rank``, ``dims_90``,
        ``mean_pairwise_cosine``, ``uniformity``, ``alignment`` (None without positive pairs),
        ``knn_accuracy`` and ``linear_probe`` (None without labels), ``n_items`` and ``n_used``
        {metric: items it used}, ``sampled``.
    diverged_ : dict {step: non-finite rows} of the run's diverged steps (``Run.diverged``): they
        have no vectors, so no row in ``rows_`` (which stays one row per ``Run.steps``, in its
        order); :meth:`to_dict`'s ``rows`` and :meth:`all_rows` add a row per diverged step (verdict
        ``"diverged"``, every metric None), all in step order.
    last_verdict_ : str, the verdict of the run's last step: ``"diverged"`` when that step diverged.
    last_collapsed_ : bool, the last step's verdict is not "healthy" -- true too when the run's
        last step (by number) diverged, newer than every measured step.
    """

    def __init__(self, k: int = 10, sample: int = 2000, pair_sample: int = 2000, probe_folds: int = 3,
                 probe_sample: int = 1000, probe_max_iter: int = 300, random_state: int | None = 0):
        self.k = k
        self.sample = sample
        self.pair_sample = pair_sample
        self.probe_folds = probe_folds
        self.probe_sample = probe_sample
        self.probe_max_iter = probe_max_iter
        self.random_state = random_state

    def fit(self, run: Run, progress: Any = None, reuse: Timeline | None = None) -> Timeline:
        """Measure every step of ``run`` (reported and cancellable per step).

        ``reuse``: an earlier fit on the same run (same parameters, items and labels), e.g. before
        the training loop wrote more steps: the rows of steps whose file is unchanged (name, size,
        modification time) are taken from it instead of measured again."""
        task = TaskState.coerce(progress)
        if not len(run):
            raise RunError(f"{run.path}: the run has no steps")
        n = run.n
        rows = _sample(n, int(self.sample), self.random_state)
        n_used = len(rows)
        n_pairs_items = min(n_used, int(self.pair_sample))
        labels = run.labels
        lab_rows = labels[rows] if labels is not None else None
        n_labelled = 0 if lab_rows is None else int(sum(v is not None for v in lab_rows))
        probe_rows = _sample(n_used, int(self.probe_sample), self.random_state)
        positives = run.positives if run.positives is not None and len(run.positives) else None
        out: list[dict[str, Any]] = []
        per = 1.0 / len(run)
        stamps = [_stamp(p) for p in run.files]
        known: dict[tuple[int, tuple[str, int, int]], dict[str, Any]] = {}
        if reuse is not None and getattr(reuse, "_key", None) == self._fit_key(run):
            old_rows: list[dict[str, Any]] = reuse.rows_
            old_stamps: list[tuple[str, int, int]] = reuse.stamps_
            known = {(r["step"], st): r for r, st in zip(old_rows, old_stamps, strict=True)}
        self.reused_ = 0
        for i, step in enumerate(run.steps):
            sub = _named(task, i * per, (i + 1) * per, f"step {step} ({i + 1} of {len(run)})")
            old = known.get((int(step), stamps[i]))
            if old is not None:
                out.append(old)
                self.reused_ += 1
                sub.report(1, 1, "unchanged")
                continue
            sub.report(0, 1, "loading")
            X = run.vectors(i)
            Xs = X[rows]
            diag = CollapseDiagnostics(k=self.k, sample=n_used, pair_sample=n_pairs_items,
                                       random_state=self.random_state)
            # the sample is taken here (the same items at every step); the diagnostics use all of it
            diag.fit(Xs, progress=sub.sub(0.0, 0.6))
            alignment = None
            if positives is not None:  # every positive pair, on all items (cheap: one row per pair)
                a, b = X[positives[:, 0]].astype(np.float64), X[positives[:, 1]].astype(np.float64)
                a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
                b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
                alignment = float(np.mean(np.sum((a - b) ** 2, axis=1)))
            knn = probe = None
            probe_n = 0
            probe_note = ""
            if lab_rows is not None and n_labelled >= 2:
                knn = KNNAccuracy(k=self.k).fit(Xs, lab_rows, progress=sub.sub(0.6, 0.75)).accuracy_
                try:
                    lp = LinearProbe(folds=self.probe_folds, max_iter=self.probe_max_iter,
                                     random_state=self.random_state).fit(
                        Xs[probe_rows], lab_rows[probe_rows], progress=sub.sub(0.75, 1.0))
                    probe, probe_n, probe_note = lp.accuracy_mean_, lp.n_items_, lp.message_
                except ValueError as exc:  # too few classes / items per class: said, not failed
                    probe_note = str(exc)
            row: dict[str, Any] = {
                "step": int(step),
                "file": run.files[i].name,
                "verdict": diag.verdict_,
                "verdict_reason": diag.verdict_reason_,
                "effective_rank": _finite(diag.effective_rank_),
                "dims_90": int(diag.n_components_90_),
                "mean_pairwise_cosine": _finite(diag.cosine_mean_),
                "uniformity": _finite(diag.uniformity_),
                "alignment": _finite(alignment),
                "knn_accuracy": _finite(knn),
                "linear_probe": _finite(probe),
                "dim": int(X.shape[1]),
                "n_items": int(n),
                "sampled": n_used < n,
                "n_used": {
                    "effective_rank": n_used, "dims_90": n_used,
                    "mean_pairwise_cosine": n_pairs_items, "uniformity": n_pairs_items,
                    "alignment": 0 if positives is None else int(len(positives)),
                    "knn_accuracy": n_labelled if knn is not None else 0,
                    "linear_probe": int(probe_n),
                },
            }
            if probe_note:
                row["linear_probe_note"] = probe_note
            out.append(row)
            sub.report(1, 1, "measured")
        self.rows_: list[dict[str, Any]] = out
        self.stamps_: list[tuple[str, int, int]] = stamps
        self._key: tuple = self._fit_key(run)
        self.steps_ = [r["step"] for r in out]
        self.n_items_ = int(n)
        self.n_used_ = int(n_used)
        self.path_ = str(run.path)
        self.notes_ = list(run.notes)
        self.has_labels_ = lab_rows is not None and n_labelled >= 2
        self.has_positives_ = positives is not None
        self.diverged_ = dict(run.diverged)
        last_diverged = bool(self.diverged_) and max(self.diverged_) > out[-1]["step"]
        self.last_verdict_ = "diverged" if last_diverged else out[-1]["verdict"]
        self.last_collapsed_ = last_diverged or out[-1]["verdict"] != "healthy"
        task.report(1, 1, "timeline measured")
        return self

    def _fit_key(self, run: Run) -> tuple:
        """What must match for an earlier fit's rows to be reused: parameters, items, labels, pairs."""
        labels = None if run.labels is None else tuple(run.labels.tolist())
        pairs = None if run.positives is None else run.positives.tobytes()
        return (self.k, self.sample, self.pair_sample, self.probe_folds, self.probe_sample, self.probe_max_iter,
                self.random_state, str(run.path), tuple(run.ids), labels, pairs)

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one metric (NaN where it was not measured), for plotting."""
        steps = np.array(self.steps_, dtype=np.float64)
        values = np.array([np.nan if r.get(key) is None else float(r[key]) for r in self.rows_], dtype=np.float64)
        return steps, values

    def all_rows(self) -> list[dict[str, Any]]:
        """``rows_`` and one row per diverged step (verdict "diverged", metrics None), by step."""
        gone = getattr(self, "diverged_", {})
        extra: list[dict[str, Any]] = [{"step": int(s), "file": None, "verdict": "diverged",
                  "verdict_reason": f"{c:,} of {self.n_items_:,} rows had NaN or infinite values: the step was "
                                    "recorded as diverged, not written",
                  **{key: None for key, _t, _h in METRICS}, "dim": None, "n_items": self.n_items_,
                  "n_nonfinite": int(c), "sampled": False, "n_used": {}} for s, c in gone.items()]
        return sorted([*self.rows_, *extra], key=lambda r: r["step"])

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON (no NaN): the run, how the numbers were computed, the rows by step (with a
        row per diverged step, see :meth:`all_rows`)."""
        return {
            "run": self.path_,
            "n_steps": len(self.rows_),
            "diverged": {str(s): c for s, c in getattr(self, "diverged_", {}).items()},
            "n_items": self.n_items_,
            "n_used": self.n_used_,
            "sampled": self.n_used_ < self.n_items_,
            "how": {
                "sample": f"every step measured on the same {self.n_used_:,} of {self.n_items_:,} items "
                          f"(random, seed {self.random_state})",
                "collapse": "embedview.core.collapse.CollapseDiagnostics: verdict, effective rank (centred), "
                            "directions for 90% of the variance, mean pairwise cosine, uniformity (Wang & Isola, t=2)",
                "alignment": "mean squared distance of the L2-normalised positive pairs (all pairs)",
                "knn_accuracy": f"leave-one-out {self.k}-NN accuracy (cosine, majority vote) among the sampled items",
                "linear_probe": f"{self.probe_folds}-fold logistic regression on standardised vectors (at most "
                                f"{self.probe_sample:,} of the sampled items, {self.probe_max_iter} iterations), "
                                "mean accuracy",
            },
            "notes": self.notes_,
            "last_verdict": self.last_verdict_,
            "last_collapsed": bool(self.last_collapsed_),
            "rows": [dict(r, n_used=dict(r["n_used"])) for r in self.all_rows()],
        }


# ==============================================================================================
# maps over the run, aligned step to step
# ==============================================================================================
#: items drawn on the maps at most (a fixed random sample beyond it)
MAP_ITEMS = 20_000


def map_items(run: Run, max_items: int = MAP_ITEMS, random_state: int | None = 0) -> np.ndarray:
    """The run's items the maps show: all of them, or a fixed random sample of ``max_items``."""
    return _sample(run.n, int(max_items), random_state)


def _pca2(X: np.ndarray) -> np.ndarray:
    """The first two principal components' coordinates (centred), float64."""
    Xc = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
    d = Xc.shape[1]
    if d == 1:
        return np.column_stack([Xc[:, 0], np.zeros(len(Xc))])
    lam, vecs = np.linalg.eigh(Xc.T @ Xc)
    top = vecs[:, ::-1][:, :2]
    return Xc @ top


def procrustes_rotation(moving: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """The orthogonal 2x2 matrix ``R`` minimising ``||(moving - mean) R - (fixed - mean)||``
    (``scipy.linalg.orthogonal_procrustes``; rotations and reflections, no scaling)."""
    from scipy.linalg import orthogonal_procrustes

    a = moving - moving.mean(axis=0)
    b = fixed - fixed.mean(axis=0)
    R, _ = orthogonal_procrustes(a, b)
    return R


def aligned_maps(run: Run, method: str = "pca", progress: Any = None, items: np.ndarray | None = None,
                 align: bool = True) -> list[np.ndarray]:
    """One 2-D map per step, ``(len(items), 2)`` float32 (default items: :func:`map_items`).

    Each step is projected on its own first two principal components; with ``align`` each map
    after the first is then rotated (or reflected) onto the previous aligned map by orthogonal
    Procrustes on the shared items, so an item keeps its place unless the embedding moved it.
    Maps are centred; their scale is the step's own (a collapsing run shrinks).
    """
    if method != "pca":
        raise ValueError(f"aligned maps are computed with 'pca'; {method!r} is not offered (a UMAP per step "
                         "would not be comparable from step to step)")
    task = TaskState.coerce(progress)
    idx = map_items(run) if items is None else np.asarray(items, dtype=np.int64)
    maps: list[np.ndarray] = []
    prev: np.ndarray | None = None
    for i, step in enumerate(run.steps):
        task.report(i, len(run), f"map of step {step}")
        xy = _pca2(run.vectors(i)[idx])
        if align and prev is not None:
            xy = (xy - xy.mean(axis=0)) @ procrustes_rotation(xy, prev)
        prev = xy
        maps.append(xy.astype(np.float32))
    task.report(len(run), len(run), "maps aligned")
    return maps


__all__ = [
    "MANIFEST", "METRICS", "Run", "RunError", "Timeline", "aligned_maps", "is_run_folder", "map_items",
    "demo_run", "procrustes_rotation", "read_run", "run_stamp", "step_number", "write_step",
]


# ==============================================================================================
# a real run to try the timeline on (tests, screenshots, the docs)
# ==============================================================================================
def demo_run(folder: str | os.PathLike, objective: str = "supervised", steps: int = 300, every: int = 20,
             dim: int = 16, lr: float | None = None, seed: int = 0) -> Path:
    """Train a small encoder on scikit-learn's handwritten digits and dump its embeddings.

    The encoder is a two-layer MLP (64 -> 64 ReLU -> ``dim``), trained in numpy by minibatch SGD
    (batch 128) and written with :func:`write_step` at step 0 and every ``every`` steps, with the
    digits' labels and 500 positive pairs (two items of the same digit).

    ``objective``: ``"supervised"`` trains the embedding through a linear softmax head on the
    labels (a healthy run); ``"no-negatives"`` minimises only the distance between the
    L2-normalised embeddings of two noisy views of each image (alignment without negatives or a
    stop-gradient), which a network solves by mapping everything to one point: the classic
    collapse of contrastive training without negatives.  ``lr`` defaults to 0.05 (supervised)
    and 0.002 (no negatives: the collapse then shows over about 80 steps instead of at once).
    """
    from sklearn.datasets import load_digits

    if objective not in ("supervised", "no-negatives"):
        raise ValueError(f"objective must be 'supervised' or 'no-negatives', not {objective!r}")
    lr = (0.05 if objective == "supervised" else 0.002) if lr is None else float(lr)
    d = load_digits()
    X = (d.data / 16.0).astype(np.float64)
    y = d.target
    n = len(X)
    rng = np.random.default_rng(seed)
    W1 = rng.normal(0, np.sqrt(2 / 64), (64, 64))
    b1 = np.zeros(64)
    W2 = rng.normal(0, np.sqrt(1 / 64), (64, dim))
    W3 = rng.normal(0, np.sqrt(1 / dim), (dim, 10))
    b3 = np.zeros(10)
    ids = [f"digit-{i}" for i in range(n)]
    labels = [str(v) for v in y]
    pos = []
    for i in rng.choice(n, 500, replace=False):
        same = np.flatnonzero(y == y[i])
        pos.append((int(i), int(rng.choice(same[same != i]))))

    def encode(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pre = A @ W1 + b1
        h = np.maximum(pre, 0)
        return pre, h, h @ W2

    def back(A, pre, h, gz):  # gradients of W1, b1, W2 from the gradient at the embedding
        gW2 = h.T @ gz
        gh = gz @ W2.T * (pre > 0)
        return A.T @ gh, gh.sum(axis=0), gW2

    out = Path(folder)
    for t in range(steps + 1):
        if t % every == 0 or t == steps:
            write_step(out, t, encode(X)[2], ids=ids, labels=labels, positives=pos)
        if t == steps:
            break
        batch = rng.choice(n, 128, replace=False)
        A = X[batch]
        if objective == "supervised":
            pre, h, z = encode(A)
            logits = z @ W3 + b3
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(batch)), y[batch]] -= 1
            g = p / len(batch)
            gz = g @ W3.T
            W3 -= lr * 10 * (z.T @ g)
            b3 -= lr * 10 * g.sum(axis=0)
            gW1, gb1, gW2 = back(A, pre, h, gz)
        else:
            grads = []
            views = [np.clip(A + rng.normal(0, 0.15, A.shape), 0, 1) for _ in range(2)]
            enc = [encode(v) for v in views]
            us = []
            norms = []
            for _pre, _h, z in enc:
                nz = np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-9)
                us.append(z / nz)
                norms.append(nz)
            diff = us[0] - us[1]
            for j, sign in ((0, 1.0), (1, -1.0)):
                gu = sign * 2 * diff / len(batch)
                u = us[j]
                gz = (gu - u * np.sum(u * gu, axis=1, keepdims=True)) / norms[j]
                grads.append(back(views[j], enc[j][0], enc[j][1], gz))
            gW1, gb1, gW2 = (grads[0][k] + grads[1][k] for k in range(3))
        W1 -= lr * 10 * gW1
        b1 -= lr * 10 * gb1
        W2 -= lr * 10 * gW2
    return out
