"""Writing files: embeddings for other tools (``.npz`` and ``.parquet``, used by ``embedview
encode`` and the app's File → Export embeddings), and :func:`atomic_path`, through which every
file embedview writes goes (reports, CSV/JSON exports, sessions, the ONNX export)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``target``; when the block ends without an error,
    move it over ``target`` atomically (``os.replace``), else delete it.

    Readers never see a half-written file, a cancelled or failed write leaves ``target`` as it
    was, and two writers of the same target never share a temporary file.  The temporary file
    is not created here: the writer creates it, with the usual permissions.
    """
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        yield tmp
        os.replace(tmp, target)
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
