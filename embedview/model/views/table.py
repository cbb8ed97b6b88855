"""The Table view: the filter typed over the items."""

from __future__ import annotations

from dataclasses import dataclass, field  # noqa: F401 - field is used by some states
from typing import Any, Dict, Optional, Tuple  # noqa: F401

from psygnal import evented

from embedview.model.views._base import ViewStateMixin


@evented
@dataclass
class TableState(ViewStateMixin):
    """The Table view: the filter typed over the items."""

    #: text every shown row contains
    filter: str = ""
