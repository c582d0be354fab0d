"""First start as a new user meets it: `streamlit run app.py` on an EMPTY artifacts folder, one browser
opens the page, and we time how long until the three Explore lists are drawn (the server builds what
they need as a job; the rating model and the evaluation follow in the background).

    python benchmarks/bench_first_start.py [--runs 3] [--delay 0 --delay 8]

``--delay S`` opens the page S seconds after the server answers its health check (0: at once, the worst case;
a person who ran `make run` and then clicks its link opens it a few seconds later). The server starts the
default dataset's build when it starts, not when the first page asks for it.
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


def once(browser: object, delay_s: float = 0.0) -> float:
    """Seconds from opening the page (``delay_s`` after the server answers) on a fresh server with an empty cache
    to the three lists drawn."""
    with tempfile.TemporaryDirectory(prefix="first-start-") as tmp:
        art = Path(tmp) / "artifacts"
        art.mkdir()
        proc, url = start_server(Path(tmp) / "log.txt", art)
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            pg = ctx.new_page()
            time.sleep(delay_s)
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
    ap.add_argument("--delay", type=float, action="append", help="seconds between health and opening (repeatable)")
    args = ap.parse_args(argv)
    delays = args.delay or [0.0]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        times = {d: [once(b, d) for _ in range(args.runs)] for d in delays}
        b.close()
    print("| first start (empty cache): page opened -> three lists drawn | median | runs |")
    print("|---|---|---|")
    for d, ts in times.items():
        print(f"| opened {d:g} s after the server answers | {statistics.median(ts):.1f} s | "
              f"{', '.join(f'{t:.1f}' for t in ts)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
