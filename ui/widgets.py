"""Reusable pieces of the pages: the movie picker, list tables, and plotly figure builders.

Kept here so pages stay a readable sequence of layout calls, and so every chart gets the same
labels, axis titles and colours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from recsys_core import Explorer
from ui import cached
from ui.state import ALPHA_STEP, K, format_alpha

LIST_NAMES = {"content": "Content", "collab": "Collaborative", "hybrid": "Blended"}
LIST_HELP = {
    "content": "What the movie *is*: nearest in the content embedding (genres, title, year, tags).",
    "collab": "Who *likes* it: nearest in the collaborative embedding learned from ratings.",
    "hybrid": "The blend: α·content + (1−α)·collaborative cosine similarity.",
}
SHORT_NAMES = {"content": "Content", "collab": "Collab", "hybrid": "Blend"}
ACCENT = "#E4572E"
NEIGHBOUR = "#17BEBB"
PLOT_CONFIG: dict[str, Any] = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


# --- progress -----------------------------------------------------------------------------------


def progress_text(ev: Any) -> tuple[float, str]:
    """Turn a facade Progress event into a bar fraction and one line of text."""
    stage = str(getattr(ev, "stage", "") or "working")
    epoch = getattr(ev, "epoch", None)
    epochs = getattr(ev, "epochs", None)
    frac = 0.0
    parts = [stage.replace("_", " ").capitalize()]
    if epoch is not None and epochs:
        frac = max(0.0, min(1.0, float(epoch) / float(epochs)))
        parts.append(f"epoch {epoch}/{epochs}")
    metrics = getattr(ev, "metrics", None) or {}
    for name, value in list(metrics.items())[:3]:
        if isinstance(value, (int, float)) and math.isfinite(value):
            parts.append(f"{name.replace('_', ' ')} {value:.4g}")
    eta = getattr(ev, "eta_s", None)
    if eta is not None and math.isfinite(eta):
        parts.append(f"about {eta:.0f} s left")
    msg = getattr(ev, "message", "")
    if msg:
        parts.append(str(msg))
    return frac, " · ".join(parts)


# --- page furniture -----------------------------------------------------------------------------


def page_header(title: str, explanation: str) -> None:
    """Every page: a title and a one-line explanation of what it is for (plus a one-off success note)."""
    st.title(title)
    st.caption(explanation)
    flash = st.session_state.pop("flash", None)
    if flash:
        st.success(flash, icon="✅")


def thin_content_note(ex: Explorer) -> None:
    """The bundled default has little content signal; say so and point to the richer releases."""
    if len(ex.dataset.tags) == 0 and ex.dataset.genome is None:
        st.info(
            "This dataset has no user tags, so the **content** side only knows genres, title and year: "
            "content lists are coarse. Releases with tags (ml-latest-small, ml-20m, ml-25m, ml-32m) give "
            "much richer content neighbours; get one on the **Data & model** page.",
            icon="ℹ️",
        )


# --- movie picker -------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=512)
def _search(key: str, _ex: Explorer, query: str) -> list[int]:
    """Typo-tolerant search, cached per artifact and query."""
    return [int(r) for r in _ex.search(query, limit=15)]


def current_row(ex: Explorer) -> int:
    """The selected movie's row; falls back to the most-rated movie (never an empty first screen)."""
    ss = st.session_state
    mid = ss.get(K.MOVIE)
    if mid is not None:
        hits = np.flatnonzero(ex.catalog["movie_id"].to_numpy() == int(mid))
        if len(hits):
            return int(ex.catalog.index[hits[0]])
    row = cached.popular_rows(cached.artifact_key(ex), ex)[0]
    ss[K.MOVIE] = int(ex.catalog.at[row, "movie_id"])
    return row


def select_row(ex: Explorer, row: int) -> None:
    """Make ``row`` the selected movie everywhere (session + URL)."""
    st.session_state[K.MOVIE] = int(ex.catalog.at[int(row), "movie_id"])


def _on_search(ex: Explorer) -> None:
    """Typing a title and pressing Enter selects the best match straight away."""
    query = (st.session_state.get(K.W_SEARCH) or "").strip()
    if not query:
        return
    rows = _search(cached.artifact_key(ex), ex, query[:200])
    if rows:
        select_row(ex, rows[0])


def _on_pick(ex: Explorer) -> None:
    """Choosing from the list of matches selects that movie."""
    row = st.session_state.get(K.W_PICK)
    if row is not None:
        select_row(ex, int(row))


def movie_picker(ex: Explorer, label: str = "Movie") -> int:
    """A search box plus a short list of matches (never a 62k-option list); returns the movie row."""
    key = cached.artifact_key(ex)
    row = current_row(ex)
    query = (st.session_state.get(K.W_SEARCH) or "").strip()
    left, right = st.columns([2, 3])
    left.text_input(
        "Search a title",
        key=K.W_SEARCH,
        placeholder="e.g. star wars, godfater — typos are fine",
        on_change=_on_search,
        args=(ex,),
        help="Press Enter to jump to the best match; pick another one from the list on the right.",
    )
    options = _search(key, ex, query[:200]) if query else cached.popular_rows(key, ex)[:15]
    if row not in options:
        options = [row, *options]
    st.session_state[K.W_PICK] = row
    labels = ex.catalog["label"]
    right.selectbox(
        label,
        options,
        key=K.W_PICK,
        format_func=lambda r: str(labels.at[r]),
        on_change=_on_pick,
        args=(ex,),
        help="Matches for your search (or popular movies when the box is empty). Year shown to tell remakes apart.",
    )
    if query and not _search(key, ex, query[:200]):
        st.caption(f"No title matches {query[:60]!r}; showing the current movie.")
    return row


def movie_facts(ex: Explorer, row: int) -> None:
    """One line about the selected movie, plus plain notes when an embedding is missing or it is thin."""
    info = ex.catalog.loc[row]
    genres = ", ".join(info["genres"]) or "no genres listed"
    mean = info["mean_rating"]
    mean_txt = f"mean rating {mean:.2f}" if pd.notna(mean) else "no mean rating"
    st.markdown(
        f"**{_md(info['label'])}** · {_md(genres)} · {int(info['n_ratings']):,} ratings · {mean_txt}"
    )


def _md(text: object) -> str:
    """Escape data text (titles can hold any character) before it goes into markdown."""
    out = str(text)
    for ch in "\\`*_{}[]<>#|$~":
        out = out.replace(ch, "\\" + ch)
    return out


# --- list tables --------------------------------------------------------------------------------


