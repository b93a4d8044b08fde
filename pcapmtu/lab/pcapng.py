"""Turn the lab's pcap files into one pcapng file, one interface per capture point.

tcpdump writes only pcap. A pcapng with several interfaces (different link types, each with its
name and timestamp resolution) is what dumpcap writes when given several `-i`, and what the
analyser must read; this module rewrites tcpdump's real records into that container, merged in
time order, without changing a byte of any packet. Format: the pcapng specification
(draft-ietf-opsawg-pcapng): Section Header, Interface Description and Enhanced Packet blocks.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pcapmtu.lab.recorder import PCAP_HEADER_LEN, read_pcap_header

BLOCK_SHB = 0x0A0D0D0A
BLOCK_IDB = 0x00000001
BLOCK_EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
SECTION_LENGTH_UNKNOWN = -1
OPT_ENDOFOPT = 0
OPT_SHB_USERAPPL = 4
OPT_IF_NAME = 2
OPT_IF_TSRESOL = 9
TSRESOL = {"micro": 6, "nano": 9}  # if_tsresol: 10^-N seconds
PCAP_RECORD_HEADER_LEN = 16


@dataclass(frozen=True)
class Interface:
    """One input pcap and the name its interface gets in the pcapng file."""

    path: Path
    name: str


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def _records(path: Path, index: int) -> Iterator[tuple[int, int, int, bytes, int]]:
    """(time in ns, interface index, timestamp in the file's units, packet, original length)."""
    header = read_pcap_header(path)
    order = "<" if header.byte_order == "little" else ">"
    scale = 1_000_000_000 if header.precision == "nano" else 1_000_000
    with path.open("rb") as f:
        f.seek(PCAP_HEADER_LEN)
        while True:
            raw = f.read(PCAP_RECORD_HEADER_LEN)
            if len(raw) < PCAP_RECORD_HEADER_LEN:
                return
            sec, frac, incl, orig = struct.unpack(order + "IIII", raw)
            data = f.read(incl)
            if len(data) < incl:
                return
            units = sec * scale + frac
            yield units * (1_000_000_000 // scale), index, units, data, orig


def write_pcapng(interfaces: Sequence[Interface], out: BinaryIO, application: str) -> int:
    """Write every record of `interfaces` to `out` in time order; return the packet count."""
    headers = [read_pcap_header(i.path) for i in interfaces]
    out.write(
        _block(
            BLOCK_SHB,
            struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, SECTION_LENGTH_UNKNOWN)
            + _option(OPT_SHB_USERAPPL, application.encode())
            + _option(OPT_ENDOFOPT, b""),
        )
    )
    for iface, header in zip(interfaces, headers, strict=True):
        out.write(
            _block(
                BLOCK_IDB,
                struct.pack("<HHI", header.link_type, 0, header.snaplen)
                + _option(OPT_IF_NAME, iface.name.encode())
                + _option(OPT_IF_TSRESOL, bytes([TSRESOL[header.precision]]))
                + _option(OPT_ENDOFOPT, b""),
            )
        )
    count = 0
    streams = [_records(iface.path, index) for index, iface in enumerate(interfaces)]
    for _ns, index, units, data, orig in heapq.merge(*streams, key=lambda r: (r[0], r[1])):
        body = struct.pack("<IIIII", index, units >> 32, units & 0xFFFFFFFF, len(data), orig)
        out.write(_block(BLOCK_EPB, body + _pad4(data)))
        count += 1
    return count
