"""Light and dark palettes (Fusion style) and the matching pyqtgraph colours.

``apply_theme(app, mode)`` sets the Qt palette; ``apply_plot_theme(mode, root)`` sets
pyqtgraph's defaults for new plots and restyles the plots already under ``root``.  The latter
imports pyqtgraph, so the window calls it only after its first paint (pyqtgraph costs ~0.7 s).
``mode`` is ``"light"``, ``"dark"`` or ``"system"`` (follow the desktop's colour scheme).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

#: named colours per effective theme, for views that draw their own things
COLORS: dict[str, dict[str, str]] = {
    "light": {
        "window": "#f4f5f7",
        "base": "#ffffff",
        "alternate": "#f0f2f5",
        "text": "#1d2127",
        "muted": "#6b7280",
        "button": "#eceef1",
        "highlight": "#2f6fde",
        "highlight_text": "#ffffff",
        "link": "#1f5fc4",
        "plot_background": "#ffffff",
        "plot_foreground": "#30343a",
        "accent": "#e4572e",
        "error": "#c62828",
    },
    "dark": {
        "window": "#25272b",
        "base": "#1c1d20",
        "alternate": "#23252a",
        "text": "#e3e5e8",
        "muted": "#9aa0a8",
        "button": "#2f3237",
        "highlight": "#3d7be6",
        "highlight_text": "#ffffff",
        "link": "#7aa7f5",
        "plot_background": "#1c1d20",
        "plot_foreground": "#c9ccd1",
        "accent": "#ff8a5c",
        "error": "#ef6461",
    },
}


def effective_mode(mode: str) -> str:
    """``"light"`` or ``"dark"``: ``"system"`` follows the desktop's colour scheme (Qt 6.5+)."""
    if mode in ("light", "dark"):
        return mode
    app = QGuiApplication.instance()
    if app is not None:
        scheme = app.styleHints().colorScheme()
        if scheme == Qt.ColorScheme.Dark:
            return "dark"
    return "light"


def palette_for(mode: str) -> QPalette:
    """The QPalette of an effective mode (``"light"`` / ``"dark"``)."""
    c = {k: QColor(v) for k, v in COLORS[effective_mode(mode)].items()}
    pal = QPalette()
    roles = {
        QPalette.Window: c["window"],
        QPalette.WindowText: c["text"],
        QPalette.Base: c["base"],
        QPalette.AlternateBase: c["alternate"],
        QPalette.ToolTipBase: c["base"],
        QPalette.ToolTipText: c["text"],
        QPalette.PlaceholderText: c["muted"],
        QPalette.Text: c["text"],
        QPalette.Button: c["button"],
        QPalette.ButtonText: c["text"],
        QPalette.BrightText: c["error"],
        QPalette.Highlight: c["highlight"],
        QPalette.HighlightedText: c["highlight_text"],
        QPalette.Link: c["link"],
        QPalette.LinkVisited: c["link"],
    }
    for role, color in roles.items():
        pal.setColor(role, color)
    dim = QColor(c["muted"])
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        pal.setColor(QPalette.Disabled, role, dim)
    pal.setColor(QPalette.Disabled, QPalette.Highlight, QColor(c["muted"]))
    # Fusion draws frames / separators from Mid/Dark/Light: keep them subtle in both themes
    base = c["window"]
    if effective_mode(mode) == "dark":
        pal.setColor(QPalette.Light, base.lighter(135))
        pal.setColor(QPalette.Midlight, base.lighter(120))
        pal.setColor(QPalette.Mid, base.lighter(150))
        pal.setColor(QPalette.Dark, base.darker(140))
        pal.setColor(QPalette.Shadow, QColor("#000000"))
    else:
        pal.setColor(QPalette.Light, QColor("#ffffff"))
        pal.setColor(QPalette.Midlight, base.darker(104))
        pal.setColor(QPalette.Mid, base.darker(125))
        pal.setColor(QPalette.Dark, base.darker(150))
        pal.setColor(QPalette.Shadow, base.darker(220))
    return pal


def apply_theme(app: QApplication, mode: str) -> str:
    """Fusion style plus the palette of ``mode``; returns the effective mode."""
    eff = effective_mode(mode)
    app.setStyle("Fusion")
    app.setPalette(palette_for(eff))
    return eff


def colors(mode: str) -> dict[str, str]:
    """Named colours of ``mode`` (``"system"`` resolved)."""
    return dict(COLORS[effective_mode(mode)])


def plot_colors() -> dict[str, str]:
    """The named colours (:func:`colors`) of the theme in use, read from the application's palette
    (the window sets it before it restyles the plots): ``"dark"`` when its base colour is dark."""
    app = QApplication.instance()
    base = app.palette().color(QPalette.Base) if app is not None else QColor("#ffffff")
    return colors("dark" if base.lightness() < 128 else "light")


def error_html(text: str) -> str:
    """``text`` (escaped) as rich text in the current theme's error colour (the palette's
    BrightText, which ``palette_for`` sets to it): readable on the light and the dark background."""
    import html

    color = QApplication.palette().color(QPalette.BrightText).name()
    return f"<span style='color:{color}'>{html.escape(text)}</span>"


def apply_plot_theme(mode: str, root: QWidget | None = None) -> None:
    """pyqtgraph defaults for new plots, and restyle the plots already under ``root``."""
    import pyqtgraph as pg  # ~0.7 s: only after the window is up

    c = COLORS[effective_mode(mode)]
    pg.setConfigOptions(background=c["plot_background"], foreground=c["plot_foreground"], antialias=True)
    if root is None:
        return
    fg = pg.mkColor(c["plot_foreground"])
    for view in root.findChildren(pg.GraphicsView):
        view.setBackground(c["plot_background"])
        for item in view.items():
            if isinstance(item, pg.AxisItem):
                item.setPen(fg)
                item.setTextPen(fg)
            elif isinstance(item, pg.LabelItem):
                item.setAttr("color", fg)
