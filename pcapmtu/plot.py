"""Pictures for postmortems: what a reader who does not read tcpdump needs to see the cause.

Each plot takes the frames of `pcapmtu.frames` (and, for the MTU thresholds, the `Report`),
draws on the `ax` it is given, or on a new figure's when none is, and returns the Axes. Nothing
here calls `plt.show()` or changes matplotlib's global style; labels go in the legend, never on
the lines, so thresholds a byte apart cannot write over each other.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pcapmtu.detect import KIND_BLACK_HOLE, KIND_SUSPECTED
from pcapmtu.model import format_address
from pcapmtu.mtu import ETHERNET_MTU
from pcapmtu.report import PathReport, Report

# How each fate of a segment is drawn: label, colour, marker. Colours from matplotlib's default
# cycle ("tab:"), chosen so that "never delivered" is the loud one.
_FATES: dict[str, tuple[str, str, str]] = {
    "first": ("delivered", "tab:green", "o"),
    "retransmission": ("delivered by a retransmission", "tab:blue", "^"),
    "resent": ("sent again (this copy presumably lost)", "tab:orange", "v"),
    "never": ("never delivered", "tab:red", "X"),
    "duplicate": ("needless copy (already delivered)", "tab:gray", "."),
}
_LEGEND: dict[str, Any] = {"fontsize": "small", "framealpha": 0.9}


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
    ax = _axes(ax)
    shown = _only(segments, flow, capture)
    for fate, rows in _by_fate(shown):
        label, colour, marker = _FATES[fate]
        ax.scatter(
            rows["ts_s"],
            rows["wire_ip_len_bytes"],
            s=36 if fate == "never" else 18,
            c=colour,
            marker=marker,
            label=f"{label} ({len(rows)})",
            zorder=3,
        )
    top = _draw_thresholds(ax, Thresholds.from_report(report, flow), horizontal=True)
    ax.set_ylim(0, max(top, _max(shown["wire_ip_len_bytes"])) * 1.08)
    ax.set_xlabel("time since the capture's first packet (s)")
    ax.set_ylabel("IP packet size (bytes)")
    ax.set_title(_title("Segment sizes", flow, shown))
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
    return ax


def size_histogram(
    segments: pd.DataFrame,
    *,
    report: Report | None = None,
    flow: str | None = None,
    capture: str | None = None,
    bin_bytes: int = 20,
    ax: Axes | None = None,
) -> Axes:
    """How many segments of each IP size were delivered and how many never were, stacked, with
    the same thresholds as `segment_sizes`. Copies sent again, and needless copies of delivered
    bytes, are left out: they say nothing about the size."""
    ax = _axes(ax)
    shown = _only(segments, flow, capture)
    shown = shown[~shown["delivered_by"].isin(["resent", "duplicate"])]
    thresholds = Thresholds.from_report(report, flow)
    top = max(ETHERNET_MTU, _max(shown["wire_ip_len_bytes"])) + bin_bytes
    edges = np.arange(0, top + bin_bytes, bin_bytes)
    sizes = shown["wire_ip_len_bytes"].to_numpy()
    never = (shown["delivered_by"] == "never").to_numpy()
    delivered_counts, _ = np.histogram(sizes[~never], bins=edges)
    never_counts, _ = np.histogram(sizes[never], bins=edges)
    # one filled outline per fate, not a rectangle per bin: a page draws it in a tenth of the time
    ax.stairs(
        delivered_counts,
        edges,
        fill=True,
        color=_FATES["first"][1],
        label=f"delivered ({int(delivered_counts.sum())})",
        zorder=3,
    )
    ax.stairs(
        delivered_counts + never_counts,
        edges,
        baseline=delivered_counts,
        fill=True,
        color=_FATES["never"][1],
        label=f"never delivered ({int(never_counts.sum())})",
        zorder=3,
    )
    _draw_thresholds(ax, thresholds, horizontal=False)
    ax.set_xlim(0, top)
    ax.set_xlabel(f"IP packet size (bytes, {bin_bytes}-byte bins)")
    ax.set_ylabel("segments")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(_title("Sizes delivered and lost", flow, shown))
    ax.grid(True, axis="y", alpha=0.3)
    _legend_outside(ax)
    return ax


# How each fate of a WireGuard message is drawn (`frames.outer`'s rows).
_MESSAGE_FATES: dict[str, tuple[str, str, str]] = {
    "delivered": ("delivered (the other end's capture holds it)", "tab:green", "o"),
    "lost": ("lost (the other end's capture does not)", "tab:red", "X"),
    "fragmented": ("sent in IP fragments", "tab:orange", "D"),
    "unknown": ("fate unknown (one end's capture)", "tab:gray", "."),
}


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
    ax = _axes(ax)
    shown = outer[outer["type"].isin(["transport", "keepalive"])]
    if tunnel is not None:
        shown = shown[shown["tunnel"] == tunnel]
    if capture is not None:
        shown = shown[shown["capture"] == capture]
    fates = {
        "fragmented": shown["fragments"] > 1,
        "lost": (shown["fragments"] == 1) & (shown["delivered"] == False),  # noqa: E712
        "delivered": (shown["fragments"] == 1) & (shown["delivered"] == True),  # noqa: E712
        "unknown": (shown["fragments"] == 1) & shown["delivered"].isna(),
    }
    for fate, mask in fates.items():
        rows = shown[mask.fillna(False)]
        if not len(rows):
            continue
        label, colour, marker = _MESSAGE_FATES[fate]
        ax.scatter(
            rows["ts_s"],
            rows["outer_ip_len_bytes"],
            s=36 if fate in ("lost", "fragmented") else 18,
            c=colour,
            marker=marker,
            label=f"{label} ({len(rows)})",
            zorder=3,
        )
    top = _draw_underlay(ax, report)
    ax.set_ylim(0, max(top, _max(shown["outer_ip_len_bytes"])) * 1.08)
    ax.set_xlabel("time since the capture's first WireGuard message (s)")
    ax.set_ylabel("outer IP packet size (bytes)")
    where = tunnel if tunnel is not None else f"{shown['tunnel'].nunique()} direction(s)"
    ax.set_title(f"WireGuard messages on the underlay: {where}")
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
    return ax


def _draw_underlay(ax: Axes, report: Report | None) -> int:
    """The underlay's thresholds, across; returns the largest drawn."""
    ax.axhline(ETHERNET_MTU, color="black", ls=":", lw=1, label=f"{ETHERNET_MTU}: Ethernet MTU")
    r = report.recommendation if report is not None else None
    if r is None:
        return ETHERNET_MTU
    low, high = r.underlay_path_mtu
    if low is not None:
        ax.axhline(low, color="tab:purple", ls="--", lw=1, label=f"{low}: the path carries")
    ax.axhline(high, color="tab:purple", ls="-.", lw=1, label=f"{high}: the most it may carry")
    fixed = r.mtu + r.tunnel.overhead(r.outer_version_assumed)
    ax.axhline(
        fixed,
        color="tab:olive",
        ls=(0, (6, 3)),
        lw=2,
        label=f"{fixed}: the largest outer packet with MTU = {r.mtu}",
    )
    return max(ETHERNET_MTU, high, fixed)


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
    ax = _axes(ax)
    flow = flow if flow is not None else _busiest(segments)
    mine = segments[segments["flow"] == flow] if flow is not None else segments.iloc[:0]
    if capture is None and len(mine):
        capture = str(mine["capture"].iloc[0])
    mine = mine[mine["capture"] == capture]
    theirs = acks[(acks["flow"] == flow) & (acks["capture"] == capture)]
    first = mine["retrans_count"] == 0
    # first sends on top: a retransmission covers the same bytes, often a moment later
    _seq_bars(ax, mine[first], "tab:blue", f"data segment ({int(first.sum())})", 4)
    _seq_bars(ax, mine[~first], "tab:red", f"retransmission ({int((~first).sum())})", 3)
    if len(theirs):
        ax.step(
            theirs["ts_s"],
            theirs["ack"],
            where="post",
            color="tab:green",
            lw=1.2,
            label="cumulative ACK",
        )
        _sack_bars(ax, theirs)
    ax.set_xlabel("time since the capture's first packet (s)")
    ax.set_ylabel("relative sequence number (bytes)")
    ax.set_title(_title("Time-sequence graph", flow, mine))
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
    return ax


