"""Records in, TCP segments and ICMP "too big" messages out; everything else is counted.

Sizes come from the IP header (IPv4 total length, IPv6 40 + payload length), never from the
captured length, so a `tcpdump -s 96` capture is as good as a full one. A header that claims
length 0 (TSO / BIG TCP super-packets) falls back to the length on the wire. IPv4 fragments are
counted and skipped (a black hole is about packets that were *not* fragmented); IPv6 extension
headers are walked; IP-in-IP, 6in4 and plain GRE are unwrapped so the inner flow is analysed.
TCP options are parsed with dpkt's `parse_opts`, whose traps are neutralised here: it returns
`None` for a cut option and does not stop at End-of-Options. The layouts Linux sends (timestamps
alone; a SYN's MSS, SACK-permitted, timestamps and window scale) are read directly, and dpkt
is imported only when another layout is met: importing it costs more than reading a gigabyte's
common segments.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import Any

from pcapmtu import linktypes
from pcapmtu.model import Record, Segment, TooBig

IPPROTO_ICMP = 1
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_GRE = 47
IPPROTO_ICMPV6 = 58
# IPv6 extension headers that are walked (RFC 8200 section 4; AH is RFC 4302)
IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_FRAGMENT, IPV6_DEST_OPTS = 0, 43, 44, 60
IPV6_AH, IPV6_MOBILITY, IPV6_HIP, IPV6_SHIM6 = 51, 135, 139, 140
IPV6_EXTENSIONS = frozenset(
    {
        IPV6_HOP_BY_HOP,
        IPV6_ROUTING,
        IPV6_FRAGMENT,
        IPV6_DEST_OPTS,
        IPV6_AH,
        IPV6_MOBILITY,
        IPV6_HIP,
        IPV6_SHIM6,
    }
)
MAX_EXTENSION_HEADERS = 16
MAX_TUNNEL_DEPTH = 3
IPV4_MIN_HEADER = 20
IPV6_HEADER = 40
TCP_MIN_HEADER = 20
IPV4_MF = 0x2000
IPV4_OFFSET_MASK = 0x1FFF
ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED = 3, 4  # RFC 792 / RFC 1191
ICMPV6_PACKET_TOO_BIG = 2  # RFC 4443 section 3.2
ICMP_HEADER = 8
GRE_CHECKSUM, GRE_KEY, GRE_SEQUENCE = 0x8000, 0x2000, 0x1000
# TCP option kinds (RFC 9293, RFC 7323, RFC 2018); the same numbers as dpkt's TCP_OPT_*
TCP_OPT_EOL = 0
TCP_OPT_MSS = 2
TCP_OPT_WSCALE = 3
TCP_OPT_SACKOK = 4
TCP_OPT_SACK = 5
TCP_OPT_TIMESTAMP = 8

Decoded = Segment | TooBig


class Decoder:
    """Decodes records; `skipped` counts why the others were left out."""

    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()
        self.unknown_link_types: Counter[int] = Counter()

    def decode(self, record: Record) -> Decoded | None:
        if record.link_type not in linktypes.SUPPORTED:
            self.unknown_link_types[record.link_type] += 1
            return None
        offset = linktypes.ip_offset(record.link_type, record.data)
        if offset is None:
            self.skipped["not IP"] += 1
            return None
        wire_ip_len = record.orig_len - offset
        try:
            return self._ip(record, record.data, offset, wire_ip_len, 0)
        except (struct.error, IndexError, ValueError):
            self.skipped["malformed"] += 1
            return None

    def _ip(self, record: Record, data: bytes, o: int, wire_len: int, depth: int) -> Decoded | None:
        if len(data) <= o:
            self.skipped["truncated"] += 1
            return None
        version = data[o] >> 4
        if version == 4:
            return self._ipv4(record, data, o, wire_len, depth)
        if version == 6:
            return self._ipv6(record, data, o, wire_len, depth)
        self.skipped["not IP"] += 1
        return None

    def _ipv4(
        self, record: Record, data: bytes, o: int, wire_len: int, depth: int
    ) -> Decoded | None:
        header_len = (data[o] & 0x0F) * 4
        if header_len < IPV4_MIN_HEADER:
            self.skipped["malformed"] += 1
            return None
        if len(data) < o + header_len:
            self.skipped["truncated"] += 1
            return None
        total_len, frag = struct.unpack_from("!H2xH", data, o + 2)
        if total_len == 0:  # TSO / BIG TCP: the header leaves the length to the wire
            total_len = wire_len
        if total_len < header_len:
            self.skipped["malformed"] += 1
            return None
        if frag & (IPV4_MF | IPV4_OFFSET_MASK):
            self.skipped["IP fragment"] += 1
            return None
        protocol = data[o + 9]
        src, dst = data[o + 12 : o + 16], data[o + 16 : o + 20]
        return self._transport(record, data, o, header_len, total_len, protocol, src, dst, 4, depth)

    def _ipv6(
        self, record: Record, data: bytes, o: int, wire_len: int, depth: int
    ) -> Decoded | None:
        if len(data) < o + IPV6_HEADER:
            self.skipped["truncated"] += 1
            return None
        payload_len = struct.unpack_from("!H", data, o + 4)[0]
        total_len = IPV6_HEADER + payload_len if payload_len else wire_len  # 0: jumbo/BIG TCP
        next_header = data[o + 6]
        src, dst = data[o + 8 : o + 24], data[o + 24 : o + 40]
        pos = o + IPV6_HEADER
        for _ in range(MAX_EXTENSION_HEADERS):
            if next_header not in IPV6_EXTENSIONS:
                break
            if len(data) < pos + 8:
                self.skipped["truncated"] += 1
                return None
            if next_header == IPV6_FRAGMENT:
                frag = struct.unpack_from("!H", data, pos + 2)[0]
                if frag & 0xFFF9:  # an offset or "more fragments": a real fragment
                    self.skipped["IP fragment"] += 1
                    return None
                next_header, pos = data[pos], pos + 8  # atomic fragment: carry on
            elif next_header == IPV6_AH:
                next_header, pos = data[pos], pos + (data[pos + 1] + 2) * 4
            else:
                next_header, pos = data[pos], pos + (data[pos + 1] + 1) * 8
        else:
            self.skipped["malformed"] += 1
            return None
        header_len = pos - o
        if total_len < header_len:
            self.skipped["malformed"] += 1
            return None
        return self._transport(
            record, data, o, header_len, total_len, next_header, src, dst, 6, depth
        )

    def _transport(
        self,
        record: Record,
        data: bytes,
        o: int,
        header_len: int,
        total_len: int,
        protocol: int,
        src: bytes,
        dst: bytes,
        version: int,
        depth: int,
    ) -> Decoded | None:
        t = o + header_len
        if protocol == IPPROTO_TCP:
            return self._tcp(record, data, t, src, dst, version, header_len, total_len)
        if protocol == IPPROTO_ICMP and version == 4:
            return self._too_big(record, data, t, src, 4)
        if protocol == IPPROTO_ICMPV6 and version == 6:
            return self._too_big(record, data, t, src, 6)
        if depth < MAX_TUNNEL_DEPTH:
            if protocol in (IPPROTO_IPIP, IPPROTO_IPV6):
                return self._ip(record, data, t, total_len - header_len, depth + 1)
            if protocol == IPPROTO_GRE:
                inner = _gre_payload(data, t)
                if inner is not None:
                    return self._ip(record, data, inner, total_len - (inner - o), depth + 1)
        self.skipped["UDP" if protocol == IPPROTO_UDP else "other protocol"] += 1
        return None

    def _tcp(
        self,
        record: Record,
        data: bytes,
        t: int,
        src: bytes,
        dst: bytes,
        version: int,
        ip_header_len: int,
        ip_len: int,
    ) -> Segment | None:
        if len(data) < t + TCP_MIN_HEADER:
            self.skipped["TCP header cut by snaplen"] += 1
            return None
        sport, dport, seq, ack, off_flags, window = struct.unpack_from("!HHIIHH", data, t)
        tcp_header_len = (off_flags >> 12) * 4
        payload_len = ip_len - ip_header_len - tcp_header_len
        if tcp_header_len < TCP_MIN_HEADER or payload_len < 0:
            self.skipped["malformed"] += 1
            return None
        options = _options(data[t + TCP_MIN_HEADER : t + tcp_header_len])
        return Segment(
            frame=record.frame,
            ts=record.ts,
            src=src,
            dst=dst,
            sport=sport,
            dport=dport,
            seq=seq,
            ack=ack,
            flags=off_flags & 0xFF,
            window=window,
            ip_version=version,
            ip_len=ip_len,
            ip_header_len=ip_header_len,
            tcp_header_len=tcp_header_len,
            payload_len=payload_len,
            **options,  # type: ignore[arg-type]
        )

    def _too_big(
        self, record: Record, data: bytes, t: int, reporter: bytes, version: int
    ) -> TooBig | None:
        if len(data) < t + ICMP_HEADER:
            self.skipped["ICMP cut by snaplen"] += 1
            return None
        icmp_type, code = data[t], data[t + 1]
        if version == 4:
            if (icmp_type, code) != (ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED):
                self.skipped["other ICMP"] += 1
                return None
            mtu = struct.unpack_from("!H", data, t + 6)[0]
        else:
            if icmp_type != ICMPV6_PACKET_TOO_BIG:
                self.skipped["other ICMP"] += 1
                return None
            mtu = struct.unpack_from("!I", data, t + 4)[0]
        quoted = _quoted_packet(data, t + ICMP_HEADER)
        if quoted is None:
            self.skipped["ICMP quote cut short"] += 1
            return None
        q_src, q_dst, q_proto, q_len, q_sport, q_dport, q_seq = quoted
        return TooBig(
            frame=record.frame,
            ts=record.ts,
            reporter=reporter,
            mtu=mtu,
            ip_version=version,
            quoted_src=q_src,
            quoted_dst=q_dst,
            quoted_protocol=q_proto,
            quoted_ip_len=q_len,
            quoted_sport=q_sport,
            quoted_dport=q_dport,
            quoted_seq=q_seq,
        )


# NOP, NOP, Timestamps (kind 8, length 10): what Linux puts on almost every segment. Such a
# header is answered without a general parse (the hot path of a large capture).
TIMESTAMPS_ONLY = b"\x01\x01\x08\x0a"
TIMESTAMPS_ONLY_LEN = 12
_TIMESTAMPS: dict[str, object] = {"timestamps": True}
_NO_OPTIONS: dict[str, object] = {}


# A Linux SYN's options: MSS, SACK-permitted, timestamps, NOP, window scale (20 bytes); or,
# without timestamps, MSS, NOP, NOP, SACK-permitted, NOP, window scale (12 bytes).
LINUX_SYN = struct.Struct("!BBHBBBB8sBBBB")
LINUX_SYN_HEAD = (TCP_OPT_MSS, 4, TCP_OPT_SACKOK, 2, TCP_OPT_TIMESTAMP, 10)
LINUX_SYN_NO_TS = struct.Struct("!BBHBBBBBBBB")
LINUX_SYN_NO_TS_HEAD = (TCP_OPT_MSS, 4, 1, 1, TCP_OPT_SACKOK, 2, 1, TCP_OPT_WSCALE, 3)


def _linux_syn(raw: bytes) -> dict[str, object] | None:
    """The options of a SYN in one of Linux's two layouts, read directly; None otherwise."""
    if len(raw) == LINUX_SYN.size:
        kind, size, mss, sack_kind, sack_size, ts_kind, ts_size, _, nop, ws_kind, ws_size, ws = (
            LINUX_SYN.unpack(raw)
        )
        if (kind, size, sack_kind, sack_size, ts_kind, ts_size) == LINUX_SYN_HEAD and (
            nop,
            ws_kind,
            ws_size,
        ) == (1, TCP_OPT_WSCALE, 3):
            return {"mss": mss, "sack_permitted": True, "timestamps": True, "wscale": ws}
    elif len(raw) == LINUX_SYN_NO_TS.size:
        fields = LINUX_SYN_NO_TS.unpack(raw)
        if fields[:2] + fields[3:10] == LINUX_SYN_NO_TS_HEAD:
            return {"mss": fields[2], "sack_permitted": True, "wscale": fields[10]}
    return None


