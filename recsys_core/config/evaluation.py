"""EvalConfig: the held-out protocol behind every metric the dashboard shows."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

BASELINES = ("popularity", "itemknn", "ease", "rating_vectors")  # what the lists are compared with

# 0.05 as well: the best blends sit close to the collaborative end on MovieLens
_DEFAULT_ALPHAS = (0.0, 0.05) + tuple(round(i / 10, 1) for i in range(1, 11))


@dataclass(frozen=True)
class EvalConfig:
    """The protocol's knobs; hashed into the artifact key with the model configs."""

    holdout: float = 0.2
    seed: int = 42
    k: int = 20
    like_threshold: float = 4.0
    cold_max_train: int = 5
    alphas: tuple[float, ...] = _DEFAULT_ALPHAS
    max_users: int | None = None  # None = every eligible user, up to large_users (then large_max_users of them)
    large_users: int = 20_000  # scale: above this many eligible users (and max_users None) sample large_max_users
    large_max_users: int = 5_000  # ... and item-kNN scores batches by sparse x dense products
    batch_users: int = 256  # users scored per matrix product
    # scale: above this many training ratings the evaluation does not train a second rating model on its split (20 s
    # of Gibbs sweeps at 1M): RMSE is then the rating model's own validation figure, and rating_vectors is skipped
    rating_eval_max: int = 500_000
    coherence_sample: int = 3000  # movies whose top-k neighbour lists are checked for genre coherence
    baselines: tuple[str, ...] = BASELINES
    ease_lambda: float = 300.0
    ease_max_items: int = 10_000  # EASE inverts a dense items x items matrix (cubic time, n^2 memory); skipped above
    best_alpha_tolerance: float = 0.005  # best alpha: the most content weight within this share of the best recall

    def validate(self) -> None:
        """Refuse settings that would make the protocol meaningless or blow up memory."""
        if not 0.0 < self.holdout < 1.0:
            raise ConfigError(f"holdout must be between 0 and 1 (e.g. 0.2), got {self.holdout}.")
        if not 1 <= self.k <= 1000:
            raise ConfigError(f"k must be between 1 and 1000, got {self.k}.")
        if not self.alphas or any(not (0.0 <= a <= 1.0) for a in self.alphas):
            raise ConfigError(f"alphas must be a non-empty list of weights in [0, 1], got {self.alphas}.")
        if self.max_users is not None and self.max_users < 1:
            raise ConfigError(f"max_users must be at least 1 (or None for all users), got {self.max_users}.")
        if self.large_users < 1 or self.large_max_users < 1:
            raise ConfigError("large_users and large_max_users must be at least 1.")
        if self.rating_eval_max < 0:
            raise ConfigError(f"rating_eval_max must be >= 0, got {self.rating_eval_max}.")
        if not 1 <= self.batch_users <= 100_000:
            raise ConfigError(f"batch_users must be between 1 and 100000, got {self.batch_users}.")
        if self.cold_max_train < 0 or self.coherence_sample < 0:
            raise ConfigError("cold_max_train and coherence_sample must be >= 0.")
        if self.ease_lambda <= 0:
            raise ConfigError(f"ease_lambda must be positive (100-500 works), got {self.ease_lambda}.")
        if not 0.0 <= self.best_alpha_tolerance < 0.5:
            raise ConfigError(f"best_alpha_tolerance must be in [0, 0.5), got {self.best_alpha_tolerance}.")
        unknown = set(self.baselines) - set(BASELINES)
        if unknown:
            raise ConfigError(f"Unknown baselines {sorted(unknown)}; choose from {', '.join(BASELINES)}.")
