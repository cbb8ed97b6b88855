"""core.maps: colourings, the density image, picking and region hit tests, without Qt."""

from __future__ import annotations

import numpy as np
import pytest

from embedview.core.dataset import Dataset
from embedview.core.maps import (
    CONTINUOUS_LEVELS,
    MAX_CATEGORIES,
    OTHER_COLOR,
    build_coloring,
    build_tree,
    categorical_coloring,
    colormap_rgba,
    compare_coloring,
    continuous_coloring,
    draw_order,
    group_coloring,
    hex_to_rgba,
    nearest_point,
    points_in_box,
    points_in_polygon,
    sample_indices,
    view_content,
)


def _dataset(n: int = 6) -> Dataset:
    return Dataset("text", ids=[f"t{i}" for i in range(n)], sources=["t.txt"] * n, texts=["x"] * n,
                   labels=np.array(["10", "2", "2", None, "b", "2"][:n], dtype=object),
                   metadata={"year": [2001.0, 2002.0, None, 2004.0, 2005.0, 2006.0][:n],
                             "kind": ["a", "b", "a", "a", None, "b"][:n]})


def test_categories_in_natural_order_missing_grey_big_ones_drawn_first():
    c = categorical_coloring(["10", "2", "2", None, "b", "2"], "label", other="unlabelled")
    assert c.names == ["2", "10", "b"]  # numbers by value, then text
    assert c.codes.tolist() == [1, 0, 0, -1, 2, 0]
    assert [t for _, t in c.legend] == ["2 (3)", "10 (1)", "b (1)", "unlabelled (1)"]
    assert c.legend[-1][0] == OTHER_COLOR
    assert c.draw_order[:2] == [-1, 0]  # grey first, then the biggest class
    assert c.describe(4) == "label: b" and c.describe(3) == ""


def test_only_the_most_frequent_categories_get_colours():
    values = [f"v{i}" for i in range(MAX_CATEGORIES + 5) for _ in range(i + 1)]
    c = categorical_coloring(values, "many")
    assert len(c.names) == MAX_CATEGORIES and "v0" not in c.names  # the rarest are "other"
    assert (c.codes == -1).sum() == sum(range(1, 6))
    assert c.legend[-1][1].startswith("5 more values")


