"""Start the desktop app: ``main(paths)`` / ``main(demo=True)``, or ``python -m embedview.gui.app [PATH...]``.

The window is shown first (Qt only, no pyqtgraph / torch / umap); once it has painted, the
views are imported and docked, then the given paths (or the demo) are opened.

Importing this module imports no Qt: :func:`main` first checks that Qt's platform plugin can load
(``embedview.sysdeps``) and, when a system library is missing, prints which ones and the exact
install command instead of Qt's abort, which names xcb-cursor0 whatever was missing.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from embedview.gui.main_window import MainWindow

log = logging.getLogger("embedview")

#: if the first paint never comes (a minimised start), build the docks after this anyway
BUILD_FALLBACK_MS = 1500


def app_icon() -> QIcon:
    """The application icon (SVG, with the PNG as a fallback)."""
    from PySide6.QtGui import QIcon

    folder = resources.files("embedview.resources")
    for name in ("icon.svg", "icon.png"):
        path = folder / name
        if path.is_file():
            icon = QIcon(str(path))
            if not icon.isNull():
                return icon
    return QIcon()


def create(paths: Sequence[str] | None = None, demo: bool = False,
           argv: list[str] | None = None) -> tuple[QApplication, MainWindow]:
    """The application and its shown window; docks and data follow from the event loop.

    UMAP runs in a *spawned* child process (``gui.isolated``), which re-imports the script
    that started the app: a script calling this must do so under
    ``if __name__ == "__main__":``, or the child starts a second app instead of the job.
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from embedview.gui.main_window import MainWindow
    from embedview.gui.settings import APPLICATION, ORGANIZATION

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("embedview")
    app.setDesktopFileName("io.github.embedview.EmbedView")
    app.setWindowIcon(app_icon())

    window = MainWindow()
    from embedview.gui.remote import start_from_env  # embedview.show(): driven from another process

    window.remote = start_from_env(window)
    started = {"done": False}

    def finish_start() -> None:
        if started["done"]:
            return
        started["done"] = True
        window.build_docks()
        if paths:
            window.open_paths(list(paths))
        elif demo:
            window.open_demo("images")

    window.first_paint.connect(lambda: QTimer.singleShot(0, finish_start))
    QTimer.singleShot(BUILD_FALLBACK_MS, finish_start)
    _install_excepthook(window)
    window.show()
    return app, window


def _install_excepthook(window: MainWindow) -> None:
    """Uncaught exceptions in Qt callbacks: log them and show them in the window; never quit."""
    previous = sys.excepthook

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        log.error("unexpected error:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
        try:
            window.report_error("internal", f"unexpected error: {exc_type.__name__}: {exc}")
        except RuntimeError:  # the window is already gone
            pass

    sys.excepthook = hook


def main(paths: list[str] | None = None, demo: bool = False) -> int:
    """Run the app until its window closes; returns the exit status (1: system libraries missing)."""
    from embedview.sysdeps import gui_problem

    problem = gui_problem()
    if problem:  # Qt would abort with a message naming xcb-cursor0, whatever is missing
        print(problem, file=sys.stderr)
        return 1
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app, _window = create(paths, demo)
    return int(app.exec())


def _cli(argv: Sequence[str]) -> int:
    """``python -m embedview.gui.app [--demo] [PATH...]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m embedview.gui.app", description="the embedview desktop app")
    parser.add_argument("paths", nargs="*", help="image folders, image / text / embedding files to open")
    parser.add_argument("--demo", action="store_true", help="open the demo images")
    args = parser.parse_args(list(argv))
    return main(args.paths or None, demo=args.demo)


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
