"""Exact top-10 neighbours of every item: embedview's ``topk`` against faiss ``IndexFlatIP``.

    .venv/bin/python benchmarks/bench_neighbors.py              # 20k x 512
    .venv/bin/python benchmarks/bench_neighbors.py --n 100000   # 100k: ~1e13 flops a side, long on 2 cores
    .venv/bin/python benchmarks/bench_neighbors.py --sklearn    # also scikit-learn brute force (slowest)

Data: random normal vectors, not normalised; both sides do what cosine needs: embedview's
``topk(X, k, metric="cosine")`` normalises inside, the faiss side copies the matrix,
``faiss.normalize_L2`` and searches an ``IndexFlatIP`` (exact) for ``k + 1`` and drops each
item's own row.  The faiss index build (adding the vectors) is inside its timing, as embedview
needs no index.  Both sides run interleaved, ``--runs`` each (``_common.compare``); printed:
every run, the medians, the median time ratio embedview / faiss (goal <= 1.05: no slower),
each side's peak resident memory above the data (median over runs), and how far the answers agree.
"""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np
from _common import Timer, add_runs_arg, compare, machine_line, peak_rss_mb  # also puts the repo on sys.path

from embedview.core.neighbors import topk

GOAL = 1.05


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def measure(fn):
    """Run ``fn()``: (result, seconds, peak RSS in MiB that the call added above the RSS before it).

    The peak is isolated per call by resetting the kernel's high-water mark (Linux >= 4.0,
    ``/proc/self/clear_refs``); elsewhere it falls back to the process peak so far.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status_kb("VmRSS")
    except OSError:
        before = None
    with Timer() as t:
        result = fn()
    if before is None:
        return result, t.seconds, peak_rss_mb()
    return result, t.seconds, max(0, _status_kb("VmHWM") - before) / 1024


def with_peak(fn, peaks: list[float]):
    """``fn`` wrapped so that each call appends the peak memory it added (MiB) to ``peaks``."""
    def run():
        result, _, peak = measure(fn)
        peaks.append(peak)
        return result
    return run


def drop_self(idx: np.ndarray, sim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each query's own row from a search of the items themselves (or the last column)."""
    is_self = idx == np.arange(len(idx))[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    keep = np.argsort(is_self, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(idx, keep, axis=1), np.take_along_axis(sim, keep, axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="items (default 20000)")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--budget-mb", type=float, default=256, help="embedview memory budget")
    ap.add_argument("--sklearn", action="store_true",
                    help="add scikit-learn NearestNeighbors(brute, cosine) as an extra line")
    add_runs_arg(ap)
    args = ap.parse_args()

    import faiss

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    k = args.k
    print(machine_line())
    print(f"exact top-{k}, all {args.n:,} items x {args.dim} dims, cosine; {os.cpu_count()} CPUs; "
          f"faiss {faiss.__version__}, omp threads {faiss.omp_get_max_threads()}", flush=True)

    peaks: dict[str, list[float]] = {"embedview": [], "faiss": [], "sklearn": []}

    def run_embedview():
        return topk(X, k, metric="cosine", memory_budget_mb=args.budget_mb)

    def run_faiss():
        Xn = X.copy()
        faiss.normalize_L2(Xn)
        index = faiss.IndexFlatIP(args.dim)
        index.add(Xn)
        sim, idx = index.search(Xn, k + 1)
        return drop_self(idx, sim, k)

    def run_sklearn():
        from sklearn.neighbors import NearestNeighbors

        dist, idx = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="cosine").fit(X).kneighbors(X)
        return drop_self(idx, 1.0 - dist, k)

    # warm-up (not timed): first calls load BLAS / OpenMP thread pools and, for --sklearn, import it
    topk(X[:256], k, metric="cosine")
    faiss.IndexFlatIP(args.dim).search(X[:256], 1)
    if args.sklearn:
        from sklearn.neighbors import NearestNeighbors

        NearestNeighbors(n_neighbors=2, algorithm="brute", metric="cosine").fit(X[:256]).kneighbors(X[:16])
    extra = [("scikit-learn brute cosine (extra)", with_peak(run_sklearn, peaks["sklearn"]))] if args.sklearn else None
    cmp = compare(f"exact top-{k} at {args.n:,} x {args.dim}",
                  ("embedview topk", with_peak(run_embedview, peaks["embedview"])),
                  ("faiss IndexFlatIP", with_peak(run_faiss, peaks["faiss"])), runs=args.runs, goal=GOAL, extra=extra)
    for name, p in peaks.items():
        if p:
            print(f"  peak memory added, median of runs: {name} +{statistics.median(p):.0f} MiB")
    ev_idx, ev_sim = cmp.results["embedview topk"]
    f_idx, f_sim = cmp.results["faiss IndexFlatIP"]
    print(f"  agreement with faiss: same neighbour at the same rank {np.mean(ev_idx == f_idx):.5f}, "
          f"max |score difference| {np.abs(ev_sim - f_sim).max():.2e}")
    print(f"process peak RSS {peak_rss_mb():.0f} MiB")
    print(machine_line())


if __name__ == "__main__":
    main()
