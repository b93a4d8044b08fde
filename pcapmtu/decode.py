"""Records in, TCP segments and ICMP "too big" messages out, one by one, with dpkt: the exact
decoder, the reference the fast lane (`fast.columns`) is tested equal to.

Each layer's header is read by dpkt (`dpkt.ip.IP`, `dpkt.ip6`, `dpkt.tcp.TCP` and its
`parse_opts`, `dpkt.icmp.ICMP`, `dpkt.icmp6.ICMP6`, `dpkt.gre.GRE`); what to decode next, and
what a packet's size is, is decided here. dpkt's traps are neutralised in this module, each
with a test (`tests/test_decode.py`):

- dpkt decodes a payload as far as it can and silently keeps bytes where it cannot: a TCP header
  cut by the snaplen, a quoted packet in an ICMP error. The layers are decoded one at a time
  here (`_Header` classes decode no payload), and a cut header is counted as such.
- Sizes come from the IP header (IPv4 total length, IPv6 40 + payload length), never from the
  captured length, so a `tcpdump -s 96` capture is as good as a full one. A header that claims
  length 0 (TSO / BIG TCP super-packets) falls back to the length on the wire.
- `tcp.parse_opts` returns `None` for an option cut off by the header's end, and parses on past
  End-of-Options: the parse stops at either.
- dpkt's IPv6 keeps one extension header per type, takes ESP for an extension header, walks no
  Mobility, HIP or Shim6 header, and decodes a first fragment as if whole: the chain is walked
  here (RFC 8200 section 4), fragments are skipped, atomic fragments kept.
- Link layers are found by `linktypes.ip_offset` (dpkt's Ethernet reads two VLAN tags at most
  and guesses an MPLS payload from one byte; its Loopback decides by an address-family value
  that differs between systems).

IPv4 fragments are counted and skipped (a black hole is about packets that were *not*
fragmented); IP-in-IP, 6in4, plain GRE, VXLAN and GENEVE are unwrapped so the inner flow is
analysed, and each tunnel's packets are counted (`tunnels`: which tunnel the capture shows).
"""

from __future__ import annotations

import struct
from collections import Counter
from types import ModuleType
from typing import Any

from pcapmtu import linktypes
from pcapmtu.model import Record, Segment, TooBig
from pcapmtu.tunnels import GENEVE_PORT, UDP_HEADER, VXLAN_PORTS, is_wireguard_message

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
IPV6_EXTENSION_MIN = 8  # every extension header is a multiple of 8 bytes
TCP_MIN_HEADER = 20
TCP_FLAGS_MASK = 0xFF  # CWR .. FIN; dpkt's `flags` adds the experimental NS bit (RFC 3540)
GRE_MIN_HEADER = 4
ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED = 3, 4  # RFC 792 / RFC 1191
ICMPV6_PACKET_TOO_BIG = 2  # RFC 4443 section 3.2
ICMP_HEADER = 8
# TCP option kinds (RFC 9293, RFC 2018); the same numbers as dpkt's TCP_OPT_*
TCP_OPT_EOL = 0
TCP_OPT_MSS = 2
TCP_OPT_SACK = 5

Decoded = Segment | TooBig


def _dpkt() -> ModuleType:
    """dpkt's header readers, imported at the first record that needs them (`dpkt_layers`
    says why); later calls find the module already loaded."""
    from pcapmtu import dpkt_layers

    return dpkt_layers


