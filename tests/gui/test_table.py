"""The item table: virtual model, sorting and filtering from the model's choices, two-way selection
sync, 1M rows.  (The sorting and filtering themselves are tested without Qt in tests/core/test_search.py.)"""

import time

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from recipes import recipes
from viewkit import ViewEnv

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.gui.views.table import TableView
from embedview.model import AnalysisKind
from embedview.runtime.keys import JobKind


@pytest.fixture
def env(qtbot):
    """(state, selection, runner, a shown TableView), on the shared ViewEnv with its thread checks."""
    e = ViewEnv(qtbot, 900, 400)
    view = e.add(TableView)
    e.show()
    yield e.model, e.selection, e.runner, view
    e.close()


def _column(view, key):
    m = view.table_model
    c = m.column_of(key)
    return [m.data(m.index(r, c)) for r in range(m.rowCount())]


def test_columns_sorting_and_filter_in_the_view(env, qtbot):
    state, selection, runner, view = env
    state.set_dataset(recipes())
    selection.reset(6)
    m = view.table_model
    assert [t for _, t in m.columns] == ["id", "label", "text", "minutes", "origin"]
    assert _column(view, "text")[0] == "Apple pie recipe"

    choices = state.views.table
    view.table.sortByColumn(m.column_of("meta:minutes"), Qt.AscendingOrder)
    assert (choices.sort, choices.descending) == ("meta:minutes", False)  # a header click is a choice in the model
    assert _column(view, "meta:minutes") == ["10", "30", "45", "60", "75", ""]
    view.table.sortByColumn(m.column_of("label"), Qt.DescendingOrder)
    assert (choices.sort, choices.descending) == ("label", True)
    assert _column(view, "label")[0] == "drinks" and _column(view, "label")[-1] == ""

    view.filter_edit.setText("apple")
    assert choices.filter == "apple"  # typed text reaches the model at once; the rows follow, debounced
    qtbot.waitUntil(lambda: m.rowCount() == 2, timeout=30_000)
    assert sorted(_column(view, "text")) == ["Apple pie recipe", "apple crumble"]
    assert "2 shown" in view.count_label.text()
    view.filter_edit.clear()
    qtbot.waitUntil(lambda: m.rowCount() == 6, timeout=30_000)


def test_choices_set_in_the_model_drive_the_table(env, qtbot):
    """A session (or a script) sets the filter and the sort in the model: the box and rows follow."""
    state, selection, runner, view = env
    state.set_dataset(recipes())
    m = view.table_model
    choices = state.views.table
    choices.filter = "baking"
    assert view.filter_edit.text() == "baking"
    qtbot.waitUntil(lambda: m.rowCount() == 4, timeout=30_000)
    choices.sort = "meta:minutes"
    assert _column(view, "meta:minutes") == ["30", "45", "60", "75"]
    choices.descending = True
    assert _column(view, "meta:minutes") == ["75", "60", "45", "30"]
    header = view.table.horizontalHeader()
    assert header.sortIndicatorSection() == m.column_of("meta:minutes")
    assert header.sortIndicatorOrder() == Qt.DescendingOrder
    # a sort column the data lacks leaves the item order, without an error
    choices.sort = "meta:nothing"
    assert m.order.tolist() == [0, 1, 3, 4]
    # new data: the filter goes (ViewStates.reset_for_new_data), the box empties, every row shows
    state.set_dataset(recipes())
    assert choices.filter == "" and view.filter_edit.text() == ""
    qtbot.waitUntil(lambda: m.rowCount() == 6, timeout=30_000)


