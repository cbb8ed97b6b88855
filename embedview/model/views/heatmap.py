"""The Heatmap view: the colour scale of the cosine-similarity matrix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psygnal import evented

from embedview.model.views._base import ViewStateMixin

#: "data": the range of the off-diagonal values shown (most contrast); "full": -1 .. 1, white at 0.
#: The diagonal (each item with itself) is in neither: it has its own colour
#: (``core.similarity.color_levels`` / ``without_diagonal``)
SCALES = ("data", "full")


@evented
@dataclass
class HeatmapState(ViewStateMixin):
    """The Heatmap view's choices."""

    #: colour scale, one of :data:`SCALES`
    scale: str = "data"

    def update(self, values: Mapping[str, Any]) -> None:
        """As :meth:`ViewStateMixin.update`; a scale this view does not offer is ignored."""
        if values.get("scale", SCALES[0]) not in SCALES:
            values = {k: v for k, v in values.items() if k != "scale"}
        super().update(values)
