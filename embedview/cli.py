"""The ``embedview`` command line.

``embedview [PATH...]`` (or ``embedview gui [PATH...]``) opens the desktop app; the other
subcommands work without a window::

    embedview demo [--headless] [-o report.html]   the demo data, in the app or as a report
    embedview encode PATH... --model NAME -o out.npz|out.parquet
    embedview models                               the encoders and whether they work offline
    embedview info PATH... [--json]                what would load, and the problems found
    embedview check PATH... [-o metrics.json]      every metric the data allows (CI gate)
    embedview check DOCS... --queries Q --relevance PAIRS.csv [-m MODEL] -o metrics.json
                                                   retrieval of separate queries against the documents
    embedview check RUN_FOLDER [-o timeline.json]  metrics and collapse verdict per training step
    embedview check NEW --baseline OLD [--tolerance 0.02] [--tolerance-for knn_accuracy=0.01] [-o changes.json]
                                                   a CI gate: NEW's headline metrics against OLD's
    embedview report PATH... --model A [--model B] -o report.html
    embedview duplicates PATH... -o dups.csv|dups.json
    embedview neighbors PATH... [--k 10] -o neighbors.csv

Exit status: 0 success; 1 unexpected error; 2 usage or input error (unknown model, missing or
unreadable file); 3 from ``check`` when the collapse verdict is not healthy (for a run folder: of
its last step; with ``--baseline``: when the gate fails), so that a training pipeline can run
``embedview check emb.npy || fail``.

Heavy modules (torch, Qt, umap) are imported only by the commands that need them: ``models``
and ``info`` start in well under a second.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import importlib
import io
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from embedview import __version__

log = logging.getLogger("embedview")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNHEALTHY = 3

#: commands that live in their own module: ``(command name, module)``; the module has
#: ``register(sub, parents)`` (``parents``: the shared argument groups by name) and is imported
#: when the parser is built, so it must stay as light as this one at import time.
EXTRA_COMMANDS: tuple[tuple[str, str], ...] = (
    ("audit", "embedview.cli_audit"),
    ("drift", "embedview.cli_drift"),
    ("scores", "embedview.cli_scores"),
)
COMMANDS = ("gui", "demo", "encode", "models", "info", "check", "report", "duplicates", "neighbors",
            *(name for name, _ in EXTRA_COMMANDS))


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit status 2, no traceback."""


# -- progress on stderr ----------------------------------------------------------------------------
class ProgressBar:
    """A dependency-free progress bar for ``progress=`` callbacks ``(fraction, message)``.

    On a terminal it redraws one line in place (about ten times a second); otherwise (a log
    file, CI) it prints a line every 10 % or every 10 seconds once the job has run for a
    second, and always the last one.  With
    ``total`` (items) it shows ``done/total``, items per second and the time left.
    """

    def __init__(self, label: str = "", total: int | None = None, stream=None, unit: str = "items",
                 clock: Callable[[], float] = time.monotonic):
        self.label = label
        self.clock = clock
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.start = clock()
        self._last_time = float("-inf")
        self._last_fraction = -1.0
        self._width = 0
        self._open = False
        self.done = False

    def __call__(self, fraction: float, message: str = "") -> None:
        if self.done:
            return
        now = self.clock()
        final = fraction >= 1.0
        if not final:
            if self.tty and now - self._last_time < 0.1:
                return
            if not self.tty and (now - self.start < 1.0 or  # quick jobs: just the final line
                                 fraction - self._last_fraction < 0.1 and now - self._last_time < 10.0):
                return
        self._last_time, self._last_fraction = now, fraction
        line = self.format(fraction, message, now - self.start)
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
            self._open = not final
            if final:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.done = final

    def format(self, fraction: float, message: str, elapsed: float) -> str:
        """The text of one update (no newline)."""
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(20 * fraction))
        parts = [self.label] if self.label else []
        parts.append(f"[{'#' * filled}{'-' * (20 - filled)}] {100 * fraction:3.0f}%")
        if self.total:
            done = int(round(fraction * self.total))
            parts.append(f"{done}/{self.total} {self.unit}")
            if elapsed > 0 and done:
                parts.append(f"{done / elapsed:.1f} {self.unit}/s")
        if 0 < fraction < 1 and elapsed >= 1:
            parts.append(f"ETA {_duration(elapsed * (1 - fraction) / fraction)}")
        elif fraction >= 1:
            parts.append(f"in {_duration(elapsed)}")
        if message and fraction < 1:
            parts.append(message[:60])
        return "  ".join(parts)

    def close(self) -> None:
        """End an unfinished in-place line (after an error or a cancel)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _err(message: str) -> None:
    print(message, file=sys.stderr)


# -- shared steps ------------------------------------------------------------------------------------
def _check_inputs(paths: Sequence[str]) -> None:
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise CLIError(f"{missing[0]}: no such file or directory")


def _check_output(out: str | None, inputs: Sequence[str], suffixes: Sequence[str]) -> Path | None:
    """Validate an output path before the work: a known suffix, never one of the user's input
    files, and a folder where a file can be created (:func:`core.export.check_output`)."""
    if out is None:
        return None
    from embedview.core.export import check_output

    path = Path(out)
    if suffixes and path.suffix.lower() not in suffixes:
        raise CLIError(f"{out}: unsupported output type {path.suffix or '(none)'!r}; use {' or '.join(suffixes)}")
    return check_output(path, inputs)


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` through :func:`core.export.atomic_path`: no half-written file is left behind."""
    from embedview.core.export import atomic_path

    with atomic_path(path) as tmp:
        write(tmp)


