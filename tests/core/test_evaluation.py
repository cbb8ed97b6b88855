"""Evaluation metrics against scikit-learn references and hand-computed cases."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score, silhouette_score
from sklearn.metrics.pairwise import cosine_distances
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from embedview.core.evaluation import (
    ClusteringMetrics,
    KNNAccuracy,
    LinearProbe,
    OutlierScores,
    RetrievalMetrics,
    encode_labels,
    load_relevance_file,
)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


def _sklearn_loo(X, y, k, weights="uniform"):
    """Leave-one-out predictions by scikit-learn: precomputed cosine distances with each item's
    distance to itself set beyond the largest possible (2), so it is never its own neighbour
    while an exact duplicate (distance 0) still is."""
    D = cosine_distances(X.astype(np.float64))
    np.fill_diagonal(D, 10.0)
    clf = KNeighborsClassifier(n_neighbors=k, metric="precomputed", algorithm="brute", weights=weights)
    return clf.fit(D, y).predict(D)


def test_encode_labels_unlabelled_and_order():
    codes, classes = encode_labels([3, None, 10, -1, 3, float("nan"), 2])
    assert classes == [2, 3, 10]  # numeric order, not "10" < "2"
    assert codes.tolist() == [1, -1, 2, -1, 1, -1, 0]
    codes, classes = encode_labels(np.array(["cat", None, "", "ant"], dtype=object))
    assert classes == ["ant", "cat"] and codes.tolist() == [1, -1, -1, 0]


def test_knn_majority_equals_sklearn_leave_one_out(digits):
    X, y = digits
    ours = KNNAccuracy(k=10).fit(X, y)
    ref = _sklearn_loo(X, y, 10)
    assert ours.accuracy_ == np.mean(ref == y)
    assert np.array_equal(ours.predictions_.astype(int), ref)
    assert set(ours.per_class_) == set(range(10))
    assert ours.per_class_[0] == np.mean(ref[y == 0] == 0)


def test_knn_weighted_equals_sklearn_distance_weights(digits):
    X, y = digits
    ours = KNNAccuracy(k=7, vote="weighted").fit(X, y)
    ref = _sklearn_loo(X, y, 7, weights="distance")
    assert np.array_equal(ours.predictions_.astype(int), ref)


def test_knn_unlabelled_items_are_left_out(digits):
    X, y = digits[0][:300], digits[1][:300]
    labels = np.array(y, dtype=object)
    labels[::7] = None
    ours = KNNAccuracy(k=5).fit(X, labels)
    keep = np.array([lab is not None for lab in labels])
    alone = KNNAccuracy(k=5).fit(X[keep], y[keep])
    assert ours.accuracy_ == alone.accuracy_
    assert all(p is None for p in ours.predictions_[~keep])
    assert ours.n_evaluated_ == keep.sum()


def test_knn_duplicate_is_its_own_neighbour_but_self_is_not():
    # item 0 and 1 are identical and labelled "a"; 2 and 3 sit elsewhere and are "b".
    X = np.array([[1, 0], [1, 0], [0, 1], [0.1, 1]], dtype=np.float32)
    y = ["a", "a", "b", "b"]
    m = KNNAccuracy(k=1).fit(X, y)
    assert m.accuracy_ == 1.0  # each "a" finds its duplicate, not itself
    assert m.per_class_ == {"a": 1.0, "b": 1.0}


def test_linear_probe_matches_sklearn_cross_validation(digits):
    X, y = digits
    probe = LinearProbe(folds=3, max_iter=300).fit(X, y)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    ref = cross_validate(pipe, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0),
                         scoring=("accuracy", "f1_macro"))
    assert probe.accuracy_mean_ == pytest.approx(ref["test_accuracy"].mean(), abs=1e-12)
    assert probe.macro_f1_mean_ == pytest.approx(ref["test_f1_macro"].mean(), abs=1e-12)
    assert probe.accuracy_mean_ > 0.9
    assert len(probe.fold_scores_) == 3
    assert probe.to_dict()["n_classes"] == 10


def test_linear_probe_small_classes_message(digits):
    X, y = digits[0][:300], digits[1][:300]
    labels = np.array(y, dtype=object)
    labels[np.flatnonzero(y == 7)[3:]] = None  # class 7 keeps only 3 items
    probe = LinearProbe(folds=5).fit(X, labels)
    assert 7 not in probe.classes_ and len(probe.classes_) == 9
    assert "7" in probe.message_ and "(3)" in probe.message_
    only_one = np.where(y == 3, 3, None)
    only_one[np.flatnonzero(y == 4)[:4]] = 4  # 4 items < 5 folds
    with pytest.raises(ValueError, match="at least 2 classes"):
        LinearProbe(folds=5).fit(X, only_one)


def test_clustering_metrics_equal_sklearn(digits):
    X, y = digits
    m = ClusteringMetrics(random_state=0).fit(X, y)
    assert m.n_clusters_ == 10
    assert m.silhouette_ == pytest.approx(silhouette_score(X.astype(np.float64), y, metric="cosine"), abs=1e-5)
    assert m.nmi_ == pytest.approx(normalized_mutual_info_score(y, m.assignments_), abs=1e-12)
    assert m.silhouette_kmeans_ == pytest.approx(
        silhouette_score(X.astype(np.float64), m.assignments_, metric="cosine"), abs=1e-5)
    assert m.nmi_ > 0.6 and m.ari_ > 0.4  # digits cluster well under cosine
    assert m.sample_size_ == len(X)


def test_clustering_keeps_the_best_of_several_starts(digits):
    """One k-means++ start can land in a poor optimum: the default runs several and keeps the one
    with the lowest inertia, as scikit-learn's KMeans(n_init=10) on the same normalised vectors."""
    from sklearn.cluster import KMeans

    from embedview.core.embeddings import l2_normalize

    X, y = digits
    m = ClusteringMetrics(random_state=0).fit(X, y)
    assert m.n_init >= 10
    ref = KMeans(n_clusters=10, n_init=10, random_state=0).fit(l2_normalize(X))
    assert m.inertia_ == pytest.approx(ref.inertia_, rel=1e-6)
    assert m.nmi_ == pytest.approx(normalized_mutual_info_score(y, ref.labels_), abs=1e-9)
    singles = [ClusteringMetrics(random_state=s, n_init=1, sample=100).fit(X, y) for s in range(10)]
    assert m.inertia_ <= min(s.inertia_ for s in singles) + 1e-6 * m.inertia_
    assert m.nmi_ >= np.median([s.nmi_ for s in singles]) - 0.02


