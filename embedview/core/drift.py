"""Drift between two sets of vectors from the same encoder (say, training data and this week's
production data): can the two be told apart, by how much, and which items make the difference?

:class:`Drift` runs two tests of "A and B come from the same distribution" and says in words what
they found:

* **Classifier two-sample test.**  A logistic regression (on the vectors standardised with the
  pooled mean and spread: no labels used) is fitted on a random half of each set and scores the
  other half; the AUROC of those held-out scores is the statistic (0.5: indistinguishable, 1.0:
  perfectly separable).  Its **p-value** permutes the held-out half's A / B labels with the scores
  kept fixed: that model never saw those labels, so under "no drift" they are exchangeable given
  the scores and the test is exact, at the cost of one rank sum per permutation instead of a refit
  (``n_permutations`` of them; a p-value cannot go below ``1 / (n_permutations + 1)``).  Pooling
  cross-validation folds instead, then permuting within folds, is *not* exact -- every fold's
  model was trained on the other folds' labels -- and on pure noise it rejected about twice as
  often as it should (measured: 9.7 % at 0.05, 4 % at 0.01 over 300 noise pairs), so the test
  gives up half the items for a p-value that holds.
* **MMD** with an RBF kernel: the unbiased estimate of the squared maximum mean discrepancy, the
  bandwidth set by the median heuristic (the median pairwise distance of the pooled MMD sample),
  its p-value from ``n_permutations`` permutations of the pooled sample (all permutations from one
  kernel matrix, in chunks).  The kernel matrix is quadratic in the items, so MMD uses a random
  sample of at most ``mmd_max_items`` per set.

Drift is declared when either p-value is below ``alpha / 2`` (Bonferroni for the two tests, so two
samples of the same data raise a false alarm at most ``alpha`` of the time).  The strength is read
off the AUROC (an effect size that does not grow with the number of items, unlike significance).

The items that separate the sets most are scored by the classifier: every item of A and B gets a
probability of being from B that is out-of-sample (from the model of the other half for the items
of the classifier sample, the two models' mean for the items outside it), so ``top_b_`` (B's most
B-like items: what is new in B) and ``top_a_`` (A's least B-like: what B lost) cover both whole sets.

Big sets are sampled (``max_items`` per set for the classifier, ``mmd_max_items`` for MMD) and
every number says how many items it used.  The two sets are also projected on one 2-D PCA map
fitted on both together (``xy_a_``, ``xy_b_``).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from embedview.core.embeddings import as_matrix
from embedview.core.progress import ProgressArg, TaskState

#: AUROC bounds of the words for a detected drift's strength (below the first: "slight")
STRENGTHS = ((0.6, "slight"), (0.75, "moderate"), (1.01, "strong"))


def _matrix(X: Any, which: str) -> np.ndarray:
    try:
        return as_matrix(X)
    except ValueError as exc:
        raise ValueError(f"set {which}: {exc}") from exc


def _sample(n: int, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a uniform random sample of at most ``cap`` of ``n`` items (all when fewer)."""
    if cap is None or n <= cap:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=int(cap), replace=False)).astype(np.int64)


def _rank_auc(ranks: np.ndarray, is_b: np.ndarray, n_a: int, n_b: int) -> np.ndarray:
    """AUROC of "B scores higher" from the scores' ranks (average ranks for ties); ``is_b`` is
    (N,) or (N, P) of 0/1, giving one AUROC per column."""
    rank_sum = ranks @ is_b
    return (rank_sum - n_b * (n_b + 1) / 2.0) / float(n_a * n_b)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def _top_axes(Xc: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, float]:
    """The ``k`` principal axes of centred ``Xc`` (D, k) and the share of the variance they hold.
    Up to 2,048 dimensions from the D x D covariance (only its top eigenvectors are computed),
    beyond that a randomized SVD; each axis's sign is fixed (largest loading positive)."""
    n, d = Xc.shape
    k = min(k, d, n)
    total = float(np.einsum("ij,ij->", Xc, Xc))
    if total <= 0:
        return np.eye(d, k), 0.0
    if d <= 2048:
        from scipy.linalg import eigh
        from threadpoolctl import threadpool_limits

        cov = Xc.T @ Xc
        with threadpool_limits(1):  # a small eigenproblem: threads only add waiting (10x on a busy machine)
            vals, vecs = eigh(cov, subset_by_index=[d - k, d - 1])
        axes, top = vecs[:, ::-1], float(np.sum(vals))
    else:
        from sklearn.utils.extmath import randomized_svd

        _, sv, vt = randomized_svd(Xc, k, random_state=seed)
        axes, top = vt.T, float(np.sum(sv**2))
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(axes.shape[1])])
    signs[signs == 0] = 1.0
    return axes * signs, top / total


