"""One self-contained HTML report of an embedding (or of several encoders side by side).

:func:`write_report` runs :class:`~embedview.core.checks.Checks` (unless given fitted ones),
computes a 2-D map and writes **one** ``.html`` file that needs nothing else: CSS inline,
plots as inline SVG drawn by the small helpers below (no matplotlib, no JavaScript), image
thumbnails as small base64 JPEG ``data:`` URIs.  It opens offline, can be mailed or attached to
a CI run, and prints cleanly.

Contents, top to bottom: the collapse verdict of every encoder (the headline), the data
summary and the problems met loading it, the metrics table (one column per encoder), the
encoder comparison (linear CKA and kNN overlap) when the encoders saw the same items, the
checks that were skipped and why, then per encoder: the collapse plots (singular-value
spectrum, per-dimension spread, pairwise-cosine histogram), the 2-D map coloured by label, the
duplicate groups and the most isolated items.

All user text (ids, labels, texts, file names, problem messages) goes through
:func:`html.escape`.  ``include_paths=False`` writes a report to share: every absolute path in that
text (an image's source in its tooltip, a problem's file, an ``sbert:/folder`` encoder name) is cut
to its last part, the file name.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from embedview import __version__
from embedview.core.checks import Checks, jsonable
from embedview.core.compare import comparison
from embedview.core.embeddings import EmbeddingSet
from embedview.core.export import atomic_path
from embedview.core.metric_table import get_path, row_help, table_rows
from embedview.core.progress import TaskState

#: duplicate groups shown per encoder, and items shown per group
MAX_DUP_GROUPS = 24
MAX_DUP_ITEMS = 6
#: most isolated items shown per encoder
MAX_OUTLIERS = 8
#: items shown per finding kind in the Findings section
MAX_FINDINGS = 8
#: longest side of an embedded thumbnail, in pixels, and its JPEG quality
THUMB_SIZE = 72
THUMB_QUALITY = 70
#: points on the map that get a hover tooltip (each costs a ``<title>`` element)
MAX_TOOLTIPS = 3000

# ==============================================================================================
# small SVG plotting helpers
# ==============================================================================================

#: categorical colours (Tableau 10, then a second set), readable on white and in print
PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
]  # fmt: skip
#: colour of unlabelled points and of the labels beyond the palette
OTHER_COLOUR = "#b4b4b4"
# Styles as SVG presentation attributes (not CSS classes), so every plot is correct on its own too.
_FONT = 'font-family="system-ui, sans-serif"'
_TITLE = 'font-size="12" font-weight="600" fill="#1d2330"'
_TICK = 'font-size="10" fill="#5d6675"'
_LABEL = 'font-size="11" fill="#5d6675"'
_GRID = 'stroke="#eef0f4"'
_AXIS = 'stroke="#9aa3b0" fill="none"'
_LINE = 'fill="none" stroke="#4e79a7" stroke-width="1.6"'
_BAR = 'fill="#4e79a7" fill-opacity="0.8"'


def _num(v: float) -> str:
    """Compact tick label: ``0.25``, ``120``, ``1e-05``."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    if a < 1e-3:
        mantissa, exp = f"{v:.0e}".split("e")
        return f"{mantissa}e{int(exp)}"
    return f"{v:.3g}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round values (steps of 1, 2, 2.5 or 5 times a power of ten) within ``[lo, hi]``."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw * 0.999)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


