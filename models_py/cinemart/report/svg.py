"""Inline SVG charts for the report: bar, horizontal bar, line/scatter, heatmap.

The report has to open offline and come out byte-identical for the same
warehouse, so charts are plain SVG strings rather than a JavaScript library:
coordinates are rounded to one decimal, every piece of text goes through
`esc`, and styling uses presentation attributes so a chart copied out of the
page looks the same on its own.  Data marks carry class="mark" (the page's
self-check looks for them) and a <title> child, which browsers show as a
tooltip with the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

Format = Callable[[float], str]
Point = tuple[float, float]

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#1f2328"
MUTED = "#59636e"
GRID = "#d8dee4"
ACCENT = "#d1242f"
# Observable's categorical palette: distinguishable, colour-blind friendly.
PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5")
# Viridis stops, light (high values) to dark (low values) in heatmap order.
RAMP = ("#fde725", "#5ec962", "#21918c", "#3b528b", "#440154")

TITLE_SIZE = 17
LABEL_SIZE = 14
TICK_SIZE = 13
CHAR_WIDTH = 0.56  # average glyph width of a sans-serif font, in ems: enough to size margins


def esc(text: object) -> str:
    """Text safe inside an element or a double-quoted attribute (titles carry <, & and quotes)."""
    return escape(str(text), quote=True)


def fmt_number(value: float, decimals: int = 0) -> str:
    """Thousands separators and fixed decimals: 100836 -> '100,836'."""
    return f"{value:,.{decimals}f}"


def fmt_percent(share: float, decimals: int = 1) -> str:
    """A share in [0, 1] as a percentage: 0.01697 -> '1.7%'."""
    return f"{share * 100:,.{decimals}f}%"


def text_width(text: str, size: float) -> float:
    """Rough rendered width, used only to reserve margins and to decide whether a label fits."""
    return len(text) * size * CHAR_WIDTH


def nice_step(span: float, count: int) -> float:
    """The 1-2-5 x 10^k step that cuts `span` into the number of intervals closest to `count`."""
    power = 10.0 ** math.floor(math.log10(span / max(count, 1)))
    return min((m * power for m in (1, 2, 5, 10)), key=lambda step: abs(span / step - count))


def linear_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round-numbered ticks inside [lo, hi]."""
    if hi <= lo:
        return [lo]
    step = nice_step(hi - lo, count)
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [float(f"{i * step:.12g}") for i in range(first, last + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten inside [lo, hi]; with 1-2-5 multiples added when fewer than three powers fit."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    ticks: list[float] = []
    for mantissas in ((1,), (1, 2, 5)):
        ticks = [float(f"{m * 10.0 ** k:.12g}") for k in decades for m in mantissas]
        ticks = [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
        if len(ticks) >= 3:
            break
    return ticks


def nice_domain(lo: float, hi: float, *, log: bool = False, count: int = 5) -> tuple[float, float]:
    """Widen [lo, hi] to tick boundaries (whole decades on a log axis) so the frame ends on a labelled tick."""
    if log:
        lo, hi = 10.0 ** math.floor(math.log10(lo)), 10.0 ** math.ceil(math.log10(hi))
        return (lo, hi * 10) if lo == hi else (lo, hi)
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    for _ in range(8):  # widening can change the step; stop once the ticks of the widened domain hit both ends
        step = nice_step(hi - lo, count)
        widened = (float(f"{math.floor(lo / step + 1e-9) * step:.12g}"),
                   float(f"{math.ceil(hi / step - 1e-9) * step:.12g}"))
        if widened == (lo, hi):
            break
        lo, hi = widened
    return lo, hi


@dataclass(frozen=True)
class LinearScale:
    """Maps the domain [lo, hi] onto pixels [start, end]; end < start gives an upward y axis."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def ticks(self) -> list[float]:
        return linear_ticks(self.lo, self.hi)


@dataclass(frozen=True)
class LogScale:
    """Base-10 logarithmic scale: long tails span decades, which a linear axis flattens into a corner."""

    lo: float
    hi: float
    start: float
    end: float

    def __post_init__(self) -> None:
        if self.lo <= 0:
            raise ValueError(f"a log scale needs a positive domain, got [{self.lo}, {self.hi}]")

    def __call__(self, value: float) -> float:
        a, b = math.log10(self.lo), math.log10(self.hi)
        return self.start + (math.log10(value) - a) / (b - a) * (self.end - self.start)

    def ticks(self) -> list[float]:
        return log_ticks(self.lo, self.hi)


Scale = LinearScale | LogScale


def scale_for(values: Sequence[float], start: float, end: float, *, log: bool = False,
              include_zero: bool = False, pad: float = 0.0) -> Scale:
    """A scale whose nice domain covers `values` (and 0 when asked, as bar lengths need).

    `pad` widens a linear domain by that share of its span on each side first, so
    the extreme points of a line do not sit on the frame.
    """
    lo, hi = min(values), max(values)
    if include_zero and not log:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if not log:
        lo, hi = lo - (hi - lo) * pad, hi + (hi - lo) * pad
    lo, hi = nice_domain(lo, hi, log=log)
    return (LogScale if log else LinearScale)(lo, hi, start, end)


def exact_scale(values: Sequence[float], start: float, end: float, *, pad: float = 0.0) -> LinearScale:
    """A linear scale spanning the data (years 1902-2018, not 1900-2050), widened by `pad` x span each side
    so end dots clear the frame; a single value gets a nice margin."""
    lo, hi = min(values), max(values)
    if lo == hi:
        return LinearScale(*nice_domain(lo, hi), start, end)
    return LinearScale(lo - (hi - lo) * pad, hi + (hi - lo) * pad, start, end)


def tick_format(ticks: Sequence[float]) -> Format:
    """Fewest decimals that show every tick exactly, with thousands separators."""
    decimals = next(d for d in range(7) if d == 6 or all(abs(round(t, d) - t) <= 1e-9 * max(1.0, abs(t))
                                                         for t in ticks))
    return lambda value: fmt_number(value, decimals)


@dataclass(frozen=True)
class Series:
    """One line of a line chart: a name for the legend and (x, y) points in drawing order."""

    name: str
    points: Sequence[Point]


@dataclass(frozen=True)
class Marker:
    """A point to call out on a line chart, e.g. the chosen configuration."""

    x: float
    y: float
    label: str


@dataclass(frozen=True)
class _Frame:
    """Chart size and the margins around its plot area."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:
        return self.top

    @property
    def y1(self) -> float:
        return self.height - self.bottom


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _el(tag: str, content: str | None = None, **attrs: object) -> str:
    """One SVG element; floats are rounded, names_with_underscores become dashed attribute names."""
    rendered = " ".join(
        f'{name.rstrip("_").replace("_", "-")}="{_num(value) if isinstance(value, float) else esc(value)}"'
        for name, value in attrs.items() if value is not None
    )
    return f"<{tag} {rendered}/>" if content is None else f"<{tag} {rendered}>{content}</{tag}>"


def _text(x: float, y: float, text: str, *, size: int = TICK_SIZE, anchor: str = "start", fill: str = INK,
          weight: str | None = None, rotate: bool = False, middle: bool = False) -> str:
    """A label; `middle` centres it vertically on y, `rotate` turns it to read bottom-up (a y-axis title)."""
    return _el("text", esc(text), x=float(x), y=float(y), font_size=size, text_anchor=anchor, fill=fill,
               font_weight=weight, dy="0.35em" if middle else None,
               transform=f"rotate(-90 {_num(x)} {_num(y)})" if rotate else None)


def _tooltip(text: str) -> str:
    return f"<title>{esc(text)}</title>"


def _document(frame: _Frame, title: str, parts: Sequence[str]) -> str:
    """Wrap the parts in an <svg> that scales to its container and names itself for screen readers."""
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_num(frame.width)} {_num(frame.height)}" '
            f'role="img" font-family="{esc(FONT)}">')
    heading = _text(4, 22, title, size=TITLE_SIZE, weight="600")
    return head + _tooltip(title) + heading + "".join(parts) + "</svg>"


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    parts = []
    for name, colour in zip(names, PALETTE):
        parts.append(_el("rect", x=float(x), y=float(y - 6), width=12.0, height=12.0, rx=2.0, fill=colour))
        parts.append(_text(x + 17, y, name, size=LABEL_SIZE, middle=True))
        x += 17 + text_width(name, LABEL_SIZE) + 20
    return parts


def _y_axis(scale: Scale, frame: _Frame, label: str, fmt: Format | None) -> list[str]:
    ticks = scale.ticks()
    fmt = fmt or tick_format(ticks)
    parts = []
    for tick in ticks:
        y = scale(tick)
        parts.append(_el("line", x1=frame.x0, x2=frame.x1, y1=y, y2=y, stroke=GRID))
        parts.append(_text(frame.x0 - 6, y, fmt(tick), anchor="end", fill=MUTED, middle=True))
    parts.append(_text(14, (frame.y0 + frame.y1) / 2, label, size=LABEL_SIZE, anchor="middle", rotate=True))
    return parts


def _x_axis(scale: Scale, frame: _Frame, label: str, fmt: Format | None) -> list[str]:
    ticks = scale.ticks()
    fmt = fmt or tick_format(ticks)
    parts = [_el("line", x1=frame.x0, x2=frame.x1, y1=frame.y1, y2=frame.y1, stroke=MUTED)]
    for tick in ticks:
        x = scale(tick)
        parts.append(_el("line", x1=x, x2=x, y1=frame.y0, y2=frame.y1, stroke=GRID))
        parts.append(_text(x, frame.y1 + 18, fmt(tick), anchor="middle", fill=MUTED))
    parts.append(_text((frame.x0 + frame.x1) / 2, frame.height - 10, label, size=LABEL_SIZE, anchor="middle"))
    return parts


def _y_margin(scale_ticks: Sequence[float], fmt: Format | None) -> float:
    """Left margin wide enough for the longest y tick label plus the rotated axis title."""
    fmt = fmt or tick_format(scale_ticks)
    return 34 + max(text_width(fmt(t), TICK_SIZE) for t in scale_ticks)


def bar_chart(categories: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, x_label: str,
              y_label: str, value_format: Format, width: float = 600, height: float = 340) -> str:
    """Vertical bars from zero, grouped when there is more than one series; values printed where they fit."""
    values = [v for vs in series.values() for v in vs]
    top = 76 if len(series) > 1 else 48
    probe = scale_for(values, 0, 1, include_zero=True)
    frame = _Frame(width, height, _y_margin(probe.ticks(), None), 12, top, 52)
    y = scale_for(values, frame.y1, frame.y0, include_zero=True)
    parts = _y_axis(y, frame, y_label, None)
    band = (frame.x1 - frame.x0) / len(categories)
    bar = band * 0.8 / len(series)
    for i, category in enumerate(categories):
        left = frame.x0 + i * band + band * 0.1
        for j, (name, colour) in enumerate(zip(series, PALETTE)):
            value = series[name][i]
            x, top_y = left + j * bar, y(max(value, 0.0))
            label = value_format(value)
            tip = f"{category}: {label}" if len(series) == 1 else f"{name}, {category}: {label}"
            parts.append(_el("rect", _tooltip(tip), class_="mark", x=x, y=top_y, width=bar - 1,
                             height=abs(y(value) - y(0.0)), fill=colour))
            if text_width(label, TICK_SIZE - 1) <= bar + 2:
                parts.append(_text(x + bar / 2, top_y - 5, label, size=TICK_SIZE - 1, anchor="middle"))
        parts.append(_text(frame.x0 + (i + 0.5) * band, frame.y1 + 18, category, anchor="middle"))
    parts.append(_el("line", x1=frame.x0, x2=frame.x1, y1=y(0.0), y2=y(0.0), stroke=MUTED))
    parts.append(_text((frame.x0 + frame.x1) / 2, frame.height - 10, x_label, size=LABEL_SIZE, anchor="middle"))
    if len(series) > 1:
        parts += _legend(list(series), frame.x0, 48)
    return _document(frame, title, parts)


def hbar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, x_label: str,
               value_format: Format, width: float = 600, bar_height: float = 24,
               x_max: float | None = None) -> str:
    """Horizontal bars from zero, one per label in the given order, each with its value at the end.

    `x_max` fixes the axis end (e.g. 5 stars) so bars compare against the full scale, not the data.
    """
    longest_value = max(text_width(value_format(v), TICK_SIZE) for v in values)
    left = 12 + max(text_width(label, TICK_SIZE) for label in labels)
    frame = _Frame(width, 48 + bar_height * len(labels) + 50, left, 12 + longest_value, 48, 50)
    x = scale_for([*values, *([x_max] if x_max is not None else [])], frame.x0, frame.x1, include_zero=True)
    parts = _x_axis(x, frame, x_label, None)
    for i, (label, value) in enumerate(zip(labels, values)):
        top = frame.y0 + i * bar_height
        text = value_format(value)
        parts.append(_el("rect", _tooltip(f"{label}: {text}"), class_="mark", x=x(0.0), y=top + bar_height * 0.15,
                         width=x(value) - x(0.0), height=bar_height * 0.7, fill=PALETTE[0]))
        parts.append(_text(frame.x0 - 6, top + bar_height / 2, label, anchor="end", middle=True))
        parts.append(_text(x(value) + 4, top + bar_height / 2, text, anchor="start", middle=True, fill=MUTED))
    parts.append(_el("line", x1=x(0.0), x2=x(0.0), y1=frame.y0, y2=frame.y1, stroke=MUTED))
    return _document(frame, title, parts)


