"""Offline evaluation: a per-user hold-out split, item-to-item ranking metrics across alpha, baselines, RMSE."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import scipy.sparse as sp
import torch

from .config import EvalConfig
from .data.dataset import Dataset
from .errors import ConfigError
from .events import Progress, ProgressFn
from .models.rating_nets import csr_tensor
from .scoring.blend import Calibration, calibrate, calibration, content_ratio
from .scoring.thin_places import ThinLists
from .training.splits import split_ratings, subset_dataset

if TYPE_CHECKING:
    from .training.collab import CollabModel

# a scorer gets (user rows of the batch, their liked seeds as a dense tensor, the movies they rated in training) and
# yields (list name, scores with -inf wherever that list may not go, rated movies included), one list at a time: a
# yielded tensor may be a buffer the scorer reuses for its next list, so it is read before asking for the next
Scorer = Callable[[np.ndarray, torch.Tensor, torch.Tensor], Iterable[tuple[str, torch.Tensor]]]


def unrated(scores: Mapping[str, torch.Tensor], rated: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
    """A scorer's lists made the plain way, each with the user's training-rated movies taken out."""
    for name, s in scores.items():
        yield name, s.masked_fill(rated, -math.inf)


def _csr(users: np.ndarray, movies: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    m = sp.csr_matrix((values.astype(np.float32), (users, movies)), shape=shape)
    m.sum_duplicates()
    return m


def genre_matrix(ds: Dataset) -> np.ndarray:
    """Multi-hot genres (bool [n_movies, n_genres]); movies without genres get an all-false row."""
    genres = ds.movies["genres"]
    names = sorted({g for gs in genres for g in gs})
    col = {g: i for i, g in enumerate(names)}
    lens = genres.map(len).to_numpy()
    rows = np.repeat(np.arange(len(genres)), lens)
    cols = np.fromiter((col[g] for gs in genres for g in gs), dtype=np.int64, count=int(lens.sum()))
    out = np.zeros((len(genres), max(len(names), 1)), dtype=bool)
    out[rows, cols] = True
    return out


@dataclass(frozen=True, eq=False)
class Protocol:
    """Everything the ranking metrics need about one split, built once and shared by every scorer."""

    n_movies: int
    k: int
    train: sp.csr_matrix  # users x movies, rating values of training ratings
    liked: sp.csr_matrix  # users x movies, 1 where a training rating >= like_threshold (the seeds)
    test_liked: sp.csr_matrix  # users x movies, 1 where a held-out rating >= like_threshold (the targets)
    users: np.ndarray  # evaluated user rows: >= 1 liked seed and >= 1 liked target
    train_count: np.ndarray  # int64 [n_movies] training ratings per movie
    cold: np.ndarray  # bool [n_movies]: held-out movies with <= cold_max_train training ratings
    genres: np.ndarray  # bool [n_movies, n_genres]
    coherence_rows: np.ndarray  # movie rows whose neighbour lists are checked
    batch_users: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    large: bool = False  # more eligible users than EvalConfig.large_users: a sample of them is evaluated


def build_protocol(ds: Dataset, train_mask: np.ndarray, test_mask: np.ndarray, cfg: EvalConfig,
                   device: torch.device) -> Protocol:
    """Turn a split into the sparse matrices and user set the metrics run over."""
    r = ds.ratings
    shape = (ds.n_users, ds.n_movies)
    tr = _csr(r.user[train_mask], r.movie[train_mask], r.rating[train_mask], shape)
    lk_m = train_mask & (r.rating >= cfg.like_threshold)
    liked = _csr(r.user[lk_m], r.movie[lk_m], np.ones(int(lk_m.sum())), shape)
    te_m = test_mask & (r.rating >= cfg.like_threshold)
    test_liked = _csr(r.user[te_m], r.movie[te_m], np.ones(int(te_m.sum())), shape)
    ok = (np.diff(liked.indptr) > 0) & (np.diff(test_liked.indptr) > 0)
    users = np.flatnonzero(ok)
    large = len(users) > cfg.large_users
    max_users = cfg.max_users if cfg.max_users is not None else (cfg.large_max_users if large else None)
    if max_users is not None and len(users) > max_users:
        rng = np.random.default_rng(cfg.seed + 1)
        users = np.sort(rng.choice(users, max_users, replace=False))
    if len(users) == 0:
        raise ConfigError(
            "No user has liked movies both in training and in the held-out part; "
            "evaluation needs a dataset with more ratings per user (or a lower like_threshold)."
        )
    count = np.bincount(r.movie[train_mask], minlength=ds.n_movies).astype(np.int64)
    genres = genre_matrix(ds)
    rng = np.random.default_rng(cfg.seed + 2)
    cand = np.flatnonzero((count > 0) & genres.any(axis=1))
    if len(cand) > cfg.coherence_sample:
        cand = np.sort(rng.choice(cand, cfg.coherence_sample, replace=False))
    return Protocol(ds.n_movies, cfg.k, tr, liked, test_liked, users, count, count <= cfg.cold_max_train,
                    genres, cand, cfg.batch_users, device, large)


@dataclass
class _Acc:
    """Running sums of per-user metrics for one list kind."""

    recall: float = 0.0
    ndcg: float = 0.0
    n: int = 0
    cold_recall: float = 0.0
    cold_sq: float = 0.0  # sum of squared per-user cold recalls (its standard error)
    n_cold: int = 0
    listed: np.ndarray | None = None


def _accumulate(acc: _Acc, top: torch.Tensor, target: torch.Tensor, cold: torch.Tensor, disc: torch.Tensor,
                n_movies: int) -> None:
    hits = target.gather(1, top)  # b x k float
    n_t = target.sum(1)
    k = top.shape[1]
    idcg = torch.cumsum(disc, 0)[(torch.clamp(n_t, max=k) - 1).long()]
    acc.recall += float((hits.sum(1) / n_t).sum())
    acc.ndcg += float(((hits * disc).sum(1) / idcg).sum())
    acc.n += int(top.shape[0])
    ct = target * cold
    n_c = ct.sum(1)
    has = n_c > 0
    if bool(has.any()):
        per_user = ct.gather(1, top).sum(1)[has] / n_c[has]
        acc.cold_recall += float(per_user.sum())
        acc.cold_sq += float((per_user * per_user).sum())
        acc.n_cold += int(has.sum())
    counts = np.bincount(top.reshape(-1).cpu().numpy(), minlength=n_movies)
    acc.listed = counts if acc.listed is None else acc.listed + counts


def _se(total: float, sq: float, n: int) -> float:
    """Standard error of a mean from its sum and sum of squares (0 below two samples)."""
    if n < 2:
        return 0.0
    var = max(sq / n - (total / n) ** 2, 0.0) * n / (n - 1)
    return float(math.sqrt(var / n))


def _dense_rows(m: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(m[rows].toarray()).to(device)


def rank_users(proto: Protocol, scorer: Scorer, progress: ProgressFn | None = None,
               stage: str = "evaluate") -> dict[str, dict[str, float]]:
    """Score every evaluated user's unrated movies in batches and average Recall/NDCG/cold recall per list kind."""
    dev = proto.device
    k = proto.k
    disc = 1.0 / torch.log2(torch.arange(k, device=dev, dtype=torch.float32) + 2.0)
    cold = torch.from_numpy(proto.cold.astype(np.float32)).to(dev)
    accs: dict[str, _Acc] = {}
    batches = [proto.users[i : i + proto.batch_users] for i in range(0, len(proto.users), proto.batch_users)]
    t0 = time.perf_counter()
    for bi, ub in enumerate(batches):
        seeds = _dense_rows(proto.liked, ub, dev)
        rated = _dense_rows(proto.train, ub, dev) != 0
        target = _dense_rows(proto.test_liked, ub, dev)
        for name, s in scorer(ub, seeds, rated):
            top = torch.topk(s, k, dim=1).indices
            _accumulate(accs.setdefault(name, _Acc()), top, target, cold, disc, proto.n_movies)
        if progress is not None:
            el = time.perf_counter() - t0
            progress(Progress(stage, bi + 1, len(batches), {}, el / (bi + 1) * (len(batches) - bi - 1)))
    logpop = np.log10(1.0 + proto.train_count)
    out = {}
    for name, a in accs.items():
        listed = a.listed if a.listed is not None else np.zeros(proto.n_movies)
        out[name] = {
            f"recall@{k}": a.recall / max(a.n, 1),
            f"ndcg@{k}": a.ndcg / max(a.n, 1),
            f"cold_recall@{k}": a.cold_recall / a.n_cold if a.n_cold else 0.0,
            f"cold_recall@{k}_se": _se(a.cold_recall, a.cold_sq, a.n_cold),
            "cold_users": a.n_cold,
            "popularity": float((listed * logpop).sum() / max(listed.sum(), 1)),
            "coverage": float((listed > 0).sum() / proto.n_movies),
        }
    return out


