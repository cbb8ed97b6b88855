"""Map: the 2-D projection (UMAP or PCA) of the active embedding set as a zoomable scatter plot.

What the user chose lives in ``model.views.map`` (:class:`~embedview.model.views.map.MapState`):
the projection ``method`` and ``color_by``; the two boxes are bound to it both ways, so a session,
a test or a script sets the state and the view follows.  A colour-by choice the data does not
offer yet (outlier scores still computing) stays the wish and is taken when it appears.

The projections come from ``model.projection(method)``; the outlier scores and duplicate groups
from ``model.get_analysis(AnalysisKind.OUTLIERS / DUPLICATES)``.  Drawing, picking, hover and
region selection are the shared :class:`~embedview.gui.canvas.MapCanvas`; the colouring is
computed by ``core.maps.build_coloring`` in the runner (key ``JobKind.MAP_COLOR``), so a million
items never block the window.  Click selects one point, Shift-drag (or Box mode) a rectangle and
Alt-drag (or Lasso mode) a free-hand region.

Clusters (``AnalysisKind.CLUSTERS``, computed by the scheduler on the UMAP map): their names are
drawn at the median position of each cluster's points on the projection shown, the coarse level
zoomed out and the fine level zoomed in (:class:`~embedview.gui.canvas.ClusterLabels`), and
colour-by offers "cluster".  Density contours (iso-lines of a smoothed 2-D histogram holding 90 %,
60 % and 30 % of the points) are computed in the runner.  Both are toggled by ``MapState.clusters``
and ``MapState.contours``.  Item scores (``AnalysisKind.ITEM_SCORES``) add one colour-by each.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QButtonGroup, QComboBox, QHBoxLayout, QLabel, QStackedLayout, QToolButton, QVBoxLayout

from embedview.core.maps import (
    COLOR_CHOICES,
    Coloring,
    build_coloring,
    categorical_coloring,
    continuous_coloring,
    meta_choice,
)
from embedview.gui.bind import bind, show_value
from embedview.gui.canvas import CanvasKeys, LabelLevel, MapCanvas, contour_paths, main_point_style
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.views.base import View
from embedview.gui.widgets import colormap, export_plot_item, item_html
from embedview.gui.workers import JobRunner
from embedview.model import AnalysisKind, AppModel
from embedview.runtime.keys import JobKind

#: above this many points in view, draw a density image instead of points
DENSITY_THRESHOLD = 200_000

_ANALYSIS_COLORS = {"outliers": AnalysisKind.OUTLIERS, "duplicates": AnalysisKind.DUPLICATES,
                    "cluster": AnalysisKind.CLUSTERS, "cluster:fine": AnalysisKind.CLUSTERS}
#: colour-by of an item-score column ("score:uniqueness")
SCORE_PREFIX = "score:"
#: the runner key of the density contours (one live job, beside the density image's)
CONTOURS_KEY = JobKind.MAP_VIEW.key("contours")


def view_coloring(dataset: Any, color_by: str, analysis: Any = None, progress: Any = None) -> Coloring:
    """(worker thread) ``core.maps.build_coloring``, plus the colourings of the clusters (names,
    unclustered grey) and of the item scores (``analysis`` is then the scores dict)."""
    if color_by in ("cluster", "cluster:fine") and analysis is not None:
        level = "fine" if color_by == "cluster:fine" else "coarse"
        names = analysis.name_per_item(level)
        values = [None if lab < 0 else name for lab, name in zip(analysis.labels_[level], names, strict=True)]
        return categorical_coloring(values, "cluster", other="unclustered")
    if color_by.startswith(SCORE_PREFIX) and analysis is not None:
        column = color_by[len(SCORE_PREFIX):]
        if column in analysis:
            return continuous_coloring(np.asarray(analysis[column], dtype=np.float64), column, "viridis")
    return build_coloring(dataset, color_by, analysis, progress=progress)


def density_contours(xy: np.ndarray, progress: Any = None) -> list:
    """(worker thread) The map's density iso-lines (``core.clusters.density_grid``)."""
    from embedview.core.clusters import density_grid

    grid, rect, levels = density_grid(xy, progress=progress)
    return contour_paths(grid, rect, levels)