def test_clustering_sample_and_unlabelled(digits):
    X, y = digits
    labels = np.array(y, dtype=object)
    labels[:97] = None
    m = ClusteringMetrics(sample=500).fit(X, labels)
    assert m.sample_size_ == 500
    assert (m.assignments_[:97] == -1).all() and (m.assignments_[97:] >= 0).all()
    full = silhouette_score(X[97:].astype(np.float64), y[97:], metric="cosine")
    assert abs(m.silhouette_ - full) < 0.05
    with pytest.raises(ValueError):
        ClusteringMetrics().fit(X)  # no labels, no n_clusters


# Five unit vectors at angles (degrees) 0, 12, 30, 90, 105 with labels A A B B A, plus an
# unlabelled one at 5 degrees that must be ignored.  Rankings by angle difference:
#   q0 (A,   0): 1 A, 2 B, 3 B, 4 A   rel 1 0 0 1  AP = (1/1 + 2/4) / 2 = 0.75
#   q1 (A,  12): 0 A, 2 B, 3 B, 4 A   rel 1 0 0 1  AP = 0.75
#   q2 (B,  30): 1 A, 0 A, 3 B, 4 A   rel 0 0 1 0  AP = 1/3
#   q3 (B,  90): 4 A, 2 B, 1 A, 0 A   rel 0 1 0 0  AP = 1/2
#   q4 (A, 105): 3 B, 2 B, 1 A, 0 A   rel 0 0 1 1  AP = (1/3 + 2/4) / 2 = 5/12
# mAP = (0.75 + 0.75 + 1/3 + 1/2 + 5/12) / 5 = 0.55
# Hit rate@1 (a relevant item in the top 1): q0, q1 -> 0.4; hit rate@2: q0, q1, q3 -> 0.6
# Recall@K (share of the relevant items in the top K; R = 2, 2, 1, 1, 2):
#   @1: (1/2 + 1/2 + 0 + 0 + 0) / 5 = 0.2; @2: (1/2 + 1/2 + 0 + 1 + 0) / 5 = 0.4
# Precision@1 = 0.4; Precision@2 = (1/2 + 1/2 + 0 + 1/2 + 0) / 5 = 0.3
ANGLES = np.deg2rad([0, 12, 30, 90, 105, 5])
POINTS = np.stack([np.cos(ANGLES), np.sin(ANGLES)], axis=1).astype(np.float32) * [[1], [2], [3], [1], [5], [1]]
LABELS = ["A", "A", "B", "B", "A", None]


