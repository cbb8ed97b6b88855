"""Collapse diagnostics: verdicts on healthy, collapsed and real data; the two mitigations."""

import warnings

import numpy as np
import pytest
from scipy.stats import skew
from sklearn.datasets import load_digits

from embedview.core.collapse import CollapseDiagnostics, mean_center, whiten

RNG = np.random.default_rng(0)
N, D = 2000, 512


def _fit(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN / divide warnings may leak
        return CollapseDiagnostics(**kw).fit(X)


def test_isotropic_gaussian_is_healthy():
    c = _fit(RNG.standard_normal((N, D)).astype(np.float32))
    assert c.verdict_ == "healthy", c.verdict_reason_
    assert c.effective_rank_ > 0.8 * D and c.participation_ratio_ > 0.6 * D
    assert c.dead_dims_ == 0
    assert abs(c.cosine_mean_) < 0.01 and c.cosine_std_ == pytest.approx(1 / np.sqrt(D), rel=0.1)
    assert c.uniformity_ == pytest.approx(-4.0, abs=0.05)  # ~ log exp(-4) for orthogonal pairs


def test_rank_one_plus_noise_is_complete_collapse():
    u = RNG.standard_normal(D)
    X = RNG.standard_normal((N, 1)) * u + 0.01 * RNG.standard_normal((N, D))
    c = _fit(X.astype(np.float32))
    assert c.verdict_ == "complete collapse"
    assert c.explained_variance_ratio_[0] > 0.9
    assert "one direction" in c.verdict_reason_


def test_constant_plus_noise_is_complete_collapse():
    X = RNG.standard_normal(D) + 0.01 * RNG.standard_normal((N, D))
    c = _fit(X.astype(np.float32))
    assert c.verdict_ == "complete collapse" and c.cosine_mean_ > 0.99
    assert "mean-centring" in c.verdict_reason_


def test_five_dim_subspace_is_dimensional_collapse():
    X = RNG.standard_normal((N, 5)) @ RNG.standard_normal((5, D)) + 1e-3 * RNG.standard_normal((N, D))
    c = _fit(X.astype(np.float32))
    assert c.verdict_ == "dimensional collapse", c.verdict_reason_
    assert c.n_components_90_ <= 5
    assert "5 direction" in c.verdict_reason_


def test_identical_vectors_do_not_crash():
    X = np.tile(RNG.standard_normal(64), (300, 1)).astype(np.float32)
    c = _fit(X)
    assert c.verdict_ == "complete collapse" and "identical" in c.verdict_reason_
    assert c.dead_dims_ == 64 and np.isfinite(c.hubness_) and np.isfinite(c.uniformity_)
    zeros = _fit(np.zeros((50, 16), np.float32))
    assert zeros.verdict_ == "complete collapse"
    d = zeros.to_dict()
    assert all(v is None or np.isfinite(v) for v in d.values() if isinstance(v, float))


def test_real_digits_are_healthy_and_figures_match_references():
    X = load_digits().data.astype(np.float32)
    c = _fit(X, k=10)
    assert c.verdict_ == "healthy", c.verdict_reason_
    Xc = X.astype(np.float64) - X.mean(axis=0)
    s = np.linalg.svd(Xc, compute_uv=False) / np.sqrt(len(X))
    assert c.singular_values_ == pytest.approx(s, rel=1e-5, abs=1e-5)
    lam = np.linalg.eigvalsh(np.cov(Xc.T, bias=True))
    assert c.participation_ratio_ == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-6)
    p = s / s.sum()
    p = p[p > 0]
    assert c.effective_rank_ == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-6)
    # RankMe as published (Garrido et al. 2023): the same entropy on the raw, uncentred matrix
    raw = np.linalg.svd(X.astype(np.float64), compute_uv=False)
    q = raw / raw.sum()
    q = q[q > 1e-12]
    assert c.rankme_ == pytest.approx(np.exp(-(q * np.log(q)).sum()), rel=1e-6)
    assert c.to_dict()["rankme"] == c.rankme_ and c.to_dict()["effective_rank"] == c.effective_rank_
    std = X.std(axis=0)
    assert c.dead_dims_ == int((std < 1e-3 * std.max()).sum()) > 0  # digits have blank border pixels
    assert c.hubness_ == pytest.approx(skew(c.k_occurrence_), abs=1e-9)
    counts, edges = c.cosine_hist_
    assert counts.sum() == len(X) * (len(X) - 1) // 2 and edges[0] == -1 and edges[-1] == 1


