"""Session keys, URL parameters and their defaults in one place, with parsing that never raises.

A shared link must reproduce a view, and a hand-edited or hostile link must give a short notice and
the default instead of an exception. Parsing is pure (no Streamlit) so it is easy to test; the thin
``sync_*`` helpers at the bottom move values between ``st.query_params`` and ``st.session_state``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

import streamlit as st

from ui import shared_selections
from ui.format import format_alpha, md_text

DEFAULT_DATASET = "ml-100k"
MAX_PARAM_LEN = 120  # longer URL values are refused outright
LOW_RATINGS = 20  # "few ratings" threshold mirrored in notes


class K:
    """Session-state keys. ``VIEW_*`` hold the canonical view; ``W_*`` are widget keys seeded from it."""

    DATASET = "view_dataset"
    MOVIE = "view_movie"  # MovieLens movie id (int)
    ALPHA = "view_alpha"  # float in [0, 1]
    MIN_RATINGS = "view_min_ratings"
    GENRES = "view_genres"  # tuple[str, ...]
    YEARS = "view_years"  # tuple[int, int] | None
    MAX_RATINGS = "view_max_ratings"  # int | None (blockbuster cap)
    SELECTION = "view_selection"  # tuple[int, ...]: MovieLens ids picked on a map (box or lasso)
    ONLY_SELECTION = "view_only_selection"  # bool: the lists keep only the selected movies

    URL_APPLIED = "url_applied"  # the URL was read once for this session
    URL_PENDING = "url_pending"  # raw params waiting for the explorer to validate them
    NOTICES = "url_notices"  # (notices, view signature they belong to)
    PREV_HYBRID = "prev_hybrid"  # the last blended list, for rise/fall arrows
    SAVED_VIEWS = "saved_views"  # list[SavedView]
    TOUR_POS = "tour_pos"
    CONFIG = "engine_config"  # per dataset: the training settings in use (JSON)
    LAST_MAP_PICK = "last_map_pick"  # last plotly selection already applied
    SHARED_SELECTION = "shared_selection"  # (dataset, ids) last kept on the server for a link
    TASTE = "taste_ratings"  # {dataset key (name|fingerprint): {movie_id: stars index 0-4}}
    PENDING_VIEW = "pending_view"  # a saved view to apply at the start of the next run
    ALPHA_AUTO = "alpha_auto"  # the model default the slider was filled with, while the visitor has not moved it

    W_DATASET = "w_dataset"
    W_ALPHA = "w_alpha"
    W_SEARCH = "w_search"
    W_PICK = "w_pick"
    W_MIN_RATINGS = "w_min_ratings"
    W_GENRES = "w_genres"
    W_YEARS = "w_years"
    W_CAP_ON = "w_cap_on"
    W_ONLY_SELECTION = "w_only_selection"
    W_MAX_RATINGS = "w_max_ratings"
    W_VIEW_NAME = "w_view_name"
    # panels whose controls are drawn only while open (a first visit loads no code for them): open or not
    W_FILTERS_OPEN = "exp_filters"
    W_SAVED_VIEWS_OPEN = "exp_saved_views"
    W_ABOUT_OPEN = "exp_about"
    W_AGREEMENT_OPEN = "exp_agreement"


class Q:
    """Query-parameter names of a shared link."""

    DATASET = "dataset"
    MOVIE = "movie"
    ALPHA = "alpha"
    MIN_RATINGS = "min_ratings"
    GENRES = "genres"
    YEARS = "years"
    MAX_RATINGS = "max_ratings"
    SELECTION = "sel"
    SELECTION_REF = "selref"  # a selection too long for the link, kept on the server (ui/shared_selections.py)
    ONLY = "only"  # "selection": the lists keep only the map selection's movies

    ALL = (DATASET, MOVIE, ALPHA, MIN_RATINGS, GENRES, YEARS, MAX_RATINGS, SELECTION, SELECTION_REF, ONLY)


@dataclass(frozen=True)
class View:
    """Everything a link reproduces (the page itself is the URL path)."""

    dataset: str = DEFAULT_DATASET
    movie_id: int | None = None
    alpha: float | None = None
    min_ratings: int = 0
    genres: tuple[str, ...] = ()
    years: tuple[int, int] | None = None
    max_ratings: int | None = None
    selection: tuple[int, ...] = ()  # movies picked on a map; in the link while it fits, else by reference
    only_selection: bool = False  # the lists keep only the selection's movies (a filter made from it)

    def to_query(self) -> dict[str, str]:
        """The query parameters of this view; filters only when set, so links stay short."""
        q: dict[str, str] = {Q.DATASET: self.dataset}
        if self.movie_id is not None:
            q[Q.MOVIE] = str(self.movie_id)
        if self.alpha is not None:
            q[Q.ALPHA] = format_alpha(self.alpha)
        if self.min_ratings:
            q[Q.MIN_RATINGS] = str(self.min_ratings)
        if self.genres:
            q[Q.GENRES] = ",".join(self.genres)
        if self.years is not None:
            q[Q.YEARS] = f"{self.years[0]}-{self.years[1]}"
        if self.max_ratings is not None:
            q[Q.MAX_RATINGS] = str(self.max_ratings)
        if self.selection and selection_fits_link(self.selection):
            q[Q.SELECTION] = ",".join(str(m) for m in self.selection)
        elif self.selection:  # the server keeps it under this id (``write_url`` stores it)
            q[Q.SELECTION_REF] = shared_selections.ref_for(self.dataset, self.selection)
        if self.selection and self.only_selection:
            q[Q.ONLY] = "selection"
        return q

    def link(self, url_path: str = "") -> str:
        """A relative link to this view on a page (``""`` is the landing page)."""
        return f"./{url_path}?{urlencode(self.to_query())}"


def selection_fits_link(ids: Iterable[int]) -> bool:
    """Whether a map selection is small enough for the address bar (bigger ones travel as a server-kept id)."""
    return len(",".join(str(m) for m in ids)) <= MAX_PARAM_LEN


@dataclass(frozen=True)
class SavedView:
    """A named view for demo tours."""

    name: str
    page: str  # url_path of the page
    view: View


@dataclass(frozen=True)
class Catalogue:
    """What URL values are checked against (built from the explorer's catalog once, cached)."""

    movie_ids: frozenset[int]
    genres: tuple[str, ...]
    year_bounds: tuple[int, int]
    max_count: int


@dataclass
class Parsed:
    """Result of parsing: the accepted values plus one plain-text notice per rejected value."""

    values: dict[str, object] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


def shown(value: object, limit: int = 40) -> str:
    """A URL value safe to echo in a notice: truncated, markdown/HTML/LaTeX characters escaped."""
    text = str(value)
    text = text if len(text) <= limit else text[:limit] + "…"
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return md_text(f"“{text}”")


def _first(raw: Mapping[str, object], key: str) -> str | None:
    """The last value of a possibly repeated parameter, as Streamlit does, or None."""
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return str(value).strip()


def _int(text: str, lo: int = 0, hi: int = 10**12) -> int | None:
    """A plain decimal integer within [lo, hi], else None (no signs, floats or exponents)."""
    if not re.fullmatch(r"\d{1,13}", text):
        return None
    n = int(text)
    return n if lo <= n <= hi else None


def parse_dataset(raw: Mapping[str, object], choices: Iterable[str], default: str) -> Parsed:
    """The dataset of a link: only a known registry name, never a path."""
    out = Parsed(values={"dataset": default})
    text = _first(raw, Q.DATASET)
    if text is None or text == "":
        return out
    by_lower = {c.lower(): c for c in choices}
    if len(text) <= MAX_PARAM_LEN and text.lower() in by_lower:
        out.values["dataset"] = by_lower[text.lower()]
    else:
        out.notices.append(
            f"The link asks for dataset {shown(text)}, which isn't available here; "
            f"showing {shown(default)}. Available: {', '.join(shown(c) for c in by_lower.values())}."
        )
    return out


SelectionLookup = Callable[[str], tuple[str, tuple[int, ...]] | None]  # a selref -> (dataset, ids)


def parse_view(raw: Mapping[str, object], cat: Catalogue, find_selection: SelectionLookup | None = None,
               dataset: str | None = None) -> Parsed:
    """Movie, blend and filters of a link, each checked against the catalogue (a ``selref`` looked up with
    ``find_selection`` and checked against ``dataset``)."""
    out = Parsed()
    v = out.values

    def too_long(key: str, text: str) -> bool:
        if len(text) > MAX_PARAM_LEN:
            out.notices.append(f"The link's `{key}` value is too long ({len(text)} characters); ignored it.")
            return True
        return False

    text = _first(raw, Q.MOVIE)
    if text and not too_long(Q.MOVIE, text):
        mid = _int(text)
        if mid is None:
            out.notices.append(
                f"The link's movie {shown(text)} is not a MovieLens movie id (a whole number); "
                "showing the default movie."
            )
        elif mid not in cat.movie_ids:
            out.notices.append(
                f"Movie id {shown(text)} isn't in this dataset; showing the default movie instead."
            )
        else:
            v["movie_id"] = mid

    text = _first(raw, Q.ALPHA)
    if text and not too_long(Q.ALPHA, text):
        try:
            alpha = float(text)
        except ValueError:
            alpha = math.nan
        if not math.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
            out.notices.append(
                f"The blend {shown(text)} must be a number from 0 (collaborative only) to "
                "1 (content only); using the default blend."
            )
        else:
            v["alpha"] = round(alpha, 2) + 0.0  # no "-0.00" in links

    text = _first(raw, Q.MIN_RATINGS)
    if text and not too_long(Q.MIN_RATINGS, text):
        n = _int(text)
        if n is None:
            out.notices.append(f"Minimum ratings {shown(text)} must be a whole number ≥ 0; ignored it.")
        elif n > cat.max_count:
            out.notices.append(
                f"Minimum ratings {shown(text)} is more than any movie has; capped at {cat.max_count}."
            )
            v["min_ratings"] = cat.max_count
        else:
            v["min_ratings"] = n

    text = _first(raw, Q.MAX_RATINGS)
    if text and not too_long(Q.MAX_RATINGS, text):
        n = _int(text, lo=1)
        if n is None:
            out.notices.append(f"The blockbuster cap {shown(text)} must be a whole number ≥ 1; ignored it.")
        else:
            v["max_ratings"] = min(n, cat.max_count)

    text = _first(raw, Q.GENRES)
    if text and not too_long(Q.GENRES, text):
        by_lower = {g.lower(): g for g in cat.genres}
        keep: list[str] = []
        unknown: list[str] = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            if part.lower() in by_lower:
                if by_lower[part.lower()] not in keep:
                    keep.append(by_lower[part.lower()])
            else:
                unknown.append(part)
        if unknown:
            out.notices.append(
                f"Unknown genre {', '.join(shown(u) for u in unknown[:3])}"
                f"{' …' if len(unknown) > 3 else ''}; ignored. Genres here: {', '.join(md_text(g) for g in cat.genres)}."
            )
        if keep:
            v["genres"] = tuple(keep)

    text = _first(raw, Q.YEARS)
    if text and not too_long(Q.YEARS, text):
        m = re.fullmatch(r"(\d{1,4})\s*(?:-|,|\.\.|to)\s*(\d{1,4})|(\d{1,4})", text)
        if not m:
            out.notices.append(f"The year range {shown(text)} should look like 1980-1999; ignored it.")
        else:
            a, b = (int(m.group(1)), int(m.group(2))) if m.group(3) is None else (int(m.group(3)),) * 2
            if a > b:
                out.notices.append(f"The year range {shown(text)} was reversed; showing {b}-{a}.")
                a, b = b, a
            lo, hi = cat.year_bounds
            if b < lo or a > hi:
                out.notices.append(
                    f"The year range {shown(text)} is outside this dataset's {lo}-{hi}; ignored it."
                )
            else:
                if a < lo or b > hi:
                    out.notices.append(f"The year range {shown(text)} was clipped to {lo}-{hi}.")
                v["years"] = (max(a, lo), min(b, hi))

    text = _first(raw, Q.SELECTION)
    ids: list[int | None] = []
    if text and not too_long(Q.SELECTION, text):
        ids = [_int(p.strip()) for p in text.split(",") if p.strip()]
    ref = _first(raw, Q.SELECTION_REF)
    if ref and not text and find_selection is not None and not too_long(Q.SELECTION_REF, ref):
        kept = find_selection(ref.strip())
        if kept is None:
            out.notices.append("The link's map selection is no longer kept on this server (it keeps the "
                               f"{shared_selections.MAX_FILES} most recently shared); the rest of the view is shown.")
        elif dataset is not None and kept[0] != dataset:
            out.notices.append(f"The link's map selection was made on {shown(kept[0])}, not on this dataset; "
                               "ignored it.")
        else:
            ids = list(kept[1])
    if ids:
        known = tuple(dict.fromkeys(m for m in ids if m is not None and m in cat.movie_ids))
        if len(known) < len(ids):
            out.notices.append(f"{len(ids) - len(known)} of the link's selected movies aren't in this dataset; "
                               "kept the others.")
        if known:
            v["selection"] = known

    text = _first(raw, Q.ONLY)
    if text and not too_long(Q.ONLY, text):
        if text.strip().lower() != "selection":
            out.notices.append(f"The link's `only` value {shown(text)} is not `selection`; ignored it.")
        elif "selection" not in v:
            out.notices.append("The link keeps the lists to a map selection it does not carry; showing every movie.")
        else:
            v["only_selection"] = True

    mr, cap = v.get("min_ratings", 0), v.get("max_ratings")
    if cap is not None and cap < mr:
        out.notices.append(
            f"The blockbuster cap ({cap}) is below the minimum ratings ({mr}); ignored the cap."
        )
        v.pop("max_ratings")
    return out


# --- Streamlit glue -----------------------------------------------------------------------------

_ROUTED: contextvars.ContextVar[bool] = contextvars.ContextVar("recsys_routed", default=False)


def keep_choice(key: str, options: list) -> None:
    """A select box whose options change (new search matches, a finished job): when the remembered choice is no
    longer among them, choose the first option by setting it, not popping it, so the browser is told too (popped,
    the browser kept showing the old choice and sent it back, as a label, with the next click)."""
    if options and st.session_state.get(key) not in options:
        st.session_state[key] = options[0]


@contextlib.contextmanager
def routed() -> Iterator[None]:
    """Mark that a page runs under the router (app.py), which set up the session and the model."""
    token = _ROUTED.set(True)
    try:
        yield
    finally:
        _ROUTED.reset(token)


def require_router() -> None:
    """A page file opened directly (legacy /<file-name> URL) gets a link to the app instead of an error."""
    if not _ROUTED.get():
        st.info("This page is part of the Similar-movies explorer; open it from the start page.")
        st.markdown("[Open the explorer](./)")
        st.stop()



def init_session() -> None:
    """Put every canonical key in session state once, with its default."""
    ss = st.session_state
    defaults: dict[str, object] = {
        K.DATASET: DEFAULT_DATASET,
        K.MOVIE: None,
        K.ALPHA: None,
        K.MIN_RATINGS: 0,
        K.GENRES: (),
        K.YEARS: None,
        K.MAX_RATINGS: None,
        K.SELECTION: (),
        K.ONLY_SELECTION: False,
        K.URL_APPLIED: False,
        K.URL_PENDING: None,
        K.NOTICES: ([], None),
        K.PREV_HYBRID: None,
        K.SAVED_VIEWS: [],
        K.TOUR_POS: 0,
        K.CONFIG: {},
        K.LAST_MAP_PICK: {},
        K.TASTE: {},
        K.ALPHA_AUTO: None,
    }
    for key, value in defaults.items():
        if key not in ss:
            ss[key] = value


def only_selection() -> bool:
    """Whether the lists keep only the movies selected on a map (the filter is on and there is a selection)."""
    ss = st.session_state
    return bool(ss.get(K.ONLY_SELECTION)) and bool(ss.get(K.SELECTION))


def current_view() -> View:
    """The canonical view held in session state."""
    ss = st.session_state
    return View(
        dataset=ss[K.DATASET],
        movie_id=ss[K.MOVIE],
        alpha=ss[K.ALPHA],
        min_ratings=int(ss[K.MIN_RATINGS] or 0),
        genres=tuple(ss[K.GENRES] or ()),
        years=ss[K.YEARS],
        max_ratings=ss[K.MAX_RATINGS],
        selection=tuple(ss.get(K.SELECTION) or ()),
        only_selection=only_selection(),
    )


def apply_view(view: View) -> None:
    """Make ``view`` the session's view (call before the widgets of this run are drawn)."""
    ss = st.session_state
    ss[K.DATASET] = view.dataset
    ss[K.MOVIE] = view.movie_id
    ss[K.ALPHA] = view.alpha
    ss[K.ALPHA_AUTO] = None  # a view's own α (None: the model's default, filled in by the sidebar)
    ss[K.MIN_RATINGS] = view.min_ratings
    ss[K.GENRES] = view.genres
    ss[K.YEARS] = view.years
    ss[K.MAX_RATINGS] = view.max_ratings
    ss[K.SELECTION] = view.selection
    ss[K.ONLY_SELECTION] = view.only_selection and bool(view.selection)
    ss[K.PREV_HYBRID] = None
    # Every other widget is re-seeded from the view on each run; the search text is the person's own.
    ss.pop(K.W_SEARCH, None)


def reset_for_dataset(dataset: str) -> None:
    """A new dataset: keep the blend, drop the movie and filters that belong to the old one."""
    apply_view(View(dataset=dataset))


def read_url_once(choices: Iterable[str], default: str) -> None:
    """On a session's first run, take the dataset from the URL and park the rest for validation."""
    ss = st.session_state
    if ss[K.URL_APPLIED]:
        return
    ss[K.URL_APPLIED] = True
    raw = {k: v for k, v in st.query_params.to_dict().items() if k in Q.ALL}
    parsed = parse_dataset(raw, choices, default)
    ss[K.DATASET] = parsed.values["dataset"]
    ss[K.URL_PENDING] = (raw, parsed.notices)


def apply_pending_url(cat: Catalogue) -> None:
    """Validate the parked URL values against the opened dataset and keep the notices."""
    ss = st.session_state
    pending = ss[K.URL_PENDING]
    if pending is None:
        return
    ss[K.URL_PENDING] = None
    raw, notices = pending
    parsed = parse_view(raw, cat, shared_selections.find, ss[K.DATASET])
    view = replace(current_view(), **parsed.values)  # type: ignore[arg-type]
    apply_view(view)
    all_notices = list(notices) + parsed.notices
    ss[K.NOTICES] = (all_notices, None)  # bound to the view once the defaults are filled in


def notices_for(view: View) -> list[str]:
    """URL notices stay visible while the view is still the one the link produced."""
    ss = st.session_state
    notices, bound = ss[K.NOTICES]
    if not notices:
        return []
    if bound is None:
        ss[K.NOTICES] = (notices, view)
        return notices
    return notices if bound == view else []


def write_url(view: View) -> None:
    """Mirror the view into the address bar (page switches drop it, so every run re-writes it); a selection too
    long for it is kept on the server first (once per selection and session), so the link's ``selref`` works."""
    if view.selection and not selection_fits_link(view.selection):
        ss = st.session_state
        sig = (view.dataset, view.selection)
        if ss.get(K.SHARED_SELECTION) != sig and shared_selections.keep(view.dataset, view.selection):
            ss[K.SHARED_SELECTION] = sig  # (not kept, e.g. a read-only cache: tried again next run)
    wanted = view.to_query()
    current = st.query_params.to_dict()
    if current != wanted:
        st.query_params.from_dict(wanted)
