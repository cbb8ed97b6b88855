"""Compare: two or three encoders of the same items side by side.

What the view shows (all computed by :class:`~embedview.core.compare.EncoderComparison` in the
runner, key ``"compare"``, only while the view is visible):

* a "which to pick" line (:func:`pick_summary`): the best kNN accuracy among the healthy
  encoders when the data has labels, else the highest effective rank, plus which encoders
  collapse and how similar their geometries are;
* every quality metric side by side (the report's metric rows over ``metrics_``);
* linear CKA for every pair (``cka_``) and the mean kNN overlap of every pair;
* one small map per encoder (its UMAP from the state, else its PCA; PCA of a non-active set is
  computed here with the scheduler's own job and filed in the state), all linked to the shared
  selection: clicking / box / lasso in any map selects there and the selection and current
  item are drawn in every map; points are coloured by how much the encoders disagree about each
  item's neighbours (``disagreement_``: 1 - mean kNN overlap) or by label;
* for the current item, how many of its neighbours each pair of encoders shares.

With fewer than two encoders computed it shows a hint and a button that runs the window's
"Add encoder for comparison" action.  The maps draw at most :data:`MAX_MAP_POINTS` points each (a
fixed random sample; selection and picking still use every item's position for box / lasso).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QComboBox, QFrame, QHBoxLayout, QLabel, QPushButton,
                               QScrollArea, QSpinBox, QSplitter, QStackedLayout, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from embedview.core.compare import EncoderComparison
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.report import get_path, metric_rows
from embedview.gui.analysis import run_pca
from embedview.gui import theme
from embedview.gui.views.collapse import MAX_SETS, ordered_sets, short_name
from embedview.gui.views.map import (Coloring, PointCloud, build_coloring, build_tree, continuous_coloring,
                                     draw_coloring, lasso_job, nearest_point)
from embedview.gui.widgets import (LegendBox, SelectViewBox, export_plot_item, fill_metric_rows,
                                   fit_table_height, item_title, metric_table, points_in_rect)
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.gui.views.base import View

JOB_KEY = "compare"
METRICS_KEY = "compare.metrics"
COLOR_KEY = "compare.color"
SELECT_KEY = "compare.select"
#: + encoder name: the PCA map of a set that is not the active one
PCA_KEY = "compare.pca."
#: + encoder name: the k-d tree of a map's drawn points (click picking)
TREE_KEY = "compare.tree."
#: points drawn per map at most (a fixed random sample above it)
MAX_MAP_POINTS = 50_000
#: "Select most disagreeing" takes this share of the items (at least 1, at most MAX_TOP)
TOP_SHARE = 0.02
MAX_TOP = 1000
#: pick radius in screen pixels
PICK_PX = 8
ADD_ACTION = "add_encoder"


# -- jobs and pure helpers (worker threads / tests) ------------------------------------------------------
def state_order(emb: EmbeddingSet, state_ids: Sequence[str]) -> Optional[np.ndarray]:
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
    sets: Dict[str, EmbeddingSet]  # the sets it was computed from (to know when it is stale)
    k: int
    order: Dict[str, Optional[np.ndarray]] = field(default_factory=dict)  # rows of each set in state order

    @property
    def names(self) -> List[str]:
        return list(self.comparison.names_)

    @property
    def disagreement(self) -> np.ndarray:
        return self.comparison.disagreement_


def compare_job(sets: Dict[str, EmbeddingSet], state_ids: Sequence[str], k: int, progress=None) -> CompareResult:
    """The geometry part of :class:`EncoderComparison` (CKA, kNN overlap, disagreement) of ``sets``
    in the dataset's item order; each encoder's quality checks come from :func:`metrics_job`."""
    order = {name: state_order(emb, state_ids) for name, emb in sets.items()}
    aligned = {name: emb if order[name] is None else emb.subset(order[name]) for name, emb in sets.items()}
    comp = EncoderComparison(k=k, metrics=False).fit(aligned, progress=progress)
    return CompareResult(comp, dict(sets), k, order)


def metrics_job(sets: Dict[str, EmbeddingSet], k: int, progress=None) -> Dict[str, Dict]:
    """Each set's quality checks exactly as ``EncoderComparison(metrics=True)`` runs them
    (:attr:`EncoderComparison.METRIC_CHECKS` through :class:`~embedview.core.checks.Checks`).

    A separate job so the geometry shows at once while the slower checks (the linear probe's
    cross-validation) run on the other core, and so adding an encoder only measures that one.
    """
    from embedview.core.checks import Checks

    out: Dict[str, Dict] = {}
    n = max(1, len(sets))
    for i, (name, emb) in enumerate(sets.items()):
        result = Checks(k=k, include=EncoderComparison.METRIC_CHECKS).fit(emb, progress=progress.sub(i / n, (i + 1) / n))
        out[name] = {key: v for key, v in result.to_dict().items() if key != "dataset"}
    return out


def coloring_job(dataset: Dataset, kind: str, disagreement: Optional[np.ndarray], progress=None) -> Coloring:
    """The points' colours: by neighbour disagreement (0 agree .. 1 no shared neighbour) or by label."""
    if kind == "label" and dataset.labels is not None:
        return build_coloring(dataset, ("label", ""))
    # a fixed 0..1 scale, so two comparisons read the same
    return continuous_coloring(np.asarray(disagreement, dtype=np.float64), "neighbour disagreement", "plasma",
                               vrange=(0.0, 1.0))


