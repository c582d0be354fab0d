"""The README's quality figures, from stored `evaluate` results, so the tables cannot drift from what the engine measures.

Stored results live in benchmarks/results/quality/: ``<dataset>.json`` (default settings) and
``<dataset>.<rating_model>.json``, each exactly what ``recsys evaluate --data <dataset> --json`` prints.

    python benchmarks/readme_tables.py                       # show the managed cells and any that differ
    python benchmarks/readme_tables.py --write               # rewrite those cells in README.md
    python benchmarks/readme_tables.py --check               # exit 1 when README.md differs (a test does this too)
    python benchmarks/readme_tables.py --store --data ml-100k [--rating-model dot_bias] [--train]

``--store`` saves the evaluation of the cached model (``--train`` trains it when missing). Only cells with a
stored result are managed; the others (the ``benchmarks/collab_research.py`` rows, datasets without a stored
result) are left as they are and listed as unmanaged.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "results" / "quality"
SECTION = "### Quality"
RATING_ROWS = {"dot_bias (Adam)": "dot_bias", "entity_net (the write-up's network)": "entity_net"}
BASELINE_ROWS = {"popularity": "popularity", "item-kNN cosine": "itemknn", "EASE (λ = 300)": "ease"}


def load_results(folder: Path = RESULTS) -> dict[str, dict]:
    """Stored evaluations keyed by file stem: "ml-100k", "ml-100k.dot_bias", ..."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def _plain(label: str) -> str:
    return label.strip().strip("*").strip()


def _bold(text: str, bold: bool) -> str:
    return f"**{text}**" if bold else text


def cell(table: str, row: str, column: str, results: dict[str, dict]) -> str | None:
    """The text a managed cell must hold, or None when no stored result covers it."""
    row, column = _plain(row), _plain(column)
    if table == "space":
        m = results.get(column)
        if m is None:
            return None
        k = f"recall@{m['k']}"
        if row.startswith("collaborative"):
            return _bold(f"{m['collab'][k]:.4f}", True)
        name = BASELINE_ROWS.get(row)
        if name and k in m["baselines"].get(name, {}):
            return f"{m['baselines'][name][k]:.4f}"
        return None
    if table == "Recall@20 / genre coherence":
        m = results.get(row)
        found = re.search(r"\d+(?:\.\d+)?", column)
        if m is None or found is None:
            return None
        alpha = float(found.group())
        hits = [i for i, a in enumerate(m["alphas"]) if abs(a - alpha) < 1e-9]
        if not hits:
            return None
        h = m["hybrid"]
        recalls = h[f"recall@{m['k']}"]
        recall = _bold(f"{recalls[hits[0]]:.4f}", abs(m["best_alpha"] - alpha) < 1e-9)
        return f"{recall} / {h['genre_coherence'][hits[0]]:.2f}"
    if table == "model":
        if row in RATING_ROWS:
            m = results.get(f"{column}.{RATING_ROWS[row]}")
            return None if m is None else f"{m['rmse']['test_rmse']:.3f}"
        m = results.get(column)
        if m is None:
            return None
        if row.startswith(m["rmse"]["model"]) and "default" in row:
            return _bold(f"{m['rmse']['test_rmse']:.3f}", True)
        if row == "user + movie bias baseline":
            return f"{m['rmse']['bias']:.3f}"
        if row == "global mean":
            return f"{m['rmse']['global_mean']:.3f}"
    return None


def render(text: str, results: dict[str, dict]) -> tuple[str, list[str], list[str]]:
    """README text with the managed cells filled in, plus what changed and what is not managed."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(SECTION))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("### ")), len(lines))
    changed: list[str] = []
    unmanaged: list[str] = []
    header: list[str] | None = None
    for i in range(start, end):
        line = lines[i]
        if not line.startswith("|"):
            header = None
            continue
        cells = line.strip().strip("|").split("|")
        if header is None:
            header = [c.strip() for c in cells]
            continue
        if set(line) <= set("|-: "):
            continue
        row = cells[0].strip()
        for j in range(1, min(len(cells), len(header))):
            want = cell(header[0], row, header[j], results)
            have = cells[j].strip()
            where = f"{header[0]!r} / {_plain(row)} / {_plain(header[j])}"
            if want is None:
                unmanaged.append(f"{where}: {have}")
            elif want != have:
                changed.append(f"{where}: README {have} -> stored {want}")
                cells[j] = f" {want} "
        lines[i] = "|" + "|".join(cells) + "|"
    return "\n".join(lines), changed, unmanaged


def check(readme: Path = README, folder: Path = RESULTS) -> list[str]:
    """The managed cells where README.md differs from the stored results (empty: in sync)."""
    return render(readme.read_text(), load_results(folder))[1]


def store(data: str, rating_model: str | None, train: bool) -> Path:
    """Save the evaluation of the cached model of ``data`` (default settings, or another rating model)."""
    from dataclasses import replace

    from recsys_core import EngineConfig, Explorer

    cfg = EngineConfig()
    if rating_model:
        cfg = replace(cfg, collab=replace(cfg.collab, rating_model=rating_model))
    ex = Explorer.open(data, cfg, train=train)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = Path(data).name + (f".{rating_model}" if rating_model else "")
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(_jsonable(ex.metrics), indent=1) + "\n")
    return out


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


def main(argv: list[str] | None = None) -> int:
    """Show, write or check the README's quality cells; or store a new evaluation."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="rewrite the managed cells of README.md")
    ap.add_argument("--check", action="store_true", help="exit 1 when README.md differs from the stored results")
    ap.add_argument("--store", action="store_true", help="save the evaluation of --data's cached model first")
    ap.add_argument("--data", default="ml-100k", help="with --store: dataset name or folder")
    ap.add_argument("--rating-model", default=None, help="with --store: a non-default rating model")
    ap.add_argument("--train", action="store_true", help="with --store: train when no model is cached")
    args = ap.parse_args(argv)
    if args.store:
        print(f"stored {store(args.data, args.rating_model, args.train)}", file=sys.stderr)
    text, changed, unmanaged = render(README.read_text(), load_results())
    for line in changed:
        print(f"differs: {line}")
    for line in unmanaged:
        print(f"unmanaged: {line}", file=sys.stderr)
    if args.write and changed:
        README.write_text(text)
        print(f"wrote {len(changed)} cells to {README}", file=sys.stderr)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
