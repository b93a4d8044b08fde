"""The second pass: the segments of the connections worth it, again, for the exact analysis.

While the first pass reads a capture, a `Keeper` notes where each connection's segments are,
as long as it has few of them: a black-holed connection is a handful of packets, a bulk
transfer is not, and forgetting it keeps memory flat. When every shortlisted connection was
kept, only those records are read again, by their place in the file. Otherwise (a connection
too busy to keep, a gzip capture, records copied out of their file) the capture is read again
from the first frame that matters to the last, and only those connections' segments decoded.
What the other connections tell the exact pass (what each path delivered, the MSS each host
announced) comes from the fast pass's facts (`fast.screen.FastFacts`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import numpy as np

from pcapmtu.capture import Batch, Capture, Placed, RecordIndex, Source, reread
from pcapmtu.decode import Decoder
from pcapmtu.flows import FlowTable
from pcapmtu.model import FlowKey, Record, Segment, TooBig

KEEP_PER_DIRECTION = 4096  # segments of one flow direction kept at most
KEEP_TOTAL = 1 << 17  # segments kept at most, all directions together (about 8 MB)

Pair = frozenset[bytes]
Conn = frozenset[tuple[bytes, int]]  # a connection's two ends (address, port), in either order
Columns = dict[str, np.ndarray]  # a batch's segments as columns (`fast.columns`)
CONN_COLUMNS = ("ip_version", "src_hi", "src_lo", "sport", "dst_hi", "dst_lo", "dport")


class Keeper:
    """Where each connection's segments are in one capture: per batch, where the segments of
    the flow directions still kept are, each with its direction (the fast pass's id; -1 once
    the fast pass forgot it) and a 64-bit mix of its connection's two ends (`conn_mixes`), by
    which they are found again, even those of a connection forgotten in its handshake that
    came back later as a new flow."""

    def __init__(self) -> None:
        # records, their directions, their connections' mixes
        self.pieces: list[tuple[RecordIndex, np.ndarray, np.ndarray]] = []
        self.counts = np.zeros(0, dtype=np.int64)  # per direction: its segments kept
        self.busy = np.zeros(0, dtype=bool)  # per direction: too many, or met when full
        # per direction: its connection's mix (`conn_mixes`, the same for all its segments),
        # once a segment of it was kept (`mixed`): mixed once, not for every segment
        self.mix_of = np.zeros(0, dtype=np.uint64)
        self.mixed = np.zeros(0, dtype=bool)
        self.total = 0  # segments in `pieces` (but those of directions busy)
        self.dead = 0  # segments in `pieces` of directions busy
        self.placeless = False  # segments were met whose place in the file is unknown
        # KEEP_TOTAL was reached: directions met from then on are not kept, until forgotten
        # flows (`renumber`) bring the total down to half
        self.full = False
        self.who: list[FlowKey] = []  # per direction: who it is (the fast pass's `keys`)

    def add(
        self,
        batch: Batch,
        c: Columns,
        dirs: np.ndarray,
        who: list[FlowKey],
        placed: Placed | None = None,
    ) -> None:
        """The segments `c` of `batch`; `dirs`: each one's direction, described in `who`;
        `placed`: where the records are in the copy read again, if not where `batch` says."""
        self.who = who
        if not len(dirs):
            return
        if batch.start is None and placed is None:
            self.placeless = True
            return
        if len(self.busy) < len(who):  # directions met for the first time
            self.busy = _grown(self.busy, len(who), self.full)
            self.counts = _grown(self.counts, len(who), 0)
            self.mix_of = _grown(self.mix_of, len(who), 0)
            self.mixed = _grown(self.mixed, len(who), False)
        live = np.flatnonzero(~self.busy[dirs])
        if not len(live):
            return
        added = np.bincount(dirs[live], minlength=len(self.counts))
        self.counts += added
        over = np.flatnonzero((self.counts > KEEP_PER_DIRECTION) & ~self.busy)
        if self.total + len(live) > KEEP_TOTAL:
            self.full = True
            over = np.flatnonzero((added > 0) & ~self.busy)
        self.total += len(live)
        if len(over):
            self._forget(over)
            live = live[~self.busy[dirs[live]]]
        if len(live):
            rows = c["frame"][live] - batch.first_frame
            kept = dirs[live]
            unmixed = ~self.mixed[kept]
            if unmixed.any():  # directions kept for the first time
                fresh = live[unmixed]
                self.mix_of[kept[unmixed]] = conn_mixes({k: c[k][fresh] for k in CONN_COLUMNS})
                self.mixed[kept[unmixed]] = True
            self.pieces.append((RecordIndex.of(batch, rows, placed), kept, self.mix_of[kept]))

    def _forget(self, dirs: np.ndarray) -> None:
        """These directions are no longer kept (their segments in `pieces` are dead)."""
        dropped = int(self.counts[dirs].sum())
        self.busy[dirs] = True
        self.total -= dropped
        self.dead += dropped
        if self.dead > max(self.total, KEEP_TOTAL // 4):
            self._compact(np.where(self.busy, -2, np.arange(len(self.busy))))

    def _compact(self, new_id: np.ndarray) -> None:
        """Renumber the directions in `pieces` by `new_id` (-1: forgotten, kept as such), and
        drop the segments of those it maps to -2 (busy)."""
        pieces = []
        for index, dirs, mixes in self.pieces:
            ids = np.where(dirs >= 0, new_id[dirs.clip(0)], -1)
            kept = ids >= -1
            if kept.any():
                pieces.append((index.take(kept), ids[kept], mixes[kept]))
        self.pieces = pieces
        self.dead = 0

    def renumber(self, new_id: np.ndarray, who: list[FlowKey]) -> None:
        """The fast pass renumbered its directions (`fast.screen.Screen.evict`): `new_id` gives
        each old id's new one, -1 for a direction forgotten; `who` describes the new ones. The
        segments of the directions forgotten stay, as long as there is room (the connection
        may come back); past half of KEEP_TOTAL, they go, the oldest first."""
        new_id = new_id[: len(self.busy)]
        kept = new_id >= 0
        self._compact(np.where(self.busy, -2, new_id))
        busy = np.full(len(who), self.full)
        counts = np.zeros(len(who), dtype=np.int64)
        mix_of = np.zeros(len(who), dtype=np.uint64)
        mixed = np.zeros(len(who), dtype=bool)
        busy[new_id[kept]] = self.busy[kept]
        counts[new_id[kept]] = self.counts[kept]
        mix_of[new_id[kept]] = self.mix_of[kept]
        mixed[new_id[kept]] = self.mixed[kept]
        self.busy, self.counts, self.who = busy, counts, who
        self.mix_of, self.mixed = mix_of, mixed
        self.total = sum(len(index.frames) for index, _, _ in self.pieces)
        for k, (index, dirs, mixes) in enumerate(self.pieces):
            if self.total <= KEEP_TOTAL // 2:
                break
            here = dirs >= 0
            self.pieces[k] = (index.take(here), dirs[here], mixes[here])
            self.total -= int((~here).sum())
        self.pieces = [piece for piece in self.pieces if len(piece[1])]
        self.full = self.full and self.total > KEEP_TOTAL // 2

    def index_for(self, conns: Iterable[Conn]) -> RecordIndex | None:
        """Where the segments of `conns` are; None if not all kept."""
        if self.placeless:
            return None
        wanted = set(conns)
        ids = np.array(
            [d for d, who in enumerate(self.who) if conn_of(who) in wanted], dtype=np.int64
        )
        if not len(ids) or self.busy[ids].any():
            return None
        mixes = np.array(sorted({_conn_mix(conn) for conn in wanted}), dtype=np.uint64)
        parts = [index.take(np.isin(found, mixes)) for index, _, found in self.pieces]
        parts = [part for part in parts if len(part.frames)]
        return RecordIndex.join(parts) if parts else None


def conn_mixes(c: Columns) -> np.ndarray:
    """Per segment, a 64-bit mix of its connection's two ends: the same both ways."""
    from pcapmtu.fast.screen import mix

    version = c["ip_version"].astype(np.uint64)
    src = mix([version, c["src_hi"], c["src_lo"], c["sport"].astype(np.uint64)])
    dst = mix([version, c["dst_hi"], c["dst_lo"], c["dport"].astype(np.uint64)])
    return mix([np.minimum(src, dst), np.maximum(src, dst)])


