"""EmbeddingCache: round trips, persistence, recovery from corrupt files, threads, hashes."""

import hashlib
import os
import sqlite3
import threading

import numpy as np
import pytest

from embedview.core.cache import EmbeddingCache, default_cache_path, hash_file, hash_text


def _vectors(n, dim, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def _keys(n, prefix="item"):
    return [hash_text(f"{prefix} {i}") for i in range(n)]


def test_round_trip_order_and_counts(tmp_path):
    keys, X = _keys(2500), _vectors(2500, 48)  # more keys than one IN (...) chunk
    with EmbeddingCache(tmp_path / "c.sqlite3") as cache:
        assert cache.put_many("enc-a", dict(zip(keys[:2000], X[:2000], strict=False))) == 2000
        got = cache.get_many("enc-a", keys)
        assert set(got) == set(keys[:2000])
        assert all(np.array_equal(got[k], X[i]) for i, k in enumerate(keys[:2000]))
        assert all(v.dtype == np.float32 for v in got.values())
        # matrix in the caller's order, with a repeated key and misses in between
        asked = [keys[2100], keys[5], keys[1999], keys[5], keys[2400]]
        M, found = cache.get_matrix("enc-a", asked, 48)
        assert found.tolist() == [False, True, True, True, False]
        assert np.array_equal(M[1], X[5]) and np.array_equal(M[3], X[5]) and np.array_equal(M[2], X[1999])
        assert not M[0].any() and not M[4].any()
        # same keys under another encoder are separate
        assert cache.get_many("enc-b", keys[:10]) == {}
        st = cache.stats("enc-a")
        assert st["entries"] == 2000
        assert st["hits"] == 2000 + 3 and st["misses"] == 500 + 2 + 10
        assert st["size_bytes"] > 2000 * 48 * 4


def test_wrong_dimension_is_a_miss(tmp_path):
    with EmbeddingCache(tmp_path / "c.sqlite3") as cache:
        cache.put_many("enc", {"k": np.ones(3, np.float32)})
        _, found = cache.get_matrix("enc", ["k"], 4)
        assert not found[0]
        M, found = cache.get_matrix("enc", ["k"], 3)
        assert found[0] and M[0].tolist() == [1.0, 1.0, 1.0]


def test_persists_and_env_var_sets_default_location(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path / "cachedir"))
    assert default_cache_path() == tmp_path / "cachedir" / "embeddings.sqlite3"
    keys, X = _keys(50), _vectors(50, 8)
    with EmbeddingCache() as cache:
        cache.put_many("enc", zip(keys, X, strict=False))  # pairs work as well as a dict
    assert (tmp_path / "cachedir" / "embeddings.sqlite3").exists()
    with EmbeddingCache(tmp_path / "cachedir") as cache:  # a folder path means the file inside it
        M, found = cache.get_matrix("enc", keys, 8)
    assert found.all() and np.array_equal(M, X)


def test_clear_one_encoder_or_all(tmp_path):
    with EmbeddingCache(tmp_path / "c.sqlite3") as cache:
        cache.put_many("a", dict(zip(_keys(5), _vectors(5, 4), strict=False)))
        cache.put_many("b", dict(zip(_keys(7), _vectors(7, 4), strict=False)))
        assert cache.clear("a") == 5
        assert cache.stats()["encoders"] == {"b": 7}
        assert cache.clear() == 7
        assert cache.stats()["entries"] == 0


def test_bad_batch_writes_nothing(tmp_path):
    with EmbeddingCache(tmp_path / "c.sqlite3") as cache:
        with pytest.raises(ValueError):
            cache.put_many("enc", {"good": np.ones(4), "bad": np.array(["not", "a", "number", "!"])})
        assert cache.stats()["entries"] == 0


