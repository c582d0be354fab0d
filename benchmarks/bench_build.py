"""Where a first build's time and memory go, stage by stage, as the dashboard's jobs run it.

Each run is a fresh process on an empty artifacts folder (peak RSS is the process's own): the lists'
build (content codes + collaborative space: what a visitor waits for), then the rating model, then the
evaluation (the server's later jobs; `train` runs all three). The clock starts after `from recsys_core import
Explorer`; with `--warm` also after the imports the server's idle job worker has done before a job reaches it
(torch, torch.optim's compiler stack, scikit-learn, pandas: about 6.5 s here).

    python benchmarks/make_synthetic.py --ratings 1M --movies 20000 --out /tmp/synth-1m-20k
    python benchmarks/bench_build.py --data /tmp/synth-1m-20k [--data ml-100k] [--runs 1] [--warm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from recsys_core import Explorer
if {warm!r}:
    from recsys_core.jobs import warm_up
    warm_up()  # what the server's idle worker has done before a job reaches it
t0 = time.perf_counter()
ex = Explorer.open({data!r}, complete=False)
t_lists = time.perf_counter() - t0
ex.complete(("rating",))
t_rating = time.perf_counter() - t0
ex.complete(("evaluate",))
t_all = time.perf_counter() - t0
m = ex.manifest
base = (m.get("metrics") or {{}}).get("baselines") or {{}}
print(json.dumps({{"lists_s": t_lists, "rating_done_s": t_rating, "all_s": t_all, "timings": m.get("timings"),
                  "n_movies": ex.dataset.n_movies, "n_ratings": len(ex.dataset.ratings),
                  "skipped": {{k: v.get("skipped") for k, v in base.items() if v.get("skipped")}},
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run_once(data: str, warm: bool = False) -> dict:
    """One fresh build in a child process on an empty artifacts folder (``warm``: imports done before the clock)."""
    with tempfile.TemporaryDirectory(prefix="bench-build-") as art:
        env = dict(os.environ, RECSYS_ARTIFACTS_DIR=art)
        out = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(ROOT), data=data, warm=warm)], env=env,
                             capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the build of {data} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", required=True, help="registry name or folder (repeatable)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--warm", action="store_true",
                    help="start the clock after the imports the server's idle job worker does ahead (recsys_core.jobs.warm_up)")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args(argv)
    rows, raw = [], {}
    for data in args.data:
        res = [run_once(data, args.warm) for _ in range(args.runs)]
        raw[data] = res
        def med(k: str, res: list[dict] = res) -> float:
            return statistics.median(r[k] for r in res)

        t = res[-1]["timings"] or {}
        rows.append((Path(data).name, f"{res[-1]['n_ratings']:,} / {res[-1]['n_movies']:,}", f"{med('lists_s'):.1f}",
                     f"{med('all_s'):.1f}", f"{max(r['peak_rss_mib'] for r in res) / 1024:.2f}",
                     ", ".join(f"{k} {v:.1f}" for k, v in t.items() if k != "total"),
                     "; ".join(f"{k}: {v}" for k, v in res[-1]["skipped"].items()) or "-"))
    print("| data | ratings / movies | lists ready (s) | whole build (s) | peak RSS (GiB) | stages (s) | skipped |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
