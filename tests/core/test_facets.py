"""Facets of real columns: scikit-learn's digits (pixel ink, the digit label) and a CSV of English
sentences loaded through the real loader (numbers arrive as strings, some cells empty)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from english_sentences import SENTENCES

from embedview.core.dataset import Dataset
from embedview.core.facets import (
    MISSING_LABEL,
    OTHER_LABEL,
    FacetSet,
    SkippedColumn,
    categorical_facet,
    cluster_columns,
    column_facet,
    numeric_facet,
)
from embedview.core.loaders import load_paths


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data.astype(np.float32)
    return Dataset("embedding", ids=[f"d{i}" for i in range(len(X))], sources=["digits"] * len(X),
                   labels=np.array([str(v) for v in d.target], dtype=object), embeddings=X,
                   metadata={"ink": X.sum(axis=1).astype(np.float64), "centre": X[:, 36].astype(int),
                             "row": [f"row {i}" for i in range(len(X))]})


@pytest.fixture(scope="module")
def sentences_csv(tmp_path_factory):
    """The sentences as a CSV with a word count, a score (3 cells empty, one "n/a"), a topic and a
    free-text note column; read back by the loader (every metadata value a string)."""
    path = tmp_path_factory.mktemp("facets") / "sentences.csv"
    rng = np.random.default_rng(3)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "label", "words", "score", "topic", "note", "split"])
        for i, s in enumerate(SENTENCES):
            score = "" if i in (2, 9, 17) else ("n/a" if i == 20 else f"{rng.normal(0.5, 0.2):.3f}")
            w.writerow([f"s{i}", s, "long" if len(s) > 55 else "short", len(s.split()), score,
                        ["news", "home", "science"][i % 3], f"note about {s[:25]} #{i}",
                        "test" if i % 5 == 0 else "train"])
    return load_paths([str(path)])


def test_counts_sum_to_n_and_match_numpy(digits):
    fs = FacetSet().fit(digits)
    n = len(digits)
    names = fs.names_
    assert names[0] == "label" and "ink" in names and "centre" in names
    for f in fs.facets_:
        assert f.counts.sum() == n, f.name
        assert np.array_equal(np.bincount(f.codes, minlength=f.n_slots), f.counts)
    label = fs.facet("label")
    assert label.kind == "categorical"
    # ten digits, each its own bar (top 12 holds them all): counts equal the labels' own counts
    assert sorted(label.labels) == [str(d) for d in range(10)]
    for lab, c in zip(label.labels, label.counts, strict=True):
        assert c == int((digits.labels == lab).sum())
    ink = fs.facet("ink")
    assert ink.kind == "numeric" and ink.edges is not None
    e = ink.edges
    values = np.asarray(digits.metadata["ink"])
    direct, _ = np.histogram(values, bins=e)
    assert np.array_equal(direct, ink.counts)
    assert e[0] <= values.min() and e[-1] >= values.max()
    assert 5 <= len(e) - 1 <= 30
    # integer pixel values 0..16: whole numbers with few values -> a bar each
    centre = fs.facet("centre")
    assert centre.kind == "categorical" and centre.integer
    assert centre.labels == [str(v) for v in np.unique(digits.metadata["centre"])]
    # one distinct string per row: text-like, left out with the reason
    assert [s.name for s in fs.skipped_] == ["row"]
    assert "text-like" in fs.skipped_[0].reason


def test_selection_counts_match_direct_computation(digits):
    fs = FacetSet().fit(digits)
    rng = np.random.default_rng(0)
    sel = np.sort(rng.choice(len(digits), 400, replace=False))
    got = fs.selected_counts(sel)
    ink = fs.facet("ink")
    direct, _ = np.histogram(np.asarray(digits.metadata["ink"])[sel], bins=ink.edges)
    assert np.array_equal(got["ink"], direct)
    label = fs.facet("label")
    assert [int((digits.labels[sel] == lab).sum()) for lab in label.labels] == got["label"].tolist()
    assert all(c.sum() == 400 for c in got.values())
    assert fs.selected_counts(np.empty(0, dtype=np.int64))["label"].sum() == 0


def test_brushes_to_indices_and_combined(digits):
    fs = FacetSet().fit(digits)
    ink = np.asarray(digits.metadata["ink"])
    lo, hi = np.quantile(ink, [0.25, 0.5])
    idx = fs.brush_indices({"ink": {"range": [hi, lo]}})  # reversed ends are fine; [lo, hi) as the bins
    assert np.array_equal(idx, np.flatnonzero((ink >= lo) & (ink < hi)))
    both = fs.brush_indices({"ink": {"range": [lo, hi]}, "label": {"values": ["3", "8"]}})
    expect = np.flatnonzero((ink >= lo) & (ink < hi) & np.isin(digits.labels, ["3", "8"]))
    assert np.array_equal(both, expect) and 0 < len(both) < len(idx)
    # a brush on a column that is not charted is ignored; a malformed one is refused
    assert len(fs.brush_indices({"nope": {"values": ["x"]}})) == len(digits)
    with pytest.raises(ValueError, match="brush"):
        fs.brush_indices({"ink": {"between": [1, 2]}})
    # a range from bin edge to bin edge takes exactly those bars' items
    f = fs.facet("ink")
    i, j = 2, 6
    assert f.mask_range(f.edges[i], f.edges[j]).sum() == f.counts[i:j].sum()
    assert f.mask_range(f.edges[0], f.edges[-1]).sum() == len(digits)
    with pytest.raises(ValueError, match="not numeric"):
        fs.facet("label").mask_range(0, 1)


def test_strings_from_a_csv_missing_and_unparsed(sentences_csv):
    ds = sentences_csv
    fs = FacetSet().fit(ds)
    n = len(ds)
    assert n == len(SENTENCES)
    words = fs.facet("words")  # "9", "12", ... strings: whole numbers, few values -> bars
    assert words.kind == "categorical" and words.integer
    direct = {}
    for s in SENTENCES:
        direct[str(len(s.split()))] = direct.get(str(len(s.split())), 0) + 1
    assert dict(zip(words.labels, words.counts.tolist(), strict=True)) == direct
    score = fs.facet("score")
    assert score.kind == "numeric"
    assert score.n_missing == 4 and score.labels[-1] == MISSING_LABEL and score.counts[-1] == 4
    assert "1 non-numeric value counted as missing" in score.note and "4 missing" in score.note
    assert score.counts.sum() == n
    missing_items = score.mask_categories([MISSING_LABEL])
    assert sorted(np.flatnonzero(missing_items).tolist()) == [2, 9, 17, 20]
    assert [s.name for s in fs.skipped_] == ["note"]
    topic = fs.facet("topic")
    assert topic.labels == ["home", "news", "science"] and topic.counts.tolist() == [10, 10, 10]
    # the split column sits next to the label
    assert fs.names_[:2] == ["label", "split"] and fs.facet("split").source == "split"
    assert dict(zip(fs.facet("split").labels, fs.facet("split").counts.tolist(), strict=True)) == {"train": 24,
                                                                                                  "test": 6}
    length = fs.facet("text length (characters)")
    assert length.source == "derived" and length.counts.sum() == n


def test_outliers_nan_inf_do_not_squeeze_the_histogram(digits):
    ink = np.asarray(digits.metadata["ink"], dtype=np.float64).copy()
    ink[:3] = [1e9, -1e9, np.inf]
    ink[3:8] = np.nan
    f = numeric_facet("ink", ink)
    bulk = np.asarray(digits.metadata["ink"])[8:]
    assert f.clipped and f.edges is not None
    assert f.edges[-1] < 1e6 and f.edges[0] > -1e6  # the range is the bulk's
    assert f.edges[0] <= np.quantile(bulk, 0.01) and f.edges[-1] >= np.quantile(bulk, 0.99)
    assert f.counts.sum() == len(ink) and f.n_missing == 5
    assert f.labels[0].startswith("\u2264") and f.labels[f.n_slots - 2].startswith("\u2265")
    assert f.codes[0] == f.n_slots - 2 and f.codes[2] == f.n_slots - 2 and f.codes[1] == 0
    assert "far outlier" in f.note and "infinite" in f.note
    # a brush over the whole drawn range takes the clipped values too, never the missing ones
    whole = f.mask_range(float(f.edges[0]), float(f.edges[-1]))
    assert whole.sum() == len(ink) - 5 and whole[0] and whole[1] and whole[2]


def test_categories_top_other_missing():
    words = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split())
    col = [words[i % len(words)] if i % 7 else None for i in range(400)] + [""] * 10
    f = categorical_facet("greek", col, max_categories=5)
    assert not isinstance(f, SkippedColumn)
    assert f.labels[-2:] == [OTHER_LABEL, MISSING_LABEL]
    assert f.n_missing == sum(1 for v in col if not v)
    assert f.counts.sum() == len(col)
    top = f.categories
    assert len(top) == 5
    counts = {w: col.count(w) for w in words}
    assert sorted(counts.values(), reverse=True)[:5] == f.counts[:5].tolist()
    other = f.mask_categories([OTHER_LABEL])
    assert other.sum() == sum(c for w, c in counts.items() if w not in top)


def test_edge_cases_constant_and_empty():
    const = column_facet("c", [3.5] * 50)
    assert not isinstance(const, SkippedColumn) and const.counts.sum() == 50
    assert isinstance(column_facet("none", [None] * 10), SkippedColumn)
    flags = column_facet("flag", np.array([True, False, True]))
    assert not isinstance(flags, SkippedColumn) and flags.kind == "categorical"
    assert sorted(flags.labels) == ["False", "True"]


def test_scores_and_clusters_become_facets(digits):
    n = len(digits)
    rng = np.random.default_rng(1)
    scores = {"uniqueness": rng.random(n), "wrong length": rng.random(5)}

    class Fitted:  # the shape of a fitted clustering: per-item ids, names by id
        labels_ = np.where(np.arange(n) % 10 == 0, -1, np.arange(n) % 3)
        names_ = {0: "round", 1: "thin", 2: "open"}

    fs = FacetSet().fit(digits, scores=scores, clusters=Fitted())
    assert fs.facet("uniqueness").source == "score"
    assert "wrong length" not in fs.names_
    cl = fs.facet("cluster")
    assert set(cl.labels) == {"noise", "round", "thin", "open"}
    assert cl.counts[cl.labels.index("noise")] == int((Fitted.labels_ == -1).sum())
    assert cluster_columns(np.arange(3), 4) == {}
    doc = fs.to_dict()
    assert doc["n_items"] == n and {f["name"] for f in doc["facets"]} >= {"label", "uniqueness", "cluster"}


def test_selection_counts_are_fast_at_100k():
    """Not a timing assertion: the work is one bincount per facet (checked by value)."""
    rng = np.random.default_rng(2)
    n = 100_000
    v = rng.lognormal(size=n)
    f = numeric_facet("x", v)
    sel = np.flatnonzero(v > 3)
    direct, _ = np.histogram(np.clip(v[sel], f.edges[0], f.edges[-1]), bins=f.edges)
    assert np.array_equal(f.selected_counts(sel), direct)


def test_named_clusters_of_core_clusters(digits):
    """The real clustering of issue 12 (core.clusters on a PCA map of the digits): a chart per
    level, each bar a cluster name, counts equal to the clusters' sizes."""
    from sklearn.decomposition import PCA

    from embedview.core.clusters import Clusters

    xy = PCA(n_components=2, random_state=0).fit_transform(digits.embeddings).astype(np.float32)
    cl = Clusters().fit(xy, labels=digits.labels)
    fs = FacetSet(max_categories=50).fit(digits, clusters=cl)
    for level in cl.levels_:
        f = fs.facet(f"cluster ({level})")
        assert f.source == "cluster" and f.counts.sum() == len(digits)
        names = cl.name_per_item(level)
        for lab, c in zip(f.labels, f.counts, strict=True):
            assert c == int((names == lab).sum())
