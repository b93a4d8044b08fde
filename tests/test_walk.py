"""The compiled record walker and the Python one give the same answers on every capture."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from pcapmtu.capture import walk
from tests.conftest import REPO, SAMPLES

CORPUS = REPO.parent / "shared" / "corpus" / "public"
FILES = sorted(SAMPLES.glob("*.pcap*")) + sorted(CORPUS.glob("*.pcap*"))
MAX = 1 << 20


def _body(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def test_the_walker_is_compiled_under_ci() -> None:
    import os

    if os.environ.get("CI") == "true":
        assert walk.COMPILED, "pcapmtu.capture._walk was not built: is a C compiler installed?"


@pytest.mark.skipif(not walk.COMPILED, reason="pcapmtu.capture._walk was not built")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_compiled_and_python_walks_agree(path: Path) -> None:
    data = _body(path)
    if data[:4] == b"\x0a\x0d\x0d\x0a" and len(data) >= 12:
        big = data[8:12] == b"\x1a\x2b\x3c\x4d"
        start = struct.unpack(">I" if big else "<I", data[4:8])[0]
        ng = [walk.pcapng(data, start, big, MAX, compiled=c) for c in (True, False)]
        assert ng[0][0].tolist() == ng[1][0].tolist()
        assert ng[0][1].tolist() == ng[1][1].tolist()
        assert ng[0][2:] == ng[1][2:]
    else:
        big = data[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
        results = [walk.pcap(data, 24, big, MAX, compiled=c) for c in (True, False)]
        assert results[0][0].tolist() == results[1][0].tolist()
        assert results[0][1:] == results[1][1:]
        ticks = 10**9 if data[:4] in (b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1") else 10**6
        both = [walk.pcap_records(data, 24, big, MAX, ticks, compiled=c) for c in (True, False)]
        for compiled, python in zip(both[0][:4], both[1][:4], strict=True):
            assert compiled.dtype == python.dtype
            assert compiled.tobytes() == python.tobytes()  # the times to the last bit
        assert both[0][4:] == both[1][4:] == results[0][2:]
        assert both[0].offsets.tolist() == (results[0][0] + 16).tolist()


def test_the_records_walk_reads_each_header_s_fields() -> None:
    """SYNTHETIC records: where each one's bytes start, its lengths (on the wire never less than
    captured, as a record cut by the snaplen or a damaged one claims), its time from seconds
    and fraction, in both byte orders and both precisions; it stops where `pcap` stops."""
    for order, big in (("<", False), (">", True)):
        for ticks in (10**6, 10**9):
            records = [(1_700_000_000, 999_999, 4, 60), (1_700_000_001, 7, 6, 6), (3, 0, 2, 1)]
            data = b"".join(
                struct.pack(order + "IIII", *r) + bytes(range(r[2])) for r in records
            ) + struct.pack(order + "IIII", 1, 0, 2 << 20, 60)
            for compiled in {False, walk.COMPILED}:
                found = walk.pcap_records(data, 0, big, MAX, ticks, compiled=compiled)
                assert found.offsets.tolist() == [16, 36, 58]
                assert found.caplens.tolist() == [4, 6, 2]
                assert found.orig_lens.tolist() == [60, 6, 2]
                assert found.ts.tolist() == [s + f / ticks for s, f, _, _ in records]
                assert (found.stop, found.status) == (60, walk.BAD_LENGTH)


def test_a_walk_stops_at_an_impossible_length_and_at_a_cut_record() -> None:
    """SYNTHETIC records: two good ones, then one claiming 2 MB; then a cut one."""
    good = struct.pack("<IIII", 1, 0, 4, 4) + b"abcd"
    bad = struct.pack("<IIII", 1, 0, 2 << 20, 60)
    for compiled in {False, walk.COMPILED}:
        offsets, heads, stop, status = walk.pcap(good * 2 + bad, 0, False, MAX, compiled=compiled)
        assert (offsets.tolist(), stop, status) == ([0, 20], 40, walk.BAD_LENGTH)
        assert heads == good[:16] * 2
        offsets, heads, stop, status = walk.pcap(good + good[:-1], 0, False, MAX, compiled=compiled)
        assert (offsets.tolist(), heads, stop, status) == ([0], good[:16], 20, walk.RAN_OUT)


@pytest.mark.skipif(not walk.COMPILED, reason="pcapmtu.capture._walk was not built")
@pytest.mark.parametrize(
    "path", [f for f in FILES if _body(f)[:4] != b"\x0a\x0d\x0d\x0a"], ids=lambda p: p.name
)
def test_compiled_and_python_packs_agree_and_walk_back(path: Path) -> None:
    data = _body(path)
    big = data[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
    offsets, heads, _stop, _status = walk.pcap(data, 24, big, MAX)
    fields = np.frombuffer(heads, dtype=(">" if big else "<") + "u4").reshape(-1, 4)
    caplens = fields[:, 2].astype(np.int64)
    keeps = np.minimum(caplens, np.arange(len(caplens)) % 97)  # cut anywhere, some whole
    offsets = offsets + walk.PCAP_RECORD_HEADER_LEN
    packed = [walk.pack(data, offsets, keeps, big, compiled=c) for c in (True, False)]
    assert packed[0] == packed[1]
    again, again_heads, stop, status = walk.pcap(packed[0], 0, big, MAX)
    assert (stop, status) == (len(packed[0]), walk.RAN_OUT)
    again_fields = np.frombuffer(again_heads, dtype=fields.dtype).reshape(-1, 4)
    assert again_fields[:, 2].tolist() == keeps.tolist()  # the captured length, cut
    assert np.array_equal(np.delete(again_fields, 2, axis=1), np.delete(fields, 2, axis=1))
    for at, at_again, keep in zip(offsets.tolist(), again.tolist(), keeps.tolist(), strict=True):
        start = at_again + walk.PCAP_RECORD_HEADER_LEN
        assert packed[0][start : start + keep] == data[at : at + keep]


@pytest.mark.skipif(not walk.COMPILED, reason="pcapmtu.capture._walk was not built")
@pytest.mark.parametrize(
    "path", [f for f in FILES if _body(f)[:4] == b"\x0a\x0d\x0d\x0a"], ids=lambda p: p.name
)
def test_compiled_and_python_epb_packs_agree_and_walk_back(path: Path) -> None:
    """Each Enhanced Packet Block cut to a length: its fixed fields but the lengths, the kept
    bytes padded, no options; walked back, the same blocks with the packets cut."""
    data = _body(path)
    big = data[8:12] == b"\x1a\x2b\x3c\x4d"
    first = int.from_bytes(data[4:8], "big" if big else "little")  # the section header's
    offsets, types, heads, _stop, _status = walk.pcapng(data, first, big, MAX)
    epb = np.frombuffer(types, dtype=(">" if big else "<") + "u4") == 6
    fields = np.frombuffer(heads, dtype=(">" if big else "<") + "u4").reshape(-1, 7)[epb]
    caplens = fields[:, 5].astype(np.int64)
    keeps = np.minimum(caplens, np.arange(len(caplens)) % 97)  # cut anywhere, some whole
    starts = offsets[epb] + walk.PCAPNG_HEAD_LEN
    packed = [walk.pack(data, starts, keeps, big, pcapng=True, compiled=c) for c in (True, False)]
    assert packed[0] == packed[1]
    assert len(packed[0]) == int(walk.epb_sizes(keeps).sum())
    again, again_types, again_heads, stop, status = walk.pcapng(packed[0], 0, big, MAX)
    assert (stop, status) == (len(packed[0]), walk.RAN_OUT)
    assert set(np.frombuffer(again_types, dtype=fields.dtype).tolist()) <= {6}
    again_fields = np.frombuffer(again_heads, dtype=fields.dtype).reshape(-1, 7)
    assert again_fields[:, 5].tolist() == keeps.tolist()  # the captured length, cut
    assert again_fields[:, 1].tolist() == walk.epb_sizes(keeps).tolist()
    kept = [0, 2, 3, 4, 6]  # type, interface, time, length on the wire
    assert np.array_equal(again_fields[:, kept], fields[:, kept])
    for at, at_again, keep in zip(starts.tolist(), again.tolist(), keeps.tolist(), strict=True):
        start = at_again + walk.PCAPNG_HEAD_LEN
        assert packed[0][start : start + keep] == data[at : at + keep]


def test_a_pack_refuses_a_record_outside_the_buffer() -> None:
    """SYNTHETIC records: one whole, then lengths that reach past the buffer or before it."""
    record = struct.pack("<IIII", 1, 0, 4, 4) + b"abcd"
    for compiled in {False, walk.COMPILED}:
        for offsets, keeps in (([16], [5]), ([8], [4]), ([16], [-1])):
            with pytest.raises(ValueError, match="outside the buffer"):
                walk.pack(record, np.array(offsets), np.array(keeps), False, compiled=compiled)
        whole = walk.pack(record, np.array([16]), np.array([4]), False, compiled=compiled)
        assert whole == record
        block = struct.pack("<7I", 6, 36, 0, 1, 2, 4, 4) + b"abcd"
        for offsets, keeps in (([28], [5]), ([8], [4]), ([28], [-1])):
            with pytest.raises(ValueError, match="outside the buffer"):
                walk.pack(
                    block, np.array(offsets), np.array(keeps), False, pcapng=True, compiled=compiled
                )
        cut = walk.pack(block, np.array([28]), np.array([3]), False, pcapng=True, compiled=compiled)
        assert cut == struct.pack("<7I", 6, 36, 0, 1, 2, 3, 4) + b"abc\0" + struct.pack("<I", 36)


# -- fill: a pipe read into a buffer ---------------------------------------------------------

FILLS = [True, False] if walk.COMPILED else [False]


def _pipe_with(pieces: list[bytes], pause_s: float = 0.0, close: bool = True) -> int:
    """A pipe's read end, its writer (a thread) writing `pieces` with `pause_s` between them,
    then closing it (or keeping it open and silent, for a minute at most)."""
    import os
    import threading
    import time

    read_end, write_end = os.pipe()

    def write() -> None:
        for piece in pieces:
            os.write(write_end, piece)
            time.sleep(pause_s)
        if not close:
            time.sleep(60)
        os.close(write_end)

    threading.Thread(target=write, daemon=True).start()
    return read_end


@pytest.mark.parametrize("compiled", FILLS)
def test_a_fill_reads_a_pipe_until_the_buffer_is_full_then_to_its_end(compiled: bool) -> None:
    import os

    data = np.random.default_rng(7).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    fd = _pipe_with([data[i : i + 100_000] for i in range(0, len(data), 100_000)])
    try:
        buffer = bytearray(2 << 20)
        got = []
        while True:
            count, idle = walk.fill(fd, buffer, 5.0, compiled=compiled)
            assert not idle
            if not count:
                break
            got.append(bytes(buffer[:count]))
        assert len(got[0]) == len(buffer)  # the first fill waited for the whole buffer
        assert b"".join(got) == data
        assert walk.fill(fd, buffer, 1.0, compiled=compiled) == (0, False)  # ended, still
    finally:
        os.close(fd)


@pytest.mark.parametrize("compiled", FILLS)
def test_a_fill_returns_what_came_within_its_budget(compiled: bool) -> None:
    import os
    import time

    fd = _pipe_with([b"first", b"second"], pause_s=1.5, close=False)
    try:
        buffer = bytearray(1 << 16)
        began = time.monotonic()
        count, idle = walk.fill(fd, buffer, 0.4, compiled=compiled)
        took = time.monotonic() - began
        assert (bytes(buffer[:count]), idle) == (b"first", False)
        assert 0.35 < took < 1.2
        time.sleep(1.5)  # "second" came; then nothing more while the writer stays
        assert walk.fill(fd, buffer, 0.2, compiled=compiled)[0] == len(b"second")
        began = time.monotonic()
        assert walk.fill(fd, buffer, 0.2, compiled=compiled) == (0, True)  # nothing: idle
        assert 0.15 < time.monotonic() - began < 1.0
    finally:
        os.close(fd)


@pytest.mark.parametrize("compiled", FILLS)
def test_a_fill_of_a_closed_descriptor_is_an_os_error(compiled: bool) -> None:
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(OSError):
        walk.fill(read_end, bytearray(16), 0.2, compiled=compiled)
