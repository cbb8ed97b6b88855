"""IssuesView: the audit runs in the background when the view is first shown and is filed in the
model; kinds with counts (and the skipped ones with why); items select on the shared selection and
follow it; decisions live in ``model.views.issues``; the export writes them (CSV / JSON, atomic);
the duplicates follow the Duplicates view's threshold; a cancelled audit files nothing.

Data: 300 scikit-learn digits with 15 labels flipped, 2 exact copies and 3 noise images."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from embedview.core.audit import Audit
from embedview.core.dataset import Dataset
from embedview.core.duplicates import DuplicateFinder
from embedview.core.embeddings import EmbeddingSet
from embedview.model import AnalysisKind
from embedview.runtime.keys import JobKind

ENV_SIZE = (1280, 760)
N, N_FLIP = 300, 15


def audited_set() -> tuple[EmbeddingSet, dict]:
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(3)
    X, y = d.data[:N].astype(np.float32), d.target[:N]
    labels = np.array([str(v) for v in y], dtype=object)
    flipped = rng.choice(N, N_FLIP, replace=False)
    for i in flipped:
        labels[i] = str((y[i] + 1 + rng.integers(9)) % 10)
    copies = X[[10, 20]].copy()
    noise = rng.uniform(0, 16, (3, 64)).astype(np.float32)
    V = np.vstack([X, copies, noise])
    labels = np.concatenate([labels, labels[[10, 20]], np.array(["1", "2", "3"], dtype=object)])
    n = len(V)
    ds = Dataset("embedding", ids=[f"digit-{i}" for i in range(n)], sources=["digits.npy"] * n, labels=labels,
                 embeddings=V, name="digits")
    return EmbeddingSet.from_dataset(ds), {"flipped": set(flipped.tolist()), "noise": {n - 3, n - 2, n - 1}}


@pytest.fixture(scope="module")
def audited():
    """The set, its plants and its audit, computed once for the tests that only look at it."""
    emb, plants = audited_set()
    return emb, plants, Audit().fit(emb)


@pytest.fixture
def shown(env, audited):
    """The view on the audited set (the audit filed before the view is shown: nothing reruns)."""
    from embedview.gui.views.issues import AUDIT_KEY, IssuesView

    emb, plants, audit = audited
    env.load(emb)
    env.model.set_analysis(AnalysisKind.FINDINGS, audit)
    view = env.add(IssuesView)
    env.show()
    assert not env.runner.is_running(AUDIT_KEY)
    return env, view, emb, plants


def test_first_show_runs_the_audit_and_lists_kinds(env):
    from embedview.gui.views.issues import IssuesView

    emb, plants = audited_set()
    env.load(emb)
    view = env.add(IssuesView)
    env.show()  # first show: the audit starts by itself
    env.wait_idle(120)
    audit = env.model.get_analysis(AnalysisKind.FINDINGS)
    assert isinstance(audit, Audit) and audit.n_items_ == len(emb)
    rows = [view.kind_list.item(r) for r in range(view.kind_list.count())]
    kinds = [it.data(0x0100) for it in rows]  # Qt.UserRole
    assert kinds == ["label_issue", "leak", "duplicate", "outlier"]
    texts = {k: it.text() for k, it in zip(kinds, rows, strict=True)}
    assert texts["leak"].endswith(audit.skipped_["leak"]) and "not checked" in texts["leak"]
    assert f"{len(audit.findings_['outlier']):,} of {len(emb):,} items" in texts["outlier"]
    # the first kind with items is listed; its flagged items are mostly the flipped labels
    assert view.kind == "label_issue"
    li = audit.findings_["label_issue"]
    assert view.table_model.rowCount() == len(li) > 0
    assert len(set(li.indices.tolist()) & plants["flipped"]) >= 0.6 * len(li)
    assert "Likely label errors" in view.status.text() or "likely label errors" in view.status.text()


def test_items_drive_and_follow_the_shared_selection(shown):
    env, view, emb, plants = shown
    view.select_kind("outlier")
    found = env.model.get_analysis(AnalysisKind.FINDINGS).findings_["outlier"]
    assert view.table_model.rowCount() == len(found)
    assert plants["noise"] <= set(found.indices.tolist())
    assert "Threshold" in view.kind_header.text() and "median" in view.kind_header.text()
    view.select_rows([0, 1])
    assert env.selection.selected.tolist() == sorted(int(i) for i in found.indices[:2])
    # a click elsewhere on a flagged item selects its row here
    target = int(found.indices[2])
    env.selection.set_current(target, "map")
    assert view.selected_items() == [target]
    # the state names the kind: a session restores it
    assert env.model.views.issues.kind == "outlier"


def test_decisions_in_the_state_and_the_export(shown, tmp_path):
    env, view, emb, _ = shown
    view.select_kind("outlier")
    view.select_rows([0])
    first = view.selected_items()[0]
    view.decide_selected("drop")
    ds = emb.dataset
    assert env.model.views.issues.decisions == {"outlier": {ds.ids[first]: "drop"}}
    assert view.table_model.data(view.table_model.index(0, 5)) == "drop"
    assert "1 of" in view.decided_label.text()
    # triage: a decision on one item moves on to the next, which becomes the current item everywhere
    found = env.model.get_analysis(AnalysisKind.FINDINGS).findings_["outlier"]
    assert view.selected_items() == [int(found.indices[1])]
    assert env.selection.current == int(found.indices[1])
    view.table.setFocus()
    QTest.keyClick(view.table, Qt.Key_K)  # the keyboard shortcut of "Keep"
    assert env.model.views.issues.decisions["outlier"][ds.ids[int(found.indices[1])]] == "keep"
    view.state.set_decisions("outlier", [ds.ids[int(found.indices[1])]], "")
    view.select_rows([0])
    view.decide_selected("")
    assert env.model.views.issues.decisions == {}
    view.decide_selected("not_an_issue")

    out = tmp_path / "findings.csv"
    view.export_findings(str(out))
    env.wait_idle()
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    audit = env.model.get_analysis(AnalysisKind.FINDINGS)
    assert len(rows) == sum(audit.counts().values())
    assert {"kind", "id", "source", "score", "label", "suggested_label", "decision"} <= set(rows[0])
    assert [r["decision"] for r in rows if r["id"] == ds.ids[first] and r["kind"] == "outlier"] == ["not_an_issue"]
    assert view.last_export == (str(out), len(rows))
    out_json = tmp_path / "findings.json"
    view.export_findings(str(out_json))
    env.wait_idle()
    doc = json.loads(out_json.read_text(encoding="utf-8"))
    assert doc["counts"] == audit.counts()
    assert any(r["decision"] == "not_an_issue" for r in doc["rows"])


def test_duplicates_follow_the_duplicates_threshold(shown):
    env, view, emb, _ = shown
    audit = env.model.get_analysis(AnalysisKind.FINDINGS)
    assert len(audit.findings_["duplicate"]) >= 2  # the two exact copies
    finder = DuplicateFinder().fit(emb).with_threshold(0.95)
    env.model.set_analysis(AnalysisKind.DUPLICATES, finder)
    now = env.model.get_analysis(AnalysisKind.FINDINGS)
    assert now is not audit
    assert now.findings_["duplicate"].threshold == pytest.approx(0.95)
    assert len(now.findings_["duplicate"]) == sum(len(g) - 1 for g in finder.groups_)
    assert audit.findings_["duplicate"].threshold != pytest.approx(0.95)  # the old audit is unchanged


def test_a_cancelled_audit_files_nothing(env):
    from embedview.gui.views.issues import AUDIT_KEY, IssuesView

    emb, _ = audited_set()
    view = env.add(IssuesView)
    env.load(emb)  # not shown yet: nothing runs
    assert not env.runner.is_running(AUDIT_KEY)
    view.run_audit()
    assert env.runner.is_running(AUDIT_KEY) and view.wait_cancel.isVisibleTo(view)
    view.cancel()
    env.wait_idle()
    assert env.model.get_analysis(AnalysisKind.FINDINGS) is None
    assert view.stack.currentWidget() is view.placeholder
    env.show()  # showing the view does not start what the user cancelled
    assert not env.runner.is_running(AUDIT_KEY) and view.start_button.isVisible()
    assert JobKind.FINDINGS == AUDIT_KEY.kind
