"""TCP segments as columns in, per-flow counts and a shortlist of suspect paths out, fast.

The first of the two passes of an analysis (`analysis.py` runs both). For every direction of
every flow it counts what the report shows, a batch of segments at a time:

- packets, data packets and bytes, the first and last time, the largest IP packet with data
  (as captured), the MSS its latest SYN announced;
- retransmissions: segments (data, SYN or FIN) that start below the highest sequence number the
  direction had sent, keep-alives (one byte, or none, just below it) excepted;
- for the ACKs it received: duplicate ACKs (a pure ACK repeating the previous one's number and
  window while data beyond that number had been sent), SACK blocks, and D-SACKs (a block at or
  below the cumulative ACK, RFC 2883).

And it screens: it keeps just enough per direction to say whether the exact analysis
(`flows.py` + `detect.py`) *could* find anything there. Each test is implied by a finding's own
conditions, so a flow it passes over cannot hold one; `tests/test_screen.py` checks on every
capture that the findings are the same with and without the shortlist:

- a stall needs `min_full_size_copies` copies of one segment, all larger than 576 bytes and
  than anything its path delivered; so: at least that many less one retransmissions that large;
- a receiver-side gap needs the cumulative ACK to stay below the data sent at some moment for
  `min_hole_s`, and a missing packet larger than what the path delivered (at most the largest
  headers plus the MSS, or plus the largest payload when no MSS is known);
- "what the path delivered" is a size certainly delivered: segments of new data of one size,
  cumulatively acknowledged, more of them than smaller re-sends could have overlapped.

The rules that follow a direction's segments one after another (its sequence numbers, the
ACKs it receives) run compiled (`_native.screen_rows`), or with numpy over a whole batch at
once (`_rows_numpy`) when the module was not built; tests check both give the same result on
every capture. Memory stays flat: per direction a fixed set of numbers, plus the segments in
flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pcapmtu.detect import MIN_TOO_BIG_SIZE, DetectConfig
from pcapmtu.headers import Columns, address
from pcapmtu.model import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN
from pcapmtu.mtu import ETHERNET_MTU

NONE = -(1 << 42)  # "no value yet" for sequence-space numbers (all kept within +-2^42)
LIMIT = 1 << 42
SPAN = 1 << 44  # per-group offset that keeps running maxima from crossing groups
SEQ_MOD = 1 << 32
SEQ_HALF = 1 << 31
GROW = 1024

try:
    from pcapmtu import _native  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: the numpy path
    _native = None

NATIVE = _native is not None
NATIVE_COLUMNS = (
    "seq",
    "ack",
    "flags",
    "window",
    "payload_len",
    "ip_len",
    "header_len",
    "mss",
    "ts",
    "frame",
    "sack_count",
    "sack_left",
    "sack_right",
)
RESENT, NEW_DATA, ACKING, GAP = 1, 2, 4, 8  # the compiled core's per-row codes

# Per-direction state kept between batches, in arrays indexed by direction id.
_INT_FIELDS = (
    "packets",
    "data_packets",
    "data_bytes",
    "retransmissions",
    "dup_acks",
    "sack_blocks",
    "dsacks",
    "largest_ip_len",
    "max_header_len",
    "max_payload",
    "syn_mss",  # of its latest SYN; 0: none or no SYN
    "syn_seen",
    "has_sent",
    "last_raw",
    "last_abs",
    "snd_max",  # NONE until it sent sequence space
    "cum_ack",  # of its data, from the peer's ACKs; NONE until one
    "last_pure_ack",  # the previous ACK of its data, when pure; NONE otherwise
    "last_pure_window",
    "hole_possible",
    "acked_unseen",  # its peer acknowledged bytes beyond the highest it was seen to send
    "first_frame",  # 0 until its first segment
    "last_frame",
)
_FLOAT_FIELDS = ("first_ts", "last_ts")


def _sd(delta: np.ndarray) -> np.ndarray:
    """A difference of raw 32-bit sequence numbers as a signed one."""
    return np.asarray(((delta + SEQ_HALF) & (SEQ_MOD - 1)) - SEQ_HALF)


def _groups(first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group index of each row, start row of each group) from group-start flags."""
    g = np.cumsum(first) - 1
    return g, np.flatnonzero(first)


def _running_max(values: np.ndarray, first: np.ndarray, carry: np.ndarray) -> np.ndarray:
    """Inclusive running maximum within groups of consecutive rows, starting from `carry`
    (one per row: its group's starting value)."""
    g, _ = _groups(first)
    start = np.maximum(values, carry)
    if len(start) and (start.min() < NONE or start.max() > LIMIT):  # never in a real capture
        start = np.clip(start, NONE, LIMIT)
    offset = g * SPAN
    return np.asarray(np.maximum.accumulate(start + offset) - offset)


def _exclusive(inclusive: np.ndarray, first: np.ndarray, carry: np.ndarray) -> np.ndarray:
    """The value before each row: the previous row's, or the carry at a group's start."""
    out = np.empty_like(inclusive)
    out[1:] = inclusive[:-1]
    out[first] = carry[first]
    return out


@dataclass
class DirectionInfo:
    """Who a direction is: its addresses and ports, and its place in the flows."""

    src: bytes
    sport: int
    dst: bytes
    dport: int
    ip_version: int
    flow: int
    side: int  # 0: it sent the flow's first packet; 1: the other
    peer: int = -1


@dataclass
class DirectionCounts:
    """The counts of one direction of one flow (the report's per-flow numbers)."""

    info: DirectionInfo
    packets: int
    data_packets: int
    data_bytes: int
    retransmissions: int
    dup_acks: int
    sack_blocks: int
    dsacks: int
    largest_ip_len: int
    syn_mss: int | None
    peer_syn_mss: int | None
    first_ts: float
    last_ts: float