class _Plot:
    """One plot area inside an SVG: maps data to pixels, draws the frame, ticks and titles."""

    LEFT, RIGHT, TOP, BOTTOM = 50, 12, 26, 38

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], *, width: int = 330,
                 height: int = 210, log_y: bool = False, title: str = "", xlabel: str = "", ylabel: str = ""):
        self.width, self.height, self.log_y = width, height, log_y
        self.x0, self.x1 = float(x_range[0]), float(x_range[1])
        y0, y1 = float(y_range[0]), float(y_range[1])
        if log_y:
            y0, y1 = math.log10(y0), math.log10(y1)
        self.x1 = self.x1 if self.x1 > self.x0 else self.x0 + 1.0
        self.y0, self.y1 = y0, (y1 if y1 > y0 else y0 + 1.0)
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel

    def x(self, v: float) -> float:
        return self.LEFT + (v - self.x0) / (self.x1 - self.x0) * (self.width - self.LEFT - self.RIGHT)

    def y(self, v: float) -> float:
        if self.log_y:
            v = math.log10(max(v, 10.0**self.y0))
        return self.TOP + (1 - (v - self.y0) / (self.y1 - self.y0)) * (self.height - self.TOP - self.BOTTOM)

    def _y_ticks(self) -> list[float]:
        if not self.log_y:
            return _ticks(self.y0, self.y1, 4)
        exps = list(range(math.ceil(self.y0 - 1e-9), math.floor(self.y1 + 1e-9) + 1))
        step = max(1, math.ceil(len(exps) / 5))
        return [10.0**e for e in exps[::step]]

    def svg(self, body: Sequence[str], x_ticks: Sequence[float] | None = None) -> str:
        """The complete ``<svg>`` element: grid, ticks and labels around ``body``."""
        W, H = self.width, self.height
        left, right, base = self.LEFT, W - self.RIGHT, H - self.BOTTOM
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" class="plot" '
            f'{_FONT} role="img" aria-label="{html.escape(self.title)}">',
            f'<text x="{W / 2:.1f}" y="16" text-anchor="middle" {_TITLE}>{html.escape(self.title)}</text>',
        ]
        for v in self._y_ticks():
            yy = self.y(v)
            out.append(f'<line x1="{left}" x2="{right}" y1="{yy:.1f}" y2="{yy:.1f}" {_GRID}/>')
            out.append(f'<text x="{left - 4}" y="{yy + 3:.1f}" text-anchor="end" {_TICK}>{_num(v)}</text>')
        for v in _ticks(self.x0, self.x1, 5) if x_ticks is None else x_ticks:
            xx = self.x(v)
            out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{base}" y2="{base + 4}" {_AXIS}/>')
            out.append(f'<text x="{xx:.1f}" y="{base + 15}" text-anchor="middle" {_TICK}>{_num(v)}</text>')
        out.extend(body)
        out.append(f'<path d="M{left} {self.TOP}V{base}H{right}" {_AXIS}/>')
        out.append(f'<text x="{(left + right) / 2:.1f}" y="{H - 5}" text-anchor="middle" {_LABEL}>'
                   f"{html.escape(self.xlabel)}</text>")
        out.append(f'<text transform="translate(12 {(self.TOP + base) / 2:.1f}) rotate(-90)" text-anchor="middle" '
                   f'{_LABEL}>{html.escape(self.ylabel)}</text>')
        out.append("</svg>")
        return "".join(out)


def svg_line(values: Sequence[float] | np.ndarray, *, log_y: bool = False, title: str = "", xlabel: str = "",
             ylabel: str = "", min_ratio: float = 1e-7) -> str:
    """A line through ``values`` against 1, 2, 3, ... (e.g. a singular-value spectrum).

    On a log axis, values below ``min_ratio`` times the largest (numerical zeros) sit on the
    bottom edge instead of stretching the axis over many empty decades.
    """
    y = np.asarray(values, dtype=np.float64)
    if y.size == 0:
        return ""
    if log_y:
        positive = y[y > 0]
        floor = float(positive.min()) if positive.size else 1.0
        floor = max(floor, float(y.max()) * min_ratio) if positive.size else floor
        y = np.maximum(y, floor)
        lo, hi = floor, max(float(y.max()), floor * 10)
    else:
        lo, hi = min(0.0, float(y.min())), float(y.max())
    plot = _Plot((1, max(len(y), 2)), (lo, hi), log_y=log_y, title=title, xlabel=xlabel, ylabel=ylabel)
    points = " ".join(f"{plot.x(i + 1):.1f},{plot.y(v):.1f}" for i, v in enumerate(y))
    return plot.svg([f'<polyline points="{points}" {_LINE}/>'])


def svg_bars(values: Sequence[float] | np.ndarray, *, edges: Sequence[float] | np.ndarray | None = None,
             title: str = "",
             xlabel: str = "", ylabel: str = "") -> str:
    """Bars: ``values[i]`` over ``[edges[i], edges[i + 1]]`` (a histogram), or over ``i + 1``.

    More than 120 bars are drawn as one filled outline, which keeps the file small.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return ""
    e = np.arange(v.size + 1, dtype=np.float64) + 0.5 if edges is None else np.asarray(edges, dtype=np.float64)
    plot = _Plot((e[0], e[-1]), (0.0, max(float(v.max()), 1e-12) * 1.05), title=title, xlabel=xlabel, ylabel=ylabel)
    base = plot.y(0.0)
    if v.size <= 120:
        body = [
            f'<rect x="{plot.x(e[i]):.1f}" y="{plot.y(v[i]):.1f}" '
            f'width="{max(plot.x(e[i + 1]) - plot.x(e[i]) - 0.6, 0.6):.1f}" height="{base - plot.y(v[i]):.1f}" {_BAR}/>'
            for i in range(v.size)
        ]
    else:
        pts = [f"{plot.x(e[0]):.1f},{base:.1f}"]
        for i in range(v.size):
            yy = plot.y(v[i])
            pts.append(f"{plot.x(e[i]):.1f},{yy:.1f} {plot.x(e[i + 1]):.1f},{yy:.1f}")
        pts.append(f"{plot.x(e[-1]):.1f},{base:.1f}")
        body = [f'<polygon points="{" ".join(pts)}" {_BAR}/>']
    x_ticks = None if edges is not None else _ticks(1, v.size, 5)
    return plot.svg(body, x_ticks=x_ticks)


def svg_scatter(xy: np.ndarray, groups: np.ndarray, colours: Sequence[str], *,
                titles: Sequence[str] | None = None, size: int = 560) -> str:
    """A square map with one ``<circle>`` per row of ``xy``, coloured ``colours[groups[i]]``.

    Points are drawn group by group (one ``<g fill=...>`` each).  ``titles`` (one per point,
    optional) become hover tooltips.  Exactly ``len(xy)`` circles are written.
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    groups = np.asarray(groups)
    pad = 12.0
    if len(xy):
        lo, hi = xy.min(axis=0), xy.max(axis=0)
    else:
        lo, hi = np.zeros(2), np.ones(2)
    span = float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-12))
    scale = (size - 2 * pad) / span
    offset = (size - (hi - lo) * scale) / 2  # centre the cloud
    px = (xy - lo) * scale + offset
    r = 3.2 if len(xy) <= 2000 else 2.2 if len(xy) <= 8000 else 1.5
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size}" height="{size}" '
        f'class="map" {_FONT} role="img" aria-label="2-D map of the items">',
        f'<rect width="{size}" height="{size}" fill="#fff"/>',
    ]
    for g, colour in enumerate(colours):
        members = np.flatnonzero(groups == g)
        if not members.size:
            continue
        out.append(f'<g fill="{colour}" fill-opacity="0.78">')
        for i in members:
            cx, cy = px[i, 0], size - px[i, 1]
            if titles is not None:
                tip = _e(titles[int(i)])
                out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}"><title>{tip}</title></circle>')
            else:
                out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}"/>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


