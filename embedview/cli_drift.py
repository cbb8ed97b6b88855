"""``embedview drift``: has the data moved?  Two sets from the same encoder, tested against each other.

::

    embedview drift A_PATH... --against B_PATH... [-m MODEL] [-o drift.json]
                    [--alpha 0.01] [--permutations 1000] [--max-items 10000] [--top 10]

``A`` is the reference (say, the training data), ``B`` the new data (this week's production data).
Both load through the same loaders and, unless they are precomputed vectors, are encoded with the
same encoder (``-m``, else the modality's default).  :class:`embedview.core.drift.Drift` runs a
classifier two-sample test (AUROC with a permutation p-value) and MMD (RBF kernel, permutation
p-value); the summary (verdict, numbers with the items they used, the items of each set that
separate them most) goes to standard output, the full results to ``-o drift.json``.

Exit status: 0 no detectable drift; 2 bad input (missing file, unknown model, the two sets of
different encoders or dimensions, too few items); 3 drift detected at ``--alpha``.

This module is imported when the parser is built: it stays as light as :mod:`embedview.cli`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add the ``drift`` command to the ``embedview`` parser (``cli.EXTRA_COMMANDS``)."""
    from embedview.cli import _positive_int

    p = sub.add_parser(
        "drift", parents=[parents["common"], parents["loading"], parents["encoding"], parents["model"]],
        help="has the data moved? test set A (PATH) against set B (--against); exit 3 on drift",
        description="Test whether two sets encoded with the same encoder come from the same distribution: "
                    "a classifier two-sample test (AUROC, permutation p-value) and MMD (RBF kernel), the items "
                    "that separate them most.  PATH is set A (the reference), --against set B (the new data).",
        epilog="Exit status: 0 no detectable drift, 2 usage/input error, 3 drift detected at --alpha.")
    p.add_argument("--against", nargs="+", required=True, metavar="B_PATH",
                   help="set B: files or folders of the same kind as PATH (loaded and encoded the same way)")
    p.add_argument("-o", "--output", metavar="FILE", help="drift.json: every number, the items used, the top items")
    p.add_argument("--alpha", type=_alpha, default=0.01,
                   help="false-alarm rate of the verdict; each of the two tests is held to alpha/2 (default: 0.01)")
    p.add_argument("--permutations", type=_positive_int, default=1000, metavar="N",
                   help="permutations per p-value (default: 1000; a p-value cannot go below 1/(N+1))")
    p.add_argument("--max-items", type=_positive_int, default=10_000, metavar="N",
                   help="items per set for the classifier test, a random sample beyond it (default: 10000)")
    p.add_argument("--mmd-items", type=_positive_int, default=1000, metavar="N",
                   help="items per set for MMD, a random sample beyond it (default: 1000)")
    p.add_argument("--top", type=_positive_int, default=10, metavar="N",
                   help="separating items listed per set (default: 10; the JSON keeps them all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples and permutations (default: 0)")
    p.set_defaults(func=cmd_drift)


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be between 0 and 1")
    return value


def _encode_both(args: argparse.Namespace):
    """Load A and B, and encode both with one encoder (precomputed vectors both, or neither)."""
    from embedview.cli import CLIError, _embed, _load

    a_name, b_name = ", ".join(args.paths), ", ".join(args.against)
    ds_a = _load(args.paths, args)
    ds_b = _load(args.against, args)
    for ds, name in ((ds_a, a_name), (ds_b, b_name)):
        if len(ds) < 2:
            raise CLIError(f"{name}: too few items for a drift test: {len(ds)} (needs at least 2 per set)")
    a_vectors, b_vectors = ds_a.embeddings is not None, ds_b.embeddings is not None
    if a_vectors != b_vectors:
        given, other = (a_name, b_name) if a_vectors else (b_name, a_name)
        raise CLIError(f"{given} holds precomputed vectors but {other} does not: give both as vectors from the "
                       "same model, or both as images / texts and a model (-m)")
    if not a_vectors and ds_a.modality != ds_b.modality:
        raise CLIError(f"{a_name} holds {ds_a.modality}s and {b_name} {ds_b.modality}s: drift compares the same "
                       "kind of data encoded the same way")
    emb_a = _embed(ds_a, args, model=args.model)
    emb_b = _embed(ds_b, args, model=None if a_vectors else emb_a.encoder)
    if emb_a.dim != emb_b.dim:
        raise CLIError(f"{a_name} has {emb_a.dim}-d vectors and {b_name} {emb_b.dim}-d: both sets must come "
                       "from the same encoder")
    for emb, name in ((emb_a, a_name), (emb_b, b_name)):
        if len(emb) < 2:
            raise CLIError(f"{name}: too few items could be encoded for a drift test: {len(emb)}")
    return emb_a, emb_b


