"""What counts as a black hole and what does not, on SYNTHETIC conversations run through the
whole pipeline (`analyze` on a synthetic pcap). Real captures are in test_golden.py."""

from __future__ import annotations

import warnings

from pcapmtu import analyze
from pcapmtu.detect import Finding
from pcapmtu.report import Report
from tests import synthetic as syn

BIG, SMALL = 1368, 392  # payloads: 1420- and 444-byte packets with timestamps


def _run(c: syn.Conversation) -> Report:
    return _run_pcap(c.pcap())


def _run_pcap(data: bytes) -> Report:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return analyze(data)


def _incident(copies: int, sack: bool = True) -> syn.Conversation:
    c = syn.Conversation(sack=sack).handshake().data(1, BIG).data(1 + BIG, SMALL)
    c.ack(1, sack=[(1 + BIG, 1 + BIG + SMALL)] if sack else ())
    if not sack:
        c.ack(1)
    for i in range(1, copies):
        c.at(0.2 * 2**i).data(1, BIG)
    return c


def test_sender_side_black_hole() -> None:
    report = _run(_incident(copies=5))
    assert report.verdict == "black_hole"
    (f,) = report.black_holes
    assert (f.side, f.dropped_ip_len, f.largest_delivered_ip_len, f.transmissions) == (
        "sender",
        1420,
        444,
        5,
    )
    assert report.paths[0].fits_max == 1419 and report.paths[0].largest_delivered == 444
    assert report.recommendation is not None
    assert report.recommendation.max_mtu == 1419
    assert report.recommendation.mtu == 1280  # what works; 1419 is only the bound
    assert report.recommendation.basis == "conservative"


def test_sender_side_black_hole_without_sack_uses_duplicate_acks() -> None:
    report = _run(_incident(copies=4, sack=False))
    assert report.verdict == "black_hole"
    assert report.black_holes[0].largest_delivered_ip_len == 444


def _the_finding(report: Report, verdict: str, kind: str, side: str, smaller: int) -> Finding:
    """The report's one finding: `verdict`, and a `kind` finding at `side` of the 1420-byte
    packet lost while one of `smaller` bytes got through."""
    assert report.verdict == verdict
    (f,) = report.findings
    assert (f.kind, f.side, f.dropped_ip_len, f.largest_delivered_ip_len) == (
        kind,
        side,
        1420,
        smaller,
    )
    return f


def _too_soon(report: Report, side: str) -> Finding:
    """The one finding of a capture that ended too soon after the 1420-byte packet was lost
    and the 444-byte one after it got through."""
    f = _the_finding(report, "inconclusive", "suspected_black_hole", side, 444)
    assert "too soon" in report.summary()
    return f


def test_too_few_copies_when_the_capture_ends_is_too_soon_to_tell() -> None:
    """Two copies, the capture stopped 0.4 s after the first: not a black hole yet (the next
    copy may get through), but not clean either: the smaller packet after it was SACKed."""
    report = _run(_incident(copies=2))
    f = _too_soon(report, "sender")
    assert f.transmissions == 2 and f.too_soon_s is not None and 0.39 < f.too_soon_s < 0.41


def test_too_few_copies_long_before_the_end_is_not_a_finding() -> None:
    """The same two copies, and the capture went on 5 s without another: the sender stopped
    resending (it gave up, or the capture missed them), which is no evidence of a size."""
    c = _incident(copies=2).at(5).ack(1, sack=[(1 + BIG, 1 + BIG + SMALL)])
    assert _run(c).verdict == "clean"


def test_one_copy_sacked_past_is_too_soon_and_one_in_flight_is_clean() -> None:
    """Sent once, the capture stopped: with the receiver's SACK of the smaller segment after
    it, a loss too soon to judge; without it, a packet still in flight, nothing lost."""
    sacked = _run(_incident(copies=1))
    assert sacked.verdict == "inconclusive"
    assert [(f.side, f.transmissions) for f in sacked.findings] == [("sender", 1)]
    in_flight = syn.Conversation().handshake().data(1, BIG).data(1 + BIG, SMALL)
    assert _run(in_flight).verdict == "clean"


