"""The invariance probe on the real default text encoder (all-MiniLM-L6-v2, offline weights)."""

import pytest

from embedview.core.invariance import InvarianceProbe
from embedview.encoders.pipeline import get_encoder  # load_encoder, kept loaded for the session

pytestmark = pytest.mark.slow

SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "A stitch in time saves nine, as my grandmother used to say.",
    "Neural networks learn representations from large amounts of data.",
    "The museum opens at nine in the morning on weekdays.",
    "Fresh bread from the bakery smells wonderful on cold days.",
    "She parked the red bicycle next to the old library entrance.",
    "Rain is expected over the mountains later this afternoon.",
    "The committee postponed its decision until next Thursday.",
    "Our train to Vienna was delayed by almost two hours.",
    "He planted tomatoes, basil and peppers in the small garden.",
    "Quantum computers use qubits instead of classical bits.",
    "The orchestra rehearsed the symphony for the final concert.",
    "Please remember to water the plants while I am away.",
    "The recipe calls for two cups of flour and one egg.",
    "Satellite images show the glacier retreating every year.",
    "The children built a sandcastle with towers and a moat.",
    "The stock market fell sharply after the interest rate announcement.",
    "My laptop battery drains quickly when I watch videos.",
    "The goalkeeper saved a penalty in the last minute of the match.",
    "Volcanic ash grounded flights across northern Europe.",
    "The pharmacist explained how often to take the medicine.",
    "Wolves were reintroduced to the national park in the nineties.",
    "The new bridge will connect the island to the mainland.",
    "Learning a second language improves memory in older adults.",
    "The chef seasoned the soup with thyme and black pepper.",
    "A power outage left thousands of homes without heating.",
    "The detective found a hidden letter inside the old piano.",
    "Electric cars need fewer repairs than petrol cars.",
    "The astronauts returned safely after six months in orbit.",
    "Bees are essential for pollinating many of our food crops.",
]


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
