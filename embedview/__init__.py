"""embedview: see and test your embeddings.

Importing this package is cheap on purpose: it pulls in neither Qt nor torch nor umap.  The
Python API (:mod:`embedview.api`: ``show``, ``check``, ``compare``, ``audit``, ``log``) is
loaded on first use of one of its names.
"""

from typing import Any

# The one place the version is written: pyproject.toml reads it ([tool.setuptools.dynamic]), and
# CHANGELOG.md has a section for it (tests/test_packaging.py).
__version__ = "0.1.0"

#: names of embedview.api given by ``embedview.<name>``, imported on first use
_API = ("show", "check", "compare", "audit", "log", "Window", "WindowError", "CheckResult", "AuditResult")
_API += ("scores", "ScoresResult")  # per-item uniqueness, representativeness, named clusters
_API += ("drift", "DriftResult")  # two-sample drift test
_API += ("timeline", "TimelineResult")  # metrics per step of a training run

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from embedview import api

        return getattr(api, name)
    raise AttributeError(f"module 'embedview' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
