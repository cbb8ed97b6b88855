"""Compare encoders on the same items: representation similarity and neighbour agreement.

* :func:`linear_cka` -- linear Centered Kernel Alignment (Kornblith et al. 2019), feature-space
  form: ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred ``Xc``, ``Yc``,
  in float64.  1 for identical representations, invariant to orthogonal transforms and
  isotropic scaling, near 0 for unrelated ones.  Dimensions may differ.
* :func:`knn_overlap` -- per item, ``|A & B| / k`` where ``A`` and ``B`` are the item's ``k``
  nearest neighbours (cosine, itself excluded) under each encoder: 1 when both encoders agree
  on the item's neighbourhood, 0 when they share no neighbour.  (Not Jaccard: dividing by
  ``k`` reads directly as "the fraction of my neighbours the other encoder also finds".)
* :class:`EncoderComparison` -- both, for every pair of encoders, a per-item disagreement for
  colouring the map, and each encoder's own checks.
* :func:`compare_checks` -- each encoder's full suite of checks plus the comparison, as one
  JSON-ready dict; :func:`comparison` -- the geometry only (what the report shows).

Imports go one way: this module runs :class:`embedview.core.checks.Checks` for each encoder;
the checks never import the comparison.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from itertools import combinations
from typing import Any

import numpy as np

from embedview.core.checks import Checks, jsonable, run_checks
from embedview.core.embeddings import EmbeddingSet, as_matrix
from embedview.core.neighbors import topk
from embedview.core.progress import ProgressArg, TaskState


def linear_cka(X: Any, Y: Any) -> float:
    """Linear CKA between two representations of the same ``n`` items (rows), in [0, 1].

    Returns 0.0 when either representation has no variance (all rows equal).
    """
    X = as_matrix(X).astype(np.float64)
    Y = as_matrix(Y).astype(np.float64)
    if len(X) != len(Y):
        raise ValueError(f"CKA needs the same items in both: {len(X)} vs {len(Y)} rows")
    X = X - X.mean(axis=0)
    Y = Y - Y.mean(axis=0)
    cross = np.linalg.norm(Y.T @ X, "fro") ** 2
    norm_x = np.linalg.norm(X.T @ X, "fro")
    norm_y = np.linalg.norm(Y.T @ Y, "fro")
    if norm_x <= 0 or norm_y <= 0:
        return 0.0
    return float(cross / (norm_x * norm_y))


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, the fraction of ``a``'s entries also in ``b`` (both (n, k) index arrays)."""
    k = a.shape[1]
    if k == 0:
        return np.ones(len(a))
    out = np.empty(len(a))
    chunk = max(1, 2_000_000 // (k * k))
    for s in range(0, len(a), chunk):
        out[s : s + chunk] = (a[s : s + chunk, :, None] == b[s : s + chunk, None, :]).any(axis=2).sum(axis=1) / k
    return out


def knn_overlap(X: Any, Y: Any, k: int = 10, metric: str = "cosine") -> np.ndarray:
    """Per item, ``|A & B| / k`` of its ``k`` nearest neighbours under ``X`` and under ``Y``."""
    X = as_matrix(X)
    Y = as_matrix(Y)
    if len(X) != len(Y):
        raise ValueError(f"kNN overlap needs the same items in both: {len(X)} vs {len(Y)} rows")
    a, _ = topk(X, k, metric=metric, exclude_self=True)
    b, _ = topk(Y, k, metric=metric, exclude_self=True)
    return _overlap(a, b)


def align_sets(sets: Mapping[str, EmbeddingSet]) -> dict[str, EmbeddingSet]:
    """The sets reordered to the first one's item order (matched by id).

    Raises ``ValueError`` naming the sets and a few of the ids when they do not hold exactly
    the same items.
    """
    names = list(sets)
    if not names:
        raise ValueError("no embedding sets to compare")
    ref_name = names[0]
    ref_ids = [str(i) for i in sets[ref_name].dataset.ids]
    if len(set(ref_ids)) != len(ref_ids):
        raise ValueError(f"{ref_name!r} has repeated item ids; items cannot be matched across encoders")
    out = {ref_name: sets[ref_name]}
    for name in names[1:]:
        ids = [str(i) for i in sets[name].dataset.ids]
        if ids == ref_ids:
            out[name] = sets[name]
            continue
        pos = {x: i for i, x in enumerate(ids)}
        missing = [x for x in ref_ids if x not in pos]
        extra = sorted(set(ids) - set(ref_ids))
        if missing or extra or len(pos) != len(ids):
            detail = []
            if missing:
                detail.append(f"{len(missing)} item(s) of {ref_name!r} missing, e.g. {missing[:3]}")
            if extra:
                detail.append(f"{len(extra)} extra item(s), e.g. {extra[:3]}")
            if len(pos) != len(ids):
                detail.append("repeated ids")
            raise ValueError(
                f"encoders {ref_name!r} and {name!r} do not hold the same items ({'; '.join(detail)}); "
                "compare encoders on the same dataset"
            )
        out[name] = sets[name].subset([pos[x] for x in ref_ids])
    return out


class EncoderComparison:
    """How several encoders of the same items agree.

    Parameters
    ----------
    k : int
        Neighbours for the kNN overlap (and each encoder's checks).
    metrics : bool
        Also run the quality checks the data allows (:attr:`METRIC_CHECKS`) on each encoder
        (``metrics_``), through :class:`embedview.core.checks.Checks`.  Pass ``False`` when
        those were run already (as :func:`compare_checks` does).

    Attributes (after :meth:`fit`)
    ------------------------------
    names_ : encoder names, in the order given
    cka_ : (M, M) float array of linear CKA, ``names_`` order (diagonal 1)
    overlap_ : {(name_a, name_b): (N,) per-item kNN overlap}, one entry per pair
    disagreement_ : (N,) float, ``1 -`` the mean overlap over all pairs, per item
    metrics_ : {name: dict of that encoder's checks}; empty when ``metrics=False``
    ids_ : the item ids, in the order of the per-item arrays
    """

    #: the checks run per encoder for ``metrics_`` (quality measures; not outliers / duplicates)
    METRIC_CHECKS = ("collapse", "knn", "linear_probe", "clustering", "retrieval")

    def __init__(self, k: int = 10, metrics: bool = True):
        self.k = k
        self.metrics = metrics

    def fit(
        self,
        sets: Mapping[str, EmbeddingSet],
        labels: Any | None = None,
        progress=None,
    ) -> EncoderComparison:
        """Compare ``{name: EmbeddingSet}``.  ``labels`` (one per item, in the first set's order)
        replace the dataset's labels for the checks."""
        task = TaskState.coerce(progress)
        if len(sets) < 2:
            raise ValueError("comparing encoders needs at least two embedding sets")
        aligned = align_sets(sets)
        self.names_ = list(aligned)
        first = aligned[self.names_[0]]
        self.ids_ = list(first.dataset.ids)
        n = len(first)
        if labels is not None and len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} items")
        m = len(self.names_)
        pairs = list(combinations(self.names_, 2))
        n_steps = m + len(pairs) + (m if self.metrics else 0)
        step = 0

        neighbours: dict[str, np.ndarray] = {}
        for name in self.names_:
            neighbours[name], _ = topk(
                aligned[name].unit, self.k, exclude_self=True, progress=task.sub(step / n_steps, (step + 1) / n_steps)
            )
            step += 1
        self.cka_ = np.eye(m)
        self.overlap_: dict[tuple[str, str], np.ndarray] = {}
        for a, b in pairs:
            task.report(step, n_steps, f"comparing {a} and {b}")
            i, j = self.names_.index(a), self.names_.index(b)
            self.cka_[i, j] = self.cka_[j, i] = linear_cka(aligned[a].vectors, aligned[b].vectors)
            self.overlap_[(a, b)] = _overlap(neighbours[a], neighbours[b])
            step += 1
        self.disagreement_ = 1.0 - np.mean(list(self.overlap_.values()), axis=0)

        self.metrics_: dict[str, dict[str, Any]] = {}
        if self.metrics:
            for name in self.names_:
                emb = aligned[name]
                if labels is not None:
                    emb = EmbeddingSet(dataclasses.replace(emb.dataset, labels=np.asarray(labels, dtype=object)),
                                       emb.vectors, emb.encoder, list(emb.problems))
                sub = task.sub(step / n_steps, (step + 1) / n_steps)
                result = Checks(k=self.k, include=self.METRIC_CHECKS).fit(emb, progress=sub).to_dict()
                result.pop("dataset", None)
                self.metrics_[name] = result
                step += 1
        task.report(1, 1, "comparison done")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Names, the CKA matrix, mean / median kNN overlap per pair and each encoder's checks."""
        return {
            "names": list(self.names_),
            "k": int(self.k),
            "n_items": len(self.ids_),
            "cka": [[float(v) for v in row] for row in self.cka_],
            "knn_overlap": [
                {"a": a, "b": b, "mean": float(o.mean()), "median": float(np.median(o))}
                for (a, b), o in self.overlap_.items()
            ],
            "disagreement_mean": float(self.disagreement_.mean()),
            "metrics": self.metrics_,
        }


