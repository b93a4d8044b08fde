"""A `charts.Chart` drawn as SVG, for the postmortem page: text a browser draws, sharp at any
size, in a few milliseconds and without any plotting library.

Each layer is one SVG element (all its markers or bars in one path), and what falls on the
same half pixel is drawn once: a picture's size is bounded by its area, not by the segments
kept (`--keep all` on a large capture stays a page a browser opens).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape

from pcapmtu.charts import (
    COLOURS,
    DASH_DOT,
    DASHED,
    DOTTED,
    LONG_DASH,
    Band,
    Bars,
    Boxes,
    Chart,
    Layer,
    Points,
    Rule,
    Stairs,
    Steps,
)

WIDTH, HEIGHT = 900, 450  # pixels, as the notebooks' pictures (9 x 4.5 inches at 100 dpi)
LEFT, TOP, BOTTOM = 72, 30, 48  # room for the y ticks and label, the heading, the x ticks
LEGEND_GAP = 12
# A character's width at 11 px in DejaVu Sans (Linux's usual sans-serif, and among the widest),
# measured, for the legend's room: narrow, middling and wide letters, digits, capitals, others
NARROW, MIDDLING, WIDE = set("ijl.,:;'|!"), set("tfr()[]-"), set("mwMW")
ROOM = 1.06  # for fonts a little wider still
MOST_LEGEND_PX = 320
TICKS = 6  # about as many ticks as this on each axis, or a few more
MARGIN = 0.05  # of the data's span on each side, where the chart gives no range
PT_PX = 100 / 72  # a point in pixels at 100 dpi: marker sizes are matplotlib's
STEP_WIDTH = 1.6  # the cumulative ACK's line
DASHES = {DOTTED: "1.5 2.5", DASHED: "5 3", DASH_DOT: "6 2.5 1.5 2.5", LONG_DASH: "8 4"}


def svg(chart: Chart) -> str:
    """The chart as one `<svg>` element, to be placed in an HTML page."""
    labels = [layer.label for layer in chart.layers if layer.label]
    legend_px = min(MOST_LEGEND_PX, 36 + max((text_px(t) for t in labels), default=0))
    right = WIDTH - (legend_px + LEGEND_GAP if labels else 16)
    box = (LEFT, TOP, right, HEIGHT - BOTTOM)
    x0, x1 = chart.x_range or _span(_xs(chart.layers))
    y0, y1 = chart.y_range or _span(_ys(chart.layers))
    scale = _Scale(box, (x0, x1), (y0, y1))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(chart.heading)}" '
        'style="max-width:100%;height:auto" font-family="system-ui, sans-serif">',
        f"<title>{escape(chart.heading or chart.title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
    ]
    out += _grid_and_ticks(chart, scale)
    # the plot's area: what lies outside it is cut off, as matplotlib's axes do
    out.append(
        f'<svg x="{box[0]}" y="{box[1]}" width="{box[2] - box[0]}" height="{box[3] - box[1]}" '
        f'viewBox="{box[0]} {box[1]} {box[2] - box[0]} {box[3] - box[1]}" overflow="hidden">'
    )
    out += [_layer(layer, scale) for layer in chart.layers]
    out.append("</svg>")
    out.append(
        f'<rect x="{box[0]}" y="{box[1]}" width="{box[2] - box[0]}" height="{box[3] - box[1]}" '
        'fill="none" stroke="#222" stroke-width="0.8"/>'
    )
    out += _words(chart, box)
    if labels:
        out += _legend(chart.layers, box[2] + LEGEND_GAP, box[1], legend_px)
    out.append("</svg>")
    return "\n".join(part for part in out if part)


class _Scale:
    """Data to pixels, y growing upwards."""

    def __init__(
        self,
        box: tuple[float, float, float, float],
        xs: tuple[float, float],
        ys: tuple[float, float],
    ) -> None:
        self.box, self.xs, self.ys = box, xs, ys
        self._xk = (box[2] - box[0]) / ((xs[1] - xs[0]) or 1.0)
        self._yk = (box[3] - box[1]) / ((ys[1] - ys[0]) or 1.0)

    def x(self, value: float) -> float:
        if not math.isfinite(value):
            return math.nan  # unknown: not drawn (`_once`)
        return round((self.box[0] + (value - self.xs[0]) * self._xk) * 2) / 2

    def y(self, value: float) -> float:
        if not math.isfinite(value):
            return math.nan
        return round((self.box[3] - (value - self.ys[0]) * self._yk) * 2) / 2


def _xs(layers: Sequence[Layer]) -> Iterable[float]:
    for layer in layers:
        if isinstance(layer, Points | Bars | Steps):
            yield from layer.x
        elif isinstance(layer, Boxes):
            for x0, x1, _, _ in layer.boxes:
                yield from (x0, x1)
        elif isinstance(layer, Stairs):
            yield from layer.edges
        elif isinstance(layer, Rule | Band) and not layer.across:
            yield from ((layer.value,) if isinstance(layer, Rule) else (layer.low, layer.high))


def _ys(layers: Sequence[Layer]) -> Iterable[float]:
    for layer in layers:
        if isinstance(layer, Points | Steps):
            yield from layer.y
        elif isinstance(layer, Bars | Stairs):
            yield from layer.low
            yield from layer.high
        elif isinstance(layer, Boxes):
            for _, _, y0, y1 in layer.boxes:
                yield from (y0, y1)
        elif isinstance(layer, Rule | Band) and layer.across:
            yield from ((layer.value,) if isinstance(layer, Rule) else (layer.low, layer.high))


def _span(values: Iterable[float]) -> tuple[float, float]:
    """The data's range with a margin on each side; (0, 1) when there is none."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if low == high:
        return low - 0.5, high + 0.5
    pad = (high - low) * MARGIN
    return low - pad, high + pad


