"""Turn what the user dropped (folders, files) into one :class:`~embedview.core.dataset.Dataset`.

:func:`load_paths` dispatches on what each path is:

* a **folder** -> images, recursively (``IMAGE_EXTENSIONS``); the first sub-folder under the
  dropped folder is the label, images directly inside it are unlabelled; hidden files and
  folders are skipped; symbolic-link loops are reported, not followed; order is sorted.
  **Splits**: when every top-level sub-folder holding images has a split name (``train``,
  ``training``, ``val``, ``valid``, ``validation``, ``dev``, ``test``, ``testing``, ``holdout``,
  ``eval``; any case), as in ``ROOT/train/cat/x.jpg`` and ``ROOT/test/cat/y.jpg``, that level is
  the split, not the label: the label is the folder below it ("cat") and the metadata column
  ``split`` holds the split folder's name as written ("train", "test"; images directly in ROOT
  have none, images directly in a split folder have a split and no label).  A folder whose
  sub-folders are labels only (or mix split names and other names) loads as before, without a
  ``split`` column.
  Each image is validated from its header only (:func:`~embedview.core.images.probe_image`);
  the full decode happens at encode time.  Image files can also be given one by one.
* **text**: ``.txt`` (one item per non-empty line), ``.csv`` / ``.tsv`` / ``.jsonl`` tables
  (text / label / id columns from the arguments, else guessed from the column names, else the
  text column is the one with the longest strings).  Bytes that are not UTF-8 are decoded as
  cp1252 (or latin-1) with a warning saying so.
* **precomputed embeddings**: ``.npy`` (memory-mapped, never copied when already float32),
  ``.npz``, ``.parquet`` / ``.arrow`` (a list-of-numbers column) and the TensorFlow Embedding
  Projector pair (an all-numeric vectors ``.tsv`` plus an optional metadata ``.tsv``, given in
  the same call or found next to it).
* **a folder of parquet shards** (``part-00000.parquet`` ..., any ``*.parquet`` below it, ``key=value``
  hive folders becoming metadata) or **a Lance dataset** (a ``*.lance`` folder; needs the ``lance``
  extra) opens as ONE dataset: shards that do not fit the first one's schema are named problems;
  the vectors are streamed into one float32 file in the cache folder, reused while the shards are
  unchanged, and memory-mapped -- so the vectors may be larger than memory (they need free disk
  instead); ids and string columns are kept packed (:mod:`embedview.core.shards`).
* **Hugging Face ``datasets`` files**: ``.parquet`` and ``.arrow`` (Arrow IPC stream or file)
  with a vector column are precomputed embeddings, without one but with a string column they are
  texts; a ``save_to_disk`` folder (``state.json`` naming its ``data-*.arrow`` files, or a
  ``dataset_dict.json`` with one such folder per split) loads like its files.  Class names of
  ``ClassLabel`` columns come from the schema's ``huggingface`` metadata (or
  ``dataset_info.json``), so labels read "T-shirt/top", not "0".

Tables and vector files keep their other columns as metadata; a column named ``split`` in any
case ("Split", "SPLIT") is kept under the one name ``split`` (csv, tsv, jsonl, parquet, arrow, npz,
projector metadata), never taken for the text, and the splits of a Hugging Face ``DatasetDict``
folder fill it with their split names.  Views and checks that work per split read
``dataset.metadata["split"]``.

Every bad file or row becomes a :class:`~embedview.core.dataset.LoadProblem` naming the file
and the reason, and the rest still loads; :class:`LoadError` is raised only when nothing at all
could be loaded, or when the paths mix modalities.  Input files are only opened for reading.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import os
import re
import stat
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from embedview.core import shards
from embedview.core.dataset import Dataset, LoadProblem, count_skipped, unique_id
from embedview.core.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ImageLoadError,
    capture_image_warnings,
    probe_image,
)
from embedview.core.progress import Cancelled, TaskState

__all__ = [
    "LoadError",
    "load_paths",
    "describe",
    "table_columns",
    "IMAGE_EXTENSIONS",
    "TEXT_EXTENSIONS",
    "EMBEDDING_EXTENSIONS",
    "SUPPORTED_EXTENSIONS",
]

TEXT_EXTENSIONS = frozenset({".txt", ".csv", ".tsv", ".jsonl", ".ndjson"})
EMBEDDING_EXTENSIONS = frozenset({".npy", ".npz", ".parquet", ".arrow"})
#: columnar files: embeddings when they hold a vector column, else texts
COLUMNAR_EXTENSIONS = frozenset({".parquet", ".arrow"})
SUPPORTED_EXTENSIONS = IMAGE_EXTENSIONS | TEXT_EXTENSIONS | EMBEDDING_EXTENSIONS

# Column names recognised automatically (case-insensitive), in order of preference.
TEXT_COLUMN_NAMES = (
    "text", "sentence", "content", "title", "description", "caption", "body", "query",
    "prompt", "document", "question", "review", "comment", "message",
)  # fmt: skip
LABEL_COLUMN_NAMES = ("label", "labels", "class", "class_name", "category", "target", "y")
ID_COLUMN_NAMES = ("id", "ids", "uid", "uuid", "item_id", "doc_id", "key")
VECTOR_COLUMN_NAMES = ("embedding", "embeddings", "vector", "vectors", "emb", "features")
SOURCE_COLUMN_NAMES = ("path", "paths", "source", "sources", "file", "filename", "filenames")
#: Folder names that mean a split, not a label, at the top level of an image folder (lower case).
SPLIT_NAMES = frozenset({"train", "training", "val", "valid", "validation", "dev", "test", "testing", "holdout",
                         "eval"})
#: The metadata column holding each item's split.
SPLIT_COLUMN = "split"

#: At most this many bad rows are listed one by one in a problem message.
MAX_LISTED = 20
_CHUNK_ROWS = 4096

PathArg = Union[str, "os.PathLike[str]"]

#: The most bytes one file's arrays may declare (npy header, npz members, parquet / arrow row
#: counts x dimension) before anything is read; ``None``: :func:`array_byte_limit` decides
#: (3/4 of the memory available now, at most 8 GiB, at least 256 MiB).  A compressed file can
#: declare far more than its size on disk: it is refused with the declared size named.
MAX_ARRAY_BYTES: int | None = None
_ARRAY_BYTES_CAP = 8 << 30
_ARRAY_BYTES_FLOOR = 256 << 20


def _mem_available() -> int | None:
    """Bytes of memory available now (Linux ``/proc/meminfo``); ``None`` elsewhere."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def array_byte_limit() -> int:
    """The bytes a file's arrays may declare: :data:`MAX_ARRAY_BYTES`, else 3/4 of the
    available memory clamped to [256 MiB, 8 GiB] (8 GiB where it cannot be read)."""
    if MAX_ARRAY_BYTES is not None:
        return MAX_ARRAY_BYTES
    avail = _mem_available()
    if avail is None:
        return _ARRAY_BYTES_CAP
    return max(_ARRAY_BYTES_FLOOR, min(_ARRAY_BYTES_CAP, avail * 3 // 4))


def _human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def _too_big(path: Path, what: str, nbytes: int, problems: list[LoadProblem]) -> bool:
    """True (and a problem naming the declared size) when ``nbytes`` is over :func:`array_byte_limit`."""
    limit = array_byte_limit()
    if nbytes <= limit:
        return False
    why = "3/4 of the free memory, at most 8 GiB" if MAX_ARRAY_BYTES is None else "loaders.MAX_ARRAY_BYTES"
    problems.append(LoadProblem(
        str(path), f"{what} would take {_human_bytes(nbytes)} in memory (declared in the file), more than the "
                   f"{_human_bytes(limit)} embedview allows ({why}); not read"))
    return True


class LoadError(Exception):
    """Nothing usable could be loaded (or the inputs cannot go together).

    ``str()`` is the summary followed by one line per problem; ``problems`` keeps them.
    """

    def __init__(self, message: str, problems: Sequence[LoadProblem] = ()):
        self.message = message
        self.problems = list(problems)
        super().__init__(message + "".join(f"\n  - {p}" for p in self.problems))


# ==============================================================================================
# public API
# ==============================================================================================


def load_paths(
    paths: PathArg | Iterable[PathArg],
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    progress: Any = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Dataset:
    """Load folders and files into one dataset.

    Parameters
    ----------
    paths : path or iterable of paths
        Folders of images, image files, text files or embedding files (one modality).
    text_column, label_column, id_column : str, optional
        Column names for tables (``.csv``/``.tsv``/``.jsonl``) and embedding metadata
        (``.parquet``, projector metadata); guessed from the column names when not given.
    progress : None, callable(fraction, message) or TaskState
        Reported between files and chunks; cancelling raises ``Cancelled``.
    max_pixels : int or None
        Images above this many pixels (read from the header) are refused.

    Returns
    -------
    Dataset
        With ``problems`` listing every skipped file or row and every warning.

    Raises
    ------
    LoadError
        When nothing could be loaded, or when the paths mix images, text and embeddings.
    """
    task = TaskState.coerce(progress)
    path_list = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not path_list:
        raise LoadError("nothing to load: no files or folders were given")
    problems: list[LoadProblem] = []
    jobs = _plan(path_list, problems)

    by_modality: dict[str, list[str]] = {}
    for job in jobs:
        by_modality.setdefault(job.modality, []).extend(str(p) for p in job.paths)
    if len(by_modality) > 1:
        kinds = "; ".join(f"{_MODALITY_WORDS[m]}: {_short_list(ps)}" for m, ps in by_modality.items())
        raise LoadError(f"cannot load different kinds of data together ({kinds}); load one kind at a time")

    columns = dict(text_column=text_column, label_column=label_column, id_column=id_column)
    parts: list[Dataset] = []
    for i, job in enumerate(jobs):
        sub = task.sub(i / len(jobs), (i + 1) / len(jobs))
        sub.report(0, 1, f"loading {job.paths[0].name}")
        try:
            part = job.load(job, problems, sub, columns, max_pixels)
        except (Cancelled, KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:  # safety net: one unreadable file never stops the others
            problems.append(LoadProblem(str(job.paths[0]), f"could not be read ({type(exc).__name__}: {exc})"))
            part = None
        if part is not None and len(part):
            part.problems = []
            parts.append(part)
    task.report(1, 1, "loaded")

    parts = _same_dimension(parts, problems)
    if not parts:
        raise LoadError(f"nothing could be loaded from {_short_list([str(p) for p in path_list])}", problems)
    dataset = Dataset.concat(parts)
    dataset.problems = problems
    return dataset


def _short_list(items: Sequence[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def describe(dataset: Dataset) -> dict[str, Any]:
    """A JSON-ready summary of a dataset (what ``embedview info`` prints)."""
    labels = dataset.label_counts()
    n_labelled = sum(labels.values())
    emb = dataset.embeddings
    return {
        "name": dataset.name,
        "modality": dataset.modality,
        "n_items": len(dataset),
        "n_files": len(set(dataset.sources)),
        "n_labelled": n_labelled,
        "n_labels": len(labels),
        "labels": labels,
        "dim": None if emb is None else int(emb.shape[1]),
        "has_texts": dataset.texts is not None,
        "metadata_columns": list(dataset.metadata),
        "n_problems": len(dataset.problems),
        "n_skipped": count_skipped(dataset.problems),  # items (rows, files), not problems; warnings apart
        "n_warnings": sum(p.severity == "warning" for p in dataset.problems),
        "problems": [str(p) for p in dataset.problems],
    }


def table_columns(path: PathArg) -> dict[str, Any]:
    """Columns of a table file and the guesses :func:`load_paths` would make.

    Returns ``dict(kind=..., columns=[...], text_guess=..., label_guess=..., id_guess=...)``;
    ``kind`` is ``"table"`` (csv/tsv/jsonl), ``"lines"`` (.txt, no columns), ``"vectors"``
    (numeric projector .tsv), ``"parquet"`` (adds ``vector_guess``) or ``"npz"`` (array keys).
    Raises :class:`LoadError` for missing, empty, unreadable or unsupported files.
    """
    path = Path(path)
    problems: list[LoadProblem] = []
    out: dict[str, Any] = {"kind": None, "columns": [], "text_guess": None, "label_guess": None, "id_guess": None}
    ext = path.suffix.lower()
    problem = _check_readable_file(path)
    if problem is None and ext not in TEXT_EXTENSIONS | COLUMNAR_EXTENSIONS | {".npz"}:
        problem = LoadProblem(str(path), f"not a table file ({ext or 'no extension'})")
    if problem is not None:
        raise LoadError(f"cannot read the columns of {path}", [problem])
    if ext == ".txt":
        out["kind"] = "lines"
    elif ext == ".tsv" and _is_numeric_tsv(path):
        out["kind"] = "vectors"
    elif ext in COLUMNAR_EXTENSIONS:
        schema = _columnar_schema(path, problems)
        if schema is not None:
            names = list(schema.names)
            vec = _pick_vector_column(schema, path, []) if _has_vector_column(schema) else None
            rest = [c for c in names if c != vec]
            out.update(kind="parquet", columns=names, vector_guess=vec, text_guess=_by_name(rest, TEXT_COLUMN_NAMES))
            out.update(label_guess=_by_name(rest, LABEL_COLUMN_NAMES), id_guess=_by_name(rest, ID_COLUMN_NAMES))
    elif ext == ".npz":
        try:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # our handle: closed on a bad zip
                out.update(kind="npz", columns=list(z.files))
        except Exception as exc:
            problems.append(LoadProblem(str(path), f"not a readable .npz file ({exc})"))
    else:
        table = _read_table(path, problems)
        if table is not None:
            text, label, ident = _guess_columns(table)
            out.update(kind="table", columns=table.columns, text_guess=text, label_guess=label, id_guess=ident)
    if out["kind"] is None:
        raise LoadError(f"cannot read the columns of {path}", problems)
    return out


# ==============================================================================================
# planning: what is each path, which loader, which modality
# ==============================================================================================

_MODALITY_WORDS = {"image": "images", "text": "text", "embedding": "precomputed embeddings"}


@dataclass
class _Job:
    """One unit of loading: a folder, a group of image files, or one file (plus its metadata)."""

    modality: str
    load: Callable[..., Dataset | None]
    paths: list[Path]
    meta: Path | None = None  # projector metadata for a vectors .tsv
    extra: dict[str, Any] = field(default_factory=dict)


_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path: Path, mode: int) -> LoadProblem | None:
    """A problem naming what ``path`` is when it is not a regular file (never opened: a FIFO
    would block, ``/dev/zero`` never ends)."""
    if stat.S_ISREG(mode):
        return None
    what = next((name for test, name in _SPECIAL_FILES if test(mode)), "not a regular file")
    via = " (through a symbolic link)" if os.path.islink(path) else ""
    return LoadProblem(str(path), f"{what}{via}, not a regular file; not opened")


def _check_readable_file(path: Path) -> LoadProblem | None:
    """Why ``path`` cannot be loaded as a file, from ``stat`` and one open for reading; None when it can.
    Special files (FIFOs, devices, sockets) are named and never opened."""
    if not os.path.lexists(path):
        return LoadProblem(str(path), "no such file or folder")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return LoadProblem(str(path), "broken symbolic link (its target does not exist)")
    except OSError as exc:
        return LoadProblem(str(path), f"cannot read file ({exc.strerror or exc})")
    if stat.S_ISDIR(st.st_mode):
        return LoadProblem(str(path), "is a folder, expected a file")
    special = _not_regular(path, st.st_mode)
    if special is not None:
        return special
    if st.st_size == 0:
        return LoadProblem(str(path), "empty file (0 bytes)")
    try:  # permission denied (or a lock) is found here, one named problem, not mid-load
        with open(path, "rb"):
            pass
    except OSError as exc:
        return LoadProblem(str(path), f"cannot open file ({exc.strerror or exc})")
    return None


def _plan(paths: list[Path], problems: list[LoadProblem]) -> list[_Job]:
    """Classify every path; pair projector vectors with their metadata; report the rest."""
    jobs: list[_Job] = []
    image_files: list[Path] = []
    vectors_tsv: list[Path] = []
    other_tsv: list[Path] = []
    for path in paths:
        if path.is_dir():
            hf = _hf_disk_jobs(path, problems)
            if hf is None:  # a Lance dataset or a folder of parquet shards: one dataset
                table = _columnar_folder_job(path)
                hf = None if table is None else [table]
            jobs.extend(hf if hf is not None else [_Job("image", _load_image_folder, [path])])
            continue
        problem = _check_readable_file(path)
        if problem is not None:
            problems.append(problem)
            continue
        ext = path.suffix.lower()
        if ext in IMAGE_EXTENSIONS:
            image_files.append(path)
        elif ext == ".tsv":
            (vectors_tsv if _is_numeric_tsv(path) else other_tsv).append(path)
        elif ext in TEXT_EXTENSIONS:
            jobs.append(_Job("text", _load_text_file, [path]))
        elif ext == ".npy":
            jobs.append(_Job("embedding", _load_npy, [path]))
        elif ext == ".npz":
            jobs.append(_Job("embedding", _load_npz, [path]))
        elif ext in COLUMNAR_EXTENSIONS:
            schema = _columnar_schema(path, [])
            text = schema is not None and not _has_vector_column(schema) and _has_string_column(schema)
            if text:
                jobs.append(_Job("text", _load_columnar_text, [path]))
            elif ext == ".parquet":
                jobs.append(_Job("embedding", _load_parquet, [path]))
            else:
                jobs.append(_Job("embedding", _load_arrow_embeddings, [path]))
        else:
            kinds = " ".join(sorted(SUPPORTED_EXTENSIONS))
            problems.append(
                LoadProblem(str(path),
                            f"unsupported file type {ext or '(no extension)'!r}; supported: {kinds}, or a folder")
            )
    if image_files:
        jobs.append(_Job("image", _load_image_files, image_files))

    metadata_given = [p for p in other_tsv if _looks_like_metadata(p)] if vectors_tsv else []
    for vec in vectors_tsv:
        meta = _find_metadata(vec, metadata_given, single=len(vectors_tsv) == 1)
        if meta is not None and meta in metadata_given:
            metadata_given.remove(meta)
        jobs.append(_Job("embedding", _load_vectors_tsv, [vec], meta=meta))
    for meta in metadata_given:
        problems.append(
            LoadProblem(
                str(meta),
                "metadata file not matched to any vectors file (name it like <vectors>_metadata.tsv); ignored",
                "warning",
            )
        )
    used = {j.meta for j in jobs if j.meta is not None}
    for path in other_tsv:
        if path not in used and path not in metadata_given:
            jobs.append(_Job("text", _load_text_file, [path]))
    return jobs


def _same_dimension(parts: list[Dataset], problems: list[LoadProblem]) -> list[Dataset]:
    """Keep the embedding files whose dimension matches the first one; report the others."""
    if not parts or parts[0].embeddings is None:
        return parts
    dim = parts[0].embeddings.shape[1]
    kept = []
    for part in parts:
        part_dim = dim if part.embeddings is None else part.embeddings.shape[1]
        if part_dim == dim:
            kept.append(part)
        else:
            problems.append(
                LoadProblem(
                    part.sources[0],
                    f"vectors have {part_dim} dimensions but {parts[0].sources[0]} has {dim}; skipped",
                )
            )
    return kept


# ==============================================================================================
# images
# ==============================================================================================


def _is_hidden(entry: os.DirEntry) -> bool:
    if entry.name.startswith("."):
        return True
    try:  # Windows "hidden" attribute
        return bool(entry.stat(follow_symlinks=False).st_file_attributes & stat.FILE_ATTRIBUTE_HIDDEN)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return False


def _scan_folder(root: Path, problems: list[LoadProblem]) -> list[Path]:
    """All image files under ``root`` (following symbolic links once, never in a loop)."""
    found: list[Path] = []
    ignored: Counter = Counter()
    try:
        st = root.stat()
    except OSError as exc:
        problems.append(LoadProblem(str(root), f"cannot read folder ({exc.strerror or exc})"))
        return found
    visited: dict[tuple[int, int], Path] = {(st.st_dev, st.st_ino): root}
    stack: list[tuple[Path, frozenset]] = [(root, frozenset([(st.st_dev, st.st_ino)]))]
    while stack:
        folder, ancestors = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(LoadProblem(str(folder), f"cannot read folder ({exc.strerror or exc})"))
            continue
        subfolders = []
        for entry in entries:
            if _is_hidden(entry):
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                is_dir = is_file = False
            if is_dir:
                try:
                    sst = entry.stat()
                except OSError as exc:
                    problems.append(LoadProblem(str(path), f"cannot read folder ({exc.strerror or exc})"))
                    continue
                key = (sst.st_dev, sst.st_ino)
                if key in ancestors:
                    problems.append(
                        LoadProblem(str(path), f"symbolic link loop (points back to {visited[key]}); not followed")
                    )
                elif key in visited:
                    problems.append(
                        LoadProblem(
                            str(path), f"same folder as {visited[key]} (through a symbolic link); not loaded twice",
                            "warning",
                        )
                    )
                else:
                    visited[key] = path
                    subfolders.append((path, ancestors | {key}))
            elif is_file:
                ext = os.path.splitext(entry.name)[1].lower()
                if ext in IMAGE_EXTENSIONS:
                    found.append(path)
                else:
                    ignored[ext or "(no extension)"] += 1
            else:  # not a file nor a folder: say what it is, never open it
                try:
                    mode = entry.stat().st_mode
                except FileNotFoundError:
                    problems.append(LoadProblem(str(path), "broken symbolic link (its target does not exist)"))
                    continue
                except OSError as exc:
                    problems.append(LoadProblem(str(path), f"cannot read ({exc.strerror or exc})"))
                    continue
                special = _not_regular(path, mode)
                if special is not None:
                    problems.append(special)
        stack.extend(reversed(subfolders))
    if ignored:
        kinds = ", ".join(f"{n} {ext}" for ext, n in sorted(ignored.items()))
        problems.append(LoadProblem(str(root), f"ignored {sum(ignored.values())} files that are not images ({kinds})",
                                    "warning"))
    found.sort(key=lambda p: p.relative_to(root).parts)
    return found


def _probe_all(
    files: list[Path], problems: list[LoadProblem], task: TaskState, max_pixels: int | None
) -> tuple[list[Path], list[int], list[int]]:
    """Header-check every file; return the good ones with their sizes."""
    good, widths, heights = [], [], []
    for i, path in enumerate(files):
        if i % 64 == 0:
            task.report(i, len(files), f"checking images {i}/{len(files)}")
        try:
            with capture_image_warnings() as warned:  # Pillow's warnings about this file, named
                w, h = probe_image(path, max_pixels=max_pixels)
        except ImageLoadError as exc:
            problems.append(LoadProblem(exc.path, exc.reason))
            continue
        except OSError as exc:  # permission denied, I/O error: this file only
            problems.append(LoadProblem(str(path), f"cannot open file ({exc.strerror or exc})"))
            continue
        finally:
            problems.extend(LoadProblem(str(path), f"warning while reading the header: {text}", "warning")
                            for text in warned)
        good.append(path)
        widths.append(w)
        heights.append(h)
    return good, widths, heights


def _load_image_folder(job: _Job, problems, task, columns, max_pixels) -> Dataset | None:
    root = job.paths[0]
    files = _scan_folder(root, problems)
    if not files:
        problems.append(LoadProblem(str(root), "no image files found in this folder"))
        return None
    good, widths, heights = _probe_all(files, problems, task, max_pixels)
    rel = [p.relative_to(root) for p in good]
    metadata: dict[str, Any] = {"width": widths, "height": heights}
    if _split_layout(rel):  # ROOT/<split>/<label>/...: the split is metadata, the label one level down
        metadata[SPLIT_COLUMN] = [r.parts[0] if len(r.parts) > 1 else None for r in rel]
        labels = np.array([r.parts[1] if len(r.parts) > 2 else None for r in rel], dtype=object)
    else:
        labels = np.array([r.parts[0] if len(r.parts) > 1 else None for r in rel], dtype=object)
    return Dataset(
        modality="image",
        ids=[r.as_posix() for r in rel],
        sources=[os.path.abspath(p) for p in good],
        labels=labels if any(lab is not None for lab in labels) else None,
        metadata=metadata,
        name=root.name or str(root),
    )


def _split_layout(rel: Sequence[Path]) -> bool:
    """True when every top-level folder holding images is named like a split (train, test, ...)."""
    tops = {r.parts[0] for r in rel if len(r.parts) > 1}
    return bool(tops) and all(t.lower() in SPLIT_NAMES for t in tops)


def _split_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` with its column named ``split`` in any case renamed to :data:`SPLIT_COLUMN`
    (the first such column; left as it is when ``split`` itself is there)."""
    if SPLIT_COLUMN in metadata:
        return metadata
    name = next((k for k in metadata if k.lower() == SPLIT_COLUMN), None)
    if name is None:
        return metadata
    return {(SPLIT_COLUMN if k == name else k): v for k, v in metadata.items()}


def _load_image_files(job: _Job, problems, task, columns, max_pixels) -> Dataset | None:
    good, widths, heights = _probe_all(job.paths, problems, task, max_pixels)
    if not good:
        return None
    absolute = [os.path.abspath(p) for p in good]
    try:  # ids relative to the deepest common folder
        base = os.path.commonpath([os.path.dirname(p) for p in absolute])
    except ValueError:  # files on different Windows drives: no common folder
        base = ""
    return Dataset(
        modality="image",
        ids=[Path(os.path.relpath(p, base) if base else p).as_posix() for p in absolute],
        sources=absolute,
        metadata={"width": widths, "height": heights},
        name=os.path.basename(base) or "images",
    )


# ==============================================================================================
# text
# ==============================================================================================


def _decode(path: Path, data: bytes, problems: list[LoadProblem]) -> str:
    """UTF-8 (with or without BOM; UTF-16 with a BOM), else cp1252, else latin-1 with a warning."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        try:
            text = data.decode(utf16)
        except UnicodeDecodeError:
            pass
        else:
            problems.append(LoadProblem(str(path), f"UTF-16 without a byte-order mark; read as {utf16.upper()}",
                                        "warning"))
            return text
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = f"byte 0x{data[exc.start]:02x} at offset {exc.start}"
    for encoding in ("cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        problems.append(
            LoadProblem(
                str(path),
                f"not valid UTF-8 ({where}); read as {encoding}, check that accented characters look right",
                "warning",
            )
        )
        return text
    raise AssertionError("latin-1 decodes any bytes")


def _utf16_without_bom(data: bytes, sample: int = 1 << 16) -> str | None:
    """``"utf-16-le"`` / ``"utf-16-be"`` when the bytes look like UTF-16 without a BOM: NUL bytes
    at most odd (LE) or even (BE) positions, as mostly-Latin text in UTF-16 has; else None.
    UTF-8 text holds no NUL bytes, so it is never taken for UTF-16."""
    head = data[: sample - (sample % 2)]
    if len(head) < 4 or len(data) % 2:
        return None
    half = len(head) // 2
    zeros_even, zeros_odd = head[0::2].count(0), head[1::2].count(0)
    if zeros_odd >= 0.3 * half and zeros_even <= 0.02 * half:
        return "utf-16-le"
    if zeros_even >= 0.3 * half and zeros_odd <= 0.02 * half:
        return "utf-16-be"
    return None


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _split_lines(text: str) -> list[str]:
    """Lines ended by ``\\n``, ``\\r\\n`` or a lone ``\\r`` (old Mac files), nothing else."""
    return _LINE_BREAK.split(text)


#: Reading a text file holds its bytes, its decoded text and its lines or rows (one Python string
#: per field) at once: this many times its size is checked against :func:`array_byte_limit` before
#: it is read.  Measured with tracemalloc on 40 copies of the 800 Debian descriptions (2.3 MB,
#: 32,000 short rows): the CSV peaked at 10.0x its size, the same file as .txt at 5.0x.
TEXT_MEMORY_FACTOR = 10


def _read_text(path: Path, problems: list[LoadProblem]) -> str | None:
    """The decoded text of ``path``; None (and a problem) when reading it whole would take more
    memory than :func:`array_byte_limit` allows."""
    size = path.stat().st_size
    if _too_big(path, f"its text ({_human_bytes(size)}, read whole)", size * TEXT_MEMORY_FACTOR, problems):
        return None
    with open(path, "rb") as fh:
        return _decode(path, fh.read(), problems)


def _rows_problem(path: Path, what: str, rows: list[str], severity: str = "skipped") -> LoadProblem:
    """One problem for many bad rows: how many, and the first :data:`MAX_LISTED` of them."""
    listed = "; ".join(rows[:MAX_LISTED])
    more = f"; and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    return LoadProblem(str(path), f"{len(rows)} {what}: {listed}{more}", severity, n_items=len(rows))


@dataclass
class _Table:
    """A parsed text table: column names, values per column (``None`` = empty), row line numbers."""

    columns: list[str]
    data: dict[str, list[Any]]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.lines)


def _clean_header(names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for i, name in enumerate(names):
        name = str(name).strip() or f"column_{i + 1}"
        base, k = name, 1
        while name in out:
            k += 1
            name = f"{base}_{k}"
        out.append(name)
    return out


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_table(path: Path, problems: list[LoadProblem]) -> _Table | None:
    """Parse a ``.csv`` / ``.tsv`` / ``.jsonl`` into a :class:`_Table`; None (+ problem) if unusable."""
    text = _read_text(path, problems)
    if text is None:
        return None
    if not text.strip():
        problems.append(LoadProblem(str(path), "empty file (no text in it)"))
        return None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _parse_jsonl(path, text, problems)
    return _parse_csv(path, text, problems)


#: The most characters one CSV field may hold (Python's csv module stops at 128 KiB by default):
#: a longer field is read, one over this is skipped with its row, named.
MAX_CSV_FIELD_CHARS = 16 << 20
#: A quoted field that runs over this many lines, each of which reads as a row of the table by
#: itself, is taken for a quote left open even if the csv module closes it at a later quote.
RUNAWAY_QUOTE_LINES = 20


def _parse_csv(path: Path, text: str, problems: list[LoadProblem]) -> _Table | None:
    """Rows of a CSV / TSV.  One bad row is one named problem: a field over
    :data:`MAX_CSV_FIELD_CHARS`, a wrong number of fields, and a quote left open (at the end of
    the file, or in the middle where it swallows the following rows into one field until some
    later quote closes it: see :func:`_runaway_quote`) -- the line where it opened is skipped and
    the lines after it are read as rows again."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(_split_lines(text[:1 << 16])[0])
    physical = io.StringIO(text, newline="").readlines()  # the lines as the csv reader sees them
    csv.field_size_limit(MAX_CSV_FIELD_CHARS)  # process-wide; every reader here sets it the same
    base = 0  # physical lines before the current reader's first line (after an unclosed quote)
    reader = csv.reader(iter(physical), delimiter=delimiter)
    header: list[str] | None = None
    bad: list[str] = []
    rows: list[list[str]] = []
    lines: list[int] = []
    while True:
        start = base + reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a field over the limit: this row only
            if "field larger than field limit" in str(exc):
                bad.append(f"line {start} (a field longer than {MAX_CSV_FIELD_CHARS:,} characters, "
                           f"the most one field may hold)")
            else:
                bad.append(f"line {start} ({exc})")
            continue
        end = base + reader.line_num
        runaway = end > start and (
            (end == len(physical) and _unclosed_quote("".join(physical[start - 1 : end]), delimiter))
            or (header is not None and _runaway_quote(physical[start - 1 : end], delimiter, len(header))))
        if runaway:
            # a quote opened on line ``start`` is never closed where it should be: it swallowed the
            # later lines into one text.  Skip that line and read on from the next one.
            if end == len(physical):
                bad.append(f"line {start} (a quote opened here is never closed)")
            else:
                swallowed = f"lines {start + 1}-{end}" if end > start + 1 else f"line {end}"
                bad.append(f"line {start} (a quote opened here is not closed on its line; it swallowed {swallowed} "
                           "into one field, read as rows again)")
            base = start
            reader = csv.reader(iter(physical[start:]), delimiter=delimiter)
            continue
        if not any(field.strip() for field in row):
            continue  # blank line
        if header is None:
            header = _clean_header(row)
            continue
        if len(row) != len(header):
            bad.append(f"line {start} ({len(row)} fields, the header has {len(header)})")
            continue
        rows.append(row)
        lines.append(start)
    if header is None:
        problems.append(LoadProblem(str(path), "empty file (no header row)"))
        return None
    if bad:
        problems.append(_rows_problem(path, "rows skipped (wrong number of fields, or unreadable)", bad))
    if not rows:
        problems.append(LoadProblem(str(path), f"no data rows, only a header ({', '.join(header)})"))
        return None
    columns = zip(header, zip(*rows, strict=False), strict=False)
    data = {name: [(v if v.strip() else None) for v in col] for name, col in columns}
    return _Table(header, data, lines)


def _unclosed_quote(record: str, delimiter: str) -> bool:
    """True when the raw text of a record ends inside a quoted field (the strict reader says so)."""
    try:
        for _ in csv.reader(io.StringIO(record, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _strict_one_record(record: str, delimiter: str) -> bool:
    """True when the raw text is exactly one well-formed record (every quote where CSV allows it)."""
    try:
        return len(list(csv.reader(io.StringIO(record, newline=""), delimiter=delimiter, strict=True))) == 1
    except csv.Error:
        return False


def _runaway_quote(raw_lines: Sequence[str], delimiter: str, width: int) -> bool:
    """Whether a record spanning ``raw_lines`` is a quote left open mid-file rather than a quoted
    field with line breaks.

    A field quoted on purpose is well-formed (its closing quote is followed by a delimiter or the
    line's end) and its inner lines are prose.  An open quote swallows the following rows until
    some later quote "closes" it -- usually the opening quote of a later field, followed by text,
    which is not well-formed -- and every swallowed line reads as a row of the table by itself.
    So: the inner lines mostly read as rows of ``width`` fields, and the record is malformed or
    runs over :data:`RUNAWAY_QUOTE_LINES` such lines.  Tables of one column cannot tell.
    """
    if width < 2:
        return False
    inner = [line for line in raw_lines[1:] if line.strip()]
    if not inner:
        return False
    rowlike = sum(len(next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter), [])) == width for line in inner)
    if rowlike < 0.5 * len(inner):
        return False
    if not _strict_one_record("".join(raw_lines), delimiter):
        return True
    return len(inner) >= RUNAWAY_QUOTE_LINES and rowlike >= 0.9 * len(inner)


def _parse_jsonl(path: Path, text: str, problems: list[LoadProblem]) -> _Table | None:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    bad: list[str] = []
    columns: dict[str, None] = {}
    for lineno, line in enumerate(_split_lines(text), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append(f"line {lineno} ({exc.msg})")
            continue
        except RecursionError:  # nested deeper than Python's parser goes: this line only
            bad.append(f"line {lineno} (nested too deeply)")
            continue
        if isinstance(obj, str):
            obj = {"text": obj}
        if not isinstance(obj, dict):
            bad.append(f"line {lineno} (a JSON {type(obj).__name__}, expected an object)")
            continue
        for key in obj:
            columns.setdefault(str(key), None)
        records.append({str(k): v for k, v in obj.items()})
        lines.append(lineno)
    if bad:
        problems.append(_rows_problem(path, "lines skipped that are not valid JSON objects", bad))
    if not records:
        problems.append(LoadProblem(str(path), "no valid JSON lines"))
        return None

    def cell(v: Any) -> Any:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        return json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v

    data = {c: [cell(r.get(c)) for r in records] for c in columns}
    return _Table(list(columns), data, lines)


def _by_name(columns: Sequence[str], candidates: Sequence[str]) -> str | None:
    """The first of ``candidates`` present in ``columns`` (case-insensitive)."""
    lower = {c.lower(): c for c in reversed(list(columns))}
    for name in candidates:
        if name in lower:
            return lower[name]
    return None


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def _guess_columns(table: _Table, sample: int = 2000) -> tuple[str | None, str | None, str | None]:
    """(text, label, id) column guesses: by name, else text = longest mostly-non-numeric strings."""
    label = _by_name(table.columns, LABEL_COLUMN_NAMES)
    ident = _by_name(table.columns, ID_COLUMN_NAMES)
    text = _by_name([c for c in table.columns if c not in (label, ident)], TEXT_COLUMN_NAMES)
    if text is None:
        best = 0.0
        for col in table.columns:
            if col in (label, ident) or col.lower() == SPLIT_COLUMN:
                continue
            values = [v for v in table.data[col][:sample] if v is not None]
            strings = [v for v in values if isinstance(v, str) and not _is_number(v)]
            if not strings or len(strings) < 0.5 * len(values):
                continue
            mean_len = sum(map(len, strings)) / len(strings)
            if mean_len > best:
                text, best = col, mean_len
    return text, label, ident


def _resolve_column(
    path: Path,
    columns: Sequence[str],
    wanted: str | None,
    guess: str | None,
    role: str,
    problems: list[LoadProblem],
    severity: str = "warning",
) -> tuple[str | None, bool]:
    """(column, ok): the asked-for column if present, else the guess; ok=False if asked but missing."""
    if wanted is None:
        return guess, True
    if wanted in columns:
        return wanted, True
    match = _by_name(columns, [wanted.lower()])
    if match is not None:
        return match, True
    problems.append(LoadProblem(str(path), f"{role} column {wanted!r} not found; columns are: {', '.join(columns)}",
                                severity))
    return None, False


def _label_array(values: Sequence[Any]) -> np.ndarray | None:
    """Per-item labels as an object array of ``str`` / ``None`` (None for empty and NaN)."""
    out = np.empty(len(values), dtype=object)
    any_label = False
    for i, v in enumerate(values):
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if isinstance(v, (float, np.floating)) and not np.isfinite(v):
            v = None
        if v is None or (isinstance(v, str) and not v.strip()):
            out[i] = None
            continue
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        out[i] = str(v).strip() if isinstance(v, str) else str(v)
        any_label = True
    return out if any_label else None


def _unique_ids(ids: list[str], path: Path, problems: list[LoadProblem]) -> list[str]:
    """Make ids unique (``x``, ``x#2``, ...), with a warning when the id column repeated values."""
    seen: set = set()
    out: list[str] = []
    repeated = 0
    for x in ids:
        if x in seen:
            repeated += 1
            x = unique_id(x, seen)
        seen.add(x)
        out.append(x)
    if repeated:
        problems.append(LoadProblem(str(path), f"{repeated} repeated ids were made unique with a #n suffix", "warning"))
    return out


def _load_text_file(job: _Job, problems, task, columns, max_pixels) -> Dataset | None:
    path = job.paths[0]
    if path.suffix.lower() == ".txt":
        return _load_txt(path, problems)
    table = _read_table(path, problems)
    if table is None:
        return None
    return _dataset_from_table(path, table, problems, **columns)


def _load_txt(path: Path, problems: list[LoadProblem]) -> Dataset | None:
    text = _read_text(path, problems)
    if text is None:
        return None
    ids: list[str] = []
    texts: list[str | None] = []
    for lineno, line in enumerate(_split_lines(text), start=1):
        line = line.strip()
        if line:
            ids.append(f"{path.name}:{lineno}")
            texts.append(line)
    if not texts:
        problems.append(LoadProblem(str(path), "empty file (no non-empty lines)"))
        return None
    source = os.path.abspath(path)
    return Dataset(modality="text", ids=ids, sources=[source] * len(ids), texts=texts, name=path.name)


def _dataset_from_table(
    path: Path,
    table: _Table,
    problems: list[LoadProblem],
    text_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
) -> Dataset | None:
    text_guess, label_guess, id_guess = _guess_columns(table)
    text_col, ok = _resolve_column(path, table.columns, text_column, text_guess, "text", problems, "skipped")
    if not ok:
        return None
    if text_col is None:
        problems.append(
            LoadProblem(
                str(path),
                f"no text column found (columns are: {', '.join(table.columns)}); choose one with text_column",
            )
        )
        return None
    label_col, _ = _resolve_column(path, table.columns, label_column, label_guess, "label", problems)
    id_col, _ = _resolve_column(path, table.columns, id_column, id_guess, "id", problems)
    label_col = None if label_col == text_col else label_col
    id_col = None if id_col in (text_col, label_col) else id_col

    values = table.data[text_col]
    keep = [i for i, v in enumerate(values) if v is not None and str(v).strip()]
    if len(keep) < len(values):
        empty = [f"line {table.lines[i]}" for i, v in enumerate(values) if v is None or not str(v).strip()]
        problems.append(_rows_problem(path, f"rows skipped with an empty {text_col!r}", empty))
    if not keep:
        return None
    lines = [table.lines[i] for i in keep]
    if id_col is not None:
        raw = table.data[id_col]
        ids = [f"{path.name}:{table.lines[i]}" if raw[i] is None else str(raw[i]) for i in keep]
        ids = _unique_ids(ids, path, problems)
    else:
        ids = [f"{path.name}:{n}" for n in lines]
    labels = _label_array([table.data[label_col][i] for i in keep]) if label_col else None
    metadata = {c: [table.data[c][i] for i in keep] for c in table.columns if c not in (text_col, label_col, id_col)}
    metadata = _split_metadata(metadata)
    return Dataset(
        modality="text",
        ids=ids,
        sources=[os.path.abspath(path)] * len(keep),
        labels=labels,
        texts=[str(values[i]).strip() for i in keep],
        metadata=metadata,
        name=path.name,
    )


# ==============================================================================================
# precomputed embeddings
# ==============================================================================================


def _nonfinite_rows(x: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """Indices of rows holding NaN or infinity, checked in chunks (no full-size temporary)."""
    bad = []
    for start in range(0, x.shape[0], chunk):
        ok = np.isfinite(x[start : start + chunk]).all(axis=1)
        if not ok.all():
            bad.append(np.flatnonzero(~ok) + start)
    return np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)


def _row_name(row: int) -> str:
    return f"row {row}"


def _as_float_matrix(path: Path, x: np.ndarray, problems: list[LoadProblem]) -> np.ndarray | None:
    """Validate shape and dtype; float32 C-contiguous input passes through untouched (no copy)."""
    if x.ndim != 2:
        hint = " (a single vector? save it with shape (1, D))" if x.ndim == 1 else ""
        problems.append(
            LoadProblem(str(path),
                        f"{x.ndim}-D array of shape {x.shape}; expected a 2-D matrix (items x dimensions){hint}")
        )
        return None
    if x.dtype.kind not in "fiu":
        problems.append(LoadProblem(str(path), f"array of {x.dtype} values; expected numbers"))
        return None
    if x.shape[0] == 0 or x.shape[1] == 0:
        problems.append(LoadProblem(str(path), f"no vectors in it (shape {x.shape})"))
        return None
    if x.dtype != np.float32 or not x.flags.c_contiguous:
        wide = x
        with np.errstate(over="ignore", invalid="ignore"):  # said below, naming the file, not by numpy
            x = np.ascontiguousarray(x, dtype=np.float32)  # the one copy
        if wide.dtype.kind == "f" and wide.dtype.itemsize > 4 and np.isinf(x).any():
            overflowed = np.isinf(x) & np.isfinite(wide)
            rows = np.flatnonzero(overflowed.any(axis=1))
            if len(rows):
                problems.append(LoadProblem(
                    str(path), f"{int(overflowed.sum()):,} value(s) in {len(rows):,} row(s) lie beyond float32's "
                               f"range (about \u00b13.4e38; first: row {int(rows[0])}) and become infinite",
                    "warning"))
    return x


def _embedding_dataset(
    path: Path,
    vectors: np.ndarray,
    problems: list[LoadProblem],
    *,
    rows: np.ndarray | None = None,
    ids: Sequence[Any] | None = None,
    labels: Sequence[Any] | None = None,
    sources: list[str] | None = None,
    texts: Sequence[Any] | None = None,
    metadata: dict[str, Any] | None = None,
    nonfinite: np.ndarray | None = None,
    row_name: Callable[[int], str] = _row_name,
) -> Dataset | None:
    """Build an embedding dataset; rows with NaN/inf are dropped (with a problem) everywhere.

    ``vectors`` has one row per kept item; ``rows`` are their original row numbers (for ids and
    messages, default 0..N-1, counted from 0); the per-item columns (ids, labels, ...) are
    aligned with ``vectors``.  ``nonfinite`` may pass already-found non-finite rows (positions
    in ``vectors``); ``row_name`` words a row number for messages ("row 7", "line 8").
    """
    n = vectors.shape[0]
    rows = np.arange(n) if rows is None else rows
    bad = _nonfinite_rows(vectors) if nonfinite is None else nonfinite
    columns: dict[str, Any] = dict(metadata or {})
    if len(bad):
        listed = [row_name(int(r)) for r in rows[bad]]
        problems.append(_rows_problem(path, "vectors skipped that contain NaN or infinity", listed))
        keep = np.ones(n, dtype=bool)
        keep[bad] = False
        vectors = vectors[keep]
        rows = rows[keep]

        def take(col):
            if col is None:
                return None
            return col[keep] if isinstance(col, np.ndarray) else [v for v, k in zip(col, keep, strict=False) if k]

        ids, labels, sources, texts = take(ids), take(labels), take(sources), take(texts)
        columns = {k: take(v) for k, v in columns.items()}
    if vectors.shape[0] == 0:
        problems.append(LoadProblem(str(path), "no usable vectors left"))
        return None
    if ids is None:
        id_list = [str(int(r)) for r in rows]
    else:
        id_list = _unique_ids([str(int(r)) if v is None else str(v) for v, r in zip(ids, rows, strict=False)], path,
                              problems)
    src = os.path.abspath(path)
    columns = _split_metadata(columns)
    return Dataset(
        modality="embedding",
        ids=id_list,
        sources=[src] * len(id_list) if sources is None else [s if s else src for s in sources],
        labels=None if labels is None else _label_array(labels),
        texts=None if texts is None else [None if t is None else str(t) for t in texts],
        metadata=columns,
        embeddings=vectors,
        name=path.name,
    )


def _split_named_columns(
    path: Path, data: dict[str, Any], columns: dict[str, str | None], problems: list[LoadProblem]
) -> dict[str, Any]:
    """Pop the id / label / text columns out of ``data`` (asked for, else recognised by name).

    Returns ``{"ids": ..., "labels": ..., "texts": ...}`` with the ones found; whatever stays
    in ``data`` is metadata.
    """
    out: dict[str, Any] = {}
    roles = (("ids", "id", ID_COLUMN_NAMES), ("labels", "label", LABEL_COLUMN_NAMES),
             ("texts", "text", TEXT_COLUMN_NAMES))
    for key, role, names in roles:
        name, _ = _resolve_column(path, list(data), columns.get(f"{role}_column"), _by_name(list(data), names), role,
                                  problems)
        if name is not None:
            out[key] = data.pop(name)
    return out


def _column_values(values: Any) -> Any:
    """Numpy arrays of strings/bytes become lists of str; numeric arrays stay arrays."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "SUO":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values.tolist()]
    return values


def _npy_header(fp) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) from a ``.npy`` header, nothing else read."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)
    return np.lib.format.read_array_header_2_0(fp)  # 2.0 and 3.0 (utf-8 names) share the layout


def _npy_bytes(shape: tuple[int, ...], fortran: bool, dtype: np.dtype) -> int:
    """Bytes an array of this header costs in memory once loaded as the float32 matrix: its own
    data (when it is read, not mapped) is counted by the caller; this adds the float32 copy."""
    n = math.prod(int(d) for d in shape)
    return n * 4 if (dtype != np.float32 or fortran) else 0


def _npz_member_bytes(z: Any, key: str) -> int:
    """Bytes reading member ``key`` of an open ``NpzFile`` allocates (header shape, not data),
    plus its float32 copy when it is a 2-D matrix of another type."""
    names = set(z.zip.namelist())
    member = key + ".npy" if key + ".npy" in names else key
    try:
        with z.zip.open(member) as fp:
            shape, fortran, dtype = _npy_header(fp)
    except Exception:  # not an .npy member: np.load returns its raw bytes
        return int(z.zip.getinfo(member).file_size)
    data = math.prod(int(d) for d in shape) * dtype.itemsize
    return data + (_npy_bytes(shape, fortran, dtype) if len(shape) == 2 else 0)


def _load_npy(job: _Job, problems, task, columns, max_pixels) -> Dataset | None:
    path = job.paths[0]
    try:  # the header first: a declared size over the limit, or past the end of the file, is not read
        with open(path, "rb") as fh:
            shape, fortran, dtype = _npy_header(fh)
            offset = fh.tell()
    except Exception:
        pass  # np.load below says what is wrong
    else:
        if not dtype.hasobject:
            data = math.prod(int(d) for d in shape) * dtype.itemsize
            held = path.stat().st_size - offset
            if data > held:
                problems.append(LoadProblem(str(path), f"truncated: its header declares an array of shape {shape} "
                                                       f"({_human_bytes(data)}) but the file holds "
                                                       f"{_human_bytes(held)}"))
                return None
            if _too_big(path, f"array of shape {shape} ({dtype}, copied as float32)",
                        _npy_bytes(shape, fortran, dtype), problems):
                return None
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        problems.append(LoadProblem(str(path), f"not a numeric array ({exc})"))
        return None
    except Exception as exc:
        problems.append(LoadProblem(str(path), f"not a readable .npy file ({type(exc).__name__}: {exc})"))
        return None
    x = _as_float_matrix(path, x, problems)
    if x is None:
        return None
    task.report(1, 2, f"checking {path.name} for NaN")
    return _embedding_dataset(path, x, problems)


def _load_npz(job: _Job, problems, task, columns, max_pixels) -> Dataset | None:
    path = job.paths[0]
    arrays: dict[str, np.ndarray] = {}
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # our handle: closed on a bad zip
            sizes = {key: _npz_member_bytes(z, key) for key in z.files}  # declared, before reading any
            biggest = max(sizes, key=lambda k: sizes[k]) if sizes else None
            if biggest is not None and _too_big(path, f"its arrays (the largest: {biggest!r}, "
                                                      f"{_human_bytes(sizes[biggest])})", sum(sizes.values()),
                                                problems):
                return None
            for key in z.files:
                try:
                    arrays[key] = z[key]
                except ValueError as exc:
                    problems.append(LoadProblem(str(path), f"array {key!r} ignored ({exc})", "warning"))
    except Exception as exc:
        problems.append(LoadProblem(str(path), f"not a readable .npz file ({type(exc).__name__}: {exc})"))
        return None
    if not arrays:
        problems.append(LoadProblem(str(path), "no arrays in it"))
        return None
    matrices = [k for k, a in arrays.items() if a.ndim == 2]
    key = _by_name([k for k in arrays if arrays[k].ndim == 2], VECTOR_COLUMN_NAMES)
    if key is None and len(matrices) == 1:
        key = matrices[0]
    if key is None:
        shapes = ", ".join(f"{k} {arrays[k].shape}" for k in arrays)
        what = "several 2-D arrays" if matrices else "no 2-D array"
        problems.append(
            LoadProblem(str(path), f"{what} and none named 'embeddings' or 'vectors'; arrays are: {shapes}")
        )
        return None
    x = _as_float_matrix(path, arrays.pop(key), problems)
    if x is None:
        return None
    n = x.shape[0]
    extra: dict[str, Any] = {}
    for k, a in arrays.items():
        if a.ndim == 1 and len(a) == n:
            extra[k] = a
        elif a.ndim == 1:
            problems.append(LoadProblem(str(path), f"array {k!r} has {len(a)} entries for {n} vectors; ignored",
                                        "warning"))
        else:
            problems.append(LoadProblem(str(path), f"array {k!r} of shape {a.shape} ignored (not one value per vector)",
                                        "warning"))

    extra = {k: _column_values(v) for k, v in extra.items()}
    named = _split_named_columns(path, extra, columns, problems)
    source_key = _by_name(list(extra), SOURCE_COLUMN_NAMES)
    if source_key is not None:  # relative paths are relative to the .npz file's folder
        folder = os.path.dirname(os.path.abspath(path))
        named["sources"] = [os.path.join(folder, str(s)) if s is not None else None for s in extra.pop(source_key)]
    return _embedding_dataset(path, x, problems, metadata=extra, **named)


# -- parquet -------------------------------------------------------------------------------------


def _parquet_schema(path: Path, problems: list[LoadProblem]):
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path, memory_map=True)
    except Exception as exc:
        problems.append(LoadProblem(str(path), f"not a readable parquet file ({type(exc).__name__}: {exc})"))
        return None


def _is_vector_type(t) -> bool:
    import pyarrow as pa

    if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
        return False
    v = t.value_type
    return pa.types.is_floating(v) or pa.types.is_integer(v)


def _pick_vector_column(schema, path: Path, problems: list[LoadProblem], hint: str = "") -> str | None:
    candidates = [f.name for f in schema if _is_vector_type(f.type)]
    name = _by_name(candidates, VECTOR_COLUMN_NAMES)
    if name is None and len(candidates) == 1:
        name = candidates[0]
    if name is None:
        cols = ", ".join(f"{f.name} ({f.type})" for f in schema)
        what = (f"several vector columns ({', '.join(candidates)}) and none named 'embedding'" if candidates
                else "no vector column (a list of numbers per row)")
        problems.append(LoadProblem(str(path), f"{what}; columns are: {cols}{hint}"))
    return name


def _list_batch(arr, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One arrow list array -> (vectors of the good rows, good mask, ragged mask).

    Fixed-size lists of float32 without nulls are viewed, not copied.
    """
    import pyarrow as pa

    n = len(arr)
    valid = np.ones(n, dtype=bool) if arr.null_count == 0 else arr.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_fixed_size_list(arr.type):
        flat = arr.values.slice(arr.offset * dim, n * dim).to_numpy(zero_copy_only=False)  # a view when it can
        mat = flat.reshape(n, dim)
        ragged = np.zeros(n, dtype=bool)
        return (mat if valid.all() else mat[valid]), valid, ragged
    offsets = arr.offsets.to_numpy()
    lengths = np.diff(offsets)
    ragged = valid & (lengths != dim)
    good = valid & ~ragged
    flat = arr.values.to_numpy(zero_copy_only=False)
    if good.all():
        mat = flat[offsets[0] : offsets[-1]].reshape(n, dim)
    else:
        starts = offsets[:-1][good]
        mat = flat[starts[:, None] + np.arange(dim)]
    return mat, good, ragged


def _common_list_length(arrays: Iterable[Any]) -> int:
    """The most common length of a variable-length list column (its dimension), from the first batch with one."""
    for arr in arrays:
        lengths = np.diff(arr.offsets.to_numpy())
        if arr.null_count:
            lengths = lengths[arr.is_valid().to_numpy(zero_copy_only=False)]
        lengths = lengths[lengths > 0]
        if len(lengths):
            values, counts = np.unique(lengths, return_counts=True)
            return int(values[np.argmax(counts)])
    return 0


def _read_vectors(path: Path, arrays: Iterable[Any], n: int, dim: int, vec: str, problems: list[LoadProblem],
                  task: TaskState) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The list arrays of column ``vec`` (batch by batch) -> ``(vectors, kept rows, non-finite rows)``,
    filled into one preallocated float32 matrix; empty and ragged rows become problems."""
    out = np.empty((n, dim), dtype=np.float32)  # filled batch by batch: the one copy
    kept_rows: list[np.ndarray] = []
    nonfinite: list[np.ndarray] = []
    nulls: list[str] = []
    ragged_rows: list[str] = []
    written = start = 0
    for arr in arrays:
        task.report(start, n, f"reading {path.name}")
        mat, good, ragged = _list_batch(arr, dim)
        nulls.extend(f"row {start + i}" for i in np.flatnonzero(~good & ~ragged))
        if ragged.any():
            lengths = np.diff(arr.offsets.to_numpy())
            ragged_rows.extend(f"row {start + i} ({lengths[i]} values, expected {dim})" for i in np.flatnonzero(ragged))
        k = len(mat)
        out[written : written + k] = mat
        nonfinite.append(_nonfinite_rows(out[written : written + k]) + written)
        kept_rows.append(np.flatnonzero(good) + start)
        written += k
        start += len(arr)
    if nulls:
        problems.append(_rows_problem(path, f"rows skipped with an empty {vec!r}", nulls))
    if ragged_rows:
        problems.append(_rows_problem(path, "rows skipped with the wrong number of values", ragged_rows))
    if written == 0:
        problems.append(LoadProblem(str(path), f"no usable vectors in column {vec!r}"))
        return None
    return out[:written], np.concatenate(kept_rows), np.concatenate(nonfinite)


def _other_columns(table, rows: np.ndarray, n: int) -> dict[str, Any]:
    """The columns of an arrow ``table`` as numpy arrays or lists, only the ``rows`` kept."""
    cols: dict[str, Any] = {}
    for name in table.column_names:
        col = table.column(name)
        try:
            values = col.to_numpy()
        except Exception:  # nested types numpy cannot hold: one Python object per row
            values = np.empty(len(col), dtype=object)
            for i, v in enumerate(col.to_pylist()):
                values[i] = v
        values = values[rows] if len(rows) < n else values
        cols[name] = _column_values(values)
    return cols


def _no_vector_hint(schema, features: dict[str, Any]) -> str:
    """Why a columnar file without a vector column cannot load, when the reason is an image column."""
    images = [name for name, f in features.items() if isinstance(f, dict) and f.get("_type") == "Image"]
    if images:
        return (f"; column {images[0]!r} holds encoded images (a Hugging Face Image feature): "
                "embedview reads images from files -- save them to a folder (one sub-folder per label) and open it")
    return ""


def _load_parquet(job: _Job, problems, task, columns, max_pixels) -> Dataset | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = job.paths[0]
    schema = _parquet_schema(path, problems)
    if schema is None:
        return None
    features = _hf_features(schema)
    vec = _pick_vector_column(schema, path, problems, hint=_no_vector_hint(schema, features))
    if vec is None:
        return None
    # Streamed batch by batch into one preallocated matrix.  pyarrow still decodes a whole row
    # group's column at once, so a file written as one row group peaks at ~2.1x the matrix
    # (benchmarks/bench_load.py; pyarrow's own read_table + to_numpy: 4.9x); its memory pool
    # keeps those pages afterwards unless told to give them back (see the end).
    pf = pq.ParquetFile(path, memory_map=False, buffer_size=1 << 20, pre_buffer=False)
    n = pf.metadata.num_rows
    meta = pf.metadata
    declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))  # uncompressed
    if _too_big(path, f"its {n:,} rows (uncompressed)", declared, problems):
        return None
    if n == 0:
        problems.append(LoadProblem(str(path), "no rows in it"))
        return None
    vtype = schema.field(vec).type
    dim = vtype.list_size if pa.types.is_fixed_size_list(vtype) else _common_list_length(
        b.column(0) for b in pf.iter_batches(batch_size=1024, columns=[vec]))
    if not dim:
        problems.append(LoadProblem(str(path), f"column {vec!r} holds no vectors (all rows empty)"))
        return None
    if _too_big(path, f"column {vec!r} ({n:,} rows x {dim} values, as float32)", n * dim * 4, problems):
        return None
    batch_rows = max(1024, (32 << 20) // (4 * dim))  # ~32 MB of float32 per batch
    got = _read_vectors(path, (b.column(0) for b in pf.iter_batches(batch_size=batch_rows, columns=[vec])), n, dim,
                        vec, problems, task)
    if got is None:
        return None
    vectors, rows, nonfinite = got
    others = [name for name in schema.names if name != vec]
    try:
        cols = _other_columns(_read_parquet_bounded(path, problems, others), rows, n) if others else {}
    except _ArrowTooBig:
        return None
    _name_classes(path, cols, _class_names(features), problems)
    named = _split_named_columns(path, cols, columns, problems)
    del pf
    pa.default_memory_pool().release_unused()  # arrow's decoded pages, freed but kept by its allocator
    return _embedding_dataset(path, vectors, problems, rows=rows, metadata=cols, nonfinite=nonfinite, **named)


# -- folders of parquet shards and Lance datasets: one dataset, vectors memory-mapped ----------------
#
# A folder of ``*.parquet`` shards (``part-00000.parquet`` ..., hive ``key=value`` folders too) or a
# Lance dataset opens as ONE dataset: the first shard with a vector column sets the schema (vector
# column, dimension, columns); a shard that differs is a named problem and the rest loads.  The
# vectors are read batch by batch into one float32 ``.npy`` in the cache folder
# (:class:`~embedview.core.shards.VectorStore`), reused while the shards are unchanged, and opened as
# a read-only memory map.  Rule for size: the vectors are NOT held to :func:`array_byte_limit` (they
# are not in memory); they need the free disk space instead (:func:`shards.disk_problem`).  The id,
# label, text and metadata columns ARE in memory and stay under :func:`array_byte_limit` (declared
# uncompressed size for parquet, counted while read for Lance); strings are kept packed
# (:class:`~embedview.core.shards.PackedStrings`), not as one Python object per item.


@dataclass
class _Shard:
    """One part of a sharded dataset: where its problems point, its schema and rows, and how to read it."""

    path: Path
    schema: Any
    rows: int
    batches: Callable[[list[str], int], Iterable[Any]]  # (columns, batch rows) -> record batches
    partition: dict[str, str] = field(default_factory=dict)
    column_bytes: Callable[[list[str]], int] | None = None  # declared uncompressed bytes of some columns


def _columnar_folder_job(folder: Path) -> _Job | None:
    """A job for a Lance dataset or a folder of parquet shards (``None`` for anything else)."""
    kind = shards.folder_kind(folder, IMAGE_EXTENSIONS)
    if kind == "lance":
        return _Job("embedding", _load_lance, [folder])
    if kind == "parquet":
        files = shards.find_parquet_shards(folder)
        schema = next((sc for sc in (_parquet_schema(f, []) for f in files[:1]) if sc is not None), None)
        if schema is not None and not _has_vector_column(schema) and _has_string_column(schema):
            # texts in shards (a Hugging Face hub folder, a Spark export of documents): one table
            return _Job("text", _load_columnar_text, files, extra={"folder": folder, "name": folder.name})
        return _Job("embedding", _load_parquet_shards, [folder])
    return None


def _parquet_shard(path: Path, root: Path, problems: list[LoadProblem]) -> _Shard | None:
    import pyarrow.parquet as pq

    bad = _check_readable_file(path)
    if bad is not None:
        problems.append(bad)
        return None
    try:
        meta = pq.read_metadata(path)  # the footer only; no file stays open between reads
        schema = meta.schema.to_arrow_schema()
    except Exception as exc:
        problems.append(LoadProblem(str(path), f"not a readable parquet file ({type(exc).__name__}: {exc}); skipped"))
        return None

    def batches(cols: list[str], rows: int) -> Iterator[Any]:
        pf = pq.ParquetFile(path, memory_map=False, buffer_size=1 << 20, pre_buffer=False)
        try:
            yield from pf.iter_batches(batch_size=rows, columns=cols)
        finally:
            pf.close()

    def column_bytes(cols: list[str]) -> int:
        wanted = set(cols)
        total = 0
        for i in range(meta.num_row_groups):
            rg = meta.row_group(i)
            for j in range(rg.num_columns):
                col = rg.column(j)
                if col.path_in_schema.split(".")[0] in wanted:
                    total += col.total_uncompressed_size
        return total

    return _Shard(path, schema, meta.num_rows, batches, shards.hive_partitions(path, root), column_bytes)


def _load_parquet_shards(job: _Job, problems, task, columns, max_pixels) -> Dataset | None:
    root = job.paths[0]
    files = shards.find_parquet_shards(root)
    parts = [s for s in (_parquet_shard(f, root, problems) for f in files) if s is not None]
    return _sharded_dataset(root, parts, problems, task, columns)


def _load_lance(job: _Job, problems, task, columns, max_pixels) -> Dataset | None:
    root = job.paths[0]
    try:
        import lance
    except ImportError:
        problems.append(LoadProblem(str(root), "a Lance dataset: reading it needs the pylance package -- "
                                               "pip install 'embedview[lance]' (or pip install pylance)"))
        return None
    try:
        ds = lance.dataset(str(root))
        schema, rows = ds.schema, ds.count_rows()
    except Exception as exc:
        problems.append(LoadProblem(str(root), f"not a readable Lance dataset ({type(exc).__name__}: {exc})"))
        return None

    def batches(cols: list[str], n: int) -> Iterable[Any]:
        # in order (vectors and ids are read in two scans and must line up); little read ahead,
        # so memory stays near one batch instead of Lance's default I/O buffer (gigabytes)
        return ds.to_batches(columns=cols, batch_size=n, scan_in_order=True, batch_readahead=2,
                             fragment_readahead=1, io_buffer_size=64 << 20)

    files = [Path(d, f) for d, _, fs in os.walk(root) for f in fs]  # data, manifests: any change, new key
    return _sharded_dataset(root, [_Shard(root, schema, rows, batches)], problems, task, columns,
                            key_files=sorted(files), key_extra=f"lance v{ds.version}")


def _shard_dim(shard: _Shard, vec: str) -> int:
    import pyarrow as pa

    vtype = shard.schema.field(vec).type
    if pa.types.is_fixed_size_list(vtype):
        return int(vtype.list_size)
    return _common_list_length(b.column(0) for b in shard.batches([vec], 1024))


def _shard_mismatch(shard: _Shard, ref: _Shard, vec: str, dim: int, problems: list[LoadProblem]) -> str | None:
    """Why ``shard`` cannot join ``ref`` (missing columns, no vectors, another dimension), or None."""
    names = set(shard.schema.names)
    missing = [c for c in ref.schema.names if c not in names]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        return f"missing column{plural} {', '.join(map(repr, missing))} that {ref.path.name} has"
    if not _is_vector_type(shard.schema.field(vec).type):
        return f"column {vec!r} is {shard.schema.field(vec).type}, not a list of numbers as in {ref.path.name}"
    if shard.rows == 0:
        return "no rows in it"
    d = _shard_dim(shard, vec)
    if d != dim:
        return f"vectors have {d} dimensions but {ref.path.name} has {dim}"
    extra = [c for c in shard.schema.names if c not in set(ref.schema.names)]
    if extra:
        problems.append(LoadProblem(str(shard.path), f"columns {', '.join(map(repr, extra))} are not in "
                                                     f"{ref.path.name}; ignored", "warning"))
    return None


def _fill_store(writer: Any, parts: list[_Shard], vec: str, dim: int, n: int, task: TaskState) -> list[LoadProblem]:
    """Stream every part's vectors into ``writer`` batch by batch; empty, ragged and non-finite rows
    are left out (and returned as problems naming the shard and its row numbers)."""
    import pyarrow as pa

    batch_rows = max(1024, (32 << 20) // (4 * dim))  # ~32 MB of float32 per batch
    found: list[LoadProblem] = []
    start = 0
    for part in parts:
        nulls: list[str] = []
        ragged_rows: list[str] = []
        nonfinite: list[str] = []
        local = 0
        for batch in part.batches([vec], batch_rows):
            task.report(start + local, n, f"reading vectors of {part.path.name}")
            arr = batch.column(0)
            shards.READS["vector_batches"] += 1
            shards.READS["vector_rows"] += len(arr)
            mat, good, ragged = _list_batch(arr, dim)
            nulls.extend(f"row {local + i}" for i in np.flatnonzero(~good & ~ragged))
            if ragged.any():
                lengths = np.diff(arr.offsets.to_numpy())
                ragged_rows.extend(f"row {local + i} ({lengths[i]} values, expected {dim})"
                                   for i in np.flatnonzero(ragged))
            rows = np.flatnonzero(good) + local
            finite = np.isfinite(mat).all(axis=1)
            if not finite.all():
                nonfinite.extend(f"row {r}" for r in rows[~finite])
                mat, rows = mat[finite], rows[finite]
            writer.append(mat, rows + start)
            local += len(arr)
        if nulls:
            found.append(_rows_problem(part.path, f"rows skipped with an empty {vec!r}", nulls))
        if ragged_rows:
            found.append(_rows_problem(part.path, "rows skipped with the wrong number of values", ragged_rows))
        if nonfinite:
            found.append(_rows_problem(part.path, "vectors skipped that contain NaN or infinity", nonfinite))
        start += local
        pa.default_memory_pool().release_unused()
    return found


def _packed(arr: Any) -> shards.PackedStrings:
    return shards.PackedStrings.from_arrow(arr)


def _column_as_values(col: Any) -> Any:
    """One arrow (chunked) column as what a Dataset keeps: strings packed, numbers as numpy arrays."""
    import pyarrow as pa

    t = col.type
    if pa.types.is_dictionary(t):
        col, t = col.cast(t.value_type), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _packed(col)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        return col.to_numpy()
    return _other_columns(pa.table({"c": col}), np.arange(len(col)), len(col))["c"]


def _shard_labels(col: Any) -> np.ndarray | None:
    """Labels through a dictionary: one Python string per distinct label, shared by its items."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(col)
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    names = _label_array(col.dictionary.to_pylist())
    if names is None:
        return None
    codes = col.indices.fill_null(len(names)).to_numpy(zero_copy_only=False)
    table = np.empty(len(names) + 1, dtype=object)
    table[: len(names)] = names
    out = table[codes]
    return out if any(v is not None for v in names) else None


def _shard_ids(col: Any, rows: np.ndarray, root: Path, problems: list[LoadProblem]) -> Sequence[str]:
    """The id column as packed strings (a missing id is the row number); made unique only when it repeats."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    col = col.cast(pa.large_string())
    if col.null_count:
        col = pc.if_else(col.is_valid(), col, pa.array(rows.astype(str), pa.large_string()))
    n = len(col)
    # ids written in order (doc-0000001, ...) are unique when strictly increasing: one vectorised
    # comparison (~0.03 s for 1M) instead of hashing them all (~1.5-3 s here)
    increasing = n < 2 or bool(pc.all(pc.greater(col.slice(1), col.slice(0, n - 1))).as_py())
    if increasing or len(pc.unique(col)) == n:
        return _packed(col)
    return _unique_ids(col.to_pylist(), root, problems)


def _sharded_dataset(root: Path, parts: list[_Shard], problems: list[LoadProblem], task: TaskState,
                     columns: dict[str, str | None], key_files: list[Path] | None = None,
                     key_extra: str = "") -> Dataset | None:
    import pyarrow as pa

    if not parts:
        problems.append(LoadProblem(str(root), "no readable parquet shards in this folder"))
        return None
    ref: _Shard | None = None
    vec, dim = "", 0
    kept: list[_Shard] = []
    for part in parts:
        if ref is None:
            name = _pick_vector_column(part.schema, part.path, problems)
            if name is None:
                continue
            d = _shard_dim(part, name) if part.rows else 0
            if not d:
                problems.append(LoadProblem(str(part.path), f"column {name!r} holds no vectors (no rows, or all "
                                                            "empty); skipped"))
                continue
            ref, vec, dim = part, name, d
            kept.append(part)
            continue
        why = _shard_mismatch(part, ref, vec, dim, problems)
        if why is not None:
            problems.append(LoadProblem(str(part.path), f"{why}; skipped", n_items=part.rows))
        else:
            kept.append(part)
    if ref is None:
        return None
    others = [c for c in ref.schema.names if c != vec]
    n = sum(p.rows for p in kept)
    declared = sum(p.column_bytes(others) for p in kept if p.column_bytes is not None) if others else 0
    if _too_big(root, f"the id and metadata columns of its {n:,} rows (uncompressed; the vectors go to disk)",
                declared, problems):
        return None

    store = shards.VectorStore(shards.fingerprint(key_files or [p.path for p in kept], vec, dim, key_extra))
    got = store.open()
    if got is None:
        why = shards.disk_problem(store.folder, n * dim * 4)
        if why is not None:
            problems.append(LoadProblem(str(root), f"{why}; not read"))
            return None
        with store.writer(n, dim) as writer:
            found = _fill_store(writer, kept, vec, dim, n, task.sub(0, 0.8))
            writer.info["problems"] = [[p.path, p.reason, p.severity, p.n_items] for p in found]
            writer.info["source"] = str(root)
        got = store.open()
        if got is None:
            problems.append(LoadProblem(str(root), f"the vectors written to {store.path} could not be read back"))
            return None
    vectors, rows, info = got
    problems.extend(LoadProblem(str(p[0]), str(p[1]), str(p[2]), int(p[3])) for p in info.get("problems", []))
    if len(rows) == 0:
        problems.append(LoadProblem(str(root), f"no usable vectors in column {vec!r}"))
        return None
    subset = len(rows) < n

    # ids, labels, texts, metadata: read batch by batch under the memory limit, only the kept rows
    table = None
    if others:
        tables = []
        for i, part in enumerate(kept):
            task.sub(0.8, 1).report(i, len(kept), f"reading ids and metadata of {part.path.name}")
            try:
                tables.append(_bounded_table(part.path, part.batches(others, _PARQUET_BATCH_ROWS),
                                             _pa_select(part.schema, others), problems))
            except _ArrowTooBig:
                return None
        try:
            table = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            problems.append(LoadProblem(str(root), f"the shards' id and metadata columns do not share types ({exc})"))
            return None
        if subset:
            table = table.take(pa.array(rows))
    keys = list(dict.fromkeys(k for p in kept for k in p.partition))
    names = others + [k for k in keys if k not in others]
    roles: dict[str, str | None] = {}
    for role, candidates in (("id", ID_COLUMN_NAMES), ("label", LABEL_COLUMN_NAMES), ("text", TEXT_COLUMN_NAMES)):
        pool = [c for c in others if c not in roles.values()]
        roles[role], _ = _resolve_column(root, pool, columns.get(f"{role}_column"), _by_name(pool, candidates), role,
                                         problems)
    ids: Sequence[str]
    if roles["id"] is not None and table is not None:
        ids = _shard_ids(table.column(roles["id"]), rows, root, problems)
    else:
        ids = _packed(pa.array(rows).cast(pa.large_string()))
    labels = _shard_labels(table.column(roles["label"])) if roles["label"] and table is not None else None
    texts = _packed(table.column(roles["text"])) if roles["text"] and table is not None else None
    metadata: dict[str, Any] = {}
    for name in names:
        if name in roles.values():
            continue
        if table is not None and name in table.column_names:
            metadata[name] = _column_as_values(table.column(name))
        else:  # a hive partition folder (split=train/): one value per shard, one shared string per item
            per_part = np.array([p.partition.get(name) for p in kept], dtype=object)
            values = np.repeat(per_part, [p.rows for p in kept])
            metadata[name] = values[rows] if subset else values
    per_source = np.array([os.path.abspath(p.path) for p in kept], dtype=object)
    sources = np.repeat(per_source, [p.rows for p in kept])
    del table
    pa.default_memory_pool().release_unused()
    return Dataset(
        modality="embedding",
        ids=ids,  # type: ignore[arg-type]  # a Sequence[str]: PackedStrings keeps them packed
        sources=(sources[rows] if subset else sources).tolist(),
        labels=labels,
        texts=texts,  # type: ignore[arg-type]
        metadata=_split_metadata(metadata),
        embeddings=vectors,
        name=root.name,
    )


# -- Hugging Face datasets: class names, Arrow files, save_to_disk folders ----------------------------


def _hf_features(schema, folder: Path | None = None) -> dict[str, Any]:
    """The ``features`` that Hugging Face ``datasets`` wrote: the schema's ``huggingface`` metadata
    (``{"info": {"features": ...}}``), else ``dataset_info.json`` in ``folder``; ``{}`` when none."""
    raw = (schema.metadata or {}).get(b"huggingface") if schema is not None else None
    if raw:
        try:
            features = (json.loads(raw.decode("utf-8")).get("info") or {}).get("features")
            if isinstance(features, dict):
                return features
        except (ValueError, UnicodeDecodeError, AttributeError):
            pass
    if folder is not None:
        try:
            features = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8")).get("features")
            if isinstance(features, dict):
                return features
        except (OSError, ValueError, AttributeError):
            pass
    return {}


def _class_names(features: dict[str, Any]) -> dict[str, list[str]]:
    """``{column: class names}`` of the ``ClassLabel`` features."""
    out = {}
    for name, f in features.items():
        if isinstance(f, dict) and f.get("_type") == "ClassLabel" and isinstance(f.get("names"), list):
            out[name] = [str(c) for c in f["names"]]
    return out


def _name_classes(path: Path, cols: dict[str, Any], names: dict[str, list[str]], problems: list[LoadProblem]) -> None:
    """Class numbers -> class names in place (``ClassLabel``: ``-1`` and missing mean no label)."""
    for col, classes in names.items():
        if col not in cols:
            continue
        values = cols[col]
        out: list[Any] = []
        unknown = 0
        for v in (values.tolist() if isinstance(values, np.ndarray) else values):
            if v is None or (isinstance(v, float) and not np.isfinite(v)):
                out.append(None)
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer():
                i = int(v)
                if i == -1:
                    out.append(None)
                elif 0 <= i < len(classes):
                    out.append(classes[i])
                else:
                    out.append(str(i))
                    unknown += 1
            else:
                out.append(v)
        if unknown:
            problems.append(LoadProblem(str(path), f"{unknown} value(s) of {col!r} are not among its "
                                                   f"{len(classes)} class names; kept as numbers", "warning"))
        cols[col] = out


def _arrow_reader(path: Path):
    """A reader of an Arrow IPC file: the stream format (what ``datasets`` writes), else the file
    format (Feather v2).  Memory-mapped: the data are read when used."""
    import pyarrow as pa

    source = pa.memory_map(str(path), "r")
    try:
        return pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        source.seek(0)
        return pa.ipc.open_file(source)


class _FlatTable:
    """Just enough of a FlatBuffers reader for the Arrow IPC message header (Message.fbs):
    a table's scalar fields, sub-tables and vectors of structs, bounds-checked."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        size = struct.unpack_from("<H", buf, vtable)[0]
        self.offsets = [struct.unpack_from("<H", buf, vtable + 4 + 2 * i)[0] for i in range(max(0, (size - 4) // 2))]

    def _at(self, field: int) -> int | None:
        off = self.offsets[field] if field < len(self.offsets) else 0
        return self.pos + off if off else None

    def scalar(self, field: int, fmt: str, default: int = 0) -> int:
        at = self._at(field)
        return default if at is None else struct.unpack_from("<" + fmt, self.buf, at)[0]

    def table(self, field: int) -> _FlatTable | None:
        at = self._at(field)
        return None if at is None else _FlatTable(self.buf, at + struct.unpack_from("<I", self.buf, at)[0])

    def structs(self, field: int, fmt: str) -> list[tuple[int, ...]]:
        at = self._at(field)
        if at is None:
            return []
        vec = at + struct.unpack_from("<I", self.buf, at)[0]
        n = struct.unpack_from("<I", self.buf, vec)[0]
        size = struct.calcsize("<" + fmt)
        if vec + 4 + n * size > len(self.buf):
            raise ValueError("vector past the end of the message header")
        return [struct.unpack_from("<" + fmt, self.buf, vec + 4 + i * size) for i in range(n)]


def _arrow_declared(path: Path) -> tuple[int, int, bool]:
    """``(rows, bytes, compressed)`` an Arrow IPC file (stream or file format) declares for its
    record and dictionary batches, from the message headers and, for lz4 / zstd buffers, the
    uncompressed length written before each one -- nothing decompressed.  Raises on a file whose
    headers cannot be read (pyarrow then says what is wrong)."""
    import pyarrow as pa

    source = pa.memory_map(str(path), "r")
    try:
        if source.read(6) != b"ARROW1":
            source.seek(0)
        else:
            source.seek(8)  # the file format: magic, padding, then the stream
        rows = total = 0
        compressed = False
        for message in pa.ipc.MessageReader.open_stream(source):
            if message.type not in ("record batch", "dictionary batch"):
                continue
            meta = message.metadata.to_pybytes()
            header = _FlatTable(meta, struct.unpack_from("<I", meta, 0)[0]).table(2)  # Message.header
            if header is None:
                continue
            if message.type == "dictionary batch":
                header = header.table(1)  # DictionaryBatch.data
                if header is None:
                    continue
            else:
                rows += header.scalar(0, "q")  # RecordBatch.length
            codec = header.table(3) is not None  # RecordBatch.compression
            compressed = compressed or codec
            body = message.body
            for offset, length in header.structs(2, "qq"):  # RecordBatch.buffers
                if codec and length >= 8:
                    raw = struct.unpack("<q", body.slice(offset, 8).to_pybytes())[0]
                    total += length - 8 if raw == -1 else raw
                else:
                    total += length
        return rows, total, compressed
    finally:
        source.close()


def _columnar_schema(path: Path, problems: list[LoadProblem]):
    if path.suffix.lower() == ".parquet":
        return _parquet_schema(path, problems)
    try:
        return _arrow_reader(path).schema
    except Exception as exc:
        problems.append(LoadProblem(str(path), f"not a readable Arrow file ({type(exc).__name__}: {exc})"))
        return None


def _read_columnar(paths: Sequence[Path], problems: list[LoadProblem]):
    """One arrow table from ``.parquet`` / ``.arrow`` files of one schema (the shards of a split)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for path in paths:
        try:
            if path.suffix.lower() == ".parquet":
                meta = pq.ParquetFile(path).metadata  # the footer only: uncompressed sizes per row group
                declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
                if _too_big(path, f"its {meta.num_rows:,} rows (uncompressed)", declared, problems):
                    continue
                tables.append(_read_parquet_bounded(path, problems))
            else:
                try:
                    rows, declared, compressed = _arrow_declared(path)
                except Exception:  # headers we cannot walk: pyarrow reads (and judges) them below
                    pass
                else:
                    disk = _human_bytes(path.stat().st_size)
                    what = (f"its {rows:,} rows (decompressed from {disk} of lz4 / zstd data)" if compressed
                            else f"its {rows:,} rows")
                    if _too_big(path, what, declared, problems):
                        continue
                tables.append(_read_arrow_batches(path, problems))
        except _ArrowTooBig:
            continue
        except Exception as exc:
            problems.append(LoadProblem(str(path), f"not a readable {path.suffix} file ({type(exc).__name__}: {exc})"))
    if not tables:
        return None
    try:
        return pa.concat_tables(tables)
    except pa.ArrowInvalid as exc:
        problems.append(LoadProblem(str(paths[0].parent), f"the data files do not share one schema ({exc})"))
        return None


class _ArrowTooBig(Exception):
    """An Arrow file's batches passed the memory limit while read (the problem is already filed)."""


def _read_arrow_batches(path: Path, problems: list[LoadProblem]):
    """The table of an Arrow IPC file read batch by batch under :func:`_bounded_table`'s limit --
    which holds even when the headers could not be checked first."""
    import pyarrow as pa

    reader = _arrow_reader(path)
    if isinstance(reader, pa.ipc.RecordBatchFileReader):
        it: Iterable[Any] = (reader.get_batch(i) for i in range(reader.num_record_batches))
    else:
        it = reader
    return _bounded_table(path, it, reader.schema, problems)


def _bounded_table(path: Path, batches: Iterable[Any], schema: Any, problems: list[LoadProblem]):
    """One arrow table from ``batches``, stopping (:class:`_ArrowTooBig`, a problem filed) as soon
    as they hold more than :func:`array_byte_limit` in memory.  What the file's metadata cannot
    bound is bounded here: a dictionary-encoded parquet column declares the size of its distinct
    values, not of the repeated values it decodes to."""
    import pyarrow as pa

    limit = array_byte_limit()
    kept: list[Any] = []
    held = 0
    for batch in batches:
        held += batch.nbytes
        if held > limit:
            why = "3/4 of the free memory, at most 8 GiB" if MAX_ARRAY_BYTES is None else "loaders.MAX_ARRAY_BYTES"
            problems.append(LoadProblem(
                str(path), f"its first {len(kept) + 1} record batches already hold {_human_bytes(held)} in "
                           f"memory, more than the {_human_bytes(limit)} embedview allows ({why}); not read"))
            raise _ArrowTooBig(str(path))
        kept.append(batch)
    return pa.Table.from_batches(kept, schema=schema)


#: rows per batch when a parquet file is read under the memory limit
_PARQUET_BATCH_ROWS = 4096


def _read_parquet_bounded(path: Path, problems: list[LoadProblem], columns: list[str] | None = None):
    """A parquet file's table (or some of its ``columns``), read batch by batch under the limit."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path, memory_map=True)
    schema = pf.schema_arrow if columns is None else _pa_select(pf.schema_arrow, columns)
    return _bounded_table(path, pf.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=columns), schema, problems)


def _pa_select(schema: Any, columns: list[str]) -> Any:
    """``schema`` with only ``columns``, in that order."""
    import pyarrow as pa

    return pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)


def _has_vector_column(schema) -> bool:
    return any(_is_vector_type(f.type) for f in schema)


def _has_string_column(schema) -> bool:
    import pyarrow as pa

    return any(pa.types.is_string(f.type) or pa.types.is_large_string(f.type) for f in schema)


def _job_name(job: _Job) -> tuple[Path, str]:
    """Where a columnar job's problems point and the name of its dataset."""
    folder = job.extra.get("folder")
    if folder is not None:
        return folder, job.extra.get("name") or folder.name
    return job.paths[0], job.paths[0].name


def _load_arrow_embeddings(job: _Job, problems, task, columns, max_pixels) -> Dataset | None:
    """Embeddings from ``.arrow`` files (or the shards of a ``save_to_disk`` folder)."""
    import pyarrow as pa

    where, name = _job_name(job)
    table = _read_columnar(job.paths, problems)
    if table is None:
        return None
    features = _hf_features(table.schema, job.extra.get("folder"))
    vec = _pick_vector_column(table.schema, where, problems, hint=_no_vector_hint(table.schema, features))
    if vec is None:
        return None
    n = table.num_rows
    if n == 0:
        problems.append(LoadProblem(str(where), "no rows in it"))
        return None
    col = table.column(vec)
    dim = col.type.list_size if pa.types.is_fixed_size_list(col.type) else _common_list_length(col.chunks)
    if not dim:
        problems.append(LoadProblem(str(where), f"column {vec!r} holds no vectors (all rows empty)"))
        return None
    if _too_big(where, f"column {vec!r} ({n:,} rows x {dim} values, as float32)", n * dim * 4, problems):
        return None
    got = _read_vectors(where, col.chunks, n, dim, vec, problems, task)
    if got is None:
        return None
    vectors, rows, nonfinite = got
    cols = _other_columns(table.drop_columns([vec]), rows, n)
    _name_classes(where, cols, _class_names(features), problems)
    named = _split_named_columns(where, cols, columns, problems)
    ds = _embedding_dataset(where, vectors, problems, rows=rows, metadata=cols, nonfinite=nonfinite, **named)
    if ds is not None:
        ds.name = name
        _fill_split(ds, job)
    return ds


def _fill_split(ds: Dataset, job: _Job) -> None:
    """A ``DatasetDict`` split's items get its name in the ``split`` column (unless they have one)."""
    split = job.extra.get("split")
    if split is not None and SPLIT_COLUMN not in ds.metadata:
        ds.metadata[SPLIT_COLUMN] = [split] * len(ds)


def _load_columnar_text(job: _Job, problems, task, columns, max_pixels) -> Dataset | None:
    """Texts from a ``.parquet`` / ``.arrow`` file (or a ``save_to_disk`` folder) without a vector column."""
    import pyarrow as pa

    where, name = _job_name(job)
    table = _read_columnar(job.paths, problems)
    if table is None:
        return None
    features = _hf_features(table.schema, job.extra.get("folder"))
    scalar = [f.name for f in table.schema if not (pa.types.is_nested(f.type) or pa.types.is_binary(f.type)
                                                   or pa.types.is_large_binary(f.type))]
    data = {c: table.column(c).to_pylist() for c in scalar}
    _name_classes(where, data, _class_names(features), problems)
    lines = list(range(1, table.num_rows + 1))
    ds = _dataset_from_table(where, _Table(scalar, data, lines), problems, **columns)
    if ds is not None:
        ds.name = name
        _fill_split(ds, job)
    return ds


def _hf_disk_jobs(folder: Path, problems: list[LoadProblem]) -> list[_Job] | None:
    """The jobs of a ``datasets`` ``save_to_disk`` folder (``None`` when ``folder`` is not one):
    ``state.json`` lists its ``data-*.arrow`` shards; a ``dataset_dict.json`` names one such folder
    per split."""
    try:
        if (folder / "dataset_dict.json").is_file():
            splits = json.loads((folder / "dataset_dict.json").read_text(encoding="utf-8")).get("splits") or []
            jobs = []
            for split in splits:
                job = _hf_split_job(folder / str(split), problems, name=f"{folder.name}/{split}", split=str(split))
                if job is not None:
                    jobs.append(job)
            if not splits:
                problems.append(LoadProblem(str(folder), "dataset_dict.json names no splits"))
            return jobs
        if (folder / "state.json").is_file():
            job = _hf_split_job(folder, problems, name=folder.name)
            return [] if job is None else [job]
    except (OSError, ValueError, AttributeError) as exc:
        problems.append(LoadProblem(str(folder), f"not a readable Hugging Face dataset folder ({exc})"))
        return []
    return None


def _hf_split_job(folder: Path, problems: list[LoadProblem], name: str, split: str | None = None) -> _Job | None:
    state_path = folder / "state.json"
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        files = [folder / str(f["filename"]) for f in state.get("_data_files") or []]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        problems.append(LoadProblem(str(state_path), f"not a readable state.json ({exc})"))
        return None
    missing = [f for f in files if not f.is_file()]
    for f in missing:
        problems.append(LoadProblem(str(f), "data file named in state.json is missing"))
    files = [f for f in files if f.is_file()]
    if not files:
        problems.append(LoadProblem(str(folder), "no data files (state.json lists none that exist)"))
        return None
    schema = _columnar_schema(files[0], problems)
    if schema is None:
        return None
    text = not _has_vector_column(schema) and _has_string_column(schema)
    extra: dict[str, Any] = {"folder": folder, "name": name, "split": split}
    if text:
        return _Job("text", _load_columnar_text, files, extra=extra)
    return _Job("embedding", _load_arrow_embeddings, files, extra=extra)


# -- TensorFlow Embedding Projector TSV ----------------------------------------------------------


def _first_line(path: Path, limit: int = 1 << 16) -> str:
    with open(path, "rb") as fh:
        head = fh.read(limit)
    for line in head.decode("utf-8", "replace").split("\n"):
        if line.strip():
            return line.rstrip("\r")
    return ""


def _is_numeric_tsv(path: Path) -> bool:
    """A .tsv whose first non-empty line is all numbers is a vectors file (projector format)."""
    fields = _first_line(path).split("\t")
    return bool(fields) and all(f.strip() and _is_number(f) for f in fields)


def _looks_like_metadata(path: Path) -> bool:
    return "meta" in path.stem.lower()


_VECTOR_WORDS = re.compile(r"(vectors?|vecs?|embeddings?|tensors?)", re.IGNORECASE)


def _find_metadata(vectors: Path, given: list[Path], single: bool) -> Path | None:
    """The projector metadata for ``vectors``: matching name among ``given``, else next to it."""
    stem = vectors.stem
    names = {f"{stem}_metadata.tsv".lower(), f"{stem}-metadata.tsv".lower(), f"{stem}.metadata.tsv".lower()}
    if _VECTOR_WORDS.search(stem):
        names.add(_VECTOR_WORDS.sub("metadata", stem).lower() + ".tsv")
    for meta in given:
        if meta.name.lower() in names:
            return meta
    if single and len(given) == 1:
        return given[0]
    if given:
        return None
    folder = vectors.parent
    try:
        siblings = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".tsv" and not p.name.startswith("."))
    except OSError:
        return None
    for p in siblings:
        if p.name.lower() in names:
            return p
    plain = [p for p in siblings if p.name.lower() == "metadata.tsv"]
    if plain:
        return plain[0]
    metas = [p for p in siblings if p != vectors and _looks_like_metadata(p)]
    return metas[0] if len(metas) == 1 else None


def _parse_vector_lines(lines: list[str], dim: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """Parse tab-separated numeric lines -> (matrix of good rows, their positions, bad (pos, why))."""
    try:
        mat = np.loadtxt(lines, delimiter="\t", dtype=np.float32, comments=None, ndmin=2)
        if mat.shape == (len(lines), dim):
            return mat, np.arange(len(lines)), []
    except ValueError:
        pass
    good_rows, positions, bad = [], [], []  # slow path, only for chunks holding a bad row
    for i, line in enumerate(lines):
        fields = line.split("\t")
        if len(fields) != dim:
            bad.append((i, f"{len(fields)} values, expected {dim}"))
            continue
        try:
            good_rows.append([float(f) for f in fields])
            positions.append(i)
        except ValueError:
            word = next(f for f in fields if not _is_number(f))
            bad.append((i, f"not a number: {word[:30]!r}"))
    mat = np.array(good_rows, dtype=np.float32).reshape(len(good_rows), dim)
    return mat, np.array(positions, dtype=np.int64), bad


def _count_lines(path: Path, block: int = 1 << 24) -> int:
    """Upper bound of the number of lines (newlines + 1), read in binary blocks."""
    n = 1
    with open(path, "rb") as fh:
        while True:
            data = fh.read(block)
            if not data:
                return n
            n += data.count(b"\n")


def _load_vectors_tsv(job: _Job, problems, task, columns, max_pixels) -> Dataset | None:
    """Projector vectors: streamed in chunks of lines into one preallocated matrix."""
    path = job.paths[0]
    size = max(1, path.stat().st_size)
    capacity = _count_lines(path)
    out: np.ndarray | None = None
    dim = 0
    kept: list[np.ndarray] = []  # positions (among the non-blank lines) of the rows kept
    line_of: list[int] = []  # file line number of every non-blank line
    bad: list[str] = []
    chunk: list[str] = []
    written = consumed = 0

    def flush() -> None:
        nonlocal out, dim, written
        if not chunk:
            return
        if out is None:  # the dimension: the most common number of fields in the first chunk
            dim = Counter(line.count("\t") + 1 for line in chunk).most_common(1)[0][0]
            out = np.empty((capacity, dim), dtype=np.float32)
        first = len(line_of) - len(chunk)
        mat, positions, chunk_bad = _parse_vector_lines(chunk, dim)
        out[written : written + len(mat)] = mat
        written += len(mat)
        kept.append(positions + first)
        bad.extend(f"line {line_of[first + i]} ({why})" for i, why in chunk_bad)
        chunk.clear()
        task.report(consumed, size, f"reading {path.name}")

    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for lineno, line in enumerate(fh, start=1):
            consumed += len(line)
            line = line.rstrip("\r\n")
            if line.strip():
                chunk.append(line)
                line_of.append(lineno)
                if len(chunk) == _CHUNK_ROWS:
                    flush()
        flush()
    if bad:
        problems.append(_rows_problem(path, "lines skipped that are not a row of numbers", bad))
    if out is None or written == 0:
        problems.append(LoadProblem(str(path), "no usable vectors"))
        return None
    rows = np.concatenate(kept)  # positions among the data lines = rows of the metadata
    fields = _projector_metadata(job.meta, len(line_of), rows, problems, columns) if job.meta is not None else {}
    return _embedding_dataset(path, out[:written], problems, rows=rows, row_name=lambda r: f"line {line_of[r]}",
                              **fields)


def _projector_metadata(
    meta: Path, n_rows: int, rows: np.ndarray, problems: list[LoadProblem], columns: dict[str, str | None]
) -> dict[str, Any]:
    """Read projector metadata: one column -> labels, no header; several -> header + columns.

    Returns keyword arguments for :func:`_embedding_dataset`, aligned with the kept vector
    ``rows``; ``{}`` (and a problem) when the row count does not match the vectors file.
    """
    problem = _check_readable_file(meta)
    if problem is not None:
        problems.append(LoadProblem(problem.path, f"metadata {problem.reason}; vectors loaded without it", "warning"))
        return {}
    text = _read_text(meta, problems)
    if text is None:
        return {}
    lines = [line.rstrip("\r") for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    single = bool(lines) and "\t" not in lines[0]
    header = ["label"] if single else _clean_header(lines[0].split("\t"))
    body = lines if single else lines[1:]
    if len(body) != n_rows:
        problems.append(
            LoadProblem(
                str(meta),
                f"metadata has {len(body)} rows but the vectors file has {n_rows}; metadata ignored",
                "warning",
            )
        )
        return {}
    if single:
        return {"labels": [body[i] for i in rows]}
    width = len(header)
    cells = [(body[i].split("\t") + [""] * width)[:width] for i in rows]
    data = {name: [c[j] if c[j].strip() else None for c in cells] for j, name in enumerate(header)}
    out: dict[str, Any] = _split_named_columns(meta, data, columns, problems)
    out["metadata"] = data
    return out
