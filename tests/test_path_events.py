"""What the captures people take during an outage show when the cause is not a fixed path
(issue 11, points 1 to 3), on the real lab captures made for each: a path whose MTU falls
mid-connection, or rises (the fix applied while the capture runs), a keep-alive connection, a
capture started late, an outage, a receiver that stops reading."""

from __future__ import annotations

from pcapmtu import analyze
from pcapmtu.capture import Capture
from pcapmtu.decode import Decoder
from pcapmtu.detect import (
    KIND_BLACK_HOLE,
    KIND_PATH_DOWN,
    KIND_SUSPECTED,
    KIND_ZERO_WINDOW,
)
from pcapmtu.flows import FlowTable
from pcapmtu.replay import feed
from tests.conftest import SAMPLES


def _delivered_sizes(name: str) -> dict[int, float]:
    """Every IP size the capture shows delivered, and when the latest such packet was sent."""
    table = FlowTable(name)
    with Capture(SAMPLES / name) as capture:
        feed(table, capture, Decoder())
    table.finish()
    sizes: dict[int, float] = {}
    for summary in table.paths.values():
        for size, (ts, _frame, _capture) in summary.delivered.items():
            sizes[size] = max(sizes.get(size, ts), ts)
    return sizes


def test_a_path_mtu_that_falls_is_a_black_hole_bracketed_from_the_fall() -> None:
    name = "mtu-falls.home-wg0.pcap"
    delivered = _delivered_sizes(name)
    assert 1420 in delivered and 900 in delivered  # both crossed before the fall
    report = analyze(SAMPLES / name)
    assert report.verdict == "black_hole"
    (finding,) = report.black_holes
    assert finding.dropped_ip_len == 1420
    assert finding.path_fell_after is not None
    assert delivered[1420] == finding.path_fell_after < finding.first_ts
    (path,) = [p for p in report.paths if p.smallest_dropped is not None]
    # 900 bytes crossed before the fall and proves nothing after it; 444 crossed after
    assert (path.largest_delivered, path.fits_max) == (444, 1419)
    assert path.mtu_fell_at == finding.first_ts
    assert "its MTU fell in between" in report.render_text()


def test_the_fall_seen_at_both_ends_is_one_finding() -> None:
    report = analyze([SAMPLES / "mtu-falls.home-wg0.pcap", SAMPLES / "mtu-falls.proxy-wg0.pcap"])
    assert report.verdict == "black_hole"
    assert len(report.black_holes) == 1
    assert all(f.path_fell_after is not None for f in report.black_holes)


def test_the_fall_at_the_receiver_alone() -> None:
    report = analyze(SAMPLES / "mtu-falls.proxy-wg0.pcap")
    (finding,) = report.black_holes
    assert (finding.side, finding.dropped_ip_len) == ("receiver", 1420)
    assert finding.path_fell_after is not None


def _first_delivered(name: str, size: int) -> float:
    """When the earliest packet of `size` bytes that the capture shows delivered was sent."""
    table = FlowTable(name)
    with Capture(SAMPLES / name) as capture:
        feed(table, capture, Decoder())
    table.finish()
    return min(s.first[size] for s in table.paths.values() if size in s.first)


def test_a_path_mtu_that_rises_is_a_black_hole_the_path_recovered() -> None:
    """The fix applied while tcpdump ran: clean once, a black hole until the path's MTU rose,
    at either end, and one finding with both ends given together."""
    for name, side in (
        ("mtu-rises.home-wg0.pcap", "sender"),
        ("mtu-rises.proxy-wg0.pcap", "receiver"),
    ):
        report = analyze(SAMPLES / name)
        assert report.verdict == "black_hole", name
        (finding,) = report.findings
        assert (finding.side, finding.dropped_ip_len, finding.largest_delivered_ip_len) == (
            side,
            1420,
            444,
        )
        assert finding.recovered is not None and finding.recovered.by == "path"
        assert finding.path_rose_at is not None
        assert finding.path_rose_at > finding.first_ts + 1.5  # the gap's 1.5 s, and more
        if side == "sender":  # the first 1420-byte packet the path carried ended the black hole
            assert finding.path_rose_at == _first_delivered(name, 1420)
        (path,) = [p for p in report.paths if p.smallest_dropped is not None]
        assert (path.largest_delivered, path.fits_max, path.mtu_rose_at) == (
            444,
            1419,
            finding.path_rose_at,
        )
        text = report.render_text()
        assert "until its MTU rose" in text  # the bracket, in Paths
        assert "while the black hole lasted; more once its MTU rose" in text  # and in FIX
    both = analyze([SAMPLES / "mtu-rises.home-wg0.pcap", SAMPLES / "mtu-rises.proxy-wg0.pcap"])
    assert both.verdict == "black_hole" and len(both.findings) == 1