def test_selection_syncs_both_ways_and_activation_sets_current(env, qtbot):
    state, selection, runner, view = env
    state.set_dataset(recipes())
    selection.reset(6)
    m = view.table_model
    view.table.sortByColumn(m.column_of("meta:minutes"), Qt.AscendingOrder)  # rows != items now

    seen = []
    selection.selection_changed.connect(lambda idx, src: seen.append((idx.tolist(), src)))
    sm = view.table.selectionModel()
    sm.select(m.index(0, 0), QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
    assert seen[-1] == ([5], "table")  # row 0 is the 10-minute cordial, item 5

    selection.set_selection([0, 3], "map")
    rows = sorted({i.row() for i in sm.selectedRows()})
    assert [m.item_at(r) for r in rows] == [3, 0]  # 45 min then 60 min
    assert "2 selected" in view.count_label.text()

    view.table.doubleClicked.emit(m.index(1, 0))
    assert selection.current == m.item_at(1) == 4

    selection.set_current(2, "map")
    assert view.table.currentIndex().row() == 5  # the item without minutes sorts last


def test_outlier_scores_appear_when_the_analysis_arrives(env):
    state, selection, runner, view = env
    ds = recipes()
    state.set_dataset(ds)
    state.add_embeddings(EmbeddingSet(ds, np.eye(6, dtype=np.float32), encoder="toy"))
    assert view.table_model.column_of("outlier") == -1

    class Scores:
        scores_ = np.array([0.1, 0.5, 0.2, 0.9, 0.3, 0.4], dtype=np.float32)

    state.set_analysis(AnalysisKind.OUTLIERS, Scores())
    assert view.table_model.column_of("outlier") >= 0
    view.table.sortByColumn(view.table_model.column_of("outlier"), Qt.DescendingOrder)
    assert _column(view, "outlier")[:2] == ["0.900", "0.500"]
    # the same scores announced again (another analysis, the set re-activated) leave the model alone
    resets = []
    view.table_model.modelReset.connect(lambda: resets.append(1))
    state.set_analysis(AnalysisKind.OUTLIERS, state.get_analysis(AnalysisKind.OUTLIERS))
    view._on_scores()
    assert resets == []
    # new scores while the rows are sorted by them: the rows follow the new scores
    class Rescored:
        scores_ = np.array([0.95, 0.1, 0.2, 0.3, 0.4, 0.5], dtype=np.float32)

    state.set_analysis(AnalysisKind.OUTLIERS, Rescored())
    assert state.views.table.sort == "outlier"
    assert _column(view, "outlier")[:2] == ["0.950", "0.500"]


def test_a_million_rows_stay_virtual_and_sort_and_filter_in_the_background(env, qtbot):
    state, selection, runner, view = env
    n = 1_000_000
    rng = np.random.default_rng(0)
    ds = Dataset(
        modality="embedding",
        ids=[f"item-{i:07d}" for i in range(n)],
        sources=["/data/vectors.npy"] * n,
        labels=np.array(["cat", "dog", None, "bird"], dtype=object)[rng.integers(0, 4, n)],
        metadata={"score": rng.random(n)},
    )
    t0 = time.perf_counter()
    state.set_dataset(ds)
    selection.reset(n)
    shown = time.perf_counter() - t0
    m = view.table_model
    assert m.rowCount() == n and m.data(m.index(n - 1, m.column_of("id"))) == "item-0999999"
    print(f"\n1M rows: dataset shown in {shown * 1000:.0f} ms")

    t0 = time.perf_counter()
    view.table.sortByColumn(m.column_of("meta:score"), Qt.DescendingOrder)
    # handed to the runner: the result arrives through a queued signal, so right after the call
    # the table still shows the old order (a sort on the UI thread would already show the new one)
    assert m.data(m.index(0, m.column_of("id"))) == "item-0000000"
    qtbot.waitUntil(lambda: not runner.is_running(JobKind.TABLE)
                    and float(m.data(m.index(0, m.column_of("meta:score")))) > 0.9999, timeout=60_000)
    print(f"1M rows: sorted by score in {time.perf_counter() - t0:.2f} s")
    scores = np.array([float(m.data(m.index(r, m.column_of("meta:score")))) for r in range(50)])
    assert np.all(np.diff(scores) <= 0)

    t0 = time.perf_counter()
    view.filter_edit.setText("ITEM-000010")
    qtbot.waitUntil(lambda: m.rowCount() == 10, timeout=60_000)
    print(f"1M rows: filtered in {time.perf_counter() - t0:.2f} s")
    assert sorted(_column(view, "id"))[0] == "item-0000100"

    selection.set_selection(np.arange(0, n, 2), "map")  # half a million selected, 5 of them shown
    assert len(view.table.selectionModel().selectedRows()) == 5
