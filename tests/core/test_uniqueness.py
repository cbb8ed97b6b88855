"""ItemScores on real data: copies get low uniqueness, isolated items high; central items are
representative.

Measured on digits (seeds 0-2) with 20 re-scanned copies (pixel noise sigma 0.5) and 5 images
of uniform noise: mean uniqueness of the copies and their originals 0.055-0.066 against a
median of 0.131-0.136 for the other digits; the noise images 0.82-1.00 against a 99th
percentile of 0.35-0.36 for the digits; their representativeness at most 0.15 against a
median of 0.63-0.64.
"""

from __future__ import annotations

import numpy as np
import pytest
from realsets_findings import debian, digits

from embedview.core.progress import Cancelled, TaskState
from embedview.core.uniqueness import ItemScores


def _planted(seed: int):
    X, _ = digits()
    n = len(X)
    rng = np.random.default_rng(seed)
    src = rng.choice(n, 20, replace=False)
    copies = np.clip(X[src] + rng.normal(0, 0.5, (20, X.shape[1])), 0, 16)
    noise = rng.uniform(0, 16, (5, X.shape[1]))
    X2 = np.vstack([X, copies, noise]).astype(np.float32)
    return X2, np.r_[src, n:n + 20], np.arange(n + 20, n + 25), np.setdiff1d(np.arange(n), src)


@pytest.mark.parametrize("seed", [0, 1])
def test_copies_low_isolated_high(seed):
    X, copies, isolated, rest = _planted(seed)
    s = ItemScores().fit(X)
    u, r = s.uniqueness_, s.representativeness_
    assert u[copies].mean() < 0.7 * np.median(u[rest])
    assert u[isolated].min() > 2 * np.quantile(u[rest], 0.99)
    assert u.max() == pytest.approx(1.0) and np.argmax(u) in isolated
    assert r[isolated].max() < 0.3 < np.median(r[rest])


def test_scores_are_in_range_and_the_centre_of_each_cluster_scores_one():
    X, _, _, _ = debian()
    s = ItemScores().fit(X)
    cols = s.columns()
    assert set(cols) == {"uniqueness", "representativeness"}
    for v in cols.values():
        assert v.shape == (len(X),) and np.all((v >= 0) & (v <= 1))
    for c in range(s.n_clusters_):
        members = np.flatnonzero(s.cluster_ == c)
        if len(members) > 1:
            assert s.representativeness_[members].max() == pytest.approx(1.0)
            assert s.representativeness_[members].min() == pytest.approx(0.0)
    # Debian's twin descriptions (identical texts) are among the least unique items
    _, _, _, texts = debian()
    seen: dict[str, int] = {}
    twins = [i for i, t in enumerate(texts) if t in seen or seen.setdefault(t, i) != i]
    assert twins and np.all(s.uniqueness_[twins] < np.quantile(s.uniqueness_, 0.2))
    d = s.describe()
    assert "0.6, 0.3, 0.1" in d["uniqueness"] and "800 items" in d["uniqueness"]


def test_tiny_inputs_and_cancel():
    s = ItemScores().fit(np.eye(3, dtype=np.float32))
    assert np.allclose(s.uniqueness_, 1.0)  # three orthogonal items: all equally unique
    s = ItemScores().fit(np.ones((1, 4), dtype=np.float32))
    assert s.uniqueness_.tolist() == [1.0]
    X, _ = digits()
    task = TaskState()
    task.cancel()
    with pytest.raises(Cancelled):
        ItemScores().fit(X, progress=task)
    with pytest.raises(ValueError, match="metric"):
        ItemScores(metric="dot").fit(X)