def _timer_resend(reply_at: float, second_copy_s: float = 0.21, acked: bool = True) -> Report:
    return _run_pcap(timer_resend(reply_at, second_copy_s, acked))


def timer_resend(reply_at: float, second_copy_s: float = 0.21, acked: bool = True) -> bytes:
    """SYNTHETIC: two connections on one path, the capture stopped 0.22 s in. One's first
    segment (full-size) is sent at 0, and again `second_copy_s` later, never acknowledged; no
    SACK, no duplicate ACK. The other's 600-byte reply is sent at `reply_at`, and
    acknowledged (or not)."""
    stalled = syn.Conversation().at(-0.001).handshake().request(40).data(1, BIG)
    stalled.at(second_copy_s).data(1, BIG)
    other = syn.Conversation().at(reply_at).handshake().request(40).data(1, 600)
    if acked:
        other.ack(601)
    packets = sorted(stalled.packets_with_port(5001) + other.packets)
    return syn.pcap([p for p in packets if p[0] <= 1_700_000_000.22])


def test_a_timer_resend_while_smaller_packets_got_through_is_too_soon_to_tell() -> None:
    """Resent by the retransmission timer (no ACK for it within 0.21 s), while a smaller
    packet sent after it on the same path was acknowledged: lost, too soon to judge."""
    report = _timer_resend(reply_at=0.1)
    assert report.verdict == "inconclusive"
    (f,) = report.findings
    assert (f.kind, f.side, f.transmissions, f.largest_delivered_ip_len) == (
        "suspected_black_hole",
        "sender",
        2,
        652,
    )
    assert f.too_soon_s is not None and 0.2 < f.too_soon_s < 0.23


def test_a_resend_with_no_smaller_packet_through_after_it_is_no_evidence() -> None:
    """The same, but the reply sent before the stalled segment, or never acknowledged, or the
    second copy 1 ms after the first (not a timer's): clean."""
    assert _timer_resend(reply_at=-0.1).verdict == "clean"
    assert _timer_resend(reply_at=0.1, acked=False).verdict == "clean"
    assert _timer_resend(reply_at=0.1, second_copy_s=0.001).verdict == "clean"


def test_a_full_size_segment_sacked_past_by_one_as_large_is_ordinary_loss() -> None:
    c = syn.Conversation().handshake().data(1, BIG).data(1 + BIG, BIG)
    c.ack(1, sack=[(1 + BIG, 1 + 2 * BIG)])
    assert _run(c).verdict == "clean"


def test_a_super_packet_sent_once_is_not_judged_too_soon() -> None:
    """A segment of two MSS (a GSO super-packet, as a sender captures it) sent once: its wire
    packets' sizes are not known, so it says nothing about a size."""
    c = syn.Conversation().handshake().data(1, 2 * BIG).data(1 + 2 * BIG, SMALL)
    c.ack(1, sack=[(1 + 2 * BIG, 1 + 2 * BIG + SMALL)])
    assert _run(c).verdict == "clean"


def test_a_super_packet_resent_as_a_full_size_segment_is_too_soon_to_tell() -> None:
    """The same super-packet, its first MSS then resent alone (a fast retransmit): that copy
    was one full-size packet, lost like the super-packet's; too soon to tell (a wrong clean
    once: no-tunnel and vxlan stopped there)."""
    c = syn.Conversation().handshake().data(1, 2 * BIG).data(1 + 2 * BIG, SMALL)
    c.ack(1, sack=[(1 + 2 * BIG, 1 + 2 * BIG + SMALL)])
    c.data(1, BIG)
    f = _too_soon(_run(c), "sender")
    assert f.transmissions == 2


def test_retransmitted_once_then_acked_is_ordinary_loss() -> None:
    c = _incident(copies=2).at(1).ack(1 + BIG + SMALL)
    assert _run(c).findings == ()


def _healed(report: Report, side: str, smaller: int = 444) -> Finding:
    """The one finding of a black hole its path recovered: the 1420-byte packet lost while
    the smaller one got through, then through at full size."""
    f = _the_finding(report, "black_hole", "black_hole", side, smaller)
    assert f.recovered is not None and f.recovered.by == "path"
    path = report.paths[0]  # paths with a black hole come first
    assert (path.src, path.largest_delivered, path.fits_max) == (f.src, smaller, 1419)
    assert path.mtu_rose_at == f.path_rose_at
    return f


