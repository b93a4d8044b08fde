"""Captures stopped right after the hang began (Ctrl-C on tcpdump before the client gives up):
the real sample captures cut after their first `k` records, as `tcpdump -c k` or `editcap -r`
would leave them. The loss is in the capture, the evidence of a black hole not yet: too soon
to tell, so `inconclusive`, never `clean`; and a healthy transfer cut anywhere stays clean."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import dpkt
import pytest

from pcapmtu import analyze
from pcapmtu.report import Report
from tests.conftest import SAMPLES

PCAP_HEADER_LEN = 24
RECORD_HEADER_LEN = 16


def record_ends(data: bytes) -> list[int]:
    """The offset just past each record of a pcap file."""
    ends, at = [], PCAP_HEADER_LEN
    while at + RECORD_HEADER_LEN <= len(data):
        at += RECORD_HEADER_LEN + struct.unpack_from("<I", data, at + 8)[0]
        ends.append(at)
    return ends


def first_records(path: Path, k: int) -> bytes:
    """The pcap file `path` stopped after its first `k` records."""
    data = path.read_bytes()
    return data[: record_ends(data)[k - 1]]


def _analyze(data: bytes, name: str) -> Report:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyze(data, names=[name])


def _tcp(packet: bytes) -> tuple[bytes, bytes, dpkt.tcp.TCP] | None:
    """(src, dst, TCP) of a raw IP packet (the tunnel interface's link type), by dpkt."""
    ip = dpkt.ip.IP(packet) if packet[0] >> 4 == 4 else dpkt.ip6.IP6(packet)
    return (ip.src, ip.dst, ip.data) if isinstance(ip.data, dpkt.tcp.TCP) else None


def first_ack_of_the_loss(name: str) -> int:
    """At the sender: the record of the receiver's first ACK that shows the lost packet
    missing after a smaller packet sent after it got through (its ACK stops at the packet's
    first byte, with a SACK block, or for the second time without one: a duplicate ACK), the
    first moment the loss shows."""
    full = _analyze((SAMPLES / name).read_bytes(), name)
    (hole,) = full.black_holes
    copy1 = next(e.frame for e in hole.evidence if "(copy 1)" in e.what)
    with (SAMPLES / name).open("rb") as f:
        packets = [buf for _ts, buf in dpkt.pcap.Reader(f)]
    lost = _tcp(packets[copy1 - 1])
    assert lost is not None
    src, dst, segment = lost
    smaller = next(
        frame
        for frame in range(copy1 + 1, len(packets) + 1)
        if (seen := _tcp(packets[frame - 1])) is not None
        and (seen[0], seen[1]) == (src, dst)
        and 0 < len(seen[2].data) < len(segment.data)
    )
    at_the_loss = 0
    for frame in range(smaller + 1, len(packets) + 1):
        seen = _tcp(packets[frame - 1])
        if seen is None or (seen[0], seen[1]) != (dst, src) or seen[2].ack != segment.seq:
            continue
        at_the_loss += 1
        options = dict(dpkt.tcp.parse_opts(seen[2].opts))
        if dpkt.tcp.TCP_OPT_SACK in options or at_the_loss == 2:
            return frame
    raise AssertionError(f"{name}: no ACK at the lost packet")


def second_copy(name: str) -> int:
    """At the sender, with no SACK or duplicate ACK to show the loss: the record of the lost
    packet's second copy, the first the retransmission timer sent."""
    full = _analyze((SAMPLES / name).read_bytes(), name)
    hole = full.black_holes[0]
    return next(e.frame for e in hole.evidence if "(copy 2)" in e.what)


def gap_opened(name: str) -> int:
    """At the receiver: the record of its ACK that opened the gap the lost packet left."""
    full = _analyze((SAMPLES / name).read_bytes(), name)
    (hole,) = full.black_holes or full.suspected
    return next(e.frame for e in hole.evidence if "acknowledges only up to the gap" in e.what)


def records_between(path: Path, first: int, last: int) -> bytes:
    """The pcap file `path` as a capture begun at record `first` (1: its first) and stopped
    after record `last`: `tcpdump` started late and stopped early."""
    data = path.read_bytes()
    ends = record_ends(data)
    start = ends[first - 2] if first > 1 else PCAP_HEADER_LEN
    return data[:PCAP_HEADER_LEN] + data[start : ends[last - 1]]


SENDER_SIDE = [
    "incident.home-wg0.pcap",
    "still-broken-mtu1380.pcap",
    "no-sack.pcap",
    "inner-ipv6.pcap",
    "outer-ipv6.home-wg0.pcap",
    "keepalive.pcap",
    "ssh.pcap",
    "tls.home-wg0.pcap",
    "mtu-probing.pcap",
    "mtu-falls.home-wg0.pcap",
    "capture-late.home-wg0.pcap",  # no SYN: its largest segment taken as full-size
]
RECEIVER_SIDE = ["incident.proxy-wg0.pcap", "tls.proxy-wg0.pcap", "mtu-falls.proxy-wg0.pcap"]
# only full-size segments sent, no SACK: smaller packets of other connections got through
TIMER_ONLY = ["many-flows.pcap", "mss-clamped-service.pcap"]
# the lost bytes first sent in a GSO super-packet, then resent as one full-size segment
SUPER_PACKET = ["no-tunnel.pcap", "vxlan.home-vxlan0.pcap", "vxlan.home-underlay.pcap"]


def _assert_too_soon(cut: Report, side: str, full: Report) -> None:
    assert cut.verdict == "inconclusive", cut.render_text()
    (finding,) = cut.suspected
    assert finding.side == side
    assert finding.too_soon_s is not None and 0 <= finding.too_soon_s < 1.5
    assert finding.dropped_ip_len == full.black_holes[0].dropped_ip_len
    assert "too soon" in cut.summary()
    assert "10 s or more after the hang" in (cut.to_decide() or "")
    text = cut.render_text()
    assert "too soon to tell" in text and "Traceback" not in text


@pytest.mark.parametrize("name", SENDER_SIDE)
def test_a_sender_side_capture_stopped_when_the_loss_shows_is_too_soon(name: str) -> None:
    """Stopped at the receiver's first ACK that shows the loss, before the copies that make a
    stall: the packet was sent once or twice, a smaller one after it got through."""
    path = SAMPLES / name
    k = first_ack_of_the_loss(name)
    full = _analyze(path.read_bytes(), name)
    cut = _analyze(first_records(path, k), f"{name}[:{k}]")
    _assert_too_soon(cut, "sender", full)
    assert cut.findings[0].transmissions < 3


def _assert_too_soon_at_the_second_copy(name: str) -> None:
    """Stopped at the lost packet's second copy: too soon, with both copies in the finding."""
    path = SAMPLES / name
    k = second_copy(name)
    full = _analyze(path.read_bytes(), name)
    cut = _analyze(first_records(path, k), f"{name}[:{k}]")
    _assert_too_soon(cut, "sender", full)
    assert cut.suspected[0].transmissions == 2


@pytest.mark.parametrize("name", TIMER_ONLY)
def test_a_capture_stopped_at_the_first_timer_resend_is_too_soon(name: str) -> None:
    """Stopped at the first copy the retransmission timer sent, while smaller packets of other
    connections on the path got through after the first: lost, too soon to judge."""
    _assert_too_soon_at_the_second_copy(name)


@pytest.mark.parametrize("name", SUPER_PACKET)
def test_a_super_packet_stopped_at_its_full_size_resend_is_too_soon(name: str) -> None:
    """Stopped at the resend of the super-packet's first MSS alone: that copy was one
    full-size packet, and a smaller one sent after the super-packet got through."""
    _assert_too_soon_at_the_second_copy(name)


@pytest.mark.parametrize("name", RECEIVER_SIDE)
def test_a_receiver_side_capture_stopped_when_the_gap_opens_is_too_soon(name: str) -> None:
    """Stopped at the receiver's ACK that opened the gap: it was open under a millisecond when
    the capture ends (a wrong clean before: a gap had to stay open 1.5 s to count)."""
    path = SAMPLES / name
    k = gap_opened(name)
    full = _analyze(path.read_bytes(), name)
    cut = _analyze(first_records(path, k), f"{name}[:{k}]")
    _assert_too_soon(cut, "receiver", full)
    assert (cut.findings[0].too_soon_s or 0.0) < 0.001


@pytest.mark.parametrize(
    ("name", "first"),
    [(n, first_ack_of_the_loss) for n in SENDER_SIDE]
    + [(n, second_copy) for n in TIMER_ONLY + SUPER_PACKET]
    + [(n, gap_opened) for n in RECEIVER_SIDE],
    ids=SENDER_SIDE + TIMER_ONLY + SUPER_PACKET + RECEIVER_SIDE,
)
def test_once_the_loss_shows_no_longer_capture_is_clean(name: str, first: object) -> None:
    """Every prefix from the moment the loss shows to the whole capture: inconclusive while
    too soon, then the black hole; never clean."""
    assert callable(first)
    path = SAMPLES / name
    data = path.read_bytes()
    ends = record_ends(data)
    verdicts = [
        _analyze(data[: ends[k - 1]], f"{name}[:{k}]").verdict
        for k in range(first(name), len(ends) + 1)
    ]
    assert "clean" not in verdicts, verdicts
    assert verdicts[0] == "inconclusive" and verdicts[-1] == "black_hole"


@pytest.mark.parametrize(
    "name", ["healthy-random-loss.pcap", "fixed-mtu1340.pcap", "stalled-reader.pcap"]
)
def test_a_healthy_transfer_stopped_anywhere_is_clean(name: str) -> None:
    """A transfer that lost packets at random (healthy-random-loss: 1332 records), one on a
    tunnel whose MTU fits, and one whose reader stopped: cut after any record once data
    flows, clean, and nothing is said to end too soon."""
    data = (SAMPLES / name).read_bytes()
    ends = record_ends(data)
    for k in range(1, len(ends) + 1):
        cut = _analyze(data[: ends[k - 1]], f"{name}[:{k}]")
        assert all(f.too_soon_s is None for f in cut.findings), (k, cut.render_text())
        if any(f.facts.data_packets for f in cut.flows):
            assert cut.verdict == "clean", (k, cut.render_text())


def test_a_capture_begun_late_and_stopped_when_the_gap_opens_is_too_soon() -> None:
    """capture-late at the receiver (no SYN: the MSS is not known), stopped at the receiver's
    ACK that opened the gap, under a millisecond after the reply's smaller last segment
    arrived: a wrong clean once; suspected, of unknown size, and never clean after."""
    name = "capture-late.proxy-wg0.pcap"
    path = SAMPLES / name
    k = gap_opened(name)
    cut = _analyze(first_records(path, k), f"{name}[:{k}]")
    assert cut.verdict == "inconclusive", cut.render_text()
    (finding,) = cut.suspected
    assert (finding.side, finding.dropped_ip_len) == ("receiver", None)
    assert finding.too_soon_s is not None and finding.too_soon_s < 0.001
    assert "before the client connects" in (cut.to_decide() or "")
    data = path.read_bytes()
    later = [
        _analyze(data[:end], f"{name}[:{n}]").verdict
        for n, end in enumerate(record_ends(data)[k:], k + 1)
    ]
    assert later and set(later) == {"inconclusive"}


@pytest.mark.parametrize(
    "name",
    [
        "healthy-random-loss.pcap",
        "fixed-mtu1340.pcap",
        "stalled-reader.pcap",
        "outage.home-wg0.pcap",
        "outage.proxy-wg0.pcap",
    ],
)
def test_a_healthy_transfer_captured_late_and_stopped_anywhere_is_never_too_soon(name: str) -> None:
    """The same transfers (and an outage, no size problem) as captures begun without the SYN
    and stopped anywhere (25 starts, 40 stops each at most): a receiver's ACK lagging behind
    the data, or a gap of whole segments missing in a transfer going on, is never judged a
    lost packet too soon to tell."""
    path = SAMPLES / name
    n = len(record_ends(path.read_bytes()))
    for first in range(2, n, max(1, n // 25)):
        for last in range(first, n + 1, max(1, n // 40)):
            cut = _analyze(records_between(path, first, last), f"{name}[{first}:{last}]")
            assert all(f.too_soon_s is None for f in cut.findings), (first, last, cut.render_text())


def test_a_capture_stopped_when_the_loss_shows_after_the_path_mtu_fell() -> None:
    """mtu-falls at the sender: the path carried 1420-byte packets until the fall, then the
    next response's one is lost while its 444-byte tail is SACKed. Stopped at that SACK or at
    the fast retransmit (a wrong clean once: a size the path had carried was never judged too
    soon): suspected, with the time the path last carried the size."""
    name = "mtu-falls.home-wg0.pcap"
    path = SAMPLES / name
    full = _analyze(path.read_bytes(), name)
    k = first_ack_of_the_loss(name)
    for last in (k, k + 1):
        cut = _analyze(first_records(path, last), f"{name}[:{last}]")
        _assert_too_soon(cut, "sender", full)
        assert cut.suspected[0].path_fell_after == full.black_holes[0].path_fell_after
        assert "The path carried 1420-byte packets until" in cut.render_text()
