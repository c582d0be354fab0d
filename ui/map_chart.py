"""The maps' chart element: a plotly figure drawn by a 1.6 MB plotly.js bundle instead of Streamlit's 4.7 MB one.

Streamlit's ``st.plotly_chart`` loads the whole of plotly.js (every trace type, maps and 3-D included); evaluating
it took about 2 s of a Latent space page load in headless Chromium, more than drawing the three maps. This element
is a Streamlit custom component (v2: drawn in the page, no iframe) that loads ``static/plotly-maps.min.js`` (plotly's
core, ``scattergl`` and ``histogram2dcontour``: what the maps draw; ``make map-bundle`` rebuilds it) once per browser
tab and hands selections back in the shape ``st.plotly_chart(on_select="rerun")`` uses, so ``ui.selection`` and
``ui.maps`` read both alike. Other charts (Tune, Data & model) stay on ``st.plotly_chart``.

``ring_list`` is the list beside the blended map, a component of the same kind: a plain table whose hovered row
brings up that movie's label on every map (a window event the maps listen to) and whose clicked row is picked.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from ui.tables import RULES

BUNDLE = Path(__file__).resolve().parents[1] / "static" / "plotly-maps.min.js"
COMPONENT = "recsys_map"
LIST_COMPONENT = "recsys_map_list"

_JS = r"""
const NARROW_PX = 480;  // a map's title (up to ~210 px) and its toolbar (~220 px) side by side, with room

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

function pointOf(gd, row) {
  // (trace, point) of a catalogue row among the map's dots (scattergl traces; customdata[0] is the row)
  if (!gd._fullData) return null;
  if (gd.rsIndexOf !== gd._fullData) {
    gd.rsIndex = new Map();
    gd._fullData.forEach((t, c) => {
      if (t.type !== "scattergl" || !t.customdata) return;
      for (let i = 0; i < t.customdata.length; i++) gd.rsIndex.set(Number(t.customdata[i][0]), [c, i]);
    });
    gd.rsIndexOf = gd._fullData;
  }
  return gd.rsIndex.get(row) || null;
}

