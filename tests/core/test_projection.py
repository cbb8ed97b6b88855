"""Projection: PCA / UMAP maps of real data (sklearn digits) and their quality measures."""

import os
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness as sk_trustworthiness

from embedview.core.embeddings import l2_normalize
from embedview.core.neighbors import knn_for_umap
from embedview.core.progress import Cancelled, TaskState
from embedview.core.projection import Projection, configure_numba_cache, trustworthiness


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def umap_map(digits):
    """The one UMAP fit of digits computing its own kNN graph (slow: numba compile on first use)."""
    X, _ = digits
    reports = []
    proj = Projection(method="umap", random_state=42).fit(X, progress=lambda f, m: reports.append((f, m)))
    return proj, reports


def _knn_accuracy_2d(Y, y, k=5):
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    return cross_val_score(KNeighborsClassifier(k), Y, y, cv=3).mean()


def test_trustworthiness_equals_sklearn():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 20)).astype(np.float32)
    Y = PCA(2).fit_transform(X)
    for k in (1, 5, 12):
        ours = trustworthiness(X, Y, n_neighbors=k, metric="cosine")
        assert ours == pytest.approx(sk_trustworthiness(X, Y, n_neighbors=k, metric="cosine"), abs=1e-12)
    ours = trustworthiness(X, Y, n_neighbors=5, metric="euclidean")
    assert ours == pytest.approx(sk_trustworthiness(X, Y, n_neighbors=5), abs=1e-12)
    assert trustworthiness(X, X, n_neighbors=5, metric="euclidean") == pytest.approx(1.0)
    with pytest.raises(ValueError, match="half"):
        trustworthiness(X[:10], Y[:10], n_neighbors=5)


def test_pca_map_scores_and_reproducibility(digits):
    X, y = digits
    a = Projection(method="pca").fit(X)
    b = Projection(method="pca").fit(X)
    assert a.embedding_.shape == (len(X), 2) and a.embedding_.dtype == np.float32
    assert np.array_equal(a.embedding_, b.embedding_)
    unit = l2_normalize(X)
    ref = PCA(2).fit_transform(unit)
    for c in range(2):  # same components up to sign
        assert abs(np.corrcoef(a.embedding_[:, c], ref[:, c])[0, 1]) > 0.9999
    # all 1797 digits are below the evaluation sample size, so this is the exact figure
    assert a.trustworthiness_ == pytest.approx(
        sk_trustworthiness(unit, a.embedding_, n_neighbors=Projection.EVAL_K, metric="cosine"), abs=1e-6
    )
    assert 0 < a.knn_preservation_ < 1
    d = a.to_dict()
    assert d["method"] == "pca" and d["n_items"] == len(X) and isinstance(d["seconds"], float)


def test_low_trustworthiness_warns():
    X = np.random.default_rng(1).standard_normal((600, 64))
    p = Projection(method="pca").fit(X)  # 2 of 64 isotropic dimensions: a poor map
    assert p.trustworthiness_ < Projection.TRUST_WARN
    assert "mislead" in p.warning_


def test_umap_map_of_digits_is_good(umap_map, digits):
    proj, reports = umap_map
    X, y = digits
    assert proj.method_ == "umap"
    assert proj.embedding_.shape == (len(X), 2) and proj.embedding_.dtype == np.float32
    assert proj.trustworthiness_ > 0.95
    assert proj.knn_preservation_ > 0.3
    assert proj.warning_ == ""
    assert _knn_accuracy_2d(proj.embedding_, y) > 0.9  # classes stay separated on the map
    assert any("epoch" in m for _, m in reports)  # the layout reported its epochs
    assert reports[-1][0] == 1.0
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions)


def test_umap_is_reproducible_with_a_given_graph(umap_map, digits):
    X, _ = digits
    knn = knn_for_umap(l2_normalize(X), 15)
    graph_before = (knn[0].copy(), knn[1].copy())
    again = Projection(method="umap", random_state=42).fit(X, knn=knn)
    assert np.array_equal(again.embedding_, umap_map[0].embedding_)
    assert np.array_equal(knn[0], graph_before[0]) and np.array_equal(knn[1], graph_before[1])


def test_tiny_inputs():
    X = np.random.default_rng(2).standard_normal((3, 8)).astype(np.float32)
    p = Projection(method="umap").fit(X)
    assert p.method_ == "pca" and p.embedding_.shape == (3, 2) and "UMAP needs at least 4" in p.warning_
    one = Projection(method="umap").fit(X[:1])
    assert one.embedding_.shape == (1, 2) and np.all(one.embedding_ == 0)
    with pytest.raises(ValueError):
        Projection().fit(np.zeros((0, 8)))


def test_umap_small_set_and_cancel(digits):
    X = digits[0][:12]
    p = Projection(method="umap", n_neighbors=15).fit(X)
    assert p.embedding_.shape == (12, 2) and np.isfinite(p.embedding_).all()
    assert "n_neighbors lowered from 15 to 11" in p.warning_

    task = TaskState()

    def cancel_on_layout(fraction, message):
        if "epoch" in message:
            task.cancel()

    task.callback = cancel_on_layout
    with pytest.raises(Cancelled):
        Projection(method="umap").fit(digits[0][:400], progress=task)
    # the cancel was raised inside tqdm's refresh: its process-wide write lock must be free
    # again, or every later progress bar in the process (sentence-transformers') deadlocks
    import threading

    from tqdm import tqdm

    got = []

    def probe_locks():
        for lock in tqdm.get_lock().locks:  # a multiprocessing RLock and a threading RLock
            ok = lock.acquire(timeout=5)
            got.append(ok)
            if ok:
                lock.release()

    probe = threading.Thread(target=probe_locks)
    probe.start()
    probe.join(20)
    assert got and all(got), "tqdm's write lock was left held by the cancelled UMAP layout"


def test_numba_cache_dir_follows_embedview_cache_dir(tmp_path):
    saved = {k: os.environ.get(k) for k in ("NUMBA_CACHE_DIR", "EMBEDVIEW_CACHE_DIR")}
    try:
        os.environ.pop("NUMBA_CACHE_DIR", None)
        os.environ["EMBEDVIEW_CACHE_DIR"] = str(tmp_path)
        assert configure_numba_cache() == str(tmp_path / "numba") and (tmp_path / "numba").is_dir()
        os.environ["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
        assert configure_numba_cache() == str(tmp_path / "mine")  # the user's choice wins
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if "numba" in sys.modules:  # numba re-read its settings: point it back
            from numba.core import config

            config.reload_config()
