"""Training-loop options, torch-free so configs import instantly (cached starts never load torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class FitOptions:
    """How to run the loop; part of each model's config, so it is hashed into the cache key."""

    epochs: int = 20
    batch_size: int = 8192
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 3  # epochs without validation improvement before stopping (0 = never stop early)
    min_delta: float = 1e-4  # relative improvement that counts

    def validate(self) -> None:
        """Refuse loop settings that cannot train."""
        if self.epochs < 1 or self.epochs > 10_000:
            raise ConfigError(f"epochs must be between 1 and 10000, got {self.epochs}.")
        if self.batch_size < 1 or self.batch_size > 10_000_000:
            raise ConfigError(f"batch_size must be between 1 and 10,000,000, got {self.batch_size}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"learning rate must be a positive number, got {self.lr}.")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}.")
