"""Capture files in, records out: pcap and pcapng, plain or gzip, from a path, bytes or stdin.

One pass, streaming: a record is read, yielded and forgotten, so a gigabyte capture needs no
more memory than a small one. Whether a file can be read at all is decided once, up front, in
`Capture.__init__` (missing, empty, text, damaged header: each its own `CaptureError`); damage
found later (a file cut mid-record, a record claiming an absurd length) ends the reading with a
`TruncatedCaptureWarning`, and what was read before it is still analysed.

The record walkers are our own rather than dpkt's: dpkt's pcapng reader decodes only the first
interface (no per-packet link type), and its pcap reader yields a cut record silently and raises
`NeedData` mid-iteration; here each of those cases is one precise warning. Formats: pcap
(tcpdump.org "pcap" file format, both byte orders, micro- and nanosecond magic) and pcapng
(draft-ietf-opsawg-pcapng: sections, interfaces with if_tsresol and if_tsoffset, EPB, SPB, OPB).
"""

from __future__ import annotations

import concurrent.futures
import gzip
import io
import os
import struct
import sys
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import fields as fields_of
from pathlib import Path
from typing import IO, cast

import numpy as np

from pcapmtu import walk
from pcapmtu.errors import (
    CaptureError,
    CaptureNotFoundError,
    CorruptCaptureError,
    EmptyCaptureError,
    NotACaptureError,
    TruncatedCaptureWarning,
)
from pcapmtu.linktypes import LINKTYPE_MASK
from pcapmtu.model import CaptureInfo, Record

Bytes = bytes | bytearray | memoryview
Source = str | os.PathLike[str] | Bytes | IO[bytes]

