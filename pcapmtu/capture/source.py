"""Where a capture's bytes come from: a path, bytes, stdin or a file object; gzip or not.

Opening decides once whether a file can be read at all (missing, a folder, empty, text: each its
own `CaptureError`). A capture that cannot be read twice (stdin, a file object) is first copied
to a temporary file (`spool`), so it takes the same two passes as a file; a pipe interrupted by
Ctrl-C keeps what arrived. `reread` reads chosen records again, by their place in the capture.
"""

from __future__ import annotations

import gzip
import io
import os
import select
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from pcapmtu.capture.batch import Bytes, RecordIndex
from pcapmtu.errors import (
    CaptureError,
    CaptureNotFoundError,
    CorruptCaptureError,
    EmptyCaptureError,
    NotACaptureError,
)
from pcapmtu.model import Record

Source = str | os.PathLike[str] | Bytes | IO[bytes]

STDIN_NAME = "-"
GZIP_MAGIC = b"\x1f\x8b"
READ_CHUNK = 1 << 20
TEXT_BYTES = frozenset(b"\t\n\r" + bytes(range(32, 127)))
# After Ctrl-C, the writer of a pipe (tcpdump, sent the same SIGINT) flushes what it holds and
# exits: wait this long for that, and no longer than the whole drain allows.
DRAIN_QUIET_S = 0.3
DRAIN_MAX_S = 2.0


def replayable(source: Source) -> bool:
    """Whether a source can be read a second time as it is (a file by its path, or bytes)."""
    return isinstance(source, Bytes) or (
        isinstance(source, str | os.PathLike) and str(source) != STDIN_NAME
    )


def size_of(source: Source) -> int | None:
    """The file's size in bytes, when it is a file or bytes (for a progress fraction)."""
    if isinstance(source, Bytes):
        return len(source)
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
            return self._gzip.readinto(buffer)
        except EOFError:
            self.cut = True
            return 0


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


# -- spooling ---------------------------------------------------------------------------------


@dataclass
class Spooled:
    """A capture that could be read only once, copied to a temporary file (removed by `close`)."""

    path: Path
    name: str  # the name of what was copied ("<stdin>")
    bytes: int
    interrupted: bool  # Ctrl-C stopped the copy: what had arrived is there

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def spool(source: Source, name: str | None = None) -> Spooled:
    """Copy stdin ("-") or a file object to a temporary file (in the system's temporary folder),
    so that it can be read twice. Ctrl-C during the copy stops it: what the writer had sent, and
    what it flushes as it stops (for `tcpdump -w - | ...`, which the terminal interrupts too), is
    kept. A second Ctrl-C is not caught."""
    stream, display, owned = open_source(source, name)
    handle = tempfile.NamedTemporaryFile(prefix="pcapmtu-", suffix=".spool", delete=False)  # noqa: SIM115
    path = Path(handle.name)
    interrupted = False
    try:
        with handle:
            try:
                _copy(stream, handle)
            except KeyboardInterrupt:
                interrupted = True
                _drain(stream, handle)
            written = handle.tell()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        if owned:
            stream.close()
    return Spooled(path, display, written, interrupted)


def _copy(stream: IO[bytes], out: IO[bytes]) -> None:
    """Copy one read at a time (`read1`), so Ctrl-C never loses bytes already read."""
    read = getattr(stream, "read1", stream.read)
    while chunk := read(READ_CHUNK):
        out.write(chunk)


def _drain(stream: IO[bytes], out: IO[bytes]) -> None:
    """What a pipe still holds after Ctrl-C, until its writer closes it or falls quiet."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return
    deadline = time.monotonic() + DRAIN_MAX_S
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], min(DRAIN_QUIET_S, left))
        if not ready:
            return
        chunk = os.read(fd, READ_CHUNK)
        if not chunk:
            return
        out.write(chunk)