# ==============================================================================================
# pieces of the page
# ==============================================================================================

_CSS = """
:root { --ink: #1d2330; --muted: #5d6675; --line: #dde1e8; --soft: #f5f7fa; --ok: #1e7a46; --ok-bg: #e6f4ec;
        --bad: #b3261e; --bad-bg: #fbe9e7; --warn: #8a5a00; --warn-bg: #fff4dc; --accent: #4e79a7; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto,
       "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 28px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
p, li { max-width: 80ch; }
.meta, .note { color: var(--muted); font-size: 13px; }
code, .mono { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 12px 5px 0; text-align: left; vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 13px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; padding-left: 12px; }
tr.group td { padding-top: 14px; font-weight: 600; border-bottom: none; }
.verdict { border-radius: 8px; padding: 12px 16px; margin: 10px 0; border: 1px solid; }
.verdict.ok { background: var(--ok-bg); border-color: #b7dec8; }
.verdict.bad { background: var(--bad-bg); border-color: #f1bfb9; }
.verdict .badge { display: inline-block; font-weight: 700; padding: 1px 10px; border-radius: 999px; color: #fff;
                  margin-right: 8px; font-size: 14px; }
.verdict.ok .badge { background: var(--ok); } .verdict.bad .badge { background: var(--bad); }
.verdict .why { margin: 6px 0 0; font-size: 14px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
svg.plot, svg.map { background: #fff; border: 1px solid var(--line); border-radius: 6px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
.mapwrap { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.legend { list-style: none; padding: 0; margin: 0; font-size: 13px; columns: 2; column-gap: 18px; max-width: 460px; }
.legend li { break-inside: avoid; margin: 1px 0; }
.sw { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.dups { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 12px; }
.group { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; break-inside: avoid; }
.group .items { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 6px; }
.item { width: 96px; font-size: 11px; color: var(--muted); overflow-wrap: anywhere; }
.item img { display: block; max-width: 96px; max-height: 96px; border-radius: 4px; border: 1px solid var(--line); }
.item.keep img { border: 2px solid var(--ok); }
.textitem { font-size: 13px; border-left: 3px solid var(--line); padding: 2px 8px; margin: 4px 0; }
.textitem.keep { border-left-color: var(--ok); }
.pill { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 999px; background: var(--soft);
        color: var(--muted); margin-left: 4px; }
ul.problems { font-size: 13px; max-height: 260px; overflow: auto; }
details summary { cursor: pointer; color: var(--muted); }
@media print {
  main { max-width: none; padding: 0; } h2 { break-after: avoid; }
  section, .group, svg, table { break-inside: avoid; } ul.problems { max-height: none; overflow: visible; }
}
"""


#: the directories of absolute paths in a text (POSIX ``/a/b/``, ``~/a/``, Windows ``C:\\a\\``); not URLs
_DIRS = re.compile(r"(?<![\w.~/\\])(?:[A-Za-z]:[\\/]|~[\\/]|[\\/])(?:[^\s\\/\"'<>|:*?]+[\\/])*(?=[^\s\\/])")
#: ``None`` while the report being written keeps local paths, else the directories known to be in its
#: text, longest first (``write_report(include_paths=False)``)
_HIDDEN_DIRS: ContextVar[tuple[str, ...] | None] = ContextVar("embedview_report_hidden_dirs", default=None)


