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
