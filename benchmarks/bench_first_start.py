"""First start as a new user meets it: `streamlit run app.py` on an EMPTY artifacts folder, one browser
opens the page, and we time how long until the three Explore lists are drawn (the server builds what
they need as a job; the rating model and the evaluation follow in the background).

    python benchmarks/bench_first_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.serve import CHROMIUM, CHROMIUM_ARGS, LISTS_DRAWN, start_server, stop_server  # noqa: E402


def once(browser: object) -> float:
    """Seconds from opening the page on a fresh server with an empty cache to the three lists drawn."""
    with tempfile.TemporaryDirectory(prefix="first-start-") as tmp:
        art = Path(tmp) / "artifacts"
        art.mkdir()
        proc, url = start_server(Path(tmp) / "log.txt", art)
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            pg = ctx.new_page()
            t0 = time.perf_counter()
            pg.goto(url)
            pg.wait_for_function(LISTS_DRAWN, timeout=300_000)
            took = time.perf_counter() - t0
            ctx.close()
            return took
        finally:
            stop_server(proc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        times = [once(b) for _ in range(args.runs)]
        b.close()
    print("| measure | median | runs |")
    print("|---|---|---|")
    print(f"| first start (empty cache): page opened -> three lists drawn | {statistics.median(times):.1f} s | "
          f"{', '.join(f'{t:.1f}' for t in times)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
