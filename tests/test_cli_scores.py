"""``embedview scores`` end to end, in-process through main([...]), on precomputed sklearn digit
vectors (with labels, three exact copies and an id a spreadsheet would run as a formula), on the
fast PCA map."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.cli import EXIT_OK, EXIT_USAGE, main

COLUMNS = ["id", "source", "label", "uniqueness", "representativeness", "cluster", "cluster_coarse", "x", "y"]
N = 300


@pytest.fixture(autouse=True)
def _cache_env(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "scores-cache"))


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    d = load_digits()
    X = np.vstack([d.data[:N], d.data[40:43]]).astype(np.float32)  # items 40-42 copied at the end
    labels = np.array([str(v) for v in np.concatenate([d.target[:N], d.target[40:43]])])
    ids = np.array(["=cmd|0" if i == 0 else f"digit-{i}" for i in range(len(X))])
    path = tmp_path_factory.mktemp("npz") / "digits.npz"
    np.savez(path, embeddings=X, labels=labels, ids=ids)
    return path


@pytest.fixture(scope="module")
def csv_rows(digits_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "scores.csv"
    assert main(["scores", str(digits_npz), "--map", "pca", "-o", str(out)]) == EXIT_OK
    with open(out, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def test_csv_has_one_row_per_item_with_scores_in_0_1(csv_rows):
    header, rows = csv_rows
    assert header == COLUMNS
    assert len(rows) == N + 3
    for col in ("uniqueness", "representativeness"):
        values = np.array([float(r[col]) for r in rows])
        assert np.all((values >= 0) & (values <= 1)), col
        assert values.max() == pytest.approx(1.0) and values.std() > 0.05, col
    assert np.isfinite([[float(r["x"]), float(r["y"])] for r in rows]).all()
    assert rows[0]["id"].startswith("'=")  # neutralised for spreadsheets (core.csvsafe)
    assert {r["label"] for r in rows} == {str(v) for v in range(10)}


def test_exact_copies_score_alike_and_among_the_least_unique(csv_rows):
    _, rows = csv_rows
    u = np.array([float(r["uniqueness"]) for r in rows])
    rank = np.argsort(np.argsort(u))  # 0 = the least unique
    for original, copy in ((40, N), (41, N + 1), (42, N + 2)):
        assert u[original] == pytest.approx(u[copy])  # the same vector, the same neighbours
        # the nearest distance is 0: among the least unique 5 %
        assert rank[original] < 0.05 * len(u) and rank[copy] < 0.05 * len(u), (original, rank[original])
    assert set(np.argsort(u)[:4].tolist()) == {41, 42, N + 1, N + 2}


def test_clusters_are_named_by_their_dominant_label(csv_rows):
    _, rows = csv_rows
    fine = [r["cluster"] for r in rows if r["cluster"] != "unclustered"]
    assert len(fine) > N // 2 and len(set(fine)) >= 5
    # named by the dominant digit and its share, e.g. "0 (86%)"; a name matches most of its members' labels
    for name in set(fine):
        members = [r["label"] for r in rows if r["cluster"] == name]
        top = name.split(" ")[0]
        assert top in {str(v) for v in range(10)}, name
        assert members.count(top) / len(members) >= 0.3, (name, members)
    coarse = {r["cluster_coarse"] for r in rows} - {"unclustered"}
    assert 1 <= len(coarse) <= len(set(fine))


def test_json_says_how_each_column_was_computed(digits_npz, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert main(["scores", str(digits_npz), "--map", "pca", "-o", str(out), "--top", "3"]) == EXIT_OK
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["n"] == N + 3 and len(data["items"]) == N + 3
    assert set(data["items"][0]) == set(COLUMNS)
    assert {"uniqueness", "representativeness", "cluster", "x"} <= set(data["how"])
    assert f"{N + 3:,} items" in data["how"]["uniqueness"] and "HDBSCAN" in data["how"]["cluster"]
    assert data["map"]["method"] == "pca"
    assert data["clusters"]["levels"]["fine"]["named_by"] == "label"
    err = capsys.readouterr().err
    assert "fine clusters:" in err and "least unique" in err and "how each column was computed" in err
    assert "digit-41" in err and "digit-301" in err  # the closest copy among the 3 least unique


def test_csv_on_stdout_without_output(digits_npz, capsys):
    assert main(["scores", str(digits_npz), "--map", "pca"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ",".join(COLUMNS) and len(lines) == N + 4


def test_bad_input_exits_2(digits_npz, tmp_path, capsys):
    assert main(["scores", str(tmp_path / "missing.npz"), "--map", "pca"]) == EXIT_USAGE
    assert "missing.npz" in capsys.readouterr().err
    assert main(["scores", str(digits_npz), "--map", "pca", "-o", str(tmp_path / "s.txt")]) == EXIT_USAGE
    assert "unsupported output type" in capsys.readouterr().err
    one = tmp_path / "one.npy"
    np.save(one, np.ones((1, 4), dtype=np.float32))
    assert main(["scores", str(one), "--map", "pca"]) == EXIT_USAGE
    assert "at least two items" in capsys.readouterr().err
    assert not (tmp_path / "s.txt").exists()
