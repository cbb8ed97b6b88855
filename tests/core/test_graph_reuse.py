"""The suite of checks, the audit and the report read the one neighbour graph instead of searching.

Real vectors (scikit-learn's digits); a search is detected through the real progress messages of
the search ("Nearest neighbours: block ..." from ``topk``) and the graph's own summary on stderr,
not mocks.  Results with the graph equal those without it.
"""

import gc
import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.cli import main
from embedview.core.checks import Checks, suite_graph
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.graph import NeighborGraph, knn_graph
from embedview.core.progress import TaskState


class Messages:
    def __init__(self):
        self.messages = []
        self.task = TaskState(lambda f, m: self.messages.append(m), min_interval=0)

    @property
    def searched(self):
        return any(m.startswith("Nearest neighbours: block") for m in self.messages)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    X = d.data.astype(np.float32)[:800]
    y = [str(t) for t in d.target[:800]]
    n = len(X)
    ds = Dataset("text", ids=[f"d{i}" for i in range(n)], sources=["digits"] * n, texts=["t"] * n,
                 labels=y, name="digits")
    return EmbeddingSet(ds, X)


def without(doc, keys=("seconds", "neighbour_graph")):
    """The result without where the neighbours came from (the only thing allowed to differ)."""
    out = {}
    for k, v in doc.items():
        if k in keys:
            continue
        if isinstance(v, dict):
            v = {kk: vv for kk, vv in v.items() if kk not in ("neighbours", "search_reason")}
        out[k] = v
    return out


def audit_doc(doc):
    """An audit's JSON without where the neighbours came from and the seconds each kind took."""
    out = {k: v for k, v in doc.items() if k != "neighbours"}
    out["kinds"] = [{k: v for k, v in kind.items() if k != "seconds"} for kind in doc["kinds"]]
    return out


NO_RANKING = ("collapse", "knn", "outliers", "duplicates")  # every check that reads the graph


def test_checks_with_the_graph_equal_checks_without_and_do_not_search(digits, tmp_path):
    fresh = Checks(k=10).fit(digits).to_dict()
    graph = suite_graph(digits, k=10, cache=tmp_path)
    assert graph.exact and graph.k >= 10  # duplicates run: an exact graph serves every check
    m = Messages()
    reused = Checks(k=10, graph=graph).fit(digits, progress=m.task).to_dict()
    assert without(reused) == without(fresh)
    assert "reused for 800 of 800 items" in reused["knn"]["neighbours"]
    assert "neighbour graph" in reused["outliers"]["neighbours"]
    assert "reused" in reused["duplicates"]["search_reason"]
    assert reused["neighbour_graph"]["n_items"] == 800 and reused["neighbour_graph"]["exact"] is True
    # the checks that read neighbours do not search at all (retrieval ranks every item: it does)
    m2 = Messages()
    Checks(k=10, include=NO_RANKING, graph=graph).fit(digits, progress=m2.task)
    assert not m2.searched
    m3 = Messages()
    Checks(k=10, include=NO_RANKING).fit(digits, progress=m3.task)
    assert m3.searched  # the detector sees a search when there is one


def test_a_graph_that_does_not_cover_is_not_used(digits, tmp_path):
    small = knn_graph(digits, 3, "cosine", cache=False, store_k=0)  # 3 neighbours: k=10 needs a search
    doc = Checks(k=10, include=("outliers",), graph=small).fit(digits).to_dict()
    assert "searched exactly" in doc["outliers"]["neighbours"]
    approx_metric = knn_graph(digits, 10, "euclidean", cache=False)  # another metric: not used
    doc = Checks(k=10, include=("knn",), graph=approx_metric).fit(digits).to_dict()
    assert "searched exactly" in doc["knn"]["neighbours"]
    with pytest.raises(ValueError, match="800"):
        Checks(graph=knn_graph(digits.vectors[:50], 10, "cosine", cache=False)).fit(digits)


def test_second_check_command_loads_the_graph(digits, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "digits.npz"
    np.savez(path, embeddings=digits.vectors, ids=np.array(digits.dataset.ids),
             labels=np.array(digits.dataset.labels))
    args = ["check", str(path), "--k", "5", "--no-cache"]
    assert main([*args, "-o", str(tmp_path / "0.json")]) == 0
    assert "searched in" in capsys.readouterr().err
    assert main(["check", str(path), "--k", "5", "-o", str(tmp_path / "a.json")]) == 0
    assert "searched in" in capsys.readouterr().err
    gc.collect()
    assert main(["check", str(path), "--k", "5", "-o", str(tmp_path / "b.json")]) == 0
    assert "loaded from the cache" in capsys.readouterr().err
    plain, first, second = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "0ab")
    assert first["neighbour_graph"]["origin"] == "searched" and second["neighbour_graph"]["origin"] == "cache"
    assert without(plain) == without(first) == without(second)
    gc.collect()  # the other commands read the same graph
    assert main(["duplicates", str(path), "-o", str(tmp_path / "d.csv")]) == 0
    assert "loaded from the cache" in capsys.readouterr().err
    gc.collect()
    assert main(["neighbors", str(path), "--k", "10", "-o", str(tmp_path / "n.csv")]) == 0
    assert "loaded from the cache" in capsys.readouterr().err


