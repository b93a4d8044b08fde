"""Where a capture's bytes come from: a path, bytes, stdin or a file object; gzip or not.

Opening decides once whether a file can be read at all (missing, a folder, empty, text: each its
own `CaptureError`). A capture that cannot be read twice (stdin, a file object) is copied to a
temporary file as it is read (`Tee`: byte for byte, or a pcap's records or a pcapng's blocks
cut to what a later pass reads), so it takes the same two passes as a file; a pipe interrupted
by Ctrl-C keeps what arrived. `reread` reads chosen records again, by their place in the
capture.
"""

from __future__ import annotations

import gzip
import io
import mmap
import os
import queue
import select
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import numpy as np

from pcapmtu.capture import walk
from pcapmtu.capture.batch import Batch, Bytes, EpbRun, Placed, RecordIndex, WholeBlock
from pcapmtu.capture.continued import Continued, ContinuedStream
from pcapmtu.capture.magics import GZIP_MAGIC
from pcapmtu.errors import (
    CaptureError,
    CaptureNotFoundError,
    CorruptCaptureError,
    EmptyCaptureError,
    NotACaptureError,
)
from pcapmtu.model import Record, printable

Source = str | os.PathLike[str] | Bytes | IO[bytes] | Continued

STDIN_NAME = "-"
READ_CHUNK = 1 << 20
TEXT_BYTES = frozenset(b"\t\n\r" + bytes(range(32, 127)))
# After Ctrl-C, the writer of a pipe (tcpdump, sent the same SIGINT) flushes what it holds and
# exits: wait this long for that, and no longer than the whole drain allows.
DRAIN_QUIET_S = 0.3
DRAIN_MAX_S = 2.0
# A read straight from a pipe's descriptor (`Tee._read_direct`) returns at least this often, so
# the reading thread sees `stop` (Ctrl-C) soon.
DIRECT_BUDGET_S = 0.1
COPY_STAGE = 4 << 20  # bytes staged before a write of the copy
COPY_BUFFERS = 4  # staged buffers: one filling while the others are written
COPY_BLOCK = 4096  # direct writes go out in whole blocks of this size
# bytes a stream may hold before the copy's form is chosen (a pcap header is read within the
# first read); past this, the copy is the stream byte for byte
HOLD_MAX = 4 * READ_CHUNK


def replayable(source: Source) -> bool:
    """Whether a source can be read a second time as it is (a file by its path, bytes, or
    files that continue one another)."""
    return isinstance(source, Bytes | Continued) or (
        isinstance(source, str | os.PathLike) and str(source) != STDIN_NAME
    )


def size_of(source: Source) -> int | None:
    """The file's size in bytes, when it is a file or bytes (for a progress fraction)."""
    if isinstance(source, Bytes):
        return len(source)
    if isinstance(source, Continued):
        try:
            return source.size()
        except OSError:
            return None
    if isinstance(source, str | os.PathLike) and str(source) != STDIN_NAME:
        try:
            return os.stat(source).st_size
        except OSError:
            return None
    return None


class Prefixed(io.RawIOBase):
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
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:  # straight into the caller's buffer: no copy, no allocation
            return int(readinto(view) or 0)
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)


