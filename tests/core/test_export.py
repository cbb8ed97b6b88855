"""core.export: the atomic write every embedview file goes through, and the npz / parquet writers."""

import os
import stat

import numpy as np
import pytest

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.export import atomic_path, save_npz, save_parquet


def test_atomic_path_replaces_on_success_and_leaves_the_target_alone_on_failure(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and not tmp.exists()  # the writer creates it
        tmp.write_text("new", encoding="utf-8")
        assert target.read_text(encoding="utf-8") == "old"  # nothing visible until the end
    assert target.read_text(encoding="utf-8") == "new"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("cancelled")
    assert target.read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary file left
    # two writers of one target get different temporary files
    with atomic_path(target) as a, atomic_path(target) as b:
        assert a != b
        a.write_text("a", encoding="utf-8")
        b.write_text("b", encoding="utf-8")
    # the file gets the permissions any new file gets here (mkstemp would have made it 0600)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_npz_and_parquet_round_trip(tmp_path):
    ds = Dataset("text", ids=["a", "b", "c"], sources=["t.txt"] * 3, texts=["x", "y", "z"],
                 labels=np.array(["p", None, "q"], dtype=object), name="t")
    emb = EmbeddingSet(ds, np.arange(12, dtype=np.float32).reshape(3, 4), encoder="toy")
    save_npz(emb, tmp_path / "e.npz")
    z = np.load(tmp_path / "e.npz")
    np.testing.assert_array_equal(z["embeddings"], emb.vectors)
    assert z["ids"].tolist() == ["a", "b", "c"] and z["labels"].tolist() == ["p", "", "q"]
    save_parquet(emb, tmp_path / "e.parquet")
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "e.parquet")
    assert table.column("id").to_pylist() == ["a", "b", "c"] and table.column("label").to_pylist() == ["p", None, "q"]
    np.testing.assert_array_equal(np.array(table.column("embedding").to_pylist(), dtype=np.float32), emb.vectors)
    assert table.schema.metadata[b"embedview.encoder"] == b"toy"


# -- issue 11: every write checked before the work, and its errors name the file ------------------
def test_check_output_refuses_inputs_folders_and_unwritable_places(tmp_path):
    from embedview.core.export import OutputError, check_output

    data = tmp_path / "data.csv"
    data.write_text("id,text\n1,a\n", encoding="utf-8")
    folder = tmp_path / "images"
    folder.mkdir()
    cases = {
        str(data): "refusing to write over the input file",  # the open dataset's own file
        str(folder / "out.csv"): "refusing to write inside the input data",
    }
    for out, words in cases.items():
        with pytest.raises(OutputError, match=words):
            check_output(out, [data, folder])
    with pytest.raises(OutputError, match="is a folder"):
        check_output(folder)
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "nope" / "out.json")
    with pytest.raises(OutputError, match="is a file, not a folder"):  # a path under a file
        check_output(data / "sub" / "out.json")
    if not os.access("/sys", os.W_OK) or os.path.isdir("/sys/kernel"):
        with pytest.raises(OutputError, match=r"^/sys/out\.json: cannot write"):  # unwritable even for root
            check_output("/sys/out.json")
    assert check_output(tmp_path / "ok.json", [data]) == tmp_path / "ok.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "images"]  # the probe is gone, nothing made
    assert data.read_text(encoding="utf-8") == "id,text\n1,a\n"


def test_check_output_reports_a_read_only_folder(tmp_path, monkeypatch):
    import builtins
    import errno

    from embedview.core.export import OutputError, check_output

    real_open = builtins.open

    def read_only(path, mode="r", *args, **kwargs):
        if str(path).startswith(str(tmp_path)) and ("x" in mode or "w" in mode):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only)
    with pytest.raises(OutputError) as info:
        check_output(tmp_path / "report.html")
    assert str(info.value) == f"{tmp_path / 'report.html'}: cannot write: the file system is read-only"
    assert info.value.errno == errno.EROFS


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_names_the_target_not_the_temporary_file(tmp_path):
    import errno

    from embedview.core.export import OutputError

    target = tmp_path / "vectors.npz"
    target.write_bytes(b"old")
    with pytest.raises(OutputError) as info:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            with open("/dev/full", "wb") as f:  # a real ENOSPC, as on a full disk
                f.write(b"x" * 65536)
                f.flush()
    err = info.value
    assert isinstance(err, OSError) and err.errno == errno.ENOSPC
    assert str(err) == f"{target}: cannot write: the disk is full (no space left on device)"
    assert ".part" not in str(err)
    assert target.read_bytes() == b"old"  # left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vectors.npz"]  # no temporary file left
