"""Exact and near-duplicate items: a similarity graph, groups at any threshold, a keep rule, export.

How it works
------------
1. Each item's ``k`` nearest neighbours are computed once by exact blocked search
   (:func:`~embedview.core.neighbors.topk` through
   :class:`~embedview.core.neighbors.NeighborIndex`), so no pair above the floor is ever lost
   to an approximation.  An approximate index (``approximate=True``) is used only when
   NeighborIndex's measurement finds it faster at recall@10 >= 0.95 *and* it finds every
   neighbour pair at or above the floor that exact search finds for the held-out sample items;
   otherwise exact search runs and ``search_reason_`` says why.  Every neighbour pair with
   similarity ``>= floor_`` is kept in a sparse graph; ``floor_`` is ``min(0.8, threshold_)``
   for cosine (all pairs for dot).
2. ``nn_similarity_`` -- each item's similarity to its nearest other item -- is the
   distribution the GUI draws as a histogram, and the threshold is suggested from it and from
   each item's k-th neighbour similarity (:func:`suggest_threshold`; ``suggestion_reason_``
   says why).
3. Groups are the connected components (size >= 2) of the graph restricted to pairs with
   similarity ``>= threshold``.  :meth:`DuplicateFinder.groups_at` recomputes them from the
   stored graph alone (no neighbour search), fast enough for a slider, and
   :meth:`DuplicateFinder.with_threshold` returns a new finder at another threshold sharing the
   graph: a fitted finder is never changed, so views and threads share it freely.
4. Exact duplicates (``exact_groups_``) are items with the same content hash (when given) or
   bit-identical vectors.

Keep rule (``keep=``)
---------------------
``"central"`` (default)
    keep the item with the highest mean similarity to the other members of its group (the most
    typical version); ties (within 1e-6) go to the largest file on disk (image datasets), then
    to the lowest index.
``"largest"``
    keep the largest file; ties go to the lowest index.
``"first"``
    keep the lowest index (the first loaded).

Limits: an item is linked only to its ``k`` nearest neighbours, so a group with more than
``k + 1`` copies is still found through chains of links, but ``pairs_`` then lists only the
links, not every pair.  Exports never delete, move or modify user files; they refuse to write
over a file of the dataset.
"""

from __future__ import annotations

import copy
import csv
import json
import os
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.neighbors import NeighborIndex, prepare_vectors, topk
from embedview.core.progress import TaskState

PAIR_DTYPE = np.dtype([("i", np.int64), ("j", np.int64), ("sim", np.float32)])
ROW_FIELDS = ("group", "index", "id", "source", "similarity_to_kept", "keep", "exact", "kept_index")
KEEP_RULES = ("central", "largest", "first")

_COSINE_FLOOR = 0.8
_COSINE_RANGE = (0.5, 0.999)  # suggested cosine thresholds are clipped into this range
_TIE = 1e-6


#: a close population whose median nearest-neighbour cosine is below this is treated as dense
#: but distinct items (a tight class), and the rule looks for duplicates inside it
_DUPLICATE_LIKE_COSINE = 0.95
#: ... but only when it has at least this many items (a handful of pairs is accepted as is)
_MIN_DENSE_POPULATION = 10


#: an item whose nearest neighbour is less than this many times (log10) closer than its k-th
#: neighbour is "distinct-like": its nearest neighbour is just the closest of its kind
_DISTINCT_RATIO = 0.5
#: the distinct mass is trusted when it holds at least this many items (and 5 % of them)
_MIN_DISTINCT = 5
#: a valley is accepted when the copies are at least this many times (log10) closer than what
#: lies above it (log10(2): half the nearest-neighbour distance)
_MIN_VALLEY = np.log10(2.0)
#: with no valley: this many times (log10) closer than the closest distinct items (a quarter)
_NO_VALLEY_MARGIN = np.log10(4.0)


def _sim_of(z: float) -> float:
    return float(1.0 - 10.0**z)


