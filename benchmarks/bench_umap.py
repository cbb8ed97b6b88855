"""UMAP map speed and quality: embedview's Projection against plain umap-learn.

    .venv/bin/python benchmarks/bench_umap.py              # 20 000 x 512, 20 clusters (~5 min on 2 cores)
    .venv/bin/python benchmarks/bench_umap.py --n 5000 --dim 128
    .venv/bin/python benchmarks/bench_umap.py --all        # also the seeded / unseeded variants

Data: ``n`` vectors from 20 Gaussian clusters in ``dim`` dimensions (cluster centres at
distance ~1.4x the within-cluster spread, so neighbourhoods overlap a little).

What is compared, on the same data, in the same run, after warming numba on a tiny fit of both
paths (compile time is counted in neither):

* **plain**: ``umap.UMAP(n_neighbors=15, metric="cosine").fit_transform(X)``: umap-learn's
  defaults otherwise (no seed, so it uses every core; its own NN-descent neighbour search);
* **embedview, projection alone given the graph**: ``Projection(method="umap").fit(X, knn=graph)``
  with the kNN graph from :func:`embedview.core.neighbors.knn_for_umap`, which embedview has
  already computed for the neighbour views, so a map costs only this step.  It includes
  Projection's own quality scoring (trustworthiness, kNN preservation) and runs seeded
  (``random_state=42``: reproducible, single-threaded layout);
* **embedview, including the graph**: the graph's time added, i.e. a map from scratch.

Quality: trustworthiness (k = 10, cosine, the same random 2000 items for every map) of each
map, goal within 0.01 of plain.  Speed goal: embedview / plain <= 0.7.

``--all`` adds the reproducibility trade-off: embedview with ``random_state=None`` (layout on
every core, not reproducible) and plain umap-learn with ``random_state=42`` (single-threaded).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from _common import peak_rss_mb, timed  # also puts the repository root on sys.path

K_TRUST = 10
TRUST_SAMPLE = 2000
N_NEIGHBORS = 15


def clustered(n: int, dim: int, n_clusters: int = 20, seed: int = 0) -> np.ndarray:
    """``n`` float32 vectors from ``n_clusters`` isotropic Gaussians in ``dim`` dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)) * 1.0
    labels = rng.integers(0, n_clusters, size=n)
    return (centres[labels] + rng.normal(scale=1.0 / np.sqrt(2), size=(n, dim))).astype(np.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="number of vectors (default 20000)")
    parser.add_argument("--dim", type=int, default=512, help="dimension (default 512)")
    parser.add_argument("--all", action="store_true", help="also run the seeded/unseeded variants")
    args = parser.parse_args(argv)

    from embedview.core.embeddings import l2_normalize
    from embedview.core.neighbors import knn_for_umap
    from embedview.core.projection import Projection, _import_umap, _sample, configure_numba_cache, trustworthiness

    print(f"UMAP benchmark: {args.n:,} x {args.dim}, 20 clusters, n_neighbors={N_NEIGHBORS}, metric=cosine")
    print(f"numba cache: {configure_numba_cache() or '(numba default)'}")
    X = clustered(args.n, args.dim)
    unit = l2_normalize(X)
    sample = _sample(len(X), TRUST_SAMPLE, 0)

    def trust(Y):
        return trustworthiness(unit[sample], Y[sample], n_neighbors=K_TRUST, metric="cosine")

    # -- warm-up: compile every numba path once (not counted) ----------------------------------
    umap, t_import = timed(_import_umap)
    tiny = clustered(600, args.dim, seed=1)
    _, t_warm = timed(lambda: (
        umap.UMAP(n_neighbors=N_NEIGHBORS, metric="cosine", force_approximation_algorithm=True).fit_transform(tiny),
        Projection(n_neighbors=N_NEIGHBORS).fit(tiny),
        Projection(n_neighbors=N_NEIGHBORS, random_state=None).fit(tiny),
    ))
    print(f"  warm-up (not counted): import umap {t_import:.1f} s, tiny fits {t_warm:.1f} s")

    # -- the runs ----------------------------------------------------------------------------------
    graph, t_graph = timed(lambda: knn_for_umap(unit, N_NEIGHBORS, metric="cosine"))
    print(f"  kNN graph (embedview knn_for_umap, exact below 50k items): {t_graph:.1f} s")

    proj, t_ours = timed(lambda: Projection(n_neighbors=N_NEIGHBORS, random_state=42).fit(X, knn=graph))
    trust_ours = trust(proj.embedding_)
    print(f"  embedview Projection given the graph (seeded, incl. its scoring): {t_ours:.1f} s, "
          f"trustworthiness {trust_ours:.4f}")

    plain, t_plain = timed(lambda: umap.UMAP(n_neighbors=N_NEIGHBORS, metric="cosine").fit_transform(X))
    trust_plain = trust(np.asarray(plain, dtype=np.float32))
    print(f"  plain umap.UMAP(metric='cosine').fit_transform (no seed, all cores): {t_plain:.1f} s, "
          f"trustworthiness {trust_plain:.4f}")

    if args.all:
        fast, t_fast = timed(lambda: Projection(n_neighbors=N_NEIGHBORS, random_state=None).fit(X, knn=graph))
        print(f"  embedview Projection given the graph, random_state=None (all cores): {t_fast:.1f} s, "
              f"trustworthiness {trust(fast.embedding_):.4f}")
        seeded, t_seeded = timed(
            lambda: umap.UMAP(n_neighbors=N_NEIGHBORS, metric="cosine", random_state=42).fit_transform(X))
        print(f"  plain umap.UMAP(metric='cosine', random_state=42) (single-threaded): {t_seeded:.1f} s, "
              f"trustworthiness {trust(np.asarray(seeded, dtype=np.float32)):.4f}")

    # -- verdicts ----------------------------------------------------------------------------------
    print("Results (lower ratio is better):")
    for label, seconds in (("projection alone given the graph", t_ours), ("including the graph", t_ours + t_graph)):
        r = seconds / t_plain
        print(f"  {label}: {seconds:.1f} s vs plain {t_plain:.1f} s = {r:.2f}x (goal <= 0.7) "
              f"{'OK' if r <= 0.7 else 'ABOVE GOAL'}")
    gap = trust_plain - trust_ours
    print(f"  trustworthiness: embedview {trust_ours:.4f} vs plain {trust_plain:.4f} "
          f"(goal: at most 0.01 lower) {'OK' if gap <= 0.01 else 'BELOW GOAL'}")
    print(f"  peak memory: {peak_rss_mb():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
