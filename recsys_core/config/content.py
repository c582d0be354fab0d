"""ContentConfig: how movie documents are weighted and how the autoencoder compresses them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError

CONTENT_LOSSES = ("multinomial", "mse", "cosine")  # the autoencoder's reconstruction losses


@dataclass(frozen=True)
class ContentConfig:
    """How documents are weighted and how the autoencoder compresses them (all hashed into the cache key)."""

    tag_weight: float = 1.0  # weight of the user-tag block (each block is L2-normalised, then weighted)
    genre_weight: float = 0.6
    title_weight: float = 0.8  # franchises share title words
    decade_weight: float = 0.3
    genome_weight: float = 1.0  # tag genome (ml-20m and newer); ignored when absent
    genome_top: int = 32  # keep each movie's most relevant genome tags (sparse, readable "why")
    min_df: int = 2  # a term seen in one movie only cannot make two movies similar
    code_dim: int = 100  # the embedding size
    hidden_dim: int = 0  # autoencoder hidden layer (0 = linear to the code; measured better, see docs below)
    dropout: float = 0.2
    loss: str = "multinomial"  # or "mse" (the write-up) / "cosine"; multinomial keeps rare shared terms
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-5
    patience: int = 4
    val_fraction: float = 0.1
    center: bool = True  # subtract the codes' common direction, so cosines tell movies apart
    seed: int = 42

    def validate(self) -> None:
        """Refuse settings that cannot train, before anything is allocated."""
        for name in ("tag_weight", "genre_weight", "title_weight", "decade_weight", "genome_weight"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"content {name} must be a number >= 0, got {v}.")
        if not 2 <= self.code_dim <= 2048:
            raise ConfigError(f"content code_dim must be between 2 and 2048, got {self.code_dim}.")
        if not 0 <= self.hidden_dim <= 16384:
            raise ConfigError(f"content hidden_dim must be between 0 and 16384, got {self.hidden_dim}.")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"content dropout must be in [0, 1), got {self.dropout}.")
        if self.loss not in CONTENT_LOSSES:
            raise ConfigError(f"content loss must be one of {', '.join(CONTENT_LOSSES)}, got {self.loss!r}.")
        if not 1 <= self.epochs <= 10_000:
            raise ConfigError(f"content epochs must be between 1 and 10000, got {self.epochs}.")
        if not 2 <= self.batch_size <= 1_000_000:
            raise ConfigError(f"content batch_size must be between 2 and 1,000,000, got {self.batch_size}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"content learning rate must be a positive number, got {self.lr}.")
        if self.weight_decay < 0 or self.patience < 0:
            raise ConfigError("content weight_decay and patience must be >= 0.")
        if not 0 <= self.val_fraction <= 0.5:
            raise ConfigError(f"content val_fraction must be in [0, 0.5], got {self.val_fraction}.")
        if not 1 <= self.min_df <= 1000 or not 1 <= self.genome_top <= 10_000:
            raise ConfigError("content min_df must be in 1..1000 and genome_top in 1..10000.")
