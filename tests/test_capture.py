"""Reading capture files: formats, sources, and every kind of bad input (synthetic files)."""

from __future__ import annotations

import gzip
import io
import struct
import threading
from pathlib import Path

import pytest

from pcapmtu.capture import Capture
from pcapmtu.capture.batch import Reader
from pcapmtu.errors import (
    CaptureNotFoundError,
    CorruptCaptureError,
    EmptyCaptureError,
    NotACaptureError,
    TruncatedCaptureWarning,
)
from tests import synthetic as syn

PACKETS = [syn.tcp("10.0.0.1", "10.0.0.2", 1, 2, seq=i, payload=10 * i) for i in range(1, 4)]


def _read(source: object, **kwargs: object) -> tuple[Capture, list]:  # type: ignore[type-arg]
    capture = Capture(source, **kwargs)  # type: ignore[arg-type]
    return capture, list(capture)


@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("big_endian", [False, True])
def test_pcap_both_byte_orders_and_resolutions(nano: bool, big_endian: bool) -> None:
    data = syn.pcap([(1_700_000_000.123456, p) for p in PACKETS], nano=nano, big_endian=big_endian)
    capture, records = _read(data)
    assert capture.info.format == "pcap"
    assert capture.info.timestamp_precision == ("nano" if nano else "micro")
    assert [r.data for r in records] == PACKETS
    assert [r.frame for r in records] == [1, 2, 3]
    assert records[0].ts == pytest.approx(1_700_000_000.123456, abs=1e-6)
    assert capture.info.link_types == {101: 3}


def test_link_type_uses_only_the_low_16_bits() -> None:
    _capture, records = _read(syn.pcap(PACKETS, link_type=1, link_field_extra=0x30000000))
    assert {r.link_type for r in records} == {1}


def test_pcapng_interfaces_keep_their_link_types_and_resolutions() -> None:
    eth = syn.ethernet(PACKETS[0])
    data = syn.pcapng(
        [(101, 6), (1, 9)],
        [(0, 1_700_000_000_000_000, PACKETS[1]), (1, 1_700_000_000_500_000_000, eth)],
    )
    capture, records = _read(data)
    assert capture.info.format == "pcapng"
    assert [(r.link_type, r.interface) for r in records] == [(101, 0), (1, 1)]
    assert records[0].ts == pytest.approx(1_700_000_000.0)
    assert records[1].ts == pytest.approx(1_700_000_000.5)
    assert records[1].data == eth


def test_pcapng_big_endian() -> None:
    data = syn.pcapng([(101, 6)], [(0, 5_000_000, PACKETS[0])], big_endian=True)
    _capture, records = _read(data)
    assert records[0].data == PACKETS[0] and records[0].ts == pytest.approx(5.0)


def test_gzip_file_object_and_path(tmp_path: Path) -> None:
    plain = syn.pcap(PACKETS)
    path = tmp_path / "x.pcap.gz"
    path.write_bytes(gzip.compress(plain))
    for source in (path, str(path), io.BytesIO(gzip.compress(plain))):
        capture, records = _read(source)
        assert capture.info.compression == "gzip"
        assert len(records) == 3


def test_a_pipe_is_read_in_order() -> None:
    """A non-seekable stream that returns short reads, like a pipe from tcpdump -w -."""

    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            chunk, self.data = self.data[:7], self.data[7:]
            buffer[: len(chunk)] = chunk
            return len(chunk)

    _capture, records = _read(Pipe(syn.pcap(PACKETS)))
    assert [r.data for r in records] == PACKETS


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(CaptureNotFoundError, match="no such file"):
        Capture(tmp_path / "nope.pcap")
    with pytest.raises(CaptureNotFoundError, match="is a folder"):
        Capture(tmp_path)


