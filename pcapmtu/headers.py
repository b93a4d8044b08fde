"""A batch of records in, the header fields of its TCP segments out, as columns of arrays.

The fast lane of decoding: the common shapes (raw IP, Ethernet with at most one VLAN tag,
Linux cooked v1/v2, NULL/LOOP; IPv4 unfragmented or IPv6 without extension headers; TCP) are
read for all records of a batch at once, by the compiled module (any TCP options) or, when it
was not built, with numpy (no options, timestamps, or timestamps and SACK as Linux lays them
out; not SYNs). Every other record (ICMP, tunnels, fragments, extension headers, damage, other
link types) goes through `decode.Decoder`, one by one, and its segment joins the same columns.
So each record is decoded by exactly one of the two; a test
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
MAX_LINUX_SACK_BLOCKS = 3  # after the timestamps, room is left for three
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

try:
    from pcapmtu import _native as _compiled  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: the numpy lane
    _compiled = None

# The compiled lane's fields per TCP record (pcapmtu/_native.c, tcp_headers): the record's index,
# these columns, then the SACK blocks' edges.
COMPILED_ORDER = (
    "ip_version",
    "src_hi",
    "src_lo",
    "dst_hi",
    "dst_lo",
    "sport",
    "dport",
    "seq",
    "ack",
    "flags",
    "window",
    "ip_len",
    "header_len",
    "payload_len",
    "sack_count",
)
COMPILED_FIELDS = 1 + len(COMPILED_ORDER) + 2 * MAX_SACK_BLOCKS + 1  # then the MSS
KIND_SLOW, KIND_TCP, KIND_UDP = 0, 1, 2


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

    def block(self, at: np.ndarray, width: int) -> np.ndarray:
        """The `width` bytes at each of `at`, one row each: one gather for a whole header."""
        windows = np.lib.stride_tricks.sliding_window_view(self.u8, width)
        return np.asarray(windows[at])

    def be16(self, at: np.ndarray) -> np.ndarray:
        return np.asarray((self.byte(at) << 8) | self.byte(at + 1))

    def be32(self, at: np.ndarray) -> np.ndarray:
        return np.asarray((self.be16(at) << 16) | self.be16(at + 2))

    def be64(self, at: np.ndarray) -> np.ndarray:
        high = self.be32(at).astype(np.uint64) << np.uint64(32)
        return np.asarray(high | self.be32(at + 4).astype(np.uint64))


def _field(block: np.ndarray, at: int, width: int) -> np.ndarray:
    """A big-endian unsigned field of `width` (1, 2, 4 or 8) bytes at column `at` of `block`
    (read through a structured view: no copy until the conversion)."""
    kind = {1: "u1", 2: ">u2", 4: ">u4", 8: ">u8"}[width]
    layout = np.dtype(
        {"names": ["f"], "formats": [kind], "offsets": [at], "itemsize": block.shape[1]}
    )
    raw = np.ascontiguousarray(block).view(layout)["f"][:, 0]
    return np.asarray(raw.astype(np.uint64 if width == 8 else np.int64))


def decode(batch: Batch, decoder: Decoder, *, lane: str = "fast") -> Decoded:
    """Decode every record of `batch`: the common shapes at once, the rest by `decoder`
    (whose `skipped` counts grow as if it had seen them all).

    `lane`: "fast" (compiled when built, else numpy), "compiled", "numpy", or "none" (every
    record by `decoder`; the reference the others are tested against)."""
    n = len(batch)
    if lane == "none" or n == 0:
        return _one_by_one(batch, np.arange(n), decoder, [])
    if lane == "compiled" or (lane == "fast" and _compiled is not None):
        columns, slow, udp = _compiled_lane(batch)
    else:
        columns, slow, udp = _numpy_lane(batch)
    if udp:
        decoder.skipped["UDP"] += udp
    decoded = _one_by_one(batch, slow, decoder, [columns])
    decoded.fast = len(columns["frame"])
    return decoded


def _compiled_lane(batch: Batch) -> tuple[Columns, np.ndarray, int]:
    """The common shapes, decoded by the compiled module: (their columns, the records left for
    the one-by-one decoder, how many were UDP)."""
    assert _compiled is not None
    kinds_raw, fields_raw = _compiled.tcp_headers(
        batch.data,
        *(
            np.ascontiguousarray(a, dtype=np.int64)
            for a in (batch.offsets, batch.caplens, batch.orig_lens, batch.link_types)
        ),
    )
    kinds = np.frombuffer(kinds_raw, dtype=np.uint8)
    fields = np.frombuffer(fields_raw, dtype=np.int64).reshape(-1, COMPILED_FIELDS)
    rows = fields[:, 0]
    columns: Columns = {
        "frame": batch.first_frame + rows,
        "ts": batch.ts[rows],
    }
    for k, name in enumerate(COMPILED_ORDER, 1):
        column = fields[:, k]
        columns[name] = (
            column.copy().view(np.uint64) if COLUMNS[name] is np.uint64 else column.copy()
        )
    sacks = fields[:, len(COMPILED_ORDER) + 1 : -1]
    columns["sack_left"] = np.ascontiguousarray(sacks[:, 0::2])
    columns["sack_right"] = np.ascontiguousarray(sacks[:, 1::2])
    columns["mss"] = fields[:, -1].copy()
    slow = np.flatnonzero(kinds == KIND_SLOW)
    return columns, slow, int(np.count_nonzero(kinds == KIND_UDP))


def _numpy_lane(batch: Batch) -> tuple[Columns, np.ndarray, int]:
    """The common shapes, decoded with numpy: (their columns, the records left for the
    one-by-one decoder, how many were UDP)."""
    n = len(batch)
    b = _Bytes(batch)
    ip = _ip_offsets(batch, b)
    # Each step keeps the rows still in the fast lane (`rows`: their record numbers).
    rows = np.flatnonzero(ip >= 0)
    end = batch.offsets[rows] + batch.caplens[rows]
    o = batch.offsets[rows] + ip[rows]
    inside = o < end
    rows, o, end = rows[inside], o[inside], end[inside]
    first_byte = b.byte(o)
    version = first_byte >> 4
    wire_len = batch.orig_lens[rows] - ip[rows]

    # IPv4 without fragments, IPv6 without extension headers.
    v4 = version == 4
    ihl = (first_byte & 0x0F) * 4
    v4 &= (ihl >= IPV4_MIN_HEADER) & (o + ihl <= end)
    v6 = (version == 6) & (o + IPV6_HEADER <= end)
    total = np.zeros(len(rows), dtype=np.int64)
    proto = np.full(len(rows), -1, dtype=np.int64)
    i4, i6 = np.flatnonzero(v4), np.flatnonzero(v6)
    h4 = b.block(o[i4], IPV4_MIN_HEADER)
    h6 = b.block(o[i6], IPV6_HEADER)
    total4 = _field(h4, 2, 2)
    total[i4] = np.where(total4 == 0, wire_len[i4], total4)
    proto[i4] = _field(h4, 9, 1)
    unfragmented = (_field(h4, 6, 2) & IPV4_FRAGMENT_BITS) == 0
    v4[i4] &= (total[i4] >= ihl[i4]) & unfragmented
    payload6 = _field(h6, 4, 2)
    total[i6] = np.where(payload6 == 0, wire_len[i6], IPV6_HEADER + payload6)
    proto[i6] = _field(h6, 6, 1)
    plain = v4 | v6
    udp = plain & (proto == IPPROTO_UDP)
    ip_header = np.where(v4, ihl, IPV6_HEADER)

    # TCP with its whole header captured, in one of the common option layouts.
    tcp = plain & (proto == IPPROTO_TCP)
    t = o + ip_header
    tcp &= t + TCP_MIN_HEADER <= end
    it = np.flatnonzero(tcp)
    h_tcp = b.block(t[it], TCP_MIN_HEADER)
    off_flags = np.zeros(len(rows), dtype=np.int64)
    off_flags[it] = _field(h_tcp, 12, 2)
    tcp_header = (off_flags >> 12) * 4
    payload = total - ip_header - tcp_header
    flags = off_flags & 0xFF
    tcp &= (tcp_header >= TCP_MIN_HEADER) & (payload >= 0) & (t + tcp_header <= end)
    tcp &= (flags & TCP_SYN) == 0  # a SYN's options (MSS, window scale) are read one by one
    options = tcp_header - TCP_MIN_HEADER
    sack_blocks = np.zeros(len(rows), dtype=np.int64)
    with_options = np.flatnonzero(tcp & (options > 0))
    layout_ok, blocks = _option_layout(b, t[with_options] + TCP_MIN_HEADER, options[with_options])
    tcp[with_options] &= layout_ok
    sack_blocks[with_options] = blocks

    slow = np.ones(n, dtype=bool)
    slow[rows[tcp | udp]] = False
    keep = np.flatnonzero(tcp)
    tt, is6 = t[keep], v6[keep]
    columns = empty(len(keep))
    columns["frame"] = batch.first_frame + rows[keep]
    columns["ts"] = batch.ts[rows[keep]]
    columns["ip_version"] = np.where(is6, 6, 4)
    # the kept rows' places among the IPv4, IPv6 and TCP header blocks
    k4, k6 = np.flatnonzero(~is6), np.flatnonzero(is6)
    in4 = np.searchsorted(i4, keep[k4])
    in6 = np.searchsorted(i6, keep[k6])
    for name, offset4, offset6 in (("src", 12, 8), ("dst", 16, 24)):
        columns[name + "_lo"][k4] = _field(h4[in4], offset4, 4).astype(np.uint64)
        columns[name + "_hi"][k6] = _field(h6[in6], offset6, 8)
        columns[name + "_lo"][k6] = _field(h6[in6], offset6 + 8, 8)
    h = h_tcp[np.searchsorted(it, keep)]
    columns["sport"] = _field(h, 0, 2)
    columns["dport"] = _field(h, 2, 2)
    columns["seq"] = _field(h, 4, 4)
    columns["ack"] = _field(h, 8, 4)
    columns["flags"] = flags[keep]
    columns["window"] = _field(h, 14, 2)
    columns["ip_len"] = total[keep]
    columns["header_len"] = ip_header[keep] + tcp_header[keep]
    columns["payload_len"] = payload[keep]
    count = sack_blocks[keep]
    columns["sack_count"] = count
    has = np.flatnonzero(count)
    sack = b.block(tt[has] + TCP_MIN_HEADER + TIMESTAMPS_OPTION_LEN + 4, 8 * MAX_LINUX_SACK_BLOCKS)
    for k in range(MAX_LINUX_SACK_BLOCKS):
        used = count[has] > k
        columns["sack_left"][has, k] = np.where(used, _field(sack, 8 * k, 4), 0)
        columns["sack_right"][has, k] = np.where(used, _field(sack, 8 * k + 4, 4), 0)
    return columns, np.flatnonzero(slow), int(np.count_nonzero(udp))


def _ip_offsets(batch: Batch, b: _Bytes) -> np.ndarray:
    """Where each record's IP header starts; -1 where the link layer is not a common one."""
    n = len(batch)
    start, caplen, link = batch.offsets, batch.caplens, batch.link_types
    ip = np.full(n, -1, dtype=np.int64)
    ip[np.isin(link, RAW_LINK_TYPES)] = 0
    null = np.isin(link, (linktypes.LINKTYPE_NULL, linktypes.LINKTYPE_LOOP))
    ip[null & (caplen > NULL_HEADER_LEN)] = NULL_HEADER_LEN
    for link_type, header_len, type_at in (
        (linktypes.LINKTYPE_ETHERNET, ETHERNET_HEADER_LEN, 12),
        (linktypes.LINKTYPE_LINUX_SLL, SLL_HEADER_LEN, 14),
        (linktypes.LINKTYPE_LINUX_SLL2, SLL2_HEADER_LEN, 0),
    ):
        rows = np.flatnonzero((link == link_type) & (caplen >= header_len))
        if not len(rows):
            continue
        ethertype = b.be16(start[rows] + type_at)
        ip[rows[_is_ip(ethertype)]] = header_len
        if link_type == linktypes.LINKTYPE_ETHERNET:  # one 802.1Q tag
            tagged = rows[
                (ethertype == linktypes.ETHERTYPE_VLAN) & (caplen[rows] >= header_len + 4)
            ]
            inner = b.be16(start[tagged] + header_len + 2)
            ip[tagged[_is_ip(inner)]] = header_len + VLAN_TAG_LEN
    return ip


