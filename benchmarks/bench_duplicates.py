"""All near-duplicate pairs at cosine >= 0.95: embedview's DuplicateFinder against faiss ``range_search``.

    .venv/bin/python benchmarks/bench_duplicates.py                  # 20k x 512
    .venv/bin/python benchmarks/bench_duplicates.py --n 100000       # larger (long on 2 cores)
    .venv/bin/python benchmarks/bench_duplicates.py --approximate    # also one approximate fit

Data: ``n`` vectors in 512 dimensions, random normal, of which about 2 % are planted
near-copies of other items (noise chosen so their cosine to the source is about 0.95-0.999),
so pairs above the threshold exist; not normalised, both sides normalise.

Compared, interleaved, ``--runs`` each (``_common.compare``):

* embedview: ``DuplicateFinder(threshold=0.95, approximate=False).fit(X)`` -- the exact
  neighbour search, the similarity graph the slider uses and the groups;
* reference, what a user would write with faiss: copy + ``faiss.normalize_L2``, an exact
  ``IndexFlatIP``, ``range_search(X, threshold)`` and the pairs ``i < j`` taken from its answer.

Printed: every run, the medians, the median time ratio (goal <= 1.05: no slower), the pair
counts of both and whether they are the same pairs.  ``--approximate`` adds one fit of
``DuplicateFinder(approximate=True)`` (one run, not part of the ratio) with its pair recall
against the exact pairs.  ``groups_at`` (the slider's query) is timed on the fitted finder.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import add_runs_arg, compare, machine_line, peak_rss_mb, timed  # also puts the repo on sys.path
from bench_neighbors import measure

from embedview.core.duplicates import DuplicateFinder

GOAL = 1.05


def make_data(n: int, dim: int, seed: int = 0, normalise: bool = True):
    """``n`` (unit) vectors: random normal, ~2 % of them noisy copies (1 to 3 per source)."""
    rng = np.random.default_rng(seed)
    n_copies = n // 50
    n_base = n - n_copies
    X = rng.standard_normal((n, dim), dtype=np.float32)
    sources = rng.integers(0, n_base, n_copies // 2 + 1)
    src = rng.choice(sources, n_copies)  # some sources get several copies
    eps = rng.uniform(0.05, 0.33, n_copies).astype(np.float32)  # cosine ~ 1 / sqrt(1 + eps^2)
    X[n_base:] = X[src] + eps[:, None] * rng.standard_normal((n_copies, dim), dtype=np.float32)
    if normalise:
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def pair_set(finder: DuplicateFinder) -> set:
    p = finder.pairs_
    return set(zip(p["i"].tolist(), p["j"].tolist(), strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="items (default 20000)")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--threshold", type=float, default=0.95)
    ap.add_argument("--budget-mb", type=float, default=256)
    ap.add_argument("--approximate", action="store_true", help="also one approximate fit and its pair recall")
    add_runs_arg(ap)
    args = ap.parse_args()

    import faiss

    X = make_data(args.n, args.dim, normalise=False)
    thr = args.threshold
    print(machine_line())
    print(f"near-duplicates at cosine >= {thr}, {args.n:,} x {args.dim}; faiss {faiss.__version__}", flush=True)

    def run_embedview():
        return DuplicateFinder(threshold=thr, approximate=False, memory_budget_mb=args.budget_mb).fit(X)

    def run_faiss():
        Xn = X.copy()
        faiss.normalize_L2(Xn)
        index = faiss.IndexFlatIP(args.dim)
        index.add(Xn)
        lims, _, found = index.range_search(Xn, thr)
        rows = np.repeat(np.arange(len(Xn)), np.diff(lims.astype(np.int64)))
        upper = rows < found
        return set(zip(rows[upper].tolist(), found[upper].tolist(), strict=True))

    DuplicateFinder(threshold=thr, approximate=False).fit(X[:500])  # warm-up (not timed)
    cmp = compare(f"duplicate pairs at {thr} at {args.n:,} x {args.dim}",
                  ("embedview DuplicateFinder.fit", run_embedview), ("faiss range_search", run_faiss),
                  runs=args.runs, goal=GOAL)
    exact = cmp.results[cmp.ours]
    ours, ref = pair_set(exact), cmp.results[cmp.reference]
    same = "the same pairs" if ours == ref else (f"{len(ours - ref)} pairs only in embedview's, "
                                                 f"{len(ref - ours)} only in faiss's")
    print(f"  pairs: embedview {len(ours):,}, faiss range_search {len(ref):,}: {same}; "
          f"embedview groups {len(exact.groups_):,}", flush=True)

    if args.approximate:
        approx, t_approx, m_approx = measure(lambda: DuplicateFinder(
            threshold=thr, approximate=True, memory_budget_mb=args.budget_mb).fit(X))
        approx_pairs = pair_set(approx)
        recall = len(ours & approx_pairs) / max(1, len(ours))
        print(f"  approximate DuplicateFinder.fit, one run (not interleaved, not in the ratio): {t_approx:.2f} s, "
              f"approximate path used: {approx.approximate_}, {len(approx_pairs):,} pairs, pair recall "
              f"{recall:.4f} against the exact pairs, recall@10 estimate {approx.recall_at_10_:.3f}, "
              f"peak +{m_approx:.0f} MiB", flush=True)

    slider = [min(timed(lambda t=t: exact.groups_at(t))[1] for _ in range(3))
              for t in np.linspace(exact.floor_, 0.999, 12)]
    print(f"  groups_at (the slider's query) over 12 thresholds {exact.floor_:.2f}..0.999, best of 3 each: "
          f"median {1e3 * float(np.median(slider)):.1f} ms, max {1e3 * max(slider):.1f} ms")
    print(f"process peak RSS {peak_rss_mb():.0f} MiB")
    print(machine_line())


if __name__ == "__main__":
    main()
