"""The encoder protocol.

An encoder turns a batch of items of its modality into a ``float32`` array ``(len(batch), dim)``
of *raw* vectors (normalisation is the pipeline's job, so the raw ones can be kept).

Image encoders split the work in two so decoding/preprocessing can run in parallel threads
while the model runs:  ``preprocess(PIL.Image) -> tensor``  (thread-safe, CPU) and
``encode_preprocessed(list_of_tensors) -> ndarray``.  ``encode(list_of_PIL_images)`` is the
convenience composition of both.

Encoders whose model also has a text tower (CLIP) set ``supports_text_query = True`` and
implement ``encode_text(list_of_str)`` into the same space, so text can query images.

``cache_id`` identifies the weights *and* the preprocessing (name, checkpoint fingerprint,
``PREPROCESS_VERSION``); it is half of the embedding-cache key, so change it whenever the
vectors an encoder produces for the same input would change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class UnusableEncoderError(ValueError):
    """The encoder cannot be used on this data (precomputed vectors, another modality): a user
    error, found before any model is loaded."""


class EncoderLoadError(RuntimeError):
    """An encoder could not be loaded: missing or incompatible weights, missing package.

    The message names the file (or model) and the reason, ready to show to the user.
    """


class Encoder:
    #: registry name, e.g. "default-image", "clip:ViT-B-32/laion2b_s34b_b79k"
    name: str = ""
    #: "image" or "text": what ``encode`` takes
    modality: str = ""
    #: output dimension
    dim: int = 0
    #: True when ``encode_text`` maps text into the same space as ``encode`` (CLIP)
    supports_text_query: bool = False
    #: torch device string the model runs on ("cpu", "cuda", "mps")
    device: str = "cpu"

    @property
    def cache_id(self) -> str:
        raise NotImplementedError

    # image encoders -----------------------------------------------------------------------
    def preprocess(self, image: Any) -> Any:
        """PIL.Image (RGB) -> model input tensor.  Must be thread-safe."""
        raise NotImplementedError(f"{self.name} does not take images")

    def encode_preprocessed(self, batch: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError(f"{self.name} does not take images")

    # both -----------------------------------------------------------------------------------
    def encode(self, batch: Sequence[Any]) -> np.ndarray:
        """A batch of items of ``modality`` -> float32 (len(batch), dim) raw vectors."""
        if self.modality == "image":
            return self.encode_preprocessed([self.preprocess(im) for im in batch])
        if self.modality == "text":
            return self.encode_text(list(batch))
        raise NotImplementedError

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """Text -> vectors in this encoder's space (text encoders and CLIP's text tower)."""
        raise NotImplementedError(f"{self.name} has no text tower")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.modality} {self.dim}-d on {self.device}>"


def pick_device(preferred: str | None = None) -> str:
    """``preferred`` if given, else CUDA, else Apple MPS, else CPU.  Imports torch (call lazily)."""
    if preferred and preferred != "auto":
        return preferred
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"
