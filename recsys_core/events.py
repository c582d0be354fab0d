"""The one progress event every stage reports (training, evaluation, maps, jobs), and the callback type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Progress:
    """One step of a stage ("load", "content", "collab", "rating", "evaluate", "projection", "store", ...)."""

    stage: str
    epoch: int | None = None
    epochs: int | None = None
    metrics: dict = field(default_factory=dict)
    eta_s: float | None = None
    message: str = ""


ProgressFn = Callable[[Progress], None]


def emit(progress: ProgressFn | None, stage: str, message: str = "", **kw: object) -> None:
    """Send a Progress event when someone listens."""
    if progress is not None:
        progress(Progress(stage=stage, message=message, **kw))  # type: ignore[arg-type]
