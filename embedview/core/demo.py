"""A small, real demo dataset, written on demand into a cache folder.

``build_demo(folder)`` writes::

    folder/images/digit_0/0_000.png ...   handwritten digits (scikit-learn ``load_digits``),
    folder/images/digit_1/...             drawn at 96 x 96 as coloured stickers (random pose)
    folder/images/photos/coffee.jpg ...   scikit-image sample photos, plus planted near-duplicates
    folder/images/photos/coffee_copy.jpg  (resized + JPEG-recompressed copies, ``*_copy.jpg``)
    folder/texts.csv                      short texts in 5 topics (columns id, text, label,
                                          duplicate_of), 4 planted paraphrases
    folder/manifest.json                  what was written (lets a second call reuse it)

So the app has something meaningful to show offline: label clusters for kNN / probe metrics,
and known duplicates for the duplicate finder.  Nothing is written outside ``folder``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from importlib.resources import files
from pathlib import Path

import numpy as np
from PIL import Image

#: Bump when the demo's content changes, so old caches get rebuilt.
DEMO_VERSION = 4
DIGIT_CLASSES = (0, 1, 3, 4, 7)
DIGIT_SIZE = 96
PHOTO_MAX_SIDE = 384
#: photo name -> scikit-image loader name (all bundled with scikit-image, no download)
PHOTOS = {
    "astronaut": "astronaut",
    "coffee": "coffee",
    "cat": "chelsea",
    "rocket": "rocket",
    "motorcycle": "stereo_motorcycle",
    "hubble": "hubble_deep_field",
    "cells": "immunohistochemistry",
    "colorwheel": "colorwheel",
    "camera": "camera",
    "coins": "coins",
    "moon": "moon",
    "page": "page",
    "brick": "brick",
    "grass": "grass",
}
#: photos that get a near-duplicate ``<name>_copy.jpg``
NEAR_DUPLICATES = ("coffee", "astronaut", "cat")
TEXTS_RESOURCE = "demo_texts.csv"
_MARKER = ".embedview-demo"
_MANIFEST = "manifest.json"


def digit_images(n_per_class: int, classes: Sequence[int] = DIGIT_CLASSES,
                 size: int = DIGIT_SIZE) -> Iterator[tuple[int, int, Image.Image]]:
    """``(digit, k, image)`` for the first ``n_per_class`` scikit-learn digits of each class.

    Each 8 x 8 digit (values 0-16) is drawn like a photographed sticker: coloured ink on a
    coloured card, at a random size, angle and position (seeded, so the demo is the same on
    every machine).  Plain upscaled digits all look alike to an ImageNet encoder (cosine ~0.95
    within a class), which would make every digit a "near-duplicate" of its classmates.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(20261122)
    for digit in classes:
        idx = np.flatnonzero(digits.target == digit)[:n_per_class]
        for k, i in enumerate(idx):
            alpha = np.clip(digits.images[i] / 16.0, 0.0, 1.0)
            glyph_side = int(size * rng.uniform(0.55, 0.95))
            mask = Image.fromarray((alpha * 255).astype(np.uint8)).resize((glyph_side, glyph_side),
                                                                          Image.Resampling.BICUBIC)
            mask = mask.rotate(float(rng.uniform(-25, 25)), resample=Image.Resampling.BICUBIC, expand=True)
            paper = tuple(int(c) for c in rng.integers(150, 256, size=3))
            ink = tuple(int(c) for c in rng.integers(0, 110, size=3))
            canvas = Image.new("RGB", (size, size), paper)
            x = int(rng.integers(0, max(1, size - mask.width + 1)))
            y = int(rng.integers(0, max(1, size - mask.height + 1)))
            canvas.paste(Image.new("RGB", mask.size, ink), (x, y), mask)
            yield digit, k, canvas


def photo_images(names: Sequence[str] = tuple(PHOTOS), max_side: int = PHOTO_MAX_SIDE) -> dict[str, Image.Image]:
    """The scikit-image sample photos ``names`` (keys of :data:`PHOTOS`), longer side at most ``max_side``."""
    import skimage.data

    out = {}
    for name in names:
        arr = getattr(skimage.data, PHOTOS[name])()
        if isinstance(arr, tuple):  # stereo_motorcycle -> (left, right, disparity)
            arr = arr[0]
        im = Image.fromarray(np.asarray(arr))
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out[name] = im
    return out


def near_duplicate(im: Image.Image, scale: float = 0.75) -> Image.Image:
    """A resized RGB copy of ``im``; saved as a JPEG it looks like a re-upload (web-sized copy)."""
    w, h = im.size
    return im.convert("RGB").resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.Resampling.LANCZOS)


def demo_dir() -> Path:
    """Where the app and ``embedview demo`` build the demo data: ``<embedview cache dir>/demo``."""
    from embedview.core.cache import cache_dir

    return cache_dir("demo")


def build_demo(folder: str | os.PathLike, n_per_class: int = 30) -> dict[str, Path]:
    """Write the demo dataset into ``folder`` (or reuse it) and return its two paths.

    Returns ``{"images": folder/"images", "texts": folder/"texts.csv"}``.  Idempotent: when
    ``folder/manifest.json`` lists the same version and ``n_per_class`` and every file it
    lists is present with its size, nothing is written.  Otherwise the demo is built in a
    hidden temporary folder inside ``folder`` and moved into place; ``manifest.json`` is
    written last, so an interrupted build is detected and redone.  Refuses (``FileExistsError``)
    to replace an ``images`` folder or ``texts.csv`` it did not create.
    """
    folder = Path(folder)
    out = {"images": folder / "images", "texts": folder / "texts.csv"}
    if _is_complete(folder, n_per_class):
        return out
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / _MARKER
    if not marker.exists() and any(p.exists() for p in out.values()):
        raise FileExistsError(f"{folder} already holds 'images' or 'texts.csv' not written by embedview; "
                              "use an empty folder")
    marker.write_text("written by embedview.core.demo.build_demo\n", encoding="utf-8")

    tmp = folder / f".build-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        listing = _write_all(tmp, n_per_class)
        for target in out.values():
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(tmp / target.name, target)
        manifest = {"version": DEMO_VERSION, "n_per_class": n_per_class, "files": listing}
        (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp / _MANIFEST, folder / _MANIFEST)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _write_all(tmp: Path, n_per_class: int) -> dict[str, int]:
    """Write images/ and texts.csv under ``tmp``; return {relative path: size in bytes}."""
    images = tmp / "images"
    for digit, k, im in digit_images(n_per_class):
        target = images / f"digit_{digit}" / f"{digit}_{k:03d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        im.save(target, "PNG")
    photos_dir = images / "photos"
    photos_dir.mkdir(parents=True, exist_ok=True)
    for name, im in photo_images().items():
        im.save(photos_dir / f"{name}.jpg", "JPEG", quality=92)
        if name in NEAR_DUPLICATES:
            near_duplicate(im).save(photos_dir / f"{name}_copy.jpg", "JPEG", quality=90)
    (tmp / "texts.csv").write_bytes(files("embedview.resources").joinpath(TEXTS_RESOURCE).read_bytes())
    return {p.relative_to(tmp).as_posix(): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}


def _is_complete(folder: Path, n_per_class: int) -> bool:
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("version") != DEMO_VERSION or manifest.get("n_per_class") != n_per_class:
            return False
        return all((folder / rel).is_file() and (folder / rel).stat().st_size == size
                   for rel, size in manifest["files"].items())
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return False
