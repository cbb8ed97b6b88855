"""Collapse: does the embedding use its dimensions, or did it fold onto a few directions?

For the active embedding set (and, when several encoders are computed, up to
:data:`MAX_SETS` of them side by side, the active one first) the view shows what
:class:`~embedview.core.collapse.CollapseDiagnostics` measures:

* the verdict in a coloured badge (green healthy, amber dimensional collapse, red complete
  collapse) with the core's ``verdict_reason_`` in words;
* a metrics table (effective rank, 90 %-variance directions, participation ratio, dead
  dimensions, pairwise cosine, hubness, uniformity), one column per encoder, written by the
  same row functions as the HTML report;
* three plots, one curve per encoder: per-dimension std (or variance) sorted, optionally on a
  log scale; the singular spectrum of the centred vectors (log scale); the histogram of
  pairwise cosines (fraction of pairs).

Two mitigations can be toggled: mean-centring (:func:`~embedview.core.collapse.mean_center`)
and PCA whitening (:func:`~embedview.core.collapse.whiten`); the diagnostics are then measured
on the transformed vectors.  Above ``CollapseDiagnostics.sample`` items the transform is fitted
on the same random sample the diagnostics use (whitening a million rows in float64 would need
gigabytes for numbers measured on 5,000 rows anyway).  Every computation runs in the runner
(key ``"collapse"``), only while the view is visible; results are cached per encoder and toggle
state, so switching a toggle back is instant.
"""

from __future__ import annotations

import html
import math
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFrame, QHBoxLayout, QLabel,
                               QScrollArea, QSplitter, QStackedLayout, QVBoxLayout,
                               QWidget)

from embedview.core.collapse import CollapseDiagnostics, mean_center, whiten
from embedview.core.embeddings import EmbeddingSet
from embedview.core.report import metric_rows
from embedview.gui import theme
from embedview.gui.widgets import LegendBox, categorical_colors, export_plot_item, fill_metric_rows, metric_table
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.gui.views.base import View

#: encoders shown side by side at most (the active one first)
MAX_SETS = 3
JOB_KEY = "collapse"
#: badge colours per verdict (white text on them)
#: singular values below this fraction of the largest are drawn at it (numerical zeros)
SPECTRUM_FLOOR = 1e-8
VERDICT_COLORS = {"healthy": "#2e7d32", "dimensional collapse": "#b26a00", "complete collapse": "#c62828"}


def ordered_sets(state: AppModel, limit: int = MAX_SETS) -> Dict[str, EmbeddingSet]:
    """The state's embedding sets, the active one first, at most ``limit`` (what Collapse and Compare show)."""
    names = [state.active] if state.active in state.sets else []
    names += [n for n in state.sets if n not in names]
    return {n: state.sets[n] for n in names[:limit]}


