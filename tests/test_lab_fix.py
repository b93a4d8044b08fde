"""The MTU pcapmtu recommends works (issue 11, point 5): in the real lab, every black-hole
sample scenario is run, its captures analysed, and the scenario run again with the recommended
MTU on both peers; the transfer must complete (Linux, root). The assertion is the client's own
outcome, not the analyser's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pcapmtu import analyze
from pcapmtu.lab import Scenario, run_scenario
from pcapmtu.lab.samples import SAMPLES, Sample

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_ready")]
TIMEOUT_S = 4.0  # long enough for four RTO back-offs of the lost segment
# Captures that cannot prove the size is the cause, so there is no recommendation to apply
# (inconclusive, as their golden cases say): an upload, seen at its sender only full-size
# segments stalling and at its receiver nothing (from the start, or begun late); two services
# whose every segment is full-size, both stalling; a receiver's capture begun after the SYN
# (no MSS: the lost packet's size is not known, however long it runs).
NO_RECOMMENDATION = {"upload", "upload-late", "mss-clamped-too-little", "late-and-early"}
# Both ends' underlays captured late: whether the proxy's capture shows it running while enough
# copies were sent depends on what else crosses its interface just then (and this test's
# shorter timeout leaves fewer copies), so a run may be inconclusive; their fix is the one
# underlay-both-ends tests here.
LATE_UNDERLAYS = {"underlay-late", "underlay-late-ipv6"}
# Transfers that fail for another reason than the MTU: a path that carries nothing, a client
# that stops reading (their golden cases say clean, and what they are), and a path that stops
# carrying anything in the middle of a transfer (inconclusive: from the capture, an outage and
# an MTU that fell look the same; no MTU fixes an outage).
NOT_MTU = {"outage", "outage-bulk", "outage-upload", "stalled-reader"}
BROKEN = [
    s
    for s in SAMPLES
    if not s.complete and s.name not in NO_RECOMMENDATION | NOT_MTU | LATE_UNDERLAYS
]
MORE = {
    "wg 1440 over a 1492-byte path (PPPoE)": Scenario(
        path_mtu=1492, wg_mtu_home=1440, wg_mtu_proxy=1440, timeout_s=TIMEOUT_S
    ),
}


def _fixed_by_the_recommendation(scenario: Scenario, tmp_path: Path) -> None:
    broken = run_scenario(scenario, tmp_path / "broken.pcap")
    assert broken.outcome.complete is False
    report = analyze([c.path for c in broken.captures])
    assert report.verdict == "black_hole", report.summary()
    r = report.recommendation
    assert r is not None
    fix = r.mtu if scenario.outer == r.outer_version_assumed else r.other_underlay[0]
    assert fix <= r.max_mtu
    path = scenario.event_path_mtu if scenario.path_event == "mtu" else scenario.path_mtu
    overhead = r.tunnel.overhead(scenario.outer)
    if r.basis == "conservative" and path is not None and fix + overhead > path:
        # A path too small for the conservative value, which the capture cannot rule out (the
        # MTU fell to 1300 in `underlay-falls-bulk`): the advice says it works on paths that
        # carry fix + overhead bytes, and its confirm ping, a packet that large, gets no answer
        # here; lowering -s until it answers, as it says, finds path - overhead.
        assert r.confirm is not None and f"a {fix + overhead}-byte packet" in r.confirm
        fix = path - overhead
    fixed = run_scenario(
        replace(scenario, wg_mtu_home=fix, wg_mtu_proxy=fix), tmp_path / "fixed.pcap"
    )
    assert fixed.outcome.complete is True, (fix, r.basis)
    assert fixed.outcome.bytes_received == fixed.outcome.bytes_expected


@pytest.mark.parametrize("sample", BROKEN, ids=[s.name for s in BROKEN])
def test_the_recommended_mtu_fixes_every_black_hole_sample(sample: Sample, tmp_path: Path) -> None:
    _fixed_by_the_recommendation(replace(sample.scenario, timeout_s=TIMEOUT_S), tmp_path)


@pytest.mark.parametrize("scenario", MORE.values(), ids=list(MORE))
def test_the_recommended_mtu_fixes_other_paths(scenario: Scenario, tmp_path: Path) -> None:
    _fixed_by_the_recommendation(scenario, tmp_path)


FRAGMENTING = [s for s in SAMPLES if s.scenario.icmp == "allowed"]


@pytest.mark.parametrize("sample", FRAGMENTING, ids=[s.name for s in FRAGMENTING])
def test_the_advised_mtu_ends_the_fragmenting(sample: Sample, tmp_path: Path) -> None:
    """ICMP allowed: the transfer completes in fragments; with the MTU advised, it completes
    with no WireGuard message fragmented and no ICMP too-big (the router had nothing to
    refuse)."""
    from pcapmtu.detect import KIND_FRAGMENTED, KIND_TOO_BIG

    scenario = replace(sample.scenario, captures=("home-underlay",), timeout_s=TIMEOUT_S)
    before = run_scenario(scenario, tmp_path / "before.pcap")
    report = analyze([c.path for c in before.captures])
    kinds = {f.kind for f in report.findings}
    assert before.outcome.complete and {KIND_FRAGMENTED, KIND_TOO_BIG} <= kinds
    r = report.recommendation
    assert r is not None and r.outer_version_assumed == scenario.outer
    after = run_scenario(
        replace(scenario, wg_mtu_home=r.mtu, wg_mtu_proxy=r.mtu), tmp_path / "after.pcap"
    )
    assert after.outcome.complete is True
    kinds = {f.kind for f in analyze([c.path for c in after.captures]).findings}
    assert not kinds & {KIND_FRAGMENTED, KIND_TOO_BIG}, kinds