def ticks(low: float, high: float, about: int = TICKS) -> list[float]:
    """Round values from `low` to `high`, `about` of them or a few more, a step of 1, 2, 2.5
    or 5 times a power of ten apart."""
    if not high > low:
        return [low]
    raw = (high - low) / about
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if (high - low) / (m * power) <= about + 2)
    first = math.ceil(low / step - 1e-9)
    return [round(i * step, 12) for i in range(first, math.floor(high / step + 1e-9) + 1)]


def text_px(text: str) -> float:
    """About how wide `text` is drawn at 11 px, a little more rather than less."""
    return ROOM * sum(_char_px(c) for c in text)


def _char_px(c: str) -> float:
    if c in NARROW:
        return 3.4
    if c in MIDDLING:
        return 4.4
    if c in WIDE:
        return 10.0
    if c == " ":
        return 3.5
    return 7.0 if c.isdigit() or c.isupper() else 6.8


def tick_text(value: float, step: float) -> str:
    """A tick's words: as many decimals as the step needs (every tick the same), thousands
    apart by a thin space."""
    if float(step).is_integer():
        return f"{round(value):,}".replace(",", "\u2009")
    decimals = max(0, -math.floor(math.log10(step)))
    while round(step, decimals) != step and decimals < 9:
        decimals += 1
    return f"{value:.{decimals}f}"


def _grid_and_ticks(chart: Chart, scale: _Scale) -> list[str]:
    left, top, right, bottom = scale.box
    parts = []
    xt = ticks(*scale.xs)
    yt = ticks(*scale.ys)
    if chart.integer_y:
        yt = [v for v in yt if float(v).is_integer()] or [0.0]
    xstep = round(xt[1] - xt[0], 12) if len(xt) > 1 else 1.0
    ystep = round(yt[1] - yt[0], 12) if len(yt) > 1 else 1.0
    grid = []
    for v in xt:
        x = scale.x(v)
        if chart.grid_x:
            grid.append(f"M{x} {top}V{bottom}")
        parts.append(
            f'<text x="{x}" y="{bottom + 15}" font-size="11" text-anchor="middle">'
            f"{tick_text(v, xstep)}</text>"
        )
        parts.append(f'<path d="M{x} {bottom}v4" stroke="#222" stroke-width="0.8"/>')
    for v in yt:
        y = scale.y(v)
        grid.append(f"M{left} {y}H{right}")
        parts.append(
            f'<text x="{left - 6}" y="{y + 4}" font-size="11" text-anchor="end">'
            f"{tick_text(v, ystep)}</text>"
        )
        parts.append(f'<path d="M{left} {y}h-4" stroke="#222" stroke-width="0.8"/>')
    if grid:
        parts.insert(
            0,
            f'<path d="{"".join(grid)}" stroke="#b0b0b0" stroke-opacity="0.5" stroke-width="0.8"/>',
        )
    return parts


