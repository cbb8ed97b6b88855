"""Invariance probe: does the encoder keep an item's vector when the item is slightly changed?

For a sample of items, every augmentation is applied once to each item and both versions are
encoded.  Per augmentation:

* ``mean_cosine`` / ``median_cosine``: cosine between each original and its augmented version;
* ``mean_rank`` / ``median_rank``: the augmented item is used as a query against the set of
  sampled originals (which holds its own original); the rank of its own original there
  (1 = the original is its nearest neighbour; other originals scoring exactly the same do not
  push it down);
* ``top1``: the fraction of items whose original is ranked first.

Augmentations use PIL only (no torch), with small, realistic strengths; each draws its random
parameters from its own generator seeded by ``random_state`` and its name, so results are
reproducible and adding an augmentation does not change the others.  Custom augmentations are
``{name: fn(item, rng) -> item}`` with ``rng`` a ``numpy.random.Generator``.

The encoder is passed in as ``encode_fn(list_of_items) -> (n, D) array`` (e.g.
``encoder.encode``), so this module stays free of torch.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from embedview.core.embeddings import l2_normalize
from embedview.core.progress import TaskState

Augmentation = Callable[[Any, np.random.Generator], Any]


# -- image augmentations (PIL) -----------------------------------------------------------------
def _rgb(im):
    return im if im.mode == "RGB" else im.convert("RGB")


def color_jitter(im, rng: np.random.Generator):
    """Saturation and contrast x U(0.7, 1.3), hue shifted by up to +-5 % of the colour wheel."""
    from PIL import Image, ImageEnhance

    im = ImageEnhance.Color(_rgb(im)).enhance(rng.uniform(0.7, 1.3))
    im = ImageEnhance.Contrast(im).enhance(rng.uniform(0.7, 1.3))
    h, s, v = im.convert("HSV").split()
    shift = int(rng.integers(-13, 14))
    h = h.point(lambda x: (x + shift) % 256)
    return Image.merge("HSV", (h, s, v)).convert("RGB")


def brightness(im, rng: np.random.Generator):
    """Brightness x (1 +- U(0.2, 0.4))."""
    from PIL import ImageEnhance

    factor = 1.0 + rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.4)
    return ImageEnhance.Brightness(_rgb(im)).enhance(factor)


def rotation(im, rng: np.random.Generator):
    """Rotation by U(-10, 10) degrees about the centre, same size, corners filled with the mean colour."""
    from PIL import Image

    im = _rgb(im)
    fill = tuple(int(c) for c in np.asarray(im).reshape(-1, 3).mean(axis=0))
    return im.rotate(rng.uniform(-10.0, 10.0), resample=Image.Resampling.BILINEAR, fillcolor=fill)


def random_crop(im, rng: np.random.Generator):
    """A crop of U(80, 90) % of each side at a random position, resized back to the original size."""
    from PIL import Image

    im = _rgb(im)
    w, h = im.size
    f = rng.uniform(0.8, 0.9)
    cw, ch = max(1, round(w * f)), max(1, round(h * f))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    return im.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.Resampling.BICUBIC)


def jpeg(im, rng: np.random.Generator, quality: int = 30):
    """JPEG re-encoding at quality 30."""
    from PIL import Image

    buf = io.BytesIO()
    _rgb(im).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def blur(im, rng: np.random.Generator):
    """Gaussian blur, radius U(1, 2) px at 224 px, scaled with the image's shorter side."""
    from PIL import ImageFilter

    im = _rgb(im)
    radius = rng.uniform(1.0, 2.0) * min(im.size) / 224.0
    return im.filter(ImageFilter.GaussianBlur(radius=max(radius, 0.5)))


# -- text augmentations ------------------------------------------------------------------------
def random_casing(text: str, rng: np.random.Generator) -> str:
    """Each word upper-, lower- or title-cased at random (at least one word changed if possible)."""
    words = text.split(" ")
    styles = (str.upper, str.lower, str.title)
    out = [styles[int(rng.integers(0, 3))](w) for w in words]
    if " ".join(out) == text:
        changeable = [i for i, w in enumerate(words) if w.upper() != w.lower()]
        if changeable:
            i = changeable[int(rng.integers(0, len(changeable)))]
            out[i] = words[i].swapcase()
    return " ".join(out)


