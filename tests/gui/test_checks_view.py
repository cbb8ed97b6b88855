"""ChecksView: every check run from the form equals the core run directly on the same data;
cancel, clear messages for missing / too few labels, copy and CSV / JSON export, the invariance
probe with the real text encoder, and the HTML report from the File menu.

The choices are set on the model (``model.views.checks``) and the results read from it
(``AnalysisKind.CHECKS``); a few assertions check what the user sees (the form's widgets follow the
state, the table's cells, the status lines)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication
from viewkit import digits_set

from embedview.core import evaluation
from embedview.core.checks import usable_labels
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.model.analyses import AnalysisKind
from embedview.runtime.keys import JobKind

ENV_SIZE = (1200, 700)  # the host window of the ``env`` fixture (tests/gui/conftest.py)


def _view(env, emb):
    from embedview.gui.views.checks import ChecksView

    view = env.add(ChecksView)
    env.show()
    env.load(emb)
    return view


def _wait_done(qtbot, view, timeout=120_000):
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=timeout)


def _runs(env):
    """The active set's check runs, as the model holds them: {name: CheckRun}."""
    return env.model.get_analysis(AnalysisKind.CHECKS) or {}


def test_run_all_equals_the_core_on_digits(env, qtbot, tmp_path):
    emb = digits_set(500)
    view = _view(env, emb)
    checks = env.model.views.checks
    # non-default parameters, so the state really reaches the core
    checks.set_param("knn", "k", 7)
    checks.set_param("knn", "vote", "weighted")
    checks.set_param("linear_probe", "folds", 4)
    checks.set_param("linear_probe", "C", 0.5)
    checks.set_param("clustering", "sample", 300)
    checks.set_param("retrieval", "ks", "1, 3, 20")
    checks.set_param("outliers", "k", 5)
    # ... and one through its widget: the widgets write the state
    known = view.editor("outliers", "known").widget
    known.setCurrentIndex(known.findData("label:8"))
    assert checks.param("outliers", "known") == "label:8"
    # the widgets show the state
    assert view.editor("knn", "k").widget.value() == 7 and view.editor("knn", "vote").widget.currentText() == "weighted"
    assert view.editor("retrieval", "ks").widget.text() == "1, 3, 20"
    view.run_all()
    assert "needs the encoder" in view.status_text("invariance") or "precomputed" in view.status_text("invariance")
    _wait_done(qtbot, view)
    runs = _runs(env)
    assert set(runs) == {"knn", "linear_probe", "clustering", "retrieval", "outliers"}

    X = emb.vectors
    labels, _ = usable_labels(emb)
    knn = evaluation.KNNAccuracy(7, "weighted", "cosine").fit(X, labels)
    assert runs["knn"].value("accuracy") == knn.accuracy_
    probe = evaluation.LinearProbe(folds=4, C=0.5).fit(X, labels)
    assert runs["linear_probe"].value("accuracy") == probe.accuracy_mean_
    assert runs["linear_probe"].value("macro-F1") == probe.macro_f1_mean_
    assert runs["linear_probe"].rows[0]["std"] == probe.accuracy_std_
    clus = evaluation.ClusteringMetrics(sample=300, metric="cosine").fit(X, labels)
    assert runs["clustering"].value("NMI") == clus.nmi_ and runs["clustering"].value("ARI") == clus.ari_
    assert runs["clustering"].value("silhouette (labels)") == clus.silhouette_
    assert runs["clustering"].value("silhouette (k-means)") == clus.silhouette_kmeans_
    ret = evaluation.RetrievalMetrics(ks=[1, 3, 20], metric="cosine").fit(X, labels)
    for k in (1, 3, 20):
        assert runs["retrieval"].value(f"Recall@{k}") == ret.recall_at_[k]
        assert runs["retrieval"].value(f"Precision@{k}") == ret.precision_at_[k]
    assert runs["retrieval"].value("mAP") == ret.map_
    flags = np.array([str(v) == "8" for v in emb.dataset.labels])
    out = evaluation.OutlierScores(5, "cosine").fit(X, outliers=flags)
    assert runs["outliers"].value("AUROC (known outliers)") == out.auroc_
    assert runs["outliers"].value("mean outlier score") == float(out.scores_.mean())
    assert runs["knn"].params == {"k": 7, "vote": "weighted", "metric": "cosine"}

    # the table shows them (what the user sees)
    n_rows = sum(len(run.rows) for run in runs.values())
    assert view.table.rowCount() == n_rows >= 14
    texts = [view.table.item(r, 1).text() for r in range(view.table.rowCount())]
    assert "Recall@20" in texts and "AUROC (known outliers)" in texts
    r = texts.index("accuracy")
    assert view.table.item(r, 2).data(0x0100) == knn.accuracy_
    assert view.table.item(r, 2).text() == f"{knn.accuracy_:.4f}"

    # copy and export
    view.copy_rows()
    clip = QApplication.clipboard().text().splitlines()
    assert clip[0].split("\t")[:3] == ["Check", "Metric", "Value"] and len(clip) == n_rows + 1
    view.export(str(tmp_path / "checks.csv"))
    with open(tmp_path / "checks.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n_rows
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
    view.metric_box.setCurrentIndex(view.metric_box.findData("euclidean"))  # the widget writes the state
    assert env.model.views.checks.metric == "euclidean"
    env.model.views.checks.set_param("clustering", "n_clusters", 4)
    view.run("knn")
    view.run("clustering")
    _wait_done(qtbot, view)
    labels, _ = usable_labels(emb)
    runs = _runs(env)
    assert runs["knn"].value("accuracy") == evaluation.KNNAccuracy(10, "majority", "euclidean").fit(
        emb.vectors, labels).accuracy_
    clus = evaluation.ClusteringMetrics(n_clusters=4, metric="euclidean").fit(emb.vectors, labels)
    assert runs["clustering"].result.n_clusters_ == 4 and runs["clustering"].value("NMI") == clus.nmi_


def test_a_bad_parameter_says_what_is_wrong(env, qtbot):
    view = _view(env, digits_set(200))
    view.editor("retrieval", "ks").widget.setText("1, five")
    assert env.model.views.checks.param("retrieval", "ks") == "1, five"
    view.run("retrieval")
    _wait_done(qtbot, view)
    assert "K must be whole numbers" in view.status_text("retrieval") and view.status_level("retrieval") == "error"
    assert "retrieval" not in _runs(env)


def test_cancel_a_running_check(env, qtbot):
    emb = digits_set()
    view = _view(env, emb)
    env.model.views.checks.set_param("linear_probe", "folds", 10)
    view.run("linear_probe")
    view.run("knn")  # queued behind it
    assert view.runner.is_running(JobKind.CHECK.key("linear_probe")) and view.status_text("knn") == "queued"
    view.cancel("linear_probe")
    qtbot.waitUntil(lambda: view.status_text("linear_probe") == "cancelled", timeout=60_000)
    _wait_done(qtbot, view)
    assert "linear_probe" not in _runs(env) and "knn" in _runs(env)  # the queue went on
    # cancelling a queued check removes it before it starts
    view.run("clustering")
    view.run("retrieval")
    view.cancel("retrieval")
    assert view.status_text("retrieval") == "cancelled"
    _wait_done(qtbot, view)
    assert "clustering" in _runs(env) and "retrieval" not in _runs(env)


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
    # k-means with a chosen number of clusters needs no labels: the form follows the state
    env.model.views.checks.set_param("clustering", "n_clusters", 3)
    assert view.form_rows["clustering"].run.isEnabled() and view.status_text("clustering") == ""
    env.model.views.checks.set_param("clustering", "n_clusters", 0)
    assert not view.form_rows["clustering"].run.isEnabled()
    view.run_all()
    _wait_done(qtbot, view)
    assert set(_runs(env)) == {"outliers"}
    assert "needs labels" in view.status_text("knn")

    # a class of 3 items cannot be in 5 folds: the probe drops it and says so (the core's message_)
    digits = digits_set(200)
    labels = np.array(digits.dataset.labels, dtype=object)
    labels[[0, 1, 2]] = "rare"
    labels[[3]] = "single"
    env.load(_set(list(labels), 200))
    assert _runs(env) == {}  # a new set: no results of the old one
    view.run("linear_probe")
    view.run("knn")
    _wait_done(qtbot, view)
    runs = _runs(env)
    msg = runs["linear_probe"].result.message_
    assert "fewer than 5 items" in msg and "'rare' (3)" in msg
    assert msg in runs["linear_probe"].message and msg in view.status_text("linear_probe")
    assert "fewer than 2 items left out" in runs["knn"].message  # usable_labels' note on 'single'
    assert view.status_level("knn") == "warn"
    assert msg in runs["linear_probe"].rows[0]["details"]


def test_results_stay_with_their_encoder(env, qtbot):
    """Results are filed per encoder in the model: another active set shows its own (none yet), and
    coming back shows the first set's again."""
    first = digits_set(200)
    view = _view(env, first)
    view.run("knn")
    _wait_done(qtbot, view)
    assert view.table.rowCount() == 1
    other = EmbeddingSet(first.dataset, first.vectors[:, ::-1].copy(), encoder="reversed")
    env.model.add_embeddings(other)
    assert env.model.active == "reversed" and _runs(env) == {} and view.table.rowCount() == 0
    env.model.set_active("precomputed")
    assert set(_runs(env)) == {"knn"} and view.table.rowCount() == 1
    assert view.status_text("knn").startswith("done")


def test_a_stale_result_is_dropped(env, qtbot):
    """A check whose set was replaced while it ran files nothing (the runner's is_stale)."""
    emb = digits_set(300)
    view = _view(env, emb)
    env.model.views.checks.set_param("linear_probe", "folds", 10)
    view.run("linear_probe")
    replacement = digits_set(300)
    env.model.sets["precomputed"] = replacement  # replaced behind the view's back: no reset, no cancel
    _wait_done(qtbot, view)
    assert env.model.get_analysis(AnalysisKind.CHECKS) in (None, {})


def test_the_choices_are_saved_with_the_state(env, qtbot):
    view = _view(env, digits_set(100))
    checks = env.model.views.checks
    view.editor("knn", "k").widget.setValue(12)
    view.editor("linear_probe", "C").widget.setValue(2.5)
    saved = checks.to_dict()
    assert saved["params"]["knn"] == {"k": 12} and saved["params"]["linear_probe"] == {"C": 2.5}
    checks.update({"params": {"knn": {"k": 3}}, "metric": "euclidean"})
    assert view.editor("knn", "k").widget.value() == 3 and view.metric_box.currentData() == "euclidean"
    assert view.editor("linear_probe", "C").widget.value() == 1.0  # back to the registry default


@pytest.mark.slow
def test_invariance_probe_with_the_real_text_encoder(env, qtbot):
    from embedview.core.invariance import InvarianceProbe
    from embedview.encoders.pipeline import embed, get_encoder

    words = ["red", "quiet", "old", "tiny", "bright", "wooden", "frozen", "busy", "lonely", "golden", "narrow", "wild"]
    things = ["harbour", "violin", "bicycle", "teapot", "lighthouse", "glacier"]
    texts = [f"The {w} {t} stands near the station in the early morning light."
             for w, t in zip(words, things * 2, strict=True)]
    ds = Dataset("text", ids=[f"t{i}" for i in range(len(texts))], sources=["texts.txt"] * len(texts),
                 texts=texts, name="texts")
    emb = embed(ds, "default-text")
    view = _view(env, emb)
    assert view.form_rows["invariance"].run.isEnabled()
    augs = view.editor("invariance", "augmentations")
    assert set(augs.actions) == {"casing", "typos", "word_dropout"}
    augs.actions["word_dropout"].setChecked(False)  # the menu writes the state
    assert env.model.views.checks.param("invariance", "augmentations") == ["casing", "typos"]
    env.model.views.checks.set_param("invariance", "n_items", 10)
    view.run("invariance")
    _wait_done(qtbot, view, timeout=240_000)
    assert "invariance" in _runs(env), view.status_text("invariance")
    run = _runs(env)["invariance"]
    probe = InvarianceProbe(augmentations=["casing", "typos"], n_items=10).run(
        texts, get_encoder("default-text").encode, "text")
    for aug in ("casing", "typos"):
        assert run.value(f"{aug}: mean cosine") == pytest.approx(probe.results_[aug]["mean_cosine"], abs=1e-6)
        assert run.value(f"{aug}: mean rank") == probe.results_[aug]["mean_rank"]
    assert "word_dropout: mean cosine" not in [r["metric"] for r in run.rows]


def test_html_report_from_the_file_menu_runs_in_the_runner(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QProgressDialog, QPushButton

    from embedview.gui import report_dialog

    emb = digits_set(200)
    window.data.show_dataset(emb.dataset, ["digits.npy"])
    qtbot.waitUntil(lambda: window.model.emb is not None, timeout=10000)
    path = tmp_path / "report.html"
    monkeypatch.setattr(report_dialog, "ask_report_target", lambda *a, **k: (str(path), True))  # the save dialog
    fractions = []
    report = JobKind.REPORT.key()
    window.runner.progress.connect(lambda key, f, _m: fractions.append(f) if key == report else None)
    window.actions_by_key["export_report"].trigger()
    # written in the runner: the file appears later, through the job (never during the trigger)
    assert not path.exists() and window.runner.is_running(JobKind.REPORT)
    qtbot.waitUntil(lambda: path.exists() and "report" in window.last_message, timeout=120_000)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "digits" in text
    assert fractions and max(fractions) <= 1.0
    assert not [d for d in window.findChildren(QProgressDialog) if d.isVisible()]

    # its Cancel stops the job and leaves nothing behind
    other = tmp_path / "cancelled.html"
    run = report_dialog.export_report(window, window.model, window.runner, str(other))
    assert run.dialog.isVisible()
    qtbot.mouseClick(run.dialog.findChild(QPushButton), Qt.LeftButton)  # the dialog's Cancel button
    qtbot.waitUntil(lambda: run.dialog is None and not window.runner.is_running(JobKind.REPORT), timeout=60_000)
    assert not other.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith("cancelled")]
