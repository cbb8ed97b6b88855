"""Sessions: save what the window shows to a small JSON file and bring it back in a fresh window.

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
* ``views``: colour-by and other choices (a view may offer ``session_state() -> dict`` and
  ``restore_session_state(dict)``; the map's choices are read from its controls);
* ``layout``: the window's dock layout and geometry (base64 of Qt's own state).

Both files are written atomically (a temporary file, then ``os.replace``).  The format is
versioned (``"format": "embedview-session", "version": 1``); a newer version is refused with a
message.  :func:`save_session` / :func:`load_session` do the file work (no Qt needed beyond the
objects read); :class:`SessionRestorer` drives a window back to the saved state step by step
as the data loads and encodes.  Missing source files are named in one message and the rest is
restored; coordinates whose item ids no longer match are dropped (the map is recomputed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PySide6.QtCore import QByteArray, QObject, QTimer

from embedview import __version__
from embedview.core.export import atomic_path

log = logging.getLogger(__name__)

FORMAT = "embedview-session"
VERSION = 1
SUFFIX = ".embedview.json"
FILE_FILTER = "embedview session (*.embedview.json *.json);;All files (*)"
#: runner keys
SAVE_KEY = "session.save"
LOAD_KEY = "session.load"
DUPLICATES_KEY = "session.duplicates."
IDS_KEY = "session.ids"


class SessionError(ValueError):
    """A session file that cannot be read; the message names the file and the reason."""


# -- building and writing ------------------------------------------------------------------------------
def ids_digest(ids: Sequence[Any]) -> str:
    """A short fingerprint of the item ids in order (to know saved coordinates still fit);
    ~0.1 s for a million ids."""
    joined = "\x1f".join(str(x) for x in ids).encode("utf-8", "surrogatepass")
    return f"{len(ids)}:{hashlib.sha1(joined).hexdigest()[:20]}"


@dataclass
class Snapshot:
    """What a session records, gathered on the GUI thread by reference (cheap); :func:`write_session`
    turns indices into ids and computes the digests in a worker."""

    doc: Dict[str, Any]  # JSON-ready except the fields write_session fills in
    arrays: Dict[str, np.ndarray]  # sidecar coordinates, by the key the doc names
    ids: Sequence[Any]  # the dataset's item ids
    set_ids: Dict[str, Sequence[Any]] = field(default_factory=dict)  # encoder -> its ids, when not the dataset's
    selected: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    current: int = -1
    decisions: Dict[str, Dict[int, str]] = field(default_factory=dict)  # encoder -> {index: keep/drop}


def sidecar_path(path: Any) -> Path:
    """The coordinates file next to session ``path``: ``name.embedview.json`` -> ``name.embedview.npz``."""
    return Path(path).with_suffix(".npz")


def _is_window(obj: Any) -> bool:
    return hasattr(obj, "state") and hasattr(obj, "selection")


def _b64(data: QByteArray) -> str:
    return bytes(data.toBase64().data()).decode("ascii")


def _finite(value: Any) -> Optional[float]:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def collect(target: Any) -> Snapshot:
    """What to save of a window (or a bare ``AppState``), by reference: run it on the GUI thread,
    then :func:`write_session` in a worker.  A bare state has no selection, views or layout."""
    window = target if _is_window(target) else None
    state = window.state if window is not None else target
    ds = state.dataset
    if ds is None:
        raise ValueError("nothing to save: no data is open")
    options = dict(getattr(window, "load_options", None) or {})
    doc: Dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "embedview_version": __version__,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "data": {
            "paths": [os.path.abspath(p) for p in state.paths],
            "text_column": options.get("text_column"),
            "label_column": options.get("label_column"),
            "modality": ds.modality,
            "name": ds.name,
            "n_items": len(ds),
        },
        "encoders": list(state.sets),
        "active": state.active,
        "projections": {},
        "maps_file": None,
        "selection": {"ids": [], "current": None},
        "duplicates": {},
        "views": {},
        "layout": {},
    }
    snap = Snapshot(doc, {}, ds.ids)
    for name, analyses in state.analyses_by_set.items():
        methods = analyses.projections
        emb = state.sets.get(name)
        if emb is None:
            continue
        if emb.dataset.ids is not ds.ids:
            snap.set_ids[name] = emb.dataset.ids
        for method, (xy, model) in methods.items():
            key = f"map{len(snap.arrays)}"
            snap.arrays[key] = np.asarray(xy, dtype=np.float32)
            params = model.to_dict() if hasattr(model, "to_dict") else {}
            doc["projections"].setdefault(name, {})[method] = {"array": key, "params": params}
    dup_view = window.views.get("DuplicatesView") if window is not None and hasattr(window, "views") else None
    for name in state.sets:
        finder = state.get_analysis("duplicates", name)
        decisions = state.get_analysis("duplicate_decisions", name) or {}
        if finder is None and not decisions:
            continue
        entry: Dict[str, Any] = {"threshold": None, "suggested": None, "decisions": {}}
        if finder is not None:
            entry["threshold"] = _finite(finder.threshold_)
            entry["suggested"] = _finite(finder.suggested_threshold_)
            live = _finite(getattr(dup_view, "threshold", None))
            if name == state.active and live is not None and getattr(dup_view, "finder", None) is not None:
                entry["threshold"] = live  # the slider's value, even if it has not settled yet
        snap.decisions[name] = dict(decisions)
        doc["duplicates"][name] = entry
    if window is not None:
        snap.selected = window.selection.selected
        snap.current = window.selection.current
        doc["views"] = view_states(window)
        if getattr(window, "docks_built", False):
            doc["layout"] = {"state": _b64(window.saveState()), "geometry": _b64(window.saveGeometry())}
    return snap


def view_states(window: Any) -> Dict[str, Dict[str, Any]]:
    """Each view's choices: its own ``session_state()``, or (the map) its method and colour boxes."""
    out: Dict[str, Dict[str, Any]] = {}
    for name, view in getattr(window, "views", {}).items():
        try:
            if hasattr(view, "session_state"):
                out[name] = dict(view.session_state())
            elif hasattr(view, "method_box") and hasattr(view, "color_box"):  # the map
                color = view.color_box.currentData()
                out[name] = {"method": view.method_box.currentData(), "color": list(color) if color else None}
        except Exception as exc:  # noqa: BLE001 - one view's choices must not stop the save
            log.warning("could not read the choices of %s: %s", name, exc)
    return out


