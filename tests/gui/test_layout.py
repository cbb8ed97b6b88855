"""The window's layout on the screens people have: at 1280x800 (and the 90 % a first start opens
there) and at 1600x1000, with real data (scikit-learn's digits and a collapsed second encoder),
every analysis workspace shows its verdict, its key numbers and its plots without scrolling or
dragging a splitter, and the window fits the screen.  What is measured is what is painted: label
widths against their text's advance (QFontMetrics), rows against the viewport that shows them."""

import numpy as np
import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QDockWidget, QMainWindow, QToolBar, QWidget
from viewkit import digits_set, pca_2d

from embedview.core.embeddings import EmbeddingSet
from embedview.gui.views import WORKSPACES

#: (screen width, screen height) and the window's frame on it: the whole screen, and 90 % of 1280x800
SIZES = [((1280, 800), 1.0), ((1280, 800), 0.9), ((1600, 1000), 1.0)]
COLLAPSED = "collapsed-encoder"
CHECKS_RUN = ("knn", "retrieval", "outliers")


def _pump(qtbot, window):
    assert window.runner.wait_all(120)
    qtbot.wait(50)
    assert window.runner.wait_all(120)
    qtbot.wait(50)


def _collapsed(emb: EmbeddingSet) -> EmbeddingSet:
    """The digits folded onto 3 directions (plus a trace of noise): a dimensional collapse."""
    rng = np.random.default_rng(0)
    X = emb.vectors
    folded = (X @ rng.normal(size=(X.shape[1], 3))) @ rng.normal(size=(3, X.shape[1]))
    folded += 1e-3 * rng.normal(size=folded.shape)
    return EmbeddingSet(emb.dataset, folded.astype(np.float32), COLLAPSED)


@pytest.fixture
def loaded(window, qtbot):
    """The real window with the digits open, a collapsed second encoder, duplicates found and a
    few checks run (the retrieval check's details are long)."""

    def stand_in_umap(name):  # a map at once, without UMAP's first-run compile
        window.model.set_projection("umap", pca_2d(window.model.sets[name])[:, ::-1].copy(), None, name=name)

    window.model.embeddings_changed.connect(stand_in_umap)
    emb = digits_set()
    window.data.show_dataset(emb.dataset, ["digits.npy"])
    qtbot.waitUntil(lambda: window.model.emb is not None, timeout=20_000)
    window.model.add_embeddings(_collapsed(window.model.emb), activate=False)
    qtbot.waitUntil(lambda: window.model.get_analysis("duplicates") is not None, timeout=120_000)
    checks = window.views["ChecksView"]
    for name in CHECKS_RUN:
        checks.run(name)
    qtbot.waitUntil(lambda: not checks.is_busy(), timeout=120_000)
    _pump(qtbot, window)
    return window


def _size_window(window, qtbot, screen, share):
    """Give the window the frame it has on ``screen`` (the whole screen, or ``share`` of it)."""
    frame, inner = window.frameGeometry(), window.geometry()
    dw, dh = frame.width() - inner.width(), frame.height() - inner.height()
    w, h = int(screen[0] * share) - dw, int(screen[1] * share) - dh
    window.move(0, 0)
    window.resize(w, h)
    qtbot.wait(50)
    assert (window.width(), window.height()) == (w, h), (
        f"the window cannot be {w}x{h}: its minimum is {window.minimumSizeHint().width()}x"
        f"{window.minimumSizeHint().height()}")
    assert QRect(0, 0, *screen).contains(window.frameGeometry())


def _show(window, qtbot, key):
    window.show_workspace(key)
    qtbot.wait(30)
    _pump(qtbot, window)


