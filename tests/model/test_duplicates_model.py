"""Threshold -> groups -> keep / drop decisions on the model, without Qt.

What the Duplicates view does when the user moves the threshold and clicks KEEP / DROP, done
through the model and core APIs alone: the threshold in ``model.views.duplicates``, the finder at
it and the choices as analyses of the set, the settle job on the Qt-free runtime.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from embedview.core.dataset import Dataset
from embedview.core.duplicates import DuplicateFinder, apply_threshold, export_decisions
from embedview.core.embeddings import EmbeddingSet
from embedview.model import AnalysisKind, AppModel
from embedview.model.views.duplicates import (
    decisions_of,
    effective_threshold,
    file_finder,
    forget_decisions,
    set_decisions,
)
from embedview.runtime.jobs import JobRunner, QueueDispatcher
from embedview.runtime.keys import JobKind

DUPLICATES, DECISIONS = AnalysisKind.DUPLICATES, AnalysisKind.DUPLICATE_DECISIONS
#: item -> number of noisy copies planted after the real digits
PLANTED = {5: 1, 17: 2, 42: 3, 99: 1}


def planted_set(n: int = 300, seed: int = 0, encoder: str = "precomputed") -> tuple[EmbeddingSet, dict]:
    """The first ``n`` scikit-learn digits plus noisy copies (cosine ~0.998) of a few of them."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:n].astype(np.float32), y[:n]
    rng = np.random.default_rng(seed)
    rows, copies = [], {}
    for src, k in PLANTED.items():
        for _ in range(k):
            copies.setdefault(src, []).append(n + len(rows))
            rows.append(X[src] + rng.normal(0.0, 0.4, X.shape[1]).astype(np.float32))
    X = np.vstack([X, np.asarray(rows)])
    ids = [f"d{i}" for i in range(len(X))]
    ds = Dataset("embedding", ids=ids, sources=["digits.npy"] * len(X), embeddings=X, name="digits+copies")
    return EmbeddingSet(ds, X, encoder=encoder), copies


@pytest.fixture
def loaded():
    """A model showing the planted set, with its duplicates found at the suggested threshold."""
    emb, copies = planted_set()
    model = AppModel()
    model.set_dataset(emb.dataset, ["digits.npy"])
    model.add_embeddings(emb)
    finder = DuplicateFinder().fit(emb)
    model.set_analysis(DUPLICATES, finder)
    return model, finder, copies


def settle(model: AppModel) -> DuplicateFinder:
    """What the view does once the threshold stops moving: a new finder at it, filed in the model."""
    base = model.get_analysis(DUPLICATES)
    table = apply_threshold(base, effective_threshold(model.views.duplicates, base))
    file_finder(model, table.finder)
    return table.finder


def test_the_threshold_lives_in_the_view_state_and_the_finder_follows_it(loaded):
    model, finder, copies = loaded
    state = model.views.duplicates
    planted = sorted(sorted([s] + c) for s, c in copies.items())
    # nobody chose: the suggestion is in force, and it finds exactly the planted copies
    assert state.threshold is None
    assert effective_threshold(state, finder) == finder.suggested_threshold_
    assert sorted(sorted(g.tolist()) for g in finder.groups_) == planted

    events = []
    model.analysis_changed.connect(lambda kind, name: events.append((kind, name)))
    state.threshold = 0.9
    moved = settle(model)
    assert model.get_analysis(DUPLICATES) is moved and moved.threshold_ == 0.9
    assert events == [(DUPLICATES, "precomputed")]
    assert finder.threshold_ == finder.suggested_threshold_  # the finder filed before is untouched
    n_groups, labels = finder.groups_at(0.9)
    assert len(moved.groups_) == n_groups
    assert sorted(np.concatenate(moved.groups_).tolist()) == np.flatnonzero(labels >= 0).tolist()
    # beyond the range: clipped to it; back to None: the suggestion again
    state.threshold = 5.0
    assert effective_threshold(state, moved) == moved.threshold_range()[1] == 1.0
    state.threshold = None
    assert settle(model).threshold_ == finder.suggested_threshold_
    # the finder at the same threshold is not filed again (no needless event)
    events.clear()
    settle(model)
    assert events == []


