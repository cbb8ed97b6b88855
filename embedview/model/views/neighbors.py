"""The Neighbours view: how many neighbours, by which metric."""

from __future__ import annotations

from dataclasses import dataclass, field  # noqa: F401 - field is used by some states
from typing import Any, Dict, Optional, Tuple  # noqa: F401

from psygnal import evented

from embedview.model.views._base import ViewStateMixin


@evented
@dataclass
class NeighborsState(ViewStateMixin):
    """The Neighbours view: how many neighbours, by which metric."""

    #: neighbours listed for the current item
    k: int = 10
    #: "cosine", "dot" or "euclidean"
    metric: str = "cosine"
