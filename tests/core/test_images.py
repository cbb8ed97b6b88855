"""core/images: every mode to RGB, EXIF, first frames, and every kind of bad file."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import skimage.data
from PIL import Image

from embedview.core.images import ImageLoadError, make_thumbnail, open_image, probe_image


@pytest.fixture(scope="module")
def photo():
    """A real non-square RGB photo (coffee, 400 x 600)."""
    return skimage.data.coffee()


def rgb(path):
    im = open_image(path)
    assert im.mode == "RGB"
    return np.asarray(im).astype(int)


# -- conversions --------------------------------------------------------------------------------


def test_jpeg_png_webp_bmp_tiff_open_as_rgb(tmp_path, photo):
    for ext in ("jpg", "png", "webp", "bmp", "tiff"):
        path = tmp_path / f"coffee.{ext}"
        Image.fromarray(photo).save(path)
        out = rgb(path)
        assert out.shape == photo.shape
        assert np.abs(out - photo).mean() < 6, ext  # lossless or near (jpeg / webp)


def test_exif_orientation_is_applied(tmp_path, photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(photo).save(path, quality=95, exif=exif)
    out = rgb(path)
    assert out.shape == (photo.shape[1], photo.shape[0], 3)
    assert np.abs(out - np.rot90(photo, k=-1)).mean() < 5
    assert np.abs(out - np.rot90(photo, k=1)).mean() > 20  # the other direction is clearly wrong


def test_grey_palette_cmyk_and_1bit_become_rgb(tmp_path, photo):
    grey = np.asarray(Image.fromarray(photo).convert("L")).astype(int)
    Image.fromarray(photo).convert("L").save(tmp_path / "grey.png")
    assert np.array_equal(rgb(tmp_path / "grey.png")[..., 1], grey)
    pal = Image.fromarray(photo).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    pal.save(tmp_path / "pal.png")
    assert np.array_equal(rgb(tmp_path / "pal.png"), np.asarray(pal.convert("RGB")))  # palette colours looked up
    Image.fromarray(photo).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert np.abs(rgb(tmp_path / "cmyk.jpg") - photo).mean() < 8
    Image.fromarray(photo).convert("1").save(tmp_path / "bw.png")
    assert set(np.unique(rgb(tmp_path / "bw.png"))) <= {0, 255}


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 0)  # fully transparent red -> white
    rgba[0, 1] = (255, 0, 0, 255)  # opaque red stays red
    rgba[0, 2] = (0, 0, 0, 128)  # half-transparent black -> mid grey
    Image.fromarray(rgba).save(tmp_path / "a.png")
    out = rgb(tmp_path / "a.png")
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[0, 1]) == (255, 0, 0)
    assert all(abs(v - 127) <= 2 for v in out[0, 2])
    # palette image with a transparent index
    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putpixel((0, 0), 0)
    pal.putpixel((1, 0), 1)
    pal.save(tmp_path / "t.gif", transparency=0)
    out = rgb(tmp_path / "t.gif")
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[0, 1]) == (0, 255, 0)


def test_16bit_and_float_images_are_scaled_not_clipped(tmp_path, photo):
    grey8 = np.asarray(Image.fromarray(photo).convert("L")).astype(np.uint16)
    Image.fromarray(grey8 * 257).save(tmp_path / "g16.png")  # full 16-bit range
    assert np.abs(rgb(tmp_path / "g16.png")[..., 0] - grey8).max() <= 1
    Image.fromarray(grey8.astype(np.float32) / 255.0).save(tmp_path / "f.tiff")  # float in [0, 1]
    assert np.abs(rgb(tmp_path / "f.tiff")[..., 0] - grey8).max() <= 1


def test_gif_and_tiff_give_the_first_frame(tmp_path):
    red, blue = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue], duration=100, loop=0)
    red.save(tmp_path / "pages.tiff", save_all=True, append_images=[blue])
    for name in ("anim.gif", "pages.tiff"):
        assert Image.open(tmp_path / name).n_frames == 2
        out = rgb(tmp_path / name)
        assert out[..., 0].min() > 200 and out[..., 2].max() < 50, name


def test_draft_decodes_large_jpeg_at_reduced_scale(tmp_path):
    big = Image.fromarray(skimage.data.astronaut()).resize((1024, 1024))
    big.save(tmp_path / "big.jpg", quality=90)
    small = open_image(tmp_path / "big.jpg", draft_size=200)
    assert small.mode == "RGB" and small.size == (256, 256)  # 1/4 scale, still >= 200
    assert open_image(tmp_path / "big.jpg").size == (1024, 1024)


# -- bad files ----------------------------------------------------------------------------------


def assert_refused(path, *words, fn=open_image, **kwargs):
    with pytest.raises(ImageLoadError) as info:
        fn(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and info.value.path == str(path)
    for word in words:
        assert word in message, message
    return message


def test_decompression_bomb_20000_squared_is_refused_from_the_header(bomb_png, monkeypatch):
    path = bomb_png
    assert path.stat().st_size < 100  # nothing was ever decoded to get here
    for fn in (probe_image, open_image):
        assert_refused(path, "decompression bomb", "megapixels", fn=fn)
    # our own check holds even when another library switched Pillow's global check off
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert_refused(path, "20000 x 20000", "decompression bomb", fn=probe_image)
    assert_refused(path, "20000 x 20000", fn=open_image)


def test_pixel_limit_is_a_parameter(tmp_path, photo):
    path = tmp_path / "coffee.png"
    Image.fromarray(photo).save(path)
    assert_refused(path, "600 x 400", max_pixels=100_000)
    assert probe_image(path, max_pixels=None) == (600, 400)
    assert open_image(path, max_pixels=240_000).size == (600, 400)


def test_truncated_image_passes_the_header_check_but_not_the_decode(tmp_path, photo):
    for ext in ("png", "jpg"):
        whole = tmp_path / f"whole.{ext}"
        Image.fromarray(photo).save(whole)
        cut = tmp_path / f"cut.{ext}"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        assert probe_image(cut) == (600, 400)
        assert_refused(cut, "truncated or corrupt")


def test_zero_byte_non_image_and_missing_files(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("this is a text file with an image extension\n")
    for fn in (probe_image, open_image, make_thumbnail):
        assert_refused(tmp_path / "empty.jpg", "empty file", fn=fn)
        assert_refused(tmp_path / "notes.jpg", "not a recognised image", fn=fn)
        assert_refused(tmp_path / "missing.png", "not found", fn=fn)
    assert_refused(tmp_path, "not a regular file")


def test_error_pickles_with_its_message(tmp_path):
    err = ImageLoadError(tmp_path / "x.jpg", "empty file (0 bytes)")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) == f"{tmp_path / 'x.jpg'}: empty file (0 bytes)"
    assert again.reason == "empty file (0 bytes)"


# -- thumbnails ---------------------------------------------------------------------------------


def test_thumbnail_from_path_and_from_image(tmp_path, photo):
    path = tmp_path / "coffee.jpg"
    Image.fromarray(photo).save(path)
    thumb = make_thumbnail(path, size=96)
    assert thumb.mode == "RGB" and thumb.size == (96, 64)
    src = Image.fromarray(np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]))  # RGBA
    thumb2 = make_thumbnail(src, size=50)
    assert thumb2.mode == "RGB" and thumb2.size == (50, 33)
    assert src.size == (600, 400) and src.mode == "RGBA"  # input untouched
    # the thumbnail is the picture, not noise: close to a plain downscale
    ref = np.asarray(Image.fromarray(photo).resize((96, 64), Image.Resampling.BOX)).astype(int)
    assert np.abs(np.asarray(thumb).astype(int) - ref).mean() < 10


# -- the encoders' resize budget (issue 11: a 132-byte 16000 x 1 PNG peaked an encode at 4.3 GB) ---


def test_aspect_text_and_resized_pixels():
    from embedview.core.images import aspect_text, resized_pixels

    assert aspect_text(16000, 1) == "16000:1" and aspect_text(1, 1_000_000) == "1:1000000"
    assert aspect_text(640, 480) == "1.3:1" and aspect_text(300, 300) == "1:1"
    assert resized_pixels((16000, 1), 256) == 256 * 256 * 16000
    assert resized_pixels((480, 640), 256) == 256 * 341  # shorter side to 256, the other scaled
    assert resized_pixels((100, 100), 256) == 256 * 256


def test_check_resize_refuses_only_images_above_the_budget(tmp_path):
    from embedview.core.images import RESIZE_BUDGET_FACTOR, ImageShapeError, check_resize

    budget = RESIZE_BUDGET_FACTOR * 224 * 224
    check_resize(Image.new("L", (4000, 3000)), 256, 224 * 224)  # an ordinary photo
    check_resize(Image.new("L", (49 * 100, 100)), 256, 224 * 224)  # a 49:1 panorama: 256 x 12544 fits
    assert 256 * 12544 <= budget
    path = tmp_path / "strip.png"
    Image.new("L", (16000, 1)).save(path)
    with Image.open(path) as strip:
        with pytest.raises(ImageShapeError) as info:
            check_resize(strip, 256, 224 * 224)
    err = info.value
    assert isinstance(err, ImageLoadError) and err.path == str(path)  # the pipeline reports it like any bad image
    assert err.reason.startswith("aspect ratio 16000:1 (16000 x 1): the resized image would have 1,048,576,000 pixels")
    assert f"above the limit of {budget:,} (64 x the model's 224 x 224 input)" in err.reason
    assert str(pickle.loads(pickle.dumps(err))) == str(err)  # crosses the encoder process intact
    with pytest.raises(ImageShapeError, match=r"aspect ratio 1:60 "):
        check_resize(Image.new("L", (10, 600)), 256, 224 * 224)
