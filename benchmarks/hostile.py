"""Build captures of hostile shapes and print pcapmtu's time and peak memory on each.

    python benchmarks/hostile.py FOLDER [--flows 1000000] [--empty 4000000]

The shapes (each written to FOLDER, then analysed by `pcapmtu analyze` and `--json`):
- a SYN flood: `--flows` connection attempts, one SYN each, each from its own address and port;
  also read from stdin, by `pcapmtu report`, and with `--all-flows` (which keeps every flow);
- a spoofed flood: as many SYNs, each from its own address, with an MSS option;
- a flood of spoofed ACKs: as many pure ACKs, each from its own address, each SACKing bytes
  above its ACK (each looks like a receiver whose capture lacks the data: `stuck_ack`);
- a refused flood: as many SYNs, each answered by a RST, from 64 hosts and 4096 ports (ports
  come back after a RST: a new connection on old ports);
- empty records: `--empty` records of zero bytes (a capture of nothing, or a broken writer);
- a pcapng with a name-resolution block after every packet, and one whose packets alternate
  with new interface blocks: made from the flood's first 5000 SYNs.
The table shows the wall time, the CPU time, the peak RSS of the process and the output's size.
This is not a test: nothing here fails on a slow machine (tests/test_hostile.py holds the bounds
the README states).
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
ETHERNET = bytes.fromhex("020000000001020000000002") + b"\x08\x00"


def syn(i: int, link: bytes = ETHERNET) -> bytes:
    """The i-th SYN of the flood: from 10.x.y.z, port 1024 + i % 256, to 192.0.2.1:80, after
    `link` (the link header: Ethernet's, or none for raw IP)."""
    src = struct.pack("!I", 0x0A000000 | (i >> 8))
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xFFFF, 0x4000, 64, 6, 0, src, bytes([192, 0, 2, 1])
    )
    tcp = struct.pack("!HHIIBBHHH", 1024 + (i & 0xFF), 80, i, 0, 0x50, 0x02, 64240, 0, 0)
    return link + ip + tcp


def spoofed(i: int) -> bytes:
    """The i-th SYN of a flood from spoofed addresses: each from its own address (10.0.0.0/8
    and up), with an MSS option as a real stack's SYN has."""
    src = struct.pack("!I", (0x0A000000 + i) & 0xFFFFFFFF)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 44, i & 0xFFFF, 0x4000, 64, 6, 0, src, bytes([192, 0, 2, 1])
    )
    tcp = struct.pack("!HHIIBBHHH", 1024 + (i & 0xFF), 80, i, 0, 0x60, 0x02, 64240, 0, 0)
    return ETHERNET + ip + tcp + struct.pack("!BBH", 2, 4, 1460)


def sack_ack(i: int) -> bytes:
    """The i-th ACK of a flood from spoofed addresses: a pure ACK from its own address whose
    SACK block lies 4000 bytes above its ACK (a hole, as a receiver's ACKs would show one)."""
    src = struct.pack("!I", (0x0A000000 + i) & 0xFFFFFFFF)
    options = bytes([1, 1, 5, 10]) + struct.pack("!II", 5000, 6000)  # NOP NOP SACK (5000, 6000)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 52, i & 0xFFFF, 0x4000, 64, 6, 0, src, bytes([192, 0, 2, 1])
    )
    tcp = struct.pack("!HHIIBBHHH", 1024 + (i & 0xFF), 80, i, 1000, 0x80, 0x10, 64240, 0, 0)
    return ETHERNET + ip + tcp + options


def refused(i: int) -> tuple[bytes, bytes]:
    """The i-th attempt of a flood the server refuses: a SYN from one of 64 hosts and 4096
    ports (so each pair of ends comes back every 262,144 attempts: port reuse after a RST),
    and the server's RST."""
    client = bytes([10, 1, (i >> 12) & 0x3F, 1])
    server = bytes([192, 0, 2, 1])
    port = 1024 + (i & 0xFFF)
    out = []
    for src, dst, sport, dport, seq, ack, flags in (
        (client, server, port, 80, i, 0, 0x02),
        (server, client, 80, port, 0, i + 1, 0x14),
    ):
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 0, 0, 0)
        out.append(ETHERNET + ip + tcp)
    return out[0], out[1]


def _record(ts: float, packet: bytes) -> bytes:
    seconds, micros = int(ts), round((ts % 1) * 1e6) % 1_000_000
    return struct.pack("<IIII", seconds, micros, len(packet), len(packet)) + packet


def flood_records(
    flows: int, per_second: int = 1000, start: float = 1000.0, make: Callable[[int], bytes] = syn
) -> Iterator[bytes]:
    """The flood's pcap records (header and packet): `per_second` SYNs a second from `start`,
    each made by `make` (`syn`, or `spoofed`)."""
    for i in range(flows):
        yield _record(start + i / per_second, make(i))


