"""The encoding pipeline: cache reuse, cancellation, crash safety, bad images, model choice.

Real models where the model matters (default-text = all-MiniLM-L6-v2, default-image on a few
small photos); :class:`HashTextEncoder` only for the cancel / SIGKILL mechanics.
"""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from embedview.core.cache import EmbeddingCache, hash_text
from embedview.core.dataset import Dataset
from embedview.core.images import open_image
from embedview.core.progress import Cancelled, TaskState
from embedview.encoders.base import Encoder
from embedview.encoders.pipeline import embed, encode_dataset, encode_queries, get_encoder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


class HashTextEncoder(Encoder):
    """Deterministic stand-in encoder for the cancel / SIGKILL mechanics tests only.

    The model is beside the point there: what is tested is which batches reach the cache
    when a job is cancelled or killed.  Each vector is derived from the blake2b of its text,
    so a stored vector can be checked exactly; ``delay`` seconds per batch keep the job
    running long enough to interrupt.
    """

    name = "test-hash"
    modality = "text"
    dim = 8

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.batches = 0

    @property
    def cache_id(self) -> str:
        return "test-hash/v1"

    @staticmethod
    def expected(text: str) -> np.ndarray:
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
        return np.frombuffer(digest, dtype=np.uint8).astype(np.float32)

    def encode_text(self, texts):
        self.batches += 1
        time.sleep(self.delay)
        return np.stack([self.expected(t) for t in texts])


def text_dataset(texts, name="sentences"):
    ids = [f"{name}.txt:{i + 1}" for i in range(len(texts))]
    return Dataset("text", ids=ids, sources=[f"/data/{name}.txt"] * len(texts), texts=list(texts), name=name)


