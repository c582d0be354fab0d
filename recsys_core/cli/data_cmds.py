"""Data subcommands: `datasets` (registry + local status), `info` (counts), `download` (fetch a release)."""

from __future__ import annotations

import argparse
import sys
import time

from ..data.registry import DEFAULT_DATASET, RELEASES, list_releases
from .common import add_json, add_parser, check_data, note, print_json


def register(sub: argparse._SubParsersAction) -> None:
    """Register the data subcommands."""
    p = add_parser(sub, "datasets", "list the named datasets and which are on disk",
                   "The MovieLens releases this tool knows by name, whether each is bundled, downloaded or not, "
                   "and where it lives (the data folder: RECSYS_DATA_DIR, else the checkout's data/ or, when "
                   "installed, ~/.local/share/recsys).",
                   "  %(prog)s\n  %(prog)s --json")
    add_json(p, "the registry with each dataset's status and path")
    p.set_defaults(func=cmd_datasets)

    p = add_parser(sub, "info", "counts, rating scale, sparsity and year range of a dataset",
                   "Open a dataset (a registry name, or a folder / .zip in any MovieLens layout) and print its "
                   "counts, rating scale, sparsity, year range, user attributes and fingerprint.",
                   "  %(prog)s --data ml-100k\n  %(prog)s --data ~/Downloads/ml-latest-small.zip --json")
    p.add_argument("--data", default=DEFAULT_DATASET, help="dataset name or folder/.zip path (default: %(default)s)")
    add_json(p, "the summary")
    p.add_argument("--no-cache", action="store_true", help="parse the source files even when a parsed cache exists")
    p.set_defaults(func=cmd_info)

    names = ", ".join(n for n, r in RELEASES.items() if not r.bundled)
    p = add_parser(sub, "download", "download a MovieLens release into the data dir",
                   "Fetch a MovieLens release from GroupLens (or RECSYS_MIRROR_URL) into the data folder: "
                   "resumable, checksum-verified, extracted atomically. A release already there is not fetched "
                   "again unless --force is given.",
                   "  %(prog)s ml-latest-small\n  %(prog)s ml-25m --json")
    p.add_argument("name", metavar="NAME", help=f"one of: {names}")
    p.add_argument("--force", action="store_true", help="download again even when present")
    add_json(p, "the name and folder of the release")
    p.set_defaults(func=cmd_download)


def cmd_datasets(args: argparse.Namespace) -> int:
    """Print the registry and where each dataset is (or would be) on disk."""
    rows = list_releases()
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        status = "bundled" if r["bundled"] else ("present" if r["present"] else "not downloaded")
        print(f"{r['name']:<16} {status:<15} ~{r['approx_mb']:>6g} MB  {r['description']}")
        if r["present"] or not r["bundled"]:
            print(f"{'':<16} {r['path']}")
    note("get one with: recsys download NAME (the data folder: RECSYS_DATA_DIR)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Open a dataset and print its summary."""
    check_data(args.data)
    start = time.perf_counter()
    from ..data.loader import load_dataset

    ds = load_dataset(args.data, use_cache=not args.no_cache)
    s = ds.summary()
    s["open_seconds"] = round(time.perf_counter() - start, 3)
    s["from_cache"] = ds.from_cache
    if args.json:
        print_json(s)
        return 0
    years = f"{s['year_range'][0]}-{s['year_range'][1]}" if s["year_range"] else "unknown"
    lo, hi = s["rating_scale"]
    lines = [
        ("dataset", f"{s['name']}  ({s['source']})"),
        ("users", s["users"]),
        ("movies", f"{s['movies']}  ({s['rated_movies']} with ratings)"),
        ("ratings", s["ratings"]),
        ("tags", s["tags"]),
        ("genome entries", f"{s['genome_entries']}  ({s['genome_movies']} movies x {s['genome_tags']} tags)"),
        ("rating scale", f"{lo:g}-{hi:g}"),
        ("sparsity", f"{s['sparsity']:.4%}"),
        ("year range", years),
        ("user attributes", ", ".join(s["user_attributes"]) or "none"),
        ("fingerprint", s["fingerprint"]),
        ("opened in", f"{s['open_seconds']} s ({'parsed cache' if ds.from_cache else 'parsed the files'})"),
    ]
    for label, value in lines:
        print(f"{label:<16} {value}")
    for n in s["notes"]:
        note(n)
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    """Download with a progress bar on stderr."""
    last = [0.0]

    def bar(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < 0.2 and (total is None or done < total):
            return
        last[0] = now
        if total:
            filled = int(30 * done / total)
            sys.stderr.write(f"\r{args.name}: [{'#' * filled}{'.' * (30 - filled)}] "
                             f"{done / 1e6:7.1f}/{total / 1e6:.1f} MB")
        else:
            sys.stderr.write(f"\r{args.name}: {done / 1e6:7.1f} MB")
        sys.stderr.flush()

    from ..data.fetch import download

    path = download(args.name, progress=bar, force=args.force, on_note=note)
    if last[0]:
        sys.stderr.write("\n")
    if args.json:
        print_json({"name": args.name, "path": str(path)})
    else:
        print(f"{args.name} is at {path}")
    return 0
