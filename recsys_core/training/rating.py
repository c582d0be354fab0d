"""The one trainer of the gradient rating models (dot_bias, entity_net): one process, or DDP ranks in step.

Under DDP (called inside ``runtime.ddp.sync()`` with this rank's shard) the bias baseline comes from
all-reduced bincounts and the validation RMSE is all-reduced; in one process those reductions are the
identity. Either way the validation split hashes each rating's global row (``splits.validation_mask``),
so a DDP run and a one-process run validate on the same ratings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..config import CollabConfig, FitOptions
from ..events import Progress, ProgressFn
from ..models.rating_nets import build_rating_model
from ..runtime import ddp
from ..runtime.device import seed_everything
from .loop import fit, make_optimizer
from .splits import validation_mask


@dataclass(frozen=True)
class RatingRows:
    """The ratings this process trains on (all of them, or a DDP rank's shard) and their global rows."""

    user: np.ndarray
    movie: np.ndarray
    rating: np.ndarray
    positions: np.ndarray  # int64 global row of each rating: what the validation split hashes

    @classmethod
    def every(cls, user: np.ndarray, movie: np.ndarray, rating: np.ndarray) -> "RatingRows":
        """All ratings of a dataset, in one process."""
        return cls(user, movie, rating, np.arange(len(rating), dtype=np.int64))


@dataclass(frozen=True)
class RatingFit:
    """A trained rating model as arrays, how it was trained, and its validation figures."""

    state: dict[str, np.ndarray]
    meta: dict
    history: dict
    metrics: dict


@dataclass(frozen=True)
class Baselines:
    """The validation split with the closed-form biases and both baseline RMSEs every rating model reports."""

    train: np.ndarray  # local indices of training ratings
    val: np.ndarray  # local indices of validation ratings
    mu: float
    user_bias: np.ndarray
    movie_bias: np.ndarray
    bias_rmse: float
    mean_rmse: float


def _reduce(x: Any) -> np.ndarray:
    """Sum over the ranks inside a DDP stage (``ddp.sync()``); the value itself otherwise, so rank 0's
    single-process work (the evaluation) never issues a collective the other ranks are not in."""
    if ddp.sync_world() > 1:
        return ddp.all_reduce_np(x)
    return np.array(x, dtype=np.float64)


def fit_biases(users: np.ndarray, movies: np.ndarray, y: np.ndarray, n_users: int, n_movies: int,
               reg: float, iters: int = 8) -> tuple[float, np.ndarray, np.ndarray]:
    """Regularised global mean + user + movie biases by alternating closed-form updates, over every rank's ratings."""
    tot = _reduce([float(y.astype(np.float64).sum()), float(len(y))])
    mu = float(tot[0] / tot[1]) if tot[1] else 0.0
    cu = _reduce(np.bincount(users, minlength=n_users))
    cm = _reduce(np.bincount(movies, minlength=n_movies))
    bu = np.zeros(n_users, np.float64)
    bm = np.zeros(n_movies, np.float64)
    yd = y.astype(np.float64) - mu
    for _ in range(iters):
        bm = _reduce(np.bincount(movies, yd - bu[users], n_movies)) / (cm + reg)
        bu = _reduce(np.bincount(users, yd - bm[movies], n_users)) / (cu + reg)
    return mu, bu.astype(np.float32), bm.astype(np.float32)


def rmse(pred: np.ndarray, y: np.ndarray) -> float:
    """Root mean squared error over every rank's pairs (NaN when there are none)."""
    s = _reduce([float(((pred.astype(np.float64) - y) ** 2).sum()), float(len(y))])
    return float(math.sqrt(s[0] / s[1])) if s[1] else float("nan")


def baselines(rows: RatingRows, n_users: int, n_movies: int, scale: tuple[float, float], cfg: CollabConfig) -> Baselines:
    """Split off the validation ratings, fit the biases on the rest and measure the two baselines on them."""
    lo, hi = (float(x) for x in scale)
    is_val = validation_mask(rows.positions, cfg.val_fraction, cfg.seed)
    tr, va = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    u, m, y = rows.user, rows.movie, rows.rating
    mu, bu, bm = fit_biases(u[tr], m[tr], y[tr], n_users, n_movies, cfg.bias_reg)
    y_va = y[va].astype(np.float64)
    return Baselines(tr, va, mu, bu, bm, rmse(np.clip(mu + bu[u[va]] + bm[m[va]], lo, hi), y_va),
                     rmse(np.full(len(va), mu), y_va))


def epoch_reporter(progress: ProgressFn | None, stage: str) -> Callable[[int, int, float, float, float], None]:
    """The training loop's per-epoch callback, as Progress events of ``stage``."""

    def on_epoch(epoch: int, epochs: int, train_loss: float, val: float, eta: float) -> None:
        if progress is not None:
            progress(Progress(stage, epoch, epochs, {"train_mse": train_loss, "val_rmse": val}, eta))

    return on_epoch


def _row_step(model: Any, kind: str, ut: torch.Tensor, mt: torch.Tensor, yt: torch.Tensor,
              cfg: CollabConfig, opts: FitOptions, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """Large data: a step that updates only the embedding rows a batch touches (row-wise Adagrad, no autograd on
    the tables), so an epoch costs O(ratings x dim) whatever the number of users and movies."""
    from ..models.row_updates import dot_bias_step, entity_net_step

    if kind == "dot_bias":
        return dot_bias_step(model, ut, mt, yt, cfg.sparse_lr, cfg.rating_reg)
    emb = {id(model.user.weight), id(model.movie.weight)}
    dense = [p for p in model.parameters() if id(p) not in emb]
    return entity_net_step(model, ut, mt, yt, cfg.sparse_lr, make_optimizer(dense, opts, device))


def train_rating(rows: RatingRows, n_users: int, n_movies: int, scale: tuple[float, float], kind: str,
                 cfg: CollabConfig, device: torch.device, progress: ProgressFn | None = None,
                 stage: str = "rating") -> RatingFit:
    """Train one gradient rating model with the shared loop (DDP-wrapped inside a ``ddp.sync()`` stage)."""
    lo, hi = (float(x) for x in scale)
    b = baselines(rows, n_users, n_movies, scale, cfg)
    tr, va = b.train, b.val
    world = ddp.sync_world()
    n_train = int(_reduce(float(len(tr)))) if world > 1 else len(tr)
    gen = seed_everything(cfg.seed)
    opts = cfg.fit_for(kind, n_train)
    model: Any = build_rating_model(kind, n_users, n_movies, cfg.rating_dim, lo, hi).to(device)
    if kind == "dot_bias":
        model.init_biases(b.mu, torch.from_numpy(b.user_bias), torch.from_numpy(b.movie_bias))
    net: Any = ddp.ddp_wrap(model, device)

    def dev(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    u_all, m_all = dev(rows.user.astype(np.int64)), dev(rows.movie.astype(np.int64))
    y_all = dev(rows.rating.astype(np.float32))
    tr_t, va_t = dev(tr.astype(np.int64)), dev(va.astype(np.int64))
    ut, mt, yt = u_all[tr_t], m_all[tr_t], y_all[tr_t]
    uv, mv, yv = u_all[va_t], m_all[va_t], y_all[va_t]
    reg = cfg.rating_reg if kind == "dot_bias" else 0.0

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        u, m = ut[idx], mt[idx]
        loss = (net(u, m) - yt[idx]).pow(2).mean()
        return loss + reg * model.penalty(u, m) if reg > 0 else loss

    def validate() -> float:  # the RMSE over every rank's validation ratings
        sse = sum(float((model(uv[i : i + 65536], mv[i : i + 65536]).clamp(lo, hi) - yv[i : i + 65536]).pow(2).sum())
                  for i in range(0, len(uv), 65536))
        s = _reduce([sse, float(len(uv))])
        return float(math.sqrt(s[0] / s[1])) if s[1] else float("nan")

    sparse = world == 1 and len(tr) > cfg.sparse_above
    step = _row_step(model, kind, ut, mt, yt, cfg, opts, device) if sparse else None
    hist = fit(net, len(tr), batch_loss, validate, opts, device, gen, epoch_reporter(progress, stage),
               None if sparse else make_optimizer(net, opts, device), train_step=step)
    state = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    state["baseline.user_bias"] = b.user_bias
    state["baseline.movie_bias"] = b.movie_bias
    meta = {"kind": kind, "dim": cfg.rating_dim, "rating_low": lo, "rating_high": hi, "global_mean": b.mu,
            "n_users": n_users, "n_movies": n_movies}
    if kind == "entity_net":
        meta["squash_low"], meta["squash_span"] = model.squash.low, model.squash.span
    if sparse:
        meta["sparse_gradients"] = "row_adagrad"
    n_tr, n_va = (int(x) for x in _reduce([len(tr), len(va)]))
    metrics = {"val_rmse": min(hist.val) if hist.val else float("nan"), "baseline_global_mean_rmse": b.mean_rmse,
               "baseline_bias_rmse": b.bias_rmse, "epochs": len(hist.val), "best_epoch": hist.best_epoch + 1,
               "seconds": hist.seconds, "n_train": n_tr, "n_val": n_va}
    if world > 1:
        metrics.update(world_size=world, per_rank_batch=-(-opts.batch_size // world))
    return RatingFit(state, meta, hist.as_dict(), metrics)
