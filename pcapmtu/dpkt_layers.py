"""dpkt's header readers, one header at a time: the layers `decode.py` reads with dpkt.

A module of its own so that dpkt is imported only when a record needs it (`decode._dpkt`): its
import costs about 35 ms, a tenth of a small capture's whole analysis, while the fast lane reads
the common records without it.
"""

from __future__ import annotations

from typing import Any

import dpkt
from dpkt import UnpackError
from dpkt.gre import GRE_CP, GRE_KP, GRE_SP
from dpkt.ip6 import IP6FragmentHeader
from dpkt.tcp import parse_opts

__all__ = [
    "GRE_CP",
    "GRE_KP",
    "GRE_SP",
    "FragNeeded",
    "GREHeader",
    "ICMPHeader",
    "ICMPv6Header",
    "IP6FragmentHeader",
    "IPv4Header",
    "IPv6Extension",
    "IPv6Header",
    "PacketTooBig",
    "TCPHeader",
    "UnpackError",
    "parse_opts",
]

# dpkt decodes a packet's payload as soon as it reads a header (`_protosw`); these read the
# header alone and leave the payload as bytes, so each layer is decided in `decode.py`.


class IPv4Header(dpkt.ip.IP):  # type: ignore[misc]
    _protosw: dict[int, Any] = {}  # noqa: RUF012 (dpkt's own class attribute)


class IPv6Header(dpkt.ip6.IP6):  # type: ignore[misc]
    def unpack(self, buf: bytes) -> None:
        dpkt.Packet.unpack(self, buf)  # the fixed header; `decode.py` walks the extensions


class IPv6Extension(dpkt.Packet):  # type: ignore[misc]
    """The two bytes every IPv6 extension header starts with (RFC 8200 section 4)."""

    __hdr__ = (("nxt", "B", 0), ("len", "B", 0))


class TCPHeader(dpkt.tcp.TCP):  # type: ignore[misc]
    pass  # dpkt's TCP decodes no payload


class ICMPHeader(dpkt.icmp.ICMP):  # type: ignore[misc]
    _typesw: dict[int, Any] = {}  # noqa: RUF012 (the quoted packet is read by `decode.py`)


class ICMPv6Header(dpkt.icmp6.ICMP6):  # type: ignore[misc]
    _typesw: dict[int, Any] = {}  # noqa: RUF012


class FragNeeded(dpkt.icmp.ICMP.Unreach):  # type: ignore[misc]
    def unpack(self, buf: bytes) -> None:
        dpkt.Packet.unpack(self, buf)  # the next-hop MTU; the quote is read by `decode.py`


class PacketTooBig(dpkt.icmp6.ICMP6.TooBig):  # type: ignore[misc]
    def unpack(self, buf: bytes) -> None:
        dpkt.Packet.unpack(self, buf)


class GREHeader(dpkt.gre.GRE):  # type: ignore[misc]
    def unpack(self, buf: bytes) -> None:
        dpkt.Packet.unpack(self, buf)  # flags and protocol; the optional fields are sized there
