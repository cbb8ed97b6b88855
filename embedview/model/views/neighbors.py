"""The Neighbours view: how many neighbours, by which metric."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psygnal import evented

from embedview.model.views._base import ViewStateMixin

#: the metrics offered (``core.neighbors`` names)
METRICS = ("cosine", "dot", "euclidean")
#: the range of ``k`` the view offers
K_RANGE = (1, 500)


@evented
@dataclass
class NeighborsState(ViewStateMixin):
    """The Neighbours view's choices (preferences: they stay when new data is opened)."""

    #: neighbours listed for the current item, within :data:`K_RANGE`
    k: int = 10
    #: one of :data:`METRICS`
    metric: str = "cosine"

    def update(self, values: Mapping[str, Any]) -> None:
        """As :meth:`ViewStateMixin.update`; an unknown metric is ignored and ``k`` is clamped to
        :data:`K_RANGE` (a hand-edited session never breaks the search)."""
        values = dict(values)
        if values.get("metric", METRICS[0]) not in METRICS:
            values.pop("metric")
        k = values.get("k")
        if isinstance(k, (int, float)) and not isinstance(k, bool):
            values["k"] = int(min(max(int(k), K_RANGE[0]), K_RANGE[1]))
        super().update(values)