def _fmt(value: Optional[float], digits: int = 3) -> str:
    return "\u2013" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def pick_summary(comp: EncoderComparison, metrics: Optional[Dict[str, Dict]] = None) -> str:
    """A short rich-text "which to pick" line from each encoder's checks (``metrics``, default the
    comparison's own ``metrics_``) and the comparison's CKA and kNN overlap.

    With labels: the best kNN accuracy among the encoders whose collapse verdict is healthy (all of
    them when none is).  Without: the highest effective rank among the healthy ones.  Then the
    other notable facts: the highest effective rank when it is another encoder, which encoders
    collapse, and how alike the geometries are (mean linear CKA and kNN overlap).
    """
    names = list(comp.names_)
    m = comp.metrics_ if metrics is None else metrics
    parts = []
    if all(n in m for n in names):
        parts += _pick_sentences(names, m)
    if len(names) >= 2:
        iu = np.triu_indices(len(names), k=1)
        cka = float(np.mean(comp.cka_[iu]))
        overlap = float(np.mean([o.mean() for o in comp.overlap_.values()]))
        alike = "nearly the same geometry" if cka >= 0.9 else ("similar geometry" if cka >= 0.6 else "different geometries")
        parts.append(f"Linear CKA {cka:.2f}: {alike}; they share {overlap:.0%} of each item's {comp.k} nearest "
                     "neighbours on average.")
    return " ".join(parts)


def _pick_sentences(names: List[str], m: Dict[str, Dict]) -> List[str]:
    """The "pick", "highest effective rank" and "collapses" sentences of :func:`pick_summary`."""
    healthy = [n for n in names if m[n].get("verdict") == "healthy"] or names
    knn = {n: get_path(m[n], "knn", "accuracy") for n in names}
    rank = {n: get_path(m[n], "collapse", "effective_rank") for n in names}

    def b(name: str) -> str:
        return f"<b>{html.escape(short_name(name))}</b>"

    def others(values: Dict[str, Optional[float]], best: str, digits: int) -> str:
        rest = [f"{html.escape(short_name(n))} {_fmt(values[n], digits)}" for n in names if n != best]
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
class _Overlay(PointCloud):
    """A :class:`PointCloud` for a few marked points (current item, selection) whose bounds are the
    visible part of the view: one point alone has an empty bounding rectangle, which Qt may skip
    when it repaints part of the scene."""

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt naming
        view = self.viewRect() if len(self.xy) else None
        return view if view is not None else super().boundingRect()


