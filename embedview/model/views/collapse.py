"""The Collapse view: the post-hoc mitigations shown and how spread is drawn."""

from __future__ import annotations

from dataclasses import dataclass, field  # noqa: F401 - field is used by some states
from typing import Any, Dict, Optional, Tuple  # noqa: F401

from psygnal import evented

from embedview.model.views._base import ViewStateMixin


@evented
@dataclass
class CollapseState(ViewStateMixin):
    """The Collapse view: the post-hoc mitigations shown and how spread is drawn."""

    #: mean-centre the vectors before the diagnostics
    center: bool = False
    #: PCA-whiten the vectors before the diagnostics
    whiten: bool = False
    #: per-dimension spread drawn as standard deviation ("std") or variance ("var")
    spread: str = "std"
    #: singular spectrum on a log scale
    log_scale: bool = True
