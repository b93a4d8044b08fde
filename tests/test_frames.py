"""The pandas views: declared columns and dtypes, and rows that agree with the report."""

from __future__ import annotations

import pandas as pd
import pytest

import pcapmtu
from pcapmtu import frames
from tests import synthetic
from tests.conftest import SAMPLES

INCIDENT = SAMPLES / "incident.home-wg0.pcap"
DECLARED = frames.COLUMNS


def _all_frames(source: object) -> dict[str, pd.DataFrame]:
    report = pcapmtu.analyze(source)  # type: ignore[arg-type]
    traced = pcapmtu.trace(source)  # type: ignore[arg-type]
    return {
        "segments": frames.segments(traced),
        "acks": frames.acks(traced),
        "flows": frames.flows(report),
        "findings": frames.findings(report),
        "evidence": frames.evidence(report),
        "too_big": frames.too_big(report),
    }


@pytest.mark.parametrize(
    "capture", ["incident.home-wg0.pcap", "icmp-allowed.home-underlay.pcap", "inner-ipv6.pcap"]
)
def test_every_frame_has_its_declared_columns_and_dtypes(capture: str) -> None:
    for name, frame in _all_frames(SAMPLES / capture).items():
        assert dict(frame.dtypes.astype(str)) == DECLARED[name], name


def test_an_empty_capture_gives_empty_frames_with_the_same_columns() -> None:
    empty = synthetic.pcap([])  # SYNTHETIC: a pcap header and no packets
    for name, frame in _all_frames(empty).items():
        assert len(frame) == 0, name
        assert dict(frame.dtypes.astype(str)) == DECLARED[name], name


def test_segments_of_the_incident_tell_which_copies_never_arrived() -> None:
    segments = frames.segments(pcapmtu.trace(INCIDENT))
    response = segments[segments["flow"] == "198.19.0.1:8080 -> 198.19.0.2:60378"]
    full = response[response["wire_ip_len_bytes"] == 1420]
    assert len(full) == 7  # the first copy and six retransmissions, as the report counts
    assert set(full["delivered_by"]) == {"never"}
    assert list(full["retrans_count"]) == list(range(7))
    assert (full["seq_start"] == 1).all() and (full["seq_end"] == 1369).all()
    small = response[response["wire_ip_len_bytes"] == 444]
    assert list(small["delivered_by"]) == ["sack"]  # the receiver SACKed it beyond the gap
    assert (segments["ts_s"] >= 0).all() and segments["ts_s"].is_monotonic_increasing
    assert str(segments["time"].dt.tz) == "UTC"
    first = pcapmtu.analyze(INCIDENT).captures[0].first_ts
    assert first is not None
    gap = (segments["time"] - pd.Timestamp(first, unit="s", tz="UTC")).dt.total_seconds()
    assert (gap - segments["ts_s"]).abs().max() < 1e-6


def test_bytes_resent_in_smaller_packets_leave_the_full_size_copies_never_delivered() -> None:
    segments = frames.segments(pcapmtu.trace(SAMPLES / "mtu-probing.pcap"))
    full = segments[segments["wire_ip_len_bytes"] == 1420]
    assert set(full["delivered_by"]) == {"never"}
    pieces = segments[(segments["retrans_count"] > 0) & (segments["wire_ip_len_bytes"] < 1420)]
    assert len(pieces) >= 2 and set(pieces["delivered_by"]) <= {"ack", "sack"}


def test_a_lost_and_resent_copy_is_resent_and_its_retransmission_delivered() -> None:
    segments = frames.segments(pcapmtu.trace(SAMPLES / "healthy-random-loss.pcap"))
    resent = segments[segments["delivered_by"] == "resent"]
    assert len(resent) > 0
    for row in resent.itertuples():
        later = segments[
            (segments["flow"] == row.flow)
            & (segments["frame"] > row.frame)
            & (segments["seq_start"] < row.seq_end)
            & (segments["seq_end"] > row.seq_start)
        ]
        assert later["delivered_by"].isin(["ack", "sack"]).any(), row.frame
    assert (segments["delivered_by"] != "never").all()  # random loss, all of it recovered


def test_acks_are_in_the_acknowledged_directions_sequence_space() -> None:
    acks = frames.acks(pcapmtu.trace(INCIDENT))
    mine = acks[acks["flow"] == "198.19.0.1:8080 -> 198.19.0.2:60378"]
    blocks = [b for blocks in mine["sack_blocks"] for b in blocks]
    assert blocks and all(left == 1369 for left, _ in blocks)  # beyond the lost 1368 bytes
    assert mine["ack"].max() == 1  # the response's first byte was never acknowledged


def test_flows_and_findings_rows_match_the_report() -> None:
    report = pcapmtu.analyze(SAMPLES / "many-flows.pcap")
    flows = frames.flows(report)
    assert len(flows) == len(report.flows)
    for row, flow in zip(flows.itertuples(), report.flows, strict=True):
        facts = flow.facts
        assert (row.packets, row.data_bytes, row.retrans_count) == (
            facts.packets,
            facts.data_bytes,
            facts.retransmissions,
        )
        assert row.largest_ip_len_bytes == facts.largest_ip_len
    found = frames.findings(report)
    assert list(found["kind"]) == [f.kind for f in report.findings]
    assert list(found["dropped_ip_len_bytes"]) == [f.dropped_ip_len for f in report.findings]
    assert len(frames.evidence(report)) == sum(len(f.evidence) for f in report.findings)


def test_too_big_rows_carry_the_routers_mtu() -> None:
    report = pcapmtu.analyze(SAMPLES / "icmp-allowed.home-underlay.pcap")
    rows = frames.too_big(report)
    assert len(rows) > 0
    expected = [f.icmp_mtu for f in report.findings if f.kind == "icmp_too_big"]
    assert list(rows["mtu_bytes"]) == expected


def test_ipv6_flows_are_labelled_with_brackets() -> None:
    segments = frames.segments(pcapmtu.trace(SAMPLES / "inner-ipv6.pcap"))
    assert len(segments) > 0
    assert segments["flow"].str.match(r"^\[[0-9a-f:]+\]:\d+ -> \[[0-9a-f:]+\]:\d+$").all()


def test_trace_keeps_only_the_flows_asked_for() -> None:
    report = pcapmtu.analyze(SAMPLES / "many-flows.pcap")
    hole = report.black_holes[0]
    traced = pcapmtu.trace(
        SAMPLES / "many-flows.pcap", flows=[(hole.dst, hole.dport, hole.src, hole.sport)]
    )
    segments = frames.segments(traced)
    expected = {
        frames.flow_label(hole.src, hole.sport, hole.dst, hole.dport),
        frames.flow_label(hole.dst, hole.dport, hole.src, hole.sport),
    }
    assert set(segments["flow"]) == expected  # either direction's key names the connection
    everything = frames.segments(pcapmtu.trace(SAMPLES / "many-flows.pcap"))
    assert everything["flow"].nunique() > len(expected)