def strip_dirs(text: str) -> str:
    """``text`` with the directories of every absolute path removed (``/home/me/data/cat.jpg`` ->
    ``cat.jpg``, ``sbert:/models/minilm`` -> ``sbert:minilm``); other text is unchanged."""
    return _DIRS.sub("", text)


def _local(text: Any, paths: Sequence[str] = ()) -> str:
    """User text as the report may show it: as is, or without directories when paths are left out
    (``paths``: known paths in ``text``, cut to their file names first, spaces and all)."""
    text = str(text)
    hidden = _HIDDEN_DIRS.get()
    if hidden is None:
        return text
    for path in paths:
        if path and os.path.basename(path) != path:
            text = text.replace(path, os.path.basename(path.rstrip("/\\")) or path)
    for folder in hidden:
        if folder in text:
            text = text.replace(folder, "")
    return strip_dirs(text)


def _local_dirs(named: Mapping[str, EmbeddingSet]) -> tuple[str, ...]:
    """The directories (with their trailing separator) of the sources, problems and encoder
    folders of ``named``, longest first: cut from the text of a report without paths."""
    found: set[str] = set()
    for name, emb in named.items():
        for source in dict.fromkeys(str(x) for x in emb.dataset.sources):
            found.add(os.path.dirname(source))
        for p in emb.all_problems:
            found.add(os.path.dirname(str(getattr(p, "path", ""))))
        for text in (name, emb.encoder):
            tail = re.split(r"[:@]", str(text), maxsplit=1)[-1] if ":" in str(text) else ""
            for part in re.split(r"@", tail):
                if os.path.isabs(part) or part.startswith("~"):
                    found.add(os.path.dirname(part.rstrip("/\\")))
    dirs = {d.rstrip("/\\") + os.sep for d in found if d and os.path.isabs(d)}
    return tuple(sorted(dirs, key=len, reverse=True))


def _e(text: Any) -> str:
    return html.escape(_local(text), quote=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "\u2013" if not math.isfinite(value) else f"{value:.{digits}f}"
    return _e(value)


def thumbnail_uri(path: str, size: int = THUMB_SIZE) -> str | None:
    """A small JPEG ``data:`` URI of the image at ``path``, or ``None`` when it cannot be read."""
    from embedview.core.images import ImageLoadError, make_thumbnail

    try:
        im = make_thumbnail(path, size)
    except (ImageLoadError, OSError, ValueError):
        return None
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=THUMB_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _item_html(emb: EmbeddingSet, i: int, caption: str = "", keep: bool = False) -> str:
    """One item as a thumbnail (images) or a quoted line of text, with its id and a caption."""
    ds = emb.dataset
    cls = " keep" if keep else ""
    label = ds.labels[i] if ds.labels is not None else None
    extra = f'<span class="pill">{_e(label)}</span>' if label is not None else ""
    extra += f'<span class="pill">{_e(caption)}</span>' if caption else ""
    if ds.modality == "image":
        uri = thumbnail_uri(ds.sources[i])
        img = f'<img src="{uri}" alt="{_e(ds.ids[i])}">' if uri else ""
        tip = _local(ds.sources[i], [str(ds.sources[i])])
        return f'<div class="item{cls}" title="{_e(tip)}">{img}{_e(ds.ids[i])}{extra}</div>'
    text = ds.display_text(i, 240)
    shown = _e(text) if text != ds.ids[i] else f'<span class="mono">{_e(text)}</span>'
    idpart = f' <span class="note mono">{_e(ds.ids[i])}</span>' if text != ds.ids[i] else ""
    return f'<div class="textitem{cls}">{shown}{idpart}{extra}</div>'


# -- the metrics table (embedview.core.metric_table) ------------------------------------------
def _metrics_table(results: Mapping[str, dict[str, Any]], k: int) -> str:
    names = list(results)
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    rows = []
    for title, cells in table_rows(results, k, names):
        if cells is None:
            rows.append(f'<tr class="group"><td colspan="{len(names) + 1}">{_e(title)}</td></tr>')
        else:
            tip = row_help(title)
            first = f'<td title="{_e(tip)}">{_e(title)}</td>' if tip else f"<td>{_e(title)}</td>"
            rows.append(f"<tr>{first}" + "".join(f'<td class="num">{_e(c)}</td>' for c in cells) + "</tr>")
    return f"<table><thead><tr><th>metric</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _matrix_table(title: str, names: Sequence[str], matrix: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    body = "".join(
        f"<tr><th>{_e(names[i])}</th>" + "".join(f'<td class="num">{_fmt(v)}</td>' for v in row) + "</tr>"
        for i, row in enumerate(matrix)
    )
    return f"<h3>{_e(title)}</h3><table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"


