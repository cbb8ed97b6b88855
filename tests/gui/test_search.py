"""SearchView: semantic search with the real default text encoder, and the fallback without a text tower."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from viewkit import digits_set

SENTENCES = [
    "The cat is sleeping on the sofa.",
    "Stock markets fell sharply after the interest rate decision.",
    "Preheat the oven to 200 degrees and bake the bread for 30 minutes.",
    "The football team won the championship final on penalties.",
    "A new vaccine reduced hospital admissions in the clinical trial.",
    "The spacecraft entered orbit around Mars after a seven month journey.",
    "Heavy rain and strong winds are expected along the coast tomorrow.",
    "She practised the violin for three hours before the concert.",
    "The court sentenced the defendant to five years in prison.",
    "Our startup raised ten million dollars in its first funding round.",
    "The hikers reached the summit of the mountain at sunrise.",
    "Python is a popular programming language for data science.",
    "The museum opened an exhibition of impressionist paintings.",
    "Electric cars need fewer repairs than petrol cars.",
    "The toddler built a tower out of wooden blocks.",
    "Volcanic ash closed the airport for two days.",
    "He planted tomatoes and basil in the vegetable garden.",
    "The parliament passed a law on renewable energy subsidies.",
    "A shark was seen near the beach, so swimmers left the water.",
    "The chess grandmaster resigned after a blunder in the endgame.",
]


ENV_SIZE = (900, 600)  # the host window of the ``env`` fixture (tests/gui/conftest.py)


@pytest.mark.slow
def test_text_search_with_the_default_sentence_encoder(env, qtbot):
    from embedview.encoders.pipeline import embed
    from embedview.gui.views.neighbors import NeighborsView
    from embedview.gui.views.search import SearchView

    ds = Dataset("text", ids=[f"sentences.txt:{i + 1}" for i in range(len(SENTENCES))],
                 sources=["sentences.txt"] * len(SENTENCES), texts=list(SENTENCES), name="sentences")
    emb = embed(ds, "default-text", cache=False)
    search = env.add(SearchView)
    neigh = env.add(NeighborsView)
    env.show()
    env.load(emb)
    assert search.words.isEnabled() and not search.words.isChecked()
    got = []
    search.results_ready.connect(lambda q, idx, sc: got.append((q, idx, sc)))
    for query, expected in (("a kitten napping on the couch", 0), ("rocket travelling to the red planet", 5),
                            ("baking a loaf in the oven", 2)):
        search.search(query)
        qtbot.waitUntil(lambda: len(got) and got[-1][0] == query, timeout=120000)
        _, idx, scores = got[-1]
        assert int(idx[0]) == expected, (query, [SENTENCES[i] for i in idx[:3]])
        assert np.all(np.diff(scores) <= 1e-6)  # best first
        # the neighbours view shows the results, and they are the selection
        assert neigh.query_text == query and neigh.displayed_indices.tolist() == idx.tolist()
        assert "Results for" in neigh.header.text()
        assert env.selection.selected.tolist() == sorted(idx.tolist())
    # the results are what the query vector finds among the item vectors
    from embedview.encoders.pipeline import encode_queries, get_encoder

    q = encode_queries(get_encoder("default-text"), ["baking a loaf in the oven"])[0]
    sims = emb.unit @ (q / np.linalg.norm(q))
    np.testing.assert_allclose(got[-1][2], np.sort(sims)[::-1][: len(got[-1][2])], atol=1e-4)


def test_image_encoder_without_text_tower_says_so_and_matches_words(env, qtbot, tmp_path):
    from embedview.gui.views.neighbors import NeighborsView
    from embedview.gui.views.search import SearchView

    names = ["cat_01.png", "cat_02.png", "dog_01.png", "boat.png", "car.png", "cathedral.png"]
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(tmp_path / name)
    ds = Dataset("image", ids=names, sources=[str(tmp_path / n) for n in names],
                 labels=np.array(["cat", "cat", "dog", "boat", "car", None], dtype=object), name="photos")
    emb = EmbeddingSet(ds, rng.normal(size=(len(names), 16)).astype(np.float32), encoder="default-image")
    search = env.add(SearchView)
    neigh = env.add(NeighborsView)
    env.show()
    env.load(emb)
    assert "default-image has no text tower" in search.status.text()
    assert "CLIP" in search.status.text()
    assert search.words.isChecked() and not search.words.isEnabled()
    search.search("CAT")
    qtbot.waitUntil(lambda: search.last_query == "CAT", timeout=10000)
    assert search.last_indices.tolist() == [0, 1, 5]  # ids / labels containing "cat"
    assert search.last_scores is None
    assert neigh.displayed_indices.tolist() == [0, 1, 5]


def test_precomputed_vectors_fall_back_to_word_matching(env, qtbot):
    from embedview.gui.views.search import SearchView

    search = env.add(SearchView)
    env.show()
    env.load(digits_set(50))
    assert "Precomputed vectors have no encoder" in search.status.text()
    assert "Find words" in search.edit.placeholderText()
    search.search("digit-4")
    qtbot.waitUntil(lambda: search.last_query == "digit-4", timeout=10000)
    assert search.last_indices.tolist() == [4] + list(range(40, 50))
