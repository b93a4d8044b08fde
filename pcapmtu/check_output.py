"""The results of `pcapmtu check` for people and for CI: a summary line, versioned JSON, and
JUnit XML (one test case per capture), which CI dashboards (GitHub, GitLab, Jenkins) show."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from pcapmtu.check import ERROR, FAIL, PASS, CheckResult, affected_flows, brackets
from pcapmtu.model import plural
from pcapmtu.version import __version__

SCHEMA_VERSION = 1
SUITE_NAME = "pcapmtu check"


def summary(results: Sequence[CheckResult]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in (PASS, FAIL, ERROR)}
    parts = [f"{counts[PASS]} passed"]
    parts += [f"{counts[FAIL]} failed"] if counts[FAIL] else []
    parts += [f"{counts[ERROR]} could not be read"] if counts[ERROR] else []
    return f"{plural(len(results), 'capture')}: {', '.join(parts)}"


def to_dict(results: Sequence[CheckResult]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pcapmtu", "version": __version__},
        "passed": sum(r.status == PASS for r in results),
        "failed": sum(r.status == FAIL for r in results),
        "errors": sum(r.status == ERROR for r in results),
        "results": [_result(r) for r in results],
    }


def _result(r: CheckResult) -> dict[str, Any]:
    report = r.report
    return {
        "capture": r.capture,
        "status": r.status,
        "problems": list(r.problems),
        "expected": r.expectation.to_dict(),
        "got": None
        if report is None
        else {
            "verdict": report.verdict,
            "summary": report.summary(),
            "affected_flows": affected_flows(report),
            "brackets": [{"min": low, "max": high} for low, high in brackets(report)],
            "wireguard_mtu": report.recommendation.wireguard_mtu if report.recommendation else None,
        },
        "warnings": list(r.warnings),
        "seconds": round(r.seconds, 3),
    }


def junit_xml(results: Sequence[CheckResult]) -> str:
    """JUnit XML: a suite, one test case per capture, a <failure> for a mismatch and an
    <error> for a capture that could not be read; the report's summary in <system-out>."""
    counts = {
        "tests": str(len(results)),
        "failures": str(sum(r.status == FAIL for r in results)),
        "errors": str(sum(r.status == ERROR for r in results)),
        "skipped": "0",
        "time": f"{sum(r.seconds for r in results):.3f}",
    }
    root = ET.Element("testsuites", {"name": SUITE_NAME, **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": SUITE_NAME,
            **counts,
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": "pcapmtu.check",
                "name": r.capture,
                "file": r.capture,
                "time": f"{r.seconds:.3f}",
            },
        )
        if r.status == FAIL:
            failure = ET.SubElement(case, "failure", {"message": r.problems[0], "type": "mismatch"})
            failure.text = (
                "\n".join(r.problems)
                + f"\nexpected ({r.expectation.source}): "
                + (r.expectation.describe())
            )
        elif r.status == ERROR:
            error = ET.SubElement(case, "error", {"message": r.problems[0], "type": "unreadable"})
            error.text = "\n".join(r.problems)
        if r.report is not None:
            ET.SubElement(case, "system-out").text = r.report.render_text()
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
