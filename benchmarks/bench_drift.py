"""Drift between two sets: embedview's ``Drift.fit`` against the plain scikit-learn classifier test.

    .venv/bin/python benchmarks/bench_drift.py                  # 20k vs 20k x 384
    .venv/bin/python benchmarks/bench_drift.py --n 100000       # 100k vs 100k (about a minute a run on 2 cores)
    .venv/bin/python benchmarks/bench_drift.py --calibration 300  # false alarms on pure noise (a few minutes)

Data: ``n`` vectors per set in ``dim`` dimensions, random normal; in B, 5 % of the items come from
a cluster shifted along a few directions (a real but small drift), so both sides have work to do.

Compared, interleaved, ``--runs`` each (``_common.compare``):

* embedview: ``Drift(n_permutations=1000).fit(A, B)`` -- the classifier test on a sample of
  ``max_items`` (10,000) per set (fitted on one half, tested on the other, and the other way round
  to score every item) *with* its permutation p-value, every item of both sets scored, MMD with
  1,000 permutations on 1,000 per set, the joint PCA map;
* reference, what a user would write with scikit-learn for the classifier test alone, on samples
  of the same size: standardise, ``cross_val_predict`` of the same logistic regression over 5
  stratified folds, ``roc_auc_score`` -- one AUROC, *no* p-value, no MMD, no map.

Printed: every run, the medians and their ratio, both AUROCs, and what a p-value by refitting
would cost: the reference's time times the number of permutations (the cost that permuting the
held-out half's labels, scores fixed, avoids).

``--calibration R``: R pairs of pure-noise sets (150 vs 150, 32-d; no drift by construction), the
classifier test's p-value of each, and how often it falls below 0.01, 0.05 and 0.1 -- a valid test
stays at or under those rates (within sampling error: +-0.025 at 0.05 for R = 300).
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import add_runs_arg, compare, machine_line, one_off, peak_rss_mb  # also puts the repo on sys.path

from embedview.core.drift import Drift

GOAL = 2.0  # the whole test (exact p-values, MMD, map, every item scored) within 2x of one bare AUROC


def calibration(reps: int) -> None:
    from embedview.core.progress import TaskState

    ps = []
    for s in range(reps):
        rng = np.random.default_rng(1000 + s)
        A = rng.standard_normal((150, 32), dtype=np.float32)
        B = rng.standard_normal((150, 32), dtype=np.float32)
        d = Drift(n_permutations=200, random_state=s)
        d._classifier(A, B, np.random.default_rng(s), TaskState())  # the classifier test alone
        ps.append(d.auroc_p_)
    p = np.array(ps)
    print(f"classifier test on {reps} pure-noise pairs (150 vs 150, 32-d, 200 permutations): rejected "
          + ", ".join(f"{100 * np.mean(p <= a):.1f} % at {a}" for a in (0.01, 0.05, 0.1)), flush=True)


def make_sets(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, dim), dtype=np.float32)
    B = rng.standard_normal((n, dim), dtype=np.float32)
    shifted = rng.choice(n, n // 20, replace=False)
    B[shifted, :8] += 1.5
    return A, B


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="items per set (default 20000)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--calibration", type=int, default=0, metavar="R", help="only the false-alarm check, R pairs")
    add_runs_arg(ap)
    args = ap.parse_args()
    if args.calibration:
        calibration(args.calibration)
        return

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    A, B = make_sets(args.n, args.dim)
    cap = min(args.n, 10_000)
    print(machine_line())
    print(f"drift, {args.n:,} vs {args.n:,} x {args.dim}; classifier on {cap:,} per set", flush=True)

    def run_embedview():
        return Drift(n_permutations=args.permutations, max_items=cap).fit(A, B)

    def run_sklearn():
        rng = np.random.default_rng(1)
        ia, ib = rng.choice(args.n, cap, replace=False), rng.choice(args.n, cap, replace=False)
        X = np.vstack([A[ia], B[ib]]).astype(np.float64)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        y = np.r_[np.zeros(cap), np.ones(cap)]
        scores = cross_val_predict(LogisticRegression(C=0.1, class_weight="balanced", max_iter=300), X, y,
                                   cv=StratifiedKFold(5, shuffle=True, random_state=0), method="decision_function")
        return roc_auc_score(y, scores)

    cmp = compare(f"drift test at {args.n:,} vs {args.n:,} x {args.dim}",
                  ("embedview Drift.fit (p-values, MMD, map)", run_embedview),
                  ("sklearn cross_val_predict + roc_auc_score (AUROC only)", run_sklearn),
                  runs=args.runs, goal=GOAL)
    d = cmp.results[cmp.ours]
    print(f"  AUROC: embedview {d.auroc_:.4f} ({d.clf_n_a_:,} + {d.clf_n_b_:,} items, p = {d.auroc_p_:.4f}), "
          f"sklearn {cmp.results[cmp.reference]:.4f} (another sample of the same size); MMD² {d.mmd2_:.4g} "
          f"(p = {d.mmd_p_:.4f}); verdict: {d.verdict_}", flush=True)
    one_off("a permutation p-value by refitting the classifier", cmp.median(cmp.reference) * args.permutations,
            f"(the reference's median x {args.permutations} permutations, estimated, not run)")
    print(f"process peak RSS {peak_rss_mb():.0f} MiB")
    print(machine_line())


if __name__ == "__main__":
    main()
