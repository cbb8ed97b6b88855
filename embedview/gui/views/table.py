"""Items: a virtual table of every item (thumbnail, id, label, text, metadata, outlier score).

Built for a million rows: the Qt model reads the dataset's columns on demand (no per-row Python
objects), rows are an index array ``order`` into the dataset, sorting is a numpy argsort of the
column and filtering a vectorised substring test (:func:`embedview.core.search.table_rows`); both
run in the runner (``JobKind.TABLE``) above :data:`INLINE_LIMIT` items so the UI never waits.
The filter text and the sort column are ``model.views.table`` (the filter box is bound to it);
the outlier column is the model's ``AnalysisKind.OUTLIERS`` of the active set; a "cluster" column
(the fine-level cluster name, ``AnalysisKind.CLUSTERS``) and one column per item score
(``AnalysisKind.ITEM_SCORES``: uniqueness, representativeness) follow when they are computed,
sortable like the others (``core.search.sort_order``).  Selection syncs
both ways with the model's shared selection through selection *ranges*, never one index object
per row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QSignalBlocker,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QTableView, QVBoxLayout

from embedview.core.dataset import Dataset
from embedview.core.search import column_keys, filter_order, search_text, sort_order, table_rows
from embedview.gui.bind import bind
from embedview.gui.thumbnails import ThumbnailCache, shared_thumbnails
from embedview.gui.views.base import View
from embedview.gui.workers import JobRunner
from embedview.model import AnalysisKind, AppModel
from embedview.runtime.keys import JobKind

#: above this many items, sorting and filtering run in the background
INLINE_LIMIT = 20_000
THUMB_PX = 48
#: the table highlights at most this many separate runs of selected rows
MAX_RANGES = 5000
MAX_DISPLAY_CHARS = 200


# -- the model ------------------------------------------------------------------------------------------------
class ItemTableModel(QAbstractTableModel):
    """Rows are ``order`` (item indices into the dataset); cells are read on demand."""

    sort_requested = Signal(int, object)  # column, Qt.SortOrder

    def __init__(self, thumbnails: ThumbnailCache | None = None, parent=None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.dataset: Dataset | None = None
        self.scores: np.ndarray | None = None
        #: columns from other analyses, after the dataset's: {key: (title, values, tooltip)}
        self.extra: dict[str, tuple[str, Any, str]] = {}
        self.columns: list[tuple[str, str]] = []
        self.order = np.empty(0, dtype=np.int64)
        self._pos: np.ndarray | None = None  # item -> row, built on demand

    # -- content ------------------------------------------------------------------------------
    def set_dataset(self, dataset: Dataset | None, scores: np.ndarray | None = None) -> None:
        self.beginResetModel()
        self.dataset = dataset
        self.scores = scores
        self.extra = {}
        self.columns = self._columns()
        self.order = np.arange(len(dataset) if dataset is not None else 0, dtype=np.int64)
        self._pos = None
        self.endResetModel()

    def set_order(self, order: np.ndarray) -> None:
        self.beginResetModel()
        self.order = np.asarray(order, dtype=np.int64)
        self._pos = None
        self.endResetModel()

    def set_scores(self, scores: np.ndarray | None) -> None:
        if self.dataset is None:
            return
        self.beginResetModel()
        self.scores = scores
        self.columns = self._columns()
        self.endResetModel()

    def set_extra(self, extra: dict[str, tuple[str, Any, str]]) -> None:
        """Columns from other analyses (cluster names, item scores): ``{key: (title, values, tooltip)}``."""
        self.beginResetModel()
        self.extra = dict(extra) if self.dataset is not None else {}
        self.columns = self._columns()
        self.endResetModel()

    def _columns(self) -> list[tuple[str, str]]:
        if self.dataset is None:
            return []
        return column_keys(self.dataset, self.scores) + [(k, title) for k, (title, _, _) in self.extra.items()]

    def item_at(self, row: int) -> int:
        return int(self.order[row])

    def rows_of(self, items: np.ndarray) -> np.ndarray:
        """Rows showing ``items`` (sorted; items filtered out are left out)."""
        if self._pos is None:
            n = len(self.dataset) if self.dataset is not None else 0
            self._pos = np.full(n, -1, dtype=np.int64)
            self._pos[self.order] = np.arange(len(self.order), dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        items = items[(items >= 0) & (items < len(self._pos))]
        rows = self._pos[items]
        return np.sort(rows[rows >= 0])

    def column_of(self, key: str) -> int:
        for c, (k, _) in enumerate(self.columns):
            if k == key:
                return c
        return -1

    # -- Qt interface -------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self.order)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole) -> Any:
        if orientation == Qt.Horizontal and 0 <= section < len(self.columns):
            if role == Qt.DisplayRole:
                return self.columns[section][1]
            if role == Qt.ToolTipRole and self.columns[section][0] == "outlier":
                return "Mean distance to the nearest neighbours: high = unusual item"
            if role == Qt.ToolTipRole and self.columns[section][0] in self.extra:
                return self.extra[self.columns[section][0]][2]
        return None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        ds = self.dataset
        if ds is None or not index.isValid():
            return None
        key = self.columns[index.column()][0]
        i = int(self.order[index.row()])
        if role == Qt.DisplayRole:
            return self._display(ds, key, i)
        if role == Qt.DecorationRole and key == "thumb" and self.thumbnails is not None:
            pix = self.thumbnails.get(i)
            return QIcon(pix) if pix is not None else None
        if role == Qt.ToolTipRole:
            if key in ("id", "thumb"):
                err = self.thumbnails.error(i) if (key == "thumb" and self.thumbnails is not None) else None
                return ds.sources[i] + (f"\n{err}" if err else "")
            if key == "text" and ds.texts is not None and ds.texts[i]:
                return ds.display_text(i, max_chars=1000)
        if role == Qt.TextAlignmentRole and (key == "outlier" or key.startswith("score:")):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None

    def _display(self, ds: Dataset, key: str, i: int) -> Any:
        if key == "thumb":
            return None
        if key == "id":
            return ds.ids[i]
        if key == "label":
            lab = ds.labels[i]
            return "" if lab is None else str(lab)
        if key == "text":
            return ds.display_text(i, MAX_DISPLAY_CHARS).replace("\n", " ")
        if key == "outlier":
            v = float(self.scores[i])
            return "" if math.isnan(v) else f"{v:.3f}"
        if key in self.extra:
            v = self.extra[key][1][i]
            if isinstance(v, (float, np.floating)):
                return "" if math.isnan(v) else f"{v:.3f}"
            return "" if v is None else str(v)
        v = ds.metadata[key[5:]][i]
        if v is None:
            return ""
        if isinstance(v, (float, np.floating)):
            return "" if math.isnan(v) else f"{v:.6g}"
        return str(v)

    def sort(self, column: int, order: Qt.SortOrder = Qt.AscendingOrder) -> None:
        """Qt asks to sort: the view computes the new order (maybe in the background)."""
        self.sort_requested.emit(column, order)

    def refresh_item(self, item: int) -> None:
        """Repaint the row of ``item`` (a thumbnail arrived)."""
        rows = self.rows_of(np.array([item]))
        if len(rows):
            r = int(rows[0])
            self.dataChanged.emit(self.index(r, 0), self.index(r, 0), [Qt.DecorationRole])


def _extra_rows(dataset: Dataset, values: Any, descending: bool, needle: str, progress: Any = None) -> np.ndarray:
    """(maybe a worker thread) Rows sorted by an analysis' column ``values``, then filtered."""
    order = sort_order(values, descending)
    return filter_order(order, search_text(dataset), needle) if needle.strip() else order


