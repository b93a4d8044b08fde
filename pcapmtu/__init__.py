"""pcapmtu: find MTU black holes in packet captures, and reproduce them in a lab.

The public API; the command line and notebooks use only this:

    report = pcapmtu.analyze("capture.pcap")
    print(report.render_text())

    result = pcapmtu.probe("10.0.0.2")  # the live path: root, or ping_group_range
    print(result.render_text())

For notebooks, `pcapmtu.frames` (pandas), `pcapmtu.plot` (matplotlib) and
`pcapmtu.postmortem` (all of it, and the HTML page) build on it; they are imported only when
asked for.
"""

from pcapmtu.analysis import CaptureTrace, analyze, trace
from pcapmtu.detect import DetectConfig, Evidence, Finding, Recovery
from pcapmtu.errors import (
    CaptureError,
    CaptureNotFoundError,
    CaptureWarning,
    CorruptCaptureError,
    EmptyCaptureError,
    InterruptedCaptureWarning,
    NotACaptureError,
    PcapmtuError,
    TruncatedCaptureWarning,
    UndecodablePacketWarning,
    UnknownLinkTypeWarning,
)
from pcapmtu.model import DirectionFacts, FlowKey
from pcapmtu.mtu import Recommendation
from pcapmtu.probing import PathSilent, ProbeResult, ProbeSocketError, probe
from pcapmtu.report import CaptureReport, FlowReport, PathReport, Report
from pcapmtu.version import __version__

__all__ = [
    "CaptureError",
    "CaptureNotFoundError",
    "CaptureReport",
    "CaptureTrace",
    "CaptureWarning",
    "CorruptCaptureError",
    "DetectConfig",
    "DirectionFacts",
    "EmptyCaptureError",
    "Evidence",
    "Finding",
    "FlowKey",
    "FlowReport",
    "InterruptedCaptureWarning",
    "NotACaptureError",
    "PathReport",
    "PathSilent",
    "PcapmtuError",
    "ProbeResult",
    "ProbeSocketError",
    "Recommendation",
    "Recovery",
    "Report",
    "TruncatedCaptureWarning",
    "UndecodablePacketWarning",
    "UnknownLinkTypeWarning",
    "__version__",
    "analyze",
    "probe",
    "trace",
]
