"""Reproduce the collaborative-space comparison: space kind x (Recall@20, NDCG@20, coherence, popularity,
coverage) plus the baselines and held-out RMSE, on the issue's per-user 80/20 protocol.

    python benchmarks/collab_research.py ml-100k ml-latest-small [--spaces spectral,dot_bias,rating_net]

Content is stood in by genre multi-hot vectors (this script measures the collaborative side only).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from recsys_core.collab import CollabConfig
from recsys_core.data import load_dataset
from recsys_core.evaluation import EvalConfig, evaluate, genre_matrix

COLS = ("recall@20", "ndcg@20", "genre_coherence", "popularity", "coverage")


def _row(name: str, m: dict) -> str:
    return f"| {name} | " + " | ".join(f"{m[c]:.3f}" for c in COLS) + " |"


def main() -> None:
    """Print one markdown table per dataset and dump the raw reports as JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--spaces", default="spectral,dot_bias,rating_net")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
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
