"""The Compare view: the encoders compared and how their maps are coloured."""

from __future__ import annotations

from dataclasses import dataclass

from psygnal import evented

from embedview.model.views._base import ViewStateMixin


@evented
@dataclass
class CompareState(ViewStateMixin):
    """The Compare view: the encoders compared and how their maps are coloured."""

    #: encoders side by side, in this order (fewer than two of them encoded: every encoded set,
    #: the active one first); at most three are shown
    encoders: tuple[str, ...] = ()
    #: neighbours per item for the kNN overlap and each encoder's checks
    k: int = 10
    #: "disagreement" (how much the encoders disagree about each item's neighbours) or "label"
    color_by: str = "disagreement"