@dataclass
class Suspect:
    """What the screen keeps about a direction, to judge it against its path's deliveries."""

    src: bytes
    dst: bytes
    top_retransmitted: list[int]  # IP sizes of its largest retransmissions, largest first
    hole_possible: bool
    max_missing_ip_len: int  # the largest packet a receiver-side gap could be missing


@dataclass
class ScreenResult:
    """The screen's findings for one capture."""

    capture: str
    directions: list[DirectionCounts]  # flows in order of their first packet, then side
    suspects: list[Suspect]
    certainly_delivered: dict[tuple[bytes, bytes], int]  # per path: a size surely delivered
    paths: dict[tuple[bytes, bytes], int]  # each path (src, dst) that carried a segment: IP version
    data_seen: bool
    # where in the capture each host pair's segments, and each host's SYNs, are (frames)
    pair_frames: dict[frozenset[bytes], tuple[int, int]]
    host_syn_frames: dict[bytes, tuple[int, int]]

    def frames_to_replay(self, pairs: set[frozenset[bytes]]) -> tuple[int, int] | None:
        """The first and last frame the exact analysis needs to see for these host pairs:
        their segments, and the SYNs their hosts sent (the MSS a host announces anywhere
        sizes its peers' segments)."""
        spans = [self.pair_frames[p] for p in pairs if p in self.pair_frames]
        spans += [self.host_syn_frames[h] for p in pairs for h in p if h in self.host_syn_frames]
        if not spans:
            return None
        return min(first for first, _ in spans), max(last for _, last in spans)

    def hosts_to_replay(
        self, delivered: dict[tuple[bytes, bytes], int], config: DetectConfig
    ) -> set[frozenset[bytes]]:
        """The host pairs where the exact analysis could find something, given what each
        path certainly delivered (pooled over every capture analysed together)."""
        need = max(1, config.min_full_size_copies - 1)
        pairs: set[frozenset[bytes]] = set()
        for s in self.suspects:
            floor = max(MIN_TOO_BIG_SIZE, delivered.get((s.src, s.dst), 0))
            stall = len(s.top_retransmitted) >= need and s.top_retransmitted[need - 1] > floor
            hole = s.hole_possible and s.max_missing_ip_len > floor
            if stall or hole:
                pairs.add(frozenset((s.src, s.dst)))
        return pairs


