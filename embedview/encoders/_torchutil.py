"""Small helpers shared by the built-in encoders.

Nothing here imports torch at module level: ``available()`` checks use the file-system helpers
and must stay cheap.  Functions that take a torch module only touch its tensors.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_MIB = 1 << 20


def short_reason(exc: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message, shortened for a one-line user message."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def file_fingerprint(path: str | os.PathLike) -> str:
    """Cheap content fingerprint of a (weights) file: size + first and last MiB, SHA-256.

    Unlike size + mtime it survives reinstalling the same file; unlike a full hash it costs a
    few milliseconds for a gigabyte checkpoint.
    """
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(_MIB))
        if size > 2 * _MIB:
            f.seek(size - _MIB)
            h.update(f.read(_MIB))
    return h.hexdigest()[:16]


def module_fingerprint(module: Any, sample: int = 4096) -> str:
    """Fingerprint of a torch module's weights: every tensor's name, shape and a strided sample.

    Works wherever the weights came from (hub cache, local folder, file), costs milliseconds.
    """
    h = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        t = tensor.detach()
        h.update(f"{key}:{tuple(t.shape)}:{t.dtype};".encode())
        flat = t.reshape(-1)
        if flat.numel() > sample:
            flat = flat[:: max(1, flat.numel() // sample)][:sample]
        h.update(flat.float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Make Hugging Face libraries work from local files only while loading.

    Sets ``HF_HUB_OFFLINE=1`` and, because ``huggingface_hub`` reads that variable once at
    import, also flips its constant when it was imported already.  Restores both afterwards.
    """
    old_env = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    old_const = getattr(constants, "HF_HUB_OFFLINE", None)
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_const


def hf_cache_root() -> Path:
    """The Hugging Face hub cache folder, resolved from the environment like huggingface_hub."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def _has_snapshot(repo: Path) -> bool:
    snapshots = repo / "snapshots"
    return snapshots.is_dir() and any(any(s.iterdir()) for s in snapshots.iterdir() if s.is_dir())


def hf_cached_models() -> list[Path]:
    """Model folders in the hub cache that hold at least one downloaded snapshot."""
    root = hf_cache_root()
    if not root.is_dir():
        return []
    return [repo for repo in root.glob("models--*") if _has_snapshot(repo)]


def hf_cached_repo(repo_id: str) -> Path | None:
    """The cache folder of hub model ``org/name`` when a snapshot of it was downloaded (looked
    up by its folder name, not by listing every cached model)."""
    repo = hf_cache_root() / ("models--" + repo_id.replace("/", "--"))
    return repo if _has_snapshot(repo) else None


def looks_like_path(text: str) -> bool:
    """True for strings meant as file paths rather than hub names or tags."""
    return (
        os.path.isabs(text)
        or text.startswith(("./", "../", "~"))
        or (os.sep in text and os.path.exists(text))
        or text.endswith((".pt", ".pth", ".bin", ".safetensors", ".npz", ".json", ".onnx"))
    )


def gpu_likely() -> bool:
    """A cheap guess, without importing torch, whether torch could use a GPU here.

    Used only to decide whether importing torch just to ask it is worth the seconds it costs.
    """
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return True  # Apple silicon: MPS
    if os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/kfd"):
        return True  # NVIDIA or ROCm driver loaded
    return shutil.which("nvidia-smi") is not None