def _write_text(path: Path | None, text: str) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    _write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _write_csv(path: Path | None, write_rows: Callable[[Any], None]) -> None:
    """``write_rows(file)`` into ``path`` atomically (a CSV file: no newline translation), or to
    stdout when ``path`` is None."""
    if path is None:
        write_rows(sys.stdout)
        return

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            write_rows(f)

    _write_atomic(path, write)


def _print_problems(problems: Sequence[Any], limit: int = 20) -> None:
    """List skipped files / rows, then warnings (loaded anyway), on stderr (the first ``limit``
    of each, then a count)."""
    skipped = [p for p in problems if getattr(p, "severity", "skipped") != "warning"]
    warned = [p for p in problems if getattr(p, "severity", "skipped") == "warning"]
    for group, title in ((skipped, "skipped (not loaded)"), (warned, "warning(s) (loaded anyway)")):
        if not group:
            continue
        _err(f"{len(group)} {title}:")
        for p in group[:limit]:
            _err(f"  {p}")
        if len(group) > limit:
            _err(f"  ... and {len(group) - limit} more")


@contextlib.contextmanager
def _named_warnings(what: str):
    """Turn Python warnings raised while ``what`` runs (PIL's "Corrupt EXIF data", numpy's
    overflow, ...) into lines on stderr that say what was being done, once per message, instead
    of Python's raw ``file:line: Warning`` lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: dict[str, int] = {}
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        seen[text] = seen.get(text, 0) + 1
    for text, count in seen.items():
        _err(f"warning while {what}: {text}" + (f" ({count} times)" if count > 1 else ""))


def _load(paths: Sequence[str], args: argparse.Namespace, quiet: bool = False):
    """Load ``paths`` into one Dataset, listing the problems met on stderr."""
    from embedview.core.loaders import load_paths

    _check_inputs(paths)
    bar = None if quiet else ProgressBar("loading")
    try:
        with _named_warnings(f"loading {', '.join(map(str, paths))}"):
            dataset = load_paths(
                list(paths),
                text_column=getattr(args, "text_column", None),
                label_column=getattr(args, "label_column", None),
                progress=bar,
            )
    finally:
        if bar is not None:
            bar.close()
    if not quiet:
        _print_problems(dataset.problems)
    return dataset


def _embed(dataset, args: argparse.Namespace, model: str | None = None, batch_size: int | None = None):
    """Vectors for ``dataset``: precomputed ones as they are, else encoded with ``model``
    (``pipeline.embed`` refuses an unusable model before loading anything)."""
    from embedview.encoders.pipeline import embed

    if dataset.embeddings is not None:
        return embed(dataset, model or None)
    from embedview.encoders.registry import default_encoder_for

    name = model or default_encoder_for(dataset.modality)
    _err(f"encoding {len(dataset)} {dataset.modality} items with {name} (loading the model first)")
    bar = ProgressBar("encoding", total=len(dataset))
    try:
        with _named_warnings(f"encoding with {name}"):
            emb = embed(dataset, name, cache=False if getattr(args, "no_cache", False) else None,
                        device=getattr(args, "device", None), progress=bar, batch_size=batch_size)
    finally:
        bar.close()
    _print_problems(emb.problems)
    return emb


# -- commands ------------------------------------------------------------------------------------------
def cmd_gui(args: argparse.Namespace) -> int:
    from embedview.gui.app import main as gui_main

    return int(gui_main(list(args.paths) or None) or 0)


def cmd_demo(args: argparse.Namespace) -> int:
    from embedview.core.demo import build_demo, demo_dir

    if not args.headless:  # the app builds the demo data itself, in the background, with progress
        from embedview.gui.app import main as gui_main

        return int(gui_main(demo=True) or 0)
    out = _check_output(args.output, [], (".html", ".htm"))  # before minutes of work, not after
    folder = demo_dir()
    _err(f"building the demo data in {folder}")
    parts = build_demo(folder, n_per_class=args.per_class)

    from embedview.core.checks import Checks
    from embedview.core.report import write_report

    sets = {}
    for kind in ("images", "texts"):
        dataset = _load([str(parts[kind])], args)
        sets[kind] = _embed(dataset, args)
    checks = {}
    summaries = []
    for kind, emb in sets.items():
        bar = ProgressBar(f"checking {kind}")
        try:
            checks[kind] = Checks(k=args.k).fit(emb, progress=bar)
        finally:
            bar.close()
        summaries.append(_summary(kind, emb, checks[kind].to_dict()))
    bar = ProgressBar("writing report")
    try:
        path = write_report(sets, out, progress=bar, checks=checks, k=args.k, title="embedview demo")
    finally:
        bar.close()
    print("\n\n".join(summaries))
    print(f"\nreport: {path.resolve()}")
    return EXIT_OK


def _summary(title: str, emb, result: dict[str, Any]) -> str:
    """A few readable lines about one embedding set's check results."""
    ds = emb.dataset
    labels = f", {len(ds.label_names)} labels" if ds.has_labels else ""
    lines = [f"{title}: {len(emb)} {ds.modality} items{labels}, {emb.encoder} ({emb.dim}-d)"]
    collapse = result.get("collapse", {})
    lines.append(f"  collapse        {_verdict_line(collapse)}")
    knn = result.get("knn")
    if knn:
        lines.append(f"  kNN accuracy    {_fmt(knn.get('accuracy'))} (k={knn.get('k', '?')}, majority vote)")
    probe = result.get("linear_probe")
    if probe:
        lines.append(f"  linear probe    {_fmt(probe.get('accuracy_mean'))} accuracy ({probe.get('folds')}-fold)")
    dups = result.get("duplicates")
    if dups:
        largest = f", the largest of {dups['largest_group']} items" if dups.get("largest_group", 0) > 2 else ""
        lines.append(f"  duplicates      {dups.get('n_groups', 0)} group(s){largest} "
                     f"at cosine similarity >= {_fmt(dups.get('threshold'))}")
    for skipped in result.get("skipped", []):
        lines.append(f"  skipped {skipped['check']}: {skipped['reason']}")
    return "\n".join(lines)


