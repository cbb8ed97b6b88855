"""The main window: menus, toolbar, workspaces and docks for the views, dialogs, status bar, drag-and-drop.

Layout: the window's centre is a row of workspaces (tabs, Ctrl+1 ... Ctrl+8, the View menu).
**Explore** is the map with the small views docked around it (Search, Neighbours, Similarity
heatmap on the right, Items and Problems below); every view named in ``views.WORKSPACES``
(Duplicates, Checks, Collapse, Compare) gets a workspace of its own that takes the whole window
when chosen, so its verdict, key numbers and plots have room without dragging a splitter.
Explore is a nested :class:`QMainWindow`; the window's ``saveState`` / ``restoreState`` are its
dock layout (what settings and sessions save).

Only chrome.  What the window does is done by Qt-free actions on the model, which it calls and
whose events it shows: :class:`~embedview.actions.data.DataActions` (open -> load -> encode, the
encoder for the next encode, comparison encoders), :class:`~embedview.actions.exports.ExportActions`
and the sessions of :mod:`embedview.actions.session` (through ``gui/session.py``, which adds the
dock layout).  ``model.message`` goes to the status bar, ``model.show_view_requested`` raises that
view's dock, errors recorded in the model also show a non-modal box.

Start-up is split in two so the window is on screen before anything heavy is imported:
``MainWindow()`` builds only menus, toolbar, status bar and a welcome page (Qt only);
``build_docks()`` (called by ``app.main`` after the first paint) imports pyqtgraph and the
views and creates their docks and workspaces.  torch, open_clip and umap are imported only by background jobs.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QRect, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from embedview.actions.analysis import AnalysisScheduler
from embedview.actions.data import PRECOMPUTED, DataActions, EncodeProgress, n_skipped, noun
from embedview.actions.errors import Topic, record_error
from embedview.actions.exports import ExportActions
from embedview.gui import theme
from embedview.gui.labels import ElidedLabel
from embedview.gui.settings import Settings
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.workers import JobRunner
from embedview.model import AnalysisKind, AppModel
from embedview.runtime.keys import JobKind

log = logging.getLogger(__name__)

_AREAS = {"left": Qt.LeftDockWidgetArea, "right": Qt.RightDockWidgetArea, "bottom": Qt.BottomDockWidgetArea}
#: short views that sit above the others of their dock area instead of in a tab beside them
_TOP_OF_AREA = {"SearchView"}
#: GIL switch interval while the window runs (CPython's default is 5 ms).  Each time the UI thread
#: comes back from Qt into Python it may wait this long for a busy worker thread to hand over the
#: GIL, and drawing a frame does that many times; 1 ms keeps frames short while jobs run.
UI_SWITCH_INTERVAL = 0.001
#: the window's share of the screen's available area on a first start
FIRST_START_SHARE = 0.9
#: the Explore workspace's tab title
EXPLORE = "Explore"
OPEN_FILTER = (
    "Data (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff *.txt *.csv *.tsv *.jsonl *.ndjson "
    "*.npy *.npz *.parquet);;"
    "Images (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff);;"
    "Text (*.txt *.csv *.tsv *.jsonl *.ndjson);;"
    "Embeddings (*.npy *.npz *.parquet *.tsv);;All files (*)"
)


class _WelcomePage(QWidget):
    """Shown until data is open: what can be dropped, buttons to open or try the demo."""

    painted = Signal()

    def __init__(self, actions: dict[str, QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._painted = False
        title = QLabel("embedview")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 2.2)
        font.setBold(True)
        title.setFont(font)
        subtitle = QLabel(
            "Drop a folder of images, a text file (.txt, .csv, .jsonl) or embeddings (.npy, .npz, .parquet) "
            "anywhere in this window."
        )
        subtitle.setWordWrap(True)
        subtitle.setAlignment(Qt.AlignCenter)
        subtitle.setForegroundRole(subtitle.foregroundRole())
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for key in ("open_files", "open_folder", "demo_images", "demo_texts"):
            b = QToolButton()
            b.setDefaultAction(actions[key])
            b.setToolButtonStyle(Qt.ToolButtonTextOnly)
            b.setMinimumHeight(34)
            b.setMinimumWidth(130)
            buttons.addWidget(b)
        buttons.addStretch(1)
        note = QLabel("Everything runs on this computer; vectors are cached, "
                      "so opening the same data again is instant.")
        note.setAlignment(Qt.AlignCenter)
        note.setWordWrap(True)
        note.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(title, 0, Qt.AlignHCenter)
        layout.addSpacing(8)
        layout.addWidget(subtitle)
        layout.addSpacing(18)
        layout.addLayout(buttons)
        layout.addSpacing(18)
        layout.addWidget(note)
        layout.addStretch(3)
        layout.setContentsMargins(40, 20, 40, 20)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.painted.emit()


class MainWindow(QMainWindow):
    """The embedview window.  Owns the model, the job runner and the actions every view shares."""

    #: the window painted for the first time (start-up measurements, deferred building)
    first_paint = Signal()
    #: every view's dock exists
    docks_ready = Signal()
    #: the effective theme ("light" / "dark") changed
    theme_changed = Signal(str)

    def __init__(self, settings: Settings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        sys.setswitchinterval(min(sys.getswitchinterval(), UI_SWITCH_INTERVAL))
        self.settings = settings or Settings()
        self.model = AppModel()
        self.selection = self.model.selection
        self.runner = JobRunner(self)
        self.data = DataActions(self.model, self.runner, memory=self.settings, choose_columns=self._ask_columns)
        self.exports = ExportActions(self.model, self.runner)
        # an encoder the user chose for a comparison is one of theirs: a session naming it loads it unasked
        self.data.extra_started.connect(lambda name, _n: self.settings.add_used_encoders([name]))
        self.analysis = AnalysisScheduler(self.model, self.runner)
        self.thumbnails = shared_thumbnails(self.model)
        self.views: dict[str, QWidget] = {}  # by class name
        self.docks: dict[str, QDockWidget] = {}  # by class name
        self._class_of: dict[str, str] = {}  # view name -> class name
        self.main_view: QWidget | None = None
        self.docks_built = False
        self.session_restorer: Any = None  # the running or last actions.session.SessionRestorer
        self._default_layout: QByteArray | None = None
        self._pending_open: list[tuple[Callable, tuple]] = []
        self._error_box: QMessageBox | None = None
        self.last_message = ""

        self.setWindowTitle("embedview")
        self.setAcceptDrops(True)
        #: the workspace pages by view class name ("Explore" for the map and the docked views)
        self.workspaces: dict[str, QWidget] = {}
        self.workspace_actions: dict[str, QAction] = {}

        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        self._make_status_bar()
        self.welcome = _WelcomePage(self.actions_by_key, self)
        self.welcome.painted.connect(self.first_paint)
        self.central = QStackedWidget()  # the Explore workspace's centre: the welcome page, then the map
        self.central.addWidget(self.welcome)
        self.explore = QMainWindow()  # nested: its docks stay in the Explore workspace
        self.explore.setObjectName("workspace-explore")
        self.explore.setWindowFlags(Qt.Widget)
        self.explore.setDockNestingEnabled(True)
        self.explore.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        self.explore.setCentralWidget(self.central)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("workspaces")
        self.tabs.setDocumentMode(True)
        self.tabs.setTabBarAutoHide(True)  # one workspace (before the views exist): no tab bar
        self.tabs.currentChanged.connect(self._on_workspace_changed)
        self.setCentralWidget(self.tabs)
        self._add_workspace(EXPLORE, EXPLORE, self.explore,
                            "The map with the items, neighbours, search and heatmap beside it")

        self.runner.error.connect(self._on_job_error)
        self.runner.progress.connect(self._on_job_progress)
        self.runner.busy_changed.connect(self._on_busy)
        self.analysis.status_changed.connect(lambda text: self.analysis_label.setText(text))
        model = self.model
        model.message.connect(self.show_message)
        model.show_view_requested.connect(self.show_view)
        model.dataset_changed.connect(self._on_dataset_changed)
        model.problems_changed.connect(self._update_problem_label)
        model.active_changed.connect(self._on_active_changed)
        model.embeddings_changed.connect(lambda _name: self._update_actions())
        self.selection.selection_changed.connect(lambda *_: self._update_actions())
        data = self.data
        data.failed.connect(self._show_error_box)
        self.exports.failed.connect(self._show_error_box)
        data.encoders_listed.connect(self._fill_encoder_combo)
        data.encoder_changed.connect(lambda _name: self._fill_encoder_combo())
        data.opened.connect(self._add_recent)
        data.encode_started.connect(self._on_encode_started)
        data.encode_progress.connect(self._on_encode_progress)
        data.encode_ended.connect(self._on_encode_ended)
        data.extra_progress.connect(lambda name, f: self.statusBar().showMessage(
            f"Encoding with {name} for comparison\u2026 {f * 100:.0f} %"))

        self.apply_theme(self.settings.theme(), plots=False)
        geometry = self.settings.window_geometry()
        if geometry is None or not self.restoreGeometry(geometry) or not self._fits_screen():
            self._default_geometry()
        self._update_actions()

    # ======================================================================================
    # construction
    # ======================================================================================
    def _screen_area(self) -> QRect | None:
        screen = self.screen() or QApplication.primaryScreen()
        return screen.availableGeometry() if screen is not None else None

    def _default_geometry(self) -> None:
        """First start (or a saved geometry that no longer fits the screen): 90 % of the screen, centred."""
        area = self._screen_area()
        if area is None:
            self.resize(1280, 800)
            return
        self.setGeometry(default_geometry(area))

    def _fits_screen(self) -> bool:
        """The restored window lies within the screen (a geometry saved on a larger screen does not)."""
        area = self._screen_area()
        return area is None or area.contains(self.frameGeometry()) or self.isMaximized()

    def _action(self, key: str, text: str, slot: Callable, shortcut: Any = None, tip: str = "") -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
            act.setToolTip(tip)
        act.triggered.connect(lambda _checked=False: slot())
        self.actions_by_key[key] = act
        self.addAction(act)  # shortcuts work even when the menu bar is hidden
        return act

    def _make_actions(self) -> None:
        self.actions_by_key: dict[str, QAction] = {}
        a = self._action
        a("open_files", "Open files\u2026", self.open_files_dialog, QKeySequence.Open,
          "Open image, text or embedding files")
        a("open_folder", "Open folder\u2026", self.open_folder_dialog, "Ctrl+Shift+O", "Open a folder of images")
        a("export_selection", "Export selection\u2026", self.export_selection_dialog, "Ctrl+E",
          "Save the selected items (index, id, source, label) as CSV")
        a("export_embeddings", "Export embeddings\u2026", self.export_embeddings_dialog, "Ctrl+Shift+E",
          "Save the active embeddings as .npy or .parquet")
        a("export_plot", "Export plot\u2026", self.export_plot_dialog, "Ctrl+Shift+P",
          "Save the focused plot as PNG or SVG")
        # -- duplicates / checks views: exports (views/duplicates.py, views/checks.py) --
        a("export_duplicates", "Export duplicate decisions\u2026", self.export_duplicates_dialog,
          tip="Save the duplicate groups with keep / drop as CSV or JSON (no file of the data is changed)")
        a("export_report", "Export HTML report\u2026", self.export_report_dialog, "Ctrl+Shift+R",
          "Write every check, the map and the duplicates of the encoded sets into one HTML file")
        # -- sessions and encoder comparison (gui/session.py, views/compare.py) --
        a("save_session", "Save session\u2026", self.save_session_dialog, QKeySequence.Save,
          "Save the data sources, encoders, maps, selection and duplicate decisions (paths and ids only)")
        a("open_session", "Open session\u2026", self.open_session_dialog, "Ctrl+Shift+L",
          "Open a saved session: the data, encoders (from the cache), maps, selection and decisions")
        a("add_encoder", "Add encoder for comparison\u2026", self.add_encoder_dialog, "Ctrl+Shift+K",
          "Encode the same data with another encoder too (the active one stays) to compare them")
        a("quit", "Quit", self.close, "Ctrl+Q")
        a("select_all", "Select all", self.select_all, QKeySequence.SelectAll)
        a("clear_selection", "Clear selection", self.clear_selection, "Esc")
        a("invert_selection", "Invert selection", self.invert_selection, "Ctrl+I")
        a("find", "Find\u2026", self.focus_search, QKeySequence.Find, "Search the items")
        a("choose_encoder", "Choose encoder\u2026", self.choose_encoder_dialog, "Ctrl+K",
          "Pick the model that embeds the data (re-encodes it)")
        a("cancel", "Cancel encoding", self.cancel_encoding, "Ctrl+.", "Stop encoding; finished batches stay cached")
        a("reset_layout", "Reset layout", self.reset_layout)
        a("demo_images", "Open demo images", lambda: self.open_demo("images"), tip="Build and open the demo images")
        a("demo_texts", "Open demo texts", lambda: self.open_demo("texts"), tip="Build and open the demo texts")
        a("shortcuts", "Keyboard shortcuts", self.show_shortcuts, "F1")
        a("about", "About embedview", self.show_about)
        self.actions_by_key["quit"].setMenuRole(QAction.QuitRole)
        self.actions_by_key["about"].setMenuRole(QAction.AboutRole)

    def _make_menus(self) -> None:
        act = self.actions_by_key
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([act["open_files"], act["open_folder"]])
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addActions([act["export_selection"], act["export_embeddings"], act["export_plot"]])
        file_menu.addActions([act["export_duplicates"], act["export_report"]])
        file_menu.addSeparator()
        file_menu.addActions([act["save_session"], act["open_session"]])
        file_menu.addSeparator()
        file_menu.addAction(act["quit"])

        edit = bar.addMenu("&Edit")
        edit.addActions([act["select_all"], act["clear_selection"], act["invert_selection"]])
        edit.addSeparator()
        edit.addAction(act["find"])

        self.view_menu = bar.addMenu("&View")
        self._workspace_actions_anchor = self.view_menu.addSeparator()
        self._workspace_group = QActionGroup(self)
        self._dock_actions_anchor = self.view_menu.addSeparator()
        theme_menu = self.view_menu.addMenu("Theme")
        group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for mode, label in (("system", "System"), ("light", "Light"), ("dark", "Dark")):
            t = QAction(label, self, checkable=True)
            t.triggered.connect(lambda _c=False, m=mode: self.set_theme(m))
            group.addAction(t)
            theme_menu.addAction(t)
            self.theme_actions[mode] = t
        self.theme_actions[self.settings.theme()].setChecked(True)
        self.view_menu.addAction(act["reset_layout"])

        self.encoder_menu = bar.addMenu("E&ncoder")
        self.encoder_menu.addActions([act["choose_encoder"], act["add_encoder"], act["cancel"]])

        help_menu = bar.addMenu("&Help")
        help_menu.addActions([act["demo_images"], act["demo_texts"]])
        help_menu.addSeparator()
        help_menu.addActions([act["shortcuts"], act["about"]])

    def _make_toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("toolbar-main")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonTextOnly)
        tb.addAction(self.actions_by_key["open_files"])
        tb.addAction(self.actions_by_key["open_folder"])
        tb.addSeparator()
        tb.addWidget(QLabel(" Encoder: "))
        self.encoder_combo = QComboBox()
        self.encoder_combo.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.encoder_combo.setMinimumWidth(260)
        self.encoder_combo.setToolTip("The model that embeds the data; choosing another re-encodes it")
        self.encoder_combo.activated.connect(self._on_encoder_activated)
        tb.addWidget(self.encoder_combo)
        tb.addAction(self.actions_by_key["choose_encoder"])
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        tb.addWidget(spacer)
        self.dataset_label = QLabel("")
        tb.addWidget(self.dataset_label)
        self.addToolBar(Qt.TopToolBarArea, tb)
        self.toolbar = tb

    def _make_status_bar(self) -> None:
        sb = self.statusBar()
        self.problem_label = QLabel("")
        self.problem_label.setTextFormat(Qt.RichText)
        self.problem_label.linkActivated.connect(lambda _l: self.show_view("ProblemsView"))
        # status lines vary in length (UMAP's "numba compiles…" is ~95 characters): elided, so they
        # never make the window wider than the screen
        self.analysis_label = ElidedLabel("")
        self.progress_label = ElidedLabel("")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop encoding; every finished batch stays in the cache")
        self.cancel_button.clicked.connect(self.cancel_encoding)
        for w in (self.problem_label, self.analysis_label, self.progress_label, self.progress_bar, self.cancel_button):
            sb.addPermanentWidget(w)
        self._set_busy_widgets(False)

    # ======================================================================================
    # workspaces and docks (after the first paint)
    # ======================================================================================
    def build_docks(self) -> None:
        """Import every view in ``views.VIEWS``: the first is the map in Explore's centre, those in
        ``views.WORKSPACES`` get a workspace each, the others a dock in Explore."""
        if self.docks_built:
            return
        self.docks_built = True
        self.apply_theme(self.settings.theme(), plots=True)  # imports pyqtgraph: before the views make plots
        from embedview.gui.views import VIEWS, WORKSPACES

        by_area: dict[str, list[QDockWidget]] = {}
        for i, (module_name, class_name) in enumerate(VIEWS):
            try:
                cls = getattr(importlib.import_module(module_name), class_name)
                view = cls(self.model, self.runner)
            except ModuleNotFoundError as exc:
                log.warning("view %s.%s is not available: %s", module_name, class_name, exc)
                continue
            except Exception as exc:  # noqa: BLE001 - one broken view must not take the window down
                log.warning("view %s.%s is not available: %s", module_name, class_name, exc, exc_info=True)
                self.report_error("views", f"the {class_name} view could not be created: {exc}")
                continue
            self.views[class_name] = view
            self._class_of[getattr(view, "name", "") or class_name] = class_name
            title = getattr(cls, "title", class_name)
            if i == 0:
                self.main_view = view
                self.central.addWidget(view)
                continue
            if class_name in WORKSPACES:
                self._add_workspace(class_name, title, view, (cls.__doc__ or "").strip().splitlines()[0])
                continue
            dock = QDockWidget(title, self.explore)
            dock.setObjectName(f"dock-{class_name}")
            dock.setWidget(view)
            dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                             | QDockWidget.DockWidgetClosable)
            self.docks[class_name] = dock
            by_area.setdefault(getattr(cls, "area", "right"), []).append(dock)
        self._place_docks(by_area)
        for dock in self.docks.values():
            self.view_menu.insertAction(self._dock_actions_anchor, dock.toggleViewAction())
        self._default_layout = self.saveState()
        saved = self.settings.window_state(list(self.docks))
        if saved is not None:
            self.restoreState(saved)
        if self.model.dataset is not None and self.main_view is not None:
            self.central.setCurrentWidget(self.main_view)
        self.data.list_encoders()
        self.docks_ready.emit()
        pending, self._pending_open = self._pending_open, []
        for fn, args in pending:
            fn(*args)

    def _add_workspace(self, key: str, title: str, page: QWidget, tip: str = "") -> None:
        """A workspace tab for ``page`` with its View-menu entry and shortcut (Ctrl+1, Ctrl+2, ...)."""
        n = len(self.workspaces) + 1
        self.workspaces[key] = page
        index = self.tabs.addTab(page, title)
        act = QAction(title, self, checkable=True)
        if n <= 9:
            act.setShortcut(QKeySequence(f"Ctrl+{n}"))
            tip = f"{tip} ({act.shortcut().toString(QKeySequence.NativeText)})" if tip else tip
        if tip:
            act.setStatusTip(tip)
            self.tabs.setTabToolTip(index, tip)
        act.triggered.connect(lambda _c=False, k=key: self.show_workspace(k))
        self._workspace_group.addAction(act)
        self.view_menu.insertAction(self._workspace_actions_anchor, act)
        self.addAction(act)  # the shortcut works wherever the focus is
        self.workspace_actions[key] = act
        self.actions_by_key[f"workspace_{key}"] = act
        if self.tabs.currentWidget() is page:
            act.setChecked(True)

    def _place_docks(self, by_area: dict[str, list[QDockWidget]]) -> None:
        """Explore's docks: short views on top of their area, the others tabbed; the map keeps
        most of the room whatever the window's size."""
        explore = self.explore
        for area_name, docks in by_area.items():
            area = _AREAS.get(area_name, Qt.RightDockWidgetArea)
            tops = [d for d in docks if d.objectName()[5:] in _TOP_OF_AREA]
            rest = [d for d in docks if d not in tops]
            orientation = Qt.Horizontal if area == Qt.BottomDockWidgetArea else Qt.Vertical
            for d in tops + rest[:1]:
                explore.addDockWidget(area, d, orientation)
            for d in rest[1:]:
                explore.addDockWidget(area, d)
                explore.tabifyDockWidget(rest[0], d)
            if rest:
                rest[0].raise_()
            if tops and rest:  # a short view at the height it asks for (its field and a wrapped message)
                explore.resizeDocks(tops + rest[:1], [max(110, tops[0].sizeHint().height()), 600], Qt.Vertical)
        size = self.tabs.size() if self.isVisible() else self.size()
        right = by_area.get("right", [])
        if right:
            explore.resizeDocks([right[0]], [max(360, min(480, int(size.width() * 0.3)))], Qt.Horizontal)
        bottom = by_area.get("bottom", [])
        if bottom:
            explore.resizeDocks([bottom[0]], [max(170, min(280, int(size.height() * 0.28)))], Qt.Vertical)

    def show_workspace(self, key: str) -> QWidget | None:
        """Bring workspace ``key`` (``"Explore"`` or a view's class name in ``views.WORKSPACES``) to the front."""
        page = self.workspaces.get(key)
        if page is not None:
            self.tabs.setCurrentWidget(page)
        return page

    def current_workspace(self) -> str:
        page = self.tabs.currentWidget()
        return next((k for k, p in self.workspaces.items() if p is page), EXPLORE)

    def _on_workspace_changed(self, _index: int) -> None:
        act = self.workspace_actions.get(self.current_workspace())
        if act is not None:
            act.setChecked(True)

    def show_view(self, name: str) -> QWidget | None:
        """Make a view visible (its workspace chosen, its dock shown and raised); returns it.  ``name``:
        the view's ``name`` (what ``model.show_view_requested`` carries, e.g. ``"neighbors"``) or its class name."""
        class_name = self._class_of.get(name, name)
        if class_name in self.workspaces:
            self.show_workspace(class_name)
            return self.views.get(class_name)
        view = self.views.get(class_name)
        if view is not None:
            self.show_workspace(EXPLORE)
        dock = self.docks.get(class_name)
        if dock is not None:
            dock.show()
            dock.raise_()
        return view

    def reset_layout(self) -> None:
        """Explore's docks as on a first start (every one shown), and Explore in front."""
        if self._default_layout is not None:
            self.restoreState(self._default_layout)
            for dock in self.docks.values():
                if not dock.isFloating():
                    dock.show()
        self.show_workspace(EXPLORE)

    def saveState(self, version: int = 0) -> QByteArray:  # noqa: N802 - Qt name
        """The dock layout: Explore's (the other workspaces have no docks).  Settings and sessions save it."""
        return self.explore.saveState(version)

    def restoreState(self, state: QByteArray, version: int = 0) -> bool:  # noqa: N802 - Qt name
        """Put back a :meth:`saveState`.  A layout of an older version (its docks named other views)
        restores what it knows: a dock it does not name stays where it is."""
        return self.explore.restoreState(state, version)

    def when_ready(self, fn: Callable, *args: Any) -> None:
        """Run ``fn(*args)`` now if the docks exist, else right after they are built."""
        if self.docks_built:
            fn(*args)
        else:
            self._pending_open.append((fn, args))

    # ======================================================================================
    # encoders (the choice is DataActions' state; the combo shows it)
    # ======================================================================================
    def _modality(self) -> str:
        ds = self.model.dataset
        return ds.modality if ds is not None else ""

    def _fill_encoder_combo(self) -> None:
        combo = self.encoder_combo
        modality = self._modality()
        combo.blockSignals(True)
        combo.clear()
        if modality == "embedding":
            combo.addItem("precomputed (from the file)", PRECOMPUTED)
            combo.setEnabled(False)
            combo.blockSignals(False)
            return
        combo.setEnabled(True)
        for spec in self.data.specs:
            if modality and spec.modality != modality:
                continue
            ok, detail = self.data.availability.get(
                spec.name, (None, "checking whether the weights are available\u2026"))
            dim = f"{spec.dim}-d" if spec.dim else "?-d"
            state = "" if ok is None else ("  \u2713 offline" if ok else "  \u2193 needs download")
            label = f"{spec.name}  \u00b7  {spec.modality} {dim}{state}"
            combo.addItem(label, spec.name)
            combo.setItemData(combo.count() - 1, f"{spec.description}\n{detail}", Qt.ToolTipRole)
        # what is (being) encoded, else the encoder the next encode uses
        shown = self.data.encode_target[0] if self.data.encoding else (self.model.active or self.data.encoder)
        if shown and combo.findData(shown) < 0:
            combo.addItem(shown, shown)  # a plugin or a model folder chosen by name
        i = combo.findData(shown)
        if i >= 0:
            combo.setCurrentIndex(i)
        combo.blockSignals(False)

    def current_encoder(self) -> str:
        """The encoder the next encode uses (DataActions' choice, not the combo's)."""
        return self.data.encoder

    def _on_encoder_activated(self, index: int) -> None:
        name = self.encoder_combo.itemData(index)
        if name and name != PRECOMPUTED:
            self.data.choose_encoder(str(name), encode=self.model.dataset is not None)

    def choose_encoder_dialog(self) -> None:
        from embedview.gui.dialogs import EncoderDialog

        if not self.data.specs:
            self.data.list_encoders()
        modality = self._modality()
        dlg = EncoderDialog(self.data.specs, self.data.availability, current=self.current_encoder(),
                            modality=modality if modality != "embedding" else "", parent=self)
        if dlg.exec() == QDialog.Accepted and dlg.chosen():
            self.data.choose_encoder(dlg.chosen())

    def add_encoder_dialog(self) -> None:
        """Encoder -> Add encoder for comparison: pick another encoder for the same data."""
        from embedview.gui.dialogs import EncoderDialog

        ds = self.model.dataset
        if ds is None or ds.modality == "embedding":
            self.show_message("Open images or texts first" if ds is None else
                              "Precomputed embeddings cannot be encoded again; "
                              "open the images or texts to compare encoders")
            return
        if not self.data.specs:
            self.data.list_encoders()
        dlg = EncoderDialog(self.data.specs, self.data.availability, current="", modality=ds.modality, parent=self)
        dlg.setWindowTitle("Add encoder for comparison")
        if dlg.exec() == QDialog.Accepted and dlg.chosen():
            self.data.add_encoder(dlg.chosen())

    # ======================================================================================
    # opening data
    # ======================================================================================
    def open_files_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open files", self._last_dir(), OPEN_FILTER)
        if paths:
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self._last_dir())
        if folder:
            self.open_paths([folder])

    def _last_dir(self) -> str:
        recent = self.settings.recent_files()
        return os.path.dirname(recent[0]) if recent else os.path.expanduser("~")

    def _add_recent(self, paths: Sequence[str]) -> None:
        for p in paths:
            self.settings.add_recent(p)

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        recent = self.settings.recent_files()
        for path in recent:
            act = menu.addAction(path)
            act.triggered.connect(lambda _c=False, p=path: self.open_paths([p]))
            act.setEnabled(os.path.exists(path))
        if recent:
            menu.addSeparator()
            menu.addAction("Clear list", self.settings.clear_recent)
        else:
            menu.addAction("(nothing yet)").setEnabled(False)

    def open_demo(self, which: str = "images") -> None:
        """Build the demo data (once; it is kept in the cache folder) and open ``which``."""
        self.when_ready(self.data.open_demo, which)

    def open_paths(self, paths: Sequence[Any], text_column: str | None = None,
                   label_column: str | None = None) -> None:
        """Load ``paths`` in the background, then show and encode them (once the docks exist)."""
        paths = [os.fspath(p) for p in paths]
        if paths:
            self.when_ready(self.data.open_paths, paths, text_column, label_column)

    def _ask_columns(self, path: str, info: dict[str, Any]) -> tuple[str | None, str | None] | None:
        """DataActions asks which column of a table holds the text: a dialog (None: cancelled)."""
        from embedview.gui.dialogs import ColumnDialog

        dlg = ColumnDialog(path, info.get("columns", []), info.get("text_guess"), info.get("label_guess"), self)
        if dlg.exec() != QDialog.Accepted:
            return None
        return dlg.columns()

    def _on_dataset_changed(self) -> None:
        if self.model.dataset is not None and self.main_view is not None:
            self.central.setCurrentWidget(self.main_view)
        self._fill_encoder_combo()
        self._update_title()
        self._update_problem_label()
        self._update_actions()

    def _on_active_changed(self, _name: str) -> None:
        self._update_title()
        self._update_actions()

    # ======================================================================================
    # encoding: DataActions' events in the status bar
    # ======================================================================================
    def cancel_encoding(self) -> None:
        self.data.cancel()

    def _on_encode_started(self, name: str, total: int) -> None:
        self.progress_label.setText(f"{name}: starting\u2026")
        self.progress_label.setToolTip("")
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("0 %")
        self._set_busy_widgets(True)
        self._fill_encoder_combo()

    def _on_encode_progress(self, p: EncodeProgress) -> None:
        self.progress_bar.setValue(int(round(p.fraction * 1000)))
        self.progress_bar.setFormat(f"{p.fraction * 100:.0f} %")
        self.progress_label.setText(p.text())
        self.progress_label.setToolTip(p.message)

    def _on_encode_ended(self, _how: str) -> None:
        self._set_busy_widgets(False)
        self._fill_encoder_combo()
        self._update_title()

    def _set_busy_widgets(self, busy: bool) -> None:
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            w.setVisible(busy)
        self.actions_by_key["cancel"].setEnabled(busy)

    # ======================================================================================
    # errors, progress, status
    # ======================================================================================
    def show_message(self, text: str, timeout_ms: int = 0) -> None:
        self.last_message = text
        self.statusBar().showMessage(text, timeout_ms)
        log.info("%s", text)

    def report_error(self, key: Topic, message: str, path: str = "") -> None:
        """An error from a job or an action: status bar, Problems, a non-modal message, the log."""
        record_error(self.model, key, message, path)
        self._show_error_box(key, message, path)

    def _show_error_box(self, _topic: Topic, message: str, _path: str = "") -> None:
        """An error the model already holds, in a non-modal box (one box, reused)."""
        box = self._error_box
        if box is None:
            box = QMessageBox(QMessageBox.Warning, "embedview", "", QMessageBox.Ok, self)
            box.setModal(False)
            box.setWindowModality(Qt.NonModal)
            self._error_box = box
        box.setText(message.splitlines()[0] if message else "error")
        box.setDetailedText(message if "\n" in message else "")
        box.show()

    def _on_job_error(self, key: Topic, message: str) -> None:
        self.report_error(key, message)

    def _on_job_progress(self, key: Any, fraction: float, message: str) -> None:
        if getattr(key, "kind", None) is JobKind.LOAD:
            self.show_message(f"Loading\u2026 {fraction * 100:.0f} %  {message}")

    def _on_busy(self) -> None:
        if self.cancel_button.isVisible() and not self.data.encoding:
            self._set_busy_widgets(False)  # the encode ended without an end event (e.g. replaced)

    def _update_problem_label(self) -> None:
        n = n_skipped(self.model)
        errors = sum(1 for p in self.model.problems if getattr(p, "severity", "") == "error")
        parts = []
        if n:
            parts.append(f"{n:,} item{'s' if n != 1 else ''} skipped")
        if errors:
            parts.append(f"{errors} error{'s' if errors != 1 else ''}")
        link = " \u2014 <a href='problems'>see Problems</a>"
        self.problem_label.setText(" \u00b7 ".join(parts) + link if parts else "")

    def _update_title(self) -> None:
        ds = self.model.dataset
        if ds is None:
            self.setWindowTitle("embedview")
            self.dataset_label.setText("")
            return
        name = self.model.name
        self.setWindowTitle(f"{name} \u2014 embedview")
        emb = self.model.emb
        enc = f" \u00b7 {emb.encoder} {emb.dim}-d" if emb is not None else ""
        self.dataset_label.setText(f"{name} \u00b7 {len(ds):,} {noun(ds)}{enc}  ")

    def _update_actions(self) -> None:
        has_data = self.model.dataset is not None
        for key in ("select_all", "clear_selection", "invert_selection"):
            self.actions_by_key[key].setEnabled(has_data)
        self.actions_by_key["export_selection"].setEnabled(has_data and len(self.selection.selected) > 0)
        self.actions_by_key["export_embeddings"].setEnabled(self.model.emb is not None or has_data)

    # ======================================================================================
    # selection
    # ======================================================================================
    def select_all(self) -> None:
        self.selection.set_selection(np.arange(self.model.n_items, dtype=np.int64), "window")

    def clear_selection(self) -> None:
        self.selection.clear("window")

    def invert_selection(self) -> None:
        everything = np.arange(self.model.n_items, dtype=np.int64)
        self.selection.set_selection(np.setdiff1d(everything, self.selection.selected), "window")

    def focus_search(self) -> None:
        """Ctrl+F: the search view's field if there is one, else the table's filter."""
        for name in ("SearchView", "TableView"):
            view = self.show_view(name)
            if view is not None and view.focus_input():
                return

    # ======================================================================================
    # exports: dialogs here, the writing in ExportActions
    # ======================================================================================
    def export_selection_dialog(self) -> None:
        if self.model.dataset is None or not len(self.selection.selected):
            self.show_message("Select some items first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export selection", "selection.csv", "CSV (*.csv)")
        if path:
            self._guarded(JobKind.EXPORT_SELECTION, lambda: self.exports.export_selection(path))

    def export_embeddings_dialog(self) -> None:
        if self.model.emb is None:
            self.show_message("No embeddings yet")
            return
        path, chosen = QFileDialog.getSaveFileName(self, "Export embeddings", "embeddings.parquet",
                                                   "Parquet (*.parquet);;NumPy array (*.npy)")
        if not path:
            return
        if not path.lower().endswith((".npy", ".parquet")):
            path += ".npy" if "npy" in chosen else ".parquet"
        self._guarded(JobKind.EXPORT_EMBEDDINGS, lambda: self.exports.export_embeddings(path))

    def plot_view(self) -> QWidget | None:
        """The view an "Export plot" means: the one holding the focus, else the main view, else a visible one."""
        plots = {name: v for name, v in self.views.items() if hasattr(v, "export_plot")}
        focus = QApplication.focusWidget()
        for view in plots.values():
            if focus is not None and (focus is view or view.isAncestorOf(focus)):
                return view
        if self.main_view is not None and self.main_view in plots.values() and self.main_view.isVisible():
            return self.main_view
        for view in plots.values():
            if view.isVisible():
                return view
        return None

    def export_plot_dialog(self) -> None:
        view = self.plot_view()
        if view is None:
            self.show_message("No plot to export")
            return
        name = getattr(view, "title", "plot").lower().replace(" ", "-")
        path, chosen = QFileDialog.getSaveFileName(self, f"Export {getattr(view, 'title', 'plot')}", f"{name}.png",
                                                   "PNG image (*.png);;SVG image (*.svg)")
        if not path:
            return
        if not path.lower().endswith((".png", ".svg")):
            path += ".svg" if "svg" in chosen.lower() else ".png"

        def run() -> None:
            view.export_plot(path)
            self.show_message(f"Saved {path}")

        self._guarded(JobKind.EXPORT_PLOT, run)

    def export_duplicates_dialog(self) -> None:
        """File -> Export duplicate decisions: the groups at the chosen threshold with keep / drop."""
        from embedview.gui.dialogs import ask_list_export

        if self.model.get_analysis(AnalysisKind.DUPLICATES) is None:
            self.show_message("No duplicates to export yet")
            return
        self.show_view("duplicates")
        path = ask_list_export(
            self, "Export duplicate decisions \u2014 a list only; no file of your data is deleted, moved or changed",
            "duplicates.csv")
        if path is None:
            return
        self._guarded(JobKind.DUPLICATES_EXPORT, lambda: self.exports.export_duplicates(path))

    def export_report_dialog(self) -> None:
        """File -> Export HTML report: core.report.write_report in the runner, with progress and Cancel."""
        from embedview.gui.report_dialog import export_report_dialog

        export_report_dialog(self)

    # -- sessions (gui/session.py: the dialogs and the layout; actions/session.py: the rest) ----
    def save_session_dialog(self) -> None:
        """File -> Save session: paths, encoders, maps, selection, decisions, view choices, layout."""
        from embedview.gui.session import save_dialog

        save_dialog(self)

    def open_session_dialog(self) -> None:
        """File -> Open session: restore a saved session into this window."""
        from embedview.gui.session import open_dialog

        open_dialog(self)

    def open_session(self, path: str) -> None:
        """Read the session file ``path`` in the background and restore it."""
        from embedview.gui.session import open_in_background

        self.when_ready(open_in_background, self, path)

    def _guarded(self, key: Topic, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - user actions report, never crash
            self.report_error(key, str(exc) or type(exc).__name__)

    # ======================================================================================
    # theme, help
    # ======================================================================================
    def apply_theme(self, mode: str, plots: bool = True) -> None:
        app = QApplication.instance()
        eff = theme.apply_theme(app, mode) if app is not None else theme.effective_mode(mode)
        if plots:
            theme.apply_plot_theme(eff, self)
        self.theme_changed.emit(eff)

    def set_theme(self, mode: str) -> None:
        self.settings.set_theme(mode)
        self.theme_actions[mode].setChecked(True)
        self.apply_theme(mode, plots=self.docks_built)

    def shortcuts(self) -> list[tuple[str, str]]:
        out = []
        for act in self.actions_by_key.values():
            seq = act.shortcut().toString(QKeySequence.NativeText)
            if seq:
                out.append((act.text().replace("&", "").rstrip("\u2026"), seq))
        return out

    def show_shortcuts(self) -> None:
        from embedview.gui.dialogs import ShortcutsDialog

        ShortcutsDialog(self.shortcuts(), self).exec()

    def show_about(self) -> None:
        from embedview.gui.dialogs import about_html

        QMessageBox.about(self, "About embedview", about_html())

    # ======================================================================================
    # drag and drop, closing
    # ======================================================================================
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt name
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = _local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)
        else:
            event.ignore()

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop every background thread (jobs, thumbnails, views).  True if all ended."""
        if self.session_restorer is not None:
            self.session_restorer.stop()
        for view in self.views.values():
            stop = getattr(view, "shutdown", None)
            if stop is not None:
                try:
                    stop()
                except Exception as exc:  # noqa: BLE001
                    log.warning("shutting down %s: %s", type(view).__name__, exc)
        ok = self.runner.shutdown(timeout)
        return self.thumbnails.shutdown(timeout) and ok

    def closeEvent(self, event) -> None:  # noqa: N802
        if self.docks_built:
            self.settings.save_window(self.saveGeometry(), self.saveState(), list(self.docks))
        else:  # closed before the docks exist: its layout would hide them next time
            self.settings.save_window(self.saveGeometry())
        self.settings.sync()
        if self._error_box is not None:
            self._error_box.close()
        if not self.shutdown():
            log.warning("some background jobs were still running at exit: %s", self.runner.alive_threads())
        super().closeEvent(event)


def default_geometry(area: QRect, share: float = FIRST_START_SHARE) -> QRect:
    """The window's geometry on a first start: ``share`` of the screen's available ``area``, centred."""
    w, h = int(area.width() * share), int(area.height() * share)
    return QRect(area.x() + (area.width() - w) // 2, area.y() + (area.height() - h) // 2, w, h)


def _local_paths(mime) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]



