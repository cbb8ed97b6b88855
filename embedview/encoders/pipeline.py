"""Turn a dataset into an :class:`~embedview.core.embeddings.EmbeddingSet`, reusing the cache.

:func:`encode_dataset` is the one encoding path used by the CLI, the GUI and the benchmarks:

1. content keys for every item (:func:`~embedview.core.cache.hash_file` for images, hashed in
   a thread pool; :func:`~embedview.core.cache.hash_text` for text);
2. vectors already in the :class:`~embedview.core.cache.EmbeddingCache` are taken as they are
   and reported done at once;
3. the misses (each distinct content once) are encoded in batches.  Images are decoded and
   preprocessed by a thread pool a bounded number of batches ahead of the model's forward pass
   (PIL and torch release the GIL, so decoding overlaps the model); texts are batched by length,
   as sentence-transformers does, so little padding is computed;
4. every finished batch is written to the cache in one transaction, then progress is reported.
   Cancellation (``TaskState.report`` raising ``Cancelled``) therefore stops at a batch
   boundary with every finished batch kept.

Images that cannot be decoded are dropped with a :class:`~embedview.core.dataset.LoadProblem`
naming the file; the rest still encodes.  Every image is held to the aspect-ratio / pixel-count
bound (:func:`~embedview.core.images.check_resize`, the encoder's ``resize_bound`` or
:data:`~embedview.core.images.DEFAULT_RESIZE_BOUND`) from its header, before it is decoded and
before any encoder's own ``preprocess`` (a plugin's too) sees it.  Python warnings raised while
one image is decoded and preprocessed (Pillow's "Corrupt EXIF data", ...) are caught on the
worker thread doing it and become a ``"warning"`` problem naming that image's file.

:func:`embed` adds the choice of model (default per modality, loaded encoders kept in memory)
and passes datasets with precomputed embeddings straight through.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from embedview.core.cache import EmbeddingCache, hash_file, hash_text
from embedview.core.dataset import Dataset, LoadProblem
from embedview.core.embeddings import EmbeddingSet
from embedview.core.images import DEFAULT_RESIZE_BOUND, ImageLoadError, capture_image_warnings, open_image
from embedview.core.progress import TaskState
from embedview.encoders.base import Encoder, UnusableEncoderError
from embedview.encoders.registry import default_encoder_for, ensure_available, get_spec, load_encoder

#: batches decoded ahead of the one the model is working on
PREFETCH_BATCHES = 2
#: items per forward pass when the encoder has no ``batch_size`` of its own.  Images: 16, as
#: on a CPU a bigger batch is no faster, and onnxruntime keeps ~30 MB of activations per image
#: of the largest batch it has seen (batch 64: peak RSS 2.0 GB, batch 16: 0.7 GB).
DEFAULT_BATCH_SIZE = {"image": 16, "text": 64}
#: how many loaded encoders :func:`get_encoder` keeps (weights are large)
MAX_LOADED_ENCODERS = 3

CacheArg = EmbeddingCache | bool | None


# -- encoding ------------------------------------------------------------------------------------
def encode_dataset(
    dataset: Dataset,
    encoder: Encoder,
    *,
    cache: CacheArg = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    progress=None,
) -> EmbeddingSet:
    """Vectors for every usable item of ``dataset`` from ``encoder``, cached by content.

    Parameters
    ----------
    dataset : Dataset
        An ``"image"`` or ``"text"`` dataset of the encoder's modality.
    encoder : Encoder
        A loaded encoder (see :func:`embed` to load one by name).
    cache : EmbeddingCache, False or None
        ``None`` opens the default cache (and closes it afterwards), ``False`` disables
        caching, an :class:`EmbeddingCache` is used as given (and left open).
    batch_size : int, optional
        Items per forward pass and per cache transaction; defaults to the encoder's
        ``batch_size`` attribute when it has one, else :data:`DEFAULT_BATCH_SIZE`.
    num_workers : int, optional
        Threads decoding and preprocessing images; default :func:`default_workers`.
    progress : callable(fraction, message) or TaskState, optional
        Reports ``done/total`` with the encoding rate; cancelling raises ``Cancelled`` at the
        next batch boundary, after the finished batches are in the cache.

    Returns
    -------
    EmbeddingSet
        Over the dataset without the items that failed to load (each one a ``LoadProblem``
        in ``.problems``), raw float32 vectors, ``encoder=encoder.name`` and
        ``.stats = {"n_cached", "n_encoded", "n_failed", "seconds", "items_per_s"}``.
    """
    if dataset.modality not in ("image", "text"):
        raise ValueError(
            f"dataset {dataset.name!r} holds {dataset.modality!r} items; only image and text datasets can be encoded"
        )
    if dataset.modality != encoder.modality:
        raise ValueError(
            f"encoder {encoder.name!r} takes {encoder.modality} but dataset {dataset.name!r} holds {dataset.modality}"
        )
    task = TaskState.coerce(progress)
    start = time.perf_counter()
    batch_size = int(batch_size or getattr(encoder, "batch_size", None) or DEFAULT_BATCH_SIZE[dataset.modality])
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    workers = max(1, int(num_workers or default_workers(encoder)))
    store: EmbeddingCache | None = EmbeddingCache() if cache is None else (cache or None)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embedview-encode") as pool:
            run = _Run(dataset, encoder, store, batch_size, pool, task)
            run.execute()
    finally:
        if cache is None and store is not None:
            store.close()

    ok = np.flatnonzero(run.valid)
    kept = dataset if len(ok) == len(dataset) else dataset.subset(ok)
    seconds = time.perf_counter() - start
    result = EmbeddingSet(kept, run.out[ok], encoder=encoder.name, problems=run.problems)
    result.stats = {
        "n_cached": run.n_cached,
        "n_encoded": run.n_encoded,
        "n_failed": len(dataset) - len(ok),
        "seconds": seconds,
        "items_per_s": run.rate(),
    }
    return result


def default_workers(encoder: Encoder) -> int:
    """Decoding threads: ``min(4, cpu_count)``, but half the cores when the model runs on the CPU.

    A CPU forward pass already keeps every core busy; more decoders than the cores it leaves
    only time-slice against it (measured on 2 cores: 1 decoding thread beat 2 and 4).
    """
    cpus = os.cpu_count() or 1
    if encoder.device == "cpu":
        return max(1, min(4, cpus // 2))
    return min(4, cpus)


class _Run:
    """State of one :func:`encode_dataset` call (keeps the steps small and readable)."""

    def __init__(self, dataset: Dataset, encoder: Encoder, store: EmbeddingCache | None, batch_size: int,
                 pool: ThreadPoolExecutor, task: TaskState):
        self.dataset, self.encoder, self.store = dataset, encoder, store
        self.batch_size, self.pool, self.task = batch_size, pool, task
        self.cache_id = encoder.cache_id if store is not None else ""
        n = len(dataset)
        self.dim = int(encoder.dim)
        self.out = np.zeros((n, self.dim), dtype=np.float32)
        self.valid = np.zeros(n, dtype=bool)
        self.problems: list[LoadProblem] = []
        self.n_cached = self.n_encoded = 0
        self.done = 0
        self.encode_start = 0.0

    # -- steps ---------------------------------------------------------------------------
    def execute(self) -> None:
        n = len(self.dataset)
        keys = self._keys()
        usable = [i for i, k in enumerate(keys) if k is not None]
        self.done = n - len(usable)  # unreadable files count as done
        if self.store is not None and usable:
            got, found = self.store.get_matrix(self.cache_id, [keys[i] for i in usable], self.dim)
            hit = np.asarray(usable, dtype=np.int64)[found]
            self.out[hit] = got[found]
            self.valid[hit] = True
            self.n_cached = len(hit)
            self.done += len(hit)
        # each distinct missing content once: key -> every index holding it
        groups: dict[str, list[int]] = {}
        for i in usable:
            if not self.valid[i]:
                groups.setdefault(keys[i], []).append(i)
        n_todo = sum(len(idx) for idx in groups.values())
        self.task.report(self.done, n, f"{self.n_cached} of {n} from the cache; encoding {n_todo}")
        todo = list(groups.items())
        self.encode_start = time.perf_counter()
        if self.dataset.modality == "text":
            self._encode_texts(todo)
        else:
            self._encode_images(todo)
        self.task.report(n, n, f"{n} items: {self.n_cached} cached, {self.n_encoded} encoded")

    def _keys(self) -> list[str | None]:
        ds = self.dataset
        if ds.modality == "text":
            if ds.texts is None:
                raise ValueError(f"text dataset {ds.name!r} has no texts")
            return [hash_text(t if t is not None else "") for t in ds.texts]
        keys: list[str | None] = []
        n, chunk = len(ds), 256
        for s in range(0, n, chunk):  # in chunks, so a long hashing phase can be cancelled
            self.task.report(0, n, f"reading {s}/{n} files")
            sources = ds.sources[s:s + chunk]
            for src, key in zip(sources, self.pool.map(_try_hash_file, sources), strict=True):
                if isinstance(key, OSError):
                    self.problems.append(LoadProblem(src, _reason(key)))
                    keys.append(None)
                else:
                    keys.append(key)
        return keys

    def rate(self) -> float:
        """Items encoded per second of wall time since encoding started (decoding included)."""
        elapsed = time.perf_counter() - self.encode_start if self.encode_start else 0.0
        return self.n_encoded / elapsed if elapsed > 0 else 0.0

    def _finish_batch(self, items: Sequence[tuple[str, list[int]]], vectors: np.ndarray) -> None:
        """Place one encoded batch, commit it to the cache, then report (may raise Cancelled)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(items), self.dim):
            raise RuntimeError(
                f"encoder {self.encoder.name!r} returned shape {vectors.shape} for {len(items)} items; "
                f"expected (n, {self.dim})"
            )
        for (_, idx), vec in zip(items, vectors, strict=True):
            self.out[idx] = vec
            self.valid[idx] = True
            self.n_encoded += len(idx)
        if self.store is not None and len(items):
            self.store.put_many(self.cache_id, ((key, vec) for (key, _), vec in zip(items, vectors, strict=True)))
        n = len(self.dataset)
        self.task.report(self.done, n, f"encoding {self.done}/{n} ({self.rate():.1f} items/s)")

    def _encode_texts(self, todo: list[tuple[str, list[int]]]) -> None:
        texts = self.dataset.texts
        todo.sort(key=lambda item: len(texts[item[1][0]] or ""))  # similar lengths: little padding
        for s in range(0, len(todo), self.batch_size):
            self.task.check()  # cancelled after the last batch: start no new one
            batch = todo[s:s + self.batch_size]
            vectors = self.encoder.encode_text([texts[idx[0]] or "" for _, idx in batch])
            self.done += sum(len(idx) for _, idx in batch)
            self._finish_batch(batch, vectors)

    def _encode_images(self, todo: list[tuple[str, list[int]]]) -> None:
        sources = self.dataset.sources
        batches = iter([todo[s:s + self.batch_size] for s in range(0, len(todo), self.batch_size)])
        pending: deque[tuple[list, list[Future]]] = deque()

        def submit_next() -> None:
            batch = next(batches, None)
            if batch is not None:
                futures = [self.pool.submit(_load_and_preprocess, self.encoder, sources[idx[0]]) for _, idx in batch]
                pending.append((batch, futures))

        for _ in range(PREFETCH_BATCHES + 1):
            submit_next()
        try:
            while pending:
                self.task.check()
                batch, futures = pending.popleft()
                submit_next()
                good, tensors = [], []
                for (key, idx), fut in zip(batch, futures, strict=True):
                    try:
                        tensor, warned = fut.result()
                        tensors.append(tensor)
                        good.append((key, idx))
                    except (ImageLoadError, OSError) as exc:
                        warned = getattr(exc, "warnings", [])
                        for i in idx:
                            self.problems.append(LoadProblem(sources[i], _reason(exc)))
                    for i in idx:
                        self.problems.extend(_warning_problem(sources[i], text) for text in warned)
                    self.done += len(idx)
                vectors = self.encoder.encode_preprocessed(tensors) if tensors else np.zeros((0, self.dim), np.float32)
                self._finish_batch(good, vectors)
        finally:  # cancelled or failed: drop the decoding queued ahead
            for _, futures in pending:
                for fut in futures:
                    fut.cancel()


