"""Loading: ``load_paths`` on 100k text lines and 100k x 768 float32 vectors in each format,
against the plain reader of that format, in the same run.

For every format it prints the time of ``load_paths`` and of the reference reader (ratio: lower
is better), and the peak memory Python allocated during the load (``tracemalloc``; numpy
reports its buffers there) as a multiple of the matrix size.  The goal for precomputed vectors
is at most one copy of the matrix: ``.npy`` is memory-mapped (peak ~0x), ``.npz`` / parquet /
TSV are decoded once (peak ~1x plus the reader's own buffers).  ``load_paths`` also checks every
value is finite, which reads the whole matrix once even when it is memory-mapped.

    .venv/bin/python benchmarks/bench_load.py [--n 100000] [--dim 768]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from _common import machine_line, make_sentences

from embedview.core.loaders import load_paths


def measure(fn, repeats: int = 3):
    """(median seconds, peak traced bytes) of ``fn()``; the result is dropped before the next run."""
    times, peak = [], 0
    for _ in range(repeats):
        gc.collect()
        tracemalloc.start()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        del result
    return float(np.median(times)), peak


def row(label: str, ours, ref, size: int, of: str = "the matrix") -> None:
    (t, peak), (t_ref, peak_ref) = ours, ref
    print(f"  {label:<9} load_paths {t:6.2f} s   reference {t_ref:6.2f} s   ratio {t / t_ref:5.2f}   "
          f"peak memory {peak / size:4.2f}x {of} (reference {peak_ref / size:4.2f}x)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    args = parser.parse_args()
    n, dim = args.n, args.dim
    print(machine_line())

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        texts = make_sentences(n, seed=3)
        (tmp / "lines.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
        text_bytes = (tmp / "lines.txt").stat().st_size

        def plain_lines():
            with open(tmp / "lines.txt", encoding="utf-8") as f:
                return [line.rstrip("\n") for line in f if line.strip()]

        print(f"{n:,} text lines ({text_bytes / 1e6:.1f} MB); peak memory as a multiple of the file size:")
        row("txt", measure(lambda: load_paths(tmp / "lines.txt")), measure(plain_lines), text_bytes, "the file")

        X = np.random.default_rng(0).standard_normal((n, dim), dtype=np.float32)
        ids = np.array([f"item-{i}" for i in range(n)])
        np.save(tmp / "vectors.npy", X)
        np.savez(tmp / "vectors.npz", embeddings=X, ids=ids)
        import pyarrow as pa
        import pyarrow.parquet as pq

        flat = pa.array(X.reshape(-1))
        table = pa.table({"id": ids, "embedding": pa.FixedSizeListArray.from_arrays(flat, dim)})
        pq.write_table(table, tmp / "vectors.parquet")
        tsv_n = min(n, 20_000)  # TSV is text: a smaller file keeps the run short
        np.savetxt(tmp / "vectors.tsv", X[:tsv_n], delimiter="\t", fmt="%.6g")
        del X, table, flat
        gc.collect()

        def parquet_reference():
            col = pq.read_table(tmp / "vectors.parquet", columns=["embedding"]).column("embedding").combine_chunks()
            return col.values.to_numpy(zero_copy_only=False).reshape(-1, dim)

        mb = n * dim * 4
        print(f"{n:,} x {dim} float32 vectors ({mb / 1e6:.0f} MB); peak memory as a multiple of the matrix "
              "(pyarrow's own buffers are not traced, so the parquet reference shows ~0):")
        row("npy", measure(lambda: np.asarray(load_paths(tmp / "vectors.npy").embeddings[-1])),
            measure(lambda: np.load(tmp / "vectors.npy")), mb)
        row("npz", measure(lambda: load_paths(tmp / "vectors.npz")),
            measure(lambda: np.load(tmp / "vectors.npz")["embeddings"]), mb)
        row("parquet", measure(lambda: load_paths(tmp / "vectors.parquet")), measure(parquet_reference), mb)
        row(f"tsv ({tsv_n // 1000}k)", measure(lambda: load_paths(tmp / "vectors.tsv"), repeats=1),
            measure(lambda: np.loadtxt(tmp / "vectors.tsv", delimiter="\t", dtype=np.float32), repeats=1),
            tsv_n * dim * 4)


if __name__ == "__main__":
    main()
