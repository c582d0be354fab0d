"""The one training loop every model shares: shuffled big batches, early stopping, a loss history."""

from __future__ import annotations

import contextvars
import copy
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..config import FitOptions
from ..errors import ConfigError, DeviceError
from ..runtime import ddp as _dist

# How many times a batch that ran out of memory is halved before giving up on the device (the caller
# then retries on the CPU).
MAX_HALVINGS = 3
FAULT_ENV = "RECSYS_FAULT_INJECT"
# Where the loop's notices (smaller-batch retries) also go: the facade sets it around a whole training run.
NOTICE_SINK: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar("recsys_fit_notices",
                                                                                         default=None)


@dataclass
class LossHistory:
    """Per-epoch training and validation loss, plus where the kept weights came from."""

    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)
    batch_size: int = 0  # the batch size the loop ended with (smaller than asked after an out-of-memory)
    notices: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = {
            "train": self.train,
            "val": self.val,
            "best_epoch": self.best_epoch,
            "seconds": self.seconds,
            "epoch_seconds": self.epoch_seconds,
        }
        if self.notices:
            out.update(batch_size=self.batch_size, notices=list(self.notices))
        return out


# ---------------------------------------------------------------- device failures

class _Faults:
    """Failures injected on purpose through $RECSYS_FAULT_INJECT, to exercise the recovery path for real.

    ``oom:N`` makes the next N training batches of this process raise ``torch.OutOfMemoryError`` (what
    CUDA raises when memory runs out); ``cuda:N`` raises a CUDA ``AcceleratorError``-style RuntimeError.
    Read once per process; unset (the normal case) costs one dict lookup per batch.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kind = ""
        self.left = 0
        self.loaded = False

    def _load(self) -> None:
        spec = os.environ.get(FAULT_ENV, "").strip().lower()
        self.loaded = True
        if not spec:
            return
        kind, _, n = spec.partition(":")
        if kind not in ("oom", "cuda") or not n.isdigit():
            raise ConfigError(f"{FAULT_ENV} must look like oom:N or cuda:N, got {spec!r}.")
        self.kind, self.left = kind, int(n)

    def reset(self) -> None:
        """Read the environment again (tests set it per test)."""
        with self.lock:
            self.loaded, self.kind, self.left = False, "", 0

    def maybe_fail(self) -> None:
        with self.lock:
            if not self.loaded:
                self._load()
            if self.left <= 0:
                return
            self.left -= 1
            kind = self.kind
        if kind == "oom":
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate 2.00 GiB ({FAULT_ENV})")
        raise _accelerator_error(f"CUDA error: an illegal memory access was encountered ({FAULT_ENV})")


FAULTS = _Faults()


def _accelerator_error(msg: str) -> RuntimeError:
    cls = getattr(torch, "AcceleratorError", None)
    try:
        return cls(msg) if cls is not None else RuntimeError(msg)
    except TypeError:
        return RuntimeError(msg)


def is_oom(exc: BaseException) -> bool:
    """torch's out-of-memory error (CUDA or MPS)."""
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower() and not isinstance(exc, DeviceError)
    )


def is_device_error(exc: BaseException) -> bool:
    """A CUDA/accelerator failure (not a bug in our code): worth retrying the work on the CPU."""
    acc = getattr(torch, "AcceleratorError", None)
    if acc is not None and isinstance(exc, acc):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("CUDA error", "CUBLAS_STATUS", "cuDNN error", "CUDNN_STATUS", "MPS backend", "HIP error")
    )


def free_device_memory(device: torch.device) -> None:
    """Give cached blocks back after an out-of-memory, so a retry starts clean."""
    import gc

    gc.collect()
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


# on_epoch(epoch, epochs, train_loss, val_loss, eta_seconds): the loop's hook; stages turn it into Progress events
EpochFn = Callable[[int, int, float, float, float], None]


