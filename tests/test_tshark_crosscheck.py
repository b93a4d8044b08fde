"""Per flow, pcapmtu's retransmission counts agree with Wireshark's TCP analysis (tshark).

Wireshark flags a re-sent segment `tcp.analysis.retransmission` (or `fast_retransmission`,
`spurious_retransmission`), except when it follows the previous segment within the initial
RTT: then it guesses `out_of_order`. A sender never reorders its own bytes, and pcapmtu counts
every segment that re-sends bytes below the highest one already sent, so the comparison is
with all four flags. (Found on healthy-random-loss.pcap, frame 557: re-sent 0.4 ms after the
previous segment, with an iRTT of 0.375 ms.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from pcapmtu import analyze
from tests.conftest import SAMPLES

WIRESHARK_FILTER = (
    "tcp.analysis.retransmission || tcp.analysis.fast_retransmission || "
    "tcp.analysis.spurious_retransmission || tcp.analysis.out_of_order"
)
CAPTURES = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".pcap", ".pcapng"))


def _tshark_counts(path: Path) -> Counter[tuple[str, int, str, int]]:
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-Y",
            WIRESHARK_FILTER,
            "-T",
            "fields",
            "-E",
            "occurrence=l",  # the innermost address of a tunnelled packet (VXLAN, GRE)
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
            "-e",
            "tcp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "ipv6.dst",
            "-e",
            "tcp.dstport",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    counts: Counter[tuple[str, int, str, int]] = Counter()
    for line in out.splitlines():
        src4, src6, sport, dst4, dst6, dport = line.split("\t")
        # -i any captures hold each packet once: on wg0 (inner) only the TCP is visible
        counts[(src4 or src6, int(sport), dst4 or dst6, int(dport))] += 1
    return counts


@pytest.fixture
def tshark_ready() -> None:
    """Skip where tshark is missing, except in CI, which installs it: there it is a failure."""
    if shutil.which("tshark") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the tshark cross-check, but tshark is not installed")
        pytest.skip("tshark is not installed")


@pytest.mark.usefixtures("tshark_ready")
@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_retransmissions_per_flow_match_tshark(path: Path) -> None:
    report = json.loads(analyze(path).to_json())
    ours = {
        (f["flow"]["src"], f["flow"]["sport"], f["flow"]["dst"], f["flow"]["dport"]): f[
            "retransmissions"
        ]
        for f in report["flows"]
        if f["retransmissions"]
    }
    assert ours == dict(_tshark_counts(path))
