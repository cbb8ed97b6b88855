"""Timeline view on a real run: ``demo_run`` trains a small MLP on scikit-learn's digits in numpy
without negatives (alignment of two noisy views only), dumping the embeddings every 40 steps with
``write_step``; the embedding collapses within ~80 steps.  The view reads and measures it in the
runner, draws the metric, the verdict band and the aligned maps, and steps / plays through it."""

from __future__ import annotations

import numpy as np
import pytest

from embedview.core.timeline import Timeline, demo_run, read_run

ENV_SIZE = (1280, 760)


@pytest.fixture(scope="module")
def collapsing(tmp_path_factory):
    return demo_run(tmp_path_factory.mktemp("runs") / "nonegatives", "no-negatives", steps=120, every=40)


def _done(env, view, timeout=90.0):
    env.qtbot.waitUntil(lambda: view.maps is not None and not view.running, timeout=int(timeout * 1000))
    env.wait_idle()


def test_a_run_is_measured_stepped_through_and_played(env, collapsing):
    from embedview.gui.views.timeline import VERDICT_COLORS, TimelineView

    view = env.add(TimelineView)
    env.show()
    state = env.model.views.timeline
    assert view.body.currentIndex() == 0 and "Open a run folder" in view.placeholder.text()
    view.open_run(str(collapsing))
    assert state.run_path == str(collapsing)
    _done(env, view)
    r = view.result
    assert view.body.currentIndex() == 1
    assert r.steps_ == [0, 40, 80, 120] and r.last_collapsed_
    # the numbers are the core's, on the same run (Timeline's defaults)
    again = Timeline().fit(read_run(collapsing))
    assert [row["effective_rank"] for row in r.rows_] == pytest.approx([row["effective_rank"] for row in again.rows_])
    assert "last step 120: complete collapse" in view.status.text()
    # the plot shows the chosen metric against the step; markers coloured by each step's verdict
    x, y = view.curve.getData()
    assert list(x) == [0, 40, 80, 120] and np.allclose(y, r.series("effective_rank")[1])
    brushes = [b.color().name() for b in view.markers.data["brush"]]
    assert brushes[0] == VERDICT_COLORS["healthy"] and brushes[-1] == VERDICT_COLORS["complete collapse"]
    assert view.band_bars is not None
    state.metric = "mean_pairwise_cosine"
    assert view.metric_box.currentData() == "mean_pairwise_cosine"
    assert np.allclose(view.curve.getData()[1], [row["mean_pairwise_cosine"] for row in r.rows_])
    # the last step is shown first: its verdict, its numbers with the items used, its aligned map
    assert state.step == 120 and view.slider.value() == 3
    assert "COMPLETE COLLAPSE" in view.step_title.text() and view.verdict.text().startswith("Complete collapse")
    cells = {view.table.item(i, 0).text(): (view.table.item(i, 1).text(), view.table.item(i, 2).text())
             for i in range(view.table.rowCount())}
    assert cells["effective rank (centred)"] == (f"{r.rows_[3]['effective_rank']:.3f}", "1,797")
    assert cells["kNN accuracy (leave-one-out)"][1] == "1,797"
    assert np.allclose(view.scatter.data["x"], view.maps[3][:, 0])
    assert "Procrustes" in view.map_note.text()
    assert "0" in view.legend.text.toPlainText() and "9" in view.legend.text.toPlainText()
    # the slider shows another step's map
    view.slider.setValue(1)
    assert state.step == 40 and np.allclose(view.scatter.data["y"], view.maps[1][:, 1])
    verdict = r.rows_[1]["verdict"]  # step 40's verdict, as the core measured it
    assert verdict.upper() in view.step_title.text()
    # a click on the plot shows the nearest step (a real mouse click at step ~83)
    from PySide6.QtCore import QPointF, Qt

    vb = view.plot.getPlotItem().getViewBox()
    y_mid = float(np.mean(vb.viewRange()[1]))
    at = view.plot.mapFromScene(vb.mapViewToScene(QPointF(83.0, y_mid)))
    env.qtbot.mouseClick(view.plot.viewport(), Qt.LeftButton, pos=at)
    env.qtbot.waitUntil(lambda: state.step == 80, timeout=5000)
    assert view.now_line.value() == 80 and view.slider.value() == 2
    # play from the start at the end: steps advance on their own, and stop at the last
    state.step = 120
    state.speed = 8.0
    state.playing = True
    assert state.step == 0 and view.play_button.isChecked()
    env.qtbot.waitUntil(lambda: not state.playing, timeout=10_000)
    assert state.step == 120 and not view.play_button.isChecked()


