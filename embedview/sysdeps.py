"""The system libraries the desktop app needs on Linux, checked before Qt is imported.

PySide6's wheels bring Qt itself but not the system libraries Qt's X11 (xcb) platform plugin and
its GUI libraries link against.  When one is missing, Qt aborts with "From 6.5.0, xcb-cursor0 or
libxcb-cursor0 is needed to load the Qt xcb platform plugin" whichever library it was: on a
fresh Debian box the missing ones were others.  This module finds the ones really missing and
prints the exact install commands:

    python -m embedview.sysdeps          # exit 0: all there; 1: the install commands were printed

``make run`` runs it before the app; :func:`embedview.gui.app.main` runs :func:`gui_problem` before
it creates the window (when the xcb plugin cannot be loaded) instead of letting Qt abort.

How: ``ldd`` on the xcb plugin and the Qt libraries in the PySide6 wheel lists every library the
loader cannot find, through the whole dependency tree; the table below (``ldd`` / ``readelf -d``
on PySide6 6.11's ``plugins/platforms/libqxcb.so``, ``libQt6{Core,Gui,Widgets,Svg,DBus}.so.6``)
is checked too, through the loader's cache (``ldconfig -p``) and, for a name not found there,
``dlopen`` (libraries on ``LD_LIBRARY_PATH``).  Plain standard library: no Qt, no numpy.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: soname -> (Debian / Ubuntu package, Fedora package): what Qt's GUI libraries link against
CORE_LIBRARIES: dict[str, tuple[str, str]] = {
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libz.so.1": ("zlib1g", "zlib"),
    "libzstd.so.1": ("libzstd1", "libzstd"),
}
#: ... and what the xcb platform plugin (``plugins/platforms/libqxcb.so``) adds
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb"),  # the GLX integration plugin
}
#: every library this module knows a package for
LIBRARIES: dict[str, tuple[str, str]] = {**CORE_LIBRARIES, **XCB_LIBRARIES}
#: no font at all: Qt draws no text; one small font family fixes it
FONT_PACKAGES = ("fonts-dejavu-core", "dejavu-sans-fonts")
FONT_FOLDERS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".pfb", ".pcf", ".pcf.gz", ".otb")

#: Qt libraries of the wheel whose dependencies are checked (relative to ``PySide6/Qt``)
QT_FILES = ("lib/libQt6Core.so.6", "lib/libQt6Gui.so.6", "lib/libQt6Widgets.so.6", "lib/libQt6Svg.so.6",
            "lib/libQt6DBus.so.6")
XCB_PLUGIN = "plugins/platforms/libqxcb.so"


# -- what is missing --------------------------------------------------------------------------------
def qt_folder() -> Path | None:
    """``.../site-packages/PySide6/Qt`` of the installed wheel, found without importing PySide6."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "Qt"
        if folder.is_dir():
            return folder
    return None


def qt_platform(env: Mapping[str, str] | None = None) -> str:
    """The platform plugin Qt will try first: ``QT_QPA_PLATFORM``, else ``wayland`` in a Wayland
    session that is not GNOME's (Qt 6 uses xcb through XWayland on GNOME), else ``xcb``."""
    env = os.environ if env is None else env
    chosen = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen
    if env.get("XDG_SESSION_TYPE", "").lower() == "wayland":
        desktops = (env.get("XDG_CURRENT_DESKTOP", "") + env.get("XDG_SESSION_DESKTOP", "")).lower()
        if "gnome" not in desktops:
            return "wayland"
    return "xcb"


