"""Real image sets with planted near-copies, for the duplicate threshold's acceptance tests.

Both sets are built from real images (scikit-image photos, scikit-learn digits), not the demo:

* :func:`photo_set` -- regime (a), most items have copies: each photo with 4 near-copies made as
  a user's folder gets them (resized by half, JPEG quality 30, brightened 25 %, cropped 3 %).
* :func:`digit_set` -- regime (b), many distinct but similar items: digits of a few classes drawn
  as plain upscaled grey images (one digit written many times, the encoder puts classmates at
  cosine ~0.9), a few photos, and a few planted copies of some digits.

:func:`encode` runs the real ``default-image`` encoder (EfficientNet-Lite0) without the cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "horse", "immunohistochemistry", "hubble_deep_field")


def _half(im: Image.Image) -> Image.Image:
    return im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.Resampling.BILINEAR)


def _brighter(im: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(im).enhance(1.25)


def _cropped(im: Image.Image) -> Image.Image:
    dx, dy = max(1, round(im.width * 0.03)), max(1, round(im.height * 0.03))
    return im.crop((dx, dy, im.width - dx, im.height - dy))


#: (file suffix, transform, JPEG quality or None for PNG): the four near-copies of the issue
COPY_KINDS: tuple[tuple[str, Callable[[Image.Image], Image.Image], int | None], ...] = (
    ("half", _half, None),
    ("q30", lambda im: im, 30),
    ("bright", _brighter, None),
    ("crop", _cropped, None),
)


def _save(im: Image.Image, path: Path, quality: int | None) -> str:
    if quality is None:
        im.save(path.with_suffix(".png"))
        return str(path.with_suffix(".png"))
    im.convert("RGB").save(path.with_suffix(".jpg"), "JPEG", quality=quality)
    return str(path.with_suffix(".jpg"))


def _photo(name: str, max_side: int = 256) -> Image.Image:
    from skimage import data as skdata

    im = getattr(skdata, name)()
    if im.dtype != np.uint8:
        im = im.astype(np.float64)
        im = (255 * (im - im.min()) / (np.ptp(im) + 1e-9)).astype(np.uint8)
    img = Image.fromarray(im).convert("RGB")
    img.thumbnail((max_side, max_side))
    return img


def photo_set(folder: Path, names: Sequence[str] = PHOTOS) -> tuple[list[str], list[list[int]]]:
    """Each photo (PNG) then its 4 near-copies; returns the paths and the groups (indices)."""
    folder = Path(folder)
    paths: list[str] = []
    groups: list[list[int]] = []
    for name in names:
        img = _photo(name)
        group = [len(paths)]
        paths.append(_save(img, folder / name, None))
        for suffix, fn, quality in COPY_KINDS:
            group.append(len(paths))
            paths.append(_save(fn(img), folder / f"{name}_{suffix}", quality))
        groups.append(group)
    return paths, groups


def _digit(image: np.ndarray, side: int = 160) -> Image.Image:
    """An 8 x 8 scikit-learn digit (0-16) as a plain upscaled grey image, dark ink on white."""
    grey = (255 - np.clip(image / 16.0, 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(grey).resize((side, side), Image.Resampling.BICUBIC).convert("RGB")


def digit_set(folder: Path, classes: Sequence[int] = (0, 1, 3), n_per_class: int = 60,
              photos: Sequence[str] = PHOTOS[:4],
              copies_of: Sequence[tuple[int, int]] = ((0, 5), (0, 33), (1, 17), (3, 12), (3, 40)),
              ) -> tuple[list[str], list[list[int]], list[str]]:
    """``n_per_class`` distinct digits of each class, a few photos, and for each ``(class, k)`` of
    ``copies_of`` two near-copies of that digit (JPEG quality 30, and brightened 25 % + cropped 3 %).

    Returns the paths, the planted groups (indices: the digit and its copies) and the labels.
    """
    from sklearn.datasets import load_digits

    folder = Path(folder)
    digits = load_digits()
    paths: list[str] = []
    labels: list[str] = []
    index: dict[tuple[int, int], int] = {}
    images: dict[tuple[int, int], Image.Image] = {}
    for c in classes:
        for k, i in enumerate(np.flatnonzero(digits.target == c)[:n_per_class]):
            img = _digit(digits.images[i])
            index[c, k], images[c, k] = len(paths), img
            paths.append(_save(img, folder / f"digit{c}_{k:03d}", None))
            labels.append(f"digit {c}")
    for name in photos:
        paths.append(_save(_photo(name), folder / name, None))
        labels.append("photo")
    groups = []
    for c, k in copies_of:
        img = images[c, k]
        group = [index[c, k], len(paths)]
        paths.append(_save(_half(img), folder / f"copy_digit{c}_{k:03d}_half", None))
        labels.append(f"digit {c}")
        groups.append(group)
    return paths, groups, labels


def encode(paths: Sequence[str], labels: Sequence[str] | None = None):
    """The real ``default-image`` encoder's EmbeddingSet of ``paths`` (no cache)."""
    from embedview.core.dataset import Dataset
    from embedview.encoders.pipeline import embed

    ds = Dataset(modality="image", ids=[os.path.basename(p) for p in paths], sources=list(paths),
                 labels=None if labels is None else list(labels), name="planted")
    return embed(ds, "default-image", cache=False, num_workers=0)
