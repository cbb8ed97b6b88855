"""Neighbour graphs in the embedding cache: round trip, all-or-nothing writes, kill -9, eviction.

Real SQLite files in a temporary folder, real arrays; the "crash" tests raise inside the writer
(a cancel between chunks) and kill a real child process mid-write with SIGKILL.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from embedview.core.cache import EmbeddingCache
from embedview.core.progress import Cancelled, TaskState


def graph_arrays(n=100, k=6, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, (n, k)).astype(np.int32)
    sc = np.sort(rng.random((n, k)).astype(np.float32), axis=1)[:, ::-1].copy()
    return idx, sc


def test_round_trip_in_chunks_read_only(tmp_path):
    idx, sc = graph_arrays()
    with EmbeddingCache(tmp_path) as cache:
        stored = cache.put_graph("fp", "cosine", True, idx, sc, {"decision": "exact", "recall_at_10": 1.0},
                                 chunk_rows=7)
        assert stored == idx.nbytes + sc.nbytes
    with EmbeddingCache(tmp_path) as cache:  # another "process": a fresh connection
        got = cache.get_graph("fp", "cosine", min_k=3)
        assert got is not None and got["exact"] and got["k"] == 6 and got["n"] == 100
        np.testing.assert_array_equal(got["indices"], idx)
        np.testing.assert_array_equal(got["scores"], sc)
        assert got["indices"].dtype == np.int32 and got["scores"].dtype == np.float32
        assert not got["indices"].flags.writeable
        assert got["info"] == {"decision": "exact", "recall_at_10": 1.0}
        with sqlite3.connect(tmp_path / "embeddings.sqlite3") as raw:
            assert raw.execute("SELECT COUNT(*) FROM graph_chunks").fetchone()[0] == 15  # ceil(100 / 7)
        # not enough neighbours, another metric, another exactness, other vectors: nothing
        assert cache.get_graph("fp", "cosine", min_k=7) is None
        assert cache.get_graph("fp", "euclidean") is None
        assert cache.get_graph("fp", "cosine", exact=False) is None
        assert cache.get_graph("other", "cosine") is None
        st = cache.stats()
        assert st["graphs"] == 1 and st["graph_bytes"] == idx.nbytes + sc.nbytes


def test_exact_preferred_and_replaced(tmp_path):
    a, sa = graph_arrays(seed=1)
    b, sb = graph_arrays(seed=2)
    with EmbeddingCache(tmp_path) as cache:
        cache.put_graph("fp", "cosine", False, a, sa, {"decision": "ivf"})
        assert cache.get_graph("fp", "cosine")["exact"] is False
        cache.put_graph("fp", "cosine", True, b, sb, {"decision": "exact"})
        got = cache.get_graph("fp", "cosine")
        assert got["exact"] is True
        np.testing.assert_array_equal(got["indices"], b)
        assert cache.get_graph("fp", "cosine", exact=False)["info"] == {"decision": "ivf"}
        cache.put_graph("fp", "cosine", True, a, sa)  # same key: replaced, not added
        np.testing.assert_array_equal(cache.get_graph("fp", "cosine", exact=True)["indices"], a)
        assert len(cache.graphs()) == 2


def test_exception_in_writer_leaves_previous_graph(tmp_path):
    a, sa = graph_arrays(seed=1)
    b, sb = graph_arrays(seed=2)
    with EmbeddingCache(tmp_path) as cache:
        cache.put_graph("fp", "cosine", True, a, sa, chunk_rows=10)
        seen = []

        def cancel_at_third(fraction, message):
            seen.append(message)
            if len(seen) == 3:
                task.cancel()

        task = TaskState(cancel_at_third, min_interval=0)
        with pytest.raises(Cancelled):
            cache.put_graph("fp", "cosine", True, b, sb, chunk_rows=10, progress=task)
        assert len(seen) == 3  # it did stop mid-write
        got = cache.get_graph("fp", "cosine")
        np.testing.assert_array_equal(got["indices"], a)  # the whole old graph, none of the new
        with pytest.raises(Cancelled):
            cache.put_graph("new", "cosine", True, b, sb, chunk_rows=10, progress=task)
        assert cache.get_graph("new", "cosine") is None
    with sqlite3.connect(tmp_path / "embeddings.sqlite3") as raw:
        assert raw.execute("SELECT COUNT(*) FROM graph_chunks WHERE fingerprint='new'").fetchone()[0] == 0


def test_kill_9_mid_write_leaves_no_partial_graph(tmp_path):
    """A child process stores a graph and SIGKILLs itself after its third chunk is written."""
    a, sa = graph_arrays(n=2000, k=8, seed=1)
    with EmbeddingCache(tmp_path) as cache:
        cache.put_graph("old", "cosine", True, a, sa)
    script = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        from embedview.core.cache import EmbeddingCache
        from embedview.core.progress import TaskState
        rng = np.random.default_rng(5)
        idx = rng.integers(0, 2000, (2000, 8)).astype(np.int32)
        sc = rng.random((2000, 8)).astype(np.float32)
        calls = []
        def die(fraction, message):
            calls.append(message)
            if len(calls) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
        cache = EmbeddingCache({str(tmp_path)!r})
        task = TaskState(die, min_interval=0)  # every chunk reported: killed after the third
        cache.put_graph("old", "cosine", True, idx, sc, chunk_rows=100, progress=task)
        print("not killed")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "not killed" not in proc.stdout
    with EmbeddingCache(tmp_path) as cache:
        got = cache.get_graph("old", "cosine")
        np.testing.assert_array_equal(got["indices"], a)  # the previous graph, whole
        assert [g["fingerprint"] for g in cache.graphs()] == ["old"]
    with sqlite3.connect(tmp_path / "embeddings.sqlite3") as raw:
        assert raw.execute("SELECT COUNT(*) FROM graph_chunks").fetchone()[0] == 1  # 2000 rows in one chunk


def test_incomplete_rows_are_dropped_not_served(tmp_path):
    a, sa = graph_arrays()
    with EmbeddingCache(tmp_path) as cache:
        cache.put_graph("fp", "cosine", True, a, sa, chunk_rows=10)
    with sqlite3.connect(tmp_path / "embeddings.sqlite3") as raw:  # damage it from outside
        raw.execute("DELETE FROM graph_chunks WHERE start=30")
    with EmbeddingCache(tmp_path) as cache:
        assert cache.get_graph("fp", "cosine") is None
        assert cache.graphs() == []  # the header went too


def test_source_replaces_older_vectors_and_lru_eviction(tmp_path):
    a, sa = graph_arrays(n=100, k=5)  # 4000 bytes each
    with EmbeddingCache(tmp_path) as cache:
        cache.put_graph("v1", "cosine", True, a, sa, source="data.csv#enc")
        cache.put_graph("v1", "euclidean", True, a, sa, source="data.csv#enc")
        cache.put_graph("other", "cosine", True, a, sa, source="other.csv#enc")
        cache.put_graph("v2", "cosine", True, a, sa, source="data.csv#enc")  # data.csv changed
        keys = {(g["fingerprint"], g["metric"]) for g in cache.graphs()}
        assert keys == {("v2", "cosine"), ("v1", "euclidean"), ("other", "cosine")}
        cache.get_graph("other", "cosine")  # recently used
        cache.put_graph("v3", "dot", True, a, sa, max_graph_bytes=3 * 4000)
        keys = {g["fingerprint"] + "/" + g["metric"] for g in cache.graphs()}
        assert len(keys) == 3 and "v3/dot" in keys and "other/cosine" in keys
        assert cache.clear() == 0  # no vectors, but the graphs go with them
        assert cache.graphs() == [] and cache.stats()["graphs"] == 0


def test_bad_shapes_refused(tmp_path):
    a, sa = graph_arrays()
    with EmbeddingCache(tmp_path) as cache:
        with pytest.raises(ValueError, match="same"):
            cache.put_graph("fp", "cosine", True, a, sa[:, :3])
        with pytest.raises(ValueError, match="out of range"):
            cache.put_graph("fp", "cosine", True, a + 1000, sa)
        assert cache.graphs() == []


def test_format_change_ignored(tmp_path):
    a, sa = graph_arrays()
    with EmbeddingCache(tmp_path) as cache:
        cache.put_graph("fp", "cosine", True, a, sa)
    with sqlite3.connect(tmp_path / "embeddings.sqlite3") as raw:
        raw.execute("UPDATE graphs SET format=999")
    with EmbeddingCache(tmp_path) as cache:
        assert cache.get_graph("fp", "cosine") is None
    assert os.path.exists(tmp_path / "embeddings.sqlite3")
