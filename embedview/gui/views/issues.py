"""Issues: every kind of problem the data shows, in one place: label errors, leaks, duplicates, outliers.

The audit (:class:`embedview.core.audit.Audit`) runs in the runner (``JobKind.FINDINGS``) the
first time the workspace is shown, or on "Run audit", reusing the outlier scores and the
duplicate finder the analysis scheduler already filed for the set (so the duplicates here are the
Duplicates view's, at its threshold); the fitted audit is filed as ``AnalysisKind.FINDINGS`` of
the set.  Nothing here computes.

Left, the finding kinds with their counts (and the kinds the data did not allow, with why);
right, the chosen kind: what it means, how the score is computed, the threshold and why, and its
items (text or thumbnail, score, label and the suggested one, the kind's own details, the user's
decision).  Selecting items selects them everywhere (map, neighbours, table); the current item
chosen elsewhere is selected here when it is flagged.  Decisions (keep / fix label / drop / not an
issue) are view state (``model.views.issues.decisions``, by kind and item id: sessions keep them);
"Export…" writes every flagged item with its decision as CSV or JSON
(:meth:`embedview.actions.exports.ExportActions.export_findings`, atomic; a list only: no file of
the data is changed).
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QItemSelectionModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from embedview.actions.exports import ExportActions
from embedview.core.audit import AUDIT_KINDS, Audit, duplicate_findings, run_audit
from embedview.core.findings import KINDS, FindingSet
from embedview.gui import theme
from embedview.gui.dialogs import ask_list_export
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.views.base import View
from embedview.gui.workers import JobRunner
from embedview.model import AnalysisKind, AppModel
from embedview.model.views.issues import DECISION_TITLES
from embedview.runtime.keys import JobKind

#: the audit job's key (one per window: the active set's)
AUDIT_KEY = JobKind.FINDINGS.key()
#: the columns of the item table
COLUMNS = ("Item", "Score", "Label", "Suggested", "Details", "Decision")
#: the kind's own columns already shown elsewhere (not repeated under "Details")
_SHOWN = {"label", "suggested_label"}
DECISION_COLORS = {"keep": QColor("#2e7d32"), "fix": QColor("#1565c0"), "drop": QColor("#c62828"),
                   "not_an_issue": QColor("#6d6d6d")}
THUMB_PX = 56
EXPORT_NOTE = "Exports only write a list: no file of your data is deleted, moved or changed."


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else ""
    return str(value)


def details_text(found: FindingSet, j: int, ids: Any = None) -> str:
    """The kind's own values of its ``j``-th item in words (leak: the other split's item, ...);
    ``ids``: the dataset's, to name the other item of a pair."""
    cols = found.columns
    if found.kind == "label_issue" and "p_label" in cols and "p_suggested" in cols:
        return (f"p({cols['label'][j]}) {float(cols['p_label'][j]):.3f} \u2192 "
                f"p({cols['suggested_label'][j]}) {float(cols['p_suggested'][j]):.2f}")
    if found.kind == "outlier" and "reason" in cols:
        return str(cols["reason"][j])
    if found.kind == "duplicate" and "keep_id" in cols:
        return f"group {cols['group'][j]}, copy of {cols['keep_id'][j]} (kept)"
    if found.kind == "leak" and "other_split" in cols:
        other = cols.get("other_id", cols.get("other_index", [""] * len(found)))[j]
        if ids is not None and isinstance(other, (int, np.integer)) and 0 <= int(other) < len(ids):
            other = ids[int(other)]
        sim = cols.get("similarity", [None] * len(found))[j]
        text = f"{cols.get('split', [''] * len(found))[j]} \u2194 {cols['other_split'][j]}: {other}"
        return text + (f" (cos {float(sim):.3f})" if sim is not None else "")
    parts = [f"{name}: {_cell(values[j])}" for name, values in cols.items() if name not in _SHOWN]
    return " \u00b7 ".join(p for p in parts if not p.endswith(": "))