def format_p(p: float, n_permutations: int) -> str:
    """``p = 0.034`` or, at the floor a permutation test can reach, ``p < 0.001``."""
    floor = 1.0 / (n_permutations + 1)
    if p <= floor + 1e-12:
        return f"p < {floor:.2g}" if floor < 0.01 else f"p \u2264 {floor:.3f}"
    return f"p = {p:.3f}" if p >= 0.001 else f"p = {p:.1e}"


class Drift:
    """Two-sample drift tests between vector sets ``A`` (reference) and ``B`` (new).

    Parameters
    ----------
    n_permutations : permutations for each p-value (both tests)
    alpha : the false-alarm rate of the verdict (each test is held to ``alpha / 2``)
    max_items : items per set used by the classifier test (a random sample beyond it; every item
        is still scored for the lists of separating items)
    mmd_max_items : items per set used by MMD (its kernel matrix is quadratic)
    C : inverse regularisation of the logistic regression (on standardised vectors)
    n_top : separating items kept per side
    map_max_items : items (both sets together) the 2-D PCA map is fitted on; every item is placed
    random_state : seed of the samples, halves and permutations (same inputs, same numbers)

    Results (after :meth:`fit`): ``auroc_``, ``auroc_p_``, ``mmd2_``, ``mmd_p_``,
    ``mmd_bandwidth_``, ``drift_`` (bool), ``strength_``, ``verdict_`` (a sentence),
    ``n_a_`` / ``n_b_`` (set sizes), ``clf_n_a_`` / ``clf_n_b_`` and ``mmd_n_a_`` / ``mmd_n_b_``
    (items each test used), ``test_n_a_`` / ``test_n_b_`` (the classifier's tested half),
    ``scores_a_`` / ``scores_b_`` (every item's out-of-sample probability of being from B),
    ``top_a_`` / ``top_a_scores_`` and ``top_b_`` / ``top_b_scores_`` (indices into A / B and
    their probability of B), ``xy_a_`` / ``xy_b_``.
    """

    def __init__(self, n_permutations: int = 1000, alpha: float = 0.01, max_items: int | None = 10_000,
                 mmd_max_items: int = 1000, C: float = 0.1, n_top: int = 20,
                 map_max_items: int = 10_000, random_state: int = 0) -> None:
        self.n_permutations = n_permutations
        self.alpha = alpha
        self.max_items = max_items
        self.mmd_max_items = mmd_max_items
        self.C = C
        self.n_top = n_top
        self.map_max_items = map_max_items
        self.random_state = random_state

    # -- the work -----------------------------------------------------------------------------------
    def fit(self, A: Any, B: Any, progress: ProgressArg = None) -> Drift:
        """Test ``A`` against ``B`` (EmbeddingSets or (N, D) arrays of the same D)."""
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.n_permutations < 1:
            raise ValueError(f"n_permutations must be at least 1, got {self.n_permutations}")
        if 1.0 / (self.n_permutations + 1) >= self.alpha / 2:
            need = int(np.ceil(2.0 / self.alpha))
            raise ValueError(f"{self.n_permutations} permutations cannot give a p-value below alpha/2 = "
                             f"{self.alpha / 2:g} (the smallest is 1/{self.n_permutations + 1}): use at least {need}")
        Xa, Xb = _matrix(A, "A"), _matrix(B, "B")
        if Xa.shape[1] != Xb.shape[1]:
            raise ValueError(f"set A has {Xa.shape[1]} dimensions and set B {Xb.shape[1]}: drift needs "
                             "vectors from the same encoder")
        if len(Xa) < 2 or len(Xb) < 2:
            raise ValueError(f"drift needs at least 2 items in each set (A has {len(Xa)}, B has {len(Xb)})")
        task = TaskState.coerce(progress)
        rng = np.random.default_rng(self.random_state)
        self.n_a_, self.n_b_, self.dim_ = len(Xa), len(Xb), Xa.shape[1]
        task.report(0, 1, "classifier test")
        self._classifier(Xa, Xb, rng, task.sub(0.0, 0.6))
        self._mmd(Xa, Xb, rng, task.sub(0.6, 0.9))
        self._map(Xa, Xb, rng, task.sub(0.9, 1.0))
        self._decide()
        task.report(1, 1, "done")
        return self

    def _classifier(self, Xa: np.ndarray, Xb: np.ndarray, rng: np.random.Generator, task: TaskState) -> None:
        from scipy.stats import rankdata
        from sklearn.linear_model import LogisticRegression

        ia, ib = _sample(len(Xa), self.max_items, rng), _sample(len(Xb), self.max_items, rng)
        na, nb = len(ia), len(ib)
        self.clf_n_a_, self.clf_n_b_ = na, nb
        X = np.vstack([Xa[ia], Xb[ib]]).astype(np.float64)
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale < 1e-12] = 1.0  # a constant dimension carries nothing; keep it finite
        X -= mean
        X /= scale
        y = np.r_[np.zeros(na, np.int8), np.ones(nb, np.int8)]
        # two halves, each set split in two at random: the model fitted on the first is tested on the
        # second (the test: exact, as that model never saw those labels); the second half's model
        # scores the first half, so every item of the sample has an out-of-sample score
        half = np.zeros(len(y), dtype=bool)  # True: the tested half
        for members in (np.arange(na), na + np.arange(nb)):
            shuffled = rng.permutation(members)
            half[shuffled[: len(members) // 2]] = True
        fit_half, test_half = np.flatnonzero(~half), np.flatnonzero(half)
        held = np.empty(len(y))
        coefs, intercepts = [], []
        for k, (train, test) in enumerate(((fit_half, test_half), (test_half, fit_half))):
            task.report(k, 4, f"classifier: fitting on {len(train):,} items, scoring {len(test):,}")
            clf = LogisticRegression(C=self.C, class_weight="balanced", max_iter=300)
            clf.fit(X[train], y[train])
            held[test] = clf.decision_function(X[test])
            coefs.append(clf.coef_.ravel())
            intercepts.append(float(clf.intercept_[0]))
        y_test = y[test_half]
        ta, tb = int(np.sum(y_test == 0)), int(np.sum(y_test == 1))
        self.test_n_a_, self.test_n_b_ = ta, tb
        ranks = rankdata(held[test_half])
        self.auroc_ = float(_rank_auc(ranks, y_test.astype(np.float64), ta, tb))

        # permutation null: the tested half's labels shuffled, its scores fixed (a uniform random
        # subset of tb items gets the B labels: the smallest tb of random keys)
        task.report(2, 4, f"classifier test: {self.n_permutations:,} permutations")
        exceed, done, chunk = 0, 0, max(1, min(200, 4_000_000 // max(len(ranks), 1)))
        while done < self.n_permutations:
            p = min(chunk, self.n_permutations - done)
            pick = np.argpartition(rng.random((p, len(ranks))), tb - 1, axis=1)[:, :tb]
            null = (ranks[pick].sum(axis=1) - tb * (tb + 1) / 2.0) / float(ta * tb)
            exceed += int(np.sum(null >= self.auroc_ - 1e-12))
            done += p
            task.report(2 + done / self.n_permutations, 4,
                        f"classifier test: permutation {done:,} of {self.n_permutations:,}")
        self.auroc_p_ = (1 + exceed) / (1 + self.n_permutations)

        # every item's out-of-sample probability of B: the other half's model in the sample, the
        # mean of both models outside it
        task.report(3, 4, "scoring every item")
        w = np.mean(coefs, axis=0) / scale
        b0 = float(np.mean(intercepts)) - float(mean @ w)
        scores = []
        for M in (Xa, Xb):
            z = np.empty(len(M))
            for s in range(0, len(M), 50_000):
                task.check()
                z[s:s + 50_000] = M[s:s + 50_000].astype(np.float64) @ w + b0
            scores.append(z)
        scores[0][ia] = held[:na]
        scores[1][ib] = held[na:]
        self.scores_a_ = _sigmoid(scores[0])
        self.scores_b_ = _sigmoid(scores[1])
        k_a, k_b = min(self.n_top, len(Xa)), min(self.n_top, len(Xb))
        self.top_a_ = np.argsort(self.scores_a_, kind="stable")[:k_a].astype(np.int64)
        self.top_b_ = np.argsort(-self.scores_b_, kind="stable")[:k_b].astype(np.int64)
        self.top_a_scores_ = self.scores_a_[self.top_a_]
        self.top_b_scores_ = self.scores_b_[self.top_b_]
        task.report(4, 4, "classifier test done")

    def _mmd(self, Xa: np.ndarray, Xb: np.ndarray, rng: np.random.Generator, task: TaskState) -> None:
        ia, ib = _sample(len(Xa), self.mmd_max_items, rng), _sample(len(Xb), self.mmd_max_items, rng)
        m, n = len(ia), len(ib)
        self.mmd_n_a_, self.mmd_n_b_ = m, n
        task.report(0, 1, f"MMD kernel on {m + n:,} items")
        Z = np.vstack([Xa[ia], Xb[ib]]).astype(np.float64)
        sq = np.einsum("ij,ij->i", Z, Z)
        D2 = sq[:, None] + sq[None, :] - 2.0 * (Z @ Z.T)
        np.maximum(D2, 0.0, out=D2)
        np.fill_diagonal(D2, 0.0)
        upper = D2[np.triu_indices(len(Z), k=1)]
        med = float(np.median(upper))
        if med <= 0:  # more than half the pairs identical: the typical distance of the rest
            pos = upper[upper > 0]
            med = float(np.median(pos)) if len(pos) else 1.0
        self.mmd_bandwidth_ = float(np.sqrt(med))  # sigma: the median pairwise distance
        K = np.exp(-D2 / (2.0 * med))
        del D2, upper
        task.check()
        z = np.r_[np.ones(m), np.zeros(n)]
        self.mmd2_ = float(self._mmd2(K, z[:, None], m, n)[0])
        exceed, done, chunk = 0, 0, 100
        row_sums = K.sum(axis=1)
        while done < self.n_permutations:
            p = min(chunk, self.n_permutations - done)
            labels = rng.permuted(np.tile(z[:, None], (1, p)), axis=0)
            exceed += int(np.sum(self._mmd2(K, labels, m, n, row_sums) >= self.mmd2_ - 1e-12))
            done += p
            task.report(done, self.n_permutations, f"MMD: permutation {done:,} of {self.n_permutations:,}")
        self.mmd_p_ = (1 + exceed) / (1 + self.n_permutations)

    @staticmethod
    def _mmd2(K: np.ndarray, za: np.ndarray, m: int, n: int, row_sums: np.ndarray | None = None) -> np.ndarray:
        """Unbiased MMD² for each column of ``za`` (1: in A, 0: in B); the kernel's diagonal is 1."""
        KZ = K @ za
        rs = K.sum(axis=1) if row_sums is None else row_sums
        KW = rs[:, None] - KZ
        zb = 1.0 - za
        s_aa = np.einsum("ij,ij->j", za, KZ) - m  # minus the diagonal
        s_bb = np.einsum("ij,ij->j", zb, KW) - n
        s_ab = np.einsum("ij,ij->j", za, KW)
        return s_aa / (m * (m - 1)) + s_bb / (n * (n - 1)) - 2.0 * s_ab / (m * n)

    def _map(self, Xa: np.ndarray, Xb: np.ndarray, rng: np.random.Generator, task: TaskState) -> None:
        half = max(1, self.map_max_items // 2)
        ia, ib = _sample(len(Xa), half, rng), _sample(len(Xb), half, rng)
        task.report(0, 2, f"map: PCA of {len(ia) + len(ib):,} items of both sets")
        fit_on = np.vstack([Xa[ia], Xb[ib]]).astype(np.float64)
        center = fit_on.mean(axis=0)
        fit_on -= center
        axes, share = _top_axes(fit_on, 2, self.random_state)
        self.map_n_fit_ = len(fit_on)
        self.map_variance_ = share
        out = []
        for M in (Xa, Xb):
            task.check()
            xy = np.zeros((len(M), 2), np.float32)
            for s in range(0, len(M), 50_000):
                xy[s:s + 50_000, : axes.shape[1]] = (M[s:s + 50_000].astype(np.float64) - center) @ axes
            out.append(xy)
        self.xy_a_, self.xy_b_ = out
        task.report(2, 2, "map done")

    def with_alpha(self, alpha: float) -> Drift:
        """A copy with the verdict read at another ``alpha`` (the numbers stay; nothing is refitted).
        The permutations must still be able to reach ``alpha / 2``."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
        if 1.0 / (self.n_permutations + 1) >= alpha / 2:
            raise ValueError(f"{self.n_permutations} permutations cannot give a p-value below alpha/2 = {alpha / 2:g}")
        other = copy.copy(self)
        other.alpha = float(alpha)
        other._decide()
        return other

    # -- the verdict --------------------------------------------------------------------------------
    def _decide(self) -> None:
        level = self.alpha / 2
        self.drift_ = bool(self.auroc_p_ < level or self.mmd_p_ < level)
        self.strength_ = ""
        if self.drift_:
            self.strength_ = next(word for bound, word in STRENGTHS if self.auroc_ < bound)
        self.verdict_ = self._verdict()

    def _sampled(self, used: int, total: int) -> str:
        return f"{used:,} items" if used == total else f"a random {used:,} of {total:,}"

    def clf_text(self) -> str:
        """The classifier test's numbers, with what they were computed on."""
        return (f"AUROC {self.auroc_:.3f} ({format_p(self.auroc_p_, self.n_permutations)}, "
                f"{self.n_permutations:,} permutations; logistic regression fitted on half of "
                f"{self._sampled(self.clf_n_a_, self.n_a_)} of A and {self._sampled(self.clf_n_b_, self.n_b_)} of B, "
                f"tested on the other half: {self.test_n_a_:,} + {self.test_n_b_:,} items)")

    def mmd_text(self) -> str:
        """The MMD test's numbers, with what they were computed on."""
        return (f"MMD\u00b2 {self.mmd2_:.4g} ({format_p(self.mmd_p_, self.n_permutations)}, "
                f"{self.n_permutations:,} permutations; RBF kernel, median-distance bandwidth "
                f"{self.mmd_bandwidth_:.3g}; {self._sampled(self.mmd_n_a_, self.n_a_)} of A and "
                f"{self._sampled(self.mmd_n_b_, self.n_b_)} of B)")

    def _verdict(self) -> str:
        level = self.alpha / 2
        if self.drift_:
            which = [name for name, p in (("classifier", self.auroc_p_), ("MMD", self.mmd_p_)) if p < level]
            both = "both tests" if len(which) == 2 else f"the {which[0]} test"
            return (f"drift ({self.strength_}): AUROC {self.auroc_:.2f}: a linear classifier tells B from A "
                    f"{'well' if self.auroc_ >= 0.75 else 'better than chance'}; {both} below "
                    f"alpha/2 = {level:.3g}. Look at the items most typical of B and of A to see what changed.")
        return (f"no detectable drift: AUROC {self.auroc_:.2f} (0.5 is chance) and neither test below "
                f"alpha/2 = {level:.3g}. A shift too small for {self.clf_n_a_ + self.clf_n_b_:,} items "
                "to show may remain.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready results: every number with the items it used."""
        return {
            "drift": self.drift_,
            "strength": self.strength_ or None,
            "verdict": self.verdict_,
            "alpha": self.alpha,
            "rule": "drift when either p-value < alpha/2 (Bonferroni for two tests)",
            "n_a": self.n_a_,
            "n_b": self.n_b_,
            "dim": self.dim_,
            "classifier": {
                "auroc": self.auroc_,
                "p_value": self.auroc_p_,
                "n_permutations": self.n_permutations,
                "n_a": self.clf_n_a_,
                "n_b": self.clf_n_b_,
                "sampled": self.clf_n_a_ < self.n_a_ or self.clf_n_b_ < self.n_b_,
                "n_tested_a": self.test_n_a_,
                "n_tested_b": self.test_n_b_,
                "model": f"logistic regression (C={self.C}, balanced classes) on standardised vectors",
                "p_value_method": "fitted on half of the sample; AUROC on the other half, whose labels are "
                                  "permuted with the scores fixed (exact: that model never saw them)",
                "text": self.clf_text(),
            },
            "mmd": {
                "mmd2": self.mmd2_,
                "p_value": self.mmd_p_,
                "n_permutations": self.n_permutations,
                "n_a": self.mmd_n_a_,
                "n_b": self.mmd_n_b_,
                "sampled": self.mmd_n_a_ < self.n_a_ or self.mmd_n_b_ < self.n_b_,
                "kernel": "rbf",
                "bandwidth": self.mmd_bandwidth_,
                "bandwidth_rule": "median pairwise distance of the pooled MMD sample",
                "estimate": "unbiased",
                "text": self.mmd_text(),
            },
            "map": {"method": "pca", "fitted_on": self.map_n_fit_, "variance_explained": self.map_variance_},
            "top_b": [{"index": int(i), "p_b": float(s)} for i, s in zip(self.top_b_, self.top_b_scores_,
                                                                         strict=True)],
            "top_a": [{"index": int(i), "p_b": float(s)} for i, s in zip(self.top_a_, self.top_a_scores_,
                                                                         strict=True)],
            "top_score": "out-of-sample probability of B from the classifier (the other half's model, or "
                         "the mean of both models for items outside its sample)",
        }