def typos(text: str, rng: np.random.Generator, rate: float = 0.15) -> str:
    """About ``rate`` of the words of 3+ letters (at least one) get a typo: two neighbouring
    characters swapped, or one character dropped."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 3]
    if not candidates:
        return text
    n = max(1, int(round(rate * len(candidates))))
    for i in rng.choice(candidates, size=min(n, len(candidates)), replace=False):
        w = words[i]
        j = int(rng.integers(0, len(w) - 1))
        if rng.random() < 0.5:
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
        else:
            words[i] = w[:j] + w[j + 1 :]
    return " ".join(words)


def word_dropout(text: str, rng: np.random.Generator, rate: float = 0.15) -> str:
    """Each word dropped with probability ``rate``; at least one dropped and one kept (2+ words)."""
    words = text.split()
    if len(words) < 2:
        return text
    keep = rng.random(len(words)) >= rate
    if keep.all():
        keep[int(rng.integers(0, len(words)))] = False
    if not keep.any():
        keep[int(rng.integers(0, len(words)))] = True
    return " ".join(w for w, k in zip(words, keep, strict=False) if k)


IMAGE_AUGMENTATIONS: dict[str, Augmentation] = {
    "color_jitter": color_jitter,
    "brightness": brightness,
    "rotation": rotation,
    "crop": random_crop,
    "jpeg": jpeg,
    "blur": blur,
}
TEXT_AUGMENTATIONS: dict[str, Augmentation] = {
    "casing": random_casing,
    "typos": typos,
    "word_dropout": word_dropout,
}
DEFAULTS = {"image": IMAGE_AUGMENTATIONS, "text": TEXT_AUGMENTATIONS}


class InvarianceProbe:
    """Measure how much each augmentation moves items in the embedding space.

    Parameters
    ----------
    augmentations : None, list of names, or {name: fn(item, rng) -> item}
        ``None``: every built-in augmentation of the modality (:data:`IMAGE_AUGMENTATIONS`,
        :data:`TEXT_AUGMENTATIONS`); names pick among those.
    n_items : int
        Items sampled (at random, without replacement) from those given to :meth:`run`.
    random_state : int
    batch_size : int
        Items per ``encode_fn`` call.

    Attributes (after :meth:`run`)
    ------------------------------
    results_ : {augmentation: {"mean_cosine", "median_cosine", "mean_rank", "median_rank", "top1"}}
    cosines_ : {augmentation: (n,) cosine per item}
    ranks_ : {augmentation: (n,) rank of the original per item}
    indices_ : (n,) indices of the sampled items in the input
    """

    def __init__(
        self,
        augmentations: None | Sequence[str] | Mapping[str, Augmentation] = None,
        n_items: int = 100,
        random_state: int = 0,
        batch_size: int = 32,
    ):
        self.augmentations = augmentations
        self.n_items = n_items
        self.random_state = random_state
        self.batch_size = batch_size

    def _resolve(self, modality: str) -> dict[str, Augmentation]:
        if modality not in DEFAULTS:
            raise ValueError(f"the invariance probe works on 'image' or 'text' items, not {modality!r}")
        builtin = DEFAULTS[modality]
        if self.augmentations is None:
            return dict(builtin)
        if isinstance(self.augmentations, Mapping):
            return dict(self.augmentations)
        unknown = [a for a in self.augmentations if a not in builtin]
        if unknown:
            raise ValueError(f"unknown {modality} augmentation(s) {unknown}; available: {list(builtin)}")
        return {a: builtin[a] for a in self.augmentations}

    def _encode(self, items: list[Any], encode_fn: Callable, task: TaskState, message: str) -> np.ndarray:
        parts = []
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            vecs = np.asarray(encode_fn(batch), dtype=np.float32)
            if vecs.ndim != 2 or len(vecs) != len(batch):
                raise ValueError(f"encode_fn returned shape {vecs.shape} for {len(batch)} items")
            parts.append(vecs)
            task.report(start + len(batch), len(items), message)
        return l2_normalize(np.concatenate(parts))

    def run(self, items: Sequence[Any], encode_fn: Callable, modality: str, progress=None) -> InvarianceProbe:
        """Probe ``encode_fn`` with augmented versions of ``items`` (PIL images or strings)."""
        task = TaskState.coerce(progress)
        augs = self._resolve(modality)
        if not augs:
            raise ValueError("no augmentation to probe")
        if len(items) < 2:
            raise ValueError(f"the invariance probe needs at least 2 items, got {len(items)}")
        rng = np.random.default_rng(self.random_state)
        n = min(int(self.n_items), len(items))
        self.indices_ = np.sort(rng.choice(len(items), size=n, replace=False))
        chosen = [items[i] for i in self.indices_]
        steps = len(augs) + 1
        originals = self._encode(chosen, encode_fn, task.sub(0, 1 / steps), "encoding the originals")
        self.results_: dict[str, dict[str, float]] = {}
        self.cosines_: dict[str, np.ndarray] = {}
        self.ranks_: dict[str, np.ndarray] = {}
        for step, (name, fn) in enumerate(augs.items(), start=1):
            seed = [int(self.random_state), zlib.crc32(name.encode("utf-8"))]
            aug_rng = np.random.default_rng(seed)
            augmented = [fn(x, aug_rng) for x in chosen]
            vecs = self._encode(augmented, encode_fn, task.sub(step / steps, (step + 1) / steps), f"encoding: {name}")
            sims = vecs.astype(np.float64) @ originals.T.astype(np.float64)  # (augmented, originals)
            own = np.diag(sims).copy()
            ranks = 1 + (sims > own[:, None]).sum(axis=1)
            own = np.clip(own, -1.0, 1.0)  # float32 rounding can give 1.0000001
            self.cosines_[name] = own
            self.ranks_[name] = ranks
            self.results_[name] = {
                "mean_cosine": float(own.mean()),
                "median_cosine": float(np.median(own)),
                "mean_rank": float(ranks.mean()),
                "median_rank": float(np.median(ranks)),
                "top1": float(np.mean(ranks == 1)),
            }
        self.modality_ = modality
        self.n_items_ = n
        task.report(1, 1, "invariance probe done")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "modality": self.modality_,
            "n_items": int(self.n_items_),
            "random_state": self.random_state,
            "results": {name: dict(r) for name, r in self.results_.items()},
        }
