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

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pcapmtu import linktypes
from pcapmtu.capture import Capture, Source
from pcapmtu.tunnels import WG_TRANSPORT, is_wireguard_message

WG_TRANSPORT_HEADER = 16  # type + reserved 4, receiver index 4, counter 8
WG_TAG = 16
UDP_HEADER = 8
IPPROTO_UDP = 17
MARGIN_S = 0.5  # a message's trip between the two captures takes less than this


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

    @property
    def padded_inner(self) -> int | None:
        """A transport message's inner packet, padded: 0 for a keepalive; None otherwise."""
        if self.kind != WG_TRANSPORT:
            return None
        header = 40 if len(self.src) == 16 else 20
        return self.outer_ip_len - header - UDP_HEADER - WG_TRANSPORT_HEADER - WG_TAG


def messages(source: Source, name: str | None = None) -> Iterator[WgMessage]:
    """Every WireGuard message in a capture (IPv4 or IPv6 underlay, any port), in order.

    IPv4 fragments are skipped (their first fragment has the UDP header, but not the whole
    message's size in the IP header); so are messages cut by the snaplen before their counter."""
    with Capture(source, name=name) as capture:
        label = capture.info.name
        for batch in capture.batches():
            for i in range(len(batch)):
                record = batch.record(i)
                found = _message(label, record.frame, record.ts, record.link_type, record.data)
                if found is not None:
                    yield found


def _message(capture: str, frame: int, ts: float, link_type: int, data: bytes) -> WgMessage | None:
    o = linktypes.ip_offset(link_type, data)
    if o is None or len(data) < o + 1:
        return None
    version = data[o] >> 4
    if version == 4 and len(data) >= o + 20:
        header = (data[o] & 0x0F) * 4
        total, flags_frag, protocol = struct.unpack_from("!H2xHxB", data, o + 2)
        if protocol != IPPROTO_UDP or flags_frag & 0x3FFF:  # not UDP, or a fragment
            return None
        src, dst = data[o + 12 : o + 16], data[o + 16 : o + 20]
    elif version == 6 and len(data) >= o + 40:
        header, protocol = 40, data[o + 6]
        if protocol != IPPROTO_UDP:
            return None
        total = 40 + struct.unpack_from("!H", data, o + 4)[0]
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
    if kind != WG_TRANSPORT:
        return WgMessage(capture, frame, ts, src, dst, sport, dport, total, kind)
    if len(data) < p + WG_TRANSPORT_HEADER:  # the counter cut by the snaplen
        return None
    receiver, counter = struct.unpack_from("<IQ", data, p + 4)
    return WgMessage(capture, frame, ts, src, dst, sport, dport, total, kind, receiver, counter)


@dataclass(frozen=True)
class Fate:
    """A transport message the sending end's capture holds, and whether the other end got it."""

    sent: WgMessage
    delivered: bool


def matched(
    one: Iterable[WgMessage], other: Iterable[WgMessage], margin_s: float = MARGIN_S
) -> list[Fate]:
    """Each transport message of either capture whose fate the other capture tells: delivered
    when it holds the same (receiver index, counter); lost when it does not although it was
    capturing then. "Then" is read on the sending capture's own clock: between the first and
    the last message (either way) both captures hold, less `margin_s` for the trip, so the
    captures' clocks need not agree and either may have started late or stopped early.
    Which capture sent a message is the one that holds more of its session's counters."""
    captures = [list(one), list(other)]
    names = [_by_name(c) for c in captures]
    fates: list[Fate] = []
    for receiver in sorted(set(names[0]) | set(names[1])):
        sides = [n.get(receiver, {}) for n in names]
        if not sides[0] and not sides[1]:
            continue
        sender = 0 if len(sides[0]) >= len(sides[1]) else 1
        seen = sides[1 - sender]
        both = _both_times(names, sender)
        if both is None:
            continue  # the captures share no message: nothing tells when both were running
        first, last = both
        for counter in sorted(sides[sender]):
            message = sides[sender][counter]
            if counter in seen:
                fates.append(Fate(message, True))
            elif first + margin_s < message.ts < last - margin_s:
                fates.append(Fate(message, False))
    return fates


def _both_times(
    names: list[dict[int, dict[int, WgMessage]]], clock: int
) -> tuple[float, float] | None:
    """The first and last time, on capture `clock`'s clock, of a message both captures hold."""
    times = [
        names[clock][receiver][counter].ts
        for receiver in set(names[0]) & set(names[1])
        for counter in set(names[0][receiver]) & set(names[1][receiver])
    ]
    return (min(times), max(times)) if times else None


def _by_name(messages_: Iterable[WgMessage]) -> dict[int, dict[int, WgMessage]]:
    found: dict[int, dict[int, WgMessage]] = {}
    for m in messages_:
        if m.receiver is not None and m.counter is not None:
            found.setdefault(m.receiver, {}).setdefault(m.counter, m)
    return found
