"""A report to share: ``write_report(include_paths=False)`` leaves no local path in the HTML."""

from __future__ import annotations

import re

import numpy as np
import pytest

from embedview.core.embeddings import EmbeddingSet
from embedview.core.loaders import load_paths
from embedview.core.report import strip_dirs, write_report


@pytest.fixture
def image_set(tmp_path):
    from PIL import Image
    from skimage import data

    folder = tmp_path / "private folder" / "holiday photos"
    folder.mkdir(parents=True)
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    for i in range(12):
        img = Image.fromarray(photos[i % 4]).resize((48, 48)).rotate(i * 7)
        img.save(folder / f"photo {i:02d}.jpg")
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    ds = load_paths([str(folder)])
    assert len(ds) == 12 and ds.problems, "the broken file is a problem"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(ds), 16)).astype(np.float32)
    X[6:] = X[:6] + rng.normal(scale=1e-3, size=(6, 16))  # duplicates: items shown with their tooltips
    return EmbeddingSet(ds, X, encoder=f"sbert:{tmp_path / 'my models' / 'minilm-ft'}"), tmp_path


def test_a_report_without_paths_names_files_only(image_set, tmp_path):
    emb, root = image_set
    private = str(root)
    with_paths = write_report({emb.encoder: emb}, tmp_path / "full.html", k=3).read_text(encoding="utf-8")
    shared = write_report({emb.encoder: emb}, tmp_path / "shared.html", k=3,
                          include_paths=False).read_text(encoding="utf-8")

    assert private in with_paths  # the default is unchanged: sources in the tooltips
    titles = re.findall(r'<div class="item[^"]*" title="([^"]*)"', with_paths)
    assert titles and all(t.startswith(private) for t in titles)

    assert private not in shared and "private folder" not in shared and "my models" not in shared
    assert "/holiday photos/" not in shared  # (the dataset's name is its folder's name, no path)
    titles = re.findall(r'<div class="item[^"]*" title="([^"]*)"', shared)
    assert titles and all(re.fullmatch(r"photo \d\d\.jpg", t) for t in titles)
    assert "broken.jpg" in shared  # the problem is still named, by its file name
    assert "sbert:minilm-ft" in shared


def test_strip_dirs_keeps_other_text():
    assert strip_dirs("/home/me/data/cat.jpg: cannot read") == "cat.jpg: cannot read"
    assert strip_dirs("sbert:/models/minilm") == "sbert:minilm"
    assert strip_dirs(r"C:\Users\me\a.png") == "a.png"
    for text in ("km/h and 1/2/3", "https://example.com/a/b", "label-7", "a/b"):
        assert strip_dirs(text) == text


def test_a_one_item_set_gets_a_report_that_says_what_was_skipped(tmp_path):
    """Library callers are not stopped by the CLI's check: the collapse section is left out and
    the skipped checks are listed, instead of a KeyError."""
    import numpy as np

    from embedview.core.dataset import Dataset
    from embedview.core.embeddings import EmbeddingSet
    from embedview.core.report import write_report

    X = np.ones((1, 4), np.float32)
    ds = Dataset(modality="embedding", ids=["only"], sources=[""], embeddings=X)
    html = (tmp_path / "r.html")
    write_report({"precomputed": EmbeddingSet(ds, X)}, str(html))
    text = html.read_text(encoding="utf-8")
    assert "Skipped checks" in text and "needs at least 2 items" in text
    assert "Collapse diagnostics" not in text
