"""Timeline: how an embedding evolved over training, one checkpoint dump per step.

"Open run folder..." (or opening a run folder as data, or ``model.views.timeline.run_path`` set
from a session) reads the run in the background (``JobKind.TIMELINE``: :func:`read_run`, then
:class:`Timeline` measures every step, with progress and cancel), then computes one 2-D map per
step, each rotated onto the previous one (``JobKind.TIMELINE_MAP``: :func:`aligned_maps`).  The
view shows:

* one metric against the step (the chooser is ``model.views.timeline.metric``), each step's
  marker coloured by the collapse verdict, with a band of the verdicts under it; a click on the
  plot or the band shows that step;
* the numbers of the step shown, every metric with the items it used;
* that step's aligned map (coloured by label when the run has labels), a slider and a play button
  to step through the run (``step``, ``playing``, ``speed`` in the state).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from embedview.core.progress import TaskState
from embedview.core.timeline import METRICS, Run, Timeline, aligned_maps, map_items, read_run, run_stamp
from embedview.gui.bind import bind
from embedview.gui.views.base import View
from embedview.gui.widgets import (
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
from embedview.model.views.timeline import SPEEDS
from embedview.runtime.keys import JobKind

#: marker colours of the verdicts (as the Collapse view's badges)
VERDICT_COLORS = {"healthy": "#2e7d32", "dimensional collapse": "#c65a00", "complete collapse": "#c62828"}
TITLES = {key: title for key, title, _how in METRICS}
HOW = {key: how for key, _title, how in METRICS}
PLACEHOLDER = (
    "<p><b>Open a run folder</b> to see how an embedding evolved over training.</p>"
    "<p>A run is a folder of checkpoint dumps, one file per step, ordered by the number in the name "
    "(<code>step_000100.npy</code>, <code>epoch_3.parquet</code>, <code>ckpt-12.npz</code>), the same "
    "items in each (matched by id when the files have ids).<br>From a training loop: "
    "<code>embedview.log(run_dir, step, vectors, labels=...)</code> every N steps.</p>")


#: how often a followed run folder is looked at for new steps (ms)
FOLLOW_MS = 5000


def measure_run(path: str, progress: TaskState | None = None,
                reuse: Timeline | None = None) -> tuple[Run, Timeline, tuple]:
    """Read the run in ``path`` and measure its steps (the view's background job); with ``reuse``
    (the fit shown), only new or rewritten steps.  Also returns the folder's stamp taken before
    reading, so a step written meanwhile is noticed on the next look."""
    task = TaskState.coerce(progress)
    stamp = run_stamp(path)
    run = read_run(path, progress=task.sub(0.0, 0.1))
    return run, Timeline().fit(run, progress=task.sub(0.1, 1.0), reuse=reuse), stamp


def run_maps(run: Run, progress: TaskState | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """The items drawn and their aligned map at every step."""
    items = map_items(run)
    return items, aligned_maps(run, items=items, progress=progress)


class TimelineView(SpanProgress, View):
    """A run over training: the metrics against the step, the verdict per step, the aligned maps."""

    title = "Timeline"
    area = "bottom"
    name = "timeline"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.run: Run | None = None  #: the run shown
        self.result: Timeline | None = None  #: its measured timeline
        self.items: np.ndarray | None = None  #: the run's items drawn on the maps
        self.maps: list[np.ndarray] | None = None  #: one aligned (len(items), 2) map per step
        self._span = (0.0, 1.0)
        self._loaded_path = ""
        self._brushes: Any = None
        self._table_keys: list[str] = []
        state = model.views.timeline

        # -- the bar
        self.open_button = QPushButton("Open run folder\u2026")
        self.open_button.setToolTip("A folder of checkpoint dumps (step_000100.npy, epoch_3.parquet, ckpt-12.npz...) "
                                    "ordered by the number in their names, or one written by embedview.log()")
        self.open_button.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
        self.path_label = QLabel()
        self.path_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.path_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.follow_box = QCheckBox("Follow new steps")
        self.follow_box.setToolTip("Look at the run folder every few seconds and measure the steps a training loop "
                                   "writes (only the new ones)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.progress = job_progress_bar()
        self.status = status_label()
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 0)
        bar.addWidget(self.open_button)
        bar.addWidget(self.path_label, 3)
        bar.addWidget(self.follow_box)
        bar.addWidget(self.progress)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.status, 2)

        # -- left: a metric against the step, the verdict band, the numbers of the step shown
        self.metric_box = QComboBox()
        for key, title, _how in METRICS:
            self.metric_box.addItem(title, key)
        self.metric_how = QLabel()
        self.metric_how.setStyleSheet("color: palette(placeholder-text);")
        self.metric_how.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.getPlotItem().setLabel("bottom", "step")
        for axis in ("left", "bottom"):  # steps and metrics as they are, never "x0.001"
            self.plot.getPlotItem().getAxis(axis).enableAutoSIPrefix(False)
        self.curve = pg.PlotDataItem(pen=pg.mkPen("#607d8b", width=2))
        self.markers = pg.ScatterPlotItem(size=9, pxMode=True)
        self.now_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#1565c0", width=1.5,
                                                                               style=Qt.DashLine))
        for item in (self.curve, self.markers, self.now_line):
            self.plot.addItem(item)
        self.band = pg.PlotWidget()
        self.band.setMenuEnabled(False)
        self.band.hideButtons()
        self.band.setMouseEnabled(x=False, y=False)
        self.band.hideAxis("bottom")
        # the band's left axis is as wide as the plot's (and blank), so the steps line up
        for widget in (self.plot, self.band):
            widget.getPlotItem().getAxis("left").setWidth(62)
        band_axis = self.band.getPlotItem().getAxis("left")
        band_axis.setStyle(showValues=False, tickLength=0)
        band_axis.setPen(pg.mkPen(None))
        self.band.setFixedHeight(26)
        self.band.setXLink(self.plot)
        self.band.setYRange(0, 1, padding=0)
        self.band.setToolTip("The collapse verdict of every step (green healthy, orange dimensional collapse, "
                             "red complete collapse); click to show a step")
        self.band_bars: pg.BarGraphItem | None = None
        self.verdict_key = QLabel(" ".join(
            f"<span style='color:{c}; font-size:13pt'>&#9679;</span>&nbsp;{html.escape(v)}&nbsp;&nbsp;"
            for v, c in VERDICT_COLORS.items()))
        self.verdict_key.setTextFormat(Qt.RichText)
        self.table = metric_table()
        self.table.setAlternatingRowColors(True)
        self.how = QLabel()
        self.how.setWordWrap(True)
        self.how.setStyleSheet("color: palette(placeholder-text);")
        self.how.setTextInteractionFlags(Qt.TextSelectableByMouse)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(4, 4, 4, 4)
        left_lay.setSpacing(3)
        chooser = QHBoxLayout()
        chooser.addWidget(QLabel("Plot:"))
        chooser.addWidget(self.metric_box)
        chooser.addWidget(self.metric_how, 1)
        left_lay.addLayout(chooser)
        left_lay.addWidget(self.plot, 3)
        left_lay.addWidget(self.band)
        left_lay.addWidget(self.verdict_key)
        left_lay.addWidget(self.table, 2)
        left_lay.addWidget(self.how)

        # -- right: the step shown, its verdict, its aligned map, the slider and play
        self.step_title = QLabel()
        self.step_title.setTextFormat(Qt.RichText)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.map = pg.PlotWidget()
        self.map.hideAxis("left")
        self.map.hideAxis("bottom")
        self.map.setMenuEnabled(False)
        self.map.hideButtons()
        self.map.setAspectLocked(True)
        self.scatter = pg.ScatterPlotItem(size=5, pen=None, pxMode=True)
        self.map.addItem(self.scatter)
        self.legend = LegendBox(self.map.getViewBox())
        self.map_note = QLabel()
        self.map_note.setWordWrap(True)
        self.map_note.setStyleSheet("color: palette(placeholder-text);")
        self.play_button = QPushButton("\u25b6 Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Step through the run (from the first step when at the last)")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setPageStep(1)
        self.speed_box = QComboBox()
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g} steps/s", s)
        play_row = QHBoxLayout()
        play_row.addWidget(self.play_button)
        play_row.addWidget(self.slider, 1)
        play_row.addWidget(self.speed_box)
        right = QWidget()
        right_lay = QVBoxLayout(right)
        right_lay.setContentsMargins(4, 4, 4, 4)
        right_lay.setSpacing(3)
        right_lay.addWidget(self.step_title)
        right_lay.addWidget(self.verdict)
        right_lay.addWidget(self.map, 1)
        right_lay.addLayout(play_row)
        right_lay.addWidget(self.map_note)

        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([560, 560])
        self.splitter = splitter

        self.placeholder = QLabel()
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignCenter)
        self.placeholder.setTextFormat(Qt.RichText)
        self.placeholder.setText(PLACEHOLDER)
        self.body = QStackedLayout()
        self.body.addWidget(self.placeholder)
        self.body.addWidget(splitter)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addLayout(self.body, 1)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.watch = QTimer(self)
        self.watch.setInterval(FOLLOW_MS)
        self.watch.timeout.connect(self._look_for_steps)
        self._stamp: tuple = ()

        # -- bindings
        bind(self.metric_box, state, "metric", on_change=lambda _v: self._draw_metric())
        bind(self.speed_box, state, "speed", on_change=lambda _v: self._on_playing(state.playing))
        bind(self.follow_box, state, "follow", on_change=lambda on: self.watch.start() if on else self.watch.stop())
        state.events.run_path.connect(self._on_path)
        state.events.step.connect(lambda _s: self._show_step())
        state.events.playing.connect(self._on_playing)
        self.play_button.toggled.connect(lambda on: setattr(state, "playing", bool(on)))
        self.slider.valueChanged.connect(self._slider_moved)
        self.open_button.clicked.connect(self.choose_folder)
        self.cancel_button.clicked.connect(self.cancel)
        self.plot.scene().sigMouseClicked.connect(lambda ev: self._plot_clicked(self.plot, ev))
        self.band.scene().sigMouseClicked.connect(lambda ev: self._plot_clicked(self.band, ev))
        self.table.cellClicked.connect(self._row_clicked)
        self._draw_metric()
        if state.follow:
            self.watch.start()
        if state.run_path:
            self.open_run(state.run_path)

    # -- public ---------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.runner.is_running(JobKind.TIMELINE) or self.runner.is_running(JobKind.TIMELINE_MAP)

    @property
    def step_index(self) -> int:
        """The index (into ``run.steps``) of the step shown; -1 without a run."""
        if self.run is None or not len(self.run):
            return -1
        step = self.model.views.timeline.step
        if step in self.run.steps:
            return self.run.steps.index(step)
        return len(self.run) - 1

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a run: a folder of checkpoint dumps")
        if folder:
            self.open_run(folder)

    def open_run(self, path: str) -> None:
        """Read and measure the run in ``path`` (kept in the state), in the background."""
        state = self.model.views.timeline
        if state.run_path != str(path):
            state.run_path = str(path)  # -> _on_path -> here again
            return
        state.playing = False
        same = self.run is not None and str(self.run.path) == str(path)
        reuse = self.result if same else None
        self._loaded_path = str(path)
        self.path_label.setText(html.escape(str(path)))
        self.path_label.setToolTip(str(path))
        self._busy(True, "reading the run\u2026", (0.0, 0.8))
        if self.run is None or str(self.run.path) != str(path):
            self.body.setCurrentIndex(0)
            self.placeholder.setText(f"<p><b>Measuring the run</b> in {html.escape(str(path))}\u2026</p>"
                                     "<p>Every step: the collapse diagnostics, and with labels the kNN accuracy and "
                                     "a linear probe; then one map per step, aligned to the previous one.</p>")
        self.runner.submit(
            JobKind.TIMELINE, measure_run, str(path), reuse=reuse,
            on_result=lambda res: self._measured(str(path), *res),
            on_progress=self._progress,
            on_error=lambda msg: self._failed(f"the run could not be read or measured: {msg}"),
            on_cancelled=lambda: self._busy(False, "cancelled"),
            on_finished=self._job_finished,
            is_stale=lambda: self.model.views.timeline.run_path != str(path))

    def cancel(self) -> None:
        was = self.running
        self.runner.cancel(JobKind.TIMELINE)
        self.runner.cancel(JobKind.TIMELINE_MAP)
        if was:
            self._busy(False, "cancelled")
            if self.result is None:
                self.placeholder.setText(PLACEHOLDER)

    def show_step(self, step: int) -> None:
        """Show ``step`` (a step number of the run; the nearest one when it is not)."""
        if self.run is None or not len(self.run):
            return
        steps = np.asarray(self.run.steps)
        self.model.views.timeline.step = int(steps[np.argmin(np.abs(steps - step))])

    def export_plot(self, path: str) -> None:
        """Write the metric plot as PNG or SVG (by the file extension)."""
        export_plot_item(self.plot.getPlotItem(), path)

    def shutdown(self) -> None:
        self.timer.stop()
        self.watch.stop()
        self.cancel()

    # -- jobs ------------------------------------------------------------------------------------------
    def _measured(self, path: str, run: Run, result: Timeline, stamp: tuple = ()) -> None:
        state = self.model.views.timeline
        at_end = self.run is None or state.step == self.run.steps[-1]  # following the newest step
        self.run, self.result = run, result
        self.items, self.maps = None, None
        self._stamp = stamp
        if state.step not in run.steps or at_end:
            state.step = run.steps[-1]
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(run) - 1)
        self.slider.blockSignals(False)
        self.body.setCurrentIndex(1)
        self._fill_how()
        self._draw_metric()
        self._draw_band()
        self._show_step()
        self._say_last(run, result)
        self._busy(True, "aligning the maps of every step\u2026", (0.8, 1.0))
        self.runner.submit(
            JobKind.TIMELINE_MAP, run_maps, run,
            on_result=lambda res: self._mapped(run, *res),
            on_progress=self._progress,
            on_error=lambda msg: self._failed(f"the maps could not be computed: {msg}"),
            on_cancelled=lambda: self._busy(False, "maps cancelled"),
            on_finished=self._job_finished,
            is_stale=lambda: self.run is not run)

    def _say_last(self, run: Run, result: Timeline) -> None:
        """The run in one line: its size and the newest step's verdict (a diverged step included:
        it has no row of measurements, only its step number in ``run.diverged``)."""
        rows = result.all_rows()
        last = rows[-1]
        diverged = f"; {len(run.diverged)} diverged (NaN / inf)" if run.diverged else ""
        self._say(f"{len(run)} steps{diverged}, {run.n:,} items; last step {last['step']}: {last['verdict']}",
                  error=result.last_collapsed_)

    def _mapped(self, run: Run, items: np.ndarray, maps: list[np.ndarray]) -> None:
        self.items, self.maps = items, maps
        self._busy(False)
        if self.result is not None:
            self._say_last(run, self.result)
        self._color_map()
        self._show_step(fit_view=True)

    def _job_finished(self) -> None:
        if not self.running and self.progress.isVisible():
            self.progress.hide()
            self.cancel_button.hide()

    def _busy(self, on: bool, text: str = "", span: tuple[float, float] = (0.0, 1.0)) -> None:
        self._span = span
        if on:
            self.progress.setValue(int(1000 * span[0]))
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on)
        if text:
            self.status.setText(html.escape(text))

    def _failed(self, message: str) -> None:
        self._busy(False)
        if self.result is None:
            self.placeholder.setText(PLACEHOLDER)
        self._say(message, error=True)

    # -- drawing ---------------------------------------------------------------------------------------
    def _available(self, key: str) -> bool:
        r = self.result
        if r is None:
            return True
        if key == "alignment":
            return r.has_positives_
        if key in ("knn_accuracy", "linear_probe"):
            return r.has_labels_
        return True

    def _draw_metric(self) -> None:
        key = self.model.views.timeline.metric
        why = HOW.get(key, "")
        if not self._available(key):
            why = ("not measured: the run has no positive pairs" if key == "alignment"
                   else "not measured: the run has no labels")
        self.metric_how.setText(why)
        self.metric_how.setToolTip(why)
        self.plot.getPlotItem().setLabel("left", TITLES.get(key, key))
        r = self.result
        if r is None:
            self.curve.setData([], [])
            self.markers.setData([], [])
            return
        steps, values = r.series(key)
        ok = np.isfinite(values)
        self.curve.setData(steps[ok], values[ok])
        brushes = [pg.mkBrush(VERDICT_COLORS.get(row["verdict"], "#888888")) for row in r.rows_]
        self.markers.setData(x=steps[ok], y=values[ok], brush=[b for b, k in zip(brushes, ok, strict=True) if k],
                             pen=pg.mkPen("#ffffff", width=0.8))
        self.plot.enableAutoRange()

    def _draw_band(self) -> None:
        r = self.result
        if self.band_bars is not None:
            self.band.removeItem(self.band_bars)
            self.band_bars = None
        if r is None:
            return
        steps = np.asarray(r.steps_, dtype=np.float64)
        gaps = np.diff(steps)
        width = float(np.min(gaps)) if len(gaps) else 1.0
        brushes = [pg.mkBrush(VERDICT_COLORS.get(row["verdict"], "#888888")) for row in r.rows_]
        self.band_bars = pg.BarGraphItem(x=steps, height=np.ones(len(steps)), width=width, y0=0, brushes=brushes,
                                         pens=[pg.mkPen(None)] * len(steps))
        self.band.addItem(self.band_bars)
        self.band.setYRange(0, 1, padding=0)

    def _fill_how(self) -> None:
        r = self.result
        if r is None or self.run is None:
            return
        doc = r.to_dict()
        parts = [doc["how"]["sample"][:1].upper() + doc["how"]["sample"][1:] + "."]
        parts.append("Verdict, effective rank, directions for 90% of the variance, mean cosine and uniformity: the "
                     "Collapse view's diagnostics.")
        if r.has_labels_:
            parts.append(f"kNN: {doc['how']['knn_accuracy']}. Linear probe: {doc['how']['linear_probe']}.")
        if r.has_positives_:
            parts.append(f"Alignment: {doc['how']['alignment']}.")
        parts.extend(self.run.notes)
        self.how.setText(" ".join(parts))

    def _fill_table(self, i: int) -> None:
        r = self.result
        if r is None:
            return
        row = r.rows_[i]
        rows: list[tuple[str, list[str] | None]] = []
        for key, title, _how in METRICS:
            value = row.get(key)
            if value is None and not self._available(key):
                continue
            text = "\u2014" if value is None else (f"{value:,d}" if isinstance(value, int) else f"{value:.3f}")
            used = row["n_used"].get(key, 0)
            rows.append((title, [text, f"{used:,}" if used else "\u2014"]))
        fill_metric_rows(self.table, [f"step {row['step']:,}", "items used"], rows)
        self._table_keys = [k for k, _t, _h in METRICS if not (row.get(k) is None and not self._available(k))]

    def _color_map(self) -> None:
        run, items = self.run, self.items
        self.legend.set_rows([])
        if run is None or items is None:
            return
        if run.labels is None:
            self._brushes = pg.mkBrush(QColor(38, 110, 190, 150))
            return
        labs = run.labels[items]
        classes = sorted({v for v in labs if v is not None}, key=_natural)
        colors = categorical_colors(len(classes))
        code = {c: k for k, c in enumerate(classes)}
        faded = QColor(150, 150, 150, 90)
        table = [pg.mkBrush(QColor(c.red(), c.green(), c.blue(), 190)) for c in colors]
        self._brushes = [table[code[v]] if v is not None else pg.mkBrush(faded) for v in labs]
        shown = classes[:20]
        rows = [(colors[code[c]], str(c)) for c in shown]
        if len(classes) > 20:
            rows.append((None, f"and {len(classes) - 20} more labels"))
        self.legend.set_rows(rows)

    def _show_step(self, fit_view: bool = False) -> None:
        run, r = self.run, self.result
        i = self.step_index
        if run is None or r is None or i < 0:
            return
        row = r.rows_[i]
        step = run.steps[i]
        self.now_line.setPos(step)
        self.slider.blockSignals(True)
        self.slider.setValue(i)
        self.slider.blockSignals(False)
        color = VERDICT_COLORS.get(row["verdict"], "#888888")
        self.step_title.setText(
            f"<b>Step {step:,}</b> ({i + 1} of {len(run)}, {html.escape(row['file'])}) "
            f"<span style='background:{color}; color:white'>&nbsp;{html.escape(row['verdict'].upper())}&nbsp;</span>")
        self.verdict.setText(row["verdict_reason"])
        self._fill_table(i)
        if self.maps is None or self.items is None:
            self.map_note.setText("computing the maps\u2026")
            return
        xy = self.maps[i]
        self.scatter.setData(pos=xy, brush=self._brushes)
        if fit_view:
            every = np.concatenate(self.maps).astype(np.float64)  # float32 bounds overflow pyqtgraph's limit checks
            lo, hi = every.min(axis=0), every.max(axis=0)  # every point of every step stays in view
            self.map.getViewBox().setRange(xRange=(float(lo[0]), float(hi[0])), yRange=(float(lo[1]), float(hi[1])),
                                           padding=0.05)
        spread = float(np.sqrt(np.mean(np.sum(xy.astype(np.float64) ** 2, axis=1))))
        drawn = len(self.items)
        self.map_note.setText(
            f"PCA of step {step:,}, rotated onto the previous step's map (orthogonal Procrustes on the "
            f"{drawn:,} items drawn{'' if drawn == run.n else f' of {run.n:,}, a fixed random sample'}); the same "
            f"axes for every step, so a shrinking cloud is a shrinking spread (RMS radius here {spread:.3g}).")

    # -- reactions -------------------------------------------------------------------------------------
    def _look_for_steps(self) -> None:
        """Following: measure again (only new or rewritten steps) when the folder changed."""
        state = self.model.views.timeline
        if not state.follow or state.playing or self.run is None or self.running or not state.run_path:
            return
        if str(self.run.path) != state.run_path:
            return
        if run_stamp(state.run_path) != self._stamp:
            self.open_run(state.run_path)

    def _on_path(self, path: str) -> None:
        if path and path != self._loaded_path:
            self.open_run(path)

    def _slider_moved(self, i: int) -> None:
        if self.run is not None and 0 <= i < len(self.run):
            self.model.views.timeline.step = self.run.steps[i]

    def _plot_clicked(self, widget: pg.PlotWidget, event: Any) -> None:
        if self.run is None:
            return
        vb = widget.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        self.show_step(vb.mapSceneToView(event.scenePos()).x())

    def _row_clicked(self, r: int, _c: int) -> None:
        keys = self._table_keys
        if 0 <= r < len(keys):
            self.model.views.timeline.metric = keys[r]

    def _on_playing(self, on: bool) -> None:
        self.play_button.blockSignals(True)
        self.play_button.setChecked(bool(on))
        self.play_button.setText("\u23f8 Pause" if on else "\u25b6 Play")
        self.play_button.blockSignals(False)
        if not on or self.run is None:
            self.timer.stop()
            return
        if self.step_index >= len(self.run) - 1:  # at the end: play from the start
            self.model.views.timeline.step = self.run.steps[0]
        self.timer.start(int(1000 / max(self.model.views.timeline.speed, 0.1)))

    def _tick(self) -> None:
        run = self.run
        if run is None:
            self.timer.stop()
            return
        i = self.step_index
        if i >= len(run) - 1:
            self.model.views.timeline.playing = False
            return
        self.model.views.timeline.step = run.steps[i + 1]

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        super().changeEvent(event)
        if event.type() == QEvent.PaletteChange:
            self._draw_metric()


def _natural(label: str) -> tuple[int, float, str]:
    """Labels in a natural order: numbers by value, then words."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


__all__ = ["TimelineView", "measure_run", "run_maps"]
