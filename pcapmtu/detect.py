"""Flows in, findings out: which flows lost packets *because of their size*.

The rule (the one QUIC stacks adopted after false alarms, RFC 9000 section 14.4 and
RFC 8899): a loss is size-related only if the lost packets are larger than packets delivered
*later* on the same path. So ordinary loss (random or congestion loss of large and small
packets, a segment retransmitted once and then ACKed, one lost full-size segment) is never a
black hole. Three patterns are recognised:

- sender side: the same large segment sent at full size `min_full_size_copies` times or more,
  never acknowledged at that size, while smaller data sent after it was delivered (SACKed, or
  duplicate-ACKed when SACK is off and only smaller segments followed it, or acknowledged in
  another flow on the same path);
- receiver side: a hole in the sequence space that stays open for `min_hole_s` while later,
  smaller data arrives and the receiver keeps acknowledging the hole's start; the missing
  packet's size is inferred from the hole and the sender's MSS;
- recovery: the stalled bytes later got through in smaller packets (Linux PLPMTUD), or after an
  ICMP "too big" for the flow (PMTUD), or at full size once the path carried that size at
  last, when it never had before (its MTU rose: `_healed`, `_gap_healed`); reported with the
  time it took;
- MSS clamping: a flow on a black-holed path whose clamped MSS kept its packets small enough.

A path that carried a packet as large as the lost one after it clears it: the size was not
the cause (copies of a stalled segment sent after that packet are judged on their own). One
that carried the size only before it had its MTU fall (`_after_fall`): a black hole when
smaller packets of the same connection got through after it (`path_fell_after` says since
when), suspected when only other connections show it (a middlebox that dropped one
connection looks the same).

A large segment that stalls with no smaller data after it to compare with is a
`suspected_black_hole`: the size may be the cause, but the capture cannot prove it.

Two stalls are said to be something else: `path_down`, a segment resent with nothing of any
size getting through after it (an outage, a dead peer), and `zero_window`, a receiver that
stopped reading (`zero_windows`, from the facts of every direction).

Underlay captures (WireGuard's UDP, `wgwire`): both ends' messages matched by counter prove a
black hole (`from_underlay`); one end's show the resend's signature (`from_one_underlay`,
suspected); messages sent in IP fragments say the tunnel works only thanks to fragmentation
(`fragmented`).

Every decision of pcapmtu is here: besides the rules, which directions are worth the exact pass
(`worth_exact_pass`, from the fast pass's facts: each of its predicates, `could_stall` and
`could_hold_hole`, stands beside the rule it serves), what a path surely delivered
(`surely_delivered`), and the verdict.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, cast

from pcapmtu.flows import Copy, Direction, FlowTable, Hole, PathSummary, SackedUnseen, Stall
from pcapmtu.model import DetectConfig as DetectConfig  # its thresholds, applied here
from pcapmtu.model import DirectionFacts, FlowKey, TooBig, duration, plural
from pcapmtu.mtu import ETHERNET_MTU
from pcapmtu.tunnels import WG_TRANSPORT
from pcapmtu.wgwire import Fate, WgMessage

KIND_BLACK_HOLE = "black_hole"
KIND_SUSPECTED = "suspected_black_hole"
KIND_TOO_BIG = "icmp_too_big"
KIND_MSS_CLAMPED = "mss_clamped"
KIND_PATH_DOWN = "path_down"  # not a black hole: the path stopped carrying packets of any size
KIND_ZERO_WINDOW = "zero_window"  # not a black hole: the receiver stopped reading
KIND_FRAGMENTED = "fragmented"  # not a black hole: the tunnel's packets cross in IP fragments
# Every IPv4 host must accept 576-byte datagrams (RFC 791) and every tunnel worth the name
# carries more: a packet this small is never lost for its size.
MIN_TOO_BIG_SIZE = 576
MAX_IP_LEN = 65_535 + 40  # an IPv6 jumbo-less packet: its payload length field and header
BACKOFF_TOLERANCE = 0.9  # a wait may be this much shorter than the one before (timer jitter)
MIN_RTO_S = 0.2  # Linux's smallest retransmission timeout: a timer's resend waits this at least
VERDICT_BLACK_HOLE = "black_hole"
VERDICT_CLEAN = "clean"
VERDICT_INCONCLUSIVE = "inconclusive"

Path = tuple[bytes, bytes]  # (src, dst): a direction of travel between two hosts
HostMss = dict[bytes, tuple[int, int]]  # host -> the smallest and largest MSS its SYNs announced


@dataclass(frozen=True)
class Evidence:
    """One packet that supports a finding."""

    frame: int
    ts: float | None  # None where only the frame number was kept
    what: str
    capture: str


@dataclass(frozen=True)
class Recovery:
    # "smaller_segments" (PLPMTUD), "pmtud" (after an ICMP too-big), or "path" (the path
    # carried the size again at last: its MTU rose)
    by: str
    after_s: float  # from the first full-size copy (at a receiver: the gap opening) to delivery


@dataclass(frozen=True)
class Finding:
    """A flow (in the direction of the lost data) and why its packets are thought lost."""

    kind: str
    side: str  # "sender", "receiver" (where the capture was taken) or "router" (ICMP)
    capture: str
    flow: FlowKey  # in the direction of the lost data (ICMP: of the quoted packet)
    dropped_ip_len: int | None
    largest_delivered_ip_len: int | None
    transmissions: int  # full-size copies of the lost bytes seen in the capture
    first_ts: float
    recovered: Recovery | None = None
    mss: int | None = None
    icmp_mtu: int | None = None
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    copies_at_s: tuple[float, ...] = ()  # each full-size copy, in seconds after the first
    # The path carried packets of the lost size until then (the send time of the last that got
    # through): its MTU fell between that and `first_ts`; evidence is from after it only.
    path_fell_after: float | None = None
    zero_window_s: float | None = None  # zero_window: the longest the window stayed closed
    fragment_len: int | None = None  # fragmented: the first fragment's IP length, smallest seen
    fragments_sent: int = 0  # fragmented: the IP fragments that carried the messages
    # the capture holds no ACK of the lost data's direction (one direction only: a filter,
    # asymmetric routing), so it cannot tell what arrived (`unseen_sends`)
    one_direction: bool = False
    # the capture ends this many seconds after the loss began (the gap opened, at a receiver;
    # the first copy was sent, at a sender), before the wait that would tell a black hole from
    # a loss the sender's next copy repairs (`DetectConfig.min_hole_s`, `min_full_size_copies`):
    # too soon to tell, so suspected (`_stopped_early`, `_from_hole`)
    too_soon_s: float | None = None
    # Recovered by the path (`Recovery.by` "path"): when a packet of the lost size got through
    # again, sent (at a receiver: seen); the path's MTU rose before it.
    path_rose_at: float | None = None
    # Underlay: copies of the lost message the other end's underlay capture shows never
    # arrived (matched by receiver index and counter); 0: one end's capture alone, it cannot tell.
    lost_seen: int = 0
    # At a receiver: its data stopped arriving in the middle of a write, this long to the end
    # of the capture, everything before acknowledged and the connection open (`stopped_mid_write`)
    stopped_s: float | None = None

    @property
    def src(self) -> bytes:
        return self.flow.src

    @property
    def sport(self) -> int:
        return self.flow.sport

    @property
    def dst(self) -> bytes:
        return self.flow.dst

    @property
    def dport(self) -> int:
        return self.flow.dport

    @property
    def ip_version(self) -> int:
        return self.flow.ip_version


def detect(
    table: FlowTable,
    paths: dict[tuple[bytes, bytes], PathSummary],
    too_big: list[TooBig],
    capture: str,
    capture_end_ts: float,
    config: DetectConfig,
    surely: dict[Path, int] | None = None,
) -> list[Finding]:
    """The findings of one capture, judged against the delivery evidence of all (`paths`;
    `surely`: the paths that surely delivered some size, `surely_delivered_by_path`)."""
    findings: list[Finding] = []
    ended = _Ended(capture_end_ts, frozenset(surely or ()))
    for flow in table.all_flows():
        directions = flow.directions()
        for sender in directions:
            receiver = flow.peer_of(sender)
            peer_mss = receiver.syn_mss if receiver is not None else None
            if peer_mss is None:
                peer_mss = table.host_max_mss(sender.dst)
            for stall in sender.stalls:
                if len(stall.copies) < config.min_full_size_copies:
                    found = _stopped_early(sender, stall, paths, ended, capture, peer_mss, config)
                else:
                    found = _from_stall(sender, stall, paths, capture, peer_mss, config)
                if found is not None:
                    findings.append(found)
            for hole in sender.holes:
                found = _from_hole(sender, hole, paths, capture_end_ts, capture, peer_mss, config)
                if found is not None:
                    findings.append(found)
            if sender.fin_unanswered is not None:
                found = _fin_unanswered(sender, sender.fin_unanswered, paths, capture, config)
                if found is not None:
                    findings.append(found)
    findings = [_with_pmtud(f, too_big, capture) for f in findings]
    findings += [_from_too_big(capture, message) for message in too_big]
    return findings


def confirm_by_path(
    findings: list[Finding], taken: Callable[[str], int] = lambda capture: 0
) -> list[Finding]:
    """A suspected stall is a black hole when its path is proven to lose packets of its size
    in the captures taken at the same time (`taken`: a capture's group of those).

    Several flows that stall at once on one path: the first may have smaller data after it that
    got through, the others only the same large size. The path's proof covers them all.
    """
    proven: dict[tuple[int, bytes, bytes], Finding] = {}
    for f in findings:
        if f.kind == KIND_BLACK_HOLE and f.dropped_ip_len is not None:
            key = (taken(f.capture), f.src, f.dst)
            best = proven.get(key)
            if best is None or (best.dropped_ip_len or 0) > f.dropped_ip_len:
                proven[key] = f
    confirmed = []
    for f in findings:
        proof = proven.get((taken(f.capture), f.src, f.dst))
        if (
            f.kind == KIND_SUSPECTED
            and proof is not None
            and f.dropped_ip_len is not None
            and proof.dropped_ip_len is not None
            and proof.dropped_ip_len <= f.dropped_ip_len
        ):
            note = Evidence(
                proof.evidence[0].frame if proof.evidence else 0,
                proof.first_ts,
                f"the same path lost {proof.dropped_ip_len}-byte packets of flow "
                f"port {proof.sport} -> {proof.dport} while smaller ones got through",
                proof.capture,
            )
            f = replace(
                f,
                kind=KIND_BLACK_HOLE,
                largest_delivered_ip_len=proof.largest_delivered_ip_len,
                evidence=(*f.evidence, note),
            )
        confirmed.append(f)
    return confirmed


def clamped_flows(
    table: FlowTable,
    holed: dict[tuple[bytes, bytes], int],
    capture: str,
) -> list[Finding]:
    """Flows on a black-holed path whose MSS was clamped and whose full-size packets got through.

    `holed` maps a path to the smallest size lost on it. A flow counts when the MSS its
    receiver announced is smaller than the MSS that host announces in other flows (the tunnel
    allows more), and it delivered packets of full size for that MSS, below the lost size:
    clamping is what kept it working.
    """
    found = []
    for flow in table.all_flows():
        directions = flow.directions()
        for sender in directions:
            lost = holed.get((sender.src, sender.dst))
            receiver = flow.peer_of(sender)
            if lost is None or receiver is None or not receiver.syn_mss or sender.stalls:
                continue
            usual = table.host_max_mss(sender.dst) or 0
            full = receiver.syn_mss - sender.tcp_options_len + sender.header_len
            if receiver.syn_mss >= usual or sender.largest_sent < full or full >= lost:
                continue
            if sender.cum_ack is None or sender.outstanding:
                continue  # not everything it sent was delivered
            frame = receiver.syn_frame or 0
            found.append(
                _finding(
                    sender,
                    capture,
                    kind=KIND_MSS_CLAMPED,
                    side="sender" if sender.syn_seen else "receiver",
                    dropped_ip_len=None,
                    largest_delivered_ip_len=sender.largest_sent,
                    transmissions=0,
                    first_ts=sender.facts.first_ts,
                    mss=receiver.syn_mss,
                    evidence=(
                        Evidence(
                            frame,
                            None,
                            f"SYN announces MSS {receiver.syn_mss}; this host "
                            f"announces {usual} in other flows",
                            capture,
                        ),
                    ),
                )
            )
    return found


def _of_facts(
    kind: str, side: str, flow: FlowKey, ts: float, evidence: Evidence, **fields: Any
) -> Finding:
    """A finding that a direction's facts alone tell (no packet's size): one piece of
    evidence, its capture the finding's."""
    return Finding(
        kind=kind,
        side=side,
        capture=evidence.capture,
        flow=flow,
        dropped_ip_len=None,
        largest_delivered_ip_len=None,
        transmissions=0,
        first_ts=ts,
        evidence=(evidence,),
        **fields,
    )


