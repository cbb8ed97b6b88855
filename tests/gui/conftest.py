"""GUI test fixtures: offscreen Qt, settings and caches in temporary folders, no thread left behind."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from viewkit import ViewEnv, open_window  # noqa: E402


@pytest.fixture(scope="session")
def numba_cache_dir(tmp_path_factory):
    """numba's compiled UMAP code, kept between test sessions (beside pytest's own temp folders)
    so only the first session pays the tens of seconds of compilation."""
    folder = tmp_path_factory.getbasetemp().parent / "embedview-numba-cache"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch, numba_cache_dir):
    """Each test gets its own settings file and embedding cache (never the user's)."""
    monkeypatch.setenv("EMBEDVIEW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_cache_dir))
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))
    yield


@pytest.fixture
def window(qtbot):
    """The real main window with its docks built; fails the test if a worker thread survives it."""
    yield from open_window(qtbot)


@pytest.fixture
def env(qtbot, request):
    """A :class:`viewkit.ViewEnv` (shared state, selection, runner and a host window) that fails
    the test if a worker or thumbnail thread survives it.  A test module sets
    ``ENV_SIZE = (width, height)`` for the host window (default 1000 x 700)."""
    e = ViewEnv(qtbot, *getattr(request.module, "ENV_SIZE", (1000, 700)))
    yield e
    e.close()
