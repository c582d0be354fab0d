"""A first visit to Latent space on a new dataset: `streamlit run app.py` on an EMPTY artifacts folder with
``--data`` as its default dataset; one browser waits for the three Explore lists, then opens Latent space at
once, and we time until its two maps are drawn (the server's queue then holds the rating model and the
evaluation besides the two UMAP jobs).

    python benchmarks/bench_map_wait.py --data ../shared/datasets/ml-latest-small
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.serve import CHROMIUM, CHROMIUM_ARGS, LISTS_DRAWN, start_server, stop_server  # noqa: E402

MAPS_DRAWN = "() => document.querySelectorAll('.js-plotly-plot').length >= 2"


def once(data: str) -> tuple[float, float, list[str]]:
    """(seconds to the lists, seconds from opening Latent space to its two maps, the server's job lines)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="map-wait-") as tmp:
        art = Path(tmp) / "artifacts"
        art.mkdir()
        log = Path(tmp) / "log.txt"
        proc, url = start_server(log, art, env_extra={"RECSYS_DEFAULT_DATA": data})
        try:
            with sync_playwright() as pw:
                b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                pg = b.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                t0 = time.perf_counter()
                pg.goto(url)
                pg.wait_for_function(LISTS_DRAWN, timeout=900_000)
                t1 = time.perf_counter()
                pg.goto(f"{url}/latent-space")
                pg.wait_for_function(MAPS_DRAWN, timeout=1_800_000)
                t2 = time.perf_counter()
                b.close()
        finally:
            stop_server(proc)
        jobs = re.findall(r"recsys_core\.jobs: (job (?:done|failed): .*)", log.read_text())
        return t1 - t0, t2 - t1, jobs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="registry name or folder, the server's default dataset")
    args = ap.parse_args(argv)
    lists_s, maps_s, jobs = once(args.data)
    print("| data | page opened -> lists | Latent space opened -> two maps drawn |")
    print("|---|---|---|")
    print(f"| {Path(args.data).name} | {lists_s:.1f} s | {maps_s:.1f} s |")
    print("jobs, in the order they ended:", "; ".join(jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
