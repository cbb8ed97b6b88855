"""The embedding cache: vectors already computed, keyed by (item content, encoder).

One SQLite database (default ``<user cache dir>/embedview/embeddings.sqlite3``; the folder can be
moved with the environment variable ``EMBEDVIEW_CACHE_DIR``) holding one row per
``(cache_id, key)``: ``cache_id`` names the encoder's weights and preprocessing
(:attr:`embedview.encoders.base.Encoder.cache_id`), ``key`` is a content hash of the item
(:func:`hash_file` for images, :func:`hash_text` for text).  Renaming or moving files keeps
their vectors; editing them, or changing the encoder, does not.

Durability: WAL journal with ``synchronous=NORMAL`` and one transaction per
:meth:`EmbeddingCache.put_many` call, so a process killed mid-encode leaves a valid database
holding every batch that finished.  A cache file that is not a readable SQLite database is
moved aside (``embeddings.sqlite3.corrupt-<time>``) with a warning and a fresh one is started:
the cache can always be rebuilt, so it never stops the program.

Thread safety: one connection guarded by a lock; the pipeline writes from its worker thread
while the GUI reads from another.  Other processes (the CLI beside the GUI) share the file
through SQLite's own locking.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

ENV_DIR = "EMBEDVIEW_CACHE_DIR"
FILENAME = "embeddings.sqlite3"
SCHEMA_VERSION = 1
#: keys per ``IN (...)`` query; below SQLite's historical 999-parameter limit
_CHUNK = 900
_HASH_BYTES = 20  # 160-bit blake2b: collisions are not a practical concern

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    cache_id TEXT NOT NULL,
    key      TEXT NOT NULL,
    dim      INTEGER NOT NULL,
    vec      BLOB NOT NULL,
    PRIMARY KEY (cache_id, key)
);
"""


class CacheError(OSError):
    """The cache cannot be written (a full disk, a read-only or vanished file): the message names
    the cache file and what to do; ``errno`` is ``ENOSPC`` for a full disk."""

    def __str__(self) -> str:  # the message alone, also once ``errno`` / ``filename`` are set
        return str(self.args[0]) if self.args else super().__str__()


#: SQLite result codes (the low byte) that mean "this file cannot take writes", not "busy"
_WRITE_FAILURES = {13: (errno.ENOSPC, "the disk is full"), 8: (errno.EROFS, "the cache file is read-only"),
                   10: (errno.EIO, "a disk I/O error"), 14: (errno.EIO, "the cache file cannot be opened")}


def _write_failure(exc: sqlite3.Error) -> tuple[int, str] | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return _WRITE_FAILURES.get(code & 0xFF)
    msg = str(exc).lower()
    if "disk is full" in msg or "database or disk is full" in msg:
        return _WRITE_FAILURES[13]
    if "readonly" in msg or "read-only" in msg:
        return _WRITE_FAILURES[8]
    if "disk i/o error" in msg:
        return _WRITE_FAILURES[10]
    return None


# -- content hashes ----------------------------------------------------------------------------
def hash_file(path: str | os.PathLike) -> str:
    """Hex blake2b digest of a file's bytes, read in chunks (the file is opened read-only)."""
    h = hashlib.blake2b(digest_size=_HASH_BYTES)
    with open(path, "rb") as f:  # (hashlib.file_digest would need Python 3.11; we support 3.10)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_text(text: str) -> str:
    """Hex blake2b digest of ``text`` encoded as UTF-8."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=_HASH_BYTES).hexdigest()


def cache_dir(*parts: str) -> Path:
    """embedview's cache folder (``$EMBEDVIEW_CACHE_DIR``, else the platform's user cache
    folder), joined with ``parts``.  The one place that decides where embedview writes: the
    embedding database, the ONNX export, numba's compiled code and the demo data live below it."""
    root = os.environ.get(ENV_DIR)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("embedview")
    return Path(root, *parts)