def coherence_of(proto: Protocol, neighbour_scores: Callable[[np.ndarray], torch.Tensor]) -> float:
    """Mean genre Jaccard between a movie and its top-k neighbours (self excluded), over a fixed movie sample."""
    return coherences(proto, lambda rows: iter([("", neighbour_scores(rows))])).get("", 0.0)


def coherences(proto: Protocol, neighbour_lists: Callable[[np.ndarray], Iterator[tuple[str, torch.Tensor]]],
               ) -> dict[str, float]:
    """``coherence_of`` for several lists at once: ``neighbour_lists`` yields (name, scores) for a batch of rows,
    one at a time, so lists that share products (both spaces and every alpha) compute them once per batch.
    Each yielded tensor is the caller's to reuse once the next is asked for; the query's own cell is overwritten."""
    rows = proto.coherence_rows
    g = torch.from_numpy(proto.genres.astype(np.float32)).to(proto.device)
    gsize = g.sum(1)
    sums: dict[str, list[float]] = {}
    for i in range(0, len(rows), 512):
        rb = rows[i : i + 512]
        own = (torch.arange(len(rb), device=g.device), torch.from_numpy(rb).to(g.device))
        gq = g[own[1]]  # b x G
        for name, s in neighbour_lists(rb):
            s[own] = -math.inf
            top = torch.topk(s, proto.k, dim=1)
            valid = torch.isfinite(top.values)
            inter = torch.einsum("bg,bkg->bk", gq, g[top.indices])
            union = gq.sum(1, keepdim=True) + gsize[top.indices] - inter
            jac = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
            acc = sums.setdefault(name, [0.0, 0.0])
            acc[0] += float((jac * valid).sum())
            acc[1] += int(valid.sum())
    return {name: total / max(n, 1) for name, (total, n) in sums.items()}