def _verdict_line(collapse: dict[str, Any]) -> str:
    verdict = collapse.get("verdict", "?")
    rank = collapse.get("effective_rank")
    if rank is None:
        return str(verdict)
    room = min(collapse["n_used"] - 1, collapse["dim"])  # the most it could be
    return f"{verdict} (effective rank {_fmt(rank, 1)} of at most {room})"


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "n/a" if value is None else str(value)


def cmd_encode(args: argparse.Namespace) -> int:
    if getattr(args, "engine", "local") == "ray":
        return _encode_ray(args)
    out = _check_output(args.output, args.paths, (".npz", ".parquet"))
    dataset = _load(args.paths, args)
    if len(dataset) == 0:
        raise CLIError(f"{', '.join(args.paths)}: nothing to encode")
    emb = _embed(dataset, args, model=args.model, batch_size=args.batch_size)
    if out.suffix.lower() == ".npz":
        from embedview.core.export import save_npz

        _write_atomic(out, lambda tmp: save_npz(emb, tmp))
    else:
        from embedview.core.export import save_parquet

        _write_atomic(out, lambda tmp: save_parquet(emb, tmp))
    _err(f"wrote {len(emb)} vectors ({emb.dim}-d, {emb.encoder}) to {out}; {_skip_summary(dataset, emb)}")
    return EXIT_OK


def _encode_ray(args: argparse.Namespace) -> int:
    """``encode --engine ray``: parquet shards in the folder ``-o`` (resumable), encoded by Ray actors."""
    try:
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise CLIError(f"--engine ray needs Ray Data: pip install 'embedview[ray]' ({exc})") from exc
    from embedview.encoders.ray_engine import encode_on_ray
    from embedview.encoders.registry import ensure_available

    try:
        ensure_available(args.model)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CLIError(f"--model {args.model}: {exc}") from exc
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CLIError(f"{out}: --engine ray writes a folder of parquet shards, and this is a file")
    dataset = _load(args.paths, args)
    if len(dataset) == 0:
        raise CLIError(f"{', '.join(args.paths)}: nothing to encode")
    if dataset.modality not in ("image", "text"):
        raise CLIError(f"{', '.join(args.paths)}: {dataset.modality} items are vectors already; nothing to encode")
    res = encode_on_ray(dataset, args.model, out, address=args.address, shard_size=args.shard_size,
                        device=getattr(args, "device", None), batch_size=args.batch_size, progress=_err)
    _err(f"{res['n_items']} items in {res['n_shards']} shard(s) under {out}: {len(res['redone'])} encoded now, "
         f"{len(res['skipped'])} already done")
    return EXIT_OK


def _skip_summary(dataset, emb) -> str:
    """What did not make it into the output, counted as what it is: files or rows that did not
    load, items that loaded but could not be encoded, and warnings (those items are in)."""
    not_loaded = sum(getattr(p, "severity", "skipped") != "warning" for p in dataset.problems)
    warned = sum(getattr(p, "severity", "skipped") == "warning" for p in emb.all_problems)
    not_encoded = len(dataset) - len(emb)
    parts = [f"{not_loaded} file(s) or row(s) skipped (not loaded)"]
    if not_encoded:
        parts.append(f"{not_encoded} item(s) skipped (could not be encoded)")
    parts.append(f"{warned} warning(s)")
    return ", ".join(parts)


def cmd_models(args: argparse.Namespace) -> int:
    from embedview.encoders.registry import list_encoders

    rows = []
    for spec in list_encoders():
        ok, detail = spec.availability()
        rows.append({"name": spec.name, "modality": spec.modality, "dim": spec.dim, "offline": bool(ok),
                     "detail": detail, "description": spec.description})
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    table = [[r["name"], r["modality"], "?" if r["dim"] is None else str(r["dim"]),
              ("yes" if r["offline"] else "no") + (f": {r['detail']}" if r["detail"] else ""), r["description"]]
             for r in rows]
    print(_table(["name", "modality", "dim", "offline", "description"], table))
    return EXIT_OK


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table with aligned columns, fitted to the terminal by shortening wide cells."""
    import shutil

    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    width = 10**6 if piped else shutil.get_terminal_size((160, 24)).columns
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    while sum(widths) + 2 * (len(widths) - 1) > width and max(widths) > 24:
        widest = widths.index(max(widths))  # shave the widest column until the table fits
        widths[widest] -= 1

    def fit(text: str, w: int) -> str:
        return text if len(text) <= w else text[: w - 1] + "\u2026"

    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(fit(c, w).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    from embedview.core.loaders import describe

    dataset = _load(args.paths, args, quiet=True)
    info = describe(dataset)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return EXIT_OK
    print(_format_info(info))
    return EXIT_OK


def _format_info(info: dict[str, Any], max_labels: int = 30) -> str:
    """Human-readable rendering of :func:`embedview.core.loaders.describe`'s dict."""
    dim = f", {info['dim']}-d vectors" if info.get("dim") else ""
    lines = [f"{info.get('name') or 'input'}: {info['n_items']:,} {info['modality']} item(s) "
             f"from {info['n_files']:,} file(s){dim}"]
    if info.get("metadata_columns"):
        lines.append(f"columns: {', '.join(map(str, info['metadata_columns']))}")
    labels = info.get("labels") or {}
    if labels:
        lines.append(f"labels: {len(labels):,} ({info['n_labelled']:,} of {info['n_items']:,} items labelled)")
        for name, count in list(labels.items())[:max_labels]:
            lines.append(f"  {count:>8,}  {name}")
        if len(labels) > max_labels:
            lines.append(f"  ... and {len(labels) - max_labels:,} more labels")
    else:
        lines.append("labels: none")
    problems = info.get("problems") or []
    if not problems:
        lines.append("problems: none")
    else:
        lines.append(f"problems: {info.get('n_skipped', 0)} skipped, {info.get('n_warnings', 0)} warning(s)")
        lines += [f"  {p}" for p in problems]
    return "\n".join(lines)