@dataclass
class _Pending:
    """Rows carried to the next batch: new data not yet acknowledged, ACK points not yet
    passed (a possible gap), per direction."""

    data: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    data_rows: int = 0  # (direction, end, IP size) of new data, in chunks; how many in all
    gap_dir: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    gap_ts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    gap_top: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class Screen:
    """Feed it each batch's segments (`add`), in frame order; then `finish`."""

    def __init__(self, capture: str, config: DetectConfig, *, native: bool = NATIVE) -> None:
        self.capture = capture
        self.native = native and _native is not None  # the compiled per-row core
        self.keep = max(1, config.min_full_size_copies - 1)
        self.min_hole_s = config.min_hole_s
        self.ids: dict[tuple[int, ...], int] = {}  # (version, src, sport, dst, dport) -> id
        self.mixes: dict[int, int] = {}  # mix of a live direction's key -> its id
        self._table: tuple[np.ndarray, np.ndarray] | None = None  # `mixes`, sorted
        self.key_columns = np.zeros((0, len(KEY_COLUMNS)), dtype=np.uint64)
        self.info: list[DirectionInfo] = []
        self.flow_first: list[int] = []  # per flow: its first direction
        self.finished = np.zeros(GROW, dtype=np.int64)  # per flow: FIN or RST seen
        self.size = 0
        self.ints = {name: np.zeros(0, dtype=np.int64) for name in _INT_FIELDS}
        self.floats = {name: np.zeros(0, dtype=np.float64) for name in _FLOAT_FIELDS}
        self.top = np.zeros((0, self.keep), dtype=np.int64)
        # who each direction is, as arrays: its flow, side (0 or 1) and peer (-1: none yet)
        self.flow_of = np.zeros(0, dtype=np.int64)
        self.side_of = np.zeros(0, dtype=np.int64)
        self.peer_of = np.zeros(0, dtype=np.int64)
        self.pending = _Pending()
        # per (direction, IP size) of new data: [acknowledged, smallest and largest payload]
        self.sizes: dict[tuple[int, int], list[int]] = {}
        # per (direction, IP size): [retransmissions, their payload bytes, largest payload]
        self.resent: dict[tuple[int, int], list[int]] = {}
        self.host_mss: dict[bytes, tuple[int, int]] = {}  # host -> (smallest, largest) SYN MSS
        self.host_syn_frames: dict[bytes, tuple[int, int]] = {}  # host -> (first, last)
        self.last_ts: float | None = None

    # -- directions -------------------------------------------------------------------------

    def _new_direction(self, key: tuple[int, ...]) -> int:
        version, src_hi, src_lo, sport, dst_hi, dst_lo, dport = key
        reverse = (version, dst_hi, dst_lo, dport, src_hi, src_lo, sport)
        peer = self.ids.get(reverse, -1)
        if peer >= 0 and self.info[peer].peer < 0:
            flow, side = self.info[peer].flow, 1
        else:
            flow, side, peer = len(self.flow_first), 0, -1
            self.flow_first.append(self.size)
            if flow >= len(self.finished):
                self.finished = np.concatenate([self.finished, np.zeros_like(self.finished)])
        info = DirectionInfo(
            address(src_hi, src_lo, version),
            sport,
            address(dst_hi, dst_lo, version),
            dport,
            version,
            flow,
            side,
            peer,
        )
        d = self.size
        self.info.append(info)
        self.ids[key] = d
        self._table = None
        self._grow(d + 1)
        self.flow_of[d], self.side_of[d], self.peer_of[d] = flow, side, peer
        if peer >= 0:
            self.info[peer].peer = d
            self.peer_of[peer] = d
        return d

    def _grow(self, size: int) -> None:
        if size > len(self.top):
            capacity = max(size, 2 * len(self.top), GROW)
            for name, values in self.ints.items():
                fresh = np.zeros(capacity, dtype=np.int64)
                fresh[: len(values)] = values
                self.ints[name] = fresh
            for name, fvalues in self.floats.items():
                ffresh = np.zeros(capacity, dtype=np.float64)
                ffresh[: len(fvalues)] = fvalues
                self.floats[name] = ffresh
            top = np.zeros((capacity, self.keep), dtype=np.int64)
            top[: len(self.top)] = self.top
            self.top = top
            key_columns = np.zeros((capacity, len(KEY_COLUMNS)), dtype=np.uint64)
            key_columns[: len(self.key_columns)] = self.key_columns
            self.key_columns = key_columns
            for name in ("flow_of", "side_of", "peer_of"):
                old = getattr(self, name)
                fresh = np.full(capacity, -1, dtype=np.int64)
                fresh[: len(old)] = old
                setattr(self, name, fresh)
        for d in range(self.size, size):
            for name in ("snd_max", "cum_ack", "last_pure_ack"):
                self.ints[name][d] = NONE
            self.floats["first_ts"][d] = np.nan
        self.size = max(self.size, size)

    def _direction_ids(self, c: Columns) -> np.ndarray:
        """Each row's direction id; directions first seen here are created in frame order.

        Rows of known directions are found by a 64-bit mix of their key in a sorted table,
        and their keys then compared with the direction's (a collision falls to the exact
        lookup below), compiled or with numpy; the other rows, by their exact key."""
        table_keys, table_dirs = self._mix_table()
        if self.native and len(table_keys):
            assert _native is not None
            keys = tuple(c[name] for name in KEY_COLUMNS)
            raw = _native.known_directions(keys, table_keys, table_dirs, self.key_columns)
            dirs = np.frombuffer(raw, dtype=np.int64).copy()
            rest = np.flatnonzero(dirs < 0)
            columns = [c[name][rest].astype(np.uint64) for name in KEY_COLUMNS]
        else:
            columns = [c[name].astype(np.uint64) for name in KEY_COLUMNS]
            dirs = self._known_directions(columns, table_keys, table_dirs)
            rest = np.flatnonzero(dirs < 0)
            columns = [column[rest] for column in columns]
        if len(rest):
            mixed = mix(columns)
            unique_rows, inverse = distinct(columns)
            ids = np.empty(len(unique_rows), dtype=np.int64)
            for u, (row, key_mix) in enumerate(
                zip(rest[unique_rows].tolist(), mixed[unique_rows].tolist(), strict=True)
            ):
                key = _key_of(c, row)
                d = self.ids.get(key)
                if d is None:
                    d = self._new_direction(key)
                    self.mixes.setdefault(key_mix, d)
                    self.key_columns[d] = key
                ids[u] = d
            dirs[rest] = ids[inverse]
        return dirs

    def _known_directions(
        self, columns: list[np.ndarray], table_keys: np.ndarray, table_dirs: np.ndarray
    ) -> np.ndarray:
        """Each row's direction where its key's mix is in the table and the key is the
        direction's; -1 elsewhere (as `_native.known_directions`)."""
        dirs = np.full(len(columns[0]), -1, dtype=np.int64)
        if len(table_keys):
            mixed = mix(columns)
            at = np.minimum(np.searchsorted(table_keys, mixed), len(table_keys) - 1)
            found = np.flatnonzero(table_keys[at] == mixed)
            candidate = table_dirs[at[found]]
            same = np.ones(len(found), dtype=bool)
            for k, column in enumerate(columns):
                same &= self.key_columns[candidate, k] == column[found]
            dirs[found[same]] = candidate[same]
        return dirs

    def _mix_table(self) -> tuple[np.ndarray, np.ndarray]:
        """The mixes of the live directions' keys, sorted, and their directions."""
        if self._table is None:
            keys = np.fromiter(self.mixes.keys(), dtype=np.uint64, count=len(self.mixes))
            dirs = np.fromiter(self.mixes.values(), dtype=np.int64, count=len(self.mixes))
            order = np.argsort(keys)
            self._table = (keys[order], dirs[order])
        return self._table

    def _reused_at(self, c: Columns, after: int = 0) -> int | None:
        """The first row from `after` on that opens a new connection on the ports of a
        finished flow (a SYN without ACK after a FIN or RST of the same pair of ends)."""
        flags = c["flags"]
        opening = np.flatnonzero((flags & TCP_SYN != 0) & (flags & TCP_ACK == 0))
        opening = opening[opening >= after]
        if not len(opening):
            return None
        closing = (flags & (TCP_FIN | TCP_RST)) != 0
        pair = _pair_ids(c) if closing[: opening[-1]].any() else None
        for row in opening.tolist():
            if pair is not None and np.any(closing[:row] & (pair[:row] == pair[row])):
                return int(row)
            key = _key_of(c, row)
            known = self.ids.get(key, self.ids.get(_reverse(key)))
            if known is not None and self.finished[self.info[known].flow]:
                return int(row)
        return None

    def _forget_ports(self, key: tuple[int, ...]) -> None:
        """A new connection on these ports: the next segments start new directions."""
        for k in (key, _reverse(key)):
            d = self.ids.pop(k, None)
            if d is not None:
                self.mixes = {m: x for m, x in self.mixes.items() if x != d}
                self._table = None

    # -- one batch ---------------------------------------------------------------------------

    def add(self, c: Columns, batch_last_ts: float) -> np.ndarray:
        """The segments of one batch (in frame order), and the time of its last record.
        Returns each segment's direction (an index into `info`)."""
        self.last_ts = batch_last_ts
        n = len(c["frame"])
        dirs = np.zeros(n, dtype=np.int64)
        start = 0
        while start < n:
            rest = {name: values[start:] for name, values in c.items()}
            cut = self._reused_at(rest)
            if cut == 0:
                self._forget_ports(_key_of(rest, 0))
                cut = self._reused_at(rest, after=1)
            stop = n if cut is None else start + cut
            part = {name: values[start:stop] for name, values in c.items()}
            dirs[start:stop] = self._direction_ids(part)
            self._batch(part, dirs[start:stop])
            start = stop
        if self.pending.data_rows > SETTLE_AT:
            self._settle()
        return dirs

    def _batch(self, c: Columns, dirs: np.ndarray) -> None:
        """One run of segments whose directions are all known, in frame order."""
        if not len(dirs):
            return
        self._note_syn_mss(c, (c["flags"] & TCP_SYN) != 0, dirs)
        if self.native:
            self._rows_compiled(c, dirs)
        else:
            self._rows_numpy(c, dirs)

    def _rows_compiled(self, c: Columns, dirs: np.ndarray) -> None:
        """The per-row core, compiled: the same rules as `_rows_numpy`, one row after another
        (tests check that both give the same result on every capture)."""
        assert _native is not None
        peers = self.peer_of[dirs]
        columns = {name: c[name] for name in NATIVE_COLUMNS}
        columns.update(dirs=dirs, peers=peers, flows=self.flow_of[dirs])
        state = {**self.ints, **self.floats, "finished": self.finished}
        raw = _native.screen_rows(columns, state)
        end, cum, top = (np.frombuffer(raw[k], dtype=np.int64) for k in (0, 2, 3))
        code = np.frombuffer(raw[1], dtype=np.uint8)
        payload, ip_len = c["payload_len"], c["ip_len"]
        new = (code & NEW_DATA) != 0
        self._remember_new_data(dirs[new], end[new], ip_len[new], payload[new])
        resent = (code & RESENT) != 0
        self._remember_resent(dirs[resent], ip_len[resent], payload[resent])
        self._keep_top(dirs[resent], ip_len[resent])
        acking = np.flatnonzero(code & ACKING)
        order = acking[_stable_order(peers[acking])]
        acked, cum_a, ts_a, top_a = peers[order], cum[order], c["ts"][order], top[order]
        gap = (code[order] & GAP) != 0
        self._check_gaps(acked, cum_a, ts_a, acked[gap], ts_a[gap], top_a[gap])

    def _rows_numpy(self, c: Columns, dirs: np.ndarray) -> None:
        """The per-row core with numpy, a batch at once. Arrays are in frame order unless
        named `_s` (sorted by direction) or `_a` (ACKs, sorted by the direction they
        acknowledge); each sort is stable, so rows keep their time order within a group."""
        n = len(dirs)
        st, fl = self.ints, self.floats
        flags, payload, ts, ip_len = c["flags"], c["payload_len"], c["ts"], c["ip_len"]
        peers, flows, sides = self.peer_of[dirs], self.flow_of[dirs], self.side_of[dirs]
        has_peer = peers >= 0
        peer_safe = np.maximum(peers, 0)

        # ---- each direction's own segments, in direction order (`_s`: sorted so) ----------
        o = _stable_order(dirs)
        d_s = dirs[o]
        first = np.ones(n, dtype=bool)
        first[1:] = d_s[1:] != d_s[:-1]
        starts = np.flatnonzero(first)
        g = np.cumsum(first) - 1
        group_dir = d_s[starts]
        had = st["has_sent"][group_dir] != 0
        raw_s = c["seq"][o]
        previous = np.empty_like(raw_s)
        previous[1:] = raw_s[:-1]
        previous[starts] = st["last_raw"][group_dir]
        delta = _sd(raw_s - previous)
        delta[starts[~had]] = 0
        total = np.cumsum(delta)
        base = np.where(had, st["last_abs"][group_dir], 0) - (total[starts] - delta[starts])
        seq_abs_s = base[g] + total
        flags_s, payload_s = flags[o], payload[o]
        length_s = payload_s + ((flags_s & TCP_SYN) != 0) + ((flags_s & TCP_FIN) != 0)
        end_s = seq_abs_s + length_s
        carry = st["snd_max"][group_dir][g]
        snd_max_s = _running_max(np.where(length_s > 0, end_s, NONE), first, carry)
        before_s = _exclusive(snd_max_s, first, carry)
        bare = (flags_s & (TCP_SYN | TCP_FIN)) == 0
        keepalive = (payload_s <= 1) & (seq_abs_s == before_s - 1) & bare
        resent = (length_s > 0) & (before_s != NONE) & (seq_abs_s < before_s) & ~keepalive
        data = payload_s > 0
        self._count_own(c, o, starts, group_dir, data, resent)
        ip_len_s = ip_len[o]
        new_data = data & ((before_s == NONE) | (seq_abs_s >= before_s))
        new_data &= ip_len_s <= ETHERNET_MTU
        self._remember_new_data(
            d_s[new_data], end_s[new_data], ip_len_s[new_data], payload_s[new_data]
        )
        self._remember_resent(d_s[resent], ip_len_s[resent], payload_s[resent])
        self._keep_top(d_s[resent], ip_len_s[resent])
        seq_abs = np.empty(n, dtype=np.int64)
        seq_abs[o] = seq_abs_s
        snd_max = np.empty(n, dtype=np.int64)
        snd_max[o] = snd_max_s

        # ---- what each row's peer had sent by then ----------------------------------------
        peer_row = self._peer_rows(flows, sides)
        seen = peer_row >= 0
        at_row = np.maximum(peer_row, 0)

        def peer_latest(values: np.ndarray, carry_field: str, fill: int) -> np.ndarray:
            carry = np.where(has_peer, st[carry_field][peer_safe], fill)
            return np.where(seen, values[at_row], np.where(has_peer, carry, fill))

        raw = c["seq"]
        peer_sent = seen | (has_peer & (st["has_sent"][peer_safe] != 0))
        acking = np.flatnonzero(((flags & TCP_ACK) != 0) & peer_sent)
        peer_raw = peer_latest(raw, "last_raw", 0)[acking]
        peer_abs = peer_latest(seq_abs, "last_abs", 0)[acking]
        peer_snd_max = peer_latest(snd_max, "snd_max", NONE)[acking]

        # ---- ACKs, by the direction whose data they acknowledge (`_a`: sorted so) ---------
        ack_abs = peer_abs + _sd(c["ack"][acking] - peer_raw)
        acked = peers[acking]
        ao = _stable_order(acked)
        rows_a, acked_a = acking[ao], acked[ao]
        a_first = np.ones(len(ao), dtype=bool)
        a_first[1:] = acked_a[1:] != acked_a[:-1]
        a_starts = np.flatnonzero(a_first)
        a_g = np.cumsum(a_first) - 1
        a_dir = acked_a[a_starts]
        ack_a, top_a = ack_abs[ao], peer_snd_max[ao]
        cum_a = _running_max(ack_a, a_first, st["cum_ack"][a_dir][a_g])
        flags_a = flags[rows_a]
        pure = (payload[rows_a] == 0) & ((flags_a & (TCP_SYN | TCP_FIN | TCP_RST)) == 0)
        pure_ack = np.where(pure, ack_a, NONE)
        window = c["window"][rows_a]
        prev_ack = _exclusive(pure_ack, a_first, st["last_pure_ack"][a_dir][a_g])
        prev_window = _exclusive(window, a_first, st["last_pure_window"][a_dir][a_g])
        dup = (
            pure
            & (prev_ack != NONE)
            & (pure_ack == prev_ack)
            & (window == prev_window)
            & (ack_a < top_a)
        )
        self._add_counts("dup_acks", acked_a[dup], np.ones(int(dup.sum()), dtype=np.int64))
        sacking = acking[c["sack_count"][acking] > 0]
        left, right = c["sack_left"][sacking], c["sack_right"][sacking]
        in_use = np.arange(left.shape[1])[None, :] < c["sack_count"][sacking][:, None]
        valid = in_use & (_sd(right - left) > 0)
        dsack = valid & (_sd(right - c["ack"][sacking][:, None]) <= 0)
        self._add_counts("sack_blocks", peers[sacking], valid.sum(axis=1))
        self._add_counts("dsacks", peers[sacking], dsack.sum(axis=1))

        # ---- the screen's facts ----------------------------------------------------------
        # A peer that acknowledges bytes beyond those seen sent (the capture missed some): the
        # exact analysis ignores new data already acknowledged, so this direction's sizes are
        # no proof of delivery. Otherwise no new data can have been acknowledged before it was
        # sent, and new data the cumulative ACK passes later was delivered.
        known = cum_a != NONE
        st["acked_unseen"][acked_a[known & (cum_a > top_a)]] = 1
        gap = known & (top_a != NONE) & (cum_a < top_a)
        ts_a = ts[rows_a]
        self._check_gaps(acked_a, cum_a, ts_a, acked_a[gap], ts_a[gap], top_a[gap])

        # ---- carry the state over to the next batch --------------------------------------
        for f in set(flows[(flags & (TCP_FIN | TCP_RST)) != 0].tolist()):
            self.finished[f] = 1
        last = o[np.r_[starts[1:], n] - 1]
        st["last_raw"][group_dir] = raw[last]
        st["last_abs"][group_dir] = seq_abs[last]
        st["has_sent"][group_dir] = 1
        st["snd_max"][group_dir] = snd_max[last]
        fl["last_ts"][group_dir] = ts[last]
        st["last_frame"][group_dir] = c["frame"][last]
        a_last = np.r_[a_starts[1:], len(ao)][: len(a_starts)] - 1
        st["cum_ack"][a_dir] = cum_a[a_last]
        st["last_pure_ack"][a_dir] = pure_ack[a_last]
        st["last_pure_window"][a_dir] = window[a_last]

    def _peer_rows(self, flows: np.ndarray, sides: np.ndarray) -> np.ndarray:
        """Per row: the latest row of the flow's other side at or before it, or -1."""
        n = len(flows)
        fo = _stable_order(flows)
        f_s = flows[fo]
        first = np.ones(n, dtype=bool)
        first[1:] = f_s[1:] != f_s[:-1]
        group_start = np.flatnonzero(first)[np.cumsum(first) - 1]
        side_s = sides[fo]
        position = np.arange(n)
        latest = []
        for s in (0, 1):
            found = np.maximum.accumulate(np.where(side_s == s, position, -1))
            latest.append(np.where(found >= group_start, found, -1))
        other = np.where(side_s == 0, latest[1], latest[0])
        rows = np.full(n, -1, dtype=np.int64)
        rows[fo] = np.where(other >= 0, fo[np.maximum(other, 0)], -1)
        return rows

    def _note_syn_mss(self, c: Columns, syn: np.ndarray, dirs: np.ndarray) -> None:
        """The smallest and largest MSS each host announced in a SYN, and the frames of the
        first and last SYN with an MSS it sent."""
        for row in np.flatnonzero(syn & (c["mss"] > 0)).tolist():
            src = self.info[int(dirs[row])].src
            mss, frame = int(c["mss"][row]), int(c["frame"][row])
            low, high = self.host_mss.get(src, (mss, mss))
            self.host_mss[src] = (min(low, mss), max(high, mss))
            first, _ = self.host_syn_frames.get(src, (frame, frame))
            self.host_syn_frames[src] = (first, frame)

    def _count_own(
        self,
        c: Columns,
        o: np.ndarray,
        starts: np.ndarray,
        group_dir: np.ndarray,
        data: np.ndarray,
        resent: np.ndarray,
    ) -> None:
        """Add each direction's rows to its counts; rows sorted by direction (`o`), `starts`
        of each direction's run, `data` and `resent` in that order."""
        st, fl = self.ints, self.floats
        n = len(o)
        st["packets"][group_dir] += np.diff(np.r_[starts, n])

        def per_direction(values: np.ndarray, ufunc: np.ufunc = np.add) -> np.ndarray:
            return np.asarray(ufunc.reduceat(values, starts))

        payload = c["payload_len"][o]
        st["data_packets"][group_dir] += per_direction(data.astype(np.int64))
        st["data_bytes"][group_dir] += per_direction(np.where(data, payload, 0))
        st["retransmissions"][group_dir] += per_direction(resent.astype(np.int64))
        for name, values in (
            ("largest_ip_len", c["ip_len"][o]),
            ("max_header_len", c["header_len"][o]),
            ("max_payload", payload),
        ):
            largest = per_direction(np.where(data, values, 0), np.maximum)
            st[name][group_dir] = np.maximum(st[name][group_dir], largest)
        syn = (c["flags"][o] & TCP_SYN) != 0
        latest_syn = per_direction(np.where(syn, np.arange(n), -1), np.maximum)
        has_syn = latest_syn >= 0
        st["syn_mss"][group_dir[has_syn]] = c["mss"][o][latest_syn[has_syn]]
        st["syn_seen"][group_dir[has_syn]] = 1
        fresh = np.isnan(fl["first_ts"][group_dir])
        first_rows = o[starts[fresh]]
        fl["first_ts"][group_dir[fresh]] = c["ts"][first_rows]
        st["first_frame"][group_dir[fresh]] = c["frame"][first_rows]

    def _add_counts(self, name: str, dirs: np.ndarray, values: np.ndarray) -> None:
        if len(dirs):
            self.ints[name][: self.size] += np.bincount(
                dirs, weights=values, minlength=self.size
            ).astype(np.int64)[: self.size]

    def _remember_new_data(
        self, dirs: np.ndarray, end: np.ndarray, size: np.ndarray, payload: np.ndarray
    ) -> None:
        """New data of a size: its smallest and largest payload now, counted once the
        cumulative ACK passes its end (`_settle`)."""
        p = self.pending
        p.data.append((dirs, end, size))
        p.data_rows += len(dirs)
        for (d, s), (low, high) in _extremes(dirs, size, payload).items():
            entry = self.sizes.setdefault((d, s), [0, low, high])
            entry[1], entry[2] = min(entry[1], low), max(entry[2], high)

    def _remember_resent(self, dirs: np.ndarray, size: np.ndarray, payload: np.ndarray) -> None:
        if not len(dirs):
            return
        key = dirs * SIZE_KEY + np.minimum(size, SIZE_KEY - 1)
        keys, inverse = np.unique(key, return_inverse=True)
        counts = np.bincount(inverse)
        sums = np.bincount(inverse, weights=payload).astype(np.int64)
        highs = np.zeros(len(keys), dtype=np.int64)
        np.maximum.at(highs, inverse, payload)
        for k, count, total, high in zip(
            keys.tolist(), counts.tolist(), sums.tolist(), highs.tolist(), strict=True
        ):
            entry = self.resent.setdefault(divmod(k, SIZE_KEY), [0, 0, 0])
            entry[0] += count
            entry[1] += total
            entry[2] = max(entry[2], high)

    def _keep_top(self, dirs: np.ndarray, size: np.ndarray) -> None:
        """The `keep` largest retransmitted sizes per direction."""
        larger = size > self.top[dirs, self.keep - 1]  # only these can enter the top
        dirs, size = dirs[larger], size[larger]
        if not len(dirs):
            return
        touched = np.unique(dirs)
        all_dirs = np.concatenate([np.repeat(touched, self.keep), dirs])
        all_sizes = np.concatenate([self.top[touched].reshape(-1), size])
        order = np.argsort(
            all_dirs * SIZE_KEY + (SIZE_KEY - 1 - np.minimum(all_sizes, SIZE_KEY - 1))
        )
        all_dirs, all_sizes = all_dirs[order], all_sizes[order]
        first = np.ones(len(all_dirs), dtype=bool)
        first[1:] = all_dirs[1:] != all_dirs[:-1]
        starts = np.flatnonzero(first)
        rank = np.arange(len(all_dirs)) - np.repeat(starts, np.diff(np.r_[starts, len(all_dirs)]))
        kept = rank < self.keep
        self.top[all_dirs[kept], rank[kept]] = all_sizes[kept]

    def _check_gaps(
        self,
        row_dirs: np.ndarray,
        cum: np.ndarray,
        ts: np.ndarray,
        gap_dirs: np.ndarray,
        gap_ts: np.ndarray,
        gap_top: np.ndarray,
    ) -> None:
        """A possible receiver-side gap: from an ACK below the data sent (`gap_top`), until a
        cumulative ACK reaches that data, `min_hole_s` or more pass. Settled with this batch's
        ACKs (`row_dirs`: the direction each acknowledges, sorted; `cum`, `ts`: theirs) where
        they reach it; carried over while they do not (and time is short)."""
        p = self.pending
        dirs = np.concatenate([p.gap_dir, gap_dirs])
        since = np.concatenate([p.gap_ts, gap_ts])
        top = np.concatenate([p.gap_top, gap_top])
        if not len(dirs):
            return
        # the first ACK row of the same acknowledged direction whose cumulative ACK >= top
        rows = np.arange(len(row_dirs))
        # number the acknowledged directions 0, 1, ... in their (sorted) order among the rows
        new_group = np.ones(len(rows), dtype=bool)
        new_group[1:] = row_dirs[1:] != row_dirs[:-1]
        group_dirs = row_dirs[new_group]
        row_group = np.cumsum(new_group) - 1
        slot = np.searchsorted(group_dirs, dirs)
        slot_ok = slot < len(group_dirs)
        slot_ok[slot_ok] &= group_dirs[slot[slot_ok]] == dirs[slot_ok]
        group = np.where(slot_ok, slot, -1)
        row_key = row_group * SPAN + np.clip(cum[rows], NONE, LIMIT)
        query = group * SPAN + np.clip(top, NONE, LIMIT)
        found = np.searchsorted(row_key, query, side="left")
        inside = (group >= 0) & (found < len(rows))
        inside[inside] &= row_group[found[inside]] == group[inside]
        reached_ts = np.full(len(dirs), np.inf)
        reached_ts[inside] = ts[rows[found[inside]]]
        last_ts = self.last_ts if self.last_ts is not None else 0.0
        long = np.where(inside, reached_ts, last_ts) - since >= self.min_hole_s
        self.ints["hole_possible"][dirs[long]] = 1
        keep = ~inside & ~long
        dirs, since, top = dirs[keep], since[keep], top[keep]
        # carried over: one per (direction, top), the earliest (it is open the longest)
        order = np.lexsort((since, top, dirs))
        dirs, since, top = dirs[order], since[order], top[order]
        first = np.ones(len(dirs), dtype=bool)
        first[1:] = (dirs[1:] != dirs[:-1]) | (top[1:] != top[:-1])
        p.gap_dir, p.gap_ts, p.gap_top = dirs[first], since[first], top[first]

    def _settle(self) -> None:
        """New data the cumulative ACK has passed counts as delivered at its size."""
        p = self.pending
        if not p.data_rows:
            return
        dirs, end, size = (np.concatenate(column) for column in zip(*p.data, strict=True))
        done = end <= self.ints["cum_ack"][dirs]
        key = dirs[done] * SIZE_KEY + size[done]
        keys, counts = np.unique(key, return_counts=True)
        for k, count in zip(keys.tolist(), counts.tolist(), strict=True):
            self.sizes[divmod(k, SIZE_KEY)][0] += count
        keep = ~done
        p.data = [(dirs[keep], end[keep], size[keep])]
        p.data_rows = int(keep.sum())

    # -- the end ------------------------------------------------------------------------------

    def finish(self, capture_last_ts: float | None) -> ScreenResult:
        self._settle()
        if capture_last_ts is not None:
            self.last_ts = capture_last_ts
        p = self.pending
        if len(p.gap_dir):
            late = (self.last_ts or 0.0) - p.gap_ts >= self.min_hole_s
            self.ints["hole_possible"][p.gap_dir[late]] = 1
        st, fl = self.ints, self.floats
        counts: list[DirectionCounts] = []
        for a in self.flow_first:
            for d in (a, self.info[a].peer):
                if d < 0:
                    continue
                peer = self.info[d].peer
                counts.append(
                    DirectionCounts(
                        info=self.info[d],
                        packets=int(st["packets"][d]),
                        data_packets=int(st["data_packets"][d]),
                        data_bytes=int(st["data_bytes"][d]),
                        retransmissions=int(st["retransmissions"][d]),
                        dup_acks=int(st["dup_acks"][d]),
                        sack_blocks=int(st["sack_blocks"][d]),
                        dsacks=int(st["dsacks"][d]),
                        largest_ip_len=int(st["largest_ip_len"][d]),
                        syn_mss=int(st["syn_mss"][d]) or None,
                        peer_syn_mss=int(st["syn_mss"][peer]) or None if peer >= 0 else None,
                        first_ts=float(fl["first_ts"][d]),
                        last_ts=float(fl["last_ts"][d]),
                    )
                )
        delivered = self._certainly_delivered()
        paths: dict[tuple[bytes, bytes], int] = {}
        suspects = []
        for d, info in enumerate(self.info):
            paths.setdefault((info.src, info.dst), info.ip_version)
            if not st["data_packets"][d]:
                continue
            top = [int(x) for x in self.top[d] if x > 0]
            suspects.append(
                Suspect(
                    info.src,
                    info.dst,
                    top,
                    bool(st["hole_possible"][d]),
                    self._max_missing(d),
                )
            )
        pair_frames: dict[frozenset[bytes], tuple[int, int]] = {}
        for d, info in enumerate(self.info):
            pair = frozenset((info.src, info.dst))
            first, last = int(st["first_frame"][d]), int(st["last_frame"][d])
            known = pair_frames.get(pair, (first, last))
            pair_frames[pair] = (min(known[0], first), max(known[1], last))
        by_path: dict[tuple[bytes, bytes], int] = {}
        for d, size in delivered.items():
            key = (self.info[d].src, self.info[d].dst)
            by_path[key] = max(by_path.get(key, 0), size)
        return ScreenResult(
            capture=self.capture,
            directions=counts,
            suspects=suspects,
            certainly_delivered=by_path,
            paths=paths,
            data_seen=bool(np.any(st["data_packets"][: self.size])),
            pair_frames=pair_frames,
            host_syn_frames=dict(self.host_syn_frames),
        )

    def _known_mss(self, d: int) -> list[int]:
        """The MSS values the exact analysis would take for a direction's segments."""
        info = self.info[d]
        peer_mss = int(self.ints["syn_mss"][info.peer]) if info.peer >= 0 else 0
        if not peer_mss and info.dst in self.host_mss:
            peer_mss = self.host_mss[info.dst][1]
        own_mss = int(self.ints["syn_mss"][d])
        return [m for m in (peer_mss, own_mss) if m]

    def _max_missing(self, d: int) -> int:
        known = self._known_mss(d)
        payload = min(known) if known else int(self.ints["max_payload"][d])
        return int(self.ints["max_header_len"][d]) + payload

    def _certainly_delivered(self) -> dict[int, int]:
        """Per direction: the largest IP size surely delivered in full, by the rule in the
        module docstring."""
        resent: dict[int, list[tuple[int, int, int]]] = {}
        for (d, size), (count, total, high) in self.resent.items():
            resent.setdefault(d, []).append((self._sure_size(d, size, high), count, total))
        found: dict[int, int] = {}
        for (d, size), (acked, low, high) in sorted(self.sizes.items(), reverse=True):
            if d in found or not acked or self._sure_size(d, size, high) != size:
                continue
            if self.ints["acked_unseen"][d]:
                continue
            bound = 0.0
            for sure, count, total in resent.get(d, []):
                if sure < size:
                    bound += total / max(low, 1) + 2 * count
            if acked > bound:
                found[d] = size
        return found

    def _sure_size(self, d: int, size: int, largest_payload: int) -> int:
        """`size` when segments of that IP size and payload crossed the wire at that size
        whatever MSS the exact analysis assumes for them; else 0 (unknown)."""
        smallest = self.host_mss.get(self.info[d].dst, (0, 0))[0]
        if size > ETHERNET_MTU or (smallest and largest_payload > smallest):
            return 0
        return size


