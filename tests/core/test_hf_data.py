"""Files written by Hugging Face ``datasets``: class names from the schema, ``.arrow`` files and
``save_to_disk`` folders.

``datasets`` is not installed here: the files are written with pyarrow in the layout it uses --
the schema metadata key ``huggingface`` holding ``{"info": {"features": ...}}`` (a ``ClassLabel``
is ``{"names": [...], "_type": "ClassLabel"}``), ``.arrow`` files in the Arrow IPC *stream*
format (``pa.ipc.open_stream`` is how ``datasets`` reads them), and a ``save_to_disk`` folder of
``data-0000i-of-0000n.arrow`` shards with ``dataset_info.json`` and ``state.json``
(``{"_data_files": [{"filename": ...}], ...}``); a ``DatasetDict`` adds ``dataset_dict.json``
(``{"splits": [...]}``) above one such folder per split.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_digits

from embedview.core.loaders import LoadError, load_paths, table_columns

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DEBIAN = Path("/tmp/realdata/debian.csv")


def _with_features(table: pa.Table, features: dict) -> pa.Table:
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode("utf-8")}
    return table.replace_schema_metadata(meta)


def _write_stream(table: pa.Table, path: Path) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=100)  # several record batches, as datasets writes them


@pytest.fixture(scope="module")
def digits_table():
    d = load_digits()
    X, y = d.data[:300].astype(np.float32), d.target[:300].astype(np.int64)
    y[5] = -1  # ClassLabel's "no label"
    features = {"embedding": {"feature": {"dtype": "float32", "_type": "Value"}, "_type": "Sequence"},
                "label": {"names": DIGIT_NAMES, "_type": "ClassLabel"}}
    table = pa.table({"embedding": pa.array(list(X), pa.list_(pa.float32())), "label": pa.array(y, pa.int64())})
    return _with_features(table, features), X, y


@pytest.fixture(scope="module")
def debian_table():
    if not DEBIAN.exists():
        pytest.skip(f"{DEBIAN} is not here")
    with open(DEBIAN, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:240]
    sections = sorted({r["label"] for r in rows})
    features = {"id": {"dtype": "string", "_type": "Value"}, "text": {"dtype": "string", "_type": "Value"},
                "label": {"names": sections, "_type": "ClassLabel"}}
    table = pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows],
                      "label": pa.array([sections.index(r["label"]) for r in rows], pa.int64())})
    return _with_features(table, features), rows, sections


def _expected(y):
    return [None if v == -1 else DIGIT_NAMES[v] for v in y]


def test_parquet_embeddings_read_class_names_from_the_schema(tmp_path, digits_table):
    table, X, y = digits_table
    pq.write_table(table, tmp_path / "train.parquet")
    ds = load_paths(tmp_path / "train.parquet")
    assert ds.modality == "embedding" and np.array_equal(ds.embeddings, X)
    assert list(ds.labels) == _expected(y)  # "seven", not "7"; -1 is unlabelled
    assert set(ds.label_counts()) == set(DIGIT_NAMES)
    # without the metadata the numbers are all there is
    pq.write_table(table.replace_schema_metadata(None), tmp_path / "plain.parquet")
    assert load_paths(tmp_path / "plain.parquet").labels[0] == str(y[0])


def test_parquet_texts_with_class_names(tmp_path, debian_table):
    table, rows, sections = debian_table
    pq.write_table(table, tmp_path / "debian.parquet")
    ds = load_paths(tmp_path / "debian.parquet")
    assert ds.modality == "text" and len(ds) == len(rows)
    assert ds.texts == [r["text"] for r in rows] and ds.ids == [r["id"] for r in rows]
    assert list(ds.labels) == [r["label"] for r in rows]
    cols = table_columns(tmp_path / "debian.parquet")
    assert cols["text_guess"] == "text" and cols["label_guess"] == "label" and cols["vector_guess"] is None


def test_arrow_files_stream_and_file_format(tmp_path, digits_table, debian_table):
    table, X, y = digits_table
    _write_stream(table, tmp_path / "digits.arrow")
    ds = load_paths(tmp_path / "digits.arrow")
    assert np.array_equal(ds.embeddings, X) and list(ds.labels) == _expected(y)
    assert ds.name == "digits.arrow"
    with pa.OSFile(str(tmp_path / "feather.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    assert list(load_paths(tmp_path / "feather.arrow").labels) == _expected(y)
    texts, rows, _ = debian_table
    _write_stream(texts, tmp_path / "debian.arrow")
    ds = load_paths(tmp_path / "debian.arrow")
    assert ds.modality == "text" and list(ds.labels) == [r["label"] for r in rows]
    assert table_columns(tmp_path / "debian.arrow")["text_guess"] == "text"
    (tmp_path / "junk.arrow").write_bytes(b"not arrow at all")
    with pytest.raises(LoadError, match="junk.arrow"):
        load_paths(tmp_path / "junk.arrow")


def _save_to_disk(folder: Path, table: pa.Table, shards: int = 2, metadata_in_shards: bool = False) -> None:
    """What ``Dataset.save_to_disk(folder, num_shards=shards)`` leaves behind."""
    folder.mkdir(parents=True)
    features = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
    plain = table if metadata_in_shards else table.replace_schema_metadata(None)
    step = -(-table.num_rows // shards)
    names = []
    for i in range(shards):
        name = f"data-{i:05d}-of-{shards:05d}.arrow"
        _write_stream(plain.slice(i * step, step), folder / name)
        names.append({"filename": name})
    (folder / "dataset_info.json").write_text(json.dumps({"citation": "", "description": "", "features": features,
                                                          "homepage": "", "license": ""}), encoding="utf-8")
    (folder / "state.json").write_text(json.dumps({"_data_files": names, "_fingerprint": "0123456789abcdef",
                                                   "_format_columns": None, "_format_kwargs": {},
                                                   "_format_type": None, "_output_all_columns": False,
                                                   "_split": "train"}), encoding="utf-8")


def test_save_to_disk_folder(tmp_path, digits_table, debian_table):
    table, X, y = digits_table
    _save_to_disk(tmp_path / "digits_ds", table, shards=3)  # names only in dataset_info.json
    ds = load_paths(tmp_path / "digits_ds")
    assert ds.modality == "embedding" and np.array_equal(ds.embeddings, X)  # shards in order
    assert list(ds.labels) == _expected(y) and ds.name == "digits_ds"
    texts, rows, _ = debian_table
    _save_to_disk(tmp_path / "debian_ds", texts, shards=2, metadata_in_shards=True)
    ds = load_paths(tmp_path / "debian_ds")
    assert ds.modality == "text" and ds.texts == [r["text"] for r in rows]
    assert list(ds.labels) == [r["label"] for r in rows]


def test_dataset_dict_folder_loads_every_split(tmp_path, debian_table):
    texts, rows, _ = debian_table
    root = tmp_path / "debian_dict"
    _save_to_disk(root / "train", texts.slice(0, 200), shards=1)
    _save_to_disk(root / "test", texts.slice(200), shards=1)
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}), encoding="utf-8")
    ds = load_paths(root)
    assert len(ds) == len(rows) and ds.texts == [r["text"] for r in rows]
    assert list(ds.labels) == [r["label"] for r in rows] and len(set(ds.ids)) == len(rows)


def test_a_missing_shard_is_a_problem_and_the_rest_loads(tmp_path, digits_table):
    table, X, _ = digits_table
    _save_to_disk(tmp_path / "ds", table, shards=3)
    (tmp_path / "ds" / "data-00001-of-00003.arrow").unlink()
    ds = load_paths(tmp_path / "ds")
    assert len(ds) == 200 and np.array_equal(ds.embeddings, np.vstack([X[:100], X[200:]]))
    assert any("data-00001-of-00003.arrow" in p.path and "missing" in p.reason for p in ds.problems)


def test_an_image_dataset_says_what_to_do(tmp_path):
    features = {"image": {"_type": "Image"}, "label": {"names": ["cat", "dog"], "_type": "ClassLabel"}}
    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    image = pa.array([{"bytes": b"\x89PNG...", "path": None}], struct)
    pq.write_table(_with_features(pa.table({"image": image, "label": [0]}), features), tmp_path / "img.parquet")
    with pytest.raises(LoadError, match="encoded images"):
        load_paths(tmp_path / "img.parquet")
