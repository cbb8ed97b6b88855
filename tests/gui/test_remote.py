"""embedview.show() for real: the window in its own (offscreen) process, driven over the
authenticated local connection of gui/remote.py; and the remote's answers in this process's
window, with a selection made the way the map makes one."""

from __future__ import annotations

import json
import os
import threading
from multiprocessing.connection import AuthenticationError, Client
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import embedview
from embedview.api import embedding_set
from embedview.core.demo import digit_images
from embedview.core.export import save_parquet
from embedview.gui.remote import RemoteServer

N = 200


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data[:N].astype(np.float32), [str(v) for v in d.target[:N]]


def test_show_push_select_and_close_a_real_window(digits, tmp_path, monkeypatch):
    X, y = digits
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # the child's settings, not the user's
    ids = [f"d{i}" for i in range(N)]
    win = embedview.show(X, labels=y, ids=ids, texts=[f"digit {v}" for v in y], metadata={"ink": X.sum(axis=1)})
    try:
        assert win.alive
        state = win.state()
        assert state["n_items"] == N and state["token"] == 1 and state["modality"] == "embedding"
        folder = win._folder
        assert (os.stat(folder / "remote.json").st_mode & 0o777) == 0o600  # the key: this user only
        assert (os.stat(folder).st_mode & 0o777) == 0o700

        # a client without the key is refused, and the window keeps serving
        address = tuple(json.loads((folder / "address.json").read_text())["address"])
        assert address[0] == "127.0.0.1"
        with pytest.raises(AuthenticationError):
            Client(address, authkey=b"not the key")

        assert win.selection() == []
        assert win.select(["d3", "d7", "d150", "nope"]) == ["nope"]
        assert win.selection() == ["d3", "d7", "d150"]

        # new data replaces the old: images as thumbnails, the selection cleared
        pictures = []
        for digit, k, im in digit_images(2, classes=(0, 1, 2)):
            path = tmp_path / f"{digit}_{k}.png"
            im.save(path)
            pictures.append(str(path))
        vectors = np.random.default_rng(0).normal(size=(len(pictures), 16)).astype(np.float32)
        win.push(vectors, labels=[Path(p).stem[0] for p in pictures], images=pictures)
        state = win.state()
        assert state["token"] == 2 and state["n_items"] == len(pictures) and state["modality"] == "image"
        assert win.selection() == []
        assert win.select(["1"]) == [] and win.selection() == ["1"]  # ids default to positions
    finally:
        win.close()
    assert not win.alive
    assert not folder.exists()  # the data files went with the window


def test_bad_data_is_refused_before_a_window_starts(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="labels"):
        embedview.show(X, labels=["a"])


def test_remote_answers_from_the_window_model(window, qtbot, tmp_path, digits):
    """The listener thread hands each request to the GUI thread; a selection made in the window
    (as the map makes one) is what a client reads back."""
    X, y = digits
    key = os.urandom(32)
    settings = {"authkey": key.hex(), "address_file": str(tmp_path / "address.json"), "folder": None}
    server = RemoteServer(window, settings)
    try:
        data = tmp_path / "data.parquet"
        save_parquet(embedding_set(X, labels=y, ids=[f"x{i}" for i in range(N)]), data)
        assert server.answer({"op": "load", "path": str(data), "modality": "embedding", "token": 5,
                              "name": "digits"}) == {"ok": True}
        qtbot.waitUntil(lambda: server.token == 5, timeout=30_000)
        assert len(window.model.dataset) == N and window.model.emb is not None

        window.model.selection.set_selection([4, 1, 9], "map")
        window.model.selection.set_current(9, "map")
        address = tuple(json.loads((tmp_path / "address.json").read_text())["address"])
        replies: list = []

        def client() -> None:
            with Client(address, authkey=key) as conn:
                for request in ({"op": "selection"}, {"op": "nonsense"}, {"op": "state"}):
                    conn.send(request)
                    replies.append(conn.recv())

        thread = threading.Thread(target=client)
        thread.start()
        qtbot.waitUntil(lambda: len(replies) == 3, timeout=30_000)  # the GUI thread answers meanwhile
        thread.join(10)
        assert replies[0] == {"ids": ["x1", "x4", "x9"], "current": "x9"}
        assert "unknown request" in replies[1]["error"]
        assert replies[2]["n_items"] == N and replies[2]["name"] == "digits"

        bad = server.answer({"op": "load", "path": str(tmp_path / "missing.parquet"), "modality": "embedding",
                             "token": 6, "name": ""})
        assert bad == {"ok": True}
        qtbot.waitUntil(lambda: server.failed == 6, timeout=30_000)
        assert "missing.parquet" in server.error and server.token == 5
    finally:
        server.stop()
