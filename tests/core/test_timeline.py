"""Runs over training (``embedview.core.timeline``) on real training runs.

The runs are real: :func:`embedview.core.timeline.demo_run` trains a small MLP encoder on
scikit-learn's handwritten digits in numpy (minibatch SGD) and dumps its embeddings with
``write_step`` every N steps.  ``supervised`` trains through a softmax head on the labels (stays
healthy); ``no-negatives`` minimises only the distance between two noisy views of each image (no
negatives, no stop-gradient), which collapses the embedding onto one direction within ~80 steps.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.collapse import CollapseDiagnostics
from embedview.core.evaluation import KNNAccuracy, LinearProbe
from embedview.core.progress import Cancelled, TaskState
from embedview.core.projection import _sample
from embedview.core.timeline import (
    MANIFEST,
    RunError,
    Timeline,
    aligned_maps,
    demo_run,
    is_run_folder,
    read_run,
    run_stamp,
    step_number,
    write_step,
)


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    return demo_run(tmp_path_factory.mktemp("runs") / "supervised", "supervised", steps=60, every=20)


@pytest.fixture(scope="module")
def collapsing(tmp_path_factory):
    return demo_run(tmp_path_factory.mktemp("runs") / "nonegatives", "no-negatives", steps=120, every=40)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data.astype(np.float32), d.target


def test_write_step_keeps_items_once_and_refuses_changes(tmp_path, digits):
    X, y = digits
    run = tmp_path / "run"
    ids = [f"d{i}" for i in range(100)]
    path = write_step(run, 5, X[:100], ids=ids, labels=y[:100])
    assert path.name == "step_000000005.npy"
    assert np.load(path).dtype == np.float32 and np.array_equal(np.load(path), X[:100])
    doc = json.loads((run / MANIFEST).read_text())
    assert doc["n"] == 100 and doc["ids"] == ids and doc["labels"][:3] == [str(v) for v in y[:3]]
    write_step(run, 10, X[:100] * 2)  # later steps may leave ids and labels out
    with pytest.raises(RunError, match=r"step 15 has 99 items but the run was started with 100"):
        write_step(run, 15, X[:99])
    with pytest.raises(RunError, match=r"the ids changed \(item 0: 'd0' in the run, 'x' now\)"):
        write_step(run, 15, X[:100], ids=["x"] + ids[1:])
    with pytest.raises(RunError, match=r"has 32 dimensions but the run was started with 64"):
        write_step(run, 15, X[:100, :32])
    with pytest.raises(RunError, match="step 15: .*NaN"):
        write_step(run, 15, np.full((100, 64), np.nan, dtype=np.float32), on_nonfinite="raise")
    assert sorted(p.name for p in run.iterdir()) == [MANIFEST, "step_000000005.npy", "step_000000010.npy"]
    r = read_run(run)
    assert r.steps == [5, 10] and r.ids == ids and list(r.labels[:3]) == [str(v) for v in y[:3]]
    assert np.array_equal(r.vectors(1), X[:100] * 2)


def test_steps_are_ordered_by_the_number_in_the_name(tmp_path, digits):
    X, _ = digits
    assert [step_number(n) for n in ("step_000100.npy", "epoch_3.parquet", "ckpt-12.npz", "v2_step_7.npy")] == [
        100, 3, 12, 7]
    for name, k in (("epoch_10.npy", 10), ("epoch_2.npy", 2), ("epoch_1.npy", 1)):
        np.save(tmp_path / name, X[:50] * k)
    (tmp_path / "notes.txt").write_text("not a step")
    assert is_run_folder(tmp_path)
    shards = tmp_path.parent / "shards"
    shards.mkdir()
    np.save(shards / "part_0.npy", X[:5])
    np.save(shards / "part_1.npy", X[5:10])
    assert not is_run_folder(shards)  # numbered shards of one dataset are opened as data, not as a run
    assert not is_run_folder(tmp_path / "notes.txt")
    run = read_run(tmp_path)
    assert run.steps == [1, 2, 10] and [p.name for p in run.files] == ["epoch_1.npy", "epoch_2.npy", "epoch_10.npy"]
    assert np.array_equal(run.vectors(2), X[:50] * 10)
    np.save(tmp_path / "ckpt-002.npy", X[:50])
    with pytest.raises(RunError, match=r"epoch_2.npy.* both are step 2|ckpt-002.npy.* both are step 2"):
        read_run(tmp_path)
    (tmp_path / "ckpt-002.npy").unlink()
    np.save(tmp_path / "final.npy", X[:50])
    assert not is_run_folder(tmp_path)
    with pytest.raises(RunError, match=r"final.npy: no step number in its name"):
        read_run(tmp_path)
    (tmp_path / "final.npy").unlink()
    np.save(tmp_path / "epoch_11.npy", X[:49])
    with pytest.raises(RunError, match=r"epoch_11.npy has 49 items but epoch_1.npy has 50"):
        read_run(tmp_path)


def test_ids_are_matched_across_steps_and_dropped_items_counted(tmp_path, digits):
    X, y = digits
    ids = np.array([f"img{i}" for i in range(60)])
    np.savez(tmp_path / "ckpt-1.npz", embeddings=X[:60], ids=ids, labels=y[:60].astype(str))
    perm = np.random.default_rng(0).permutation(np.arange(5, 60))  # other order, 5 items missing
    np.savez(tmp_path / "ckpt-2.npz", embeddings=X[perm] + 1, ids=ids[perm])
    run = read_run(tmp_path)
    assert run.steps == [1, 2] and run.n == 55 and run.ids == [f"img{i}" for i in range(5, 60)]
    assert run.notes and run.notes[0].startswith("5 item(s) are not in every step and were left out; 55 kept")
    assert np.array_equal(run.vectors(1), X[5:60] + 1)  # step 2's rows put back in the run's order
    assert np.array_equal(run.vectors(0), X[5:60])
    assert list(run.labels) == [str(v) for v in y[5:60]]
    np.save(tmp_path / "ckpt-3.npy", X[:55])
    with pytest.raises(RunError, match=r"ckpt-1.npz has item ids but .*ckpt-3.npy has none"):
        read_run(tmp_path)


def test_metrics_are_the_core_measures_on_the_same_items(healthy):
    run = read_run(healthy)
    assert run.steps == [0, 20, 40, 60] and run.n == 1797 and run.positives.shape == (500, 2)
    tl = Timeline(sample=1000, pair_sample=800, probe_sample=600).fit(run)
    rows = _sample(run.n, 1000, 0)
    for i, row in enumerate(tl.rows_):
        X = run.vectors(i)
        d = CollapseDiagnostics(sample=1000, pair_sample=800, random_state=0).fit(X[rows])
        assert row["step"] == run.steps[i] and row["verdict"] == d.verdict_
        assert row["effective_rank"] == pytest.approx(d.effective_rank_)
        assert row["dims_90"] == d.n_components_90_
        assert row["mean_pairwise_cosine"] == pytest.approx(d.cosine_mean_)
        assert row["uniformity"] == pytest.approx(d.uniformity_)
        full = CollapseDiagnostics(sample=10, pair_sample=10).fit(X, positive_pairs=run.positives)
        assert row["alignment"] == pytest.approx(full.alignment_)
        assert row["knn_accuracy"] == pytest.approx(KNNAccuracy(k=10).fit(X[rows], run.labels[rows]).accuracy_)
        probe = rows[_sample(1000, 600, 0)]
        lp = LinearProbe(folds=3, max_iter=300).fit(X[probe], run.labels[probe])
        assert row["linear_probe"] == pytest.approx(lp.accuracy_mean_)
        assert row["n_used"] == {"effective_rank": 1000, "dims_90": 1000, "mean_pairwise_cosine": 800,
                                 "uniformity": 800, "alignment": 500, "knn_accuracy": 1000, "linear_probe": 600}
        assert row["sampled"] and row["n_items"] == 1797
    # training on the labels: the classes separate over the run
    assert tl.rows_[-1]["knn_accuracy"] > tl.rows_[0]["knn_accuracy"] + 0.05
    assert not tl.last_collapsed_ and tl.rows_[-1]["verdict"] == "healthy"
    doc = json.loads(json.dumps(tl.to_dict(), allow_nan=False))
    assert [r["step"] for r in doc["rows"]] == [0, 20, 40, 60] and doc["last_collapsed"] is False


def test_a_run_without_negatives_ends_collapsed(collapsing):
    run = read_run(collapsing)
    run.labels = None  # measured without labels: those metrics are absent, not zero
    tl = Timeline(sample=800).fit(run)
    verdicts = [r["verdict"] for r in tl.rows_]
    assert verdicts[0] == "healthy" and verdicts[-1] == "complete collapse"
    assert tl.last_collapsed_ and tl.to_dict()["last_verdict"] == "complete collapse"
    cos = [r["mean_pairwise_cosine"] for r in tl.rows_]
    assert cos == sorted(cos) and cos[-1] > 0.9  # every pair points the same way, more at each step
    assert all(r["knn_accuracy"] is None and r["linear_probe"] is None for r in tl.rows_)
    assert all(r["n_used"]["knn_accuracy"] == 0 for r in tl.rows_)
    json.dumps(tl.to_dict(), allow_nan=False)


def test_progress_reports_each_step_and_cancel_stops(healthy):
    run = read_run(healthy)
    seen = []
    Timeline(sample=300, probe_sample=300).fit(run, progress=TaskState(lambda f, m: seen.append(m), min_interval=0.0))
    assert any(m.startswith("step 40 (3 of 4)") for m in seen)

    def stop_at_second(frac, msg):
        if msg.startswith("step 20"):
            task.cancel()

    task = TaskState(stop_at_second, min_interval=0.0)
    with pytest.raises(Cancelled):
        Timeline(sample=300, probe_sample=300).fit(run, progress=task)


def test_procrustes_makes_successive_maps_closer(collapsing, healthy):
    for folder in (healthy, collapsing):
        run = read_run(folder)
        aligned = aligned_maps(run)
        raw = aligned_maps(run, align=False)
        assert len(aligned) == len(run) and aligned[0].shape == (run.n, 2)
        for t in range(1, len(run)):
            a = np.linalg.norm(aligned[t] - aligned[t - 1], axis=1).mean()
            r = np.linalg.norm((raw[t] - raw[t].mean(0)) - (raw[t - 1] - raw[t - 1].mean(0)), axis=1).mean()
            assert a <= r + 1e-6
            # a rotation only: each map keeps its own shape (pairwise distances)
            assert np.allclose(np.linalg.norm(aligned[t][:50] - aligned[t][0], axis=1),
                               np.linalg.norm(raw[t][:50] - raw[t][0], axis=1), rtol=1e-3, atol=1e-4)
        gains = [np.linalg.norm(raw[t] - raw[t - 1], axis=1).mean() /
                 max(np.linalg.norm(aligned[t] - aligned[t - 1], axis=1).mean(), 1e-12) for t in range(1, len(run))]
        assert max(gains) > 1.5  # somewhere the PCA axes flipped or turned, and alignment undid it
    with pytest.raises(ValueError, match="'umap' is not offered"):
        aligned_maps(run, method="umap")


def test_a_growing_run_reuses_the_steps_already_measured(tmp_path, digits):
    """A training loop writing steps while the run is watched: only new or rewritten steps are measured."""
    X, y = digits
    rng = np.random.default_rng(0)
    P = rng.normal(size=(64, 32)).astype(np.float32)
    for step in (0, 10):
        write_step(tmp_path, step, X[:400] @ P * (1 + step), labels=y[:400])
    first = Timeline(sample=300, probe_sample=300).fit(read_run(tmp_path))
    before = run_stamp(tmp_path)
    write_step(tmp_path, 20, X[:400] @ P[:, :2] @ P[:, :2].T[:, :32])  # a step that loses rank
    assert run_stamp(tmp_path) != before
    grown = Timeline(sample=300, probe_sample=300).fit(read_run(tmp_path), reuse=first)
    assert grown.reused_ == 2 and grown.steps_ == [0, 10, 20]
    fresh = Timeline(sample=300, probe_sample=300).fit(read_run(tmp_path))
    assert [r["effective_rank"] for r in grown.rows_] == pytest.approx([r["effective_rank"] for r in fresh.rows_])
    assert grown.rows_[2]["dims_90"] <= 2 and grown.rows_[2]["effective_rank"] < 2.5  # the new step, measured
    write_step(tmp_path, 10, X[:400] @ P * 5)  # step 10 rewritten: measured again
    again = Timeline(sample=300, probe_sample=300).fit(read_run(tmp_path), reuse=grown)
    assert again.reused_ == 2
    other = Timeline(sample=200, probe_sample=200).fit(read_run(tmp_path), reuse=again)  # other parameters
    assert other.reused_ == 0


def test_parquet_epochs_with_ids_are_a_run(tmp_path, digits):
    import pyarrow as pa
    import pyarrow.parquet as pq

    X, y = digits
    for epoch, rows in ((3, np.arange(0, 40)), (12, np.arange(39, -1, -1))):  # epoch 12 lists the items reversed
        vec = np.ascontiguousarray(X[rows] * epoch, dtype=np.float32)
        table = pa.table({"id": [f"d{i}" for i in rows], "label": [str(y[i]) for i in rows],
                          "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vec.reshape(-1)), 64)})
        pq.write_table(table, tmp_path / f"epoch_{epoch}.parquet")
    assert is_run_folder(tmp_path)
    run = read_run(tmp_path)
    assert run.steps == [3, 12] and run.ids[:2] == ["d0", "d1"] and not run.notes
    assert np.array_equal(run.vectors(1), X[:40] * 12)  # matched by id, not by row
    assert list(run.labels[:3]) == [str(v) for v in y[:3]]


def test_a_diverged_step_is_recorded_not_raised_and_the_check_fails(tmp_path, digits, capsys):
    """A training loop that diverges (NaN / inf vectors) is not killed by ``write_step``: the step
    is recorded in the manifest, warned about, listed by ``read_run`` and shown by ``check``."""
    from embedview.cli import EXIT_UNHEALTHY, main

    X, y = digits
    X = X[:300] / 16.0
    run = tmp_path / "run"
    write_step(run, 0, X, labels=y[:300])
    write_step(run, 10, X * 1.5)
    bad = X * 3.0
    bad[:7, 0] = np.nan
    bad[7:9, 3] = np.inf
    with pytest.warns(RuntimeWarning, match=rf"{run}: step 20 diverged \(9 of 300 rows"):
        out = write_step(run, 20, bad)
    assert out == run / MANIFEST and not (run / "step_000000020.npy").exists()
    assert json.loads(out.read_text())["diverged"] == {"20": 9}
    # finite float64 values beyond float32's range are infinite once written: a divergence too
    with pytest.warns(RuntimeWarning, match="step 30 diverged \\(300 of 300"):
        write_step(run, 30, X.astype(np.float64) * 1e300)
    with pytest.raises(RunError, match="step 40: .*NaN or infinite values \\(9 of 300 rows\\)"):
        write_step(run, 40, bad, on_nonfinite="raise")
    assert sorted(p.name for p in run.iterdir()) == [MANIFEST, "step_000000000.npy", "step_000000010.npy"]

    r = read_run(run)
    assert r.steps == [0, 10] and r.diverged == {20: 9, 30: 300}
    assert any("2 step(s) diverged" in n and "20 (9 of 300 rows)" in n for n in r.notes)
    t = Timeline(k=5, probe_folds=2, probe_max_iter=100).fit(r)
    assert [row["step"] for row in t.rows_] == [0, 10]  # measured rows, one per file (the view's index)
    assert t.last_verdict_ == "diverged" and t.last_collapsed_
    doc = t.to_dict()
    assert [(row["step"], row["verdict"]) for row in doc["rows"]][2:] == [(20, "diverged"), (30, "diverged")]
    assert doc["rows"][2]["n_nonfinite"] == 9 and doc["rows"][2]["effective_rank"] is None
    assert doc["diverged"] == {"20": 9, "30": 300}
    json.dumps(doc, allow_nan=False)
    steps, values = t.series("effective_rank")
    assert list(steps) == [0, 10] and np.all(np.isfinite(values))

    capsys.readouterr()
    assert main(["check", str(run), "--k", "5"]) == EXIT_UNHEALTHY
    err = capsys.readouterr().err
    assert "last step (30): diverged" in err

    # the step written again with finite vectors clears the record; the run then ends on it
    write_step(run, 30, X * 2.0)
    r2 = read_run(run)
    assert r2.steps == [0, 10, 30] and r2.diverged == {20: 9}
    t2 = Timeline(k=5, probe_folds=2, probe_max_iter=100).fit(r2)
    assert [row["verdict"] for row in t2.to_dict()["rows"]][2] == "diverged"
    assert t2.last_verdict_ == t2.rows_[-1]["verdict"] and t2.last_collapsed_ == (t2.last_verdict_ != "healthy")


def test_a_run_whose_only_step_diverged_says_so(tmp_path, digits):
    X, _ = digits
    with pytest.warns(RuntimeWarning, match="step 0 diverged"):
        write_step(tmp_path / "run", 0, np.full((50, 64), np.inf))
    with pytest.raises(RunError, match=r"no embedding files in it .*steps 0 diverged"):
        read_run(tmp_path / "run")
