"""run_checks / compare_checks on small real data (scikit-learn digits)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.checks import CHECKS, Checks, is_healthy, run_checks
from embedview.core.compare import compare_checks
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet


def _set(X, labels=None, name="digits", encoder="precomputed"):
    n = len(X)
    ds = Dataset(
        "embedding", [f"item{i}" for i in range(n)], [f"/data/{name}.npy"] * n,
        labels=None if labels is None else np.asarray(labels, dtype=object),
        embeddings=np.asarray(X, dtype=np.float32), name=name,
    )
    return EmbeddingSet(ds, np.asarray(X, dtype=np.float32), encoder)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(d.data), 500, replace=False))
    return d.data[idx].astype(np.float32), np.array([str(t) for t in d.target[idx]], dtype=object)


def _assert_plain(obj, where="result"):
    """Only JSON types: dict / list / str / int / float / bool / None (no numpy scalars)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, str), f"{where}: key {k!r}"
            _assert_plain(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _assert_plain(v, f"{where}[{i}]")
    else:
        assert obj is None or type(obj) in (str, int, float, bool), f"{where}: {type(obj).__name__}"


def test_labelled_digits_run_every_check(digits):
    X, y = digits
    result = run_checks(_set(X, y), k=10)
    json.dumps(result, allow_nan=False)  # strict JSON
    _assert_plain(result)
    assert result["verdict"] == "healthy" and result["healthy"] is True and is_healthy(result)
    for name in CHECKS:
        assert name in result, name
    assert result["skipped"] == []
    # digits are easy: neighbours and a linear probe find the classes
    assert result["knn"]["accuracy"] > 0.9
    assert result["knn"]["vote"] == "majority" and result["knn_weighted"]["vote"] == "weighted"
    assert result["linear_probe"]["accuracy_mean"] > 0.85
    assert result["retrieval"]["hit_rate_at"]["1"] > 0.9
    # Recall@K is the share of the ~50 relevant items of a query's class found in the top K
    assert 0 < result["retrieval"]["recall_at"]["10"] <= 10 / 40
    assert result["retrieval"]["separate_queries"] is False and "queries" not in result
    assert result["collapse"]["rankme"] > 1 and result["clustering"]["n_init"] >= 10
    assert result["dataset"]["n_items"] == 500 and result["dataset"]["labels"]["0"] == int((y == "0").sum())
    assert result["outliers"]["top"][0]["id"].startswith("item")


def test_the_weighted_vote_reuses_the_majority_votes_neighbour_search(digits, monkeypatch):
    from embedview.core import evaluation

    X, y = digits
    searches = []
    real = evaluation._neighbours
    monkeypatch.setattr(evaluation, "_neighbours", lambda *a, **kw: searches.append(1) or real(*a, **kw))
    fitted = Checks(k=10, include=["knn", "knn_weighted"]).fit(_set(X, y))
    assert len(searches) == 1
    alone = evaluation.KNNAccuracy(10, "weighted", "cosine").fit(X, y)  # its own search: the same answer
    assert fitted.results_["knn_weighted"].accuracy_ == alone.accuracy_
    assert list(fitted.results_["knn_weighted"].predictions_) == list(alone.predictions_)


def test_collapsed_vectors_are_not_healthy(digits):
    X, y = digits
    rng = np.random.default_rng(1)
    direction = rng.normal(size=64)
    collapsed = np.outer(rng.normal(size=len(X)), direction) + 1e-3 * rng.normal(size=(len(X), 64))
    result = run_checks(_set(collapsed, y), include=["collapse"])
    assert result["verdict"] != "healthy" and not is_healthy(result)
    assert "collapse" in result["collapse"]["verdict"]
    assert "knn" not in result  # include= limits the checks


def test_label_checks_are_skipped_with_reasons(digits):
    X, _ = digits
    result = run_checks(_set(X[:120]), include=["knn", "retrieval", "outliers"])
    skipped = {s["check"]: s["reason"] for s in result["skipped"]}
    assert set(skipped) == {"knn", "retrieval"}
    assert all("no labels" in reason for reason in skipped.values())
    assert "outliers" in result

    one_each = np.array([f"c{i}" for i in range(120)], dtype=object)  # no label has 2 items
    result = run_checks(_set(X[:120], one_each), include=["knn"])
    assert result["skipped"][0]["check"] == "knn" and "at least 2 labels" in result["skipped"][0]["reason"]


def test_small_classes_and_unlabelled_items_are_left_out(digits):
    X, y = digits
    y = y.copy()
    y[0] = "lonely"
    y[1] = None
    result = run_checks(_set(X, y), include=["knn", "retrieval"])
    assert result["knn"]["n_evaluated"] == len(X) - 2
    assert "1 unlabelled" in result["knn"]["notes"] and "fewer than 2" in result["knn"]["notes"]
    assert result["retrieval"]["n_queries"] == len(X) - 2


def test_planted_duplicates_are_counted(digits):
    X, y = digits
    X = X[:200].copy()
    rng = np.random.default_rng(2)
    X[[10, 20, 30]] = X[[0, 1, 2]] + rng.normal(scale=0.01, size=(3, 64))  # three near copies
    result = run_checks(_set(X, y[:200]), include=["duplicates"])
    assert result["duplicates"]["n_groups"] >= 3 and result["duplicates"]["largest_group"] >= 2
    assert 0.5 <= result["duplicates"]["suggested_threshold"] <= 1.0


def test_unknown_check_name_is_refused(digits):
    X, y = digits
    with pytest.raises(ValueError, match="unknown check"):
        Checks(include=["nope"]).fit(_set(X, y))


def test_compare_checks_cka_and_overlap(digits):
    X, y = digits
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(64, 64)))
    rotated = X @ q  # same geometry: CKA 1, same neighbours
    noise = rng.normal(size=X.shape).astype(np.float32)
    sets = {"raw": _set(X, y), "rotated": _set(rotated, y, encoder="rot"), "noise": _set(noise, y, encoder="noise")}
    out = compare_checks(sets, include=["knn"])
    json.dumps(out, allow_nan=False)
    assert set(out["sets"]) == set(sets)
    assert out["sets"]["raw"]["knn"]["accuracy"] > 0.9 > out["sets"]["noise"]["knn"]["accuracy"]
    comp = out["comparison"]
    names = comp["names"]
    cka = np.array(comp["cka"])
    assert cka[names.index("raw"), names.index("rotated")] == pytest.approx(1.0, abs=1e-4)
    assert cka[names.index("raw"), names.index("noise")] < 0.3
    overlap = {(p["a"], p["b"]): p["mean"] for p in comp["knn_overlap"]}
    assert overlap[("raw", "rotated")] > 0.95 and overlap[("raw", "noise")] < 0.2