def explain_threshold(nn_similarity: np.ndarray, metric: str = "cosine",
                      background: np.ndarray | None = None) -> tuple[float, str]:
    """The suggested threshold and a sentence saying why (see :func:`suggest_threshold`)."""
    s = np.asarray(nn_similarity, dtype=np.float64)
    cosine = metric == "cosine"
    ok = np.isfinite(s)
    if background is not None:
        b = np.asarray(background, dtype=np.float64)
        if b.shape != s.shape:
            raise ValueError(f"{b.size} background similarities for {s.size} items")
        ok &= np.isfinite(b)
    if np.count_nonzero(ok) < 3:
        if cosine or not ok.any():
            return 0.95, "fewer than 3 items with a neighbour: the default 0.95"
        return float(s[ok].max()), "fewer than 3 items with a neighbour: the largest similarity"
    if not cosine or background is None:
        t = _nn_only_threshold(s[ok], cosine)
        return t, ("from the nearest-neighbour similarities alone: the gap between two populations, "
                   "or an outlier cut of their close tail")
    z1 = np.log10(np.clip(1.0 - s[ok], 1e-7, 2.0))  # distance to the nearest neighbour, log scale
    zb = np.log10(np.clip(1.0 - b[ok], 1e-7, 2.0))  # ... to the k-th neighbour: the item's background
    n = z1.size
    # 1. the distinct items: those whose nearest neighbour is about as far as their other neighbours
    distinct = z1[zb - z1 < _DISTINCT_RATIO]
    if distinct.size >= max(_MIN_DISTINCT, 0.05 * n):
        bound, where = float(np.quantile(distinct, 0.05)), f"{distinct.size} distinct-looking items"
    else:  # (almost) every item has copies: the distinct level is where the k-th neighbours are
        bound, where = float(np.quantile(zb, 0.05)), "the items' farther neighbours"
    # 2. the widest valley between the items closer than the distinct mass and that mass
    close = np.sort(z1[z1 < bound])
    above = z1[z1 >= bound]
    top = float(above.min()) if above.size else bound
    if close.size:
        edges = np.append(close, top)
        wide = np.diff(edges) >= _MIN_VALLEY  # a factor 2 at least in nearest-neighbour distance
        if wide.any():
            # the widest in cosine: on the log scale alone, 0.999 -> 0.994 would beat 0.79 -> 0.25
            width = np.where(wide, np.diff(10.0**edges), -np.inf)
            g = int(np.argmax(width))
            z_star = 0.5 * (edges[g] + edges[g + 1])
            t = float(np.clip(_sim_of(z_star), *_COSINE_RANGE))
            return t, (f"valley of the nearest-neighbour similarities between {g + 1} items with a copy at "
                       f"cosine >= {_sim_of(edges[g]):.3f} and the next at {_sim_of(edges[g + 1]):.3f}, "
                       f"below the distinct items (from {where}, near {_sim_of(bound):.3f})")
    # 3. no valley: conservative, well above the closest distinct items
    t = float(np.clip(_sim_of(bound - _NO_VALLEY_MARGIN), *_COSINE_RANGE))
    return t, (f"no valley below the distinct items (from {where}, near {_sim_of(bound):.3f}): "
               f"a conservative {t:.3f}, four times closer than them")


def suggest_threshold(nn_similarity: np.ndarray, metric: str = "cosine",
                      background: np.ndarray | None = None) -> float:
    """Suggest a near-duplicate threshold from the structure of the neighbour similarities.

    ``nn_similarity``: each item's similarity to its nearest other item; ``background``: each
    item's similarity to its k-th neighbour (what :class:`DuplicateFinder` passes).  For cosine
    the rule works on the distance ``1 - sim`` on a log scale (copies at 0.999 and 0.99999 are
    far apart, the bulk of distinct items is compact):

    1. **The distinct items are estimated, not assumed dominant.**  An item is distinct-looking
       when its nearest neighbour is less than ~3 times closer than its k-th neighbour (it is
       merely the closest of its kind).  Their mass starts at the 5 % quantile of their
       nearest-neighbour distances.  When too few items look distinct (most items have copies),
       the distinct level is the 5 % quantile of the k-th neighbour distances instead.
    2. **The widest valley** of the sorted nearest-neighbour distances below that level (up to
       the first item at or beyond it) holds the threshold, at its middle on the log scale.  A
       valley is a gap where the distance grows at least twofold; the widest is measured in
       cosine, so that the gap between the copies and the distinct items wins over the
       spacing of nearly exact copies (0.999 against 0.994).  A dense class of distinct items
       (one digit written many times) is part of the distinct mass, so the threshold goes above
       it, and only closer copies are grouped.
    3. **No valley**: a conservative threshold four times closer than the distinct level.

    For cosine the result is clipped to [0.5, 0.999].  Without ``background`` (or for dot) the
    older rule on the nearest-neighbour similarities alone is used (an Otsu split into two
    well-separated populations, else an outlier cut of their close tail); with fewer than 3
    finite values it is 0.95 (cosine) or the largest similarity (dot).
    :func:`explain_threshold` also says why.
    """
    return explain_threshold(nn_similarity, metric, background)[0]


def _nn_only_threshold(s: np.ndarray, cosine: bool) -> float:
    """The rule on nearest-neighbour similarities alone (Otsu split of two populations, a dense
    class looked into, else a robust outlier cut of the close tail)."""
    z = np.sort(np.log10(np.clip(1.0 - s, 1e-7, 2.0)) if cosine else -s)
    min_gap = np.log10(4.0) if cosine else 0.0
    dense_z = np.log10(1.0 - _DUPLICATE_LIKE_COSINE)
    while True:
        cut = _separated_split(z, min_gap)
        if cut is None:  # one population: duplicates, if any, are outliers of its close tail
            med = float(np.median(z))
            mad = float(np.median(np.abs(z - med)))
            z_star = med - max(4.0 * 1.4826 * mad, min_gap)
            break
        z_star = 0.5 * (z[cut] + z[cut + 1])
        close = z[: cut + 1]
        if not cosine or close.size < _MIN_DENSE_POPULATION or np.median(close) <= dense_z:
            break
        z = close  # a dense class of distinct items: look for copies inside it
    if cosine:
        return float(np.clip(1.0 - 10.0**z_star, *_COSINE_RANGE))
    return float(-z_star)


