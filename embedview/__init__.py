"""embedview: see and test your embeddings.

Importing this package is cheap on purpose: it pulls in neither Qt nor torch nor umap.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
