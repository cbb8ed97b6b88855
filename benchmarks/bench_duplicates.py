"""All near-duplicate pairs at cosine >= 0.95: exact path vs its bare matrix products; approximate recall.

    .venv/bin/python benchmarks/bench_duplicates.py              # 20k x 512, one to two minutes
    .venv/bin/python benchmarks/bench_duplicates.py --n 100000   # the size the goals are stated at (~8 min)

Data: ``n`` unit vectors in 512 dimensions, random normal, of which about 2 % are planted
near-copies of other items (noise chosen so their cosine to the source is about 0.95-0.999),
so pairs above the threshold exist.  Printed, all measured in the same run:

* exact path: ``DuplicateFinder(threshold=0.95, approximate=False).fit`` seconds, against the
  bare matrix products it needs (``X[block] @ X.T`` for the same blocks, same memory budget,
  nothing else) -- goal: ratio <= 1.5;
* approximate path (faiss HNSW): seconds, HNSW build seconds, the index's own recall@10
  estimate, and the recall of the exact path's pairs -- goal >= 0.99;
* ``groups_at`` time at 100k items is the slider's budget (goal < 100 ms);
* peak resident memory added by each step.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import Timer, peak_rss_mb, timed  # also puts the repository root on sys.path
from bench_neighbors import measure

from embedview.core.duplicates import DuplicateFinder
from embedview.core.neighbors import block_rows


def make_data(n: int, dim: int, seed: int = 0):
    """``n`` unit vectors: random normal, ~2 % of them noisy copies (1 to 3 per source)."""
    rng = np.random.default_rng(seed)
    n_copies = n // 50
    n_base = n - n_copies
    X = rng.standard_normal((n, dim), dtype=np.float32)
    sources = rng.integers(0, n_base, n_copies // 2 + 1)
    src = rng.choice(sources, n_copies)  # some sources get several copies
    eps = rng.uniform(0.05, 0.33, n_copies).astype(np.float32)  # cosine ~ 1 / sqrt(1 + eps^2)
    X[n_base:] = X[src] + eps[:, None] * rng.standard_normal((n_copies, dim), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def bare_products(X: np.ndarray, budget_mb: float) -> float:
    """Seconds for just the block matrix products of the exact search (same block size)."""
    n = X.shape[0]
    rows = min(n, block_rows(n, budget_mb))
    buf = np.empty((rows, n), dtype=np.float32)
    with Timer() as t:
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            np.matmul(X[start:stop], X.T, out=buf[: stop - start])
    return t.seconds


def pair_set(finder: DuplicateFinder) -> set:
    p = finder.pairs_
    return set(zip(p["i"].tolist(), p["j"].tolist(), strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="items (default 20000; the goals are stated at 100000)")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--threshold", type=float, default=0.95)
    ap.add_argument("--budget-mb", type=float, default=256)
    args = ap.parse_args()

    X = make_data(args.n, args.dim)
    print(f"near-duplicates at cosine >= {args.threshold}, {args.n:,} x {args.dim}")

    t_bare = bare_products(X, args.budget_mb)
    print(f"bare block products X[b] @ X.T  {t_bare:8.2f} s")

    exact, t_exact, m_exact = measure(lambda: DuplicateFinder(
        threshold=args.threshold, approximate=False, memory_budget_mb=args.budget_mb).fit(X))
    print(f"exact DuplicateFinder.fit       {t_exact:8.2f} s   peak +{m_exact:6.0f} MB   "
          f"{exact.pairs_.size:,} pairs, {len(exact.groups_):,} groups")

    approx, t_approx, m_approx = measure(lambda: DuplicateFinder(
        threshold=args.threshold, approximate=True, memory_budget_mb=args.budget_mb).fit(X))
    exact_pairs, approx_pairs = pair_set(exact), pair_set(approx)
    pair_recall = len(exact_pairs & approx_pairs) / max(1, len(exact_pairs))
    print(f"approximate DuplicateFinder.fit {t_approx:8.2f} s   peak +{m_approx:6.0f} MB   "
          f"{approx.pairs_.size:,} pairs, {len(approx.groups_):,} groups; "
          f"HNSW recall@10 estimate {approx.recall_at_10_:.3f}")
    extra = len(approx_pairs - exact_pairs)

    slider = []
    for t in np.linspace(exact.floor_, 0.999, 12):
        best = min(timed(lambda t=t: exact.groups_at(t))[1] for _ in range(3))
        slider.append(best)

    print(f"ratio exact / bare products   = {t_exact / t_bare:.3f}   (goal <= 1.5)")
    print(f"approximate pair recall       = {pair_recall:.4f}  (goal >= 0.99; {extra} pairs not in exact)")
    print(f"speed-up approximate vs exact = {t_exact / t_approx:.2f}x")
    print(f"groups_at over 12 thresholds: max {1e3 * max(slider):.1f} ms, median "
          f"{1e3 * float(np.median(slider)):.1f} ms  (goal < 100 ms)")
    print(f"process peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
