"""Map view speed: drawing, frames, hover and click-to-neighbours latency, UI stalls.

    .venv/bin/python benchmarks/bench_map.py                      # 10k, 100k, 1M points
    .venv/bin/python benchmarks/bench_map.py --sizes 10000 100000
    .venv/bin/python benchmarks/bench_map.py --points             # MapView draws points at every size

Runs offscreen (``QT_QPA_PLATFORM=offscreen``) in a 1200 x 800 window.  Data: ``n`` 2-D points
from 10 Gaussian clusters with a label each.  At each size MapView is compared with plain
pyqtgraph drawing the same kind of picture -- said on the first line of each size:

* where MapView draws points (up to its density threshold, 200k in view), against one
  ``ScatterPlotItem`` with one brush (``setData`` + one paint);
* where it draws a density image (1M), against a plain ``np.histogram2d`` density image in an
  ``ImageItem`` at the same cell size (2 x 2 pixels), one colour, log-count opacity (MapView's
  cells take the colour of their most frequent label).  ``--points`` makes MapView draw real
  points at every size instead, against plain points.

Interleaved, ``--runs`` each (``_common.compare``): **draw** (a fresh MapView from
``set_projection`` until painted, colouring job included, against the reference's build + one
paint) and **still frame** (median paint of 5 grabs per run).  Also printed: a 2 % pan step +
paint (median), the longest GUI-thread **stall** while drawing and while panning by a timer for
0.6 s (wall and GUI-thread CPU time; goal < 100 ms; the idle event loop's gap beside it), **hover**
(at 100k, or the largest size below: k-d tree pick plus hover-card text against the brute-force
nearest point) and **click to neighbours** at 100k x 256 (``set_current`` until the Neighbours
list is filled, goal < 50 ms, against a bare ``topk`` call; median of 10).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from _common import Stall, add_runs_arg, compare, idle_stall, machine_line, wait_until  # noqa: E402

W, H = 1200, 800


def clusters(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(10, 2))
    lab = rng.integers(0, 10, size=n)
    xy = (centres[lab] + rng.normal(size=(n, 2))).astype(np.float32)
    return xy, lab


def make_set(xy: np.ndarray, lab: np.ndarray):
    from embedview.core.dataset import Dataset
    from embedview.core.embeddings import EmbeddingSet

    n = len(xy)
    ds = Dataset("embedding", ids=[f"item-{i}" for i in range(n)], sources=["bench"] * n,
                 labels=np.array([f"class {v}" for v in lab], dtype=object), embeddings=xy, name="bench")
    return EmbeddingSet.from_dataset(ds)


def _plot(app):
    import pyqtgraph as pg

    w = pg.PlotWidget()
    w.resize(W, H)
    w.show()
    app.processEvents()
    return w


def reference_points(app, xy: np.ndarray):
    """Plain pyqtgraph points: one ScatterPlotItem, one brush, no pen, pxMode.  (seconds, widget)"""
    import pyqtgraph as pg

    w = _plot(app)
    item = pg.ScatterPlotItem(pxMode=True, size=4, pen=None, brush=pg.mkBrush(60, 110, 190, 150))
    w.addItem(item)
    t = time.perf_counter()
    item.setData(x=xy[:, 0], y=xy[:, 1])
    w.grab()
    return time.perf_counter() - t, w


def reference_density(app, xy: np.ndarray):
    """Plain density image: ``np.histogram2d`` over the data's box, one cell per 2 x 2 pixels,
    log-count opacity in one colour, in a pyqtgraph ``ImageItem``.  (seconds, widget)"""
    import pyqtgraph as pg
    from PySide6.QtCore import QRectF

    w = _plot(app)
    item = pg.ImageItem(axisOrder="row-major")
    w.addItem(item)
    t = time.perf_counter()
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    size = w.getPlotItem().getViewBox().size()
    nx, ny = max(16, int(size.width() / 2)), max(16, int(size.height() / 2))
    counts, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=(ny, nx), range=((y0, y1), (x0, x1)))
    rgba = np.zeros((ny, nx, 4), dtype=np.uint8)
    rgba[..., :3] = (60, 110, 190)
    rgba[..., 3] = (255 * np.log1p(counts) / max(1e-9, np.log1p(counts.max()))).astype(np.uint8)
    item.setImage(rgba, autoLevels=False)
    item.setRect(QRectF(float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
    w.getPlotItem().getViewBox().autoRange()
    w.grab()
    return time.perf_counter() - t, w


def close_widget(app, w) -> None:
    w.close()
    w.deleteLater()
    app.processEvents()


def draw_map(app, emb, xy: np.ndarray, density_threshold: int | None = None) -> dict:
    """A fresh MapView drawing ``emb`` at ``xy``: draw seconds (``set_projection`` until painted) and stall."""
    from embedview.gui.views.map import MapView
    from embedview.gui.workers import JobRunner
    from embedview.model import AppModel as AppState

    n = len(xy)
    state = AppState()
    selection, runner = state.selection, JobRunner()
    view = MapView(state, runner)
    if density_threshold is not None:
        view.density_threshold = density_threshold
    view.resize(W, H)
    view.show()
    app.processEvents()
    state.set_dataset(emb.dataset)
    selection.reset(n)
    state.add_embeddings(emb)
    stall = Stall()
    stall.start()
    t = time.perf_counter()
    state.set_projection("pca", xy)
    wait_until(app, lambda: view.coloring is not None and view.mode != "")
    view.plot.grab()
    draw = time.perf_counter() - t
    return {"draw": draw, "draw_stall": stall.stop(), "mode": view.mode, "view": view, "runner": runner, "xy": xy}


def close_map(app, res: dict) -> None:
    res["runner"].shutdown()
    res["view"].shutdown()
    res["view"].close()
    app.processEvents()


def pan_stall(app, res: dict) -> tuple:
    """Pan like a drag: the view moves 2 % every 30 ms for 0.6 s, painted by the event loop
    (the density image is recomputed in the runner, throttled).  (wall ms, GUI-thread CPU ms)."""
    from PySide6.QtCore import QTimer

    view, runner, xy = res["view"], res["runner"], res["xy"]
    dx = float(0.02 * np.ptp(xy[:, 0]))
    steps = []
    timer = QTimer()
    timer.setInterval(30)
    timer.timeout.connect(lambda: (view.canvas.vb.translateBy(x=dx), steps.append(1)))
    stall = Stall()
    stall.start()
    timer.start()
    wait_until(app, lambda: len(steps) >= 20)
    timer.stop()
    wait_until(app, lambda: not runner.active_keys())
    return stall.stop()


def frames(widget, vb, dx: float, repeats: int = 5) -> tuple[float, float]:
    """(median paint seconds of the still view, median seconds of a 2 % pan step + paint)."""
    still = []
    for _ in range(repeats):
        t = time.perf_counter()
        widget.grab()
        still.append(time.perf_counter() - t)
    pan = []
    for _ in range(repeats):
        vb.translateBy(x=dx)
        t = time.perf_counter()
        widget.grab()
        pan.append(time.perf_counter() - t)
    vb.translateBy(x=-dx * repeats)
    return statistics.median(still), statistics.median(pan)


def bench_size(app, n: int, runs: int, force_points: bool) -> dict:
    """Draw, frame and pan of MapView against the plain pyqtgraph drawing of the same kind."""
    xy, lab = clusters(n)
    emb = make_set(xy, lab)
    threshold = n + 1 if force_points else None
    warm = draw_map(app, emb, xy, threshold)  # warm-up (not timed): imports, first paint; tells the kind of drawing
    mode = warm["mode"]
    close_map(app, warm)
    reference = reference_density if mode == "density" else reference_points
    ref_label = ("plain histogram2d density image (ImageItem)" if mode == "density"
                 else "plain one-brush ScatterPlotItem")
    print(f"{n:,} points: MapView draws {mode}; the reference draws the same kind: {ref_label}", flush=True)
    maps_made, refs_made = [], []

    def map_side():
        res = draw_map(app, emb, xy, threshold)
        maps_made.append(res)
        return res["draw"], res

    def ref_side():
        seconds, w = reference(app, xy)
        refs_made.append(w)
        return seconds, w

    draw = compare(f"map draw at {n:,} ({mode})", ("MapView", map_side), (ref_label, ref_side), runs=runs,
                   own_time=True)
    for res in maps_made[:-1]:
        close_map(app, res)
    for w in refs_made[:-1]:
        close_widget(app, w)
    res, ref_w = maps_made[-1], refs_made[-1]
    view = res["view"]
    dx = float(0.02 * np.ptp(xy[:, 0]))
    still_pan: dict[str, list[tuple[float, float]]] = {"MapView": [], ref_label: []}

    def frame_side(name, widget, vb):
        def run():
            out = frames(widget, vb, dx)
            still_pan[name].append(out)
            return out[0], out
        return run

    frame = compare(f"still frame at {n:,} ({mode})", ("MapView", frame_side("MapView", view.plot, view.canvas.vb)),
                    (ref_label, frame_side(ref_label, ref_w, ref_w.getPlotItem().getViewBox())), runs=runs,
                    own_time=True)
    pan_ms = {name: 1e3 * statistics.median(p for _, p in v) for name, v in still_pan.items()}
    print(f"  pan step + paint, median of the runs' medians: MapView {pan_ms['MapView']:.1f} ms, "
          f"reference {pan_ms[ref_label]:.1f} ms"
          + (" (the reference keeps its image; MapView recomputes its density view in the runner)"
             if mode == "density" else ""), flush=True)
    res["pan_stall"] = pan_stall(app, res)
    if mode == "density":
        from embedview.core.maps import view_content

        (x0, x1), (y0, y1) = view.canvas.vb.viewRange()
        t = time.perf_counter()
        view_content(xy, view.coloring, (x0, y0, x1 - x0, y1 - y0), (W // 2, H // 2), view.density_threshold)
        print(f"  density view recompute (in the runner, not the GUI thread): "
              f"{(time.perf_counter() - t) * 1e3:.0f} ms", flush=True)
    close_widget(app, ref_w)
    res["draw_cmp"], res["frame_cmp"] = draw, frame
    return res


def bench_hover(app, res: dict, probes: int = 500) -> None:
    from embedview.core.maps import nearest_point

    view, xy = res["view"], res["xy"]
    view.reset_view()
    wait_until(app, lambda: view.tree is not None)
    rng = np.random.default_rng(1)
    pts = xy[rng.integers(0, len(xy), probes)] + rng.normal(scale=0.05, size=(probes, 2)).astype(np.float32)
    px = view._pixel_size()
    t = time.perf_counter()
    picked = []
    for x, y in pts:
        i = view.point_at(float(x), float(y))
        if i >= 0:
            view.hover_text(i)
        picked.append(i)
    ours = (time.perf_counter() - t) / probes * 1000
    t = time.perf_counter()
    brute = [nearest_point(xy, float(x), float(y), px, tree=None) for x, y in pts[:50]]
    ref = (time.perf_counter() - t) / 50 * 1000
    agree = np.mean([a == b for a, b in zip(picked[:50], brute, strict=True)])
    print(f"  hover at {len(xy):,}: {ours:.3f} ms per move (k-d tree + card text) vs brute force {ref:.2f} ms "
          f"({ref / ours:.1f}x); same point in {agree:.0%} of probes", flush=True)


def bench_click(app, n: int = 100_000, dim: int = 256, repeats: int = 10) -> None:
    from embedview.core.dataset import Dataset
    from embedview.core.embeddings import EmbeddingSet
    from embedview.core.neighbors import topk
    from embedview.gui.views.neighbors import NeighborsView
    from embedview.gui.workers import JobRunner
    from embedview.model import AppModel as AppState

    rng = np.random.default_rng(2)
    X = rng.normal(size=(n, dim)).astype(np.float32)
    ds = Dataset("embedding", ids=[f"v{i}" for i in range(n)], sources=["bench"] * n, embeddings=X, name="click")
    emb = EmbeddingSet.from_dataset(ds)
    _ = emb.unit  # normalised once, as after the first analysis in the app
    state = AppState()
    selection, runner = state.selection, JobRunner()
    view = NeighborsView(state, runner)
    view.resize(450, 800)
    view.show()
    state.set_dataset(ds)
    selection.reset(n)
    state.add_embeddings(emb)
    app.processEvents()
    ours, ref = [], []
    for q in rng.integers(0, n, repeats):
        q = int(q)
        t = time.perf_counter()
        selection.set_current(q, "map")
        wait_until(app, lambda q=q: view.query_index == q and view.list.count() == 10 and not runner.active_keys())
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        topk(emb.unit, 10, queries=np.array([q]), metric="dot", n_threads=1)
        ref.append(time.perf_counter() - t)
    med, bare = statistics.median(ours) * 1000, statistics.median(ref) * 1000
    verdict = "OK" if med < 50 else "ABOVE GOAL"
    print(f"  click -> neighbours at {n:,} x {dim}: {med:.1f} ms median (goal < 50 ms) {verdict}; "
          f"bare topk {bare:.1f} ms, so the view adds {med - bare:.1f} ms", flush=True)
    runner.shutdown()
    view.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--points", action="store_true",
                        help="make MapView draw real points at every size (no density image), against plain points")
    parser.add_argument("--no-click", action="store_true", help="skip the 100k x 256 click benchmark")
    add_runs_arg(parser)
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    import pyqtgraph  # noqa: F401  (import time is not what is measured)

    print(machine_line(), flush=True)
    hover_n = max([s for s in args.sizes if s <= 100_000] or [min(args.sizes)])
    for n in args.sizes:
        res = bench_size(app, n, args.runs, args.points)
        (dw, dc), (pw, pc) = res["draw_stall"], res["pan_stall"]
        verdict = "OK" if max(dc, pc) < 100 else "ABOVE GOAL"
        print(f"  longest GUI-thread stall (last run): drawing {dw:.0f} ms wall / {dc:.0f} ms CPU, panning {pw:.0f} ms "
              f"wall / {pc:.0f} ms CPU (goal < 100 ms) {verdict}; idle event loop: {idle_stall(app):.0f} ms wall "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)
        if n == hover_n:
            bench_hover(app, res)
        close_map(app, res)
    if not args.no_click:
        bench_click(app)
    print(machine_line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
