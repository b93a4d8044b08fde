"""Files that continue one another, read as one capture: tcpdump's -C, -G and -W (ring buffer)
and dumpcap's -b write a long capture as a series of files, and a flow that crosses from one
file to the next is whole only when they are read as one.

`Continued` names such a series; every pass reads it as one stream (`ContinuedStream`): the first
file whole, each next one after its pcap file header (a pcapng file is taken whole: a new
section), so frames and places count on across the files. `group` finds the series among files
given: by their names (tcpdump -C/-W: the name with a number appended, `cap.pcap`, `cap.pcap1`,
...; dumpcap -b: `prefix_00001_20261130050000.pcapng`), or all of them when told (--continued).
Files continue one another when they have the same format and link type, and their first
packets' times come in order.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from pcapmtu.capture.magics import GZIP_MAGIC, PCAP_HEADER_LEN, PCAP_MAGICS, PCAPNG_MAGIC
from pcapmtu.errors import CaptureError, CaptureNotFoundError
from pcapmtu.linktypes import LINKTYPE_MASK
from pcapmtu.model import printable

# tcpdump -C and -W append a number to the file's name; dumpcap -b writes PREFIX_NNNNN_TIME.EXT
TCPDUMP_PIECE = re.compile(r"^(?P<base>.*\D)(?P<number>\d+)$")
PIECE_SUFFIXES = (".pcap", ".pcapng", ".cap")  # uncompressed: pieces are read as one stream
DUMPCAP_PIECE = re.compile(r"^(?P<base>.*)_(?P<number>\d{5})_(?P<time>\d{14})(?P<ext>\.[^.]+)$")


@dataclass(frozen=True)
class Continued:
    """Files that continue one another, in order: one capture to every pass."""

    paths: tuple[str, ...]

    @property
    def name(self) -> str:
        rest = len(self.paths) - 1
        return printable(f"{self.paths[0]} (+{rest} continued)")

    def size(self) -> int:
        return sum(os.stat(p).st_size for p in self.paths)


@dataclass(frozen=True)
class _Piece:
    path: str
    format: str  # "pcap" or "pcapng"
    magic: bytes
    link_type: int | None  # pcap's; None for pcapng
    first_ts: float | None  # of its first packet (pcap); None when unknown or empty


def _piece(path: str) -> _Piece:
    name = printable(path)
    try:
        with open(path, "rb") as f:
            head = f.read(PCAP_HEADER_LEN + 16)
    except FileNotFoundError as exc:
        raise CaptureNotFoundError(f"{name}: no such file") from exc
    except OSError as exc:
        raise CaptureError(f"{name}: cannot read it: {exc.strerror or exc}") from exc
    magic = head[:4]
    if magic[:2] == GZIP_MAGIC:
        raise CaptureError(f"{name}: compressed; continued captures are read uncompressed")
    if magic == PCAPNG_MAGIC:
        return _Piece(path, "pcapng", magic, None, None)
    if magic not in PCAP_MAGICS or len(head) < PCAP_HEADER_LEN:
        raise CaptureError(f"{name}: not a pcap or pcapng capture")
    order, ticks = PCAP_MAGICS[magic]
    link_type = struct.unpack(order + "I", head[20:24])[0] & LINKTYPE_MASK
    first_ts = None
    if len(head) >= PCAP_HEADER_LEN + 8:
        seconds, fraction = struct.unpack(order + "II", head[24:32])
        first_ts = seconds + fraction / ticks
    return _Piece(path, "pcap", magic, link_type, first_ts)


def why_not_continued(paths: Sequence[str]) -> str | None:
    """Why these files (in this order) do not continue one another; None when they do."""
    return _why_not([_piece(p) for p in paths])


def _why_not(pieces: list[_Piece]) -> str | None:
    first = pieces[0]
    for before, piece in itertools.pairwise(pieces):
        name = printable(piece.path)
        if piece.format != first.format or piece.magic != first.magic:
            return f"{name} is not in the format of {printable(first.path)}"
        if piece.link_type != first.link_type:
            return (
                f"{name} has link type {piece.link_type}, "
                f"{printable(first.path)} has {first.link_type}"
            )
        if (
            before.first_ts is not None
            and piece.first_ts is not None
            and piece.first_ts < before.first_ts
        ):
            return f"{name} begins before {printable(before.path)}"
    return None


def continued(paths: Sequence[str | os.PathLike[str]]) -> Continued:
    """These files, in this order, as one capture. Raises `CaptureError` when they cannot
    continue one another (another format or link type, times out of order)."""
    given = tuple(os.fspath(p) for p in paths)
    why = why_not_continued(given)
    if why is not None:
        raise CaptureError(f"not one capture in pieces: {why}")
    return Continued(given)


def group(paths: Sequence[str]) -> tuple[list[str | Continued], list[str]]:
    """The captures among `paths`, with each series of files that continue one another (told
    by their names, `TCPDUMP_PIECE` and `DUMPCAP_PIECE`) as one `Continued`, where the first of
    them was; and a note for each series the names suggest but the files deny."""
    series: dict[tuple[str, str], list[tuple[tuple[int, str], str]]] = {}
    for path in paths:
        key = _series_key(path)
        if key is not None:
            series.setdefault(key[0], []).append((key[1], path))
    found: dict[str, Continued] = {}
    notes = []
    for members in series.values():
        if len({os.path.realpath(path) for _, path in members}) < len(members) or len(members) < 2:
            continue  # one file, or one given twice: nothing to join
        try:
            ordered = _in_order([_piece(path) for _, path in sorted(members)])
        except CaptureError:
            continue  # unreadable: each is analysed (and reported) on its own
        why = _why_not(ordered)
        if why is not None:
            notes.append(f"read as separate captures: {why}")
            continue
        joined = Continued(tuple(p.path for p in ordered))
        for path in joined.paths:
            found[path] = joined
    out: list[str | Continued] = []
    for path in paths:
        one = found.get(path)
        if one is None:
            out.append(path)
        elif one not in out:
            out.append(one)  # where its first file given was
    return out, notes


def _in_order(pieces: list[_Piece]) -> list[_Piece]:
    """Files of one series (given in their names' order), by their first packets' times when
    every one has a packet (a ring buffer, -W, reuses its numbers)."""
    if all(p.first_ts is not None for p in pieces):
        return sorted(pieces, key=lambda p: p.first_ts or 0.0)
    return pieces


def _series_key(path: str) -> tuple[tuple[str, str], tuple[int, str]] | None:
    """(the series a file belongs to, its place in it), by its name; None: no series."""
    folder, name = os.path.split(path)
    dumpcap = DUMPCAP_PIECE.match(name)
    if dumpcap is not None:
        base = dumpcap["base"] + dumpcap["ext"]
        return (folder, "dumpcap:" + base), (int(dumpcap["number"]), dumpcap["time"])
    if name.lower().endswith(PIECE_SUFFIXES):
        return (folder, "tcpdump:" + name), (0, "")  # the first file: no number appended
    tcpdump = TCPDUMP_PIECE.match(name)
    if tcpdump is not None and tcpdump["base"].lower().endswith(PIECE_SUFFIXES):
        return (folder, "tcpdump:" + tcpdump["base"]), (int(tcpdump["number"]) + 1, "")
    return None


class ContinuedStream(io.RawIOBase):
    """The files of a `Continued` as one seekable stream: the first whole, each next one after
    its pcap file header (pcapng whole)."""

    def __init__(self, source: Continued) -> None:
        self._spans: list[tuple[int, str, int, int]] = []  # (start here, path, skip, length)
        at = 0
        for i, path in enumerate(source.paths):
            size = os.stat(path).st_size
            skip = 0
            if i and _piece(path).format == "pcap":
                skip = min(PCAP_HEADER_LEN, size)
            self._spans.append((at, path, skip, size - skip))
            at += size - skip
        self._length = at
        self._pos = 0
        self._open: tuple[int, io.BufferedReader] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        for i, (start, path, skip, length) in enumerate(self._spans):
            if start <= self._pos < start + length:
                stream = self._file(i, path)
                stream.seek(skip + self._pos - start)
                want = min(len(view), start + length - self._pos)
                n = stream.readinto(view[:want]) or 0
                self._pos += n
                return n
        return 0

    def _file(self, i: int, path: str) -> io.BufferedReader:
        if self._open is None or self._open[0] != i:
            self.close_file()
            self._open = (i, open(path, "rb"))  # noqa: SIM115 (kept open between reads)
        return self._open[1]

    def close_file(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None

    def close(self) -> None:
        self.close_file()
        super().close()
