"""Checks: how good is the active embedding for its labels -- kNN accuracy, linear probe,
clustering, retrieval, outliers and the encoder's invariance to small changes -- with their
parameters in a form, each run in the background with its own progress and Cancel.

Every number is computed by the core (:mod:`embedview.core.evaluation`,
:mod:`embedview.core.invariance`) on the set's raw vectors with the chosen metric, exactly as
``embedview check`` does; the label-aware checks use :func:`embedview.core.checks.usable_labels`
(unlabelled items and labels with a single item left out, and said so).  Checks run one after
another (a 2-core machine gains nothing from running them at once), each under its own runner
key ``"checks.<name>"``; "Run all" queues every check.  Results go to a table (check, metric,
value, +- std, details) that can be copied or exported as CSV / JSON, and to
``state.analysis[encoder]["checks"]`` ({check: fitted core object}).

The invariance probe needs the encoder itself (it encodes augmented copies of a sample): it
uses the loaded encoder of the active set (``encoders.pipeline.get_encoder``, already in memory
after encoding); for precomputed embeddings it is not available, and the form says why.

:func:`export_report_dialog` (File -> Export HTML report...) writes
:func:`embedview.core.report.write_report` for every encoded set in the runner (key
``"report"``), with a progress dialog and Cancel.
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QComboBox, QDoubleSpinBox, QFileDialog, QFrame,
                               QGridLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMenu, QProgressBar,
                               QProgressDialog, QPushButton, QScrollArea, QSpinBox, QSplitter, QTableWidget,
                               QTableWidgetItem, QToolButton, QVBoxLayout, QWidget)

from embedview.core.embeddings import EmbeddingSet
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.gui.views.base import View

log = logging.getLogger(__name__)

#: the checks of the form, in the order "Run all" runs them
CHECKS = ("knn", "linear_probe", "clustering", "retrieval", "outliers", "invariance")
TITLES = {
    "knn": "kNN accuracy",
    "linear_probe": "Linear probe",
    "clustering": "Clustering",
    "retrieval": "Retrieval",
    "outliers": "Outliers",
    "invariance": "Invariance",
}
LABEL_CHECKS = ("knn", "linear_probe", "clustering", "retrieval")
COLUMNS = ("check", "metric", "value", "std", "details")
HEADERS = ("Check", "Metric", "Value", "\u00b1 std", "Details")
NO_OUTLIERS = "(none)"
TRUE_WORDS = {"1", "true", "yes", "y", "t", "outlier", "anomaly"}
ANALYSIS_KIND = "checks"


# ==============================================================================================
# the work (plain functions; run in worker threads)
# ==============================================================================================
def invariance_unavailable(emb: Optional[EmbeddingSet]) -> str:
    """Why the invariance probe cannot run on ``emb`` ("" when it can)."""
    if emb is None:
        return "no embeddings yet"
    if emb.encoder == "precomputed" or emb.dataset.modality not in ("image", "text"):
        return ("not available for precomputed embeddings: the probe encodes changed copies of the items, "
                "which needs the encoder (open the images or texts and encode them)")
    return ""


def outlier_flags(emb: EmbeddingSet, choice: str) -> Optional[np.ndarray]:
    """Known-outlier flags from a form choice: ``"column:<name>"`` (truthy values: true, 1, yes,
    outlier, ...) or ``"label:<value>"`` (items with that label); None for no choice."""
    ds = emb.dataset
    if not choice or choice == NO_OUTLIERS:
        return None
    kind, _, key = choice.partition(":")
    if kind == "label" and ds.labels is not None:
        return np.array([v is not None and str(v) == key for v in ds.labels], dtype=bool)
    if kind == "column" and key in ds.metadata:
        def truthy(v: Any) -> bool:
            if isinstance(v, (bool, np.bool_)):
                return bool(v)
            if isinstance(v, (int, float, np.integer, np.floating)):
                return bool(np.isfinite(v) and v != 0)
            return v is not None and str(v).strip().lower() in TRUE_WORDS

        return np.array([truthy(v) for v in ds.metadata[key]], dtype=bool)
    raise ValueError(f"unknown outlier column {choice!r}")


def run_check(name: str, emb: EmbeddingSet, params: Dict[str, Any], progress=None):
    """Run check ``name`` of :data:`CHECKS` on ``emb`` with the form's ``params``; returns the
    fitted core object.  Raises ``ValueError`` with the core's reason when the data does not
    allow it (no labels, too few items per class, ...)."""
    from embedview.core import evaluation
    from embedview.core.checks import usable_labels

    X = emb.vectors
    metric = params.get("metric", "cosine")
    if name in LABEL_CHECKS:
        labels, note = usable_labels(emb)
        if labels is None and not (name == "clustering" and params.get("n_clusters")):
            raise ValueError(f"needs labels: {note}")
    if name == "knn":
        return evaluation.KNNAccuracy(params["k"], params["vote"], metric).fit(X, labels, progress=progress)
    if name == "linear_probe":
        return evaluation.LinearProbe(folds=params["folds"], C=params["C"]).fit(X, labels, progress=progress)
    if name == "clustering":
        return evaluation.ClusteringMetrics(n_clusters=params.get("n_clusters") or None, sample=params["sample"],
                                            metric=metric).fit(X, labels, progress=progress)
    if name == "retrieval":
        return evaluation.RetrievalMetrics(ks=params["ks"], metric=metric).fit(X, labels, progress=progress)
    if name == "outliers":
        return evaluation.OutlierScores(params["k"], metric).fit(X, outliers=outlier_flags(emb, params["known"]),
                                                                 progress=progress)
    if name == "invariance":
        return run_invariance(emb, params, progress=progress)
    raise ValueError(f"unknown check {name!r}")


def run_invariance(emb: EmbeddingSet, params: Dict[str, Any], progress=None):
    """The invariance probe with the active set's own encoder (loaded once, then kept)."""
    from embedview.core.images import LazyImages
    from embedview.core.invariance import InvarianceProbe

    reason = invariance_unavailable(emb)
    if reason:
        raise ValueError(reason)
    if not params.get("augmentations"):
        raise ValueError("choose at least one augmentation")
    from embedview.runtime.encoder_host import encoder_host, probe_encoder

    ds = emb.dataset
    items = LazyImages(ds.sources) if ds.modality == "image" else list(ds.texts)
    probe = InvarianceProbe(augmentations=list(params["augmentations"]), n_items=params["n_items"])
    return encoder_host().call(probe_encoder, probe, emb.encoder, items, ds.modality, progress=progress)


