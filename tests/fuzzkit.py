"""Seed files and seeded mutations for the input fuzz test (tests/test_fuzz_inputs.py).

Seeds are small real data: scikit-image photos (PNG / JPEG), scikit-learn digits (PNG, and as
64-d vectors), Debian package descriptions (a sample of 40 copied below, section as label) and
the English sentences of ``tests/english_sentences.py``, written as every format the loaders
read: .txt .csv .tsv .jsonl, .npy .npz .parquet, and the Embedding Projector vectors .tsv.

:func:`mutants` turns each seed into truncated, bit-flipped, random and empty variants with one
``numpy.random.Generator``, so a failing case is named by its file name and reproduced by the seed.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

#: 40 Debian package descriptions (id, text, section), a random sample of ``apt-cache dumpavail``.
DEBIAN = [
    ('python3-tmuxp', 'tmux session manager (Python 3)', 'utils'),
    ('libibmad5', 'Infiniband Management Datagram (MAD) library', 'libs'),
    ('libgnome-desktop-4-2', 'Utility library for the GNOME desktop - runtime files', 'libs'),
    ('hashid', 'Identify the different types of hashes used to encrypt data', 'utils'),
    ('ddcutil', 'Control monitor settings - Standalone command line application', 'utils'),
    ('python3-pyobjcryst', 'Object-Oriented Crystallographic Library bindings (Python 3)', 'science'),
    ('orthanc-dicomweb', 'Plugin to extend Orthanc with support of WADO and DICOMweb', 'science'),
    ('docbook-xml', 'standard XML documentation system for software and systems', 'text'),
    ('guider', 'runtime performance analyzer tool', 'utils'),
    ('m4api', 'access Mini-Box M4-ATX power supplies (utility)', 'utils'),
    ('fuse3', 'Filesystem in Userspace (3.x version)', 'utils'),
    ('libhdcpsdk0', 'Intel unified HDCP implementation -- shared library', 'libs'),
    ('zpaq', 'maximum reference compressor for ZPAQ open standard', 'utils'),
    ('libcapi20-3', 'ISDN utilities - CAPI support libraries', 'libs'),
    ('python3-subliminal', 'Python library to search and download subtitles (python3 version)', 'python'),
    ('liblld-14', 'LLVM-based linker, library', 'libs'),
    ('linux-doc-6.1', 'Linux kernel specific documentation for version 6.1', 'doc'),
    ('libxmltok1', 'XML Parser Toolkit, runtime libraries', 'libs'),
    ('micropolis', 'real-time city management simulator', 'games'),
    ('clamav-base', 'anti-virus utility for Unix - base package', 'utils'),
    ('octave-gdf', 'IO library for the GDF -- Octave interface', 'science'),
    ('libmujoco2.2.2', 'Multi-Joint dynamics with Contact. A general purpose physics simulator.', 'libs'),
    ('qml-module-qtmir', 'Qt/QML module for Lomiri specific Mir APIs', 'libs'),
    ('libkarma0', 'Rio Karma access library [runtime files]', 'libs'),
    ('python3-seamicroclient', 'Client library for Seamicro chassis API - Python 3.x', 'python'),
    ('toilet', 'display large colourful characters in text mode', 'text'),
    ('mrtgutils', 'Utilities to generate statistics for mrtg', 'net'),
    ('cpuset', 'Allows manipluation of cpusets and provides higher level fun', 'python'),
    ('flac', 'Free Lossless Audio Codec - command line tools', 'sound'),
    ('python3-libvoikko', 'Python bindings for libvoikko', 'python'),
    ('python3-uncertainties', 'Python3 module for calculations with uncertainties', 'python'),
    ('splay', 'Sound player for MPEG-1,2 layer 1,2,3', 'sound'),
    ('victoria-metrics', 'fast, cost-effective and scalable time series database', 'net'),
    ('gobjc++-11-multilib-mipsisa32r6el-linux-gnu', 'GNU Objective-C++ compiler (multilib support)', 'devel'),
    ('python3-envparse', 'environment variable parsing (Python 3)', 'python'),
    ('pchar', 'Characterize the bandwidth, latency and loss on network links', 'net'),
    ('xfsprogs', 'Utilities for managing the XFS filesystem', 'admin'),
    ('python3-arcus', 'message queue for Cura based on protobuf (Python bindings)', 'python'),
    ('kodi-inputstream-ffmpegdirect', 'FFmpegDirect inputstream addon for Kodi', 'libs'),
    ('libghc-hdbc-doc', 'Haskell Database Connectivity, Documentation', 'doc'),
]


def _png(a: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(a: np.ndarray, quality: int = 85) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _small(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(a).resize(size))


def image_seeds() -> dict[str, bytes]:
    """A dozen small real images, name -> encoded bytes."""
    from skimage import data
    from sklearn.datasets import load_digits

    photos = {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea(),
              "rocket": data.rocket(), "camera": data.camera()}
    out: dict[str, bytes] = {}
    for i, (name, a) in enumerate(photos.items()):
        a = _small(a, (72 + 8 * i, 64))
        out[f"{name}.png"] = _png(a)
        out[f"{name}.jpg"] = _jpeg(a if a.ndim == 3 else np.stack([a] * 3, -1))
    digits = load_digits()
    for k in range(3):
        img = (digits.images[k] * (255 / 16)).astype(np.uint8)
        out[f"digit_{k}.png"] = _png(np.kron(img, np.ones((4, 4), np.uint8)))
    return out


def text_seeds(sentences: list[str]) -> dict[str, bytes]:
    """Text files in every text format, name -> bytes."""
    out: dict[str, bytes] = {}
    out["sentences.txt"] = ("\n".join(sentences) + "\n").encode()
    buf = io.StringIO()
    import csv

    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "text", "label"])
    w.writerows(DEBIAN)
    out["debian.csv"] = buf.getvalue().encode()
    out["debian.tsv"] = ("id\ttext\tlabel\n" + "".join(f"{i}\t{t}\t{lab}\n" for i, t, lab in DEBIAN)).encode()
    out["debian.jsonl"] = "".join(json.dumps({"id": i, "text": t, "label": lab}) + "\n"
                                  for i, t, lab in DEBIAN).encode()
    out["sentences.jsonl"] = "".join(json.dumps({"sentence": s, "n": k}) + "\n"
                                     for k, s in enumerate(sentences)).encode()
    return out


def vector_seeds() -> dict[str, bytes]:
    """Embedding files (scikit-learn digits as 64-d vectors), name -> bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data[:60].astype(np.float32)
    labels = np.array([str(v) for v in digits.target[:60]])
    out: dict[str, bytes] = {}
    buf = io.BytesIO()
    np.save(buf, x)
    out["digits.npy"] = buf.getvalue()
    buf = io.BytesIO()
    np.save(buf, x.astype(np.float64)[:20])
    out["digits64.npy"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez(buf, embeddings=x, ids=np.array([f"d{i}" for i in range(len(x))]), labels=labels)
    out["digits.npz"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez_compressed(buf, embeddings=x[:30], labels=labels[:30])
    out["digits_compressed.npz"] = buf.getvalue()
    buf = io.BytesIO()
    pq.write_table(pa.table({"embedding": [list(map(float, r)) for r in x[:40]], "label": labels[:40].tolist()}),
                   buf)
    out["digits.parquet"] = buf.getvalue()
    out["vectors.tsv"] = "".join("\t".join(f"{v:g}" for v in r) + "\n" for r in x[:25]).encode()
    return out


def all_seeds(sentences: list[str]) -> dict[str, dict[str, bytes]]:
    """``{"image": {...}, "text": {...}, "vector": {...}}``."""
    return {"image": image_seeds(), "text": text_seeds(sentences), "vector": vector_seeds()}


def mutants(name: str, data: bytes, rng: np.random.Generator) -> Iterator[tuple[str, bytes]]:
    """The seed itself, then 3 truncations, 4 bit-flipped copies (1 to 64 bits), random bytes
    and an empty file, all with the seed's extension: ``(file name, bytes)``."""
    stem, dot, ext = name.rpartition(".")
    yield name, data
    for k in range(3):
        cut = int(rng.integers(0, max(1, len(data))))
        yield f"{stem}.trunc{k}_{cut}.{ext}", data[:cut]
    for k in range(4):
        flipped = bytearray(data)
        n_bits = int(rng.integers(1, 65))
        for pos in rng.integers(0, len(data) * 8, size=n_bits):
            flipped[pos // 8] ^= 1 << int(pos % 8)
        yield f"{stem}.flip{k}_{n_bits}.{ext}", bytes(flipped)
    yield f"{stem}.random.{ext}", rng.integers(0, 256, size=int(rng.integers(1, 4096)), dtype=np.uint8).tobytes()
    yield f"{stem}.empty.{ext}", b""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
