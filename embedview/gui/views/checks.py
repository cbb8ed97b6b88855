"""Checks: how good is the active embedding for its labels -- kNN accuracy, linear probe,
clustering, retrieval, outliers and the encoder's invariance to small changes -- with their
parameters in a form, each run in the background with its own progress and Cancel.

The form is built from the one registry of checks, :data:`embedview.core.checks.REGISTRY`: a
row per check of the form (its title, what it needs), a widget per parameter (spin box, combo
box, text field or menu, with the registry's default, range and help).  The choices live in
``model.views.checks`` (:class:`~embedview.model.views.checks.ChecksState`): the widgets bind
to it both ways and the view reads it, never its widgets.  Every check runs
:func:`embedview.core.checks.run_check` on the set's raw vectors, exactly as ``embedview check``
does; checks run one after another (a 2-core machine gains nothing from running them at once),
each under its own job key ``JobKind.CHECK.key(name)``; "Run all" queues them.  A finished run
(:class:`~embedview.core.checks.CheckRun`: parameters, fitted result, rows, message) is filed in
the model, ``model.set_analysis(AnalysisKind.CHECKS, {name: run}, name=encoder)``; the result
table (check, metric, value, +- std, details), Copy and the CSV / JSON export read it there.  A
result for a set that was replaced meanwhile is dropped by the runner (``is_stale``).

The invariance probe needs the encoder itself (it encodes augmented copies of a sample): it runs
in the encoder process (``runtime.encoder_host``), where the encoder already is after encoding;
for precomputed embeddings it is not available, and the form says why.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from embedview.core.checks import (
    FORM_CHECKS,
    METRICS,
    ROW_COLUMNS,
    CheckInput,
    CheckRun,
    CheckSpec,
    Param,
    ParamKind,
    get_check,
    jsonable,
    run_check,
)
from embedview.core.embeddings import EmbeddingSet
from embedview.gui import theme
from embedview.gui.bind import bind, show_value
from embedview.gui.views.base import View
from embedview.gui.workers import JobRunner
from embedview.model import AppModel
from embedview.model.analyses import AnalysisKind
from embedview.runtime.keys import JobKey, JobKind

#: the form's checks, in the order "Run all" runs them (the registry's)
CHECKS = FORM_CHECKS
HEADERS = ("Check", "Metric", "Value", "\u00b1 std", "Details")
WARN_COLOR = "#b26a00"


def probe_in_encoder_host(encoder: str):
    """How the window runs the invariance probe (a :data:`~embedview.core.checks.ProbeRunner`): in
    the encoder process, where ``encoder`` already is after encoding; the window never imports torch."""

    def run(probe: Any, items: Any, modality: str, task: Any) -> Any:
        from embedview.runtime.encoder_host import encoder_host, probe_encoder

        return encoder_host().call(probe_encoder, probe, encoder, items, modality, progress=task)

    return run


def check_input(emb: EmbeddingSet) -> CheckInput:
    """What the checks of the form run on: the set, with the encoder process for the invariance probe."""
    return CheckInput(emb, run_probe=probe_in_encoder_host(emb.encoder))


def check_key(name: str) -> JobKey:
    """The job key of check ``name``: one live job per check."""
    return JobKind.CHECK.key(name)


# ==============================================================================================
# the form, built from the registry
# ==============================================================================================
class ParamEditor:
    """The widget of one parameter of one check, bound both ways to ``ChecksState.params``.

    An edit writes the state (``set_param``); :meth:`show` puts the state's value in the widget
    without echoing back.  Data-dependent choices (known-outlier columns, augmentations) are
    refilled by :meth:`fill` when the data changes; a chosen value the new data does not offer goes
    back to the registry default.
    """

    def __init__(self, spec: CheckSpec, param: Param, view: ChecksView) -> None:
        self.spec, self.param, self.view = spec, param, view
        self.state = view.checks_state
        self.actions: dict[str, QAction] = {}
        kind = param.kind
        widget: QWidget
        if kind is ParamKind.INT:
            spin = QSpinBox()
            spin.setRange(int(param.low if param.low is not None else 0), int(param.high or 1_000_000_000))
            if param.special:
                spin.setSpecialValueText(param.special)
            spin.valueChanged.connect(lambda v: self._write(int(v)))
            widget = spin
        elif kind is ParamKind.FLOAT:
            dspin = QDoubleSpinBox()
            dspin.setDecimals(param.decimals)
            dspin.setRange(float(param.low if param.low is not None else 0.0), float(param.high or 1e9))
            dspin.valueChanged.connect(lambda v: self._write(float(v)))
            widget = dspin
        elif kind in (ParamKind.CHOICE, ParamKind.DATA_CHOICE):
            combo = QComboBox()
            for choice in param.choices:
                combo.addItem(choice, choice)
            if kind is ParamKind.DATA_CHOICE:
                combo.setSizeAdjustPolicy(QComboBox.AdjustToContents)
            combo.currentIndexChanged.connect(lambda i: self._write(combo.itemData(i)) if i >= 0 else None)
            widget = combo
        elif kind is ParamKind.INTS:
            line = QLineEdit()
            line.setMaximumWidth(120)
            line.textChanged.connect(self._write)
            widget = line
        else:  # DATA_MULTI: a button with a menu of checkable items
            button = QToolButton()
            button.setPopupMode(QToolButton.InstantPopup)
            self.menu = QMenu(view)
            button.setMenu(self.menu)
            widget = button
        widget.setToolTip(param.help)
        self.widget = widget

    # -- widget -> state ------------------------------------------------------------------------
    def _write(self, value: Any) -> None:
        self.state.set_param(self.spec.name, self.param.name, value)

    def _write_multi(self) -> None:
        chosen = [name for name, act in self.actions.items() if act.isChecked()]
        self._write(None if len(chosen) == len(self.actions) else chosen)

    # -- state -> widget ------------------------------------------------------------------------
    def value(self) -> Any:
        return self.state.param(self.spec.name, self.param.name)

    def show(self) -> None:
        value = self.value()
        kind = self.param.kind
        if kind is ParamKind.DATA_MULTI:
            chosen = set(self.actions) if value is None else {str(v) for v in value}
            for name, act in self.actions.items():
                act.blockSignals(True)
                act.setChecked(name in chosen)
                act.blockSignals(False)
            self._label_multi()
            return
        if kind is ParamKind.INTS and not isinstance(value, str):
            value = ", ".join(str(v) for v in value)
        try:
            show_value(self.widget, value)
        except (TypeError, ValueError):  # a hand-edited session: the check says what is wrong when it runs
            show_value(self.widget, self.param.default)

    def _label_multi(self) -> None:
        chosen = [a for a, act in self.actions.items() if act.isChecked()]
        button = self.widget
        assert isinstance(button, QToolButton)
        label = self.param.label
        button.setText(f"{len(chosen)} of {len(self.actions)} {label}" if self.actions else label)
        button.setToolTip(f"{self.param.help}\n{label.capitalize()}: " + (", ".join(chosen) or "none chosen"))

    def fill(self, dataset: Any) -> None:
        """Refill data-dependent choices for ``dataset``."""
        if self.param.choices_of is None:
            return
        choices = self.param.choices_of(dataset)
        values = [v for _, v in choices]
        current = self.value()
        if self.param.kind is ParamKind.DATA_CHOICE:
            combo = self.widget
            assert isinstance(combo, QComboBox)
            combo.blockSignals(True)
            combo.clear()
            for text, value in choices:
                combo.addItem(text, value)
            combo.blockSignals(False)
            if current not in values:
                self.state.forget(self.spec.name, self.param.name)
        else:
            self.menu.clear()
            self.actions = {}
            for text, value in choices:
                act = self.menu.addAction(text)
                act.setCheckable(True)
                act.toggled.connect(lambda _on: self._write_multi())
                self.actions[value] = act
            if current is not None and not set(map(str, current)) <= set(values):
                self.state.forget(self.spec.name, self.param.name)
        self.show()


class _CheckRow:
    """The widgets of one check in the form: title, parameters, Run, progress, Cancel, status."""

    def __init__(self, spec: CheckSpec, view: ChecksView) -> None:
        self.name = spec.name
        self.spec = spec
        self.title = QLabel(f"<b>{spec.title}</b>")
        if spec.needs:
            self.title.setToolTip("Needs " + " and ".join(sorted(n.value for n in spec.needs)))
        self.params = QWidget()
        self.params_layout = QHBoxLayout(self.params)
        self.params_layout.setContentsMargins(0, 0, 0, 0)
        self.editors: dict[str, ParamEditor] = {}
        for param in spec.params:
            editor = ParamEditor(spec, param, view)
            self.editors[param.name] = editor
            if param.kind is not ParamKind.DATA_MULTI:  # the menu button names itself
                lab = QLabel(param.label)
                lab.setToolTip(param.help)
                self.params_layout.addWidget(lab)
            self.params_layout.addWidget(editor.widget)
        self.params_layout.addStretch(1)
        self.run = QPushButton("Run")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFixedWidth(90)
        self.bar.setTextVisible(False)
        self.bar.hide()
        self.cancel = QToolButton()
        self.cancel.setText("\u2715")
        self.cancel.setToolTip(f"Cancel {spec.title}")
        self.cancel.setEnabled(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.RichText)
        self.status.setStyleSheet("color: palette(placeholder-text);")
        # the progress bar runs in the status line, under the parameters: the form stays narrow
        # and the result table keeps the room its details need
        self.status_line = QWidget()
        line = QHBoxLayout(self.status_line)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.bar, 0, Qt.AlignTop)
        line.addWidget(self.status, 1)


class ChecksView(View):
    """Evaluation checks of the active set with their parameters, progress, Cancel and a result table."""

    title = "Checks"
    area = "bottom"
    name = "checks"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.checks_state = model.views.checks
        self._queue: list[str] = []
        self._running: str | None = None
        self._status: dict[str, tuple[str, str]] = {}  # check -> (text, "" / "warn" / "error")
        self._emb: EmbeddingSet | None = None  # the set the form and the table are for
        self._input: CheckInput | None = None
        self._build()
        model.dataset_changed.connect(self._reset)
        model.active_set_changed.connect(lambda _n: self._reset())
        model.analysis_changed.connect(self._on_analysis)
        self.checks_state.events.params.connect(lambda _v: self._params_changed())
        self.checks_state.events.metric.connect(lambda _v: self._update_availability())
        self._reset()

    # ======================================================================================
    # construction
    # ======================================================================================
    def _build(self) -> None:
        self.form_rows: dict[str, _CheckRow] = {name: _CheckRow(get_check(name), self) for name in CHECKS}

        self.metric_box = QComboBox()
        for text, key in METRICS:
            self.metric_box.addItem(text, key)
        users = [get_check(n).title for n in CHECKS if get_check(n).uses_metric]
        self.metric_box.setToolTip("Similarity used by " + ", ".join(users))
        bind(self.metric_box, self.checks_state, "metric")

        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        line = 0
        for name in CHECKS:
            row = self.form_rows[name]
            grid.addWidget(row.title, line, 0)
            grid.addWidget(row.params, line, 1)
            grid.addWidget(row.run, line, 2)
            grid.addWidget(row.cancel, line, 3)
            grid.addWidget(row.status_line, line + 1, 1, 1, 3)
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

        self.table = QTableWidget(0, len(ROW_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setAlternatingRowColors(True)
        # the details are never elided: a long one wraps onto more lines of its row
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.ElideNone)
        header = self.table.horizontalHeader()
        for c in range(4):
            header.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Interactive)  # sized in _fill_table, capped
        header.setSectionResizeMode(4, QHeaderView.Stretch)
        header.setMinimumSectionSize(50)
        # (queued: while the header resizes its sections the rows would be measured at the old width)
        self._rows_timer = QTimer(self)
        self._rows_timer.setSingleShot(True)
        self._rows_timer.setInterval(0)
        self._rows_timer.timeout.connect(self._fit_rows)
        header.sectionResized.connect(lambda c, _old, _new: self._rows_timer.start() if c == 4 else None)
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
        self.form_scroll, self.splitter = scroll, splitter
        self._sized = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(splitter)
        self._show_params()

    def editor(self, check: str, param: str) -> ParamEditor:
        """The editor of parameter ``param`` of ``check`` (its ``widget`` is what the user edits)."""
        return self.form_rows[check].editors[param]

    # ======================================================================================
    # the state: parameters and what the data allows
    # ======================================================================================
    def _show_params(self) -> None:
        for row in self.form_rows.values():
            for editor in row.editors.values():
                editor.show()

    def _params_changed(self) -> None:
        self._show_params()
        self._update_availability()

    def _fill_choices(self) -> None:
        """Data-dependent choices (known-outlier columns and labels, augmentations) for the current data."""
        emb = self.model.emb
        ds = emb.dataset if emb is not None else self.model.dataset
        for row in self.form_rows.values():
            for editor in row.editors.values():
                editor.fill(ds)

    def unavailable(self, name: str) -> str:
        """Why check ``name`` cannot run on the active set with the chosen parameters ("" when it can)."""
        if self._input is None or self.model.emb is None:
            return "no embeddings yet"
        try:
            params: dict[str, Any] | None = self.checks_state.params_for(name)
        except ValueError:  # a bad value is reported when the check starts
            params = None
        return get_check(name).unavailable(self._input, params)

    def _update_availability(self) -> None:
        """Run buttons and the reasons a check cannot run, for the current data and parameters."""
        has_data = self._emb is not None
        for name, row in self.form_rows.items():
            reason = self.unavailable(name) if has_data else ""
            row.run.setEnabled(has_data and not reason)
            row.run.setToolTip(reason or f"Run {row.spec.title}")
            if name == self._running or name in self._queue:
                continue
            text, level = self._status.get(name, ("", ""))
            if reason:
                self._set_status(name, reason, "error")
            elif level == "error" and text.startswith("needs "):  # the reason went away
                self._set_status(name, self._idle_status(name)[0], self._idle_status(name)[1])

    def _idle_status(self, name: str) -> tuple[str, str]:
        """What a check that is not running says: why it cannot run, its last result, or nothing."""
        if self._emb is None:
            return "", ""
        reason = self.unavailable(name)
        if reason:
            return reason, "error"
        run = self.runs.get(name)
        if run is not None:
            return "done" + (f" \u2014 {run.message}" if run.message else ""), "warn" if run.message else ""
        return "", ""

    # ======================================================================================
    # the results, as filed in the model
    # ======================================================================================
    @property
    def runs(self) -> dict[str, CheckRun]:
        """The active set's finished checks, ``{name: CheckRun}``, as the model holds them."""
        if self.model.emb is None:
            return {}
        return dict(self.model.get_analysis(AnalysisKind.CHECKS) or {})

    @property
    def results(self) -> dict[str, Any]:
        """``{check: fitted core object}`` of the active set."""
        return {name: run.result for name, run in self.runs.items()}

    @property
    def rows(self) -> dict[str, list[dict[str, Any]]]:
        return {name: run.rows for name, run in self.runs.items()}

    def value(self, check: str, metric: str) -> float | None:
        """The value of ``metric`` for ``check`` (a name of :data:`CHECKS`)."""
        run = self.runs.get(check)
        if run is None:
            raise KeyError(f"{check}: not run")
        return run.value(metric)

    def _on_analysis(self, kind: Any, name: str) -> None:
        if kind == AnalysisKind.CHECKS and name == self.model.active:
            self._fill_table()

    # ======================================================================================
    # running
    # ======================================================================================
    def run(self, name: str) -> None:
        """Queue check ``name`` (it starts at once when no other check is running)."""
        if name not in CHECKS:
            raise ValueError(f"unknown check {name!r}")
        if self.model.emb is None:
            self._set_status(name, "no embeddings yet", "error")
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
        """Queue every chosen check (``ChecksState.to_run``); those the data does not allow say why."""
        for name in self.checks_state.to_run():
            reason = self.unavailable(name)
            if reason:
                self._set_status(name, reason, "error")
            else:
                self.run(name)

    def cancel(self, name: str) -> None:
        """Stop check ``name`` (running or queued)."""
        if name in self._queue:
            self._queue.remove(name)
            self._stopped(name, "cancelled")
        elif name == self._running:
            self.runner.cancel(check_key(name))
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
        emb, inp = self.model.emb, self._input
        if emb is None or inp is None:
            for name in self._queue:
                self._stopped(name, "no embeddings")
            self._queue.clear()
            return
        name = self._queue.pop(0)
        try:
            params = self.checks_state.params_for(name)
        except ValueError as exc:
            self._stopped(name, str(exc), error=True)
            self._pump()
            return
        self._running = name
        self._set_status(name, "running\u2026")
        encoder = emb.encoder
        self.runner.submit(
            check_key(name), run_check, name, inp, params,
            on_result=lambda run, enc=encoder: self._done(enc, run),
            on_error=lambda msg, n=name: self._stopped(n, msg, error=True),
            on_progress=lambda f, msg, n=name: self._progress(n, f, msg),
            on_cancelled=lambda n=name: self._stopped(n, "cancelled"),
            on_finished=lambda n=name: self._finished(n),
            is_stale=lambda e=emb, enc=encoder: not self.model.is_current(e, enc),
        )

    def _progress(self, name: str, fraction: float, message: str) -> None:
        row = self.form_rows[name]
        row.bar.setValue(int(round(fraction * 1000)))
        if message:
            self._set_status(name, f"{fraction * 100:.0f} % \u00b7 {message}")

    def _finished(self, name: str) -> None:
        if self._running == name:
            self._running = None
        self.form_rows[name].bar.hide()
        self.form_rows[name].cancel.setEnabled(name in self._queue)
        self._pump()

    def _done(self, encoder: str, run: CheckRun) -> None:
        """File a finished check in the model (the table follows through ``analysis_changed``)."""
        runs = dict(self.model.get_analysis(AnalysisKind.CHECKS, name=encoder) or {})
        runs[run.name] = run
        self._set_status(run.name, f"done in {run.seconds:.1f} s" + (f" \u2014 {run.message}" if run.message else ""),
                         "warn" if run.message else "")
        self.model.set_analysis(AnalysisKind.CHECKS, runs, name=encoder)

    def _stopped(self, name: str, message: str, error: bool = False) -> None:
        self.form_rows[name].bar.hide()
        self.form_rows[name].cancel.setEnabled(False)
        self._set_status(name, message, "error" if error else "")

    def _set_status(self, name: str, text: str, level: str = "") -> None:
        self._status[name] = (text, level)
        label = self.form_rows[name].status
        if level == "error":
            label.setText(theme.error_html(text))
        elif level == "warn":
            label.setText(f"<span style='color:{WARN_COLOR}'>{html.escape(text)}</span>")
        else:
            label.setText(html.escape(text))
        label.setToolTip(text)
        label.setVisible(bool(text))

    def status_text(self, name: str) -> str:
        """The status line of check ``name`` as plain text."""
        return self._status.get(name, ("", ""))[0]

    def status_level(self, name: str) -> str:
        """``""``, ``"warn"`` or ``"error"``: how the status line of ``name`` is coloured."""
        return self._status.get(name, ("", ""))[1]

    # ======================================================================================
    # data changes
    # ======================================================================================
    def _reset(self) -> None:
        self.cancel_all()
        emb = self.model.emb
        self._emb = emb
        self._input = check_input(emb) if emb is not None else None
        self._fill_choices()
        for name, row in self.form_rows.items():
            row.bar.hide()
            self._set_status(name, *self._idle_status(name))
        self._update_availability()
        self.run_all_button.setEnabled(emb is not None)
        if self.model.dataset is None:
            self.intro.setText("Open data to evaluate its embeddings.")
        elif emb is None:
            self.intro.setText("The checks can run once the items are encoded.")
        else:
            ds = emb.dataset
            labels = "labelled" if ds.has_labels else "no labels"
            self.intro.setText(f"<b>{html.escape(ds.name or 'data')}</b> \u00b7 {len(emb):,} items \u00b7 "
                               f"{html.escape(emb.encoder)} {emb.dim}-d \u00b7 {labels}")
        self._fill_table()

    # ======================================================================================
    # results: table, copy, export
    # ======================================================================================
    def all_rows(self) -> list[dict[str, Any]]:
        runs = self.runs
        return [row for name in CHECKS if name in runs for row in runs[name].rows]

    def _fill_table(self) -> None:
        rows = self.all_rows()
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, key in enumerate(ROW_COLUMNS):
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
        self._fit_rows()
        self._show_detail(self.table.currentRow())
        n = len([name for name in CHECKS if name in self.runs])
        self.result_label.setText(f"{n} check{'s' if n != 1 else ''} done" if n else
                                  "Results appear here as the checks finish.")
        self.copy_button.setEnabled(bool(rows))
        self.export_button.setEnabled(bool(rows))

    def _fit_rows(self) -> None:
        """Every row as high as its wrapped details need (they are never cut off)."""
        self.table.resizeRowsToContents()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt name
        """The first time the view is shown at its size: the form as narrow as its widgets allow,
        the results table the rest (its details column wide enough to read)."""
        super().showEvent(event)
        if not self._sized and self.splitter.width() > 0:
            self._sized = True
            form = self.form_scroll.minimumWidth()
            self.splitter.setSizes([form, max(self.splitter.width() - form - self.splitter.handleWidth(), 1)])

    def _show_detail(self, row: int) -> None:
        rows = self.all_rows()
        if 0 <= row < len(rows):
            r = rows[row]
            self.detail_label.setText(f"{r['check']} \u00b7 {r['metric']}: {r['details']}")
        else:
            self.detail_label.setText("")
        self.detail_label.setVisible(bool(self.detail_label.text()))

    def rows_as_text(self, rows: list[dict[str, Any]] | None = None) -> str:
        """Tab-separated text with a header line (what Copy puts on the clipboard)."""
        rows = self.all_rows() if rows is None else rows
        out = io.StringIO()
        w = csv.writer(out, delimiter="\t", lineterminator="\n")
        w.writerow(HEADERS)
        for row in rows:
            w.writerow([_cell(row[k]) for k in ROW_COLUMNS])
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
        from embedview.core.csvsafe import safe_dict
        from embedview.core.export import atomic_path

        path = os.fspath(path)
        emb = self._emb
        runs = self.runs
        if path.lower().endswith(".json"):
            doc = {
                "dataset": emb.dataset.name if emb is not None else None,
                "encoder": emb.encoder if emb is not None else None,
                "n_items": len(emb) if emb is not None else 0,
                "checks": {name: runs[name].to_dict() for name in CHECKS if name in runs},
            }
            text = json.dumps(jsonable(doc), indent=1)
        else:
            out = io.StringIO()
            w = csv.DictWriter(out, fieldnames=list(ROW_COLUMNS), lineterminator="\n")
            w.writeheader()
            for row in self.all_rows():
                w.writerow(safe_dict({k: "" if row[k] is None else row[k] for k in ROW_COLUMNS}))
            text = out.getvalue()
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return path

    def export_dialog(self) -> None:
        if not self.runs:
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
            self.runner.error.emit(check_key("export"), f"{path}: {exc}")

    def shutdown(self) -> None:
        self._queue.clear()
        if self._running:
            self.runner.cancel(check_key(self._running))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
