"""SearchView: semantic search with the real default text encoder, and the fallback without a text tower.

The hits are asserted where they go: the model (``views.search.results``, the selection, the current
item, ``show_view_requested``) and the Neighbours view's list."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from viewkit import digits_set

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet

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
    choices = env.model.views.search
    assert search.words.isEnabled() and not choices.words
    got, shown = [], []
    choices.events.results.connect(lambda hits: got.append(hits))
    env.model.show_view_requested.connect(shown.append)
    for query, expected in (("a kitten napping on the couch", 0), ("rocket travelling to the red planet", 5),
                            ("baking a loaf in the oven", 2)):
        search.search(query)
        assert choices.query == query and search.edit.text() == query
        qtbot.waitUntil(lambda q=query: len(got) and got[-1] is not None and got[-1].query == q, timeout=120000)
        hits = got[-1]
        idx, scores = hits.indices, hits.scores
        assert hits.by_meaning and choices.results is hits
        assert int(idx[0]) == expected, (query, [SENTENCES[i] for i in idx[:3]])
        assert np.all(np.diff(scores) <= 1e-6)  # best first
        # the neighbours view lists the hits; they are the selection, the best one the current item
        assert neigh.query_text == query and neigh.displayed_indices.tolist() == idx.tolist()
        assert "Results for" in neigh.header.text()
        assert env.selection.selected.tolist() == sorted(idx.tolist())
        assert env.selection.current == expected and shown[-1] == "neighbors"
    # the results are what the query vector finds among the item vectors
    from embedview.encoders.pipeline import encode_queries, get_encoder

    q = encode_queries(get_encoder("default-text"), ["baking a loaf in the oven"])[0]
    sims = emb.unit @ (q / np.linalg.norm(q))
    np.testing.assert_allclose(got[-1].scores, np.sort(sims)[::-1][: len(got[-1].scores)], atol=1e-4)


def test_image_encoder_without_text_tower_says_so_and_matches_words(env, qtbot, tmp_path):
    from embedview.gui.views.neighbors import NeighborsView
    from embedview.gui.views.search import SearchView, query_support

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
    ok, why = query_support(emb)
    assert not ok and "default-image has no text tower" in why and "CLIP" in why
    assert why in search.status.text()  # the user is told
    # word matching is forced: the model says so, the box shows it ticked and locked
    assert env.model.views.search.words is True
    assert search.words.isChecked() and not search.words.isEnabled()
    search.search("CAT")
    qtbot.waitUntil(lambda: search.results is not None and search.results.query == "CAT", timeout=10000)
    assert search.results.indices.tolist() == [0, 1, 5]  # ids / labels containing "cat"
    assert search.results.scores is None and search.results.total == 3
    assert neigh.displayed_indices.tolist() == [0, 1, 5] and neigh.displayed_scores is None
    assert env.selection.current == 0
    # clicking a hit in the list shows its neighbours: the hits are no longer listed
    neigh.list.item_chosen.emit(1)
    assert env.selection.current == 1 and neigh.query_text == ""
    # new data: the hits of the old data go, and the list with them
    env.load(emb)
    assert search.results is None and neigh.displayed_indices.tolist() == []


def test_precomputed_vectors_fall_back_to_word_matching(env, qtbot):
    from embedview.gui.views.search import SearchView, query_support

    search = env.add(SearchView)
    env.show()
    env.load(digits_set(50))
    assert query_support(env.model.emb)[1] in search.status.text()
    assert "Precomputed vectors have no encoder" in query_support(env.model.emb)[1]
    assert env.model.views.search.words is True
    assert "Find words" in search.edit.placeholderText()
    search.k_box.setValue(5)
    assert env.model.views.search.k == 5
    search.edit.setText("digit-4")  # typed: the model has the query; Return runs it
    assert env.model.views.search.query == "digit-4"
    search.edit.returnPressed.emit()
    qtbot.waitUntil(lambda: search.results is not None, timeout=10000)
    hits = search.results
    assert hits.query == "digit-4" and hits.indices.tolist() == [4, 40, 41, 42, 43] and hits.total == 11
    assert env.selection.selected.tolist() == [4, 40, 41, 42, 43]
