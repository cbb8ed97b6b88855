"""The real main window end to end: drop data, encode with the real default encoders, cancel,
keep heavy work off the UI thread, and start without importing torch / umap."""

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from embedview.runtime.keys import JobKind

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SUBJECTS = ["cat", "dog", "harbour", "mountain", "violin", "bicycle", "teapot", "lighthouse", "glacier", "tram"]
VERBS = ["sleeps near", "is painted beside", "waits next to", "is photographed with", "stands behind"]
PLACES = ["an old wooden door", "a red brick wall", "the morning market", "a quiet library", "the river bank",
          "a snowy field", "a busy station", "the garden gate", "a sunlit window", "the night sky",
          "a crowded beach", "an empty stadium", "the village square"]


def _texts(n):
    out = []
    for i in range(n):
        s, v, p = SUBJECTS[i % 10], VERBS[(i // 10) % 5], PLACES[(i // 50) % 13]
        out.append(f"The {s} {v} {p} (note {i}).")
    return out


def _write_texts(path, n):
    path.write_text("\n".join(_texts(n)) + "\n", encoding="utf-8")
    return path


def _image_folder(folder, n=12):
    import skimage.data as data

    folder.mkdir()
    names = ["astronaut", "camera", "cat", "coffee", "rocket", "coins", "moon", "page", "text", "clock",
             "immunohistochemistry", "colorwheel", "horse", "grass"]
    for name in names[:n]:
        arr = getattr(data, name)()
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        im = Image.fromarray(arr).convert("RGB")
        im.thumbnail((160, 160))
        im.save(folder / f"{name}.jpg", quality=90)
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg \x00\x01\x02" * 20)
    return folder


def _drop(window, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, drop)
    assert drop.isAccepted()


@pytest.mark.slow
def test_drop_folder_encodes_shows_items_and_problems(window, qtbot, tmp_path):
    folder = _image_folder(tmp_path / "photos")
    _drop(window, [folder])
    qtbot.waitUntil(lambda: window.model.emb is not None, timeout=240_000)

    emb = window.model.emb
    assert emb.encoder == "default-image" and len(emb) == 12 and emb.dim == 1280
    table = window.views["TableView"]
    assert table.table_model.rowCount() == 12
    rows = table.table_model
    ids = {rows.data(rows.index(r, rows.column_of("id"))) for r in range(12)}
    assert "astronaut.jpg" in ids and "broken.jpg" not in ids

    problems = window.views["ProblemsView"].rows()
    broken = [row for row in problems if row[0] == "broken.jpg"]
    assert broken and broken[0][1], problems  # named, with a reason
    assert [p.path for p in window.model.problems if p.severity == "skipped"] == [str(folder / "broken.jpg")]
    assert "skipped" in window.last_message and "Problems" in window.last_message

    # thumbnails arrive for image rows, decoded off the UI thread
    thumb_col = table.table_model.column_of("thumb")
    table.table_model.data(table.table_model.index(0, thumb_col), Qt.DecorationRole)
    cell = table.table_model.index(0, thumb_col)
    qtbot.waitUntil(lambda: table.table_model.data(cell, Qt.DecorationRole) is not None,
                    timeout=20_000)

    # the shared analyses follow: a PCA map first
    qtbot.waitUntil(lambda: window.model.projection("pca") is not None, timeout=60_000)
    assert window.model.projection("pca")[0].shape == (12, 2)

    # exports, in the runner: the window says when each is written
    window.select_all()
    assert len(window.selection.selected) == 12
    out = tmp_path / "sel.csv"
    written = []
    window.exports.written.connect(lambda kind, path, n: written.append((path, n)))
    window.exports.export_selection(str(out))
    qtbot.waitUntil(lambda: (str(out), 12) in written, timeout=30_000)
    assert window.last_message == f"Wrote 12 rows to {out}"
    lines = out.read_text().splitlines()
    assert lines[0] == "index,id,source,label" and len(lines) == 13
    npy = tmp_path / "emb.npy"
    window.exports.export_embeddings(str(npy))
    qtbot.waitUntil(lambda: f"to {npy}" in window.last_message, timeout=30_000)
    np.testing.assert_allclose(np.load(npy), emb.vectors)
    pq = tmp_path / "emb.parquet"
    window.exports.export_embeddings(str(pq))
    qtbot.waitUntil(lambda: f"to {pq}" in window.last_message, timeout=30_000)
    import pyarrow.parquet as papq

    t = papq.read_table(pq)
    assert t.num_rows == 12 and t.schema.field("embedding").type.list_size == 1280
    window.invert_selection()
    assert len(window.selection.selected) == 0


@pytest.mark.slow
def test_cancel_encoding_leaves_consistent_state_and_reopen_uses_cache(window, qtbot, tmp_path):
    path = _write_texts(tmp_path / "notes.txt", 640)
    window.open_paths([str(path)])
    qtbot.waitUntil(lambda: window.model.dataset is not None, timeout=30_000)
    # cancel once the first batch is in the cache
    qtbot.waitUntil(lambda: window.data.encode_job.state.fraction > 0, timeout=240_000)
    window.cancel_button.click()
    qtbot.waitUntil(lambda: "Encoding cancelled" in window.last_message, timeout=60_000)
    assert window.runner.wait_all(30)
    qtbot.wait(50)

    assert window.model.dataset is not None and len(window.model.dataset) == 640
    assert window.model.emb is None and window.model.sets == {}
    assert window.views["TableView"].table_model.rowCount() == 640
    assert not window.cancel_button.isVisible()
    msg = window.last_message
    done = int(msg.split("\u2014")[1].split("of")[0].replace(",", ""))
    assert 0 < done < 640, msg
    assert window.runner.alive_threads() == []

    window.open_paths([str(path)])
    qtbot.waitUntil(lambda: window.model.emb is not None, timeout=240_000)
    stats = window.model.emb.stats
    assert stats["n_cached"] >= done, (stats, msg)
    assert stats["n_cached"] + stats["n_encoded"] == 640


def test_encoding_and_every_analysis_run_off_the_ui_thread_and_umap_in_a_child(window, qtbot, tmp_path, monkeypatch):
    """What keeps the window responsive, checked by where the work runs: encoding runs in the
    encoder process (asked from a worker thread), PCA, outlier scores and duplicate search each
    run in a worker thread, never on the UI thread, and UMAP (numba holds the GIL while it
    compiles) runs in a child process, so UMAP's ``fit`` is never called in this process at all.
    A timer measures the event-loop stalls meanwhile; the absolute goal (worst gap < 100 ms) is
    measured by ``benchmarks/bench_ui_stall.py``."""
    import threading

    import embedview.runtime.isolated as isolated
    from embedview.core.duplicates import DuplicateFinder
    from embedview.core.evaluation import OutlierScores
    from embedview.core.projection import Projection
    from embedview.runtime.encoder_host import EncoderHost

    calls = []

    def spy(owner, attr, label):
        original = getattr(owner, attr)

        def wrapper(*args, **kwargs):
            name = label(args) if callable(label) else label
            calls.append((name, threading.current_thread() is threading.main_thread()))
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, attr, wrapper)

    spy(EncoderHost, "call", lambda args: f"encoder process: {args[1].__name__}")
    spy(isolated, "run_isolated", "child process")
    spy(Projection, "fit", lambda args: f"projection {args[0].method}")
    spy(OutlierScores, "fit", "outliers")
    spy(DuplicateFinder, "fit", "duplicates")

    # the event loop's own view: a 10 ms timer must keep ticking all through the jobs.  Only a
    # gross block fails this (a job run on the UI thread stalls it for most of the run); the
    # 100 ms goal is the benchmark's, which a loaded CI box must not be asked to meet
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    path = _write_texts(tmp_path / "short.txt", 200)
    window.open_paths([str(path)])
    qtbot.waitUntil(lambda: window.model.emb is not None and len(window.model.emb) == 200, timeout=240_000)
    qtbot.waitUntil(lambda: window.model.projection("umap") is not None, timeout=300_000)
    qtbot.waitUntil(lambda: window.model.get_analysis("duplicates") is not None, timeout=60_000)
    timer.stop()
    assert window.model.projection("umap")[0].shape == (200, 2)
    gaps = np.diff(np.asarray(ticks))
    span = ticks[-1] - ticks[0]
    print(f"\nevent loop: {len(ticks)} ticks over {span:.1f} s, worst gap {gaps.max() * 1000:.0f} ms, "
          f"99th percentile {np.percentile(gaps, 99) * 1000:.0f} ms")
    assert gaps.max() < 0.25 * span, f"the UI thread stalled {gaps.max():.1f} s of a {span:.1f} s run"
    assert window.model.get_analysis("outliers") is not None

    names = {name for name, _ in calls}
    assert {"encoder process: embed", "child process", "projection pca", "outliers", "duplicates"} <= names, calls
    assert "projection umap" not in names, "UMAP ran in the window's process"
    on_ui_thread = [name for name, on_main in calls if on_main]
    assert on_ui_thread == [], f"ran on the UI thread: {on_ui_thread}"


def test_window_is_visible_before_torch_and_umap(tmp_path):
    script = textwrap.dedent(
        """
        import json, sys, time
        t0 = time.perf_counter()
        from PySide6.QtCore import QTimer
        from embedview.gui.app import create
        heavy = ("torch", "open_clip", "umap", "pyqtgraph")
        app, window = create()

        def shown():
            print(json.dumps({"event": "shown", "t": time.perf_counter() - t0,
                              "modules": [m for m in heavy if m in sys.modules]}), flush=True)

        def ready():
            print(json.dumps({"event": "docks", "t": time.perf_counter() - t0,
                              "modules": [m for m in heavy if m in sys.modules]}), flush=True)
            QTimer.singleShot(0, window.close)

        window.first_paint.connect(shown)
        window.docks_ready.connect(ready)
        sys.exit(app.exec())
        """
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               EMBEDVIEW_CACHE_DIR=str(tmp_path / "cache"))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    events = {e["event"]: e for e in (json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{"))}
    shown, docks = events["shown"], events["docks"]
    print(f"\nwindow painted {shown['t']:.2f} s after the script started ({time.perf_counter() - start:.2f} s wall "
          f"for the whole run); docks ready at {docks['t']:.2f} s")
    assert shown["modules"] == [], f"imported before the window was shown: {shown['modules']}"
    assert not {"torch", "open_clip", "umap"} & set(docks["modules"]), docks


def test_the_window_process_never_imports_torch_even_while_encoding_and_searching(tmp_path):
    """Encoders run in the encoder process: after encoding a text file and a search by meaning,
    the window's own process has imported neither torch nor transformers."""
    texts = _write_texts(tmp_path / "notes.txt", 40)
    script = textwrap.dedent(
        """
        import json, sys
        from PySide6.QtCore import QTimer
        from embedview.gui.app import create
        heavy = ("torch", "transformers", "sentence_transformers", "open_clip", "timm", "onnxruntime")
        app, window = create([sys.argv[1]])
        state = {"searched": False}

        def poll():
            emb = window.model.emb
            if emb is not None and not state["searched"]:
                state["searched"] = True
                window.runner.submit(JobKind.SEARCH, semantic_search, emb, "a cat near a door", 3,
                                     on_result=done, on_error=lambda m: print("ERROR", m, flush=True))

        def done(result):
            idx, scores = result
            print(json.dumps({"n": len(window.model.emb), "first": window.model.dataset.texts[int(idx[0])],
                              "modules": [m for m in heavy if m in sys.modules]}), flush=True)
            timer.stop()
            QTimer.singleShot(0, window.close)

        from embedview.gui.views.search import semantic_search
        from embedview.runtime.keys import JobKind
        timer = QTimer()
        timer.timeout.connect(poll)
        timer.start(100)
        sys.exit(app.exec())
        """
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               EMBEDVIEW_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", script, str(texts)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    got = lines[-1]
    assert got["n"] == 40
    assert "cat" in got["first"] and "door" in got["first"], got
    assert got["modules"] == [], f"the window's process imported {got['modules']}"


def test_job_errors_reach_the_window_not_a_crash(window, qtbot, tmp_path):
    missing = tmp_path / "nope.txt"
    window.open_paths([str(missing)])
    qtbot.waitUntil(lambda: any(getattr(p, "severity", "") == "error" for p in window.model.problems), timeout=10_000)
    assert "nope.txt" in window.last_message or "nothing" in window.last_message.lower()
    rows = window.views["ProblemsView"].rows()
    assert any(r[2] == "error" for r in rows)
    assert window._error_box is not None and window._error_box.isVisible() and not window._error_box.isModal()

    def boom(progress=None):
        raise RuntimeError("the disk caught fire")

    window.runner.submit(JobKind.REPORT, boom)
    qtbot.waitUntil(lambda: "the disk caught fire" in window.last_message, timeout=10_000)
    assert window.isVisible()


def test_menus_shortcuts_theme_and_recent(window, qtbot, tmp_path):
    shortcuts = dict(window.shortcuts())
    for name in ("Open files", "Open folder", "Select all", "Clear selection", "Export selection", "Find", "Quit",
                 "Keyboard shortcuts"):
        assert name in shortcuts, shortcuts
    from embedview.gui.dialogs import versions

    torch_loaded = "torch" in sys.modules  # earlier tests in this process may have loaded it
    names = dict(versions())
    assert "torch" in names and "PySide6" in names
    assert ("torch" in sys.modules) == torch_loaded  # read from package metadata, never imported
    # every view's dock can be toggled from the View menu
    view_texts = [a.text() for a in window.view_menu.actions()]
    for dock in window.docks.values():
        assert dock.windowTitle() in view_texts
    from embedview.gui import theme

    window.set_theme("dark")
    qtbot.wait(20)
    dark_bg = window.palette().color(window.backgroundRole()).lightness()
    assert theme.colors("dark")["error"] in theme.error_html("x")  # error text readable on dark
    window.set_theme("light")
    qtbot.wait(20)
    light_bg = window.palette().color(window.backgroundRole()).lightness()
    assert dark_bg < 80 < light_bg
    assert theme.error_html("a < b") == f"<span style='color:{theme.colors('light')['error']}'>a &lt; b</span>"
    assert window.settings.theme() == "light"

    texts = _write_texts(tmp_path / "few.txt", 5)
    window.settings.add_recent(str(texts))
    window._fill_recent_menu()
    assert str(texts) in [a.text() for a in window.recent_menu.actions()]


def test_isolated_jobs_report_child_errors_and_die_on_cancel(tmp_path, monkeypatch):
    import multiprocessing
    import signal
    import threading
    from multiprocessing.context import SpawnProcess

    from embedview.actions.analysis import umap_from_file
    from embedview.core.progress import Cancelled, TaskState
    from embedview.runtime.isolated import run_isolated, save_array

    started = []
    original_start = SpawnProcess.start

    def recording_start(self):
        started.append(self)
        return original_start(self)

    monkeypatch.setattr(SpawnProcess, "start", recording_start)

    missing = tmp_path / "gone.npy"
    with pytest.raises(RuntimeError, match="gone.npy"):
        run_isolated(umap_from_file, str(missing), 15)

    path = save_array(np.random.default_rng(0).normal(size=(3000, 16)).astype(np.float32))
    try:
        task = TaskState()
        threading.Timer(1.0, task.cancel).start()
        with pytest.raises(Cancelled):
            run_isolated(umap_from_file, path, 15, progress=task)
    finally:
        os.unlink(path)
    # killed mid-run (terminated by a signal), not waited for until UMAP ended
    assert started[-1].exitcode == -signal.SIGTERM, started[-1].exitcode
    # nothing left but the long-lived encoder process (gui.encoder_host)
    assert [p.name for p in multiprocessing.active_children() if p.name != "embedview-encoders"] == []


def test_precomputed_embeddings_skip_encoding(window, qtbot, tmp_path):
    vectors = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    path = tmp_path / "vectors.npy"
    np.save(path, vectors)
    window.open_paths([str(path)])
    qtbot.waitUntil(lambda: window.model.emb is not None, timeout=20_000)
    assert window.model.emb.encoder == "precomputed"
    np.testing.assert_array_equal(window.model.emb.vectors, vectors)
    assert window.data.encoder == "precomputed" and not window.runner.is_running(JobKind.ENCODE)
    assert not window.encoder_combo.isEnabled()  # nothing to choose: painted as such
    qtbot.waitUntil(lambda: window.model.projection("pca") is not None, timeout=60_000)
    assert window.plot_view() is window.main_view
    out = tmp_path / "map.png"
    window.main_view.export_plot(str(out))
    assert out.stat().st_size > 1000


def test_layout_encoder_choice_and_theme_survive_a_restart(qtbot, tmp_path):
    from embedview.gui.main_window import MainWindow

    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.build_docks()
    qtbot.waitUntil(lambda: "offline" in first.encoder_combo.currentText(), timeout=30_000)
    assert first.data.encoder_for("image") == "default-image"
    first.docks["ProblemsView"].raise_()
    first.docks["HeatmapView"].setFloating(True)
    first.set_theme("dark")
    first.settings.set_last_encoder("text", "sbert:/models/my-sentence-model")
    first.close()
    assert first.runner.alive_threads() == []

    second = MainWindow()
    qtbot.addWidget(second)
    second.show()
    second.build_docks()
    try:
        assert second.docks["HeatmapView"].isFloating()
        assert second.settings.theme() == "dark" and second.theme_actions["dark"].isChecked()
        assert second.data.encoder_for("text") == "sbert:/models/my-sentence-model"
        assert second.data.encoder_for("image") == "default-image"
    finally:
        second.set_theme("light")
        assert second.shutdown(30)


def test_a_layout_saved_without_these_docks_is_never_restored(qtbot):
    """A window closed before its docks exist saves no layout, and a layout saved with other
    docks (an older version) is ignored: restoring either would hide views and squeeze the map."""
    from embedview.gui.main_window import MainWindow
    from embedview.gui.settings import Settings

    early = MainWindow()
    qtbot.addWidget(early)
    early.show()
    early.close()  # before build_docks
    settings = Settings()
    assert settings.value("window/state") is None and settings.window_geometry() is not None

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.build_docks()
    names = list(win.docks)
    settings.save_window(win.saveGeometry(), early.saveState(), names[:-1])
    assert settings.window_state(names) is None
    win.close()  # with its docks: saved, and restored next time
    assert Settings().window_state(names) is not None