def result_rows(name: str, result, params: Dict[str, Any], dataset=None) -> List[Dict[str, Any]]:
    """The table rows of a fitted check: ``{"check", "metric", "value", "std", "details"}``.

    Values are the core's own attributes (plain floats, not rounded); ``std`` is None where the
    core gives no spread.
    """
    title = TITLES[name]

    def row(metric: str, value, std=None, details: str = "") -> Dict[str, Any]:
        return {"check": title, "metric": metric, "value": None if value is None else float(value),
                "std": None if std is None else float(std), "details": details}

    if name == "knn":
        worst = sorted(result.per_class_.items(), key=lambda kv: kv[1])[:3]
        return [row("accuracy", result.accuracy_,
                    details=f"k={result.k_}, {result.vote} vote, {result.metric}, {result.n_evaluated_:,} items; "
                            "lowest: " + ", ".join(f"{c} {a:.2f}" for c, a in worst))]
    if name == "linear_probe":
        base = f"{result.folds}-fold, C={result.C:g}, {len(result.classes_)} classes, {result.n_items_:,} items"
        details = base + (f"; {result.message_}" if result.message_ else "")
        return [row("accuracy", result.accuracy_mean_, result.accuracy_std_, details),
                row("macro-F1", result.macro_f1_mean_, result.macro_f1_std_, base)]
    if name == "clustering":
        base = f"k-means k={result.n_clusters_}, {result.metric}; silhouette on {result.sample_size_:,} items"
        out = []
        if result.nmi_ is not None:
            out += [row("NMI", result.nmi_, details=base), row("ARI", result.ari_, details=base)]
        if result.silhouette_ is not None:
            out.append(row("silhouette (labels)", result.silhouette_, details=base))
        out.append(row("silhouette (k-means)", result.silhouette_kmeans_, details=base))
        return out
    if name == "retrieval":
        base = (f"{result.metric}, {result.n_queries_:,} queries"
                + (f", {result.n_skipped_:,} without a relevant item skipped" if result.n_skipped_ else ""))
        out = [row(f"Recall@{k}", v, details=base) for k, v in result.recall_at_.items()]
        out += [row(f"Precision@{k}", v, details=base) for k, v in result.precision_at_.items()]
        out.append(row("mAP", result.map_, float(np.std(result.average_precision_)), base))
        return out
    if name == "outliers":
        ids = dataset.ids if dataset is not None else None
        top = ", ".join(ids[i] if ids is not None else str(i) for i in result.ranking_[:5].tolist())
        out = [row("mean outlier score", float(result.scores_.mean()), float(result.scores_.std()),
                   f"k={result.k_}, {result.metric}; most isolated: {top}")]
        if result.auroc_ is not None:
            out.append(row("AUROC (known outliers)", result.auroc_,
                           details=f"scores against '{params.get('known', '')}'"))
        elif params.get("known") and params["known"] != NO_OUTLIERS:
            out.append(row("AUROC (known outliers)", None,
                           details=f"'{params['known']}' marks no item, or every item, as an outlier"))
        return out
    if name == "invariance":
        out = []
        for aug, r in result.results_.items():
            cos = result.cosines_[aug]
            ranks = result.ranks_[aug]
            details = (f"{result.n_items_} items; median cosine {r['median_cosine']:.4f}, "
                       f"median rank {r['median_rank']:g}, top-1 {r['top1']:.2f}")
            out.append(row(f"{aug}: mean cosine", r["mean_cosine"], float(np.std(cos)), details))
            out.append(row(f"{aug}: mean rank", r["mean_rank"], float(np.std(ranks)), details))
        return out
    raise ValueError(f"unknown check {name!r}")