def _comparison_html(comp: dict[str, Any] | None, reason: str) -> str:
    if comp is None:
        return f'<p class="note">Not compared: {_e(reason)}</p>' if reason else ""
    names = comp["names"]
    out = [_matrix_table("Linear CKA (1 = the same geometry up to rotation and scale)", names, comp["cka"])]
    overlap = np.eye(len(names))
    for pair in comp["knn_overlap"]:
        i, j = names.index(pair["a"]), names.index(pair["b"])
        overlap[i, j] = overlap[j, i] = pair["mean"]
    out.append(_matrix_table(f"kNN overlap (mean fraction of the {comp['k']} nearest neighbours both find)", names,
                             overlap.tolist()))
    return "".join(out)


# -- per-encoder sections ----------------------------------------------------------------------
def _verdict_box(name: str, result: dict[str, Any]) -> str:
    ok = result.get("healthy", False)
    reason = get_path(result, "collapse", "verdict_reason") or ""
    return (f'<div class="verdict {"ok" if ok else "bad"}"><span class="badge">{_e(result["verdict"])}</span>'
            f'<b>{_e(name)}</b> <span class="note">{_fmt(get_path(result, "dataset", "n_items"))} items, '
            f'{_fmt(get_path(result, "dataset", "dim"))}-d</span><p class="why">{_e(reason)}</p></div>')


def _collapse_plots(diag) -> str:
    s = np.asarray(diag.singular_values_, dtype=np.float64)
    std = np.sort(np.asarray(diag.per_dim_std_, dtype=np.float64))[::-1]
    counts, edges = diag.cosine_hist_
    return '<div class="plots">' + "".join([
        svg_line(s / s[0] if s.size and s[0] > 0 else s, log_y=True, title="Singular-value spectrum",
                 xlabel="component", ylabel="singular value / largest"),
        svg_bars(std, title="Spread per dimension (sorted)", xlabel="dimension rank", ylabel="standard deviation"),
        svg_bars(counts, edges=edges, title="Pairwise cosine similarity", xlabel="cosine", ylabel="pairs"),
    ]) + "</div>"


def _label_groups(emb: EmbeddingSet, rows: np.ndarray) -> tuple[np.ndarray, list[tuple[str, str, int]]]:
    """Colour index per row and the legend ``[(name, colour, count)]``, biggest labels first."""
    ds = emb.dataset
    if ds.labels is None or not ds.has_labels:
        return np.zeros(len(rows), dtype=np.int64), [("all items", PALETTE[0], len(rows))]
    labels = ds.labels[rows]
    keys = np.array(["\x00" if lab is None else str(lab) for lab in labels], dtype=object)  # \x00: unlabelled
    names, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    order = sorted(range(len(names)), key=lambda j: (names[j] == "\x00", -counts[j], str(names[j])))
    colour_of: dict[int, int] = {}
    legend: list[tuple[str, str, int]] = []
    other = 0
    for rank, j in enumerate(order):
        if names[j] == "\x00":
            continue
        if rank < len(PALETTE):
            colour_of[j] = len(legend)
            legend.append((str(names[j]), PALETTE[rank], int(counts[j])))
        else:
            other += int(counts[j])
    n_named = len(legend)
    rest = [j for j in range(len(names)) if j not in colour_of]
    if rest:
        unlabelled = int(sum(counts[j] for j in rest if names[j] == "\x00"))
        parts = []
        if other:
            parts.append(f"{len(rest) - (1 if unlabelled else 0)} more labels")
        if unlabelled:
            parts.append("unlabelled")
        legend.append((" and ".join(parts), OTHER_COLOUR, other + unlabelled))
    groups = np.array([colour_of.get(j, n_named) for j in inverse], dtype=np.int64)
    return groups, legend


def _map_section(emb: EmbeddingSet, projection: str, max_points: int, progress) -> tuple[str, dict[str, Any]]:
    from embedview.core.projection import Projection

    n = len(emb)
    rng = np.random.default_rng(0)
    rows = np.arange(n) if n <= max_points else np.sort(rng.choice(n, size=max_points, replace=False))
    proj = Projection(method=projection).fit(emb.vectors[rows], progress=progress)
    groups, legend = _label_groups(emb, rows)
    ds = emb.dataset
    titles = None
    if len(rows) <= MAX_TOOLTIPS:
        titles = []
        for i in rows:
            label = ds.labels[i] if ds.labels is not None else None
            text = ds.display_text(int(i), 80)
            titles.append(text + (f" [{label}]" if label is not None else ""))
    svg = svg_scatter(proj.embedding_, groups, [c for _, c, _ in legend], titles=titles)
    items = "".join(f'<li><span class="sw" style="background:{c}"></span>{_e(name)} '
                    f'<span class="note">{count:,}</span></li>' for name, c, count in legend)
    info = proj.to_dict()
    note = (f"{info['method'].upper()} of {len(rows):,} of {n:,} items"
            + (" (random sample)" if len(rows) < n else "")
            + f"; trustworthiness {info['trustworthiness']:.3f} "
            "(1 = every close pair on the map is close in the embedding).")
    if info.get("warning"):
        note += " " + info["warning"]
    html_ = (f'<div class="mapwrap">{svg}<div><ul class="legend">{items}</ul>'
             f'<p class="note">{_e(note)}</p></div></div>')
    return html_, info


