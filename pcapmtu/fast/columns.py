"""A batch of records in, the header fields of its TCP segments out, as columns of arrays.

The fast lane of decoding: the common shapes (raw IP, Ethernet with at most one VLAN tag,
Linux cooked v1/v2, NULL/LOOP; IPv4 unfragmented or IPv6 unfragmented, its extension headers
walked; TCP with any options; UDP and ICMP other than too-big, counted as skipped) are read for
all records of a batch at once, compiled (`src/decode.c`). Every other record (ICMP too-big,
tunnels, fragments, damage, other link types) goes through the exact decoder
(`decode.Decoder`, dpkt), one by one, and its segment joins the same columns. So
each record is decoded by exactly one of the two; a test checks that the fast lane gives what
the exact decoder gives, field by field, on every capture (`tests/test_columns.py`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from pcapmtu.capture import Batch
from pcapmtu.decode import Decoder
from pcapmtu.fast import _native  # type: ignore[attr-defined]
from pcapmtu.model import TCP_SYN, Segment, TooBig

MAX_SACK_BLOCKS = 4  # 40 option bytes hold at most four blocks (RFC 2018)

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
    "tcp_header_len": np.int64,
    "payload_len": np.int64,
    "mss": np.int64,  # 0: no MSS option
    "sack_count": np.int64,
    "sack_left": np.int64,  # shape (n, MAX_SACK_BLOCKS), like sack_right
    "sack_right": np.int64,
}

Columns = dict[str, np.ndarray]

# The compiled lane's fields per TCP record (src/decode.c, tcp_headers): the record's index,
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
# then the MSS, the TCP header's length, where the payload starts in the record
COMPILED_FIELDS = 1 + len(COMPILED_ORDER) + 2 * MAX_SACK_BLOCKS + 3
KIND_SLOW, KIND_TCP, KIND_UDP = 0, 1, 2
# the compiled lane's UDP kinds, by the tunnel they carry (`decode.udp_tunnel`); VXLAN and
# GENEVE carry frames the exact decoder unwraps, so their records are left to it
UDP_KINDS = {KIND_UDP: "", 3: "wireguard"}
KIND_UNWRAP = (4, 5)
KIND_OTHER_ICMP = 6  # ICMP, ICMPv6 other than too-big: skipped, as the exact decoder skips them


@dataclass
class Decoded:
    """What a batch held: its TCP segments as columns, and any ICMP too-big messages."""

    segments: Columns
    too_big: list[TooBig]
    # per record of the batch: how many of its captured bytes a later pass reads (`needed`)
    needed: np.ndarray
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
        src_hi, src_lo = address_halves(seg.src)
        dst_hi, dst_lo = address_halves(seg.dst)
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
            "tcp_header_len": seg.tcp_header_len,
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


def to_segments(c: Columns) -> list[Segment]:
    """The segments of columns, one by one (`from_segments` back): what the exact decoder
    gives for each record, but for an MSS option of 0, which the columns cannot tell from
    none (`mss_unsure`)."""
    segments = []
    for row in zip(*(c[name].tolist() for name in _SEGMENT_ORDER), strict=True):
        frame, ts, version, src_hi, src_lo, dst_hi, dst_lo, sport, dport, seq, ack = row[:11]
        flags, window, ip_len, headers, tcp_header, payload, mss, sacks, lefts, rights = row[11:]
        segments.append(
            Segment(
                frame=frame,
                ts=ts,
                src=address(src_hi, src_lo, version),
                dst=address(dst_hi, dst_lo, version),
                sport=sport,
                dport=dport,
                seq=seq,
                ack=ack,
                flags=flags,
                window=window,
                ip_version=version,
                ip_len=ip_len,
                ip_header_len=headers - tcp_header,
                tcp_header_len=tcp_header,
                payload_len=payload,
                mss=mss or None,
                sack_blocks=tuple(zip(lefts[:sacks], rights[:sacks], strict=True)),
            )
        )
    return segments


# the columns in the order `to_segments` takes them
_SEGMENT_ORDER = (
    *("frame", "ts", "ip_version", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport"),
    *("seq", "ack", "flags", "window", "ip_len", "header_len", "tcp_header_len"),
    *("payload_len", "mss", "sack_count", "sack_left", "sack_right"),
)


def mss_unsure(c: Columns) -> np.ndarray:
    """Rows whose MSS `to_segments` may not give as the exact decoder does: SYNs whose MSS
    the columns hold as 0 (an option saying 0, or none: the exact pass tells them apart)."""
    unsure: np.ndarray = np.flatnonzero(((c["flags"] & TCP_SYN) != 0) & (c["mss"] == 0))
    return unsure


def address_halves(packed: bytes) -> tuple[int, int]:
    """A packed address as the two 64-bit halves the columns hold (IPv4: 0 and itself)."""
    if len(packed) == 4:
        return 0, int.from_bytes(packed, "big")
    return int.from_bytes(packed[:8], "big"), int.from_bytes(packed[8:], "big")


def address(hi: int, lo: int, ip_version: int) -> bytes:
    """The packed address back from its two halves."""
    if ip_version == 4:
        return int(lo).to_bytes(4, "big")
    return int(hi).to_bytes(8, "big") + int(lo).to_bytes(8, "big")


def decode(batch: Batch, decoder: Decoder, *, lane: str = "fast") -> Decoded:
    """Decode every record of `batch`: the common shapes at once (compiled), the rest by the
    exact `decoder` (whose `skipped` counts grow as if it had seen them all).

    `lane`: "fast", or "exact" (every record by `decoder`: the reference the fast lane is
    tested against)."""
    n = len(batch)
    if lane == "exact" or n == 0:
        return _one_by_one(batch, np.arange(n), decoder, [])
    columns, slow, udp, other_icmp, payload_at = _compiled_lane(batch)
    if other_icmp:
        decoder.skipped["other ICMP"] += other_icmp
    for kind, count in udp.items():
        decoder.skipped["UDP"] += count
        if kind:
            decoder.tunnels[kind] += count
    slow = _tiny_at_once(batch, slow, decoder)
    decoded = _one_by_one(batch, slow, decoder, [columns])
    decoded.fast = len(columns["frame"])
    decoded.needed = needed(batch, columns["frame"] - batch.first_frame, payload_at)
    return decoded


def needed(batch: Batch, rows: np.ndarray, payload_at: np.ndarray) -> np.ndarray:
    """Per record of `batch`: how many of its captured bytes a later pass reads (the exact
    pass, the underlay pass, `times_of`). Those `rows` the compiled lane decoded as TCP with
    a payload, captured whole, need only their headers: every later reader takes a segment's
    sizes from its IP header and its length on the wire, never from its payload. Every other
    record is needed whole."""
    if len(rows) == len(batch):  # every record (rows in order): no gathering
        whole = batch.caplens == batch.orig_lens
        return np.where(whole & (payload_at < batch.caplens), payload_at, batch.caplens)
    keep = batch.caplens.copy()
    caplens = batch.caplens[rows]
    cut = (caplens == batch.orig_lens[rows]) & (payload_at < caplens)
    keep[rows[cut]] = payload_at[cut]
    return keep


# A record this short holds no TCP segment (IP and TCP headers take 40 bytes) and no ICMP
# too-big: the exact decoder skips it, for a reason its link type and bytes alone decide.
TINY_RECORD = 16
TINY_AT_ONCE = 64  # fewer tiny records than this are decoded one by one as before


def _tiny_at_once(batch: Batch, rows: np.ndarray, decoder: Decoder) -> np.ndarray:
    """Skip the tiny records among `rows` as the exact decoder would, one decode per distinct
    (bytes, length, link type) with its counts multiplied; return the other rows. (A capture
    of millions of empty records took a decode each.)"""
    caplens = batch.caplens[rows]
    tiny = rows[caplens <= TINY_RECORD]
    if len(tiny) < TINY_AT_ONCE:
        return rows
    data = np.frombuffer(batch.data, dtype=np.uint8)
    offsets, lengths = batch.offsets[tiny], batch.caplens[tiny]
    keys = np.zeros((len(tiny), TINY_RECORD + 16), dtype=np.uint8)
    for j in range(TINY_RECORD):
        has = lengths > j
        keys[has, j] = data[offsets[has] + j]
    keys[:, TINY_RECORD:] = (
        np.stack([lengths, batch.link_types[tiny]], axis=1).astype("<i8").view(np.uint8)
    )
    flat = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, first, counts = np.unique(flat, return_index=True, return_counts=True)
    for i, count in zip(first.tolist(), counts.tolist(), strict=True):
        skipped, unknown = Counter(decoder.skipped), Counter(decoder.unknown_link_types)
        item = decoder.decode(batch.record(int(tiny[i])))
        assert item is None, "a tiny record decoded to something"
        for reason, n in (decoder.skipped - skipped).items():
            decoder.skipped[reason] += n * (count - 1)
        for link_type, n in (decoder.unknown_link_types - unknown).items():
            decoder.unknown_link_types[link_type] += n * (count - 1)
    kept: np.ndarray = rows[caplens > TINY_RECORD]
    return kept


def _compiled_lane(
    batch: Batch,
) -> tuple[Columns, np.ndarray, dict[str, int], int, np.ndarray]:
    """The common shapes, decoded compiled: (their columns, the records left for the exact
    decoder, how many were UDP, by the tunnel they carry: "" for none, how many were ICMP
    messages other than too-big, where each segment's payload starts in its record)."""
    kinds_raw, fields_raw, tcp_rows = _native.tcp_headers(
        batch.data,
        *(
            np.ascontiguousarray(a, dtype=np.int64)
            for a in (batch.offsets, batch.caplens, batch.orig_lens, batch.link_types)
        ),
    )
    kinds = np.frombuffer(kinds_raw, dtype=np.uint8)
    # column after column, each as long as the batch, its TCP records first: contiguous views
    flat = np.frombuffer(fields_raw, dtype=np.int64)
    n = len(flat) // COMPILED_FIELDS
    fields = flat.reshape(COMPILED_FIELDS, n)[:, :tcp_rows]
    rows = fields[0]
    # every record TCP (a tunnel interface's capture): its rows in order, taken as they are
    every = tcp_rows == len(batch)
    columns: Columns = {
        "frame": batch.first_frame + rows,
        "ts": batch.ts if every else batch.ts[rows],
    }
    for k, name in enumerate(COMPILED_ORDER, 1):
        column = fields[k]
        columns[name] = column.view(np.uint64) if COLUMNS[name] is np.uint64 else column
    # the SACK edges: per side, MAX_SACK_BLOCKS columns' room holding (rows, blocks) row-major
    first = (len(COMPILED_ORDER) + 1) * n
    for side, name in enumerate(("sack_left", "sack_right")):
        start = first + side * MAX_SACK_BLOCKS * n
        edges = flat[start : start + MAX_SACK_BLOCKS * tcp_rows]
        columns[name] = edges.reshape(-1, MAX_SACK_BLOCKS)
    columns["mss"] = fields[-3]
    columns["tcp_header_len"] = fields[-2]
    counts = np.bincount(kinds, minlength=KIND_OTHER_ICMP + 1).tolist()
    slow_kinds = (KIND_SLOW, *KIND_UNWRAP)
    if sum(counts[k] for k in slow_kinds):
        slow = np.flatnonzero(np.isin(kinds, slow_kinds))
    else:
        slow = np.zeros(0, dtype=np.intp)
    udp = {name: counts[code] for code, name in UDP_KINDS.items() if counts[code]}
    return columns, slow, udp, counts[KIND_OTHER_ICMP], fields[-1]


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
    return Decoded(columns, too_big, batch.caplens)  # (every record needed whole)
