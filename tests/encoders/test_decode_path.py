"""The shared decode path of image encoding (issue 11), with a small real plugin-like encoder
(no torch): every image is held to the aspect-ratio bound before any encoder's own transform,
and Pillow's warnings, raised while images decode in several threads at once, become warnings
naming the file they are about -- never bare on stderr, never attributed to another file."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from embedview.core.dataset import Dataset
from embedview.core.images import DEFAULT_RESIZE_BOUND, ImageShapeError, LazyImages, capture_image_warnings, open_image
from embedview.encoders.base import Encoder
from embedview.encoders.pipeline import encode_dataset, resize_bound


class TinyPlugin(Encoder):
    """What a third-party image encoder looks like: its own preprocess scales the shorter side to
    its input (as torchvision's Resize(int) does) and centre-crops, with nothing bounding the
    longer side.  It records every size its preprocess was handed."""

    name = "tiny-plugin"
    modality = "image"
    dim = 3
    side = 8

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    @property
    def cache_id(self) -> str:
        return "tiny-plugin:1"

    def preprocess(self, image):
        self.seen.append(image.size)
        w, h = image.size
        s = self.side
        size = (s, max(s, h * s // w)) if w <= h else (max(s, w * s // h), s)
        image = image.convert("RGB").resize(size)
        left, top = (size[0] - s) // 2, (size[1] - s) // 2
        return np.asarray(image.crop((left, top, left + s, top + s)), dtype=np.float32) / 255.0

    def encode_preprocessed(self, batch):
        return np.stack([b.mean(axis=(0, 1)) for b in batch]).astype(np.float32)


def write_png(path, width, height):
    """A greyscale PNG written by hand (zlib): a gradient row repeated, a few KB at most."""
    row = bytes([0]) + bytes((x * 7) & 0xFF for x in range(width))
    raw = zlib.compress(row * height, 9)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


def _ifd(entries) -> bytes:
    out = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        out += struct.pack("<HHI", tag, kind, count) + value
    return out + struct.pack("<I", 0)


def write_corrupt_exif_jpeg(path, colour, pointer_past_end: bool):
    """A real JPEG whose EXIF block is broken the way camera files are: a "rotate 90" orientation
    tag plus a sub-IFD pointer past the block's end (Pillow: "Corrupt EXIF data", when the
    orientation is applied) or a Make tag whose data lie past the end ("Tag data larger than
    file", at open)."""
    orientation = (0x0112, 3, 1, struct.pack("<HH", 6, 0))
    broken = (0x8769, 4, 1, struct.pack("<I", 5000)) if pointer_past_end else (0x010F, 2, 40, struct.pack("<I", 30))
    tiff = b"II*\x00" + struct.pack("<I", 8) + _ifd([orientation, broken])
    Image.new("RGB", (24, 16), colour).save(path, "JPEG", exif=b"Exif\x00\x00" + tiff)
    return path


def _sources(tmp_path, n_clean=6, n_exif=6):
    """Clean photos-to-be and broken-EXIF JPEGs interleaved, so threads decode both at once."""
    out, broken = [], set()
    for i in range(max(n_clean, n_exif)):
        if i < n_clean:
            p = tmp_path / f"clean{i:02d}.png"
            Image.new("RGB", (20 + i, 12), (10 * i, 100, 200)).save(p)
            out.append(str(p))
        if i < n_exif:
            p = write_corrupt_exif_jpeg(tmp_path / f"exif{i:02d}.jpg", (200, 10 * i, 50), pointer_past_end=i % 2 == 0)
            out.append(str(p))
            broken.add(str(p))
    return out, broken


# -- the bound, before any encoder's transform ------------------------------------------------------


def test_a_strip_never_reaches_a_plugins_preprocess(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 30), "teal").save(good)
    strip = write_png(tmp_path / "strip.png", 1_000_000, 1)
    tall = write_png(tmp_path / "tall.png", 1, 70_000)
    assert strip.stat().st_size < 8192
    panorama = write_png(tmp_path / "pano.png", 600, 10)  # 60:1: allowed (the bound is 64:1 here)
    sources = [str(strip), str(good), str(tall), str(panorama)]
    plugin = TinyPlugin()
    assert resize_bound(plugin) == DEFAULT_RESIZE_BOUND
    es = encode_dataset(Dataset("image", ["s", "g", "t", "p"], sources), plugin, cache=False, num_workers=2)
    assert es.dataset.sources == [str(good), str(panorama)]
    assert sorted(plugin.seen) == [(40, 30), (600, 10)]  # the strips were refused before preprocess
    reasons = {p.path: p.reason for p in es.problems}
    assert reasons[str(strip)].startswith("aspect ratio 1000000:1 (1000000 x 1)")
    assert "aspect ratio 1:70000" in reasons[str(tall)]
    assert es.stats["n_failed"] == 2 and es.vectors.shape == (2, 3)


