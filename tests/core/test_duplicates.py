"""Near-duplicates on real photos (skimage.data) with planted resized / recompressed copies."""

import csv
import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image
from scipy.sparse.csgraph import connected_components
from skimage import data as skdata
from skimage.transform import resize
from sklearn.datasets import load_digits

from embedview.core.dataset import Dataset
from embedview.core.duplicates import ROW_FIELDS, DuplicateFinder, suggest_threshold
from embedview.core.embeddings import EmbeddingSet

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "page", "horse",
          "hubble_deep_field", "immunohistochemistry", "retina", "brick", "grass", "gravel", "text",
          "clock", "colorwheel", "shepp_logan_phantom", "cell"]
# (original, scale, jpeg quality): the planted near-copies
COPIES = [("astronaut", 0.6, 40), ("coffee", 1.0, 25), ("rocket", 0.5, 90), ("rocket", 0.8, 30)]


def feature(path):
    """Cheap deterministic image feature: 24x24 grey thumbnail, mean-centred, unit length."""
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.float64) / 255.0
    f = resize(grey, (24, 24), anti_aliasing=True).ravel()
    f -= f.mean()
    return (f / np.linalg.norm(f)).astype(np.float32)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """EmbeddingSet of 20 distinct photos (PNG) + 4 planted copies (JPEG); the planted groups."""
    folder = tmp_path_factory.mktemp("photos")
    paths, arrays = [], {}
    for name in PHOTOS:
        im = getattr(skdata, name)()
        if im.dtype != np.uint8:
            im = im.astype(np.float64)
            im = (255 * (im - im.min()) / (np.ptp(im) + 1e-9)).astype(np.uint8)
        img = Image.fromarray(im)
        img.thumbnail((256, 256))  # small files keep the test fast
        arrays[name] = np.asarray(img)
        p = folder / f"{name}.png"
        img.save(p)
        paths.append(str(p))
    planted = {}
    for c, (name, scale, quality) in enumerate(COPIES):
        img = Image.fromarray(arrays[name]).convert("RGB")
        img = img.resize((int(img.width * scale), int(img.height * scale)), Image.BILINEAR)
        p = folder / f"copy{c}_{name}.jpg"
        img.save(p, "JPEG", quality=quality)
        planted.setdefault(PHOTOS.index(name), [PHOTOS.index(name)]).append(len(paths))
        paths.append(str(p))
    ds = Dataset(modality="image", ids=[os.path.basename(p) for p in paths], sources=paths, name="photos")
    emb = EmbeddingSet(ds, np.stack([feature(p) for p in paths]), encoder="test-thumbnail")
    groups = sorted(sorted(g) for g in planted.values())
    return emb, groups


def file_digests(paths):
    return {p: (os.path.getmtime(p), hashlib.sha1(open(p, "rb").read()).hexdigest()) for p in paths}


def test_planted_copies_are_exactly_the_groups(photos):
    emb, planted = photos
    finder = DuplicateFinder().fit(emb)
    assert finder.threshold_ == finder.suggested_threshold_
    assert sorted(g.tolist() for g in finder.groups_) == planted
    in_group = np.zeros(len(emb), bool)
    in_group[np.concatenate(planted)] = True
    # the suggested threshold separates copies from distinct photos
    assert finder.nn_similarity_[in_group].min() >= finder.threshold_
    assert finder.nn_similarity_[~in_group].max() < finder.threshold_
    # pairs: i < j, above threshold, inside planted groups, most similar first
    p = finder.pairs_
    assert np.all(p["i"] < p["j"]) and np.all(p["sim"] >= finder.threshold_)
    assert np.all(np.diff(p["sim"]) <= 0)
    assert all(any(i in g and j in g for g in planted) for i, j in zip(p["i"], p["j"], strict=True))
    # keep rule: within a pair both are equally central, so the larger file (the PNG) wins;
    # for rocket + 2 copies the original is the most central
    for g, kept in zip(finder.groups_, finder.keep_, strict=True):
        assert kept == g.min() and emb.dataset.ids[kept].endswith(".png")
    assert finder.exact_groups_ == []
    assert np.all(finder.labels_[~in_group] == -1)
    d = finder.to_dict()
    assert d["n_groups"] == len(planted) and d["approximate"] is False
    json.dumps(d)


