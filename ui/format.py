"""Pure, Streamlit-free text for the pages: the one escaping module, labels, alpha stops, progress lines.

Titles, genres, tags, dataset names and error messages come from data a visitor may not control, so
everything that reaches markdown, plotly (which renders a subset of HTML, links included) or HTML
goes through ``md_text``, ``plot_text`` or ``html.escape`` here, and messages lose server paths.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

ALPHA_STEP = 0.05  # the blend slider's step

# --- escaping -------------------------------------------------------------------------------------

_MD_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$&:=^\"'])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_JOIN = "\u200d"  # zero-width joiner: invisible, but no autolinker sees a scheme, "www." or an address
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|xmpp|file|javascript|data)(?=:)|(www)(?=\.)|(@)")


# A title written inline (the picked movie's line, Your taste's rows): the longest real MovieLens titles are about
# 90 characters; a longer one (a hostile or broken file) would otherwise fill a column line after line.
TITLE_CHARS = 100


def printable(text: object, limit: int | None = None) -> str:
    """One line of printable text (control characters and newlines become a space), shortened to ``limit``."""
    out = _CONTROL.sub(" ", str(text))
    if not out.isprintable():  # (almost every title is: skip the per-character pass, run for every map point)
        out = "".join(ch if ch.isprintable() else " " for ch in out)
    return short(out, limit) if limit else out


def short(text: object, n: int = 28) -> str:
    """Shorten to ``n`` characters with an ellipsis (before escaping, so no entity is cut in half)."""
    text = str(text)
    return text if len(text) <= n else text[: max(1, n - 1)] + "…"


def _break_links(text: str) -> str:
    """Put a zero-width joiner inside URL schemes, "www." and "@" so markdown never autolinks them."""
    return _AUTOLINK.sub(lambda m: (m.group(1) or m.group(2) or "") + _JOIN + (m.group(3) or ""), text)


def md_text(text: object, limit: int | None = None) -> str:
    """Data text as literal markdown: one line, every markdown/HTML/LaTeX special escaped, no autolinks."""
    return _MD_SPECIALS.sub(r"\\\1", _break_links(printable(text, limit)))


def plot_text(text: object, limit: int | None = None) -> str:
    """Data text for plotly labels, hover, legends and ticks: <, > and & as entities (no tags, no links)."""
    return html.escape(printable(text, limit), quote=False)


def html_text(text: object, limit: int | None = None) -> str:
    """Data text for HTML text or an attribute (the scatter's tooltips): every special as a numeric entity."""
    return "".join(f"&#{ord(c)};" if c in _HTML_SPECIALS else c for c in _break_links(printable(text, limit)))


_HTML_SPECIALS = set("<>&\"'\\`*_{}[]()#+-.!|~$:=^")


def plot_texts(values: Iterable[object], limit: int | None = None) -> list[str]:
    """``plot_text`` over a column."""
    return [plot_text(v, limit) for v in values]


# Absolute paths (POSIX, ~ or a Windows drive), not the "//host/path" of a URL.
_SEG = r"[^\s'\"<>|;,:()\[\]{}/\\]+"
_PATH = re.compile(rf"(?<![\w:/.~\\<])(?:~|[A-Za-z]:)?(?:[/\\]{_SEG}){{2,}}[/\\]?")


def _path_tail(match: re.Match[str]) -> str:
    """Keep the last two parts of a path (usually the dataset folder and the file), drop the server's part."""
    parts = [p for p in re.split(r"[/\\]+", match.group(0)) if p and p != "~" and not re.fullmatch(r"[A-Za-z]:", p)]
    if not parts:
        return "the data folder"
    return "/".join(parts[-2:])


def public_message(text: object, limit: int = 400) -> str:
    """A message safe to show a visitor: server paths cut to dataset/file, one printable line, shortened."""
    return printable(_PATH.sub(_path_tail, str(text)), limit)


def error_markdown(exc: BaseException, limit: int = 400) -> str:
    """An engine error as escaped markdown without server paths."""
    return md_text(public_message(exc, limit))


# --- movies ---------------------------------------------------------------------------------------


def movie_labels(titles: Sequence[object], years: Sequence[object]) -> list[str]:
    """Title (year) for each row; the year left out when unknown."""
    out = []
    for t, y in zip(titles, years, strict=True):
        try:
            ok = y is not None and not (isinstance(y, float) and math.isnan(y))
            out.append(f"{t} ({int(y)})" if ok else str(t))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            out.append(str(t))
    return out


def genres_text(genres: object, sep: str = ", ") -> str:
    """A movie's genres (a list or an already joined string) as one string."""
    return genres if isinstance(genres, str) else sep.join(str(g) for g in genres)  # type: ignore[union-attr]


def slug(text: str) -> str:
    """A file-name-safe version of a title."""
    out = "".join(c.lower() if c.isalnum() else "-" for c in str(text))
    return "-".join(p for p in out.split("-") if p)[:60] or "movie"


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


# --- alpha ------------------------------------------------------------------------------------------


def format_alpha(alpha: float) -> str:
    """Two decimals: enough for the slider's 0.05 steps and tuned values, short in a URL."""
    return f"{alpha:.2f}"


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


def map_alpha_note(alpha: float, map_alpha: float, step: float) -> str:
    """Say plainly which α a blended map shows when the slider sits between two stored maps."""
    if round(alpha, 2) == round(map_alpha, 2):
        return f"This map is drawn at α = {format_alpha(map_alpha)}, the slider's value."
    return (f"Blended maps are stored every {step:g} of α, so this map is drawn at α = {format_alpha(map_alpha)}, "
            f"the stored step nearest the slider's α = {format_alpha(alpha)}; the lists and the highlighted "
            f"neighbours use α = {format_alpha(alpha)}.")


# --- progress and metrics ---------------------------------------------------------------------------


def progress_text(ev: Any) -> tuple[float, str]:
    """Turn a facade Progress event into a bar fraction and one line of plain text (escape it where markdown reads it)."""
    stage = str(getattr(ev, "stage", "") or "working")
    epoch = getattr(ev, "epoch", None)
    epochs = getattr(ev, "epochs", None)
    frac = 0.0
    parts = [stage.replace("_", " ").capitalize()]
    if epoch is not None and epochs:
        frac = max(0.0, min(1.0, float(epoch) / float(epochs)))
        if epochs > 1:  # a one-step stage (a UMAP map) has a bar, but "epoch 0/1" tells nobody anything
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
        parts.append(public_message(msg, 200))
    return frac, " · ".join(parts)


METRIC_LABELS = {
    "recall": ("Recall@{k}", "Share of a user's held-out liked movies found from their other liked movies. "
               "Higher is better."),
    "ndcg": ("NDCG@{k}", "Like recall, but hits near the top count more. Higher is better."),
    "cold_recall": ("Cold-start recall@{k}", "Recall on movies with few training ratings. Higher is better."),
    "genre_coherence": ("Genre coherence", "Mean genre overlap (Jaccard) of a movie and its neighbours. "
                        "Higher = more same-genre."),
    "popularity": ("Popularity of listed movies", "Mean log10 number of ratings of what is listed. "
                   "Lower = less blockbuster bias."),
    "coverage": ("Catalogue coverage", "Share of the catalogue that appears in someone's list. "
                 "Higher = more variety."),
}
BASELINE_LABELS = {"popularity": "Most popular", "itemknn": "Item kNN", "ease": "EASE",
                   "rating_vectors": "Rating-model vectors"}


def metric_base(name: str) -> str:
    """'recall@20' -> 'recall'."""
    return name.split("@", 1)[0]


def metric_label(name: str, k: int) -> str:
    """Human label of a metric key."""
    label = METRIC_LABELS.get(metric_base(name), (name, ""))[0]
    return label.format(k=k)


def metric_help(name: str) -> str:
    """One sentence on what a metric means and which way is better."""
    return METRIC_LABELS.get(metric_base(name), ("", ""))[1]


def metrics_note(v: dict[str, Any]) -> str:
    """How to read the per-metric charts, and a warning when the blend looks miscalibrated."""
    text = ("Solid: the blend across α. Dotted: the pure content and collaborative lists. Dashed: the baselines. "
            "The green line is this model's default α, the dotted teal one the slider's.")
    metric = v["best_metric"]
    h = v["hybrid"]
    best = float(h[metric].max()) if metric in h.columns and len(h) else float("nan")
    coll = v["collab"].get(metric)
    if coll is not None and not math.isnan(best) and coll > best * 1.5:
        text += (f"\n\n⚠️ The collaborative list alone scores {coll:.3f}, far above any blend: this artifact's "
                 "blend looks miscalibrated; retrain or report it.")
    return text


# --- a light HTML scatter for the landing page -------------------------------------------------------

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


# The scatter's look, scoped to its own class; positions are percentages of the plot area, so it scales with the page.
_SCATTER_CSS = (
    "<style>"
    ".rs-bs{max-width:560px;font:11px sans-serif;color:#616E7C}"
    ".rs-bs .hd{font-size:13px;font-weight:600;color:#1F2933;margin:4px 0 10px 56px}"
    ".rs-bs .pl{position:relative;height:226px;margin:0 16px 44px 56px}"
    ".rs-bs .gx,.rs-bs .gy{position:absolute;border:0 solid #E4E7EB}"
    ".rs-bs .gx{top:0;bottom:0;border-left-width:1px}.rs-bs .gy{left:0;right:0;border-top-width:1px}"
    ".rs-bs .tx,.rs-bs .ty{position:absolute;white-space:nowrap}"
    ".rs-bs .tx{top:100%;transform:translate(-50%,4px)}.rs-bs .ty{right:100%;transform:translate(-6px,-50%)}"
    ".rs-bs .xl,.rs-bs .yl{position:absolute;color:#3E4C59;white-space:nowrap}"
    ".rs-bs .xl{left:0;right:0;top:100%;margin-top:24px;text-align:center}"
    ".rs-bs .yl{left:-42px;top:50%;transform:translate(-50%,-50%) rotate(-90deg)}"
    ".rs-bs .d{position:absolute;width:18px;height:18px;margin:-10px 0 0 -10px;border:1px solid #fff;"
    "border-radius:50%;font:600 9px/18px sans-serif;text-align:center;cursor:default}"
    ".rs-bs .d:hover{outline:2px solid #1F2933;z-index:1}"
    "</style>"
)


def blend_scatter_html(hybrid: Any, alpha: float) -> str:
    """The blended picks by content (x) and collaborative (y) similarity, as plain HTML for ``st.html``.

    No charting library, no SVG through markdown (parsing one took 0.3 s of every page load): positioned
    elements a browser lays out at once. Each dot shows its rank, with its title and both scores (escaped)
    as a native tooltip.
    """
    import numpy as np

    x = hybrid["content_score"].astype(float).to_numpy()
    y = hybrid["collab_score"].astype(float).to_numpy()
    s = hybrid["score"].astype(float).to_numpy()
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return ""
    pad_x = (x[ok].max() - x[ok].min()) * 0.08 or 0.02
    pad_y = (y[ok].max() - y[ok].min()) * 0.08 or 0.02
    x0, x1 = x[ok].min() - pad_x, x[ok].max() + pad_x
    y0, y1 = y[ok].min() - pad_y, y[ok].max() + pad_y

    def left(v: float) -> str:
        return f"{(v - x0) / (x1 - x0) * 100:.2f}%"

    def top(v: float) -> str:
        return f"{100 - (v - y0) / (y1 - y0) * 100:.2f}%"

    parts = [_SCATTER_CSS, '<div class="rs-bs" role="img" '
             'aria-label="Blended picks by content and collaborative similarity">',
             f'<div class="hd">Blended picks at α = {format_alpha(alpha)} (numbers are ranks)</div><div class="pl">']
    parts += [f'<i class="gx" style="left:{left(t)}"></i><span class="tx" style="left:{left(t)}">{t:g}</span>'
              for t in _ticks(x0, x1)]
    parts += [f'<i class="gy" style="top:{top(t)}"></i><span class="ty" style="top:{top(t)}">{t:g}</span>'
              for t in _ticks(y0, y1)]
    parts.append('<span class="xl">Content similarity →</span><span class="yl">Collaborative similarity →</span>')
    lo, hi = float(np.nanmin(s)), float(np.nanmax(s))
    labels = movie_labels(list(hybrid["title"]), list(hybrid["year"]))
    ranks = np.asarray(hybrid["rank"], dtype=float)
    for i in np.argsort(-ranks):  # rank 1 drawn last, on top
        if not ok[i]:
            continue
        t = (s[i] - lo) / (hi - lo) if hi > lo else 1.0
        tip = html_text(f"#{int(ranks[i])} {labels[i]} · content {x[i]:.3f} · collab {y[i]:.3f} · blend {s[i]:.3f}")
        parts.append(f'<span class="d" title="{tip}" style="left:{left(x[i])};top:{top(y[i])};'
                     f'background:{_viridis(t)};color:{"#1F2933" if t > 0.6 else "#fff"}">{int(ranks[i])}</span>')
    parts.append("</div></div>")
    return "".join(parts)
