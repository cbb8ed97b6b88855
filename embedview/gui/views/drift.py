"""Drift: has the data moved?  The open data (set A) tested against another set (B).

"Open the other set..." (files or a folder; or paths typed in the box) chooses B, kept in
``model.views.drift.b_paths``.  B loads through the same loaders as the open data (with the same
text / label columns) and is encoded with the active encoder in the background
(``JobKind.DRIFT_ENCODE``: progress, cancel); then :class:`embedview.core.drift.Drift` runs
(``JobKind.DRIFT``).  The view shows:

* the verdict in a badge and a sentence (the core's ``verdict_``), read at the alpha chosen in the
  bar (``model.views.drift.alpha``; changing it re-reads the same numbers, nothing is refitted);
* the numbers (AUROC and its p-value, MMD² and its p-value, the items each used, sampled or not)
  and how they were computed;
* both sets on one map (a PCA fitted on both together), coloured by set, with a legend;
* the items that separate them most: B's most B-like (what is new in B) and A's least B-like
  (what B lacks), as lists with thumbnails or texts; a click on one (or on a point of the map)
  rings it on the map and shows it below; an item of A also becomes the app's current item.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from embedview.actions.data import PRECOMPUTED, encode_job, load_job
from embedview.core.drift import Drift, format_p
from embedview.core.embeddings import EmbeddingSet
from embedview.core.progress import TaskState
from embedview.gui import theme
from embedview.gui.thumbnails import ThumbnailCache, shared_thumbnails
from embedview.gui.views.base import View
from embedview.gui.widgets import (
    ItemCard,
    ItemList,
    LegendBox,
    SpanProgress,
    categorical_colors,
    export_plot_item,
    fill_metric_rows,
    job_progress_bar,
    metric_table,
    status_label,
)
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.model.views.drift import ALPHAS, N_PERMUTATIONS
from embedview.runtime.keys import JobKind

#: badge colours (white text on them)
BADGE_COLORS = {"none": "#2e7d32", "slight": "#b26a00", "moderate": "#c65a00", "strong": "#c62828"}
#: points drawn per set on the map (a fixed random sample beyond it; every item is scored)
MAX_DRAWN = 20_000
ICON_PX = 40


# -- the background jobs (plain functions, run in the runner's threads) ---------------------------------
def load_and_encode(paths: Sequence[str], encoder: str, text_column: str | None, label_column: str | None,
                    progress: TaskState | None = None) -> EmbeddingSet:
    """Set B: loaded as the open data was (same columns), encoded with A's encoder (``encoder``
    ``"precomputed"``: B must hold vectors too)."""
    task = TaskState.coerce(progress)
    names = ", ".join(paths)
    loaded = load_job(paths, text_column, label_column, progress=task.sub(0.0, 0.1))
    if "ask" in loaded:
        path, info = loaded["ask"]
        raise ValueError(f"{path}: which column holds the text? The open data has none named; columns: "
                         f"{', '.join(map(str, info.get('columns', [])))}")
    dataset = loaded["dataset"]
    if len(dataset) < 2:
        raise ValueError(f"{names}: too few items for a drift test: {len(dataset)} (needs at least 2)")
    if (encoder == PRECOMPUTED) != (dataset.embeddings is not None):
        if encoder == PRECOMPUTED:
            raise ValueError(f"the open data is precomputed vectors but {names} holds {dataset.modality}s: "
                             "give set B as vectors from the same model")
        raise ValueError(f"{names} holds precomputed vectors but the open data was encoded with {encoder}: "
                         "give set B as images or texts, or open set A as vectors too")
    return encode_job(dataset, encoder, progress=task.sub(0.1, 1.0))


def run_drift(a: np.ndarray, b: np.ndarray, alpha: float, progress: TaskState | None = None) -> Drift:
    return Drift(n_permutations=N_PERMUTATIONS, alpha=alpha).fit(a, b, progress=progress)


def split_paths(text: str) -> tuple[str, ...]:
    """The path box's text: paths separated by ``;`` (or the system's path separator)."""
    parts = text.replace(os.pathsep, ";").split(";")
    return tuple(p.strip().strip('"') for p in parts if p.strip())


# -- the view -------------------------------------------------------------------------------------------
class DriftView(SpanProgress, View):
    """The open data (A) against another set (B): verdict, numbers, one map, separating items."""

    title = "Drift"
    area = "bottom"
    name = "drift"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.result: Drift | None = None  #: the fitted test shown (at the chosen alpha)
        self.emb_a: EmbeddingSet | None = None  #: the sets it was computed on
        self.emb_b: EmbeddingSet | None = None
        self._b_for: tuple[tuple[str, ...], str, int] | None = None  # (paths, encoder, id of A) of emb_b
        self.chosen: tuple[str, int] | None = None  # ("a" / "b", index) ringed on the map
        self._span = (0.0, 1.0)  # the part of the progress bar the running job draws
        self.thumbs_b = ThumbnailCache(size=96, workers=1)
        self.thumbs_a = shared_thumbnails(model)

        # -- the bar: set B, alpha, run / cancel, progress
        self.path_box = QLineEdit()
        self.path_box.setPlaceholderText("set B: files or a folder like the open data (paths separated by ;)")
        self.path_box.setClearButtonEnabled(True)
        self.open_button = QPushButton("Open the other set\u2026")
        self.open_button.setToolTip("Set B: files or a folder of the same kind as the open data")
        menu = QMenu(self.open_button)
        menu.addAction("Files\u2026", self.choose_files)
        menu.addAction("Folder\u2026", self.choose_folder)
        self.open_button.setMenu(menu)
        self.alpha_box = QComboBox()
        for a in ALPHAS:
            self.alpha_box.addItem(f"alpha {a:g}", a)
        self.alpha_box.setToolTip("The false-alarm rate of the verdict: drift is declared when either test's "
                                  "p-value is below alpha/2 (two tests: Bonferroni)")
        self.run_button = QPushButton("Test for drift")
        self.run_button.setToolTip("Load and encode set B with the active encoder, then test it against the open data")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.progress = job_progress_bar()
        self.status = status_label()
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 0)
        bar.addWidget(QLabel("Against:"))
        bar.addWidget(self.path_box, 3)
        bar.addWidget(self.open_button)
        bar.addWidget(self.alpha_box)
        bar.addWidget(self.run_button)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.progress)
        bar.addWidget(self.status, 2)

        # -- left: verdict, numbers, how
        self.badge = QLabel()
        self.badge.setAlignment(Qt.AlignCenter)
        self.badge.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.table = metric_table()
        self.table.setAlternatingRowColors(True)
        self.how = QLabel()
        self.how.setWordWrap(True)
        self.how.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.how.setStyleSheet("color: palette(placeholder-text);")
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(4, 4, 4, 4)
        self.sets_line = QLabel()
        self.sets_line.setWordWrap(True)
        left_lay.addWidget(self.sets_line)
        left_lay.addWidget(self.badge)
        left_lay.addWidget(self.verdict)
        left_lay.addWidget(self.table)
        left_lay.addWidget(self.how)
        left_lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(left)
        scroll.setMinimumWidth(280)

        # -- centre: the map of both sets
        self.plot = pg.PlotWidget()
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setAspectLocked(True)
        self.map_title = QLabel()
        self.map_title.setWordWrap(True)
        self.map_title.setStyleSheet("color: palette(placeholder-text);")
        self.colors = categorical_colors(2)
        self.scatter_a = self._scatter(self.colors[0], "a")
        self.scatter_b = self._scatter(self.colors[1], "b")
        self.ring = pg.ScatterPlotItem(size=18, pen=pg.mkPen("#000000", width=2.5), brush=None, pxMode=True)
        self.ring.setZValue(10)
        self.plot.addItem(self.ring)
        self.legend = LegendBox(self.plot.getViewBox())
        self.card = ItemCard(thumb_size=72)
        self.card.clear("Click an item in a list or on the map")
        centre = QWidget()
        centre_lay = QVBoxLayout(centre)
        centre_lay.setContentsMargins(0, 0, 0, 0)
        centre_lay.setSpacing(2)
        centre_lay.addWidget(self.map_title)
        centre_lay.addWidget(self.plot, 1)
        centre_lay.addWidget(self.card)

        # -- right: the separating items
        self.list_b = ItemList(self.thumbs_b, ICON_PX, "Set B's items least like A: what is new in B")
        self.list_a = ItemList(self.thumbs_a, ICON_PX, "Set A's items least like B: what B lacks")
        self.head_b = QLabel()
        self.head_a = QLabel()
        for head in (self.head_a, self.head_b):
            head.setWordWrap(True)
        right = QWidget()
        right_lay = QVBoxLayout(right)
        right_lay.setContentsMargins(4, 4, 4, 4)
        right_lay.addWidget(self.head_b)
        right_lay.addWidget(self.list_b, 1)
        right_lay.addWidget(self.head_a)
        right_lay.addWidget(self.list_a, 1)

        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(centre)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([340, 600, 340])
        self.splitter = splitter

        self.placeholder = QLabel()
        self.placeholder.setAlignment(Qt.AlignCenter)
        self.placeholder.setWordWrap(True)
        body = QWidget()
        self.body = QStackedLayout(body)
        self.body.addWidget(self.placeholder)
        self.body.addWidget(splitter)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        outer.addLayout(bar)
        outer.addWidget(body, 1)

        # -- wiring
        state = model.views.drift
        self.path_box.setText("; ".join(state.b_paths))
        self.path_box.editingFinished.connect(self._paths_typed)
        state.events.b_paths.connect(self._on_paths)
        self.alpha_box.setCurrentIndex(max(0, self.alpha_box.findData(state.alpha)))
        self.alpha_box.currentIndexChanged.connect(lambda _i: setattr(state, "alpha", self.alpha_box.currentData()))
        state.events.alpha.connect(self._on_alpha)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.list_a.item_chosen.connect(lambda i: self.choose("a", i))
        self.list_b.item_chosen.connect(lambda i: self.choose("b", i))
        self.thumbs_b.ready.connect(self._on_thumb_b)
        self.thumbs_a.ready.connect(self._on_thumb_a)
        model.dataset_changed.connect(self._on_data_changed)
        model.active_set_changed.connect(lambda _n: self._on_data_changed())
        self.selection.current_changed.connect(self._on_current)
        self._restyle()
        self._show_placeholder()

    # -- public ---------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.runner.is_running(JobKind.DRIFT_ENCODE) or self.runner.is_running(JobKind.DRIFT)

    def set_other(self, paths: Sequence[str], run: bool = True) -> None:
        """Choose set B (the state keeps it) and, with ``run``, test it now."""
        self.model.views.drift.b_paths = tuple(os.fspath(p) for p in paths)
        if run:
            self.run()

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Set B: the files to test against the open data")
        if files:
            self.set_other(files)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Set B: the folder to test against the open data")
        if folder:
            self.set_other([folder])

    def run(self) -> None:
        """Load and encode B (unless it is already, for this A and encoder), then test."""
        paths = self.model.views.drift.b_paths
        emb = self.model.emb
        if emb is None:
            self._say("Open data first: it is set A, the reference.", error=True)
            return
        if not paths:
            self._say("Choose set B first: \u201cOpen the other set\u2026\u201d or type its path.", error=True)
            return
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            self._say(f"{missing[0]}: no such file or folder", error=True)
            return
        if self.emb_b is not None and self._b_for == (paths, self.model.active, id(emb)):
            self._test(emb, self.emb_b)
            return
        name, opts = self.model.active, self.model.load_options
        self._busy(True, f"loading and encoding set B with {name}\u2026", (0.0, 0.7))
        self.runner.submit(
            JobKind.DRIFT_ENCODE, load_and_encode, list(paths), name, opts.get("text_column"),
            opts.get("label_column"),
            on_result=lambda b: self._encoded(paths, name, emb, b),
            on_progress=self._progress,
            on_error=lambda msg: self._failed(f"set B could not be loaded or encoded: {msg}"),
            on_cancelled=lambda: self._busy(False, "cancelled"),
            on_finished=self._job_finished,
            is_stale=lambda: not self.model.is_current(emb, name))

    def cancel(self) -> None:
        """Stop loading / encoding B or the test (a result that lands later is dropped)."""
        was = self.running or self.cancel_button.isVisible()  # a finished job's result may still be on its way
        self.runner.cancel(JobKind.DRIFT_ENCODE)
        self.runner.cancel(JobKind.DRIFT)
        if was:
            self._busy(False, "cancelled")

    def _job_finished(self) -> None:
        """A job ended however it ended (a result dropped as stale calls nothing else): the bar
        stops showing work once none runs."""
        if not self.running and self.progress.isVisible():
            self.progress.hide()
            self.cancel_button.hide()
            self.run_button.setEnabled(True)
            self._show_placeholder()

    def choose(self, side: str, index: int) -> None:
        """Ring item ``index`` of set ``side`` ("a" / "b") on the map and show it; an item of A
        also becomes the app's current item."""
        d = self.result
        if d is None:
            return
        xy = d.xy_a_ if side == "a" else d.xy_b_
        if not 0 <= index < len(xy):
            return
        self.chosen = (side, int(index))
        self.ring.setData(pos=xy[index:index + 1])
        emb = self.emb_a if side == "a" else self.emb_b
        score = (d.scores_a_ if side == "a" else d.scores_b_)[index]
        thumbs = self.thumbs_a if side == "a" else self.thumbs_b
        if emb is not None:
            pix = thumbs.get(index) if emb.dataset.modality == "image" else None
            self.card.set_item(emb.dataset, index, pix, f"P(from B) {score:.3f}",
                               heading="set A (open data)" if side == "a" else "set B (other set)")
        if side == "a" and self.emb_a is self.model.emb:
            self.selection.set_current(int(index), self.name)

    def export_plot(self, path: str) -> None:
        """Write the map of both sets as PNG or SVG (by the file extension)."""
        export_plot_item(self.plot.getPlotItem(), path)

    def shutdown(self) -> None:
        self.cancel()
        self.thumbs_b.shutdown()

    # -- jobs ------------------------------------------------------------------------------------------
    def _encoded(self, paths: tuple[str, ...], name: str, emb_a: EmbeddingSet, emb_b: EmbeddingSet) -> None:
        if emb_b.dim != emb_a.dim:
            self._failed(f"set B has {emb_b.dim}-d vectors and the open data {emb_a.dim}-d: both must come "
                         "from the same encoder")
            return
        self.emb_b = emb_b
        self._b_for = (tuple(paths), name, id(emb_a))
        self.thumbs_b.set_dataset(emb_b.dataset)
        self._test(emb_a, emb_b)

    def _test(self, emb_a: EmbeddingSet, emb_b: EmbeddingSet) -> None:
        name = self.model.active
        after_encode = self.progress.isVisible()
        self._busy(True, f"testing {len(emb_a):,} items of A against {len(emb_b):,} of B\u2026",
                   (0.7, 1.0) if after_encode else (0.0, 1.0))
        self.runner.submit(
            JobKind.DRIFT, run_drift, emb_a.vectors, emb_b.vectors, self.model.views.drift.alpha,
            on_result=lambda d: self._show(emb_a, emb_b, d),
            on_progress=self._progress,
            on_error=lambda msg: self._failed(f"the drift test failed: {msg}"),
            on_cancelled=lambda: self._busy(False, "cancelled"),
            on_finished=self._job_finished,
            is_stale=lambda: not self.model.is_current(emb_a, name))

    def _busy(self, on: bool, text: str = "", span: tuple[float, float] = (0.0, 1.0)) -> None:
        """Show (or hide) the progress of a job drawing the part ``span`` of the bar."""
        self._span = span
        if on:
            self.progress.setValue(int(1000 * span[0]))
            if self.result is None:
                self.placeholder.setText("Testing set B against the open data\u2026 (progress above; Cancel stops it)")
                self.body.setCurrentIndex(0)
        elif self.result is None:
            self._show_placeholder()
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on)
        self.run_button.setEnabled(not on)
        self.status.setText(html.escape(text))
        self.status.setToolTip(text)

    def _failed(self, message: str) -> None:
        self._busy(False)
        self._say(message, error=True)

    # -- showing ---------------------------------------------------------------------------------------
    def _show(self, emb_a: EmbeddingSet, emb_b: EmbeddingSet, d: Drift) -> None:
        self._busy(False, "")
        b_names = ", ".join(os.path.basename(p.rstrip("/\\")) for p in self.model.views.drift.b_paths)
        self.sets_line.setText(
            f"<b>A</b>: {html.escape(self.model.name)} ({len(emb_a):,} items) &nbsp; <b>B</b>: {html.escape(b_names)} "
            f"({len(emb_b):,} items)<br>both {html.escape(self.model.active)}, {emb_a.dim}-d")
        alpha = self.model.views.drift.alpha
        self.emb_a, self.emb_b = emb_a, emb_b
        self.result = d if d.alpha == alpha else d.with_alpha(alpha)
        self.chosen = None
        self.ring.setData(pos=np.empty((0, 2)))
        self.card.clear("Click an item in a list or on the map")
        self.body.setCurrentIndex(1)
        self._fill_verdict()
        self._fill_numbers()
        self._draw_map()
        self._fill_lists()

    def _fill_verdict(self) -> None:
        d = self.result
        assert d is not None
        word = d.strength_ if d.drift_ else "none"
        self.badge.setText(f"DRIFT \u2014 {d.strength_.upper()}" if d.drift_ else "NO DETECTABLE DRIFT")
        self.badge.setStyleSheet(f"background:{BADGE_COLORS[word]}; color:white; font-weight:bold; "
                                 "border-radius:4px; padding:3px 10px;")
        self.verdict.setText(html.escape(d.verdict_))

    def _fill_numbers(self) -> None:
        d = self.result
        assert d is not None

        def used(n_a: int, n_b: int) -> str:
            sampled = n_a < d.n_a_ or n_b < d.n_b_
            return f"{n_a:,} + {n_b:,}" + (" (sampled)" if sampled else "")

        rows: list[tuple[str, list[str] | None]] = [
            ("items in A (open data)", [f"{d.n_a_:,}"]),
            ("items in B (other set)", [f"{d.n_b_:,}"]),
            ("Classifier two-sample test", None),
            ("AUROC (0.5: chance)", [f"{d.auroc_:.3f}"]),
            ("p-value", [format_p(d.auroc_p_, d.n_permutations).removeprefix("p ").removeprefix("= ")]),
            ("items used, A + B", [used(d.clf_n_a_, d.clf_n_b_)]),
            ("of which tested (held out)", [f"{d.test_n_a_:,} + {d.test_n_b_:,}"]),
            ("MMD, RBF kernel", None),
            ("MMD\u00b2 (unbiased)", [f"{d.mmd2_:.4g}"]),
            ("p-value", [format_p(d.mmd_p_, d.n_permutations).removeprefix("p ").removeprefix("= ")]),
            ("items used, A + B", [used(d.mmd_n_a_, d.mmd_n_b_)]),
        ]
        fill_metric_rows(self.table, ["value"], rows)
        self.how.setText(
            f"<b>Classifier</b>: {html.escape(d.clf_text())}. The p-value permutes the A/B labels of the "
            f"held-out half (exact: its model never saw them).<br><b>MMD</b>: {html.escape(d.mmd_text())}."
            "<br>Drift is declared when "
            f"either p-value is below alpha/2 = {d.alpha / 2:g} (Bonferroni for the two tests).")

    def _scatter(self, color: QColor, side: str) -> pg.ScatterPlotItem:
        fill = QColor(color)
        fill.setAlpha(150)
        item = pg.ScatterPlotItem(size=6, pen=None, brush=pg.mkBrush(fill), pxMode=True, hoverable=False)
        item.sigClicked.connect(lambda _item, points, _ev: self._clicked(side, points))
        self.plot.addItem(item)
        return item

    def _draw_map(self) -> None:
        d = self.result
        assert d is not None
        rng = np.random.default_rng(0)
        notes = []
        for item, xy, n, which in ((self.scatter_a, d.xy_a_, d.n_a_, "A"), (self.scatter_b, d.xy_b_, d.n_b_, "B")):
            idx = np.arange(n) if n <= MAX_DRAWN else np.sort(rng.choice(n, MAX_DRAWN, replace=False))
            size = 6 if len(idx) <= 3000 else 4 if len(idx) <= 20_000 else 3
            item.setData(pos=xy[idx], data=idx, size=size)
            if len(idx) < n:
                notes.append(f"{which}: a random {len(idx):,} of {n:,} drawn")
        self.scatter_b.setZValue(1)
        self.legend.set_rows([(self.colors[0], f"A: open data ({d.n_a_:,})"),
                              (self.colors[1], f"B: other set ({d.n_b_:,})")])
        self.map_title.setText(
            f"Both sets on one PCA map, fitted on {d.map_n_fit_:,} items of both "
            f"({100 * d.map_variance_:.0f} % of the variance)" + (f"; {'; '.join(notes)}" if notes else ""))
        self.plot.getPlotItem().enableAutoRange()
        self.plot.autoRange()

    def _clicked(self, side: str, points: Any) -> None:
        if len(points):
            self.choose(side, int(points[0].data()))

    def _fill_lists(self) -> None:
        d = self.result
        assert d is not None and self.emb_a is not None and self.emb_b is not None
        self.head_b.setText(f"<b>Most typical of B</b>: what is new in B ({len(d.top_b_)} of {d.n_b_:,}, "
                            "by the classifier's out-of-sample P(from B), highest first)")
        self.head_a.setText(f"<b>Most typical of A</b>: what B lacks ({len(d.top_a_)} of {d.n_a_:,}, "
                            "lowest P(from B) first)")
        for lst, emb, top, scores in ((self.list_b, self.emb_b, d.top_b_, d.top_b_scores_),
                                      (self.list_a, self.emb_a, d.top_a_, d.top_a_scores_)):
            lst.clear_items()
            ds = emb.dataset
            for i, s in zip(top, scores, strict=True):
                i = int(i)
                what = ds.display_text(i, 90) if ds.texts is not None and ds.texts[i] is not None else \
                    os.path.basename(ds.sources[i]) if ds.modality == "image" else ds.ids[i]
                label = ds.labels[i] if ds.labels is not None else None
                text = f"P(B) {s:.2f}  " + (f"[{label}] " if label is not None else "") + what
                lst.add_item(ds, i, text, tooltip=f"{ds.ids[i]}\n{ds.sources[i]}")

    # -- following the model -----------------------------------------------------------------------------
    def _paths_typed(self) -> None:
        paths = split_paths(self.path_box.text())
        if paths != self.model.views.drift.b_paths:
            self.model.views.drift.b_paths = paths

    def _on_paths(self, paths: tuple[str, ...]) -> None:
        text = "; ".join(paths)
        if split_paths(self.path_box.text()) != tuple(paths):
            self.path_box.setText(text)
        if self.result is None:
            self._show_placeholder()

    def _on_alpha(self, alpha: float) -> None:
        i = self.alpha_box.findData(alpha)
        if i >= 0 and i != self.alpha_box.currentIndex():
            self.alpha_box.setCurrentIndex(i)
        if self.result is not None and self.result.alpha != alpha:
            self.result = self.result.with_alpha(alpha)
            self._fill_verdict()
            self._fill_numbers()

    def _on_data_changed(self) -> None:
        """Set A changed (other data, or re-encoded): the results no longer hold; B is encoded again
        with the new encoder at the next test."""
        self.cancel()
        self.result = None
        self.emb_a = None
        if self.emb_b is not None and self._b_for is not None and self._b_for[1] != self.model.active:
            self.emb_b = None
        self.list_a.clear_items()
        self.list_b.clear_items()
        self._show_placeholder()

    def _on_current(self, index: int, source: str = "") -> None:
        if source == self.name or self.result is None or self.emb_a is not self.model.emb:
            return
        if 0 <= index < self.result.n_a_:
            self.chosen = ("a", int(index))
            self.ring.setData(pos=self.result.xy_a_[index:index + 1])

    def _on_thumb_b(self, index: int) -> None:
        self.list_b.thumbnail_ready(index)
        if self.chosen == ("b", index):
            self.card.set_pixmap(self.thumbs_b.get(index))

    def _on_thumb_a(self, index: int) -> None:
        self.list_a.thumbnail_ready(index)
        if self.chosen == ("a", index):
            self.card.set_pixmap(self.thumbs_a.get(index))

    def _show_placeholder(self) -> None:
        if self.result is not None:
            return
        if self.model.emb is None:
            text = ("Open data first: it is set A, the reference (say, the training data). Then choose set B, "
                    "the data to test against it (say, this week's production data).")
        elif not self.model.views.drift.b_paths:
            text = ("Set A is the open data. Choose set B with \u201cOpen the other set\u2026\u201d (or type its "
                    "path above): it is loaded and encoded the same way, then both are tested for drift.")
        else:
            text = "Press \u201cTest for drift\u201d to test set B against the open data."
        self.placeholder.setText(text)
        self.body.setCurrentIndex(0)

    def _restyle(self) -> None:
        c = theme.plot_colors()
        self.legend.set_colors(QColor(c["plot_foreground"]), QColor(c["plot_background"]))
        self.ring.setPen(pg.mkPen(c["plot_foreground"], width=2.5))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        super().changeEvent(event)
        if event.type() == QEvent.PaletteChange:
            self._restyle()
