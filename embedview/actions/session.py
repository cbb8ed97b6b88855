"""Sessions: ``to_dict()`` of the model into a small JSON file, ``from_dict()`` back, without Qt.

A session file (``*.embedview.json``) holds *where things are*, never the user's data:

* ``data``: the opened paths (absolute, plus relative to the session file so a moved project
  folder still opens), the load options (text / label column), modality, item count and a digest
  of the item ids;
* ``encoders`` (names) and the ``active`` one -- the vectors themselves come back from the
  embedding cache, so reopening does not encode again when the cache is warm;
* ``projections``: per encoder and method the parameters and quality figures; the 2-D
  coordinates go to a sidecar ``.npz`` next to the session (``maps_file``) so reopening does not
  compute UMAP again;
* ``selection``: the selected item ids and the current item id;
* ``duplicates``: per encoder the threshold and the keep / drop decisions (by item id);
* ``views``: ``model.views.to_dict()``, every view's choices by view name (``"map"``,
  ``"collapse"`` ...).  Files written before the view states existed key them by view class
  (``"MapView": {"method", "color"}``, ``"CollapseView"``, ``"CompareView"``):
  :func:`view_choices` reads both;
* ``layout``: the window's dock layout, when a window saved it (the GUI fills it in and uses it;
  this module only carries it).

Both files are written atomically.  The format is versioned (``"format": "embedview-session",
"version": 1``); a newer version is refused with a message.  :func:`snapshot` gathers what to
save on the model's thread (by reference, cheap), :func:`write_session` does the rest in a
worker; :func:`load_session` reads a file; :class:`SessionRestorer` brings a model back to a
saved session step by step as its data loads and encodes (through :class:`DataActions`).
Missing source files are named in one message and the rest is restored; coordinates whose item
ids no longer match are dropped (the map is computed again).

A session file is input like any other: the encoders it names are loaded only when the user has
used them before (:class:`EncoderHistory`, the window's settings) or chose them now
(``confirm_encoders(names) -> allowed names``; the window asks in a dialog).  Without a callback
the unknown ones are refused, named in Problems, and the rest is restored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from embedview import __version__
from embedview.actions.data import PRECOMPUTED, DataActions
from embedview.core.export import atomic_path
from embedview.core.progress import TaskState
from embedview.model import AnalysisKind, AppModel, ViewStates
from embedview.runtime.jobs import JobRunner
from embedview.runtime.keys import JobKind

log = logging.getLogger(__name__)

FORMAT = "embedview-session"
VERSION = 1
SUFFIX = ".embedview.json"


class SessionError(ValueError):
    """A session file that cannot be read; the message names the file and the reason."""


# -- which encoders a session may load -------------------------------------------------------------------
@runtime_checkable
class EncoderHistory(Protocol):
    """The encoders the user has used (the window's ``Settings``); a session loads those without asking."""

    def used_encoders(self) -> list[str]: ...


#: ``confirm_encoders(names) -> the names the user allows`` (the window shows a dialog)
ConfirmEncoders = Callable[[list[str]], Iterable[str]]


def needs_consent(name: str) -> bool:
    """Whether loading ``name`` may run or fetch something the user did not choose: every
    ``prefix:ARGUMENT`` name (``sbert:FOLDER``, ``clip:ARCH@FILE``, a hub model) does; the built-in
    encoders and installed plugins (fixed names, code the user installed) do not."""
    return ":" in name and name != PRECOMPUTED


def known_encoders(memory: Any) -> set[str]:
    """What ``memory`` (an :class:`EncoderHistory` and / or ``EncoderMemory``) says the user has used."""
    known: set[str] = set()
    if isinstance(memory, EncoderHistory):
        known.update(str(n) for n in memory.used_encoders())
    last = getattr(memory, "last_encoder", None)
    if callable(last):
        for modality in ("image", "text"):
            name = last(modality)
            if name:
                known.add(str(name))
    return known


def unknown_encoders(names: Iterable[str], known: Iterable[str]) -> list[str]:
    """The names (in order, once) that need the user's consent before a session loads them."""
    known = set(known)
    out: list[str] = []
    for name in names:
        if name and needs_consent(name) and name not in known and name not in out:
            out.append(name)
    return out


# -- building and writing ------------------------------------------------------------------------------
def ids_digest(ids: Sequence[Any]) -> str:
    """A short fingerprint of the item ids in order (to know saved coordinates still fit);
    ~0.1 s for a million ids."""
    joined = "\x1f".join(str(x) for x in ids).encode("utf-8", "surrogatepass")
    return f"{len(ids)}:{hashlib.sha1(joined).hexdigest()[:20]}"


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@dataclass
class Snapshot:
    """What a session records, gathered by reference (cheap); :meth:`to_dict` turns indices into
    ids and computes the digests (a worker's job for a million items)."""

    doc: dict[str, Any]  # JSON-ready except the fields to_dict fills in
    arrays: dict[str, np.ndarray]  # sidecar coordinates, by the key the doc names
    ids: Sequence[Any]  # the dataset's item ids
    set_ids: dict[str, Sequence[Any]] = field(default_factory=dict)  # encoder -> its ids, when not the dataset's
    selected: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    current: int = -1
    decisions: dict[str, dict[int, str]] = field(default_factory=dict)  # encoder -> {index: keep/drop}

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (plain Python; the coordinates are named, they stay in ``arrays``)."""
        from embedview.core.checks import jsonable

        doc = jsonable(self.doc)  # plain Python (a private copy), NaN -> null
        ids, n = self.ids, len(self.ids)
        doc["data"]["ids_digest"] = ids_digest(ids)
        digests = {name: ids_digest(set_ids) for name, set_ids in self.set_ids.items()}
        for name, methods in doc["projections"].items():
            for entry in methods.values():
                entry["ids_digest"] = digests.get(name, doc["data"]["ids_digest"])
        doc["selection"] = {"ids": [ids[int(i)] for i in self.selected if 0 <= int(i) < n],
                            "current": ids[self.current] if 0 <= self.current < n else None}
        for name, decisions in self.decisions.items():
            doc["duplicates"][name]["decisions"] = {str(ids[int(i)]): str(d) for i, d in decisions.items()
                                                    if 0 <= int(i) < n}
        return doc


def sidecar_path(path: Any) -> Path:
    """The coordinates file next to session ``path``: ``name.embedview.json`` -> ``name.embedview.npz``."""
    return Path(path).with_suffix(".npz")


def snapshot(model: AppModel, layout: Mapping[str, str] | None = None) -> Snapshot:
    """What to save of ``model`` (plus a window's ``layout``), by reference: take it on the
    model's thread, then :func:`write_session` in a worker.  Raises ``ValueError`` with no data."""
    ds = model.dataset
    if ds is None:
        raise ValueError("nothing to save: no data is open")
    options = dict(model.load_options or {})
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "embedview_version": __version__,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "data": {
            "paths": [os.path.abspath(p) for p in model.paths],
            "text_column": options.get("text_column"),
            "label_column": options.get("label_column"),
            "modality": ds.modality,
            "name": ds.name,
            "n_items": len(ds),
        },
        "encoders": list(model.sets),
        "active": model.active,
        "projections": {},
        "maps_file": None,
        "selection": {"ids": [], "current": None},
        "duplicates": {},
        "views": model.views.to_dict(),
        "layout": dict(layout or {}),
    }
    snap = Snapshot(doc, {}, ds.ids, selected=model.selection.selected, current=model.selection.current)
    for name, analyses in model.analyses_by_set.items():
        emb = model.sets.get(name)
        if emb is None:
            continue
        if emb.dataset.ids is not ds.ids:
            snap.set_ids[name] = emb.dataset.ids
        for method, (xy, fitted) in analyses.projections.items():
            key = f"map{len(snap.arrays)}"
            snap.arrays[key] = np.asarray(xy, dtype=np.float32)
            params = fitted.to_dict() if hasattr(fitted, "to_dict") else {}
            doc["projections"].setdefault(name, {})[method] = {"array": key, "params": params}
    chosen = _finite(model.views.duplicates.threshold)
    for name in model.sets:
        finder = model.get_analysis(AnalysisKind.DUPLICATES, name)
        decisions = model.get_analysis(AnalysisKind.DUPLICATE_DECISIONS, name) or {}
        if finder is None and not decisions:
            continue
        entry: dict[str, Any] = {"threshold": None, "suggested": None, "decisions": {}}
        if finder is not None:
            entry["threshold"] = _finite(finder.threshold_)
            entry["suggested"] = _finite(finder.suggested_threshold_)
            if name == model.active and chosen is not None:
                entry["threshold"] = chosen  # the user's choice, even if the finder has not caught up
        snap.decisions[name] = dict(decisions)
        doc["duplicates"][name] = entry
    return snap


def to_dict(model: AppModel, layout: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The session of ``model`` as :func:`load_session` returns a file: the JSON document plus its
    coordinates in ``doc["maps"]`` ({encoder: {method: (xy, params, ids digest)}})."""
    snap = snapshot(model, layout)
    doc = snap.to_dict()
    doc["maps"] = {}
    for name, methods in doc["projections"].items():
        for method, entry in methods.items():
            doc["maps"].setdefault(name, {})[method] = (snap.arrays[entry["array"]], entry.get("params") or {},
                                                        entry.get("ids_digest"))
    doc["warnings"] = []
    return doc


def _write_atomic(path: Path, write: Any) -> None:
    """``write(binary file)`` through :func:`core.export.atomic_path`."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def write_session(snap: Snapshot, path: Any, progress: TaskState | None = None) -> str:
    """``snap.to_dict()`` to ``path`` and its coordinates to the sidecar ``.npz``, each atomically;
    returns the path.  Paths are also stored relative to the session's folder."""
    TaskState.coerce(progress).check()
    path = Path(os.path.abspath(os.fspath(path)))
    doc = snap.to_dict()
    rel: list[str | None] = []
    for p in doc["data"]["paths"]:
        try:
            rel.append(os.path.relpath(p, path.parent))
        except ValueError:  # another drive (Windows)
            rel.append(None)
    doc["data"]["paths_relative"] = rel
    if snap.arrays:
        side = sidecar_path(path)
        _write_atomic(side, lambda f: np.savez(f, **snap.arrays))  # type: ignore[arg-type]
        doc["maps_file"] = side.name
    text = json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False)
    _write_atomic(path, lambda f: f.write(text.encode("utf-8")))
    return str(path)


def save_session(model: AppModel, path: Any, layout: Mapping[str, str] | None = None) -> str:
    """Save the session of ``model`` to ``path`` now; returns the path written."""
    return write_session(snapshot(model, layout), path)


# -- reading -------------------------------------------------------------------------------------------------
def load_session(path: Any, progress: TaskState | None = None) -> dict[str, Any]:
    """Read and check a session file; the saved coordinates are in ``doc["maps"]``
    (``{encoder: {method: (xy, params, ids_digest)}}``) and problems with the sidecar in
    ``doc["warnings"]``.  Raises :class:`SessionError` naming the file and the reason."""
    path = Path(os.fspath(path))
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SessionError(f"{path}: session file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"{path}: cannot be read ({exc})") from None
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise SessionError(f"{path}: not a session file (invalid JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise SessionError(f"{path}: not an embedview session file (format {found!r}, expected {FORMAT!r})")
    version = doc.get("version")
    if not isinstance(version, int) or version < 1:
        raise SessionError(f"{path}: invalid session version {version!r}")
    if version > VERSION:
        raise SessionError(f"{path}: saved by a newer embedview (session version {version}; this one reads "
                           f"version {VERSION}); update embedview to open it")
    data = doc.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("paths"), list):
        raise SessionError(f"{path}: the session names no data sources")
    doc["warnings"] = []
    doc["maps"] = {}
    side = doc.get("maps_file")
    if side:
        side_path = path.parent / os.path.basename(str(side))
        try:
            with np.load(side_path, allow_pickle=False) as npz:
                arrays = {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
        except FileNotFoundError:
            doc["warnings"].append(f"{side_path}: saved maps not found; they will be computed again")
            arrays = {}
        except (OSError, ValueError) as exc:
            doc["warnings"].append(f"{side_path}: saved maps cannot be read ({exc}); they will be computed again")
            arrays = {}
        for name, methods in (doc.get("projections") or {}).items():
            for method, entry in (methods or {}).items():
                xy = arrays.get(entry.get("array", ""))
                if xy is not None and xy.ndim == 2 and xy.shape[1] >= 2:
                    doc["maps"].setdefault(name, {})[method] = (xy, entry.get("params") or {}, entry.get("ids_digest"))
    doc["path"] = str(path)
    return doc


def resolve_paths(doc: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``(paths that exist, paths that are missing)``; a path missing at its absolute location is
    looked for relative to the session file (a moved project folder)."""
    data = doc["data"]
    session_dir = Path(doc.get("path", ".")).parent
    rel = data.get("paths_relative") or [None] * len(data["paths"])
    found, missing = [], []
    for p, r in zip(data["paths"], rel + [None] * (len(data["paths"]) - len(rel)), strict=False):
        if os.path.exists(p):
            found.append(p)
        elif r and (session_dir / r).exists():
            found.append(str((session_dir / r).resolve()))
        else:
            missing.append(p)
    return found, missing


def find_indices(ids: Sequence[Any], selected: Sequence[Any], current: Any,
                 decisions: Mapping[str, Mapping[str, str]], progress: TaskState | None = None) -> dict[str, Any]:
    """Saved item ids -> indices into ``ids`` (a worker job: a million ids take about a second).

    Returns ``{"selected": sorted int64 array, "current": index or -1, "n_lost": selected ids not
    found, "decisions": {encoder: {index: "keep" | "drop"}}}``.
    """
    pos = {str(x): i for i, x in enumerate(ids)}
    TaskState.coerce(progress).check()
    wanted = [str(x) for x in selected]
    found = np.array(sorted({pos[x] for x in wanted if x in pos}), dtype=np.int64)
    return {
        "selected": found,
        "current": pos.get(str(current), -1) if current is not None else -1,
        "n_lost": sum(1 for x in wanted if x not in pos),
        "decisions": {name: {pos[k]: str(d) for k, d in saved.items() if k in pos and d in ("keep", "drop")}
                      for name, saved in decisions.items()},
    }


# -- view choices, old and new -------------------------------------------------------------------------------
_VIEW_FIELDS = {f.name for f in fields(ViewStates)}


def _old_map(saved: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in saved.items() if k != "color"}
    color = saved.get("color")
    if isinstance(color, (list, tuple)) and color:
        kind, column = str(color[0]), str(color[1]) if len(color) > 1 else ""
        out["color_by"] = f"meta:{column}" if kind == "meta" else kind
    return out


def _old_collapse(saved: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(saved)
    if "log" in saved:
        out["log_scale"] = saved["log"]
    return out


def _old_compare(saved: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(saved)
    if saved.get("color"):
        out["color_by"] = saved["color"]
    return out


#: sessions written before the view states: their "views" were keyed by view class, with the
#: view's own names for its choices (converted, then only the state's fields are kept)
_OLD_VIEWS = {"MapView": ("map", _old_map), "CollapseView": ("collapse", _old_collapse),
              "CompareView": ("compare", _old_compare)}


def _state_fields(name: str) -> set[str]:
    return {f.name for f in fields(getattr(ViewStates(), name))}


def view_choices(saved: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The ``views`` section of a session as ``ViewStates.update`` takes it: new files are keyed by
    view name already; old ones by class name with their own field names."""
    out: dict[str, dict[str, Any]] = {}
    for key, values in (saved or {}).items():
        if not isinstance(values, Mapping):
            continue
        if key in _VIEW_FIELDS:
            out.setdefault(key, {}).update(values)
        elif key in _OLD_VIEWS:
            name, convert = _OLD_VIEWS[key]
            known = _state_fields(name)
            out.setdefault(name, {}).update({k: v for k, v in convert(values).items() if k in known})
    return out


# -- restoring into a model ----------------------------------------------------------------------------------
class RestoredProjection:
    """A map read from a session: its parameters and quality figures, as the map view shows them."""

    TRUST_WARN = 0.8

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)
        self.method_ = self.params.get("method", "")
        self.trustworthiness_ = _finite(self.params.get("trustworthiness"))
        self.knn_preservation_ = _finite(self.params.get("knn_preservation"))
        self.warning_ = str(self.params.get("warning") or "")
        self.restored = True

    def to_dict(self) -> dict[str, Any]:
        return dict(self.params)


class SessionRestorer:
    """Brings a model to a saved session as its data loads and encodes.

    1. the data sources through ``data.open_paths`` (missing ones named);
    2. when the dataset arrives, the saved active encoder is chosen so it is the one encoded;
    3. each embedding set, as it arrives, gets its saved maps (so no PCA / UMAP is computed
       again); once the active set is there the selection, current item and view choices are
       restored and the other encoders are added (``data.add_encoder``);
    4. when a set's duplicate finder arrives it is moved to the saved threshold (in the runner)
       and the saved decisions are put in the model.

    Opening other data meanwhile stops it.  ``done`` is True once steps 1-3 are complete.
    """

    def __init__(self, model: AppModel, runner: JobRunner, data: DataActions, doc: Mapping[str, Any],
                 confirm_encoders: ConfirmEncoders | None = None, known: Iterable[str] | None = None) -> None:
        self.model = model
        self.runner = runner
        self.data = data
        self.doc = dict(doc)
        self.paths, self.missing = resolve_paths(doc)
        self.active = str(doc.get("active") or "")
        self.encoders = [str(e) for e in doc.get("encoders") or [] if e]
        self.maps: dict[str, dict[str, tuple]] = dict(doc.get("maps") or {})
        self.pending_duplicates: dict[str, dict[str, Any]] = {
            str(k): dict(v) for k, v in (doc.get("duplicates") or {}).items() if isinstance(v, dict)}
        self.dataset: Any = None
        self.done = False
        self.stopped = False
        self.messages: list[str] = []
        self._moving: dict[str, Any] = {}  # encoder -> finder being moved to its threshold
        self._decisions: dict[str, dict[int, str]] = {}  # encoder -> {index: keep / drop}
        self._connected = False
        self.confirm_encoders = confirm_encoders
        self.known = set(known) if known is not None else known_encoders(getattr(data, "memory", None))
        self.refused: list[str] = []

    @property
    def name(self) -> str:
        return os.path.basename(str(self.doc.get("path") or "session"))

    # -- steps ---------------------------------------------------------------------------------------------
    def _vet_encoders(self) -> None:
        """Ask (or refuse) before loading an encoder the user has not used: a session file may come
        from anyone, and ``sbert:FOLDER`` / ``clip:ARCH@FILE`` load what that file names."""
        unknown = unknown_encoders([self.active, *self.encoders], self.known)
        if not unknown:
            return
        allowed: set[str] = set()
        if self.confirm_encoders is not None:
            try:
                allowed = {str(n) for n in self.confirm_encoders(list(unknown))} & set(unknown)
            except Exception as exc:  # noqa: BLE001 - a failing dialog refuses, it does not load
                log.warning("asking about the session's encoders failed: %s", exc)
        self.refused = [n for n in unknown if n not in allowed]
        if not self.refused:
            return
        self.encoders = [n for n in self.encoders if n not in self.refused]
        self.maps = {k: v for k, v in self.maps.items() if k not in self.refused}
        for n in self.refused:
            self.pending_duplicates.pop(n, None)
        if self.active in self.refused:
            self.active = ""  # the data is encoded with the user's own choice instead

    def _report_refused(self) -> None:
        if self.refused:
            self.data.fail(JobKind.SESSION_LOAD,
                           f"{self.name}: {len(self.refused)} encoder(s) named by the session were not loaded "
                           f"(not used here before, not allowed): {', '.join(self.refused)}; "
                           f"choose one from the Encoder menu to use it")

    def start(self) -> None:
        self._vet_encoders()
        if not self.paths:
            self._report_problems()
            self.stop()
            return
        self.model.dataset_changed.connect(self._on_dataset)
        self.model.embeddings_changed.connect(self._on_embeddings)
        self.model.analysis_changed.connect(self._on_analysis)
        self._connected = True
        data = self.doc["data"]
        self.model.message.emit(f"Opening session {self.name}\u2026", 0)
        self.data.open_paths(self.paths, data.get("text_column"), data.get("label_column"))

    def stop(self) -> None:
        """Stop following the model (other data was opened, or the session is complete)."""
        self.stopped = True
        if self._connected:
            self._connected = False
            self.model.dataset_changed.disconnect(self._on_dataset)
            self.model.embeddings_changed.disconnect(self._on_embeddings)
            self.model.analysis_changed.disconnect(self._on_analysis)
        for name in self.pending_duplicates:
            self.runner.cancel(JobKind.SESSION_DUPLICATES.key(name))
        self.runner.cancel(JobKind.SESSION_IDS)

    def _report_problems(self) -> None:
        """Missing sources, refused encoders and an unreadable sidecar: a message and an entry in Problems."""
        self._report_refused()
        if self.missing:
            what = "; restoring the rest" if self.paths else "; there is nothing to restore"
            self.data.fail(JobKind.SESSION_LOAD, f"{self.name}: {len(self.missing)} data source(s) not found: "
                                                 f"{', '.join(self.missing)}{what}", self.missing[0])
        for text in self.doc.get("warnings") or []:
            self.data.fail(JobKind.SESSION_LOAD, text)

    def _on_dataset(self) -> None:
        if self.dataset is not None or self.model.dataset is None or list(self.model.paths) != list(self.paths):
            self.stop()  # other data was opened: this session is no longer what the model shows
            return
        self.dataset = self.model.dataset
        self._report_problems()  # now: a new dataset starts with only its own problems
        if self.active and self.active != PRECOMPUTED and self.dataset.modality != "embedding":
            self.data.choose_encoder(self.active, encode=False)  # the encode right after this uses it

    def _on_embeddings(self, name: str) -> None:
        emb = self.model.sets.get(name)
        if emb is None:
            return
        digest = None
        for method, (xy, params, saved_digest) in self.maps.get(name, {}).items():
            if digest is None:
                digest = ids_digest(emb.dataset.ids)
            if saved_digest != digest or len(xy) != len(emb):
                self.messages.append(
                    f"the saved {method.upper()} map of {name} no longer fits the data; recomputing it")
                continue
            self.model.set_projection(method, xy[:, :2], RestoredProjection(params), name=name)
        self.maps.pop(name, None)
        self._maybe_finish()
        if (name == self.active or (self.active not in self.encoders and not self.done)) and not self.done:
            self._find_indices()

    def _find_indices(self) -> None:
        ds = self.model.dataset
        if self.stopped or ds is None or self.runner.is_running(JobKind.SESSION_IDS):
            return
        sel = self.doc.get("selection") or {}
        decisions = {name: entry.get("decisions") or {} for name, entry in self.pending_duplicates.items()}
        self.runner.submit(JobKind.SESSION_IDS, find_indices, ds.ids, sel.get("ids") or [], sel.get("current"),
                           decisions, on_result=self._indices_found,
                           is_stale=lambda: self.stopped or self.model.dataset is not ds)

    def _indices_found(self, found: dict[str, Any]) -> None:
        ds = self.model.dataset
        if ds is None:  # (is_stale drops results for other data; this is for the type checker)
            return
        self.done = True
        selected = found["selected"]
        self.model.selection.set_selection(selected, "session")
        self.model.selection.set_current(found["current"], "session")
        if found["n_lost"]:
            self.messages.append(f"{found['n_lost']} selected item(s) are no longer in the data")
        self._decisions = found["decisions"]
        self.model.views.update(view_choices(self.doc.get("views")))
        for name in self.encoders:
            if name not in self.model.sets and name != PRECOMPUTED and ds.modality != "embedding":
                self.data.add_encoder(name, show=False)
        self._on_analysis(AnalysisKind.DUPLICATES)
        self._maybe_finish()
        text = f"Session restored: {len(ds):,} items, {len(self.encoders)} encoder(s), {len(selected):,} selected"
        if self.missing:
            text += f"; {len(self.missing)} missing source(s), see Problems"
        if self.refused:
            text += f"; {len(self.refused)} encoder(s) not loaded, see Problems"
        if self.messages:
            text += "; " + "; ".join(self.messages)
        self.model.message.emit(text, 0)

    # -- duplicates ----------------------------------------------------------------------------------------------
    def _on_analysis(self, kind: Any, name: str = "") -> None:
        if kind != AnalysisKind.DUPLICATES or self.stopped or not self.done or self.model.dataset is None:
            return  # (decisions wait for the ids -> indices job of the selection)
        for set_name in list(self.pending_duplicates):
            finder = self.model.get_analysis(AnalysisKind.DUPLICATES, set_name)
            if finder is None or self._moving.get(set_name) is finder:
                continue
            entry = self.pending_duplicates[set_name]
            t = _finite(entry.get("threshold"))
            if t is not None and not math.isclose(finder.threshold_, t, rel_tol=0.0, abs_tol=1e-9):
                from embedview.core.duplicates import apply_threshold  # a new finder at t (never mutates)

                self._moving[set_name] = finder
                self.runner.submit(
                    JobKind.SESSION_DUPLICATES.key(set_name), apply_threshold, finder, t,
                    on_result=partial(self._moved, set_name, finder),
                    on_error=partial(self._duplicates_failed, set_name))
                continue
            self._apply_decisions(set_name, entry, t)

    def _moved(self, name: str, base: Any, table: Any) -> None:
        """``table``: ``core.duplicates.apply_threshold``'s result, the new finder first."""
        finder = table[0]
        self._moving.pop(name, None)
        if self.model.get_analysis(AnalysisKind.DUPLICATES, name) is base and name in self.pending_duplicates:
            self.model.set_analysis(AnalysisKind.DUPLICATES, finder, name=name)  # -> _on_analysis -> decisions

    def _duplicates_failed(self, name: str, message: str) -> None:
        self._moving.pop(name, None)
        self.pending_duplicates.pop(name, None)
        self.data.fail(JobKind.SESSION_DUPLICATES.key(name),
                       f"the saved duplicate threshold of {name} cannot be applied: {message}")

    def _apply_decisions(self, name: str, entry: Mapping[str, Any], threshold: float | None) -> None:
        self.pending_duplicates.pop(name, None)
        saved = entry.get("decisions") or {}
        decisions = self._decisions.get(name, {})
        if decisions or saved:
            self.model.set_analysis(AnalysisKind.DUPLICATE_DECISIONS, decisions, name=name)
        if threshold is not None and name == self.model.active:
            self.model.views.duplicates.threshold = threshold  # the Duplicates view follows its state
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        """Stop following the model once every saved encoder and duplicate state is back."""
        if self.done and not self.pending_duplicates and all(n in self.model.sets for n in self.encoders):
            self.stop()


def from_dict(doc: Mapping[str, Any], model: AppModel, runner: JobRunner, data: DataActions,
              previous: SessionRestorer | None = None, confirm_encoders: ConfirmEncoders | None = None,
              known: Iterable[str] | None = None) -> SessionRestorer:
    """Start bringing ``model`` to session ``doc`` (from :func:`load_session` or :func:`to_dict`);
    returns the restorer (its ``done`` turns True once data, maps, selection and views are back).
    ``previous``: a restorer still running, stopped first.  ``known``: the encoders the user has
    used (default: what ``data.memory`` says, :func:`known_encoders`); any other ``prefix:...``
    encoder the session names is loaded only if ``confirm_encoders(names)`` returns it (no
    callback: refused, named in Problems)."""
    if previous is not None:
        previous.stop()
    restorer = SessionRestorer(model, runner, data, doc, confirm_encoders=confirm_encoders, known=known)
    restorer.start()
    return restorer
