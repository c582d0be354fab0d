"""The accuracy/coherence trade-off across α as the Tune page shows it: the two named picks and the frontier chart.

Pure and Streamlit-free: the pick rule is a documented function with a unit test, and the chart is a plotly
figure built from the evaluation frames of ``ui.metrics.metrics_view``.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.charts import ACCENT, NEIGHBOUR, layout
from ui.format import format_alpha, md_text, metric_label

KEEP_RECALL = 0.97  # "balanced" keeps at least this share of the best held-out recall
RULE = ("“Balanced” is the α with the highest genre coherence among those that keep at least "
        f"{KEEP_RECALL:.0%} of the best Recall@20; “most accurate” is the α with the best Recall@20.")
WHY_RECALL = ("Held-out Recall@20 rewards the collaborative end because it asks which movies the same people "
              "went on to rate — exactly what rating patterns encode — whereas people asked directly preferred "
              "content-based similar-movie lists (Yao and Harper, RecSys 2018, over 22,000 judgements).")
# x axes of the frontier: (metric, which way is better)
TRADE_OFFS: tuple[tuple[str, str], ...] = (("genre_coherence", "higher"), ("popularity", "lower"),
                                           ("coverage", "higher"))
PICK_STYLE = {"most accurate": ("#2E7D32", "diamond"), "balanced": (ACCENT, "star")}


@dataclass(frozen=True)
class Picks:
    """The two named α values of the trade-off (equal when one α is best at both)."""

    most_accurate: float
    balanced: float
    best_recall: float
    floor: float  # the recall "balanced" had to keep

    def named(self) -> dict[str, float]:
        """Name -> α, in the order the page shows them."""
        return {"most accurate": self.most_accurate, "balanced": self.balanced}


def pick_alphas(alphas: Sequence[float], recall: Sequence[float], coherence: Sequence[float],
                keep: float = KEEP_RECALL) -> Picks | None:
    """Most accurate = the α of the best recall; balanced = the most coherent α keeping ``keep`` of that recall.

    Ties go to the smaller α for "most accurate" and to the larger (more content) α for "balanced"; NaN
    values never win. None when no α has a finite recall.
    """
    rows = [(float(a), float(r), float(c)) for a, r, c in zip(alphas, recall, coherence, strict=True)
            if math.isfinite(float(r))]
    if not rows:
        return None
    best = max(r for _, r, _ in rows)
    most = min(a for a, r, _ in rows if r == best)
    floor = best * keep if best >= 0 else best / keep
    kept = [(a, c) for a, r, c in rows if r >= floor - 1e-12 and math.isfinite(c)]
    balanced = max(kept, key=lambda ac: (ac[1], ac[0]))[0] if kept else most
    return Picks(most_accurate=most, balanced=balanced, best_recall=best, floor=floor)


def recall_metric(columns: Sequence[str]) -> str | None:
    """The Recall@k column of the evaluation (None when it was not measured)."""
    return next((c for c in columns if str(c).startswith("recall@")), None)


def picks_from_view(v: dict[str, Any]) -> Picks | None:
    """The picks of an evaluation as ``ui.metrics.metrics_view`` gives it."""
    h = v["hybrid"]
    rec = recall_metric(list(h.columns))
    if rec is None or "genre_coherence" not in h.columns:
        return None
    return pick_alphas(list(h.index), list(h[rec]), list(h["genre_coherence"]))


def default_alpha_text(v: dict[str, Any] | None, default: float, chosen: bool, tolerance: float) -> str:
    """Where this model's default α comes from, in words that agree with the two named picks."""
    head = f"this model's default is **α = {format_alpha(default)}**"
    if chosen:
        return head + ", chosen by the operator."
    if v is None:
        return head + " until the evaluation picks the model's own."
    picks = picks_from_view(v)
    if picks is None:  # no recall measured (an old or partial evaluation)
        return head + "."
    rec = recall_metric(list(v["hybrid"].columns))
    label = md_text(metric_label(str(rec), v["k"]))
    if abs(default - picks.most_accurate) < 1e-9:
        return head + f", the α with the best {label} ({picks.best_recall:.3f})."
    mine = next((float(r) for a, r in v["hybrid"][rec].items() if abs(float(a) - default) < 1e-9), math.nan)
    if not math.isfinite(mine):  # not one of the measured α
        return head + "."
    return (head + f", the evaluation's: the most content weight whose {label} stays within {tolerance:.1%} of "
            f"the best ({mine:.3f} against {picks.best_recall:.3f} at α = {format_alpha(picks.most_accurate)}), "
            "a difference inside the metric's noise that buys more coherent lists.")