def _write_atomic(path: Path, write) -> None:
    """``write(binary file)`` through :func:`core.export.atomic_path`."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def write_session(snap: Snapshot, path: Any, progress=None) -> str:
    """Complete ``snap`` (ids of the selection and decisions, id digests) and write it to ``path``
    and its coordinates to the sidecar ``.npz``, each atomically; returns the path.  Paths are
    also stored relative to the session's folder."""
    from embedview.core.checks import jsonable

    path = Path(os.path.abspath(os.fspath(path)))
    doc = jsonable(snap.doc)  # plain Python (a private copy), NaN -> null
    ids, n = snap.ids, len(snap.ids)
    doc["data"]["ids_digest"] = ids_digest(ids)
    digests = {name: ids_digest(set_ids) for name, set_ids in snap.set_ids.items()}
    for name, methods in doc["projections"].items():
        for entry in methods.values():
            entry["ids_digest"] = digests.get(name, doc["data"]["ids_digest"])
    doc["selection"] = {"ids": [ids[int(i)] for i in snap.selected if 0 <= int(i) < n],
                        "current": ids[snap.current] if 0 <= snap.current < n else None}
    for name, decisions in snap.decisions.items():
        doc["duplicates"][name]["decisions"] = {str(ids[int(i)]): str(d) for i, d in decisions.items()
                                                if 0 <= int(i) < n}
    rel = []
    for p in doc["data"]["paths"]:
        try:
            rel.append(os.path.relpath(p, path.parent))
        except ValueError:  # another drive (Windows)
            rel.append(None)
    doc["data"]["paths_relative"] = rel
    if snap.arrays:
        side = sidecar_path(path)
        _write_atomic(side, lambda f: np.savez(f, **snap.arrays))
        doc["maps_file"] = side.name
    text = json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False)
    _write_atomic(path, lambda f: f.write(text.encode("utf-8")))
    return str(path)


