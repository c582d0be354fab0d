"""Research for issue #16: which content settings carry more (content-only and cold recall, and the blend's)?

Trains the content model once per variant (content does not use ratings) and runs the evaluation's protocol
(`evaluation.evaluate`, the same split and seed as `python -m recsys_core evaluate`) at α 0.2 (the default) and 1
(content only), with the shipped cold start and thin places; prints one row per variant. Usage::

    python benchmarks/content_research.py --data ../shared/datasets/ml-latest-small
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys_core.config import EngineConfig  # noqa: E402
from recsys_core.data import load_dataset  # noqa: E402
from recsys_core.evaluation import evaluate  # noqa: E402
from recsys_core.runtime.device import resolve_device  # noqa: E402
from recsys_core.training.content import train_content  # noqa: E402

VARIANTS = {
    "shipped (code 100, linear, multinomial)": {},
    "code 200": {"code_dim": 200},
    "code 50": {"code_dim": 50},
    "hidden layer 512": {"hidden_dim": 512},
    "loss cosine": {"loss": "cosine"},
    "loss mse (the write-up's)": {"loss": "mse"},
    "tags x2": {"tag_weight": 2.0},
    "titles x0.4": {"title_weight": 0.4},
    "titles x1.6": {"title_weight": 1.6},
    "decades x1": {"decade_weight": 1.0},
    "min_df 1 (terms of one movie kept)": {"min_df": 1},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    args = ap.parse_args()
    base = EngineConfig()
    dev = resolve_device(base.device).device
    ds = load_dataset(args.data)
    ev_cfg = replace(base.eval, alphas=(0.2, 1.0), baselines=())
    print(f"{ds.name}: {ds.n_movies:,} movies, {len(ds.ratings):,} ratings")
    print("| content variant | content-only Recall@20 / cold | α 0.2 Recall@20 / cold / coherence | "
          "with thin places Recall@20 / cold | train s |\n|---|---|---|---|---|")
    only = {v.strip() for v in args.only.split(",") if v.strip()}
    for name, change in VARIANTS.items():
        if only and name not in only:
            continue
        cc = replace(base.content, **change)
        t0 = time.perf_counter()
        content = train_content(ds, cc, dev)
        sec = time.perf_counter() - t0
        m = evaluate(ds, content.vectors, content.has_vector, base.collab, ev_cfg, dev)
        h, tp = m["hybrid"], m["thin_places"]
        i = m["alphas"].index(0.2)
        c = m["content"]
        w = tp.get("curve", {})
        thin = (f"{w['recall@20'][i]:.4f} / {w['cold_recall@20'][i]:.4f}" if w else "off")
        print(f"| {name} | {c['recall@20']:.4f} / {c['cold_recall@20']:.4f} | {h['recall@20'][i]:.4f} / "
              f"{h['cold_recall@20'][i]:.4f} / {h['genre_coherence'][i]:.3f} | {thin} | {sec:.1f} |", flush=True)


if __name__ == "__main__":
    main()
