"""The three top-20 lists of Explore: the displayed frame, the table, the CSV and the rise/fall arrows."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import tables
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
            "Similarity": df["score"].astype(float).to_numpy(),
            "Also in": also,
            "Ratings": df["n_ratings"].astype(int).to_numpy(),
            "Mean": df["mean_rating"].astype(float).to_numpy(),
            "Genres": [printable(genres_text(g)) for g in df["genres"]],
            "Why": [printable(w) for w in df["why"]],
        }
    )
    if name == "hybrid":
        out.insert(3, "Move", moves if moves is not None else [""] * len(df))
        out.insert(4, "Content", df["content_score"].astype(float).to_numpy())
        out.insert(5, "Collab", df["collab_score"].astype(float).to_numpy())
        out.insert(6, "Rank in content", _rank_text(df["content_rank"]))
        out.insert(7, "Rank in collab", _rank_text(df["collab_rank"]))
    return out


def _rank_text(ranks: pd.Series) -> list[str]:
    """Ranks in the other list as text, '–' when outside its top 20."""
    return [str(int(r)) if pd.notna(r) else "–" for r in ranks]


COLUMNS: dict[str, tables.Column] = {
    "#": tables.Column("#", tables.NUM, "{:d}"),
    "Title": tables.Column("Title", tables.TITLE, help="◆ = in both the content and the collaborative top-20"),
    "Similarity": tables.Column("Cosine", tables.NUM, "{:.3f}", "Cosine similarity in this space"),
    "Also in": tables.Column("Also in", help="The other lists showing this movie"),
    "Ratings": tables.RATINGS,
    "Mean": tables.MEAN,
    "Genres": tables.GENRES,
    "Why": tables.Column("Why", tables.LONG, help="What this movie shares with the picked one"),
    "Move": tables.Column("Move", help="Change since the last blend: ▲ rose, ▼ fell, new"),
    "Content": tables.Column("Content", tables.NUM, "{:.3f}", "Content cosine similarity"),
    "Collab": tables.Column("Collab", tables.NUM, "{:.3f}", "Collaborative cosine similarity"),
    "Rank in content": tables.Column("Rank C", help="Rank in the content list (– = not in its top 20)"),
    "Rank in collab": tables.Column("Rank CF", help="Rank in the collaborative list (– = not in its top 20)"),
}
BLEND_COLUMNS = {**COLUMNS, "Similarity": tables.Column(
    "Score", tables.NUM, "{:.2f}",
    "α·content + (1−α)·collab on the common scale: standard deviations above this movie's typical "
    "neighbour (the raw cosines are in the Content and Collab columns)")}


def list_html(frame: pd.DataFrame, name: str) -> str:
    """One top-20 list as an HTML table; the rows both signals agree on (◆) are tinted."""
    return tables.table_html(frame, BLEND_COLUMNS if name == "hybrid" else COLUMNS, f"{LIST_NAMES[name]} top-20",
                             [str(t).startswith("◆") for t in frame["Title"]])


def list_table(frame: pd.DataFrame, name: str) -> None:
    """One top-20 list on the page."""
    st.html(list_html(frame, name))


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