def make_optimizer(model: torch.nn.Module | list[torch.nn.Parameter], opts: FitOptions,
                   device: torch.device) -> torch.optim.Optimizer:
    """Adam, fused where the device supports it (1.3-2x faster on CPU here); a model or a list of its parameters."""
    source = model.parameters() if isinstance(model, torch.nn.Module) else model
    params = [p for p in source if p.requires_grad]
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
    on_epoch: EpochFn | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    on_notice: Callable[[str], None] | None = None,
    train_step: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> LossHistory:
    """Train ``model`` by minimising ``batch_loss(idx)`` over shuffled index batches of 0..n_train-1.

    ``train_step(idx)``, when given, replaces ``batch_loss`` + backward + optimizer step: it updates the
    weights itself (the sparse row loop of large data) and returns the batch's loss, detached.

    ``validate()`` is called after each epoch in eval mode under ``torch.no_grad()`` and returns the
    number to minimise (validation loss or RMSE). The weights of the best epoch are restored.

    Under DDP (inside ``distributed.sync()``, ``model`` DDP-wrapped, ``n_train`` this rank's shard): each
    rank takes batches of ``ceil(batch_size / world)`` so the global batch is unchanged, shards are padded
    (repeating own items) to the same number of steps, and the epoch loss and ``validate()`` are averaged
    over ranks so every rank keeps the same epoch and stops together. Outside it nothing changes.

    Out of memory during an epoch: the cached memory is freed and the epoch is run again with half the
    batch size (up to ``MAX_HALVINGS`` times, each with a notice in ``LossHistory.notices`` and to
    ``on_notice``); after that, or on a CUDA/accelerator error, a ``DeviceError`` tells the caller to
    retry on the CPU.
    """
    opts.validate()
    opt = None if train_step is not None else optimizer or make_optimizer(model, opts, device)
    hist = LossHistory(batch_size=opts.batch_size)
    best = math.inf
    best_state = None
    bad = 0
    batch = opts.batch_size
    halvings = 0
    world = _dist.sync_world()  # 1 unless a DDP stage is running
    n_span = n_train
    if world > 1:
        batch = max(1, -(-opts.batch_size // world))
        n_span = _dist.max_int(n_train)
        if n_span % batch == 1:  # never a final batch of one (BatchNorm)
            n_span += 1
        if n_train == 0:
            raise ConfigError("A rank has no training rows; use fewer processes for this dataset.")
    start = time.perf_counter()
    epoch = 0
    while epoch < opts.epochs:
        t0 = time.perf_counter()
        try:
            model.train()
            perm = torch.randperm(n_train, generator=generator)
            if n_span > n_train:  # DDP: pad this shard to the common number of steps
                perm = torch.cat([perm, perm[torch.arange(n_span - n_train) % n_train]])
            perm = perm.to(device)
            total = torch.zeros((), device=device)
            for lo in range(0, n_span, batch):
                idx = perm[lo : lo + batch]
                FAULTS.maybe_fail()
                if train_step is not None:
                    loss = train_step(idx)
                else:
                    loss = batch_loss(idx)
                    assert opt is not None  # made above whenever there is no train_step
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                total += loss.detach() * idx.numel()
            train_loss = float(total) / max(n_span, 1)
            model.eval()
            with torch.no_grad():
                val = float(validate())
            if world > 1:
                train_loss, val = _dist.mean_float(train_loss), _dist.mean_float(val)
        except RuntimeError as exc:  # torch.OutOfMemoryError and CUDA errors are RuntimeErrors
            if isinstance(exc, DeviceError):
                raise
            if opt is not None:
                opt.zero_grad(set_to_none=True)
            loss = total = None  # type: ignore[assignment]  # drop the failed batch's graph before retrying
            if is_oom(exc):
                free_device_memory(device)
                if halvings < MAX_HALVINGS and batch > 1 and world == 1:  # ranks cannot halve in step
                    old, batch = batch, max(1, batch // 2)
                    halvings += 1
                    msg = (f"Out of memory on {device.type} with batches of {old}; "
                           f"retrying epoch {epoch + 1} with batches of {batch}.")
                    hist.notices.append(msg)
                    hist.batch_size = batch
                    for sink in (on_notice, NOTICE_SINK.get()):
                        if sink is not None:
                            sink(msg)
                    continue  # the same epoch again, smaller
                raise DeviceError(
                    f"Out of memory on {device.type} even with batches of {batch}", "out of memory", batch
                ) from exc
            if is_device_error(exc):
                raise DeviceError(f"{device.type} failed during training ({str(exc)[:160]})",
                                  "device error", batch) from exc
            raise
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
        if on_epoch is not None:
            mean_epoch = sum(hist.epoch_seconds) / len(hist.epoch_seconds)
            on_epoch(epoch + 1, opts.epochs, train_loss, val, mean_epoch * (opts.epochs - epoch - 1))
        epoch += 1
        if opts.patience and bad >= opts.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    hist.seconds = time.perf_counter() - start
    return hist