def zero_windows(
    facts: Iterable[DirectionFacts], capture: str, config: DetectConfig
) -> list[Finding]:
    """Directions whose receiver kept its window closed for `min_zero_window_s` or more: the
    sender waits on the receiving application (window probes), not on the network."""
    return [
        _of_facts(
            KIND_ZERO_WINDOW,
            "sender",
            f.flow,
            f.first_ts,
            Evidence(
                f.first_frame,
                None,
                f"the receiver kept its window closed (zero) for {f.zero_window_s:.1f} s",
                capture,
            ),
            zero_window_s=round(f.zero_window_s, 3),
        )
        for f in facts
        if f.zero_window_s >= config.min_zero_window_s
    ]


def unseen_sends(
    facts: Iterable[DirectionFacts],
    capture: str,
    findings: Iterable[Finding],
    config: DetectConfig,
) -> list[Finding]:
    """Directions whose bytes never arrived, as the capture shows without the packets that
    would tell their size, and that nothing else explains: a suspected black hole of unknown
    size, so never clean, inconclusive.

    Either a segment without data numbered beyond them (a receiver-side capture,
    `DirectionFacts.sent_unseen`): nothing sent after those bytes arrived either (it would
    have opened a gap, `_from_hole`). Or, in a capture of this direction only (no ACK of it in
    the capture: a filter, asymmetric routing), data numbered beyond them and no segment
    filling them (`DirectionFacts.skipped_unacked`): with no ACK to show what arrived, the
    capture cannot tell lost from not yet sent again. Or, in a capture of the other direction
    only (its ACKs, none of this direction's packets), an ACK that stopped below bytes it
    reported arrived, for `config.min_hole_s` or more to the end of the capture
    (`DirectionFacts.stuck_ack_s`, judged as the receiver-side gap of `_from_hole` is)."""
    explained = {f.flow for f in findings if f.kind in (KIND_BLACK_HOLE, KIND_SUSPECTED)}
    found = []
    for f in facts:
        flow, one_direction = f.flow, False
        if f.sent_unseen + f.max_header_len > MIN_TOO_BIG_SIZE:
            what = (
                f"the sender's sequence numbers show {f.sent_unseen} bytes it sent that never "
                "arrived and were never acknowledged; nothing it sent after them arrived either"
            )
        elif f.skipped_unacked + f.max_header_len > MIN_TOO_BIG_SIZE:
            what = (
                f"the sender's sequence numbers skip {f.skipped_unacked} bytes it sent that "
                "never arrived, though later data did; the capture holds no ACK of this "
                "direction (one direction only), so it cannot tell lost from not yet resent"
            )
            one_direction = True
        elif _stuck_ack(f, config):
            flow, one_direction = f.flow.reverse(), True
            what = _stuck_ack_words(f)
        else:
            continue
        if flow in explained:
            continue
        found.append(
            _of_facts(
                KIND_SUSPECTED,
                "receiver",
                flow,
                f.last_ts,
                Evidence(f.last_frame, f.last_ts, what, capture),
                one_direction=one_direction,
            )
        )
    return found


# Segments of its largest size a direction had delivered before its data stopped, for the stop
# to read as a transfer cut off (`stopped_mid_write`), not the end of one reply.
MIN_STREAM_SEGMENTS = 4


def stopped_mid_write(
    facts: Iterable[DirectionFacts],
    capture: str,
    capture_end_ts: float,
    findings: Iterable[Finding],
    host_mss: HostMss,
    config: DetectConfig,
) -> list[Finding]:
    """Directions whose data stopped arriving in the middle of a write, and nothing else
    explains it: a suspected black hole of unknown size, so never clean, inconclusive.

    Everything it sent that the capture holds was acknowledged, `MIN_STREAM_SEGMENTS` or more
    of its largest size among them (a transfer, not one reply); the segment that carried its
    newest bytes filled the MSS (exactly; a larger one, a super-packet, only if it did not
    end a write, no PSH: the sender had more to send; or if its receiver closed the
    connection and never had its FIN acknowledged); it never closed (no FIN or RST); and
    nothing of its data came for `config.min_hole_s` or more to the end of the capture, its
    receiver's window open: at the receiver, the path stopped carrying its packets (an
    outage, or an MTU that fell with nothing smaller after it to show it), or the sender
    stopped. The capture holds none of the packets lost, so it cannot tell their size, nor
    which. An idle connection whose last reply ended exactly on the MSS (one reply in about
    that many bytes) looks the same: a false inconclusive, never a wrong clean."""
    findings = list(findings)
    explained = {f.flow for f in findings}
    # its receiver's FIN went unanswered, nothing of any size after it: the path down
    explained |= {f.flow.reverse() for f in findings if f.kind == KIND_PATH_DOWN}
    facts = list(facts)
    by_flow = {f.flow: f for f in facts}
    found = []
    for f in facts:
        peer = by_flow.get(f.flow.reverse())
        unanswered = peer is not None and peer.ended and peer.unacked_at_end
        if (
            not f.data_packets
            or f.unacked_at_end
            or f.sent_unseen
            or f.ended
            or f.flow in explained
            or f.zero_window_s >= config.min_zero_window_s
        ):
            continue
        silent = capture_end_ts - f.last_data_ts
        mss = _facts_mss(f, host_mss)
        # full-size: it filled the MSS; with none known, as large as its largest, and too
        # large for some path
        full = (
            f.newest_mss_bytes >= mss
            if mss
            else f.newest_mss_bytes >= f.max_payload > MIN_TOO_BIG_SIZE - f.max_header_len
        )
        # exactly full-size with PSH: a write that ended on the MSS, or the sender's push
        exact = bool(mss) and f.newest_mss_bytes == mss
        pushed = f.newest_push and not unanswered and not exact
        streamed = f.new_data.get(f.largest_ip_len, [0])[0] >= MIN_STREAM_SEGMENTS
        if silent < config.min_hole_s or not full or pushed or not streamed:
            continue
        newest = (
            "full-size, in the middle of a write (no PSH)"
            if not f.newest_push
            else "in a segment that filled the MSS exactly"
            if exact
            else "full-size (the receiver's FIN later went unanswered)"
        )
        what = (
            f"its last data arrived here; its newest bytes came {newest}; none after it for "
            f"{silent:.1f} s to the end of the capture, though everything was acknowledged and "
            "the sender never closed"
            if f.last_ts == f.last_data_ts
            else f"its last packet, without data; its last data arrived {silent:.1f} s before "
            f"the end of the capture; its newest bytes came {newest}; none after it, though "
            "everything was acknowledged and the sender never closed"
        )
        found.append(
            _of_facts(
                KIND_SUSPECTED,
                "receiver",
                f.flow,
                f.last_data_ts,
                Evidence(f.last_frame, f.last_ts, what, capture),
                stopped_s=round(silent, 3),
            )
        )
    return found


