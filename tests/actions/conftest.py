"""Qt-free action tests: each test gets its own embedding cache; no PySide6 anywhere."""

from __future__ import annotations

import pytest
from actionkit import Driver


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """The embedding cache of each test is its own (never the user's)."""
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path / "cache"))
    yield


def _driver():
    driver = Driver()
    yield driver
    driver.close()


#: a model, runner and actions with nothing open (a test file may define its own ``app``)
app = pytest.fixture(_driver, name="app")
#: a second, independent one (a session restored into a fresh window)
fresh = pytest.fixture(_driver, name="fresh")
