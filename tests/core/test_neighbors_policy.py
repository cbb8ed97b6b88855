"""The approximate-index policy of NeighborIndex, measured for real (faiss, no mocks).

The index is used only when, on held-out items, its recall@10 against exact search reaches the
target and it is faster per query; otherwise exact search answers and ``reason_`` says why.  The
sizes are small (thresholds lowered through parameters) so each test takes seconds.
"""

import numpy as np
import pytest

from embedview.core.neighbors import NeighborIndex, topk
from embedview.core.progress import Cancelled, TaskState

pytest.importorskip("faiss")


def clustered(n, d, n_clusters, seed=0, spread=0.5):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d))
    labels = rng.integers(0, n_clusters, n)
    return (centres[labels] + spread * rng.standard_normal((n, d))).astype(np.float32)


def true_recall(X, idx, sel, metric="cosine"):
    """recall@k of ``idx`` (neighbours of items ``sel``) against a float64 brute force, ties counted."""
    X = X.astype(np.float64)
    if metric == "cosine":
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        S = X[sel] @ X.T
    else:
        S = -np.linalg.norm(X[sel][:, None, :] - X[None, :, :], axis=2)
    S[np.arange(len(sel)), sel] = -np.inf
    k = idx.shape[1]
    kth = -np.sort(-S, axis=1)[:, k - 1 : k]
    return float(np.mean(np.take_along_axis(S, idx, axis=1) >= kth - 1e-6))


@pytest.fixture(scope="module")
def clustered_index():
    X = clustered(20_000, 64, 100, seed=4)
    # forced (approximate=True) so that the tuning always runs to the target: whether the index is
    # *faster* is a wall-clock question this shared machine answers differently from run to run;
    # test_the_auto_decision_follows_its_measurements checks that part against its own numbers
    return X, NeighborIndex(threshold=5_000, n_recall_queries=500, approximate=True).fit(X)


def test_the_auto_decision_follows_its_measurements():
    X = clustered(20_000, 64, 100, seed=4)
    index = NeighborIndex(threshold=5_000, n_recall_queries=500).fit(X)
    build_ms = 1000 * index.build_seconds_ / len(X)
    reached = index.approx_recall_at_10_ >= 0.95
    faster = index.approx_ms_per_query_ + build_ms < index.exact_ms_per_query_
    assert index.approximate_ is (reached and faster), index.reason_
    if index.approximate_:
        assert index.decision_ == "ivf" and index.recall_at_10_ == index.approx_recall_at_10_ >= 0.95
    else:  # exact answers, and says which of the two conditions failed
        assert index.decision_ == "exact" and index.recall_at_10_ == 1.0 and index._index is None
        assert ("not faster" in index.reason_) if reached else ("only" in index.reason_)