def _try_hash_file(path: str) -> str | OSError:
    try:
        return hash_file(path)
    except OSError as exc:
        return exc


def resize_bound(encoder: Encoder) -> tuple[int, int]:
    """``(short side, input pixels)`` the shared decode holds ``encoder``'s images to: its own
    ``resize_bound`` attribute when it has one, else :data:`DEFAULT_RESIZE_BOUND` (64:1 at most)."""
    bound = getattr(encoder, "resize_bound", None)
    try:
        side, pixels = (int(v) for v in bound)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return DEFAULT_RESIZE_BOUND
    return (side, pixels) if side > 0 and pixels > 0 else DEFAULT_RESIZE_BOUND


def _load_and_preprocess(encoder: Encoder, path: str) -> tuple[Any, list[str]]:
    """Decode + preprocess one image (runs in the worker threads): ``(tensor, warnings)``.

    The size is checked against :func:`resize_bound` from the header, before decoding and
    before ``encoder.preprocess``.  The Python warnings raised on this thread meanwhile are
    returned (or attached to the error as ``.warnings``), to be reported against ``path``.

    An encoder that resizes its input down to a fixed size may set ``draft_size`` (pixels):
    JPEGs are then decoded at the smallest DCT scale still at least that large, much faster
    for big photos.
    """
    with capture_image_warnings() as warned:
        try:
            image = open_image(path, draft_size=getattr(encoder, "draft_size", None),
                               resize_bound=resize_bound(encoder))
            return encoder.preprocess(image), warned
        except (ImageLoadError, OSError) as exc:
            exc.warnings = warned  # type: ignore[union-attr]
            raise


