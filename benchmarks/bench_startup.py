"""Start-up: time until the embedview window has painted, against a bare QMainWindow.

Each run is a fresh process (``python -c ...``), timed from just before the process is started
until it reports its first paint, so interpreter start, imports and window creation all count.
Both are started alternately, ``--runs`` each (``_common.compare``: every run, the medians, the
median ratio, the load average); also printed: which heavy modules were imported by then
(torch / open_clip / umap must not be; pyqtgraph should not be).

    .venv/bin/python benchmarks/bench_startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import ROOT, add_runs_arg, compare, machine_line

HEAVY = ("torch", "open_clip", "umap", "pyqtgraph", "sklearn")

EMBEDVIEW = f"""
import json, sys, time
t0 = time.perf_counter()
from PySide6.QtCore import QTimer
from embedview.gui.app import create
app, window = create()

def shown():
    loaded = [m for m in {HEAVY!r} if m in sys.modules]
    print(json.dumps({{"inner": time.perf_counter() - t0, "modules": loaded}}), flush=True)
    QTimer.singleShot(0, app.quit)

window.first_paint.connect(shown)
app.exec()
"""

BARE = """
import json, sys, time
t0 = time.perf_counter()
from PySide6.QtCore import QObject, QEvent, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow
app = QApplication(sys.argv[:1])
window = QMainWindow()
label = QLabel("bare")
window.setCentralWidget(label)
window.resize(1400, 900)

class First(QObject):
    done = False
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Paint and not self.done:
            self.done = True
            print(json.dumps({"inner": time.perf_counter() - t0, "modules": []}), flush=True)
            QTimer.singleShot(0, app.quit)
        return False

first = First()
label.installEventFilter(first)
window.show()
app.exec()
"""


def run_once(script: str, env: dict) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=str(ROOT))
    line = proc.stdout.readline()
    wall = time.perf_counter() - start
    proc.communicate(timeout=60)
    if not line.startswith("{"):
        raise RuntimeError(f"no start-up report (exit {proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")
    out = json.loads(line)
    out["wall"] = wall
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_runs_arg(parser)
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(tmp, "config"),
                   EMBEDVIEW_CACHE_DIR=os.path.join(tmp, "cache"))
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        print(f"platform: {env['QT_QPA_PLATFORM']}; time from process start until the first paint")
        runs: dict[str, list[dict]] = {"app": [], "bare": []}

        def side(key: str, script: str):
            def run():
                out = run_once(script, env)
                runs[key].append(out)
                return out["wall"], out
            return run

        cmp = compare("start-up", ("embedview window", side("app", EMBEDVIEW)),
                      ("bare QMainWindow", side("bare", BARE)), runs=args.runs, own_time=True)
    app_wall, bare_wall = cmp.median(cmp.ours), cmp.median(cmp.reference)
    app_inner = statistics.median(r["inner"] for r in runs["app"])
    bare_inner = statistics.median(r["inner"] for r in runs["bare"])
    imported = sorted({m for r in runs["app"] for m in r["modules"]})
    print(f"bare QMainWindow painted : {bare_wall:.2f} s median from process start "
          f"({bare_inner:.2f} s after the script began)")
    print(f"embedview window painted : {app_wall:.2f} s median from process start "
          f"({app_inner:.2f} s after the script began); embedview's extra: {app_wall - bare_wall:.2f} s")
    print(f"heavy modules imported before the first paint: {', '.join(imported) if imported else 'none'}")
    verdict = "OK" if app_wall < 1.5 and not {"torch", "open_clip", "umap"} & set(imported) else "CHECK"
    print(f"goal: window within 1.5 s (median) and no torch/open_clip/umap before it: {verdict}")
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
