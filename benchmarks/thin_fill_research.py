"""Research for issue #16: is there a thin-places fill or strength that lifts cold recall beyond the split's noise?

For each evaluation split seed, runs ``evaluation.evaluate`` once (content trained once, as the pipeline does) and
keeps the spaces and the protocol it built, then re-ranks every user's α list with ``scoring.thin_places.place``
(the rule the product ships) under other fill scores and strengths. Fills, each standardised per user over what the
list may show:

- ``shipped``: the 50 nearest raters' likes + content x ``cold_start.thin_content_weight`` (and x 0.5, its first
  hand-set value);
- ``collab``: the cold-start collaborative score alone (thin movies placed by content-predicted vectors);
- ``collab + nearest/2``: plus half the content cosine to the nearest liked movie;
- ``collab + thin seeds``: plus the content score from the user's liked thin movies only (all liked where none);
- ``raters/2 + collab + thin seeds/2``.

The same table for several seeds says how far a fill's cold figure moves with the split alone. With
``--learned`` (two or more seeds) each split also gets fills *learned* on the other splits' held-out thin likes
(a logistic regression over the standardised raters' and content scores and the log training count, then also
an indicator for "no training ratings"), at strength 1. With ``--inner`` each split also fits the content
score's weight the way the issue asks a strength to be chosen, inside its own training part: 20% of the
training ratings held out at random (``cold_start.val_holdout``), raters and likes from the rest, a logistic regression of the held-out
thin likes on the two standardised scores; the weight is the ratio of their coefficients. Usage::

    python benchmarks/thin_fill_research.py --data ../shared/datasets/ml-latest-small --seeds 42,1,2 --learned --inner
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys_core import evaluation as ev  # noqa: E402
from recsys_core.config import EngineConfig  # noqa: E402
from recsys_core.data import load_dataset  # noqa: E402
from recsys_core.runtime.device import resolve_device  # noqa: E402
from recsys_core.scoring import thin_places as tp  # noqa: E402
from recsys_core.scoring.blend import content_ratio  # noqa: E402
from recsys_core.training.content import train_content  # noqa: E402


def _captured(ds: Any, content: Any, cfg: EngineConfig, dev: torch.device) -> tuple[tuple, ev.Protocol, float]:
    """Run the evaluation, keeping the spaces its scorer got, its protocol and its best alpha."""
    seen: dict[str, Any] = {}
    orig = ev._space_scorer

    def capture(*a: Any) -> Any:
        seen["a"] = a
        return orig(*a)

    ev._space_scorer = capture  # type: ignore[assignment]
    try:
        m = ev.evaluate(ds, content.vectors, content.has_vector, cfg.collab, cfg.eval, dev)
    finally:
        ev._space_scorer = orig  # type: ignore[assignment]
    return seen["a"][:6], seen["a"][7][0], float(m["best_alpha"])


def _metrics(scores: np.ndarray, target: np.ndarray, cold: np.ndarray, k: int) -> tuple[float, float, float, int]:
    """Recall@k, cold Recall@k with its standard error, and the cold hits, as ``evaluation.rank_users`` counts them."""
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    rec = float((np.take_along_axis(target, top, 1).sum(1) / target.sum(1)).mean())
    ct = target & cold[None, :]
    n_c = ct.sum(1)
    has = n_c > 0
    hits = np.take_along_axis(ct, top, 1).sum(1)
    per = hits[has] / n_c[has]
    return rec, float(per.mean()), float(per.std(ddof=1) / np.sqrt(has.sum())), int(hits.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--seeds", default="42")
    ap.add_argument("--strength", default="1,1.5,2")
    ap.add_argument("--learned", action="store_true", help="also fills learned on the other seeds' splits")
    ap.add_argument("--inner", action="store_true", help="also the content weight fitted inside each training part")
    args = ap.parse_args()
    base_cfg = EngineConfig()
    dev = resolve_device(base_cfg.device).device
    ds = load_dataset(args.data)
    content = train_content(ds, base_cfg.content, dev)
    k, cs = base_cfg.eval.k, base_cfg.collab.cold_start
    print(f"{ds.name}\n\n| seed | fill | strength | places per user | Recall@20 | cold Recall@20 | cold hits |\n"
          "|---|---|---|---|---|---|---|")
    kept: dict[int, dict[str, Any]] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        cfg = replace(base_cfg, eval=replace(base_cfg.eval, seed=seed))
        (ec, hc, ef, hf, ef_cand, cal), proto, alpha = _captured(ds, content, cfg, dev)
        cm, ci, km, ki = (t.cpu() for t in cal)
        users = proto.users
        liked_rows = proto.liked[users].toarray().astype(np.float32)
        seeds = torch.from_numpy(liked_rows)
        rated = torch.from_numpy(proto.train[users].toarray() != 0)
        with torch.no_grad():
            sc = ev.seed_sum(seeds, ec, ec, cm, ci).numpy()
            sf = ev.seed_sum(seeds, ef, ef_cand, km, ki).numpy()
            thin_seeds = torch.from_numpy(liked_rows * (proto.train_count <= cs.cold_max_train)[None, :])
            sc_thin = ev.seed_sum(thin_seeds, ec, ec, cm, ci).numpy()
            unit = ec / ec.norm(dim=1, keepdim=True).clamp(min=1e-9)
            nearest = np.stack([(unit[torch.from_numpy(row > 0)] @ unit.T).max(0).values.numpy() if row.any()
                                else np.zeros(len(unit), np.float32) for row in liked_rows])
        off = (rated | ~(hc | hf)[None, :]).numpy()
        allowed = ~off
        base = np.where(off, -np.inf, sf + content_ratio(alpha) * sc).astype(np.float32)
        thin = proto.train_count <= cs.cold_max_train
        target = proto.test_liked[users].toarray() > 0
        raters = tp.RaterIndex(proto.train, proto.liked, cs.thin_neighbours).scores(proto.train[users], users)

        def z(x: np.ndarray, allowed: np.ndarray = allowed) -> np.ndarray:
            return tp._standard(x, allowed)

        own_thin = np.where((thin_seeds.numpy().sum(1) > 0)[:, None], z(sc_thin), z(sc))
        fills = {f"shipped: raters + content x {cs.thin_content_weight:g}": z(raters) + cs.thin_content_weight * z(sc),
                 "raters + content x 0.5 (set by hand before)": z(raters) + 0.5 * z(sc), "collab": z(sf),
                 "collab + nearest/2": z(sf) + 0.5 * z(nearest), "collab + thin seeds": z(sf) + own_thin,
                 "raters/2 + collab + thin seeds/2": 0.5 * z(raters) + z(sf) + 0.5 * own_thin}
        count = np.broadcast_to(proto.train_count[None, :].astype(np.float32), base.shape)
        share = tp.thin_share(proto.liked, thin)[users]  # each user's share of thin movies among their likes
        kept[seed] = {"base": base, "target": target, "cold": proto.cold, "cand": allowed & thin[None, :],
                      "places": tp.quota(share, k, 1.0),
                      "features": {"raters": z(raters), "content": z(sc), "log count": np.log1p(count),
                                   "no training ratings": (count == 0).astype(np.float32)}}
        if args.inner:
            w = _inner_content_weight(proto, (ec, ci, cm), ~(hc | hf).numpy(), cs, seed)
            fills[f"raters + content x {w:.2f} (fitted inside the training part)"] = z(raters) + w * z(sc)
        r = _metrics(base, target, proto.cold, k)
        print(f"| {seed} | none (α {alpha:g}) | – | 0 | {r[0]:.4f} | {r[1]:.4f} ± {r[2]:.4f} | {r[3]} |", flush=True)
        for strength in [float(s) for s in args.strength.split(",")]:
            places = tp.quota(share, k, strength)
            for name, fill in fills.items():
                f = np.where(allowed & thin[None, :], fill, -np.inf).astype(np.float32)
                r = _metrics(tp.place(base, f, places, k), target, proto.cold, k)
                print(f"| {seed} | {name} | {strength:g} | {places.mean():.2f} | {r[0]:.4f} | "
                      f"{r[1]:.4f} ± {r[2]:.4f} | {r[3]} |", flush=True)

    if args.learned and len(kept) > 1:
        _learned(kept, k)


def _subsample(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows a fit keeps: every positive and 5% of the rest (the negatives outnumber them by thousands)."""
    return y | (rng.random(len(y)) < 0.05)


