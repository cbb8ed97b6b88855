"""Findings: the items a check flags as likely problems, of every kind, in one shape.

Every finder of dataset problems (likely label errors, near-duplicates that leak across splits,
duplicates, outliers, ...) reports a :class:`FindingSet`: which items it flags, ranked most
severe first, each with a score, the threshold that flagged it and why that threshold, how the
score was computed (on how many items, on a sample or not) and a sentence a user can act on.
The Issues view, ``embedview audit`` (CSV / JSON) and the HTML report all read this one shape.

Conventions
-----------
- ``indices`` are row indices into the dataset / embedding set, ranked most severe first.
- ``scores`` are "higher = more likely a problem" whatever the underlying measure, so every kind
  sorts the same way; ``score_name`` says what the number is (e.g. ``"1 - p(given label)"``).
- ``columns`` are extra per-flagged-item values (``label``, ``suggested_label``, ``split``,
  ``other_id``, ``group``, ...), each a list as long as ``indices``.
- Every number is a plain Python value in :meth:`FindingSet.to_dict` (``None`` instead of NaN),
  so ``json.dumps`` gives strict JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: every finding kind: ``kind -> (title, what it means for the user)``.  Finders may add kinds
#: with :func:`register_kind`; the CSV ``kind`` column holds these keys.
KINDS: dict[str, tuple[str, str]] = {
    "label_issue": ("Likely label errors",
                    "items whose label disagrees with what their neighbours and a classifier on the vectors "
                    "suggest; check the label, fix it or drop the item"),
    "leak": ("Leaks across splits",
             "near-duplicates that sit in different splits (e.g. train and test): the test score is "
             "inflated; drop one side"),
    "duplicate": ("Near-duplicates",
                  "items so similar they are probably copies; keep one of each group"),
    "outlier": ("Outliers",
                "items far from every other item: corrupt inputs, wrong data, or rare cases worth a look"),
}

#: the columns every row of :meth:`FindingSet.rows` starts with, in this order
BASE_COLUMNS = ("kind", "id", "source", "score")


def register_kind(kind: str, title: str, meaning: str) -> None:
    """Add a finding kind (a plugin's or a new check's) so tables and reports can name it."""
    KINDS[kind] = (title, meaning)


def _plain(value: Any) -> Any:
    """A JSON-safe plain Python value: numpy scalars unwrapped, NaN / inf as ``None``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class FindingSet:
    """The items one finder flags.  See the module docstring for the conventions."""

    kind: str
    indices: np.ndarray
    scores: np.ndarray
    score_name: str
    explanation: str
    threshold: float | None = None
    threshold_reason: str = ""
    n_considered: int = 0
    method: str = ""
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.indices = np.asarray(self.indices, dtype=np.int64).reshape(-1)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if len(self.scores) != len(self.indices):
            raise ValueError(f"{self.kind}: {len(self.indices)} items but {len(self.scores)} scores")
        for name, values in self.columns.items():
            if len(values) != len(self.indices):
                raise ValueError(f"{self.kind}: column {name!r} has {len(values)} values for {len(self.indices)} items")
            if name in BASE_COLUMNS:
                raise ValueError(f"{self.kind}: column {name!r} is one of the base columns {BASE_COLUMNS}")

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def title(self) -> str:
        return KINDS.get(self.kind, (self.kind.replace("_", " ").capitalize(), ""))[0]

    def rows(self, ids: Sequence[str], sources: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One dict per flagged item: ``kind``, ``id``, ``source``, ``score``, then ``columns``."""
        out = []
        for j, i in enumerate(self.indices.tolist()):
            row: dict[str, Any] = {
                "kind": self.kind,
                "id": ids[i],
                "source": sources[i] if sources is not None else "",
                "score": _plain(float(self.scores[j])),
            }
            for name, values in self.columns.items():
                row[name] = _plain(values[j])
            out.append(row)
        return out

    def summary(self) -> dict[str, Any]:
        """Everything but the per-item lists: count, threshold and why, method, explanation."""
        return {
            "kind": self.kind,
            "title": self.title,
            "count": len(self),
            "n_considered": int(self.n_considered),
            "score_name": self.score_name,
            "threshold": _plain(self.threshold),
            "threshold_reason": self.threshold_reason,
            "method": self.method,
            "explanation": self.explanation,
        }

    def to_dict(self, ids: Sequence[str], sources: Sequence[str] | None = None) -> dict[str, Any]:
        return {**self.summary(), "items": self.rows(ids, sources)}