def _stuck_ack(f: DirectionFacts, config: DetectConfig) -> bool:
    """Its ACKs, in a capture without its peer's packets, stopped below bytes they reported
    arrived, long enough for the sender's timer to have resent the missing ones several
    times; and the bytes missing, when its SACK blocks tell how many, make a packet too large
    for some path (at the least IPv4 and TCP headers, 40 bytes, around them). It sent data
    itself (its request): a direction without data is forgotten in a flood (`fast.screen`),
    so it must make no finding, and a spoofed ACK is none."""
    if f.stuck_ack_s < config.min_hole_s or not f.data_packets:
        return False
    return f.stuck_ack_hole == 0 or f.stuck_ack_hole + 40 > MIN_TOO_BIG_SIZE


def _stuck_ack_words(f: DirectionFacts) -> str:
    if f.stuck_ack_hole:
        missing = f"{f.stuck_ack_hole} bytes below those it SACKed never arrived"
        if f.syn_mss and f.stuck_ack_hole <= f.syn_mss:
            missing += f" (no more than one segment at the MSS it announced, {f.syn_mss})"
    else:
        missing = "its duplicate ACKs showed later bytes arrived, the ones at the ACK never did"
    return (
        f"the receiver's cumulative ACK did not move for {f.stuck_ack_s:.1f} s, to the end "
        f"of the capture: {missing}; the capture holds none of the sender's packets (one "
        "direction only, its ACKs), so it cannot tell the size of the packets that were lost"
    )


def from_underlay(fates: list[Fate], capture: str, config: DetectConfig) -> list[Finding]:
    """Black holes proven by both ends' underlay captures (`wgwire.matched`): per session (a
    receiver index), WireGuard messages of one padded inner size lost `min_full_size_copies`
    times or more at the retransmission timer's backing-off intervals (one packet resent, as
    its encrypted copies show it), none smaller lost, while later smaller messages got through
    and none as large did, or one did as a path whose MTU rose (`_underlay_rose`: recovered by
    the path). The sizes are the inner packets', padded. Else a resend lost with every
    message that large since the session last carried one (`_after_carried`): a black hole
    after the path's MTU fell, the path down, or suspected."""
    found = []
    for session in _by_receiver(fates, lambda f: f.sent).values():
        proven = _underlay_proven(session, capture, config)
        if proven is None:
            proven = _after_carried(session, config)
        if proven is not None:
            found.append(proven)
    return found


def _underlay_proven(session: list[Fate], capture: str, config: DetectConfig) -> Finding | None:
    """One session's black hole proven by both ends' underlays (`from_underlay`)."""
    lost = [f.sent for f in session if not f.delivered and (f.sent.padded_inner or 0) > 0]
    if len(lost) < config.min_full_size_copies:
        return None
    smallest = min(m.padded_inner or 0 for m in lost)
    times = sorted(m.ts for m in lost if m.padded_inner == smallest)
    if not _timer_resends(times, config):
        return None  # not one packet resent by a timer that backs off: a burst of loss
    since = min(m.ts for m in lost)
    after = [f.sent for f in session if f.delivered and f.sent.ts > since]
    if smallest <= MIN_TOO_BIG_SIZE:
        return None  # small enough for any path
    carried = [f.sent for f in session if f.delivered and (f.sent.padded_inner or 0) > 0]
    through = min(
        (m for m in after if (m.padded_inner or 0) >= smallest),
        key=lambda m: m.ts,
        default=None,
    )
    if through is not None and not _underlay_rose(carried, lost, smallest, through):
        return None  # the size got through after it, and not as a path whose MTU rose does
    smaller = [m for m in after if m.padded_inner and (through is None or m.ts < through.ts)]
    if not smaller:
        return None  # nothing smaller got through after it: a dead path looks the same
    # the bracket's floor: the largest smaller message delivered, before the loss or after
    best = max(
        [m for m in carried if (m.padded_inner or 0) < smallest],
        key=lambda m: m.padded_inner or 0,
    )
    first = min(lost, key=lambda m: m.ts)
    evidence = [
        _message_evidence(m, m.capture, " never reached the other end")
        for m in sorted(lost, key=lambda m: m.ts)
    ]
    when = "after" if best.ts > since else "before"
    evidence.append(_got_there(best, best.capture, f"{when} the first lost one"))
    recovered = None
    if through is not None:
        evidence.append(
            _message_evidence(
                through, through.capture, " got there: the path carried this size again"
            )
        )
        recovered = Recovery("path", round(through.ts - first.ts, 3))
    return _underlay_finding(
        first,
        smallest,
        best,
        len(lost),
        evidence,
        capture,
        recovered=recovered,
        path_rose_at=through.ts if through is not None else None,
        lost_seen=len(lost),
    )


def _underlay_rose(
    carried: list[WgMessage], lost: list[WgMessage], smallest: int, through: WgMessage
) -> bool:
    """Whether a message of the lost size that got through (`through`, one of the session's
    messages that got there: `carried`) is a path whose MTU rose (`_healed`, on the
    underlay): every lost message of that size was sent before it, a smaller one got through
    between the first and the last of them, and the session had never carried a message that
    large before it."""
    sized = [m.ts for m in lost if m.padded_inner == smallest]
    if max(sized) > through.ts:
        return False  # lost again after it got through: not a path that carries it now
    if any((m.padded_inner or 0) >= smallest and m.ts < through.ts for m in carried):
        return False  # carried before: a lossy link, or an MTU that fell and rose back
    return any(
        0 < (m.padded_inner or 0) < smallest and min(sized) < m.ts < max(sized) for m in carried
    )


# The most copies of one resend looked for at the end of a run of lost messages: TCP gives up
# after 15 (tcp_retries2), and the messages before a resend are the burst the path lost first.
MAX_RESEND_COPIES = 32


def _after_carried(session: list[Fate], config: DetectConfig) -> Finding | None:
    """A message resent by a timer that backs off, every copy lost (both ends' underlays
    matched) since the session last got a message that large there (`from_underlay`), as a TCP
    stall is judged after the path carried its size (`_after_fall`):

    - a black hole when a smaller message with an inner packet got there after the first of
      those lost (the path's MTU fell, and the lost run ends in the resend);
    - the path down when nothing at all got there after the first copy and smaller messages
      sent after it were lost too, or the resent one is small enough for any path;
    - else a suspected black hole: an MTU that fell and an outage look the same.

    The resend is the longest run at the end of the lost messages of one size that reads as a
    timer's copies (`_timer_resends`), the largest size first."""
    lost = [f.sent for f in session if not f.delivered and (f.sent.padded_inner or 0) > 0]
    for size in sorted({m.padded_inner or 0 for m in lost}, reverse=True):
        carried = [f.sent for f in session if f.delivered and (f.sent.padded_inner or 0) >= size]
        last = max(carried, key=lambda m: m.ts, default=None)
        tail = sorted(
            (m for m in lost if m.padded_inner == size and (last is None or m.ts > last.ts)),
            key=lambda m: m.ts,
        )
        copies = _timer_run(tail, config)
        if copies:
            return _judged_after(session, size, tail[0], copies, last)
    return None


def _timer_run(tail: list[WgMessage], config: DetectConfig) -> list[WgMessage]:
    """The longest run at the end of `tail` (one size's lost messages, in time order) whose
    send times read as one message resent by a timer: each wait the timer's least at least (a
    burst's messages, sent together, are not copies); empty when none does."""
    least = MIN_RTO_S * BACKOFF_TOLERANCE
    for start in range(max(0, len(tail) - MAX_RESEND_COPIES), len(tail)):
        times = [m.ts for m in tail[start:]]
        if all(b - a >= least for a, b in itertools.pairwise(times)) and _timer_resends(
            times, config
        ):
            return tail[start:]
    return []


def _judged_after(
    session: list[Fate],
    size: int,
    first_lost: WgMessage,
    copies: list[WgMessage],
    last: WgMessage | None,
) -> Finding | None:
    """The resend `copies` of padded inner `size`, lost from `first_lost` on, the session's
    last message that large to get there `last` (`_after_carried`)."""
    first = copies[0]
    sender = first.capture  # the sending end's capture, whose frames the evidence gives
    evidence = [
        _message_evidence(m, sender, f", copy {i}: never reached the other end")
        for i, m in enumerate(copies, 1)
    ]
    if first_lost is not first:
        evidence.append(
            _message_evidence(
                first_lost, sender, ", the first that large lost: never reached the other end"
            )
        )
    smaller = [
        f.sent
        for f in session
        if f.delivered and f.sent.ts > first_lost.ts and 0 < (f.sent.padded_inner or 0) < size
    ]
    alive = [f.sent for f in session if f.delivered and f.sent.ts > first.ts]  # keepalives
    lost_after = [
        f.sent
        for f in session
        if not f.delivered and f.sent.ts > first.ts and 0 < (f.sent.padded_inner or 0) < size
    ]
    best: WgMessage | None = None
    if smaller and size > MIN_TOO_BIG_SIZE:
        kind = KIND_BLACK_HOLE  # smaller messages got there after it, this size no longer
        best = max(smaller, key=lambda m: m.padded_inner or 0)
        evidence.append(_got_there(best, sender, "after the first lost one"))
    elif not alive and (size <= MIN_TOO_BIG_SIZE or lost_after):
        kind = KIND_PATH_DOWN  # nothing of any size got there after it
        evidence += [
            _message_evidence(m, sender, ", sent after it: never reached the other end")
            for m in lost_after[:MIN_COPIES_SEEN_LOST]
        ]
    elif not smaller and size > MIN_TOO_BIG_SIZE:
        kind = KIND_SUSPECTED  # the path's MTU fell, or an outage: nothing tells them apart
        evidence += [
            _message_evidence(
                m, sender, ", a keepalive sent after the first copy, got there", noun="message"
            )
            for m in alive[:1]
        ]
    else:
        return None  # a small message lost while smaller ones got through: not a size problem
    fell = last if kind != KIND_PATH_DOWN else None
    if fell is not None:
        evidence.append(
            _message_evidence(
                fell,
                sender,
                " got there before it: the path carried this size until then",
                noun="message",
            )
        )
    return _underlay_finding(
        first_lost if kind == KIND_BLACK_HOLE else first,
        size,
        best,
        len(copies),
        evidence,
        sender,
        kind,
        copies_at_s=tuple(round(m.ts - first.ts, 3) for m in copies),
        path_fell_after=fell.ts if fell is not None else None,
        lost_seen=len(copies),
    )


