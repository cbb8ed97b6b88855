"""What a 2-D map of the items shows, computed without Qt: colourings, density images, picking.

The Map view and the Compare view's maps draw through one canvas (``gui/canvas.py``); every
number it draws comes from here, so it is tested without a display and runs in worker threads:

* :class:`Coloring`: an integer colour code per item (-1: grey "other"), the colours as an RGBA
  table, the legend rows and the drawing order.  Built by :func:`categorical_coloring` (labels,
  a metadata column), :func:`continuous_coloring` (outlier scores, a numeric column, the Compare
  view's neighbour disagreement), :func:`group_coloring` (duplicate groups), and chosen by name
  with :func:`build_coloring` / :func:`compare_coloring`.
* :func:`view_content`: what to draw for the part of the map in view: the points' indices, or
  above a threshold a density image (``numpy.bincount`` on a grid of cells, each cell the colour
  of its dominant category or its mean value).
* :func:`draw_order`: the order to paint points in (big categories under small ones).
* picking and region selection: :func:`build_tree`, :func:`nearest_point`, :func:`points_in_box`,
  :func:`points_in_polygon`, and :func:`sample_indices` for maps that draw a fixed sample.

Colours are ``#rrggbb`` strings and ``(n, 4) uint8`` RGBA arrays; the palette and the two colour
maps (viridis, plasma: the same as pyqtgraph's within 2 of 255) live here so colours need no Qt.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedview.core.dataset import Dataset

#: a column of values: a list, or a numpy array
Values = Sequence[Any] | np.ndarray

#: categories with their own colour; the rest are drawn grey as "other"
MAX_CATEGORIES = 20
#: colour steps of a continuous colouring
CONTINUOUS_LEVELS = 24
#: hover / click pick radius in screen pixels
PICK_RADIUS_PX = 10

#: Tableau-10 (distinct and reasonably colour-blind friendly), then its lighter companions.
PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
]
#: items outside every named category (unlabelled, "other", not in a duplicate group)
OTHER_COLOR = "#a0a0a0"
#: the one colour of an uncoloured map
PLAIN_COLOR = "#3b6fb6"

#: 33 evenly spaced stops of each colour map (pyqtgraph's / matplotlib's), interpolated linearly
_COLORMAP_STOPS = {
    "viridis": "440154 460c5f 481769 482273 472c7a 453681 423f85 3e4889 3b518b 375a8c 33628d 2f6a8e 2c718e "
               "29798e 26818e 23888e 21908c 1f978b 1f9f88 21a685 27ad80 31b57a 3dbc73 4cc26b 5cc862 6ece57 "
               "81d34c 95d83f aadc31 c0df24 d5e219 eae51a fde725",
    "plasma": "0d0887 21068f 300596 3e049c 4b02a1 5801a4 6500a7 7100a8 7d03a8 8908a5 9410a1 9f199c a92295 "
              "b22b8e bb3487 c33d7f cb4678 d24f71 d9586a df6263 e56b5c eb7555 f07f4e f48947 f89440 fb9f39 "
              "fdab33 feb72c fdc327 fcd025 f8dd25 f4eb27 f0f921",
}


# -- colours -----------------------------------------------------------------------------------------
def categorical_palette(n: int) -> list[str]:
    """``n`` distinguishable colours: the fixed palette first, then hues spread by the golden ratio."""
    out = list(PALETTE[:n])
    hue = 0.11
    while len(out) < n:
        hue = (hue + 0.618034) % 1.0
        r, g, b = colorsys.hsv_to_rgb(hue, 0.65, 0.85)
        out.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return out


def hex_to_rgba(colors: Sequence[str], alpha: int = 255) -> np.ndarray:
    """``#rrggbb`` strings -> ``(n, 4) uint8``."""
    out = np.full((len(colors), 4), alpha, dtype=np.uint8)
    for i, c in enumerate(colors):
        c = c.lstrip("#")
        out[i, :3] = [int(c[k:k + 2], 16) for k in (0, 2, 4)]
    return out


def rgba_to_hex(rgba: np.ndarray) -> list[str]:
    return [f"#{int(r):02x}{int(g):02x}{int(b):02x}" for r, g, b in np.asarray(rgba).reshape(-1, 4)[:, :3]]


