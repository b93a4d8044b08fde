"""The pcapng file format (draft-ietf-opsawg-pcapng): sections (each with its byte order),
interfaces (link type, if_tsresol, if_tsoffset), and their packets in batches (`batch.Batch`):
Enhanced Packet Blocks gathered at once, Simple and obsolete Packet Blocks one by one.

dpkt's pcapng reader decodes only the first interface (no per-packet link type), so the blocks
are walked here (`walk.pcapng`). Damage found while reading ends it with one warning, and what
was read before it is still analysed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import IO

import numpy as np

from pcapmtu.capture import walk
from pcapmtu.capture.batch import (
    MAX_BLOCK_BYTES,
    RESYNC_WINDOW,
    Batch,
    Bytes,
    CopyPlan,
    EpbRun,
    Reader,
    WholeBlock,
)
from pcapmtu.capture.magics import PCAPNG_MAGIC as PCAPNG_MAGIC
from pcapmtu.capture.source import Prefixed, read_exact
from pcapmtu.errors import CorruptCaptureError
from pcapmtu.linktypes import LINKTYPE_MASK
from pcapmtu.model import CaptureInfo

Warn = Callable[[str], None]
EPB_FIXED_LEN = 28  # block type, length, interface, timestamp (2), captured and original length
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_IDB = 0x00000001
PCAPNG_OPB = 0x00000002  # obsolete Packet Block
PCAPNG_SPB = 0x00000003
PCAPNG_EPB = 0x00000006
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_MAJOR_VERSION = 1
PCAPNG_BLOCK_OVERHEAD = 12  # type, length, and the trailing length
OPT_ENDOFOPT = 0
OPT_IF_NAME = 2
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14
DEFAULT_TSRESOL = 6  # microseconds, when an interface does not say
PRECISION_NAMES = {6: "micro", 9: "nano"}

# An interface of a pcapng section: (link type, ticks per second, offset s, snaplen, global id)
Interface = tuple[int, float, int, int, int]


class _InterfaceIds:
    """Interfaces are numbered per section in the file, and across the file in a report."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> int:
        self.count += 1
        return self.count - 1