def test_decisions_follow_the_keep_rule_survive_moves_and_reach_the_export(loaded, tmp_path):
    model, finder, copies = loaded
    state = model.views.duplicates
    # a pair that a slightly higher threshold splits, and a bigger group that survives it
    lone = min((copies[s][0] for s in (5, 99)), key=lambda c: finder.nn_similarity_[c])
    higher = float(finder.nn_similarity_[lone]) + 1e-5
    survivors = finder.groups_at(higher)[1]
    group = next(g for g in finder.groups_ if len(g) > 2 and (survivors[g] >= 0).sum() >= 2)
    kept = int(finder.keep_[finder.labels_[group[0]]])
    other = int(next(m for m in group if m != kept and survivors[m] >= 0))
    # the keep rule marks exactly one item per group
    for members in finder.groups_:
        assert [finder.decision(m) for m in members].count("keep") == 1
    assert finder.decision(kept) == "keep" and finder.decision(other) == "drop"

    # the user's choices are an analysis of the set
    assert set_decisions(model, {other: "keep", kept: "drop"}) == {other: "keep", kept: "drop"}
    stored = model.get_analysis(DECISIONS)
    assert stored == {other: "keep", kept: "drop"}
    assert finder.decision(other, stored) == "keep" and finder.decision(kept, stored) == "drop"
    with pytest.raises(ValueError, match="keep"):
        set_decisions(model, {other: "delete"})
    assert model.get_analysis(DECISIONS) == stored  # a refused change changes nothing

    # the pair is split at the higher threshold: its choice is forgotten, the others kept
    set_decisions(model, {lone: "keep"})
    state.threshold = higher
    moved = settle(model)
    assert moved.labels_[lone] < 0 and moved.labels_[other] >= 0
    assert decisions_of(model) == {other: "keep", kept: "drop"}
    state.threshold = None
    settle(model)
    assert decisions_of(model) == {other: "keep", kept: "drop"}

    # the export writes the groups at the threshold with the choices
    path, n_rows = export_decisions(model.get_analysis(DUPLICATES), effective_threshold(state, finder),
                                    tmp_path / "dups.csv", model.dataset, decisions_of(model))
    assert n_rows == sum(len(g) for g in finder.groups_) == sum(k + 1 for k in PLANTED.values())
    rows = model.get_analysis(DUPLICATES).to_rows(decisions=decisions_of(model))
    by_index = {r["index"]: r["keep"] for r in rows}
    assert by_index[other] is True and by_index[kept] is False
    # back to the keep rule for the whole group
    assert forget_decisions(model, group) == {}
    assert [finder.decision(m, model.get_analysis(DECISIONS)) for m in group].count("keep") == 1


def test_new_data_forgets_the_threshold_and_the_choices():
    emb, _ = planted_set()
    model = AppModel()
    model.set_dataset(emb.dataset)
    model.add_embeddings(emb)
    model.set_analysis(DUPLICATES, DuplicateFinder().fit(emb))
    model.views.duplicates.threshold = 0.93
    set_decisions(model, {5: "drop"})
    model.set_dataset(emb.dataset)
    assert model.views.duplicates.threshold is None  # a threshold read off other data means nothing
    assert model.get_analysis(DUPLICATES) is None and not model.get_analysis(DECISIONS)
    # choices are per set: another encoder's are its own
    other, _ = planted_set(encoder="other")
    model.add_embeddings(emb)
    model.add_embeddings(other, activate=False)
    set_decisions(model, {5: "drop"})
    assert decisions_of(model, "other") == {} and decisions_of(model) == {5: "drop"}


def test_the_settle_job_drops_a_result_for_a_set_that_is_gone(loaded):
    """The Qt-free runtime, as the view uses it: ``is_stale`` drops a late result."""
    model, finder, _ = loaded
    runner = JobRunner(QueueDispatcher())
    got = []
    emb, name = model.emb, model.active

    def stale() -> bool:
        return not model.is_current(emb, name) or model.get_analysis(DUPLICATES, name) is not finder

    runner.submit(JobKind.DUPLICATES_APPLY, apply_threshold, finder, 0.95, on_result=got.append, is_stale=stale)
    assert runner.wait_all(30)
    runner.dispatch.drain()
    assert len(got) == 1 and got[0].finder.threshold_ == 0.95

    runner.submit(JobKind.DUPLICATES_APPLY, apply_threshold, finder, 0.97, on_result=got.append, is_stale=stale)
    assert runner.wait_all(30)
    replacement, _ = planted_set(seed=1)
    model.add_embeddings(replacement)  # the active set was re-encoded meanwhile
    runner.dispatch.drain()
    assert len(got) == 1  # the late result of the old set was dropped