def test_a_bad_folder_is_named_and_cancel_stops(env, tmp_path, collapsing):
    from embedview.gui.views.timeline import TimelineView

    view = env.add(TimelineView)
    env.show()
    np.save(tmp_path / "step_1.npy", np.ones((5, 3), dtype=np.float32))
    np.save(tmp_path / "final.npy", np.ones((5, 3), dtype=np.float32))
    view.open_run(str(tmp_path))
    env.qtbot.waitUntil(lambda: "final.npy: no step number" in view.status.text(), timeout=30_000)
    env.wait_idle()
    assert view.result is None
    view.open_run(str(collapsing))
    view.cancel()
    env.wait_idle()
    assert "cancelled" in view.status.text() and not view.progress.isVisible()


def test_opening_a_run_folder_as_data_shows_it_in_the_timeline(env, collapsing, tmp_path):
    from embedview.actions.data import DataActions
    from embedview.gui.views.timeline import TimelineView

    view = env.add(TimelineView)
    env.show()
    asked = []
    env.model.show_view_requested.connect(asked.append)
    data = DataActions(env.model, env.runner)
    assert data.open_paths([str(collapsing)]) is None  # not loaded as a dataset
    assert asked == ["timeline"] and env.model.views.timeline.run_path == str(collapsing)
    assert env.model.dataset is None
    _done(env, view)
    assert view.result is not None and view.result.steps_ == [0, 40, 80, 120]
    # numbered shards are not a run: they go to the loaders as before (which name what they found)
    np.save(tmp_path / "part_0.npy", np.eye(4, dtype=np.float32))
    np.save(tmp_path / "part_1.npy", np.eye(4, dtype=np.float32) * 2)
    data.open_paths([str(tmp_path)])
    env.wait_idle()
    assert asked == ["timeline"] and env.model.views.timeline.run_path == str(collapsing)
    assert any("no image files found" in str(p) for p in env.model.problems)


def test_following_a_run_measures_the_steps_a_training_loop_writes(env, collapsing, tmp_path):
    import shutil

    from embedview.core.timeline import write_step
    from embedview.gui.views.timeline import TimelineView

    run_dir = tmp_path / "live"
    shutil.copytree(collapsing, run_dir)
    view = env.add(TimelineView)
    env.show()
    assert env.model.views.timeline.follow and view.follow_box.isChecked()
    view.open_run(str(run_dir))
    _done(env, view)
    first = view.result
    assert first.steps_ == [0, 40, 80, 120] and env.model.views.timeline.step == 120
    view.watch.setInterval(100)  # look often (the app looks every few seconds)
    last = read_run(run_dir).vectors(3)
    write_step(run_dir, 160, last * 0.5 + last.mean(axis=0))  # the loop writes one more step
    env.qtbot.waitUntil(lambda: view.result is not first and view.result.steps_[-1] == 160, timeout=60_000)
    _done(env, view)
    assert view.result.reused_ == 4  # only the new step was measured
    assert env.model.views.timeline.step == 160 and view.slider.maximum() == 4 and len(view.maps) == 5
    # unfollowed: a new step is left alone
    view.follow_box.setChecked(False)
    assert not env.model.views.timeline.follow and not view.watch.isActive()
    write_step(run_dir, 200, last)
    env.qtbot.wait(400)
    assert view.result.steps_[-1] == 160


def test_a_diverged_last_step_is_named_in_the_status_line(env, tmp_path):
    # a real run of digits vectors whose newest step blew up (NaN): embedview.log records it, and
    # the view says the run ends diverged rather than showing the last measured step's verdict
    import warnings

    from sklearn.datasets import load_digits

    from embedview.core.timeline import write_step
    from embedview.gui.views.timeline import TimelineView

    X = load_digits().data.astype(np.float32)[:300]
    run = tmp_path / "run"
    write_step(run, 0, X)
    write_step(run, 10, X * 0.5)
    bad = X.copy()
    bad[:7] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        write_step(run, 20, bad)
    view = env.add(TimelineView)
    env.show()
    view.open_run(str(run))
    _done(env, view)
    assert "1 diverged" in view.status.text() and "last step 20: diverged" in view.status.text()
