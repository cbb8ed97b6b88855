"""Layer rules: import-linter contracts hold, pyflakes finds nothing, and the cheap commands never import
heavy modules."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from heavy_modules import HEAVY
from PIL import Image

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
    assert int(match.group(1)) >= 3 and int(match.group(2)) == 0


def test_no_pyflakes_errors():
    """Undefined names, unused imports and variables, redefinitions (ruff's F rules) anywhere."""
    ruff = Path(sys.executable).with_name("ruff")
    proc = subprocess.run([str(ruff), "check", "--output-format", "concise", "embedview", "tests", "benchmarks",
                           "packaging"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


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