SIZE_KEY = 1 << 17  # direction * SIZE_KEY + IP size: one integer key
SETTLE_AT = 1 << 16  # new segments waiting for their ACK before they are counted
KEY_COLUMNS = ("ip_version", "src_hi", "src_lo", "sport", "dst_hi", "dst_lo", "dport")


def _key_of(c: Columns, row: int) -> tuple[int, ...]:
    return tuple(int(c[name][row]) for name in KEY_COLUMNS)


def _reverse(key: tuple[int, ...]) -> tuple[int, ...]:
    version, src_hi, src_lo, sport, dst_hi, dst_lo, dport = key
    return (version, dst_hi, dst_lo, dport, src_hi, src_lo, sport)


def distinct_keys(c: Columns) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (version, source, source port, destination, destination port) of the
    segments: (the first row of each, in row order; each row's index into those)."""
    return distinct([c[name].astype(np.uint64) for name in KEY_COLUMNS])


def _pair_ids(c: Columns) -> np.ndarray:
    """One number per pair of ends (address and port), the same in both directions."""
    a = [c["src_hi"], c["src_lo"], c["sport"].astype(np.uint64)]
    b = [c["dst_hi"], c["dst_lo"], c["dport"].astype(np.uint64)]
    swap = (a[0] > b[0]) | ((a[0] == b[0]) & ((a[1] > b[1]) | ((a[1] == b[1]) & (a[2] > b[2]))))
    low = [np.where(swap, y, x) for x, y in zip(a, b, strict=True)]
    high = [np.where(swap, x, y) for x, y in zip(a, b, strict=True)]
    _, inverse = distinct([c["ip_version"].astype(np.uint64), *low, *high])
    return inverse


HASH_MULTIPLIERS = [  # odd 64-bit constants (from splitmix64) to mix key columns
    0x9E3779B97F4A7C15,
    0xBF58476D1CE4E5B9,
    0x94D049BB133111EB,
    0xD6E8FEB86659FD93,
    0xA0761D6478BD642F,
    0xE7037ED1A0B428DB,
    0x8EBC6AF09C88C6E3,
]


def mix(columns: list[np.ndarray]) -> np.ndarray:
    """One 64-bit number per row from the columns' values (equal rows, equal numbers)."""
    mixed = np.zeros(len(columns[0]), dtype=np.uint64)
    for column, multiplier in zip(columns, HASH_MULTIPLIERS, strict=False):
        mixed = (mixed ^ column) * np.uint64(multiplier)
        mixed ^= mixed >> np.uint64(29)
    return mixed


def distinct(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows with equal values in every column: (the first row of each distinct value, in row
    order; each row's index into those). Sorting one 64-bit mix of the columns is fast; a
    collision is detected and then the columns themselves are compared."""
    mixed = mix(columns)
    _, first, inverse = np.unique(mixed, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if not all(np.array_equal(column, column[first][inverse]) for column in columns):
        rows = np.stack(columns, axis=1)
        _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
    # number the distinct values in order of their first row
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return np.asarray(first[order]), np.asarray(rank[inverse])


def _extremes(
    dirs: np.ndarray, size: np.ndarray, payload: np.ndarray
) -> dict[tuple[int, int], tuple[int, int]]:
    """Per (direction, size): the smallest and largest payload."""
    if not len(dirs):
        return {}
    key = dirs * SIZE_KEY + size
    order = np.argsort(key, kind="stable")
    key, payload = key[order], payload[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    lows = np.minimum.reduceat(payload, starts)
    highs = np.maximum.reduceat(payload, starts)
    return {
        divmod(k, SIZE_KEY): (low, high)
        for k, low, high in zip(key[starts].tolist(), lows.tolist(), highs.tolist(), strict=True)
    }


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """A stable sort's order; few distinct small keys (the usual case) sort as 16-bit numbers,
    which numpy sorts by radix, several times faster."""
    if len(keys):
        low, high = int(keys.min()), int(keys.max())
        if high - low < 1 << 16:
            return np.argsort((keys - low).astype(np.uint16), kind="stable")
    return np.argsort(keys, kind="stable")
