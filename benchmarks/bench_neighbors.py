"""Exact top-10 neighbours of every item: embedview.core.neighbors.topk vs faiss and scikit-learn.

    .venv/bin/python benchmarks/bench_neighbors.py              # 20k x 512, about a minute
    .venv/bin/python benchmarks/bench_neighbors.py --n 100000   # the size the goal is stated at

At 100k each method does ~1e13 flops: 7 to 14 minutes each on a busy 2-core machine (about half
an hour for all three; ``--no-sklearn`` saves a third).

Data: random normal vectors, L2-normalised (cosine = inner product).  Each method returns the
10 nearest other items of every item.  Printed: seconds, the ratio embedview / faiss
``IndexFlatIP`` (goal <= 1.0) and embedview / scikit-learn ``NearestNeighbors(algorithm="brute",
metric="cosine")``, the peak resident memory each method added on top of the data, and how
far the results agree.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from _common import Timer, peak_rss_mb  # also puts the repository root on sys.path

from embedview.core.neighbors import topk


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="items (default 20000; the goal is stated at 100000)")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--budget-mb", type=float, default=256, help="embedview memory budget")
    ap.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn (the slowest)")
    args = ap.parse_args()

    import faiss

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    k = args.k
    print(f"exact top-{k}, all {args.n:,} items x {args.dim} dims, cosine; {os.cpu_count()} CPUs; "
          f"faiss {faiss.__version__}, omp threads {faiss.omp_get_max_threads()}")

    (ev_idx, ev_sim), t_ev, m_ev = measure(
        lambda: topk(X, k, metric="cosine", memory_budget_mb=args.budget_mb))
    print(f"embedview topk          {t_ev:8.2f} s   peak +{m_ev:7.0f} MB")

    def run_faiss():
        index = faiss.IndexFlatIP(args.dim)
        index.add(X)
        return index.search(X, k + 1)

    (f_sim, f_idx), t_f, m_f = measure(run_faiss)
    print(f"faiss IndexFlatIP       {t_f:8.2f} s   peak +{m_f:7.0f} MB")

    # drop each query's own row from faiss's answer (it is the best match of itself)
    is_self = f_idx == np.arange(args.n)[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    keep = np.argsort(is_self, axis=1, kind="stable")[:, :k]
    f_sim = np.take_along_axis(f_sim, keep, axis=1)
    f_idx = np.take_along_axis(f_idx, keep, axis=1)
    print(f"  agreement with faiss: indices {np.mean(ev_idx == f_idx):.5f}, "
          f"max |score diff| {np.abs(ev_sim - f_sim).max():.2e}")

    t_sk = None
    if not args.no_sklearn:
        from sklearn.neighbors import NearestNeighbors

        def run_sklearn():
            return NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="cosine").fit(X).kneighbors(X)

        (s_dist, s_idx), t_sk, m_sk = measure(run_sklearn)
        print(f"sklearn brute cosine    {t_sk:8.2f} s   peak +{m_sk:7.0f} MB")
        s_sim = 1.0 - s_dist[:, 1:]
        print(f"  agreement with sklearn: max |score diff| {np.abs(ev_sim - s_sim).max():.2e}")

    print(f"ratio embedview / faiss   = {t_ev / t_f:.3f}   (goal <= 1.0)")
    if t_sk is not None:
        print(f"ratio embedview / sklearn = {t_ev / t_sk:.3f}")
    print(f"process peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
