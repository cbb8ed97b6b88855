"""core.similarity: the heatmap's items, their order, their cosine matrix and its colour range."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.similarity import (
    SAMPLE_SIZE,
    SimilarityHeatmap,
    choose_items,
    cluster_order,
    color_levels,
    color_ticks,
    label_boundaries,
    stratified_sample,
    without_diagonal,
)


def digits(n=None, labelled=True) -> EmbeddingSet:
    X, y = load_digits(return_X_y=True)
    X, y = X[:n].astype(np.float32), y[:n]
    ds = Dataset("embedding", ids=[f"digit-{i}" for i in range(len(X))], sources=["digits.npy"] * len(X),
                 labels=np.array([str(v) for v in y], dtype=object) if labelled else None, embeddings=X)
    return EmbeddingSet.from_dataset(ds)


def test_stratified_sample_keeps_label_proportions():
    emb = digits()  # 1797 items, ten labels of ~180
    pick = stratified_sample(emb.dataset.labels, len(emb), SAMPLE_SIZE)
    assert len(pick) == SAMPLE_SIZE and np.all(np.diff(pick) > 0)
    counts = np.unique(emb.dataset.labels[pick], return_counts=True)[1]
    assert len(counts) == 10 and counts.min() >= 27 and counts.max() <= 33
    assert stratified_sample(None, 5, 10).tolist() == [0, 1, 2, 3, 4]  # fewer items than asked: all


def test_choose_items_selection_or_sample():
    labels = np.array([str(i % 3) for i in range(3000)], dtype=object)
    sel = np.array([4, 17, 60])
    got = choose_items(3000, sel, labels)
    assert got.indices.tolist() == [4, 17, 60] and got.what == "3 selected items"
    one = choose_items(3000, np.array([5]), labels)  # one item is no pair: a sample of everything
    assert len(one.indices) == SAMPLE_SIZE and "a sample of 300 of 3,000" in one.what
    big = choose_items(3000, np.arange(2500), labels, max_items=2000)
    assert len(big.indices) == SAMPLE_SIZE and set(big.indices.tolist()) <= set(range(2500))
    assert "of the 2,500 selected" in big.what
    small = choose_items(40, np.array([], dtype=np.int64))
    assert small.indices.tolist() == list(range(40)) and small.what.startswith("all items")
    assert choose_items(10, np.array([3, 12, 99])).indices.tolist() == list(range(10))  # out of range dropped


def test_labelled_items_are_grouped_by_label():
    emb = digits(700)
    idx = np.arange(0, 700, 3)
    h = SimilarityHeatmap().fit(emb, idx)
    assert sorted(h.indices_.tolist()) == idx.tolist() and h.order_ == "label"
    U = emb.unit[h.indices_]
    np.testing.assert_allclose(h.matrix_, U @ U.T, atol=1e-5)
    labels = emb.dataset.labels[h.indices_]
    assert [g[2] for g in h.groups_] == sorted(set(labels))
    for start, stop, name in h.groups_:
        assert set(labels[start:stop]) == {name}
    assert h.groups_[0][0] == 0 and h.groups_[-1][1] == len(idx)
    assert h.to_dict()["order"] == "label"


def test_unlabelled_items_are_ordered_by_clusters():
    emb = digits(200, labelled=False)
    h = SimilarityHeatmap().fit(emb, np.arange(200))
    assert h.groups_ == [] and h.order_ == "cluster"
    assert sorted(h.indices_.tolist()) == list(range(200))
    U = emb.unit[h.indices_]
    np.testing.assert_allclose(h.matrix_, U @ U.T, atol=1e-5)
    # neighbours along the diagonal are closer than random pairs
    assert np.diag(h.matrix_, 1).mean() > h.matrix_.mean() + 0.05
    assert sorted(cluster_order(np.eye(3)).tolist()) == [0, 1, 2]


def test_color_levels_and_boundaries():
    m = np.array([[1.0, 0.2, 0.5], [0.2, 1.0, -0.1], [0.5, -0.1, 1.0]], dtype=np.float32)
    assert color_levels(m, "full") == (-1.0, 1.0)
    lo, hi = color_levels(m, "data")
    assert lo == pytest.approx(-0.1) and hi == pytest.approx(0.5)  # the diagonal is left out
    flat = np.full((2, 2), 0.3, dtype=np.float32)
    assert color_levels(flat, "data") == pytest.approx((0.29, 0.31))  # never an empty range
    assert color_levels(np.zeros((0, 0)), "data") == (-1.0, 1.0)
    xs, ys = label_boundaries([(0, 2, "a"), (2, 5, "b")], 5)
    assert xs.tolist() == [2, 2, 0, 5] and ys.tolist() == [0, 5, 2, 2]
    assert label_boundaries([(0, 5, "a")], 5)[0].size == 0


# -- issue 10: the diagonal outside the scales; numbers on a collapsed set's colour bar -------------------------
def collapsed(n=300, offset=200.0) -> EmbeddingSet:
    """Real collapsed vectors: the digits plus a large common offset (cosines 0.9989 .. 0.99998)."""
    emb = digits(n)
    return EmbeddingSet(emb.dataset, (emb.vectors + offset).astype(np.float32), emb.encoder)


def test_three_items_the_diagonal_never_sets_the_data_range():
    emb = digits(300)
    h = SimilarityHeatmap().fit(emb, [0, 10, 20])  # two 0s and a 1: one pair far more similar
    m = h.matrix_
    off = m[~np.eye(3, dtype=bool)]
    lo, hi = color_levels(m, "data")
    assert (lo, hi) == (pytest.approx(float(off.min())), pytest.approx(float(off.max())))
    assert hi < 0.999  # the range ends at the most similar pair, not at the diagonal's 1
    drawn = without_diagonal(m)
    assert drawn.dtype == np.float32 and np.isnan(np.diag(drawn)).all()
    assert np.array_equal(drawn[~np.eye(3, dtype=bool)], off)  # the pairs are drawn as they are
    assert np.diag(m).tolist() == pytest.approx([1.0, 1.0, 1.0])  # and the matrix itself is untouched


def test_many_items_the_data_range_is_the_pairs():
    emb = digits(700)
    h = SimilarityHeatmap().fit(emb, np.arange(0, 700, 2))
    m = h.matrix_.copy()
    lo, hi = color_levels(m, "data")
    off = m[~np.eye(len(m), dtype=bool)]
    assert (lo, hi) == (pytest.approx(float(off.min())), pytest.approx(float(off.max())))
    np.fill_diagonal(m, -5.0)  # whatever the diagonal holds, the range is the same
    assert color_levels(m, "data") == (lo, hi)
    np.fill_diagonal(m, np.nan)
    assert color_levels(m, "data") == (lo, hi)
    assert color_levels(m, "full") == (-1.0, 1.0)


def test_constant_matrices_get_a_range_inside_minus_one_to_one():
    ones = np.ones((4, 4), dtype=np.float32)  # identical vectors (fully collapsed)
    lo, hi = color_levels(ones, "data")
    assert lo < hi <= 1.0 and lo == pytest.approx(0.98)
    lo, hi = color_levels(np.full((3, 3), -1.0, dtype=np.float32), "data")
    assert -1.0 <= lo < hi
    assert color_levels(np.eye(1, dtype=np.float32), "data") == (-1.0, 1.0)  # one item: no pairs


def test_colour_bar_ticks_on_a_collapsed_set():
    emb = collapsed()
    h = SimilarityHeatmap().fit(emb, np.arange(300))
    lo, hi = color_levels(h.matrix_, "data")
    assert 0.998 < lo < hi < 1.0
    ticks = color_ticks(lo, hi)
    values, texts = [v for v, _t in ticks], [t for _v, t in ticks]
    assert 3 <= len(ticks) <= 6
    assert len(set(texts)) == len(texts)  # at 2 or 3 decimals they would all read "1.00" / "0.999"
    assert all(lo <= v <= hi for v in values) and values == sorted(values)
    assert [float(t) for t in texts] == pytest.approx(values, abs=1e-9)
    assert texts == ["0.9990", "0.9992", "0.9994", "0.9996", "0.9998"]


@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (0.3, 0.99), (-0.1, 0.5), (0.29, 0.31), (0.9999, 1.0),
                                   (0.98, 1.0), (0.5, 0.5000001), (-0.999999, -0.99999)])
def test_colour_bar_ticks_are_round_numbered_and_distinct(lo, hi):
    ticks = color_ticks(lo, hi)
    texts = [t for _v, t in ticks]
    assert 3 <= len(ticks) <= 6 and len(set(texts)) == len(texts), ticks
    for v, t in ticks:
        assert lo - 1e-12 <= v <= hi + 1e-12
        assert float(t.replace("\u2212", "-")) == pytest.approx(v, abs=1e-12 + 1e-9 * abs(v))
        assert not (t.startswith("\u2212") and float(t[1:]) == 0)  # no negative zero


def test_colour_bar_ticks_of_the_full_scale():
    assert [t for _v, t in color_ticks(-1.0, 1.0)] == ["\u22121.0", "\u22120.5", "0.0", "0.5", "1.0"]
