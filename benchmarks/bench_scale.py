"""Scale benchmark: every pipeline stage on synthetic MovieLens-shaped data of 1M / 5M / 25M ratings.

    python benchmarks/bench_scale.py --sizes 1M,5M,25M [--genome] [--work /tmp/recsys-scale]

Generates (or reuses) the datasets with benchmarks/make_synthetic.py under the work dir, then runs each
stage in a fresh subprocess (RECSYS_ARTIFACTS_DIR inside the work dir, so nothing touches the repo's
cache) and prints one markdown table per size. Each stage reports its own peak RSS (ru_maxrss of the
subprocess); "pipeline" is the whole Explorer.open build (content + collab + rating model + evaluation),
whose peak is the figure the <8 GiB goal is about. Training stages use the product's own device choice
(RECSYS_DEVICE, else CUDA when present, else the CPU), so the same command measures a GPU machine.
The app's cold start to the first list in the browser is measured by benchmarks/bench_ui.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGES = ("parse_first", "parse_cached", "content", "space", "rating", "itemknn", "pipeline", "query", "umap",
          "umap_cached", "index", "umap_raw")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _device():
    """The device the product itself would train on (RECSYS_DEVICE, else CUDA when present, else CPU)."""
    from recsys_core.runtime.device import resolve_device

    return resolve_device().device


def _sync() -> None:
    """Wait for queued GPU work so a stage's clock stops when its work is done."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _load(data: str):
    from recsys_core.data import load_dataset

    return load_dataset(data)


# ---------------------------------------------------------------- stages (each runs in its own process)


def stage_parse_first(data: str) -> dict:
    from recsys_core.data.cache import parsed_dir

    shutil.rmtree(parsed_dir(), ignore_errors=True)
    t0 = time.perf_counter()
    ds = _load(data)
    return {"seconds": time.perf_counter() - t0, "ratings": len(ds.ratings), "movies": ds.n_movies,
            "users": ds.n_users, "genome": ds.genome is not None}


def stage_parse_cached(data: str) -> dict:
    t0 = time.perf_counter()
    ds = _load(data)
    return {"seconds": time.perf_counter() - t0, "ratings": len(ds.ratings)}


def stage_content(data: str) -> dict:
    from recsys_core.config import ContentConfig
    from recsys_core.training.content import train_content

    ds = _load(data)
    t0 = time.perf_counter()
    m = train_content(ds, ContentConfig(), _device())
    _sync()
    sec = time.perf_counter() - t0
    h = m.history if isinstance(m.history, dict) else {}
    return {"seconds": sec, "epochs": len(h.get("train", []) or []), "terms": int(m.tfidf.shape[1]),
            "has_vector": int(m.has_vector.sum())}


def stage_space(data: str) -> dict:
    from recsys_core.config import CollabConfig
    from recsys_core.training.collab import spectral_space

    ds = _load(data)
    cfg = CollabConfig()
    t0 = time.perf_counter()
    _, has, info = spectral_space(ds, cfg, _device())
    _sync()
    return {"seconds": time.perf_counter() - t0, "method": info["method"], "rank": info["rank"]}


def stage_rating(data: str) -> dict:
    """Per-epoch time of each rating model: two Gibbs sweeps of bayes_mf, one epoch each of dot_bias/entity_net."""
    import numpy as np

    from recsys_core.config import CollabConfig, FitOptions
    from recsys_core.models.rating_nets import BayesMF
    from recsys_core.runtime.device import seed_everything
    from recsys_core.training.rating import RatingRows, train_rating

    ds = _load(data)
    r = ds.ratings
    n = len(r)
    out: dict = {"ratings": n}
    dev = _device()
    out["device"] = str(dev)
    gen = seed_everything(0)
    t0 = time.perf_counter()
    bm = BayesMF(ds.n_users, ds.n_movies, 20, 64, float(r.rating.mean()), gen, 0, dev)
    bm.set_ratings(r.user.astype(np.int64), r.movie.astype(np.int64), r.rating)
    out["bayes_setup_s"] = time.perf_counter() - t0
    sweeps = []
    for _ in range(2):
        t1 = time.perf_counter()
        bm.sweep()
        _sync()
        sweeps.append(time.perf_counter() - t1)
    out["bayes_sweep_s"] = min(sweeps)
    del bm
    for kind in ("dot_bias", "entity_net"):
        base = CollabConfig().fit_for(kind, n)  # the loop options the product uses at this size
        opts = FitOptions(epochs=1, batch_size=base.batch_size, lr=base.lr, weight_decay=base.weight_decay,
                          patience=0)
        cfg = CollabConfig(rating_model=kind, rating_fit=opts)
        rows = RatingRows.every(ds.ratings.user, ds.ratings.movie, ds.ratings.rating)
        fitted = train_rating(rows, ds.n_users, ds.n_movies, ds.rating_scale, kind, cfg, dev)
        metrics = fitted.metrics
        out[f"{kind}_epoch_s"] = metrics["seconds"]
        out[f"{kind}_val_rmse"] = metrics["val_rmse"]
        out[f"{kind}_ratings_per_s"] = metrics["n_train"] / metrics["seconds"]
    return out