def save_session(target: Any, path: Any) -> str:
    """Save the session of a window (or an ``AppState``) to ``path``; returns the path written."""
    return write_session(collect(target), path)


# -- reading -------------------------------------------------------------------------------------------------
def load_session(path: Any, progress=None) -> Dict[str, Any]:
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


def resolve_paths(doc: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """``(paths that exist, paths that are missing)``; a path missing at its absolute location is
    looked for relative to the session file (a moved project folder)."""
    data = doc["data"]
    session_dir = Path(doc.get("path", ".")).parent
    rel = data.get("paths_relative") or [None] * len(data["paths"])
    found, missing = [], []
    for p, r in zip(data["paths"], rel + [None] * (len(data["paths"]) - len(rel))):
        if os.path.exists(p):
            found.append(p)
        elif r and (session_dir / r).exists():
            found.append(str((session_dir / r).resolve()))
        else:
            missing.append(p)
    return found, missing


def find_indices(ids: Sequence[Any], selected: Sequence[Any], current: Any,
                 decisions: Dict[str, Dict[str, str]], progress=None) -> Dict[str, Any]:
    """Saved item ids -> indices into ``ids`` (a worker job: a million ids take about a second).

    Returns ``{"selected": sorted int64 array, "current": index or -1, "n_lost": selected ids not
    found, "decisions": {encoder: {index: "keep" | "drop"}}}``.
    """
    pos = {str(x): i for i, x in enumerate(ids)}
    progress.check()
    wanted = [str(x) for x in selected]
    found = np.array(sorted({pos[x] for x in wanted if x in pos}), dtype=np.int64)
    return {
        "selected": found,
        "current": pos.get(str(current), -1) if current is not None else -1,
        "n_lost": sum(1 for x in wanted if x not in pos),
        "decisions": {name: {pos[k]: str(d) for k, d in saved.items() if k in pos and d in ("keep", "drop")}
                      for name, saved in decisions.items()},
    }


class RestoredProjection:
    """A map read from a session: its parameters and quality figures, as the map view shows them."""

    TRUST_WARN = 0.8

    def __init__(self, params: Dict[str, Any]) -> None:
        self.params = dict(params)
        self.method_ = self.params.get("method", "")
        self.trustworthiness_ = _finite(self.params.get("trustworthiness"))
        self.knn_preservation_ = _finite(self.params.get("knn_preservation"))
        self.warning_ = str(self.params.get("warning") or "")
        self.restored = True

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.params)


