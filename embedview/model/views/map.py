"""The Map view: which projection is drawn and what colours the points."""

from __future__ import annotations

from dataclasses import dataclass

from psygnal import evented

from embedview.model.views._base import ViewStateMixin


@evented
@dataclass
class MapState(ViewStateMixin):
    """The Map view: which projection is drawn and what colours the points."""

    #: projection shown: "umap" or "pca" (PCA shows until UMAP is ready)
    method: str = "umap"
    #: "none", "label", "outliers", "duplicates" or "meta:<column>"
    color_by: str = "label"
    #: labels isolated from the legend (empty: all shown alike)
    highlighted_labels: tuple[str, ...] = ()