def stage_itemknn(data: str) -> dict:
    """The evaluation's item-kNN baseline on its own (the evaluation's costliest part at 25M): ranking the
    sampled users' held-out movies, then the genre coherence of every movie's neighbours."""
    from recsys_core import evaluation as ev
    from recsys_core.config import EvalConfig

    ds = _load(data)
    cfg = EvalConfig()
    train, test = ev.split_ratings(ds, cfg)
    proto = ev.build_protocol(ds, train, test, cfg, _device())
    t0 = time.perf_counter()
    scorer, neigh = ev.itemknn(proto)
    t1 = time.perf_counter()
    ev.rank_users(proto, scorer, None, stage="baseline:itemknn")
    _sync()
    t2 = time.perf_counter()
    ev.coherence_of(proto, neigh)
    _sync()
    return {"setup_s": t1 - t0, "rank_s": t2 - t1, "coherence_s": time.perf_counter() - t2,
            "users": int(len(proto.users))}


def stage_pipeline(data: str) -> dict:
    from recsys_core import EngineConfig, Explorer

    root = Path(os.environ["RECSYS_ARTIFACTS_DIR"])
    for old in (root.iterdir() if root.is_dir() else ()):  # a model built before would only be loaded
        if old.is_dir() and old.name not in ("parsed", "numba"):
            shutil.rmtree(old)
    t0 = time.perf_counter()
    ex = Explorer.open(data, EngineConfig(), train=True)
    sec = time.perf_counter() - t0
    man = ex.manifest
    m = man.get("metrics", {})
    cm = man.get("collab_metrics", {})
    return {"seconds": sec, "device": man.get("device"), "timings": man.get("timings", {}),
            "rating_model": cm.get("rating_model"),
            "rating_seconds": cm.get("rating_seconds"), "rating_epochs": cm.get("epochs"),
            "space_seconds": cm.get("space_seconds"), "val_rmse": cm.get("val_rmse"),
            "test_rmse": (m.get("rmse") or {}).get("test_rmse"), "eval_users": m.get("n_users"),
            "best_recall": (m.get("best_hybrid") or {}).get(f"recall@{m.get('k', 20)}"),
            "baselines": {k: ("skipped" if "skipped" in v else round(v.get(f"recall@{m.get('k', 20)}", 0), 4))
                          for k, v in (m.get("baselines") or {}).items()},
            "notes": [n for n in (cm.get("notes") or [])]}


def stage_query(data: str) -> dict:
    import numpy as np

    from recsys_core import EngineConfig, Explorer

    t0 = time.perf_counter()
    ex = Explorer.open(data, EngineConfig(), train=False)
    open_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    rows = rng.choice(np.flatnonzero(ex.catalog["has_collab"].to_numpy()), 51, replace=False)
    t1 = time.perf_counter()
    ex.similar(int(rows[0]))
    first = time.perf_counter() - t1
    times = []
    for r in rows[1:]:
        t1 = time.perf_counter()
        ex.similar(int(r))
        times.append(time.perf_counter() - t1)
    return {"open_s": open_s, "first_ms": first * 1e3, "median_ms": float(np.median(times)) * 1e3,
            "p90_ms": float(np.percentile(times, 90)) * 1e3}


def stage_umap(data: str) -> dict:
    from recsys_core import EngineConfig, Explorer

    ex = Explorer.open(data, EngineConfig(), train=False)
    out = {}
    for space in ("content", "collab"):
        t0 = time.perf_counter()
        xy = ex.projection(space)
        out[f"{space}_s"] = time.perf_counter() - t0
        out[f"{space}_points"] = int((~(xy != xy).any(1)).sum())
    return out


def stage_umap_cached(data: str) -> dict:
    from recsys_core import EngineConfig, Explorer

    ex = Explorer.open(data, EngineConfig(), train=False)
    t0 = time.perf_counter()
    for space in ("content", "collab"):
        ex.projection(space)
    return {"seconds": time.perf_counter() - t0}