# -- restoring into a window ---------------------------------------------------------------------------------
class SessionRestorer(QObject):
    """Brings a window to a saved session as its data loads and encodes.

    1. the layout at once; the data sources through ``window.open_paths`` (missing ones named);
    2. when the dataset arrives, the saved active encoder is chosen so it is the one encoded;
    3. each embedding set, as it arrives, gets its saved maps (so the analysis scheduler has no
       PCA / UMAP to compute); once the active set is there the selection, current item and view
       choices are restored and the other encoders are added (``window.add_encoder``);
    4. when a set's duplicate finder arrives it is moved to the saved threshold (in the runner)
       and the saved decisions are put in the state.

    Opening other data meanwhile stops it.  ``done`` is True once steps 1-3 are complete.
    """

    def __init__(self, window: Any, doc: Dict[str, Any]) -> None:
        super().__init__(window)
        self.window = window
        self.state = window.state
        self.doc = doc
        self.paths, self.missing = resolve_paths(doc)
        self.active = str(doc.get("active") or "")
        self.encoders = [str(e) for e in doc.get("encoders") or [] if e]
        self.maps: Dict[str, Dict[str, tuple]] = doc.get("maps") or {}
        self.pending_duplicates: Dict[str, Dict[str, Any]] = {
            str(k): dict(v) for k, v in (doc.get("duplicates") or {}).items() if isinstance(v, dict)}
        self.dataset = None
        self.done = False
        self.stopped = False
        self.messages: List[str] = []
        self._moving: Dict[str, Any] = {}  # encoder -> finder being moved to its threshold
        self._decisions: Dict[str, Dict[int, str]] = {}  # encoder -> {index: keep / drop}
        self._connected = False

    # -- steps ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        name = os.path.basename(self.doc.get("path", "session"))
        self._restore_layout()
        if not self.paths:
            self._report_problems()
            self.stop()
            return
        self.state.dataset_changed.connect(self._on_dataset)
        self.state.embeddings_changed.connect(self._on_embeddings)
        self.state.analysis_changed.connect(self._on_analysis)
        self._connected = True
        data = self.doc["data"]
        self.window.show_message(f"Opening session {name}\u2026")
        self.window.open_paths(self.paths, data.get("text_column"), data.get("label_column"))

    def stop(self) -> None:
        """Stop following the window (other data was opened, or the session is complete)."""
        self.stopped = True
        if self._connected:
            self._connected = False
            self.state.dataset_changed.disconnect(self._on_dataset)
            self.state.embeddings_changed.disconnect(self._on_embeddings)
            self.state.analysis_changed.disconnect(self._on_analysis)
        for name in self.pending_duplicates:
            self.window.runner.cancel(DUPLICATES_KEY + name)
        self.window.runner.cancel(IDS_KEY)

    def _report_problems(self) -> None:
        """Missing sources and an unreadable sidecar: a message in the window and in Problems."""
        name = os.path.basename(self.doc.get("path", "session"))
        if self.missing:
            what = "; restoring the rest" if self.paths else "; there is nothing to restore"
            self.window.report_error(
                "session", f"{name}: {len(self.missing)} data source(s) not found: {', '.join(self.missing)}{what}",
                self.missing[0])
        for text in self.doc.get("warnings") or []:
            self.window.report_error("session", text)

    def _restore_layout(self) -> None:
        layout = self.doc.get("layout") or {}
        if not layout or not getattr(self.window, "docks_built", False):
            return
        if layout.get("geometry"):
            self.window.restoreGeometry(QByteArray.fromBase64(layout["geometry"].encode("ascii")))
        if layout.get("state"):
            self.window.restoreState(QByteArray.fromBase64(layout["state"].encode("ascii")))

    def _on_dataset(self) -> None:
        if self.dataset is not None or self.state.dataset is None or list(self.state.paths) != list(self.paths):
            self.stop()  # other data was opened: this session is no longer what the window shows
            return
        self.dataset = self.state.dataset
        self._report_problems()  # now: a new dataset starts with only its own problems
        if self.active and self.active != "precomputed" and self.dataset.modality != "embedding":
            combo = self.window.encoder_combo  # set_dataset encodes with the combo's encoder, right after this
            i = combo.findData(self.active)
            if i < 0:
                combo.addItem(self.active, self.active)
                i = combo.findData(self.active)
            combo.setCurrentIndex(i)

    def _on_embeddings(self, name: str) -> None:
        emb = self.state.sets.get(name)
        if emb is None:
            return
        digest = None
        for method, (xy, params, saved_digest) in self.maps.get(name, {}).items():
            if digest is None:
                digest = ids_digest(emb.dataset.ids)
            if saved_digest != digest or len(xy) != len(emb):
                self.messages.append(f"the saved {method.upper()} map of {name} no longer fits the data; recomputing it")
                continue
            self.state.set_projection(method, xy[:, :2], RestoredProjection(params), name=name)
        self.maps.pop(name, None)
        self._maybe_finish()
        if name == self.active or (self.active not in self.encoders and not self.done):
            QTimer.singleShot(0, self._after_active)  # after the window's own handling of the new set

    def _after_active(self) -> None:
        if self.stopped or self.done or self.state.dataset is None or self.window.runner.is_running(IDS_KEY):
            return
        ds = self.state.dataset
        sel = self.doc.get("selection") or {}
        decisions = {name: entry.get("decisions") or {} for name, entry in self.pending_duplicates.items()}
        self.window.runner.submit(IDS_KEY, find_indices, ds.ids, sel.get("ids") or [], sel.get("current"), decisions,
                                  on_result=lambda res, ds=ds: self._indices_found(ds, res))

    def _indices_found(self, ds: Any, found: Dict[str, Any]) -> None:
        if self.stopped or self.state.dataset is not ds:
            return
        self.done = True
        window = self.window
        selected = found["selected"]
        window.selection.set_selection(selected, "session")
        window.selection.set_current(found["current"], "session")
        if found["n_lost"]:
            self.messages.append(f"{found['n_lost']} selected item(s) are no longer in the data")
        self._decisions = found["decisions"]
        self._restore_views()
        for name in self.encoders:
            if name not in self.state.sets and name != "precomputed" and ds.modality != "embedding":
                window.add_encoder(name, show=False)
        self._on_analysis("duplicates")
        self._maybe_finish()
        text = f"Session restored: {len(ds):,} items, {len(self.encoders)} encoder(s), {len(selected):,} selected"
        if self.missing:
            text += f"; {len(self.missing)} missing source(s), see Problems"
        if self.messages:
            text += "; " + "; ".join(self.messages)
        window.show_message(text)

    def _restore_views(self) -> None:
        states = self.doc.get("views") or {}
        for name, saved in states.items():
            view = getattr(self.window, "views", {}).get(name)
            if view is None or not isinstance(saved, dict):
                continue
            try:
                if hasattr(view, "restore_session_state"):
                    view.restore_session_state(saved)
                elif hasattr(view, "method_box") and hasattr(view, "color_box"):
                    _restore_map(view, saved)
            except Exception as exc:  # noqa: BLE001 - a view that cannot take its choices keeps its own
                log.warning("could not restore the choices of %s: %s", name, exc)

    # -- duplicates ----------------------------------------------------------------------------------------------
    def _on_analysis(self, kind: str) -> None:
        if kind != "duplicates" or self.stopped or not self.done or self.state.dataset is None:
            return  # (decisions wait for the ids -> indices job of the selection)
        for name in list(self.pending_duplicates):
            finder = self.state.get_analysis("duplicates", name)
            if finder is None or self._moving.get(name) is finder:
                continue
            entry = self.pending_duplicates[name]
            t = _finite(entry.get("threshold"))
            if t is not None and not math.isclose(finder.threshold_, t, rel_tol=0.0, abs_tol=1e-9):
                from embedview.core.duplicates import apply_threshold  # a new finder at t (never mutates)

                self._moving[name] = finder
                self.window.runner.submit(
                    DUPLICATES_KEY + name, apply_threshold, finder, t,
                    on_result=lambda res, name=name, finder=finder: self._moved(name, finder, res[0]),
                    on_error=lambda msg, name=name: self._duplicates_failed(name, msg))
                continue
            self._apply_decisions(name, entry, t)

    def _moved(self, name: str, base: Any, finder: Any) -> None:
        self._moving.pop(name, None)
        if self.state.get_analysis("duplicates", name) is base and name in self.pending_duplicates:
            self.state.set_analysis("duplicates", finder, name=name)  # -> _on_analysis -> decisions

    def _duplicates_failed(self, name: str, message: str) -> None:
        self._moving.pop(name, None)
        self.pending_duplicates.pop(name, None)
        self.window.report_error("session", f"the saved duplicate threshold of {name} cannot be applied: {message}")

    def _apply_decisions(self, name: str, entry: Dict[str, Any], threshold: Optional[float]) -> None:
        self.pending_duplicates.pop(name, None)
        saved = entry.get("decisions") or {}
        decisions = self._decisions.get(name, {})
        if decisions or saved:
            self.state.set_analysis("duplicate_decisions", decisions, name=name)
        view = getattr(self.window, "views", {}).get("DuplicatesView")
        if view is not None and threshold is not None and name == self.state.active and hasattr(view, "set_threshold"):
            view.set_threshold(threshold)  # the view may prefer a remembered threshold: the session's wins
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        """Stop following the window once every saved encoder and duplicate state is back."""
        if self.done and not self.pending_duplicates and all(n in self.state.sets for n in self.encoders):
            self.stop()


