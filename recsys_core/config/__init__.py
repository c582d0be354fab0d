"""Every setting of the engine as frozen, validated dataclasses, torch-free, plus the choices they accept.

The UI and the CLI read ``choices()`` instead of knowing the engine's names.
"""

from __future__ import annotations

from .ann import ANN_KINDS, AnnConfig, use_ann
from .collab import COLLAB_SPACES, RATING_MODELS, ColdStartConfig, CollabConfig
from .content import CONTENT_LOSSES, ContentConfig
from .engine import ARTIFACT_FORMAT, DEVICES, EngineConfig
from .evaluation import BASELINES, EvalConfig
from .fit import FitOptions
from .maps import MAP_SPACES, ProjectionConfig

__all__ = [
    "ANN_KINDS", "ARTIFACT_FORMAT", "BASELINES", "COLLAB_SPACES", "CONTENT_LOSSES", "DEVICES", "MAP_SPACES",
    "RATING_MODELS", "AnnConfig", "ColdStartConfig", "CollabConfig", "ContentConfig", "EngineConfig", "EvalConfig", "FitOptions",
    "ProjectionConfig", "choices", "use_ann",
]


def choices() -> dict[str, tuple[str, ...]]:
    """The settings that take one of a fixed set of values, keyed "section.field", for forms and --help."""
    return {
        "content.loss": CONTENT_LOSSES,
        "collab.space": COLLAB_SPACES,
        "collab.rating_model": RATING_MODELS,
        "eval.baselines": BASELINES,
        "device": DEVICES,
        "ann.kind": ANN_KINDS,
        "map.space": MAP_SPACES,
    }