# Of a timer's resent copies on one end's underlay, how many the other end's capture must show
# lost (its span covered them, `wgwire.matched`) for the resend to be proven a black hole when
# it was not running for all of them (`from_one_underlay` with `told`).
MIN_COPIES_SEEN_LOST = 2


def from_one_underlay(
    messages: list[WgMessage],
    capture: str,
    config: DetectConfig,
    told: dict[tuple[int | None, int | None], bool] | None = None,
) -> list[Finding]:
    """One end's underlay capture alone: per session (a receiver index), a transport message
    size sent `min_full_size_copies` times or more at the intervals of a timer that backs off,
    with nothing as large sent in between (a resend, not a transfer), while the other end's
    messages keep arriving (it is alive). Whether the copies arrived the capture cannot say:
    suspected, the evidence given; the other end's capture decides it (`from_underlay`).

    With the other end's capture given but not running for enough of the copies to decide
    (`told`: the fates it does tell, by receiver index and counter), the resend is a black
    hole when it shows MIN_COPIES_SEEN_LOST of them or more lost and none delivered, nothing
    of the session that large ever delivered, and a smaller message sent after the first copy
    delivered: as a sender's capture shows a segment resent by its timer and the receiver's
    SACK of smaller data after it (`_from_stall`)."""
    found = []
    for session in _by_receiver(messages, lambda m: m).values():
        ordered = sorted(session, key=lambda m: m.ts)
        largest = max((m.padded_inner or 0) for m in ordered)
        if largest <= MIN_TOO_BIG_SIZE:
            continue
        copies = [m for m in ordered if m.padded_inner == largest]
        times = [m.ts for m in copies]
        if not _timer_resends(times, config):
            continue
        first = copies[0]
        back = (first.dst, first.src)
        answers = [m for m in messages if (m.src, m.dst) == back and m.ts > first.ts]
        if not answers:
            continue  # nothing came back: a dead peer looks the same, and says nothing
        proven = _seen_lost(ordered, copies, largest, told, capture) if told else None
        if proven is not None:
            found.append(proven)
            continue
        evidence = [_message_evidence(m, capture, f", copy {i}") for i, m in enumerate(copies, 1)]
        evidence.append(
            Evidence(
                answers[-1].frame,
                answers[-1].ts,
                f"the other end still sends ({len(answers)} messages after the first copy)",
                capture,
            )
        )
        found.append(
            Finding(
                kind=KIND_SUSPECTED,
                side="underlay",
                capture=capture,
                flow=FlowKey(first.src, first.sport, first.dst, first.dport),
                dropped_ip_len=largest,
                largest_delivered_ip_len=None,
                transmissions=len(copies),
                first_ts=first.ts,
                evidence=_by_frame(evidence),
                copies_at_s=tuple(round(t - first.ts, 3) for t in times),
            )
        )
    return found


def _seen_lost(
    session: list[WgMessage],
    copies: list[WgMessage],
    size: int,
    told: dict[tuple[int | None, int | None], bool],
    capture: str,
) -> Finding | None:
    """A timer's resend of `copies` (of padded inner `size`) proven a black hole by the fates
    the other end's capture tells of some of the session's messages (`from_one_underlay`)."""

    def fate(m: WgMessage) -> bool | None:
        return told.get((m.receiver, m.counter))

    lost = [m for m in copies if fate(m) is False]
    if len(lost) < MIN_COPIES_SEEN_LOST or any(fate(m) for m in copies):
        return None
    if any(fate(m) for m in session if (m.padded_inner or 0) >= size):
        return None  # that size got through: a lossy link, or a path whose MTU rose
    first = copies[0]
    smaller = [m for m in session if m.ts > first.ts and 0 < (m.padded_inner or 0) < size]
    through = [m for m in smaller if fate(m)]
    if not through:
        return None
    best = max(through, key=lambda m: m.padded_inner or 0)
    evidence = [
        _message_evidence(
            m,
            capture,
            f", copy {i}: never reached the other end"
            if fate(m) is False
            else f", copy {i}: sent before the other end's capture shows it running",
        )
        for i, m in enumerate(copies, 1)
    ]
    evidence.append(_got_there(best, capture, "after the first copy"))
    return _underlay_finding(
        first,
        size,
        best,
        len(copies),
        evidence,
        capture,
        copies_at_s=tuple(round(m.ts - first.ts, 3) for m in copies),
        lost_seen=len(lost),
    )


def _got_there(m: WgMessage, capture: str, sent: str) -> Evidence:
    """A smaller message of the session that reached the other end, sent `sent`."""
    return _message_evidence(m, capture, f", sent {sent}, got there", noun="message")


def _underlay_finding(
    first: WgMessage,
    size: int,
    best: WgMessage | None,
    transmissions: int,
    evidence: list[Evidence],
    capture: str,
    kind: str = KIND_BLACK_HOLE,
    **more: Any,
) -> Finding:
    """A finding on WireGuard's underlay, a black hole unless `kind` says otherwise: messages
    of padded inner `size` lost from `first` on, `best` the largest smaller one that got there
    (`from_underlay`, `_seen_lost`, `_judged_after`)."""
    return Finding(
        kind=kind,
        side="underlay",
        capture=capture,
        flow=FlowKey(first.src, first.sport, first.dst, first.dport),
        dropped_ip_len=size,
        largest_delivered_ip_len=best.padded_inner if best is not None else None,
        transmissions=transmissions,
        first_ts=first.ts,
        evidence=_by_frame(evidence),
        **more,
    )


def fragmented(
    messages: list[WgMessage],
    capture: str,
    fates: dict[tuple[int | None, int | None], bool] | None = None,
    shown: int = 5,
) -> list[Finding]:
    """WireGuard messages sent in IP fragments, per direction of the tunnel's UDP: the sender
    learned a path MTU smaller than its messages (from an ICMP too-big) and cuts them to it.
    Not a black hole; the tunnel works only thanks to fragmentation. `shown` messages are
    given as evidence, the first ones and the last; with `fates` (by receiver index and
    counter, `wgwire.matched`), how many of them reached the other end, or did not."""
    directions: dict[tuple[bytes, int, bytes, int], list[WgMessage]] = {}
    for m in messages:
        if m.kind == WG_TRANSPORT and m.fragments > 1:
            directions.setdefault((m.src, m.sport, m.dst, m.dport), []).append(m)
    found = []
    for (src, sport, dst, dport), cut in directions.items():
        cut.sort(key=lambda m: m.ts)
        chosen = cut[: shown - 1] + cut[-1:] if len(cut) > shown else cut
        evidence = [
            _message_evidence(
                m,
                capture,
                f" sent in {m.fragments} IP fragments, the first of {m.first_fragment_len} bytes",
            )
            for m in chosen
        ]
        told = [(m, (fates or {}).get((m.receiver, m.counter))) for m in cut]
        arrived = [m for m, fate in told if fate is True]
        lost = [m for m, fate in told if fate is False]
        if arrived or lost:
            last = (lost or arrived)[-1]
            evidence.append(
                Evidence(
                    last.frame,
                    last.ts,
                    f"the other end's capture holds {len(arrived)} of the "
                    f"{len(arrived) + len(lost)} fragmented messages both captures cover"
                    + (f"; {len(lost)} never reached it" if lost else ""),
                    capture,
                )
            )
        found.append(
            Finding(
                kind=KIND_FRAGMENTED,
                side="underlay",
                capture=capture,
                flow=FlowKey(src, sport, dst, dport),
                dropped_ip_len=min(m.padded_inner or 0 for m in cut),
                largest_delivered_ip_len=None,
                transmissions=len(cut),
                first_ts=cut[0].ts,
                evidence=_by_frame(evidence),
                fragment_len=min(m.first_fragment_len or 0 for m in cut),
                fragments_sent=sum(m.fragments for m in cut),
            )
        )
    return found


T = TypeVar("T")


def _by_receiver(items: Iterable[T], message: Callable[[T], WgMessage]) -> dict[int, list[T]]:
    """Items (messages, or their fates) per WireGuard session: the receiver index of their
    message; handshake messages, which carry none, are left out."""
    sessions: dict[int, list[T]] = {}
    for item in items:
        receiver = message(item).receiver
        if receiver is not None:
            sessions.setdefault(receiver, []).append(item)
    return sessions


def _message_evidence(
    m: WgMessage, capture: str, what: str, noun: str = "WireGuard message"
) -> Evidence:
    """A WireGuard message as evidence: its size, counter and padded inner size, then `what`."""
    return Evidence(
        m.frame,
        m.ts,
        f"a {m.outer_ip_len}-byte {noun} (counter {m.counter}, inner {m.padded_inner} "
        f"padded){what}",
        capture,
    )


def smallest_dropped(findings: list[Finding]) -> dict[tuple[bytes, bytes], int]:
    """Per path (src, dst): the smallest packet size a black hole, proven or suspected, lost."""
    dropped: dict[tuple[bytes, bytes], int] = {}
    for f in findings:
        if f.kind in (KIND_BLACK_HOLE, KIND_SUSPECTED) and f.dropped_ip_len:
            key = (f.src, f.dst)
            dropped[key] = min(dropped.get(key, f.dropped_ip_len), f.dropped_ip_len)
    return dropped