def color_choice(key: Any) -> str:
    """A colour-by choice as ``MapState.color_by`` spells it; also takes the old ``(kind, column)``
    pairs of sessions saved before the model (``("meta", "year")`` -> ``"meta:year"``)."""
    if isinstance(key, (tuple, list)):
        parts = [str(p) for p in key]
        if len(parts) == 2 and parts[0] in COLOR_CHOICES + ("meta",):
            return meta_choice(parts[1]) if parts[0] == "meta" else parts[0]
        return "".join(parts)
    return str(key)


class MapView(View):
    """The projection of the active embedding set: colour, hover, click / box / lasso selection."""

    title = "Map"
    area = "left"
    name = "map"

    METHODS = (("UMAP", "umap"), ("PCA", "pca"))

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.view_state = model.views.map
        self.thumbnails = shared_thumbnails(model)
        self._cluster_note = ""
        self.method = ""  # projection shown ("umap" / "pca" / ""): the wanted one, or the other until it exists
        self._color_key = ""  # the colour-by whose colouring is shown or being computed
        self._color_bar = None

        # -- controls
        self.method_box = QComboBox()
        for label, key in self.METHODS:
            self.method_box.addItem(label, key)
        self.method_box.setToolTip("Projection: UMAP keeps local neighbourhoods; PCA is linear and fast")
        self.color_box = QComboBox()
        self.color_box.setToolTip("Colour the points by")
        self.color_box.setMinimumContentsLength(12)
        self.mode_buttons = QButtonGroup(self)
        mode_row = QHBoxLayout()
        mode_row.setSpacing(0)
        for key, text, tip in (("pan", "Pan", "Drag pans, wheel zooms (Shift-drag: box, Alt-drag: lasso)"),
                               ("box", "Box", "Drag a rectangle to select (Ctrl adds)"),
                               ("lasso", "Lasso", "Draw around points to select (Ctrl adds)")):
            b = QToolButton()
            b.setText(text)
            b.setCheckable(True)
            b.setToolTip(tip)
            b.setProperty("mode", key)
            self.mode_buttons.addButton(b)
            mode_row.addWidget(b)
            if key == "pan":
                b.setChecked(True)
        self.clusters_button = QToolButton()
        self.clusters_button.setText("Clusters")
        self.clusters_button.setCheckable(True)
        self.clusters_button.setToolTip("Names of the density clusters of the UMAP map at their centres: "
                                        "a few big clusters zoomed out, finer ones zoomed in")
        self.contours_button = QToolButton()
        self.contours_button.setText("Contours")
        self.contours_button.setCheckable(True)
        self.contours_button.setToolTip("Density contours: the lines enclose the densest regions holding "
                                        "90 %, 60 % and 30 % of the points")
        reset = QToolButton()
        reset.setText("Reset view")
        reset.setToolTip("Zoom to show every point")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 0)
        bar.addWidget(QLabel("Map"))
        bar.addWidget(self.method_box)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Colour"))
        bar.addWidget(self.color_box)
        bar.addSpacing(8)
        bar.addLayout(mode_row)
        bar.addSpacing(8)
        bar.addWidget(self.clusters_button)
        bar.addWidget(self.contours_button)
        bar.addSpacing(8)
        bar.addWidget(reset)
        bar.addStretch(1)
        self.info = QLabel()
        self.info.setTextFormat(Qt.RichText)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b35900;")
        self.warning.hide()

        # -- plot: the shared canvas in a PlotWidget of its own
        keys = CanvasKeys(index=JobKind.MAP_INDEX.key(), select=JobKind.MAP_SELECT.key(), view=JobKind.MAP_VIEW.key())
        self.canvas = MapCanvas(model.selection, runner, self.name, keys, density_threshold=DENSITY_THRESHOLD,
                                point_style=main_point_style, parent=self)
        self.plot = pg.PlotWidget(plotItem=self.canvas.plot_item)
        self.plot.setMenuEnabled(False)
        self.canvas.enable_hover(self.plot, self.hover_text, self.thumbnails, card_parent=self)

        self.placeholder = QLabel("Open images, texts or an embedding file to see the map.")
        self.placeholder.setAlignment(Qt.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.stack = QStackedLayout()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.plot)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(bar)
        info_row = QHBoxLayout()
        info_row.setContentsMargins(6, 0, 6, 0)
        info_row.addWidget(self.info, 1)
        lay.addLayout(info_row)
        lay.addWidget(self.warning)
        lay.addLayout(self.stack, 1)

        # -- wiring: the boxes edit the state; the state drives the view
        bind(self.method_box, self.view_state, "method", on_change=lambda _v: self._load_projection())
        bind(self.color_box, self.view_state, "color_by", on_change=lambda _v: self._fill_color_box())
        bind(self.clusters_button, self.view_state, "clusters", on_change=lambda _v: self._update_clusters())
        bind(self.contours_button, self.view_state, "contours", on_change=lambda _v: self._update_contours())
        reset.clicked.connect(self.reset_view)
        self.mode_buttons.buttonClicked.connect(lambda b: self.canvas.vb.set_mode(b.property("mode")))
        model.dataset_changed.connect(self._on_dataset)
        model.active_set_changed.connect(lambda _n: self._on_active())
        model.projection_changed.connect(lambda n: self._load_projection() if n == model.active else None)
        model.analysis_changed.connect(self._on_analysis)
        # labels isolated from the legend: the state is the one home, the canvas follows it
        self.canvas.highlight_requested.connect(lambda labels: setattr(self.view_state, "highlighted_labels",
                                                                       tuple(labels)))
        self.view_state.events.highlighted_labels.connect(lambda labels: self.canvas.set_highlight(labels))
        self.canvas.set_highlight(self.view_state.highlighted_labels)
        show_all = QShortcut(QKeySequence(Qt.Key_Escape), self.plot, context=Qt.WidgetWithChildrenShortcut)
        show_all.activated.connect(self.show_all_labels)
        self._on_dataset()

    # -- what the map shows now (the canvas holds it) ----------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.canvas.mode

    @property
    def tree(self):
        return self.canvas.tree

    @property
    def xy(self) -> np.ndarray | None:
        return self.canvas.xy

    @property
    def coloring(self) -> Coloring | None:
        return self.canvas.coloring

    @property
    def density_threshold(self) -> int:
        return int(self.canvas.density_threshold or 0)

    @density_threshold.setter
    def density_threshold(self, value: int) -> None:
        self.canvas.density_threshold = int(value)
        self.canvas.render()

    def point_at(self, x: float, y: float) -> int:
        """Index of the point nearest to data position ``(x, y)`` within the pick radius, or -1."""
        return self.canvas.point_at(x, y)

    def _pixel_size(self) -> tuple[float, float]:
        return self.canvas.pixel_size()

    def reset_view(self) -> None:
        """Zoom to show every point."""
        self.canvas.reset_view()

    def show_all_labels(self) -> None:
        """Undo an isolation made from the legend (Esc on the map)."""
        self.view_state.highlighted_labels = ()

    # -- state -------------------------------------------------------------------------------------------
    def _on_dataset(self) -> None:
        self.runner.cancel(JobKind.MAP_COLOR)
        self.canvas.clear()
        self.view_state.highlighted_labels = ()  # another dataset's labels
        self._color_key = ""
        self._update_color_bar()
        self._fill_color_box()
        self._load_projection()

    def _on_active(self) -> None:
        self._fill_color_box()
        self._load_projection()

    def _on_analysis(self, kind: AnalysisKind, name: str = "") -> None:
        if name and name != self.model.active:
            return
        if kind in (AnalysisKind.OUTLIERS, AnalysisKind.DUPLICATES, AnalysisKind.CLUSTERS,
                    AnalysisKind.ITEM_SCORES):
            self._fill_color_box()
            effective = self._effective_color()
            if (_ANALYSIS_COLORS.get(effective) == kind
                    or (kind == AnalysisKind.ITEM_SCORES and effective.startswith(SCORE_PREFIX))):
                self._request_coloring()
        if kind == AnalysisKind.CLUSTERS:
            self._update_clusters()

    def choose_color(self, key: Any) -> None:
        """Colour by ``key`` ("label", "meta:year"; old sessions' ``("meta", "year")`` too).  A choice
        the data does not offer yet is kept as the wish and taken when it appears."""
        self.view_state.color_by = color_choice(key)

    def color_options(self) -> list[tuple[str, str]]:
        """``(text, color_by)`` of every colour-by the data offers now (from the model)."""
        ds = self.model.dataset
        options = [("none", "none")]
        if ds is not None:
            if ds.has_labels:
                options.append(("label", "label"))
            if self.model.get_analysis(AnalysisKind.OUTLIERS) is not None:
                options.append(("outlier score", "outliers"))
            if self.model.get_analysis(AnalysisKind.DUPLICATES) is not None:
                options.append(("duplicate group", "duplicates"))
            if self.model.get_analysis(AnalysisKind.CLUSTERS) is not None:
                options += [("cluster", "cluster"), ("cluster (fine)", "cluster:fine")]
            scores = self.model.get_analysis(AnalysisKind.ITEM_SCORES) or {}
            options += [(str(col), SCORE_PREFIX + str(col)) for col in scores]
            options += [(str(col), meta_choice(str(col))) for col in ds.metadata]
        return options

    def _effective_color(self) -> str:
        """The colour-by shown: the state's choice when the data offers it, else label, else none."""
        offered = [key for _, key in self.color_options()]
        for want in (self.view_state.color_by, "label", "none"):
            if want in offered:
                return want
        return "none"

    def _fill_color_box(self) -> None:
        """Colour-by choices the data allows, showing the effective one; recolour when it changed."""
        options = self.color_options()
        keys = [key for _, key in options]
        if [self.color_box.itemData(i) for i in range(self.color_box.count())] != keys:
            self.color_box.blockSignals(True)
            self.color_box.clear()
            for text, key in options:
                self.color_box.addItem(text, key)
            self.color_box.blockSignals(False)
        effective = self._effective_color()
        show_value(self.color_box, effective)
        if effective != self._color_key:
            self._request_coloring()

    def _load_projection(self) -> None:
        """Show the chosen projection of the active set, or the other one while it is computed."""
        want = self.view_state.method
        emb = self.model.emb
        got = self.model.projection(want) if emb is not None else None
        method = want
        note = ""
        if got is None and emb is not None:
            other = "pca" if want == "umap" else "umap"
            got = self.model.projection(other)
            if got is not None:
                method = other
                note = f"computing {want.upper()}\u2026 showing {other.upper()} for now"
        if got is None:
            self.canvas.set_points(None)
            self.canvas.set_cluster_labels([])
            self.canvas.set_contours([])
            self.method = ""
            if self.model.dataset is None:
                self.placeholder.setText("Open images, texts or an embedding file to see the map.")
            elif emb is None:
                self.placeholder.setText("Encoding\u2026 the map appears when the embeddings are ready.")
            else:
                self.placeholder.setText("Computing the map\u2026")
            self.stack.setCurrentWidget(self.placeholder)
            self.info.setText("")
            self.warning.hide()
            return
        embedding, proj_model = got
        self.method = method
        self.stack.setCurrentWidget(self.plot)
        if self.canvas.set_points(embedding):
            self._update_clusters()
            self._update_contours()
        self._show_info(method, proj_model, len(embedding), note)
        c = self.canvas.coloring
        if c is None or len(c.codes) != len(embedding):
            self._request_coloring()

    def _show_info(self, method: str, model: Any, n: int, note: str) -> None:
        parts = [f"<b>{method.upper()}</b> of {n:,} items"]
        trust = getattr(model, "trustworthiness_", None)
        warning = getattr(model, "warning_", "") or ""
        if trust is not None:
            low = trust < getattr(model, "TRUST_WARN", 0.8)
            colour = "#b35900" if low else "#2e7d32"
            parts.append(f"trustworthiness <b style='color:{colour}'>{trust:.2f}</b>")
        kp = getattr(model, "knn_preservation_", None)
        if kp is not None:
            parts.append(f"kNN kept {kp:.0%}")
        if note:
            parts.append(f"<i>{html.escape(note)}</i>")
        self.info.setText(" \u00b7 ".join(parts))
        self.info.setToolTip("Trustworthiness (0..1): how many points that look close on the map are really close "
                             "in the embedding. kNN kept: share of each item's 10 nearest neighbours that stay its "
                             "neighbours on the map.")
        self.warning.setText(f"\u26a0 {warning}" if warning else "")
        self.warning.setVisible(bool(warning))

    # -- clusters and contours --------------------------------------------------------------------------------
    def _update_clusters(self) -> None:
        """Cluster names at the centres of their points on the projection shown (or none)."""
        clusters = self.model.get_analysis(AnalysisKind.CLUSTERS) if self.model.emb is not None else None
        xy = self.canvas.xy
        if (not self.view_state.clusters or clusters is None or xy is None
                or len(xy) != len(clusters.labels_["fine"])):
            self.canvas.set_cluster_labels([])
            self._cluster_note = ""
        else:
            levels = [LabelLevel(clusters.centres_for(xy, level), list(clusters.names_[level]),
                                 np.asarray(clusters.sizes_[level])) for level in clusters.levels_]
            self.canvas.set_cluster_labels(levels)
            self._cluster_note = clusters.method_
        self.clusters_button.setToolTip(
            "Names of the density clusters at their centres: a few big clusters zoomed out, finer ones "
            "zoomed in" + (f".\n\nHow: {self._cluster_note}" if self._cluster_note else
                           ".\n\nComputed after the UMAP map."))

    def _update_contours(self) -> None:
        xy = self.canvas.xy
        self.runner.cancel(CONTOURS_KEY)
        if not self.view_state.contours or xy is None or len(xy) < 3:
            self.canvas.set_contours([])
            return
        self.runner.submit(CONTOURS_KEY, density_contours, xy, on_result=self.canvas.set_contours,
                           is_stale=lambda: self.canvas.xy is not xy or not self.view_state.contours)

    # -- colouring -----------------------------------------------------------------------------------------
    def _request_coloring(self) -> None:
        ds = self.model.dataset
        key = self._effective_color()
        self._color_key = key
        if ds is None:
            return
        kind = _ANALYSIS_COLORS.get(key)
        if key.startswith(SCORE_PREFIX):
            kind = AnalysisKind.ITEM_SCORES
        analysis = self.model.get_analysis(kind) if kind is not None else None

        def stale() -> bool:
            return (self.model.dataset is not ds or self._color_key != key
                    or (kind is not None and self.model.get_analysis(kind) is not analysis))

        self.runner.submit(JobKind.MAP_COLOR, view_coloring, ds, key, analysis, on_result=self._set_coloring,
                           is_stale=stale)

    def _set_coloring(self, coloring: Coloring) -> None:
        self.canvas.set_coloring(coloring)
        self._update_color_bar()

    def _update_color_bar(self) -> None:
        pi = self.canvas.plot_item
        if self._color_bar is not None:
            pi.layout.removeItem(self._color_bar)
            if self._color_bar.scene() is not None:
                self._color_bar.scene().removeItem(self._color_bar)
            self._color_bar = None
        c = self.canvas.coloring
        if c is not None and c.continuous:
            self._color_bar = pg.ColorBarItem(values=c.vrange, colorMap=colormap(c.cmap), interactive=False, width=14,
                                              label=c.title, colorMapMenu=False)
            pi.layout.addItem(self._color_bar, 2, 5)

    # -- hover ---------------------------------------------------------------------------------------------
    def hover_text(self, i: int) -> str:
        """Rich text of the hover card for item ``i``."""
        c = self.canvas.coloring
        parts = [c.describe(i)] if c is not None and c.title and c.title not in ("label", "cluster") else []
        clusters = self.model.get_analysis(AnalysisKind.CLUSTERS) if self.model.emb is not None else None
        if clusters is not None and 0 <= i < len(clusters.labels_["fine"]):
            lab = int(clusters.labels_["fine"][i])
            parts.append(f"cluster: {clusters.names_['fine'][lab] if lab >= 0 else 'unclustered'}")
        return item_html(self.model.dataset, i, html.escape(" \u00b7 ".join(parts)))

    # -- export / shutdown -------------------------------------------------------------------------------------------
    def export_plot(self, path: str) -> None:
        """Write the map as PNG or SVG (by the file extension)."""
        export_plot_item(self.canvas.plot_item, path)

    def shutdown(self) -> None:
        self.canvas.shutdown()
        self.runner.cancel(JobKind.MAP_COLOR)
        self.runner.cancel(CONTOURS_KEY)
