"""The Python API (embedview.check / compare / audit / log, embedding_set) on scikit-learn's digits,
without a window (embedview.show is tested for real in tests/gui/test_remote.py)."""

from __future__ import annotations

import os
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
