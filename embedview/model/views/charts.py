"""The Charts view: which columns are charted, and the brushes that select items on them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psygnal import evented

from embedview.model.views._base import ViewStateMixin

#: the range of bars a categorical chart shows before the rest become "other"
CATEGORIES_RANGE = (3, 50)


def valid_brush(brush: Any) -> dict[str, list] | None:
    """``brush`` as ``{"range": [lo, hi]}`` or ``{"values": [str, ...]}``, or None when it is neither
    (a hand-edited session never breaks the view)."""
    if not isinstance(brush, Mapping):
        return None
    rng = brush.get("range")
    if isinstance(rng, (list, tuple)) and len(rng) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in rng):
        lo, hi = float(rng[0]), float(rng[1])
        return {"range": [min(lo, hi), max(lo, hi)]}
    values = brush.get("values")
    if isinstance(values, (list, tuple)) and values and all(isinstance(v, str) for v in values):
        return {"values": list(values)}
    return None


@evented
@dataclass
class ChartsState(ViewStateMixin):
    """The Charts view's choices.  ``brushes`` describe the selection the charts made; they are
    cleared when the selection comes from elsewhere or other data is opened."""

    #: columns whose chart is hidden (new columns show by default)
    hidden: tuple[str, ...] = ()
    #: {column: {"range": [lo, hi]}} for numbers, {column: {"values": [category, ...]}} for categories;
    #: the selection is the items inside every brush (AND)
    brushes: dict[str, Any] = field(default_factory=dict)
    #: bars of a categorical chart before the rest are "other", within :data:`CATEGORIES_RANGE`
    max_categories: int = 12

    def update(self, values: Mapping[str, Any]) -> None:
        """As :meth:`ViewStateMixin.update`; malformed brushes are dropped, ``max_categories``
        clamped, hidden names kept only when they are strings."""
        values = dict(values)
        if "brushes" in values:
            raw = values["brushes"]
            if isinstance(raw, Mapping):
                clean = {str(k): b for k, b in ((k, valid_brush(v)) for k, v in raw.items()) if b is not None}
                values["brushes"] = clean
            else:
                values.pop("brushes")
        if "hidden" in values:
            raw = values["hidden"]
            if isinstance(raw, (list, tuple)):
                values["hidden"] = tuple(str(h) for h in raw if isinstance(h, str))
            else:
                values.pop("hidden")
        m = values.get("max_categories")
        if isinstance(m, (int, float)) and not isinstance(m, bool):
            values["max_categories"] = int(min(max(int(m), CATEGORIES_RANGE[0]), CATEGORIES_RANGE[1]))
        super().update(values)
