"""Hostile input, kept so (issue 11): a seeded fuzz of the loaders, and Ctrl-C mid-encode through the CLI.

* The fuzz: a few hundred files made from real seeds (tests/fuzzkit.py: photos, digits, Debian
  package descriptions, English sentences, as images, texts and vector files), each also
  truncated, bit-flipped, replaced by random bytes and emptied.  Loading them (a folder at once,
  one modality's files together, and every file alone) raises nothing but ``LoadError`` (and only
  when nothing at all could be loaded); every file either gives items or is named by a problem
  with a reason; no input file is modified.  A failure lists every bad case by file name (the
  mutation and its parameters are in the name; ``SEED`` reproduces them).
* Ctrl-C: ``embedview encode`` with the offline ``default-text`` encoder is interrupted (SIGINT)
  once some batches are in the cache: it exits 130 without writing the output, the cache passes
  SQLite's integrity check and holds whole batches only, and a rerun reuses those rows untouched
  and gives the same vectors as an uninterrupted encode.  (kill -9 mid-encode is
  tests/encoders/test_pipeline.py::test_sigkill_mid_encode_leaves_a_valid_cache.)
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import fuzzkit
import numpy as np
import pytest
from english_sentences import SENTENCES

from embedview.core.loaders import LoadError, load_paths

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261202


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """``(root, {modality: [paths]}, {path: sha256})``; images sit in one sub-folder per seed."""
    root = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(SEED)
    files: dict[str, list[Path]] = {}
    for modality, seeds in fuzzkit.all_seeds(SENTENCES).items():
        for name, data in seeds.items():
            folder = root / modality / (name.rpartition(".")[0] if modality == "image" else "")
            folder.mkdir(parents=True, exist_ok=True)
            for mname, mdata in fuzzkit.mutants(name, data, rng):
                path = folder / mname
                path.write_bytes(mdata)
                files.setdefault(modality, []).append(path)
    hashes = {p: fuzzkit.sha256(p) for ps in files.values() for p in ps}
    return root, files, hashes


def _check_load(paths: list[Path], expect: list[Path], failures: list[str]) -> None:
    """Load ``paths``; every file of ``expect`` must give items or be named by a problem."""
    label = paths[0].name if len(paths) == 1 else f"{len(paths)} paths from {paths[0].parent.name}/"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings are the loaders' business; errors are ours here
        try:
            ds = load_paths(paths)
        except LoadError as exc:
            loaded: set[str] = set()
            problems = exc.problems
            if not problems and "one kind at a time" in exc.message:
                return  # the documented refusal of the whole call (e.g. a bit-flipped vectors .tsv reads as text)
            if not problems:
                failures.append(f"{label}: LoadError without a problem: {exc}")
        except Exception as exc:  # noqa: BLE001 - anything else is the bug this test looks for
            failures.append(f"{label}: unexpected {type(exc).__name__}: {exc}")
            return
        else:
            loaded = set(ds.sources)
            problems = ds.problems
    for p in problems:
        if not str(p.reason).strip():
            failures.append(f"{label}: a problem without a reason: {p.path!r}")
    for f in expect:
        if str(f) in loaded:
            continue
        if not any(p.path == str(f) or str(f) in p.reason for p in problems):
            failures.append(f"{label}: {f.name} neither loaded nor named by a problem "
                            f"(problems: {[str(p) for p in problems][:5]})")


def _report(failures: list[str]) -> str:
    return f"{len(failures)} fuzz case(s) failed (SEED={SEED}):\n" + "\n".join(failures[:60])


def test_fuzz_corpus_is_a_few_hundred_files_of_every_kind(corpus):
    _, files, _ = corpus
    assert sum(map(len, files.values())) >= 240
    exts = {p.suffix for ps in files.values() for p in ps}
    assert {".png", ".jpg", ".txt", ".csv", ".tsv", ".jsonl", ".npy", ".npz", ".parquet"} <= exts


def test_fuzz_image_folder_and_files(corpus):
    root, files, hashes = corpus
    failures: list[str] = []
    images = files["image"]
    _check_load([root / "image"], images, failures)
    _check_load(images, images, failures)
    for f in images:
        _check_load([f], [f], failures)
    assert not failures, _report(failures)
    assert all(fuzzkit.sha256(p) == hashes[p] for p in images), "an input file was modified"


@pytest.mark.parametrize("modality", ["text", "vector"])
def test_fuzz_texts_and_vectors_together_and_one_by_one(corpus, modality):
    _, files, hashes = corpus
    failures: list[str] = []
    paths = files[modality]
    for f in paths:
        _check_load([f], [f], failures)
    by_ext: dict[str, list[Path]] = {}
    for f in paths:
        by_ext.setdefault(f.suffix, []).append(f)
    for same in by_ext.values():  # one format's files together (vectors of other sizes are problems too)
        _check_load(same, same, failures)
    assert not failures, _report(failures)
    assert all(fuzzkit.sha256(p) == hashes[p] for p in paths), "an input file was modified"


# -- what the fuzz found (issue 11: "raw Python warnings reach stderr without the file they are about") --
def _escaping_warnings(path: Path) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            load_paths([path])
        except LoadError:
            pass
    return [f"{w.category.__name__}: {w.message}" for w in caught]


def test_float64_npy_beyond_float32_warns_through_a_problem_not_numpy(tmp_path):
    x = np.ones((4, 3))
    x[1, 2] = 1e300  # what one flipped exponent bit makes
    path = tmp_path / "big.npy"
    np.save(path, x)
    assert _escaping_warnings(path) == []
    ds = load_paths([path])
    assert len(ds) == 3  # the row with the infinite value is dropped, the rest loads
    reasons = [p.reason for p in ds.problems if p.path == str(path)]
    assert any("beyond float32" in r and "row 1" in r for r in reasons), reasons


def test_truncated_npz_leaves_no_file_open(tmp_path):
    import io

    buf = io.BytesIO()
    np.savez(buf, embeddings=np.ones((10, 4), np.float32))
    path = tmp_path / "cut.npz"
    path.write_bytes(buf.getvalue()[:300])
    assert _escaping_warnings(path) == []


# -- Ctrl-C mid-encode through the real CLI --------------------------------------------------------
def _cache_rows(db: Path) -> dict[str, tuple[int, bytes]]:
    """``{key: (rowid, vector bytes)}`` of every cached vector, read without writing."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {k: (r, bytes(v)) for r, k, v in con.execute("SELECT rowid, key, vec FROM vectors")}
    finally:
        con.close()


