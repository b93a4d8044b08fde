"""Capture files in, records out: pcap and pcapng, plain or gzip, from a path, bytes, stdin or
a file object.

    source.py   where the bytes come from (paths, stdin, gzip), a copy of stdin, reading again
    continued.py  files that continue one another (a rotated capture), read as one
    magics.py   what a file's first bytes say (pcap, pcapng, gzip)
    pcap.py     the pcap format           pcapng.py   the pcapng format
    walk.py     where each record starts, and records packed cut short (compiled `_walk.c`,
                or Python)
    batch.py    records in batches: bytes in one buffer, header fields in arrays
    reader.py   `Capture`: a file opened, its format recognised, its batches read once

The record walks are our own rather than dpkt's: dpkt's pcapng reader decodes only the first
interface (no per-packet link type), and its pcap reader yields a cut record silently and raises
`NeedData` mid-iteration; here each of those cases is one precise warning. dpkt decodes the
packets themselves (`decode.py`).
"""

from pcapmtu.capture.batch import Batch, Bytes, Placed, RecordIndex
from pcapmtu.capture.reader import Capture
from pcapmtu.capture.source import (
    STDIN_NAME,
    Source,
    Tee,
    replayable,
    reread,
    size_of,
)

__all__ = [
    "STDIN_NAME",
    "Batch",
    "Bytes",
    "Capture",
    "Placed",
    "RecordIndex",
    "Source",
    "Tee",
    "replayable",
    "reread",
    "size_of",
]
