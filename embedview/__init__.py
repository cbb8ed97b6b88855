"""embedview: see and test your embeddings.

Importing this package is cheap on purpose: it pulls in neither Qt nor torch nor umap.
"""

# The one place the version is written: pyproject.toml reads it ([tool.setuptools.dynamic]), and
# CHANGELOG.md has a section for it (tests/test_packaging.py).
__version__ = "0.1.0"

__all__ = ["__version__"]