def test_compare_checks_on_different_items_says_why(digits):
    X, y = digits
    other = _set(X[:100], y[:100])
    other.dataset.ids = [f"other{i}" for i in range(100)]
    out = compare_checks({"a": _set(X, y), "b": other}, include=["collapse"])
    assert out["comparison"] is None
    assert out["skipped"][0]["check"] == "comparison" and "same items" in out["skipped"][0]["reason"]


def test_one_item_skips_every_check_with_the_reason(digits):
    """A 1-row file used to stop the whole suite with the collapse diagnostics' ValueError (and the
    CLI with "unexpected error"): every check compares items, so each is skipped, saying why."""
    from embedview.core.checks import NOT_CHECKED, CheckInput, run_check

    X, y = digits
    result = run_checks(_set(X[:1], y[:1]), k=10)
    skipped = {s["check"]: s["reason"] for s in result["skipped"]}
    assert set(skipped) == set(CHECKS)
    assert all(reason == "needs at least 2 items, the data has 1" for reason in skipped.values())
    assert result["verdict"] == NOT_CHECKED and result["healthy"] is False and "collapse" not in result
    _assert_plain(result)
    with pytest.raises(ValueError, match="needs at least 2 items, the data has 1"):  # the Checks view's path
        run_check("outliers", CheckInput(_set(X[:1])))
    two = run_checks(_set(X[:2]), include=["outliers", "duplicates"], k=10)  # two items are enough
    assert {"collapse", "outliers", "duplicates"} <= set(two) and two["skipped"] == []