def test_continuous_codes_levels_and_fixed_range():
    c = continuous_coloring(np.array([0.0, 0.5, 1.0, np.nan]), "score")
    assert c.codes.tolist() == [0, CONTINUOUS_LEVELS // 2, CONTINUOUS_LEVELS - 1, -1]
    assert c.vrange == (0.0, 1.0) and c.continuous and c.colors.shape == (CONTINUOUS_LEVELS, 4)
    assert c.describe(3) == "score: n/a" and c.describe(1) == "score: 0.5"
    assert c.legend == [(OTHER_COLOR, "no value (1)")]


def test_disagreement_colours_use_a_fixed_zero_to_one_scale():
    ds = Dataset("text", ids=list("abcd"), sources=["t.txt"] * 4, texts=list("abcd"))
    narrow = compare_coloring(ds, "disagreement", np.array([0.2, 0.25, 0.3, np.nan]))
    assert narrow.vrange == (0.0, 1.0)  # not stretched over 0.2 .. 0.3: two comparisons read alike
    assert narrow.codes.tolist() == [int(0.2 * CONTINUOUS_LEVELS), int(0.25 * CONTINUOUS_LEVELS),
                                     int(0.3 * CONTINUOUS_LEVELS), -1]
    full = compare_coloring(ds, "disagreement", np.array([0.0, 0.5, 1.0, 1.0]))
    assert full.codes.tolist() == [0, CONTINUOUS_LEVELS // 2, CONTINUOUS_LEVELS - 1, CONTINUOUS_LEVELS - 1]
    assert full.cmap == "plasma"


def test_colormaps_end_at_their_known_colours():
    ends = colormap_rgba("viridis", np.array([0.0, 1.0]))
    assert ends[:, :3].tolist() == hex_to_rgba(["#440154", "#fde725"])[:, :3].tolist()
    mid = colormap_rgba("plasma", np.array([0.5]))[0]
    assert mid[:3].tolist() == hex_to_rgba(["#cb4678"])[0, :3].tolist()
    with pytest.raises(ValueError, match="unknown colour map"):
        colormap_rgba("jet", np.array([0.5]))


def test_build_coloring_by_name():
    ds = _dataset()
    assert build_coloring(ds, "label").title == "label"
    year = build_coloring(ds, "meta:year")  # few distinct numbers: categories
    assert not year.continuous and year.title == "year" and year.codes[2] == -1
    assert build_coloring(ds, "meta:kind").names == ["a", "b"]
    scores = np.arange(6, dtype=np.float64)
    out = build_coloring(ds, "outliers", scores)
    assert out.continuous and out.codes[-1] == CONTINUOUS_LEVELS - 1
    dup = build_coloring(ds, "duplicates", [[0, 1], [3, 4, 5]])
    assert dup.group_ids.tolist() == [0, 0, -1, 1, 1, 1] and dup.describe(2) == "not duplicated"
    for missing in ("none", "outliers", "meta:nope", "nonsense"):  # nothing to colour by: one colour
        plain = build_coloring(ds, missing)
        assert plain.codes.tolist() == [0] * 6 and plain.n_colors == 1


def test_group_colours_repeat():
    groups = [[2 * g, 2 * g + 1] for g in range(MAX_CATEGORIES + 1)]
    c = group_coloring(groups, 2 * len(groups) + 3)
    assert c.codes[2 * MAX_CATEGORIES] == 0 and c.group_ids[2 * MAX_CATEGORIES] == MAX_CATEGORIES
    assert (c.codes[-3:] == -1).all()


def test_draw_order_puts_grey_first_and_big_classes_under_small_ones():
    c = categorical_coloring(["a", "a", "a", "b", None], "x")
    order = draw_order(c, c.codes)
    assert c.codes[order].tolist() == [-1, 0, 0, 0, 1]


def test_density_cells_take_the_dominant_category():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1, size=(3000, 2)).astype(np.float32)
    labels = rng.choice(["a", "b", "c"], size=3000, p=[0.5, 0.3, 0.2])
    coloring = categorical_coloring(list(labels), "label")
    kind, rgba, _ = view_content(xy, coloring, (0.0, 0.0, 1.0, 1.0), (6, 5), threshold=100)
    assert kind == "density" and rgba.shape == (5, 6, 4)
    table = coloring.rgba_table()
    for cy in range(5):
        for cx in range(6):
            inside = (np.floor(xy[:, 0] * 6) == cx) & (np.floor(xy[:, 1] * 5) == cy)
            counts = np.bincount(coloring.codes[inside], minlength=3)
            assert rgba[cy, cx, :3].tolist() == table[int(np.argmax(counts)), :3].tolist()


def test_density_of_a_continuous_colouring_is_the_cell_mean_and_few_points_stay_points():
    xy = np.array([[0.1, 0.1], [0.2, 0.2], [0.9, 0.9]] * 10, dtype=np.float32)
    values = np.array([0.0, 1.0, 0.25] * 10)
    c = continuous_coloring(values, "v", vrange=(0.0, 1.0))
    kind, rgba, _ = view_content(xy, c, (0.0, 0.0, 1.0, 1.0), (2, 2), threshold=5)
    assert kind == "density"
    assert rgba[0, 0, :3].tolist() == c.colors[CONTINUOUS_LEVELS // 2, :3].tolist()  # mean 0.5
    assert rgba[1, 1, :3].tolist() == c.colors[CONTINUOUS_LEVELS // 4, :3].tolist()
    assert rgba[0, 1, 3] == 0 and rgba[0, 0, 3] > 0  # empty cells transparent
    kind, idx = view_content(xy, c, (0.5, 0.5, 1.0, 1.0), (2, 2), threshold=10)[:2]
    assert kind == "points" and idx.tolist() == list(range(2, 30, 3))


def test_nearest_point_with_a_tree_equals_brute_force():
    rng = np.random.default_rng(1)
    xy = rng.normal(size=(2000, 2)) * np.array([3.0, 1.0])
    tree = build_tree(xy)
    hits = 0
    for x, y in rng.normal(size=(300, 2)) * np.array([3.0, 1.0]):
        got = nearest_point(xy, x, y, (0.01, 0.01), 10, tree)
        assert got == nearest_point(xy, x, y, (0.01, 0.01), 10, None)
        hits += got >= 0
    assert hits > 50
    assert nearest_point(xy[:0], 0.0, 0.0, (1.0, 1.0)) == -1


def test_box_takes_its_corners_in_any_order_edges_included():
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    assert points_in_box(xy, 1.0, 2.0, 0.0, 0.0).tolist() == [0, 1]


def test_polygon_hit_test_matches_reference_on_a_concave_shape():
    rng = np.random.default_rng(3)
    pts = rng.uniform(-1, 1, size=(4000, 2))
    # a concave "C" shape
    poly = np.array([[-0.8, -0.8], [0.8, -0.8], [0.8, -0.4], [-0.3, -0.4], [-0.3, 0.4], [0.8, 0.4], [0.8, 0.8],
                     [-0.8, 0.8]])
    got = points_in_polygon(pts, poly)
    x, y = pts[:, 0], pts[:, 1]
    outer = (np.abs(x) < 0.8) & (np.abs(y) < 0.8)
    notch = (x > -0.3) & (np.abs(y) < 0.4)
    assert got.tolist() == np.flatnonzero(outer & ~notch).tolist()
    assert points_in_polygon(pts, poly[:2]).size == 0  # not a polygon


def test_sample_is_fixed_sorted_and_complete_below_the_limit():
    assert sample_indices(5, 10).tolist() == [0, 1, 2, 3, 4]
    a, b = sample_indices(1000, 100), sample_indices(1000, 100)
    assert np.array_equal(a, b) and len(np.unique(a)) == 100 and (np.diff(a) > 0).all()


def test_isolating_labels_from_the_legend():
    from embedview.core.maps import (
        DIM_ALPHA,
        OTHER_KEY,
        categorical_coloring,
        continuous_coloring,
        highlight_coloring,
        legend_keys,
        next_highlight,
    )

    labels = np.array(["cat", "dog", "cat", None, "eel", "dog"], dtype=object)
    c = categorical_coloring(labels, "label")
    assert legend_keys(c) == ["cat", "dog", "eel", OTHER_KEY]  # one key per legend row, the grey row last
    assert legend_keys(continuous_coloring(np.arange(6.0), "score")) == [None] * len(
        continuous_coloring(np.arange(6.0), "score").legend)

    # a click isolates, a click on the isolated one alone shows all, Ctrl/Shift adds and removes
    assert next_highlight((), "dog", False) == ("dog",)
    assert next_highlight(("dog",), "dog", False) == ()
    assert next_highlight(("dog",), "cat", False) == ("cat",)
    assert next_highlight(("dog",), "cat", True) == ("dog", "cat")
    assert next_highlight(("dog", "cat"), "dog", True) == ("cat",)
    assert next_highlight(("dog", "cat"), None, False) == ()

    h = highlight_coloring(c, ["dog"])
    table = h.rgba_table()
    dog, cat = c.names.index("dog"), c.names.index("cat")
    assert np.array_equal(table[h.codes[1]], c.rgba_table()[c.codes[1]])  # dog keeps its colour
    assert table[h.codes[0]][3] == DIM_ALPHA and table[h.codes[3]][3] == DIM_ALPHA  # cat, unlabelled: faint
    assert h.draw_order[-1] == dog and h.draw_order.index(cat) < h.draw_order.index(dog)  # dog on top
    assert np.array_equal(h.codes >= 0, np.ones(6, bool))  # the grey items have a colour of their own
    assert sorted(h.draw_order) == list(range(h.n_colors))
    assert highlight_coloring(c, ["no such label"]) is c and highlight_coloring(c, []) is c
    with_other = highlight_coloring(c, [OTHER_KEY])
    assert with_other.rgba_table()[with_other.codes[3]][3] == 255  # the unlabelled ones isolated
