"""Sessions end to end: save what a real window shows, reopen it in a fresh window and find the same
state (data, active encoder, maps, selection, current item, duplicate threshold and decisions,
view choices, layout); vectors come back from the cache; missing sources are named."""

import json

import numpy as np
import pytest
from viewkit import digits_set, open_window, pca_2d

from embedview.core.compare import linear_cka
from embedview.model import AnalysisKind


@pytest.fixture
def second_window(qtbot):
    """A second real window (a "fresh start" next to the ``window`` fixture), checked the same way."""
    yield from open_window(qtbot)


def _digits_npz(path, n=400, copies=12):
    """Digits pixels with a few planted near-copies, distinctive labels and ids, as an .npz file."""
    emb = digits_set(n)
    rng = np.random.default_rng(0)
    src = rng.choice(n, size=copies, replace=False)
    X = np.vstack([emb.vectors, emb.vectors[src] + rng.normal(scale=0.05, size=(copies, 64))]).astype(np.float32)
    labels = np.array([f"label-{v}" for v in list(emb.dataset.labels) + [emb.dataset.labels[i] for i in src]])
    ids = np.array([f"d{i:04d}" for i in range(len(X))])
    np.savez(path, embeddings=X, label=labels, id=ids)
    return X


def _stand_in_umap(window):
    """File a 2-D map as the model's "umap" as soon as a set arrives, so the scheduler computes
    PCA but not UMAP (whose first run compiles numba for a minute).  What the session tests is
    that saved coordinates come back unchanged and nothing computes them again."""
    def filed(name, window=window):
        emb = window.model.sets[name]
        window.model.set_projection("umap", pca_2d(emb)[:, ::-1].copy(), None, name=name)

    window.model.embeddings_changed.connect(filed)


def _ready(window, qtbot, duplicates=True):
    qtbot.waitUntil(lambda: window.model.emb is not None and window.model.projection("pca") is not None
                    and (not duplicates or window.model.get_analysis("duplicates") is not None), timeout=120_000)


