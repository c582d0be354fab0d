"""The three top-20 lists of Explore: the displayed frame, the table, the CSV and the rise/fall arrows."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from ui.format import genres_text, movement, movie_labels, printable
from ui.state import K

LIST_NAMES = {"content": "Content", "collab": "Collaborative", "hybrid": "Blended"}
LIST_HELP = {
    "content": "What the movie *is*: nearest in the content embedding (genres, title, year, tags).",
    "collab": "Who *likes* it: nearest in the collaborative embedding learned from ratings.",
    "hybrid": "The blend: α·content + (1−α)·collaborative, each cosine first put on a common scale for this movie "
              "(how many standard deviations above its typical neighbour in that space), so α means a share of each.",
}
SHORT_NAMES = {"content": "Content", "collab": "Collab", "hybrid": "Blend"}


def table_frame(df: pd.DataFrame, name: str, others: dict[str, set[int]],
                moves: list[str] | None = None) -> pd.DataFrame:
    """The displayed columns of one list; ◆ marks a movie both signals agree on (in both other-signal lists)."""
    signals = {"content", "collab"} - {name}
    also, agree = [], []
    for m in df["movie"]:
        also.append(" + ".join(SHORT_NAMES[o] for o, members in others.items() if m in members))
        agree.append(all(m in others[o] for o in signals if o in others) if name != "hybrid"
                     else all(m in others.get(o, set()) for o in ("content", "collab")))
    labels = movie_labels(list(df["title"]), list(df["year"]))
    title = [f"◆ {printable(t)}" if a else printable(t) for t, a in zip(labels, agree, strict=True)]
    out = pd.DataFrame(
        {
            "#": df["rank"].astype(int).to_numpy(),
            "Title": title,
            "Similarity": df["score"].astype(float).round(3).to_numpy(),
            "Also in": also,
            "Ratings": df["n_ratings"].astype(int).to_numpy(),
            "Mean": df["mean_rating"].astype(float).round(2).to_numpy(),
            "Genres": [printable(genres_text(g)) for g in df["genres"]],
            "Why": [printable(w) for w in df["why"]],
        }
    )
    if name == "hybrid":
        out.insert(3, "Move", moves if moves is not None else [""] * len(df))
        out.insert(4, "Content", df["content_score"].astype(float).round(3).to_numpy())
        out.insert(5, "Collab", df["collab_score"].astype(float).round(3).to_numpy())
        out.insert(6, "Rank in content", _rank_text(df["content_rank"]))
        out.insert(7, "Rank in collab", _rank_text(df["collab_rank"]))
    return out


def _rank_text(ranks: pd.Series) -> list[str]:
    """Ranks in the other list as text, '–' when outside its top 20."""
    return [str(int(r)) if pd.notna(r) else "–" for r in ranks]


def list_table(frame: pd.DataFrame, name: str, key: str) -> None:
    """One top-20 list as a compact, readable table (rows both signals agree on are tinted)."""
    cfg: dict[str, Any] = {
        "#": st.column_config.NumberColumn("#", width=34),
        "Title": st.column_config.TextColumn("Title", width=186,
                                             help="◆ = in both the content and the collaborative top-20"),
        "Similarity": st.column_config.NumberColumn("Cosine", format="%.3f", width=64,
                                                    help="Cosine similarity in this space"),
        "Also in": st.column_config.TextColumn("Also in", width=110, help="The other lists showing this movie"),
        "Ratings": st.column_config.NumberColumn("Ratings", format="%d", width=70),
        "Mean": st.column_config.NumberColumn("Mean", format="%.2f", width=56, help="Mean rating"),
        "Genres": st.column_config.TextColumn("Genres", width=180),
        "Why": st.column_config.TextColumn("Why", width=320),
    }
    if name == "hybrid":
        cfg["Similarity"] = st.column_config.NumberColumn(
            "Score", format="%.2f", width=64,
            help="α·content + (1−α)·collab on the common scale: standard deviations above this movie's typical "
                 "neighbour (the raw cosines are in the Content and Collab columns)")
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
        d["genres"] = [genres_text(g, "|") for g in d["genres"]]
        frames.append(d.drop(columns=["movie"], errors="ignore"))
    return pd.concat(frames, ignore_index=True).to_csv(index=False).encode("utf-8")


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
