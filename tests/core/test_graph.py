"""The neighbour graph: searched once, kept in the cache, reused by the commands and the analyses.

Real vectors (scikit-learn's digits) and clustered synthetic ones; a "search" is detected through
the real progress messages of the search ("Nearest neighbours: block ..." from ``topk``), not mocks.
"""

import gc
import re

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.cli import main
from embedview.core.cache import EmbeddingCache
from embedview.core.duplicates import DuplicateFinder
from embedview.core.evaluation import KNNAccuracy, OutlierScores
from embedview.core.graph import knn_graph, source_of, vectors_fingerprint
from embedview.core.neighbors import knn_for_umap, topk
from embedview.core.progress import TaskState


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data.astype(np.float32), d.target


def clustered(n=3000, d=32, n_clusters=30, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d))
    labels = rng.integers(0, n_clusters, n)
    return (centres[labels] + 0.3 * rng.standard_normal((n, d))).astype(np.float32), labels


class Messages:
    """Every progress message of a call (no throttling)."""

    def __init__(self):
        self.messages = []
        self.task = TaskState(lambda f, m: self.messages.append(m), min_interval=0)

    @property
    def searched(self):
        return any(m.startswith("Nearest neighbours: block") for m in self.messages)


def same_neighbours(idx_a, sc_a, idx_b, sc_b, higher=True):
    """Equal scores; equal indices except where a score is tied with another in its row."""
    np.testing.assert_allclose(sc_a, sc_b, rtol=0, atol=2e-6)
    differ = idx_a != idx_b
    for r, c in zip(*np.nonzero(differ), strict=True):  # only a tie may swap two items
        assert np.sum(np.abs(sc_a[r] - sc_a[r, c]) < 2e-6) >= 2, (r, c)
    assert differ.mean() < 0.01


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_graph_equals_fresh_topk_then_loads_without_search(digits, tmp_path, metric):
    X, _ = digits
    first = Messages()
    g = knn_graph(X, 10, metric, cache=tmp_path, progress=first.task)
    assert first.searched and g.origin == "searched" and g.exact
    assert g.k == 15 and g.n_items == len(X)  # stored for the usual consumers
    assert g.indices.dtype == np.int32 and g.scores.dtype == np.float32
    ref_i, ref_s = topk(X, 15, metric=metric)
    np.testing.assert_array_equal(g.indices, ref_i)
    np.testing.assert_array_equal(g.scores, ref_s)
    del g
    gc.collect()
    second = Messages()
    g2 = knn_graph(X.copy(), 10, metric, cache=tmp_path, progress=second.task)  # same values, new array
    assert not second.searched and g2.origin == "cache"
    np.testing.assert_array_equal(g2.indices, ref_i)
    np.testing.assert_array_equal(g2.scores, ref_s)
    assert "loaded from the cache" in g2.summary and "no new search" in g2.summary


def test_clustered_graph_and_memory_reuse(tmp_path):
    X, _ = clustered()
    g = knn_graph(X, 12, "cosine", cache=tmp_path)
    ref_i, ref_s = topk(X, 15, metric="cosine")
    same_neighbours(g.indices, g.scores, ref_i, ref_s)
    again = Messages()
    g2 = knn_graph(X, 5, "cosine", cache=tmp_path, progress=again.task)  # g is still held: no read
    assert g2.origin == "memory" and not again.searched and g2.indices is g.indices


def test_smaller_k_from_larger_stored_and_larger_k_searches(digits, tmp_path):
    X, _ = digits
    knn_graph(X, 30, "cosine", cache=tmp_path, store_k=0)
    gc.collect()
    m = Messages()
    g = knn_graph(X, 4, "cosine", cache=tmp_path, progress=m.task)
    assert g.origin == "cache" and not m.searched and g.k == 30
    idx, sc = g.head(4)
    ref_i, ref_s = topk(X, 4, metric="cosine")
    same_neighbours(idx, sc, ref_i, ref_s)
    del g
    gc.collect()
    m = Messages()
    big = knn_graph(X, 40, "cosine", cache=tmp_path, store_k=0, progress=m.task)
    assert m.searched and big.k == 40
    with EmbeddingCache(tmp_path) as cache:
        assert [(h["k"], h["metric"]) for h in cache.graphs()] == [(40, "cosine")]  # replaced