def _whole(widget: QWidget) -> bool:
    """Every pixel of ``widget`` is shown: not clipped by a scroll area's viewport, a splitter, a
    dock or the window (its rectangle, cut by each of its ancestors' in turn, stays whole)."""
    if not widget.isVisible():
        return False
    window = widget.window()
    rect = QRect(widget.mapTo(window, widget.rect().topLeft()), widget.size())
    shown = QRect(rect)
    parent = widget.parentWidget()
    while parent is not None:
        shown = shown.intersected(QRect(parent.mapTo(window, parent.rect().topLeft()), parent.size())
                                  if parent is not window else window.rect())
        parent = parent.parentWidget()
    return shown == rect


def _inside_window(window, widget: QWidget) -> bool:
    top_left = widget.mapTo(window, widget.rect().topLeft())
    return window.rect().contains(QRect(top_left, widget.size()))


def _advance(widget: QWidget, text: str, bold: bool = False) -> int:
    font = QFont(widget.font())
    font.setBold(bold or font.bold())
    return QFontMetrics(font).horizontalAdvance(text)


def _check_collapse(window, qtbot, label):
    view = window.views["CollapseView"]
    _show(window, qtbot, "CollapseView")
    qtbot.waitUntil(lambda: set(view.results) == {"precomputed", COLLAPSED}, timeout=60_000)
    qtbot.wait(50)
    assert view.results[COLLAPSED].verdict_ == "dimensional collapse"
    for name, badge in view.badges.items():
        text = badge.text()
        need = _advance(badge, text, bold=True)
        assert badge.contentsRect().width() >= need, f"{label}: badge {text!r} is {badge.contentsRect().width()} px " \
                                                     f"wide, its text needs {need}"
        assert _whole(badge), f"{label}: the {name} badge {text!r} is cut off"
        assert _inside_window(window, badge)
    # the whole left pane (verdicts, reasons, metrics) fits: nothing is scrolled out of sight
    assert view.left_scroll.verticalScrollBar().maximum() == 0, f"{label}: the collapse numbers scroll"
    table = view.table
    assert _whole(table), f"{label}: the collapse table is cut off"
    titles = [table.item(r, 0).text() for r in range(table.rowCount())]
    key_rows = [r for r, t in enumerate(titles) if t.startswith(("effective rank", "directions for 90"))]
    assert len(key_rows) >= 2, titles
    for r in range(table.rowCount()):
        for c in range(table.columnCount()):
            item = table.item(r, c)
            if item is None or table.columnSpan(r, c) > 1:
                continue
            rect = table.visualRect(table.model().index(r, c))
            assert table.viewport().rect().contains(rect), f"{label}: row {titles[r]!r} is out of sight"
            fm = QFontMetrics(item.font() if item.font() != QFont() else table.font())
            if r in key_rows or c > 0:  # the numbers and the verdict words are never elided
                assert fm.horizontalAdvance(item.text()) <= rect.width() - 4, (
                    f"{label}: {titles[r]!r} / column {c} {item.text()!r} does not fit {rect.width()} px")
    # the three plots have room
    plots = view.plots
    assert _whole(plots) and plots.width() >= 450 and plots.height() >= 300, (label, plots.size())
    for p in (view.spread_plot, view.spectrum_plot, view.cosine_plot):
        box = p.getViewBox().sceneBoundingRect()
        assert box.width() >= 120 and box.height() >= 220, (label, box)


def _check_duplicates(window, qtbot, label):
    view = window.views["DuplicatesView"]
    _show(window, qtbot, "DuplicatesView")
    assert view.stack.currentWidget() is not view.placeholder
    assert _whole(view.group_list) and view.group_list.height() >= 200, (label, view.group_list.height())
    assert _whole(view.plot) and view.plot.height() >= 150, (label, view.plot.height())
    assert _whole(view.count_label), f"{label}: the duplicate counts are cut off"