def _clustered(n: int, d: int, seed: int):
    """Unit vectors from a 40-cluster Gaussian mixture: a stand-in embedding with the catalogue's size."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (40, d)).astype(np.float32)[rng.integers(0, 40, n)]
    x += 0.6 * rng.normal(0, 1, (n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def stage_index(data: str) -> dict:
    """The similarity index's three lists (content, collab, hybrid) for one movie, without a trained artifact:
    the catalogue's size with stand-in 100-d / 256-d vectors (similar() adds its "why" texts and frames)."""
    import numpy as np

    from recsys_core import Explorer
    from recsys_core.scoring.similarity import SimilarityIndex

    ds = _load(data)
    n = ds.n_movies
    g, names = Explorer._genre_matrix(ds)
    import pandas as pd

    years = pd.to_numeric(ds.movies["year"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    idx = SimilarityIndex(_clustered(n, 100, 1), np.ones(n, bool), _clustered(n, 256, 2), np.ones(n, bool),
                          np.bincount(ds.ratings.movie, minlength=n), years, g, names)
    rows = np.random.default_rng(0).choice(n, 51, replace=False)
    idx.query(int(rows[0]), 20, 0.5, None)
    times = []
    for r in rows[1:]:
        t0 = time.perf_counter()
        idx.query(int(r), 20, 0.5, None)
        times.append(time.perf_counter() - t0)
    return {"median_ms": float(np.median(times)) * 1e3, "p90_ms": float(np.percentile(times, 90)) * 1e3,
            "movies": n}


def stage_umap_raw(data: str) -> dict:
    """UMAP of the catalogue's size (stand-in clustered 100-d vectors), as projection.umap_2d runs it."""
    import numpy as np

    from recsys_core.config import ProjectionConfig
    from recsys_core.projection import umap_2d

    ds = _load(data)
    n = ds.n_movies
    t0 = time.perf_counter()
    xy = umap_2d(_clustered(n, 100, 3), np.ones(n, bool), ProjectionConfig(),
                 str(Path(os.environ["RECSYS_ARTIFACTS_DIR"]) / "numba"))
    return {"seconds": time.perf_counter() - t0, "points": int(np.isfinite(xy).all(1).sum()),
            "n_epochs": ProjectionConfig().epochs_for(n)}


# ---------------------------------------------------------------- driver


def run_stage(name: str, data: Path, work: Path, timeout: float, threads: int = 0) -> dict:
    env = dict(os.environ, RECSYS_ARTIFACTS_DIR=str(work / "artifacts" / data.name), PYTHONUNBUFFERED="1")
    if threads:  # on a loaded machine 2 spinning OpenMP threads ran sparse epochs 16x slower than 1 thread
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, __file__, "--stage", name, "--data", str(data)], env=env,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    line = next((ln for ln in reversed(p.stdout.splitlines()) if ln.startswith("RESULT ")), None)
    if p.returncode != 0 or line is None:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return {"error": f"rc={p.returncode}: {' | '.join(tail)}", "wall_s": wall}
    res = json.loads(line[len("RESULT "):])
    res["wall_s"] = wall
    return res


def _f(x, fmt="{:.1f}") -> str:
    return "–" if x is None else fmt.format(x)


def table(size: str, res: dict, load: str) -> str:
    def g(stage, key, fmt="{:.1f}"):
        r = res.get(stage) or {}
        if "error" in r:
            return f"error ({r['error'][:80]})"
        return _f(r.get(key), fmt)

    rss = {k: v.get("rss_mib") for k, v in res.items() if isinstance(v, dict) and v.get("rss_mib")}
    pf = res.get("parse_first") or {}
    pipe = res.get("pipeline") or {}
    t = pipe.get("timings") or {}
    rows = [
        ("dataset", f"{pf.get('ratings', '?'):,} ratings, {pf.get('movies', '?'):,} movies, "
                    f"{pf.get('users', '?'):,} users, genome={pf.get('genome')}" if "ratings" in pf else "?"),
        ("parse, first / cached (s)", f"{g('parse_first', 'seconds')} / {g('parse_cached', 'seconds', '{:.2f}')}"),
        ("content: TF-IDF + autoencoder (s)", f"{g('content', 'seconds')} ({g('content', 'epochs', '{}')} epochs)"),
        ("collab space: spectral (s)", f"{g('space', 'seconds')} ({g('space', 'method', '{}')})"),
        ("bayes_mf Gibbs sweep (s) / ratings/s",
         f"{g('rating', 'bayes_sweep_s')} / {_f((res.get('rating') or {}).get('ratings', 0) / ((res.get('rating') or {}).get('bayes_sweep_s') or 1e9) / 1e6, '{:.2f}')}M"),
        ("dot_bias epoch (s) / ratings/s",
         f"{g('rating', 'dot_bias_epoch_s')} / {_f(((res.get('rating') or {}).get('dot_bias_ratings_per_s') or 0) / 1e6, '{:.2f}')}M"),
        ("entity net epoch (s) / ratings/s",
         f"{g('rating', 'entity_net_epoch_s')} / {_f(((res.get('rating') or {}).get('entity_net_ratings_per_s') or 0) / 1e6, '{:.2f}')}M"),
        ("evaluation's item-kNN baseline: rank users / genre coherence (s)",
         f"{g('itemknn', 'rank_s')} / {g('itemknn', 'coherence_s')} ({g('itemknn', 'users', '{}')} users)"),
        ("whole build (Explorer.open, s)",
         f"{g('pipeline', 'seconds')} (content {_f(t.get('content'))}, space {_f(t.get('space'))}, "
         f"rating {_f(t.get('rating'))} [rating model {pipe.get('rating_model')}: {_f(pipe.get('rating_seconds'))} s, "
         f"{pipe.get('rating_epochs')} epochs], evaluation {_f(t.get('evaluate'))})"),
        ("evaluation users / best hybrid recall@20 / baselines",
         f"{pipe.get('eval_users')} / {_f(pipe.get('best_recall'), '{:.3f}')} / {pipe.get('baselines')}"),
        ("peak RSS, whole build (GiB)", _f((rss.get("pipeline") or 0) / 1024, "{:.2f}")),
        ("peak RSS, max over stages (GiB)", _f(max(rss.values(), default=0) / 1024, "{:.2f}")),
        ("similar(): three lists, median of 50 (ms)",
         f"{g('query', 'median_ms')} (p90 {g('query', 'p90_ms')}, first {g('query', 'first_ms')}, "
         f"open {g('query', 'open_s', '{:.2f}')} s)"),
        ("UMAP content / collab, first time (s)", f"{g('umap', 'content_s')} / {g('umap', 'collab_s')}"),
        ("UMAP both, from the cache (s)", g("umap_cached", "seconds", "{:.2f}")),
        ("index query, three lists, stand-in vectors, median of 50 (ms)",
         f"{g('index', 'median_ms', '{:.2f}')} (p90 {g('index', 'p90_ms', '{:.2f}')})"),
        ("UMAP, stand-in vectors, first call in a fresh process (s)",
         f"{g('umap_raw', 'seconds')} ({g('umap_raw', 'points', '{}')} points, {g('umap_raw', 'n_epochs', '{}')} epochs)"),
    ]
    dev = next((v["device"] for v in res.values() if isinstance(v, dict) and v.get("device")), "cpu")
    out = [f"### {size} ratings (training on {dev}; load average {load})", "", "| stage | measured |", "|---|---|"]
    out += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1M,5M")
    ap.add_argument("--genome", action="store_true")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("RECSYS_SCALE_DIR", "/tmp/recsys-scale")))
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--threads", type=int, default=0, help="OMP/torch threads per stage (0 = torch's default)")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--table", type=Path, help="print the tables of a --json file and exit")
    args = ap.parse_args(argv)
    if args.table:
        for size, res in json.loads(args.table.read_text()).items():
            print(table(size, {k: v for k, v in res.items() if k != "load"}, res.get("load", "?")) + "\n")
        return 0

    if args.stage:  # worker mode
        import warnings

        warnings.simplefilter("ignore")
        res = globals()[f"stage_{args.stage}"](args.data)
        res["rss_mib"] = _rss_mib()
        print("RESULT " + json.dumps(res, default=str), flush=True)
        return 0

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import make_synthetic

    stages = [s for s in args.stages.split(",") if s]
    all_res = {}
    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        data = args.work / f"synth-{size.lower()}{'-genome' if args.genome else ''}"
        if not (data / "ratings.csv").exists():
            info = make_synthetic.make(make_synthetic.parse_count(size), data, args.genome, 7)
            print(f"# generated {info}", file=sys.stderr)
        res: dict = {}
        load0 = os.getloadavg()[0]
        for st in stages:
            print(f"# {size}: {st} ...", file=sys.stderr, flush=True)
            res[st] = run_stage(st, data, args.work, args.timeout, args.threads)
            print(f"#   {json.dumps(res[st], default=str)[:400]}", file=sys.stderr, flush=True)
            if args.json:  # after every stage, so an interrupted run still leaves its figures
                args.json.write_text(json.dumps({**all_res, size: {"load": "partial", **res}}, indent=1, default=str))
        load = f"{load0:.1f} -> {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores, threads={args.threads or 'default'}"
        all_res[size] = {"load": load, **res}
        print(table(size, res, load) + "\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(all_res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
