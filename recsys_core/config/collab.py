"""CollabConfig: the collaborative similarity space and the rating model behind predict() and RMSE."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace

from ..errors import ConfigError
from .fit import FitOptions

COLLAB_SPACES = ("spectral", "rating_net", "dot_bias")  # how movie vectors are made from ratings
RATING_MODELS = ("bayes_mf", "dot_bias", "entity_net")  # the model behind predict() / RMSE


_DEFAULT_FITS = {
    # measured on ml-latest-small / ml-100k per-user 80/20 splits (benchmarks/collab_research.py)
    # bayes_mf: epochs = Gibbs sweeps on the training part (then 3/4 as many on every rating); no lr/batches
    "bayes_mf": FitOptions(epochs=40, batch_size=8192, lr=1e-3, weight_decay=0.0, patience=0),
    "dot_bias": FitOptions(epochs=40, batch_size=8192, lr=3e-3, weight_decay=0.0, patience=3),
    "entity_net": FitOptions(epochs=20, batch_size=8192, lr=3e-3, weight_decay=1e-5, patience=2),
}


@dataclass(frozen=True)
class ColdStartConfig:
    """Thin movies lean on content: a collaborative vector predicted from content, mixed in by n / (n + k)."""

    enabled: bool = True  # False: the rated vectors alone (the plain rule)
    ridge: float = 10.0  # L2 of the content -> collaborative ridge map
    fit_min_ratings: int = 10  # the map is fitted on movies with at least this many ratings
    k_grid: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0, 50.0, 100.0)  # strengths tried on the validation split (0 = off always)
    val_holdout: float = 0.2  # per-user share of the ratings the validation holds out
    val_users: int = 1000  # at most this many validation users (sampled, seeded; 3000 cost 9.5 s at 20k movies)
    recall_tolerance: float = 0.005  # keep the k with most cold recall within this share of the best recall
    cold_max_train: int = 5  # "cold" in validation: at most this many fitting ratings
    like_threshold: float = 4.0
    # thin places (scoring/thin_places.py): a user's list gives movies with at most cold_max_train ratings
    # round(thin_places * k * the user's own share of them) of its places; 0 switches them off
    thin_places: float = 1.0
    thin_neighbours: int = 50  # raters whose likes rank a thin movie for a user (user-kNN)
    # a thin movie's place score: the raters' standardised score + this x the content score's; the ratio of a
    # logistic regression's coefficients on held-out thin likes of a validation split inside the evaluation's
    # training part of ml-latest-small (benchmarks/thin_fill_research.py --inner: 0.66; 0.5 by hand before)
    thin_content_weight: float = 0.66

    def validate(self) -> None:
        """Refuse strengths and splits that cannot be fitted or measured."""
        if not (0.0 < self.ridge <= 1e6):
            raise ConfigError(f"cold_start ridge must be in (0, 1e6] (10 works well), got {self.ridge}.")
        if not 1 <= self.fit_min_ratings <= 100_000:
            raise ConfigError(f"cold_start fit_min_ratings must be between 1 and 100000, got {self.fit_min_ratings}.")
        if not self.k_grid or any(not (0.0 < k <= 1e6) or not math.isfinite(k) for k in self.k_grid):
            raise ConfigError(f"cold_start k_grid must be numbers in (0, 1e6], got {self.k_grid}.")
        if not 0.0 < self.val_holdout < 1.0 or self.val_users < 1:
            raise ConfigError("cold_start val_holdout must be in (0, 1) and val_users at least 1.")
        if not 0.0 <= self.recall_tolerance < 1.0 or self.cold_max_train < 0:
            raise ConfigError("cold_start recall_tolerance must be in [0, 1) and cold_max_train >= 0.")
        if not (0.0 <= self.thin_places <= 5.0) or not math.isfinite(self.thin_places):
            raise ConfigError(f"cold_start thin_places must be in [0, 5] (1 = the user's own share; 0 = off), "
                              f"got {self.thin_places}.")
        if not (0.0 <= self.thin_content_weight <= 10.0) or not math.isfinite(self.thin_content_weight):
            raise ConfigError(f"cold_start thin_content_weight must be in [0, 10] (0 = the raters alone), "
                              f"got {self.thin_content_weight}.")
        if not 1 <= self.thin_neighbours <= 10_000:
            raise ConfigError(f"cold_start thin_neighbours must be between 1 and 10000, got {self.thin_neighbours}.")


@dataclass(frozen=True)
class CollabConfig:
    """Settings of the collaborative space and the rating model; hashed into the artifact key."""

    space: str = "spectral"  # "spectral" | "rating_net" | "dot_bias"
    dim: int = 256  # size of the similarity space
    pop_beta: float = 0.3  # spectral: column weight = n_ratings ** -pop_beta
    ridge: float = 0.4  # spectral: filter s / sqrt(s^2 + (ridge * s_max)^2), EASE-like shrinkage of the head
    exact_max: int = 2000  # spectral: exact eigh of the smaller Gram side up to this size (1.6 s at 2000, 41 s at 6000 on 2 cores), randomized SVD above
    rating_model: str = "bayes_mf"  # "bayes_mf" | "dot_bias" | "entity_net": the model behind predict() / RMSE
    rating_dim: int = 64  # bayes_mf: rank the averaged posterior is stored at; others: embedding size
    bayes_dim: int = 20  # bayes_mf: factors per Gibbs sample
    refit_all: bool = True  # bayes_mf: after the validated sweeps, go on sampling on every rating
    rating_fit: FitOptions | None = None  # None = the tuned default for rating_model
    # scale: above this many ratings a "bayes_mf" request trains "dot_bias" with large_rating_fit instead
    # (a Gibbs sweep costs ~20x a dot_bias epoch, and ~70 sweeps are needed; see docs/SCALE.md)
    bayes_max_ratings: int = 2_000_000
    # (its batch size is also the row-wise path's for dot_bias / the entity net unless rating_fit is set)
    large_rating_fit: FitOptions = FitOptions(epochs=6, batch_size=16384, lr=3e-3, weight_decay=0.0, patience=2)
    sparse_above: int = 2_000_000  # dot_bias / entity_net: row-wise updates above this many ratings (models/row_updates.py)
    sparse_lr: float = 0.05  # ... their row-wise Adagrad step size (the dense layers keep large_rating_fit.lr)
    rating_reg: float = 0.1  # dot_bias: L2 on the embedding rows each batch touches
    bias_reg: float = 5.0  # shrinkage (pseudo-counts) of the closed-form user/movie bias baseline
    val_fraction: float = 0.05
    low_confidence_below: int = 5
    seed: int = 42
    cold_start: ColdStartConfig = ColdStartConfig()  # thin movies lean on content (training/cold_start.py)

    def rating_model_for(self, n_ratings: int) -> str:
        """The rating model actually trained on ``n_ratings`` ratings (bayes_mf falls back to dot_bias when large)."""
        if self.rating_model == "bayes_mf" and n_ratings > self.bayes_max_ratings:
            return "dot_bias"
        return self.rating_model

    def fit_for(self, kind: str, n_ratings: int = 0) -> FitOptions:
        """The loop options for a rating model kind: the configured ones for rating_model, else its tuned default,
        with large_rating_fit's batch size when ``n_ratings`` puts dot_bias / the entity net on the row-wise path
        (a batch's fixed costs, the dense layers' passes and the table gathers, spread over twice the ratings)."""
        if kind == self.rating_model and self.rating_fit is not None:
            return self.rating_fit
        base = _DEFAULT_FITS[kind]
        if kind in ("dot_bias", "entity_net") and n_ratings > self.sparse_above:
            return replace(base, batch_size=max(base.batch_size, self.large_rating_fit.batch_size))
        return base

    def validate(self) -> None:
        """Raise ConfigError for settings that are unknown, out of range or absurdly large."""
        if self.space not in COLLAB_SPACES:
            raise ConfigError(f"Unknown collaborative space {self.space!r}; choose one of {', '.join(COLLAB_SPACES)}.")
        if self.rating_model not in RATING_MODELS:
            raise ConfigError(
                f"Unknown rating model {self.rating_model!r}; choose one of {', '.join(RATING_MODELS)}."
            )
        for name, val, hi in (("dim", self.dim, 4096), ("rating_dim", self.rating_dim, 1024),
                              ("bayes_dim", self.bayes_dim, 128)):
            if not isinstance(val, numbers.Integral) or isinstance(val, bool) or not 1 <= val <= hi:
                raise ConfigError(f"{name} must be a whole number between 1 and {hi}, got {val!r}.")
        if not (0.0 <= self.pop_beta <= 2.0):
            raise ConfigError(f"pop_beta must be between 0 and 2 (0.3 works well), got {self.pop_beta}.")
        if not (0.0 <= self.ridge <= 100.0) or not math.isfinite(self.ridge):
            raise ConfigError(f"ridge must be between 0 and 100 (0.4 works well), got {self.ridge}.")
        if not 1 <= self.exact_max <= 50_000:
            raise ConfigError(f"exact_max must be between 1 and 50000, got {self.exact_max}.")
        if not (0.0 < self.val_fraction < 0.5):
            raise ConfigError(f"val_fraction must be between 0 and 0.5 (e.g. 0.05), got {self.val_fraction}.")
        if self.rating_reg < 0 or self.bias_reg < 0:
            raise ConfigError("rating_reg and bias_reg must be >= 0.")
        if self.low_confidence_below < 0:
            raise ConfigError(f"low_confidence_below must be >= 0, got {self.low_confidence_below}.")
        if self.rating_fit is not None:
            self.rating_fit.validate()
        if not isinstance(self.bayes_max_ratings, numbers.Integral) or self.bayes_max_ratings < 0:
            raise ConfigError(f"bayes_max_ratings must be a whole number >= 0, got {self.bayes_max_ratings!r}.")
        self.large_rating_fit.validate()
        if not isinstance(self.cold_start, ColdStartConfig):
            raise ConfigError("cold_start must be a ColdStartConfig (from recsys_core.config).")
        self.cold_start.validate()
        if not (isinstance(self.sparse_lr, numbers.Real) and 0 < self.sparse_lr <= 10):
            raise ConfigError(f"sparse_lr must be a number in (0, 10], got {self.sparse_lr!r}.")
