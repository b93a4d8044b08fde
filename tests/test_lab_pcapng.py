"""pcap -> pcapng rewriting, checked against readers we did not write.

Inputs are the real sample captures. dpkt reads a pcapng's first interface only, so it checks
the single-interface case; the several-interface case is checked with a block walker written
here from the specification, and with tshark when it is installed.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import dpkt
import pytest

from pcapmtu.lab.pcapng import Interface, write_pcapng
from tests.conftest import SAMPLES

WG0 = SAMPLES / "incident.home-wg0.pcap"
UNDERLAY = SAMPLES / "icmp-allowed.home-underlay.pcap"


def _need(*paths: Path) -> None:
    for path in paths:
        if not path.exists():
            pytest.fail(f"sample capture {path.name} is missing")


def _pcap_records(path: Path) -> list[tuple[float, bytes]]:
    with path.open("rb") as f:
        return [(float(ts), bytes(buf)) for ts, buf in dpkt.pcap.Reader(f)]


def test_single_interface_round_trip_through_dpkt() -> None:
    _need(WG0)
    out = io.BytesIO()
    count = write_pcapng([Interface(WG0, "wg0")], out, "test")
    out.seek(0)
    reader = dpkt.pcapng.Reader(out)
    assert reader.datalink() == 101
    got = [(float(ts), bytes(buf)) for ts, buf in reader]
    want = _pcap_records(WG0)
    assert count == len(want) == len(got)
    assert [b for _, b in got] == [b for _, b in want]
    assert all(abs(a - b) < 1e-6 for (a, _), (b, _) in zip(got, want, strict=True))


def _native(data: bytes) -> tuple[list[tuple[int, int]], list[tuple[int, int, bytes]]]:
    """Interfaces (link type, tsresol) and packets (interface, timestamp units, bytes)."""
    interfaces, packets, offset = [], [], 0
    while offset < len(data):
        block_type, length = struct.unpack_from("<II", data, offset)
        body = data[offset + 8 : offset + length - 4]
        assert struct.unpack_from("<I", data, offset + length - 4)[0] == length
        if block_type == 1:
            link_type = struct.unpack_from("<H", body)[0]
            resol, opt = 6, 8
            while opt < len(body):
                code, olen = struct.unpack_from("<HH", body, opt)
                if code == 9:
                    resol = body[opt + 4]
                opt += 4 + olen + (-olen % 4)
            interfaces.append((link_type, resol))
        elif block_type == 6:
            iface, high, low, caplen, _orig = struct.unpack_from("<IIIII", body)
            packets.append((iface, (high << 32) | low, body[20 : 20 + caplen]))
        offset += length
    return interfaces, packets


def test_two_interfaces_keep_link_types_order_and_bytes() -> None:
    _need(WG0, UNDERLAY)
    out = io.BytesIO()
    count = write_pcapng([Interface(WG0, "wg0"), Interface(UNDERLAY, "eth0")], out, "test")
    interfaces, packets = _native(out.getvalue())
    assert interfaces == [(101, 6), (1, 6)]
    assert count == len(packets) == len(_pcap_records(WG0)) + len(_pcap_records(UNDERLAY))
    times = [units for _, units, _ in packets]
    assert times == sorted(times)
    for index, source in enumerate((WG0, UNDERLAY)):
        mine = [data for iface, _, data in packets if iface == index]
        assert mine == [b for _, b in _pcap_records(source)]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_reads_every_packet_with_its_interface(tmp_path: Path) -> None:
    _need(WG0, UNDERLAY)
    path = tmp_path / "two.pcapng"
    with path.open("wb") as f:
        write_pcapng([Interface(WG0, "wg0"), Interface(UNDERLAY, "eth0")], f, "test")
    lines = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-e", "frame.interface_name"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert lines.count("wg0") == len(_pcap_records(WG0))
    assert lines.count("eth0") == len(_pcap_records(UNDERLAY))