def _duplicates_section(emb: EmbeddingSet, finder) -> str:
    """Cards of the first groups: the kept item first, the others with their similarity to it."""
    groups = finder.groups_
    if not groups:
        return f'<p class="note">No duplicates at cosine similarity \u2265 {_fmt(finder.threshold_)}.</p>'
    by_group: dict[int, list[dict[str, Any]]] = {}
    for row in finder.to_rows():
        if row["group"] < MAX_DUP_GROUPS:
            by_group.setdefault(row["group"], []).append(row)
    cards = []
    for g, rows in sorted(by_group.items()):
        rows.sort(key=lambda r: (r["index"] != r["kept_index"], -r["similarity_to_kept"]))
        shown = "".join(
            _item_html(emb, r["index"], "kept" if r["index"] == r["kept_index"] else
                       f"{r['similarity_to_kept']:.3f}" + (" exact" if r["exact"] else ""),
                       keep=r["index"] == r["kept_index"])
            for r in rows[:MAX_DUP_ITEMS]
        )
        more = f'<p class="note">and {len(rows) - MAX_DUP_ITEMS} more</p>' if len(rows) > MAX_DUP_ITEMS else ""
        body = f'<div class="items">{shown}</div>' if emb.dataset.modality == "image" else shown
        cards.append(f'<div class="group"><b>group {g + 1}</b> <span class="note">{len(rows)} items</span>'
                     f"{body}{more}</div>")
    head = (f'<p class="note">{len(groups)} group(s) at cosine similarity \u2265 {_fmt(finder.threshold_)} '
            f"(suggested {_fmt(finder.suggested_threshold_)}); the suggested item to keep (outlined) comes first, "
            "the others show their similarity to it.</p>")
    more = (f'<p class="note">Showing {MAX_DUP_GROUPS} of {len(groups)} groups; '
            "export them all with <code>embedview duplicates</code>.</p>") if len(groups) > MAX_DUP_GROUPS else ""
    return head + f'<div class="dups">{"".join(cards)}</div>' + more


def _outliers_section(emb: EmbeddingSet, scores) -> str:
    top = [int(i) for i in scores.ranking_[:MAX_OUTLIERS]]
    items = "".join(_item_html(emb, i, f"{float(scores.scores_[i]):.3f}") for i in top)
    body = f'<div class="items">{items}</div>' if emb.dataset.modality == "image" else items
    return (f'<p class="note">Mean cosine distance to the {scores.k_} nearest neighbours; higher is more isolated '
            f"(mislabelled, corrupt or out-of-domain items often rank here).</p>{body}")


def _finding_caption(found: Any, j: int, ids: Sequence[str]) -> str:
    """What a Findings card says under an item: the kind's score and its most telling value."""
    cols = found.columns
    if found.kind == "label_issue" and "suggested_label" in cols:
        return f"labelled {cols['label'][j]} \u2192 {cols['suggested_label'][j]}?"
    if found.kind == "duplicate" and "keep_id" in cols:
        return f"{float(found.scores[j]):.3f} to {cols['keep_id'][j]} (kept)"
    if found.kind == "leak" and "other_split" in cols:
        other = cols.get("other_index", [None] * len(found))[j]
        name = ids[int(other)] if other is not None and 0 <= int(other) < len(ids) else ""
        return f"{cols.get('split', [''] * len(found))[j]} \u2194 {cols['other_split'][j]} {name}".rstrip()
    return f"{float(found.scores[j]):.3f}"


