"""The Heatmap view: the colour scale of the cosine-similarity matrix."""

from __future__ import annotations

from dataclasses import dataclass, field  # noqa: F401 - field is used by some states
from typing import Any, Dict, Optional, Tuple  # noqa: F401

from psygnal import evented

from embedview.model.views._base import ViewStateMixin


@evented
@dataclass
class HeatmapState(ViewStateMixin):
    """The Heatmap view: the colour scale of the cosine-similarity matrix."""

    #: "fixed" (-1..1 or 0..1) or "data" (the off-diagonal range)
    scale: str = "fixed"
