"""The state objects of the Collapse, Heatmap, Neighbours, Search and Items views, without Qt:
defaults, events, saving and restoring (old session keys included), what new data resets."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.search import substring_search
from embedview.model import AppModel
from embedview.model.views.collapse import CollapseState
from embedview.model.views.heatmap import HeatmapState
from embedview.model.views.neighbors import NeighborsState
from embedview.model.views.search import SearchState
from embedview.model.views.table import TableState


def digits_set(n: int = 60) -> EmbeddingSet:
    X, y = load_digits(return_X_y=True)
    X = X[:n].astype(np.float32)
    ds = Dataset("embedding", ids=[f"d{i}" for i in range(n)], sources=[""] * n,
                 labels=np.array([str(v) for v in y[:n]], dtype=object), embeddings=X)
    return EmbeddingSet(ds, X, "precomputed")


def test_the_states_import_no_qt():
    """In a fresh interpreter (pytest-qt has Qt loaded in this one)."""
    code = ("import sys, embedview.model.views.collapse, embedview.model.views.heatmap, "
            "embedview.model.views.neighbors, embedview.model.views.search, embedview.model.views.table; "
            "print([m for m in ('PySide6', 'pyqtgraph') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_defaults_are_what_the_views_showed_before():
    assert CollapseState().to_dict() == {"center": False, "whiten": False, "spread": "std", "log": False}
    assert HeatmapState().to_dict() == {"scale": "data"}
    assert NeighborsState().to_dict() == {"k": 10, "metric": "cosine"}
    assert SearchState().to_dict() == {"query": "", "k": 20, "words": False}
    assert TableState().to_dict() == {"filter": "", "sort": "", "descending": False}


@pytest.mark.parametrize("state, field, value", [
    (CollapseState(), "whiten", True), (CollapseState(), "spread", "var"), (HeatmapState(), "scale", "full"),
    (NeighborsState(), "metric", "euclidean"), (SearchState(), "words", True), (TableState(), "filter", "cat"),
])
def test_each_change_is_an_event_and_survives_a_round_trip(state, field, value):
    seen = []
    getattr(state.events, field).connect(seen.append)
    setattr(state, field, value)
    setattr(state, field, value)  # the same value again: no second event
    assert seen == [value]
    saved = json.loads(json.dumps(state.to_dict()))
    fresh = type(state)()
    fresh.update(saved)
    assert getattr(fresh, field) == value and fresh.to_dict() == state.to_dict()
    fresh.reset()
    assert fresh.to_dict() == type(state)().to_dict()


def test_old_collapse_session_entry_reads_as_it_is():
    state = CollapseState()
    state.update({"center": True, "whiten": False, "spread": "var", "log": True})  # CollapseView.session_state()
    assert (state.center, state.whiten, state.spread, state.log) == (True, False, "var", True)


def test_choices_a_view_does_not_offer_are_ignored():
    collapse, heat, neigh, search = CollapseState(), HeatmapState(), NeighborsState(), SearchState()
    collapse.update({"spread": "range", "log": True})
    heat.update({"scale": "rainbow"})
    neigh.update({"metric": "manhattan", "k": 100_000})
    search.update({"k": 0, "query": 42, "words": "yes"})
    assert collapse.spread == "std" and collapse.log is True
    assert heat.scale == "data"
    assert neigh.metric == "cosine" and neigh.k == 500  # clamped to what the spin box offers
    assert search.k == 1 and search.query == "" and search.words is False


def test_search_hits_are_state_but_never_saved():
    emb = digits_set()
    state = SearchState(query="digit")
    hits = substring_search(emb.dataset, "d1", 5)
    seen = []
    state.events.results.connect(seen.append)
    state.results = hits
    assert seen == [hits] and state.results is hits
    saved = state.to_dict()
    assert "results" not in saved and json.dumps(saved)
    other = SearchState()
    other.update({**saved, "results": "junk"})
    assert other.results is None and other.query == "digit"
    state.reset()
    assert state.results is None


def test_new_data_resets_the_mitigations_filter_and_query_but_keeps_preferences():
    model = AppModel()
    emb = digits_set()
    model.set_dataset(emb.dataset)
    model.add_embeddings(emb)
    views = model.views
    views.collapse.center = True
    views.collapse.whiten = True
    views.collapse.spread = "var"
    views.heatmap.scale = "full"
    views.neighbors.k = 25
    views.search.query = "seven"
    views.search.k = 5
    views.table.filter = "d1"
    seen = []
    views.collapse.events.center.connect(lambda v: seen.append(("center", v, model.dataset)))

    other = digits_set(40)
    model.set_dataset(other.dataset)
    # a leftover mitigation tick would measure the new data mitigated and could hide its collapse
    assert views.collapse.center is False and views.collapse.whiten is False
    assert seen == [("center", False, other.dataset)]  # announced, with the new data in place
    assert views.search.query == "" and views.table.filter == ""
    # how things are drawn and how many neighbours are preferences: they stay
    assert views.collapse.spread == "var" and views.heatmap.scale == "full"
    assert views.neighbors.k == 25 and views.search.k == 5


def test_all_view_states_save_as_json():
    model = AppModel()
    model.views.table.sort = "meta:ink"
    model.views.table.descending = True
    doc = json.loads(json.dumps(model.views.to_dict()))
    other = AppModel()
    other.views.update(doc)
    assert other.views.table.sort == "meta:ink" and other.views.table.descending is True
    assert other.views.to_dict() == model.views.to_dict()
