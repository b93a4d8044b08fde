"""The MTU pcapmtu recommends works (issue 11, point 5): in the real lab, each black hole is
captured, analysed, and run again with the recommended MTU on both peers; the transfer must
complete (Linux, root). The assertion is the client's own outcome, not the analyser's."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcapmtu import analyze
from pcapmtu.lab import Scenario, run_scenario

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_ready")]
TIMEOUT_S = 4.0  # long enough for four RTO back-offs of the lost segment

BLACK_HOLES = {
    "the incident: wg 1420 over a 1400-byte path": Scenario(timeout_s=TIMEOUT_S),
    "still broken at wg 1380": Scenario(wg_mtu_home=1380, wg_mtu_proxy=1380, timeout_s=TIMEOUT_S),
    "IPv6 underlay": Scenario(outer=6, timeout_s=TIMEOUT_S),
    "wg 1440 over a 1492-byte path (PPPoE)": Scenario(
        path_mtu=1492, wg_mtu_home=1440, wg_mtu_proxy=1440, timeout_s=TIMEOUT_S
    ),
}


@pytest.mark.parametrize("scenario", BLACK_HOLES.values(), ids=list(BLACK_HOLES))
def test_the_recommended_mtu_delivers(scenario: Scenario, tmp_path: Path) -> None:
    broken = run_scenario(scenario, tmp_path / "broken.pcap")
    assert broken.outcome.complete is False
    report = analyze(tmp_path / "broken.pcap")
    assert report.verdict == "black_hole" and report.recommendation is not None
    r = report.recommendation
    fix = r.wireguard_mtu if scenario.outer == r.outer_version_assumed else r.other_underlay[0]
    assert fix <= r.max_mtu
    fixed = run_scenario(
        Scenario(
            path_mtu=scenario.path_mtu,
            outer=scenario.outer,
            wg_mtu_home=fix,
            wg_mtu_proxy=fix,
            response_bytes=scenario.response_bytes,
            timeout_s=TIMEOUT_S,
        ),
        tmp_path / "fixed.pcap",
    )
    assert fixed.outcome.complete is True, (fix, r.basis)
    assert fixed.outcome.bytes_received == fixed.outcome.bytes_expected
