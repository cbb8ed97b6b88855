"""Small dialogs: table columns, encoder chooser, about, keyboard shortcuts."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

import embedview

NO_COLUMN = "(none)"


# -- table columns ----------------------------------------------------------------------------------
class ColumnDialog(QDialog):
    """Ask which column of a CSV / JSONL / Parquet file holds the text (and the label)."""

    def __init__(self, path: str, columns: Sequence[str], text_column: str | None = None,
                 label_column: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose columns")
        intro = QLabel(f"Which column of <b>{_escape(path)}</b> holds the text to embed?")
        intro.setWordWrap(True)
        self.text_combo = QComboBox()
        self.text_combo.addItems([str(c) for c in columns])
        if text_column in columns:
            self.text_combo.setCurrentText(str(text_column))
        self.label_combo = QComboBox()
        self.label_combo.addItems([NO_COLUMN] + [str(c) for c in columns])
        self.label_combo.setCurrentText(str(label_column) if label_column in columns else NO_COLUMN)
        form = QFormLayout()
        form.addRow("Text column", self.text_combo)
        form.addRow("Label column (optional)", self.label_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def columns(self) -> tuple[str, str | None]:
        """(text column, label column or None)."""
        label = self.label_combo.currentText()
        return self.text_combo.currentText(), (None if label == NO_COLUMN else label)


# -- encoder chooser ------------------------------------------------------------------------------------
class EncoderDialog(QDialog):
    """Pick a registered encoder (with its dimension and offline availability) or type any name
    (``clip:ARCH@/path/checkpoint.pt``, ``sbert:/path/to/model``, a plugin name)."""

    def __init__(self, specs: Sequence, availability: dict[str, tuple[bool, str]], current: str = "",
                 modality: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose encoder")
        self.resize(760, 420)
        self.tree = QTreeWidget()
        self.tree.setRootIsDecorated(False)
        self.tree.setHeaderLabels(["Encoder", "Takes", "Dim", "Offline", "Description"])
        self.tree.setSelectionMode(QAbstractItemView.SingleSelection)
        header = self.tree.header()
        for c in range(4):
            header.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.Stretch)
        for spec in specs:
            ok, detail = availability.get(spec.name, (None, "checking\u2026"))
            item = QTreeWidgetItem([
                spec.name,
                spec.modality + (" (+ text queries)" if spec.text_query else ""),
                str(spec.dim or "?"),
                "yes" if ok else ("?" if ok is None else "no"),
                spec.description,
            ])
            item.setToolTip(3, detail)
            item.setToolTip(4, spec.description)
            item.setData(0, Qt.UserRole, spec.name)
            if modality and spec.modality != modality:
                item.setDisabled(True)
                item.setToolTip(0, f"takes {spec.modality}; the data is {modality}")
            self.tree.addTopLevelItem(item)
            if spec.name == current:
                self.tree.setCurrentItem(item)
        self.custom = QLineEdit()
        self.custom.setPlaceholderText(
            "or any name: clip:ViT-B-32@/path/model.pt, sbert:/path/to/model, a plugin\u2026")
        self.tree.currentItemChanged.connect(
            lambda item, _prev: self.custom.setText(item.data(0, Qt.UserRole)) if item is not None else None
        )
        self.tree.itemDoubleClicked.connect(lambda *_: self.accept())
        if self.tree.currentItem() is not None:
            self.custom.setText(current)
        # what the registry knows about the name typed or picked, before anything starts
        self.availability = dict(availability)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.RichText)
        self.custom.textChanged.connect(self._update_note)
        self._update_note(self.custom.text())
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Encode")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.custom)
        layout.addWidget(self.note)
        layout.addWidget(buttons)

    def chosen(self) -> str:
        return self.custom.text().strip()

    def _update_note(self, text: str) -> None:
        """Say at once when the chosen encoder is not on this computer (it then needs the internet)."""
        from embedview.encoders.registry import display_name

        name = text.strip()
        ok, detail = self.availability.get(name, (None, ""))
        if not name or ok is None:
            self.note.setText("")
        elif ok:
            self.note.setText(f"<b>{_escape(display_name(name))}</b> is on this computer ({_escape(detail)}).")
        else:
            self.note.setText(f"<b>{_escape(display_name(name))}</b> is not on this computer: {_escape(detail)}. "
                              "Without an internet connection it cannot be used; embedview says so at once.")


# -- about / shortcuts ----------------------------------------------------------------------------------------
def versions() -> list[tuple[str, str]]:
    """(component, version) of everything worth naming in a bug report.  Never imports torch."""
    rows = [
        ("embedview", embedview.__version__),
        ("Python", f"{platform.python_version()} ({sys.platform})"),
        ("Qt", qVersion()),
        ("PySide6", pyside_version),
    ]
    for dist in ("pyqtgraph", "numpy", "scikit-learn", "umap-learn", "torch", "open_clip_torch",
                 "sentence-transformers"):
        try:
            rows.append((dist, metadata.version(dist)))
        except metadata.PackageNotFoundError:
            rows.append((dist, "not installed"))
    return rows


def about_html() -> str:
    rows = "".join(f"<tr><td>{name}</td><td>&nbsp;&nbsp;{ver}</td></tr>" for name, ver in versions())
    return (
        f"<h3>embedview {embedview.__version__}</h3>"
        "<p>See and test your embeddings: nearest neighbours, maps, duplicates, evaluation and "
        "collapse diagnostics. Everything runs on this computer.</p>"
        f"<table>{rows}</table>"
        "<p>BSD-3-Clause licence.</p>"
    )


class ShortcutsDialog(QDialog):
    """Every action that has a keyboard shortcut, in a table."""

    def __init__(self, shortcuts: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(460, 440)
        tree = QTreeWidget()
        tree.setRootIsDecorated(False)
        tree.setHeaderLabels(["Action", "Shortcut"])
        tree.header().setSectionResizeMode(0, QHeaderView.Stretch)
        tree.header().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        tree.addTopLevelItems([QTreeWidgetItem([name, keys]) for name, keys in shortcuts])
        self.tree = tree
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tree)
        layout.addWidget(buttons)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ask_list_export(parent: QWidget | None, title: str, default_name: str) -> str | None:
    """Ask where to save a list (CSV or JSON): the path with ``.csv`` / ``.json`` added when the
    user typed neither (from the chosen filter), or ``None`` when cancelled.  ``title`` tells the
    user that only a list is written and none of their data files is changed."""
    path, chosen = QFileDialog.getSaveFileName(parent, title, default_name, "CSV (*.csv);;JSON (*.json)")
    if not path:
        return None
    if not path.lower().endswith((".csv", ".json")):
        path += ".json" if "json" in chosen.lower() else ".csv"
    return path
