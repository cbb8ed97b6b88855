"""core.clusters on real data: scikit-learn's digits (NMI against the digit labels, on a 2-D map
made by spectral embedding, 1.4 s) and the Debian package descriptions (the names of sections
are words that are distinctive for them), plus the sample-and-extend path and the contours grid."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score as nmi

from embedview.core.clusters import Clusters, density_grid, distinctive_words
from embedview.core.progress import Cancelled, TaskState

DEBIAN = Path("/tmp/realdata/debian.csv")


@pytest.fixture(scope="module")
def digits_map():
    from sklearn.datasets import load_digits
    from sklearn.manifold import SpectralEmbedding

    X, y = load_digits(return_X_y=True)
    xy = SpectralEmbedding(2, n_neighbors=15, random_state=0).fit_transform(X)
    return X.astype(np.float32), y, xy


def test_digits_clusters_of_the_map_agree_with_the_labels(digits_map):
    X, y, xy = digits_map
    c = Clusters().fit(xy, labels=y, source="spectral")
    # measured: 0.78 at both levels (UMAP map: 0.90); HDBSCAN on the 64-d vectors themselves 0.55
    for level in c.levels_:
        assert nmi(y, c.labels_[level]) > 0.70, level
    from sklearn.cluster import HDBSCAN

    raw = HDBSCAN(min_cluster_size=18, min_samples=5, copy=True).fit_predict(X)  # the fine level's 1 %
    # why the map, not the vectors: as close to the labels, and far fewer points left unclustered
    assert nmi(y, c.labels_["fine"]) > nmi(y, raw)
    assert (c.labels_["fine"] < 0).mean() < 0.5 * (raw < 0).mean()
    # named by the dominant digit with its share, which is the real share
    k = 0
    members = c.labels_["coarse"] == k
    digit, share = c.names_["coarse"][k].rsplit(" (", 1)
    assert abs(float(share.rstrip("%)")) / 100 - np.mean(y[members] == int(digit))) < 0.006
    assert c.name_source_["coarse"] == "label"
    # ordered by size, with centres and sizes that match the labels
    sizes = c.sizes_["fine"]
    assert (np.diff(sizes) <= 0).all() and sizes.sum() == (c.labels_["fine"] >= 0).sum()
    members = xy[c.labels_["fine"] == 0]
    med = np.median(members, axis=0)
    nearest = members[np.argmin(((members - med) ** 2).sum(axis=1))]
    np.testing.assert_allclose(c.centres_["fine"][0], nearest, rtol=1e-5)  # a member, nearest to the median
    assert "HDBSCAN on all 1,797 points" in c.method_ and "spectral map" in c.method_
    noise = c.labels_["fine"] < 0
    assert c.name_per_item("fine")[noise].tolist() == ["unclustered"] * int(noise.sum())
    d = c.to_dict()
    assert d["levels"]["fine"]["n_clusters"] == len(sizes)


def test_a_sample_extended_to_every_point_keeps_the_clusters(digits_map):
    X, y, xy = digits_map
    full = Clusters().fit(xy, labels=y)
    part = Clusters(max_fit=900).fit(xy, labels=y)
    assert "random sample of 900 of the 1,797" in part.method_
    assert (part.labels_["fine"] >= -1).all() and len(part.labels_["fine"]) == len(xy)
    assert nmi(y, part.labels_["coarse"]) > nmi(y, full.labels_["coarse"]) - 0.08


def test_fit_reports_progress_and_stops_when_cancelled(digits_map):
    _, y, xy = digits_map
    seen = []
    # every report, not the throttled ones a plain callback gets (a fast fit sends them < 0.1 s apart)
    Clusters().fit(xy, labels=y, progress=TaskState(lambda f, m: seen.append((f, m)), min_interval=0.0))
    assert seen[-1][0] == 1.0 and any("HDBSCAN" in m for _, m in seen)
    task = TaskState()
    task.cancel()
    with pytest.raises(Cancelled):
        Clusters().fit(xy, progress=task)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        Clusters().fit(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="NaN"):
        Clusters().fit(np.full((10, 2), np.nan))


def test_a_cluster_of_two_groups_is_named_on_its_points_not_between_them():
    rng = np.random.default_rng(1)
    xy = np.vstack([rng.normal(0, 0.1, (50, 2)), rng.normal([6, 0], 0.1, (50, 2))])
    c = Clusters().fit(xy)
    c.labels_["coarse"][:] = 0  # as if the coarse level had merged both groups
    centre = c.centres_for(xy, "coarse")[0]
    assert np.min(np.linalg.norm(xy - centre, axis=1)) < 1e-5  # on a point (float32); the median lies between


def test_without_texts_or_labels_clusters_are_numbered_and_a_metadata_column_names_them():
    rng = np.random.default_rng(0)
    xy = np.vstack([rng.normal(0, 0.2, (60, 2)), rng.normal(5, 0.2, (60, 2))])
    c = Clusters().fit(xy)
    assert sorted(c.names_["fine"]) == ["cluster 1", "cluster 2"]
    colour = ["red"] * 55 + ["blue"] * 5 + ["blue"] * 60
    c = Clusters().fit(xy, metadata={"colour": colour, "id": [str(i) for i in range(120)]})
    assert sorted(c.names_["fine"]) == ["blue (100%)", "red (92%)"] and c.name_source_["fine"] == "meta:colour"


def _debian():
    if not DEBIAN.exists():
        pytest.skip(f"{DEBIAN} (the Debian package descriptions) is not on this machine")
    with DEBIAN.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], np.array([r["label"] for r in rows])


def test_debian_section_words_are_distinctive():
    """The TF-IDF naming on real texts, with each Debian section as the cluster: the words chosen
    for a section are words of that section, far more frequent there than elsewhere."""
    texts, sections = _debian()
    names, codes = np.unique(sections, return_inverse=True)
    words = distinctive_words(texts, codes, n_words=3)
    by_section = {names[c]: w for c, w in words.items()}
    assert {"game", "games"} & set(by_section["games"]), by_section["games"]
    assert {"python", "module"} & set(by_section["python"]), by_section["python"]
    assert {"documentation", "manual", "docs"} & set(by_section["doc"]), by_section["doc"]
    lowered = [t.lower() for t in texts]
    for c, top in words.items():
        inside = codes == c
        for w in top:
            has = np.array([w in t for t in lowered])
            assert has[inside].mean() > 2 * has[~inside].mean(), (names[c], w)


def test_debian_a_cluster_that_is_mostly_one_section_is_named_by_its_words():
    """Clusters of a real map of the texts (TF-IDF + SVD + spectral embedding, about a second: the
    test stays quick without the encoder); a cluster that is mostly one section is named with words
    that section uses more than the others."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.manifold import SpectralEmbedding

    texts, sections = _debian()
    Z = TruncatedSVD(40, random_state=0).fit_transform(TfidfVectorizer(stop_words="english").fit_transform(texts))
    xy = SpectralEmbedding(2, n_neighbors=10, random_state=0).fit_transform(Z)
    c = Clusters().fit(xy, texts=texts, labels=sections)
    assert c.name_source_["fine"] == "words"
    lowered = [t.lower() for t in texts]
    checked = 0
    for k, name in enumerate(c.names_["fine"]):
        members = c.labels_["fine"] == k
        values, counts = np.unique(sections[members], return_counts=True)
        if counts.max() < 0.6 * members.sum():
            continue
        section = values[np.argmax(counts)]
        in_section = sections == section
        ratios = []
        for w in name.split():
            has = np.array([w in t for t in lowered])
            ratios.append(has[in_section].mean() / max(has[~in_section].mean(), 1e-3))
        # a name's words describe its cluster; at least one is a word of the section it mostly is
        assert max(ratios) > 2, (name, section, ratios)
        checked += 1
    assert checked >= 2


def test_density_grid_levels_enclose_the_asked_share_of_points():
    rng = np.random.default_rng(0)
    xy = np.vstack([rng.normal(0, 1, (3000, 2)), rng.normal(8, 0.5, (1000, 2))])
    grid, (x0, y0, w, h), levels = density_grid(xy, bins=120, mass=(0.9, 0.5))
    assert grid.shape == (120, 120) and levels[0] < levels[1]
    col = np.clip(((xy[:, 0] - x0) / w * 120).astype(int), 0, 119)
    row = np.clip(((xy[:, 1] - y0) / h * 120).astype(int), 0, 119)
    inside = grid[row, col] >= levels[0]
    assert 0.85 < inside.mean() < 0.97  # the outer line holds about 90 % of the points