def colormap_rgba(name: str, positions: np.ndarray) -> np.ndarray:
    """Colour map ``name`` ("viridis" or "plasma") at ``positions`` in 0..1 as ``(n, 4) uint8``."""
    try:
        stops = hex_to_rgba(_COLORMAP_STOPS[name].split()).astype(np.float64)
    except KeyError as exc:
        raise ValueError(f"unknown colour map {name!r}; known: {sorted(_COLORMAP_STOPS)}") from exc
    pos = np.clip(np.asarray(positions, dtype=np.float64).reshape(-1), 0.0, 1.0)
    grid = np.linspace(0.0, 1.0, len(stops))
    out = np.full((len(pos), 4), 255, dtype=np.uint8)
    for k in range(3):
        out[:, k] = np.round(np.interp(pos, grid, stops[:, k])).astype(np.uint8)
    return out


# -- colourings --------------------------------------------------------------------------------------
@dataclass
class Coloring:
    """How every item is coloured: an integer code per item into ``colors`` (-1: grey).

    ``legend`` is the list of ``(#rrggbb, text)`` rows to show; ``draw_order`` the codes, first
    drawn first (-1 included).  Continuous colourings also carry ``values``, the colour map name
    ``cmap`` and ``vrange`` for the colour bar and the density image's per-cell mean.
    """

    title: str
    codes: np.ndarray
    colors: np.ndarray  # (n_colors, 4) uint8
    legend: list[tuple[str, str]] = field(default_factory=list)
    values: np.ndarray | None = None
    cmap: str = ""
    vrange: tuple[float, float] = (0.0, 1.0)
    draw_order: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # name of each code (categorical)
    group_ids: np.ndarray | None = None  # duplicate group of each item (-1: none)

    @property
    def continuous(self) -> bool:
        return self.values is not None

    @property
    def n_colors(self) -> int:
        return len(self.colors)

    def rgba_table(self) -> np.ndarray:
        """(n_colors + 1, 4) uint8; the last row is the grey of code -1."""
        return np.vstack([np.asarray(self.colors, dtype=np.uint8).reshape(-1, 4), hex_to_rgba([OTHER_COLOR])])

    def describe(self, i: int) -> str:
        """The colouring's value for item ``i`` as a line for the hover card."""
        if self.values is not None:
            v = self.values[i]
            return f"{self.title}: {v:.4g}" if np.isfinite(v) else f"{self.title}: n/a"
        if self.group_ids is not None:
            g = int(self.group_ids[i])
            return f"{self.title} {g}" if g >= 0 else "not duplicated"
        code = int(self.codes[i])
        return f"{self.title}: {self.names[code]}" if 0 <= code < len(self.names) else ""


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _natural_key(name: str) -> tuple[int, float, str]:
    """Sort numbers by value ("2" before "10"), then text."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def categorical_coloring(values: Values, title: str, other: str = "other") -> Coloring:
    """Colour by a column of categories: the :data:`MAX_CATEGORIES` most frequent get colours.

    One pass of plain Python with a dict (no ``np.unique`` over strings), so a worker thread
    running it on a million items never holds the GIL for long and the window stays responsive.
    """
    lookup: dict[str, int] = {}

    def code(v: Any) -> int:
        if _missing(v):
            return -1
        key = str(v)
        c = lookup.get(key)
        if c is None:
            c = lookup[key] = len(lookup)
        return c

    raw = np.fromiter((code(v) for v in values), dtype=np.int64, count=len(values))
    distinct = list(lookup)
    counts = np.bincount(raw[raw >= 0], minlength=len(distinct))
    top = sorted(np.argsort(-counts, kind="stable")[:MAX_CATEGORIES].tolist(), key=lambda t: _natural_key(distinct[t]))
    remap = np.full(len(distinct) + 1, -1, dtype=np.int32)  # the extra last slot maps raw -1 to -1
    remap[top] = np.arange(len(top), dtype=np.int32)
    codes = remap[raw]
    names = [distinct[t] for t in top]
    colors = categorical_palette(len(top))
    legend = [(c, f"{name} ({counts[t]:,})") for c, name, t in zip(colors, names, top, strict=True)]
    dropped = len(distinct) - len(top)
    n_other = int((codes == -1).sum())
    if n_other:
        what = f"{dropped:,} more values" if dropped else other
        if dropped and (raw == -1).any():
            what += f" / {other}"
        legend.append((OTHER_COLOR, f"{what} ({n_other:,})"))
    sizes = np.bincount(codes[codes >= 0], minlength=len(names))
    draw = [-1] + [int(c) for c in np.argsort(-sizes, kind="stable")]  # big classes under small ones
    return Coloring(title=title, codes=codes, colors=hex_to_rgba(colors), legend=legend, names=names, draw_order=draw)


def continuous_coloring(values: Values, title: str, cmap: str = "viridis",
                        vrange: tuple[float, float] | None = None) -> Coloring:
    """Colour by a number per item (NaN / None grey), quantised into :data:`CONTINUOUS_LEVELS`
    over ``vrange`` (default: the values' own range)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        vals = values.astype(np.float64)
    else:
        vals = np.fromiter((np.nan if _missing(v) else float(v) for v in values), dtype=np.float64, count=len(values))
    finite = np.isfinite(vals)
    if vrange is not None:
        lo, hi = float(vrange[0]), float(vrange[1])
    else:
        lo, hi = (float(vals[finite].min()), float(vals[finite].max())) if finite.any() else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    codes = np.full(len(vals), -1, dtype=np.int32)
    codes[finite] = np.clip(((vals[finite] - lo) / (hi - lo) * CONTINUOUS_LEVELS).astype(np.int32), 0,
                            CONTINUOUS_LEVELS - 1)
    centres = (np.arange(CONTINUOUS_LEVELS) + 0.5) / CONTINUOUS_LEVELS
    legend = []
    if (~finite).any():
        legend.append((OTHER_COLOR, f"no value ({int((~finite).sum()):,})"))
    return Coloring(title=title, codes=codes, colors=colormap_rgba(cmap, centres), legend=legend, values=vals,
                    cmap=cmap, vrange=(lo, hi), draw_order=[-1] + list(range(CONTINUOUS_LEVELS)))


def group_coloring(groups: Sequence[Sequence[int]], n: int, title: str = "duplicate group") -> Coloring:
    """Colour members of each group (colours repeat every :data:`MAX_CATEGORIES` groups), others grey."""
    codes = np.full(n, -1, dtype=np.int32)
    gid = np.full(n, -1, dtype=np.int64)
    for g, members in enumerate(groups):
        idx = np.asarray(members, dtype=np.int64)
        codes[idx] = g % MAX_CATEGORIES
        gid[idx] = g
    colors = categorical_palette(MAX_CATEGORIES)
    in_groups = int((codes >= 0).sum())
    legend = [(colors[0], f"{len(groups):,} groups, {in_groups:,} items (a colour per group)"),
              (OTHER_COLOR, f"not duplicated ({n - in_groups:,})")]
    return Coloring(title=title, codes=codes, colors=hex_to_rgba(colors), legend=legend, group_ids=gid,
                    draw_order=[-1] + list(range(MAX_CATEGORIES)))


def plain_coloring(n: int) -> Coloring:
    """Every item the same colour (colour by "none")."""
    return Coloring(title="", codes=np.zeros(n, dtype=np.int32), colors=hex_to_rgba([PLAIN_COLOR]), draw_order=[0])


def numeric_column(values: Values) -> np.ndarray | None:
    """The column as floats if every present value is a real number (not bool), else None."""
    if isinstance(values, np.ndarray):
        return values.astype(np.float64) if values.dtype.kind in "iuf" else None
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if _missing(v):
            out[i] = np.nan
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
            out[i] = float(v)
        else:
            return None
    return out


#: colour-by choices that are not a metadata column ("meta:<column>" is one)
COLOR_CHOICES = ("none", "label", "outliers", "duplicates")


def meta_choice(column: str) -> str:
    """The colour-by name of metadata column ``column``."""
    return f"meta:{column}"


def build_coloring(dataset: Dataset, color_by: str, analysis: Any = None, progress: Any = None) -> Coloring:
    """The :class:`Coloring` for a colour-by choice (runs in a worker thread).

    ``color_by`` is "none", "label", "outliers", "duplicates" or "meta:<column>"; ``analysis`` is
    the matching result (``OutlierScores`` / ``DuplicateFinder``, or their plain arrays) where
    one is needed.  A choice the data cannot serve colours nothing.
    """
    n = len(dataset)
    kind, _, column = str(color_by).partition(":")
    if kind == "label" and dataset.labels is not None:
        return categorical_coloring(dataset.labels, "label", other="unlabelled")
    if kind == "outliers" and analysis is not None:
        scores = np.asarray(getattr(analysis, "scores_", analysis), dtype=np.float64)
        return continuous_coloring(scores, "outlier score", "viridis")
    if kind == "duplicates" and analysis is not None:
        return group_coloring(getattr(analysis, "groups_", analysis), n)
    if kind == "meta" and column in dataset.metadata:
        col = dataset.metadata[column]
        numeric = numeric_column(col)
        if numeric is not None and len(np.unique(numeric[np.isfinite(numeric)])) > MAX_CATEGORIES:
            return continuous_coloring(numeric, str(column))
        return categorical_coloring(list(col), str(column), other="missing")
    return plain_coloring(n)


def disagreement_coloring(disagreement: np.ndarray) -> Coloring:
    """Neighbour disagreement between encoders (0 agree .. 1 no shared neighbour) on a fixed 0..1
    scale, so two comparisons read the same."""
    return continuous_coloring(np.asarray(disagreement, dtype=np.float64), "neighbour disagreement", "plasma",
                               vrange=(0.0, 1.0))


def compare_coloring(dataset: Dataset, color_by: str, disagreement: np.ndarray | None,
                     progress: Any = None) -> Coloring:
    """The Compare view's colouring: "label", else "disagreement" (a worker-thread job)."""
    if color_by == "label" and dataset.labels is not None:
        return build_coloring(dataset, "label")
    if disagreement is None:
        return plain_coloring(len(dataset))
    return disagreement_coloring(disagreement)


def draw_order(coloring: Coloring, codes: np.ndarray) -> np.ndarray:
    """The permutation that paints points with colour ``codes`` in the colouring's drawing order
    (stable: within a colour the given order)."""
    codes = np.asarray(codes, dtype=np.int64)
    rank = np.zeros(coloring.n_colors + 1, dtype=np.int64)
    rank[np.asarray(coloring.draw_order, dtype=np.int64) + 1] = np.arange(len(coloring.draw_order))
    return np.argsort(rank[codes + 1], kind="stable")


# -- isolating labels from the legend -----------------------------------------------------------------
#: the key of a categorical legend's "other" / "unlabelled" row (items with code -1)
OTHER_KEY = "\u2026other"
#: how much of its colour a dimmed category keeps (the rest is grey) and its opacity
DIM_KEEP, DIM_ALPHA = 0.25, 60


def legend_keys(coloring: Coloring) -> list[str | None]:
    """The category each legend row stands for (a name, :data:`OTHER_KEY` for the grey row), or
    None for rows that are not a category (continuous colourings, duplicate groups)."""
    if coloring.continuous or coloring.group_ids is not None or not coloring.names:
        return [None] * len(coloring.legend)
    keys: list[str | None] = list(coloring.names[:len(coloring.legend)])
    keys += [OTHER_KEY] * (len(coloring.legend) - len(keys))
    return keys


def next_highlight(current: Sequence[str], key: str | None, additive: bool) -> tuple[str, ...]:
    """The isolated labels after a click on legend row ``key`` (None: "show all"): a plain click
    isolates that label, or shows all again when it alone was isolated; ``additive`` (Ctrl /
    Shift) adds it to or removes it from the isolated ones."""
    cur = tuple(current)
    if key is None:
        return ()
    if additive:
        return tuple(k for k in cur if k != key) if key in cur else cur + (key,)
    return () if cur == (key,) else (key,)


def highlight_coloring(coloring: Coloring, keys: Sequence[str]) -> Coloring:
    """``coloring`` with only the categories ``keys`` in full colour: the others greyed and faint,
    drawn first (underneath).  Keys the colouring does not have are ignored; none left: unchanged."""
    offered = {k for k in legend_keys(coloring) if k is not None}
    wanted = set(keys) & offered
    if not wanted:
        return coloring
    n = coloring.n_colors
    on = np.array([name in wanted for name in coloring.names[:n]] + [False] * max(0, n - len(coloring.names))
                  + [OTHER_KEY in wanted])
    rgba = np.vstack([np.asarray(coloring.colors, dtype=np.uint8).reshape(-1, 4),
                      hex_to_rgba([OTHER_COLOR])]).astype(np.float64)
    grey = np.array([160.0, 160.0, 160.0])
    dim = ~on
    rgba[dim, :3] = DIM_KEEP * rgba[dim, :3] + (1 - DIM_KEEP) * grey
    rgba[dim, 3] = DIM_ALPHA
    codes = np.asarray(coloring.codes)
    codes = np.where(codes < 0, n, codes).astype(codes.dtype)  # the grey items get a colour of their own
    order = [c if c >= 0 else n for c in coloring.draw_order]
    order += [c for c in range(n + 1) if c not in order]
    order = [c for c in order if dim[c]] + [c for c in order if on[c]]
    return Coloring(title=coloring.title, codes=codes, colors=rgba.round().astype(np.uint8), legend=coloring.legend,
                    values=coloring.values, cmap=coloring.cmap, vrange=coloring.vrange, draw_order=order,
                    names=list(coloring.names) + ["other"], group_ids=coloring.group_ids)


# -- density image -----------------------------------------------------------------------------------
def view_content(xy: np.ndarray, coloring: Coloring, rect: tuple[float, float, float, float],
                 shape: tuple[int, int], threshold: int, progress: Any = None) -> tuple:
    """What to draw for the view ``rect = (x0, y0, w, h)`` on a grid of ``shape = (nx, ny)`` cells.

    Returns ``("points", indices)`` when at most ``threshold`` points are in view, else
    ``("density", rgba (ny, nx, 4) uint8, rect)``: each cell the colour of its most frequent
    category (ties: the lower code) or of its mean value, opacity by log count.
    """
    x0, y0, w, h = rect
    nx, ny = shape
    x, y = xy[:, 0], xy[:, 1]
    inside = (x >= x0) & (x < x0 + w) & (y >= y0) & (y < y0 + h)
    count = int(np.count_nonzero(inside))
    if count <= threshold:
        return ("points", np.flatnonzero(inside))
    if progress is not None:
        progress.check()
    cells = nx * ny
    sel = np.flatnonzero(inside)
    ix = ((x[sel] - x0) * (nx / w)).astype(np.int64)
    iy = ((y[sel] - y0) * (ny / h)).astype(np.int64)
    np.clip(ix, 0, nx - 1, out=ix)
    np.clip(iy, 0, ny - 1, out=iy)
    pix = iy * nx + ix
    total = np.bincount(pix, minlength=cells)
    table = coloring.rgba_table()
    n_colors = coloring.n_colors
    if coloring.values is not None:  # colour of the cell's mean value
        vals = coloring.values[sel]
        ok = np.isfinite(vals)
        sums = np.bincount(pix[ok], weights=vals[ok], minlength=cells)
        nval = np.bincount(pix[ok], minlength=cells)
        lo, hi = coloring.vrange
        mean = np.divide(sums, nval, out=np.zeros(cells), where=nval > 0)
        best = np.clip(((mean - lo) / (hi - lo) * n_colors).astype(np.int64), 0, n_colors - 1)
        best[nval == 0] = -1
    else:  # colour of the cell's most frequent category (ties: the lower code)
        best = np.full(cells, -1, dtype=np.int64)
        best_count = np.zeros(cells, dtype=np.int64)
        codes = coloring.codes[sel]
        for code in range(n_colors):
            if progress is not None:
                progress.check()
            members = pix[codes == code]
            if members.size == 0:
                continue
            cnt = np.bincount(members, minlength=cells)
            better = cnt > best_count
            best_count[better] = cnt[better]
            best[better] = code
    rgba = table[best].copy()  # -1 indexes the last row: grey
    filled = total > 0
    alpha = np.zeros(cells, dtype=np.float64)
    alpha[filled] = 70 + 185 * np.log1p(total[filled]) / math.log1p(total.max())
    rgba[:, 3] = alpha.astype(np.uint8)
    return ("density", rgba.reshape(ny, nx, 4), rect)


# -- picking and regions -----------------------------------------------------------------------------
def build_tree(xy: np.ndarray, progress: Any = None) -> Any:
    """A ``cKDTree`` over the map's points (for hover and click; a runner job)."""
    from scipy.spatial import cKDTree

    return cKDTree(xy)


def nearest_point(xy: np.ndarray, x: float, y: float, pixel_size: tuple[float, float],
                  radius_px: float = PICK_RADIUS_PX, tree: Any = None) -> int:
    """Index of the point nearest to ``(x, y)`` in screen pixels, or -1 if none within ``radius_px``.

    ``pixel_size`` is the data size of one screen pixel ``(sx, sy)``.  With a ``tree`` only the
    tree's nearest candidates are checked (exact when ``sx == sy``, as on the aspect-locked map);
    without one, every point (the brute-force reference).
    """
    sx, sy = (float(pixel_size[0]) or 1.0), (float(pixel_size[1]) or 1.0)
    if len(xy) == 0:
        return -1
    idx: np.ndarray | None = None
    cand = xy
    if tree is not None:
        k = min(16, len(xy))
        _, found = tree.query([x, y], k=k, distance_upper_bound=radius_px * max(sx, sy))
        idx = np.atleast_1d(found)
        idx = idx[idx < len(xy)]
        if idx.size == 0:
            return -1
        cand = xy[idx]
    d2 = ((cand[:, 0] - x) / sx) ** 2 + ((cand[:, 1] - y) / sy) ** 2
    j = int(np.argmin(d2))
    if d2[j] > radius_px * radius_px:
        return -1
    return int(idx[j]) if idx is not None else j


def points_in_box(xy: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Indices of the rows of ``xy`` (N, 2) inside the box with corners ``(x0, y0)``, ``(x1, y1)``
    (in any order; edges included)."""
    lx, hx = min(x0, x1), max(x0, x1)
    ly, hy = min(y0, y1), max(y0, y1)
    x, y = xy[:, 0], xy[:, 1]
    return np.flatnonzero((x >= lx) & (x <= hx) & (y >= ly) & (y <= hy))


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray, progress: Any = None) -> np.ndarray:
    """Indices of the rows of ``xy`` (N, 2) inside ``polygon`` (M, 2), even-odd rule (a lasso;
    also a runner job).

    Only points inside the polygon's bounding box are tested.  They are sorted by y once; each
    edge then toggles the parity of just the points in its y-band (found with ``searchsorted``),
    so the cost is about N log N plus N times the edges a horizontal line crosses, not N x M.
    """
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(poly) < 3 or len(xy) == 0:
        return np.empty(0, dtype=np.int64)
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    x, y = xy[:, 0], xy[:, 1]
    cand = np.flatnonzero((x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]))
    if len(cand) == 0:
        return cand.astype(np.int64)
    order = np.argsort(y[cand], kind="stable")
    ys = y[cand][order].astype(np.float64)
    xs = x[cand][order].astype(np.float64)
    inside = np.zeros(len(cand), dtype=bool)
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    for ax, ay, bx, by in zip(x1, y1, x2, y2, strict=True):
        if ay == by:
            continue
        # the edge crosses the horizontal line at height p when min(ay, by) <= p < max(ay, by)
        a = np.searchsorted(ys, min(ay, by), side="left")
        b = np.searchsorted(ys, max(ay, by), side="left")
        if a == b:
            continue
        x_cross = ax + (ys[a:b] - ay) * ((bx - ax) / (by - ay))
        inside[a:b] ^= xs[a:b] < x_cross
    return np.sort(cand[order[inside]]).astype(np.int64)


def sample_indices(n: int, max_points: int | None, seed: int = 0) -> np.ndarray:
    """All of ``0..n-1``, or a fixed sorted random sample of ``max_points`` of them."""
    if max_points is None or n <= max_points:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_points, replace=False)).astype(np.int64)


def fit_box(xy: np.ndarray) -> tuple[float, float, float, float]:
    """``(x0, y0, w, h)`` around every point (never a zero size)."""
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.maximum(hi - lo, 1e-6)
    return float(lo[0]), float(lo[1]), float(span[0]), float(span[1])
