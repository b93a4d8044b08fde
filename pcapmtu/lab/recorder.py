"""tcpdump at the lab's capture points: start, wait until it listens, stop so it flushes.

Each capture point is one tcpdump in one namespace writing one pcap file. tcpdump is stopped
with SIGINT, on which it writes out what it holds and reports how many packets it captured and
how many the kernel dropped; a capture with kernel drops is not a faithful record, so the count
goes into the sidecar.
"""

from __future__ import annotations

import re
import signal
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pcapmtu.errors import LabSetupError
from pcapmtu.lab import system
from pcapmtu.lab.scenario import CAPTURE_POINTS, Scenario
from pcapmtu.lab.topology import Namespaces

LISTEN_WAIT_S = 5.0
# In --immediate-mode libpcap uses a ring of frames each as large as the snaplen (or 64 KiB when
# the interface offloads); tcpdump's default 2 MiB ring then holds only a few frames and a burst
# of packets overflows it ("dropped by kernel"). 32 MiB holds a burst of over 128.
CAPTURE_BUFFER_KIB = 32_768
_CAPTURED = re.compile(rb"(\d+) packets? captured")
_DROPPED = re.compile(rb"(\d+) packets? dropped by kernel")
# pcap file header: magic, version, thiszone, sigfigs, snaplen, then the link type at byte 20.
PCAP_MAGICS = {
    0xA1B2C3D4: "micro",
    0xA1B23C4D: "nano",
}
PCAP_HEADER_LEN = 24
LINKTYPE_MASK = 0xFFFF  # the upper bits of the field carry FCS flags, not the link type


@dataclass(frozen=True)
class Recording:
    """A finished capture: where the file is and what tcpdump said about it."""

    point: str
    role: str
    interface: str
    path: Path
    packets_captured: int
    packets_dropped_by_kernel: int


@dataclass(frozen=True)
class PcapHeader:
    link_type: int
    snaplen: int
    precision: str
    byte_order: str


def read_pcap_header(path: Path) -> PcapHeader:
    """The link type, snaplen and timestamp precision of a pcap file."""
    with path.open("rb") as f:
        raw = f.read(PCAP_HEADER_LEN)
    if len(raw) < PCAP_HEADER_LEN:
        raise LabSetupError(f"{path}: tcpdump wrote no pcap header")
    for order in ("<", ">"):
        (magic,) = struct.unpack(order + "I", raw[:4])
        if magic in PCAP_MAGICS:
            snaplen, linktype = struct.unpack(order + "II", raw[16:24])
            return PcapHeader(
                link_type=linktype & LINKTYPE_MASK,
                snaplen=snaplen,
                precision=PCAP_MAGICS[magic],
                byte_order="little" if order == "<" else "big",
            )
    raise LabSetupError(f"{path}: not a pcap file")


class Recorder:
    """One tcpdump per capture point of the scenario."""

    def __init__(
        self, scenario: Scenario, ns: Namespaces, workdir: Path, processes: system.Processes
    ) -> None:
        self.scenario = scenario
        self.ns = ns
        self.workdir = workdir
        self.processes = processes
        self._running: list[tuple[str, subprocess.Popen[bytes], Path, Path]] = []

    def start(self) -> None:
        for point in self.scenario.captures:
            role, iface = CAPTURE_POINTS[point]
            out = self.workdir / f"{point}.pcap"
            log = self.workdir / f"tcpdump-{point}.log"
            argv = [
                "ip",
                "netns",
                "exec",
                self.ns[role],
                "tcpdump",
                "-i",
                iface,
                "-w",
                str(out),
                "-s",
                str(self.scenario.snaplen),
                "-n",
                "--immediate-mode",
                "-B",
                str(CAPTURE_BUFFER_KIB),
                "-Z",
                "root",
                f"--time-stamp-precision={self.scenario.tstamp_precision}",
            ]
            proc = self.processes.start(f"tcpdump ({point})", argv, log)
            self._running.append((point, proc, out, log))
        for point, proc, _out, log in self._running:
            _wait_listening(point, proc, log)

    def stop(self) -> list[Recording]:
        recordings = []
        for point, proc, out, log in self._running:
            self.processes.stop(proc, signal.SIGINT)
            text = log.read_bytes()
            captured = _CAPTURED.search(text)
            dropped = _DROPPED.search(text)
            if not out.exists() or captured is None:
                last = text.decode(errors="replace").strip().splitlines() or ["no output"]
                raise LabSetupError(f"tcpdump at {point} failed: {last[-1]}")
            role, iface = CAPTURE_POINTS[point]
            recordings.append(
                Recording(
                    point=point,
                    role=role,
                    interface=iface,
                    path=out,
                    packets_captured=int(captured.group(1)),
                    packets_dropped_by_kernel=int(dropped.group(1)) if dropped else 0,
                )
            )
        self._running = []
        return recordings


def _wait_listening(point: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until tcpdump says it listens, so no packet of the workload is missed."""

    def listening() -> bool:
        if proc.poll() is not None:
            last = log.read_text(errors="replace").strip().splitlines() or ["no output"]
            raise LabSetupError(f"tcpdump at {point} exited: {last[-1]}")
        return b"listening on" in log.read_bytes()

    system.wait_until(listening, LISTEN_WAIT_S, f"tcpdump to listen at {point}")
