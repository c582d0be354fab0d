"""Issue 17's page loads on two checkouts at once: both servers up, their loads interleaved, ratios of one run.

`bench_ui.py` measures one tree; run after run, this machine's speed drifts (two of its runs ten minutes apart
moved a ratio by 0.16), so comparing trees measured one after the other mixes the change with the drift. Here
both servers run side by side and each round loads both (ABBA order), so drift falls on both alike.

    git worktree add /tmp/before 4c8a53e        # the tree the issue measured
    python benchmarks/bench_ui_ab.py --before /tmp/before [--runs 8]

Each checkout serves from its own folder (its own .streamlit/config.toml) and its own artifacts folder, trained
and projected first by its own ``benchmarks/bench_ui.warm_artifacts`` (the artifact format may differ between
trees). Prints, per measure, both medians, their ratio, the ratio of the fastest loads, and the issue's aim as a
ratio of its own figures (1.3 / 1.97 s fresh, 1.0 / 1.56 s warm, 2.0 / 2.92 s Latent space).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.bench_ui import MAPS  # noqa: E402
from benchmarks.serve import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402

# Explore's three lists, drawn as HTML tables (this tree) or as data grids (trees before stop 27)
LISTS = ("() => ['content','collab','hybrid'].every(k => { const r = document.querySelector('.st-key-list_' + k);"
         " return r && (r.querySelector('table tbody tr') || r.querySelector('[data-testid^=\"glide-cell-\"]')); })")
AIMS = {"fresh": 1.3 / 1.97, "warm": 1.0 / 1.56, "latent": 2.0 / 2.92}
VIEW = {"width": 1600, "height": 1000}


def warm(tree: Path, artifacts: Path) -> None:
    """Train and project ml-100k with that tree's own code, as its bench_ui.py would before measuring."""
    env = {**os.environ, "RECSYS_ARTIFACTS_DIR": str(artifacts), "PYTHONPATH": str(tree)}
    code = "import sys; sys.path.insert(0, 'benchmarks'); from bench_ui import warm_artifacts; warm_artifacts('ml-100k')"
    subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, check=True)


def main() -> int:
    """Measure both trees, interleaved, and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="another checkout of this project")
    ap.add_argument("--before-artifacts", type=Path, help="its artifacts folder (default: <before>/artifacts)")
    ap.add_argument("--runs", type=int, default=8)
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        print("chromium not found: apt-get install chromium to run this benchmark", file=sys.stderr)
        return 2
    before = args.before.resolve()
    after_art = Path(os.environ.get("RECSYS_ARTIFACTS_DIR", ROOT / "artifacts"))
    trees = {"before": (before, (args.before_artifacts or before / "artifacts").resolve()), "after": (ROOT, after_art)}
    for tree, art in trees.values():
        warm(tree, art)
    from playwright.sync_api import sync_playwright

    logs = Path(tempfile.mkdtemp(prefix="bench-ui-ab-"))
    servers = {k: start_server(logs / f"{k}.log", art, timeout_s=90, app=tree / "app.py", cwd=tree)
               for k, (tree, art) in trees.items()}
    res: dict[str, dict[str, list[float]]] = {k: {m: [] for m in ("title", "fresh", "warm", "latent")} for k in trees}
    load_before = os.getloadavg()[0]
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            kept = {k: browser.new_context(viewport=VIEW) for k in trees}  # a returning visitor's browser, per tree
            for k, (_, url) in servers.items():  # open each model into its server, fill each warm browser cache
                page = kept[k].new_page()
                page.goto(f"{url}/?dataset=ml-100k")
                page.wait_for_function(LISTS, timeout=180_000)
                page.goto(f"{url}/latent-space?dataset=ml-100k")
                page.wait_for_function(f"() => ({MAPS})().length >= 3", timeout=300_000)
                page.close()
            for i in range(args.runs):
                for k in ("before", "after") if i % 2 == 0 else ("after", "before"):
                    url = servers[k][1]
                    ctx = browser.new_context(viewport=VIEW)  # a first visit: nothing cached in the browser
                    page = ctx.new_page()
                    t = time.perf_counter()
                    page.goto(f"{url}/?dataset=ml-100k")
                    page.locator("h1").first.wait_for(timeout=60_000)
                    res[k]["title"].append(time.perf_counter() - t)
                    page.wait_for_function(LISTS, timeout=60_000)
                    res[k]["fresh"].append(time.perf_counter() - t)
                    ctx.close()
                    for measure, path, done in (("warm", "/?dataset=ml-100k", LISTS),
                                                ("latent", "/latent-space?dataset=ml-100k", f"() => ({MAPS})().length >= 3")):
                        page = kept[k].new_page()
                        t = time.perf_counter()
                        page.goto(url + path)
                        page.wait_for_function(done, timeout=300_000)
                        res[k][measure].append(time.perf_counter() - t)
                        page.close()
                    time.sleep(0.5)
            browser.close()
    finally:
        for proc, _ in servers.values():
            stop_server(proc)
    print(f"\nbefore = {before}, after = {ROOT}; {args.runs} rounds, each loading both (ABBA); 2 CPUs, load average "
          f"{load_before:.1f} before / {os.getloadavg()[0]:.1f} after\n")
    print("| measure | before, median s | after, median s | after / before | fastest loads: after / before | aim |")
    print("|---|---|---|---|---|---|")
    names = {"title": "navigation → page title, fresh browser", "fresh": "navigation → three lists, fresh browser",
             "warm": "navigation → three lists, browser cache warm", "latent": "navigation → Latent space, three maps"}
    for m, name in names.items():
        b, a = statistics.median(res["before"][m]), statistics.median(res["after"][m])
        bmin, amin = min(res["before"][m]), min(res["after"][m])
        aim = f"{AIMS[m]:.2f}" if m in AIMS else "–"
        print(f"| {name} | {b:.2f} | {a:.2f} | **{a / b:.2f}** | {amin:.2f} / {bmin:.2f} = {amin / bmin:.2f} | {aim} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
