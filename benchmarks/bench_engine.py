"""Engine benchmark: cold training, cached open, and one similar() query, as a table (medians of runs).

Usage: python benchmarks/bench_engine.py [--quick] [--runs N] [--small PATH]
Cold training runs in a fresh artifacts folder per run; cached open runs in a fresh process each time
(imports included in "process" time, excluded in "open" time).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_CHILD = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from recsys_core import Explorer
t1 = time.perf_counter()
ex = Explorer.open({data!r}, train={train})
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "open_s": t2 - t1, "timings": ex.manifest.get("timings"), "device": ex.device,
                  "n_movies": ex.dataset.n_movies}}))
"""


def _child(data: str, train: bool, artifacts: str) -> dict:
    env = dict(os.environ, RECSYS_ARTIFACTS_DIR=artifacts)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(ROOT), data=data, train=train)],
                         capture_output=True, text=True, env=env, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - t
    return res


def bench_dataset(name: str, data: str, runs: int, open_runs: int) -> list[tuple[str, str, str]]:
    rows = []
    colds, last = [], None
    with tempfile.TemporaryDirectory(prefix="bench-art-") as keep:
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="bench-cold-") as art:
                last = _child(data, True, art)
                colds.append(last["open_s"])
        last = _child(data, True, keep)  # the artifact the cached opens read
        opens = [_child(data, False, keep) for _ in range(open_runs)]
    t = last["timings"] or {}
    rows.append((name, "full training, cold cache (s)", f"{statistics.median(colds):.1f}  "
                 f"(content {t.get('content', 0):.1f}, space {t.get('space', 0):.1f}, rating {t.get('rating', 0):.1f}, "
                 f"evaluate {t.get('evaluate', 0):.1f}; {last['device']})"))
    rows.append((name, "cached open, in process (s)", f"{statistics.median(o['open_s'] for o in opens):.3f}"))
    rows.append((name, "cached open, whole process (s)", f"{statistics.median(o['process_s'] for o in opens):.2f}  "
                 f"(import {statistics.median(o['import_s'] for o in opens):.2f})"))
    return rows


def bench_query(n: int = 10_000, queries: int = 200) -> list[tuple[str, str, str]]:
    import numpy as np

    from recsys_core.scoring.similarity import Filters, SimilarityIndex

    rng = np.random.default_rng(0)
    idx = SimilarityIndex(rng.normal(size=(n, 100)).astype(np.float32), np.ones(n, bool),
                          rng.normal(size=(n, 256)).astype(np.float32), np.ones(n, bool),
                          rng.integers(0, 500, n), rng.integers(1920, 2020, n).astype(float),
                          rng.random((n, 20)) < 0.15, tuple(f"g{i}" for i in range(20)))
    out = []
    for label, f in (("no filter", None), ("with filters", Filters(min_ratings=10, genres=("g1", "g2")))):
        idx.query(0, 20, 0.5, f)
        ts = []
        for i in range(queries):
            t = time.perf_counter()
            idx.query(int(i * 37 % n), 20, 0.5, f)
            ts.append(time.perf_counter() - t)
        out.append((f"synthetic {n // 1000}k", f"one query, all three top-20 lists, {label} (ms)", f"{statistics.median(ts) * 1e3:.2f}"))
    return out


def bench_similar(data: str, artifacts: str, queries: int = 50) -> list[tuple[str, str, str]]:
    """Explorer.similar() with DataFrames and reasons, on a cached real dataset."""
    import numpy as np

    os.environ["RECSYS_ARTIFACTS_DIR"] = artifacts
    from recsys_core import Explorer

    ex = Explorer.open(data, train=True)
    rows = ex.catalog["n_ratings"].sort_values(ascending=False).index[:queries].to_numpy()
    ex.similar(int(rows[0]))
    ts = []
    for r in rows:
        t = time.perf_counter()
        ex.similar(int(r), k=20, alpha=0.5)
        ts.append(time.perf_counter() - t)
    return [(ex.dataset.name, f"Explorer.similar() incl. DataFrames + why, {ex.dataset.n_movies} movies (ms)",
             f"{np.median(ts) * 1e3:.2f}")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=1, help="cold trainings per dataset (default 1: they are slow)")
    ap.add_argument("--open-runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="query timings only")
    ap.add_argument("--small", default=str(ROOT.parent / "shared" / "datasets" / "ml-latest-small"))
    args = ap.parse_args()
    rows = bench_query()
    if not args.quick:
        rows += bench_dataset("ml-100k", "ml-100k", args.runs, args.open_runs)
        if Path(args.small, "ratings.csv").exists():
            rows += bench_dataset("ml-latest-small", args.small, args.runs, args.open_runs)
            with tempfile.TemporaryDirectory(prefix="bench-sim-") as art:
                rows += bench_similar(args.small, art)
    w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    print(f"{'data':<{w0}}  {'measure':<{w1}}  value")
    for a, b, c in rows:
        print(f"{a:<{w0}}  {b:<{w1}}  {c}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
