"""The report as HTML: the fragment Jupyter shows for a `Report`, and the body of the
postmortem page. The same words as the text report (its fix block is the text report's own),
laid out as headings and tables. Inline styles only: notebooks strip style sheets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import TYPE_CHECKING

from pcapmtu import linktypes
from pcapmtu.detect import (
    KIND_BLACK_HOLE,
    KIND_FRAGMENTED,
    KIND_MSS_CLAMPED,
    KIND_PATH_DOWN,
    KIND_SUSPECTED,
    KIND_TOO_BIG,
    KIND_ZERO_WINDOW,
    VERDICT_BLACK_HOLE,
    Finding,
)
from pcapmtu.model import flow_text, format_address, plural

if TYPE_CHECKING:  # the report is drawn here and shows itself with this module (`_repr_html_`)
    from pcapmtu.report import Report

VERDICT_COLOURS = {"black_hole": "#b00020", "inconclusive": "#8a6d00", "clean": "#1b5e20"}
_TITLES = {
    KIND_BLACK_HOLE: "Black hole",
    KIND_SUSPECTED: "Suspected black hole",
    KIND_MSS_CLAMPED: "MSS clamped",
    KIND_TOO_BIG: "ICMP too-big",
    KIND_FRAGMENTED: "Fragmented (the tunnel works only thanks to fragmentation)",
    KIND_PATH_DOWN: "Path down (not an MTU problem)",
    KIND_ZERO_WINDOW: "Zero window (the receiver stopped reading)",
}
NONE = "\u2013"  # an empty cell: an en dash (by number: a named escape imports unicodedata)
_TABLE = 'style="border-collapse:collapse;margin:0.3em 0 0.8em 0;font-size:0.95em"'
_CELL = 'style="border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top"'


def fix_html(report: Report, heading_level: int = 3) -> str:
    """The fix (or advice) alone: its heading and text; empty when there is none."""
    fix = report.fix_text()
    if not fix:
        return ""
    h = f"h{heading_level}"
    title = "Fix" if report.verdict == VERDICT_BLACK_HOLE else "Advice"
    return f'<{h}>{title}</{h}>\n<pre style="white-space:pre-wrap">{escape(fix)}</pre>'


def report_html(
    report: Report, *, heading_level: int = 3, verdict: bool = True, fix: bool = True
) -> str:
    """The whole report: verdict, findings with their evidence, paths, the fix, what to check
    next, and the captures read. `heading_level` fits it under the page's own headings;
    `verdict=False` and `fix=False` leave out the verdict line and the fix, for a page that
    shows them above."""
    h = f"h{heading_level}"
    parts = [verdict_html(report)] if verdict else []
    for f in report.findings:
        parts.append(f"<{h}>{escape(_finding_title(f))}</{h}>")
        parts.append(finding_html(f))
    holed = [p for p in report.paths if p.smallest_dropped is not None]
    if holed:
        parts.append(f"<{h}>Paths: the largest inner IP packet that gets through</{h}>")
        parts.append(
            _table(
                ("path", "IP", "largest delivered", "smallest lost", "fits at most", "tunnel MTU"),
                [
                    (
                        f"{format_address(p.src)} → {format_address(p.dst)}",
                        f"IPv{p.ip_version}",
                        _bytes(p.largest_delivered),
                        _bytes(p.smallest_dropped),
                        _bytes(p.fits_max),
                        _bytes(p.tunnel_mtu),
                    )
                    for p in holed
                ],
            )
        )
    if fix and report.fix_text():
        parts.append(fix_html(report, heading_level))
    if report.sessions:
        parts.append(f"<{h}>WireGuard on the underlay</{h}>")
        parts.append(underlay_html(report))
    parts.append(f"<{h}>What to check next</{h}>")
    parts.append("<ol>" + "".join(f"<li>{escape(s)}</li>" for s in report.next_steps()) + "</ol>")
    parts.append(f"<{h}>Captures</{h}>")
    parts.append(captures_html(report))
    return '<div class="pcapmtu-report">' + "\n".join(parts) + "</div>"


def verdict_html(report: Report) -> str:
    colour = VERDICT_COLOURS.get(report.verdict, "#000")
    decide, caution = report.to_decide(), report.caution()
    return (
        f'<p class="pcapmtu-verdict" style="font-weight:bold;font-size:1.1em;color:{colour}">'
        f"{escape(report.summary())}</p>"
        + (f"<p><b>To decide it:</b> {escape(decide)}.</p>" if decide else "")
        + (f"<p><b>Caution:</b> {escape(caution)}.</p>" if caution else "")
    )


def finding_html(f: Finding, *, evidence_shown: int = 12) -> str:
    facts = [
        ("flow", f"{flow_text(f.src, f.sport, f.dst, f.dport)} (IPv{f.ip_version})"),
        (
            "capture",
            f"{f.capture}, taken at the {f.side}"
            + (", one direction only" if f.one_direction else ""),
        ),
        ("lost size", _bytes(f.dropped_ip_len)),
        ("largest delivered after it", _bytes(f.largest_delivered_ip_len)),
        ("full-size copies sent", str(f.transmissions) if f.transmissions else NONE),
        (
            "recovered",
            f"after {f.recovered.after_s:.1f} s, by {f.recovered.by.replace('_', ' ')}"
            if f.recovered
            else "no",
        ),
    ]
    if f.too_soon_s is not None:
        facts.append(("capture ends after the loss", f"{f.too_soon_s:.3f} s: too soon to tell"))
    if f.mss is not None:
        facts.append(("MSS", str(f.mss)))
    if f.icmp_mtu is not None:
        facts.append(("next-hop MTU (ICMP)", _bytes(f.icmp_mtu)))
    parts = [_table(None, facts)]
    if f.evidence:
        shown = f.evidence[:evidence_shown]
        if all(e.capture == f.capture for e in shown):
            parts.append(_table(("frame", "what"), [(str(e.frame), e.what) for e in shown]))
        else:
            rows = [(str(e.frame), e.capture, e.what) for e in shown]
            parts.append(_table(("frame", "capture", "what"), rows))
        if len(f.evidence) > len(shown):
            parts.append(f"<p>… and {len(f.evidence) - len(shown)} more (see the JSON)</p>")
    return "\n".join(parts)


def underlay_html(report: Report) -> str:
    """The tunnels the underlay captures show, per endpoint pair and receiver index."""
    rows = [
        (
            flow_text(x.src, x.sport, x.dst, x.dport),
            f"{x.receiver:#010x}" if x.receiver is not None else "handshake",
            x.capture,
            str(x.messages),
            str(x.keepalives) if x.receiver is not None else NONE,
            f"{x.largest_inner} / {x.largest_outer}" if x.receiver is not None else NONE,
            str(x.fragmented) if x.fragmented else NONE,
            f"{x.too_big} (next hop {x.too_big_mtu})" if x.too_big else NONE,
        )
        for x in report.sessions
    ]
    head = (
        "outer UDP",
        "receiver",
        "capture",
        "messages",
        "keepalives",
        "largest inner (padded) / outer",
        "fragmented",
        "ICMP too-big",
    )
    table = _table(head, rows)
    if report.ties:
        table += (
            f"<p>{plural(len(report.ties), 'inner packet')} tied to the message that carried it "
            "(by time and padded size); the evidence shows those it names.</p>"
        )
    return table


def captures_html(report: Report) -> str:
    rows = [
        (
            c.name,
            c.format + (" (gzip)" if c.compression else ""),
            str(c.packets),
            str(c.tcp_segments),
            ", ".join(f"{linktypes.name(lt)} ({lt})" for lt in sorted(c.link_types)) or NONE,
            "; ".join(c.warnings) or NONE,
        )
        for c in report.captures
    ]
    return _table(("capture", "format", "packets", "TCP segments", "link type", "warnings"), rows)


def _finding_title(f: Finding) -> str:
    """The kind and the flow with its ports: two flows between the same hosts differ."""
    return f"{_TITLES.get(f.kind, f.kind)}: {flow_text(f.src, f.sport, f.dst, f.dport)}"


def _bytes(n: int | None) -> str:
    return f"{n} bytes" if n is not None else NONE


def _table(head: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> str:
    out = [f"<table {_TABLE}>"]
    if head is not None:
        out.append("<tr>" + "".join(f"<th {_CELL}>{escape(c)}</th>" for c in head) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td {_CELL}>{escape(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "".join(out)
