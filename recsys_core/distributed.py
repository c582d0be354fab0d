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
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

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
    """This rank's device: cuda:LOCAL_RANK when CUDA is there (and not refused), else the CPU."""
    import torch

    req = (requested or os.environ.get("RECSYS_DEVICE") or "auto").lower()
    if req in ("auto", "cuda") or req.startswith("cuda"):
        if torch.cuda.is_available():
            idx = local_rank() % max(torch.cuda.device_count(), 1)
            torch.cuda.set_device(idx)
            return torch.device("cuda", idx)
    return torch.device("cpu")


def init(device=None, timeout_s: float = 1800.0) -> None:
    """Join the process group from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT)."""
    import torch
    import torch.distributed as dist

    from .errors import ConfigError

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
    from .data import cache

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
    groups, first_start, start = [], 0, 0
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

    from .data.cache import read_tables
    from .data.dataset import Dataset, Genome, Ratings

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


# ---------------------------------------------------------------- the rating model under DDP

def _val_mask(pos: np.ndarray, frac: float, seed: int) -> np.ndarray:
    """Held-out ratings chosen by a hash of each rating's global row: the same split for any world size."""
    with np.errstate(over="ignore"):
        x = pos.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15) * np.uint64(seed + 1)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53) < frac


def fit_biases_allreduce(users: np.ndarray, movies: np.ndarray, y: np.ndarray, n_users: int, n_movies: int,
                         reg: float, iters: int = 8) -> tuple[float, np.ndarray, np.ndarray]:
    """collab.fit_biases over the union of every rank's ratings, from all-reduced bincounts."""
    tot = all_reduce_np([float(y.astype(np.float64).sum()), float(len(y))])
    mu = float(tot[0] / tot[1]) if tot[1] else 0.0
    cu = all_reduce_np(np.bincount(users, minlength=n_users))
    cm = all_reduce_np(np.bincount(movies, minlength=n_movies))
    bu = np.zeros(n_users, np.float64)
    bm = np.zeros(n_movies, np.float64)
    yd = y.astype(np.float64) - mu
    for _ in range(iters):
        bm = all_reduce_np(np.bincount(movies, yd - bu[users], n_movies)) / (cm + reg)
        bu = all_reduce_np(np.bincount(users, yd - bm[movies], n_users)) / (cu + reg)
    return mu, bu.astype(np.float32), bm.astype(np.float32)


def _global_rmse(pred: np.ndarray, y: np.ndarray) -> float:
    s = all_reduce_np([float(((pred.astype(np.float64) - y) ** 2).sum()), float(len(y))])
    return float(math.sqrt(s[0] / s[1])) if s[1] else float("nan")