def test_garbage_file_is_moved_aside(tmp_path):
    path = tmp_path / "embeddings.sqlite3"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    with pytest.warns(RuntimeWarning, match="unreadable"):
        cache = EmbeddingCache(path)
    with cache:
        cache.put_many("enc", {"k": np.arange(4, dtype=np.float32)})
        assert cache.get_many("enc", ["k"])["k"].tolist() == [0, 1, 2, 3]
    moved = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(moved) == 1 and moved[0].read_bytes() == garbage
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_corrupt_pages_found_on_read_are_recovered(tmp_path):
    path = tmp_path / "embeddings.sqlite3"
    keys = _keys(2000)
    with EmbeddingCache(path) as cache:
        cache.put_many("enc", dict(zip(keys, _vectors(2000, 64), strict=False)))
    data = bytearray(path.read_bytes())
    data[4096:-4096] = np.random.default_rng(1).integers(0, 256, len(data) - 8192, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="unreadable"):
        cache = EmbeddingCache(path)
        got = cache.get_many("enc", keys)  # either at open or here: never an exception
    with cache:
        assert got == {}
        cache.put_many("enc", {"k": np.ones(2, np.float32)})
        assert cache.stats()["entries"] == 1


def test_unwritable_location_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.warns(RuntimeWarning, match="in memory"):
        cache = EmbeddingCache(blocker / "sub" / "embeddings.sqlite3")
    with cache:
        cache.put_many("enc", {"k": np.ones(2, np.float32)})
        assert "k" in cache.get_many("enc", ["k"])
        assert cache.stats()["path"] == ":memory:"


def test_concurrent_writer_and_reader(tmp_path):
    keys, X = _keys(1000), _vectors(1000, 16)
    errors = []
    with EmbeddingCache(tmp_path / "c.sqlite3") as cache:

        def write():
            try:
                for s in range(0, 1000, 50):
                    cache.put_many("enc", dict(zip(keys[s:s + 50], X[s:s + 50], strict=False)))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        def read():
            try:
                for _ in range(40):
                    got = cache.get_many("enc", keys)
                    assert all(np.array_equal(v, X[keys.index(k)]) for k, v in list(got.items())[:20])
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write), threading.Thread(target=read)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(cache.get_many("enc", keys)) == 1000


def test_hashes(tmp_path):
    f = tmp_path / "photo.bin"
    payload = os.urandom(3 * 1024 * 1024 + 17)  # several read chunks
    f.write_bytes(payload)
    os.chmod(f, 0o444)  # opened read-only
    before = os.stat(f).st_mtime_ns
    assert hash_file(f) == hashlib.blake2b(payload, digest_size=20).hexdigest()
    assert os.stat(f).st_mtime_ns == before
    g = tmp_path / "other.bin"
    g.write_bytes(payload[:-1] + bytes([payload[-1] ^ 1]))
    assert hash_file(g) != hash_file(f)
    assert hash_text("café") == hashlib.blake2b("café".encode(), digest_size=20).hexdigest()
    assert hash_text("a") != hash_text("a ")


def test_a_full_disk_is_a_clear_error_naming_the_cache_and_keeps_what_was_stored(tmp_path):
    """SQLite's own "database or disk is full" (a page limit makes it real) becomes a CacheError
    that names the cache file and what to do; the batches committed before it stay readable."""
    import errno

    from embedview.core.cache import CacheError

    path = tmp_path / "c.sqlite3"
    keys, X = _keys(400), _vectors(400, 256)
    with EmbeddingCache(path) as cache:
        assert cache.put_many("enc", dict(zip(keys[:10], X[:10], strict=True))) == 10
        pages = cache._db().execute("PRAGMA page_count").fetchone()[0]
        cache._db().execute(f"PRAGMA max_page_count={pages + 2}")
        with pytest.raises(CacheError) as info:
            cache.put_many("enc", dict(zip(keys[10:], X[10:], strict=True)))
        err = info.value
        assert isinstance(err, OSError) and err.errno == errno.ENOSPC and err.filename == str(path)
        assert str(path) in str(err) and "disk is full" in str(err) and "--no-cache" in str(err)
        assert len(cache.get_many("enc", keys)) == 10  # the failed batch is rolled back, the earlier one kept
    with EmbeddingCache(path) as cache:
        assert len(cache.get_many("enc", keys)) == 10
