"""A batch of records in, the header fields of its TCP segments out, as columns of arrays.

The fast lane of decoding: the common shapes (raw IP, Ethernet with at most one VLAN tag,
Linux cooked v1/v2, NULL/LOOP; IPv4 unfragmented or IPv6 without extension headers; TCP with
no options, timestamps, or timestamps and SACK as Linux lays them out) are read for all records
of a batch at once. Every other record (a SYN with its options, ICMP, tunnels, fragments,
extension headers, damage, other link types) goes through `decode.Decoder`, one by one, and its
segment joins the same columns. So each record is decoded by exactly one of the two; a test
checks that the fast lane gives what the `Decoder` gives, field by field, on every capture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapmtu import linktypes
from pcapmtu.capture import SLACK, Batch
from pcapmtu.decode import Decoder
from pcapmtu.model import TCP_SYN, Segment, TooBig

MAX_SACK_BLOCKS = 4  # 40 option bytes hold at most four blocks (RFC 2018)
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPV4_MIN_HEADER = 20
IPV6_HEADER = 40
TCP_MIN_HEADER = 20
IPV4_FRAGMENT_BITS = 0x3FFF  # "more fragments" and the offset
ETHERNET_HEADER_LEN = 14
VLAN_TAG_LEN = 4
SLL_HEADER_LEN = 16
SLL2_HEADER_LEN = 20
NULL_HEADER_LEN = 4
TIMESTAMPS_ONLY = (1, 1, 8, 10)  # NOP, NOP, kind 8 length 10: how Linux pads the timestamps
SACK_AFTER_TIMESTAMPS = (1, 1, 5)  # NOP, NOP, kind 5, then the SACK option's length
TIMESTAMPS_OPTION_LEN = 12
RAW_LINK_TYPES = (
    linktypes.LINKTYPE_RAW,
    linktypes.LINKTYPE_DLT_RAW_BSD,
    linktypes.LINKTYPE_DLT_RAW_OPENBSD,
    linktypes.LINKTYPE_IPV4,
    linktypes.LINKTYPE_IPV6,
)

# name -> dtype of every column; one element per TCP segment, in frame order.
COLUMNS: dict[str, type] = {
    "frame": np.int64,
    "ts": np.float64,
    "ip_version": np.int64,
    "src_hi": np.uint64,  # IPv6: the first 8 bytes of the address; IPv4: 0
    "src_lo": np.uint64,  # IPv6: the last 8 bytes; IPv4: the address
    "dst_hi": np.uint64,
    "dst_lo": np.uint64,
    "sport": np.int64,
    "dport": np.int64,
    "seq": np.int64,
    "ack": np.int64,
    "flags": np.int64,
    "window": np.int64,
    "ip_len": np.int64,
    "header_len": np.int64,  # IP + TCP headers
    "payload_len": np.int64,
    "mss": np.int64,  # 0: no MSS option
    "sack_count": np.int64,
    "sack_left": np.int64,  # shape (n, MAX_SACK_BLOCKS), like sack_right
    "sack_right": np.int64,
}

Columns = dict[str, np.ndarray]


@dataclass
class Decoded:
    """What a batch held: its TCP segments as columns, and any ICMP too-big messages."""

    segments: Columns
    too_big: list[TooBig]
    fast: int = 0  # how many of the segments the fast lane decoded


def empty(n: int = 0) -> Columns:
    columns: Columns = {name: np.zeros(n, dtype=dtype) for name, dtype in COLUMNS.items()}
    for name in ("sack_left", "sack_right"):
        columns[name] = np.zeros((n, MAX_SACK_BLOCKS), dtype=np.int64)
    return columns


def take(columns: Columns, index: np.ndarray) -> Columns:
    return {name: values[index] for name, values in columns.items()}


def concat(parts: list[Columns]) -> Columns:
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts]) for name in COLUMNS}


def from_segments(segments: list[Segment]) -> Columns:
    """The columns of segments decoded one by one."""
    columns = empty(len(segments))
    for i, seg in enumerate(segments):
        src_hi, src_lo = _address_halves(seg.src)
        dst_hi, dst_lo = _address_halves(seg.dst)
        row = {
            "frame": seg.frame,
            "ts": seg.ts,
            "ip_version": seg.ip_version,
            "src_hi": src_hi,
            "src_lo": src_lo,
            "dst_hi": dst_hi,
            "dst_lo": dst_lo,
            "sport": seg.sport,
            "dport": seg.dport,
            "seq": seg.seq,
            "ack": seg.ack,
            "flags": seg.flags,
            "window": seg.window,
            "ip_len": seg.ip_len,
            "header_len": seg.ip_header_len + seg.tcp_header_len,
            "payload_len": seg.payload_len,
            "mss": seg.mss or 0,
            "sack_count": min(len(seg.sack_blocks), MAX_SACK_BLOCKS),
        }
        for name, value in row.items():
            columns[name][i] = value
        for k, (left, right) in enumerate(seg.sack_blocks[:MAX_SACK_BLOCKS]):
            columns["sack_left"][i, k] = left
            columns["sack_right"][i, k] = right
    return columns


def _address_halves(packed: bytes) -> tuple[int, int]:
    if len(packed) == 4:
        return 0, int.from_bytes(packed, "big")
    return int.from_bytes(packed[:8], "big"), int.from_bytes(packed[8:], "big")


def address(hi: int, lo: int, ip_version: int) -> bytes:
    """The packed address back from its two halves."""
    if ip_version == 4:
        return int(lo).to_bytes(4, "big")
    return int(hi).to_bytes(8, "big") + int(lo).to_bytes(8, "big")


class _Bytes:
    """Gathers of big-endian fields from a batch's bytes. The array has SLACK spare bytes after
    the data, so a read a little past a record's end (of a header the record does not hold,
    whose fields are then never used) needs no bounds check."""

    def __init__(self, batch: Batch) -> None:
        if batch.padded is not None:
            self.u8 = batch.padded
        else:
            data = np.frombuffer(batch.data, dtype=np.uint8)
            self.u8 = np.concatenate([data, np.zeros(SLACK, dtype=np.uint8)])

    def byte(self, at: np.ndarray) -> np.ndarray:
        return np.asarray(self.u8[at], dtype=np.int64)

    def be16(self, at: np.ndarray) -> np.ndarray:
        return np.asarray((self.byte(at) << 8) | self.byte(at + 1))

    def be32(self, at: np.ndarray) -> np.ndarray:
        return np.asarray((self.be16(at) << 16) | self.be16(at + 2))

    def be64(self, at: np.ndarray) -> np.ndarray:
        high = self.be32(at).astype(np.uint64) << np.uint64(32)
        return np.asarray(high | self.be32(at + 4).astype(np.uint64))


def decode(batch: Batch, decoder: Decoder, *, fast: bool = True) -> Decoded:
    """Decode every record of `batch`: the common shapes at once, the rest by `decoder`
    (whose `skipped` counts grow as if it had seen them all). `fast=False`: all by `decoder`."""
    n = len(batch)
    if not fast or n == 0:
        return _one_by_one(batch, np.arange(n), decoder, [])
    b = _Bytes(batch)
    start, caplen, end = batch.offsets, batch.caplens, batch.offsets + batch.caplens
    link = batch.link_types

    # Where the IP header starts (-1: not a shape of the fast lane).
    ip = np.full(n, -1, dtype=np.int64)
    ip[np.isin(link, RAW_LINK_TYPES)] = 0
    null = np.isin(link, (linktypes.LINKTYPE_NULL, linktypes.LINKTYPE_LOOP))
    ip[null & (caplen > NULL_HEADER_LEN)] = NULL_HEADER_LEN
    ether = (link == linktypes.LINKTYPE_ETHERNET) & (caplen >= ETHERNET_HEADER_LEN)
    ethertype = b.be16(start + 12)
    is_ip = (ethertype == linktypes.ETHERTYPE_IPV4) | (ethertype == linktypes.ETHERTYPE_IPV6)
    ip[ether & is_ip] = ETHERNET_HEADER_LEN
    tagged = ether & (ethertype == linktypes.ETHERTYPE_VLAN) & (caplen >= 18)
    inner = b.be16(start + 16)
    inner_ip = (inner == linktypes.ETHERTYPE_IPV4) | (inner == linktypes.ETHERTYPE_IPV6)
    ip[tagged & inner_ip] = ETHERNET_HEADER_LEN + VLAN_TAG_LEN
    sll = (link == linktypes.LINKTYPE_LINUX_SLL) & (caplen >= SLL_HEADER_LEN)
    protocol = b.be16(start + 14)
    ip[sll & ((protocol == linktypes.ETHERTYPE_IPV4) | (protocol == linktypes.ETHERTYPE_IPV6))] = (
        SLL_HEADER_LEN
    )
    sll2 = (link == linktypes.LINKTYPE_LINUX_SLL2) & (caplen >= SLL2_HEADER_LEN)
    protocol = b.be16(start)
    ip[sll2 & ((protocol == linktypes.ETHERTYPE_IPV4) | (protocol == linktypes.ETHERTYPE_IPV6))] = (
        SLL2_HEADER_LEN
    )
    o = start + ip
    known = (ip >= 0) & (o < end)
    version = np.where(known, b.byte(o) >> 4, 0)
    wire_len = batch.orig_lens - ip

    # IPv4 without fragments, IPv6 without extension headers.
    v4 = known & (version == 4)
    ihl = (b.byte(o) & 0x0F) * 4
    v4 &= (ihl >= IPV4_MIN_HEADER) & (o + ihl <= end)
    total4 = b.be16(o + 2)
    total4 = np.where(total4 == 0, wire_len, total4)
    v4 &= (total4 >= ihl) & ((b.be16(o + 6) & IPV4_FRAGMENT_BITS) == 0)
    v6 = known & (version == 6) & (o + IPV6_HEADER <= end)
    payload6 = b.be16(o + 4)
    total6 = np.where(payload6 == 0, wire_len, IPV6_HEADER + payload6)
    proto = np.where(v4, b.byte(o + 9), np.where(v6, b.byte(o + 6), -1))
    ip_header = np.where(v4, ihl, IPV6_HEADER)
    total = np.where(v4, total4, total6)
    plain = v4 | v6
    udp = plain & (proto == IPPROTO_UDP)

    # TCP with its whole header captured, in one of the common option layouts.
    t = o + ip_header
    tcp = plain & (proto == IPPROTO_TCP) & (t + TCP_MIN_HEADER <= end)
    off_flags = b.be16(t + 12)
    tcp_header = (off_flags >> 12) * 4
    payload = total - ip_header - tcp_header
    flags = off_flags & 0xFF
    tcp &= (tcp_header >= TCP_MIN_HEADER) & (payload >= 0) & (t + tcp_header <= end)
    tcp &= (flags & TCP_SYN) == 0  # a SYN's options (MSS, window scale) are read one by one
    options = tcp_header - TCP_MIN_HEADER
    o_at = t + TCP_MIN_HEADER
    timestamps_first = _starts_with(b, o_at, TIMESTAMPS_ONLY)
    sack_blocks = (options - TIMESTAMPS_OPTION_LEN - 4) // 8
    sack_layout = (
        timestamps_first
        & _starts_with(b, o_at + TIMESTAMPS_OPTION_LEN, SACK_AFTER_TIMESTAMPS)
        & (b.byte(o_at + TIMESTAMPS_OPTION_LEN + 3) == 2 + 8 * sack_blocks)
        & (options == TIMESTAMPS_OPTION_LEN + 4 + 8 * sack_blocks)
        & (sack_blocks >= 1)
        & (sack_blocks <= 3)
    )
    tcp &= (options == 0) | ((options == TIMESTAMPS_OPTION_LEN) & timestamps_first) | sack_layout

    decoder.skipped["UDP"] += int(np.count_nonzero(udp))
    fast_rows = np.flatnonzero(tcp)
    slow_rows = np.flatnonzero(~(tcp | udp))
    at, tt = o[fast_rows], t[fast_rows]
    v6_rows = v6[fast_rows]
    columns = empty(len(fast_rows))
    columns["frame"] = batch.first_frame + fast_rows
    columns["ts"] = batch.ts[fast_rows]
    columns["ip_version"] = np.where(v6_rows, 6, 4)
    columns["src_hi"] = np.where(v6_rows, b.be64(at + 8), np.uint64(0))
    columns["src_lo"] = np.where(v6_rows, b.be64(at + 16), b.be32(at + 12).astype(np.uint64))
    columns["dst_hi"] = np.where(v6_rows, b.be64(at + 24), np.uint64(0))
    columns["dst_lo"] = np.where(v6_rows, b.be64(at + 32), b.be32(at + 16).astype(np.uint64))
    columns["sport"] = b.be16(tt)
    columns["dport"] = b.be16(tt + 2)
    columns["seq"] = b.be32(tt + 4)
    columns["ack"] = b.be32(tt + 8)
    columns["flags"] = flags[fast_rows]
    columns["window"] = b.be16(tt + 14)
    columns["ip_len"] = total[fast_rows]
    columns["header_len"] = ip_header[fast_rows] + tcp_header[fast_rows]
    columns["payload_len"] = payload[fast_rows]
    count = np.where(sack_layout[fast_rows], sack_blocks[fast_rows], 0)
    columns["sack_count"] = count
    first_block = tt + TCP_MIN_HEADER + TIMESTAMPS_OPTION_LEN + 4
    for k in range(3):
        has = count > k
        columns["sack_left"][:, k] = np.where(has, b.be32(first_block + 8 * k), 0)
        columns["sack_right"][:, k] = np.where(has, b.be32(first_block + 8 * k + 4), 0)
    decoded = _one_by_one(batch, slow_rows, decoder, [columns])
    decoded.fast = len(fast_rows)
    return decoded


def _starts_with(b: _Bytes, at: np.ndarray, expected: tuple[int, ...]) -> np.ndarray:
    ok = np.ones(len(at), dtype=bool)
    for i, value in enumerate(expected):
        ok &= b.byte(at + i) == value
    return ok


def _one_by_one(batch: Batch, rows: np.ndarray, decoder: Decoder, parts: list[Columns]) -> Decoded:
    """Decode `rows` of the batch with `decoder`, and merge them with `parts` in frame order."""
    segments: list[Segment] = []
    too_big: list[TooBig] = []
    for i in rows.tolist():
        item = decoder.decode(batch.record(i))
        if isinstance(item, Segment):
            segments.append(item)
        elif isinstance(item, TooBig):
            too_big.append(item)
    if segments or not parts:
        parts = [*parts, from_segments(segments)]
    columns = concat(parts)
    if len(parts) > 1:
        columns = take(columns, np.argsort(columns["frame"], kind="stable"))
    return Decoded(columns, too_big)
