"""HeatmapView: exactly the selected items, stratified sample otherwise, label groups, pair click."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from viewkit import digits_set, pca_2d

from embedview.runtime.keys import JobKind

ENV_SIZE = (1200, 700)  # the host window of the ``env`` fixture (tests/gui/conftest.py)


def test_box_selected_points_are_exactly_the_heatmap_rows(env, qtbot):
    from embedview.gui.views.heatmap import HeatmapView
    from embedview.gui.views.map import MapView

    emb = digits_set(700)
    xy = pca_2d(emb)
    map_view = env.add(MapView)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb, xy)
    qtbot.waitUntil(lambda: map_view.mode == "points", timeout=10000)
    lo, hi = np.percentile(xy, 35, axis=0), np.percentile(xy, 65, axis=0)
    map_view.canvas.vb.box_selected.emit(QRectF(QPointF(*lo), QPointF(*hi)), Qt.NoModifier)
    selected = env.selection.selected.copy()
    assert 5 < len(selected) < 700
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == len(selected), timeout=10000)
    assert sorted(heat.displayed_indices.tolist()) == selected.tolist()
    U = emb.unit[heat.displayed_indices]
    np.testing.assert_allclose(heat.matrix, U @ U.T, atol=1e-5)
    # rows are grouped by label, with one group per label present
    labels = emb.dataset.labels[heat.displayed_indices]
    assert [g[2] for g in heat.groups] == sorted(set(labels))
    for start, stop, name in heat.groups:
        assert set(labels[start:stop]) == {name}
    assert heat.image.image.shape == (len(selected), len(selected))


def test_without_selection_a_label_stratified_sample(env, qtbot):
    from embedview.gui.views.heatmap import SAMPLE_SIZE, HeatmapView

    emb = digits_set()  # 1797 items, ten labels of ~180
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == SAMPLE_SIZE, timeout=10000)
    counts = np.unique(emb.dataset.labels[heat.displayed_indices], return_counts=True)[1]
    assert len(counts) == 10 and counts.min() >= 27 and counts.max() <= 33
    assert "a sample of 300" in heat.choose_items().what
    assert heat.choose_items().what in heat.info.text()  # and the view says so
    # one selected item is not a pair: still the sample
    env.selection.set_selection([3], "test")
    env.wait_idle()
    assert len(heat.displayed_indices) == SAMPLE_SIZE


def test_unlabelled_items_are_ordered_by_clusters(env, qtbot):
    from embedview.gui.views.heatmap import HeatmapView

    emb = digits_set(200, labelled=False)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 200, timeout=10000)
    assert heat.groups == [] and heat.result.order_ == "cluster"
    assert sorted(heat.displayed_indices.tolist()) == list(range(200))
    U = emb.unit[heat.displayed_indices]
    np.testing.assert_allclose(heat.matrix, U @ U.T, atol=1e-5)
    # clustering puts similar items next to each other: neighbours along the diagonal are closer
    # than random pairs
    assert np.diag(heat.matrix, 1).mean() > heat.matrix.mean() + 0.05


def test_hover_and_click_on_a_cell_show_and_select_the_pair(env, qtbot):
    from embedview.gui.views.heatmap import HeatmapView

    emb = digits_set(300)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    env.selection.set_selection([4, 17, 60, 61, 99], "test")
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 5, timeout=10000)
    row, col = 1, 3
    i, j = int(heat.displayed_indices[row]), int(heat.displayed_indices[col])
    # the cell's position is read again on every try: the view may still be fitting its range
    # to the new image, and a move to where the cursor already is sends no event, so each try
    # comes from a corner
    for _ in range(60):
        scene = heat.image.mapToScene(QPointF(col + 0.5, row + 0.5))
        pos = heat.plot.mapFromScene(scene)
        qtbot.mouseMove(heat.plot.viewport(), QPoint(1, 1))
        qtbot.wait(20)
        qtbot.mouseMove(heat.plot.viewport(), pos)
        try:
            qtbot.waitUntil(lambda: f"digit-{i}" in heat.hover_label.text(), timeout=500)
            break
        except qtbot.TimeoutError:
            continue
    assert f"digit-{i}" in heat.hover_label.text() and f"digit-{j}" in heat.hover_label.text(), heat.hover_label.text()
    qtbot.mouseClick(heat.plot.viewport(), Qt.LeftButton, pos=pos)
    assert heat.pair.isVisible()
    assert {heat.left_card.index, heat.right_card.index} == {i, j}
    assert env.selection.selected.tolist() == sorted([i, j])
    assert heat.pair_score.text() == f"cos {float(emb.unit[i] @ emb.unit[j]):.3f}"
    # the heatmap keeps showing the five items (its own selection change is not echoed)
    env.wait_idle()
    assert len(heat.displayed_indices) == 5


def test_hidden_heatmap_waits_until_shown(env, qtbot):
    from embedview.gui.views.heatmap import HeatmapView

    emb = digits_set(300)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 300, timeout=10000)
    heat.hide()  # e.g. a tab behind the Neighbours view
    env.selection.set_selection([7, 8, 9], "test")
    assert not env.runner.is_running(JobKind.HEATMAP)
    env.wait_idle()
    assert len(heat.displayed_indices) == 300
    heat.show()
    qtbot.waitUntil(lambda: heat.displayed_indices.tolist() != [] and len(heat.displayed_indices) == 3, timeout=10000)
    assert sorted(heat.displayed_indices.tolist()) == [7, 8, 9]


def test_colour_scale_is_the_models_choice(env, qtbot):
    from embedview.core.similarity import color_levels
    from embedview.gui.views.heatmap import HeatmapView

    emb = digits_set(200)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 200, timeout=10000)
    choices = env.model.views.heatmap
    assert choices.scale == "data" and heat.scale_box.currentData() == "data"
    assert heat.bar.levels() == pytest.approx(color_levels(heat.matrix, "data"))
    lo, hi = heat.bar.levels()
    assert -1 < lo < hi <= 1.0001 and (lo, hi) != (-1.0, 1.0)
    heat.scale_box.setCurrentIndex(heat.scale_box.findData("full"))  # the user picks -1 .. 1
    assert choices.scale == "full" and heat.bar.levels() == pytest.approx((-1.0, 1.0))
    choices.scale = "data"  # a session sets it back: the box and the colours follow
    assert heat.scale_box.currentData() == "data"
    assert heat.bar.levels() == pytest.approx((lo, hi))


def test_a_reencoded_active_set_is_shown_again(env, qtbot):
    from embedview.core.embeddings import EmbeddingSet
    from embedview.gui.views.heatmap import HeatmapView

    emb = digits_set(300)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 300, timeout=10000)
    # the active set is re-encoded (another object, other vectors): the matrix is of the new vectors
    other = EmbeddingSet(emb.dataset, emb.vectors[:, ::-1].copy(), emb.encoder)
    env.model.add_embeddings(other)
    env.wait_idle()
    U = other.unit[heat.displayed_indices]
    np.testing.assert_allclose(heat.matrix, U @ U.T, atol=1e-5)


# -- issue 10: hover never moves the layout; colour bar numbers; the diagonal in its own colour ----------------
def _collapsed_digits(n: int, offset: float = 200.0):
    """Real collapsed vectors: the digits plus a large common offset (every cosine 0.9989 .. 0.99998)."""
    from embedview.core.embeddings import EmbeddingSet

    emb = digits_set(n)
    return EmbeddingSet(emb.dataset, (emb.vectors + offset).astype(np.float32), emb.encoder)


def _photo_ids(emb):
    """The digits under ids of very different lengths, as photo paths are (what the hover line names)."""
    from embedview.core.dataset import Dataset
    from embedview.core.embeddings import EmbeddingSet

    d = emb.dataset
    folders = ["a", "holiday-2023/camera-roll", "scans/family archive/box 3/album 1987-1991/loose prints"]
    ids = [f"{folders[i % 3]}/IMG_{i:05d}{'_edited' * (i % 5)}.jpg" for i in range(len(emb))]
    ds = Dataset("embedding", ids=ids, sources=list(d.sources), labels=d.labels, embeddings=d.embeddings,
                 name="photos")
    return EmbeddingSet.from_dataset(ds)


def _cell_pos(heat, row, col):
    """Where the centre of cell (row, col) is, in the plot viewport's pixels."""
    return heat.plot.mapFromScene(heat.image.mapToScene(QPointF(col + 0.5, row + 0.5)))


