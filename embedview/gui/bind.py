"""Two-way bindings between widgets and the fields of a view's state object.

``bind(widget, state, "field")`` makes the widget show ``state.field`` and every user edit write
it; a change of the field from anywhere else (a session, a test, another widget) updates the
widget without echoing back.  The state object is the single source of truth: a view reads
``state.field``, never the widget.

Supported widgets: QComboBox (the item whose data — else text — equals the value), QSpinBox,
QDoubleSpinBox, QSlider (ints; ``scale`` maps floats), QCheckBox / checkable QAbstractButton,
QLineEdit (on editing finished).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QSignalBlocker
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QSlider,
    QSpinBox,
    QWidget,
)


def combo_value(combo: QComboBox, index: int | None = None) -> Any:
    index = combo.currentIndex() if index is None else index
    data = combo.itemData(index)
    return combo.itemText(index) if data is None else data


def set_combo_value(combo: QComboBox, value: Any) -> bool:
    """Select the item whose data (else text) equals ``value``; False when none does."""
    for i in range(combo.count()):
        if combo_value(combo, i) == value:
            if combo.currentIndex() != i:
                combo.setCurrentIndex(i)
            return True
    return False


def show_value(widget: QWidget, value: Any, scale: float = 1.0) -> None:
    """Put ``value`` in ``widget`` without emitting the widget's own change signals."""
    with QSignalBlocker(widget):
        if isinstance(widget, QComboBox):
            set_combo_value(widget, value)
        elif isinstance(widget, QDoubleSpinBox):
            widget.setValue(float(value))
        elif isinstance(widget, (QSpinBox, QSlider)):
            widget.setValue(int(round(float(value) * scale)))
        elif isinstance(widget, QAbstractButton):
            widget.setChecked(bool(value))
        elif isinstance(widget, QLineEdit):
            if widget.text() != str(value):
                widget.setText(str(value))
        else:
            raise TypeError(f"cannot bind a {type(widget).__name__}")


def bind(widget: QWidget, state: Any, field: str, scale: float = 1.0,
         on_change: Callable[[Any], None] | None = None) -> None:
    """Bind ``widget`` to ``state.<field>`` both ways (see the module doc).  ``on_change(value)``
    runs after the field changed by any route (the view's reaction, e.g. start a job)."""

    def write(value: Any) -> None:
        if getattr(state, field) != value:
            setattr(state, field, value)

    if isinstance(widget, QComboBox):
        widget.currentIndexChanged.connect(lambda i: write(combo_value(widget, i)) if i >= 0 else None)
    elif isinstance(widget, QDoubleSpinBox):
        widget.valueChanged.connect(lambda v: write(float(v)))
    elif isinstance(widget, (QSpinBox, QSlider)):
        widget.valueChanged.connect(lambda v: write(int(v) if scale == 1.0 else v / scale))
    elif isinstance(widget, QAbstractButton):
        widget.toggled.connect(lambda on: write(bool(on)))
    elif isinstance(widget, QLineEdit):
        widget.editingFinished.connect(lambda: write(widget.text()))
    else:
        raise TypeError(f"cannot bind a {type(widget).__name__}")

    signal = getattr(state.events, field)

    def follow(value: Any) -> None:
        if _alive(widget):
            show_value(widget, value, scale)
            if on_change is not None:
                on_change(value)

    signal.connect(follow)
    widget.destroyed.connect(lambda *_: signal.disconnect(follow))
    current = getattr(state, field)
    if current is not None:
        show_value(widget, current, scale)


def _alive(obj: QObject) -> bool:
    try:
        obj.objectName()
    except RuntimeError:  # the C++ object is gone
        return False
    return True
