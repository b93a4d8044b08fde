"""WireGuard's messages as an underlay capture shows them, and the two ends of a tunnel matched.

A WireGuard message in UDP (the protocol's own layout, as Wireshark's dissector reads it): a type
byte (1 handshake initiation, 148 bytes; 2 response, 92; 3 cookie reply, 64; 4 transport data)
and three zero bytes; a transport message then carries the receiver's index (4 bytes, little
endian) and a 64-bit counter in the clear, then the inner packet, encrypted, padded to a
multiple of 16 (capped at the tunnel's MTU), and a 16-byte tag. So each transport message tells
its inner packet's size to within the padding (`padded_inner`: 0 for a keepalive), and
(receiver index, counter) names it uniquely for the life of a session.

`matched` takes the messages of both ends' underlay captures and says, for each transport
message the sending end's capture holds, whether the other end's capture holds it too
(delivered) or not (lost), by that name alone: the captures' clocks need not agree. A message
counts only where the other capture was running for that receiver index (counters on both
sides of it were seen there).

This module decodes and matches; judging what the losses mean is `detect`'s (not wired into
`analyze` yet).
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pcapmtu import linktypes
from pcapmtu.capture import Capture, Source
from pcapmtu.model import TooBig
from pcapmtu.tunnels import (
    WG_COOKIE,
    WG_INITIATION,
    WG_RESPONSE,
    WG_TRANSPORT,
    is_wireguard_message,
)

WG_TRANSPORT_HEADER = 16  # type + reserved 4, receiver index 4, counter 8
WG_TAG = 16
UDP_HEADER = 8
IPPROTO_UDP = 17
IPPROTO_FRAGMENT = 44  # IPv6's fragment header


@dataclass(frozen=True, slots=True)
class WgMessage:
    """One WireGuard message in an underlay capture."""

    capture: str
    frame: int
    ts: float
    src: bytes  # outer addresses and ports
    dst: bytes
    sport: int
    dport: int
    outer_ip_len: int  # the outer IP packet, as its header says
    kind: int  # 1..4
    receiver: int | None = None  # transport messages: the receiver's index
    counter: int | None = None  # ... and the message's counter
    # Sent in IP fragments (its first fragment seen; `outer_ip_len` is the whole message's):
    # how many, and the first's IP length, which the sender cut to the path MTU it knows.
    fragments: int = 1
    first_fragment_len: int | None = None

    @property
    def padded_inner(self) -> int | None:
        """A transport message's inner packet, padded: 0 for a keepalive; None otherwise."""
        if self.kind != WG_TRANSPORT:
            return None
        header = 40 if len(self.src) == 16 else 20
        return self.outer_ip_len - header - UDP_HEADER - WG_TRANSPORT_HEADER - WG_TAG


def messages(
    source: Source, name: str | None = None, port: int | None = None
) -> Iterator[WgMessage]:
    """Every WireGuard message in a capture (IPv4 or IPv6 underlay, any port, or only `port`
    when given), in order.

    A message sent in IP fragments is read from its first fragment, which holds the UDP
    header (its length is the whole message's) and the counter; the other fragments are not
    messages. Messages cut by the snaplen before their counter are skipped."""
    with Capture(source, name=name) as capture:
        yield from _messages_of(capture, port)


Span = tuple[float, float]  # a capture's first and last packet's times, on its own clock


def captured(
    source: Source, name: str | None = None, port: int | None = None
) -> tuple[list[WgMessage], Span | None]:
    """The `messages` of a capture, and its span: when it was running, by its first and last
    packet of any kind (None when it holds none), for `matched`."""
    with Capture(source, name=name) as capture:
        found = list(_messages_of(capture, port))
        first, last = capture.info.first_ts, capture.info.last_ts
    return found, None if first is None or last is None else (first, last)


def _messages_of(capture: Capture, port: int | None) -> Iterator[WgMessage]:
    label = capture.info.name
    for batch in capture.batches():
        for i in range(len(batch)):
            record = batch.record(i)
            found = _message(label, record.frame, record.ts, record.link_type, record.data)
            if found is not None and (port is None or port in (found.sport, found.dport)):
                yield found


