"""Plotly figures (no Streamlit): one shared look, and every data string escaped with ``plot_text``.

plotly.js renders a subset of HTML in hover text, tick labels, legends and annotations (``<a href>``
included), so a title from the data must never reach a figure raw.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ui.format import format_alpha, metric_label, plot_text, plot_texts

ACCENT = "#E4572E"
NEIGHBOUR = "#17BEBB"
# The small charts' toolbar: a PNG for a slide and a reset after a zoom (a drag zooms, a double click resets). Its
# full seven buttons covered the right of the title on a phone, where plotly shows the toolbar without hover.
PLOT_CONFIG: dict[str, Any] = {"displaylogo": False, "showSendToCloud": False,
                               "modeBarButtons": [["toImage", "resetScale2d"]]}


def layout(fig: go.Figure, height: int, **kw: Any) -> go.Figure:
    """Shared look: compact margins, readable fonts, legend on top."""
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 48, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right",
                "font": {"size": 10}},
        hoverlabel={"align": "left"},
        **kw,
    )
    # the title starts where the plot does (margin l): at x = 0 a saved PNG had it touching the image's edge
    fig.update_layout(title={"x": 0, "xanchor": "left", "y": 0.98, "yanchor": "top", "pad": {"l": 10}})
    return fig


def rating_histogram(values: np.ndarray, counts: np.ndarray) -> go.Figure:
    """How ratings are distributed over the rating scale."""
    fig = go.Figure(go.Bar(x=values, y=counts, marker_color=NEIGHBOUR,
                           hovertemplate="rating %{x}: %{y:,} ratings<extra></extra>"))
    return layout(fig, 280, title={"text": "Ratings histogram", "font": {"size": 14}},
                  xaxis_title="Rating", yaxis_title="Number of ratings", bargap=0.15)


def ratings_per_movie(per_movie: np.ndarray) -> go.Figure:
    """The long tail: ratings per movie, movies ordered by popularity, on a log scale."""
    counts = np.sort(per_movie)[::-1]
    fig = go.Figure(go.Scattergl(x=np.arange(1, len(counts) + 1), y=np.maximum(counts, 0.9),
                                 mode="lines", line={"color": ACCENT},
                                 hovertemplate="movie #%{x}: %{y:,} ratings<extra></extra>"))
    fig.update_yaxes(type="log", dtick=1)
    return layout(fig, 280, title={"text": "Ratings per movie (log scale)", "font": {"size": 14}},
                  xaxis_title="Movies, most rated first", yaxis_title="Ratings (log)")


def loss_figure(history: dict[str, Any], title: str) -> go.Figure:
    """Train and validation loss per epoch for one model."""
    fig = go.Figure()
    for part, dash in (("train", "solid"), ("val", "dash")):
        ys = history.get(part) or []
        if len(ys):
            fig.add_trace(go.Scatter(x=list(range(1, len(ys) + 1)), y=list(ys), mode="lines+markers",
                                     name="training" if part == "train" else "validation",
                                     line={"dash": dash}))
    return layout(fig, 280, title={"text": plot_text(title), "font": {"size": 14}},
                  xaxis_title="Epoch", yaxis_title="Loss")


def path_heatmap(path: pd.DataFrame, alpha: float) -> go.Figure:
    """Rank of each title across alpha (0 = collaborative, 1 = content): who enters and who leaves."""
    piv = path.pivot_table(index="title", columns="alpha", values="rank", aggfunc="min")
    order = piv.min(axis=1).sort_values().index
    piv = piv.loc[order]
    z = piv.to_numpy(dtype=float)
    text = [["" if math.isnan(v) else str(int(v)) for v in row] for row in z]
    # Two titles that shorten alike stay two rows: a zero-width suffix keeps the category labels distinct.
    labels, seen = [], set()
    for t in plot_texts(piv.index, 40):
        while t in seen:
            t += "\u200b"
        seen.add(t)
        labels.append(t)
    fig = go.Figure(go.Heatmap(
        z=z, x=[format_alpha(a) for a in piv.columns], y=labels,
        text=text, texttemplate="%{text}", colorscale="Blues_r", zmin=1, zmax=20,
        colorbar={"title": {"text": "Rank"}, "thickness": 10}, hoverongaps=False,
        hovertemplate="%{y}<br>α %{x}: rank %{z}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", tickfont={"size": 10})
    fig.update_xaxes(type="category")
    if len(piv.columns):
        near = int(np.argmin([abs(a - alpha) for a in piv.columns]))  # category axes place shapes by index
        fig.add_vline(x=near, line={"color": ACCENT, "width": 2})
    layout(fig, max(380, 16 * len(piv) + 120),  # the title's two lines leave a phone's toolbar room at the right
           title={"text": "Blended top-20 as α moves<br><span style='font-size:11px'>empty = not in the top 20</span>",
                  "font": {"size": 14}},
           xaxis_title="α: 0 = collaborative, 1 = content", yaxis_title="")
    return fig.update_layout(margin_t=62)


def metric_figure(v: dict[str, Any], metric: str, alpha: float, default: float) -> go.Figure:
    """One metric against alpha: the blend, the pure lists and baselines as lines, the default and current α marked."""
    h = v["hybrid"]
    fig = go.Figure(go.Scatter(x=h.index, y=h[metric], mode="lines+markers", name="Blend",
                               line={"color": ACCENT}, hovertemplate="α %{x:.1f}: %{y:.3f}<extra></extra>"))
    for name, vals, dash in (("Collaborative only", v["collab"], "dot"), ("Content only", v["content"], "dot")):
        if metric in vals:
            fig.add_hline(y=float(vals[metric]), line={"dash": dash, "width": 1.5, "color": "#3E4C59"},
                          annotation_text=name, annotation_position="bottom right",
                          annotation_font={"size": 9, "color": "#3E4C59"})
    for name, vals in v["baselines"].items():
        if metric in vals:
            fig.add_hline(y=float(vals[metric]), line={"dash": "dash", "width": 1, "color": "#7B8794"},
                          annotation_text=plot_text(name, 40), annotation_position="top left",
                          annotation_font={"size": 9, "color": "#52606D"})
    fig.add_vline(x=default, line={"color": "#2E7D32", "width": 2},
                  annotation_text="default", annotation_position="top")
    fig.add_vline(x=alpha, line={"color": NEIGHBOUR, "width": 1, "dash": "dot"})
    label = plot_text(metric_label(metric, v["k"]))
    return layout(fig, 260, title={"text": label, "font": {"size": 13}}, showlegend=False,
                  xaxis_title="α (0 = collaborative, 1 = content)", yaxis_title=label)
