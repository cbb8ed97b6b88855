"""The Checks view: which checks run, with which parameters."""

from __future__ import annotations

from dataclasses import dataclass, field  # noqa: F401 - field is used by some states
from typing import Any, Dict, Optional, Tuple  # noqa: F401

from psygnal import evented

from embedview.model.views._base import ViewStateMixin


@evented
@dataclass
class ChecksState(ViewStateMixin):
    """The Checks view: which checks run, with which parameters."""

    #: checks the user switched on (empty: every check the data allows)
    enabled: Tuple[str, ...] = ()
    #: per check, its parameters: {"knn": {"k": 10}, ...}
    params: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    #: neighbour metric for every check
    metric: str = "cosine"