def fell_at(findings: list[Finding]) -> dict[tuple[bytes, bytes], float]:
    """Per path (src, dst) whose MTU fell during the capture: when it was first seen to lose
    a size it carried before (the first copy); what it carries now is judged from then on."""
    fell: dict[tuple[bytes, bytes], float] = {}
    for f in findings:
        if f.kind in (KIND_BLACK_HOLE, KIND_SUSPECTED) and f.path_fell_after is not None:
            key = (f.src, f.dst)
            fell[key] = min(fell.get(key, f.first_ts), f.first_ts)
    return fell


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Black holes first, then suspected ones, then clamped flows, ICMP reports and fragmented
    tunnels; by time."""
    order = {
        KIND_BLACK_HOLE: 0,
        KIND_SUSPECTED: 1,
        KIND_MSS_CLAMPED: 2,
        KIND_TOO_BIG: 3,
        KIND_FRAGMENTED: 4,
        KIND_PATH_DOWN: 5,
        KIND_ZERO_WINDOW: 6,
    }
    return sorted(findings, key=lambda f: (order[f.kind], f.first_ts))


def _finding(sender: Direction, capture: str, **fields: Any) -> Finding:
    """A finding about `sender`'s direction of its flow."""
    return Finding(capture=capture, flow=sender.key, **fields)


def could_stall(facts: DirectionFacts, floor: int, config: DetectConfig) -> bool:
    """`_from_stall` needs `min_full_size_copies` copies of one segment, all larger than what
    the path delivered (`floor`): so at least that many less one retransmissions that large,
    and one segment with that many copies of any size (`DirectionFacts.most_copies`, where the
    fast pass knows it: a bulk flow that lost a packet now and then has two of each at most)."""
    if facts.most_copies is not None and facts.most_copies < config.min_full_size_copies:
        return False
    return _resent_above(facts, floor) >= max(1, config.min_full_size_copies - 1)


def _resent_above(facts: DirectionFacts, floor: int) -> int:
    """How many of the direction's retransmissions were larger than `floor` bytes."""
    return sum(count for size, (count, _, _) in facts.resent.items() if size > floor)


def _from_stall(
    sender: Direction,
    stall: Stall,
    paths: dict[tuple[bytes, bytes], PathSummary],
    capture: str,
    peer_mss: int | None,
    config: DetectConfig,
) -> Finding | None:
    if len(stall.copies) < config.min_full_size_copies:
        return None
    if stall.delivered_ts is not None and not stall.smaller:
        # it got through at full size in the end: a size problem only if the path's MTU rose
        return _healed(sender, stall, paths, capture, peer_mss, config)
    first = stall.copies[0]
    path = paths.get((sender.src, sender.dst))
    carried = path.latest_at_least(stall.size) if path is not None else None
    if carried is not None and stall.delivered_ts is not None:
        return None  # the path carried this size, and this segment got through at last
    if carried is not None and carried[0] >= first.ts:
        # The path carried a packet this large after the first copy: QUIC's rule clears that
        # copy. The copies sent after that packet, never delivered, are a stall of their own
        # on a path that carried the size before them: its MTU may have fallen since, or the
        # path gone down (an outage while a transfer was in flight, seen from both ends).
        since = [c for c in stall.copies if c.ts > carried[0]]
        if len(since) < config.min_full_size_copies:
            return None
        found = _after_fall(
            sender, replace(stall, copies=since), carried, path, capture, peer_mss, config
        )
        cleared = [
            Evidence(
                c.frame,
                c.ts,
                f"sent {c.size} bytes, an earlier copy, not counted: a packet as large sent "
                "after it got through",
                capture,
            )
            for c in stall.copies[: len(stall.copies) - len(since)]
        ]
        return (
            None
            if found is None
            else replace(found, evidence=_by_frame([*found.evidence, *cleared]))
        )
    if stall.size <= MIN_TOO_BIG_SIZE or carried is not None:
        # Small enough for any path, or a size this path carried before: the size is not the
        # cause unless the path's MTU fell in between, which smaller packets getting through
        # after it, and only they, can show (`_after_fall`).
        return _after_fall(sender, stall, carried, path, capture, peer_mss, config)
    later = path.largest_sent_after(first.ts) if path is not None else None
    evidence = _copies_evidence(stall.copies, capture)
    delivered = later[0] if later is not None else None
    if later is not None:
        evidence.append(_sent_after_evidence(later))
    before = path.largest_below(stall.size) if path is not None else None
    if before is not None and before[0] > (delivered or 0):
        # Before the loss counts as much as after: the path never carried this size (above),
        # so it did not change in between (a keep-alive connection, ssh, TLS, an upload).
        delivered = before[0]
        evidence.append(
            Evidence(
                before[1],
                None,
                f"a {before[0]}-byte packet sent before it was delivered (the path never "
                f"carried one of {stall.size} bytes)",
                before[2],
            )
        )
    sacked = None
    if delivered is None:
        sacked = _sacked_beyond(sender, stall)
        if sacked is not None:
            length = sacked.end - sacked.start
            evidence.append(
                Evidence(
                    sacked.frame,
                    sacked.ts,
                    f"the receiver SACKed {length} bytes beyond it that the capture does not "
                    f"hold: they got through in packets of at most {length + sender.header_len} "
                    "bytes",
                    capture,
                )
            )
    dup_acks = sender.dup_acks_at.get(stall.start, 0)
    if delivered is None and dup_acks and 0 < stall.beyond_size < stall.size:
        delivered = stall.beyond_size  # no SACK: only smaller data followed, and got ACKed twice
        evidence.append(_dup_acks_evidence(stall, dup_acks, capture))
    recovered = None
    if stall.delivered_ts is not None and stall.smaller:
        recovered = Recovery("smaller_segments", round(stall.delivered_ts - first.ts, 3))
        delivered = max(c.size for c in stall.smaller)
        smaller_frames = {c.frame for c in stall.smaller}
        evidence = [e for e in evidence if e.frame not in smaller_frames]
        evidence += [
            Evidence(c.frame, c.ts, f"resent as {c.size} bytes, delivered", capture)
            for c in stall.smaller[:8]
        ]
    proven = (delivered is not None and delivered < stall.size) or sacked is not None
    if not proven and not _full_size(sender, stall, peer_mss, evidence, capture):
        return None  # not a full-size segment: a dead peer is likelier than a small path
    kind = KIND_BLACK_HOLE if proven else KIND_SUSPECTED
    return _stall_finding(
        sender, stall, capture, peer_mss, evidence, kind, delivered, recovered=recovered
    )


def _healed(
    sender: Direction,
    stall: Stall,
    paths: dict[tuple[bytes, bytes], PathSummary],
    capture: str,
    peer_mss: int | None,
    config: DetectConfig,
) -> Finding | None:
    """A segment that got through at full size at last, after `min_full_size_copies` copies
    or more were lost while a smaller packet of its connection, sent between the first and
    the last lost copy, got through, on a path that had never carried a packet that large
    before the copy that got through: the path's MTU rose in between (the MTU fixed on a link,
    a route back), after being too small since the capture began. A black hole while it
    lasted, recovered by the path.

    A path that carried the size before (even long before: its MTU fell, then rose) is left
    alone: a lossy radio link loses large packets more often than small ones, and drops a
    segment's copies again and again in a fade, and only a path that never carried the size
    tells that from a size problem (a phone's capture on a lossy network shows both)."""
    lost, through = stall.copies[:-1], stall.copies[-1]
    if len(lost) < config.min_full_size_copies or stall.size <= MIN_TOO_BIG_SIZE:
        return None
    if stall.while_lost is None:
        return None  # nothing of its own got through meanwhile: no size evidence
    smaller, frame, sent_ts = stall.while_lost
    path = paths.get((sender.src, sender.dst))
    earliest = path.earliest_at_least(stall.size) if path is not None else None
    if earliest is not None and earliest < through.ts:
        return None  # the path carried this size before (this connection too, meanwhile)
    evidence = [
        *_copies_evidence(lost, capture),
        Evidence(
            through.frame,
            through.ts,
            f"sent {through.size} bytes (copy {len(stall.copies)}), acknowledged: the path "
            "carried this size again",
            capture,
        ),
        Evidence(
            frame,
            sent_ts,
            f"a {smaller}-byte packet sent while its copies were lost was delivered",
            capture,
        ),
    ]
    recovered = Recovery("path", round(cast(float, stall.delivered_ts) - lost[0].ts, 3))
    return _stall_finding(
        sender,
        stall,
        capture,
        peer_mss,
        evidence,
        KIND_BLACK_HOLE,
        smaller,
        recovered=recovered,
        path_rose_at=through.ts,
    )


@dataclass(frozen=True)
class _Ended:
    """What `_stopped_early` knows of the capture as a whole: when it ended, and the paths
    that surely delivered some size (`surely_delivered_by_path`)."""

    at: float
    surely: frozenset[Path]