def _inner_content_weight(proto: ev.Protocol, content: tuple, unlisted: np.ndarray, cs: Any, seed: int) -> float:
    """The content score's weight next to the raters', fitted on a validation split inside the training part."""
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    ec, ci, cm = content
    t = proto.train.tocoo()
    rng = np.random.default_rng(seed)
    hold = rng.random(t.nnz) < cs.val_holdout
    fit = sp.csr_matrix((t.data[~hold], (t.row[~hold], t.col[~hold])), shape=t.shape)
    val = sp.csr_matrix((t.data[hold], (t.row[hold], t.col[hold])), shape=t.shape)
    fit_liked = (fit >= cs.like_threshold).astype(np.float32).tocsr()
    val_liked = (val >= cs.like_threshold).astype(np.float32).tocsr()
    thin = np.bincount(fit.indices, minlength=t.shape[1]) <= cs.cold_max_train
    has_thin_val = np.asarray((val_liked @ sp.diags(thin.astype(np.float32))).sum(1)).ravel() > 0
    vu = np.flatnonzero((np.diff(fit_liked.indptr) > 0) & has_thin_val)
    allowed = (fit[vu].toarray() == 0) & ~unlisted[None, :]
    with torch.no_grad():
        seeds = torch.from_numpy(fit_liked[vu].toarray())
        sc = ev.seed_sum(seeds, ec, ec, cm, ci).numpy()
    raters = tp.RaterIndex(fit, fit_liked, cs.thin_neighbours).scores(fit[vu], vu)
    cand = allowed & thin[None, :]
    y = ((val_liked[vu].toarray() > 0) & cand)[cand]
    x = np.column_stack([tp._standard(raters, allowed)[cand], tp._standard(sc, allowed)[cand]]).astype(np.float32)
    keep = _subsample(y, rng)
    coef = LogisticRegression(max_iter=1000).fit(x[keep], y[keep]).coef_[0]
    return float(coef[1] / coef[0])


