"""Finding items: by a query vector, by words, by nearest neighbours; the item table's row order.

Everything here is plain numpy over a :class:`~embedview.core.dataset.Dataset` /
:class:`~embedview.core.embeddings.EmbeddingSet`, so the Search, Neighbours and Items views stay
thin and the same code is tested without a window:

* :func:`search_by_vector` ranks the items by cosine to an already embedded query (the encoder
  that embeds it lives elsewhere: core never imports torch);
* :func:`substring_search` finds the words of a query in ids, labels and texts
  (:func:`search_text` builds that text once per dataset);
* :func:`neighbors_of` is the top-k of one item, timed: exact, or through a fitted
  :class:`~embedview.core.neighbors.NeighborIndex` that chose its approximate index (built in
  the background by :func:`build_neighbor_index` for big sets), with the recall it measured;
* :func:`table_rows` is the item table's row order for a sort column and a filter text, built
  from :func:`sort_order` and :func:`filter_order` over :func:`raw_column`.

Results come as small frozen objects (:class:`SearchHits`, :class:`NeighborHits`) so the model
can hold them and tests can assert on them.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.neighbors import NeighborIndex, topk
from embedview.core.progress import TaskState


# -- results ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SearchHits:
    """The result of one search: the items found, best first.

    ``scores`` are cosines for a search by meaning and None for a word match; ``total`` is how
    many items matched in all (a word match lists only the first ``k``); ``how`` says in words
    how the items were found; ``dataset`` is the data searched (hits of other data are stale).
    Compared by identity: a new search is always a new result.
    """

    query: str
    indices: np.ndarray
    scores: np.ndarray | None = None
    total: int = 0
    how: str = ""
    dataset: Dataset | None = None

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def by_meaning(self) -> bool:
        return self.scores is not None


@dataclass(frozen=True, eq=False)
class NeighborHits:
    """The ``k`` nearest neighbours of item ``index`` (itself excluded), best first.

    ``approximate``: found through an approximate index, whose recall@10 measured against exact
    search on ``recall_queries`` held-out items is ``recall_at_10`` (None for exact search).
    """

    index: int
    indices: np.ndarray
    scores: np.ndarray
    metric: str
    seconds: float = 0.0
    approximate: bool = False
    recall_at_10: float | None = None
    recall_queries: int = 0
    method: str = "exact"


# -- search by meaning and by words ----------------------------------------------------------------------
def search_by_vector(emb: EmbeddingSet, query_vector: Any, k: int, query: str = "",
                     progress: Any = None) -> SearchHits:
    """The ``k`` items of ``emb`` most similar (cosine) to ``query_vector``, best first."""
    q = np.asarray(query_vector, dtype=np.float32).reshape(1, -1)
    if q.shape[1] != emb.dim:
        raise ValueError(f"the query vector has {q.shape[1]} dimensions, the items {emb.dim}")
    k = max(1, min(int(k), len(emb)))
    idx, scores = topk(emb.unit, k, queries=q, metric="cosine", exclude_self=False, progress=progress)
    return SearchHits(query, idx[0].astype(np.int64), scores[0].astype(np.float32), total=len(emb),
                      how="by meaning", dataset=emb.dataset)


def substring_search(dataset: Dataset, query: str, limit: int, progress: Any = None) -> SearchHits:
    """Items whose id, label or text contains ``query`` (case-insensitive), in item order; the
    first ``limit`` of them, with the number of all matches in ``total``."""
    TaskState.coerce(progress).check()
    hits = filter_order(np.arange(len(dataset), dtype=np.int64), search_text(dataset), query)
    total = len(hits)
    return SearchHits(query, hits[: max(0, int(limit))], None, total=total,
                      how=f"{total:,} items contain it", dataset=dataset)


#: the window builds an approximate index in the background from this many items on (below, one
#: exact query is a few milliseconds and the index would not pay for its build)
BACKGROUND_INDEX_ABOVE = 50_000


def build_neighbor_index(emb: EmbeddingSet, metric: str = "cosine", progress: Any = None,
                         workload: str = "single", **params: Any) -> NeighborIndex:
    """A :class:`NeighborIndex` over ``emb`` (the set's cached unit vectors for cosine), fitted:
    it measures on this data whether an approximate index is faster at recall@10 >= 0.95 and
    keeps exact search otherwise (``decision_``, ``reason_``).  ``workload="single"``: timed as
    one query at a time, as clicks in the window run.  ``params`` go to NeighborIndex."""
    X = emb.unit if metric == "cosine" else emb.vectors
    return NeighborIndex(metric=metric, workload=workload, **params).fit(X, progress=progress)


def neighbors_of(emb: EmbeddingSet, index: int, k: int, metric: str, progress: Any = None,
                 neighbor_index: NeighborIndex | None = None) -> NeighborHits:
    """Top-``k`` neighbours of item ``index`` (itself excluded), with the time the search took.

    ``neighbor_index``: a fitted :class:`NeighborIndex` of this set for ``metric``; when it
    chose its approximate index the query goes through it (and the hits carry its measured
    recall), else the search is exact.  Exact cosine runs on the set's cached unit vectors as the
    dot product (the same scores, without normalising the matrix again for every click).  One
    query is a memory-bound matrix-vector product: one BLAS thread is as fast, and on a busy
    machine much faster than waking a pool.
    """
    start = time.perf_counter()
    nx = neighbor_index
    if (nx is not None and getattr(nx, "approximate_", False) and nx.metric == metric
            and nx.n_items_ == len(emb)):
        idx, scores = nx.kneighbors(k, indices=np.array([int(index)]), progress=progress)
        return NeighborHits(int(index), idx[0].astype(np.int64), scores[0].astype(np.float32), metric,
                            time.perf_counter() - start, approximate=True, recall_at_10=float(nx.recall_at_10_),
                            recall_queries=int(nx.n_recall_queries_), method=nx.decision_)
    X, m = (emb.unit, "dot") if metric == "cosine" else (emb.vectors, metric)
    idx, scores = topk(X, k, queries=np.array([int(index)]), metric=m, exclude_self=True, n_threads=1,
                       progress=progress)
    return NeighborHits(int(index), idx[0].astype(np.int64), scores[0].astype(np.float32), metric,
                        time.perf_counter() - start)


# -- the text every word search and filter looks in ---------------------------------------------------------
#: search_text per dataset (keyed by id, dropped when the dataset is): the table's filter and the
#: search view's word match build it once per dataset, not once per keystroke / query
_SEARCH_TEXT: dict[int, tuple[Any, list[str]]] = {}


def search_text(dataset: Dataset) -> list[str]:
    """One lower-cased string per item (id, label, text) that filters and word searches look in;
    built once per dataset (datasets are not changed in place)."""
    key = id(dataset)
    hit = _SEARCH_TEXT.get(key)
    if hit is not None and hit[0]() is dataset:
        return hit[1]
    out = _build_search_text(dataset)

    def forget(_ref: Any) -> None:
        _SEARCH_TEXT.pop(key, None)

    _SEARCH_TEXT[key] = (weakref.ref(dataset, forget), out)
    return out


def _build_search_text(dataset: Dataset) -> list[str]:
    ids, labels, texts = dataset.ids, dataset.labels, dataset.texts
    out = []
    for i in range(len(ids)):
        parts = [ids[i]]
        if labels is not None and labels[i] is not None:
            parts.append(str(labels[i]))
        text = texts[i] if texts is not None else None
        if text is not None:
            parts.append(text)
        out.append("\t".join(parts).lower())
    return out


def filter_order(order: np.ndarray, haystack: list[str], needle: str) -> np.ndarray:
    """Items of ``order`` whose search text contains ``needle`` (case-insensitive), order kept."""
    needle = needle.strip().lower()
    if not needle:
        return order
    mask = np.fromiter((needle in s for s in haystack), dtype=bool, count=len(haystack))
    return order[mask[order]]


# -- the item table ---------------------------------------------------------------------------------------------
def column_keys(dataset: Dataset, scores: np.ndarray | None) -> list[tuple[str, str]]:
    """The item table's columns as ``(key, title)``: thumbnail (images), id, label, text,
    metadata, outlier score (when ``scores`` are given)."""
    cols: list[tuple[str, str]] = []
    if dataset.modality == "image":
        cols.append(("thumb", ""))
    cols.append(("id", "id"))
    if dataset.labels is not None:
        cols.append(("label", "label"))
    if dataset.texts is not None:
        cols.append(("text", "text"))
    cols += [(f"meta:{name}", str(name)) for name in dataset.metadata]
    if scores is not None:
        cols.append(("outlier", "outlier score"))
    return cols


def raw_column(dataset: Dataset, key: str, scores: np.ndarray | None = None) -> Any:
    """The list / array behind a column key (not copied)."""
    if key in ("id", "thumb"):
        return dataset.ids
    if key == "label":
        return dataset.labels
    if key == "text":
        return dataset.texts
    if key == "outlier":
        return scores
    if key.startswith("meta:"):
        return dataset.metadata[key[5:]]
    raise KeyError(key)


def sort_order(values: Any, descending: bool = False) -> np.ndarray:
    """Stable argsort of a column: numbers numerically (NaN / None last in both directions),
    anything else as case-insensitive text (None as empty)."""
    n = len(values)
    numeric = _as_float(values)
    if numeric is not None:
        missing = np.isnan(numeric)
        key = np.where(missing, 0.0, -numeric if descending else numeric)
        order = np.lexsort((key, missing))  # missing last, then by value; lexsort is stable
        return order.astype(np.int64)
    text = np.array(["" if v is None else str(v).lower() for v in values], dtype=object)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    _, codes = np.unique(text, return_inverse=True)  # rank of each distinct text
    codes = codes.reshape(-1).astype(np.int64)
    order = np.argsort(-codes if descending else codes, kind="stable")
    return np.asarray(order, dtype=np.int64)


def _as_float(values: Any) -> np.ndarray | None:
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype(np.float64)
    try:
        arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr


def table_rows(dataset: Dataset, scores: np.ndarray | None, sort_key: str | None, descending: bool,
               needle: str, progress: Any = None) -> np.ndarray:
    """The item table's rows (item indices, in display order) for a sort column (None or
    "thumb": item order) and a filter text."""
    task = TaskState.coerce(progress)
    n = len(dataset)
    if not sort_key or sort_key == "thumb":
        order = np.arange(n, dtype=np.int64)
    else:
        order = sort_order(raw_column(dataset, sort_key, scores), descending)
    task.check()
    return filter_order(order, search_text(dataset), needle) if needle.strip() else order
