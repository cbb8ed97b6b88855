"""``sbert:NAME_OR_PATH``: any sentence-transformers model, from the hub or a local folder.

Hub names are downloaded to the Hugging Face cache on first use (needs internet); a local
folder (``SentenceTransformer.save`` output, or a hub snapshot) loads offline.  Short names of
the official models ("all-mpnet-base-v2") are found under "sentence-transformers/".

No model runs code of its own: ``trust_remote_code=False`` is passed explicitly (sentence-transformers
before 6.0 trusted a local folder's custom modules implicitly, hence ``>=6.0``), and a folder whose
``modules.json`` names a module class outside ``sentence_transformers.`` is refused before loading,
whatever the installed version does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embedview.encoders._torchutil import hf_cached_repo, hub_offline, looks_like_path, module_fingerprint
from embedview.encoders.base import Encoder, EncoderLoadError, pick_device

#: bump when tokenisation / pooling settings embedview applies change (part of ``cache_id``)
PREPROCESS_VERSION = 1
DEFAULT_BATCH = 64


def _hub_ids(model: str) -> list[str]:
    return [model] if "/" in model else [model, f"sentence-transformers/{model}"]


def available(model: str = "", **_: Any) -> tuple[bool, str]:
    """Whether ``model`` loads offline: an existing local folder or a hub-cache snapshot."""
    if importlib.util.find_spec("sentence_transformers") is None:
        return False, "package sentence-transformers is not installed"
    path = Path(model).expanduser()
    if path.is_dir():
        return True, f"local folder {path}"
    if looks_like_path(model):
        return False, f"folder not found: {path}"
    for repo_id in _hub_ids(model):
        cached = hf_cached_repo(repo_id)
        if cached is not None:
            return True, f"in the Hugging Face cache ({cached})"
    return False, "downloads on first use (needs internet)"


class SentenceEncoder(Encoder):
    """A sentence-transformers model; ``encode`` takes a list of strings."""

    modality = "text"
    supports_text_query = True

    def __init__(self, name: str, model: Any, device: str, batch_size: int = DEFAULT_BATCH):
        self.name = name
        self.model = model
        self.device = device
        self.batch_size = int(batch_size)
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self._fingerprint = module_fingerprint(model)

    @property
    def cache_id(self) -> str:
        return f"{self.name}:{self._fingerprint}:len{self.model.max_seq_length}:pp{PREPROCESS_VERSION}"

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Strings -> float32 (len(texts), dim), as the model outputs them (no extra normalisation)."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode(
            [str(t) for t in texts],
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(out, dtype=np.float32)


#: the first sentence-transformers release that does not trust a local folder's custom code implicitly
MIN_VERSION = (6, 0)


def _version_tuple(text: str) -> tuple[int, ...]:
    """``"6.2.0"`` -> ``(6, 2, 0)``, ``"6.0.0rc1"`` -> ``(6, 0, 0)``, junk -> ``()``."""
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text.strip())
    return tuple(int(g) for g in match.groups() if g is not None) if match else ()


def custom_modules(folder: Path) -> list[str]:
    """The module classes a model folder's ``modules.json`` names outside ``sentence_transformers.``
    (loading those imports and runs code chosen by whoever made the folder)."""
    path = folder / "modules.json"
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EncoderLoadError(f"{path}: unreadable modules.json: {exc}") from exc
    if not isinstance(entries, list):
        raise EncoderLoadError(f"{path}: modules.json is not a list of modules")
    out = []
    for entry in entries:
        kind = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(kind, str) or not kind.startswith("sentence_transformers."):
            out.append(str(kind))
    return out


def load_sentence_transformer(name_or_path: str, device: str, offline: bool = False) -> Any:
    """``SentenceTransformer(name_or_path)`` with errors that name the model and the reason.

    ``offline=True`` forbids any network access while loading (local or cached weights).
    """
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EncoderLoadError("sentence encoders need the package sentence-transformers") from exc
    path = Path(name_or_path).expanduser()
    if looks_like_path(name_or_path) and not path.is_dir():
        raise EncoderLoadError(f"{path}: sentence-transformers model folder not found")
    source = str(path) if path.is_dir() else name_or_path
    if path.is_dir():
        custom = custom_modules(path)
        if custom:
            raise EncoderLoadError(f"{path}: refused: the model names module classes that would run code from "
                                   f"outside sentence-transformers ({', '.join(custom)}); "
                                   "embedview never runs a model's own code")
    try:
        import sentence_transformers

        version = _version_tuple(str(getattr(sentence_transformers, "__version__", "0")))
    except Exception:  # noqa: BLE001 - a missing version is an old one
        version = ()
    if version < MIN_VERSION:
        raise EncoderLoadError(f"sentence-transformers {'.'.join(map(str, version)) or '?'} is too old: "
                               f"embedview needs >= {'.'.join(map(str, MIN_VERSION))} (older releases run a "
                               f"local model folder's code without asking); pip install -U sentence-transformers")
    try:
        with hub_offline() if offline else contextlib.nullcontext(), _quiet_transformers():
            return SentenceTransformer(source, device=device, trust_remote_code=False)
    except Exception as exc:
        hint = "" if path.is_dir() else " (hub models download on first use and need internet)"
        raise EncoderLoadError(f"{source}: could not load sentence-transformers model: {exc}{hint}") from exc


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide transformers' per-load progress bar (it clutters the CLI and logs)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def load(model: str = "", device: str | None = None, batch_size: int = DEFAULT_BATCH, **_: Any) -> SentenceEncoder:
    """Load ``sbert:<model>``: a hub name or a local folder."""
    if not model:
        raise EncoderLoadError("sbert: give a model name or folder, e.g. sbert:sentence-transformers/all-mpnet-base-v2")
    device = pick_device(device)
    # a local folder or a cached hub snapshot loads without asking the network
    offline = Path(model).expanduser().is_dir() or any(hf_cached_repo(r) for r in _hub_ids(model))
    st = load_sentence_transformer(model, device, offline=offline)
    return SentenceEncoder(f"sbert:{model}", st, device, batch_size)
