"""The in-memory data model: a columnar ``Dataset`` of items and the problems met loading it.

Columnar (lists / arrays per field, not one object per item) so that a million precomputed
vectors cost one matrix plus a few arrays, not a million Python objects.

Item fields
-----------
ids        : unique string id per item (relative path for images, ``file:line`` for text rows,
             the id column for embedding files)
sources    : where the item came from (absolute path of the image file; the text/embedding file)
modality   : ``"image"``, ``"text"`` or ``"embedding"`` for the whole dataset
labels     : optional per-item label (string) or ``None``; ``None`` in the array means unlabelled
texts      : the text of each item (text datasets; ``None`` elsewhere)
metadata   : extra per-item columns, ``{name: list_or_array}``, all of length ``len(dataset)``
             (ids, texts and string columns of sharded data are read-only ``Sequence[str]``s,
             :class:`~embedview.core.shards.PackedStrings`: index, iterate, ``len``, ``==`` a list)
embeddings : precomputed ``(N, D) float32`` matrix (possibly a read-only memmap) or ``None``
problems   : :class:`LoadProblem` for every file or row that was skipped, with the reason
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

MODALITIES = ("image", "text", "embedding")


@dataclass(frozen=True)
class LoadProblem:
    """One file (or row) that could not be used, and why.  ``str()`` is the user-facing message."""

    path: str
    reason: str
    severity: str = "skipped"  # "skipped": the item is not in the dataset; "warning": loaded anyway
    #: how many items (rows, lines, files) this problem skipped: one problem may name many rows
    n_items: int = 1

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def count_skipped(problems: Iterable[Any]) -> int:
    """How many items the ``problems`` skipped: rows and files, not problems; warnings do not count.

    A problem listing 40 bad rows counts 40; a file that could not be read at all counts 1 (its
    items are unknown).  Objects without ``severity`` / ``n_items`` count as one skipped item.
    """
    return sum(int(getattr(p, "n_items", 1)) for p in problems if getattr(p, "severity", "skipped") == "skipped")


@dataclass
class Dataset:
    modality: str
    ids: list[str]
    sources: list[str]
    labels: np.ndarray | None = None  # object array of str / None
    texts: list[str | None] | None = None  # None for an item without text (e.g. mixed with images)
    metadata: dict[str, Any] = field(default_factory=dict)
    embeddings: np.ndarray | None = None
    problems: list[LoadProblem] = field(default_factory=list)
    name: str = ""

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"unknown modality {self.modality!r}; expected one of {MODALITIES}")
        n = len(self.ids)
        if len(self.sources) != n:
            raise ValueError(f"{n} ids but {len(self.sources)} sources")
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=object)
            if len(self.labels) != n:
                raise ValueError(f"{n} items but {len(self.labels)} labels")
        if self.texts is not None and len(self.texts) != n:
            raise ValueError(f"{n} items but {len(self.texts)} texts")
        for key, col in self.metadata.items():
            if len(col) != n:
                raise ValueError(f"metadata column {key!r} has {len(col)} rows for {n} items")
        if self.embeddings is not None:
            if self.embeddings.ndim != 2 or self.embeddings.shape[0] != n:
                raise ValueError(f"embeddings of shape {self.embeddings.shape} for {n} items")

    # -- basics -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None and any(lab is not None for lab in self.labels)

    @property
    def label_names(self) -> list[str]:
        """Sorted distinct labels (unlabelled items excluded)."""
        if self.labels is None:
            return []
        return sorted({str(lab) for lab in self.labels if lab is not None})

    def label_counts(self) -> dict[str, int]:
        """Items per label (unlabelled items not counted), most frequent first, then by name."""
        counts: dict[str, int] = {}
        for lab in self.labels if self.labels is not None else ():
            if lab is not None:
                counts[str(lab)] = counts.get(str(lab), 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def display_text(self, i: int, max_chars: int = 200) -> str:
        """Short human-readable description of item ``i`` (its text, or its id)."""
        t = self.texts[i] if self.texts is not None else None
        if t is not None:
            return t if len(t) <= max_chars else t[: max_chars - 1] + "\u2026"
        return self.ids[i]

    def item(self, i: int) -> dict[str, Any]:
        """All fields of item ``i`` as a dict (for tables, tooltips and exports)."""
        out: dict[str, Any] = {"id": self.ids[i], "source": self.sources[i]}
        if self.labels is not None:
            out["label"] = self.labels[i]
        if self.texts is not None:
            out["text"] = self.texts[i]
        for key, col in self.metadata.items():
            out[key] = col[i]
        return out

    # -- building -----------------------------------------------------------------------
    def subset(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        idx = np.asarray(indices, dtype=np.int64)
        return Dataset(
            modality=self.modality,
            ids=[self.ids[i] for i in idx],
            sources=[self.sources[i] for i in idx],
            labels=None if self.labels is None else self.labels[idx],
            texts=None if self.texts is None else [self.texts[i] for i in idx],
            metadata={k: _take(v, idx) for k, v in self.metadata.items()},
            embeddings=None if self.embeddings is None else np.asarray(self.embeddings[idx]),
            problems=list(self.problems),
            name=self.name,
        )

    @classmethod
    def concat(cls, parts: Iterable[Dataset], name: str = "") -> Dataset:
        """Join datasets of one modality; metadata columns missing in a part become ``None``.

        Ids are made unique by prefixing the part's name when two parts share an id.
        """
        parts = [p for p in parts]
        if not parts:
            raise ValueError("nothing to concatenate")
        modalities = {p.modality for p in parts}
        if len(modalities) != 1:
            raise ValueError(f"cannot mix modalities {sorted(modalities)} in one dataset")
        if len(parts) == 1:
            return parts[0]
        ids: list[str] = []
        seen: set = set()
        for p in parts:
            for x in p.ids:
                if x in seen:
                    x = unique_id(f"{p.name}/{x}" if p.name else x, seen)
                seen.add(x)
                ids.append(x)
        any_labels = any(p.labels is not None for p in parts)
        labels = (
            np.concatenate([p.labels if p.labels is not None else np.full(len(p), None, dtype=object) for p in parts])
            if any_labels
            else None
        )
        any_texts = any(p.texts is not None for p in parts)
        texts: list[str | None] | None = None
        if any_texts:
            texts = []
            for p in parts:
                texts.extend(p.texts if p.texts is not None else [None] * len(p))
        keys: list[str] = []
        for p in parts:
            keys.extend(k for k in p.metadata if k not in keys)
        metadata = {k: list(chain.from_iterable(p.metadata.get(k, [None] * len(p)) for p in parts)) for k in keys}
        embeddings = None
        matrices = [p.embeddings for p in parts if p.embeddings is not None]
        if len(matrices) == len(parts):
            dims = {m.shape[1] for m in matrices}
            if len(dims) != 1:
                raise ValueError(f"embedding files have different dimensions {sorted(dims)}")
            embeddings = np.concatenate([np.asarray(p.embeddings, dtype=np.float32) for p in parts])
        elif any(p.embeddings is not None for p in parts):
            raise ValueError("cannot mix precomputed embeddings with raw items in one dataset")
        return cls(
            modality=parts[0].modality,
            ids=ids,
            sources=list(chain.from_iterable(p.sources for p in parts)),
            labels=labels,
            texts=texts,
            metadata=metadata,
            embeddings=embeddings,
            problems=list(chain.from_iterable(p.problems for p in parts)),
            name=name or "+".join(p.name for p in parts if p.name),
        )


def unique_id(x: str, seen: set) -> str:
    """``x`` if it is not in ``seen``, else the first free ``x#2``, ``x#3``, ... (``seen`` is not changed)."""
    base, k = x, 1
    while x in seen:
        k += 1
        x = f"{base}#{k}"
    return x


def _take(col: Any, idx: np.ndarray) -> Any:
    if isinstance(col, np.ndarray):
        return col[idx]
    return [col[i] for i in idx]
