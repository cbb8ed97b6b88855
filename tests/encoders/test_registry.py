"""Registry: names, errors, plugins from the entry-point group (no torch needed here)."""

import zlib

import numpy as np
import pytest

from embedview.encoders.base import Encoder, pick_device
from embedview.encoders.registry import (
    ENTRY_POINT_GROUP,
    EncoderSpec,
    EncoderUnavailableError,
    UnknownEncoderError,
    default_encoder_for,
    display_name,
    display_names,
    ensure_available,
    get_spec,
    hub_reachable,
    list_encoders,
    load_encoder,
    unavailable_reason,
)


class TrigramEncoder(Encoder):
    """A real (if simple) text encoder: hashed character-trigram counts, 256-d."""

    name = "toy-trigrams"
    modality = "text"
    dim = 256
    supports_text_query = True

    def __init__(self, device="cpu"):
        self.device = device

    @property
    def cache_id(self):
        return "toy-trigrams:v1"

    def encode_text(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()} "
            for i in range(len(padded) - 2):
                out[row, zlib.crc32(padded[i:i + 3].encode()) % self.dim] += 1
        return out


def toy_factory(device=None, **options):
    return TrigramEncoder(device or "cpu")


TOY_SPEC = EncoderSpec(
    name="toy-trigrams",
    modality="text",
    dim=256,
    description="character trigrams (test plugin)",
    factory=toy_factory,
    offline_check=lambda **_: (True, "no weights"),
    text_query=True,
)


class FakeEntryPoint:
    """Stands in for importlib.metadata.EntryPoint: a name and a load()."""

    def __init__(self, name, target=None, error=None):
        self.name, self.group, self._target, self._error = name, ENTRY_POINT_GROUP, target, error

    def load(self):
        if self._error is not None:
            raise self._error
        return self._target


@pytest.fixture
def plugins(monkeypatch):
    import importlib.metadata

    installed = [
        FakeEntryPoint("toy", [TOY_SPEC]),
        FakeEntryPoint("broken", error=ImportError("No module named 'missing_dependency'")),
    ]
    seen_groups = []

    def entry_points(**kwargs):
        seen_groups.append(kwargs.get("group"))
        return installed if kwargs.get("group") == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return seen_groups


def test_builtins_are_listed_with_availability():
    specs = {s.name: s for s in list_encoders(include_plugins=False)}
    assert {"default-image", "default-text"} <= set(specs)
    assert specs["default-image"].modality == "image" and specs["default-image"].dim == 1280
    assert specs["default-text"].modality == "text" and specs["default-text"].dim == 384
    assert any(n.startswith("clip:") for n in specs) and any(n.startswith("sbert:") for n in specs)
    for spec in specs.values():
        ok, detail = spec.availability()
        assert isinstance(ok, bool) and detail
    assert specs["default-image"].availability()[0] and specs["default-text"].availability()[0]
    assert default_encoder_for("image") == "default-image" and default_encoder_for("text") == "default-text"


def test_unknown_names_raise_clear_errors():
    with pytest.raises(UnknownEncoderError) as info:
        get_spec("no-such-encoder")
    message = str(info.value)
    assert message.startswith("unknown encoder 'no-such-encoder'") and "default-image" in message
    with pytest.raises(UnknownEncoderError, match="clip:ARCH/PRETRAINED_TAG"):
        load_encoder("clip:ViT-B-32")
    with pytest.raises(KeyError):  # still a KeyError for callers that catch that
        get_spec("default-imag")


def test_prefixed_names_resolve_to_specs(tmp_path):
    ckpt = tmp_path / "weights.pt"
    spec = get_spec(f"clip:ViT-B-32@{ckpt}")
    assert spec.options == {"arch": "ViT-B-32", "pretrained": str(ckpt)} and spec.text_query
    assert spec.availability() == (False, f"checkpoint file not found: {ckpt}")
    hub = get_spec("clip:ViT-B-32/laion2b_s34b_b79k")
    assert hub.dim == 512 and hub.options["pretrained"] == "laion2b_s34b_b79k"
    assert get_spec("sbert:my-org/my-model").options == {"model": "my-org/my-model"}
    # a checkpoint named as the user typed it comes back under the same name (the app matches
    # encoders by name), for relative and home paths too
    for typed in ("clip:ViT-B-32@~/ckpt/open_clip.pt", "clip:ViT-B-32@./models/ckpt", f"clip:ViT-B-32@{ckpt}"):
        assert get_spec(typed).name == typed


