"""Compare view on real data: scikit-learn digits pixels against a random projection of them (two
precomputed embedding sets of the same items); numbers equal to the core run directly, linked maps."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtWidgets import QPushButton
from viewkit import digits_set, pca_2d

from embedview.core.compare import EncoderComparison, linear_cka
from embedview.core.embeddings import EmbeddingSet
from embedview.core.evaluation import KNNAccuracy
from embedview.gui.views.compare import pick_summary

N = 500


ENV_SIZE = (1300, 650)  # the host window of the ``env`` fixture (tests/gui/conftest.py)


def _two_sets(n=N, dim=12, seed=0):
    pixels = digits_set(n)
    rng = np.random.default_rng(seed)
    projected = EmbeddingSet(pixels.dataset, (pixels.vectors @ rng.normal(size=(64, dim))).astype(np.float32),
                             f"random-{dim}")
    return pixels, projected


def _wait_compared(env, view):
    env.qtbot.waitUntil(lambda: view.result is not None and view.coloring.title == "neighbour disagreement"
                        and len(view.metrics) == len(view.result.names), timeout=60_000)
    env.wait_idle()


def test_hint_until_a_second_encoder_then_numbers_equal_the_core(env):
    from embedview.gui.views.compare import CompareView

    view = env.add(CompareView)
    env.model.views.compare.method = "pca"  # the maps' method has its own test below
    env.show()
    assert view.stack.currentWidget() is view.hint_page  # no data
    pixels, projected = _two_sets()
    env.load(pixels, pca_2d(pixels))
    assert view.stack.currentWidget() is view.hint_page  # one encoder: nothing to compare
    assert list(view.shown_sets()) == ["precomputed"]

    env.model.add_embeddings(projected, activate=False)
    assert view.stack.currentWidget() is view.content
    _wait_compared(env, view)
    comp = view.comparison
    assert comp.names_ == ["precomputed", "random-12"]  # the active set first

    # CKA equal to the core's on the same vectors, shown in the matrix
    cka = linear_cka(pixels.vectors, projected.vectors)
    assert comp.cka_[0, 1] == pytest.approx(cka, rel=1e-12)
    assert view.cell(view.cka_table, "precomputed", "random-12") == f"{cka:.3f}"
    # per-item disagreement equal to the core's comparison run directly
    core = EncoderComparison(k=10, metrics=False).fit({"precomputed": pixels, "random-12": projected})
    np.testing.assert_allclose(view.result.disagreement, core.disagreement_)
    assert 0.05 < core.disagreement_.mean() < 0.95  # a random projection keeps some neighbours, not all
    overlap = core.overlap_[("precomputed", "random-12")].mean()
    assert view.cell(view.overlap_table, "precomputed", "random-12") == f"{overlap:.3f}"
    # quality metrics equal to the core's, side by side
    for name, emb in (("precomputed", pixels), ("random-12", projected)):
        acc = KNNAccuracy(10, "majority", "cosine").fit(emb.vectors, emb.dataset.labels).accuracy_
        assert view.cell(view.metrics_table, "kNN accuracy (k=10, majority)", name) == f"{acc:.3f}"
    accs = {n: view.metrics[n]["knn"]["accuracy"] for n in comp.names_}
    best = max(accs, key=accs.get)
    summary = pick_summary(comp, view.metrics)
    assert summary.startswith(f"Pick <b>{best}</b>: best kNN accuracy") and "Linear CKA" in summary

    # points coloured by disagreement: each drawn point's colour level is its item's disagreement
    panel = view.panels["random-12"]
    levels = len(view.coloring.colors)
    expected = np.clip((core.disagreement_ * levels).astype(int), 0, levels - 1)
    drawn_codes = panel.canvas.cloud.codes - 1
    drawn_xy = panel.canvas.cloud.xy
    order = np.lexsort((panel.xy[:, 1], panel.xy[:, 0]))
    got = np.lexsort((drawn_xy[:, 1], drawn_xy[:, 0]))
    np.testing.assert_array_equal(drawn_codes[got], expected[order])
    assert panel.method == "pca" and len(panel.xy) == N  # the non-active set's own PCA, computed here
    assert env.model.projection("pca", "random-12") is not None

    # "which items disagree most" selects them
    top = view.select_most_disagreeing()
    assert len(top) == 10 and np.array_equal(env.selection.selected, top)
    assert core.disagreement_[top].min() >= np.sort(core.disagreement_)[-10]


def test_maps_are_linked_to_the_shared_selection(env, tmp_path):
    from embedview.gui.views.compare import CompareView

    view = env.add(CompareView)
    env.model.views.compare.method = "pca"  # the maps' method has its own test below
    env.show()
    pixels, projected = _two_sets(300)
    env.load(pixels, pca_2d(pixels))
    env.model.add_embeddings(projected, activate=False)
    _wait_compared(env, view)
    a, b = view.panels["precomputed"], view.panels["random-12"]
    env.qtbot.waitUntil(lambda: a.tree is not None and b.tree is not None, timeout=10_000)

    # a click on an item in one map makes it current and selected, and every map marks it
    i = 42
    a.canvas.vb.clicked.emit(QPointF(*map(float, a.xy[i])), Qt.NoModifier)
    assert env.selection.current == i and list(env.selection.selected) == [i]
    for panel in (a, b):
        np.testing.assert_allclose(panel.canvas.cur_item.xy, panel.xy[[i, i]])  # a two-tone ring
        np.testing.assert_allclose(panel.canvas.sel_item.xy, panel.xy[[i]])

    # a box in the other map selects what lies inside it there, drawn in both
    lo, hi = b.xy.min(axis=0), b.xy.max(axis=0)
    rect = QRectF(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]) / 2, float(hi[1] - lo[1]) / 2)
    inside = b.select_rect(rect)
    assert inside.size and np.array_equal(env.selection.selected, inside)
    np.testing.assert_allclose(a.canvas.sel_item.xy, a.xy[inside])

    # a selection made elsewhere (another view) shows in every map
    env.selection.set_selection([1, 2, 3], "map")
    for panel in (a, b):
        np.testing.assert_allclose(panel.canvas.sel_item.xy, panel.xy[[1, 2, 3]])

    # colour by label instead (the box writes the model), and export the maps
    state = env.model.views.compare
    view.color_box.setCurrentIndex(view.color_box.findData("label"))
    assert state.color_by == "label"
    env.wait_idle()
    assert view.coloring.title == "label" and len(a.canvas.legend.rows) == 10  # the legend on the first map
    assert b.canvas.legend.rows == []

    # k from the model: the box follows and the comparison is made again with it
    state.k = 5
    assert view.k_box.value() == 5
    env.qtbot.waitUntil(lambda: view.result is not None and view.result.k == 5, timeout=60_000)
    png = tmp_path / "compare.png"
    view.export_plot(str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_three_encoders_and_mismatched_items(env):
    from embedview.core.compare import align_sets
    from embedview.gui.views.compare import CompareView, state_order

    view = env.add(CompareView)
    env.model.views.compare.method = "pca"  # the maps' method has its own test below
    env.show()
    pixels, projected = _two_sets(200)
    third = EmbeddingSet(pixels.dataset, np.sqrt(np.abs(pixels.vectors)).astype(np.float32), "sqrt")
    env.load(pixels, pca_2d(pixels))
    env.model.add_embeddings(projected, activate=False)
    env.model.add_embeddings(third, activate=False)
    _wait_compared(env, view)
    assert view.comparison.names_ == ["precomputed", "random-12", "sqrt"]
    assert view.cka_table.rowCount() == 3 and len(view.panels) == 3
    assert len(view.comparison.overlap_) == 3

    # the same items in another order are matched by id; missing items are refused with their names
    shuffled = projected.subset(np.random.default_rng(0).permutation(200))
    order = state_order(shuffled, pixels.dataset.ids)
    assert [shuffled.dataset.ids[j] for j in order] == list(pixels.dataset.ids)
    with pytest.raises(ValueError, match="random-12"):
        state_order(projected.subset(np.arange(150)), pixels.dataset.ids)
    assert align_sets({"a": pixels, "b": shuffled})["b"].dataset.ids == pixels.dataset.ids


def test_chosen_encoders_are_compared_in_their_order(env):
    from embedview.gui.views.compare import CompareView

    view = env.add(CompareView)
    pixels, projected = _two_sets(100)
    third = EmbeddingSet(pixels.dataset, np.sqrt(np.abs(pixels.vectors)).astype(np.float32), "sqrt")
    env.load(pixels)
    env.model.add_embeddings(projected, activate=False)
    env.model.add_embeddings(third, activate=False)
    assert list(view.shown_sets()) == ["precomputed", "random-12", "sqrt"]
    env.model.views.compare.encoders = ("sqrt", "precomputed", "gone")
    assert list(view.shown_sets()) == ["sqrt", "precomputed"]
    env.model.views.compare.encoders = ("sqrt",)  # fewer than two: every set
    assert list(view.shown_sets()) == ["precomputed", "random-12", "sqrt"]


def test_a_comparison_encode_shows_its_progress_and_cancels_here(env, tmp_path):
    """The view's own progress row for ``DataActions.add_encoder`` (real texts, the offline text model
    under its folder name), whose Cancel stops the encode."""
    from embedview.actions.data import DataActions
    from embedview.core.loaders import load_paths
    from embedview.encoders.default_text import model_folder
    from embedview.gui.views.compare import CompareView

    view = env.add(CompareView)
    env.show()
    path = tmp_path / "notes.txt"
    path.write_text("\n".join(f"note {i} about the harbour, the tram and a teapot" for i in range(600)) + "\n")
    data = DataActions(env.model, env.runner)
    ds = load_paths([str(path)])
    env.model.set_dataset(ds)
    env.model.add_embeddings(EmbeddingSet(ds, np.random.default_rng(0).normal(size=(600, 8)).astype(np.float32),
                                          "random-8"))
    ended = []
    data.extra_ended.connect(lambda name, how: ended.append(how))
    second = f"sbert:{model_folder()}"
    data.add_encoder(second)
    assert list(view._encode_rows) == [second] and view.encodes_box.isVisible()
    assert "for comparison" in view.hint.text()
    row, bar, text = view._encode_rows[second]
    env.qtbot.waitUntil(lambda: bar.value() > 0, timeout=120_000)
    assert "%" in text.text()
    cancel = [w for w in row.findChildren(QPushButton) if w.text() == "Cancel"][0]
    cancel.click()
    env.qtbot.waitUntil(lambda: ended == ["cancelled"], timeout=60_000)
    env.wait_idle()
    assert view._encode_rows == {} and not view.encodes_box.isVisible() and second not in env.model.sets


def test_every_map_shows_the_same_method_and_local_folders_are_told_apart(env):
    """Two encoders with the same geometry (the digits and an orthogonal rotation of them: linear CKA
    1.000) must look alike: never one encoder's UMAP beside the other's PCA."""
    from embedview.actions.analysis import run_umap
    from embedview.gui.views.compare import CompareView

    view = env.add(CompareView)
    env.show()
    pixels = digits_set(300)
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(64, 64)))
    a, b = "sbert:/models/a/model", "sbert:/models/b/model"  # two local folders with the same last part
    first = EmbeddingSet(pixels.dataset, pixels.vectors, a)
    rotated = EmbeddingSet(pixels.dataset, (pixels.vectors @ rotation).astype(np.float32), b)
    env.model.set_dataset(pixels.dataset)
    env.model.add_embeddings(first)
    env.model.set_projection("pca", pca_2d(first))
    env.model.set_projection("umap", run_umap(first).embedding_, name=a)  # the scheduler's UMAP of the active set
    env.model.add_embeddings(rotated, activate=False)
    assert env.model.views.compare.method == "umap"
    env.qtbot.waitUntil(lambda: view.result is not None and all(p.xy is not None for p in view.panels.values()),
                        timeout=60_000)
    assert view.comparison.cka_[0, 1] == pytest.approx(1.0, abs=1e-4)
    if env.model.projection("umap", b) is None:  # its UMAP is still computing: PCA for both meanwhile
        assert [p.method for p in view.panels.values()] == ["pca", "pca"]
        assert "PCA until every UMAP is ready" in view.map_note.text()
        pa, pb = (view.panels[n].xy for n in (a, b))
        for axis in range(2):  # the same geometry gives the same PCA map, up to each axis's sign
            assert abs(np.corrcoef(pa[:, axis], pb[:, axis])[0, 1]) > 0.99
    # the other encoder's UMAP is computed here; then every map shows UMAP at once
    env.qtbot.waitUntil(lambda: env.model.projection("umap", b) is not None, timeout=240_000)
    env.qtbot.waitUntil(lambda: [p.method for p in view.panels.values()] == ["umap", "umap"], timeout=10_000)
    assert view.map_note.text() == ""
    # choosing PCA switches every map
    view.method_box.setCurrentIndex(view.method_box.findData("pca"))
    assert env.model.views.compare.method == "pca" and [p.method for p in view.panels.values()] == ["pca", "pca"]

    # the two folders are told apart everywhere the view names them (the registry name stays the key)
    assert view.label(a) == "sbert:a/model" and view.label(b) == "sbert:b/model"
    assert {view.cka_table.horizontalHeaderItem(c).text() for c in (1, 2)} == {"sbert:a/model", "sbert:b/model"}
    titles = [p.canvas.plot_item.titleLabel.text for p in view.panels.values()]
    assert "sbert:a/model" in titles[0] and "sbert:b/model" in titles[1]
    assert list(env.model.sets) == [a, b]
    env.wait_idle(60)


def test_a_legend_click_isolates_a_label_on_every_map(env):
    from embedview.gui.views.compare import CompareView

    view = env.add(CompareView)
    env.model.views.compare.method = "pca"
    env.model.views.compare.color_by = "label"
    env.show()
    pixels, projected = _two_sets(200)
    env.load(pixels, pca_2d(pixels))
    env.model.add_embeddings(projected, activate=False)
    env.qtbot.waitUntil(lambda: len(view.panels) == 2 and view.coloring is not None
                        and view.coloring.title == "label", timeout=60_000)
    env.wait_idle()
    a, b = view.panels["precomputed"], view.panels["random-12"]
    a.canvas.highlight_requested.emit(("3",))  # what a click on the legend's "3" row asks for
    assert env.model.views.compare.highlighted_labels == ("3",)
    assert a.canvas.highlighted == ("3",) and b.canvas.highlighted == ("3",)
    env.model.views.compare.highlighted_labels = ()  # "show all" / Esc / a new dataset
    assert a.canvas.highlighted == () and b.canvas.highlighted == ()
