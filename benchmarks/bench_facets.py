"""Metadata charts (issue 12 item 5): how fast a selection's share in every chart, and a brush's
items, are computed at N items -- against the plain numpy calls on the same data.

Data: N items with a 15-value label, a skewed integer length, a float score with 2 % missing, a
7-value source, a 1-5 rating, a split and a long-tailed language column (the shapes of real
metadata).  ``core.facets`` assigns every item to a bar once (``FacetSet.fit``, a one-off, in the
background in the window), so the selection counts are one ``bincount`` per chart; the reference
is ``np.histogram`` / ``np.unique`` on the selected values, what a chart without precomputed bars
would call.  ``--gui`` also times the Charts view's whole redraw after a selection change
(bincounts and bars, offscreen; goal under 50 ms).

    .venv/bin/python benchmarks/bench_facets.py            # 100k items
    .venv/bin/python benchmarks/bench_facets.py --n 1000000 --gui
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _common import add_runs_arg, compare, machine_line, one_off, timed

from embedview.core.dataset import Dataset
from embedview.core.facets import FacetSet

GUI_GOAL_MS = 50.0


def make_dataset(n: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    labels = np.array([f"class {k}" for k in rng.integers(0, 15, n)], dtype=object)
    meta = {
        "length": rng.lognormal(4, 0.6, n).round(),
        "score": np.where(rng.random(n) < 0.02, np.nan, rng.normal(0.5, 0.2, n)),
        "source": rng.choice(["web", "books", "news", "forum", "wiki", "code", "papers"], n).tolist(),
        "rating": rng.integers(1, 6, n),
        "split": rng.choice(["train", "test", "val"], n, p=[0.7, 0.2, 0.1]).tolist(),
        "lang": [f"lang{int(k)}" for k in rng.zipf(1.6, n).clip(1, 80)],
    }
    return Dataset("embedding", ids=[str(i) for i in range(n)], sources=["bench"] * n, labels=labels, metadata=meta)


def plain_counts(ds: Dataset, fs: FacetSet, sel: np.ndarray) -> dict[str, np.ndarray]:
    """The reference: per column, histogram / value counts of the selected values."""
    out = {}
    for f in fs.facets_:
        col = ds.labels if f.name == "label" else ds.metadata[f.name]
        if f.kind == "numeric":
            v = np.asarray(col, dtype=float)[sel]
            v = v[~np.isnan(v)]
            out[f.name] = np.histogram(np.clip(v, f.edges[0], f.edges[-1]), bins=f.edges)[0]  # end bars hold outliers
        else:
            out[f.name] = np.unique(np.asarray(col, dtype=object)[sel].astype(str), return_counts=True)[1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="items (default 100000)")
    parser.add_argument("--gui", action="store_true", help="also time the Charts view's redraw (offscreen)")
    add_runs_arg(parser, 5)
    args = parser.parse_args()
    n = args.n
    print(machine_line(), flush=True)
    ds = make_dataset(n)
    fs, seconds = timed(lambda: FacetSet().fit(ds))
    one_off(f"FacetSet.fit, {len(fs.facets_)} columns of {n:,} items", seconds, "in the background in the window")
    rng = np.random.default_rng(1)
    sel = np.flatnonzero(rng.random(n) < 0.3)
    cmp = compare(f"selection counts of {sel.size:,} items in {len(fs.facets_)} charts",
                  ("facets", lambda: fs.selected_counts(sel)),
                  ("numpy histogram/unique", lambda: plain_counts(ds, fs, sel)), runs=args.runs, goal=1.0)
    ours = cmp.results["facets"]
    ref = cmp.results["numpy histogram/unique"]
    for f in fs.facets_:  # same numbers (the reference has no "missing" bar and sorts categories by name)
        a, b = ours[f.name], ref[f.name]
        kept = [i for i, k in enumerate(f.slot_kinds) if k != "missing"]
        if "other" not in f.slot_kinds:
            assert sorted(a[kept].tolist()) == sorted(b.tolist()), f.name
    length = np.asarray(ds.metadata["length"])
    labels = ds.labels
    lo, hi = np.quantile(length, [0.2, 0.6])
    cats = fs.facet("label").categories[:3]  # three bars of the label chart (what clicks can choose)
    brushes = {"length": {"range": [lo, hi]}, "label": {"values": cats}}
    cmp = compare("two brushes -> indices", ("facets", lambda: fs.brush_indices(brushes)),
                  ("numpy compare & isin",
                   lambda: np.flatnonzero((length >= lo) & (length < hi) & np.isin(labels, cats))),
                  runs=args.runs, goal=None)
    assert np.array_equal(cmp.results["facets"], cmp.results["numpy compare & isin"])
    if args.gui:
        gui_redraw(ds, args.runs)


def gui_redraw(ds: Dataset, runs: int) -> None:
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from embedview.gui import theme
    from embedview.gui.views.charts import ChartsView
    from embedview.gui.workers import JobRunner
    from embedview.model import AppModel

    theme.apply_plot_theme("light")
    model, runner = AppModel(), JobRunner()
    view = ChartsView(model, runner)
    view.resize(440, 900)
    view.show()
    model.set_dataset(ds)
    while view.facets is None or view.building:
        app.processEvents()
        time.sleep(0.01)
    rng = np.random.default_rng(2)
    times = []
    for k in range(max(runs, 5) * 2):
        idx = np.flatnonzero(rng.random(len(ds)) < 0.05 + 0.09 * (k % 10))
        model.selection.set_selection(idx, "bench")
        times.append(view.last_redraw_ms)
        app.processEvents()
    med = statistics.median(times)
    print(f"  Charts view redraw after a selection change, {len(view.panels)} charts of {len(ds):,} items: "
          f"median {med:.1f} ms, max {max(times):.1f} ms (goal < {GUI_GOAL_MS:g} ms) "
          f"{'OK' if med < GUI_GOAL_MS else 'ABOVE GOAL'}", flush=True)
    runner.shutdown(timeout=10)


if __name__ == "__main__":
    main()
