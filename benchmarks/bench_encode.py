"""Encoding throughput: embedview's pipeline against the plain loops people write by hand.

Images: ``encode_dataset`` (cache disabled; threaded decode + preprocess ahead of the
default-image model, batches) against a loop that opens each file with PIL, applies the
encoder's own transform and runs the eager torch model on a batch of 1 under
``torch.inference_mode`` (with torch's default threads and with one; the faster counts).
Goal: >= 2x.

Text: ``encode_dataset`` with default-text (cache disabled) against
``SentenceTransformer.encode`` called directly on the same sentences.  Goal: no slower (>= 0.95x).

    .venv/bin/python benchmarks/bench_encode.py              # 500 images, 2000 sentences
    .venv/bin/python benchmarks/bench_encode.py --n-images 64 --n-texts 256   # quick run
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path

import numpy as np
from _common import Timer, machine_line, make_sentences, peak_rss_mb, rates, ratio_line, step

from embedview.core.dataset import Dataset


def make_images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` JPEG / PNG files of 256-512 px: crops of scikit-image's photos and upscaled digits."""
    from PIL import Image
    from skimage import data
    from sklearn.datasets import load_digits

    photos = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
                 "camera", "coins", "moon", "brick", "grass", "gravel", "page", "text"):
        a = getattr(data, name)()
        photos.append(Image.fromarray(a).convert("RGB"))
    digits = load_digits().images  # 8x8, values 0..16
    rng = random.Random(seed)
    paths = []
    for i in range(n):
        if i % 5 == 4:  # one in five: a digit, upscaled and tinted
            d = (digits[i % len(digits)] * (255 / 16)).astype(np.uint8)
            tint = np.array([rng.uniform(0.5, 1), rng.uniform(0.5, 1), rng.uniform(0.5, 1)])
            im = Image.fromarray((d[..., None] * tint).astype(np.uint8)).resize((256, 256), Image.Resampling.BICUBIC)
        else:
            src = photos[i % len(photos)]
            w, h = src.size
            cw, ch = int(w * rng.uniform(0.5, 1)), int(h * rng.uniform(0.5, 1))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            im = src.crop((x, y, x + cw, y + ch))
            side = rng.randint(256, 512)
            scale = side / max(im.size)
            im = im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))), Image.Resampling.BILINEAR)
        path = folder / (f"img_{i:04d}.jpg" if i % 2 == 0 else f"img_{i:04d}.png")
        im.save(path, quality=90) if path.suffix == ".jpg" else im.save(path)
        paths.append(path)
    return paths


