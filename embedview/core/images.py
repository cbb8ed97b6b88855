"""Safe image opening: any common file -> an RGB ``PIL.Image``, or an :class:`ImageLoadError`.

One place decides how user images are read, so the loaders (header-only validation), the
encoding pipeline (full decode) and the GUI (thumbnails) agree:

* the size is checked from the header *before* decoding, against our own ``max_pixels``
  (so the limit holds even if some other library set Pillow's ``Image.MAX_IMAGE_PIXELS`` to
  ``None``); Pillow's global check still applies on top (it refuses above twice its value,
  ~179 MP by default) and is reported the same way, as a clear :class:`ImageLoadError`;
* EXIF orientation is applied;
* every mode becomes RGB: grey, palette, CMYK, 16-bit and float images are converted (16-bit
  scaled to 8 bit, not clipped), transparency is composited on white, GIF/TIFF give their
  first frame;
* zero-byte, truncated, corrupt and non-image files raise :class:`ImageLoadError` naming the
  file and the reason;
* an encoder that scales the *shorter* side of an image to its input size checks the size that
  resize would produce with :func:`check_resize` first: a 132-byte 16000 x 1 PNG would otherwise
  become a 4096000 x 256 image (3 GB) before the centre crop.  Above the budget
  (:data:`RESIZE_BUDGET_FACTOR` times the model's input area) the image is refused with an
  :class:`ImageShapeError`, reported like any unreadable image while the others encode.
  :func:`open_image` applies the same bound from the header, before decoding, when given
  ``resize_bound`` (the encoding pipeline always gives it, :data:`DEFAULT_RESIZE_BOUND` for an
  encoder that does not say its input size), so no encoder's own transform -- a plugin's
  included -- ever sees a 1,000,000 x 1 strip;
* Python warnings raised while an image is read (Pillow's "Corrupt EXIF data",
  ``DecompressionBombWarning``, "Palette images with Transparency ...") are collected per
  thread by :func:`capture_image_warnings`, so the caller reports them as warnings naming the
  file they are about -- never bare on stderr, never attributed to an image another thread
  was decoding at the same time (``warnings.catch_warnings`` is process-wide, not per thread).

Files are only ever opened for reading.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: File extensions treated as images (lower case, with the dot).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})

#: Default decompression-bomb limit: 100 megapixels (e.g. 10000 x 10000), i.e. ~300 MB as RGB.
DEFAULT_MAX_PIXELS = 100_000_000

PathLike = Union[str, "os.PathLike[str]"]


class ImageLoadError(Exception):
    """An image file that cannot be used.  ``str()`` names the file and the reason."""

    def __init__(self, path: PathLike, reason: str):
        super().__init__(str(path), reason)  # args kept so the error pickles across processes
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class ImageShapeError(ImageLoadError):
    """An image whose aspect ratio would make an encoder's resize allocate far more than its input."""


#: How many times a model's input area (e.g. 224 x 224) one image may have after the encoder's
#: shorter-side resize, before its centre crop.  64 allows panoramas up to about 49:1 for a
#: 224-pixel model (an intermediate of ~3.2 megapixels, ~10 MB as RGB) and refuses a 16000 x 1
#: strip, which would need ~1 gigapixel.
RESIZE_BUDGET_FACTOR = 64


def aspect_text(width: int, height: int) -> str:
    """``"16000:1"``, ``"1:3.5"``: the aspect ratio as people write it (longer side first as given)."""
    big, small = max(width, height), max(1, min(width, height))
    r = big / small
    ratio = f"{r:.0f}" if r >= 100 or r == int(r) else f"{r:.1f}"
    return f"{ratio}:1" if width >= height else f"1:{ratio}"


def resized_pixels(size: tuple[int, int], short_side: int) -> int:
    """Pixels of ``size`` after scaling its shorter side to ``short_side`` (aspect kept)."""
    w, h = (max(1, int(v)) for v in size)
    small, big = min(w, h), max(w, h)
    return int(short_side) * max(int(short_side), int(big * short_side / small))


#: ``(short side, input pixels)`` assumed for an encoder that does not declare its own
#: ``resize_bound``: a 224-pixel model that scales the shorter side to its input.  With
#: :data:`RESIZE_BUDGET_FACTOR` this refuses aspect ratios above 64:1 whatever the input size.
DEFAULT_RESIZE_BOUND = (224, 224 * 224)