def test_changed_vectors_are_searched_again_and_old_graph_dropped(digits, tmp_path):
    X, _ = digits
    src = source_of(["digits.npy"], "precomputed")
    knn_graph(X, 10, "cosine", cache=tmp_path, source=src)
    gc.collect()
    Y = X.copy()
    Y[7] += 1.0  # one item changed
    assert vectors_fingerprint(Y) != vectors_fingerprint(X)
    m = Messages()
    g = knn_graph(Y, 10, "cosine", cache=tmp_path, source=src, progress=m.task)
    assert m.searched and g.origin == "searched"
    np.testing.assert_array_equal(g.indices, topk(Y, 15, metric="cosine")[0])
    with EmbeddingCache(tmp_path) as cache:
        assert [h["fingerprint"] for h in cache.graphs()] == [g.fingerprint]


def test_no_cache_stores_nothing(digits, tmp_path):
    X, _ = digits
    g = knn_graph(X, 10, "cosine", cache=False)
    assert g.origin == "searched"
    with EmbeddingCache(tmp_path) as cache:
        assert cache.graphs() == []


def test_cancel_while_storing_keeps_no_graph(digits, tmp_path):
    X, _ = digits
    from embedview.core.progress import Cancelled

    task = TaskState(min_interval=0)

    def cancel_when_storing(fraction, message):
        if message.startswith("Storing the neighbour graph"):
            task.cancel()

    task.callback = cancel_when_storing
    with pytest.raises(Cancelled):
        knn_graph(X, 10, "cosine", cache=tmp_path, progress=task)
    gc.collect()
    with EmbeddingCache(tmp_path) as cache:
        assert cache.graphs() == []


def test_exact_need_is_not_served_an_approximate_graph(tmp_path):
    pytest.importorskip("faiss")
    X, _ = clustered(n=3000, d=32)
    approx = knn_graph(X, 10, "cosine", cache=tmp_path, index_params={"approximate": True, "threshold": 0})
    assert not approx.exact and approx.info["decision"] == "ivf"
    assert 0.0 < approx.recall_at_10 <= 1.0 and "recall@10" in approx.summary
    del approx
    gc.collect()
    m = Messages()
    assert knn_graph(X, 10, "cosine", cache=tmp_path, progress=m.task).origin == "cache"  # any will do
    m = Messages()
    exact = knn_graph(X, 10, "cosine", cache=tmp_path, exact=True, progress=m.task)
    assert m.searched and exact.exact


def test_consumers_give_the_same_results_from_the_graph(digits, tmp_path):
    X, y = digits
    g = knn_graph(X, 10, "cosine", cache=tmp_path)

    m = Messages()
    out_g = OutlierScores(k=10).fit(X, progress=m.task, graph=g)
    assert not m.searched and out_g.to_dict()["neighbours"].startswith("exact neighbour graph")
    out = OutlierScores(k=10).fit(X)
    np.testing.assert_allclose(out_g.scores_, out.scores_, atol=1e-6)
    assert out.to_dict()["neighbours"].startswith("cosine neighbours searched")

    acc_g = KNNAccuracy(k=10).fit(X, y, graph=g)
    acc = KNNAccuracy(k=10).fit(X, y)
    assert acc_g.accuracy_ == acc.accuracy_ and "1,797 of 1,797" in acc_g.neighbours_how_

    # a partly labelled set: the labelled items' neighbours among themselves, from the full graph
    y_part = y.astype(object)
    y_part[::3] = None
    acc_g = KNNAccuracy(k=5).fit(X, y_part, graph=g)
    acc = KNNAccuracy(k=5).fit(X, y_part)
    same_neighbours(acc_g.neighbours_[0], -acc_g.neighbours_[1], acc.neighbours_[0], -acc.neighbours_[1])
    assert abs(acc_g.accuracy_ - acc.accuracy_) < 0.005
    # most labelled items find k labelled neighbours in the graph's rows; the few that do not are searched
    reused = re.search(r"reused for ([\d,]+) of 1,198 items", acc_g.neighbours_how_)
    assert reused and int(reused.group(1).replace(",", "")) > 1_100, acc_g.neighbours_how_

    # another metric or too few neighbours: searched, as before
    assert "searched" in OutlierScores(k=20).fit(X, graph=g).neighbours_how_
    assert "searched" in OutlierScores(k=5, metric="euclidean").fit(X, graph=g).neighbours_how_

    # UMAP's precomputed graph: the same as the search it replaces
    ki, kd = g.umap_knn(15)
    ri, rd = knn_for_umap(X, 15, metric="cosine")
    np.testing.assert_array_equal(ki, ri)
    np.testing.assert_allclose(kd, rd, atol=1e-6)