def test_session_reopens_the_same_state_in_a_fresh_window(window, second_window, qtbot, tmp_path):
    from embedview.actions.session import FORMAT, RestoredProjection, load_session, sidecar_path
    from embedview.gui.session import save_session

    data = tmp_path / "digits.npz"
    _digits_npz(data)
    _stand_in_umap(window)
    window.open_paths([str(data)])
    _ready(window, qtbot)
    state, sel = window.model, window.selection
    assert state.active == "precomputed" and len(state.dataset) == 412

    # what the user did: a selection, a current item, a duplicate threshold and decisions, choices
    sel.set_selection([3, 5, 8, 400], "test")
    sel.set_current(5, "test")
    finder = state.get_analysis(AnalysisKind.DUPLICATES)
    lo = max(finder.floor_, 0.9)
    t = float(np.round(lo + 0.5 * (finder.suggested_threshold_ - lo), 4)) if finder.suggested_threshold_ > lo else 0.99
    state.views.duplicates.threshold = t  # what the Duplicates view's slider writes
    qtbot.waitUntil(lambda: abs(state.get_analysis(AnalysisKind.DUPLICATES).threshold_ - t) < 1e-9, timeout=20_000)
    groups = state.get_analysis(AnalysisKind.DUPLICATES).groups_
    assert groups, "the planted near-copies form groups"
    a, b = (int(i) for i in groups[0][:2])
    state.set_analysis(AnalysisKind.DUPLICATE_DECISIONS, {a: "drop", b: "keep"})
    state.views.map.color_by = "duplicates"  # not the default, and offered only once duplicates are found
    state.views.collapse.whiten = True
    window.docks["HeatmapView"].hide()

    path = tmp_path / "work.embedview.json"
    assert save_session(window, path) == str(path)
    assert sidecar_path(path).exists() and not list(tmp_path.glob("*.part"))
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["format"] == FORMAT and doc["version"] == 1
    assert doc["data"]["paths"] == [str(data)] and doc["active"] == "precomputed"
    assert doc["selection"] == {"ids": ["d0003", "d0005", "d0008", "d0400"], "current": "d0005"}
    assert doc["duplicates"]["precomputed"]["decisions"] == {f"d{a:04d}": "drop", f"d{b:04d}": "keep"}
    assert "label-3" not in text  # paths and ids only: no labels, texts or vectors in the session
    assert doc["views"] == state.views.to_dict()
    assert doc["views"]["map"]["color_by"] == "duplicates" and doc["views"]["collapse"]["whiten"] is True
    saved_umap = state.projection("umap")[0].copy()
    saved_pca = state.projection("pca")[0].copy()

    # a fresh window: open the session
    w2 = second_window
    w2.open_session(str(path))
    qtbot.waitUntil(lambda: getattr(w2, "session_restorer", None) is not None and w2.session_restorer.done,
                    timeout=60_000)
    # the decisions field is {} before the restore files them: wait for the restored values (and the
    # finder at the saved threshold, which arrives from its own job)
    qtbot.waitUntil(lambda: w2.model.get_analysis(AnalysisKind.DUPLICATE_DECISIONS) == {a: "drop", b: "keep"}
                    and w2.model.get_analysis(AnalysisKind.DUPLICATES) is not None
                    and abs(w2.model.get_analysis(AnalysisKind.DUPLICATES).threshold_ - t) < 1e-9, timeout=60_000)
    assert w2.runner.wait_all(60)
    qtbot.wait(200)  # the duplicates view settles its threshold
    assert w2.runner.wait_all(60)
    s2 = w2.model
    assert list(s2.dataset.ids) == list(state.dataset.ids) and s2.active == "precomputed"
    assert list(w2.selection.selected) == [3, 5, 8, 400] and w2.selection.current == 5
    # the maps come back from the sidecar and nothing computes them again
    umap, model = s2.projection("umap")
    np.testing.assert_array_equal(umap, saved_umap)
    assert isinstance(model, RestoredProjection)
    pca, model = s2.projection("pca")
    np.testing.assert_array_equal(pca, saved_pca)
    assert isinstance(model, RestoredProjection) and model.trustworthiness_ == pytest.approx(
        state.projection("pca")[1].trustworthiness_)
    assert s2.views.map.method == "umap"
    # duplicates: the same threshold and decisions
    assert s2.get_analysis(AnalysisKind.DUPLICATES).threshold_ == pytest.approx(t, abs=1e-9)
    assert s2.views.duplicates.threshold == pytest.approx(t, abs=1e-9)
    assert s2.get_analysis(AnalysisKind.DUPLICATE_DECISIONS) == {a: "drop", b: "keep"}
    # view choices (every view's state) and layout
    assert s2.views.to_dict() == state.views.to_dict()
    assert s2.views.map.color_by == "duplicates" and s2.views.collapse.whiten
    assert w2.docks["HeatmapView"].isHidden() and not w2.docks["TableView"].isHidden()
    assert "Session restored" in w2.last_message

    # the file reads back as written; the sidecar holds the coordinates
    loaded = load_session(path)
    np.testing.assert_array_equal(loaded["maps"]["precomputed"]["umap"][0], saved_umap)


def test_missing_sources_are_named_and_the_rest_restores(window, qtbot, tmp_path):
    from embedview.gui.session import save_session

    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    X = digits_set(300).vectors
    np.save(a, X[:200])
    np.save(b, X[200:])
    _stand_in_umap(window)
    window.open_paths([str(a), str(b)])
    _ready(window, qtbot, duplicates=False)
    assert len(window.model.dataset) == 300
    keep_ids = [i for i in window.model.dataset.ids if i.startswith("a.npy")][:3]
    pos = {x: i for i, x in enumerate(window.model.dataset.ids)}
    window.selection.set_selection([pos[x] for x in keep_ids] + [250], "test")
    path = tmp_path / "two.embedview.json"
    save_session(window, path)
    assert window.runner.wait_all(60)

    b.unlink()
    window.open_session(str(path))
    qtbot.waitUntil(lambda: getattr(window, "session_restorer", None) is not None and window.session_restorer.done,
                    timeout=60_000)
    assert window.runner.wait_all(60)
    assert len(window.model.dataset) == 200  # the rest restored
    problems = [str(p) for p in window.model.problems]
    assert any(str(b) in p and "not found" in p for p in problems), problems
    assert [window.model.dataset.ids[i] for i in window.selection.selected] == keep_ids
    assert "1 selected item(s) are no longer in the data" in window.last_message
    # the saved maps were for 300 items: dropped and computed again, not misapplied
    assert "no longer fits" in window.last_message
    qtbot.waitUntil(lambda: window.model.projection("pca") is not None, timeout=60_000)
    assert window.model.projection("pca")[0].shape == (200, 2)


