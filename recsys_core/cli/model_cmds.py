"""Model subcommands (train, similar, evaluate, predict, export): thin wrappers over the Explorer facade."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

DEFAULT_DATA = "ml-100k"
DISTRIBUTED_HELP = """\
distributed training (--distributed, launched with torchrun; see docs/SCALING_OUT.md):
  one node, N processes (N GPUs with NCCL, or N CPU processes with gloo):
    torchrun --nproc-per-node N -m recsys_core train --data X --distributed
  several nodes: run the same command on every node; HOST:29400 is any one node, reachable by all:
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \\
        -m recsys_core train --data X --distributed
  every node needs the dataset at the same path (or a shared RECSYS_ARTIFACTS_DIR with its parsed cache);
  the rating model is dot_bias under DDP (bayes_mf, a Gibbs sampler, falls back to it with a notice);
  open the result with --rating-model dot_bias (the artifact is keyed by the config actually trained).
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Register the model subcommands."""
    p = sub.add_parser("train", help="train (or reuse) the content and collaborative models of a dataset",
                       epilog=DISTRIBUTED_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--distributed", action="store_true",
                   help="train under torch.distributed DDP; launch with torchrun (see below): each rank reads its "
                        "shard of the ratings, rank 0 writes the artifact. NCCL on GPUs, gloo on CPUs.")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("similar", help="the content, collaborative and hybrid lists of one movie")
    _common(p)
    p.add_argument("--movie", required=True, help="a title (typos are fine) or a MovieLens movieId")
    p.add_argument("--alpha", type=float, default=None, help="content weight in [0, 1] (default: the saved default)")
    p.add_argument("-k", type=int, default=20, help="list length (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("evaluate", help="held-out Recall/NDCG@20, coherence, popularity, coverage and RMSE")
    _common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predicted ratings for userId,movieId pairs with the collaborative rating model")
    _common(p)
    p.add_argument("--pairs", required=True, type=Path, help="CSV with userId,movieId columns")
    p.add_argument("--out", required=True, type=Path, help="CSV to write: userId,movieId,prediction,unknown")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="write movies.csv, content.npy, collab.npy and neighbors.csv")
    _common(p)
    p.add_argument("--out", required=True, type=Path, help="folder to write into (created)")
    p.add_argument("--alpha", type=float, default=None, help="content weight of neighbors.csv (default: the saved default)")
    p.add_argument("-k", type=int, default=20, help="neighbours per movie (default: %(default)s)")
    p.set_defaults(func=cmd_export)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=DEFAULT_DATA, help="dataset name or folder/.zip in any MovieLens layout (default: %(default)s)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda[:N] or mps (default: RECSYS_DEVICE or auto)")
    p.add_argument("--seed", type=int, default=None, help="seed of every model and split")
    p.add_argument("--content-epochs", type=int, default=None, help="autoencoder epochs")
    p.add_argument("--code-dim", type=int, default=None, help="content embedding size")
    p.add_argument("--hidden-dim", type=int, default=None, help="autoencoder hidden layer (0 = none)")
    p.add_argument("--content-loss", choices=("multinomial", "mse", "cosine"), default=None)
    p.add_argument("--collab-space", default=None, help="collaborative space (see CollabConfig.space)")
    p.add_argument("--collab-dim", type=int, default=None, help="collaborative embedding size")
    p.add_argument("--rating-model", default=None, help="rating model for predict (see CollabConfig.rating_model)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _config(args: argparse.Namespace):
    """EngineConfig from the defaults plus whatever flags were given."""
    from ..config import EngineConfig

    cfg = EngineConfig()
    content: dict[str, Any] = {}
    collab: dict[str, Any] = {}
    if args.seed is not None:
        content["seed"] = collab["seed"] = args.seed
    for flag, field in (("content_epochs", "epochs"), ("code_dim", "code_dim"), ("hidden_dim", "hidden_dim"), ("content_loss", "loss")):
        if getattr(args, flag) is not None:
            content[field] = getattr(args, flag)
    for flag, field in (("collab_space", "space"), ("collab_dim", "dim"), ("rating_model", "rating_model")):
        if getattr(args, flag) is not None:
            collab[field] = getattr(args, flag)
    cfg = replace(cfg, content=replace(cfg.content, **content), collab=replace(cfg.collab, **collab))
    if args.device:
        cfg = replace(cfg, device=args.device)
    return cfg


class _Bar:
    """One progress line per stage on stderr (a bar when the epoch count is known)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet or not hasattr(sys.stderr, "write")
        self.stage = ""
        self.tty = sys.stderr.isatty()

    def __call__(self, ev: Any) -> None:
        if self.quiet:
            return
        if ev.stage != self.stage and self.stage:
            sys.stderr.write("\n")
        self.stage = ev.stage
        line = f"{ev.stage:<10}"
        if ev.epoch is not None and ev.epochs:
            frac = min(1.0, ev.epoch / ev.epochs)
            n = int(frac * 24)
            line += f" [{'#' * n}{'.' * (24 - n)}] {ev.epoch}/{ev.epochs}"
        for k, v in list((ev.metrics or {}).items())[:3]:
            if isinstance(v, (int, float)) and math.isfinite(v):
                line += f"  {k} {v:.4g}"
        if ev.eta_s is not None and math.isfinite(ev.eta_s) and ev.eta_s > 0:
            line += f"  ~{ev.eta_s:.0f}s left"
        if ev.message:
            line += f"  {ev.message}"
        sys.stderr.write(("\r" if self.tty else "") + line[:150] + ("" if self.tty else "\n"))
        sys.stderr.flush()

    def close(self) -> None:
        if not self.quiet and self.stage and self.tty:
            sys.stderr.write("\n")