def _check_checks(window, qtbot, label):
    view = window.views["ChecksView"]
    _show(window, qtbot, "ChecksView")
    table = view.table
    assert table.rowCount() >= 5 and _whole(table)
    details = 4
    width = table.columnWidth(details)
    assert width >= 250, f"{label}: the details column is {width} px"
    margin = 2 * (table.style().pixelMetric(table.style().PixelMetric.PM_FocusFrameHMargin, None, table) + 1)
    for r in range(table.rowCount()):
        item = table.item(r, details)
        fm = QFontMetrics(item.font() if item.font() != QFont() else table.font())
        wrapped = fm.boundingRect(QRect(0, 0, width - margin, 10_000), Qt.TextWordWrap, item.text())
        assert wrapped.width() <= width - margin + 1, (label, item.text())  # no word longer than the column
        assert wrapped.height() <= table.rowHeight(r), (
            f"{label}: {item.text()!r} needs {wrapped.height()} px, its row is {table.rowHeight(r)}")
    assert len(view.all_rows()) == table.rowCount()
    for check in CHECKS_RUN:  # the form's row of every check is whole (its Run button and status)
        assert _whole(view.form_rows[check].run) and _whole(view.form_rows[check].status), (label, check)


def _check_compare(window, qtbot, label):
    view = window.views["CompareView"]
    _show(window, qtbot, "CompareView")
    assert _whole(view) and view.width() >= window.width() - 20, (label, view.width())


def _check_explore(window, qtbot, label):
    _show(window, qtbot, "Explore")
    main = window.main_view
    assert _whole(main) and main.width() >= window.width() * 0.55 and main.height() >= 300, (label, main.size())
    for name, dock in window.docks.items():
        if dock.isVisible() and not dock.visibleRegion().isEmpty():  # (a dock tabbed behind another is moved away)
            assert _inside_window(window, dock), f"{label}: the {name} dock is off the window"


def test_every_workspace_has_room_on_both_screens(loaded, qtbot):
    window = loaded
    for screen, share in SIZES:
        _size_window(window, qtbot, screen, share)
        label = f"{screen[0]}x{screen[1]} at {share:.0%}"
        _check_explore(window, qtbot, label)
        _check_duplicates(window, qtbot, label)
        _check_checks(window, qtbot, label)
        _check_collapse(window, qtbot, label)
        _check_compare(window, qtbot, label)


def test_the_window_fits_the_smaller_screen(window, qtbot):
    """Its minimum (docks, toolbar, every workspace) is below 90 % of 1280x800, and a first start
    opens at 90 % of the screen, centred."""
    from embedview.gui.main_window import default_geometry

    hint = window.minimumSizeHint()
    assert hint.width() <= 1152 and hint.height() <= 720, hint
    for page in window.workspaces.values():
        assert page.minimumSizeHint().width() <= 1100, (page, page.minimumSizeHint())
    geo = default_geometry(QRect(0, 0, 1280, 770))
    assert (geo.width(), geo.height()) == (1152, 693) and QRect(0, 0, 1280, 770).contains(geo)
    assert geo.center().x() in (639, 640)
    geo = default_geometry(QRect(100, 30, 1600, 970))
    assert (geo.x(), geo.width()) == (180, 1440)


def test_workspaces_menu_shortcuts_and_show_view(window, qtbot):
    tabs = window.tabs
    titles = ["Explore", "Duplicates", "Issues", "Checks", "Collapse", "Compare", "Drift", "Timeline"]
    assert [tabs.tabText(i) for i in range(tabs.count())] == titles
    assert not tabs.tabBar().isHidden()
    docks = {"NeighborsView", "HeatmapView", "SearchView", "TableView", "ProblemsView", "ChartsView"}
    assert set(window.docks) == docks
    view_texts = [a.text() for a in window.view_menu.actions()]
    for title in (*titles, "Neighbours", "Items", "Charts"):
        assert title in view_texts
    shortcuts = dict(window.shortcuts())
    assert shortcuts["Explore"].endswith("1") and shortcuts["Compare"].endswith("6")
    assert shortcuts["Timeline"].endswith("8")
    # a shortcut (through its action), the model's request and show_view all bring the workspace up
    window.workspace_actions["CollapseView"].trigger()
    assert window.current_workspace() == "CollapseView" and window.views["CollapseView"].isVisible()
    assert window.workspace_actions["CollapseView"].isChecked()
    window.model.show_view_requested.emit("neighbors")  # e.g. the search view after a search
    assert window.current_workspace() == "Explore" and window.views["NeighborsView"].isVisible()
    assert window.show_view("compare") is window.views["CompareView"] and window.current_workspace() == "CompareView"
    tabs.setCurrentIndex(3)  # a click on the tab
    assert window.workspace_actions["ChecksView"].isChecked()
    window.docks["TableView"].close()
    window.show_view("TableView")
    assert window.current_workspace() == "Explore" and window.views["TableView"].isVisible()
    window.show_workspace("DuplicatesView")
    window.reset_layout()
    assert window.current_workspace() == "Explore"


