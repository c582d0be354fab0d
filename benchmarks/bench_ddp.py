"""2-process vs 1-process DDP epoch time on the 5M-rating synthetic set, as a markdown table.

    python benchmarks/make_synthetic.py --ratings 5M --out /tmp/synth-5m     # once (~1.5 min)
    python benchmarks/bench_ddp.py [--data /tmp/synth-5m] [--procs 1 2] [--epochs 2]

Each configuration is a real ``torchrun --nproc-per-node N`` job running the same code path as
``train --distributed`` (recsys_core.runtime.ddp): each rank reads its row-group shard of the parsed
ratings, then trains the rating model (dot_bias, DDP, global batch 8192) and the content autoencoder
(DDP, each rank a share of the movies) for ``--epochs`` epochs. One torch thread per process
(OMP_NUM_THREADS=1), so N processes use N cores; N=1 runs without a process group wrapper (plain loop).
The reported epoch time is the mean over the epochs after the first (the first pays allocation).

On a CPU machine with 2 shared cores this measures the overhead of DDP honestly (gradient all-reduce of
the full embedding tables over gloo every step). Multi-GPU numbers come from running the same script with
``--device cuda`` on a GPU machine (NCCL; one process per GPU) -- none was available when the committed
rows were measured.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(args: argparse.Namespace) -> None:
    """One rank under torchrun: shard, DDP epochs, rank 0 writes the timings as JSON."""
    from dataclasses import replace

    import numpy as np
    import torch

    from recsys_core.config import EngineConfig, FitOptions
    from recsys_core.data import load_dataset
    from recsys_core.runtime import ddp as D
    from recsys_core.training.content import train_content
    from recsys_core.training.rating import RatingRows, train_rating

    dev = D.rank_device(args.device)
    D.init(dev)
    r, w = D.rank(), D.world_size()
    t0 = time.perf_counter()
    folder = D.parsed_folder(load_dataset(args.data)) if r == 0 else None
    folder = Path(D.broadcast_object(str(folder)))
    shard = D.read_ratings_shard(folder / "ratings.parquet", r, w)
    cat = D.open_catalogue(folder)
    t_load = time.perf_counter() - t0

    cfg = EngineConfig()
    opts = FitOptions(epochs=args.epochs, batch_size=8192, lr=3e-3, weight_decay=0.0, patience=0)
    cc = replace(cfg.collab, rating_model="dot_bias", rating_fit=opts)
    D.barrier()
    rows = RatingRows(shard.user, shard.movie, shard.rating, shard.positions)
    with D.sync():
        fitted = train_rating(rows, cat.n_users, cat.n_movies, cat.rating_scale, "dot_bias", cc, dev)
    rh, rm = fitted.history, fitted.metrics
    D.barrier()
    content_cfg = replace(cfg.content, epochs=args.epochs, patience=0)
    with D.sync():
        cm = train_content(cat, content_cfg, dev)
    D.barrier()
    if r == 0:
        later = lambda xs: xs[1:] if len(xs) > 1 else xs  # noqa: E731
        out = {"world": w, "backend": D.backend_name(), "device": str(dev), "threads": torch.get_num_threads(),
               "n_ratings": shard.n_total, "n_users": cat.n_users, "n_movies": cat.n_movies,
               "shard_rows": shard.hi - shard.lo, "row_groups_read": shard.row_groups_read,
               "row_groups_total": shard.row_groups_total, "load_s": t_load,
               "rating_epoch_s": float(np.mean(later(rh["epoch_seconds"]))), "rating_val_rmse": rm["val_rmse"],
               "content_epoch_s": float(np.mean(later(cm.history["epoch_seconds"]))),
               "content_rows": cm.metrics["n_with_content"], "n_terms": cm.metrics["n_terms"]}
        Path(args.result).write_text(json.dumps(out), encoding="utf-8")
    D.shutdown()


def launch(n: int, args: argparse.Namespace, env: dict) -> dict:
    res = Path(tempfile.mkstemp(suffix=".json")[1])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), str(Path(__file__).resolve()), "--worker", "--data", args.data,
           "--epochs", str(args.epochs), "--device", args.device, "--result", str(res)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"torchrun x{n} failed:\n{p.stderr[-3000:]}")
    out = json.loads(res.read_text(encoding="utf-8"))
    out["wall_s"] = time.perf_counter() - t0
    res.unlink()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = "/tmp/recsys-scale/synth-5m" if Path("/tmp/recsys-scale/synth-5m").is_dir() else "/tmp/synth-5m"
    ap.add_argument("--data", default=default)
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL, one GPU per process)")
    ap.add_argument("--artifacts", default="/tmp/recsys-ddp-bench", help="RECSYS_ARTIFACTS_DIR (parsed cache)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--result", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if not Path(args.data).is_dir():
        raise SystemExit(f"{args.data} is missing: python benchmarks/make_synthetic.py --ratings 5M --out {args.data}")
    env = dict(os.environ, RECSYS_ARTIFACTS_DIR=args.artifacts, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    rows = [launch(n, args, env) for n in args.procs]
    base = rows[0]
    print(f"\nDDP epoch time, {base['n_ratings']:,} ratings ({base['n_users']:,} users x {base['n_movies']:,} movies), "
          f"{args.device}, 1 torch thread per process, {os.cpu_count()} cores on this machine\n")
    print("| processes | backend | rating epoch (dot_bias, DDP) | speed-up | content epoch (autoencoder) | speed-up "
          "| rows per rank | row groups read / total | val RMSE | job wall |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['world']} | {r['backend']} | {r['rating_epoch_s']:.1f} s | "
              f"{base['rating_epoch_s'] / r['rating_epoch_s']:.2f}x | {r['content_epoch_s']:.2f} s | "
              f"{base['content_epoch_s'] / r['content_epoch_s']:.2f}x | {r['shard_rows']:,} | "
              f"{r['row_groups_read']} / {r['row_groups_total']} | {r['rating_val_rmse']:.4f} | {r['wall_s']:.0f} s |")


if __name__ == "__main__":
    main()