def _stopped_early(
    sender: Direction,
    stall: Stall,
    paths: dict[tuple[bytes, bytes], PathSummary],
    ended_at: _Ended,
    capture: str,
    peer_mss: int | None,
    config: DetectConfig,
) -> Finding | None:
    """A full-size segment still unacknowledged when the capture ends (with no MSS known, the
    largest the sender sent; a super-packet once a copy of it was one full-size segment), sent
    fewer times than `_from_stall` needs, on a path not seen to carry its size after it was
    sent, while smaller packets sent after it got through: its receiver SACKed them (or sent
    duplicate ACKs for them); or, on a path never seen to carry its size, once the
    retransmission timer resent it (no ACK for it within the minimum RTO), smaller packets of
    any connection on a path that surely delivers. Lost: the capture stopped too soon to tell
    a black hole from a loss the next copy repairs, so it is suspected, never clean (a capture
    stopped right after the hang began); on a path that carried its size before, with the
    time it last did (its MTU may have fallen)."""
    if stall.delivered_ts is not None or stall.smaller or stall.size <= MIN_TOO_BIG_SIZE:
        return None
    full = segment_payload(sender, peer_mss)  # with no MSS known: the largest payload seen
    if not full or not (
        stall.end - stall.start == full or any(c.payload_len == full for c in stall.copies)
    ):
        # not a full-size segment, nothing says the size matters; or a GSO or GRO
        # super-packet never sent as one full-size packet, of a size no packet had
        return None
    first = stall.copies[0]
    ended = ended_at.at - first.ts
    if ended >= config.min_hole_s:
        return None  # not resent in all that time: the sender stopped (`_from_stall` needs more)
    path = paths.get((sender.src, sender.dst))
    carried = path.latest_at_least(stall.size) if path is not None else None
    if carried is not None and carried[0] >= first.ts:
        return None  # the path carried this size after it was sent: ordinary loss
    if carried is not None and stall.beyond_size >= stall.size:
        # a transfer going on at this size, its later segments still in flight: their fate
        # tells ordinary loss from a fall, and the capture ended before it showed
        return None
    # carried only before it, if at all: the path's MTU may have fallen in between
    evidence = _copies_evidence(stall.copies, capture)
    if carried is not None:
        evidence.append(_carried_evidence(carried))
    if peer_mss is None and sender.syn_mss is None:
        evidence.append(_taken_as_full_size(stall, full, capture))
    own = sender.delivered.largest_sent_after(first.ts)
    dup_acks = sender.dup_acks_at.get(stall.start, 0)
    if own is not None and sender.facts.sack_blocks:  # sent after it, SACKed while it was not
        delivered = own[0]
        evidence.append(_sent_after_evidence((own[0], own[1], capture)))
    elif dup_acks and 0 < stall.beyond_size < stall.size:
        delivered = stall.beyond_size
        evidence.append(_dup_acks_evidence(stall, dup_acks, capture))
    elif carried is None and (later := _after_timer(stall, path, ended_at)) is not None:
        # on a path never seen to carry its size: a smaller packet of any connection will do;
        # after a fall, only this connection's tell it from a middlebox dropping it alone
        delivered = later[0]
        evidence.append(_sent_after_evidence(later))
    else:
        return None  # nothing shows it lost: still in flight when the capture ended
    evidence.append(
        Evidence(
            first.frame,
            first.ts,
            f"the capture ends {duration(ended)} after it was first sent, with "
            f"{plural(len(stall.copies), 'copy', 'copies')}: too soon to tell a black hole "
            "from a loss the next copy repairs",
            capture,
        )
    )
    return _stall_finding(
        sender,
        stall,
        capture,
        peer_mss,
        evidence,
        KIND_SUSPECTED,
        delivered,
        path_fell_after=carried[0] if carried is not None else None,
        too_soon_s=round(ended, 3),
    )


def _after_fall(
    sender: Direction,
    stall: Stall,
    carried: tuple[float, int, int, str] | None,
    path: PathSummary | None,
    capture: str,
    peer_mss: int | None,
    config: DetectConfig,
) -> Finding | None:
    """A stall on a size the path carried before it (`carried`: the last such packet), or on
    a packet small enough for any path: a black hole if smaller packets got through after it
    (the path's MTU fell); the path down if smaller packets sent after it got no answer at all;
    else, for a full-size segment, a suspected black hole (an MTU drop and an outage look the
    same). A stall of a small packet is never a black hole."""
    if stall.delivered_ts is not None or not backing_off(stall.copies):
        return None
    first = stall.copies[0]
    evidence = _copies_evidence(stall.copies, capture)
    if carried is not None:
        evidence.append(_carried_evidence(carried))
    later = path.largest_sent_after(first.ts) if path is not None else None
    # Smaller packets of this connection must get through after it: a middlebox that drops
    # one connection (it forgot its state) drops them too, while other connections pass.
    own = sender.delivered.largest_sent_after(first.ts)
    delivered: int | None = None
    if own is not None and carried is not None and stall.size > MIN_TOO_BIG_SIZE:
        delivered = own[0]
        evidence.append(_sent_after_evidence((own[0], own[1], capture)))
    sacked = _sacked_beyond(sender, stall) if carried is not None else None
    if delivered is None and sacked is not None:
        delivered = sacked.end - sacked.start + sender.header_len
        evidence.append(
            Evidence(
                sacked.frame,
                sacked.ts,
                f"the receiver SACKed {sacked.end - sacked.start} bytes beyond it that the "
                "capture does not hold",
                capture,
            )
        )
    dup_acks = sender.dup_acks_at.get(stall.start, 0)
    smaller_after = 0 < stall.beyond_size < stall.size
    if delivered is None and carried is not None and dup_acks and smaller_after:
        delivered = stall.beyond_size
        evidence.append(_dup_acks_evidence(stall, dup_acks, capture))
    if delivered is not None:
        kind = KIND_BLACK_HOLE  # smaller packets got through after it, this size no longer
    elif later is None and (stall.size <= MIN_TOO_BIG_SIZE or smaller_after):
        kind = KIND_PATH_DOWN  # nothing at all got through after it, of any size
    elif carried is not None and _full_size(sender, stall, peer_mss, evidence, capture):
        kind = KIND_SUSPECTED  # the path's MTU fell, or an outage: nothing tells them apart
        if later is not None:
            evidence.append(
                Evidence(
                    later[1],
                    None,
                    f"a {later[0]}-byte packet of another connection sent after it was "
                    "delivered, but none of this one: the path's MTU fell, or this connection "
                    "alone was dropped (a middlebox that forgot it)",
                    later[2],
                )
            )
    else:
        return None
    fell = carried[0] if carried is not None and kind != KIND_PATH_DOWN else None
    return _stall_finding(
        sender, stall, capture, peer_mss, evidence, kind, delivered, path_fell_after=fell
    )


def _carried_evidence(carried: tuple[float, int, int, str]) -> Evidence:
    """The last packet of the stalled size the path carried before the stall."""
    return Evidence(
        carried[2],
        carried[0],
        f"a {carried[1]}-byte packet got through before it: the path carried this size until then",
        carried[3],
    )


def _after_timer(
    stall: Stall, path: PathSummary | None, ended_at: _Ended
) -> tuple[int, int, str] | None:
    """The largest packet sent after the stalled segment and delivered on its path, when the
    retransmission timer resent the segment (its second copy at least the minimum RTO after
    the first) and the path surely delivers (an ACK of new data, not a lone SACK)."""
    if len(stall.copies) < 2 or stall.copies[1].ts - stall.copies[0].ts < MIN_RTO_S:
        return None
    if path is None or (path.src, path.dst) not in ended_at.surely:
        return None
    return path.largest_sent_after(stall.copies[0].ts)


def _fin_unanswered(
    sender: Direction,
    stall: Stall,
    paths: dict[tuple[bytes, bytes], PathSummary],
    capture: str,
    config: DetectConfig,
) -> Finding | None:
    """A FIN sent `min_full_size_copies` times or more by a timer that backs off, never
    acknowledged, and nothing its path carried after the first copy, of any size: the path
    down (a FIN is small enough for any path), as a small packet's stall is (`_after_fall`).
    A FIN alone never stalls a flow (`flows.Sent.carries_data`): this is its own rule."""
    if len(stall.copies) < config.min_full_size_copies or not backing_off(stall.copies):
        return None
    if sender.cum_ack is None:
        return None  # its peer never acknowledged anything: not a connection that worked (a probe)
    first = stall.copies[0]
    path = paths.get((sender.src, sender.dst))
    if path is not None and path.largest_sent_after(first.ts) is not None:
        return None  # something sent after it got through: not the path
    evidence = [
        Evidence(
            c.frame, c.ts, f"sent its FIN ({c.size} bytes, copy {i}), never acknowledged", capture
        )
        for i, c in enumerate(stall.copies, 1)
    ]
    return _stall_finding(sender, stall, capture, None, evidence, KIND_PATH_DOWN, None)


def _stall_finding(
    sender: Direction,
    stall: Stall,
    capture: str,
    peer_mss: int | None,
    evidence: list[Evidence],
    kind: str,
    delivered: int | None,
    **fields: Any,
) -> Finding:
    """A finding at the sender about `stall`: its size, its copies and when they were sent."""
    first = stall.copies[0]
    return _finding(
        sender,
        capture,
        kind=kind,
        side="sender",
        dropped_ip_len=stall.size,
        largest_delivered_ip_len=delivered,
        transmissions=len(stall.copies),
        first_ts=first.ts,
        mss=peer_mss,
        evidence=_by_frame(evidence),
        copies_at_s=tuple(round(c.ts - first.ts, 3) for c in stall.copies),
        **fields,
    )


def _sent_after_evidence(delivered: tuple[int, int, str]) -> Evidence:
    """(size, frame, capture) of a packet sent after the stalled one and delivered."""
    size, frame, capture = delivered
    return Evidence(frame, None, f"a {size}-byte packet sent after it was delivered", capture)


def _copies_evidence(copies: list[Copy], capture: str) -> list[Evidence]:
    return [
        Evidence(c.frame, c.ts, f"sent {c.size} bytes (copy {i}), never acknowledged", capture)
        for i, c in enumerate(copies, 1)
    ]


def _dup_acks_evidence(stall: Stall, dup_acks: int, capture: str) -> Evidence:
    first = stall.copies[0]
    return Evidence(
        first.frame,
        first.ts,
        f"{plural(dup_acks, 'duplicate ACK')} while only smaller segments "
        f"(<= {stall.beyond_size} bytes) followed it",
        capture,
    )


def _sacked_beyond(sender: Direction, stall: Stall) -> SackedUnseen | None:
    """A SACK block beyond the stalled bytes, for bytes the capture never saw sent (it started
    after they were sent), shorter than the stalled segment: smaller packets got through."""
    payload = stall.end - stall.start
    for block in sender.sacked_unseen:
        if block.start >= stall.end and block.end - block.start < payload:
            return block
    return None


def _full_size(
    sender: Direction,
    stall: Stall,
    peer_mss: int | None,
    evidence: list[Evidence],
    capture: str,
) -> bool:
    """Whether the stalled segment is a full-size one. With no SYN in the capture (it started
    mid-transfer) the MSS is not known: the segment counts as full-size when it is the largest
    the sender was seen to send and the retransmission timer was backing off (a stall, not a
    replay); the evidence says so."""
    payload = stall.end - stall.start
    if peer_mss is not None:
        return payload >= segment_payload(sender, peer_mss)
    if payload < sender.largest_payload or not backing_off(stall.copies):
        return False
    evidence.append(_taken_as_full_size(stall, payload, capture))
    return True


