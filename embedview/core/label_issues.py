"""Likely label errors: items whose label the vectors disagree with (confident learning, via cleanlab).

How it works
------------
1. **Which items.**  Unlabelled items (``None``, ``NaN``, ``""``, ``-1``: as in
   :func:`embedview.core.evaluation.encode_labels`) are skipped, and so are classes with fewer
   items than ``cv_folds`` (they cannot be held out in every fold); ``notes_`` names both.
2. **Out-of-fold predicted probabilities** for every used item, from two views of the vectors:

   * the *linear probe*: standardised vectors, multinomial logistic regression, stratified
     ``cv_folds``-fold cross-validation; each item's probabilities come from the model trained
     on the other folds.  Above ``max_train`` training items per fold the model is trained on
     a stratified random sample of that many (every class kept); ``probe_sampled_`` says so.
   * the *kNN vote*: the share of each class among the item's ``k`` nearest other labelled
     items (cosine), smoothed with one pseudo-vote spread by class frequency so no class gets
     probability 0.  The item itself never votes (leave-one-out is out-of-sample).  Above
     ``max_reference`` labelled items the voters are a stratified random sample of that many
     (``knn_sampled_``), so the search costs N x ``max_reference``, not N x N.

   ``method="both"`` (default) mixes the two, each weighted by its out-of-fold accuracy on the
   given labels (``probe_weight_ = acc_probe / (acc_probe + acc_knn)``): about even where both
   work (digits 0.49, Debian texts 0.52), less kNN where the vote is weak (0.65 on 384-d
   synthetic clusters, kNN accuracy 0.36).  ``"probe"`` or ``"knn"`` uses one.
3. **cleanlab** (imported when fitting) does the rest, unchanged:
   ``cleanlab.rank.get_label_quality_scores`` gives each item's *label quality* (``rank_by``,
   default self-confidence: the predicted probability of the label it has; low = suspicious),
   and ``cleanlab.filter.find_label_issues`` decides which items are issues (``filter_by``,
   default ``"prune_by_noise_rate"``: it estimates from the probabilities how many items of
   each class carry each wrong label -- the confident joint -- and flags that many, least
   confident first).  There is no single score cut-off: the count is estimated per class pair.
4. **The suggested label** is the class with the highest combined probability.

Results are for a user to check, not proof: a flagged item may be mislabelled, ambiguous
(it truly belongs to two classes) or an outlier.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from embedview.core.evaluation import encode_labels
from embedview.core.findings import FindingSet
from embedview.core.neighbors import limit_threads, topk
from embedview.core.progress import TaskState

METHODS = ("both", "probe", "knn")
RANK_BY = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
FILTER_BY = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given")


def _stratified_sample(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of about ``n`` items of ``y``, each class in proportion and at least one of each."""
    if len(y) <= n:
        return np.arange(len(y))
    picked = []
    classes, counts = np.unique(y, return_counts=True)
    share = n / len(y)
    for c, cnt in zip(classes, counts, strict=True):
        members = np.flatnonzero(y == c)
        take = min(cnt, max(1, int(round(cnt * share))))
        picked.append(rng.choice(members, take, replace=False))
    return np.sort(np.concatenate(picked))