def cmd_check(args: argparse.Namespace) -> int:
    from embedview.core.checks import is_healthy, run_checks, suite_graph
    from embedview.core.graph import source_of
    from embedview.core.progress import TaskState

    if args.baseline is not None:
        return _check_baseline(args)
    if len(args.paths) == 1 and _is_run_folder(args.paths[0]):
        return _check_run(args)
    inputs = list(args.paths) + list(args.queries or []) + ([args.relevance] if args.relevance else [])
    out = _check_output(args.output, inputs, (".json",))
    if args.relevance and not os.path.isfile(args.relevance):  # before minutes of encoding, not after
        raise CLIError(f"{args.relevance}: cannot read relevance file (no such file)")
    emb = _embed(_load(args.paths, args), args, model=args.model)
    queries = _queries(emb, args) if args.queries else None
    relevant = None
    if args.relevance:
        from embedview.core.evaluation import load_relevance_file

        try:
            if queries is not None:  # query ids from the query set, relevant ids from the documents
                relevant, problems = load_relevance_file(args.relevance, queries.dataset.ids, emb.dataset.ids)
            else:
                relevant, problems = load_relevance_file(args.relevance, emb.dataset.ids)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        for problem in problems[:20]:
            _err(f"skipped {problem}")
        if len(problems) > 20:
            _err(f"... and {len(problems) - 20} more rows of {args.relevance} skipped")
    elif queries is not None and not (queries.dataset.has_labels and emb.dataset.has_labels):
        raise CLIError("--queries needs --relevance PAIRS.csv (query,relevant id pairs), "
                       "or labels on both the queries and the documents")
    bar = ProgressBar("checking")
    try:
        task = TaskState(bar)
        graph = None
        if len(emb) >= 2:  # the neighbour graph, searched once and kept: `neighbors`, `duplicates`, the window reuse it
            graph = suite_graph(emb, k=args.k, cache=False if getattr(args, "no_cache", False) else None,
                                source=source_of(args.paths, emb.encoder), progress=task.sub(0.0, 0.3))
        result = run_checks(emb, k=args.k, progress=task.sub(0.3 if graph is not None else 0.0, 1.0),
                            relevant=relevant, queries=queries, graph=graph)
    finally:
        bar.close()
    if graph is not None:
        _err(graph.summary)
    if "collapse" not in result:  # fewer than 2 items: no check can run, there is no verdict
        reason = next((r["reason"] for r in result["skipped"] if r["check"] == "collapse"), "")
        raise CLIError(f"{', '.join(args.paths)}: too few items to check: {len(emb)} ({reason})")
    if args.invariance:
        result["invariance"] = _invariance(emb, args.invariance)
    _write_text(out, json.dumps(result, indent=2) + "\n")
    verdict = result["collapse"].get("verdict")
    if out is not None:
        _err(f"wrote {out}")
    if is_healthy(result):
        _err(f"collapse verdict: {verdict}")
        return EXIT_OK
    _err(f"collapse verdict: {verdict} (exit {EXIT_UNHEALTHY})")
    return EXIT_UNHEALTHY


def _is_run_folder(path: str) -> bool:
    """A folder of numbered checkpoint dumps (:func:`core.timeline.is_run_folder`)."""
    try:
        from embedview.core.timeline import is_run_folder
    except ImportError:  # an installation without the timeline
        return False
    return is_run_folder(path)


def _no_extras(args: argparse.Namespace, what: str) -> None:
    """Refuse the options that have no meaning for a run folder or a baseline comparison."""
    for option, given in (("--queries", args.queries), ("--relevance", args.relevance),
                          ("--invariance", args.invariance)):
        if given:
            raise CLIError(f"{option} cannot be used with {what}")


def _read_run(path: str):
    from embedview.core.timeline import RunError, read_run

    bar = ProgressBar("reading the run")
    try:
        run = read_run(path, progress=bar)
    except RunError as exc:
        raise CLIError(str(exc)) from None
    finally:
        bar.close()
    for note in run.notes:
        _err(f"note: {note}")
    return run


