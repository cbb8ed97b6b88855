"""Qt-free actions on the application model: open → load → encode, analyses, exports, sessions.

An action takes the :class:`~embedview.model.AppModel` and a
:class:`~embedview.runtime.jobs.JobRunner`, starts background jobs and files their results in the
model.  The window only calls them (menus, drops, buttons) and shows what the model says; the
same actions run without a window (tests, scripts).
"""
