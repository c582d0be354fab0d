"""EngineConfig: every setting that shapes an artifact, validated up front and hashed into its cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any

from ..errors import ConfigError
from .ann import AnnConfig
from .collab import CollabConfig
from .content import ContentConfig
from .evaluation import EvalConfig
from .fit import FitOptions
from .maps import ProjectionConfig

ARTIFACT_FORMAT = 1  # the on-disk layout of an artifact; hashed into every key, checked by the store
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class EngineConfig:
    """The per-model configs plus where to train; ``config_hash()`` names the artifact folder."""

    content: ContentConfig = field(default_factory=ContentConfig)
    collab: CollabConfig = field(default_factory=CollabConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    device: str = "auto"  # how, not what: not part of the hash
    projection: ProjectionConfig = field(default_factory=ProjectionConfig)
    ann: AnnConfig = field(default_factory=AnnConfig)  # query-time (faiss above ann.threshold movies): not hashed

    def validate(self) -> None:
        """Check every part before anything is allocated or trained."""
        dev = str(self.device).strip().lower().split(":", 1)[0]
        if dev not in DEVICES:
            raise ConfigError(f"Unknown device {self.device!r}. Choose one of: {', '.join(DEVICES)} (or cuda:N).")
        self.content.validate()
        self.collab.validate()
        dim = getattr(self.collab, "dim", 0)
        if isinstance(dim, int) and not 1 <= dim <= 4096:
            raise ConfigError(f"collab dim must be between 1 and 4096, got {dim}.")
        self.eval.validate()
        self.projection.validate()
        if not isinstance(self.ann, AnnConfig):
            raise ConfigError(f"ann must be an AnnConfig (from recsys_core.config), got {type(self.ann).__name__}.")
        self.ann.validate()

    def hashed_part(self) -> dict:
        """What an artifact depends on (models and evaluation), as plain JSON-able data."""
        return {
            "format_version": ARTIFACT_FORMAT,
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

    def for_distributed(self) -> tuple["EngineConfig", tuple[str, ...]]:
        """The config a torchrun build trains: bayes_mf (Gibbs sampling, no gradient loop) becomes dot_bias."""
        if self.collab.rating_model != "bayes_mf":
            return self, ()
        note = ("Under --distributed the rating model is dot_bias (trained by the shared gradient loop under DDP); "
                "bayes_mf is a Gibbs sampler with no gradient loop for DDP to synchronise.")
        return replace(self, collab=replace(self.collab, rating_model="dot_bias", rating_fit=None)), (note,)

    @classmethod
    def from_dict(cls, data: dict) -> "EngineConfig":
        """Rebuild a config from ``as_dict()`` output (nested dataclasses, tuples restored), then validate it."""
        cfg = _build(cls, data)
        cfg.validate()
        return cfg


def _build(cls: type, data: dict) -> Any:
    """Instantiate a (possibly nested) frozen dataclass from plain data; unknown keys are refused."""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} settings must be a mapping, got {type(data).__name__}.")
    defaults = cls()
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"Unknown {cls.__name__} settings {sorted(unknown)}; known: {', '.join(sorted(names))}.")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        current = getattr(defaults, name)
        if is_dataclass(current) and isinstance(value, dict):
            value = _build(type(current), value)
        elif current is None and isinstance(value, dict) and name == "rating_fit":
            value = _build(FitOptions, value)
        elif isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
