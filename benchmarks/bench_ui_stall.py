"""UI responsiveness: the longest the window's event loop goes without running, while a text
dataset is encoded, mapped (PCA, then UMAP in a child process), scored for outliers and searched
for duplicates, and every view redraws with the results.

A 10 ms ``QTimer`` ticks on the UI thread; a gap between two ticks is time the window could not
repaint or react.  The reference is the same timer in the same window, idle, for the same length
of time, measured in the same run: the ratio says how much the background work adds to the
plain scheduling jitter of this (shared, possibly busy) machine.  The goal is a worst gap under
100 ms, i.e. no stall a user would notice.

A warm-up dataset goes first (not measured): the first analyses import scikit-learn / scipy in
worker threads of the window's process, and those imports hold the GIL once per session (the
encoder's torch imports happen in the encoder process).  ``--cold`` measures that first run.

    .venv/bin/python benchmarks/bench_ui_stall.py [--n 200] [--cold]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from _common import Stall, machine_line, make_sentences, wait_until

GOAL_MS = 100.0


def gaps_while(app, done, timeout_s: float, idle_s: float = 0.0):
    """Timer-tick gaps (seconds) until ``done()`` (or for ``idle_s`` seconds when idle), and the time taken."""
    stall = Stall(interval_ms=10)
    stall.start()
    if idle_s:
        end = time.perf_counter() + idle_s
        seconds = wait_until(app, lambda: time.perf_counter() > end, timeout_s)
    else:
        seconds = wait_until(app, done, timeout_s)
    stall.stop()
    return np.asarray(stall.gaps[1:]), seconds  # (the first gap is from start() to the first tick)


def describe(label: str, gaps: np.ndarray, seconds: float) -> str:
    return (f"  {label}: {len(gaps) + 1} ticks over {seconds:.1f} s, worst gap {gaps.max() * 1000:.0f} ms, "
            f"99th percentile {np.percentile(gaps, 99) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="sentences in the measured dataset")
    parser.add_argument("--cold", action="store_true", help="measure the first dataset of the session")
    args = parser.parse_args()

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    work = tempfile.mkdtemp(prefix="embedview-bench-stall-")
    os.environ["EMBEDVIEW_CACHE_DIR"] = os.path.join(work, "cache")  # nothing cached: every item is encoded
    os.environ["XDG_CONFIG_HOME"] = os.path.join(work, "config")

    from embedview.gui.app import create
    from embedview.model import AnalysisKind

    print(machine_line())
    app, window = create()
    while not window.docks:
        app.processEvents()
        time.sleep(0.01)

    def finished(n: int):
        st = window.model
        return lambda: (st.emb is not None and len(st.emb) == n and st.projection("umap") is not None
                        and st.get_analysis(AnalysisKind.DUPLICATES) is not None and not window.runner.active_keys())

    if not args.cold:
        warm = os.path.join(work, "warm.txt")
        with open(warm, "w", encoding="utf-8") as f:
            f.write("\n".join(f"Warm-up: {s}" for s in make_sentences(30, seed=1)) + "\n")
        window.open_paths([warm])
        gaps_while(app, finished(30), timeout_s=600)

    path = os.path.join(work, "texts.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(make_sentences(args.n, seed=2)) + "\n")
    window.open_paths([path])
    busy, busy_s = gaps_while(app, finished(args.n), timeout_s=900)
    idle, idle_s = gaps_while(app, lambda: False, timeout_s=busy_s + 60, idle_s=max(busy_s, 5.0))

    what = "first dataset of the session" if args.cold else "after a warm-up dataset"
    print(f"{args.n} sentences encoded, PCA + UMAP + outliers + duplicates, {what}:")
    print(describe("while the jobs ran", busy, busy_s))
    print(describe("idle reference    ", idle, idle_s))
    ratio = busy.max() / idle.max()
    verdict = "OK" if busy.max() * 1000 < GOAL_MS else "ABOVE GOAL"
    print(f"worst gap while busy / worst gap idle: {ratio:.2f}x; worst gap {busy.max() * 1000:.0f} ms "
          f"(goal < {GOAL_MS:.0f} ms) {verdict}")
    print(machine_line())
    window.close()
    app.processEvents()


if __name__ == "__main__":  # the UMAP child process re-imports this script
    main()
