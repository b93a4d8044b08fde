"""TCP segments as columns in, the facts of every flow direction out (`model.DirectionFacts`).

The fast pass computes, for every direction of every flow, what the exact pass (`flows.py`)
would compute for it, by the same rules (`tcp.py`), a batch of segments at a time: counts,
sizes, times; what was new data of each size and whether the cumulative ACK passed it; what was
re-sent, at which size; and, for the receiver side, the longest time the cumulative ACK stayed
below data that had been sent. It decides nothing: which directions are worth the exact pass
is `detect.worth_exact_pass`.

The rules that follow a direction's segments one after another run compiled
(`fast/src/screen.c`); this module finds each segment's direction, carries state between
batches and gathers the facts. Memory stays flat: per direction a fixed set of numbers and a few
sizes, plus the segments in flight. And the directions themselves stay few: past `LIVE_LIMIT` of
them, flows that carried no data (a SYN flood, port scans, health checks) are counted and
forgotten, the least recently active first (`Screen.evict`), so a flood of new flows costs memory
by the flows that carried data, not by its length.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from pcapmtu import tcp
from pcapmtu.fast import _native as native  # type: ignore[attr-defined]
from pcapmtu.fast.columns import Columns, address
from pcapmtu.flows import PathSummary
from pcapmtu.model import (
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    DirectionFacts,
    FlowKey,
    Forgotten,
    LowestUnacked,
)

NONE = -(1 << 42)  # "no value yet" for sequence-space numbers (all kept within +-2^42)
GROW = 1024
KEY_COLUMNS = ("ip_version", "src_hi", "src_lo", "sport", "dst_hi", "dst_lo", "dport")
NATIVE_COLUMNS = (
    "seq",
    "ack",
    "flags",
    "window",
    "payload_len",
    "ip_len",
    "header_len",
    "tcp_header_len",
    "mss",
    "ts",
    "frame",
    "sack_count",
    "sack_left",
    "sack_right",
)
_NONE_UNACKED = LowestUnacked(0, 0, 0)  # no segment with data left unacknowledged
LIVE_LIMIT = 1 << 16  # directions kept before flows without data are forgotten (`Screen.evict`)
HOST_LIMIT = 1 << 16  # hosts remembered before those with no flow left are (`_forget_hosts`)

# Per-direction state kept between batches, in arrays indexed by direction id, by the names the
# compiled core reads and writes; those that are fields of `DirectionFacts` become its facts.
_INT_FIELDS, _CORE_FLOATS = native.state_fields()
_FLOAT_FIELDS = (*_CORE_FLOATS, "longest_gap")
# 0 is None, and flags: set in `_facts`
_CONVERTED = {"syn_mss", "acked_unseen", "newest_push", "ended"}
# from the sequence state, in `_facts`
_DERIVED = {"unacked_at_end", "sent_unseen", "skipped_unacked", "stuck_ack_s", "stuck_ack_hole"}
_FACTS = {f.name for f in fields(DirectionFacts)} - _CONVERTED - _DERIVED
_STARTS_UNSET = (
    "snd_max",
    "cum_ack",
    "last_pure_ack",
    "unseen_start",
    "unseen_end",
    "skip_start",
    "skip_end",
    "ack_cum",
)


@dataclass(slots=True)
class _Direction:
    """Who a direction is, and its place among the flows."""

    key: FlowKey
    flow: int
    peer: int = -1


@dataclass
class FastFacts:
    """The fast pass over one capture: every direction's facts (but those forgotten), each
    host's SYNs, and what each path delivered."""

    capture: str
    directions: list[DirectionFacts]  # in the order of their flows' first segments
    host_mss: dict[bytes, tuple[int, int]]  # host -> smallest and largest MSS of its SYNs
    forgotten: Forgotten = field(default_factory=Forgotten)
    # per path (src, dst): what it delivered, by wire size, as the exact pass's summary
    paths: dict[tuple[bytes, bytes], PathSummary] = field(default_factory=dict)
    # host -> (frame, MSS) of each SYN that raised the largest MSS it announced: the exact pass
    # of some flows learns from them what the others' SYNs said (`flows.FlowTable`)
    host_syns: dict[bytes, list[tuple[int, int]]] = field(default_factory=dict)


