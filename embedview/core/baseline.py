"""A CI gate against a baseline: the headline metrics of a new checkpoint compared with an old one.

``embedview check NEW --baseline OLD`` and :func:`embedview.api.compare` read two results of the
checks (a :func:`embedview.core.checks.run_checks` dict, a saved ``embedview check`` JSON file,
or a step of a :class:`embedview.core.timeline.Timeline`) down to the headline metrics of
:data:`HEADLINE` and compare them with :class:`BaselineComparison`.

Each headline metric has a direction (higher or lower is better) and a tolerance kind:

``absolute``
    metrics on a fixed scale (accuracies, cosines, uniformity, MAP): the new value may be worse
    than the baseline by at most ``tolerance`` in the metric's own units (0.02 = two points of
    accuracy).
``relative``
    metrics whose scale depends on the data (effective rank, directions for 90 % of the
    variance): the new value may be worse by at most ``tolerance`` times the baseline's value
    (0.02 = 2 % of it).

A metric *fails* when it is worse than the baseline by more than it is allowed; the collapse
verdict fails when it is worse (healthy < dimensional collapse < complete collapse); a metric
measured on the baseline but not on the new one (labels gone, another kind of input) is
``missing`` and fails too, so a gate never passes on a number it could not see.  Better values
never fail.  Leave a metric out with ``metrics=``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from embedview.core.collapse import VERDICTS

#: default tolerance (absolute units, or a fraction of the baseline for relative metrics)
DEFAULT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Headline:
    """One headline metric: its key, title, which way is better and how its tolerance is read."""

    key: str
    title: str
    higher_is_better: bool
    relative: bool = False


#: the metrics the gate compares, in the order they are shown
HEADLINE: tuple[Headline, ...] = (
    Headline("effective_rank", "effective rank (centred)", True, relative=True),
    Headline("dims_90", "directions for 90% of the variance", True, relative=True),
    Headline("mean_pairwise_cosine", "mean pairwise cosine", False),
    Headline("uniformity", "uniformity (Wang & Isola, t=2)", False),
    Headline("alignment", "alignment of positive pairs", False),
    Headline("knn_accuracy", "kNN accuracy (leave-one-out)", True),
    Headline("linear_probe", "linear probe accuracy", True),
    Headline("retrieval_map", "retrieval mean average precision", True),
)
HEADLINE_BY_KEY: dict[str, Headline] = {h.key: h for h in HEADLINE}
#: the statuses of a row, and which of them fail the gate
STATUSES = ("improved", "ok", "within tolerance", "regressed", "missing", "new only")
FAILING = frozenset({"regressed", "missing"})


class BaselineError(ValueError):
    """A result that cannot be compared (not a check result, unknown metric, bad tolerance)."""


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def headline_metrics(
    result: Mapping[str, Any] | list[Any],
) -> tuple[dict[str, float | None], str | None, dict[str, Any]]:
    """``(metrics, verdict, about)`` of one result.

    ``result`` is a :func:`~embedview.core.checks.run_checks` dict (what ``embedview check``
    writes), a :class:`~embedview.core.timeline.Timeline` row, a whole ``Timeline.to_dict()`` or the
    list of rows ``embedview check RUN_FOLDER -o`` writes (its last step).  ``about`` says what
    was read: ``kind`` ("checks" or "timeline step"),
    ``n_items``, ``dim``, ``step``.
    """
    if isinstance(result, list) and result and all(isinstance(r, Mapping) and "step" in r for r in result):
        return headline_metrics(result[-1])  # `embedview check RUN_FOLDER -o` wrote the steps: the last one
    if not isinstance(result, Mapping):
        raise BaselineError(f"not a check result: a {type(result).__name__}")
    if isinstance(result.get("rows"), list) and "run" in result:  # a timeline: its last step
        if not result["rows"]:
            raise BaselineError("the timeline has no steps")
        row = result["rows"][-1]
        metrics, verdict, about = headline_metrics(row)
        about["run"] = result.get("run")
        return metrics, verdict, about
    if "step" in result and "effective_rank" in result:  # one timeline row
        metrics = {h.key: _num(result.get(h.key)) for h in HEADLINE}
        about = {"kind": "timeline step", "step": result.get("step"), "n_items": result.get("n_items"),
                 "dim": result.get("dim")}
        return metrics, (str(result["verdict"]) if result.get("verdict") else None), about
    collapse = result.get("collapse")
    if not isinstance(collapse, Mapping):
        raise BaselineError("not a check result: no 'collapse' diagnostics in it (write one with "
                            "`embedview check PATH -o metrics.json`)")
    knn = result.get("knn") or {}
    probe = result.get("linear_probe") or {}
    retrieval = result.get("retrieval") or {}
    metrics = {
        "effective_rank": _num(collapse.get("effective_rank")),
        "dims_90": _num(collapse.get("n_components_90")),
        "mean_pairwise_cosine": _num(collapse.get("cosine_mean")),
        "uniformity": _num(collapse.get("uniformity")),
        "alignment": _num(collapse.get("alignment")),
        "knn_accuracy": _num(knn.get("accuracy")),
        "linear_probe": _num(probe.get("accuracy_mean")),
        "retrieval_map": _num(retrieval.get("map")),
    }
    dataset = result.get("dataset") or {}
    about = {"kind": "checks", "n_items": dataset.get("n_items", collapse.get("n_items")),
             "dim": dataset.get("dim", collapse.get("dim"))}
    verdict = result.get("verdict") or collapse.get("verdict")
    return metrics, (str(verdict) if verdict else None), about


def _verdict_rank(verdict: str | None) -> int | None:
    return VERDICTS.index(verdict) if verdict in VERDICTS else None


class BaselineComparison:
    """Compare a new result's headline metrics with a baseline's.

    Parameters
    ----------
    tolerance : float
        How much worse than the baseline a metric may be (see the module's docstring: absolute
        units for accuracies and cosines, a fraction of the baseline for effective rank and
        directions for 90 %).
    tolerances : {metric: tolerance}, optional
        Per-metric tolerances replacing ``tolerance`` (same units).
    metrics : iterable of str, optional
        Compare only these headline metrics (default: every one measured on the baseline).

    Attributes (after :meth:`fit`)
    ------------------------------
    rows_ : list of dict, one per metric: ``metric``, ``title``, ``baseline``, ``new``,
        ``change`` (new - baseline), ``allowed`` (the most it may worsen, in the metric's units),
        ``better`` ("higher" / "lower"), ``tolerance`` and ``tolerance_kind``, ``status``.
        The verdict's row has ``metric`` "verdict".
    failed_ : list of the metrics that fail the gate; ``passed_`` : bool.
    notes_ : what the numbers may not show (different item counts, different kinds of result).
    """

    def __init__(self, tolerance: float = DEFAULT_TOLERANCE, tolerances: Mapping[str, float] | None = None,
                 metrics: Iterable[str] | None = None):
        self.tolerance = float(tolerance)
        self.tolerances = dict(tolerances or {})
        self.metrics = None if metrics is None else list(metrics)
        for name, value in [("tolerance", self.tolerance), *self.tolerances.items()]:
            if not math.isfinite(float(value)) or float(value) < 0:
                raise BaselineError(f"tolerance for {name} must be a number >= 0, not {value!r}")
        unknown = [m for m in self.tolerances if m not in HEADLINE_BY_KEY]
        unknown += [m for m in self.metrics or [] if m not in HEADLINE_BY_KEY and m != "verdict"]
        if unknown:
            raise BaselineError(f"unknown metric(s) {', '.join(sorted(set(unknown)))}; the headline metrics are "
                                f"{', '.join(HEADLINE_BY_KEY)} (and the verdict)")

    def fit(self, new: Mapping[str, Any], baseline: Mapping[str, Any]) -> BaselineComparison:
        new_m, new_v, new_about = headline_metrics(new)
        old_m, old_v, old_about = headline_metrics(baseline)
        wanted = [h for h in HEADLINE if self.metrics is None or h.key in self.metrics]
        rows: list[dict[str, Any]] = []
        for h in wanted:
            old, cur = old_m.get(h.key), new_m.get(h.key)
            if old is None and cur is None:
                continue
            tol = float(self.tolerances.get(h.key, self.tolerance))
            row: dict[str, Any] = {
                "metric": h.key, "title": h.title, "baseline": old, "new": cur, "change": None, "allowed": None,
                "better": "higher" if h.higher_is_better else "lower", "tolerance": tol,
                "tolerance_kind": "relative" if h.relative else "absolute",
            }
            if old is None:
                row["status"] = "new only"
            elif cur is None:
                row["status"] = "missing"
            else:
                allowed = tol * abs(old) if h.relative else tol
                change = cur - old
                worse_by = -change if h.higher_is_better else change
                row["change"] = change
                row["allowed"] = allowed
                eps = 1e-12 * max(1.0, abs(old))
                if worse_by > allowed + eps:
                    row["status"] = "regressed"
                elif worse_by < -allowed - eps:
                    row["status"] = "improved"
                elif worse_by > eps:
                    row["status"] = "within tolerance"
                else:
                    row["status"] = "ok"
            rows.append(row)
        if self.metrics is None or "verdict" in self.metrics:
            rows.append(self._verdict_row(old_v, new_v))
        notes = []
        if old_about.get("kind") != new_about.get("kind"):
            notes.append(f"the baseline is a {old_about.get('kind')} and the new result a {new_about.get('kind')}: "
                         "they may have been measured differently (a timeline samples items, a check uses all)")
        if old_about.get("n_items") != new_about.get("n_items"):
            notes.append(f"the baseline has {old_about.get('n_items')} items and the new result "
                         f"{new_about.get('n_items')}: the metrics describe different data")
        self.rows_ = rows
        self.failed_ = [r["metric"] for r in rows if r["status"] in FAILING]
        self.passed_ = not self.failed_
        self.notes_ = notes
        self.new_ = new_about
        self.baseline_ = old_about
        return self

    @staticmethod
    def _verdict_row(old: str | None, new: str | None) -> dict[str, Any]:
        a, b = _verdict_rank(old), _verdict_rank(new)
        if a is None and b is None:
            status = "ok" if old == new else "missing"
        elif b is None:
            status = "missing"
        elif a is None or b < a:
            status = "improved"
        elif b > a:
            status = "regressed"
        else:
            status = "ok"
        return {"metric": "verdict", "title": "collapse verdict", "baseline": old, "new": new, "change": None,
                "allowed": "no worse", "better": "healthy", "tolerance": None, "tolerance_kind": "order",
                "status": status}

    def table_rows(self) -> list[list[str]]:
        """The rows as text: metric, baseline, new, change, allowed, status."""
        out = []
        for r in self.rows_:
            if r["metric"] == "verdict":
                out.append(["verdict", str(r["baseline"]), str(r["new"]), "", "no worse", r["status"]])
                continue
            allowed = ""
            if r["allowed"] is not None:
                sign = "-" if r["better"] == "higher" else "+"
                allowed = f"{sign}{r['allowed']:.4g}"
                if r["tolerance_kind"] == "relative":
                    allowed += f" ({100 * r['tolerance']:g}%)"
            change = "" if r["change"] is None else f"{r['change']:+.4g}"
            out.append([r["metric"], _fmt(r["baseline"]), _fmt(r["new"]), change, allowed, r["status"]])
        return out

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON for dashboards."""
        return {
            "passed": bool(self.passed_),
            "failed": list(self.failed_),
            "rows": [dict(r) for r in self.rows_],
            "notes": list(self.notes_),
            "new": dict(self.new_),
            "baseline": dict(self.baseline_),
            "how": {
                "absolute": "the new value may be worse than the baseline by at most the tolerance, in the metric's "
                            "units",
                "relative": "the new value may be worse by at most tolerance x the baseline's value",
                "verdict": "fails when the collapse verdict is worse (healthy < dimensional collapse < complete "
                           "collapse)",
                "missing": "a metric measured on the baseline but not on the new result fails",
            },
        }


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


__all__ = ["DEFAULT_TOLERANCE", "FAILING", "HEADLINE", "HEADLINE_BY_KEY", "BaselineComparison", "BaselineError",
           "Headline", "headline_metrics"]
