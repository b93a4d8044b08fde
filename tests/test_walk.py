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


def test_a_pack_refuses_a_record_outside_the_buffer() -> None:
    """SYNTHETIC records: one whole, then lengths that reach past the buffer or before it."""
    record = struct.pack("<IIII", 1, 0, 4, 4) + b"abcd"
    for compiled in {False, walk.COMPILED}:
        for offsets, keeps in (([16], [5]), ([8], [4]), ([16], [-1])):
            with pytest.raises(ValueError, match="outside the buffer"):
                walk.pack(record, np.array(offsets), np.array(keeps), False, compiled=compiled)
        whole = walk.pack(record, np.array([16]), np.array([4]), False, compiled=compiled)
        assert whole == record
