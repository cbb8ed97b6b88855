"""Typed results of the analyses of one embedding set (one encoder): what every view shares.

Computing a thing once serves every view: the map's colourings, the table's columns, the
Duplicates view and the session all read the same :class:`EncoderAnalyses`.  Each kind of
result has its own field; :class:`AnalysisKind` names them in events and job keys, so nothing
is addressed by a free string.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, NamedTuple

import numpy as np


class AnalysisKind(str, Enum):
    """Which field of :class:`EncoderAnalyses` changed (the payload of ``analysis_changed``)."""

    OUTLIERS = "outliers"  #: ``core.evaluation.OutlierScores`` (fitted)
    DUPLICATES = "duplicates"  #: ``core.duplicates.DuplicateFinder`` at the chosen threshold
    DUPLICATE_DECISIONS = "duplicate_decisions"  #: {item index: "keep" / "drop"}, explicit choices only
    CHECKS = "checks"  #: {check name: result dict} from the Checks view / ``core.checks``
    CLUSTERS = "clusters"  #: ``core.clusters`` fitted clustering (named clusters at several granularities)
    FINDINGS = "findings"  #: ``core.audit.Audit`` fitted: every finding kind (label issues, leaks, ...)
    ITEM_SCORES = "item_scores"  #: {column name: (N,) float array}: uniqueness, representativeness, ...

    def __str__(self) -> str:  # f-strings and logs show the plain name
        return self.value


class ProjectionMethod(str, Enum):
    PCA = "pca"
    UMAP = "umap"

    def __str__(self) -> str:
        return self.value


class Projection2D(NamedTuple):
    """A 2-D map of every item: ``xy`` (N, 2) float32 and the fitted object that made it (or
    whatever a session restored of it: anything with ``to_dict()``).  Unpacks as ``xy, model``."""

    xy: np.ndarray
    model: Any = None


@dataclass
class EncoderAnalyses:
    """Everything computed from one embedding set.  ``None`` / empty: not computed yet."""

    projections: dict[str, Projection2D] = field(default_factory=dict)
    outliers: Any | None = None
    duplicates: Any | None = None
    duplicate_decisions: dict[int, str] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    clusters: Any | None = None
    findings: Any | None = None
    item_scores: dict[str, np.ndarray] = field(default_factory=dict)

    def get(self, kind: AnalysisKind) -> Any:
        return getattr(self, AnalysisKind(kind).value)

    def set(self, kind: AnalysisKind, value: Any) -> None:
        kind = AnalysisKind(kind)
        if kind in (AnalysisKind.DUPLICATE_DECISIONS, AnalysisKind.CHECKS, AnalysisKind.ITEM_SCORES):
            value = dict(value or {})
        setattr(self, kind.value, value)

    def is_empty(self) -> bool:
        return all(not getattr(self, f.name) for f in fields(self))
