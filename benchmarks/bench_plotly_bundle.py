"""What a plotly.js bundle costs a page, without Streamlit: evaluating it, then drawing three maps with it.

Serves a bare HTML page from a temporary folder (loopback HTTP) that loads one bundle and draws three WebGL
scatter charts of 1,700 points (eight traces each, box selection on, as the Latent space maps), in the headless
Chromium the other benchmarks use. Bundles: the whole of plotly.js as the plotly Python package ships it (what
Streamlit's ``st.plotly_chart`` loads) and ``static/plotly-maps.min.js`` (the maps' own: core, scattergl,
histogram2dcontour). Prints seconds from the script tag to plotly being defined (fetch and evaluation) and from
there to the three charts drawn, same browser profile (its cache warm after the first load).

    python benchmarks/bench_plotly_bundle.py [--runs 5]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import plotly

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.serve import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PAGE = """<!doctype html><html><body>
<div id="a" style="width:430px;height:460px"></div><div id="b" style="width:430px;height:460px"></div>
<div id="c" style="width:680px;height:560px"></div>
<script>window.t0 = performance.now();</script>
<script src="BUNDLE"></script>
<script>
window.tEval = performance.now() - window.t0;
const P = window.RecsysPlotly || window.Plotly;
let seed = 1;
const rnd = (n) => Array.from({length: n}, () => ((seed = (seed * 16807) % 2147483647) / 2147483647));
const t1 = performance.now();
Promise.all(["a", "b", "c"].map((id) => P.newPlot(id,
  Array.from({length: 8}, () => ({type: "scattergl", mode: "markers", x: rnd(213), y: rnd(213)})),
  {dragmode: "select", margin: {l: 10, r: 10, t: 36, b: 10}}, {responsive: true})))
  .then(() => requestAnimationFrame(() => { window.tDraw = performance.now() - t1; window.done = true; }));
</script></body></html>"""


def main() -> int:
    """Measure and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        print("chromium not found: apt-get install chromium to run this benchmark", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    bundles = {"whole plotly.js (st.plotly_chart's)": Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
               "static/plotly-maps.min.js (the maps')": ROOT / "static" / "plotly-maps.min.js"}
    tmp = Path(tempfile.mkdtemp(prefix="bench-bundle-"))
    for i, path in enumerate(bundles.values()):
        shutil.copy(path, tmp / f"b{i}.js")
        (tmp / f"p{i}.html").write_text(PAGE.replace("BUNDLE", f"b{i}.js"))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            """No request log on the table's stdout."""

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in bundles}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
            for _ in range(args.runs):
                for i, name in enumerate(bundles):  # alternating, so a noisy moment hits both
                    page = ctx.new_page()
                    page.goto(f"{url}/p{i}.html")
                    page.wait_for_function("window.done === true", timeout=60_000)
                    rows[name].append((page.evaluate("window.tEval") / 1000, page.evaluate("window.tDraw") / 1000))
                    page.close()
                    time.sleep(0.2)
            browser.close()
    finally:
        srv.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print("| bundle, bare page, headless Chromium | size | load + evaluate, median s | three maps drawn, median s | runs |")
    print("|---|---|---|---|---|")
    for name, path in bundles.items():
        ev, dr = [r[0] for r in rows[name]], [r[1] for r in rows[name]]
        print(f"| {name} | {path.stat().st_size / 1e6:.1f} MB | {statistics.median(ev):.2f} ({min(ev):.2f}-{max(ev):.2f}) "
              f"| {statistics.median(dr):.2f} ({min(dr):.2f}-{max(dr):.2f}) | {len(ev)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
