"""``clip:ARCH/TAG`` and ``clip:ARCH@CHECKPOINT``: any open_clip model, image and text towers.

* ``ARCH`` is an open_clip architecture name ("ViT-B-32"), or the path of a JSON architecture
  config (``{"embed_dim": .., "vision_cfg": {..}, "text_cfg": {..}}``), registered with
  ``open_clip.add_model_config`` under the file's stem.  Extra config files or folders can be
  registered with the ``config`` option or the ``EMBEDVIEW_CLIP_CONFIG`` environment variable
  (``os.pathsep``-separated), so ``clip:my-arch@/path/my.pt`` works for a custom model.
* ``TAG`` is an open_clip pretrained tag, downloaded to its cache on first use (needs
  internet); ``CHECKPOINT`` is a local weights file and loads offline.

Images are preprocessed with the model's own validation transform; ``encode_text`` uses the
architecture's tokenizer, so text queries land in the image space.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from embedview.encoders._torchutil import hf_cached_models, looks_like_path, module_fingerprint, short_reason
from embedview.encoders.base import Encoder, EncoderLoadError, pick_device
from embedview.encoders.registry import UnknownEncoderError, _clip_spec

#: bump when embedview's own handling of inputs changes (part of ``cache_id``)
PREPROCESS_VERSION = 1
CONFIG_ENV = "EMBEDVIEW_CLIP_CONFIG"
TEXT_BATCH = 256
_SCHEMAS = ("hf-hub:", "local-dir:")  # open_clip names that carry their own config and weights


def _normalised(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def available(arch: str = "", pretrained: str = "", **_: Any) -> tuple[bool, str]:
    """Whether the model loads offline, without importing torch or open_clip.

    A local checkpoint must exist; for a hub tag the Hugging Face cache is searched for a
    downloaded repository whose name contains both the architecture and the tag.  That search
    can miss (open_clip's own tag-to-repository table needs torch to read), so "not found"
    reads "downloads on first use".
    """
    if importlib.util.find_spec("open_clip") is None:
        return False, "package open_clip_torch is not installed"
    if looks_like_path(arch) and not Path(arch).expanduser().is_file():
        return False, f"architecture config not found: {arch}"
    if looks_like_path(pretrained):
        path = Path(pretrained).expanduser()
        return (True, f"local checkpoint {path}") if path.is_file() else (False, f"checkpoint file not found: {path}")
    want_arch, want_tag = _normalised(Path(arch).stem if arch.endswith(".json") else arch), _normalised(pretrained)
    for repo in hf_cached_models():
        name = _normalised(repo.name)
        if want_tag and want_tag in name and want_arch in name:
            return True, f"in the Hugging Face cache ({repo})"
    return False, "downloads on first use (needs internet)"


class OpenClipEncoder(Encoder):
    """An open_clip model: ``encode`` takes PIL images, ``encode_text`` strings, same space."""

    modality = "image"
    supports_text_query = True

    def __init__(self, name: str, model: Any, preprocess: Any, tokenizer: Any, device: str):
        self.name = name
        self.model = model
        self._preprocess = preprocess
        self._tokenizer = tokenizer
        self.device = device
        self.dim = _output_dim(model)
        self._input_side = _input_side(model, preprocess)
        # weights + the exact transform (size, crop, mean/std) identify the vectors
        transform = hashlib.sha256(repr(preprocess).encode()).hexdigest()[:8]
        self._cache_id = f"{name}:{module_fingerprint(model)}:{transform}:pp{PREPROCESS_VERSION}"

    @property
    def cache_id(self) -> str:
        return self._cache_id

    @property
    def resize_bound(self) -> tuple[int, int]:
        """The shared decode's aspect-ratio bound (pipeline.resize_bound): this model's input side."""
        return (self._input_side, self._input_side * self._input_side)

    def preprocess(self, image: Any) -> Any:
        """PIL image -> the model's input tensor (open_clip's validation transform; thread-safe).

        open_clip's transform scales the shorter side to the input size before its centre crop;
        an image so elongated that this would pass ``RESIZE_BUDGET_FACTOR`` x the input area
        raises :class:`~embedview.core.images.ImageShapeError` first (a named problem).
        """
        from embedview.core.images import check_resize

        check_resize(image, *self.resize_bound)  # the same bound the shared decode applied
        if image.mode != "RGB":
            image = image.convert("RGB")
        return self._preprocess(image)

    def encode_preprocessed(self, batch: list[Any]) -> np.ndarray:
        """Preprocessed image tensors -> float32 (len(batch), dim) image embeddings."""
        import torch

        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        x = torch.stack(list(batch)).to(self.device)
        with torch.inference_mode():
            return np.ascontiguousarray(self.model.encode_image(x).float().cpu().numpy(), dtype=np.float32)

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Strings -> float32 (len(texts), dim) text embeddings in the image space."""
        import torch

        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), TEXT_BATCH):
                tokens = self._tokenizer([str(t) for t in texts[start:start + TEXT_BATCH]]).to(self.device)
                out.append(self.model.encode_text(tokens).float().cpu().numpy())
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)