def test_empty_text_and_other_files(tmp_path: Path) -> None:
    with pytest.raises(EmptyCaptureError, match="empty"):
        Capture(b"")
    with pytest.raises(NotACaptureError, match="is a text file"):
        Capture(b"timestamp,src,dst\n1,2,3\n")
    with pytest.raises(NotACaptureError, match="starts with 89 50 4e 47"):
        Capture(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(EmptyCaptureError, match="gzip file holds nothing"):
        Capture(gzip.compress(b""))


def test_damaged_headers_are_errors() -> None:
    with pytest.raises(CorruptCaptureError, match="cut within its 24-byte pcap header"):
        Capture(syn.pcap(PACKETS)[:10])
    version_1 = bytearray(syn.pcap(PACKETS))
    version_1[4:6] = b"\x01\x00"
    with pytest.raises(CorruptCaptureError, match=r"pcap version 1\.4"):
        Capture(bytes(version_1))
    with pytest.raises(CorruptCaptureError, match="pcapng"):
        Capture(syn.pcapng([(101, 6)], [])[:12])


def test_cut_mid_record_keeps_what_is_there() -> None:
    data = syn.pcap(PACKETS)
    with pytest.warns(TruncatedCaptureWarning, match="ends inside record 3"):
        capture, records = _read(data[:-5])
    assert len(records) == 3  # the partial record is kept: its IP header still holds
    assert len(capture.info.warnings) == 1
    with pytest.warns(TruncatedCaptureWarning, match="into the header of record 3"):
        _capture, records = _read(data[: len(syn.pcap(PACKETS[:2])) + 6])
    assert len(records) == 2


def test_absurd_record_length_is_skipped_to_the_next_plausible_record() -> None:
    """A damaged record header in the middle: the records after it are read (issue 14)."""
    data = bytearray(syn.pcap(PACKETS))
    second = len(syn.pcap(PACKETS[:1]))
    data[second + 8 : second + 12] = (50_000_000).to_bytes(4, "little")
    with pytest.warns(TruncatedCaptureWarning, match="record 2 claims 50000000 bytes") as told:
        _capture, records = _read(bytes(data))
    third = len(syn.pcap(PACKETS[:2])) - second
    assert f"skipped {third} bytes to the next plausible record" in str(told[0].message)
    _, plain = _read(syn.pcap(PACKETS))
    assert [r.data for r in records] == [plain[0].data, plain[2].data]


def test_absurd_record_length_with_nothing_plausible_after_it_stops() -> None:
    data = bytearray(syn.pcap(PACKETS[:2]))
    second = len(syn.pcap(PACKETS[:1]))
    data[second + 8 : second + 12] = (50_000_000).to_bytes(4, "little")
    data += b"\xff" * 4000  # garbage: no record header fits
    with pytest.warns(TruncatedCaptureWarning, match="damaged from there"):
        _capture, records = _read(bytes(data))
    assert len(records) == 1


def test_snaplen_cut_packets_are_counted() -> None:
    capture, records = _read(syn.pcap(PACKETS, snaplen=40))
    assert capture.info.truncated_by_snaplen == 3
    assert all(len(r.data) == 40 and r.orig_len > 40 for r in records)


def test_a_truncated_gzip_is_read_as_far_as_it_goes() -> None:
    """The same warning as a plain capture cut there; no reading error."""
    data = syn.pcap(PACKETS)
    packed = gzip.compress(data)
    plain_capture, plain = _read_quietly(data[:-5])
    with pytest.warns(TruncatedCaptureWarning, match="ends inside record 3"):
        capture, records = _read(gzip.compress(data[:-5])[:-8])  # no end-of-stream marker
    assert [r.data for r in records] == [r.data for r in plain]
    assert capture.info.warnings[0].endswith(plain_capture.info.warnings[0].split(": ", 1)[1])
    cut_at_a_record = packed[: len(packed) - 8]  # every record there, the trailer gone
    with pytest.warns(TruncatedCaptureWarning, match="gzip data ends early"):
        _capture, records = _read(cut_at_a_record)
    assert len(records) == 3


def _read_quietly(source: object) -> tuple[Capture, list]:  # type: ignore[type-arg]
    with pytest.warns(TruncatedCaptureWarning):
        return _read(source)


@pytest.mark.parametrize("big_endian", [False, True])
def test_a_damaged_pcapng_block_is_skipped_to_the_next_plausible_block(big_endian: bool) -> None:
    """A block length damaged in the middle: the blocks after it are read (issue 14)."""
    order = ">" if big_endian else "<"
    packets = [(0, 1_700_000_000_000_000 + i, p) for i, p in enumerate(PACKETS)]
    plain = syn.pcapng([(101, 6)], packets, big_endian=big_endian)
    head = len(syn.pcapng([(101, 6)], packets[:1], big_endian=big_endian))
    data = bytearray(plain)
    data[head + 4 : head + 8] = struct.pack(order + "I", 0x7FFFFFF0)  # the second packet's block
    with pytest.warns(TruncatedCaptureWarning, match="damaged there; skipped"):
        _capture, records = _read(bytes(data))
    _, every = _read(plain)
    assert [r.data for r in records] == [every[0].data, every[2].data]


def test_the_reading_thread_walks_the_chunk_it_read() -> None:
    """The walk of a chunk runs in the thread that read it, beside the analysis, and comes
    back with the chunk: the leftover of the last chunk first, then the stream's bytes."""
    stream = bytes(range(256)) * 64
    walked_in: list[int] = []

    def walk(buf: memoryview) -> bytes:
        walked_in.append(threading.get_ident())
        return bytes(buf[:4])

    with Reader[bytes](io.BytesIO(stream)) as reader:
        reader.start(b"ab", walk)
        buf, fresh, walked = reader.wait()
        assert bytes(buf) == b"ab" + stream
        assert fresh == len(stream)
        assert walked == b"ab\x00\x01"
        reader.start(b"", walk)
        buf, fresh, walked = reader.wait()
        assert (bytes(buf), fresh, walked) == (b"", 0, b"")
    assert len(walked_in) == 2
    assert threading.get_ident() not in walked_in


def test_one_reading_thread_reads_every_chunk_and_ends_when_closed() -> None:
    """The reading thread is started once per pass, not once per chunk (a thread's start cost a
    millisecond on a slow machine), keeps the chunks in order, hands a failed read's exception
    to the waiting thread, reads on after it, and ends when the reader is closed."""
    stream = io.BytesIO(bytes(range(256)) * 4)
    walked_in: list[int] = []
    before = set(threading.enumerate())

    def walk(buf: memoryview) -> int:
        walked_in.append(threading.get_ident())
        if len(walked_in) == 3:
            raise ValueError("bad chunk")
        return len(walked_in)

    reader = Reader[int](stream)
    for expected in (1, 2):
        reader.start(b"x" * expected, walk)
        assert reader.wait()[2] == expected
    reader.start(b"", walk)
    with pytest.raises(ValueError, match="bad chunk"):
        reader.wait()
    reader.start(b"", walk)
    assert reader.wait()[2] == 4
    threads = [t for t in set(threading.enumerate()) - before if t.name == "pcapmtu-read"]
    assert len(threads) == 1 and threads[0].daemon
    assert len(set(walked_in)) == 1 and threading.get_ident() not in walked_in
    reader.close()
    assert not threads[0].is_alive()


def test_a_simple_packet_block_has_the_time_of_the_packet_before_it() -> None:
    """SYNTHETIC pcapng: a Simple Packet Block (no time of its own) right after Enhanced Packet
    Blocks takes the time of the last of them, as it does with another block between them (it
    took the time from before them)."""
    packet = syn.tcp("198.19.0.1", "198.19.0.2", 80, 5000, 1, 1, syn.ACK)
    epbs = syn.pcapng([(101, 6)], [(0, 5_000_000, packet), (0, 7_000_000, packet)])
    spb = syn._block("<", 3, struct.pack("<I", len(packet)) + packet)
    custom = syn._block("<", 0x00000BAD, b"\0" * 8)  # a block the reader skips
    for between in (b"", custom):
        with Capture(epbs + between + spb) as capture:
            times = [r.ts for r in capture]
        assert times == [5.0, 7.0, 7.0]
