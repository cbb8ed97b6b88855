"""The Python API: embedview from a script, a notebook or a training loop.

::

    import embedview

    result = embedview.check(vectors, labels=labels)      # what `embedview check` computes
    result["verdict"], result.table()                     # a plain dict, and a DataFrame of its rows
    embedview.compare(new_result, old_result)             # the CI gate of `check --baseline`
    embedview.audit(vectors, labels=labels, splits=splits)  # label issues, leaks, duplicates, outliers
    embedview.log("runs/a", step, vectors, ids=ids, labels=labels)  # one step of a training run
    win = embedview.show(vectors, labels=labels, texts=texts)        # the window, without blocking
    win.selection()                                       # the ids selected in the window
    embedview.scores(vectors, labels=labels, texts=texts).table()  # uniqueness, representativeness, named clusters
    embedview.drift(train_vectors, new_vectors).table()  # classifier two-sample test and MMD
    embedview.timeline("runs/a").table()                 # the metrics and verdict per logged step

Every function computes with :mod:`embedview.core` (the same registry of checks as the CLI, the
same audit, the same run format): nothing here has logic of its own beyond turning arrays into a
:class:`~embedview.core.dataset.Dataset`.  Importing this module is cheap (numpy and the core are
imported by the functions that use them); ``import embedview`` gives these names lazily.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embedview.core.audit import Audit
    from embedview.core.baseline import BaselineComparison
    from embedview.core.checks import Checks
    from embedview.core.embeddings import EmbeddingSet

#: the environment variable naming the 0600 file with the window's remote-control settings
REMOTE_ENV = "EMBEDVIEW_REMOTE"


# ==============================================================================================
# arrays -> an EmbeddingSet
# ==============================================================================================
def _column(values: Any, n: int, what: str) -> list[Any]:
    if hasattr(values, "tolist") and not isinstance(values, (str, bytes)):
        out = list(values.tolist())
    else:
        out = list(values)
    if len(out) != n:
        raise ValueError(f"{len(out)} {what} for {n} vectors")
    return out


def _metadata_columns(metadata: Any, n: int) -> dict[str, list[Any]]:
    """A DataFrame, a dict of columns or a list of row dicts -> {column: values}."""
    if metadata is None:
        return {}
    if hasattr(metadata, "to_dict") and hasattr(metadata, "columns"):  # a pandas DataFrame
        cols = {str(c): _column(metadata[c].to_numpy(), n, f"values in metadata column {c!r}")
                for c in metadata.columns}
    elif isinstance(metadata, Mapping):
        cols = {str(k): _column(v, n, f"values in metadata column {k!r}") for k, v in metadata.items()}
    else:
        rows = list(metadata)
        if len(rows) != n:
            raise ValueError(f"{len(rows)} metadata rows for {n} vectors")
        keys: dict[str, None] = {}
        for r in rows:
            keys.update(dict.fromkeys(map(str, r)))
        cols = {k: [r.get(k) for r in rows] for k in keys}
    # numpy scalars -> Python values (they go to a parquet file and back)
    return {k: [v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v for v in col]
            for k, col in cols.items()}


def embedding_set(vectors: Any, labels: Any = None, ids: Any = None, texts: Any = None, metadata: Any = None,
                  sources: Any = None, name: str = "") -> EmbeddingSet:
    """Vectors and their per-item columns as an :class:`EmbeddingSet` (an EmbeddingSet passes through).

    ``vectors`` (N, D) numbers (numpy, a list, a torch tensor on the CPU); ``labels`` N values
    (``None`` / NaN: unlabelled); ``ids`` N unique values (default ``"0"`` ... ``"N-1"``);
    ``texts`` N strings; ``metadata`` a DataFrame or {column: N values}; ``sources`` N paths.
    Raises ``ValueError`` naming what is wrong (shape, NaN, lengths, repeated ids).
    """
    import numpy as np

    from embedview.core.dataset import Dataset
    from embedview.core.embeddings import EmbeddingSet, as_matrix

    if isinstance(vectors, EmbeddingSet):
        return vectors
    if hasattr(vectors, "detach"):  # a torch tensor: no torch import here
        vectors = vectors.detach().cpu().numpy()
    X = np.ascontiguousarray(as_matrix(vectors), dtype=np.float32)
    n = len(X)
    id_list = [str(i) for i in range(n)] if ids is None else [str(v) for v in _column(ids, n, "ids")]
    if len(set(id_list)) != n:
        raise ValueError(f"the ids are not unique ({n - len(set(id_list))} repeated)")
    label_arr = None
    if labels is not None:
        raw = _column(labels, n, "labels")
        label_arr = np.empty(n, dtype=object)
        label_arr[:] = [None if v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())
                        else str(v) for v in raw]
    text_list = None if texts is None else [None if t is None else str(t) for t in _column(texts, n, "texts")]
    src = [""] * n if sources is None else [os.fspath(s) for s in _column(sources, n, "image paths")]
    ds = Dataset(modality="embedding", ids=id_list, sources=src, labels=label_arr, texts=text_list,
                 metadata=_metadata_columns(metadata, n), embeddings=X, name=name)
    return EmbeddingSet.from_dataset(ds)


def _table(rows: list[dict[str, Any]]) -> Any:
    """A pandas DataFrame of ``rows`` when pandas is installed, else the list itself."""
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows)


# ==============================================================================================
# check, compare, audit, log
# ==============================================================================================
class CheckResult(dict):
    """The result of :func:`check`: the same dict ``embedview check`` writes as JSON.

    ``result.table()``: one row per metric (check, metric, value, std, details) from the checks'
    registry, as a pandas DataFrame (a list of dicts without pandas); ``result.checks``: the
    fitted :class:`~embedview.core.checks.Checks` (the core objects, e.g. ``results_["knn"]``).
    """

    checks: Checks | None = None

    def table(self) -> Any:
        return _table(self.rows())

    def rows(self) -> list[dict[str, Any]]:
        from embedview.core.checks import get_check, jsonable

        if self.checks is None:
            raise ValueError("the rows need the fitted checks; this result was read from JSON")
        checks = self.checks
        out: list[dict[str, Any]] = []
        for name, fitted in checks.results_.items():
            rows = get_check(name).result_rows(fitted, checks.params(name), checks.emb_.dataset)
            out.extend(dict(r) for r in jsonable(rows))
        return out

    @property
    def verdict(self) -> str:
        return str(self["verdict"])

    @property
    def healthy(self) -> bool:
        return bool(self["healthy"])


def check(vectors: Any, labels: Any = None, k: int = 10, *, ids: Any = None, texts: Any = None,
          metadata: Any = None, include: Iterable[str] | None = None,
          relevant: Mapping[int, Iterable[int]] | None = None, progress: Any = None) -> CheckResult:
    """Every check the data allows, as ``embedview check`` runs it (:class:`core.checks.Checks`).

    Returns a :class:`CheckResult`: the plain dict of ``embedview check -o metrics.json``
    (``verdict``, ``healthy``, ``collapse``, ``knn``, ``linear_probe``, ..., ``skipped``) with
    ``table()``.  ``include`` limits the checks (``collapse`` always runs); ``progress`` a
    callable ``(fraction, message)``.
    """
    from embedview.core.checks import Checks

    emb = embedding_set(vectors, labels=labels, ids=ids, texts=texts, metadata=metadata)
    checks = Checks(k=k, include=include, relevant=relevant).fit(emb, progress=progress)
    result = CheckResult(checks.to_dict())
    result.checks = checks
    return result


def compare(new: Mapping[str, Any], baseline: Mapping[str, Any], tolerance: float | None = None,
            tolerances: Mapping[str, float] | None = None, metrics: Iterable[str] | None = None
            ) -> BaselineComparison:
    """The CI gate of ``embedview check NEW --baseline OLD`` on two check results (dicts from
    :func:`check`, ``json.load`` of a written result, or a timeline / timeline row).

    Returns the fitted :class:`~embedview.core.baseline.BaselineComparison`: ``passed_``,
    ``failed_``, ``rows_``, ``to_dict()``; its ``table()`` here is a DataFrame of the rows.
    """
    from embedview.core.baseline import DEFAULT_TOLERANCE, BaselineComparison

    comp = BaselineComparison(DEFAULT_TOLERANCE if tolerance is None else tolerance, tolerances, metrics)
    comp.fit(new, baseline)
    comp.table = lambda: _table([dict(r) for r in comp.rows_])  # type: ignore[attr-defined]
    return comp


class AuditResult(dict):
    """The result of :func:`audit`: ``Audit.to_dict()`` (strict JSON) with ``table()`` (one row
    per flagged item) and ``audit`` (the fitted :class:`~embedview.core.audit.Audit`)."""

    audit: Audit | None = None

    def table(self) -> Any:
        if self.audit is None:
            raise ValueError("the rows need the fitted audit")
        return _table(self.audit.rows())


def audit(vectors: Any, labels: Any = None, splits: Any = None, *, ids: Any = None, texts: Any = None,
          metadata: Any = None, kinds: Sequence[str] | None = None, k: int = 10,
          thresholds: Mapping[str, float] | None = None, progress: Any = None) -> AuditResult:
    """Label issues, leaks across ``splits`` (N values such as "train" / "test"), duplicates and
    outliers, as ``embedview audit`` finds them (:class:`embedview.core.audit.Audit`)."""
    from embedview.core.audit import SPLIT_COLUMN, Audit

    meta = dict(_metadata_columns(metadata, len(vectors)) if metadata is not None else {})
    if splits is not None:
        meta[SPLIT_COLUMN] = [None if s is None else str(s) for s in _column(splits, len(vectors), "splits")]
    emb = embedding_set(vectors, labels=labels, ids=ids, texts=texts, metadata=meta or None)
    fitted = Audit(kinds=kinds, k=k, thresholds=thresholds).fit(emb, progress=progress)
    result = AuditResult(fitted.to_dict())
    result.audit = fitted
    return result


def log(run_dir: str | os.PathLike, step: int, vectors: Any, ids: Any = None, labels: Any = None,
        positives: Any = None, on_nonfinite: str = "record") -> Path:
    """Append one step of a training run (:func:`embedview.core.timeline.write_step`): the
    vectors as ``step_{step:09d}.npy``, written atomically, the ids / labels / positive pairs
    once in the run's manifest.  Cheap enough to call every N steps; returns the step's file.
    Vectors with NaN / inf never stop the training loop: the step is recorded as diverged in the
    manifest, with a ``RuntimeWarning`` (``on_nonfinite="raise"`` raises instead).
    Open the run with ``embedview RUN_DIR`` or check it with ``embedview check RUN_DIR``."""
    from embedview.core.timeline import write_step

    if hasattr(vectors, "detach"):
        vectors = vectors.detach().cpu().numpy()
    return write_step(run_dir, step, vectors, ids=ids, labels=labels, positives=positives, on_nonfinite=on_nonfinite)


# ==============================================================================================
# show: the window in its own process, driven over an authenticated local connection
# ==============================================================================================
class WindowError(RuntimeError):
    """The window could not be started or did not answer."""


class Window:
    """A handle on a window opened by :func:`show` (its own process; the caller never blocks).

    ``push(vectors, ...)`` replaces the data shown, ``selection()`` returns the ids selected in
    the window, ``select(ids)`` selects items there, ``close()`` closes it, ``alive`` says
    whether it is still open, ``wait()`` blocks until the user closes it (for plain scripts).
    Requests travel over :mod:`multiprocessing.connection` on 127.0.0.1, authenticated with a
    random key the window reads from a file only this user can read (mode 0600).
    """

    def __init__(self, folder: Path, proc: subprocess.Popen, address: Any, authkey: bytes):
        from multiprocessing.connection import Client

        self._folder = folder
        self._proc = proc
        self._lock = threading.Lock()
        self._conn = Client(address, authkey=authkey)
        self._pushes = 0

    # -- starting ---------------------------------------------------------------------------------
    @classmethod
    def start(cls, timeout: float = 60.0, env: Mapping[str, str] | None = None) -> Window:
        """Start ``python -m embedview gui`` with remote control; wait until it listens."""
        folder = Path(tempfile.mkdtemp(prefix="embedview-show-"))  # 0700
        authkey = secrets.token_bytes(32)
        config = folder / "remote.json"
        address_file = folder / "address.json"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"authkey": authkey.hex(), "address_file": str(address_file), "folder": str(folder)}, fh)
        child_env = dict(os.environ if env is None else env)
        child_env[REMOTE_ENV] = str(config)
        log_path = folder / "window.log"
        with open(log_path, "wb") as log_fh:
            proc = subprocess.Popen([sys.executable, "-m", "embedview", "gui"], env=child_env, stdin=subprocess.DEVNULL,
                                    stdout=log_fh, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not address_file.is_file():
            if proc.poll() is not None:
                tail = _tail(log_path)
                shutil.rmtree(folder, ignore_errors=True)
                raise WindowError(f"the window exited (status {proc.returncode}) before it could be driven:\n{tail}")
            if time.monotonic() > deadline:
                proc.kill()
                tail = _tail(log_path)
                shutil.rmtree(folder, ignore_errors=True)
                raise WindowError(f"the window did not start within {timeout:.0f} s:\n{tail}")
            time.sleep(0.05)
        address = json.loads(address_file.read_text(encoding="utf-8"))["address"]
        return cls(folder, proc, tuple(address), authkey)

    # -- requests -----------------------------------------------------------------------------------
    def _call(self, op: str, timeout: float = 60.0, **kwargs: Any) -> dict[str, Any]:
        if not self.alive:
            raise WindowError("the window is closed")
        with self._lock:
            try:
                self._conn.send({"op": op, **kwargs})
                if not self._conn.poll(timeout):
                    raise WindowError(f"the window did not answer {op!r} within {timeout:.0f} s")
                reply = self._conn.recv()
            except (EOFError, OSError) as exc:
                raise WindowError(f"the window closed the connection ({type(exc).__name__}: {exc})") from exc
        if reply.get("error"):
            raise WindowError(str(reply["error"]))
        return reply

    def push(self, vectors: Any, labels: Any = None, images: Any = None, texts: Any = None, metadata: Any = None,
             ids: Any = None, *, name: str = "embedview.show()", wait: bool = True, timeout: float = 60.0) -> Window:
        """Show these items instead of the current ones (the selection is cleared).

        ``images``: N image paths (thumbnails in the window); ``texts``: N strings. With ``wait``
        this returns once the window shows the new data (``WindowError`` if it could not load).
        """
        from embedview.core.export import atomic_path, save_parquet

        emb = embedding_set(vectors, labels=labels, ids=ids, texts=texts, metadata=metadata, sources=images,
                            name=name)
        self._pushes += 1
        token = self._pushes
        path = self._folder / f"data_{token}.parquet"
        with atomic_path(path) as tmp:
            save_parquet(emb, tmp)
        self._call("load", path=str(path), modality="image" if images is not None else "embedding", token=token,
                   name=name)
        previous = self._folder / f"data_{token - 1}.parquet"
        if wait:
            deadline = time.monotonic() + timeout
            while True:
                state = self._call("state")
                if state.get("token") == token:
                    break
                if state.get("failed") == token:
                    raise WindowError(f"the window could not show the data: {state.get('error')}")
                if time.monotonic() > deadline:
                    raise WindowError(f"the window did not show the data within {timeout:.0f} s")
                time.sleep(0.05)
            with contextlib.suppress(OSError):  # read into the window's memory: no longer needed
                previous.unlink(missing_ok=True)
        return self

    def selection(self) -> list[str]:
        """The ids of the items selected in the window (in the order of the data)."""
        return list(self._call("selection")["ids"])

    def current(self) -> str | None:
        """The id of the window's current item (the one last clicked), or None."""
        return self._call("selection").get("current")

    def select(self, ids: Iterable[Any]) -> list[str]:
        """Select these items in the window; returns the ids it did not know."""
        return list(self._call("select", ids=[str(i) for i in ids])["unknown"])

    def state(self) -> dict[str, Any]:
        """What the window shows: ``n_items``, ``token`` (pushes shown), ``error``."""
        return self._call("state")

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    @property
    def pid(self) -> int:
        return int(self._proc.pid)

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the window is closed (by the user); its exit status, or None on timeout."""
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:
            if not self.alive:
                self._cleanup()

    def close(self, timeout: float = 15.0) -> None:
        """Close the window and end its process (killed if it does not end within ``timeout``)."""
        if self.alive:
            with contextlib.suppress(WindowError):
                self._call("close", timeout=timeout)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.terminate()
                try:
                    self._proc.wait(5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(5)
        self._cleanup()

    def _cleanup(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> Window:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<embedview window pid={self._proc.pid} {'open' if self.alive else 'closed'}>"


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def show(vectors: Any, labels: Any = None, images: Any = None, texts: Any = None, metadata: Any = None,
         ids: Any = None, *, name: str = "embedview.show()", timeout: float = 60.0) -> Window:
    """Open the embedview window on these vectors without blocking; returns a :class:`Window`.

    ``labels``, ``ids``, ``texts`` (N strings), ``images`` (N image paths, shown as thumbnails)
    and ``metadata`` (a DataFrame or {column: values}) are optional.  The window runs in its own
    process (the caller, a script or a Jupyter kernel, goes on at once); select a cluster on the
    map and read it back with ``window.selection()``.  In a plain script call ``window.wait()``
    to keep the script until the window is closed, or the window outlives the script.
    """
    emb = embedding_set(vectors, labels=labels, ids=ids, texts=texts, metadata=metadata, sources=images,
                        name=name)  # bad input is refused before a window starts
    win = Window.start(timeout=timeout)
    try:
        win.push(emb, images=images, name=name, timeout=timeout)
    except Exception:
        win.close()
        raise
    return win


__all__ = ["AuditResult", "CheckResult", "Window", "WindowError", "audit", "check", "compare", "embedding_set", "log",
           "show"]


# ==============================================================================================
# scores, drift, timeline
# ==============================================================================================
#: the columns of :func:`scores`'s table and of ``embedview scores -o scores.csv``, in order
SCORE_COLUMNS = ("id", "source", "label", "uniqueness", "representativeness", "cluster", "cluster_coarse", "x", "y")
SCORE_MAPS = ("umap", "pca")


class ScoresResult(dict):
    """The result of :func:`scores` (and ``embedview scores``): a strict-JSON dict with ``n``,
    ``map`` (how the 2-D map was made), ``how`` (one sentence per column: how it was computed),
    ``clusters`` (:meth:`Clusters.to_dict`) and ``items`` (one dict per item, :data:`SCORE_COLUMNS`).

    ``table()``: the items as a DataFrame (a list of dicts without pandas); ``item_scores``,
    ``clusters_fit``, ``projection``: the fitted core objects."""

    item_scores: Any = None
    clusters_fit: Any = None
    projection: Any = None

    def table(self) -> Any:
        return _table([dict(r) for r in self["items"]])

    def least_unique(self, n: int = 10) -> list[dict[str, Any]]:
        """The ``n`` items with the lowest uniqueness (those with a near-copy), lowest first."""
        return sorted(self["items"], key=lambda r: r["uniqueness"])[:n]


def score_items(emb: EmbeddingSet, map: str = "pca", graph: Any = None, k: int = 10,
                progress: Any = None) -> ScoresResult:
    """Uniqueness, representativeness (:class:`core.uniqueness.ItemScores`) and named clusters
    (:class:`core.clusters.Clusters` on the 2-D ``map``, by :class:`core.projection.Projection`) of
    the items of ``emb``.  ``graph``: its cosine :class:`~embedview.core.graph.NeighborGraph`
    (searched here when ``None``), read by both the scores and UMAP.  Used by :func:`scores` and
    ``embedview scores``."""
    from embedview.core.clusters import Clusters
    from embedview.core.graph import knn_graph
    from embedview.core.progress import TaskState
    from embedview.core.projection import Projection
    from embedview.core.uniqueness import ItemScores

    if map not in SCORE_MAPS:
        raise ValueError(f"unknown map {map!r}; expected one of {', '.join(SCORE_MAPS)}")
    n = len(emb)
    if n < 2:
        raise ValueError(f"scores need at least two items, got {n}")
    task = TaskState.coerce(progress)
    if graph is None:
        graph = knn_graph(emb, min(max(k, 15), n - 1), "cosine", cache=False, exact=n <= 50_000,
                          progress=task.sub(0.0, 0.2))
    item = ItemScores(k=k).fit(emb, progress=task.sub(0.2, 0.4), graph=graph)
    if map == "umap":
        from embedview.core.projection import configure_numba_cache

        configure_numba_cache()
    proj = Projection(method=map).fit(emb, graph=graph, progress=task.sub(0.4, 0.85))
    xy = proj.embedding_
    ds = emb.dataset
    clusters = Clusters().fit(xy, texts=ds.texts, labels=ds.labels if ds.has_labels else None,
                              metadata=ds.metadata or None, source=proj.method_.upper(),
                              progress=task.sub(0.85, 1.0))
    fine, coarse = clusters.name_per_item("fine"), clusters.name_per_item("coarse")
    labels = ds.labels
    rows = [{"id": str(ds.ids[i]), "source": str(ds.sources[i]),
             "label": None if labels is None or labels[i] is None else str(labels[i]),
             "uniqueness": float(item.uniqueness_[i]), "representativeness": float(item.representativeness_[i]),
             "cluster": str(fine[i]), "cluster_coarse": str(coarse[i]),
             "x": float(xy[i, 0]), "y": float(xy[i, 1])} for i in range(n)]
    map_how = (f"{proj.method_.upper()} of the {n:,} L2-normalised vectors ({proj.metric}), "
               f"trustworthiness {proj.trustworthiness_:.3f}"
               + (f"; UMAP neighbours: {proj.knn_how_}" if proj.knn_how_ else "")
               + (f"; {proj.warning_}" if proj.warning_ else ""))
    how = dict(item.describe())
    how["cluster"] = clusters.method_
    how["cluster_coarse"] = "the coarse level of the same clusters (fewer, larger), see cluster"
    how["x"] = how["y"] = f"the 2-D map: {map_how}"
    result = ScoresResult({"n": n, "encoder": emb.encoder, "map": {"method": proj.method_, "requested": map,
                                                                   "how": map_how},
                           "how": how, "clusters": clusters.to_dict(), "items": rows})
    result.item_scores, result.clusters_fit, result.projection = item, clusters, proj
    return result


def scores(vectors: Any, labels: Any = None, texts: Any = None, ids: Any = None, map: str = "pca", *,
           metadata: Any = None, k: int = 10, progress: Any = None) -> ScoresResult:
    """Per item: uniqueness and representativeness, and its named cluster on the 2-D ``map``
    (``"pca"``, fast, or ``"umap"``, the window's map) — what ``embedview scores`` computes.

    Returns a :class:`ScoresResult`: ``result["items"]`` (one dict per item), ``result["how"]``
    (how each column was computed), ``result["clusters"]`` (names and sizes) and ``table()``."""
    emb = embedding_set(vectors, labels=labels, ids=ids, texts=texts, metadata=metadata)
    return score_items(emb, map=map, k=k, progress=progress)


class DriftResult(dict):
    """The result of :func:`drift`: ``Drift.to_dict()`` with ``drift`` (the fitted
    :class:`~embedview.core.drift.Drift`) and ``table()``: one row per test (statistic, value,
    p-value, items used, sampled)."""

    drift: Any = None

    def table(self) -> Any:
        rows = []
        for test, stat in (("classifier", "auroc"), ("mmd", "mmd2")):
            part = self[test]
            rows.append({"test": test, "statistic": stat, "value": part[stat], "p_value": part["p_value"],
                         "n_permutations": part["n_permutations"], "n_a": part["n_a"], "n_b": part["n_b"],
                         "sampled": part["sampled"], "text": part["text"]})
        return _table(rows)

    @property
    def drifted(self) -> bool:
        return bool(self["drift"])


def drift(a: Any, b: Any, alpha: float = 0.01, progress: Any = None, **kw: Any) -> DriftResult:
    """Has set ``b`` drifted from set ``a`` ((N, D) arrays or EmbeddingSets from one encoder)?  A
    classifier two-sample test (AUROC, permutation p-value) and MMD, as ``embedview drift`` runs them
    (:class:`embedview.core.drift.Drift`; ``kw`` its other parameters, e.g. ``n_permutations``)."""
    from embedview.core.drift import Drift

    def matrix(v: Any) -> Any:
        return v.detach().cpu().numpy() if hasattr(v, "detach") else v

    fitted = Drift(alpha=alpha, **kw).fit(matrix(a), matrix(b), progress=progress)
    result = DriftResult(fitted.to_dict())
    result.drift = fitted
    return result


class TimelineResult(dict):
    """The result of :func:`timeline`: ``Timeline.to_dict()`` (what ``embedview check RUN_DIR -o
    timeline.json`` writes) with ``timeline`` (the fitted object), ``run`` and ``table()``: one row
    per step."""

    timeline: Any = None
    run: Any = None

    def table(self) -> Any:
        return _table([{k: v for k, v in r.items() if k != "n_used"} for r in self["rows"]])


def timeline(run_dir: str | os.PathLike, k: int = 10, progress: Any = None, **kw: Any) -> TimelineResult:
    """The collapse diagnostics and label metrics of every step of a run folder (written by
    :func:`log`, or checkpoint dumps numbered by step): :func:`core.timeline.read_run` and
    :class:`core.timeline.Timeline` (``kw``: its other parameters, e.g. ``sample``)."""
    from embedview.core.timeline import Timeline, read_run

    run = read_run(run_dir)
    fitted = Timeline(k=k, **kw).fit(run, progress=progress)
    result = TimelineResult(fitted.to_dict())
    result.timeline, result.run = fitted, run
    return result