def movement(prev: Sequence[int] | None, current: Sequence[int]) -> list[str]:
    """Arrows for each row of the new blended list versus the previous one (rose, fell, new)."""
    if prev is None:
        return [""] * len(current)
    before = {m: i for i, m in enumerate(prev)}
    out = []
    for i, m in enumerate(current):
        if m not in before:
            out.append("🆕 new")
        elif before[m] > i:
            out.append(f"▲ {before[m] - i}")
        elif before[m] < i:
            out.append(f"▼ {i - before[m]}")
        else:
            out.append("＝")
    return out


def table_frame(df: pd.DataFrame, name: str, others: dict[str, set[int]],
                moves: list[str] | None = None) -> pd.DataFrame:
    """The displayed columns of one list; ◆ marks a movie both signals agree on (in both other-signal lists)."""
    signals = {"content", "collab"} - {name}
    also, agree = [], []
    for m in df["movie"]:
        also.append(" + ".join(SHORT_NAMES[o] for o, members in others.items() if m in members))
        agree.append(all(m in others[o] for o in signals if o in others) if name != "hybrid"
                     else all(m in others.get(o, set()) for o in ("content", "collab")))
    title = [f"◆ {t}" if a else str(t) for t, a in zip(_labels(df), agree, strict=True)]
    out = pd.DataFrame(
        {
            "#": df["rank"].astype(int).to_numpy(),
            "Title": title,
            "Similarity": df["score"].astype(float).round(3).to_numpy(),
            "Also in": also,
            "Ratings": df["n_ratings"].astype(int).to_numpy(),
            "Mean": df["mean_rating"].astype(float).round(2).to_numpy(),
            "Genres": [", ".join(g) if not isinstance(g, str) else g for g in df["genres"]],
            "Why": df["why"].astype(str).to_numpy(),
        }
    )
    if name == "hybrid":
        out.insert(3, "Move", moves if moves is not None else [""] * len(df))
        out.insert(4, "Content", df["content_score"].astype(float).round(3).to_numpy())
        out.insert(5, "Collab", df["collab_score"].astype(float).round(3).to_numpy())
        out.insert(6, "Rank in content", _rank_text(df["content_rank"]))
        out.insert(7, "Rank in collab", _rank_text(df["collab_rank"]))
    return out


def _labels(df: pd.DataFrame) -> list[str]:
    """Title (year) for each row."""
    out = []
    for t, y in zip(df["title"], df["year"], strict=True):
        out.append(f"{t} ({int(y)})" if pd.notna(y) else str(t))
    return out


def _rank_text(ranks: pd.Series) -> list[str]:
    """Ranks in the other list as text, '–' when outside its top 20."""
    return [str(int(r)) if pd.notna(r) else "–" for r in ranks]


def list_table(frame: pd.DataFrame, name: str, key: str) -> None:
    """One top-20 list as a compact, readable table (rows both signals agree on are tinted)."""
    cfg: dict[str, Any] = {
        "#": st.column_config.NumberColumn("#", width=34),
        "Title": st.column_config.TextColumn("Title", width=210,
                                             help="◆ = in both the content and the collaborative top-20"),
        "Similarity": st.column_config.NumberColumn("Similarity", format="%.3f", width=78),
        "Also in": st.column_config.TextColumn("Also in", width=110, help="The other lists showing this movie"),
        "Ratings": st.column_config.NumberColumn("Ratings", format="%d", width=70),
        "Mean": st.column_config.NumberColumn("Mean", format="%.2f", width=56, help="Mean rating"),
        "Genres": st.column_config.TextColumn("Genres", width=180),
        "Why": st.column_config.TextColumn("Why", width=320),
    }
    if name == "hybrid":
        cfg["Move"] = st.column_config.TextColumn("Move", width=56,
                                                  help="Change since the last blend: ▲ rose, ▼ fell, new")
        cfg["Content"] = st.column_config.NumberColumn("Content", format="%.3f", width=70,
                                                       help="Content cosine similarity")
        cfg["Collab"] = st.column_config.NumberColumn("Collab", format="%.3f", width=70,
                                                      help="Collaborative cosine similarity")
        cfg["Rank in content"] = st.column_config.TextColumn("Rank C", width=60, help="Rank in the content list")
        cfg["Rank in collab"] = st.column_config.TextColumn("Rank CF", width=64,
                                                            help="Rank in the collaborative list")
    styled = frame.style.apply(
        lambda r: ["background-color: rgba(228, 87, 46, 0.10)" if str(r["Title"]).startswith("◆") else ""
                   for _ in r], axis=1
    )
    st.dataframe(styled, hide_index=True, column_config=cfg, key=key, height=737,
                 width="stretch", row_height=35)


def lists_csv(lists: dict[str, pd.DataFrame]) -> bytes:
    """The three lists in one CSV, with a column saying which list each row is from."""
    frames = []
    for name, df in lists.items():
        d = df.copy()
        d.insert(0, "list", LIST_NAMES[name])
        d["genres"] = ["|".join(g) if not isinstance(g, str) else g for g in d["genres"]]
        frames.append(d.drop(columns=["movie"], errors="ignore"))
    return pd.concat(frames, ignore_index=True).to_csv(index=False).encode("utf-8")


# --- figures ------------------------------------------------------------------------------------


def _layout(fig: go.Figure, height: int, **kw: Any) -> go.Figure:
    """Shared look: compact margins, readable fonts, legend on top."""
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 48, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right",
                "font": {"size": 10}},
        hoverlabel={"align": "left"},
        **kw,
    )
    fig.update_layout(title={"x": 0, "xanchor": "left", "y": 0.98, "yanchor": "top"})
    return fig


def rating_histogram(values: np.ndarray, counts: np.ndarray) -> go.Figure:
    """How ratings are distributed over the rating scale."""
    fig = go.Figure(go.Bar(x=values, y=counts, marker_color=NEIGHBOUR,
                           hovertemplate="rating %{x}: %{y:,} ratings<extra></extra>"))
    return _layout(fig, 280, title={"text": "Ratings histogram", "font": {"size": 14}},
                   xaxis_title="Rating", yaxis_title="Number of ratings", bargap=0.15)


def ratings_per_movie(per_movie: np.ndarray) -> go.Figure:
    """The long tail: ratings per movie, movies ordered by popularity, on a log scale."""
    counts = np.sort(per_movie)[::-1]
    fig = go.Figure(go.Scattergl(x=np.arange(1, len(counts) + 1), y=np.maximum(counts, 0.9),
                                 mode="lines", line={"color": ACCENT},
                                 hovertemplate="movie #%{x}: %{y:,} ratings<extra></extra>"))
    fig.update_yaxes(type="log", dtick=1)
    return _layout(fig, 280, title={"text": "Ratings per movie (log scale)", "font": {"size": 14}},
                   xaxis_title="Movies, most rated first", yaxis_title="Ratings (log)")


