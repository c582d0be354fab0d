"""The maps' chart element: a plotly figure drawn by a 1.6 MB plotly.js bundle instead of Streamlit's 4.7 MB one.

Streamlit's ``st.plotly_chart`` loads the whole of plotly.js (every trace type, maps and 3-D included); evaluating
it took about 2 s of a Latent space page load in headless Chromium, more than drawing the three maps. This element
is a Streamlit custom component (v2: drawn in the page, no iframe) that loads ``static/plotly-maps.min.js`` (plotly's
core, ``scattergl`` and ``histogram2dcontour``: what the maps draw; ``make map-bundle`` rebuilds it) once per browser
tab and hands selections back in the shape ``st.plotly_chart(on_select="rerun")`` uses, so ``ui.selection`` and
``ui.maps`` read both alike. Other charts (Tune, Data & model) stay on ``st.plotly_chart``.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

BUNDLE = Path(__file__).resolve().parents[1] / "static" / "plotly-maps.min.js"
COMPONENT = "recsys_map"

_JS = r"""
function plotlyFrom(src) {
  // one <script> per tab, however many maps (or evaluations of this module) ask for it
  const loads = (window.RecsysPlotlyLoads = window.RecsysPlotlyLoads || {});
  if (!loads[src]) {
    loads[src] = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.async = true;
      s.onload = () => (window.RecsysPlotly ? resolve(window.RecsysPlotly) : reject(new Error("no plotly")));
      s.onerror = () => { delete loads[src]; reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }
  return loads[src];
}

function asArray(v) {
  return v && typeof v === "object" && typeof v.length === "number" ? Array.from(v) : v;
}

function selectionOf(ev) {
  // the shape st.plotly_chart(on_select="rerun") returns, so the server reads both alike
  const points = ((ev && ev.points) || []).map((p) => ({
    curve_number: p.curveNumber, point_number: p.pointNumber, point_index: p.pointIndex,
    x: p.x, y: p.y, customdata: asArray(p.customdata),
  }));
  const box = ev && ev.range ? [{ xref: "x", yref: "y", x: ev.range.x, y: ev.range.y }] : [];
  const lasso = ev && ev.lassoPoints ? [{ xref: "x", yref: "y", x: ev.lassoPoints.x, y: ev.lassoPoints.y }] : [];
  return { points, point_indices: points.map((p) => p.point_index), box, lasso };
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let gd = parentElement.querySelector("div.rs-map");
  if (!gd) {
    gd = document.createElement("div");
    gd.className = "rs-map";
    gd.setAttribute("data-testid", "stMapChart");
    parentElement.appendChild(gd);
  }
  gd.rsSetState = setStateValue;  // the newest one: events below always report through it
  const fig = JSON.parse(data.figure);
  fig.layout.font = Object.assign({ family: getComputedStyle(parentElement).fontFamily }, fig.layout.font || {});
  gd.style.height = (fig.layout.height || 450) + "px";
  plotlyFrom(data.src).then((Plotly) => {
    // react, not newPlot: the visitor's zoom and pan survive reruns (layout.uirevision)
    return Promise.resolve(Plotly.react(gd, fig.data, fig.layout, data.config)).then(() => {
      if (gd.rsBound) return null;
      gd.rsBound = true;
      gd.on("plotly_selected", (ev) => { if (ev && !gd.rsClearing) gd.rsSetState("selection", selectionOf(ev)); });
      gd.on("plotly_deselect", () => { if (!gd.rsClearing) gd.rsSetState("selection", selectionOf(null)); });
      gd.rsResize = new ResizeObserver(() => { if (gd._fullLayout) Plotly.Plots.resize(gd); });
      gd.rsResize.observe(gd);
    }).then(() => {
      if (!data.clear) return null;
      // the area drawn here is no longer the selection in use: drop its outline and dimming (the events plotly
      // fires meanwhile are ours, not the visitor's), then report the map as holding no selection, once
      gd.rsClearing = true;
      return Promise.resolve(Plotly.relayout(gd, { selections: [] }))
        .then(() => Plotly.restyle(gd, { selectedpoints: [null] }))
        .finally(() => { gd.rsClearing = false; })
        .then(() => gd.rsSetState("selection", selectionOf(null)));
    });
  }).catch((err) => {
    gd.textContent = "The map could not be drawn (" + err.message + "). Reload the page.";
  });
  return () => {
    // unmounted: free the WebGL contexts now rather than whenever the page is collected
    if (gd.rsResize) gd.rsResize.disconnect();
    if (window.RecsysPlotly && gd._fullLayout) window.RecsysPlotly.purge(gd);
    gd.rsBound = false;
  };
}
"""

_CSS = ".rs-map { width: 100%; }"


@cache
def _bundle_url() -> str:
    """The bundle's address under the app's static route, versioned by its content so browsers cache it safely."""
    digest = hashlib.sha256(BUNDLE.read_bytes()).hexdigest()[:12]
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{'/' + base if base else ''}/app/static/{BUNDLE.name}?v={digest}"


@cache
def _component() -> Any:
    """Registered once per process: Streamlit keeps components by name."""
    return st.components.v2.component(COMPONENT, html="", css=_CSS, js=_JS, isolate_styles=False)


def _no_op() -> None:
    """The selection is read from the element's result on the rerun it triggers; nothing else to do."""


def served() -> bool:
    """Whether the bundle can reach the browser: ``server.enableStaticServing`` comes from the folder's
    ``.streamlit/config.toml``, which a server started from another folder does not read."""
    return bool(st.get_option("server.enableStaticServing")) and BUNDLE.is_file()


def draw(fig: go.Figure, config: dict[str, Any], key: str, clear: bool = False) -> Any:
    """Draw ``fig`` and return its selection event (``{"selection": {points, box, lasso, ...}}``), as plotly_chart;
    ``clear`` drops the box or lasso the visitor drew on it (and the event) once that is no longer the selection.

    Without the bundle being served the map is ``st.plotly_chart`` itself: slower to load, the same map (its old
    box stays drawn until the visitor double-clicks it)."""
    if not served():
        return st.plotly_chart(fig, config=config, key=key, on_select="rerun", selection_mode=("points", "box", "lasso"))
    result = _component()(
        key=key, data={"figure": fig.to_json(), "config": config, "src": _bundle_url(), "clear": clear},
        default={"selection": None}, on_selection_change=_no_op,
    )
    sel = getattr(result, "selection", None)
    return {"selection": sel or {"points": [], "point_indices": [], "box": [], "lasso": []}}
