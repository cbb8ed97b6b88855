"""The application model without Qt: events, the active set, typed analyses, view states."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.dataset import Dataset, LoadProblem
from embedview.core.embeddings import EmbeddingSet
from embedview.model import AnalysisKind, AppModel


def digits_set(n: int = 60, encoder: str = "precomputed") -> EmbeddingSet:
    """Real data: the first ``n`` scikit-learn digits as 64-d vectors, labelled."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:n].astype(np.float32), y[:n]
    ds = Dataset(modality="embedding", ids=[f"d{i}" for i in range(n)], sources=[""] * n,
                 labels=np.array([str(v) for v in y], dtype=object), embeddings=X)
    return EmbeddingSet(ds, X, encoder=encoder)


class Recorder:
    def __init__(self, model: AppModel) -> None:
        self.events: list = []
        for name in ("dataset_changed", "embeddings_changed", "active_changed", "active_set_changed",
                     "projection_changed", "analysis_changed", "problems_changed"):
            getattr(model, name).connect(lambda *args, name=name: self.events.append((name, *args)))
        model.selection.selection_changed.connect(lambda idx, src: self.events.append(("selection", len(idx), src)))

    def names(self) -> list:
        return [e[0] for e in self.events]


def test_set_dataset_clears_everything_and_resets_the_selection():
    model = AppModel()
    emb = digits_set()
    model.set_dataset(emb.dataset, ["digits.npy"])
    model.add_embeddings(emb)
    model.selection.set_selection([1, 2, 3], "test")
    model.set_analysis(AnalysisKind.OUTLIERS, "scores")
    model.views.collapse.center = True
    model.views.duplicates.threshold = 0.9
    model.views.neighbors.k = 25

    rec = Recorder(model)
    other = digits_set(40)
    model.set_dataset(other.dataset, ["other.npy"])
    assert model.sets == {} and model.active == "" and model.emb is None
    assert model.get_analysis(AnalysisKind.OUTLIERS) is None
    assert len(model.selection.selected) == 0 and model.selection.n_items == 40
    # a leftover mitigation or threshold would mislead on other data; k is a preference and stays
    assert model.views.collapse.center is False and model.views.duplicates.threshold is None
    assert model.views.neighbors.k == 25
    assert rec.names()[0] == "dataset_changed" and "selection" in rec.names()


def test_add_embeddings_activates_and_notifies_in_order():
    model = AppModel()
    a, b = digits_set(encoder="A"), digits_set(encoder="B")
    model.set_dataset(a.dataset)
    rec = Recorder(model)
    model.add_embeddings(a)
    model.add_embeddings(b, activate=False)
    assert model.active == "A" and model.emb is a and set(model.sets) == {"A", "B"}
    assert [e for e in rec.events if e[0] != "problems_changed"] == [
        ("embeddings_changed", "A"), ("active_changed", "A"), ("active_set_changed", "A"),
        ("embeddings_changed", "B"),
    ]
    rec.events.clear()
    model.set_active("B")
    assert rec.events == [("active_changed", "B"), ("active_set_changed", "B")]
    with pytest.raises(KeyError):
        model.set_active("C")


def test_reencoding_the_active_set_drops_its_analyses_and_says_so():
    model = AppModel()
    a = digits_set(encoder="A")
    model.set_dataset(a.dataset)
    model.add_embeddings(a)
    model.set_projection("pca", np.zeros((len(a), 2)))
    model.set_analysis(AnalysisKind.OUTLIERS, "old scores")
    rec = Recorder(model)
    again = digits_set(encoder="A")
    model.add_embeddings(again)
    assert model.emb is again and model.projection("pca") is None and model.get_analysis("outliers") is None
    assert ("active_set_changed", "A") in rec.events
    assert model.is_current(again, "A") and not model.is_current(a, "A")


def test_a_set_with_dropped_items_becomes_the_dataset_and_restarts_the_selection():
    model = AppModel()
    full = digits_set(50)
    model.set_dataset(full.dataset)
    model.selection.set_selection([45, 49], "test")
    kept = digits_set(48, encoder="default-image")
    kept.problems.append(LoadProblem("x.png", "truncated"))
    model.add_embeddings(kept)
    assert model.dataset is kept.dataset and model.n_items == 48
    assert len(model.selection.selected) == 0
    assert LoadProblem("x.png", "truncated") in model.problems


def test_analyses_are_typed_and_per_set():
    model = AppModel()
    a, b = digits_set(encoder="A"), digits_set(encoder="B")
    model.set_dataset(a.dataset)
    model.add_embeddings(a)
    model.add_embeddings(b, activate=False)
    rec = Recorder(model)
    model.set_analysis(AnalysisKind.DUPLICATE_DECISIONS, {3: "keep"}, name="B")
    assert model.get_analysis(AnalysisKind.DUPLICATE_DECISIONS) == {}
    assert model.analyses("B").duplicate_decisions == {3: "keep"}
    assert rec.events == [("analysis_changed", AnalysisKind.DUPLICATE_DECISIONS, "B")]
    with pytest.raises(ValueError):
        model.set_analysis("no-such-kind", 1)  # type: ignore[arg-type]
    xy = np.arange(2 * len(a)).reshape(-1, 2)
    model.set_projection("umap", xy, model="fitted")
    got = model.projection("umap")
    assert got.xy.dtype == np.float32 and got.model == "fitted"
    xy2, fitted = got  # unpacks as (xy, model)
    assert np.array_equal(xy2, xy) and model.projection("umap", "B") is None


def test_selection_is_clipped_sorted_and_silent_when_unchanged():
    model = AppModel()
    model.set_dataset(digits_set(10).dataset)
    seen = []
    model.selection.selection_changed.connect(lambda idx, src: seen.append((idx.tolist(), src)))
    model.selection.set_selection([7, 3, 3, 12, -1], "map")
    model.selection.set_selection(np.array([3, 7]), "table")
    assert seen == [([3, 7], "map")]
    model.selection.add_to_selection([1], "table")
    assert model.selection.selected.tolist() == [1, 3, 7]
    with pytest.raises(IndexError):
        model.selection.set_current(10)
    model.selection.set_current(4, "map")
    assert model.selection.to_dict(model.dataset.ids) == {"ids": ["d1", "d3", "d7"], "current": "d4"}


def test_view_states_round_trip_and_survive_bad_saved_values():
    model = AppModel()
    model.views.map.method = "pca"
    model.views.neighbors.k = 7
    model.views.compare.encoders = ("A", "B")
    saved = model.views.to_dict()
    assert saved["compare"]["encoders"] == ["A", "B"]

    other = AppModel()
    other.views.update(saved)
    assert other.views.to_dict() == saved
    # an old or hand-edited session: unknown views and fields, wrong types -> ignored
    other.views.update({"neighbors": {"k": "many", "metric": "dot", "colour": 3}, "nosuchview": {}, "map": 5})
    assert other.views.neighbors.k == 7 and other.views.neighbors.metric == "dot"


def test_view_state_fields_are_evented():
    model = AppModel()
    got = []
    model.views.duplicates.events.threshold.connect(got.append)
    model.views.duplicates.threshold = 0.8
    model.views.duplicates.threshold = 0.8  # unchanged: no event
    model.views.duplicates.reset()
    assert got == [0.8, None]