def short_name(name: str, width: int = 28) -> str:
    """An encoder name short enough for a column header or a plot title.

    A local path inside the name (``sbert:/models/my-model``, ``clip:ARCH@/ckpt/file.pt``) is cut
    to its last part; what is still longer than ``width`` loses its middle.
    """
    kind, sep, rest = name.partition(":")
    if sep:
        head, at, path = rest.rpartition("@") if "@" in rest else ("", "", rest)
        if path.startswith(("/", "~", ".", "\\")) or (len(path) > 2 and path[1] == ":" and path[2] in "/\\"):
            rest = head + at + os.path.basename(path.rstrip("/\\"))
        name = kind + sep + rest
    if len(name) > width:
        keep = width - 1
        name = name[: (keep + 1) // 2] + "\u2026" + name[len(name) - keep // 2:]
    return name


# -- the job (plain functions; run in worker threads) ---------------------------------------------------
def transformed(X: np.ndarray, center: bool, whitened: bool) -> np.ndarray:
    """``X`` as measured under the toggles: whitened (which also centres), mean-centred, or as is."""
    if whitened:
        return whiten(X)
    if center:
        return mean_center(X)
    return X


def diagnose(emb: EmbeddingSet, center: bool = False, whitened: bool = False, progress=None) -> CollapseDiagnostics:
    """:class:`CollapseDiagnostics` of ``emb`` (defaults, as ``run_checks`` uses) under the toggles.

    Without a toggle the core runs on the vectors exactly as ``run_checks`` does.  With one, the
    core applies the transform to the rows it samples (all rows up to ``sample``).
    """
    transform = None
    if center or whitened:
        def transform(X: np.ndarray) -> np.ndarray:
            return transformed(X, center, whitened)
    return CollapseDiagnostics().fit(emb.vectors, progress=progress, transform=transform)


def diagnose_sets(sets: Dict[str, EmbeddingSet], center: bool, whitened: bool,
                  progress=None) -> Dict[str, CollapseDiagnostics]:
    """:func:`diagnose` for each set, in order."""
    out: Dict[str, CollapseDiagnostics] = {}
    n = max(1, len(sets))
    for i, (name, emb) in enumerate(sets.items()):
        out[name] = diagnose(emb, center, whitened, progress=progress.sub(i / n, (i + 1) / n))
    return out


def metric_table_rows(diags: Dict[str, CollapseDiagnostics]) -> List[Tuple[str, List[str]]]:
    """``(row title, one cell per encoder)`` for the collapse group of the report's metric rows."""
    results = {name: {"verdict": d.verdict_, "collapse": d.to_dict()} for name, d in diags.items()}
    rows: List[Tuple[str, List[str]]] = []
    in_group = False
    for title, cell in metric_rows(10):
        if cell is None:
            if in_group:
                break  # the next group (labels) is not about collapse
            in_group = title == "Collapse"
            continue
        if in_group:
            rows.append((title, [html.unescape(cell(r)) for r in results.values()]))
    return rows


# -- the view ------------------------------------------------------------------------------------------
class CollapseView(View):
    """Collapse verdict, metrics and spectra of the computed encoders, with centring / whitening."""

    title = "Collapse"
    area = "bottom"
    name = "collapse"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        #: the diagnostics shown, encoder name -> CollapseDiagnostics (active first)
        self.results: Dict[str, CollapseDiagnostics] = {}
        #: (name, center, whiten) -> (the EmbeddingSet it was computed from, diagnostics)
        self._cache: Dict[Tuple[str, bool, bool], Tuple[EmbeddingSet, CollapseDiagnostics]] = {}
        self._dirty = True
        self.badges: Dict[str, QLabel] = {}
        self.reasons: Dict[str, QLabel] = {}

        # -- controls
        self.center_box = QCheckBox("Mean-centre")
        self.center_box.setToolTip("Subtract the mean vector first: removes an offset all vectors share "
                                   "(common in CLIP-like models), which lowers the mean pairwise cosine")
        self.whiten_box = QCheckBox("PCA whiten")
        self.whiten_box.setToolTip("Centre, rotate to the principal directions and give each unit variance: "
                                   "every direction the data uses counts equally (effective rank = rank)")
        self.spread_box = QComboBox()
        self.spread_box.addItem("std per dimension", "std")
        self.spread_box.addItem("variance per dimension", "var")
        self.log_box = QCheckBox("log scale")
        self.log_box.setToolTip("Per-dimension bars on a log scale (dead dimensions stand out)")
        self.status = QLabel()
        self.status.setStyleSheet("color: palette(placeholder-text);")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 0)
        bar.addWidget(self.center_box)
        bar.addWidget(self.whiten_box)
        bar.addSpacing(12)
        bar.addWidget(self.spread_box)
        bar.addWidget(self.log_box)
        bar.addStretch(1)
        bar.addWidget(self.status)

        # -- left: verdicts and metrics
        self.verdict_box = QVBoxLayout()
        self.verdict_box.setContentsMargins(0, 0, 0, 0)
        verdicts = QWidget()
        verdicts.setLayout(self.verdict_box)
        self.table = metric_table()
        self.table.setAlternatingRowColors(True)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(4, 4, 4, 4)
        left_lay.addWidget(verdicts)
        left_lay.addWidget(self.table)
        left_lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setWidget(left)
        scroll.setMinimumWidth(300)

        # -- right: the three plots
        self.plots = pg.GraphicsLayoutWidget()
        self.spread_plot = self.plots.addPlot(row=0, col=0)
        self.spectrum_plot = self.plots.addPlot(row=0, col=1)
        self.cosine_plot = self.plots.addPlot(row=0, col=2)
        self.spread_plot.setLabel("bottom", "dimension, sorted")
        self.spectrum_plot.setLabel("bottom", "principal direction")
        self.spectrum_plot.setLogMode(y=True)
        self.cosine_plot.setLabel("bottom", "cosine")
        self.cosine_plot.setXRange(-1, 1, padding=0.02)
        for p in (self.spread_plot, self.spectrum_plot, self.cosine_plot):
            p.setMenuEnabled(False)
            p.hideButtons()
            p.showGrid(x=False, y=True, alpha=0.25)
            p.getAxis("left").enableAutoSIPrefix(False)
        self.cosine_plot.setTitle("pairwise cosine", size="9pt")
        self.cosine_plot.setLabel("left", "fraction of pairs")
        for col in range(3):  # equal widths, whatever the titles and tick labels need
            self.plots.ci.layout.setColumnStretchFactor(col, 1)
        self.legend = LegendBox(self.spread_plot.getViewBox())  # sorted spreads leave its top right empty

        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(self.plots)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setSizes([380, 900])

        self.placeholder = QLabel("Open data to see whether its embedding uses its dimensions.")
        self.placeholder.setAlignment(Qt.AlignCenter)
        self.placeholder.setWordWrap(True)
        content = QWidget()
        content_lay = QVBoxLayout(content)
        content_lay.setContentsMargins(0, 0, 0, 0)
        content_lay.setSpacing(2)
        content_lay.addLayout(bar)
        content_lay.addWidget(splitter, 1)
        self.content = content
        self.stack = QStackedLayout(self)
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(content)

        self.center_box.toggled.connect(lambda _c: self.refresh())
        self.whiten_box.toggled.connect(lambda _c: self.refresh())
        self.spread_box.currentIndexChanged.connect(lambda _i: self._draw())
        self.log_box.toggled.connect(lambda _c: self._draw())
        model.dataset_changed.connect(self._on_dataset)
        model.embeddings_changed.connect(lambda _n: self.refresh())
        model.active_changed.connect(lambda _n: self.refresh())
        self._on_dataset()

    # -- public ------------------------------------------------------------------------------------------
    @property
    def center(self) -> bool:
        return self.center_box.isChecked()

    @property
    def whitened(self) -> bool:
        return self.whiten_box.isChecked()

    def set_mitigation(self, center: Optional[bool] = None, whitened: Optional[bool] = None) -> None:
        """Set the toggles (each change recomputes in the runner)."""
        if center is not None:
            self.center_box.setChecked(bool(center))
        if whitened is not None:
            self.whiten_box.setChecked(bool(whitened))

    def shown_sets(self) -> Dict[str, EmbeddingSet]:
        """The sets the view shows: the active one first, then the others, at most :data:`MAX_SETS`."""
        return ordered_sets(self.state)

    def refresh(self) -> None:
        """Show the diagnostics for the current sets and toggles (computing what is missing)."""
        sets = self.shown_sets()
        if not sets:
            self._show_placeholder()
            return
        if not self.isVisible():
            self._dirty = True
            return
        self._dirty = False
        center, white = self.center, self.whitened
        missing = {n: e for n, e in sets.items() if not self._cached(n, e, center, white)}
        if not missing:
            self.runner.cancel(JOB_KEY)
            self._show({n: self._cache[(n, center, white)][1] for n in sets})
            return
        what = "whitened " if white else ("centred " if center else "")
        self.status.setText(f"measuring the {what}spectrum of {', '.join(missing)}\u2026")
        self.runner.submit(JOB_KEY, diagnose_sets, missing, center, white,
                           on_result=lambda res, sets=sets, c=center, w=white: self._computed(sets, c, w, res),
                           on_progress=lambda f, _m: self.status.setText(f"measuring\u2026 {f * 100:.0f} %"),
                           on_error=self._failed)

    def session_state(self) -> Dict[str, object]:
        """The toggles and plot choices, for a saved session."""
        return {"center": self.center, "whiten": self.whitened, "spread": self.spread_box.currentData(),
                "log": self.log_box.isChecked()}

    def restore_session_state(self, saved: Dict[str, object]) -> None:
        """Put back what :meth:`session_state` returned."""
        i = self.spread_box.findData(saved.get("spread"))
        if i >= 0:
            self.spread_box.setCurrentIndex(i)
        self.log_box.setChecked(bool(saved.get("log", False)))
        self.set_mitigation(bool(saved.get("center", False)), bool(saved.get("whiten", False)))

    def export_plot(self, path: str) -> None:
        """Write the three plots as PNG or SVG (by the file extension)."""
        export_plot_item(self.plots.ci, path)

    def shutdown(self) -> None:
        self.runner.cancel(JOB_KEY)

    # -- internals ------------------------------------------------------------------------------------------
    def _cached(self, name: str, emb: EmbeddingSet, center: bool, white: bool) -> bool:
        hit = self._cache.get((name, center, white))
        return hit is not None and hit[0] is emb

    def _computed(self, sets: Dict[str, EmbeddingSet], center: bool, white: bool,
                  result: Dict[str, CollapseDiagnostics]) -> None:
        for name, diag in result.items():
            self._cache[(name, center, white)] = (sets[name], diag)
        now = self.shown_sets()
        same = list(now) == list(sets) and all(now[n] is sets[n] for n in sets)
        if not same or (center, white) != (self.center, self.whitened):
            self.refresh()  # something changed while it ran
            return
        self._show({n: self._cache[(n, center, white)][1] for n in sets})

    def _failed(self, message: str) -> None:
        self.status.setText(theme.error_html(f"collapse diagnostics failed: {message}"))

    def _on_dataset(self) -> None:
        self.runner.cancel(JOB_KEY)
        self._cache.clear()
        self.results = {}
        self._show_placeholder()
        self.refresh()

    def _show_placeholder(self) -> None:
        if self.state.dataset is None:
            self.placeholder.setText("Open data to see whether its embedding uses its dimensions.")
        else:
            self.placeholder.setText("Encoding\u2026 the collapse diagnostics appear when the embeddings are ready.")
        self.stack.setCurrentWidget(self.placeholder)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def _show(self, diags: Dict[str, CollapseDiagnostics]) -> None:
        self.results = dict(diags)
        self.stack.setCurrentWidget(self.content)
        mode = "whitened" if self.whitened else ("mean-centred" if self.center else "as encoded")
        n = next(iter(diags.values())).n_items_ if diags else 0
        self.status.setText(f"{n:,} items, vectors {mode}")
        self._fill_verdicts()
        self._fill_table()
        self._draw()

    def _colors(self) -> Dict[str, QColor]:
        return dict(zip(self.results, categorical_colors(len(self.results))))

    def _fill_verdicts(self) -> None:
        while self.verdict_box.count():
            w = self.verdict_box.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.badges = {}
        self.reasons: Dict[str, QLabel] = {}
        colors = self._colors()
        for name, d in self.results.items():
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 4)
            lay.setSpacing(2)
            head = QLabel(f"<span style='color:{colors[name].name()}; font-size:13pt'>&#9679;</span> "
                          f"<b>{html.escape(short_name(name, 48))}</b> &nbsp;{d.dim_}-d")
            head.setToolTip(name)
            badge = QLabel(d.verdict_.upper())
            badge.setAlignment(Qt.AlignCenter)
            badge.setStyleSheet(f"background:{VERDICT_COLORS.get(d.verdict_, '#555')}; color:white; font-weight:bold;"
                                " border-radius:4px; padding:2px 8px;")
            badge.setToolTip(d.verdict_reason_)
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(head)
            row.addStretch(1)
            row.addWidget(badge)
            reason = QLabel(html.escape(d.verdict_reason_))
            reason.setWordWrap(True)
            reason.setTextInteractionFlags(Qt.TextSelectableByMouse)
            lay.addLayout(row)
            lay.addWidget(reason)
            self.badges[name] = badge
            self.reasons[name] = reason
            self.verdict_box.addWidget(box)

    def _fill_table(self) -> None:
        fill_metric_rows(self.table, [short_name(n) for n in self.results], metric_table_rows(self.results))

    def cell(self, row_title: str, name: str) -> str:
        """The table's text for metric ``row_title`` and encoder ``name`` (tests, accessibility)."""
        names = list(self.results)
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() == row_title:
                return self.table.item(r, 1 + names.index(name)).text()
        raise KeyError(row_title)

    def _draw(self) -> None:
        """Redraw the plots; with several encoders every curve is relative to its own largest value,
        so their shapes compare whatever the scale of each encoder's vectors."""
        for p in (self.spread_plot, self.spectrum_plot, self.cosine_plot):
            p.clear()
        if not self.results:
            self.legend.set_rows([])
            return
        colors = self._colors()
        several = len(self.results) > 1
        variance = self.spread_box.currentData() == "var"
        log = self.log_box.isChecked()
        self.spread_plot.setLogMode(y=log)
        what = "variance" if variance else "std"
        rel = "relative to the largest" if several else ""
        self.spread_plot.setTitle(f"{what} per dimension", size="9pt")
        self.spectrum_plot.setTitle("singular values", size="9pt")
        for p in (self.spread_plot, self.spectrum_plot):
            axis = p.getAxis("left")
            axis.setLabel(rel)
            axis.showLabel(bool(rel))
        curves = {}
        for name, d in self.results.items():
            v = np.sort(np.asarray(d.per_dim_std_, dtype=np.float64))[::-1]
            v = v ** 2 if variance else v
            if several and v.size and v[0] > 0:
                v = v / v[0]
            curves[name] = v
        positive = [float(v[v > 0].min()) for v in curves.values() if np.any(v > 0)]
        level = math.log10(min(positive)) - 0.5 if log and positive else 0.0
        for name, v in curves.items():
            fill = pg.mkColor(colors[name])
            fill.setAlpha(90 if several else 150)
            if log:
                v = np.where(v > 0, v, np.nan)  # a dead dimension has no logarithm: it shows as a gap
            self.spread_plot.plot(np.arange(len(v) + 1), v, stepMode="center", fillLevel=level, brush=fill,
                                  pen=pg.mkPen(colors[name], width=1), connect="finite")
        for name, d in self.results.items():
            s = np.asarray(d.singular_values_, dtype=np.float64)
            if s.size and s[0] > 0:
                # null directions are numerically ~1e-8 of the first: floor them so the drop shows
                s = np.maximum(s / s[0] if several else s, SPECTRUM_FLOOR * (1.0 if several else s[0]))
                symbol = "o" if len(s) <= 40 else None
                self.spectrum_plot.plot(np.arange(1, len(s) + 1), s, pen=pg.mkPen(colors[name], width=2),
                                        symbol=symbol, symbolSize=5, symbolBrush=colors[name], symbolPen=None)
            counts, edges = d.cosine_hist_
            frac = np.asarray(counts, dtype=np.float64) / max(1, int(np.sum(counts)))
            fill = pg.mkColor(colors[name])
            fill.setAlpha(70)
            self.cosine_plot.plot(np.asarray(edges), frac, stepMode="center", fillLevel=0, brush=fill,
                                  pen=pg.mkPen(colors[name], width=1.5))
        self.cosine_plot.setXRange(-1, 1, padding=0.02)
        self.legend.set_rows([(colors[n], short_name(n)) for n in self.results] if several else [])
