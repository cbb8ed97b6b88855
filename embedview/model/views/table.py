"""The Items table: the filter typed over the items and the column the rows are sorted by."""

from __future__ import annotations

from dataclasses import dataclass

from psygnal import evented

from embedview.model.views._base import ViewStateMixin


@evented
@dataclass
class TableState(ViewStateMixin):
    """The Items table's choices."""

    #: text every shown row contains (id, label or text; case-insensitive)
    filter: str = ""
    #: the column key the rows are sorted by ("id", "label", "text", "meta:<column>", "outlier");
    #: empty: item order.  A key the data has no column for leaves the rows in item order.
    sort: str = ""
    #: sorted largest / last first
    descending: bool = False