def _settled(heat, qtbot):
    """Wait until the plot stops fitting its range to the image (the cell positions are final)."""
    last = None
    for _ in range(100):
        qtbot.wait(30)
        now = (_cell_pos(heat, 0, 0), _cell_pos(heat, 1, 1), heat.plot.size())
        if now == last:
            return
        last = now
    raise AssertionError("the heatmap never settled")


def _hover(heat, qtbot, pos):
    """Move the mouse to ``pos``; pyqtgraph drops moves closer than 10 ms apart (its mouseRateLimit)."""
    qtbot.wait(25)
    qtbot.mouseMove(heat.plot.viewport(), pos)
    qtbot.wait(5)


def test_hovering_cells_never_moves_the_layout_and_a_click_opens_the_hovered_pair(env, qtbot):
    from embedview.gui.views.heatmap import HeatmapView

    emb = _photo_ids(digits_set(60))
    heat = env.add(HeatmapView)
    env.host.resize(520, 640)  # as narrow as a dock beside the map
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 60, timeout=10000)
    _settled(heat, qtbot)
    window = heat.window()
    before = (window.geometry(), heat.geometry(), heat.plot.geometry(), heat.sizeHint(), heat.minimumSizeHint(),
              _cell_pos(heat, 0, 0), _cell_pos(heat, 59, 59))
    rng = np.random.default_rng(0)
    cells = [(int(r), int(c)) for r, c in rng.integers(0, 60, size=(40, 2))] + [(59, 0), (0, 59), (7, 7)]
    for row, col in cells:
        _hover(heat, qtbot, _cell_pos(heat, row, col))
        assert heat.hovered == (row, col)
        i, j = (emb.dataset.ids[int(heat.displayed_indices[k])] for k in (row, col))
        assert heat.hover_label.full_text() == f"{i} ({emb.dataset.labels[int(heat.displayed_indices[row])]}) " \
            f"\u00d7 {j} ({emb.dataset.labels[int(heat.displayed_indices[col])]})"
        assert heat.hover_score.text() == f"cos {heat.matrix[row, col]:.3f}"
        now = (window.geometry(), heat.geometry(), heat.plot.geometry(), heat.sizeHint(), heat.minimumSizeHint(),
               _cell_pos(heat, 0, 0), _cell_pos(heat, 59, 59))
        assert now == before, f"hovering cell {(row, col)} moved the layout: {before} -> {now}"
    # a click where the mouse rests opens the pair the hover named, and moves nothing either
    for row, col in [(12, 40), (40, 12), (3, 57)]:
        pos = _cell_pos(heat, row, col)
        _hover(heat, qtbot, pos)
        named = heat.hovered
        qtbot.mouseClick(heat.plot.viewport(), Qt.LeftButton, pos=pos)
        i, j = int(heat.displayed_indices[named[0]]), int(heat.displayed_indices[named[1]])
        assert named == (row, col)
        assert (heat.left_card.index, heat.right_card.index) == (i, j)
        assert env.selection.selected.tolist() == sorted([i, j])
        assert heat.pair.isVisible()
        qtbot.wait(20)
        assert (window.geometry(), heat.geometry(), heat.plot.geometry()) == before[:3]
        assert heat.cell_at(heat.plot.mapToScene(pos)) == (row, col)  # the cell under the still mouse