def test_unreadable_session_files_say_why(tmp_path):
    from embedview.actions.session import SessionError, load_session

    cases = {
        "missing.embedview.json": None,
        "garbage.embedview.json": "{not json",
        "other.embedview.json": json.dumps({"format": "something-else", "version": 1}),
        "newer.embedview.json": json.dumps({"format": "embedview-session", "version": 99, "data": {"paths": []}}),
    }
    reasons = {}
    for name, content in cases.items():
        p = tmp_path / name
        if content is not None:
            p.write_text(content, encoding="utf-8")
        with pytest.raises(SessionError) as info:
            load_session(p)
        assert str(p) in str(info.value)
        reasons[name] = str(info.value)
    assert "not found" in reasons["missing.embedview.json"]
    assert "invalid JSON" in reasons["garbage.embedview.json"]
    assert "not an embedview session" in reasons["other.embedview.json"]
    assert "newer embedview" in reasons["newer.embedview.json"]

    # a session whose sidecar went missing still loads, with a warning (the maps are recomputed)
    doc = {"format": "embedview-session", "version": 1, "data": {"paths": [str(tmp_path / "x.npy")]},
           "projections": {"precomputed": {"pca": {"array": "map0"}}}, "maps_file": "gone.npz"}
    p = tmp_path / "nomaps.embedview.json"
    p.write_text(json.dumps(doc), encoding="utf-8")
    loaded = load_session(p)
    assert loaded["maps"] == {} and "gone.npz" in loaded["warnings"][0]


@pytest.mark.slow
def test_two_real_encoders_compared_and_restored_from_the_cache(window, second_window, qtbot, tmp_path):
    """default-text plus the same MiniLM weights loaded as ``sbert:<folder>`` (the one second text
    encoder available offline): the Compare view must find them identical, and a reopened session
    must take both sets of vectors from the cache without encoding anything."""
    from embedview.encoders.default_text import model_folder
    from embedview.gui.session import save_session

    subjects = ["cat", "violin", "harbour", "glacier", "teapot", "tram"]
    rows = ["text,label"] + [f"\"The {s} {v} near the station, photo {i}.\",{s}"
                             for i, (s, v) in enumerate((s, v) for s in subjects for v in ("sleeps", "waits", "stands",
                                                                                              "is seen"))]
    data = tmp_path / "notes.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    second = f"sbert:{model_folder()}"

    _stand_in_umap(window)
    window.open_paths([str(data)])
    _ready(window, qtbot, duplicates=False)
    assert window.model.active == "default-text" and len(window.model.dataset) == 24
    window.data.add_encoder(second)
    qtbot.waitUntil(lambda: second in window.model.sets, timeout=240_000)
    assert window.model.active == "default-text"  # the added encoder does not take over
    compare = window.show_view("CompareView")
    qtbot.waitUntil(lambda: compare.result is not None and len(compare.metrics) == 2, timeout=120_000)
    sets = window.model.sets
    cka = linear_cka(sets["default-text"].vectors, sets[second].vectors)
    assert cka == pytest.approx(1.0, abs=1e-4)
    assert compare.cell(compare.cka_table, "default-text", second) == f"{cka:.3f}"
    assert compare.result.disagreement.max() <= 0.1  # the same model: the same neighbours
    window.selection.set_current(4, "test")
    path = tmp_path / "texts.embedview.json"
    save_session(window, path)
    assert json.loads(path.read_text())["encoders"] == ["default-text", second]

    w2 = second_window
    w2.open_session(str(path))
    qtbot.waitUntil(lambda: second in w2.model.sets and w2.session_restorer.done, timeout=240_000)
    assert w2.model.active == "default-text" and w2.selection.current == 4
    for name in ("default-text", second):
        stats = w2.model.sets[name].stats
        assert stats["n_encoded"] == 0 and stats["n_cached"] == 24, (name, stats)
        np.testing.assert_array_equal(w2.model.sets[name].vectors, sets[name].vectors)
