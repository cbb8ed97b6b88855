"""Writing files: embeddings for other tools (``.npz`` and ``.parquet``, used by ``embedview
encode`` and the app's File → Export embeddings), and :func:`atomic_path`, through which every
file embedview writes goes (reports, CSV/JSON exports, sessions, the ONNX export), and
:func:`check_output`, the check of an output path before the work that fills it."""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class OutputError(OSError):
    """An output file that cannot be written: the message names the file the user asked for
    (never the temporary file beside it) and the reason.  An ``OSError``, so callers that catch
    those keep working; ``errno`` is the underlying one (``ENOSPC`` for a full disk)."""

    def __str__(self) -> str:  # the message alone, also once ``errno`` / ``filename`` are set
        return str(self.args[0]) if self.args else super().__str__()


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full (no space left on device)"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno == getattr(errno, "EDQUOT", -1):
        return "the disk quota is exceeded"
    return exc.strerror or str(exc) or type(exc).__name__


def _output_error(target: Path, exc: OSError) -> OutputError:
    err = OutputError(f"{target}: cannot write: {_reason(exc)}")
    err.errno = exc.errno
    err.filename = str(target)
    return err


def check_output(target: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Check, before any work, that ``target`` can be written; return it as a ``Path``.

    Refused with :class:`OutputError` naming ``target``: one of the ``inputs`` (the files the
    data was loaded from) or a path inside an input folder, an existing folder, a missing
    folder, a path under something that is not a folder, or a folder where a file cannot be
    created (read-only, no permission, full).  The test creates and deletes one empty hidden
    file beside ``target``; ``target`` itself is not touched.
    """
    path = Path(target)
    resolved = path.resolve()
    for given in inputs:
        src = Path(given).resolve()
        if resolved == src:
            raise OutputError(f"{path}: refusing to write over the input file {given}")
        if src.is_dir() and src in resolved.parents:
            raise OutputError(f"{path}: refusing to write inside the input data ({given})")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    folder = path.parent
    if not folder.exists():
        parent = next((p for p in folder.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise OutputError(f"{path}: cannot write: {parent} is a file, not a folder")
        raise OutputError(f"{path}: cannot write: folder {folder} does not exist")
    if not folder.is_dir():
        raise OutputError(f"{path}: cannot write: {folder} is not a folder")
    probe = folder / f".{path.name}.{uuid.uuid4().hex[:12]}.probe"
    try:
        with open(probe, "xb"):
            pass
    except OSError as exc:
        raise _output_error(path, exc) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``target``; when the block ends without an error,
    move it over ``target`` atomically (``os.replace``), else delete it.

    Readers never see a half-written file, a cancelled or failed write leaves ``target`` as it
    was, and two writers of the same target never share a temporary file.  The temporary file
    is not created here: the writer creates it, with the usual permissions.  An ``OSError``
    while writing (a full disk, a read-only folder) becomes an :class:`OutputError` naming
    ``target``, not the temporary file.
    """
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        try:
            yield tmp
            os.replace(tmp, target)
        except OutputError:
            raise
        except OSError as exc:
            raise _output_error(target, exc) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _label_strings(dataset) -> list[str]:
    if dataset.labels is None:
        return [""] * len(dataset)
    return ["" if lab is None else str(lab) for lab in dataset.labels]


def save_npz(emb, path) -> None:
    """``embeddings`` (N, D) float32 plus ``ids``, ``labels`` ("" = none), ``sources`` (and ``text``) as str arrays.

    Plain arrays only (no pickled objects), so ``np.load(path)`` needs no ``allow_pickle``.
    """
    import numpy as np

    texts = {}
    if emb.dataset.texts is not None:
        texts["text"] = np.asarray(["" if t is None else t for t in emb.dataset.texts], dtype=str)
    with open(path, "wb") as f:
        arrays: dict[str, Any] = {  # Any: numpy's stub would match a ** dict against savez's allow_pickle
            "embeddings": np.asarray(emb.vectors, dtype=np.float32),
            "ids": np.asarray(emb.dataset.ids, dtype=str),
            "labels": np.asarray(_label_strings(emb.dataset), dtype=str),
            "sources": np.asarray(emb.dataset.sources, dtype=str),
            **texts,
        }
        np.savez(f, **arrays)


def save_parquet(emb, path) -> None:
    """A parquet table: ``id``, ``source``, ``label``, [``text``], metadata, ``embedding``.

    ``embedding`` is a fixed-size list of float32; the encoder name is in the schema metadata.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    ds = emb.dataset
    vectors = np.ascontiguousarray(emb.vectors, dtype=np.float32)
    columns: dict[str, Any] = {"id": pa.array(ds.ids, pa.string()), "source": pa.array(ds.sources, pa.string())}
    if ds.labels is not None:
        columns["label"] = pa.array([None if lab is None else str(lab) for lab in ds.labels], pa.string())
    if ds.texts is not None:
        columns["text"] = pa.array(ds.texts, pa.string())
    for key, col in ds.metadata.items():
        if key in columns or key == "embedding":
            continue
        try:
            columns[key] = pa.array(list(col))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[key] = pa.array([None if v is None else str(v) for v in col], pa.string())
    columns["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
    table = pa.table(columns).replace_schema_metadata({"embedview.encoder": emb.encoder})
    pq.write_table(table, path)
