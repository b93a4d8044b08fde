"""What a postmortem keeps of its captures: the report, the segments and ACKs its pictures
draw, and the captures to read again for WireGuard's messages. Without pandas or matplotlib:
`pcapmtu report` draws its page from it (`page.html`), and `postmortem.Postmortem.of` turns it
into frames for notebooks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from pcapmtu.analysis import CaptureTrace, TraceRequest, analyze_and_trace
from pcapmtu.capture import Source
from pcapmtu.detect import DetectConfig
from pcapmtu.errors import UsageError
from pcapmtu.report import Report

# Past this many directions with data, or data segments, segments are kept only for the flows
# that could hold a finding and a sample of the others (`TraceRequest`): a gigabyte capture's
# every segment would not fit in memory, nor in a picture.
MAX_TRACED_DIRECTIONS = 64
# of all (or the sample): about 4 MB of memory; each costs the exact pass (about 25 us) and
# the pictures' drawing, so more would make a report slow, not clearer
MAX_TRACED_SEGMENTS = 10_000
KEEP_CHOICES = ("sample", "all")


@dataclass(frozen=True)
class Kept:
    """One analysis, with what its pictures are drawn from."""

    report: Report
    traces: list[CaptureTrace]
    traced_all: bool  # False: segments and ACKs of the flows with findings and of a sample
    # (capture, its name) of each capture holding WireGuard sessions that can be read again
    underlay: Sequence[tuple[Source, str]]


def gather(
    sources: Source | Sequence[Source],
    *,
    names: Sequence[str] | None = None,
    config: DetectConfig | None = None,
    keep: str = "sample",
) -> Kept:
    """Analyse the captures (as `analyze` does), keeping the segments and ACKs the pictures
    need as the exact pass reads them: of every flow when no more than MAX_TRACED_DIRECTIONS
    directions sent data, MAX_TRACED_SEGMENTS data segments in all, else of the flows that
    could hold a finding and, of the others between the same hosts, those with the fewest
    segments while they add up to no more than MAX_TRACED_SEGMENTS. So memory
    is bounded by what is kept, never the whole capture, unless `keep` is "all": every flow,
    whatever it costs."""
    if keep not in KEEP_CHOICES:
        raise UsageError(f"keep={keep!r}: 'sample' or 'all'")
    request = TraceRequest(MAX_TRACED_DIRECTIONS, MAX_TRACED_SEGMENTS, keep)
    report, traces = analyze_and_trace(
        sources, names=names, config=config or DetectConfig(), traced=request
    )
    items: list[Source] = list(sources) if isinstance(sources, list | tuple) else [sources]  # type: ignore[list-item]
    holding = {x.capture for x in report.sessions}
    # read again for their messages: files and bytes (stdin and file objects were read once)
    underlay = [
        (item, c.name)
        for item, c in zip(items, report.captures, strict=True)
        if c.name in holding
        and isinstance(item, str | os.PathLike | bytes | bytearray)
        and item != "-"
    ]
    return Kept(report, traces, request.every_flow(f.facts for f in report.flows), underlay)
