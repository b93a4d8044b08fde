"""A capture read once (stdin, a file object) is copied for the second pass: a plain pcap as its
records cut to their headers, anything else byte for byte; the analysis is the same as from the
file, on every sample."""

from __future__ import annotations

import gzip
import io
import os
import warnings
from pathlib import Path
from typing import IO, cast

import numpy as np
import pytest

from pcapmtu import analyze
from pcapmtu.capture import Capture, RecordIndex, Tee, reread
from pcapmtu.capture import source as source_module
from pcapmtu.capture.magics import PCAPNG_MAGIC
from pcapmtu.decode import Decoder
from pcapmtu.errors import CaptureError
from pcapmtu.fast import columns
from pcapmtu.model import Record, Segment
from tests.conftest import SAMPLES
from tests.test_corpus import FILES as CORPUS_FILES

SAMPLE_FILES = sorted(SAMPLES.glob("*.pcap*"))
BULK = SAMPLES / "many-flows.pcap"  # transfers: their records are mostly payload


def _copied(data: bytes) -> tuple[bytes, list[Record], list[Record]]:
    """The first pass's side of the copy, as `analysis` does it: (the copy's bytes, the records
    read from the stream, the records read again from the copy where `add` placed them)."""
    tee = Tee(io.BytesIO(data))
    try:
        capture = Capture(cast(IO[bytes], tee))
        header = capture.pcap_header
        assert header is not None and tee.copy_records(*header)
        records: list[Record] = []
        placed = []
        with capture:
            for batch in capture.batches():
                decoded = columns.decode(batch, Decoder())
                placed.append((batch, tee.add(batch, decoded.needed)))
                records += batch.records()
        tee.finish()
        copy = tee.path.read_bytes()
        again: list[Record] = []
        for batch, where in placed:
            assert where is not None
            index = RecordIndex.of(batch, np.arange(len(batch)), where)
            again += reread(str(tee.path), index)
        return copy, records, again
    finally:
        tee.close()


