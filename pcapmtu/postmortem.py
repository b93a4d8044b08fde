"""A postmortem in one object: the report, the frames behind its pictures, and one
self-contained HTML page telling the story (what `pcapmtu report` writes). The notebook
`notebooks/postmortem.ipynb` tells the same story step by step with the same calls.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes

from pcapmtu import frames, output, plot
from pcapmtu.capture import Source
from pcapmtu.detect import KIND_BLACK_HOLE, KIND_SUSPECTED, DetectConfig
from pcapmtu.errors import CaptureNotFoundError
from pcapmtu.kept import Kept, gather
from pcapmtu.model import printable
from pcapmtu.report import Report
from pcapmtu.report_html import fix_html, report_html, verdict_html
from pcapmtu.version import __version__

MAX_CAPTURES_DRAWN = 4  # segment pictures per capture: both ends of a tunnel, and a few more
MAX_TIME_SEQUENCES = 4  # time-sequence graphs drawn, one per stalled direction
OVERVIEW_FROM_DIRECTIONS = 3  # the overview across flows says little about one connection


@dataclass(frozen=True)
class Figure:
    """One picture of a postmortem: what it shows, and how to draw it on an Axes."""

    title: str
    caption: str
    draw: Callable[[Axes], Axes]


@dataclass(frozen=True)
class Postmortem:
    """The report of some captures and the frames its pictures are drawn from."""

    report: Report
    segments: pd.DataFrame  # frames.SEGMENT_COLUMNS
    acks: pd.DataFrame  # frames.ACK_COLUMNS
    flows: pd.DataFrame  # frames.FLOW_COLUMNS
    findings: pd.DataFrame  # frames.FINDING_COLUMNS
    evidence: pd.DataFrame  # frames.EVIDENCE_COLUMNS
    too_big: pd.DataFrame  # frames.TOO_BIG_COLUMNS
    traced_all: bool  # False: segments and ACKs of the flows with findings and of a sample
    # frames.OUTER_COLUMNS: WireGuard's messages, of captures that hold them (else empty)
    outer: pd.DataFrame = field(default_factory=lambda: frames.outer([]))

    @classmethod
    def of(cls, kept: Kept) -> Postmortem:
        """The frames of what an analysis kept (`kept.gather`)."""
        report, traces = kept.report, kept.traces
        return cls(
            report=report,
            segments=frames.segments(traces),
            acks=frames.acks(traces),
            flows=frames.flows(report),
            findings=frames.findings(report),
            evidence=frames.evidence(report),
            too_big=frames.too_big(report),
            traced_all=kept.traced_all,
            outer=frames.outer([i for i, _ in kept.underlay], names=[n for _, n in kept.underlay]),
        )

    def stalled(self) -> list[tuple[str, str]]:
        """(capture, flow) of each TCP direction with a black hole or a suspected one."""
        holes = self.findings[
            self.findings["kind"].isin([KIND_BLACK_HOLE, KIND_SUSPECTED])
            & (self.findings["side"] != "underlay")  # WireGuard's UDP: no TCP to draw
        ]
        return list(zip(holes["capture"], holes["flow"], strict=True))

    def figures(self) -> list[Figure]:
        """The pictures of the story, in order."""
        shown = []
        with_tcp = [c.name for c in self.report.captures if c.tcp_segments]
        for name in with_tcp[:MAX_CAPTURES_DRAWN]:
            where = f" ({Path(name).name})" if len(self.report.captures) > 1 else ""
            shown += [
                Figure(
                    f"Segment sizes against the MTU thresholds{where}",
                    _sizes_caption(self.segments[self.segments["capture"] == name]),
                    _sizes(self, name),
                ),
                Figure(
                    f"Sizes delivered and lost{where}",
                    "How many segments of each size got through and how many never did.",
                    _histogram(self, name),
                ),
            ]
        for capture, flow in self.stalled()[:MAX_TIME_SEQUENCES]:
            shown.append(
                Figure(
                    f"Time-sequence graph: {flow}",
                    _time_sequence_caption(self, flow, capture),
                    _time_sequence(self, flow, capture),
                )
            )
        if len(self.outer):
            shown.append(
                Figure(
                    "WireGuard messages on the underlay",
                    _outer_caption(self.outer, self.report),
                    lambda ax: plot.outer_sizes(self.outer, report=self.report, ax=ax),
                )
            )
        if int((self.flows["data_packets"] > 0).sum()) >= OVERVIEW_FROM_DIRECTIONS:
            shown.append(
                Figure(
                    "All flows",
                    "Each direction that sent data: its largest delivered packet, and for the "
                    "stalled ones the size that never got through.",
                    lambda ax: plot.flow_overview(self.flows, self.findings, ax=ax),
                )
            )
        return shown

    def to_html(
        self,
        *,
        title: str | None = None,
        draw: Callable[[Sequence[Figure]], list[bytes]] | None = None,
    ) -> str:
        """One self-contained page (pictures embedded): verdict, pictures, evidence, fix.
        `draw` makes the figures' PNGs (`pictures`, one after the other, unless given)."""
        names = ", ".join(Path(c.name).name for c in self.report.captures)
        title = title or f"MTU postmortem: {names}"
        body = [f"<h1>{escape(title)}</h1>", verdict_html(self.report)]
        body.append(fix_html(self.report, heading_level=2))  # what to do, before the why
        if not self.traced_all:
            drawn = self.segments.drop_duplicates(["capture", "flow"])
            with_data = int((self.flows["data_packets"] > 0).sum())
            body.append(
                "<p><em>A large capture: the pictures of segments show the flows that could "
                "hold a finding and, of the others between the same hosts, those with the "
                "fewest segments, "
                f"{len(drawn)} of the {with_data} directions that sent data "
                '(<code>keep="all"</code> or <code>--keep all</code> draws every one, at '
                "the memory it takes).</em></p>"
            )
        figures = self.figures()
        if not figures:
            body.append(
                "<p><em>No pictures: the captures hold no TCP segments, nor WireGuard messages "
                "that could be read again, to draw.</em></p>"
            )
        for figure, drawn in zip(figures, (draw or pictures)(figures), strict=True):
            data = base64.b64encode(drawn).decode("ascii")
            body.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{escape(figure.title)}"'
                ' style="max-width:100%">'
                f"<figcaption><b>{escape(figure.title)}.</b> {escape(figure.caption)}"
                "</figcaption></figure>"
            )
        body.append("<h2>Evidence</h2>")
        body.append(report_html(self.report, verdict=False, fix=False))
        made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        body.append(f"<p><small>pcapmtu {escape(__version__)}, {made}</small></p>")
        return _PAGE.format(title=escape(title), body="\n".join(body))

    def write_html(self, path: str | Path, *, title: str | None = None) -> None:
        output.write_text(path, self.to_html(title=title))


