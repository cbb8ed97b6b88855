"""Drift view on real data: the open data is digits as vectors (set A); set B is an .npy file on
disk, loaded and "encoded" through the same code as any open data, then tested in the runner."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.model.views.drift import DriftState

ENV_SIZE = (1280, 760)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data.astype(np.float32), d.target


def _set(X: np.ndarray, labels: np.ndarray, name: str) -> EmbeddingSet:
    ds = Dataset("embedding", ids=[f"{name}-{i}" for i in range(len(X))], sources=[f"{name}.npy"] * len(X),
                 labels=np.array([str(v) for v in labels], dtype=object), embeddings=X, name=name)
    return EmbeddingSet.from_dataset(ds)


def _done(env, view, timeout=60.0):
    env.qtbot.waitUntil(lambda: view.result is not None and not view.running, timeout=int(timeout * 1000))
    env.wait_idle()


def test_a_shifted_set_shows_drift_the_map_and_the_items_that_separate(env, digits, tmp_path):
    from embedview.gui.views.drift import DriftView

    X, y = digits
    view = env.add(DriftView)
    env.show()
    assert "Open data first" in view.placeholder.text()
    env.load(_set(X[y < 5], y[y < 5], "low"))
    np.save(tmp_path / "high.npy", X[y >= 5])
    view.set_other([str(tmp_path / "high.npy")])
    assert env.model.views.drift.b_paths == (str(tmp_path / "high.npy"),)
    assert view.path_box.text() == str(tmp_path / "high.npy")
    _done(env, view)
    d = view.result
    assert d.drift_ and d.auroc_ > 0.9 and d.n_a_ == int(np.sum(y < 5)) and d.n_b_ == int(np.sum(y >= 5))
    assert view.badge.text() == "DRIFT \u2014 STRONG"
    assert view.verdict.text().startswith("drift (strong)")
    assert view.body.currentIndex() == 1
    # the numbers as the core computed them, with the items they used
    cells = {view.table.item(r, 0).text(): view.table.item(r, 1).text() if view.table.item(r, 1) else None
             for r in range(view.table.rowCount())}
    assert cells["AUROC (0.5: chance)"] == f"{d.auroc_:.3f}"
    assert cells["items used, A + B"] == f"{d.mmd_n_a_:,} + {d.mmd_n_b_:,}"  # the last such row: MMD's
    assert cells["of which tested (held out)"] == f"{d.test_n_a_:,} + {d.test_n_b_:,}"
    assert "tested on the other half" in view.how.text()
    # both sets on the map, every item drawn (small sets), a legend naming them
    assert len(view.scatter_a.data) == d.n_a_ and len(view.scatter_b.data) == d.n_b_
    assert "A: open data" in view.legend.text.toPlainText() and "B: other set" in view.legend.text.toPlainText()
    # the lists: B's most B-like first; clicking one rings it on the map and shows it
    assert view.list_b.count() == len(d.top_b_) == 20 and view.list_a.count() == 20
    first_b = view.list_b.item(0)
    view.list_b.itemClicked.emit(first_b)
    assert view.chosen == ("b", int(d.top_b_[0]))
    assert np.allclose(view.ring.data["x"][0], d.xy_b_[d.top_b_[0], 0])
    assert "set B" in view.card.text.text()
    # an item of A becomes the app's current item too
    view.list_a.itemClicked.emit(view.list_a.item(0))
    assert env.selection.current == int(d.top_a_[0])
    # the app's current item set elsewhere is ringed here
    env.selection.set_current(5, "map")
    assert view.chosen == ("a", 5)


def test_two_halves_show_no_drift_and_alpha_rereads_without_refit(env, digits, tmp_path):
    from embedview.gui.views.drift import DriftView

    X, y = digits
    p = np.random.default_rng(1).permutation(len(X))
    view = env.add(DriftView)
    env.show()
    env.load(_set(X[p[:900]], y[p[:900]], "a"))
    np.save(tmp_path / "b.npy", X[p[900:]])
    env.model.views.drift.b_paths = (str(tmp_path / "b.npy"),)  # as a session would restore it
    assert "Test for drift" in view.placeholder.text()
    view.run_button.click()
    _done(env, view)
    d = view.result
    assert not d.drift_ and abs(d.auroc_ - 0.5) < 0.06
    assert view.badge.text() == "NO DETECTABLE DRIFT"
    env.model.views.drift.alpha = 0.05  # the state (what the alpha box writes)
    assert view.alpha_box.currentData() == 0.05
    assert view.result is not d and view.result.auroc_ == d.auroc_ and view.result.alpha == 0.05
    assert "alpha/2 = 0.025" in view.verdict.text()
    assert not view.running  # nothing was refitted


def test_set_b_of_another_encoder_is_refused_with_the_reason(env, digits, tmp_path):
    from embedview.gui.views.drift import DriftView

    X, y = digits
    view = env.add(DriftView)
    env.show()
    env.load(_set(X[:400], y[:400], "a"))
    np.save(tmp_path / "narrow.npy", X[400:800, :32])
    view.set_other([str(tmp_path / "narrow.npy")])
    env.qtbot.waitUntil(lambda: "32-d" in view.status.toolTip(), timeout=30_000)
    assert view.result is None and "64-d" in view.status.toolTip()
    texts = tmp_path / "t.txt"
    texts.write_text("one line of text\nanother line of text\nand a third\n", encoding="utf-8")
    view.set_other([str(texts)])
    env.qtbot.waitUntil(lambda: "give set B as vectors" in view.status.toolTip(), timeout=30_000)
    view.set_other([str(tmp_path / "missing.npy")])
    assert "no such file" in view.status.toolTip()
    env.wait_idle()


def test_new_data_clears_the_result(env, digits, tmp_path):
    from embedview.gui.views.drift import DriftView

    X, y = digits
    view = env.add(DriftView)
    env.show()
    env.load(_set(X[:300], y[:300], "a"))
    np.save(tmp_path / "b.npy", X[300:600])
    view.set_other([str(tmp_path / "b.npy")])
    _done(env, view)
    env.load(_set(X[600:900], y[600:900], "c"))
    assert view.result is None and view.body.currentIndex() == 0 and view.list_a.count() == 0
    view.run()  # the same B (kept in the state) against the new A
    _done(env, view)
    assert view.result.n_a_ == 300


def test_cancel_stops_the_test_and_says_so(env, digits, tmp_path):
    from embedview.gui.views.drift import DriftView

    X, y = digits
    view = env.add(DriftView)
    env.show()
    env.load(_set(X[:900], y[:900], "a"))
    np.save(tmp_path / "b.npy", X[900:])
    view.set_other([str(tmp_path / "b.npy")])
    assert view.cancel_button.isVisible() and not view.run_button.isEnabled()
    view.cancel_button.click()
    env.wait_idle()
    env.qtbot.waitUntil(lambda: view.status.text() == "cancelled", timeout=10_000)
    assert view.result is None and not view.cancel_button.isVisible() and view.run_button.isEnabled()


def test_state_defaults_validation_and_round_trip():
    s = DriftState()
    assert s.b_paths == () and s.alpha == 0.01
    s.update({"alpha": 0.02, "b_paths": ["x.npy", 3, ""]})
    assert s.alpha == 0.01 and s.b_paths == ("x.npy",)
    s.update({"alpha": "high"})
    assert s.alpha == 0.01
    t = DriftState()
    t.update(s.to_dict())
    assert t == s