def _encode_cmd(src: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "embedview", "encode", str(src), "-m", "default-text", "--batch-size", "2",
            "-o", str(out), *extra]


def _interrupt_after_some_batches(cmd: list[str], env: dict, db: Path, n: int) -> subprocess.CompletedProcess | None:
    """Run ``cmd``; send SIGINT once 4 to n-2 vectors are in the cache.  None if it finished first."""
    proc = subprocess.Popen(cmd, env=env, cwd=str(db.parent.parent), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    sent = False
    try:
        while proc.poll() is None and not sent:
            time.sleep(0.002)
            try:
                count = len(_cache_rows(db)) if db.exists() else 0
            except sqlite3.Error:
                continue  # being created
            if 4 <= count < n - 2:
                proc.send_signal(signal.SIGINT)
                sent = True
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err) if sent else None


@pytest.mark.slow
def test_ctrl_c_mid_encode_through_the_cli_keeps_the_cache_and_the_rerun_reuses_it(tmp_path):
    rng = np.random.default_rng(SEED)
    pairs = [f"{a} {b}" for a in SENTENCES for b in SENTENCES if a != b]
    texts = [pairs[i] for i in rng.permutation(len(pairs))[:300]]
    src = tmp_path / "sentences.txt"
    src.write_text("\n".join(texts) + "\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "vectors.npz"
    db = tmp_path / "cache" / "embeddings.sqlite3"
    env = dict(os.environ, EMBEDVIEW_CACHE_DIR=str(db.parent), HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))

    for _attempt in range(3):  # the encode may outrun the poll on a fast machine: start again, fresh
        if db.parent.exists():
            shutil.rmtree(db.parent)
        out.unlink(missing_ok=True)
        run = _interrupt_after_some_batches(_encode_cmd(src, out), env, db, len(texts))
        if run is not None:
            break
    assert run is not None, "the encode finished three times before it could be interrupted"

    assert run.returncode == 130, run.stderr
    assert "interrupted" in run.stderr or "cancelled" in run.stderr, run.stderr
    assert "unexpected error" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert list(out_dir.iterdir()) == [], "an interrupted encode wrote (part of) its output"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    before = _cache_rows(db)
    assert 4 <= len(before) < len(texts) and len(before) % 2 == 0, len(before)  # whole batches of 2 only

    rerun = subprocess.run(_encode_cmd(src, out), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    after = _cache_rows(db)
    assert len(after) == len(texts)
    for key, row in before.items():  # reused, not encoded and written again
        assert after[key] == row

    ref = out_dir / "reference.npz"
    fresh = subprocess.run(_encode_cmd(src, ref, "--no-cache"), env=env, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    got, want = np.load(out), np.load(ref)
    np.testing.assert_array_equal(got["ids"], want["ids"])
    assert got["embeddings"].shape == (len(texts), 384)
    np.testing.assert_allclose(got["embeddings"], want["embeddings"], rtol=0, atol=1e-5)
