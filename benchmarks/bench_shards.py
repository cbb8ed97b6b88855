"""Opening a folder of parquet shards larger than one wants in memory: peak resident memory of
``load_paths(folder)`` against pyarrow's plain ``pq.read_table(folder).to_numpy`` of the vector
column, as multiples of the float32 matrix, and the memory of 1M ids kept two ways.

Data: ``--n`` clustered vectors of ``--dim`` values (float32, fixed-size lists) with an id, a label
and a float score, written by pyarrow as ``--shards`` files ``part-00000.parquet`` ... (row groups of
64k rows, as Spark / Ray write them).  Every open runs in a fresh Python process that resets the
kernel's high-water mark just before it and reports (``/proc/self/status``):

* ``peak``: the most resident memory the open added (VmHWM after - VmRSS before);
* ``held``: what it still holds after (VmRSS after - before).

Sides, each ``--runs`` times, interleaved:

* ``first open``: ``load_paths`` with an empty cache folder: reads every shard batch by batch and
  writes the vectors once to ``$EMBEDVIEW_CACHE_DIR/vectors/<key>.npy`` (plain file writes: the
  page cache, not the process, holds what was written), then maps it;
* ``reopen``: the same folder again: the store is found by its key (shard paths, sizes, times),
  nothing is read but the ids and metadata;
* ``pyarrow``: ``pq.read_table(folder, columns=["embedding"])`` then ``combine_chunks`` and
  ``values.to_numpy().reshape(n, dim)``, the plain call a user would make.

A memory-mapped matrix's pages count as resident once touched (by a computation later); they are
the page cache, which the kernel drops under pressure, not memory the process owns.

``--lance`` also writes the data as a Lance dataset and opens it both ways (``lance.dataset(...)
.to_table`` as the reference).  ``--ids`` also measures 1M ids ``"doc-0000001"`` kept as a list of
Python strings against :class:`embedview.core.shards.PackedStrings`.

    .venv/bin/python benchmarks/bench_shards.py [--n 1000000] [--dim 384] [--shards 10] [--runs 1] [--ids] [--lance]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, machine_line

CHILD = """
import json, os, sys, time
import numpy as np
kind, path, dim = sys.argv[1], sys.argv[2], int(sys.argv[3])
import pyarrow as pa
import pyarrow.parquet as pq
from embedview.core.loaders import load_paths
from embedview.core.shards import PackedStrings

def kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])

def reference():
    col = pq.read_table(path, columns=["embedding"]).column("embedding").combine_chunks()
    return col.values.to_numpy(zero_copy_only=False).reshape(-1, dim)

def lance_reference():
    import lance
    col = lance.dataset(path).to_table(columns=["embedding"]).column("embedding").combine_chunks()
    return col.values.to_numpy(zero_copy_only=False).reshape(-1, dim)

def ours():
    ds = load_paths(path)
    return ds

n_ids = 1_000_000
if kind.startswith("ids"):
    arrow_ids = pa.array([f"doc-{i:07d}" for i in range(n_ids)])
readers = {
    "ours": ours,
    "ref": reference,
    "lance-ref": lance_reference,
    "ids-list": lambda: arrow_ids.to_pylist(),
    "ids-packed": lambda: PackedStrings.from_arrow(arrow_ids),
}
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the high-water mark
before = kb("VmRSS")
start = time.perf_counter()
result = readers[kind]()
seconds = time.perf_counter() - start
out = {"seconds": seconds, "peak_kb": kb("VmHWM") - before, "held_kb": kb("VmRSS") - before}
if kind == "ours":
    out["n"] = len(result)
    out["memmap"] = isinstance(result.embeddings.base, np.memmap) or isinstance(result.embeddings, np.memmap)
