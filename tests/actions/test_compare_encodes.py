"""Encoding for comparison (and choosing an encoder) on real texts, headless: an encoder that is not on
this computer while offline fails at once, saying so; a comparison encode reports its progress and
can be cancelled like the main encode."""

from __future__ import annotations

import pytest

from embedview.actions.data import EncodeProgress, encode_job
from embedview.encoders.registry import EncoderUnavailableError

#: a hub name that is in no cache (the registry's offline check says so)
NOT_CACHED = "sbert:embedview-tests/not-a-cached-model"
SUBJECTS = ["cat", "violin", "harbour", "glacier", "teapot", "tram", "lighthouse", "orchard"]


def _texts(path, n):
    lines = [f"The {SUBJECTS[i % 8]} near the {SUBJECTS[(i * 3 + 1) % 8]} was photographed on day {i}."
             for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def offline(monkeypatch):
    """Offline as the hub libraries know it (the same holds on a machine without a network:
    ``registry.hub_reachable`` finds no route)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_an_encoder_that_needs_a_download_fails_at_once_while_offline(app, tmp_path, offline):
    app.data.open_paths([_texts(tmp_path / "notes.txt", 12)])
    app.wait_until(lambda: app.model.emb is not None)
    before = app.model.emb

    # for comparison: the job ends with the reason before any model is loaded
    statuses, ended = [], []
    app.data.extra_status.connect(statuses.append)
    app.data.extra_ended.connect(lambda name, how: ended.append((name, how)))
    app.data.add_encoder(NOT_CACHED)
    app.wait_until(lambda: ended)
    assert ended == [(NOT_CACHED, "failed")]
    problem = app.model.problems[-1]
    assert problem.severity == "error" and problem.reason.startswith(f"{NOT_CACHED} is not available offline")
    assert "HF_HUB_OFFLINE is set" in problem.reason and "default-text" in problem.reason  # why, and what works
    # the encoder process was never asked: the only step reported is the check ("loading ..." never came)
    assert all(s.message.startswith("checking") for s in statuses), [s.message for s in statuses]
    assert NOT_CACHED not in app.model.sets and app.data.extras_running == []

    # as the encoder of the data: the same at once; the data stays shown with the encoder that worked,
    # and the failed choice is not remembered for the next data
    failed = []
    app.data.encode_ended.connect(failed.append)
    changed = []
    app.data.encoder_changed.connect(changed.append)
    app.data.choose_encoder(NOT_CACHED)
    app.wait_until(lambda: failed)
    assert failed == ["failed"] and app.model.emb is before and app.model.active == "default-text"
    assert app.model.problems[-1].reason.startswith(f"{NOT_CACHED} is not available offline")
    assert app.data.memory.last_encoder("text") == "default-text"
    assert app.data.encoder == "default-text" and changed[-1] == "default-text"


def test_encode_job_refuses_before_the_encoder_process_is_asked(tmp_path, offline):
    from embedview.core.loaders import load_paths

    ds = load_paths(_texts(tmp_path / "few.txt", 5))
    with pytest.raises(EncoderUnavailableError, match="not available offline"):
        encode_job(ds, NOT_CACHED)
    with pytest.raises(EncoderUnavailableError, match="cannot be loaded: folder not found"):
        encode_job(ds, f"sbert:{tmp_path / 'no-such-model'}")
    # what is on this computer still works offline
    assert len(encode_job(ds, "default-text")) == 5


def test_a_comparison_encode_reports_progress_and_cancels(app, tmp_path):
    """default-text's own weights as ``sbert:<folder>``: a second encoder that works offline."""
    from embedview.encoders.default_text import model_folder

    app.data.open_paths([_texts(tmp_path / "many.txt", 700)])
    app.wait_until(lambda: app.model.emb is not None)
    second = f"sbert:{model_folder()}"
    started, statuses, fractions, ended = [], [], [], []
    app.data.extra_started.connect(lambda name, n: started.append((name, n)))
    app.data.extra_status.connect(statuses.append)
    app.data.extra_progress.connect(lambda name, f: fractions.append((name, f)))
    app.data.extra_ended.connect(lambda name, how: ended.append((name, how)))
    job = app.data.add_encoder(second)
    assert job is not None and started == [(second, 700)] and app.data.extras_running == [second]
    # asking again while it runs starts nothing new
    assert app.data.add_encoder(second) is job and "already encoding" in app.messages[-1]

    app.wait_until(lambda: job.state.fraction > 0 or ended)
    app.data.cancel_extra(second)
    app.settle()
    assert ended == [(second, "cancelled")]
    assert second not in app.model.sets and app.model.active == "default-text"
    assert app.messages[-1].startswith(f"Encoding with {second} for comparison cancelled")
    assert app.data.extras_running == []
    assert statuses and all(isinstance(s, EncodeProgress) and s.encoder == second and s.total == 700
                            for s in statuses)
    assert [f for _, f in fractions] == [s.fraction for s in statuses]
    done_before = statuses[-1].done
    assert done_before < 700  # stopped before the end

    # encoding with it again resumes from the cache and joins the model
    app.data.add_encoder(second, show=False)
    app.wait_until(lambda: second in app.model.sets)
    assert ended[-1] == (second, "done") and app.model.active == "default-text"
    assert app.model.sets[second].stats["n_cached"] > 0
