"""``embedview audit``: every finding the data allows, as one CSV / JSON, with an exit code to gate on.

::

    embedview audit PATH... [-m MODEL] [-o findings.csv|findings.json]
                    [--fail-on label_issue=20 --fail-on leak_pairs=0 ...] [--strict]
                    [--only KIND ...] [--threshold duplicate=0.97 ...] [--k 10]

Runs :class:`embedview.core.audit.Audit` (label issues with labels, leaks across splits with a
split column, near-duplicates, outliers), prints a table per kind on stderr (count, threshold and
why, or why the kind was skipped; for leaks the leaking pairs per pair of splits) and writes
one row per flagged item (``kind, id, source, score,
index, label, suggested_label, ...``) to ``-o`` (CSV cells spreadsheet-safe; written through a
temporary file) or as CSV to standard output.

Exit status: 0 ok; 2 bad input (missing file, unknown model or kind, bad output path); 3 when
a ``--fail-on KIND=N`` limit is exceeded (more than ``N`` flagged items of that kind), each named
on stderr.  ``leak`` counts items, both sides of each leaking pair (5 pairs are 10 items);
``leak_pairs`` counts the pairs.  A limit on a kind that could not run (no labels, no splits, not
in ``--only``) is printed as a ``WARNING`` naming the kind and the reason and is not applied;
with ``--strict`` it exits 2 instead.

This module is imported when the parser is built: it stays as light as :mod:`embedview.cli`.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

AUDIT_KINDS = ("label_issue", "leak", "duplicate", "outlier")  # core.audit.AUDIT_KINDS, without importing numpy
GATE_KINDS = (*AUDIT_KINDS, "leak_pairs")  # core.audit.GATE_KINDS


def register(sub: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add the ``audit`` command to the ``embedview`` parser (``cli.EXTRA_COMMANDS``)."""
    from embedview.cli import _positive_int

    p = sub.add_parser(
        "audit", parents=[parents["common"], parents["loading"], parents["encoding"], parents["model"]],
        help="label errors, leaks across splits, duplicates, outliers: one CSV/JSON; exit 3 over a limit",
        description="Find likely label errors (with labels), near-duplicates across splits (with a split column or "
                    "train/ test/ folders), near-duplicates and outliers; one row per flagged item.",
        epilog="Exit status: 0 ok, 2 usage/input error (with --strict: a --fail-on limit that could not be "
               "applied), 3 a --fail-on limit was exceeded.")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="findings.csv or findings.json (default: CSV on stdout)")
    p.add_argument("--fail-on", action="append", type=_limit, default=[], metavar="KIND=N",
                   help=f"exit 3 when more than N of KIND are flagged; KIND one of {', '.join(GATE_KINDS)}. "
                        "Each kind counts flagged items: leak counts both sides of each leaking pair (5 pairs = "
                        "10 items); leak_pairs counts the pairs across splits (repeat for several)")
    p.add_argument("--strict", action="store_true",
                   help="exit 2 when a --fail-on limit cannot be applied (its kind could not run: no labels, "
                        "no splits, not in --only) instead of warning and going on")
    p.add_argument("--only", action="append", choices=AUDIT_KINDS, metavar="KIND",
                   help="run only these kinds (repeat; default: every kind the data allows)")
    p.add_argument("--threshold", action="append", type=_threshold, default=[], metavar="KIND=T",
                   help="replace the threshold read from the data: duplicate / leak a cosine similarity, "
                        "outlier a score, label_issue a minimum score")
    p.add_argument("--k", type=_positive_int, default=10, help="neighbours per item (default: 10)")
    p.set_defaults(func=cmd_audit)


def _pair(text: str, kinds: tuple[str, ...] = AUDIT_KINDS) -> tuple[str, str]:
    kind, sep, value = text.partition("=")
    kind = kind.strip()
    if not sep or not value.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected KIND=VALUE, e.g. label_issue=20")
    if kind not in kinds:
        raise argparse.ArgumentTypeError(f"{text!r}: unknown kind {kind!r}; expected one of {', '.join(kinds)}")
    return kind, value.strip()


