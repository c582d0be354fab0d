"""Training under torch.distributed (DistributedDataParallel), launched with torchrun.

One node, N processes (N GPUs, or N CPU processes with gloo)::

    torchrun --nproc-per-node N -m recsys_core train --data ml-latest-small --distributed

Several nodes (run the same command on every node; HOST is any one of them)::

    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \\
        -m recsys_core train --data X --distributed

What runs where (see docs/SCALING_OUT.md):

* every rank reads ITS shard of the ratings (a contiguous slice of rows) from the parsed Parquet cache,
  by row groups, never the whole file; rank 0 parses the source once and writes that cache first;
* the gradient loops -- the content autoencoder (each rank a share of the movies) and the rating model
  (each rank its rating shard) -- run in the one shared loop (``models.fit.fit``) on a DDP-wrapped model:
  DDP all-reduces gradients, ``fit`` keeps the global batch, pads shards to the same number of steps and
  all-reduces the epoch loss and validation metric so every rank stops at the same epoch;
* the rating model under DDP is ``dot_bias`` (``bayes_mf`` is a Gibbs sampler, not a gradient loop: it
  falls back to ``dot_bias`` with a notice); its bias baseline is fitted from all-reduced bincounts;
* rank 0 alone computes the spectral SVD space and the held-out evaluation (both need every rating and
  are not gradient loops), then writes the artifact through the usual store (lock, temp folder, checksums,
  atomic rename) while the other ranks wait at a barrier.

Nothing here changes single-process training: the loop only synchronises inside ``sync()``, which only
``train_distributed`` enters.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
# True only inside a DDP training stage: fit() and content.py look at this, so single-process code (and
# rank 0's single-process evaluation) never issues a collective.
_SYNC: contextvars.ContextVar[bool] = contextvars.ContextVar("recsys_ddp_sync", default=False)


# ---------------------------------------------------------------- process group and helpers

def launched_by_torchrun() -> bool:
    """torchrun (or any launcher of the env:// protocol) set RANK and WORLD_SIZE."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if is_initialized() else int(os.environ.get("RANK", 0))


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if is_initialized() else int(os.environ.get("WORLD_SIZE", 1))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main() -> bool:
    return rank() == 0


def backend_for(device_type: str) -> str:
    """NCCL for CUDA devices, gloo for CPUs."""
    return "nccl" if device_type == "cuda" else "gloo"


def rank_device(requested: str | None = None):
    """This rank's device: what ``resolve_device`` chooses, on cuda:LOCAL_RANK when that is CUDA."""
    import torch

    from .device import resolve_device

    dev = resolve_device(requested).device
    if dev.type == "cuda":
        idx = local_rank() % max(torch.cuda.device_count(), 1)
        torch.cuda.set_device(idx)
        return torch.device("cuda", idx)
    return dev


def init(device=None, timeout_s: float = 1800.0) -> None:
    """Join the process group from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT)."""
    import torch
    import torch.distributed as dist

    from ..errors import ConfigError

    if is_initialized():
        return
    if not launched_by_torchrun():
        raise ConfigError(
            "--distributed needs torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); launch with "
            "`torchrun --nproc-per-node N -m recsys_core train ... --distributed`."
        )
    dev = device if device is not None else rank_device()
    kw: dict[str, Any] = {"backend": backend_for(torch.device(dev).type),
                          "timeout": datetime.timedelta(seconds=timeout_s)}
    if torch.device(dev).type == "cuda":
        kw["device_id"] = torch.device(dev)
    try:
        dist.init_process_group(**kw)
    except TypeError:  # older torch without device_id
        kw.pop("device_id", None)
        dist.init_process_group(**kw)


def shutdown() -> None:
    import torch.distributed as dist

    if is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    import torch.distributed as dist

    if is_initialized() and world_size() > 1:
        dist.barrier()


def _comm_device():
    import torch
    import torch.distributed as dist

    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce_np(arr: np.ndarray | float, op: str = "sum") -> np.ndarray:
    """Sum / max / min of a numpy array (or number) over every rank, as float64; itself when not distributed."""
    import torch
    import torch.distributed as dist

    a = np.asarray(arr, dtype=np.float64)
    if not is_initialized() or world_size() == 1:
        return a.copy()
    t = torch.from_numpy(np.ascontiguousarray(a)).to(_comm_device())
    dist.all_reduce(t, op={"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}[op])
    return t.cpu().numpy().reshape(a.shape)


def mean_float(x: float) -> float:
    """The mean of a number over every rank."""
    return float(all_reduce_np(float(x))) / max(world_size(), 1) if is_initialized() else float(x)


def max_int(x: int) -> int:
    return int(all_reduce_np(float(x), "max")) if is_initialized() else int(x)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    import torch.distributed as dist

    if not is_initialized() or world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=_comm_device())
    return box[0]


@contextlib.contextmanager
def sync() -> Iterator[None]:
    """Inside: the training loop synchronises with the other ranks (DDP stage)."""
    tok = _SYNC.set(True)
    try:
        yield
    finally:
        _SYNC.reset(tok)


def sync_world() -> int:
    """World size while a DDP stage runs, else 1 (the loop then behaves exactly as single-process)."""
    return world_size() if _SYNC.get() and is_initialized() else 1


def shard_bounds(n: int, r: int | None = None, w: int | None = None) -> tuple[int, int]:
    """Contiguous [lo, hi) of n items for rank r of w (sizes differ by at most one)."""
    r = rank() if r is None else r
    w = world_size() if w is None else w
    return n * r // w, n * (r + 1) // w


def local_positions(pos: np.ndarray) -> np.ndarray:
    """This rank's share (every w-th) of training positions during a DDP stage; all of them otherwise."""
    w = sync_world()
    return pos if w == 1 else pos[rank()::w]


def ddp_wrap(model, device=None):
    """DDP around ``model`` during a DDP stage (gradients all-reduced in backward); the model itself otherwise.

    ``broadcast_buffers=False``: forward passes issue no collective (BatchNorm running statistics stay per
    rank; rank 0's are the ones saved), so ranks may run different numbers of evaluation passes.
    """
    if sync_world() == 1:
        return model
    import torch
    from torch.nn.parallel import DistributedDataParallel as DDP

    dev = torch.device(device) if device is not None else next(model.parameters()).device
    ids = [dev.index] if dev.type == "cuda" else None
    import warnings

    with warnings.catch_warnings():  # newer torch renames it; the behaviour (no buffer sync in forward) is the same
        warnings.simplefilter("ignore", FutureWarning)
        return DDP(model, device_ids=ids, broadcast_buffers=False)


# ---------------------------------------------------------------- reading a shard of the ratings

def parsed_folder(ds) -> Path | None:
    """The parsed-cache folder holding ``ds`` (matched by fingerprint), or None when it was not cached."""
    from ..data import cache

    root = cache.parsed_dir()
    if not root.is_dir():
        return None
    for meta in root.glob("*/meta.json"):
        if meta.parent.name.startswith("."):
            continue
        try:
            m = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if m.get("fingerprint") == ds.fingerprint and m.get("n_ratings") == ds.n_ratings:
            return meta.parent
    return None


@dataclass(frozen=True)
class RatingShard:
    """Rows [lo, hi) of the ratings table: user/movie rows, ratings, and their global positions."""

    user: np.ndarray
    movie: np.ndarray
    rating: np.ndarray
    lo: int
    hi: int
    n_total: int
    row_groups_read: int
    row_groups_total: int

    @property
    def positions(self) -> np.ndarray:
        return np.arange(self.lo, self.hi, dtype=np.int64)


def read_ratings_shard(path: Path | str, r: int | None = None, w: int | None = None) -> RatingShard:
    """This rank's rows of ``ratings.parquet``, reading only the row groups that overlap them."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    n = pf.metadata.num_rows
    lo, hi = shard_bounds(n, r, w)
    groups: list[int] = []
    first_start, start = 0, 0
    for g in range(pf.num_row_groups):
        m = pf.metadata.row_group(g).num_rows
        if start < hi and start + m > lo:
            if not groups:
                first_start = start
            groups.append(g)
        start += m
    cols = ("user", "movie", "rating")
    if groups:
        t = pf.read_row_groups(groups, columns=list(cols)).slice(lo - first_start, hi - lo)
        arrs = [t.column(c).to_numpy() for c in cols]
    else:
        arrs = [np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32)]
    return RatingShard(arrs[0].astype(np.int32, copy=False), arrs[1].astype(np.int32, copy=False),
                       arrs[2].astype(np.float32, copy=False), lo, hi, n, len(groups), pf.num_row_groups)


def open_catalogue(folder: Path):
    """The dataset from a parsed-cache folder WITHOUT its ratings (movies, users, tags, genome, scale)."""
    import pandas as pd

    from ..data.cache import read_tables
    from ..data.dataset import Dataset, Genome, Ratings

    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    movies, users, tags = read_tables(folder)
    genome = None
    if meta.get("genome_tags") is not None:
        genome = Genome(np.load(folder / "genome_movie.npy", allow_pickle=False),
                        np.load(folder / "genome_scores.npy", allow_pickle=False), tuple(meta["genome_tags"]))
    empty = Ratings(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.int64))
    _ = pd  # pandas is what to_pandas returns
    return Dataset(meta["name"], empty, movies, users, tags, genome, tuple(meta["rating_scale"]), meta["fingerprint"],
                   meta["source"], tuple(meta["notes"]), from_cache=True)


def backend_name() -> str:
    """The process group's backend ("nccl", "gloo"), or "none" outside one."""
    import torch.distributed as dist

    return dist.get_backend() if is_initialized() else "none"