# ---------------------------------------------------------------- spaces, baselines and the full report


def _unit_rows(vectors: np.ndarray, mask: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    v = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).to(device)
    has = torch.from_numpy(np.asarray(mask, dtype=bool)).to(device) & (v.norm(dim=1) > 0)
    v = v / v.norm(dim=1, keepdim=True).clamp(min=1e-12) * has[:, None]
    return v, has


def _cal_tensors(cal: Calibration, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The calibration's per-movie (mean, 1/std) of both spaces as tensors."""
    return tuple(torch.from_numpy(np.asarray(x, dtype=np.float32)).to(device)
                 for x in (cal.content_mean, cal.content_inv_std, cal.collab_mean, cal.collab_inv_std))


def _alpha_key(a: float) -> str:
    return f"alpha={a:g}"


def _thin_key(a: float) -> str:
    return f"alpha={a:g}+thin"


def seed_sum(seeds: torch.Tensor, unit: torch.Tensor, cand: torch.Tensor, mean: torch.Tensor,
             inv_std: torch.Tensor) -> torch.Tensor:
    """Per user row: the sum over its seeds of each seed's calibrated similarity to every candidate
    (``scoring.blend.calibration``'s per-seed mean and 1/std; linear, so two matrix products)."""
    return ((seeds * inv_std) @ unit) @ cand.T - (seeds @ (mean * inv_std))[:, None]


def _space_scorer(ec: torch.Tensor, hc: torch.Tensor, ef: torch.Tensor, hf: torch.Tensor, ef_cand: torch.Tensor,
                  cal: tuple[torch.Tensor, ...], alphas: tuple[float, ...], thin: tuple[Protocol, ThinLists] | None = None,
                  ) -> Scorer:
    """Sums over the seeds of each space's calibrated scores (``scoring.blend``: linear, so two products per
    space), computed once per batch and blended per alpha; a candidate lacking a space has cosine 0 there.

    ``scoring.blend.blend`` ranks as ``zf + content_ratio(a) zc`` (a positive scale), so with the collaborative
    sums masked once each alpha is one fused pass into a reused buffer: the 12 alphas' blend-and-mask passes were
    half the ranking's time on a 1M x 20k set. With ``thin`` the blended lists give thin movies their places
    (``scoring.thin_places``), as the taste lists do, yielded after each plain blend."""
    cm, ci, km, ki = cal

    def score(ub: np.ndarray, seeds: torch.Tensor, rated: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        sc = seed_sum(seeds, ec, ec, cm, ci)
        sf = seed_sum(seeds, ef, ef_cand, km, ki)
        yield "content", sc.masked_fill(rated | ~hc, -math.inf)
        yield "collab", sf.masked_fill(rated | ~hf, -math.inf)
        off = rated | ~(hc | hf)
        placed: Callable[[torch.Tensor], torch.Tensor] | None = None
        if thin is not None:
            proto, lists = thin
            fn = lists.lists(proto.train[ub], lists.user_places[ub], sc.cpu().numpy(), (~off).cpu().numpy(), own_rows=ub)
            placed = lambda s: torch.from_numpy(fn(s.cpu().numpy())).to(s.device)  # noqa: E731
        sf.masked_fill_(off, -math.inf)  # sc is finite everywhere, so every sum below keeps these at -inf
        buf = torch.empty_like(sf)
        for a in alphas:
            if a >= 1.0:
                plain = sc.masked_fill(off, -math.inf)
            else:
                plain = torch.add(sf, sc, alpha=content_ratio(a), out=buf)
            yield _alpha_key(a), plain
            if placed is not None:
                yield _thin_key(a), placed(plain)

    return score


def _neighbours(ec: torch.Tensor, hc: torch.Tensor, ef: torch.Tensor, hf: torch.Tensor, ef_cand: torch.Tensor,
               cal: tuple[torch.Tensor, ...], alphas: tuple[float, ...] = (), spaces: tuple[str, ...] = ("content", "collab"),
               ) -> Callable[[np.ndarray], Iterator[tuple[str, torch.Tensor]]]:
    """Item-to-item scores for a batch of movie rows: each space's, then the blend at each alpha (per pair, with
    fallback), yielded one list at a time; the two products are computed once per batch and shared by all."""

    def fn(rows: np.ndarray) -> Iterator[tuple[str, torch.Tensor]]:
        r = torch.from_numpy(rows).to(ec.device)
        qc, qf = hc[r][:, None], hf[r][:, None]
        ok_c, ok_f = qc & hc[None, :], qf & hf[None, :]
        cc = ec[r] @ ec.T
        cf = ef[r] @ ef_cand.T if ("collab" in spaces or alphas) else None
        if "content" in spaces:
            yield "content", cc.masked_fill(~ok_c, -math.inf)
        if cf is not None and "collab" in spaces:
            yield "collab", cf.masked_fill(~ok_f, -math.inf)
        if not alphas or cf is None:
            return
        q = tuple(x[r][:, None] for x in cal)
        zc, zf = calibrate(cc, q[0], q[1]), calibrate(cf, q[2], q[3])
        del cc, cf
        # a query movie lacking one space is ranked in the other alone (the product shows that list); a row lacking
        # a space has zero cosines and calibration there, so its z in that space is 0
        allowed = torch.where(qc & qf, ok_c | ok_f, torch.where(qc, ok_c, ok_f))
        c_only, f_only = (qc & ~qf)[:, 0], (qf & ~qc)[:, 0]
        zc_only = zc[c_only].masked_fill(~allowed[c_only], -math.inf) if bool(c_only.any()) else None
        zf.masked_fill_(~allowed, -math.inf)  # zc is finite, so the sums below keep these at -inf
        buf = torch.empty_like(zf)
        for a in alphas:
            # blend(zc, zf, a) ranks as zf + content_ratio(a) zc: one fused pass per alpha (as in _space_scorer)
            if a >= 1.0:
                buf.copy_(zc).masked_fill_(~allowed, -math.inf)
                buf[f_only] = zf[f_only]  # (below 1, their zc is 0 and the sum is zf already)
            else:
                torch.add(zf, zc, alpha=content_ratio(a), out=buf)
            if zc_only is not None:
                buf[c_only] = zc_only
            yield _alpha_key(a), buf

    return fn


def itemknn(proto: Protocol, chunk: int = 128) -> tuple[Scorer, Callable[[np.ndarray], torch.Tensor]]:
    """Raw item-kNN: cosine between movie columns of the training rating matrix, never densified whole.

    Seeds (dense) are pushed through the normalised matrix twice as torch CSR products, so memory is
    O(nnz + batch x (users + movies)) and the work threaded (and on the GPU when there is one). scipy's sparse x
    sparse products grow batch x users dense intermediates single-threaded: 6-7x slower here on ml-100k,
    ml-latest-small and a 1M x 20k set alike (3.3 s against 0.44 s per 512 users on the last).
    """
    x = proto.train.astype(np.float32)
    norm = np.sqrt(np.asarray(x.multiply(x).sum(0))).ravel()
    xn = (x @ sp.diags(np.where(norm > 0, 1.0 / np.maximum(norm, 1e-12), 0.0).astype(np.float32))).tocsr()
    xnt = xn.T.tocsr()
    dev = proto.device
    dead = torch.from_numpy(norm == 0).to(dev)
    xn_t, xnt_t = _torch_csr(xn, dev), _torch_csr(xnt, dev)

    def score(_: np.ndarray, seeds: torch.Tensor, rated: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        s = seeds.to(dev, torch.float32)
        out = [(xnt_t @ (xn_t @ s[i : i + chunk].T.contiguous())).T for i in range(0, len(s), chunk)]
        yield "itemknn", torch.cat(out).masked_fill_(rated, -math.inf)

    def neigh(rows: np.ndarray) -> torch.Tensor:
        parts = []
        for i in range(0, len(rows), chunk):
            cols = torch.from_numpy(np.ascontiguousarray(xnt[rows[i : i + chunk]].toarray().T, dtype=np.float32))
            parts.append((xnt_t @ cols.to(dev)).T)  # users x b in, movies x b out
        return torch.cat(parts).masked_fill(dead[None, :], -math.inf)

    return score, neigh


def _torch_csr(m: sp.csr_matrix, dev: torch.device) -> torch.Tensor:
    """The same matrix as a torch CSR tensor (int32 indices while they fit), for torch's threaded products."""
    itype = np.int32 if max(m.nnz, *m.shape) < 2**31 else np.int64
    t = lambda a, dt: torch.from_numpy(np.ascontiguousarray(a, dtype=dt))  # noqa: E731
    return csr_tensor(t(m.indptr, itype), t(m.indices, itype), t(m.data, np.float32), m.shape).to(dev)


def _ease(proto: Protocol, lam: float) -> tuple[Scorer, Callable[[np.ndarray], torch.Tensor]]:
    """EASE (Steck 2019) on the binary training matrix: B = I - P / diag(P), P = (X'X + lam I)^-1, diag(B) = 0."""
    dev = proto.device
    items = np.flatnonzero(proto.train_count > 0)
    xb = proto.train[:, items].astype(np.float32)
    xb.data[:] = 1.0
    g = torch.from_numpy((xb.T @ xb).toarray()).to(dev)
    g.diagonal().add_(lam)
    p = torch.cholesky_inverse(torch.linalg.cholesky(g))
    del g
    b = -p / p.diagonal()[None, :]
    b.diagonal().zero_()
    it = torch.from_numpy(items).to(dev)
    pos = np.full(proto.n_movies, -1, dtype=np.int64)
    pos[items] = np.arange(len(items))

    def score(_: np.ndarray, seeds: torch.Tensor, rated: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        out = torch.full((seeds.shape[0], proto.n_movies), -math.inf, device=dev)
        out[:, it] = seeds[:, it] @ b
        yield "ease", out.masked_fill_(rated, -math.inf)

    def neigh(rows: np.ndarray) -> torch.Tensor:
        out = torch.full((len(rows), proto.n_movies), -math.inf, device=dev)
        pr = torch.from_numpy(pos[rows]).to(dev)
        out[:, it] = b[pr.clamp(min=0)]
        return out

    return score, neigh


def _popularity(proto: Protocol) -> tuple[Scorer, Callable[[np.ndarray], torch.Tensor]]:
    """Most-rated movies in training, the same list for everyone."""
    pop = torch.from_numpy(proto.train_count.astype(np.float32)).to(proto.device)

    def score(_: np.ndarray, seeds: torch.Tensor, rated: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        yield "popularity", pop.expand(seeds.shape[0], -1).masked_fill(rated, -math.inf)

    return score, lambda rows: pop.expand(len(rows), -1).clone()


def _held_out_rmse(ds: Dataset, test_mask: np.ndarray, model: CollabModel) -> dict[str, Any]:
    """RMSE of the rating model on the held-out ratings, next to the global-mean and user+movie bias baselines."""
    from .training.collab import predict_ratings

    r = ds.ratings
    yt = r.rating[test_mask].astype(np.float64)
    pred = predict_ratings(model, r.user[test_mask], r.movie[test_mask])
    st, meta = model.rating_state, model.rating_meta
    lo, hi = meta["rating_low"], meta["rating_high"]
    bias = np.clip(meta["global_mean"] + st["baseline.user_bias"][r.user[test_mask]]
                   + st["baseline.movie_bias"][r.movie[test_mask]], lo, hi)

    def rmse(p: np.ndarray) -> float:
        return float(np.sqrt(np.mean((p - yt) ** 2)))

    return {"test_rmse": rmse(pred), "global_mean": rmse(np.full(len(yt), meta["global_mean"])),
            "bias": rmse(bias), "model": meta["kind"], "n_test": int(len(yt))}


def _thin_report(res: dict, cfg: EvalConfig, best: int, thin: tuple[Protocol, ThinLists] | None,
                 proto: Protocol) -> dict:
    """The best blend's lists with and without thin places, side by side (what the taste lists trade)."""
    if thin is None:
        return {"enabled": False}
    k, a = cfg.k, cfg.alphas[best]
    names = (f"recall@{k}", f"ndcg@{k}", f"cold_recall@{k}", f"cold_recall@{k}_se", "cold_users", "popularity",
             "coverage")
    return {"enabled": True, "strength": thin[1].strength, "content_weight": thin[1].content_weight, "alpha": float(a),
            "users_with_places": int((thin[1].user_places[proto.users] > 0).sum()), "n_users": int(len(proto.users)),
            "with": {n: res[_thin_key(a)][n] for n in names}, "without": {n: res[_alpha_key(a)][n] for n in names},
            "curve": {n: [res[_thin_key(x)][n] for x in cfg.alphas] for n in names}}


def evaluate(ds: Dataset, content_vectors: np.ndarray, content_mask: np.ndarray, collab_cfg, cfg: EvalConfig,
             device: torch.device, progress: ProgressFn | None = None) -> dict:
    """Split, retrain the collaborative side on the training part, and report ranking metrics, baselines and RMSE.

    Above ``cfg.rating_eval_max`` training ratings only the similarity space is retrained: the report's RMSE is
    then marked skipped (the pipeline adds the rating stage's own validation RMSE) and so is ``rating_vectors``.

    Content vectors do not use ratings, so they are reused as given. In the hybrid, a seed or candidate
    lacking one embedding contributes 0 in that space (so it is scored by the other, at that space's
    weight); a movie lacking both is never listed; a query movie lacking one space (coherence lists) is
    ranked in the other alone. The content-only and collab-only rows list only movies that have that embedding.
    """
    from .training.cold_start import cold_start
    from .training.collab import train_collab, train_space  # collab imports this module's helpers' siblings

    t0 = time.perf_counter()
    cfg.validate()
    collab_cfg.validate()
    cv = np.asarray(content_vectors)
    if cv.ndim != 2 or cv.shape[0] != ds.n_movies or np.asarray(content_mask).shape != (ds.n_movies,):
        raise ConfigError(
            f"content_vectors must be [n_movies={ds.n_movies}, d] with a matching mask, got {cv.shape}; "
            "pass the content model trained on this dataset."
        )
    train_mask, test_mask = split_ratings(ds, cfg)
    train_ds = subset_dataset(ds, train_mask)
    n_train = len(train_ds.ratings)
    model: CollabModel | None = None
    if n_train <= cfg.rating_eval_max:
        model = train_collab(train_ds, collab_cfg, device, progress)
        vectors, has_vector, training = model.vectors, model.has_vector, model.metrics
    else:  # the lists need only the space; a second rating model here would cost what the rating stage did
        space = train_space(train_ds, collab_cfg, device, progress)
        vectors, has_vector, training = space.vectors, space.has_vector, {"seconds": space.info.get("seconds")}
    # thin movies lean on content, with k chosen inside the training part (never the held-out one)
    cold = cold_start(train_ds, cv, content_mask, vectors, has_vector, collab_cfg, device)
    proto = build_protocol(ds, train_mask, test_mask, cfg, device)
    k = cfg.k
    rating_skip = (f"{n_train:,} training ratings > rating_eval_max={cfg.rating_eval_max:,}: no second rating model "
                   "is trained on this split")
    rmse_out = _held_out_rmse(ds, test_mask, model) if model is not None else {
        "skipped": rating_skip + "; the rating model's own validation RMSE stands in",
        "model": collab_cfg.rating_model_for(len(ds.ratings))}

    ec, hc = _unit_rows(cv, content_mask, device)
    ef, hf = _unit_rows(cold.vectors, cold.has_vector, device)
    ef_cand = ef * torch.from_numpy(cold.weight).to(device)[:, None]
    cal = _cal_tensors(calibration(ec.cpu().numpy(), hc.cpu().numpy(), ef.cpu().numpy(), hf.cpu().numpy(),
                                   ef_cand.cpu().numpy()), device)
    spaces = (ec, hc, ef, hf, ef_cand, cal)
    cs = collab_cfg.cold_start
    thin = (proto, ThinLists(proto.train, proto.liked, proto.train_count, cs.cold_max_train, cs.thin_places,
                             cs.thin_neighbours, k, cs.thin_content_weight)) if cs.thin_places > 0 else None
    res = rank_users(proto, _space_scorer(*spaces, cfg.alphas, thin), progress)
    coh = coherences(proto, _neighbours(*spaces, tuple(cfg.alphas)))
    for name in ("content", "collab", *map(_alpha_key, cfg.alphas)):
        res[name]["genre_coherence"] = coh.get(name, 0.0)

    metric_names = [f"recall@{k}", f"ndcg@{k}", f"cold_recall@{k}", "genre_coherence", "popularity", "coverage"]
    hybrid = {mn: [res[_alpha_key(a)][mn] for a in cfg.alphas] for mn in metric_names}
    recalls = np.asarray(hybrid[f"recall@{k}"])
    # the most content weight whose recall is within best_alpha_tolerance of the best (differences that small are
    # inside the metric's standard error; the extra content weight buys coherent lists and thin movies)
    near = np.flatnonzero(recalls >= recalls.max() * (1.0 - cfg.best_alpha_tolerance))
    best = int(max(near, key=lambda i: cfg.alphas[i]))

    baselines: dict[str, dict] = {}
    makers = {"popularity": lambda: _popularity(proto), "itemknn": lambda: itemknn(proto),
              "ease": lambda: _ease(proto, cfg.ease_lambda)}
    for name in cfg.baselines:
        if name == "ease" and int((proto.train_count > 0).sum()) > cfg.ease_max_items:
            baselines[name] = {"skipped": f"more than {cfg.ease_max_items} movies; EASE needs a dense inverse"}
            continue
        if name == "rating_vectors":
            if model is None:
                baselines[name] = {"skipped": rating_skip}
                continue
            er, hr = _unit_rows(model.rating_state["movie.weight"], proto.train_count > 0, device)
            scorer: Any = lambda _, seeds, rated, er=er, hr=hr, name=name: iter([  # noqa: E731
                (name, ((seeds @ er) @ er.T).masked_fill_(rated | ~hr, -math.inf))])
            neigh: Any = lambda rows, er=er, hr=hr: next(_neighbours(er, hr, er, hr, er, (), (), ("content",))(rows))[1]
        else:
            scorer, neigh = makers[name]()
        out = rank_users(proto, scorer, progress, stage=f"baseline:{name}")[name]
        out["genre_coherence"] = coherence_of(proto, neigh)
        baselines[name] = out
        del scorer, neigh

    return {
        "k": k,
        "alphas": [float(a) for a in cfg.alphas],
        "hybrid": hybrid,
        "content": res["content"],
        "collab": res["collab"],
        "baselines": baselines,
        "best_alpha": float(cfg.alphas[best]),
        "best_hybrid": {mn: hybrid[mn][best] for mn in metric_names},
        "rmse": rmse_out,
        "collab_training": training,
        "space": collab_cfg.space,
        "cold_start": cold.info,
        "thin_places": _thin_report(res, cfg, best, thin, proto),
        "best_hybrid_cold": {key: res[_alpha_key(cfg.alphas[best])][key] for key in (f"cold_recall@{k}_se", "cold_users")},
        "calibration": "per-query standardised cosines (scoring/blend.py)",
        "n_users": int(len(proto.users)),
        "seconds": time.perf_counter() - t0,
    }