def _conn_mix(conn: Conn) -> int:
    """`conn_mixes` of one connection."""
    from pcapmtu.fast.columns import address_halves

    (a, a_port), (b, b_port) = (*sorted(conn), *sorted(conn))[:2]  # one end twice: to itself
    (a_hi, a_lo), (b_hi, b_lo) = address_halves(a), address_halves(b)
    values = {
        "ip_version": 4 if len(a) == 4 else 6,
        "src_hi": a_hi,
        "src_lo": a_lo,
        "sport": a_port,
        "dst_hi": b_hi,
        "dst_lo": b_lo,
        "dport": b_port,
    }
    return int(conn_mixes({k: np.array([v], dtype=np.uint64) for k, v in values.items()})[0])


def _grown(values: np.ndarray, size: int, fill: object) -> np.ndarray:
    """`values` followed by `fill` up to `size` elements."""
    grown = np.full(size, fill, dtype=values.dtype)
    grown[: len(values)] = values[:size]
    return grown


def pair_of(direction: FlowKey) -> Pair:
    """The two hosts of a direction, in either order."""
    return frozenset((direction.src, direction.dst))


def conn_of(direction: FlowKey | Segment) -> Conn:
    """The two ends of a direction (or of a segment's), in either order: what the second pass
    reads by (every connection that used these ports, when they were used again)."""
    return frozenset(((direction.src, direction.sport), (direction.dst, direction.dport)))


