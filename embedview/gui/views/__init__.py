"""The views.  Each takes the window's model and job runner and only listens / acts on the model.

``VIEWS`` lists them as ``(module path, class name)``; the main window imports each one only
when it builds its docks, after the window is on screen, so nothing heavy (pyqtgraph) is
imported before the first paint.  The first entry is the main view, the centre of the Explore
workspace; a view named in ``WORKSPACES`` gets a workspace (a tab of the whole window) of its
own, in ``VIEWS`` order after Explore; every other view is a dock of the Explore workspace in its
class's ``area`` ("left", "right", "bottom").

View contract: a :class:`~embedview.gui.views.base.View` subclass with class attributes ``title``,
``area`` and ``name`` (what ``model.show_view_requested`` names to bring it to the front),
constructor ``(model, runner, parent=None)``, optional ``export_plot(path)`` and ``shutdown()``.
"""

VIEWS = [
    ("embedview.gui.views.map", "MapView"),
    ("embedview.gui.views.neighbors", "NeighborsView"),
    ("embedview.gui.views.heatmap", "HeatmapView"),
    ("embedview.gui.views.search", "SearchView"),
    ("embedview.gui.views.table", "TableView"),
    ("embedview.gui.views.problems", "ProblemsView"),
    ("embedview.gui.views.charts", "ChartsView"),
    ("embedview.gui.views.duplicates", "DuplicatesView"),
    ("embedview.gui.views.issues", "IssuesView"),
    ("embedview.gui.views.checks", "ChecksView"),
    ("embedview.gui.views.collapse", "CollapseView"),
    ("embedview.gui.views.compare", "CompareView"),
    ("embedview.gui.views.drift", "DriftView"),
    ("embedview.gui.views.timeline", "TimelineView"),
]

#: the analysis views that need the room of the whole window (a verdict, a table of key numbers and
#: plots side by side): each is a workspace, not a dock
WORKSPACES = ("DuplicatesView", "IssuesView", "ChecksView", "CollapseView", "CompareView", "DriftView",
              "TimelineView")
