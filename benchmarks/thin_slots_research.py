"""Research for issue #16: does reserving the last places of a top-20 list for thinly rated movies lift cold recall?

Each user's list (the evaluation's protocol: seed-sum of calibrated similarities, rated movies excluded) keeps
its first ``20 - s`` movies and fills the last ``s`` places with the best thin movies (``n <= 5`` training
ratings) by a *fill* score:

- ``blend 0.7`` / ``content``: the calibrated blend at content weight 0.7, or content alone;
- ``co-raters``: how much the user's neighbours (cosine of rating rows) liked the movie, a user-kNN score, which
  is the seed sum of an item-item co-occurrence similarity weighted by each co-rater's activity;
- ``co-raters + content/2``: both, each standardised per user;
- ``co50`` / ``co100``: the same from the user's 50 or 100 most similar raters only (user-kNN as usually run);
  ``iuf``: raters' similarity with inverse-user-frequency weights (a movie few people rated counts more);
  ``+ blend/2``: plus half the standardised collaborative score.

A *gate* gives the places only to users with some (``> 0``) or more than 5% (``> 0.05``) of their training ratings
on thin movies, who are likelier to hold a thin movie out. A *quota* (``q1`` in the third argument) gives each user
``round(q * 20 * share)`` places (at most 10), ``share`` being the user's own share of ratings on thin movies
(with ``liked`` as the fourth argument: of the movies the user liked, what ships):
what shipped first, at ``q = 1``, with the ``co50 + content/2`` fill (``scoring/thin_places.py``; its content weight is now
fitted, ``thin_fill_research.py``). Spaces come from
``blend_research.py``'s cache (trained once on the evaluation's training part). Usage::

    python benchmarks/blend_research.py --data ../shared/datasets/ml-latest-small   # writes the cache
    python benchmarks/thin_slots_research.py ../shared/datasets/ml-latest-small 0.2 1,2
    python benchmarks/thin_slots_research.py ../shared/datasets/ml-latest-small 0.2 q0.5,q1,q1.5,q2 [liked]
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys_core import evaluation as ev  # noqa: E402
from recsys_core.config import EngineConfig  # noqa: E402
from recsys_core.data import load_dataset  # noqa: E402
from recsys_core.scoring.blend import blend, calibration  # noqa: E402
from recsys_core.training.cold_start import cold_start  # noqa: E402
from recsys_core.training.splits import split_ratings, subset_dataset  # noqa: E402

CPU = torch.device("cpu")
K = 20
THIN = 5  # "thin": at most this many training ratings (the evaluation's cold threshold)
GATES = (0.0, 0.05)  # the gates: users with more than this share of their training ratings on thin movies


def _standard(x: torch.Tensor) -> torch.Tensor:
    """Each row as standard scores (the rated and missing cells are masked later)."""
    return (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True).clamp(min=1e-6)


def _quota(base: torch.Tensor, thin_fill: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Each user's list with its last ``s[u]`` places given to the best thin movies by ``thin_fill`` (a
    popularity-calibrated list: the thin share of the list follows the thin share of the user's ratings)."""
    top = torch.topk(base, K, dim=1).indices
    extra = torch.topk(thin_fill.scatter(1, top, -math.inf), K // 2, dim=1).indices
    pos = torch.arange(K)[None, :]
    keep = pos < (K - s)[:, None]
    take = pos[:, : K // 2] < s[:, None]
    fin = torch.full_like(base, -1e9)
    fin.scatter_(1, top, torch.where(keep, 1e6 - pos.float(), -1e9))
    fin.scatter_(1, extra, torch.where(take, 1e5 - pos[:, : K // 2].float(), -1e9))
    return fin


def main() -> None:
    data, alphas = sys.argv[1], [float(a) for a in sys.argv[2].split(",")]
    slots = [int(s) for s in sys.argv[3].split(",") if s and not s.startswith("q")]
    quotas = [float(s[1:]) for s in sys.argv[3].split(",") if s.startswith("q")]
    cfg = EngineConfig()
    ds = load_dataset(data)
    z = np.load(f"/tmp/b16/cache_{Path(data).name}.npz")
    cv, ch, fv, fh = z["cv"], z["ch"], z["fv"], z["fh"]
    tr, te = split_ratings(ds, cfg.eval)
    t0 = time.time()
    cold = cold_start(subset_dataset(ds, tr), cv, ch, fv, fh, cfg.collab, CPU)
    print(f"cold start {time.time() - t0:.1f} s, k = {cold.info.get('k')}", flush=True)
    proto = ev.build_protocol(ds, tr, te, cfg.eval, CPU)
    ec, hc = ev._unit_rows(cv, ch, CPU)
    ef, hf = ev._unit_rows(cold.vectors, cold.has_vector, CPU)
    ef_cand = ef * torch.from_numpy(cold.weight)[:, None]
    cm, ci, km, ki = ev._cal_tensors(calibration(ec.numpy(), hc.numpy(), ef.numpy(), hf.numpy(), ef_cand.numpy()), CPU)
    thin = torch.from_numpy(proto.train_count <= THIN)
    rated_m = (proto.train != 0).astype(np.float32).tocsr()
    per_user = np.diff(rated_m.indptr)
    share = np.asarray(rated_m @ (proto.train_count <= THIN).astype(np.float32)).ravel() / np.maximum(per_user, 1)
    gates = {g: torch.from_numpy(share > g) for g in GATES}
    if len(sys.argv) > 4 and sys.argv[4] == "liked":  # the share among the movies the user liked (what ships)
        lk = (proto.liked != 0).astype(np.float32).tocsr()
        on_thin = np.asarray(lk @ (proto.train_count <= THIN).astype(np.float32)).ravel()
        share = on_thin / np.maximum(np.diff(lk.indptr), 1)
    share_t = torch.from_numpy(share.astype(np.float32))
    unit_rows = sp.diags(1.0 / np.sqrt(np.maximum(per_user, 1))) @ rated_m
    iuf = np.log(rated_m.shape[0] / (1.0 + np.asarray(rated_m.sum(0)).ravel())).clip(min=0.0)
    w_rows = rated_m @ sp.diags(iuf)
    w_rows = sp.diags(1.0 / np.sqrt(np.maximum(np.asarray(w_rows.multiply(w_rows).sum(1)).ravel(), 1e-12))) @ w_rows
    iuf_sim = torch.from_numpy((w_rows @ w_rows.T).toarray().astype(np.float32))
    iuf_sim.fill_diagonal_(0.0)
    user_sim = torch.from_numpy((unit_rows @ unit_rows.T).toarray().astype(np.float32))
    user_sim.fill_diagonal_(0.0)
    liked = torch.from_numpy(proto.liked.toarray().astype(np.float32))

    def scorer(ub: np.ndarray, seeds: torch.Tensor, rated: torch.Tensor):  # (each list already leaves rated out)
        sc = ev.seed_sum(seeds, ec, ec, cm, ci)
        sf = ev.seed_sum(seeds, ef, ef_cand, km, ki)
        co = user_sim[torch.from_numpy(ub)] @ liked
        us = user_sim[torch.from_numpy(ub)]
        kth = torch.topk(us, 50, dim=1).values[:, -1:]
        co50 = us.masked_fill(us < kth, 0.0) @ liked
        kth = torch.topk(us, 100, dim=1).values[:, -1:]
        co100 = us.masked_fill(us < kth, 0.0) @ liked
        ui = iuf_sim[torch.from_numpy(ub)]
        kth = torch.topk(ui, 50, dim=1).values[:, -1:]
        coi = ui.masked_fill(ui < kth, 0.0) @ liked
        kth = torch.topk(ui, 20, dim=1).values[:, -1:]
        coi20 = ui.masked_fill(ui < kth, 0.0) @ liked
        fills = {"blend 0.7": blend(sc, sf, 0.7), "content": sc, "co-raters": co,
                 "co-raters + content/2": _standard(co) + 0.5 * _standard(sc),
                 "co50 iuf + content/2": _standard(coi) + 0.5 * _standard(sc),
                 "co20 iuf + content/2": _standard(coi20) + 0.5 * _standard(sc),
                 "co50 iuf": coi,
                 "co50 iuf + content/4": _standard(coi) + 0.25 * _standard(sc),
                 "co50 + content/2": _standard(co50) + 0.5 * _standard(sc),
                 "co100 + content/2": _standard(co100) + 0.5 * _standard(sc),
                 "co-raters + content/2 + blend/2": _standard(co) + 0.5 * _standard(sc) + 0.5 * _standard(sf),
                 "co50 + content/2 + blend/2": _standard(co50) + 0.5 * _standard(sc) + 0.5 * _standard(sf)}
        alive = hc | hf
        out = {}
        for a in alphas:
            base = blend(sc, sf, a).masked_fill(~alive, -math.inf).masked_fill(rated, -math.inf)
            out[f"alpha {a:g}"] = base
            for fname, fill in fills.items():
                ts = fill.masked_fill(~(alive & thin), -math.inf).masked_fill(rated, -math.inf)
                for q in quotas:
                    out[f"alpha {a:g}, fill {fname}, quota {q:g} x share"] = _quota(
                        base, ts, torch.clamp(torch.round(q * K * share_t[torch.from_numpy(ub)]), max=K // 2).long())
                for s in slots:
                    top = torch.topk(base, K - s, dim=1).indices
                    extra = torch.topk(ts.scatter(1, top, -math.inf), s, dim=1).indices
                    fin = torch.full_like(base, -1e9)
                    fin.scatter_(1, top, (1e6 - torch.arange(K - s, dtype=torch.float32)).expand(len(ub), -1).contiguous())
                    fin.scatter_(1, extra, (1e5 - torch.arange(s, dtype=torch.float32)).expand(len(ub), -1).contiguous())
                    out[f"alpha {a:g}, fill {fname}, {s} place(s), every user"] = fin
                    for g, gate in gates.items():
                        out[f"alpha {a:g}, fill {fname}, {s} place(s), thin share > {g:g}"] = torch.where(
                            gate[torch.from_numpy(ub)][:, None], fin, base)
        return out.items()

    users = torch.from_numpy(proto.users)
    print(f"users {len(proto.users)}; " + ", ".join(f"thin share > {g:g}: {int(m[users].sum())}" for g, m in gates.items()))
    print("| list | Recall@20 | cold Recall@20 | coverage |\n|---|---|---|---|")
    for name, v in ev.rank_users(proto, scorer).items():
        print(f"| {name} | {v['recall@20']:.4f} | {v['cold_recall@20']:.4f} ± {v['cold_recall@20_se']:.4f} | "
              f"{v['coverage']:.3f} |")


if __name__ == "__main__":
    main()
