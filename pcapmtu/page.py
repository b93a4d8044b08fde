"""The page `pcapmtu report` writes and `Postmortem.to_html` returns: the verdict, the fix, the
pictures (`charts.figures`, drawn as SVG by `svg.py`), and the evidence, in one self-contained
HTML file.

It is made from what an analysis kept (`kept.gather`), without pandas or matplotlib: their
import alone took longer than analysing a gigabyte, so the page costs what the analysis costs
and a few hundredths of a second more.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from pcapmtu import svg
from pcapmtu.charts import MessageRow, direction_rows, figures
from pcapmtu.kept import Kept
from pcapmtu.report_html import fix_html, report_html, verdict_html
from pcapmtu.version import __version__


def html(kept: Kept, title: str | None = None, messages: Sequence[MessageRow] | None = None) -> str:
    """One self-contained page (pictures inline): verdict, fix, pictures, evidence.
    `messages`: the WireGuard messages drawn, when the caller has read them already
    (`charts.figures`)."""
    report = kept.report
    names = ", ".join(Path(c.name).name for c in report.captures)
    title = title or f"MTU postmortem: {names}"
    body = [f"<h1>{escape(title)}</h1>", verdict_html(report)]
    body.append(fix_html(report, heading_level=2))  # what to do, before the why
    if not kept.traced_all:
        drawn = {(t.name, c.flow) for t in kept.traces for c in t.trace.segments}
        with_data = len(direction_rows(report))
        body.append(
            "<p><em>A large capture: the pictures of segments show the flows that could "
            "hold a finding and, of the others between the same hosts, those with the "
            "fewest segments, "
            f"{len(drawn)} of the {with_data} directions that sent data "
            '(<code>keep="all"</code> or <code>--keep all</code> draws every one, at '
            "the memory it takes).</em></p>"
        )
    charts = figures(kept, messages)
    if not charts:
        body.append(
            "<p><em>No pictures: the captures hold no TCP segments, nor WireGuard messages "
            "that could be read again, to draw.</em></p>"
        )
    for chart in charts:
        body.append(
            f"<figure>{svg.svg(chart)}"
            f"<figcaption><b>{escape(chart.title)}.</b> {escape(chart.caption)}"
            "</figcaption></figure>"
        )
    body.append("<h2>Evidence</h2>")
    body.append(report_html(report, verdict=False, fix=False))
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body.append(f"<p><small>pcapmtu {escape(__version__)}, {made}</small></p>")
    return _PAGE.format(title=escape(title), body="\n".join(body))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em;
       line-height: 1.4; color: #222; }}
figure {{ margin: 1.5em 0; }}
figure svg {{ display: block; }}
figcaption {{ font-size: 0.9em; color: #444; }}
pre {{ background: #f6f6f6; padding: 0.6em; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
