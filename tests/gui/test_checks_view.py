"""ChecksView: every check run from the form equals the core run directly on the same data;
cancel, clear messages for missing / too few labels, copy and CSV / JSON export, the invariance
probe with the real text encoder, and the HTML report from the File menu."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from embedview.core import evaluation
from embedview.core.checks import usable_labels
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from viewkit import digits_set


ENV_SIZE = (1200, 700)  # the host window of the ``env`` fixture (tests/gui/conftest.py)


def _view(env, emb):
    from embedview.gui.views.checks import ChecksView

    view = env.add(ChecksView)
    env.show()
    env.load(emb)
    return view


def _wait_done(qtbot, view, timeout=120_000):
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=timeout)


def test_run_all_equals_the_core_on_digits(env, qtbot, tmp_path):
    emb = digits_set(500)
    view = _view(env, emb)
    # non-default parameters, so the form really reaches the core
    view.knn_k.setValue(7)
    view.knn_vote.setCurrentText("weighted")
    view.probe_folds.setValue(4)
    view.probe_c.setValue(0.5)
    view.cluster_sample.setValue(300)
    view.retrieval_ks.setText("1, 3, 20")
    view.outlier_k.setValue(5)
    view.outlier_known.setCurrentIndex(view.outlier_known.findData("label:8"))
    view.run_all()
    assert "needs the encoder" in view.status_text("invariance") or "precomputed" in view.status_text("invariance")
    _wait_done(qtbot, view)
    assert set(view.results) == {"knn", "linear_probe", "clustering", "retrieval", "outliers"}

    X = emb.vectors
    labels, _ = usable_labels(emb)
    knn = evaluation.KNNAccuracy(7, "weighted", "cosine").fit(X, labels)
    assert view.value("knn", "accuracy") == knn.accuracy_
    probe = evaluation.LinearProbe(folds=4, C=0.5).fit(X, labels)
    assert view.value("linear_probe", "accuracy") == probe.accuracy_mean_
    assert view.value("linear_probe", "macro-F1") == probe.macro_f1_mean_
    assert view.rows["linear_probe"][0]["std"] == probe.accuracy_std_
    clus = evaluation.ClusteringMetrics(sample=300, metric="cosine").fit(X, labels)
    assert view.value("clustering", "NMI") == clus.nmi_ and view.value("clustering", "ARI") == clus.ari_
    assert view.value("clustering", "silhouette (labels)") == clus.silhouette_
    assert view.value("clustering", "silhouette (k-means)") == clus.silhouette_kmeans_
    ret = evaluation.RetrievalMetrics(ks=[1, 3, 20], metric="cosine").fit(X, labels)
    for k in (1, 3, 20):
        assert view.value("retrieval", f"Recall@{k}") == ret.recall_at_[k]
        assert view.value("retrieval", f"Precision@{k}") == ret.precision_at_[k]
    assert view.value("retrieval", "mAP") == ret.map_
    flags = np.array([str(v) == "8" for v in emb.dataset.labels])
    out = evaluation.OutlierScores(5, "cosine").fit(X, outliers=flags)
    assert view.value("outliers", "AUROC (known outliers)") == out.auroc_
    assert view.value("outliers", "mean outlier score") == float(out.scores_.mean())

    # the table shows them, and the state has the fitted objects
    assert view.table.rowCount() == len(view.all_rows()) >= 14
    texts = [view.table.item(r, 1).text() for r in range(view.table.rowCount())]
    assert "Recall@20" in texts and "AUROC (known outliers)" in texts
    r = texts.index("accuracy")
    assert view.table.item(r, 2).data(0x0100) == knn.accuracy_ and view.table.item(r, 2).text() == f"{knn.accuracy_:.4f}"
    assert env.state.get_analysis("checks")["knn"] is view.results["knn"]

    # copy and export
    view.copy_rows()
    clip = QApplication.clipboard().text().splitlines()
    assert clip[0].split("\t")[:3] == ["Check", "Metric", "Value"] and len(clip) == view.table.rowCount() + 1
    view.export(str(tmp_path / "checks.csv"))
    with open(tmp_path / "checks.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == view.table.rowCount()
    row = next(x for x in rows if x["check"] == "Retrieval" and x["metric"] == "mAP")
    assert float(row["value"]) == ret.map_
    view.export(str(tmp_path / "checks.json"))
    doc = json.loads((tmp_path / "checks.json").read_text(encoding="utf-8"))
    assert doc["checks"]["knn"]["result"]["accuracy"] == knn.accuracy_
    assert doc["checks"]["knn"]["params"] == {"k": 7, "vote": "weighted", "metric": "cosine"}
    assert doc["checks"]["linear_probe"]["result"]["fold_scores"] == probe.fold_scores_


def test_euclidean_metric_and_explicit_cluster_count(env, qtbot):
    emb = digits_set(300)
    view = _view(env, emb)
    view.metric_box.setCurrentIndex(view.metric_box.findData("euclidean"))
    view.cluster_k.setValue(4)
    view.run("knn")
    view.run("clustering")
    _wait_done(qtbot, view)
    labels, _ = usable_labels(emb)
    assert view.value("knn", "accuracy") == evaluation.KNNAccuracy(10, "majority", "euclidean").fit(
        emb.vectors, labels).accuracy_
    clus = evaluation.ClusteringMetrics(n_clusters=4, metric="euclidean").fit(emb.vectors, labels)
    assert view.results["clustering"].n_clusters_ == 4 and view.value("clustering", "NMI") == clus.nmi_


def test_cancel_a_running_check(env, qtbot):
    emb = digits_set()
    view = _view(env, emb)
    view.probe_folds.setValue(10)
    view.run("linear_probe")
    view.run("knn")  # queued behind it
    assert view.runner.is_running("checks.linear_probe") and view.status_text("knn") == "queued"
    view.cancel("linear_probe")
    qtbot.waitUntil(lambda: view.status_text("linear_probe") == "cancelled", timeout=60_000)
    _wait_done(qtbot, view)
    assert "linear_probe" not in view.results and "knn" in view.results  # the queue went on
    # cancelling a queued check removes it before it starts
    view.run("clustering")
    view.run("retrieval")
    view.cancel("retrieval")
    assert view.status_text("retrieval") == "cancelled"
    _wait_done(qtbot, view)
    assert "clustering" in view.results and "retrieval" not in view.results


def _set(labels, n_items=None):
    base = digits_set(n_items)
    ds = base.dataset
    d = Dataset("embedding", ids=list(ds.ids), sources=list(ds.sources),
                labels=None if labels is None else np.array(labels, dtype=object), embeddings=base.vectors,
                name="digits")
    return EmbeddingSet.from_dataset(d)


def test_clear_messages_without_labels_and_for_small_classes(env, qtbot):
    view = _view(env, _set(None, 200))
    for name in ("knn", "linear_probe", "clustering", "retrieval"):
        assert "needs labels: the dataset has no labels" in view.status_text(name)
        assert not view.form_rows[name].run.isEnabled()
    assert view.form_rows["outliers"].run.isEnabled()
    view.run_all()
    _wait_done(qtbot, view)
    assert set(view.results) == {"outliers"}
    assert "needs labels" in view.status_text("knn")

    # a class of 3 items cannot be in 5 folds: the probe drops it and says so (the core's message_)
    digits = digits_set(200)
    labels = np.array(digits.dataset.labels, dtype=object)
    labels[[0, 1, 2]] = "rare"
    labels[[3]] = "single"
    env.load(_set(list(labels), 200))
    view.run("linear_probe")
    view.run("knn")
    _wait_done(qtbot, view)
    msg = view.results["linear_probe"].message_
    assert "fewer than 5 items" in msg and "'rare' (3)" in msg
    assert msg in view.status_text("linear_probe")
    assert "fewer than 2 items left out" in view.status_text("knn")  # usable_labels' note on 'single'
    assert msg in view.rows["linear_probe"][0]["details"]


@pytest.mark.slow
def test_invariance_probe_with_the_real_text_encoder(env, qtbot):
    from embedview.core.invariance import InvarianceProbe
    from embedview.encoders.pipeline import embed, get_encoder

    words = ["red", "quiet", "old", "tiny", "bright", "wooden", "frozen", "busy", "lonely", "golden", "narrow", "wild"]
    things = ["harbour", "violin", "bicycle", "teapot", "lighthouse", "glacier"]
    texts = [f"The {w} {t} stands near the station in the early morning light." for w, t in zip(words, things * 2)]
    ds = Dataset("text", ids=[f"t{i}" for i in range(len(texts))], sources=["texts.txt"] * len(texts),
                 texts=texts, name="texts")
    emb = embed(ds, "default-text")
    view = _view(env, emb)
    assert view.form_rows["invariance"].run.isEnabled()
    assert set(view.aug_actions) == {"casing", "typos", "word_dropout"}
    view.aug_actions["word_dropout"].setChecked(False)
    view.inv_items.setValue(10)
    view.run("invariance")
    _wait_done(qtbot, view, timeout=240_000)
    assert "invariance" in view.results, view.status_text("invariance")
    probe = InvarianceProbe(augmentations=["casing", "typos"], n_items=10).run(
        texts, get_encoder("default-text").encode, "text")
    for aug in ("casing", "typos"):
        assert view.value("invariance", f"{aug}: mean cosine") == pytest.approx(
            probe.results_[aug]["mean_cosine"], abs=1e-6)
        assert view.value("invariance", f"{aug}: mean rank") == probe.results_[aug]["mean_rank"]
    assert "word_dropout: mean cosine" not in [r["metric"] for r in view.rows["invariance"]]


def test_html_report_from_the_file_menu_runs_in_the_runner(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFileDialog, QProgressDialog, QPushButton

    from embedview.gui.views import checks

    emb = digits_set(200)
    window.set_dataset(emb.dataset, ["digits.npy"])
    qtbot.waitUntil(lambda: window.state.emb is not None, timeout=10000)
    path = tmp_path / "report.html"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), "HTML (*.html)"))
    fractions = []
    window.runner.progress.connect(lambda key, f, _m: fractions.append(f) if key == "report" else None)
    window.actions_by_key["export_report"].trigger()
    # written in the runner: the file appears later, through the job (never during the trigger)
    assert not path.exists() and window.runner.is_running("report")
    qtbot.waitUntil(lambda: path.exists() and "report" in window.last_message, timeout=120_000)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "digits" in text
    assert fractions and max(fractions) <= 1.0
    assert not [d for d in window.findChildren(QProgressDialog) if d.isVisible()]

    # its Cancel stops the job and leaves nothing behind
    other = tmp_path / "cancelled.html"
    run = checks.export_report(window, window.state, window.runner, str(other))
    assert run.dialog.isVisible()
    qtbot.mouseClick(run.dialog.findChild(QPushButton), Qt.LeftButton)  # the dialog's Cancel button
    qtbot.waitUntil(lambda: run.dialog is None and not window.runner.is_running("report"), timeout=60_000)
    assert not other.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith("cancelled")]