def bench_images(n: int, batch_size: int | None, num_workers: int | None, repeat: int) -> None:
    import torch
    from PIL import Image

    from embedview.encoders.default_image import _build_torch_model, weights_file
    from embedview.encoders.pipeline import encode_dataset
    from embedview.encoders.registry import load_encoder

    print(f"images: {n} files, torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        with step("writing images"):
            paths = make_images(Path(tmp), n)
        print(f"  mean file size {np.mean([p.stat().st_size for p in paths]) / 1024:.0f} KiB", flush=True)
        with step("loading default-image (pipeline, backend auto)"):
            encoder = load_encoder("default-image")
        print(f"  backend: {getattr(encoder, 'backend', '?')}", flush=True)
        with step("loading the eager torch model (plain loop)"):
            model = _build_torch_model(weights_file(), "cpu")

        def plain_loop(files):
            out = []
            for p in files:
                with Image.open(p) as im:
                    x = torch.from_numpy(encoder.preprocess(im.convert("RGB")))[None]
                with torch.inference_mode():
                    out.append(model(x).numpy()[0])
            return np.stack(out)

        ds = Dataset("image", ids=[p.name for p in paths], sources=[str(p) for p in paths], name="bench")
        plain_loop(paths[:4])  # warm-up both paths (the pipeline on one full batch)
        encode_dataset(ds.subset(range(min(64, n))), encoder, cache=False, batch_size=batch_size)

        # interleaved repeats, best of each: the machine is shared, so take each side's quietest run.
        # The plain loop runs with torch's default threads and with one thread: on a busy machine
        # batch-1 eager torch with several OpenMP threads can collapse, and the baseline is
        # whichever of the two was faster, so the ratio is never flattered by that.
        default_threads = torch.get_num_threads()
        plain_times = {default_threads: [], 1: []}
        pipe_times = []
        for _ in range(repeat):
            for threads, times in plain_times.items():
                torch.set_num_threads(threads)
                with Timer() as t:
                    ref = plain_loop(paths)
                times.append(t.seconds)
            torch.set_num_threads(default_threads)
            with Timer() as t:
                res = encode_dataset(ds, encoder, cache=False, batch_size=batch_size, num_workers=num_workers)
            pipe_times.append(t.seconds)
        diff = float(np.abs(res.vectors - ref).max())
        for threads, times in plain_times.items():
            print(f"  plain loop (PIL + transform + torch batch 1, {threads} thread(s)): {n / min(times):.1f} img/s "
                  f"(runs: {rates(n, times)})")
        plain_rate = n / min(min(times) for times in plain_times.values())
        pipe_rate = n / min(pipe_times)
        print(f"  embedview encode_dataset: {pipe_rate:.1f} img/s (runs: {rates(n, pipe_times)})")
        print(f"  max |difference| between the two: {diff:.2e}")
        print("  " + ratio_line("images, pipeline / best plain loop", pipe_rate, plain_rate, 2.0), flush=True)


def bench_texts(n: int, batch_size: int | None, repeat: int) -> None:
    from embedview.encoders.pipeline import encode_dataset
    from embedview.encoders.registry import load_encoder

    sentences = make_sentences(n)
    print(f"text: {n} sentences, mean {np.mean([len(s.split()) for s in sentences]):.1f} words", flush=True)
    with step("loading default-text"):
        encoder = load_encoder("default-text")
    st = encoder.model  # the SentenceTransformer itself
    ds = Dataset("text", ids=[str(i) for i in range(n)], sources=["bench.txt"] * n, texts=sentences, name="bench")
    st.encode(sentences[:64])  # warm-up
    st_times, pipe_times = [], []
    for _ in range(repeat):  # interleaved, best of each (see bench_images)
        with Timer() as t:
            ref = st.encode(sentences, convert_to_numpy=True)
        st_times.append(t.seconds)
        with Timer() as t:
            res = encode_dataset(ds, encoder, cache=False, batch_size=batch_size)
        pipe_times.append(t.seconds)
    diff = float(np.abs(res.vectors - ref).max())
    st_rate, pipe_rate = n / min(st_times), n / min(pipe_times)
    print(f"  SentenceTransformer.encode: {st_rate:.1f} sentences/s (runs: {rates(n, st_times)})")
    print(f"  embedview encode_dataset:   {pipe_rate:.1f} sentences/s (runs: {rates(n, pipe_times)})")
    print(f"  max |difference| between the two: {diff:.2e}")
    print("  " + ratio_line("text, pipeline / SentenceTransformer.encode", pipe_rate, st_rate, 0.95), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-images", type=int, default=500, help="images to encode (0: skip)")
    parser.add_argument("--n-texts", type=int, default=2000, help="sentences to encode (0: skip)")
    parser.add_argument("--batch-size", type=int, default=None, help="pipeline batch size (default: the encoder's)")
    parser.add_argument("--num-workers", type=int, default=None, help="pipeline decoding threads")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs of each side; the best counts")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    if args.n_images:
        bench_images(args.n_images, args.batch_size, args.num_workers, args.repeat)
    if args.n_texts:
        bench_texts(args.n_texts, args.batch_size, args.repeat)
    print(machine_line())
    print(f"peak RSS: {peak_rss_mb():.0f} MiB (both sides and the test images, one process)")


if __name__ == "__main__":
    main()
