"""Folders of parquet shards and Lance datasets open as one dataset, vectors memory-mapped on disk."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from embedview.core import loaders, shards  # noqa: E402
from embedview.core.dataset import Dataset  # noqa: E402
from embedview.core.loaders import load_paths  # noqa: E402
from embedview.core.shards import PackedStrings  # noqa: E402

DIM = 32
ROWS = 200
LABELS = ["cat", "dog", "bird", "fish"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path / "cache"))


def _clustered(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(len(LABELS), dim)).astype(np.float32) * 4
    y = rng.integers(0, len(LABELS), n)
    return (centres[y] + rng.normal(size=(n, dim))).astype(np.float32), y


def _table(k: int, n: int = ROWS, dim: int = DIM, fixed: bool = True, drop: str | None = None):
    x, y = _clustered(n, dim, seed=k + 1)
    vtype = pa.list_(pa.float32(), dim) if fixed else pa.list_(pa.float32())
    cols = {
        "id": pa.array([f"doc-{k}-{i:05d}" for i in range(n)]),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), dim) if fixed
        else pa.array(list(x), vtype),
        "label": pa.array([LABELS[j] for j in y]),
        "score": pa.array(np.linspace(0, 1, n) + k),
        "note": pa.array([f"shard {k} row {i}" for i in range(n)]),
    }
    if drop:
        del cols[drop]
    return pa.table(cols), x, y


def _write_shards(folder: Path, k: int = 5, **kw) -> tuple[np.ndarray, list[str]]:
    folder.mkdir(parents=True, exist_ok=True)
    xs, ids = [], []
    for s in range(k):
        t, x, _ = _table(s, **kw)
        pq.write_table(t, folder / f"part-{s:05d}.parquet", row_group_size=64)
        xs.append(x)
        ids.extend(t.column("id").to_pylist())
    return np.concatenate(xs), ids


def test_folder_of_shards_is_one_dataset_with_bad_shards_named(tmp_path):
    x, ids = _write_shards(tmp_path / "emb")
    bad_dim, _, _ = _table(7, dim=DIM // 2)
    pq.write_table(bad_dim, tmp_path / "emb" / "part-00005.parquet")
    no_label, _, _ = _table(8, drop="label")
    pq.write_table(no_label, tmp_path / "emb" / "part-00006.parquet")
    (tmp_path / "emb" / "part-00007.parquet").write_bytes(b"PAR1 not really parquet")
    (tmp_path / "emb" / "_SUCCESS").write_bytes(b"")

    ds = load_paths(tmp_path / "emb")

    assert ds.modality == "embedding" and len(ds) == 5 * ROWS
    np.testing.assert_array_equal(ds.embeddings, x)
    assert isinstance(ds.embeddings, np.memmap) or isinstance(ds.embeddings.base, np.memmap)
    assert not ds.embeddings.flags.writeable
    assert list(ds.ids) == ids and ds.ids == ids  # order: shard by shard, row by row
    assert isinstance(ds.ids, PackedStrings)
    assert ds.label_names == sorted(LABELS)
    assert ds.metadata["score"][ROWS] == pytest.approx(1.0)
    assert ds.metadata["note"][3] == "shard 0 row 3"
    assert ds.sources[ROWS].endswith("part-00001.parquet")
    by_file = {Path(p.path).name: p.reason for p in ds.problems}
    assert "16 dimensions" in by_file["part-00005.parquet"] and "32" in by_file["part-00005.parquet"]
    assert "missing column 'label'" in by_file["part-00006.parquet"]
    assert "not a readable parquet file" in by_file["part-00007.parquet"]
    assert "_SUCCESS" not in by_file
    # what the rest of the app does with a dataset still works on the packed columns
    sub = ds.subset([3, ROWS + 1])
    assert sub.ids == [ids[3], ids[ROWS + 1]] and sub.item(1)["note"] == "shard 1 row 1"
    both = Dataset.concat([ds.subset([0]), ds.subset([1])])
    assert both.ids == ids[:2]


def test_reopen_reuses_the_memory_map_until_a_shard_changes(tmp_path):
    x, _ = _write_shards(tmp_path / "emb", k=3)
    before = dict(shards.READS)
    first = load_paths(tmp_path / "emb")
    read = shards.READS["vector_rows"] - before["vector_rows"]
    assert read == 3 * ROWS and shards.READS["vector_batches"] > before["vector_batches"]
    cached = list((tmp_path / "cache" / "vectors").glob("*.npy"))
    assert len([p for p in cached if not p.name.endswith(".rows.npy")]) == 1

    again = load_paths(tmp_path / "emb")
    assert shards.READS["vector_rows"] - before["vector_rows"] == read  # no vector read again
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    assert again.ids == first.ids

    shard = tmp_path / "emb" / "part-00001.parquet"
    st = shard.stat()
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: read again
    third = load_paths(tmp_path / "emb")
    assert shards.READS["vector_rows"] - before["vector_rows"] == 2 * read
    np.testing.assert_array_equal(third.embeddings, x)
    stores = sorted(p.name for p in (tmp_path / "cache" / "vectors").iterdir())
    assert len(stores) == 3 and len({n.split(".")[0] for n in stores}) == 1  # the stale store was removed


def test_cancelled_open_leaves_no_file_in_the_cache(tmp_path):
    from embedview.core.progress import Cancelled, TaskState

    _write_shards(tmp_path / "emb", k=3)

    def on_progress(fraction, message):
        if "part-00001" in message:  # cancelled in the middle of writing the vectors
            task.cancel()

    task = TaskState(on_progress, min_interval=0.0)
    with pytest.raises(Cancelled):
        load_paths(tmp_path / "emb", progress=task)
    assert list((tmp_path / "cache" / "vectors").iterdir()) == []
    ds = load_paths(tmp_path / "emb")  # and the next open reads it whole
    assert len(ds) == 3 * ROWS


def test_a_folder_of_text_shards_loads_as_texts(tmp_path):
    folder = tmp_path / "hub" / "data"
    folder.mkdir(parents=True)
    for s in range(3):
        pq.write_table(pa.table({"text": [f"sentence {s}-{i}" for i in range(20)], "label": ["a", "b"] * 10}),
                       folder / f"train-0000{s}-of-00003.parquet")
    ds = load_paths(tmp_path / "hub")
    assert ds.modality == "text" and len(ds) == 60 and ds.texts[20] == "sentence 1-0"


def test_empty_ragged_and_nan_rows_are_named_by_shard_and_left_out(tmp_path):
    folder = tmp_path / "emb"
    x, ids = _write_shards(folder, k=2, fixed=False)
    t = pq.read_table(folder / "part-00001.parquet")
    vecs = t.column("embedding").to_pylist()
    vecs[2] = None
    vecs[5] = vecs[5][:-1]
    vecs[7] = [float("nan")] * DIM
    t = t.set_column(1, "embedding", pa.array(vecs, pa.list_(pa.float32())))
    pq.write_table(t, folder / "part-00001.parquet")

    ds = load_paths(folder)

    keep = np.ones(2 * ROWS, bool)
    keep[[ROWS + 2, ROWS + 5, ROWS + 7]] = False
    np.testing.assert_array_equal(ds.embeddings, x[keep])
    assert ds.ids == [i for i, k in zip(ids, keep, strict=True) if k]
    reasons = [p.reason for p in ds.problems if p.path.endswith("part-00001.parquet")]
    assert any("empty 'embedding'" in r and "row 2" in r for r in reasons)
    assert any("wrong number of values" in r and "row 5" in r for r in reasons)
    assert any("NaN" in r and "row 7" in r for r in reasons)
    again = load_paths(folder)  # the problems come back from the store's record, not from a re-read
    assert sorted(p.reason for p in again.problems) == sorted(p.reason for p in ds.problems)


def test_hive_partitions_become_metadata(tmp_path):
    root = tmp_path / "out"
    for split, k in (("train", 0), ("train", 1), ("test", 2)):
        t, _, _ = _table(k, n=50)
        (root / f"split={split}").mkdir(parents=True, exist_ok=True)
        pq.write_table(t, root / f"split={split}" / f"part-{k}.parquet")
    ds = load_paths(root)
    assert len(ds) == 150
    assert ds.metadata["split"][0] == "test" and ds.metadata["split"][60] == "train"  # test=... sorts first


def test_vectors_larger_than_the_memory_limit_go_to_disk(tmp_path, monkeypatch):
    folder = tmp_path / "emb"
    x, _ = _write_shards(folder, k=3)
    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", 40_000)  # smaller than the 77 kB of vectors
    single = tmp_path / "one.parquet"
    pq.write_table(pa.concat_tables([_table(s)[0] for s in range(3)]), single)
    with pytest.raises(loaders.LoadError, match="would take"):
        load_paths(single)  # one file is read into memory: refused as before
    ds = load_paths(folder)  # shards: the vectors go to a memory map, only ids and metadata count
    np.testing.assert_array_equal(ds.embeddings, x)
    monkeypatch.setattr(loaders, "MAX_ARRAY_BYTES", 2_000)  # now even the metadata columns are too big
    with pytest.raises(loaders.LoadError, match="id and metadata columns"):
        load_paths(folder)
    assert "need" in (shards.disk_problem(tmp_path, 1 << 62) or "")
    assert shards.disk_problem(tmp_path, 1000) is None


def test_packed_strings_behave_like_a_list():
    values = ["a", "", "héllo", None, "z" * 40]
    p = PackedStrings.from_strings(values)
    assert len(p) == 5 and list(p) == values and p == values and p[2] == "héllo" and p[-1] == "z" * 40
    assert p[3] is None and p[1:3] == ["", "héllo"] and p.take(np.array([4, 0])) == ["z" * 40, "a"]
    assert "héllo" in p and p.index("z" * 40) == 4
    with pytest.raises(IndexError):
        p[5]
    arrow = PackedStrings.from_arrow(pa.array(values).slice(1, 3))
    assert arrow == values[1:4]
    ids = [f"doc-{i:07d}" for i in range(10000)]
    packed = PackedStrings.from_strings(ids)
    assert packed.nbytes < 20 * len(ids) and packed == ids


def test_lance_dataset_opens_like_shards(tmp_path):
    lance = pytest.importorskip("lance")
    tables = [_table(s)[0] for s in range(3)]
    x = np.concatenate([_table(s)[1] for s in range(3)])
    path = tmp_path / "emb.lance"
    lance.write_dataset(pa.concat_tables(tables), str(path), max_rows_per_file=250)
    before = shards.READS["vector_rows"]
    ds = load_paths(path)
    np.testing.assert_array_equal(ds.embeddings, x)
    assert ds.ids == [i for t in tables for i in t.column("id").to_pylist()]
    assert ds.label_names == sorted(LABELS)
    load_paths(path)
    assert shards.READS["vector_rows"] - before == 3 * ROWS  # the second open read nothing


def test_lance_without_pylance_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "emb.lance"
    (path / "_versions").mkdir(parents=True)
    (path / "data").mkdir()
    monkeypatch.setitem(sys.modules, "lance", None)  # as if pylance were not installed
    with pytest.raises(loaders.LoadError, match=r"embedview\[lance\]"):
        load_paths(path)


def test_the_apps_own_consumers_take_a_sharded_dataset(tmp_path):
    from embedview.core.embeddings import EmbeddingSet
    from embedview.core.export import save_npz, save_parquet
    from embedview.core.maps import build_coloring

    x, ids = _write_shards(tmp_path / "emb", k=2)
    ds = load_paths(tmp_path / "emb")
    emb = EmbeddingSet(ds, ds.embeddings)
    save_parquet(emb, tmp_path / "out.parquet")
    back = pq.read_table(tmp_path / "out.parquet")
    assert back.column("id").to_pylist() == ids and back.column("note").to_pylist()[ROWS] == "shard 1 row 0"
    save_npz(emb, tmp_path / "out.npz")
    with np.load(tmp_path / "out.npz") as z:
        assert z["ids"].tolist() == ids
        np.testing.assert_array_equal(z["embeddings"], x)
    coloring = build_coloring(ds, "label")
    assert len(coloring.codes) == len(ds) and len(coloring.legend) == len(LABELS)
    by_note = build_coloring(ds, "meta:note")  # a packed string column: 400 distinct values
    assert len(by_note.codes) == len(ds)
    assert np.asarray(ds.metadata["note"])[ROWS + 2] == "shard 1 row 2"
    assert pa.array(ds.ids).to_pylist() == ids


def test_ids_repeated_across_shards_are_made_unique_and_shuffled_ids_stay_packed(tmp_path):
    folder = tmp_path / "emb"
    folder.mkdir()
    for s in range(2):  # both shards number their rows 0..49: the ids repeat
        t, _, _ = _table(s, n=50)
        t = t.set_column(0, "id", pa.array([f"r{i}" for i in range(50)]))
        pq.write_table(t, folder / f"part-{s}.parquet")
    ds = load_paths(folder)
    assert len(set(ds.ids)) == 100 and ds.ids[50] == "r0#2"
    assert any("repeated ids" in p.reason for p in ds.problems)

    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    order = np.random.default_rng(1).permutation(100)
    t, _, _ = _table(0, n=100)
    pq.write_table(t.set_column(0, "id", pa.array([f"x{i}" for i in order])), shuffled / "part-0.parquet")
    ds = load_paths(shuffled)
    assert isinstance(ds.ids, PackedStrings) and ds.ids == [f"x{i}" for i in order]
    assert not any("repeated" in p.reason for p in ds.problems)
