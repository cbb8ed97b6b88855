"""Dockable views.  Each takes the shared AppState and SelectionModel and only listens/acts on them."""
