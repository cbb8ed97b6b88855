"""The application model: every piece of the window's state, Qt-free and evented.

``embedview.model`` imports numpy, psygnal and ``embedview.core``; never Qt, never torch
(import-linter contracts in pyproject.toml).  The GUI binds widgets to it; tests drive it
without a display.
"""

from embedview.model.analyses import AnalysisKind, EncoderAnalyses, Projection2D, ProjectionMethod
from embedview.model.app import AppModel
from embedview.model.selection import Selection
from embedview.model.views import ViewStates

__all__ = ["AppModel", "AnalysisKind", "EncoderAnalyses", "Projection2D", "ProjectionMethod", "Selection", "ViewStates"]
