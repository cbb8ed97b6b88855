"""Benchmark of the linear probe at scale (issue 14): a stratified training sample per fold
versus training on every item, on clustered synthetic vectors.

    .venv/bin/python benchmarks/bench_probe.py --n 100000 --dim 384 --classes 200 --full-n 30000

Prints per configuration: wall seconds, CPU seconds, accuracy, items trained on.  The full
(unsampled) probe is run once, on ``--full-n`` items (the same data's first items) when it
is too slow at ``--n``; its accuracy is compared with the sampled probe on those same items.

Measured 2026-12-02 on the shared 2-core machine (other jobs running), 100,000 x 384, 200 Zipf
sized labels, ``--spread 0.2``, 5 folds, lbfgs max_iter 1000, all converged:

    training items per fold   wall s   CPU s   accuracy (all 100,000 held out)
    5,000 sample                 5.3     5.2   0.477
    10,000 sample                9.8     5.2   0.605
    20,000 sample               14.6    10.4   0.692
    40,000 sample (default)     28.7    28.3   0.733
    80,000 all, 1 thread       128.6    82.2   0.750
    80,000 all, old (default
      BLAS threads)            124.6   165.3   0.750

1,000,000 x 384, same labels, 40,000 sample: 58.3 s wall, accuracy 0.732.
At 30,000 items: old 19.4 s wall / 33.3 s CPU, 1 thread 14.7 s / 14.1 s, same accuracy 0.7057.
SGDClassifier(log loss, alpha 1e-4, 3 epochs, one-vs-rest), one fold of the 100,000 trained on all
80,000: 43.2 s wall for that single fold and accuracy 0.586, so it was not chosen (slower and
less accurate than lbfgs on a 40,000 sample, and not the same model as the small-data probe).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from embedview.core.evaluation import LinearProbe


def clustered(n: int, dim: int, classes: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` vectors around ``classes`` random centres (unit-variance noise, centres scaled by
    ``spread``); unequal class sizes (Zipf-like) so stratification matters."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * spread / np.sqrt(dim)
    w = 1.0 / np.arange(1, classes + 1) ** 0.5
    y = rng.choice(classes, size=n, p=w / w.sum())
    X = (centres[y] + rng.normal(size=(n, dim)) / np.sqrt(dim)).astype(np.float32)
    return X, y


def run(X: np.ndarray, y: np.ndarray, folds: int, max_train: int | None, max_iter: int,
        n_threads: int | None = 1) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    p = LinearProbe(folds=folds, max_iter=max_iter, max_train=max_train, n_threads=n_threads).fit(X, y)
    return {"max_train": max_train, "threads": n_threads or "default", "n": len(y),
            "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0, 1), "accuracy": round(p.accuracy_mean_, 4),
            "macro_f1": round(p.macro_f1_mean_, 4), "n_train": p.n_train_, "sampled": p.sampled_,
            "message": p.message_}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--classes", type=int, default=200)
    ap.add_argument("--spread", type=float, default=1.2)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--max-iter", type=int, default=1000)
    ap.add_argument("--samples", default="20000", help="comma-separated max_train values to try")
    ap.add_argument("--full-n", type=int, default=0, help="run the full probe once on this many items (0: skip)")
    ap.add_argument("--old", action="store_true",
                    help="also run the old probe (no sample, default BLAS threads) once on --full-n items")
    a = ap.parse_args()
    X, y = clustered(a.n, a.dim, a.classes, a.spread)
    for m in [int(s) for s in a.samples.split(",") if s]:
        print(json.dumps(run(X, y, a.folds, m, a.max_iter)), flush=True)
    if a.full_n:
        Xs, ys = X[: a.full_n], y[: a.full_n]
        print(json.dumps(run(Xs, ys, a.folds, None, a.max_iter)), flush=True)
        if a.old:
            print(json.dumps(run(Xs, ys, a.folds, None, a.max_iter, n_threads=None)), flush=True)
        for m in [int(s) for s in a.samples.split(",") if s]:
            if m < a.full_n < a.n:
                print(json.dumps(run(Xs, ys, a.folds, m, a.max_iter)), flush=True)


if __name__ == "__main__":
    main()
