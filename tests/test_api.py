"""The Python API (embedview.check / compare / audit / log, embedding_set) on scikit-learn's digits,
without a window (embedview.show is tested for real in tests/gui/test_remote.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from heavy_modules import HEAVY
from sklearn.datasets import load_digits

import embedview
from embedview.api import embedding_set
from embedview.core.checks import run_checks
from embedview.core.timeline import Timeline, read_run

ROOT = Path(__file__).resolve().parents[1]
N = 300


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data[:N].astype(np.float32), [str(v) for v in d.target[:N]]


@pytest.fixture(scope="module")
def result(digits):
    X, y = digits
    return embedview.check(X, labels=y, include=["knn", "linear_probe"])


def test_import_embedview_stays_light_and_the_api_loads_on_first_use():
    script = f"""
import sys
import embedview
assert "numpy" not in sys.modules and "embedview.api" not in sys.modules, sorted(sys.modules)
import numpy as np
r = embedview.check(np.random.default_rng(0).normal(size=(40, 8)), include=["knn"])
assert r["verdict"] == "healthy", r["verdict"]
print(",".join(m for m in {HEAVY!r} if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"heavy modules imported: {done.stdout.strip()}"
    assert {"show", "check", "compare", "audit", "log"} <= set(dir(embedview))
    with pytest.raises(AttributeError):
        embedview.no_such_name  # noqa: B018


def test_check_gives_what_the_cli_computes(digits, result):
    X, y = digits
    cli_like = run_checks(embedding_set(X, labels=y), k=10, include=["knn", "linear_probe"])
    assert result.keys() == cli_like.keys()
    for key in result:
        if key != "seconds":
            assert result[key] == cli_like[key], key
    assert result.verdict == "healthy" and result.healthy
    assert result["knn"]["accuracy"] > 0.9 and result["dataset"]["n_items"] == N


def test_check_table_is_a_dataframe_of_the_registry_rows(result):
    table = result.table()
    assert isinstance(table, pd.DataFrame)
    assert {"check", "metric", "value"} <= set(table.columns)
    knn = table[(table["check"] == "kNN accuracy") & (table["metric"] == "accuracy")]
    assert knn["value"].iloc[0] == pytest.approx(result["knn"]["accuracy"])
    probe = table[table["check"] == "Linear probe"]
    assert probe["value"].iloc[0] == pytest.approx(result["linear_probe"]["accuracy_mean"])


def test_compare_passes_the_same_and_fails_a_low_rank_copy(digits, result):
    X, y = digits
    assert embedview.compare(embedview.check(X, labels=y, include=["knn"]), result,
                             metrics=["effective_rank", "knn_accuracy", "verdict"]).passed_
    mean = X.mean(axis=0)
    _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
    low = (X - mean) @ vt[:2].T @ vt[:2] + mean
    gate = embedview.compare(embedview.check(low, labels=y, include=["knn"]), result, tolerance=0.02,
                             metrics=["effective_rank", "knn_accuracy"])
    assert set(gate.failed_) == {"effective_rank", "knn_accuracy"}
    table = gate.table()
    assert list(table["status"]) == ["regressed", "regressed"]


def test_audit_finds_test_items_copied_from_train(digits):
    X, y = digits
    n = 100
    vectors = np.vstack([X[:n], X[:10] + 1e-4])  # ten train items leaked into the test split
    splits = ["train"] * n + ["test"] * 10
    found = embedview.audit(vectors, labels=y[:n] + y[:10], splits=splits, kinds=["leak"],
                            ids=[f"i{k}" for k in range(n + 10)])
    assert found["counts"]["leak"] >= 10 and found["n_items"] == n + 10
    table = found.table()
    assert isinstance(table, pd.DataFrame)
    leak = table[table["kind"] == "leak"]
    pairs = {frozenset((a, b)) for a, b in zip(leak["id"], leak["other_id"], strict=True)}
    assert {frozenset((f"i{k}", f"i{n + k}")) for k in range(10)} <= pairs  # each copy with its original


def test_log_writes_a_run_the_timeline_reads(tmp_path, digits):
    X, y = digits
    ids = [f"d{i}" for i in range(N)]
    for step, v in ((0, X * 0.5), (10, X)):
        path = embedview.log(tmp_path / "run", step, v, ids=ids, labels=y)
        assert path.name == f"step_{step:09d}.npy"
    run = read_run(tmp_path / "run")
    assert run.steps == [0, 10] and run.ids == ids and list(run.labels) == y
    np.testing.assert_array_equal(run.vectors(1), X)
    rows = Timeline(k=5, probe_sample=100).fit(run).rows_
    assert [r["step"] for r in rows] == [0, 10] and rows[-1]["knn_accuracy"] > 0.9


def test_bad_input_names_the_problem(digits):
    X, y = digits
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        embedview.check(bad)
    with pytest.raises(ValueError, match="labels"):
        embedview.check(X, labels=y[:10])
    with pytest.raises(ValueError, match="not unique"):
        embedding_set(X[:3], ids=["a", "a", "b"])
    with pytest.raises(ValueError, match="metadata column 'm'"):
        embedding_set(X[:3], metadata={"m": [1, 2]})


def test_embedding_set_keeps_ids_labels_texts_and_metadata(digits):
    X, _ = digits
    frame = pd.DataFrame({"ink": X[:4].sum(axis=1), "name": list("abcd")})
    emb = embedding_set(X[:4], labels=["x", None, float("nan"), "y"], ids=[10, 11, 12, 13], texts=list("pqrs"),
                        metadata=frame)
    ds = emb.dataset
    assert ds.ids == ["10", "11", "12", "13"] and list(ds.labels) == ["x", None, None, "y"]
    assert ds.texts == list("pqrs") and ds.metadata["name"] == list("abcd")
    assert ds.metadata["ink"][0] == pytest.approx(float(X[0].sum()))


def test_the_notebook_example_runs_without_a_window():
    env = dict(os.environ, MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "notebook_api.py"), "--no-window"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "gate passed: False" in done.stdout and "verdict: healthy" in done.stdout


# -- scores, drift, timeline ----------------------------------------------------------------------
def test_scores_table_has_the_cli_columns_and_label_named_clusters(digits):
    X, y = digits
    r = embedview.scores(X, labels=y, ids=[f"d{i}" for i in range(N)], map="pca")
    table = r.table()
    assert list(table.columns) == ["id", "source", "label", "uniqueness", "representativeness", "cluster",
                                   "cluster_coarse", "x", "y"]
    assert len(table) == N and table["id"].iloc[5] == "d5" and table["label"].tolist() == y
    for col in ("uniqueness", "representativeness"):
        assert table[col].between(0, 1).all() and table[col].max() == pytest.approx(1.0)
    assert r["clusters"]["levels"]["fine"]["named_by"] == "label" and r["map"]["method"] == "pca"
    clustered = table[table["cluster"] != "unclustered"]
    assert len(clustered) > N // 2
    # a name such as "3 (90%)": the dominant label of its members, and its share
    share = (clustered["cluster"].str.split(" ").str[0] == clustered["label"]).mean()
    assert share > 0.6
    assert f"{N:,} items" in r["how"]["uniqueness"] and "HDBSCAN" in r["how"]["cluster"]
    np.testing.assert_allclose(table["uniqueness"], r.item_scores.uniqueness_)
    low = r.least_unique(3)
    assert [x["uniqueness"] for x in low] == sorted(table["uniqueness"])[:3]
    with pytest.raises(ValueError, match="unknown map"):
        embedview.scores(X, map="tsne")


def test_scores_name_text_clusters_by_their_words():
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    path = Path("/tmp/realdata/debian.csv")
    if not path.exists():
        pytest.skip("no /tmp/realdata/debian.csv")
    frame = pd.read_csv(path).head(400)
    texts = frame["text"].astype(str).tolist()
    X = TruncatedSVD(40, random_state=0).fit_transform(TfidfVectorizer(stop_words="english").fit_transform(texts))
    r = embedview.scores(X, texts=texts, ids=frame["id"], map="pca")
    fine = r["clusters"]["levels"]["fine"]
    assert fine["named_by"] == "words" and fine["n_clusters"] >= 2
    vocabulary = set(re.findall(r"\w+", " ".join(texts).lower()))
    for c in fine["clusters"]:
        words = re.findall(r"\w+", c["name"])
        assert words and all(w.lower() in vocabulary for w in words), c["name"]


def test_drift_finds_a_shift_and_not_a_random_split(digits):
    X, _ = digits
    order = np.random.default_rng(0).permutation(N)
    a, b = X[order[: N // 2]], X[order[N // 2:]]
    same = embedview.drift(a, b, n_permutations=300)
    assert not same.drifted and same["classifier"]["p_value"] > 0.005
    shifted = embedview.drift(a, b + 2.0 * X.std(axis=0), n_permutations=300)
    assert shifted.drifted and shifted["classifier"]["auroc"] > 0.9
    table = shifted.table()
    assert table["test"].tolist() == ["classifier", "mmd"] and table["statistic"].tolist() == ["auroc", "mmd2"]
    assert table["value"].iloc[0] == pytest.approx(shifted.drift.auroc_)
    assert (table["n_a"] == N // 2).all()


def test_timeline_reads_a_logged_run_one_row_per_step(tmp_path, digits):
    X, y = digits
    rng = np.random.default_rng(0)
    collapsed = np.outer(rng.normal(size=N), rng.normal(size=X.shape[1])).astype(np.float32) + 1e-4 * X
    for step, v in ((0, X), (5, X * 0.5 + 1.0), (10, collapsed)):
        embedview.log(tmp_path / "run", step, v, labels=y)
    r = embedview.timeline(tmp_path / "run", k=5, probe_sample=100)
    table = r.table()
    assert table["step"].tolist() == [0, 5, 10] and len(r["rows"]) == 3
    assert table["knn_accuracy"].iloc[0] > 0.9
    assert table["verdict"].iloc[0] == "healthy" and table["verdict"].iloc[-1] != "healthy"
    assert r["last_collapsed"] and r.timeline.last_collapsed_ and r.run.steps == [0, 5, 10]
    assert {"scores", "drift", "timeline"} <= set(dir(embedview))
