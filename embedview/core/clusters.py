"""Named clusters at two granularities: density-based clusters of the 2-D map, each with a name.

What is clustered, and why (measured)
-------------------------------------
HDBSCAN (scikit-learn) is run on the **2-D map coordinates** (UMAP), as Embedding Atlas does,
not on the vectors.  Measured on the Debian package descriptions (800 texts, default-text encoder,
384-d; labels = the 13 Debian sections, which are loose) and on scikit-learn's digits (1,797
images, 64-d; 10 digit labels), NMI of the HDBSCAN clusters (noise counted as one more cluster)
against the labels, and the share left unclustered; ``min_cluster_size`` = 1 % of N,
``min_samples`` = 5 for every input (2 % of N in brackets):

=========================  ======================  ======================  ============
input                      Debian NMI, noise       digits NMI, noise       time, digits
=========================  ======================  ======================  ============
the vectors (384 / 64-d)   0.15, 81 % (0.10)       0.72, 31 % (0.71)       2.1 s
PCA to 10 dimensions       0.06, 48 % (0.07)       0.74, 27 % (0.73)       0.25 s
PCA to 30 dimensions       0.06, 29 % (0.13)       0.75, 27 % (0.74)       0.7 s
PCA to 2 dimensions        0.14, 21 % (0.06)       0.43, 21 % (0.43)       0.17 s
**UMAP map (2-D)**         0.36, 20 % (0.15)       0.90, 2 % (0.92)        0.09 s
=========================  ======================  ======================  ============

In 384 dimensions density is flat: HDBSCAN leaves most texts unclustered (81 % on Debian); on the
UMAP map it keeps 80-98 % of the points, agrees best with the labels and is 20x faster.  So the
clusters are those of the map the user sees (the UMAP map; the PCA map only when UMAP is not
available, which ``method_`` then says).

Scale: scikit-learn's HDBSCAN grows faster than linearly even in 2-D (measured on this machine,
2-D blobs: 10k points 1.4 s, 20k 6.7 s, 50k 54 s), so it is fitted on a random sample of at most
``max_fit`` points (10,000: about 1.5 s per level) and every other point takes the cluster of its
nearest sampled point on the map (a k-d tree: about 0.1 s for 100k).  ``method_`` says when this
happened.  On digits (UMAP map) a sample of 900 of the 1,797 points gives the same coarse level
(ARI 0.99 against the full fit) and NMI 0.92 / 0.84; 100,000 points with 100,000 texts take
about 6 s to cluster and a few seconds more to name on this machine (2 cores).

Granularities
-------------
``levels_`` = ("coarse", "fine"): *fine* is HDBSCAN with ``min_cluster_size`` = ``fine_size`` x N
(1 %, at least 5), *coarse* with ``coarse_size`` x N (4 %).  HDBSCAN's excess-of-mass choice can
jump from many clusters to two or three (Debian: 34 clusters at 1 %, 3 at 2 %); when the coarse
level has fewer than ``min_coarse`` clusters but the fine one has more, the coarse level is made by
merging the fine clusters (Ward linkage of their centres, about the square root of their number),
so zoomed out the map still shows a handful of names.  Noise is -1, named "unclustered".

Names
-----
* texts: the ``n_words`` most distinctive words: each text as a TF-IDF vector (scikit-learn's
  ``TfidfVectorizer``: English stop words removed, words of 3+ letters, in at least 2 texts,
  sub-linear term frequency); a word's score for a cluster is its mean TF-IDF weight in the
  cluster minus its mean weight in the rest of the data, so words that are everywhere score low;
* otherwise the dominant label, or the dominant value of a categorical metadata column, with its
  share: "cat (92%)";
* else "cluster N".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from embedview.core.progress import TaskState

NOISE_NAME = "unclustered"
LEVELS = ("coarse", "fine")


def _finite_xy(xy: Any) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"clusters need (N, 2) map coordinates, got shape {xy.shape}")
    if not np.isfinite(xy).all():
        raise ValueError("the map coordinates contain NaN or infinite values")
    return xy


def _hdbscan(Z: np.ndarray, min_cluster_size: int, min_samples: int) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    if len(Z) <= min_cluster_size:
        return np.full(len(Z), -1, dtype=np.int32)
    model = HDBSCAN(min_cluster_size=int(min_cluster_size), min_samples=int(min(min_samples, len(Z) - 1)),
                    copy=True)
    return np.asarray(model.fit_predict(Z), dtype=np.int32)


def _renumber_by_size(labels: np.ndarray) -> np.ndarray:
    """Clusters numbered 0.. by decreasing size (noise stays -1)."""
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = ids[np.argsort(-counts, kind="stable")]
    lut = np.full(int(labels.max()) + 2 if labels.size else 1, -1, dtype=np.int32)
    lut[order] = np.arange(len(order), dtype=np.int32)
    out = np.full(len(labels), -1, dtype=np.int32)
    keep = labels >= 0
    out[keep] = lut[labels[keep]]
    return out


def _merge(fine: np.ndarray, xy: np.ndarray, k: int) -> np.ndarray:
    """Coarse clusters by merging fine ones: Ward linkage of the fine centres."""
    from sklearn.cluster import AgglomerativeClustering

    n_fine = int(fine.max()) + 1
    centres = np.array([xy[fine == c].mean(axis=0) for c in range(n_fine)])
    groups = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(centres)
    out = np.full(len(fine), -1, dtype=np.int32)
    keep = fine >= 0
    out[keep] = groups[fine[keep]]
    return out


_WORD = r"(?u)\b[^\W\d_][^\W\d_][^\W\d_]+\b"  # words of 3+ letters, no digits


class TextWeights:
    """Each text as a TF-IDF vector (``TfidfVectorizer``: English stop words removed, words of 3+
    letters, in at least 2 texts, sub-linear term frequency), computed once for every level.

    At most ``max_texts`` texts (a seeded random sample) are read: tokenising is what costs (about
    20 s for 100,000 texts on this machine under load), and a cluster's distinctive words come out
    the same from a fifth of its texts.  ``sampled`` says how many were read."""

    def __init__(self, texts: Sequence[str | None], max_texts: int | None = None, seed: int = 0):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.has = np.array([isinstance(t, str) and bool(t.strip()) for t in texts], dtype=bool)
        if max_texts is not None and self.has.sum() > max_texts:
            rng = np.random.default_rng(seed)
            keep = rng.choice(np.flatnonzero(self.has), size=int(max_texts), replace=False)
            self.has = np.zeros(len(self.has), dtype=bool)
            self.has[keep] = True
        self.sampled = int(self.has.sum())
        docs = [t for t, h in zip(texts, self.has, strict=True) if h]
        self.matrix: Any = None
        self.vocab = np.empty(0, dtype=object)
        if len(docs) < 2:
            return
        try:
            vec = TfidfVectorizer(stop_words="english", token_pattern=_WORD, min_df=2, sublinear_tf=True,
                                  lowercase=True, dtype=np.float32)
            self.matrix = vec.fit_transform(docs).tocsr()
        except ValueError:  # no word in two texts: nothing distinctive to say
            return
        self.vocab = np.asarray(vec.get_feature_names_out())


def distinctive_words(texts: Sequence[str | None] | TextWeights, labels: np.ndarray, n_words: int = 3,
                      ) -> dict[int, list[str]]:
    """{cluster: its ``n_words`` most distinctive words}: mean TF-IDF weight of a word in the
    cluster's texts minus its mean weight in the rest (clusters >= 0; items without text skipped)."""
    from scipy import sparse

    weights = texts if isinstance(texts, TextWeights) else TextWeights(texts)
    W = weights.matrix
    if W is None:
        return {}
    lab = np.asarray(labels)[weights.has]
    n = len(lab)
    k = int(lab.max()) + 1 if n else 0
    if k <= 0:
        return {}
    keep = lab >= 0
    member = sparse.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (lab[keep], np.flatnonzero(keep))),
                               shape=(k, n))
    inside = np.asarray((member @ W).todense())  # (k, vocab) summed weights per cluster
    total = np.asarray(W.sum(axis=0)).ravel()
    counts = np.bincount(lab[keep], minlength=k).astype(np.float64)
    out: dict[int, list[str]] = {}
    for c in range(k):
        if counts[c] == 0:
            continue
        score = inside[c] / counts[c] - (total - inside[c]) / max(n - counts[c], 1.0)
        top = np.argsort(-score, kind="stable")[:n_words]
        out[c] = [str(weights.vocab[i]) for i in top if score[i] > 0]
    return out


