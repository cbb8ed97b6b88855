"""A session file is input from anyone: the encoders it names load only when the user has used
them before or allows them now; refused ones are named in Problems and the rest is restored."""

from __future__ import annotations

import numpy as np

from embedview.actions.session import from_dict, known_encoders, needs_consent, unknown_encoders
from embedview.core.embeddings import EmbeddingSet

EVIL = "sbert:/tmp/somebody-elses-folder"
OTHER = "clip:ViT-B-32@/tmp/weights.pt"


def _texts(tmp_path):
    path = tmp_path / "notes.csv"
    rows = ["text,label"] + [f"note number {i} about {w},{w}" for i, w in enumerate(["cats", "tea", "trams"] * 4)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _doc(path):
    return {"path": "shared.embedview.json", "data": {"paths": [str(path)], "text_column": "text",
                                                      "label_column": "label"},
            "active": EVIL, "encoders": [EVIL, "default-text", OTHER],
            "selection": {"ids": [], "current": None}, "views": {}}


def _spy(app):
    """Encodes become fake sets at once (no model is loaded); every requested name is recorded."""
    asked: list[str] = []

    def encode(name=None):
        name = name or app.data.encoder
        asked.append(name)
        ds = app.model.dataset
        app.model.add_embeddings(EmbeddingSet(ds, np.eye(len(ds), 4, dtype=np.float32), encoder=name))

    def add_encoder(name, show=True):
        asked.append(name)
        ds = app.model.dataset
        app.model.add_embeddings(EmbeddingSet(ds, np.eye(len(ds), 4, dtype=np.float32), encoder=name), activate=False)

    app.data.encode = encode
    app.data.add_encoder = add_encoder
    return asked


def test_the_rules_of_consent():
    assert needs_consent(EVIL) and needs_consent(OTHER)
    assert not needs_consent("default-text") and not needs_consent("precomputed")
    assert unknown_encoders([EVIL, "default-text", EVIL, OTHER, ""], known={OTHER}) == [EVIL]

    class Memory:
        def used_encoders(self):
            return [OTHER]

        def last_encoder(self, modality):
            return {"text": EVIL}.get(modality, "")

    assert known_encoders(Memory()) == {OTHER, EVIL}
    assert known_encoders(None) == set()


def test_without_a_callback_unknown_encoders_are_refused_named_and_the_rest_restored(app, tmp_path):
    asked = _spy(app)
    restorer = from_dict(_doc(_texts(tmp_path)), app.model, app.runner, app.data)
    app.wait_until(lambda: restorer.done, timeout=60)
    app.settle()
    assert EVIL not in asked and OTHER not in asked  # nothing the file named was loaded
    assert "default-text" in app.model.sets  # the rest is restored
    assert restorer.refused == [EVIL, OTHER]
    reasons = " ".join(p.reason for p in app.model.problems)
    assert EVIL in reasons and OTHER in reasons and "not loaded" in reasons
    assert any("2 encoder(s) not loaded" in m for m in app.messages)


def test_the_callback_is_asked_once_with_the_unknown_names_and_decides(app, tmp_path):
    asked = _spy(app)
    questions: list[list[str]] = []

    def confirm(names):
        questions.append(list(names))
        return [EVIL]

    restorer = from_dict(_doc(_texts(tmp_path)), app.model, app.runner, app.data, confirm_encoders=confirm)
    app.wait_until(lambda: restorer.done, timeout=60)
    app.settle()
    assert questions == [[EVIL, OTHER]]  # default-text (built in) is never asked about
    assert asked[0] == EVIL and app.model.active == EVIL  # allowed: it is the active one again
    assert OTHER not in asked and restorer.refused == [OTHER]
    assert any(OTHER in p.reason for p in app.model.problems)


def test_encoders_the_user_has_used_load_without_asking(app, tmp_path):
    asked = _spy(app)

    def confirm(names):
        raise AssertionError(f"asked about {names}")

    restorer = from_dict(_doc(_texts(tmp_path)), app.model, app.runner, app.data, confirm_encoders=confirm,
                         known=[EVIL, OTHER])
    app.wait_until(lambda: restorer.done and OTHER in app.model.sets, timeout=60)
    assert asked[0] == EVIL and set(asked) == {EVIL, "default-text", OTHER}
    assert restorer.refused == [] and not app.model.problems


def test_the_remembered_encoder_counts_as_used(app, tmp_path):
    asked = _spy(app)
    app.data.memory.set_last_encoder("text", EVIL)
    restorer = from_dict(_doc(_texts(tmp_path)), app.model, app.runner, app.data)
    app.wait_until(lambda: restorer.done, timeout=60)
    app.settle()
    assert asked[0] == EVIL and restorer.refused == [OTHER]


def test_a_failing_dialog_refuses(app, tmp_path):
    asked = _spy(app)

    def confirm(names):
        raise RuntimeError("no display")

    restorer = from_dict(_doc(_texts(tmp_path)), app.model, app.runner, app.data, confirm_encoders=confirm)
    app.wait_until(lambda: restorer.done, timeout=60)
    app.settle()
    assert EVIL not in asked and restorer.refused == [EVIL, OTHER]