def _check_run(args: argparse.Namespace) -> int:
    """``embedview check RUN_FOLDER``: the timeline's metrics and verdict per step; exit 3 when
    the last step is collapsed."""
    from embedview.core.timeline import RunError, Timeline

    _no_extras(args, "a run folder")
    out = _check_output(args.output, args.paths, (".json",))
    run = _read_run(args.paths[0])
    bar = ProgressBar(f"measuring {len(run)} steps", total=len(run), unit="steps")
    try:
        timeline = Timeline(k=args.k).fit(run, progress=bar)
    except RunError as exc:
        raise CLIError(str(exc)) from None
    finally:
        bar.close()
    doc = timeline.to_dict()
    table = _timeline_table(doc["rows"])
    # the file is the list of steps, ordered by step (what a dashboard plots); each row carries
    # the items each metric used (``n_used``, ``sampled``); how they were measured goes to stderr
    _write_text(out, json.dumps(doc["rows"], indent=2) + "\n")
    if out is not None:
        print(table)
        _err(f"wrote {out} ({len(doc['rows'])} steps)")
    else:
        _err(table)
    for what, how in doc["how"].items():
        _err(f"{what}: {how}")
    last = doc["rows"][-1]
    if timeline.last_collapsed_:
        _err(f"last step ({last['step']}): {last['verdict']} (exit {EXIT_UNHEALTHY})")
        return EXIT_UNHEALTHY
    _err(f"last step ({last['step']}): {last['verdict']}")
    return EXIT_OK


def _timeline_table(rows: Sequence[dict[str, Any]]) -> str:
    columns = (("step", "step"), ("verdict", "verdict"), ("effective_rank", "eff. rank"), ("dims_90", "dims 90%"),
               ("mean_pairwise_cosine", "mean cos"), ("uniformity", "uniformity"), ("alignment", "alignment"),
               ("knn_accuracy", "kNN acc"), ("linear_probe", "probe acc"))
    shown = [(key, title) for key, title in columns if any(r.get(key) is not None for r in rows)]
    return _table([title for _, title in shown], [[_fmt(r.get(key)) for key, _ in shown] for r in rows])


#: the check the baseline gate runs on a file or a run's last step for each headline metric of
#: core.baseline (collapse always runs; the slower checks that give none of them are not run)
GATE_CHECKS = {"knn_accuracy": "knn", "linear_probe": "linear_probe", "retrieval_map": "retrieval"}