SACK_AFTER_TIMESTAMPS = b"\x01\x01\x05"  # NOP, NOP, SACK: then its length and the blocks


def _linux_sack(raw: bytes) -> dict[str, object] | None:
    """Timestamps then SACK blocks, as Linux lays them out, read directly; None otherwise."""
    blocks, rest = divmod(len(raw) - TIMESTAMPS_ONLY_LEN - 4, 8)
    if (
        1 <= blocks <= 3
        and not rest
        and raw.startswith(TIMESTAMPS_ONLY)
        and raw[TIMESTAMPS_ONLY_LEN : TIMESTAMPS_ONLY_LEN + 3] == SACK_AFTER_TIMESTAMPS
        and raw[TIMESTAMPS_ONLY_LEN + 3] == 2 + 8 * blocks
    ):
        edges = struct.unpack_from(f"!{2 * blocks}I", raw, TIMESTAMPS_ONLY_LEN + 4)
        pairs = tuple(zip(edges[::2], edges[1::2], strict=True))
        return {"timestamps": True, "sack_blocks": pairs}
    return None


def _options(raw: bytes) -> dict[str, object]:
    """The TCP options pcapmtu uses; malformed or cut options end the parse, never raise."""
    if not raw:
        return _NO_OPTIONS
    if len(raw) == TIMESTAMPS_ONLY_LEN and raw.startswith(TIMESTAMPS_ONLY):
        return _TIMESTAMPS
    return _linux_syn(raw) or _linux_sack(raw) or _parsed_by_dpkt(raw)