def _taken_as_full_size(stall: Stall, payload: int, capture: str) -> Evidence:
    """With no SYN in the capture: the stalled segment, the largest seen, counts as full."""
    return Evidence(
        stall.copies[0].frame,
        None,
        f"no SYN in the capture: the MSS is not known; {payload} bytes, its largest segment, "
        "taken as full-size",
        capture,
    )


def backing_off(copies: list[Copy]) -> bool:
    """The retransmission timer backing off (RFC 6298 section 5.5): each wait between copies at
    least about as long as the one before, over three copies or more."""
    return _backing_off_times([c.ts for c in copies])


def _timer_resends(times: list[float], config: DetectConfig) -> bool:
    """Send times of one encrypted message size that read as one packet resent by a
    retransmission timer: `min_full_size_copies` of them at least, the waits not shrinking,
    and the last past the minimum RTO and half again the first (a burst's waits are equal)."""
    if len(times) < config.min_full_size_copies or not _backing_off_times(times):
        return False
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return gaps[-1] >= max(MIN_RTO_S, 1.5 * gaps[0])


def _backing_off_times(times: list[float]) -> bool:
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return len(gaps) >= 2 and all(
        later >= earlier * BACKOFF_TOLERANCE for earlier, later in itertools.pairwise(gaps)
    )


def _by_frame(evidence: list[Evidence]) -> tuple[Evidence, ...]:
    return tuple(sorted(evidence, key=lambda e: e.frame))


def _smaller_mss(peer_mss: int | None, own_mss: int | None) -> int:
    """The smaller of the receiver's MSS and the sender's own (0: neither known)."""
    return min((m for m in (peer_mss, own_mss) if m), default=0)


def _facts_mss(facts: DirectionFacts, host_mss: HostMss) -> int:
    """`_smaller_mss` from a direction's facts: its peer's SYN, else the largest MSS its
    receiving host announced, as `detect` assumes (0: none known)."""
    peer_mss = facts.peer_syn_mss or host_mss.get(facts.flow.dst, (0, 0))[1]
    return _smaller_mss(peer_mss, facts.syn_mss)


def segment_payload(sender: Direction, peer_mss: int | None) -> int:
    """The payload of the sender's full-size segments: the smaller of the receiver's MSS and
    the sender's own (its SYN's MSS reflects its own MTU), less the option bytes it puts in each
    segment; with no MSS known, the largest payload it was seen to send."""
    mss = _smaller_mss(peer_mss, sender.syn_mss)
    return mss - sender.tcp_options_len if mss else sender.largest_payload


def missing_packet_size(sender: Direction, hole: Hole, peer_mss: int | None) -> int:
    """The IP size of the first packet missing from a hole, from its length and the MSS."""
    return min(hole.end - hole.start, segment_payload(sender, peer_mss)) + sender.header_len


def largest_missing(facts: DirectionFacts, host_mss: HostMss) -> int:
    """The largest packet a receiver-side gap of this direction could miss: its largest headers
    and a full segment (as `missing_packet_size` sizes it, with any MSS it might assume)."""
    mss = _facts_mss(facts, host_mss)
    if not mss:
        return MAX_IP_LEN  # no MSS: a gap of any length may be one packet (`_from_hole`)
    return facts.max_header_len + mss


def could_hold_hole(
    facts: DirectionFacts, floor: int, host_mss: HostMss, config: DetectConfig
) -> bool:
    """`_from_hole` needs a gap open for `min_hole_s` and a missing packet larger than `floor`."""
    gap = facts.longest_gap_s
    long_enough = gap is None or gap >= config.min_hole_s
    return long_enough and largest_missing(facts, host_mss) > floor


def _reply_stopped_at(sender: Direction, hole: Hole) -> bool:
    """With no MSS known, whether a gap still open looks like a reply that stopped at a lost
    packet rather than a transfer going on: its receiver reported the gap (a SACK block beyond
    it, or the same ACK twice), no data arrived after it did, and whole segments of the largest
    size seen would not fill it (a transfer cut after an ordinary loss sends full-size
    segments, so it misses whole ones)."""
    return (
        (hole.sacked or len(hole.ack_frames) >= 2)
        and sender.facts.last_data_ts <= hole.since_ts
        and sender.largest_payload > 0
        and (hole.end - hole.start) % sender.largest_payload != 0
    )


def _from_hole(
    sender: Direction,
    hole: Hole,
    paths: dict[tuple[bytes, bytes], PathSummary],
    capture_end: float,
    capture: str,
    peer_mss: int | None,
    config: DetectConfig,
) -> Finding | None:
    if sender.header_len == 0:
        return None
    open_for = (hole.filled_ts or capture_end) - hole.since_ts
    # Not open long enough for the sender's timer to have resent the bytes several times: a
    # gap closed that soon was ordinary loss; one still open when the capture ends, too soon
    # to tell (a capture stopped right after the hang began), is judged, but only suspected.
    too_soon = open_for < config.min_hole_s
    if too_soon and hole.filled_ts is not None:
        return None
    if hole.filled_ts is None and hole.fill_frames:
        return None  # its bytes were captured, never acknowledged: a sender's stall, not a gap
    missing = hole.end - hole.start
    unsized = not (peer_mss or sender.syn_mss) and missing > sender.largest_payload
    # No MSS known (the capture began mid-stream) and a gap longer than any segment seen: it
    # may be one lost packet as large as the gap, or several smaller ones.
    dropped = missing_packet_size(sender, hole, peer_mss)
    if unsized:
        dropped = missing + sender.header_len
    if dropped <= MIN_TOO_BIG_SIZE or not 0 < hole.beyond_size < dropped:
        return None  # nothing of known, smaller size arrived after the gap: no size evidence
    if too_soon and (
        not _reply_stopped_at(sender, hole)
        if unsized
        else sender.facts.last_data_mss_bytes >= _smaller_mss(peer_mss, sender.syn_mss)
    ):
        return None  # a full-size segment arrived last: a transfer going on
    path = paths.get((sender.src, sender.dst))
    if hole.filled_ts is not None and (hole.fill_size or 0) >= dropped and not unsized:
        return _gap_healed(sender, hole, dropped, path, open_for, capture, peer_mss)
    carried = path.latest_at_least(dropped) if path is not None else None
    if carried is not None and (carried[0] >= hole.since_ts or hole.filled_ts is not None):
        return None  # the path carried packets this large: the gap is ordinary loss
    # else it carried them only before the gap opened, and smaller data after: its MTU fell
    recovered = None
    if hole.filled_ts is not None:
        if hole.fill_size is None or hole.fill_size >= dropped:
            return None  # the missing bytes arrived at full size in the end: late, not lost
        if hole.end - hole.start > segment_payload(sender, peer_mss):
            return None  # several segments lost and resent: PLPMTUD splits one, not many
        recovered = Recovery("smaller_segments", round(open_for, 3))
    how_long = (
        f"open {duration(open_for)} when the capture ends, too soon to tell (--min-gap "
        f"{config.min_hole_s:g} s)"
        if too_soon
        else f"{open_for:.1f} s open"
    )
    evidence = _gap_evidence(
        hole,
        how_long,
        capture,
        beyond="a packet beyond the gap arrived",
        fill="the gap's bytes arrive in a smaller packet",
        fill_frames=hole.fill_frames,
    )
    if carried is not None:
        evidence.append(
            Evidence(
                carried[2],
                carried[0],
                f"a {carried[1]}-byte packet arrived before the gap: the path carried this "
                "size until then",
                carried[3],
            )
        )
    if unsized:
        evidence.append(
            Evidence(
                hole.since_frame,
                None,
                f"no SYN in the capture: the MSS is not known; the {missing}-byte gap may be one "
                f"packet of {dropped} bytes or several smaller ones",
                capture,
            )
        )
    return _finding(
        sender,
        capture,
        kind=KIND_SUSPECTED if unsized or too_soon else KIND_BLACK_HOLE,
        side="receiver",
        dropped_ip_len=None if unsized else dropped,
        largest_delivered_ip_len=hole.beyond_size or None,
        transmissions=0,
        # after a fall, from the first data beyond the gap: what arrived since counts
        first_ts=min(hole.since_ts, hole.beyond_ts or hole.since_ts) if carried else hole.since_ts,
        recovered=recovered,
        mss=peer_mss,
        evidence=_by_frame(evidence),
        path_fell_after=carried[0] if carried is not None else None,
        too_soon_s=round(open_for, 3) if too_soon else None,
    )


def _gap_healed(
    sender: Direction,
    hole: Hole,
    dropped: int,
    path: PathSummary | None,
    open_for: float,
    capture: str,
    peer_mss: int | None,
) -> Finding | None:
    """A gap of one full-size segment, open `min_hole_s` or more while only smaller data of
    its connection arrived beyond it, then filled by one packet of that size, on a path that
    had never carried a packet that large before: the path's MTU rose (`_healed`, seen at
    the receiver). Not when the gap was less or more than one segment (lost and resent in
    other packets: ordinary loss, or a burst of it)."""
    fill_ts = hole.fill_ts if hole.fill_ts is not None else cast(float, hole.filled_ts)
    if hole.end - hole.start != segment_payload(sender, peer_mss) or hole.fill_size != dropped:
        return None
    earliest = path.earliest_at_least(dropped) if path is not None else None
    if earliest is not None and earliest < fill_ts:
        return None  # the path carried this size before the gap was filled
    evidence = _gap_evidence(
        hole,
        f"{open_for:.1f} s open",
        capture,
        beyond="a smaller packet beyond the gap arrived",
        fill=f"the gap's bytes arrive in a {hole.fill_size}-byte packet: the path carried this "
        "size again",
        fill_frames=hole.fill_frames[:1],
    )
    return _finding(
        sender,
        capture,
        kind=KIND_BLACK_HOLE,
        side="receiver",
        dropped_ip_len=dropped,
        largest_delivered_ip_len=hole.beyond_size,
        transmissions=0,
        first_ts=hole.since_ts,
        recovered=Recovery("path", round(open_for, 3)),
        mss=peer_mss,
        evidence=_by_frame(evidence),
        path_rose_at=fill_ts,
    )