def _words(chart: Chart, box: tuple[float, float, float, float]) -> list[str]:
    left, top, right, bottom = box
    middle_x, middle_y = (left + right) / 2, (top + bottom) / 2
    return [
        f'<text x="{middle_x}" y="{top - 10}" font-size="13" text-anchor="middle">'
        f"{escape(chart.heading)}</text>",
        f'<text x="{middle_x}" y="{HEIGHT - 10}" font-size="12" text-anchor="middle">'
        f"{escape(chart.x_label)}</text>",
        f'<text transform="translate(16 {middle_y}) rotate(-90)" font-size="12" '
        f'text-anchor="middle">{escape(chart.y_label)}</text>',
    ]


def _colour(name: str) -> str:
    return COLOURS.get(name, name)


def _radius(size: float) -> float:
    return round(math.sqrt(size) / 2 * PT_PX, 2)


def _marker(marker: str, x: float, y: float, r: float) -> str:
    """One marker's path, centred on (x, y), `r` its radius."""
    if marker == "o" or marker == ".":
        r = r if marker == "o" else r * 0.6
        return f"M{x - r} {y}a{r} {r} 0 1 0 {2 * r} 0a{r} {r} 0 1 0 {-2 * r} 0"
    if marker == "^":
        return f"M{x} {y - r}l{r} {1.7 * r}h{-2 * r}z"
    if marker == "v":
        return f"M{x} {y + r}l{r} {-1.7 * r}h{-2 * r}z"
    if marker == "D":
        return f"M{x} {y - r}l{r} {r}l{-r} {r}l{-r} {-r}z"
    # "X": a cross, drawn as a stroke
    return f"M{x - r} {y - r}l{2 * r} {2 * r}m0 {-2 * r}l{-2 * r} {2 * r}"


def _marker_paint(layer: Points, r: float) -> str:
    """How a layer's markers are painted: a cross as a stroke, hollow ones outlined, the
    others filled."""
    colour = _colour(layer.colour)
    if layer.marker == "X":
        return f'fill="none" stroke="{colour}" stroke-width="{round(r * 0.8, 2)}"'
    if layer.hollow:
        return f'fill="none" stroke="{colour}" stroke-width="1.2"'
    return f'fill="{colour}"'


def _once(pairs: Iterable[tuple[float, ...]]) -> Iterable[tuple[float, ...]]:
    """Each pixel position once, in the order first seen."""
    seen: set[tuple[float, ...]] = set()
    for pair in pairs:
        if pair not in seen and all(math.isfinite(v) for v in pair):
            seen.add(pair)
            yield pair


def _points(layer: Points, scale: _Scale) -> str:
    r = _radius(layer.size)
    at = _once((scale.x(x), scale.y(y)) for x, y in zip(layer.x, layer.y, strict=True))
    d = "".join(_marker(layer.marker, x, y, r) for x, y in at)
    return f'<path d="{d}" {_marker_paint(layer, r)}/>' if d else ""


