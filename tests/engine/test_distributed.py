"""DDP training: `torchrun --nproc-per-node 2` with gloo on this CPU machine vs single-process training.

The slow test launches ``python -m torch.distributed.run --nproc-per-node 2 -m recsys_core train --distributed``
on the bundled ml-100k (5 content epochs; the rating model is dot_bias, the one DDP can train) with
RECSYS_ARTIFACTS_DIR in tmp and OMP_NUM_THREADS=1 per process, then checks that the artifact verifies
(manifest checksums), opens through ``Explorer.open(..., train=False)`` as the app does, and reaches
single-process quality with the same config:

* rating model validation RMSE within RMSE_TOL (0.02) -- both hold out ~5% of ratings at random (the
  DDP run picks them by a hash of the rating's row, so the split does not depend on the world size);
* held-out Recall@20 of the collab list, the hybrid at alpha 0.5 and the content list within RECALL_TOL (0.02).

The fast tests cover the pieces: row-group shard reads, the world-size-free split, the all-reduced bias
fit (== collab.fit_biases in one process) and that fit() is unchanged outside a DDP stage.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

RMSE_TOL = 0.02
RECALL_TOL = 0.02
CONTENT_EPOCHS = 5
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config():
    from recsys_core.config import EngineConfig

    cfg = EngineConfig()
    return replace(cfg, content=replace(cfg.content, epochs=CONTENT_EPOCHS),
                   collab=replace(cfg.collab, rating_model="dot_bias"))


# ---------------------------------------------------------------- fast pieces

def test_shard_reads_only_overlapping_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from recsys_core.runtime.ddp import read_ratings_shard, shard_bounds

    n = 10_000
    t = pa.table({"user": np.arange(n, dtype=np.int32), "movie": (np.arange(n) % 7).astype(np.int32),
                  "rating": np.linspace(0.5, 5, n).astype(np.float32), "timestamp": np.zeros(n, np.int64)})
    pq.write_table(t, tmp_path / "ratings.parquet", row_group_size=1000)
    parts = [read_ratings_shard(tmp_path / "ratings.parquet", r, 3) for r in range(3)]
    assert np.array_equal(np.concatenate([p.user for p in parts]), np.arange(n))
    for r, p in enumerate(parts):
        assert (p.lo, p.hi) == shard_bounds(n, r, 3)
        assert p.row_groups_total == 10 and p.row_groups_read <= 5  # its ~3.3 groups, never all ten


def test_split_does_not_depend_on_world_size():
    from recsys_core.runtime.ddp import shard_bounds
    from recsys_core.training.splits import validation_mask

    pos = np.arange(100_000)
    whole = validation_mask(pos, 0.05, 42)
    assert abs(whole.mean() - 0.05) < 0.005
    for w in (2, 3):
        parts = [validation_mask(pos[slice(*shard_bounds(len(pos), r, w))], 0.05, 42) for r in range(w)]
        assert np.array_equal(np.concatenate(parts), whole)
    assert not np.array_equal(validation_mask(pos, 0.05, 43), whole)


def test_allreduce_bias_fit_equals_single_process():
    """Outside a process group the all-reduces are the identity: the bias fit is the plain closed form."""
    from recsys_core.training.rating import fit_biases

    rng = np.random.default_rng(0)
    u, m = rng.integers(0, 50, 3000), rng.integers(0, 80, 3000)
    y = rng.uniform(1, 5, 3000).astype(np.float32)
    a = fit_biases(u, m, y, 50, 80, 5.0)
    mu = float(y.mean())
    bu, bm = np.zeros(50), np.zeros(80)
    for _ in range(8):
        bm = np.bincount(m, y - mu - bu[u], 80) / (np.bincount(m, minlength=80) + 5.0)
        bu = np.bincount(u, y - mu - bm[m], 50) / (np.bincount(u, minlength=50) + 5.0)
    b = (mu, bu, bm)
    assert a[0] == pytest.approx(b[0])
    assert np.allclose(a[1], b[1], atol=1e-6) and np.allclose(a[2], b[2], atol=1e-6)


def test_fit_is_unchanged_outside_a_ddp_stage():
    import torch

    from recsys_core.config import FitOptions
    from recsys_core.runtime import ddp as distributed
    from recsys_core.training.loop import fit

    assert distributed.sync_world() == 1 and distributed.local_positions(np.arange(5)).tolist() == [0, 1, 2, 3, 4]
    net = torch.nn.Linear(3, 1)
    assert distributed.ddp_wrap(net) is net
    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), torch.randn(64, 1)
    seen = []

    def batch_loss(idx):
        seen.append(len(idx))
        return (net(x[idx]) - y[idx]).pow(2).mean()

    fit(net, 64, batch_loss, lambda: float((net(x) - y).pow(2).mean()),
        FitOptions(epochs=2, batch_size=16, lr=1e-2, weight_decay=0.0, patience=0),
        torch.device("cpu"), torch.Generator().manual_seed(0))
    assert seen == [16] * 8


def test_train_distributed_needs_torchrun(monkeypatch):
    from recsys_core.errors import ConfigError
    from recsys_core.runtime.ddp import init

    for v in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(v, raising=False)
    with pytest.raises(ConfigError, match="torchrun"):
        init()


def test_train_help_documents_torchrun():
    from recsys_core.cli import build_parser

    p = build_parser()
    text = p._subparsers._group_actions[0].choices["train"].format_help()
    assert "--distributed" in text and "--nproc-per-node N" in text
    assert "--rdzv-backend c10d --rdzv-endpoint HOST:29400" in text


# ---------------------------------------------------------------- torchrun, 2 processes, gloo

@pytest.mark.slow
def test_torchrun_two_processes_matches_single_process(tmp_path, monkeypatch):
    from recsys_core.explorer import Explorer
    from recsys_core.store import ArtifactStore

    cfg = _config()
    ddp_dir, sp_dir = tmp_path / "ddp", tmp_path / "single"
    env = dict(os.environ, RECSYS_ARTIFACTS_DIR=str(ddp_dir), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("RECSYS_DEVICE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), "-m", "recsys_core", "train", "--data", "ml-100k", "--distributed",
           "--device", "cpu", "--content-epochs", str(CONTENT_EPOCHS), "--rating-model", "dot_bias", "--quiet"]
    run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "processes" in run.stdout and "ml-100k" in run.stdout

    # complete: the manifest's checksums verify, and the app's loader opens it without training
    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(ddp_dir))
    ddp_cfg = replace(cfg, device="cpu")
    store = ArtifactStore(ddp_dir)
    ex = Explorer.open("ml-100k", ddp_cfg, train=False, store=store)
    art, why = store.verify(ex.artifact.path)
    assert art is not None, why
    assert set(art.manifest["files"]) >= {"content_vectors.npy", "collab_vectors.npy"}
    d = ex.manifest["distributed"]
    assert d["world_size"] == 2 and d["backend"] == "gloo" and d["rating_model"] == "dot_bias"
    assert ex.manifest["collab_metrics"]["world_size"] == 2
    sim = ex.similar(ex.resolve("Star Wars (1977)"), k=10)
    assert len(sim.hybrid) == 10 and len(sim.content) == 10
    assert not ex.missing()  # rank 0 finished every stage: the rating model and the evaluation are there

    # served as it is by the one-process CLI: --no-train refuses any training or evaluation, and none is logged
    flags = ["--data", "ml-100k", "--device", "cpu", "--content-epochs", str(CONTENT_EPOCHS), "--no-train"]
    one = dict(env, OMP_NUM_THREADS="2")
    for sub in (["similar", "--movie", "Star Wars (1977)", "-k", "5"], ["evaluate", "--json"],
                ["similar", "--movie", "Star Wars (1977)", "--rating-model", "dot_bias"]):
        r = subprocess.run([sys.executable, "-m", "recsys_core", *sub, *flags], cwd=REPO, env=one,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (sub, r.stderr[-2000:])
        assert not re.search(r"training it|computing it|Measuring", r.stderr), (sub, r.stderr[-2000:])

    # single process, same config, its own artifacts folder
    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(sp_dir))
    ref = Explorer.open("ml-100k", ddp_cfg, train=True, store=ArtifactStore(sp_dir))

    def quality(e):
        m = e.metrics
        a = m["alphas"].index(0.5)
        return {"val_rmse": e.manifest["collab_metrics"]["val_rmse"], "collab_recall": m["collab"]["recall@20"],
                "hybrid_recall": m["hybrid"]["recall@20"][a], "content_recall": m["content"]["recall@20"]}

    got, want = quality(ex), quality(ref)
    print(f"\nDDP x2 {got}\nsingle {want}")
    assert abs(got["val_rmse"] - want["val_rmse"]) <= RMSE_TOL, (got, want)
    for k in ("collab_recall", "hybrid_recall", "content_recall"):
        assert abs(got[k] - want[k]) <= RECALL_TOL, (k, got, want)