def _both_passes(c: syn.Conversation) -> Report:
    """The report, which the shortlist must not change (the exact pass on everything)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast, exact = analyze(c.pcap()), analyze(c.pcap(), shortlist=False)
    assert fast.to_dict() == exact.to_dict()
    return fast


def _lost_then_through(through_at: float) -> syn.Conversation:
    """The 1420-byte packet lost four times (the timer's copies at +0.2, +0.6, +1.0 s) while
    the 444-byte one after it was SACKed, then through at its fifth copy, at `through_at`."""
    c = _incident(copies=1)
    for t in (0.2, 0.6, 1.0, through_at):
        c.at(t).data(1, BIG)
    return c.ack(1 + BIG + SMALL)


def test_a_segment_through_at_last_on_a_path_that_never_carried_its_size_is_a_black_hole() -> None:
    """Lost four times while the smaller one after it got through, then through at full size
    (a wrong clean once): the path's MTU rose (fixed, a route back); the path had never
    carried 1420 bytes before, so this is no lossy link that drops large packets more often.
    Through 1.2 s after the first copy, before the gap the receiver saw could count
    (`min_hole_s`): the shortlist must take it for its copies (`detect.could_heal`)."""
    report = _both_passes(_lost_then_through(1.2))
    f = _healed(report, "sender")
    assert f.transmissions == 5 and f.copies_at_s == (0.0, 0.2, 0.6, 1.0, 1.2)
    assert f.path_rose_at == 1_700_000_000 + 1.2
    assert f.recovered is not None and 1.2 <= f.recovered.after_s <= 1.201
    text = report.render_text()
    assert "the first 4 copies were lost, the last got through" in text
    assert "the path carried 1420-byte packets again" in text


def test_a_segment_through_at_last_on_a_path_that_carried_its_size_before_is_ordinary() -> None:
    """The same, after a 1420-byte packet got through: the path carried the size, then lost
    it four times, then carried it again. A lossy radio link does that to large packets; an
    MTU that fell and rose looks the same. Left alone (the rule that keeps a phone's capture
    on a lossy network clean)."""
    c = syn.Conversation().handshake().data(1, BIG).ack(1 + BIG).at(1).data(1 + BIG, BIG)
    c.data(1 + 2 * BIG, SMALL).ack(1 + BIG, sack=[(1 + 2 * BIG, 1 + 2 * BIG + SMALL)])
    for i in range(1, 5):
        c.at(1 + 0.2 * 2**i).data(1 + BIG, BIG)
    c.at(9).ack(1 + 2 * BIG + SMALL)
    assert _both_passes(c).verdict == "clean"


def test_a_segment_through_at_its_third_copy_is_ordinary_loss() -> None:
    """Two copies lost, the third through: fewer than `min_full_size_copies` lost."""
    c = _incident(copies=1).at(0.2).data(1, BIG).at(0.6).data(1, BIG).ack(1 + BIG + SMALL)
    assert _both_passes(c).findings == ()


def test_a_super_packet_of_unknown_size_through_meanwhile_is_no_evidence() -> None:
    """No SYN, so no MSS: a 3000-byte super-packet SACKed while the 1420-byte packet's copies
    were lost crossed in pieces of unknown size, smaller or not."""
    c = syn.Conversation().data(1, BIG).data(1 + BIG, 3000)
    c.ack(1, sack=[(1 + BIG, 1 + BIG + 3000)])
    for t in (0.2, 0.6, 1.0, 1.2):
        c.at(t).data(1, BIG)
    c.ack(1 + BIG + 3000)
    assert _both_passes(c).findings == ()


def test_a_segment_through_at_last_with_nothing_smaller_through_meanwhile_is_no_evidence() -> None:
    c = syn.Conversation().handshake().data(1, BIG)
    for i in range(1, 5):
        c.at(0.2 * 2**i).data(1, BIG)
    c.at(9).ack(1 + BIG)
    assert _both_passes(c).findings == ()


def test_same_size_delivered_later_is_not_a_size_problem() -> None:
    """Random loss: a big segment lost, but a big one sent after it arrives (QUIC's rule),
    and the lost one's next copy gets through."""
    c = syn.Conversation().handshake().data(1, BIG).data(1 + BIG, BIG)
    c.ack(1, sack=[(1 + BIG, 1 + BIG * 2)])
    c.at(0.4).data(1, BIG).ack(1 + 2 * BIG)
    assert _both_passes(c).verdict == "clean"


def test_copies_lost_after_the_size_last_got_through_are_judged_on_their_own() -> None:
    """A big segment lost, a big one sent just after it SACKed; then every later copy of the
    first lost, and nothing after them got through (the path's MTU fell after that packet, or
    the path went down: an outage while a transfer was in flight). QUIC's rule clears only the
    first copy: the copies sent since are a stall on a path that carried the size before them,
    suspected, never clean."""
    c = syn.Conversation().handshake().data(1, BIG).data(1 + BIG, BIG)
    c.ack(1, sack=[(1 + BIG, 1 + 2 * BIG)])
    for i in range(1, 5):
        c.at(0.2 * 2**i).data(1, BIG)
    report = _both_passes(c)
    assert report.verdict == "inconclusive"
    (finding,) = report.findings
    assert finding.kind == "suspected_black_hole"
    assert finding.transmissions == 4  # the copies sent after the big one that got through
    assert finding.path_fell_after is not None and finding.path_fell_after < finding.first_ts
    cleared = [e for e in finding.evidence if "not counted" in e.what]
    assert len(cleared) == 1 and cleared[0].ts is not None
    assert cleared[0].ts < finding.path_fell_after  # the first copy, sent before it


def test_too_few_copies_lost_after_the_size_last_got_through_are_ordinary_loss() -> None:
    """As above, but only two copies were sent after the big one got through, fewer than
    `min_full_size_copies`: ordinary loss, as QUIC's rule has it."""
    c = syn.Conversation().handshake().data(1, BIG)
    c.at(0.2).data(1, BIG).data(1 + BIG, BIG)
    c.ack(1, sack=[(1 + BIG, 1 + 2 * BIG)])
    for t in (0.6, 1.4):
        c.at(t).data(1, BIG)
    assert _both_passes(c).verdict == "clean"


def test_random_loss_of_large_and_small_segments_is_clean() -> None:
    c = syn.Conversation().handshake()
    seq = 1
    for i in range(40):
        size = BIG if i % 3 else SMALL
        c.data(seq, size)
        if i % 7 == 3:  # lost once, then retransmitted and ACKed
            c.data(seq, size)
        seq += size
        c.ack(seq)
    report = _run(c)
    assert report.verdict == "clean" and report.findings == ()


def test_only_large_segments_stalling_is_suspected_not_proven() -> None:
    c = syn.Conversation().handshake().data(1, BIG).data(1 + BIG, BIG)
    for i in range(1, 5):
        c.at(0.2 * 2**i).data(1, BIG)
    report = _run(c)
    assert report.verdict == "inconclusive"
    assert [f.kind for f in report.findings] == ["suspected_black_hole"]


def test_recovery_by_smaller_segments_is_reported() -> None:
    c = _incident(copies=5)
    c.at(3.0).data(1, 1024).data(1025, BIG - 1024).ack(1 + BIG + SMALL)
    report = _run(c)
    (f,) = report.black_holes
    assert f.recovered is not None and f.recovered.by == "smaller_segments"
    assert 2.9 < f.recovered.after_s < 3.1
    assert f.largest_delivered_ip_len == 1024 + 52


def test_receiver_side_gap_infers_the_missing_size() -> None:
    """At the receiver the big segment never appears: only the smaller one and the SACKs."""
    c = syn.Conversation().handshake().data(1 + BIG, SMALL)
    c.ack(1, sack=[(1 + BIG, 1 + BIG + SMALL)])
    c.at(4).ack(1, sack=[(1 + BIG, 1 + BIG + SMALL)])
    report = _run(c)
    (f,) = report.black_holes
    assert (f.side, f.dropped_ip_len, f.largest_delivered_ip_len) == ("receiver", 1420, 444)


def test_receiver_side_gap_at_the_end_of_the_capture_is_too_soon_to_tell() -> None:
    """The capture stopped 1 ms after the gap opened (a wrong clean once: a gap had to stay
    open 1.5 s): suspected, with the missing packet's size from the MSS."""
    c = syn.Conversation().handshake().data(1 + BIG, SMALL)
    c.ack(1, sack=[(1 + BIG, 1 + BIG + SMALL)])
    f = _too_soon(_run(c), "receiver")
    assert f.too_soon_s is not None and f.too_soon_s < 0.01
    assert any("too soon to tell (--min-gap 1.5 s)" in e.what for e in f.evidence)


def test_receiver_side_gap_at_the_end_of_a_full_size_transfer_is_not_judged() -> None:
    """A transfer going on at full size when the capture stopped, one segment missing: the
    data after the gap is as large as the missing packet, ordinary loss."""
    c = syn.Conversation().handshake()
    for k in (0, 2, 3, 4):
        c.data(1 + k * BIG, BIG)
    c.ack(1 + BIG, sack=[(1 + 2 * BIG, 1 + 5 * BIG)])
    assert _run(c).verdict == "clean"


def _after_a_fall(then: int) -> Report:
    """SYNTHETIC: a 1420-byte packet delivered, then (the path's MTU fell) the next one lost
    while a 444-byte one sent after it is SACKed, and one more sent after it of `then` bytes'
    payload SACKed too; the capture stops 1 ms later."""
    c = syn.Conversation().handshake().data(1, BIG).ack(1 + BIG)
    c.at(1).data(1 + BIG, BIG).data(1 + 2 * BIG, SMALL).data(1 + 2 * BIG + SMALL, then)
    c.ack(1 + BIG, sack=[(1 + 2 * BIG, 1 + 2 * BIG + SMALL + then)])
    return _run(c)


def test_a_loss_of_a_size_the_path_carried_before_is_too_soon_to_tell() -> None:
    """Only smaller packets got through after it: the path's MTU may have fallen; the capture
    ends too soon after the loss to tell (a wrong clean once)."""
    f = _too_soon(_after_a_fall(then=SMALL), "sender")
    assert f.path_fell_after is not None and f.path_fell_after < f.first_ts


def test_a_loss_of_a_size_the_path_carried_before_in_a_transfer_going_on_is_ordinary() -> None:
    """The same, but a full-size segment sent after the smaller one is still in flight (a bulk
    transfer that lost one packet at random, cut at the smaller one's SACK): its fate would
    tell, and the capture ended first; no finding (a lab transfer with 3% loss showed it)."""
    c = syn.Conversation().handshake().data(1, BIG).ack(1 + BIG)
    c.at(1).data(1 + BIG, BIG).data(1 + 2 * BIG, SMALL).data(1 + 2 * BIG + SMALL, BIG)
    c.ack(1 + BIG, sack=[(1 + 2 * BIG, 1 + 2 * BIG + SMALL)])
    assert _run(c).findings == ()


def test_a_loss_of_a_size_the_path_carried_after_it_is_ordinary() -> None:
    """A full-size packet sent after the lost one got through: the path still carries the
    size, an ordinary loss."""
    report = _after_a_fall(then=BIG)
    assert report.verdict == "clean" and not report.findings


def _late_reply(*tail: tuple[int, int], acks: int = 1, sack: bool = True) -> Report:
    """A capture begun after the handshake (no MSS known) and stopped 1 ms after the receiver
    reported its gap: the request, then the reply's data `tail` ((relative start, length): its
    first bytes, 1 to the first start, never arrive), then `acks` ACKs at the gap's start."""
    c = syn.Conversation().request(63)
    for start, length in tail:
        c.data(start, length)
    top = max(start + length for start, length in tail)
    for _ in range(acks):
        c.ack(1, sack=[(tail[0][0], top)] if sack else ())
    return _run(c)


def test_a_late_capture_stopped_when_the_gap_opens_is_too_soon_to_tell() -> None:
    """No SYN (the capture began after the connection), stopped 1 ms after the receiver
    SACKed the reply's smaller last segment (a wrong clean once): the gap is longer than any
    segment seen, so of unknown size; suspected, never clean."""
    report = _late_reply((1 + BIG, SMALL))
    assert report.verdict == "inconclusive"
    (f,) = report.suspected
    assert (f.side, f.dropped_ip_len, f.largest_delivered_ip_len) == ("receiver", None, 444)
    assert f.too_soon_s is not None and f.too_soon_s < 0.01
    assert "never arrived while smaller packets got through" in report.summary()
    assert "before the client connects" in (report.to_decide() or "")


def test_a_late_capture_gap_without_a_sack_or_a_second_ack_is_not_judged() -> None:
    """One ACK below data that arrived, with no SACK block: a receiver's ACK lagging behind
    (a capture begun mid-stream catches one), not a report of missing bytes; a second ACK at
    the same point is one."""
    assert _late_reply((1 + BIG, SMALL), sack=False).verdict == "clean"
    assert _late_reply((1 + BIG, SMALL), acks=2, sack=False).verdict == "inconclusive"


def test_a_late_capture_gap_of_whole_segments_is_ordinary_loss() -> None:
    """The gap is two segments as large as the largest seen: a transfer that lost two."""
    assert _late_reply((1 + 2 * SMALL, SMALL)).verdict == "clean"


def test_a_late_capture_with_data_after_the_gap_opened_is_a_transfer_going_on() -> None:
    """Data kept arriving after the receiver reported the gap: the transfer was going on
    when the capture stopped, not stopped at a lost packet."""
    c = syn.Conversation().request(63).data(1 + BIG, SMALL)
    c.ack(1, sack=[(1 + BIG, 1 + BIG + SMALL)])
    c.data(1 + BIG + SMALL, SMALL)
    for last_ack in (False, True):
        if last_ack:
            c.ack(1, sack=[(1 + BIG, 1 + BIG + 2 * SMALL)])
        for shortlist in (True, False):  # the fast pass's shortlist and the exact rule agree
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                assert analyze(c.pcap(), shortlist=shortlist).verdict == "clean"


def test_receiver_side_gap_filled_at_full_size_after_long_is_a_black_hole_the_path_recovered() -> (
    None
):
    """At the receiver: the gap of one full-size segment stays open 4 s while the smaller one
    after it arrived, then one 1420-byte packet fills it, on a path that never carried one
    before; the next response's full-size packets cross too. With no TCP timestamps the gap's
    packet is as large as any the path then carried, so the shortlist must take it for its
    gap alone (`detect.could_heal`)."""
    full = 1380  # the MSS: 1420-byte packets without TCP options
    c = syn.Conversation(timestamps=False).handshake().data(1 + full, SMALL)
    c.ack(1, sack=[(1 + full, 1 + full + SMALL)])
    c.at(2).ack(1, sack=[(1 + full, 1 + full + SMALL)])
    c.at(4).data(1, full).ack(1 + full + SMALL)
    end = 1 + full + SMALL
    for _ in range(3):
        c.data(end, full).ack(end + full)
        end += full
    f = _healed(_both_passes(c), "receiver", smaller=SMALL + 40)
    assert f.path_rose_at == 1_700_000_000 + 4
    assert f.recovered is not None and 3.99 <= f.recovered.after_s <= 4.0


def test_receiver_side_gap_filled_by_a_larger_packet_is_ordinary() -> None:
    """A gap shorter than a segment filled, long after, by a full-size packet that carries
    more: resent in other packets, as a lossy transfer does (a real capture's case)."""
    c = syn.Conversation().handshake().data(1 + 600, SMALL)
    c.ack(1, sack=[(1 + 600, 1 + 600 + SMALL)])
    c.at(2).ack(1, sack=[(1 + 600, 1 + 600 + SMALL)])
    c.at(4).data(1, 600 + SMALL).ack(1 + 600 + SMALL)
    assert _both_passes(c).findings == ()


def test_receiver_side_gap_filled_quickly_is_ordinary() -> None:
    c = syn.Conversation().handshake().data(1 + BIG, SMALL)
    c.ack(1, sack=[(1 + BIG, 1 + BIG + SMALL)])
    c.at(0.3).data(1, BIG).ack(1 + BIG + SMALL)
    assert _run(c).findings == ()


def test_icmp_too_big_is_reported_and_sets_an_exact_fix() -> None:
    outer = syn.ip("198.18.1.1", "198.18.3.2", 17, bytes(8 + 1452))
    c = syn.Conversation()
    c._add(syn.icmp_frag_needed("198.18.1.2", "198.18.1.1", 1400, outer))
    c.handshake().data(1, 100).ack(101)
    report = _run(c)
    assert report.verdict == "clean"
    assert [f.kind for f in report.findings] == ["icmp_too_big"]
    assert report.recommendation is None  # it quotes port 0, not WireGuard's


def test_ipv6_inner_black_hole() -> None:
    c = syn.Conversation("fd19::1", "fd19::2", mss=1360).handshake().data(1, 1348).data(1349, 372)
    c.ack(1, sack=[(1349, 1721)])
    for i in range(1, 4):
        c.at(0.2 * 2**i).data(1, 1348)
    report = _run(c)
    (f,) = report.black_holes
    assert (f.ip_version, f.dropped_ip_len) == (6, 1420)


def test_icmp_too_big_quoting_the_flow_marks_recovery_by_pmtud() -> None:
    c = _incident(copies=4)
    quoted = syn.tcp(
        "198.19.0.1",
        "198.19.0.2",
        80,
        5000,
        seq=1001,
        payload=BIG,
        options=syn.tcp_options(timestamps=True),
    )
    c.at(2.0)._add(syn.icmp_frag_needed("198.19.0.254", "198.19.0.1", 1400, quoted))
    report = _run(c)
    (f,) = report.black_holes
    assert f.recovered is not None and f.recovered.by == "pmtud" and f.icmp_mtu == 1400
    assert any("ICMP too-big" in e.what for e in f.evidence)


def test_a_connection_dropped_on_a_path_that_carries_full_size_packets_is_not_a_black_hole() -> (
    None
):
    """One flow's big segment stalls (say a middlebox forgot the connection) while another flow
    on the same host pair carried full-size packets before and small ones after. A path whose
    MTU fell looks the same, so this is inconclusive and says both; never a black hole."""
    healthy = syn.Conversation(client_isn=9000).handshake().data(1, BIG).ack(1 + BIG)
    broken = syn.Conversation().at(1).handshake().data(1, BIG)
    for i in range(1, 5):
        broken.at(1 + 0.2 * 2**i).data(1, BIG)
    healthy.at(5).data(1 + BIG, SMALL).ack(1 + BIG + SMALL)
    merged = syn.pcap(sorted([*healthy.packets_with_port(5001), *broken.packets]))
    report = analyze(merged)
    assert report.verdict == "inconclusive", report.render_text()
    (suspected,) = report.suspected
    assert suspected.path_fell_after is not None
    assert any("this connection alone was dropped" in e.what for e in suspected.evidence)


# -- data that stops in the middle of a write, seen at the receiver (`stopped_mid_write`) -----


def _stopped_facts(**changes: object) -> list[object]:
    """SYNTHETIC facts of one download seen at its receiver: the server's data, all
    acknowledged, its last segment full-size (1288 bytes and 12 of options fill the MSS of
    1300) at 1.0 s, nothing after it; and the client's request."""
    from dataclasses import replace

    from pcapmtu.model import DirectionFacts, FlowKey

    server = FlowKey(bytes([198, 19, 0, 1]), 8080, bytes([198, 19, 0, 2]), 40000)
    data = DirectionFacts(
        flow=server,
        first_frame=2,
        flow_first_frame=1,
        packets=100,
        data_packets=99,
        data_bytes=99 * 1288,
        last_data_mss_bytes=1300,
        newest_mss_bytes=1300,
        max_payload=1288,
        largest_ip_len=1340,
        new_data={1340: [99, 1288, 1288]},  # 99 segments of 1340 bytes, all acknowledged
        syn_mss=1300,
        peer_syn_mss=1300,
        last_data_ts=1.0,
        last_ts=1.0,
        last_frame=200,
    )
    request = DirectionFacts(
        flow=server.reverse(), first_frame=1, flow_first_frame=1, data_packets=1, last_ts=1.0
    )
    peer = {k[5:]: v for k, v in changes.items() if k.startswith("peer_")}
    own = {k: v for k, v in changes.items() if not k.startswith("peer_")}
    return [replace(data, **own), replace(request, **peer)]  # type: ignore[arg-type]


def test_data_that_stops_mid_write_with_the_connection_open_is_never_clean() -> None:
    from pcapmtu.detect import DetectConfig, stopped_mid_write

    config = DetectConfig()

    def judged(end: float = 3.0, **changes: object) -> list[Finding]:
        return stopped_mid_write(_stopped_facts(**changes), "c", end, [], {}, config)  # type: ignore[arg-type]

    (found,) = judged()
    assert (found.kind, found.side, found.stopped_s, found.dropped_ip_len) == (
        "suspected_black_hole",
        "receiver",
        2.0,
        None,
    )
    assert "its newest bytes came full-size, in the middle of a write (no PSH)" in (
        found.evidence[0].what
    )
    assert judged(end=2.4) == []  # 1.4 s of silence: too soon to tell
    # it ended a write exactly on the MSS: a reply rarely does, judged
    (pushed,) = judged(newest_push=True)
    assert "in a segment that filled the MSS exactly" in pushed.evidence[0].what
    # a super-packet (GRO) that ended a write: a reply's end, unless its FIN went unanswered
    merged = {"newest_push": True, "newest_mss_bytes": 2600, "last_data_mss_bytes": 2600}
    assert judged(**merged) == []
    (closed,) = judged(**merged, peer_ended=True, peer_unacked_at_end=True)
    assert "the receiver's FIN later went unanswered" in closed.evidence[0].what
    assert judged(**merged, peer_ended=True) == []  # its FIN was acknowledged
    assert judged(ended=True) == []  # the sender closed
    assert judged(unacked_at_end=True) == []  # a stall or a gap: the other rules judge it
    assert judged(newest_mss_bytes=700) == []  # a reply's tail, not full-size
    assert judged(zero_window_s=2.0) == []  # the receiver stopped reading
    assert judged(new_data={1340: [3, 1288, 1288]}) == []  # three segments: one reply's end
    # no SYN in the capture: full-size is as large as its largest, and too large for some path
    assert len(judged(syn_mss=None, peer_syn_mss=None)) == 1
    small = {"newest_mss_bytes": 500, "max_payload": 488}
    assert judged(syn_mss=None, peer_syn_mss=None, **small) == []
    # a later packet of the sender without data: the evidence says so
    (acked,) = judged(last_ts=1.5, last_frame=210)
    assert acked.evidence[0].frame == 210 and "its last packet, without data" in (
        acked.evidence[0].what
    )


def test_a_receivers_capture_of_an_outage_mid_transfer_is_never_clean() -> None:
    """The real `outage-upload` receiver (home wg0): the upload's data stops in order, its
    newest segment filling the MSS: inconclusive. The real `outage-bulk` receiver (proxy wg0):
    the data stops, then the client's FIN is resent three times and never answered: the path
    down. Both said clean ("no packet was lost for its size") before."""
    from tests.conftest import SAMPLES

    report = analyze(SAMPLES / "outage-upload.home-wg0.pcap")
    assert report.verdict == "inconclusive"
    (found,) = report.suspected
    assert found.side == "receiver" and found.stopped_s is not None and found.stopped_s >= 1.5
    assert (report.to_decide() or "").startswith("capture at the sender at the same time")
    down = analyze(SAMPLES / "outage-bulk.proxy-wg0.pcap")
    (fin,) = down.findings
    assert (fin.kind, fin.transmissions, fin.dropped_ip_len) == ("path_down", 3, 52)
    assert all("sent its FIN" in e.what for e in fin.evidence)
    assert down.summary().startswith("no MTU black hole: the path 198.19.0.2 -> 198.19.0.1")


def test_fin_probes_to_a_silent_port_are_not_a_path_down() -> None:
    """nmap's FIN probes (the public corpus's `tcp_nmap_os`), resent to a port that never
    answered anything: no connection that worked, so no path that stopped."""
    from tests.test_corpus import CORPUS

    path = CORPUS / "tcp_nmap_os.pcapng"
    if not path.exists():
        import pytest

        pytest.skip("the public corpus is not beside the checkout")
    assert not [f for f in analyze(path).findings if f.kind == "path_down"]
