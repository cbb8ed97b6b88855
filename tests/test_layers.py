"""Layer rules: import-linter contracts hold, ruff finds nothing, the Qt-free layers (model, runtime,
actions) import no Qt and nothing heavy, and the cheap commands never import heavy modules."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from heavy_modules import HEAVY
from PIL import Image

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import json, sys
from embedview.cli import main
rc = main(sys.argv[1:])
heavy = [m for m in {heavy!r} if m in sys.modules]
print("\\nRESULT " + json.dumps({{"rc": rc, "heavy": heavy}}))
"""


def test_import_contracts_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    match = re.search(r"Contracts: (\d+) kept, (\d+) broken", proc.stdout)
    assert match, proc.stdout
    assert int(match.group(1)) >= 8 and int(match.group(2)) == 0


def test_every_view_is_in_the_independence_contract():
    """A new view in gui/views/__init__.VIEWS joins the contract that keeps views from importing
    each other (pyproject.toml, "views are independent of each other")."""
    tree = ast.parse((ROOT / "embedview" / "gui" / "views" / "__init__.py").read_text())
    views = next(ast.literal_eval(node.value) for node in tree.body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "VIEWS")
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    independent = next(c for c in contracts if c["type"] == "independence")["modules"]
    assert sorted(module for module, _cls in views) == sorted(independent)


def _ruff(*args: str) -> subprocess.CompletedProcess:
    ruff = Path(sys.executable).with_name("ruff")
    return subprocess.run([str(ruff), "check", "--output-format", "concise", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_clean_everywhere():
    """Every rule selected in pyproject.toml (F, E, B, I, UP) holds over the whole tree."""
    proc = _ruff("embedview", "tests", "benchmarks", "packaging")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean_on_the_qt_free_layers():
    """core, model, runtime and actions type-check (the files are listed in pyproject.toml)."""
    mypy = Path(sys.executable).with_name("mypy")
    proc = subprocess.run([str(mypy)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


_QT_FREE_PROBE = """
import importlib, json, pkgutil, sys
imported = []
for package in ("embedview.model", "embedview.runtime", "embedview.actions"):
    module = importlib.import_module(package)
    imported.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
heavy = [m for m in {heavy!r} if m in sys.modules]
qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph", "pytestqt"))
print("\\nRESULT " + json.dumps({{"imported": imported, "heavy": heavy, "qt": qt}}))
"""


def test_model_runtime_actions_import_no_qt_and_nothing_heavy():
    """Every module of the Qt-free layers imports in a fresh interpreter without loading Qt (the
    window's toolkit) or torch, umap, faiss & co. (loaded where they are used, or in a child)."""
    proc = subprocess.run([sys.executable, "-c", _QT_FREE_PROBE.format(heavy=HEAVY)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and line, proc.stdout + proc.stderr
    result = json.loads(line[-1][len("RESULT "):])
    assert {"embedview.model.app", "embedview.model.views", "embedview.runtime.jobs"} <= set(result["imported"])
    assert result["qt"] == [], f"importing the Qt-free layers loaded {result['qt']}"
    assert result["heavy"] == [], f"importing the Qt-free layers loaded {result['heavy']}"


def _run_cli(args, tmp_path):
    env = {"EMBEDVIEW_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, proc.stdout + proc.stderr
    return json.loads(line[-1][len("RESULT "):]), proc


def test_models_command_imports_no_heavy_module(tmp_path):
    result, proc = _run_cli(["models"], tmp_path)
    assert result["rc"] == 0, proc.stderr
    assert "default-image" in proc.stdout and "default-text" in proc.stdout
    assert result["heavy"] == [], f"`embedview models` imported {result['heavy']}"


def test_info_command_imports_no_heavy_module(tmp_path):
    folder = tmp_path / "photos"
    for label, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        (folder / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((16, 16, 3), colour, dtype=np.uint8)).save(folder / label / f"{i}.png")
    result, proc = _run_cli(["info", str(folder)], tmp_path)
    assert result["rc"] == 0, proc.stderr
    assert "image" in proc.stdout
    assert result["heavy"] == [], f"`embedview info` imported {result['heavy']}"
