"""Where labels go on a map at its default zoom: greedy placement that never lets two labels overlap.

Pure (no Streamlit, no plotly): labels are boxes estimated from their text length and font size in pixels.
The selected movie's and its first neighbours' titles are placed first, each beside its point (a line joins
them); then the regions' labels, biggest region first, each at its centre or one of four nudges, clear of
everything placed. A label that fits nowhere is left out rather than drawn over another one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CHAR_W = 0.62  # average glyph width as a share of the font size (plotly's default sans-serif)
LINE_H = 1.5  # box height as a share of the font size, with the annotation's padding
PAD_PX = 4.0


@dataclass(frozen=True)
class Placed:
    """A label that fits: its anchor in data coordinates and its estimated box in pixels."""

    text: str
    x: float
    y: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels (y up)
    size: int


def text_box(text: str, font_px: float) -> tuple[float, float]:
    """Estimated (width, height) in pixels of a one-line label."""
    return len(text) * font_px * CHAR_W + 2 * PAD_PX, font_px * LINE_H


def overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Whether two pixel boxes intersect."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


Box = tuple[float, float, float, float]


def place_labels(items: Sequence[tuple[str, float, float, int]], x_range: tuple[float, float],
                 y_range: tuple[float, float], width_px: float, height_px: float,
                 font_px: float = 11.0, taken: Sequence[Box] = ()) -> list[Placed]:
    """Place (text, x, y, size) labels biggest first, each inside the plot and clear of every placed one (and of
    the ``taken`` pixel boxes: the point labels drawn first)."""
    (x0, x1), (y0, y1) = x_range, y_range
    sx = width_px / max(x1 - x0, 1e-12)
    sy = height_px / max(y1 - y0, 1e-12)
    placed: list[Placed] = []
    for text, x, y, size in sorted(items, key=lambda it: -it[3]):
        w, h = text_box(text, font_px)
        px, py = (x - x0) * sx, (y - y0) * sy
        for dx, dy in ((0, 0), (0, h), (0, -h), (w * 0.6, 0), (-w * 0.6, 0), (0, 2 * h), (0, -2 * h)):
            cx, cy = px + dx, py + dy
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            if box[0] < 0 or box[1] < 0 or box[2] > width_px or box[3] > height_px:
                continue
            if any(overlaps(box, p.box) for p in placed) or any(overlaps(box, t) for t in taken):
                continue
            placed.append(Placed(text, x0 + cx / sx, y0 + cy / sy, box, size))
            break
    return placed


@dataclass(frozen=True)
class PointLabel:
    """A label of one point: the point in data coordinates, the label's offset from it and its box in pixels."""

    text: str
    order: int  # its place in the items given (0: the first, e.g. the selected movie)
    x: float
    y: float
    dx: float  # pixels right of the point
    dy: float  # pixels above the point
    box: Box


def place_point_labels(items: Sequence[tuple[str, float, float]], x_range: tuple[float, float],
                       y_range: tuple[float, float], width_px: float, height_px: float, font_px: float = 10.0,
                       marker_px: float = 16.0) -> list[PointLabel]:
    """Place (text, x, y) labels of single points in the order given: beside the point (above, below, either side,
    the corners, then further out), inside the plot, clear of the other labels and of the first point's marker.

    Neighbours of a movie sit close together on a map, so their labels drawn at the points pile up unreadably;
    here each label moves to the nearest free spot (a line joins it to its point) or is left out."""
    (x0, x1), (y0, y1) = x_range, y_range
    sx = width_px / max(x1 - x0, 1e-12)
    sy = height_px / max(y1 - y0, 1e-12)
    placed: list[PointLabel] = []
    taken: list[Box] = []
    if items:
        px, py = (items[0][1] - x0) * sx, (items[0][2] - y0) * sy
        taken.append((px - marker_px / 2, py - marker_px / 2, px + marker_px / 2, py + marker_px / 2))
    for order, (text, x, y) in enumerate(items):
        w, h = text_box(text, font_px)
        px, py = (x - x0) * sx, (y - y0) * sy
        v, side = h / 2 + 6, w / 2 + 8
        for dx, dy in ((0, v), (0, -v), (side, 0), (-side, 0), (side, v), (-side, v), (side, -v), (-side, -v),
                       (0, v + h), (0, -v - h), (side, v + h), (-side, v + h), (side, -v - h), (-side, -v - h),
                       (0, v + 2 * h), (0, -v - 2 * h)):
            cx, cy = px + dx, py + dy
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            if box[0] < 0 or box[1] < 0 or box[2] > width_px or box[3] > height_px:
                continue
            if any(overlaps(box, t) for t in taken):
                continue
            placed.append(PointLabel(text, order, x, y, dx, dy, box))
            taken.append(box)
            break
    return placed


def padded_range(values: Sequence[float], pad: float = 0.04) -> tuple[float, float]:
    """The axis range plotly shows by default for a scatter (data range plus a small margin)."""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return lo - pad * span, hi + pad * span
