"""Build the benchmark captures: real lab traffic replicated to 100 MB and 1 GB.

    python benchmarks/build_captures.py OUTDIR [--base BULK.pcap] [--sizes 100,1000]

The base is a real lab capture of a bulk transfer through WireGuard with random loss (made
here with `pcapmtu lab run` when --base is not given; that needs root). It is replicated: each
copy gets its own client port and a time offset, ten copies interleaved per block so that
flows overlap as on a busy tunnel, blocks one after another until the size is reached. Two real
black-holed flows (sample_captures/incident.home-wg0.pcap) are buried in the middle, on their
own host pair, so the right verdict is "black hole, exactly two flows". Records are rewritten
only in their addresses, ports, IP checksum and timestamps; every other byte is the lab's.

Writes OUTDIR/bench-<N>MB.pcap and OUTDIR/bench-<N>MB.pcapng, and prints what it wrote.
"""

from __future__ import annotations

import argparse
import heapq
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INCIDENT = REPO / "sample_captures" / "incident.home-wg0.pcap"
LINKTYPE_RAW = 101
COPIES_PER_BLOCK = 10
BLOCK_STAGGER_S = 0.05  # copies in a block start this far apart
BURIED_HOSTS = (bytes([198, 19, 1, 1]), bytes([198, 19, 1, 2]))  # the black holes' own path
MB = 1_000_000

Record = tuple[float, bytes]


def read_pcap(path: Path) -> tuple[bytes, list[Record]]:
    data = path.read_bytes()
    header = data[:24]
    magic = struct.unpack("<I", data[:4])[0]
    if magic != 0xA1B2C3D4 or struct.unpack("<I", data[20:24])[0] & 0xFFFF != LINKTYPE_RAW:
        sys.exit(f"{path}: need a little-endian microsecond pcap of raw IP (tcpdump -i wg0)")
    records, off = [], 24
    while off + 16 <= len(data):
        sec, usec, caplen, _orig = struct.unpack_from("<IIII", data, off)
        records.append((sec + usec / 1e6, data[off + 16 : off + 16 + caplen]))
        off += 16 + caplen
    return header, records


def ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def rewrite(
    packet: bytes, server_port: int, new_client_port: int, hosts: tuple[bytes, bytes] | None
) -> bytes:
    """Give the flow a new client port (and optionally new addresses) in an IPv4 TCP packet."""
    if len(packet) < 24 or packet[0] >> 4 != 4 or packet[9] != 6:
        return packet
    ihl = (packet[0] & 0x0F) * 4
    p = bytearray(packet)
    sport = struct.unpack_from("!H", p, ihl)[0]
    if sport == server_port:
        struct.pack_into("!H", p, ihl + 2, new_client_port)
    else:
        struct.pack_into("!H", p, ihl, new_client_port)
    if hosts is not None:
        server, client = hosts
        src_is_server = sport == server_port
        p[12:16], p[16:20] = (server, client) if src_is_server else (client, server)
    struct.pack_into("!H", p, 10, 0)
    struct.pack_into("!H", p, 10, ip_checksum(bytes(p[:ihl])))
    return bytes(p)


def server_port_of(records: list[Record]) -> int:
    for _ts, packet in records:
        if len(packet) >= 24 and packet[9] == 6:
            ihl = (packet[0] & 0x0F) * 4
            flags = packet[ihl + 13]
            if flags & 0x12 == 0x12:  # SYN-ACK: sent by the server
                return int(struct.unpack_from("!H", packet, ihl)[0])
    sys.exit("no SYN-ACK in the base capture: cannot tell the server's port")


def copies(
    records: list[Record],
    port: int,
    first_port: int,
    start: float,
    count: int,
    hosts: tuple[bytes, bytes] | None = None,
) -> list[Iterator[Record]]:
    t0 = records[0][0]

    def one(i: int) -> Iterator[Record]:
        shift = start + i * BLOCK_STAGGER_S - t0
        for ts, packet in records:
            yield ts + shift, rewrite(packet, port, first_port + i, hosts)

    return [one(i) for i in range(count)]


