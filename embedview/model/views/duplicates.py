"""The Duplicates view: the one place the similarity threshold lives."""

from __future__ import annotations

from dataclasses import dataclass, field  # noqa: F401 - field is used by some states
from typing import Any, Dict, Optional, Tuple  # noqa: F401

from psygnal import evented

from embedview.model.views._base import ViewStateMixin


@evented
@dataclass
class DuplicatesState(ViewStateMixin):
    """The Duplicates view: the one place the similarity threshold lives."""

    #: cosine at or above which two items are near-duplicates (None: the data's suggestion)
    threshold: Optional[float] = None
    #: histogram counts on a log scale
    log_counts: bool = False