COLOUR_MODES = {
    "Main genre": "main_genre",
    "Decade": "decade",
    "Popularity": "n_ratings",
    "Mean rating": "mean_rating",
    "Agreement": "overlap",
}
_PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6",
            "#9D755D", "#BAB0AC", "#2F4B7C", "#A05195"]


def map_figure(df: pd.DataFrame, colour: str, title: str, selected: int | None,
               neighbours: Sequence[int], height: int = 520, legend: bool = True) -> go.Figure:
    """A UMAP map as WebGL scatter: hover shows title, year, genres, ratings; the pick is labelled."""
    fig = go.Figure()
    hover = "%{text}<br>%{customdata[1]}<br>%{customdata[2]:,} ratings · mean %{customdata[3]:.2f}<extra></extra>"

    def add(part: pd.DataFrame, name: str, marker: dict[str, Any], showlegend: bool = True) -> None:
        fig.add_trace(go.Scattergl(
            x=part["x"], y=part["y"], mode="markers", name=name, text=part["label"],
            customdata=np.column_stack([part["movie"], part["genres"], part["n_ratings"],
                                        part["mean_rating"].fillna(0.0)]),
            hovertemplate=hover, marker=marker, showlegend=showlegend,
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
                text=[_short(t) if m in first else "" for t, m in zip(nb["label"], nb["movie"], strict=True)],
                textposition="top center",
                textfont={"size": 10}, customdata=np.column_stack([nb["movie"], nb["genres"],
                                                                   nb["n_ratings"], nb["mean_rating"].fillna(0.0)]),
                hovertemplate=hover,
                marker={"size": 10, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": NEIGHBOUR}},
            ))
        me = df[df["movie"] == selected]
        if len(me):
            fig.add_trace(go.Scatter(
                x=me["x"], y=me["y"], mode="markers+text", name="Selected",
                text=[f"<b>{_short(t, 40)}</b>" for t in me["label"]], textposition="bottom center",
                customdata=np.column_stack([me["movie"], me["genres"], me["n_ratings"],
                                            me["mean_rating"].fillna(0.0)]),
                hovertemplate=hover,
                marker={"size": 16, "symbol": "star", "color": ACCENT, "line": {"width": 1, "color": "black"}},
            ))
    fig.update_xaxes(showticklabels=False, title_text="UMAP 1", zeroline=False, showgrid=False)
    fig.update_yaxes(showticklabels=False, title_text="UMAP 2", zeroline=False, showgrid=False)
    _layout(fig, height, title={"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left", "y": 0.98},
            dragmode="pan", clickmode="event+select", showlegend=legend, plot_bgcolor="#FAFBFC")
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.08, "x": 0, "xanchor": "left",
                              "font": {"size": 10}},
                      margin={"l": 10, "r": 10, "t": 36, "b": 10})
    return fig


def _short(text: str, n: int = 28) -> str:
    """Shorten a label for on-map text."""
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def loss_figure(history: dict[str, Any], title: str) -> go.Figure:
    """Train and validation loss per epoch for one model."""
    fig = go.Figure()
    for part, dash in (("train", "solid"), ("val", "dash")):
        ys = history.get(part) or []
        if len(ys):
            fig.add_trace(go.Scatter(x=list(range(1, len(ys) + 1)), y=list(ys), mode="lines+markers",
                                     name="training" if part == "train" else "validation",
                                     line={"dash": dash}))
    return _layout(fig, 280, title={"text": title, "font": {"size": 14}},
                   xaxis_title="Epoch", yaxis_title="Loss")


