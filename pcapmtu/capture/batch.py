"""Records in batches: their bytes in one buffer, their header fields in arrays, and the reading
thread that fills the next buffer while the current one is analysed.

A batch is what both passes take from a capture: the fast pass decodes a batch's records at
once (`fast.columns`), the exact pass one by one (`Batch.records`). Where each record lies in the
file is kept (`Batch.positions`, `RecordIndex`), so the second pass can read again just the
records it needs (`source.reread`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from dataclasses import fields as fields_of
from queue import SimpleQueue
from typing import IO, Generic, TypeVar, cast

import numpy as np

from pcapmtu.model import Record

Bytes = bytes | bytearray | memoryview

BATCH_BYTES = 16 << 20  # of file per batch: the per-call cost of arrays vanishes, memory stays flat
# No link carries a frame this large (BIG TCP super-packets reach 512 KiB); a record that
# claims more is damage, and nothing after it can be trusted.
MAX_RECORD_BYTES = 1 << 20
RESYNC_WINDOW = 1 << 20  # bytes searched for the next record or block after a damaged one
MAX_BLOCK_BYTES = MAX_RECORD_BYTES + 4096  # a pcapng block: the record and its fields

Walked = TypeVar("Walked")  # what a Reader's walk finds in a chunk
Result = TypeVar("Result")  # what an Ahead's call returns


@dataclass
class EpbRun:
    """Records of a pcapng batch from consecutive Enhanced Packet Blocks: their packets' places
    in `buf` (the chunk read), and the section's byte order."""

    buf: Bytes
    offsets: np.ndarray
    big_endian: bool


@dataclass
class WholeBlock:
    """One record of a pcapng batch from a Simple or obsolete Packet Block: the block, and
    where its packet starts in it."""

    block: bytes
    data_at: int


# How a copy of a pcapng stream holds a batch (`source.Tee.copy_blocks`), in order: blocks kept
# as they are (`bytes`: interfaces, a later section's header), then the batch's records, from
# runs of Enhanced Packet Blocks (cut when copied) and whole blocks.
CopyPlan = list[bytes | EpbRun | WholeBlock]