def _open(args: argparse.Namespace):
    from ..explorer import Explorer

    bar = _Bar(getattr(args, "quiet", False))
    try:
        ex = Explorer.open(args.data, _config(args), train=True, progress=bar)
    finally:
        bar.close()
    return ex


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _summary_rows(ex) -> list[tuple[str, str]]:
    m = ex.manifest
    t = m.get("timings") or {}
    cm = m.get("content_metrics") or {}
    km = m.get("collab_metrics") or {}
    rows = [
        ("dataset", f"{ex.dataset.name} ({ex.dataset.n_movies} movies, {ex.dataset.n_users} users, {len(ex.dataset.ratings)} ratings)"),
        ("artifact", str(ex.artifact.path)),
        ("device", ex.device),
        ("trained", str(m.get("created", "?"))),
    ]
    rows += [(f"time {k}", f"{v:.1f} s") for k, v in t.items() if isinstance(v, (int, float))]
    rows += [(f"content {k}", _fmt(v)) for k, v in cm.items() if isinstance(v, (int, float))]
    rows += [(f"collab {k}", _fmt(v)) for k, v in km.items() if isinstance(v, (int, float))]
    met = ex.metrics
    if "best_alpha" in met:
        rows.append(("best alpha", _fmt(met["best_alpha"])))
    rows.append(("default alpha", _fmt(ex.default_alpha)))
    return rows


def _table(rows: list[tuple[str, str]]) -> str:
    w = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def cmd_train(args: argparse.Namespace) -> int:
    """Train (or reuse) and print a summary table."""
    start = time.perf_counter()
    if getattr(args, "distributed", False):
        return _train_distributed(args, start)
    ex = _open(args)
    for n in ex.notices:
        print(f"note: {n}", file=sys.stderr)
    print(_table(_summary_rows(ex) + [("this command", f"{time.perf_counter() - start:.1f} s")]))
    return 0


def _train_distributed(args: argparse.Namespace, start: float) -> int:
    """One rank of a torchrun job: train under DDP; rank 0 writes the artifact and prints the summary."""
    from ..distributed import train_distributed
    from ..explorer import Explorer, Progress

    bar = _Bar(getattr(args, "quiet", False))

    def progress(stage, epoch, epochs, metrics, eta):
        bar(Progress(stage=stage, epoch=epoch or None, epochs=epochs or None, metrics=dict(metrics or {}), eta_s=eta))

    try:
        res = train_distributed(args.data, _config(args), progress)
    finally:
        bar.close()
    if res.rank != 0:
        return 0
    for n in res.notices:
        print(f"note: {n}", file=sys.stderr)
    ex = Explorer.open(args.data, res.config, train=False)
    rows = _summary_rows(ex) + [("processes", str(res.world_size)), ("this command", f"{time.perf_counter() - start:.1f} s")]
    print(_table(rows))
    return 0


def _alpha(args: argparse.Namespace, ex) -> float:
    from ..errors import ConfigError

    a = ex.default_alpha if args.alpha is None else float(args.alpha)
    if not (0.0 <= a <= 1.0) or math.isnan(a):
        raise ConfigError(f"--alpha must be between 0 and 1, got {args.alpha}.")
    return a


def _records(df) -> list[dict]:
    out = []
    for rec in df.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, tuple):
                v = list(v)
            elif hasattr(v, "item"):
                v = v.item()
            if isinstance(v, float) and math.isnan(v):
                v = None
            if v is not None and str(v) == "<NA>":
                v = None
            clean[k] = v
        out.append(clean)
    return out


