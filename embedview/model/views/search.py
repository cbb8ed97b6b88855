"""The Search view: the query, how many hits, how to match — and the hits of the last search."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psygnal import evented

from embedview.core.search import SearchHits
from embedview.model.views._base import ViewStateMixin

#: the range of ``k`` the view offers
K_RANGE = (1, 1000)


@evented
@dataclass
class SearchState(ViewStateMixin):
    """The Search view's choices, and ``results``: the hits of the last search.

    The Neighbours view lists ``results`` (the Search view finds them; neither looks the other
    up).  They are not saved in sessions (``to_dict`` leaves them out: a session reopens the data,
    not one search over it).
    """

    #: the query text (what the field shows; a search runs it)
    query: str = ""
    #: hits listed, within :data:`K_RANGE`
    k: int = 20
    #: match words in ids, labels and texts instead of searching by meaning
    words: bool = False
    #: the hits of the last search (None: none yet, or new data); never saved
    results: SearchHits | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.pop("results", None)
        return out

    def update(self, values: Mapping[str, Any]) -> None:
        """As :meth:`ViewStateMixin.update`, without ``results`` (they are never restored);
        ``k`` is clamped to :data:`K_RANGE`."""
        values = {key: v for key, v in values.items() if key != "results"}
        k = values.get("k")
        if isinstance(k, (int, float)) and not isinstance(k, bool):
            values["k"] = int(min(max(int(k), K_RANGE[0]), K_RANGE[1]))
        super().update(values)
