"""Sessions without a window: to_dict / from_dict of the model, a file round trip, and a file
written by the code before the view states (views keyed by class name)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from embedview.actions.session import (
    RestoredProjection,
    from_dict,
    load_session,
    save_session,
    to_dict,
    view_choices,
)
from embedview.core.duplicates import DuplicateFinder
from embedview.model import AnalysisKind

DATA = Path(__file__).parent / "data"


def _digits_npz(path, n=120, copies=4):
    """Digits pixels with planted near-copies, distinctive labels and ids."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data.astype(np.float32)[:n]
    rng = np.random.default_rng(0)
    src = rng.choice(n, size=copies, replace=False)
    X = np.vstack([X, X[src] + rng.normal(scale=0.05, size=(copies, 64))]).astype(np.float32)
    labels = np.array([f"label-{v}" for v in list(d.target[:n]) + [d.target[i] for i in src]])
    np.savez(path, embeddings=X, label=labels, id=np.array([f"d{i:04d}" for i in range(len(X))]))
    return X


def _analyses_on_arrival(app):
    """What the analysis scheduler does in the window, done at once: a map and the duplicates."""
    def filed(name):
        emb = app.model.sets[name]
        if app.model.projection("pca", name) is None:
            app.model.set_projection("pca", emb.vectors[:, :2] * 0.5, None, name=name)
        app.model.set_analysis(AnalysisKind.DUPLICATES, DuplicateFinder().fit(emb), name=name)

    app.model.embeddings_changed.connect(filed)


def test_a_session_round_trip_brings_the_model_back(app, fresh, tmp_path):
    data = tmp_path / "digits.npz"
    _digits_npz(data)
    _analyses_on_arrival(app)
    app.data.open_paths([data])
    app.wait_until(lambda: app.model.get_analysis(AnalysisKind.DUPLICATES) is not None, timeout=60)
    model = app.model
    model.set_projection("umap", model.emb.vectors[:, 2:4].copy(), None)
    model.selection.set_selection([3, 5, 8, 121], "test")
    model.selection.set_current(5, "test")
    finder = model.get_analysis(AnalysisKind.DUPLICATES)
    t = 0.97
    groups = finder.with_threshold(t).groups_
    a, b = (int(i) for i in groups[0][:2])
    model.set_analysis(AnalysisKind.DUPLICATE_DECISIONS, {a: "drop", b: "keep"})
    model.views.duplicates.threshold = t
    model.views.map.color_by = "duplicates"
    model.views.collapse.whiten = True
    model.views.neighbors.k = 7

    doc = to_dict(model)
    assert doc["views"] == model.views.to_dict() and doc["views"]["map"]["color_by"] == "duplicates"
    assert doc["selection"] == {"ids": ["d0003", "d0005", "d0008", "d0121"], "current": "d0005"}
    assert doc["duplicates"]["precomputed"]["threshold"] == t
    assert doc["duplicates"]["precomputed"]["decisions"] == {f"d{a:04d}": "drop", f"d{b:04d}": "keep"}

    path = tmp_path / "work.embedview.json"
    save_session(model, path)
    text = path.read_text(encoding="utf-8")
    assert "label-3" not in text  # paths and ids only
    _analyses_on_arrival(fresh)
    restorer = from_dict(load_session(path), fresh.model, fresh.runner, fresh.data)
    fresh.wait_until(lambda: restorer.done and restorer.stopped, timeout=60)
    fresh.settle()

    m2 = fresh.model
    assert list(m2.dataset.ids) == list(model.dataset.ids) and m2.active == "precomputed"
    assert list(m2.selection.selected) == [3, 5, 8, 121] and m2.selection.current == 5
    umap = m2.projection("umap")
    np.testing.assert_array_equal(umap.xy, model.projection("umap").xy)
    assert isinstance(umap.model, RestoredProjection)
    assert m2.get_analysis(AnalysisKind.DUPLICATES).threshold_ == pytest.approx(t)
    assert m2.get_analysis(AnalysisKind.DUPLICATE_DECISIONS) == {a: "drop", b: "keep"}
    assert m2.views.to_dict() == model.views.to_dict()
    assert "Session restored" in " ".join(fresh.messages)


