"""This machine's floor for a Streamlit page, without our app: what `bench_ui.py`'s figures compare against.

Serves two bare apps from a temporary folder with the same Streamlit, server settings (`benchmarks/serve.py`, as
`make run`) and headless Chromium as `bench_ui.py`: a title alone; Explore's skeleton (a sidebar with a select box,
a slider and an expander, a title, three 20-row tables, as ``st.dataframe`` grids and as the HTML tables Explore
draws); and a title over three plotly scatter charts of 1,700 points each (WebGL, as our maps; ``--svg`` adds
SVG charts, ``--echarts`` the same points as Streamlit's own ``st.echarts_chart`` canvas charts with a box/lasso
brush, ``--subplots`` as three subplots of one plotly figure). Times navigation -> title and -> three charts
drawn, fresh and warm browser.

    python benchmarks/bench_floor.py [--runs 5] [--svg] [--echarts] [--subplots]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.serve import CHROMIUM, CHROMIUM_ARGS, LISTS_DRAWN, start_server, stop_server  # noqa: E402

APP = '''
import numpy as np, pandas as pd, plotly.graph_objects as go, streamlit as st
charts = st.query_params.get("charts", "none")
if charts in ("lists", "html"):  # Explore's skeleton: a sidebar of widgets, a title, three 20-row tables
    st.sidebar.selectbox("Dataset", ["ml-100k", "other"])
    st.sidebar.select_slider("Blend", options=[round(i / 20, 2) for i in range(21)], value=0.2)
    with st.sidebar.expander("Saved views"):
        st.text_input("Name")
st.title("Floor " + charts)
if charts in ("lists", "html"):
    rng = np.random.default_rng(0)
    for k, col in zip(("content", "collab", "hybrid"), st.columns(3)):
        df = pd.DataFrame({"rank": range(1, 21), "title": [f"Movie {i} (1999)" for i in range(20)],
                           "score": rng.random(20), "genres": ["Drama|Comedy"] * 20, "n": rng.integers(1, 500, 20)})
        box = col.container(key=f"list_{k}")
        if charts == "lists":  # as a data grid
            box.dataframe(df, hide_index=True)
        else:  # as the plain HTML table Explore draws now
            box.html(df.to_html(index=False, classes="rs-list"))
elif charts == "echarts":  # the same points on Streamlit's bundled ECharts (canvas), brush and zoom on
    rng = np.random.default_rng(0)
    for i, col in enumerate([*st.columns(2), st.container()]):
        df = pd.DataFrame({"x": rng.normal(size=1700), "y": rng.normal(size=1700), "g": np.arange(1700) % 8})
        col.echarts_chart({
            "animation": False, "dataset": {"source": df}, "tooltip": {}, "dataZoom": [{"type": "inside"}],
            "xAxis": {"type": "value", "show": False, "scale": True}, "yAxis": {"type": "value", "show": False, "scale": True},
            "brush": {"xAxisIndex": "all", "toolbox": ["rect", "polygon", "clear"]},
            "toolbox": {"feature": {"brush": {"type": ["rect", "polygon", "clear"]}}},
            "visualMap": {"show": False, "dimension": 2, "min": 0, "max": 7},
            "series": [{"type": "scatter", "symbolSize": 5, "encode": {"x": "x", "y": "y"}}],
        }, height=460, key=f"e{i}", on_select="rerun")
elif charts == "subplots":  # the same three WebGL scatters as subplots of one figure (one plot, one GL context)
    from plotly.subplots import make_subplots
    rng = np.random.default_rng(0)
    fig = make_subplots(rows=2, cols=2, specs=[[{}, {}], [{"colspan": 2}, None]], row_heights=[0.45, 0.55])
    for i, (r, c) in enumerate(((1, 1), (1, 2), (2, 1))):
        x, y = rng.normal(size=1700), rng.normal(size=1700)
        for j in range(8):
            fig.add_trace(go.Scattergl(x=x[j::8], y=y[j::8], mode="markers", name=str(j), showlegend=i == 0), row=r, col=c)
    st.plotly_chart(fig.update_layout(height=1020), key="sub", on_select="rerun", selection_mode=("points", "box", "lasso"))
elif charts != "none":
    rng = np.random.default_rng(0)
    for i, col in enumerate([*st.columns(2), st.container()]):
        x, y = rng.normal(size=1700), rng.normal(size=1700)
        kind = go.Scattergl if charts == "webgl" else go.Scatter
        fig = go.Figure([kind(x=x[j::8], y=y[j::8], mode="markers", name=str(j)) for j in range(8)])
        col.plotly_chart(fig.update_layout(height=460), key=f"m{i}", on_select="rerun",
                         selection_mode=("points", "box", "lasso"))
'''
GRIDS_DRAWN = ("() => ['content','collab','hybrid'].every(k => { const r = document.querySelector('.st-key-list_' + k);"
               " return r && r.querySelector('[data-testid^=\"glide-cell-\"]'); })")
CANVASES_DRAWN = ("() => { const c = Array.from(document.querySelectorAll('canvas'));"
                  " return c.length >= 3 && c.every(e => e.width > 0); }")
DRAWN = ("() => Array.from(document.querySelectorAll('.js-plotly-plot')).filter(gd => gd._fullLayout"
         " && gd.querySelector('.main-svg') && (gd._fullData || []).some(t => t.x && t.x.length)).length >= 3")

SUBPLOTS_DRAWN = ("() => Array.from(document.querySelectorAll('.js-plotly-plot')).some(gd => gd._fullLayout"
                  " && gd.querySelector('.main-svg') && (gd._fullData || []).filter(t => t.x && t.x.length).length >= 24)")
# what "drawn" means per kind of page (plotly charts otherwise)
DRAWN_WHEN = {"lists": GRIDS_DRAWN, "html": LISTS_DRAWN, "echarts": CANVASES_DRAWN, "subplots": SUBPLOTS_DRAWN}


def main() -> int:
    """Measure and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--svg", action="store_true", help="also time the charts drawn as SVG")
    ap.add_argument("--echarts", action="store_true", help="also time them as st.echarts_chart canvas charts")
    ap.add_argument("--subplots", action="store_true", help="also time them as three subplots of one plotly figure")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        print("chromium not found: apt-get install chromium to run this benchmark", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    (tmp / "app.py").write_text(APP)
    proc, url = start_server(tmp / "log.txt", app=tmp / "app.py")
    url += "/"
    rows: dict[str, list[float]] = {}
    try:
        kinds = ["none", "lists", "html", "webgl"] + [k for k in ("svg", "echarts", "subplots") if getattr(args, k)]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            warm = browser.new_context(viewport={"width": 1600, "height": 1000})
            warm.new_page().goto(url)  # the warm profile has the frontend cached
            for _ in range(args.runs):
                for kind in kinds:
                    for label, ctx in (("fresh", None), ("warm", warm)):
                        own = ctx or browser.new_context(viewport={"width": 1600, "height": 1000})
                        page = own.new_page()
                        t = time.perf_counter()
                        page.goto(f"{url}?charts={kind}")
                        page.get_by_role("heading", name=f"Floor {kind}").wait_for(timeout=60_000)
                        what = {"none": "title", "lists": "sidebar, title, three st.dataframe tables",
                                "html": "sidebar, title, three HTML tables"}.get(kind, f"three {kind} charts")
                        if kind != "none":
                            page.wait_for_function(DRAWN_WHEN.get(kind, DRAWN), timeout=60_000)
                        rows.setdefault(f"navigation -> {what} ({label} browser)", []).append(time.perf_counter() - t)
                        page.close()
                        if ctx is None:
                            own.close()
            browser.close()
    finally:
        stop_server(proc)
    print("| bare Streamlit page, headless Chromium | median s | min s | max s | runs |\n|---|---|---|---|---|")
    for name, xs in rows.items():
        print(f"| {name} | {statistics.median(xs):.2f} | {min(xs):.2f} | {max(xs):.2f} | {len(xs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