def replay(
    source: Source,
    name: str,
    table: FlowTable,
    conns: set[Conn],
    span: tuple[int, int],
    keeper: Keeper | None,
) -> None:
    """Give the exact analysis (`table`) the segments of the connections `conns`, which lie
    between frames `span[0]` and `span[1]`. Their records are decoded by the fast lane where
    it can (it gives what the exact decoder gives: tests/test_columns.py), by the exact
    decoder where it cannot."""
    from pcapmtu.fast import columns  # the second pass of the fast route only

    decoder = Decoder()
    index = keeper.index_for(conns) if keeper is not None else None
    if index is not None:
        # found by a 64-bit mix of their ends: a record of another connection whose mix is
        # the same is left out here
        records = reread(source, index)
        while again := {r.frame: r for r in itertools.islice(records, REREAD_BATCH)}:
            c = columns.decode(Batch.of_records(list(again.values())), decoder).segments
            # the batch numbers its records by their place: their own frames back
            c["frame"] = np.fromiter(again, dtype=np.int64, count=len(again))[c["frame"]]
            for seg in _segments(c, again.__getitem__, decoder):
                if conn_of(seg) in conns:
                    table.add(seg)
        return
    first, last = span
    ends = [sorted(conn) for conn in conns]
    with Capture(source, name=name) as capture:
        for batch in capture.batches():
            if batch.first_frame + len(batch) <= first:
                continue
            if batch.first_frame > last:
                break
            c = columns.decode(batch, decoder).segments
            wanted = (c["frame"] >= first) & (c["frame"] <= last)
            among = np.zeros(len(wanted), dtype=bool)
            for a, b in ((*pair, *pair)[:2] for pair in ends):  # one end twice: to itself
                among |= _is_end(c, "src", a) & _is_end(c, "dst", b)
                among |= _is_end(c, "src", b) & _is_end(c, "dst", a)
            c = columns.take(c, np.flatnonzero(wanted & among))
            for seg in _segments(c, _record_of(batch), decoder):
                table.add(seg)


REREAD_BATCH = 4096  # records read again, decoded together


def _record_of(batch: Batch) -> Callable[[int], Record]:
    """The record of `batch` by its frame number."""
    return lambda frame: batch.record(frame - batch.first_frame)


def _segments(c: Columns, record: Callable[[int], Record], decoder: Decoder) -> list[Segment]:
    """The segments of columns `c` (`fast.columns.decode`) as the exact decoder gives them:
    a SYN whose MSS the columns cannot tell (`mss_unsure`) is decoded again by it, from its
    record (`record(frame)`)."""
    from pcapmtu.fast import columns

    segments = columns.to_segments(c)
    for i in columns.mss_unsure(c).tolist():
        again = decoder.decode(record(segments[i].frame))
        assert isinstance(again, Segment), "a segment decoded again is no segment"
        segments[i] = again
    return segments


def feed(table: FlowTable, records: Iterable[Record], decoder: Decoder) -> tuple[int, list[TooBig]]:
    """Give the exact analysis these records' segments, one by one, in order, each decoded by
    the exact decoder; (how many segments there were, the ICMP too-big messages met)."""
    segments = 0
    too_big: list[TooBig] = []
    for record in records:
        item = decoder.decode(record)
        if isinstance(item, Segment):
            segments += 1
            table.add(item)
        elif isinstance(item, TooBig):
            too_big.append(item)
    return segments, too_big


def _is_end(c: Columns, side: str, end: tuple[bytes, int]) -> np.ndarray:
    """Rows whose `side` ("src" or "dst") address and port are `end`."""
    host, port = end
    return np.asarray(_is_host(c, side, host) & (c[side[0] + "port"] == port))


def _is_host(c: Columns, side: str, host: bytes) -> np.ndarray:
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


def times_of(
    source: Source, frames: Iterable[int], kept: RecordIndex | None = None, name: str | None = None
) -> dict[int, float]:
    """The timestamps of `frames` of a capture: from the records `kept` (a `Keeper.index_for`
    the flows they belong to) when it has them, else read again (headers only), stopping at
    the last one wanted."""
    wanted = np.array(sorted(set(frames)), dtype=np.int64)
    found: dict[int, float] = {}
    if kept is not None:
        hit = np.isin(kept.frames, wanted)
        found.update(zip(kept.frames[hit].tolist(), kept.ts[hit].tolist(), strict=True))
    rest = wanted[~np.isin(wanted, np.array(list(found), dtype=np.int64))]
    if not len(rest):
        return found
    with Capture(source, name=name) as capture:
        for batch in capture.batches():
            frames_here = batch.frames
            hit = np.isin(frames_here, rest)
            found.update(zip(frames_here[hit].tolist(), batch.ts[hit].tolist(), strict=True))
            if frames_here[-1] >= rest[-1]:
                break
    return found
