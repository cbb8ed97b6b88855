"""A second command on the same data does not search again: `embedview neighbors` cold vs warm.

Writes ``--n`` clustered ``--dim``-d vectors (100k x 384 by default) to a ``.npy`` file, then runs the
real command ``python -m embedview neighbors FILE --k 10 -o out.csv`` as a user would, interleaved:

* A, "first command": a fresh ``EMBEDVIEW_CACHE_DIR`` each time, so the neighbour graph is searched
  (NeighborIndex's measured choice: exact, or IVF where faster at recall@10 >= 0.95) and stored;
* B, "second command": the same cache folder right after, so the graph is loaded.

A B A B A B (``--runs``), every run printed, then the medians and the ratio B / A.  Both commands
load the file and write the same 1M-row CSV; the graph step alone is read from the command's own
line ("searched in X s" / "loaded from the cache in Y s") and printed as its own ratio.  The
outputs of A and B are compared byte for byte.  With ``--duplicates`` a third command,
``embedview duplicates``, runs on each warm cache (an exact graph stored by ``neighbors`` is reused;
an approximate one is not: duplicates need exact pairs).

    .venv/bin/python benchmarks/bench_graph.py                 # 100k x 384, 3 runs each
    .venv/bin/python benchmarks/bench_graph.py --n 20000 --runs 2
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import add_runs_arg, machine_line


def clustered(n: int, dim: int, n_clusters: int = 200, seed: int = 0) -> np.ndarray:
    """Gaussian clusters of different sizes and spreads (as real embeddings have), float32."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    sizes = rng.dirichlet(np.full(n_clusters, 2.0))
    labels = rng.choice(n_clusters, size=n, p=sizes)
    spread = rng.uniform(0.3, 0.8, n_clusters).astype(np.float32)
    X = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 50_000):
        lab = labels[start : start + 50_000]
        X[start : start + 50_000] = centres[lab] + spread[lab, None] * rng.standard_normal((lab.size, dim),
                                                                                          dtype=np.float32)
    return X


def run(cmd: list[str], cache: Path) -> tuple[float, str]:
    env = dict(os.environ, EMBEDVIEW_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds, proc.stderr


def graph_line(stderr: str) -> tuple[str, float]:
    """("searched" / "loaded", seconds of the graph step) from the command's summary line."""
    m = re.search(r"neighbour graph.*: searched in ([\d.]+) s", stderr)
    if m:
        return "searched", float(m.group(1))
    m = re.search(r"neighbour graph.*: loaded from the cache in ([\d.]+) s", stderr)
    if m:
        return "loaded", float(m.group(1))
    raise SystemExit(f"no neighbour-graph line in:\n{stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="vectors (default 100000)")
    parser.add_argument("--dim", type=int, default=384, help="dimension (default 384)")
    parser.add_argument("--k", type=int, default=10, help="neighbours per item (default 10)")
    parser.add_argument("--duplicates", action="store_true", help="also time `embedview duplicates` on the warm cache")
    add_runs_arg(parser)
    args = parser.parse_args()
    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_graph_") as tmp:
        root = Path(tmp)
        data = root / "vectors.npy"
        np.save(data, clustered(args.n, args.dim))
        print(f"data: {args.n:,} x {args.dim} clustered float32 vectors ({data.stat().st_size / 2**20:.0f} MiB), "
              f"`embedview neighbors --k {args.k}`", flush=True)
        base = [sys.executable, "-m", "embedview", "neighbors", str(data), "--k", str(args.k)]
        first, second, g_first, g_second, dup = [], [], [], [], []
        for r in range(args.runs):
            cache = root / f"cache{r}"
            out_a, out_b = root / f"a{r}.csv", root / f"b{r}.csv"
            t_a, err_a = run(base + ["-o", str(out_a)], cache)
            how_a, s_a = graph_line(err_a)
            t_b, err_b = run(base + ["-o", str(out_b)], cache)
            how_b, s_b = graph_line(err_b)
            assert how_a == "searched" and how_b == "loaded", (how_a, how_b)
            assert filecmp.cmp(out_a, out_b, shallow=False), "the second command's output differs"
            first.append(t_a)
            second.append(t_b)
            g_first.append(s_a)
            g_second.append(s_b)
            method = re.search(r"^(.*?) neighbour graph", err_a, re.M)
            print(f"  run {r + 1}: first command {t_a:6.1f} s (graph searched in {s_a:.1f} s: "
                  f"{method.group(1) if method else '?'}); second command {t_b:6.1f} s "
                  f"(graph loaded in {s_b:.2f} s); same output", flush=True)
            if args.duplicates:
                t_d, err_d = run([sys.executable, "-m", "embedview", "duplicates", str(data), "-o",
                                  str(root / f"d{r}.csv")], cache)
                how_d, s_d = graph_line(err_d)
                dup.append(t_d)
                print(f"         then `embedview duplicates`: {t_d:6.1f} s (graph {how_d} in {s_d:.2f} s)", flush=True)
            for p in (out_a, out_b):
                p.unlink()
        ma, mb = statistics.median(first), statistics.median(second)
        ga, gb = statistics.median(g_first), statistics.median(g_second)
        print(f"median of {args.runs}: first command {ma:.1f} s, second {mb:.1f} s: "
              f"second / first = {mb / ma:.3f} ({ma / mb:.1f}x faster)")
        print(f"graph step alone: searched {ga:.1f} s, loaded {gb:.2f} s: loaded / searched = {gb / ga:.4f} "
              f"({ga / gb:.0f}x)")
        if dup:
            print(f"`embedview duplicates` after `neighbors`: median {statistics.median(dup):.1f} s")
    print(machine_line())


if __name__ == "__main__":
    main()
