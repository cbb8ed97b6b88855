"""Shared, generic test fixtures built from small real data (no downloads, no mocks).

* ``tmp_image_folder`` (session): a labelled image folder::

      root/digit_0/0_000.png .. 0_003.png     4 scikit-learn digits per class (64 x 64, grey)
      root/digit_1/...  root/digit_7/...
      root/photos/astronaut.jpg coffee.jpg cat.jpg rocket.jpg   scikit-image photos (RGB)
      root/camera.png                         directly in the root: unlabelled (grey)

  Treat it as read-only; copy it (``shutil.copytree``) to modify.
* ``bomb_png`` (session): path of a 57-byte PNG whose header claims 20000 x 20000 pixels
  (a decompression bomb to refuse before decoding).
* ``demo_data`` (session): ``build_demo`` output with 10 digits per class:
  ``{"images": Path, "texts": Path}`` (5 digit classes + photos with near-duplicates, and a
  90-row labelled text CSV).
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import pytest
from PIL import Image

from embedview.core.demo import build_demo, digit_images, photo_images

# The tests never reach a model hub: no network here, and none wanted in CI.  An encoder that
# would download says at once that it is not available offline (encoders/registry.hub_reachable).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TMP_FOLDER_DIGITS = (0, 1, 7)
TMP_FOLDER_PHOTOS = ("astronaut", "coffee", "cat", "rocket")


@pytest.fixture(scope="session")
def tmp_image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    for digit, k, im in digit_images(4, classes=TMP_FOLDER_DIGITS):
        folder = root / f"digit_{digit}"
        folder.mkdir(exist_ok=True)
        im.save(folder / f"{digit}_{k:03d}.png")
    (root / "photos").mkdir()
    photos = photo_images(TMP_FOLDER_PHOTOS + ("camera",), max_side=256)
    for name in TMP_FOLDER_PHOTOS:
        photos[name].save(root / "photos" / f"{name}.jpg", quality=90)
    photos["camera"].save(root / "camera.png")
    return root


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    return build_demo(tmp_path_factory.mktemp("demo"), n_per_class=10)


@pytest.fixture(scope="session")
def bomb_png(tmp_path_factory):
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data[12:29]  # chunk type + 13 data bytes: width, height, depth, ...
    ihdr[4:12] = struct.pack(">II", 20000, 20000)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))  # keep the CRC valid
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(bytes(data))
    return path
