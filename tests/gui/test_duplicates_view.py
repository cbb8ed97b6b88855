"""DuplicatesView: its controls show and write ``model.views.duplicates.threshold``, live counts
equal ``groups_at``, planted copies found by click, keep / drop decisions (in the model) survive
threshold moves and round-trip through CSV / JSON exports.

State is asserted on the model (the threshold, the finder filed at it, the decisions); widget
text is read only where what the user sees is the point (the count label, the panels)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from embedview.core.dataset import Dataset
from embedview.core.duplicates import DuplicateFinder
from embedview.core.embeddings import EmbeddingSet
from embedview.model import AnalysisKind
from embedview.runtime.keys import JobKind

DUPLICATES, DECISIONS = AnalysisKind.DUPLICATES, AnalysisKind.DUPLICATE_DECISIONS

#: item -> number of noisy copies planted after the 400 real digits
PLANTED = {5: 1, 17: 2, 42: 3, 99: 1, 150: 2, 230: 1}


def planted_set(n: int = 400, seed: int = 0):
    """The first ``n`` scikit-learn digits (64 pixels as the vector) plus noisy copies of a few of
    them (cosine ~0.998 to their source), ids ``copy-<source>-<k>``.  Returns (set, {source: copies})."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = d.data[:n].astype(np.float32), d.target[:n]
    rng = np.random.default_rng(seed)
    rows, labels, ids, copies = [], [], [], {}
    for src, k in PLANTED.items():
        for c in range(k):
            copies.setdefault(src, []).append(n + len(rows))
            rows.append(X[src] + rng.normal(0.0, 0.4, X.shape[1]).astype(np.float32))
            labels.append(str(y[src]))
            ids.append(f"copy-{src}-{c}")
    X = np.vstack([X, np.asarray(rows)])
    ds = Dataset("embedding", ids=[f"digit-{i}" for i in range(n)] + ids, sources=["digits.npy"] * len(X),
                 labels=np.array([str(v) for v in y] + labels, dtype=object), embeddings=X, name="digits+copies")
    return EmbeddingSet.from_dataset(ds), copies


ENV_SIZE = (1100, 750)  # the host window of the ``env`` fixture (tests/gui/conftest.py)


def _open(env, qtbot, emb, finder=None):
    from embedview.gui.views.duplicates import DuplicatesView

    view = env.add(DuplicatesView)
    env.show()
    env.load(emb)
    finder = finder or DuplicateFinder().fit(emb)
    env.model.set_analysis(DUPLICATES, finder)
    qtbot.waitUntil(lambda: view.finder is not None and len(view.groups) > 0, timeout=10000)
    return view, finder


def test_placeholder_then_find_now_with_progress(env, qtbot):
    from embedview.gui.views.duplicates import DuplicatesView

    emb, _ = planted_set()
    view = env.add(DuplicatesView)
    env.show()
    assert "Open data" in view.wait_label.text()
    env.load(emb)
    assert view.stack.currentWidget() is view.placeholder and view.find_button.isVisible()
    fractions = []
    env.runner.progress.connect(lambda key, f, _m: fractions.append(f) if key == JobKind.DUPLICATES.key() else None)
    view.find_now()
    assert env.runner.is_running(JobKind.DUPLICATES)
    assert "Finding" in view.wait_label.text() and view.wait_bar.isVisible()
    qtbot.waitUntil(lambda: view.stack.currentWidget() is view.content and len(view.groups) == 6, timeout=30000)
    assert fractions and max(fractions) == pytest.approx(1.0)
    finder = env.model.get_analysis(DUPLICATES)
    assert isinstance(finder, DuplicateFinder) and len(finder.groups_) == 6
    assert env.model.views.duplicates.threshold is None  # nobody chose: the suggestion


