"""Drift between two sets on real data: scikit-learn's digits (64-d pixel vectors) and the Debian
package descriptions as TF-IDF + SVD vectors (a real text representation that needs no model)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.drift import Drift, format_p
from embedview.core.progress import Cancelled, TaskState

DEBIAN = Path("/tmp/realdata/debian.csv")
PERMS = 300  # p-values down to 1/301: enough for alpha/2 = 0.005


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data.astype(np.float32), d.target


@pytest.fixture(scope="module")
def debian():
    if not DEBIAN.exists():
        pytest.skip(f"{DEBIAN} is not here")
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    rows = list(csv.DictReader(DEBIAN.open(encoding="utf-8")))
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform([r["text"] for r in rows])
    vectors = TruncatedSVD(64, random_state=0).fit_transform(tfidf).astype(np.float32)
    return vectors, np.array([r["label"] for r in rows])


def halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    p = np.random.default_rng(seed).permutation(n)
    return p[: n // 2], p[n // 2:]


def test_two_halves_of_the_digits_do_not_drift(digits):
    X, _ = digits
    a, b = halves(len(X), 1)
    d = Drift(n_permutations=PERMS).fit(X[a], X[b])
    assert not d.drift_
    assert abs(d.auroc_ - 0.5) < 0.06
    assert d.auroc_p_ > d.alpha / 2 and d.mmd_p_ > d.alpha / 2
    assert d.verdict_.startswith("no detectable drift")
    assert (d.clf_n_a_, d.clf_n_b_) == (len(a), len(b))  # small sets: nothing sampled
    assert "items of A" in d.clf_text() and "random" not in d.clf_text()
    assert (d.test_n_a_, d.test_n_b_) == (len(a) // 2, len(b) // 2)  # tested on the held-out halves
    assert f"tested on the other half: {len(a) // 2:,} + {len(b) // 2:,} items" in d.clf_text()


def test_digits_0_to_4_against_5_to_9_drift_strongly(digits):
    X, y = digits
    d = Drift(n_permutations=PERMS).fit(X[y < 5], X[y >= 5])
    assert d.drift_ and d.strength_ == "strong"
    assert d.auroc_ > 0.9
    assert d.auroc_p_ == pytest.approx(1 / (PERMS + 1)) and d.mmd_p_ == pytest.approx(1 / (PERMS + 1))
    assert d.mmd2_ > 0.01
    assert d.verdict_.startswith("drift (strong): AUROC 0.9")
    # the separating items are the extremes of every item's out-of-sample probability of B
    assert d.scores_b_[d.top_b_].min() >= np.sort(d.scores_b_)[-len(d.top_b_)]
    assert d.scores_a_[d.top_a_].max() <= np.sort(d.scores_a_)[len(d.top_a_) - 1]
    assert d.top_b_scores_.min() > 0.9 and d.top_a_scores_.max() < 0.1


def test_a_new_class_in_b_is_found_and_its_items_top_the_list(digits):
    """B holds every digit, A no 9s: a shift of 10 % of B, which the B-most items must show."""
    X, y = digits
    h1, h2 = halves(len(X), 1)
    a = h1[y[h1] != 9]
    d = Drift(n_permutations=PERMS).fit(X[a], X[h2])
    assert d.drift_
    nines = int(np.sum(y[h2][d.top_b_] == 9))
    assert nines >= 10, f"only {nines} of the top {len(d.top_b_)} B items are 9s"
    # 9s are ~10 % of B: far fewer than half of a random 20 would be
    assert np.mean(y[h2] == 9) < 0.15


def test_debian_halves_do_not_drift(debian):
    V, _ = debian
    a, b = halves(len(V), 0)
    d = Drift(n_permutations=PERMS).fit(V[a], V[b])
    assert not d.drift_
    assert abs(d.auroc_ - 0.5) < 0.08


def test_debian_sections_shift_and_the_top_items_name_it(debian):
    """A: half the devel packages + libs; B: the other half of devel + doc.  What separates
    them is doc (new in B) and libs (gone in B), not devel (in both)."""
    V, lab = debian
    devel, libs, doc = (np.flatnonzero(lab == s) for s in ("devel", "libs", "doc"))
    ia, ib = np.r_[devel[::2], libs], np.r_[devel[1::2], doc]
    d = Drift(n_permutations=PERMS).fit(V[ia], V[ib])
    assert d.drift_ and d.auroc_ > 0.8
    assert np.sum(lab[ib][d.top_b_] == "doc") >= 17
    assert np.sum(lab[ia][d.top_a_] == "libs") >= 15


def test_big_sets_are_sampled_and_every_item_still_scored(digits):
    X, y = digits
    d = Drift(n_permutations=50, alpha=0.1, max_items=300, mmd_max_items=150, map_max_items=400)
    d.fit(X[y < 5], X[y >= 5])
    assert (d.clf_n_a_, d.clf_n_b_, d.mmd_n_a_, d.mmd_n_b_) == (300, 300, 150, 150)
    assert len(d.scores_a_) == d.n_a_ == int(np.sum(y < 5)) and len(d.scores_b_) == d.n_b_
    assert np.all((d.scores_a_ >= 0) & (d.scores_a_ <= 1))
    assert d.xy_a_.shape == (d.n_a_, 2) and d.xy_b_.shape == (d.n_b_, 2) and d.map_n_fit_ == 400
    assert f"a random 300 of {d.n_a_:,}" in d.clf_text() and f"a random 150 of {d.n_b_:,}" in d.mmd_text()
    doc = json.loads(json.dumps(d.to_dict()))  # strict JSON
    assert doc["classifier"]["sampled"] and doc["classifier"]["n_a"] == 300
    assert doc["mmd"]["n_b"] == 150 and doc["drift"] is True and len(doc["top_b"]) == 20


def test_same_seed_same_numbers_and_progress_reaches_the_end(digits):
    X, y = digits
    seen: list[float] = []
    one = Drift(n_permutations=40, alpha=0.1, random_state=3)
    one.fit(X[:400], X[400:800], progress=lambda f, m: seen.append(f))
    two = Drift(n_permutations=40, alpha=0.1, random_state=3).fit(X[:400], X[400:800])
    assert (one.auroc_, one.auroc_p_, one.mmd2_, one.mmd_p_) == (two.auroc_, two.auroc_p_, two.mmd2_, two.mmd_p_)
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_cancel_stops_between_chunks(digits):
    X, _ = digits
    task = TaskState()
    calls = []

    def cancel_soon(fraction: float, message: str) -> None:
        calls.append(message)
        if "permutation" in message:
            task.cancel()

    task.callback = cancel_soon
    task.min_interval = 0.0
    with pytest.raises(Cancelled):
        Drift(n_permutations=2000).fit(X[:500], X[500:1000], progress=task)
    assert not any("MMD" in m for m in calls)


def test_bad_inputs_say_what_is_wrong(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="set A has 64 dimensions and set B 32"):
        Drift().fit(X[:50], X[:50, :32])
    with pytest.raises(ValueError, match="at least 2 items in each set"):
        Drift().fit(X[:50], X[:1])
    bad = X[:20].copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="set B: .*NaN"):
        Drift().fit(X[:50], bad)
    with pytest.raises(ValueError, match="alpha"):
        Drift(alpha=1.5).fit(X[:50], X[50:100])
    with pytest.raises(ValueError, match="50 permutations cannot give a p-value below alpha/2 = 0.005.*at least 200"):
        Drift(n_permutations=50).fit(X[:50], X[50:100])


def test_tiny_sets_still_run_on_halves(digits):
    X, _ = digits
    d = Drift(n_permutations=20, alpha=0.2).fit(X[:3], X[3:10])
    assert (d.test_n_a_, d.test_n_b_) == (1, 3) and len(d.top_a_) == 3 and len(d.top_b_) == 7
    assert np.all(np.isfinite(d.scores_a_)) and np.all(np.isfinite(d.scores_b_))


def test_with_alpha_reads_the_same_numbers_at_another_level(digits):
    X, y = digits
    h1, h2 = halves(len(X), 1)
    d = Drift(n_permutations=PERMS, alpha=0.05).fit(X[h1], X[h2])
    strict = d.with_alpha(0.01)
    assert strict is not d and strict.alpha == 0.01 and d.alpha == 0.05
    assert (strict.auroc_, strict.auroc_p_, strict.mmd2_) == (d.auroc_, d.auroc_p_, d.mmd2_)
    assert "alpha/2 = 0.005" in strict.verdict_ and "alpha/2 = 0.025" in d.verdict_
    with pytest.raises(ValueError, match="cannot give a p-value"):
        d.with_alpha(0.001)


def test_p_value_text():
    assert format_p(1 / 1001, 1000) == "p < 0.001"
    assert format_p(0.25, 1000) == "p = 0.250"
    assert format_p(1 / 21, 20).startswith("p \u2264 0.048")
