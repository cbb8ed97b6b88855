"""The analysis scheduler without Qt: a JobRunner with a QueueDispatcher, drained on the test's
thread as the window's event loop would; the order of the chain, results filed in the model, stale
results dropped, status lines, and which set's UMAP runs after switching sets back and forth.

The jobs are stand-ins (the scheduler is under test, not the projections, which tests/core and
tests/gui/test_app.py run for real); the stand-in UMAP polls for cancellation and so winds down a
moment after it is cancelled, as ``run_isolated`` does."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from embedview.actions import analysis
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.core.progress import Cancelled, TaskState
from embedview.model import AnalysisKind, AppModel
from embedview.runtime.jobs import JobRunner, QueueDispatcher
from embedview.runtime.keys import JobKind


class _Projection:
    def __init__(self, n: int) -> None:
        self.embedding_ = np.zeros((n, 2), np.float32)


def _sets(*names: str):
    X = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    ds = Dataset("text", [str(i) for i in range(50)], ["notes.txt"] * 50, texts=["t"] * 50)
    return ds, [EmbeddingSet(ds, X + i, encoder=name) for i, name in enumerate(names)]


def _drain_until(dispatch: QueueDispatcher, done, timeout: float = 20.0) -> None:
    """Run delivered callbacks on this thread until ``done()`` (the window's event loop)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        dispatch.drain(timeout=0.05)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """The graph job and UMAP's child use the default embedding cache: a fresh one per test."""
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path / "cache"))


class _Graph:
    exact = True
    summary = "a stand-in graph"


@pytest.fixture
def stand_ins(monkeypatch):
    calls: list = []
    gates: dict = {}

    def job(kind, result):
        def fn(emb, *args, progress=None):
            calls.append((kind, emb.encoder))
            gate = gates.get(kind)
            task = TaskState.coerce(progress)
            task.report(1, 2, "half")
            while gate is not None and not gate.wait(0.05):
                task.check()
            return result(emb)
        return fn

    monkeypatch.setattr(analysis, "run_pca", job("pca", lambda e: _Projection(len(e))))
    monkeypatch.setattr(analysis, "run_graph", job("graph", lambda e: _Graph()))
    monkeypatch.setattr(analysis, "run_umap", job("umap", lambda e: _Projection(len(e))))
    monkeypatch.setattr(analysis, "run_outliers", job("outliers", lambda e: f"outliers of {e.encoder}"))
    monkeypatch.setattr(analysis, "run_duplicates", job("duplicates", lambda e: f"duplicates of {e.encoder}"))
    scores = job("item_scores", lambda e: {"uniqueness": np.arange(len(e), dtype=np.float32)})
    monkeypatch.setattr(analysis, "run_item_scores", scores)
    monkeypatch.setattr(analysis, "item_scores_available", lambda: True)
    clusters = job("clusters", lambda e: f"clusters of {e.encoder}")
    monkeypatch.setattr(analysis, "run_clusters", lambda emb, xy, source, progress=None: clusters(emb, progress))
    return calls, gates


def _scheduler():
    dispatch = QueueDispatcher()
    model, runner = AppModel(), JobRunner(dispatch)
    scheduler = analysis.AnalysisScheduler(model, runner)
    return model, runner, dispatch, scheduler


def test_the_chain_files_every_result_in_the_model_and_reports_status(stand_ins):
    calls, gates = stand_ins
    gates["pca"] = threading.Event()
    model, runner, dispatch, scheduler = _scheduler()
    status: list = []
    scheduler.status_changed.connect(status.append)
    kinds: list = []
    model.analysis_changed.connect(lambda kind, name: kinds.append((kind, name)))
    ds, (a,) = _sets("A")
    model.set_dataset(ds)
    model.add_embeddings(a)
    assert status[-1] == "PCA map\u2026"  # the status line names what runs
    _drain_until(dispatch, lambda: "PCA map 50 % \u2014 half" in status)  # the job's own words too
    gates["pca"].set()
    _drain_until(dispatch, lambda: model.get_analysis(AnalysisKind.CLUSTERS, "A") is not None
                 and model.get_analysis(AnalysisKind.ITEM_SCORES, "A"))
    assert calls[:2] == [("pca", "A"), ("graph", "A")]  # the map first, then the one neighbour graph
    assert calls.index(("graph", "A")) < calls.index(("umap", "A"))  # UMAP's child loads it
    assert calls.index(("outliers", "A")) < calls.index(("duplicates", "A"))
    assert calls.index(("duplicates", "A")) < min(calls.index(("item_scores", "A")), calls.index(("clusters", "A")))
    assert calls.index(("umap", "A")) < calls.index(("clusters", "A"))  # clusters of the UMAP map
    assert model.get_analysis(AnalysisKind.OUTLIERS, "A") == "outliers of A"
    assert model.get_analysis(AnalysisKind.DUPLICATES, "A") == "duplicates of A"
    assert model.projection("pca", "A") is not None
    assert model.get_analysis(AnalysisKind.CLUSTERS, "A") == "clusters of A"
    assert list(model.get_analysis(AnalysisKind.ITEM_SCORES, "A")) == ["uniqueness"]
    assert kinds[:2] == [(AnalysisKind.OUTLIERS, "A"), (AnalysisKind.DUPLICATES, "A")]
    assert sorted(kinds[2:]) == [(AnalysisKind.CLUSTERS, "A"), (AnalysisKind.ITEM_SCORES, "A")]
    assert runner.wait_all(10)
    dispatch.drain()
    assert status[-1] == ""  # idle
    # asking again for a set that has everything runs nothing
    scheduler._scheduled = None
    scheduler.schedule()
    assert runner.active_keys() == [] and len(calls) == 7


def test_item_scores_run_while_umap_runs_and_clusters_go_first_once_it_is_there(stand_ins):
    calls, gates = stand_ins
    gates["umap"] = threading.Event()
    model, runner, dispatch, _ = _scheduler()
    ds, (a,) = _sets("A")
    model.set_dataset(ds)
    model.add_embeddings(a)
    _drain_until(dispatch, lambda: model.get_analysis(AnalysisKind.ITEM_SCORES, "A"))
    assert ("clusters", "A") not in calls  # no map to cluster yet
    gates["umap"].set()
    _drain_until(dispatch, lambda: model.get_analysis(AnalysisKind.CLUSTERS, "A") is not None)
    assert calls.index(("item_scores", "A")) < calls.index(("clusters", "A"))
    assert runner.wait_all(10)


def test_clusters_wait_for_umap_and_a_failed_item_score_job_does_not_stop_them(stand_ins, monkeypatch):
    calls, gates = stand_ins
    gates["umap"] = threading.Event()

    def broken(emb, *args, progress=None):
        raise RuntimeError("uniqueness exploded")

    monkeypatch.setattr(analysis, "run_item_scores", broken)
    model, runner, dispatch, _ = _scheduler()
    errors: list = []
    runner.error.connect(lambda key, message: errors.append((key.kind, message)))
    ds, (a,) = _sets("A")
    model.set_dataset(ds)
    model.add_embeddings(a)
    _drain_until(dispatch, lambda: errors)
    assert errors[0][0] == JobKind.ITEM_SCORES and "uniqueness exploded" in errors[0][1]
    assert runner.wait_all(0.5) is False  # only UMAP still runs ...
    dispatch.drain()
    assert ("clusters", "A") not in calls  # ... and the clusters wait for its map
    gates["umap"].set()
    _drain_until(dispatch, lambda: model.get_analysis(AnalysisKind.CLUSTERS, "A") is not None)
    assert runner.wait_all(10)


def test_without_the_uniqueness_module_the_chain_skips_item_scores(stand_ins, monkeypatch):
    calls, _ = stand_ins
    monkeypatch.setattr(analysis, "item_scores_available", lambda: False)
    model, runner, dispatch, _ = _scheduler()
    ds, (a,) = _sets("A")
    model.set_dataset(ds)
    model.add_embeddings(a)
    _drain_until(dispatch, lambda: model.get_analysis(AnalysisKind.CLUSTERS, "A") is not None)
    assert ("item_scores", "A") not in calls
    assert runner.wait_all(10)


def test_run_clusters_names_the_clusters_of_a_real_map_from_the_texts():
    """The job function itself, on a map of two groups of texts: real HDBSCAN and TF-IDF."""
    rng = np.random.default_rng(0)
    n = 60
    texts = [f"guitar music audio player {i}" if i < n // 2 else f"compiler gcc toolchain build {i}"
             for i in range(n)]
    ds = Dataset("text", [str(i) for i in range(n)], ["t.csv"] * n, texts=texts)
    emb = EmbeddingSet(ds, rng.normal(size=(n, 4)).astype(np.float32))
    xy = np.vstack([rng.normal(0, 0.3, (n // 2, 2)), rng.normal(8, 0.3, (n // 2, 2))])
    clusters = analysis.run_clusters(emb, xy, "UMAP")
    fine = clusters.labels_["fine"]
    assert len(set(fine[: n // 2]) - {-1}) >= 1 and not set(fine[: n // 2]) & set(fine[n // 2:]) - {-1}
    names = " ".join(clusters.names_["fine"])
    assert "music" in names and "compiler" in names
    assert "UMAP map" in clusters.method_


def test_a_result_for_a_replaced_set_is_dropped(stand_ins):
    calls, gates = stand_ins
    gates["outliers"] = threading.Event()
    model, runner, dispatch, _ = _scheduler()
    ds, (a, a2) = _sets("A", "A")
    model.set_dataset(ds)
    model.add_embeddings(a)
    _drain_until(dispatch, lambda: ("outliers", "A") in calls)
    # "A" is re-encoded while its outlier scores are computed: the old set's scores never land
    model.sets["A"] = a2  # replaced behind the scheduler's back: only is_stale can notice
    gates["outliers"].set()
    assert runner.wait_all(10)
    dispatch.drain()
    assert model.get_analysis(AnalysisKind.OUTLIERS, "A") is None


def test_a_new_dataset_cancels_everything(stand_ins):
    calls, gates = stand_ins
    gates["outliers"] = threading.Event()
    model, runner, dispatch, _ = _scheduler()
    ds, (a,) = _sets("A")
    model.set_dataset(ds)
    model.add_embeddings(a)
    _drain_until(dispatch, lambda: runner.is_running(JobKind.OUTLIERS))
    model.set_dataset(None)
    assert runner.wait_all(10)  # the gated job saw its cancellation
    dispatch.drain()
    assert model.analyses_by_set == {}
    gates["outliers"].set()


def test_umap_is_started_again_for_a_set_whose_umap_was_cancelled(stand_ins):
    calls, gates = stand_ins
    gates["umap"] = threading.Event()
    model, runner, dispatch, _ = _scheduler()
    ds, (a, b) = _sets("A", "B")
    model.set_dataset(ds)
    model.add_embeddings(a)
    _drain_until(dispatch, lambda: model.get_analysis(AnalysisKind.DUPLICATES, "A") is not None)
    model.add_embeddings(b)  # B becomes active: A's UMAP is cancelled mid-way
    _drain_until(dispatch, lambda: model.get_analysis(AnalysisKind.DUPLICATES, "B") is not None)
    gates["umap"].set()
    _drain_until(dispatch, lambda: model.projection("umap", "B") is not None)
    assert model.projection("umap", "A") is None
    model.set_active("A")  # back to A: only its UMAP is missing
    _drain_until(dispatch, lambda: model.projection("umap", "A") is not None)
    assert [c for c in calls if c[0] == "umap"] == [("umap", "A"), ("umap", "B"), ("umap", "A")]
    assert runner.wait_all(10)


def test_the_scheduler_imports_no_qt():
    code = ("import sys, embedview.actions.analysis; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


# -- the first UMAP: say that numba compiles (or loads) its code, while it does -----------------------
def test_the_status_line_carries_the_jobs_message(stand_ins, monkeypatch):
    """The scheduler used to drop every progress message: "UMAP map 8 %" for minutes, no word."""
    calls, gates = stand_ins

    def umap(emb, progress=None):
        task = TaskState.coerce(progress)
        task.report(1, 5, analysis.UMAP_COMPILING)
        return _Projection(len(emb))

    monkeypatch.setattr(analysis, "run_umap", umap)
    model, runner, dispatch, scheduler = _scheduler()
    status: list = []
    scheduler.status_changed.connect(status.append)
    ds, (a,) = _sets("A")
    model.set_dataset(ds)
    model.add_embeddings(a)
    _drain_until(dispatch, lambda: model.projection("umap", "A") is not None)
    assert f"UMAP map 20 % \u2014 {analysis.UMAP_COMPILING}" in status
    assert runner.wait_all(10)


def _fake_fit(pause: float, seen_started: threading.Event | None = None):
    """A stand-in for Projection.fit's reports: numba's silent stretch, then the epochs."""
    def fit(task):
        task.report(0, 1, "loading UMAP (the first run compiles numba code)")
        time.sleep(pause)  # compiling: nothing reported
        task.report(0, 3, "UMAP layout: epoch 0 of 3")  # tqdm's first line comes before the compile ends
        time.sleep(pause / 2)
        for e in (1, 2, 3):
            task.report(e, 3, f"UMAP layout: epoch {e} of 3")
        return "map"
    return fit


@pytest.mark.parametrize("warm", [False, True])
def test_compile_noted_says_what_numba_does_until_the_first_epoch(warm):
    seen: list = []
    parent = TaskState(lambda f, m: seen.append(m), min_interval=0.1)  # throttled, as in the child
    with analysis.compile_noted(parent, warm, every=0.05) as task:
        assert _fake_fit(0.6)(task) == "map"
    note = analysis.UMAP_LOADING if warm else analysis.UMAP_COMPILING
    first_epoch = next(i for i, m in enumerate(seen) if m.startswith("UMAP layout"))
    before = seen[:first_epoch]
    assert len(before) >= 3, seen  # repeated while numba is silent, despite the throttle
    assert all(m.startswith(note) and m.endswith(" s)") for m in before), before
    assert "UMAP layout: epoch 0 of 3" not in seen  # tqdm's first line: numba is still at work then
    assert "loading UMAP (the first run compiles numba code)" not in seen
    assert seen[-1] == "UMAP layout: epoch 3 of 3"


def test_compile_noted_stops_its_heartbeat_when_cancelled():
    parent = TaskState(lambda f, m: None, min_interval=0)
    with pytest.raises(Cancelled), analysis.compile_noted(parent, False, every=0.02) as task:
        time.sleep(0.1)
        parent.cancel()
        time.sleep(0.1)
        task.check()
    assert not [t for t in threading.enumerate() if t.name == "embedview-umap-heartbeat"]


def test_the_numba_cache_is_warm_only_with_its_marker_and_compiled_files(tmp_path):
    assert not analysis.umap_cache_warm(tmp_path)
    assert not analysis.umap_cache_warm(None)
    analysis.mark_umap_cache_warm(tmp_path)
    assert not analysis.umap_cache_warm(tmp_path)  # the compiled files were deleted since
    (tmp_path / "umap_0123").mkdir()
    (tmp_path / "umap_0123" / "layouts.clip-9.py311.nbi").write_bytes(b"")
    assert analysis.umap_cache_warm(tmp_path)
    (tmp_path / analysis.UMAP_WARM_MARKER).write_text("umap-learn 0.0.1, numba 0.1, python 3.0")
    assert not analysis.umap_cache_warm(tmp_path)  # compiled for other versions


def test_umap_from_file_reports_compiling_then_loading(tmp_path, monkeypatch):
    """The child's job end to end with a stand-in projection: a cold cache says numba compiles, the
    run after says the code is loaded from the cache."""
    import embedview.core.projection as projection
    from embedview.runtime.isolated import save_array

    class Projection:
        metric = "cosine"

        def __init__(self, **kwargs):
            pass

        def fit(self, X, graph=None, progress=None):
            assert graph is not None and graph.n_items == len(X) and graph.k >= 4
            return _fake_fit(0.3)(progress)

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(projection, "Projection", Projection)
    path = save_array(np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32))
    try:
        messages: list = []
        assert analysis.umap_from_file(path, 5, progress=TaskState(lambda f, m: messages.append(m))) == "map"
        assert any(m.startswith(analysis.UMAP_COMPILING) for m in messages), messages
        (tmp_path / "umap_0123").mkdir()  # what numba would have written
        (tmp_path / "umap_0123" / "umap_.x-1.py311.nbi").write_bytes(b"")
        messages.clear()
        analysis.umap_from_file(path, 5, progress=TaskState(lambda f, m: messages.append(m)))
        assert any(m.startswith(analysis.UMAP_LOADING) for m in messages), messages
        assert not any(m.startswith(analysis.UMAP_COMPILING) for m in messages)
    finally:
        import os

        os.unlink(path)


# -- the kept neighbour graph, on real vectors ---------------------------------------------------------
def _digits_set(name: str = "A", offset: float = 0.0):
    """sklearn's digits (1,797 x 64) plus 20 near copies of the first 20 images: real duplicates."""
    from sklearn.datasets import load_digits

    X = load_digits().data.astype(np.float32)
    rng = np.random.default_rng(0)
    X = np.vstack([X, X[:20] + rng.normal(scale=0.01, size=(20, X.shape[1])).astype(np.float32)])
    X = X + np.float32(offset)
    n = len(X)
    ds = Dataset("text", [str(i) for i in range(n)], ["digits.csv"] * n, texts=[f"digit {i}" for i in range(n)])
    return ds, EmbeddingSet(ds, X, encoder=name)


class _GraphCalls:
    """The real ``run_graph``, recording every progress message it sends (unthrottled) and
    optionally holding at its first neighbour-search message until the job is cancelled."""

    def __init__(self, hold: bool = False) -> None:
        self.real = analysis.run_graph
        self.messages: list[str] = []
        self.results: list = []
        self.hold = hold
        self.held = threading.Event()

    def __call__(self, emb, source=None, progress=None):
        outer = TaskState.coerce(progress)
        task = outer.sub(0.0, 1.0)  # same cancel flag, every message seen
        forward = task.callback

        def callback(fraction, message):
            self.messages.append(message)
            forward(fraction, message)
            if self.hold and message.startswith("Nearest neighbours: block") and not self.held.is_set():
                self.held.set()
                while not task.cancelled:
                    time.sleep(0.01)

        task.callback = callback
        graph = self.real(emb, source, progress=task)
        self.results.append(graph)
        return graph

    @property
    def searched(self) -> bool:
        return any(m.startswith("Nearest neighbours: block") for m in self.messages)


@pytest.fixture
def real_chain(monkeypatch):
    """Real PCA, graph, outliers, duplicates and item scores; UMAP and clusters stand in (their
    child process and numba are tested elsewhere)."""
    monkeypatch.setattr(analysis, "run_umap", lambda emb, progress=None: _Projection(len(emb)))
    monkeypatch.setattr(analysis, "run_clusters", lambda emb, xy, source, progress=None: "clusters")
    graphs = _GraphCalls()
    monkeypatch.setattr(analysis, "run_graph", graphs)
    return graphs


def _run_to_the_end(model, dispatch, runner):
    _drain_until(dispatch, lambda: model.get_analysis(AnalysisKind.ITEM_SCORES, "A")
                 and model.get_analysis(AnalysisKind.CLUSTERS, "A") is not None, timeout=120)
    assert runner.wait_all(30)
    dispatch.drain()


def test_one_graph_serves_outliers_duplicates_and_item_scores_with_the_same_results(real_chain, tmp_path):
    from embedview.core.duplicates import DuplicateFinder
    from embedview.core.evaluation import OutlierScores
    from embedview.core.uniqueness import ItemScores

    model, runner, dispatch, scheduler = _scheduler()
    ds, emb = _digits_set()
    model.set_dataset(ds, paths=[str(tmp_path / "digits.csv")])
    model.add_embeddings(emb)
    _run_to_the_end(model, dispatch, runner)

    assert len(real_chain.results) == 1 and real_chain.searched  # searched once, for everything
    graph = scheduler.graph("A")
    assert graph is real_chain.results[0] and graph.exact and graph.k == analysis.GRAPH_K
    assert graph.n_items == len(emb) and graph.origin == "searched"

    outliers = model.get_analysis(AnalysisKind.OUTLIERS, "A")
    assert "neighbour graph" in outliers.neighbours_how_
    alone = OutlierScores(k=analysis.OUTLIER_K).fit(emb)
    np.testing.assert_allclose(outliers.scores_, alone.scores_, rtol=1e-5, atol=1e-6)

    dups = model.get_analysis(AnalysisKind.DUPLICATES, "A")
    assert "reused" in dups.search_reason_
    dups_alone = DuplicateFinder().fit(emb)
    assert len(dups.groups_) >= 20  # the 20 near copies
    assert sorted(map(sorted, dups.groups_)) == sorted(map(sorted, dups_alone.groups_))

    scores = model.get_analysis(AnalysisKind.ITEM_SCORES, "A")
    scores_alone = ItemScores(k=analysis.OUTLIER_K).fit(emb).columns()
    for column in ("uniqueness", "representativeness"):
        np.testing.assert_allclose(scores[column], scores_alone[column], rtol=1e-5, atol=1e-6)


def test_a_second_load_of_the_same_data_reads_the_graph_from_the_cache(real_chain, tmp_path):
    import gc

    gc.collect()  # another test's window and its graph are gone
    ds, emb = _digits_set()
    model, runner, dispatch, scheduler = _scheduler()
    model.set_dataset(ds, paths=[str(tmp_path / "digits.csv")])
    model.add_embeddings(emb)
    _run_to_the_end(model, dispatch, runner)
    assert real_chain.searched and real_chain.results[0].origin == "searched", real_chain.messages
    first = model.get_analysis(AnalysisKind.OUTLIERS, "A").scores_.copy()
    del model, runner, dispatch, scheduler, ds, emb
    real_chain.results.clear()
    real_chain.messages.clear()
    gc.collect()  # the first window is gone: nothing in memory holds its graph

    ds2, emb2 = _digits_set()  # the same data, read again (new arrays)
    model, runner, dispatch, scheduler = _scheduler()
    model.set_dataset(ds2, paths=[str(tmp_path / "digits.csv")])
    model.add_embeddings(emb2)
    _run_to_the_end(model, dispatch, runner)
    assert not real_chain.searched, real_chain.messages  # no "Nearest neighbours: block ..." at all
    assert "Neighbour graph: loaded from the cache" in real_chain.messages
    assert scheduler.graph("A").origin == "cache"
    np.testing.assert_array_equal(model.get_analysis(AnalysisKind.OUTLIERS, "A").scores_, first)


def test_a_cancelled_graph_job_stores_nothing_and_the_chain_stops(monkeypatch, tmp_path):
    import gc

    from embedview.core.cache import EmbeddingCache

    graphs = _GraphCalls(hold=True)
    monkeypatch.setattr(analysis, "run_graph", graphs)
    model, runner, dispatch, scheduler = _scheduler()
    ds, emb = _digits_set(offset=1.0)  # vectors no other test's graph (maybe still in memory) is of
    model.set_dataset(ds, paths=[str(tmp_path / "digits.csv")])
    model.add_embeddings(emb)
    _drain_until(dispatch, lambda: graphs.held.is_set(), timeout=60)  # the search is under way
    model.set_dataset(None)  # a new dataset cancels everything
    assert runner.wait_all(30)
    dispatch.drain()
    assert graphs.results == [] and scheduler.graph("A") is None
    assert model.get_analysis(AnalysisKind.OUTLIERS, "A") is None
    gc.collect()
    with EmbeddingCache(tmp_path / "cache") as cache:
        assert cache.graphs() == []


def test_umaps_child_loads_the_graph_the_graph_job_stored(tmp_path, monkeypatch):
    """umap_from_file gets the raw vectors in a file; their fingerprint (normalised for cosine)
    finds the graph the graph job stored from ``EmbeddingSet.unit``: loaded, not searched."""
    import gc
    import os

    import embedview.core.projection as projection
    from embedview.runtime.isolated import save_array

    _, emb = _digits_set()
    stored = analysis.run_graph(emb)
    assert stored.origin == "searched"
    del stored
    gc.collect()
    seen: dict = {}

    class Projection:
        metric = "cosine"

        def __init__(self, **kwargs):
            pass

        def fit(self, X, graph=None, progress=None):
            seen["graph"] = graph
            return "map"

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    monkeypatch.setattr(projection, "Projection", Projection)
    path = save_array(emb.vectors)
    try:
        messages: list = []
        task = TaskState(lambda f, m: messages.append(m), min_interval=0)
        assert analysis.umap_from_file(path, analysis.UMAP_NEIGHBORS, progress=task) == "map"
    finally:
        os.unlink(path)
    assert seen["graph"].origin == "cache" and seen["graph"].k >= analysis.UMAP_NEIGHBORS - 1
    assert not any(m.startswith("Nearest neighbours: block") for m in messages)
