"""Compare: two or three encoders of the same items side by side.

What the view shows (all computed by :class:`~embedview.core.compare.EncoderComparison` in the
runner, key ``JobKind.COMPARE``, only while the view is visible; each encoder's checks under
``JobKind.COMPARE_METRICS``):

* a "which to pick" line (:func:`pick_summary`): the best kNN accuracy among the healthy
  encoders when the data has labels, else the highest effective rank, plus which encoders
  collapse and how similar their geometries are;
* every quality metric side by side (the report's metric rows over ``metrics_``);
* linear CKA for every pair (``cka_``) and the mean kNN overlap of every pair;
* one small map per encoder, every one drawn by the same method (``model.views.compare.method``):
  with "umap", each encoder's UMAP (the active set's from the scheduler, the others' computed here
  under ``JobKind.UMAP.key(name)``) once every one is ready and every map's PCA until then, so two
  encoders with the same geometry never look different because one map is a UMAP and the other a
  PCA; with "pca", PCA (of a non-active set computed here, ``JobKind.COMPARE_PCA.key(name)``);
  projections are filed in the model for the other views; each map is the shared
  :class:`~embedview.gui.canvas.MapCanvas` of the Map view, all linked to the shared
  selection: clicking / box / lasso in any map selects there and the selection and current
  item are drawn in every map; points are coloured by how much the encoders disagree about each
  item's neighbours (``disagreement_``: 1 - mean kNN overlap) or by label;
* for the current item, how many of its neighbours each pair of encoders shares.

Encoders are named by :func:`~embedview.encoders.registry.display_names` (two local folders
``/a/model`` and ``/b/model`` read ``sbert:a/model`` and ``sbert:b/model``); the registry name stays
the key.  A comparison encode running (``JobKind.ENCODE_EXTRA.key(name)``) shows as a row with
its progress and a Cancel button above the view, on the hint page as on the maps.

The choices (``k``, the colouring, the map method, which encoders) live in ``model.views.compare``
(:class:`~embedview.model.views.compare.CompareState`), the boxes bound to it both ways.

With fewer than two encoders computed it shows a hint and a button that runs the window's
"Add encoder for comparison" action.  The maps draw at most :data:`MAX_MAP_POINTS` points each (a
fixed random sample; selection and picking still use every item's position for box / lasso).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStackedLayout,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from embedview.actions.analysis import run_pca, run_umap
from embedview.core.compare import EncoderComparison
from embedview.core.embeddings import EmbeddingSet
from embedview.core.maps import Coloring, compare_coloring, plain_coloring
from embedview.core.metric_table import get_path, metric_rows
from embedview.encoders.registry import display_names
from embedview.gui import theme
from embedview.gui.bind import bind
from embedview.gui.canvas import CanvasKeys, MapCanvas, small_point_style
from embedview.gui.views.base import View
from embedview.gui.widgets import (
    MAX_SETS,
    colormap,
    export_plot_item,
    fill_metric_rows,
    fit_table_height,
    item_html,
    item_title,
    metric_table,
    short_name,
)
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.runtime.keys import JobKey, JobKind

#: points drawn per map at most (a fixed random sample above it)
MAX_MAP_POINTS = 50_000
#: "Select most disagreeing" takes this share of the items (at least 1, at most MAX_TOP)
TOP_SHARE = 0.02
MAX_TOP = 1000
#: pick radius in screen pixels
PICK_PX = 8
#: the map methods, as the method box lists them
PANEL_METHODS = ("umap", "pca")
ADD_ACTION = "add_encoder"


# -- jobs and pure helpers (worker threads / tests) ------------------------------------------------------
def state_order(emb: EmbeddingSet, state_ids: Sequence[str]) -> np.ndarray | None:
    """Rows of ``emb`` in the order of the open dataset's items (``None`` when already in it).

    Raises ``ValueError`` naming the encoder when it does not hold exactly the dataset's items.
    """
    ids = emb.dataset.ids
    if ids is state_ids or list(ids) == list(state_ids):
        return None
    pos = {str(x): i for i, x in enumerate(ids)}
    missing = [str(x) for x in state_ids if str(x) not in pos]
    if missing or len(pos) != len(state_ids):
        raise ValueError(
            f"{emb.encoder!r} does not hold the same items as the open data ({len(missing)} missing, e.g. "
            f"{missing[:3]}; {len(ids)} vs {len(state_ids)} items); encode the same data with each encoder")
    return np.array([pos[str(x)] for x in state_ids], dtype=np.int64)


@dataclass
class CompareResult:
    """The comparison of the shown sets; every per-item array is in the open dataset's order."""

    comparison: EncoderComparison
    sets: dict[str, EmbeddingSet]  # the sets it was computed from (to know when it is stale)
    k: int
    order: dict[str, np.ndarray | None] = field(default_factory=dict)  # rows of each set in state order

    @property
    def names(self) -> list[str]:
        return list(self.comparison.names_)

    @property
    def disagreement(self) -> np.ndarray:
        return self.comparison.disagreement_