def _drop_flat_interior(points: Sequence[Point]) -> list[Point]:
    """Points inside a run of equal y add nothing to a polyline; long tails are mostly such runs."""
    return [p for i, p in enumerate(points)
            if i in (0, len(points) - 1) or not (points[i - 1][1] == p[1] == points[i + 1][1])]


def line_chart(series: Sequence[Series], *, title: str, x_label: str, y_label: str, x_log: bool = False,
               y_log: bool = False, x_format: Format | None = None, y_format: Format | None = None,
               dots: bool = False, y_from_zero: bool = False, marker: Marker | None = None,
               note: str | None = None, width: float = 600, height: float = 340) -> str:
    """Lines (and dots when asked) over linear or log axes.

    A series of a single point is drawn as a dot, never as a line; `note` writes
    a sentence in the plot area, e.g. why there is no curve.
    """
    xs = [p[0] for s in series for p in s.points]
    ys = [p[1] for s in series for p in s.points]
    pad = 0.0 if y_from_zero else 0.05
    probe = scale_for(ys, 0, 1, log=y_log, include_zero=y_from_zero, pad=pad)
    top = 76 if len(series) > 1 else 48
    frame = _Frame(width, height, _y_margin(probe.ticks(), y_format), 24, top, 52)
    x = (scale_for(xs, frame.x0, frame.x1, log=True) if x_log
         else exact_scale(xs, frame.x0, frame.x1, pad=0.04 if dots else 0.0))
    y = scale_for(ys, frame.y1, frame.y0, log=y_log, include_zero=y_from_zero, pad=pad)
    parts = _y_axis(y, frame, y_label, y_format) + _x_axis(x, frame, x_label, x_format)
    for s, colour in zip(series, PALETTE):
        if len(s.points) > 1:
            coords = " ".join(f"{_num(x(px))},{_num(y(py))}" for px, py in _drop_flat_interior(s.points))
            parts.append(_el("polyline", _tooltip(s.name), class_="mark", points=coords, fill="none",
                             stroke=colour, stroke_width=2.0, stroke_linejoin="round"))
        if dots or len(s.points) == 1:
            parts += [_el("circle", _tooltip(f"{s.name}: {px:g}, {py:g}"), class_="mark", cx=x(px), cy=y(py), r=3.5,
                          fill=colour) for px, py in s.points]
    if marker is not None:
        mx, my = x(marker.x), y(marker.y)
        parts.append(_el("circle", _tooltip(marker.label), class_="mark", cx=mx, cy=my, r=7.0, fill="none",
                         stroke=ACCENT, stroke_width=2.5))
        anchor = "end" if mx > (frame.x0 + frame.x1) / 2 else "start"
        parts.append(_text(mx + (-12 if anchor == "end" else 12), my - 12, marker.label, anchor=anchor,
                           fill=ACCENT, weight="600"))
    if note is not None:
        parts.append(_text((frame.x0 + frame.x1) / 2, frame.y0 + 20, note, size=LABEL_SIZE, anchor="middle",
                           fill=MUTED))
    if len(series) > 1:
        parts += _legend([s.name for s in series], frame.x0, 48)
    return _document(frame, title, parts)


