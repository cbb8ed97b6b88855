"""Shared thumbnail cache: image items decoded off the UI thread, kept in an LRU of QPixmaps.

``get(i)`` returns the pixmap of item ``i`` when it is ready, otherwise ``None`` and queues it;
``ready(i)`` is emitted once it is there.  Requests are served newest first (what the user
scrolled to now matters more than what scrolled past), and the queue is bounded, so scrolling
through a million rows never builds a backlog.  Decoding (``core.images.make_thumbnail``) and
the QImage are made in worker threads; the QPixmap (a GUI-thread-only object) is made when
the result arrives on the GUI thread.  Text datasets have no thumbnails (``get`` gives None).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage, QPixmap

from embedview.core.dataset import Dataset
from embedview.core.images import ImageLoadError, make_thumbnail

log = logging.getLogger(__name__)


class ThumbnailCache(QObject):
    """LRU of thumbnails for the items of one dataset.

    Parameters
    ----------
    size : int
        Longer side of a thumbnail in pixels.
    capacity : int
        Pixmaps kept (96 px RGB: ~27 kB each, so 2000 is ~55 MB).
    workers : int
        Decoding threads.
    max_pending : int
        Queued requests beyond this drop the oldest ones (they scrolled out of view).
    """

    ready = Signal(int)
    _decoded = Signal(int, int, object)  # generation, index, QImage or None

    def __init__(self, size: int = 96, capacity: int = 2000, workers: int = 2, max_pending: int = 512,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = int(size)
        self.capacity = int(capacity)
        self.max_pending = int(max_pending)
        self._n_workers = max(1, int(workers))
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self._failed: dict[int, str] = {}
        self._pending: OrderedDict[int, str] = OrderedDict()  # index -> path, newest last
        self._in_flight: set = set()
        self._sources: list[str] = []
        self.dataset: Dataset | None = None
        self._generation = 0
        self._cond = threading.Condition()
        self._stop = False
        self._threads: list[threading.Thread] = []
        self._decoded.connect(self._on_decoded)

    # -- dataset ------------------------------------------------------------------------------
    def set_dataset(self, dataset: Dataset | None) -> None:
        """Forget everything; thumbnails are served for ``dataset`` (images only) from now on."""
        with self._cond:
            self._generation += 1
            self.dataset = dataset
            self._pending.clear()
            self._in_flight.clear()
            self._sources = list(dataset.sources) if dataset is not None and dataset.modality == "image" else []
        self._pixmaps.clear()
        self._failed.clear()

    # -- access ---------------------------------------------------------------------------------
    def get(self, index: int) -> QPixmap | None:
        """The thumbnail of item ``index``, or None (not an image, failed, or being decoded)."""
        pix = self._pixmaps.get(index)
        if pix is not None:
            self._pixmaps.move_to_end(index)
            return pix
        if index in self._failed or not 0 <= index < len(self._sources):
            return None
        self._request(index)
        return None

    def error(self, index: int) -> str | None:
        """Why item ``index`` has no thumbnail, if decoding failed."""
        return self._failed.get(index)

    def __contains__(self, index: int) -> bool:
        return index in self._pixmaps

    def _request(self, index: int) -> None:
        with self._cond:
            if self._stop or index in self._in_flight:
                return
            if index in self._pending:
                self._pending.move_to_end(index)
            else:
                self._pending[index] = self._sources[index]
                while len(self._pending) > self.max_pending:
                    self._pending.popitem(last=False)
            self._ensure_threads()
            self._cond.notify()

    # -- workers --------------------------------------------------------------------------------
    def _ensure_threads(self) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < self._n_workers:
            t = threading.Thread(target=self._work, name="embedview-thumbnails", daemon=True)
            self._threads.append(t)
            t.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                index, path = self._pending.popitem(last=True)  # newest request first
                self._in_flight.add(index)
                generation = self._generation
            try:
                image: object | None = _to_qimage(make_thumbnail(path, self.size))
            except (ImageLoadError, OSError, ValueError) as exc:
                log.debug("no thumbnail for %s: %s", path, exc)
                image = str(getattr(exc, "reason", exc))
            except Exception as exc:  # noqa: BLE001 - a broken file must not kill the worker
                log.warning("thumbnail of %s failed: %s", path, exc)
                image = str(exc)
            with self._cond:
                if self._stop:
                    return
            self._decoded.emit(generation, index, image)

    def _on_decoded(self, generation: int, index: int, image: object) -> None:
        with self._cond:
            self._in_flight.discard(index)
            if generation != self._generation:
                return
        if isinstance(image, QImage):
            self._pixmaps[index] = QPixmap.fromImage(image)
            while len(self._pixmaps) > self.capacity:
                self._pixmaps.popitem(last=False)
        else:
            self._failed[index] = str(image)
        self.ready.emit(index)

    def alive_threads(self) -> list[threading.Thread]:
        return [t for t in self._threads if t.is_alive()]

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop the decoding threads (each finishes the thumbnail it is on).  True if all ended."""
        with self._cond:
            self._stop = True
            self._pending.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)
        return not self.alive_threads()


def _to_qimage(im) -> QImage:
    """PIL RGB image -> a QImage that owns its pixels (safe to hand to another thread)."""
    im = im.convert("RGB") if im.mode != "RGB" else im
    data = im.tobytes()
    w, h = im.size
    return QImage(data, w, h, 3 * w, QImage.Format_RGB888).copy()


def shared_thumbnails(state) -> ThumbnailCache:
    """The one :class:`ThumbnailCache` of an ``AppModel`` (created on first use), following its
    dataset.  Every view asks for it here, so each thumbnail is decoded once for all of them."""
    cache = getattr(state, "_embedview_thumbnails", None)
    if cache is None:
        cache = ThumbnailCache(size=128)  # kept alive by the model it follows
        state._embedview_thumbnails = cache

        def follow() -> None:
            if cache.dataset is not state.dataset:
                cache.set_dataset(state.dataset)

        state.dataset_changed.connect(follow)
        state.embeddings_changed.connect(lambda _name: follow())  # encoding may drop items
        follow()
    return cache