def hosts_of(records: list[Record]) -> tuple[bytes, bytes]:
    """(server, client) of the base capture: the addresses of its first SYN-ACK."""
    for _ts, packet in records:
        if len(packet) >= 24 and packet[9] == 6:
            ihl = (packet[0] & 0x0F) * 4
            if packet[ihl + 13] & 0x12 == 0x12:
                return packet[12:16], packet[16:20]
    sys.exit("no SYN-ACK in the base capture: cannot tell its hosts")


def build(base: Path, out_dir: Path, megabytes: int, on_bulk_pair: bool = False) -> Path:
    """The benchmark capture; `on_bulk_pair`: the black holes on the bulk's own two hosts (as
    on wg0, where every flow has the tunnel's two addresses), not on a pair of their own."""
    header, records = read_pcap(base)
    _, incident = read_pcap(INCIDENT)
    port = server_port_of(records)
    incident_port = server_port_of(incident)
    buried_hosts = hosts_of(records) if on_bulk_pair else BURIED_HOSTS
    per_copy = sum(16 + len(p) for _, p in records)
    duration = records[-1][0] - records[0][0]
    total_copies = max(1, round(megabytes * MB / per_copy))
    blocks = -(-total_copies // COPIES_PER_BLOCK)
    path = out_dir / f"bench-{megabytes}MB{'-bulk-pair' if on_bulk_pair else ''}.pcap"
    written = 0
    with path.open("wb") as f:
        f.write(header)
        next_port = 20000
        t = 1_750_000_000.0
        for block in range(blocks):
            count = min(COPIES_PER_BLOCK, total_copies - block * COPIES_PER_BLOCK)
            streams = copies(records, port, next_port, t, count)
            next_port += count
            if block == blocks // 2:  # bury the two black holes in the middle
                streams += copies(incident, incident_port, 61000, t + 0.5, 2, buried_hosts)
            for ts, packet in heapq.merge(*streams, key=lambda r: r[0]):
                sec = int(ts)
                f.write(
                    struct.pack("<IIII", sec, round((ts - sec) * 1e6), len(packet), len(packet))
                )
                f.write(packet)
                written += 16 + len(packet)
            t += duration + COPIES_PER_BLOCK * BLOCK_STAGGER_S + 1.0
    return path


def to_pcapng(pcap: Path) -> Path:
    from pcapmtu.lab.pcapng import Interface, write_pcapng

    out = pcap.with_suffix(".pcapng")
    with out.open("wb") as f:
        write_pcapng([Interface(pcap, "wg0")], f, "pcapmtu benchmarks")
    return out


def lab_base(out_dir: Path) -> Path:
    base = out_dir / "bulk-base.pcap"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pcapmtu",
            "lab",
            "run",
            "--workload",
            "bulk",
            "--response-bytes",
            "20000000",
            "--loss",
            "1",
            "--path-mtu",
            "1500",
            "--timeout",
            "60",
            "-o",
            str(base),
        ],
        check=False,
    )
    if not base.exists():
        sys.exit("the lab could not make the base capture (needs Linux and root); pass --base")
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--base", type=Path, help="a lab capture of a bulk transfer (raw IP)")
    parser.add_argument("--sizes", default="100,1000", help="sizes in MB, comma-separated")
    parser.add_argument("--no-pcapng", action="store_true", help="write only pcap")
    parser.add_argument(
        "--bulk-pair",
        action="store_true",
        help="also write bench-<N>MB-bulk-pair.pcap: the black holes on the bulk's own host pair",
    )
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    base = args.base or lab_base(args.out_dir)
    for size in (int(s) for s in args.sizes.split(",")):
        pcap = build(base, args.out_dir, size)
        print(f"wrote {pcap} ({pcap.stat().st_size / MB:.0f} MB)")
        if not args.no_pcapng:
            ng = to_pcapng(pcap)
            print(f"wrote {ng} ({ng.stat().st_size / MB:.0f} MB)")
        if args.bulk_pair:
            variant = build(base, args.out_dir, size, on_bulk_pair=True)
            print(f"wrote {variant} ({variant.stat().st_size / MB:.0f} MB)")


if __name__ == "__main__":
    main()