class Decoder:
    """Decodes records; `skipped` counts why the others were left out."""

    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()
        # packets by the tunnel that wraps them (`tunnels.TunnelEvidence.outer`)
        self.tunnels: Counter[str] = Counter()
        self.unknown_link_types: Counter[int] = Counter()
        # `dpkt_layers`, loaded by `decode` at the first record that reaches an IP header
        self._dl: Any = None

    def decode(self, record: Record) -> Decoded | None:
        if record.link_type not in linktypes.SUPPORTED:
            self.unknown_link_types[record.link_type] += 1
            return None
        offset = linktypes.ip_offset(record.link_type, record.data)
        if offset is None:
            self.skipped["not IP"] += 1
            return None
        wire_ip_len = record.orig_len - offset
        if self._dl is None:
            self._dl = _dpkt()
        try:
            return self._ip(record, record.data, offset, wire_ip_len, 0)
        except (self._dl.UnpackError, struct.error, IndexError, ValueError):
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
        ip = self._dl.IPv4Header(data[o : o + header_len])
        total_len = ip.len or wire_len  # 0: TSO / BIG TCP, the header leaves it to the wire
        if total_len < header_len:
            self.skipped["malformed"] += 1
            return None
        if ip.mf or ip.offset:
            self.skipped["IP fragment"] += 1
            return None
        return self._transport(
            record, data, o, header_len, total_len, ip.p, ip.src, ip.dst, 4, depth
        )

    def _ipv6(
        self, record: Record, data: bytes, o: int, wire_len: int, depth: int
    ) -> Decoded | None:
        if len(data) < o + IPV6_HEADER:
            self.skipped["truncated"] += 1
            return None
        ip = self._dl.IPv6Header(data[o : o + IPV6_HEADER])
        total_len = IPV6_HEADER + ip.plen if ip.plen else wire_len  # 0: jumbo / BIG TCP
        next_header, pos = ip.nxt, o + IPV6_HEADER
        for _ in range(MAX_EXTENSION_HEADERS):
            if next_header not in IPV6_EXTENSIONS:
                break
            if len(data) < pos + IPV6_EXTENSION_MIN:
                self.skipped["truncated"] += 1
                return None
            if next_header == IPV6_FRAGMENT:
                fragment = self._dl.IP6FragmentHeader(data[pos : pos + IPV6_EXTENSION_MIN])
                if fragment.frag_off or fragment.m_flag:  # a real fragment
                    self.skipped["IP fragment"] += 1
                    return None
                next_header, pos = fragment.nxt, pos + IPV6_EXTENSION_MIN  # atomic: carry on
            elif next_header == IPV6_AH:  # its length counts 4-byte units, less 2 (RFC 4302)
                auth = self._dl.IPv6Extension(data[pos : pos + 2])
                next_header, pos = auth.nxt, pos + (auth.len + 2) * 4
            else:
                extension = self._dl.IPv6Extension(data[pos : pos + 2])
                next_header, pos = extension.nxt, pos + (extension.len + 1) * 8
        else:
            self.skipped["malformed"] += 1
            return None
        header_len = pos - o
        if total_len < header_len:
            self.skipped["malformed"] += 1
            return None
        return self._transport(
            record, data, o, header_len, total_len, next_header, ip.src, ip.dst, 6, depth
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
                kind = "ip6tnl" if version == 6 else ("sit" if protocol == IPPROTO_IPV6 else "ipip")
                self.tunnels[kind] += 1
                return self._ip(record, data, t, total_len - header_len, depth + 1)
            if protocol == IPPROTO_GRE:
                inner = _gre_payload(data, t)
                if inner is not None:
                    self.tunnels[f"gre:{inner - t}"] += 1
                    return self._ip(record, data, inner, total_len - (inner - o), depth + 1)
        if protocol == IPPROTO_UDP:
            carried = udp_tunnel(data, t, total_len - header_len)
            if carried is not None:
                self.tunnels[carried] += 1
            inner = _ethernet_in_udp(data, t, carried) if depth < MAX_TUNNEL_DEPTH else None
            if inner is not None:  # VXLAN, GENEVE: the inner frame's IP packet is analysed
                return self._ip(record, data, inner, total_len - (inner - o), depth + 1)
            self.skipped["UDP"] += 1
            return None
        self.skipped["other protocol"] += 1
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
        tcp_header_len = (data[t + 12] >> 4) * 4
        payload_len = ip_len - ip_header_len - tcp_header_len
        if tcp_header_len < TCP_MIN_HEADER or payload_len < 0:
            self.skipped["malformed"] += 1
            return None
        tcp = self._dl.TCPHeader(
            data[t : t + tcp_header_len]
        )  # the options may be cut by the snaplen
        return Segment(
            frame=record.frame,
            ts=record.ts,
            src=src,
            dst=dst,
            sport=tcp.sport,
            dport=tcp.dport,
            seq=tcp.seq,
            ack=tcp.ack,
            flags=tcp.flags & TCP_FLAGS_MASK,
            window=tcp.win,
            ip_version=version,
            ip_len=ip_len,
            ip_header_len=ip_header_len,
            tcp_header_len=tcp_header_len,
            payload_len=payload_len,
            **options(tcp.opts),  # type: ignore[arg-type]
        )

    def _too_big(
        self, record: Record, data: bytes, t: int, reporter: bytes, version: int
    ) -> TooBig | None:
        if len(data) < t + ICMP_HEADER:
            self.skipped["ICMP cut by snaplen"] += 1
            return None
        header = data[t : t + ICMP_HEADER]
        if version == 4:
            icmp = self._dl.ICMPHeader(header)
            if (icmp.type, icmp.code) != (ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED):
                self.skipped["other ICMP"] += 1
                return None
            mtu = self._dl.FragNeeded(icmp.data).mtu
        else:
            icmp6 = self._dl.ICMPv6Header(header)
            if icmp6.type != ICMPV6_PACKET_TOO_BIG:
                self.skipped["other ICMP"] += 1
                return None
            mtu = self._dl.PacketTooBig(icmp6.data).mtu
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


def options(raw: bytes) -> dict[str, object]:
    """The TCP options pcapmtu uses (the MSS and the SACK blocks), by dpkt's `parse_opts`:
    its parse ends at an option cut short (dpkt: `None`) and at End-of-Options (dpkt parses on
    into the padding); an option of the wrong length is ignored. Never raises."""
    found: dict[str, object] = {}
    blocks: list[tuple[int, int]] = []
    for item in _dpkt().parse_opts(raw):
        if item is None:
            break  # dpkt: an option cut off by the header's end or the snaplen
        kind, value = item
        if kind == TCP_OPT_EOL:
            break  # dpkt parses on past End-of-Options; what follows is padding
        if kind == TCP_OPT_MSS and len(value) == 2:
            found["mss"] = struct.unpack("!H", value)[0]
        elif kind == TCP_OPT_SACK and len(value) % 8 == 0:
            blocks += [struct.unpack_from("!II", value, i) for i in range(0, len(value), 8)]
    if blocks:
        found["sack_blocks"] = tuple(blocks)
    return found


def udp_tunnel(data: bytes, u: int, udp_len: int) -> str | None:
    """The tunnel a UDP datagram (header at `u`, `udp_len` bytes as its IP header says)
    carries, told from its captured bytes: WireGuard by its messages' shape
    (`tunnels.is_wireguard_message`), VXLAN and GENEVE by their ports and header. The
    compiled lane (`fast/src/decode.c`, `udp_kind`) applies the same rule."""
    if len(data) < u + UDP_HEADER + 4 or udp_len < UDP_HEADER + 4:
        return None
    dport = struct.unpack_from("!H", data, u + 2)[0]
    payload = udp_len - UDP_HEADER
    p = u + UDP_HEADER
    first = data[p]
    if is_wireguard_message(first, data[p + 1 : p + 4], payload):
        return "wireguard"
    if dport in VXLAN_PORTS and first & 0x08 and payload >= 8 + 14:
        return "vxlan"
    if dport == GENEVE_PORT and first >> 6 == 0 and payload >= 8 + 14:
        return "geneve"
    return None


def _ethernet_in_udp(data: bytes, u: int, carried: str | None) -> int | None:
    """Offset of the IP packet in the Ethernet frame a VXLAN (RFC 7348) or GENEVE (RFC 8926)
    datagram at `u` carries, or None (another tunnel, not IP, or cut by the snaplen)."""
    p = u + UDP_HEADER
    if carried == "vxlan":
        frame = p + 8
    elif carried == "geneve" and data[p + 2 : p + 4] == b"\x65\x58":  # Ethernet inside
        frame = p + 8 + (data[p] & 0x3F) * 4
    else:
        return None
    if len(data) < frame + 14:
        return None
    ethertype = struct.unpack_from("!H", data, frame + 12)[0]
    if ethertype not in (linktypes.ETHERTYPE_IPV4, linktypes.ETHERTYPE_IPV6):
        return None
    return frame + 14


def _gre_payload(data: bytes, g: int) -> int | None:
    """Offset of the IP packet inside a plain GRE header (RFC 2784/2890), or None."""
    if len(data) < g + GRE_MIN_HEADER:
        return None
    layers = _dpkt()
    gre = layers.GREHeader(data[g : g + GRE_MIN_HEADER])
    if gre.p not in (linktypes.ETHERTYPE_IPV4, linktypes.ETHERTYPE_IPV6) or gre.v:
        return None
    optional = (layers.GRE_CP, layers.GRE_KP, layers.GRE_SP)  # checksum, key, sequence
    return g + GRE_MIN_HEADER + 4 * sum(bool(gre.flags & bit) for bit in optional)


def _quoted_packet(
    data: bytes, q: int
) -> tuple[bytes, bytes, int, int, int | None, int | None, int | None] | None:
    """(src, dst, protocol, length, sport, dport, tcp seq) of the packet an ICMP error quotes.

    Only its first bytes are quoted (RFC 792: the IP header and 8 bytes), so its headers are
    read as far as they go, and never past that."""
    if len(data) < q + 1:
        return None
    version = data[q] >> 4
    if version == 4 and len(data) >= q + IPV4_MIN_HEADER:
        ip = _dpkt().IPv4Header(data[q : q + IPV4_MIN_HEADER])
        header_len, length = ip.hl * 4, ip.len
        protocol, src, dst = ip.p, ip.src, ip.dst
    elif version == 6 and len(data) >= q + IPV6_HEADER:
        ip6 = _dpkt().IPv6Header(data[q : q + IPV6_HEADER])
        header_len, length = IPV6_HEADER, IPV6_HEADER + ip6.plen
        protocol, src, dst = ip6.nxt, ip6.src, ip6.dst
    else:
        return None
    t = q + header_len
    sport = dport = seq = None
    if protocol in (IPPROTO_TCP, IPPROTO_UDP) and len(data) >= t + 4:
        sport, dport = struct.unpack_from("!HH", data, t)
        if protocol == IPPROTO_TCP and len(data) >= t + 8:
            seq = struct.unpack_from("!I", data, t + 4)[0]
    return src, dst, protocol, length, sport, dport, seq