def _parsed_by_dpkt(raw: bytes) -> dict[str, object]:
    import dpkt  # only here: see the module docstring

    found: dict[str, object] = {}
    blocks: list[tuple[int, int]] = []
    parse: Any = dpkt.tcp.parse_opts
    for item in parse(raw):
        if item is None:
            break  # dpkt: an option cut off by the header's end or the snaplen
        kind, value = item
        if kind == TCP_OPT_EOL:
            break  # dpkt parses on past End-of-Options; what follows is padding
        if kind == TCP_OPT_MSS and len(value) == 2:
            found["mss"] = struct.unpack("!H", value)[0]
        elif kind == TCP_OPT_WSCALE and len(value) == 1:
            found["wscale"] = value[0]
        elif kind == TCP_OPT_SACKOK:
            found["sack_permitted"] = True
        elif kind == TCP_OPT_TIMESTAMP and len(value) == 8:
            found["timestamps"] = True
        elif kind == TCP_OPT_SACK and len(value) % 8 == 0:
            blocks += [struct.unpack_from("!II", value, i) for i in range(0, len(value), 8)]
    if blocks:
        found["sack_blocks"] = tuple(blocks)
    return found


def _gre_payload(data: bytes, g: int) -> int | None:
    """Offset of the IP packet inside a plain GRE header (RFC 2784/2890), or None."""
    if len(data) < g + 4:
        return None
    flags, protocol = struct.unpack_from("!HH", data, g)
    if protocol not in (linktypes.ETHERTYPE_IPV4, linktypes.ETHERTYPE_IPV6) or flags & 0x0007:
        return None
    size = 4 + 4 * sum(bool(flags & bit) for bit in (GRE_CHECKSUM, GRE_KEY, GRE_SEQUENCE))
    return g + size


