"""The metrics table shared by the report and the Compare / Collapse views."""

from __future__ import annotations

from embedview.core.metric_table import MISSING, fmt_value, get_path, metric_rows, table_rows

RESULT = {
    "verdict": "healthy",
    "collapse": {"effective_rank": 31.25, "dead_dims": 2, "dim": 64, "cosine_mean": 0.1, "cosine_std": 0.05},
    "knn": {"accuracy": 0.9512},
    "retrieval": {"recall_at": {"1": 0.5, "10": 0.75}},
}


def test_get_path_reads_nested_results_without_key_errors():
    assert get_path(RESULT, "retrieval", "recall_at", "10") == 0.75
    assert get_path(RESULT, "linear_probe", "accuracy_mean") is None
    assert get_path(RESULT, "verdict", "deeper") is None


def test_cells_are_plain_text():
    assert fmt_value(None) == MISSING and fmt_value(float("nan")) == MISSING
    assert fmt_value(12345) == "12,345" and fmt_value(0.12345) == "0.123" and fmt_value(True) == "yes"
    cells = {title: cell(RESULT) for title, cell in metric_rows(10) if cell is not None}
    assert cells["verdict"] == "healthy"
    assert cells["effective rank (centred)"] == "31.2"
    assert cells["dead dimensions"] == "2 / 64"
    assert cells["pairwise cosine (mean \u00b1 std)"] == "0.100 \u00b1 0.050"
    assert cells["kNN accuracy (k=10, majority)"] == "0.951"
    assert cells["Recall@10"] == "0.750"
    assert cells["linear probe accuracy"] == MISSING
    assert fmt_value("<b>") == "<b>"  # escaping is the HTML report's job


def test_table_rows_leave_out_empty_rows_and_groups():
    other = {"verdict": "complete collapse", "collapse": {"effective_rank": 1.0}}
    rows = table_rows({"a": RESULT, "b": other}, 10)
    titles = [t for t, _ in rows]
    assert titles[0] == "Collapse" and rows[0][1] is None
    assert dict(rows)["verdict"] == ["healthy", "complete collapse"]
    assert "linear probe accuracy" not in titles  # no result has it
    assert "Duplicates and outliers" not in titles  # a group with nothing under it
    assert "Labels" in titles and dict(rows)["kNN accuracy (k=10, majority)"] == ["0.951", MISSING]
    assert [t for t, _ in table_rows({"b": other, "a": RESULT}, 10, names=["a"])] == titles