def test_an_older_layout_never_breaks_the_window(window, qtbot):
    """A layout saved by a version that docked every view (settings or a session file) leaves the
    docks of Explore shown and every workspace in its tab."""
    from embedview.gui.settings import Settings
    from embedview.gui.views import VIEWS

    old = QMainWindow()  # what an older window saved: its toolbar and a dock for every view but the map
    qtbot.addWidget(old)
    bar = QToolBar("Main")
    bar.setObjectName("toolbar-main")
    old.addToolBar(bar)
    old_docks = []
    for _module, cls in VIEWS[1:]:
        dock = QDockWidget(cls)
        dock.setObjectName(f"dock-{cls}")
        dock.setWidget(QWidget())
        old.addDockWidget(Qt.BottomDockWidgetArea, dock)
        old_docks.append(cls)
    old.show()
    state = old.saveState()
    settings = Settings()
    settings.save_window(window.saveGeometry(), state, old_docks)
    assert settings.window_state(list(window.docks)) is None  # other docks: never restored from settings

    from embedview.gui.session import _b64, restore_layout

    restore_layout(window, {"state": _b64(state)})  # a session file of an older version
    qtbot.wait(20)
    for name, dock in window.docks.items():
        assert not dock.isHidden(), name
    assert window.tabs.count() == 1 + len(WORKSPACES)
    for key in ("DuplicatesView", "CollapseView"):
        window.show_workspace(key)
        assert window.views[key].isVisible()
    # and the layout of this version comes back through a session
    window.docks["HeatmapView"].hide()
    layout = {"state": _b64(window.saveState())}
    window.reset_layout()
    assert not window.docks["HeatmapView"].isHidden()
    restore_layout(window, layout)
    assert window.docks["HeatmapView"].isHidden()


def test_mean_centre_tick_is_cleared_when_other_data_opens(window, qtbot):
    """The checkbox the user ticked goes back to unticked (and the diagnostics to the raw vectors)
    when another file is opened, in the real window."""
    view = window.views["CollapseView"]
    window.show_workspace("CollapseView")
    window.data.show_dataset(digits_set(400).dataset, ["digits.npy"])
    qtbot.waitUntil(lambda: bool(view.results), timeout=60_000)
    qtbot.mouseClick(view.center_box, Qt.LeftButton)
    assert view.center_box.isChecked() and window.model.views.collapse.center
    view.whiten_box.click()
    assert window.model.views.collapse.whiten
    _pump(qtbot, window)
    qtbot.waitUntil(lambda: "mean-centred" in view.status.text() or "whitened" in view.status.text(), timeout=60_000)

    window.data.show_dataset(digits_set(300).dataset, ["other.npy"])
    qtbot.waitUntil(lambda: window.model.emb is not None and len(window.model.emb.vectors) == 300, timeout=60_000)
    assert not window.model.views.collapse.center and not window.model.views.collapse.whiten
    assert not view.center_box.isChecked() and not view.whiten_box.isChecked()
    qtbot.waitUntil(lambda: bool(view.results) and next(iter(view.results.values())).n_items_ == 300, timeout=60_000)
    assert "as encoded" in view.status.text()
