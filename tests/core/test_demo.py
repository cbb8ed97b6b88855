"""core/demo: real demo data, with planted near-duplicates, built once and reused."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from embedview.core.demo import NEAR_DUPLICATES, PHOTOS, build_demo
from embedview.core.loaders import load_paths


def test_demo_images_are_labelled_and_loadable(demo_data):
    ds = load_paths(demo_data["images"])
    assert ds.problems == []
    assert ds.label_names == ["digit_0", "digit_1", "digit_3", "digit_4", "digit_7", "photos"]
    counts = {name: int((ds.labels == name).sum()) for name in ds.label_names}
    assert counts == {**{f"digit_{d}": 10 for d in (0, 1, 3, 4, 7)}, "photos": len(PHOTOS) + len(NEAR_DUPLICATES)}
    assert "photos/cat.jpg" in ds.ids and "photos/coffee_copy.jpg" in ds.ids


def test_digits_are_distinct_stickers_with_dark_ink(demo_data):
    """Each digit is drawn as dark ink on a lighter card, in its own pose: no two are alike."""
    from embedview.core.demo import DIGIT_SIZE, digit_images

    files = sorted((demo_data["images"] / "digit_0").glob("*.png"))
    arrays = [np.asarray(Image.open(f).convert("RGB"), dtype=float) for f in files]
    for a in arrays:
        assert a.shape == (DIGIT_SIZE, DIGIT_SIZE, 3)
        gray = a.mean(axis=2)
        paper = np.median(gray)  # most of the card is paper
        assert gray.min() < paper - 60  # there is ink, clearly darker than the card
    diffs = [np.abs(arrays[i] - arrays[j]).mean() for i in range(len(arrays)) for j in range(i)]
    assert min(diffs) > 5  # poses and colours differ: no two stickers are near-copies
    # seeded: the same digits come out on every machine
    first = [np.asarray(im) for _, _, im in digit_images(2, classes=(0,))]
    again = [np.asarray(im) for _, _, im in digit_images(2, classes=(0,))]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=False))


def test_planted_image_duplicates_are_near_copies(demo_data):
    photos = demo_data["images"] / "photos"

    def small(name):
        return np.asarray(Image.open(photos / name).convert("L").resize((64, 64), Image.Resampling.BOX), dtype=float)

    for name in NEAR_DUPLICATES:
        original, copy = small(f"{name}.jpg"), small(f"{name}_copy.jpg")
        assert (photos / f"{name}.jpg").read_bytes() != (photos / f"{name}_copy.jpg").read_bytes()
        assert Image.open(photos / f"{name}_copy.jpg").size < Image.open(photos / f"{name}.jpg").size
        near = np.abs(original - copy).mean()
        nearest_other = min(np.abs(original - small(f"{o}.jpg")).mean() for o in PHOTOS if o != name)
        assert near < 3 and nearest_other > 5 * near, (name, near, nearest_other)


def test_demo_texts_have_topics_and_planted_paraphrases(demo_data):
    ds = load_paths(demo_data["texts"])
    assert ds.modality == "text" and ds.problems == [] and 60 <= len(ds) <= 120
    assert ds.label_names == ["cooking", "electronics", "finance", "sports", "travel"]
    dup_of = ds.metadata["duplicate_of"]
    planted = [(i, ds.ids.index(target)) for i, target in enumerate(dup_of) if target]
    assert len(planted) >= 2
    for i, j in planted:  # (that they are close in meaning is checked with a real encoder elsewhere)
        assert ds.labels[i] == ds.labels[j] and ds.texts[i] != ds.texts[j] and not dup_of[j]
    assert len(set(ds.texts)) == len(ds)  # no accidental exact duplicates


def test_build_is_idempotent_and_repairs_itself(tmp_path):
    out = build_demo(tmp_path, n_per_class=2)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    stamps = {p: p.stat().st_mtime_ns for p in files}
    assert build_demo(tmp_path, n_per_class=2) == out
    assert {p: p.stat().st_mtime_ns for p in files} == stamps  # reused, nothing rewritten
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".build")]

    (out["images"] / "photos" / "coffee_copy.jpg").unlink()  # incomplete -> rebuilt
    build_demo(tmp_path, n_per_class=2)
    assert (out["images"] / "photos" / "coffee_copy.jpg").is_file()
    build_demo(tmp_path, n_per_class=3)  # other size -> rebuilt with 3 per class
    assert len(list((out["images"] / "digit_7").glob("*.png"))) == 3
    with open(out["texts"], newline="", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["id", "text", "label", "duplicate_of"]


def test_never_replaces_foreign_files(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "mine.jpg").write_bytes(b"user data")
    with pytest.raises(FileExistsError):
        build_demo(tmp_path, n_per_class=1)
    assert (tmp_path / "images" / "mine.jpg").read_bytes() == b"user data"