def _gap_evidence(
    hole: Hole, how_long: str, capture: str, *, beyond: str, fill: str, fill_frames: list[int]
) -> list[Evidence]:
    """A receiver's gap as evidence: where it opened and for how long, the packets beyond it
    (`beyond` says each), the receiver's ACKs at its start, and `fill_frames` (`fill`)."""
    return [
        Evidence(
            hole.since_frame,
            hole.since_ts,
            f"receiver acknowledges only up to the gap of {hole.end - hole.start} bytes; "
            f"{how_long}",
            capture,
        ),
        *(Evidence(f, None, beyond, capture) for f in hole.beyond_frames),
        *(Evidence(f, None, "receiver ACK at the gap's start", capture) for f in hole.ack_frames),
        *(Evidence(f, None, fill, capture) for f in fill_frames),
    ]


def rose_at(findings: list[Finding]) -> dict[tuple[bytes, bytes], float]:
    """Per path (src, dst) whose MTU rose during the capture (a black hole the path itself
    recovered): when a packet of the lost size first got through again."""
    rose: dict[tuple[bytes, bytes], float] = {}
    for f in findings:
        if f.path_rose_at is not None:
            key = (f.src, f.dst)
            rose[key] = min(rose.get(key, f.path_rose_at), f.path_rose_at)
    return rose


def _with_pmtud(finding: Finding, too_big: list[TooBig], name: str) -> Finding:
    """Tie an ICMP too-big that quotes the finding's flow to it (recovery by PMTUD)."""
    for message in too_big:
        if message.quoted == (finding.src, finding.sport, finding.dst, finding.dport):
            recovered = finding.recovered
            if recovered is None or recovered.by != "pmtud":
                recovered = Recovery("pmtud", round(message.ts - finding.first_ts, 3))
            evidence = (
                *finding.evidence,
                Evidence(
                    message.frame, message.ts, f"ICMP too-big: next-hop MTU {message.mtu}", name
                ),
            )
            return replace(finding, recovered=recovered, icmp_mtu=message.mtu, evidence=evidence)
    return finding


def _from_too_big(capture: str, message: TooBig) -> Finding:
    return Finding(
        kind=KIND_TOO_BIG,
        side="router",
        capture=capture,
        flow=FlowKey(
            message.quoted_src,
            message.quoted_sport or 0,
            message.quoted_dst,
            message.quoted_dport or 0,
        ),
        dropped_ip_len=message.quoted_ip_len,
        largest_delivered_ip_len=None,
        transmissions=0,
        first_ts=message.ts,
        icmp_mtu=message.mtu,
        evidence=(
            Evidence(
                message.frame,
                message.ts,
                f"ICMP too-big from the router: next-hop MTU {message.mtu}, "
                f"quoting a {message.quoted_ip_len}-byte packet",
                capture,
            ),
        ),
    )


# -- the verdict ------------------------------------------------------------------------------


def verdict(findings: Iterable[Finding], data_seen: bool) -> str:
    """The capture's verdict from its findings: a proven black hole; else inconclusive when one
    is suspected or when no TCP data was seen at all (nothing to judge); else clean (an ICMP
    too-big that reached the host means path MTU discovery works, and a tunnel's messages sent
    in fragments, not resent, crossed)."""
    kinds = {f.kind for f in findings}
    if KIND_BLACK_HOLE in kinds:
        return VERDICT_BLACK_HOLE
    if KIND_SUSPECTED in kinds:
        return VERDICT_INCONCLUSIVE
    if kinds & {KIND_TOO_BIG, KIND_FRAGMENTED}:
        return VERDICT_CLEAN
    return VERDICT_CLEAN if data_seen else VERDICT_INCONCLUSIVE


# -- what a path surely delivered, and which flows are worth the exact pass --------------------
#
# The fast pass reads every packet but keeps only facts (`model.DirectionFacts`); the exact
# pass (`flows` and the rules above) reads again only the connections where these predicates say
# a finding could be. Each predicate is implied by the conditions of the rule it serves, so a
# flow they pass over cannot hold a finding; `tests/test_facts.py` checks on every capture that
# the report is the same with and without them.


def surely_delivered(facts: DirectionFacts, host_mss: HostMss) -> int | None:
    """The largest IP size this direction surely delivered in full: new data of that size was
    cumulatively acknowledged, more segments of it than smaller re-sends could have overlapped,
    and its segments crossed the wire at that size whatever MSS applies (`_sure_size`)."""
    if facts.acked_unseen:
        return None  # the capture missed data its peer acknowledged: sizes prove nothing
    smallest_mss = host_mss.get(facts.flow.dst, (0, 0))[0]
    for size, (acked, low, high) in sorted(facts.new_data.items(), reverse=True):
        if not acked or _sure_size(size, high, smallest_mss) != size:
            continue
        bound = sum(
            total / max(low, 1) + 2 * count
            for resent_size, (count, total, resent_high) in facts.resent.items()
            if _sure_size(resent_size, resent_high, smallest_mss) < size
        )
        if acked > bound:
            return size
    return None


def _sure_size(size: int, largest_payload: int, smallest_mss: int) -> int:
    """`size` when segments of that IP size and payload crossed the wire at that size whatever
    MSS the exact analysis assumes for them; else 0 (unknown)."""
    if size > ETHERNET_MTU or (smallest_mss and largest_payload > smallest_mss):
        return 0
    return size


def surely_delivered_by_path(facts: Iterable[DirectionFacts], host_mss: HostMss) -> dict[Path, int]:
    """Per path (src, dst): the largest size any of its directions surely delivered."""
    found: dict[Path, int] = {}
    for f in facts:
        size = surely_delivered(f, host_mss)
        if size is not None:
            key = (f.flow.src, f.flow.dst)
            found[key] = max(found.get(key, 0), size)
    return found


def worth_exact_pass(
    facts: DirectionFacts, delivered: dict[Path, int], host_mss: HostMss, config: DetectConfig
) -> bool:
    """Whether the exact pass could find a stall or a gap in this direction, given what each
    path surely delivered (a loss is size-related only above that)."""
    if facts.ended and facts.unacked_at_end and facts.retransmissions >= 2:
        return True  # its FIN may be resent and never acknowledged: `_fin_unanswered`
    if not facts.data_packets:
        return False
    floor = max(MIN_TOO_BIG_SIZE, delivered.get((facts.flow.src, facts.flow.dst), 0))
    if facts.unacked_at_end and (
        could_stall(facts, 0, config)
        or could_hold_hole(facts, MIN_TOO_BIG_SIZE, host_mss, config)
        or could_end_too_soon(facts, delivered, floor, host_mss)
    ):
        # Never acknowledged: a stall of any size is judged by `_after_fall`, and a gap still
        # open by `_from_hole` even on a size the path carried before its MTU fell.
        return True
    return (
        could_stall(facts, floor, config)
        or could_hold_hole(facts, floor, host_mss, config)
        or could_heal(facts, host_mss, config)
    )


def could_heal(facts: DirectionFacts, host_mss: HostMss, config: DetectConfig) -> bool:
    """A black hole the path recovered, on a size the path carried in the end (which hides it
    from the path's floor): `_healed` needs a segment sent `min_full_size_copies` times and
    once more, and smaller data of its connection delivered meanwhile, which its receiver's
    SACK blocks or duplicate ACKs show; `_gap_healed`, a gap open `min_hole_s`."""
    if facts.largest_ip_len <= MIN_TOO_BIG_SIZE:
        return False
    copies = facts.most_copies
    sender = (copies is None or copies > config.min_full_size_copies) and bool(
        facts.sack_blocks or facts.dup_acks
    )
    return sender or could_hold_hole(facts, MIN_TOO_BIG_SIZE, host_mss, config)


def _could_fall_too_soon(facts: DirectionFacts) -> bool:
    """`_stopped_early` on a size its path carried only before the segment was sent (its MTU
    may have fallen), which the path's surely-delivered floor hides: the lowest segment still
    unacknowledged larger than anything its path delivered that was sent after it, and a sign
    of its loss from its own connection: smaller data of its own SACKed after it, or
    duplicate ACKs with no SACK."""
    low = facts.lowest_unacked
    if low is None:  # not known (the fast pass forgot outstanding segments)
        return bool(facts.sack_blocks or facts.dup_acks)
    if low.ip_len <= MIN_TOO_BIG_SIZE or low.path_delivered_after >= low.ip_len:
        return False
    sacked = low.own_delivered_after > 0 and facts.sack_blocks > 0
    return sacked or (facts.dup_acks > 0 and not facts.sack_blocks)


def could_end_too_soon(
    facts: DirectionFacts, delivered: dict[Path, int], floor: int, host_mss: HostMss
) -> bool:
    """For a direction with data unacknowledged at the end of the capture: `_stopped_early`
    needs a segment larger than what the path delivered (`floor`), and its receiver's SACK
    blocks or duplicate ACKs, or a retransmission of that size on a path that surely
    delivered (`delivered`), or one larger than what the path delivered after it was sent
    (`_could_fall_too_soon`); `_from_hole` judges a gap (an ACK below data sent, whose bytes
    the capture does not hold) still open at the end that opened too soon before it only when
    the last data that arrived filled less of the MSS than a full-size segment or, with no MSS
    known, arrived before the gap opened."""
    acked = bool(facts.sack_blocks or facts.dup_acks)
    resent = (facts.flow.src, facts.flow.dst) in delivered and _resent_above(facts, floor) > 0
    sender = (facts.largest_ip_len > floor and (acked or resent)) or _could_fall_too_soon(facts)
    held = facts.lowest_unacked is not None and facts.lowest_unacked.holds_ack_point
    if facts.gap_open_at_end is False or held or not facts.last_data_mss_bytes:
        return sender  # no gap, or the capture holds the bytes waited for: a sender's capture
    smallest = _facts_mss(facts, host_mss)
    if smallest:
        return sender or facts.last_data_mss_bytes < smallest
    opened = facts.gap_opened_ts
    return sender or opened is None or facts.last_data_ts <= opened