def test_moving_the_threshold_updates_counts_live_from_the_stored_graph(env, qtbot, monkeypatch):
    emb, copies = planted_set()
    view, finder = _open(env, qtbot, emb)
    model, choice = env.model, env.model.views.duplicates
    # starts at the suggested threshold (None: nobody chose), listing exactly the planted groups
    assert choice.threshold is None and view.threshold == pytest.approx(finder.suggested_threshold_)
    planted = sorted(sorted([s] + c) for s, c in copies.items())
    assert sorted(sorted(g.tolist()) for g in view.groups) == planted
    assert sorted(sorted(g.tolist()) for g in model.get_analysis(DUPLICATES).groups_) == planted
    assert view.n_groups == 6

    # from here on, no neighbour search may run again
    import embedview.core.duplicates as dup

    def no_search(*_a, **_k):
        raise AssertionError("the neighbours were searched again")

    monkeypatch.setattr(dup.NeighborIndex, "kneighbors", no_search)
    monkeypatch.setattr(dup.NeighborIndex, "fit", no_search)

    seen = set()
    for value in (1200, 1600, 1800, 1900, 400):
        view.slider.setValue(value)
        t = view.threshold
        assert choice.threshold == t == pytest.approx(view._from_slider(value))  # the one home
        QApplication.processEvents()  # the live update runs on the next event-loop turn
        want_n, labels = finder.groups_at(t)
        assert view.n_groups == want_n and view.n_items_in_groups == int((labels >= 0).sum())
        assert f"<b>{want_n:,}</b> groups" in view.count_label.text()  # what the user sees
        assert view.spin.value() == pytest.approx(t, abs=1e-4) and view.line.value() == pytest.approx(t)
        assert view.line_label.toPlainText() == f"{t:.4f}"
        seen.add(want_n)
    assert len(seen) >= 3  # the counts really moved

    # once settled, the listed groups and the state's finder follow the threshold
    qtbot.waitUntil(lambda: model.get_analysis(DUPLICATES).threshold_ == choice.threshold, timeout=10000)
    applied = model.get_analysis(DUPLICATES)
    assert applied is not finder and finder.threshold_ == pytest.approx(finder.suggested_threshold_)  # untouched
    n, labels = finder.groups_at(choice.threshold)
    assert len(view.groups) == n == len(applied.groups_)
    assert sorted(np.concatenate(view.groups).tolist()) == np.flatnonzero(labels >= 0).tolist()

    # the spin box and the draggable line drive the same path
    view.spin.setValue(0.97)
    QApplication.processEvents()
    assert choice.threshold == pytest.approx(0.97)
    assert view.n_groups == finder.groups_at(0.97)[0] and view.slider.value() == view._to_slider(0.97)
    view.line.setValue(0.99)
    QApplication.processEvents()
    assert choice.threshold == pytest.approx(0.99) and view.n_groups == finder.groups_at(0.99)[0]
    # a value beyond the range is clipped before it reaches the model
    view.line.setValue(1.5)
    assert choice.threshold == view.range[1] and view.line.value() == view.range[1]
    env.wait_idle()


def test_the_model_threshold_drives_every_control_and_the_groups(env, qtbot):
    """Set from outside the view (a session, a script): spin box, slider, marker and the listed
    groups follow; back to None shows the suggestion again."""
    emb, _ = planted_set()
    view, finder = _open(env, qtbot, emb)
    model, choice = env.model, env.model.views.duplicates
    choice.threshold = 0.985
    assert view.spin.value() == pytest.approx(0.985, abs=1e-4) and view.line.value() == pytest.approx(0.985)
    assert view.slider.value() == view._to_slider(0.985)
    assert choice.threshold == 0.985  # the controls' echoes did not write back a rounded value
    qtbot.waitUntil(lambda: model.get_analysis(DUPLICATES).threshold_ == 0.985, timeout=10000)
    want = finder.with_threshold(0.985)
    assert [g.tolist() for g in view.groups] == [g.tolist() for g in want.groups_]
    assert view.n_groups == len(want.groups_)
    choice.threshold = None
    assert choice.threshold is None and view.threshold == finder.suggested_threshold_
    assert view.line.value() == pytest.approx(finder.suggested_threshold_)
    qtbot.waitUntil(lambda: model.get_analysis(DUPLICATES).threshold_ == finder.suggested_threshold_, timeout=10000)
    assert len(view.groups) == 6 and finder.threshold_ == finder.suggested_threshold_
    # log counts: a choice in the model too, bound to its check box
    assert choice.log_counts and view.log_box.isChecked()
    view.log_box.setChecked(False)
    assert choice.log_counts is False
    choice.log_counts = True
    assert view.log_box.isChecked()
    env.wait_idle()