def pictures(figures: Sequence[Figure]) -> list[bytes]:
    """Each figure as PNG bytes, drawn in turn."""
    return [plot.png(figure.draw) for figure in figures]


def locate(
    paths: str | Path | Sequence[str | Path], roots: Sequence[str | Path] = ()
) -> list[Path]:
    """The captures named, as they are found: each path as given (relative to the current
    folder, as a notebook's are), else relative to each of `roots`, else to the repository or
    folder pcapmtu runs from. A capture found nowhere is a `CaptureNotFoundError` that says
    where it looked (one line: notebooks show it so with `%xmode Minimal`)."""
    names = [paths] if isinstance(paths, str | Path) else list(paths)
    bases = [Path.cwd(), *map(Path, roots), Path(__file__).resolve().parent.parent]
    found = []
    for name in map(Path, names):
        tried = [name] if name.is_absolute() else [base / name for base in bases]
        hit = next((p for p in tried if p.is_file()), None)
        if hit is None:
            looked = ", ".join(printable(str(p)) for p in dict.fromkeys(tried))
            raise CaptureNotFoundError(
                f"{printable(str(name))}: no such file (looked for {looked})"
            )
        found.append(hit)
    return found


def postmortem(
    sources: Source | Sequence[Source],
    *,
    names: Sequence[str] | None = None,
    config: DetectConfig | None = None,
    keep: str = "sample",
) -> Postmortem:
    """Analyse the captures (as `analyze` does), keeping the segments and ACKs the pictures
    need as the exact pass reads them (`kept.gather`: of every flow when no more than
    MAX_TRACED_DIRECTIONS directions sent data, MAX_TRACED_SEGMENTS data segments in all, else
    of the flows that could hold a finding and a sample of the others), and make its frames.
    So memory is bounded by what is kept, never the whole capture, unless `keep` is "all":
    every flow, whatever it costs."""
    return Postmortem.of(gather(sources, names=names, config=config, keep=keep))


