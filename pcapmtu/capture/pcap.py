"""The pcap file format (tcpdump.org "pcap" file format, both byte orders, micro- and
nanosecond magic): its header, then its records in batches (`batch.Batch`).

A record is found by the walk (`walk.pcap`); damage found while reading (a file cut mid-record,
a record claiming an absurd length) ends the reading with one precise warning, and what was
read before it is still analysed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import IO

import numpy as np

from pcapmtu.capture import walk
from pcapmtu.capture.batch import MAX_RECORD_BYTES, RESYNC_WINDOW, Batch, Bytes, Reader
from pcapmtu.capture.magics import PCAP_HEADER_LEN as PCAP_HEADER_LEN
from pcapmtu.capture.magics import PCAP_MAGICS as PCAP_MAGICS
from pcapmtu.capture.magics import PCAP_MODIFIED_MAGICS as PCAP_MODIFIED_MAGICS
from pcapmtu.capture.source import read_exact
from pcapmtu.errors import CorruptCaptureError
from pcapmtu.linktypes import LINKTYPE_MASK
from pcapmtu.model import CaptureInfo

Warn = Callable[[str], None]
PCAP_RECORD_HEADER_LEN = 16
PCAP_MAJOR_VERSION = 2


class PcapFormat:
    """The records of a pcap file whose magic (`order`, `ticks`) has been read."""

    def __init__(self, stream: IO[bytes], info: CaptureInfo, warn: Warn, magic: bytes) -> None:
        self._stream = stream
        self.info = info
        self._warn = warn
        order, ticks = PCAP_MAGICS[magic]
        self.big_endian = order == ">"
        self.header = magic  # the file's header, once read
        self._batches = self._pcap(order, ticks)

    def batches(self) -> Iterator[Batch]:
        return self._batches

    def close(self) -> None:
        """Stop reading: the batches' generator closed now, not when the GC frees it."""
        self._batches.close()  # type: ignore[attr-defined]

    def _pcap(self, order: str, ticks: int) -> Iterator[Batch]:
        header = read_exact(self._stream, PCAP_HEADER_LEN - 4)
        if len(header) < PCAP_HEADER_LEN - 4:
            raise CorruptCaptureError(
                f"{self.info.name}: cut within its {PCAP_HEADER_LEN}-byte pcap header"
            )
        self.header += header
        major, minor, _zone, _sigfigs, _snaplen, link_field = struct.unpack(
            order + "HHiIII", header
        )
        if major != PCAP_MAJOR_VERSION:
            raise CorruptCaptureError(
                f"{self.info.name}: pcap version {major}.{minor} is not supported (only 2.x)"
            )
        link_type = link_field & LINKTYPE_MASK
        self.info.timestamp_precision = "nano" if ticks == 1_000_000_000 else "micro"
        return self._pcap_batches(order, ticks, link_type)

    def _pcap_batches(self, order: str, ticks: int, link_type: int) -> Iterator[Batch]:
        """Batches cut from 32 MB reads; a record split by a read waits for the next one."""
        with Reader[walk.PcapRecords](self._stream) as reader:
            yield from self._pcap_chunks(reader, order, ticks, link_type)

    def _pcap_chunks(
        self, reader: Reader[walk.PcapRecords], order: str, ticks: int, link_type: int
    ) -> Iterator[Batch]:
        big_endian = self.big_endian

        def walk_records(buf: memoryview) -> walk.PcapRecords:
            # in the reading thread: the records' places and header fields, read at once
            return walk.pcap_records(buf, 0, big_endian, MAX_RECORD_BYTES, ticks)

        reader.start(b"", walk_records)
        base = PCAP_HEADER_LEN  # where the buffer's first byte is in the file
        while True:
            buf, more, records = reader.wait()
            stop, status = records.stop, records.status
            if more and status == walk.RAN_OUT:
                reader.start(buf[stop:], walk_records)  # read on while this batch is analysed
            if len(records.offsets):
                n = len(records.offsets)
                yield Batch(
                    data=buf,
                    first_frame=self.info.packets + 1,
                    offsets=records.offsets,
                    caplens=records.caplens,
                    orig_lens=records.orig_lens,
                    ts=records.ts,
                    link_types=np.full(n, link_type, dtype=np.int64),
                    interfaces=np.zeros(n, dtype=np.int64),
                    start=base,
                )
            buf = buf[stop:]
            base += stop
            if status == walk.BAD_LENGTH:
                number = self.info.packets + 1
                caplen = struct.unpack_from(order + "I", buf, 8)[0]
                skip = resync(buf, big_endian, ticks, self.info.last_ts)
                if skip is None:
                    self._warn(
                        f"record {number} claims {caplen} bytes, more than any packet: the "
                        f"file is damaged from there; analysed the {number - 1} records "
                        "before it"
                    )
                    return
                self._warn(
                    f"record {number} claims {caplen} bytes, more than any packet: the file is "
                    f"damaged there; skipped {skip} bytes to the next plausible record and "
                    "read on (frames after it are numbered as read)"
                )
                base += skip
                reader.start(buf[skip:], walk_records)
                continue
            if not more:
                if buf:
                    yield from self._pcap_cut_record(buf, order, ticks, link_type)
                return

    def _pcap_cut_record(
        self, rest: Bytes, order: str, ticks: int, link_type: int
    ) -> Iterator[Batch]:
        """The file ends inside a record: warn, and analyse what there is of it."""
        number = self.info.packets + 1
        if len(rest) < PCAP_RECORD_HEADER_LEN:
            self._warn(
                f"the file ends {len(rest)} bytes into the header of record {number}; "
                f"analysed the {number - 1} records before it"
            )
            return
        sec, frac, caplen, orig_len = struct.unpack_from(order + "IIII", rest)
        got = len(rest) - PCAP_RECORD_HEADER_LEN
        self._warn(
            f"the file ends inside record {number} ({got} of "
            f"its {caplen} bytes); analysed what is there"
        )
        if got:
            ts = sec + frac / ticks
            yield Batch.single(number, ts, link_type, rest, orig_len, 0, PCAP_RECORD_HEADER_LEN)
            # (its place in the file is not kept: a cut record is not read twice)


