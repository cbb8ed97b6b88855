"""Exact and approximate neighbours against brute-force references (numpy float64, scipy)."""

import tracemalloc

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits

from embedview.core.neighbors import NeighborIndex, block_rows, knn_for_umap, similarity_matrix, topk
from embedview.core.progress import Cancelled, TaskState


@pytest.fixture(scope="module")
def digits():
    return load_digits().data.astype(np.float32)


def clustered(n, d, n_clusters, seed=0, spread=0.3):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d))
    labels = rng.integers(0, n_clusters, n)
    return (centres[labels] + spread * rng.standard_normal((n, d))).astype(np.float32)


def brute(X, metric, k, queries=None, exclude_self=True):
    """Full float64 matrix + stable argsort: (indices, scores, full score matrix)."""
    X = X.astype(np.float64)
    Q = X if queries is None else queries.astype(np.float64)
    if metric == "cosine":
        Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        Qn = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-12)
        R = -(Qn @ Xn.T)
    elif metric == "dot":
        R = -(Q @ X.T)
    else:
        R = cdist(Q, X)
    if exclude_self:
        np.fill_diagonal(R, np.inf)
    order = np.argsort(R, axis=1, kind="stable")[:, :k]
    scores = np.take_along_axis(R, order, axis=1)
    return order, (scores if metric == "euclidean" else -scores), R


def assert_same_neighbours(idx, scores, ref_idx, ref_scores, R, tol):
    """Scores equal within tol; indices equal wherever the reference has no near tie."""
    np.testing.assert_allclose(scores, ref_scores, atol=tol, rtol=1e-5)
    k = ref_idx.shape[1]
    sorted_R = np.sort(R, axis=1)[:, : k + 1]
    gaps = np.diff(sorted_R, axis=1)  # gap after each rank
    before = np.concatenate([np.full((len(R), 1), np.inf), gaps[:, : k - 1]], axis=1)
    unambiguous = (gaps[:, :k] > tol) & (before > tol)
    assert unambiguous.mean() > 0.5  # the comparison below is not vacuous
    assert np.array_equal(idx[unambiguous], ref_idx[unambiguous])


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_topk_matches_bruteforce_on_digits(digits, metric):
    ref_idx, ref_scores, R = brute(digits, metric, 10)
    idx, scores = topk(digits, 10, metric=metric)
    assert idx.dtype == np.int64 and scores.dtype == np.float32 and idx.shape == (len(digits), 10)
    assert not np.any(idx == np.arange(len(digits))[:, None])
    tol = {"cosine": 1e-5, "dot": 1e-2, "euclidean": 1e-3}[metric]
    assert_same_neighbours(idx, scores, ref_idx, ref_scores, R, tol)
    ordered = np.diff(scores, axis=1)
    assert np.all(ordered >= -1e-6) if metric == "euclidean" else np.all(ordered <= 1e-6)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("n", [40, 3000])  # 40: plain-sort path; 3000: bounded-selection path
def test_topk_matches_bruteforce_on_random(metric, n):
    X = np.random.default_rng(1).standard_normal((n, 24)).astype(np.float32)
    ref_idx, ref_scores, R = brute(X, metric, 7)
    idx, scores = topk(X, 7, metric=metric)
    assert_same_neighbours(idx, scores, ref_idx, ref_scores, R, 1e-4)