class GzipStream(io.RawIOBase):
    """A gzip stream that ends where its data ends: a file cut short (no end-of-stream marker)
    reads as far as it goes, and `cut` says so; damaged data still raises `zlib.error`."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._gzip = gzip.GzipFile(fileobj=stream, mode="rb")
        self.cut = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            # one decompression step at a time: a longer read that meets the cut would lose
            # what it had decompressed before it
            data = self._gzip.read1(len(buffer))
        except EOFError:
            self.cut = True
            return 0
        memoryview(buffer)[: len(data)] = data
        return len(data)


def read_exact(stream: IO[bytes], n: int) -> bytes:
    """Read up to `n` bytes, looping over short reads (pipes and gzip return less)."""
    chunks = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def open_source(source: Source, name: str | None) -> tuple[IO[bytes], str, bool]:
    """(stream, display name, whether we must close it)."""
    stream, display, owned = _open_source(source, name)
    return stream, printable(display), owned


def _open_source(source: Source, name: str | None) -> tuple[IO[bytes], str, bool]:
    if isinstance(source, Continued):
        try:
            stream = ContinuedStream(source)
        except OSError as exc:
            raise CaptureError(f"{source.name}: cannot read it: {exc.strerror or exc}") from exc
        return cast(IO[bytes], stream), name or source.name, True
    if isinstance(source, Bytes):
        return io.BytesIO(bytes(source)), name or "<bytes>", True
    if isinstance(source, str | os.PathLike):
        if str(source) == STDIN_NAME:
            return sys.stdin.buffer, name or "<stdin>", False
        path = Path(source)
        display = printable(name or str(path))
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


@dataclass
class Sniffed:
    """An opened capture stream, positioned after its first four bytes (`head`)."""

    stream: IO[bytes]
    head: bytes
    gzip: GzipStream | None


def sniff(stream: IO[bytes], name: str) -> Sniffed:
    """Read the first bytes: undo gzip, and say whether there is anything at all."""
    head = read_exact(stream, 4)
    if not head:
        raise EmptyCaptureError(f"{name}: the file is empty")
    if head[:2] == GZIP_MAGIC:
        unzipped = GzipStream(cast(IO[bytes], Prefixed(head, stream)))
        stream = cast(IO[bytes], io.BufferedReader(unzipped, READ_CHUNK))
        try:
            head = read_exact(stream, 4)
        except (OSError, zlib.error) as exc:
            raise CorruptCaptureError(f"{name}: damaged gzip data: {exc}") from exc
        if not head:
            raise EmptyCaptureError(f"{name}: the gzip file holds nothing")
        return Sniffed(stream, head, unzipped)
    if _seekable(stream):
        stream.seek(-len(head), io.SEEK_CUR)  # a file: read it directly, from the start
        head = read_exact(stream, 4)
    else:
        stream = cast(IO[bytes], io.BufferedReader(Prefixed(head, stream), READ_CHUNK))
        head = read_exact(stream, 4)
    return Sniffed(stream, head, None)


def not_a_capture(name: str, head: bytes) -> NotACaptureError:
    if head and all(b in TEXT_BYTES for b in head):
        return NotACaptureError(f"{name}: is a text file, not a pcap or pcapng capture")
    shown = " ".join(f"{b:02x}" for b in head[:4])
    return NotACaptureError(f"{name}: not a pcap or pcapng capture (it starts with {shown})")


# -- reading again ------------------------------------------------------------------------------


def reread(source: Source, index: RecordIndex) -> Iterator[Record]:
    """The records of `index`, read again from `source` (a file's path, or bytes). Positions
    are in the capture as decompressed, so a gzip file is read through gzip again."""
    if isinstance(source, Bytes):
        yield from _reread(_decompressed(io.BytesIO(source)), index)
        return
    if isinstance(source, Continued):
        with ContinuedStream(source) as continued:
            yield from _reread(cast(IO[bytes], continued), index)
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
        yield Record(frame, ts, link, read_exact(stream, caplen), orig, iface)


# -- reading once, keeping a copy --------------------------------------------------------------


class Tee(io.RawIOBase):
    """A capture that can be read only once (stdin, a file object), copied to a temporary file
    (in the system's temporary folder) as the first pass reads it, so that the second pass can
    read it again; `close` removes the copy.

    The copy takes one of three forms, chosen once the capture's format is known (the bytes read
    before are held until then): the stream byte for byte (`copy_whole`), or, for a plain pcap
    stream, its records as the first pass hands them over (`copy_records`, `add`), each cut
    to the bytes a later pass reads: bulk TCP is mostly payload, which no later pass reads,
    so the copy of a gigabyte is tens of megabytes, written in a fraction of the time; or, for
    a pcapng stream, its blocks so (`copy_blocks`).

    `stop` (the first Ctrl-C) ends the reading where it is: what the writer still sends as it
    stops (`tcpdump -w - | ...`, which the terminal interrupts too, flushes its buffer) is taken
    for a moment, then the stream reads as ended."""

    def __init__(self, source: Source, name: str | None = None) -> None:
        stream, display, owned = open_source(source, name)
        self.name = display
        self._stream = stream
        self._owned = owned
        # one read at a time, so Ctrl-C never loses bytes already read
        self._readinto = getattr(stream, "readinto1", None) or getattr(stream, "readinto", None)
        try:
            self._fd: int | None = stream.fileno()
        except (OSError, ValueError, AttributeError):
            self._fd = None
        # Read straight from the descriptor (`_read_direct`): a file object's own at once; a
        # buffered reader's (stdin's) once its buffer is known empty (`_read_once`).
        self._buffered_file = isinstance(stream, io.BufferedReader) and isinstance(
            stream.raw, io.FileIO
        )
        self._direct = self._fd is not None and isinstance(stream, io.FileIO)
        self._copy = _Copy()
        self.path = self._copy.path
        self._held: bytearray | None = bytearray()  # read before the copy's form was chosen
        self._records: _Records | None = None  # the records' form: where the next one goes
        self.stopped = False  # by `stop`
        self.ended = False  # the stream ended (or was stopped): nothing more is read
        self._deadline = 0.0
        _widen_pipe(self._fd)

    def readable(self) -> bool:
        return True

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self._deadline = time.monotonic() + DRAIN_MAX_S

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.ended:
            return 0
        count = self._read_direct(buffer) if self._direct and not self.stopped else None
        if count is None:
            if not self._wait():
                self.ended = True
                return 0
            count = self._read_once(buffer)
        self._keep(memoryview(buffer)[:count])
        self.ended = count == 0
        return count

    def _read_direct(self, buffer: bytearray | memoryview) -> int | None:
        """Fill `buffer` from the descriptor, holding no GIL between reads (`walk.fill`): the
        analysing thread, which holds it most of the time, would otherwise keep the pipe
        waiting before every read, and its writer too. None when `stop` came and nothing did:
        the drain's rules (`_wait`) take over."""
        assert self._fd is not None
        while True:
            count, idle = walk.fill(self._fd, buffer, DIRECT_BUDGET_S)
            if not idle:
                return count
            if self.stopped:
                return None

    def _read_once(self, buffer: bytearray | memoryview) -> int:
        """One read through the stream object."""
        if self._readinto is None:  # a file object with read() only
            chunk = self._stream.read(len(buffer))
            memoryview(buffer)[: len(chunk)] = chunk
            return len(chunk)
        count = int(self._readinto(buffer) or 0)
        # A buffered reader gives what it holds before it reads its file again: when it gave
        # less than was asked, it holds nothing more, and the descriptor may be read directly.
        if self._buffered_file and 0 < count < len(buffer):
            self._direct = self._fd is not None
        return count

    def _keep(self, data: memoryview) -> None:
        if self._held is not None:
            self._held += data
            if len(self._held) > HOLD_MAX:  # (no reader chose yet: the whole stream, then)
                self.copy_whole()
        elif self._records is None:
            self._copy.write(data)

    def copy_whole(self) -> None:
        """The copy is the stream byte for byte: a record is where it was in the stream."""
        if self._held is not None:
            held, self._held = self._held, None
            self._copy.write(memoryview(held))

    def copy_records(self, header: bytes, big_endian: bool) -> bool:
        """The copy is a pcap file of `header` (the stream's 24 bytes) and the records `add`
        is given; whether this form was taken (not when `copy_whole` was chosen before)."""
        if self._held is None:
            return False
        self._held = None
        self._copy.write(memoryview(header))
        self._records = _Records(big_endian, len(header))
        return True

    def copy_blocks(self, header: bytes) -> bool:
        """The copy is a pcapng file of `header` (the stream's first Section Header Block) and
        the blocks of the batches `add` is given, as each batch's `plan` says: interfaces and
        later section headers as they are, each Enhanced Packet Block cut as a pcap record is
        (`walk.pack`). Whether this form was taken (as `copy_records`)."""
        if not self.copy_records(header, big_endian=False):
            return False
        assert self._records is not None
        self._records.blocks = True
        return True

    def add(self, batch: Batch, keeps: np.ndarray) -> Placed | None:
        """The copy takes `batch`'s records (all of them, in order, none twice), each cut to
        its first `keeps` captured bytes: where they are in it. None when the copy is the
        stream byte for byte (its records are where the stream had them)."""
        form = self._records
        if form is None:
            return None
        if form.blocks:
            return self._add_blocks(batch, keeps, form)
        packed = walk.pack(batch.data, batch.offsets, keeps, form.big_endian)
        ends = np.cumsum(keeps + walk.PCAP_RECORD_HEADER_LEN, dtype=np.int64)
        placed = Placed(positions=form.size + ends - keeps, caplens=keeps)
        form.size += len(packed)
        self._copy.write(memoryview(packed))
        return placed

    def _add_blocks(self, batch: Batch, keeps: np.ndarray, form: _Records) -> Placed:
        """`add`, for a copy of a pcapng stream's blocks (`copy_blocks`)."""
        if batch.plan is None:
            raise ValueError("a batch of a pcapng stream copied by blocks has no plan")
        keeps = np.asarray(keeps, dtype=np.int64)
        positions = np.empty(len(batch), dtype=np.int64)
        row = 0
        for item in batch.plan:
            if isinstance(item, EpbRun):
                cut = keeps[row : row + len(item.offsets)]
                sizes = walk.epb_sizes(cut)
                ends = form.size + np.cumsum(sizes)
                positions[row : row + len(cut)] = ends - sizes + walk.PCAPNG_HEAD_LEN
                block = walk.pack(item.buf, item.offsets, cut, item.big_endian, pcapng=True)
                row += len(cut)
            elif isinstance(item, WholeBlock):
                positions[row] = form.size + item.data_at
                block = item.block
                row += 1
            else:
                block = item
            form.size += len(block)
            self._copy.write(memoryview(block))
        if row != len(batch):
            raise ValueError(f"a plan of {row} records for a batch of {len(batch)}")
        return Placed(positions=positions, caplens=keeps)

    def _wait(self) -> bool:
        """Whether to read on: wait until the stream has something (or ends), looking out for
        `stop`; after it, read only what arrives within the drain's time."""
        if self._fd is None:
            return not self.stopped
        while True:
            if self.stopped:
                left = self._deadline - time.monotonic()
                if left <= 0:
                    return False
                ready, _, _ = select.select([self._fd], [], [], min(DRAIN_QUIET_S, left))
                return bool(ready)
            ready, _, _ = select.select([self._fd], [], [], DRAIN_QUIET_S)
            if ready:
                return True

    def close(self) -> None:
        """Stop reading and remove the copy."""
        self._copy.close()  # and removes it
        if self._owned:
            self._stream.close()
        super().close()

    def finish(self) -> None:
        """The first pass is over: make the copy complete on disk for the second."""
        self.copy_whole()  # (when no form was chosen)
        self._copy.finish()


@dataclass
class _Records:
    """A copy made of records: their byte order, and the copy's size so far."""

    big_endian: bool
    size: int
    blocks: bool = False  # pcapng: the batches' blocks, as their plans say (`copy_blocks`)


class _Copy:
    """A temporary file written past the page cache where the system allows (O_DIRECT, Linux),
    by a thread of its own: through the page cache, writing a gigabyte here costs more than
    analysing it, and in the reading thread it would hold up the reading. Writes are staged in
    aligned buffers and go out in whole blocks; `finish` writes the rest and waits for it."""

    def __init__(self) -> None:
        import tempfile  # (and shutil, random): only a stream read once needs it

        fd, name = tempfile.mkstemp(prefix="pcapmtu-", suffix=".capture")
        self.path = Path(name)
        self._fd: int | None = fd
        self._direct = _set_direct(fd, True)
        # page-aligned buffers, as O_DIRECT asks: one filling, the others written or free
        self._free: queue.Queue[mmap.mmap] = queue.Queue()
        for _ in range(COPY_BUFFERS):
            self._free.put(mmap.mmap(-1, COPY_STAGE))
        self._full: queue.Queue[tuple[mmap.mmap, int] | None] = queue.Queue()
        self._stage = self._free.get()
        self._staged = 0
        self._size = 0
        self._error: OSError | None = None
        self._writer = threading.Thread(target=self._write_out, name="pcapmtu-copy", daemon=True)
        self._writer.start()

    def write(self, data: memoryview) -> None:
        while len(data):
            n = min(len(data), COPY_STAGE - self._staged)
            self._stage[self._staged : self._staged + n] = data[:n]
            self._staged += n
            data = data[n:]
            if self._staged == COPY_STAGE:
                self._hand_over()

    def _hand_over(self) -> None:
        self._full.put((self._stage, self._staged))
        self._size += self._staged
        self._stage, self._staged = self._free.get(), 0

    def _write_out(self) -> None:
        while (item := self._full.get()) is not None:
            stage, length = item
            try:
                if self._error is None:
                    self._write(memoryview(stage)[: _whole_blocks(length, self._direct)])
            except OSError as exc:
                self._error = exc
            self._free.put(stage)

    def _write(self, view: memoryview) -> None:
        assert self._fd is not None
        try:
            written = os.write(self._fd, view)
        except OSError:  # the file system refuses direct writes after all
            if not self._direct:
                raise
            self._direct = _set_direct(self._fd, False)
            written = os.write(self._fd, view)
        while written < len(view):
            written += os.write(self._fd, view[written:])

    def finish(self) -> None:
        """Write what is staged, wait for every write, and cut the file to its size (a direct
        write goes out in whole blocks)."""
        if self._fd is None:
            return
        if self._staged:
            self._hand_over()
        self._full.put(None)
        self._writer.join()
        if self._error is not None:
            raise self._error
        os.ftruncate(self._fd, self._size)

    def close(self) -> None:
        if self._fd is not None:
            if self._writer.is_alive():
                self._full.put(None)
                self._writer.join()
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)


def _whole_blocks(length: int, direct: bool) -> int:
    return -(-length // COPY_BLOCK) * COPY_BLOCK if direct else length


def _set_direct(fd: int, direct: bool) -> bool:
    """Turn O_DIRECT on or off for `fd`; whether it is on."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False
    try:
        import fcntl

        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | flag) if direct else (flags & ~flag))
    except OSError:
        return False
    return direct


def _widen_pipe(fd: int | None) -> None:
    """Ask for a larger pipe buffer (Linux): fewer, larger reads."""
    if fd is None:
        return
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, READ_CHUNK)
    except (OSError, ValueError, AttributeError, ImportError):
        pass  # not a pipe, not Linux, or not allowed: the default size works too
