"""File → Export without a window: selection CSV, embeddings, duplicate decisions, all atomic."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from actionkit import Driver

from embedview.actions.exports import write_selection_csv
from embedview.core.duplicates import DuplicateFinder
from embedview.model import AnalysisKind


@pytest.fixture
def app(tmp_path):
    driver = Driver()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 16)).astype(np.float32)
    X[30:33] = X[0] + rng.normal(scale=0.01, size=(3, 16))  # near-copies of item 0
    np.save(tmp_path / "v.npy", X)
    driver.data.open_paths([tmp_path / "v.npy"])
    driver.wait_until(lambda: driver.model.emb is not None, timeout=30)
    yield driver
    driver.close()


def test_selection_embeddings_and_duplicates_are_written(app, tmp_path):
    model = app.model
    with pytest.raises(ValueError, match="nothing is selected"):
        app.exports.export_selection(str(tmp_path / "none.csv"))
    model.selection.set_selection([1, 4, 9], "test")
    out = tmp_path / "sel.csv"
    app.exports.export_selection(str(out))
    app.settle()
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["index", "id", "source", "label"] and [r[0] for r in rows[1:]] == ["1", "4", "9"]
    assert app.messages[-1] == f"Wrote 3 rows to {out}"

    for name in ("emb.npy", "emb.parquet"):
        app.exports.export_embeddings(str(tmp_path / name))
        app.settle()
        assert app.messages[-1] == f"Wrote 40 vectors to {tmp_path / name}"
    np.testing.assert_array_equal(np.load(tmp_path / "emb.npy"), model.emb.vectors)
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "emb.parquet").num_rows == 40

    with pytest.raises(ValueError, match="no duplicates"):
        app.exports.export_duplicates(str(tmp_path / "d.json"))
    model.set_analysis(AnalysisKind.DUPLICATES, DuplicateFinder().fit(model.emb))
    model.set_analysis(AnalysisKind.DUPLICATE_DECISIONS, {0: "drop", 31: "keep", 5: "drop"})  # 5: in no group
    app.exports.export_duplicates(str(tmp_path / "d.json"))
    app.settle()
    doc = json.loads((tmp_path / "d.json").read_text())
    decided = {r["index"]: r["keep"] for r in doc["rows"]}
    assert decided[0] is False and decided[31] is True and 5 not in decided
    assert not list(tmp_path.glob("*.part"))


def test_a_failed_write_leaves_the_target_and_lands_in_problems(app, tmp_path):
    target = tmp_path / "kept.csv"
    target.write_text("old\n", encoding="utf-8")
    with pytest.raises(IndexError):
        write_selection_csv(app.model.dataset, [0, 999], target)
    assert target.read_text(encoding="utf-8") == "old\n" and not list(tmp_path.glob("*.part"))

    app.model.selection.set_selection([0], "test")
    app.exports.export_selection(str(tmp_path / "no-such-folder" / "sel.csv"))
    app.settle()
    assert any(p.severity == "error" and "could not write" in p.reason for p in app.model.problems)


HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTAB", "plain"]


def test_csv_exports_neutralise_formulas_and_json_keeps_the_raw_values(tmp_path):
    """Ids and labels from the data are written so a spreadsheet shows them as text (OWASP)."""
    driver = Driver()
    try:
        rng = np.random.default_rng(1)
        n = len(HOSTILE) * 2
        X = rng.normal(size=(n, 8)).astype(np.float32)
        X[len(HOSTILE):] = X[:len(HOSTILE)] + rng.normal(scale=1e-3, size=(len(HOSTILE), 8))  # pairs: duplicates
        ids = np.array(HOSTILE + [f"{h}#2" for h in HOSTILE])
        np.savez(tmp_path / "v.npz", embeddings=X, id=ids, label=np.array(HOSTILE * 2))
        driver.data.open_paths([tmp_path / "v.npz"])
        driver.wait_until(lambda: driver.model.emb is not None, timeout=30)
        model = driver.model
        model.selection.set_selection(list(range(n)), "test")
        driver.exports.export_selection(str(tmp_path / "sel.csv"))
        model.set_analysis(AnalysisKind.DUPLICATES, DuplicateFinder(threshold=0.99).fit(model.emb))
        for name in ("d.csv", "d.json"):
            driver.exports.export_duplicates(str(tmp_path / name))
        driver.settle()
        assert not [p for p in model.problems if p.severity == "error"]

        sel = list(csv.DictReader((tmp_path / "sel.csv").open(encoding="utf-8", newline="")))
        assert [r["id"] for r in sel[:len(HOSTILE)]] == [
            "'" + h if h != "plain" else h for h in HOSTILE]
        assert [r["label"] for r in sel[:4]] == [r["id"] for r in sel[:4]]  # (the loader strips a label's tab)
        assert all(r["index"].isdigit() for r in sel)

        dup = list(csv.DictReader((tmp_path / "d.csv").open(encoding="utf-8", newline="")))
        assert dup, "the planted pairs are duplicates"
        assert all(not r["id"].startswith(("=", "+", "-", "@", "\t")) for r in dup)
        assert {r["id"] for r in dup} & {"'" + HOSTILE[0], "'" + HOSTILE[2]}
        assert all(float(r["similarity_to_kept"]) > 0.9 for r in dup)  # numbers stay numbers
        raw = {r["id"] for r in json.loads((tmp_path / "d.json").read_text())["rows"]}
        assert raw & set(HOSTILE) and not any(i.startswith("'") for i in raw)  # JSON: the raw values
    finally:
        driver.close()


def test_an_export_never_writes_over_the_file_the_data_came_from(app, tmp_path):
    source = tmp_path / "v.npy"
    before = source.read_bytes()
    app.model.selection.set_selection([1, 2], "test")
    for export in (app.exports.export_selection, app.exports.export_embeddings):
        with pytest.raises(ValueError, match="the open data was loaded from"):
            export(str(source))
    app.settle()
    assert source.read_bytes() == before
