"""The main window: menus, toolbar, docks for every view, the open -> encode flow, status bar.

Start-up is split in two so the window is on screen before anything heavy is imported:
``MainWindow()`` builds only menus, toolbar, status bar and a welcome page (Qt only);
``build_docks()`` (called by ``app.main`` after the first paint) imports pyqtgraph and the
views and creates their docks.  torch, open_clip and umap are imported only by background jobs.

Opening data: ``open_paths`` loads in the runner (key ``"load"``), asking for the text column
only when a table's column cannot be guessed; then the dataset is shown and encoded in the
runner (key ``"encode"``) with the encoder chosen in the toolbar (precomputed embeddings skip
encoding).  Progress, speed, time left and a Cancel button are in the status bar.  Every job
error ends up in the status bar, the Problems dock, a non-modal message and the log.
"""

from __future__ import annotations

import csv
import importlib
import logging
import os
import sys
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PySide6.QtCore import QByteArray, Qt, Signal
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
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from embedview.core.dataset import Dataset, LoadProblem
from embedview.core.embeddings import EmbeddingSet
from embedview.gui import theme
from embedview.actions.analysis import AnalysisScheduler
from embedview.gui.settings import Settings
from embedview.gui.thumbnails import shared_thumbnails
from embedview.gui.workers import JobRunner
from embedview.model import AppModel

log = logging.getLogger(__name__)

_AREAS = {"left": Qt.LeftDockWidgetArea, "right": Qt.RightDockWidgetArea, "bottom": Qt.BottomDockWidgetArea}
#: short views that sit above the others of their dock area instead of in a tab beside them
_TOP_OF_AREA = {"SearchView"}
#: GIL switch interval while the window runs (CPython's default is 5 ms).  Each time the UI thread
#: comes back from Qt into Python it may wait this long for a busy worker thread to hand over the
#: GIL, and drawing a frame does that many times; 1 ms keeps frames short while jobs run.
UI_SWITCH_INTERVAL = 0.001
TABLE_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")
OPEN_FILTER = (
    "Data (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff *.txt *.csv *.tsv *.jsonl *.ndjson *.npy *.npz *.parquet);;"
    "Images (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff);;"
    "Text (*.txt *.csv *.tsv *.jsonl *.ndjson);;"
    "Embeddings (*.npy *.npz *.parquet *.tsv);;All files (*)"
)


# -- background jobs (plain functions; run in the runner's threads) -----------------------------------------
def load_job(paths: Sequence[str], text_column: Optional[str] = None, label_column: Optional[str] = None,
             progress=None) -> Dict[str, Any]:
    """Load ``paths``; ``{"ask": (path, columns_info)}`` when a table's text column can't be guessed."""
    from embedview.core.loaders import load_paths, table_columns

    if text_column is None:
        for p in paths:
            if os.path.isfile(p) and p.lower().endswith(TABLE_EXTENSIONS):
                info = table_columns(p)
                is_embedding = info.get("kind") == "parquet" and info.get("vector_guess")
                if info.get("kind") == "table" and not info.get("text_guess") and not is_embedding:
                    return {"ask": (p, info)}
    dataset = load_paths(list(paths), text_column=text_column, label_column=label_column, progress=progress)
    return {"dataset": dataset}


def encode_job(dataset: Dataset, model: str, progress=None) -> EmbeddingSet:
    """``pipeline.embed`` in the encoder process (``gui.encoder_host``: this process never
    imports torch).  Precomputed vectors need no model and are taken here."""
    if dataset.embeddings is not None:
        return EmbeddingSet.from_dataset(dataset)
    from embedview.encoders.pipeline import embed
    from embedview.runtime.encoder_host import encoder_host

    emb = encoder_host().call(embed, dataset, model, progress=progress)
    # the set comes back with an unpickled copy of the dataset; when every item was encoded,
    # point it at the window's own (same items): thumbnails and the table follow the object
    if len(emb.dataset) == len(dataset) and emb.dataset.ids == dataset.ids:
        emb.dataset = dataset
    return emb