def _gate_checks(metrics: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(check for metric, check in GATE_CHECKS.items() if metrics is None or metric in metrics)


def _gate_result(paths: Sequence[str], args: argparse.Namespace, role: str,
                 metrics: Sequence[str] | None = None) -> tuple[dict[str, Any], str]:
    """The check result of one side of ``--baseline``: a check / timeline JSON file as written
    before, a run folder's last step, or files (vectors, or data encoded as usual)."""
    from embedview.core.baseline import BaselineError, headline_metrics
    from embedview.core.checks import run_checks

    first = paths[0]
    if len(paths) == 1 and first.lower().endswith(".json") and os.path.isfile(first):
        try:
            with open(first, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as exc:
            raise CLIError(f"{first}: not a readable JSON file ({exc})") from None
        if isinstance(doc, dict) and "passed" in doc and "failed" in doc:
            raise CLIError(f"{first}: a comparison written by --baseline, not a check result; give the "
                           "`embedview check -o metrics.json` file or the data")
        try:
            headline_metrics(doc)
        except BaselineError as exc:
            raise CLIError(f"{first}: {exc}") from None
        return doc, f"{first} (check result)"
    if len(paths) == 1 and _is_run_folder(first):
        from embedview.api import embedding_set

        run = _read_run(first)
        from embedview.core.timeline import RunError

        try:
            X = run.vectors(len(run) - 1)
        except RunError as exc:
            raise CLIError(str(exc)) from None
        emb = embedding_set(X, labels=run.labels, ids=run.ids, name=f"{first} step {run.steps[-1]}")
        what = f"{first} (last step, {run.steps[-1]})"
    else:
        emb = _embed(_load(paths, args), args, model=args.model)
        what = ", ".join(paths)
    if len(emb) < 2:
        raise CLIError(f"{what}: too few items to check: {len(emb)}")
    bar = ProgressBar(f"checking the {role}")
    try:
        result = run_checks(emb, k=args.k, progress=bar, include=_gate_checks(metrics))
    finally:
        bar.close()
    return result, what


def _parse_tolerances(items: Sequence[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise CLIError(f"--tolerance-for {item!r}: write METRIC=TOLERANCE, e.g. knn_accuracy=0.01")
    return out


def _check_baseline(args: argparse.Namespace) -> int:
    """``embedview check NEW --baseline OLD``: exit 3 when a headline metric of NEW is worse than
    OLD's by more than its tolerance, or the collapse verdict is worse."""
    from embedview.core.baseline import BaselineComparison, BaselineError

    _no_extras(args, "--baseline")
    _check_inputs([args.baseline])
    out = _check_output(args.output, [*args.paths, args.baseline], (".json",))
    metrics = None if args.metrics is None else [m.strip() for m in args.metrics.split(",") if m.strip()]
    try:
        gate = BaselineComparison(args.tolerance, _parse_tolerances(args.tolerance_for), metrics)
    except BaselineError as exc:
        raise CLIError(str(exc)) from None
    baseline, old_what = _gate_result([args.baseline], args, "baseline", metrics)
    new, new_what = _gate_result(list(args.paths), args, "new result", metrics)
    try:
        gate.fit(new, baseline)
    except BaselineError as exc:
        raise CLIError(str(exc)) from None
    doc = {"new_input": new_what, "baseline_input": old_what, **gate.to_dict()}
    print(f"new: {new_what}\nbaseline: {old_what}")
    print(_table(["metric", "baseline", "new", "change", "allowed", "status"], gate.table_rows()))
    for note in gate.notes_:
        _err(f"note: {note}")
    if out is not None:
        _write_text(out, json.dumps(doc, indent=2) + "\n")
        _err(f"wrote {out}")
    if gate.passed_:
        _err("gate passed: no headline metric worse than the baseline beyond its tolerance")
        return EXIT_OK
    _err(f"gate failed: {', '.join(gate.failed_)} (exit {EXIT_UNHEALTHY})")
    return EXIT_UNHEALTHY


def _queries(docs, args: argparse.Namespace):
    """The query set of ``check --queries``, as vectors of the documents' own encoder."""
    import numpy as np

    # the query file has columns of its own: those named for the documents are used only where it has them
    from embedview.core.loaders import table_columns

    given = argparse.Namespace(**vars(args))
    for option in ("text_column", "label_column"):
        wanted = getattr(args, option, None)
        if wanted is not None:
            try:
                have = [c.lower() for path in args.queries for c in table_columns(path)["columns"]]
            except Exception:  # not a table (a folder of images, .npy): nothing to choose
                have = []
            if wanted.lower() not in have:
                setattr(given, option, None)
    queries = _load(args.queries, given)
    if docs.encoder == "precomputed":
        if queries.embeddings is None:
            raise CLIError("the documents are precomputed vectors: give the queries as vectors too "
                           "(.npy, .parquet, ...) from the same model, or give the documents' texts and a model")
        q = _embed(queries, args)
    elif queries.embeddings is not None:
        raise CLIError(f"the queries are precomputed vectors but the documents were encoded with {docs.encoder}: "
                       "give both as vectors, or both as texts / images")
    else:
        q = _embed(queries, args, model=docs.encoder)
    if q.dim != docs.dim:
        raise CLIError(f"the queries have {q.dim} dimensions and the documents {docs.dim}: use the same model")
    if len(q) and not np.isfinite(q.vectors).all():
        raise CLIError("the query vectors hold NaN or infinity")
    return q


def _invariance(emb, n_items: int) -> dict[str, Any]:
    """The registry's ``invariance`` check of ``emb``'s own encoder (loaded here) on ``n_items`` items."""
    from embedview.core.checks import CheckInput, get_check, jsonable

    spec = get_check("invariance")

    def run_probe(probe, items, modality, task):
        from embedview.encoders.pipeline import get_encoder

        return probe.run(items, get_encoder(emb.encoder).encode, modality, progress=task)

    inp = CheckInput(emb, run_probe=run_probe)
    if spec.unavailable(inp):
        raise CLIError("--invariance re-encodes augmented items: give the images or texts and a model (-m), "
                       "not precomputed vectors")
    bar = ProgressBar("invariance probe")
    try:
        probe = spec.fit(inp, {"n_items": n_items}, progress=bar)
    except ValueError as exc:
        raise CLIError(f"--invariance: {exc}") from None
    finally:
        bar.close()
    return jsonable(probe.to_dict())


def cmd_report(args: argparse.Namespace) -> int:
    from embedview.core.checks import suite_graph
    from embedview.core.graph import source_of
    from embedview.core.progress import TaskState
    from embedview.core.report import write_report

    out = _check_output(args.output, args.paths, (".html", ".htm"))
    dataset = _load(args.paths, args)
    models = args.model or [None]
    if len(set(models)) != len(models):
        raise CLIError("each --model may be given once")
    sets = {}
    for model in models:
        emb = _embed(dataset, args, model=model)
        if len(emb) < 2:  # a report compares items: maps, neighbours, checks
            raise CLIError(f"{', '.join(args.paths)}: too few items for a report: {len(emb)} (needs at least 2)")
        sets[emb.encoder] = emb
        if dataset.embeddings is not None:
            break
    bar = ProgressBar("writing report")
    try:
        task = TaskState(bar)
        graphs = {}  # each set's neighbour graph, searched once and kept: `check`, `neighbors`, the window reuse it
        for i, (name, emb) in enumerate(sets.items()):
            graphs[name] = suite_graph(emb, k=10, cache=False if getattr(args, "no_cache", False) else None,
                                       source=source_of(args.paths, emb.encoder),
                                       progress=task.sub(0.2 * i / len(sets), 0.2 * (i + 1) / len(sets)))
        path = write_report(sets, out, progress=task.sub(0.2, 1.0), projection=args.projection,
                            include_paths=not args.no_paths, graphs=graphs)
    finally:
        bar.close()
    for graph in graphs.values():
        _err(graph.summary)
    _err(f"wrote {path}")
    return EXIT_OK


def cmd_duplicates(args: argparse.Namespace) -> int:
    from embedview.core.duplicates import DuplicateFinder

    out = _check_output(args.output, args.paths, (".csv", ".json"))
    emb = _embed(_load(args.paths, args), args, model=args.model)
    if len(emb) < 2:
        raise CLIError("need at least two items to look for duplicates")
    from embedview.core.graph import knn_graph, source_of
    from embedview.core.progress import TaskState

    finder = DuplicateFinder(threshold=args.threshold)
    bar = ProgressBar("finding duplicates", total=len(emb))
    try:
        task = TaskState(bar)
        # the exact neighbour graph, kept in the cache: `neighbors`, `check` and the window reuse it
        graph = knn_graph(emb, finder.k, finder.metric, exact=True, cache=False if args.no_cache else None,
                          source=source_of(args.paths, emb.encoder), progress=task.sub(0.0, 0.9))
        finder.fit(emb, progress=task.sub(0.9, 1.0), graph=graph)
    finally:
        bar.close()
    _err(graph.summary)
    if args.threshold is None:
        _err(f"threshold: {finder.threshold_:.4f} (suggested from the data; set one with --threshold)")
    summary = finder.to_dict()
    _err(f"{summary['n_groups']} duplicate group(s) holding {summary['n_items_in_groups']} items; "
         f"{summary['n_items_in_groups'] - summary['n_groups']} could be removed")
    if out is None:
        finder.write_csv(sys.stdout)
        return EXIT_OK
    if out.suffix.lower() == ".json":
        finder.to_json(out)
    else:
        finder.to_csv(out)
    _err(f"wrote {out}")
    return EXIT_OK


def cmd_neighbors(args: argparse.Namespace) -> int:
    from embedview.core.graph import knn_graph, source_of

    out = _check_output(args.output, args.paths, (".csv",))
    emb = _embed(_load(args.paths, args), args, model=args.model)
    if len(emb) < 2:
        raise CLIError("need at least two items to find neighbours")
    k = min(args.k, len(emb) - 1)
    bar = ProgressBar("searching", total=len(emb))
    try:  # searched once per data and metric, kept in the cache (not with --no-cache)
        graph = knn_graph(emb, k, args.metric, cache=False if args.no_cache else None,
                          source=source_of(args.paths, emb.encoder), progress=bar)
    finally:
        bar.close()
    _err(graph.summary)
    idx, scores = graph.head(k)
    from embedview.core.csvsafe import safe_cell

    # each id rendered once as a CSV cell (neutralised for spreadsheets: ids may come from a user's
    # file; quoted as csv.writer quotes), not once per row: 1M rows took ~25 s through csv.writer
    one = io.StringIO()
    writer = csv.writer(one, lineterminator="\n")
    cells = []
    for i in emb.dataset.ids:
        one.seek(0)
        one.truncate()
        writer.writerow([safe_cell(i), "x"])  # two fields: a lone empty field would be written as ""
        cells.append(one.getvalue()[:-3])
    lines = ["query,rank,neighbor,score"]
    ranks = [str(r + 1) for r in range(k)]
    for q, (row_i, row_s) in enumerate(zip(idx.tolist(), scores.tolist(), strict=True)):
        head = cells[q] + ","
        for rank in range(k):
            j = row_i[rank]
            if j >= 0:
                lines.append(f"{head}{ranks[rank]},{cells[j]},{row_s[rank]:.6g}")
    lines.append("")
    _write_text(out, "\n".join(lines))
    if out is not None:
        _err(f"wrote {k} neighbours for each of {len(emb)} items to {out}")
    return EXIT_OK


# -- argument parsing --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="more log output (-vv for debug, with tracebacks)")

    loading = argparse.ArgumentParser(add_help=False)
    loading.add_argument("paths", nargs="+", metavar="PATH",
                         help="image folders or files, text files (.txt .csv .jsonl), embeddings (.npy .npz "
                         ".parquet .arrow), Hugging Face save_to_disk folders")
    loading.add_argument("--text-column", metavar="C", help="column holding the text in .csv/.jsonl/.parquet")
    loading.add_argument("--label-column", metavar="C", help="column holding the label")

    encoding = argparse.ArgumentParser(add_help=False)
    encoding.add_argument("--device", metavar="D",
                          help="torch device: cpu, cuda, cuda:1, mps (default: the best available)")
    encoding.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")

    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", "-m", metavar="NAME",
                       help="encoder for images/text (see `embedview models`); ignored for precomputed vectors")

    parser = argparse.ArgumentParser(
        prog="embedview",
        parents=[common],
        description="See and test your embeddings: neighbours, maps, duplicates, metrics, collapse diagnostics.",
        epilog="`embedview PATH...` with no command opens the desktop app. "
               "Exit status: 0 ok, 1 unexpected error, 2 usage/input error, 3 `check` found an unhealthy embedding.",
    )
    parser.add_argument("--version", action="version", version=f"embedview {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("gui", parents=[common], help="open the desktop app (the default)")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("demo", parents=[common, encoding], help="the built-in demo data, in the app or as a report")
    p.add_argument("--headless", action="store_true", help="no window: encode, print a summary, write the report")
    p.add_argument("-o", "--output", default="embedview-demo.html", metavar="FILE",
                   help="report file for --headless (default: %(default)s)")
    p.add_argument("--k", type=_positive_int, default=10, help="neighbours for the kNN metrics (default: 10)")
    p.add_argument("--per-class", type=_positive_int, default=30, metavar="N",
                   help="with --headless: digit images per class (default: %(default)s; fewer is faster)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("encode", parents=[common, loading, encoding], help="compute vectors and save them")
    p.add_argument("--model", "-m", metavar="NAME", required=True, help="encoder (see `embedview models`)")
    p.add_argument("-o", "--output", default="embeddings.npz", metavar="FILE",
                   help=".npz (embeddings, ids, labels, sources) or .parquet (default: %(default)s)")
    p.add_argument("--batch-size", type=_positive_int, metavar="N", help="items per model call")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="ray: encode on a Ray cluster into a folder (-o) of resumable parquet shards "
                        "(pip install 'embedview[ray]')")
    p.add_argument("--address", metavar="ADDR",
                   help="with --engine ray: an existing cluster (e.g. ray://head:10001 or auto); default: a local one")
    p.add_argument("--shard-size", type=_positive_int, default=1000, metavar="N",
                   help="with --engine ray: items per parquet shard (default: %(default)s)")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("models", parents=[common], help="list encoders and whether they work offline")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("info", parents=[common, loading], help="what would load: counts, labels, problems")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("check", parents=[common, loading, encoding, model],
                       help="every metric the data allows, as JSON; exit 3 if collapsed")
    p.add_argument("-o", "--output", metavar="FILE", help="metrics.json (default: stdout)")
    p.add_argument("--k", type=_positive_int, default=10, help="neighbours for the kNN metrics (default: 10)")
    p.add_argument("--queries", nargs="+", metavar="Q",
                   help="a separate query set (texts, images or vectors, like PATH): retrieval ranks these queries "
                   "against the documents (PATH) only, encoded with the same model")
    p.add_argument("--relevance", metavar="CSV", help="retrieval relevance as query,relevant id pairs "
                   "(a CSV or TSV with those two columns; with --queries: query ids from the query set, relevant "
                   "ids from the documents; default: items with the same label)")
    p.add_argument("--invariance", type=_positive_int, nargs="?", const=100, default=0, metavar="N",
                   help="also probe the encoder's invariance to augmentations on N items (default 100); "
                   "needs images or texts and a model")
    p.add_argument("--baseline", metavar="OLD",
                   help="a CI gate: compare the headline metrics of PATH (files, a run folder's last step, or a "
                   "check JSON) with OLD (the same kinds); exit 3 when one is worse beyond its tolerance or the "
                   "collapse verdict is worse; -o writes the changes as JSON")
    p.add_argument("--tolerance", type=_tolerance, default=0.02, metavar="T",
                   help="with --baseline: how much worse a metric may be (default %(default)s): absolute units for "
                   "accuracies, cosines, uniformity, MAP; a fraction of the baseline for effective rank and dims_90")
    p.add_argument("--tolerance-for", action="append", metavar="METRIC=T",
                   help="with --baseline: the tolerance of one metric (repeatable), e.g. knn_accuracy=0.01")
    p.add_argument("--metrics", metavar="M,M",
                   help="with --baseline: compare only these metrics (effective_rank, dims_90, mean_pairwise_cosine, "
                   "uniformity, alignment, knn_accuracy, linear_probe, retrieval_map, verdict)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("report", parents=[common, loading, encoding], help="a self-contained HTML report")
    p.add_argument("--model", "-m", metavar="NAME", action="append",
                   help="encoder; repeat to compare several (default: the modality's default)")
    p.add_argument("-o", "--output", default="embedview-report.html", metavar="FILE",
                   help="report file (default: %(default)s)")
    p.add_argument("--projection", choices=("pca", "umap"), default="pca", help="2-D map method (default: pca)")
    p.add_argument("--no-paths", action="store_true",
                   help="leave local paths out of the report (file names only), to share it")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("duplicates", parents=[common, loading, encoding, model], help="exact and near duplicates")
    p.add_argument("--threshold", type=float, metavar="T",
                   help="cosine similarity for near duplicates (default: the suggested one)")
    p.add_argument("-o", "--output", metavar="FILE", help="dups.csv or dups.json (default: CSV on stdout)")
    p.set_defaults(func=cmd_duplicates)

    p = sub.add_parser("neighbors", parents=[common, loading, encoding, model],
                       help="the k nearest neighbours of every item, as CSV")
    p.add_argument("--k", type=_positive_int, default=10, help="neighbours per item (default: 10)")
    p.add_argument("--metric", choices=("cosine", "dot", "euclidean"), default="cosine")
    p.add_argument("-o", "--output", metavar="FILE", help="neighbors.csv (default: stdout)")
    p.set_defaults(func=cmd_neighbors)

    parents = {"common": common, "loading": loading, "encoding": encoding, "model": model}
    for _name, module in EXTRA_COMMANDS:
        importlib.import_module(module).register(sub, parents)
    return parser


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number >= 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _with_default_command(argv: list[str]) -> list[str]:
    """Insert ``gui`` when no subcommand is named: ``embedview a.png b/`` -> ``embedview gui a.png b/``."""
    for i, token in enumerate(argv):
        if token.startswith("-"):
            continue
        return argv if token in COMMANDS else argv[:i] + ["gui"] + argv[i:]
    if any(t in ("-h", "--help", "--version") for t in argv):
        return argv
    return argv + ["gui"]


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log.setLevel(level)


def _user_errors() -> tuple:
    """Exception types that mean bad input rather than a bug (all cheap to import)."""
    from embedview.core.cache import CacheError
    from embedview.core.export import OutputError
    from embedview.core.loaders import LoadError
    from embedview.encoders.base import EncoderLoadError, UnusableEncoderError
    from embedview.encoders.registry import UnknownEncoderError

    return (CLIError, LoadError, UnknownEncoderError, EncoderLoadError, UnusableEncoderError, FileNotFoundError,
            IsADirectoryError, NotADirectoryError, PermissionError, OutputError, CacheError)


#: OS errors that are about the machine (a full disk, a read-only file system), not a bug
_DISK_ERRNOS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EROFS", "EDQUOT") if hasattr(errno, name))


def _disk_error(exc: BaseException) -> str:
    """The one-line message of a full-disk / read-only error naming its file, else ""."""
    if not isinstance(exc, OSError) or exc.errno not in _DISK_ERRNOS:
        return ""
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``embedview`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = _with_default_command(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    verbosity = getattr(args, "verbose", 0)
    _setup_logging(verbosity)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _err("embedview: interrupted")
        return 130
    except Exception as exc:
        from embedview.core.progress import Cancelled

        if isinstance(exc, Cancelled):
            _err("embedview: cancelled")
            return 130
        if isinstance(exc, _user_errors()):
            if verbosity >= 2:
                log.exception("details")
            _err(f"embedview: error: {exc}")
            return EXIT_USAGE
        if _disk_error(exc):
            if verbosity >= 2:
                log.exception("details")
            _err(f"embedview: error: {_disk_error(exc)}")
            return EXIT_USAGE
        if verbosity >= 1:
            log.exception("unexpected error")
        else:
            _err("(run with -v for the traceback)")
        _err(f"embedview: unexpected error: {type(exc).__name__}: {exc}")
        return EXIT_ERROR
