"""The three top-20 lists of Explore: the displayed frame, the table, the CSV and the rise/fall arrows."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from ui.format import TITLE_CHARS, genres_text, movement, movie_labels, printable
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


# One column of a list table: its header, how its values are written, and the header's tooltip.
_NUM, _TEXT, _TITLE, _LONG = "n", "x", "t", "w"
COLUMNS: dict[str, tuple[str, str, str, str]] = {  # frame column: (header, kind, number format, help)
    "#": ("#", _NUM, "{:d}", ""),
    "Title": ("Title", _TITLE, "", "◆ = in both the content and the collaborative top-20"),
    "Similarity": ("Cosine", _NUM, "{:.3f}", "Cosine similarity in this space"),
    "Also in": ("Also in", _TEXT, "", "The other lists showing this movie"),
    "Ratings": ("Ratings", _NUM, "{:,d}", "How many people rated it"),
    "Mean": ("Mean", _NUM, "{:.2f}", "Mean rating"),
    "Genres": ("Genres", _LONG, "", ""),
    "Why": ("Why", _LONG, "", "What this movie shares with the picked one"),
    "Move": ("Move", _TEXT, "", "Change since the last blend: ▲ rose, ▼ fell, new"),
    "Content": ("Content", _NUM, "{:.3f}", "Content cosine similarity"),
    "Collab": ("Collab", _NUM, "{:.3f}", "Collaborative cosine similarity"),
    "Rank in content": ("Rank C", _TEXT, "", "Rank in the content list (– = not in its top 20)"),
    "Rank in collab": ("Rank CF", _TEXT, "", "Rank in the collaborative list (– = not in its top 20)"),
}
BLEND_SCORE = ("Score", _NUM, "{:.2f}",
               "α·content + (1−α)·collab on the common scale: standard deviations above this movie's typical "
               "neighbour (the raw cosines are in the Content and Collab columns)")
# Scoped to the lists' own class; colours are translucent so the light and the dark theme both read them.
LIST_CSS = (
    "<style>"
    ".rs-list-wrap{overflow-x:auto;border:1px solid rgba(128,128,128,.28);border-radius:.5rem}"
    ".rs-list{border-collapse:collapse;font-size:.84rem;line-height:1.3;width:max-content;min-width:100%}"
    ".rs-list th,.rs-list td{padding:.32rem .5rem;border-bottom:1px solid rgba(128,128,128,.16);"
    "text-align:left;vertical-align:top;white-space:nowrap}"
    ".rs-list thead th{font-weight:600;background:rgba(128,128,128,.07);cursor:default}"
    ".rs-list .n{text-align:right;font-variant-numeric:tabular-nums}"
    ".rs-list td.t{white-space:normal;overflow-wrap:anywhere;min-width:10.5rem;max-width:14rem}"
    ".rs-list td.w{max-width:22rem;overflow:hidden;text-overflow:ellipsis}"
    ".rs-list tr.agree td{background:rgba(228,87,46,.10)}"
    ".rs-list tbody tr:last-child td{border-bottom:0}"
    "</style>"
)


def _cell(value: object, kind: str, fmt: str) -> str:
    """One escaped cell; a missing number reads "–", a long text is cut to one line with the rest in its tooltip."""
    if kind == _NUM:
        text = "–" if value is None or pd.isna(value) else fmt.format(value)
    else:
        text = printable(value, TITLE_CHARS if kind == _TITLE else None)
    if kind == _LONG:  # cut to one line; the whole text is the cell's tooltip
        return f'<td class="{kind}" title="{html.escape(text, quote=True)}">{html.escape(text)}</td>'
    return f'<td class="{kind}">{html.escape(text)}</td>'


def _header(label: str, kind: str, tip: str) -> str:
    """One column header, its help as the browser's tooltip."""
    cls = ' class="n"' if kind == _NUM else ""
    title = f' title="{html.escape(tip, quote=True)}"' if tip else ""
    return f'<th scope="col"{cls}{title}>{html.escape(label)}</th>'


def list_html(frame: pd.DataFrame, name: str) -> str:
    """A top-20 list as a plain HTML table: it draws with the page, where a data grid loads its own code first."""
    spec = {c: (BLEND_SCORE if (c == "Similarity" and name == "hybrid") else COLUMNS[c]) for c in frame.columns}
    head = "".join(_header(label, kind, tip) for label, kind, _, tip in spec.values())
    at_title = list(frame.columns).index("Title")
    body = []
    for rec in frame.itertuples(index=False):
        cells = "".join(_cell(v, kind, fmt) for v, (_, kind, fmt, _) in zip(rec, spec.values(), strict=True))
        agree = ' class="agree"' if str(rec[at_title]).startswith("◆") else ""
        body.append(f"<tr{agree}>{cells}</tr>")
    label = html.escape(LIST_NAMES[name], quote=True)
    return (f'{LIST_CSS}<div class="rs-list-wrap"><table class="rs-list" aria-label="{label} top-20">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def list_table(frame: pd.DataFrame, name: str) -> None:
    """One top-20 list on the page (rows both signals agree on are tinted)."""
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
