"""Link types pcapmtu decodes, and where the IP header starts in each.

Numbers are our own, from the tcpdump.org LINKTYPE registry (never dpkt's `DLT_*`: dpkt's
`DLT_RAW` is 12, the BSD number, while Linux wg0 captures say LINKTYPE_RAW 101). Only the low
16 bits of a pcap link-type field name the link type; the upper bits carry FCS information.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

LINKTYPE_NULL = 0  # BSD loopback: 4-byte address family in host byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_DLT_RAW_BSD = 12  # DLT_RAW on most BSDs and in dpkt
LINKTYPE_DLT_RAW_OPENBSD = 14  # DLT_RAW on OpenBSD
LINKTYPE_RAW = 101  # raw IPv4/IPv6: what `tcpdump -i wg0` writes on Linux
LINKTYPE_C_HDLC = 104  # Cisco HDLC: address, control, 2-byte ethertype
LINKTYPE_LOOP = 108  # OpenBSD loopback: 4-byte address family in network byte order
LINKTYPE_LINUX_SLL = 113  # Linux cooked capture v1 (16-byte header)
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276  # Linux cooked capture v2 (20-byte header): `tcpdump -i any`
LINKTYPE_MASK = 0xFFFF

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = 0x8100  # 802.1Q
ETHERTYPE_QINQ = 0x88A8  # 802.1ad service tag
ETHERTYPE_QINQ_OLD = 0x9100  # pre-standard QinQ
ETHERTYPE_PPPOE_SESSION = 0x8864
ETHERTYPE_MPLS = 0x8847
PPP_IPV4 = 0x0021
PPP_IPV6 = 0x0057
ETHERNET_HEADER_LEN = 14
VLAN_TAG_LEN = 4
PPPOE_HEADER_LEN = 8  # 6-byte PPPoE session header + 2-byte PPP protocol
MPLS_LABEL_LEN = 4
MAX_STACKED_TAGS = 8  # more VLAN tags or MPLS labels than this is a malformed frame
SLL_HEADER_LEN = 16
SLL2_HEADER_LEN = 20
NULL_HEADER_LEN = 4


def _ip_after_ethertype(data: bytes, offset: int, ethertype: int) -> int | None:
    """Follow VLAN tags, PPPoE sessions and MPLS labels to the IP header's offset."""
    for _ in range(MAX_STACKED_TAGS):
        if ethertype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
            return offset
        if ethertype in (ETHERTYPE_VLAN, ETHERTYPE_QINQ, ETHERTYPE_QINQ_OLD):
            if len(data) < offset + VLAN_TAG_LEN:
                return None
            ethertype = struct.unpack_from("!H", data, offset + 2)[0]
            offset += VLAN_TAG_LEN
        elif ethertype == ETHERTYPE_PPPOE_SESSION:
            if len(data) < offset + PPPOE_HEADER_LEN:
                return None
            protocol = struct.unpack_from("!H", data, offset + 6)[0]
            offset += PPPOE_HEADER_LEN
            return offset if protocol in (PPP_IPV4, PPP_IPV6) else None
        elif ethertype == ETHERTYPE_MPLS:
            while len(data) >= offset + MPLS_LABEL_LEN:
                bottom = data[offset + 2] & 0x01
                offset += MPLS_LABEL_LEN
                if bottom:
                    return offset  # the IP version nibble tells the rest
            return None
        else:
            return None
    return None


def _raw(data: bytes) -> int | None:
    return 0


def _ethernet(data: bytes) -> int | None:
    if len(data) < ETHERNET_HEADER_LEN:
        return None
    ethertype = struct.unpack_from("!H", data, 12)[0]
    return _ip_after_ethertype(data, ETHERNET_HEADER_LEN, ethertype)


def _sll(data: bytes) -> int | None:
    if len(data) < SLL_HEADER_LEN:
        return None
    return _ip_after_ethertype(data, SLL_HEADER_LEN, struct.unpack_from("!H", data, 14)[0])


def _sll2(data: bytes) -> int | None:
    if len(data) < SLL2_HEADER_LEN:
        return None
    return _ip_after_ethertype(data, SLL2_HEADER_LEN, struct.unpack_from("!H", data, 0)[0])


def _loopback(data: bytes) -> int | None:
    # The family's value differs between systems (AF_INET6 is 10, 24, 28 or 30); the IP
    # header's own version nibble is checked by the decoder instead.
    return NULL_HEADER_LEN if len(data) > NULL_HEADER_LEN else None


def _ppp(data: bytes) -> int | None:
    # RFC 1662 framing: optional 0xFF 0x03, then a 2-byte protocol.
    offset = 2 if data[:2] == b"\xff\x03" else 0
    if len(data) < offset + 2:
        return None
    protocol = struct.unpack_from("!H", data, offset)[0]
    return offset + 2 if protocol in (PPP_IPV4, PPP_IPV6) else None


def _c_hdlc(data: bytes) -> int | None:
    if len(data) < 4:
        return None
    ethertype = struct.unpack_from("!H", data, 2)[0]
    return 4 if ethertype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6) else None


@dataclass(frozen=True)
class LinkType:
    """A link type pcapmtu decodes: its name, and where the IP header starts in its frames."""

    name: str
    ip_offset: Callable[[bytes], int | None]


# The one table of link types: a new one is a row here (and, for speed, a case of the fast
# lane's `ip_offset` in fast/src/decode.c).
LINK_TYPES: dict[int, LinkType] = {
    LINKTYPE_NULL: LinkType("NULL", _loopback),
    LINKTYPE_ETHERNET: LinkType("ETHERNET", _ethernet),
    LINKTYPE_PPP: LinkType("PPP", _ppp),
    LINKTYPE_DLT_RAW_BSD: LinkType("RAW", _raw),
    LINKTYPE_DLT_RAW_OPENBSD: LinkType("RAW", _raw),
    LINKTYPE_RAW: LinkType("RAW", _raw),
    LINKTYPE_C_HDLC: LinkType("C_HDLC", _c_hdlc),
    LINKTYPE_LOOP: LinkType("LOOP", _loopback),
    LINKTYPE_LINUX_SLL: LinkType("LINUX_SLL", _sll),
    LINKTYPE_IPV4: LinkType("IPV4", _raw),
    LINKTYPE_IPV6: LinkType("IPV6", _raw),
    LINKTYPE_LINUX_SLL2: LinkType("LINUX_SLL2", _sll2),
}
SUPPORTED = frozenset(LINK_TYPES)
# raw IP, no link layer: what a capture on a tunnel interface (wg0, a tun device) holds
RAW_IP = frozenset(k for k, t in LINK_TYPES.items() if t.ip_offset is _raw)


def name(link_type: int) -> str:
    known = LINK_TYPES.get(link_type)
    return known.name if known is not None else f"unknown ({link_type})"


def ip_offset(link_type: int, data: bytes) -> int | None:
    """Where the IP header starts in a frame of `link_type`, or None when it carries no IP."""
    known = LINK_TYPES.get(link_type)
    return known.ip_offset(data) if known is not None else None