STDIN_NAME = "-"
GZIP_MAGIC = b"\x1f\x8b"
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"  # the Section Header Block type, the same in both orders
PCAP_MAGICS: dict[bytes, tuple[str, int]] = {  # first 4 bytes -> (byte order, ticks per second)
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}
PCAP_MODIFIED_MAGICS = (b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34")  # Kuznetzov's patched pcap
PCAP_HEADER_LEN = 24
PCAP_RECORD_HEADER_LEN = 16
PCAP_MAJOR_VERSION = 2
# No link carries a frame this large (BIG TCP super-packets reach 512 KiB); a record that
# claims more is damage, and nothing after it can be trusted.
MAX_RECORD_BYTES = 1 << 20
MAX_BLOCK_BYTES = MAX_RECORD_BYTES + 4096
READ_CHUNK = 1 << 20
BATCH_BYTES = 16 << 20  # of file per batch: numpy's per-call cost vanishes, memory stays flat
SLACK = 256  # spare bytes after a batch's data (see _Buffers)
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
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14
DEFAULT_TSRESOL = 6  # microseconds, when an interface does not say
PRECISION_NAMES = {6: "micro", 9: "nano"}
TEXT_BYTES = frozenset(b"\t\n\r" + bytes(range(32, 127)))


# An interface of a pcapng section: (link type, ticks per second, offset s, snaplen, global id)
Interface = tuple[int, float, int, int, int]


class _InterfaceIds:
    """Interfaces are numbered per section in the file, and across the file in a report."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> int:
        self.count += 1
        return self.count - 1


class Batch:
    """Consecutive records of one capture: their bytes stay in `data`, their header fields are
    arrays (one element per record). `records()` turns them into `Record`s one by one."""

    def __init__(
        self,
        *,
        data: Bytes,
        first_frame: int,
        offsets: np.ndarray,
        caplens: np.ndarray,
        orig_lens: np.ndarray,
        ts: np.ndarray,
        link_types: np.ndarray,
        interfaces: np.ndarray,
        padded: np.ndarray | None = None,
        start: int | None = None,
    ) -> None:
        self.data = data
        # where data[0] is in the capture file (after any gzip), when known: see `positions`
        self.start = start
        # `data` as a uint8 array with SLACK spare bytes after it, when the reader has one
        self.padded = padded
        self.first_frame = first_frame  # the frame number of the first record
        self.offsets = offsets  # int64: where each record's captured bytes start in `data`
        self.caplens = caplens  # int64: captured length
        self.orig_lens = orig_lens  # int64: length on the wire (never less than captured)
        self.ts = ts  # float64: seconds since the epoch
        self.link_types = link_types  # int64
        self.interfaces = interfaces  # int64: interface number across the file

    def __len__(self) -> int:
        return len(self.offsets)

    @property
    def positions(self) -> np.ndarray | None:
        """Where each record's captured bytes start in the file (None when not known)."""
        return None if self.start is None else self.offsets + self.start

    @property
    def frames(self) -> np.ndarray:
        return np.arange(self.first_frame, self.first_frame + len(self), dtype=np.int64)

    def record(self, i: int) -> Record:
        at = int(self.offsets[i])
        return Record(
            self.first_frame + i,
            float(self.ts[i]),
            int(self.link_types[i]),
            bytes(memoryview(self.data)[at : at + int(self.caplens[i])]),
            int(self.orig_lens[i]),
            int(self.interfaces[i]),
        )

    def records(self) -> Iterator[Record]:
        data = memoryview(self.data)
        columns = (
            self.offsets.tolist(),
            self.caplens.tolist(),
            self.ts.tolist(),
            self.link_types.tolist(),
            self.orig_lens.tolist(),
            self.interfaces.tolist(),
        )
        for frame, (at, caplen, ts, link, orig, iface) in enumerate(
            zip(*columns, strict=True), self.first_frame
        ):
            yield Record(frame, ts, link, bytes(data[at : at + caplen]), orig, iface)

    @classmethod
    def single(
        cls,
        frame: int,
        ts: float,
        link_type: int,
        data: Bytes,
        orig_len: int,
        iface: int,
    ) -> Batch:
        one = np.ones(1, dtype=np.int64)
        return cls(
            data=data,
            first_frame=frame,
            offsets=np.zeros(1, dtype=np.int64),
            caplens=one * len(data),
            orig_lens=one * orig_len,
            ts=np.array([ts], dtype=np.float64),
            link_types=one * link_type,
            interfaces=one * iface,
        )

    @classmethod
    def join(cls, parts: list[Batch], first_frame: int) -> Batch:
        """One batch of `parts` (whose `data` may differ), numbered from `first_frame`."""
        if len(parts) == 1:
            parts[0].first_frame = first_frame
            return parts[0]  # (a batch of several parts has no `start`: their bytes were copied)
        datas = [p.data for p in parts]
        starts = np.cumsum([0, *(len(d) for d in datas[:-1])], dtype=np.int64)
        empty = np.zeros(0, dtype=np.int64)

        def cat(name: str, dtype: type = np.int64) -> np.ndarray:
            arrays = [getattr(p, name) for p in parts]
            return np.concatenate(arrays).astype(dtype) if arrays else empty.astype(dtype)

        return cls(
            data=b"".join(datas),
            first_frame=first_frame,
            offsets=np.concatenate([p.offsets + s for p, s in zip(parts, starts, strict=True)])
            if parts
            else empty,
            caplens=cat("caplens"),
            orig_lens=cat("orig_lens"),
            ts=cat("ts", np.float64),
            link_types=cat("link_types"),
            interfaces=cat("interfaces"),
        )


@dataclass
class RecordIndex:
    """Where some records of a capture are, and their header fields: to read them again."""

    frames: np.ndarray
    positions: np.ndarray  # of each record's captured bytes in the file
    caplens: np.ndarray
    orig_lens: np.ndarray
    ts: np.ndarray
    link_types: np.ndarray
    interfaces: np.ndarray

    @classmethod
    def of(cls, batch: Batch, rows: np.ndarray) -> RecordIndex:
        """Records `rows` (numbers within the batch) of a batch whose `positions` are known."""
        positions = batch.positions
        assert positions is not None
        return cls(
            batch.first_frame + rows,
            positions[rows],
            batch.caplens[rows],
            batch.orig_lens[rows],
            batch.ts[rows],
            batch.link_types[rows],
            batch.interfaces[rows],
        )

    @classmethod
    def join(cls, parts: list[RecordIndex]) -> RecordIndex:
        """All of `parts`, in frame order, each record once."""
        fields = [np.concatenate([getattr(p, f.name) for p in parts]) for f in fields_of(cls)]
        frames = fields[0]
        _, first = np.unique(frames, return_index=True)
        return cls(*(values[first] for values in fields))


def reread(source: Source, index: RecordIndex) -> Iterator[Record]:
    """The records of `index`, read again from `source` (a file's path, or bytes). Positions
    are in the capture as decompressed, so a gzip file is read through gzip again."""
    if isinstance(source, Bytes):
        yield from _reread(_decompressed(io.BytesIO(source)), index)
        return
    with Path(source).open("rb") as stream:  # type: ignore[arg-type]
        yield from _reread(_decompressed(stream), index)


def _decompressed(stream: IO[bytes]) -> IO[bytes]:
    head = stream.read(len(GZIP_MAGIC))
    stream.seek(0)
    if head == GZIP_MAGIC:
        return cast(IO[bytes], gzip.GzipFile(fileobj=stream, mode="rb"))  # seeks by decompressing
    return stream


def _reread(stream: IO[bytes], index: RecordIndex) -> Iterator[Record]:
    columns = (
        index.frames.tolist(),
        index.positions.tolist(),
        index.caplens.tolist(),
        index.orig_lens.tolist(),
        index.ts.tolist(),
        index.link_types.tolist(),
        index.interfaces.tolist(),
    )
    for frame, at, caplen, orig, ts, link, iface in zip(*columns, strict=True):
        stream.seek(at)
        yield Record(frame, ts, link, _read_exact(stream, caplen), orig, iface)


class _Prefixed(io.RawIOBase):
    """A stream that first returns `prefix`, then the rest of `stream` (used after sniffing)."""

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)