def _restore_map(view: Any, saved: Dict[str, Any]) -> None:
    """The map's projection method and colour-by choice (kept as its wish until that colour exists)."""
    method = saved.get("method")
    if method:
        i = _find_data(view.method_box, method)
        if i >= 0:
            view.method_box.setCurrentIndex(i)
    color = saved.get("color")
    if color:
        view.choose_color(tuple(color))


def _find_data(combo: Any, data: Any) -> int:
    """``combo.findData`` that also finds Python tuples (Qt's own lookup does not)."""
    for i in range(combo.count()):
        if combo.itemData(i) == data:
            return i
    return -1


def restore_session(window: Any, doc: Dict[str, Any]) -> SessionRestorer:
    """Start restoring ``doc`` (from :func:`load_session`) into ``window``; returns the restorer."""
    previous = getattr(window, "session_restorer", None)
    if previous is not None:
        previous.stop()
    restorer = SessionRestorer(window, doc)
    window.session_restorer = restorer
    restorer.start()
    return restorer


# -- window actions --------------------------------------------------------------------------------------------
def _start_dir(window: Any) -> str:
    paths = getattr(window.state, "paths", None) or []
    if paths:
        return os.path.dirname(os.path.abspath(paths[0]))
    return os.path.expanduser("~")


def save_dialog(window: Any) -> None:
    """File -> Save session: ask where, then write it in the runner (key ``"session.save"``)."""
    from PySide6.QtWidgets import QFileDialog

    if window.state.dataset is None:
        window.show_message("Open data first: a session records the data sources and what was done with them")
        return
    name = (window.state.dataset.name or "session").replace(os.sep, "_")
    path, _ = QFileDialog.getSaveFileName(window, "Save session", os.path.join(_start_dir(window), name + SUFFIX),
                                          FILE_FILTER)
    if path:
        if not path.lower().endswith(".json"):
            path += SUFFIX
        save_in_background(window, path)


def save_in_background(window: Any, path: str):
    """Collect the session now (cheap) and write it in the runner; returns the Job."""
    try:
        snap = collect(window)
    except ValueError as exc:
        window.report_error("session", str(exc))
        return None
    return window.runner.submit(SAVE_KEY, write_session, snap, path,
                                on_result=lambda p: window.show_message(f"Session saved to {p}"),
                                on_error=lambda msg: window.report_error("session", f"saving the session failed: {msg}",
                                                                         path))


def open_dialog(window: Any) -> None:
    """File -> Open session: ask for a session file and restore it."""
    from PySide6.QtWidgets import QFileDialog

    path, _ = QFileDialog.getOpenFileName(window, "Open session", _start_dir(window), FILE_FILTER)
    if path:
        open_in_background(window, path)


def open_in_background(window: Any, path: str):
    """Read ``path`` in the runner (key ``"session.load"``), then restore it; returns the Job."""
    return window.runner.submit(LOAD_KEY, load_session, str(path),
                                on_result=lambda doc: restore_session(window, doc),
                                on_error=lambda msg: window.report_error("session", msg, str(path)))
