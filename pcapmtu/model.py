"""Small immutable values shared by every layer: records, decoded packets, capture facts.

Data only: no parsing and no policy. Addresses are kept as packed bytes (4 or 16) in the hot
path and turned into text only when a report is made (`format_address`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


def format_address(packed: bytes) -> str:
    """'198.19.0.1' or 'fd19::1' from 4 or 16 packed bytes."""
    return str(ipaddress.ip_address(packed))


@dataclass(frozen=True, slots=True)
class Record:
    """One packet record of a capture file, before any decoding."""

    frame: int  # 1-based, in file order across all interfaces
    ts: float  # seconds since the epoch
    link_type: int
    data: bytes  # the captured bytes (may be cut short by the snaplen)
    orig_len: int  # the length on the wire, as the capture says
    interface: int = 0


@dataclass(frozen=True, slots=True)
class Segment:
    """A TCP segment, sized from the IP header (never from the captured length)."""

    frame: int
    ts: float
    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    ip_version: int
    ip_len: int  # IPv4 total length / IPv6 40 + payload length, as the header says
    ip_header_len: int  # including IPv6 extension headers
    tcp_header_len: int
    payload_len: int
    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    timestamps: bool = False
    sack_blocks: tuple[tuple[int, int], ...] = ()

    @property
    def end_seq(self) -> int:
        """Sequence number after this segment (SYN and FIN count one each), modulo 2^32."""
        extra = (self.flags & TCP_SYN != 0) + (self.flags & TCP_FIN != 0)
        return (self.seq + self.payload_len + extra) & 0xFFFFFFFF


# TCP flag bits (RFC 9293 section 3.1)
TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10


@dataclass(frozen=True, slots=True)
class TooBig:
    """An ICMP "fragmentation needed" or ICMPv6 "packet too big", and the packet it quotes."""

    frame: int
    ts: float
    reporter: bytes  # the router that sent it
    mtu: int  # the next-hop MTU it announces (0 when the router did not say)
    ip_version: int  # of the ICMP message itself (4: ICMP, 6: ICMPv6)
    quoted_src: bytes
    quoted_dst: bytes
    quoted_protocol: int  # 6 TCP, 17 UDP, ...
    quoted_ip_len: int  # the size of the packet that did not fit
    quoted_sport: int | None = None
    quoted_dport: int | None = None
    quoted_seq: int | None = None


@dataclass
class CaptureInfo:
    """What one capture file is and what reading it met (filled in while it is read)."""

    name: str
    format: str = "unknown"  # "pcap" or "pcapng"
    compression: str | None = None  # "gzip"
    timestamp_precision: str = "micro"  # of the first interface: "micro", "nano", ...
    link_types: dict[int, int] = field(default_factory=dict)  # link type -> packets
    packets: int = 0
    bytes_read: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    truncated_by_snaplen: int = 0  # packets whose captured length < their length
    warnings: list[str] = field(default_factory=list)