def train_rating_ddp(shard: RatingShard, n_users: int, n_movies: int, scale: tuple[float, float], kind: str, cfg,
                     device, progress: Callable | None = None, stage: str = "rating") -> tuple[dict, dict, dict, dict]:
    """A gradient-trained rating model (dot_bias / entity_net) on this rank's shard under DDP.

    Same return shape as ``collab._train_rating``: (state arrays, meta, history, metrics).
    """
    import torch

    from .device import seed_everything
    from .models.fit import fit, make_optimizer
    from .models.rating_nets import build_rating_model

    lo, hi = (float(x) for x in scale)
    is_val = _val_mask(shard.positions, cfg.val_fraction, cfg.seed)
    tr, va = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    users, movies, y = shard.user.astype(np.int64), shard.movie.astype(np.int64), shard.rating
    mu, bu, bm = fit_biases_allreduce(users[tr], movies[tr], y[tr], n_users, n_movies, cfg.bias_reg)
    y_va = y[va].astype(np.float64)
    base_bias = _global_rmse(np.clip(mu + bu[users[va]] + bm[movies[va]], lo, hi), y_va)
    base_mean = _global_rmse(np.full(len(va), mu), y_va)

    gen = seed_everything(cfg.seed)
    opts = cfg.fit_for(kind)
    model = build_rating_model(kind, n_users, n_movies, cfg.rating_dim, lo, hi).to(device)
    if kind == "dot_bias":
        model.init_biases(mu, torch.from_numpy(bu), torch.from_numpy(bm))
    with sync():
        net = ddp_wrap(model, device)
    dev = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    ut, mt, yt = dev(users[tr]), dev(movies[tr]), dev(y[tr].astype(np.float32))
    uv, mv, yv = dev(users[va]), dev(movies[va]), dev(y[va].astype(np.float32))
    reg = cfg.rating_reg if kind == "dot_bias" else 0.0

    def batch_loss(idx):
        u, m = ut[idx], mt[idx]
        loss = (net(u, m) - yt[idx]).pow(2).mean()
        return loss + reg * model.penalty(u, m) if reg > 0 else loss

    def validate() -> float:  # the global RMSE: every rank gets the same number
        sse = sum(float((model(uv[i : i + 65536], mv[i : i + 65536]).clamp(lo, hi) - yv[i : i + 65536]).pow(2).sum())
                  for i in range(0, len(uv), 65536))
        s = all_reduce_np([sse, float(len(uv))])
        return float(math.sqrt(s[0] / s[1])) if s[1] else float("nan")

    def on_epoch(epoch: int, epochs: int, train_loss: float, val: float, eta: float) -> None:
        if progress is not None:
            progress(stage, epoch, epochs, {"train_mse": train_loss, "val_rmse": val}, eta)

    with sync():
        hist = fit(net, len(tr), batch_loss, validate, opts, device, gen, on_epoch, make_optimizer(net, opts, device))
    state = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    state["baseline.user_bias"] = bu
    state["baseline.movie_bias"] = bm
    meta = {"kind": kind, "dim": cfg.rating_dim, "rating_low": lo, "rating_high": hi, "global_mean": mu,
            "n_users": n_users, "n_movies": n_movies}
    if kind == "entity_net":
        meta["squash_low"], meta["squash_span"] = model.squash.low, model.squash.span
    n_tr, n_va = (int(x) for x in all_reduce_np([len(tr), len(va)]))
    metrics = {"val_rmse": min(hist.val) if hist.val else float("nan"), "baseline_global_mean_rmse": base_mean,
               "baseline_bias_rmse": base_bias, "epochs": len(hist.val), "best_epoch": hist.best_epoch + 1,
               "seconds": hist.seconds, "n_train": n_tr, "n_val": n_va, "world_size": world_size(),
               "per_rank_batch": -(-opts.batch_size // world_size())}
    return state, meta, hist.as_dict(), metrics


# ---------------------------------------------------------------- the whole run

def effective_config(config):
    """The config actually trained under DDP: bayes_mf (Gibbs sampling, no gradient loop) becomes dot_bias."""
    notices = []
    if config.collab.rating_model == "bayes_mf":
        notices.append("Under --distributed the rating model is dot_bias (trained by the shared gradient loop "
                       "under DDP); bayes_mf is a Gibbs sampler with no gradient loop for DDP to synchronise.")
        config = replace(config, collab=replace(config.collab, rating_model="dot_bias", rating_fit=None))
    return config, notices


@dataclass
class DistributedResult:
    rank: int
    world_size: int
    config: Any
    artifact_path: str | None
    built: bool
    notices: list
    timings: dict


def train_distributed(data, config=None, progress: Callable | None = None, store=None) -> DistributedResult:
    """Train content + collab under DDP on every rank; rank 0 writes the artifact, the others wait.

    ``progress(stage, epoch, epochs, metrics, eta_s)`` is called on rank 0 only. Returns on every rank after
    the artifact is in place (the process group is torn down again).
    """
    from .collab import CollabModel, spectral_space
    from .config import EngineConfig
    from .content import train_content
    from .data import load_dataset
    from .store import ArtifactStore

    config, notices = effective_config(config or EngineConfig())
    config.validate()
    device = rank_device(config.device)
    init(device)
    r, w = rank(), world_size()
    prog = progress if r == 0 else None
    timings: dict[str, float] = {}
    store = store or ArtifactStore()
    key = config.config_hash()
    try:
        t0 = time.perf_counter()
        # rank 0 parses the source once (and writes the parsed cache); the others then read from that cache
        ds_full = load_dataset(data) if r == 0 else None
        head = None
        if r == 0:
            folder = parsed_folder(ds_full)
            cached = store.verify(store.folder(ds_full.fingerprint, key))[0] is not None
            head = {"folder": str(folder) if folder else None, "cached": cached}
        head = broadcast_object(head)
        if head["cached"]:
            path = str(store.folder(ds_full.fingerprint, key)) if r == 0 else None
            return DistributedResult(r, w, config, path, False, notices + ["Loaded from the cache"], timings)
        if head["folder"]:
            folder = Path(head["folder"])
            if r != 0 and not folder.is_dir():  # another node without the shared artifacts folder
                folder = parsed_folder(load_dataset(data)) or folder
            shard = read_ratings_shard(folder / "ratings.parquet", r, w)
            cat = ds_full if r == 0 else open_catalogue(folder)
        else:  # no parsed cache (unwritable): every rank parses and keeps only its slice
            notices.append("No parsed cache to read shards from; every rank parsed the source.")
            ds_any = ds_full if r == 0 else load_dataset(data, use_cache=False)
            lo, hi = shard_bounds(ds_any.n_ratings, r, w)
            rr = ds_any.ratings
            shard = RatingShard(rr.user[lo:hi], rr.movie[lo:hi], rr.rating[lo:hi], lo, hi, ds_any.n_ratings, 0, 0)
            cat = ds_any
        timings["load"] = time.perf_counter() - t0

        def stage_fn(stage, epoch, epochs, metrics, eta):
            if prog is not None:
                prog(stage, epoch, epochs, metrics, eta)

        t1 = time.perf_counter()
        with sync():
            content = train_content(cat, config.content, device, stage_fn)
        timings["content"] = time.perf_counter() - t1

        t2 = time.perf_counter()
        cc = config.collab
        state, meta, rhist, rmetrics = train_rating_ddp(shard, cat.n_users, cat.n_movies, cat.rating_scale,
                                                        cc.rating_model, cc, device, stage_fn, "rating")
        space_state, space_info = state, None
        if cc.space != "spectral":
            kind = "entity_net" if cc.space == "rating_net" else "dot_bias"
            if kind != cc.rating_model:
                space_state, _, sh, sm = train_rating_ddp(shard, cat.n_users, cat.n_movies, cat.rating_scale,
                                                          kind, cc, device, stage_fn, "collab")
                space_info = {"kind": cc.space, "history": sh, "val_rmse": sm["val_rmse"], "seconds": sm["seconds"]}
            else:
                space_info = {"kind": cc.space, "seconds": 0.0}
        timings["rating"] = time.perf_counter() - t2

        path, built = None, False
        if r == 0:
            path, built = _write_on_rank0(ds_full, config, store, key, content, state, meta, rhist, rmetrics,
                                          space_state, space_info, device, notices, timings, prog)
        barrier()  # the others wait until rank 0's artifact is in place
        return DistributedResult(r, w, config, path, built, notices, timings)
    finally:
        shutdown()


def _write_on_rank0(ds, config, store, key, content, state, meta, rhist, rmetrics, space_state, space_info, device,
                    notices, timings, prog):
    """Rank 0: the spectral space and evaluation (single-process), then the artifact through the store."""
    from .collab import CollabModel, spectral_space
    from .device import resolve_device
    from .explorer import Progress, _build_stages

    cc = config.collab
    t3 = time.perf_counter()
    count = np.bincount(ds.ratings.movie, minlength=ds.n_movies)
    if cc.space == "spectral":
        vectors, has, info = spectral_space(ds, cc, device)
    else:
        vectors = np.ascontiguousarray(space_state["movie.weight"], dtype=np.float32) * (count > 0)[:, None]
        has = (count > 0) & (np.linalg.norm(vectors, axis=1) > 0)
        info = space_info
    timings["space"] = time.perf_counter() - t3
    metrics = dict(rmetrics, rating_seconds=rmetrics["seconds"], space_seconds=info["seconds"],
                   seconds=timings["rating"] + timings["space"], space=cc.space, rating_model=cc.rating_model)
    collab = CollabModel(vectors.astype(np.float32), has.astype(bool), count < cc.low_confidence_below, state, meta,
                         {"rating": rhist, "space": info}, metrics)

    def progress(ev: Progress) -> None:
        if prog is not None:
            prog(ev.stage, ev.epoch or 0, ev.epochs or 0, ev.metrics, ev.eta_s)

    def stage(name, epoch, epochs, m, eta):
        if prog is not None:
            prog(name, epoch, epochs, m, eta)

    trained = {"content model": content, "collaborative model": collab}

    def on_device(what: str, run: Callable[[Any], Any]) -> Any:
        return trained[what] if what in trained else run(device)  # evaluation runs here, on rank 0 alone

    def build(wr) -> dict:
        choice = resolve_device(str(device))
        extra = _build_stages(ds, config, wr, progress, stage, on_device, notices, choice, {"now": choice.device})
        t = extra["timings"]  # the two stages trained before the build: their real (DDP) times
        t["content"], t["collab"] = timings["content"], timings["rating"] + timings["space"]
        t["total"] = t["content"] + t["collab"] + t.get("evaluate", 0.0)
        extra["train_seconds"] = t["total"]
        extra["distributed"] = {"world_size": world_size(), "backend": _backend_name(),
                                "shard_rows": "contiguous rows of ratings.parquet, read by row groups",
                                "rating_model": cc.rating_model, "timings": dict(timings)}
        return extra

    art, built = store.get_or_build(ds.fingerprint, key, build, notices.append)
    return str(art.path) if getattr(art, "path", None) is not None else None, built


def _backend_name() -> str:
    import torch.distributed as dist

    return dist.get_backend() if is_initialized() else "none"