def test_clicking_an_item_lists_exactly_its_planted_copies(env, qtbot):
    emb, copies = planted_set()
    view, finder = _open(env, qtbot, emb)
    for src in (42, 17, 5):
        env.selection.set_current(src, "test")
        qtbot.waitUntil(lambda src=src: view.near_index == src and view.near_ready, timeout=10000)
        assert sorted(view.near_indices.tolist()) == copies[src]
        want_idx, want_sims = finder.near_duplicates_of(src, view.threshold)
        assert view.near_indices.tolist() == want_idx.tolist()
        np.testing.assert_array_equal(view.near_scores, want_sims)
        assert f"digit-{src}" in view.near_header.text()
        assert view.near_list.count() == len(copies[src]) and "copy-" in view.near_list.item(0).text()
    # an item that is no one's copy
    env.selection.set_current(3, "test")
    qtbot.waitUntil(lambda: view.near_index == 3 and view.near_ready, timeout=10000)
    assert len(view.near_indices) == 0 and "No item" in view.near_list.item(0).text()
    # clicking a listed copy makes it the current item everywhere
    env.selection.set_current(42, "test")
    qtbot.waitUntil(lambda: view.near_index == 42 and view.near_ready, timeout=10000)
    first = int(view.near_indices[0])
    rect = view.near_list.visualItemRect(view.near_list.item(0))
    qtbot.mouseClick(view.near_list.viewport(), Qt.LeftButton, pos=rect.center())
    assert env.selection.current == first
    qtbot.waitUntil(lambda: view.near_index == first and view.near_ready, timeout=10000)
    assert 42 in view.near_indices.tolist()


def test_selecting_a_group_selects_its_members(env, qtbot):
    emb, _ = planted_set()
    view, _ = _open(env, qtbot, emb)
    got = []
    env.selection.selection_changed.connect(lambda idx, src: got.append((idx.tolist(), src)))
    view.select_group(0)
    assert got[-1] == (sorted(view.groups[0].tolist()), view.name)
    assert env.selection.selected.tolist() == sorted(view.groups[0].tolist())


def _badge_center(view, row: int, member_pos: int) -> QPoint:
    delegate = view.group_list.itemDelegate()
    rect = view.group_list.visualRect(view.group_model.index(row))
    cells, _more, _n = delegate.cells(rect, len(view.groups[row]))
    return delegate.badge_rect(cells[member_pos][1]).center()


