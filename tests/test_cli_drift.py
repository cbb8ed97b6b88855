"""`embedview drift A --against B`, run in-process through main([...]) on small real .npy files
(scikit-learn's digits as 64-d vectors)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.cli import EXIT_OK, EXIT_UNHEALTHY, EXIT_USAGE, main

FAST = ["--permutations", "300", "--mmd-items", "300"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = load_digits()
    X, y = d.data.astype(np.float32), d.target
    p = np.random.default_rng(1).permutation(len(X))
    folder = tmp_path_factory.mktemp("drift")
    out = {}
    for name, rows in (("a", p[:500]), ("b_same", p[500:1000]), ("low", np.flatnonzero(y < 5)),
                       ("high", np.flatnonzero(y >= 5))):
        out[name] = folder / f"{name}.npy"
        np.save(out[name], X[rows])
    out["narrow"] = folder / "narrow.npy"
    np.save(out["narrow"], X[:40, :32])
    return out


def test_two_samples_of_the_same_data_exit_0_with_a_summary_and_json(files, tmp_path, capsys):
    out = tmp_path / "drift.json"
    rc = main(["drift", str(files["a"]), "--against", str(files["b_same"]), "-o", str(out), "--top", "3", *FAST])
    assert rc == EXIT_OK
    text = capsys.readouterr().out
    assert "no detectable drift" in text
    assert "AUROC" in text and "MMD\u00b2" in text and "500 items of A and 500 items of B" in text
    doc = json.loads(out.read_text())
    assert doc["drift"] is False and doc["n_a"] == 500 and doc["n_b"] == 500 and doc["dim"] == 64
    assert 0.4 < doc["classifier"]["auroc"] < 0.6 and doc["classifier"]["p_value"] > 0.005
    assert doc["classifier"]["n_permutations"] == 300 and doc["mmd"]["n_a"] == 300
    assert doc["a"]["paths"] == [str(files["a"])] and doc["b"]["n_items"] == 500
    assert doc["top_b"][0]["source"] == str(files["b_same"]) and 0 <= doc["top_b"][0]["p_b"] <= 1
    assert text.count("P(B)") == 3 + 3 + 2  # three per side, plus the two headings


def test_a_real_shift_exits_3_and_names_it(files, tmp_path, capsys):
    out = tmp_path / "shift.json"
    rc = main(["drift", str(files["low"]), "--against", str(files["high"]), "-o", str(out), *FAST])
    assert rc == EXIT_UNHEALTHY
    captured = capsys.readouterr()
    assert "drift (strong)" in captured.out and "drift detected at alpha 0.01 (exit 3)" in captured.err
    doc = json.loads(out.read_text())
    assert doc["drift"] is True and doc["classifier"]["auroc"] > 0.9
    assert doc["classifier"]["p_value"] < 0.005 and doc["mmd"]["p_value"] < 0.005
    assert min(r["p_b"] for r in doc["top_b"]) > 0.9 and max(r["p_b"] for r in doc["top_a"]) < 0.1


def test_a_stricter_alpha_needs_more_permutations(files, capsys):
    rc = main(["drift", str(files["low"]), "--against", str(files["high"]), "--alpha", "0.001",
               "--permutations", "300"])
    assert rc == EXIT_USAGE
    assert "cannot give a p-value below alpha/2 = 0.0005: use at least 2000" in capsys.readouterr().err


@pytest.mark.parametrize("case, message", [
    ("dims", "has 64-d vectors and"),
    ("missing", "no such file or directory"),
    ("alpha", "must be between 0 and 1"),
    ("output", "unsupported output type"),
])
def test_bad_input_exits_2_with_the_reason(files, tmp_path, capsys, case, message):
    a, b = str(files["low"]), str(files["high"])
    argv = {"dims": ["drift", a, "--against", str(files["narrow"])],
            "missing": ["drift", a, "--against", str(tmp_path / "nope.npy")],
            "alpha": ["drift", a, "--against", b, "--alpha", "2"],
            "output": ["drift", a, "--against", b, "-o", str(tmp_path / "out.csv")]}[case]
    assert main(argv) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_vectors_against_texts_is_refused(files, tmp_path, capsys):
    texts = tmp_path / "t.txt"
    texts.write_text("one line of text\nanother line of text\n", encoding="utf-8")
    assert main(["drift", str(files["low"]), "--against", str(texts)]) == EXIT_USAGE
    assert "holds precomputed vectors but" in capsys.readouterr().err


def test_the_input_files_are_left_as_they_were(files, tmp_path):
    before = {k: v.read_bytes() for k, v in files.items()}
    main(["drift", str(files["a"]), "--against", str(files["b_same"]), "-o", str(tmp_path / "d.json"), *FAST])
    assert {k: v.read_bytes() for k, v in files.items()} == before
