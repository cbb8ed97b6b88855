"""``embedview scores``: per-item uniqueness, representativeness and named clusters, headless.

::

    embedview scores PATH... [-m MODEL] [--map umap|pca] [--k 10] [-o scores.csv|scores.json]

Computes what the window's table and map colourings show (:func:`embedview.api.score_items`):
uniqueness and representativeness (:class:`embedview.core.uniqueness.ItemScores`, reading the
kept neighbour graph of the data, searched and stored when absent) and density clusters with
names (:class:`embedview.core.clusters.Clusters`) on the 2-D map (``--map umap``, the window's
map, or ``--map pca``, faster).  Writes one row per item (``id, source, label, uniqueness,
representativeness, cluster, cluster_coarse, x, y``) to ``-o`` (CSV cells spreadsheet-safe, JSON
with how each column was computed and the clusters; written through a temporary file) or as CSV to
standard output; prints on stderr the clusters with their names and sizes, the least unique
items, and how each number was computed.

Exit status: 0 ok; 2 bad input (missing file, unknown model, fewer than two items, bad output path).

This module is imported when the parser is built: it stays as light as :mod:`embedview.cli`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

SCORE_MAPS = ("umap", "pca")  # api.SCORE_MAPS, without importing it here


def register(sub: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add the ``scores`` command to the ``embedview`` parser (``cli.EXTRA_COMMANDS``)."""
    from embedview.cli import _positive_int

    p = sub.add_parser(
        "scores", parents=[parents["common"], parents["loading"], parents["encoding"], parents["model"]],
        help="per item: uniqueness, representativeness and its named cluster on the map (CSV/JSON)",
        description="Score every item: uniqueness (1 = most isolated, near 0 = has a near-copy), "
                    "representativeness (1 = the most central item of its k-means cluster) and the density "
                    "cluster it falls in on the 2-D map, each cluster named by its distinctive words, its "
                    "dominant label or metadata value.",
        epilog="Exit status: 0 ok, 2 usage/input error.")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="scores.csv or scores.json (default: CSV on stdout)")
    p.add_argument("--map", choices=SCORE_MAPS, default="umap",
                   help="the 2-D map the clusters are found on: umap (default, the window's map) or pca (faster)")
    p.add_argument("--k", type=_positive_int, default=10, help="neighbours per item for uniqueness (default: 10)")
    p.add_argument("--top", type=_positive_int, default=10,
                   help="least unique items listed on stderr (default: 10)")
    p.set_defaults(func=cmd_scores)


def write_csv(f: Any, items: list[dict[str, Any]]) -> int:
    """The items as CSV to the open text stream ``f`` (text cells a spreadsheet would run as a
    formula are neutralised, :mod:`embedview.core.csvsafe`).  Returns the number of rows."""
    from embedview.api import SCORE_COLUMNS
    from embedview.core.csvsafe import safe_dict

    w = csv.DictWriter(f, fieldnames=list(SCORE_COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(safe_dict({k: "" if r[k] is None else r[k] for k in SCORE_COLUMNS}) for r in items)
    return len(items)


def summary(result: Any, top: int = 10) -> str:
    """What stderr shows: the clusters (name, size) per level, the least unique items, and how
    each column was computed."""
    from embedview.cli import _table

    lines = [f"scored {result['n']:,} items ({result['encoder']}); map: {result['map']['how']}"]
    for level in ("coarse", "fine"):
        info = result["clusters"]["levels"][level]
        lines.append(f"{level} clusters: {info['n_clusters']} (named by {info['named_by']}), "
                     f"{info['unclustered']:,} items unclustered")
        rows = [[c["name"], f"{c['size']:,}"] for c in info["clusters"]]
        if rows:
            lines.append(_table(["cluster", "items"], rows))
    least = result.least_unique(top)
    lines.append(f"the {len(least)} least unique items (lowest uniqueness: each has a near-copy):")
    lines.append(_table(["id", "uniqueness", "label", "cluster"],
                        [[r["id"], f"{r['uniqueness']:.4f}", r["label"] or "-", r["cluster"]] for r in least]))
    lines.append("how each column was computed:")
    lines.extend(f"  {col}: {text}" for col, text in result["how"].items() if col != "y")
    return "\n".join(lines)


def cmd_scores(args: argparse.Namespace) -> int:
    from embedview.api import score_items
    from embedview.cli import (
        EXIT_OK,
        CLIError,
        ProgressBar,
        _check_output,
        _embed,
        _err,
        _load,
        _write_csv,
        _write_text,
    )
    from embedview.core.graph import knn_graph, source_of
    from embedview.core.progress import TaskState

    out = _check_output(args.output, args.paths, (".csv", ".json"))
    emb = _embed(_load(args.paths, args), args, model=args.model)
    n = len(emb)
    if n < 2:
        raise CLIError(f"{', '.join(args.paths)}: need at least two items to score, got {n}")
    bar = ProgressBar("scoring")
    try:
        task = TaskState(bar)
        # the neighbour graph the window and `check` / `duplicates` keep: read when stored, else searched and kept
        graph = knn_graph(emb, min(max(args.k, 15), n - 1), "cosine",
                          cache=False if getattr(args, "no_cache", False) else None, exact=n <= 50_000,
                          source=source_of(args.paths, emb.encoder), progress=task.sub(0.0, 0.2))
        result = score_items(emb, map=args.map, graph=graph, k=args.k, progress=task.sub(0.2, 1.0))
    finally:
        bar.close()
    _err(graph.summary)
    _err(summary(result, args.top))
    if out is None:
        write_csv(sys.stdout, result["items"])
        return EXIT_OK
    if out.suffix.lower() == ".json":
        _write_text(out, json.dumps(dict(result), indent=1, allow_nan=False))
    else:
        _write_csv(out, lambda f: write_csv(f, result["items"]))
    _err(f"wrote {n:,} scored items to {out}")
    return EXIT_OK
