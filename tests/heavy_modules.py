"""The modules a cheap path must not import (each costs seconds or hundreds of MB): shared by the
start-up and layer tests.  Imported by name: pytest puts tests/ on sys.path for tests/conftest.py."""

HEAVY = ["torch", "torchvision", "open_clip", "timm", "sentence_transformers", "transformers", "onnxruntime",
         "umap", "numba", "faiss", "PySide6", "pyqtgraph"]
