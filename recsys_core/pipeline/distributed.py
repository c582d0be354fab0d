"""Training under torchrun: every rank trains the gradient stages on its shard, rank 0 finishes the build.

See ``runtime.ddp`` for the process group and the shards, and docs/SCALING_OUT.md for how to launch it.
Rank 0 runs the remaining stages of ``pipeline.build`` (the spectral space is computed here first, then
the evaluation) with the DDP-trained models handed over as data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import EngineConfig
from ..runtime.ddp import (
    RatingShard,
    backend_name,
    barrier,
    broadcast_object,
    init,
    open_catalogue,
    parsed_folder,
    rank,
    rank_device,
    read_ratings_shard,
    shard_bounds,
    shutdown,
    sync,
    world_size,
)
from ..training.rating import RatingFit, RatingRows, train_rating
from .build import CONTENT, EVALUATE, RATING, SPACE, build_lists, run_stage


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
    from ..data import load_dataset
    from ..store import ArtifactStore
    from ..training.content import train_content

    config, notes = (config or EngineConfig()).for_distributed()
    notices = list(notes)
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
        ds_full: Any = load_dataset(data) if r == 0 else None  # rank 0 only
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

        t1 = time.perf_counter()
        with sync():
            content = train_content(cat, config.content, device, prog)
        timings["content"] = time.perf_counter() - t1

        t2 = time.perf_counter()
        cc = config.collab
        rows = RatingRows(shard.user, shard.movie, shard.rating, shard.positions)

        def rating(kind: str, stage: str) -> RatingFit:
            with sync():
                return train_rating(rows, cat.n_users, cat.n_movies, cat.rating_scale, kind, cc, device, prog, stage)

        rfit = rating(cc.rating_model, "rating")
        space_state, space_info = rfit.state, None
        if cc.space != "spectral":
            kind = "entity_net" if cc.space == "rating_net" else "dot_bias"
            if kind != cc.rating_model:
                sfit = rating(kind, "collab")
                space_state = sfit.state
                space_info = {"kind": cc.space, "history": sfit.history, "val_rmse": sfit.metrics["val_rmse"],
                              "seconds": sfit.metrics["seconds"]}
            else:
                space_info = {"kind": cc.space, "seconds": 0.0}
        timings["rating"] = time.perf_counter() - t2

        path, built = None, False
        if r == 0:
            path, built = _write_on_rank0(ds_full, config, store, key, content, rfit, space_state, space_info,
                                          device, notices, timings, prog)
        barrier()  # the others wait until rank 0's artifact is in place
        return DistributedResult(r, w, config, path, built, notices, timings)
    finally:
        shutdown()


def _write_on_rank0(ds, config, store, key, content, rfit: RatingFit, space_state, space_info, device, notices,
                    timings, prog) -> tuple[str | None, bool]:
    """Rank 0: the spectral space and the evaluation (single-process), then the artifact through the store."""
    from ..training.collab import CollabSpace, RatingModel, spectral_space

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
    space = CollabSpace(vectors.astype(np.float32), has.astype(bool), count < cc.low_confidence_below, info)
    metrics = dict(rfit.metrics, rating_seconds=rfit.metrics["seconds"], seconds=timings["rating"],
                   rating_model=cc.rating_model)
    rating = RatingModel(rfit.state, rfit.meta, rfit.history, metrics)

    def build(wr) -> dict:
        # the two list stages trained under DDP are handed over as data
        extra = build_lists(ds, config, wr, prog, trained={CONTENT: content, SPACE: space}, device=device)
        extra["notices"] = [*notices, *extra["notices"]]
        t = extra["timings"]  # the stages trained before the build: their real (DDP) times
        t[CONTENT], t[SPACE] = timings["content"], timings["space"]
        t["total"] = t[CONTENT] + t[SPACE]
        extra["train_seconds"] = t["total"]
        extra["distributed"] = {"world_size": world_size(), "backend": backend_name(),
                                "shard_rows": "contiguous rows of ratings.parquet, read by row groups",
                                "rating_model": cc.rating_model, "timings": dict(timings)}
        return extra

    art, built = store.get_or_build(ds.fingerprint, key, build, notices.append)
    # the rating model trained under DDP, then the evaluation on rank 0 alone: the artifact is complete
    art = run_stage(store, art, ds, config, RATING, prog, trained=rating, device=device, on_notice=notices.append)
    art = run_stage(store, art, ds, config, EVALUATE, prog, device=device, on_notice=notices.append)
    return str(art.path) if getattr(art, "path", None) is not None else None, built