class LabelIssues:
    """Find items whose label is likely wrong, from out-of-fold probabilities and cleanlab.

    Parameters
    ----------
    k : int
        Neighbours of the kNN vote.
    cv_folds : int
        Folds of the cross-validated linear probe (and the smallest class size kept).
    method : "both" | "probe" | "knn"
        Which out-of-fold probabilities feed cleanlab (see the module docstring).
    rank_by : str
        cleanlab's label quality score (``get_label_quality_scores(method=...)``).
    filter_by : str
        cleanlab's rule for which items are issues (``find_label_issues(filter_by=...)``).
    C, max_iter : float, int
        Logistic regression's inverse regularisation and iteration limit.
    max_train : int
        Most training items per fold of the probe; above it a stratified sample is used.  At
        100 000 x 384 (100 classes, 5 % flipped) training on all 80 000 items per fold found the
        flips with precision 0.893 (AUROC 0.997) in 256 s; a sample of 20 000 took half the
        probe's time but only reached 0.826 (0.987), so the default samples beyond 100 000.
    max_reference : int
        Most voters of the kNN vote; above it each item's neighbours are searched (exactly) among
        a stratified random sample of that many labelled items.  Without it the exact search at
        100 000 x 384 was on course for about 10 minutes here (2 busy cores), and the approximate
        index tuned itself to a recall@10 of only 0.4 on clustered synthetic data.
    metric : "cosine" | "euclidean" | "dot"
        Neighbour metric of the kNN vote.
    n_threads : int or None
        Threads of BLAS / OpenMP while the probe trains (``None``: the libraries' default).  One
        by default: on a busy machine the libraries' spinning threads made one fit 30 times
        slower (11 s against 0.36 s for the digits, load 13 on 2 cores).
    random_state : int

    Attributes (after ``fit``)
    --------------------------
    indices_ : (N_used,) int64, the items used (rows of ``pred_probs_``)
    classes_ : list, the classes used (columns of ``pred_probs_``)
    pred_probs_ : (N_used, C) float64, combined out-of-fold probabilities
    probe_probs_, knn_probs_ : (N_used, C) the two sources (``None`` when ``method`` skips one)
    quality_ : (N,) float64, label quality per item (NaN for items not used)
    suggested_ : (N,) object, the label the data suggests (``None`` for items not used)
    is_issue_ : (N,) bool, flagged by cleanlab
    probe_accuracy_, knn_accuracy_ : out-of-fold accuracy of each source (``None`` if skipped)
    probe_weight_ : float, the probe's weight in the mixture (1 or 0 with one source)
    probe_sampled_ : bool, whether the probe was trained on a sample in some fold
    knn_sampled_ : bool, whether the voters were a sample; ``n_voters_`` how many
    n_items_ : N; ``n_used_`` : N_used
    notes_ : str, what was skipped and why, sampling, convergence ("" when nothing)
    """

    def __init__(
        self,
        k: int = 10,
        cv_folds: int = 5,
        method: str = "both",
        random_state: int | None = 0,
        *,
        rank_by: str = "self_confidence",
        filter_by: str = "prune_by_noise_rate",
        C: float = 1.0,
        max_iter: int = 300,
        max_train: int = 100_000,
        max_reference: int = 20_000,
        metric: str = "cosine",
        n_threads: int | None = 1,
    ):
        self.k = k
        self.cv_folds = cv_folds
        self.method = method
        self.random_state = random_state
        self.rank_by = rank_by
        self.filter_by = filter_by
        self.C = C
        self.max_iter = max_iter
        self.max_train = max_train
        self.metric = metric
        self.max_reference = max_reference
        self.n_threads = n_threads

    # -- fitting ------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {self.method!r}")
        if self.rank_by not in RANK_BY:
            raise ValueError(f"rank_by must be one of {RANK_BY}, not {self.rank_by!r}")
        if self.filter_by not in FILTER_BY:
            raise ValueError(f"filter_by must be one of {FILTER_BY}, not {self.filter_by!r}")
        if int(self.cv_folds) < 2:
            raise ValueError(f"cv_folds must be at least 2, not {self.cv_folds}")
        if int(self.k) < 1:
            raise ValueError(f"k must be at least 1, not {self.k}")
        if int(self.max_reference) < 2:
            raise ValueError(f"max_reference must be at least 2, not {self.max_reference}")
        if int(self.max_train) < 2:
            raise ValueError(f"max_train must be at least 2, not {self.max_train}")

    def fit(self, X: Any, labels: Any, progress=None) -> LabelIssues:
        """``X``: (N, D) matrix or :class:`EmbeddingSet`; ``labels``: one per item (``None`` = unlabelled)."""
        from embedview.core.embeddings import as_matrix

        self._check_params()
        task = TaskState.coerce(progress)
        X = as_matrix(X)
        if labels is None:
            raise ValueError("label issues need labels: this dataset has none")
        codes, all_classes = encode_labels(labels)
        if len(codes) != len(X):
            raise ValueError(f"{len(X)} vectors but {len(codes)} labels")
        n = len(X)
        notes: list[str] = []
        n_unlabelled = int(np.count_nonzero(codes < 0))
        if n_unlabelled:
            notes.append(f"{n_unlabelled} unlabelled item(s) skipped")
        counts = np.bincount(codes[codes >= 0], minlength=len(all_classes))
        folds = int(self.cv_folds)
        small = [c for c in range(len(all_classes)) if 0 < counts[c] < folds]
        if small:
            listed = ", ".join(f"{all_classes[c]!r} ({counts[c]})" for c in small[:10])
            more = f" and {len(small) - 10} more" if len(small) > 10 else ""
            notes.append(f"{len(small)} class(es) with fewer than {folds} items skipped "
                         f"({int(counts[small].sum())} items): {listed}{more}")
        usable = [c for c in range(len(all_classes)) if counts[c] >= folds]
        if len(usable) < 2:
            sizes = ", ".join(f"{all_classes[c]!r}: {counts[c]}" for c in range(len(all_classes)))
            raise ValueError(f"label issues need at least 2 classes with {folds} or more labelled items each; "
                             f"found {len(usable)} (class sizes: {sizes})")
        remap = np.full(len(all_classes), -1, dtype=np.int64)
        remap[usable] = np.arange(len(usable))
        used = np.flatnonzero((codes >= 0) & (remap[np.maximum(codes, 0)] >= 0))
        y = remap[codes[used]]
        Xu = X[used]
        self.classes_ = [all_classes[c] for c in usable]
        self.indices_ = used.astype(np.int64)
        n_classes = len(usable)

        want_probe = self.method in ("both", "probe")
        want_knn = self.method in ("both", "knn")
        self.probe_probs_ = self.knn_probs_ = None
        self.probe_accuracy_ = self.knn_accuracy_ = None
        self.probe_sampled_ = self.knn_sampled_ = False
        self.n_voters_ = 0
        probe_end = 0.75 if want_knn else 0.95
        if want_probe:
            self.probe_probs_ = self._probe(Xu, y, n_classes, task.sub(0.0, probe_end), notes)
            self.probe_accuracy_ = float(np.mean(self.probe_probs_.argmax(axis=1) == y))
        if want_knn:
            self.knn_probs_ = self._knn(Xu, y, n_classes, task.sub(probe_end if want_probe else 0.0, 0.95))
            self.knn_accuracy_ = float(np.mean(self.knn_probs_.argmax(axis=1) == y))
            if self.knn_sampled_:
                notes.append(f"kNN vote among a stratified sample of {self.n_voters_:,} of the {len(y):,} "
                             f"labelled items")
        if self.probe_probs_ is not None and self.knn_probs_ is not None:
            acc_p, acc_k = float(self.probe_accuracy_ or 0.0), float(self.knn_accuracy_ or 0.0)
            self.probe_weight_ = acc_p / (acc_p + acc_k) if acc_p + acc_k > 0 else 0.5
            mixed = self.probe_weight_ * self.probe_probs_ + (1.0 - self.probe_weight_) * self.knn_probs_
        else:
            self.probe_weight_ = 1.0 if self.probe_probs_ is not None else 0.0
            only = self.probe_probs_ if self.probe_probs_ is not None else self.knn_probs_
            assert only is not None
            mixed = only
        pred = mixed / mixed.sum(axis=1, keepdims=True)
        self.pred_probs_ = pred

        task.report(0.95, 1.0, "cleanlab: ranking label issues")
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores

        quality = get_label_quality_scores(y, pred, method=self.rank_by)
        task.check()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cleanlab warns about tiny classes; notes_ already says
            issue_mask = find_label_issues(y, pred, filter_by=self.filter_by, n_jobs=1)
        self.n_items_ = int(n)
        self.n_used_ = int(len(used))
        self.quality_ = np.full(n, np.nan, dtype=np.float64)
        self.quality_[used] = quality
        self.is_issue_ = np.zeros(n, dtype=bool)
        self.is_issue_[used] = issue_mask
        self.suggested_ = np.full(n, None, dtype=object)
        best = pred.argmax(axis=1)
        for pos, i in enumerate(used):
            self.suggested_[i] = self.classes_[best[pos]]
        self._y = y
        self.notes_ = "; ".join(notes)
        task.report(1, 1, f"{int(issue_mask.sum())} likely label errors")
        return self

    def _probe(self, X: np.ndarray, y: np.ndarray, n_classes: int, task: TaskState, notes: list[str]) -> np.ndarray:
        """Out-of-fold probabilities of the cross-validated logistic regression."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold
        from sklearn.preprocessing import StandardScaler

        folds = int(self.cv_folds)
        rng = np.random.default_rng(self.random_state)
        out = np.zeros((len(y), n_classes), dtype=np.float64)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        converged = True
        largest_train = 0
        for f, (tr, te) in enumerate(splitter.split(X, y)):
            task.report(f, folds, f"linear probe: fold {f + 1} of {folds}")
            pick = tr[_stratified_sample(y[tr], int(self.max_train), rng)]
            self.probe_sampled_ |= len(pick) < len(tr)
            largest_train = max(largest_train, len(tr))
            scaler = StandardScaler().fit(X[pick])
            model = LogisticRegression(C=self.C, max_iter=int(self.max_iter))
            with warnings.catch_warnings(record=True) as caught, self._threads():
                warnings.simplefilter("always", ConvergenceWarning)
                model.fit(scaler.transform(X[pick]), y[pick])
            converged &= not any(issubclass(w.category, ConvergenceWarning) for w in caught)
            proba = model.predict_proba(scaler.transform(X[te]))
            out[np.ix_(te, model.classes_)] = proba
        task.report(1, 1, "linear probe done")
        if self.probe_sampled_:
            notes.append(f"linear probe trained on a stratified sample of {int(self.max_train):,} of the "
                         f"{largest_train:,} training items per fold")
        if not converged:
            notes.append(f"logistic regression did not converge in {self.max_iter} iterations in some folds")
        return out

    def _threads(self) -> Any:
        return limit_threads(self.n_threads, user_api=None)  # BLAS and OpenMP

    def _knn(self, X: np.ndarray, y: np.ndarray, n_classes: int, task: TaskState) -> np.ndarray:
        """Out-of-sample kNN vote shares, smoothed by one pseudo-vote spread by class frequency.

        The voters are every labelled item, or above ``max_reference`` a stratified random sample
        of that many (``knn_sampled_``); an item never votes for itself.
        """
        rng = np.random.default_rng(self.random_state)
        ref = _stratified_sample(y, int(self.max_reference), rng)
        self.knn_sampled_ = len(ref) < len(y)
        self.n_voters_ = int(len(ref))
        k = max(1, min(int(self.k), len(ref) - 1))
        if self.knn_sampled_:
            # each item's k + 1 nearest voters; a voter drops itself, every other item its farthest
            idx, _ = topk(X[ref], k + 1, queries=X, metric=self.metric, exclude_self=False, progress=task)
            idx = ref[idx]
            own = idx == np.arange(len(y))[:, None]
            own[~own.any(axis=1), -1] = True
            keep = np.argsort(own, axis=1, kind="stable")[:, :k]
            idx = np.take_along_axis(idx, keep, axis=1)
        else:
            idx, _ = topk(X, k, metric=self.metric, exclude_self=True, progress=task)
        prior = np.bincount(y, minlength=n_classes) / len(y)
        votes = np.zeros((len(y), n_classes), dtype=np.float64)
        rows = np.repeat(np.arange(len(y)), k)
        np.add.at(votes, (rows, y[idx].ravel()), 1.0)
        self.k_ = int(k)
        task.report(1, 1, "kNN vote done")
        return (votes + prior) / (k + 1.0)

    # -- results --------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "quality_"):
            raise RuntimeError("LabelIssues is not fitted; call fit(X, labels) first")

    def ranking(self) -> np.ndarray:
        """Every used item, most suspicious (lowest label quality) first (ties by index)."""
        self._check_fitted()
        q = self.quality_[self.indices_]
        return self.indices_[np.lexsort((self.indices_, q))]

    def describe_method(self) -> str:
        """How the probabilities and the flags were computed, in one paragraph."""
        self._check_fitted()
        parts = []
        if self.probe_probs_ is not None:
            sample = (f", trained on a stratified sample of at most {int(self.max_train):,} items per fold"
                      if self.probe_sampled_ else "")
            parts.append(f"{self.cv_folds}-fold cross-validated logistic regression on the standardised "
                         f"vectors{sample} (out-of-fold accuracy {self.probe_accuracy_:.3f})")
        if self.knn_probs_ is not None:
            voters = (f" among a stratified sample of {self.n_voters_:,} labelled items" if self.knn_sampled_
                      else "")
            parts.append(f"the vote of the {self.k_} nearest labelled items{voters} ({self.metric}, out-of-sample "
                         f"accuracy {self.knn_accuracy_:.3f})")
        import importlib.metadata as md

        try:
            version = md.version("cleanlab")
        except md.PackageNotFoundError:  # pragma: no cover - cleanlab imported above
            version = "?"
        mix = (f", weighted {self.probe_weight_:.2f} : {1 - self.probe_weight_:.2f} by their accuracy"
               if len(parts) > 1 else "")
        return (f"out-of-fold class probabilities on {self.n_used_:,} labelled items in {len(self.classes_)} classes "
                f"from {' and '.join(parts)}{mix}; cleanlab {version}: "
                f"find_label_issues(filter_by={self.filter_by!r}) flags the items, "
                f"get_label_quality_scores(method={self.rank_by!r}) ranks them")

    def findings(self) -> FindingSet:
        """The flagged items as a :class:`FindingSet` (kind ``"label_issue"``), most suspicious first.

        ``scores`` are ``1 - label quality``; columns ``label``, ``suggested_label``,
        ``p_label`` (combined probability of the given label) and ``p_suggested``.
        """
        self._check_fitted()
        flagged = np.flatnonzero(self.is_issue_)
        order = np.lexsort((flagged, self.quality_[flagged]))
        flagged = flagged[order]
        pos = np.searchsorted(self.indices_, flagged)
        y = self._y[pos]
        probs = self.pred_probs_[pos]
        best = probs.argmax(axis=1) if len(pos) else np.zeros(0, dtype=np.int64)
        columns: dict[str, list[Any]] = {
            "label": [self.classes_[c] for c in y],
            "suggested_label": [self.classes_[c] for c in best],
            "p_label": [round(float(probs[j, y[j]]), 6) for j in range(len(pos))],
            "p_suggested": [round(float(probs[j, best[j]]), 6) for j in range(len(pos))],
        }
        reason = {
            "prune_by_noise_rate": "cleanlab estimates, from the probabilities, how many items of each class carry "
                                   "each wrong label (the confident joint) and flags that many per class pair, those "
                                   "with the largest margin for the other class first; there is no single score "
                                   "cut-off",
            "prune_by_class": "cleanlab estimates how many items of each class are mislabelled (the confident joint) "
                              "and flags that many per class, least confident first; there is no single score cut-off",
            "both": "items flagged by both of cleanlab's rules prune_by_noise_rate and prune_by_class",
            "confident_learning": "cleanlab's confident joint: items confidently predicted as another class "
                                  "(above that class's average self-confidence)",
            "predicted_neq_given": "items whose most likely class is not their label",
        }[self.filter_by]
        notes = f" Notes: {self.notes_}." if self.notes_ else ""
        why = {"both": "a classifier trained without them and their nearest neighbours",
               "probe": "a classifier trained without them", "knn": "their nearest neighbours"}[self.method]
        explanation = (f"{len(flagged):,} of {self.n_used_:,} labelled items have a label the vectors disagree with: "
                       f"{why} point to another class. "
                       f"Check each label; fix it (the suggested label is the likeliest class) or drop the item. "
                       f"Some may be ambiguous items or outliers rather than errors.{notes}")
        return FindingSet(
            kind="label_issue",
            indices=flagged,
            scores=1.0 - self.quality_[flagged],
            score_name=f"1 - label quality ({self.rank_by.replace('_', ' ')})",
            explanation=explanation,
            threshold=None,
            threshold_reason=reason,
            n_considered=self.n_used_,
            method=self.describe_method(),
            columns=columns,
        )

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "k": int(self.k),
            "cv_folds": int(self.cv_folds),
            "method": self.method,
            "rank_by": self.rank_by,
            "filter_by": self.filter_by,
            "n_items": self.n_items_,
            "n_used": self.n_used_,
            "n_classes": len(self.classes_),
            "n_issues": int(self.is_issue_.sum()),
            "probe_accuracy": self.probe_accuracy_,
            "probe_weight": self.probe_weight_,
            "knn_accuracy": self.knn_accuracy_,
            "probe_sampled": bool(self.probe_sampled_),
            "notes": self.notes_,
        }
