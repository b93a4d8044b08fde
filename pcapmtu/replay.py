"""The second pass: the segments of the shortlisted host pairs, again, for the exact analysis.

While the first pass reads a capture, a `Keeper` notes where each host pair's segments are
(and each host's SYNs), as long as a pair has few of them: a black-holed connection is a
handful of packets, a bulk transfer is not, and forgetting it keeps memory flat. When every
shortlisted pair was kept, only those records are read again, by their place in the file.
Otherwise (a pair too busy to keep, a gzip capture, records copied out of their file) the
capture is read again from the first frame that matters to the last.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pcapmtu import headers
from pcapmtu.capture import Batch, Capture, RecordIndex, Source, reread
from pcapmtu.decode import Decoder
from pcapmtu.flows import FlowTable
from pcapmtu.model import TCP_SYN, Record, Segment
from pcapmtu.screen import distinct

KEEP_PER_PAIR = 4096  # segments of one host pair (or SYNs of one host) kept at most
KEEP_TOTAL = 1 << 17  # segments kept at most, all pairs together (about 7 MB)

Pair = frozenset[bytes]


class Keeper:
    """Where each host pair's segments, and each host's SYNs with an MSS, are in one capture."""

    def __init__(self) -> None:
        self.pairs: dict[Pair, list[RecordIndex] | None] = {}  # None: too many to keep
        self.syns: dict[bytes, list[RecordIndex] | None] = {}
        self.counts: dict[Pair | bytes, int] = {}
        self.total = 0
        self.placeless = False  # segments were met whose place in the file is unknown

    def add(self, batch: Batch, c: headers.Columns) -> None:
        """The segments `c` of `batch`."""
        if not len(c["frame"]):
            return
        if batch.start is None:
            self.placeless = True
            return
        rows = c["frame"] - batch.first_frame
        src = [c["ip_version"].astype(np.uint64), c["src_hi"], c["src_lo"]]
        dst = [c["ip_version"].astype(np.uint64), c["dst_hi"], c["dst_lo"]]
        swap = (src[1] > dst[1]) | ((src[1] == dst[1]) & (src[2] > dst[2]))
        low = [np.where(swap, d, s) for s, d in zip(src, dst, strict=True)]
        high = [np.where(swap, s, d) for s, d in zip(src, dst, strict=True)]
        firsts, group = distinct([*low, *high[1:]])
        order = np.argsort(group, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(group, minlength=len(firsts)))]
        for g, first in enumerate(firsts.tolist()):
            pair = frozenset((_address(c, "src", first), _address(c, "dst", first)))
            if self.pairs.get(pair, []) is not None:
                self._keep(self.pairs, pair, batch, rows[order[bounds[g] : bounds[g + 1]]])
        syn = np.flatnonzero(((c["flags"] & TCP_SYN) != 0) & (c["mss"] > 0))
        for i in syn.tolist():
            self._keep(self.syns, _address(c, "src", i), batch, rows[i : i + 1])

    def _keep(
        self,
        table: dict[Pair, list[RecordIndex] | None] | dict[bytes, list[RecordIndex] | None],
        key: Pair | bytes,
        batch: Batch,
        rows: np.ndarray,
    ) -> None:
        kept = table.get(key, [])  # type: ignore[arg-type]
        if kept is None:
            return
        count = self.counts.get(key, 0) + len(rows)
        if count > KEEP_PER_PAIR or self.total + len(rows) > KEEP_TOTAL:
            table[key] = None  # type: ignore[index]
            self.total -= self.counts.pop(key, 0)
            return
        kept.append(RecordIndex.of(batch, rows))
        table[key] = kept  # type: ignore[index]
        self.counts[key] = count
        self.total += len(rows)

    def index_for(self, pairs: Iterable[Pair]) -> RecordIndex | None:
        """Where the segments of `pairs` and their hosts' SYNs are; None if not all kept."""
        if self.placeless:
            return None
        parts: list[RecordIndex] = []
        hosts: set[bytes] = set()
        for pair in pairs:
            kept = self.pairs.get(pair, [])
            if kept is None:
                return None
            parts += kept
            hosts |= pair
        for host in hosts:
            syns = self.syns.get(host, [])
            if syns is None:
                return None
            parts += syns
        return RecordIndex.join(parts) if parts else None


def _address(c: headers.Columns, side: str, row: int) -> bytes:
    return headers.address(
        int(c[side + "_hi"][row]), int(c[side + "_lo"][row]), int(c["ip_version"][row])
    )


def replay(
    source: Source,
    name: str,
    table: FlowTable,
    pairs: set[Pair],
    span: tuple[int, int],
    keeper: Keeper | None,
) -> None:
    """Give the exact analysis (`table`) the segments between the host pairs in `pairs`, and
    those hosts' SYNs, which lie between frames `span[0]` and `span[1]`."""
    decoder = Decoder()
    index = keeper.index_for(pairs) if keeper is not None else None
    if index is not None:
        feed(table, reread(source, index), decoder)
        return
    first, last = span
    members = {host for pair in pairs for host in pair}
    with Capture(source, name=name) as capture:
        for batch in capture.batches():
            if batch.first_frame + len(batch) <= first:
                continue
            if batch.first_frame > last:
                break
            c = headers.decode(batch, decoder).segments
            wanted = np.zeros(len(c["frame"]), dtype=bool)
            for pair in pairs:
                a, b = (*pair, *pair)[:2]  # a pair of one host: its loopback traffic
                a_to_b = _is_host(c, "src", a) & _is_host(c, "dst", b)
                b_to_a = _is_host(c, "src", b) & _is_host(c, "dst", a)
                wanted |= a_to_b | b_to_a
            syn = ((c["flags"] & TCP_SYN) != 0) & (c["mss"] > 0)
            for host in members:
                wanted |= syn & _is_host(c, "src", host)
            frames = c["frame"][wanted]
            frames = frames[(frames >= first) & (frames <= last)]
            feed(table, (batch.record(f - batch.first_frame) for f in frames.tolist()), decoder)


def feed(table: FlowTable, records: Iterable[Record], decoder: Decoder) -> None:
    """Give the exact analysis these records' segments, one by one, in order."""
    for record in records:
        item = decoder.decode(record)
        if isinstance(item, Segment):
            table.add(item)


def _is_host(c: headers.Columns, side: str, host: bytes) -> np.ndarray:
    """Rows whose `side` ("src" or "dst") address is `host`."""
    version = 4 if len(host) == 4 else 6
    if version == 4:
        hi, lo = 0, int.from_bytes(host, "big")
    else:
        hi, lo = int.from_bytes(host[:8], "big"), int.from_bytes(host[8:], "big")
    return np.asarray(
        (c["ip_version"] == version)
        & (c[side + "_hi"] == np.uint64(hi))
        & (c[side + "_lo"] == np.uint64(lo))
    )
