"""The Compare view: the encoders compared and how their maps are coloured."""

from __future__ import annotations

from dataclasses import dataclass, field  # noqa: F401 - field is used by some states
from typing import Any, Dict, Optional, Tuple  # noqa: F401

from psygnal import evented

from embedview.model.views._base import ViewStateMixin


@evented
@dataclass
class CompareState(ViewStateMixin):
    """The Compare view: the encoders compared and how their maps are coloured."""

    #: encoders side by side (empty: every encoded set)
    encoders: Tuple[str, ...] = ()
    #: neighbours for the kNN agreement
    k: int = 10
    #: "label" or "disagreement"
    color_by: str = "label"
