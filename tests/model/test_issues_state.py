"""IssuesState: decisions by kind and item id, validated on restore, cleared for new data, saved in sessions."""

from __future__ import annotations

import json

import pytest

from embedview.model.views import ViewStates
from embedview.model.views.issues import DECISIONS, IssuesState, clean_decisions


def test_set_and_clear_decisions_fire_events():
    state = IssuesState()
    seen = []
    state.events.decisions.connect(seen.append)
    state.set_decisions("label_issue", ["a", "b"], "fix")
    state.set_decisions("outlier", ["a"], "not_an_issue")
    assert state.decisions == {"label_issue": {"a": "fix", "b": "fix"}, "outlier": {"a": "not_an_issue"}}
    assert state.decision("label_issue", "b") == "fix" and state.decision("leak", "a") == ""
    state.set_decisions("label_issue", ["a", "b"], "")
    assert state.decisions == {"outlier": {"a": "not_an_issue"}}
    assert len(seen) == 3  # every change replaces the dict, so every change is an event
    with pytest.raises(ValueError, match="unknown decision"):
        state.set_decisions("outlier", ["a"], "delete")


def test_restore_drops_what_does_not_fit():
    state = IssuesState()
    state.update({"kind": "leak", "decisions": {"leak": {"x": "drop", "y": "burn", "3": "keep"},
                                                "outlier": "drop", "dup": {}}})
    assert state.kind == "leak"
    assert state.decisions == {"leak": {"x": "drop", "3": "keep"}}
    assert clean_decisions([1, 2]) == {}
    assert set(DECISIONS) == {"keep", "fix", "drop", "not_an_issue"}


def test_session_round_trip_and_new_data():
    views = ViewStates()
    views.issues.kind = "duplicate"
    views.issues.set_decisions("duplicate", ["img-1.png"], "drop")
    saved = json.loads(json.dumps(views.to_dict()))
    back = ViewStates()
    back.update(saved)
    assert back.issues.decisions == {"duplicate": {"img-1.png": "drop"}}
    assert back.issues.kind == "duplicate"
    back.reset_for_new_data()
    assert back.issues.decisions == {}  # ids of other data are other items