class PcapngFormat:
    """The packets of a pcapng file whose first block type has been read."""

    def __init__(self, stream: IO[bytes], info: CaptureInfo, warn: Warn) -> None:
        self._stream = stream
        self.info = info
        self._warn = warn
        self._section_length = 0  # of the current section's header block
        self._table_of: list[Interface] | None = None  # `_table`: whose, how many, the rows
        self._table_used = 0
        self._table_rows = np.zeros((0, 4))
        self.header = b""  # the first Section Header Block, once read (`copy_header`)
        self._section_raw = b""  # the latest Section Header Block as read
        self.plans = False  # whether each batch says how a copy holds it (`Batch.plan`)
        self._batches = self._pcapng()

    def batches(self) -> Iterator[Batch]:
        return self._batches

    def close(self) -> None:
        """Stop reading: the batches' generator closed now, not when the GC frees it."""
        self._batches.close()  # type: ignore[attr-defined]

    def _pcapng(self) -> Iterator[Batch]:
        order, problem = self._section_header(read_exact(self._stream, 4))
        if problem is not None:
            raise CorruptCaptureError(f"{self.info.name}: {problem}")
        self.header = self._section_raw
        return self._pcapng_batches(order)

    @property
    def copy_header(self) -> bytes:
        """The first Section Header Block, as a copy of the file holding fewer bytes begins:
        its section's length unknown (-1)."""
        return _length_unknown(self.header)

    def _section_header(self, length_raw: bytes) -> tuple[str, str | None]:
        """Read the rest of a Section Header Block whose type and length bytes are consumed.

        Returns (byte order, None), or (byte order, what is wrong with it): the first section's
        problem is an error, a later one's ends the reading with a warning.
        """
        magic_raw = read_exact(self._stream, 4)
        if len(length_raw) < 4 or len(magic_raw) < 4:
            return "<", "cut within its pcapng header"
        for order in ("<", ">"):
            if struct.unpack(order + "I", magic_raw)[0] == PCAPNG_BYTE_ORDER_MAGIC:
                break
        else:
            return "<", "pcapng byte-order magic is damaged"
        length = struct.unpack(order + "I", length_raw)[0]
        if length < 28 or length % 4 or length > MAX_BLOCK_BYTES:
            return order, f"pcapng section header claims {length} bytes"
        self._section_length = length
        body = read_exact(self._stream, length - 12)
        if len(body) < length - 12:
            return order, "cut within its pcapng header"
        self._section_raw = struct.pack(order + "I", PCAPNG_SHB) + length_raw + magic_raw + body
        major, minor = struct.unpack_from(order + "HH", body)
        if major != PCAPNG_MAJOR_VERSION:
            return order, f"pcapng version {major}.{minor} is not supported (only 1.x)"
        return order, None

    def _pcapng_batches(self, order: str) -> Iterator[Batch]:
        """Batches of the Enhanced Packet Blocks of 32 MB reads, gathered at once; every
        other block (interfaces, simple and obsolete packet blocks, sections) one by one."""
        with Reader[walk.PcapngWalk](self._stream) as reader:
            yield from self._pcapng_chunks(reader, order)

    def _pcapng_chunks(self, reader: Reader[walk.PcapngWalk], order: str) -> Iterator[Batch]:
        interfaces: list[Interface] = []  # of this section
        ids = _InterfaceIds()
        last_ts = 0.0

        def walk_blocks(buf: memoryview) -> walk.PcapngWalk:
            return walk.pcapng(buf, 0, order == ">", MAX_BLOCK_BYTES)  # this section's order

        reader.start(b"", walk_blocks)
        base = self._section_length  # where the buffer's first byte is in the file
        plan: CopyPlan = []  # of the next batch (`Batch.plan`), when asked for
        while True:
            buf, more, (offsets, types, heads, stop, status) = reader.wait()
            if more and status == walk.RAN_OUT:
                reader.start(buf[stop:], walk_blocks)  # read on while this batch is analysed
            fixed = np.frombuffer(heads, dtype=np.dtype(order + "u4")).reshape(-1, 7)
            parts: list[Batch] = []
            run_from = 0
            for i in [*np.flatnonzero(types != PCAPNG_EPB).tolist(), len(types)]:
                if i > run_from:
                    run = slice(run_from, i)
                    parts.append(self._epbs(buf, base, offsets[run], fixed[run], interfaces))
                    if len(parts[-1]):  # the time of the last packet: a Simple Packet
                        last_ts = float(parts[-1].ts[-1])  # Block after it has it too
                        if self.plans:
                            plan.append(EpbRun(buf, parts[-1].offsets, order == ">"))
                run_from = i + 1
                if i == len(types):
                    break
                block_type = int(types[i])
                at = int(offsets[i])
                length = struct.unpack_from(order + "I", buf, at + 4)[0]
                body = bytes(buf[at + 8 : at + length - 4])
                if block_type == PCAPNG_IDB:
                    interfaces.append(self._interface(body, order, ids.next()))
                    if self.plans:
                        plan.append(bytes(buf[at : at + length]))
                elif block_type in (PCAPNG_SPB, PCAPNG_OPB):
                    packet = self._packet(block_type, body, order, interfaces, last_ts)
                    if packet is not None:
                        parts.append(packet)
                        last_ts = float(packet.ts[-1])
                        if self.plans:  # its packet after the block's head (and length)
                            data_at = 12 if block_type == PCAPNG_SPB else EPB_FIXED_LEN
                            plan.append(WholeBlock(bytes(buf[at : at + length]), data_at))
            batch = Batch.join(parts, self.info.packets + 1)
            if len(batch):
                if self.plans:
                    batch.plan, plan = plan, []
                yield batch
            buf = buf[stop:]
            base += stop
            number = self.info.packets + 1
            if status == walk.SECTION:
                # A new section: new byte order, interfaces numbered from 0 again.
                self._stream = Prefixed(bytes(buf[8:]), self._stream)  # type: ignore[assignment]
                order, problem = self._section_header(bytes(buf[4:8]))
                if problem is not None:
                    self._warn(
                        f"a later section header: {problem}; analysed the {number - 1} "
                        "packets before it"
                    )
                    return
                interfaces = []
                if self.plans:  # the next batch's copy begins the new section
                    plan.append(_length_unknown(self._section_raw))
                base += self._section_length
                reader.stream = self._stream
                reader.start(b"", walk_blocks)
                continue
            if status == walk.BAD_LENGTH:
                length = struct.unpack_from(order + "I", buf, 4)[0]
                skip = resync(buf, order)
                if skip is None:
                    self._warn(
                        f"a block claims {length} bytes: the file is damaged from there; "
                        f"analysed the {number - 1} packets before it"
                    )
                    return
                self._warn(
                    f"a block claims {length} bytes: the file is damaged there; skipped "
                    f"{skip} bytes to the next plausible block and read on (frames after it "
                    "are numbered as read)"
                )
                base += skip
                reader.start(buf[skip:], walk_blocks)
                continue
            if not more:
                if 0 < len(buf) < 8:
                    self._warn(f"the file ends inside a block header after {number - 1} packets")
                elif buf:
                    length = struct.unpack_from(order + "I", buf, 4)[0]
                    self._warn(
                        f"the file ends inside a block ({len(buf)} of {length} bytes); "
                        f"analysed the {number - 1} packets before it"
                    )
                return

    def _epbs(
        self,
        buf: Bytes,
        base: int,
        offsets: np.ndarray,
        fixed: np.ndarray,
        interfaces: list[Interface],
    ) -> Batch:
        """A run of Enhanced Packet Blocks, gathered at once; bad ones are skipped, as one
        alone would be."""
        fields = fixed.astype(np.int64)  # type, length, interface, time (2), lengths (2)
        length, if_id, high, low, caplen, orig_len = (fields[:, k] for k in range(1, 7))
        body_len = length - PCAPNG_BLOCK_OVERHEAD
        ok = (body_len >= 20) & (if_id < len(interfaces)) & (caplen <= body_len - 20)
        if not ok.all():
            offsets, if_id, high, low, caplen, orig_len = (
                a[ok] for a in (offsets, if_id, high, low, caplen, orig_len)
            )
        table = self._table(interfaces)
        link, ticks, offset_s, global_id = (table[:, k] for k in range(4))
        stamp = ((high << 32) | low).astype(np.uint64).astype(np.float64)
        return Batch(
            data=buf,
            first_frame=0,
            offsets=offsets + EPB_FIXED_LEN,
            caplens=caplen,
            orig_lens=np.maximum(orig_len, caplen),
            ts=stamp / ticks[if_id].astype(np.float64) + offset_s[if_id].astype(np.float64),
            link_types=link[if_id].astype(np.int64),
            interfaces=global_id[if_id].astype(np.int64),
            start=base,
        )

    def _table(self, interfaces: list[Interface]) -> np.ndarray:
        """The interfaces' (link type, ticks, offset, global id) as an array, grown as they
        are added (a file may interleave thousands of them with its packets: each is put in
        once, into room that doubles)."""
        if self._table_of is not interfaces:  # a new section: its own interfaces
            self._table_of, self._table_used = interfaces, 0
        while self._table_used < len(interfaces):
            if self._table_used == len(self._table_rows):
                grown = np.zeros((max(8, 2 * len(self._table_rows)), 4))
                grown[: self._table_used] = self._table_rows[: self._table_used]
                self._table_rows = grown
            iface = interfaces[self._table_used]
            self._table_rows[self._table_used] = (*iface[:3], iface[4])
            self._table_used += 1
        if not self._table_used:
            return np.array([(0, 1, 0, 0)], dtype=np.float64)
        return self._table_rows[: self._table_used]

    def _interface(self, body: bytes, order: str, global_id: int) -> Interface:
        if len(body) < 8:
            return (-1, 1e6, 0, 0, global_id)
        link_type, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
        resol, offset_s = DEFAULT_TSRESOL, 0
        pos = 8
        while pos + 4 <= len(body):
            code, size = struct.unpack_from(order + "HH", body, pos)
            value = body[pos + 4 : pos + 4 + size]
            if code == OPT_ENDOFOPT or len(value) < size:
                break
            if code == OPT_IF_NAME and size:
                name = value.split(b"\0", 1)[0].decode("utf-8", "replace")
                if name and name not in self.info.interfaces and len(self.info.interfaces) < 64:
                    self.info.interfaces.append(name)
            elif code == OPT_IF_TSRESOL and size >= 1:
                resol = value[0]
            elif code == OPT_IF_TSOFFSET and size >= 8:
                offset_s = struct.unpack(order + "q", value[:8])[0]
            pos += 4 + size + (-size % 4)
        ticks = float(2 ** (resol & 0x7F)) if resol & 0x80 else float(10 ** min(resol, 18))
        if global_id == 0:
            self.info.timestamp_precision = PRECISION_NAMES.get(resol, f"1/{ticks:g} s")
        return (link_type & LINKTYPE_MASK, ticks, offset_s, snaplen, global_id)

    def _packet(
        self,
        block_type: int,
        body: bytes,
        order: str,
        interfaces: list[Interface],
        last_ts: float,
    ) -> Batch | None:
        """A Simple or obsolete Packet Block (or one Enhanced Packet Block) as a batch of one."""
        number = self.info.packets + 1
        if block_type == PCAPNG_SPB:
            if len(body) < 4 or not interfaces:
                return None
            orig_len = struct.unpack_from(order + "I", body)[0]
            link_type, _ticks, _offset, snaplen, global_id = interfaces[0]
            data = body[4 : 4 + min(orig_len, snaplen or orig_len)]
            return Batch.single(number, last_ts, link_type, data, orig_len, global_id)
        if block_type == PCAPNG_EPB:
            if len(body) < 20:
                return None
            if_id, high, low, caplen, orig_len = struct.unpack_from(order + "IIIII", body)
            data_at = 20
        else:  # obsolete Packet Block: 2-byte interface id and drop count
            if len(body) < 20:
                return None
            if_id, _drops, high, low, caplen, orig_len = struct.unpack_from(order + "HHIIII", body)
            data_at = 20
        if if_id >= len(interfaces) or caplen > len(body) - data_at:
            return None
        link_type, ticks, offset_s, _snaplen, global_id = interfaces[if_id]
        ts = ((high << 32) | low) / ticks + offset_s
        data = body[data_at : data_at + caplen]
        return Batch.single(number, ts, link_type, data, max(orig_len, caplen), global_id)


