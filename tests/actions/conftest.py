"""Qt-free action tests: each test gets its own embedding cache; no PySide6 anywhere."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """The embedding cache of each test is its own (never the user's)."""
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path / "cache"))
    yield
