"""``as_matrix``: the one input check shared by every compute module."""

from __future__ import annotations

import numpy as np
import pytest

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet, as_matrix


def test_arrays_and_sets_become_float32_matrices_without_a_copy():
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert as_matrix(X) is X
    out = as_matrix([[1, 2], [3, 4]])
    assert out.dtype == np.float32 and out.shape == (2, 2)
    ds = Dataset("embedding", ids=["a", "b", "c", "d"], sources=["x"] * 4, embeddings=X)
    assert as_matrix(EmbeddingSet.from_dataset(ds)) is X


@pytest.mark.parametrize(("bad", "message"), [
    (np.ones(5), "single vector"),
    (np.ones((2, 2, 2)), "2-D"),
    (np.empty((0, 4)), "at least one vector"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN or infinite values \\(1 of 2 rows\\)"),
    (np.array([[np.inf, 0.0]]), "NaN or infinite"),
    ([["a", "b"]], "matrix of numbers"),
])
def test_bad_input_says_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message):
        as_matrix(bad)


def test_empty_is_allowed_when_asked():
    assert as_matrix(np.empty((0, 3)), allow_empty=True).shape == (0, 3)


def test_every_compute_module_uses_it():
    """The errors reach the user from every entry point, not only from the projection."""
    from embedview.core import compare, evaluation, projection

    for module in (compare, evaluation, projection):
        assert module.as_matrix is as_matrix
        assert not hasattr(module, "_as_matrix")
    with pytest.raises(ValueError, match="NaN"):
        evaluation.OutlierScores(2).fit(np.array([[0.0, 1.0], [np.nan, 1.0], [1.0, 0.0]]))