def _open_source(source: Source, name: str | None) -> tuple[IO[bytes], str, bool]:
    """(stream, display name, whether we must close it)."""
    if isinstance(source, Bytes):
        return io.BytesIO(bytes(source)), name or "<bytes>", True
    if isinstance(source, str | os.PathLike):
        if str(source) == STDIN_NAME:
            return sys.stdin.buffer, name or "<stdin>", False
        path = Path(source)
        display = name or str(path)
        if path.is_dir():
            raise CaptureNotFoundError(f"{display}: is a folder, not a capture file")
        try:
            return path.open("rb"), display, True
        except FileNotFoundError as exc:
            raise CaptureNotFoundError(f"{display}: no such file") from exc
        except OSError as exc:
            raise CaptureError(f"{display}: cannot read it: {exc.strerror or exc}") from exc
    return source, name or str(getattr(source, "name", "<stream>")), False


def _seekable(stream: IO[bytes]) -> bool:
    try:
        return stream.seekable()
    except (OSError, ValueError):
        return False


class _Buffers:
    """Two read buffers used in turn, allocated once: no fresh 8 MB (and its page faults) per
    batch. So a batch's bytes stay valid until the batch after the next one is read. Each has
    `SLACK` spare bytes after the data, which the vectorised decoder may read past a record's
    end without a bounds check (what it reads there it never uses)."""

    def __init__(self) -> None:
        self._arrays: list[np.ndarray] = []
        self._turn = 0

    def fill(self, stream: IO[bytes], rest: Bytes) -> tuple[memoryview, np.ndarray, int]:
        """`rest` and then up to BATCH_BYTES more of `stream`: (the bytes, the buffer they
        start, how many came from the stream)."""
        if len(self._arrays) < 2:
            self._arrays.append(np.zeros(BATCH_BYTES + MAX_BLOCK_BYTES + SLACK, dtype=np.uint8))
        array = self._arrays[self._turn % len(self._arrays)]
        self._turn += 1
        kept = len(rest)
        array[:kept] = np.frombuffer(rest, dtype=np.uint8)
        view = memoryview(array.data)
        got, limit = kept, kept + BATCH_BYTES
        while got < limit:
            count = stream.readinto(view[got:limit])  # type: ignore[attr-defined]
            if not count:
                break
            got += count
        return view[:got], array, got - kept


