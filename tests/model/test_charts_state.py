"""The Charts view's state: defaults, validation of hand-edited sessions, round trip, events."""

from __future__ import annotations

from embedview.model import AppModel
from embedview.model.views.charts import CATEGORIES_RANGE, ChartsState, valid_brush


def test_defaults_and_round_trip():
    s = ChartsState()
    assert s.hidden == () and s.brushes == {} and s.max_categories == 12
    s.hidden = ("note",)
    s.brushes = {"score": {"range": [0.2, 0.5]}, "label": {"values": ["a", "b"]}}
    doc = s.to_dict()
    t = ChartsState()
    t.update(doc)
    assert t.hidden == ("note",) and t.brushes == s.brushes
    # through the whole model's view states, as a session saves them
    model = AppModel()
    model.views.update({"charts": doc})
    assert model.views.charts.brushes == s.brushes
    assert "charts" in model.views.to_dict()


def test_bad_values_are_dropped():
    s = ChartsState()
    s.update({"brushes": {"a": {"range": [5, 1]}, "b": {"range": ["x", 1]}, "c": {"values": []},
                          "d": "oops", "e": {"values": ["ok", 3]}, "f": {"values": ["ok"]}},
              "hidden": ["x", 3, None], "max_categories": 1000})
    assert s.brushes == {"a": {"range": [1.0, 5.0]}, "f": {"values": ["ok"]}}
    assert s.hidden == ("x",)
    assert s.max_categories == CATEGORIES_RANGE[1]
    s.update({"brushes": "nonsense", "hidden": 5, "max_categories": True})
    assert s.brushes == {"a": {"range": [1.0, 5.0]}, "f": {"values": ["ok"]}} and s.hidden == ("x",)
    assert valid_brush({"range": [True, 1]}) is None


def test_brush_changes_are_events():
    s = ChartsState()
    seen = []
    s.events.brushes.connect(seen.append)
    s.brushes = {"x": {"values": ["a"]}}
    assert seen == [{"x": {"values": ["a"]}}]
