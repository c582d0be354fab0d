"""Collaborative movie embeddings for similarity, plus the rating model behind predict() and RMSE.

The default similarity space ("spectral") is a ridge-filtered truncated SVD of the binary user x movie
matrix with popularity-damped columns: rating-trained vectors (the write-up's net, biased MF) measure
about ten times worse for item-to-item retrieval, so they are kept only as comparison spaces.

The rating model behind predict() and RMSE defaults to "bayes_mf": biased MF whose posterior is sampled
(Gibbs) on the training part while the validation RMSE is tracked, then sampled further on every rating;
the averaged model is stored in the DotBias layout (offset, biases, user . movie), so predict stays numpy.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ..config import CollabConfig
from ..data.dataset import Dataset
from ..errors import CacheError, ConfigError, DatasetError
from ..events import Progress, ProgressFn, emit
from ..models.rating_nets import BayesMF
from ..runtime.device import seed_everything
from .rating import RatingFit, RatingRows, baselines, fit_biases, train_rating

_DOT_KINDS = ("bayes_mf", "dot_bias")  # models saved as offset + biases + user . movie
MODEL_FORMAT = 1  # the layout of collab_model.npz / collab_meta, checked on load
_MAX_CELLS = 2_000_000_000  # n_movies x dim (or n_users x rating_dim) above this is refused before allocating



@dataclass(frozen=True, eq=False)
class CollabModel:
    """A trained collaborative space plus the rating model, all as numpy arrays (no torch needed to use it)."""

    vectors: np.ndarray  # float32 [n_movies, d]; zero rows for movies with no vector
    has_vector: np.ndarray  # bool [n_movies]
    low_confidence: np.ndarray  # bool [n_movies]
    rating_state: dict[str, np.ndarray]
    rating_meta: dict
    history: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


# ---------------------------------------------------------------- similarity space


def _binary_weighted(ds: Dataset, beta: float) -> tuple[sp.csr_matrix, np.ndarray]:
    r = ds.ratings
    m = sp.csr_matrix(
        (np.ones(len(r), dtype=np.float32), (r.user, r.movie)), shape=(ds.n_users, ds.n_movies)
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    count = np.diff(m.tocsc().indptr).astype(np.int64)
    colw = np.where(count > 0, np.maximum(count, 1).astype(np.float64) ** (-beta), 0.0).astype(np.float32)
    return (m @ sp.diags(colw)).tocsr().astype(np.float32), count


def _top_singular(xw: sp.csr_matrix, q: int, cfg: CollabConfig, device: torch.device,
                  ) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Right singular vectors/values of xw: exact via the smaller Gram side when small, randomized SVD otherwise."""
    n_u, n_m = xw.shape
    if min(n_u, n_m) <= cfg.exact_max:
        dt = torch.float64 if device.type != "mps" else torch.float32
        if n_u <= n_m:
            gram = torch.from_numpy((xw @ xw.T).toarray()).to(device=device, dtype=dt)
            lam, u = torch.linalg.eigh(gram)
            lam, u = lam.flip(0)[:q].clamp(min=0), u.flip(1)[:, :q]
            s = lam.sqrt()
            keep = s > 1e-6 * s[0].clamp(min=1e-30)
            s, u = s[keep], u[:, keep]
            xt = _torch_sparse(xw.T.tocoo(), device, dt)
            v = torch.sparse.mm(xt, u) / s
            return v.float(), s.float(), "eigh-users"
        gram = torch.from_numpy((xw.T @ xw).toarray()).to(device=device, dtype=dt)
        lam, v = torch.linalg.eigh(gram)
        lam, v = lam.flip(0)[:q].clamp(min=0), v.flip(1)[:, :q]
        s = lam.sqrt()
        keep = s > 1e-6 * s[0].clamp(min=1e-30)
        return v[:, keep].float(), s[keep].float(), "eigh-movies"
    if device.type == "cpu":  # LU-normalised power iterations on scipy CSR: 28 s at 25M ratings, 1 thread, where
        from sklearn.utils.extmath import randomized_svd  # torch.svd_lowrank's sparse COO path took ~6 minutes

        k = min(q, min(n_u, n_m) - 1)
        _, s, vt = randomized_svd(xw, n_components=k, n_oversamples=16, n_iter=4, random_state=cfg.seed)
        return torch.from_numpy(np.ascontiguousarray(vt.T, np.float32)), torch.from_numpy(s.astype(np.float32)), \
            "randomized_svd"
    x = _torch_sparse(xw.tocoo(), device, torch.float32)
    _, s, v = torch.svd_lowrank(x, q=min(q + 16, min(n_u, n_m)), niter=4)
    return v[:, :q], s[:q], "svd_lowrank"


