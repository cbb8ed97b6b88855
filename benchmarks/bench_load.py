"""Loading: ``load_paths`` on 100k text lines and 100k x 768 float32 vectors in each format,
against the plain reader of that format, interleaved, ``--runs`` each.

References (what a user would call): text lines: ``open`` + a list of stripped lines; ``.npy``:
``np.load(mmap_mode="r")`` (extra line: a full ``np.load``); ``.npz``: ``np.load(...)["embeddings"]``;
parquet: pyarrow ``read_table`` of the embedding column to a numpy matrix; TSV:
``np.loadtxt``.  ``load_paths`` does more than each of them (ids, a finite-value check of every
vector, a dataset), which is part of what is measured.

Every load runs in a fresh Python process (so no allocator keeps memory from an earlier load),
which reports:

* the time of the load itself (not the interpreter's start or the imports): that is what the
  runs and ratios use (``_common.compare``);
* the peak resident memory the load added (the kernel's high-water mark, reset just before it),
  and what is still held after it, as multiples of the matrix (or, for text, of the file) size,
  medians over the runs.  This counts everything: numpy, Python objects, pyarrow's buffers,
  pages of a memory-mapped file that were touched.

The goal for precomputed vectors is at most one copy of the matrix beyond what the format's
reader itself needs.  ``.npy`` is memory-mapped on both sides; ``load_paths`` checks every
value is finite, which reads the whole file once, so its touched pages show in the resident
figure although they are the page cache, not a copy.

    .venv/bin/python benchmarks/bench_load.py [--n 100000] [--dim 768] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import ROOT, add_runs_arg, compare, machine_line, make_sentences

CHILD = """
import json, sys, time
import numpy as np
kind, path, dim = sys.argv[1], sys.argv[2], int(sys.argv[3])
from embedview.core.loaders import load_paths
import pyarrow.parquet as pq

def kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])

def plain_lines():
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\\n") for line in f if line.strip()]

def parquet_reference():
    col = pq.read_table(path, columns=["embedding"]).column("embedding").combine_chunks()
    return col.values.to_numpy(zero_copy_only=False).reshape(-1, dim)

readers = {
    "ours": lambda: load_paths(path),
    "txt": plain_lines,
    "npy": lambda: np.load(path, mmap_mode="r"),
    "npy-full": lambda: np.load(path),
    "npz": lambda: np.load(path)["embeddings"],
    "parquet": parquet_reference,
    "tsv": lambda: np.loadtxt(path, delimiter="\\t", dtype=np.float32),
}
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the high-water mark
before = kb("VmRSS")
start = time.perf_counter()
result = readers[kind]()
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_kb": kb("VmHWM") - before, "held_kb": kb("VmRSS") - before}))
"""


def load(kind: str, path: Path, dim: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(path), str(dim)], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def row(label: str, path: Path, reference: tuple[str, str], size: int, dim: int, runs: int,
        of: str = "the matrix", extra: tuple[str, str] | None = None) -> None:
    """Interleaved loads in fresh processes: ``load_paths`` against ``reference`` = (reader, label)."""
    def side(kind: str):
        return lambda: (lambda r: (r["seconds"], r))(load(kind, path, dim))

    sides = {"ours": ("embedview load_paths", side("ours")), "ref": (reference[1], side(reference[0]))}
    more = [(extra[1] + " (extra)", side(extra[0]))] if extra else None
    cmp = compare(f"load {label}", sides["ours"], sides["ref"], runs=runs, extra=more, own_time=True)
    kb = size / 1024
    for name in cmp.times:
        res = cmp.results[name]  # last run's figures; memory barely moves between runs
        print(f"    memory, {name}: peak {res['peak_kb'] / kb:4.2f}x {of}, held after {res['held_kb'] / kb:4.2f}x",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    add_runs_arg(parser)
    args = parser.parse_args()
    n, dim, runs = args.n, args.dim, args.runs
    if not Path("/proc/self/clear_refs").exists():
        sys.exit("this benchmark reads peak memory from /proc (Linux)")
    print(machine_line())

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        texts = tmp / "lines.txt"
        texts.write_text("\n".join(make_sentences(n, seed=3)) + "\n", encoding="utf-8")
        print(f"{n:,} text lines ({texts.stat().st_size / 1e6:.1f} MB); memory as a multiple of the file size:")
        row("txt", texts, ("txt", "open + stripped lines"), texts.stat().st_size, dim, runs, "the file")

        X = np.random.default_rng(0).standard_normal((n, dim), dtype=np.float32)
        ids = np.array([f"item-{i}" for i in range(n)])
        np.save(tmp / "vectors.npy", X)
        np.savez(tmp / "vectors.npz", embeddings=X, ids=ids)
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"id": ids, "embedding": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), dim)})
        pq.write_table(table, tmp / "vectors.parquet")
        tsv_n = min(n, 20_000)  # TSV is text: a smaller file keeps the run short
        np.savetxt(tmp / "vectors.tsv", X[:tsv_n], delimiter="\t", fmt="%.6g")
        del X, table

        size = n * dim * 4
        print(f"{n:,} x {dim} float32 vectors ({size / 1e6:.0f} MB); memory as a multiple of the matrix:")
        row("npy", tmp / "vectors.npy", ("npy", 'np.load(mmap_mode="r")'), size, dim, runs,
            extra=("npy-full", "np.load, full read"))
        row("npz", tmp / "vectors.npz", ("npz", 'np.load(...)["embeddings"]'), size, dim, runs)
        row("parquet", tmp / "vectors.parquet", ("parquet", "pyarrow read_table + to_numpy"), size, dim, runs)
        row(f"tsv ({tsv_n // 1000}k rows)", tmp / "vectors.tsv", ("tsv", "np.loadtxt"), tsv_n * dim * 4, dim, runs)


if __name__ == "__main__":
    main()
