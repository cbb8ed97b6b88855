"""The Map and Compare views' state objects: defaults, events, sessions (to_dict / update), new data."""

from __future__ import annotations

from embedview.model import AppModel
from embedview.model.views.compare import CompareState
from embedview.model.views.map import MapState


def test_map_state_defaults_events_and_round_trip():
    state = MapState()
    assert (state.method, state.color_by, state.highlighted_labels) == ("umap", "label", ())
    seen = []
    state.events.color_by.connect(seen.append)
    state.color_by = "meta:year"
    state.color_by = "meta:year"  # no change, no event
    assert seen == ["meta:year"]
    saved = state.to_dict()
    assert saved == {"method": "umap", "color_by": "meta:year", "highlighted_labels": [], "clusters": True,
                     "contours": False}
    other = MapState()
    other.update(saved)
    assert other == state


def test_a_bad_or_old_session_never_breaks_the_state():
    state = MapState()
    state.update({"method": 3, "color_by": None, "color": ["duplicates", ""], "highlighted_labels": ["a", "b"]})
    assert state.method == "umap"  # wrong type ignored
    assert state.highlighted_labels == ("a", "b")
    state.update({"clusters": "yes", "contours": True})
    assert state.clusters is True and state.contours is True  # a non-bool toggle is ignored


def test_compare_state_defaults_and_round_trip():
    state = CompareState()
    assert (state.k, state.color_by, state.encoders) == (10, "disagreement", ())
    state.update({"k": 5.0, "color_by": "label", "encoders": ["a", "b"]})
    assert (state.k, state.color_by, state.encoders) == (5, "label", ("a", "b"))


def test_new_data_resets_what_belongs_to_the_old_data_and_keeps_the_rest():
    model = AppModel()
    model.views.map.method = "pca"
    model.views.map.color_by = "outliers"
    model.views.map.highlighted_labels = ("cat",)
    model.views.compare.encoders = ("a", "b")
    model.views.compare.k = 7
    model.set_dataset(None)
    assert model.views.map.method == "pca" and model.views.map.color_by == "outliers"  # layout-like choices stay
    assert model.views.map.highlighted_labels == ()  # labels of other data
    assert model.views.compare.encoders == () and model.views.compare.k == 7
    assert model.views.to_dict()["compare"] == {"encoders": [], "k": 7, "color_by": "disagreement", "method": "umap",
                                                "highlighted_labels": []}
