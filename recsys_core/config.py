"""EngineConfig: every setting that shapes an artifact, validated up front and hashed into its cache key."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import asdict, dataclass, field, replace
from typing import ClassVar

from .ann import AnnConfig
from .content import ContentConfig
from .errors import ConfigError
from .models.options import FitOptions
from .store import FORMAT_VERSION

SPACES = ("spectral", "rating_net", "dot_bias")
RATING_MODELS = ("bayes_mf", "dot_bias", "entity_net")


_DEFAULT_FITS = {
    # measured on ml-latest-small / ml-100k per-user 80/20 splits (benchmarks/collab_research.py)
    # bayes_mf: epochs = Gibbs sweeps on the training part (then 3/4 as many on every rating); no lr/batches
    "bayes_mf": FitOptions(epochs=40, batch_size=8192, lr=1e-3, weight_decay=0.0, patience=0),
    "dot_bias": FitOptions(epochs=40, batch_size=8192, lr=3e-3, weight_decay=0.0, patience=3),
    "entity_net": FitOptions(epochs=20, batch_size=8192, lr=3e-3, weight_decay=1e-5, patience=2),
}


@dataclass(frozen=True)
class CollabConfig:
    """Settings of the collaborative space and the rating model; hashed into the artifact key."""

    space: str = "spectral"  # "spectral" | "rating_net" | "dot_bias"
    dim: int = 256  # size of the similarity space
    pop_beta: float = 0.3  # spectral: column weight = n_ratings ** -pop_beta
    ridge: float = 0.4  # spectral: filter s / sqrt(s^2 + (ridge * s_max)^2), EASE-like shrinkage of the head
    exact_max: int = 6000  # spectral: exact eigh of the smaller Gram side up to this size, randomized SVD above
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

    RATING_MODELS: ClassVar[tuple[str, ...]] = RATING_MODELS  # the settings form lists these
    SPACES: ClassVar[tuple[str, ...]] = SPACES

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
        if self.space not in SPACES:
            raise ConfigError(f"Unknown collaborative space {self.space!r}; choose one of {', '.join(SPACES)}.")
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
        if not (isinstance(self.sparse_lr, numbers.Real) and 0 < self.sparse_lr <= 10):
            raise ConfigError(f"sparse_lr must be a number in (0, 10], got {self.sparse_lr!r}.")


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
    coherence_sample: int = 3000  # movies whose top-k neighbour lists are checked for genre coherence
    baselines: tuple[str, ...] = ("popularity", "itemknn", "ease", "rating_vectors")
    ease_lambda: float = 300.0
    ease_max_items: int = 20_000  # EASE inverts a dense items x items matrix; skipped above this

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
        if not 1 <= self.batch_users <= 100_000:
            raise ConfigError(f"batch_users must be between 1 and 100000, got {self.batch_users}.")
        if self.cold_max_train < 0 or self.coherence_sample < 0:
            raise ConfigError("cold_max_train and coherence_sample must be >= 0.")
        if self.ease_lambda <= 0:
            raise ConfigError(f"ease_lambda must be positive (100-500 works), got {self.ease_lambda}.")
        unknown = set(self.baselines) - {"popularity", "itemknn", "ease", "rating_vectors"}
        if unknown:
            raise ConfigError(
                f"Unknown baselines {sorted(unknown)}; choose from popularity, itemknn, ease, rating_vectors."
            )

_DEVICES = ("auto", "cpu", "cuda", "mps")


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
        if dev not in _DEVICES:
            raise ConfigError(f"Unknown device {self.device!r}. Choose one of: {', '.join(_DEVICES)} (or cuda:N).")
        self.content.validate()
        self.collab.validate()
        dim = getattr(self.collab, "dim", 0)
        if isinstance(dim, int) and not 1 <= dim <= 4096:
            raise ConfigError(f"collab dim must be between 1 and 4096, got {dim}.")
        self.eval.validate()
        self.projection.validate()
        if not isinstance(self.ann, AnnConfig):
            raise ConfigError(f"ann must be an AnnConfig (from recsys_core.ann), got {type(self.ann).__name__}.")
        self.ann.validate()

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
