"""TCP segments in, per-flow and per-path delivery facts out, in memory that does not grow.

For each direction of each flow, the sender's sequence numbers are unwrapped to 64 bits, every
data segment is kept only until the peer's cumulative ACK or a SACK block covers it, and what
was delivered is folded into a per-path summary (size -> when last delivered). So memory follows
the data in flight, not the length of the capture.

What a direction remembers about its segments, because the detectors need it:
- how often the same bytes were sent in a packet of the original size (full-size copies), and
  in smaller packets (a sender that re-segments: Linux PLPMTUD);
- when they were delivered (cumulative ACK or SACK) or that they never were;
- holes: bytes the receiver's ACKs say are missing while later data was seen and the missing
  bytes themselves never appear in the capture (a receiver-side capture of a black hole).

Sizes are IP sizes "on the wire": a segment longer than the receiver's MSS (a GSO/TSO
super-packet captured before segmentation) counts as MSS-sized pieces, never as one packet of
its captured size. A packet's delivery is certain for size L only when every copy of its bytes
that was sent had size L, so the largest delivered size is a lower bound that can be trusted.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field

from pcapmtu import tcp
from pcapmtu.model import TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, DirectionFacts, FlowKey, Segment
from pcapmtu.mtu import ETHERNET_MTU

UNKNOWN_SIZE = 0  # the wire size of a super-packet whose receiver's MSS is not known
MAX_HOLES_KEPT = 16  # per direction: evidence, not a log
MAX_EVENTS_KEPT = 32
# A direction remembers its latest deliveries, to tell what got through while a segment's copies
# were being lost, when its last copy got through at full size (`Stall.while_lost`).
RECENT_DELIVERIES_KEPT = 64
HEALED_COPIES = 3  # full-size copies of a segment delivered at last: two lost at least
RESENT = "resent"  # a traced copy whose bytes a later copy carried again (see Trace)


def _start_of(sent: Sent) -> int:
    return sent.start


@dataclass(slots=True)
class Copy:
    """One transmission of (some of) a segment's bytes: the one segment record of the exact
    pass, kept as evidence (`Stall`) and, in a postmortem, for every segment (`Trace`)."""

    frame: int
    ts: float
    size: int  # wire IP size of the packet
    start: int  # unwrapped sequence numbers, relative to the direction's first segment
    end: int
    flow: FlowKey
    payload_len: int
    ip_len: int  # as the IP header says (`size` is the wire size of a super-packet's pieces)
    resends: int = 0  # copies of (some of) these bytes sent before this one


@dataclass
class Sent:
    """Bytes [start, end) first sent in one packet, until they are delivered."""

    start: int
    end: int
    size: int  # wire IP size of the first copy
    copies: list[Copy]

    @property
    def carries_data(self) -> bool:
        """False for a FIN alone: it shows what the path delivers, but never stalls a flow."""
        return self.copies[0].payload_len > 0

    def full_size_copies(self) -> list[Copy]:
        return [c for c in self.copies if c.size >= self.size]

    def smaller_copies(self) -> list[Copy]:
        """Copies in smaller packets; not a super-packet's copy of unknown wire size, which
        tells no size, smaller or not."""
        return [c for c in self.copies if UNKNOWN_SIZE < c.size < self.size]


@dataclass
class Stall:
    """A segment sent at full size again and again; delivered later (recovered) or never."""

    start: int
    end: int
    size: int
    copies: list[Copy]  # the full-size copies
    smaller: list[Copy]  # copies of its bytes in smaller packets
    delivered_ts: float | None
    beyond_size: int = 0  # largest packet still unacknowledged after it (no-SACK evidence)
    # Delivered at full size after HEALED_COPIES copies or more: the largest packet of its
    # direction sent between its first and its last lost copy (the one before the copy that got
    # through) that got through, as (size, frame, send time), of the latest deliveries the
    # direction remembers (`RECENT_DELIVERIES_KEPT`); None when none did.
    while_lost: tuple[int, int, float] | None = None


@dataclass(frozen=True)
class SackedUnseen:
    """A SACK block for bytes the capture never saw sent: they got through, in packets no
    larger than the block (and its headers)."""

    start: int
    end: int
    ts: float
    frame: int  # of the ACK that carried the block


@dataclass
class Hole:
    """Bytes the receiver reported missing while it saw (or acknowledged) later data."""

    start: int
    end: int  # the first byte seen beyond the hole
    since_ts: float
    since_frame: int
    ack_frames: list[int] = field(default_factory=list)  # receiver ACKs at the hole's start
    sacked: bool = False  # one of them had a SACK block beyond it
    beyond_size: int = 0  # largest wire size of the data seen beyond the hole
    beyond_frames: list[int] = field(default_factory=list)
    beyond_ts: float | None = None  # when the first data beyond it was seen
    filled_ts: float | None = None
    fill_size: int | None = None  # largest wire size of the packets that filled it
    fill_frames: list[int] = field(default_factory=list)
    fill_ts: float | None = None  # when the first of them was seen


@dataclass
class PathSummary:
    """Per direction of travel (src -> dst): what was delivered, by wire IP size."""

    src: bytes
    dst: bytes
    ip_version: int
    capture: str = ""  # the capture its frame numbers belong to
    # wire size -> (send time of the latest-sent delivered packet of that size, frame, capture)
    delivered: dict[int, tuple[float, int, str]] = field(default_factory=dict)
    # wire size -> send time of the earliest-sent delivered packet of that size
    first: dict[int, float] = field(default_factory=dict)

    def add(self, size: int, sent_ts: float, frame: int, capture: str | None = None) -> None:
        if size == UNKNOWN_SIZE:
            return
        known = self.delivered.get(size)
        if known is None or sent_ts > known[0]:
            self.delivered[size] = (sent_ts, frame, self.capture if capture is None else capture)
        self.add_first(size, sent_ts)

    def add_first(self, size: int, sent_ts: float) -> None:
        """A packet of `size` sent at `sent_ts` was delivered: the earliest of them (`add` does
        this too; the fast pass folds each direction's earliest this way)."""
        if size != UNKNOWN_SIZE and sent_ts < self.first.get(size, sent_ts + 1):
            self.first[size] = sent_ts

    def largest(self) -> int | None:
        return max(self.delivered, default=None)

    def largest_sent_after(self, ts: float) -> tuple[int, int, str] | None:
        """(size, frame, capture) of the largest packet delivered that was sent after `ts`."""
        later = [(size, frame, name) for size, (t, frame, name) in self.delivered.items() if t > ts]
        return max(later, default=None)

    def latest_at_least(self, size: int) -> tuple[float, int, int, str] | None:
        """(send time, size, frame, capture) of the latest-sent delivered packet of `size`
        bytes or more."""
        found = [(t, s, frame, name) for s, (t, frame, name) in self.delivered.items() if s >= size]
        return max(found, default=None)

    def earliest_at_least(self, size: int) -> float | None:
        """The send time of the earliest-sent delivered packet of `size` bytes or more."""
        return min((t for s, t in self.first.items() if s >= size), default=None)

    def largest_below(self, limit: int) -> tuple[int, int, str] | None:
        """(size, frame, capture) of the largest packet delivered that was smaller than
        `limit`, sent at any time."""
        below = [(size, frame, name) for size, (_t, frame, name) in self.delivered.items()]
        return max((b for b in below if b[0] < limit), default=None)

    def merge(self, other: PathSummary) -> None:
        for size, (t, frame, name) in other.delivered.items():
            self.add(size, t, frame, name)
        for size, t in other.first.items():
            self.add_first(size, t)


@dataclass(frozen=True, slots=True)
class Ack:
    """An ACK as a postmortem draws it: in the acknowledged direction's sequence space."""

    frame: int
    ts: float
    flow: FlowKey  # the direction whose data it acknowledges
    ack: int
    sack_blocks: tuple[tuple[int, int], ...]


@dataclass
class Trace:
    """Every data segment and every ACK of the flows, with what became of each segment: for
    postmortem plots (`frames.segments`, `frames.acks`). It grows with what it traces; the
    analysis keeps one only when asked."""

    segments: list[Copy] = field(default_factory=list)  # data segments, in frame order
    # frame of a data segment -> what became of it: "ack" or "sack" (this copy got through),
    # RESENT (a later copy carried its bytes again before they were acknowledged); absent:
    # never delivered (not acknowledged, or only after being re-sent in smaller packets)
    delivered: dict[int, str] = field(default_factory=dict)
    duplicates: set[int] = field(default_factory=set)  # frames re-sending acknowledged bytes
    acks: list[Ack] = field(default_factory=list)
    # the connections to trace, by either direction's key; None: all of them
    only: frozenset[FlowKey] | None = None

    def fate(self, frame: int) -> str:
        """What became of the data segment of `frame`: "ack", "sack", RESENT, "duplicate"
        (it re-sent acknowledged bytes) or "never" (`frames.SEGMENT_COLUMNS`' delivered_by)."""
        return "duplicate" if frame in self.duplicates else self.delivered.get(frame, "never")

    def wants(self, forward: FlowKey, backward: FlowKey) -> bool:
        return self.only is None or forward in self.only or backward in self.only

    def only_flows(self, keys: frozenset[FlowKey]) -> Trace:
        """This trace, of the connections named in `keys` (by either direction) only."""
        wanted = keys | {k.reverse() for k in keys}
        segments = [c for c in self.segments if c.flow in wanted]
        frames = {c.frame for c in segments}
        return Trace(
            segments=segments,
            delivered={f: how for f, how in self.delivered.items() if f in frames},
            duplicates=self.duplicates & frames,
            acks=[a for a in self.acks if a.flow in wanted],
            only=keys,
        )


class Direction:
    """One direction of a flow: the sender's data and what its peer acknowledged."""

    trace: Trace | None = None  # set by the flow table when a trace is kept

    def __init__(self, seg: Segment, flow_first_frame: int) -> None:
        self.key = FlowKey(seg.src, seg.sport, seg.dst, seg.dport)
        self.src, self.dst, self.sport, self.dport = seg.src, seg.dst, seg.sport, seg.dport
        self.ip_version = seg.ip_version
        self.facts = DirectionFacts(
            self.key, seg.frame, flow_first_frame, first_ts=seg.ts, last_ts=seg.ts
        )
        self._new_data: deque[tuple[int, int]] = deque()  # (end, IP size) not yet acknowledged
        self.last_raw: int | None = None  # the raw and unwrapped sequence of its last segment
        self.last_abs = 0
        self.snd_max: int | None = None  # unwrapped end of the highest byte sent
        self.syn_mss: int | None = None
        self.syn_seen = False
        self.syn_frame: int | None = None
        self.header_len = 0  # IP + TCP header bytes of its latest data segment
        self.largest_sent = 0
        self.largest_payload = 0
        self.tcp_options_len = 0  # TCP option bytes in its latest data segment
        self.outstanding: list[Sent] = []
        # What the peer's ACKs say about this direction's bytes:
        self.cum_ack: int | None = None
        self._last_ack: tuple[int, int] | None = None  # (ack, window) of the last pure ACK
        self._zero_since: float | None = None  # when its peer closed its window, if it is
        # bytes its later segments show it sent, unseen: (start, end, first frame showing them)
        self._unseen: tuple[int, int, int] | None = None
        # the first bytes its data skipped and no later segment filled yet (`tcp.skips_data`)
        self._skipped: tuple[int, int] | None = None
        self.dup_acks_at: dict[int, int] = {}  # unwrapped ack -> duplicate ACKs at it
        # its own ACKs, while the capture holds no packet of its peer (`tcp.stuck_ack`)
        self.stuck = tcp.StuckAck()
        self.stalls: list[Stall] = []
        # its FIN alone, sent more than once and still unacknowledged at the end of the
        # capture (a FIN never stalls a flow: `detect._fin_unanswered` judges it on its own)
        self.fin_unanswered: Stall | None = None
        # what this direction alone delivered, by size (its path's summary holds every flow's)
        self.delivered = PathSummary(seg.src, seg.dst, seg.ip_version)
        self.sacked_unseen: list[SackedUnseen] = []
        self.holes: list[Hole] = []
        self.open_hole: Hole | None = None
        self.finished = False  # FIN or RST seen
        # its latest deliveries: (frame, wire size, send time) of the copy that got through;
        # made at the first (a flood's directions, which deliver nothing, cost nothing more)
        self._recent: deque[tuple[int, int, float]] | None = None
        self._through_at_last: list[Stall] = []  # delivered at full size by the ACK being read

    def seq(self, raw: int) -> int:
        """A raw sequence number of this direction's space, unwrapped."""
        return tcp.unwrap(raw, self.last_raw, self.last_abs)

    # -- this side sends -------------------------------------------------------------------

    def on_send(self, seg: Segment, peer_mss: int | None) -> None:
        start = self.seq(seg.seq)
        self.last_raw, self.last_abs = seg.seq, start
        self._count_sent(seg, start)
        if seg.flags & TCP_SYN:
            self.syn_seen = True
            self.syn_frame = seg.frame
            self.syn_mss = seg.mss
        if tcp.ends_connection(seg.flags):
            self.finished = True
        length = tcp.seq_length(seg.flags, seg.payload_len)
        end = start + length
        if length == 0:
            return
        snd_max = self.snd_max
        self.snd_max = end if snd_max is None else max(snd_max, end)
        if seg.payload_len == 0:
            if seg.flags & TCP_FIN and not seg.flags & TCP_SYN:
                self._send_fin(seg, start, end, snd_max)
            return  # SYN or FIN alone: sequence space, but no data
        self.largest_payload = max(self.largest_payload, seg.payload_len)
        self.tcp_options_len = seg.tcp_header_len - 20
        self.header_len = seg.ip_header_len + seg.tcp_header_len
        size = wire_size(seg, peer_mss)
        self.largest_sent = max(self.largest_sent, size)
        copy = Copy(seg.frame, seg.ts, size, start, end, self.key, seg.payload_len, seg.ip_len)
        self._fill_hole(copy)
        if self.cum_ack is not None and end <= self.cum_ack:
            if self.trace is not None:
                copy.resends = 1
                self.trace.segments.append(copy)
                self.trace.duplicates.add(seg.frame)
            return  # bytes already acknowledged: a spurious retransmission
        owned = False
        if snd_max is not None and start < snd_max:  # re-sent bytes: find their owners
            self._cut_super_packets(start, end)
            for sent in self.outstanding:
                if sent.start >= end:
                    break  # `outstanding` is sorted by start: nothing further can overlap
                if start < sent.end:
                    owned = True
                    sent.copies.append(copy)
                    if sent.size == UNKNOWN_SIZE:
                        # first sent as a super-packet of unknown wire size (no MSS known): a
                        # copy re-sent at a known size tells the size its packets have
                        sent.size = copy.size
                    copy.resends = max(copy.resends, len(sent.copies) - 1)
        if self.trace is not None:
            self.trace.segments.append(copy)
        if start < 0 and not owned:
            # Bytes first sent before the capture began (sequence numbers count from its first
            # segment): re-sent now, they are followed as if this were their first copy.
            bisect.insort(self.outstanding, Sent(start, end, size, [copy]), key=_start_of)
            return
        new_from = max(start, snd_max if snd_max is not None else start)
        if end > new_from:
            self.outstanding.append(Sent(new_from, end, size, [copy]))
            self._note_beyond_hole(new_from, copy)

    def _cut_super_packets(self, start: int, end: int) -> None:
        """A super-packet of unknown wire size (no MSS known) re-sent in part, as its tail alone
        by a tail loss probe: it crossed the wire as several packets, one of them cut where the
        copy begins or ends, so it is followed from now on as those pieces, each with its
        copies (before, the whole took the size of the copy of its tail, and the packets of its
        head, lost, were taken for that size: a 364-byte packet never acknowledged, instead of
        a 1500-byte one lost while the 364-byte one was SACKed)."""
        out = self.outstanding
        for edge in (start, end):
            i = bisect.bisect_right(out, edge, key=_start_of) - 1
            if i < 0:
                continue
            sent = out[i]
            if sent.size == UNKNOWN_SIZE and sent.start < edge < sent.end:
                out.insert(i + 1, Sent(edge, sent.end, UNKNOWN_SIZE, list(sent.copies)))
                sent.end = edge

    def _send_fin(self, seg: Segment, start: int, end: int, snd_max: int | None) -> None:
        """A FIN alone is a packet too: its delivery (an ACK or a SACK of its sequence byte)
        shows the path carried a packet of its size, as a data segment's would. It is no data
        segment for the trace (`Trace.segments`)."""
        copy = Copy(seg.frame, seg.ts, seg.ip_len, start, end, self.key, 0, seg.ip_len)
        if snd_max is None or start >= snd_max:
            self.outstanding.append(Sent(start, end, seg.ip_len, [copy]))
            self._note_beyond_hole(start, copy)
            return
        for sent in self.outstanding:  # a FIN sent again
            if sent.start == start and sent.end == end:
                sent.copies.append(copy)

    def _count_sent(self, seg: Segment, start: int) -> None:
        """The facts of a segment this direction sent (the rules of `tcp.py`)."""
        facts = self.facts
        facts.packets += 1
        facts.last_ts, facts.last_frame = seg.ts, seg.frame
        payload = seg.payload_len
        if self._skipped is not None:
            end = start + tcp.seq_length(seg.flags, payload)
            self._skipped = tcp.fill_skip(self._skipped, start, end)
        if self._skipped is None and tcp.skips_data(start, self.snd_max, payload):
            assert self.snd_max is not None
            self._skipped = (self.snd_max, start)
        if tcp.skips_unseen(start, self.snd_max, seg.flags, payload):
            if self._unseen is None:
                self._unseen = (self.snd_max or start, start, seg.frame)
            self._unseen = (self._unseen[0], max(self._unseen[1], start), self._unseen[2])
        if tcp.is_retransmission(start, self.snd_max, seg.flags, payload, self.cum_ack):
            facts.retransmissions += 1
            entry = facts.resent.setdefault(seg.ip_len, [0, 0, 0])
            entry[0] += 1
            entry[1] += payload
            entry[2] = max(entry[2], payload)
        if seg.flags & TCP_SYN:
            facts.syn_mss = seg.mss
        if tcp.ends_connection(seg.flags):
            facts.ended = True
        if payload <= 0:
            return
        facts.data_packets += 1
        facts.data_bytes += payload
        facts.last_data_ts = seg.ts
        facts.largest_ip_len = max(facts.largest_ip_len, seg.ip_len)
        facts.last_data_mss_bytes = payload + seg.tcp_header_len - 20
        facts.max_header_len = max(facts.max_header_len, seg.ip_header_len + seg.tcp_header_len)
        facts.max_payload = max(facts.max_payload, payload)
        new = self.snd_max is None or start >= self.snd_max
        if new:
            facts.newest_mss_bytes = facts.last_data_mss_bytes
            facts.newest_push = bool(seg.flags & TCP_PSH)
        if new and seg.ip_len <= ETHERNET_MTU:
            entry = facts.new_data.setdefault(seg.ip_len, [0, payload, payload])
            entry[1], entry[2] = min(entry[1], payload), max(entry[2], payload)
            end = start + tcp.seq_length(seg.flags, payload)
            if self.cum_ack is not None and end <= self.cum_ack:
                entry[0] += 1
            else:
                self._new_data.append((end, seg.ip_len))

    def _count_acked(self, seg: Segment, ack: int, snd_max: int | None) -> None:
        """The facts of an ACK of this direction's data (the rules of `tcp.py`)."""
        facts = self.facts
        if tcp.is_dup_ack(seg.flags, seg.payload_len, ack, seg.window, self._last_ack, snd_max):
            facts.dup_acks += 1
            if len(self.dup_acks_at) < MAX_EVENTS_KEPT or ack in self.dup_acks_at:
                self.dup_acks_at[ack] = self.dup_acks_at.get(ack, 0) + 1
        pure = tcp.is_pure_ack(seg.flags, seg.payload_len)
        self._last_ack = (ack, seg.window) if pure else None
        window = tcp.window_state(seg.flags, seg.window)
        if window == 1 and self._zero_since is None:
            self._zero_since = seg.ts
        elif window == 0 and self._zero_since is not None:
            facts.zero_window_s = max(facts.zero_window_s, seg.ts - self._zero_since)
            self._zero_since = None
        for left, right in seg.sack_blocks:
            if tcp.is_valid_sack(left, right):
                facts.sack_blocks += 1
                facts.dsacks += tcp.is_dsack(left, right, seg.ack)
        cum = ack if self.cum_ack is None else max(self.cum_ack, ack)
        if snd_max is None or cum > snd_max:
            facts.acked_unseen = True
        pending = self._new_data
        while pending and pending[0][0] <= cum:
            facts.new_data[pending.popleft()[1]][0] += 1

    # -- the peer acknowledges this side's bytes -------------------------------------------

    def on_peer_ack(self, seg: Segment, path: PathSummary) -> None:
        if not seg.flags & TCP_ACK or self.last_raw is None:
            return
        ack = self.seq(seg.ack)
        self._count_acked(seg, ack, self.snd_max)
        if self.trace is not None:
            edges = tuple((self.seq(left), self.seq(right)) for left, right in seg.sack_blocks)
            self.trace.acks.append(Ack(seg.frame, seg.ts, self.key, ack, edges))
        sacked: list[Sent] = []
        for left_raw, right_raw in seg.sack_blocks:
            sacked += self._on_sack_block(left_raw, right_raw, ack, seg, path)
        if self.cum_ack is None or ack > self.cum_ack:
            self.cum_ack = ack
            self._deliver_cumulative(seg, path)
        if self._through_at_last:
            self._while_lost()
        self._track_hole(seg, sacked)
        hole = self.open_hole
        if hole is not None and ack == hole.start:
            if len(hole.ack_frames) < MAX_EVENTS_KEPT:
                hole.ack_frames.append(seg.frame)
            hole.sacked = hole.sacked or any(self.seq(r) > ack for _, r in seg.sack_blocks)

    def _on_sack_block(
        self, left_raw: int, right_raw: int, ack: int, seg: Segment, path: PathSummary
    ) -> list[Sent]:
        """Deliver what a SACK block covers; return the segments it delivered."""
        left, right = self.seq(left_raw), self.seq(right_raw)
        if right <= left:
            return []
        if right <= ack:
            return []  # D-SACK (RFC 2883): reports a duplicate, delivers nothing new
        snd_max = self.snd_max if self.snd_max is not None else 0
        if left >= snd_max and len(self.sacked_unseen) < MAX_EVENTS_KEPT:
            # bytes the capture never saw sent (it started late, or missed them) arrived
            self.sacked_unseen.append(SackedUnseen(left, right, seg.ts, seg.frame))
        # `outstanding` is sorted by start: the covered segments are one run found by bisection.
        first = bisect.bisect_left(self.outstanding, left, key=_start_of)
        last = first
        while last < len(self.outstanding) and self.outstanding[last].end <= right:
            last += 1
        sacked = self.outstanding[first:last]
        for sent in sacked:
            self._delivered(sent, seg.ts, path, "sack")
        del self.outstanding[first:last]
        return sacked

    def _deliver_cumulative(self, seg: Segment, path: PathSummary) -> None:
        """Deliver the segments the cumulative ACK now covers: a prefix of `outstanding`.

        New data is appended in sequence order and never overlaps what is already outstanding,
        so the list is sorted by start (and by end): only its front can be acknowledged.
        """
        assert self.cum_ack is not None
        done = 0
        for sent in self.outstanding:
            if sent.end > self.cum_ack:
                break
            self._delivered(sent, seg.ts, path, "ack")
            done += 1
        if done:
            del self.outstanding[:done]

    def _delivered(self, sent: Sent, ts: float, path: PathSummary, how: str) -> None:
        """Fold a delivered segment into the path summary, and keep it if it had stalled."""
        full = sent.full_size_copies()
        smaller = sent.smaller_copies()
        if self.trace is not None:
            self._trace_delivered(sent, smaller, how)
        for summary in (path, self.delivered):
            if not smaller:
                summary.add(sent.size, full[-1].ts, full[-1].frame)  # every copy had this size
            else:
                for piece in smaller:  # each smaller packet was sent once for its bytes
                    summary.add(piece.size, piece.ts, piece.frame)
        if self._recent is None:
            self._recent = deque(maxlen=RECENT_DELIVERIES_KEPT)
        self._recent.extend(
            (piece.frame, piece.size, piece.ts)
            for piece in smaller or full[-1:]
            if piece.size != UNKNOWN_SIZE  # a super-packet's pieces of unknown size tell none
        )
        if len(full) >= 2 and sent.carries_data and len(self.stalls) < MAX_HOLES_KEPT:
            stall = Stall(sent.start, sent.end, sent.size, full, smaller, ts)
            self.stalls.append(stall)
            if not smaller and len(full) >= HEALED_COPIES:
                self._through_at_last.append(stall)

    def _while_lost(self) -> None:
        """For the segments the ACK just read delivered at full size after several copies: the
        largest of the direction's packets sent while their copies were being lost that got
        through (by this ACK or before: with no SACK, data beyond a loss is acknowledged only
        with it)."""
        recent = self._recent or ()
        for stall in self._through_at_last:
            first, last_lost = stall.copies[0].frame, stall.copies[-2].frame
            inside = [(size, f, ts) for f, size, ts in recent if first < f < last_lost]
            stall.while_lost = max(inside, default=None)
        self._through_at_last.clear()

    def _trace_delivered(self, sent: Sent, smaller: list[Copy], how: str) -> None:
        """Which copies got through, as the path summary counts them: the smaller ones when
        the bytes were re-sent in smaller packets (the full-size copies stay never delivered),
        else the latest copy; the copies before it were re-sent, so presumably lost."""
        assert self.trace is not None
        fate = self.trace.delivered
        through = smaller if smaller else sent.copies[-1:]
        for c in sent.copies:
            if c in through:
                if fate.get(c.frame, RESENT) == RESENT:
                    fate[c.frame] = how
            elif not smaller:
                fate.setdefault(c.frame, RESENT)

    # -- holes: the receiver's view ---------------------------------------------------------

    def _track_hole(self, seg: Segment, sacked: list[Sent]) -> None:
        """After an ACK: open a gap when data beyond the ACK point was seen (still unacked, or
        SACKed just now) while no captured packet holds the byte at the ACK point itself.

        At the sender the lost packet is captured, so it covers the ACK point and no gap opens;
        at the receiver it never arrives, and the gap is the lost packet's bytes.
        """
        ack = self.cum_ack
        if ack is None:
            return
        hole = self.open_hole
        if hole is not None and ack >= hole.end:
            self._close_hole(hole, seg.ts)
            hole = None
        if hole is not None:
            return
        first = self.outstanding[0] if self.outstanding else None
        if first is not None and first.start <= ack:
            return  # the lowest unacknowledged bytes were captured (a sender-side capture)
        if first is None and not sacked:
            return
        # A capture that began mid-stream may not hold the bytes at the ACK point because they
        # were sent before it started: a receiver still waiting for them has a gap all the
        # same. At a sender their re-sent copies are captured (`fill_frames`) and
        # `detect._from_hole` leaves the judgement to the stall they make.
        beyond = [s for s in (*self.outstanding, *sacked) if s.start > ack]
        if not beyond:
            return
        self.open_hole = Hole(ack, min(s.start for s in beyond), seg.ts, seg.frame)
        self.open_hole.beyond_size = max(s.size for s in beyond)
        self.open_hole.beyond_frames = sorted(s.copies[0].frame for s in beyond)[:MAX_EVENTS_KEPT]
        self.open_hole.beyond_ts = min(s.copies[0].ts for s in beyond)

    def _note_beyond_hole(self, start: int, copy: Copy) -> None:
        hole = self.open_hole
        if hole is not None and start >= hole.end:
            hole.beyond_size = max(hole.beyond_size, copy.size)
            if len(hole.beyond_frames) < MAX_EVENTS_KEPT:
                hole.beyond_frames.append(copy.frame)

    def _fill_hole(self, copy: Copy) -> None:
        hole = self.open_hole
        if hole is not None and copy.start < hole.end and hole.start < copy.end:
            hole.fill_size = max(hole.fill_size or 0, copy.size)
            if hole.fill_ts is None:
                hole.fill_ts = copy.ts
            if len(hole.fill_frames) < MAX_EVENTS_KEPT:
                hole.fill_frames.append(copy.frame)

    def _close_hole(self, hole: Hole, ts: float) -> None:
        hole.filled_ts = ts
        if len(self.holes) < MAX_HOLES_KEPT:
            self.holes.append(hole)
        self.open_hole = None

    def finish(self, end_ts: float | None, alone: bool = False) -> None:
        """At the end of the capture (at `end_ts`): stalls still outstanding, the open hole,
        a window still closed; for a direction whose peer the capture never saw (`alone`), an
        ACK that stopped."""
        stuck = self.stuck
        if alone and stuck.since is not None:
            self.facts.stuck_ack_s = (end_ts if end_ts is not None else self.facts.last_ts) - (
                stuck.since
            )
            self.facts.stuck_ack_hole = stuck.hole
        snd_max, cum_ack = self.snd_max, self.cum_ack
        self.facts.unacked_at_end = snd_max is not None and (cum_ack is None or cum_ack < snd_max)
        if self._unseen is not None:
            start, end, _frame = self._unseen
            self.facts.sent_unseen = tcp.unseen_bytes(start, end, cum_ack)
        if self._skipped is not None and cum_ack is None:  # no ACK of it in the capture
            self.facts.skipped_unacked = self._skipped[1] - self._skipped[0]
        if self._zero_since is not None and end_ts is not None:
            spell = end_ts - self._zero_since
            self.facts.zero_window_s = max(self.facts.zero_window_s, spell)
        for i, sent in enumerate(self.outstanding):
            full = sent.full_size_copies()
            if not sent.carries_data and len(full) >= 2:
                self.fin_unanswered = Stall(sent.start, sent.end, sent.size, full, [], None)
            # sent once, the lowest bytes still unacknowledged: a loss the capture stopped too
            # soon after to judge (`detect._stopped_early`); sent more, a stall
            kept = len(full) >= 2 or (i == 0 and len(full) == 1)
            if kept and sent.carries_data and len(self.stalls) < MAX_HOLES_KEPT:
                beyond = max((s.size for s in self.outstanding if s.start >= sent.end), default=0)
                self.stalls.append(
                    Stall(
                        sent.start,
                        sent.end,
                        sent.size,
                        full,
                        sent.smaller_copies(),
                        None,
                        beyond_size=beyond,
                    )
                )
        if self.open_hole is not None and len(self.holes) < MAX_HOLES_KEPT:
            self.holes.append(self.open_hole)
            self.open_hole = None


def wire_size(seg: Segment, peer_mss: int | None) -> int:
    """The IP size of the largest packet these bytes can have crossed the wire in; 0: unknown.

    A segment longer than the receiver's MSS was captured before the NIC (or GSO) cut it into
    MSS-sized packets, or after the receiver's GRO merged several, so no packet of its captured
    size crossed the wire. With no MSS known, a segment larger than an Ethernet frame is
    taken to be such a super-packet, of unknown wire size: it is followed by sequence range
    but never used as evidence of a size.
    """
    if peer_mss is None:
        return seg.ip_len if seg.ip_len <= ETHERNET_MTU else UNKNOWN_SIZE
    if seg.payload_len <= peer_mss:
        return seg.ip_len
    options = seg.tcp_header_len - 20
    return seg.ip_header_len + seg.tcp_header_len + max(peer_mss - options, 1)


@dataclass
class Flow:
    """Both directions of one TCP connection, keyed by who spoke first."""

    key: FlowKey
    a: Direction
    b: Direction | None = None

    def sender(self, seg: Segment) -> tuple[Direction, Direction | None]:
        if (seg.src, seg.sport) == (self.a.src, self.a.sport):
            return self.a, self.b
        if self.b is None:
            self.b = Direction(seg, self.a.facts.first_frame)
        return self.b, self.a

    def directions(self) -> list[Direction]:
        return [d for d in (self.a, self.b) if d is not None]

    def peer_of(self, direction: Direction) -> Direction | None:
        """The other direction of the flow (the receiver of `direction`'s data)."""
        return self.b if direction is self.a else self.a


class FlowTable:
    """Every flow of one or more captures, and the per-path delivery summary.

    `host_syns`: (frame, host, MSS) of SYNs the table is not given but would have met, in frame
    order (those that raised a host's largest MSS: `fast.screen.FastFacts.host_syns`), for a
    table given only some flows' segments: each counts as the table reaches its frame."""

    def __init__(
        self,
        capture: str = "",
        *,
        trace: Trace | None = None,
        host_syns: list[tuple[int, bytes, int]] | None = None,
    ) -> None:
        self.capture = capture
        self.trace = trace  # every segment's fate, when asked (postmortems)
        self._host_syns = deque(host_syns or ())
        self.flows: dict[FlowKey, Flow] = {}
        self.closed: list[Flow] = []  # flows whose 4-tuple a later connection reused
        # The smallest and largest MSS each host announced in a SYN: for flows whose own SYN
        # was not captured.
        self.host_mss: dict[bytes, tuple[int, int]] = {}
        self.paths: dict[tuple[bytes, bytes], PathSummary] = {}

    def all_flows(self) -> list[Flow]:
        return [*self.closed, *self.flows.values()]

    def host_max_mss(self, host: bytes) -> int | None:
        known = self.host_mss.get(host)
        return known[1] if known is not None else None

    def path(self, src: bytes, dst: bytes, ip_version: int) -> PathSummary:
        summary = self.paths.get((src, dst))
        if summary is None:
            summary = self.paths[(src, dst)] = PathSummary(src, dst, ip_version, self.capture)
        return summary

    def _note_mss(self, host: bytes, mss: int) -> None:
        low, high = self.host_mss.get(host, (mss, mss))
        self.host_mss[host] = (min(low, mss), max(high, mss))

    def _note_host_syns(self, frame: float) -> None:
        """The SYNs of other flows met up to `frame`."""
        pending = self._host_syns
        while pending and pending[0][0] <= frame:
            _, host, mss = pending.popleft()
            self._note_mss(host, mss)

    def add(self, seg: Segment) -> None:
        if self._host_syns:
            self._note_host_syns(seg.frame)
        forward = FlowKey(seg.src, seg.sport, seg.dst, seg.dport)
        backward = FlowKey(seg.dst, seg.dport, seg.src, seg.sport)
        flow = self.flows.get(forward) or self.flows.get(backward)
        if flow is not None and tcp.opens_new_connection(
            seg.flags, any(d.finished for d in flow.directions())
        ):
            self.closed.append(self.flows.pop(flow.key))  # port reuse
            flow = None
        if flow is None:
            flow = self.flows[forward] = Flow(forward, Direction(seg, seg.frame))
        if seg.flags & TCP_SYN and seg.mss:
            self._note_mss(seg.src, seg.mss)
        sender, receiver = flow.sender(seg)
        if self.trace is not None and self.trace.wants(forward, backward):
            sender.trace = self.trace
            if receiver is not None:
                receiver.trace = self.trace
        peer_mss = receiver.syn_mss if receiver is not None else None
        if peer_mss is None:
            peer_mss = self.host_max_mss(seg.dst)
        self.path(seg.src, seg.dst, seg.ip_version)  # every path that carried a packet is listed
        sender.on_send(seg, peer_mss)
        if receiver is not None:
            receiver.on_peer_ack(seg, self.path(seg.dst, seg.src, seg.ip_version))
        else:  # its peer not seen yet: what its ACKs say of the peer's data
            tcp.stuck_ack(
                sender.stuck,
                seg.flags,
                seg.payload_len,
                seg.ack,
                seg.window,
                seg.sack_blocks,
                seg.ts,
                probe=sender.snd_max is not None and sender.last_abs < sender.snd_max,
            )

    def finish(self, end_ts: float | None = None) -> None:
        """At the end of the capture, whose last record (of any kind) was at `end_ts`."""
        self._note_host_syns(float("inf"))
        for flow in self.all_flows():
            for direction in flow.directions():
                direction.finish(end_ts, alone=flow.b is None)

    def facts(self) -> list[DirectionFacts]:
        """Every direction's facts, in the order of their flows' first segments."""
        found = []
        for flow in self.all_flows():
            for direction in flow.directions():
                peer = flow.peer_of(direction)
                direction.facts.peer_syn_mss = peer.facts.syn_mss if peer is not None else None
                found.append(direction.facts)
        return sorted(found, key=lambda f: (f.flow_first_frame, f.first_frame))
