"""Small helpers shared by the benchmark scripts: timing, peak memory, ratio lines, test data.

Benchmarks are scripts, not tests: run them from the repository root, e.g.
``.venv/bin/python benchmarks/bench_encode.py --n-images 100``.  Every ratio they print is
measured in the same run, on the same data, so a noisy shared machine affects both sides.
"""

from __future__ import annotations

import os
import random
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start


def timed(fn: Callable):
    """``(fn(), seconds it took)``."""
    with Timer() as t:
        out = fn()
    return out, t.seconds


@contextmanager
def step(label: str) -> Iterator[Timer]:
    """Time a block and print ``label: N.NN s`` when it ends."""
    with Timer() as t:
        yield t
    print(f"  {label}: {t.seconds:.2f} s", flush=True)


def machine_line() -> str:
    """CPU count and load average: read every number next to how busy the machine was."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"machine: {os.cpu_count()} cpus, load average {load}"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux: ru_maxrss is KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def rates(n: int, seconds: list[float]) -> str:
    """Items per second of each run, e.g. ``"41.2, 39.8"``."""
    return ", ".join(f"{n / s:.1f}" for s in seconds)


def ratio_line(label: str, value: float, reference: float, goal: float) -> str:
    """``label: 2.31x (goal >= 2x) OK`` for the ratio ``value / reference`` (higher is better)."""
    r = value / reference if reference > 0 else float("inf")
    verdict = "OK" if r >= goal else "BELOW GOAL"
    return f"{label}: {r:.2f}x (goal >= {goal:g}x) {verdict}"


# -- the GUI thread's responsiveness (Qt imported only when used) ---------------------------------
class Stall:
    """Longest gap between ticks of a 5 ms timer on the GUI thread, in wall time and in the GUI
    thread's own CPU time (the part our code spent blocking, without waits for a busy CPU)."""

    def __init__(self, interval_ms: int = 5) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.worst = self.worst_cpu = 0.0
        self.last = self.last_cpu = 0.0
        self.gaps: list[float] = []  # every gap, in seconds (for percentiles)

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.gaps.append(now - self.last)
        self.worst = max(self.worst, now - self.last)
        self.worst_cpu = max(self.worst_cpu, cpu - self.last_cpu)
        self.last, self.last_cpu = now, cpu

    def start(self) -> None:
        self.worst = self.worst_cpu = 0.0
        self.gaps = []
        self.last, self.last_cpu = time.perf_counter(), time.thread_time()
        self.timer.start()

    def stop(self) -> tuple:
        """(wall ms, GUI-thread CPU ms) of the longest gaps."""
        self.timer.stop()
        return self.worst * 1000, self.worst_cpu * 1000


def wait_until(app, cond: Callable[[], bool], timeout: float = 600.0) -> float:
    start = time.perf_counter()
    while not cond():
        app.processEvents()
        if time.perf_counter() - start > timeout:
            raise TimeoutError("condition not met")
        time.sleep(0.0005)
    return time.perf_counter() - start


def idle_stall(app, seconds: float = 0.6) -> float:
    """Longest 5 ms timer gap with an idle event loop: the machine's own noise (other processes)."""
    stall = Stall()
    stall.start()
    end = time.perf_counter() + seconds
    wait_until(app, lambda: time.perf_counter() > end)
    return stall.stop()[0]



_SUBJECTS = ["the old fisherman", "a young engineer", "our neighbour's dog", "the city council", "a tired student",
             "the orchestra", "my grandmother", "the new manager", "a small startup", "the research team",
             "the hotel staff", "a curious child", "the delivery driver", "the football club", "two hikers"]
_VERBS = ["repaired", "painted", "discussed", "photographed", "cancelled", "celebrated", "measured", "sold",
          "ignored", "rebuilt", "described", "tested", "borrowed", "cleaned", "forgot"]
_OBJECTS = ["the wooden boat", "a broken laptop", "the quarterly budget", "an abandoned lighthouse",
            "the village bakery", "a vintage bicycle", "the train timetable", "the garden fence",
            "a mountain cabin", "the school library", "an electric guitar", "the harbour crane",
            "a leaking roof", "the annual report", "a stray cat"]
_TAILS = ["before the storm arrived", "on a rainy Tuesday morning", "after months of planning",
          "without telling anyone", "while the market was still closed", "during the summer festival",
          "because the old one had stopped working", "with surprising care and patience",
          "although nobody had asked them to", "in the middle of a very long and noisy night",
          "as the sun went down behind the hills", "for the third time this year",
          "just before the inspectors came to town and asked a long list of questions about safety",
          "", ""]


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct English sentences of varied length (about 4 to 40 words)."""
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        parts = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_TAILS)]
        if rng.random() < 0.3:
            parts += ["and then", rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_TAILS)]
        s = " ".join(p for p in parts if p).strip()
        s = s[0].upper() + s[1:] + "."
        if s in seen:
            s = s[:-1] + f", item {len(out)}."
        seen.add(s)
        out.append(s)
    return out
