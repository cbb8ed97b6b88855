"""Peak memory of an encode with a hostile image beside a good photo (issue 11).

A PNG of a few hundred bytes can declare 16000 x 1 or 1,000,000 x 1 pixels; scaling its shorter
side up to the model's 256 pixels used to allocate the whole strip (4.3 GB for 16000 x 1,
MemoryError for 1,000,000 x 1).  The encoders now refuse such an image as a named problem before
resizing (``embedview.core.images.check_resize``), so peak memory does not grow with the declared
size.  Each encode runs in a fresh interpreter (``default-image``, no cache) and reports its
``ru_maxrss``; the ratio is the peak with the hostile image over the peak of the photo alone.
Goal: <= 1.1x.

    .venv/bin/python benchmarks/bench_hostile_image.py
    .venv/bin/python benchmarks/bench_hostile_image.py --without-guard   # also the old behaviour
        (the 16000 x 1 case only; needs ~5 GB of free memory)
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import textwrap
import zlib
from pathlib import Path

from _common import ROOT, machine_line

HOSTILE = {"16000x1": (16000, 1), "65000x1": (65000, 1), "1x1000000": (1, 1_000_000)}
GOAL = 1.1

_SCRIPT = textwrap.dedent("""
    import json, os, resource, sys
    if sys.argv[1] == "unguarded":
        import embedview.core.images as images
        images.check_resize = lambda *a, **k: None
    from embedview.core.dataset import Dataset
    from embedview.encoders.pipeline import encode_dataset
    from embedview.encoders.registry import load_encoder

    sources = sys.argv[2:]
    enc = load_encoder("default-image", device="cpu")
    ds = Dataset("image", [os.path.basename(s) for s in sources], sources)
    try:
        es = encode_dataset(ds, enc, cache=False)
        outcome = {"encoded": len(es), "problems": [str(p) for p in es.problems]}
    except MemoryError as exc:
        outcome = {"encoded": 0, "problems": [f"MemoryError {exc}"]}
    outcome["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(outcome))
""")


def write_png(path: Path, width: int, height: int) -> Path:
    """A greyscale PNG written with zlib directly: a gradient row repeated (a few KB at most)."""
    row = bytes([0]) + bytes((x * 7) & 0xFF for x in range(width))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def encode_peak(sources: list[Path], guarded: bool = True) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", _SCRIPT, "guarded" if guarded else "unguarded", *map(str, sources)],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"encoded": 0, "problems": [f"exit {out.returncode}: {out.stderr.strip()[-300:]}"], "peak_mb": 0.0}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--without-guard", action="store_true",
                        help="also encode 16000 x 1 with the check disabled (the behaviour before issue 11)")
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        from PIL import Image
        from skimage import data

        good = folder / "astronaut.jpg"
        Image.fromarray(data.astronaut()).save(good, quality=92)
        alone = encode_peak([good])
        print(f"photo alone: peak {alone['peak_mb']:.0f} MB, {alone['encoded']} encoded")
        worst = 0.0
        for label, size in HOSTILE.items():
            png = write_png(folder / f"hostile-{label}.png", *size)
            run = encode_peak([png, good])
            ratio = run["peak_mb"] / alone["peak_mb"]
            worst = max(worst, ratio)
            print(f"photo + {label} PNG ({png.stat().st_size} bytes): peak {run['peak_mb']:.0f} MB "
                  f"({ratio:.2f}x the photo alone), {run['encoded']} encoded; problem: "
                  f"{run['problems'][0] if run['problems'] else 'none'}")
        verdict = "OK" if worst <= GOAL else "ABOVE GOAL"
        print(f"worst peak ratio with a hostile image: {worst:.2f}x (goal <= {GOAL:g}x) {verdict}")
        if args.without_guard:
            png = folder / "hostile-16000x1.png"
            run = encode_peak([png, good], guarded=False)
            print(f"without the guard, photo + 16000x1: peak {run['peak_mb']:.0f} MB "
                  f"({run['peak_mb'] / alone['peak_mb']:.1f}x), {run['encoded']} encoded")


if __name__ == "__main__":
    main()
