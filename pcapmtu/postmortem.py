"""A postmortem in one object: the report, the frames behind its pictures, and one
self-contained HTML page telling the story (what `pcapmtu report` writes). The notebook
`notebooks/postmortem.ipynb` tells the same story step by step with the same calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pcapmtu import frames, output, page
from pcapmtu.capture import Source
from pcapmtu.charts import Chart, figures, stalled
from pcapmtu.detect import DetectConfig
from pcapmtu.errors import CaptureNotFoundError
from pcapmtu.kept import Kept, gather
from pcapmtu.model import printable
from pcapmtu.report import Report


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
    outer: pd.DataFrame
    kept: Kept  # what the analysis kept: the page is drawn from it

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
            kept=kept,
        )

    def stalled(self) -> list[tuple[str, str]]:
        """(capture, flow) of each TCP direction with a black hole or a suspected one."""
        return stalled(self.report)

    def figures(self) -> list[Chart]:
        """The pictures of the story, in order, as the page draws them (`charts.Chart`: the
        notebooks draw the same with `plot`)."""
        return figures(self.kept, frames.message_rows(self.outer))

    def to_html(self, *, title: str | None = None) -> str:
        """One self-contained page (pictures inline, as SVG): verdict, fix, pictures,
        evidence; the page `pcapmtu report` writes."""
        return page.html(self.kept, title, frames.message_rows(self.outer))

    def write_html(self, path: str | Path, *, title: str | None = None) -> None:
        output.write_text(path, self.to_html(title=title))


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