class _Reader:
    """Reads the next chunk in a thread while the current one is analysed (file reads and
    gzip release the GIL): the batches of a capture from the page cache cost no read time."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self._buffers = _Buffers()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._next: concurrent.futures.Future[tuple[memoryview, np.ndarray, int]] | None = None

    def start(self, rest: Bytes) -> None:
        """Begin reading: `rest` (left over from the last chunk), then more of the stream."""
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, "pcapmtu-read")
        self._next = self._pool.submit(self._buffers.fill, self.stream, rest)

    def wait(self) -> tuple[memoryview, np.ndarray, int]:
        """The chunk `start` began: (its bytes, their buffer, how many came from the stream)."""
        assert self._next is not None
        future, self._next = self._next, None
        return future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    """Read up to `n` bytes, looping over short reads (pipes and gzip return less)."""
    chunks = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _not_a_capture(name: str, head: bytes) -> NotACaptureError:
    if head and all(b in TEXT_BYTES for b in head):
        return NotACaptureError(f"{name}: is a text file, not a pcap or pcapng capture")
    shown = " ".join(f"{b:02x}" for b in head[:4])
    return NotACaptureError(f"{name}: not a pcap or pcapng capture (it starts with {shown})")


class Capture:
    """An open capture: `info` describes it, iterating yields its `Record`s once.

    Use as a context manager, or call `close()`; iterating to the end also closes it.
    """

    def __init__(self, source: Source, *, name: str | None = None) -> None:
        stream, display, owned = _open_source(source, name)
        self._owned = stream if owned else None
        self.info = CaptureInfo(name=display)
        self._section_length = 0  # of the current pcapng section's header block
        try:
            self._stream, self._head = self._sniff(stream)
            self._reader = self._prepare()
        except BaseException:
            self.close()
            raise

    def _sniff(self, stream: IO[bytes]) -> tuple[IO[bytes], bytes]:
        head = _read_exact(stream, 4)
        if not head:
            raise EmptyCaptureError(f"{self.info.name}: the file is empty")
        if head[:2] == GZIP_MAGIC:
            self.info.compression = "gzip"
            raw = gzip.GzipFile(fileobj=_Prefixed(head, stream), mode="rb")
            stream = io.BufferedReader(raw, READ_CHUNK)
            try:
                head = _read_exact(stream, 4)
            except (OSError, EOFError, zlib.error) as exc:
                raise CorruptCaptureError(f"{self.info.name}: damaged gzip data: {exc}") from exc
            if not head:
                raise EmptyCaptureError(f"{self.info.name}: the gzip file holds nothing")
        elif _seekable(stream):
            stream.seek(-len(head), io.SEEK_CUR)  # a file: read it directly, from the start
            head = _read_exact(stream, 4)
        else:
            stream = io.BufferedReader(_Prefixed(head, stream), READ_CHUNK)
            head = _read_exact(stream, 4)
        return stream, head

    def _prepare(self) -> Iterator[Batch]:
        head = self._head
        if head in PCAP_MAGICS:
            self.info.format = "pcap"
            return self._pcap(*PCAP_MAGICS[head])
        if head == PCAPNG_MAGIC:
            self.info.format = "pcapng"
            return self._pcapng()
        if head in PCAP_MODIFIED_MAGICS:
            raise NotACaptureError(
                f"{self.info.name}: a 'modified pcap' (Kuznetzov) file; convert it with "
                "editcap -F pcap"
            )
        if len(head) < 4:
            raise CorruptCaptureError(f"{self.info.name}: only {len(head)} bytes; no capture")
        raise _not_a_capture(self.info.name, head + _read_exact(self._stream, 60))

    def __iter__(self) -> Iterator[Record]:
        """Every record, one at a time (for the per-packet analysis)."""
        for batch in self.batches():
            yield from batch.records()

    def batches(self) -> Iterator[Batch]:
        """The records in batches of up to 16 MB of file, their headers already in arrays."""
        try:
            for batch in self._reader:
                self._account(batch)
                yield batch
        except (OSError, EOFError, zlib.error) as exc:
            if isinstance(exc, CaptureError):
                raise
            self._warn(f"reading stopped after {self.info.packets} packets: {exc}")
        finally:
            self.close()

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _warn(self, message: str) -> None:
        text = f"{self.info.name}: {message}"
        self.info.warnings.append(text)
        warnings.warn(text, TruncatedCaptureWarning, stacklevel=3)

    def _account(self, batch: Batch) -> None:
        info = self.info
        n = len(batch)
        if not n:
            return
        info.packets += n
        info.bytes_read += int(batch.caplens.sum()) + n * PCAP_RECORD_HEADER_LEN
        kinds, counts = np.unique(batch.link_types, return_counts=True)
        for kind, count in zip(kinds.tolist(), counts.tolist(), strict=True):
            info.link_types[kind] = info.link_types.get(kind, 0) + count
        if info.first_ts is None:
            info.first_ts = float(batch.ts[0])
        info.last_ts = float(batch.ts[-1])
        info.truncated_by_snaplen += int(np.count_nonzero(batch.caplens < batch.orig_lens))

    # pcap ---------------------------------------------------------------------------------

    def _pcap(self, order: str, ticks: int) -> Iterator[Batch]:
        header = _read_exact(self._stream, PCAP_HEADER_LEN - 4)
        if len(header) < PCAP_HEADER_LEN - 4:
            raise CorruptCaptureError(
                f"{self.info.name}: cut within its {PCAP_HEADER_LEN}-byte pcap header"
            )
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
        with _Reader(self._stream) as reader:
            yield from self._pcap_chunks(reader, order, ticks, link_type)

    def _pcap_chunks(
        self, reader: _Reader, order: str, ticks: int, link_type: int
    ) -> Iterator[Batch]:
        big_endian = order == ">"
        header = np.dtype(order + "u4")
        reader.start(b"")
        base = PCAP_HEADER_LEN  # where the buffer's first byte is in the file
        while True:
            buf, padded, more = reader.wait()
            offsets, heads, stop, status = walk.pcap(buf, 0, big_endian, MAX_RECORD_BYTES)
            if more and status == walk.RAN_OUT:
                reader.start(buf[stop:])  # read on while this batch is analysed
            if len(offsets):
                fields = np.frombuffer(heads, dtype=header).reshape(-1, 4)
                caplens = fields[:, 2].astype(np.int64)
                n = len(offsets)
                yield Batch(
                    data=buf,
                    first_frame=self.info.packets + 1,
                    offsets=offsets + PCAP_RECORD_HEADER_LEN,
                    caplens=caplens,
                    orig_lens=np.maximum(fields[:, 3].astype(np.int64), caplens),
                    ts=fields[:, 0].astype(np.float64) + fields[:, 1].astype(np.float64) / ticks,
                    link_types=np.full(n, link_type, dtype=np.int64),
                    interfaces=np.zeros(n, dtype=np.int64),
                    padded=padded,
                    start=base,
                )
            buf = buf[stop:]
            base += stop
            if status == walk.BAD_LENGTH:
                number = self.info.packets + 1
                caplen = struct.unpack_from(order + "I", buf, 8)[0]
                self._warn(
                    f"record {number} claims {caplen} bytes, more than any packet: the file is "
                    f"damaged from there; analysed the {number - 1} records before it"
                )
                return
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
        data = rest[PCAP_RECORD_HEADER_LEN:]
        self._warn(
            f"the file ends inside record {number} ({len(data)} of "
            f"its {caplen} bytes); analysed what is there"
        )
        if data:
            yield Batch.single(number, sec + frac / ticks, link_type, data, orig_len, 0)
            # (its place in the file is not kept: a cut record is not read twice)

    # pcapng -------------------------------------------------------------------------------

    def _pcapng(self) -> Iterator[Batch]:
        order, problem = self._section_header(_read_exact(self._stream, 4))
        if problem is not None:
            raise CorruptCaptureError(f"{self.info.name}: {problem}")
        return self._pcapng_batches(order)

    def _section_header(self, length_raw: bytes) -> tuple[str, str | None]:
        """Read the rest of a Section Header Block whose type and length bytes are consumed.

        Returns (byte order, None), or (byte order, what is wrong with it): the first section's
        problem is an error, a later one's ends the reading with a warning.
        """
        magic_raw = _read_exact(self._stream, 4)
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
        body = _read_exact(self._stream, length - 12)
        if len(body) < length - 12:
            return order, "cut within its pcapng header"
        major, minor = struct.unpack_from(order + "HH", body)
        if major != PCAPNG_MAJOR_VERSION:
            return order, f"pcapng version {major}.{minor} is not supported (only 1.x)"
        return order, None

    def _pcapng_batches(self, order: str) -> Iterator[Batch]:
        """Batches of the Enhanced Packet Blocks of 32 MB reads, gathered at once; every
        other block (interfaces, simple and obsolete packet blocks, sections) one by one."""
        with _Reader(self._stream) as reader:
            yield from self._pcapng_chunks(reader, order)

    def _pcapng_chunks(self, reader: _Reader, order: str) -> Iterator[Batch]:
        interfaces: list[Interface] = []  # of this section
        ids = _InterfaceIds()
        last_ts = 0.0
        reader.start(b"")
        base = self._section_length  # where the buffer's first byte is in the file
        while True:
            buf, padded, more = reader.wait()
            offsets, types, heads, stop, status = walk.pcapng(buf, 0, order == ">", MAX_BLOCK_BYTES)
            if more and status == walk.RAN_OUT:
                reader.start(buf[stop:])  # read on while this batch is analysed
            fixed = np.frombuffer(heads, dtype=np.dtype(order + "u4")).reshape(-1, 7)
            parts: list[Batch] = []
            run_from = 0
            for i in [*np.flatnonzero(types != PCAPNG_EPB).tolist(), len(types)]:
                if i > run_from:
                    run = slice(run_from, i)
                    parts.append(
                        self._epbs(buf, padded, base, offsets[run], fixed[run], interfaces)
                    )
                run_from = i + 1
                if i == len(types):
                    break
                block_type = int(types[i])
                at = int(offsets[i])
                length = struct.unpack_from(order + "I", buf, at + 4)[0]
                body = bytes(buf[at + 8 : at + length - 4])
                if block_type == PCAPNG_IDB:
                    interfaces.append(self._interface(body, order, ids.next()))
                elif block_type in (PCAPNG_SPB, PCAPNG_OPB):
                    packet = self._packet(block_type, body, order, interfaces, last_ts)
                    if packet is not None:
                        parts.append(packet)
                if parts and len(parts[-1]):
                    last_ts = float(parts[-1].ts[-1])
            batch = Batch.join(parts, self.info.packets + 1)
            if len(batch):
                last_ts = float(batch.ts[-1])
                yield batch
            buf = buf[stop:]
            base += stop
            number = self.info.packets + 1
            if status == walk.SECTION:
                # A new section: new byte order, interfaces numbered from 0 again.
                self._stream = _Prefixed(bytes(buf[8:]), self._stream)  # type: ignore[assignment]
                order, problem = self._section_header(bytes(buf[4:8]))
                if problem is not None:
                    self._warn(
                        f"a later section header: {problem}; analysed the {number - 1} "
                        "packets before it"
                    )
                    return
                interfaces = []
                base += self._section_length
                reader.stream = self._stream
                reader.start(b"")
                continue
            if status == walk.BAD_LENGTH:
                length = struct.unpack_from(order + "I", buf, 4)[0]
                self._warn(
                    f"a block claims {length} bytes: the file is damaged from there; "
                    f"analysed the {number - 1} packets before it"
                )
                return
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
        padded: np.ndarray,
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
        table = np.array([(*iface[:3], iface[4]) for iface in interfaces] or [(0, 1, 0, 0)])
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
            padded=padded,
            start=base,
        )

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
            if code == OPT_IF_TSRESOL and size >= 1:
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