def test_a_session_file_of_the_old_format_still_opens(fresh, tmp_path):
    """``data/old_format.embedview.json`` was saved by the window before the view states existed:
    its view choices are keyed by view class ("MapView": {"method", "color"}, ...)."""
    folder = tmp_path / "project"
    shutil.copytree(DATA, folder)
    path = folder / "old_format.embedview.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["data"]["paths"] = ["/nowhere/old_digits.npz"]  # moved: found relative to the session file
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert "MapView" in doc["views"] and doc["version"] == 1

    _analyses_on_arrival(fresh)
    restorer = from_dict(load_session(path), fresh.model, fresh.runner, fresh.data)
    fresh.wait_until(lambda: restorer.done and restorer.stopped, timeout=60)
    fresh.settle()

    m = fresh.model
    assert m.paths == [str(folder / "old_digits.npz")] and len(m.dataset) == 63
    assert [m.dataset.ids[i] for i in m.selection.selected] == ["d0003", "d0005", "d0008", "d0061"]
    assert m.dataset.ids[m.selection.current] == "d0005"
    views = m.views
    assert (views.map.method, views.map.color_by) == ("umap", "duplicates")
    assert views.collapse.whiten and not views.collapse.center and views.collapse.spread == "std"
    assert views.compare.color_by == "disagreement" and views.compare.k == 10
    assert views.duplicates.threshold == pytest.approx(0.97)
    assert m.get_analysis(AnalysisKind.DUPLICATES).threshold_ == pytest.approx(0.97)
    assert m.get_analysis(AnalysisKind.DUPLICATE_DECISIONS) == {2: "drop", 60: "keep"}
    pca = m.projection("pca")
    assert pca.xy.shape == (63, 2) and pca.model.trustworthiness_ == pytest.approx(0.8037761069340017)


def test_old_view_choices_map_onto_the_view_states():
    old = {"MapView": {"method": "pca", "color": ["meta", "ink"]}, "CollapseView": {"log": True, "spread": "var"},
           "CompareView": {"k": 5, "color": "label"}, "SomethingElse": {"x": 1}, "map": "not a dict"}
    choices = view_choices(old)
    assert set(choices) == {"map", "collapse", "compare"}
    assert choices["map"] == {"method": "pca", "color_by": "meta:ink"}
    assert choices["collapse"]["spread"] == "var" and True in choices["collapse"].values()  # log, by its new name
    assert choices["compare"] == {"k": 5, "color_by": "label"}
    assert view_choices({"heatmap": {"scale": "data"}}) == {"heatmap": {"scale": "data"}}


def test_missing_sources_are_named_and_the_rest_restores(app, fresh, tmp_path):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    X = np.random.default_rng(1).normal(size=(50, 8)).astype(np.float32)
    np.save(a, X[:30])
    np.save(b, X[30:])
    app.data.open_paths([a, b])
    app.wait_until(lambda: app.model.emb is not None, timeout=30)
    app.model.set_projection("pca", X[:, :2], None)
    keep = [i for i, x in enumerate(app.model.dataset.ids) if x.startswith("a.npy")][:3]
    app.model.selection.set_selection(keep + [40], "test")
    path = tmp_path / "two.embedview.json"
    save_session(app.model, path)

    b.unlink()
    restorer = from_dict(load_session(path), fresh.model, fresh.runner, fresh.data)
    fresh.wait_until(lambda: restorer.done, timeout=60)
    fresh.settle()
    m = fresh.model
    assert len(m.dataset) == 30 and list(m.selection.selected) == keep
    assert any(str(b) in str(p) and "not found" in str(p) for p in m.problems)
    last = fresh.messages[-1]
    assert "1 selected item(s) are no longer in the data" in last and "no longer fits" in last
    assert m.projection("pca") is None  # the 50-item map was not misapplied to 30 items
