"""Encoder comparison: linear CKA, kNN overlap and EncoderComparison on sklearn digits."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.compare import EncoderComparison, knn_overlap, linear_cka
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


def _set(X, y=None, ids=None, encoder="raw"):
    ids = ids if ids is not None else [f"item{i}" for i in range(len(X))]
    labels = None if y is None else np.array([str(v) for v in y], dtype=object)
    ds = Dataset(modality="embedding", ids=list(ids), sources=["mem"] * len(X), labels=labels, embeddings=X)
    return EmbeddingSet(ds, X, encoder=encoder)


def _cka_kernel_form(X, Y):
    """Reference: CKA from centred linear Gram matrices (HSIC form), a different formula."""
    n = len(X)
    H = np.eye(n) - 1.0 / n
    K = H @ (X @ X.T) @ H
    L = H @ (Y @ Y.T) @ H
    return np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L))


def test_linear_cka_properties(digits):
    X = digits[0][:400].astype(np.float64)
    q, _ = np.linalg.qr(RNG.standard_normal((64, 64)))
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(X, 3.7 * X @ q) == pytest.approx(1.0, abs=1e-9)  # orthogonal + isotropic scale
    Y = RNG.standard_normal((400, 30))
    assert linear_cka(X, Y) == pytest.approx(_cka_kernel_form(X, Y), abs=1e-9)  # dims may differ
    a, b = RNG.standard_normal((2000, 32)), RNG.standard_normal((2000, 32))
    assert linear_cka(a, b) < 0.05
    scaled = X * np.r_[np.ones(32), 10 * np.ones(32)]  # anisotropic scaling does change it
    assert linear_cka(X, scaled) < 0.99
    assert linear_cka(np.ones((10, 3)), RNG.standard_normal((10, 3))) == 0.0
    with pytest.raises(ValueError):
        linear_cka(X, X[:10])


def test_knn_overlap_hand_case_and_invariance(digits):
    # k = 1, euclidean.  a: points 0, 1, 3, 7 -> nearest neighbours [1, 0, 1, 2].
    # b: points 0, 1, 2.6, 2.4 -> nearest neighbours [1, 0, 3, 2].  Only item 2 changed.
    a = np.array([[0.0], [1.0], [3.0], [7.0]])
    b = np.array([[0.0], [1.0], [2.6], [2.4]])
    ov = knn_overlap(a, b, k=1, metric="euclidean")
    assert ov.tolist() == [1.0, 1.0, 0.0, 1.0]
    X = digits[0]
    q, _ = np.linalg.qr(RNG.standard_normal((64, 64)))
    assert np.all(knn_overlap(X, X @ q, k=10) == 1.0)
    noise = RNG.standard_normal(X.shape)
    assert knn_overlap(X, noise, k=10).mean() < 0.05


def test_encoder_comparison_aligns_by_id_and_scores(digits):
    X, y = digits
    q, _ = np.linalg.qr(RNG.standard_normal((64, 64)))
    order = RNG.permutation(len(X))
    ids = [f"item{i}" for i in range(len(X))]
    raw = _set(X, y)
    rotated = _set((X @ q)[order], y[order], ids=[ids[i] for i in order], encoder="rotated")  # shuffled rows
    noise = _set(RNG.standard_normal(X.shape).astype(np.float32), y, encoder="noise")
    comp = EncoderComparison(k=10, metrics=False).fit({"raw": raw, "rotated": rotated, "noise": noise})
    assert comp.names_ == ["raw", "rotated", "noise"]
    assert comp.cka_.shape == (3, 3) and np.allclose(np.diag(comp.cka_), 1)
    assert comp.cka_[0, 1] == pytest.approx(1.0, abs=1e-6) and comp.cka_[0, 2] < 0.2
    assert np.all(comp.overlap_[("raw", "rotated")] == 1.0)
    assert comp.overlap_[("raw", "noise")].mean() < 0.05
    # per item: 1 - mean of (1, ~0, ~0) over the three pairs
    assert comp.disagreement_.shape == (len(X),)
    assert comp.disagreement_.mean() == pytest.approx(1 - np.mean([o.mean() for o in comp.overlap_.values()]))
    d = comp.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["names"] == comp.names_ and len(d["knn_overlap"]) == 3 and d["metrics"] == {}


def test_encoder_comparison_refuses_different_items(digits):
    X, y = digits[0][:50], digits[1][:50]
    other = _set(X, y, ids=[f"other{i}" for i in range(50)])
    with pytest.raises(ValueError, match="do not hold the same items.*missing"):
        EncoderComparison(metrics=False).fit({"a": _set(X, y), "b": other})
    with pytest.raises(ValueError, match="at least two"):
        EncoderComparison().fit({"a": _set(X, y)})


def test_encoder_comparison_metrics_per_encoder(digits):
    X, y = digits[0][:400], digits[1][:400]
    noise = RNG.standard_normal(X.shape).astype(np.float32)
    comp = EncoderComparison(k=5).fit({"raw": _set(X), "noise": _set(noise, encoder="noise")}, labels=y)
    assert set(comp.metrics_) == {"raw", "noise"}
    raw, bad = comp.metrics_["raw"], comp.metrics_["noise"]
    assert raw["knn"]["accuracy"] > 0.9 > 0.3 > bad["knn"]["accuracy"]
    assert raw["retrieval"]["map"] > bad["retrieval"]["map"]
    assert raw["verdict"] == raw["collapse"]["verdict"] == "healthy"
    json.dumps(comp.to_dict(), allow_nan=False)
