"""The system-library check (``embedview.sysdeps``) that ``make run`` and the app's start run before
Qt: which libraries are missing, the exact apt-get / dnf commands, and that it imports no Qt.

The libraries are faked (``found`` / ``ldd``): this machine has them all, and removing system
packages is not a test's business.  One real run checks this machine's answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from embedview import sysdeps

ROOT = Path(__file__).resolve().parents[1]


def _check(missing=(), ldd_missing=(), fonts=True, env=None):
    missing, ldd_missing = set(missing), set(ldd_missing)
    return sysdeps.check(env={"DISPLAY": ":0"} if env is None else env, qt=Path("/nowhere/PySide6/Qt"),
                         found=lambda name: name not in missing,
                         ldd=lambda files: ldd_missing if any("qxcb" in str(f) for f in files) else set(),
                         fonts=lambda: fonts)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is for Linux")
def test_fake_missing_libraries_give_the_exact_install_commands(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # not root: sudo
    report = _check(missing={"libxcb-cursor.so.0", "libGL.so.1"}, ldd_missing={"libxcb-icccm.so.4"})
    assert not report.ok
    assert report.missing == ["libGL.so.1", "libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    assert report.commands() == {
        "apt": "sudo apt-get install libgl1 libxcb-cursor0 libxcb-icccm4",
        "dnf": "sudo dnf install libglvnd-glx xcb-util-cursor xcb-util-wm",
    }
    text = report.message()
    assert "libGL.so.1, libxcb-cursor.so.0, libxcb-icccm.so.4" in text  # the ones really missing
    assert "sudo apt-get install libgl1 libxcb-cursor0 libxcb-icccm4" in text
    assert "sudo dnf install libglvnd-glx xcb-util-cursor xcb-util-wm" in text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is for Linux")
def test_shared_packages_once_fonts_and_unknown_libraries(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # root: no sudo
    report = _check(missing={"libxcb-randr.so.0", "libxcb-shm.so.0", "libglib-2.0.so.0", "libgthread-2.0.so.0"},
                    ldd_missing={"libxcb-newthing.so.7"}, fonts=False)
    assert report.commands() == {
        "apt": "apt-get install libglib2.0-0 libxcb-randr0 libxcb-shm0 fonts-dejavu-core",
        "dnf": "dnf install glib2 libxcb dejavu-sans-fonts",  # Fedora packs the xcb extensions in one
    }
    assert report.unknown() == ["libxcb-newthing.so.7"]
    assert "libxcb-newthing.so.7" in report.message() and "any font" in report.message()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is for Linux")
def test_the_platform_decides_what_is_needed():
    assert sysdeps.qt_platform({}) == "xcb"
    assert sysdeps.qt_platform({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"
    assert sysdeps.qt_platform({"QT_QPA_PLATFORM": "wayland;xcb"}) == "wayland"
    assert sysdeps.qt_platform({"XDG_SESSION_TYPE": "wayland", "XDG_CURRENT_DESKTOP": "KDE"}) == "wayland"
    assert sysdeps.qt_platform({"XDG_SESSION_TYPE": "wayland", "XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}) == "xcb"
    # offscreen: the xcb libraries do not matter, the GUI libraries do
    report = _check(missing={"libxcb-cursor.so.0", "libfontconfig.so.1"}, env={"QT_QPA_PLATFORM": "offscreen"})
    assert report.missing == ["libfontconfig.so.1"] and report.optional == []
    # Wayland: the window starts without them; the X11 fallback's needs are told, not required
    report = _check(missing={"libxcb-cursor.so.0"}, env={"QT_QPA_PLATFORM": "wayland"})
    assert report.ok and report.optional == ["libxcb-cursor.so.0"]
    assert "libxcb-cursor0" in report.message()


def test_nothing_missing_reads_ok():
    report = _check()
    assert report.ok and report.commands() == {} and report.message() == ""


def test_ldd_output_is_parsed(tmp_path):
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"")
    out = ("\tlinux-vdso.so.1 (0x00007ffd)\n\tlibxcb-cursor.so.0 => not found\n"
           "\tlibGL.so.1 => /lib/x86_64-linux-gnu/libGL.so.1 (0x00007f05)\n\tlibxcb-icccm.so.4 => not found\n")

    def run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")

    if sysdeps.shutil.which("ldd") is None:
        pytest.skip("no ldd here")
    assert sysdeps.ldd_missing([plugin, tmp_path / "absent.so"], run=run) == {"libxcb-cursor.so.0",
                                                                              "libxcb-icccm.so.4"}


def test_the_command_imports_no_qt_and_answers_for_this_machine():
    """``python -m embedview.sysdeps`` (what ``make run`` runs first) on this machine, in a process
    where importing Qt is impossible: the check must run before Qt, whatever is missing."""
    code = ("import sys, runpy\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('PySide6', 'shiboken6', 'numpy'):\n"
            "            raise ImportError('blocked: ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "sys.argv = ['sysdeps']\n"
            "runpy.run_module('embedview.sysdeps', run_name='__main__')\n")
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    report = sysdeps.check(env)
    assert proc.returncode == (0 if report.ok else 1), proc.stderr
    if report.ok:
        assert "are all there" in proc.stdout
    else:
        assert "apt-get install" in proc.stderr


def test_make_run_checks_first():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in recipe.splitlines()[1:]]
    assert lines[0] == "$(PY) -m embedview.sysdeps --quiet" and "embedview demo" in lines[1]


def test_the_app_module_imports_no_qt_until_it_starts():
    """``gui/app.py`` runs the check in ``main`` before any Qt import (Qt's abort cannot be caught)."""
    code = "import sys, embedview.gui.app; print(sorted(m for m in sys.modules if m.startswith('PySide6')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_the_app_stops_with_the_message_instead_of_qts_abort(monkeypatch, capsys):
    from embedview.gui import app

    monkeypatch.setattr(sysdeps, "gui_problem", lambda env=None: "needs libxcb-cursor.so.0\n  apt-get install x")
    assert app.main() == 1
    assert "apt-get install x" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is for Linux")
def test_gui_problem_runs_the_full_check_only_when_the_plugin_does_not_load(monkeypatch):
    report = _check(missing={"libxcb-cursor.so.0"})
    monkeypatch.setattr(sysdeps, "xcb_plugin_loads", lambda qt=None: True)
    monkeypatch.setattr(sysdeps, "check", lambda env=None: pytest.fail("the full check ran"))
    assert sysdeps.gui_problem({"DISPLAY": ":0"}) == ""
    monkeypatch.setattr(sysdeps, "xcb_plugin_loads", lambda qt=None: False)
    monkeypatch.setattr(sysdeps, "check", lambda env=None: report)
    assert "libxcb-cursor0" in sysdeps.gui_problem({"DISPLAY": ":0"})
    assert sysdeps.gui_problem({"QT_QPA_PLATFORM": "offscreen"}) == ""  # not the xcb plugin: not this test's
