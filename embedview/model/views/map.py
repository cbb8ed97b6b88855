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
    #: "none", "label", "outliers", "duplicates", "cluster" (coarse level), "cluster:fine",
    #: "score:<item score column>" or "meta:<column>"
    color_by: str = "label"
    #: labels isolated from the legend (empty: all shown alike)
    highlighted_labels: tuple[str, ...] = ()
    #: cluster names drawn at the cluster centres (coarse level zoomed out, fine level zoomed in)
    clusters: bool = True
    #: density contours (iso-lines of a smoothed 2-D histogram of the points)
    contours: bool = False
