"""core.search: search by a query vector, word matches, neighbours of an item, the table's rows."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from recipes import recipes
from sklearn.datasets import load_digits

from embedview.core import search
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.neighbors import topk
from embedview.core.progress import Cancelled, TaskState
from embedview.core.search import (
    column_keys,
    filter_order,
    neighbors_of,
    search_by_vector,
    search_text,
    sort_order,
    substring_search,
    table_rows,
)


def digits(n: int = 300) -> EmbeddingSet:
    X, y = load_digits(return_X_y=True)
    X = X[:n].astype(np.float32)
    ds = Dataset("embedding", ids=[f"digit-{i}" for i in range(n)], sources=["digits.npy"] * n,
                 labels=np.array([str(v) for v in y[:n]], dtype=object), embeddings=X)
    return EmbeddingSet.from_dataset(ds)


def test_sort_order_numbers_text_and_missing():
    assert sort_order([3, None, 1, 2.5]).tolist() == [2, 3, 0, 1]
    assert sort_order([3, None, 1, 2.5], descending=True).tolist() == [0, 3, 2, 1]  # missing stays last
    assert sort_order(["b", "A", None, "a", "C"]).tolist() == [2, 1, 3, 0, 4]  # case-insensitive, stable
    assert sort_order(["b", "A", None, "a", "C"], descending=True).tolist() == [4, 0, 1, 3, 2]
    assert sort_order(np.array([0.5, np.nan, -1.0])).tolist() == [2, 0, 1]
    assert sort_order([]).tolist() == []


def test_filter_is_case_insensitive_over_id_label_and_text():
    ds = recipes()
    hay = search_text(ds)
    order = np.arange(len(ds))
    assert filter_order(order, hay, "APPLE").tolist() == [0, 3]
    assert filter_order(order, hay, "drinks").tolist() == [5]
    assert filter_order(order, hay, "recipes.txt:3").tolist() == [2]
    assert filter_order(order[::-1], hay, "apple").tolist() == [3, 0]  # keeps the current order
    assert filter_order(order, hay, "  ").tolist() == order.tolist()
    # built once per dataset (every keystroke and word search reuses it), forgotten with the dataset
    assert search_text(ds) is hay and search_text(recipes()) is not hay
    key = id(ds)
    del ds
    gc.collect()
    assert key not in search._SEARCH_TEXT


def test_table_columns_and_rows_sorted_and_filtered():
    ds = recipes()
    assert column_keys(ds, None) == [("id", "id"), ("label", "label"), ("text", "text"), ("meta:minutes", "minutes"),
                                     ("meta:origin", "origin")]
    scores = np.array([0.1, 0.5, 0.2, 0.9, 0.3, 0.4], dtype=np.float32)
    assert column_keys(ds, scores)[-1] == ("outlier", "outlier score")
    assert table_rows(ds, None, None, False, "").tolist() == list(range(6))
    assert table_rows(ds, None, "meta:minutes", False, "").tolist() == [5, 4, 3, 0, 1, 2]
    assert table_rows(ds, None, "meta:minutes", True, "").tolist() == [1, 0, 3, 4, 5, 2]  # missing last
    assert table_rows(ds, scores, "outlier", True, "").tolist() == [3, 1, 5, 4, 2, 0]
    assert table_rows(ds, scores, "outlier", True, "baking").tolist() == [3, 1, 4, 0]  # sorted, then filtered
    assert table_rows(ds, None, "label", False, "apple").tolist() == [0, 3]
    task = TaskState()
    task.cancel()
    with pytest.raises(Cancelled):
        table_rows(ds, None, "label", False, "", progress=task)


def test_word_search_lists_the_first_hits_and_counts_all():
    ds = recipes()
    hits = substring_search(ds, "BAKING", 2)
    assert hits.indices.tolist() == [0, 1] and hits.total == 4 and hits.scores is None
    assert not hits.by_meaning and hits.dataset is ds and hits.query == "BAKING"
    assert "4 items contain it" in hits.how
    assert len(substring_search(ds, "no such words", 5)) == 0


def test_search_by_vector_ranks_by_cosine():
    emb = digits()
    q = emb.vectors[17] + 0.1 * emb.vectors[3]
    hits = search_by_vector(emb, q, 5, query="a seven")
    sims = emb.unit @ (q / np.linalg.norm(q))
    assert hits.indices.tolist() == np.argsort(-sims)[:5].tolist()
    np.testing.assert_allclose(hits.scores, np.sort(sims)[::-1][:5], atol=1e-5)
    assert hits.by_meaning and hits.indices[0] == 17 and hits.query == "a seven" and hits.dataset is emb.dataset
    assert len(search_by_vector(emb, q, 10_000)) == len(emb)  # k larger than the data: every item
    with pytest.raises(ValueError, match="dimensions"):
        search_by_vector(emb, q[:10], 5)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_neighbors_of_an_item_match_exact_search(metric):
    emb = digits()
    got = neighbors_of(emb, 42, 7, metric)
    want_idx, want_scores = topk(emb.vectors, 7, queries=np.array([42]), metric=metric)
    assert got.index == 42 and got.metric == metric and got.seconds >= 0
    assert got.indices.tolist() == want_idx[0].tolist() and 42 not in got.indices.tolist()
    np.testing.assert_allclose(got.scores, want_scores[0], rtol=1e-4, atol=1e-4)
