"""The headless job (`make test-headless`) runs the Qt-free layers' tests where PySide6, pyqtgraph and
pytest-qt are not installed.  These checks run in the ordinary suite, so a test that would need Qt
there fails here first, with the file and line, instead of as an import error in CI."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph", "pytestqt", "embedview.gui")
QT_FIXTURES = ("qtbot", "qapp", "qtmodeltester", "qtlog")


def _headless_paths() -> list[Path]:
    """HEADLESS_TESTS in the Makefile: the one list of what the headless job runs."""
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^HEADLESS_TESTS\s*:=((?:.*\\\n)*.*)$", makefile, re.M)  # with its continued lines
    assert match, "the Makefile has no HEADLESS_TESTS"
    return [ROOT / p for p in match.group(1).replace("\\\n", " ").split()]


def _python_files() -> list[Path]:
    files: list[Path] = []
    for path in _headless_paths():
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
    return files


def _qt_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [arg.arg for arg in node.args.args if arg.arg in QT_FIXTURES]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "importorskip" and node.args:
            first = node.args[0]
            names = [first.value] if isinstance(first, ast.Constant) and isinstance(first.value, str) else []
        bad = [n for n in names if n in QT_FIXTURES or any(n == m or n.startswith(m + ".") for m in QT_MODULES)]
        found += [f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}: {n}" for n in bad]
    return found


def test_headless_job_runs_core_tests():
    """The list is real: at least the core tests and the CLI tests exist (an empty run fails anyway)."""
    files = _python_files()
    assert any(f.parent.name == "core" for f in files) and (ROOT / "tests" / "test_cli.py") in files


def test_qt_use_is_detected():
    """The detector below sees a Qt import, a gui import and the qtbot fixture in a GUI test."""
    uses = " ".join(_qt_uses(ROOT / "tests" / "gui" / "test_map.py"))
    assert "PySide6" in uses or "pyqtgraph" in uses
    assert "embedview.gui" in uses and "qtbot" in uses


def test_headless_tests_use_no_qt():
    """Tests of core / model / runtime / actions / the CLI import no Qt, pyqtgraph, pytest-qt or
    embedview.gui and take no Qt fixture: put such a test under tests/gui/."""
    found = [use for path in _python_files() for use in _qt_uses(path)]
    assert found == [], "Qt in the headless tests (move the test to tests/gui/):\n" + "\n".join(found)