def test_plugin_is_listed_and_loads(plugins):
    names = [s.name for s in list_encoders()]
    assert "toy-trigrams" in names and "broken" in names and "default-image" in names
    assert ENTRY_POINT_GROUP in plugins

    spec = get_spec("toy-trigrams")
    assert spec.availability() == (True, "no weights")
    enc = load_encoder("toy-trigrams", device="cpu")
    assert isinstance(enc, TrigramEncoder) and enc.device == "cpu"
    v = enc.encode(["bluetooth headphones", "bluetooth headphone", "banana bread recipe"])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert v.shape == (3, 256) and v[0] @ v[1] > v[0] @ v[2]


def test_broken_plugin_is_reported_not_fatal(plugins):
    broken = get_spec("broken")
    assert "plugin failed to load" in broken.description and "missing_dependency" in broken.description
    with pytest.raises(RuntimeError, match="'broken' could not be imported"):
        broken.load()
    assert get_spec("default-text").name == "default-text"


def test_failing_availability_check_does_not_break_listing():
    def boom(**_):
        raise OSError("disk on fire")

    spec = EncoderSpec("x", "image", None, "x", factory=toy_factory, offline_check=boom)
    assert spec.availability() == (False, "availability check failed: disk on fire")


def test_pick_device_override_and_default():
    assert pick_device("cpu") == "cpu" and pick_device("cuda:1") == "cuda:1"
    pytest.importorskip("torch")
    assert pick_device(None) in {"cpu", "cuda", "mps"}
    assert pick_device("auto") == pick_device(None)



