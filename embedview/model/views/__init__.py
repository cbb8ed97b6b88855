"""One state object per view: what the user chose there.  Widgets bind to these; sessions save them.

To add a view's state: a small ``@evented @dataclass`` module here (copy ``neighbors.py``), then a
field in :class:`ViewStates`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from embedview.model.views.charts import ChartsState
from embedview.model.views.checks import ChecksState
from embedview.model.views.collapse import CollapseState
from embedview.model.views.compare import CompareState
from embedview.model.views.drift import DriftState
from embedview.model.views.duplicates import DuplicatesState
from embedview.model.views.heatmap import HeatmapState
from embedview.model.views.issues import IssuesState
from embedview.model.views.map import MapState
from embedview.model.views.neighbors import NeighborsState
from embedview.model.views.search import SearchState
from embedview.model.views.table import TableState
from embedview.model.views.timeline import TimelineState


@dataclass
class ViewStates:
    """Every view's state, by view."""

    map: MapState = field(default_factory=MapState)
    neighbors: NeighborsState = field(default_factory=NeighborsState)
    duplicates: DuplicatesState = field(default_factory=DuplicatesState)
    checks: ChecksState = field(default_factory=ChecksState)
    collapse: CollapseState = field(default_factory=CollapseState)
    compare: CompareState = field(default_factory=CompareState)
    drift: DriftState = field(default_factory=DriftState)
    heatmap: HeatmapState = field(default_factory=HeatmapState)
    search: SearchState = field(default_factory=SearchState)
    table: TableState = field(default_factory=TableState)
    issues: IssuesState = field(default_factory=IssuesState)
    charts: ChartsState = field(default_factory=ChartsState)
    timeline: TimelineState = field(default_factory=TimelineState)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {f.name: getattr(self, f.name).to_dict() for f in fields(self)}

    def update(self, saved: Mapping[str, Any]) -> None:
        for f in fields(self):
            values = saved.get(f.name)
            if isinstance(values, Mapping):
                getattr(self, f.name).update(values)

    def reset_for_new_data(self) -> None:
        """A new dataset: choices that would hide or mislead on other data go back to defaults
        (a leftover mean-centring tick can hide a collapse; a threshold read off other data is
        meaningless).  Layout-like choices (map method, k, scales) stay."""
        self.collapse.center = False
        self.collapse.whiten = False
        self.duplicates.threshold = None
        self.map.highlighted_labels = ()
        self.compare.encoders = ()
        self.compare.highlighted_labels = ()
        self.search.query = ""
        self.search.results = None
        self.table.filter = ""
        self.issues.decisions = {}  # decisions are by item id: ids of other data are other items


__all__ = [
    "ViewStates", "MapState", "NeighborsState", "DuplicatesState", "ChecksState", "CollapseState",
    "CompareState", "HeatmapState", "SearchState", "TableState",
]