class Batch:
    """Consecutive records of one capture: their bytes stay in `data`, their header fields are
    arrays (one element per record). `records()` turns them into `Record`s one by one."""

    def __init__(
        self,
        *,
        data: Bytes,
        first_frame: int,
        offsets: np.ndarray,
        caplens: np.ndarray,
        orig_lens: np.ndarray,
        ts: np.ndarray,
        link_types: np.ndarray,
        interfaces: np.ndarray,
        start: int | None = None,
        plan: CopyPlan | None = None,
    ) -> None:
        self.data = data
        # where data[0] is in the capture file (after any gzip), when known: see `positions`
        self.start = start
        self.first_frame = first_frame  # the frame number of the first record
        self.offsets = offsets  # int64: where each record's captured bytes start in `data`
        self.caplens = caplens  # int64: captured length
        self.orig_lens = orig_lens  # int64: length on the wire (never less than captured)
        self.ts = ts  # float64: seconds since the epoch
        self.link_types = link_types  # int64
        self.interfaces = interfaces  # int64: interface number across the file
        self.plan = plan  # pcapng, when asked for: how a copy holds it (`CopyPlan`)

    def __len__(self) -> int:
        return len(self.offsets)

    @property
    def positions(self) -> np.ndarray | None:
        """Where each record's captured bytes start in the file (None when not known)."""
        return None if self.start is None else self.offsets + self.start

    @property
    def frames(self) -> np.ndarray:
        return np.arange(self.first_frame, self.first_frame + len(self), dtype=np.int64)

    def record(self, i: int) -> Record:
        at = int(self.offsets[i])
        return Record(
            self.first_frame + i,
            float(self.ts[i]),
            int(self.link_types[i]),
            bytes(memoryview(self.data)[at : at + int(self.caplens[i])]),
            int(self.orig_lens[i]),
            int(self.interfaces[i]),
        )

    def records(self) -> Iterator[Record]:
        data = memoryview(self.data)
        columns = (
            self.offsets.tolist(),
            self.caplens.tolist(),
            self.ts.tolist(),
            self.link_types.tolist(),
            self.orig_lens.tolist(),
            self.interfaces.tolist(),
        )
        for frame, (at, caplen, ts, link, orig, iface) in enumerate(
            zip(*columns, strict=True), self.first_frame
        ):
            yield Record(frame, ts, link, bytes(data[at : at + caplen]), orig, iface)

    @classmethod
    def single(
        cls,
        frame: int,
        ts: float,
        link_type: int,
        data: Bytes,
        orig_len: int,
        iface: int,
        at: int = 0,
    ) -> Batch:
        """One record, whose captured bytes are `data[at:]`."""
        one = np.ones(1, dtype=np.int64)
        return cls(
            data=data,
            first_frame=frame,
            offsets=one * at,
            caplens=one * (len(data) - at),
            orig_lens=one * orig_len,
            ts=np.array([ts], dtype=np.float64),
            link_types=one * link_type,
            interfaces=one * iface,
        )

    @classmethod
    def of_records(cls, records: list[Record]) -> Batch:
        """Records read again (`source.reread`), as one batch to decode at once. Its frame
        numbers are the records' places in the list (`first_frame` 0), not theirs."""
        caplens = np.fromiter((len(r.data) for r in records), dtype=np.int64, count=len(records))
        offsets = np.zeros(len(records), dtype=np.int64)
        np.cumsum(caplens[:-1], out=offsets[1:])
        return cls(
            data=b"".join(r.data for r in records),
            first_frame=0,
            offsets=offsets,
            caplens=caplens,
            orig_lens=np.array([r.orig_len for r in records], dtype=np.int64),
            ts=np.array([r.ts for r in records], dtype=np.float64),
            link_types=np.array([r.link_type for r in records], dtype=np.int64),
            interfaces=np.array([r.interface for r in records], dtype=np.int64),
        )

    def parts(self, most: int) -> Iterator[Batch]:
        """This batch as consecutive batches of at most `most` records each, sharing its bytes
        (itself when it has no more)."""
        if len(self) <= most:
            yield self
            return
        plans = _plan_parts(self.plan, most) if self.plan is not None else None
        for k, start in enumerate(range(0, len(self), most)):
            cut = slice(start, start + most)
            yield Batch(
                data=self.data,
                first_frame=self.first_frame + start,
                offsets=self.offsets[cut],
                caplens=self.caplens[cut],
                orig_lens=self.orig_lens[cut],
                ts=self.ts[cut],
                link_types=self.link_types[cut],
                interfaces=self.interfaces[cut],
                start=self.start,
                plan=plans[k] if plans is not None else None,
            )

    def _used(self) -> Batch:
        """This batch with `data` cut to the span its records' bytes take."""
        low = int(self.offsets.min()) if len(self) else 0
        high = int((self.offsets + self.caplens).max()) if len(self) else 0
        if low == 0 and high == len(self.data):
            return self
        return Batch(
            data=self.data[low:high],
            first_frame=self.first_frame,
            offsets=self.offsets - low,
            caplens=self.caplens,
            orig_lens=self.orig_lens,
            ts=self.ts,
            link_types=self.link_types,
            interfaces=self.interfaces,
            start=None if self.start is None else self.start + low,
        )

    @classmethod
    def join(cls, parts: list[Batch], first_frame: int) -> Batch:
        """One batch of `parts` (whose `data` may differ), numbered from `first_frame`."""
        if len(parts) == 1:
            parts[0].first_frame = first_frame
            return parts[0]  # (a batch of several parts has no `start`: their bytes were copied)
        parts = [p._used() for p in parts]  # only the bytes the records use: parts may share
        datas = [p.data for p in parts]  # a whole read buffer (pcapng runs between blocks)
        starts = np.cumsum([0, *(len(d) for d in datas[:-1])], dtype=np.int64)
        empty = np.zeros(0, dtype=np.int64)

        def cat(name: str, dtype: type = np.int64) -> np.ndarray:
            arrays = [getattr(p, name) for p in parts]
            return np.concatenate(arrays).astype(dtype) if arrays else empty.astype(dtype)

        return cls(
            data=b"".join(datas),
            first_frame=first_frame,
            offsets=np.concatenate([p.offsets + s for p, s in zip(parts, starts, strict=True)])
            if parts
            else empty,
            caplens=cat("caplens"),
            orig_lens=cat("orig_lens"),
            ts=cat("ts", np.float64),
            link_types=cat("link_types"),
            interfaces=cat("interfaces"),
        )