def _quoted_packet(
    data: bytes, q: int
) -> tuple[bytes, bytes, int, int, int | None, int | None, int | None] | None:
    """(src, dst, protocol, length, sport, dport, tcp seq) of the packet an ICMP error quotes."""
    if len(data) < q + 1:
        return None
    version = data[q] >> 4
    if version == 4 and len(data) >= q + IPV4_MIN_HEADER:
        header_len = (data[q] & 0x0F) * 4
        length = struct.unpack_from("!H", data, q + 2)[0]
        protocol, src, dst = data[q + 9], data[q + 12 : q + 16], data[q + 16 : q + 20]
    elif version == 6 and len(data) >= q + IPV6_HEADER:
        header_len = IPV6_HEADER
        length = IPV6_HEADER + struct.unpack_from("!H", data, q + 4)[0]
        protocol, src, dst = data[q + 6], data[q + 8 : q + 24], data[q + 24 : q + 40]
    else:
        return None
    t = q + header_len
    sport = dport = seq = None
    if protocol in (IPPROTO_TCP, IPPROTO_UDP) and len(data) >= t + 4:
        sport, dport = struct.unpack_from("!HH", data, t)
        if protocol == IPPROTO_TCP and len(data) >= t + 8:
            seq = struct.unpack_from("!I", data, t + 4)[0]
    return src, dst, protocol, length, sport, dport, seq