class FindingTable(QAbstractTableModel):
    """The items of one finding kind: one row each, most severe first."""

    def __init__(self, view: IssuesView) -> None:
        super().__init__()
        self.view = view
        self.found: FindingSet | None = None

    def set_findings(self, found: FindingSet | None) -> None:
        self.beginResetModel()
        self.found = found
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt name
        return 0 if parent.isValid() or self.found is None else len(self.found)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt name
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):  # noqa: N802 - Qt name
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            if section == 1 and self.found is not None:
                return "Score"
            return COLUMNS[section]
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole and section == 1 and self.found is not None:
            return f"{self.found.score_name} (higher: more likely a problem)"
        return None

    def item_at(self, row: int) -> int:
        return int(self.found.indices[row]) if self.found is not None and 0 <= row < len(self.found) else -1

    def row_of(self, item: int) -> int:
        if self.found is None:
            return -1
        hit = np.flatnonzero(self.found.indices == int(item))
        return int(hit[0]) if hit.size else -1

    def refresh_row(self, row: int) -> None:
        if 0 <= row < self.rowCount():
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def refresh_all(self) -> None:
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, len(COLUMNS) - 1))

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        f, ds = self.found, self.view.model.dataset
        if f is None or ds is None or not index.isValid() or index.row() >= len(f):
            return None
        j, col = index.row(), index.column()
        i = int(f.indices[j])
        if i >= len(ds):
            return None
        if role == Qt.DisplayRole:
            if col == 0:
                if ds.texts is not None and ds.texts[i] is not None:
                    return f"{ds.ids[i]}\n{ds.display_text(i, 160)}"
                return ds.ids[i]
            if col == 1:
                return f"{float(f.scores[j]):.3f}"
            if col == 2:
                lab = f.columns.get("label", [None] * len(f))[j]
                if lab is None and ds.labels is not None:
                    lab = ds.labels[i]
                return _cell(lab)
            if col == 3:
                return _cell(f.columns.get("suggested_label", [None] * len(f))[j])
            if col == 4:
                return details_text(f, j, ds.ids)
            if col == 5:
                return DECISION_TITLES.get(self.view.decision_of(f.kind, i), "")
        if role == Qt.DecorationRole and col == 0 and ds.modality == "image":
            return self.view.thumbnails.get(i)
        if role == Qt.ToolTipRole:
            if col == 0:
                src = str(ds.sources[i]) if i < len(ds.sources) else ""
                body = ds.display_text(i, 600) if ds.texts is not None else src
                return f"{ds.ids[i]}\n{body}"
            if col == 1:
                return f"{f.score_name}: {float(f.scores[j]):.6g}"
            if col == 4:
                return details_text(f, j, ds.ids)
        if role == Qt.ForegroundRole and col == 5:
            return DECISION_COLORS.get(self.view.decision_of(f.kind, i))
        if role == Qt.TextAlignmentRole and col == 1:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.TextAlignmentRole and col == 0:
            return int(Qt.AlignLeft | Qt.AlignVCenter)
        return None


