"""The Checks view: which checks "Run all" runs, each check's parameters and the shared metric.

The checks and their parameters are those of the registry, :data:`embedview.core.checks.REGISTRY`:
this state keeps only what the user changed (``params``), so a check reads its registry defaults
for the rest and a session stays small and valid when a default changes.  The widgets of the view
bind to it both ways; results are not kept here but in the model's analyses
(``AnalysisKind.CHECKS``: {check name: :class:`~embedview.core.checks.CheckRun`}).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psygnal import evented

from embedview.core.checks import FORM_CHECKS, REGISTRY, get_check
from embedview.model.views._base import ViewStateMixin


@evented
@dataclass
class ChecksState(ViewStateMixin):
    """The Checks view's choices."""

    #: checks "Run all" runs, in registry order (empty: every check of the form the data allows)
    enabled: tuple[str, ...] = ()
    #: per check, the parameter values the user set: {"knn": {"k": 7}, ...}; the rest are defaults.
    #: Values are kept as the widgets give them (a cut-off list as typed, "1, 5, 10") and checked by
    #: :meth:`params_for` when a check starts, which says what is wrong.
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: similarity for every check that takes one (a value of ``core.checks.METRICS``)
    metric: str = "cosine"

    def param(self, check: str, name: str) -> Any:
        """The value of parameter ``name`` of ``check``: the user's, else the registry default."""
        spec = get_check(check)
        values = self.params.get(check, {})
        return values[name] if name in values else spec.param(name).default

    def set_param(self, check: str, name: str, value: Any) -> None:
        """Set one parameter (a new ``params`` dict, so the ``params`` event fires once)."""
        get_check(check).param(name)  # an unknown check or parameter is a programming error
        if self.params.get(check, {}).get(name, _UNSET) == value:
            return
        self.params = {**self.params, check: {**self.params.get(check, {}), name: value}}

    def forget(self, check: str, name: str) -> None:
        """Back to the registry default of one parameter (a choice that the new data does not offer)."""
        values = dict(self.params.get(check, {}))
        if values.pop(name, _UNSET) is not _UNSET:
            self.params = {**self.params, check: values}

    def params_for(self, check: str) -> dict[str, Any]:
        """The full, checked parameters ``check`` runs with (``ValueError`` says what is wrong)."""
        return get_check(check).resolve(self.params.get(check, {}), metric=self.metric, strict=False)

    def to_run(self) -> tuple[str, ...]:
        """The checks "Run all" runs, in registry order."""
        chosen = set(self.enabled) & set(REGISTRY)
        return tuple(n for n in FORM_CHECKS if n in chosen) if chosen else FORM_CHECKS


_UNSET = object()
