"""Hostile images: a tiny PNG whose aspect ratio would make the encoder's shorter-side resize
allocate gigabytes (issue 11).  Real hand-made files next to a real photo, the real encoders.

Before the fix a 132-byte 16000 x 1 PNG made an encode peak at 4.3 GB and a 1,000,000 x 1 one
raised MemoryError, losing the good image beside it.  Now each is a named problem, refused
before any large allocation, and peak memory does not depend on the declared size.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from PIL import Image

from embedview.core.cache import EmbeddingCache
from embedview.core.dataset import Dataset
from embedview.core.images import ImageShapeError, open_image
from embedview.encoders.pipeline import encode_dataset
from embedview.encoders.registry import load_encoder

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")
skdata = pytest.importorskip("skimage.data")

HOSTILE = {"wide16000.png": (16000, 1), "wide65000.png": (65000, 1), "tall1000000.png": (1, 1_000_000)}
#: peak RSS an encode with a hostile image beside the photo may add to the photo alone: a bound on
#: memory, not a timing (before the fix: +4 GB for 16000 x 1, MemoryError for 1,000,000 x 1)
MAX_EXTRA_MB = 200


def write_png(path, width, height):
    """A greyscale PNG written by hand (zlib): a gradient row repeated, a few KB at most."""
    row = bytes([0]) + bytes((x * 7) & 0xFF for x in range(width))
    raw = zlib.compress(row * height, 9)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    good = folder / "astronaut.jpg"
    Image.fromarray(skdata.astronaut()).save(good, quality=92)
    hostile = {name: write_png(folder / name, *size) for name, size in HOSTILE.items()}
    return good, hostile


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evcache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDVIEW_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def encoder(cache_env):
    return load_encoder("default-image", device="cpu")  # exports the ONNX model into cache_env once


def test_the_hostile_files_are_small_and_decode_to_few_pixels(files):
    _, hostile = files
    for name, path in hostile.items():
        assert path.stat().st_size < 4096, name
        assert open_image(path).size == HOSTILE[name]  # decoding itself is cheap: the resize was not


def test_hostile_images_are_named_problems_and_the_good_image_is_encoded_and_cached(files, encoder, cache_env):
    good, hostile = files
    sources = [str(hostile["wide16000.png"]), str(good), str(hostile["wide65000.png"]), str(hostile["tall1000000.png"])]
    ds = Dataset("image", [os.path.basename(s) for s in sources], sources)
    with EmbeddingCache(cache_env / "emb.sqlite3") as store:
        es = encode_dataset(ds, encoder, cache=store, num_workers=2)
        assert es.dataset.sources == [str(good)]
        alone = encoder.encode([open_image(good, draft_size=encoder.draft_size)])
        np.testing.assert_array_equal(es.vectors, alone)  # same batch-of-1 path: bitwise equal
        reasons = {p.path: p.reason for p in es.problems}
        assert set(reasons) == {str(p) for p in hostile.values()}
        assert reasons[str(hostile["wide16000.png"])].startswith(
            "aspect ratio 16000:1 (16000 x 1): the resized image would have 1,048,576,000 pixels"
        )
        assert "aspect ratio 65000:1" in reasons[str(hostile["wide65000.png"])]
        assert "aspect ratio 1:1000000" in reasons[str(hostile["tall1000000.png"])]
        assert all("64 x the model's 224 x 224 input" in r for r in reasons.values())
        assert es.stats["n_failed"] == 3 and es.stats["n_encoded"] == 1

        again = encode_dataset(ds, encoder, cache=store, num_workers=2)  # the good vector was cached
        assert again.stats["n_cached"] == 1 and again.stats["n_encoded"] == 0
        np.testing.assert_array_equal(again.vectors, es.vectors)
        assert len(again.problems) == 3


def test_elongated_but_reasonable_images_still_encode(encoder):
    photo = Image.fromarray(skdata.astronaut())
    panorama = photo.resize((512 * 40, 512))  # 40:1, below the ~49:1 limit of a 224-pixel model
    assert encoder.preprocess(panorama).shape == (3, 224, 224)
    with pytest.raises(ImageShapeError, match=r"aspect ratio 60:1"):
        encoder.preprocess(photo.resize((512 * 60, 512)))


_PEAK_SCRIPT = textwrap.dedent("""
    import json, os, resource, sys
    from embedview.core.dataset import Dataset
    from embedview.encoders.pipeline import encode_dataset
    from embedview.encoders.registry import load_encoder

    sources = sys.argv[1:]
    enc = load_encoder("default-image", device="cpu")
    ds = Dataset("image", [os.path.basename(s) for s in sources], sources)
    es = encode_dataset(ds, enc, cache=False, num_workers=2)
    print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "encoded": es.dataset.sources, "problems": [p.path for p in es.problems]}))
""")


def peak_of_encode(sources) -> dict:
    """Encode ``sources`` in a fresh interpreter; its peak RSS (MiB), encoded files and problems."""
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, *map(str, sources)], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["peak_mb"] = result.pop("peak_kib") / 1024
    return result


def test_peak_memory_of_an_encode_does_not_grow_with_a_hostile_images_declared_size(files, encoder):
    good, hostile = files
    alone = peak_of_encode([good])
    assert alone["encoded"] == [str(good)] and alone["problems"] == []
    for name in ("wide16000.png", "tall1000000.png"):
        run = peak_of_encode([hostile[name], good])
        assert run["encoded"] == [str(good)] and run["problems"] == [str(hostile[name])]
        extra = run["peak_mb"] - alone["peak_mb"]
        assert extra < MAX_EXTRA_MB, f"{name}: peak {run['peak_mb']:.0f} MB vs {alone['peak_mb']:.0f} MB alone"


# ------------------------------------------------------------------------------------ open_clip


def test_open_clip_transform_refuses_the_same_images(tmp_path):
    open_clip = pytest.importorskip("open_clip")
    cfg = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    torch.manual_seed(0)
    config = tmp_path / "ev-hostile-clip.json"
    config.write_text(json.dumps(cfg))
    checkpoint = tmp_path / "ev-hostile-clip.pt"
    torch.save(open_clip.CLIP(**cfg).state_dict(), checkpoint)
    enc = load_encoder(f"clip:{config}@{checkpoint}", device="cpu")

    wide = write_png(tmp_path / "wide.png", 16000, 1)
    with pytest.raises(ImageShapeError) as info:
        enc.preprocess(open_image(wide))
    assert "aspect ratio 16000:1" in info.value.reason and "64 x 64 input" in info.value.reason
    photo = Image.fromarray(skdata.coffee())
    assert tuple(enc.preprocess(photo.resize((40 * 64, 64))).shape) == (3, 64, 64)  # 40:1 still fine

    good = tmp_path / "coffee.png"
    photo.save(good)
    ds = Dataset("image", ["wide", "coffee"], [str(wide), str(good)])
    es = encode_dataset(ds, enc, cache=False, num_workers=1)
    assert es.dataset.sources == [str(good)] and [p.path for p in es.problems] == [str(wide)]
    np.testing.assert_allclose(es.vectors, enc.encode([open_image(good)]), rtol=1e-5, atol=1e-6)
