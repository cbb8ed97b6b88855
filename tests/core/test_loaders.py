"""core/loaders: every input kind, every bad input, and that the rest still loads."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_digits

from embedview.core.dataset import Dataset
from embedview.core.demo import DIGIT_SIZE
from embedview.core.loaders import LoadError, describe, load_paths, table_columns
from embedview.core.progress import Cancelled, TaskState


def problem_for(ds_or_problems, name):
    """The one problem whose path ends with ``name``."""
    problems = ds_or_problems.problems if isinstance(ds_or_problems, Dataset) else ds_or_problems
    found = [p for p in problems if os.path.basename(p.path) == name or p.path.endswith(name)]
    assert len(found) == 1, [str(p) for p in problems]
    return found[0]


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data.astype(np.float32), d.target


# -- image folders ------------------------------------------------------------------------------


def test_image_folder_labels_ids_and_order(tmp_image_folder):
    ds = load_paths(tmp_image_folder)
    assert ds.modality == "image" and ds.problems == []
    assert len(ds) == 3 * 4 + 4 + 1
    assert ds.ids == sorted(ds.ids, key=lambda s: s.split("/"))  # deterministic, sorted
    i = ds.ids.index("photos/coffee.jpg")
    assert ds.labels[i] == "photos" and ds.sources[i] == str(tmp_image_folder / "photos" / "coffee.jpg")
    assert ds.labels[ds.ids.index("camera.png")] is None  # in the root: unlabelled
    assert ds.label_names == ["digit_0", "digit_1", "digit_7", "photos"]
    assert ds.metadata["width"][ds.ids.index("digit_0/0_000.png")] == DIGIT_SIZE
    assert ds.metadata["width"][i] == 256 and ds.metadata["height"][i] == 171
    assert load_paths(tmp_image_folder).ids == ds.ids


def test_bad_images_become_problems_and_the_rest_loads(tmp_image_folder, bomb_png, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tmp_image_folder, root)
    (root / "photos" / "empty.jpg").write_bytes(b"")
    (root / "photos" / "notes.jpg").write_text("not an image\n")
    shutil.copy(bomb_png, root / "photos" / "bomb.png")
    whole = (root / "photos" / "coffee.jpg").read_bytes()
    (root / "photos" / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "photos" / ".hidden.jpg").write_bytes(whole)
    (root / ".thumbs").mkdir()
    (root / ".thumbs" / "x.jpg").write_bytes(whole)
    (root / "README.txt").write_text("about these images\n")
    os.symlink(root / "nowhere.jpg", root / "photos" / "dangling.jpg")

    ds = load_paths(root)
    assert len(ds) == 17 + 1  # the originals + the truncated one (decoded only at encode time)
    assert "photos/cut.jpg" in ds.ids
    assert not any("hidden" in i or "thumbs" in i for i in ds.ids)
    assert "empty file" in problem_for(ds, "empty.jpg").reason
    assert "not a recognised image" in problem_for(ds, "notes.jpg").reason
    assert "decompression bomb" in problem_for(ds, "bomb.png").reason
    assert "broken symbolic link" in problem_for(ds, "dangling.jpg").reason
    note = problem_for(ds, str(root))
    assert note.severity == "warning" and "1 .txt" in note.reason
    assert str(root / "photos" / "bomb.png") in [str(p).split(": ")[0] for p in ds.problems]


def test_symlink_loop_is_reported_not_followed(tmp_image_folder, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tmp_image_folder, root)
    os.symlink(root, root / "photos" / "loop")
    os.symlink(root / "digit_0", root / "zeros")  # same folder twice: loaded once
    ds = load_paths(root)
    assert len(ds) == 17
    loop = problem_for(ds, "loop")
    assert "symbolic link loop" in loop.reason and str(root) in loop.reason
    assert problem_for(ds, "zeros").severity == "warning"


def test_list_of_image_files(tmp_image_folder, tmp_path):
    files = [tmp_image_folder / "photos" / "cat.jpg", tmp_image_folder / "digit_7" / "7_001.png", tmp_path / "gone.png"]
    ds = load_paths(files)
    assert ds.ids == ["photos/cat.jpg", "digit_7/7_001.png"]
    assert ds.sources == [str(files[0]), str(files[1])]
    assert "no such file" in problem_for(ds, "gone.png").reason


def test_mixing_images_and_text_is_refused(tmp_image_folder, tmp_path):
    (tmp_path / "a.txt").write_text("hello\n")
    with pytest.raises(LoadError, match="cannot load different kinds of data together") as info:
        load_paths([tmp_image_folder, tmp_path / "a.txt"])
    assert str(tmp_path / "a.txt") in str(info.value) and str(tmp_image_folder) in str(info.value)


# -- text -----------------------------------------------------------------------------------------


def test_txt_lines_with_line_number_ids(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("first line\n\n   \nsecond line  \r\nthird\n")
    ds = load_paths(path)
    assert ds.modality == "text" and ds.texts == ["first line", "second line", "third"]
    assert ds.ids == ["notes.txt:1", "notes.txt:4", "notes.txt:5"]
    assert ds.labels is None and ds.sources == [str(path)] * 3


def test_csv_columns_by_name(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('id,stars,Body,category\nr1,5,"Great sound, comfy",audio\nr2,1,Broke in a week,audio\n'
                    "r3,4,Tasty and quick,food\n")
    ds = load_paths(path)
    assert ds.texts == ["Great sound, comfy", "Broke in a week", "Tasty and quick"]
    assert ds.ids == ["r1", "r2", "r3"] and list(ds.labels) == ["audio", "audio", "food"]
    assert ds.metadata == {"stars": ["5", "1", "4"]}
    assert table_columns(path) == {
        "kind": "table", "columns": ["id", "stars", "Body", "category"],
        "text_guess": "Body", "label_guess": "category", "id_guess": "id",
    }  # fmt: skip


def test_csv_text_column_fallback_explicit_and_missing(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a;b;c\n1;a long sentence about cameras;x\n2;another long sentence here;y\n")  # ; separated
    ds = load_paths(path)
    assert ds.texts == ["a long sentence about cameras", "another long sentence here"]
    assert load_paths(path, text_column="c", label_column="b").texts == ["x", "y"]
    with pytest.raises(LoadError) as info:
        load_paths(path, text_column="review")
    assert "text column 'review' not found" in str(info.value) and "a, b, c" in str(info.value)
    assert str(path) in str(info.value)


def test_csv_without_text_column_lists_the_columns(tmp_path):
    bad = tmp_path / "numbers.csv"
    bad.write_text("x,y,z\n1,2,3\n4,5,6\n")
    good = tmp_path / "ok.txt"
    good.write_text("one\ntwo\n")
    ds = load_paths([bad, good])
    assert ds.texts == ["one", "two"]
    p = problem_for(ds, "numbers.csv")
    assert "no text column" in p.reason and "x, y, z" in p.reason


def test_csv_bad_rows_and_empty_text_are_listed_by_line(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("text\tlabel\nfine row\ta\ntoo\tmany\tfields\n\tb\nlast row\tb\n")
    ds = load_paths(path)
    assert ds.texts == ["fine row", "last row"] and ds.ids == ["t.tsv:2", "t.tsv:5"]
    reasons = " | ".join(p.reason for p in ds.problems)
    assert "line 3 (3 fields, the header has 2)" in reasons and "line 4" in reasons


def test_jsonl_with_bad_lines(tmp_path):
    path = tmp_path / "q.jsonl"
    lines = ['{"query": "cheap flights to rome", "y": 1, "tags": ["a"]}', "{not json", "[1, 2]", "",
             '{"query": "pasta recipe", "y": 2}']
    path.write_text("\n".join(lines) + "\n")
    ds = load_paths(path)
    assert ds.texts == ["cheap flights to rome", "pasta recipe"]
    assert list(ds.labels) == ["1", "2"] and ds.ids == ["q.jsonl:1", "q.jsonl:5"]
    assert ds.metadata["tags"] == ['["a"]', None]
    bad = [p for p in ds.problems if "not valid JSON" in p.reason][0]
    assert "line 2" in bad.reason and "line 3 (a JSON list" in bad.reason and bad.path == str(path)
    strings = tmp_path / "s.jsonl"
    strings.write_text('"first item"\n"second item"\n')
    assert load_paths(strings).texts == ["first item", "second item"]


def test_non_utf8_text_is_decoded_with_a_stated_fallback(tmp_path):
    cp = tmp_path / "cp1252.txt"
    cp.write_bytes("café crème\nnaïve €5\n".encode("cp1252"))
    ds = load_paths(cp)
    assert ds.texts == ["café crème", "naïve €5"]
    warn = problem_for(ds, "cp1252.txt")
    assert warn.severity == "warning" and "not valid UTF-8" in warn.reason and "cp1252" in warn.reason
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"caf\xe9 \x81\n")  # 0x81 is undefined in cp1252
    assert "latin-1" in problem_for(load_paths(latin), "latin.txt").reason
    bom = tmp_path / "bom.csv"
    bom.write_bytes("text,label\nhello,a\n".encode("utf-8-sig"))
    ds = load_paths(bom)
    assert ds.texts == ["hello"] and ds.problems == []


def test_empty_files(tmp_path):
    empty = [("zero.txt", b""), ("blank.txt", b"\n  \n"), ("zero.csv", b""), ("header.csv", b"text,label\n")]
    for name, content in empty:
        (tmp_path / name).write_bytes(content)
    (tmp_path / "ok.txt").write_text("content\n")
    ds = load_paths(sorted(tmp_path.iterdir()))
    assert ds.texts == ["content"]
    assert "empty file (0 bytes)" in problem_for(ds, "zero.txt").reason
    assert "empty file" in problem_for(ds, "blank.txt").reason
    assert "empty file (0 bytes)" in problem_for(ds, "zero.csv").reason
    assert "only a header" in problem_for(ds, "header.csv").reason


def test_missing_unknown_and_nothing_loadable(tmp_path):
    (tmp_path / "a.txt").write_text("x\n")
    (tmp_path / "model.onnx").write_bytes(b"\x00\x01")
    ds = load_paths([tmp_path / "a.txt", tmp_path / "missing.csv", tmp_path / "model.onnx"])
    assert len(ds) == 1
    assert "no such file" in problem_for(ds, "missing.csv").reason
    assert "unsupported file type '.onnx'" in problem_for(ds, "model.onnx").reason
    with pytest.raises(LoadError, match="nothing could be loaded") as info:
        load_paths([tmp_path / "missing.csv", tmp_path / "model.onnx"])
    assert len(info.value.problems) == 2 and "missing.csv: no such file" in str(info.value)


def test_100k_text_lines_load_in_order_with_unique_ids(tmp_path):
    """(Load speed is measured by ``benchmarks/bench_load.py``.)"""
    path = tmp_path / "big.txt"
    path.write_text("".join(f"sentence number {i} about a topic\n" for i in range(100_000)))
    ds = load_paths(path)
    assert len(ds) == 100_000 and ds.texts[-1] == "sentence number 99999 about a topic"
    assert ds.texts[0] == "sentence number 0 about a topic"
    assert len(set(ds.ids)) == 100_000


# -- precomputed embeddings -------------------------------------------------------------------


def test_npy_is_memory_mapped_not_copied(tmp_path, digits):
    x, _ = digits
    np.save(tmp_path / "emb.npy", x)
    ds = load_paths(tmp_path / "emb.npy")
    assert ds.modality == "embedding" and ds.embeddings.shape == x.shape
    assert isinstance(ds.embeddings, np.memmap) and not ds.embeddings.flags.writeable
    assert os.path.samefile(ds.embeddings.filename, tmp_path / "emb.npy")
    assert np.array_equal(ds.embeddings, x) and ds.ids[:2] == ["0", "1"]
    np.save(tmp_path / "emb64.npy", x.astype(np.float64))  # other dtypes: converted once
    ds = load_paths(tmp_path / "emb64.npy")
    assert ds.embeddings.dtype == np.float32 and np.array_equal(ds.embeddings, x)


def test_npy_bad_shapes_and_nonfinite_rows(tmp_path, digits):
    x, _ = digits
    np.save(tmp_path / "vec.npy", x[0])
    bad = x[:10].copy()
    bad[3, 5], bad[7, 0] = np.nan, -np.inf
    np.save(tmp_path / "nan.npy", bad)
    np.save(tmp_path / "words.npy", np.array([["a", "b"], ["c", "d"]]))
    ds = load_paths([tmp_path / "vec.npy", tmp_path / "nan.npy", tmp_path / "words.npy"])
    assert "1-D array of shape (64,)" in problem_for(ds, "vec.npy").reason
    assert "expected numbers" in problem_for(ds, "words.npy").reason
    nan = problem_for(ds, "nan.npy")
    assert nan.reason.startswith("2 vectors skipped that contain NaN or infinity") and "row 3; row 7" in nan.reason
    assert len(ds) == 8 and "3" not in ds.ids and "7" not in ds.ids
    assert np.array_equal(ds.embeddings, np.delete(x[:10], [3, 7], axis=0))


def test_several_files_concatenate_and_other_dimensions_are_skipped(tmp_path, digits):
    x, _ = digits
    np.save(tmp_path / "a.npy", x[:5])
    np.save(tmp_path / "b.npy", x[5:8])
    np.save(tmp_path / "c.npy", x[:4, :10])
    ds = load_paths([tmp_path / "a.npy", tmp_path / "b.npy", tmp_path / "c.npy"])
    assert np.array_equal(ds.embeddings, x[:8]) and len(set(ds.ids)) == 8
    assert "10 dimensions" in problem_for(ds, "c.npy").reason


def test_npz_with_ids_labels_paths_and_metadata(tmp_path, digits):
    x, y = digits
    n = 20
    np.savez(
        tmp_path / "emb.npz", embeddings=x[:n], ids=np.array([f"img{i}" for i in range(n)]), labels=y[:n],
        paths=np.array([f"imgs/{i}.png" for i in range(n)]), score=np.linspace(0, 1, n), short=np.arange(3),
    )  # fmt: skip
    ds = load_paths(tmp_path / "emb.npz")
    assert np.array_equal(ds.embeddings, x[:n]) and ds.ids[0] == "img0"
    assert list(ds.labels[:3]) == [str(v) for v in y[:3]]
    assert ds.sources[1] == str(tmp_path / "imgs" / "1.png")
    assert np.allclose(ds.metadata["score"], np.linspace(0, 1, n)) and "short" not in ds.metadata
    assert "'short' has 3 entries for 20 vectors" in problem_for(ds, "emb.npz").reason

    np.savez(tmp_path / "two.npz", a=x[:5], b=x[:5, :3])
    with pytest.raises(LoadError) as info:
        load_paths(tmp_path / "two.npz")
    assert "several 2-D arrays" in str(info.value) and "a (5, 64)" in str(info.value)


def test_parquet_fixed_size_list_with_metadata(tmp_path, digits):
    x, y = digits
    n = 50
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(x[:n].ravel()), 64)
    table = pa.table({"doc_id": [f"d{i}" for i in range(n)], "emb": vectors, "class": y[:n],
                      "caption": [f"digit {v}" for v in y[:n]]})
    pq.write_table(table, tmp_path / "e.parquet", row_group_size=16)
    ds = load_paths(tmp_path / "e.parquet")
    assert ds.embeddings.dtype == np.float32 and np.array_equal(ds.embeddings, x[:n])
    assert ds.ids[:2] == ["d0", "d1"] and list(ds.labels[:3]) == [str(v) for v in y[:3]]
    assert ds.texts[0] == f"digit {y[0]}" and ds.metadata == {}
    cols = table_columns(tmp_path / "e.parquet")
    assert cols["vector_guess"] == "emb" and cols["label_guess"] == "class" and cols["id_guess"] == "doc_id"


def test_parquet_ragged_null_and_nan_rows(tmp_path):
    rows = [[1.0, 2.0, 3.0], [4.0, 5.0], None, [float("nan"), 0.0, 1.0], [7.0, 8.0, 9.0]]
    pq.write_table(pa.table({"vector": pa.array(rows, pa.list_(pa.float64())), "note": list("abcde")}),
                   tmp_path / "v.parquet")
    ds = load_paths(tmp_path / "v.parquet")
    assert np.array_equal(ds.embeddings, np.array([[1, 2, 3], [7, 8, 9]], dtype=np.float32))
    assert ds.ids == ["0", "4"] and ds.metadata["note"] == ["a", "e"]
    reasons = {p.reason.split(":")[0]: p.reason for p in ds.problems}
    assert "row 1 (2 values, expected 3)" in reasons["1 rows skipped with the wrong number of values"]
    assert "row 2" in reasons["1 rows skipped with an empty 'vector'"]
    assert "row 3" in reasons["1 vectors skipped that contain NaN or infinity"]

    pq.write_table(pa.table({"count": [1], "value": [1.0]}), tmp_path / "flat.parquet")
    with pytest.raises(LoadError) as info:
        load_paths(tmp_path / "flat.parquet")
    assert "no vector column" in str(info.value) and "count (int64), value (double)" in str(info.value)
    # a string column and no vector column: a table of texts
    pq.write_table(pa.table({"name": ["a cat on a mat"], "value": [1.0]}), tmp_path / "texts.parquet")
    texts = load_paths(tmp_path / "texts.parquet")
    assert texts.modality == "text" and texts.texts == ["a cat on a mat"] and texts.metadata == {"value": [1.0]}


def write_projector(folder, x, vectors_name="vectors.tsv"):
    lines = ["\t".join(f"{v:g}" for v in row) for row in x]
    (folder / vectors_name).write_text("\n".join(lines) + "\n")
    return folder / vectors_name


def test_projector_vectors_with_metadata_given_or_found(tmp_path, digits):
    x, y = digits
    n = 30
    vec = write_projector(tmp_path, x[:n])
    (tmp_path / "labels_meta.tsv").write_text("Label\tindex\n" + "".join(f"{y[i]}\t{i}\n" for i in range(n)))
    ds = load_paths([vec, tmp_path / "labels_meta.tsv"])
    assert np.allclose(ds.embeddings, x[:n]) and list(ds.labels) == [str(v) for v in y[:n]]
    assert ds.metadata["index"][5] == "5" and ds.problems == []

    single = tmp_path / "single"
    single.mkdir()
    vec2 = write_projector(single, x[:n], "word_vectors.tsv")
    (single / "word_metadata.tsv").write_text("".join(f"{y[i]}\n" for i in range(n)))  # one column: no header
    ds = load_paths(vec2)  # found next to it
    assert list(ds.labels) == [str(v) for v in y[:n]]


def test_projector_bad_rows_and_metadata_mismatch(tmp_path, digits):
    x, y = digits
    lines = ["\t".join(f"{v:g}" for v in row) for row in x[:6]]
    lines[2] = "\t".join(lines[2].split("\t")[:10])  # ragged
    lines[4] = lines[4].replace("0", "zero", 1)  # non-numeric
    (tmp_path / "vectors.tsv").write_text("\n".join(lines) + "\n")
    (tmp_path / "metadata.tsv").write_text("".join(f"{y[i]}\n" for i in range(6)))
    ds = load_paths(tmp_path / "vectors.tsv")
    assert len(ds) == 4 and np.allclose(ds.embeddings, x[[0, 1, 3, 5]])
    assert list(ds.labels) == [str(y[i]) for i in (0, 1, 3, 5)]  # metadata stays aligned
    bad = problem_for(ds, "vectors.tsv").reason
    assert "line 3 (10 values, expected 64)" in bad and "line 5 (not a number: 'zero')" in bad

    (tmp_path / "metadata.tsv").write_text("".join(f"{y[i]}\n" for i in range(5)))
    ds = load_paths(tmp_path / "vectors.tsv")
    assert len(ds) == 4 and ds.labels is None
    meta = problem_for(ds, "metadata.tsv")
    assert "metadata has 5 rows but the vectors file has 6; metadata ignored" in meta.reason


# -- cross-cutting ------------------------------------------------------------------------------


def test_input_files_are_never_modified(tmp_image_folder, tmp_path, digits):
    x, y = digits
    shutil.copytree(tmp_image_folder, tmp_path / "imgs")
    np.save(tmp_path / "e.npy", x[:10])
    np.savez(tmp_path / "e.npz", embeddings=x[:10])
    pq.write_table(pa.table({"embedding": pa.FixedSizeListArray.from_arrays(pa.array(x[:10].ravel()), 64)}),
                   tmp_path / "e.parquet")
    write_projector(tmp_path, x[:10])
    (tmp_path / "t.csv").write_text("text,label\nhi,a\n")
    (tmp_path / "t.jsonl").write_text('{"text": "hi"}\n')
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    time.sleep(0.01)
    load_paths(tmp_path / "imgs")
    load_paths([tmp_path / "e.npy", tmp_path / "e.npz", tmp_path / "e.parquet", tmp_path / "vectors.tsv"])
    load_paths([tmp_path / "t.csv", tmp_path / "t.jsonl"])
    table_columns(tmp_path / "t.csv")
    after = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert after == files  # nothing written next to the data
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before


def test_progress_and_cancel(tmp_image_folder):
    seen = []
    load_paths(tmp_image_folder, progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen)
    task = TaskState()
    task.cancel()
    with pytest.raises(Cancelled):
        load_paths(tmp_image_folder, progress=task)


def test_describe(demo_data, tmp_path):
    info = describe(load_paths(demo_data["images"]))
    assert info["modality"] == "image" and info["n_items"] == 5 * 10 + 17 and info["dim"] is None
    assert info["labels"]["digit_3"] == 10 and info["labels"]["photos"] == 17 and info["n_labels"] == 6
    np.save(tmp_path / "e.npy", np.ones((4, 3), dtype=np.float32))
    np.save(tmp_path / "bad.npy", np.ones(3))
    info = describe(load_paths([tmp_path / "e.npy", tmp_path / "bad.npy"]))
    assert info["dim"] == 3 and info["n_items"] == 4 and info["labels"] == {}
    assert info["n_problems"] == 1 and "bad.npy: 1-D array" in info["problems"][0]
    json.dumps(info)  # JSON-ready


def test_table_columns_errors(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(LoadError, match="empty file"):
        table_columns(tmp_path / "empty.csv")
    with pytest.raises(LoadError, match="no such file"):
        table_columns(tmp_path / "nope.csv")
    (tmp_path / "v.tsv").write_text("1\t2\n3\t4\n")
    assert table_columns(tmp_path / "v.tsv")["kind"] == "vectors"


def test_label_counts_most_frequent_first_then_by_name():
    ds = Dataset("text", ids=list("abcdef"), sources=["t.txt"] * 6, texts=list("abcdef"),
                 labels=np.array(["b", "a", None, "b", "c", "a"], dtype=object))
    assert list(ds.label_counts().items()) == [("a", 2), ("b", 2), ("c", 1)]
    assert describe(ds)["labels"] == ds.label_counts() and describe(ds)["n_labelled"] == 5
    assert Dataset("text", ids=["x"], sources=["t.txt"], texts=["x"]).label_counts() == {}
