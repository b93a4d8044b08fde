"""An open capture: its format recognised, its records read once in batches.

Whether a file can be read at all is decided once, up front, in `Capture.__init__` (missing,
empty, text, damaged header: each its own `CaptureError`); damage found later (a file cut
mid-record, a record claiming an absurd length, a gzip stream cut short) ends the reading with a
`TruncatedCaptureWarning`, and what was read before it is still analysed. One pass, streaming:
a batch is read, analysed and forgotten, so a gigabyte capture needs no more memory than a small
one.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Iterator
from typing import IO

import numpy as np

from pcapmtu.capture.batch import Batch
from pcapmtu.capture.pcap import (
    PCAP_MAGICS,
    PCAP_MODIFIED_MAGICS,
    PCAP_RECORD_HEADER_LEN,
    PcapFormat,
)
from pcapmtu.capture.pcapng import PCAPNG_MAGIC, PcapngFormat
from pcapmtu.capture.source import Source, not_a_capture, open_source, read_exact, sniff
from pcapmtu.errors import (
    CaptureError,
    CorruptCaptureError,
    NotACaptureError,
    TruncatedCaptureWarning,
)
from pcapmtu.model import CaptureInfo, Record


class Capture:
    """An open capture: `info` describes it, iterating yields its `Record`s once.

    Use as a context manager, or call `close()`; iterating to the end also closes it.
    """

    def __init__(self, source: Source, *, name: str | None = None) -> None:
        stream, display, owned = open_source(source, name)
        self._owned = stream if owned else None
        self.info = CaptureInfo(name=display)
        try:
            sniffed = sniff(stream, display)
            if sniffed.gzip is not None:
                self.info.compression = "gzip"
            self._gzip = sniffed.gzip
            self._format = self._recognise(sniffed.stream, sniffed.head)
        except BaseException:
            self.close()
            raise

    def _recognise(self, readable: IO[bytes], head: bytes) -> PcapFormat | PcapngFormat:
        if head in PCAP_MAGICS:
            self.info.format = "pcap"
            return PcapFormat(readable, self.info, self._warn, head)
        if head == PCAPNG_MAGIC:
            self.info.format = "pcapng"
            return PcapngFormat(readable, self.info, self._warn)
        if head in PCAP_MODIFIED_MAGICS:
            raise NotACaptureError(
                f"{self.info.name}: a 'modified pcap' (Kuznetzov) file; convert it with "
                "editcap -F pcap"
            )
        if len(head) < 4:
            raise CorruptCaptureError(f"{self.info.name}: only {len(head)} bytes; no capture")
        raise not_a_capture(self.info.name, head + read_exact(readable, 60))

    @property
    def pcap_header(self) -> tuple[bytes, bool] | None:
        """A pcap file's 24-byte header and whether it is big-endian; None for pcapng."""
        fmt = self._format
        return (fmt.header, fmt.big_endian) if isinstance(fmt, PcapFormat) else None

    @property
    def pcapng_header(self) -> bytes | None:
        """A pcapng file's first Section Header Block, as a copy holding its blocks cut begins
        (`copy_blocks`); None for pcap."""
        fmt = self._format
        return fmt.copy_header if isinstance(fmt, PcapngFormat) else None

    def copy_blocks(self) -> None:
        """Each batch of a pcapng file then says how a copy holds it (`Batch.plan`)."""
        if isinstance(self._format, PcapngFormat):
            self._format.plans = True

    def __iter__(self) -> Iterator[Record]:
        """Every record, one at a time (for the exact pass)."""
        for batch in self.batches():
            yield from batch.records()

    def batches(self) -> Iterator[Batch]:
        """The records in batches of up to 16 MB of file, their headers already in arrays."""
        try:
            for batch in self._format.batches():
                self._account(batch)
                yield batch
            if self._gzip is not None and self._gzip.cut and not self.info.warnings:
                self._warn(
                    f"the gzip data ends early (no end-of-stream marker); analysed the "
                    f"{self.info.packets} packets before its end"
                )
        except (OSError, EOFError, zlib.error) as exc:
            if isinstance(exc, CaptureError):
                raise
            self._warn(f"reading stopped after {self.info.packets} packets: {exc}")
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading (a pass that needs no more records) and close what this opened."""
        fmt = getattr(self, "_format", None)  # None when the capture was not recognised
        if fmt is not None:
            fmt.close()
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
        first = int(batch.link_types[0])
        if batch.link_types[-1] == first and not (batch.link_types != first).any():
            info.link_types[first] = info.link_types.get(first, 0) + n  # one link type: usual
        else:
            kinds, counts = np.unique(batch.link_types, return_counts=True)
            for kind, count in zip(kinds.tolist(), counts.tolist(), strict=True):
                info.link_types[kind] = info.link_types.get(kind, 0) + count
        if info.first_ts is None:
            info.first_ts = float(batch.ts[0])
        info.last_ts = float(batch.ts[-1])
        info.truncated_by_snaplen += int(np.count_nonzero(batch.caplens < batch.orig_lens))
