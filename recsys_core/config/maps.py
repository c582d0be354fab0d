"""ProjectionConfig: the UMAP settings of the 2-D maps (keyed apart from the models: changing them never retrains)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

from ..errors import ConfigError

MAP_SPACES = ("content", "collab", "hybrid")  # the spaces a map can show


@dataclass(frozen=True)
class ProjectionConfig:
    """UMAP settings for the 2-D maps (keyed separately: changing them never retrains the models)."""

    n_neighbors: int = 15
    min_dist: float = 0.1
    n_epochs: int = 200  # umap's own default for big data; enough for a stable picture
    seed: int = 42
    alpha_step: float = 0.1  # hybrid maps are cached per alpha rounded to this step
    large_points: int = 20_000  # scale: above this many points UMAP runs at most large_n_epochs
    large_n_epochs: int = 100  # (62k points: the layout is settled by then; halves the optimisation time)

    def epochs_for(self, n_points: int) -> int:
        """UMAP optimisation epochs for a map of ``n_points`` points."""
        return min(self.n_epochs, self.large_n_epochs) if n_points > self.large_points else self.n_epochs

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
        if not 10 <= self.large_n_epochs <= 5000 or self.large_points < 1:
            raise ConfigError("projection large_n_epochs must be between 10 and 5000 and large_points >= 1.")

    def key(self) -> str:
        """Short hash naming this setting's projection files inside an artifact."""
        d = asdict(self)
        for name in ("large_points", "large_n_epochs"):  # at their defaults they leave existing keys unchanged
            if d[name] == type(self).__dataclass_fields__[name].default:
                d.pop(name)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]
