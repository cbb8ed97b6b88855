"""The offline default encoders with their real weights, on real data (acceptance tests)."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from embedview.encoders.base import EncoderLoadError
from embedview.encoders.registry import load_encoder

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")
skdata = pytest.importorskip("skimage.data")

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "colorwheel"]


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    """A fresh embedview cache dir for this module, so the ONNX export path really runs."""
    folder = tmp_path_factory.mktemp("evcache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDVIEW_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def image_onnx(onnx_cache):
    pytest.importorskip("onnxruntime")
    return load_encoder("default-image", device="cpu", backend="onnx")


@pytest.fixture(scope="module")
def image_torch():
    return load_encoder("default-image", device="cpu", backend="torch")


@pytest.fixture(scope="module")
def text_encoder():
    return load_encoder("default-text", device="cpu")


@pytest.fixture(scope="module")
def photos():
    return [Image.fromarray(getattr(skdata, name)()) for name in PHOTOS]


# --------------------------------------------------------------------------------- image


def test_image_encoder_basics(image_onnx, photos):
    assert image_onnx.name == "default-image" and image_onnx.modality == "image" and image_onnx.dim == 1280
    vectors = image_onnx.encode(photos)
    assert vectors.shape == (len(photos), 1280) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    assert image_onnx.encode_preprocessed([]).shape == (0, 1280)
    # a batch gives the same vectors as one image at a time
    single = np.concatenate([image_onnx.encode([p]) for p in photos[:2]])
    np.testing.assert_allclose(single, vectors[:2], atol=1e-4)


def test_features_carry_the_imagenet_weights(image_onnx, photos):
    """The checkpoint's own ImageNet classifier on our features names the photos' classes."""
    from embedview.encoders.default_image import weights_file

    state = torch.load(weights_file(), map_location="cpu", weights_only=True)
    logits = image_onnx.encode(photos) @ state["_fc.weight"].numpy().T + state["_fc.bias"].numpy()
    top = logits.argmax(axis=1)
    assert top[PHOTOS.index("coffee")] == 967  # espresso
    assert 281 <= top[PHOTOS.index("chelsea")] <= 285  # tabby / tiger / Persian / Siamese / Egyptian cat


def test_backends_agree_and_share_cache_id(image_onnx, image_torch, photos):
    assert image_onnx.backend == "onnx" and image_torch.backend == "torch"
    assert image_onnx.cache_id == image_torch.cache_id
    np.testing.assert_allclose(image_onnx.encode(photos), image_torch.encode(photos), atol=1e-4)


def test_onnx_export_is_cached_and_reused(image_onnx, onnx_cache, photos):
    files = sorted(p.name for p in (onnx_cache / "onnx").iterdir())
    assert len(files) == 1 and files[0].endswith(".onnx") and image_onnx.fingerprint in files[0]  # no temp leftovers
    again = load_encoder("default-image", device="cpu", backend="onnx")
    np.testing.assert_allclose(again.encode(photos[:2]), image_onnx.encode(photos[:2]), atol=1e-6)


def test_preprocess_is_timms_eval_transform(image_onnx, photos):
    timm = pytest.importorskip("timm")
    from timm.data import create_transform, resolve_data_config

    config = resolve_data_config({}, model=timm.create_model("tf_efficientnet_lite0", pretrained=False))
    reference = create_transform(**config)
    for photo in photos[:3]:
        np.testing.assert_allclose(image_onnx.preprocess(photo), reference(photo.convert("RGB")).numpy(), atol=1e-4)
    # a big photo is shrunk in steps (fast); the features stay the same
    big = photos[0].resize((2048, 2048), Image.Resampling.BICUBIC)
    ours = image_onnx.encode_preprocessed([image_onnx.preprocess(big)])
    theirs = image_onnx.encode_preprocessed([reference(big).numpy()])
    assert float((unit(ours) @ unit(theirs).T)[0, 0]) > 0.995


def test_jpeg_draft_decoding_keeps_features(image_onnx, photos, tmp_path):
    from embedview.core.images import open_image

    path = tmp_path / "big.jpg"
    photos[2].resize((2400, 1600), Image.Resampling.BICUBIC).save(path, quality=92)
    full = image_onnx.encode([open_image(path)])
    draft_image = open_image(path, draft_size=image_onnx.draft_size)
    assert min(draft_image.size) < 1600  # the draft really decoded fewer pixels
    drafted = image_onnx.encode([draft_image])
    assert float((unit(full) @ unit(drafted).T)[0, 0]) > 0.995


def test_photo_is_nearest_to_its_resized_jpeg_copy(image_onnx, photos):
    originals = unit(image_onnx.encode(photos))
    copies = []
    for photo in photos:
        small = photo.convert("RGB").resize((photo.width * 2 // 3, photo.height * 2 // 3), Image.Resampling.BILINEAR)
        buf = io.BytesIO()
        small.save(buf, format="JPEG", quality=60)
        copies.append(Image.open(io.BytesIO(buf.getvalue())))
    sims = unit(image_onnx.encode(copies)) @ originals.T
    coffee = PHOTOS.index("coffee")
    others = np.delete(sims[coffee], coffee)
    assert sims[coffee, coffee] > others.max(), (sims[coffee, coffee], others)
    assert (sims.argmax(axis=1) == np.arange(len(photos))).all()  # every copy finds its original


def test_digits_one_nn_accuracy_far_above_chance(image_onnx):
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.choice(np.flatnonzero(digits.target == c), 30, replace=False) for c in range(10)])
    images = [
        Image.fromarray((255 - digits.images[i] * (255 / 16)).astype(np.uint8))
        .resize((64, 64), Image.Resampling.BILINEAR)
        .convert("RGB")
        for i in idx
    ]
    labels = digits.target[idx]
    vectors = unit(image_onnx.encode(images))
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    accuracy = float((labels[sims.argmax(axis=1)] == labels).mean())
    print(f"default-image leave-one-out 1-NN accuracy on 300 digits: {accuracy:.3f} (chance 0.1)")
    assert accuracy > 0.5


def test_bad_weights_give_clear_errors(tmp_path):
    from embedview.encoders import default_image

    missing = tmp_path / "missing.pth"
    with pytest.raises(EncoderLoadError, match="missing.pth.*not found"):
        default_image.load(device="cpu", backend="torch", weights=str(missing))

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(EncoderLoadError, match="garbage.pth.*not a readable"):
        default_image.load(device="cpu", backend="torch", weights=str(garbage))

    state = torch.load(default_image.weights_file(), map_location="cpu", weights_only=True)
    key = "_blocks.3._project_conv.weight"
    state[key] = torch.zeros(state[key].shape[0] + 1, *state[key].shape[1:])
    wrong = tmp_path / "wrong.pth"
    torch.save(state, wrong)
    expected = r"wrong.pth: incompatible checkpoint.*_blocks\.3\._project_conv\.weight"
    with pytest.raises(EncoderLoadError, match=expected):
        default_image.load(device="cpu", backend="torch", weights=str(wrong))

    del state[key]
    torch.save(state, wrong)
    expected = r"wrong.pth: incompatible checkpoint, \d+ weight tensors where tf_efficientnet_lite0 has \d+"
    with pytest.raises(EncoderLoadError, match=expected):
        default_image.load(device="cpu", backend="torch", weights=str(wrong))


def test_availability_checks():
    from embedview.encoders import default_image, default_text

    assert default_image.available()[0]
    ok, detail = default_text.available()
    assert ok and "MiniLM" in detail


# ---------------------------------------------------------------------------------- text


def test_minilm_ranks_related_products_closer(text_encoder):
    assert text_encoder.name == "default-text" and text_encoder.modality == "text" and text_encoder.dim == 384
    v = text_encoder.encode(["bluetooth headphones", "wireless earbuds", "banana bread recipe"])
    assert v.shape == (3, 384) and v.dtype == np.float32 and np.isfinite(v).all()
    sims = unit(v) @ unit(v).T
    assert sims[0, 1] > sims[0, 2] + 0.2, sims


def test_text_batches_and_offline_env(text_encoder):
    texts = [f"a short product title number {i}" for i in range(5)] + ["a much longer description " * 8]
    together = text_encoder.encode_text(texts)
    apart = np.concatenate([text_encoder.encode_text([t]) for t in texts])
    np.testing.assert_allclose(together, apart, atol=1e-4)
    np.testing.assert_allclose(text_encoder.encode(texts[:2]), together[:2], atol=1e-5)
    assert text_encoder.encode_text([]).shape == (0, 384)


def test_hub_offline_is_scoped(text_encoder, monkeypatch):
    import huggingface_hub.constants as constants

    from embedview.encoders._torchutil import hub_offline

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with hub_offline():
        assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE is True
    assert "HF_HUB_OFFLINE" not in os.environ and constants.HF_HUB_OFFLINE is False


def test_sbert_local_folder_matches_default_text(text_encoder):
    from embedview.encoders.default_text import model_folder

    enc = load_encoder(f"sbert:{model_folder()}", device="cpu")
    assert enc.name == f"sbert:{model_folder()}" and enc.dim == 384
    texts = ["bluetooth headphones", "banana bread recipe"]
    np.testing.assert_allclose(enc.encode(texts), text_encoder.encode(texts), atol=1e-5)
    assert enc.cache_id != text_encoder.cache_id
    assert enc.cache_id.split(":")[-3] == text_encoder.cache_id.split(":")[-3]  # same weights fingerprint


def test_sbert_availability_and_missing_folder(tmp_path, monkeypatch):
    from embedview.encoders import sbert

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert not sbert.available("all-mpnet-base-v2")[0]
    snapshot = tmp_path / "hub" / "models--sentence-transformers--all-mpnet-base-v2" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert sbert.available("all-mpnet-base-v2")[0]
    ok, detail = sbert.available(str(tmp_path / "no-such-model"))
    assert not ok and "no-such-model" in detail
    with pytest.raises(EncoderLoadError, match="no-such-model"):
        load_encoder(f"sbert:{tmp_path / 'no-such-model'}", device="cpu")
