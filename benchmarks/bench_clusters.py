"""Named clusters (``core.clusters.Clusters``) against the plain library call on the same map.

The map: ``--n`` points in 2-D (40 Gaussian blobs of different spreads, as a UMAP map of real data
looks), each with a Debian package description as its text when ``/tmp/realdata/debian.csv`` exists
(else generated sentences).  Reference: scikit-learn's ``HDBSCAN(min_cluster_size=1 % of N,
min_samples=5).fit_predict`` on every point: one level, no names.  Ours: both levels, the sample
of at most 10,000 points extended to every point, and the names (TF-IDF of at most 20,000 texts).
Also prints the agreement (NMI) of our fine level with the blobs and with the reference's labels.

    .venv/bin/python benchmarks/bench_clusters.py            # 30,000 points (the reference takes ~20 s)
    .venv/bin/python benchmarks/bench_clusters.py --n 100000 --runs 1 --no-reference   # the 100k case
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from _common import compare, machine_line, make_sentences, step

from embedview.core.clusters import Clusters

DEBIAN = Path("/tmp/realdata/debian.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-reference", action="store_true", help="only ours (the reference grows ~n^2)")
    args = parser.parse_args()
    from sklearn.cluster import HDBSCAN
    from sklearn.datasets import make_blobs
    from sklearn.metrics import normalized_mutual_info_score as nmi

    print(machine_line(), flush=True)
    n = args.n
    spreads = np.random.default_rng(0).uniform(0.3, 1.5, 40)
    xy, blob = make_blobs(n, centers=40, n_features=2, cluster_std=spreads, center_box=(-40, 40), random_state=0)
    if DEBIAN.exists():
        with DEBIAN.open(encoding="utf-8") as f:
            pool = [r["text"] for r in csv.DictReader(f)]
        texts = [pool[i % len(pool)] for i in range(n)]
    else:
        texts = make_sentences(n, seed=0)

    def ours():
        return Clusters().fit(xy, texts=texts, source="blobs")

    if args.no_reference:
        for i in range(args.runs):
            with step(f"run {i + 1} Clusters.fit on {n:,} points"):
                result = ours()
    else:
        mcs = max(5, round(0.01 * n))
        cmp = compare(f"clusters of {n:,} map points", ("embedview Clusters.fit", ours),
                      ("sklearn HDBSCAN.fit_predict", lambda: HDBSCAN(min_cluster_size=mcs, min_samples=5,
                                                                      copy=True).fit_predict(xy)),
                      runs=args.runs)
        result = cmp.results["embedview Clusters.fit"]
        ref = cmp.results["sklearn HDBSCAN.fit_predict"]
        print(f"  NMI blobs vs reference {nmi(blob, ref):.3f}; ours fine vs reference "
              f"{nmi(ref, result.labels_['fine']):.3f}")
    print(f"  NMI blobs vs ours: fine {nmi(blob, result.labels_['fine']):.3f}, "
          f"coarse {nmi(blob, result.labels_['coarse']):.3f}")
    print(f"  {result.method_}")
    print(f"  coarse names: {result.names_['coarse'][:6]}")


if __name__ == "__main__":
    main()