def _decoded(records: list[Record]) -> list[object]:
    decoder = Decoder()
    return [decoder.decode(r) for r in records]


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_a_stream_is_analysed_as_its_file_is(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    from_stream = analyze(io.BytesIO(path.read_bytes()), names=[path.name])
    assert from_stream.to_dict() == analyze(path, names=[path.name]).to_dict()
    assert list(tmp_path.iterdir()) == []  # the copy is gone


@pytest.mark.skipif(not CORPUS_FILES, reason="no public corpus beside the checkout")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
def test_a_public_capture_from_a_stream_is_analysed_as_its_file_is(path: Path) -> None:
    """Many link types, pcapng variants, damaged files: the same report, or the same error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from_file = analyze(path, names=[path.name]).to_dict()
        except CaptureError as error:
            with pytest.raises(CaptureError) as raised:
                analyze(io.BytesIO(path.read_bytes()), names=[path.name])
            assert str(raised.value) == str(error)
            return
        assert analyze(io.BytesIO(path.read_bytes()), names=[path.name]).to_dict() == from_file


def _through_a_pipe(data: bytes) -> IO[bytes]:
    """`data` on a pipe, read as stdin is (a buffered reader of the descriptor); a thread
    writes it."""
    import threading

    read_end, write_end = os.pipe()

    def write() -> None:
        with open(write_end, "wb") as sink:
            sink.write(data)

    threading.Thread(target=write, daemon=True).start()
    return open(read_end, "rb")


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_a_pipe_read_straight_from_its_descriptor_is_analysed_as_its_file_is(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the buffered reader has given what it held (the capture's first bytes), the pipe is
    read from its descriptor (`walk.fill`), and not a byte is lost or read twice."""
    direct = []
    read_direct = source_module.Tee._read_direct

    def counted(tee: Tee, buffer: bytearray | memoryview) -> int | None:
        count = read_direct(tee, buffer)
        direct.append(count)
        return count

    monkeypatch.setattr(source_module.Tee, "_read_direct", counted)
    with _through_a_pipe(path.read_bytes()) as stream:
        from_pipe = analyze(stream, names=[path.name]).to_dict()
    assert from_pipe == analyze(path, names=[path.name]).to_dict()
    assert direct and direct[-1] == 0  # the descriptor was read to its end


def test_a_long_pipe_is_read_mostly_from_its_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Synthetic: a sample's records sixty times over, each copy 1000 s after the last, 4.5 MB
    (more than a pipe holds): analysed from the pipe as from the file."""
    data = BULK.read_bytes()
    header, body = data[:24], data[24:]
    copies = []
    for k in range(60):
        again = bytearray(body)
        for at in _record_starts(body):
            seconds = int.from_bytes(again[at : at + 4], "little") + 1000 * k
            again[at : at + 4] = seconds.to_bytes(4, "little")
        copies.append(bytes(again))
    long = tmp_path / "long.pcap"
    long.write_bytes(header + b"".join(copies))
    direct: list[int] = []
    read_direct = source_module.Tee._read_direct

    def counted(tee: Tee, buffer: bytearray | memoryview) -> int | None:
        count = read_direct(tee, buffer)
        direct.append(count or 0)
        return count

    monkeypatch.setattr(source_module.Tee, "_read_direct", counted)
    with _through_a_pipe(long.read_bytes()) as stream:
        from_pipe = analyze(stream, names=["long"]).to_dict()
    assert from_pipe == analyze(long, names=["long"]).to_dict()
    assert sum(direct) > len(long.read_bytes()) // 2


def _record_starts(body: bytes) -> list[int]:
    """Where each record of a little-endian pcap's body (after its header) starts."""
    starts, at = [], 0
    while at < len(body):
        starts.append(at)
        at += 16 + int.from_bytes(body[at + 8 : at + 12], "little")
    return starts


def test_two_streams_together_are_analysed_as_their_files_are() -> None:
    files = [SAMPLES / "incident.home-wg0.pcap", SAMPLES / "incident.proxy-wg0.pcap"]
    names = [p.name for p in files]
    streams = [io.BytesIO(p.read_bytes()) for p in files]
    assert analyze(streams, names=names).to_dict() == analyze(files, names=names).to_dict()


def test_the_copy_of_a_transfer_holds_its_headers_not_its_payload() -> None:
    data = BULK.read_bytes()
    copy, records, again = _copied(data)
    assert len(copy) < 0.25 * len(data), (len(copy), len(data))
    # read in order (the underlay pass, `times_of`) and where `add` placed them (the exact
    # pass): the same records, each decoding to the same segment as the record it copies
    with Capture(copy) as capture:
        in_order = list(capture)
    for read in (in_order, again):
        assert [(r.frame, r.ts, r.orig_len, r.link_type) for r in read] == [
            (r.frame, r.ts, r.orig_len, r.link_type) for r in records
        ]
        assert _decoded(read) == _decoded(records)
    # each segment with a payload is cut just before it (raw IP: no padding after it)
    for r, o, item in zip(again, records, _decoded(records), strict=True):
        if isinstance(item, Segment) and item.payload_len:
            assert r.data == o.data[: len(o.data) - item.payload_len]
        else:
            assert r.data == o.data


@pytest.mark.parametrize(
    "path",
    [
        SAMPLES / "fragmented.home-underlay.pcap",
        SAMPLES / "any-sll2.pcap",
        SAMPLES / "ssh.pcap",
        SAMPLES / "healthy-random-loss.pcap",  # cut by a snaplen of 96 already
    ],
    ids=lambda p: p.name,
)
def test_every_record_decodes_from_the_copy_as_from_the_stream(path: Path) -> None:
    """Fragments, ICMP, WireGuard's UDP, Linux cooked headers, a snaplen: what is not cut
    reads whole."""
    _copy, records, again = _copied(path.read_bytes())
    assert _decoded(again) == _decoded(records)
    kept_whole = [r for r, o in zip(again, records, strict=True) if r.data == o.data]
    assert kept_whole  # the handshakes and ACKs at least


def _copy_of(data: bytes, name: str) -> tuple[bytes, dict[str, object]]:
    """(the copy a stream's analysis made, its report)."""
    copies: list[bytes] = []
    finish = source_module.Tee.finish

    def keep_copy(tee: Tee) -> None:
        finish(tee)
        copies.append(Path(tee.path).read_bytes())

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source_module.Tee, "finish", keep_copy)
        report = analyze(io.BytesIO(data), names=[name]).to_dict()
    (copy,) = copies
    return copy, report


def test_a_gzip_stream_is_copied_byte_for_byte() -> None:
    data = gzip.compress(BULK.read_bytes())
    copy, report = _copy_of(data, BULK.name)
    assert copy == data
    assert report == analyze(data, names=[BULK.name]).to_dict()


