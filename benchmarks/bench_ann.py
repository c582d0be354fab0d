"""ANN similarity at catalogue scale: recall@20 against exact search, build time, memory, query time.

Builds synthetic clustered embeddings (content and collaborative spaces, d per space, the two spaces'
clusters 50% correlated, each cluster spread over a low-dimensional subspace like learned codes),
indexes them with ``recsys_core.scoring.ann_index.HybridAnn``, samples query movies, and compares against exact
numpy search (matrix product in chunks) for the pure lists and the hybrid blend at several alphas.
Prints a markdown table.

    python benchmarks/bench_ann.py --items 1M [--queries 200] [--kind ivf|hnsw] [--dim 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from threadpoolctl import threadpool_limits  # noqa: E402

from recsys_core.config import AnnConfig  # noqa: E402
from recsys_core.scoring.ann_index import HybridAnn, exact_search, recall_at_k  # noqa: E402

ALPHAS = (1.0, 0.0, 0.3, 0.5, 0.7)  # 1 = content list, 0 = collaborative list


def parse_count(text: str) -> int:
    """Accept 1M / 250k / plain integers."""
    t = text.strip().lower().replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def clustered_unit_vectors(
    n: int, d: int, rng: np.random.Generator, n_clusters: int, labels: np.ndarray | None = None,
    sub: int = 8, spread: float = 0.6, noise: float = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows near random centres, spread in a per-cluster ``sub``-dim subspace plus isotropic noise."""
    centres = rng.standard_normal((n_clusters, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    bases = (rng.standard_normal((n_clusters, d, sub)) / np.sqrt(d)).astype(np.float32)
    lab = rng.integers(0, n_clusters, n) if labels is None else labels
    x = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, 50_000):
        part = lab[s : s + 50_000]
        z = rng.standard_normal((part.size, sub)).astype(np.float32)
        iso = rng.standard_normal((part.size, d)).astype(np.float32) / np.float32(np.sqrt(d))
        x[s : s + part.size] = centres[part] + spread * np.einsum("mds,ms->md", bases[part], z) + noise * iso
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, lab


def two_spaces(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Content and collaborative matrices whose clusters agree for half the movies."""
    rng = np.random.default_rng(seed)
    n_clusters = max(16, n // 1000)
    content, lab = clustered_unit_vectors(n, d, rng, n_clusters)
    lab_cf = np.where(rng.random(n) < 0.5, lab, rng.integers(0, n_clusters, n))
    collab, _ = clustered_unit_vectors(n, d, rng, n_clusters, labels=lab_cf)
    return content, collab


def rss_mb() -> float:
    """Resident memory of this process (Linux), to show what the indexes cost."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def exact_one(content: np.ndarray, collab: np.ndarray, row: int, alpha: float, k: int) -> np.ndarray:
    """What the exact path does per query: blended matrix-vector products + argpartition."""
    s = np.zeros(content.shape[0], dtype=np.float32)
    if alpha > 0:
        s += np.float32(alpha) * (content @ content[row])
    if alpha < 1:
        s += np.float32(1 - alpha) * (collab @ collab[row])
    top = np.argpartition(-s, k - 1)[:k]
    return top[np.argsort(-s[top])]


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one markdown table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", default="1M", help="catalogue size, e.g. 1M, 250k")
    ap.add_argument("--dim", type=int, default=64, help="embedding width per space")
    ap.add_argument("--queries", type=int, default=200, help="sampled query movies for recall")
    ap.add_argument("--timed", type=int, default=50, help="single queries timed per method")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--kind", choices=("ivf", "hnsw"), default=AnnConfig.kind)
    ap.add_argument("--via", choices=("pure", "joint", "both"), default=AnnConfig.hybrid_via)
    ap.add_argument("--nprobe", type=int, default=AnnConfig.nprobe)
    ap.add_argument("--ef-search", type=int, default=AnnConfig.ef_search)
    ap.add_argument("--candidates", type=int, default=AnnConfig.candidates)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    n, k = parse_count(args.items), args.k
    cfg = AnnConfig(
        kind=args.kind, hybrid_via=args.via, nprobe=args.nprobe, ef_search=args.ef_search,
        candidates=args.candidates, seed=args.seed,
    )
    t0 = time.perf_counter()
    content, collab = two_spaces(n, args.dim, args.seed)
    print(f"# {n:,} items, d={args.dim} per space, generated in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    rss0 = rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    ann = HybridAnn.build(content, collab, cfg)
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    index_mb = rss_mb() - rss0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ann.save(tmp)
        save_s = time.perf_counter() - t0
        disk_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20
    print(f"# built in {build_s:.1f} s", file=sys.stderr)

    rng = np.random.default_rng(args.seed + 1)
    rows = rng.choice(n, min(args.queries, n), replace=False)
    joint = np.hstack([content, collab])
    results = []
    for alpha in ALPHAS:
        q = np.hstack([alpha * content[rows], (1 - alpha) * collab[rows]]).astype(np.float32)
        exact_ids = exact_search(joint, q, k)[0]
        approx, ann_t = [], []
        for r in rows:
            t0 = time.perf_counter()
            ids, _ = ann.search(int(r), alpha, k)
            ann_t.append(time.perf_counter() - t0)
            approx.append(np.pad(ids, (0, k - ids.size), constant_values=-1))
        ex_t = {}
        for threads in (None, 1):  # BLAS default threads, and one thread (on a busy box often faster)
            ex_t[threads] = []
            with threadpool_limits(limits=threads):
                for r in rows[: args.timed]:
                    t0 = time.perf_counter()
                    exact_one(content, collab, int(r), alpha, k)
                    ex_t[threads].append(time.perf_counter() - t0)
        exact_s = min(np.median(ex_t[None]), np.median(ex_t[1]))
        results.append((alpha, recall_at_k(exact_ids, np.stack(approx)), np.median(ann_t), exact_s))
        print(f"# alpha={alpha}: recall {results[-1][1]:.3f}", file=sys.stderr)
    del joint

    name = {1.0: "content (alpha=1)", 0.0: "collab (alpha=0)"}
    params = (
        f"IVF-Flat nlist={cfg.nlist or '2*sqrt(n)'} nprobe={cfg.nprobe}" if cfg.kind == "ivf"
        else f"HNSW M={cfg.hnsw_m} efC={cfg.ef_construction} efS={cfg.ef_search}"
    )
    print(f"\n**ANN similarity, {n:,} synthetic items, d={args.dim}/space, {os.cpu_count()} cores** — "
          f"{params}, candidates={cfg.candidates}/index via `{cfg.hybrid_via}` + exact re-score; "
          f"{len(rows)} sampled queries\n")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Build {build_s:.1f} s wall / {build_cpu:.0f} s CPU (all indexes; load average {load:.1f}); memory +{index_mb:.0f} MB RSS; on disk {disk_mb:.0f} MB "
          f"(saved in {save_s:.1f} s)\n")
    print(f"| list | recall@{k} vs exact | ANN query (median) | exact query (median, best of BLAS default / 1 thread) | speed-up |")
    print("|---|---|---|---|---|")
    for alpha, rec, a_t, e_t in results:
        label = name.get(alpha, f"hybrid alpha={alpha}")
        print(f"| {label} | {rec:.3f} | {a_t * 1e3:.2f} ms | {e_t * 1e3:.2f} ms | {e_t / a_t:.1f}x |")


if __name__ == "__main__":
    main()