def _limit(text: str) -> tuple[str, int]:
    kind, value = _pair(text, GATE_KINDS)
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the limit {value!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the limit must be 0 or more")
    return kind, n


def _threshold(text: str) -> tuple[str, float]:
    kind, value = _pair(text)
    try:
        t = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the threshold {value!r} is not a number") from None
    if not math.isfinite(t):
        raise argparse.ArgumentTypeError(f"{text!r}: the threshold must be a finite number")
    return kind, t


def summary_table(audit: Any) -> str:
    """The per-kind table printed on stderr: count, threshold, why (or why skipped)."""
    from embedview.cli import _table

    rows = []
    for s in audit.summary():
        if "skipped" in s:
            rows.append([s["kind"], "-", "-", f"not checked: {s['skipped']}"])
            continue
        t = s["threshold"]
        rows.append([s["kind"], f"{s['count']:,} of {s['n_considered']:,}", "-" if t is None else f"{t:.4g}",
                     s["threshold_reason"]])
    text = _table(["kind", "flagged", "threshold", "why this threshold"], rows)
    leak = next((s for s in audit.summary() if s["kind"] == "leak" and "skipped" not in s), None)
    if leak is not None and leak.get("pair_counts") is not None:
        per = ", ".join(f"{p['splits'][0]}-{p['splits'][1]}: {p['pairs']:,}" for p in leak["pair_counts"])
        text += (f"\nleak: {leak['n_pairs']:,} leaking pair(s) across splits ({per or 'none'}); "
                 f"the {leak['count']:,} flagged leak items are both sides of them")
    return text


def cmd_audit(args: argparse.Namespace) -> int:
    from embedview.cli import (
        EXIT_OK,
        EXIT_UNHEALTHY,
        EXIT_USAGE,
        CLIError,
        ProgressBar,
        _check_output,
        _embed,
        _err,
        _load,
        _write_csv,
        _write_text,
    )
    from embedview.core.audit import Audit, audit_graph
    from embedview.core.graph import source_of
    from embedview.core.progress import TaskState

    out = _check_output(args.output, args.paths, (".csv", ".json"))
    limits = dict(args.fail_on)
    thresholds = dict(args.threshold)
    emb = _embed(_load(args.paths, args), args, model=args.model)
    if len(emb) < 2:
        raise CLIError(f"{', '.join(args.paths)}: need at least two items to audit, got {len(emb)}")
    audit = Audit(kinds=args.only, k=args.k, thresholds=thresholds)
    bar = ProgressBar("auditing")
    try:
        task = TaskState(bar)
        # the neighbour graph, searched once and kept: `check`, `neighbors`, `duplicates` and the window reuse it
        graph = audit_graph(emb, audit.kinds, audit.k, cache=False if getattr(args, "no_cache", False) else None,
                            source=source_of(args.paths, emb.encoder), progress=task.sub(0.0, 0.2))
        audit.fit(emb, progress=task.sub(0.2, 1.0), graph=graph)
    finally:
        bar.close()
    _err(graph.summary)
    _err(f"audited {audit.n_items_:,} items ({emb.encoder}):")
    _err(summary_table(audit))
    if out is None:
        audit.write_csv(sys.stdout)
    else:
        if out.suffix.lower() == ".json":
            _write_text(out, audit.json_text())
        else:
            _write_csv(out, audit.write_csv)
        _err(f"wrote {sum(audit.counts().values()):,} flagged items to {out}")
    unapplied = {kind: audit.not_applied(kind) for kind in limits}
    unapplied = {kind: why for kind, why in unapplied.items() if why}
    for kind, why in unapplied.items():
        _err(f"WARNING: --fail-on {kind}={limits[kind]} NOT APPLIED: {why}")
    breaches = audit.gate({k: v for k, v in limits.items() if k not in unapplied})
    if unapplied and args.strict:
        for b in breaches:
            _err(f"FAIL {b}")
        _err(f"exit {EXIT_USAGE}: {len(unapplied)} --fail-on limit(s) could not be applied (--strict)")
        return EXIT_USAGE
    if breaches:
        for b in breaches:
            _err(f"FAIL {b}")
        _err(f"exit {EXIT_UNHEALTHY}: {len(breaches)} limit(s) exceeded")
        return EXIT_UNHEALTHY
    if limits and unapplied:
        _err(f"the applied --fail-on limits held; {len(unapplied)} not applied (see WARNING above; --strict "
             "makes that exit 2)")
    elif limits:
        _err("every --fail-on limit held")
    return EXIT_OK
