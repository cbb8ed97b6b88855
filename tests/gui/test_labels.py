"""Status lines never widen the window: a long line is elided, its whole text in the tooltip."""

from __future__ import annotations

from PySide6.QtWidgets import QStatusBar

from embedview.gui.labels import ElidedLabel

LONG = "UMAP map 44 % \u2014 numba compiles UMAP's code: first run only, a minute or two; cached on disk (18 s)"


def test_a_long_status_line_is_elided_and_keeps_the_status_bar_narrow(qtbot):
    bar = QStatusBar()
    label = ElidedLabel("")
    bar.addPermanentWidget(label)
    qtbot.addWidget(bar)
    bar.resize(300, 30)
    bar.show()
    qtbot.waitExposed(bar)
    narrow = bar.minimumSizeHint().width()
    label.setText(LONG)
    qtbot.waitUntil(lambda: label.text() != "")
    assert bar.minimumSizeHint().width() == narrow  # the text does not set the window's minimum width
    assert label.text().endswith("\u2026") and label.text()[:-1] in LONG
    assert label.full_text() == LONG and label.toolTip() == LONG
    shown_narrow = label.text()
    bar.resize(1200, 30)
    qtbot.waitUntil(lambda: len(label.text()) > len(shown_narrow))  # more room: more of the line
    label.setText("UMAP map 44 %")
    qtbot.waitUntil(lambda: label.text() == "UMAP map 44 %")  # a short line is shown whole
