"""Small helpers shared by the benchmark scripts: timing, peak memory, ratio lines, test data.

Benchmarks are scripts, not tests: run them from the repository root, e.g.
``.venv/bin/python benchmarks/bench_encode.py --n-images 100``.  Every ratio they print is
measured in the same run, on the same data, against what a user would run instead, with
:func:`compare`: the two sides interleaved (B A B A ...), at least three runs each, every run
printed, the medians and the median of the per-run ratios, and the load average at the start
and the end -- a shared machine's load moves, so read a ratio next to the load it was measured
at.  Costs paid once (ONNX export, numba compile, index build) are printed on their own line
(:func:`one_off`).
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def load_now() -> str:
    """The 1-, 5- and 15-minute load averages, e.g. ``"1.9 / 2.3 / 2.0"``."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def add_runs_arg(parser, default: int = 3) -> None:
    """``--runs N``: interleaved runs of each side (at least 3 for a median worth reading)."""
    parser.add_argument("--runs", type=int, default=default,
                        help=f"interleaved runs of each side, A B A B ... (default {default}, at least 3)")


def one_off(label: str, seconds: float, note: str = "") -> None:
    """A cost paid once (export, compile, index build): its own line, never inside a timed run."""
    print(f"  one-off: {label}: {seconds:.2f} s{f' ({note})' if note else ''}", flush=True)


@dataclass
class Comparison:
    """Interleaved runs of embedview (A) and a reference (B) on the same work.

    ``times[name]`` holds every run's seconds; ``results[name]`` the last run's return value.
    ``ratio`` is the median over runs of A_i / B_i (each A run is timed next to a B run, so the
    pair saw about the same machine load); below 1 embedview took less time.
    """

    label: str
    ours: str
    reference: str
    times: dict[str, list[float]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    load_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    @property
    def ratios(self) -> list[float]:
        return [a / b if b > 0 else float("inf") for a, b in zip(self.times[self.ours], self.times[self.reference],
                                                                  strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def verdict(self, goal: float | None) -> str:
        if goal is None:
            return ""
        return f" (goal <= {goal:g}) {'OK' if self.ratio <= goal else 'ABOVE GOAL'}"


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def compare(label: str, ours: tuple[str, Callable[[], Any]], reference: tuple[str, Callable[[], Any]],
            runs: int = 3, goal: float | None = None, extra: list[tuple[str, Callable[[], Any]]] | None = None,
            per_item: tuple[int, str] | None = None, reference_first: bool = True,
            own_time: bool = False) -> Comparison:
    """Time ``ours`` and ``reference`` interleaved (B A B A ... or A B A B ...), ``runs`` each.

    Prints every run of each side, each side's median, the median of the per-run time ratios
    ours / reference (with their range) against ``goal`` (a ratio, lower is better), and the
    load average at the start and the end.  ``extra`` sides (e.g. eager torch) run in the same
    rotation and are printed but not part of the ratio.  ``per_item=(n, "img")`` also prints
    items per second.  ``own_time``: each side returns ``(seconds, result)`` -- it timed itself
    (e.g. a load inside a fresh process, without the interpreter's start).  Returns the
    :class:`Comparison` (last results in ``results``).
    """
    runs = max(3, int(runs))
    sides = [reference, ours] if reference_first else [ours, reference]
    sides += list(extra or [])
    cmp = Comparison(label, ours[0], reference[0], times={name: [] for name, _ in sides})
    cmp.load_start = os.getloadavg()
    print(f"{label}: {runs} interleaved runs each ({' / '.join(name for name, _ in sides)}), "
          f"load average {load_now()}", flush=True)
    for i in range(runs):
        for name, fn in sides:
            start = time.perf_counter()
            out = fn()
            seconds = time.perf_counter() - start
            if own_time:
                seconds, out = out
            cmp.results[name] = out
            cmp.times[name].append(seconds)
            rate = f", {per_item[0] / seconds:.1f} {per_item[1]}/s" if per_item else ""
            print(f"    run {i + 1} {name}: {_fmt(seconds)}{rate}", flush=True)
    cmp.load_end = os.getloadavg()
    width = max(len(name) for name, _ in sides)
    for name, _ in sides:
        med = cmp.median(name)
        rate = f" ({per_item[0] / med:.1f} {per_item[1]}/s)" if per_item else ""
        runs_s = ", ".join(_fmt(t) for t in cmp.times[name])
        print(f"  median {name:<{width}}  {_fmt(med)}{rate}   runs: {runs_s}", flush=True)
    lo, hi = min(cmp.ratios), max(cmp.ratios)
    print(f"  RATIO {label}: {cmp.ours} / {cmp.reference} time = {cmp.ratio:.2f} median (runs {lo:.2f}-{hi:.2f})"
          f"{cmp.verdict(goal)}; load average {cmp.load_start[0]:.1f} at start, {cmp.load_end[0]:.1f} at end",
          flush=True)
    return cmp


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
