"""Small immutable values shared by every layer: records, decoded packets, capture facts.

Data only: no parsing and no policy. Addresses are kept as packed bytes (4 or 16) in the hot
path and turned into text only when a report is made (`format_address`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import NamedTuple


def format_address(packed: bytes) -> str:
    """'198.19.0.1' or 'fd19::1' from 4 or 16 packed bytes."""
    return str(ipaddress.ip_address(packed))


def _endpoint(address: bytes, port: int) -> str:
    text = format_address(address)
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"


class FlowKey(NamedTuple):
    """Who sends to whom: one direction of a TCP flow, the identity every layer uses (a tuple,
    so it hashes as fast as one in the per-segment path)."""

    src: bytes
    sport: int
    dst: bytes
    dport: int

    @property
    def ip_version(self) -> int:
        return 4 if len(self.src) == 4 else 6

    def reverse(self) -> FlowKey:
        """The other direction of the same flow."""
        return FlowKey(self.dst, self.dport, self.src, self.sport)

    def text(self) -> str:
        """ "src:sport -> dst:dport", IPv6 addresses in brackets: how every rendering names it."""
        return f"{_endpoint(self.src, self.sport)} -> {_endpoint(self.dst, self.dport)}"


def flow_text(src: bytes, sport: int, dst: bytes, dport: int) -> str:
    """`FlowKey.text` of these four."""
    return FlowKey(src, sport, dst, dport).text()


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
    sack_blocks: tuple[tuple[int, int], ...] = ()


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

    @property
    def quoted(self) -> tuple[bytes, int | None, bytes, int | None]:
        """The quoted packet's (src, sport, dst, dport): a flow's order."""
        return (self.quoted_src, self.quoted_sport, self.quoted_dst, self.quoted_dport)


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
    interfaces: list[str] = field(default_factory=list)  # pcapng interface names, as given
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LowestUnacked:
    """A direction's lowest segment with data still unacknowledged at the end of the capture,
    as the fast pass saw it: its IP size (0: no such segment), and the largest packet sent
    after its first copy that the direction itself, and its path (src -> dst), delivered (0:
    none); and whether the capture holds the bytes its peer's cumulative ACK waits for (the
    first segment still unacknowledged starts there: a sender's capture, where no receiver's
    gap opens)."""

    ip_len: int
    own_delivered_after: int
    path_delivered_after: int
    holds_ack_point: bool = False


@dataclass(slots=True)
class DirectionFacts:
    """What one direction of one flow did, in policy-neutral terms: counts, sizes, times.

    Both passes compute it by the same rules (`tcp.py`): the fast pass for every direction, the
    exact pass (`flows.Direction.facts`) for the directions it follows; tests check that the two
    are equal on every capture. The report's per-flow numbers are these; every judgement made
    of them (what was surely delivered, whether a flow is worth the exact pass) is in `detect`.
    """

    flow: FlowKey
    first_frame: int  # of its first segment; directions are listed by their flow's first frame
    flow_first_frame: int
    packets: int = 0
    data_packets: int = 0
    data_bytes: int = 0
    retransmissions: int = 0  # `tcp.is_retransmission`
    dup_acks: int = 0  # received: `tcp.is_dup_ack`
    sack_blocks: int = 0  # received
    dsacks: int = 0  # received: blocks at or below the cumulative ACK (RFC 2883)
    largest_ip_len: int = 0  # of a segment with data, as its IP header says
    # its last segment with data: its payload and TCP options, the bytes a full-size segment
    # fills its MSS with (0: no data)
    last_data_mss_bytes: int = 0
    max_header_len: int = 0  # IP + TCP headers of a segment with data
    max_payload: int = 0
    syn_mss: int | None = None  # announced by its latest SYN
    peer_syn_mss: int | None = None  # announced by its peer's latest SYN
    first_ts: float = 0.0
    last_ts: float = 0.0
    last_data_ts: float = 0.0  # of its last segment with data (0: none)
    # its newest data (the segment that first sent its highest bytes, a resend not): the bytes
    # it fills its MSS with, as `last_data_mss_bytes`, and whether it had PSH (ended a write)
    newest_mss_bytes: int = 0
    newest_push: bool = False
    ended: bool = False  # it sent a FIN or a RST
    last_frame: int = 0
    # new data of each IP size (at most an Ethernet frame): [cumulatively acknowledged,
    # smallest payload, largest payload]
    new_data: dict[int, list[int]] = field(default_factory=dict)
    # retransmissions of each IP size: [how many, their payload bytes, largest payload]
    resent: dict[int, list[int]] = field(default_factory=dict)
    acked_unseen: bool = False  # its peer acknowledged bytes beyond any it was seen to send
    # at the end of the capture, bytes it sent were still not cumulatively acknowledged
    unacked_at_end: bool = False
    # bytes its own later segments show it sent (`tcp.skips_unseen`) that the capture never saw
    # and its peer never acknowledged: at a receiver, bytes that never arrived
    sent_unseen: int = 0
    # bytes its data skipped (a data segment numbered beyond every byte seen sent,
    # `tcp.skips_data`) that no later segment filled, in a direction no ACK of which is in the
    # capture: one direction only, taken where it arrives; bytes that never arrived there
    skipped_unacked: int = 0
    # in a flow whose other direction the capture never saw (one direction only, taken where
    # the data arrives: its ACKs, not the data they acknowledge): how long, to the end of the
    # capture, its cumulative ACK had stopped while its ACKs reported later bytes arrived
    # (`tcp.stuck_ack`), and the bytes missing there as its SACK blocks show (0: not known)
    stuck_ack_s: float = 0.0
    stuck_ack_hole: int = 0
    # the longest its peer kept its receive window closed (zero), in seconds; a spell still
    # open at the end of the capture counts until then (`tcp.window_state`)
    zero_window_s: float = 0.0
    # the longest time its peer's cumulative ACK stayed below data it had sent (a receiver-side
    # gap); measured by the fast pass only (the exact pass keeps the gaps themselves)
    longest_gap_s: float | None = field(default=None, compare=False)
    # whether such a gap was still open at the end of the capture; fast pass only (None: not
    # known)
    gap_open_at_end: bool | None = field(default=None, compare=False)
    # when its peer's cumulative ACK, below data it had sent at the end of the capture, got
    # where it stayed (the first ACK below that data since the cumulative ACK last moved);
    # fast pass only (None: no such ACK at the end, or not known)
    gap_opened_ts: float | None = field(default=None, compare=False)
    # the most copies (the first and those re-sent, of any size) one of its segments had, up
    # to 1024; measured by the fast pass only (None: not known, as where the exact pass keeps
    # the segments themselves, or where the fast pass forgot some still unacknowledged)
    most_copies: int | None = field(default=None, compare=False)
    # its lowest segment still unacknowledged at the end; fast pass only (None: not known, as
    # where the exact pass keeps the segments themselves, or where the fast pass forgot some)
    lowest_unacked: LowestUnacked | None = field(default=None, compare=False)


def is_number(text: str) -> bool:
    """Whether `text` is a plain decimal number: ASCII digits only, as wg-quick and the
    kernel read one. (`str.isdigit` also takes "²" and "١٤٢٠", which `int` then rejects or
    reads as 1420; a value from outside must be neither an error nor a different number.)"""
    return text.isascii() and text.isdigit()


def plural(count: int, word: str, many: str | None = None) -> str:
    """ "1 flow", "2 flows"; `many` for a word that does not take an s ("1 reply", "2 replies")."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def duration(seconds: float) -> str:
    """A short time in words: "under 1 ms", "3 ms", "1.2 s"."""
    if seconds < 0.0005:
        return "under 1 ms"
    return f"{seconds * 1000:.0f} ms" if seconds < 0.9995 else f"{seconds:.1f} s"


