"""Cache payoff: encoding N sentences with default-text, then getting them back from the cache.

The second pass runs the same ``encode_dataset`` call through a freshly opened
``EmbeddingCache`` (hashing every text, one lookup, no model work), as reopening a dataset in
the app does.  Goal: encode time / cache time >= 100x.  Also prints the raw ``get_matrix``
time, the database size and the peak RSS.

    .venv/bin/python benchmarks/bench_cache.py            # 2000 sentences (--n 10000: the app-sized case)
    .venv/bin/python benchmarks/bench_cache.py --n 1000   # quick run
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import Timer, machine_line, make_sentences, peak_rss_mb, ratio_line, step

from embedview.core.cache import EmbeddingCache, hash_text
from embedview.core.dataset import Dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2_000, help="sentences (default 2000)")
    parser.add_argument("--batch-size", type=int, default=None, help="pipeline batch size (default: the encoder's)")
    args = parser.parse_args()

    from embedview.encoders.pipeline import encode_dataset
    from embedview.encoders.registry import load_encoder

    n = args.n
    print(machine_line(), flush=True)
    texts = make_sentences(n, seed=1)
    ds = Dataset("text", ids=[str(i) for i in range(n)], sources=["bench.txt"] * n, texts=texts, name="bench")
    with step("loading default-text"):
        encoder = load_encoder("default-text")
    encoder.encode_text(texts[:32])  # warm-up

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "embeddings.sqlite3"
        with Timer() as t_encode, EmbeddingCache(path) as cache:
            first = encode_dataset(ds, encoder, cache=cache, batch_size=args.batch_size)
        print(f"  encode {n} sentences into the cache: {t_encode.seconds:.2f} s "
              f"({first.stats['n_encoded'] / t_encode.seconds:.1f} sentences/s)", flush=True)

        with Timer() as t_cache, EmbeddingCache(path) as cache:
            again = encode_dataset(ds, encoder, cache=cache)
        assert again.stats["n_encoded"] == 0 and again.stats["n_cached"] == n, again.stats
        assert np.array_equal(again.vectors, first.vectors)
        print(f"  the same call through a fresh cache: {t_cache.seconds * 1000:.1f} ms "
              f"({n / t_cache.seconds:,.0f} items/s)", flush=True)

        keys = [hash_text(t) for t in texts]
        with EmbeddingCache(path) as cache, Timer() as t_get:
            matrix, found = cache.get_matrix(encoder.cache_id, keys, encoder.dim)
        assert found.all()
        print(f"  get_matrix alone ({n} x {encoder.dim}): {t_get.seconds * 1000:.1f} ms", flush=True)
        print(f"  database size: {(path.stat().st_size) / (1 << 20):.1f} MiB")
        print("  " + ratio_line("encode time / cache time", t_encode.seconds, t_cache.seconds, 100.0))
    print(machine_line())
    print(f"peak RSS: {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
