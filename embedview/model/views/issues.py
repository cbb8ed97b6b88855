"""The Issues view: which finding kind is shown, and what the user decided for each flagged item.

Decisions are keyed by kind and item *id* (``{kind: {id: decision}}``), so a session restores them
on the same data whatever order it loads in, and one item flagged as two kinds (a duplicate that
is also a label issue) gets a decision for each.  The findings themselves are an analysis
(``AnalysisKind.FINDINGS``, a fitted ``core.audit.Audit``), not view state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psygnal import evented

from embedview.model.views._base import ViewStateMixin

#: what a user may decide for a flagged item (``core.audit.DECISIONS``; repeated here: the model
#: must not import the compute layer's heavier modules for one tuple)
DECISIONS = ("keep", "fix", "drop", "not_an_issue")
#: how each decision is written in the view
DECISION_TITLES = {"keep": "keep", "fix": "fix label", "drop": "drop", "not_an_issue": "not an issue"}


@evented
@dataclass
class IssuesState(ViewStateMixin):
    """The Issues view's choices."""

    #: the finding kind listed ("" : the first one with items)
    kind: str = ""
    #: ``{kind: {item id: one of DECISIONS}}``; replace the whole dict to change it (events fire on
    #: assignment): use :func:`with_decision`
    decisions: dict = field(default_factory=dict)

    def update(self, values: Mapping[str, Any]) -> None:
        """As :meth:`ViewStateMixin.update`; decisions that are not ``{str: {str: decision}}`` are
        dropped one by one (a hand-edited session never breaks the view)."""
        values = dict(values)
        if "decisions" in values:
            values["decisions"] = clean_decisions(values["decisions"])
        super().update(values)

    def decision(self, kind: str, item_id: str) -> str:
        """The user's decision for item ``item_id`` flagged as ``kind``, or ""."""
        return str(self.decisions.get(kind, {}).get(item_id, ""))

    def set_decisions(self, kind: str, item_ids: list[str], decision: str) -> None:
        """Set (or with ``decision == ""`` clear) the decision of several items of one kind."""
        if decision and decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r}; expected one of {DECISIONS}")
        new = {k: dict(v) for k, v in self.decisions.items()}
        mine = new.setdefault(kind, {})
        for item_id in item_ids:
            if decision:
                mine[str(item_id)] = decision
            else:
                mine.pop(str(item_id), None)
        if not mine:
            new.pop(kind)
        self.decisions = new


def clean_decisions(value: Any) -> dict[str, dict[str, str]]:
    """``value`` as ``{kind: {id: decision}}``, dropping whatever does not fit that shape."""
    out: dict[str, dict[str, str]] = {}
    if not isinstance(value, Mapping):
        return out
    for kind, items in value.items():
        if not isinstance(kind, str) or not isinstance(items, Mapping):
            continue
        good = {str(i): d for i, d in items.items() if isinstance(i, str) and d in DECISIONS}
        if good:
            out[kind] = good
    return out
