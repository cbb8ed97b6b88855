"""Collapse view on real data: embedding files loaded from disk (healthy, a 5-d subspace, rank 1 plus
noise), the verdict badge and plots that follow them, whitening equal to the core, two encoders."""

import numpy as np
import pytest
from viewkit import digits_set

from embedview.core.collapse import CollapseDiagnostics, mean_center, whiten
from embedview.core.embeddings import EmbeddingSet
from embedview.core.loaders import load_paths

ENV_SIZE = (1300, 600)  # the host window of the ``env`` fixture (tests/gui/conftest.py)


def _npy_set(path, X, encoder="precomputed"):
    np.save(path, X.astype(np.float32))
    emb = EmbeddingSet.from_dataset(load_paths([str(path)]))
    if encoder != "precomputed":
        emb = EmbeddingSet(emb.dataset, emb.vectors, encoder)
    return emb


def _wait_result(env, view):
    env.wait_idle()
    env.qtbot.waitUntil(lambda: bool(view.results), timeout=20_000)


def test_verdict_and_plots_follow_the_loaded_file(env, tmp_path):
    from embedview.gui.views.collapse import VERDICT_COLORS, CollapseView

    view = env.add(CollapseView)
    env.show()
    rng = np.random.default_rng(0)
    healthy = digits_set().vectors[:600]
    env.load(_npy_set(tmp_path / "healthy.npy", healthy))
    _wait_result(env, view)
    d = view.results["precomputed"]
    core = CollapseDiagnostics().fit(healthy)
    assert d.verdict_ == core.verdict_ == "healthy"
    assert d.effective_rank_ == pytest.approx(core.effective_rank_, rel=1e-6)
    badge = view.badges["precomputed"]
    assert badge.text() == "HEALTHY" and VERDICT_COLORS["healthy"] in badge.styleSheet()
    assert view.cell("effective rank (centred)", "precomputed") == f"{core.effective_rank_:.1f}"
    assert view.cell("RankMe (raw matrix)", "precomputed") == f"{core.rankme_:.1f}"
    healthy_spectrum = view.spectrum_plot.listDataItems()[0].getOriginalDataset()[1]

    # the same number of items squeezed into a 5-dimensional subspace of 256 dimensions
    sub = rng.normal(size=(600, 5)) @ rng.normal(size=(5, 256))
    env.load(_npy_set(tmp_path / "subspace.npy", sub))
    _wait_result(env, view)
    d = view.results["precomputed"]
    assert d.verdict_ == "dimensional collapse"
    assert view.badges["precomputed"].text() == "DIMENSIONAL COLLAPSE"
    assert VERDICT_COLORS["dimensional collapse"] in view.badges["precomputed"].styleSheet()
    assert view.reasons["precomputed"].text().startswith("Dimensional collapse: ")
    spectrum = view.spectrum_plot.listDataItems()[0].getOriginalDataset()[1]
    assert spectrum[:5].min() > 1e4 * spectrum[5:].max()  # only 5 directions carry any variance
    assert healthy_spectrum[:30].min() > 1e-2 * healthy_spectrum[0]

    # rank 1 plus a little noise: complete collapse (one direction holds almost everything)
    line = rng.normal(size=(600, 1)) @ rng.normal(size=(1, 128)) + 0.01 * rng.normal(size=(600, 128))
    env.load(_npy_set(tmp_path / "rank1.npy", line))
    _wait_result(env, view)
    assert view.results["precomputed"].verdict_ == "complete collapse"
    assert view.badges["precomputed"].text() == "COMPLETE COLLAPSE"
    assert VERDICT_COLORS["complete collapse"] in view.badges["precomputed"].styleSheet()
    cos = view.cosine_plot.listDataItems()[0].getOriginalDataset()
    assert np.isclose(cos[1].sum(), 1.0)  # histogram drawn as fraction of pairs


def test_whitening_and_centring_equal_the_core_on_transformed_data(env, tmp_path):
    from embedview.gui.views.collapse import CollapseView

    view = env.add(CollapseView)
    env.show()
    emb = digits_set(500)
    env.load(emb)
    _wait_result(env, view)
    raw_rank = view.results["precomputed"].effective_rank_

    choices = env.model.views.collapse
    view.whiten_box.click()  # the user ticks the box: the choice is the model's
    assert choices.whiten is True and view.whitened
    white = CollapseDiagnostics().fit(whiten(emb.vectors))
    env.qtbot.waitUntil(lambda: view.results["precomputed"].effective_rank_ != raw_rank, timeout=20_000)
    assert "vectors whitened" in view.status.text()
    got = view.results["precomputed"]
    assert got.effective_rank_ == pytest.approx(white.effective_rank_, rel=1e-9)
    assert got.effective_rank_ > raw_rank + 10  # every used direction now counts equally
    assert view.cell("effective rank (centred)", "precomputed") == f"{white.effective_rank_:.1f}"

    choices.whiten = False  # set in the model (a session, a script): the boxes and results follow
    choices.center = True
    assert view.center_box.isChecked() and not view.whiten_box.isChecked()
    centred = CollapseDiagnostics().fit(mean_center(emb.vectors))
    env.qtbot.waitUntil(lambda: view.results["precomputed"].cosine_mean_ == pytest.approx(centred.cosine_mean_,
                                                                                          abs=1e-9), timeout=20_000)
    assert "vectors mean-centred" in view.status.text()
    assert view.results["precomputed"].cosine_mean_ == pytest.approx(centred.cosine_mean_, abs=1e-9)
    assert view.results["precomputed"].cosine_mean_ < 0.1  # digits share a big offset; centring removes it

    view.set_mitigation(center=False)  # back to raw: from the cache, no job
    assert choices.center is False and not view.center_box.isChecked()
    assert view.results["precomputed"].effective_rank_ == raw_rank
    assert not env.runner.active_keys()