print(json.dumps(out))
"""


def child(kind: str, path: Path, dim: int, cache: Path | None = None) -> dict:
    env = dict(os.environ)
    if cache is not None:
        env["EMBEDVIEW_CACHE_DIR"] = str(cache)
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(path), str(dim)], capture_output=True, text=True,
                          cwd=ROOT, timeout=1800, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_shards(folder: Path, n: int, dim: int, shards: int) -> None:
    """Clustered vectors, one shard at a time (never the whole matrix in this process)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(100, dim)).astype(np.float32) * 3
    bounds = np.linspace(0, n, shards + 1).astype(int)
    for s in range(shards):
        lo, hi = bounds[s], bounds[s + 1]
        y = rng.integers(0, len(centres), hi - lo)
        x = centres[y] + rng.standard_normal((hi - lo, dim), dtype=np.float32)
        table = pa.table({
            "id": pa.array([f"doc-{i:07d}" for i in range(lo, hi)]),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), dim),
            "label": pa.array([f"c{j}" for j in y]),
            "score": pa.array(rng.random(hi - lo)),
        })
        pq.write_table(table, folder / f"part-{s:05d}.parquet", row_group_size=65536)
        del table, x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--ids", action="store_true", help="also measure 1M ids as a list and packed")
    parser.add_argument("--lance", action="store_true", help="also the same data as a Lance dataset (pylance)")
    parser.add_argument("--keep", type=Path, default=None, help="write (or reuse) the shards in this folder")
    args = parser.parse_args()
    if not Path("/proc/self/clear_refs").exists():
        sys.exit("this benchmark reads peak memory from /proc (Linux)")
    print(machine_line(), flush=True)
    n, dim = args.n, args.dim
    size_kb = n * dim * 4 / 1024

    tmp = Path(tempfile.mkdtemp(prefix="bench_shards_"))
    try:
        folder = args.keep or tmp / "shards"
        folder.mkdir(parents=True, exist_ok=True)
        if not any(folder.glob("*.parquet")):
            t = time.perf_counter()
            write_shards(folder, n, dim, args.shards)
            print(f"wrote {args.shards} shards in {time.perf_counter() - t:.0f} s", flush=True)
        disk = sum(p.stat().st_size for p in folder.glob("*.parquet"))
        print(f"{n:,} x {dim} float32 in {args.shards} parquet shards ({disk / 1e6:.0f} MB on disk, matrix "
              f"{n * dim * 4 / 1e6:.0f} MB); memory as a multiple of the matrix:", flush=True)
        rows: dict[str, list[dict]] = {"first open": [], "reopen": [], "pyarrow": []}
        for r in range(args.runs):
            cache = tmp / f"cache{r}"
            rows["first open"].append(child("ours", folder, dim, cache))
            rows["reopen"].append(child("ours", folder, dim, cache))
            rows["pyarrow"].append(child("ref", folder, dim))
            for name, got in rows.items():
                res = got[-1]
                extra = f", {res['n']:,} items, memory-mapped: {res['memmap']}" if "n" in res else ""
                print(f"  run {r + 1} {name:10s}: {res['seconds']:6.1f} s, peak {res['peak_kb'] / size_kb:5.2f}x, "
                      f"held after {res['held_kb'] / size_kb:5.2f}x{extra}", flush=True)
            shutil.rmtree(cache, ignore_errors=True)
        med = {k: float(np.median([r["peak_kb"] for r in v])) for k, v in rows.items()}
        print(f"median peak: first open {med['first open'] / size_kb:.2f}x, reopen {med['reopen'] / size_kb:.2f}x, "
              f"pyarrow {med['pyarrow'] / size_kb:.2f}x the matrix; ratio embedview / pyarrow: first open "
              f"{med['first open'] / med['pyarrow']:.2f}, reopen {med['reopen'] / med['pyarrow']:.2f}")
        if args.lance:
            import lance
            import pyarrow.dataset as pads

            target = folder.parent / f"{folder.name}.lance"
            if not target.exists():
                lance.write_dataset(pads.dataset(folder).scanner().to_reader(), str(target))
            cache = tmp / "cache-lance"
            first, again = child("ours", target, dim, cache), child("ours", target, dim, cache)
            ref = child("lance-ref", target, dim)
            print(f"Lance dataset: first open peak {first['peak_kb'] / size_kb:.2f}x ({first['seconds']:.1f} s), "
                  f"reopen {again['peak_kb'] / size_kb:.2f}x ({again['seconds']:.1f} s), lance to_table + to_numpy "
                  f"{ref['peak_kb'] / size_kb:.2f}x ({ref['seconds']:.1f} s); ratio first open / lance "
                  f"{first['peak_kb'] / ref['peak_kb']:.2f}")
        if args.ids:
            a, b = child("ids-list", folder, dim), child("ids-packed", folder, dim)
            print(f"1,000,000 ids 'doc-0000001': list of str {a['held_kb'] / 1024:.0f} MB held, "
                  f"PackedStrings {b['held_kb'] / 1024:.0f} MB held (peak {b['peak_kb'] / 1024:.0f} MB)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
