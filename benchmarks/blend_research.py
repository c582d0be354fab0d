"""Research for issue #16: calibrated blends and content-predicted collaborative vectors, measured fast.

Trains the content model and the collaborative space on the evaluation's training part once (cached under
/tmp), then scores variants with ``recsys_core.evaluation``'s own protocol (Recall@20, cold Recall@20,
genre coherence) without retraining. Usage::

    .venv/bin/python benchmarks/blend_research.py --data ml-100k
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from recsys_core.config import EngineConfig
from recsys_core.data import load_dataset
from recsys_core.evaluation import build_protocol, coherence_of, rank_users, unrated
from recsys_core.training.collab import train_space
from recsys_core.training.content import train_content
from recsys_core.training.splits import split_ratings, subset_dataset

CPU = torch.device("cpu")


def unit(x: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Unit rows, zero where missing."""
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(has[:, None] & (n > 0), x / np.maximum(n, 1e-12), 0).astype(np.float32)


def calib(u: np.ndarray, has: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query side u/sigma, stored side u): their product is the per-query z-score up to a per-query constant."""
    m = u[has].mean(0)
    xc = np.where(has[:, None], u - m, 0).astype(np.float32)
    cov = (xc[has].T @ xc[has]) / max(int(has.sum()), 1)
    sig = np.sqrt(np.maximum(np.einsum("nd,dk,nk->n", u, cov, u), 1e-12))
    return (u / sig[:, None] * has[:, None]).astype(np.float32), u


def run(proto, qc, sc, qf, sf, alphas, extra=None):
    """Recall/cold/coherence for blends of query-side/stored-side pairs of the two spaces."""
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    Qc, Sc, Qf, Sf = t(qc), t(sc), t(qf), t(sf)

    def scorer(_, seeds, rated):
        a_ = (seeds @ Qc) @ Sc.T
        b_ = (seeds @ Qf) @ Sf.T
        out = {}
        for a in alphas:
            out[f"{a:g}"] = a * a_ + (1 - a) * b_ + (extra if extra is not None else 0)
        return unrated(out, rated)

    res = rank_users(proto, scorer)
    for a in alphas:
        def neigh(rows, a=a):
            r = torch.from_numpy(rows)
            return a * (Qc[r] @ Sc.T) + (1 - a) * (Qf[r] @ Sf.T)
        res[f"{a:g}"]["coh"] = coherence_of(proto, neigh)
    return {k: {"recall": round(v["recall@20"], 4), "cold": round(v["cold_recall@20"], 4), "coh": round(v["coh"], 3),
                "cov": round(v["coverage"], 3)} for k, v in res.items()}


def ridge_predict(x: np.ndarray, y: np.ndarray, fit: np.ndarray, lam: float) -> np.ndarray:
    """Dual ridge from features x (dense or sparse) to targets y, fitted on rows ``fit``, predicted for all rows."""
    import scipy.sparse as sp

    xf = x[fit]
    k = xf @ xf.T
    k = k.toarray() if sp.issparse(k) else k
    k = torch.from_numpy(np.asarray(k, dtype=np.float64))
    k.diagonal().add_(lam)
    beta = torch.linalg.solve(k, torch.from_numpy(y[fit].astype(np.float64))).numpy()
    kall = x @ xf.T
    kall = kall.toarray() if sp.issparse(kall) else kall
    return (np.asarray(kall) @ beta).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="ml-100k")
    ap.add_argument("--out", default=None)
    ap.add_argument("--variants", default="")
    args = ap.parse_args()
    cfg = EngineConfig()
    ds = load_dataset(args.data)
    tag = Path(str(args.data)).name
    cache = Path(f"/tmp/b16/cache_{tag}.npz")
    tr, te = split_ratings(ds, cfg.eval)
    sub = subset_dataset(ds, tr)
    if cache.exists():
        z = np.load(cache)
        cv, ch, fv, fh = z["cv"], z["ch"], z["fv"], z["fh"]
    else:
        t0 = time.time()
        cm = train_content(ds, cfg.content, CPU)
        sp_ = train_space(sub, cfg.collab, CPU)
        cv, ch, fv, fh = cm.vectors, cm.has_vector, sp_.vectors, sp_.has_vector
        np.savez(cache, cv=cv, ch=ch, fv=fv, fh=fh)
        print("trained in", time.time() - t0)
    from recsys_core.training.content import build_tfidf

    tfidf, _ = build_tfidf(ds, cfg.content)
    proto = build_protocol(ds, tr, te, cfg.eval, CPU)
    n = proto.train_count
    uc, uf = unit(cv, ch), unit(fv, fh)
    alphas = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
    out: dict = {}
    out["raw"] = run(proto, uc, uc, uf, uf, alphas)
    print("raw", json.dumps(out["raw"]))
    qc, sc = calib(uc, ch)
    qf, sf = calib(uf, fh)
    out["z"] = run(proto, qc, sc, qf, sf, alphas)
    print("z", json.dumps(out["z"]))
    gc = float(np.median(np.linalg.norm(qc[ch], axis=1)))
    gf = float(np.median(np.linalg.norm(qf[fh], axis=1)))
    out["global"] = run(proto, uc * gc, uc, uf * gf, uf, alphas)
    print("global", json.dumps(out["global"]))
    # content-predicted collaborative vectors, blended by confidence n / (n + k); the candidate side keeps a
    # shrink factor (w + (1 - w) * beta) so thin movies do not outscore everything
    import sys
    variants = [v.split(":") for v in (sys.argv[sys.argv.index("--variants") + 1].split(",") if "--variants" in sys.argv else [])]
    for feat_name, lam, kk, beta in variants or [("codes", "1", "5", "0.5")]:
        lam, kk, beta = float(lam), float(kk), float(beta)
        feats = uc if feat_name == "codes" else tfidf
        fit = np.flatnonzero((n >= 10) & fh & ch)
        raw = ridge_predict(feats, uf, fit, lam)
        pred = unit(raw, ch)
        w = (n / (n + kk)).astype(np.float32)
        w = np.where(fh, w, 0).astype(np.float32)
        mixed = w[:, None] * uf + (1 - w)[:, None] * pred
        has2 = fh | ch
        um = unit(mixed, has2)
        qf2, _ = calib(um, has2)
        shrink = (w + (1 - w) * beta) if beta >= 0 else np.linalg.norm(w[:, None] * uf + (1 - w)[:, None] * raw, axis=1)
        sf2 = um * shrink[:, None].astype(np.float32)
        name = f"cold_{feat_name}_lam{lam}_k{kk}_beta{beta}"
        out[name] = run(proto, qc, sc, qf2, sf2, alphas)
        print(name, json.dumps(out[name]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
