"""The Checks view's state and the registry it reads, without Qt: parameters with defaults, the
checks "Run all" runs, sessions, and a check run through the registry filed in the model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.checks import FORM_CHECKS, REGISTRY, CheckInput, ParamKind, get_check, run_check
from embedview.core.dataset import Dataset
from embedview.core.embeddings import EmbeddingSet
from embedview.model import AppModel
from embedview.model.analyses import AnalysisKind
from embedview.model.views.checks import ChecksState


def _digits(n: int = 300, labelled: bool = True) -> EmbeddingSet:
    d = load_digits()
    ds = Dataset("embedding", ids=[f"d{i}" for i in range(n)], sources=["digits.npy"] * n,
                 labels=np.array([str(v) for v in d.target[:n]], dtype=object) if labelled else None,
                 embeddings=d.data[:n].astype(np.float32), name="digits")
    return EmbeddingSet.from_dataset(ds)


def test_every_parameter_reads_the_registry_default_until_set():
    state = ChecksState()
    for name in FORM_CHECKS:
        spec = get_check(name)
        for p in spec.params:
            assert state.param(name, p.name) == p.default
        assert state.params_for(name) == spec.resolve(metric="cosine")
    events = []
    state.events.params.connect(events.append)
    state.set_param("knn", "k", 7)
    state.set_param("knn", "k", 7)  # no change, no event
    assert len(events) == 1 and state.param("knn", "k") == 7
    assert state.params_for("knn") == {"k": 7, "vote": "majority", "metric": "cosine"}
    state.forget("knn", "k")
    assert state.param("knn", "k") == 10 and len(events) == 2
    with pytest.raises(KeyError):
        state.set_param("knn", "folds", 3)  # not a parameter of kNN
    with pytest.raises(ValueError, match="unknown check"):
        state.set_param("nope", "k", 3)


def test_bad_values_are_kept_as_given_and_refused_when_the_check_starts():
    state = ChecksState()
    state.set_param("retrieval", "ks", "1, five")
    with pytest.raises(ValueError, match="K must be whole numbers"):
        state.params_for("retrieval")
    state.set_param("retrieval", "ks", "20, 1 5")
    assert state.params_for("retrieval")["ks"] == [1, 5, 20]
    state.set_param("knn", "k", 0)
    with pytest.raises(ValueError, match="between 1 and 1000"):
        state.params_for("knn")
    state.metric = "manhattan"
    with pytest.raises(ValueError, match="metric must be one of"):
        state.params_for("outliers")


def test_run_all_runs_the_chosen_checks_in_registry_order():
    state = ChecksState()
    assert state.to_run() == FORM_CHECKS
    state.enabled = ("outliers", "knn", "gone")  # a check an old session named that no longer exists
    assert state.to_run() == ("knn", "outliers")


def test_the_state_saves_and_restores_itself():
    state = ChecksState(metric="euclidean")
    state.set_param("linear_probe", "C", 0.5)
    saved = state.to_dict()
    assert saved == {"enabled": [], "params": {"linear_probe": {"C": 0.5}}, "metric": "euclidean"}
    other = ChecksState()
    other.update(saved)
    assert other.params_for("linear_probe") == state.params_for("linear_probe")
    other.update({"params": "not a dict", "metric": 3})  # a hand-edited session never breaks the view
    assert other.metric == "euclidean" and other.param("linear_probe", "C") == 0.5
    other.reset()
    assert other.params == {} and other.metric == "cosine"


def test_the_registry_describes_every_check():
    assert list(REGISTRY)[:2] == ["collapse", "knn"] and "invariance" in FORM_CHECKS
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.title and callable(spec.run)
        for p in spec.params:
            assert p.help, f"{name}.{p.name} has no help text"
            assert p.check(p.default) == p.default or p.kind is ParamKind.INTS
            if p.kind in (ParamKind.INT, ParamKind.FLOAT):
                assert p.low is not None and p.high is not None and p.low <= p.default <= p.high
    assert get_check("clustering").param("n_clusters").special == "labels"
    resolved = get_check("knn").resolve({"vote": "weighted"}, metric="dot")
    assert resolved == {"k": 10, "vote": "weighted", "metric": "dot"}
    with pytest.raises(ValueError, match="no parameter"):
        get_check("knn").resolve({"folds": 3})


def test_what_a_check_needs_is_said():
    unlabelled = CheckInput(_digits(100, labelled=False))
    assert get_check("knn").unavailable(unlabelled) == "needs labels: the dataset has no labels"
    assert get_check("outliers").unavailable(unlabelled) == ""
    assert get_check("clustering").unavailable(unlabelled, {"n_clusters": 4}) == ""
    assert get_check("retrieval").unavailable(CheckInput(unlabelled.emb, relevant={0: [1]})) == ""
    assert "precomputed" in get_check("invariance").unavailable(unlabelled)
    with pytest.raises(ValueError, match="needs labels"):
        run_check("knn", unlabelled)


def test_a_check_run_through_the_registry_is_filed_in_the_model():
    model = AppModel()
    emb = _digits(300)
    model.set_dataset(emb.dataset)
    model.add_embeddings(emb)
    changed = []
    model.analysis_changed.connect(lambda kind, name: changed.append((kind, name)))
    state = model.views.checks
    state.set_param("knn", "k", 5)
    run = run_check("knn", CheckInput(emb), state.params_for("knn"))
    model.set_analysis(AnalysisKind.CHECKS, {"knn": run})
    assert changed == [(AnalysisKind.CHECKS, "precomputed")]
    filed = model.get_analysis(AnalysisKind.CHECKS)["knn"]
    assert filed.params == {"k": 5, "vote": "majority", "metric": "cosine"}
    assert filed.value("accuracy") == filed.result.accuracy_ > 0.9
    assert filed.rows[0]["check"] == "kNN accuracy" and "k=5" in filed.rows[0]["details"]
    assert filed.to_dict()["result"]["accuracy"] == filed.result.accuracy_