def _input_side(model: Any, preprocess: Any) -> int:
    """The side the transform scales an image's shorter side to: its ``Resize`` size, else the
    vision tower's ``image_size`` (the larger side of a rectangular one), else 224."""
    for t in getattr(preprocess, "transforms", ()):
        size = getattr(t, "size", None)
        if type(t).__name__ in ("Resize", "ResizeKeepRatio", "ResizeMaxSize") and size:
            return int(max(size) if isinstance(size, (tuple, list)) else size)
    size = getattr(getattr(model, "visual", None), "image_size", None) or 224
    return int(max(size) if isinstance(size, (tuple, list)) else size)


def _output_dim(model: Any) -> int:
    """Embedding size: the vision tower's ``output_dim``, else the text projection's width."""
    dim = getattr(getattr(model, "visual", None), "output_dim", None)
    if dim:
        return int(dim)
    proj = getattr(model, "text_projection", None)
    if proj is not None and hasattr(proj, "shape"):
        return int(proj.shape[-1])
    if proj is not None and hasattr(proj, "out_features"):
        return int(proj.out_features)
    raise EncoderLoadError(f"{type(model).__name__}: cannot tell the embedding size of this open_clip model")


def _config_sources(config: Any) -> list[Path]:
    paths: list[str] = []
    if config:
        paths += [str(c) for c in (config if isinstance(config, (list, tuple)) else [config])]
    if os.environ.get(CONFIG_ENV):
        paths += [p for p in os.environ[CONFIG_ENV].split(os.pathsep) if p]
    return [Path(p).expanduser() for p in paths]


_registered: set = set()  # (path, mtime) already given to open_clip in this process


def _register_configs(open_clip: Any, sources: Iterable[Path]) -> None:
    """Validate and register JSON architecture configs (files or folders of them)."""
    for source in sources:
        if not source.exists():
            raise EncoderLoadError(f"{source}: open_clip architecture config not found")
        key = (str(source.resolve()), source.stat().st_mtime_ns)
        if key in _registered:
            continue
        files = sorted(source.glob("*.json")) if source.is_dir() else [source]
        for file in files:
            try:
                cfg = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise EncoderLoadError(f"{file}: not a readable JSON architecture config ({exc})") from exc
            missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if not isinstance(cfg, dict) or k not in cfg]
            if missing:
                raise EncoderLoadError(f"{file}: open_clip architecture config lacks {', '.join(missing)}")
        open_clip.add_model_config(source)
        _registered.add(key)