def write_embeddings(emb: EmbeddingSet, path: str, progress=None) -> int:
    """``emb`` to ``path`` (``.parquet`` with ids and labels, else ``.npy``), written atomically;
    returns the number of vectors."""
    from embedview.core.export import atomic_path, save_parquet

    with atomic_path(path) as tmp:
        if path.lower().endswith(".parquet"):
            save_parquet(emb, tmp)
        else:
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(emb.vectors, dtype=np.float32))
    return len(emb)


def availability_job(specs: Sequence, progress=None) -> Dict[str, Tuple[bool, str]]:
    out = {}
    for i, spec in enumerate(specs):
        progress.report(i, len(specs), "checking encoders")
        out[spec.name] = spec.availability()
    return out


def demo_job(progress=None) -> Dict[str, str]:
    from embedview.core.demo import demo_dir
    from embedview.core.demo import build_demo

    progress.report(0, 1, "building the demo data")
    return {k: str(v) for k, v in build_demo(demo_dir()).items()}


class Eta:
    """Speed and time left from ``(time, fraction)`` samples over a sliding window.

    Timing starts at the first *increase* of the fraction: before it the model loads (no
    progress), and the first increase may be the items served from the cache at once, which
    would inflate the speed.  So the speed shows from the second step on.
    """

    def __init__(self, total: int, window_s: float = 20.0) -> None:
        self.total = total
        self.window_s = window_s
        self.samples: Deque[Tuple[float, float]] = deque()
        self._started = False

    def update(self, fraction: float, now: Optional[float] = None) -> Tuple[Optional[float], Optional[float]]:
        """Add a sample; returns (items per second, seconds left), None while unknown."""
        now = time.monotonic() if now is None else now
        if not self._started:
            if self.samples and fraction > self.samples[-1][1]:
                self._started = True
            self.samples.clear()
            self.samples.append((now, fraction))
            return None, None
        self.samples.append((now, fraction))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window_s:
            self.samples.popleft()
        t0, f0 = self.samples[0]
        dt, df = now - t0, fraction - f0
        if dt < 0.5 or df <= 0:
            return None, None
        rate = df / dt
        return rate * self.total, (1.0 - fraction) / rate


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class _WelcomePage(QWidget):
    """Shown until data is open: what can be dropped, buttons to open or try the demo."""

    painted = Signal()

    def __init__(self, actions: Dict[str, QAction], parent: Optional[QWidget] = None) -> None:
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
        note = QLabel("Everything runs on this computer; vectors are cached, so opening the same data again is instant.")
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
    """The embedview window.  Owns the AppState, SelectionModel and JobRunner every view shares."""

    #: the window painted for the first time (start-up measurements, deferred building)
    first_paint = Signal()
    #: every view's dock exists
    docks_ready = Signal()
    #: the effective theme ("light" / "dark") changed
    theme_changed = Signal(str)

    def __init__(self, settings: Optional[Settings] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        sys.setswitchinterval(min(sys.getswitchinterval(), UI_SWITCH_INTERVAL))
        self.settings = settings or Settings()
        self.model = AppModel()
        self.state = self.model  # MIGRATION: views still say ``state``
        self.selection = self.model.selection
        self.runner = JobRunner(self)
        self.analysis = AnalysisScheduler(self.state, self.runner, self)
        self.thumbnails = shared_thumbnails(self.state)
        self.views: Dict[str, QWidget] = {}
        self.docks: Dict[str, QDockWidget] = {}
        self.main_view: Optional[QWidget] = None
        self.docks_built = False
        self._default_layout: Optional[QByteArray] = None
        self._specs: List[Any] = []
        self._availability: Dict[str, Tuple[bool, str]] = {}
        self._encode_job = None  # the running or last encode Job (its state holds the fraction done)
        self._encode_target = ("", 0)  # encoder name, items
        self._eta: Optional[Eta] = None
        self._pending_open: List[Tuple[Callable, tuple]] = []
        self._error_box: Optional[QMessageBox] = None
        self.last_message = ""

        self.setWindowTitle("embedview")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        self.resize(1400, 900)

        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        self._make_status_bar()
        self.welcome = _WelcomePage(self.actions_by_key, self)
        self.welcome.painted.connect(self.first_paint)
        self.central = QStackedWidget()
        self.central.addWidget(self.welcome)
        self.setCentralWidget(self.central)

        self.runner.error.connect(self._on_job_error)
        self.runner.progress.connect(self._on_job_progress)
        self.runner.busy_changed.connect(self._on_busy)
        self.analysis.status_changed.connect(self.analysis_label.setText)
        self.state.dataset_changed.connect(self._on_dataset_changed)
        self.state.problems_changed.connect(self._update_problem_label)
        self.state.active_changed.connect(lambda _n: self._update_title())
        self.selection.selection_changed.connect(lambda *_: self._update_actions())

        self.apply_theme(self.settings.theme(), plots=False)
        geometry = self.settings.window_geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self._default_geometry()
        self._update_actions()

    # ======================================================================================
    # construction
    # ======================================================================================
    def _default_geometry(self) -> None:
        """First start: 90 % of the screen (at most 1600 x 1000), centred."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        w, h = min(1600, int(area.width() * 0.9)), min(1000, int(area.height() * 0.9))
        self.resize(w, h)
        self.move(area.x() + (area.width() - w) // 2, area.y() + (area.height() - h) // 2)

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
        self.actions_by_key: Dict[str, QAction] = {}
        a = self._action
        a("open_files", "Open files\u2026", self.open_files_dialog, QKeySequence.Open, "Open image, text or embedding files")
        a("open_folder", "Open folder\u2026", self.open_folder_dialog, "Ctrl+Shift+O", "Open a folder of images")
        a("export_selection", "Export selection\u2026", self.export_selection_dialog, "Ctrl+E",
          "Save the selected items (index, id, source, label) as CSV")
        a("export_embeddings", "Export embeddings\u2026", self.export_embeddings_dialog, "Ctrl+Shift+E",
          "Save the active embeddings as .npy or .parquet")
        a("export_plot", "Export plot\u2026", self.export_plot_dialog, "Ctrl+Shift+P", "Save the focused plot as PNG or SVG")
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
        self._dock_actions_anchor = self.view_menu.addSeparator()
        theme_menu = self.view_menu.addMenu("Theme")
        group = QActionGroup(self)
        self.theme_actions: Dict[str, QAction] = {}
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
        self.analysis_label = QLabel("")
        self.progress_label = QLabel("")
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
    # docks (after the first paint)
    # ======================================================================================
    def build_docks(self) -> None:
        """Import every view in ``views.VIEWS`` and give it a dock (or the centre, for the first)."""
        if self.docks_built:
            return
        self.docks_built = True
        self.apply_theme(self.settings.theme(), plots=True)  # imports pyqtgraph: before the views make plots
        from embedview.gui.views import VIEWS

        by_area: Dict[str, List[QDockWidget]] = {}
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
            if i == 0:
                self.main_view = view
                self.central.addWidget(view)
                continue
            dock = QDockWidget(getattr(cls, "title", class_name), self)
            dock.setObjectName(f"dock-{class_name}")
            dock.setWidget(view)
            dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable)
            self.docks[class_name] = dock
            by_area.setdefault(getattr(cls, "area", "right"), []).append(dock)
        self._place_docks(by_area)
        for dock in self.docks.values():
            self.view_menu.insertAction(self._dock_actions_anchor, dock.toggleViewAction())
        self._default_layout = self.saveState()
        saved = self.settings.window_state(list(self.docks))
        if saved is not None:
            self.restoreState(saved)
        if self.state.dataset is not None and self.main_view is not None:
            self.central.setCurrentWidget(self.main_view)
        self._load_encoder_list()
        self.docks_ready.emit()
        pending, self._pending_open = self._pending_open, []
        for fn, args in pending:
            fn(*args)

    def _place_docks(self, by_area: Dict[str, List[QDockWidget]]) -> None:
        for area_name, docks in by_area.items():
            area = _AREAS.get(area_name, Qt.RightDockWidgetArea)
            tops = [d for d in docks if d.objectName()[5:] in _TOP_OF_AREA]
            rest = [d for d in docks if d not in tops]
            orientation = Qt.Horizontal if area == Qt.BottomDockWidgetArea else Qt.Vertical
            for d in tops + rest[:1]:
                self.addDockWidget(area, d, orientation)
            for d in rest[1:]:
                self.addDockWidget(area, d)
                self.tabifyDockWidget(rest[0], d)
            if rest:
                rest[0].raise_()
            if tops and rest:
                self.resizeDocks(tops + rest[:1], [110, 600], Qt.Vertical)
        right = [d for d in by_area.get("right", [])]
        if right:
            self.resizeDocks([right[0]], [440], Qt.Horizontal)
        bottom = by_area.get("bottom", [])
        if bottom:
            self.resizeDocks([bottom[0]], [260], Qt.Vertical)

    def show_view(self, class_name: str) -> Optional[QWidget]:
        """Make a view visible (its dock shown and raised); returns it."""
        dock = self.docks.get(class_name)
        if dock is not None:
            dock.show()
            dock.raise_()
        return self.views.get(class_name)

    def reset_layout(self) -> None:
        if self._default_layout is not None:
            self.restoreState(self._default_layout)
            for dock in self.docks.values():
                if not dock.isFloating():
                    dock.show()

    def when_ready(self, fn: Callable, *args: Any) -> None:
        """Run ``fn(*args)`` now if the docks exist, else right after they are built."""
        if self.docks_built:
            fn(*args)
        else:
            self._pending_open.append((fn, args))

    # ======================================================================================
    # encoders
    # ======================================================================================
    def _load_encoder_list(self) -> None:
        from embedview.encoders.registry import list_encoders

        try:
            self._specs = list_encoders()
        except Exception as exc:  # noqa: BLE001 - a broken plugin listing must not stop the app
            self._specs = list_encoders(include_plugins=False)
            self.report_error("encoders", f"encoder plugins could not be listed: {exc}")
        self._fill_encoder_combo()
        self.runner.submit("encoders.availability", availability_job, list(self._specs), on_result=self._on_availability)

    def _on_availability(self, result: Dict[str, Tuple[bool, str]]) -> None:
        self._availability = dict(result)
        self._fill_encoder_combo()

    def _modality(self) -> str:
        ds = self.state.dataset
        return ds.modality if ds is not None else ""

    def _fill_encoder_combo(self) -> None:
        combo = self.encoder_combo
        modality = self._modality()
        combo.blockSignals(True)
        combo.clear()
        if modality == "embedding":
            combo.addItem("precomputed (from the file)", "precomputed")
            combo.setEnabled(False)
            combo.blockSignals(False)
            return
        combo.setEnabled(True)
        for spec in self._specs:
            if modality and spec.modality != modality:
                continue
            ok, detail = self._availability.get(spec.name, (None, "checking whether the weights are available\u2026"))
            dim = f"{spec.dim}-d" if spec.dim else "?-d"
            state = "" if ok is None else ("  \u2713 offline" if ok else "  \u2193 needs download")
            label = f"{spec.name}  \u00b7  {spec.modality} {dim}{state}"
            combo.addItem(label, spec.name)
            combo.setItemData(combo.count() - 1, f"{spec.description}\n{detail}", Qt.ToolTipRole)
        chosen = self.state.active or self._preferred_encoder(modality)
        i = combo.findData(chosen)
        if i >= 0:
            combo.setCurrentIndex(i)
        combo.blockSignals(False)

    def _preferred_encoder(self, modality: str) -> str:
        """The remembered encoder for ``modality``, else the offline default, else the first offline one."""
        from embedview.encoders.registry import default_encoder_for

        if not modality:
            return ""
        names = [s.name for s in self._specs if s.modality == modality]
        last = self.settings.last_encoder(modality)
        if last and (last in names or ":" in last):
            return last
        default = default_encoder_for(modality)
        if self._availability.get(default, (True, ""))[0]:
            return default
        for name in names:
            if self._availability.get(name, (False, ""))[0]:
                return name
        return default

    def current_encoder(self) -> str:
        data = self.encoder_combo.currentData()
        return str(data) if data else self._preferred_encoder(self._modality())

    def _on_encoder_activated(self, index: int) -> None:
        name = self.encoder_combo.itemData(index)
        if name and self.state.dataset is not None and name != self.state.active and name != "precomputed":
            self.encode(name)

    def choose_encoder_dialog(self) -> None:
        from embedview.gui.dialogs import EncoderDialog

        if not self._specs:
            self._load_encoder_list()
        dlg = EncoderDialog(self._specs, self._availability, current=self.current_encoder(),
                            modality=self._modality() if self._modality() != "embedding" else "", parent=self)
        if dlg.exec() != QDialog.Accepted or not dlg.chosen():
            return
        name = dlg.chosen()
        if self.encoder_combo.findData(name) < 0:
            self.encoder_combo.addItem(name, name)
        self.encoder_combo.setCurrentIndex(self.encoder_combo.findData(name))
        if self.state.dataset is None:
            self.show_message(f"{name} will embed the next data you open")
            return
        self.encode(name)

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
        self.show_message("Preparing the demo data\u2026")
        self.runner.submit("load", demo_job, on_result=lambda parts: self.open_paths([parts[which]]),
                           on_error=lambda msg: self.report_error("demo", f"the demo data could not be built: {msg}"))

    def open_paths(self, paths: Sequence[str], text_column: Optional[str] = None,
                   label_column: Optional[str] = None) -> None:
        """Load ``paths`` in the background, then show and encode them."""
        paths = [os.fspath(p) for p in paths]
        if not paths:
            return
        if not self.docks_built:
            self.when_ready(self.open_paths, paths, text_column, label_column)
            return
        self.runner.cancel("encode")
        self.load_options = {"text_column": text_column, "label_column": label_column}  # for sessions
        short = os.path.basename(paths[0].rstrip("/\\")) + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")
        self.show_message(f"Loading {short}\u2026")
        self.runner.submit(
            "load", load_job, paths, text_column, label_column,
            on_result=lambda res: self._on_loaded(paths, res),
            on_error=lambda msg: self.report_error("load", msg, paths[0]),
        )

    def _on_loaded(self, paths: List[str], result: Dict[str, Any]) -> None:
        if "ask" in result:
            path, info = result["ask"]
            from embedview.gui.dialogs import ColumnDialog

            dlg = ColumnDialog(path, info.get("columns", []), info.get("text_guess"), info.get("label_guess"), self)
            if dlg.exec() != QDialog.Accepted:
                self.show_message("Opening cancelled")
                return
            text_col, label_col = dlg.columns()
            self.open_paths(paths, text_col, label_col)
            return
        dataset: Dataset = result["dataset"]
        for p in paths:
            self.settings.add_recent(p)
        self.set_dataset(dataset, paths)

    def set_dataset(self, dataset: Dataset, paths: Sequence[str] = ()) -> None:
        """Show ``dataset`` (selection reset), then embed it: precomputed vectors directly, else encode."""
        self.runner.cancel("encode")
        self.state.set_dataset(dataset, list(paths))
        skipped = sum(1 for p in dataset.problems if getattr(p, "severity", "skipped") == "skipped")
        what = f"Loaded {len(dataset):,} {_noun(dataset)}"
        self.show_message(what + (f"; {skipped} file{'s' if skipped != 1 else ''} skipped \u2014 see Problems" if skipped else ""))
        if dataset.embeddings is not None:
            self.state.add_embeddings(EmbeddingSet.from_dataset(dataset))
        elif dataset.modality in ("image", "text"):
            self.encode(self.current_encoder())

    def _on_dataset_changed(self) -> None:
        ds = self.state.dataset
        if ds is not None and self.main_view is not None:
            self.central.setCurrentWidget(self.main_view)
        self._fill_encoder_combo()
        self._update_title()
        self._update_problem_label()
        self._update_actions()

    # ======================================================================================
    # encoding
    # ======================================================================================
    def encode(self, name: str) -> None:
        """Embed the current dataset with encoder ``name`` in the background (cancels a running one)."""
        ds = self.state.dataset
        if ds is None or not name:
            return
        self.settings.set_last_encoder(ds.modality, name)
        self._encode_target = (name, len(ds))
        self._eta = Eta(len(ds))
        self.progress_label.setText(f"{name}: starting\u2026")
        self.progress_bar.setValue(0)
        self._set_busy_widgets(True)
        self._encode_job = self.runner.submit(
            "encode", encode_job, ds, name,
            on_result=lambda emb, ds=ds: self._on_encoded(ds, emb),
            on_progress=self._on_encode_progress,
            on_cancelled=self._on_encode_cancelled,
            on_error=lambda msg, name=name: self._on_encode_error(name, msg),
        )

    def cancel_encoding(self) -> None:
        self.runner.cancel("encode")

    def _on_encode_progress(self, fraction: float, message: str) -> None:
        name, total = self._encode_target
        self.progress_bar.setValue(int(round(fraction * 1000)))
        self.progress_bar.setFormat(f"{fraction * 100:.0f} %")
        parts = [f"{name}: {int(round(fraction * total)):,}/{total:,}"]
        rate, left = self._eta.update(fraction) if self._eta is not None else (None, None)
        if rate is not None:
            parts.append(f"{rate:.1f} items/s")
            parts.append(f"{format_duration(left)} left")
        elif message:
            parts.append(message)
        self.progress_label.setText("  \u00b7  ".join(parts))
        self.progress_label.setToolTip(message)

    def _on_encoded(self, dataset: Dataset, emb: EmbeddingSet) -> None:
        if self.state.dataset is not dataset:
            return
        self._set_busy_widgets(False)
        self.state.add_embeddings(emb)
        stats = getattr(emb, "stats", {}) or {}
        text = f"Encoded {len(emb):,} {_noun(emb.dataset)} with {emb.encoder}"
        if stats:
            text += f" ({stats.get('n_cached', 0):,} cached, {stats.get('n_encoded', 0):,} new, {stats.get('seconds', 0):.1f} s)"
        skipped = sum(1 for p in self.state.problems if getattr(p, "severity", "skipped") == "skipped")
        if skipped:
            text += f"; {skipped} file{'s' if skipped != 1 else ''} skipped \u2014 see Problems"
        self.show_message(text)
        self._fill_encoder_combo()

    def _on_encode_cancelled(self) -> None:
        self._set_busy_widgets(False)
        name, total = self._encode_target
        # every batch reported before the cancel is in the cache (one more may have landed since)
        done = int(round(self._encode_job.state.fraction * total))
        self.show_message(f"Encoding cancelled \u2014 {done:,} of {total:,} cached")

    def _on_encode_error(self, name: str, message: str) -> None:
        self._set_busy_widgets(False)
        self.report_error("encode", f"encoding with {name} failed: {message}")

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

    def report_error(self, key: str, message: str, path: str = "") -> None:
        """An error from a job or an action: status bar, Problems, a non-modal message, the log."""
        log.error("[%s] %s", key, message)
        self.show_message(message.splitlines()[0] if message else "error")
        self.state.problems = list(self.state.problems) + [LoadProblem(path or f"[{key}]", message, "error")]
        self.state.problems_changed.emit()
        box = self._error_box
        if box is None:
            box = QMessageBox(QMessageBox.Warning, "embedview", "", QMessageBox.Ok, self)
            box.setModal(False)
            box.setWindowModality(Qt.NonModal)
            self._error_box = box
        box.setText(message.splitlines()[0] if message else "error")
        box.setDetailedText(message if "\n" in message else "")
        box.show()

    def _on_job_error(self, key: str, message: str) -> None:
        self.report_error(key, message)

    def _on_job_progress(self, key: str, fraction: float, message: str) -> None:
        if key == "load":
            self.show_message(f"Loading\u2026 {fraction * 100:.0f} %  {message}")

    def _on_busy(self) -> None:
        if not self.runner.is_running("encode") and self.cancel_button.isVisible():
            # the encode job ended without a result callback reaching us (e.g. replaced)
            if "encode" not in self.runner.active_keys():
                self._set_busy_widgets(False)

    def _update_problem_label(self) -> None:
        n = sum(1 for p in self.state.problems if getattr(p, "severity", "skipped") == "skipped")
        errors = sum(1 for p in self.state.problems if getattr(p, "severity", "") == "error")
        parts = []
        if n:
            parts.append(f"{n} file{'s' if n != 1 else ''} skipped")
        if errors:
            parts.append(f"{errors} error{'s' if errors != 1 else ''}")
        self.problem_label.setText(" \u00b7 ".join(parts) + " \u2014 <a href='problems'>see Problems</a>" if parts else "")

    def _update_title(self) -> None:
        ds = self.state.dataset
        if ds is None:
            self.setWindowTitle("embedview")
            self.dataset_label.setText("")
            return
        name = ds.name or (os.path.basename(self.state.paths[0].rstrip("/\\")) if self.state.paths else "data")
        self.setWindowTitle(f"{name} \u2014 embedview")
        emb = self.state.emb
        enc = f" \u00b7 {emb.encoder} {emb.dim}-d" if emb is not None else ""
        self.dataset_label.setText(f"{name} \u00b7 {len(ds):,} {_noun(ds)}{enc}  ")

    def _update_actions(self) -> None:
        has_data = self.state.dataset is not None
        for key in ("select_all", "clear_selection", "invert_selection"):
            self.actions_by_key[key].setEnabled(has_data)
        self.actions_by_key["export_selection"].setEnabled(has_data and len(self.selection.selected) > 0)
        self.actions_by_key["export_embeddings"].setEnabled(self.state.emb is not None or has_data)

    # ======================================================================================
    # selection
    # ======================================================================================
    def select_all(self) -> None:
        self.selection.set_selection(np.arange(self.state.n_items, dtype=np.int64), "window")

    def clear_selection(self) -> None:
        self.selection.clear("window")

    def invert_selection(self) -> None:
        everything = np.arange(self.state.n_items, dtype=np.int64)
        self.selection.set_selection(np.setdiff1d(everything, self.selection.selected), "window")

    def focus_search(self) -> None:
        """Ctrl+F: the search view's field if there is one, else the table's filter."""
        from PySide6.QtWidgets import QLineEdit

        for name in ("SearchView", "TableView"):
            view = self.show_view(name)
            if view is None:
                continue
            for method in ("focus_search", "focus_filter"):
                if hasattr(view, method):
                    getattr(view, method)()
                    return
            edit = view.findChild(QLineEdit)
            if edit is not None:
                edit.setFocus(Qt.ShortcutFocusReason)
                edit.selectAll()
                return

    # ======================================================================================
    # exports
    # ======================================================================================
    def export_selection_csv(self, path: str) -> int:
        """Write the selected items as CSV (index, id, source, label); returns the row count."""
        ds = self.state.dataset
        if ds is None:
            raise ValueError("no data is open")
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["index", "id", "source", "label"])
            for i in self.selection.selected.tolist():
                label = ds.labels[i] if ds.labels is not None else None
                w.writerow([i, ds.ids[i], ds.sources[i], "" if label is None else label])
        return len(self.selection.selected)

    def export_embeddings(self, path: str):
        """Write the active embeddings in the runner (hundreds of MB at 100k x 768): ``.npy`` (the
        matrix) or ``.parquet`` (id, source, label, …, ``embedding`` as a fixed-size list).
        Returns the job; the status bar says when the file is written."""
        emb = self.state.emb
        if emb is None:
            raise ValueError("there are no embeddings yet (encoding still running or cancelled)")
        return self.runner.submit(
            "export.embeddings", write_embeddings, emb, path,
            on_result=lambda n, path=path: self.show_message(f"Wrote {n:,} vectors to {path}"),
            on_error=lambda msg, path=path: self.report_error("export", f"could not write {path}: {msg}"),
        )

    def export_selection_dialog(self) -> None:
        if self.state.dataset is None or not len(self.selection.selected):
            self.show_message("Select some items first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export selection", "selection.csv", "CSV (*.csv)")
        if path:
            self._guarded("export", lambda: self.show_message(f"Wrote {self.export_selection_csv(path):,} rows to {path}"))

    def export_embeddings_dialog(self) -> None:
        if self.state.emb is None:
            self.show_message("No embeddings yet")
            return
        path, chosen = QFileDialog.getSaveFileName(self, "Export embeddings", "embeddings.parquet",
                                                   "Parquet (*.parquet);;NumPy array (*.npy)")
        if not path:
            return
        if not path.lower().endswith((".npy", ".parquet")):
            path += ".npy" if "npy" in chosen else ".parquet"
        self._guarded("export", lambda: self.export_embeddings(path))

    def plot_view(self) -> Optional[QWidget]:
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

        self._guarded("export", run)

    # -- duplicates / checks views: exports ------------------------------------------------
    def export_duplicates_dialog(self) -> None:
        """File -> Export duplicate decisions: the Duplicates view asks where and writes them."""
        view = self.show_view("DuplicatesView")
        if view is None:
            self.show_message("The duplicates view is not available")
            return
        view.export_dialog()

    def export_report_dialog(self) -> None:
        """File -> Export HTML report: core.report.write_report in the runner, with progress and Cancel."""
        from embedview.gui.views.checks import export_report_dialog

        export_report_dialog(self)

    # -- sessions and encoder comparison (gui/session.py, views/compare.py) ----------------
    def save_session_dialog(self) -> None:
        """File -> Save session: paths, encoders, maps, selection, decisions, layout (gui/session.py)."""
        from embedview.gui.session import save_dialog

        save_dialog(self)

    def open_session_dialog(self) -> None:
        """File -> Open session: restore a saved session into this window (gui/session.py)."""
        from embedview.gui.session import open_dialog

        open_dialog(self)

    def open_session(self, path: str) -> None:
        """Read the session file ``path`` in the background and restore it."""
        from embedview.gui.session import open_in_background

        self.when_ready(open_in_background, self, path)

    def add_encoder_dialog(self) -> None:
        """Encoder -> Add encoder for comparison: pick another encoder for the same data."""
        from embedview.gui.dialogs import EncoderDialog

        ds = self.state.dataset
        if ds is None or ds.modality == "embedding":
            self.show_message("Open images or texts first" if ds is None else
                              "Precomputed embeddings cannot be encoded again; open the images or texts to compare encoders")
            return
        if not self._specs:
            self._load_encoder_list()
        dlg = EncoderDialog(self._specs, self._availability, current="", modality=ds.modality, parent=self)
        dlg.setWindowTitle("Add encoder for comparison")
        if dlg.exec() == QDialog.Accepted and dlg.chosen():
            self.add_encoder(dlg.chosen())

    def add_encoder(self, name: str, show: bool = True) -> None:
        """Encode the open data with ``name`` as well, in the runner (key ``"encode.extra:<name>"``);
        the set joins the state without becoming active, for the Compare and Collapse views
        (``show``: raise the Compare view when it is ready)."""
        ds = self.state.dataset
        if ds is None or not name:
            return
        if name in self.state.sets:
            self.show_message(f"{name} is already computed")
            self.show_view("CompareView")
            return
        self.show_message(f"Encoding with {name} for comparison\u2026")
        self.runner.submit(
            f"encode.extra:{name}", encode_job, ds, name,
            on_result=lambda emb, paths=list(self.state.paths): self._on_extra_encoded(paths, emb, show),
            on_progress=lambda f, _m, name=name: self.statusBar().showMessage(
                f"Encoding with {name} for comparison\u2026 {f * 100:.0f} %"),
            on_error=lambda msg, name=name: self.report_error("encode", f"encoding with {name} failed: {msg}"),
        )

    def _on_extra_encoded(self, paths: List[str], emb: EmbeddingSet, show: bool = True) -> None:
        current = self.state.dataset
        if current is None or list(self.state.paths) != paths:
            return  # other data was opened meanwhile
        if list(emb.dataset.ids) != list(current.ids):
            self.report_error("encode", f"{emb.encoder} did not encode the same items ({len(emb):,} of {len(current):,}, "
                                        "see Problems); comparing encoders needs every item")
            return
        self.state.add_embeddings(emb, activate=False)
        self.show_message(f"{emb.encoder} is ready to compare ({len(emb):,} items)")
        if show:
            self.show_view("CompareView")

    def _guarded(self, key: str, fn: Callable[[], None]) -> None:
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

    def shortcuts(self) -> List[Tuple[str, str]]:
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


def _local_paths(mime) -> List[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


def _noun(ds: Dataset) -> str:
    return {"image": "images", "text": "texts", "embedding": "vectors"}.get(ds.modality, "items")