def _item(emb, i: int, p_b: float) -> dict[str, Any]:
    ds = emb.dataset
    row: dict[str, Any] = {"index": int(i), "id": ds.ids[i], "source": ds.sources[i], "p_b": float(p_b)}
    if ds.texts is not None and ds.texts[i] is not None:
        row["text"] = str(ds.texts[i])
    if ds.labels is not None and ds.labels[i] is not None:
        row["label"] = str(ds.labels[i])
    return row


def _line(row: dict[str, Any], width: int = 70) -> str:
    what = str(row.get("text") or row["source"] or row["id"]).replace("\n", " ")
    if len(what) > width:
        what = what[: width - 1] + "\u2026"
    label = f" [{row['label']}]" if row.get("label") else ""
    return f"    P(B) {row['p_b']:.3f}  {row['id']}{label}: {what}"


def cmd_drift(args: argparse.Namespace) -> int:
    from embedview.cli import EXIT_OK, EXIT_UNHEALTHY, CLIError, ProgressBar, _check_output, _err, _write_text

    out = _check_output(args.output, list(args.paths) + list(args.against), (".json",))
    if 1.0 / (args.permutations + 1) >= args.alpha / 2:  # before minutes of encoding, not after
        need = -int(-2.0 // args.alpha)
        raise CLIError(f"--permutations {args.permutations} cannot give a p-value below alpha/2 = {args.alpha / 2:g}: "
                       f"use at least {need}")
    emb_a, emb_b = _encode_both(args)

    from embedview.core.checks import jsonable
    from embedview.core.drift import Drift

    drift = Drift(n_permutations=args.permutations, alpha=args.alpha, max_items=args.max_items,
                  mmd_max_items=args.mmd_items, n_top=max(args.top, 20), random_state=args.seed)
    bar = ProgressBar("drift test")
    try:
        drift.fit(emb_a, emb_b, progress=bar)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    finally:
        bar.close()
    result = drift.to_dict()
    result["encoder"] = emb_a.encoder
    result["a"] = {"paths": list(args.paths), "n_items": len(emb_a)}
    result["b"] = {"paths": list(args.against), "n_items": len(emb_b)}
    result["top_b"] = [_item(emb_b, i, s) for i, s in zip(drift.top_b_, drift.top_b_scores_, strict=True)]
    result["top_a"] = [_item(emb_a, i, s) for i, s in zip(drift.top_a_, drift.top_a_scores_, strict=True)]

    lines = [f"A: {len(emb_a):,} items ({', '.join(args.paths)})",
             f"B: {len(emb_b):,} items ({', '.join(args.against)}), both {emb_a.encoder} ({emb_a.dim}-d)",
             "",
             drift.verdict_,
             "",
             f"  classifier  {drift.clf_text()}",
             f"  MMD         {drift.mmd_text()}",
             "",
             "  most typical of B (what is new in B; out-of-sample P(B), high first):"]
    lines += [_line(row) for row in result["top_b"][: args.top]]
    lines.append("  most typical of A (what B lacks; P(B), low first):")
    lines += [_line(row) for row in result["top_a"][: args.top]]
    print("\n".join(lines))
    if out is not None:
        _write_text(out, json.dumps(jsonable(result), indent=2) + "\n")
        _err(f"wrote {out}")
    if drift.drift_:
        _err(f"drift detected at alpha {args.alpha} (exit {EXIT_UNHEALTHY})")
        return EXIT_UNHEALTHY
    return EXIT_OK