class _MapPanel:
    """A small linked map of one encoder inside the view's plot layout."""

    def __init__(self, view: "CompareView", name: str, col: int) -> None:
        self.view = view
        self.name = name
        self.vb = SelectViewBox()
        self.plot = view.plots.addPlot(row=0, col=col, viewBox=self.vb)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.vb.setAspectLocked(True)
        self.cloud, self.sel_item, self.cur_item = PointCloud(), _Overlay(), _Overlay()
        for z, item in enumerate((self.cloud, self.sel_item, self.cur_item)):
            item.setZValue(z)
            self.vb.addItem(item, ignoreBounds=True)
        self.xy: Optional[np.ndarray] = None  # (N, 2) every item, dataset order
        self.shown = np.empty(0, dtype=np.int64)  # items drawn (all, or a sample)
        self.point_size = 7.0  # of the points as last drawn (the selection rings are a little larger)
        self.method = ""
        self.tree = None
        self.vb.clicked.connect(self._clicked)
        self.vb.box_selected.connect(lambda rect, mods: self.select_rect(rect, bool(mods & Qt.ControlModifier)))
        self.vb.lasso_selected.connect(lambda poly, mods: self.select_polygon(poly, bool(mods & Qt.ControlModifier)))

    def set_title(self, text: str) -> None:
        self.plot.setTitle(html.escape(text), size="9pt")

    def set_points(self, xy: Optional[np.ndarray], method: str) -> None:
        """Positions of every item (dataset order) from projection ``method``; None clears."""
        if xy is not None and self.xy is not None and self.method == method and np.array_equal(xy, self.xy):
            return
        self.xy, self.method, self.tree = xy, method, None
        self.cloud.clear()
        if xy is None:
            self.shown = np.empty(0, dtype=np.int64)
            return
        n = len(xy)
        if n > MAX_MAP_POINTS:
            rng = np.random.default_rng(0)
            self.shown = np.sort(rng.choice(n, size=MAX_MAP_POINTS, replace=False))
        else:
            self.shown = np.arange(n)
        pts = np.ascontiguousarray(xy[self.shown], dtype=np.float64)
        self.view.runner.submit(TREE_KEY + self.name, build_tree, pts,
                                on_result=lambda tree, xy=xy: self._set_tree(xy, tree))
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        span = np.maximum(hi - lo, 1e-6)
        self.vb.setRange(QRectF(float(lo[0]), float(lo[1]), float(span[0]), float(span[1])), padding=0.05)

    def _set_tree(self, xy: np.ndarray, tree) -> None:
        if xy is self.xy:
            self.tree = tree

    def draw(self, coloring: Optional[Coloring]) -> None:
        """Draw the shown points in ``coloring`` (its draw order: high disagreement on top)."""
        if self.xy is None or coloring is None or len(coloring.codes) != len(self.xy):
            self.cloud.clear()
            return
        # smaller points than the main map: two or three of these panels share its width
        size, alpha = (7.0, 220) if len(self.shown) <= 2000 else ((4.0, 180) if len(self.shown) <= 20000 else (3.0, 150))
        draw_coloring(self.cloud, self.xy[self.shown], coloring.codes[self.shown], coloring, size, alpha)
        self.point_size = size

    def draw_selection(self, selected: np.ndarray, current: int) -> None:
        if self.xy is None:
            self.sel_item.clear()
            self.cur_item.clear()
            return
        sel = selected[(selected >= 0) & (selected < len(self.xy))][:MAX_MAP_POINTS]
        size = self.point_size + 5
        if sel.size:
            self.sel_item.set_data(self.xy[sel], np.zeros(len(sel), dtype=np.int64),
                                   [(size, pg.mkPen(20, 20, 20, 230, width=1.5), None)])
        else:
            self.sel_item.clear()
        if 0 <= current < len(self.xy):  # a white-and-black ring: visible on every colour map
            self.cur_item.set_data(np.repeat(self.xy[current:current + 1], 2, axis=0), np.array([0, 1]),
                                   [(22, pg.mkPen("w", width=5), None), (22, pg.mkPen("k", width=2), None)])
        else:
            self.cur_item.clear()

    # -- picking and selecting ---------------------------------------------------------------------------
    def point_at(self, x: float, y: float) -> int:
        """The item drawn nearest to data position ``(x, y)`` within :data:`PICK_PX` pixels, or -1."""
        if self.xy is None or not len(self.shown):
            return -1
        px = self.vb.viewPixelSize()
        j = nearest_point(self.xy[self.shown], x, y, (float(px[0]), float(px[1])), PICK_PX, self.tree)
        return int(self.shown[j]) if j >= 0 else -1

    def _clicked(self, pos: QPointF, mods) -> None:
        i = self.point_at(pos.x(), pos.y())
        add = bool(mods & Qt.ControlModifier)
        sel = self.view.selection
        if i >= 0:
            sel.set_current(i, self.view.name)
            if add:
                sel.add_to_selection([i], self.view.name)
            else:
                sel.set_selection([i], self.view.name)
        elif not add:
            sel.set_selection([], self.view.name)

    def select_rect(self, rect: QRectF, add: bool = False) -> np.ndarray:
        if self.xy is None:
            return np.empty(0, dtype=np.int64)
        idx = points_in_rect(self.xy, rect)
        self.view._apply_selection(idx, add)
        return idx

    def select_polygon(self, polygon: np.ndarray, add: bool = False) -> None:
        if self.xy is not None:
            self.view.runner.submit(SELECT_KEY, lasso_job, self.xy, polygon,
                                    on_result=lambda idx: self.view._apply_selection(idx, add))


