"""The Latent space maps: a WebGL UMAP scatter per space with region labels, selections and highlights.

Labels, hover text and legend entries are data (titles, genres), escaped with ``plot_text`` because
plotly renders HTML in them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui import engine
from ui.charts import ACCENT, NEIGHBOUR, layout
from ui.engine import Explorer
from ui.format import plot_text, plot_texts, printable
from ui.picker import select_row
from ui.regions import padded_range, place_labels, place_point_labels
from ui.selection import event_parts, row_of
from ui.state import K

COLOUR_MODES = {
    "Main genre": "main_genre",
    "Decade": "decade",
    "Popularity": "n_ratings",
    "Mean rating": "mean_rating",
    "Agreement": "overlap",
}
_PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6",
            "#9D755D", "#BAB0AC", "#2F4B7C", "#A05195"]
_HOVER = "%{text}<br>%{customdata[1]:,} ratings · mean %{customdata[2]:.2f}<extra></extra>"
# plotly.js 4 offers "Share chart...", an upload to Plotly's cloud, unless told not to: a demo must not send the
# catalogue to a third party (and this server may have no internet). The PNG button keeps a map for a slide.
MAP_CONFIG: dict[str, Any] = {"displaylogo": False, "scrollZoom": True, "showSendToCloud": False,
                              "modeBarButtonsToRemove": ["autoScale2d"]}
FOUND = "#1F2933"
LABEL_FONT_PX = 11.0
POINT_FONT_PX = 10.0  # the selected movie's and its first five neighbours' titles


def map_config(name: str) -> dict[str, Any]:
    """The maps' plotly config, its PNG named for what it shows (a dataset's map, not "newplot.png")."""
    return {**MAP_CONFIG, "toImageButtonOptions": {"format": "png", "filename": name, "scale": 2}}


def _custom(part: pd.DataFrame) -> np.ndarray:
    """Per point, one float32 array sent base64 (not JSON text): catalogue row (clicks, boxes), ratings, mean.

    In the browser's selection events a row of it arrives as {"0": row, ...}; ``ui.selection.row_of`` reads both."""
    return np.column_stack([part["movie"].to_numpy(np.float32), part["n_ratings"].to_numpy(np.float32),
                            part["mean_rating"].fillna(0.0).to_numpy(np.float32)])


