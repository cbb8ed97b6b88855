"""The metrics table: one row per measure, one column per encoder, read off :func:`run_checks` results.

Shared by the HTML report (:mod:`embedview.core.report`) and the GUI's Compare and Collapse views,
so the three show the same measures under the same names with the same rounding.  Cells are plain
text (the report escapes them for HTML; a Qt table shows them as they are); a measure that does
not apply to a result (a check that was skipped) reads :data:`MISSING`.

:func:`metric_rows` gives ``(row title, cell function)`` pairs where a ``None`` function starts a
group of rows; :func:`table_rows` fills them for several results and leaves out the rows (and
groups) that have nothing to show.

Names say exactly what is measured: "effective rank (centred)" is the entropy rank of the centred
matrix (the collapse verdict uses it), "RankMe" the same on the raw matrix as Garrido et al.
published it; "Hit rate@K" is the share of queries with a relevant item in the top K (what
metric-learning papers call Recall@K), "Recall@K" the share of each query's relevant items
found in the top K.

(Results are the nested dicts of :func:`embedview.core.checks.run_checks`; :func:`get_path`
reads them without a ``KeyError`` for checks that did not run.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: what a cell shows for a measure that does not apply
MISSING = "\u2013"

Result = Mapping[str, Any]
Cell = Callable[[Result], str]


def get_path(d: Any, *keys: Any) -> Any:
    """``d[k1][k2]...`` or ``None`` where a key is missing (results of run_checks are nested dicts)."""
    for key in keys:
        if not isinstance(d, Mapping) or key not in d:
            return None
        d = d[key]
    return d


def fmt_value(value: Any, digits: int = 3) -> str:
    """One cell: ``None`` / NaN -> :data:`MISSING`, ints with thousands separators, floats rounded."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return MISSING if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def fmt_pm(result: Result, section: str, mean: str, std: str) -> str:
    """``mean \u00b1 std`` of two fields of one section of a checks result."""
    m, s = get_path(result, section, mean), get_path(result, section, std)
    return fmt_value(m) if m is None or s is None else f"{fmt_value(m)} \u00b1 {fmt_value(s)}"


def _field(*keys: Any, digits: int = 3) -> Cell:
    return lambda r: fmt_value(get_path(r, *keys), digits)


def _dead_dims(r: Result) -> str:
    return f'{fmt_value(get_path(r, "collapse", "dead_dims"))} / {fmt_value(get_path(r, "collapse", "dim"))}'


def metric_rows(k: int) -> list[tuple[str, Cell | None]]:
    """The rows of the table: ``(row title, cell function of a run_checks result)``; a ``None``
    function starts a group of rows.  ``k``: the neighbours the checks were run with (in titles)."""
    return [
        ("Collapse", None),
        ("verdict", lambda r: fmt_value(r.get("verdict"))),
        ("effective rank (centred)", _field("collapse", "effective_rank", digits=1)),
        ("RankMe (raw matrix)", _field("collapse", "rankme", digits=1)),
        ("directions for 90% of variance", _field("collapse", "n_components_90")),
        ("participation ratio", _field("collapse", "participation_ratio", digits=1)),
        ("dead dimensions", _dead_dims),
        ("pairwise cosine (mean \u00b1 std)", lambda r: fmt_pm(r, "collapse", "cosine_mean", "cosine_std")),
        ("hubness (k-occurrence skew)", _field("collapse", "hubness", digits=2)),
        ("uniformity (lower is more uniform)", _field("collapse", "uniformity", digits=2)),
        ("Labels", None),
        (f"kNN accuracy (k={k}, majority)", _field("knn", "accuracy")),
        (f"kNN accuracy (k={k}, distance-weighted)", _field("knn_weighted", "accuracy")),
        ("linear probe accuracy", lambda r: fmt_pm(r, "linear_probe", "accuracy_mean", "accuracy_std")),
        ("linear probe macro-F1", lambda r: fmt_pm(r, "linear_probe", "macro_f1_mean", "macro_f1_std")),
        ("k-means NMI", _field("clustering", "nmi")),
        ("k-means ARI", _field("clustering", "ari")),
        ("silhouette of the labels", _field("clustering", "silhouette")),
        ("Hit rate@1", _field("retrieval", "hit_rate_at", "1")),
        (f"Hit rate@{k}", _field("retrieval", "hit_rate_at", str(k))),
        (f"Recall@{k}", _field("retrieval", "recall_at", str(k))),
        ("mAP", _field("retrieval", "map")),
        ("Duplicates and outliers", None),
        ("duplicate groups", _field("duplicates", "n_groups")),
        ("duplicate threshold (cosine)", _field("duplicates", "threshold")),
        ("mean outlier score", _field("outliers", "score_mean")),
        ("map trustworthiness", _field("map", "trustworthiness")),
    ]


#: what a row measures, by the start of its title (the report's and the views' tooltips)
ROW_HELP: tuple[tuple[str, str], ...] = (
    ("effective rank (centred)", "exp(entropy) of the normalised singular values of the mean-centred vectors; "
                                 "the collapse verdict uses it"),
    ("RankMe", "RankMe as published (Garrido et al. 2023): the same entropy on the raw, uncentred vectors; "
               "a shared offset lowers it"),
    ("Hit rate@", "share of queries with at least one relevant item in the top K "
                  "(what metric-learning papers call Recall@K)"),
    ("Recall@", "mean over queries of the share of their relevant items found in the top K"),
    ("mAP", "mean over queries of the average precision over the full ranking"),
    ("k-means", "k-means with k = the number of labels, best of 10 starts"),
)


def row_help(title: str) -> str:
    """What the row ``title`` measures ("" when the title says it all)."""
    return next((text for start, text in ROW_HELP if title.startswith(start)), "")


def table_rows(results: Mapping[str, Result], k: int,
               names: Sequence[str] | None = None) -> list[tuple[str, list[str] | None]]:
    """The filled table: ``(title, [one cell per name])`` rows and ``(group title, None)`` headers.

    Rows where every cell is :data:`MISSING` are left out, and so are group headers with no row
    left under them.  ``names``: the columns, in order (default: every result, in order).
    """
    names = list(results) if names is None else list(names)
    rows: list[tuple[str, list[str] | None]] = []
    for title, cell in metric_rows(k):
        if cell is None:
            rows.append((title, None))
            continue
        cells = [cell(results[n]) for n in names]
        if any(c != MISSING for c in cells):
            rows.append((title, cells))
    return [row for i, row in enumerate(rows)
            if row[1] is not None or (i + 1 < len(rows) and rows[i + 1][1] is not None)]