def test_small_responses_before_the_loss_prove_the_path_carries_them() -> None:
    report = analyze(SAMPLES / "keepalive.pcap")
    (finding,) = report.black_holes
    assert finding.path_fell_after is None
    # the 600-byte response's 652-byte packet, delivered before the loss, counts (the stalled
    # response's own 444-byte tail got through after it, and is smaller)
    assert finding.largest_delivered_ip_len == 652
    assert any("sent before it was delivered" in e.what for e in finding.evidence)
    assert any("444-byte packet sent after it" in e.what for e in finding.evidence)
    assert report.paths[0].largest_delivered == 652


def test_a_capture_started_after_the_connection_was_up() -> None:
    sender = analyze(SAMPLES / "capture-late.home-wg0.pcap")
    (finding,) = sender.black_holes
    assert finding.mss is None  # no SYN in the capture
    receiver = analyze(SAMPLES / "capture-late.proxy-wg0.pcap")
    assert receiver.verdict == "inconclusive"
    (suspected,) = receiver.suspected
    assert suspected.dropped_ip_len is None
    both = analyze(
        [SAMPLES / "capture-late.home-wg0.pcap", SAMPLES / "capture-late.proxy-wg0.pcap"]
    )
    assert both.verdict == "black_hole"
    # one finding for the flow: the sender's proof, not also the receiver's suspicion
    (proven,) = both.findings
    assert proven.kind == KIND_BLACK_HOLE and proven.flow == suspected.flow


def test_an_outage_is_the_path_down_not_a_black_hole() -> None:
    report = analyze(SAMPLES / "outage.proxy-wg0.pcap")
    assert report.verdict == "clean"
    (down,) = [f for f in report.findings if f.kind == KIND_PATH_DOWN]
    assert down.dropped_ip_len is not None and down.dropped_ip_len < 576
    assert down.transmissions >= 3
    assert "stopped carrying packets of any size" in report.summary()
    assert not [f for f in report.findings if f.kind in (KIND_BLACK_HOLE, KIND_SUSPECTED)]


def test_a_receiver_that_stops_reading_is_a_zero_window() -> None:
    report = analyze(SAMPLES / "stalled-reader.pcap")
    assert report.verdict == "clean"
    (closed,) = [f for f in report.findings if f.kind == KIND_ZERO_WINDOW]
    assert closed.zero_window_s is not None and closed.zero_window_s > 5
    assert "stopped reading" in report.summary()
    facts = {f.facts.flow: f.facts for f in report.flows}
    assert (
        facts[closed.flow].zero_window_s == closed.zero_window_s
        or abs(facts[closed.flow].zero_window_s - closed.zero_window_s) < 0.001
    )


def test_no_sample_that_works_shows_a_zero_window_or_a_path_down() -> None:
    for name in ("fixed-mtu1340.pcap", "healthy-random-loss.pcap", "icmp-allowed.home-wg0.pcap"):
        kinds = {f.kind for f in analyze(SAMPLES / name).findings}
        assert not kinds & {KIND_PATH_DOWN, KIND_ZERO_WINDOW}, name


def test_a_tls_handshake_with_a_large_chain() -> None:
    for name in ("tls.home-wg0.pcap", "tls.proxy-wg0.pcap"):
        report = analyze(SAMPLES / name)
        (finding,) = report.black_holes
        assert finding.dport == 8443 or finding.sport == 8443
        assert finding.dropped_ip_len == 1420 and finding.largest_delivered_ip_len == 723


def test_an_ssh_key_exchange() -> None:
    report = analyze(SAMPLES / "ssh.pcap")
    (finding,) = report.black_holes
    assert finding.sport == 2222  # the server's KEX reply
    assert (finding.dropped_ip_len, finding.largest_delivered_ip_len) == (1420, 1176)