def load(arch: str = "", pretrained: str = "", device: str | None = None, config: Any = None,
         **_: Any) -> OpenClipEncoder:
    """Load an open_clip model.

    ``arch``: architecture name or JSON config path; ``pretrained``: tag or checkpoint file;
    ``config``: extra JSON config file(s) / folder(s) to register first.  Raises
    :class:`UnknownEncoderError` for an unknown architecture (listing the closest names) and
    :class:`EncoderLoadError` naming the file for a missing or incompatible checkpoint.
    """
    if not arch:
        raise EncoderLoadError("clip: give an architecture, e.g. clip:ViT-B-32/laion2b_s34b_b79k")
    name = _clip_spec(arch, pretrained).name
    try:
        import open_clip
    except ImportError as exc:
        raise EncoderLoadError("CLIP encoders need the package open_clip_torch") from exc

    sources = _config_sources(config)
    if looks_like_path(arch):
        sources.append(Path(arch).expanduser())
        arch = Path(arch).stem
    _register_configs(open_clip, sources)
    if not arch.startswith(_SCHEMAS) and arch not in open_clip.list_models():
        close = difflib.get_close_matches(arch, open_clip.list_models(), n=8, cutoff=0.5)
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise UnknownEncoderError(
            f"unknown open_clip architecture {arch!r}.{hint} A custom one can be given as a JSON config "
            f"path or registered with ${CONFIG_ENV}."
        )

    checkpoint = None
    if pretrained and looks_like_path(pretrained):
        checkpoint = Path(pretrained).expanduser()
        if not checkpoint.is_file():
            raise EncoderLoadError(f"{checkpoint}: checkpoint file not found")
        pretrained = str(checkpoint)

    elif pretrained and not arch.startswith(_SCHEMAS):
        tags = open_clip.list_pretrained_tags_by_model(arch)
        if pretrained not in tags:
            raise EncoderLoadError(
                f"{pretrained!r} is neither a pretrained tag of {arch} nor an existing file. "
                f"Tags: {', '.join(tags) if tags else 'none (give a local checkpoint: clip:ARCH@/path/to/file.pt)'}"
            )

    device = pick_device(device)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained or None, device=device,
                                                                     **_weights_only(open_clip))
    except Exception as exc:
        if checkpoint is not None:
            raise _explain_checkpoint(open_clip, exc, arch, checkpoint) from exc
        raise _explain(exc, arch, pretrained) from exc
    model.eval()
    tokenizer = open_clip.get_tokenizer(arch)
    return OpenClipEncoder(name, model, preprocess, tokenizer, device)


def _weights_only(open_clip: Any) -> dict[str, bool]:
    """Ask open_clip, explicitly, to unpickle tensors only: a checkpoint never runs code (the
    argument is ``load_weights_only`` in 2.29-2.x, ``weights_only`` in 3.x; both default to True)."""
    import inspect

    params = inspect.signature(open_clip.create_model_and_transforms).parameters
    return {k: True for k in ("weights_only", "load_weights_only") if k in params}


def _explain_checkpoint(open_clip: Any, exc: Exception, arch: str, checkpoint: Path) -> EncoderLoadError:
    """Why a local checkpoint failed: unreadable, or which tensors do not fit ``arch``."""
    try:
        from open_clip.factory import load_state_dict

        state = load_state_dict(str(checkpoint), weights_only=True)
    except Exception as read_exc:
        return EncoderLoadError(f"{checkpoint}: not a readable checkpoint ({short_reason(read_exc)})")
    try:
        expected = open_clip.create_model(arch, pretrained=None, device="cpu").state_dict()
    except Exception:
        expected = None
    if isinstance(state, dict) and expected is not None:
        state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
        wrong = [
            f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
            for k, v in expected.items()
            if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)
        ]
        missing = [k for k in expected if k not in state]
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} tensors have another shape (e.g. {'; '.join(wrong[:3])})")
        if missing:
            parts.append(f"{len(missing)} tensors missing (e.g. {', '.join(missing[:3])})")
        if parts:
            return EncoderLoadError(f"{checkpoint}: checkpoint does not fit architecture {arch}: {', '.join(parts)}")
    return EncoderLoadError(f"{checkpoint}: could not load as an open_clip checkpoint for {arch}: {exc}")


def _explain(exc: Exception, arch: str, pretrained: str) -> EncoderLoadError:
    """open_clip's error for a pretrained tag (usually a failed download), with what to do."""
    return EncoderLoadError(
        f"could not load open_clip {arch} / {pretrained}: {str(exc).strip()} "
        "(tags download on first use and need internet; offline, give a local file: clip:ARCH@/path/to/checkpoint.pt)"
    )