def test_sampling_alignment_and_dict():
    X = RNG.standard_normal((700, 32)).astype(np.float32)
    pairs = np.stack([np.arange(0, 100), np.arange(100, 200)], axis=1)
    near = X.copy()
    near[100:200] = X[:100] + 0.01 * RNG.standard_normal((100, 32))
    c = CollapseDiagnostics(sample=300, pair_sample=200).fit(near, positive_pairs=pairs)
    assert c.n_used_ == 300 and c.n_items_ == 700
    assert c.alignment_ < 0.01  # pairs are nearly the same vector
    far = CollapseDiagnostics(sample=300).fit(X, positive_pairs=pairs)
    assert far.alignment_ == pytest.approx(2.0, abs=0.3)  # independent unit vectors: ||u - v||^2 ~ 2
    import json

    json.dumps(c.to_dict())
    with pytest.raises(ValueError):
        CollapseDiagnostics().fit(X, positive_pairs=[[0, 900]])


def test_whitening_raises_effective_rank():
    scales = np.exp(-np.arange(64) / 6.0)  # strongly anisotropic
    X = (RNG.standard_normal((1000, 64)) * scales).astype(np.float32)
    before = _fit(X).effective_rank_
    W = whiten(X)
    assert W.shape == (1000, 64)
    assert np.allclose(np.cov(W.T, bias=True), np.eye(64), atol=1e-3)
    assert _fit(W).effective_rank_ > 2 * before
    low_rank = RNG.standard_normal((200, 3)) @ RNG.standard_normal((3, 20))
    assert whiten(low_rank).shape == (200, 3)  # null directions are dropped, not blown up


def test_mean_centring_reduces_cosine_mean():
    X = (RNG.standard_normal((800, 64)) + 3.0).astype(np.float32)
    before = _fit(X).cosine_mean_
    after = _fit(mean_center(X)).cosine_mean_
    assert before > 0.8 and abs(after) < 0.05


def test_a_transform_applies_to_the_sampled_rows_and_keeps_the_item_count():
    scales = np.exp(-np.arange(32) / 4.0)
    X = (RNG.standard_normal((900, 32)) * scales + 1.0).astype(np.float32)
    diag = CollapseDiagnostics(sample=400)
    fitted = diag.fit(X, transform=whiten)
    assert fitted.n_items_ == 900 and fitted.n_used_ == 400
    # the same figures as whitening the very rows the diagnostics sample, measured as they are
    from embedview.core.projection import _sample

    rows = _sample(900, 400, diag.random_state)
    by_hand = CollapseDiagnostics(sample=400).fit(whiten(X[rows]))
    assert fitted.effective_rank_ == pytest.approx(by_hand.effective_rank_, rel=1e-9)
    assert fitted.cosine_mean_ == pytest.approx(by_hand.cosine_mean_, abs=1e-9)
    assert fitted.effective_rank_ > 2 * CollapseDiagnostics(sample=400).fit(X).effective_rank_


# -- the Collapse view's computations (core.collapse.diagnose / collapse_curves) ---------------------------
def _digits_set(n=500, encoder="precomputed"):
    from embedview.core.dataset import Dataset
    from embedview.core.embeddings import EmbeddingSet

    X = load_digits().data[:n].astype(np.float32)
    ds = Dataset("embedding", ids=[f"d{i}" for i in range(n)], sources=[""] * n, embeddings=X)
    return EmbeddingSet(ds, X, encoder)


