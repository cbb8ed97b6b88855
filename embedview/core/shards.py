"""Datasets larger than memory: folders of parquet shards, Lance datasets, vectors on disk.

What :mod:`embedview.core.loaders` needs to open a folder of shards as one dataset without holding
it in memory twice:

* :func:`folder_kind` / :func:`find_parquet_shards`: which folders are sharded tables (``*.parquet``
  anywhere below, as Spark / Ray / Hugging Face write them, ``key=value`` hive partitions included;
  ``_SUCCESS``, ``_temporary`` and hidden entries skipped) and which are Lance datasets.
* :class:`VectorStore`: the one float32 matrix of all shards as a ``.npy`` memory map in the cache
  folder (``$EMBEDVIEW_CACHE_DIR/vectors``), written atomically and reused while the shards are
  unchanged (the key is every shard's path, size and modification time, plus the vector column and
  dimension).  The pages live in the OS page cache, not in the process: a matrix larger than the
  memory opens; the limit is the free disk space (:func:`disk_problem`).
* :class:`PackedStrings`: a column of strings (ids, texts, string metadata) as one UTF-8 buffer and
  an offset array -- a read-only ``Sequence[str]`` of ~(length + 8) bytes per item instead of
  ~(length + 57) for a list of Python strings (1M ids "doc-0000001": 19 MB instead of 69 MB,
  ``benchmarks/bench_shards.py --ids``).

numpy only at import; pyarrow is imported by the loaders that call this.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

__all__ = [
    "PackedStrings",
    "VectorStore",
    "READS",
    "folder_kind",
    "find_parquet_shards",
    "hive_partitions",
    "fingerprint",
    "disk_problem",
]

#: What was read from shards, counted (tests check that a reopen reads no vector batch again).
READS: dict[str, int] = {"vector_batches": 0, "vector_rows": 0}

#: Space left free on the disk after a memory map is written (bytes).
DISK_MARGIN = 256 << 20


# -- strings --------------------------------------------------------------------------------------


class PackedStrings(Sequence):
    """Strings stored as one UTF-8 byte buffer plus ``n + 1`` offsets; ``None`` where ``valid`` is False.

    Indexing with an int gives ``str`` (or ``None``); a slice, an index array or a boolean mask gives a
    new :class:`PackedStrings`.  Equal to any sequence with the same items (``ids == list(ids)``).
    """

    __slots__ = ("_buf", "_off", "_valid")

    def __init__(self, buf: np.ndarray, offsets: np.ndarray, valid: np.ndarray | None = None):
        self._buf = np.asarray(buf, dtype=np.uint8)
        self._off = np.asarray(offsets, dtype=np.int64)
        self._valid = None if valid is None or bool(np.all(valid)) else np.asarray(valid, dtype=bool)
        if self._off.ndim != 1 or len(self._off) < 1:
            raise ValueError("offsets must be a 1-D array of n + 1 positions")

    @classmethod
    def from_strings(cls, values: Iterable[str | None]) -> PackedStrings:
        vals = values if isinstance(values, list) else list(values)
        encoded = [b"" if v is None else str(v).encode("utf-8", "surrogatepass") for v in vals]
        valid = np.array([v is not None for v in vals], dtype=bool)
        off = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=off[1:])
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8), off, valid)

    @classmethod
    def from_arrow(cls, arr: Any) -> PackedStrings:
        """A pyarrow string / large_string array or chunked array (any other type is cast to string)."""
        import pyarrow as pa

        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks() if arr.num_chunks else pa.array([], pa.large_string())
        if not pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.large_string())
        n = len(arr)
        bufs = arr.buffers()  # validity, offsets, data
        if bufs[1] is None:
            return cls(np.zeros(0, np.uint8), np.zeros(1, np.int64))
        off = np.frombuffer(bufs[1], dtype=np.int64, count=arr.offset + n + 1)[arr.offset :]
        base = int(off[0])
        data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
        buf = data[base : int(off[-1])].copy()  # its own memory: arrow's pool can be released
        valid = None if arr.null_count == 0 else arr.is_valid().to_numpy(zero_copy_only=False)
        return cls(buf, off - base, valid)

    @property
    def nbytes(self) -> int:
        return int(self._buf.nbytes + self._off.nbytes + (0 if self._valid is None else self._valid.nbytes))

    @property
    def has_nulls(self) -> bool:
        return self._valid is not None

    def __len__(self) -> int:
        return len(self._off) - 1

    def _one(self, i: int) -> str | None:
        if self._valid is not None and not self._valid[i]:
            return None
        return self._buf[self._off[i] : self._off[i + 1]].tobytes().decode("utf-8", "surrogatepass")

    @overload
    def __getitem__(self, i: int) -> Any: ...

    @overload
    def __getitem__(self, i: slice) -> PackedStrings: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, (int, np.integer)):
            n = len(self)
            j = int(i) + n if i < 0 else int(i)
            if not 0 <= j < n:
                raise IndexError(f"index {int(i)} out of range for {n} strings")
            return self._one(j)
        if isinstance(i, slice):
            i = np.arange(len(self))[i]
        return self.take(np.asarray(i))

    def take(self, idx: np.ndarray) -> PackedStrings:
        """The strings at ``idx`` (int indices or a boolean mask), packed again."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False)
        starts, ends = self._off[idx], self._off[idx + 1]
        lengths = ends - starts
        off = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(lengths, out=off[1:])
        if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
            buf = self._buf[starts[0] : ends[-1]].copy()
        else:
            pos = np.repeat(starts - off[:-1], lengths) + np.arange(int(off[-1]))
            buf = self._buf[pos]
        return PackedStrings(buf, off, None if self._valid is None else self._valid[idx])

    def __iter__(self) -> Iterator[Any]:
        data = self._buf.tobytes()  # one copy, then slicing bytes: ~10x faster than item by item
        off = self._off.tolist()
        valid = None if self._valid is None else self._valid.tolist()
        for k in range(len(off) - 1):
            if valid is not None and not valid[k]:
                yield None
            else:
                yield data[off[k] : off[k + 1]].decode("utf-8", "surrogatepass")

    def tolist(self) -> list[Any]:
        return list(self)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """``np.asarray(packed)``: an object array of ``str`` / ``None`` made in one pass (numpy's
        generic sequence path would call ``__getitem__`` once per item), or ``dtype`` if given."""
        out = np.empty(len(self), dtype=object)
        out[:] = list(self)
        return out if dtype is None or np.dtype(dtype) == object else out.astype(dtype)

    def __arrow_array__(self, type: Any = None) -> Any:  # noqa: A002  # pyarrow's protocol names it so
        """``pa.array(packed)``: a ``large_string`` array over copies of the buffers, no Python strings."""
        import pyarrow as pa

        validity = None if self._valid is None else pa.array(self._valid).buffers()[1]
        arr = pa.LargeStringArray.from_buffers(len(self), pa.py_buffer(self._off.tobytes()),
                                               pa.py_buffer(self._buf.tobytes()), validity)
        return arr if type is None else arr.cast(type)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedStrings):
            if len(self) != len(other):
                return False
            if (self._valid is None) != (other._valid is None):
                return list(self) == list(other)
            return bool(np.array_equal(self._off, other._off) and np.array_equal(self._buf, other._buf)
                        and (self._valid is None or np.array_equal(self._valid, other._valid)))  # type: ignore[arg-type]
        if isinstance(other, (list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like a list: mutable-looking, compared by value

    def __repr__(self) -> str:
        head = ", ".join(repr(self[i]) for i in range(min(3, len(self))))
        return f"PackedStrings([{head}{', ...' if len(self) > 3 else ''}], n={len(self)})"


# -- finding shards ---------------------------------------------------------------------------------


def _skipped(name: str) -> bool:
    return name.startswith((".", "_"))  # hidden, _SUCCESS, _temporary, _delta_log, _common_metadata


def folder_kind(folder: Path, image_extensions: Iterable[str] = ()) -> str | None:
    """``"lance"`` for a Lance dataset folder, ``"parquet"`` for a folder of parquet shards (and no
    images), else ``None`` (an image folder, or not a table folder at all)."""
    if folder.suffix.lower() == ".lance" or (folder / "_versions").is_dir() and (folder / "data").is_dir():
        return "lance"
    images = {e.lower() for e in image_extensions}
    found = False
    for _dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d))
        for name in filenames:
            ext = os.path.splitext(name)[1].lower()
            if ext in images:
                return None  # images decide: a folder of images with one stray parquet file stays images
            if ext == ".parquet" and not _skipped(name):
                found = True
    return "parquet" if found else None


