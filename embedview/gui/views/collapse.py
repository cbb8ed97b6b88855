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
on the transformed vectors (:func:`~embedview.core.collapse.diagnose_sets`).  The choices live in
``model.views.collapse`` (:class:`~embedview.model.views.collapse.CollapseState`), bound both ways
to the controls; the view reads the state, never its widgets.  Every computation runs in the
runner (``JobKind.COLLAPSE``), only while the view is visible; results are cached per encoder and
mitigation, so switching a toggle back is instant.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from embedview.core.collapse import CollapseDiagnostics, collapse_curves, diagnose_sets, log_floor
from embedview.core.embeddings import EmbeddingSet
from embedview.core.metric_table import metric_rows
from embedview.encoders.registry import display_names
from embedview.gui import theme
from embedview.gui.bind import bind
from embedview.gui.views.base import View
from embedview.gui.widgets import (
    MAX_SETS,
    LegendBox,
    categorical_colors,
    export_plot_item,
    fill_metric_rows,
    metric_table,
    short_name,
)
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.runtime.keys import JobKind

#: badge colours per verdict (white text on them)
VERDICT_COLORS = {"healthy": "#2e7d32", "dimensional collapse": "#b26a00", "complete collapse": "#c62828"}




# -- the metric table ----------------------------------------------------------------------------------
def metric_table_rows(diags: dict[str, CollapseDiagnostics]) -> list[tuple[str, list[str]]]:
    """``(row title, one cell per encoder)`` for the collapse group of the report's metric rows."""
    results = {name: {"verdict": d.verdict_, "collapse": d.to_dict()} for name, d in diags.items()}
    rows: list[tuple[str, list[str]]] = []
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
        self.results: dict[str, CollapseDiagnostics] = {}
        #: (name, center, whiten) -> (the EmbeddingSet it was computed from, diagnostics)
        self._cache: dict[tuple[str, bool, bool], tuple[EmbeddingSet, CollapseDiagnostics]] = {}
        self._dirty = True
        self.badges: dict[str, QLabel] = {}
        self.reasons: dict[str, QLabel] = {}

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
        # the left pane is never narrower than its verdicts and table need (_fit_left): it scrolls
        # only down, and only when the window is too low for every encoder's verdict and numbers
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(left)
        scroll.setMinimumWidth(300)
        self.left, self.left_scroll = left, scroll

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
        self._restyle_legend()

        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(self.plots)
        splitter.setStretchFactor(0, 0)  # the left pane keeps the width its numbers need
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([380, 900])
        self.splitter = splitter

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

        choices = model.views.collapse
        bind(self.center_box, choices, "center", on_change=lambda _v: self.refresh())
        bind(self.whiten_box, choices, "whiten", on_change=lambda _v: self.refresh())
        bind(self.spread_box, choices, "spread", on_change=lambda _v: self._draw())
        bind(self.log_box, choices, "log", on_change=lambda _v: self._draw())
        model.dataset_changed.connect(self._on_dataset)
        model.embeddings_changed.connect(lambda _n: self.refresh())
        model.active_changed.connect(lambda _n: self.refresh())
        self._on_dataset()

    # -- public ------------------------------------------------------------------------------------------
    @property
    def center(self) -> bool:
        """Mean-centring chosen (``model.views.collapse.center``)."""
        return self.model.views.collapse.center

    @property
    def whitened(self) -> bool:
        """PCA whitening chosen (``model.views.collapse.whiten``)."""
        return self.model.views.collapse.whiten

    def set_mitigation(self, center: bool | None = None, whitened: bool | None = None) -> None:
        """Choose the mitigations in the model (each change recomputes in the runner)."""
        if center is not None:
            self.model.views.collapse.center = bool(center)
        if whitened is not None:
            self.model.views.collapse.whiten = bool(whitened)

    def shown_sets(self) -> dict[str, EmbeddingSet]:
        """The sets the view shows: the active one first, then the others, at most :data:`MAX_SETS`."""
        return self.model.ordered_sets(MAX_SETS)

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
            self.runner.cancel(JobKind.COLLAPSE)
            self._show({n: self._cache[(n, center, white)][1] for n in sets})
            return
        what = "whitened " if white else ("centred " if center else "")
        self.status.setText(f"measuring the {what}spectrum of {', '.join(missing)}\u2026")
        model = self.model
        self.runner.submit(JobKind.COLLAPSE, diagnose_sets, missing, center, white,
                           on_result=lambda res, sets=sets, c=center, w=white: self._computed(sets, c, w, res),
                           on_progress=lambda f, _m: self.status.setText(f"measuring\u2026 {f * 100:.0f} %"),
                           on_error=self._failed,
                           is_stale=lambda: not all(model.is_current(e, n) for n, e in missing.items()))

    def export_plot(self, path: str) -> None:
        """Write the three plots as PNG or SVG (by the file extension)."""
        export_plot_item(self.plots.ci, path)

    def shutdown(self) -> None:
        self.runner.cancel(JobKind.COLLAPSE)

    # -- internals ------------------------------------------------------------------------------------------
    def _cached(self, name: str, emb: EmbeddingSet, center: bool, white: bool) -> bool:
        hit = self._cache.get((name, center, white))
        return hit is not None and hit[0] is emb

    def _computed(self, sets: dict[str, EmbeddingSet], center: bool, white: bool,
                  result: dict[str, CollapseDiagnostics]) -> None:
        for name, diag in result.items():
            self._cache[(name, center, white)] = (sets[name], diag)
        now = self.shown_sets()
        same = list(now) == list(sets) and all(now[n] is sets[n] for n in sets)
        if not same or (center, white) != (self.center, self.whitened):
            self.refresh()  # the sets shown or the choices changed while it ran: its part is cached
            return
        self._show({n: self._cache[(n, center, white)][1] for n in sets})

    def _failed(self, message: str) -> None:
        self.status.setText(theme.error_html(f"collapse diagnostics failed: {message}"))

    def _on_dataset(self) -> None:
        self.runner.cancel(JobKind.COLLAPSE)
        self._cache.clear()
        self.results = {}
        self._show_placeholder()
        self.refresh()

    def _show_placeholder(self) -> None:
        if self.model.dataset is None:
            self.placeholder.setText("Open data to see whether its embedding uses its dimensions.")
        else:
            self.placeholder.setText("Encoding\u2026 the collapse diagnostics appear when the embeddings are ready.")
        self.stack.setCurrentWidget(self.placeholder)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def _show(self, diags: dict[str, CollapseDiagnostics]) -> None:
        self.results = dict(diags)
        self.stack.setCurrentWidget(self.content)
        mode = "whitened" if self.whitened else ("mean-centred" if self.center else "as encoded")
        n = next(iter(diags.values())).n_items_ if diags else 0
        self.status.setText(f"{n:,} items, vectors {mode}")
        self._fill_verdicts()
        self._fill_table()
        self._draw()

    def _colors(self) -> dict[str, QColor]:
        return dict(zip(self.results, categorical_colors(len(self.results)), strict=True))

    def _fill_verdicts(self) -> None:
        while self.verdict_box.count():
            w = self.verdict_box.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.badges = {}
        self.reasons: dict[str, QLabel] = {}
        colors = self._colors()
        for name, d in self.results.items():
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 4)
            lay.setSpacing(2)
            head = QLabel(f"<span style='color:{colors[name].name()}; font-size:13pt'>&#9679;</span> "
                          f"<b>{html.escape(self._title(name, 32))}</b> &nbsp;{d.dim_}-d")
            head.setToolTip(name)
            badge = QLabel(d.verdict_.upper())
            badge.setAlignment(Qt.AlignCenter)
            badge.setStyleSheet(f"background:{VERDICT_COLORS.get(d.verdict_, '#555')}; color:white; font-weight:bold;"
                                " border-radius:4px; padding:2px 8px;")
            badge.setToolTip(d.verdict_reason_)
            badge.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)  # always its whole text
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

    def _restyle_legend(self) -> None:
        c = theme.plot_colors()
        self.legend.set_colors(QColor(c["plot_foreground"]), QColor(c["plot_background"]))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt name
        super().changeEvent(event)
        if event.type() == QEvent.PaletteChange:  # the theme changed: the legend follows
            self._restyle_legend()

    def _title(self, name: str, width: int = 28) -> str:
        """The set's name as people can tell it from the others shown (two local folders both called
        ``model`` read ``sbert:a/model`` and ``sbert:b/model``), short enough for a header."""
        return short_name(display_names(list(self.results)).get(name, name), width)

    def _fill_table(self) -> None:
        fill_metric_rows(self.table, [self._title(n) for n in self.results], metric_table_rows(self.results))
        self._fit_left()

    def _fit_left(self) -> None:
        """Give the left pane the width its verdicts and table need: every column of the table at
        its contents' width (nothing elided), every badge whole; the plots get the rest."""
        t = self.table
        header = t.horizontalHeader()
        natural = sum(max(t.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(t.columnCount()))
        t.setMinimumWidth(natural + 2 * t.frameWidth())
        self.left.adjustSize()
        need = self.left.minimumSizeHint().width() + self.left_scroll.verticalScrollBar().sizeHint().width()
        self.left_scroll.setMinimumWidth(need)
        sizes = self.splitter.sizes()
        total = sum(sizes)
        if total > 0 and sizes[0] < need:
            self.splitter.setSizes([need, max(total - need, 0)])

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
        choices = self.model.views.collapse
        variance, log = choices.spread == "var", choices.log
        self.spread_plot.setLogMode(y=log)
        what = "variance" if variance else "std"
        rel = "relative to the largest" if several else ""
        self.spread_plot.setTitle(f"{what} per dimension", size="9pt")
        self.spectrum_plot.setTitle("singular values", size="9pt")
        for p in (self.spread_plot, self.spectrum_plot):
            axis = p.getAxis("left")
            axis.setLabel(rel)
            axis.showLabel(bool(rel))
        curves = {name: collapse_curves(d, variance=variance, relative=several) for name, d in self.results.items()}
        level = log_floor([c.spread for c in curves.values()]) if log else 0.0
        for name, c in curves.items():
            fill = pg.mkColor(colors[name])
            fill.setAlpha(90 if several else 150)
            v = np.where(c.spread > 0, c.spread, np.nan) if log else c.spread  # a dead dimension: a gap
            self.spread_plot.plot(np.arange(len(v) + 1), v, stepMode="center", fillLevel=level, brush=fill,
                                  pen=pg.mkPen(colors[name], width=1), connect="finite")
        for name, c in curves.items():
            if c.spectrum.size:
                symbol = "o" if len(c.spectrum) <= 40 else None
                self.spectrum_plot.plot(np.arange(1, len(c.spectrum) + 1), c.spectrum,
                                        pen=pg.mkPen(colors[name], width=2), symbol=symbol, symbolSize=5,
                                        symbolBrush=colors[name], symbolPen=None)
            fill = pg.mkColor(colors[name])
            fill.setAlpha(70)
            self.cosine_plot.plot(c.cosine_edges, c.cosine_fraction, stepMode="center", fillLevel=0, brush=fill,
                                  pen=pg.mkPen(colors[name], width=1.5))
        self.cosine_plot.setXRange(-1, 1, padding=0.02)
        self.legend.set_rows([(colors[n], self._title(n)) for n in self.results] if several else [])
