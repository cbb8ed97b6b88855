"""Typed job keys: one live job per key, so a new run of a panel cancels the old one.

A key is a :class:`JobKind` (what the job is) and, for jobs of which one may run per encoder or
per check at once, a ``part`` (the encoder or check name)::

    runner.submit(JobKind.NEIGHBORS, fn, ...)                 # one at a time
    runner.submit(JobKey(JobKind.CHECK, "knn"), fn, ...)       # one per check
    runner.submit(JobKind.ENCODE_EXTRA.key(name), fn, ...)     # one per encoder

Add a member here for a new kind of job; never submit a free string.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class JobKind(str, Enum):
    # data
    LOAD = "load"
    ENCODE = "encode"
    ENCODE_EXTRA = "encode.extra"  # part: encoder name (comparison encodes)
    ENCODER_AVAILABILITY = "encoders.availability"
    EXPORT_EMBEDDINGS = "export.embeddings"
    EXPORT_SELECTION = "export.selection"
    EXPORT_PLOT = "export.plot"
    REPORT = "report"
    # shared analyses of the active set (the scheduler)
    PCA = "analysis.pca"
    UMAP = "analysis.umap"
    OUTLIERS = "analysis.outliers"
    DUPLICATES = "analysis.duplicates"
    GRAPH = "analysis.graph"  # the kept neighbour graph (core.graph.knn_graph) the analyses read
    # views
    MAP_INDEX = "map.index"
    MAP_COLOR = "map.color"
    MAP_VIEW = "map.view"
    MAP_SELECT = "map.select"
    NEIGHBORS = "neighbors"
    HEATMAP = "heatmap"
    SEARCH = "search"
    TABLE = "table"
    DUPLICATES_APPLY = "duplicates.apply"
    DUPLICATES_NEAR = "duplicates.near"
    DUPLICATES_EXPORT = "duplicates.export"
    CHECK = "checks"  # part: check name
    COLLAPSE = "collapse"
    COMPARE = "compare"
    COMPARE_METRICS = "compare.metrics"
    COMPARE_COLOR = "compare.color"
    COMPARE_SELECT = "compare.select"
    COMPARE_PCA = "compare.pca"  # part: encoder name
    COMPARE_INDEX = "compare.index"  # part: encoder name
    NEIGHBOR_INDEX = "analysis.neighbor_index"  # the approximate index built in the background
    CLUSTERS = "analysis.clusters"
    FINDINGS = "analysis.findings"  # the audit: label issues, leaks, duplicates, outliers
    ITEM_SCORES = "analysis.item_scores"  # uniqueness, representativeness
    FACETS = "facets"  # metadata charts (binning, selection shares)
    DRIFT = "drift"
    DRIFT_ENCODE = "drift.encode"  # load + encode the other set
    ISSUES_EXPORT = "issues.export"
    TIMELINE = "timeline"  # read a run folder and measure every step
    TIMELINE_MAP = "timeline.map"  # the aligned maps of every step
    # sessions
    SESSION_SAVE = "session.save"
    SESSION_LOAD = "session.load"
    SESSION_IDS = "session.ids"
    SESSION_DUPLICATES = "session.duplicates"  # part: encoder name

    def key(self, part: str = "") -> JobKey:
        return JobKey(self, part)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class JobKey:
    kind: JobKind
    part: str = ""

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.part}" if self.part else self.kind.value


KeyLike = JobKey | JobKind


def as_key(key: KeyLike) -> JobKey:
    """``JobKind`` or ``JobKey`` as a ``JobKey``; anything else is a programming error."""
    if isinstance(key, JobKey):
        return key
    if isinstance(key, JobKind):
        return JobKey(key)
    raise TypeError(f"job keys are JobKind / JobKey, not {type(key).__name__} ({key!r})")
