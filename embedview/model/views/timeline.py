"""The Timeline view: a run over training (a folder of checkpoint dumps), the step shown on the
map, whether it plays, and which metric the large plot shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psygnal import evented

from embedview.model.views._base import ViewStateMixin

#: the metrics the plot may show (``core.timeline.METRICS`` keys; repeated here: the model layer
#: stays free of compute imports)
METRICS = ("effective_rank", "dims_90", "mean_pairwise_cosine", "uniformity", "alignment", "knn_accuracy",
           "linear_probe")
#: the play speeds offered, in steps shown per second
SPEEDS = (1.0, 2.0, 4.0, 8.0)


@evented
@dataclass
class TimelineState(ViewStateMixin):
    """The Timeline view's choices (they stay when other data is opened: a run is not the data)."""

    #: the run folder shown ("" for none)
    run_path: str = ""
    #: the step shown on the map (a step number of the run; -1 for the last)
    step: int = -1
    #: stepping through the run on its own
    playing: bool = False
    #: one of :data:`METRICS`: the metric of the large plot
    metric: str = "effective_rank"
    #: one of :data:`SPEEDS`
    speed: float = 2.0
    #: watch the run folder and measure the steps a training loop writes while it is shown
    follow: bool = True

    def update(self, values: Mapping[str, Any]) -> None:
        """As :meth:`ViewStateMixin.update`; an unknown metric or speed is ignored, a session never
        restores playing, and the path must be a string."""
        values = dict(values)
        if values.get("metric", METRICS[0]) not in METRICS:
            values.pop("metric")
        speed = values.get("speed")
        if speed is not None and (isinstance(speed, bool) or speed not in SPEEDS):
            values.pop("speed")
        if not isinstance(values.get("run_path", ""), str):
            values.pop("run_path")
        step = values.get("step")
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            values.pop("step")
        values.pop("playing", None)
        super().update(values)
