"""UMAP map from scratch: embedview's Projection against plain umap-learn, same seed policy.

    .venv/bin/python benchmarks/bench_umap.py                     # 5 000 x 256, 20 clusters, seeded
    .venv/bin/python benchmarks/bench_umap.py --n 20000 --dim 512
    .venv/bin/python benchmarks/bench_umap.py --unseeded          # both unseeded, every core

Data: ``n`` vectors from 20 Gaussian clusters in ``dim`` dimensions (cluster centres at
distance ~1.4x the within-cluster spread, so neighbourhoods overlap a little).

Compared on the same data, interleaved, ``--runs`` each (``_common.compare``), both from
scratch -- each side finds its own neighbours:

* **embedview**: ``Projection(method="umap", n_neighbors=15, metric="cosine").fit(X)``: its
  neighbour graph (``knn_for_umap``), the layout and its own quality scoring all counted;
* **umap-learn**: ``umap.UMAP(n_neighbors=15, metric="cosine").fit_transform(X)`` (its own
  NN-descent neighbour search).

Same seed policy on both sides: seeded (``random_state=42``, which makes umap-learn lay out on
one thread: ``n_jobs=1``) by default; ``--unseeded``: ``random_state=None`` and ``n_jobs=-1``
on both.  The numba compile (a tiny fit of each side) and the umap import are one-off costs
on their own lines.  Quality: trustworthiness (k = 10, cosine, the same random 2000 items) of
each side's last map, goal at most 0.01 below umap-learn's.  Speed goal: time ratio <= 1.05.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from _common import add_runs_arg, compare, machine_line, one_off, peak_rss_mb, timed  # also puts the repo on sys.path

K_TRUST = 10
TRUST_SAMPLE = 2000
N_NEIGHBORS = 15
GOAL = 1.05


def clustered(n: int, dim: int, n_clusters: int = 20, seed: int = 0) -> np.ndarray:
    """``n`` float32 vectors from ``n_clusters`` isotropic Gaussians in ``dim`` dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)) * 1.0
    labels = rng.integers(0, n_clusters, size=n)
    return (centres[labels] + rng.normal(scale=1.0 / np.sqrt(2), size=(n, dim))).astype(np.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5_000, help="number of vectors (default 5000)")
    parser.add_argument("--dim", type=int, default=256, help="dimension (default 256)")
    parser.add_argument("--unseeded", action="store_true",
                        help="both sides random_state=None, n_jobs=-1 (default: both seeded, one thread)")
    add_runs_arg(parser)
    args = parser.parse_args(argv)

    import warnings

    from embedview.core.embeddings import l2_normalize
    from embedview.core.projection import Projection, _import_umap, _sample, configure_numba_cache, trustworthiness

    seed = None if args.unseeded else 42
    n_jobs = -1 if args.unseeded else 1
    policy = "unseeded, n_jobs=-1 on both" if args.unseeded else "random_state=42, n_jobs=1 on both"
    print(machine_line())
    print(f"UMAP from scratch: {args.n:,} x {args.dim}, 20 clusters, n_neighbors={N_NEIGHBORS}, metric=cosine, "
          f"{policy}")
    print(f"numba cache: {configure_numba_cache() or '(numba default)'}", flush=True)
    X = clustered(args.n, args.dim)
    unit = l2_normalize(X)
    sample = _sample(len(X), TRUST_SAMPLE, 0)

    def trust(Y):
        return trustworthiness(unit[sample], np.asarray(Y, dtype=np.float32)[sample], n_neighbors=K_TRUST,
                               metric="cosine")

    umap, t_import = timed(_import_umap)
    one_off("import umap", t_import)

    def run_embedview(data=X):
        return Projection(n_neighbors=N_NEIGHBORS, metric="cosine", random_state=seed).fit(data).embedding_

    def run_umap(data=X, force_nndescent=False):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs value.*")  # seeded: umap-learn says n_jobs=1
            return umap.UMAP(n_neighbors=N_NEIGHBORS, metric="cosine", random_state=seed, n_jobs=n_jobs,
                             force_approximation_algorithm=force_nndescent).fit_transform(data)

    # compile every numba path both sides take: umap-learn uses NN-descent (pynndescent) above
    # 4096 items, so its warm-up forces it on the tiny set too
    tiny = clustered(600, args.dim, seed=1)
    _, t_warm = timed(lambda: (run_umap(tiny, force_nndescent=True), run_umap(tiny), run_embedview(tiny)))
    one_off("numba compile: 600-item fits of each side (umap-learn with and without NN-descent)", t_warm,
            "numba caches on disk: a first process compiles, later ones mostly load")

    cmp = compare(f"UMAP at {args.n:,} x {args.dim} ({'unseeded' if args.unseeded else 'seeded'})",
                  ("embedview Projection.fit", run_embedview), ("umap-learn UMAP.fit_transform", run_umap),
                  runs=args.runs, goal=GOAL)
    t_ours, t_plain = trust(cmp.results[cmp.ours]), trust(cmp.results[cmp.reference])
    verdict = "OK" if t_plain - t_ours <= 0.01 else "BELOW GOAL"
    print(f"  trustworthiness (k={K_TRUST}, {len(sample)} items, last run): embedview {t_ours:.4f}, "
          f"umap-learn {t_plain:.4f} (goal: at most 0.01 lower) {verdict}")
    print(f"  peak memory: {peak_rss_mb():.0f} MiB")
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