def check_resize(image: Image.Image | tuple[int, int], short_side: int, input_pixels: int,
                 factor: int = RESIZE_BUDGET_FACTOR, path: PathLike | None = None) -> None:
    """Refuse ``image`` (a PIL image or its ``(width, height)``) before an encoder scales its
    shorter side to ``short_side``, when the result would have more than ``factor *
    input_pixels`` pixels.

    Costs nothing (the size only).  Raises :class:`ImageShapeError` naming the aspect ratio and
    the pixel count, e.g. "aspect ratio 16000:1: the resized image would have 1,048,576,000
    pixels, above the limit of 3,211,264 (64 x the model's 224 x 224 input)".
    """
    w, h = image if isinstance(image, tuple) else image.size
    n = resized_pixels((w, h), short_side)
    budget = int(factor) * int(input_pixels)
    if n > budget:
        side = int(round(input_pixels ** 0.5))
        model = f"{side} x {side}" if side * side == input_pixels else f"{input_pixels:,}-pixel"
        where = path if path is not None else (getattr(image, "filename", "") or "<image>")
        where = where or "<image>"
        raise ImageShapeError(
            where,
            f"aspect ratio {aspect_text(w, h)} ({w} x {h}): the resized image would have {n:,} pixels, "
            f"above the limit of {budget:,} ({factor} x the model's {model} input); refused so one image "
            "cannot exhaust memory",
        )


# -- warnings, per thread ---------------------------------------------------------------------------

_capture = threading.local()  # .sink: the list of the innermost capture on this thread, if any
_hook_lock = threading.Lock()
#: Pillow warns from its own modules (stacklevel 1): those warnings are shown every time, not once
#: per code location, so each file that raises one gets its own.
_ALWAYS_MODULES = r"PIL(\.|$)"


def _hook(previous):
    def showwarning(message, category, filename, lineno, file=None, line=None):
        sink = getattr(_capture, "sink", None)
        if sink is None:
            return previous(message, category, filename, lineno, file, line)
        text = str(message).strip()
        name = getattr(category, "__name__", "Warning")
        entry = text if name in ("UserWarning", "Warning") else f"{name}: {text}"
        if entry not in sink:
            sink.append(entry)
        return None

    showwarning._embedview_capture = True  # type: ignore[attr-defined]
    return showwarning


def _install_hook() -> None:
    """Route warnings to the capturing thread's list: ``warnings.showwarning`` wrapped (again, when
    something such as ``catch_warnings`` restored the original since) and Pillow's warnings made
    "always".  Idempotent; the lock only guards the install, not each warning."""
    with _hook_lock:
        if not getattr(warnings.showwarning, "_embedview_capture", False):
            warnings.showwarning = _hook(warnings.showwarning)
        if not any(f[0] == "always" and f[3] is not None and f[3].pattern == _ALWAYS_MODULES
                   for f in warnings.filters):
            warnings.filterwarnings("always", module=_ALWAYS_MODULES)


@contextlib.contextmanager
def capture_image_warnings() -> Iterator[list[str]]:
    """Collect the Python warnings raised on *this thread* inside the block (one text each,
    repeats once) instead of printing them; other threads' warnings are left alone.

    ``with capture_image_warnings() as found: im = open_image(path)`` -- then report ``found``
    as warnings about ``path``.  Nested captures each get their own list.
    """
    _install_hook()
    found: list[str] = []
    outer = getattr(_capture, "sink", None)
    _capture.sink = found
    try:
        yield found
    finally:
        _capture.sink = outer


# -- opening ------------------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageLoadError(path, "file not found") from None
    except OSError as exc:
        raise ImageLoadError(path, f"cannot read file ({exc.strerror or exc})") from None
    if not path.is_file():
        raise ImageLoadError(path, "not a regular file")
    if st.st_size == 0:
        raise ImageLoadError(path, "empty file (0 bytes)")


def _check_size(path: Path, size: tuple[int, int], max_pixels: int | None) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageLoadError(path, f"invalid image size {w} x {h} in the header")
    if max_pixels is not None and w * h > max_pixels:
        raise ImageLoadError(
            path,
            f"image is {w} x {h} = {w * h / 1e6:.0f} megapixels, above the limit of "
            f"{max_pixels / 1e6:.0f} megapixels (refused as a possible decompression bomb)",
        )


def _open_header(path: Path, fp, max_pixels: int | None) -> Image.Image:
    """``Image.open`` on an already-open binary file: reads the header only, checks the size."""
    try:
        im = Image.open(fp)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own global limit (Image.MAX_IMAGE_PIXELS) fired before ours could.
        found = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", str(exc))
        detail = (
            f"{int(found.group(1)) / 1e6:.0f} megapixels, above Pillow's limit of {int(found.group(2)) / 1e6:.0f}"
            if found
            else str(exc)
        )
        raise ImageLoadError(path, f"image too large ({detail}); refused as a possible decompression bomb") from None
    except UnidentifiedImageError:
        raise ImageLoadError(path, "not a recognised image (the contents are not an image format Pillow can read)") \
            from None
    except Exception as exc:  # corrupt headers raise assorted errors (OSError, SyntaxError, struct.error, ...)
        raise ImageLoadError(path, f"corrupt image header ({type(exc).__name__}: {exc})") from None
    _check_size(path, im.size, max_pixels)
    return im


