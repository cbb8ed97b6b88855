"""Registry of encoders.  Listing never imports torch.

Names
-----
- ``default-image``  EfficientNet-Lite0 (ImageNet), offline weights from a pip package, 1280-d
- ``default-text``   all-MiniLM-L6-v2, offline weights from a pip package, 384-d
- ``clip:ARCH/TAG``  any open_clip model + pretrained tag, e.g. ``clip:ViT-B-32/laion2b_s34b_b79k``
                     (downloaded to open_clip's cache on first use, where there is internet)
- ``clip:ARCH@/path/to/checkpoint.pt``  an open_clip architecture with a local checkpoint file
- ``sbert:NAME_OR_PATH``  any sentence-transformers model name or local folder
- plugin names: whatever a package registers in the ``embedview.encoders`` entry-point group.
  The entry point must resolve to an :class:`EncoderSpec` (or a list of them).

Writing a plugin
----------------
Subclass :class:`embedview.encoders.base.Encoder` (set ``name``, ``modality``, ``dim``,
``cache_id``; implement ``preprocess`` + ``encode_preprocessed`` for images or
``encode_text`` for text), describe it with an :class:`EncoderSpec` whose ``factory`` is a
``"module:function"`` string (imported only when the encoder is loaded, so listing stays
cheap) and register the spec in your package's ``pyproject.toml``::

    # mypackage/embedview_plugin.py  (import nothing heavy at module level)
    from embedview.encoders.registry import EncoderSpec

    SPEC = EncoderSpec(
        name="my-encoder", modality="image", dim=768,
        description="my model, fine-tuned on my data",
        factory="mypackage.encoders:load",            # load(device=None, **options) -> Encoder
        offline_check="mypackage.encoders:available", # available(**options) -> (bool, str)
    )

    # pyproject.toml
    [project.entry-points."embedview.encoders"]
    my-encoder = "mypackage.embedview_plugin:SPEC"

After ``pip install`` the name shows in ``embedview models`` and works everywhere a built-in
name does.  A plugin that fails to import is listed with the error instead of breaking others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ENTRY_POINT_GROUP = "embedview.encoders"


class UnknownEncoderError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else "unknown encoder"


@dataclass(frozen=True)
class EncoderSpec:
    """What the registry knows about an encoder without loading it.

    ``factory`` and ``offline_check`` are ``"module:attribute"`` strings (or callables, for
    plugins built at run time), resolved only when needed so that listing stays cheap.
    ``factory(**options) -> Encoder``; ``offline_check() -> (available: bool, detail: str)``.
    """

    name: str
    modality: str  # "image", "text"
    dim: int | None
    description: str
    factory: Any
    offline_check: Any = None
    text_query: bool = False  # has a text tower mapping queries into its space
    options: dict[str, Any] = field(default_factory=dict)  # passed to factory

    def availability(self) -> tuple[bool, str]:
        if self.offline_check is None:
            return False, "weights are downloaded on first use (needs internet)"
        try:
            return _resolve(self.offline_check)(**self.options)
        except Exception as exc:  # a broken plugin must not break the listing
            return False, f"availability check failed: {exc}"

    def load(self, device: str | None = None, **overrides: Any):
        opts = dict(self.options)
        opts.update(overrides)
        return _resolve(self.factory)(device=device, **opts)


def _resolve(ref: Any) -> Callable:
    if callable(ref):
        return ref
    module, _, attr = str(ref).partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


_BUILTIN = [
    EncoderSpec(
        name="default-image",
        modality="image",
        dim=1280,
        description="EfficientNet-Lite0, ImageNet weights shipped with pip (offline), pooled features",
        factory="embedview.encoders.default_image:load",
        offline_check="embedview.encoders.default_image:available",
    ),
    EncoderSpec(
        name="default-text",
        modality="text",
        dim=384,
        description="sentence-transformers all-MiniLM-L6-v2, weights shipped with pip (offline)",
        factory="embedview.encoders.default_text:load",
        offline_check="embedview.encoders.default_text:available",
    ),
]

# A few well-known open_clip / sentence-transformers models, listed so users can pick them;
# any other name works through the ``clip:`` / ``sbert:`` prefixes.
_KNOWN_CLIP = [
    ("ViT-B-32", "laion2b_s34b_b79k", 512),
    ("ViT-B-16", "laion2b_s34b_b88k", 512),
    ("ViT-L-14", "laion2b_s32b_b82k", 768),
]
_KNOWN_SBERT = [("sentence-transformers/all-mpnet-base-v2", 768)]


def _clip_spec(arch: str, pretrained: str, dim: int | None = None) -> EncoderSpec:
    from embedview.encoders._torchutil import looks_like_path  # stdlib only: no torch here

    local = looks_like_path(pretrained)  # the rule openclip.load goes by
    sep = "@" if local else "/"
    return EncoderSpec(
        name=f"clip:{arch}{sep}{pretrained}",
        modality="image",
        dim=dim,
        description=(f"open_clip {arch} ({'local checkpoint ' if local else ''}{pretrained}); "
                     "text queries via its text tower"),
        factory="embedview.encoders.openclip:load",
        offline_check="embedview.encoders.openclip:available",
        text_query=True,
        options={"arch": arch, "pretrained": pretrained},
    )


def _sbert_spec(model: str, dim: int | None = None) -> EncoderSpec:
    return EncoderSpec(
        name=f"sbert:{model}",
        modality="text",
        dim=dim,
        description=f"sentence-transformers {model}",
        factory="embedview.encoders.sbert:load",
        offline_check="embedview.encoders.sbert:available",
        text_query=True,
        options={"model": model},
    )


def _plugin_specs() -> list[EncoderSpec]:
    from importlib.metadata import entry_points

    specs: list[EncoderSpec] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # report, but keep the others
            specs.append(
                EncoderSpec(ep.name, "image", None, f"plugin failed to load: {exc}", factory=_broken(ep.name, exc))
            )
            continue
        items = obj if isinstance(obj, (list, tuple)) else [obj]
        for spec in items:
            if isinstance(spec, EncoderSpec):
                specs.append(spec)
    return specs


def _broken(name: str, exc: Exception) -> Callable:
    def factory(**_: Any):
        raise RuntimeError(f"encoder plugin {name!r} could not be imported: {exc}")

    return factory


def list_encoders(include_plugins: bool = True) -> list[EncoderSpec]:
    """Every encoder embedview knows: built-ins, well-known hub models, plugins."""
    specs = list(_BUILTIN)
    specs += [_clip_spec(a, p, d) for a, p, d in _KNOWN_CLIP]
    specs += [_sbert_spec(m, d) for m, d in _KNOWN_SBERT]
    if include_plugins:
        specs += _plugin_specs()
    return specs


def get_spec(name: str) -> EncoderSpec:
    """Resolve a name (built-in, ``clip:...``, ``sbert:...`` or plugin) to its spec."""
    for spec in _BUILTIN:
        if spec.name == name:
            return spec
    if name.startswith("clip:"):
        body = name[len("clip:"):]
        if "@" in body:
            arch, _, ckpt = body.partition("@")
        elif "/" in body:
            arch, _, ckpt = body.partition("/")
        else:
            raise UnknownEncoderError(
                f"unknown encoder {name!r}: write clip:ARCH/PRETRAINED_TAG or clip:ARCH@/path/to/checkpoint.pt"
            )
        known = {(a, p): d for a, p, d in _KNOWN_CLIP}
        return _clip_spec(arch, ckpt, known.get((arch, ckpt)))
    if name.startswith("sbert:"):
        model = name[len("sbert:"):]
        known = dict(_KNOWN_SBERT)
        return _sbert_spec(model, known.get(model))
    for spec in _plugin_specs():
        if spec.name == name:
            return spec
    names = ", ".join(s.name for s in list_encoders())
    raise UnknownEncoderError(
        f"unknown encoder {name!r}. Known: {names}; or clip:ARCH/TAG, clip:ARCH@CHECKPOINT, sbert:NAME_OR_PATH"
    )


def load_encoder(name: str, device: str | None = None, **options: Any):
    """Load encoder ``name`` (imports torch etc. now).  ``device=None`` picks CUDA/MPS/CPU."""
    return get_spec(name).load(device=device, **options)


def default_encoder_for(modality: str) -> str:
    return {"image": "default-image", "text": "default-text"}.get(modality, "")
