"""The Compare view: the encoders compared and how their maps are coloured."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    #: the one projection every map shows: "umap" (computed for each encoder; every map shows
    #: PCA until every UMAP is ready, so no two maps are ever drawn by different methods) or "pca"
    method: str = "umap"
    #: labels isolated from a map's legend (every map of the comparison dims the others)
    highlighted_labels: tuple[str, ...] = ()

    def update(self, values: Mapping[str, Any]) -> None:
        super().update(values)
        if self.method not in METHODS:
            self.method = "umap"
        if self.color_by not in ("disagreement", "label"):
            self.color_by = "disagreement"


#: the map methods of the Compare view
METHODS = ("umap", "pca")