def _xy(part: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates as float32 rounded to 3 decimals (UMAP units: far finer than a pixel), a third of float64's bytes."""
    return (np.round(part["x"].to_numpy(np.float32), 3), np.round(part["y"].to_numpy(np.float32), 3))


@st.cache_data(show_spinner="Naming the map's regions (first time only)…", max_entries=32)
def regions_for(key: str, _ex: Explorer, space: str, alpha: float, _coords: np.ndarray) -> list[tuple[str, float, float, int]]:
    """The map's labelled regions as (label, x, y, size), biggest first: computed once per map and artifact."""
    return [(r.label, r.x, r.y, r.size) for r in engine.region_labels(_ex, _coords) if r.label]


# The maps' widths in a 1,400 px window, where labels are placed without overlaps: a wider window only spreads
# them further apart (label offsets are pixels), a narrower one may cut a label at the edge.
HALF_WIDTH_PX, BLEND_WIDTH_PX = 430.0, 680.0


def map_figure(df: pd.DataFrame, colour: str, title: str, selected: int | None,
               neighbours: Sequence[int], height: int = 520, legend: bool = True,
               regions: Sequence[tuple[str, float, float, int]] = (), width_px: float = HALF_WIDTH_PX,
               density: bool = False, chosen: Sequence[int] = (), highlight: int | None = None,
               lines: bool = False) -> go.Figure:
    """A UMAP map as WebGL scatter: hover shows title, ratings and mean; box/lasso select; optional overlays.

    ``regions`` are labelled without overlaps at the default zoom, ``density`` adds contours, ``chosen`` rows
    (a map selection) are ringed, ``highlight`` (a found title or a list row) is ringed and centred, and
    ``lines`` joins the selected movie to its neighbours.
    """
    fig = go.Figure()
    x_full, y_full = padded_range(df["x"].tolist() or [0.0]), padded_range(df["y"].tolist() or [0.0])
    if density and len(df) > 20:
        xs, ys = _xy(df)
        fig.add_trace(go.Histogram2dContour(
            x=xs, y=ys, ncontours=8, showscale=False, hoverinfo="skip", name="density", showlegend=False,
            contours={"coloring": "lines"}, line={"width": 1}, colorscale=[[0, "#CBD2D9"], [1, "#3E4C59"]],
            opacity=0.6,
        ))

    def add(part: pd.DataFrame, name: str, marker: dict[str, Any], showlegend: bool = True) -> None:
        xs, ys = _xy(part)
        fig.add_trace(go.Scattergl(
            x=xs, y=ys, mode="markers", name=plot_text(name, 40), text=plot_texts(part["label"], 80),
            customdata=_custom(part), hovertemplate=_HOVER, marker=marker, showlegend=showlegend,
        ))

    col = COLOUR_MODES.get(colour, "main_genre")
    if col in ("main_genre", "decade") and not legend:
        # no legend to fill: one WebGL trace coloured by category code (a step colour scale), not one per category
        cats = df[col].value_counts()
        top = list(cats.index[:11])
        if col == "decade":
            top = sorted(top)
        colours = [_PALETTE[i % 12] for i in range(len(top))] + ["#BAB0AC"]
        n = len(colours)
        code = df[col].map({c: i for i, c in enumerate(top)}).fillna(n - 1).to_numpy(np.uint8)
        scale = [step for i, c in enumerate(colours) for step in ([i / n, c], [(i + 1) / n, c])]
        add(df, colour, {"size": 5, "opacity": 0.75, "color": code, "colorscale": scale, "cmin": -0.5,
                         "cmax": n - 0.5}, showlegend=False)
    elif col in ("main_genre", "decade"):
        cats = df[col].value_counts()
        top = list(cats.index[:11])
        if col == "decade":
            top = sorted(top)
        slim = df[["x", "y", "label", "movie", "n_ratings", "mean_rating", col]]  # what a trace reads
        rows = slim.groupby(col, sort=False, observed=True).indices  # each category's rows, in one pass
        for i, cat in enumerate(top):
            add(slim.iloc[rows[cat]], str(cat), {"size": 5, "opacity": 0.75, "color": _PALETTE[i % 12]})
        rest = slim[~slim[col].isin(top)]
        if len(rest):
            add(rest, "other", {"size": 5, "opacity": 0.5, "color": "#BAB0AC"})
    else:
        values = df[col].astype(float)
        cbar = {"Popularity": "log10 ratings", "Mean rating": "Mean rating",
                "Agreement": "Top-20 overlap"}[colour]
        if col == "n_ratings":
            values = np.log10(values.clip(lower=1))
        scale = "RdYlGn" if col == "overlap" else "Viridis"
        add(df, colour, {"size": 5, "opacity": 0.8, "color": np.round(values.to_numpy(np.float32), 3),
                         "colorscale": scale, "colorbar": {"title": {"text": cbar}, "thickness": 10}},
            showlegend=False)

    def overlay(part: pd.DataFrame, name: str, marker: dict[str, Any], text: list[str] | None = None,
                position: str = "top center") -> None:
        xs, ys = _xy(part)
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="markers+text" if text else "markers", name=name, text=text,
            hovertext=plot_texts(part["label"], 80), textposition=position, textfont={"size": 10},
            customdata=_custom(part), hovertemplate=_HOVER.replace("%{text}", "%{hovertext}"), marker=marker,
        ))

    if chosen:
        sel = df[df["movie"].isin(list(chosen))]
        if len(sel):
            overlay(sel, "Map selection", {"size": 8, "color": "rgba(0,0,0,0)",
                                           "line": {"width": 1.5, "color": "#1F2933"}})
    point_labels: list[tuple[str, float, float]] = []
    star = False
    if selected is not None:
        nb = df[df["movie"].isin(list(neighbours))]
        me = df[df["movie"] == selected]
        if lines and len(nb) and len(me):
            mx, my = _xy(me)
            nx, ny = _xy(nb)
            lx = np.column_stack([np.full(len(nb), mx[0]), nx, np.full(len(nb), np.nan)]).ravel()
            ly = np.column_stack([np.full(len(nb), my[0]), ny, np.full(len(nb), np.nan)]).ravel()
            fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", name="Links to neighbours", hoverinfo="skip",
                                     line={"width": 1, "color": NEIGHBOUR}, opacity=0.8))
        if len(nb):
            overlay(nb, "Top-20 neighbours",
                    {"size": 10, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": NEIGHBOUR}})
        if len(me):
            overlay(me, "Selected", {"size": 16, "symbol": "star", "color": ACCENT,
                                     "line": {"width": 1, "color": "black"}})
        # the star's title, then its first five neighbours' (in rank order), each beside its point without overlaps
        star = len(me) > 0
        first = nb.set_index("movie").reindex(list(neighbours)[:5]).dropna(subset=["x"])
        point_labels = [(printable(t, limit), float(x), float(y)) for part, limit in ((me, 40), (first, 28))
                        for t, x, y in zip(part["label"], part["x"], part["y"], strict=True)]
    x_range, y_range = x_full, y_full
    if highlight is not None:
        hit = df[df["movie"] == highlight]
        if len(hit):
            overlay(hit, "Found", {"size": 22, "color": "rgba(0,0,0,0)", "line": {"width": 3, "color": FOUND}},
                    [f"<b>{plot_text(t, 40)}</b>" for t in hit["label"]])
            hx, hy = float(hit["x"].iloc[0]), float(hit["y"].iloc[0])
            wx, wy = (x_full[1] - x_full[0]) * 0.2, (y_full[1] - y_full[0]) * 0.2
            x_range, y_range = (hx - wx, hx + wx), (hy - wy, hy + wy)  # centred, zoomed in
    fig.update_xaxes(showticklabels=False, ticks="", title_text="", zeroline=False, showgrid=False, range=list(x_range))
    fig.update_yaxes(showticklabels=False, ticks="", title_text="", zeroline=False, showgrid=False, range=list(y_range))
    plot_w = max(width_px - 20, 100)
    plot_h = max(height - 46 - (40 if legend else 0), 100)
    placed = place_point_labels(point_labels, x_range, y_range, plot_w, plot_h, POINT_FONT_PX)
    # annotations go in as one list: plotly's add_annotation re-validates every earlier one on each call, which
    # made these labels half of the three maps' server time
    notes: list[dict[str, Any]] = []
    for pl in placed:
        is_star = star and pl.order == 0
        notes.append({"x": pl.x, "y": pl.y, "ax": pl.dx, "ay": -pl.dy, "axref": "pixel", "ayref": "pixel",
                      "name": "point", "text": f"<b>{plot_text(pl.text)}</b>" if is_star else plot_text(pl.text),
                      "showarrow": True, "arrowhead": 0, "arrowwidth": 1, "standoff": 4,
                      "arrowcolor": ACCENT if is_star else NEIGHBOUR,
                      "font": {"size": POINT_FONT_PX, "color": "#1F2933"}, "bgcolor": "rgba(255,255,255,0.85)",
                      "borderpad": 1})
    if regions and highlight is None:
        for p in place_labels(regions, x_full, y_full, plot_w, plot_h, LABEL_FONT_PX, taken=[pl.box for pl in placed]):
            notes.append({"x": p.x, "y": p.y, "text": plot_text(p.text), "showarrow": False, "name": "region",
                          "font": {"size": LABEL_FONT_PX, "color": "#1F2933"},
                          "bgcolor": "rgba(255,255,255,0.78)", "borderpad": 2})
    if notes:
        fig.update_layout(annotations=notes)
    layout(fig, height, title={"text": plot_text(title), "font": {"size": 14}, "x": 0, "xanchor": "left", "y": 0.98},
           dragmode="select", clickmode="event+select", showlegend=legend, plot_bgcolor="#FAFBFC",
           uirevision=f"{title}|{highlight}")
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.02, "x": 0, "xanchor": "left",
                              "font": {"size": 10}},
                      margin={"l": 10, "r": 10, "t": 36, "b": 10})
    return fig


def apply_map_click(ex: Explorer, chart_key: str, event: Any) -> None:
    """A clicked point on a map selects that movie everywhere (each selection is applied once)."""
    ss = st.session_state
    points, box, lasso = event_parts(event) or ([], [], [])
    if box or lasso:
        return  # an area selection: ui.selection handles it
    if not points:
        ss[K.LAST_MAP_PICK].pop(chart_key, None)  # deselected: the same dot may be clicked again
        return
    row = row_of(points[0].get("customdata"))
    if row is None:
        return
    done = ss[K.LAST_MAP_PICK]
    if done.get(chart_key) == row:
        return
    done[chart_key] = row
    if row in ex.catalog.index and int(ex.catalog.at[row, "movie_id"]) != ss[K.MOVIE]:
        select_row(ex, row)
        st.rerun()