def _plan_parts(plan: CopyPlan, most: int) -> list[CopyPlan]:
    """A batch's plan cut as `Batch.parts` cuts its records (a block kept as it is goes with the
    part before the next record)."""
    parts: list[CopyPlan] = []
    current: CopyPlan = []
    count = 0
    for item in plan:
        n = len(item.offsets) if isinstance(item, EpbRun) else isinstance(item, WholeBlock)
        at = 0
        if not n:
            current.append(item)
        while at < n:
            if count == most:
                parts.append(current)
                current, count = [], 0
            take = min(n - at, most - count)
            if isinstance(item, EpbRun):
                current.append(EpbRun(item.buf, item.offsets[at : at + take], item.big_endian))
            else:
                current.append(item)
            at += take
            count += take
    parts.append(current)
    return parts


@dataclass
class Placed:
    """Where a batch's records are in a copy of their capture that holds each one cut short
    (`source.Tee.add`): where each one's captured bytes start, and how many the copy holds."""

    positions: np.ndarray
    caplens: np.ndarray


@dataclass
class RecordIndex:
    """Where some records of a capture are, and their header fields: to read them again."""

    frames: np.ndarray
    positions: np.ndarray  # of each record's captured bytes in the file
    caplens: np.ndarray
    orig_lens: np.ndarray
    ts: np.ndarray
    link_types: np.ndarray
    interfaces: np.ndarray

    @classmethod
    def of(cls, batch: Batch, rows: np.ndarray, placed: Placed | None = None) -> RecordIndex:
        """Records `rows` (numbers within the batch) of a batch whose `positions` are known,
        or which a copy holds (`placed`)."""
        if placed is not None:
            positions, caplens = placed.positions[rows], placed.caplens[rows]
        else:
            assert batch.start is not None
            # (not `positions`: the whole batch's, each time)
            positions, caplens = batch.offsets[rows] + batch.start, batch.caplens[rows]
        return cls(
            batch.first_frame + rows,
            positions,
            caplens,
            batch.orig_lens[rows],
            batch.ts[rows],
            batch.link_types[rows],
            batch.interfaces[rows],
        )

    def take(self, rows: np.ndarray) -> RecordIndex:
        """These records only (`rows`: a mask or numbers)."""
        return RecordIndex(*(getattr(self, f.name)[rows] for f in fields_of(self)))

    @classmethod
    def join(cls, parts: list[RecordIndex]) -> RecordIndex:
        """All of `parts`, in frame order, each record once."""
        fields = [np.concatenate([getattr(p, f.name) for p in parts]) for f in fields_of(cls)]
        frames = fields[0]
        _, first = np.unique(frames, return_index=True)
        return cls(*(values[first] for values in fields))


class Buffers:
    """Two read buffers used in turn, allocated once: no fresh 16 MB (and its page faults) per
    batch. So a batch's bytes stay valid until the batch after the next one is read."""

    def __init__(self) -> None:
        self._arrays: list[np.ndarray] = []
        self._turn = 0

    def fill(self, stream: IO[bytes], rest: Bytes) -> tuple[memoryview, int]:
        """`rest` and then up to BATCH_BYTES more of `stream`: (the bytes, how many came from
        the stream)."""
        if len(self._arrays) < 2:
            # not zeroed: only the bytes read are used (zeroing 17 MB that was freed before,
            # as the next capture's or the next pass's buffers are, cost more than a small
            # capture's whole analysis)
            self._arrays.append(np.empty(BATCH_BYTES + MAX_BLOCK_BYTES, dtype=np.uint8))
        array = self._arrays[self._turn % len(self._arrays)]
        self._turn += 1
        kept = len(rest)
        array[:kept] = np.frombuffer(rest, dtype=np.uint8)
        view = memoryview(array.data)
        got, limit = kept, kept + BATCH_BYTES
        while got < limit:
            count = stream.readinto(view[got:limit])  # type: ignore[attr-defined]
            if not count:
                break
            got += count
        return view[:got], got - kept


