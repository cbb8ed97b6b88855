"""Retrieval with a separate query set: queries are ranked against the documents only.

Checked against a hand-computed case and against a plain numpy / faiss computation on real
texts (Debian package names as queries, their descriptions as documents) encoded with the
offline default text encoder.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from embedview.core.checks import Checks, run_checks
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet, l2_normalize
from embedview.core.evaluation import RetrievalMetrics, load_relevance_file

DEBIAN = Path("/tmp/realdata/debian.csv")


# -- a case computed by hand ---------------------------------------------------------------------
# Documents on the unit circle at 0, 40, 80, 120 degrees; queries at 10 and 100 degrees.
#   q0 (10 deg): docs by cosine 0 (10), 1 (30), 2 (70), 3 (110); relevant {1, 3}
#       rel 0 1 0 1: hit@1 0, hit@2 1; recall@1 0, recall@2 1/2, recall@4 1; AP = (1/2 + 2/4) / 2 = 1/2
#   q1 (100 deg): docs 2 (20), 3 (20, tie -> index order), 1 (60), 0 (100); relevant {0}
#       rel 0 0 0 1: hit@2 0; recall@2 0; AP = 1/4
DOC_ANGLES = np.deg2rad([0, 40, 80, 120])
Q_ANGLES = np.deg2rad([10, 100])


def _circle(angles):
    return np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


def test_separate_queries_hand_checked():
    m = RetrievalMetrics(ks=(1, 2, 4)).fit(_circle(DOC_ANGLES), relevant={0: {1, 3}, 1: {0}},
                                           queries=_circle(Q_ANGLES))
    assert m.separate_queries_ and m.n_candidates_ == 4 and m.n_queries_ == 2
    assert m.hit_rate_at_ == pytest.approx({1: 0.0, 2: 0.5, 4: 1.0})
    assert m.recall_at_ == pytest.approx({1: 0.0, 2: 0.25, 4: 1.0})
    assert m.precision_at_ == pytest.approx({1: 0.0, 2: 0.25, 4: (2 / 4 + 1 / 4) / 2})
    assert m.average_precision_ == pytest.approx([0.5, 0.25])
    assert m.map_ == pytest.approx(0.375)


def test_queries_never_compete_with_each_other():
    """Two near-identical queries: in one set each is the other's nearest item; ranked against the
    documents only, neither sees the other."""
    docs = _circle(DOC_ANGLES)
    queries = _circle(np.deg2rad([5, 6]))
    rel = {0: {0}, 1: {0}}  # doc 0 (0 deg) is relevant and is each query's nearest document
    sep = RetrievalMetrics(ks=(1,)).fit(docs, relevant=rel, queries=queries)
    assert sep.hit_rate_at_[1] == 1.0 and sep.map_ == 1.0
    # the old way: queries appended to the index and ranked against everything
    both = np.vstack([docs, queries])
    old = RetrievalMetrics(ks=(1,)).fit(both, relevant={4: {0}, 5: {0}})
    assert old.hit_rate_at_[1] == 0.0  # each query's top hit is the other query
    with pytest.raises(ValueError, match="dimensions"):
        RetrievalMetrics().fit(docs, relevant=rel, queries=np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="outside"):
        RetrievalMetrics().fit(docs, relevant={5: {0}}, queries=queries)


def test_separate_queries_by_label():
    docs = _circle(DOC_ANGLES)
    m = RetrievalMetrics(ks=(1, 2)).fit(docs, ["a", "b", "a", "b"], queries=_circle(Q_ANGLES),
                                        query_labels=["b", None])
    # q0 (label b): ranking 0 1 2 3 -> rel 0 1 0 1, exactly as the relevance {1, 3} above; q1 unlabelled
    assert m.n_queries_ == 1 and m.hit_rate_at_ == {1: 0.0, 2: 1.0} and m.map_ == pytest.approx(0.5)


def test_load_relevance_file_with_separate_ids(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("query,relevant\nq1,d2\nq1,d0\nq0,d1\nq0,q1\nd0,d1\n", encoding="utf-8")
    rel, problems = load_relevance_file(str(path), ["q0", "q1"], ["d0", "d1", "d2"])
    assert rel == {1: {2, 0}, 0: {1}}
    assert [p.reason for p in problems] == ["unknown id(s): relevant 'q1'", "unknown id(s): query 'd0'"]


# -- real texts against numpy and faiss ------------------------------------------------------------
@pytest.fixture(scope="module")
def debian(tmp_path_factory):
    """Queries: 120 package names ("rclone browser"); documents: 400 package descriptions, the
    queries' own among them.  Relevant: the package's own description and those of packages
    whose name starts with the same word (python3-..., lib...)."""
    if not DEBIAN.exists():
        pytest.skip(f"{DEBIAN} is not here")
    with open(DEBIAN, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:400]
    folder = tmp_path_factory.mktemp("debian")
    docs, queries = folder / "docs.csv", folder / "queries.csv"
    with open(docs, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "label"])
        w.writerows([r["id"], r["text"], r["label"]] for r in rows)
    picked = rows[::400 // 120][:120]
    with open(queries, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        w.writerows(["q:" + r["id"], r["id"].replace("-", " ")] for r in picked)
    first = [r["id"].split("-")[0] for r in rows]
    pairs = folder / "pairs.csv"
    with open(pairs, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["query", "relevant"])
        for r in picked:
            head = r["id"].split("-")[0]
            w.writerows(["q:" + r["id"], rows[j]["id"]] for j in range(len(rows))
                        if rows[j]["id"] == r["id"] or ("-" in r["id"] and first[j] == head and "-" in rows[j]["id"]))
    from embedview.core.loaders import load_paths
    from embedview.encoders.pipeline import embed

    d = embed(load_paths(docs), "default-text", cache=False)
    q = embed(load_paths(queries), "default-text", cache=False)
    return d, q, pairs


def test_separate_queries_equal_numpy_and_faiss_on_real_texts(debian):
    import faiss

    docs, queries, pairs = debian
    rel, problems = load_relevance_file(str(pairs), queries.dataset.ids, docs.dataset.ids)
    assert not problems and len(rel) == len(queries)
    assert any(len(r) > 1 for r in rel.values())  # some queries have several relevant documents
    ks = (1, 5, 10)
    m = RetrievalMetrics(ks=ks).fit(docs.vectors, relevant=rel, queries=queries.vectors)

    D = l2_normalize(docs.vectors).astype(np.float32)
    Q = l2_normalize(queries.vectors).astype(np.float32)
    index = faiss.IndexFlatIP(D.shape[1])
    index.add(D)
    _, top = index.search(Q, max(ks))
    S = Q.astype(np.float64) @ D.T.astype(np.float64)
    order = np.argsort(-S, axis=1, kind="stable")
    # faiss and numpy rank alike: the same similarities at every rank (identical descriptions tie,
    # and the tied documents may come in another order)
    assert np.take_along_axis(S, top, axis=1) == pytest.approx(np.take_along_axis(S, order[:, :10], axis=1),
                                                               abs=1e-5)
    sizes = np.array([len(rel[i]) for i in range(len(Q))])
    for k in ks:
        exact = np.array([len(set(order[i, :k]) & rel[i]) for i in range(len(Q))])  # numpy, ties in index order
        assert m.hit_rate_at_[k] == pytest.approx(np.mean(exact > 0), abs=1e-12)
        assert m.recall_at_[k] == pytest.approx(np.mean(exact / sizes), abs=1e-12)
        assert m.precision_at_[k] == pytest.approx(np.mean(exact / k), abs=1e-12)
        by_faiss = np.array([len(set(top[i, :k]) & rel[i]) for i in range(len(Q))])
        ties = int((by_faiss != exact).sum())  # only where tied documents were ordered differently
        assert ties <= 0.05 * len(Q)
        assert m.hit_rate_at_[k] == pytest.approx(np.mean(by_faiss > 0), abs=ties / len(Q) + 1e-12)
    aps = []
    for i in range(len(Q)):
        hits = np.isin(order[i], sorted(rel[i]))
        ranks = np.flatnonzero(hits) + 1
        aps.append(np.mean(np.arange(1, len(ranks) + 1) / ranks))
    assert m.map_ == pytest.approx(np.mean(aps), abs=1e-6)
    assert m.hit_rate_at_[10] > 0.5  # a package's name finds its description


def test_the_old_one_set_ranking_lets_queries_crowd_out_documents(debian):
    """What the issue saw: queries appended to the index are ranked against each other, and another
    query often comes first; the separate ranking does not."""
    docs, queries, pairs = debian
    rel, _ = load_relevance_file(str(pairs), queries.dataset.ids, docs.dataset.ids)
    sep = RetrievalMetrics(ks=(1, 10)).fit(docs.vectors, relevant=rel, queries=queries.vectors)
    n = len(docs)
    both = np.vstack([docs.vectors, queries.vectors])
    old = RetrievalMetrics(ks=(1, 10)).fit(both, relevant={n + q: r for q, r in rel.items()})
    B = l2_normalize(both).astype(np.float64)
    S = B[n:] @ B.T
    S[np.arange(len(queries)), n + np.arange(len(queries))] = -np.inf
    top_is_query = float(np.mean(S.argmax(axis=1) >= n))
    assert old.hit_rate_at_[1] <= sep.hit_rate_at_[1]
    assert old.map_ <= sep.map_ + 1e-9
    print(f"hit rate@1 separate {sep.hit_rate_at_[1]:.3f}, one set {old.hit_rate_at_[1]:.3f}; "
          f"top hit another query: {top_is_query:.0%}; mAP {sep.map_:.3f} vs {old.map_:.3f}")


def test_checks_suite_with_queries(debian):
    docs, queries, pairs = debian
    rel, _ = load_relevance_file(str(pairs), queries.dataset.ids, docs.dataset.ids)
    result = run_checks(docs, k=10, include=["retrieval"], relevant=rel, queries=queries)
    json.dumps(result, allow_nan=False)
    r = result["retrieval"]
    assert r["separate_queries"] is True and r["n_candidates"] == len(docs) and r["n_queries"] == len(queries)
    assert set(r) >= {"hit_rate_at", "recall_at", "precision_at", "map"}
    assert "separate queries ranked against the" in r["notes"]
    assert result["queries"]["n_items"] == len(queries) and result["queries"]["n_with_relevance"] == len(rel)
    direct = RetrievalMetrics(ks=(1, 5, 10)).fit(docs.vectors, relevant=rel, queries=queries.vectors)
    assert r["hit_rate_at"] == {str(k): v for k, v in direct.hit_rate_at_.items()}
    # without relevance pairs and without labels on the queries, retrieval says why it cannot run
    fitted = Checks(include=["retrieval"], queries=queries).fit(docs)
    assert "retrieval" not in fitted.results_
    assert "queries have no labels" in fitted.skipped_[0]["reason"]


def test_checks_with_labelled_queries_and_documents():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    labels = np.repeat(["a", "b", "c"], 20)
    X = np.repeat(centres, 20, axis=0) + 0.3 * rng.normal(size=(60, 16))
    Qx = centres + 0.3 * rng.normal(size=(3, 16))

    def as_set(M, lab, name):
        ds = Dataset("embedding", [f"{name}{i}" for i in range(len(M))], [f"/{name}.npy"] * len(M),
                     labels=np.asarray(lab, dtype=object), embeddings=M.astype(np.float32), name=name)
        return EmbeddingSet(ds, M.astype(np.float32), "precomputed")

    result = run_checks(as_set(X, labels, "d"), include=["retrieval"], queries=as_set(Qx, ["a", "b", "c"], "q"))
    r = result["retrieval"]
    assert r["separate_queries"] and r["n_queries"] == 3 and r["hit_rate_at"]["1"] == 1.0
    assert r["recall_at"]["10"] == pytest.approx(10 / 20)  # well separated: the top 10 are all relevant
