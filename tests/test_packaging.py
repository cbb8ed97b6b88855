"""Desktop integration files validate, and name what the package really installs."""

import configparser
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESKTOP = ROOT / "packaging" / "io.github.embedview.EmbedView.desktop"
METAINFO = ROOT / "packaging" / "io.github.embedview.EmbedView.metainfo.xml"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install desktop-file-utils appstream)")
    return path


def test_desktop_file_validates():
    out = subprocess.run([_tool("desktop-file-validate"), str(DESKTOP)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "error" not in (out.stdout + out.stderr).lower()


def test_metainfo_validates():
    out = subprocess.run(
        [_tool("appstreamcli"), "validate", "--no-net", str(METAINFO)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_desktop_entry_runs_the_installed_command():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(DESKTOP)
    command = entry["Desktop Entry"]["Exec"].split()[0]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert command in scripts
    assert entry["Desktop Entry"]["Icon"] == METAINFO.stem.replace(".metainfo", "")


def test_pyinstaller_spec_is_valid_python_and_points_at_real_files():
    spec = (ROOT / "packaging" / "embedview.spec").read_text()
    compile(spec, "embedview.spec", "exec")
    assert (ROOT / "packaging" / "embedview_main.py").exists()
    assert "resources" in spec and (ROOT / "resources").is_dir()
