"""File -> Export HTML report: the save dialog's "Leave out local paths (file names only)" box
writes the report of ``embedview report --no-paths`` (``include_paths=False``), and is remembered."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QCheckBox

from embedview.core.loaders import load_paths
from embedview.gui import report_dialog
from embedview.gui.report_dialog import NO_PATHS_KEY, NO_PATHS_TEXT, ReportFileDialog


def _private_data(tmp_path):
    folder = tmp_path / "private folder" / "project x"
    folder.mkdir(parents=True)
    from sklearn.datasets import load_digits

    d = load_digits()
    np.save(folder / "digit vectors.npy", d.data[:150].astype(np.float32))
    (folder / "more vectors.npy").write_bytes(b"\x93NUMPY broken")  # a problem the report names
    ds = load_paths([folder / "digit vectors.npy", folder / "more vectors.npy"])
    assert ds.problems and ds.problems[0].path.startswith(str(folder))
    return ds, str(tmp_path / "private folder")


def _answer(target, tick: bool | None, seen: list):
    """Fill in the report's save dialog once it is open: the file name, the box, then Save."""

    def fill():
        dialog = next((w for w in QApplication.topLevelWidgets() if isinstance(w, ReportFileDialog) and w.isVisible()),
                      None)
        if dialog is None:
            QTimer.singleShot(20, fill)
            return
        box = dialog.findChild(QCheckBox, "no_paths")
        seen.append((box.text(), box.isChecked(), box.isVisible()))
        if tick is not None:
            box.setChecked(tick)
        dialog.selectFile(str(target))
        dialog.accept()

    QTimer.singleShot(0, fill)


def test_leave_out_local_paths_box_writes_a_report_without_them(window, qtbot, tmp_path):
    ds, private = _private_data(tmp_path)
    window.data.show_dataset(ds, [ds.sources[0]])
    qtbot.waitUntil(lambda: window.model.emb is not None, timeout=10000)
    assert private in ds.sources[0]

    seen: list = []
    shared = tmp_path / "shared.html"
    _answer(shared, True, seen)
    window.actions_by_key["export_report"].trigger()
    qtbot.waitUntil(lambda: shared.exists() and "report" in window.last_message, timeout=120_000)
    assert seen == [(NO_PATHS_TEXT, False, True)]  # shown, unticked the first time
    text = shared.read_text(encoding="utf-8")
    assert "more vectors.npy" in text and private not in text and "private folder" not in text
    assert "no local paths" in window.last_message
    assert window.settings.value(NO_PATHS_KEY, False, type=bool) is True

    full = tmp_path / "full.html"  # the choice is remembered; unticked, the paths are there
    _answer(full, False, seen)
    window.actions_by_key["export_report"].trigger()
    qtbot.waitUntil(lambda: full.exists() and not window.runner.is_running(report_dialog.JobKind.REPORT),
                    timeout=120_000)
    assert seen[1] == (NO_PATHS_TEXT, True, True)
    assert private in full.read_text(encoding="utf-8")
    assert window.settings.value(NO_PATHS_KEY, True, type=bool) is False


def test_cancelled_dialog_writes_nothing(window, qtbot, tmp_path, monkeypatch):
    ds, _ = _private_data(tmp_path)
    window.data.show_dataset(ds, [ds.sources[0]])
    qtbot.waitUntil(lambda: window.model.emb is not None, timeout=10000)
    monkeypatch.setattr(report_dialog, "ask_report_target", lambda *a, **k: None)
    window.actions_by_key["export_report"].trigger()
    assert not window.runner.is_running(report_dialog.JobKind.REPORT)
    assert not list(tmp_path.glob("*.html"))


def test_list_export_adds_the_suffix_of_the_chosen_filter(qtbot, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from embedview.gui.dialogs import ask_list_export

    answers = iter([("/tmp/out", "JSON (*.json)"), ("/tmp/out", "CSV (*.csv)"), ("/tmp/x.CSV", "JSON (*.json)"),
                    ("", "")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: next(answers)))
    assert ask_list_export(None, "t", "d.csv") == "/tmp/out.json"
    assert ask_list_export(None, "t", "d.csv") == "/tmp/out.csv"
    assert ask_list_export(None, "t", "d.csv") == "/tmp/x.CSV"  # typed suffix kept
    assert ask_list_export(None, "t", "d.csv") is None  # cancelled