def test_keep_drop_decisions_and_csv_json_export(env, qtbot, tmp_path):
    emb, copies = planted_set()
    view, finder = _open(env, qtbot, emb)
    # the keep rule pre-marks one item per group
    model = env.model
    for g, members in enumerate(view.groups):
        kept = view.kept_of_group(g)
        assert kept == int(model.get_analysis(DUPLICATES).keep_[g]) and kept in members.tolist()
        assert [view.decision_of(m) for m in members].count("keep") == 1
    # a pair that a slightly higher threshold splits, and a group that survives it
    lone = min((copies[s][0] for s in (5, 99, 230)), key=lambda c: finder.nn_similarity_[c])
    higher = float(finder.nn_similarity_[lone]) + 1e-5
    survivors = finder.groups_at(higher)[1]
    row = next(g for g, m in enumerate(view.groups) if len(m) > 2 and (survivors[m] >= 0).sum() >= 2)
    members = view.groups[row].tolist()
    kept = view.kept_of_group(row)
    other = next(m for m in members if m != kept and survivors[m] >= 0)
    # click the badge of a dropped member: it becomes "keep"
    pos = members.index(other)
    qtbot.mouseClick(view.group_list.viewport(), Qt.LeftButton, pos=_badge_center(view, row, pos))
    assert view.decision_of(other) == "keep"
    assert model.get_analysis(DECISIONS) == {other: "keep"}
    view.set_decision(kept, "drop")
    decisions = {other: "keep", kept: "drop"}
    assert model.get_analysis(DECISIONS) == decisions

    # moving the threshold keeps choices of items still in groups, forgets the others
    view.set_decision(lone, "keep")
    view.set_threshold(higher)
    qtbot.waitUntil(lambda: model.get_analysis(DUPLICATES).threshold_ == pytest.approx(higher), timeout=10000)
    applied = model.get_analysis(DUPLICATES)
    assert applied.labels_[lone] < 0 and applied.labels_[other] >= 0
    stored = model.get_analysis(DECISIONS)
    assert lone not in stored and stored[other] == "keep"
    view.set_threshold(finder.suggested_threshold_)
    qtbot.waitUntil(lambda: len(view.groups) == 6 and model.get_analysis(DUPLICATES).threshold_
                    == pytest.approx(finder.suggested_threshold_), timeout=10000)
    assert model.get_analysis(DECISIONS) == decisions

    done = []
    csv_path, json_path = tmp_path / "dups.csv", tmp_path / "dups.json"
    view.export_decisions(str(csv_path), on_done=done.append)
    qtbot.waitUntil(lambda: len(done) == 1, timeout=10000)
    view.export_decisions(str(json_path), on_done=done.append)
    qtbot.waitUntil(lambda: len(done) == 2, timeout=10000)
    n_grouped = sum(len(g) for g in view.groups)
    assert done[0] == (str(csv_path), n_grouped)

    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n_grouped == 16
    by_index = {int(r["index"]): r for r in rows}
    assert by_index[other]["keep"] == "True" and by_index[kept]["keep"] == "False"
    assert by_index[other]["id"] == emb.dataset.ids[other]
    for i, r in by_index.items():
        if i not in decisions:
            assert (r["keep"] == "True") == (i == int(r["kept_index"]))
    expect = model.get_analysis(DUPLICATES).to_rows(emb.dataset, decisions)
    assert [int(r["index"]) for r in rows] == [r["index"] for r in expect]

    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc["n_groups"] == 6 and doc["threshold"] == pytest.approx(model.get_analysis(DUPLICATES).threshold_)
    assert {r["index"]: r["keep"] for r in doc["rows"]} == {r["index"]: r["keep"] for r in expect}
    assert "deleted" in view.export_button.toolTip()


def test_threshold_is_remembered_per_encoder(env, qtbot):
    emb, _ = planted_set()
    view, finder = _open(env, qtbot, emb)
    model, choice = env.model, env.model.views.duplicates
    view.set_threshold(0.97)
    qtbot.waitUntil(lambda: model.get_analysis(DUPLICATES).threshold_ == pytest.approx(0.97), timeout=10000)
    env.wait_idle()
    # the same data opened again: the choice is forgotten with the old data ...
    env.load(emb)
    assert choice.threshold is None
    # ... and a fresh finder starts at the remembered threshold
    env.model.set_analysis(DUPLICATES, DuplicateFinder().fit(emb))
    qtbot.waitUntil(lambda: view.finder is not None and view.finder.threshold_ == pytest.approx(0.97), timeout=10000)
    assert choice.threshold == pytest.approx(0.97) and view.n_groups == finder.groups_at(0.97)[0]
    view.reset_threshold()
    QApplication.processEvents()
    assert choice.threshold is None and view.threshold == pytest.approx(finder.suggested_threshold_)
    assert view.n_groups == 6
    env.wait_idle()
    # back at the suggestion: nothing is remembered any more
    env.load(emb)
    env.model.set_analysis(DUPLICATES, DuplicateFinder().fit(emb))
    qtbot.waitUntil(lambda: len(view.groups) == 6, timeout=10000)
    assert choice.threshold is None
    env.wait_idle()