def _warning_problem(path: str, text: str) -> LoadProblem:
    return LoadProblem(path, f"warning while decoding: {text}", "warning")


def _reason(exc: BaseException) -> str:
    """The user-facing reason, without repeating the path the LoadProblem already names."""
    if isinstance(exc, ImageLoadError):
        return exc.reason
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read file: {exc.strerror}"
    return str(exc) or type(exc).__name__


# -- choosing and loading a model -----------------------------------------------------------------
_LOADED: OrderedDict[tuple[str, str | None], Encoder] = OrderedDict()
_LOADED_LOCK = threading.Lock()  # guards _LOADED and _LOADING, held only for dictionary work
_LOADING: dict[tuple[str, str | None], threading.Lock] = {}  # one lock per model being loaded


def get_encoder(name: str, device: str | None = None) -> Encoder:
    """``registry.load_encoder(name, device)``, remembering the last few so weights load once.

    Loading takes the model's own lock, not a global one: a query for a loaded model never waits
    behind another model's download (the encoder process serves calls concurrently), and two
    callers of one model load it once."""
    key = (name, device)
    with _LOADED_LOCK:
        if key in _LOADED:
            _LOADED.move_to_end(key)
            return _LOADED[key]
        loading = _LOADING.setdefault(key, threading.Lock())
    with loading:
        with _LOADED_LOCK:
            if key in _LOADED:  # loaded by the caller we waited for
                return _LOADED[key]
        try:
            encoder = load_encoder(name, device=device)
        except BaseException:
            with _LOADED_LOCK:
                _LOADING.pop(key, None)  # callers waiting on it try for themselves
            raise
        with _LOADED_LOCK:
            _LOADED[key] = encoder
            _LOADING.pop(key, None)
            while len(_LOADED) > MAX_LOADED_ENCODERS:
                _LOADED.popitem(last=False)
        return encoder


