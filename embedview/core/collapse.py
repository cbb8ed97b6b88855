"""Collapse diagnostics: is the embedding using its dimensions, or did it fold onto a few?

:class:`CollapseDiagnostics` summarises the geometry of a set of vectors and gives a verdict:

``"complete collapse"``
    (almost) every item maps to the same point, or to one line.  Any of:
    total variance ~ 0 relative to the vectors' squared length (``< VARIANCE_EPS``);
    ``cosine_mean_ > COMPLETE_COSINE_MEAN`` and ``cosine_std_ < COMPLETE_COSINE_STD``;
    effective rank ``< COMPLETE_EFFECTIVE_RANK``; the first principal direction carrying more
    than ``COMPLETE_TOP1_VARIANCE`` of the variance.
``"dimensional collapse"``
    the variance lives in a small subspace.  Any of: effective rank below
    ``DIMENSIONAL_RATIO`` x ``min(n - 1, D)``; fewer than ``DIMENSIONAL_RATIO`` x ``min(n - 1, D)``
    principal directions needed for 90 % of the variance; more than ``DIMENSIONAL_DEAD_FRACTION``
    of the dimensions dead.
``"healthy"``
    neither.

Why these numbers: an isotropic Gaussian (2000 x 512) has effective rank ~ 470 and needs ~ 390
directions for 90 % of its variance; real sentence / image encoders measured on this project
(all-MiniLM-L6-v2 sentences, EfficientNet-Lite0 photos, raw sklearn digits) need 20-40 % of
``min(n - 1, D)`` directions, far above 5 %; data in a 5-dimensional subspace of 512 needs
under 1 %.  The 5 % line sits between real encoders and genuinely collapsed ones.

Definitions (all on a random sample of at most ``sample`` items; pairwise measures on at most
``pair_sample`` items):

* ``singular_values_``: of the centred matrix divided by ``sqrt(n)``, so their squares are the
  eigenvalues of the (biased) covariance; ``explained_variance_ratio_`` are those squares over
  their sum.
* ``effective_rank_`` ("effective rank (centred)"): ``exp(entropy(p))`` with ``p = s / sum(s)``
  of the singular values above, i.e. of the **centred** matrix (Roy & Vetterli's effective rank
  of the covariance).  Centring keeps a shared offset (common in CLIP-like models) from reading
  as collapse; offsets show up in ``cosine_mean_`` instead.  The verdict uses this one.
* ``rankme_`` ("RankMe"): the same entropy of the singular values of the **raw** matrix, as
  published (Garrido et al. 2023, "RankMe").  A shared offset dominates the raw spectrum, so
  RankMe is far lower than the centred rank on such data (a collapsed set measured here: 3.3
  against 253); both are reported, each under its own name.
* ``participation_ratio_``: ``(sum lambda)^2 / sum lambda^2`` of the covariance eigenvalues.
* ``dead_dims_``: dimensions whose standard deviation is below ``DEAD_TOL`` (1e-3) times the
  largest per-dimension standard deviation.
* ``cosine_mean_``, ``cosine_std_``, ``cosine_hist_``: over all distinct pairs of the pair sample.
* ``hubness_``: skewness of the k-occurrence (how often each item is among the others' ``k``
  nearest neighbours, cosine); large positive values mean a few hubs dominate neighbour lists.
* ``uniformity_`` (Wang & Isola 2020): ``log mean exp(-2 ||u - v||^2)`` over distinct pairs of
  L2-normalised vectors; lower is more uniform on the sphere (the minimum for a uniform sphere in
  high dimension is about -4).
* ``alignment_`` (Wang & Isola 2020): ``mean ||u - v||^2`` over the given positive pairs of
  L2-normalised vectors; lower is better aligned.

Post-hoc mitigations: :func:`mean_center` (removes a shared offset, lowering ``cosine_mean_``)
and :func:`whiten` (PCA whitening: every remaining direction gets unit variance).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from embedview.core.embeddings import EmbeddingSet, l2_normalize
from embedview.core.embeddings import as_matrix as _as_matrix
from embedview.core.neighbors import topk
from embedview.core.progress import TaskState
from embedview.core.projection import _sample

VERDICTS = ("healthy", "dimensional collapse", "complete collapse")


def mean_center(X: Any) -> np.ndarray:
    """``X`` minus its column mean, float32: removes the shared offset of all vectors."""
    X = _as_matrix(X)
    return (X - X.mean(axis=0, dtype=np.float64)).astype(np.float32)


def whiten(X: Any, eps: float = 1e-5) -> np.ndarray:
    """PCA whitening that keeps the rank: ``(n, r)`` float32 with unit variance per component.

    The data are centred and projected on the principal directions whose singular value is
    above ``eps`` times the largest (``r`` of them; null directions are dropped rather than
    blown up), then each component is scaled to unit variance.
    """
    X = _as_matrix(X).astype(np.float64)
    Xc = X - X.mean(axis=0)
    n, d = Xc.shape
    if n < 2:
        raise ValueError("whitening needs at least 2 vectors")
    # eigen-decomposition of the smaller Gram matrix (faster than an SVD of Xc)
    lam, vecs = np.linalg.eigh((Xc.T @ Xc) / n if d <= n else (Xc @ Xc.T) / n)
    lam, vecs = np.clip(lam[::-1], 0.0, None), vecs[:, ::-1]
    s = np.sqrt(lam)
    if s.size == 0 or s[0] <= 0:
        raise ValueError("all vectors are identical: there is no direction to whiten")
    r = int(np.sum(s > eps * s[0]))
    if d <= n:  # vecs are the principal directions V: project, then scale to unit variance
        return (Xc @ vecs[:, :r] / s[:r]).astype(np.float32)
    return (vecs[:, :r] * np.sqrt(n)).astype(np.float32)  # vecs are U, and Xc V / s = U sqrt(n)


def mitigate(X: Any, center: bool = False, whitened: bool = False) -> np.ndarray:
    """``X`` under the post-hoc mitigations chosen: whitened (which also centres), mean-centred,
    or as it is (float32)."""
    if whitened:
        return whiten(X)
    if center:
        return mean_center(X)
    return np.asarray(_as_matrix(X), dtype=np.float32)


def _centred_singular_values(Xc: np.ndarray) -> np.ndarray:
    """Singular values of ``Xc / sqrt(n)`` (``Xc`` centred or not), descending, from the eigenvalues of the smaller
    Gram matrix (``D x D`` or ``n x n``): one matrix product and a symmetric eigensolve, several
    times faster than an SVD of the tall matrix."""
    n, d = Xc.shape
    G = (Xc.T @ Xc) if d <= n else (Xc @ Xc.T)
    lam = np.linalg.eigvalsh(G / n)[::-1]
    return np.sqrt(np.clip(lam, 0.0, None))


def _entropy_rank(s: np.ndarray, eps: float = 1e-12) -> float:
    """``exp(entropy(s / sum(s)))`` of singular values ``s``: 1 when all are zero (RankMe's
    ``eps`` keeps log 0 away: entries below it are left out)."""
    total = float(np.sum(s))
    if total <= 0:
        return 1.0
    p = s / total
    p = p[p > eps]
    return float(np.exp(-np.sum(p * np.log(p))))


def _skew(x: np.ndarray) -> float:
    """Sample skewness (biased, as scipy.stats.skew); 0 for constant input instead of NaN."""
    x = x.astype(np.float64)
    d = x - x.mean()
    m2 = np.mean(d**2)
    if m2 <= 1e-12 * max(1.0, float(np.mean(x**2))):
        return 0.0
    return float(np.mean(d**3) / m2**1.5)


class CollapseDiagnostics:
    """Spectrum, cosine, hubness and uniformity statistics, with a collapse verdict.

    Parameters
    ----------
    k : int
        Neighbours for the hubness (k-occurrence) measure.
    sample : int
        Items used at most (random sample) for the spectrum, per-dimension statistics and
        hubness.
    pair_sample : int
        Items used at most for the pairwise cosine statistics and uniformity
        (2000 items -> about 2 million pairs).
    eps : float
        Numerical floor used in the entropy and in the ratios (avoids log 0 and 0 / 0).
    hist_bins : int
        Bins of ``cosine_hist_`` over [-1, 1].
    random_state : int
        Seed for the samples.
    """

    #: a dimension is dead when its std is below this fraction of the largest std
    DEAD_TOL = 1e-3
    #: total variance below this fraction of the mean squared norm counts as zero
    VARIANCE_EPS = 1e-8
    COMPLETE_COSINE_MEAN = 0.9
    COMPLETE_COSINE_STD = 0.05
    COMPLETE_EFFECTIVE_RANK = 1.5
    COMPLETE_TOP1_VARIANCE = 0.9
    #: fraction of min(n - 1, D) below which the effective rank / 90 %-directions mean collapse
    DIMENSIONAL_RATIO = 0.05
    DIMENSIONAL_DEAD_FRACTION = 0.5
    #: variance share used for ``n_components_90_``
    VARIANCE_SHARE = 0.9

    def __init__(
        self,
        k: int = 10,
        sample: int = 5000,
        pair_sample: int = 2000,
        eps: float = 1e-12,
        hist_bins: int = 50,
        random_state: int | None = 0,
    ):
        self.k = k
        self.sample = sample
        self.pair_sample = pair_sample
        self.eps = eps
        self.hist_bins = hist_bins
        self.random_state = random_state

    # ----------------------------------------------------------------------------------------
    def fit(self, X: Any, positive_pairs: Sequence | None = None, progress=None,
            transform: Callable[[np.ndarray], np.ndarray] | None = None, graph: Any = None) -> CollapseDiagnostics:
        """Measure ``X`` (array or ``EmbeddingSet``).

        ``positive_pairs``: optional ``(P, 2)`` item indices of pairs that should be close
        (augmented views, caption/image pairs) for ``alignment_``.
        ``transform``: optional post-hoc mitigation (``mean_center``, ``whiten``) applied to the
        sampled rows (float32) before measuring; ``n_items_`` still counts every item, and
        ``alignment_`` is measured on ``X`` as given.
        ``graph``: the cosine :class:`~embedview.core.graph.NeighborGraph` of the same ``X``; the
        hubness reads it instead of searching when every item is measured (no sample, no transform).
        """
        task = TaskState.coerce(progress)
        X_all = _as_matrix(X)
        n_all, d = X_all.shape
        if n_all < 2:
            raise ValueError(f"collapse diagnostics need at least 2 items, got {n_all}")
        rows = _sample(n_all, self.sample, self.random_state)
        X = X_all[rows]
        if transform is not None:
            X = transform(np.asarray(X, dtype=np.float32))
        X = np.asarray(X, dtype=np.float64)
        n = len(X)
        self.n_items_, self.n_used_, self.dim_ = int(n_all), int(n), int(d)

        task.report(0, 4, "spectrum")
        std = X.std(axis=0)
        self.per_dim_std_ = std.astype(np.float32)
        max_std = float(std.max())
        self.dead_dims_ = int(d if max_std <= 0 else np.sum(std < self.DEAD_TOL * max_std))

        Xc = X - X.mean(axis=0)
        s = _centred_singular_values(Xc)
        lam = s**2
        total = float(lam.sum())
        mean_sq_norm = float(np.mean(np.einsum("ij,ij->i", X, X)))
        self.total_variance_ = total
        self.singular_values_ = s.astype(np.float32)
        self.zero_variance_ = total <= self.VARIANCE_EPS * max(mean_sq_norm, self.eps)
        if self.zero_variance_:
            self.explained_variance_ratio_ = np.zeros_like(s, dtype=np.float32)
            self.effective_rank_ = 1.0
            self.participation_ratio_ = 1.0
            self.n_components_90_ = 1 if len(s) else 0
        else:
            evr = lam / total
            self.explained_variance_ratio_ = evr.astype(np.float32)
            p = s / s.sum()
            p = p[p > self.eps]
            self.effective_rank_ = float(np.exp(-np.sum(p * np.log(p))))
            self.participation_ratio_ = float(total**2 / np.sum(lam**2))
            self.n_components_90_ = int(np.searchsorted(np.cumsum(evr), self.VARIANCE_SHARE) + 1)
        self.rankme_ = _entropy_rank(_centred_singular_values(X), self.eps)
        task.report(1, 4, "pairwise cosines")

        pairs_rows = _sample(n, self.pair_sample, self.random_state)
        U = l2_normalize(X[pairs_rows].astype(np.float32)).astype(np.float64)
        G = U @ U.T
        iu = np.triu_indices(len(U), k=1)
        cos = np.clip(G[iu], -1.0, 1.0)
        del G
        self.cosine_mean_ = float(cos.mean())
        self.cosine_std_ = float(cos.std())
        counts, edges = np.histogram(cos, bins=self.hist_bins, range=(-1.0, 1.0))
        self.cosine_hist_ = (counts, edges)
        # ||u - v||^2 = 2 - 2 cos for unit vectors: uniformity = log mean exp(4 cos - 4)
        t = 4.0 * cos - 4.0
        t_max = float(t.max())
        self.uniformity_ = float(t_max + np.log(np.mean(np.exp(t - t_max))))
        del cos, t
        task.report(2, 4, "hubness")

        k = min(int(self.k), n - 1)
        if graph is not None and n == n_all and transform is None and graph.covers(n, k, "cosine"):
            nb = graph.head(k)[0]
            nb = nb[nb >= 0]  # an approximate index may find fewer than k for an item
        else:
            nb, _ = topk(X.astype(np.float32), k, metric="cosine", exclude_self=True, progress=task.sub(0.5, 0.9))
        occurrence = np.bincount(nb.ravel(), minlength=n)
        self.k_occurrence_ = occurrence
        self.hubness_ = _skew(occurrence)
        task.report(3, 4, "alignment")

        self.alignment_ = None
        if positive_pairs is not None:
            pp = np.asarray(positive_pairs, dtype=np.int64)
            if pp.ndim != 2 or pp.shape[1] != 2:
                raise ValueError(f"positive_pairs must be an array of shape (P, 2), got {pp.shape}")
            if pp.size and (pp.min() < 0 or pp.max() >= n_all):
                raise ValueError(f"positive_pairs refer to items outside 0..{n_all - 1}")
            if len(pp):
                a = l2_normalize(X_all[pp[:, 0]])
                b = l2_normalize(X_all[pp[:, 1]])
                self.alignment_ = float(np.mean(np.sum((a.astype(np.float64) - b) ** 2, axis=1)))
        self._decide()
        task.report(4, 4, "collapse diagnostics done")
        return self

    # ----------------------------------------------------------------------------------------
    def _decide(self) -> None:
        """Set ``verdict_`` and ``verdict_reason_`` from the measured figures."""
        room = max(1, min(self.n_used_ - 1, self.dim_))
        top1 = float(self.explained_variance_ratio_[0]) if len(self.explained_variance_ratio_) else 0.0
        figures = (
            f"effective rank {self.effective_rank_:.1f} of at most {room}, "
            f"{self.n_components_90_} direction(s) hold 90% of the variance, "
            f"mean pairwise cosine {self.cosine_mean_:.2f} (std {self.cosine_std_:.2f})"
        )
        complete = []
        if self.zero_variance_:
            complete.append("all vectors are (nearly) identical: the total variance is zero")
        if self.cosine_mean_ > self.COMPLETE_COSINE_MEAN and self.cosine_std_ < self.COMPLETE_COSINE_STD:
            complete.append(
                f"every pair of items has cosine ~{self.cosine_mean_:.2f} "
                f"(mean > {self.COMPLETE_COSINE_MEAN}, std {self.cosine_std_:.3f} < {self.COMPLETE_COSINE_STD})"
            )
        if not self.zero_variance_ and self.effective_rank_ < self.COMPLETE_EFFECTIVE_RANK:
            complete.append(f"effective rank {self.effective_rank_:.2f} < {self.COMPLETE_EFFECTIVE_RANK}")
        if not self.zero_variance_ and top1 > self.COMPLETE_TOP1_VARIANCE:
            complete.append(f"one direction holds {100 * top1:.0f}% of the variance")
        if complete:
            self.verdict_ = "complete collapse"
            self.verdict_reason_ = "Complete collapse: " + "; ".join(complete) + f". ({figures}.)"
            offset = self.cosine_mean_ > self.COMPLETE_COSINE_MEAN and top1 <= self.COMPLETE_TOP1_VARIANCE
            if not self.zero_variance_ and offset:
                self.verdict_reason_ += (" The items still differ around a shared offset:"
                                         " mean-centring may recover them.")
            return
        limit = self.DIMENSIONAL_RATIO * room
        dimensional = []
        if self.effective_rank_ < limit:
            dimensional.append(f"effective rank {self.effective_rank_:.1f} < {limit:.1f} "
                               f"({100 * self.DIMENSIONAL_RATIO:.0f}% of {room})")
        if self.n_components_90_ < limit:
            dimensional.append(
                f"only {self.n_components_90_} direction(s) hold 90% of the variance "
                f"(< {100 * self.DIMENSIONAL_RATIO:.0f}% of {room})"
            )
        if self.dead_dims_ > self.DIMENSIONAL_DEAD_FRACTION * self.dim_:
            dimensional.append(f"{self.dead_dims_} of {self.dim_} dimensions are dead")
        if dimensional:
            self.verdict_ = "dimensional collapse"
            self.verdict_reason_ = "Dimensional collapse: " + "; ".join(dimensional) + f". ({figures}.)"
            return
        self.verdict_ = "healthy"
        self.verdict_reason_ = f"Healthy: {figures}."
        if self.cosine_mean_ > 0.5:
            self.verdict_reason_ += " Vectors share a large common offset; mean-centring spreads them out."

    # ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        counts, edges = self.cosine_hist_
        return {
            "verdict": self.verdict_,
            "verdict_reason": self.verdict_reason_,
            "n_items": self.n_items_,
            "n_used": self.n_used_,
            "dim": self.dim_,
            "dead_dims": self.dead_dims_,
            "effective_rank": self.effective_rank_,
            "rankme": self.rankme_,
            "participation_ratio": self.participation_ratio_,
            "n_components_90": self.n_components_90_,
            "total_variance": self.total_variance_,
            "explained_variance_ratio": [float(v) for v in self.explained_variance_ratio_[:50]],
            "cosine_mean": self.cosine_mean_,
            "cosine_std": self.cosine_std_,
            "cosine_hist": {"counts": [int(c) for c in counts], "edges": [float(e) for e in edges]},
            "hubness": self.hubness_,
            "uniformity": self.uniformity_,
            "alignment": self.alignment_,
        }


# -- the Collapse view's computations: diagnostics under the mitigations, and the curves it draws -----
def diagnose(emb: EmbeddingSet, center: bool = False, whitened: bool = False,
             progress: Any = None) -> CollapseDiagnostics:
    """:class:`CollapseDiagnostics` of ``emb`` (defaults, as ``run_checks`` uses) under the
    mitigations.

    Without one the diagnostics run on the vectors exactly as ``run_checks`` does.  With one, it
    is applied to the rows the diagnostics sample (all rows up to ``sample``): whitening a
    million rows in float64 would need gigabytes for numbers measured on 5,000 rows anyway.
    """
    transform: Callable[[np.ndarray], np.ndarray] | None = None
    if center or whitened:
        def transform(X: np.ndarray) -> np.ndarray:
            return mitigate(X, center, whitened)
    return CollapseDiagnostics().fit(emb.vectors, progress=progress, transform=transform)


def diagnose_sets(sets: Mapping[str, EmbeddingSet], center: bool = False, whitened: bool = False,
                  progress: Any = None) -> dict[str, CollapseDiagnostics]:
    """:func:`diagnose` for each set, in order (encoder name -> diagnostics)."""
    task = TaskState.coerce(progress)
    out: dict[str, CollapseDiagnostics] = {}
    n = max(1, len(sets))
    for i, (name, emb) in enumerate(sets.items()):
        out[name] = diagnose(emb, center, whitened, progress=task.sub(i / n, (i + 1) / n))
    return out


#: singular values below this fraction of the largest are drawn at it (numerical zeros)
SPECTRUM_FLOOR = 1e-8


class CollapseCurves(NamedTuple):
    """What the Collapse view plots for one set: ``spread`` per dimension (sorted, descending),
    the ``spectrum`` of singular values (empty when all are zero), and the pairwise cosine
    histogram as ``cosine_edges`` and ``cosine_fraction`` (of pairs)."""

    spread: np.ndarray
    spectrum: np.ndarray
    cosine_edges: np.ndarray
    cosine_fraction: np.ndarray


def collapse_curves(diag: CollapseDiagnostics, variance: bool = False, relative: bool = False,
                    floor: float = SPECTRUM_FLOOR) -> CollapseCurves:
    """The curves of ``diag``: per-dimension std (or variance) sorted, the singular spectrum and
    the cosine histogram.  ``relative``: spread and spectrum over their largest value, so the
    shapes of several encoders compare whatever the scale of each one's vectors.  Null directions
    are numerically ~1e-8 of the first: they are floored at ``floor`` times it so the drop shows
    on a log scale."""
    v = np.sort(np.asarray(diag.per_dim_std_, dtype=np.float64))[::-1]
    v = v**2 if variance else v
    if relative and v.size and v[0] > 0:
        v = v / v[0]
    s = np.asarray(diag.singular_values_, dtype=np.float64)
    if s.size and s[0] > 0:
        s = np.maximum(s / s[0] if relative else s, floor * (1.0 if relative else s[0]))
    else:
        s = np.empty(0, dtype=np.float64)
    counts, edges = diag.cosine_hist_
    frac = np.asarray(counts, dtype=np.float64) / max(1, int(np.sum(counts)))
    return CollapseCurves(v, s, np.asarray(edges, dtype=np.float64), frac)


def log_floor(curves: Sequence[np.ndarray]) -> float:
    """The base of bars drawn on a log scale: half a decade below the smallest positive value of
    any curve (0 when none is positive)."""
    positive = [float(v[v > 0].min()) for v in curves if np.any(v > 0)]
    return float(np.log10(min(positive)) - 0.5) if positive else 0.0