SENTENCES = [
    "The cat sleeps on the warm windowsill.",
    "A kitten naps in the afternoon sun.",
    "Stock markets fell sharply on Monday.",
    "Shares dropped as investors worried about rates.",
    "Add two cups of flour and a pinch of salt.",
    "Whisk the eggs before folding in the sugar.",
    "The train to Lyon leaves from platform nine.",
    "Our flight was delayed by three hours.",
    "He scored twice in the second half.",
    "The goalkeeper saved a late penalty.",
    "Photosynthesis turns light into chemical energy.",
    "Mitochondria produce most of the cell's ATP.",
    "Rain is expected for most of the weekend.",
    "Tomorrow will be sunny with a light breeze.",
    "She practised the violin every evening.",
    "The orchestra tuned up before the concert.",
    "Compile the project with optimisations enabled.",
    "The unit tests failed after the refactor.",
    "A long, winding sentence that goes on for quite a while, describing a walk through an old "
    "town with narrow streets, small bakeries, and a market square full of flowers.",
    "Short.",
]
NEW_SENTENCES = [
    "Bread rises faster in a warm kitchen.",
    "The museum opens at nine on weekdays.",
    "Glaciers retreat as temperatures climb.",
    "The defender was shown a red card.",
    "Turn left at the second roundabout.",
    "Owls hunt mostly at night.",
    "The library extended its opening hours.",
    "Wind turbines lined the ridge.",
    "Salt the pasta water generously.",
    "The satellite entered a polar orbit.",
]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """Point the default cache at a temporary folder (never the user's real cache)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def text_encoder():
    return get_encoder("default-text")


# -- real text model ------------------------------------------------------------------------------
@pytest.mark.slow
def test_text_encode_then_cache_then_only_new(cache_dir, text_encoder):
    ds = text_dataset(SENTENCES + [SENTENCES[2]])  # one exact duplicate
    messages = []
    first = encode_dataset(ds, text_encoder, batch_size=8, progress=TaskState(lambda f, m: messages.append(m), 0))
    assert first.stats["n_encoded"] == 21 and first.stats["n_cached"] == 0 and first.stats["n_failed"] == 0
    assert first.vectors.shape == (21, 384) and first.vectors.dtype == np.float32
    assert first.encoder == "default-text" and first.dataset is ds
    # batching by length must not scramble the order: compare with the model called directly
    direct = text_encoder.encode_text(list(ds.texts))
    np.testing.assert_allclose(first.vectors, direct, atol=1e-5)
    np.testing.assert_array_equal(first.vectors[2], first.vectors[20])
    assert any("items/s" in m for m in messages)
    # a real model: related sentences are nearer than unrelated ones
    u = first.unit
    assert u[0] @ u[1] > u[0] @ u[2] + 0.2

    again = encode_dataset(ds, text_encoder)
    assert again.stats["n_encoded"] == 0 and again.stats["n_cached"] == 21
    np.testing.assert_array_equal(again.vectors, first.vectors)

    grown = encode_dataset(text_dataset(SENTENCES + NEW_SENTENCES), text_encoder, batch_size=4)
    assert grown.stats["n_encoded"] == 10 and grown.stats["n_cached"] == 20
    np.testing.assert_allclose(grown.vectors[20:], text_encoder.encode_text(NEW_SENTENCES), atol=1e-5)
    assert (cache_dir / "embeddings.sqlite3").exists()


@pytest.mark.slow
def test_cache_false_writes_nothing_and_corrupt_cache_recovers(cache_dir, text_encoder):
    ds = text_dataset(SENTENCES[:6])
    out = encode_dataset(ds, text_encoder, cache=False)
    assert out.stats["n_encoded"] == 6 and not cache_dir.exists()

    cache_dir.mkdir()
    (cache_dir / "embeddings.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.warns(RuntimeWarning, match="unreadable"):
        out = encode_dataset(ds, text_encoder)
    assert out.stats["n_encoded"] == 6
    assert any(".corrupt-" in p.name for p in cache_dir.iterdir())
    assert encode_dataset(ds, text_encoder).stats["n_cached"] == 6


@pytest.mark.slow
def test_embed_and_queries(cache_dir, text_encoder):
    ds = text_dataset(SENTENCES[:4])
    out = embed(ds)  # default model for text, the already-loaded one
    assert get_encoder("default-text") is text_encoder
    assert out.encoder == "default-text" and out.vectors.shape == (4, 384)

    q = encode_queries(text_encoder, "a sleeping cat")
    assert q.shape == (1, 384) and q.dtype == np.float32
    scores = out.unit @ (q[0] / np.linalg.norm(q[0]))
    assert int(np.argmax(scores)) in (0, 1)  # the two cat sentences


def test_embed_passes_precomputed_through():
    vecs = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    ds = Dataset("embedding", ids=list("abcde"), sources=["/data/e.npy"] * 5, embeddings=vecs, name="e")
    out = embed(ds)
    assert out.encoder == "precomputed" and out.vectors is vecs
    with pytest.raises(ValueError, match="precomputed embeddings"):
        embed(ds, "default-text")


def test_encode_queries_needs_a_text_tower():
    class ImageOnly(Encoder):
        name, modality, dim = "image-only", "image", 4

    with pytest.raises(ValueError, match="no text tower"):
        encode_queries(ImageOnly(), ["a dog"])


def test_modality_mismatch_is_refused(tmp_path):
    ds = Dataset("image", ids=["a.png"], sources=[str(tmp_path / "a.png")])
    with pytest.raises(ValueError, match="takes text"):
        encode_dataset(ds, HashTextEncoder(), cache=False)


def test_embed_refuses_an_encoder_of_another_modality_before_loading_it(monkeypatch):
    from embedview.encoders import pipeline
    from embedview.encoders.base import UnusableEncoderError

    def no_load(*a, **k):
        raise AssertionError("the model was loaded before the modality was checked")

    monkeypatch.setattr(pipeline, "get_encoder", no_load)
    with pytest.raises(UnusableEncoderError, match="'default-image' takes image but dataset 'notes' holds text"):
        embed(text_dataset(["a note"], name="notes"), "default-image")


def test_embed_says_at_once_that_a_model_is_not_here_while_offline(monkeypatch, tmp_path):
    """A hub model that is not cached, offline: the reason names it, before any load (and its
    ~75 s of download retries)."""
    from embedview.encoders import pipeline
    from embedview.encoders.registry import EncoderUnavailableError

    def no_load(*a, **k):
        raise AssertionError("the model was loaded before its availability was checked")

    monkeypatch.setattr(pipeline, "get_encoder", no_load)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderUnavailableError, match=r"^sbert:all-mpnet-base-v2 is not available offline"):
        embed(text_dataset(["a note"], name="notes"), "sbert:all-mpnet-base-v2")
    with pytest.raises(EncoderUnavailableError, match="cannot be loaded: folder not found"):
        embed(text_dataset(["a note"], name="notes"), f"sbert:{tmp_path / 'gone' / 'model'}")


# -- mechanics: cancel and kill ---------------------------------------------------------------------
def test_cancel_after_first_batch_keeps_it(tmp_path):
    texts = [f"sentence number {i}" for i in range(80)]
    ds = text_dataset(texts)
    encoder = HashTextEncoder()
    task = TaskState(None, min_interval=0.0)
    task.callback = lambda fraction, message: task.cancel() if message.startswith("encoding ") else None
    path = tmp_path / "c.sqlite3"
    with EmbeddingCache(path) as cache:
        with pytest.raises(Cancelled):
            encode_dataset(ds, encoder, cache=cache, batch_size=8, progress=task)
    assert encoder.batches == 1  # no batch was started after the cancel

    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    with EmbeddingCache(path) as cache:
        assert cache.stats("test-hash/v1")["entries"] == 8
        rerun = encode_dataset(ds, encoder, cache=cache, batch_size=8)
    assert rerun.stats["n_cached"] == 8 and rerun.stats["n_encoded"] == 72
    np.testing.assert_array_equal(rerun.vectors, np.stack([HashTextEncoder.expected(t) for t in texts]))


KILL_SCRIPT = """
import sys
sys.path.insert(0, {here!r})
from test_pipeline import HashTextEncoder, text_dataset
from embedview.core.cache import EmbeddingCache
from embedview.core.progress import TaskState
from embedview.encoders.pipeline import encode_dataset

