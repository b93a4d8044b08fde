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

import importlib as _importlib

# typing.TYPE_CHECKING without loading typing, which would delay the command's Ctrl-C handler
# (`start`); type checkers take a name TYPE_CHECKING as true
TYPE_CHECKING = False
if TYPE_CHECKING:  # the names, for type checkers; at run time they load when first used
    from typing import Any as _Any

    from pcapmtu.analysis import CaptureTrace, analyze, trace
    from pcapmtu.capture.continued import Continued, continued
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
del TYPE_CHECKING

# Where each public name lives: imported on first use (PEP 562), so that `import pcapmtu`
# costs next to nothing and the command line can take Ctrl-C from its first moment.
_WHERE = {
    "CaptureError": "pcapmtu.errors",
    "CaptureNotFoundError": "pcapmtu.errors",
    "CaptureReport": "pcapmtu.report",
    "CaptureTrace": "pcapmtu.analysis",
    "CaptureWarning": "pcapmtu.errors",
    "Continued": "pcapmtu.capture.continued",
    "CorruptCaptureError": "pcapmtu.errors",
    "DetectConfig": "pcapmtu.detect",
    "DirectionFacts": "pcapmtu.model",
    "EmptyCaptureError": "pcapmtu.errors",
    "Evidence": "pcapmtu.detect",
    "Finding": "pcapmtu.detect",
    "FlowKey": "pcapmtu.model",
    "FlowReport": "pcapmtu.report",
    "InterruptedCaptureWarning": "pcapmtu.errors",
    "NotACaptureError": "pcapmtu.errors",
    "PathReport": "pcapmtu.report",
    "PathSilent": "pcapmtu.probing",
    "PcapmtuError": "pcapmtu.errors",
    "ProbeResult": "pcapmtu.probing",
    "ProbeSocketError": "pcapmtu.probing",
    "Recommendation": "pcapmtu.mtu",
    "Recovery": "pcapmtu.detect",
    "Report": "pcapmtu.report",
    "TruncatedCaptureWarning": "pcapmtu.errors",
    "UndecodablePacketWarning": "pcapmtu.errors",
    "UnknownLinkTypeWarning": "pcapmtu.errors",
    "__version__": "pcapmtu.version",
    "analyze": "pcapmtu.analysis",
    "continued": "pcapmtu.capture.continued",
    "probe": "pcapmtu.probing",
    "trace": "pcapmtu.analysis",
}


def __getattr__(name: str) -> "_Any":  # (a string: _Any exists for type checkers only)
    if name in _WHERE:
        value = getattr(_importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pcapmtu' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "CaptureError",
    "CaptureNotFoundError",
    "CaptureReport",
    "CaptureTrace",
    "CaptureWarning",
    "Continued",
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
    "continued",
    "probe",
    "trace",
]