def test_a_pcapng_stream_is_copied_as_its_blocks_cut(tmp_path: Path) -> None:
    """Two real captures as the two interfaces of a pcapng file: the copy holds the same
    packets (each cut as a pcap copy's records are, in much less room), with the same
    interfaces, times and lengths on the wire, and the analysis is the file's."""
    from pcapmtu.lab.pcapng import Interface, write_pcapng

    path = tmp_path / "two.pcapng"
    with path.open("wb") as out:
        write_pcapng([Interface(BULK, "wg0"), Interface(SAMPLES / "ssh.pcap", "eth0")], out, "t")
    data = path.read_bytes()
    copy, report = _copy_of(data, path.name)
    assert report == analyze(path, names=[path.name]).to_dict()
    assert len(copy) < 0.25 * len(data), (len(copy), len(data))
    with Capture(copy) as again, Capture(data) as first:
        copied, records = list(again), list(first)
        assert again.info.interfaces == first.info.interfaces == ["wg0", "eth0"]
    assert [(r.frame, r.ts, r.orig_len, r.link_type, r.interface) for r in copied] == [
        (r.frame, r.ts, r.orig_len, r.link_type, r.interface) for r in records
    ]
    assert _decoded(copied) == _decoded(records)
    assert any(len(c.data) < len(r.data) for c, r in zip(copied, records, strict=True))


def _is_pcapng(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(len(PCAPNG_MAGIC)) == PCAPNG_MAGIC


PCAPNG_FILES = [p for p in SAMPLE_FILES + list(CORPUS_FILES) if _is_pcapng(p)]


@pytest.mark.parametrize("path", PCAPNG_FILES, ids=lambda p: p.name)
def test_every_pcapng_copy_reads_back_as_its_stream(path: Path) -> None:
    """Sections, byte orders, many interfaces, Simple Packet Blocks, blocks the reader skips:
    the copy holds the same packets, at the same times, on the same interfaces."""
    data = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            copy, _report = _copy_of(data, path.name)
        except CaptureError:
            return  # refused from the stream as from the file (the test above)
        with Capture(copy) as again, Capture(data) as first:
            copied, records = list(again), list(first)
    assert [(r.frame, r.ts, r.orig_len, r.link_type, r.interface) for r in copied] == [
        (r.frame, r.ts, r.orig_len, r.link_type, r.interface) for r in records
    ]
    assert len(copy) <= len(data)


def test_a_pcapng_stream_taken_in_small_parts_is_copied_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast pass takes a batch of many records in parts (`Batch.parts`): each part's copy
    is its share of the batch's plan, and together they are the whole capture."""
    from pcapmtu import analysis
    from pcapmtu.lab.pcapng import Interface, write_pcapng

    path = tmp_path / "two.pcapng"
    with path.open("wb") as out:
        write_pcapng([Interface(BULK, "wg0"), Interface(SAMPLES / "ssh.pcap", "eth0")], out, "t")
    whole = analyze(path, names=[path.name]).to_dict()
    monkeypatch.setattr(analysis, "PART_RECORDS", 7)
    _copy, report = _copy_of(path.read_bytes(), path.name)
    assert report == whole


def test_a_plan_is_cut_as_the_records_are() -> None:
    """SYNTHETIC plan items: blocks kept as they are go with the part before the next record;
    runs of Enhanced Packet Blocks are cut at the parts' edges."""
    from pcapmtu.capture.batch import EpbRun, WholeBlock, _plan_parts

    run = EpbRun(b"", np.arange(5, dtype=np.int64), False)
    one = WholeBlock(b"block", 12)
    parts = _plan_parts([b"idb", run, b"idb2", one, run], 4)
    shape = [
        [x if isinstance(x, bytes | WholeBlock) else x.offsets.tolist() for x in part]
        for part in parts
    ]
    assert shape == [
        [b"idb", [0, 1, 2, 3]],
        [[4], b"idb2", one, [0, 1]],
        [[2, 3, 4]],
    ]


def test_a_stream_whose_form_is_never_chosen_is_copied_byte_for_byte() -> None:
    """SYNTHETIC bytes: read past what is held before a choice, or to the end, the copy is the
    stream itself."""
    for size in (1000, source_module.HOLD_MAX + 3 * source_module.READ_CHUNK):
        data = os.urandom(size)
        tee = Tee(io.BytesIO(data))
        try:
            while tee.read(source_module.READ_CHUNK):
                pass
            tee.finish()
            assert tee.path.read_bytes() == data
        finally:
            tee.close()