def flow_overview(flows: pd.DataFrame, findings: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Every direction that sent data, by when it started and the largest IP packet it had
    delivered; directions with a black hole also show the size that never got through, joined
    to their largest delivered one. For captures with many flows: which stalled, at what size."""
    ax = _axes(ax)
    sending = flows[flows["data_packets"] > 0]
    start = sending["first_time"].min() if len(sending) else None
    holes = findings[findings["kind"].isin([KIND_BLACK_HOLE, KIND_SUSPECTED])]
    stalled = holes.set_index(["capture", "flow"])
    keys = list(zip(sending["capture"], sending["flow"], strict=True))
    hit = np.array([k in stalled.index for k in keys], dtype=bool)
    x = (sending["first_time"] - start).dt.total_seconds() if start is not None else []
    x = np.asarray(x, dtype=float)
    ax.scatter(
        x[~hit],
        sending["largest_ip_len_bytes"][~hit],
        s=18,
        c="tab:green",
        label=f"no loss for size ({int((~hit).sum())})",
    )
    if hit.any():
        rows = stalled.loc[[k for k, h in zip(keys, hit, strict=True) if h]]
        dropped = rows["dropped_ip_len_bytes"].astype("float64").to_numpy()
        floor = rows["largest_delivered_ip_len_bytes"].astype("float64").to_numpy()
        ax.vlines(x[hit], floor, dropped, colors="tab:red", lw=1, alpha=0.5)
        ax.scatter(
            x[hit],
            floor,
            s=18,
            facecolors="none",
            edgecolors="tab:red",
            label="a smaller packet that got through after it",
        )
        ax.scatter(
            x[hit],
            dropped,
            s=36,
            c="tab:red",
            marker="X",
            label=f"stalled: never delivered ({int(hit.sum())})",
        )
    ax.axhline(ETHERNET_MTU, color="black", ls=":", lw=1, label="1500: Ethernet MTU")
    ax.set_ylim(0, max(ETHERNET_MTU, _max(sending["largest_ip_len_bytes"])) * 1.08)
    ax.set_xlabel("direction's first packet, since the first flow started (s)")
    ax.set_ylabel("IP packet size (bytes)")
    ax.set_title(f"{len(sending)} directions with data, {int(hit.sum())} stalled")
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
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


def _by_fate(segments: pd.DataFrame) -> Iterable[tuple[str, pd.DataFrame]]:
    how = segments["delivered_by"]
    resent = segments["retrans_count"] > 0
    fates = {
        "first": how.isin(["ack", "sack"]) & ~resent,
        "retransmission": how.isin(["ack", "sack"]) & resent,
        "resent": how == "resent",
        "never": how == "never",
        "duplicate": how == "duplicate",
    }
    return [(fate, segments[mask]) for fate, mask in fates.items() if mask.any()]


def _draw_thresholds(ax: Axes, t: Thresholds, *, horizontal: bool) -> int:
    """Draw the thresholds across (horizontal) or up (vertical); returns the largest drawn.
    Thresholds of the same value are one line with one label (a tunnel MTU of 1420 with a
    bound of 1419 and a fix of 1419 draws two lines, not three)."""
    line = ax.axhline if horizontal else ax.axvline
    span = ax.axhspan if horizontal else ax.axvspan
    lines: list[tuple[int, dict[str, Any], str]] = [
        (ETHERNET_MTU, {"color": "black", "ls": ":", "lw": 1}, "Ethernet MTU")
    ]
    if t.tunnel_mtu is not None:
        lines.append((t.tunnel_mtu, {"color": "tab:blue", "lw": 1.5}, "tunnel MTU (SYN MSS)"))
    if t.smallest_dropped is not None:
        low = t.largest_delivered or 0
        high = t.smallest_dropped - 1
        span(
            low,
            t.smallest_dropped,
            color="tab:purple",
            alpha=0.08,
            lw=0,
            label=f"{low} to {high}: where the path's limit lies",
        )
        lines.append((low, {"color": "tab:purple", "ls": "--", "lw": 1}, "largest delivered"))
        lines.append((high, {"color": "tab:purple", "ls": "-.", "lw": 1}, "largest that may fit"))
    if t.recommended_mtu is not None:
        words = " (at most)" if t.recommended_certainty == "at_most" else ""  # not shown to work
        style = {"color": "tab:olive", "ls": (0, (6, 3)), "lw": 2}
        lines.append((t.recommended_mtu, style, f"WireGuard MTU to set{words}"))
    merged: dict[int, tuple[dict[str, Any], list[str]]] = {}
    for value, style, label in lines:
        merged.setdefault(value, (style, []))[1].append(label)
    for value, (style, labels) in merged.items():
        drawn = line(value)
        drawn.set(label=f"{value}: {'; '.join(labels)}", **style)
    return max(merged)


def _seq_bars(ax: Axes, rows: pd.DataFrame, colour: str, label: str, z: int = 3) -> None:
    if not len(rows):
        return
    t = rows["ts_s"].to_numpy()
    bars = np.stack(
        [np.column_stack([t, rows["seq_start"]]), np.column_stack([t, rows["seq_end"]])], axis=1
    )
    ax.add_collection(LineCollection(list(bars), colors=colour, lw=2, label=label, zorder=z))
    ax.scatter(t, rows["seq_end"], s=10, c=colour, marker="_", zorder=z)
    ax.autoscale_view()


def _sack_bars(ax: Axes, acks: pd.DataFrame) -> None:
    """Each SACK block as a band from the ACK that carried it to the next ACK: the bytes the
    receiver held beyond the gap, for as long as it said so."""
    times = acks["ts_s"].to_numpy()
    ends = np.append(times[1:], times[-1])
    boxes = [
        [(start, left), (end, left), (end, right), (start, right)]
        for start, end, blocks in zip(times, ends, acks["sack_blocks"], strict=True)
        for left, right in blocks
    ]
    if boxes:
        ax.add_collection(
            PolyCollection(
                boxes,
                facecolors="tab:purple",
                edgecolors="tab:purple",
                alpha=0.3,
                lw=2,
                label="SACKed: the receiver holds these bytes",
            )
        )
        ax.autoscale_view()


def _busiest(segments: pd.DataFrame) -> str | None:
    if not len(segments):
        return None
    stats = segments.groupby("flow", sort=False).agg(
        resent=("retrans_count", lambda r: int((r > 0).sum())),
        data=("payload_len_bytes", "sum"),
    )
    return str(stats.sort_values(["resent", "data"], ascending=False, kind="stable").index[0])


def _path_of(paths: tuple[PathReport, ...], flow: str | None) -> PathReport:
    if flow is not None:
        src, dst = (side.strip().rsplit(":", 1)[0].strip("[]") for side in flow.split("->"))
        for p in paths:
            if (format_address(p.src), format_address(p.dst)) == (src, dst):
                return p
    holed = [p for p in paths if p.smallest_dropped is not None]
    return (holed or list(paths))[0]


def _title(what: str, flow: str | None, rows: pd.DataFrame) -> str:
    if flow is not None:
        return f"{what}: {flow}"
    flows = rows["flow"].nunique()
    return f"{what}: {flows} direction{'s' if flows != 1 else ''}"


def _max(values: pd.Series) -> int:
    return int(values.max()) if len(values) else 0


def _legend_outside(ax: Axes) -> None:
    """The legend to the right of the plot, so it never hides a point."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, **_LEGEND)