def test_spread_choice_redraws_and_new_data_clears_the_mitigations(env, tmp_path):
    from embedview.core.collapse import collapse_curves
    from embedview.gui.views.collapse import CollapseView

    view = env.add(CollapseView)
    env.show()
    emb = digits_set(300)
    env.load(emb)
    _wait_result(env, view)
    choices = env.model.views.collapse
    drawn = view.spread_plot.listDataItems()[0].getOriginalDataset()[1]
    np.testing.assert_allclose(drawn, collapse_curves(view.results["precomputed"]).spread)
    view.spread_box.setCurrentIndex(view.spread_box.findData("var"))
    assert choices.spread == "var"
    drawn = view.spread_plot.listDataItems()[0].getOriginalDataset()[1]
    np.testing.assert_allclose(drawn, collapse_curves(view.results["precomputed"], variance=True).spread)
    choices.log = True
    assert view.log_box.isChecked() and view.spread_plot.getViewBox().state["logMode"][1]

    # a tick left from other data would measure the new data mitigated and could hide its collapse
    choices.whiten = True
    env.qtbot.waitUntil(lambda: "vectors whitened" in view.status.text(), timeout=20_000)
    rng = np.random.default_rng(0)
    sub = rng.normal(size=(600, 5)) @ rng.normal(size=(5, 256))
    env.load(_npy_set(tmp_path / "subspace.npy", sub))
    assert choices.whiten is False and not view.whiten_box.isChecked()
    env.qtbot.waitUntil(lambda: "vectors as encoded" in view.status.text(), timeout=20_000)
    assert view.results["precomputed"].verdict_ == "dimensional collapse"  # whitened, it would read healthy
    assert choices.spread == "var" and choices.log  # how it is drawn stays


def test_two_encoders_side_by_side_and_export(env, tmp_path):
    from embedview.gui.views.collapse import CollapseView

    view = env.add(CollapseView)
    env.show()
    emb = digits_set(400)
    env.load(emb)
    rng = np.random.default_rng(1)
    squashed = EmbeddingSet(emb.dataset, (emb.vectors @ rng.normal(size=(64, 3)) @ rng.normal(size=(3, 256))
                                          ).astype(np.float32), "squashed")
    env.model.add_embeddings(squashed, activate=False)
    env.qtbot.waitUntil(lambda: len(view.results) == 2, timeout=20_000)
    env.wait_idle()
    assert list(view.results) == ["precomputed", "squashed"]  # active first
    assert view.results["squashed"].verdict_ != "healthy"
    assert view.badges["precomputed"].text() == "HEALTHY"
    assert view.table.columnCount() == 3
    assert len(view.spectrum_plot.listDataItems()) == 2 and len(view.legend.rows) == 2

    png, svg = tmp_path / "collapse.png", tmp_path / "collapse.svg"
    view.export_plot(str(png))
    view.export_plot(str(svg))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000
    assert b"<svg" in svg.read_bytes()[:2000]


def test_two_local_model_folders_of_the_same_name_are_told_apart(env, tmp_path):
    """Encoders from /a/model and /b/model must not both read "sbert:model" in the table header."""
    from embedview.gui.views.collapse import CollapseView

    view = env.add(CollapseView)
    env.show()
    base = digits_set()
    a, b = f"sbert:{tmp_path / 'a' / 'model'}", f"sbert:{tmp_path / 'b' / 'model'}"
    env.load(EmbeddingSet(base.dataset, base.vectors, a))
    env.model.add_embeddings(EmbeddingSet(base.dataset, base.vectors[:, ::-1].copy(), b), activate=False)
    env.wait_idle()
    env.qtbot.waitUntil(lambda: len(view.results) == 2, timeout=20_000)
    headers = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert "sbert:a/model" in headers and "sbert:b/model" in headers


def test_the_legend_follows_a_theme_switch(env):
    from PySide6.QtWidgets import QApplication

    from embedview.gui import theme
    from embedview.gui.views.collapse import CollapseView

    view = env.add(CollapseView)
    env.show()
    app = QApplication.instance()
    before = app.palette()
    try:
        for mode in ("dark", "light"):
            theme.apply_theme(app, mode)
            theme.apply_plot_theme(mode, env.host)
            env.qtbot.waitUntil(lambda mode=mode: view.legend.foreground.name()
                                == theme.colors(mode)["plot_foreground"].lower())
    finally:
        app.setPalette(before)