def probe_image(path: PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """``(width, height)`` from the file's header, without decoding the pixels.

    Fast enough to validate every file of a folder at load time: refuses missing, empty and
    non-image files, unreadable headers and images above ``max_pixels`` (``None``: no limit of
    ours) with :class:`ImageLoadError`.  A file whose pixel data is truncated passes; that is
    found when :func:`open_image` decodes it.
    """
    path = Path(path)
    _check_file(path)
    with open(path, "rb") as fp:
        im = _open_header(path, fp, max_pixels)
        return im.size


def open_image(
    path: PathLike,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
    resize_bound: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode an image file into an RGB ``PIL.Image`` (EXIF orientation applied).

    Parameters
    ----------
    path : str or Path
        The image file; opened read-only.
    max_pixels : int or None
        Refuse images whose header claims more pixels than this (default 100 MP).
    draft_size : int, optional
        Speed-up for consumers that downscale anyway: JPEGs are decoded at the smallest
        DCT scale (1/2, 1/4, 1/8) whose sides are still at least ``draft_size`` pixels.
    resize_bound : (short side, input pixels), optional
        The image is for an encoder that scales its shorter side to ``short side``: refused
        from the header, before decoding, when :func:`check_resize` says that resize would be
        too large (:class:`ImageShapeError`).

    Raises
    ------
    ImageLoadError
        Missing, empty, non-image, too-large, truncated or corrupt files (and
        :class:`ImageShapeError` for an aspect ratio above ``resize_bound``).
    """
    path = Path(path)
    _check_file(path)
    with open(path, "rb") as fp:
        im = _open_header(path, fp, max_pixels)
        if resize_bound is not None:
            check_resize(im.size, int(resize_bound[0]), int(resize_bound[1]), path=path)
        if draft_size and im.format == "JPEG":
            w, h = im.size
            scale = max(1.0, min(w, h) / float(draft_size))
            im.draft("RGB", (int(w / scale), int(h / scale)))
        try:
            im.seek(0)  # first frame of GIF / TIFF / WebP animations
            im.load()
        except Exception as exc:  # truncated data: OSError; other corruption: anything
            raise ImageLoadError(path, f"truncated or corrupt image data ({type(exc).__name__}: {exc})") from None
        return to_rgb(_exif_transpose(im))


def _exif_transpose(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag (in place, no copy when there is nothing to do).

    A malformed EXIF block leaves the image as stored rather than failing the whole image.
    """
    try:
        ImageOps.exif_transpose(im, in_place=True)
    except Exception:
        pass
    return im


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB.

    Transparency (RGBA, LA, palette with a transparent colour) is composited on white;
    16-bit greys are scaled (``>> 8``), 32-bit integer / float images are rescaled to 0-255
    from their value range instead of being clipped.  Returns ``im`` itself when already RGB.
    """
    mode = im.mode
    if mode == "RGB":
        return im
    if mode == "P" and "transparency" in im.info:
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(im), mode)).convert("RGB")
    return im.convert("RGB")


def _to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """Map a single-channel high-bit-depth array onto uint8."""
    if mode.startswith("I;16") or a.dtype == np.uint16:
        return (a.astype(np.uint32) >> 8).astype(np.uint8)
    a = a.astype(np.float64)
    finite = np.isfinite(a)
    if not finite.any():
        return np.zeros(a.shape, dtype=np.uint8)
    lo, hi = float(a[finite].min()), float(a[finite].max())
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0  # float image in [0, 1]
    elif mode == "I" and lo >= 0 and hi <= 255:
        lo, hi = 0.0, 255.0  # already 8-bit values
    elif mode == "I" and lo >= 0 and hi <= 65535:
        lo, hi = 0.0, 65535.0  # 16-bit values stored as 32-bit (e.g. 16-bit PNG)
    scaled = (np.where(finite, a, lo) - lo) * (255.0 / max(hi - lo, 1e-12))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


# -- thumbnails ---------------------------------------------------------------------------------


def make_thumbnail(
    path_or_image: PathLike | Image.Image,
    size: int = 96,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """An RGB thumbnail whose longer side is at most ``size`` pixels (aspect ratio kept).

    Takes a file path (decoded with :func:`open_image`, JPEGs at a reduced DCT scale for
    speed; raises :class:`ImageLoadError`) or a ``PIL.Image`` (never modified).
    """
    if isinstance(path_or_image, Image.Image):
        im = to_rgb(path_or_image)
        im = im.copy() if im is path_or_image else im
    else:
        with capture_image_warnings():  # a picture to look at: its warnings are the encode's to report
            im = open_image(path_or_image, max_pixels=max_pixels, draft_size=size)
    im.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return im


class LazyImages(Sequence):
    """A sequence of image files, each opened (with :func:`open_image`) only when indexed: for
    jobs that sample a few items of a large folder (the invariance probe).  The images go to an
    encoder, so each is held to ``resize_bound`` (:data:`DEFAULT_RESIZE_BOUND`) before decoding."""

    def __init__(self, paths: Sequence[str], resize_bound: tuple[int, int] | None = DEFAULT_RESIZE_BOUND) -> None:
        self.paths = list(paths)
        self.resize_bound = resize_bound

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        return open_image(self.paths[i], resize_bound=self.resize_bound)