def refused_records(flows: int, per_second: int = 1000) -> Iterator[bytes]:
    """The refused flood's records: each SYN, and its RST 100 microseconds later."""
    for i in range(flows):
        ask, no = refused(i)
        yield _record(1000.0 + i / per_second, ask)
        yield _record(1000.0 + i / per_second + 1e-4, no)


def _write(path: Path, records: Iterator[bytes]) -> None:
    with path.open("wb") as out:
        out.write(PCAP_HEADER)
        chunk = bytearray()
        for record in records:
            chunk += record
            if len(chunk) > 1 << 22:
                out.write(chunk)
                chunk.clear()
        out.write(chunk)


def write_flood(path: Path, flows: int, make: Callable[[int], bytes] = syn) -> None:
    _write(path, flood_records(flows, make=make))


def write_empty(path: Path, records: int) -> None:
    with path.open("wb") as out:
        out.write(PCAP_HEADER)
        for _ in range(records // 100_000):
            out.write(struct.pack("<IIII", 1, 0, 0, 0) * 100_000)


def block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def write_pcapng(path: Path, packets: int, between: str) -> None:
    """`packets` SYNs, with a name-resolution block ("nrb") or a new interface ("idb") after
    each."""
    section = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    interface = block(1, struct.pack("<HHI", 1, 0, 65535))
    out = bytearray(section + interface)
    for i in range(packets):
        packet = syn(i)
        epb = struct.pack("<IIIII", i if between == "idb" else 0, 0, i, len(packet), len(packet))
        out += block(6, epb + packet)
        out += interface if between == "idb" else block(4, struct.pack("<HH", 0, 0))
    path.write_bytes(bytes(out))


# Runs one command as its only child (stdin from a file when given) and reports that child's own
# peak RSS and CPU time.
_WRAP = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
stdin = open(sys.argv[1], "rb") if sys.argv[1] else subprocess.DEVNULL
done = subprocess.run(sys.argv[2:], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps([time.perf_counter() - start, usage.ru_utime + usage.ru_stime,
                  usage.ru_maxrss, len(done.stdout)]))
"""


def measure(args: list[str], stdin: Path | None = None) -> tuple[float, float, int, int]:
    """(wall s, CPU s, peak RSS KB, bytes of stdout) of one pcapmtu run."""
    command = [sys.executable, "-m", "pcapmtu", *args]
    done = subprocess.run(
        [sys.executable, "-c", _WRAP, str(stdin or ""), *command],
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu, rss, out = json.loads(done.stdout)
    return float(wall), float(cpu), int(rss), int(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--empty", type=int, default=4_000_000)
    options = parser.parse_args()
    folder: Path = options.folder
    folder.mkdir(parents=True, exist_ok=True)
    flood = f"syn-flood-{options.flows}.pcap"
    shapes: dict[str, Callable[[Path], None]] = {
        flood: lambda p: write_flood(p, options.flows),
        f"spoofed-{options.flows}.pcap": lambda p: write_flood(p, options.flows, spoofed),
        f"sack-ack-{options.flows}.pcap": lambda p: write_flood(p, options.flows, sack_ack),
        f"refused-{options.flows}.pcap": lambda p: _write(p, refused_records(options.flows)),
        f"empty-{options.empty}.pcap": lambda p: write_empty(p, options.empty),
        "nrb-after-every-packet.pcapng": lambda p: write_pcapng(p, 5000, "nrb"),
        "idb-after-every-packet.pcapng": lambda p: write_pcapng(p, 5000, "idb"),
    }
    report = str(folder / "report.html")
    print("| capture | MB | command | wall s | CPU s | peak RSS MB | stdout kB |")
    print("|---|---|---|---|---|---|---|")
    for name, write in shapes.items():
        path = folder / name
        if not path.exists():
            write(path)
        size = path.stat().st_size / 1e6
        runs: list[tuple[str, list[str], Path | None]] = [
            ("analyze", ["analyze", "-q", str(path)], None),
            ("analyze --json", ["analyze", "-q", "--json", str(path)], None),
        ]
        if name == flood:
            runs += [
                ("analyze - (stdin)", ["analyze", "-q", "-"], path),
                ("report", ["report", "-o", report, str(path)], None),
                ("analyze --all-flows", ["analyze", "-q", "--all-flows", str(path)], None),
            ]
        for how, args, stdin in runs:
            wall, cpu, rss, out = measure(args, stdin)
            print(
                f"| {name} | {size:.1f} | {how} | {wall:.2f} | {cpu:.2f} | {rss / 1000:.0f} "
                f"| {out / 1e3:.0f} |"
            )


if __name__ == "__main__":
    main()