# Each figure's caption says what its picture holds, and only that.


def _sizes_caption(segments: pd.DataFrame) -> str:
    never = segments[segments["delivered_by"] == "never"]
    text = "Every data segment's IP size over time, by what became of it."
    if not len(never):
        return text + " Every size sent got through."
    sizes = ", ".join(str(v) for v in sorted(set(never["wire_ip_len_bytes"].tolist())))
    resent = " (and sent again)" if (never["retrans_count"] > 0).any() else ""
    return text + f" Never delivered{resent} (red): segments of {sizes} bytes."


def _time_sequence_caption(pm: Postmortem, flow: str, capture: str) -> str:
    acks = pm.acks[(pm.acks["flow"] == flow) & (pm.acks["capture"] == capture)]
    mine = pm.segments[(pm.segments["flow"] == flow) & (pm.segments["capture"] == capture)]
    parts = ["data sent (blue)"]
    if (mine["retrans_count"] > 0).any():
        parts.append("sent again (red)")
    if len(acks):
        parts.append("the cumulative ACK (green)")
    if len(acks) and acks["sack_blocks"].map(len).gt(0).any():
        parts.append("in purple the bytes the receiver reported holding beyond a gap (SACK)")
    return f"In {Path(capture).name}: " + ", ".join(parts) + "."


def _outer_caption(outer: pd.DataFrame, report: Report) -> str:
    parts = ["Each WireGuard transport message's outer IP size over time"]
    if outer["delivered"].notna().any():
        parts.append("delivered or lost, as both ends' captures tell it")
    else:
        parts.append("its fate unknown (one end's capture)")
    if (outer["fragments"] > 1).any():
        parts.append("those sent in IP fragments marked")
    text = "; ".join(parts)
    if report.recommendation is not None:
        text += "; against what the underlay path carries and what the MTU to set lets through"
    return text + "."


# Each figure's drawing, bound to its own capture and flow (a lambda in a loop would not be).
def _sizes(pm: Postmortem, capture: str) -> Callable[[Axes], Axes]:
    return lambda ax: plot.segment_sizes(pm.segments, report=pm.report, capture=capture, ax=ax)


def _histogram(pm: Postmortem, capture: str) -> Callable[[Axes], Axes]:
    return lambda ax: plot.size_histogram(pm.segments, report=pm.report, capture=capture, ax=ax)


def _time_sequence(pm: Postmortem, flow: str, capture: str) -> Callable[[Axes], Axes]:
    return lambda ax: plot.time_sequence(pm.segments, pm.acks, flow=flow, capture=capture, ax=ax)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em;
       line-height: 1.4; color: #222; }}
figure {{ margin: 1.5em 0; }}
figcaption {{ font-size: 0.9em; color: #444; }}
pre {{ background: #f6f6f6; padding: 0.6em; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
