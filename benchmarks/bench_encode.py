"""Encoding throughput: embedview's pipeline against what a user would run instead, same batch size.

Images: ``encode_dataset`` (cache disabled; threaded decode + preprocess ahead of the
default-image model on onnxruntime, batches of ``--batch-size``, default the encoder's 64)
against a plain loop over the same files: PIL open, the encoder's own transform, then a plain
``onnxruntime.InferenceSession`` (default options) on the same ONNX file, at the same batch
size.  ``--with-torch`` adds eager torch at the same batch size as an extra line (slow on a CPU).  The
ONNX export and the session / model loads are one-off costs, printed on their own lines.
Goal: time ratio <= 1.05 (no slower than the plain loop).

Text: ``encode_dataset`` with default-text (cache disabled) against
``SentenceTransformer.encode(batch_size=B)`` on the same sentences with the same B (the
pipeline's batch; sentence-transformers' own default is 32).  Goal: time ratio <= 1.05.

Both run interleaved (reference, embedview, reference, ...), ``--runs`` each (default 3); every
run, the medians and the median time ratio are printed with the load average (``_common.compare``).

    .venv/bin/python benchmarks/bench_encode.py              # 192 images, 1000 sentences
    .venv/bin/python benchmarks/bench_encode.py --n-images 64 --n-texts 256   # quick run
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path

import numpy as np
from _common import add_runs_arg, compare, machine_line, make_sentences, one_off, peak_rss_mb, step, timed

from embedview.core.dataset import Dataset

GOAL = 1.05


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


def bench_images(n: int, batch_size: int | None, num_workers: int | None, runs: int, with_torch: bool) -> None:
    import onnxruntime as ort
    from PIL import Image

    from embedview.encoders.default_image import _build_torch_model, _export_onnx, _onnx_file, weights_file
    from embedview.encoders.pipeline import encode_dataset
    from embedview.encoders.registry import load_encoder

    print(f"images: {n} files, cpus {os.cpu_count()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        with step("writing images"):
            paths = make_images(Path(tmp), n)
        print(f"  mean file size {np.mean([p.stat().st_size for p in paths]) / 1024:.0f} KiB", flush=True)
        model, t_build = timed(lambda: _build_torch_model(weights_file(), "cpu"))
        one_off("building the eager torch model from the weights", t_build)
        exported = Path(tmp) / "model.onnx"
        _, t_export = timed(lambda: _export_onnx(model, exported, None))
        one_off("ONNX export (+ its check against torch)", t_export,
                "paid once per weights file: the app caches the .onnx file")
        encoder, t_load = timed(lambda: load_encoder("default-image"))
        one_off(f"loading default-image (backend {getattr(encoder, 'backend', '?')})", t_load,
                "from the cached .onnx file when present")
        B = batch_size or encoder.batch_size
        onnx_path = _onnx_file(encoder.fingerprint)
        onnx_path = onnx_path if onnx_path.is_file() else exported
        session, t_sess = timed(lambda: ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]))
        one_off("plain onnxruntime.InferenceSession (default options)", t_sess, str(onnx_path.name))

        def batches(files):
            for start in range(0, len(files), B):
                chunk = []
                for p in files[start:start + B]:
                    with Image.open(p) as im:
                        chunk.append(encoder.preprocess(im.convert("RGB")))
                yield np.stack(chunk)

        def plain_onnx(files=paths):
            return np.concatenate([session.run(None, {"pixels": x})[0] for x in batches(files)])

        def eager_torch(files=paths):
            import torch

            out = []
            with torch.inference_mode():
                for x in batches(files):
                    t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
                    out.append(model(t).numpy())
            return np.concatenate(out)

        ds = Dataset("image", ids=[p.name for p in paths], sources=[str(p) for p in paths], name="bench")

        def pipeline(d=ds):
            return encode_dataset(d, encoder, cache=False, batch_size=B, num_workers=num_workers).vectors

        warm = min(B, n)  # warm-up, one batch of each side (thread pools, first-call allocations)
        plain_onnx(paths[:warm]), pipeline(ds.subset(range(warm)))
        if with_torch:
            eager_torch(paths[:warm])
        extra = [(f"eager torch, batch {B} (extra)", eager_torch)] if with_torch else None
        cmp = compare(f"images, batch {B}", ("embedview encode_dataset", pipeline),
                      (f"plain onnxruntime loop, batch {B}", plain_onnx), runs=runs, goal=GOAL,
                      extra=extra, per_item=(n, "img"))
        res, ref = cmp.results[cmp.ours], cmp.results[cmp.reference]
        print(f"  max |difference| embedview vs plain onnxruntime: {float(np.abs(res - ref).max()):.2e}", flush=True)


def bench_texts(n: int, batch_size: int | None, runs: int) -> None:
    from embedview.encoders.pipeline import encode_dataset
    from embedview.encoders.registry import load_encoder

    sentences = make_sentences(n)
    print(f"text: {n} sentences, mean {np.mean([len(s.split()) for s in sentences]):.1f} words", flush=True)
    encoder, t_load = timed(lambda: load_encoder("default-text"))
    one_off("loading default-text (SentenceTransformer, shared by both sides)", t_load)
    st = encoder.model  # the SentenceTransformer itself
    B = batch_size or encoder.batch_size
    ds = Dataset("text", ids=[str(i) for i in range(n)], sources=["bench.txt"] * n, texts=sentences, name="bench")

    def st_encode():
        return st.encode(sentences, batch_size=B, convert_to_numpy=True, show_progress_bar=False)

    def pipeline():
        return encode_dataset(ds, encoder, cache=False, batch_size=B).vectors

    st.encode(sentences[:B], batch_size=B)  # warm-up
    cmp = compare(f"text, batch {B}", ("embedview encode_dataset", pipeline),
                  (f"SentenceTransformer.encode(batch_size={B})", st_encode), runs=runs, goal=GOAL,
                  per_item=(n, "sentences"))
    diff = float(np.abs(cmp.results[cmp.ours] - cmp.results[cmp.reference]).max())
    print(f"  max |difference| between the two: {diff:.2e}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-images", type=int, default=192, help="images to encode (0: skip)")
    parser.add_argument("--n-texts", type=int, default=1000, help="sentences to encode (0: skip)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="batch size of both sides (default: the encoder's, 64)")
    parser.add_argument("--num-workers", type=int, default=None, help="pipeline decoding threads")
    parser.add_argument("--with-torch", action="store_true",
                        help="add eager torch at the same batch size as an extra line (about 3x the plain loop's time)")
    add_runs_arg(parser)
    args = parser.parse_args()
    print(machine_line(), flush=True)
    if args.n_images:
        bench_images(args.n_images, args.batch_size, args.num_workers, args.runs, args.with_torch)
    if args.n_texts:
        bench_texts(args.n_texts, args.batch_size, args.runs)
    print(machine_line())
    print(f"peak RSS: {peak_rss_mb():.0f} MiB (both sides and the test images, one process)")


if __name__ == "__main__":
    main()
