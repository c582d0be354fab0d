"""The Latent space maps: a WebGL UMAP scatter per space, and clicks on it selecting a movie.

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

from ui.charts import ACCENT, NEIGHBOUR, layout
from ui.engine import Explorer
from ui.format import plot_text, plot_texts
from ui.picker import select_row
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
_HOVER = ("%{text}<br>%{customdata[1]}<br>%{customdata[2]:,} ratings · mean %{customdata[3]:.2f}"
          "<extra></extra>")


def _custom(part: pd.DataFrame) -> np.ndarray:
    """Per point: row (for clicks), escaped genres, rating count, mean rating."""
    return np.column_stack([part["movie"], plot_texts(part["genres"], 80), part["n_ratings"],
                            part["mean_rating"].fillna(0.0)])


def map_figure(df: pd.DataFrame, colour: str, title: str, selected: int | None,
               neighbours: Sequence[int], height: int = 520, legend: bool = True) -> go.Figure:
    """A UMAP map as WebGL scatter: hover shows title, year, genres, ratings; the pick is labelled."""
    fig = go.Figure()

    def add(part: pd.DataFrame, name: str, marker: dict[str, Any], showlegend: bool = True) -> None:
        fig.add_trace(go.Scattergl(
            x=part["x"], y=part["y"], mode="markers", name=plot_text(name, 40), text=plot_texts(part["label"], 120),
            customdata=_custom(part), hovertemplate=_HOVER, marker=marker, showlegend=showlegend,
        ))

    col = COLOUR_MODES.get(colour, "main_genre")
    if col in ("main_genre", "decade"):
        cats = df[col].value_counts()
        top = list(cats.index[:11])
        if col == "decade":
            top = sorted(top)
        for i, cat in enumerate(top):
            add(df[df[col] == cat], str(cat), {"size": 5, "opacity": 0.75, "color": _PALETTE[i % 12]})
        rest = df[~df[col].isin(top)]
        if len(rest):
            add(rest, "other", {"size": 5, "opacity": 0.5, "color": "#BAB0AC"})
    else:
        values = df[col].astype(float)
        cbar = {"Popularity": "log10 ratings", "Mean rating": "Mean rating",
                "Agreement": "Top-20 overlap"}[colour]
        if col == "n_ratings":
            values = np.log10(values.clip(lower=1))
        scale = "RdYlGn" if col == "overlap" else "Viridis"
        add(df, colour, {"size": 5, "opacity": 0.8, "color": values, "colorscale": scale,
                         "colorbar": {"title": {"text": cbar}, "thickness": 10}}, showlegend=False)

    if selected is not None:
        nb = df[df["movie"].isin(list(neighbours))]
        first = set(list(neighbours)[:5])
        if len(nb):
            fig.add_trace(go.Scatter(
                x=nb["x"], y=nb["y"], mode="markers+text", name="Top-20 neighbours",
                text=[plot_text(t, 28) if m in first else "" for t, m in zip(nb["label"], nb["movie"], strict=True)],
                hovertext=plot_texts(nb["label"], 120), textposition="top center", textfont={"size": 10},
                customdata=_custom(nb), hovertemplate=_HOVER.replace("%{text}", "%{hovertext}"),
                marker={"size": 10, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": NEIGHBOUR}},
            ))
        me = df[df["movie"] == selected]
        if len(me):
            fig.add_trace(go.Scatter(
                x=me["x"], y=me["y"], mode="markers+text", name="Selected",
                text=[f"<b>{plot_text(t, 40)}</b>" for t in me["label"]], textposition="bottom center",
                hovertext=plot_texts(me["label"], 120), customdata=_custom(me),
                hovertemplate=_HOVER.replace("%{text}", "%{hovertext}"),
                marker={"size": 16, "symbol": "star", "color": ACCENT, "line": {"width": 1, "color": "black"}},
            ))
    fig.update_xaxes(showticklabels=False, title_text="UMAP 1", zeroline=False, showgrid=False)
    fig.update_yaxes(showticklabels=False, title_text="UMAP 2", zeroline=False, showgrid=False)
    layout(fig, height, title={"text": plot_text(title), "font": {"size": 14}, "x": 0, "xanchor": "left", "y": 0.98},
           dragmode="pan", clickmode="event+select", showlegend=legend, plot_bgcolor="#FAFBFC")
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.08, "x": 0, "xanchor": "left",
                              "font": {"size": 10}},
                      margin={"l": 10, "r": 10, "t": 36, "b": 10})
    return fig


def apply_map_click(ex: Explorer, chart_key: str, event: Any) -> None:
    """A clicked point on a map selects that movie everywhere (each selection is applied once)."""
    ss = st.session_state
    try:
        points = event["selection"]["points"] if event is not None else []
    except (KeyError, TypeError):
        points = []
    if not points:
        ss[K.LAST_MAP_PICK].pop(chart_key, None)  # deselected: the same dot may be clicked again
        return
    point = points[0]
    custom = point.get("customdata")
    if not custom:
        return
    try:
        row = int(float(custom[0] if isinstance(custom, (list, tuple)) else custom))
    except (TypeError, ValueError):
        return
    done = ss[K.LAST_MAP_PICK]
    if done.get(chart_key) == row:
        return
    done[chart_key] = row
    if row in ex.catalog.index and int(ex.catalog.at[row, "movie_id"]) != ss[K.MOVIE]:
        select_row(ex, row)
        st.rerun()