def _findings_html(emb: EmbeddingSet, audit: Any, name: str = "") -> str:
    """The audit of one set: a table of every kind (count, threshold and why, or why not checked),
    then the top items of each kind with items."""
    rows = []
    for s in audit.summary():
        if "skipped" in s:
            rows.append(f"<tr><td>{_e(s['title'])}</td><td class=\"num\">\u2013</td><td>\u2013</td>"
                        f"<td>not checked: {_e(s['skipped'])}</td></tr>")
            continue
        t = "\u2013" if s["threshold"] is None else _fmt(s["threshold"], 4)
        rows.append(f"<tr><td>{_e(s['title'])}</td><td class=\"num\">{s['count']:,} of {s['n_considered']:,}</td>"
                    f"<td>{_e(t)}</td><td>{_e(s['threshold_reason'])}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("kind", "flagged", "threshold", "why this threshold"))
    out = [f"<h3>{_e(name)}</h3>" if name else "",
           f'<p class="note">{audit.n_items_:,} items audited. Each score is "higher = more likely a problem"; '
           "the threshold is read from the data unless set.</p>",
           f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"]
    images = emb.dataset.modality == "image"
    for found in audit.findings_.values():
        if not len(found):
            continue
        cards = "".join(_item_html(emb, int(i), _finding_caption(found, j, emb.dataset.ids))
                        for j, i in enumerate(found.indices[:MAX_FINDINGS].tolist()))
        body = f'<div class="items">{cards}</div>' if images else cards
        more = (f'<p class="note">Showing the top {MAX_FINDINGS} of {len(found):,}.</p>'
                if len(found) > MAX_FINDINGS else "")
        out.append(f"<h4>{_e(found.title)} <span class=\"note\">{len(found):,}</span></h4>"
                   f'<p class="note">{_e(found.explanation.rstrip(". "))}. Score: {_e(found.score_name)}. '
                   f"{_e(found.method)}.</p>{body}{more}")
    out.append('<p class="note">Every flagged item, with its columns: <code>embedview audit PATH -o findings.csv'
               "</code> (exit 3 over a limit set with <code>--fail-on KIND=N</code>).</p>")
    return "".join(out)


def _problems_html(problems: Sequence[Any], limit: int = 200) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{_e(p)}</li>" for p in problems[:limit])
    more = f"<li>\u2026 and {len(problems) - limit} more</li>" if len(problems) > limit else ""
    return (f"<details open><summary>{len(problems)} problem(s) while loading or encoding</summary>"
            f'<ul class="problems">{items}{more}</ul></details>')


# ==============================================================================================
# the report
# ==============================================================================================
SetsArg = Mapping[str, EmbeddingSet] | Sequence[EmbeddingSet]


def _named(sets: SetsArg) -> dict[str, EmbeddingSet]:
    """``{display name: set}``; a list is named by encoder (made unique)."""
    if isinstance(sets, EmbeddingSet):
        sets = [sets]
    if isinstance(sets, Mapping):
        named = dict(sets)
    else:
        named = {}
        for emb in sets:
            name, k = emb.encoder, 1
            while name in named:
                k += 1
                name = f"{emb.encoder} #{k}"
            named[name] = emb
    if not named:
        raise ValueError("no embedding sets to report on")
    return named


def write_report(
    sets: SetsArg,
    path: str | os.PathLike,
    *,
    progress=None,
    max_map_points: int = 20000,
    projection: str = "pca",
    k: int = 10,
    checks: Mapping[str, Checks] | None = None,
    title: str | None = None,
    include_paths: bool = True,
    findings: bool | Mapping[str, Any] = True,
    graphs: Mapping[str, Any] | None = None,
) -> Path:
    """Write the self-contained HTML report of ``sets`` to ``path`` and return the path.

    Parameters
    ----------
    sets : {name: EmbeddingSet} or list of EmbeddingSet
        One or more encoders (of the same items, to be compared; or of different datasets, each
        reported in its own section).
    path : where to write the ``.html`` file (written through a temporary file, so a cancelled
        or failed run leaves no partial report).
    max_map_points : the map shows a random sample of at most this many items.
    projection : ``"pca"`` (default, fast) or ``"umap"``.
    k : neighbours for the kNN metrics.
    checks : optional already fitted :class:`~embedview.core.checks.Checks` per name, reused
        instead of running the checks again.
    title : page title (default from the dataset names).
    include_paths : False: a report to share, without local paths -- every absolute path in the
        page's text (source tooltips, problems, encoder folders) is cut to its file name.
    findings : True (default): audit each set (:class:`~embedview.core.audit.Audit`: label issues,
        leaks across splits, duplicates, outliers, reusing the checks' duplicate finder and outlier
        scores) for the "Findings" section; a ``{name: fitted Audit}`` mapping to reuse audits; False
        to leave the section out.
    graphs : optional ``{name: NeighborGraph}`` of the sets (:func:`~embedview.core.checks.suite_graph`,
        kept in the cache): the checks and the audit read each set's graph instead of searching.
    """
    task = TaskState.coerce(progress)
    named = _named(sets)
    path = Path(path)
    n = len(named)
    fitted: dict[str, Checks] = {}
    results: dict[str, dict[str, Any]] = {}
    maps: dict[str, str] = {}
    audits: dict[str, Any] = {}
    for i, (name, emb) in enumerate(named.items()):
        share = task.sub(i / (n + 0.5), (i + 1) / (n + 0.5))
        given = (checks or {}).get(name)
        graph = (graphs or {}).get(name)
        fitted[name] = given if given is not None else Checks(k=k, graph=graph).fit(emb, progress=share.sub(0.0, 0.7))
        results[name] = fitted[name].to_dict()
        if findings is True:
            from embedview.core.audit import Audit

            res = fitted[name].results_
            audits[name] = Audit(k=k).fit(emb, progress=share.sub(0.7, 0.85), duplicates=res.get("duplicates"),
                                          outliers=res.get("outliers"), graph=graph)
        elif findings and (findings.get(name) is not None):
            audits[name] = findings[name]
        maps[name], info = _map_section(emb, projection, max_map_points, share.sub(0.85, 0.95))
        results[name]["map"] = jsonable(info)
    comp, reason = None, ""
    if n > 1:
        id_sets = {frozenset(emb.dataset.ids) for emb in named.values()}
        if len(id_sets) == 1:
            comp, reason = comparison(named, k=k, progress=task.sub(n / (n + 0.5), 0.97))
        else:
            reason = "the encoders were run on different items, so they are shown side by side but not compared"
    task.report(0.97, 1, "writing the report")
    token = _HIDDEN_DIRS.set(None if include_paths else _local_dirs(named))
    try:
        page = _page(named, fitted, results, maps, comp, reason, k, title, audits)
    finally:
        _HIDDEN_DIRS.reset(token)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    task.report(1, 1, "report written")
    return path


def _page(named, fitted, results, maps, comp, reason, k, title, audits=None) -> str:
    datasets = list(dict.fromkeys(emb.dataset.name or emb.dataset.modality for emb in named.values()))
    title = title or "Embedding report: " + ", ".join(datasets)
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<header><h1>{_e(title)}</h1><p class=\"meta\">Generated {now} by embedview {__version__}, offline. "
        f"{len(named)} encoder(s).</p></header>",
        '<section id="verdict"><h2>Verdict</h2>',
        *(_verdict_box(name, results[name]) for name in named),
        "</section>",
        '<section id="data"><h2>Data</h2>', _data_table(named, results),
    ]
    seen_problems = set()
    for emb in named.values():
        problems = [_local(p, [str(getattr(p, "path", ""))]) for p in emb.all_problems]
        problems = [p for p in problems if p not in seen_problems]
        seen_problems.update(problems)
        out.append(_problems_html(problems))
    out += ["</section>", '<section id="metrics"><h2>Metrics</h2>', _metrics_table(results, k),
            '<p class="note">\u2013: not applicable to this data (see the skipped checks).</p>', "</section>"]
    if len(named) > 1:
        out += ['<section id="compare"><h2>Encoder comparison</h2>', _comparison_html(comp, reason), "</section>"]
    if audits:
        out += ['<section id="findings"><h2>Findings</h2>',
                *(_findings_html(named[name], audit, name if len(named) > 1 else "") for name, audit in audits.items()),
                "</section>"]
    skipped = [(name, s) for name, r in results.items() for s in r.get("skipped", [])]
    notes: dict[tuple[str, str], list[str]] = {}  # (set, note) -> checks, so one note is said once
    for name, r in results.items():
        for check, value in r.items():
            if isinstance(value, dict) and value.get("notes"):
                notes.setdefault((name, value["notes"]), []).append(check)
    if skipped or notes:
        out.append('<section id="skipped"><h2>Skipped checks and notes</h2><ul>')
        out += [f"<li><b>{_e(s['check'])}</b> ({_e(name)}) skipped: {_e(s['reason'])}</li>" for name, s in skipped]
        out += [f"<li><b>{_e(', '.join(checks))}</b> ({_e(name)}): {_e(note)}</li>"
                for (name, note), checks in notes.items()]
        out.append("</ul></section>")
    for i, (name, emb) in enumerate(named.items()):
        res = fitted[name].results_
        out.append(f'<section id="set-{i}"><h2>{_e(name)}</h2>')
        if "collapse" in res:  # a set of fewer than 2 items is not checked (see "Skipped checks")
            reason = get_path(results[name], "collapse", "verdict_reason")
            out.append(f"<h3>Collapse diagnostics</h3><p>{_e(reason)}</p>")
            out.append(_collapse_plots(res["collapse"]))
        out.append(f"<h3>Map</h3>{maps[name]}")
        if "duplicates" in res:
            out.append(f"<h3>Duplicates</h3>{_duplicates_section(emb, res['duplicates'])}")
        if "outliers" in res:
            out.append(f"<h3>Most isolated items</h3>{_outliers_section(emb, res['outliers'])}")
        out.append("</section>")
    out.append("</main></body></html>\n")
    return "\n".join(out)


def _data_table(named: Mapping[str, EmbeddingSet], results: Mapping[str, dict[str, Any]]) -> str:
    rows = []
    for name in named:
        d = results[name]["dataset"]
        labels = d.get("labels") or {}
        label_text = f"{len(labels):,} ({d['n_labelled']:,} items labelled)" if labels else "none"
        rows.append(
            f"<tr><td>{_e(name)}</td><td>{_e(d['name'] or '')}</td><td>{_e(d['modality'])}</td>"
            f'<td class="num">{d["n_items"]:,}</td><td class="num">{d["dim"]:,}</td><td>{label_text}</td>'
            f'<td class="num">{d["n_problems"]:,}</td></tr>'
        )
    head = "".join(f"<th>{h}</th>" for h in ("encoder", "dataset", "modality", "items", "dim", "labels", "problems"))
    head = f"<tr>{head}</tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