def test_moving_the_threshold_reads_each_file_size_once(photos, monkeypatch):
    from embedview.core import duplicates

    emb, planted = photos
    reads = []
    real = duplicates.os.path.getsize
    monkeypatch.setattr(duplicates.os.path, "getsize", lambda p: reads.append(p) or real(p))
    finder = DuplicateFinder().fit(emb)
    keep = list(finder.keep_)
    moved = finder
    for t in (finder.floor_, finder.suggested_threshold_, finder.floor_ + 1e-3, finder.suggested_threshold_):
        moved = moved.with_threshold(t)
    # the keep rule's sizes come from the first read, shared by every finder moved from this one
    assert reads and len(reads) == len(set(reads))
    assert list(moved.keep_) == keep


def test_with_threshold_returns_a_new_finder_and_leaves_the_old_one_alone(photos):
    emb, planted = photos
    finder = DuplicateFinder().fit(emb)
    before = {name: np.copy(getattr(finder, name)) for name in ("pairs_", "labels_", "keep_")}
    groups_before = [g.copy() for g in finder.groups_]
    t0 = finder.threshold_
    for t in (0.85, 0.9, 0.97, 0.995):
        moved = finder.with_threshold(t)
        assert moved is not finder and moved.threshold_ == t
        # the old object is unchanged
        assert finder.threshold_ == t0 and len(finder.groups_) == len(groups_before)
        assert all(np.array_equal(a, b) for a, b in zip(finder.groups_, groups_before, strict=True))
        for name, value in before.items():
            assert np.array_equal(getattr(finder, name), value), name
        # groups, keep, labels and pairs equal a fresh fit at that threshold
        fresh = DuplicateFinder(threshold=t).fit(emb)
        assert [g.tolist() for g in moved.groups_] == [g.tolist() for g in fresh.groups_]
        assert moved.keep_.tolist() == fresh.keep_.tolist()
        assert np.array_equal(moved.labels_, fresh.labels_)
        assert np.array_equal(moved.pairs_, fresh.pairs_)
        assert moved.to_rows() == fresh.to_rows()
    assert finder.with_threshold(t0) is finder  # nothing to move
    with pytest.raises(ValueError, match="floor"):
        finder.with_threshold(finder.floor_ - 0.1)
    assert not hasattr(finder, "set_threshold")  # no way left to change a fitted finder


def test_group_table_decisions_and_histogram(photos, tmp_path):
    from embedview.core.duplicates import apply_threshold, export_decisions, similarity_histogram

    emb, planted = photos
    finder = DuplicateFinder().fit(emb)
    table = apply_threshold(finder, 0.9)
    assert table.finder is not finder and table.finder.threshold_ == 0.9
    rows = table.finder.to_rows()
    by_index = {r["index"]: r["similarity_to_kept"] for r in rows}
    assert np.flatnonzero(np.isfinite(table.similarity_to_kept)).tolist() == sorted(by_index)
    for i, s in by_index.items():  # exactly the exported value
        assert table.similarity_to_kept[i] == np.float32(s)
    for g, members in enumerate(table.finder.groups_):
        assert table.lowest_to_kept[g] == np.float32(min(by_index[int(m)] for m in members))
    assert table.finder.counts_at(0.9) == (len(table.finder.groups_), len(rows))

    # decisions: explicit choices win, else the keep rule; the ones out of every group are dropped
    members = finder.groups_[0]
    kept = int(finder.keep_[0])
    other = int(next(m for m in members if m != kept))
    assert finder.decision(kept) == "keep" and finder.decision(other) == "drop"
    lone = PHOTOS.index("moon")
    decisions = {kept: "drop", other: "keep", lone: "drop"}
    assert finder.decision(kept, decisions) == "drop" and finder.decision(other, decisions) == "keep"
    assert finder.decisions_in_groups(decisions) == {kept: "drop", other: "keep"}
    path, n = export_decisions(finder, finder.threshold_, str(tmp_path / "d.csv"), emb.dataset, decisions)
    assert n == sum(len(g) for g in planted) and path.endswith("d.csv")

    lo, hi = finder.threshold_range()
    assert lo == finder.floor_ and hi == 1.0 and finder.clip_threshold(2.0) == 1.0
    hist = similarity_histogram(finder, bins=30)
    assert hist.heights.sum() == np.isfinite(finder.nn_similarity_).sum() and hist.edges[-1] == hi
    log = similarity_histogram(finder, bins=30, log_counts=True)
    np.testing.assert_allclose(log.heights, np.log10(hist.heights + 1))


