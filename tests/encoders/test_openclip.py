"""open_clip encoders through the registry, with a small custom architecture and local checkpoints."""

import json

import numpy as np
import pytest
from PIL import Image

from embedview.encoders.base import EncoderLoadError
from embedview.encoders.registry import UnknownEncoderError, load_encoder

pytestmark = pytest.mark.slow

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")
skdata = pytest.importorskip("skimage.data")


def tiny_config(width=64):
    return {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": width, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": width, "heads": 2, "layers": 2},
    }


def write_arch(folder, name, cfg, seed):
    """A JSON architecture and a randomly initialised checkpoint of it (built without registering)."""
    torch.manual_seed(seed)
    config_path = folder / f"{name}.json"
    config_path.write_text(json.dumps(cfg))
    model = open_clip.CLIP(embed_dim=cfg["embed_dim"], vision_cfg=cfg["vision_cfg"], text_cfg=cfg["text_cfg"])
    checkpoint = folder / f"{name}.pt"
    torch.save(model.state_dict(), checkpoint)
    return config_path, checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    config, checkpoint = write_arch(folder, "ev-tiny-clip", tiny_config(), seed=0)
    _, wrong = write_arch(folder, "ev-tiny-clip-narrow", tiny_config(width=32), seed=1)
    return config, checkpoint, wrong


@pytest.fixture(scope="module")
def photos():
    return [Image.fromarray(f()) for f in (skdata.astronaut, skdata.coffee, skdata.chelsea)]


def test_custom_architecture_from_env_config_encodes_images_and_text(tiny, photos, monkeypatch):
    config, checkpoint, _ = tiny
    monkeypatch.setenv("EMBEDVIEW_CLIP_CONFIG", str(config))
    enc = load_encoder(f"clip:ev-tiny-clip@{checkpoint}", device="cpu")
    assert enc.name == f"clip:ev-tiny-clip@{checkpoint}"
    assert enc.modality == "image" and enc.supports_text_query and enc.dim == 64

    images = enc.encode(photos)
    texts = enc.encode_text(["a person in a space suit", "a cup of coffee", "a cat"])
    assert images.shape == (3, 64) and texts.shape == (3, 64)
    assert images.dtype == np.float32 and texts.dtype == np.float32
    assert np.isfinite(images).all() and np.isfinite(texts).all()
    assert np.linalg.norm(images - images[0], axis=1)[1:].min() > 0  # different photos, different vectors

    # the weights really came from the checkpoint: same vectors as the model it was saved from
    arch = json.loads(config.read_text())
    reference = open_clip.CLIP(**{k: arch[k] for k in ("embed_dim", "vision_cfg", "text_cfg")})
    reference.load_state_dict(torch.load(checkpoint, weights_only=True))
    reference.eval()
    with torch.inference_mode():
        expected = reference.encode_image(torch.stack([enc.preprocess(p) for p in photos])).numpy()
    np.testing.assert_allclose(images, expected, rtol=1e-4, atol=1e-5)

    # the checkpoint's fingerprint is part of the cache id; the transform too
    assert enc.cache_id.startswith(f"clip:ev-tiny-clip@{checkpoint}:")
    assert enc.encode_text([]).shape == (0, 64)


def test_arch_given_as_json_path(tiny, photos):
    config, checkpoint, _ = tiny
    enc = load_encoder(f"clip:{config}@{checkpoint}", device="cpu")
    assert enc.encode(photos[:1]).shape == (1, 64)


def test_missing_checkpoint_names_the_file(tiny, tmp_path):
    config, _, _ = tiny
    missing = tmp_path / "nothing-here.pt"
    with pytest.raises(EncoderLoadError, match="nothing-here.pt.*not found"):
        load_encoder(f"clip:{config}@{missing}", device="cpu")


def test_incompatible_checkpoint_names_file_and_reason(tiny):
    config, _, wrong = tiny
    with pytest.raises(EncoderLoadError) as info:
        load_encoder(f"clip:{config}@{wrong}", device="cpu")
    message = str(info.value)
    assert str(wrong) in message and "does not fit" in message and "another shape" in message


def test_corrupt_checkpoint_names_the_file(tiny, tmp_path):
    config, _, _ = tiny
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(EncoderLoadError, match="garbage.pt"):
        load_encoder(f"clip:{config}@{bad}", device="cpu")


def test_unknown_architecture_lists_close_names(tmp_path):
    ckpt = tmp_path / "x.pt"
    ckpt.write_bytes(b"")
    with pytest.raises(UnknownEncoderError, match="ViT-B-32"):
        load_encoder(f"clip:ViT-B-3@{ckpt}", device="cpu")


def test_availability_without_loading(tiny, tmp_path, monkeypatch):
    from embedview.encoders.openclip import available

    config, checkpoint, _ = tiny
    assert available(str(config), str(checkpoint))[0]
    ok, detail = available("ev-tiny-clip", str(tmp_path / "gone.pt"))
    assert not ok and "gone.pt" in detail

    snapshot = tmp_path / "hub" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_model.safetensors").write_bytes(b"1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert available("ViT-B-32", "laion2b_s34b_b79k")[0]
    ok, detail = available("ViT-B-16", "laion2b_s34b_b88k")
    assert not ok and "first use" in detail


def test_checkpoints_are_loaded_as_weights_only():
    """open_clip is asked explicitly never to unpickle code from a checkpoint."""
    import open_clip

    from embedview.encoders.openclip import _weights_only

    asked = _weights_only(open_clip)
    assert asked and all(asked.values())
