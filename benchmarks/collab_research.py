"""Reproduce the collaborative-space comparison: space kind x (Recall@20, NDCG@20, coherence, popularity,
coverage) plus the baselines and held-out RMSE, on the issue's per-user 80/20 protocol.

    python benchmarks/collab_research.py ml-100k ml-latest-small [--spaces spectral,dot_bias,rating_net]
    python benchmarks/collab_research.py ml-100k /path/to/ml-latest-small --rmse [--threads 1]

``--rmse`` prints only the rating-model table: held-out RMSE of predict() for each rating model (trained on
the 80% part, as the CLI's predict trains on whatever folder it is given), its validation RMSE and the
training time of the whole collaborative side, all in the same process so the times compare.

Content is stood in by genre multi-hot vectors (this script measures the collaborative side only).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from recsys_core.data import load_dataset
from recsys_core.evaluation import EvalConfig, evaluate, genre_matrix, split_ratings, subset_dataset
from recsys_core.training.collab import RATING_MODELS, CollabConfig, predict_ratings, train_collab

COLS = ("recall@20", "ndcg@20", "genre_coherence", "popularity", "coverage")


def _row(name: str, m: dict) -> str:
    return f"| {name} | " + " | ".join(f"{m[c]:.3f}" for c in COLS) + " |"


def rmse_table(names: list[str], models: list[str], repeats: int) -> dict:
    """Held-out RMSE / validation RMSE / median training seconds per rating model, one table per dataset."""
    dev, raw = torch.device("cpu"), {}
    for name in names:
        ds = load_dataset(name)
        train, test = split_ratings(ds, EvalConfig())
        sub, r = subset_dataset(ds, train), ds.ratings
        print(f"\n### {name}: rating models (per-user 80/20, {int(test.sum()):,} held-out ratings)\n")
        print("| rating model | held-out RMSE | val RMSE | bias baseline (val) | sweeps/epochs | training s |")
        print("|---|---|---|---|---|---|")
        for kind in models:
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                m = train_collab(sub, CollabConfig(rating_model=kind), dev)
                times.append(time.perf_counter() - t)
            p = predict_ratings(m, r.user[test], r.movie[test]).astype(np.float64)
            rmse = float(np.sqrt(np.mean((p - r.rating[test]) ** 2)))
            mt = m.metrics
            print(f"| {kind} | {rmse:.4f} | {mt['val_rmse']:.4f} | {mt['baseline_bias_rmse']:.4f} | "
                  f"{mt['epochs']}+{mt.get('refit_sweeps', 0)} | {float(np.median(times)):.1f} |", flush=True)
            raw[f"{name}/{kind}"] = {"test_rmse": rmse, "seconds": times, "metrics": mt}
    return raw


def main() -> None:
    """Print one markdown table per dataset and dump the raw reports as JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--spaces", default="spectral,dot_bias,rating_net")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="")
    ap.add_argument("--rmse", action="store_true", help="only the rating-model RMSE table")
    ap.add_argument("--models", default=",".join(RATING_MODELS), help="rating models for --rmse")
    ap.add_argument("--repeats", type=int, default=1, help="training runs per model for --rmse (median time)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.rmse:
        raw = rmse_table(args.datasets, args.models.split(","), args.repeats)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(raw, fh, default=float)
        return
    dev = torch.device("cpu")
    raw = {}
    for name in args.datasets:
        ds = load_dataset(name)
        g = genre_matrix(ds).astype(np.float32)
        print(f"\n### {name}\n\n| space | " + " | ".join(COLS) + " |\n|---|" + "---|" * len(COLS))
        for i, space in enumerate(args.spaces.split(",")):
            t = time.perf_counter()
            cfg = EvalConfig() if i == 0 else EvalConfig(baselines=())
            res = evaluate(ds, g, g.any(axis=1), CollabConfig(space=space), cfg, dev)
            raw[f"{name}/{space}"] = res
            print(_row(f"collab: {space} ({time.perf_counter() - t:.0f} s)", res["collab"]), flush=True)
            if i == 0:
                for b, m in res["baselines"].items():
                    if "skipped" not in m:
                        print(_row(f"baseline: {b}", m), flush=True)
                r = res["rmse"]
                print(f"\nRMSE ({r['model']}): {r['test_rmse']:.4f}; bias {r['bias']:.4f}; "
                      f"global mean {r['global_mean']:.4f}; collab training "
                      f"{res['collab_training']['seconds']:.1f} s\n", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(raw, fh)


if __name__ == "__main__":
    main()