def _length_unknown(header: bytes) -> bytes:
    """A Section Header Block with its section's length set to -1 (not known)."""
    return header[:16] + b"\xff" * 8 + header[24:] if len(header) >= 28 else header


KNOWN_BLOCKS = (PCAPNG_IDB, PCAPNG_OPB, PCAPNG_SPB, 4, 5, PCAPNG_EPB)  # (not a new section)


def resync(buf: Bytes, order: str, window: int = RESYNC_WINDOW) -> int | None:
    """After a damaged block header at the start of `buf`: how many bytes on (a multiple of
    4, as blocks are aligned) the next plausible block starts, or None when none is within
    `window`. Plausible: a known block type, a length of at least 12 bytes and a multiple of
    4 that fits the buffer, and the same length again at its end."""
    words = np.frombuffer(buf[: len(buf) - len(buf) % 4], dtype=np.dtype(order + "u4"))
    n = len(words)
    at = np.arange(1, min(n - 3, window // 4) + 1) if n > 3 else np.zeros(0, dtype=np.int64)
    if not len(at):
        return None
    kinds, lengths = words[at], words[at + 1].astype(np.int64)
    ok = np.isin(kinds, KNOWN_BLOCKS) & (lengths >= PCAPNG_BLOCK_OVERHEAD) & (lengths % 4 == 0)
    ok &= at + lengths // 4 <= n
    candidates = at[ok]
    trailers = words[candidates + lengths[ok] // 4 - 1]
    found = np.flatnonzero(trailers == lengths[ok])
    return int(candidates[found[0]]) * 4 if len(found) else None
