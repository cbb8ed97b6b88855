"""Real data for the finders' tests (label issues, leaks, item scores).

* :func:`digits` -- scikit-learn's 1797 handwritten digits, the 64 pixel values as vectors.
* :func:`debian` -- 800 Debian package descriptions (id, text, Debian section as the label)
  encoded once with embedview's offline text default (all-MiniLM-L6-v2, 384 dimensions) and
  stored as float16 in ``data/debian_minilm.npz`` (encoding takes 12 s to a minute here, too
  slow for each test run).  Made with::

      ds = load_paths(["/tmp/realdata/debian.csv"])
      emb = embed(ds, "default-text")
      np.savez_compressed(path, vectors=emb.vectors.astype(np.float16), ids=..., labels=..., texts=...)

* :func:`flip_labels` -- a known share of labels flipped to another class, with a seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DEBIAN_NPZ = Path(__file__).parent / "data" / "debian_minilm.npz"


def digits() -> tuple[np.ndarray, np.ndarray]:
    """``(X (1797, 64) float32, labels (object array of ints))``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float32), d.target.astype(object)


def debian() -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """``(X (800, 384) float32, labels, ids, texts)`` of the Debian descriptions."""
    z = np.load(DEBIAN_NPZ)
    return (z["vectors"].astype(np.float32), z["labels"].astype(object), [str(s) for s in z["ids"]],
            [str(s) for s in z["texts"]])


def flip_labels(labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``round(share * N)`` labels, picked at random, each changed to another class picked at
    random.  Returns ``(noisy labels, mask of the flipped items)``."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=object)
    classes = sorted(set(labels.tolist()), key=str)
    n = int(round(share * len(labels)))
    picked = rng.choice(len(labels), n, replace=False)
    noisy = labels.copy()
    for i in picked:
        others = [c for c in classes if c != labels[i]]
        noisy[i] = others[rng.integers(len(others))]
    mask = np.zeros(len(labels), dtype=bool)
    mask[picked] = True
    return noisy, mask