def path_heatmap(path: pd.DataFrame, alpha: float) -> go.Figure:
    """Rank of each title across alpha (0 = collaborative, 1 = content): who enters and who leaves."""
    piv = path.pivot_table(index="title", columns="alpha", values="rank", aggfunc="min")
    order = piv.min(axis=1).sort_values().index
    piv = piv.loc[order]
    z = piv.to_numpy(dtype=float)
    text = [["" if math.isnan(v) else str(int(v)) for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=[format_alpha(a) for a in piv.columns], y=[_short(t, 40) for t in piv.index],
        text=text, texttemplate="%{text}", colorscale="Blues_r", zmin=1, zmax=20,
        colorbar={"title": {"text": "Rank"}, "thickness": 10}, hoverongaps=False,
        hovertemplate="%{y}<br>α %{x}: rank %{z}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", tickfont={"size": 10})
    fig.update_xaxes(type="category")
    if len(piv.columns):
        near = int(np.argmin([abs(a - alpha) for a in piv.columns]))  # category axes place shapes by index
        fig.add_vline(x=near, line={"color": ACCENT, "width": 2})
    return _layout(fig, max(380, 16 * len(piv) + 120),
                   title={"text": "Blended top-20 as α moves (empty = not in the top 20)", "font": {"size": 14}},
                   xaxis_title="α (0 = collaborative only, 1 = content only)", yaxis_title="")


def alpha_options(extra: float | None = None) -> list[float]:
    """The blend slider's stops: every 0.05, plus a tuned value that is off that grid."""
    n = round(1 / ALPHA_STEP)
    opts = [round(i * ALPHA_STEP, 2) for i in range(n + 1)]
    if extra is not None and round(extra, 2) not in opts:
        opts = sorted([*opts, round(extra, 2)])
    return opts


def alpha_label(a: float) -> str:
    """Slider stop text: the ends say which signal they are."""
    if a <= 0.0:
        return "0 · collaborative"
    if a >= 1.0:
        return "1 · content"
    return format_alpha(a)


def hybrid_moves(row: int, alpha: float, filt: tuple, current: list[int]) -> list[str]:
    """Rise/fall arrows of the blended list after a slider move (the previous list kept in session)."""
    ss = st.session_state
    prev = ss.get(K.PREV_HYBRID)
    sig = (row, filt)
    if prev and prev["sig"] == sig:
        if prev["alpha"] == alpha:
            return movement(prev["prev"], current)
        ss[K.PREV_HYBRID] = {"sig": sig, "alpha": alpha, "list": current, "prev": prev["list"]}
        return movement(prev["list"], current)
    ss[K.PREV_HYBRID] = {"sig": sig, "alpha": alpha, "list": current, "prev": None}
    return movement(None, current)


def slug(text: str) -> str:
    """A file-name-safe version of a title."""
    out = "".join(c.lower() if c.isalnum() else "-" for c in str(text))
    return "-".join(p for p in out.split("-") if p)[:60] or "movie"


# --- filters ------------------------------------------------------------------------------------


def _copy(widget_key: str, view_key: str) -> None:
    """Callback: a filter widget changed, so the canonical view follows."""
    value = st.session_state[widget_key]
    st.session_state[view_key] = tuple(value) if isinstance(value, list) else value


def _years_changed(bounds: tuple[int, int]) -> None:
    """The full range means no year filter (keeps links short)."""
    lo, hi = st.session_state[K.W_YEARS]
    st.session_state[K.YEARS] = None if (lo, hi) == tuple(bounds) else (int(lo), int(hi))


def _cap_changed(default_cap: int) -> None:
    """Turning the blockbuster cap on uses a sensible threshold; off removes it."""
    ss = st.session_state
    ss[K.MAX_RATINGS] = int(ss.get(K.W_MAX_RATINGS) or default_cap) if ss[K.W_CAP_ON] else None


def filter_controls(cat: Any) -> None:
    """Minimum ratings, genres, year range and a blockbuster cap, seeded from (and writing to) the view."""
    ss = st.session_state
    lo, hi = cat.year_bounds
    default_cap = max(1, int(cat.max_count * 0.3))
    ss[K.W_MIN_RATINGS] = int(ss[K.MIN_RATINGS])
    ss[K.W_GENRES] = [g for g in ss[K.GENRES] if g in cat.genres]
    ss[K.W_YEARS] = tuple(ss[K.YEARS]) if ss[K.YEARS] else (lo, hi)
    ss[K.W_CAP_ON] = ss[K.MAX_RATINGS] is not None
    ss[K.W_MAX_RATINGS] = int(ss[K.MAX_RATINGS] or default_cap)
    a, b, c, d = st.columns([1, 2, 2, 2])
    a.number_input("Min. ratings", min_value=0, max_value=max(cat.max_count, 1), step=5,
                   key=K.W_MIN_RATINGS, on_change=_copy, args=(K.W_MIN_RATINGS, K.MIN_RATINGS),
                   help="Hide obscure movies with fewer ratings than this.")
    b.multiselect("Genres", list(cat.genres), key=K.W_GENRES, on_change=_copy,
                  args=(K.W_GENRES, K.GENRES), placeholder="Any genre",
                  help="Keep only movies with at least one of these genres.")
    if hi > lo:
        c.slider("Years", min_value=lo, max_value=hi, key=K.W_YEARS, on_change=_years_changed,
                 args=((lo, hi),))
    with d:
        st.toggle("Hide blockbusters", key=K.W_CAP_ON, on_change=_cap_changed, args=(default_cap,),
                  help="Cap the number of ratings to surface less obvious picks.")
        if ss[K.W_CAP_ON]:
            st.number_input("…with more ratings than", min_value=1, max_value=max(cat.max_count, 1),
                            step=10, key=K.W_MAX_RATINGS, on_change=_cap_changed, args=(default_cap,))
    st.caption("Filtered lists refill to 20 from further down the ranking.")


# --- dataset summary ----------------------------------------------------------------------------


def dataset_summary(ex: Explorer, compact: bool = False, charts: bool = True) -> None:
    """Counts plus the ratings histogram and the ratings-per-movie long tail."""
    d = cached.dataset_charts_data(cached.artifact_key(ex), ex)
    cols = st.columns(2 if compact else 4)
    cols[0].metric("Movies", f"{d['n_movies']:,}")
    cols[1].metric("Users", f"{d['n_users']:,}")
    cols[0 if compact else 2].metric("Ratings", f"{d['n_ratings']:,}")
    cols[1 if compact else 3].metric("Tags", f"{d['n_tags']:,}")
    lo, hi = d["scale"]
    years = f"{d['years'][0]}–{d['years'][1]}" if d["years"] else "unknown"
    extra = f" · {d['n_genome']:,} movies with tag-genome scores" if d["n_genome"] else ""
    st.caption(f"Rating scale {lo:g}–{hi:g} · sparsity {d['sparsity']:.2%} · years {years}{extra}")
    if not charts:
        return
    figs = [rating_histogram(d["rating_values"], d["rating_counts"]), ratings_per_movie(d["per_movie"])]
    if compact:
        for i, fig in enumerate(figs):
            st.plotly_chart(fig, config=PLOT_CONFIG, key=f"summary_chart_{i}_compact")
    else:
        for col, (i, fig) in zip(st.columns(2), enumerate(figs), strict=True):
            col.plotly_chart(fig, config=PLOT_CONFIG, key=f"summary_chart_{i}")


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
    row = int(float(custom[0] if isinstance(custom, (list, tuple)) else custom))
    done = ss[K.LAST_MAP_PICK]
    if done.get(chart_key) == row:
        return
    done[chart_key] = row
    if row in ex.catalog.index and int(ex.catalog.at[row, "movie_id"]) != ss[K.MOVIE]:
        select_row(ex, row)
        st.rerun()


# --- your taste ---------------------------------------------------------------------------------

STARS = "★★★★★"


def _stars_to_rating(ex: Explorer, stars_index: int) -> float:
    """Stars 1-5 mapped onto the dataset's rating scale."""
    lo, hi = ex.dataset.rating_scale
    return float(lo + (hi - lo) * stars_index / 4.0)


def _on_taste_star(ex: Explorer, movie_id: int, widget_key: str) -> None:
    """A star click stores (or clears) that movie's rating."""
    ss = st.session_state
    value = ss.get(widget_key)
    taste = dict(ss[K.TASTE])
    if value is None:
        taste.pop(movie_id, None)
    else:
        taste[movie_id] = int(value)
    ss[K.TASTE] = taste


def _on_taste_search_star(ex: Explorer) -> None:
    """Rating the searched movie adds it to the list and resets the search stars."""
    ss = st.session_state
    row, value = ss.get("w_taste_pick"), ss.get("w_taste_stars")
    if row is None or value is None:
        return
    taste = dict(ss[K.TASTE])
    taste[int(ex.catalog.at[int(row), "movie_id"])] = int(value)
    ss[K.TASTE] = taste
    ss["w_taste_stars"] = None


def taste_search(ex: Explorer) -> None:
    """Find any movie by title and give it stars."""
    key = cached.artifact_key(ex)
    query = st.text_input("Find a movie to rate", key="w_taste_q", placeholder="e.g. toy story")
    query = (query or "").strip()[:200]
    if not query:
        return
    rows = _search(key, ex, query)
    if not rows:
        st.caption("No match; try fewer words.")
        return
    labels = ex.catalog["label"]
    st.selectbox("Match", rows, key="w_taste_pick", format_func=lambda r: str(labels.at[r]),
                  label_visibility="collapsed")
    st.feedback("stars", key="w_taste_stars", on_change=_on_taste_search_star, args=(ex,))


def taste_grid(ex: Explorer, rows: list[int]) -> None:
    """Popular movies with a star widget each: the quickest way to express a taste."""
    ss = st.session_state
    taste = ss[K.TASTE]
    for row in rows:
        mid = int(ex.catalog.at[row, "movie_id"])
        wkey = f"w_star_{mid}"
        ss[wkey] = taste.get(mid)
        name, stars = st.columns([3, 2], vertical_alignment="center")
        name.markdown(_md(ex.catalog.at[row, "label"]))
        with stars:
            st.feedback("stars", key=wkey, on_change=_on_taste_star, args=(ex, mid, wkey))


def taste_ratings(ex: Explorer) -> dict[int, float]:
    """The ratings so far (movie id -> rating on the dataset's scale), listed for the person."""
    taste: dict[int, int] = st.session_state[K.TASTE]
    if not taste:
        return {}
    ids = ex.catalog["movie_id"]
    label_of = dict(zip(ids.to_numpy().tolist(), ex.catalog["label"], strict=True))
    st.markdown(f"**Your ratings ({len(taste)})**")
    lines = [f"- {STARS[: s + 1]}{'☆' * (4 - s)} {_md(label_of.get(mid, mid))}" for mid, s in taste.items()]
    st.markdown("\n".join(lines))
    return {mid: _stars_to_rating(ex, s) for mid, s in taste.items() if mid in label_of}


def clear_taste() -> None:
    """Forget the person's ratings (and the star widgets showing them)."""
    ss = st.session_state
    ss[K.TASTE] = {}
    for k in [k for k in ss if str(k).startswith("w_star_")]:
        del ss[k]


def recommend(ex: Explorer, rated: dict[int, float], alpha: float, filt: Any) -> pd.DataFrame | None:
    """Blended recommendations for a handful of ratings (movie id -> rating), with reasons."""
    from recsys_core.errors import RecsysError

    ids = ex.catalog["movie_id"].to_numpy()
    rows = {int(ex.catalog.index[np.flatnonzero(ids == mid)[0]]): r for mid, r in rated.items()}
    try:
        return ex.recommend(rows, k=20, alpha=alpha, filters=filt)
    except RecsysError as exc:
        st.warning(f"Could not recommend: {exc}")
        return None


def recs_table(recs: pd.DataFrame) -> None:
    """Recommendations as a table: rank, title (year), genres, score, ratings, why."""
    df = pd.DataFrame({
        "#": recs["rank"].astype(int).to_numpy() if "rank" in recs else np.arange(1, len(recs) + 1),
        "Title": _labels(recs) if "year" in recs else recs["title"].astype(str).to_numpy(),
        "Score": recs["score"].astype(float).round(3).to_numpy(),
        "Genres": [", ".join(g) if not isinstance(g, str) else g for g in recs["genres"]],
        "Ratings": recs["n_ratings"].astype(int).to_numpy() if "n_ratings" in recs else None,
        "Mean": recs["mean_rating"].astype(float).round(2).to_numpy() if "mean_rating" in recs else None,
        "Why": recs["why"].astype(str).to_numpy() if "why" in recs else "",
    })
    st.dataframe(df, hide_index=True, key="tbl_recs", height=737, row_height=35, column_config={
        "#": st.column_config.NumberColumn("#", width="small"),
        "Title": st.column_config.TextColumn("Title", width="medium"),
        "Score": st.column_config.NumberColumn("Score", format="%.3f", width="small"),
        "Mean": st.column_config.NumberColumn("Mean", format="%.2f", width="small"),
        "Why": st.column_config.TextColumn("Why", width="large"),
    })


# --- data & model -------------------------------------------------------------------------------


def try_explorer() -> Explorer | None:
    """The session's explorer, or None when it cannot be opened (the router already said why)."""
    from recsys_core.errors import RecsysError

    try:
        return cached.current_explorer()
    except RecsysError:
        return None


def release_table() -> None:
    """The registry: what each release holds, its size, and whether it is on this machine."""
    from recsys_core.data import registry

    rows = registry.list_releases()
    df = pd.DataFrame({
        "Name": [r["name"] for r in rows],
        "Release": [r["title"] for r in rows],
        "Here": ["✓ bundled" if r["bundled"] else ("✓" if r["present"] else "—") for r in rows],
        "Size (MB)": [r["approx_mb"] for r in rows],
        "What it holds": [r["description"] for r in rows],
    })
    st.dataframe(df, hide_index=True, key="tbl_releases", column_config={
        "Size (MB)": st.column_config.NumberColumn("Size (MB)", format="%.1f", width="small"),
        "What it holds": st.column_config.TextColumn("What it holds", width="large"),
    })
    st.caption(f"Downloads go to {registry.data_dir()} (set RECSYS_DATA_DIR to change it). MovieLens data is "
               "© GroupLens, for non-commercial use; cite Harper & Konstan (2015).")


def download_release() -> None:
    """Pick a release that is not here yet and download it with a progress bar."""
    from recsys_core.data import download, registry
    from recsys_core.errors import RecsysError

    missing = [r["name"] for r in registry.list_releases() if not r["present"]]
    if not missing:
        st.caption("Every release is on this machine.")
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    name = left.selectbox("Download a release", missing, key="w_dl_pick",
                          format_func=lambda n: f"{n} · about {registry.RELEASES[n].approx_mb:g} MB")
    if right.button("Download", key="btn_download", icon="⬇️", width="stretch"):
        bar = st.progress(0.0, text=f"Downloading {name}…")

        def on_bytes(done: int, total: int | None) -> None:
            if total:
                bar.progress(min(1.0, done / total), text=f"{name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB")
            else:
                bar.progress(0.0, text=f"{name}: {done / 1e6:.1f} MB")

        try:
            download(name, progress=on_bytes)
        except RecsysError as exc:
            bar.empty()
            st.error(f"Download failed: {exc}", icon="⚠️")
            return
        bar.progress(1.0, text=f"{name} is ready")
        cached.dataset_choices.clear()
        st.success(f"{name} is on this machine: pick it in the sidebar's Dataset list "
                   "(its first open trains a model, with progress).")


def artifact_details(ex: Explorer) -> None:
    """Where and how this model was trained: device, time, size, when, settings."""
    m = dict(ex.manifest or {})
    cols = st.columns(4)
    cols[0].metric("Device", str(m.get("device", "?")))
    secs = m.get("train_seconds", m.get("seconds"))
    cols[1].metric("Training time", f"{float(secs):.0f} s" if isinstance(secs, (int, float)) else "?")
    size = m.get("size_bytes", m.get("bytes"))
    cols[2].metric("Artifact size", f"{size / 1e6:.1f} MB" if isinstance(size, (int, float)) else "?")
    when = str(m.get("created", m.get("created_at", "?")))
    cols[3].metric("Trained", when[:16].replace("T", " "))
    with st.expander("All artifact details (manifest)"):
        st.json(m, expanded=1)


def loss_curves(ex: Explorer) -> None:
    """Training and validation loss per epoch, one chart per model."""
    hist = dict(ex.history or {})
    names = {"content": "Content autoencoder", "collab": "Collaborative model", "rating": "Rating model"}
    items = [(k, v) for k, v in hist.items() if isinstance(v, dict) and (v.get("train") or v.get("val"))]
    if not items:
        st.caption("No training history stored with this model.")
        return
    cols = st.columns(min(3, len(items)))
    for i, (name, h) in enumerate(items):
        with cols[i % len(cols)]:
            st.plotly_chart(loss_figure(h, names.get(name, name.title()) + " loss"), config=PLOT_CONFIG,
                            key=f"loss_{name}")
            best = h.get("best_epoch")
            if best:
                st.caption(f"Best epoch {best} of {len(h.get('train') or [])}"
                           + (f" · {h['seconds']:.1f} s" if isinstance(h.get("seconds"), (int, float)) else ""))


def cache_controls() -> None:
    """Drop the dashboard's in-memory caches (the trained artifacts on disk stay)."""
    if st.button("Clear the dashboard's caches", key="btn_clear_cache", icon="🧹",
                 help="Re-reads models and maps from the artifact cache on the next view; nothing is retrained."):
        st.cache_data.clear()
        st.cache_resource.clear()
        st.success("Cleared. Models and maps are re-read from disk on the next view.")
    st.caption("Trained artifacts live under the artifacts folder (RECSYS_ARTIFACTS_DIR); "
               "`make clean-cache` deletes them.")


def set_alpha(alpha: float) -> None:
    """Move the shared blend slider (widgets re-seed from the view)."""
    st.session_state[K.ALPHA] = round(float(alpha), 2)
    st.session_state.pop(K.W_ALPHA, None)


def make_default_alpha(ex: Explorer, alpha: float) -> None:
    """Persist alpha as the artifact's default and keep it in the URL."""
    ex.set_default_alpha(round(float(alpha), 2))
    st.session_state[K.ALPHA] = round(float(alpha), 2)
    st.session_state["default_alpha_saved"] = round(float(alpha), 2)


# --- training settings --------------------------------------------------------------------------

_SETTING_LABELS = {
    "code_dim": "Embedding size",
    "dim": "Embedding size",
    "n_factors": "Embedding size",
    "factors": "Embedding size",
    "hidden_dim": "Hidden layer width",
    "epochs": "Max epochs",
    "loss": "Loss",
    "kind": "Model kind",
    "model": "Model kind",
    "space": "Model kind",
    "rating_model": "Rating model (RMSE)",
    "rating_dim": "Rating model size",
}
_SETTING_CHOICES = {
    "loss": ("mse", "cosine", "multinomial"),
    "space": ("spectral", "rating_net", "dot_bias"),
    "rating_model": ("dot_bias", "entity_net"),
    "device": ("auto", "cpu", "cuda", "mps"),
}
_SECTION_LABELS = {"content": "Content (autoencoder)", "collab": "Collaborative", "rating": "Rating model",
                   "eval": "Evaluation", "evaluation": "Evaluation", "projection": "Maps (UMAP)"}


def _choices_for(name: str, current: str, section_obj: Any) -> tuple[str, ...]:
    """Allowed values of a string setting: the engine's published lists first, then known ones."""
    from recsys_core import config as engine_config

    published = {"space": getattr(engine_config, "SPACES", None),
                 "rating_model": getattr(engine_config, "RATING_MODELS", None)}.get(name)
    if published and current in published:
        return tuple(published)
    if name in _SETTING_CHOICES and current in _SETTING_CHOICES[name]:
        return _SETTING_CHOICES[name]
    for attr in (f"{name.upper()}S", f"{name.upper()}_CHOICES", "KINDS", "CHOICES"):
        opts = getattr(type(section_obj), attr, None)
        if isinstance(opts, (tuple, list)) and current in opts:
            return tuple(opts)
    return (current,)


def training_settings(config_json: str) -> str:
    """The few settings people change (model kind, sizes, epochs, device), as form widgets; returns JSON."""
    import dataclasses as dc
    import json

    cfg = cached.config_from_json(config_json)
    data = json.loads(cached.config_to_json(cfg))
    sections = [(f.name, getattr(cfg, f.name)) for f in dc.fields(cfg)]
    top_level = [(n, v) for n, v in sections if not dc.is_dataclass(v)]
    nested = [(n, v) for n, v in sections if dc.is_dataclass(v)]
    shown_any = False
    nested = [(n, v) for n, v in nested
              if any(f.name in _SETTING_LABELS for f in dc.fields(v)) or dc.is_dataclass(getattr(v, "fit", None))]
    cols = st.columns(max(1, len(nested) + (1 if top_level else 0)))
    for col, (sec, obj) in zip(cols, nested, strict=False):
        fields = [f for f in dc.fields(obj) if f.name in _SETTING_LABELS]
        fit = getattr(obj, "fit", None)
        with col:
            st.markdown(f"*{_SECTION_LABELS.get(sec, sec.title())}*")
            for f in fields:
                value = getattr(obj, f.name)
                wkey = f"w_set_{sec}_{f.name}"
                if isinstance(value, bool):
                    continue
                if isinstance(value, int):
                    hi = 1000 if f.name == "epochs" else 4096
                    lo = 0 if (value == 0 or f.name == "hidden_dim") else 1
                    data[sec][f.name] = int(st.number_input(_SETTING_LABELS[f.name], lo, hi, value, key=wkey))
                elif isinstance(value, str):
                    opts = _choices_for(f.name, value, obj)
                    data[sec][f.name] = st.selectbox(_SETTING_LABELS[f.name], opts, index=opts.index(value),
                                                     key=wkey)
                shown_any = True
            if dc.is_dataclass(fit) and hasattr(fit, "epochs"):
                data[sec]["fit"]["epochs"] = int(st.number_input("Max epochs", 1, 1000, int(fit.epochs),
                                                                 key=f"w_set_{sec}_fit_epochs"))
                shown_any = True
    for name, value in top_level:
        if name == "device" or name in _SETTING_LABELS:
            opts = _choices_for(name, str(value), cfg)
            data[name] = cols[-1].selectbox("Device" if name == "device" else _SETTING_LABELS[name], opts,
                                      index=opts.index(str(value)) if str(value) in opts else 0,
                                      key=f"w_set_{name}",
                                      help="auto = GPU when there is one, else CPU")
            shown_any = True
    if not shown_any:
        st.caption("This model has no adjustable settings here.")
    st.caption("Training stops early when validation stops improving. Training again with the same settings "
               "reuses the cached model; two people pressing Train at once get one training.")
    return json.dumps(data, sort_keys=True)


def train_and_use(dataset: str, config_json: str) -> None:
    """Train with these settings (progress shown), then make them this session's model."""
    from recsys_core.errors import RecsysError

    try:
        cfg_json = cached.config_to_json(cached.config_from_json(config_json))
        cached.train_with_progress(dataset, cfg_json, f"Training on {dataset}…")
    except RecsysError as exc:
        st.error(f"Training did not run: {exc}", icon="⚠️")
        return
    configs = dict(st.session_state[K.CONFIG])
    if cfg_json == cached.DEFAULT_CONFIG_JSON:
        configs.pop(dataset, None)
    else:
        configs[dataset] = cfg_json
    st.session_state[K.CONFIG] = configs
    st.session_state[K.ALPHA] = None  # the new model's default blend
    st.session_state["flash"] = "Trained. Every page now uses this model."
    st.rerun()  # redraw everything from the new model


# --- metrics (Tune, Data & model) ---------------------------------------------------------------

METRIC_LABELS = {
    "recall": ("Recall@{k}", "Share of a user's held-out liked movies found from their other liked movies. Higher is better."),
    "ndcg": ("NDCG@{k}", "Like recall, but hits near the top count more. Higher is better."),
    "cold_recall": ("Cold-start recall@{k}", "Recall on movies with few training ratings. Higher is better."),
    "genre_coherence": ("Genre coherence", "Mean genre overlap (Jaccard) of a movie and its neighbours. Higher = more same-genre."),
    "popularity": ("Popularity of listed movies", "Mean log10 number of ratings of what is listed. Lower = less blockbuster bias."),
    "coverage": ("Catalogue coverage", "Share of the catalogue that appears in someone's list. Higher = more variety."),
}
BASELINE_LABELS = {"popularity": "Most popular", "itemknn": "Item kNN", "ease": "EASE",
                   "rating_vectors": "Rating-model vectors"}


def _metric_base(name: str) -> str:
    """'recall@20' -> 'recall'."""
    return name.split("@", 1)[0]


def metric_label(name: str, k: int) -> str:
    """Human label of a metric key."""
    label = METRIC_LABELS.get(_metric_base(name), (name, ""))[0]
    return label.format(k=k)


def metrics_view(m: dict[str, Any] | None) -> dict[str, Any] | None:
    """The engine's evaluation as frames the charts use; None when the model has none."""
    if not m or not m.get("alphas") or not isinstance(m.get("hybrid"), dict):
        return None
    alphas = [float(a) for a in m["alphas"]]
    hybrid = pd.DataFrame({k: v for k, v in m["hybrid"].items() if isinstance(v, list) and len(v) == len(alphas)},
                          index=pd.Index(alphas, name="alpha"))
    baselines = {BASELINE_LABELS.get(n, n): v for n, v in (m.get("baselines") or {}).items()
                 if isinstance(v, dict) and "skipped" not in v}
    skipped = {BASELINE_LABELS.get(n, n): v["skipped"] for n, v in (m.get("baselines") or {}).items()
               if isinstance(v, dict) and "skipped" in v}
    order = [c for c in ("recall@20", "ndcg@20", "genre_coherence", "popularity", "coverage", "cold_recall@20")
             if c in hybrid.columns] + [c for c in hybrid.columns if c not in
                                         ("recall@20", "ndcg@20", "genre_coherence", "popularity", "coverage",
                                          "cold_recall@20")]
    return {
        "k": int(m.get("k", 20)),
        "alphas": alphas,
        "hybrid": hybrid[order],
        "content": dict(m.get("content") or {}),
        "collab": dict(m.get("collab") or {}),
        "baselines": baselines,
        "skipped": skipped,
        "best_alpha": float(m.get("best_alpha", 0.5)),
        "best_metric": next((c for c in hybrid.columns if c.startswith("recall")), order[0] if order else ""),
        "rmse": dict(m.get("rmse") or {}),
        "n_users": m.get("n_users"),
    }


def best_alpha_text(v: dict[str, Any]) -> str:
    """Why the suggested alpha is the best one, in one paragraph."""
    best, metric, k = v["best_alpha"], v["best_metric"], v["k"]
    h = v["hybrid"]
    value = h.loc[best, metric] if best in h.index and metric in h.columns else float("nan")
    users = f" of {v['n_users']:,} users" if v.get("n_users") else ""
    side = ("only the content signal" if best >= 1.0 else "only the collaborative signal" if best <= 0.0
            else f"{best:.0%} content and {1 - best:.0%} collaborative")
    text = (f"**Best α = {format_alpha(best)}** ({side}): it finds the most held-out liked movies — "
            f"{metric_label(metric, k)} = {value:.3f} — when each user's other liked movies are used as seeds"
            f"{users}. The dashed lines are baselines; the dotted ones the pure content and collaborative lists.")
    coll = v["collab"].get(metric)
    if coll is not None and not math.isnan(value) and coll > value * 1.5:
        text += (f"\n\n⚠️ The collaborative list alone scores {coll:.3f}, far above any blend: this artifact's "
                 "blend looks miscalibrated; retrain or report it.")
    return text


def metric_charts(v: dict[str, Any], alpha: float) -> None:
    """One small line chart per metric against alpha, best alpha and the current alpha marked."""
    h = v["hybrid"]
    cols = st.columns(3)
    for i, metric in enumerate(h.columns):
        base = _metric_base(metric)
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
                              annotation_text=name, annotation_position="top left",
                              annotation_font={"size": 9, "color": "#52606D"})
        fig.add_vline(x=v["best_alpha"], line={"color": "#2E7D32", "width": 2},
                      annotation_text="best", annotation_position="top")
        fig.add_vline(x=alpha, line={"color": NEIGHBOUR, "width": 1, "dash": "dot"})
        label = metric_label(metric, v["k"])
        _layout(fig, 260, title={"text": label, "font": {"size": 13}}, showlegend=False,
                xaxis_title="α (0 = collaborative, 1 = content)", yaxis_title=label)
        with cols[i % 3]:
            st.plotly_chart(fig, config=PLOT_CONFIG, key=f"metric_{base}")
            st.caption(METRIC_LABELS.get(base, ("", ""))[1])


