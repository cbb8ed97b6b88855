"""``embedview audit`` end to end, in-process through main([...]): a digit-image folder split into
train/ and test/ by folders (encoded with the default image encoder), with labels flipped on purpose
and copies of train images in test; and precomputed digit vectors for the quick paths (JSON, the
gate, bad input)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from embedview.cli import EXIT_UNHEALTHY, EXIT_USAGE, main

PER_CLASS = 8
CLASSES = (0, 1, 3, 7)


@pytest.fixture(autouse=True)
def _cache_env(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "audit-cache"))


def _png(pixels: np.ndarray, path) -> None:
    img = Image.fromarray((pixels.reshape(8, 8) * 255 / 16).astype(np.uint8)).resize((48, 48), Image.NEAREST)
    img.convert("RGB").save(path)


@pytest.fixture(scope="module")
def split_folder(tmp_path_factory):
    """ROOT/train/<digit>/ and ROOT/test/<digit>/: 8 train and 2 test images per digit; 2 train images
    put in the wrong digit's folder (flipped labels); 3 test images that are the same picture as a
    train image (leaks)."""
    d = load_digits()
    root = tmp_path_factory.mktemp("digits-split")
    rng = np.random.default_rng(0)
    planted = {"leaks": [], "flipped": []}
    for c in CLASSES:
        idx = np.flatnonzero(d.target == c)[: PER_CLASS + 2]
        for split, part in (("train", idx[:PER_CLASS]), ("test", idx[PER_CLASS:])):
            (root / split / f"d{c}").mkdir(parents=True, exist_ok=True)
            for i in part:
                _png(d.data[i], root / split / f"d{c}" / f"{i}.png")
    for c in CLASSES[:3]:  # a train picture also in test: a leak
        i = int(np.flatnonzero(d.target == c)[0])
        _png(d.data[i], root / "test" / f"d{c}" / f"copy-{i}.png")
        planted["leaks"].append(f"copy-{i}")
    for c, wrong in ((1, 0), (7, 3)):  # a picture of a 1 filed under 0, of a 7 under 3
        i = int(np.flatnonzero(d.target == c)[PER_CLASS + 5 + rng.integers(3)])
        _png(d.data[i], root / "train" / f"d{wrong}" / f"flip-{i}.png")
        planted["flipped"].append(f"flip-{i}")
    return root, planted


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    d = load_digits()
    X = d.data[:400].astype(np.float32)
    labels = np.array([str(v) for v in d.target[:400]])
    labels[:12] = [str((int(v) + 5) % 10) for v in labels[:12]]
    X = np.vstack([X, X[20:23]])  # exact copies
    labels = np.concatenate([labels, labels[20:23]])
    ids = np.array([f"=cmd|{i}" if i == 0 else f"digit-{i}" for i in range(len(X))])
    path = tmp_path_factory.mktemp("npz") / "digits.npz"
    np.savez(path, embeddings=X, labels=labels, ids=ids)
    return path


@pytest.mark.slow  # a real image encoder
def test_split_folder_csv_columns_and_exit_3_on_leaks(split_folder, tmp_path, capsys):
    root, planted = split_folder
    out = tmp_path / "findings.csv"
    code = main(["audit", str(root), "-m", "default-image", "-o", str(out), "--fail-on", "leak=0",
                 "--fail-on", "label_issue=1000"])
    err = capsys.readouterr().err
    assert code == EXIT_UNHEALTHY, err
    assert "FAIL leak:" in err and "label_issue" not in err.split("FAIL")[-1]
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows, err
    header = list(rows[0])
    assert header[:4] == ["kind", "id", "source", "score"]
    assert {"label", "suggested_label", "split", "other_id", "other_split", "keep_id"} <= set(header)
    leaks = [r for r in rows if r["kind"] == "leak"]
    leaked = {r["id"].rsplit("/", 1)[-1].removesuffix(".png") for r in leaks}
    assert set(planted["leaks"]) <= {x.split("/")[-1] for x in leaked}, leaks
    for r in leaks:
        assert r["split"] != r["other_split"] and {r["split"], r["other_split"]} == {"train", "test"}
        assert float(r["score"]) >= 0.99
    # every label-issue row names the label it has and the one the data suggests
    for r in rows:
        if r["kind"] == "label_issue":
            assert r["label"] and r["suggested_label"] and r["label"] != r["suggested_label"]
    # the summary table names every kind, its count and why its threshold
    for kind in ("label_issue", "leak", "duplicate", "outlier"):
        assert kind in err
    assert "why this threshold" in err and f"wrote {len(rows)} flagged items" in err


def test_npz_json_gate_holds_and_formula_ids(digits_npz, tmp_path, capsys):
    out = tmp_path / "findings.json"
    code = main(["audit", str(digits_npz), "-o", str(out), "--fail-on", "duplicate=10", "--fail-on", "leak=0"])
    err = capsys.readouterr().err
    assert code == 0, err
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["n_items"] == 403
    assert doc["counts"]["duplicate"] == 3  # the three exact copies (one of each pair kept)
    assert "leak" in doc["skipped"]
    assert "WARNING: --fail-on leak=0 NOT APPLIED: leak was not checked: the data has no split column" in err
    assert "the applied --fail-on limits held; 1 not applied" in err
    li = [r for r in doc["rows"] if r["kind"] == "label_issue"]
    assert li and all(r["suggested_label"] for r in li)
    # CSV on stdout: the hostile id is neutralised
    code = main(["audit", str(digits_npz), "--only", "outlier", "--only", "label_issue",
                 "--threshold", "outlier=0.0"])
    cap = capsys.readouterr()
    assert code == 0
    rows = list(csv.DictReader(cap.out.splitlines()))
    assert {r["kind"] for r in rows} == {"outlier", "label_issue"}
    assert sum(r["kind"] == "outlier" for r in rows) == 403  # every mean distance to 10 neighbours is > 0
    assert any(r["id"] == "'=cmd|0" for r in rows)
    assert not any(r["id"].startswith("=") for r in rows)


def test_bad_input_exits_2(digits_npz, tmp_path, capsys):
    assert main(["audit", str(digits_npz), "--fail-on", "mislabel=3"]) == EXIT_USAGE
    assert "unknown kind 'mislabel'" in capsys.readouterr().err
    assert main(["audit", str(digits_npz), "--fail-on", "leak=-1"]) == EXIT_USAGE
    assert main(["audit", str(tmp_path / "missing.npz")]) == EXIT_USAGE
    assert "no such file" in capsys.readouterr().err
    assert main(["audit", str(digits_npz), "-o", str(tmp_path / "f.xlsx")]) == EXIT_USAGE
    assert "unsupported output type" in capsys.readouterr().err
    # never over an input file
    assert main(["audit", str(digits_npz), "-o", str(digits_npz).replace(".npz", ".csv")]) in (0, EXIT_USAGE)


@pytest.fixture(scope="module")
def digits_split_npz(tmp_path_factory):
    """300 digits with a split column (first 200 train, rest test) and 5 test items that are exact
    copies of train items: 5 planted leaking pairs."""
    d = load_digits()
    X = d.data[:300].astype(np.float32)
    split = np.array(["train"] * 200 + ["test"] * 100)
    src = np.array([3, 40, 77, 120, 199])
    X = np.vstack([X, X[src]])
    split = np.concatenate([split, ["test"] * len(src)])
    labels = np.array([str(v) for v in np.concatenate([d.target[:300], d.target[src]])])
    path = tmp_path_factory.mktemp("npz-split") / "digits_split.npz"
    np.savez(path, embeddings=X, labels=labels, split=split, ids=np.array([f"d{i}" for i in range(len(X))]))
    return path


def test_leak_pairs_per_split_pair_and_the_leak_pairs_limit(digits_split_npz, tmp_path, capsys):
    out = tmp_path / "findings.json"
    thr = ["--threshold", "leak=0.9999", "--only", "leak"]
    assert main(["audit", str(digits_split_npz), "-o", str(out), *thr]) == 0
    err = capsys.readouterr().err
    leak = next(k for k in json.loads(out.read_text(encoding="utf-8"))["kinds"] if k["kind"] == "leak")
    assert leak["pair_counts"] and sum(p["pairs"] for p in leak["pair_counts"]) == leak["n_pairs"]
    assert all(sorted(p["splits"]) == ["test", "train"] for p in leak["pair_counts"])
    n_pairs, n_items = leak["n_pairs"], leak["count"]
    assert n_pairs >= 5 and n_items == 2 * n_pairs  # the planted copies: no item is in two pairs
    per = ", ".join(f"{p['splits'][0]}-{p['splits'][1]}: {p['pairs']}" for p in leak["pair_counts"])
    assert f"leak: {n_pairs} leaking pair(s) across splits ({per})" in err
    # leak counts items (both sides), leak_pairs counts pairs
    assert main(["audit", str(digits_split_npz), *thr, "--fail-on", f"leak={n_pairs}",
                 "--fail-on", f"leak_pairs={n_pairs}"]) == EXIT_UNHEALTHY
    err = capsys.readouterr().err
    assert (f"FAIL leak: {n_items} items (both sides of each of the {n_pairs} leaking pairs) flagged, "
            f"more than the limit {n_pairs}") in err
    assert "FAIL leak_pairs" not in err
    assert main(["audit", str(digits_split_npz), *thr, "--fail-on", f"leak_pairs={n_pairs - 1}"]) == EXIT_UNHEALTHY
    assert (f"FAIL leak_pairs: {n_pairs} leaking pairs across splits flagged, more than the limit {n_pairs - 1}"
            in capsys.readouterr().err)


def test_a_limit_that_cannot_apply_warns_and_strict_exits_2(digits_npz, capsys):
    args = ["audit", str(digits_npz), "--only", "outlier", "--fail-on", "leak_pairs=0", "--fail-on", "outlier=10000"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "WARNING: --fail-on leak_pairs=0 NOT APPLIED: leak was not run (not among the kinds asked for)" in err
    assert main([*args, "--strict"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "WARNING: --fail-on leak_pairs=0 NOT APPLIED" in err
    assert "exit 2: 1 --fail-on limit(s) could not be applied (--strict)" in err
    # the data has no split column: leak is skipped, and --strict says so with exit 2
    assert main(["audit", str(digits_npz), "--only", "leak", "--fail-on", "leak=0", "--strict"]) == EXIT_USAGE
    assert "NOT APPLIED: leak was not checked: the data has no split column" in capsys.readouterr().err
    # --strict with every limit applicable: the usual exit codes
    assert main(["audit", str(digits_npz), "--only", "outlier", "--fail-on", "outlier=10000", "--strict"]) == 0
