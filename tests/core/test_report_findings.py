"""The report's Findings section: the audit's counts per kind, thresholds and why, skipped kinds with
the reason, and the top items; on digits with labels flipped on purpose, a train/test split with
copies across it, and hostile ids and labels (escaped)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.audit import Audit
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.report import MAX_FINDINGS, write_report

EVIL = "<img src=x onerror=alert(1)>"
N = 300


def _set(split: bool = True) -> EmbeddingSet:
    d = load_digits()
    rng = np.random.default_rng(5)
    X, y = d.data[:N].astype(np.float32), d.target[:N]
    labels = np.array([str(v) for v in y], dtype=object)
    for i in rng.choice(N, 15, replace=False):
        labels[i] = str((y[i] + 3) % 10)
    copies = X[:5] + rng.normal(0, 0.05, (5, 64)).astype(np.float32)  # test copies of train items
    V = np.vstack([X, copies])
    labels = np.concatenate([labels, labels[:5]])
    ids = [f"row{i}" for i in range(len(V))]
    ids[0] = EVIL
    meta = {"split": ["train"] * N + ["test"] * 5} if split else {}
    ds = Dataset("embedding", ids, ["/private/data/digits.npy"] * len(V), labels=labels, embeddings=V,
                 metadata=meta, name="digits")
    return EmbeddingSet.from_dataset(ds)


def _section(page: str) -> str:
    found = re.search(r'<section id="findings">.*?</section>', page, flags=re.S)
    assert found, "no Findings section"
    return found.group(0)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    emb = _set()
    out = write_report({"digits": emb}, tmp_path_factory.mktemp("r") / "report.html", max_map_points=100,
                       include_paths=False)
    return emb, out.read_text(encoding="utf-8")


def test_findings_section_counts_thresholds_and_top_items(report):
    emb, page = report
    section = _section(page)
    audit = Audit(k=10).fit(emb)  # the same audit the report ran (deterministic)
    assert set(audit.findings_) == {"label_issue", "leak", "duplicate", "outlier"}
    for kind, found in audit.findings_.items():
        row = re.search(rf"<tr><td>{re.escape(found.title)}</td><td class=\"num\">([\d,]+) of ([\d,]+)</td>"
                        rf"<td>([^<]*)</td>", section)
        assert row, kind
        assert int(row.group(1).replace(",", "")) == len(found)
        assert int(row.group(2).replace(",", "")) == found.n_considered
        if found.threshold is not None:
            assert float(row.group(3)) == pytest.approx(found.threshold, rel=1e-3)
    # the top label issues are shown with their given and suggested labels
    li = audit.findings_["label_issue"]
    assert len(li) > 0
    shown = re.findall(r"labelled (\d) \u2192 (\d)\?", section)
    assert len(shown) == min(MAX_FINDINGS, len(li))
    assert shown[0] == (li.columns["label"][0], li.columns["suggested_label"][0])
    # the planted copies across splits are leaks, named with their partner
    assert "train \u2194 test" in section or "test \u2194 train" in section
    assert "embedview audit PATH -o findings.csv" in section


def test_findings_are_escaped_and_path_free(report):
    _, page = report
    section = _section(page)
    assert EVIL not in page
    assert "/private/data" not in section


def test_skipped_kinds_and_reused_or_no_audit(tmp_path):
    emb = _set(split=False)
    audit = Audit(kinds=["leak", "outlier"]).fit(emb)
    page = write_report({"digits": emb}, tmp_path / "a.html", max_map_points=50,
                        findings={"digits": audit}).read_text(encoding="utf-8")
    section = _section(page)
    assert "not checked: the data has no split column" in section
    assert "Likely label errors" not in section  # not asked: the given audit is shown as it is
    page = write_report({"digits": emb}, tmp_path / "b.html", max_map_points=50, findings=False).read_text(
        encoding="utf-8")
    assert 'id="findings"' not in page
