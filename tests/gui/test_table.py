"""The item table: virtual model, numpy sorting and filtering, two-way selection sync, 1M rows."""

import time

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel, Qt

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.gui.views.table import TableView, filter_order, search_text, sort_order
from viewkit import ViewEnv

FRUIT = ["Apple pie recipe", "banana bread", "Cherry tart", "apple crumble", "Date squares", "elderflower cordial"]


def _text_dataset():
    return Dataset(
        modality="text",
        ids=[f"recipes.txt:{i + 1}" for i in range(len(FRUIT))],
        sources=["/data/recipes.txt"] * len(FRUIT),
        labels=np.array(["baking", "baking", None, "baking", "baking", "drinks"], dtype=object),
        texts=list(FRUIT),
        metadata={"minutes": [60, 75, None, 45, 30, 10], "origin": ["uk", "us", "fr", "uk", "ca", "uk"]},
        name="recipes",
    )


@pytest.fixture
def env(qtbot):
    """(state, selection, runner, a shown TableView), on the shared ViewEnv with its thread checks."""
    e = ViewEnv(qtbot, 900, 400)
    view = e.add(TableView)
    e.show()
    yield e.state, e.selection, e.runner, view
    e.close()


def _column(view, key):
    m = view.model
    c = m.column_of(key)
    return [m.data(m.index(r, c)) for r in range(m.rowCount())]


def test_sort_order_numbers_text_and_missing():
    assert sort_order([3, None, 1, 2.5]).tolist() == [2, 3, 0, 1]
    assert sort_order([3, None, 1, 2.5], descending=True).tolist() == [0, 3, 2, 1]  # missing stays last
    assert sort_order(["b", "A", None, "a", "C"]).tolist() == [2, 1, 3, 0, 4]  # case-insensitive, stable
    assert sort_order(["b", "A", None, "a", "C"], descending=True).tolist() == [4, 0, 1, 3, 2]
    assert sort_order(np.array([0.5, np.nan, -1.0])).tolist() == [2, 0, 1]


def test_filter_is_case_insensitive_over_id_label_and_text():
    ds = _text_dataset()
    hay = search_text(ds)
    order = np.arange(len(ds))
    assert filter_order(order, hay, "APPLE").tolist() == [0, 3]
    assert filter_order(order, hay, "drinks").tolist() == [5]
    assert filter_order(order, hay, "recipes.txt:3").tolist() == [2]
    assert filter_order(order[::-1], hay, "apple").tolist() == [3, 0]  # keeps the current order
    assert filter_order(order, hay, "  ").tolist() == order.tolist()
    # built once per dataset (every keystroke and word search reuses it), forgotten with the dataset
    from embedview.gui.views import table

    assert search_text(ds) is hay and search_text(_text_dataset()) is not hay
    key = id(ds)
    del ds
    import gc

    gc.collect()
    assert key not in table._SEARCH_TEXT


def test_columns_sorting_and_filter_in_the_view(env, qtbot):
    state, selection, runner, view = env
    state.set_dataset(_text_dataset())
    selection.reset(6)
    m = view.model
    assert [t for _, t in m.columns] == ["id", "label", "text", "minutes", "origin"]
    assert _column(view, "text")[0] == "Apple pie recipe"

    view.table.sortByColumn(m.column_of("meta:minutes"), Qt.AscendingOrder)
    assert _column(view, "meta:minutes") == ["10", "30", "45", "60", "75", ""]
    view.table.sortByColumn(m.column_of("label"), Qt.DescendingOrder)
    assert _column(view, "label")[0] == "drinks" and _column(view, "label")[-1] == ""

    view.filter_edit.setText("apple")
    qtbot.waitUntil(lambda: m.rowCount() == 2, timeout=30_000)
    assert sorted(_column(view, "text")) == ["Apple pie recipe", "apple crumble"]
    assert "2 shown" in view.count_label.text()
    view.filter_edit.clear()
    qtbot.waitUntil(lambda: m.rowCount() == 6, timeout=30_000)


def test_selection_syncs_both_ways_and_activation_sets_current(env, qtbot):
    state, selection, runner, view = env
    state.set_dataset(_text_dataset())
    selection.reset(6)
    m = view.model
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
    ds = _text_dataset()
    state.set_dataset(ds)
    state.add_embeddings(EmbeddingSet(ds, np.eye(6, dtype=np.float32), encoder="toy"))
    assert view.model.column_of("outlier") == -1

    class Scores:
        scores_ = np.array([0.1, 0.5, 0.2, 0.9, 0.3, 0.4], dtype=np.float32)

    state.set_analysis("outliers", Scores())
    assert view.model.column_of("outlier") >= 0
    view.table.sortByColumn(view.model.column_of("outlier"), Qt.DescendingOrder)
    assert _column(view, "outlier")[:2] == ["0.900", "0.500"]
    # the same scores announced again (another analysis, the set re-activated) leave the model alone
    resets = []
    view.model.modelReset.connect(lambda: resets.append(1))
    state.set_analysis("outliers", state.get_analysis("outliers"))
    view._on_scores()
    assert resets == []


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
    m = view.model
    assert m.rowCount() == n and m.data(m.index(n - 1, m.column_of("id"))) == "item-0999999"
    print(f"\n1M rows: dataset shown in {shown * 1000:.0f} ms")

    t0 = time.perf_counter()
    view.table.sortByColumn(m.column_of("meta:score"), Qt.DescendingOrder)
    # handed to the runner: the result arrives through a queued signal, so right after the call
    # the table still shows the old order (a sort on the UI thread would already show the new one)
    assert m.data(m.index(0, m.column_of("id"))) == "item-0000000"
    qtbot.waitUntil(lambda: not runner.is_running("table") and float(m.data(m.index(0, m.column_of("meta:score")))) > 0.9999,
                    timeout=60_000)
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