def _layer(layer: Layer, scale: _Scale) -> str:
    left, top, right, bottom = scale.box
    if isinstance(layer, Points):
        return _points(layer, scale)
    if isinstance(layer, Bars):
        at = list(
            _once(
                (scale.x(x), scale.y(lo), scale.y(hi))
                for x, lo, hi in zip(layer.x, layer.low, layer.high, strict=True)
            )
        )
        d = "".join(f"M{x} {lo}V{hi}" for x, lo, hi in at)
        if layer.caps:
            d += "".join(f"M{x - 3} {hi}h6" for x, _, hi in at)
        return (
            f'<path d="{d}" stroke="{_colour(layer.colour)}" stroke-width="{layer.width}" '
            f'stroke-opacity="{layer.alpha}" fill="none"/>'
            if d
            else ""
        )
    if isinstance(layer, Steps):
        d, last_y = "", None
        for x, y in _once((scale.x(x), scale.y(y)) for x, y in zip(layer.x, layer.y, strict=True)):
            d += f"M{x} {y}" if last_y is None else (f"H{x}" if y == last_y else f"H{x}V{y}")
            last_y = y
        return (
            f'<path d="{d}" stroke="{_colour(layer.colour)}" stroke-width="{STEP_WIDTH}" '
            'fill="none"/>'
            if d
            else ""
        )
    if isinstance(layer, Boxes):
        boxes = _once(
            (scale.x(x0), scale.x(x1), scale.y(y0), scale.y(y1)) for x0, x1, y0, y1 in layer.boxes
        )
        d = "".join(f"M{x0} {y0}H{x1}V{y1}H{x0}z" for x0, x1, y0, y1 in boxes)
        colour = _colour(layer.colour)
        return (
            f'<path d="{d}" fill="{colour}" fill-opacity="{layer.alpha}" stroke="{colour}" '
            f'stroke-opacity="{layer.alpha}" stroke-width="2"/>'
            if d
            else ""
        )
    if isinstance(layer, Stairs):
        edges = [scale.x(e) for e in layer.edges]
        d = f"M{edges[0]} {scale.y(layer.low[0])}"
        for i, high in enumerate(layer.high):
            d += f"V{scale.y(high)}H{edges[i + 1]}"
        for i in range(len(layer.low) - 1, -1, -1):
            d += f"V{scale.y(layer.low[i])}H{edges[i]}"
        return f'<path d="{d}z" fill="{_colour(layer.colour)}"/>'
    if isinstance(layer, Band):
        if layer.across:
            y0, y1 = sorted((scale.y(layer.low), scale.y(layer.high)))
            where = f'x="{left}" y="{y0}" width="{right - left}" height="{y1 - y0}"'
        else:
            x0, x1 = sorted((scale.x(layer.low), scale.x(layer.high)))
            where = f'x="{x0}" y="{top}" width="{x1 - x0}" height="{bottom - top}"'
        return f'<rect {where} fill="{_colour(layer.colour)}" fill-opacity="{layer.alpha}"/>'
    # a Rule
    d = (
        f"M{left} {scale.y(layer.value)}H{right}"
        if layer.across
        else (f"M{scale.x(layer.value)} {top}V{bottom}")
    )
    return f'<path d="{d}" {_line_style(layer.colour, layer.style, layer.width)}/>'


def _line_style(colour: str, style: str, width: float) -> str:
    dash = DASHES.get(style)
    return f'stroke="{_colour(colour)}" stroke-width="{width}" fill="none"' + (
        f' stroke-dasharray="{dash}"' if dash else ""
    )


def _legend(layers: Sequence[Layer], left: float, top: float, width: float) -> list[str]:
    """Each labelled layer's sample and words, to the right of the plot, so none hides a
    point; words too long for the room are cut, with the whole in a tooltip."""
    items = [layer for layer in layers if layer.label]
    height = 10 + 17 * len(items)
    parts = [
        f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="white" '
        'fill-opacity="0.9" stroke="#ccc" stroke-width="0.8" rx="3"/>'
    ]
    for i, layer in enumerate(items):
        y = top + 14 + 17 * i
        x = left + 8
        parts.append(_sample(layer, x, y))
        words = layer.label or ""
        shown = words
        while text_px(shown) > width - 36:  # cut, the whole in the tooltip
            shown = shown[:-2] + "\u2026"
        parts.append(
            f'<text x="{x + 24}" y="{y + 4}" font-size="11"><title>{escape(words)}</title>'
            f"{escape(shown)}</text>"
        )
    return parts


def _sample(layer: Layer, x: float, y: float) -> str:
    colour = _colour(layer.colour)
    if isinstance(layer, Points):
        r = _radius(layer.size)
        return f'<path d="{_marker(layer.marker, x + 10, y, r)}" {_marker_paint(layer, r)}/>'
    if isinstance(layer, Rule):
        return f'<path d="M{x} {y}h20" {_line_style(layer.colour, layer.style, layer.width)}/>'
    if isinstance(layer, Bars | Steps):
        width = layer.width if isinstance(layer, Bars) else STEP_WIDTH
        return f'<path d="M{x} {y}h20" stroke="{colour}" stroke-width="{width}"/>'
    alpha = layer.alpha if isinstance(layer, Boxes | Band) else 1.0
    return (
        f'<rect x="{x}" y="{y - 5}" width="20" height="10" fill="{colour}" '
        f'fill-opacity="{max(alpha, 0.25)}"/>'
    )