def cmd_similar(args: argparse.Namespace) -> int:
    """Print the three lists of one movie (fuzzy title or id)."""
    from ..errors import ConfigError

    ex = _open(args)
    if not 1 <= args.k <= 1000:
        raise ConfigError(f"-k must be between 1 and 1000, got {args.k}.")
    row = ex.resolve(args.movie)
    alpha = _alpha(args, ex)
    res = ex.similar(row, k=args.k, alpha=alpha)
    label = ex.catalog["label"].iat[row]
    if args.json:
        cols = ["rank", "movie_id", "title", "year", "score", "content_score", "collab_score", "n_ratings", "why"]
        print(json.dumps({
            "movie": {"movie_id": int(ex.catalog["movie_id"].iat[row]), "label": str(label)},
            "alpha": alpha, "k": args.k, "notes": list(res.notes),
            **{name: _records(getattr(res, name)[cols + (["content_rank", "collab_rank"] if name == "hybrid" else [])])
               for name in ("content", "collab", "hybrid")},
        }, indent=1))
        return 0
    print(f"{label}  (alpha {alpha:g})")
    for n in res.notes:
        print(f"note: {n}")
    for name in ("content", "collab", "hybrid"):
        df = getattr(res, name)
        print(f"\n{name}")
        for r in df.itertuples():
            year = "" if r.year is None or str(r.year) == "<NA>" else f" ({r.year})"
            print(f"{r.rank:>3}. {r.score:6.3f}  {str(r.title)[:48] + year:<56} {r.why}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Print the evaluation stored with the artifact (computed at training)."""
    ex = _open(args)
    met = ex.metrics
    if args.json:
        print(json.dumps(met, indent=1, default=str))
        return 0
    print(_table(_flatten(met)))
    return 0


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            rows += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(d, list) and d and all(isinstance(x, (int, float)) for x in d):
        rows.append((prefix, ", ".join(_fmt(x) for x in d)))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            rows += _flatten(v, f"{prefix}[{i}]")
    else:
        rows.append((prefix, _fmt(d)))
    return rows


def _read_pairs(path: Path):
    import pandas as pd

    from ..errors import DatasetError

    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist; give a CSV with userId,movieId columns.") from None
    except (ValueError, OSError) as exc:
        raise DatasetError(f"{path} is not a readable CSV ({exc}); give a CSV with userId,movieId columns.") from None
    cols = {c.lower().replace("_", ""): c for c in df.columns}
    if "userid" not in cols or "movieid" not in cols:
        raise DatasetError(f"{path} needs userId and movieId columns; it has {', '.join(map(str, df.columns))}.")
    u = pd.to_numeric(df[cols["userid"]], errors="coerce")
    m = pd.to_numeric(df[cols["movieid"]], errors="coerce")
    if u.isna().any() or m.isna().any():
        bad = int((u.isna() | m.isna()).sum())
        raise DatasetError(f"{path}: {bad} rows have a non-numeric userId or movieId; fix or remove them.")
    return u.to_numpy("int64"), m.to_numpy("int64")


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict a rating per pair; unknown users/movies get the baseline and unknown=1."""
    import pandas as pd

    users, movies = _read_pairs(args.pairs)
    ex = _open(args)
    pred, unknown = ex.predict(users, movies)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out = pd.DataFrame({"userId": users, "movieId": movies, "prediction": pred.astype("float32"), "unknown": unknown.astype("int8")})
    out.to_csv(args.out, index=False, float_format="%.4f")
    print(f"wrote {len(out)} predictions to {args.out} ({int(unknown.sum())} with an unknown user or movie)", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write the embeddings (rows aligned with movies.csv) and every movie's hybrid neighbours."""
    import numpy as np
    import pandas as pd

    from ..errors import ConfigError

    if not 1 <= args.k <= 1000:
        raise ConfigError(f"-k must be between 1 and 1000, got {args.k}.")
    ex = _open(args)
    alpha = _alpha(args, ex)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    cat = ex.catalog
    pd.DataFrame({"movieId": cat["movie_id"].to_numpy(), "title": cat["title"].to_numpy(), "year": cat["year"]}).to_csv(out / "movies.csv", index=False)
    art = ex.artifact
    for name, vec, mask in (("content", "content_vectors", "content_mask"), ("collab", "collab_vectors", "collab_mask")):
        v = np.asarray(art.array(vec), dtype=np.float32).copy()
        v[~np.asarray(art.array(mask), dtype=bool)] = 0.0
        np.save(out / f"{name}.npy", v, allow_pickle=False)
    t = ex.neighbor_table(k=args.k, alpha=alpha)
    ids = cat["movie_id"].to_numpy()
    pd.DataFrame({
        "movieId": ids[t["movie"].astype(np.int64)],
        "rank": t["rank"].astype(np.int64),
        "neighborId": ids[t["neighbor"].astype(np.int64)],
        "score": t["score"].astype(np.float32),
        "content_score": t["content_score"].astype(np.float32),
        "collab_score": t["collab_score"].astype(np.float32),
    }).to_csv(out / "neighbors.csv", index=False, float_format="%.5f")
    print(f"wrote movies.csv, content.npy, collab.npy and neighbors.csv ({len(t['movie'])} rows, alpha {alpha:g}) to {out}",
          file=sys.stderr)
    return 0
