"""Desktop integration files validate, and name what the package really installs."""

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
DESKTOP = ROOT / "packaging" / "io.github.embedview.EmbedView.desktop"
METAINFO = ROOT / "packaging" / "io.github.embedview.EmbedView.metainfo.xml"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install desktop-file-utils appstream)")
    return path


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


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
    scripts = _pyproject()["project"]["scripts"]
    assert command in scripts
    assert entry["Desktop Entry"]["Icon"] == METAINFO.stem.replace(".metainfo", "")


def test_pyinstaller_spec_is_valid_python_and_points_at_real_files():
    spec = (ROOT / "packaging" / "embedview.spec").read_text()
    compile(spec, "embedview.spec", "exec")
    assert (ROOT / "packaging" / "embedview_main.py").exists()
    assert "resources" in spec and (ROOT / "resources").is_dir()


def test_pyinstaller_spec_collects_every_embedview_module_and_psygnal():
    """The app imports its views and encoders lazily and the model's events come from psygnal (a
    compiled package whose own PyInstaller hook lists its binary modules): the spec names both."""
    spec = (ROOT / "packaging" / "embedview.spec").read_text()
    assert 'collect_submodules("embedview")' in spec
    assert re.search(r'hiddenimports = \([^=]*"psygnal"', spec, re.S)


def test_every_package_is_installed():
    """A package missing from [tool.setuptools] packages works in the editable install and is
    missing from the wheel: every folder of embedview with an __init__.py must be listed."""
    config = _pyproject()["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "embedview").rglob("__init__.py")}
    assert found - listed == set(), "add to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set(config["package-dir"])  # only embedview.resources lives elsewhere


def test_version_has_one_source():
    """pyproject.toml reads the version from embedview.__version__ (no second copy to forget)."""
    project = _pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "embedview.__version__"}
    init = (ROOT / "embedview" / "__init__.py").read_text()
    assert re.search(r'^__version__ = "\d+\.\d+\.\d+"$', init, re.M)
    changelog = (ROOT / "CHANGELOG.md").read_text()
    version = re.search(r'^__version__ = "(.+)"$', init, re.M).group(1)
    assert f"## [{version}]" in changelog, "CHANGELOG.md has no section for the current version"
    assert f'<release version="{version}"' in METAINFO.read_text(), "the metainfo lists no release of this version"
