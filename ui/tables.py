"""Ranked lists as plain HTML tables (Explore's three lists, Your taste's picks).

A 20-row list does not need a data grid: ``st.dataframe`` loads and starts its own code in the browser before
it draws a row, and Explore's lists came 17-28% later in a page load with it (`benchmarks/bench_ui.py`, README
"Page speed"). Every data text is escaped here; each table carries one style block, scoped to its own class.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from ui.format import TITLE_CHARS, printable

# right-aligned number, short text, wrapping title, a long text cut to one line, a reason that wraps
NUM, TEXT, TITLE, LONG, NOTE = "n", "x", "t", "w", "r"


@dataclass(frozen=True)
class Column:
    """How one column is shown: header, kind (NUM, TEXT, TITLE, LONG, NOTE), number format, header tooltip."""

    header: str
    kind: str = TEXT
    fmt: str = ""
    help: str = ""


# Columns every movie table shows alike (Explore's lists, Your taste's picks, Latent space's agreement).
RATINGS = Column("Ratings", NUM, "{:,d}", "How many people rated it")
MEAN = Column("Mean", NUM, "{:.2f}", "Mean rating")
GENRES = Column("Genres", LONG)

# Colours are translucent so the light and the dark theme both read them.
RULES = (
    ".rs-list-wrap{overflow-x:auto;border:1px solid rgba(128,128,128,.28);border-radius:.5rem}"
    ".rs-list{border-collapse:collapse;font-size:.84rem;line-height:1.3;width:max-content;min-width:100%}"
    ".rs-list th,.rs-list td{padding:.32rem .5rem;border-bottom:1px solid rgba(128,128,128,.16);"
    "text-align:left;vertical-align:top;white-space:nowrap}"
    ".rs-list thead th{font-weight:600;background:rgba(128,128,128,.07);cursor:default}"
    ".rs-list .n{text-align:right;font-variant-numeric:tabular-nums}"
    ".rs-list td.t{white-space:normal;overflow-wrap:anywhere;min-width:10rem;max-width:12rem}"
    ".rs-list td.w{max-width:22rem;overflow:hidden;text-overflow:ellipsis}"
    ".rs-list td.r{white-space:normal;overflow-wrap:anywhere;min-width:12rem;max-width:16rem}"
    ".rs-list tr.agree td{background:rgba(228,87,46,.10)}"
    ".rs-list tbody tr:last-child td{border-bottom:0}"
)
CSS = f"<style>{RULES}</style>"


def _cell(value: object, col: Column) -> str:
    """One escaped cell; a missing number reads "–", a long text is cut to one line with the rest in its tooltip."""
    if col.kind == NUM:
        text = "–" if value is None or pd.isna(value) else col.fmt.format(value)
    else:
        text = printable(value, TITLE_CHARS if col.kind == TITLE else None)
    cls = "" if col.kind == TEXT else f' class="{col.kind}"'  # short text has no style of its own
    tip = f' title="{html.escape(text, quote=True)}"' if col.kind == LONG else ""
    return f"<td{cls}{tip}>{html.escape(text)}</td>"


def _header(col: Column) -> str:
    """One column header, its help as the browser's tooltip."""
    cls = ' class="n"' if col.kind == NUM else ""
    tip = f' title="{html.escape(col.help, quote=True)}"' if col.help else ""
    return f'<th scope="col"{cls}{tip}>{html.escape(col.header)}</th>'


def table_html(frame: pd.DataFrame, columns: Mapping[str, Column], label: str,
               tinted: Sequence[bool] | None = None) -> str:
    """``frame``'s columns (each named in ``columns``) as an escaped HTML table; ``tinted`` rows get a highlight."""
    spec = [columns[c] for c in frame.columns]
    head = "".join(_header(c) for c in spec)
    marks = list(tinted) if tinted is not None else [False] * len(frame)
    tint = ' class="agree"'
    body = "".join(
        f'<tr{tint if mark else ""}>' + "".join(_cell(v, c) for v, c in zip(rec, spec, strict=True)) + "</tr>"
        for rec, mark in zip(frame.itertuples(index=False), marks, strict=True)
    )
    return (f'{CSS}<div class="rs-list-wrap"><table class="rs-list" aria-label="{html.escape(label, quote=True)}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def show(frame: pd.DataFrame, columns: Mapping[str, Column], label: str,
         tinted: Sequence[bool] | None = None) -> None:
    """Draw the table on the page."""
    st.html(table_html(frame, columns, label, tinted))