def test_near_duplicates_of_returns_the_planted_copies(photos):
    emb, planted = photos
    finder = DuplicateFinder().fit(emb)
    for group in planted:
        for i in group:
            idx, sims = finder.near_duplicates_of(i)
            assert sorted(idx.tolist()) == [j for j in group if j != i]
            assert np.all(np.diff(sims) <= 0) and np.all(sims >= finder.threshold_)
    idx, _ = finder.near_duplicates_of(PHOTOS.index("moon"))
    assert idx.size == 0
    # below the graph floor: falls back to comparing with every item
    low = 0.3
    idx, sims = finder.near_duplicates_of(PHOTOS.index("camera"), threshold=low)
    S = emb.unit @ emb.unit[PHOTOS.index("camera")]
    expected = {j for j in np.flatnonzero(S >= low) if j != PHOTOS.index("camera")}
    assert set(idx.tolist()) == expected
    np.testing.assert_allclose(sims, S[idx], atol=1e-6)


def test_groups_at_matches_full_threshold_graph_and_refines(tmp_path):
    X = load_digits().data.astype(np.float32)
    finder = DuplicateFinder(k=60).fit(X)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = U @ U.T
    np.fill_diagonal(S, -1)
    previous, previous_count = None, len(X) + 1
    for t in np.linspace(finder.floor_, 0.999, 9):
        n_groups, labels = finder.groups_at(t)
        assert labels.shape == (len(X),) and labels.max() == n_groups - 1
        if t >= 0.95:  # every item has fewer than k neighbours above t: the graph is complete
            assert (S >= t).sum(axis=1).max() < finder.k
            _, ref = connected_components(S >= t, directed=False)
            sizes = np.bincount(ref)
            grouped = sizes[ref] >= 2
            assert np.array_equal(labels >= 0, grouped)
            for lab in np.unique(labels[labels >= 0]):
                assert len(np.unique(ref[labels == lab])) == 1
            assert n_groups == len(np.unique(ref[grouped]))
        # monotone: a higher threshold only splits groups, never joins or grows them
        count = int((labels >= 0).sum())
        assert count <= previous_count
        if previous is not None:
            for lab in np.unique(labels[labels >= 0]):
                assert len(np.unique(previous[labels == lab])) == 1 and np.all(previous[labels == lab] >= 0)
        previous, previous_count = labels, count
    with pytest.raises(ValueError, match="floor"):
        finder.groups_at(finder.floor_ - 0.1)
    moved = finder.with_threshold(0.99)
    n_groups, _ = finder.groups_at(0.99)
    assert len(moved.groups_) == n_groups and np.all(moved.pairs_["sim"] >= 0.99)


