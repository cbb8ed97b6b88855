"""Moving the duplicate threshold in the Duplicates view: per-update time vs a from-scratch search.

    .venv/bin/python benchmarks/bench_dup_threshold.py                  # 100k x 64, a few minutes
    .venv/bin/python benchmarks/bench_dup_threshold.py --n 20000        # quicker look

Data: ``n`` unit vectors (random normal), ~2 % of them planted noisy copies of other items
(cosine ~0.95-0.999 to their source, 1 to 3 copies per source; ``bench_duplicates.make_data``).

Measured in the same run:

* from scratch: ``DuplicateFinder().fit`` (the neighbour search and graph, what the analysis
  scheduler runs once per embedding set; exact or faiss HNSW as the app would choose);
* the view's live path, offscreen: ``DuplicatesView`` gets the finder through the model, then
  for ``--steps`` slider positions spread over the whole range: ``slider.setValue`` (which writes
  ``model.views.duplicates.threshold``) plus one ``processEvents`` (the coalesced update runs
  ``counts_at`` and sets the count label, which repaints), timed per update and checked against
  ``groups_at`` -- goal < 100 ms per update;
* the settled path: the runner job that makes a new finder at a threshold after the slider stops
  (``core.duplicates.apply_threshold``: ``with_threshold`` + the group table), and the list refill
  it causes on the GUI thread (model reset + first layout batch), at the floor, the suggested
  threshold and 0.99.

Printed: ms per update (median, 90th percentile, max), the ratio from-scratch / median
update, and the settled job's and refill's times.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import Timer, machine_line, peak_rss_mb, wait_until  # also puts the repository root on sys.path
from bench_duplicates import make_data

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--steps", type=int, default=40, help="slider positions to time")
    ap.add_argument("--approximate", choices=("auto", "exact", "hnsw"), default="auto",
                    help="neighbour search of the from-scratch fit (auto: what the app uses)")
    args = ap.parse_args()

    from PySide6.QtWidgets import QApplication

    from embedview.core.dataset import Dataset
    from embedview.core.duplicates import DuplicateFinder, apply_threshold
    from embedview.core.embeddings import EmbeddingSet
    from embedview.gui.views.duplicates import DuplicatesView
    from embedview.gui.workers import JobRunner
    from embedview.model import AnalysisKind, AppModel

    app = QApplication.instance() or QApplication([])
    X = make_data(args.n, args.dim)
    ds = Dataset("embedding", ids=[f"v{i}" for i in range(args.n)], sources=["synthetic.npy"] * args.n,
                 embeddings=X, name="synthetic")
    emb = EmbeddingSet.from_dataset(ds)
    print(machine_line())
    print(f"{args.n:,} x {args.dim} vectors, ~2 % planted near-copies")

    approximate = {"auto": "auto", "exact": False, "hnsw": True}[args.approximate]
    with Timer() as fit:
        finder = DuplicateFinder(approximate=approximate).fit(emb)
    search = "faiss HNSW" if finder.approximate_ else "exact"
    print(f"from scratch: DuplicateFinder.fit ({search})  {fit.seconds:8.2f} s   "
          f"{len(finder.groups_):,} groups at the suggested {finder.suggested_threshold_:.4f}")
    print(f"  why: {finder.suggestion_reason_}")

    model, runner = AppModel(), JobRunner()
    view = DuplicatesView(model, runner)
    view.resize(1200, 700)
    view.show()
    model.set_dataset(ds)
    model.add_embeddings(emb)
    model.set_analysis(AnalysisKind.DUPLICATES, finder)
    wait_until(app, lambda: len(view.groups) > 0 and not runner.active_keys())

    lo, hi = view.range
    positions = np.linspace(0, 2000, args.steps).round().astype(int)
    positions = np.concatenate([positions, positions[::-1]])  # up and back down
    times = []
    for value in positions:
        start = time.perf_counter()
        view.slider.setValue(int(value))
        app.processEvents()
        times.append(time.perf_counter() - start)
        n, labels = finder.groups_at(view.threshold)
        assert view.n_groups == n and view.n_items_in_groups == int((labels >= 0).sum()), "live count is wrong"
        assert model.views.duplicates.threshold == view.threshold, "the threshold is not in the model"
    ms = 1e3 * np.array(times)
    med = float(np.median(ms))
    print(f"threshold {lo:.3f} .. {hi:.3f}, {len(ms)} slider updates (groups_at + count label, offscreen):")
    print(f"  per update: median {med:6.1f} ms   p90 {np.percentile(ms, 90):6.1f} ms   max {ms.max():6.1f} ms   "
          f"(goal < 100 ms) {'OK' if ms.max() < 100 else 'ABOVE GOAL'}")
    print(f"  from-scratch fit / median update = {fit.seconds * 1e3 / med:,.0f}x")

    wait_until(app, lambda: not runner.active_keys()
               and model.get_analysis(AnalysisKind.DUPLICATES).threshold_ == view.threshold)
    for t in (lo, finder.suggested_threshold_, 0.99):
        with Timer() as settled:
            table = apply_threshold(finder, t)
        with Timer() as refill:  # what the GUI thread does with the job's result
            view._show_groups(table)
            app.processEvents()
        print(f"settled at {t:.4f}: {len(table.finder.groups_):,} groups; job (with_threshold + group table, "
              f"in the runner) {settled.seconds * 1e3:.0f} ms; list refill on the GUI thread "
              f"{refill.seconds * 1e3:.0f} ms")
    view.shutdown()
    assert runner.shutdown(30) and not runner.alive_threads()
    print(f"process peak RSS {peak_rss_mb():.0f} MB")
    print(machine_line())


if __name__ == "__main__":
    main()