class Ahead(Generic[Result]):
    """Calls run one after another in one thread of its own (named pcapmtu-read), each one's
    result or exception handed back by `result`, in the order they were given. The thread is
    started once, not once per call: starting one cost about a millisecond on a slow machine,
    60 times for a gigabyte. What concurrent.futures' pool of one thread did for the reading,
    without loading concurrent.futures and logging when the command starts. The thread does
    not hold up the end of the process, and ends by itself once told to stop (`stop`), after
    the call it is in."""

    def __init__(self) -> None:
        self._calls: SimpleQueue[Callable[[], Result] | None] = SimpleQueue()
        self._results: SimpleQueue[tuple[bool, object]] = SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="pcapmtu-read")
        self._thread.daemon = True
        self._thread.start()

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            try:
                self._results.put((True, call()))
            except BaseException as exc:  # handed to the thread that waits (`result`)
                self._results.put((False, exc))
            del call  # not kept alive (with what it holds) while the thread waits

    def submit(self, call: Callable[[], Result]) -> None:
        """Run `call` after the calls given before it."""
        self._calls.put(call)

    def result(self) -> Result:
        """The next call's result, once it has returned; its exception, once it has raised."""
        ok, value = self._results.get()
        if not ok:
            raise cast(BaseException, value)
        return cast("Result", value)

    def stop(self, wait: bool = True) -> None:
        """End the thread after the calls given; with `wait`, until it has ended."""
        self._calls.put(None)
        if wait:
            self._thread.join()


class Reader(Generic[Walked]):
    """Reads the next chunk in a thread while the current one is analysed (file reads and
    gzip release the GIL): the batches of a capture from the page cache cost no read time.
    The same thread walks the chunk (`walk`, compiled, lets go of the GIL too) while its bytes
    are fresh in the cache, so the analysing thread gets the records' places ready."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self._buffers = Buffers()
        self._ahead: Ahead[tuple[memoryview, int, Walked]] | None = None  # once reading
        self._pending = False

    def start(self, rest: Bytes, walk: Callable[[memoryview], Walked]) -> None:
        """Begin reading: `rest` (left over from the last chunk), then more of the stream;
        then `walk` the chunk, in the reading thread."""
        assert not self._pending, "the chunk begun before was not waited for"
        if self._ahead is None:
            self._ahead = Ahead()
        self._ahead.submit(lambda: self._fill_and_walk(rest, walk))
        self._pending = True

    def _fill_and_walk(
        self, rest: Bytes, walk: Callable[[memoryview], Walked]
    ) -> tuple[memoryview, int, Walked]:
        buf, more = self._buffers.fill(self.stream, rest)
        return buf, more, walk(buf)

    def wait(self) -> tuple[memoryview, int, Walked]:
        """The chunk `start` began: (its bytes, how many came from the stream, its walk)."""
        assert self._ahead is not None and self._pending
        self._pending = False
        return self._ahead.result()

    def close(self, wait: bool = True) -> None:
        """Stop reading ahead; with `wait`, until the reading thread has ended."""
        ahead, self._ahead = self._ahead, None
        self._pending = False
        if ahead is not None:
            ahead.stop(wait)

    def __enter__(self) -> Reader[Walked]:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        # A generator of batches stopped early (closed, or freed by the garbage collector,
        # which may run in any thread at any allocation, even inside the start of a new
        # thread): the reading thread is told to stop and left to end by itself. Joining it
        # there could deadlock on the interpreter's thread locks.
        self.close(wait=kind is not GeneratorExit)