def _is_ip(ethertype: np.ndarray) -> np.ndarray:
    return np.asarray(
        (ethertype == linktypes.ETHERTYPE_IPV4) | (ethertype == linktypes.ETHERTYPE_IPV6)
    )


def _option_layout(b: _Bytes, at: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For TCP options at `at` of `length` bytes: (whether they are timestamps alone or
    timestamps then SACK as Linux lays them out, the number of SACK blocks)."""
    head = b.block(at, TIMESTAMPS_OPTION_LEN + 4)
    timestamps = _starts_with(head, 0, TIMESTAMPS_ONLY)
    blocks = (length - TIMESTAMPS_OPTION_LEN - 4) // 8
    sack = (
        timestamps
        & (length == TIMESTAMPS_OPTION_LEN + 4 + 8 * blocks)
        & (blocks >= 1)
        & (blocks <= MAX_LINUX_SACK_BLOCKS)
        & _starts_with(head, TIMESTAMPS_OPTION_LEN, SACK_AFTER_TIMESTAMPS)
        & (head[:, TIMESTAMPS_OPTION_LEN + 3] == 2 + 8 * blocks)
    )
    ok = (timestamps & (length == TIMESTAMPS_OPTION_LEN)) | sack
    return ok, np.where(sack, blocks, 0)


def _starts_with(block: np.ndarray, at: int, expected: tuple[int, ...]) -> np.ndarray:
    """Rows of `block` holding the bytes `expected` from column `at`."""
    return np.asarray(np.all(block[:, at : at + len(expected)] == expected, axis=1))


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