def _alive(widget: Any) -> bool:
    """Whether the C++ side of ``widget`` still exists (model events may outlive a view)."""
    try:
        widget.objectName()
    except RuntimeError:
        return False
    return True


# -- the view ------------------------------------------------------------------------------------------------------
class TableView(View):
    """Dockable item table with a filter box; selection and current item shared with every view."""

    title = "Items"
    area = "bottom"
    name = "table"

    def __init__(self, model: AppModel, runner: JobRunner, parent=None) -> None:
        super().__init__(model, runner, parent)
        self.thumbnails = shared_thumbnails(model)
        self._syncing = False
        self._truncated = False
        self._dataset: Dataset | None = None

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by id, label or text\u2026")
        self.filter_edit.setClearButtonEnabled(True)
        self.count_label = QLabel("")
        self.count_label.setMinimumWidth(160)
        self.count_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.count_label)

        #: the Qt model of the rows (``self.model`` is the application model)
        self.table_model = ItemTableModel(self.thumbnails, self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.table.horizontalHeader().setSortIndicatorShown(True)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.AscendingOrder)
        self.table.horizontalHeader().setHighlightSections(False)
        vh = self.table.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.Fixed)  # no per-row size hints: a million rows stay cheap
        vh.setDefaultSectionSize(24)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(150)
        self._filter_timer.timeout.connect(self._recompute)
        choices = model.views.table
        bind(self.filter_edit, choices, "filter", on_change=lambda _v: self._filter_timer.start())
        # every keystroke reaches the model (debounced by the timer), not only finished edits
        self.filter_edit.textChanged.connect(lambda text: setattr(choices, "filter", text))
        self.filter_edit.returnPressed.connect(self._recompute)
        self._sorting = False  # the view itself is writing the sort choice
        choices.events.sort.connect(self._on_sort_choice)
        choices.events.descending.connect(self._on_sort_choice)

        self.table_model.sort_requested.connect(self._on_sort)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection)
        self.table.doubleClicked.connect(self._on_activated)
        self.table.activated.connect(self._on_activated)
        self.thumbnails.ready.connect(self.table_model.refresh_item)
        model.dataset_changed.connect(self._on_dataset)
        model.embeddings_changed.connect(lambda _name: self._on_dataset_maybe())
        model.active_changed.connect(lambda _name: self._on_scores())
        model.analysis_changed.connect(self._on_analysis)
        model.selection.selection_changed.connect(self._on_shared_selection)
        model.selection.current_changed.connect(self._on_shared_current)
        self._on_dataset()

    # -- data --------------------------------------------------------------------------------------
    def _scores(self) -> np.ndarray | None:
        res = self.model.get_analysis(AnalysisKind.OUTLIERS) if self.model.active else None
        scores = getattr(res, "scores_", None)
        if scores is None or self._dataset is None or len(scores) != len(self._dataset):
            return None
        return np.asarray(scores)  # the analysis' own array: identity tells whether it changed

    def _on_dataset(self) -> None:
        self.runner.cancel(JobKind.TABLE)
        self._dataset = self.model.dataset
        self._syncing = True
        try:
            self.table_model.set_dataset(self._dataset, self._scores())
            self.table_model.set_extra(self._extra())
        finally:
            self._syncing = False
        self._layout_columns()
        self._show_sort_indicator()
        choices = self.model.views.table
        if choices.filter.strip() or self._sort_key() is not None:
            self._recompute()
        else:
            self._apply_shared_selection()
            self._update_count()

    def _on_dataset_maybe(self) -> None:
        """Encoding may drop undecodable items: the state's dataset then changes identity."""
        if self.model.dataset is not self._dataset:
            self._on_dataset()

    def _on_scores(self) -> None:
        scores = self._scores()
        if scores is not self.table_model.scores:
            self._syncing = True
            try:
                self.table_model.set_scores(scores)
            finally:
                self._syncing = False
            self._layout_columns()
            self._show_sort_indicator()
            if self.model.views.table.sort == "outlier":
                self._recompute()  # rows sorted by scores that were missing or are new
            else:
                self._apply_shared_selection()

    def _on_analysis(self, kind: AnalysisKind, name: str = "") -> None:
        if kind == AnalysisKind.OUTLIERS and (not name or name == self.model.active):
            self._on_scores()
        if kind in (AnalysisKind.CLUSTERS, AnalysisKind.ITEM_SCORES) and (not name or name == self.model.active):
            self._on_extra()

    def _extra(self) -> dict[str, tuple[str, Any, str]]:
        """The cluster name and item-score columns of the active set (those that fit the dataset)."""
        ds = self._dataset
        if ds is None or not self.model.active:
            return {}
        n = len(ds)
        out: dict[str, tuple[str, Any, str]] = {}
        clusters = self.model.get_analysis(AnalysisKind.CLUSTERS)
        if clusters is not None and len(clusters.labels_["fine"]) == n:
            out["cluster"] = ("cluster", clusters.name_per_item("fine"),
                              "The item's density cluster (fine level) named by its most distinctive "
                              f"words, label or value.\n{clusters.method_}")
        tips = {"uniqueness": "How far the item is from its nearest neighbours: high = unlike the rest",
                "representativeness": "How typical the item is of a dense region: high = a good example"}
        for column, values in (self.model.get_analysis(AnalysisKind.ITEM_SCORES) or {}).items():
            if len(values) == n:
                out[f"score:{column}"] = (str(column), np.asarray(values, dtype=np.float64),
                                          tips.get(str(column), str(column)))
        return out

    def _on_extra(self) -> None:
        extra = self._extra()
        if extra.keys() == self.table_model.extra.keys() and all(
                extra[k][1] is self.table_model.extra[k][1] for k in extra):
            return
        self._syncing = True
        try:
            self.table_model.set_extra(extra)
        finally:
            self._syncing = False
        self._layout_columns()
        self._show_sort_indicator()
        if self.model.views.table.sort in extra:
            self._recompute()
        else:
            self._apply_shared_selection()

    def _layout_columns(self) -> None:
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        image = self._dataset is not None and self._dataset.modality == "image"
        self.table.verticalHeader().setDefaultSectionSize(THUMB_PX + 6 if image else 24)
        # the text stretches; without text, the id does (not a narrow number column at the end).
        # With the cluster / score columns the text would be squeezed to a few letters in a docked
        # table: it keeps a readable width instead and the last column takes what is left (the
        # table scrolls sideways when the dock is narrow)
        stretch = "text" if self.table_model.column_of("text") >= 0 else "id"
        crowded = bool(self.table_model.extra) and stretch == "text"
        header.setStretchLastSection(crowded)
        metrics = header.fontMetrics()
        for c, (key, title) in enumerate(self.table_model.columns):
            resize = QHeaderView.Stretch if key == stretch and not crowded else QHeaderView.Interactive
            header.setSectionResizeMode(c, resize)
            width = {"thumb": THUMB_PX + 12, "id": 260 if image else 140, "label": 120, "outlier": 110,
                     "cluster": 170, "text": 280}.get(key, 100)
            if key.startswith("score:"):
                width = max(80, metrics.horizontalAdvance(title) + 24)
            if key != stretch or crowded:
                header.resizeSection(c, width)

    # -- sorting and filtering ------------------------------------------------------------------------
    def _on_sort(self, column: int, order: Qt.SortOrder) -> None:
        """The user clicked a header: the choice goes to the model, then the rows follow it."""
        if not 0 <= column < len(self.table_model.columns):
            return
        choices = self.model.views.table
        self._sorting = True
        try:
            choices.descending = order == Qt.DescendingOrder
            choices.sort = self.table_model.columns[column][0]
        finally:
            self._sorting = False
        self._recompute()

    def _on_sort_choice(self, _value: Any = None) -> None:
        """The sort was chosen elsewhere (a session, a script): the rows follow."""
        if not self._sorting and _alive(self):
            self._recompute()

    def _sort_key(self) -> str | None:
        """``model.views.table.sort`` when the data has that column, else None (item order)."""
        key = self.model.views.table.sort
        return key if key and self.table_model.column_of(key) >= 0 else None

    def _show_sort_indicator(self) -> None:
        key = self._sort_key()
        order = Qt.DescendingOrder if self.model.views.table.descending else Qt.AscendingOrder
        header = self.table.horizontalHeader()
        with QSignalBlocker(header):
            header.setSortIndicator(-1 if key is None else self.table_model.column_of(key), order)

    def _recompute(self) -> None:
        ds = self._dataset
        if ds is None:
            return
        self._show_sort_indicator()
        choices = self.model.views.table
        key = self._sort_key()
        fn: Any = table_rows
        args: tuple = (ds, self.table_model.scores, key, choices.descending, choices.filter)
        if key in self.table_model.extra:  # a column of another analysis: sorted by its values
            fn = _extra_rows
            args = (ds, self.table_model.extra[key][1], choices.descending, choices.filter)
        if len(ds) <= INLINE_LIMIT:
            self.runner.cancel(JobKind.TABLE)  # an older background order must not land after this one
            self._apply_rows(ds, fn(*args))
        else:
            self.count_label.setText("sorting / filtering\u2026")
            self.runner.submit(JobKind.TABLE, fn, *args, on_result=lambda res, ds=ds: self._apply_rows(ds, res),
                               is_stale=lambda ds=ds: ds is not self._dataset)

    def _apply_rows(self, ds: Dataset, order: np.ndarray) -> None:
        if ds is not self._dataset:
            return
        self._syncing = True
        try:
            self.table_model.set_order(order)
        finally:
            self._syncing = False
        self._apply_shared_selection()
        self._update_count()

    # -- selection ---------------------------------------------------------------------------------------------
    def _on_table_selection(self, *_: Any) -> None:
        if self._syncing:
            return
        rows = [np.arange(r.top(), r.bottom() + 1, dtype=np.int64) for r in self.table.selectionModel().selection()]
        rows_arr = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
        self.selection.set_selection(self.table_model.order[rows_arr], self.name)
        self._update_count()

    def _on_shared_selection(self, indices: np.ndarray, source: str) -> None:
        if source != self.name:
            self._apply_shared_selection()
            self._update_count()

    def _apply_shared_selection(self) -> None:
        """Show the shared selection in the table as contiguous row ranges (at most
        :data:`MAX_RANGES`: a scattered selection of millions would take Qt minutes)."""
        sm = self.table.selectionModel()
        if self.table_model.dataset is not None:
            rows = self.table_model.rows_of(self.selection.selected)
        else:
            rows = np.empty(0, np.int64)
        sel = QItemSelection()
        self._truncated = False
        if len(rows):
            last_col = max(self.table_model.columnCount() - 1, 0)
            breaks = np.flatnonzero(np.diff(rows) != 1)
            starts = np.r_[rows[0], rows[breaks + 1]]
            ends = np.r_[rows[breaks], rows[-1]]
            if len(starts) > MAX_RANGES:
                starts, ends, self._truncated = starts[:MAX_RANGES], ends[:MAX_RANGES], True
            for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
                sel.select(self.table_model.index(s, 0), self.table_model.index(e, last_col))
        self._syncing = True
        try:
            # clear, then select: ClearAndSelect diffs the old and new ranges, quadratic in their number
            sm.clearSelection()
            if not sel.isEmpty():
                sm.select(sel, QItemSelectionModel.Select)
        finally:
            self._syncing = False

    def _on_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.selection.set_current(self.table_model.item_at(index.row()), self.name)

    def _on_shared_current(self, item: int, source: str) -> None:
        if source == self.name or item < 0:
            return
        rows = self.table_model.rows_of(np.array([item]))
        if len(rows):
            idx = self.table_model.index(int(rows[0]), 0)
            self._syncing = True
            try:
                self.table.selectionModel().setCurrentIndex(idx, QItemSelectionModel.NoUpdate)
            finally:
                self._syncing = False
            self.table.scrollTo(idx, QAbstractItemView.PositionAtCenter)

    def _update_count(self) -> None:
        n = len(self._dataset) if self._dataset is not None else 0
        shown = len(self.table_model.order)
        k = len(self.selection.selected)
        parts = [f"{n:,} items"]
        if shown != n:
            parts.append(f"{shown:,} shown")
        if k:
            parts.append(f"{k:,} selected" + (" (first rows highlighted)" if self._truncated else ""))
        self.count_label.setText(" \u00b7 ".join(parts) if n else "")

    # -- view contract -------------------------------------------------------------------------------------
    def focus_input(self) -> bool:
        self.filter_edit.setFocus(Qt.ShortcutFocusReason)
        self.filter_edit.selectAll()
        return True
