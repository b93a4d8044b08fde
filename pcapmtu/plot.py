"""Pictures for postmortems in notebooks: what a reader who does not read tcpdump needs to see
the cause.

Each plot takes the frames of `pcapmtu.frames` (and, for the MTU thresholds, the `Report`),
draws on the `ax` it is given, or on a new figure's when none is, and returns the Axes. What a
picture shows is `charts.py`'s, shared with the postmortem page (which draws it as SVG); this
module draws it with matplotlib. Nothing here calls `plt.show()` or changes matplotlib's global
style; labels go in the legend, never on the lines, so thresholds a byte apart cannot write over
each other.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pcapmtu import charts
from pcapmtu.charts import (
    AckRow,
    Band,
    Bars,
    Boxes,
    Chart,
    DirectionRow,
    Points,
    Rule,
    Stairs,
    Steps,
    Thresholds,
)
from pcapmtu.detect import KIND_BLACK_HOLE, KIND_SUSPECTED
from pcapmtu.frames import message_rows, segment_rows
from pcapmtu.report import Report

_LEGEND: dict[str, Any] = {"fontsize": "small", "framealpha": 0.9}
_STYLES = {charts.LONG_DASH: (0, (6, 3))}  # matplotlib's dashes for the styles it has no name for
_ZORDER = {Band: 0.5, Boxes: 1, Rule: 2, Steps: 2, Stairs: 3, Points: 3, Bars: 3}

__all__ = [
    "Thresholds",
    "draw",
    "flow_overview",
    "outer_sizes",
    "png",
    "segment_sizes",
    "size_histogram",
    "time_sequence",
]


def segment_sizes(
    segments: pd.DataFrame,
    *,
    report: Report | None = None,
    flow: str | None = None,
    capture: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Every data segment's IP size (as sent on the wire) over time, drawn by its fate (the
    `delivered_by` column): delivered, delivered by a retransmission, sent again, never
    delivered, or a needless copy.
    `flow` ("src:sport -> dst:dport") keeps one direction and `capture` one capture; by default
    all are drawn. With a report, the MTU thresholds of that direction's path are drawn."""
    rows = segment_rows(_only(segments, flow, capture))
    return draw(charts.segment_sizes(rows, report, flow=flow), ax)


def size_histogram(
    segments: pd.DataFrame,
    *,
    report: Report | None = None,
    flow: str | None = None,
    capture: str | None = None,
    bin_bytes: int = charts.HISTOGRAM_BIN_BYTES,
    ax: Axes | None = None,
) -> Axes:
    """How many segments of each IP size were delivered and how many never were, stacked, with
    the same thresholds as `segment_sizes`. Copies sent again, and needless copies of delivered
    bytes, are left out: they say nothing about the size."""
    rows = segment_rows(_only(segments, flow, capture))
    return draw(charts.size_histogram(rows, report, flow=flow, bin_bytes=bin_bytes), ax)


def outer_sizes(
    outer: pd.DataFrame,
    *,
    report: Report | None = None,
    tunnel: str | None = None,
    capture: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Every WireGuard transport message's outer IP size over time (`frames.outer`), by its
    fate: delivered, lost, sent in fragments, or unknown. `tunnel` ("src:sport -> dst:dport")
    keeps one direction and `capture` one capture. With a report, the underlay path's
    thresholds: what it is known to carry, the largest it may carry, and the outer size of
    the largest packet the MTU to set lets through."""
    shown = outer
    if tunnel is not None:
        shown = shown[shown["tunnel"] == tunnel]
    if capture is not None:
        shown = shown[shown["capture"] == capture]
    return draw(charts.outer_sizes(message_rows(shown), report, tunnel=tunnel), ax)


def time_sequence(
    segments: pd.DataFrame,
    acks: pd.DataFrame,
    *,
    flow: str | None = None,
    capture: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """The time-sequence graph of one direction (Stevens' style, as tcptrace and Wireshark draw
    it): each segment a vertical bar over the bytes it carried, retransmissions in red, the
    cumulative ACK as a step line and each SACK block as a bar beside it. By default the
    direction with the most retransmissions (then the most data); with segments from several
    captures, the first capture holding that direction unless `capture` names one."""
    flow = flow if flow is not None else _busiest(segments)
    mine = segments[segments["flow"] == flow] if flow is not None else segments.iloc[:0]
    if capture is None and len(mine):
        capture = str(mine["capture"].iloc[0])
    mine = mine[mine["capture"] == capture]
    theirs = acks[(acks["flow"] == flow) & (acks["capture"] == capture)]
    acked = [
        AckRow(float(ts), str(capture), str(flow), int(ack), tuple(blocks))
        for ts, ack, blocks in zip(
            theirs["ts_s"], theirs["ack"], theirs["sack_blocks"], strict=True
        )
    ]
    chart = charts.time_sequence(
        segment_rows(mine), acked, flow=str(flow), capture=str(capture or "")
    )
    return draw(chart, ax)


def flow_overview(flows: pd.DataFrame, findings: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Every direction that sent data, by when it started and the largest IP packet it had
    delivered; directions with a black hole also show the size that never got through, joined
    to their largest delivered one. For captures with many flows: which stalled, at what size."""
    sending = flows[flows["data_packets"] > 0]
    start = sending["first_time"].min() if len(sending) else None
    seconds = (sending["first_time"] - start).dt.total_seconds() if start is not None else []
    rows = [
        DirectionRow(str(c), str(f), float(s), int(largest))
        for c, f, s, largest in zip(
            sending["capture"],
            sending["flow"],
            seconds,
            sending["largest_ip_len_bytes"],
            strict=True,
        )
    ]
    holes: dict[tuple[str, str], tuple[float, float]] = {}
    stalled = findings[findings["kind"].isin([KIND_BLACK_HOLE, KIND_SUSPECTED])]
    for c, f, floor, dropped in zip(
        stalled["capture"],
        stalled["flow"],
        stalled["largest_delivered_ip_len_bytes"],
        stalled["dropped_ip_len_bytes"],
        strict=True,
    ):
        holes.setdefault((str(c), str(f)), (_number(floor), _number(dropped)))
    return draw(charts.flow_overview(rows, holes), ax)


def draw(chart: Chart, ax: Axes | None = None) -> Axes:
    """A chart (`charts.py`: what the postmortem page shows as SVG) on matplotlib's Axes."""
    ax = _axes(ax)
    for layer in chart.layers:
        _layer(ax, layer)
    if chart.x_range is not None:
        ax.set_xlim(*chart.x_range)
    if chart.y_range is not None:
        ax.set_ylim(*chart.y_range)
    ax.set_xlabel(chart.x_label)
    ax.set_ylabel(chart.y_label)
    ax.set_title(chart.heading or chart.title)
    if chart.integer_y:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, axis="both" if chart.grid_x else "y", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # to the right of the plot, never over a point
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, **_LEGEND)
    return ax