def _separated_split(z: np.ndarray, min_gap: float) -> int | None:
    """Otsu's split of sorted ``z`` (last index of the low side) if the two sides are well
    separated (gap of means > ``min_gap`` and Ashman's D >= 3), else ``None``."""
    n = z.size
    if n < 3:
        return None
    csum = np.cumsum(z)
    csq = np.cumsum(z * z)
    w0 = np.arange(1, n) / n
    mu0 = csum[:-1] / np.arange(1, n)
    mu1 = (csum[-1] - csum[:-1]) / np.arange(n - 1, 0, -1)
    between = w0 * (1 - w0) * (mu0 - mu1) ** 2
    cut = int(np.argmax(between))
    var0 = max(csq[cut] / (cut + 1) - mu0[cut] ** 2, 0.0)
    var1 = max((csq[-1] - csq[cut]) / (n - cut - 1) - mu1[cut] ** 2, 0.0)
    spread = np.sqrt(var0 + var1)
    gap = mu1[cut] - mu0[cut]
    if gap > max(min_gap, 0.0) and (spread == 0 or np.sqrt(2.0) * gap / spread >= 3.0):
        return cut
    return None


def _row_hashes(words: np.ndarray, seed: int, chunk: int = 4096) -> np.ndarray:
    """64-bit multiply-add hash of each row of a uint32 matrix (wrapping arithmetic), in chunks."""
    odd = np.random.default_rng(seed).integers(0, 2**63, size=words.shape[1], dtype=np.uint64)
    mult = odd * np.uint64(2) + np.uint64(1)
    out = np.empty(words.shape[0], dtype=np.uint64)
    for start in range(0, words.shape[0], chunk):
        out[start : start + chunk] = (words[start : start + chunk].astype(np.uint64) * mult).sum(axis=1)
    return out


