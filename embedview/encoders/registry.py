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
import os
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from embedview.encoders.base import EncoderLoadError

ENTRY_POINT_GROUP = "embedview.encoders"
#: seconds the reachability probe of the model hub waits (one TCP connect, no request)
PROBE_TIMEOUT_S = 3.0


class UnknownEncoderError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else "unknown encoder"


class EncoderUnavailableError(EncoderLoadError):
    """The encoder's weights are not on this computer and cannot be downloaded now (offline), or
    its local folder / checkpoint does not exist: raised before anything is loaded."""


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
    local: bool = False  # weights from a local folder / file named in the name (never downloaded)

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
        local=local,
    )


def _sbert_spec(model: str, dim: int | None = None) -> EncoderSpec:
    from embedview.encoders._torchutil import looks_like_path  # stdlib only: no torch here

    return EncoderSpec(
        name=f"sbert:{model}",
        modality="text",
        dim=dim,
        description=f"sentence-transformers {model}",
        factory="embedview.encoders.sbert:load",
        offline_check="embedview.encoders.sbert:available",
        text_query=True,
        options={"model": model},
        local=looks_like_path(model),
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


# -- can it be used now? ------------------------------------------------------------------------------------
def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> tuple[bool | None, str]:
    """Whether the model hub (``HF_ENDPOINT``, default huggingface.co) can be reached now:
    ``(True, "")``, ``(False, why)`` or ``(None, why)`` when it cannot be told (a proxy is set).

    One TCP connect with a short timeout, no request: without a network the name lookup fails in
    milliseconds, so asking costs nothing, while the libraries' own download retries take ~75 s
    before they give up.  ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` count as offline.
    """
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if _env_true(var):
            return False, f"{var} is set"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None, "a proxy is set"
    url = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = url.hostname or "huggingface.co"
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        return False, f"{host} cannot be reached ({reason})"
    return True, ""


def unavailable_reason(name: str, online: bool | None = None) -> str | None:
    """Why encoder ``name`` cannot be used now, or None when it can (or may: it downloads).

    The spec's offline check says whether the weights are here; only when they are not is the
    hub asked (``online``, default :func:`hub_reachable`).  A local folder or checkpoint that is
    missing is final; a hub model that is not cached is unavailable only while offline; a plugin
    without an offline check is let through (it cannot be told).
    Raises :class:`UnknownEncoderError` for names the registry does not know.
    """
    spec = get_spec(name)
    if spec.offline_check is None:  # a plugin that cannot tell: let it try
        return None
    ok, detail = spec.availability()
    if ok:
        return None
    if spec.local:
        return f"{display_name(name)} cannot be loaded: {detail}"
    why = ""
    if online is None:
        online, why = hub_reachable()
    if online is not False:
        return None
    fallback = default_encoder_for(spec.modality) or "default-image, default-text"
    return (f"{name} is not available offline \u2014 {detail}{', and ' + why if why else ''}. Choose an "
            f"encoder that is available offline ({fallback}), or connect to the internet and try again")


def ensure_available(name: str, online: bool | None = None) -> None:
    """Raise :class:`EncoderUnavailableError` at once when :func:`unavailable_reason` says why."""
    reason = unavailable_reason(name, online)
    if reason is not None:
        raise EncoderUnavailableError(reason)


# -- names for people ---------------------------------------------------------------------------------------
#: folder / file names that say nothing about the model: its parent folder is shown too
_GENERIC = {"model", "models", "checkpoint", "checkpoints", "ckpt", "final", "best", "last", "latest",
            "output", "outputs", "out", "weights", "export", "saved", "pytorch_model", "open_clip_model",
            "open_clip_pytorch_model", "model_final", "main", "default", "current", "snapshot", "snapshots"}
_HEXHASH = re.compile(r"^[0-9a-f]{7,64}$")
_HUB_FOLDER = re.compile(r"^models--(.+)$")


def _split_local(name: str) -> tuple[str, list[str]] | None:
    """``(prefix, path parts)`` of a name holding a local path (``sbert:/a/model`` ->
    ``("sbert:", ["a", "model"])``, ``clip:ARCH@/x/y.pt`` -> ``("clip:ARCH@", ["x", "y.pt"])``)."""
    kind, sep, rest = name.partition(":")
    if not sep or len(kind) < 2:  # no prefix (or a Windows drive letter: not an encoder name)
        return None
    head, at, path = rest.rpartition("@") if "@" in rest else ("", "", rest)
    from embedview.encoders._torchutil import looks_like_path  # stdlib only

    windows = len(path) > 2 and path[1] == ":" and path[2] in "/\\"
    if not (windows or path.startswith(("/", "~", ".", "\\")) or looks_like_path(path)):
        return None
    parts = [p for p in re.split(r"[/\\]+", path) if p not in ("", ".")]
    return kind + sep + head + at, parts


def _tail(parts: list[str], n: int) -> str:
    return "/".join(parts[-n:]) if n < len(parts) else "/".join(parts)


def _start_depth(parts: list[str]) -> tuple[str | None, int]:
    """A hub snapshot folder (``.../models--org--name/snapshots/<hash>``) reads ``org/name``;
    else the last part, or the last two when the last says nothing (``model``, a hash)."""
    for i, part in enumerate(parts):
        m = _HUB_FOLDER.match(part)
        if m and i >= len(parts) - 3:
            return m.group(1).replace("--", "/"), 0
    if not parts:
        return None, 0
    stem = os.path.splitext(parts[-1])[0].lower()
    return None, (2 if (stem in _GENERIC or _HEXHASH.match(stem)) and len(parts) > 1 else 1)


def display_names(names: Iterable[str]) -> dict[str, str]:
    """A name people can tell apart for every encoder name in ``names``.

    Registry names stay as they are (they are the cache key): only local paths are shortened, to
    their last folder (or last two when the last is a generic ``model`` or a snapshot hash, or the
    hub name of a cached snapshot folder), then lengthened part by part until no two names in
    ``names`` read the same (``/a/model`` and ``/b/model`` -> ``sbert:a/model``, ``sbert:b/model``).
    """
    names = list(dict.fromkeys(names))
    split = {n: _split_local(n) for n in names}
    depth: dict[str, int] = {}
    fixed: dict[str, str] = {}
    for n, sp in split.items():
        if sp is None:
            continue
        hub, d = _start_depth(sp[1])
        if hub is not None:
            fixed[n] = sp[0] + hub
        depth[n] = d

    def label(n: str) -> str:
        sp = split[n]
        if sp is None:
            return n
        if n in fixed and depth[n] == 0:
            return fixed[n]
        return sp[0] + _tail(sp[1], max(1, depth[n]))

    for _ in range(64):
        out = {n: label(n) for n in names}
        seen: dict[str, list[str]] = {}
        for n, text in out.items():
            seen.setdefault(text, []).append(n)
        grow = [n for group in seen.values() if len(group) > 1 for n in group
                if split[n] is not None and max(1, depth[n]) < len(split[n][1])]
        if not grow:
            return out
        for n in grow:
            depth[n] = max(1, depth[n]) + 1
    return {n: label(n) for n in names}


def display_name(name: str) -> str:
    """:func:`display_names` of one name (``sbert:/home/me/models/minilm-ft`` -> ``sbert:minilm-ft``)."""
    return display_names([name])[name]