def alpha_labels(xs: Sequence[float], ys: Sequence[float], alphas: Sequence[float], marked: Sequence[float],
                 reversed_x: bool = False, size: tuple[float, float] = (150.0, 240.0),
                 gap_px: float = 3.0) -> tuple[list[str], list[str]]:
    """The α labels one panel can show without touching a marker or each other, and where each goes. The
    ``marked`` points (the picks and the slider, drawn as big markers the legend names with their α) get no label,
    and their markers keep the others' off; then the ends, then the rest in α order, each only where its text keeps
    ``gap_px`` clear of what is already there (at a panel of ``size`` pixels: the data's span in a 1,024 px window,
    the narrowest desktop one, where each panel is 149 px wide against 264 px at 1,400 px: labels clear there are
    clear in any wider one); the others show their α on hover (the α near the collaborative end sit close
    together). A label near the panel's right edge goes on its point's left."""
    def span(v: Sequence[float]) -> tuple[float, float]:
        fin = [float(x) for x in v if math.isfinite(float(x))]
        lo, hi = (min(fin), max(fin)) if fin else (0.0, 1.0)
        return lo, (hi - lo) or 1.0

    def clear(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
        return a[2] + gap_px <= b[0] or b[2] + gap_px <= a[0] or a[3] + gap_px <= b[1] or b[3] + gap_px <= a[1]

    (x0, dx), (y0, dy) = span(xs), span(ys)

    def at(j: int) -> tuple[float, float] | None:
        if not (math.isfinite(float(xs[j])) and math.isfinite(float(ys[j]))):
            return None
        fx = (float(xs[j]) - x0) / dx
        return (1.0 - fx if reversed_x else fx) * size[0], (float(ys[j]) - y0) / dy * size[1]

    points = [at(j) for j in range(len(alphas))]
    skip = {round(float(a), 6) for a in marked}
    is_marked = [round(float(a), 6) in skip for a in alphas]
    placed = [(p[0] - _MARKER_PX, p[1] - _MARKER_PX, p[0] + _MARKER_PX, p[1] + _MARKER_PX)
              for p, m in zip(points, is_marked, strict=True) if p is not None and m]
    ends = {min(alphas, default=0.0), max(alphas, default=1.0)}
    order = sorted(range(len(alphas)), key=lambda j: (alphas[j] not in ends, alphas[j]))
    out = [""] * len(alphas)
    where = ["top right"] * len(alphas)
    for j in order:
        p = points[j]
        if p is None or is_marked[j]:
            continue
        px, py = p
        text = format_alpha(alphas[j])
        w = _LABEL_CHAR_PX * len(text)  # the text's box at 9 px, beside and above its point
        if px > 0.8 * size[0]:
            where[j] = "top left"
            box = (px - 3.0 - w, py + 2.0, px - 3.0, py + 2.0 + _LABEL_HEIGHT_PX)
        else:
            box = (px + 3.0, py + 2.0, px + 3.0 + w, py + 2.0 + _LABEL_HEIGHT_PX)
        if all(clear(box, other) for other in placed):
            placed.append(box)
            out[j] = text
    return out, where


_LABEL_CHAR_PX = 5.5  # the α labels' 9 px digits, a little wide
_LABEL_HEIGHT_PX = 11.0
_MARKER_PX = 11.0  # half the biggest marker (the slider's 22 px ring)


def _lines(label: str, width: int = 16) -> str:
    """A chart label broken into lines of about ``width`` characters, so that narrow panels do not overlap."""
    return "<br>".join(textwrap.wrap(label, width)) or label


def frontier_figure(v: dict[str, Any], picks: Picks, alpha: float) -> go.Figure:
    """Recall@k against coherence, popularity and coverage, one point per α (labelled), both picks marked."""
    h = v["hybrid"]
    rec = recall_metric(list(h.columns)) or ""
    axes = [(m, better) for m, better in TRADE_OFFS if m in h.columns]
    k = int(v.get("k", 20))
    fig = make_subplots(rows=1, cols=max(1, len(axes)), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[f"{_lines(metric_label(m, k))}<br>({better} is better)" for m, better in axes])
    fig.update_annotations(font_size=12)  # the panel titles: three fit side by side on a phone (about 100 px each)
    alphas = [float(a) for a in h.index]
    near = min(alphas, key=lambda a: abs(a - alpha))
    marked = [*picks.named().values(), near]  # big markers, named with their α in the legend
    for i, (metric, _) in enumerate(axes, start=1):
        xs, ys = h[metric].astype(float).tolist(), h[rec].astype(float).tolist()
        text, where = alpha_labels(xs, ys, alphas, marked, reversed_x=metric == "popularity")
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers+text", text=text, textposition=where,
            textfont={"size": 9, "color": "#52606D"}, line={"color": "#9AA5B1", "width": 1},
            marker={"size": 7, "color": alphas, "colorscale": [[0, "#3E4C59"], [1, NEIGHBOUR]],
                    "cmin": 0, "cmax": 1},
            name="α", showlegend=False, customdata=alphas,
            hovertemplate=f"α %{{customdata:.2f}}<br>{metric_label(metric, k)} %{{x:.3f}}<br>"
                          f"{metric_label(rec, k)} %{{y:.3f}}<extra></extra>",
        ), row=1, col=i)
        for name, a in picks.named().items():
            if a not in h.index:
                continue
            colour, symbol = PICK_STYLE[name]
            fig.add_trace(go.Scatter(
                x=[float(h.at[a, metric])], y=[float(h.at[a, rec])], mode="markers",
                marker={"size": 18 if name == "balanced" else 15, "symbol": symbol, "color": colour,
                        "line": {"width": 1, "color": "black"}},
                name=f"{name} (α = {format_alpha(a)})", legendgroup=name, showlegend=i == 1,
                hovertemplate=f"{name}: α {format_alpha(a)}<extra></extra>",
            ), row=1, col=i)
        fig.add_trace(go.Scatter(
            x=[float(h.at[near, metric])], y=[float(h.at[near, rec])], mode="markers",
            marker={"size": 22, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": NEIGHBOUR}},
            name=f"your slider (α = {format_alpha(alpha)})", legendgroup="slider", showlegend=i == 1,
            hovertemplate="your slider<extra></extra>",
        ), row=1, col=i)
        if metric == "popularity":
            fig.update_xaxes(autorange="reversed", row=1, col=i)  # better to the right on every panel
    floor_line = {"dash": "dot", "width": 1, "color": "#7B8794"}
    fig.add_hline(y=picks.floor, line=floor_line)
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=floor_line, hoverinfo="skip",
                             name=f"{KEEP_RECALL:.0%} of the best recall"))  # the line's name, in the legend
    fig.update_yaxes(title_text=metric_label(rec, k), row=1, col=1)
    layout(fig, 460, title={"text": "The trade-off: accuracy against<br>what people see in the lists",
                            "font": {"size": 14}})
    # each panel's title names its x axis, in lines of about 16 characters, and the legend sits under the panels:
    # three panels are 149 px wide on a 1,024 px window and about 100 px on a phone, where one-line titles ran
    # into each other and a legend above them wrapped over the chart's title
    fig.update_layout(margin={"l": 10, "r": 10, "t": 110, "b": 10},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.1, "x": 0, "xanchor": "left"})
    return fig