def _axis_texts(axis):
    """The tick labels the colour bar's axis draws (pyqtgraph's own draw specs)."""
    from PySide6.QtGui import QImage, QPainter

    img = QImage(10, 10, QImage.Format_ARGB32)
    painter = QPainter(img)
    try:
        _axis, _ticks, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return texts


def _bright_pixels(image, rect) -> int:
    """Pixels of ``image`` inside ``rect`` (viewport pixels) brighter than the plot's black background."""
    from PySide6.QtCore import QRect

    r = rect.toAlignedRect().intersected(QRect(0, 0, image.width(), image.height()))
    count = 0
    for y in range(r.top(), r.bottom() + 1):
        for x in range(r.left(), r.right() + 1):
            if image.pixelColor(x, y).lightness() > 90:
                count += 1
    return count


def test_colour_bar_shows_numbers_on_collapsed_data(env, qtbot):
    from embedview.gui.views.heatmap import HeatmapView

    emb = _collapsed_digits(300)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 300, timeout=10000)
    _settled(heat, qtbot)
    lo, hi = heat.bar.levels()
    assert 0.998 < lo < hi < 1.0  # collapsed indeed, the diagonal left out
    texts = _axis_texts(heat.bar.axis)
    strings = [t[2] for t in texts]
    assert len(strings) >= 3 and len(set(strings)) == len(strings), strings
    values = [float(s.replace("\u2212", "-")) for s in strings]
    assert all(lo <= v <= hi for v in values) and values == sorted(values)
    # and they are painted: text pixels right of the gradient, at each label
    image = heat.plot.grab().toImage()
    axis = heat.bar.axis
    for rect, _flags, text in texts:
        where = heat.plot.mapFromScene(axis.mapRectToScene(rect)).boundingRect()
        assert _bright_pixels(image, QRectF(where)) >= 8 * len(text), f"{text!r} is not painted at {where}"
    # the -1 .. 1 scale has its numbers too
    heat.scale_box.setCurrentIndex(heat.scale_box.findData("full"))
    assert [t[2] for t in _axis_texts(heat.bar.axis)] == ["\u22121.0", "\u22120.5", "0.0", "0.5", "1.0"]