def test_few_planted_copies_among_many_distinct_items():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3000, 48)).astype(np.float32)
    sources = [11, 500, 2999]
    copies = X[sources] + 0.05 * rng.standard_normal((3, 48)).astype(np.float32)
    X = np.vstack([X, copies])
    finder = DuplicateFinder().fit(X)
    assert sorted(g.tolist() for g in finder.groups_) == [[11, 3000], [500, 3001], [2999, 3002]]
    # nothing at all planted: no groups suggested
    assert DuplicateFinder().fit(X[:3000]).groups_ == []


def test_suggest_threshold_rule():
    # majority of copies (both members of each pair have a near-twin)
    s = np.array([0.999] * 10 + [0.3, 0.4, 0.5, 0.45, 0.35])
    t = suggest_threshold(s)
    assert 0.5 < t < 0.999
    assert suggest_threshold(np.full(100, 1.0)) == pytest.approx(0.999)
    assert suggest_threshold(np.array([0.5])) == 0.95


def test_exact_duplicates_from_vectors_and_hashes():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((12, 8)).astype(np.float32)
    X[5] = X[2]  # identical vectors
    hashes = [None] * 12
    hashes[7] = hashes[9] = "abc"  # identical files, different vectors
    finder = DuplicateFinder().fit(X, content_hashes=hashes)
    assert sorted(g.tolist() for g in finder.exact_groups_) == [[2, 5], [7, 9]]
    with pytest.raises(ValueError, match="hashes"):
        DuplicateFinder().fit(X, content_hashes=["a"])


def test_all_identical_and_tiny_inputs():
    finder = DuplicateFinder().fit(np.ones((50, 6), np.float32))
    assert len(finder.groups_) == 1 and finder.groups_[0].tolist() == list(range(50))
    assert finder.keep_.tolist() == [0] and len(finder.exact_groups_) == 1
    single = DuplicateFinder().fit(np.ones((1, 6), np.float32))
    assert single.groups_ == [] and np.isnan(single.nn_similarity_[0])
    assert single.near_duplicates_of(0)[0].size == 0
    pair = DuplicateFinder(threshold=0.9).fit(np.array([[1, 0], [1, 0.01]], np.float32))
    assert [g.tolist() for g in pair.groups_] == [[0, 1]]
    with pytest.raises(ValueError, match="metric"):
        DuplicateFinder(metric="euclidean")