# ==============================================================================================
# the HTML report (File -> Export HTML report...)
# ==============================================================================================
def report_job(sets: Dict[str, EmbeddingSet], path: str, projection: str = "pca", progress=None) -> str:
    from embedview.core.report import write_report

    return str(write_report(sets, path, progress=progress, projection=projection))


@dataclass
class ReportRun:
    """A report being written: its job, its progress dialog (None once closed) and the target."""

    job: Any
    path: str
    dialog: Optional[QProgressDialog] = None


def export_report(parent: Optional[QWidget], state: AppModel, runner: JobRunner, path: str,
                  on_done: Optional[Callable[[str], None]] = None, key: str = "report") -> ReportRun:
    """Write the HTML report of every encoded set to ``path`` in the runner, with a non-modal
    progress dialog whose Cancel stops it (the core writes through a temporary file, so nothing
    is left half-written)."""
    if not state.sets:
        raise ValueError("there are no embeddings to report on yet")
    dialog = QProgressDialog("Writing the HTML report\u2026", "Cancel", 0, 1000, parent)
    dialog.setWindowTitle("HTML report")
    dialog.setWindowModality(Qt.NonModal)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.canceled.connect(lambda: runner.cancel(key))
    run = ReportRun(job=None, path=str(path), dialog=dialog)

    def close() -> None:
        if run.dialog is None:
            return
        run.dialog = None
        dialog.canceled.disconnect()
        dialog.close()
        dialog.deleteLater()

    def progressed(fraction: float, message: str) -> None:
        if run.dialog is not None:
            dialog.setValue(int(round(fraction * 1000)))
            if message:
                dialog.setLabelText(f"Writing the HTML report\u2026\n{message}")

    def done(result: str) -> None:
        close()
        if on_done is not None:
            on_done(result)

    run.job = runner.submit(key, report_job, dict(state.sets), str(path), on_result=done, on_progress=progressed,
                            on_finished=close)
    dialog.show()
    return run


def export_report_dialog(window) -> None:
    """Ask for the ``.html`` path, then :func:`export_report` (messages go to the window)."""
    state = window.state
    if not state.sets:
        window.show_message("Nothing to report yet: open data and let it encode first")
        return
    name = (state.dataset.name if state.dataset is not None and state.dataset.name else "embedview") + "-report.html"
    path, _ = QFileDialog.getSaveFileName(window, "Export HTML report", name, "HTML (*.html)")
    if not path:
        return
    if not path.lower().endswith((".html", ".htm")):
        path += ".html"
    try:
        export_report(window, state, window.runner, path, on_done=lambda p: window.show_message(f"Wrote the report to {p}"))
    except ValueError as exc:
        window.report_error("report", str(exc))