def _cell_colour(heat, image, row, col):
    pos = _cell_pos(heat, row, col)
    c = image.pixelColor(pos)
    return np.array([c.red(), c.green(), c.blue()], dtype=float)


@pytest.mark.parametrize("scale", ["data", "full"])
def test_on_three_items_no_pair_looks_like_the_diagonal(env, qtbot, scale):
    from embedview.gui.views.heatmap import DIAGONAL_COLOR, HeatmapView

    emb = digits_set(300)
    heat = env.add(HeatmapView)
    env.show()
    env.load(emb)
    env.model.views.heatmap.scale = scale
    env.selection.set_selection([0, 10, 20], "test")  # two 0s and another digit: one pair is very similar
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 3, timeout=10000)
    _settled(heat, qtbot)
    image = heat.plot.grab().toImage()
    diagonal = [_cell_colour(heat, image, k, k) for k in range(3)]
    for colour in diagonal:
        assert np.abs(colour - DIAGONAL_COLOR).max() <= 2, colour
    m = heat.matrix
    off = [(r, c) for r in range(3) for c in range(3) if r != c]
    top = max(off, key=lambda rc: m[rc])
    for r, c in off:
        colour = _cell_colour(heat, image, r, c)
        assert np.abs(colour - DIAGONAL_COLOR).max() > 40, f"pair {(r, c)} looks like the diagonal: {colour}"
    if scale == "data":  # the most similar pair is the top of the scale (yellow), the least the bottom
        assert _cell_colour(heat, image, *top)[[0, 1]].min() > 200
        assert heat.bar.levels()[1] == pytest.approx(float(m[top]))


def test_the_view_at_1280x800_shows_its_controls_uncut(env, qtbot, tmp_path):
    from embedview.gui.views.heatmap import HeatmapView

    emb = _photo_ids(_collapsed_digits(400))
    heat = env.add(HeatmapView)
    env.host.resize(1280, 800)
    env.show()
    env.load(emb)
    qtbot.waitUntil(lambda: len(heat.displayed_indices) == 300, timeout=10000)
    _settled(heat, qtbot)
    pos = _cell_pos(heat, 5, 250)
    _hover(heat, qtbot, pos)
    qtbot.mouseClick(heat.plot.viewport(), Qt.LeftButton, pos=pos)
    qtbot.wait(20)
    image = heat.grab()
    image.save(str(tmp_path / "heatmap-1280x800.png"))
    assert env.host.size().width() == 1280 and env.host.size().height() == 800
    inside = heat.rect()
    for widget in (heat.info, heat.scale_box, heat.plot, heat.hover_score, heat.hover_label, heat.pair,
                   heat.left_card, heat.right_card, heat.pair_score):
        r = widget.rect().translated(widget.mapTo(heat, widget.rect().topLeft()))
        assert widget.isVisible() and inside.contains(r), f"{widget} is cut: {r} not in {inside}"
    assert heat.scale_box.width() >= heat.scale_box.sizeHint().width()
    assert heat.hover_score.text().startswith("cos ") and heat.pair_score.text().startswith("cos ")
    assert heat.hover_label.text() == heat.hover_label.full_text()  # room for the whole pair at this size
    assert len(_axis_texts(heat.bar.axis)) >= 3
    # the whole matrix is on screen: its corners map inside the plot
    for row, col in [(0, 0), (299, 299)]:
        assert heat.plot.viewport().rect().contains(_cell_pos(heat, row, col))