def _categorical(values: Any, n: int) -> np.ndarray | None:
    """A column as strings when it looks categorical (few distinct values), else None."""
    try:
        arr = np.asarray(values, dtype=object)
    except Exception:  # noqa: BLE001 - a column numpy cannot hold: not a category
        return None
    if arr.ndim != 1 or len(arr) != n:
        return None
    strs = np.array(["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in arr],
                    dtype=object)
    distinct = len(set(strs.tolist()) - {""})
    if distinct < 2 or distinct > max(2, min(50, n // 5)):
        return None
    return strs


def dominant_value(values: np.ndarray, members: np.ndarray) -> tuple[str, float] | None:
    """The most frequent non-empty value among ``members`` and its share of them."""
    vals = values[members]
    vals = vals[vals != ""]
    if len(vals) == 0:
        return None
    uniq, counts = np.unique(vals.astype(str), return_counts=True)
    i = int(np.argmax(counts))
    return str(uniq[i]), float(counts[i]) / float(members.sum())


class Clusters:
    """Density clusters of the 2-D map at two granularities, each cluster named.

    Parameters
    ----------
    fine_size, coarse_size : HDBSCAN's ``min_cluster_size`` as a fraction of N (at least 5 items)
    min_samples : HDBSCAN's ``min_samples`` (smoothing of the density; 5)
    min_coarse : below this many coarse clusters (with more fine ones), merge the fine clusters
    max_fit : at most this many points are given to HDBSCAN (a seeded random sample); the others
        take the cluster of their nearest sampled point on the map
    n_words : words in a text cluster's name
    max_texts : at most this many texts (a seeded random sample) are read for the names
    random_state : seed of the sample

    Attributes (after ``fit``)
    --------------------------
    levels_ : ("coarse", "fine")
    labels_ : {level: (N,) int32}, clusters 0.. by decreasing size, -1 = unclustered
    names_ : {level: list[str]}, one name per cluster
    name_source_ : {level: "words" / "label" / "meta:<column>" / "number"}
    centres_ : {level: (k, 2) float32}, on the fitted map: each cluster's member nearest to the median
        of its points (so a name sits on its points, never between two groups)
    sizes_ : {level: (k,) int64}
    method_ : str, how it was computed (input, sample, parameters), for the user
    n_ : int
    """

    def __init__(self, fine_size: float = 0.01, coarse_size: float = 0.04, min_samples: int = 5,
                 min_coarse: int = 4, max_fit: int = 10_000, n_words: int = 3, max_texts: int = 20_000,
                 random_state: int = 0):
        self.fine_size = fine_size
        self.coarse_size = coarse_size
        self.min_samples = min_samples
        self.min_coarse = min_coarse
        self.max_fit = max_fit
        self.n_words = n_words
        self.max_texts = max_texts
        self.random_state = random_state

    def fit(self, xy: Any, texts: Sequence[str | None] | None = None, labels: Any = None,
            metadata: Mapping[str, Any] | None = None, source: str = "",
            progress: Any = None) -> Clusters:
        """Cluster the map ``xy`` ((N, 2), e.g. the UMAP map; ``source`` names it in ``method_``)
        and name the clusters from ``texts``, else ``labels``, else ``metadata`` columns."""
        task = TaskState.coerce(progress)
        xy = _finite_xy(xy)
        n = len(xy)
        if n < 2:
            raise ValueError("clusters need at least 2 items")
        task.report(0, 5, "clusters: sampling the map")
        if n > self.max_fit:
            rng = np.random.default_rng(self.random_state)
            fit_idx = np.sort(rng.choice(n, size=int(self.max_fit), replace=False))
        else:
            fit_idx = np.arange(n)
        Z = xy[fit_idx]
        m = len(Z)
        sizes = {"fine": max(5, int(round(self.fine_size * m))),
                 "coarse": max(5, int(round(self.coarse_size * m)))}
        fitted: dict[str, np.ndarray] = {}
        task.report(1, 5, f"clusters: HDBSCAN (fine) on {m:,} map points")
        fitted["fine"] = _renumber_by_size(_hdbscan(Z, sizes["fine"], self.min_samples))
        task.report(2, 5, f"clusters: HDBSCAN (coarse) on {m:,} map points")
        coarse = _renumber_by_size(_hdbscan(Z, sizes["coarse"], self.min_samples))
        n_fine = int(fitted["fine"].max()) + 1
        n_coarse = int(coarse.max()) + 1
        merged = False
        if n_coarse < self.min_coarse and n_fine > self.min_coarse:
            k = int(np.clip(round(np.sqrt(n_fine)), self.min_coarse, n_fine - 1))
            coarse = _renumber_by_size(_merge(fitted["fine"], Z, k))
            merged = True
        fitted["coarse"] = coarse

        task.report(3, 5, "clusters: extending to every point" if m < n else "clusters: naming")
        self.labels_: dict[str, np.ndarray] = {}
        if m < n:
            from scipy.spatial import cKDTree

            _, nearest = cKDTree(Z).query(xy, k=1, workers=1)
            for level in LEVELS:
                self.labels_[level] = fitted[level][nearest].astype(np.int32)
        else:
            self.labels_ = {level: fitted[level].astype(np.int32) for level in LEVELS}

        task.report(4, 5, "clusters: naming")
        self.levels_ = LEVELS
        self.n_ = n
        self.names_: dict[str, list[str]] = {}
        self.name_source_: dict[str, str] = {}
        self.centres_: dict[str, np.ndarray] = {}
        self.sizes_: dict[str, np.ndarray] = {}
        weights = (TextWeights(texts, self.max_texts, self.random_state)
                   if texts is not None and len(texts) == n else None)
        label_col = _categorical(labels, n) if labels is not None else None
        meta_cols = {c: v for c, v in ((c, _categorical(v, n)) for c, v in (metadata or {}).items())
                     if v is not None}
        for level in LEVELS:
            lab = self.labels_[level]
            k = int(lab.max()) + 1
            self.sizes_[level] = np.bincount(lab[lab >= 0], minlength=k).astype(np.int64)
            self.centres_[level] = self.centres_for(xy, level)
            names, how = self._names(lab, k, weights, label_col, meta_cols)
            self.names_[level] = names
            self.name_source_[level] = how
            task.check()

        sampled = (f"HDBSCAN fitted on a random sample of {m:,} of the {n:,} points, the others take "
                   f"the cluster of their nearest sampled point" if m < n else
                   f"HDBSCAN on all {n:,} points")
        noise = {lv: float((self.labels_[lv] < 0).mean()) for lv in LEVELS}
        self.method_ = (
            f"density clusters of the 2-D {source + ' ' if source else ''}map: {sampled}; fine level min_cluster_size "
            f"{sizes['fine']} ({int(self.sizes_['fine'].size)} clusters, {noise['fine']:.0%} unclustered), "
            f"coarse level "
            + (f"the fine clusters merged by Ward linkage into {int(self.sizes_['coarse'].size)}"
               if merged else
               f"min_cluster_size {sizes['coarse']} ({int(self.sizes_['coarse'].size)} clusters, "
               f"{noise['coarse']:.0%} unclustered)")
            + f"; min_samples {self.min_samples}; names from {self.name_source_['fine']}"
            + (f" (TF-IDF of a random sample of {weights.sampled:,} texts)"
               if weights is not None and self.name_source_["fine"] == "words" and weights.sampled < n else ""))
        self.merged_ = merged
        self.source_ = source
        task.report(5, 5, "clusters: done")
        return self

    def _names(self, lab: np.ndarray, k: int, weights: TextWeights | None,
               label_col: np.ndarray | None, meta_cols: Mapping[str, np.ndarray]) -> tuple[list[str], str]:
        if k == 0:
            return [], "number"
        if weights is not None:
            words = distinctive_words(weights, lab, self.n_words)
            if any(words.values()):
                return [" ".join(words.get(c) or []) or f"cluster {c + 1}" for c in range(k)], "words"
        columns: list[tuple[str, np.ndarray]] = []
        if label_col is not None:
            columns.append(("label", label_col))
        columns.extend((f"meta:{c}", v) for c, v in meta_cols.items())
        best: tuple[float, str, list[str]] | None = None
        for how, values in columns:
            names, shares = [], []
            for c in range(k):
                dom = dominant_value(values, lab == c)
                if dom is None:
                    names.append(f"cluster {c + 1}")
                    shares.append(0.0)
                else:
                    names.append(f"{dom[0]} ({dom[1]:.0%})")
                    shares.append(dom[1])
            mean_share = float(np.mean(shares))
            if best is None or mean_share > best[0] + 1e-9:
                best = (mean_share, how, names)
            if how == "label":  # the label wins when there is one
                break
        if best is not None:
            return best[2], best[1]
        return [f"cluster {c + 1}" for c in range(k)], "number"

    # -- reading ---------------------------------------------------------------------------------
    def centres_for(self, xy: Any, level: str) -> np.ndarray:
        """(k, 2) each cluster's centre on the map ``xy`` (any projection of the same items): the
        member nearest to the median of its points."""
        xy = np.asarray(xy, dtype=np.float64)
        lab = self.labels_[level]
        if len(xy) != len(lab):
            raise ValueError(f"{len(lab)} clustered items but {len(xy)} map points")
        k = int(lab.max()) + 1
        out = np.zeros((k, 2), dtype=np.float32)
        if k == 0:
            return out
        order = np.argsort(lab, kind="stable")
        bounds = np.searchsorted(lab[order], np.arange(k + 1))
        for c in range(k):
            pts = xy[order[bounds[c]:bounds[c + 1]]]
            if not len(pts):
                out[c] = np.nan
                continue
            # the member nearest to the median: a cluster made of two groups (the coarse level
            # merges fine clusters) would have its median, and its name, in the empty space between
            med = np.median(pts, axis=0)
            out[c] = pts[int(np.argmin(((pts - med) ** 2).sum(axis=1)))]
        return out

    def name_per_item(self, level: str = "fine") -> np.ndarray:
        """(N,) object array: each item's cluster name ("unclustered" for noise)."""
        names = np.array([*self.names_[level], NOISE_NAME], dtype=object)
        return names[self.labels_[level]]  # -1 picks the last entry: the noise name

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method_,
            "n": int(self.n_),
            "levels": {
                level: {
                    "n_clusters": int(self.sizes_[level].size),
                    "unclustered": int((self.labels_[level] < 0).sum()),
                    "named_by": self.name_source_[level],
                    "clusters": [{"name": name, "size": int(size),
                                  "centre": [float(v) for v in centre]}
                                 for name, size, centre in zip(self.names_[level], self.sizes_[level],
                                                               self.centres_[level], strict=True)],
                }
                for level in self.levels_
            },
        }



def density_grid(xy: Any, bins: int = 128, smoothing: float = 0.5, mass: Sequence[float] = (0.9, 0.6, 0.3),
                 progress: Any = None) -> tuple[np.ndarray, tuple[float, float, float, float], list[float]]:
    """A smoothed 2-D histogram of the map for density contours.

    Returns ``(grid, rect, levels)``: ``grid`` (bins, bins) float32, row = y, column = x (counts of
    points per cell smoothed by a Gaussian of ``sigma`` cells); ``rect`` = (x0, y0, width, height)
    it covers on the map; ``levels`` the densities whose iso-lines enclose the densest cells that
    hold each share of ``mass`` of the points (0.9: the outer line holds 90 % of the points),
    outermost first."""
    from scipy.ndimage import gaussian_filter

    task = TaskState.coerce(progress)
    xy = _finite_xy(xy)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.maximum(hi - lo, 1e-9)
    pad = span * 0.08  # room for the outer line around the outermost points
    lo, hi = lo - pad, hi + pad
    span = hi - lo
    task.report(0, 2, "density contours")
    counts, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=bins, range=[[lo[1], hi[1]], [lo[0], hi[0]]])
    cell = span / bins
    scott = xy.std(axis=0) * len(xy) ** (-1 / 6)
    sigma = np.maximum(smoothing * scott / cell, 1.0)[::-1]  # (rows = y, columns = x)
    grid = gaussian_filter(counts, sigma=tuple(float(v) for v in sigma)).astype(np.float32)
    flat = np.sort(grid.ravel())[::-1]
    cum = np.cumsum(flat)
    total = float(cum[-1]) if len(cum) else 0.0
    levels = []
    for share in sorted(mass, reverse=True):
        if total <= 0:
            break
        i = int(np.searchsorted(cum, share * total))
        levels.append(float(flat[min(i, len(flat) - 1)]))
    task.report(2, 2, "density contours")
    return grid, (float(lo[0]), float(lo[1]), float(span[0]), float(span[1])), levels
