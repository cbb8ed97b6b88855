"""Hostile and broken input for the loaders (issue 11): declared sizes are checked before reading,
one bad line / field / file is one named problem and the rest loads, special files are named and
never opened, text decoding does not corrupt silently, skipped counts count items."""

from __future__ import annotations

import builtins
import io
import os
import zipfile

import numpy as np
import pytest

from embedview.core import loaders
from embedview.core.dataset import LoadProblem, count_skipped
from embedview.core.loaders import LoadError, describe, load_paths

PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def _reasons(ds_or_exc) -> str:
    return "\n".join(str(p) for p in ds_or_exc.problems)


# -- declared sizes ------------------------------------------------------------------------------


def _npy_header_only(shape, dtype="<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_npz_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    """A compressed member declaring a huge array is refused before it is decompressed."""
    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", 64 << 20)
    path = tmp_path / "bomb.npz"
    shape = (4_000_000, 256)  # 4 GB of float32 zeros: a few MB compressed, but we write the header only
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("embeddings.npy", "w", force_zip64=True) as fp:
            fp.write(_npy_header_only(shape))
            chunk = bytes(1 << 20)
            for _ in range(8):  # the data are short: only the header matters
                fp.write(chunk)
    assert path.stat().st_size < 1 << 20
    opened = []
    real = np.lib.npyio.NpzFile.__getitem__
    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__", lambda self, k: opened.append(k) or real(self, k))
    with pytest.raises(LoadError) as err:
        load_paths(path)
    assert not opened  # nothing decompressed
    text = _reasons(err.value)
    assert "bomb.npz" in text and "'embeddings'" in text
    assert "would take 4.1 GB in memory (declared in the file)" in text


def test_npz_within_limit_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", 64 << 20)
    path = tmp_path / "ok.npz"
    np.savez_compressed(path, embeddings=np.ones((10, 4), dtype=np.float64), label=np.array(list("abcdeabcde")))
    ds = load_paths(path)
    assert len(ds) == 10 and ds.embeddings.dtype == np.float32


def test_npy_copy_over_limit_and_truncated(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", 1000)
    big = tmp_path / "big.npy"
    np.save(big, np.zeros((100, 8), dtype=np.float64))  # 3200 bytes as float32: over the limit
    with pytest.raises(LoadError) as err:
        load_paths(big)
    assert "would take 3.2 KB in memory (declared in the file), more than the 1.0 KB" in _reasons(err.value)
    mapped = tmp_path / "mapped.npy"  # float32 is mapped, never copied: not refused
    np.save(mapped, np.zeros((100, 8), dtype=np.float32))
    assert len(load_paths(mapped)) == 100
    short = tmp_path / "short.npy"
    short.write_bytes(_npy_header_only((1000, 1000)) + bytes(64))
    with pytest.raises(LoadError) as err:
        load_paths(short)
    assert "truncated" in _reasons(err.value)


def test_parquet_row_count_over_limit(tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "v.parquet"
    table = pa.table({"embedding": pa.array([[1.0] * 16] * 500, type=pa.list_(pa.float32(), 16))})
    pq.write_table(table, path)
    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", 10_000)
    with pytest.raises(LoadError) as err:
        load_paths(path)
    assert "would take 32.0 KB in memory" in _reasons(err.value) and "v.parquet" in _reasons(err.value)
    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", None)
    assert len(load_paths(path)) == 500


def test_default_limit_is_bounded():
    limit = loaders.array_byte_limit()
    assert 256 << 20 <= limit <= 8 << 30


# -- one bad line or field is one problem ---------------------------------------------------------


def test_deeply_nested_jsonl_line_skips_that_line_only(tmp_path):
    path = tmp_path / "t.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    path.write_text('{"text": "a"}\n' + deep + '\n{"text": "b"}\n', encoding="utf-8")
    ds = load_paths(path)
    assert ds.texts == ["a", "b"]
    assert "line 2 (nested too deeply)" in _reasons(ds)


def test_csv_field_over_limit_skips_that_row_only(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,text\n1,first\n2," + "x" * 1_200_000 + "\n3,third\n4,fourth\n", encoding="utf-8")
    ds = load_paths(path)
    assert ds.texts == ["first", "third", "fourth"]
    assert "line 3 (field larger than field limit" in _reasons(ds)
    assert describe(ds)["n_skipped"] == 1


# -- one bad file never costs the others ---------------------------------------------------------


def _deny(monkeypatch, denied):
    """Make ``open`` of one path fail with PermissionError.  The tests run as root, where chmod 000
    does not stop reading, so the refusal is simulated at the opener (builtins.open, which the
    loaders and PIL both use)."""
    real_open = builtins.open
    denied = os.path.abspath(denied)

    def fake_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(os.fspath(file)) == denied:
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)


def test_unreadable_image_in_folder_is_one_problem(tmp_path, monkeypatch):
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / "cls" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "cls" / name).write_bytes(PNG_1x1)
    _deny(monkeypatch, tmp_path / "cls" / "b.png")
    ds = load_paths(tmp_path)
    assert ds.ids == ["cls/a.png", "cls/c.png"]
    msgs = [p for p in ds.problems if p.severity == "skipped"]
    assert len(msgs) == 1 and msgs[0].path.endswith("b.png") and "Permission denied" in msgs[0].reason
    one_by_one = load_paths([tmp_path / "cls" / n for n in ("a.png", "b.png", "c.png")])
    assert len(one_by_one) == 2 and "Permission denied" in _reasons(one_by_one)


def test_unreadable_text_file_given_with_others(tmp_path, monkeypatch):
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("one\ntwo\n")
    bad.write_text("three\n")
    _deny(monkeypatch, bad)
    ds = load_paths([good, bad])
    assert ds.texts == ["one", "two"]
    assert "bad.txt: cannot open file (Permission denied)" in _reasons(ds)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_and_device_link_are_named_never_opened(tmp_path):
    (tmp_path / "good.png").write_bytes(PNG_1x1)
    os.mkfifo(tmp_path / "pipe.jpg")  # opening it would block this test forever
    os.symlink("/dev/zero", tmp_path / "zero.png")
    os.symlink(tmp_path / "missing.png", tmp_path / "dangling.png")
    ds = load_paths(tmp_path)
    assert ds.ids == ["good.png"]
    text = _reasons(ds)
    assert "pipe.jpg: a named pipe (FIFO), not a regular file" in text
    assert "zero.png: a character device (through a symbolic link)" in text
    assert "dangling.png: broken symbolic link" in text
    assert "zero.png: broken" not in text
    one_by_one = load_paths([tmp_path / "good.png", tmp_path / "pipe.jpg", tmp_path / "zero.png"])
    assert len(one_by_one) == 1
    assert "named pipe" in _reasons(one_by_one) and "character device" in _reasons(one_by_one)


# -- text decoding does not corrupt silently ---------------------------------------------------------


def test_csv_unterminated_quote_does_not_swallow_rows(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('id,text\n1,"opened never closed\n2,second\n3,third\n', encoding="utf-8")
    ds = load_paths(path)
    assert ds.texts == ["second", "third"]
    assert "line 2 (a quote opened here is never closed)" in _reasons(ds)


def test_csv_quoted_newline_still_one_text(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text('id,text\n1,"two\nlines"\n2,plain\n', encoding="utf-8")
    ds = load_paths(path)
    assert ds.texts == ["two\nlines", "plain"] and not ds.problems


def test_txt_with_old_mac_line_endings(tmp_path):
    path = tmp_path / "mac.txt"
    path.write_bytes(b"first\rsecond\rthird\r")
    ds = load_paths(path)
    assert ds.texts == ["first", "second", "third"]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_read_right(tmp_path, encoding):
    path = tmp_path / "u.csv"
    path.write_bytes("id,text\n1,café crème\n2,naïve\n".encode(encoding))
    ds = load_paths(path)
    assert ds.texts == ["café crème", "naïve"]
    assert f"UTF-16 without a byte-order mark; read as {encoding.upper()}" in _reasons(ds)


# -- skipped counts count items, not problems; warnings apart ----------------------------------------


def test_skipped_counts_rows_not_problems(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,text,label\n1,a,x\n2,,x\n3,,y\n4,,y\n5,b,z\n6,c\n", encoding="utf-8")
    ds = load_paths(path)
    info = describe(ds)
    assert info["n_skipped"] == 4  # three empty texts + one short row, in two problems
    assert sum(p.severity == "skipped" for p in ds.problems) == 2
    assert count_skipped([LoadProblem("f", "w", "warning", n_items=5)]) == 0