def test_duplicates_from_the_graph(digits, tmp_path):
    X, _ = digits
    X = np.concatenate([X, X[:40] + 0.01]).astype(np.float32)  # 40 planted near-copies
    g = knn_graph(X, 10, "cosine", exact=True, cache=tmp_path)
    with_graph = DuplicateFinder(threshold=0.99).fit(X, graph=g)
    fresh = DuplicateFinder(threshold=0.99).fit(X)
    assert len(with_graph.groups_) == len(fresh.groups_) >= 40
    assert [list(a) for a in with_graph.groups_] == [list(b) for b in fresh.groups_]
    assert "reused" in with_graph.search_reason_


def test_second_command_does_not_search(digits, tmp_path, monkeypatch, capsys):
    X, _ = digits
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "digits.npy"
    np.save(path, X)
    assert main(["neighbors", str(path), "--k", "5", "-o", str(tmp_path / "a.csv")]) == 0
    assert "searched in" in capsys.readouterr().err
    gc.collect()
    assert main(["neighbors", str(path), "--k", "5", "-o", str(tmp_path / "b.csv")]) == 0
    assert "loaded from the cache" in capsys.readouterr().err
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    gc.collect()
    assert main(["duplicates", str(path), "-o", str(tmp_path / "d.csv")]) == 0  # exact graph: reused
    assert "loaded from the cache" in capsys.readouterr().err
    gc.collect()
    assert main(["neighbors", str(path), "--k", "5", "--no-cache", "-o", str(tmp_path / "c.csv")]) == 0
    assert "searched in" in capsys.readouterr().err


def test_embedding_set_and_raw_matrix_share_one_graph(digits, tmp_path):
    """The CLI passes an EmbeddingSet (its ``unit`` for cosine), UMAP's child process the raw file."""
    from embedview.core.dataset import Dataset
    from embedview.core.embeddings import EmbeddingSet

    X, _ = digits
    n = len(X)
    emb = EmbeddingSet(Dataset("text", ids=[str(i) for i in range(n)], sources=["d"] * n, texts=["t"] * n,
                               name="d"), X)
    g = knn_graph(emb, 10, "cosine", cache=tmp_path)
    del g
    gc.collect()
    m = Messages()
    assert knn_graph(X.copy(), 14, "cosine", cache=tmp_path,
                     progress=m.task).origin == "cache" and not m.searched


def test_neighbors_csv_with_hostile_ids_as_csv_writer_writes_it(tmp_path, monkeypatch):
    """The command writes ids rendered once per item: the bytes csv.writer + safe_row would write."""
    import csv
    import io

    from embedview.core.csvsafe import safe_row

    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path / "cache"))
    X, _ = clustered(n=60, d=8, n_clusters=4)
    ids = np.array([f"id{i}" for i in range(60)], dtype=object)
    ids[[1, 2, 3, 4, 5, 6]] = ["=cmd|x", "a,b", 'q"uote', "-1", "line\nbreak", "@sum"]
    path = tmp_path / "v.npz"
    np.savez(path, embeddings=X, ids=ids.astype(str))
    out = tmp_path / "n.csv"
    assert main(["neighbors", str(path), "--k", "4", "-o", str(out)]) == 0
    idx, sc = topk(X, 4, metric="cosine")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["query", "rank", "neighbor", "score"])
    for q in range(60):
        for r in range(4):
            writer.writerow(safe_row([str(ids[q]), r + 1, str(ids[idx[q, r]])]) + [f"{float(sc[q, r]):.6g}"])
    assert out.read_text(encoding="utf-8") == buf.getvalue()
    assert "'=cmd|x" in buf.getvalue() and '"a,b"' in buf.getvalue()