def compare_job(sets: dict[str, EmbeddingSet], state_ids: Sequence[str], k: int, progress=None) -> CompareResult:
    """The geometry part of :class:`EncoderComparison` (CKA, kNN overlap, disagreement) of ``sets``
    in the dataset's item order; each encoder's quality checks come from :func:`metrics_job`."""
    order = {name: state_order(emb, state_ids) for name, emb in sets.items()}
    aligned = {name: emb if order[name] is None else emb.subset(order[name]) for name, emb in sets.items()}
    comp = EncoderComparison(k=k, metrics=False).fit(aligned, progress=progress)
    return CompareResult(comp, dict(sets), k, order)


def metrics_job(sets: dict[str, EmbeddingSet], k: int, progress=None) -> dict[str, dict]:
    """Each set's quality checks exactly as ``EncoderComparison(metrics=True)`` runs them
    (:attr:`EncoderComparison.METRIC_CHECKS` through :class:`~embedview.core.checks.Checks`).

    A separate job so the geometry shows at once while the slower checks (the linear probe's
    cross-validation) run on the other core, and so adding an encoder only measures that one.
    """
    from embedview.core.checks import Checks

    out: dict[str, dict] = {}
    n = max(1, len(sets))
    for i, (name, emb) in enumerate(sets.items()):
        checks = Checks(k=k, include=EncoderComparison.METRIC_CHECKS)
        result = checks.fit(emb, progress=progress.sub(i / n, (i + 1) / n))
        out[name] = {key: v for key, v in result.to_dict().items() if key != "dataset"}
    return out


def _fmt(value: float | None, digits: int = 3) -> str:
    return "\u2013" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def pick_summary(comp: EncoderComparison, metrics: dict[str, dict] | None = None,
                 labels: Mapping[str, str] | None = None) -> str:
    """A short rich-text "which to pick" line from each encoder's checks (``metrics``, default the
    comparison's own ``metrics_``) and the comparison's CKA and kNN overlap.

    With labels: the best kNN accuracy among the encoders whose collapse verdict is healthy (all of
    them when none is).  Without: the highest effective rank among the healthy ones.  Then the
    other notable facts: the highest effective rank when it is another encoder, which encoders
    collapse, and how alike the geometries are (mean linear CKA and kNN overlap).  ``labels``: the
    name shown for each encoder (default :func:`short_name` of it).
    """
    names = list(comp.names_)
    m = comp.metrics_ if metrics is None else metrics
    parts = []
    if all(n in m for n in names):
        parts += _pick_sentences(names, m, labels or {})
    if len(names) >= 2:
        iu = np.triu_indices(len(names), k=1)
        cka = float(np.mean(comp.cka_[iu]))
        overlap = float(np.mean([o.mean() for o in comp.overlap_.values()]))
        alike = ("nearly the same geometry" if cka >= 0.9
                 else ("similar geometry" if cka >= 0.6 else "different geometries"))
        parts.append(f"Linear CKA {cka:.2f}: {alike}; they share {overlap:.0%} of each item's {comp.k} nearest "
                     "neighbours on average.")
    return " ".join(parts)


def _pick_sentences(names: list[str], m: dict[str, dict], labels: Mapping[str, str]) -> list[str]:
    """The "pick", "highest effective rank" and "collapses" sentences of :func:`pick_summary`."""
    healthy = [n for n in names if m[n].get("verdict") == "healthy"] or names
    knn = {n: get_path(m[n], "knn", "accuracy") for n in names}
    rank = {n: get_path(m[n], "collapse", "effective_rank") for n in names}

    def lab(name: str) -> str:
        return html.escape(labels.get(name) or short_name(name))

    def b(name: str) -> str:
        return f"<b>{lab(name)}</b>"

    def others(values: dict[str, float | None], best: str, digits: int) -> str:
        rest = [f"{lab(n)} {_fmt(values[n], digits)}" for n in names if n != best]
        return f" ({', '.join(rest)})" if rest else ""

    parts = []
    scored = [n for n in healthy if knn[n] is not None]
    if scored:
        pick = max(scored, key=lambda n: knn[n])
        parts.append(f"Pick {b(pick)}: best kNN accuracy {_fmt(knn[pick])}{others(knn, pick, 3)}.")
    else:
        ranked = [n for n in healthy if rank[n] is not None]
        pick = max(ranked, key=lambda n: rank[n]) if ranked else names[0]
        parts.append(f"Pick {b(pick)}: highest effective rank {_fmt(rank[pick], 1)}{others(rank, pick, 1)} "
                     "(no labels to score neighbours; open data with labels for kNN accuracy).")
    ranked = [n for n in names if rank[n] is not None]
    if ranked:
        top = max(ranked, key=lambda n: rank[n])
        if top != pick:
            parts.append(f"Highest effective rank: {b(top)} {_fmt(rank[top], 1)}{others(rank, top, 1)}.")
    for n in names:
        verdict = m[n].get("verdict")
        if verdict and verdict != "healthy":
            parts.append(f"{b(n)} shows {html.escape(verdict)}.")
    return parts


