"""Qt-free, torch-free compute: datasets, loaders, cache, neighbours, metrics, diagnostics.

Nothing in this package imports PySide6, pyqtgraph or torch (enforced by import-linter).
Heavy optional modules (umap, faiss) are imported inside the functions that need them.
"""
