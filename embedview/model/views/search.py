"""The Search view: the query and how many hits."""

from __future__ import annotations

from dataclasses import dataclass, field  # noqa: F401 - field is used by some states
from typing import Any, Dict, Optional, Tuple  # noqa: F401

from psygnal import evented

from embedview.model.views._base import ViewStateMixin


@evented
@dataclass
class SearchState(ViewStateMixin):
    """The Search view: the query and how many hits."""

    #: the last query run
    query: str = ""
    #: hits listed
    k: int = 20
    #: match words in the item texts instead of embedding the query
    words: bool = False
