"""The Duplicates view: the one place the similarity threshold lives.

``threshold`` is what the user chose (spin box, slider and the histogram's marker all show and
write it); ``None`` means the data's suggestion (``DuplicateFinder.suggested_threshold_``).  The
finder *at* that threshold is an analysis of the set (``AnalysisKind.DUPLICATES``) and the keep /
drop choices are another (``AnalysisKind.DUPLICATE_DECISIONS``, ``{item index: "keep" |
"drop"}``, explicit choices only).  :func:`effective_threshold`, :func:`file_finder` and
:func:`set_decisions` are the rules tying the three together, Qt-free, so the view, a session
and a test apply them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psygnal import evented

from embedview.model.analyses import AnalysisKind
from embedview.model.views._base import ViewStateMixin

if TYPE_CHECKING:  # the model imports this module: no import of it at run time
    from embedview.core.duplicates import DuplicateFinder
    from embedview.model.app import AppModel

DECISIONS = ("keep", "drop")


@evented
@dataclass
class DuplicatesState(ViewStateMixin):
    """The Duplicates view: the one place the similarity threshold lives."""

    #: cosine at or above which two items are near-duplicates (None: the data's suggestion)
    threshold: float | None = None
    #: histogram counts on a log scale (a few copies stay visible next to a big bulk)
    log_counts: bool = True


def effective_threshold(state: DuplicatesState, finder: DuplicateFinder | None) -> float:
    """The threshold in force for ``finder``: the chosen one clipped into the finder's range, or
    the finder's suggestion when none was chosen; NaN without a finder."""
    if finder is None:
        return float("nan")
    if state.threshold is None:
        return float(finder.suggested_threshold_)
    return finder.clip_threshold(state.threshold)


def file_finder(model: AppModel, finder: DuplicateFinder, name: str | None = None) -> None:
    """File ``finder`` (at the chosen threshold) as the duplicates of set ``name`` (default: the
    active one); choices for items no longer in any group are forgotten, the others kept."""
    name = name or model.active
    if model.get_analysis(AnalysisKind.DUPLICATES, name) is not finder:  # no event for what is there
        model.set_analysis(AnalysisKind.DUPLICATES, finder, name=name)
    decisions = decisions_of(model, name)
    kept = finder.decisions_in_groups(decisions)
    if kept != decisions:
        model.set_analysis(AnalysisKind.DUPLICATE_DECISIONS, kept, name=name)


def decisions_of(model: AppModel, name: str | None = None) -> dict[int, str]:
    """The explicit keep / drop choices of set ``name`` as ``{int index: decision}`` (a copy)."""
    stored: Any = model.get_analysis(AnalysisKind.DUPLICATE_DECISIONS, name) or {}
    return {int(i): str(d) for i, d in dict(stored).items()}


def set_decisions(model: AppModel, changes: Mapping[int, str], name: str | None = None) -> dict[int, str]:
    """Record the user's choices ``changes`` ({index: "keep" | "drop"}) for set ``name``; returns
    every choice now stored.  An unknown decision raises ``ValueError`` and changes nothing."""
    for i, d in changes.items():
        if d not in DECISIONS:
            raise ValueError(f"decision for item {i} must be 'keep' or 'drop', not {d!r}")
    decisions = decisions_of(model, name)
    decisions.update({int(i): str(d) for i, d in changes.items()})
    model.set_analysis(AnalysisKind.DUPLICATE_DECISIONS, decisions, name=name or model.active)
    return decisions


def forget_decisions(model: AppModel, items: Any, name: str | None = None) -> dict[int, str]:
    """Back to the keep rule for ``items``; returns every choice still stored."""
    decisions = decisions_of(model, name)
    for i in items:
        decisions.pop(int(i), None)
    model.set_analysis(AnalysisKind.DUPLICATE_DECISIONS, decisions, name=name or model.active)
    return decisions