def _mix(a: str, b: str, t: float) -> str:
    ca, cb = (tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in (a, b))
    return "#" + "".join(f"{round(u + (v - u) * t):02x}" for u, v in zip(ca, cb))


def ramp_colour(t: float) -> str:
    """Colour at t in [0, 1] along RAMP (0 = light, 1 = dark)."""
    t = min(max(t, 0.0), 1.0) * (len(RAMP) - 1)
    i = min(int(t), len(RAMP) - 2)
    return _mix(RAMP[i], RAMP[i + 1], t - i)


def heatmap(row_labels: Sequence[str], col_labels: Sequence[str], values: Sequence[Sequence[float | None]], *,
            title: str, x_label: str, y_label: str, value_format: Format,
            notes: Sequence[Sequence[str]] | None = None, marked: tuple[int, int] | None = None,
            marked_label: str = "chosen", width: float = 600, cell_height: float = 64) -> str:
    """A grid of cells coloured by value (lower = darker), each printing its value and an optional note.

    `marked` (row, column) gets a thick outline and `marked_label`; missing cells are grey with a dash.
    """
    present = [v for row in values for v in row if v is not None]
    lo, hi = min(present), max(present)
    left = 40 + max(text_width(label, TICK_SIZE) for label in row_labels)
    frame = _Frame(width, 48 + cell_height * len(row_labels) + 96, left, 12, 48, 96)
    cell_width = (frame.x1 - frame.x0) / len(col_labels)
    parts = []
    for r, row_label in enumerate(row_labels):
        top = frame.y0 + r * cell_height
        parts.append(_text(frame.x0 - 8, top + cell_height / 2, row_label, anchor="end", middle=True))
        for c, value in enumerate(values[r]):
            x = frame.x0 + c * cell_width
            darkness = 1.0 if hi == lo or value is None else (hi - value) / (hi - lo)
            fill = "#eaeef2" if value is None else ramp_colour(darkness)
            text = "—" if value is None else value_format(value)
            ink = "#ffffff" if value is not None and darkness > 0.55 else INK
            tip = f"{y_label} {row_label}, {x_label} {col_labels[c]}: {text}"
            parts.append(_el("rect", _tooltip(tip), class_="mark", x=x + 1, y=top + 1, width=cell_width - 2,
                             height=cell_height - 2, fill=fill))
            lines = [text, *([notes[r][c]] if notes and value is not None else []),
                     *([marked_label] if marked == (r, c) else [])]
            first = top + cell_height / 2 - (len(lines) - 1) * 8
            for k, line in enumerate(lines):
                parts.append(_text(x + cell_width / 2, first + 16 * k, line, size=TICK_SIZE + (2 if k == 0 else 0),
                                   anchor="middle", fill=ink, weight="600" if k == 0 else None, middle=True))
    if marked is not None:
        r, c = marked
        parts.append(_el("rect", x=frame.x0 + c * cell_width + 2, y=frame.y0 + r * cell_height + 2,
                         width=cell_width - 4, height=cell_height - 4, fill="none", stroke=ACCENT,
                         stroke_width=4.0))
    for c, col_label in enumerate(col_labels):
        parts.append(_text(frame.x0 + (c + 0.5) * cell_width, frame.y1 + 18, col_label, anchor="middle"))
    parts.append(_text((frame.x0 + frame.x1) / 2, frame.y1 + 42, x_label, size=LABEL_SIZE, anchor="middle"))
    parts.append(_text(14, (frame.y0 + frame.y1) / 2, y_label, size=LABEL_SIZE, anchor="middle", rotate=True))
    parts += _colour_key(lo, hi, value_format, frame)
    return _document(frame, title, parts)


def _colour_key(lo: float, hi: float, fmt: Format, frame: _Frame) -> list[str]:
    """A strip of ramp swatches from the highest value (light) to the lowest (dark), ends labelled."""
    steps, key_width, y = 24, min(240.0, frame.x1 - frame.x0), frame.height - 40
    x0 = frame.x1 - key_width
    parts = [_el("rect", x=x0 + i * key_width / steps, y=y, width=key_width / steps + 0.5, height=10.0,
                 fill=ramp_colour(i / (steps - 1))) for i in range(steps)]
    parts.append(_text(x0, y + 26, fmt(hi), fill=MUTED))
    parts.append(_text(frame.x1, y + 26, fmt(lo), anchor="end", fill=MUTED))
    return parts