def test_clustered_vectors_tune_the_index_to_the_target_and_its_recall_is_true(clustered_index):
    X, index = clustered_index
    assert index.decision_ == "ivf" and index.approximate_ is True
    assert index.recall_at_10_ >= 0.95 and index.recall_at_10_ == index.approx_recall_at_10_
    assert index.n_recall_queries_ == 500 and index.build_seconds_ > 0
    assert index.params_["nlist"] == min(round(4 * np.sqrt(len(X))), len(X) // 39)
    assert 1 <= index.params_["nprobe"] <= index.params_["nlist"]
    # the tuning chose the narrowest search it tried that reaches the target
    reached = [t["nprobe"] for t in index.trials_ if t["recall_at_10"] >= 0.95]
    assert min(reached) == index.params_["nprobe"]
    assert all(t["recall_at_10"] < 0.95 for t in index.trials_ if t["nprobe"] < index.params_["nprobe"])
    assert "IVF" in index.reason_ and f"{index.recall_at_10_:.3f}" in index.reason_ and "500" in index.reason_
    # independent check on other items, against float64 brute force: the number shown is honest
    sel = np.random.default_rng(99).choice(len(X), 300, replace=False)
    idx, scores = index.kneighbors(10, indices=sel)
    recall = true_recall(X, idx, sel)
    assert recall >= 0.93 and abs(recall - index.recall_at_10_) < 0.04
    assert not np.any(idx == sel[:, None])
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(scores, np.einsum("id,ikd->ik", Xn[sel], Xn[idx]), atol=1e-5)
    assert "approximate (IVF)" in index.summary and "500" in index.summary
    d = index.to_dict()
    assert d["decision"] == "ivf" and d["n_recall_queries"] == 500 and d["trials"]


def test_random_vectors_fall_back_to_exact_search():
    # uniform directions in 128-d have no cells to exploit: the index is slower than exact search
    # before it reaches 0.95, so exact search answers, and the measured numbers are kept
    X = np.random.default_rng(1).standard_normal((10_000, 128)).astype(np.float32)
    index = NeighborIndex(threshold=2_000, n_recall_queries=400).fit(X)
    assert index.decision_ == "exact" and index.approximate_ is False and index._index is None
    assert index.recall_at_10_ == 1.0
    assert index.approx_recall_at_10_ is not None and index.trials_
    last = index.trials_[-1]
    assert last["recall_at_10"] < 0.95 or last["ms_per_query"] >= index.exact_ms_per_query_
    assert index.reason_.startswith("Exact search:") and "IVF" in index.reason_
    idx, scores = index.kneighbors(10, indices=np.arange(50))
    ref = topk(X, 10, queries=np.arange(50))
    assert np.array_equal(idx, ref[0]) and np.array_equal(scores, ref[1])
    assert index.summary == "exact"


def test_below_the_threshold_nothing_is_built():
    X = clustered(3_000, 16, 10)
    index = NeighborIndex().fit(X)
    assert index.decision_ == "exact" and index.trials_ == [] and index.exact_ms_per_query_ is None
    assert "3,000 items" in index.reason_
    off = NeighborIndex(approximate=False, threshold=10).fit(X)
    assert off.decision_ == "exact" and "switched off" in off.reason_


def test_forced_index_is_used_and_its_recall_measured_even_when_slow():
    X = np.random.default_rng(2).standard_normal((4_000, 32)).astype(np.float32)
    index = NeighborIndex(metric="euclidean", approximate=True, n_recall_queries=300).fit(X)
    assert index.approximate_ is True and index.decision_ == "ivf"
    sel = np.arange(0, 4_000, 20)
    idx, dists = index.kneighbors(10, indices=sel)
    # distances are true L2 distances, and the recall shown matches an independent measurement
    np.testing.assert_allclose(dists, np.linalg.norm(X[sel][:, None, :] - X[idx], axis=2), rtol=1e-3, atol=1e-4)
    assert abs(true_recall(X, idx, sel, "euclidean") - index.recall_at_10_) < 0.06


def test_hnsw_is_tuned_the_same_way():
    X = clustered(6_000, 32, 30, seed=3)
    index = NeighborIndex(method="hnsw", threshold=1_000, M=16, n_recall_queries=300).fit(X)
    assert index.decision_ in ("hnsw", "exact")
    assert index.params_["ef_search"] >= 16 and index.approx_recall_at_10_ is not None
    if index.approximate_:
        assert index.recall_at_10_ >= 0.95
        sel = np.arange(0, 6_000, 30)
        idx, _ = index.kneighbors(10, indices=sel)
        assert true_recall(X, idx, sel) >= 0.9
    else:
        assert "HNSW" in index.reason_


def test_lower_target_stops_earlier_and_query_vectors_work(clustered_index):
    X, strict = clustered_index
    loose = NeighborIndex(threshold=5_000, n_recall_queries=500, target_recall=0.5, approximate=True).fit(X)
    assert loose.approximate_ and loose.params_["nprobe"] <= strict.params_["nprobe"]
    assert loose.recall_at_10_ >= 0.5
    qi, _ = strict.query(X[:5] + 1e-4, 3)
    assert qi[:, 0].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        NeighborIndex(method="annoy")
    with pytest.raises(ValueError):
        NeighborIndex(target_recall=0)


def test_fit_can_be_cancelled():
    task = TaskState()
    seen = []
    task.callback = lambda f, msg: (seen.append(msg), task.cancel() if "Building" in msg else None)
    with pytest.raises(Cancelled):
        NeighborIndex(threshold=1_000, n_recall_queries=200).fit(clustered(12_000, 8, 20), progress=task)
    assert any("Building" in m for m in seen)


def test_neighbors_of_goes_through_an_index_that_chose_approximate(clustered_index):
    from embedview.core.dataset import Dataset
    from embedview.core.embeddings import EmbeddingSet
    from embedview.core.search import build_neighbor_index, neighbors_of

    X, _ = clustered_index
    ds = Dataset("embedding", ids=[str(i) for i in range(len(X))], sources=["x.npy"] * len(X), embeddings=X)
    emb = EmbeddingSet.from_dataset(ds)
    index = build_neighbor_index(emb, threshold=5_000, n_recall_queries=300, approximate=True)  # tuned, not timed
    assert index.approximate_ and index.n_recall_queries_ == 300
    hits = neighbors_of(emb, 11, 10, "cosine", neighbor_index=index)
    assert hits.approximate and hits.method == "ivf" and hits.recall_at_10 == index.recall_at_10_
    assert hits.recall_queries == 300 and 11 not in hits.indices.tolist()
    exact = neighbors_of(emb, 11, 10, "cosine")
    assert not exact.approximate and exact.recall_at_10 is None
    assert len(set(hits.indices.tolist()) & set(exact.indices.tolist())) >= 8
    # another metric than the index's: exact search
    assert not neighbors_of(emb, 11, 10, "euclidean", neighbor_index=index).approximate
    # the window's index is timed one query at a time
    assert index.workload == "single" and index.exact_ms_single_ > 0 and index.approx_ms_single_ > 0
    assert "one query at a time" in index.reason_
