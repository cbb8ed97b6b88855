"""core.baseline: the CI gate on real check results of scikit-learn's digits (no mocks)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.baseline import HEADLINE_BY_KEY, BaselineComparison, BaselineError, headline_metrics
from embedview.core.checks import run_checks
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet

N = 400


def _emb(X: np.ndarray, y: np.ndarray) -> EmbeddingSet:
    ds = Dataset(modality="embedding", ids=[str(i) for i in range(len(X))], sources=["digits"] * len(X),
                 labels=np.array([str(v) for v in y], dtype=object), embeddings=X.astype(np.float32))
    return EmbeddingSet.from_dataset(ds)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data[:N].astype(np.float32), d.target[:N]


@pytest.fixture(scope="module")
def results(digits):
    """Check results (collapse + kNN) of the digits and of a rank-2 projection of them."""
    X, y = digits
    Xc = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    low = Xc @ vt[:2].T @ vt[:2] + X.mean(axis=0)  # the same items squeezed onto two directions
    base = run_checks(_emb(X, y), k=10, include=("knn",))
    same = run_checks(_emb(X.copy(), y), k=10, include=("knn",))
    degraded = run_checks(_emb(low, y), k=10, include=("knn",))
    return base, same, degraded


def test_the_same_vectors_pass_the_gate(results):
    base, same, _ = results
    gate = BaselineComparison().fit(same, base)
    assert gate.passed_ and gate.failed_ == []
    statuses = {r["metric"]: r["status"] for r in gate.rows_}
    assert statuses["knn_accuracy"] == "ok" and statuses["effective_rank"] == "ok" and statuses["verdict"] == "ok"
    assert json.loads(json.dumps(gate.to_dict()))["passed"] is True


def test_a_low_rank_projection_fails_the_gate(results):
    base, _, degraded = results
    gate = BaselineComparison(tolerance=0.02).fit(degraded, base)
    assert not gate.passed_
    rows = {r["metric"]: r for r in gate.rows_}
    rank = rows["effective_rank"]
    assert rank["status"] == "regressed" and rank["tolerance_kind"] == "relative"
    assert rank["allowed"] == pytest.approx(0.02 * rank["baseline"])  # 2 % of the baseline's rank
    assert rank["new"] < 3 < rank["baseline"]
    knn = rows["knn_accuracy"]
    assert knn["status"] == "regressed" and knn["change"] < -0.02 and knn["allowed"] == 0.02
    assert {"effective_rank", "dims_90", "knn_accuracy"} <= set(gate.failed_)
    # the other way round the projection is the baseline: every change is an improvement, nothing fails
    back = BaselineComparison().fit(base, degraded)
    assert back.passed_
    assert {r["metric"]: r["status"] for r in back.rows_}["knn_accuracy"] == "improved"


def test_tolerances_per_metric_and_a_metric_subset(results):
    base, _, degraded = results
    drop = base["knn"]["accuracy"] - degraded["knn"]["accuracy"]
    loose = BaselineComparison(tolerances={"knn_accuracy": drop + 0.01}, metrics=["knn_accuracy"]).fit(degraded, base)
    assert loose.passed_ and [r["metric"] for r in loose.rows_] == ["knn_accuracy"]
    assert loose.rows_[0]["status"] == "within tolerance"
    tight = BaselineComparison(tolerances={"knn_accuracy": drop - 0.01}, metrics=["knn_accuracy"]).fit(degraded, base)
    assert tight.failed_ == ["knn_accuracy"]


def test_a_metric_missing_from_the_new_result_fails(results, digits):
    base, _, _ = results
    X, _ = digits
    unlabelled = run_checks(EmbeddingSet.from_dataset(Dataset(
        modality="embedding", ids=[str(i) for i in range(len(X))], sources=["d"] * len(X), embeddings=X)),
        k=10, include=("knn",))
    gate = BaselineComparison().fit(unlabelled, base)
    assert gate.failed_ == ["knn_accuracy"]
    assert {r["metric"]: r["status"] for r in gate.rows_}["knn_accuracy"] == "missing"
    # measured on the new result only: shown, never failing
    assert BaselineComparison().fit(base, unlabelled).passed_


def test_a_worse_verdict_fails_even_within_the_tolerances():
    row = {"step": 5, "verdict": "healthy", "effective_rank": 10.0, "dims_90": 6, "knn_accuracy": 0.9}
    worse = dict(row, step=6, verdict="dimensional collapse")
    gate = BaselineComparison(tolerance=1.0).fit(worse, row)
    assert gate.failed_ == ["verdict"]
    assert BaselineComparison().fit(row, worse).passed_


def test_headline_metrics_of_a_timeline_document_is_its_last_step():
    doc = {"run": "runs/a", "rows": [
        {"step": 0, "verdict": "healthy", "effective_rank": 9.0, "dims_90": 5, "n_items": 50},
        {"step": 100, "verdict": "complete collapse", "effective_rank": 1.0, "dims_90": 1, "n_items": 50}]}
    metrics, verdict, about = headline_metrics(doc)
    assert metrics["effective_rank"] == 1.0 and verdict == "complete collapse"
    assert about["step"] == 100 and about["run"] == "runs/a"
    assert set(metrics) == set(HEADLINE_BY_KEY)


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(BaselineError, match="no 'collapse'"):
        headline_metrics({"passed": True, "rows": []})
    with pytest.raises(BaselineError, match="unknown metric"):
        BaselineComparison(tolerances={"accuracy": 0.1})
    with pytest.raises(BaselineError, match=">= 0"):
        BaselineComparison(tolerance=-0.1)
    with pytest.raises(BaselineError, match="no steps"):
        headline_metrics({"run": "x", "rows": []})