def forget_encoders() -> None:
    """Drop the loaded encoders kept by :func:`get_encoder` (frees their memory)."""
    with _LOADED_LOCK:
        _LOADED.clear()


def embed(
    dataset: Dataset,
    model: str | Encoder | None = None,
    *,
    cache: CacheArg = None,
    device: str | None = None,
    progress=None,
    **encode_kw: Any,
) -> EmbeddingSet:
    """The dataset's embeddings: precomputed ones as they are, otherwise encoded with ``model``.

    ``model`` is a registry name (default: the default encoder for the dataset's modality) or a
    loaded :class:`Encoder`.  ``encode_kw`` (``batch_size``, ``num_workers``) go to
    :func:`encode_dataset`.  A name whose weights are not here while the model hub cannot be
    reached raises :class:`~embedview.encoders.registry.EncoderUnavailableError` before loading.
    """
    if dataset.embeddings is not None:
        if model is not None:
            name = model if isinstance(model, str) else model.name
            raise UnusableEncoderError(
                f"dataset {dataset.name!r} holds precomputed embeddings, which cannot be re-encoded with {name!r}; "
                "load the original images or texts to use a model"
            )
        return EmbeddingSet.from_dataset(dataset)
    if model is None:
        model = default_encoder_for(dataset.modality)
        if not model:
            raise UnusableEncoderError(f"no default encoder for {dataset.modality!r} data in dataset {dataset.name!r}")
    if isinstance(model, str):  # checked from the registry, before the model loads (seconds, or a download)
        spec = get_spec(model)
        if spec.modality != dataset.modality:
            raise UnusableEncoderError(f"encoder {model!r} takes {spec.modality} but dataset {dataset.name!r} "
                                       f"holds {dataset.modality}")
        # weights neither here nor downloadable (offline), or a missing local folder: say so now,
        # not after the hub libraries' retries (~75 s)
        ensure_available(model)
    task = TaskState.coerce(progress)
    if isinstance(model, str):
        task.set_fraction(0.0, f"loading {model}")
        encoder = get_encoder(model, device)
    else:
        encoder = model
    return encode_dataset(dataset, encoder, cache=cache, progress=task, **encode_kw)


def encode_queries(encoder: Encoder, texts: str | Sequence[str]) -> np.ndarray:
    """Text queries -> float32 ``(len(texts), dim)`` raw vectors in ``encoder``'s space."""
    if encoder.modality != "text" and not encoder.supports_text_query:
        raise ValueError(
            f"encoder {encoder.name!r} has no text tower, so text cannot search its {encoder.modality} vectors; "
            "use a CLIP model (clip:...) to search images by text"
        )
    batch = [texts] if isinstance(texts, str) else list(texts)
    if not batch:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.asarray(encoder.encode_text(batch), dtype=np.float32)
