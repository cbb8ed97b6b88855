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

Neighbour graphs (:meth:`EmbeddingCache.put_graph` / :meth:`EmbeddingCache.get_graph`, used by
:mod:`embedview.core.graph`) live in the same database: one header row per
``(fingerprint, metric, exact)`` -- ``fingerprint`` is a SHA-256 of the vectors searched
(:func:`embedview.core.graph.vectors_fingerprint`), so changed vectors never meet an old graph --
and the graph's ``indices`` (int32) and ``scores`` (float32) as raw bytes in blobs of at most
``GRAPH_CHUNK_BYTES`` each.  The same database rather than a sidecar ``.npy``: the header and every
chunk are written in one transaction, so a cancel, an exception or ``kill -9`` mid-write leaves
either the whole previous state or the whole new graph (WAL), with no orphan file to clean up; it
moves with ``EMBEDVIEW_CACHE_DIR`` and is cleared with the vectors.  Storing a graph for a
``source`` (e.g. the data's paths and encoder) drops that source's graphs of other vectors, and
the least recently used graphs go beyond ``max_graph_bytes`` (default 4 GiB).

Thread safety: one connection guarded by a lock; the pipeline writes from its worker thread
while the GUI reads from another.  Other processes (the CLI beside the GUI) share the file
through SQLite's own locking.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
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
SCHEMA_VERSION = 2  # 2: the graph tables
#: format of a stored graph (bump when the layout of the blobs changes: older rows are ignored)
GRAPH_FORMAT = 1
#: largest blob of one graph chunk (indices or scores)
GRAPH_CHUNK_BYTES = 4 << 20
#: stored graphs beyond this total size are dropped, least recently used first
MAX_GRAPH_BYTES = 4 << 30
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
CREATE TABLE IF NOT EXISTS graphs (
    fingerprint TEXT NOT NULL,
    metric      TEXT NOT NULL,
    exact       INTEGER NOT NULL,
    format      INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    k           INTEGER NOT NULL,
    source      TEXT,
    info        TEXT NOT NULL,
    nbytes      INTEGER NOT NULL,
    created     REAL NOT NULL,
    used        REAL NOT NULL,
    PRIMARY KEY (fingerprint, metric, exact)
);
CREATE TABLE IF NOT EXISTS graph_chunks (
    fingerprint TEXT NOT NULL,
    metric      TEXT NOT NULL,
    exact       INTEGER NOT NULL,
    start       INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    indices     BLOB NOT NULL,
    scores      BLOB NOT NULL,
    PRIMARY KEY (fingerprint, metric, exact, start)
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
        self._write(lambda conn: conn.executemany(sql, rows), "vectors")
        return len(rows)

    # -- neighbour graphs ---------------------------------------------------------------------
    def _write(self, work, what: str):
        """Run ``work(conn)`` in one IMMEDIATE transaction (all or nothing): vectors and graphs alike.
        A full disk is a :class:`CacheError` naming the cache (every transaction committed before
        is kept); a corrupt database is recovered once and the work retried."""
        with self._lock:
            for attempt in (0, 1):
                conn = self._db()
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        result = work(conn)
                    except BaseException:
                        if conn.in_transaction:  # SQLite rolls back by itself on a full disk
                            conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    return result
                except sqlite3.DatabaseError as exc:
                    failure = _write_failure(exc)
                    if failure is not None:
                        err = CacheError(
                            f"embedding cache {self.path}: cannot store {what}: {failure[1]} ({exc}); free space "
                            f"there, move the cache with {ENV_DIR}=FOLDER, or run with --no-cache")
                        err.errno = failure[0]
                        err.filename = str(self.path)
                        raise err from exc
                    if attempt or not _is_corruption(exc):
                        raise
                    self._recover(exc)
        return None  # pragma: no cover - the loop always returns or raises

    @staticmethod
    def _drop_graph(conn: sqlite3.Connection, fingerprint: str, metric: str, exact: int) -> None:
        key = (fingerprint, metric, exact)
        conn.execute("DELETE FROM graph_chunks WHERE fingerprint=? AND metric=? AND exact=?", key)
        conn.execute("DELETE FROM graphs WHERE fingerprint=? AND metric=? AND exact=?", key)

    def put_graph(self, fingerprint: str, metric: str, exact: bool, indices: np.ndarray, scores: np.ndarray,
                  info: Mapping[str, object] | None = None, *, source: str | None = None,
                  progress=None, chunk_rows: int | None = None,
                  max_graph_bytes: int | None = None) -> int:
        """Store a neighbour graph ``(indices (N, k), scores (N, k))`` of the vectors ``fingerprint``.

        One transaction: the previous graph of the same ``(fingerprint, metric, exact)`` is
        replaced, and with ``source`` every graph of that source and metric for *other* vectors is
        dropped (the data changed: they can never be asked for again).  ``progress`` is reported
        (and a cancel honoured: nothing is stored then) between chunks of ``chunk_rows`` rows
        (default: blobs of at most ``GRAPH_CHUNK_BYTES``).  Afterwards the least recently used
        graphs beyond ``max_graph_bytes`` (default ``MAX_GRAPH_BYTES``) are dropped.  Returns the
        bytes stored.
        """
        from embedview.core.progress import TaskState

        task = TaskState.coerce(progress)
        idx = np.asarray(indices)
        sc = np.asarray(scores)
        if idx.ndim != 2 or sc.shape != idx.shape:
            raise ValueError(f"a graph needs indices and scores of the same (N, k) shape, got {idx.shape} "
                             f"and {sc.shape}")
        n, k = idx.shape
        if idx.size and (idx.min() < -1 or idx.max() >= n):
            raise ValueError(f"graph indices out of range for {n} items")
        exact_i = int(bool(exact))
        rows = int(chunk_rows) if chunk_rows else max(1, GRAPH_CHUNK_BYTES // max(1, 4 * k))
        nbytes = 8 * n * k
        meta = json.dumps(dict(info or {}), default=_json_default)
        now = time.time()

        def work(conn: sqlite3.Connection) -> int:
            self._drop_graph(conn, fingerprint, metric, exact_i)
            if source is not None:
                stale = conn.execute("SELECT fingerprint, exact FROM graphs WHERE source=? AND metric=? "
                                     "AND fingerprint<>?", (source, metric, fingerprint)).fetchall()
                for fp, ex in stale:
                    self._drop_graph(conn, fp, metric, ex)
            n_chunks = max(1, -(-n // rows))
            for c, start in enumerate(range(0, n, rows)):
                stop = min(start + rows, n)
                conn.execute(
                    "INSERT INTO graph_chunks (fingerprint, metric, exact, start, rows, indices, scores) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (fingerprint, metric, exact_i, start, stop - start,
                     np.ascontiguousarray(idx[start:stop], dtype="<i4").tobytes(),
                     np.ascontiguousarray(sc[start:stop], dtype="<f4").tobytes()))
                task.report(c + 1, n_chunks, f"Storing the neighbour graph: {stop:,} of {n:,} items")
            task.check()  # a cancel during the last report: nothing is committed
            conn.execute(  # the header last: a graph without it is never read
                "INSERT INTO graphs (fingerprint, metric, exact, format, n, k, source, info, nbytes, created, used) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (fingerprint, metric, exact_i, GRAPH_FORMAT, n, k, source, meta, nbytes, now, now))
            return nbytes

        stored = int(self._write(work, "the neighbour graph") or 0)
        self._evict_graphs(MAX_GRAPH_BYTES if max_graph_bytes is None else int(max_graph_bytes))
        return stored

    def _evict_graphs(self, limit: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            total = 0
            for fp, metric, ex, nb in conn.execute(
                    "SELECT fingerprint, metric, exact, nbytes FROM graphs ORDER BY used DESC").fetchall():
                total += nb
                if total > limit:
                    self._drop_graph(conn, fp, metric, ex)

        self._write(work, "the neighbour graph")

    def get_graph(self, fingerprint: str, metric: str, min_k: int = 1,
                  exact: bool | None = None) -> dict[str, object] | None:
        """The stored graph of the vectors ``fingerprint`` with at least ``min_k`` neighbours per item.

        ``exact``: True accepts only an exact graph, False only an approximate one, None either
        (an exact one first).  Returns ``{"indices" (N, k) int32, "scores" (N, k) float32,
        "exact", "n", "k", "info", "source"}`` (read-only arrays, the stored ``k`` which may exceed
        ``min_k``), or None when there is none, or when what is stored is incomplete or of another
        format (that row is then dropped).
        """
        where = "fingerprint=? AND metric=? AND format=? AND k>=?"
        args: list[object] = [fingerprint, metric, GRAPH_FORMAT, int(min_k)]
        if exact is not None:
            where += " AND exact=?"
            args.append(int(bool(exact)))
        with self._lock:
            try:
                conn = self._db()
                head = conn.execute(f"SELECT exact, n, k, source, info FROM graphs WHERE {where} "
                                    "ORDER BY exact DESC, k ASC LIMIT 1", args).fetchone()
                if head is None:
                    return None
                ex, n, k, source, meta = head
                idx = np.empty((n, k), dtype=np.int32)
                sc = np.empty((n, k), dtype=np.float32)
                expected = 0
                ok = True
                cur = conn.execute("SELECT start, rows, indices, scores FROM graph_chunks WHERE fingerprint=? "
                                   "AND metric=? AND exact=? ORDER BY start", (fingerprint, metric, ex))
                for start, rows, bi, bs in cur:
                    if start != expected or len(bi) != 4 * rows * k or len(bs) != 4 * rows * k or start + rows > n:
                        ok = False
                        break
                    idx[start:start + rows] = np.frombuffer(bi, dtype="<i4").reshape(rows, k)
                    sc[start:start + rows] = np.frombuffer(bs, dtype="<f4").reshape(rows, k)
                    expected = start + rows
                cur.close()
                if not ok or expected != n:
                    self._write(lambda c: self._drop_graph(c, fingerprint, metric, ex), "the neighbour graph")
                    return None
                with contextlib.suppress(sqlite3.Error):  # least-recently-used bookkeeping only
                    conn.execute("UPDATE graphs SET used=? WHERE fingerprint=? AND metric=? AND exact=?",
                                 (time.time(), fingerprint, metric, ex))
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    raise
                self._recover(exc)
                return None
        idx.flags.writeable = False
        sc.flags.writeable = False
        return {"indices": idx, "scores": sc, "exact": bool(ex), "n": int(n), "k": int(k),
                "info": json.loads(meta), "source": source}

    def graphs(self) -> list[dict[str, object]]:
        """Every stored graph's header: fingerprint, metric, exact, n, k, source, bytes, created, used."""
        with self._lock:
            rows = self._db().execute("SELECT fingerprint, metric, exact, n, k, source, nbytes, created, used "
                                      "FROM graphs ORDER BY used DESC").fetchall()
        names = ("fingerprint", "metric", "exact", "n", "k", "source", "nbytes", "created", "used")
        return [dict(zip(names, r, strict=True)) for r in rows]

    def clear_graphs(self, fingerprint: str | None = None) -> int:
        """Drop the stored graphs of the vectors ``fingerprint`` (or all of them).  Returns how many."""
        def work(conn: sqlite3.Connection) -> int:
            if fingerprint is None:
                conn.execute("DELETE FROM graph_chunks")
                return conn.execute("DELETE FROM graphs").rowcount
            conn.execute("DELETE FROM graph_chunks WHERE fingerprint=?", (fingerprint,))
            return conn.execute("DELETE FROM graphs WHERE fingerprint=?", (fingerprint,)).rowcount

        return int(self._write(work, "the neighbour graph") or 0)

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
                conn.execute("DELETE FROM graph_chunks")  # graphs are derived from vectors: they go too
                conn.execute("DELETE FROM graphs")
                conn.execute("VACUUM")  # give the disk space back
            return removed

    # -- information -----------------------------------------------------------------------
    def stats(self, cache_id: str | None = None) -> dict[str, object]:
        """``{"path", "hits", "misses", "entries", "size_bytes", "encoders": {cache_id: count}, "graphs",
        "graph_bytes"}`` (``graphs``: stored neighbour graphs, ``graph_bytes`` their arrays' size).

        ``entries`` counts the rows of ``cache_id`` when given, else of every encoder;
        ``size_bytes`` is the database plus its WAL file on disk (0 when in memory).
        """
        with self._lock:
            per = dict(self._db().execute("SELECT cache_id, COUNT(*) FROM vectors GROUP BY cache_id").fetchall())
            n_graphs, graph_bytes = self._db().execute(
                "SELECT COUNT(*), COALESCE(SUM(nbytes), 0) FROM graphs").fetchone()
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
            "graphs": int(n_graphs),
            "graph_bytes": int(graph_bytes),
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


def _json_default(value):
    """numpy scalars (and anything else) in a graph's info, as JSON."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _is_corruption(exc: sqlite3.Error) -> bool:
    """True for errors meaning the file is not a usable database (as opposed to busy/locked)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
    msg = str(exc).lower()
    return "malformed" in msg or "not a database" in msg