def ldd_missing(files: Iterable[Path], run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> set[str]:
    """The libraries ``ldd`` reports as ``not found`` for ``files`` (their whole dependency tree)."""
    if shutil.which("ldd") is None:
        return set()
    missing: set[str] = set()
    for path in files:
        if not Path(path).is_file():
            continue
        try:
            out = run(["ldd", str(path)], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        missing.update(re.findall(r"^\s*(\S+)\s*=>\s*not found", out, flags=re.MULTILINE))
    return missing


_LDCONFIG_CACHE: set[str] | None = None


def _ldconfig_names() -> set[str]:
    """The library names in the loader's cache (``ldconfig -p``); empty when it cannot be read."""
    global _LDCONFIG_CACHE
    if _LDCONFIG_CACHE is None:
        names: set[str] = set()
        tool = shutil.which("ldconfig") or next((p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig")
                                                 if os.path.exists(p)), None)
        if tool is not None:
            try:
                out = subprocess.run([tool, "-p"], capture_output=True, text=True, timeout=20).stdout
                names = set(re.findall(r"^\s*(\S+)\s+\(", out, flags=re.MULTILINE))
            except (OSError, subprocess.SubprocessError):
                pass
        _LDCONFIG_CACHE = names
    return _LDCONFIG_CACHE


def library_found(soname: str) -> bool:
    """``soname`` is in the loader's cache, or ``dlopen`` finds it (``LD_LIBRARY_PATH`` and co.)."""
    if soname in _ldconfig_names():
        return True
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def fonts_found(folders: Iterable[str] = FONT_FOLDERS) -> bool:
    """Any font file in the usual font folders."""
    for folder in folders:
        for _root, _dirs, files in os.walk(os.path.expanduser(folder)):
            if any(name.lower().endswith(FONT_SUFFIXES) for name in files):
                return True
    return False


@dataclass
class Report:
    """What the app lacks on this system, and how to install it."""

    platform: str
    missing: list[str] = field(default_factory=list)  # sonames the app needs and the loader cannot find
    optional: list[str] = field(default_factory=list)  # missing, but not for this platform (the xcb fallback)
    no_fonts: bool = False

    @property
    def ok(self) -> bool:
        return not self.missing and not self.no_fonts

    def packages(self, which: int, names: Iterable[str] | None = None, fonts: bool | None = None) -> list[str]:
        """Packages to install (``which`` 0: Debian / Ubuntu, 1: Fedora), in a stable order."""
        names = self.missing if names is None else names
        fonts = self.no_fonts if fonts is None else fonts
        found = [LIBRARIES[s][which] for s in names if s in LIBRARIES]
        if fonts:
            found.append(FONT_PACKAGES[which])
        return list(dict.fromkeys(found))

    def unknown(self, names: Iterable[str] | None = None) -> list[str]:
        """Missing libraries this module knows no package for (a newer Qt may need new ones)."""
        return [s for s in (self.missing if names is None else names) if s not in LIBRARIES]

    def commands(self, names: Iterable[str] | None = None, fonts: bool | None = None) -> dict[str, str]:
        """``{"apt": "sudo apt-get install ...", "dnf": "sudo dnf install ..."}`` (empty: nothing to install)."""
        names = list(self.missing if names is None else names)
        sudo = "sudo " if hasattr(os, "geteuid") and os.geteuid() != 0 else ""
        out = {}
        for key, which, tool in (("apt", 0, "apt-get install"), ("dnf", 1, "dnf install")):
            packages = self.packages(which, names, fonts)
            if packages:
                out[key] = f"{sudo}{tool} {' '.join(packages)}"
        return out

    def message(self) -> str:
        """What to tell the user (several lines), or "" when nothing is missing."""
        lines: list[str] = []
        if not self.ok:
            what = ", ".join(self.missing) if self.missing else ""
            if self.no_fonts:
                what = (what + ", " if what else "") + "any font"
            lines.append(f"embedview's window (Qt, platform {self.platform}) needs system libraries that are "
                         f"missing here: {what}.")
            lines += _install_lines(self.commands())
            for name in self.unknown():
                lines.append(f"  (no package known for {name}: look for it with `apt-file search {name}` "
                             f"or `dnf provides '*/{name}'`)")
        if self.optional:
            fallback = self.commands(self.optional, fonts=False)
            lines.append(f"The X11 (xcb) fallback would also need {', '.join(self.optional)}:")
            lines += _install_lines(fallback)
        if lines and not self.ok:
            lines.append("The command line works without them: `embedview demo --headless`, `embedview check ...`.")
        return "\n".join(lines)


def _install_lines(commands: Mapping[str, str]) -> list[str]:
    labels = {"apt": "Debian / Ubuntu", "dnf": "Fedora / RHEL"}
    first = _distribution_family()
    order = sorted(commands, key=lambda key: key != first)
    return [f"  {labels[key] + ':':17} {commands[key]}" for key in order]


def _distribution_family(os_release: str = "/etc/os-release") -> str:
    """``apt`` or ``dnf`` from ``/etc/os-release`` (``apt`` when unknown)."""
    try:
        text = Path(os_release).read_text(encoding="utf-8", errors="replace").lower()
    except OSError:
        return "apt"
    ids = " ".join(re.findall(r"^(?:id|id_like)=\"?([^\"\n]*)", text, flags=re.MULTILINE))
    return "dnf" if any(word in ids.split() for word in ("fedora", "rhel", "centos")) else "apt"


def check(env: Mapping[str, str] | None = None, qt: Path | None = None,
          found: Callable[[str], bool] = library_found,
          ldd: Callable[[Iterable[Path]], set[str]] = ldd_missing,
          fonts: Callable[[], bool] = fonts_found) -> Report:
    """What the desktop app lacks on this system (nothing outside Linux: the wheels bring it all)."""
    platform = qt_platform(env)
    report = Report(platform)
    if not sys.platform.startswith("linux"):
        return report
    qt = qt_folder() if qt is None else qt
    needs_xcb = platform == "xcb"
    files = [qt / name for name in QT_FILES] if qt is not None else []
    xcb_files = [qt / XCB_PLUGIN] if qt is not None else []
    core_missing = set(ldd(files)) | {s for s in CORE_LIBRARIES if not found(s)}
    xcb_missing = (set(ldd(xcb_files)) | {s for s in XCB_LIBRARIES if not found(s)}) - core_missing
    if platform in ("offscreen", "minimal", "vnc"):  # no display server: the xcb side is irrelevant
        xcb_missing = set()
    order = list(LIBRARIES)

    def ordered(names: set[str]) -> list[str]:
        return sorted(names, key=lambda s: (order.index(s) if s in order else len(order), s))

    report.missing = ordered(core_missing | (xcb_missing if needs_xcb else set()))
    report.optional = [] if needs_xcb else ordered(xcb_missing)
    report.no_fonts = platform not in ("offscreen", "minimal") and not fonts()
    return report


def xcb_plugin_loads(qt: Path | None = None) -> bool:
    """Quick test at the app's start: ``dlopen`` of the xcb plugin succeeds (every library it needs
    is found).  True when there is nothing to test (no wheel found, not Linux)."""
    if not sys.platform.startswith("linux"):
        return True
    qt = qt_folder() if qt is None else qt
    plugin = None if qt is None else qt / XCB_PLUGIN
    if plugin is None or not plugin.is_file():
        return True
    try:
        ctypes.CDLL(str(plugin))
    except OSError:
        return False
    return True


def gui_problem(env: Mapping[str, str] | None = None) -> str:
    """At the app's start: "" when the window can start, else the message with the install commands.

    Only the cheap ``dlopen`` of the xcb plugin runs when all is well; the full check runs only
    when that fails (then Qt would abort with its one-line message naming xcb-cursor0)."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux") or qt_platform(env) != "xcb" or xcb_plugin_loads():
        return ""
    report = check(env)
    if report.missing:
        return report.message()
    # the plugin does not load but no library is missing: let Qt say why
    return ""


def main(argv: list[str] | None = None) -> int:
    """``python -m embedview.sysdeps``: 0 when the window's system libraries are all there, else 1."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m embedview.sysdeps",
                                     description="check the system libraries embedview's window needs (Linux)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing when everything is there")
    args = parser.parse_args(argv)
    report = check()
    text = report.message()
    if not report.ok:
        print(text, file=sys.stderr)
        return 1
    if text:
        print(text, file=sys.stderr)
    if not args.quiet:
        print(f"embedview: the system libraries for Qt's {report.platform} platform are all there.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