def metric_tables(v: dict[str, Any]) -> None:
    """The numbers: blend per alpha, then the pure lists and the baselines, plus rating RMSE."""
    k = v["k"]
    h = v["hybrid"].copy()
    h.columns = [metric_label(c, k) for c in h.columns]
    st.markdown("**Blend across α**")
    st.dataframe(h.reset_index().rename(columns={"alpha": "α"}).round(4), hide_index=True, key="tbl_metrics_alpha")
    rows = {"Content only": v["content"], "Collaborative only": v["collab"], **v["baselines"]}
    table = pd.DataFrame(rows).T
    table = table[[c for c in v["hybrid"].columns if c in table.columns]]
    table.columns = [metric_label(c, k) for c in table.columns]
    st.markdown("**Pure lists next to the baselines**")
    st.dataframe(table.round(4), key="tbl_metrics_baselines")
    for name, why in v["skipped"].items():
        st.caption(f"{name} skipped: {why}")
    r = v["rmse"]
    if r.get("test_rmse") is not None:
        st.markdown(
            f"**Rating prediction** ({r.get('model', 'model')}, {int(r.get('n_test', 0)):,} held-out ratings): "
            f"RMSE {r['test_rmse']:.3f} · global-mean baseline {r.get('global_mean', float('nan')):.3f} · "
            f"user+movie bias baseline {r.get('bias', float('nan')):.3f} (lower is better)"
        )