class IssuesView(View):
    """Everything wrong with the data at once: likely label errors, leaks across splits, duplicates, outliers."""

    title = "Issues"
    area = "bottom"
    name = "issues"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.state = model.views.issues
        self.thumbnails = shared_thumbnails(model)
        self.exports = ExportActions(model, runner)
        self.last_export: tuple[str, int] | None = None
        #: the set whose audit the user cancelled: not started again by showing the view
        self._declined: Any = None
        self._syncing = False
        self._build()
        self.thumbnails.ready.connect(self._on_thumbnail)
        self.state.events.kind.connect(lambda _k: self._show_kind())
        self.state.events.decisions.connect(lambda _d: self._on_decisions())
        model.selection.current_changed.connect(self._on_current)
        model.dataset_changed.connect(self._reload)
        model.active_set_changed.connect(lambda _n="": self._on_active_set())
        model.analysis_changed.connect(self._on_analysis)
        runner.progress.connect(self._on_progress)
        runner.busy_changed.connect(self._update_running)
        self.exports.written.connect(self._on_written)
        self.exports.failed.connect(lambda _t, msg, _p: self.status.setText(theme.error_html(f"Export failed: {msg}")))
        self._reload()

    # ======================================================================================
    # construction
    # ======================================================================================
    def _build(self) -> None:
        self.placeholder = QWidget()
        self.wait_label = QLabel()
        self.wait_label.setWordWrap(True)
        self.wait_label.setAlignment(Qt.AlignCenter)
        self.start_button = QPushButton("Run audit now")
        self.start_button.clicked.connect(self.run_audit)
        self.wait_bar = QProgressBar()
        self.wait_bar.setRange(0, 1000)
        self.wait_bar.setMinimumWidth(420)
        self.wait_cancel = QPushButton("Cancel")
        self.wait_cancel.clicked.connect(self.cancel)
        p = QVBoxLayout(self.placeholder)
        p.addStretch(1)
        p.addWidget(self.wait_label)
        p.addWidget(self.wait_bar, 0, Qt.AlignHCenter)
        p.addWidget(self.wait_cancel, 0, Qt.AlignHCenter)
        p.addWidget(self.start_button, 0, Qt.AlignHCenter)
        p.addStretch(2)

        # top bar: what was audited, run / cancel / progress, export
        self.status = QLabel()
        self.status.setTextFormat(Qt.RichText)
        self.status.setWordWrap(True)
        self.run_button = QPushButton("Run audit")
        self.run_button.setToolTip("Look for label errors, leaks across splits, near-duplicates and outliers "
                                   "in the active embeddings (in the background)")
        self.run_button.clicked.connect(self.run_audit)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMinimumWidth(300)
        self.progress.setMaximumWidth(380)
        self.export_button = QPushButton("Export\u2026")
        self.export_button.setToolTip("Save every flagged item with your decision as CSV or JSON. " + EXPORT_NOTE)
        self.export_button.clicked.connect(self.export_dialog)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)
        top.addWidget(self.run_button)
        top.addWidget(self.export_button)

        # left: the kinds
        self.kind_list = QListWidget()
        self.kind_list.setWordWrap(True)
        self.kind_list.setSpacing(2)
        self.kind_list.currentItemChanged.connect(self._on_kind_chosen)
        kinds_box = QWidget()
        kl = QVBoxLayout(kinds_box)
        kl.setContentsMargins(0, 0, 0, 0)
        kinds_title = QLabel("<b>Finding kinds</b>")
        kl.addWidget(kinds_title)
        kl.addWidget(self.kind_list, 1)

        # right: the kind's explanation, its items, the decisions
        self.kind_header = QLabel()
        self.kind_header.setTextFormat(Qt.RichText)
        self.kind_header.setWordWrap(True)
        self.kind_header.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.method_label = QLabel()
        self.method_label.setTextFormat(Qt.RichText)
        self.method_label.setWordWrap(True)
        self.method_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.table_model = FindingTable(self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.ElideRight)
        self.table.verticalHeader().setVisible(False)
        self.table.setIconSize(QSize(THUMB_PX, THUMB_PX))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        header.setSectionResizeMode(4, QHeaderView.Stretch)
        for c in (1, 2, 3, 5):
            header.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_rows_selected())
        self.table.clicked.connect(self._on_row_clicked)

        decide = QHBoxLayout()
        decide.addWidget(QLabel("Selected items:"))
        self.decision_buttons: dict[str, QPushButton] = {}
        for decision, text, key in (("keep", "Keep", "K"), ("fix", "Fix label", "F"), ("drop", "Drop", "D"),
                                    ("not_an_issue", "Not an issue", "N"), ("", "Clear", "Backspace")):
            b = QPushButton(text)
            b.setToolTip(f"Mark the selected items '{DECISION_TITLES[decision]}' ({key}; with one item selected, "
                         "the next one is selected after). Recorded in the export; your data is not changed."
                         if decision else f"Forget the decisions of the selected items ({key})")
            b.clicked.connect(lambda _c=False, d=decision: self.decide_selected(d))
            shortcut = QShortcut(QKeySequence(key), self.table)
            shortcut.setContext(Qt.WidgetShortcut)
            shortcut.activated.connect(lambda d=decision: self.decide_selected(d))
            self.decision_buttons[decision] = b
            decide.addWidget(b)
        decide.addStretch(1)
        self.decided_label = QLabel()
        decide.addWidget(self.decided_label)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.kind_header)
        rl.addWidget(self.method_label)
        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.items_stack = QStackedWidget()
        self.items_stack.addWidget(self.table)
        self.items_stack.addWidget(self.empty_label)
        rl.addWidget(self.items_stack, 1)
        rl.addLayout(decide)

        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(kinds_box)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([280, 900])

        self.content = QWidget()
        cl = QVBoxLayout(self.content)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.splitter, 1)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.content)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.stack, 1)

    # ======================================================================================
    # public
    # ======================================================================================
    @property
    def audit(self) -> Audit | None:
        """The active set's audit in the model, or None."""
        if self.model.emb is None:
            return None
        return self.model.get_analysis(AnalysisKind.FINDINGS)

    @property
    def kind(self) -> str:
        """The kind listed: the state's choice when the audit has it, else the first with items."""
        audit = self.audit
        if audit is None:
            return ""
        known = [*audit.findings_, *audit.skipped_]
        if self.state.kind in known:
            return self.state.kind
        with_items = [k for k, f in audit.findings_.items() if len(f)]
        return (with_items or known or [""])[0]

    @property
    def findings(self) -> FindingSet | None:
        audit = self.audit
        return None if audit is None else audit.findings_.get(self.kind)

    def decision_of(self, kind: str, index: int) -> str:
        ds = self.model.dataset
        if ds is None or not 0 <= index < len(ds):
            return ""
        return self.state.decision(kind, ds.ids[index])

    def run_audit(self) -> None:
        """Audit the active set in the background (reusing its outlier scores and duplicate finder)."""
        emb, name = self.model.emb, self.model.active
        if emb is None:
            return
        dups = self.model.get_analysis(AnalysisKind.DUPLICATES, name)
        outliers = self.model.get_analysis(AnalysisKind.OUTLIERS, name)
        for bar in (self.progress, self.wait_bar):
            bar.setValue(0)
            bar.setFormat("starting\u2026")
        self.runner.submit(AUDIT_KEY, run_audit, emb, duplicates=dups, outliers=outliers,
                           on_result=lambda audit: self.model.set_analysis(AnalysisKind.FINDINGS, audit, name=name),
                           on_error=self._on_error, on_cancelled=self._update_running,
                           is_stale=lambda: not self.model.is_current(emb, name))
        self._update_running()

    def cancel(self) -> None:
        if self.runner.is_running(AUDIT_KEY):
            self._declined = self.model.emb  # not again on the next show of the view
        self.runner.cancel(AUDIT_KEY)
        self._update_running()

    def select_kind(self, kind: str) -> None:
        self.state.kind = kind

    def select_rows(self, rows: list[int]) -> None:
        """Select rows of the item table (which selects their items everywhere)."""
        sm = self.table.selectionModel()
        sm.clearSelection()
        for r in rows:
            sm.select(self.table_model.index(r, 0), QItemSelectionModel.Select | QItemSelectionModel.Rows)

    def selected_items(self) -> list[int]:
        rows = sorted({ix.row() for ix in self.table.selectionModel().selectedRows()})
        return [self.table_model.item_at(r) for r in rows if self.table_model.item_at(r) >= 0]

    def decide_selected(self, decision: str) -> None:
        """Record ``decision`` ("" clears) for the selected items of the listed kind."""
        ds, kind = self.model.dataset, self.kind
        items = self.selected_items()
        if ds is None or not kind or not items:
            return
        rows = sorted({ix.row() for ix in self.table.selectionModel().selectedRows()})
        self.state.set_decisions(kind, [ds.ids[i] for i in items], decision)
        if decision and len(rows) == 1 and rows[0] + 1 < self.table_model.rowCount():  # triage: on to the next
            nxt = rows[0] + 1
            self.select_rows([nxt])
            self.table.setCurrentIndex(self.table_model.index(nxt, 0))
            self.table.scrollTo(self.table_model.index(nxt, 0))

    def export_findings(self, path: str):
        """Every flagged item with its decision to ``path`` (CSV or ``.json``), in the runner."""
        return self.exports.export_findings(str(path))

    def export_dialog(self) -> None:
        if self.audit is None:
            self.status.setText("No findings to export yet.")
            return
        path = ask_list_export(
            self, "Export findings and decisions \u2014 a list only; no file of your data is changed", "findings.csv")
        if path is None:
            return
        try:
            self.export_findings(path)
        except ValueError as exc:
            self.status.setText(theme.error_html(str(exc)))

    def shutdown(self) -> None:
        self.runner.cancel(AUDIT_KEY)
        self.runner.cancel(JobKind.ISSUES_EXPORT)

    # ======================================================================================
    # the model -> the view
    # ======================================================================================
    def showEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().showEvent(event)
        self._auto_run()

    def _auto_run(self) -> None:
        """Audit the active set when the view is shown and it has no audit yet, unless the user
        cancelled the audit of this very set (then only "Run audit" starts it again)."""
        emb = self.model.emb
        if (emb is not None and self.audit is None and emb is not self._declined
                and not self.runner.is_running(AUDIT_KEY)):
            self.run_audit()

    def _on_active_set(self) -> None:
        self.runner.cancel(AUDIT_KEY)
        self._reload()
        if self.isVisible():
            self._auto_run()

    def _reload(self) -> None:
        self._fill_kinds()
        self._show_kind()
        self._update_running()

    def _on_analysis(self, kind: Any, name: str = "") -> None:
        if name and name != self.model.active:
            return
        if kind == AnalysisKind.FINDINGS:
            self._reload()
        elif kind == AnalysisKind.DUPLICATES:
            self._follow_duplicates()

    def _follow_duplicates(self) -> None:
        """The Duplicates view moved its threshold: list its groups here too (cheap, no search)."""
        audit, finder = self.audit, self.model.get_analysis(AnalysisKind.DUPLICATES)
        if audit is None or finder is None or "duplicate" not in audit.findings_:
            return
        current = audit.findings_["duplicate"]
        if current.threshold is not None and math.isclose(current.threshold, float(finder.threshold_), abs_tol=1e-12):
            return
        self.model.set_analysis(AnalysisKind.FINDINGS, audit.with_findings(duplicate_findings(finder)))

    def _update_running(self) -> None:
        running = self.runner.is_running(AUDIT_KEY)
        self.progress.setVisible(running and self.audit is not None)  # a re-run; the first run shows in the middle
        self.cancel_button.setVisible(running and self.audit is not None)
        self.wait_bar.setVisible(running)
        self.wait_cancel.setVisible(running)
        self.run_button.setEnabled(self.model.emb is not None and not running)
        self.export_button.setEnabled(self.audit is not None)
        audit, ds, emb = self.audit, self.model.dataset, self.model.emb
        if audit is not None:
            self.stack.setCurrentWidget(self.content)
            n = sum(audit.counts().values())
            ran = ", ".join(f"{len(f):,} {KINDS[k][0].lower()}" for k, f in audit.findings_.items())
            text = (f"<b>{n:,}</b> flagged among {audit.n_items_:,} items ({html.escape(self.model.active)}): "
                    f"{html.escape(ran)}")
            if audit.skipped_:
                text += f" \u00b7 {len(audit.skipped_)} kind(s) not checked"
            if running:
                text += " \u00b7 <i>running again\u2026</i>"
            self.status.setText(text)
            return
        self.stack.setCurrentWidget(self.placeholder)
        self.start_button.setVisible(emb is not None and not running)
        self.status.setText("")
        if ds is None:
            self.wait_label.setText("Open data to look for likely label errors, leaks across splits, "
                                    "near-duplicates and outliers.")
        elif emb is None:
            self.wait_label.setText("The audit runs once the items are encoded.")
        elif running:
            self.wait_label.setText("Auditing\u2026 each finder in turn (label issues need cross-validated "
                                    "classifiers: the longest step).")
        else:
            self.wait_label.setText("Not audited yet. The audit looks for likely label errors (with labels), "
                                    "near-duplicates across splits (with train/ test/ folders or a split column), "
                                    "near-duplicates and outliers.")

    def _on_progress(self, key: Any, fraction: float, message: str) -> None:
        if key == AUDIT_KEY:
            for bar in (self.progress, self.wait_bar):
                bar.setValue(int(round(fraction * 1000)))
                bar.setFormat(f"{fraction * 100:.0f} %  {message}")
            if not (self.progress.isVisible() or self.wait_bar.isVisible()):
                self._update_running()

    def _on_error(self, message: str) -> None:
        self.status.setText(theme.error_html(f"The audit failed: {message}"))
        self.runner.error.emit(AUDIT_KEY, f"the audit failed: {message}")

    def _fill_kinds(self) -> None:
        audit = self.audit
        self._syncing = True
        try:
            self.kind_list.clear()
            if audit is None:
                return
            bold = QFont(self.kind_list.font())
            bold.setBold(True)
            for kind in AUDIT_KINDS:
                title = KINDS[kind][0]
                if kind in audit.findings_:
                    f = audit.findings_[kind]
                    item = QListWidgetItem(f"{title}\n{len(f):,} of {f.n_considered:,} items")
                    item.setToolTip(f.explanation)
                    if len(f):
                        item.setFont(bold)
                elif kind in audit.skipped_:
                    item = QListWidgetItem(f"{title}\nnot checked: {audit.skipped_[kind]}")
                    item.setForeground(QColor("#888888"))
                    item.setToolTip(audit.skipped_[kind])
                else:
                    continue
                item.setData(Qt.UserRole, kind)
                self.kind_list.addItem(item)
            current = self.kind
            for r in range(self.kind_list.count()):
                if self.kind_list.item(r).data(Qt.UserRole) == current:
                    self.kind_list.setCurrentRow(r)
        finally:
            self._syncing = False

    def _on_kind_chosen(self, item: QListWidgetItem | None, _previous=None) -> None:
        if self._syncing or item is None:
            return
        self.state.kind = str(item.data(Qt.UserRole))

    def _show_kind(self) -> None:
        audit, kind = self.audit, self.kind
        for r in range(self.kind_list.count()):
            if self.kind_list.item(r).data(Qt.UserRole) == kind and self.kind_list.currentRow() != r:
                self._syncing = True
                try:
                    self.kind_list.setCurrentRow(r)
                finally:
                    self._syncing = False
        found = None if audit is None else audit.findings_.get(kind)
        self.table_model.set_findings(found)
        self._enable_decisions()
        images = self.model.dataset is not None and self.model.dataset.modality == "image"
        self.table.verticalHeader().setDefaultSectionSize(THUMB_PX + 6 if images else
                                                          2 * self.table.fontMetrics().lineSpacing() + 8)
        labelled = found is not None and (self.model.dataset is not None and self.model.dataset.labels is not None
                                          or "label" in found.columns)
        self.table.setColumnHidden(2, not labelled)
        self.table.setColumnHidden(3, found is None or "suggested_label" not in found.columns)
        self.method_label.setText("")
        self.kind_header.setToolTip("")
        if audit is None or not kind:
            self.kind_header.setText("")
        elif found is None:
            why = audit.skipped_.get(kind, "")
            self.kind_header.setText(f"<b>{html.escape(KINDS[kind][0])}</b>: not checked \u2014 {html.escape(why)}")
        else:
            t = ("none" if found.threshold is None else f"{found.threshold:.4g}")  # the reason says why
            explanation = found.explanation.rstrip(". ")
            explanation = explanation[:1].upper() + explanation[1:]
            flagged = "Nothing flagged" if not len(found) else f"{len(found):,} of {found.n_considered:,} items flagged"
            self.kind_header.setText(
                f"<b>{html.escape(found.title)}</b> — {flagged}<br>{html.escape(explanation)}.<br>"
                f"<span style='color:#777'><b>Score</b>: {html.escape(found.score_name)} (higher: more likely a "
                f"problem). <b>Threshold</b>: {html.escape(t)} — {html.escape(found.threshold_reason)}.</span>")
            self.kind_header.setToolTip(f"How it is computed: {found.method}")
            self.method_label.setText(f"<span style='color:#777'><b>How</b>: {html.escape(found.method)}.</span>")
        if found is not None and len(found):
            self.items_stack.setCurrentWidget(self.table)
        else:
            self.items_stack.setCurrentWidget(self.empty_label)
            if found is not None:
                t = "the threshold" if found.threshold is None else f"the threshold {found.threshold:.4g}"
                self.empty_label.setText(f"Nothing flagged: none of the {found.n_considered:,} items passes {t}.")
            elif audit is not None and kind in audit.skipped_:
                self.empty_label.setText(f"Not checked: {audit.skipped_[kind]}.")
            else:
                self.empty_label.setText("")
        self._show_decided()

    def _show_decided(self) -> None:
        audit = self.audit
        if audit is None:
            self.decided_label.setText("")
            return
        n_decided = sum(len(v) for k, v in self.state.decisions.items() if k in audit.findings_)
        n = sum(audit.counts().values())
        self.decided_label.setText(f"{n_decided:,} of {n:,} decided")

    def _on_decisions(self) -> None:
        self.table_model.refresh_all()
        self._show_decided()

    def _enable_decisions(self) -> None:
        chosen = bool(self.table.selectionModel().hasSelection())
        for b in self.decision_buttons.values():
            b.setEnabled(chosen)

    def _on_rows_selected(self) -> None:
        self._enable_decisions()
        if self._syncing:
            return
        items = self.selected_items()
        if items:
            self.selection.set_selection(np.asarray(items, dtype=np.int64), self.name)
            if len(items) == 1:  # one item (a click, the arrow keys, the next after a decision): the current one
                self.selection.set_current(items[0], self.name)

    def _on_row_clicked(self, index: QModelIndex) -> None:
        i = self.table_model.item_at(index.row())
        if i >= 0:
            self.selection.set_current(i, self.name)

    def _on_current(self, index: int, source: str) -> None:
        if source == self.name or index < 0:
            return
        row = self.table_model.row_of(index)
        if row < 0:
            return
        self._syncing = True
        try:
            self.select_rows([row])
            self.table.scrollTo(self.table_model.index(row, 0))
        finally:
            self._syncing = False

    def _on_thumbnail(self, index: int) -> None:
        row = self.table_model.row_of(index)
        if row >= 0:
            self.table_model.refresh_row(row)

    def _on_written(self, kind: Any, path: str, count: int) -> None:
        if kind == JobKind.ISSUES_EXPORT:
            self.last_export = (path, count)
            self.status.setText(f"Wrote {count:,} flagged items with your decisions to {html.escape(path)}. "
                                f"{EXPORT_NOTE}")