def _components(n: int, ei: np.ndarray, ej: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` nodes for the undirected edges (ei, ej)."""
    graph = coo_matrix((np.ones(ei.size, dtype=np.int8), (ei, ej)), shape=(n, n)).tocsr()
    return connected_components(graph, directed=False)[1]


def _group_labels(comp: np.ndarray) -> tuple[int, np.ndarray]:
    """Relabel components: size >= 2 become 0..n_groups-1 (by lowest member), singletons -1."""
    sizes = np.bincount(comp)
    big = sizes >= 2
    new_id = np.cumsum(big) - 1
    labels = np.where(big[comp], new_id[comp], -1).astype(np.int64)
    return int(big.sum()), labels


def _groups_from_labels(labels: np.ndarray) -> list[np.ndarray]:
    """Member arrays (ascending) for labels >= 0, largest group first, then by lowest member."""
    members = np.flatnonzero(labels >= 0)
    if members.size == 0:
        return []
    lab = labels[members]
    order = np.argsort(lab, kind="stable")
    counts = np.bincount(lab)
    groups = np.split(members[order], np.cumsum(counts)[:-1])
    rank = sorted(range(len(groups)), key=lambda g: (-len(groups[g]), groups[g][0]))
    return [groups[g] for g in rank]


class DuplicateFinder:
    """Find exact and near-duplicate items of one embedding set.

    Parameters
    ----------
    threshold : float, optional
        Similarity at or above which two items are near-duplicates; ``None``: suggested from the
        data (:func:`suggest_threshold`).
    k : int
        Neighbours computed per item (the graph's out-degree).
    metric : "cosine" | "dot"
        Duplicates are found by similarity; euclidean is not offered.
    keep : "central" | "largest" | "first"
        Which member of a group to suggest keeping (see the module docstring).
    floor : float, optional
        Lowest similarity stored in the graph; default ``min(0.8, threshold_)`` for cosine,
        no floor for dot.
    approximate : "auto" | bool
        ``"auto"`` / ``False``: exact search (the default: approximate k-NN graphs lose pairs).
        ``True``: try NeighborIndex's approximate index (above ``approximate_above`` items) and
        use it only when it is measured faster at its recall target and loses none of the
        sample's pairs at or above the floor (see the module docstring).
    approximate_above : int
        NeighborIndex's ``threshold`` when ``approximate=True``.
    memory_budget_mb : float
        Budget of the exact neighbour search.

    Attributes (after ``fit``)
    --------------------------
    nn_similarity_ : (N,) float32, each item's nearest-neighbour similarity (NaN if N < 2)
    suggested_threshold_, threshold_, floor_ : float
    suggestion_reason_ : str, why the threshold was suggested (:func:`explain_threshold`)
    pairs_ : structured array ``(i, j, sim)``, ``i < j``, ``sim >= threshold_``, most similar first
    groups_ : list of int64 arrays, the near-duplicate groups at ``threshold_``, largest first
    keep_ : int64 array, the suggested item to keep, one per group
    labels_ : (N,) int64, the group of each item in ``groups_`` (-1: none)
    exact_groups_ : list of int64 arrays, items with identical content hash or bit-identical vectors
    approximate_ : bool, whether the neighbours came from an approximate index
    recall_at_10_ : float, its measured recall@10 (1.0 for exact search)
    pair_recall_ : float or None, share of the sample's exact pairs at or above the floor that the
        approximate index found (None when none was tried); ``n_sample_pairs_`` how many pairs
    search_reason_ : str, one sentence: which search ran and why

    After ``fit`` the object is never changed: :meth:`with_threshold` returns another finder.
    """

    def __init__(
        self,
        threshold: float | None = None,
        k: int = 10,
        metric: str = "cosine",
        keep: str = "central",
        *,
        floor: float | None = None,
        approximate="auto",
        approximate_above: int = 50_000,
        memory_budget_mb: float = 256,
    ):
        if metric not in ("cosine", "dot"):
            raise ValueError(f"duplicates are found by similarity: metric must be 'cosine' or 'dot', not {metric!r}")
        if keep not in KEEP_RULES:
            raise ValueError(f"unknown keep rule {keep!r}; expected one of {KEEP_RULES}")
        if int(k) < 1:
            raise ValueError("k must be at least 1")
        self.threshold = threshold
        self.k = int(k)
        self.metric = metric
        self.keep = keep
        self.floor = floor
        self.approximate = approximate
        self.approximate_above = approximate_above
        self.memory_budget_mb = memory_budget_mb

    # -- fitting ------------------------------------------------------------------------
    def fit(self, emb_or_X, content_hashes: Sequence[str | None] | None = None, progress=None,
            graph=None) -> DuplicateFinder:
        """Compute neighbours once, build the graph, and the groups at ``threshold_``.

        ``emb_or_X``: an :class:`EmbeddingSet` (its dataset gives ids, paths and file sizes for
        the keep rule and export) or an ``(N, D)`` array.  ``content_hashes``: optional per-item
        hash of the file / text content (``None`` entries are ignored) for exact duplicates.
        ``graph``: an exact :class:`~embedview.core.graph.NeighborGraph` of the same vectors and
        metric with at least ``k`` neighbours per item, used instead of a search.
        """
        task = TaskState.coerce(progress)
        self._dataset: Dataset | None
        if isinstance(emb_or_X, EmbeddingSet):
            self._dataset = emb_or_X.dataset
            raw = emb_or_X.vectors
            X = emb_or_X.unit if self.metric == "cosine" else raw
        else:
            self._dataset = None
            raw = emb_or_X
            X = emb_or_X
        self._X = prepare_vectors(X, self.metric, "vectors")
        self._sizes: dict[int, int] = {}  # file size per item, read once (the keep rule, every threshold)
        n = self.n_items_ = self._X.shape[0]
        if content_hashes is not None and len(content_hashes) != n:
            raise ValueError(f"{len(content_hashes)} content hashes for {n} items")

        self._exact_labels = self._exact_duplicates(np.asarray(raw), content_hashes)
        self.exact_groups_ = _groups_from_labels(self._exact_labels)

        if graph is not None and graph.covers(n, min(self.k, n - 1), self.metric, exact=True):
            nbr, sim = graph.head(min(self.k, n - 1))  # an exact graph: no pair above the floor lost
            nbr = nbr.astype(np.int64)
            self.approximate_, self.recall_at_10_, self.n_sample_pairs_ = False, 1.0, 0
            self.pair_recall_: float | None = None
            self.search_reason_ = f"Exact search, reused: {graph.summary}."
        else:
            index = self._neighbor_index(task.sub(0.0, 0.1))
            nbr, sim = index.kneighbors(self.k, progress=task.sub(0.1, 0.95))
        task.report(0.95, 1.0, "Building the duplicate graph")

        self.nn_similarity_ = sim[:, 0].copy() if sim.shape[1] else np.full(n, np.nan, np.float32)
        # each item's k-th neighbour similarity: beyond it the graph may be missing pairs
        self._kth_similarity = sim[:, -1].copy() if sim.shape[1] else np.full(n, np.inf, np.float32)
        self.suggested_threshold_, self.suggestion_reason_ = explain_threshold(
            self.nn_similarity_, self.metric, self._kth_similarity if sim.shape[1] else None)
        self.threshold_ = float(self.threshold) if self.threshold is not None else self.suggested_threshold_
        if self.floor is not None:
            self.floor_ = float(min(self.floor, self.threshold_))
        else:
            self.floor_ = min(_COSINE_FLOOR, self.threshold_) if self.metric == "cosine" else -np.inf

        # undirected edges i < j, each once with its similarity, most similar first
        rows = np.repeat(np.arange(n, dtype=np.int64), nbr.shape[1])
        cols, s = nbr.ravel(), sim.ravel()
        ok = s >= self.floor_
        i, j, s = np.minimum(rows[ok], cols[ok]), np.maximum(rows[ok], cols[ok]), s[ok]
        _, first = np.unique(i * n + j, return_index=True)
        i, j, s = i[first], j[first], s[first]
        order = np.lexsort((j, i, -s))
        self._ei, self._ej, self._es = i[order], j[order], s[order].astype(np.float32)
        self._neg_es = -self._es  # ascending, for searchsorted
        self._fi, self._fj, self._fs = self._maximum_spanning_forest(n)
        self._neg_fs = -self._fs
        self._adj = csr_matrix(
            (np.concatenate([self._es, self._es]), (np.concatenate([self._ei, self._ej]),
                                                    np.concatenate([self._ej, self._ei]))),
            shape=(n, n),
        )
        self._apply_threshold(self.threshold_)
        task.report(1, 1, f"{len(self.groups_)} duplicate groups")
        return self

    def _neighbor_index(self, task: TaskState) -> NeighborIndex:
        """Exact search, or an approximate index that loses none of the sample's duplicate pairs."""
        self.pair_recall_ = None
        self.n_sample_pairs_ = 0
        if self.approximate is not True:
            index = NeighborIndex(self.metric, approximate=False, memory_budget_mb=self.memory_budget_mb).fit(self._X)
            self.search_reason_ = "Exact search (an approximate k-NN graph could lose duplicate pairs)."
        else:
            index = NeighborIndex(self.metric, approximate="auto", threshold=self.approximate_above,
                                  memory_budget_mb=self.memory_budget_mb).fit(self._X, progress=task)
            self.search_reason_ = index.reason_
            if index.approximate_:
                self._check_pairs(index)
                if self.pair_recall_ is not None and self.pair_recall_ < 1.0:
                    self.search_reason_ = (
                        f"Exact search: the {index.decision_.upper()} index found only {self.pair_recall_:.4f} "
                        f"of the {self.n_sample_pairs_:,} pairs at or above similarity {self._check_floor():.2f} "
                        f"of {index.n_recall_queries_:,} sample items ({index.reason_})")
                    index = NeighborIndex(self.metric, approximate=False,
                                          memory_budget_mb=self.memory_budget_mb).fit(self._X)
        self.approximate_ = index.approximate_
        self.recall_at_10_ = index.recall_at_10_
        return index

    def _check_floor(self) -> float:
        """The lowest similarity a stored pair can have, as far as known before the search."""
        if self.metric != "cosine":
            return -np.inf
        floor = _COSINE_FLOOR if self.floor is None else float(self.floor)
        # a suggested threshold (hence the floor) may go as low as the bottom of its range
        limit = float(self.threshold) if self.threshold is not None else _COSINE_RANGE[0]
        return min(floor, limit)

    def _check_pairs(self, index: NeighborIndex) -> None:
        """``pair_recall_``: the exact pairs (>= the floor) of the index's sample items it finds."""
        rng = np.random.default_rng(index.random_state)
        sample = np.sort(rng.permutation(self.n_items_)[: index.n_recall_queries_])
        floor = self._check_floor()
        ex_i, ex_s = topk(self._X, self.k, queries=sample, metric=self.metric, memory_budget_mb=self.memory_budget_mb)
        ap_i, _ = index.kneighbors(self.k, indices=sample)
        want = ex_s >= floor
        self.n_sample_pairs_ = int(want.sum())
        if self.n_sample_pairs_ == 0:
            self.pair_recall_ = 1.0
            return
        found = (ex_i[:, :, None] == ap_i[:, None, :]).any(axis=2)
        self.pair_recall_ = float(found[want].mean())

    def _maximum_spanning_forest(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edges (i, j, sim) of a maximum spanning forest of the graph, most similar first.

        The components of the graph restricted to edges ``>= t`` are exactly those of the
        forest restricted to its edges ``>= t`` (single linkage), and the forest has at most
        ``N - 1`` edges, which is what makes :meth:`groups_at` fast.
        """
        if self._es.size == 0:
            return self._ei, self._ej, self._es
        top = float(self._es[0])
        # positive weights, smaller = more similar; float64 holds float32 differences exactly
        w = (top - self._es.astype(np.float64)) + 1.0
        forest = minimum_spanning_tree(coo_matrix((w, (self._ei, self._ej)), shape=(n, n)).tocsr()).tocoo()
        fs = (top - (forest.data - 1.0)).astype(np.float32)
        order = np.argsort(-fs, kind="stable")
        return forest.row[order].astype(np.int64), forest.col[order].astype(np.int64), fs[order]

    def _exact_duplicates(self, raw: np.ndarray, hashes) -> np.ndarray:
        """Group labels (-1: unique) for identical content hashes or bit-identical vectors."""
        n = raw.shape[0]
        ei: list[np.ndarray] = []
        ej: list[np.ndarray] = []
        if n > 1:
            words = np.ascontiguousarray(raw, dtype=np.float32).view(np.uint32)
            h1, h2 = _row_hashes(words, 1), _row_hashes(words, 2)
            order = np.lexsort((h2, h1))  # identical rows end up next to each other
            a, b = order[:-1], order[1:]
            cand = np.flatnonzero((h1[a] == h1[b]) & (h2[a] == h2[b]))
            same = np.all(words[a[cand]] == words[b[cand]], axis=1)  # confirm, bit for bit
            ei.append(a[cand][same])
            ej.append(b[cand][same])
            if hashes is not None:
                valid = np.flatnonzero([h is not None and h != "" for h in hashes])
                keys = np.array([str(hashes[i]) for i in valid])
                order = valid[np.argsort(keys, kind="stable")]
                sorted_keys = np.sort(keys, kind="stable")
                same = sorted_keys[1:] == sorted_keys[:-1]
                ei.append(order[:-1][same])
                ej.append(order[1:][same])
        if sum(e.size for e in ei) == 0:
            return np.full(n, -1, dtype=np.int64)
        return _group_labels(_components(n, np.concatenate(ei), np.concatenate(ej)))[1]

    def _edges_at(self, threshold: float) -> int:
        """Number of stored edges with similarity >= threshold (they form a prefix)."""
        if threshold < self.floor_:
            raise ValueError(
                f"threshold {threshold:.4f} is below the graph's floor {self.floor_:.4f}; refit with a lower floor"
            )
        return int(np.searchsorted(self._neg_es, -np.float32(threshold), side="right"))

    def _apply_threshold(self, threshold: float) -> None:
        m = self._edges_at(threshold)
        pairs = np.empty(m, dtype=PAIR_DTYPE)
        pairs["i"], pairs["j"], pairs["sim"] = self._ei[:m], self._ej[:m], self._es[:m]
        self.pairs_ = pairs
        _, labels = self.groups_at(threshold)
        self.groups_ = _groups_from_labels(labels)
        self.labels_ = np.full(self.n_items_, -1, dtype=np.int64)
        for g, members in enumerate(self.groups_):
            self.labels_[members] = g
        self.keep_ = np.array([self._choose_keep(g) for g in self.groups_], dtype=np.int64)

    def with_threshold(self, threshold: float) -> DuplicateFinder:
        """This finder at another threshold: a NEW fitted object; ``self`` is never changed.

        The new finder shares the neighbour graph, the spanning forest and the file sizes read by
        the keep rule (all read only), and recomputes ``pairs_``, ``groups_``, ``labels_`` and
        ``keep_`` from the graph alone (no neighbour search).  A fitted finder can thus be shared
        between threads and views: moving the threshold never changes what another holder sees.
        Returns ``self`` when it is already at ``threshold`` (nothing would differ).
        """
        self._check_fitted()
        threshold = float(threshold)
        if threshold == self.threshold_:
            return self
        self._edges_at(threshold)  # refuse a threshold below the floor before copying anything
        out = copy.copy(self)  # shallow: the graph arrays and the size cache are shared
        out.threshold = threshold
        out.threshold_ = threshold
        out._apply_threshold(threshold)
        return out

    # -- keep rule ----------------------------------------------------------------------
    def _file_sizes(self, members: np.ndarray) -> np.ndarray:
        """Sizes in bytes of the members' own files (image datasets); -1 where unknown."""
        ds = self._dataset
        sizes = np.full(members.size, -1, dtype=np.int64)
        if ds is None or ds.modality != "image":
            return sizes
        for n, i in enumerate(members):
            i = int(i)
            if i not in self._sizes:
                try:
                    self._sizes[i] = os.path.getsize(ds.sources[i])
                except (OSError, IndexError, TypeError):
                    self._sizes[i] = -1
            sizes[n] = self._sizes[i]
        return sizes

    def _choose_keep(self, members: np.ndarray) -> int:
        """Index of the member to keep under ``self.keep`` (members sorted ascending)."""
        if self.keep == "first":
            return int(members[0])
        sizes = self._file_sizes(members)
        if self.keep == "largest":
            return int(members[np.argmax(sizes)])  # argmax: first of the largest
        V = self._X[members].astype(np.float64)
        total = V.sum(axis=0)
        mean_sim = (V @ total - np.einsum("ij,ij->i", V, V)) / (members.size - 1)
        best = mean_sim >= mean_sim.max() - _TIE
        cand = np.flatnonzero(best)
        return int(members[cand[np.argmax(sizes[cand])]])

    # -- queries ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "_adj"):
            raise RuntimeError("DuplicateFinder is not fitted; call fit(...) first")

    def groups_at(self, threshold: float) -> tuple[int, np.ndarray]:
        """Groups for another threshold, from the stored graph only (no neighbour search).

        Returns ``(n_groups, labels)``: ``labels[i]`` in ``0..n_groups-1`` for items in a group
        of size >= 2 (numbered by their lowest member), ``-1`` otherwise.  ``threshold`` must be
        at least ``floor_``.
        """
        self._check_fitted()
        self._edges_at(threshold)  # validates the threshold against the floor
        m = int(np.searchsorted(self._neg_fs, -np.float32(threshold), side="right"))
        return _group_labels(_components(self.n_items_, self._fi[:m], self._fj[:m]))

    def near_duplicates_of(self, i: int, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Items with similarity ``>= threshold`` (default ``threshold_``) to item ``i``.

        Returns ``(indices, sims)``, most similar first (ties by index), ``i`` itself excluded.
        Uses the graph; when the graph cannot be complete for ``i`` (its ``k`` neighbours all
        pass the threshold, or the threshold is below the floor) it compares ``i`` with every item.
        """
        self._check_fitted()
        i = int(i)
        if not 0 <= i < self.n_items_:
            raise IndexError(f"item {i} out of range for {self.n_items_} items")
        t = self.threshold_ if threshold is None else float(threshold)
        if t >= self.floor_ and self._kth_similarity[i] < t:
            lo, hi = self._adj.indptr[i], self._adj.indptr[i + 1]
            idx, sims = self._adj.indices[lo:hi].astype(np.int64), self._adj.data[lo:hi]
        else:
            sims = self._X @ self._X[i]
            sims[i] = -np.inf
            idx = np.flatnonzero(sims >= t)
            sims = sims[idx]
        ok = sims >= np.float32(t)
        idx, sims = idx[ok], sims[ok]
        order = np.lexsort((idx, -sims))
        return idx[order], sims[order]

    def counts_at(self, threshold: float) -> tuple[int, int]:
        """``(groups, items in groups)`` at ``threshold`` from the stored forest: the live count a
        slider shows while it moves (tens of ms at 100k items)."""
        n_groups, labels = self.groups_at(threshold)
        return int(n_groups), int(np.count_nonzero(labels >= 0))

    def threshold_range(self) -> tuple[float, float]:
        """Where the threshold can go: from the graph's floor (pairs below it were never stored)
        up to 1 (cosine) or the largest nearest-neighbour similarity (dot)."""
        self._check_fitted()
        sims = np.asarray(self.nn_similarity_, dtype=np.float64)
        sims = sims[np.isfinite(sims)]
        lo = float(self.floor_) if np.isfinite(self.floor_) else (float(sims.min()) if sims.size else 0.0)
        hi = 1.0 if self.metric == "cosine" else (float(sims.max()) if sims.size else lo + 1.0)
        if hi <= lo:
            hi = lo + 1e-3
        return lo, hi

    def clip_threshold(self, threshold: float) -> float:
        """``threshold`` clipped into :meth:`threshold_range`."""
        lo, hi = self.threshold_range()
        return float(min(max(float(threshold), lo), hi))

    def similarity_to_kept(self) -> np.ndarray:
        """(N,) float32: each grouped item's similarity to its group's kept item, rounded as in
        :meth:`to_rows` (so it is exactly the exported value); NaN for items in no group."""
        self._check_fitted()
        out = np.full(self.n_items_, np.nan, dtype=np.float32)
        for members, kept in zip(self.groups_, self.keep_, strict=True):
            sims = self._sims_to(members, int(kept))
            out[members] = np.fromiter((round(float(v), 6) for v in sims), dtype=np.float64, count=sims.size)
        return out

    def _sims_to(self, members: np.ndarray, kept: int) -> np.ndarray:
        return (self._X[members] @ self._X[kept]).astype(np.float64)

    # -- decisions ------------------------------------------------------------------------
    def decision(self, index: int, decisions: Mapping[int, str] | None = None) -> str:
        """``"keep"`` or ``"drop"`` for item ``index``: the user's explicit choice in
        ``decisions`` ({index: "keep" | "drop"}), else the keep rule (items in no group: keep)."""
        self._check_fitted()
        index = int(index)
        if decisions and index in decisions:
            return str(decisions[index])
        if 0 <= index < self.n_items_ and self.labels_[index] >= 0:
            return "keep" if int(self.keep_[self.labels_[index]]) == index else "drop"
        return "keep"

    def decisions_in_groups(self, decisions: Mapping[int, str]) -> dict[int, str]:
        """The choices of ``decisions`` whose item is in a group at this threshold: when the
        threshold moves, choices for items still grouped are kept, the others forgotten."""
        self._check_fitted()
        out: dict[int, str] = {}
        for i, d in decisions.items():
            i = int(i)
            if 0 <= i < self.n_items_ and self.labels_[i] >= 0:
                out[i] = str(d)
        return out

    # -- export -------------------------------------------------------------------------
    def to_rows(self, dataset=None, decisions: dict[int, str] | None = None) -> list[dict]:
        """One row per item in a near-duplicate group (fields :data:`ROW_FIELDS`).

        ``similarity_to_kept`` is the item's similarity to the kept item of its group;
        ``exact`` says whether it is an exact duplicate of it (for the kept item: whether the
        group holds an exact copy of it); ``decisions`` ({index: "keep" |
        "drop"}) overrides the suggested ``keep`` flag of those items.
        """
        self._check_fitted()
        ds = dataset if dataset is not None else self._dataset
        decisions = dict(decisions or {})
        for idx, d in decisions.items():
            if d not in ("keep", "drop"):
                raise ValueError(f"decision for item {idx} must be 'keep' or 'drop', not {d!r}")
        rows = []
        for gid, (members, kept) in enumerate(zip(self.groups_, self.keep_, strict=True)):
            sims = self._sims_to(members, int(kept))
            kept_label = int(self._exact_labels[kept])
            # exact copies of the kept item in this group (the kept item itself is not its own copy)
            n_exact = int(np.count_nonzero(self._exact_labels[members] == kept_label)) if kept_label >= 0 else 0
            for m, s in zip(members, sims, strict=True):
                m = int(m)
                keep = decisions[m] == "keep" if m in decisions else m == kept
                exact = n_exact >= 2 and int(self._exact_labels[m]) == kept_label
                rows.append({
                    "group": gid,
                    "index": m,
                    "id": ds.ids[m] if ds is not None else str(m),
                    "source": ds.sources[m] if ds is not None else "",
                    "similarity_to_kept": round(float(s), 6),
                    "keep": bool(keep),
                    "exact": bool(exact),
                    "kept_index": int(kept),
                })
        return rows

    def _check_target(self, path, dataset) -> str:
        """Refuse to write over one of the dataset's own files."""
        path = os.path.abspath(os.fspath(path))
        ds = dataset if dataset is not None else self._dataset
        if ds is not None and path in {os.path.abspath(str(s)) for s in ds.sources}:
            raise ValueError(f"{path}: refusing to overwrite a file of the dataset")
        return path

    @staticmethod
    def _write_atomic(path: str, write) -> None:
        """``write(text file)`` through :func:`embedview.core.export.atomic_path`."""
        from embedview.core.export import atomic_path

        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
            write(f)

    def to_csv(self, path, dataset=None, decisions: dict[int, str] | None = None) -> str:
        """Write :meth:`to_rows` as CSV (header :data:`ROW_FIELDS`); returns the path."""
        path = self._check_target(path, dataset)
        rows = self.to_rows(dataset, decisions)
        self._write_atomic(path, lambda f: self.write_csv(f, rows=rows))
        return path

    def write_csv(self, f, dataset=None, decisions: dict[int, str] | None = None,
                  rows: list[dict] | None = None) -> None:
        """:meth:`to_rows` as CSV to the open text stream ``f`` (e.g. standard output); text cells a
        spreadsheet would run as a formula are neutralised (:func:`core.csvsafe.safe_cell`)."""
        from embedview.core.csvsafe import safe_dict

        w = csv.DictWriter(f, fieldnames=list(ROW_FIELDS))
        w.writeheader()
        w.writerows(safe_dict(r) for r in (rows if rows is not None else self.to_rows(dataset, decisions)))

    def to_json(self, path, dataset=None, decisions: dict[int, str] | None = None) -> str:
        """Write ``to_dict()`` plus the rows as JSON; returns the path."""
        path = self._check_target(path, dataset)
        doc = dict(self.to_dict(), rows=self.to_rows(dataset, decisions))
        self._write_atomic(path, lambda f: json.dump(doc, f, indent=1))
        return path

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        self._check_fitted()
        return {
            "metric": self.metric,
            "k": self.k,
            "keep_rule": self.keep,
            "n_items": int(self.n_items_),
            "threshold": float(self.threshold_),
            "suggested_threshold": float(self.suggested_threshold_),
            "suggestion_reason": str(self.suggestion_reason_),
            "floor": float(self.floor_) if np.isfinite(self.floor_) else None,
            "n_pairs": int(self.pairs_.size),
            "n_groups": len(self.groups_),
            "n_items_in_groups": int(sum(len(g) for g in self.groups_)),
            "n_exact_groups": len(self.exact_groups_),
            "approximate": bool(self.approximate_),
            "recall_at_10": float(self.recall_at_10_),
            "search_reason": self.search_reason_,
        }


# -- jobs on a fitted finder (plain functions: the GUI runs them in its job runner) --------------------
class GroupTable(NamedTuple):
    """The groups of a finder at one threshold, as a list of groups shows them."""

    #: the finder at the threshold (``groups_``, ``keep_``, ``labels_``)
    finder: DuplicateFinder
    #: (N,) float32: each grouped item's similarity to its group's kept item (NaN: in no group)
    similarity_to_kept: np.ndarray
    #: (n_groups,) float32: the lowest similarity to the kept item in each group
    lowest_to_kept: np.ndarray


def apply_threshold(finder: DuplicateFinder, threshold: float, progress=None) -> GroupTable:
    """``finder.with_threshold(threshold)`` and its group table (a job: the keep rule may read
    file sizes and compare every grouped item with its kept one).  ``finder`` is not changed."""
    task = TaskState.coerce(progress)
    out = finder.with_threshold(float(threshold))
    task.check()
    sims = out.similarity_to_kept()
    lowest = np.array([np.nanmin(sims[g]) if len(g) else np.nan for g in out.groups_], dtype=np.float32)
    return GroupTable(out, sims, lowest)


def near_duplicates(finder: DuplicateFinder, index: int, threshold: float,
                    progress=None) -> tuple[np.ndarray, np.ndarray]:
    """``finder.near_duplicates_of(index, threshold)`` as a job (it may compare with every item)."""
    return finder.near_duplicates_of(index, threshold)


def export_decisions(finder: DuplicateFinder, threshold: float, path, dataset, decisions: Mapping[int, str],
                     progress=None) -> tuple[str, int]:
    """Write the groups at ``threshold`` with ``decisions`` as CSV, or JSON for a ``.json`` path.

    Choices for items in no group at ``threshold`` are left out.  Returns ``(path, rows
    written)``.  Only ``path`` is written (atomically; a file of the dataset is refused).
    """
    task = TaskState.coerce(progress)
    finder = finder.with_threshold(float(threshold))
    task.report(0, 1, "writing")
    kept = finder.decisions_in_groups(decisions)
    if str(path).lower().endswith(".json"):
        written = finder.to_json(path, dataset, kept)
    else:
        written = finder.to_csv(path, dataset, kept)
    return str(written), int(sum(len(g) for g in finder.groups_))


class Histogram(NamedTuple):
    """Bars of the nearest-neighbour similarity histogram."""

    edges: np.ndarray  #: (bins + 1,) bin edges
    heights: np.ndarray  #: (bins,) counts, or ``log10(1 + count)`` on a log scale
    #: where the bars start: the lowest similarity, or the floor if that is lower
    left: float


def similarity_histogram(finder: DuplicateFinder, bins: int = 120, log_counts: bool = False) -> Histogram:
    """The distribution the threshold is chosen on: each item's nearest-neighbour similarity,
    over the threshold range and down to the lowest similarity (what lies below the floor is
    drawn but cannot be chosen).  ``log_counts``: heights ``log10(1 + count)``."""
    sims = np.asarray(finder.nn_similarity_, dtype=np.float64)
    sims = sims[np.isfinite(sims)]
    lo, hi = finder.threshold_range()
    left = float(min(lo, sims.min())) if sims.size else lo
    counts, edges = np.histogram(sims, bins=bins, range=(left, hi))
    heights = np.log10(counts + 1.0) if log_counts else counts.astype(np.float64)
    return Histogram(edges, heights, left)
