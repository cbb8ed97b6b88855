"""The linear probe at scale (issue 14): above ``max_train`` training items per fold it trains on
a stratified sample, says so, and still evaluates every held-out item; below it nothing changes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from embedview.core.evaluation import LinearProbe


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def full(digits):
    X, y = digits
    return LinearProbe(folds=5, max_iter=300, max_train=None).fit(X, y)


def test_small_data_is_unchanged_and_equals_sklearn(digits, full):
    X, y = digits
    default = LinearProbe(folds=5, max_iter=300).fit(X, y)  # 1,438 training items < default max_train
    assert not default.sampled_ and default.n_train_ == 1438 and default.message_ == ""
    assert default.fold_scores_ == full.fold_scores_
    ref = cross_validate(make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)), X, y,
                         cv=StratifiedKFold(5, shuffle=True, random_state=0), scoring=("accuracy", "f1_macro"))
    assert default.accuracy_mean_ == pytest.approx(ref["test_accuracy"].mean(), abs=1e-6)
    assert default.macro_f1_mean_ == pytest.approx(ref["test_f1_macro"].mean(), abs=1e-6)
    d = default.to_dict()
    assert d["sampled"] is False and d["n_train"] == 1438 and d["n_items"] == 1797


def test_above_threshold_samples_states_it_and_evaluates_everything(digits, full):
    X, y = digits
    p = LinearProbe(folds=5, max_iter=300, max_train=800).fit(X, y)
    assert p.sampled_ and p.n_train_ == 800
    assert all(s["n_train"] == 800 for s in p.fold_scores_)
    assert sum(s["n_test"] for s in p.fold_scores_) == len(y) == p.n_items_  # every item held out once
    assert "stratified sample of 800 of the 1,438 training items per fold" in p.message_
    assert "accuracy on all 1,797 held-out items" in p.message_
    d = p.to_dict()
    assert d["sampled"] is True and d["n_train"] == 800 and d["max_train"] == 800 and d["message"] == p.message_
    # measured on digits (random_state 0, 1, 2): 800 of 1,438 loses 0.003-0.010 accuracy; 200 loses 0.04-0.06
    assert full.accuracy_mean_ - 0.02 <= p.accuracy_mean_ <= full.accuracy_mean_ + 0.01
    small = LinearProbe(folds=5, max_iter=300, max_train=200).fit(X, y)
    assert small.accuracy_mean_ < p.accuracy_mean_  # the sample size matters: fewer items, lower accuracy
    again = LinearProbe(folds=5, max_iter=300, max_train=800).fit(X, y)
    assert again.fold_scores_ == p.fold_scores_  # same random_state, same sample


def test_sample_is_stratified_and_keeps_every_class():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(6), [5000, 2000, 500, 40, 3, 1])
    pick = LinearProbe._stratified(y, 300, rng)
    assert len(pick) == 300 and len(np.unique(pick)) == 300
    got = np.bincount(y[pick], minlength=6)
    assert (got >= 1).all()  # even the 1-item class
    assert abs(got[0] - 300 * 5000 / len(y)) <= 2 and abs(got[1] - 300 * 2000 / len(y)) <= 2
    assert (LinearProbe._stratified(y[:200], 300, rng) == np.arange(200)).all()  # small enough: all


def test_rare_class_survives_sampling_in_fit(digits):
    X, y = digits
    keep = np.flatnonzero(y != 9)
    keep = np.concatenate([keep, np.flatnonzero(y == 9)[:5]])  # class 9: 5 items, one per fold
    p = LinearProbe(folds=5, max_iter=300, max_train=100).fit(X[keep], y[keep])
    assert p.sampled_ and 9 in p.classes_ and p.n_train_ == 100
    with pytest.raises(ValueError, match="at least the number of classes"):
        LinearProbe(folds=5, max_train=5).fit(X, y)