# -- one encoder's map ---------------------------------------------------------------------------------
class _MapPanel:
    """A small linked map of one encoder: the shared :class:`MapCanvas` in the view's plot layout
    (at most :data:`MAX_MAP_POINTS` drawn; the selection and current item come from the model)."""

    def __init__(self, view: CompareView, name: str, col: int) -> None:
        self.name = name
        keys = CanvasKeys(index=JobKind.COMPARE_INDEX.key(name), select=JobKind.COMPARE_SELECT.key(name))
        self.canvas = MapCanvas(view.selection, view.runner, view.name, keys, max_points=MAX_MAP_POINTS,
                                point_style=small_point_style, pick_px=PICK_PX, parent=view)
        view.plots.addItem(self.canvas.plot_item, row=0, col=col)
        self.canvas.enable_hover(view.plots, view.hover_text, card_parent=view)
        # a legend click isolates labels on every map of the comparison (the state is the view's)
        self.canvas.highlight_requested.connect(
            lambda labels: setattr(view.view_state, "highlighted_labels", tuple(labels)))
        self.canvas.set_highlight(view.view_state.highlighted_labels)
        self.method = ""
        self.source: object = None  # the projection array drawn (to redraw only when it changes)

    # what the panel shows now (the canvas holds it)
    @property
    def xy(self) -> np.ndarray | None:
        return self.canvas.xy

    @property
    def tree(self):
        return self.canvas.tree

    def set_title(self, text: str) -> None:
        self.canvas.plot_item.setTitle(html.escape(text), size="9pt")

    def set_points(self, xy: np.ndarray | None, method: str, source: object = None) -> None:
        """Positions of every item (dataset order) from projection ``method``; None clears."""
        self.method = method
        self.source = source
        self.canvas.set_points(xy)

    def select_rect(self, rect: QRectF, add: bool = False) -> np.ndarray:
        return self.canvas.select_rect(rect, add)

    def close(self) -> None:
        self.canvas.close()