# ==============================================================================================
# the view
# ==============================================================================================
class _CheckRow:
    """The widgets of one check in the form."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.title = QLabel(f"<b>{TITLES[name]}</b>")
        self.params = QWidget()
        self.params_layout = QHBoxLayout(self.params)
        self.params_layout.setContentsMargins(0, 0, 0, 0)
        self.run = QPushButton("Run")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(110)
        self.bar.setTextVisible(False)
        keep = self.bar.sizePolicy()
        keep.setRetainSizeWhenHidden(True)  # the column keeps its width while no check runs
        self.bar.setSizePolicy(keep)
        self.bar.hide()
        self.cancel = QToolButton()
        self.cancel.setText("\u2715")
        self.cancel.setToolTip(f"Cancel {TITLES[name]}")
        self.cancel.setEnabled(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.RichText)
        self.status.setStyleSheet("color: palette(placeholder-text);")

    def add(self, label: str, widget: QWidget, tip: str = "") -> QWidget:
        if label:
            lab = QLabel(label)
            lab.setToolTip(tip)
            self.params_layout.addWidget(lab)
        if tip:
            widget.setToolTip(tip)
        self.params_layout.addWidget(widget)
        return widget


class ChecksView(View):
    """Evaluation checks of the active set with their parameters, progress, Cancel and a result table."""

    title = "Checks"
    area = "bottom"
    name = "checks"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        #: fitted core objects, their parameters and their table rows, per check
        self.results: Dict[str, Any] = {}
        self.params_used: Dict[str, Dict[str, Any]] = {}
        self.rows: Dict[str, List[Dict[str, Any]]] = {}
        self.messages: Dict[str, str] = {}
        self._queue: List[str] = []
        self._running: Optional[str] = None
        self._started = 0.0
        self._emb: Optional[EmbeddingSet] = None  # the set the results are for
        self._build()
        model.dataset_changed.connect(self._reset)
        model.active_set_changed.connect(lambda _n: self._reset())
        self._reset()

    # ======================================================================================
    # construction
    # ======================================================================================
    def _build(self) -> None:
        self.form_rows: Dict[str, _CheckRow] = {name: _CheckRow(name) for name in CHECKS}
        r = self.form_rows

        self.metric_box = QComboBox()
        for text, key in (("cosine", "cosine"), ("Euclidean", "euclidean"), ("dot product", "dot")):
            self.metric_box.addItem(text, key)
        self.metric_box.setToolTip("Similarity used by kNN, clustering, retrieval and outliers")

        self.knn_k = r["knn"].add("k", _spin(1, 1000, 10), "Neighbours that vote (leave-one-out)")
        self.knn_vote = r["knn"].add("vote", QComboBox(), "majority: one vote each; weighted: 1 / distance")
        self.knn_vote.addItems(["majority", "weighted"])

        self.probe_folds = r["linear_probe"].add("folds", _spin(2, 20, 5), "Stratified cross-validation folds")
        self.probe_c = r["linear_probe"].add("C", QDoubleSpinBox(), "Inverse regularisation strength of the "
                                                                    "logistic regression")
        self.probe_c.setDecimals(4)
        self.probe_c.setRange(0.0001, 10000.0)
        self.probe_c.setValue(1.0)

        self.cluster_k = r["clustering"].add("clusters", _spin(0, 10000, 0),
                                             "k of k-means; 'labels' = the number of classes")
        self.cluster_k.setSpecialValueText("labels")
        self.cluster_sample = r["clustering"].add("sample", _spin(100, 1_000_000, 5000),
                                                  "Items used for the silhouette scores (random sample)")

        self.retrieval_ks = r["retrieval"].add("K", QLineEdit("1, 5, 10"), "Cut-offs for Recall@K and Precision@K")
        self.retrieval_ks.setMaximumWidth(120)

        self.outlier_k = r["outliers"].add("k", _spin(1, 1000, 10), "Score = mean distance to the k nearest items")
        self.outlier_known = r["outliers"].add("known", QComboBox(),
                                               "A label or a column that marks real outliers: gives the AUROC "
                                               "of the scores against it")
        self.outlier_known.setSizeAdjustPolicy(QComboBox.AdjustToContents)

        self.inv_items = r["invariance"].add("items", _spin(2, 100_000, 50), "Items sampled for the probe")
        self.inv_augs = r["invariance"].add("", QToolButton(), "Augmentations to apply (each changes every "
                                                               "sampled item once)")
        self.inv_augs.setPopupMode(QToolButton.InstantPopup)
        self.inv_menu = QMenu(self)
        self.inv_augs.setMenu(self.inv_menu)
        self.aug_actions: Dict[str, QAction] = {}

        for row in r.values():
            row.params_layout.addStretch(1)

        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        line = 0
        for name in CHECKS:
            row = r[name]
            grid.addWidget(row.title, line, 0)
            grid.addWidget(row.params, line, 1)
            grid.addWidget(row.run, line, 2)
            grid.addWidget(row.bar, line, 3)
            grid.addWidget(row.cancel, line, 4)
            grid.addWidget(row.status, line + 1, 1, 1, 4)
            row.run.clicked.connect(lambda _c=False, n=name: self.run(n))
            row.cancel.clicked.connect(lambda _c=False, n=name: self.cancel(n))
            line += 2
        grid.setColumnStretch(1, 1)

        self.run_all_button = QPushButton("Run all")
        self.run_all_button.setToolTip("Run every check the data allows, one after another")
        self.cancel_all_button = QPushButton("Cancel all")
        self.run_all_button.clicked.connect(self.run_all)
        self.cancel_all_button.clicked.connect(self.cancel_all)
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.intro.setTextFormat(Qt.RichText)
        top = QHBoxLayout()
        top.addWidget(QLabel("metric"))
        top.addWidget(self.metric_box)
        top.addStretch(1)
        top.addWidget(self.run_all_button)
        top.addWidget(self.cancel_all_button)

        form = QWidget()
        fl = QVBoxLayout(form)
        fl.setContentsMargins(2, 2, 2, 2)
        fl.addWidget(self.intro)
        fl.addLayout(top)
        sep = QFrame()
        sep.setFrameShape(QFrame.HLine)
        sep.setFrameShadow(QFrame.Sunken)
        fl.addWidget(sep)
        fl.addLayout(grid)
        fl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(form)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(form.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for c in range(4):
            header.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Interactive)  # sized in _fill_table, capped
        header.setSectionResizeMode(4, QHeaderView.Stretch)
        header.setMinimumSectionSize(50)
        copy_action = QAction("Copy", self.table)
        copy_action.setShortcut(QKeySequence.Copy)
        copy_action.setShortcutContext(Qt.WidgetShortcut)
        copy_action.triggered.connect(self.copy_rows)
        self.table.addAction(copy_action)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the selected rows (all rows when none is selected) as tab-separated text")
        self.copy_button.clicked.connect(self.copy_rows)
        self.export_button = QPushButton("Export\u2026")
        self.export_button.setToolTip("Save the results as CSV or JSON")
        self.export_button.clicked.connect(self.export_dialog)
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.detail_label = QLabel()
        self.detail_label.setWordWrap(True)
        self.detail_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.detail_label.setStyleSheet("color: palette(placeholder-text);")
        self.table.currentCellChanged.connect(lambda row, *_: self._show_detail(row))
        buttons = QHBoxLayout()
        buttons.addWidget(self.result_label, 1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.export_button)
        results = QWidget()
        rl = QVBoxLayout(results)
        rl.setContentsMargins(2, 2, 2, 2)
        rl.addWidget(self.table, 1)
        rl.addWidget(self.detail_label)
        rl.addLayout(buttons)

        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(results)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(splitter)

    # ======================================================================================
    # parameters
    # ======================================================================================
    def params(self, name: str) -> Dict[str, Any]:
        """The form's parameters for check ``name`` (read when it starts)."""
        metric = self.metric_box.currentData()
        if name == "knn":
            return {"k": self.knn_k.value(), "vote": self.knn_vote.currentText(), "metric": metric}
        if name == "linear_probe":
            return {"folds": self.probe_folds.value(), "C": self.probe_c.value()}
        if name == "clustering":
            return {"n_clusters": self.cluster_k.value() or None, "sample": self.cluster_sample.value(),
                    "metric": metric}
        if name == "retrieval":
            return {"ks": parse_ks(self.retrieval_ks.text()), "metric": metric}
        if name == "outliers":
            return {"k": self.outlier_k.value(), "known": self.outlier_known.currentData() or NO_OUTLIERS,
                    "metric": metric}
        if name == "invariance":
            return {"n_items": self.inv_items.value(),
                    "augmentations": [a for a, act in self.aug_actions.items() if act.isChecked()]}
        raise ValueError(f"unknown check {name!r}")

    def _fill_choices(self) -> None:
        """Known-outlier choices and augmentations for the current data."""
        emb = self.state.emb
        ds = emb.dataset if emb is not None else self.state.dataset
        self.outlier_known.clear()
        self.outlier_known.addItem(NO_OUTLIERS, NO_OUTLIERS)
        if ds is not None:
            for col in ds.metadata:
                self.outlier_known.addItem(f"column {col}", f"column:{col}")
            if ds.labels is not None:
                values = sorted({str(v) for v in ds.labels if v is not None})
                if len(values) <= 200:
                    for v in values:
                        self.outlier_known.addItem(f"label = {v}", f"label:{v}")
        from embedview.core.invariance import DEFAULTS

        self.inv_menu.clear()
        self.aug_actions = {}
        names = list(DEFAULTS.get(ds.modality, {})) if ds is not None else []
        for aug in names:
            act = self.inv_menu.addAction(aug)
            act.setCheckable(True)
            act.setChecked(True)
            act.toggled.connect(lambda _c: self._update_aug_button())
            self.aug_actions[aug] = act
        self._update_aug_button()

    def _update_aug_button(self) -> None:
        chosen = [a for a, act in self.aug_actions.items() if act.isChecked()]
        if not self.aug_actions:
            self.inv_augs.setText("augmentations")
        else:
            self.inv_augs.setText(f"{len(chosen)} of {len(self.aug_actions)} augmentations")
        self.inv_augs.setToolTip("Augmentations: " + (", ".join(chosen) or "none chosen"))

    # ======================================================================================
    # running
    # ======================================================================================
    def run(self, name: str) -> None:
        """Queue check ``name`` (it starts at once when no other check is running)."""
        if name not in CHECKS:
            raise ValueError(f"unknown check {name!r}")
        if self.state.emb is None:
            self._set_status(name, "no embeddings yet", error=True)
            return
        if name == self._running or name in self._queue:
            return
        self._queue.append(name)
        row = self.form_rows[name]
        row.cancel.setEnabled(True)
        row.bar.setValue(0)
        row.bar.show()
        self._set_status(name, "queued")
        self._pump()

    def run_all(self) -> None:
        """Queue every check; those the data does not allow say why instead of running."""
        for name in CHECKS:
            reason = self.unavailable(name)
            if reason:
                self._set_status(name, reason, error=True)
            else:
                self.run(name)

    def unavailable(self, name: str) -> str:
        """Why check ``name`` cannot run on the active set ("" when it can)."""
        emb = self.state.emb
        if emb is None:
            return "no embeddings yet"
        if name == "invariance":
            return invariance_unavailable(emb)
        if name in LABEL_CHECKS and not (name == "clustering" and self.cluster_k.value()):
            from embedview.core.checks import usable_labels

            labels, note = usable_labels(emb)
            if labels is None:
                return f"needs labels: {note}"
        return ""

    def cancel(self, name: str) -> None:
        """Stop check ``name`` (running or queued)."""
        if name in self._queue:
            self._queue.remove(name)
            self._stopped(name, "cancelled")
        elif name == self._running:
            self.runner.cancel(f"checks.{name}")
            self._set_status(name, "cancelling\u2026")

    def cancel_all(self) -> None:
        for name in list(self._queue):
            self.cancel(name)
        if self._running:
            self.cancel(self._running)

    def is_busy(self) -> bool:
        return self._running is not None or bool(self._queue)

    def _pump(self) -> None:
        if self._running is not None or not self._queue:
            return
        emb = self.state.emb
        if emb is None:
            for name in self._queue:
                self._stopped(name, "no embeddings")
            self._queue.clear()
            return
        name = self._queue.pop(0)
        try:
            params = self.params(name)
        except ValueError as exc:
            self._stopped(name, str(exc), error=True)
            self._pump()
            return
        self._running = name
        self._started = time.perf_counter()
        self._set_status(name, "running\u2026")
        self.runner.submit(
            f"checks.{name}", run_check, name, emb, params,
            on_result=lambda res, n=name, e=emb, p=params: self._done(n, e, p, res),
            on_error=lambda msg, n=name: self._stopped(n, msg, error=True),
            on_progress=lambda f, msg, n=name: self._progress(n, f, msg),
            on_cancelled=lambda n=name: self._stopped(n, "cancelled"),
            on_finished=lambda n=name: self._finished(n),
        )

    def _progress(self, name: str, fraction: float, message: str) -> None:
        row = self.form_rows[name]
        row.bar.setValue(int(round(fraction * 1000)))
        if message:
            self._set_status(name, f"{fraction * 100:.0f} % \u00b7 {message}")

    def _finished(self, name: str) -> None:
        if self._running == name:
            self._running = None
        self.form_rows[name].cancel.setEnabled(name in self._queue)
        self._pump()

    def _done(self, name: str, emb: EmbeddingSet, params: Dict[str, Any], result) -> None:
        if emb is not self.state.emb:
            return  # the data changed meanwhile
        self.results[name] = result
        self.params_used[name] = params
        self.rows[name] = result_rows(name, result, params, emb.dataset)
        note = ""
        if name in LABEL_CHECKS:
            from embedview.core.checks import usable_labels

            note = usable_labels(emb)[1]
        message = getattr(result, "message_", "") or ""
        text = "; ".join(t for t in (message, note) if t)
        self.messages[name] = text
        self.form_rows[name].bar.hide()
        seconds = time.perf_counter() - self._started
        self._set_status(name, f"done in {seconds:.1f} s" + (f" \u2014 {text}" if text else ""), warn=bool(text))
        self._fill_table()
        self.state.set_analysis(ANALYSIS_KIND, dict(self.results))

    def _stopped(self, name: str, message: str, error: bool = False) -> None:
        self.messages[name] = message
        self.form_rows[name].bar.hide()
        self.form_rows[name].cancel.setEnabled(False)
        self._set_status(name, message, error=error)

    def _set_status(self, name: str, text: str, error: bool = False, warn: bool = False) -> None:
        label = self.form_rows[name].status
        color = "#c62828" if error else ("#b26a00" if warn else "")
        body = html.escape(text)
        label.setText(f"<span style='color:{color}'>{body}</span>" if color else body)
        label.setToolTip(text)
        label.setVisible(bool(text))

    def status_text(self, name: str) -> str:
        """The status line of check ``name`` as plain text."""
        return self.form_rows[name].status.toolTip()

    # ======================================================================================
    # data changes
    # ======================================================================================
    def _reset(self) -> None:
        self.cancel_all()
        self.results.clear()
        self.params_used.clear()
        self.rows.clear()
        self.messages.clear()
        self._fill_table()
        self._fill_choices()
        emb = self.state.emb
        self._emb = emb
        for name in CHECKS:
            row = self.form_rows[name]
            row.bar.hide()
            reason = self.unavailable(name) if emb is not None else ""
            row.run.setEnabled(emb is not None and not reason)
            row.run.setToolTip(reason or f"Run {TITLES[name]}")
            self._set_status(name, reason, error=bool(reason) and emb is not None)
        self.run_all_button.setEnabled(emb is not None)
        if self.state.dataset is None:
            self.intro.setText("Open data to evaluate its embeddings.")
        elif emb is None:
            self.intro.setText("The checks can run once the items are encoded.")
        else:
            ds = emb.dataset
            labels = "labelled" if ds.has_labels else "no labels"
            self.intro.setText(f"<b>{html.escape(ds.name or 'data')}</b> \u00b7 {len(emb):,} items \u00b7 "
                               f"{html.escape(emb.encoder)} {emb.dim}-d \u00b7 {labels}")

    # ======================================================================================
    # results: table, copy, export
    # ======================================================================================
    def all_rows(self) -> List[Dict[str, Any]]:
        return [row for name in CHECKS for row in self.rows.get(name, [])]

    def _fill_table(self) -> None:
        rows = self.all_rows()
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, key in enumerate(COLUMNS):
                value = row[key]
                if key in ("value", "std"):
                    text = "" if value is None else f"{value:.4f}"
                    if key == "value" and value is None:
                        text = "n/a"
                else:
                    text = str(value)
                item = QTableWidgetItem(text)
                item.setData(Qt.UserRole, value)
                if key in ("value", "std"):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if key == "details":
                    item.setToolTip(text)
                self.table.setItem(r, c, item)
        self.table.resizeColumnToContents(1)
        self.table.setColumnWidth(1, min(self.table.columnWidth(1), 160))
        self._show_detail(self.table.currentRow())
        n = len(self.rows)
        self.result_label.setText(f"{n} check{'s' if n != 1 else ''} done" if n else
                                  "Results appear here as the checks finish.")
        self.copy_button.setEnabled(bool(rows))
        self.export_button.setEnabled(bool(rows))

    def _show_detail(self, row: int) -> None:
        rows = self.all_rows()
        if 0 <= row < len(rows):
            r = rows[row]
            self.detail_label.setText(f"{r['check']} \u00b7 {r['metric']}: {r['details']}")
        else:
            self.detail_label.setText("")
        self.detail_label.setVisible(bool(self.detail_label.text()))

    def value(self, check: str, metric: str) -> Optional[float]:
        """The table's value of ``metric`` for ``check`` (a name of :data:`CHECKS`)."""
        for row in self.rows.get(check, []):
            if row["metric"] == metric:
                return row["value"]
        raise KeyError(f"{check}: no metric {metric!r}")

    def rows_as_text(self, rows: Optional[List[Dict[str, Any]]] = None) -> str:
        """Tab-separated text with a header line (what Copy puts on the clipboard)."""
        rows = self.all_rows() if rows is None else rows
        out = io.StringIO()
        w = csv.writer(out, delimiter="\t", lineterminator="\n")
        w.writerow(HEADERS)
        for row in rows:
            w.writerow([_cell(row[k]) for k in COLUMNS])
        return out.getvalue()

    def copy_rows(self) -> None:
        """Copy the selected rows (all when none is selected) to the clipboard."""
        rows = self.all_rows()
        picked = sorted({ix.row() for ix in self.table.selectionModel().selectedRows()})
        if picked:
            rows = [rows[i] for i in picked if i < len(rows)]
        QApplication.clipboard().setText(self.rows_as_text(rows))

    def export(self, path: str) -> str:
        """Write the results as JSON (``.json``: parameters, the core's ``to_dict()`` and the rows of
        every check) or CSV (anything else: the table).  Only ``path`` is written."""
        from embedview.core.checks import jsonable

        path = os.fspath(path)
        emb = self._emb
        if path.lower().endswith(".json"):
            doc = {
                "dataset": emb.dataset.name if emb is not None else None,
                "encoder": emb.encoder if emb is not None else None,
                "n_items": len(emb) if emb is not None else 0,
                "checks": {
                    name: {
                        "params": self.params_used[name],
                        "result": self.results[name].to_dict(),
                        "rows": self.rows[name],
                        "message": self.messages.get(name, ""),
                    }
                    for name in CHECKS if name in self.results
                },
            }
            text = json.dumps(jsonable(doc), indent=1)
        else:
            out = io.StringIO()
            w = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
            w.writeheader()
            for row in self.all_rows():
                w.writerow({k: "" if row[k] is None else row[k] for k in COLUMNS})
            text = out.getvalue()
        from embedview.core.export import atomic_path

        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return path

    def export_dialog(self) -> None:
        if not self.rows:
            self.result_label.setText("Nothing to export yet: run a check first.")
            return
        path, chosen = QFileDialog.getSaveFileName(self, "Export check results", "checks.csv",
                                                   "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
        if not path.lower().endswith((".csv", ".json")):
            path += ".json" if "json" in chosen.lower() else ".csv"
        try:
            self.result_label.setText(f"Wrote {self.export(path)}")
        except OSError as exc:
            self.result_label.setText(f"Could not write {path}: {exc}")
            self.runner.error.emit("checks.export", f"{path}: {exc}")

    def shutdown(self) -> None:
        self._queue.clear()
        if self._running:
            self.runner.cancel(f"checks.{self._running}")


def _spin(lo: int, hi: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    return box


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parse_ks(text: str) -> List[int]:
    """``"1, 5, 10"`` -> ``[1, 5, 10]``; a clear error for anything else."""
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    try:
        ks = sorted({int(p) for p in parts})
    except ValueError:
        raise ValueError(f"K must be whole numbers separated by commas, not {text!r}") from None
    if not ks or ks[0] < 1:
        raise ValueError(f"K must be one or more numbers of at least 1, not {text!r}")
    return ks
