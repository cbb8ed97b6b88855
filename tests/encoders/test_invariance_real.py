"""The invariance probe on the real default text encoder (all-MiniLM-L6-v2, offline weights)."""

import pytest
from english_sentences import SENTENCES

from embedview.core.invariance import InvarianceProbe
from embedview.encoders.pipeline import get_encoder  # load_encoder, kept loaded for the session

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def text_probe():
    encoder = get_encoder("default-text", device="cpu")
    return InvarianceProbe(n_items=30, random_state=0).run(SENTENCES, encoder.encode, "text")


def test_casing_barely_moves_minilm(text_probe):
    r = text_probe.results_["casing"]
    assert r["mean_cosine"] > 0.8
    assert r["mean_rank"] <= 1.1 and r["median_rank"] == 1.0


def test_typos_and_dropout_keep_sentences_findable(text_probe):
    for name in ("typos", "word_dropout"):
        r = text_probe.results_[name]
        assert 0.5 < r["mean_cosine"] < 1.0, (name, r)  # changed, but still close
        assert r["top1"] >= 0.9, (name, r)  # the original is (almost) always the nearest
