"""SYNTHETIC packets and capture files for unit tests of edge cases.

Nothing here is a capture of anything: these bytes are built by hand so a test can state an
exact case (a sequence wrap, a D-SACK, a GSO super-packet, a cut record). Real behaviour is
tested on the real captures in sample_captures/ and the public corpus.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from typing import Any

SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10


def addr(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def tcp_options(
    mss: int | None = None,
    wscale: int | None = None,
    sack_ok: bool = False,
    timestamps: bool = False,
    sack: Sequence[tuple[int, int]] = (),
) -> bytes:
    raw = b""
    if mss is not None:
        raw += struct.pack("!BBH", 2, 4, mss)
    if sack_ok:
        raw += b"\x04\x02"
    if timestamps:
        raw += b"\x01\x01\x08\x0a" + struct.pack("!II", 1, 0)
    if wscale is not None:
        raw += struct.pack("!BBB", 3, 3, wscale)
    if sack:
        raw += b"\x01\x01" + struct.pack("!BB", 5, 2 + 8 * len(sack))
        raw += b"".join(struct.pack("!II", left, right) for left, right in sack)
    return raw + b"\x00" * (-len(raw) % 4)


def tcp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int = 0,
    flags: int = ACK,
    payload: int = 0,
    options: bytes = b"",
    window: int = 1000,
    ip_len_override: int | None = None,
) -> bytes:
    """An IPv4 or IPv6 packet carrying a TCP segment with `payload` bytes of zeros."""
    header = (
        struct.pack(
            "!HHIIHHHH",
            sport,
            dport,
            seq & 0xFFFFFFFF,
            ack & 0xFFFFFFFF,
            ((20 + len(options)) // 4) << 12 | flags,
            window,
            0,
            0,
        )
        + options
    )
    segment = header + b"\0" * payload
    return ip(src, dst, 6, segment, ip_len_override)


def ip(src: str, dst: str, protocol: int, body: bytes, ip_len_override: int | None = None) -> bytes:
    s, d = addr(src), addr(dst)
    if len(s) == 4:
        total = ip_len_override if ip_len_override is not None else 20 + len(body)
        return struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, protocol, 0, s, d) + body
    payload_len = ip_len_override - 40 if ip_len_override is not None else len(body)
    return struct.pack("!IHBB16s16s", 6 << 28, payload_len, protocol, 64, s, d) + body


def icmp_frag_needed(router: str, dst: str, mtu: int, quoted: bytes) -> bytes:
    body = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + quoted[:28]
    return ip(router, dst, 1, body)


def icmpv6_too_big(router: str, dst: str, mtu: int, quoted: bytes) -> bytes:
    body = struct.pack("!BBHI", 2, 0, 0, mtu) + quoted[:1232]
    return ip(router, dst, 58, body)


def ethernet(packet: bytes, ethertype: int | None = None, vlans: Sequence[int] = ()) -> bytes:
    if ethertype is None:
        ethertype = 0x86DD if packet[0] >> 4 == 6 else 0x0800
    frame = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
    for tpid in vlans:
        frame += struct.pack("!HH", tpid, 100)
    return frame + struct.pack("!H", ethertype) + packet


def pcap(
    packets: Iterable[tuple[float, bytes]] | Iterable[bytes],
    link_type: int = 101,
    *,
    nano: bool = False,
    big_endian: bool = False,
    snaplen: int = 262144,
    link_field_extra: int = 0,
) -> bytes:
    """A pcap file; packets are bytes (timestamps 1 s apart) or (time, bytes)."""
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = bytearray(
        struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, link_type | link_field_extra)
    )
    scale = 1_000_000_000 if nano else 1_000_000
    for i, item in enumerate(packets):
        ts, data = item if isinstance(item, tuple) else (1_700_000_000.0 + i, item)
        sec = int(ts)
        frac = round((ts - sec) * scale)
        caplen = min(len(data), snaplen)
        out += struct.pack(order + "IIII", sec, frac, caplen, len(data)) + data[:caplen]
    return bytes(out)


def _block(order: str, block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack(order + "II", block_type, total) + body + struct.pack(order + "I", total)


def pcapng(
    interfaces: Sequence[tuple[int, int]],
    packets: Iterable[tuple[int, int, bytes]],
    *,
    big_endian: bool = False,
) -> bytes:
    """A pcapng file: interfaces are (link type, if_tsresol); packets (interface, ticks, data)."""
    order = ">" if big_endian else "<"
    out = _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    for link_type, resol in interfaces:
        options = struct.pack(order + "HH", 9, 1) + bytes([resol]) + b"\0\0\0"
        options += struct.pack(order + "HH", 0, 0)
        out += _block(order, 1, struct.pack(order + "HHI", link_type, 0, 0) + options)
    for iface, ticks, data in packets:
        body = (
            struct.pack(
                order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
            )
            + data
        )
        out += _block(order, 6, body)
    return out


class Conversation:
    """A SYNTHETIC TCP conversation between a server (data sender) and a client, as packets.

    Sequence numbers are given relative to each side's ISN; `isn` lets a test start near 2^32.
    """

    def __init__(
        self,
        server: str = "198.19.0.1",
        client: str = "198.19.0.2",
        *,
        isn: int = 1000,
        client_isn: int = 5000,
        mss: int = 1380,
        timestamps: bool = True,
        sack: bool = True,
    ) -> None:
        self.server, self.client = server, client
        self.isn, self.client_isn = isn, client_isn
        self.mss, self.timestamps, self.sack_ok = mss, timestamps, sack
        self.packets: list[tuple[float, bytes]] = []
        self.t = 1_700_000_000.0
        self.client_sent = 0  # bytes of the client's request (`request`)

    def at(self, seconds: float) -> Conversation:
        self.t = 1_700_000_000.0 + seconds
        return self

    def _add(self, packet: bytes) -> None:
        self.packets.append((self.t, packet))
        self.t += 0.0001

    def handshake(self) -> Conversation:
        opts = tcp_options(mss=self.mss, sack_ok=self.sack_ok, timestamps=self.timestamps, wscale=7)
        self._add(tcp(self.client, self.server, 5000, 80, self.client_isn, 0, SYN, options=opts))
        self._add(
            tcp(
                self.server,
                self.client,
                80,
                5000,
                self.isn,
                self.client_isn + 1,
                SYN | ACK,
                options=opts,
            )
        )
        self._add(
            tcp(
                self.client,
                self.server,
                5000,
                80,
                self.client_isn + 1,
                self.isn + 1,
                ACK,
                options=tcp_options(timestamps=self.timestamps),
            )
        )
        return self

    def client_syn(self, port: int, mss: int) -> Conversation:
        """The client opens another connection (from `port`): a SYN announcing `mss`."""
        opts = tcp_options(mss=mss)
        self._add(tcp(self.client, self.server, port, 80, 7000, 0, SYN, options=opts))
        return self

    def data(self, rel_seq: int, length: int, flags: int = ACK | PSH) -> Conversation:
        """The server sends `length` bytes starting at relative sequence `rel_seq` (1 = first)."""
        opts = tcp_options(timestamps=self.timestamps)
        self._add(
            tcp(
                self.server,
                self.client,
                80,
                5000,
                self.isn + rel_seq,
                self.client_isn + 1 + self.client_sent,
                flags,
                payload=length,
                options=opts,
            )
        )
        return self

    def request(self, length: int) -> Conversation:
        """The client sends `length` bytes (its request), acknowledging the server's SYN."""
        self._from_client(1, ACK | PSH, length)
        self.client_sent += length
        return self

    def ack(self, rel_ack: int, sack: Sequence[tuple[int, int]] = ()) -> Conversation:
        """The client acknowledges up to relative `rel_ack`, with relative SACK blocks."""
        self._from_client(rel_ack, ACK, 0, sack)
        return self

    def _from_client(
        self, rel_ack: int, flags: int, length: int, sack: Sequence[tuple[int, int]] = ()
    ) -> None:
        blocks = [(self.isn + left, self.isn + right) for left, right in sack]
        opts = tcp_options(timestamps=self.timestamps, sack=blocks)
        seq = self.client_isn + 1 + self.client_sent
        self._add(
            tcp(self.client, self.server, 5000, 80, seq, self.isn + rel_ack, flags, length, opts)
        )

    def server_only(self) -> Conversation:
        """Keep the server's packets only, as `tcpdump 'src host SERVER'` would."""
        return self._only_from(self.server)

    def client_only(self) -> Conversation:
        """Keep the client's packets only, as `tcpdump 'src host CLIENT'` would."""
        return self._only_from(self.client)

    def _only_from(self, host: str) -> Conversation:
        sender = addr(host)
        self.packets = [(t, p) for t, p in self.packets if _source(p) == sender]
        return self

    def pcap(self) -> bytes:
        return pcap(self.packets)

    def packets_with_port(self, client_port: int) -> list[tuple[float, bytes]]:
        """The packets with the client's port 5000 replaced (a second, concurrent connection)."""
        out = []
        for ts, packet in self.packets:
            p = bytearray(packet)
            ihl = 20 if packet[0] >> 4 == 4 else 40
            for offset in (ihl, ihl + 2):
                if struct.unpack_from("!H", p, offset)[0] == 5000:
                    struct.pack_into("!H", p, offset, client_port)
            out.append((ts, bytes(p)))
        return out