MAX_ORIG_LEN = 1 << 20  # a record's length on the wire, at most (TSO and BIG TCP included)
DAY_S = 86_400


def resync(
    buf: Bytes, big_endian: bool, ticks: int, last_ts: float | None, window: int = RESYNC_WINDOW
) -> int | None:
    """After a damaged record header at the start of `buf`: how many bytes on the next
    plausible record starts, or None when none is within `window`. Plausible: its lengths fit
    (captured <= on the wire <= 1 MB), its fraction of a second is one, its time is within a
    day of the last record's (when known), and the record after it is plausible too (or the
    buffer ends exactly with it)."""
    data = np.frombuffer(buf, dtype=np.uint8)
    last = len(data) - PCAP_RECORD_HEADER_LEN  # the last offset a header can start at
    if last < 1:
        return None
    at = np.arange(1, min(last, window) + 1)

    def field(offset: np.ndarray, k: int) -> np.ndarray:
        parts = [data[offset + 4 * k + i].astype(np.uint64) for i in range(4)]
        if big_endian:
            parts.reverse()
        value: np.ndarray = parts[0] | parts[1] << 8 | parts[2] << 16 | parts[3] << 24
        return value

    def plausible(offset: np.ndarray) -> np.ndarray:
        sec, frac, caplen, orig = (field(offset, k) for k in range(4))
        ok: np.ndarray = (caplen <= MAX_RECORD_BYTES) & (caplen <= orig) & (orig <= MAX_ORIG_LEN)
        ok &= frac < ticks
        if last_ts is not None:
            ok &= np.abs(sec.astype(np.float64) - last_ts) <= DAY_S
        return ok

    candidates = at[plausible(at)]
    following = candidates + PCAP_RECORD_HEADER_LEN + field(candidates, 2).astype(np.int64)
    ends = following == len(data)
    inside = following <= last
    chained = np.zeros(len(candidates), dtype=bool)
    chained[inside] = plausible(following[inside])
    found = np.flatnonzero(chained | ends)
    return int(candidates[found[0]]) if len(found) else None
