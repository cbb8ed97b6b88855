"""The Collapse view: the post-hoc mitigations measured and how the spread is drawn."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psygnal import evented

from embedview.model.views._base import ViewStateMixin

#: how the per-dimension spread is drawn
SPREADS = ("std", "var")


@evented
@dataclass
class CollapseState(ViewStateMixin):
    """The Collapse view's choices.

    Field names match the view's entry of sessions written before the model existed
    (``{"center", "whiten", "spread", "log"}``), so ``update`` reads those as they are.
    ``center`` and ``whiten`` go back to False for new data (``ViewStates.reset_for_new_data``):
    a leftover tick would measure other data mitigated and could hide its collapse.
    """

    #: mean-centre the vectors before the diagnostics
    center: bool = False
    #: PCA-whiten the vectors before the diagnostics (whitening also centres)
    whiten: bool = False
    #: per-dimension spread drawn as standard deviation ("std") or variance ("var")
    spread: str = "std"
    #: per-dimension spread on a log scale (dead dimensions stand out)
    log: bool = False

    def update(self, values: Mapping[str, Any]) -> None:
        """As :meth:`ViewStateMixin.update`; a spread this view does not draw is ignored."""
        if values.get("spread", SPREADS[0]) not in SPREADS:
            values = {k: v for k, v in values.items() if k != "spread"}
        super().update(values)
