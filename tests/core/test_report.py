"""write_report: one self-contained, escaped HTML file with the verdict, metrics and plots."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from sklearn.datasets import load_digits

from embedview.core.checks import Checks
from embedview.core.dataset import Dataset, LoadProblem
from embedview.core.embeddings import EmbeddingSet
from embedview.core.report import svg_bars, svg_line, svg_scatter, write_report

EVIL = "<script>alert(1)</script>"


def _digits_set(n=300, encoder="precomputed"):
    d = load_digits()
    X = d.data[:n].astype(np.float32)
    labels = np.array([str(t) for t in d.target[:n]], dtype=object)
    labels[:3] = EVIL  # a malicious label, on enough items to be a real class
    ds = Dataset("embedding", [f"row{i}" for i in range(n)], ["/data/digits.npy"] * n, labels=labels,
                 embeddings=X, name="digits", problems=[LoadProblem("/data/bad<img>.npy", "not a numeric array")])
    return EmbeddingSet.from_dataset(ds) if encoder == "precomputed" else EmbeddingSet(ds, X, encoder)


def _map_svg(page: str) -> str:
    maps = re.findall(r'<svg[^>]*class="map".*?</svg>', page, flags=re.S)
    assert len(maps) == 1
    return maps[0]


@pytest.fixture(scope="module")
def digits_report(tmp_path_factory):
    emb = _digits_set()
    path = tmp_path_factory.mktemp("report") / "report.html"
    out = write_report({"digits": emb}, path, max_map_points=120)
    return emb, out, out.read_text(encoding="utf-8")


def test_report_is_one_self_contained_file(digits_report):
    _, path, page = digits_report
    assert path.exists() and page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, flags=re.I), "external resource"
    assert "<script" not in page.lower()
    assert "<link" not in page.lower() and "@import" not in page
    assert not list(path.parent.glob(".*.part"))  # no temporary file left behind


def test_report_shows_verdict_metrics_and_plots(digits_report):
    emb, _, page = digits_report
    verdict = Checks(include=["collapse"]).fit(emb).verdict_
    assert verdict == "healthy"
    assert re.search(r'class="verdict ok"><span class="badge">healthy</span>', page)
    assert "kNN accuracy" in page and "linear probe accuracy" in page and "Hit rate@1" in page
    assert "Recall@10" in page and "effective rank (centred)" in page and "RankMe (raw matrix)" in page
    assert 'title="share of queries with at least one relevant item in the top K' in page
    assert "Singular-value spectrum" in page and "Pairwise cosine similarity" in page
    assert page.count("<svg") == 4  # three collapse plots and the map


def test_map_has_one_circle_per_sampled_point(digits_report):
    _, _, page = digits_report
    assert _map_svg(page).count("<circle") == 120  # max_map_points=120 of 300


def test_user_text_is_escaped(digits_report):
    _, _, page = digits_report
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "/data/bad&lt;img&gt;.npy" in page  # problem messages are escaped too


def test_collapsed_set_is_flagged_and_encoders_compared(tmp_path):
    good = _digits_set(200, encoder="good")
    rng = np.random.default_rng(0)
    collapsed_vectors = (np.outer(rng.normal(size=200), rng.normal(size=64)) + 1e-4 * rng.normal(size=(200, 64)))
    bad = EmbeddingSet(good.dataset, collapsed_vectors.astype(np.float32), "collapsed")
    fitted = {name: Checks(include=["knn"]).fit(emb) for name, emb in (("good", good), ("collapsed", bad))}
    page = write_report([good, bad], tmp_path / "two.html", checks=fitted).read_text(encoding="utf-8")
    assert 'class="verdict ok"' in page and 'class="verdict bad"' in page
    assert "complete collapse" in page
    assert "Linear CKA" in page and "kNN overlap" in page
    assert re.search(r"<th>metric</th><th>good</th><th>collapsed</th>", page)  # side by side
    assert _map_svg_count(page) == 2


def _map_svg_count(page: str) -> int:
    return len(re.findall(r'<svg[^>]*class="map"', page))


def test_image_set_embeds_thumbnails_and_duplicates(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    photos = {"coffee": skdata.coffee(), "cat": skdata.chelsea(), "rocket": skdata.rocket(),
              "astro": skdata.astronaut()}
    paths = []
    for name, arr in photos.items():
        paths.append(folder / f"{name}.png")
        Image.fromarray(arr).resize((64, 48)).save(paths[-1])
    # vectors: a crude colour histogram; the planted copy gets its original's vector
    feats = [np.histogram(np.asarray(Image.open(p)), bins=16, range=(0, 255))[0] for p in paths]
    paths.append(folder / "coffee_copy.png")
    Image.open(paths[0]).save(paths[-1])
    feats.append(feats[0])
    X = np.asarray(feats, dtype=np.float32) + np.random.default_rng(0).normal(scale=1e-3, size=(5, 16))
    ds = Dataset("image", [p.name for p in paths], [str(p) for p in paths], name="photos")
    page = write_report([EmbeddingSet(ds, X.astype(np.float32), "histogram")], tmp_path / "img.html").read_text(
        encoding="utf-8")
    thumbs = re.findall(r'<img src="data:image/jpeg;base64,[A-Za-z0-9+/=]+"', page)
    assert len(thumbs) >= 2  # at least the duplicate pair (and the outliers)
    dups = page[page.index("<h3>Duplicates</h3>"):page.index("<h3>Most isolated items</h3>")]
    assert "coffee.png" in dups and "coffee_copy.png" in dups and "cat.png" not in dups
    assert "no labels" in page  # label checks skipped, and said so


def test_svg_helpers():
    line = svg_line([10.0, 1.0, 0.1, 0.0], log_y=True, title="t<")
    assert line.startswith("<svg") and "<polyline" in line and "t&lt;" in line
    bars = svg_bars(np.arange(300.0))  # many bars: one outline
    assert bars.count("<polygon") == 1 and "<rect" not in bars
    hist = svg_bars([1, 2, 3], edges=[0, 1, 2, 3])
    assert hist.count("<rect") == 3
    scatter = svg_scatter(np.random.default_rng(0).normal(size=(50, 2)), np.arange(50) % 3, ["#111", "#222", "#333"])
    assert scatter.count("<circle") == 50 and scatter.count('fill="#222"') == 1