def _torch_sparse(coo: sp.coo_matrix, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    val = torch.from_numpy(coo.data).to(dtype)
    return torch.sparse_coo_tensor(idx, val, coo.shape, check_invariants=False).coalesce().to(device)


def spectral_space(ds: Dataset, cfg: CollabConfig, device: torch.device) -> tuple[np.ndarray, np.ndarray, dict]:
    """Movie vectors V * s/sqrt(s^2 + (ridge*s_max)^2) of the popularity-damped binary rating matrix.

    Cosine of these rows approximates a ridge-regularised item-item model (EASE without the zero
    diagonal) restricted to the top ``dim`` directions; damping columns by n^-beta stops blockbusters
    from owning every direction, and the filter keeps the noisy tail from dominating after normalising.
    """
    t0 = time.perf_counter()
    xw, count = _binary_weighted(ds, cfg.pop_beta)
    active = np.flatnonzero(count > 0)
    out = np.zeros((ds.n_movies, cfg.dim), dtype=np.float32)
    info: dict = {"kind": "spectral", "rank": 0, "method": "none"}
    if len(active) >= 2:
        v, s, method = _top_singular(xw[:, active].tocsr(), cfg.dim, cfg, device)
        filt = s / torch.sqrt(s * s + (cfg.ridge * s[0]) ** 2) if cfg.ridge > 0 else s
        emb = (v * filt).cpu().numpy().astype(np.float32)
        out[active, : emb.shape[1]] = emb
        info = {"kind": "spectral", "rank": int(emb.shape[1]), "method": method,
                "singular_values": [float(x) for x in s[:8].cpu()]}
    has = np.linalg.norm(out, axis=1) > 0
    info["seconds"] = time.perf_counter() - t0
    return out, has, info


# ---------------------------------------------------------------- rating models


def _train_rating(ds: Dataset, kind: str, cfg: CollabConfig, device: torch.device, progress: ProgressFn | None,
                  stage: str) -> tuple[dict, dict, dict, dict]:
    """Train one rating model on every rating of ``ds``: (state arrays, meta, history, metrics)."""
    if kind == "bayes_mf":
        return _train_bayes(ds, cfg, device, progress, stage)
    r = ds.ratings
    f = train_rating(RatingRows.every(r.user, r.movie, r.rating), ds.n_users, ds.n_movies, ds.rating_scale, kind,
                     cfg, device, progress, stage)
    return f.state, f.meta, f.history, f.metrics


def _train_bayes(ds: Dataset, cfg: CollabConfig, device: torch.device, progress: ProgressFn | None,
                 stage: str) -> tuple[dict, dict, dict, dict]:
    """Gibbs-sample BayesMF: ``epochs`` sweeps on the training part (validation RMSE of the running sample
    average per sweep, early stopping if patience is set), then, with ``refit_all``, 3/4 as many sweeps on
    every rating, averaging all samples after a short burn-in. Same return shape as _train_rating."""
    r = ds.ratings
    lo, hi = (float(x) for x in ds.rating_scale)
    b = baselines(RatingRows.every(r.user, r.movie, r.rating), ds.n_users, ds.n_movies, ds.rating_scale, cfg)
    tr, va, mu, bu, bm = b.train, b.val, b.mu, b.user_bias, b.movie_bias

    opts = cfg.fit_for("bayes_mf")
    opts.validate()
    dev = device if device.type == "cuda" else torch.device("cpu")  # batched Cholesky: CPU or CUDA
    gen = seed_everything(cfg.seed)
    model = BayesMF(ds.n_users, ds.n_movies, cfg.bayes_dim, cfg.rating_dim, mu, gen, cfg.seed, dev)
    users, movies = r.user.astype(np.int64), r.movie.astype(np.int64)
    model.set_ratings(users[tr], movies[tr], r.rating[tr])
    uv = torch.from_numpy(users[va]).to(dev)
    mv = torch.from_numpy(movies[va]).to(dev)
    yv = torch.from_numpy(r.rating[va].astype(np.float32)).to(dev)
    acc = torch.zeros(len(va), dtype=torch.float32, device=dev)
    n1 = opts.epochs
    burn = min(5, n1 // 4)
    n2 = max(1, math.ceil(0.75 * n1)) if cfg.refit_all else 0
    hist: dict[str, Any] = {"train": [], "val": [], "best_epoch": 0, "seconds": 0.0, "epoch_seconds": [],
                            "refit_sweeps": 0}
    best, bad, n_acc = math.inf, 0, 0
    t_start = time.perf_counter()
    for sweep in range(n1):
        t0 = time.perf_counter()
        mse = model.sweep()
        if not math.isfinite(mse):
            raise ConfigError("Gibbs sampling diverged (non-finite ratings?); check the ratings file.")
        if sweep >= burn:
            model.accumulate()
            acc += model.sample_predict(uv, mv)
            n_acc += 1
            val = float((mu + acc / n_acc).clamp(lo, hi).sub(yv).pow(2).mean().sqrt()) if len(va) else math.nan
        else:
            val = float((mu + model.sample_predict(uv, mv)).clamp(lo, hi).sub(yv).pow(2).mean().sqrt())
        hist["train"].append(mse)
        hist["val"].append(val)
        hist["epoch_seconds"].append(time.perf_counter() - t0)
        if sweep >= burn and val < best * (1 - opts.min_delta):
            best, bad, hist["best_epoch"] = val, 0, sweep
        elif sweep >= burn:
            bad += 1
        if progress is not None:
            eta = float(np.mean(hist["epoch_seconds"])) * (n1 - sweep - 1 + n2)
            progress(Progress(stage, sweep + 1, n1 + n2, {"train_mse": mse, "val_rmse": val}, eta))
        if opts.patience and bad >= opts.patience:
            break
    if n2:
        # every rating from here on; the chain is warm, so all further samples join the average
        model.set_ratings(users, movies, r.rating)
        mu, bu, bm = fit_biases(r.user, r.movie, r.rating, ds.n_users, ds.n_movies, cfg.bias_reg)
        done = len(hist["train"])
        for sweep in range(n2):
            t0 = time.perf_counter()
            mse = model.sweep()
            if not math.isfinite(mse):
                raise ConfigError("Gibbs sampling diverged (non-finite ratings?); check the ratings file.")
            model.accumulate()
            hist["epoch_seconds"].append(time.perf_counter() - t0)
            if progress is not None:
                eta = float(np.mean(hist["epoch_seconds"])) * (n2 - sweep - 1)
                progress(Progress(stage, done + sweep + 1, done + n2, {"train_mse": mse, "refit": 1.0}, eta))
        hist["refit_sweeps"] = n2
    state = model.state()
    state["baseline.user_bias"] = bu
    state["baseline.movie_bias"] = bm
    hist["seconds"] = time.perf_counter() - t_start
    meta = {"kind": "bayes_mf", "dim": cfg.rating_dim, "sample_dim": cfg.bayes_dim, "rating_low": lo,
            "rating_high": hi, "global_mean": mu, "n_users": ds.n_users, "n_movies": ds.n_movies,
            "samples": model.n_samples, "refit_all": bool(n2)}
    vals = [v for v in hist["val"][burn:] if math.isfinite(v)]
    metrics = {"val_rmse": vals[-1] if vals else float("nan"), "baseline_global_mean_rmse": b.mean_rmse,
               "baseline_bias_rmse": b.bias_rmse, "epochs": len(hist["train"]), "best_epoch": hist["best_epoch"] + 1,
               "refit_sweeps": n2, "seconds": hist["seconds"], "n_train": int(len(tr)), "n_val": int(len(va)),
               "n_final": int(len(r)) if n2 else int(len(tr))}
    return state, meta, hist, metrics


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


def _raw_predict(state: dict, meta: dict, u: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The rating model's prediction for known (non-negative) rows, in numpy."""
    if meta["kind"] in _DOT_KINDS:
        dot = np.einsum("ij,ij->i", state["user.weight"][u], state["movie.weight"][m])
        return (state["offset"][0] + state["user_bias.weight"][u, 0] + state["movie_bias.weight"][m, 0] + dot)
    x = np.concatenate([state["user.weight"][u], state["movie.weight"][m]], axis=1)
    x = _relu(x @ state["fc1.weight"].T + state["fc1.bias"])
    x = _relu(x @ state["fc2.weight"].T + state["fc2.bias"])
    z = (x @ state["out.weight"].T + state["out.bias"])[:, 0]
    return meta["squash_low"] + meta["squash_span"] / (1.0 + np.exp(-z))


def predict_ratings(model: CollabModel, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
    """Predicted ratings for row pairs; a -1 (or out-of-range) user or movie gets the bias baseline instead."""
    st, meta = model.rating_state, model.rating_meta
    u = np.asarray(users, dtype=np.int64).ravel()
    m = np.asarray(movies, dtype=np.int64).ravel()
    if u.shape != m.shape:
        raise ConfigError(f"users and movies must have the same length, got {len(u)} and {len(m)}.")
    ku = (u >= 0) & (u < meta["n_users"])
    km = (m >= 0) & (m < meta["n_movies"])
    out = np.full(len(u), meta["global_mean"], dtype=np.float64)
    out += np.where(ku, st["baseline.user_bias"][np.where(ku, u, 0)], 0.0)
    out += np.where(km, st["baseline.movie_bias"][np.where(km, m, 0)], 0.0)
    both = np.flatnonzero(ku & km)
    for i in range(0, len(both), 262_144):
        sel = both[i : i + 262_144]
        out[sel] = _raw_predict(st, meta, u[sel], m[sel])
    return np.clip(out, meta["rating_low"], meta["rating_high"]).astype(np.float32)


# ---------------------------------------------------------------- training entry point


@dataclass(frozen=True, eq=False)
class CollabSpace:
    """The collaborative similarity space alone: what the lists need (the rating model comes later)."""

    vectors: np.ndarray  # float32 [n_movies, d]; zero rows for movies with no vector
    has_vector: np.ndarray  # bool [n_movies]
    low_confidence: np.ndarray  # bool [n_movies]
    info: dict  # how it was made ("kind", "seconds", ...)
    rating: RatingFit | None = None  # the model behind a rating-trained space, reusable as the rating model


@dataclass(frozen=True, eq=False)
class RatingModel:
    """The rating model behind predict() and RMSE, as arrays."""

    state: dict[str, np.ndarray]
    meta: dict
    history: dict
    metrics: dict


def _check_size(ds: Dataset, cfg: CollabConfig) -> None:
    if len(ds.ratings) < 2 or ds.n_movies < 2:
        raise DatasetError(
            f"Dataset {ds.name!r} has {len(ds.ratings)} ratings over {ds.n_movies} movies; collaborative "
            "embeddings need at least two of each. Point it at a folder with a ratings file."
        )
    if ds.n_movies * cfg.dim > _MAX_CELLS or ds.n_users * cfg.rating_dim > _MAX_CELLS:
        raise ConfigError(
            f"dim={cfg.dim} / rating_dim={cfg.rating_dim} would need more than {_MAX_CELLS:,} cells for "
            f"{ds.n_movies:,} movies and {ds.n_users:,} users; choose a smaller dimension."
        )


def _space_kind(cfg: CollabConfig) -> str | None:
    """The rating model a rating-trained space takes its movie vectors from (None for the spectral space)."""
    return None if cfg.space == "spectral" else ("entity_net" if cfg.space == "rating_net" else "dot_bias")


def train_space(ds: Dataset, cfg: CollabConfig, device: torch.device,
                progress: ProgressFn | None = None) -> CollabSpace:
    """The collaborative similarity space from every rating in ``ds`` (the spectral SVD by default)."""
    cfg.validate()
    _check_size(ds, cfg)
    count = np.bincount(ds.ratings.movie, minlength=ds.n_movies)
    kind = _space_kind(cfg)
    fitted = None
    if kind is None:
        emit(progress, "collab", epoch=0, epochs=1)
        vectors, has, info = spectral_space(ds, cfg, device)
        emit(progress, "collab", epoch=1, epochs=1, metrics={"rank": info["rank"]}, eta_s=0.0)
    else:
        state, meta, hist, metrics = _train_rating(ds, kind, cfg, device, progress, "collab")
        fitted = RatingFit(state, meta, hist, metrics)
        info = {"kind": cfg.space, "history": hist, "val_rmse": metrics["val_rmse"], "seconds": metrics["seconds"]}
        vectors = np.ascontiguousarray(state["movie.weight"], dtype=np.float32)
        vectors = vectors * (count > 0)[:, None].astype(np.float32)
        has = (count > 0) & (np.linalg.norm(vectors, axis=1) > 0)
    return CollabSpace(vectors.astype(np.float32), has.astype(bool), count < cfg.low_confidence_below, info, fitted)


def train_rating_model(ds: Dataset, cfg: CollabConfig, device: torch.device, progress: ProgressFn | None = None,
                       space: CollabSpace | None = None) -> RatingModel:
    """The rating model behind predict() and RMSE; reuses ``space``'s model when it is the same kind."""
    cfg.validate()
    _check_size(ds, cfg)
    t0 = time.perf_counter()
    rating_kind = cfg.rating_model_for(len(ds.ratings))
    rating_note = ""
    run_cfg = cfg
    if rating_kind != cfg.rating_model:
        # large data: Gibbs sweeps would take hours; the SGD-trained dot_bias with fewer epochs stands in
        run_cfg = replace(cfg, rating_model=rating_kind, rating_fit=cfg.large_rating_fit)
        rating_note = (f"{len(ds.ratings):,} ratings > bayes_max_ratings={cfg.bayes_max_ratings:,}: trained "
                       f"{rating_kind} ({cfg.large_rating_fit.epochs} epochs) instead of {cfg.rating_model}")
    if space is not None and space.rating is not None and _space_kind(cfg) == rating_kind and run_cfg is cfg:
        r = space.rating
        state, meta, hist, metrics = r.state, dict(r.meta), r.history, dict(r.metrics)
    else:
        state, meta, hist, metrics = _train_rating(ds, rating_kind, run_cfg, device, progress, "rating")
    if rating_note:
        meta["requested_kind"] = cfg.rating_model
        meta["note"] = rating_note
    metrics = dict(metrics, rating_seconds=metrics["seconds"], seconds=time.perf_counter() - t0,
                   rating_model=rating_kind)
    if rating_note:
        metrics.update(rating_model_requested=cfg.rating_model, rating_model_note=rating_note)
    return RatingModel(state, meta, hist, metrics)


def combine(space: CollabSpace, rating: RatingModel, cfg: CollabConfig) -> CollabModel:
    """The space and the rating model as one CollabModel (what evaluation and the DDP build hand around)."""
    metrics = dict(rating.metrics, space_seconds=space.info["seconds"],
                   seconds=rating.metrics["seconds"] + space.info["seconds"], space=cfg.space)
    return CollabModel(space.vectors, space.has_vector, space.low_confidence, rating.state, rating.meta,
                       {"rating": rating.history, "space": space.info}, metrics)


def train_collab(ds: Dataset, cfg: CollabConfig, device: torch.device,
                 progress: ProgressFn | None = None) -> CollabModel:
    """Build the similarity space and train the rating model on every rating in ``ds``."""
    space = train_space(ds, cfg, device, progress)
    return combine(space, train_rating_model(ds, cfg, device, progress, space), cfg)


# ---------------------------------------------------------------- persistence (npz + json, no pickle)


def collab_to_arrays(model: CollabModel) -> tuple[dict[str, np.ndarray], dict]:
    """Split a model into plain arrays (for .npz) and a JSON-able dict, so the store never pickles."""
    arrays = {"vectors": model.vectors, "has_vector": model.has_vector, "low_confidence": model.low_confidence}
    arrays.update({f"rating/{k}": v for k, v in model.rating_state.items()})
    meta = {"format": MODEL_FORMAT, "rating_meta": model.rating_meta, "history": model.history,
            "metrics": model.metrics}
    return arrays, meta


def load_collab(arrays: dict[str, np.ndarray], meta: dict) -> CollabModel:
    """Rebuild a CollabModel from collab_to_arrays output; CacheError when anything is missing or inconsistent."""
    try:
        if meta.get("format") != MODEL_FORMAT:
            raise ValueError(f"format {meta.get('format')!r} (expected {MODEL_FORMAT})")
        vectors = np.asarray(arrays["vectors"], dtype=np.float32)
        has = np.asarray(arrays["has_vector"], dtype=bool)
        low = np.asarray(arrays["low_confidence"], dtype=bool)
        state = {k.split("/", 1)[1]: np.asarray(v) for k, v in arrays.items() if k.startswith("rating/")}
        rmeta = dict(meta["rating_meta"])
        n_m = vectors.shape[0]
        if vectors.ndim != 2 or has.shape != (n_m,) or low.shape != (n_m,) or rmeta["n_movies"] != n_m:
            raise ValueError("array shapes disagree")
        need = ["baseline.user_bias", "baseline.movie_bias", "user.weight", "movie.weight"]
        missing = [k for k in need if k not in state]
        if missing:
            raise ValueError(f"missing rating arrays {missing}")
        if not np.isfinite(vectors).all():
            raise ValueError("non-finite vectors")
        return CollabModel(vectors, has, low, state, rmeta, dict(meta.get("history", {})),
                           dict(meta.get("metrics", {})))
    except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise CacheError(
            f"The cached collaborative model is incomplete or corrupt ({exc}); delete the artifact folder "
            "or retrain to rebuild it."
        ) from exc