def _learned(kept: dict[int, dict[str, Any]], k: int) -> None:
    """Each split's thin places filled by a logistic regression fitted on the other splits' held-out thin likes."""
    from sklearn.linear_model import LogisticRegression

    sets = (("raters", "content", "log count"), ("raters", "content", "log count", "no training ratings"))
    for names in sets:
        for seed, d in kept.items():
            xs, ys = [], []
            for other, o in kept.items():
                if other == seed:
                    continue
                y = (o["target"] & o["cand"])[o["cand"]]
                x = np.column_stack([np.asarray(o["features"][n])[o["cand"]] for n in names]).astype(np.float32)
                keep = _subsample(y, np.random.default_rng(other))
                xs.append(x[keep])
                ys.append(y[keep])
            fit = LogisticRegression(max_iter=1000).fit(np.concatenate(xs), np.concatenate(ys))
            w = fit.coef_[0]
            fill = np.full(d["base"].shape, -np.inf, np.float32)
            fill[d["cand"]] = sum(wi * np.asarray(d["features"][n])[d["cand"]] for wi, n in zip(w, names, strict=True))
            r = _metrics(tp.place(d["base"], fill, d["places"], k), d["target"], d["cold"], k)
            label = " + ".join(f"{wi:.2f} {n}" for wi, n in zip(w, names, strict=True))
            print(f"| {seed} | learned on the other splits: {label} | 1 | {d['places'].mean():.2f} | {r[0]:.4f} | "
                  f"{r[1]:.4f} ± {r[2]:.4f} | {r[3]} |", flush=True)


if __name__ == "__main__":
    main()
