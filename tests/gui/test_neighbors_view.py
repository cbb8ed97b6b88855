"""NeighborsView: exact neighbours for each metric, navigation by click, search results display."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from viewkit import digits_set

from embedview.core.neighbors import topk
from embedview.runtime.keys import JobKind

ENV_SIZE = (500, 700)  # the host window of the ``env`` fixture (tests/gui/conftest.py)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_neighbours_match_exact_search_for_each_metric(env, qtbot, metric):
    from embedview.gui.views.neighbors import NeighborsView

    emb = digits_set(600)
    view = env.add(NeighborsView)
    env.show()
    env.load(emb)
    view.metric_box.setCurrentIndex(view.metric_box.findData(metric))
    view.k_box.setValue(7)
    assert env.model.views.neighbors.metric == metric and env.model.views.neighbors.k == 7
    env.selection.set_current(42, "test")
    qtbot.waitUntil(lambda: view.query_index == 42 and len(view.displayed_indices) == 7, timeout=10000)
    want_idx, want_scores = topk(emb.vectors, 7, queries=np.array([42]), metric=metric)
    assert view.displayed_indices.tolist() == want_idx[0].tolist()
    np.testing.assert_allclose(view.displayed_scores, want_scores[0], rtol=1e-4, atol=1e-4)
    prefix = {"cosine": "cos ", "dot": "dot ", "euclidean": "dist "}[metric]
    assert prefix in view.list.item(0).text()
    assert view.card.index == 42 and "digit-42" in view.card.text.text()


def test_clicking_a_neighbour_makes_it_current_and_shows_its_neighbours(env, qtbot):
    from embedview.gui.views.neighbors import NeighborsView

    emb = digits_set(300)
    view = env.add(NeighborsView)
    env.show()
    env.load(emb)
    seen = []
    env.selection.current_changed.connect(lambda i, src: seen.append((i, src)))
    env.selection.set_current(10, "test")
    qtbot.waitUntil(lambda: len(view.displayed_indices) == 10, timeout=10000)
    third = int(view.displayed_indices[2])
    rect = view.list.visualItemRect(view.list.item(2))
    qtbot.mouseClick(view.list.viewport(), Qt.LeftButton, pos=rect.center())
    assert env.selection.current == third and seen[-1] == (third, "neighbors")
    qtbot.waitUntil(lambda: view.query_index == third and third not in view.displayed_indices.tolist()
                    and len(view.displayed_indices) == 10, timeout=10000)
    want, _ = topk(emb.vectors, 10, queries=np.array([third]))
    assert view.displayed_indices.tolist() == want[0].tolist()


def test_show_query_results_and_reset(env, qtbot):
    from embedview.gui.views.neighbors import NeighborsView

    emb = digits_set(100)
    view = env.add(NeighborsView)
    env.show()
    env.load(emb)
    view.show_query_results("round zero", [5, 3, 9], [0.9, 0.8, 0.7])
    assert "Results for \u201cround zero\u201d" in view.header.text()
    assert view.displayed_indices.tolist() == [5, 3, 9]
    assert view.list.count() == 3 and "cos 0.900" in view.list.item(0).text()
    view.show_query_results("zero", [1], None)  # plain text match: no score
    assert "cos" not in view.list.item(0).text()
    env.model.set_dataset(None)
    assert view.list.count() == 0 and view.query_text == ""


def test_search_hits_arrive_through_the_model(env, qtbot):
    """The Search view puts its hits in ``model.views.search.results``: this view lists them,
    without either view looking the other up; hits of other data are not listed."""
    from embedview.core.search import SearchHits, substring_search
    from embedview.gui.views.neighbors import NeighborsView

    emb = digits_set(100)
    view = env.add(NeighborsView)
    env.show()
    env.load(emb)
    choices = env.model.views.search
    choices.results = SearchHits("round zero", np.array([5, 3, 9]), np.array([0.9, 0.8, 0.7], dtype=np.float32),
                                 dataset=emb.dataset)
    assert view.query_text == "round zero" and view.displayed_indices.tolist() == [5, 3, 9]
    np.testing.assert_allclose(view.displayed_scores, [0.9, 0.8, 0.7])
    # the search makes its best hit current: the hits stay listed
    env.selection.set_current(5, "search")
    assert view.query_text == "round zero" and env.runner.job(JobKind.NEIGHBORS) is None
    choices.results = None
    assert view.query_text == "" and view.list.count() == 0
    other = digits_set(30)
    choices.results = substring_search(other.dataset, "digit-1", 5)
    assert view.query_text == "" and view.list.count() == 0


def test_k_and_metric_set_in_the_model_recompute(env, qtbot):
    from embedview.gui.views.neighbors import NeighborsView

    emb = digits_set(300)
    view = env.add(NeighborsView)
    env.show()
    env.load(emb)
    env.selection.set_current(12, "test")
    qtbot.waitUntil(lambda: len(view.displayed_indices) == 10, timeout=10000)
    choices = env.model.views.neighbors
    choices.k = 4
    choices.metric = "euclidean"
    assert view.k_box.value() == 4 and view.metric_box.currentData() == "euclidean"
    qtbot.waitUntil(lambda: len(view.displayed_indices) == 4, timeout=10000)
    env.wait_idle()
    want, _ = topk(emb.vectors, 4, queries=np.array([12]), metric="euclidean")
    assert view.displayed_indices.tolist() == want[0].tolist()


@pytest.mark.parametrize("how", ["current", "table-selection"])
def test_a_pick_made_while_encoding_fills_the_list_once_vectors_exist(env, qtbot, how):
    from embedview.gui.views.neighbors import NeighborsView

    emb = digits_set(300)
    view = env.add(NeighborsView)
    env.show()
    env.model.set_dataset(emb.dataset)  # opened, still encoding: no vectors yet
    if how == "current":
        env.selection.set_current(42, "map")
    else:  # a table row clicked: selected, not current
        env.selection.set_selection([42], "table")
    assert len(view.displayed_indices) == 0
    env.model.add_embeddings(emb)  # the encode finished
    qtbot.waitUntil(lambda: view.query_index == 42 and len(view.displayed_indices) == 10, timeout=10000)
    want, _ = topk(emb.vectors, 10, queries=np.array([42]))
    assert view.displayed_indices.tolist() == want[0].tolist()
    assert view.card.index == 42


def test_unlabelled_rows_name_each_item_once(env, qtbot):
    from embedview.gui.views.neighbors import NeighborsView

    emb = digits_set(200, labelled=False)
    view = env.add(NeighborsView)
    env.show()
    env.load(emb)
    env.selection.set_current(7, "test")
    qtbot.waitUntil(lambda: len(view.displayed_indices) == 10, timeout=10000)
    for row in range(view.list.count()):
        text = view.list.item(row).text()
        item_id = emb.dataset.ids[int(view.displayed_indices[row])]
        assert text.count(item_id) == 1, text
        assert "cos " in text

    labelled = digits_set(200)  # labelled: the label heads the row, the id below it, once
    env.load(labelled)
    env.selection.set_current(8, "test")
    qtbot.waitUntil(lambda: view.query_index == 8 and len(view.displayed_indices) == 10, timeout=10000)
    first = view.list.item(0).text()
    assert first.count(labelled.dataset.ids[int(view.displayed_indices[0])]) == 1
    assert first.startswith(f"1. {labelled.dataset.labels[int(view.displayed_indices[0])]}")
