"""The CLI on hostile input and hostile disks (issue 11): exits, summaries, and every write
checked before the work, its errors naming the file the user asked for."""

from __future__ import annotations

import csv
import errno
import os
import pathlib
import sqlite3
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.cli import EXIT_USAGE, _named_warnings, _print_problems, _skip_summary, main
from embedview.core.dataset import Dataset, LoadProblem
from embedview.core.embeddings import EmbeddingSet


@pytest.fixture(autouse=True)
def _cache_env(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def vectors(tmp_path):
    path = tmp_path / "digits.npy"
    np.save(path, load_digits().data[:40].astype(np.float32))
    return path


def test_a_one_row_file_is_bad_input_with_the_reason_not_an_unexpected_error(tmp_path, capsys):
    one = tmp_path / "one.npy"
    np.save(one, load_digits().data[:1].astype(np.float32))
    assert main(["check", str(one), "-o", str(tmp_path / "m.json")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "too few items to check: 1 (needs at least 2 items, the data has 1)" in err
    assert "unexpected" not in err and not (tmp_path / "m.json").exists()
    assert main(["report", str(one), "-o", str(tmp_path / "r.html")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "too few items for a report: 1 (needs at least 2)" in err and "unexpected" not in err


def test_an_unwritable_output_is_refused_before_any_work(tmp_path, vectors, monkeypatch, capsys):
    import embedview.core.loaders as loaders

    def no_work(*args, **kwargs):
        raise AssertionError("the data was loaded before the output was checked")

    monkeypatch.setattr(loaders, "load_paths", no_work)
    under_a_file = vectors / "out" / "m.json"
    assert main(["check", str(vectors), "-o", str(under_a_file)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"embedview: error: {under_a_file}: cannot write: {vectors} is a file, not a folder" in err
    if os.path.isdir("/sys/kernel"):  # sysfs takes no new files, not even from root
        assert main(["neighbors", str(vectors), "-o", "/sys/neighbors.csv"]) == EXIT_USAGE
        assert "/sys/neighbors.csv: cannot write: Permission denied" in capsys.readouterr().err
    table = tmp_path / "items.csv"
    table.write_text("id,text\n1,a\n2,b\n", encoding="utf-8")
    assert main(["duplicates", str(table), "-o", str(table)]) == EXIT_USAGE  # the input file itself
    assert f"refusing to write over the input file {table}" in capsys.readouterr().err
    assert table.read_text(encoding="utf-8") == "id,text\n1,a\n2,b\n"


def test_a_read_only_output_folder_is_found_before_the_work(tmp_path, vectors, monkeypatch, capsys):
    real_open = open

    def read_only(path, mode="r", *args, **kwargs):  # as a read-only mount answers (root ignores chmod)
        if str(path).startswith(str(tmp_path / "out")) and ("x" in mode or "w" in mode):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, mode, *args, **kwargs)

    (tmp_path / "out").mkdir()
    monkeypatch.setattr("builtins.open", read_only)
    target = tmp_path / "out" / "metrics.json"
    assert main(["check", str(vectors), "-o", str(target)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"{target}: cannot write: the file system is read-only" in err
    assert "loading" not in err and ".probe" not in err and ".part" not in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_at_the_write_names_the_output_and_exits_2(tmp_path, vectors, monkeypatch, capsys):
    def to_full_disk(self, text, encoding=None, errors=None, newline=None):
        with open(self, "w", encoding=encoding) as f:
            f.write(text[:10])
        with open("/dev/full", "w", encoding="utf-8") as f:  # a real ENOSPC
            f.write(text)
            f.flush()

    monkeypatch.setattr(pathlib.Path, "write_text", to_full_disk)
    target = tmp_path / "metrics.json"
    assert main(["check", str(vectors), "-o", str(target)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"embedview: error: {target}: cannot write: the disk is full (no space left on device)" in err
    assert ".part" not in err and "unexpected" not in err and "Errno" not in err
    assert not target.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_a_full_cache_disk_names_the_cache_file_and_exits_2(tmp_path, monkeypatch, capsys):
    from embedview.core.cache import EmbeddingCache

    real_connect = EmbeddingCache._connect

    def small_disk(self, target):
        conn = real_connect(self, target)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count={pages}")  # SQLite's real "database or disk is full"
        return conn

    monkeypatch.setattr(EmbeddingCache, "_connect", small_disk)
    texts = tmp_path / "texts.csv"
    with open(texts, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text"])
        w.writerows([[f"sentence number {i} about package {i * 7}"] for i in range(40)])
    out = tmp_path / "t.npz"
    code = main(["encode", str(texts), "--model", "default-text", "-o", str(out)])
    err = capsys.readouterr().err
    cache_file = tmp_path / "cache" / "embeddings.sqlite3"
    assert code == EXIT_USAGE, err
    assert f"embedding cache {cache_file}: cannot store vectors: the disk is full" in err
    assert "--no-cache" in err and "unexpected" not in err and not out.exists()
    assert sqlite3.connect(cache_file).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_summary_counts_skipped_inputs_items_and_warnings_apart(capsys):
    ds = Dataset("text", ids=["a", "b", "c"], sources=["t.csv"] * 3, texts=["x", "y", "z"], problems=[
        LoadProblem("t.csv:4", "field over 1 MB"), LoadProblem("t.csv:5", "bad quote"),
        LoadProblem("t.csv:2", "odd characters replaced", severity="warning")])
    emb = EmbeddingSet(ds.subset([0, 1]), np.ones((2, 4), np.float32), encoder="toy",
                       problems=[LoadProblem("t.csv:3", "could not be encoded")])  # item "c"
    assert _skip_summary(ds, emb) == ("2 file(s) or row(s) skipped (not loaded), "
                                      "1 item(s) skipped (could not be encoded), 1 warning(s)")
    _print_problems(ds.problems)
    err = capsys.readouterr().err
    assert "2 skipped (not loaded):\n  t.csv:4: field over 1 MB\n  t.csv:5: bad quote\n" in err
    assert "1 warning(s) (loaded anyway):\n  t.csv:2: odd characters replaced\n" in err


def test_python_warnings_say_what_was_being_done(capsys):
    with _named_warnings("loading photos/"):
        warnings.warn("Corrupt EXIF data.  Expecting to read 2 bytes but only got 0.", UserWarning, stacklevel=1)
        warnings.warn("Corrupt EXIF data.  Expecting to read 2 bytes but only got 0.", UserWarning, stacklevel=1)
        np.float32(3e38) * np.float32(10)  # numpy's overflow RuntimeWarning
    err = capsys.readouterr().err
    assert ("warning while loading photos/: UserWarning: Corrupt EXIF data.  Expecting to read 2 bytes "
            "but only got 0. (2 times)") in err
    assert "warning while loading photos/: RuntimeWarning: overflow" in err
    assert ".py:" not in err  # not Python's raw file:line form
