"""The second pass: the segments of the host pairs worth it, again, for the exact analysis.

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

from pcapmtu.capture import Batch, Capture, RecordIndex, Source, reread
from pcapmtu.decode import Decoder
from pcapmtu.flows import FlowTable
from pcapmtu.model import TCP_SYN, FlowKey, Record, Segment, TooBig

KEEP_PER_PAIR = 4096  # segments of one host pair (or SYNs of one host) kept at most
KEEP_TOTAL = 1 << 17  # segments kept at most, all pairs together (about 7 MB)
KEEP_PIECES = 1 << 15  # pieces (a pair's or host's records of one batch) at most: 700 B each

Pair = frozenset[bytes]
Columns = dict[str, np.ndarray]  # a batch's segments as columns (`fast.columns`)


class Keeper:
    """Where each host pair's segments, and each host's SYNs with an MSS, are in one capture."""

    def __init__(self) -> None:
        self.pairs: dict[Pair, list[RecordIndex] | None] = {}  # None: too many to keep
        self.syns: dict[bytes, list[RecordIndex] | None] = {}
        self.counts: dict[Pair | bytes, int] = {}
        self.total = 0
        self.pieces = 0
        self.placeless = False  # segments were met whose place in the file is unknown
        self.directions: dict[Pair, set[int]] = {}  # the fast pass's directions of each pair
        self.busy = np.zeros(0, dtype=bool)  # per direction: its pair is no longer kept
        # KEEP_TOTAL or KEEP_PIECES was reached once: from then on, pairs and hosts not kept
        # already are not kept, and not noted one by one either (a flood of new flows would
        # fill the tables)
        self.full = False

    def add(self, batch: Batch, c: Columns, dirs: np.ndarray, who: list[FlowKey]) -> None:
        """The segments `c` of `batch`; `dirs`: each one's direction, described in `who`."""
        if not len(dirs):
            return
        if batch.start is None:
            self.placeless = True
            return
        if len(self.busy) < len(who):  # directions met for the first time
            busy = np.zeros(len(who), dtype=bool)
            busy[: len(self.busy)] = self.busy
            for d in range(len(self.busy), len(who)):
                busy[d] = self._kept(self.pairs, pair_of(who[d])) is None
            self.busy = busy
        rows = c["frame"] - batch.first_frame
        live = np.flatnonzero(~self.busy[dirs])
        by_pair: dict[Pair, tuple[list[int], list[np.ndarray]]] = {}
        for d, found in _groups(dirs[live], live).items():
            ids, parts = by_pair.setdefault(pair_of(who[d]), ([], []))
            ids.append(d)
            parts.append(found)
        for pair, (ids, parts) in by_pair.items():  # one piece per pair: few objects
            if not self._keep(self.pairs, pair, batch, rows[np.sort(np.concatenate(parts))]):
                for other in (*self.directions.get(pair, ()), *ids):
                    self.busy[other] = True
            self.directions.setdefault(pair, set()).update(ids)
        syn = np.flatnonzero(((c["flags"] & TCP_SYN) != 0) & (c["mss"] > 0))
        by_host: dict[bytes, list[np.ndarray]] = {}
        for d, found in _groups(dirs[syn], syn).items():
            by_host.setdefault(who[d].src, []).append(found)
        for host, parts in by_host.items():
            self._keep(self.syns, host, batch, rows[np.sort(np.concatenate(parts))])

    def renumber(self, new_id: np.ndarray) -> None:
        """The fast pass renumbered its directions (`fast.screen.Screen.evict`): `new_id` gives
        each old id's new one, -1 for a direction forgotten."""
        old = np.flatnonzero(new_id[: len(self.busy)] >= 0)
        busy = np.zeros(int(new_id.max(initial=-1)) + 1, dtype=bool)
        busy[new_id[old]] = self.busy[old]
        self.busy = busy
        self.directions = {
            pair: {int(new_id[d]) for d in dirs if new_id[d] >= 0}
            for pair, dirs in self.directions.items()
        }

    def _keep(
        self,
        table: dict[Pair, list[RecordIndex] | None] | dict[bytes, list[RecordIndex] | None],
        key: Pair | bytes,
        batch: Batch,
        rows: np.ndarray,
    ) -> bool:
        """Keep `rows` under `key`; False when there are now too many (all are forgotten)."""
        kept = self._kept(table, key)
        if kept is None:
            return False
        count = self.counts.get(key, 0) + len(rows)
        over = self.total + len(rows) > KEEP_TOTAL or self.pieces >= KEEP_PIECES
        if count > KEEP_PER_PAIR or over:
            self.full = self.full or over
            if key in table or not self.full:
                table[key] = None  # type: ignore[index]
            self.total -= self.counts.pop(key, 0)
            self.pieces -= len(kept)
            return False
        kept.append(RecordIndex.of(batch, rows))
        self.pieces += 1
        table[key] = kept  # type: ignore[index]
        self.counts[key] = count
        self.total += len(rows)
        return True

    def _kept(
        self,
        table: dict[Pair, list[RecordIndex] | None] | dict[bytes, list[RecordIndex] | None],
        key: Pair | bytes,
    ) -> list[RecordIndex] | None:
        """What is kept under `key`: None when it is not kept (too many, or met after the
        tables filled up)."""
        if key in table:
            return table[key]  # type: ignore[index]
        return None if self.full else []

    def index_for(self, pairs: Iterable[Pair]) -> RecordIndex | None:
        """Where the segments of `pairs` and their hosts' SYNs are; None if not all kept."""
        if self.placeless:
            return None
        parts: list[RecordIndex] = []
        hosts: set[bytes] = set()
        for pair in pairs:
            kept = self._kept(self.pairs, pair)
            if kept is None:
                return None
            parts += kept
            hosts |= pair
        for host in hosts:
            syns = self._kept(self.syns, host)
            if syns is None:
                return None
            parts += syns
        return RecordIndex.join(parts) if parts else None


def _groups(keys: np.ndarray, items: np.ndarray) -> dict[int, np.ndarray]:
    """`items` grouped by their `keys` (equal length), each group in its original order."""
    if not len(keys):
        return {}
    order = np.argsort(keys, kind="stable")
    keys, items = keys[order], items[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]).tolist()
    stops = [*starts[1:], len(keys)]
    return {int(keys[a]): items[a:b] for a, b in zip(starts, stops, strict=True)}


def pair_of(direction: FlowKey) -> Pair:
    """The two hosts of a direction, in either order: what the second pass reads by."""
    return frozenset((direction.src, direction.dst))


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
    from pcapmtu.fast import columns  # the second pass of the fast route only

    first, last = span
    members = {host for pair in pairs for host in pair}
    with Capture(source, name=name) as capture:
        for batch in capture.batches():
            if batch.first_frame + len(batch) <= first:
                continue
            if batch.first_frame > last:
                break
            c = columns.decode(batch, decoder).segments
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


def feed(table: FlowTable, records: Iterable[Record], decoder: Decoder) -> tuple[int, list[TooBig]]:
    """Give the exact analysis these records' segments, one by one, in order; (how many
    segments there were, the ICMP too-big messages met)."""
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