def png(
    draw: Callable[[Axes], object],
    *,
    size_in: tuple[float, float] = (9.0, 4.5),
    dpi: int = 100,
) -> bytes:
    """Draw with `draw(ax)` on a figure of its own and return it as PNG bytes: for pages,
    without pyplot, so nothing is left open and no notebook shows it twice."""
    figure = Figure(figsize=size_in, dpi=dpi, layout="constrained")
    draw(figure.add_subplot())
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _layer(ax: Axes, layer: charts.Layer) -> None:
    z = _ZORDER[type(layer)]
    colour = layer.colour
    label = layer.label if layer.label else "_nolegend_"
    if isinstance(layer, Points):
        paint: dict[str, Any] = (
            {"facecolors": "none", "edgecolors": colour} if layer.hollow else {"c": colour}
        )
        ax.scatter(
            layer.x, layer.y, s=layer.size, marker=layer.marker, label=label, zorder=z, **paint
        )
    elif isinstance(layer, Bars):
        lines = [
            [(x, lo), (x, hi)] for x, lo, hi in zip(layer.x, layer.low, layer.high, strict=True)
        ]
        ax.add_collection(
            LineCollection(
                lines, colors=colour, lw=layer.width, alpha=layer.alpha, label=label, zorder=z
            )
        )
        if layer.caps:
            ax.scatter(layer.x, layer.high, s=10, c=colour, marker="_", zorder=z)
        ax.autoscale_view()
    elif isinstance(layer, Steps):
        ax.step(layer.x, layer.y, where="post", color=colour, lw=1.2, label=label, zorder=z)
    elif isinstance(layer, Boxes):
        boxes = [[(x0, y0), (x1, y0), (x1, y1), (x0, y1)] for x0, x1, y0, y1 in layer.boxes]
        ax.add_collection(
            PolyCollection(
                boxes,
                facecolors=colour,
                edgecolors=colour,
                alpha=layer.alpha,
                lw=2,
                label=label,
                zorder=z,
            )
        )
        ax.autoscale_view()
    elif isinstance(layer, Stairs):
        ax.stairs(
            layer.high,
            layer.edges,
            baseline=layer.low,
            fill=True,
            color=colour,
            label=label,
            zorder=z,
        )
    elif isinstance(layer, Rule):
        line = ax.axhline if layer.across else ax.axvline
        line(
            layer.value,
            color=colour,
            ls=_STYLES.get(layer.style, layer.style),
            lw=layer.width,
            label=label,
            zorder=z,
        )
    else:
        span = ax.axhspan if layer.across else ax.axvspan
        span(layer.low, layer.high, color=colour, alpha=layer.alpha, lw=0, label=label, zorder=z)


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only for a figure of its own: not for `png`, the pages

    _, new = plt.subplots(figsize=(9, 4.5), layout="constrained")
    return new


def _only(segments: pd.DataFrame, flow: str | None, capture: str | None) -> pd.DataFrame:
    if flow is not None:
        segments = segments[segments["flow"] == flow]
    if capture is not None:
        segments = segments[segments["capture"] == capture]
    return segments


def _busiest(segments: pd.DataFrame) -> str | None:
    if not len(segments):
        return None
    stats = segments.groupby("flow", sort=False).agg(
        resent=("retrans_count", lambda r: int((r > 0).sum())),
        data=("payload_len_bytes", "sum"),
    )
    return str(stats.sort_values(["resent", "data"], ascending=False, kind="stable").index[0])


def _number(value: object) -> float:
    return float("nan") if pd.isna(value) else float(value)  # type: ignore[arg-type]
