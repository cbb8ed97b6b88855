"""The Drift view: the other set (B) tested against the open data (A), and the verdict's alpha."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psygnal import evented

from embedview.model.views._base import ViewStateMixin

#: the alphas the view offers: the false-alarm rate of the verdict (each test is held to alpha/2)
ALPHAS = (0.05, 0.01, 0.001)
#: permutations per p-value; enough for the smallest alpha (1/(N+1) < alpha/2)
N_PERMUTATIONS = 2000


@evented
@dataclass
class DriftState(ViewStateMixin):
    """The Drift view's choices (they stay when other data is opened as A: the same B is often
    tested against several sets)."""

    #: the files / folders of set B, loaded with the same loaders and encoded with A's encoder
    b_paths: tuple[str, ...] = ()
    #: one of :data:`ALPHAS`
    alpha: float = 0.01

    def update(self, values: Mapping[str, Any]) -> None:
        """As :meth:`ViewStateMixin.update`; an alpha that is not offered becomes the closest one
        offered, and B's paths must be strings (a hand-edited session never breaks the view)."""
        values = dict(values)
        alpha = values.get("alpha")
        if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
            values["alpha"] = min(ALPHAS, key=lambda a: abs(a - float(alpha)))
        elif "alpha" in values:
            values.pop("alpha")
        paths = values.get("b_paths")
        if isinstance(paths, (list, tuple)):
            values["b_paths"] = tuple(str(p) for p in paths if isinstance(p, str) and p)
        super().update(values)
