"""Open → load → encode without a window: real small data, the real offline default encoders."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from actionkit import Driver

from embedview.actions.data import EncodeProgress, Eta, encode_job, format_duration, load_job

SUBJECTS = ["cat", "violin", "harbour", "glacier", "teapot", "tram"]


def _texts(path, n):
    lines = [f"The {SUBJECTS[i % 6]} waits near the station, photo {i}." for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_open_a_text_file_loads_encodes_and_fills_the_model(app, tmp_path):
    path = _texts(tmp_path / "notes.txt", 30)
    events = []
    app.model.dataset_changed.connect(lambda: events.append("dataset"))
    app.model.active_changed.connect(lambda name: events.append(f"active:{name}"))
    progress = []
    app.data.encode_progress.connect(progress.append)
    ended = []
    app.data.encode_ended.connect(ended.append)

    app.data.open_paths([path])
    app.wait_until(lambda: app.model.emb is not None)

    model = app.model
    assert model.paths == [str(path)] and len(model.dataset) == 30 and model.dataset.modality == "text"
    assert model.load_options == {"text_column": None, "label_column": None}
    emb = model.emb
    assert model.active == "default-text" and emb.encoder == "default-text" and len(emb) == 30
    assert emb.dataset is model.dataset  # the set follows the model's own dataset object
    assert events == ["dataset", "active:default-text"]
    assert ended == ["done"]
    assert progress and all(isinstance(p, EncodeProgress) and p.encoder == "default-text" and p.total == 30
                            for p in progress)
    assert app.messages[-1].startswith("Encoded 30 texts with default-text")
    # the encoder used is remembered for the next text data
    assert app.data.memory.last_encoder("text") == "default-text"
    # the encoder ran in the encoder process (whether torch is imported here says nothing: collecting
    # the whole suite imports the encoder tests); test_importing_... checks the imports themselves
    from embedview.runtime.encoder_host import encoder_host

    assert encoder_host().pid not in (None, os.getpid())


def test_a_table_whose_text_column_cannot_be_guessed_asks_through_the_callback(tmp_path):
    table = tmp_path / "pairs.csv"
    table.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(6)), encoding="utf-8")
    asked = []

    def choose(path, info):
        asked.append((path, list(info["columns"])))
        return None  # the user cancelled

    app = Driver(choose_columns=choose)
    try:
        app.data.open_paths([table])
        app.wait_until(lambda: bool(asked) and not app.runner.alive_threads())
        app.settle()
        assert asked == [(str(table), ["a", "b"])]
        assert app.model.dataset is None and app.messages[-1] == "Opening cancelled"
    finally:
        app.close()


def test_load_job_guesses_or_asks(tmp_path):
    numbers = tmp_path / "measurements.csv"
    numbers.write_text("a,b,c\n1,2,3\n4,5,6\n", encoding="utf-8")
    path, info = load_job([str(numbers)])["ask"]
    assert path == str(numbers) and info["columns"] == ["a", "b", "c"]
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("stars,review\n5,Lovely little cafe by the river\n1,Cold soup and a long wait\n",
                       encoding="utf-8")
    assert load_job([str(reviews)])["dataset"].texts[0] == "Lovely little cafe by the river"


def test_precomputed_vectors_skip_encoding_and_a_comparison_encoder_is_refused(app, tmp_path):
    vectors = np.random.default_rng(0).normal(size=(25, 8)).astype(np.float32)
    np.save(tmp_path / "v.npy", vectors)
    app.data.open_paths([tmp_path / "v.npy"])
    app.wait_until(lambda: app.model.emb is not None, timeout=30)
    assert app.model.active == "precomputed" and app.data.encoder == "precomputed"
    np.testing.assert_array_equal(app.model.emb.vectors, vectors)
    assert app.data.add_encoder("default-text") is None
    assert "cannot be encoded again" in app.messages[-1]


def test_a_comparison_encoder_joins_without_taking_over(app, tmp_path):
    """The same texts encoded again with default-text's weights as ``sbert:<folder>``."""
    from embedview.encoders.default_text import model_folder

    app.data.open_paths([_texts(tmp_path / "notes.txt", 12)])
    app.wait_until(lambda: app.model.emb is not None)
    shown = []
    app.model.show_view_requested.connect(shown.append)
    second = f"sbert:{model_folder()}"
    app.data.add_encoder(second)
    app.wait_until(lambda: second in app.model.sets)
    assert app.model.active == "default-text" and list(app.model.sets) == ["default-text", second]
    assert shown == ["compare"]
    np.testing.assert_allclose(app.model.sets[second].vectors, app.model.emb.vectors, atol=1e-5)


