"""The audit on real data: scikit-learn digits with labels flipped on purpose, copies planted across a
train/test split, exact duplicates and noise images; every kind found, skipped kinds say why."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.audit import AUDIT_KINDS, Audit, duplicate_findings, outlier_findings, outlier_threshold
from embedview.core.dataset import Dataset
from embedview.core.duplicates import DuplicateFinder
from embedview.core.embeddings import EmbeddingSet
from embedview.core.evaluation import OutlierScores
from embedview.core.progress import Cancelled, TaskState

N = 600
N_FLIP = 30  # 5 %
N_LEAK = 6
N_EXACT = 4
N_NOISE = 4


@pytest.fixture(scope="module")
def planted():
    """600 digits: 30 labels flipped to another digit, 6 test items that are near-copies of train
    items, 4 exact copies inside train, 4 uniform-noise 'images'; returns the set and the plants."""
    d = load_digits()
    rng = np.random.default_rng(0)
    pick = rng.choice(len(d.data), N, replace=False)
    X = d.data[pick].astype(np.float32)
    y = d.target[pick].astype(int)
    split = np.where(rng.random(N) < 0.8, "train", "test").astype(object)
    labels = np.array([str(v) for v in y], dtype=object)
    flipped = rng.choice(N, N_FLIP, replace=False)
    for i in flipped:
        labels[i] = str((y[i] + 1 + rng.integers(9)) % 10)
    rows, lab, spl = [X], [labels], [split]
    train = np.flatnonzero(split == "train")
    train = np.setdiff1d(train, flipped)
    leak_src = rng.choice(train, N_LEAK, replace=False)
    leak_copy = X[leak_src] + rng.normal(0, 0.05, (N_LEAK, 64)).astype(np.float32)  # a re-scan of the same digit
    rows.append(leak_copy)
    lab.append(labels[leak_src])
    spl.append(np.array(["test"] * N_LEAK, dtype=object))
    exact_src = rng.choice(np.setdiff1d(train, leak_src), N_EXACT, replace=False)
    rows.append(X[exact_src].copy())
    lab.append(labels[exact_src])
    spl.append(np.array(["train"] * N_EXACT, dtype=object))
    noise = rng.uniform(0, 16, (N_NOISE, 64)).astype(np.float32)
    rows.append(noise)
    lab.append(np.array([str(v) for v in rng.integers(0, 10, N_NOISE)], dtype=object))
    spl.append(np.array(["train"] * N_NOISE, dtype=object))
    V = np.concatenate(rows)
    n = len(V)
    ids = [f"digit-{i}" for i in range(n)]
    ids[-1] = "=HYPERLINK(1)"  # a hostile id (of a noise image: always flagged): CSV cells must be neutralised
    ds = Dataset("embedding", ids=ids, sources=["digits.npy"] * n, labels=np.concatenate(lab),
                 embeddings=V, metadata={"split": list(np.concatenate(spl))}, name="digits")
    emb = EmbeddingSet.from_dataset(ds)
    plants = {
        "flipped": set(flipped.tolist()),
        "leaks": {(int(s), N + j) for j, s in enumerate(leak_src)},
        "exact": {(int(s), N + N_LEAK + j) for j, s in enumerate(exact_src)},
        "noise": set(range(n - N_NOISE, n)),
    }
    return emb, plants


#: every kind: the audit must run them all on this data (labels, a split, copies, noise)
KINDS_RUN = AUDIT_KINDS


@pytest.fixture(scope="module")
def audit(planted):
    emb, _ = planted
    return Audit(kinds=KINDS_RUN, k=10).fit(emb)


def test_every_kind_runs_and_finds_the_plants(planted, audit):
    emb, plants = planted
    assert list(audit.findings_) == list(KINDS_RUN)
    assert audit.skipped_ == {}
    # label issues on raw 8x8 pixels (measured: 23 flagged, 19 of them flipped: precision 0.83, recall 0.63)
    li = audit.findings_["label_issue"]
    hits = len(set(li.indices.tolist()) & plants["flipped"])
    assert hits / len(li) >= 0.7, (hits, len(li))
    assert hits / N_FLIP >= 0.5, hits
    j = int(np.flatnonzero(li.indices == sorted(plants["flipped"])[0])[0]) if sorted(plants["flipped"])[0] in \
        li.indices else None
    if j is not None:
        i = int(li.indices[j])
        assert li.columns["label"][j] == emb.dataset.labels[i]
        assert li.columns["suggested_label"][j] != li.columns["label"][j]
    # duplicates: each planted exact copy is flagged (one of the pair, the other kept)
    dup = audit.findings_["duplicate"]
    flagged = set(dup.indices.tolist())
    for a, b in plants["exact"]:
        assert (a in flagged) != (b in flagged)
        j = int(np.flatnonzero(dup.indices == (a if a in flagged else b))[0])
        assert dup.columns["keep_id"][j] == emb.dataset.ids[b if a in flagged else a]
        assert dup.scores[j] == pytest.approx(1.0, abs=1e-5)
    # outliers: the noise images rank first
    out = audit.findings_["outlier"]
    assert set(out.indices[:N_NOISE].tolist()) == plants["noise"]
    assert len(out) < 0.05 * len(emb)
    assert out.threshold is not None and "median" in out.threshold_reason
    assert all("nearest neighbours" in r for r in out.columns["reason"])


def test_leaks_cross_the_split(planted, audit):
    emb, plants = planted
    leak = audit.findings_["leak"]
    assert len(leak) >= N_LEAK
    pairs = set()
    for j, i in enumerate(leak.indices.tolist()):
        assert leak.columns["split"][j] != leak.columns["other_split"][j]
        pairs.add(tuple(sorted((i, int(leak.columns["other_index"][j])))))
    assert plants["leaks"] <= pairs


def test_rows_json_csv_and_gate(planted, audit):
    emb, plants = planted
    rows = audit.rows()
    assert len(rows) == sum(audit.counts().values())
    cols = audit.columns()
    assert cols[:4] == ["kind", "id", "source", "score"]
    assert {"label", "suggested_label", "group", "keep_id", "reason"} <= set(cols)
    assert all(list(r) == cols for r in rows)
    assert {r["kind"] for r in rows} == set(KINDS_RUN)
    # strict JSON
    doc = json.loads(json.dumps(audit.to_dict(), allow_nan=False))
    assert doc["counts"] == audit.counts()
    assert [k["kind"] for k in doc["kinds"]] == list(KINDS_RUN)
    # CSV: spreadsheet-safe cells, one row per flagged item
    buf = io.StringIO()
    n = audit.write_csv(buf, decisions={"label_issue": {emb.dataset.ids[sorted(plants["flipped"])[0]]: "fix"}})
    back = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert n == len(back) == len(rows)
    assert "decision" in back[0]
    hostile = [r for r in back if r["id"].endswith("HYPERLINK(1)")]
    assert hostile and all(r["id"].startswith("'=") for r in hostile)
    assert sum(r["decision"] == "fix" for r in back) >= 1
    # the gate
    counts = audit.counts()
    assert audit.gate({"label_issue": counts["label_issue"]}) == []
    breaches = audit.gate({"label_issue": counts["label_issue"] - 1, "duplicate": 10_000})
    assert [b.kind for b in breaches] == ["label_issue"]
    assert str(counts["label_issue"]) in str(breaches[0])
    with pytest.raises(ValueError, match="unknown finding kind"):
        audit.gate({"mislabel": 3})


def test_skipped_kinds_say_why(planted):
    emb, _ = planted
    ds = emb.dataset
    bare = Dataset("embedding", ids=ds.ids, sources=ds.sources, embeddings=emb.vectors)
    a = Audit(kinds=["label_issue", "leak", "outlier"]).fit(EmbeddingSet.from_dataset(bare))
    assert list(a.findings_) == ["outlier"]
    assert "no labels" in a.skipped_["label_issue"]
    assert "split" in a.skipped_["leak"]
    one_split = Dataset("embedding", ids=ds.ids, sources=ds.sources, embeddings=emb.vectors,
                        metadata={"split": ["train"] * len(ds)})
    a = Audit(kinds=["leak"]).fit(EmbeddingSet.from_dataset(one_split))
    assert "fewer than two splits" in a.skipped_["leak"] and "train" in a.skipped_["leak"]
    assert a.summary() == [{"kind": "leak", "title": "Leaks across splits", "count": None,
                            "skipped": a.skipped_["leak"]}]
    with pytest.raises(ValueError, match="unknown finding kind"):
        Audit(kinds=["typo"])


def test_reuses_fitted_finders_and_user_thresholds(planted):
    emb, _ = planted
    finder = DuplicateFinder().fit(emb).with_threshold(0.99)
    scores = OutlierScores(k=10).fit(emb)
    a = Audit(kinds=["duplicate", "outlier"], thresholds={"outlier": 0.2}).fit(emb, duplicates=finder,
                                                                                outliers=scores)
    dup = a.findings_["duplicate"]
    assert dup.threshold == pytest.approx(0.99)
    assert "chosen by the user" in dup.threshold_reason
    assert len(dup) == sum(len(g) - 1 for g in finder.groups_)
    out = a.findings_["outlier"]
    assert out.threshold == 0.2 and np.all(out.scores > 0.2)
    assert len(out) == int(np.count_nonzero(scores.scores_ > 0.2))
    # with_findings: a new audit, the old one unchanged
    other = a.with_findings(duplicate_findings(finder.with_threshold(0.999)))
    assert other.findings_["duplicate"].threshold == pytest.approx(0.999)
    assert a.findings_["duplicate"].threshold == pytest.approx(0.99)


def test_progress_and_cancel(planted):
    emb, _ = planted
    seen = []
    Audit(kinds=["duplicate", "outlier"]).fit(emb, progress=TaskState(lambda f, m: seen.append((f, m)),
                                                                       min_interval=0.0))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("Near-duplicates" in m for _, m in seen) and any("Outliers" in m for _, m in seen)
    # the duplicate finder's share ends where the outliers' begins (weights 0.2 : 0.15)
    start = next(f for f, m in seen if "Outliers" in m)
    assert start == pytest.approx(0.2 / 0.35, abs=1e-6)

    def cancel_in_second(fraction, message):
        if "Outliers" in message:
            task.cancel()

    task = TaskState(cancel_in_second, min_interval=0.0)
    a = Audit(kinds=["duplicate", "outlier"])
    with pytest.raises(Cancelled):
        a.fit(emb, progress=task)
    assert not hasattr(a, "findings_")  # nothing half-filled


def test_outlier_threshold_follows_the_data():
    rng = np.random.default_rng(1)
    s = rng.normal(0.5, 0.05, 2000)
    t, why = outlier_threshold(s)
    assert t == pytest.approx(0.5 + 3.5 * 0.05, abs=0.02)
    assert "2,000" in why
    s[:5] = 2.0  # a few extreme scores do not move a robust cut
    assert outlier_threshold(s)[0] == pytest.approx(t, abs=0.01)
    same = np.r_[np.zeros(1500), rng.random(500)]
    t2, why2 = outlier_threshold(same)
    assert "same score" in why2 and t2 > 0


def test_outlier_findings_on_fitted_scores(planted):
    emb, plants = planted
    scores = OutlierScores(k=5).fit(emb)
    f = outlier_findings(scores)
    assert f.kind == "outlier" and "5 nearest" in f.score_name
    assert np.all(np.diff(f.scores) <= 0)  # most isolated first
    assert plants["noise"] <= set(f.indices.tolist())


def test_leak_pair_counts_in_the_json_and_the_leak_pairs_gate(planted, audit):
    from embedview.core.leaks import SplitLeaks

    emb, plants = planted
    leak = audit.findings_["leak"]
    # the same leaks measured directly: the audit's pair counts are SplitLeaks.pair_counts_
    direct = SplitLeaks().fit(emb.vectors, list(emb.dataset.metadata["split"]))
    expected = [{"splits": [a, b], "pairs": c} for (a, b), c in direct.pair_counts_.items()]
    n_pairs = sum(direct.pair_counts_.values())
    assert audit.leak_pairs() == expected and n_pairs >= N_LEAK
    entry = next(k for k in json.loads(audit.json_text())["kinds"] if k["kind"] == "leak")
    assert entry["pair_counts"] == expected and entry["n_pairs"] == n_pairs
    assert entry["count"] == len(leak) and "both sides" in entry["counted"]
    # leak counts items (both sides of each pair); leak_pairs counts the pairs
    assert len(leak) > n_pairs
    assert audit.gate({"leak_pairs": n_pairs}) == []
    (b,) = audit.gate({"leak_pairs": n_pairs - 1, "leak": len(leak)})
    assert (b.kind, b.n_flagged, b.limit) == ("leak_pairs", n_pairs, n_pairs - 1)
    assert str(b) == f"leak_pairs: {n_pairs} leaking pairs across splits flagged, more than the limit {n_pairs - 1}"
    (b,) = audit.gate({"leak": n_pairs})
    assert str(b) == (f"leak: {len(leak)} items (both sides of each of the {n_pairs} leaking pairs) flagged, "
                      f"more than the limit {n_pairs}")
    assert audit.not_applied("leak_pairs") == "" and audit.not_applied("leak") == ""
    # leak findings replaced by the caller: their pairs are unknown, so leak_pairs cannot apply
    other = audit.with_findings(leak)
    assert other.leak_pairs() is None and "not known" in other.not_applied("leak_pairs")
    assert other.gate({"leak_pairs": 0}) == [] and audit.leak_pairs() == expected


def test_limits_on_kinds_that_did_not_run_say_why(planted):
    emb, _ = planted
    a = Audit(kinds=["outlier"]).fit(emb)
    assert a.not_applied("leak_pairs") == "leak was not run (not among the kinds asked for)"
    assert a.not_applied("outlier") == ""
    ds = emb.dataset
    bare = Dataset("embedding", ids=ds.ids, sources=ds.sources, embeddings=emb.vectors)
    b = Audit(kinds=["leak", "outlier"]).fit(EmbeddingSet.from_dataset(bare))
    assert b.not_applied("leak").startswith("leak was not checked: the data has no split column")
    assert b.not_applied("leak_pairs") == b.not_applied("leak")
    assert b.gate({"leak": 0, "leak_pairs": 0}) == [] and b.leak_pairs() is None
