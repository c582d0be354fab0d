"""Model subcommands (train, similar, evaluate, predict, export): thin wrappers over the Explorer facade.

Each one checks every argument first, then opens the cached model; when none is cached it says so and how
long training will take before training (or, with --no-train, refuses).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import COLLAB_SPACES, CONTENT_LOSSES, DEVICES, RATING_MODELS, EngineConfig
from ..errors import ConfigError, DatasetError
from .common import (
    add_json,
    add_parser,
    check_alpha,
    check_data,
    check_k,
    note,
    print_json,
    readable_file,
    writable_dir,
    writable_file,
)

if TYPE_CHECKING:
    import numpy as np

    from ..explorer import Explorer

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
  open the result with --rating-model dot_bias (the artifact is keyed by the config actually trained)."""
TRAIN_NOTE = "Without a cached model, similar / evaluate / predict / export train one first (and say so); " \
             "--no-train makes them refuse instead."


def register(sub: argparse._SubParsersAction) -> None:
    """Register the model subcommands."""
    p = add_parser(sub, "train", "train (or reuse) the content and collaborative models of a dataset",
                   "Train the content autoencoder and the collaborative model of a dataset with the given settings "
                   "and store them under the artifacts folder (keyed by the data and the settings), or reuse them "
                   "when already there; then print a summary: timings, losses, the evaluation's best alpha.",
                   "  %(prog)s --data ml-100k\n"
                   "  %(prog)s --data ~/movielens/ml-latest-small --content-epochs 10 --json",
                   DISTRIBUTED_HELP)
    _common(p, can_refuse=False)
    p.add_argument("--distributed", action="store_true",
                   help="train under torch.distributed DDP; launch with torchrun (see below): each rank reads its "
                        "shard of the ratings, rank 0 writes the artifact. NCCL on GPUs, gloo on CPUs.")
    add_json(p, "the summary")
    p.set_defaults(func=cmd_train)

    p = add_parser(sub, "similar", "the content, collaborative and hybrid lists of one movie",
                   "The movies most similar to one movie three ways: by what it is (content), by who likes it "
                   "(collaborative), and blended: alpha * content + (1 - alpha) * collaborative cosine.",
                   '  %(prog)s --data ml-100k --movie "star wars" --alpha 0.5 -k 10\n'
                   "  %(prog)s --data ml-100k --movie 50 --json", TRAIN_NOTE)
    _common(p)
    p.add_argument("--movie", required=True, help="a title (typos are fine) or a MovieLens movieId")
    _alpha_k(p, "content weight of the blended list")
    add_json(p, "the three lists")
    p.set_defaults(func=cmd_similar)

    p = add_parser(sub, "evaluate", "held-out Recall/NDCG@20, coherence, popularity, coverage and RMSE",
                   "Print the evaluation stored with the model (computed when it was trained on a per-user 80/20 "
                   "split): Recall@20 and NDCG@20 of the content, collaborative and blended lists at each alpha, "
                   "genre coherence, popularity, coverage, the baselines, and the rating model's held-out RMSE.",
                   "  %(prog)s --data ml-100k\n  %(prog)s --data ml-100k --json > metrics.json", TRAIN_NOTE)
    _common(p)
    add_json(p, "every stored figure")
    p.set_defaults(func=cmd_evaluate)

    p = add_parser(sub, "predict", "predicted ratings for userId,movieId pairs with the collaborative rating model",
                   "Predict a rating for each userId,movieId pair of a CSV with the collaborative rating model and "
                   "write userId,movieId,prediction,unknown (unknown=1: a user or movie not in the training data, "
                   "given the baseline).",
                   "  %(prog)s --data ml-100k --pairs pairs.csv --out predictions.csv\n"
                   "  %(prog)s --data ml-100k --pairs pairs.csv --out predictions.csv --rating-model dot_bias --json",
                   TRAIN_NOTE)
    _common(p)
    p.add_argument("--pairs", required=True, type=Path, help="CSV with userId,movieId columns")
    p.add_argument("--out", required=True, type=Path, help="CSV to write: userId,movieId,prediction,unknown")
    add_json(p, "a summary (file, rows, unknown pairs)")
    p.set_defaults(func=cmd_predict)

    p = add_parser(sub, "export", "write movies.csv, content.npy, collab.npy and neighbors.csv",
                   "Write the model for use elsewhere: movies.csv (row order of the embeddings), content.npy and "
                   "collab.npy (float32, a row of zeros where a movie has no vector) and neighbors.csv (every "
                   "movie's top-k blended neighbours with both scores).",
                   "  %(prog)s --data ml-100k --out export/ --alpha 0.5 -k 20\n"
                   "  %(prog)s --data ml-100k --out export/ --no-train --json", TRAIN_NOTE)
    _common(p)
    p.add_argument("--out", required=True, type=Path, help="folder to write into (created)")
    _alpha_k(p, "content weight of neighbors.csv", k_help="neighbours per movie")
    add_json(p, "a summary (files, rows, alpha)")
    p.set_defaults(func=cmd_export)