@pytest.mark.slow
def test_demo_photos_in_the_window_find_the_planted_copies(window, qtbot, tmp_path):
    """The real app on the demo photos (real default image encoder): duplicates computed in the
    background, then clicking a photo lists exactly its planted copy."""
    from embedview.core.demo import NEAR_DUPLICATES, build_demo

    photos = build_demo(tmp_path / "demo", n_per_class=2)["images"] / "photos"
    view = window.views["DuplicatesView"]
    window.open_paths([str(photos)])
    qtbot.waitUntil(lambda: window.model.emb is not None, timeout=240_000)
    qtbot.waitUntil(lambda: view.finder is not None and len(view.groups) > 0, timeout=120_000)
    ids = window.model.dataset.ids
    assert sorted(sorted(ids[i] for i in g) for g in view.groups) == sorted(
        sorted([f"{name}.jpg", f"{name}_copy.jpg"]) for name in NEAR_DUPLICATES)
    for name in NEAR_DUPLICATES:
        i = ids.index(f"{name}.jpg")
        window.selection.set_current(i, "test")
        qtbot.waitUntil(lambda i=i: view.near_index == i and view.near_ready, timeout=10000)
        assert [ids[j] for j in view.near_indices] == [f"{name}_copy.jpg"]
    window.runner.wait_all(30)


def _image_set(tmp_path):
    """8 real digits as PNG files (long names), the first 3 with a half-size copy: an image
    set whose cards show thumbnails and file names."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    paths, vectors = [], []
    for i in range(8):
        im = Image.fromarray((255 - d.images[i] * 15).astype(np.uint8)).resize((64, 64))
        p = tmp_path / f"a_rather_long_file_name_for_digit_number_{i:02d}.png"
        im.save(p)
        paths.append(str(p))
        vectors.append(d.data[i])
    for i in range(3):
        p = tmp_path / f"copy_{i:02d}.png"
        Image.open(paths[i]).resize((32, 32)).save(p)
        paths.append(str(p))
        vectors.append(d.data[i] + 0.05)
    import os

    ds = Dataset("image", ids=[os.path.basename(p) for p in paths], sources=paths, name="digit files")
    return EmbeddingSet(ds, np.asarray(vectors, dtype=np.float32), encoder="pixels")


def test_group_cards_show_file_names_elided_with_the_full_path_in_the_tooltip(env, qtbot, tmp_path):
    from PySide6.QtGui import QColor

    emb = _image_set(tmp_path)
    view, finder = _open(env, qtbot, emb, DuplicateFinder(threshold=0.99).fit(emb))
    assert len(view.groups) == 3
    delegate = view.group_list.itemDelegate()
    index = view.group_model.index(0)
    rect = view.group_list.visualRect(index)
    cells, _, _ = delegate.cells(rect, len(view.groups[0]))
    ds = env.model.dataset
    for pos, cell in cells:
        item = int(view.groups[0][pos])
        name_rect = delegate.name_rect(cell)
        text = delegate.name_text(ds, item, name_rect.width())
        assert text and (text == ds.ids[item] or "\u2026" in text)  # the name, elided if long
        assert ds.sources[item] in delegate.tooltip_for(item)  # the full path in the tooltip
        # the name line is painted: dark text pixels in its rectangle
        image = view.group_list.viewport().grab().toImage()
        dark = sum(QColor(image.pixel(x, y)).lightness() < 110
                   for x in range(name_rect.left(), name_rect.right())
                   for y in range(name_rect.top(), name_rect.bottom()))
        assert dark > 10, ds.ids[item]
    long_item = int(next(m for m in view.groups[0] if "long" in ds.ids[int(m)]))
    assert "\u2026" in delegate.name_text(ds, long_item, delegate.name_rect(cells[0][1]).width())
    env.wait_idle()


def test_threshold_marker_label_stays_inside_the_plot(env, qtbot):
    emb, _ = planted_set()
    view, finder = _open(env, qtbot, emb)
    vb = view.plot.getPlotItem().getViewBox()
    for t in (view.range[0] + 1e-3, 0.9, 0.99, view.range[1]):
        env.model.views.duplicates.threshold = t
        QApplication.processEvents()
        label = view.line_label.mapRectToView(view.line_label.boundingRect())
        (x0, x1), _ = vb.viewRange()
        assert x0 - 1e-9 <= label.left() and label.right() <= x1 + 1e-9, (t, label, (x0, x1))
    env.wait_idle()