def test_audit_with_the_graph_equals_the_audit_without(digits, tmp_path):
    from embedview.core.audit import Audit, audit_graph

    fresh = Audit(kinds=("duplicate", "outlier")).fit(digits).to_dict()
    graph = audit_graph(digits, ("duplicate", "outlier"), 10, cache=tmp_path)
    assert graph.exact  # duplicates run: only an exact graph keeps every pair
    m = Messages()
    reused = Audit(kinds=("duplicate", "outlier")).fit(digits, progress=m.task, graph=graph).to_dict()
    assert not m.searched
    assert "reused" in reused["neighbours"]["duplicate"] and "graph" in reused["neighbours"]["outlier"]
    assert "searched exactly" in fresh["neighbours"]["outlier"]
    assert audit_doc(reused) == audit_doc(fresh)
    # an approximate graph is not used for duplicates (it could lose pairs)
    approx = NeighborGraph(graph.indices, graph.scores, "cosine", False, graph.fingerprint,
                           {"decision": "ivf", "recall_at_10": 0.97, "n_recall_queries": 100})
    doc = Audit(kinds=("duplicate", "outlier")).fit(digits, graph=approx).to_dict()
    assert "reused" not in doc["neighbours"]["duplicate"] and "approximate" in doc["neighbours"]["outlier"]


def test_second_audit_and_report_load_the_graph_the_check_searched(digits, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "digits.npz"
    np.savez(path, embeddings=digits.vectors, ids=np.array(digits.dataset.ids),
             labels=np.array(digits.dataset.labels))
    assert main(["audit", str(path), "--only", "duplicate", "--only", "outlier", "-o", str(tmp_path / "0.json"),
                 "--no-cache"]) == 0
    assert "searched in" in capsys.readouterr().err
    assert main(["check", str(path), "-o", str(tmp_path / "c.json")]) == 0
    assert "searched in" in capsys.readouterr().err
    gc.collect()
    assert main(["audit", str(path), "--only", "duplicate", "--only", "outlier", "-o", str(tmp_path / "a.json")]) == 0
    assert "loaded from the cache" in capsys.readouterr().err
    plain, again = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "0a")
    assert "cache" in again["neighbours"]["outlier"] and "searched" in plain["neighbours"]["outlier"]
    assert audit_doc(plain) == audit_doc(again)
    gc.collect()
    assert main(["report", str(path), "-o", str(tmp_path / "r.html")]) == 0
    assert "loaded from the cache" in capsys.readouterr().err


def test_item_scores_read_the_graph(digits, tmp_path):
    from embedview.core.uniqueness import ItemScores

    fresh = ItemScores().fit(digits)
    graph = knn_graph(digits, 10, "cosine", cache=tmp_path)
    m = Messages()
    reused = ItemScores().fit(digits, progress=m.task, graph=graph)
    assert not m.searched
    np.testing.assert_allclose(reused.uniqueness_, fresh.uniqueness_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(reused.knn_similarity_, fresh.knn_similarity_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(reused.representativeness_, fresh.representativeness_)
    assert "neighbour graph" in reused.describe()["uniqueness"]
    assert fresh.neighbours_how_ == "exact neighbour search"
    # a graph of another metric, or too few neighbours, is not used
    m2 = Messages()
    other = ItemScores(metric="euclidean").fit(digits, progress=m2.task, graph=graph)
    assert m2.searched and other.neighbours_how_ == "exact neighbour search"


def test_split_leaks_read_an_exact_graph(digits, tmp_path):
    from embedview.core.leaks import SplitLeaks

    X = np.concatenate([digits.vectors[:300], digits.vectors[:20] + 0.01])  # 20 near-copies ...
    splits = ["train"] * 300 + ["test"] * 20  # ... in the test split: leaks
    fresh = SplitLeaks().fit(X, splits)
    graph = knn_graph(X, 10, "cosine", exact=True, cache=tmp_path)
    m = Messages()
    reused = SplitLeaks().fit(X, splits, progress=m.task, graph=graph)
    assert not m.searched and "reused" in reused.finder_.search_reason_
    assert len(fresh.pairs_) >= 20
    np.testing.assert_array_equal(reused.pairs_["i"], fresh.pairs_["i"])
    np.testing.assert_array_equal(reused.pairs_["j"], fresh.pairs_["j"])
    np.testing.assert_allclose(reused.pairs_["sim"], fresh.pairs_["sim"], rtol=0, atol=1e-6)
