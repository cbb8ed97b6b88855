"""The suggested duplicate threshold on real images and the real default image encoder.

Two regimes (tests/core/dup_realsets.py builds them from scikit-image photos and scikit-learn
digits, not the demo):

(a) most items have copies: 8 photos, each with 4 near-copies (resized by half, JPEG quality 30,
    brightened 25 %, cropped 3 %): the suggestion must find exactly the 8 groups of 5;
(b) many distinct but similar items: 3 digit classes x 60 plain grey digits (classmates at
    cosine up to 0.98), 4 photos and 5 planted half-size copies of digits: the copies are found
    and no class becomes a group.
"""

import csv

import numpy as np
import pytest
from dup_realsets import digit_set, encode, photo_set

from embedview.core.duplicates import DuplicateFinder

pytestmark = pytest.mark.slow
pytest.importorskip("torch")


@pytest.fixture(scope="session")
def photo_copies(tmp_path_factory):
    paths, groups = photo_set(tmp_path_factory.mktemp("photo_copies"))
    return encode(paths), groups


@pytest.fixture(scope="session")
def digit_copies(tmp_path_factory):
    paths, groups, labels = digit_set(tmp_path_factory.mktemp("digit_copies"))
    return encode(paths, labels), groups


def test_photos_with_four_copies_each_are_exactly_the_groups(photo_copies):
    emb, planted = photo_copies
    finder = DuplicateFinder().fit(emb)
    assert len(planted) >= 7 and len(emb) == 5 * len(planted)
    assert sorted(g.tolist() for g in finder.groups_) == sorted(planted)
    # the threshold sits in the valley: below every copy link, above every pair of distinct photos
    X = emb.unit
    S = X @ X.T
    same = np.zeros_like(S, dtype=bool)
    for g in planted:
        same[np.ix_(g, g)] = True
    np.fill_diagonal(same, False)
    distinct = ~same
    np.fill_diagonal(distinct, False)
    assert S[distinct].max() < finder.suggested_threshold_ < finder.nn_similarity_.min()
    assert "valley" in finder.suggestion_reason_ and finder.to_dict()["suggestion_reason"]


def test_digits_written_many_times_are_not_a_group_but_planted_copies_are(digit_copies):
    emb, planted = digit_copies
    finder = DuplicateFinder().fit(emb)
    labels = emb.dataset.labels
    groups = [g.tolist() for g in finder.groups_]
    for g in planted:  # every planted copy is found with its original
        assert any(set(g) <= set(found) for found in groups), (g, groups)
    # no dense class becomes one group: groups stay small, and nearly every digit is in none
    assert max(len(g) for g in groups) <= 3
    for c in ("digit 0", "digit 1", "digit 3"):
        members = np.flatnonzero(labels == c)
        assert np.count_nonzero(finder.labels_[members] >= 0) <= 0.15 * members.size, c
    # the distinct classmates really are close (the hard case), and the threshold is above most of them
    planted_items = np.concatenate(planted)
    rest = np.setdiff1d(np.arange(len(emb)), planted_items)
    assert np.quantile(finder.nn_similarity_[rest], 0.9) > 0.95
    assert finder.suggested_threshold_ > np.quantile(finder.nn_similarity_[rest], 0.95)


def test_export_of_planted_photo_copies_marks_no_exact_copies(photo_copies, tmp_path):
    """No file is an exact copy of another: the exported `exact` column is false everywhere,
    as the view's "0 exact-copy groups" says (it was true for every kept item)."""
    emb, planted = photo_copies
    finder = DuplicateFinder().fit(emb)
    assert finder.exact_groups_ == []
    path = finder.to_csv(tmp_path / "dups.csv")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 * len(planted)
    assert {r["exact"] for r in rows} == {"False"}
    assert sum(r["keep"] == "True" for r in rows) == len(planted)
