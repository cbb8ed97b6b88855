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


def test_csv_fields_past_the_csv_modules_128_kib_are_read(tmp_path):
    path = tmp_path / "t.csv"
    long_text = "word " * 240_000  # 1.2 MB: Python's csv module refuses fields over 128 KiB by default
    path.write_text(f"id,text\n1,first\n2,\"{long_text}\"\n3,third\n", encoding="utf-8")
    ds = load_paths(path)
    assert ds.texts == ["first", long_text.strip(), "third"] and not ds.problems


def test_csv_field_over_limit_skips_that_row_only(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_CSV_FIELD_CHARS", 1 << 20)  # 16 MiB by default: a 1 MiB bound here
    path = tmp_path / "t.csv"
    path.write_text("id,text\n1,first\n2," + "x" * 1_200_000 + "\n3,third\n4,fourth\n", encoding="utf-8")
    ds = load_paths(path)
    assert ds.texts == ["first", "third", "fourth"]
    assert "line 3 (a field longer than 1,048,576 characters, the most one field may hold)" in _reasons(ds)
    assert describe(ds)["n_skipped"] == 1


def test_text_file_larger_than_memory_allows_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", 1 << 20)
    path = tmp_path / "big.csv"
    path.write_text("id,text\n" + "".join(f"{i},some words here\n" for i in range(20_000)), encoding="utf-8")
    with pytest.raises(LoadError, match=r"big.csv: its text \(.* read whole\) would take .* more than"):
        load_paths(path)


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


# a real-looking export (the Debian descriptions' shape) in which one row lost its closing quote
MID_FILE_CSV = """id,text,label
0ad,"Real-time strategy game of ancient warfare",games
abcde,"A Better CD Encoder, converts audio CDs to ogg, mp3 or flac",sound
abiword,"efficient, featureful word processor with collaboration,editors
ack,"grep-like program specifically for large source trees",utils
acl,"access control list - utilities",admin
adduser,"add and remove users and groups",admin
aegisub,"advanced subtitle editor",video
"""


def test_csv_unclosed_quote_mid_file_is_named_and_the_rows_after_it_load(tmp_path):
    path = tmp_path / "packages.csv"
    path.write_text(MID_FILE_CSV, encoding="utf-8")
    ds = load_paths(path)
    assert ds.ids == ["0ad", "abcde", "ack", "acl", "adduser", "aegisub"]  # only abiword's line is lost
    assert ds.texts[2] == "grep-like program specifically for large source trees"
    assert list(ds.labels) == ["games", "sound", "utils", "admin", "admin", "video"]
    (p,) = ds.problems
    assert p.path == str(path) and p.n_items == 1
    assert ("line 4 (a quote opened here is not closed on its line; it swallowed line 5 into one field, "
            "read as rows again)") in p.reason


def test_csv_unclosed_quote_swallowing_many_rows(tmp_path):
    """The csv module would close the open quote at the next quoted field, many rows later, and
    silently give one row holding all of them (the field count even matches the header)."""
    rows = ["id,text,label", "1,first,a", '2,"never closed,b']
    rows += [f"{i},plain text {i},c" for i in range(3, 40)]
    rows += ['40,"quoted again",d', "41,last,e"]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ds = load_paths(path)
    assert len(ds) == 40 and ds.texts[1] == "plain text 3" and ds.texts[-2:] == ["quoted again", "last"]
    assert "line 3 (a quote opened here is not closed on its line; it swallowed lines 4-41" in _reasons(ds)


def test_csv_quoted_fields_with_commas_and_line_breaks_are_not_taken_for_open_quotes(tmp_path):
    path = tmp_path / "letters.csv"
    path.write_text('id,text,label\n1,"Dear Sir,\nthanks, John",a\n2,"one, two\nthree, four\nfive, six",b\n'
                    '3,"He said ""hi, there""\nand left, quickly",c\n', encoding="utf-8")
    ds = load_paths(path)
    assert ds.texts == ["Dear Sir,\nthanks, John", "one, two\nthree, four\nfive, six",
                        'He said "hi, there"\nand left, quickly'] and not ds.problems


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


# -- Arrow IPC: declared (decompressed) sizes before reading ------------------------------------------


def _arrow(path, compression, fmt="file", rows=20_000, dim=256):
    import pyarrow as pa

    x = np.zeros((rows, dim), dtype=np.float32)  # mostly zeros: compresses well, as a bomb does
    x[:, :4] = np.random.default_rng(0).integers(0, 3, size=(rows, 4))
    table = pa.table({"embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), dim),
                      "label": [f"c{i % 7}" for i in range(rows)]})
    new = pa.ipc.new_file if fmt == "file" else pa.ipc.new_stream
    with new(str(path), table.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as w:
        w.write_table(table, max_chunksize=4096)
    return x


@pytest.mark.parametrize("fmt", ["file", "stream"])
@pytest.mark.parametrize("compression", ["zstd", "lz4"])
def test_compressed_arrow_is_checked_before_decompressing(tmp_path, monkeypatch, compression, fmt):
    path = tmp_path / f"emb.{compression}.arrow"
    x = _arrow(path, compression, fmt)
    assert path.stat().st_size < x.nbytes / 4  # a small file declaring a large table
    rows, declared, compressed = loaders._arrow_declared(path)
    assert rows == 20_000 and compressed and x.nbytes <= declared <= x.nbytes * 1.02
    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", 8 << 20)
    decompressed = []
    real = loaders._read_arrow_batches
    monkeypatch.setattr(loaders, "_read_arrow_batches", lambda *a: decompressed.append(a) or real(*a))
    with pytest.raises(LoadError) as err:
        load_paths(path)
    assert not decompressed  # refused from the headers: nothing was decompressed
    (p,) = err.value.problems
    assert p.path == str(path)
    assert p.reason.startswith("its 20,000 rows (decompressed from ")
    assert "of lz4 / zstd data) would take 20.6 MB in memory (declared in the file), more than the 8.4 MB" in p.reason
    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", 64 << 20)  # within the limit: it loads, values intact
    ds = load_paths(path)
    np.testing.assert_array_equal(ds.embeddings, x)
    assert ds.label_counts()["c0"] == len(range(0, 20_000, 7))


def test_arrow_batches_are_bounded_while_read_when_headers_cannot_be_walked(tmp_path, monkeypatch):
    path = tmp_path / "emb.arrow"
    _arrow(path, "zstd")

    def unreadable(_path):
        raise ValueError("a header this reader does not know")

    monkeypatch.setattr(loaders, "_arrow_declared", unreadable)
    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", 8 << 20)
    with pytest.raises(LoadError, match=r"emb.arrow: its first 2 record batches already hold 8.4 MB in memory, "
                                        r"more than the 8.4 MB"):
        load_paths(path)


# -- Pillow's warnings at load time name their file -----------------------------------------------


def test_header_warnings_of_an_image_in_a_folder_name_that_file(tmp_path, capfd):
    import struct

    from PIL import Image

    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHI", 0x010F, 2, 40) + struct.pack("<I", 30) + struct.pack("<I", 0))
    (tmp_path / "cls").mkdir()
    Image.new("RGB", (12, 8), "red").save(tmp_path / "cls" / "bad_exif.jpg", exif=b"Exif\x00\x00" + tiff)
    (tmp_path / "cls" / "good.png").write_bytes(PNG_1x1)
    ds = load_paths(tmp_path)
    assert ds.ids == ["cls/bad_exif.jpg", "cls/good.png"]
    (p,) = ds.problems
    assert p.path.endswith("bad_exif.jpg") and p.severity == "warning"
    assert p.reason == "warning while reading the header: Tag data larger than file. Skipping tag 271"
    assert "Tag data" not in capfd.readouterr().err


def test_text_parquet_is_bounded_by_its_declared_and_its_decoded_size(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", 8 << 20)
    rng = np.random.default_rng(0)
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
    varied = tmp_path / "varied.parquet"  # distinct texts: the footer declares ~13 MB uncompressed
    pq.write_table(pa.table({"text": [" ".join(rng.choice(words, 400)) for _ in range(5_000)]}), varied,
                   compression="zstd")
    with pytest.raises(LoadError, match=r"varied.parquet: its 5,000 rows \(uncompressed\) would take .* more than"):
        load_paths(varied)
    # one text repeated: dictionary-encoded, the footer declares a few KB, but it decodes to 34 MB
    repeated = tmp_path / "repeated.parquet"
    pq.write_table(pa.table({"text": ["the same sentence again and again " * 50] * 20_000}), repeated,
                   compression="zstd")
    assert repeated.stat().st_size < 100_000
    with pytest.raises(LoadError, match=r"repeated.parquet: its first 2 record batches already hold 14.0 MB in memory"):
        load_paths(repeated)
    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", 512 << 20)
    assert len(load_paths(repeated)) == 20_000 and len(load_paths(varied)) == 5_000
