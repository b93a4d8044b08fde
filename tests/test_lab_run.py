"""Real lab runs: a real WireGuard tunnel black-holes, and the fix delivers (Linux, root).

The assertions are the client's own outcome and the routers' own counters, never the analyser's
verdict. Each run must leave nothing behind: no namespace and no process of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pcapmtu.lab import Scenario, run_scenario
from pcapmtu.lab.recorder import read_pcap_header

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_ready")]
LINKTYPE_RAW = 101  # tcpdump -i wg0: raw IP, no link header
INCIDENT_TIMEOUT_S = 4.0  # long enough for four RTO back-offs of the lost segment


def _lab_namespaces(owner_pid: int) -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [
        line.split()[0]
        for line in listing.stdout.splitlines()
        if line.startswith(f"pcapmtu-{owner_pid}-")
    ]


def _processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line mentions `text` (a run's namespace names carry its owner PID)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(entry.name))
    return found


def test_incident_black_holes_and_a_fitting_mtu_delivers(tmp_path: Path) -> None:
    incident = run_scenario(Scenario(timeout_s=INCIDENT_TIMEOUT_S), tmp_path / "incident.pcap")
    fixed = run_scenario(
        Scenario(wg_mtu_home=1340, wg_mtu_proxy=1340, timeout_s=INCIDENT_TIMEOUT_S),
        tmp_path / "fixed.pcap",
    )

    # The client's side: the incident's response never arrives, the fix's does, whole.
    assert incident.outcome.complete is False
    assert incident.outcome.client_exit_status == 1
    assert incident.outcome.bytes_received < incident.outcome.bytes_expected == 1760
    assert incident.outcome.duration_s >= INCIDENT_TIMEOUT_S - 0.1
    assert fixed.outcome.complete is True
    assert fixed.outcome.bytes_received == fixed.outcome.bytes_expected == 1760

    # The routers' side: r1 dropped the 1480-byte outer packets and the ICMP that said so.
    r1 = incident.routers["r1"]
    assert r1["too_big_ipv4"] >= 3, "the big segment should have been sent (and dropped) often"
    assert r1["icmp_dropped"] == r1["too_big_ipv4"]
    assert fixed.routers["r1"]["too_big_ipv4"] == 0

    for result, name in ((incident, "incident"), (fixed, "fixed")):
        pcap = tmp_path / f"{name}.pcap"
        assert read_pcap_header(pcap).link_type == LINKTYPE_RAW
        assert result.captures[0].packets_captured > 5
        assert json.loads((tmp_path / f"{name}.json").read_text()) == result.to_dict()
    assert _lab_namespaces(os.getpid()) == []
    assert _processes_mentioning(f"pcapmtu-{os.getpid()}-") == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_tears_everything_down(tmp_path: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pcapmtu",
            "lab",
            "run",
            "-o",
            str(tmp_path / "x.pcap"),
            "--timeout",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        # Wait until the capture is running (tcpdump started), then interrupt mid-workload.
        while not _processes_mentioning("tcpdump") or not _lab_namespaces(proc.pid):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the lab never started capturing"
            time.sleep(0.1)
        time.sleep(1.0)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "pcapmtu: interrupted"
    assert _lab_namespaces(proc.pid) == []
    assert _processes_mentioning(f"pcapmtu-{proc.pid}-") == []
    assert not (tmp_path / "x.json").exists()


def test_cleanup_removes_only_namespaces_whose_owner_is_gone() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"pcapmtu-{dead.pid}-test-home"
    alive = f"pcapmtu-{os.getpid()}-test-home"
    from pcapmtu.lab import marks

    for name in (stale, alive):
        subprocess.run(["ip", "netns", "add", name], check=True)
        marks.mark(name)  # as the lab marks what it makes (this test's PID: alive)
    mark = marks.MARK_DIR / stale
    mark.write_text(mark.read_text().replace(str(os.getpid()), str(dead.pid), 1))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pcapmtu", "lab", "cleanup"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert f"removed {stale}" in done.stdout
        assert _lab_namespaces(dead.pid) == []
        assert _lab_namespaces(os.getpid()) == [alive]
    finally:
        for name in (stale, alive):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            marks.unmark(name)


GATE_TEMPLATE = """\
[Interface]
PrivateKey = {{ wg_private_key }}
MTU = {{ wg_mtu | default(1420) }}
"""


@pytest.mark.parametrize(("wg_mtu", "exit_code"), [(1440, 1), (1432, 0)])
def test_the_pre_deploy_gate_fails_a_config_that_black_holes(
    tmp_path: Path, wg_mtu: int, exit_code: int
) -> None:
    """The README's gate on a 1492-byte path (PPPoE): 1440 + 60 is too big, 1432 + 60 fits."""
    template = tmp_path / "server_wg0.conf.j2"
    template.write_text(GATE_TEMPLATE)
    capture = tmp_path / "gate.pcap"
    gate = [sys.executable, "-m", "pcapmtu", "lab", "run", "--wg-mtu-from", str(template)]
    gate += [
        "--var",
        f"wg_mtu={wg_mtu}",
        "--path-mtu",
        "1492",
        "--timeout",
        "4",
        "-o",
        str(capture),
    ]
    with subprocess.Popen(gate, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as run:
        out, err = run.communicate(timeout=120)
    assert run.returncode == exit_code, out + err
    assert out.startswith(f"wg0 MTU {wg_mtu} on both peers ({template}: MTU = ")
    assert _lab_namespaces(run.pid) == []
    sidecar = json.loads((tmp_path / "gate.json").read_text())
    assert sidecar["scenario"]["wg_mtu_home"] == sidecar["scenario"]["wg_mtu_proxy"] == wg_mtu
    analyze = [sys.executable, "-m", "pcapmtu", "analyze", "-q", str(capture)]
    verdict = subprocess.run(analyze, capture_output=True, text=True, timeout=60, check=False)
    assert verdict.returncode == exit_code, verdict.stdout