# -- the view ------------------------------------------------------------------------------------------
class CompareView(View):
    """Two or three encoders side by side: metrics, CKA, kNN agreement and linked maps."""

    title = "Compare"
    area = "bottom"
    name = "compare"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.view_state = model.views.compare
        self.result: CompareResult | None = None
        #: encoder name -> (the set, k, its checks as EncoderComparison.metrics_ holds them)
        self._metrics: dict[str, tuple[EmbeddingSet, int, dict]] = {}
        self.coloring: Coloring | None = None
        self.panels: dict[str, _MapPanel] = {}
        self._dirty = True
        self._pca_requested: dict[str, EmbeddingSet] = {}
        self._umap_requested: dict[str, EmbeddingSet] = {}
        self._map_progress: dict[str, float] = {}  # encoder -> fraction of its UMAP computed here
        self._labels: dict[str, str] = {}
        self._encode_rows: dict[str, tuple[QWidget, QProgressBar, QLabel]] = {}
        self._color_bar = None

        # -- hint page (fewer than two encoders)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignCenter)
        self.add_button = QPushButton("Add encoder for comparison\u2026")
        self.add_button.setToolTip("Encode the same data with another encoder; the current one stays active")
        self.add_button.clicked.connect(self.request_add_encoder)
        hint_page = QWidget()
        hint_lay = QVBoxLayout(hint_page)
        hint_lay.addStretch(1)
        hint_lay.addWidget(self.hint)
        hint_lay.addWidget(self.add_button, 0, Qt.AlignHCenter)
        hint_lay.addStretch(1)

        # -- controls
        self.k_box = QSpinBox()
        self.k_box.setRange(1, 100)
        self.k_box.setToolTip("Neighbours per item for the kNN overlap and the checks")
        self.color_box = QComboBox()
        self.color_box.addItem("neighbour disagreement", "disagreement")
        self.color_box.addItem("label", "label")
        self.color_box.setToolTip("Colour the maps by how much the encoders disagree about each item's "
                                  "neighbours (1 - shared fraction), or by label")
        self.top_button = QPushButton("Select most disagreeing")
        self.top_button.setToolTip(f"Select the {TOP_SHARE:.0%} of items whose neighbours differ most between the "
                                   f"encoders (at most {MAX_TOP:,})")
        self.top_button.clicked.connect(self.select_most_disagreeing)
        self.method_box = QComboBox()
        self.method_box.addItem("UMAP", "umap")
        self.method_box.addItem("PCA", "pca")
        self.method_box.setToolTip("The projection every map shows. UMAP is computed for each encoder; until "
                                   "every one is ready all maps show PCA, so the maps are always comparable")
        self.map_note = QLabel()
        self.map_note.setStyleSheet("color: palette(placeholder-text);")
        self.more_button = QPushButton("Add encoder\u2026")
        self.more_button.setToolTip("Encode the same data with one more encoder (up to three are compared)")
        self.more_button.clicked.connect(self.request_add_encoder)
        self.status = QLabel()
        self.status.setStyleSheet("color: palette(placeholder-text);")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 0)
        bar.addWidget(QLabel("k"))
        bar.addWidget(self.k_box)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Colour"))
        bar.addWidget(self.color_box)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Map"))
        bar.addWidget(self.method_box)
        bar.addWidget(self.map_note)
        bar.addWidget(self.top_button)
        bar.addWidget(self.more_button)
        bar.addStretch(1)
        bar.addWidget(self.status)

        # -- left: summary and tables
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.RichText)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.current_label = QLabel()
        self.current_label.setWordWrap(True)
        self.current_label.setTextFormat(Qt.RichText)
        self.metrics_table = metric_table()
        self.cka_table = metric_table()
        self.overlap_table = metric_table()
        self.cka_title = QLabel("<b>Linear CKA</b> (1 = the same geometry up to rotation and scale)")
        self.overlap_title = QLabel()
        for w in (self.cka_title, self.overlap_title):
            w.setWordWrap(True)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(4, 4, 4, 4)
        for w in (self.summary, self.current_label, self.cka_title, self.cka_table, self.overlap_title,
                  self.overlap_table, self.metrics_table):
            left_lay.addWidget(w)
        left_lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setWidget(left)
        scroll.setMinimumWidth(320)

        # -- right: one map per encoder
        self.plots = pg.GraphicsLayoutWidget()
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(self.plots)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setSizes([420, 900])
        content = QWidget()
        content_lay = QVBoxLayout(content)
        content_lay.setContentsMargins(0, 0, 0, 0)
        content_lay.setSpacing(2)
        content_lay.addLayout(bar)
        content_lay.addWidget(splitter, 1)
        self.content = content
        self.hint_page = hint_page
        # comparison encodes running: one row each (progress, Cancel), over both pages
        self.encodes_box = QWidget()
        self.encodes_lay = QVBoxLayout(self.encodes_box)
        self.encodes_lay.setContentsMargins(4, 4, 4, 0)
        self.encodes_box.hide()
        pages = QWidget()
        self.stack = QStackedLayout(pages)
        self.stack.addWidget(hint_page)
        self.stack.addWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.encodes_box)
        outer.addWidget(pages, 1)

        bind(self.k_box, self.view_state, "k", on_change=lambda _v: self.refresh())
        bind(self.color_box, self.view_state, "color_by", on_change=lambda _v: self._request_coloring())
        bind(self.method_box, self.view_state, "method", on_change=lambda _v: self._load_maps())
        self.view_state.events.highlighted_labels.connect(self._show_highlight)
        runner.progress.connect(self._on_job_progress)
        runner.busy_changed.connect(self._sync_encode_rows)
        model.dataset_changed.connect(self._on_dataset)
        model.embeddings_changed.connect(lambda _n: self.refresh())
        model.active_changed.connect(lambda _n: self.refresh())
        model.projection_changed.connect(self._on_projection)
        # each map's canvas draws the shared selection itself; the numbers follow the current item
        model.selection.current_changed.connect(lambda _i, _src: self._show_current())
        self._on_dataset()

    # -- public ------------------------------------------------------------------------------------------
    @property
    def k(self) -> int:
        return int(self.view_state.k)

    @property
    def comparison(self) -> EncoderComparison | None:
        return self.result.comparison if self.result is not None else None

    def refresh(self) -> None:
        """Compare the shown sets (computing what is missing); a hint when fewer than two."""
        sets = self.shown_sets()
        if len(sets) < 2:
            self._show_hint(sets)
            return
        if not self.isVisible():
            self._dirty = True
            return
        self._dirty = False
        self.stack.setCurrentWidget(self.content)
        self._sync_panels(list(sets))
        self._load_maps()
        missing = {n: e for n, e in sets.items() if not self._has_metrics(n, e)}
        if missing:
            self.runner.submit(JobKind.COMPARE_METRICS, metrics_job, missing, self.k,
                               on_result=lambda res, sets=missing, k=self.k: self._measured(sets, k, res),
                               is_stale=lambda sets=missing: not self._all_current(sets),
                               on_error=self._failed)
        if self._current(sets):
            self._show_result()
            return
        if self.coloring is None or len(self.coloring.codes) != self.model.n_items:
            self._set_coloring(plain_coloring(self.model.n_items))  # plain points until then
        self.runner.submit(JobKind.COMPARE, compare_job, dict(sets), self.model.dataset.ids, self.k,
                           on_result=self._computed, on_error=self._failed,
                           is_stale=lambda sets=dict(sets), k=self.k: k != self.k or not self._all_current(sets),
                           on_progress=lambda f, m: self.status.setText(f"comparing\u2026 {f * 100:.0f} %  {m}"))
        self.status.setText("comparing\u2026")
        if self.result is None:
            self.summary.setText("<i>Comparing the encoders\u2026</i>")
            for w in (self.cka_title, self.cka_table, self.overlap_title, self.overlap_table, self.metrics_table):
                w.hide()

    def select_most_disagreeing(self) -> np.ndarray:
        """Select the items whose neighbours differ most between the encoders; returns them."""
        if self.result is None:
            return np.empty(0, dtype=np.int64)
        d = self.result.disagreement
        n = int(min(MAX_TOP, max(1, round(TOP_SHARE * len(d)))))
        top = np.argpartition(-d, n - 1)[:n] if n < len(d) else np.arange(len(d))  # O(N), not a full sort
        self.selection.set_selection(top, self.name)
        return np.sort(top)

    def request_add_encoder(self) -> None:
        """Run the window's "Add encoder for comparison" action (when the view lives in the window)."""
        action = getattr(self.window(), "actions_by_key", {}).get(ADD_ACTION)
        if action is not None:
            action.trigger()

    def export_plot(self, path: str) -> None:
        """Write the maps as PNG or SVG (by the file extension)."""
        export_plot_item(self.plots.ci, path)

    @property
    def metrics(self) -> dict[str, dict]:
        """Each shown encoder's checks, when measured (as ``EncoderComparison.metrics_``)."""
        return {n: self._metrics[n][2] for n in self.shown_sets() if n in self._metrics}

    def shown_sets(self) -> dict[str, EmbeddingSet]:
        """The sets compared: ``model.views.compare.encoders`` when at least two of them are encoded,
        else every set (the active one first); at most :data:`MAX_SETS`."""
        chosen = [n for n in self.view_state.encoders if n in self.model.sets]
        if len(chosen) >= 2:
            return {n: self.model.sets[n] for n in chosen[:MAX_SETS]}
        return self.model.ordered_sets(MAX_SETS)

    def hover_text(self, i: int) -> str:
        """Rich text of a map's hover card for item ``i`` (with its disagreement once compared)."""
        r = self.result
        extra = ""
        if r is not None and 0 <= i < len(r.disagreement):
            extra = f"neighbour disagreement {r.disagreement[i]:.2f}"
        return item_html(self.model.dataset, i, extra)

    def shutdown(self) -> None:
        for key in (JobKind.COMPARE, JobKind.COMPARE_METRICS, JobKind.COMPARE_COLOR):
            self.runner.cancel(key)
        for name in self._pca_requested:
            self.runner.cancel(JobKind.COMPARE_PCA.key(name))
        for name in self._umap_requested:
            self.runner.cancel(JobKind.UMAP.key(name))
        for panel in self.panels.values():
            panel.canvas.shutdown()

    # -- state ---------------------------------------------------------------------------------------------
    def _on_dataset(self) -> None:
        self.shutdown()
        self.result = None
        self.coloring = None
        self._metrics.clear()
        self._pca_requested.clear()
        self._umap_requested.clear()
        self._map_progress.clear()
        self._sync_panels([])
        self.refresh()

    def _show_hint(self, sets: dict[str, EmbeddingSet]) -> None:
        self.runner.cancel(JobKind.COMPARE)
        ds = self.model.dataset
        if ds is None:
            text = "Open data, then add a second encoder to compare how two models see the same items."
        elif not sets:
            text = "Encoding\u2026 once the items are encoded, add a second encoder here to compare them."
        elif self.encodes_running():
            names = ", ".join(f"<b>{html.escape(self.label(n))}</b>" for n in self.encodes_running())
            text = (f"Encoding with {names} for comparison (progress above). When it is done its numbers and "
                    f"map appear here beside <b>{html.escape(self.label(next(iter(sets))))}</b>.")
        elif ds.modality == "embedding":
            text = (f"Only one embedding ({html.escape(next(iter(sets)))}) is loaded. Comparing needs a second "
                    "embedding of the same items, e.g. encode the images or texts with two encoders.")
        else:
            only = html.escape(self.label(next(iter(sets))))
            text = (f"Only <b>{only}</b> is computed. Add a second encoder to see both side by side: "
                    "every metric, their linear CKA, how many neighbours they share per item, "
                    "and linked maps coloured by where they disagree.")
        self.hint.setText(text)
        has_action = getattr(self.window(), "actions_by_key", {}).get(ADD_ACTION) is not None
        self.add_button.setVisible(bool(sets) and ds is not None and ds.modality != "embedding" and has_action)
        self.stack.setCurrentWidget(self.hint_page)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        self.more_button.setVisible(getattr(self.window(), "actions_by_key", {}).get(ADD_ACTION) is not None)
        if self._dirty or self.stack.currentWidget() is self.hint_page:
            self.refresh()

    def _current(self, sets: dict[str, EmbeddingSet]) -> bool:
        r = self.result
        return (r is not None and r.k == self.k and list(r.sets) == list(sets)
                and all(r.sets[n] is sets[n] for n in sets))

    def _all_current(self, sets: dict[str, EmbeddingSet]) -> bool:
        return all(self.model.is_current(emb, name) for name, emb in sets.items())

    def _has_metrics(self, name: str, emb: EmbeddingSet) -> bool:
        hit = self._metrics.get(name)
        return hit is not None and hit[0] is emb and hit[1] == self.k

    def _measured(self, sets: dict[str, EmbeddingSet], k: int, result: dict[str, dict]) -> None:
        for name, metrics in result.items():
            self._metrics[name] = (sets[name], k, metrics)
        if self.result is not None and self._current(self.shown_sets()):
            self._show_metrics()

    def _computed(self, result: CompareResult) -> None:
        self.result = result
        if not self._current(self.shown_sets()):
            self.refresh()
            return
        self._show_result()
        self._request_coloring()

    def _failed(self, message: str) -> None:
        self.status.setText(theme.error_html(f"comparison failed: {message}"))
        self.summary.setText(theme.error_html(message))

    # -- maps ----------------------------------------------------------------------------------------------
    def _show_highlight(self, labels: tuple[str, ...]) -> None:
        for panel in self.panels.values():
            panel.canvas.set_highlight(labels)

    def _sync_panels(self, names: list[str]) -> None:
        self._labels = display_names(list(self.model.sets) + names)
        if list(self.panels) == names:
            return
        for panel in self.panels.values():
            panel.close()
        self.plots.clear()
        self._color_bar = None
        self.panels = {name: _MapPanel(self, name, col) for col, name in enumerate(names)}
        self._draw_colors()

    def map_method(self) -> str:
        """The method every map shows now: UMAP when it is chosen and every shown encoder has
        one, else PCA (for all of them: maps of two methods side by side would mislead)."""
        names = list(self.panels)
        if (self.view_state.method == "umap" and names
                and all(self.model.projection("umap", n) is not None for n in names)):
            return "umap"
        return "pca"

    def _load_maps(self) -> None:
        """Draw every map with :meth:`map_method` and ask for the projections still missing."""
        if not self.panels:
            return
        method = self.map_method()
        for name in self.panels:
            self._load_projection(name, method)
        self._request_projections()
        self._update_map_note()

    def _load_projection(self, name: str, method: str) -> None:
        panel = self.panels.get(name)
        emb = self.model.sets.get(name)
        if panel is None or emb is None:
            return
        got = self.model.projection(method, name)
        if got is None:
            panel.set_points(None, "")
            panel.set_title(f"{self.label(name)} \u2014 computing its {method.upper()} map\u2026")
            return
        if panel.method == method and panel.source is got[0]:
            return  # already drawn
        xy = np.asarray(got[0], dtype=np.float32)[:, :2]
        order = self.result.order.get(name) if self.result is not None else None
        if order is None and len(xy) != self.model.n_items:
            order = state_order(emb, self.model.dataset.ids)
        if order is not None:
            xy = xy[order]
        panel.set_points(np.ascontiguousarray(xy), method, got[0])
        panel.set_title(f"{self.label(name)} \u00b7 {method.upper()}")
        panel.canvas.set_coloring(self.coloring, legend=self._legend_on(name))

    def _request_projections(self) -> None:
        """PCA of every shown set that lacks one (the active set's comes from the scheduler), and
        with "umap" chosen, the UMAP of every non-active set (in a child process, as the
        scheduler runs the active set's)."""
        active = self.model.active
        for name in self.panels:
            emb = self.model.sets.get(name)
            if emb is None:
                continue
            scheduler_busy = name == active and self.runner.is_running(JobKind.PCA)
            if (self.model.projection("pca", name) is None and not scheduler_busy
                    and self._pca_requested.get(name) is not emb):
                self._pca_requested[name] = emb
                self.runner.submit(JobKind.COMPARE_PCA.key(name), run_pca, emb,
                                   on_result=lambda proj, name=name: self._projected("pca", name, proj),
                                   is_stale=lambda name=name, emb=emb: not self.model.is_current(emb, name))
            if (self.view_state.method == "umap" and name != active
                    and self.model.projection("umap", name) is None and self._umap_requested.get(name) is not emb):
                self._umap_requested[name] = emb
                self._map_progress[name] = 0.0
                self.runner.submit(JobKind.UMAP.key(name), run_umap, emb,
                                   on_result=lambda proj, name=name: self._projected("umap", name, proj),
                                   on_error=lambda msg, name=name: self._umap_failed(name, msg),
                                   on_finished=lambda name=name: self._map_progress.pop(name, None),
                                   is_stale=lambda name=name, emb=emb: not self.model.is_current(emb, name))

    def _projected(self, method: str, name: str, proj) -> None:
        self.model.set_projection(method, proj.embedding_, proj, name=name)

    def _umap_failed(self, name: str, message: str) -> None:
        self.map_note.setText(theme.error_html(f"UMAP of {self.label(name)} failed: {message}; maps show PCA"))

    def _on_projection(self, name: str) -> None:
        if name in self.panels:
            if self.isVisible():
                self._load_maps()
            else:
                self._dirty = True

    def _update_map_note(self) -> None:
        """Why the maps show PCA while UMAP is chosen, and how far the missing UMAPs are."""
        if self.view_state.method != "umap" or self.map_method() == "umap" or not self.panels:
            self.map_note.setText("")
            return
        waiting = [n for n in self.panels if self.model.projection("umap", n) is None]
        parts = [f"{self.label(n)} {self._map_progress[n] * 100:.0f} %" if n in self._map_progress
                 else self.label(n) for n in waiting]
        self.map_note.setText(f"PCA until every UMAP is ready ({', '.join(parts)})")

    def _on_job_progress(self, key: JobKey, fraction: float, message: str) -> None:
        kind, part = getattr(key, "kind", None), getattr(key, "part", "")
        if kind is JobKind.ENCODE_EXTRA:
            row = self._encode_rows.get(part)
            if row is None:
                self._sync_encode_rows()
                row = self._encode_rows.get(part)
            if row is not None:
                row[1].setValue(int(round(fraction * 1000)))
                row[2].setText(f"Encoding with <b>{html.escape(self.label(part))}</b> for comparison: "
                               f"{fraction * 100:.0f} %" + (f" \u00b7 {html.escape(message)}" if message else ""))
        elif kind is JobKind.UMAP and part in self._map_progress:
            self._map_progress[part] = fraction
            self._update_map_note()

    # -- comparison encodes ----------------------------------------------------------------------------
    def encodes_running(self) -> list[str]:
        """The encoders being encoded for comparison now (one progress row each)."""
        return [k.part for k in self.runner.active_keys() if k.kind is JobKind.ENCODE_EXTRA]

    def _sync_encode_rows(self) -> None:
        running = self.encodes_running()
        for name in [n for n in self._encode_rows if n not in running]:
            row = self._encode_rows.pop(name)[0]
            self.encodes_lay.removeWidget(row)
            row.deleteLater()
        for name in running:
            if name in self._encode_rows:
                continue
            row = QWidget()
            lay = QHBoxLayout(row)
            lay.setContentsMargins(0, 0, 0, 0)
            text = QLabel(f"Encoding with <b>{html.escape(self.label(name))}</b> for comparison\u2026")
            text.setToolTip(name)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(False)
            bar.setMaximumWidth(260)
            cancel = QPushButton("Cancel")
            cancel.setToolTip("Stop this encode; the finished batches stay in the cache, so encoding again resumes")
            cancel.clicked.connect(lambda _=False, name=name: self.cancel_encode(name))
            lay.addWidget(text)
            lay.addWidget(bar, 1)
            lay.addWidget(cancel)
            self.encodes_lay.addWidget(row)
            self._encode_rows[name] = (row, bar, text)
        self.encodes_box.setVisible(bool(self._encode_rows))
        if self.stack.currentWidget() is self.hint_page:
            self._show_hint(self.shown_sets())

    def cancel_encode(self, name: str) -> None:
        """Stop the comparison encode with ``name`` (its action reports what was kept)."""
        self.runner.cancel(JobKind.ENCODE_EXTRA.key(name))

    def label(self, name: str) -> str:
        """How the view names encoder ``name``: distinct among the open sets (local folders by
        their distinguishing path parts), short enough for a column header."""
        return short_name(self._labels.get(name) or display_names([name])[name])

    def _request_coloring(self) -> None:
        ds = self.model.dataset
        kind = self.view_state.color_by
        if ds is None or (self.result is None and kind != "label"):
            return
        result = self.result
        disagreement = result.disagreement if result is not None else None
        self.runner.submit(JobKind.COMPARE_COLOR, compare_coloring, ds, kind, disagreement,
                           on_result=self._set_coloring,
                           is_stale=lambda: (self.model.dataset is not ds or self.view_state.color_by != kind
                                             or self.result is not result))

    def _set_coloring(self, coloring: Coloring) -> None:
        if self.model.dataset is None or len(coloring.codes) != self.model.n_items:
            return
        self.coloring = coloring
        self._draw_colors()

    def _draw_colors(self) -> None:
        c = self.coloring
        for name, panel in self.panels.items():
            panel.canvas.set_coloring(c, legend=self._legend_on(name))
        if self._color_bar is not None:
            self.plots.ci.removeItem(self._color_bar)
            self._color_bar = None
        if c is not None and c.continuous and self.panels:
            self._color_bar = pg.ColorBarItem(values=c.vrange, colorMap=colormap(c.cmap), interactive=False, width=12,
                                              label="neighbour disagreement", colorMapMenu=False)
            self.plots.addItem(self._color_bar, row=0, col=len(self.panels))

    def _legend_on(self, name: str) -> bool:
        """The legend's rows go on the first map only; a continuous colouring has a colour bar."""
        c = self.coloring
        return bool(self.panels) and name == next(iter(self.panels)) and c is not None and not c.continuous

    # -- numbers -----------------------------------------------------------------------------------------------
    def _show_result(self) -> None:
        r = self.result
        comp = r.comparison
        names = r.names
        n = len(comp.ids_)
        self.status.setText(f"{len(names)} encoders \u00b7 {n:,} items \u00b7 k = {r.k}")
        _fill_matrix(self.cka_table, names, comp.cka_, self.label)
        overlap = np.eye(len(names))
        for (a, b), o in comp.overlap_.items():
            i, j = names.index(a), names.index(b)
            overlap[i, j] = overlap[j, i] = float(o.mean())
        self.overlap_title.setText(f"<b>kNN overlap</b> (mean share of each item's {r.k} nearest neighbours both "
                                   "encoders find)")
        _fill_matrix(self.overlap_table, names, overlap, self.label)
        for w in (self.cka_title, self.cka_table, self.overlap_title, self.overlap_table):
            w.show()
        self._show_metrics()
        self._show_current()

    def _show_metrics(self) -> None:
        """The metrics table and the "which to pick" line (once every encoder's checks are in)."""
        comp = self.result.comparison
        names = list(comp.names_)
        metrics = self.metrics
        self.summary.setText(pick_summary(comp, metrics, {n: self.label(n) for n in names}))
        if not all(n in metrics for n in names):
            self.summary.setText(self.summary.text() + " <i>Measuring each encoder's quality\u2026</i>")
            self.metrics_table.hide()
            return
        rows = []
        for title, cell in metric_rows(self.k):
            if cell is None:
                rows.append((title, None))
                continue
            cells = [html.unescape(cell(metrics[nm])) for nm in names]
            if any(c != "\u2013" for c in cells):
                rows.append((title, cells))
        rows = [row for i, row in enumerate(rows)
                if row[1] is not None or (i + 1 < len(rows) and rows[i + 1][1] is not None)]
        fill_metric_rows(self.metrics_table, [self.label(n) for n in names], rows)
        self.metrics_table.show()

    def _show_current(self) -> None:
        i = self.selection.current
        r = self.result
        ds = self.model.dataset
        if r is None or ds is None or not 0 <= i < len(r.disagreement):
            self.current_label.setText("<i>Click an item (here or in any view) to see how many neighbours the "
                                       "encoders share for it.</i>")
            return
        title = item_title(ds, i)
        head = f"<b>{html.escape(ds.ids[i])}</b>" + (f" ({html.escape(title)})" if title else "")
        pairs = [f"{html.escape(self.label(a))} &amp; {html.escape(self.label(b))} "
                 f"share {int(round(o[i] * r.k))} of {r.k}"
                 for (a, b), o in r.comparison.overlap_.items()]
        self.current_label.setText(f"{head}: {'; '.join(pairs)} neighbours "
                                   f"(disagreement {r.disagreement[i]:.2f}).")

    def cell(self, table: QTableWidget, row_title: str, col_title: str) -> str:
        """The text of ``table`` at the row titled ``row_title`` and column ``col_title`` (an encoder
        name or a metric title, as given to the table; tests)."""
        cols = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount()):
            item = table.item(r, 0)
            if item is not None and item.text() in (row_title, self.label(row_title)):
                return table.item(r, cols.index(self.label(col_title))).text()
        raise KeyError(row_title)


# -- tables ----------------------------------------------------------------------------------------------
def _fill_matrix(t: QTableWidget, names: list[str], matrix: np.ndarray, label=short_name) -> None:
    """A square table of ``matrix`` (rows and columns ``names``, headed ``label(name)``), cells
    shaded by value (0..1)."""
    t.clear()
    t.setRowCount(len(names))
    t.setColumnCount(len(names) + 1)
    t.setHorizontalHeaderLabels([""] + [label(n) for n in names])
    for i, a in enumerate(names):
        head = QTableWidgetItem(label(a))
        head.setToolTip(a)
        t.setItem(i, 0, head)
        for j in range(len(names)):
            v = float(matrix[i, j])
            item = QTableWidgetItem(f"{v:.3f}")
            item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            if i != j and math.isfinite(v):
                item.setBackground(QColor(47, 111, 222, int(30 + 120 * min(max(v, 0.0), 1.0))))
            t.setItem(i, j + 1, item)
    fit_table_height(t)