def _message(capture: str, frame: int, ts: float, link_type: int, data: bytes) -> WgMessage | None:
    o = linktypes.ip_offset(link_type, data)
    if o is None or len(data) < o + 1:
        return None
    version = data[o] >> 4
    fragment: int | None = None  # a first fragment: its IP length
    if version == 4 and len(data) >= o + 20:
        header = (data[o] & 0x0F) * 4
        total, flags_frag, protocol = struct.unpack_from("!H2xHxB", data, o + 2)
        if protocol != IPPROTO_UDP or flags_frag & 0x1FFF:  # not UDP, or not the first fragment
            return None
        if flags_frag & 0x2000:  # more fragments follow
            fragment = total
        src, dst = data[o + 12 : o + 16], data[o + 16 : o + 20]
    elif version == 6 and len(data) >= o + 40:
        header, protocol = 40, data[o + 6]
        total = 40 + struct.unpack_from("!H", data, o + 4)[0]
        if protocol == IPPROTO_FRAGMENT and len(data) >= o + 48:
            protocol, offset_flags = data[o + 40], struct.unpack_from("!H", data, o + 42)[0]
            if offset_flags & 0xFFF8:  # not the first fragment
                return None
            header = 48
            if offset_flags & 1:
                fragment = total
        if protocol != IPPROTO_UDP:
            return None
        src, dst = data[o + 8 : o + 24], data[o + 24 : o + 40]
    else:
        return None
    u = o + header
    if len(data) < u + UDP_HEADER + 4:
        return None
    sport, dport, udp_len = struct.unpack_from("!HHH", data, u)
    p = u + UDP_HEADER
    kind = data[p]
    if not is_wireguard_message(kind, data[p + 1 : p + 4], udp_len - UDP_HEADER):
        return None
    pieces = 1
    if fragment is not None:  # the whole message's size, from its UDP length
        carried = fragment - header  # the fragment's share of the UDP datagram
        if carried <= 0:
            return None
        total = (20 if version == 4 else 40) + udp_len
        pieces = -(-udp_len // carried)
    receiver = counter = None
    if kind == WG_TRANSPORT:
        if len(data) < p + WG_TRANSPORT_HEADER:  # the counter cut by the snaplen
            return None
        receiver, counter = struct.unpack_from("<IQ", data, p + 4)
    return WgMessage(
        capture,
        frame,
        ts,
        src,
        dst,
        sport,
        dport,
        total,
        kind,
        receiver,
        counter,
        fragments=pieces,
        first_fragment_len=fragment,
    )


@dataclass(frozen=True)
class Fate:
    """A transport message the sending end's capture holds, and whether the other end got it."""

    sent: WgMessage
    delivered: bool


# How far inside the other capture's span a message's arrival must fall, reckoned from a
# message both captures hold, to count as lost when it is missing: the two messages' delays
# across the path would have to differ by more than this to fool it.
RUNNING_MARGIN_S = 0.25


def matched(
    one: Iterable[WgMessage],
    other: Iterable[WgMessage],
    spans: tuple[Span | None, Span | None] | None = None,
) -> list[Fate]:
    """Each transport message of either capture whose fate the other capture tells: delivered
    when it holds the same (receiver index, counter); lost when it does not although it was
    capturing then: it holds counters of the same session below and above it, or (with the
    captures' `spans`) the message would have reached it well inside its span, reckoned from
    the nearest message of the session that both hold (`_running_then`). Counters and
    durations, not clocks, tell when both were running, so the captures' clocks need not agree
    and either may have started late or stopped early. Which capture sent a session's
    messages is the one that holds more of them."""
    names = [_by_name(one), _by_name(other)]
    fates: list[Fate] = []
    for receiver in sorted(set(names[0]) | set(names[1])):
        sides = [n.get(receiver, {}) for n in names]
        sender = 0 if len(sides[0]) >= len(sides[1]) else 1
        seen = sides[1 - sender]
        if not seen:
            continue  # the other capture holds none of this session: it tells nothing
        low, high = min(seen), max(seen)
        both = sorted(set(seen) & set(sides[sender]))
        span = None if spans is None else spans[1 - sender]
        for counter in sorted(sides[sender]):
            message = sides[sender][counter]
            if counter in seen:
                fates.append(Fate(message, True))
            elif low < counter < high:
                fates.append(Fate(message, False))
            elif span is not None and both:
                near = both[0] if counter < low else both[-1]
                if _running_then(message, sides[sender][near], seen[near], span):
                    fates.append(Fate(message, False))
    return fates


def _running_then(message: WgMessage, sent: WgMessage, arrived: WgMessage, span: Span) -> bool:
    """Whether the other capture was running when `message` would have reached it: its
    arrival reckoned from a message both captures hold (`sent` by this one, `arrived` in the
    other), by the time between the two on the sender's clock (each clock measures only
    durations), at least RUNNING_MARGIN_S inside the other capture's span."""
    expected = arrived.ts + (message.ts - sent.ts)
    first, last = span
    return first + RUNNING_MARGIN_S <= expected <= last - RUNNING_MARGIN_S


def _by_name(messages_: Iterable[WgMessage]) -> dict[int, dict[int, WgMessage]]:
    found: dict[int, dict[int, WgMessage]] = {}
    for m in messages_:
        if m.receiver is not None and m.counter is not None:
            found.setdefault(m.receiver, {}).setdefault(m.counter, m)
    return found


# -- what each tunnel carried ----------------------------------------------------------------


@dataclass(slots=True)
class Session:
    """What one end of a tunnel sent the other, as one underlay capture shows it: per
    endpoint pair (outer addresses and ports, in the direction sent) and receiver index; the
    row with `receiver` None counts the pair's handshake messages, which carry no index."""

    capture: str
    src: bytes
    sport: int
    dst: bytes
    dport: int
    receiver: int | None
    messages: int
    keepalives: int = 0  # transport messages with an empty inner packet
    largest_inner: int = 0  # padded
    largest_outer: int = 0  # the outer IP packet
    fragmented: int = 0  # sent in IP fragments
    initiations: int = 0
    responses: int = 0
    cookies: int = 0
    first_ts: float = 0.0
    last_ts: float = 0.0
    too_big: int = 0  # ICMP too-big messages quoting this pair's UDP
    too_big_mtu: int | None = None  # the smallest next-hop MTU they announced

    @property
    def endpoints(self) -> tuple[bytes, int, bytes, int]:
        return (self.src, self.sport, self.dst, self.dport)


def sessions(messages_: Iterable[WgMessage], too_big: Iterable[TooBig] = ()) -> list[Session]:
    """Each endpoint pair's handshakes and each receiver index's transport messages, with the
    ICMP too-big messages that quote the pair's UDP tied to its rows; in order of first seen."""
    rows: dict[tuple[str, bytes, int, bytes, int, int | None], Session] = {}
    for m in messages_:  # (summed in place: a capture holds hundreds of thousands of messages)
        key = (m.capture, m.src, m.sport, m.dst, m.dport, m.receiver)
        s = rows.get(key)
        if s is None:
            s = rows[key] = Session(*key, messages=0, first_ts=m.ts)
        inner = m.padded_inner
        s.messages += 1
        s.last_ts = m.ts
        s.initiations += m.kind == WG_INITIATION
        s.responses += m.kind == WG_RESPONSE
        s.cookies += m.kind == WG_COOKIE
        s.fragmented += m.fragments > 1
        s.keepalives += inner == 0
        if inner is not None:
            s.largest_inner = max(s.largest_inner, inner)
            s.largest_outer = max(s.largest_outer, m.outer_ip_len)
    found = list(rows.values())
    for message in too_big:
        quoting = next(
            (s for s in found if s.endpoints == message.quoted and s.receiver is not None), None
        )
        if quoting is not None:
            quoting.too_big += 1
            mtus = [v for v in (quoting.too_big_mtu, message.mtu) if v]
            quoting.too_big_mtu = min(mtus) if mtus else None
    return found


# -- inner packets tied to their outer messages ----------------------------------------------


@dataclass(frozen=True, slots=True)
class InnerPacket:
    """An IP packet as the tunnel's interface shows it (not WireGuard's UDP)."""

    capture: str
    frame: int
    ts: float
    ip_len: int
    src: bytes
    dst: bytes


@dataclass(frozen=True)
class Tie:
    """An inner packet and the WireGuard message that carried it (or brought it)."""

    inner: InnerPacket
    outer: WgMessage


TIE_WINDOW_S = 0.05  # an inner packet and its message cross the host within this


def inner_packets(
    source: Source,
    name: str | None = None,
    frames: Iterable[int] = (),
    near: Iterable[float] = (),
    window_s: float = TIE_WINDOW_S,
) -> list[InnerPacket]:
    """The IP packets of a capture that are not WireGuard messages, of the given frames and
    of the times within `window_s` of `near` (memory grows with those, not with the capture)."""
    wanted = set(frames)
    times = sorted(near)
    found = []
    with Capture(source, name=name) as capture:
        label = capture.info.name
        for batch in capture.batches():
            for i in range(len(batch)):
                record = batch.record(i)
                if record.frame not in wanted and not _close(times, record.ts, window_s):
                    continue
                if _message(label, record.frame, record.ts, record.link_type, record.data):
                    continue
                packet = _inner(label, record.frame, record.ts, record.link_type, record.data)
                if packet is not None:
                    found.append(packet)
    return found


def _close(times: list[float], ts: float, window_s: float) -> bool:
    i = bisect.bisect_left(times, ts - window_s)
    return i < len(times) and times[i] <= ts + window_s


def _inner(capture: str, frame: int, ts: float, link_type: int, data: bytes) -> InnerPacket | None:
    o = linktypes.ip_offset(link_type, data)
    if o is None or len(data) < o + 20:
        return None
    version = data[o] >> 4
    if version == 4:
        total = struct.unpack_from("!H", data, o + 2)[0]
        return InnerPacket(capture, frame, ts, total, data[o + 12 : o + 16], data[o + 16 : o + 20])
    if version == 6 and len(data) >= o + 40:
        total = 40 + struct.unpack_from("!H", data, o + 4)[0]
        return InnerPacket(capture, frame, ts, total, data[o + 8 : o + 24], data[o + 24 : o + 40])
    return None


def carries(message: WgMessage, ip_len: int) -> bool:
    """Whether a transport message's padded inner size fits an inner packet of `ip_len` bytes:
    padded to a multiple of 16, or less where the tunnel's MTU capped the padding."""
    padded = message.padded_inner
    return padded is not None and ip_len <= padded <= ip_len + (-ip_len % 16)


def tie(
    inner: Iterable[InnerPacket], outer: Iterable[WgMessage], window_s: float = TIE_WINDOW_S
) -> list[Tie]:
    """Each inner packet and the transport message that carried it: the closest in time,
    within `window_s`, whose padded size fits and whose outer direction is the one the
    inner packet's direction takes (the one most of its packets fit, so that equal-sized
    ACKs of both ways are not crossed); each message carries one packet. The captures share a
    host's clock (one pcapng, `-i any`, or two files of the same host)."""
    messages_ = sorted(
        (m for m in outer if m.kind == WG_TRANSPORT and m.padded_inner), key=lambda m: m.ts
    )
    packets = sorted(inner, key=lambda p: p.ts)
    times = [m.ts for m in messages_]
    votes: dict[tuple[bytes, bytes], dict[tuple[bytes, bytes], float]] = {}
    for packet, fits in _fitting(packets, messages_, times, window_s):
        for i in fits:
            counts = votes.setdefault((packet.src, packet.dst), {})
            outer_way = (messages_[i].src, messages_[i].dst)
            counts[outer_way] = counts.get(outer_way, 0.0) + 1.0 / len(fits)
    takes = {way: max(c, key=lambda o: c[o]) for way, c in votes.items()}
    used: set[int] = set()
    ties = []
    for packet, fits in _fitting(packets, messages_, times, window_s):
        way = takes.get((packet.src, packet.dst))
        fits = [i for i in fits if i not in used and (messages_[i].src, messages_[i].dst) == way]
        if fits:
            best = min(fits, key=lambda i: abs(times[i] - packet.ts))
            used.add(best)
            ties.append(Tie(packet, messages_[best]))
    return ties


def _fitting(
    packets: list[InnerPacket], messages_: list[WgMessage], times: list[float], window_s: float
) -> Iterator[tuple[InnerPacket, list[int]]]:
    """Each inner packet with the messages (their indexes) close enough and of a fitting size."""
    for packet in packets:
        lo = bisect.bisect_left(times, packet.ts - window_s)
        hi = bisect.bisect_right(times, packet.ts + window_s)
        fits = [i for i in range(lo, hi) if carries(messages_[i], packet.ip_len)]
        if fits:
            yield packet, fits