def default_cache_path() -> Path:
    """``$EMBEDVIEW_CACHE_DIR/embeddings.sqlite3``, else the platform's user cache folder."""
    return cache_dir(FILENAME)


# -- the cache ---------------------------------------------------------------------------------
class EmbeddingCache:
    """Persistent store of encoder outputs keyed by ``(cache_id, content key)``.

    Parameters
    ----------
    path : str or Path, optional
        Database file (or a folder, which then holds ``embeddings.sqlite3``).  Defaults to
        :func:`default_cache_path`.

    Use as a context manager, or call :meth:`close`.  ``hits`` and ``misses`` count the keys
    looked up through this instance.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        p = Path(path) if path is not None else default_cache_path()
        if p.is_dir():
            p = p / FILENAME
        self.path: Path = p
        self.hits = 0
        self.misses = 0
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._in_memory = False
        self._open()

    # -- opening and recovery ------------------------------------------------------------
    def _connect(self, target: str) -> sqlite3.Connection:
        conn = sqlite3.connect(target, timeout=30.0, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect(str(self.path))
            return
        except sqlite3.DatabaseError as exc:
            if not _is_corruption(exc):  # unwritable folder, full disk ...: no persistent cache
                self._use_memory(f"{self.path}: {exc}")
                return
            self._move_aside(exc)
        except OSError as exc:
            self._use_memory(f"{self.path.parent}: {exc}")
            return
        try:
            self._conn = self._connect(str(self.path))
        except (sqlite3.Error, OSError) as exc:
            self._use_memory(f"{self.path}: {exc}")

    def _use_memory(self, reason: str) -> None:
        warnings.warn(f"embedding cache unavailable ({reason}); vectors are kept in memory only", RuntimeWarning,
                      stacklevel=2)
        self._in_memory = True
        self._conn = self._connect(":memory:")

    def _move_aside(self, exc: Exception) -> None:
        """Rename an unreadable database (and its WAL/SHM files) so a fresh one can start."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        moved = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                os.replace(src, Path(str(moved) + suffix))
        warnings.warn(
            f"embedding cache {self.path} was unreadable ({exc}); moved it to {moved.name} and started a new one",
            RuntimeWarning,
            stacklevel=2,
        )

    def _recover(self, exc: Exception) -> None:
        """Called when a query finds the database corrupt: replace it with a fresh one."""
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
        if self._in_memory:
            self._conn = self._connect(":memory:")
            return
        self._move_aside(exc)
        self._open()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError(f"embedding cache {self.path} is closed")
        return self._conn

    # -- reading ---------------------------------------------------------------------------
    def _rows(self, cache_id: str, keys: Sequence[str]) -> Iterable[tuple[str, int, bytes]]:
        conn = self._db()
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from conn.execute(
                f"SELECT key, dim, vec FROM vectors WHERE cache_id=? AND key IN ({marks})", (cache_id, *chunk)
            )

    def _fetch(self, cache_id: str, keys: Sequence[str]) -> dict[str, tuple[int, bytes]]:
        unique = list(dict.fromkeys(keys))
        with self._lock:
            try:
                found = {k: (d, v) for k, d, v in self._rows(cache_id, unique) if len(v) == 4 * d}
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    raise
                self._recover(exc)
                found = {}
            hits = sum(1 for k in keys if k in found)
            self.hits += hits
            self.misses += len(keys) - hits
        return found

    def get_many(self, cache_id: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors for the ``keys`` that have one: ``{key: float32 1-D array}`` (read-only)."""
        return {k: np.frombuffer(v, dtype=np.float32) for k, (_, v) in self._fetch(cache_id, list(keys)).items()}

    def get_matrix(self, cache_id: str, keys: Sequence[str], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Cached vectors in the order of ``keys``: ``(matrix (N, dim) float32, found (N,) bool)``.

        Rows of keys without a cached ``dim``-long vector are zero and ``found`` is False there.
        """
        keys = list(keys)
        rows = self._fetch(cache_id, keys)
        out = np.zeros((len(keys), dim), dtype=np.float32)
        idx = [i for i, k in enumerate(keys) if k in rows and rows[k][0] == dim]
        if idx:
            out[idx] = np.frombuffer(b"".join(rows[keys[i]][1] for i in idx), dtype=np.float32).reshape(len(idx), dim)
        found = np.zeros(len(keys), dtype=bool)
        found[idx] = True
        return out, found

    # -- writing ---------------------------------------------------------------------------
    def put_many(
        self, cache_id: str, items: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]]
    ) -> int:
        """Store vectors ``{key: 1-D array}`` in one transaction (all or nothing).  Returns the count."""
        pairs = items.items() if isinstance(items, Mapping) else items
        rows = []
        for key, vec in pairs:
            v = np.ascontiguousarray(vec, dtype=np.float32).reshape(-1)
            rows.append((cache_id, str(key), int(v.size), v.tobytes()))
        if not rows:
            return 0
        sql = "INSERT OR REPLACE INTO vectors (cache_id, key, dim, vec) VALUES (?, ?, ?, ?)"
        with self._lock:
            for attempt in (0, 1):
                conn = self._db()
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        conn.executemany(sql, rows)
                    except BaseException:
                        if conn.in_transaction:  # SQLite rolls back by itself on a full disk
                            conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    return len(rows)
                except sqlite3.DatabaseError as exc:
                    failure = _write_failure(exc)
                    if failure is not None:  # every batch committed before this one is kept
                        err = CacheError(
                            f"embedding cache {self.path}: cannot store vectors: {failure[1]} ({exc}); free space "
                            f"there, move the cache with {ENV_DIR}=FOLDER, or run with --no-cache")
                        err.errno = failure[0]
                        err.filename = str(self.path)
                        raise err from exc
                    if attempt or not _is_corruption(exc):
                        raise
                    self._recover(exc)
        return 0  # pragma: no cover - the loop always returns or raises

    def clear(self, cache_id: str | None = None) -> int:
        """Delete the vectors of one encoder (or all of them).  Returns how many rows went."""
        with self._lock:
            conn = self._db()
            if cache_id is None:
                cur = conn.execute("DELETE FROM vectors")
            else:
                cur = conn.execute("DELETE FROM vectors WHERE cache_id=?", (cache_id,))
            removed = cur.rowcount
            if cache_id is None:
                conn.execute("VACUUM")  # give the disk space back
            return removed

    # -- information -----------------------------------------------------------------------
    def stats(self, cache_id: str | None = None) -> dict[str, object]:
        """``{"path", "hits", "misses", "entries", "size_bytes", "encoders": {cache_id: count}}``.

        ``entries`` counts the rows of ``cache_id`` when given, else of every encoder;
        ``size_bytes`` is the database plus its WAL file on disk (0 when in memory).
        """
        with self._lock:
            per = dict(self._db().execute("SELECT cache_id, COUNT(*) FROM vectors GROUP BY cache_id").fetchall())
        size = 0
        if not self._in_memory:
            for suffix in ("", "-wal"):
                try:
                    size += os.path.getsize(str(self.path) + suffix)
                except OSError:
                    pass
        return {
            "path": ":memory:" if self._in_memory else str(self.path),
            "hits": self.hits,
            "misses": self.misses,
            "entries": per.get(cache_id, 0) if cache_id is not None else sum(per.values()),
            "size_bytes": size,
            "encoders": per,
        }

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the database (idempotent).  Checkpoints the WAL into the main file."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    pass
                self._conn.close()
                self._conn = None

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = ":memory:" if self._in_memory else str(self.path)
        return f"<EmbeddingCache {where}{' closed' if self._conn is None else ''}>"


def _is_corruption(exc: sqlite3.Error) -> bool:
    """True for errors meaning the file is not a usable database (as opposed to busy/locked)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
    msg = str(exc).lower()
    return "malformed" in msg or "not a database" in msg