def find_parquet_shards(folder: Path) -> list[Path]:
    """Every ``*.parquet`` below ``folder`` in a stable order (by relative path, numbers compared
    as numbers so ``part-2`` comes before ``part-10``), hidden and ``_``-prefixed entries skipped."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not _skipped(d)]
        found.extend(Path(dirpath, f) for f in filenames if f.lower().endswith(".parquet") and not _skipped(f))
    return sorted(found, key=lambda p: _natural(p.relative_to(folder).parts))


def _natural(parts: Sequence[str]) -> tuple:
    import re

    return tuple(tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", part) if t)
                 for part in parts)


def hive_partitions(shard: Path, root: Path) -> dict[str, str]:
    """``{"split": "train"}`` for ``root/split=train/part-0.parquet`` (folders named ``key=value``)."""
    out: dict[str, str] = {}
    for part in shard.relative_to(root).parts[:-1]:
        key, eq, value = part.partition("=")
        if eq and key:
            out[key] = value
    return out


def fingerprint(files: Iterable[Path], *extra: Any) -> str:
    """A key that changes when any file is added, removed, resized or touched, or ``extra`` changes."""
    h = hashlib.blake2b(digest_size=16)
    for path in files:
        st = os.stat(path)
        h.update(f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogatepass"))
    h.update(json.dumps([str(e) for e in extra]).encode())
    return h.hexdigest()


def disk_problem(folder: Path, nbytes: int) -> str | None:
    """Why ``nbytes`` cannot be written into ``folder`` (free space less :data:`DISK_MARGIN`), or None."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return f"cannot read the free space of {folder} ({exc.strerror or exc})"
    if nbytes + DISK_MARGIN > free:
        return (f"the vectors need {nbytes / 1e9:.2f} GB on disk in {folder} but {free / 1e9:.2f} GB are free "
                f"(keeping {DISK_MARGIN >> 20} MB spare); set EMBEDVIEW_CACHE_DIR to a larger disk")
    return None


