"""The desktop app (PySide6 + pyqtgraph).  Only wraps embedview.core / embedview.encoders."""
