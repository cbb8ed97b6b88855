"""Splits (issue 12): ``ROOT/train/cat/x.png`` loads with label "cat" and metadata ``split`` =
"train"; a folder of label folders only loads as before; a ``split`` column of a table or vector
file (any case) is kept as metadata ``split``.  Real files: digit images from scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from embedview.core.loaders import describe, load_paths, table_columns


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.images, d.target


def _png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((image * 255 / 16).astype(np.uint8)).resize((16, 16)).save(path)


def _folder(root, layout, digits):
    """``layout``: {relative folder: [digit class, ...]} -> one PNG per entry, real digit images."""
    images, target = digits
    used = {c: iter(np.flatnonzero(target == c)) for c in range(10)}
    for folder, classes in layout.items():
        for k, c in enumerate(classes):
            _png(root / folder / f"img{k:02d}.png", images[next(used[c])])
    return root


def test_split_folders_above_label_folders(tmp_path, digits):
    root = _folder(tmp_path / "digits", {"train/three": [3, 3, 3], "train/seven": [7, 7], "Test/three": [3],
                                         "test/seven": [7], "VAL/seven": [7]}, digits)
    ds = load_paths(root)
    by_id = dict(zip(ds.ids, zip(ds.labels, ds.metadata["split"], strict=True), strict=True))
    assert by_id["train/three/img00.png"] == ("three", "train")
    assert by_id["train/seven/img01.png"] == ("seven", "train")
    assert by_id["Test/three/img00.png"] == ("three", "Test")
    assert by_id["VAL/seven/img00.png"] == ("seven", "VAL")
    assert sorted(ds.label_counts().items()) == [("seven", 4), ("three", 4)]
    assert "split" in describe(ds)["metadata_columns"] and not ds.problems


def test_every_known_split_name_and_images_directly_in_a_split(tmp_path, digits):
    names = ["train", "training", "val", "valid", "validation", "dev", "test", "testing", "holdout", "eval"]
    root = _folder(tmp_path / "d", {f"{n}/one": [1] for n in names} | {"train": [2], ".": [4]}, digits)
    ds = load_paths(root)
    rows = dict(zip(ds.ids, zip(ds.labels, ds.metadata["split"], strict=True), strict=True))
    for n in names:
        assert rows[f"{n}/one/img00.png"] == ("one", n)
    assert rows["train/img00.png"] == (None, "train")  # in a split, in no label folder
    assert rows["img00.png"] == (None, None)  # directly in ROOT


def test_label_folders_only_load_as_before(tmp_path, digits):
    root = _folder(tmp_path / "d", {"three": [3, 3], "seven": [7]}, digits)
    ds = load_paths(root)
    assert list(ds.labels) == ["seven", "three", "three"] and "split" not in ds.metadata
    # a label that happens to be a split name, beside labels that are not: still labels
    mixed = _folder(tmp_path / "m", {"three": [3], "test": [7]}, digits)
    ds = load_paths(mixed)
    assert list(ds.labels) == ["test", "three"] and "split" not in ds.metadata
    # the split folder itself dropped: its sub-folders are the labels
    root = _folder(tmp_path / "s", {"train/three": [3], "train/seven": [7]}, digits)
    ds = load_paths(root / "train")
    assert list(ds.labels) == ["seven", "three"] and "split" not in ds.metadata


def test_split_column_of_text_tables_is_metadata_split(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("uid,Split,note\n1,validation,ok\n2,train,fine\n3,train,bad\n", encoding="utf-8")
    ds = load_paths(csv)
    assert ds.texts == ["ok", "fine", "bad"]  # the longer split names are never the text
    assert ds.metadata["split"] == ["validation", "train", "train"] and "Split" not in ds.metadata
    assert table_columns(csv)["text_guess"] == "note"
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": t, "SPLIT": s}) for t, s in [("a b", "test"), ("c", "train")]),
                     encoding="utf-8")
    assert load_paths(jsonl).metadata["split"] == ["test", "train"]
    pq.write_table(pa.table({"text": ["x y", "z"], "split": ["dev", "train"]}), tmp_path / "t.parquet")
    ds = load_paths(tmp_path / "t.parquet")
    assert ds.modality == "text" and ds.metadata["split"] == ["dev", "train"]


def test_split_column_of_vector_files_is_metadata_split(tmp_path):
    X = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    split = ["train", "train", "test", "val"]
    pq.write_table(pa.table({"embedding": list(X), "Split": split}), tmp_path / "e.parquet")
    assert list(load_paths(tmp_path / "e.parquet").metadata["split"]) == split
    np.savez(tmp_path / "e.npz", embeddings=X, split=np.array(split))
    assert list(load_paths(tmp_path / "e.npz").metadata["split"]) == split
    np.savetxt(tmp_path / "vectors.tsv", X, delimiter="\t")
    (tmp_path / "metadata.tsv").write_text("label\tSPLIT\n" + "".join(f"a\t{s}\n" for s in split), encoding="utf-8")
    ds = load_paths(tmp_path / "vectors.tsv")
    assert list(ds.metadata["split"]) == split and list(ds.labels) == ["a"] * 4


def _stream(table, path):
    with pa.ipc.new_stream(path, table.schema) as w:
        w.write_table(table)


def test_dataset_dict_splits_fill_the_split_column(tmp_path):
    root = tmp_path / "dd"
    for split, texts in (("train", ["one two", "three"]), ("test", ["four"])):
        (root / split).mkdir(parents=True)
        _stream(pa.table({"text": texts}), root / split / "data-00000-of-00001.arrow")
        state = {"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}
        (root / split / "state.json").write_text(json.dumps(state), encoding="utf-8")
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}), encoding="utf-8")
    ds = load_paths(root)
    assert ds.texts == ["one two", "three", "four"] and ds.metadata["split"] == ["train", "train", "test"]