def printable(name: str) -> str:
    """A name from outside (a file name, a config value) as pcapmtu shows it, in text, JSON,
    XML and HTML alike: bytes that are not UTF-8 (Python's surrogate escapes) and control
    characters (which a terminal would obey) written as \\xNN; the rest as it is."""
    if name.isprintable() and name.isascii():
        return name
    out = []
    for ch in name:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(ch)
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


@dataclass
class Forgotten:
    """What the flows without data that the fast pass forgot while reading add up to
    (`fast.screen.Screen.evict`): counts, and the MSS their SYNs announced (which tells the
    tunnel and its MTU)."""

    directions: int = 0
    flows: int = 0
    packets: int = 0
    syn_mss: dict[tuple[int, int], int] = field(default_factory=dict)  # (MSS, IP version) -> SYNs
    # per path (src, dst): the largest MSS the receiver (dst) announced to src, and the version
    path_mss: dict[tuple[bytes, bytes], tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class DetectConfig:
    """Every threshold of detection, in one place (`detect` applies them)."""

    min_full_size_copies: int = 3  # the original and two retransmissions, all unacknowledged
    min_hole_s: float = 1.5  # at Linux's 200 ms minimum RTO: 3 attempts (0.2 + 0.4 + 0.8 s)
    min_zero_window_s: float = 1.0  # a receive window closed this long: a stall of its own
    # Captures are judged together when taken within this many seconds of each other (their
    # spans overlap, or lie this close): two hosts' clocks a little apart, the files of a
    # rotated capture end to end. Captures further apart are separate observations: what one
    # shows a path delivering says nothing of that path at the other's time.
    clock_skew_s: float = 60.0