# -- the memory-mapped matrix -------------------------------------------------------------------------


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{uuid.uuid4().hex[:8]}"
        probe.touch()
        probe.unlink()
        return True
    except OSError:
        return False


def vectors_folder() -> Path:
    """``$EMBEDVIEW_CACHE_DIR/vectors`` (the cache folder), else a folder in the system's temp folder."""
    from embedview.core.cache import cache_dir

    folder = cache_dir("vectors")
    if _writable(folder):
        return folder
    tmp = Path(tempfile.gettempdir(), f"embedview-vectors-{os.getuid() if hasattr(os, 'getuid') else 'user'}")
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp


class VectorStore:
    """One ``(n, dim)`` float32 matrix on disk under ``key``: ``<key>.npy`` (the rows written, as a
    memory map), ``<key>.rows.npy`` (which source rows they are) and ``<key>.json`` (how it was made,
    the problems met), the json written last so that a half-written store is never found.

    >>> store = VectorStore(key)                      # doctest: +SKIP
    >>> got = store.open()                            # None when absent or stale
    >>> with store.writer(n, dim) as w: w.append(mat, rows)   # atomic; then store.open()
    """

    def __init__(self, key: str, folder: Path | None = None):
        self.key = key
        self.folder = Path(folder) if folder is not None else vectors_folder()
        self.path = self.folder / f"{key}.npy"
        self.rows_path = self.folder / f"{key}.rows.npy"
        self.info_path = self.folder / f"{key}.json"

    def open(self) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
        """``(vectors memmap (read-only), source rows, info)`` when a complete store exists."""
        try:
            info = json.loads(self.info_path.read_text(encoding="utf-8"))
            mat = np.load(self.path, mmap_mode="r")
            rows = np.load(self.rows_path)
        except (OSError, ValueError):
            return None
        n = int(info.get("rows", -1))
        if mat.ndim != 2 or mat.dtype != np.float32 or not 0 < n <= mat.shape[0] or len(rows) != n:
            return None
        return mat[:n], rows, info

    @contextlib.contextmanager
    def writer(self, n: int, dim: int) -> Iterator[_Writer]:
        """A writer of at most ``n`` rows; on a clean exit the files are moved in place, else removed.

        Rows are written with plain file writes, not through a memory map: written pages go to the
        OS page cache without counting in the process's resident memory."""
        tag = uuid.uuid4().hex[:12]
        tmp = self.folder / f".{self.key}.{tag}.part.npy"
        try:
            with open(tmp, "wb") as fh:
                header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                          "shape": (max(n, 1), dim)}
                np.lib.format.write_array_header_2_0(fh, header)
                start = fh.tell()
                w = _Writer(fh)
                yield w
                fh.truncate(start + max(n, 1) * dim * 4)  # the declared shape; rows past ``written`` unused
            rows_tmp = self.folder / f".{self.key}.{tag}.rows.npy"
            np.save(rows_tmp, np.concatenate(w.rows) if w.rows else np.zeros(0, np.int64))
            info_tmp = self.folder / f".{self.key}.{tag}.json"
            info_tmp.write_text(json.dumps({"rows": w.written, "dim": dim, **w.info}), encoding="utf-8")
            os.replace(tmp, self.path)
            os.replace(rows_tmp, self.rows_path)
            os.replace(info_tmp, self.info_path)  # last: its presence says the others are complete
            self._drop_older(w.info.get("source"))
        finally:
            for leftover in self.folder.glob(f".{self.key}.{tag}.*"):
                with contextlib.suppress(OSError):
                    leftover.unlink()


    def _drop_older(self, source: Any) -> None:
        """Remove the stores written earlier for the same ``source`` (its shards changed since): one
        matrix per dataset stays in the cache, not one per version of it."""
        if not source:
            return
        for info in self.folder.glob("*.json"):
            key = info.name[: -len(".json")]
            if key == self.key:
                continue
            try:
                if json.loads(info.read_text(encoding="utf-8")).get("source") != source:
                    continue
            except (OSError, ValueError):
                continue
            for path in (info, self.folder / f"{key}.npy", self.folder / f"{key}.rows.npy"):
                with contextlib.suppress(OSError):
                    path.unlink()  # json first: a reader never finds a store without its matrix


class _Writer:
    def __init__(self, fh: Any):
        self._fh = fh
        self.written = 0
        self.rows: list[np.ndarray] = []
        self.info: dict[str, Any] = {}

    def append(self, mat: np.ndarray, rows: np.ndarray) -> None:
        """Write ``mat`` (as float32) after the rows written so far; ``rows`` are their source row numbers."""
        np.ascontiguousarray(mat, dtype=np.float32).tofile(self._fh)
        self.rows.append(np.asarray(rows, dtype=np.int64))
        self.written += len(mat)
