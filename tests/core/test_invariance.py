"""Invariance probe with small deterministic encoders written here (no torch, no mocks):
raw downsampled pixels for photos, hashed character trigrams for sentences."""

import json
import zlib

import numpy as np
import pytest
from english_sentences import SENTENCES as ENGLISH
from PIL import Image
from skimage import data

from embedview.core.invariance import (
    IMAGE_AUGMENTATIONS,
    TEXT_AUGMENTATIONS,
    InvarianceProbe,
    random_casing,
    typos,
    word_dropout,
)

SENTENCES = ENGLISH[:16]

def trigram_encoder(lowercase: bool):
    """Hashed character-trigram counts (512 buckets): a real, if simple, text embedding."""

    def encode(texts):
        out = np.zeros((len(texts), 512), np.float32)
        for i, t in enumerate(texts):
            t = f"  {t.lower() if lowercase else t}  "
            for j in range(len(t) - 2):
                out[i, zlib.crc32(t[j : j + 3].encode()) % 512] += 1
        return out

    return encode


def pixel_encoder(images):
    """Each photo as its 16 x 16 RGB thumbnail, centred per image."""
    vecs = np.stack([np.asarray(im.convert("RGB").resize((16, 16), Image.Resampling.BILINEAR), np.float32).ravel()
                     for im in images])
    return vecs - vecs.mean(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def photos():
    names = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "page", "text", "clock", "brick"]
    out = []
    for name in names:
        a = getattr(data, name)()
        out.append(Image.fromarray(a).convert("RGB").resize((96, 96), Image.BILINEAR))
    return out


def test_text_augmentations_are_real_changes():
    rng = np.random.default_rng(0)
    s = SENTENCES[0]
    cased = random_casing(s, rng)
    assert cased != s and cased.lower() == s.lower()
    typo = typos(s, rng)
    assert typo != s and abs(len(typo) - len(s)) <= 3
    dropped = word_dropout(s, rng)
    assert 0 < len(dropped.split()) < len(s.split())
    assert word_dropout("single", rng) == "single"


def test_image_augmentations_keep_size_and_change_pixels(photos):
    im = photos[0]
    for name, fn in IMAGE_AUGMENTATIONS.items():
        out = fn(im, np.random.default_rng(1))
        assert out.size == im.size and out.mode == "RGB", name
        assert not np.array_equal(np.asarray(out), np.asarray(im)), name


def test_casing_only_hurts_a_case_sensitive_encoder():
    sensitive = InvarianceProbe(n_items=16).run(SENTENCES, trigram_encoder(False), "text")
    insensitive = InvarianceProbe(n_items=16).run(SENTENCES, trigram_encoder(True), "text")
    assert set(sensitive.results_) == set(TEXT_AUGMENTATIONS)
    assert insensitive.results_["casing"]["mean_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert insensitive.results_["casing"]["mean_rank"] == 1.0
    assert sensitive.results_["casing"]["mean_cosine"] < 0.9
    for name in ("typos", "word_dropout"):
        r = insensitive.results_[name]
        assert 0.5 < r["mean_cosine"] < 1.0 and r["mean_rank"] < 1.5, (name, r)
    d = sensitive.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["n_items"] == 16 and d["modality"] == "text"


def test_image_probe_with_pixel_encoder(photos):
    probe = InvarianceProbe(n_items=20, random_state=3).run(photos, pixel_encoder, "image")
    assert probe.n_items_ == len(photos)  # fewer items than n_items: all of them
    r = probe.results_
    assert set(r) == set(IMAGE_AUGMENTATIONS)
    for name in ("jpeg", "blur", "brightness"):  # photometric changes barely move raw pixels
        assert r[name]["mean_cosine"] > 0.9 and r[name]["top1"] == 1.0, (name, r[name])
    # geometric changes move pixels much more than re-encoding does
    assert r["crop"]["mean_cosine"] < r["jpeg"]["mean_cosine"]
    assert r["rotation"]["mean_cosine"] < r["jpeg"]["mean_cosine"]
    cos = probe.cosines_["crop"]
    assert r["crop"]["median_cosine"] == pytest.approx(np.median(cos))
    again = InvarianceProbe(n_items=20, random_state=3).run(photos, pixel_encoder, "image")
    assert again.results_ == probe.results_  # reproducible


def test_rank_counts_only_strictly_closer_originals():
    # A 2-d "encoder" by text length; the augmentation keeps the first word only.
    #   originals: "aaaa bbbb cccc" -> [1, 0], "aaaa bbbb" -> [0, 1], "aaaa" -> [1, 1]
    #   augmented: all become "aaaa" -> [1, 1]
    #   item 0: cosine to own [1, 0] = 0.707; item 2's original scores 1 > 0.707 -> rank 2
    #   item 1: own [0, 1] = 0.707; item 0's original ties at 0.707 (does not count) -> rank 2
    #   item 2: own = 1 -> rank 1
    items = ["aaaa bbbb cccc", "aaaa bbbb", "aaaa"]

    def length_encoder(texts):
        return np.array([[1.0, 0.0] if len(t) > 10 else [0.0, 1.0] if len(t) > 5 else [1.0, 1.0] for t in texts])

    first_word = {"first_word": lambda t, rng: t.split()[0]}
    probe = InvarianceProbe(augmentations=first_word, n_items=3).run(items, length_encoder, "text")
    assert probe.ranks_["first_word"].tolist() == [2, 2, 1]
    assert probe.cosines_["first_word"] == pytest.approx([2**-0.5, 2**-0.5, 1.0])
    assert probe.results_["first_word"]["top1"] == pytest.approx(1 / 3)


def test_custom_and_bad_augmentations():
    upper = {"upper": lambda t, rng: t.upper()}
    probe = InvarianceProbe(augmentations=upper, n_items=5).run(SENTENCES, trigram_encoder(True), "text")
    assert list(probe.results_) == ["upper"] and probe.results_["upper"]["mean_cosine"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown text augmentation"):
        InvarianceProbe(augmentations=["rotation"]).run(SENTENCES, trigram_encoder(True), "text")
    with pytest.raises(ValueError, match="returned shape"):
        InvarianceProbe(n_items=4).run(SENTENCES, lambda b: np.zeros((1, 3)), "text")
    with pytest.raises(ValueError, match="'image' or 'text'"):
        InvarianceProbe().run(SENTENCES, trigram_encoder(True), "embedding")
