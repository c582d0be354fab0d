"""What thin places cost the evaluation: the same evaluation with the places off and on, in one process.

Trains the content model once (or reuses the artifact cache), then runs ``evaluation.evaluate`` twice on the
same content vectors: ``cold_start.thin_places = 0`` and the default. Prints one row per run: seconds, the best
blend's Recall@20 and cold Recall@20 (with the places where on), and coverage. Usage::

    python benchmarks/bench_thin_places.py --data ml-100k --data /tmp/synth-1m-20k
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", required=True)
    args = ap.parse_args()
    cfg = EngineConfig()
    dev = resolve_device(cfg.device).device
    print("| data | thin places | evaluate (s) | Recall@20 | cold Recall@20 | coverage |\n|---|---|---|---|---|---|")
    for data in args.data:
        ds = load_dataset(data)
        content = train_content(ds, cfg.content, dev)
        for strength in (0.0, cfg.collab.cold_start.thin_places):
            collab = replace(cfg.collab, cold_start=replace(cfg.collab.cold_start, thin_places=strength))
            t0 = time.perf_counter()
            m = evaluate(ds, content.vectors, content.has_vector, collab, cfg.eval, dev)
            sec = time.perf_counter() - t0
            tp = m["thin_places"]
            row = tp["with"] if tp.get("enabled") else m["best_hybrid"]
            cold = row["cold_recall@20"]
            print(f"| {ds.name} | {strength:g} | {sec:.1f} | {row['recall@20']:.4f} | {cold:.4f} | "
                  f"{row['coverage']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
