"""Where each record of a buffer starts: the one sequential loop of reading a capture.

A record's length says where the next one begins, so this walk cannot be vectorised; it is
compiled (`_walk.c`) when a C compiler was at hand at install time, and runs in Python
otherwise (the same answers, about ten times slower; `COMPILED` says which). A pcap's records
are walked with their header fields read in the same loop (`pcap_records`: lengths and times,
in the reading thread, without the GIL); a pcapng's blocks' fields are gathered for all blocks of
a buffer at once.

`pack` goes the other way: records written out again as pcap, each cut to a length (the copy
of a stream read once, `source.Tee`), one loop of copies, compiled alike; or, `pcapng`, as its
Enhanced Packet Blocks.

`fill` reads a pipe into a batch's buffer: compiled, it holds no GIL from the first read to the
last, so the analysing thread never keeps the pipe waiting between two reads (a pipe holds a
megabyte, a millisecond of a fast writer).
"""

from __future__ import annotations

import os
import select
import struct
import time
from typing import NamedTuple

import numpy as np

try:
    from pcapmtu.capture import _walk  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: the Python walk below
    _walk = None

COMPILED = _walk is not None

PCAP_RECORD_HEADER_LEN = 16
PCAPNG_BLOCK_HEADER_LEN = 8
PCAPNG_BLOCK_OVERHEAD = 12
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_HEAD_LEN = 28  # an Enhanced Packet Block's fixed fields, copied for every block

# Why a walk stopped before the end of the buffer (the third/fourth item of the results).
RAN_OUT = 0  # the next record is not complete in the buffer
BAD_LENGTH = 1  # the record at the stop claims an impossible length
SECTION = 2  # pcapng: a Section Header Block starts at the stop

PcapWalk = tuple[np.ndarray, bytes, int, int]  # what `pcap` returns
PcapngWalk = tuple[np.ndarray, np.ndarray, bytes, int, int]  # what `pcapng` returns


def pcap(
    buf: bytes | bytearray | memoryview,
    pos: int,
    big_endian: bool,
    max_caplen: int,
    *,
    compiled: bool = COMPILED,
) -> PcapWalk:
    """(offsets of the complete records, their 16-byte headers one after another, where the
    walk stopped, why)."""
    if compiled and _walk is not None:
        raw, heads, stop, status = _walk.pcap(buf, pos, big_endian, max_caplen)
        return np.frombuffer(raw, dtype=np.int64), heads, stop, status
    caplen_of = struct.Struct(">I" if big_endian else "<I").unpack_from
    offsets = []
    status = RAN_OUT
    while pos + PCAP_RECORD_HEADER_LEN <= len(buf):
        (caplen,) = caplen_of(buf, pos + 8)
        if caplen > max_caplen:
            status = BAD_LENGTH
            break
        end = pos + PCAP_RECORD_HEADER_LEN + caplen
        if end > len(buf):
            break
        offsets.append(pos)
        pos = end
    heads = b"".join(bytes(buf[o : o + PCAP_RECORD_HEADER_LEN]) for o in offsets)
    return np.array(offsets, dtype=np.int64), heads, pos, status


class PcapRecords(NamedTuple):
    """What `pcap_records` finds: per complete record, where its captured bytes start, their
    length, its length on the wire (never less than captured) and its time; then where the
    walk stopped, and why."""

    offsets: np.ndarray
    caplens: np.ndarray
    orig_lens: np.ndarray
    ts: np.ndarray
    stop: int
    status: int


def pcap_records(
    buf: bytes | bytearray | memoryview,
    pos: int,
    big_endian: bool,
    max_caplen: int,
    ticks: int,
    *,
    compiled: bool = COMPILED,
) -> PcapRecords:
    """The walk of `pcap`, each record's header fields read at once: compiled, in the same
    loop, without the GIL (the reading thread does it while the last batch is analysed).
    `ticks`: the fractions of a second the timestamps count (a million, or a billion)."""
    if compiled and _walk is not None:
        offsets, caplens, orig_lens, ts, stop, status = _walk.pcap_records(
            buf, pos, big_endian, max_caplen, float(ticks)
        )
        return PcapRecords(
            np.frombuffer(offsets, dtype=np.int64),
            np.frombuffer(caplens, dtype=np.int64),
            np.frombuffer(orig_lens, dtype=np.int64),
            np.frombuffer(ts, dtype=np.float64),
            stop,
            status,
        )
    starts, heads, stop, status = pcap(buf, pos, big_endian, max_caplen, compiled=False)
    fields = np.frombuffer(heads, dtype=(">" if big_endian else "<") + "u4").reshape(-1, 4)
    caplens = fields[:, 2].astype(np.int64)
    return PcapRecords(
        starts + PCAP_RECORD_HEADER_LEN,
        caplens,
        np.maximum(fields[:, 3].astype(np.int64), caplens),
        fields[:, 0].astype(np.float64) + fields[:, 1].astype(np.float64) / ticks,
        stop,
        status,
    )