def _source(packet: bytes) -> bytes:
    """The source address of an IPv4 or IPv6 packet."""
    return packet[12:16] if packet[0] >> 4 == 4 else packet[8:24]


def one_way(segments: int) -> bytes:
    """SYNTHETIC: a capture of the data sender's packets only (no ACK ever seen): the server's
    half of the handshake, then `segments` one-byte segments."""
    c = Conversation().handshake()
    for k in range(segments):
        c.data(1 + k, 1)
    return c.server_only().pcap()


def decode_one(data: bytes, link_type: int = 101, orig_len: int | None = None) -> object:
    """Decode one SYNTHETIC frame with pcapmtu's decoder."""
    from pcapmtu.decode import Decoder
    from pcapmtu.model import Record

    length = orig_len if orig_len is not None else len(data)
    return Decoder().decode(Record(1, 1.0, link_type, data, length))


def decode_segment(data: bytes, link_type: int = 101, orig_len: int | None = None) -> Any:
    """Decode one SYNTHETIC frame that must hold a TCP segment, and return it."""
    from pcapmtu.model import Segment

    result = decode_one(data, link_type, orig_len)
    assert isinstance(result, Segment), result
    return result


# The incident's full-size packets (SYNTHETIC copies): 1368 bytes of payload with timestamps in
# a 1420-byte IPv4 packet, and 1348 in a 1420-byte IPv6 packet.
FULL_SIZE_V4 = tcp(
    "198.19.0.1",
    "198.19.0.2",
    8080,
    40000,
    seq=1,
    ack=40,
    payload=1368,
    options=tcp_options(timestamps=True),
)
FULL_SIZE_V6 = tcp(
    "fd19::1",
    "fd19::2",
    8080,
    40000,
    seq=1,
    ack=40,
    payload=1348,
    options=tcp_options(timestamps=True),
)
