"""Count the instructions pcapmtu executes on captures (valgrind's callgrind): figures that do
not move with the machine's load, to compare two versions of the code.

    python benchmarks/instructions.py CAPTURE... [--top 15] [--tcptrace]

Wall times on a shared machine vary by 20 to 30% from one run to the next, more than most
changes save; the instructions a run executes vary by less than 0.1%. For each capture this
counts, each in a run of its own under callgrind:

- the whole `pcapmtu analyze --json CAPTURE`;
- the same on the capture's headers alone (no packets): the start-up and the end, which the
  analysis's own instructions per packet leave out;
- with --tcptrace, `tcptrace -n -l CAPTURE`, for scale.

It prints the millions of instructions of each, and the analysis's own per packet (the whole
run less the start-up). With --top N, the N functions that executed the most instructions in
the whole run (callgrind_annotate), the compiled ones by name, Python's by its interpreter's.

Instructions are work, not time: the kernel's (reading the file) are not counted, nor waits,
and both of pcapmtu's threads add up (the reading one runs beside the analysing one). A change
that cuts instructions in the analysing thread cuts time; one in the reading thread may not.
Runs take about 50 times as long as without valgrind (a minute for 1 GB). Captures: pcap or
pcapng, not compressed. Needs valgrind (Debian package valgrind). This is not a test.
"""

from __future__ import annotations

import argparse
import compileall
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pcapmtu
from pcapmtu.capture.magics import GZIP_MAGIC, PCAP_HEADER_LEN, PCAPNG_MAGIC
from pcapmtu.capture.pcapng import (
    PCAPNG_BLOCK_OVERHEAD,
    PCAPNG_BYTE_ORDER_MAGIC,
    PCAPNG_EPB,
    PCAPNG_OPB,
    PCAPNG_SPB,
)

PACKET_BLOCKS = {PCAPNG_OPB, PCAPNG_SPB, PCAPNG_EPB}
COLLECTED = re.compile(r"Collected : (\d+)")
ANNOTATED = re.compile(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S.*?)\s*$")


def collected(stderr: str) -> int:
    """The instructions callgrind counted, from what it wrote on stderr."""
    found = COLLECTED.findall(stderr)
    if not found:
        raise RuntimeError(f"callgrind counted nothing; it said:\n{stderr[-2000:]}")
    return int(found[-1])


def headers_only(capture: Path, out: Path) -> Path:
    """A copy of `capture` without its packets: a pcap's file header, or a pcapng's blocks
    before its first packet (section header, interfaces)."""
    with capture.open("rb") as f:
        data = f.read(1 << 20)
    if data.startswith(GZIP_MAGIC):
        raise ValueError(f"{capture}: compressed; give the capture itself (gunzip it)")
    if not data.startswith(PCAPNG_MAGIC):  # pcap
        out.write_bytes(data[:PCAP_HEADER_LEN])
        return out
    order = "<" if data[8:12] == struct.pack("<I", PCAPNG_BYTE_ORDER_MAGIC) else ">"
    at = 0
    while at + PCAPNG_BLOCK_OVERHEAD <= len(data):
        kind, length = struct.unpack_from(order + "II", data, at)
        if kind in PACKET_BLOCKS or length < PCAPNG_BLOCK_OVERHEAD:
            break
        at += length
    out.write_bytes(data[:at])
    return out


def count(argv: list[str], out: Path | None = None) -> tuple[int, str]:
    """(instructions, stdout) of one run of `argv` under callgrind; its profile in `out`."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out or '/dev/null'}",
            *argv,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return collected(done.stderr), done.stdout


def top_functions(profile: Path, n: int) -> list[tuple[int, float, str]]:
    """The `n` functions of a callgrind profile that executed the most instructions
    themselves: (instructions, percent of the run, where), the path of a build folder cut."""
    text = subprocess.run(
        ["callgrind_annotate", str(profile)], capture_output=True, text=True, check=True
    ).stdout
    return parse_annotated(text)[:n]


def parse_annotated(text: str) -> list[tuple[int, float, str]]:
    """callgrind_annotate's function lines, in its order (the most first)."""
    rows = []
    for line in text.splitlines():
        match = ANNOTATED.match(line)
        if match is None or "PROGRAM TOTALS" in line:
            continue
        where = re.sub(r"\s*\[[^]]*\]$", "", match.group(3))  # the object file
        where = re.sub(r"^/tmp/python-build[^/]*/Python-[^/]*/", "", where)
        rows.append((int(match.group(1).replace(",", "")), float(match.group(2)), where))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("captures", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=0, help="the N costliest functions")
    parser.add_argument("--tcptrace", action="store_true", help="count tcptrace -n -l too")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("instructions.py: needs valgrind (apt-get install valgrind)")
    compileall.compile_dir(Path(pcapmtu.__file__).parent, quiet=1)  # as an install has them
    print(f"pcapmtu {pcapmtu.__version__}")
    print("| capture | packets | run | M instructions | per packet |")
    print("|---|---|---|---|---|")
    analyze = [sys.executable, "-m", "pcapmtu", "analyze", "--json"]
    for capture in args.captures:
        with tempfile.TemporaryDirectory() as folder:
            try:
                empty = headers_only(capture, Path(folder) / f"headers{capture.suffix}")
            except (OSError, ValueError) as exc:
                print(f"instructions.py: skipped {exc}", file=sys.stderr)
                continue
            start_up, _ = count([*analyze, str(empty)])
            profile = Path(folder) / "callgrind.out"
            whole, stdout = count([*analyze, str(capture)], profile if args.top else None)
            packets = sum(c["packets"] for c in json.loads(stdout)["captures"])
            per_packet = f"{(whole - start_up) / packets:,.0f}" if packets else "-"
            print(
                f"| {capture.name} | 0 | pcapmtu analyze, headers only | {start_up / 1e6:,.0f} | |"
            )
            print(
                f"| {capture.name} | {packets} | pcapmtu analyze | {whole / 1e6:,.0f} | "
                f"{per_packet} |"
            )
            if args.tcptrace and shutil.which("tcptrace"):
                traced, _ = count(["tcptrace", "-n", "-l", str(capture)])
                print(f"| {capture.name} | {packets} | tcptrace -n -l | {traced / 1e6:,.0f} | |")
            if args.top:
                print(f"\nThe {args.top} costliest functions of pcapmtu analyze {capture.name}:")
                for instructions, percent, where in top_functions(profile, args.top):
                    print(f"  {instructions / 1e6:9,.1f} M {percent:5.1f}%  {where}")
                print()


if __name__ == "__main__":
    main()