def test_block_size_does_not_change_results(digits):
    for metric in ("cosine", "euclidean"):
        small = topk(digits, 10, metric=metric, memory_budget_mb=0.001)  # one query per block
        large = topk(digits, 10, metric=metric, memory_budget_mb=1024)  # one block
        np.testing.assert_allclose(small[1], large[1], atol=1e-5)
        ref_idx, ref_scores, R = brute(digits, metric, 10)
        assert_same_neighbours(small[0], small[1], large[0], large[1], R, 1e-4)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_memory_budget_is_respected(metric):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((6000, 32)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    budget_mb = 1.0
    assert block_rows(6000, budget_mb) < 6000
    tracemalloc.start()
    try:
        idx, scores = topk(X, 5, metric=metric, memory_budget_mb=budget_mb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    outputs = idx.nbytes + scores.nbytes
    full_matrix = 6000 * 6000 * 4
    assert peak <= budget_mb * 2**20 + outputs + 200_000, peak
    assert peak < full_matrix / 50


def test_queries_as_indices_and_as_vectors(digits):
    full_idx, full_scores = topk(digits, 5)
    sel = np.array([3, 17, 400, 1796])
    idx, scores = topk(digits, 5, queries=sel)
    assert np.array_equal(idx, full_idx[sel])
    np.testing.assert_allclose(scores, full_scores[sel], atol=1e-6)
    # external vectors: nothing excluded, so a copy of item i finds i itself first
    unique_rows = np.unique(digits, axis=0, return_index=True)[1]
    sel = np.array([i for i in sel if i in set(unique_rows)])
    idx, scores = topk(digits, 5, queries=digits[sel] * 3.0, metric="cosine")
    assert np.array_equal(idx[:, 0], sel)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="dimension"):
        topk(digits, 5, queries=np.ones((2, 3)))


def test_edge_cases():
    X = np.random.default_rng(3).standard_normal((6, 4)).astype(np.float32)
    idx, scores = topk(X, 50)  # k >= N: every other item, sorted
    assert idx.shape == (6, 5)
    for i, row in enumerate(idx):
        assert sorted(row) == [j for j in range(6) if j != i]
    idx, scores = topk(X[:1], 10)  # N = 1
    assert idx.shape == (1, 0) and scores.shape == (1, 0)
    idx, scores = topk(X[:1], 10, exclude_self=False)
    assert idx.tolist() == [[0]]
    # zero vectors: cosine 0 to everything, never NaN
    Z = np.vstack([np.zeros((2, 4), np.float32), X])
    idx, scores = topk(Z, 3)
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores[:2], 0.0, atol=1e-7)
    # duplicated rows find each other at similarity 1 / distance 0
    D = np.vstack([X, X[2:3], X[2:3]])
    idx, scores = topk(D, 2)
    assert sorted(idx[2].tolist()) == [6, 7] and np.allclose(scores[2], 1.0, atol=1e-6)
    idx, scores = topk(D, 2, metric="euclidean")
    assert sorted(idx[6].tolist()) == [2, 7] and np.all(scores[6] == 0.0)
    # all identical vectors: ties broken by the lower index
    idx, scores = topk(np.ones((300, 8), np.float32), 4)
    assert idx[0].tolist() == [1, 2, 3, 4] and idx[5].tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="NaN"):
        topk(np.array([[1.0, np.nan], [0.0, 1.0]]), 1)
    with pytest.raises(ValueError, match="metric"):
        topk(X, 1, metric="manhattan")


def test_progress_and_cancellation(digits):
    seen = []
    topk(digits, 5, memory_budget_mb=0.1, progress=lambda f, msg: seen.append(f))
    assert len(seen) > 1 and seen[-1] == 1.0 and seen == sorted(seen)
    task = TaskState()
    task.cancel()
    with pytest.raises(Cancelled):
        topk(digits, 5, memory_budget_mb=0.1, progress=task)


def test_exact_index_matches_topk(digits):
    index = NeighborIndex(metric="euclidean").fit(digits)
    assert index.approximate_ is False and index.recall_at_10_ == 1.0 and index.decision_ == "exact"
    assert "Exact search" in index.reason_ and index.build_seconds_ == 0
    idx, scores = index.kneighbors(6)
    ref = topk(digits, 6, metric="euclidean")
    assert np.array_equal(idx, ref[0]) and np.array_equal(scores, ref[1])
    q_idx, _ = index.query(digits[:3], 1)
    assert q_idx[:, 0].tolist() == [0, 1, 2]


def test_similarity_matrix(digits):
    sel = np.arange(0, 200, 7)
    S = similarity_matrix(digits, sel)
    Xn = digits[sel] / np.linalg.norm(digits[sel], axis=1, keepdims=True)
    np.testing.assert_allclose(S, Xn @ Xn.T, atol=1e-5)
    E = similarity_matrix(digits, sel, metric="euclidean")
    np.testing.assert_allclose(E, cdist(digits[sel], digits[sel]), atol=1e-2)
    with pytest.raises(ValueError, match="too large"):
        similarity_matrix(digits, max_items=100)


def test_knn_for_umap_layout(digits):
    knn_idx, knn_dist = knn_for_umap(digits, 8)
    assert knn_idx.shape == (len(digits), 8) and knn_dist.dtype == np.float32
    assert np.array_equal(knn_idx[:, 0], np.arange(len(digits)))
    assert np.all(knn_dist[:, 0] == 0) and np.all(knn_dist >= 0)
    assert np.all(np.diff(knn_dist, axis=1) >= -1e-6)
    idx, sims = topk(digits, 7)
    assert np.array_equal(knn_idx[:, 1:], idx)
    np.testing.assert_allclose(knn_dist[:, 1:], 1 - sims, atol=1e-6)
    with pytest.raises(ValueError):
        knn_for_umap(digits, 5, metric="dot")
