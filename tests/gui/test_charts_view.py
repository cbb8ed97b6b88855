"""The Charts view on scikit-learn's digits: a chart per column, the selection's share drawn on every
chart, brushes that set the shared selection (and combine), and a selection made elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtWidgets import QApplication
from viewkit import ViewEnv, digits_set

from embedview.gui.views.charts import ChartsView
from embedview.model import AnalysisKind


@pytest.fixture
def env(qtbot):
    e = ViewEnv(qtbot, 420, 800)
    yield e
    e.close()


def _loaded(env, n=600):
    view = env.add(ChartsView)
    env.show()
    emb = digits_set(n)
    ds = emb.dataset
    # a few real-ish columns: a score with missing values, a category, an id-like column
    ink = np.asarray(ds.metadata["ink"], dtype=float)
    ds.metadata["score"] = [None if i % 50 == 0 else float(v) / 100 for i, v in enumerate(ink)]
    ds.metadata["half"] = ["first" if i < n // 2 else "second" for i in range(n)]
    ds.metadata["name"] = [f"item {i}" for i in range(n)]
    env.load(emb)
    env.wait_idle()
    env.qtbot.waitUntil(lambda: view.facets is not None and not view.building)
    return view, ds


def test_charts_for_columns_and_selection_from_elsewhere(env):
    view, ds = _loaded(env)
    assert list(view.panels) == ["label", "ink", "score", "half"]
    assert "name" in view.skipped.text() and "text-like" in view.skipped.text()
    label = view.panels["label"]
    assert label.facet.counts.sum() == len(ds)
    assert label.title.text().startswith("<b>label</b>")
    # the map (or any view) selects the 3s and 8s: every chart draws their share
    idx = np.flatnonzero(np.isin(ds.labels, ["3", "8"]))
    env.selection.set_selection(idx, "map")
    sel = label.selected
    assert sel.sum() == idx.size
    for k, lab in enumerate(label.facet.labels):
        assert sel[k] == (idx.size and int(np.isin(ds.labels[idx], [lab]).sum()))
    ink = view.panels["ink"]
    direct, _ = np.histogram(np.asarray(ds.metadata["ink"])[idx], bins=ink.facet.edges)
    assert np.array_equal(ink.selected[: len(direct)], direct)
    # the highlighted bars are those counts
    assert np.array_equal(ink.sel_bars.opts["y1"], direct)
    assert view.last_redraw_ms > 0
    assert f"<b>{idx.size:,}</b> of {len(ds):,} items selected" in view.info.text()
    # a hover names the bar with its counts
    text = label.hover_text(label.facet.labels.index("3"))
    assert "label: 3" in text and "selected:" in text


def test_brushes_set_the_selection_and_combine(env):
    view, ds = _loaded(env)
    seen = []
    env.selection.selection_changed.connect(lambda idx, src: seen.append(src))
    ink = view.panels["ink"]
    e = ink.facet.edges
    ink.drag_to(float(e[1]) + 0.3 * (e[2] - e[1]), float(e[4]) + 0.1 * (e[5] - e[4]), finished=True)
    # snapped to whole bars: bins 1..4
    assert view.model.views.charts.brushes == {"ink": {"range": [float(e[1]), float(e[5])]}}
    values = np.asarray(ds.metadata["ink"])
    expect = np.flatnonzero((values >= e[1]) & (values < e[5]))
    assert np.array_equal(env.selection.selected, expect) and seen[-1] == "charts"
    assert ink.selected[1:5].sum() == expect.size and ink.selected[5:].sum() == 0
    # a category on another chart: AND
    half = view.panels["half"]
    half.click_slot(half.facet.labels.index("second"), add=False)
    both = expect[expect >= len(ds) // 2]
    assert np.array_equal(env.selection.selected, both)
    # ctrl-click adds the other category: back to the ink brush alone
    half.click_slot(half.facet.labels.index("first"), add=True)
    assert np.array_equal(env.selection.selected, expect)
    # the label chart's "3" bar
    label = view.panels["label"]
    label.click_slot(label.facet.labels.index("3"), add=False)
    assert set(ds.labels[env.selection.selected]) == {"3"}
    # Clear: no brush, nothing selected
    view.clear_button.click()
    assert view.model.views.charts.brushes == {} and env.selection.selected.size == 0
    assert not ink.region.isVisible()


def test_selection_elsewhere_drops_brushes_and_scores_get_a_chart(env):
    view, ds = _loaded(env)
    label = view.panels["label"]
    label.click_slot(0, add=False)
    assert view.model.views.charts.brushes
    env.selection.set_selection([1, 2, 3], "map")
    assert view.model.views.charts.brushes == {}
    assert np.array_equal(env.selection.selected, [1, 2, 3])  # the map's selection stays
    # an analysis adds per-item scores: a chart for them appears
    rng = np.random.default_rng(0)
    env.model.set_analysis(AnalysisKind.ITEM_SCORES, {"uniqueness": rng.random(len(ds))})
    env.wait_idle()
    env.qtbot.waitUntil(lambda: "uniqueness" in view.panels and not view.building)
    assert view.panels["uniqueness"].selected.sum() == 3
    # hiding a column hides its chart
    view.show_column("ink", False)
    assert view.model.views.charts.hidden == ("ink",)
    assert not view.panels["ink"].isVisible() and view.panels["label"].isVisible()


def _widget_pos(panel, x: float, y: float):
    scene = panel.box.mapViewToScene(QPointF(x, y))
    return panel.plot.mapFromScene(scene)


def _send(widget, kind, pos, buttons, modifiers=Qt.NoModifier, button=Qt.LeftButton):
    from PySide6.QtGui import QMouseEvent

    local = QPointF(pos)
    glob = QPointF(widget.mapToGlobal(pos))
    QApplication.sendEvent(widget, QMouseEvent(kind, local, glob, button, buttons, modifiers))


def test_mouse_drag_and_clicks(env):
    """Real mouse events on the plots: a drag across the histogram brushes, a click picks a bar,
    Ctrl+click adds one."""
    view, ds = _loaded(env)
    view.scroll.widget().resize(view.scroll.viewport().width(), view.body.sizeHint().height())
    ink = view.panels["ink"]
    e = ink.facet.edges
    vp = ink.plot.viewport()
    top = float(ink.facet.counts.max()) / 2
    a = _widget_pos(ink, float(e[2]) + 0.5 * (e[3] - e[2]), top)
    b = _widget_pos(ink, float(e[5]) + 0.5 * (e[6] - e[5]), top)
    _send(vp, QEvent.MouseButtonPress, a, Qt.LeftButton)
    for k in range(1, 6):
        p = QPoint(a.x() + (b.x() - a.x()) * k // 5, a.y())
        _send(vp, QEvent.MouseMove, p, Qt.LeftButton, button=Qt.NoButton)
    _send(vp, QEvent.MouseButtonRelease, b, Qt.NoButton)
    assert view.model.views.charts.brushes == {"ink": {"range": [float(e[2]), float(e[6])]}}
    values = np.asarray(ds.metadata["ink"])
    assert np.array_equal(env.selection.selected, np.flatnonzero((values >= e[2]) & (values < e[6])))
    label = view.panels["label"]
    lvp = label.plot.viewport()
    names = label.facet.labels
    for name, mods in (("1", Qt.NoModifier), ("7", Qt.ControlModifier)):
        k = names.index(name)
        p = _widget_pos(label, float(label.facet.counts[k]) / 2, float(k))
        _send(lvp, QEvent.MouseButtonPress, p, Qt.LeftButton, mods)
        _send(lvp, QEvent.MouseButtonRelease, p, Qt.NoButton, mods)
    assert view.model.views.charts.brushes["label"] == {"values": ["1", "7"]}
    # the mouse over the "7" bar: the hover line names it with its counts
    _send(lvp, QEvent.MouseMove, p, Qt.NoButton, button=Qt.NoButton)
    k7 = names.index("7")
    assert view.hover_line.text().startswith(f"label: 7 \u2014 {int(label.facet.counts[k7]):,} items")
    assert "selected:" in view.hover_line.text()
    sel = env.selection.selected
    assert set(ds.labels[sel]) <= {"1", "7"} and len(sel) > 0
    assert np.all((values[sel] >= e[2]) & (values[sel] < e[6]))


def test_many_columns_are_charted_a_few_at_a_time(env):
    """Twenty columns: the charts are made a few per turn of the event loop (the window keeps
    painting), a selection made meanwhile reaches the charts made later, and a newer summary
    replaces the one being built."""
    from embedview.core.facets import FacetSet
    from embedview.gui.views.charts import BUILD_BATCH

    view, ds = _loaded(env)
    rng = np.random.default_rng(0)
    n = len(ds)
    for k in range(20):
        ds.metadata[f"m{k}"] = rng.normal(size=n) if k % 2 else rng.choice(list("abcde"), n).tolist()
    fs = FacetSet().fit(ds)
    view._show_facets(fs)
    assert view.building and len(view.panels) == BUILD_BATCH
    env.selection.set_selection(np.arange(0, n, 3), "map")
    env.qtbot.waitUntil(lambda: not view.building)
    assert list(view.panels) == fs.names_
    last = view.panels[fs.names_[-1]]
    assert last.selected.sum() == len(np.arange(0, n, 3))
    view._show_facets(fs)
    view._show_facets(FacetSet().fit(digits_set(100).dataset))
    env.qtbot.waitUntil(lambda: not view.building)
    env.qtbot.wait(50)
    assert list(view.panels) == ["label", "ink"]


def test_theme_change_restyles_the_charts(env):
    from embedview.gui import theme

    view, _ds = _loaded(env)
    app = QApplication.instance()
    before, style = app.palette(), app.style().name()
    panel = view.panels["label"]
    try:
        theme.apply_theme(app, "dark")
        env.qtbot.waitUntil(lambda: panel._colors == theme.COLORS["dark"])
        assert panel.plot.backgroundBrush().color().name() == theme.COLORS["dark"]["plot_background"]
        theme.apply_theme(app, "light")
        env.qtbot.waitUntil(lambda: panel._colors == theme.COLORS["light"])
        assert panel.plot.backgroundBrush().color().name() == theme.COLORS["light"]["plot_background"]
    finally:  # the other tests see the application as it was
        app.setStyle(style)
        app.setPalette(before)
