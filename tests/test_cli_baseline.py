"""`embedview check RUN_FOLDER` and `embedview check NEW --baseline OLD`, end to end in-process on
scikit-learn's digits (real vectors, real runs written with core.timeline.write_step)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.cli import EXIT_OK, EXIT_UNHEALTHY, EXIT_USAGE, main
from embedview.core.timeline import write_step

N = 250


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data[:N].astype(np.float32), d.target[:N]


def _low_rank(X: np.ndarray, rank: int = 2) -> np.ndarray:
    mean = X.mean(axis=0)
    _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
    return ((X - mean) @ vt[:rank].T @ vt[:rank] + mean).astype(np.float32)


def _collapsed(X: np.ndarray) -> np.ndarray:
    """Every item on nearly the same vector: a complete collapse."""
    rng = np.random.default_rng(0)
    return (np.ones((len(X), X.shape[1])) + 1e-3 * rng.normal(size=X.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory, digits):
    """Vectors with labels as .npz (the loaders read ids and labels), the same again, a rank-2 copy."""
    X, y = digits
    root = tmp_path_factory.mktemp("gate")
    out = {}
    for name, vectors in (("old", X), ("same", X.copy()), ("low", _low_rank(X))):
        path = root / f"{name}.npz"
        np.savez(path, embeddings=vectors, ids=np.array([f"d{i}" for i in range(N)]),
                 labels=np.array([str(v) for v in y]))
        out[name] = path
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits):
    X, y = digits
    root = tmp_path_factory.mktemp("runs")
    ids = [f"d{i}" for i in range(N)]
    healthy, collapsing = root / "healthy", root / "collapsing"
    for step, vectors in ((0, _low_rank(X, 8)), (100, X)):
        write_step(healthy, step, vectors, ids=ids, labels=y)
    for step, vectors in ((0, X), (50, _low_rank(X, 4)), (100, _collapsed(X))):
        write_step(collapsing, step, vectors, ids=ids, labels=y)
    return {"healthy": healthy, "collapsing": collapsing}


def test_check_a_run_folder_writes_the_steps_in_order_and_exits_3_when_the_last_collapsed(runs, tmp_path, capsys):
    out = tmp_path / "timeline.json"
    assert main(["check", str(runs["collapsing"]), "-o", str(out)]) == EXIT_UNHEALTHY
    steps = json.loads(out.read_text())  # a list of steps, ordered by step
    assert isinstance(steps, list) and [r["step"] for r in steps] == [0, 50, 100]
    assert steps[0]["verdict"] == "healthy" and steps[-1]["verdict"] != "healthy"
    assert all(r["n_items"] == N for r in steps)
    first, last = steps[0], steps[-1]
    assert last["mean_pairwise_cosine"] > 0.99 > first["mean_pairwise_cosine"]
    assert last["knn_accuracy"] < first["knn_accuracy"] and first["knn_accuracy"] > 0.9
    printed = capsys.readouterr()
    assert "eff. rank" in printed.out and "step" in printed.out  # the table
    assert "last step (100)" in printed.err and "linear_probe:" in printed.err  # how it was measured

    out2 = tmp_path / "healthy.json"
    assert main(["check", str(runs["healthy"]), "-o", str(out2)]) == EXIT_OK
    assert json.loads(out2.read_text())[-1]["verdict"] == "healthy"
    # the written list of steps serves as a baseline (its last step): the collapsing run fails against it
    assert main(["check", str(runs["collapsing"]), "--baseline", str(out2)]) == EXIT_UNHEALTHY


def test_the_gate_passes_the_same_vectors_and_fails_a_low_rank_copy(files, tmp_path, capsys):
    out = tmp_path / "changes.json"
    assert main(["check", str(files["same"]), "--baseline", str(files["old"]), "-o", str(out)]) == EXIT_OK
    doc = json.loads(out.read_text())
    assert doc["passed"] is True and doc["failed"] == []
    assert {r["metric"] for r in doc["rows"]} >= {"effective_rank", "knn_accuracy", "linear_probe", "verdict"}
    capsys.readouterr()

    assert main(["check", str(files["low"]), "--baseline", str(files["old"]), "-o", str(out),
                 "--metrics", "effective_rank,dims_90,knn_accuracy,verdict"]) == EXIT_UNHEALTHY
    doc = json.loads(out.read_text())
    assert not doc["passed"] and {"effective_rank", "knn_accuracy"} <= set(doc["failed"])
    rows = {r["metric"]: r for r in doc["rows"]}
    assert rows["knn_accuracy"]["new"] < rows["knn_accuracy"]["baseline"] - 0.02
    printed = capsys.readouterr()
    assert "regressed" in printed.out and "allowed" in printed.out  # the table of changes
    assert "gate failed" in printed.err


def test_the_gate_reads_check_json_and_run_folders(files, runs, tmp_path):
    metrics = tmp_path / "metrics.json"
    # the plain check, written before (only the checks the gate reads, to keep the test quick)
    from embedview.core.checks import run_checks
    from embedview.core.embeddings import EmbeddingSet
    from embedview.core.loaders import load_paths

    result = run_checks(EmbeddingSet.from_dataset(load_paths([str(files["old"])])), include=("knn",))
    metrics.write_text(json.dumps(result))
    out = tmp_path / "changes.json"
    # a run folder's last step (the digits themselves) against the check result of the same digits
    assert main(["check", str(runs["healthy"]), "--baseline", str(metrics), "-o", str(out),
                 "--metrics", "effective_rank,knn_accuracy,verdict"]) == EXIT_OK
    doc = json.loads(out.read_text())
    assert [r["metric"] for r in doc["rows"]] == ["effective_rank", "knn_accuracy", "verdict"]
    assert "last step, 100" in doc["new_input"]
    # the collapsing run's last step fails against it, whatever the tolerance of the numbers
    assert main(["check", str(runs["collapsing"]), "--baseline", str(metrics), "--tolerance", "10",
                 "--metrics", "verdict"]) == EXIT_UNHEALTHY


def test_the_gate_tolerance_for_one_metric(files, tmp_path):
    out = tmp_path / "changes.json"
    args = ["check", str(files["low"]), "--baseline", str(files["old"]), "-o", str(out), "--metrics", "knn_accuracy",
            "--k", "5"]
    assert main(args) == EXIT_UNHEALTHY
    drop = -json.loads(out.read_text())["rows"][0]["change"]
    assert main([*args, "--tolerance-for", f"knn_accuracy={drop + 0.01}"]) == EXIT_OK


@pytest.mark.parametrize("extra, message", [
    (["--tolerance-for", "accuracy=0.1"], "unknown metric"),
    (["--tolerance-for", "knn_accuracy"], "METRIC=TOLERANCE"),
    (["--metrics", "speed"], "unknown metric"),
])
def test_bad_gate_options_exit_2(files, capsys, extra, message):
    assert main(["check", str(files["same"]), "--baseline", str(files["old"]), *extra]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_bad_gate_inputs_exit_2(files, tmp_path, capsys):
    assert main(["check", str(files["same"]), "--baseline", str(tmp_path / "missing.npz")]) == EXIT_USAGE
    assert "missing.npz" in capsys.readouterr().err
    changes = tmp_path / "changes.json"
    changes.write_text(json.dumps({"passed": True, "failed": [], "rows": []}))
    assert main(["check", str(files["same"]), "--baseline", str(changes)]) == EXIT_USAGE
    assert "a comparison written by --baseline" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["check", str(files["same"]), "--baseline", str(broken)]) == EXIT_USAGE
    assert "broken.json" in capsys.readouterr().err
    assert main(["check", str(files["same"]), "--baseline", str(files["old"]), "--tolerance", "-1"]) == EXIT_USAGE