def test_export_round_trip_and_user_files_untouched(photos, tmp_path):
    emb, planted = photos
    before = file_digests(emb.dataset.sources)
    finder = DuplicateFinder().fit(emb)
    kept = int(finder.keep_[0])
    other = int(next(i for i in finder.groups_[0] if i != kept))
    decisions = {kept: "drop", other: "keep"}
    rows = finder.to_rows(decisions=decisions)
    assert len(rows) == sum(len(g) for g in planted)
    by_index = {r["index"]: r for r in rows}
    assert by_index[kept]["keep"] is False and by_index[other]["keep"] is True
    assert by_index[kept]["similarity_to_kept"] == pytest.approx(1.0, abs=1e-5)
    assert all(r["id"] == emb.dataset.ids[r["index"]] for r in rows)
    # the default (no decisions): exactly one kept item per group
    default_rows = finder.to_rows()
    assert sum(r["keep"] for r in default_rows) == len(finder.groups_)

    csv_path = finder.to_csv(tmp_path / "dups.csv", decisions=decisions)
    with open(csv_path, newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    assert list(back[0].keys()) == list(ROW_FIELDS)
    for r, b in zip(rows, back, strict=True):
        assert int(b["group"]) == r["group"] and int(b["index"]) == r["index"]
        assert b["id"] == r["id"] and b["source"] == r["source"]
        assert float(b["similarity_to_kept"]) == pytest.approx(r["similarity_to_kept"])
        assert b["keep"] == str(r["keep"]) and b["exact"] == str(r["exact"])

    json_path = finder.to_json(tmp_path / "dups.json", decisions=decisions)
    with open(json_path, encoding="utf-8") as f:
        doc = json.load(f)
    assert doc["rows"] == rows and doc["threshold"] == pytest.approx(finder.threshold_)
    assert sorted(os.listdir(tmp_path)) == ["dups.csv", "dups.json"]

    with pytest.raises(ValueError, match="overwrite"):
        finder.to_csv(emb.dataset.sources[0])
    with pytest.raises(ValueError, match="keep"):
        finder.to_rows(decisions={kept: "delete"})
    assert file_digests(emb.dataset.sources) == before


def test_progress_reaches_one(photos):
    emb, _ = photos
    seen = []
    DuplicateFinder().fit(emb, progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_suggested_threshold_ignores_a_dense_class_of_distinct_items():
    """A tight class (nearest neighbours at ~0.9, like digits among photos) is not a duplicate
    group: the threshold goes between that class and the real copies inside the data."""
    rng = np.random.default_rng(3)
    photos = rng.uniform(0.35, 0.6, size=40)  # distinct items, far from each other
    digits = rng.uniform(0.85, 0.935, size=150)  # a dense class of distinct items
    copies = rng.uniform(0.97, 0.99, size=6)  # three planted pairs
    t = suggest_threshold(np.concatenate([photos, digits, copies]))
    assert 0.935 < t < 0.97
    # without the dense class the copies are still separated from the distinct items
    t2 = suggest_threshold(np.concatenate([photos, copies]))
    assert 0.6 < t2 < 0.97


def test_exported_exact_column_matches_the_exact_groups(tmp_path):
    """`exact` is true only for exact copies of the kept item, and for the kept item only when its
    group holds such a copy: never for every kept item of groups without one."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 16)).astype(np.float32)
    X[30] = X[3] + 0.01 * rng.standard_normal(16).astype(np.float32)  # near copy, not exact
    X[31] = X[7]  # bit-identical copy
    finder = DuplicateFinder(threshold=0.99).fit(X)
    assert sorted(g.tolist() for g in finder.groups_) == [[3, 30], [7, 31]]
    assert [g.tolist() for g in finder.exact_groups_] == [[7, 31]]
    with open(finder.to_csv(tmp_path / "d.csv"), newline="", encoding="utf-8") as f:
        exact = {int(r["index"]): r["exact"] == "True" for r in csv.DictReader(f)}
    assert exact == {3: False, 30: False, 7: True, 31: True}
    rows = finder.to_rows()
    assert sum(r["exact"] for r in rows) == sum(len(g) for g in finder.exact_groups_)


def test_suggestion_from_the_neighbours_background():
    """With each item's k-th neighbour: copies that are most of the data are separated from the
    distinct level at the widest valley; a dense class of distinct items is not grouped."""
    from embedview.core.duplicates import explain_threshold

    rng = np.random.default_rng(1)
    # (a) 35 items, all with copies at 0.85-0.99, k-th neighbours (distinct items) at ~0.3
    nn = rng.uniform(0.85, 0.999, 35)
    t, why = explain_threshold(nn, background=rng.uniform(0.2, 0.4, 35))
    assert 0.4 < t < 0.85 and "valley" in why
    # (b) 300 distinct items of one class: nn 0.93-0.975, k-th neighbour 0.9-0.93; 4 copy pairs at 0.995
    nn = np.concatenate([rng.uniform(0.93, 0.975, 300), np.full(8, 0.995)])
    bg = np.concatenate([rng.uniform(0.9, 0.93, 300), np.full(8, 0.92)])
    t, why = explain_threshold(nn, background=bg)
    assert 0.975 < t < 0.995 and "distinct-looking" in why
    # no copies at all: a conservative threshold above every distinct item
    t, why = explain_threshold(nn[:300], background=bg[:300])
    assert t > 0.975 and "no valley" in why
    assert suggest_threshold(nn, background=bg) == explain_threshold(nn, background=bg)[0]
