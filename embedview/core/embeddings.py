"""``EmbeddingSet``: a dataset together with one vector per item, from one encoder.

This is what every analysis, view and report consumes.  Raw vectors are kept as produced by
the encoder (or read from a file); :attr:`EmbeddingSet.unit` gives the L2-normalised copy,
computed once and shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedview.core.dataset import Dataset, LoadProblem


def l2_normalize(x: np.ndarray, eps: float = 1e-12, copy: bool = True) -> np.ndarray:
    """Row-wise L2 normalisation in float32; all-zero rows stay zero (no NaN)."""
    x = np.array(x, dtype=np.float32, copy=copy)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    np.maximum(norms, eps, out=norms)
    x /= norms[:, None]
    return x


def as_matrix(X: Any, allow_empty: bool = False) -> np.ndarray:
    """The one input check of the compute functions: an :class:`EmbeddingSet` (its raw
    ``vectors``) or an array-like -> a 2-D float32 array, without a copy when it already is one.

    Raises ``ValueError`` saying what is wrong -- a 1-D or 3-D input (one vector must be a row:
    ``X[None, :]``), no items or no dimensions (unless ``allow_empty``), NaN or infinite values
    (a broken encoder or file; every distance and statistic after it would be NaN) -- so each
    function fails at its entrance with the reason instead of deep inside numpy or scikit-learn.
    """
    X = getattr(X, "vectors", X)
    try:
        M = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected a 2-D matrix of numbers (one vector per row): {exc}") from exc
    if M.ndim != 2:
        hint = " (a single vector? pass it as one row: X[None, :])" if M.ndim == 1 else ""
        raise ValueError(f"expected a 2-D matrix of vectors (one per row), got shape {M.shape}{hint}")
    if not allow_empty and M.size == 0:
        raise ValueError(f"expected at least one vector of at least one dimension, got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        bad = int((~np.isfinite(M)).any(axis=1).sum())
        raise ValueError(f"the vectors contain NaN or infinite values ({bad} of {len(M)} rows)")
    return M


@dataclass
class EmbeddingSet:
    dataset: Dataset
    vectors: np.ndarray  # (N, D) float32, raw
    encoder: str = "precomputed"  # registry name of the encoder, or "precomputed"
    problems: list[LoadProblem] = field(default_factory=list)  # items dropped while encoding
    _unit: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: how the vectors were made, e.g. {"n_cached", "n_encoded", "n_failed", "seconds"} from the pipeline
    stats: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D, got shape {self.vectors.shape}")
        if self.vectors.shape[0] != len(self.dataset):
            raise ValueError(f"{self.vectors.shape[0]} vectors for {len(self.dataset)} items")

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def unit(self) -> np.ndarray:
        """L2-normalised float32 vectors (cached, read-only: shared by every view and check)."""
        if self._unit is None:
            unit = l2_normalize(self.vectors)
            unit.flags.writeable = False
            self._unit = unit
        return self._unit

    @property
    def all_problems(self) -> list[LoadProblem]:
        return list(self.dataset.problems) + list(self.problems)

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> EmbeddingSet:
        """Wrap a dataset that carries precomputed embeddings."""
        if dataset.embeddings is None:
            raise ValueError(f"dataset {dataset.name!r} has no precomputed embeddings; encode it first")
        return cls(dataset=dataset, vectors=dataset.embeddings, encoder="precomputed")

    def subset(self, indices) -> EmbeddingSet:
        idx = np.asarray(indices, dtype=np.int64)
        return EmbeddingSet(self.dataset.subset(idx), np.asarray(self.vectors[idx]), self.encoder, list(self.problems))
