"""Persistent user settings (QSettings, INI format): window layout, recent files, encoder choice,
theme, and a generic ``value`` / ``set_value`` API any view can use for its own thresholds.

Everything lives under one organisation / application name so ``QSettings`` finds the same
file from every part of the app.  The INI format is used on every platform (readable, easy to
delete); tests point it at a temporary folder with ``QSettings.setPath``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "embedview"
APPLICATION = "embedview"
MAX_RECENT = 10
MAX_USED_ENCODERS = 50
THEMES = ("system", "light", "dark")


class Settings:
    """Thin typed wrapper over :class:`QSettings`.

    Parameters
    ----------
    qsettings : QSettings, optional
        Use this store instead of the user's INI file (tests, a second profile).
    """

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self._s = qsettings or QSettings(QSettings.IniFormat, QSettings.UserScope, ORGANIZATION, APPLICATION)

    @property
    def qsettings(self) -> QSettings:
        return self._s

    # -- generic ------------------------------------------------------------------------------
    def value(self, key: str, default: Any = None, type: type | None = None) -> Any:  # noqa: A002 - QSettings' name
        """The stored value of ``key`` converted to ``type`` (``bool``, ``int``, ``float``, ``str``),
        or ``default`` when unset or not convertible."""
        raw = self._s.value(key, None)
        if raw is None:
            return default
        if type is None:
            return raw
        try:
            if type is bool:
                if isinstance(raw, str):
                    return raw.strip().lower() in ("1", "true", "yes", "on")
                return bool(raw)
            return type(raw)
        except (TypeError, ValueError):
            return default

    def set_value(self, key: str, value: Any) -> None:
        self._s.setValue(key, value)

    def remove(self, key: str) -> None:
        self._s.remove(key)

    def sync(self) -> None:
        self._s.sync()

    # -- window -------------------------------------------------------------------------------
    def save_window(self, geometry: QByteArray, state: QByteArray | None = None,
                    docks: Sequence[str] = ()) -> None:
        """The window's geometry and, when given, its dock layout with the names of the docks in it
        (a window closed before its docks exist keeps the layout saved before)."""
        self._s.setValue("window/geometry", geometry)
        if state is not None:
            self._s.setValue("window/state", state)
            self._s.setValue("window/docks", json.dumps(sorted(docks)))

    def window_geometry(self) -> QByteArray | None:
        return _bytes(self._s.value("window/geometry"))

    def window_state(self, docks: Sequence[str]) -> QByteArray | None:
        """The saved dock layout, only if it was saved with exactly these docks: a layout from
        another set of views (an older version, a window closed early) would hide some."""
        try:
            saved_docks = json.loads(self.value("window/docks", "null", str))
        except ValueError:
            return None
        if saved_docks != sorted(docks):
            return None
        return _bytes(self._s.value("window/state"))

    # -- encoder per modality -----------------------------------------------------------------------
    def last_encoder(self, modality: str) -> str:
        return self.value(f"encoder/{modality}", "", str)

    def set_last_encoder(self, modality: str, name: str) -> None:
        self.set_value(f"encoder/{modality}", name)
        self.add_used_encoders([name])

    # -- encoders the user has used (a session loads these without asking) -------------------------
    def used_encoders(self) -> list[str]:
        """Most recent first; an ``actions.session.EncoderHistory``."""
        try:
            items = json.loads(self.value("encoder/used", "[]", str))
        except ValueError:
            return []
        if not isinstance(items, list):
            return []
        return [str(n) for n in items if isinstance(n, str) and n][:MAX_USED_ENCODERS]

    def add_used_encoders(self, names: Sequence[str]) -> list[str]:
        new = [str(n) for n in names if n]
        if not new:
            return self.used_encoders()
        items = list(dict.fromkeys(new + self.used_encoders()))[:MAX_USED_ENCODERS]
        self.set_value("encoder/used", json.dumps(items))
        return items

    # -- recent files ---------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        """Most recent first; stored as JSON (QSettings turns one-element lists into strings)."""
        try:
            items = json.loads(self.value("recent/files", "[]", str))
        except ValueError:
            return []
        return [str(p) for p in items if isinstance(p, str)][:MAX_RECENT]

    def add_recent(self, path: str) -> list[str]:
        path = os.path.abspath(path)
        items = [path] + [p for p in self.recent_files() if p != path]
        items = items[:MAX_RECENT]
        self.set_value("recent/files", json.dumps(items))
        return items

    def clear_recent(self) -> None:
        self.set_value("recent/files", "[]")

    # -- theme ----------------------------------------------------------------------------------------
    def theme(self) -> str:
        mode = self.value("appearance/theme", "system", str)
        return mode if mode in THEMES else "system"

    def set_theme(self, mode: str) -> None:
        if mode not in THEMES:
            raise ValueError(f"unknown theme {mode!r}; expected one of {THEMES}")
        self.set_value("appearance/theme", mode)


def _bytes(value: Any) -> QByteArray | None:
    if isinstance(value, QByteArray) and not value.isEmpty():
        return value
    if isinstance(value, (bytes, bytearray)) and value:
        return QByteArray(bytes(value))
    return None
