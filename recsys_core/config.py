"""EngineConfig: every setting that shapes an artifact, validated up front and hashed into its cache key."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

from .collab import CollabConfig
from .content import ContentConfig
from .errors import ConfigError
from .evaluation import EvalConfig
from .store import FORMAT_VERSION

_DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class ProjectionConfig:
    """UMAP settings for the 2-D maps (keyed separately: changing them never retrains the models)."""

    n_neighbors: int = 15
    min_dist: float = 0.1
    n_epochs: int = 200  # umap's own default for big data; enough for a stable picture
    seed: int = 42
    alpha_step: float = 0.1  # hybrid maps are cached per alpha rounded to this step

    def validate(self) -> None:
        """Refuse settings UMAP cannot use."""
        if not 2 <= self.n_neighbors <= 200:
            raise ConfigError(f"projection n_neighbors must be between 2 and 200, got {self.n_neighbors}.")
        if not 0.0 <= self.min_dist <= 1.0:
            raise ConfigError(f"projection min_dist must be between 0 and 1, got {self.min_dist}.")
        if not 10 <= self.n_epochs <= 5000:
            raise ConfigError(f"projection n_epochs must be between 10 and 5000, got {self.n_epochs}.")
        if not (0.0 < self.alpha_step <= 1.0 and math.isfinite(self.alpha_step)):
            raise ConfigError(f"projection alpha_step must be in (0, 1], got {self.alpha_step}.")

    def key(self) -> str:
        """Short hash naming this setting's projection files inside an artifact."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class EngineConfig:
    """The per-model configs plus where to train; ``config_hash()`` names the artifact folder."""

    content: ContentConfig = field(default_factory=ContentConfig)
    collab: CollabConfig = field(default_factory=CollabConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    device: str = "auto"  # how, not what: not part of the hash
    projection: ProjectionConfig = field(default_factory=ProjectionConfig)

    def validate(self) -> None:
        """Check every part before anything is allocated or trained."""
        dev = str(self.device).strip().lower().split(":", 1)[0]
        if dev not in _DEVICES:
            raise ConfigError(f"Unknown device {self.device!r}. Choose one of: {', '.join(_DEVICES)} (or cuda:N).")
        self.content.validate()
        self.collab.validate()
        dim = getattr(self.collab, "dim", 0)
        if isinstance(dim, int) and not 1 <= dim <= 4096:
            raise ConfigError(f"collab dim must be between 1 and 4096, got {dim}.")
        self.eval.validate()
        self.projection.validate()

    def hashed_part(self) -> dict:
        """What an artifact depends on (models and evaluation), as plain JSON-able data."""
        return {
            "format_version": FORMAT_VERSION,
            "content": asdict(self.content),
            "collab": asdict(self.collab),
            "eval": asdict(self.eval),
        }

    def config_hash(self) -> str:
        """Stable 16-hex-digit key of asdict(config) + format version."""
        text = json.dumps(self.hashed_part(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def as_dict(self) -> dict:
        """The whole config, JSON-able (for manifests and the CLI summary)."""
        return asdict(self)