def test_retrieval_hand_checked_labels():
    m = RetrievalMetrics(ks=(1, 2)).fit(POINTS, LABELS)
    assert m.map_ == pytest.approx(0.55)
    assert m.hit_rate_at_ == pytest.approx({1: 0.4, 2: 0.6})
    assert m.recall_at_ == pytest.approx({1: 0.2, 2: 0.4})
    assert m.precision_at_ == pytest.approx({1: 0.4, 2: 0.3})
    assert m.average_precision_ == pytest.approx([0.75, 0.75, 1 / 3, 0.5, 5 / 12])
    assert m.n_queries_ == 5 and m.n_skipped_ == 0


def test_retrieval_hand_checked_explicit_relevance():
    # q0 relevant {3}: ranking 1 2 3 4 -> rel 0 0 1 0, AP 1/3; q4 relevant {0, 1}: 3 2 1 0 ->
    # rel 0 0 1 1, AP 5/12.  mAP = 0.375.  Top 3 holds a relevant item for both (hit rate 1) but
    # only one of q4's two: recall@3 = (1 + 1/2) / 2 = 0.75; P@3 = 1/3.
    m = RetrievalMetrics(ks=(1, 3)).fit(POINTS[:5], relevant={0: {3}, 4: {0, 1}})
    assert m.map_ == pytest.approx(0.375)
    assert m.hit_rate_at_ == pytest.approx({1: 0.0, 3: 1.0})
    assert m.recall_at_ == pytest.approx({1: 0.0, 3: 0.75})
    assert m.precision_at_[3] == pytest.approx(1 / 3)


def test_load_relevance_file(tmp_path):
    ids = ["a", "b", "c", "d", "e"]
    path = tmp_path / "rel.csv"
    path.write_text("query,relevant\na,d\ne,a\ne,b\nzzz,a\n", encoding="utf-8")
    before = path.read_bytes()
    relevant, problems = load_relevance_file(str(path), ids)
    assert relevant == {0: {3}, 4: {0, 1}}
    assert len(problems) == 1 and "zzz" in problems[0].reason and str(path) in problems[0].path
    assert path.read_bytes() == before
    m = RetrievalMetrics(ks=(1, 3)).fit(POINTS[:5], relevant=relevant)
    assert m.map_ == pytest.approx(0.375)
    bad = tmp_path / "bad.csv"
    bad.write_text("from,to\na,b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.csv.*query"):
        load_relevance_file(str(bad), ids)


def test_outlier_scores_match_reference_and_find_planted_outliers(digits):
    X = digits[0][:500]
    rng = np.random.default_rng(0)
    planted = rng.uniform(0, 16, size=(10, 64)).astype(np.float32)  # uniform noise "digits"
    data = np.concatenate([X, planted])
    flags = np.r_[np.zeros(len(X), bool), np.ones(10, bool)]
    m = OutlierScores(k=5).fit(data, outliers=flags)
    dist, _ = NearestNeighbors(n_neighbors=6, metric="cosine", algorithm="brute").fit(data).kneighbors(data)
    assert m.scores_ == pytest.approx(dist[:, 1:].mean(axis=1), abs=1e-5)
    assert m.auroc_ > 0.95
    assert set(m.ranking_[:10]) & set(range(500, 510))
    assert m.scores_[m.ranking_[0]] == m.scores_.max()