# -- the view ------------------------------------------------------------------------------------------
class CompareView(View):
    """Two or three encoders side by side: metrics, CKA, kNN agreement and linked maps."""

    title = "Compare"
    area = "bottom"
    name = "compare"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.result: Optional[CompareResult] = None
        #: encoder name -> (the set, k, its checks as EncoderComparison.metrics_ holds them)
        self._metrics: Dict[str, Tuple[EmbeddingSet, int, Dict]] = {}
        self.coloring: Optional[Coloring] = None
        self.panels: Dict[str, _MapPanel] = {}
        self._dirty = True
        self._pca_requested: Dict[str, EmbeddingSet] = {}
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
        self.k_box.setValue(10)
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
        self.legend: Optional[LegendBox] = None
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
        self.stack = QStackedLayout(self)
        self.stack.addWidget(hint_page)
        self.stack.addWidget(content)

        self.k_box.valueChanged.connect(lambda _v: self.refresh())
        self.color_box.currentIndexChanged.connect(lambda _i: self._request_coloring())
        model.dataset_changed.connect(self._on_dataset)
        model.embeddings_changed.connect(lambda _n: self.refresh())
        model.active_changed.connect(lambda _n: self.refresh())
        model.projection_changed.connect(self._on_projection)
        model.selection.selection_changed.connect(lambda _idx, _src: self._draw_selection())
        model.selection.current_changed.connect(lambda _i, _src: self._on_current())
        self._on_dataset()

    # -- public ------------------------------------------------------------------------------------------
    @property
    def k(self) -> int:
        return int(self.k_box.value())

    @property
    def comparison(self) -> Optional[EncoderComparison]:
        return self.result.comparison if self.result is not None else None

    def refresh(self) -> None:
        """Compare the shown sets (computing what is missing); a hint when fewer than two."""
        sets = ordered_sets(self.state, MAX_SETS)
        if len(sets) < 2:
            self._show_hint(sets)
            return
        if not self.isVisible():
            self._dirty = True
            return
        self._dirty = False
        self.stack.setCurrentWidget(self.content)
        self._sync_panels(list(sets))
        for name in sets:
            self._load_projection(name)
        missing = {n: e for n, e in sets.items() if not self._has_metrics(n, e)}
        if missing:
            self.runner.submit(METRICS_KEY, metrics_job, missing, self.k,
                               on_result=lambda res, sets=missing, k=self.k: self._measured(sets, k, res),
                               on_error=self._failed)
        if self._current(sets):
            self._show_result()
            return
        if self.coloring is None or len(self.coloring.codes) != self.state.n_items:
            self._set_coloring(build_coloring(self.state.dataset, ("none", "")))  # plain points until then
        self.runner.submit(JOB_KEY, compare_job, dict(sets), self.state.dataset.ids, self.k,
                           on_result=self._computed, on_error=self._failed,
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

    def session_state(self) -> Dict[str, object]:
        """k and the colouring, for a saved session."""
        return {"k": self.k, "color": self.color_box.currentData()}

    def restore_session_state(self, saved: Dict[str, object]) -> None:
        """Put back what :meth:`session_state` returned."""
        i = self.color_box.findData(saved.get("color"))
        if i >= 0:
            self.color_box.setCurrentIndex(i)
        k = saved.get("k")
        if isinstance(k, int):
            self.k_box.setValue(k)

    def export_plot(self, path: str) -> None:
        """Write the maps as PNG or SVG (by the file extension)."""
        export_plot_item(self.plots.ci, path)

    @property
    def metrics(self) -> Dict[str, Dict]:
        """Each shown encoder's checks, when measured (as ``EncoderComparison.metrics_``)."""
        return {n: self._metrics[n][2] for n in ordered_sets(self.state, MAX_SETS) if n in self._metrics}

    def shutdown(self) -> None:
        for key in [JOB_KEY, METRICS_KEY, COLOR_KEY, SELECT_KEY] + [TREE_KEY + n for n in self.panels] + \
                   [PCA_KEY + n for n in self._pca_requested]:
            self.runner.cancel(key)

    # -- state ---------------------------------------------------------------------------------------------
    def _on_dataset(self) -> None:
        self.shutdown()
        self.result = None
        self.coloring = None
        self._metrics.clear()
        self._pca_requested.clear()
        self._sync_panels([])
        self.refresh()

    def _show_hint(self, sets: Dict[str, EmbeddingSet]) -> None:
        self.runner.cancel(JOB_KEY)
        ds = self.state.dataset
        if ds is None:
            text = "Open data, then add a second encoder to compare how two models see the same items."
        elif not sets:
            text = "Encoding\u2026 once the items are encoded, add a second encoder here to compare them."
        elif ds.modality == "embedding":
            text = (f"Only one embedding ({html.escape(next(iter(sets)))}) is loaded. Comparing needs a second "
                    "embedding of the same items, e.g. encode the images or texts with two encoders.")
        else:
            text = (f"Only <b>{html.escape(next(iter(sets)))}</b> is computed. Add a second encoder to see both "
                    "side by side: every metric, their linear CKA, how many neighbours they share per item, "
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

    def _current(self, sets: Dict[str, EmbeddingSet]) -> bool:
        r = self.result
        return (r is not None and r.k == self.k and list(r.sets) == list(sets)
                and all(r.sets[n] is sets[n] for n in sets))

    def _has_metrics(self, name: str, emb: EmbeddingSet) -> bool:
        hit = self._metrics.get(name)
        return hit is not None and hit[0] is emb and hit[1] == self.k

    def _measured(self, sets: Dict[str, EmbeddingSet], k: int, result: Dict[str, Dict]) -> None:
        for name, metrics in result.items():
            self._metrics[name] = (sets[name], k, metrics)
        if self.result is not None and self._current(ordered_sets(self.state, MAX_SETS)):
            self._show_metrics()

    def _computed(self, result: CompareResult) -> None:
        self.result = result
        if not self._current(ordered_sets(self.state, MAX_SETS)):
            self.refresh()
            return
        self._show_result()
        self._request_coloring()

    def _failed(self, message: str) -> None:
        self.status.setText(theme.error_html(f"comparison failed: {message}"))
        self.summary.setText(theme.error_html(message))

    # -- maps ----------------------------------------------------------------------------------------------
    def _sync_panels(self, names: List[str]) -> None:
        if list(self.panels) == names:
            return
        for name in self.panels:
            self.runner.cancel(TREE_KEY + name)
        self.plots.clear()
        self._color_bar = None
        self.panels = {name: _MapPanel(self, name, col) for col, name in enumerate(names)}
        self.legend = LegendBox(self.panels[names[0]].vb) if names else None
        self._draw_colors()

    def _load_projection(self, name: str) -> None:
        panel = self.panels.get(name)
        emb = self.state.sets.get(name)
        if panel is None or emb is None:
            return
        got, method = None, ""
        for method in ("umap", "pca"):
            got = self.state.projection(method, name)
            if got is not None:
                break
        if got is None:
            panel.set_points(None, "")
            panel.set_title(f"{short_name(name)} \u2014 computing its map\u2026")
            if name != self.state.active and self._pca_requested.get(name) is not emb:
                self._pca_requested[name] = emb
                self.runner.submit(PCA_KEY + name, run_pca, emb,
                                   on_result=lambda proj, name=name, emb=emb: self._pca_done(name, emb, proj))
            return
        xy = np.asarray(got[0], dtype=np.float32)[:, :2]
        order = self.result.order.get(name) if self.result is not None else None
        if order is None and len(xy) != self.state.n_items:
            order = state_order(emb, self.state.dataset.ids)
        if order is not None:
            xy = xy[order]
        panel.set_points(np.ascontiguousarray(xy), method)
        panel.set_title(f"{short_name(name)} \u00b7 {method.upper()}")
        panel.draw(self.coloring)
        panel.draw_selection(self.selection.selected, self.selection.current)

    def _pca_done(self, name: str, emb: EmbeddingSet, proj) -> None:
        if self.state.sets.get(name) is emb:
            self.state.set_projection("pca", proj.embedding_, proj, name=name)

    def _on_projection(self, name: str) -> None:
        if name in self.panels and self.isVisible():
            self._load_projection(name)

    def _request_coloring(self) -> None:
        ds = self.state.dataset
        kind = self.color_box.currentData()
        if ds is None or (self.result is None and kind != "label"):
            return
        disagreement = self.result.disagreement if self.result is not None else None
        self.runner.submit(COLOR_KEY, coloring_job, ds, kind, disagreement,
                           on_result=self._set_coloring)

    def _set_coloring(self, coloring: Coloring) -> None:
        if self.state.dataset is None or len(coloring.codes) != self.state.n_items:
            return
        self.coloring = coloring
        self._draw_colors()

    def _draw_colors(self) -> None:
        c = self.coloring
        for panel in self.panels.values():
            panel.draw(c)
        if self._color_bar is not None:
            self.plots.ci.removeItem(self._color_bar)
            self._color_bar = None
        if self.legend is not None:
            self.legend.set_rows(c.legend if c is not None and not c.continuous else [])
        if c is not None and c.continuous and self.panels:
            self._color_bar = pg.ColorBarItem(values=c.vrange, colorMap=c.cmap, interactive=False, width=12,
                                              label="neighbour disagreement", colorMapMenu=False)
            self.plots.addItem(self._color_bar, row=0, col=len(self.panels))

    def _draw_selection(self) -> None:
        for panel in self.panels.values():
            panel.draw_selection(self.selection.selected, self.selection.current)

    def _apply_selection(self, idx: np.ndarray, add: bool) -> None:
        if add:
            self.selection.add_to_selection(idx, self.name)
        else:
            self.selection.set_selection(idx, self.name)

    def _on_current(self) -> None:
        self._draw_selection()
        self._show_current()

    # -- numbers -----------------------------------------------------------------------------------------------
    def _show_result(self) -> None:
        r = self.result
        comp = r.comparison
        names = r.names
        n = len(comp.ids_)
        self.status.setText(f"{len(names)} encoders \u00b7 {n:,} items \u00b7 k = {r.k}")
        _fill_matrix(self.cka_table, names, comp.cka_)
        overlap = np.eye(len(names))
        for (a, b), o in comp.overlap_.items():
            i, j = names.index(a), names.index(b)
            overlap[i, j] = overlap[j, i] = float(o.mean())
        self.overlap_title.setText(f"<b>kNN overlap</b> (mean share of each item's {r.k} nearest neighbours both "
                                   "encoders find)")
        _fill_matrix(self.overlap_table, names, overlap)
        for w in (self.cka_title, self.cka_table, self.overlap_title, self.overlap_table):
            w.show()
        self._show_metrics()
        self._show_current()

    def _show_metrics(self) -> None:
        """The metrics table and the "which to pick" line (once every encoder's checks are in)."""
        comp = self.result.comparison
        names = list(comp.names_)
        metrics = self.metrics
        self.summary.setText(pick_summary(comp, metrics))
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
        fill_metric_rows(self.metrics_table, [short_name(n) for n in names], rows)
        self.metrics_table.show()

    def _show_current(self) -> None:
        i = self.selection.current
        r = self.result
        ds = self.state.dataset
        if r is None or ds is None or not 0 <= i < len(r.disagreement):
            self.current_label.setText("<i>Click an item (here or in any view) to see how many neighbours the "
                                       "encoders share for it.</i>")
            return
        title = item_title(ds, i)
        head = f"<b>{html.escape(ds.ids[i])}</b>" + (f" ({html.escape(title)})" if title else "")
        pairs = [f"{html.escape(short_name(a))} &amp; {html.escape(short_name(b))} share {int(round(o[i] * r.k))} of {r.k}"
                 for (a, b), o in r.comparison.overlap_.items()]
        self.current_label.setText(f"{head}: {'; '.join(pairs)} neighbours "
                                   f"(disagreement {r.disagreement[i]:.2f}).")

    def cell(self, table: QTableWidget, row_title: str, col_title: str) -> str:
        """The text of ``table`` at the row titled ``row_title`` and column ``col_title`` (an encoder
        name or a metric title, as given to the table; tests)."""
        cols = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount()):
            item = table.item(r, 0)
            if item is not None and item.text() in (row_title, short_name(row_title)):
                return table.item(r, cols.index(short_name(col_title))).text()
        raise KeyError(row_title)


# -- tables ----------------------------------------------------------------------------------------------
def _fill_matrix(t: QTableWidget, names: List[str], matrix: np.ndarray) -> None:
    """A square table of ``matrix`` (rows and columns ``names``), cells shaded by value (0..1)."""
    t.clear()
    t.setRowCount(len(names))
    t.setColumnCount(len(names) + 1)
    t.setHorizontalHeaderLabels([""] + [short_name(n) for n in names])
    for i, a in enumerate(names):
        head = QTableWidgetItem(short_name(a))
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