def test_cancel_keeps_the_dataset_and_no_set(app, tmp_path):
    app.data.open_paths([_texts(tmp_path / "many.txt", 640)])
    app.wait_until(lambda: app.data.encode_job is not None and app.data.encode_job.state.fraction > 0)
    app.data.cancel()
    app.settle()
    assert len(app.model.dataset) == 640 and app.model.sets == {} and app.model.emb is None
    assert app.messages[-1].startswith("Encoding cancelled")


def test_the_encoder_choice_is_state_of_the_actions_not_of_a_widget(app):
    app.data.list_encoders(check_availability=False)
    assert app.data.encoder_for("text") == "default-text" and app.data.encoder_for("image") == "default-image"
    changed = []
    app.data.encoder_changed.connect(changed.append)
    app.data.choose_encoder("sbert:/models/mine")  # no data yet: for the next data opened
    assert changed == ["sbert:/models/mine"] and "next data" in app.messages[-1]
    assert app.data.encoder_for("text") == "sbert:/models/mine"
    app.data.choose_encoder("default-image", encode=False)
    assert app.data.encoder_for("text") == "default-text"  # an image encoder does not embed texts


def test_errors_land_in_the_model(app, tmp_path):
    app.data.open_paths([tmp_path / "nope.txt"])
    app.wait_until(lambda: any(p.severity == "error" for p in app.model.problems), timeout=30)
    problem = [p for p in app.model.problems if p.severity == "error"][0]
    assert problem.path == str(tmp_path / "nope.txt") and problem.reason


def test_encode_job_keeps_the_callers_dataset(tmp_path):
    from embedview.core.loaders import load_paths

    ds = load_paths(_texts(tmp_path / "few.txt", 12))
    emb = encode_job(ds, "default-text")
    assert emb.dataset is ds and len(emb) == 12 and emb.stats["n_encoded"] == 12


def test_eta_ignores_the_cache_jump_and_model_loading():
    eta = Eta(total=1000)
    assert eta.update(0.0, now=0.0) == (None, None)
    assert eta.update(0.0, now=20.0) == (None, None)  # 20 s loading the model: no speed yet
    assert eta.update(0.5, now=20.1) == (None, None)  # half came from the cache at once
    rate, left = eta.update(0.6, now=30.1)  # then 100 items in 10 s
    assert rate == pytest.approx(10.0) and left == pytest.approx(40.0)
    assert format_duration(3725) == "1:02:05" and format_duration(65) == "1:05"
    p = EncodeProgress("default-text", 1000, 0.6, rate, left, "")
    assert p.done == 600 and p.text() == "default-text: 600/1,000  \u00b7  10.0 items/s  \u00b7  0:40 left"
    assert EncodeProgress("x", 10, 0.0, message="loading the model").text() == "x: 0/10  \u00b7  loading the model"


def test_importing_the_actions_imports_no_qt_and_no_torch():
    """pytest-qt loads PySide6 into this process, so the check runs in a fresh interpreter."""
    import subprocess

    code = ("import sys, embedview.actions.data, embedview.actions.exports, embedview.actions.session; "
            "print(sorted(m for m in ('PySide6', 'pyqtgraph', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