def test_hub_cache_lookup_finds_downloaded_snapshots_only(tmp_path, monkeypatch):
    from embedview.encoders._torchutil import hf_cached_models, hf_cached_repo

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    done = tmp_path / "models--my-org--my-model" / "snapshots" / "abc123"
    done.mkdir(parents=True)
    (done / "config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "models--my-org--half-done" / "snapshots" / "def456").mkdir(parents=True)  # nothing in it yet
    assert hf_cached_repo("my-org/my-model") == tmp_path / "models--my-org--my-model"
    assert hf_cached_repo("my-org/half-done") is None and hf_cached_repo("my-org/absent") is None
    assert hf_cached_models() == [tmp_path / "models--my-org--my-model"]


def test_local_model_folders_get_names_that_tell_them_apart(tmp_path):
    a, b = tmp_path / "a" / "model", tmp_path / "b" / "model"
    names = [f"sbert:{a}", f"sbert:{b}", "default-text", "sbert:all-mpnet-base-v2"]
    shown = display_names(names)
    assert shown == {f"sbert:{a}": "sbert:a/model", f"sbert:{b}": "sbert:b/model",
                     "default-text": "default-text", "sbert:all-mpnet-base-v2": "sbert:all-mpnet-base-v2"}
    # deeper when the parents are alike too; a telling folder name alone; a checkpoint file; a hub snapshot
    deep = display_names(["sbert:/m/run/model", "sbert:/n/run/model"])
    assert sorted(deep.values()) == ["sbert:m/run/model", "sbert:n/run/model"]
    assert display_name("sbert:/home/me/models/minilm-finetuned") == "sbert:minilm-finetuned"
    assert display_names(["clip:ViT-B-32@/x/a/model.pt", "clip:ViT-B-32@/x/b/model.pt"]) == {
        "clip:ViT-B-32@/x/a/model.pt": "clip:ViT-B-32@a/model.pt",
        "clip:ViT-B-32@/x/b/model.pt": "clip:ViT-B-32@b/model.pt"}
    snap = "sbert:/c/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/8b3219a92973c328a8e2"
    assert display_name(snap) == "sbert:sentence-transformers/all-MiniLM-L6-v2"
    # the registry name (the cache key) is unchanged
    assert get_spec(f"sbert:{a}").name == f"sbert:{a}"


def test_availability_now_offline_and_online(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    hub = "sbert:embedview-tests/not-cached"
    # offline: the reason names the model, why, and what works instead
    reason = unavailable_reason(hub, online=False)
    assert reason.startswith(f"{hub} is not available offline") and "default-text" in reason
    # online: it may download, so it is let through (the load says what happens)
    assert unavailable_reason(hub, online=True) is None
    # a missing local folder is final, whatever the network
    gone = f"sbert:{tmp_path / 'gone' / 'model'}"
    assert "cannot be loaded: folder not found" in unavailable_reason(gone, online=True)
    # weights shipped with pip need nothing
    assert unavailable_reason("default-text", online=False) is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() == (False, "HF_HUB_OFFLINE is set")
    with pytest.raises(EncoderUnavailableError, match="HF_HUB_OFFLINE is set"):
        ensure_available(hub)
    # a cached snapshot is available offline
    done = tmp_path / "hub" / "models--embedview-tests--not-cached" / "snapshots" / "abc123"
    done.mkdir(parents=True)
    (done / "config.json").write_text("{}", encoding="utf-8")
    ensure_available(hub)


# -- sbert: nothing of a model folder's own code runs ---------------------------------------------------------
def _fake_sentence_transformers(monkeypatch, version="6.2.0"):
    """A stand-in ``sentence_transformers`` module (no torch) that records how it was called."""
    import sys
    import types

    calls = []

    class FakeST:
        def __init__(self, source, **kwargs):
            calls.append((source, kwargs))

    module = types.ModuleType("sentence_transformers")
    module.__version__ = version
    module.SentenceTransformer = FakeST
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    return calls


def _model_folder(tmp_path, module_type):
    import json

    folder = tmp_path / "model"
    folder.mkdir()
    marker = tmp_path / "code-ran"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nclass Module: pass\n")
    (folder / "modules.json").write_text(json.dumps(
        [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
         {"idx": 1, "name": "1", "path": "1", "type": module_type}]))
    return folder, marker


def test_sbert_passes_trust_remote_code_false_explicitly(monkeypatch, tmp_path):
    from embedview.encoders.sbert import load_sentence_transformer

    calls = _fake_sentence_transformers(monkeypatch)
    folder, _ = _model_folder(tmp_path, "sentence_transformers.models.Pooling")
    load_sentence_transformer(str(folder), "cpu", offline=True)
    assert calls and calls[0][1]["trust_remote_code"] is False


def test_sbert_refuses_a_folder_naming_its_own_module_classes(monkeypatch, tmp_path):
    from embedview.encoders.base import EncoderLoadError
    from embedview.encoders.sbert import custom_modules, load_sentence_transformer

    calls = _fake_sentence_transformers(monkeypatch)
    folder, marker = _model_folder(tmp_path, "evil.Module")
    assert custom_modules(folder) == ["evil.Module"]
    with pytest.raises(EncoderLoadError, match="evil.Module"):
        load_sentence_transformer(str(folder), "cpu", offline=True)
    assert calls == [] and not marker.exists()


def test_sbert_refuses_a_sentence_transformers_that_trusts_local_code(monkeypatch, tmp_path):
    from embedview.encoders.base import EncoderLoadError
    from embedview.encoders.sbert import _version_tuple, load_sentence_transformer

    assert _version_tuple("6.0.0rc1") == (6, 0, 0) and _version_tuple("5.1.2") == (5, 1, 2)
    assert _version_tuple("x") == ()
    calls = _fake_sentence_transformers(monkeypatch, version="5.1.0")
    folder, _ = _model_folder(tmp_path, "sentence_transformers.models.Pooling")
    with pytest.raises(EncoderLoadError, match="too old"):
        load_sentence_transformer(str(folder), "cpu", offline=True)
    assert calls == []


def test_the_minimum_sentence_transformers_is_one_that_does_not_trust_local_code():
    import re
    from pathlib import Path

    from embedview.encoders.sbert import MIN_VERSION

    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert re.findall(r'"sentence-transformers([^"]*)"', text) == [f">={'.'.join(map(str, MIN_VERSION))}"]