def report(fraction, message):
    print(message, flush=True)

texts = ["kill test sentence %d" % i for i in range(2000)]  # noqa: UP031 - a str.format template
with EmbeddingCache({path!r}) as cache:
    encode_dataset(text_dataset(texts), HashTextEncoder(delay=0.02), cache=cache, batch_size=10,
                   progress=TaskState(report, min_interval=0.0))
print("finished", flush=True)
"""


def test_sigkill_mid_encode_leaves_a_valid_cache(tmp_path):
    path = tmp_path / "embeddings.sqlite3"
    script = KILL_SCRIPT.format(here=str(HERE), path=str(path))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env,
                            cwd=str(tmp_path))
    try:
        finished_batches = 0
        for line in proc.stdout:
            finished_batches += line.startswith("encoding ")
            if finished_batches == 5:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    texts = [f"kill test sentence {i}" for i in range(2000)]
    by_key = {hash_text(t): t for t in texts}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # opening must not need any recovery
        with EmbeddingCache(path) as cache:
            n = cache.stats("test-hash/v1")["entries"]
            got = cache.get_many("test-hash/v1", list(by_key))
    assert 50 <= n < 2000 and n % 10 == 0  # whole batches only, at least the five reported
    assert len(got) == n
    for key, vec in got.items():
        np.testing.assert_array_equal(vec, HashTextEncoder.expected(by_key[key]))


# -- real image model -------------------------------------------------------------------------------
def _write_images(folder: Path, n: int, offset: int = 0):
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), np.stack([data.camera()] * 3, -1)]
    paths = []
    for i in range(offset, offset + n):
        a = photos[i % len(photos)]
        h, w = a.shape[:2]
        k = i // len(photos)  # a different crop for each round through the photos
        crop = a[k * 7: h - k * 5, k * 11: w - k * 3]
        im = Image.fromarray(crop).resize((96 + 8 * (i % 4), 80 + 8 * (i % 3)))
        p = folder / f"img_{i:02d}.{'png' if i % 2 else 'jpg'}"
        im.save(p)
        paths.append(p)
    return paths


def _image_dataset(paths):
    return Dataset("image", ids=[p.name for p in paths], sources=[str(p) for p in paths], name="photos")


@pytest.mark.slow
def test_images_bad_files_dropped_rest_encoded_and_cached(tmp_path, cache_dir):
    folder = tmp_path / "photos"
    folder.mkdir()
    good = _write_images(folder, 6)
    broken = folder / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 20)
    truncated = folder / "truncated.png"
    truncated.write_bytes(good[1].read_bytes()[:300])
    paths = [good[0], broken, *good[1:4], truncated, *good[4:]]
    before = {p: p.read_bytes() for p in paths}

    encoder = get_encoder("default-image")
    out = encode_dataset(_image_dataset(paths), encoder, batch_size=4, num_workers=2)
    assert out.dataset.ids == [p.name for p in good]
    assert {Path(p.path).name for p in out.problems} == {"broken.jpg", "truncated.png"}
    assert all(p.reason and str(folder) not in p.reason for p in out.problems)
    assert (out.stats["n_encoded"], out.stats["n_cached"], out.stats["n_failed"]) == (6, 0, 2)
    assert out.vectors.shape == (6, encoder.dim)
    direct = encoder.encode([open_image(p) for p in good])
    np.testing.assert_allclose(out.vectors, direct, rtol=1e-4, atol=1e-4)
    assert all(p.read_bytes() == before[p] for p in paths)  # user files untouched

    more = _write_images(folder, 10, offset=6)
    grown = encode_dataset(_image_dataset(good + more), encoder, batch_size=4)
    assert grown.stats["n_encoded"] == 10 and grown.stats["n_cached"] == 6
    np.testing.assert_array_equal(grown.vectors[:6], out.vectors)


def test_get_encoder_loads_each_model_once_and_never_waits_on_another_models_load(monkeypatch):
    """The encoder process serves calls concurrently: a loaded model answers while another one is
    still loading (downloading), and two callers of one model share a single load.  The loads
    are stand-ins here: what is tested is get_encoder's bookkeeping."""
    import threading
    import time

    from embedview.encoders import pipeline

    loads = []
    release = threading.Event()

    def fake_load(name, device=None):
        loads.append(name)
        if name == "slow":
            release.wait(10)
        return object()

    monkeypatch.setattr(pipeline, "load_encoder", fake_load)
    monkeypatch.setattr(pipeline, "_LOADED", type(pipeline._LOADED)())
    fast = get_encoder("fast")
    got = []
    slow_callers = [threading.Thread(target=lambda: got.append(get_encoder("slow"))) for _ in range(2)]
    for t in slow_callers:
        t.start()
    time.sleep(0.2)  # both wait inside the slow load
    assert get_encoder("fast") is fast
    assert got == []  # answered while the slow load was still running, not after it
    release.set()
    for t in slow_callers:
        t.join(10)
    assert len(got) == 2 and got[0] is got[1]
    assert loads == ["fast", "slow"]