class Screen:
    """Feed it each batch's segments (`add`), in frame order, with `evict` after each; then
    `finish`. `limit`: the directions kept before flows without data are forgotten (None:
    never; every flow's facts are then in `finish`'s result)."""

    def __init__(self, capture: str, limit: int | None = LIVE_LIMIT) -> None:
        self.capture = capture
        self.limit = limit
        self.evict_at = limit  # the number of directions that starts the next `evict`
        self.forgotten = Forgotten()
        self.ids: dict[tuple[int, ...], int] = {}  # (version, src, sport, dst, dport) -> id
        self.mixes: dict[int, int] = {}  # mix of a live direction's key -> its id
        self._table: tuple[np.ndarray, np.ndarray] | None = None  # `mixes`, sorted
        self.key_columns = np.zeros((0, len(KEY_COLUMNS)), dtype=np.uint64)
        self.info: list[_Direction] = []
        self.keys: list[FlowKey] = []  # per direction: who it is
        self.flow_first: list[int] = []  # per flow: its first direction
        self.finished = np.zeros(GROW, dtype=np.int64)  # per flow: FIN or RST seen
        self.size = 0
        self.capacity = 0
        self.ints = {name: np.zeros(0, dtype=np.int64) for name in _INT_FIELDS}
        self.floats = {name: np.zeros(0, dtype=np.float64) for name in _FLOAT_FIELDS}
        self.flow_of = np.zeros(0, dtype=np.int64)  # per direction: its flow
        self.peer_of = np.zeros(0, dtype=np.int64)  # per direction: its peer (-1: none yet)
        # new data and gaps waiting for a cumulative ACK (compiled, `fast/src/waiting.c`)
        self.waiting = native.waiting_new()
        # per (direction, IP size) of new data: [acknowledged, smallest and largest payload]
        self.sizes: dict[tuple[int, int], list[int]] = {}
        # per (direction, IP size): [retransmissions, their payload bytes, largest payload]
        self.resent: dict[tuple[int, int], list[int]] = {}
        self.host_mss: dict[bytes, tuple[int, int]] = {}
        self.host_syns: dict[bytes, list[tuple[int, int]]] = {}
        self.last_ts: float | None = None
        # what each direction delivered, by size (compiled, `fast/src/deliver.c`), and the
        # hosts it needs: per direction its two hosts' ids, per host the largest SYN MSS
        self.deliveries = native.deliveries_new()
        self.host_ids: dict[bytes, int] = {}
        self.src_host = np.zeros(0, dtype=np.int64)
        self.dst_host = np.zeros(0, dtype=np.int64)
        self.host_max = np.zeros(GROW, dtype=np.int64)

    # -- directions -------------------------------------------------------------------------

    def _new_direction(self, key: tuple[int, ...]) -> int:
        version, src_hi, src_lo, sport, dst_hi, dst_lo, dport = key
        peer = self.ids.get(_reverse(key), -1)
        if peer >= 0 and self.info[peer].peer < 0:
            flow = self.info[peer].flow
        else:
            flow, peer = len(self.flow_first), -1
            self.flow_first.append(self.size)
            if flow >= len(self.finished):
                self.finished = np.concatenate([self.finished, np.zeros_like(self.finished)])
        who = FlowKey(
            address(src_hi, src_lo, version), sport, address(dst_hi, dst_lo, version), dport
        )
        d = self.size
        self.info.append(_Direction(who, flow, peer))
        self.keys.append(who)
        self.ids[key] = d
        self._table = None
        self._grow(d + 1)
        self.flow_of[d], self.peer_of[d] = flow, peer
        self.src_host[d], self.dst_host[d] = self._host_id(who.src), self._host_id(who.dst)
        if peer >= 0:
            self.info[peer].peer = d
            self.peer_of[peer] = d
        return d

    def _host_id(self, host: bytes) -> int:
        h = self.host_ids.get(host)
        if h is None:
            h = self.host_ids[host] = len(self.host_ids)
            if h >= len(self.host_max):
                self.host_max = _grown(self.host_max, 2 * len(self.host_max))
        return h

    def _grow(self, size: int) -> None:
        if size > self.capacity:
            capacity = max(size, 2 * self.capacity, GROW)
            for table in (self.ints, self.floats):
                for name, values in table.items():
                    table[name] = _grown(values, capacity)
            key_columns = np.zeros((capacity, len(KEY_COLUMNS)), dtype=np.uint64)
            key_columns[: len(self.key_columns)] = self.key_columns
            self.key_columns = key_columns
            for name in ("src_host", "dst_host"):
                setattr(self, name, _grown(getattr(self, name), capacity))
            for name in ("flow_of", "peer_of"):
                old = getattr(self, name)
                grown = np.full(capacity, -1, dtype=np.int64)
                grown[: len(old)] = old
                setattr(self, name, grown)
            self.capacity = capacity
        for d in range(self.size, size):
            for name in _STARTS_UNSET:
                self.ints[name][d] = NONE
            self.floats["first_ts"][d] = np.nan
            self.floats["zero_window_since"][d] = np.nan
            self.floats["stuck_since"][d] = np.nan
            self.floats["gap_since"][d] = np.nan
        self.size = max(self.size, size)

    def _direction_ids(self, c: Columns) -> np.ndarray:
        """Each row's direction id; directions first seen here are created in frame order.

        Rows of known directions are found (compiled) by a 64-bit mix of their key in a sorted
        table, their keys then compared with the direction's; the other rows (new keys, or a
        mix that collides) by their exact key."""
        table_keys, table_dirs = self._mix_table()
        if len(table_keys):
            keys = tuple(c[name] for name in KEY_COLUMNS)
            raw = native.known_directions(keys, table_keys, table_dirs, self.key_columns)
            dirs = np.frombuffer(raw, dtype=np.int64).copy()
        else:
            dirs = np.full(len(c["frame"]), -1, dtype=np.int64)
        rest = np.flatnonzero(dirs < 0)
        if len(rest):
            columns = [c[name][rest].astype(np.uint64) for name in KEY_COLUMNS]
            mixed = mix(columns)
            unique_rows, inverse = distinct(columns)
            ids = np.empty(len(unique_rows), dtype=np.int64)
            for u, (key, key_mix) in enumerate(
                zip(_keys_of(c, rest[unique_rows]), mixed[unique_rows].tolist(), strict=True)
            ):
                d = self.ids.get(key)
                if d is None:
                    d = self._new_direction(key)
                    self.mixes.setdefault(key_mix, d)
                    self.key_columns[d] = key
                ids[u] = d
            dirs[rest] = ids[inverse]
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
        """The first row from `after` on that opens a new connection on the ports of a finished
        flow (`tcp.opens_new_connection`: a SYN without ACK after a FIN or RST of the same
        pair of ends)."""
        flags = c["flags"]
        opening = np.flatnonzero((flags & TCP_SYN != 0) & (flags & TCP_ACK == 0))
        opening = opening[opening >= after]
        if not len(opening):
            return None
        closing = np.flatnonzero((flags & (TCP_FIN | TCP_RST)) != 0)
        reopened = None  # the first SYN after a FIN or RST of its pair of ends in these rows
        if len(closing) and closing[0] < opening[-1]:
            pair = _pair_ids(c)
            first_close = np.full(int(pair.max()) + 1, len(flags), dtype=np.int64)
            np.minimum.at(first_close, pair[closing], closing)
            after_close = opening[first_close[pair[opening]] < opening]
            if len(after_close):
                reopened = int(after_close[0])
                opening = opening[opening < reopened]
        for row, key in zip(opening.tolist(), _keys_of(c, opening), strict=True):
            known = self.ids.get(key, self.ids.get(_reverse(key)))
            if known is not None and self.finished[self.info[known].flow]:
                return int(row)
        return reopened

    def _forget_ports(self, key: tuple[int, ...]) -> None:
        """A new connection on these ports: the next segments start new directions."""
        for k in (key, _reverse(key)):
            d = self.ids.pop(k, None)
            if d is not None:
                m = int(mix([np.array([v], dtype=np.uint64) for v in k])[0])
                if self.mixes.get(m) == d:
                    del self.mixes[m]
                self._table = None

    # -- forgetting flows without data ---------------------------------------------------------

    def evict(self) -> np.ndarray | None:
        """Past `limit` directions, forget the flows without data, the least recently active
        first (those closed by a FIN or RST before the others), down to half the limit: they
        cannot hold a black hole, and are only counted (`forgotten`). A flow that sends data
        after it was forgotten starts again as a new one, as if the capture began then. Past
        `HOST_LIMIT` hosts, those left with no flow are forgotten too (`_forget_hosts`).

        Returns each old direction id's new one (-1: forgotten) when directions were
        forgotten, for whatever holds their ids (`replay.Keeper.renumber`); else None."""
        if self.evict_at is None or self.limit is None or self.size <= self.evict_at:
            return None
        n, flows_n = self.size, len(self.flow_first)
        flow_of = self.flow_of[:n]
        quiet = self._quiet(n)
        loud_flows = np.bincount(flow_of, weights=~quiet, minlength=flows_n) > 0
        last_ts = np.full(flows_n, -np.inf)
        np.maximum.at(last_ts, flow_of, np.nan_to_num(self.floats["last_ts"][:n], nan=-np.inf))
        candidates = np.flatnonzero(~loud_flows)
        order = candidates[np.lexsort((last_ts[candidates], self.finished[candidates] == 0))]
        width = np.bincount(flow_of, minlength=flows_n)[order]  # directions per flow
        excess = n - self.limit // 2
        chosen = order[: int(np.searchsorted(np.cumsum(width), excess)) + 1]
        # the next time: when the live directions grow by half the limit again
        self.evict_at = max(self.limit, n - int(width[: len(chosen)].sum()) + self.limit // 2)
        if not len(chosen):
            return None
        dropped_flows = np.zeros(flows_n, dtype=bool)
        dropped_flows[chosen] = True
        dropped = dropped_flows[flow_of]
        self._count_forgotten(np.flatnonzero(dropped), len(chosen))
        return self._compact(np.flatnonzero(~dropped), np.flatnonzero(~dropped_flows))

    def _quiet(self, n: int) -> np.ndarray:
        """Per direction: it sent no data, and nothing it did can make a finding (no bytes
        acknowledged or sent unseen, no window closed, no gap waiting). An ACK that stopped
        below SACKed bytes (`stuck_since`) does not count: a flood of spoofed ACKs would
        otherwise fill the memory with directions never forgotten. So past `limit` live
        directions, a receiver that sent no data (its request came before the capture began)
        may be forgotten, stuck ACK and all."""
        st, fl = self.ints, self.floats
        quiet = (
            (st["data_packets"][:n] == 0)
            & (st["acked_unseen"][:n] == 0)
            & (st["unseen_start"][:n] == NONE)
            & np.isnan(fl["zero_window_since"][:n])
            & (fl["zero_window_s"][:n] == 0)
            & (fl["longest_gap"][:n] == 0)
        )
        waiting, _ = self._open_gaps()
        quiet[waiting[waiting < n]] = False  # (new data waits only where data was sent)
        return np.asarray(quiet)

    def _open_gaps(self) -> tuple[np.ndarray, np.ndarray]:
        """Each direction with a gap still open, and since when."""
        dirs, since = native.waiting_gaps(self.waiting)
        return np.frombuffer(dirs, dtype=np.int64), np.frombuffer(since, dtype=np.float64)

    def _count_forgotten(self, dirs: np.ndarray, flows: int) -> None:
        gone = self.forgotten
        gone.directions += len(dirs)
        gone.flows += flows
        gone.packets += int(self.ints["packets"][dirs].sum())
        mss = self.ints["syn_mss"][dirs]
        for d, value in zip(dirs[mss > 0].tolist(), mss[mss > 0].tolist(), strict=True):
            who = self.keys[d]
            key = (value, who.ip_version)
            gone.syn_mss[key] = gone.syn_mss.get(key, 0) + 1
            towards = (who.dst, who.src)  # it announced its MSS to the path towards it
            best = gone.path_mss.get(towards)
            if best is None or value > best[0]:
                gone.path_mss[towards] = key

    def _compact(self, kept: np.ndarray, kept_flows: np.ndarray) -> np.ndarray:
        """Keep only directions `kept` and flows `kept_flows`, numbered anew in their order."""
        n, size = self.size, len(kept)
        new_id = np.full(n, -1, dtype=np.int64)
        new_id[kept] = np.arange(size)
        new_flow = np.full(len(self.flow_first), -1, dtype=np.int64)
        new_flow[kept_flows] = np.arange(len(kept_flows))
        for table in (self.ints, self.floats):
            for values in table.values():
                values[:size] = values[kept]
                values[size:n] = 0
        self.key_columns[:size] = self.key_columns[kept]
        for hosts in (self.src_host, self.dst_host):
            hosts[:size] = hosts[kept]
        native.deliveries_compact(self.deliveries, new_id.tobytes())
        native.waiting_compact(self.waiting, new_id.tobytes())
        peers = self.peer_of[kept]
        self.peer_of[:size] = np.where(peers >= 0, new_id[np.maximum(peers, 0)], -1)
        self.flow_of[:size] = new_flow[self.flow_of[kept]]
        self.flow_of[size:n] = self.peer_of[size:n] = -1
        self.finished[: len(kept_flows)] = self.finished[kept_flows]
        self.finished[len(kept_flows) :] = 0
        self.flow_first = new_id[np.asarray(self.flow_first, dtype=np.int64)[kept_flows]].tolist()
        self.keys = [self.keys[d] for d in kept.tolist()]
        self.info = [
            _Direction(who, int(flow), int(peer))
            for who, flow, peer in zip(
                self.keys, self.flow_of[:size].tolist(), self.peer_of[:size].tolist(), strict=True
            )
        ]
        self.ids = {k: int(new_id[d]) for k, d in self.ids.items() if new_id[d] >= 0}
        self.mixes = {m: int(new_id[d]) for m, d in self.mixes.items() if new_id[d] >= 0}
        self._table = None
        self.sizes = {(int(new_id[d]), s): v for (d, s), v in self.sizes.items() if new_id[d] >= 0}
        self.resent = {
            (int(new_id[d]), s): v for (d, s), v in self.resent.items() if new_id[d] >= 0
        }
        self.size = size
        self._forget_hosts()
        return new_id

    def _forget_hosts(self) -> None:
        """Past `HOST_LIMIT` hosts (or paths) remembered for the MSS their SYNs announced,
        forget those left with no flow: a flood from a million addresses would keep a million."""
        gone = self.forgotten
        if max(len(self.host_mss), len(gone.path_mss)) <= HOST_LIMIT:
            return
        hosts = {who.src for who in self.keys} | {who.dst for who in self.keys}
        self.host_mss = {h: v for h, v in self.host_mss.items() if h in hosts}
        self.host_syns = {h: v for h, v in self.host_syns.items() if h in hosts}
        # the hosts of the directions kept, numbered anew
        old_ids = self.host_ids
        self.host_ids = {h: i for i, h in enumerate(sorted(hosts))}
        new_host = np.zeros(max(len(old_ids), 1), dtype=np.int64)
        host_max = np.zeros(max(GROW, 2 * len(self.host_ids)), dtype=np.int64)
        for h, i in self.host_ids.items():
            new_host[old_ids[h]] = i
            host_max[i] = self.host_max[old_ids[h]]
        self.host_max = host_max
        n = self.size
        self.src_host[:n] = new_host[self.src_host[:n]]
        self.dst_host[:n] = new_host[self.dst_host[:n]]
        gone.path_mss = {
            path: v for path, v in gone.path_mss.items() if path[0] in hosts and path[1] in hosts
        }

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
            self._rows(part, dirs[start:stop])
            start = stop
        return dirs

    def _rows(self, c: Columns, dirs: np.ndarray) -> None:
        """One run of segments whose directions are all known, in frame order, through the
        compiled per-row core (the rules of `tcp.py`, one row after another)."""
        if not len(dirs):
            return
        self._note_syn_mss(c, (c["flags"] & TCP_SYN) != 0, dirs)
        columns = {name: c[name] for name in NATIVE_COLUMNS}
        columns["dirs"] = dirs
        state = {**self.ints, **self.floats, "finished": self.finished}
        hosts = {
            "src_host": self.src_host,
            "dst_host": self.dst_host,
            "peer_of": self.peer_of,
            "flow_of": self.flow_of,
            "host_max": self.host_max,
        }
        raw = native.screen_rows(columns, state, self.deliveries, hosts, self.waiting)
        self._add_tally(np.frombuffer(raw, dtype=np.int64).reshape(8, -1))

    def _add_tally(self, tally: np.ndarray) -> None:
        """A batch's tally (`fast/src/waiting.c`), per (direction, IP size): the smallest and
        largest payload of its new data (-1: none), how many of those became acknowledged, and
        what was re-sent (how many, their payload bytes, the largest)."""
        for d, size, low, high, acked, resent, resent_bytes, resent_max in zip(
            *tally.tolist(), strict=True
        ):
            key = (d, size)
            if low >= 0:
                entry = self.sizes.setdefault(key, [0, low, high])
                entry[1], entry[2] = min(entry[1], low), max(entry[2], high)
            if acked:
                self.sizes[key][0] += acked
            if resent:
                entry = self.resent.setdefault(key, [0, 0, 0])
                entry[0] += resent
                entry[1] += resent_bytes
                entry[2] = max(entry[2], resent_max)

    def _note_syn_mss(self, c: Columns, syn: np.ndarray, dirs: np.ndarray) -> None:
        """The smallest and largest MSS each host announced in a SYN, and the frame and MSS of
        each SYN that raised the largest (`FastFacts.host_syns`)."""
        for row in np.flatnonzero(syn & (c["mss"] > 0)).tolist():
            src = self.info[int(dirs[row])].key.src
            mss, frame = int(c["mss"][row]), int(c["frame"][row])
            low, high = self.host_mss.get(src, (mss, mss))
            if src not in self.host_mss or mss > high:
                self.host_syns.setdefault(src, []).append((frame, mss))
            self.host_mss[src] = (min(low, mss), max(high, mss))

    # -- the end ------------------------------------------------------------------------------

    def finish(self, capture_last_ts: float | None) -> FastFacts:
        if capture_last_ts is not None:
            self.last_ts = capture_last_ts
        gap_dirs, since = self._open_gaps()
        if len(gap_dirs):  # gaps still open at the end of the capture
            open_for = (self.last_ts or 0.0) - since
            np.maximum.at(self.floats["longest_gap"], gap_dirs, open_for)
        since = self.floats["zero_window_since"][: self.size]
        closed = ~np.isnan(since)  # windows still closed at the end of the capture
        if closed.any() and self.last_ts is not None:
            longest = self.floats["zero_window_s"][: self.size]
            longest[closed] = np.maximum(longest[closed], self.last_ts - since[closed])
        new_data: dict[int, dict[int, list[int]]] = {}
        for (d, size), entry in self.sizes.items():
            new_data.setdefault(d, {})[size] = entry
        resent: dict[int, dict[int, list[int]]] = {}
        for (d, size), entry in self.resent.items():
            resent.setdefault(d, {})[size] = entry
        most = np.frombuffer(native.deliveries_most_copies(self.deliveries), dtype=np.int64)
        open_gaps = set(gap_dirs.tolist())
        delivered = native.deliveries_sizes(self.deliveries)
        paths = self._paths(delivered)
        lowest = self._lowest_unacked(delivered, paths)
        directions = [
            self._facts(d, new_data.get(d, {}), resent.get(d, {}), most, d in open_gaps, lowest)
            for a in self.flow_first
            for d in (a, self.info[a].peer)
            if d >= 0
        ]
        return FastFacts(
            self.capture,
            directions,
            self.host_mss,
            self.forgotten,
            paths,
            self.host_syns,
        )

    def _lowest_unacked(
        self, raw: tuple[bytes, ...], paths: dict[tuple[bytes, bytes], PathSummary]
    ) -> dict[int, LowestUnacked | None]:
        """Per direction: its lowest segment with data still unacknowledged, given what every
        direction delivered (`raw`, of `native.deliveries_sizes`) and `paths`
        (`DirectionFacts.lowest_unacked`; None: not known, it forgot outstanding segments)."""
        raw_sizes, raw_first, raw_heads = native.deliveries_lowest(self.deliveries)
        sizes = np.frombuffer(raw_sizes, dtype=np.int64)
        first = np.frombuffer(raw_first, dtype=np.float64)
        heads = np.frombuffer(raw_heads, dtype=np.int64)
        cum_ack = self.ints["cum_ack"][: len(sizes)]
        held = (cum_ack != NONE) & (heads <= cum_ack)
        dirs, delivered = (np.frombuffer(raw[k], dtype=np.int64) for k in (0, 1))
        sent_ts = np.frombuffer(raw[4], dtype=np.float64)
        # what each direction delivered that was sent after its lowest segment's first copy
        own = np.zeros(len(sizes), dtype=np.int64)
        after = (sizes[dirs] > 0) & (sent_ts > first[dirs])
        np.maximum.at(own, dirs[after], delivered[after])
        later: dict[tuple[bytes, bytes], _LaterSizes] = {}  # only the paths asked about
        found: dict[int, LowestUnacked | None] = {}
        for d in np.flatnonzero((sizes != 0) | held).tolist():
            if sizes[d] <= 0:
                found[d] = None if sizes[d] < 0 else LowestUnacked(0, 0, 0, bool(held[d]))
                continue
            key = (self.keys[d].src, self.keys[d].dst)
            if key not in later:
                later[key] = _LaterSizes(paths[key])
            found[d] = LowestUnacked(
                int(sizes[d]),
                int(own[d]),
                later[key].largest_after(float(first[d])),
                bool(held[d]),
            )
        return found

    def _paths(self, raw: tuple[bytes, ...]) -> dict[tuple[bytes, bytes], PathSummary]:
        """Per path, what its directions delivered (by size: the latest send time, its frame,
        and the earliest send time), folded in the order the deliveries happened, as the exact
        pass folds them (`raw`: of `native.deliveries_sizes`)."""
        paths: dict[tuple[bytes, bytes], PathSummary] = {}
        for who in self.keys[: self.size]:
            if (who.src, who.dst) not in paths:
                paths[(who.src, who.dst)] = PathSummary(
                    who.src, who.dst, who.ip_version, self.capture
                )
        dirs, sizes, frames, orders = (np.frombuffer(raw[k], dtype=np.int64) for k in range(4))
        ts = np.frombuffer(raw[4], dtype=np.float64)
        first = np.frombuffer(raw[6], dtype=np.float64)
        for k in np.argsort(orders, kind="stable").tolist():
            who = self.keys[int(dirs[k])]
            summary = paths[(who.src, who.dst)]
            summary.add(int(sizes[k]), float(ts[k]), int(frames[k]))
            summary.add_first(int(sizes[k]), float(first[k]))
        return paths

    def _facts(
        self,
        d: int,
        new_data: dict[int, list[int]],
        resent: dict[int, list[int]],
        most_copies: np.ndarray,
        gap_open: bool,
        lowest: dict[int, LowestUnacked | None],
    ) -> DirectionFacts:
        st, fl = self.ints, self.floats
        info = self.info[d]
        state = {name: int(st[name][d]) for name in _INT_FIELDS if name in _FACTS}
        state.update({name: float(fl[name][d]) for name in _CORE_FLOATS if name in _FACTS})
        peer = info.peer
        snd_max, cum_ack = int(st["snd_max"][d]), int(st["cum_ack"][d])
        stuck_since = float(fl["stuck_since"][d])
        stuck = peer < 0 and not np.isnan(stuck_since)  # an ACK that stopped, its peer unseen
        return DirectionFacts(
            **state,
            flow=info.key,
            flow_first_frame=int(st["first_frame"][self.flow_first[info.flow]]),
            syn_mss=int(st["syn_mss"][d]) or None,
            peer_syn_mss=(int(st["syn_mss"][peer]) or None) if peer >= 0 else None,
            new_data=dict(sorted(new_data.items())),
            resent=dict(sorted(resent.items())),
            acked_unseen=bool(st["acked_unseen"][d]),
            newest_push=bool(st["newest_push"][d]),
            ended=bool(st["ended"][d]),
            unacked_at_end=snd_max != NONE and (cum_ack == NONE or cum_ack < snd_max),
            sent_unseen=tcp.unseen_bytes(
                int(st["unseen_start"][d]) if st["unseen_start"][d] != NONE else None,
                int(st["unseen_end"][d]) if st["unseen_end"][d] != NONE else None,
                cum_ack if cum_ack != NONE else None,
            ),
            skipped_unacked=(
                int(st["skip_end"][d] - st["skip_start"][d])
                if cum_ack == NONE and st["skip_start"][d] != NONE
                else 0
            ),
            stuck_ack_s=(self.last_ts or 0.0) - stuck_since if stuck else 0.0,
            stuck_ack_hole=int(st["stuck_hole"][d]) if stuck else 0,
            longest_gap_s=float(fl["longest_gap"][d]),
            gap_open_at_end=gap_open,
            gap_opened_ts=None if np.isnan(fl["gap_since"][d]) else float(fl["gap_since"][d]),
            most_copies=(
                (int(most_copies[d]) if most_copies[d] >= 0 else None)
                if d < len(most_copies)
                else 0
            ),
            lowest_unacked=lowest.get(d, _NONE_UNACKED),
        )


class _LaterSizes:
    """A path's delivered sizes by send time, to ask the largest sent after a time quickly
    (`PathSummary.largest_sent_after`, for many times)."""

    def __init__(self, path: PathSummary) -> None:
        ts = np.array([t for t, _, _ in path.delivered.values()], dtype=np.float64)
        sizes = np.array(list(path.delivered), dtype=np.int64)
        order = np.argsort(ts, kind="stable")
        self.ts = ts[order]
        # the largest size sent at or after each position
        self.most = np.maximum.accumulate(sizes[order][::-1])[::-1] if len(sizes) else sizes

    def largest_after(self, ts: float) -> int:
        """The largest size delivered that was sent after `ts` (0: none)."""
        at = int(np.searchsorted(self.ts, ts, side="right"))
        return int(self.most[at]) if at < len(self.most) else 0


def _grown(values: np.ndarray, capacity: int) -> np.ndarray:
    """`values` in a zero-filled array of `capacity` elements of the same type."""
    fresh = np.zeros(capacity, dtype=values.dtype)
    fresh[: len(values)] = values
    return fresh


def _key_of(c: Columns, row: int) -> tuple[int, ...]:
    return tuple(int(c[name][row]) for name in KEY_COLUMNS)


def _keys_of(c: Columns, rows: np.ndarray) -> list[tuple[int, ...]]:
    """`_key_of` of each of `rows`, at once."""
    return list(zip(*(c[name][rows].tolist() for name in KEY_COLUMNS), strict=True))


def _reverse(key: tuple[int, ...]) -> tuple[int, ...]:
    version, src_hi, src_lo, sport, dst_hi, dst_lo, dport = key
    return (version, dst_hi, dst_lo, dport, src_hi, src_lo, sport)


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
    """One 64-bit number per row from the columns' values (equal rows, equal numbers); the
    compiled `known_directions` mixes keys the same way."""
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
