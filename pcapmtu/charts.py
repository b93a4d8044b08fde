"""What each picture of a postmortem shows, apart from how it is drawn.

A `Chart` is a picture's content: its title and caption, its axes' words and ranges, and its
layers (points, bars, a step line, boxes, a filled histogram, thresholds). `figures` makes the
page's charts from what an analysis kept (`kept.Kept`), without pandas or matplotlib, so
`pcapmtu report` draws its page (`svg.py`) in the time an analysis takes. The fates, colours and
thresholds are the ones the notebooks' plots draw (`plot.py`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pcapmtu.detect import KIND_BLACK_HOLE, KIND_SUSPECTED
from pcapmtu.model import flow_text, format_address
from pcapmtu.mtu import ETHERNET_MTU
from pcapmtu.report import PathReport, Report
from pcapmtu.underlay import messages_and_fates

if TYPE_CHECKING:
    from pcapmtu.kept import Kept

MAX_CAPTURES_DRAWN = 4  # segment pictures per capture: both ends of a tunnel, and a few more
MAX_TIME_SEQUENCES = 4  # time-sequence graphs drawn, one per stalled direction
OVERVIEW_FROM_DIRECTIONS = 3  # the overview across flows says little about one connection
HISTOGRAM_BIN_BYTES = 20
TRANSPORT = 4  # WireGuard's message type of data (a keepalive is one with nothing inside)

# matplotlib's default colours ("tab:"), by name: the notebooks' plots and the page's agree
COLOURS = {
    "tab:blue": "#1f77b4",
    "tab:orange": "#ff7f0e",
    "tab:green": "#2ca02c",
    "tab:red": "#d62728",
    "tab:purple": "#9467bd",
    "tab:gray": "#7f7f7f",
    "tab:olive": "#bcbd22",
    "black": "#000000",
}
# How each fate of a data segment is drawn: label, colour, marker ("never delivered" is loud)
FATES: dict[str, tuple[str, str, str]] = {
    "first": ("delivered", "tab:green", "o"),
    "retransmission": ("delivered by a retransmission", "tab:blue", "^"),
    "resent": ("sent again (this copy presumably lost)", "tab:orange", "v"),
    "never": ("never delivered", "tab:red", "X"),
    "duplicate": ("needless copy (already delivered)", "tab:gray", "."),
}
# How each fate of a WireGuard message is drawn
MESSAGE_FATES: dict[str, tuple[str, str, str]] = {
    "delivered": ("delivered (the other end's capture holds it)", "tab:green", "o"),
    "lost": ("lost (the other end's capture does not)", "tab:red", "X"),
    "fragmented": ("sent in IP fragments", "tab:orange", "D"),
    "unknown": ("fate unknown (one end's capture)", "tab:gray", "."),
}
# Line styles: matplotlib's names, and the dashes of the olive "MTU to set"
DOTTED, DASHED, DASH_DOT, SOLID, LONG_DASH = ":", "--", "-.", "-", "long"


@dataclass(frozen=True)
class Points:
    """A scatter: one marker per (x, y)."""

    x: Sequence[float]
    y: Sequence[float]
    colour: str
    marker: str  # "o", "^", "v", "X", "D", "." (filled), "o" with `hollow`
    label: str | None = None
    size: float = 18.0  # matplotlib's `s`: the marker's area in points squared
    hollow: bool = False


@dataclass(frozen=True)
class Bars:
    """Vertical bars from `low` to `high` at each x (a segment's bytes, a size's range)."""

    x: Sequence[float]
    low: Sequence[float]
    high: Sequence[float]
    colour: str
    label: str | None = None
    width: float = 2.0
    alpha: float = 1.0
    caps: bool = False  # a short tick across each bar's top


@dataclass(frozen=True)
class Steps:
    """A step line, each value held until the next x (the cumulative ACK)."""

    x: Sequence[float]
    y: Sequence[float]
    colour: str
    label: str | None = None


@dataclass(frozen=True)
class Boxes:
    """Filled boxes, each (x0, x1, y0, y1) (the bytes a SACK block said were held)."""

    boxes: Sequence[tuple[float, float, float, float]]
    colour: str
    label: str | None = None
    alpha: float = 0.3


@dataclass(frozen=True)
class Stairs:
    """A filled histogram: bin i spans edges[i]..edges[i+1], from low[i] up to high[i]."""

    edges: Sequence[float]
    low: Sequence[float]
    high: Sequence[float]
    colour: str
    label: str | None = None


@dataclass(frozen=True)
class Rule:
    """A threshold line across the picture (`across`: at y = value) or up it (at x = value)."""

    value: float
    across: bool
    colour: str
    style: str
    width: float
    label: str


@dataclass(frozen=True)
class Band:
    """A shaded range, across (low..high in y) or up (in x)."""

    low: float
    high: float
    across: bool
    colour: str
    label: str
    alpha: float = 0.08


Layer = Points | Bars | Steps | Boxes | Stairs | Rule | Band
# The line every size picture draws across
ETHERNET_ACROSS = Rule(ETHERNET_MTU, True, "black", DOTTED, 1.0, f"{ETHERNET_MTU}: Ethernet MTU")


@dataclass(frozen=True)
class Chart:
    """One picture: its words, its ranges (None: from the data) and its layers, bottom first."""

    title: str
    caption: str
    x_label: str
    y_label: str
    layers: list[Layer] = field(default_factory=list)
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    integer_y: bool = False
    grid_x: bool = True  # False: lines across only (a histogram)
    heading: str = ""  # the title drawn above the axes


@dataclass(frozen=True)
class Thresholds:
    """The sizes a plot draws across: each None when the capture does not tell it."""

    tunnel_mtu: int | None = None  # the tunnel's MTU, from a SYN's MSS
    largest_delivered: int | None = None  # the inferred bracket's floor ...
    smallest_dropped: int | None = None  # ... and the first size that did not fit
    recommended_mtu: int | None = None
    recommended_certainty: str | None = None

    @classmethod
    def from_report(cls, report: Report | None, flow: str | None = None) -> Thresholds:
        """The thresholds of `flow`'s path (src -> dst), or of the first path with a black
        hole, or of the first path; none without a report."""
        if report is None or not report.paths:
            return cls()
        path = _path_of(report.paths, flow)
        r = report.recommendation
        return cls(
            tunnel_mtu=path.tunnel_mtu,
            largest_delivered=path.largest_delivered,
            smallest_dropped=path.smallest_dropped,
            recommended_mtu=r.mtu if r else None,
            recommended_certainty=r.certainty if r else None,
        )

    def layers(self, *, across: bool) -> list[Rule | Band]:
        """The thresholds as lines (and the bracket as a band), across or up. Thresholds of
        the same value are one line with one label (a tunnel MTU of 1420 with a bound of 1419
        and a fix of 1419 draws two lines, not three)."""
        lines: list[tuple[int, tuple[str, str, float], str]] = [
            (ETHERNET_MTU, ("black", DOTTED, 1.0), "Ethernet MTU")
        ]
        drawn: list[Rule | Band] = []
        if self.tunnel_mtu is not None:
            lines.append((self.tunnel_mtu, ("tab:blue", SOLID, 1.5), "tunnel MTU (SYN MSS)"))
        if self.smallest_dropped is not None:
            low = self.largest_delivered or 0
            high = self.smallest_dropped - 1
            drawn.append(
                Band(
                    low,
                    self.smallest_dropped,
                    across,
                    "tab:purple",
                    f"{low} to {high}: where the path's limit lies",
                )
            )
            lines.append((low, ("tab:purple", DASHED, 1.0), "largest delivered"))
            lines.append((high, ("tab:purple", DASH_DOT, 1.0), "largest that may fit"))
        if self.recommended_mtu is not None:
            words = " (at most)" if self.recommended_certainty == "at_most" else ""
            lines.append(
                (
                    self.recommended_mtu,
                    ("tab:olive", LONG_DASH, 2.0),
                    f"WireGuard MTU to set{words}",
                )
            )
        merged: dict[int, tuple[tuple[str, str, float], list[str]]] = {}
        for value, style, label in lines:
            merged.setdefault(value, (style, []))[1].append(label)
        for value, ((colour, dash, width), labels) in merged.items():
            drawn.append(Rule(value, across, colour, dash, width, f"{value}: {'; '.join(labels)}"))
        return drawn


@dataclass(frozen=True)
class SegmentRow:
    """One data segment, as `frames.segments` has it (its columns' names)."""

    ts_s: float
    capture: str
    flow: str
    seq_start: int
    seq_end: int
    payload_len_bytes: int
    wire_ip_len_bytes: int
    retrans_count: int
    delivered_by: str


@dataclass(frozen=True)
class AckRow:
    """One ACK, as `frames.acks` has it."""

    ts_s: float
    capture: str
    flow: str
    ack: int
    sack_blocks: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class MessageRow:
    """One WireGuard transport message or keepalive, as `frames.outer` has it."""

    ts_s: float
    capture: str
    tunnel: str
    outer_ip_len_bytes: int
    fragments: int
    delivered: bool | None


def segment_rows(kept: Kept) -> list[SegmentRow]:
    """The kept data segments, each with what became of it, in frame order per capture."""
    rows = []
    for t in kept.traces:
        start = t.first_ts or 0.0
        for c in t.trace.segments:
            rows.append(
                SegmentRow(
                    c.ts - start,
                    t.name,
                    c.flow.text(),
                    c.start,
                    c.end,
                    c.payload_len,
                    c.size,
                    c.resends,
                    t.trace.fate(c.frame),
                )
            )
    return rows


def ack_rows(kept: Kept) -> list[AckRow]:
    """The kept ACKs, in frame order per capture."""
    return [
        AckRow(a.ts - (t.first_ts or 0.0), t.name, a.flow.text(), a.ack, a.sack_blocks)
        for t in kept.traces
        for a in t.trace.acks
    ]


def message_rows(kept: Kept) -> list[MessageRow]:
    """The WireGuard transport messages and keepalives of the captures that hold them, read
    again (`underlay.messages_and_fates`), each with its fate where both ends tell it."""
    if not kept.underlay:
        return []
    read = messages_and_fates([s for s, _ in kept.underlay], [n for _, n in kept.underlay])
    first: dict[str, float] = {}
    rows = []
    for m, delivered in read:
        first.setdefault(m.capture, m.ts)
        if m.kind == TRANSPORT:
            rows.append(
                MessageRow(
                    m.ts - first[m.capture],
                    m.capture,
                    flow_text(m.src, m.sport, m.dst, m.dport),
                    m.outer_ip_len,
                    m.fragments,
                    delivered,
                )
            )
    return rows


def figures(kept: Kept, messages: Sequence[MessageRow] | None = None) -> list[Chart]:
    """The pictures of a postmortem's story, in order; the WireGuard messages are read again
    from the captures (`message_rows`) unless given (a notebook's `frames.outer` holds them)."""
    if messages is None:
        messages = message_rows(kept)
    return story(kept.report, segment_rows(kept), ack_rows(kept), messages)


def story(
    report: Report,
    segments: Sequence[SegmentRow],
    acks: Sequence[AckRow],
    messages: Sequence[MessageRow] = (),
) -> list[Chart]:
    """The pictures of the story told by a report and the rows it kept, in order: for each
    capture with TCP (at most MAX_CAPTURES_DRAWN) its segment sizes and their histogram, a
    time-sequence graph of each stalled direction, the WireGuard messages, and an overview of
    all flows when there are several."""
    shown = []
    with_tcp = [c.name for c in report.captures if c.tcp_segments]
    for name in with_tcp[:MAX_CAPTURES_DRAWN]:
        where = f" ({Path(name).name})" if len(report.captures) > 1 else ""
        mine = [s for s in segments if s.capture == name]
        shown.append(
            segment_sizes(
                mine,
                report,
                title=f"Segment sizes against the MTU thresholds{where}",
                caption=_sizes_caption(mine),
            )
        )
        shown.append(
            size_histogram(
                mine,
                report,
                title=f"Sizes delivered and lost{where}",
                caption="How many segments of each size got through and how many never did.",
            )
        )
    for capture, flow in stalled(report)[:MAX_TIME_SEQUENCES]:
        shown.append(time_sequence(segments, acks, flow=flow, capture=capture))
    if messages:
        shown.append(outer_sizes(messages, report))
    sending = direction_rows(report)
    if len(sending) >= OVERVIEW_FROM_DIRECTIONS:
        shown.append(flow_overview(sending, stalled_sizes(report)))
    return shown


def stalled(report: Report) -> list[tuple[str, str]]:
    """(capture, flow) of each TCP direction with a black hole or a suspected one."""
    return [
        (f.capture, f.flow.text())
        for f in report.findings
        if f.kind in (KIND_BLACK_HOLE, KIND_SUSPECTED) and f.side != "underlay"
    ]


def segment_sizes(
    segments: Sequence[SegmentRow],
    report: Report | None,
    *,
    flow: str | None = None,
    title: str = "",
    caption: str = "",
) -> Chart:
    """Every data segment's IP size over time, by its fate, against the MTU thresholds of its
    path (of `flow`'s, when given)."""
    layers: list[Layer] = []
    for fate, rows in by_fate(segments):
        label, colour, marker = FATES[fate]
        layers.append(
            Points(
                [r.ts_s for r in rows],
                [r.wire_ip_len_bytes for r in rows],
                colour,
                marker,
                f"{label} ({len(rows)})",
                36 if fate == "never" else 18,
            )
        )
    thresholds = Thresholds.from_report(report, flow).layers(across=True)
    top = max(int(r.value) for r in thresholds if isinstance(r, Rule))
    biggest = max((s.wire_ip_len_bytes for s in segments), default=0)
    return Chart(
        title,
        caption,
        "time since the capture's first packet (s)",
        "IP packet size (bytes)",
        [*thresholds, *layers],
        y_range=(0, max(top, biggest) * 1.08),
        heading=_heading("Segment sizes", flow, segments),
    )


def size_histogram(
    segments: Sequence[SegmentRow],
    report: Report | None,
    *,
    flow: str | None = None,
    bin_bytes: int = HISTOGRAM_BIN_BYTES,
    title: str = "",
    caption: str = "",
) -> Chart:
    """How many segments of each IP size were delivered and how many never were, stacked.
    Copies sent again, and needless copies of delivered bytes, are left out: they say nothing
    about the size."""
    shown = [s for s in segments if s.delivered_by not in ("resent", "duplicate")]
    top = max(ETHERNET_MTU, max((s.wire_ip_len_bytes for s in shown), default=0)) + bin_bytes
    bins = -(-top // bin_bytes)  # the edges 0, bin_bytes, ... up to top at least
    edges = [i * bin_bytes for i in range(bins + 1)]
    delivered, never = [0] * bins, [0] * bins
    for s in shown:
        (never if s.delivered_by == "never" else delivered)[
            min(s.wire_ip_len_bytes // bin_bytes, bins - 1)
        ] += 1
    both = [d + n for d, n in zip(delivered, never, strict=True)]
    layers: list[Layer] = [*Thresholds.from_report(report, flow).layers(across=False)]
    layers.append(
        Stairs(edges, [0] * bins, delivered, "tab:green", f"delivered ({sum(delivered)})")
    )
    layers.append(Stairs(edges, delivered, both, "tab:red", f"never delivered ({sum(never)})"))
    return Chart(
        title,
        caption,
        f"IP packet size (bytes, {bin_bytes}-byte bins)",
        "segments",
        layers,
        x_range=(0, top),
        y_range=(0, max(max(both, default=0), 1) * 1.05),
        integer_y=True,
        grid_x=False,
        heading=_heading("Sizes delivered and lost", flow, shown),
    )


def time_sequence(
    segments: Sequence[SegmentRow],
    acks: Sequence[AckRow],
    *,
    flow: str,
    capture: str,
) -> Chart:
    """The time-sequence graph of one direction (Stevens' style, as tcptrace and Wireshark
    draw it): each segment a vertical bar over the bytes it carried, retransmissions in red,
    the cumulative ACK as a step line and each SACK block as a band beside it."""
    mine = [s for s in segments if s.flow == flow and s.capture == capture]
    theirs = [a for a in acks if a.flow == flow and a.capture == capture]
    first = [s for s in mine if s.retrans_count == 0]
    again = [s for s in mine if s.retrans_count > 0]
    layers: list[Layer] = []
    parts = ["data sent (blue)"]
    if again:
        parts.append("sent again (red)")
    if theirs:  # the SACK boxes and the ACK's line under the segments' bars
        parts.append("the cumulative ACK (green)")
        boxes = sack_boxes(theirs)
        if boxes:
            parts.append("in purple the bytes the receiver reported holding beyond a gap (SACK)")
            layers.append(Boxes(boxes, "tab:purple", "SACKed: the receiver holds these bytes"))
        layers.append(
            Steps([a.ts_s for a in theirs], [a.ack for a in theirs], "tab:green", "cumulative ACK")
        )
    # first sends on top: a retransmission covers the same bytes, often a moment later
    for rows, colour, what in (
        (again, "tab:red", "retransmission"),
        (first, "tab:blue", "data segment"),
    ):
        if rows:
            layers.append(
                Bars(
                    [r.ts_s for r in rows],
                    [r.seq_start for r in rows],
                    [r.seq_end for r in rows],
                    colour,
                    f"{what} ({len(rows)})",
                    caps=True,
                )
            )
    return Chart(
        f"Time-sequence graph: {flow}",
        f"In {Path(capture).name}: " + ", ".join(parts) + ".",
        "time since the capture's first packet (s)",
        "relative sequence number (bytes)",
        layers,
        heading=f"Time-sequence graph: {flow}",
    )


def sack_boxes(acks: Sequence[AckRow]) -> list[tuple[float, float, float, float]]:
    """Each SACK block as a box from the ACK that carried it to the next ACK: the bytes the
    receiver held beyond the gap, for as long as it said so."""
    times = [a.ts_s for a in acks]
    ends = [*times[1:], times[-1]] if times else []
    return [
        (start, end, left, right)
        for start, end, a in zip(times, ends, acks, strict=True)
        for left, right in a.sack_blocks
    ]


def outer_sizes(
    messages: Sequence[MessageRow], report: Report | None, *, tunnel: str | None = None
) -> Chart:
    """Every WireGuard transport message's outer IP size over time, by its fate, against what
    the underlay path carries and what the MTU to set lets through."""
    fates: dict[str, list[MessageRow]] = {f: [] for f in MESSAGE_FATES}
    for m in messages:
        if m.fragments > 1:
            fates["fragmented"].append(m)
        elif m.delivered is None:
            fates["unknown"].append(m)
        else:
            fates["delivered" if m.delivered else "lost"].append(m)
    layers: list[Layer] = [ETHERNET_ACROSS]
    r = report.recommendation if report is not None else None
    top = ETHERNET_MTU
    if r is not None:
        low, high = r.underlay_path_mtu
        if low is not None:
            layers.append(Rule(low, True, "tab:purple", DASHED, 1, f"{low}: the path carries"))
        layers.append(Rule(high, True, "tab:purple", DASH_DOT, 1, f"{high}: the most it may carry"))
        fixed = r.mtu + r.tunnel.overhead(r.outer_version_assumed)
        layers.append(
            Rule(
                fixed,
                True,
                "tab:olive",
                LONG_DASH,
                2,
                f"{fixed}: the largest outer packet with MTU = {r.mtu}",
            )
        )
        top = max(ETHERNET_MTU, high, fixed)
    for fate, rows in fates.items():
        if rows:
            label, colour, marker = MESSAGE_FATES[fate]
            layers.append(
                Points(
                    [m.ts_s for m in rows],
                    [m.outer_ip_len_bytes for m in rows],
                    colour,
                    marker,
                    f"{label} ({len(rows)})",
                    36 if fate in ("lost", "fragmented") else 18,
                )
            )
    parts = ["Each WireGuard transport message's outer IP size over time"]
    if any(m.delivered is not None for m in messages):
        parts.append("delivered or lost, as both ends' captures tell it")
    else:
        parts.append("its fate unknown (one end's capture)")
    if any(m.fragments > 1 for m in messages):
        parts.append("those sent in IP fragments marked")
    caption = "; ".join(parts)
    if r is not None:
        caption += "; against what the underlay path carries and what the MTU to set lets through"
    where = tunnel if tunnel is not None else f"{len({m.tunnel for m in messages})} direction(s)"
    biggest = max((m.outer_ip_len_bytes for m in messages), default=0)
    return Chart(
        "WireGuard messages on the underlay",
        caption + ".",
        "time since the capture's first WireGuard message (s)",
        "outer IP packet size (bytes)",
        layers,
        y_range=(0, max(top, biggest) * 1.08),
        heading=f"WireGuard messages on the underlay: {where}",
    )


@dataclass(frozen=True)
class DirectionRow:
    """One direction that sent data: when it began (seconds, from any origin) and the
    largest IP packet it had delivered."""

    capture: str
    flow: str
    first_s: float
    largest_ip_len_bytes: int


def direction_rows(report: Report) -> list[DirectionRow]:
    """Each direction of the report that sent data."""
    return [
        DirectionRow(
            f.capture,
            f.facts.flow.text(),
            f.facts.first_ts if f.facts.first_ts is not None else float("nan"),
            f.facts.largest_ip_len,
        )
        for f in report.flows
        if f.facts.data_packets > 0
    ]


def stalled_sizes(report: Report) -> dict[tuple[str, str], tuple[float, float]]:
    """(capture, flow) of each direction with a black hole or a suspected one -> the largest
    packet delivered after it and the size that never got through (NaN: unknown)."""
    holes: dict[tuple[str, str], tuple[float, float]] = {}
    for f in report.findings:
        if f.kind in (KIND_BLACK_HOLE, KIND_SUSPECTED):
            holes.setdefault(
                (f.capture, f.flow.text()),
                (_number(f.largest_delivered_ip_len), _number(f.dropped_ip_len)),
            )
    return holes


def flow_overview(
    sending: Sequence[DirectionRow], holes: dict[tuple[str, str], tuple[float, float]]
) -> Chart:
    """Every direction that sent data, by when it started and the largest IP packet it had
    delivered; a stalled direction (in `holes`, `stalled_sizes`) also shows the size that
    never got through, joined to the largest it had delivered."""
    start = min((d.first_s for d in sending if math.isfinite(d.first_s)), default=0.0)
    fine_x, fine_y, hit_x, floors, dropped = [], [], [], [], []
    for d in sending:
        hole = holes.get((d.capture, d.flow))
        if hole is None:
            fine_x.append(d.first_s - start)
            fine_y.append(d.largest_ip_len_bytes)
        else:
            hit_x.append(d.first_s - start)
            floors.append(hole[0])
            dropped.append(hole[1])
    layers: list[Layer] = [ETHERNET_ACROSS]
    layers.append(Points(fine_x, fine_y, "tab:green", "o", f"no loss for size ({len(fine_x)})"))
    if hit_x:
        layers.append(Bars(hit_x, floors, dropped, "tab:red", None, width=1, alpha=0.5))
        layers.append(
            Points(
                hit_x,
                floors,
                "tab:red",
                "o",
                "a smaller packet that got through after it",
                hollow=True,
            )
        )
        layers.append(
            Points(hit_x, dropped, "tab:red", "X", f"stalled: never delivered ({len(hit_x)})", 36)
        )
    biggest = max((d.largest_ip_len_bytes for d in sending), default=0)
    return Chart(
        "All flows",
        "Each direction that sent data: its largest delivered packet, and for the stalled ones "
        "the size that never got through.",
        "direction's first packet, since the first flow started (s)",
        "IP packet size (bytes)",
        layers,
        y_range=(0, max(ETHERNET_MTU, biggest) * 1.08),
        heading=f"{len(sending)} directions with data, {len(hit_x)} stalled",
    )


def by_fate(segments: Iterable[SegmentRow]) -> list[tuple[str, list[SegmentRow]]]:
    """The segments by what became of them (`FATES`' keys), the fates with none left out."""
    fates: dict[str, list[SegmentRow]] = {f: [] for f in FATES}
    for s in segments:
        if s.delivered_by in ("ack", "sack"):
            fates["retransmission" if s.retrans_count > 0 else "first"].append(s)
        else:
            fates[s.delivered_by].append(s)
    return [(fate, rows) for fate, rows in fates.items() if rows]


def _sizes_caption(segments: Sequence[SegmentRow]) -> str:
    never = [s for s in segments if s.delivered_by == "never"]
    text = "Every data segment's IP size over time, by what became of it."
    if not never:
        return text + " Every size sent got through."
    sizes = ", ".join(str(v) for v in sorted({s.wire_ip_len_bytes for s in never}))
    resent = " (and sent again)" if any(s.retrans_count > 0 for s in never) else ""
    return text + f" Never delivered{resent} (red): segments of {sizes} bytes."


def _heading(what: str, flow: str | None, rows: Sequence[SegmentRow]) -> str:
    if flow is not None:
        return f"{what}: {flow}"
    flows = len({r.flow for r in rows})
    return f"{what}: {flows} direction{'s' if flows != 1 else ''}"


def _path_of(paths: tuple[PathReport, ...], flow: str | None) -> PathReport:
    if flow is not None:
        src, dst = (side.strip().rsplit(":", 1)[0].strip("[]") for side in flow.split("->"))
        for p in paths:
            if (format_address(p.src), format_address(p.dst)) == (src, dst):
                return p
    holed = [p for p in paths if p.smallest_dropped is not None]
    return (holed or list(paths))[0]


def _number(value: int | None) -> float:
    return float(value) if value is not None else float("nan")