def pcapng(
    buf: bytes | bytearray | memoryview,
    pos: int,
    big_endian: bool,
    max_len: int,
    *,
    compiled: bool = COMPILED,
) -> PcapngWalk:
    """(offsets of the complete blocks, their types, their first 28 bytes one after another
    (zero-padded), where the walk stopped, why)."""
    if compiled and _walk is not None:
        raw, raw_types, heads, stop, status = _walk.pcapng(buf, pos, big_endian, max_len)
        return (
            np.frombuffer(raw, dtype=np.int64),
            np.frombuffer(raw_types, dtype=np.uint32),
            heads,
            stop,
            status,
        )
    header_of = struct.Struct(">II" if big_endian else "<II").unpack_from
    offsets, types = [], []
    status = RAN_OUT
    while pos + PCAPNG_BLOCK_HEADER_LEN <= len(buf):
        block_type, length = header_of(buf, pos)
        if block_type == PCAPNG_SHB:
            status = SECTION
            break
        if length < PCAPNG_BLOCK_OVERHEAD or length % 4 or length > max_len:
            status = BAD_LENGTH
            break
        if pos + length > len(buf):
            break
        offsets.append(pos)
        types.append(block_type)
        pos += length
    heads = b"".join(
        bytes(buf[o : o + min(PCAPNG_HEAD_LEN, n)]).ljust(PCAPNG_HEAD_LEN, b"\0")
        for o, n in zip(offsets, [header_of(buf, o)[1] for o in offsets], strict=True)
    )
    return (
        np.array(offsets, dtype=np.int64),
        np.array(types, dtype=np.uint32),
        heads,
        pos,
        status,
    )


def pack(
    buf: bytes | bytearray | memoryview,
    offsets: np.ndarray,
    keeps: np.ndarray,
    big_endian: bool,
    *,
    pcapng: bool = False,
    compiled: bool = COMPILED,
) -> bytes:
    """pcap records again, each cut to its first `keeps[i]` captured bytes: the 16-byte
    header before `offsets[i]` with its captured length set to `keeps[i]`, then those bytes;
    one record after another.

    `pcapng`: Enhanced Packet Blocks instead, each packet cut so: the block's 28 fixed bytes
    before `offsets[i]` with the block length and captured length set anew, the kept bytes,
    zeros to a multiple of 4, the block length again (the block's options left out;
    `epb_sizes` gives the blocks' sizes)."""
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    keeps = np.ascontiguousarray(keeps, dtype=np.int64)
    if compiled and _walk is not None:
        packed: bytes = (_walk.pack_epbs if pcapng else _walk.pack)(buf, offsets, keeps, big_endian)
        return packed
    if len(offsets) != len(keeps):
        raise ValueError("offsets and keeps differ in length")
    word = struct.Struct(">I" if big_endian else "<I")
    head = PCAPNG_HEAD_LEN if pcapng else PCAP_RECORD_HEADER_LEN
    view = memoryview(buf).cast("B")
    out = bytearray()
    for i, (at, keep) in enumerate(zip(offsets.tolist(), keeps.tolist(), strict=True)):
        if at < head or keep < 0 or keep > 0x7FFFFFFF or at + keep > len(view):
            raise ValueError(f"record {i} lies outside the buffer")
        record = bytearray(view[at - head : at + keep])
        if pcapng:
            size = PCAPNG_HEAD_LEN + (keep + 3) // 4 * 4 + 4
            record[4:8] = word.pack(size)
            record[20:24] = word.pack(keep)
            record += bytes(-keep % 4) + word.pack(size)
        else:
            record[8:12] = word.pack(keep)
        out += record
    return bytes(out)


def epb_sizes(keeps: np.ndarray) -> np.ndarray:
    """The size of each block `pack` writes for packets cut to `keeps` (`pcapng`)."""
    keeps = np.asarray(keeps, dtype=np.int64)
    return PCAPNG_HEAD_LEN + (keeps + 3) // 4 * 4 + 4


def fill(
    fd: int,
    buffer: bytearray | memoryview,
    budget_s: float,
    *,
    compiled: bool = COMPILED,
) -> tuple[int, bool]:
    """Read `fd` into `buffer` until it is full, the stream ends, or `budget_s` has passed,
    waiting for bytes within the budget: (how many bytes came, whether none came before the
    budget ran out, or, compiled, a signal came). (0, False) is the end of the stream. An error
    after some bytes returns them; the next call meets it again. (In Python, select and readv
    retry by themselves after a signal.)"""
    if compiled and _walk is not None:
        count, idle = _walk.fill(fd, buffer, budget_s)
        return int(count), bool(idle)
    view = memoryview(buffer).cast("B")
    got = 0
    until = time.monotonic() + budget_s
    while got < len(view):
        left = until - time.monotonic()
        if left <= 0:
            break
        try:
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            count = os.readv(fd, [view[got:]])
        except BlockingIOError:
            continue
        except OSError:
            if got:
                break
            raise
        if count == 0:
            return got, False
        got += count
    return got, got == 0 and len(view) > 0