def compare_checks(
    sets: Mapping[str, EmbeddingSet],
    *,
    k: int = 10,
    progress: ProgressArg = None,
    include: Iterable[str] | None = None,
) -> dict[str, Any]:
    """:func:`~embedview.core.checks.run_checks` for several encoders, plus how their geometries agree.

    Returns ``{"sets": {name: run_checks result}, "comparison": {...} or None, "skipped": [...]}``.
    ``comparison`` (linear CKA and kNN overlap for every pair, via :class:`EncoderComparison`)
    needs the sets to hold the same items (matched by id); when they do not, ``skipped`` says why.
    """
    task = TaskState.coerce(progress)
    names = list(sets)
    if not names:
        raise ValueError("nothing to compare: no embedding sets given")
    n_steps = len(names) + 1
    out: dict[str, Any] = {"sets": {}, "comparison": None, "skipped": []}
    for i, name in enumerate(names):
        sub = task.sub(i / n_steps, (i + 1) / n_steps)
        out["sets"][name] = run_checks(sets[name], k=k, include=include, progress=sub)
    out["comparison"], reason = comparison(sets, k=k, progress=task.sub(len(names) / n_steps, 1.0))
    if reason:
        out["skipped"].append({"check": "comparison", "reason": reason})
    task.report(1, 1, "comparison done")
    result: dict[str, Any] = jsonable(out)
    return result


def comparison(sets: Mapping[str, EmbeddingSet], *, k: int = 10,
               progress: ProgressArg = None) -> tuple[dict[str, Any] | None, str]:
    """``(EncoderComparison.to_dict() or None, why it was skipped or "")`` for ``sets``.

    Only the geometry is compared here (CKA, kNN overlap); each set's own checks are run by the
    caller.  Sets that do not hold the same items cannot be compared, and the reason says so.
    """
    if len(sets) < 2:
        return None, "only one encoder: nothing to compare"
    try:
        result = EncoderComparison(k=k, metrics=False).fit(dict(sets), progress=progress)
    except ValueError as exc:
        return None, str(exc)
    return result.to_dict(), ""
