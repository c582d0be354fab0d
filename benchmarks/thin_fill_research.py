"""Research for issue #16: is there a thin-places fill or strength that lifts cold recall beyond the split's noise?

For each evaluation split seed, runs ``evaluation.evaluate`` once (content trained once, as the pipeline does) and
keeps the spaces and the protocol it built, then re-ranks every user's α list with ``scoring.thin_places.place``
(the rule the product ships) under other fill scores and strengths. Fills, each standardised per user over what the
list may show:

- ``shipped``: the 50 nearest raters' likes + content/2;
- ``collab``: the cold-start collaborative score alone (thin movies placed by content-predicted vectors);
- ``collab + nearest/2``: plus half the content cosine to the nearest liked movie;
- ``collab + thin seeds``: plus the content score from the user's liked thin movies only (all liked where none);
- ``raters/2 + collab + thin seeds/2``.

The same table for several seeds says how far a fill's cold figure moves with the split alone. Usage::

    python benchmarks/thin_fill_research.py --data ../shared/datasets/ml-latest-small --seeds 42,1,2
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
    args = ap.parse_args()
    base_cfg = EngineConfig()
    dev = resolve_device(base_cfg.device).device
    ds = load_dataset(args.data)
    content = train_content(ds, base_cfg.content, dev)
    k, cs = base_cfg.eval.k, base_cfg.collab.cold_start
    print(f"{ds.name}\n\n| seed | fill | strength | places per user | Recall@20 | cold Recall@20 | cold hits |\n"
          "|---|---|---|---|---|---|---|")
    for seed in [int(s) for s in args.seeds.split(",")]:
        cfg = replace(base_cfg, eval=replace(base_cfg.eval, seed=seed))
        (ec, hc, ef, hf, ef_cand, cal), proto, alpha = _captured(ds, content, cfg, dev)
        cm, ci, km, ki = (t.cpu() for t in cal)
        users = proto.users
        liked_rows = proto.liked[users].toarray().astype(np.float32)
        seeds = torch.from_numpy(liked_rows)
        rated = torch.from_numpy(proto.train[users].toarray() != 0)
        with torch.no_grad():
            sc = (((seeds * ci) @ ec) @ ec.T - (seeds @ (cm * ci))[:, None]).numpy()
            sf = (((seeds * ki) @ ef) @ ef_cand.T - (seeds @ (km * ki))[:, None]).numpy()
            thin_seeds = torch.from_numpy(liked_rows * (proto.train_count <= cs.cold_max_train)[None, :])
            sc_thin = (((thin_seeds * ci) @ ec) @ ec.T - (thin_seeds @ (cm * ci))[:, None]).numpy()
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
        fills = {"shipped": z(raters) + tp.CONTENT_WEIGHT * z(sc), "collab": z(sf),
                 "collab + nearest/2": z(sf) + 0.5 * z(nearest), "collab + thin seeds": z(sf) + own_thin,
                 "raters/2 + collab + thin seeds/2": 0.5 * z(raters) + z(sf) + 0.5 * own_thin}
        r = _metrics(base, target, proto.cold, k)
        print(f"| {seed} | none (α {alpha:g}) | – | 0 | {r[0]:.4f} | {r[1]:.4f} ± {r[2]:.4f} | {r[3]} |", flush=True)
        for strength in [float(s) for s in args.strength.split(",")]:
            places = tp.quota(tp.thin_share(proto.liked, thin), k, strength)[users]
            for name, fill in fills.items():
                f = np.where(allowed & thin[None, :], fill, -np.inf).astype(np.float32)
                r = _metrics(tp.place(base, f, places, k), target, proto.cold, k)
                print(f"| {seed} | {name} | {strength:g} | {places.mean():.2f} | {r[0]:.4f} | "
                      f"{r[1]:.4f} ± {r[2]:.4f} | {r[3]} |", flush=True)


if __name__ == "__main__":
    main()