function onListHover(ev) {
  // a row of the map list under the pointer: show that movie's hover label on every map (none: hide them)
  const Plotly = window.RecsysPlotly;
  if (!Plotly) return;
  document.querySelectorAll("div.rs-map").forEach((gd) => {
    const at = ev.detail === null ? null : pointOf(gd, ev.detail);
    // hover at the dot's data coordinates (plotly's point-list form skips WebGL traces): its label comes up
    if (at) Plotly.Fx.hover(gd, { xval: gd._fullData[at[0]].x[at[1]], yval: gd._fullData[at[0]].y[at[1]] }, "xy");
    else if (gd._fullLayout) Plotly.Fx.unhover(gd);
  });
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  if (!window.RecsysListHover) {
    window.RecsysListHover = true;
    window.addEventListener("recsys-map-list-hover", onListHover);
  }
  let gd = parentElement.querySelector("div.rs-map");
  if (!gd) {
    gd = document.createElement("div");
    gd.className = "rs-map";
    gd.setAttribute("data-testid", "stMapChart");
    parentElement.appendChild(gd);
  }
  gd.rsSetState = setStateValue;  // the newest one: events below always report through it
  const fig = JSON.parse(data.figure);
  // on a touch screen a finger drawn over a map scrolls the page (a box drawn by default trapped it: the map is
  // most of a phone's screen); the toolbar's Box or Lasso Select still selects, and that choice then stays
  if (window.matchMedia && window.matchMedia("(pointer: coarse)").matches) fig.layout.dragmode = false;
  // a map narrower than its title and toolbar side by side (a phone) keeps the toolbar in a column of its own at
  // the right edge: across the top it covered the title
  if (parentElement.getBoundingClientRect().width < NARROW_PX) {
    fig.layout.modebar = Object.assign({}, fig.layout.modebar, { orientation: "v" });
    fig.layout.margin = Object.assign({}, fig.layout.margin, { r: 36 });
  }
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

_LIST_JS = r"""
export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let table = parentElement.querySelector("table.rs-maplist");
  if (!table) {
    table = document.createElement("table");
    table.className = "rs-list rs-maplist";
    const wrap = document.createElement("div");
    wrap.className = "rs-list-wrap";
    wrap.appendChild(table);
    parentElement.appendChild(wrap);
    const hover = (row) => window.dispatchEvent(new CustomEvent("recsys-map-list-hover", { detail: row }));
    const rowOf = (ev) => ev.target.closest("tr[data-row]");
    table.addEventListener("mouseover", (ev) => { const tr = rowOf(ev); if (tr) hover(Number(tr.dataset.row)); });
    table.addEventListener("mouseleave", () => hover(null));
    const pick = (tr) => {
      const row = Number(tr.dataset.row);
      table.rsSetState("picked", row === table.rsPicked ? null : row);  // a second click lets go
    };
    table.addEventListener("click", (ev) => { const tr = rowOf(ev); if (tr) pick(tr); });
    table.addEventListener("keydown", (ev) => {
      const tr = rowOf(ev);
      if (tr && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); pick(tr); }
    });
  }
  table.rsSetState = setStateValue;
  table.rsPicked = data.picked;
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const [h, cls] of [["#", "n"], ["Title", ""]]) {
    const th = document.createElement("th");
    th.textContent = h;
    th.className = cls;
    head.appendChild(th);
  }
  const body = table.createTBody();
  for (const r of data.rows) {
    const tr = body.insertRow();
    tr.dataset.row = String(r.row);
    tr.tabIndex = 0;
    tr.title = "Ring " + r.title + " on every map";
    if (r.row === data.picked) tr.className = "picked";
    const rank = tr.insertCell();
    rank.className = "n";
    rank.textContent = String(r.rank);
    const title = tr.insertCell();
    title.className = "t";
    title.textContent = r.title;  // text, never markup: titles come from the data
  }
}
"""

# Explore's list look (ui/tables.py), plus what a pointer and a pick need.
_LIST_CSS = RULES + (
    ".rs-maplist{width:100%}.rs-maplist td.t{max-width:none}.rs-maplist tbody tr{cursor:pointer}"
    ".rs-maplist tbody tr:hover td,.rs-maplist tbody tr:focus td{background:rgba(128,128,128,.12);outline:none}"
    ".rs-maplist tbody tr.picked td{background:rgba(228,87,46,.16);font-weight:600}"
)


@cache
def _bundle_url() -> str:
    """The bundle's address under the app's static route, versioned by its content so browsers cache it safely."""
    digest = hashlib.sha256(BUNDLE.read_bytes()).hexdigest()[:12]
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{'/' + base if base else ''}/app/static/{BUNDLE.name}?v={digest}"


@cache
def _component(name: str) -> Any:
    """The map or the list, registered once per process (Streamlit keeps components by name); in the page's own
    DOM, not a shadow root, so plotly's document-wide styles reach the map."""
    css, js = {COMPONENT: (_CSS, _JS), LIST_COMPONENT: (_LIST_CSS, _LIST_JS)}[name]
    return st.components.v2.component(name, html="", css=css, js=js, isolate_styles=False)


def picked_in_list(key: str) -> int | None:
    """The catalogue row picked in the map list ``key`` (as the browser left it), or None."""
    state = st.session_state.get(key)
    try:
        picked = state["picked"] if state is not None else None
    except (KeyError, TypeError):
        return None
    return int(picked) if isinstance(picked, int | float) else None


def ring_list(rows: list[tuple[int, str, int]], key: str, picked: int | None) -> None:
    """The map list: (rank, title, catalogue row) per movie; hovering a row shows that movie's label on every map,
    clicking it (or Enter) picks it for the maps to ring, a second click lets go. Titles are set as text."""
    _component(LIST_COMPONENT)(
        key=key, data={"rows": [{"rank": rank, "title": title, "row": row} for rank, title, row in rows],
                       "picked": picked},
        default={"picked": None}, on_picked_change=_no_op,
    )


def _no_op() -> None:
    """A change (a selection, a pick) is read from the element's state on the rerun it triggers; nothing else."""


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
    result = _component(COMPONENT)(
        key=key, data={"figure": fig.to_json(), "config": config, "src": _bundle_url(), "clear": clear},
        default={"selection": None}, on_selection_change=_no_op,
    )
    sel = getattr(result, "selection", None)
    return {"selection": sel or {"points": [], "point_indices": [], "box": [], "lasso": []}}