def test_diagnose_under_each_mitigation_equals_the_core_on_transformed_data():
    from embedview.core.collapse import diagnose, mitigate

    emb = _digits_set()
    raw = diagnose(emb)
    assert raw.effective_rank_ == pytest.approx(CollapseDiagnostics().fit(emb.vectors).effective_rank_, rel=1e-9)
    white = diagnose(emb, whitened=True)
    assert white.effective_rank_ == pytest.approx(CollapseDiagnostics().fit(whiten(emb.vectors)).effective_rank_,
                                                  rel=1e-9)
    assert white.effective_rank_ > raw.effective_rank_ + 10
    centred = diagnose(emb, center=True)
    assert centred.cosine_mean_ == pytest.approx(CollapseDiagnostics().fit(mean_center(emb.vectors)).cosine_mean_,
                                                 abs=1e-9)
    assert centred.cosine_mean_ < 0.1 < raw.cosine_mean_  # digits share a big offset; centring removes it
    # whitening also centres: both ticks measure the whitened vectors
    np.testing.assert_array_equal(mitigate(emb.vectors, center=True, whitened=True), whiten(emb.vectors))
    np.testing.assert_array_equal(mitigate(emb.vectors), emb.vectors)


def test_diagnose_sets_keeps_the_order_and_reports_progress():
    from embedview.core.collapse import diagnose_sets

    a, b = _digits_set(300, "a"), _digits_set(200, "b")
    seen = []
    got = diagnose_sets({"b": b, "a": a}, progress=lambda f, _m: seen.append(f))
    assert list(got) == ["b", "a"] and got["a"].n_items_ == 300 and got["b"].n_items_ == 200
    assert seen and max(seen) == pytest.approx(1.0) and seen == sorted(seen)


def test_curves_sorted_relative_and_floored():
    from embedview.core.collapse import SPECTRUM_FLOOR, collapse_curves, log_floor

    X = RNG.standard_normal((400, 5)) @ RNG.standard_normal((5, 64))  # 5 directions, the rest null
    d = CollapseDiagnostics().fit(X.astype(np.float32))
    c = collapse_curves(d)
    assert np.all(np.diff(c.spread) <= 0) and c.spread[0] == pytest.approx(float(d.per_dim_std_.max()))
    var = collapse_curves(d, variance=True)
    np.testing.assert_allclose(var.spread, c.spread**2)
    rel = collapse_curves(d, relative=True)
    assert rel.spread[0] == pytest.approx(1.0) and rel.spectrum[0] == pytest.approx(1.0)
    assert rel.spectrum[5:].min() == pytest.approx(SPECTRUM_FLOOR)  # null directions floored, not ~0
    assert c.cosine_fraction.sum() == pytest.approx(1.0) and len(c.cosine_edges) == len(c.cosine_fraction) + 1
    assert log_floor([np.array([10.0, 0.1, 0.0])]) == pytest.approx(-1.5)
    assert log_floor([np.zeros(3)]) == 0.0


def test_rankme_on_the_raw_matrix_differs_from_the_centred_rank_under_a_shared_offset():
    """Vectors that all share one large offset (every pairwise cosine ~0.98) spread around it
    in every direction: the centred effective rank sees the spread, RankMe as published sees the
    offset dominate the raw spectrum.  Both are reported, under their own names."""
    offset = RNG.standard_normal(D).astype(np.float32)
    offset *= 10 / np.linalg.norm(offset)
    X = offset + 0.02 * RNG.standard_normal((N, D)).astype(np.float32)
    c = _fit(X)
    assert c.effective_rank_ > 0.8 * D  # isotropic around the offset
    assert c.rankme_ < 0.25 * c.effective_rank_
    raw = np.linalg.svd(X.astype(np.float64), compute_uv=False)
    q = raw / raw.sum()
    assert c.rankme_ == pytest.approx(np.exp(-(q * np.log(q)).sum()), rel=1e-5)
    same = _fit(np.tile(offset, (50, 1)))  # all identical: one direction in the raw matrix
    assert same.rankme_ == pytest.approx(1.0, abs=1e-4) and same.effective_rank_ == 1.0