def test_an_encoder_may_declare_its_own_bound(tmp_path):
    panorama = write_png(tmp_path / "pano.png", 600, 10)

    class Strict(TinyPlugin):
        resize_bound = (32, 8 * 8)  # resizes to 32 then crops 8 x 8: 60:1 would be 32 x 1920 > 64 x 8 x 8

    plugin = Strict()
    es = encode_dataset(Dataset("image", ["p"], [str(panorama)]), plugin, cache=False, num_workers=1)
    assert len(es) == 0 and plugin.seen == []
    assert "aspect ratio 60:1" in es.problems[0].reason and "64 x the model's 8 x 8 input" in es.problems[0].reason
    with pytest.raises(ImageShapeError):
        open_image(panorama, resize_bound=(32, 8 * 8))
    assert open_image(panorama).size == (600, 10)  # without a bound (thumbnails): decoded


def test_lazy_images_for_the_invariance_probe_hold_the_bound(tmp_path):
    strip = write_png(tmp_path / "strip.png", 100_000, 1)
    good = tmp_path / "good.png"
    Image.new("RGB", (16, 16), "red").save(good)
    items = LazyImages([str(good), str(strip)])
    assert items[0].size == (16, 16)
    with pytest.raises(ImageShapeError, match="aspect ratio 100000:1"):
        items[1]


# -- warnings: per file, per thread ---------------------------------------------------------------


def test_corrupt_exif_files_really_make_pillow_warn(tmp_path):
    """The fixtures are real: Pillow itself warns on them (not a simulated warning)."""
    for past_end, text in ((True, "Corrupt EXIF data"), (False, "Tag data larger than file")):
        path = write_corrupt_exif_jpeg(tmp_path / f"x{past_end}.jpg", "red", pointer_past_end=past_end)
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            open_image(path)
        assert any(text in str(w.message) for w in got), [str(w.message) for w in got]


def test_pillow_warnings_in_threads_become_warnings_naming_their_own_file(tmp_path, capfd):
    sources, broken = _sources(tmp_path)
    plugin = TinyPlugin()
    ds = Dataset("image", [s.rsplit("/", 1)[1] for s in sources], sources)
    for _ in range(3):  # several rounds: a second round's warnings are reported again, not "once"
        es = encode_dataset(ds, plugin, cache=False, num_workers=4)
        assert len(es) == len(sources)  # a warning never drops the image
        warned = [p for p in es.problems if p.severity == "warning"]
        assert {p.path for p in warned} == broken  # each broken file named, no clean file blamed
        for p in warned:
            assert p.reason.startswith("warning while decoding: ")
            i = int(p.path[-6:-4])
            expected = "Corrupt EXIF data" if i % 2 == 0 else "Tag data larger than file"
            assert expected in p.reason, (p.path, p.reason)
        assert not [p for p in es.problems if p.severity != "warning"]
    err = capfd.readouterr().err
    assert "EXIF" not in err and "Tag data" not in err and "Warning" not in err


def test_decompression_bomb_warning_is_named(tmp_path, monkeypatch):
    """Pillow's DecompressionBombWarning (between its limit and twice it) on a real image: the
    limit is lowered so a small image crosses it, as a 100-megapixel photo crosses the default."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    big = tmp_path / "big.png"
    Image.new("RGB", (40, 40), "navy").save(big)  # 1600 pixels: above 1000, below 2000 (Pillow's error)
    small = tmp_path / "small.png"
    Image.new("RGB", (20, 20), "navy").save(small)
    es = encode_dataset(Dataset("image", ["b", "s"], [str(big), str(small)]), TinyPlugin(), cache=False,
                        num_workers=2)
    assert len(es) == 2
    (p,) = es.problems
    assert p.path == str(big) and p.severity == "warning"
    assert "DecompressionBombWarning: Image size (1600 pixels) exceeds limit of 1000 pixels" in p.reason


def test_capture_is_per_thread_and_nests(tmp_path):
    import threading

    path = write_corrupt_exif_jpeg(tmp_path / "x.jpg", "red", pointer_past_end=True)
    seen: dict[str, list[str]] = {}

    def worker(name: str, broken: bool) -> None:
        with capture_image_warnings() as found:
            for _ in range(20):
                if broken:
                    open_image(path)
                else:
                    Image.new("RGB", (4, 4)).save(io.BytesIO(), "PNG")
        seen[name] = found

    threads = [threading.Thread(target=worker, args=(f"t{i}", i % 2 == 0)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(6):
        assert bool(seen[f"t{i}"]) == (i % 2 == 0), seen
    with capture_image_warnings() as outer:
        with capture_image_warnings() as inner:
            open_image(path)
        assert inner and not outer