# --- a light SVG scatter for the landing page ---------------------------------------------------

_VIRIDIS = ["#440154", "#3B528B", "#21918C", "#5EC962", "#FDE725"]


def _viridis(t: float) -> str:
    """A viridis-like colour for t in [0, 1] (5 stops, linear in between)."""
    t = min(1.0, max(0.0, t)) * (len(_VIRIDIS) - 1)
    i = min(int(t), len(_VIRIDIS) - 2)
    f = t - i
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    rgb = [round(int(a[k:k + 2], 16) * (1 - f) + int(b[k:k + 2], 16) * f) for k in (1, 3, 5)]
    return "#%02x%02x%02x" % tuple(rgb)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    span = max(hi - lo, 1e-9)
    step = 10 ** math.floor(math.log10(span / n))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [round(start + i * step, 6) for i in range(int((hi - start) / step) + 1)]


def blend_scatter_svg(hybrid: pd.DataFrame, alpha: float) -> str:
    """The blended picks by content (x) and collaborative (y) similarity, as inline SVG.

    Drawn without a charting library so the landing page pays no plotly start-up; each dot has a
    native tooltip (title, both scores) and shows its rank.
    """
    import html

    x = hybrid["content_score"].astype(float).to_numpy()
    y = hybrid["collab_score"].astype(float).to_numpy()
    s = hybrid["score"].astype(float).to_numpy()
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return ""
    w, h, ml, mr, mt, mb = 560, 300, 56, 16, 30, 44
    pad_x = (x[ok].max() - x[ok].min()) * 0.08 or 0.02
    pad_y = (y[ok].max() - y[ok].min()) * 0.08 or 0.02
    x0, x1 = x[ok].min() - pad_x, x[ok].max() + pad_x
    y0, y1 = y[ok].min() - pad_y, y[ok].max() + pad_y

    def px(v: float) -> float:
        return ml + (v - x0) / (x1 - x0) * (w - ml - mr)

    def py(v: float) -> float:
        return h - mb - (v - y0) / (y1 - y0) * (h - mt - mb)

    parts = [f'<svg viewBox="0 0 {w} {h}" width="100%" role="img" '
             f'aria-label="Blended picks by content and collaborative similarity" '
             f'style="max-width:{w}px;font-family:sans-serif;font-size:11px">',
             f'<text x="{ml}" y="16" font-size="13" font-weight="600" fill="#1F2933">'
             f'Blended picks at α = {format_alpha(alpha)} (numbers are ranks)</text>']
    for t in _ticks(x0, x1):
        parts.append(f'<line x1="{px(t):.1f}" y1="{mt}" x2="{px(t):.1f}" y2="{h - mb}" stroke="#E4E7EB"/>'
                     f'<text x="{px(t):.1f}" y="{h - mb + 14}" text-anchor="middle" fill="#616E7C">{t:g}</text>')
    for t in _ticks(y0, y1):
        parts.append(f'<line x1="{ml}" y1="{py(t):.1f}" x2="{w - mr}" y2="{py(t):.1f}" stroke="#E4E7EB"/>'
                     f'<text x="{ml - 6}" y="{py(t) + 4:.1f}" text-anchor="end" fill="#616E7C">{t:g}</text>')
    parts.append(f'<text x="{(ml + w - mr) / 2}" y="{h - 8}" text-anchor="middle" fill="#3E4C59">'
                 'Content similarity →</text>')
    parts.append(f'<text transform="translate(14 {(mt + h - mb) / 2}) rotate(-90)" text-anchor="middle" '
                 'fill="#3E4C59">Collaborative similarity →</text>')
    lo, hi = float(np.nanmin(s)), float(np.nanmax(s))
    labels = _labels(hybrid)
    order = np.argsort(-np.asarray(hybrid["rank"], dtype=float))  # rank 1 drawn last, on top
    for i in order:
        if not ok[i]:
            continue
        colour = _viridis((s[i] - lo) / (hi - lo) if hi > lo else 1.0)
        tip = html.escape(f"#{int(hybrid['rank'].iat[i])} {labels[i]} · content {x[i]:.3f} · "
                          f"collab {y[i]:.3f} · blend {s[i]:.3f}")
        parts.append(f'<g><title>{tip}</title><circle cx="{px(x[i]):.1f}" cy="{py(y[i]):.1f}" r="9" '
                     f'fill="{colour}" stroke="white" stroke-width="1"/>'
                     f'<text x="{px(x[i]):.1f}" y="{py(y[i]) + 3.5:.1f}" text-anchor="middle" font-size="9" '
                     f'fill="{"#1F2933" if (s[i] - lo) / max(hi - lo, 1e-9) > 0.6 else "white"}">'
                     f'{int(hybrid["rank"].iat[i])}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