def _alpha_k(p: argparse.ArgumentParser, alpha_help: str, k_help: str = "list length") -> None:
    p.add_argument("--alpha", type=float, default=None, metavar="[0-1]",
                   help=f"{alpha_help}, 0 (collaborative) to 1 (content) (default: the model's saved default)")
    p.add_argument("-k", type=int, default=20, help=f"{k_help}, 1 to 1000 (default: %(default)s)")


def _common(p: argparse.ArgumentParser, can_refuse: bool = True) -> None:
    p.add_argument("--data", default=DEFAULT_DATA,
                   help="dataset name (see `datasets`) or a folder / .zip in any MovieLens layout (default: %(default)s)")
    p.add_argument("--device", default=None,
                   help=f"one of {', '.join(DEVICES)} or cuda:N (default: RECSYS_DEVICE, else auto)")
    d = EngineConfig()  # the defaults shown are the engine's own
    p.add_argument("--seed", type=int, default=None, help=f"seed of every model and split (default: {d.content.seed})")
    p.add_argument("--content-epochs", type=int, default=None, help=f"autoencoder epochs (default: {d.content.epochs})")
    p.add_argument("--code-dim", type=int, default=None, help=f"content embedding size (default: {d.content.code_dim})")
    p.add_argument("--hidden-dim", type=int, default=None,
                   help=f"autoencoder hidden layer, 0 = none (default: {d.content.hidden_dim})")
    p.add_argument("--content-loss", choices=CONTENT_LOSSES, default=None,
                   help=f"autoencoder loss: {', '.join(CONTENT_LOSSES)} (default: {d.content.loss})")
    p.add_argument("--collab-space", choices=COLLAB_SPACES, default=None,
                   help=f"how movie vectors come from ratings: {', '.join(COLLAB_SPACES)} (default: {d.collab.space})")
    p.add_argument("--collab-dim", type=int, default=None, help=f"collaborative embedding size (default: {d.collab.dim})")
    p.add_argument("--rating-model", choices=RATING_MODELS, default=None,
                   help=f"the model behind predict and RMSE: {', '.join(RATING_MODELS)} (default: {d.collab.rating_model})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    if can_refuse:
        p.add_argument("--no-train", action="store_true",
                       help="use only a model already trained with these settings; exit 2 instead of training")


def _config(args: argparse.Namespace) -> EngineConfig:
    """EngineConfig from the defaults plus whatever flags were given, validated (torch-free, before any work)."""
    cfg = EngineConfig()
    content: dict[str, Any] = {}
    collab: dict[str, Any] = {}
    if args.seed is not None:
        content["seed"] = collab["seed"] = args.seed
    for flag, fld in (("content_epochs", "epochs"), ("code_dim", "code_dim"), ("hidden_dim", "hidden_dim"),
                      ("content_loss", "loss")):
        if getattr(args, flag) is not None:
            content[fld] = getattr(args, flag)
    for flag, fld in (("collab_space", "space"), ("collab_dim", "dim"), ("rating_model", "rating_model")):
        if getattr(args, flag) is not None:
            collab[fld] = getattr(args, flag)
    cfg = replace(cfg, content=replace(cfg.content, **content), collab=replace(cfg.collab, **collab))
    if args.device:
        cfg = replace(cfg, device=args.device)
    cfg.validate()
    return cfg


class _Bar:
    """One progress line per stage on stderr (a bar when the epoch count is known)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.stage = ""
        self.tty = sys.stderr.isatty()

    def __call__(self, ev: Any) -> None:
        if self.quiet:
            return
        if ev.stage != self.stage and self.stage and self.tty:
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


def _estimate_s(n_ratings: int) -> int:
    """Rough CPU build time: ~30 s for 100k ratings on 2 cores (README "Measured"), growing sub-linearly."""
    return max(5, round(30 * max(n_ratings / 1e5, 0.01) ** 0.7, -1 if n_ratings > 1e5 else 0))


def _human_s(s: float) -> str:
    return f"about {s:.0f} s" if s < 120 else f"about {s / 60:.0f} min"


_STAGE_WORDS = {"rating": "the rating model", "evaluate": "the held-out evaluation"}


def open_explorer(args: argparse.Namespace, cfg: EngineConfig, *, may_train: bool = True,
                  needs: tuple[str, ...] = ()) -> "Explorer":
    """The cached model for these settings (plus the later stages in ``needs``: "rating", "evaluate"); what is
    missing is trained after saying so (and roughly how long), or refused with --no-train.

    The lists need only the first build stages, so ``similar`` and ``export`` never wait for the evaluation.
    """
    from .. import ArtifactMissingError, Explorer
    from ..data import load_dataset
    from ..errors import CacheError

    ds = load_dataset(args.data)
    ex = None
    try:
        ex = Explorer.open(ds, cfg, train=False)
    except ArtifactMissingError:
        why = f"No trained model for {ds.name} with these settings"
    except CacheError as exc:
        why = f"The cached model for {ds.name} could not be used ({exc})"
    missing = tuple(s for s in (ex.missing() if ex is not None else needs) if s in needs)
    if ex is not None and not missing:
        return ex
    if ex is not None:
        why = f"The model for {ds.name} has no {' or '.join(_STAGE_WORDS[s] for s in missing)} yet"
    if not may_train:
        raise ArtifactMissingError(f"{why}, and --no-train was given. Train it first: recsys train --data "
                                   f"{args.data} (with the same settings), or leave out --no-train.")
    what = "computing it now" if ex is not None else "training it now"
    print(f"{why}; {what} ({_human_s(_estimate_s(ds.n_ratings))} on 2 CPU cores; faster on a GPU)…",
          file=sys.stderr, flush=True)
    bar = _Bar(getattr(args, "quiet", False))
    try:
        if ex is None:
            ex = Explorer.open(ds, cfg, train=True, progress=bar, complete=False)
        ex.complete(needs, progress=bar)
        return ex
    finally:
        bar.close()


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _summary(ex: "Explorer") -> dict[str, Any]:
    m = ex.manifest
    met = ex.metrics
    return {
        "dataset": ex.dataset.name, "movies": ex.dataset.n_movies, "users": ex.dataset.n_users,
        "ratings": ex.dataset.n_ratings, "artifact": str(ex.artifact.path), "device": ex.device,
        "trained": m.get("created"), "timings": m.get("timings") or {},
        "content_metrics": m.get("content_metrics") or {}, "collab_metrics": m.get("collab_metrics") or {},
        "best_alpha": met.get("best_alpha"), "default_alpha": ex.default_alpha, "notices": list(ex.notices),
    }


def _summary_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [("dataset", f"{s['dataset']} ({s['movies']} movies, {s['users']} users, {s['ratings']} ratings)"),
            ("artifact", s["artifact"]), ("device", str(s["device"])), ("trained", str(s["trained"] or "?"))]
    rows += [(f"time {k}", f"{v:.1f} s") for k, v in s["timings"].items() if isinstance(v, (int, float))]
    rows += [(f"content {k}", _fmt(v)) for k, v in s["content_metrics"].items() if isinstance(v, (int, float))]
    rows += [(f"collab {k}", _fmt(v)) for k, v in s["collab_metrics"].items() if isinstance(v, (int, float))]
    if s["best_alpha"] is not None:
        rows.append(("best alpha", _fmt(s["best_alpha"])))
    rows.append(("default alpha", _fmt(s["default_alpha"])))
    if "processes" in s:
        rows.append(("processes", str(s["processes"])))
    rows.append(("this command", f"{s['seconds']:.1f} s"))
    return rows


def _table(rows: list[tuple[str, str]]) -> str:
    w = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def _print_summary(args: argparse.Namespace, s: dict[str, Any]) -> None:
    if args.json:
        print_json(s)
        return
    for n in s["notices"]:
        note(n)
    print(_table(_summary_rows(s)))


def cmd_train(args: argparse.Namespace) -> int:
    """Train (or reuse) and print a summary."""
    start = time.perf_counter()
    cfg = _config(args)
    check_data(args.data)
    if args.distributed:
        return _train_distributed(args, cfg, start)
    ex = open_explorer(args, cfg, needs=("rating", "evaluate"))
    _print_summary(args, {**_summary(ex), "seconds": round(time.perf_counter() - start, 1)})
    return 0


def _train_distributed(args: argparse.Namespace, cfg: EngineConfig, start: float) -> int:
    """One rank of a torchrun job: train under DDP; rank 0 writes the artifact and prints the summary."""
    from .. import Explorer
    from ..pipeline.distributed import train_distributed

    bar = _Bar(args.quiet)
    progress = bar  # rank 0's Progress events

    try:
        res = train_distributed(args.data, cfg, progress)
    finally:
        bar.close()
    if res.rank != 0:
        return 0
    ex = Explorer.open(args.data, res.config, train=False)
    s = {**_summary(ex), "processes": res.world_size, "seconds": round(time.perf_counter() - start, 1)}
    s["notices"] = list(dict.fromkeys([*res.notices, *s["notices"]]))
    _print_summary(args, s)
    return 0


def _alpha(args: argparse.Namespace, ex: "Explorer") -> float:
    return ex.default_alpha if args.alpha is None else float(args.alpha)


def _records(df: Any) -> list[dict]:
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
    check_k(args.k)
    check_alpha(args.alpha)
    cfg = _config(args)
    check_data(args.data)
    ex = open_explorer(args, cfg, may_train=not args.no_train)
    row = ex.resolve(args.movie)
    alpha = _alpha(args, ex)
    res = ex.similar(row, k=args.k, alpha=alpha)
    label = ex.catalog["label"].iat[row]
    if args.json:
        cols = ["rank", "movie_id", "title", "year", "score", "content_score", "collab_score", "n_ratings", "why"]
        print_json({
            "movie": {"movie_id": int(ex.catalog["movie_id"].iat[row]), "label": str(label)},
            "alpha": alpha, "k": args.k, "notes": list(res.notes),
            **{name: _records(getattr(res, name)[cols + (["content_rank", "collab_rank"] if name == "hybrid" else [])])
               for name in ("content", "collab", "hybrid")},
        })
        return 0
    for n in res.notes:
        note(n)
    print(f"{label}  (alpha {alpha:g})")
    for name in ("content", "collab", "hybrid"):
        df = getattr(res, name)
        print(f"\n{name}")
        for r in df.itertuples():
            year = "" if r.year is None or str(r.year) == "<NA>" else f" ({r.year})"
            print(f"{r.rank:>3}. {r.score:6.3f}  {str(r.title)[:48] + year:<56} {r.why}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Print the evaluation stored with the artifact (computed now when the build has not reached it yet)."""
    cfg = _config(args)
    check_data(args.data)
    ex = open_explorer(args, cfg, may_train=not args.no_train, needs=("evaluate",))
    met = ex.metrics
    if args.json:
        print_json(met)
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


def _read_pairs(path: Path) -> "tuple[np.ndarray, np.ndarray]":
    import pandas as pd

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

    readable_file(args.pairs, "--pairs")
    writable_file(args.out, "--out")
    cfg = _config(args)
    check_data(args.data)
    users, movies = _read_pairs(args.pairs)
    ex = open_explorer(args, cfg, may_train=not args.no_train, needs=("rating",))
    pred, unknown = ex.predict(users, movies)
    out = pd.DataFrame({"userId": users, "movieId": movies, "prediction": pred.astype("float32"),
                        "unknown": unknown.astype("int8")})
    out.to_csv(args.out, index=False, float_format="%.4f")
    summary = {"out": str(args.out), "rows": len(out), "unknown": int(unknown.sum()),
               "rating_model": ex.config.collab.rating_model}
    if args.json:
        print_json(summary)
    else:
        note(f"wrote {len(out)} predictions to {args.out} ({summary['unknown']} with an unknown user or movie)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write the embeddings (rows aligned with movies.csv) and every movie's hybrid neighbours."""
    check_k(args.k)
    check_alpha(args.alpha)
    out: Path = writable_dir(args.out, "--out")
    cfg = _config(args)
    check_data(args.data)
    import numpy as np  # after the checks: a bad argument answers before pandas loads
    import pandas as pd
    ex = open_explorer(args, cfg, may_train=not args.no_train)
    alpha = _alpha(args, ex)
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"the model's saved default alpha {alpha:g} is outside [0, 1]; pass --alpha.")
    cat = ex.catalog
    pd.DataFrame({"movieId": cat["movie_id"].to_numpy(), "title": cat["title"].to_numpy(), "year": cat["year"]}
                 ).to_csv(out / "movies.csv", index=False)
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
    files = ["movies.csv", "content.npy", "collab.npy", "neighbors.csv"]
    if args.json:
        print_json({"out": str(out), "files": files, "neighbor_rows": len(t["movie"]), "alpha": alpha, "k": args.k})
    else:
        note(f"wrote {', '.join(files)} ({len(t['movie'])} neighbour rows, alpha {alpha:g}) to {out}")
    return 0
