"""The one training loop every model shares: shuffled big batches, early stopping, a loss history."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

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
        if self.epochs < 1 or self.epochs > 10_000:
            raise ConfigError(f"epochs must be between 1 and 10000, got {self.epochs}.")
        if self.batch_size < 1 or self.batch_size > 10_000_000:
            raise ConfigError(f"batch_size must be between 1 and 10,000,000, got {self.batch_size}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"learning rate must be a positive number, got {self.lr}.")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}.")


@dataclass
class LossHistory:
    """Per-epoch training and validation loss, plus where the kept weights came from."""

    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "train": self.train,
            "val": self.val,
            "best_epoch": self.best_epoch,
            "seconds": self.seconds,
            "epoch_seconds": self.epoch_seconds,
        }


# progress(epoch, epochs, train_loss, val_loss, eta_seconds)
ProgressFn = Callable[[int, int, float, float, float], None]


def make_optimizer(model: torch.nn.Module, opts: FitOptions, device: torch.device) -> torch.optim.Optimizer:
    """Adam, fused where the device supports it (1.3-2x faster on CPU here)."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.Adam(params, lr=opts.lr, weight_decay=opts.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=opts.lr, weight_decay=opts.weight_decay)


def fit(
    model: torch.nn.Module,
    n_train: int,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    validate: Callable[[], float],
    opts: FitOptions,
    device: torch.device,
    generator: torch.Generator,
    progress: ProgressFn | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> LossHistory:
    """Train ``model`` by minimising ``batch_loss(idx)`` over shuffled index batches of 0..n_train-1.

    ``validate()`` is called after each epoch in eval mode under ``torch.no_grad()`` and returns the
    number to minimise (validation loss or RMSE). The weights of the best epoch are restored.
    """
    opts.validate()
    opt = optimizer or make_optimizer(model, opts, device)
    hist = LossHistory()
    best = math.inf
    best_state = None
    bad = 0
    start = time.perf_counter()
    for epoch in range(opts.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n_train, generator=generator).to(device)
        total = torch.zeros((), device=device)
        for lo in range(0, n_train, opts.batch_size):
            idx = perm[lo : lo + opts.batch_size]
            loss = batch_loss(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * idx.numel()
        train_loss = float(total) / max(n_train, 1)
        model.eval()
        with torch.no_grad():
            val = float(validate())
        hist.train.append(train_loss)
        hist.val.append(val)
        hist.epoch_seconds.append(time.perf_counter() - t0)
        if not math.isfinite(train_loss):
            raise ConfigError(
                "Training diverged (the loss became NaN or infinite); lower the learning rate."
            )
        if val < best * (1 - opts.min_delta) or best_state is None:
            best, bad = val, 0
            hist.best_epoch = epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        if progress is not None:
            mean_epoch = sum(hist.epoch_seconds) / len(hist.epoch_seconds)
            progress(epoch + 1, opts.epochs, train_loss, val, mean_epoch * (opts.epochs - epoch - 1))
        if opts.patience and bad >= opts.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    hist.seconds = time.perf_counter() - start
    return hist
