"""One lab run from start to finish: build, bring the tunnel up, capture a workload, tear down.

`run_scenario` is the only entry point. Whatever happens (success, a failed step, Ctrl-C or
SIGTERM), teardown stops every process the run started, by PID, deletes the namespaces it made
and removes its work folder; only then are the captures moved to where the caller asked and the
sidecar JSON written next to them.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pcapmtu.errors import LabSetupError, UsageError
from pcapmtu.lab import firewall, marks, sshd, system, tlscerts, topology, vxlan, wireguard
from pcapmtu.lab.pcapng import Interface, write_pcapng
from pcapmtu.lab.recorder import Recorder, Recording, read_pcap_header
from pcapmtu.lab.scenario import Scenario
from pcapmtu.lab.topology import HTTP_PORT, WORKDIR_PREFIX, Namespaces
from pcapmtu.version import __version__

SIDECAR_SCHEMA_VERSION = 1
SERVER_READY_WAIT_S = 5.0
PROBE_TIMEOUT_S = 10.0
# After the client ends, let the last ACKs and FINs reach the capture before stopping it.
SETTLE_S = 0.5
# The client stops itself at its deadline; this is only the backstop if it hangs.
CLIENT_GRACE_S = 15.0
# Building the namespaces and the tunnel takes about a second; this is its generous bound.
BUILD_BUDGET_S = 60.0


@dataclass(frozen=True)
class CaptureFile:
    """A capture file the run wrote, and what it holds."""

    points: tuple[str, ...]
    path: Path
    link_types: tuple[int, ...]
    packets_captured: int
    packets_dropped_by_kernel: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path.name,
            "points": list(self.points),
            "link_types": list(self.link_types),
            "packets_captured": self.packets_captured,
            "packets_dropped_by_kernel": self.packets_dropped_by_kernel,
        }


@dataclass(frozen=True)
class Outcome:
    """What the client saw: the ground truth of the run, independent of any analyser."""

    complete: bool
    client_exit_status: int
    bytes_expected: int
    bytes_received: int
    duration_s: float
    requests: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "client_exit_status": self.client_exit_status,
            "bytes_expected": self.bytes_expected,
            "bytes_received": self.bytes_received,
            "duration_s": self.duration_s,
            "requests": list(self.requests),
        }


@dataclass(frozen=True)
class LabResult:
    """Everything a run produced; `to_dict` is the sidecar JSON."""

    scenario: Scenario
    captures: tuple[CaptureFile, ...]
    outcome: Outcome
    routers: dict[str, dict[str, int]]
    environment: dict[str, str]
    started_at: str
    duration_s: float
    sidecar: Path
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SIDECAR_SCHEMA_VERSION,
            "generator": f"pcapmtu {__version__} lab",
            "scenario": self.scenario.to_dict(),
            "captures": [c.to_dict() for c in self.captures],
            "outcome": self.outcome.to_dict(),
            "routers": self.routers,
            "environment": self.environment,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """A few lines for a terminal: the outcome first, then what the routers saw, then files."""
        s, o = self.scenario, self.outcome
        state = "complete" if o.complete else "INCOMPLETE"
        lines = [
            f"{state}: the client got {o.bytes_received} of {o.bytes_expected} bytes "
            f"in {o.duration_s:.1f} s ({_link_text(s)} over a "
            f"{s.path_mtu}-byte path, IPv{s.inner} in IPv{s.outer}, ICMP {s.icmp}, "
            f"workload {s.workload})"
        ]
        for role, counts in self.routers.items():
            too_big = counts["too_big_ipv4"] + counts["too_big_ipv6"]
            if too_big or counts["icmp_dropped"] or counts["random_loss_dropped"]:
                lines.append(
                    f"router {role}: {too_big} packets too big for the path dropped, "
                    f"{counts['icmp_dropped']} ICMP errors dropped, "
                    f"{counts['random_loss_dropped']} packets dropped at random"
                )
        for c in self.captures:
            lines.append(f"wrote {c.path} ({c.packets_captured} packets, {', '.join(c.points)})")
        lines.append(f"wrote {self.sidecar}")
        return "\n".join(lines)


def _link_text(s: Scenario) -> str:
    """The MTU under test in words: "wg MTU 1420/1420", "vxlan MTU 1450/1450", "eth0 MTU..."."""
    what = {"wireguard": "wg", "vxlan": "vxlan", "none": "no tunnel, eth0"}[s.tunnel]
    return f"{what} MTU {s.wg_mtu_home}/{s.wg_mtu_proxy}"


def run_budget_s(scenario: Scenario) -> float:
    """The longest a run can take: every child of the run is stopped by then, whatever happens."""
    return BUILD_BUDGET_S + PROBE_TIMEOUT_S + scenario.timeout_s + CLIENT_GRACE_S + SETTLE_S


def sidecar_path(output: Path) -> Path:
    """`capture.pcap` -> `capture.json`."""
    return output.with_suffix(".json")


def output_paths(scenario: Scenario, output: Path) -> dict[str, Path]:
    """Where each capture point's file goes: `output` itself when there is one file."""
    if scenario.format == "pcapng" or len(scenario.captures) == 1:
        return {point: output for point in scenario.captures}
    return {p: output.with_name(f"{output.stem}.{p}{output.suffix}") for p in scenario.captures}


def check_output(output: Path) -> None:
    """Refuse an output path that cannot work, before building anything."""
    if output.suffix == ".json":
        raise UsageError(f"-o {output}: the sidecar is written as .json; name the capture .pcap")
    if not output.parent.is_dir():
        raise UsageError(f"-o {output}: folder {output.parent} does not exist")
    if output.is_dir():
        raise UsageError(f"-o {output}: is a folder; name a capture file")
    if not os.access(output.parent, os.W_OK):
        raise UsageError(f"-o {output}: folder {output.parent} is not writable")


def run_scenario(scenario: Scenario, output: Path) -> LabResult:
    """Run `scenario` and write its capture(s) and sidecar; see the module docstring."""
    output = output.absolute()
    check_output(output)
    implementation = system.check_requirements(scenario.wireguard)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.monotonic()
    ns = Namespaces(f"{os.getpid()}-{secrets.token_hex(2)}")
    processes = system.Processes(lifetime_s=run_budget_s(scenario))
    workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    created: list[str] = []
    warnings: list[str] = []
    try:
        with _sigterm_as_interrupt():
            _build(scenario, ns, implementation, workdir, processes, created)
            recordings, outcome, routers = _capture_workload(scenario, ns, workdir, processes)
            captures = _deliver(scenario, recordings, output)
    finally:
        warnings += _teardown(processes, created, workdir)
    for capture in captures:
        if capture.packets_dropped_by_kernel:
            warnings.append(
                f"{capture.path.name}: the kernel dropped {capture.packets_dropped_by_kernel} "
                "packets before tcpdump saw them; the capture is incomplete"
            )
    result = LabResult(
        scenario=scenario,
        captures=tuple(captures),
        outcome=outcome,
        routers=routers,
        environment=_environment(implementation),
        started_at=started_at,
        duration_s=round(time.monotonic() - started, 2),
        sidecar=sidecar_path(output),
        warnings=tuple(warnings),
    )
    result.sidecar.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _build(
    scenario: Scenario,
    ns: Namespaces,
    implementation: str,
    workdir: Path,
    processes: system.Processes,
    created: list[str],
) -> None:
    rules = {role: firewall.router_rules(scenario, role) for role in topology.ROUTERS}
    for step in topology.plan_underlay(scenario, ns, rules):
        system.run(step.argv, stdin=step.stdin)
        if step.argv[:3] == ("ip", "netns", "add"):
            created.append(step.argv[3])
            marks.mark(step.argv[3])
    if scenario.tunnel == "wireguard":
        wireguard.Tunnel(scenario, ns, implementation, workdir, processes).build()
    elif scenario.tunnel == "vxlan":
        vxlan.build(scenario, ns)
    else:  # no tunnel: the endpoints' own link MTU is the one under test
        for role, mtu in (("home", scenario.wg_mtu_home), ("proxy", scenario.wg_mtu_proxy)):
            system.run(
                ["ip", "-n", ns[role], "link", "set", topology.UNDERLAY_IFACE, "mtu", str(mtu)]
            )
    clamp = firewall.endpoint_rules(scenario, topology.CLAMPED_HTTP_PORT)
    for role in topology.ENDPOINTS:
        if clamp is not None:
            system.run(["ip", "netns", "exec", ns[role], "nft", "-f", "-"], stdin=clamp)
        # Each connection starts fresh: no cached ssthresh or RTT from the warm-up request.
        step = topology.sysctl_step(ns[role], "net.ipv4.tcp_no_metrics_save", "1")
        system.run(step.argv)
    for sysctl in scenario.sysctls:
        for role in topology.ENDPOINTS:
            if sysctl.side in (role, "both"):
                system.run(topology.sysctl_step(ns[role], sysctl.key, sysctl.value).argv)


def _workload_argv(namespace: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, sys.executable, "-m", "pcapmtu.lab.workload", *args]


def _start_server(
    ns: Namespaces,
    address: str,
    lifetime: float,
    extra: list[str],
    log: Path,
    processes: system.Processes,
) -> None:
    """The lab's HTTP server on home, on `address` (ports 8080 and 8081), until it listens."""
    server = processes.start(
        "HTTP server (home)",
        _workload_argv(
            ns["home"],
            "serve",
            "--address",
            address,
            "--port",
            str(HTTP_PORT),
            "--port",
            str(topology.CLAMPED_HTTP_PORT),
            "--lifetime",
            str(lifetime),
            *extra,
        ),
        log,
    )

    def server_ready() -> bool:
        if server.poll() is not None:
            raise LabSetupError(f"the lab's HTTP server exited: {log.read_text().strip()}")
        return b"ready" in log.read_bytes()

    system.wait_until(server_ready, SERVER_READY_WAIT_S, "the lab's HTTP server to listen")


def _capture_workload(
    scenario: Scenario, ns: Namespaces, workdir: Path, processes: system.Processes
) -> tuple[list[Recording], Outcome, dict[str, dict[str, int]]]:
    server_address = (
        topology.tunnel_address("home", scenario.inner)
        if scenario.tunnel != "none"
        else topology.underlay_address("home", scenario.outer)
    )
    lifetime = run_budget_s(scenario)
    server_log = workdir / "server.log"
    https: list[str] = []
    if scenario.workload == "tls":
        chain, key = tlscerts.make_chain(workdir)
        https = ["--tls-port", str(topology.HTTPS_PORT), "--tls-cert", str(chain)]
        https += ["--tls-key", str(key)]
    _start_server(ns, server_address, lifetime, https, server_log, processes)
    if scenario.workload == "ssh":
        sshd.start(ns["home"], server_address, workdir, processes)
    common = ["--address", server_address, "--port", str(HTTP_PORT)]
    ports = [*common, "--port", str(topology.CLAMPED_HTTP_PORT)]
    probe = _run_client(
        ns, [*common, "--workload", "probe", "--timeout", str(PROBE_TIMEOUT_S)], PROBE_TIMEOUT_S
    )
    if probe.returncode != 0:
        raise LabSetupError(
            "the tunnel does not carry even a small request, so the lab itself is broken "
            "(not an MTU problem); check that nothing else filters the lab's traffic"
        )
    recorder = Recorder(scenario, ns, workdir, processes)
    timeline = [(scenario.capture_after_s, recorder.start)]
    if scenario.path_event != "none":
        timeline.append((scenario.event_at_s, lambda: _path_event(scenario, ns)))
    if scenario.capture_after_s == 0:
        recorder.start()  # before the client, so not one of its packets is missed
        timeline = timeline[1:]
    keep_alive = [a for size in scenario.keep_alive_sizes for a in ("--keep-alive", str(size))]
    with _on_timeline(timeline):
        client = _run_client(
            ns,
            [
                *ports,
                "--workload",
                scenario.workload,
                "--size",
                str(scenario.effective_response_bytes),
                "--upload",
                str(scenario.upload_bytes),
                "--timeout",
                str(scenario.timeout_s),
                *(keep_alive if scenario.workload == "keepalive" else []),
                "--pause",
                str(scenario.pause_s),
                "--tls-port",
                str(topology.HTTPS_PORT),
                "--ssh-port",
                str(sshd.SSH_PORT),
            ],
            scenario.timeout_s,
        )
    time.sleep(SETTLE_S)
    recordings = recorder.stop()
    routers = {role: _router_counters(ns[role]) for role in topology.ROUTERS}
    return recordings, _outcome(client), routers


@contextlib.contextmanager
def _on_timeline(timeline: list[tuple[float, Callable[[], None]]]) -> Iterator[None]:
    """Run each action of `timeline` at its time (seconds from entry) while the body runs; an
    action that fails fails the run, once the body is done."""
    failures: list[BaseException] = []
    stop = threading.Event()

    def play() -> None:
        started = time.monotonic()
        for at, action in sorted(timeline, key=lambda item: item[0]):
            if stop.wait(max(started + at - time.monotonic(), 0)):
                return
            try:
                action()
            except Exception as exc:  # reported by the caller's thread below
                failures.append(exc)
                return

    player = threading.Thread(target=play, name="lab timeline", daemon=True)
    player.start()
    try:
        yield
    finally:
        stop.set()
        player.join()
    if failures:
        raise failures[0]


def _path_event(scenario: Scenario, ns: Namespaces) -> None:
    """Change the path between the routers: lower its MTU (both ends of the link), or drop
    everything the first router forwards (both directions)."""
    if scenario.path_event == "mtu":
        link = topology.links(scenario)[1]
        for role, iface in ((link.a_role, link.a_iface), (link.b_role, link.b_iface)):
            mtu = str(scenario.event_path_mtu)
            system.run(["ip", "netns", "exec", ns[role], "ip", "link", "set", iface, "mtu", mtu])
    elif scenario.path_event == "outage":
        rule = ["forward", "counter", "drop", "comment", f'"{firewall.OUTAGE_COMMENT}"']
        system.run(
            ["ip", "netns", "exec", ns["r1"], "nft", "add", "rule", "inet", firewall.TABLE, *rule]
        )


def _run_client(
    ns: Namespaces, args: list[str], timeout: float
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            _workload_argv(ns["proxy"], "fetch", *args),
            capture_output=True,
            text=True,
            timeout=timeout + CLIENT_GRACE_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabSetupError(f"the lab's client did not stop after {timeout:g} s") from exc


def _outcome(client: subprocess.CompletedProcess[str]) -> Outcome:
    try:
        report = json.loads(client.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise LabSetupError(
            f"the lab's client gave no result (exit {client.returncode}): {client.stderr.strip()}"
        ) from exc
    requests = tuple(report["requests"])
    return Outcome(
        complete=bool(report["complete"]),
        client_exit_status=client.returncode,
        bytes_expected=sum(int(r["bytes_expected"]) for r in requests),
        bytes_received=sum(int(r["bytes_received"]) for r in requests),
        duration_s=max((float(r["duration_s"]) for r in requests), default=0.0),
        requests=requests,
    )


def _router_counters(namespace: str) -> dict[str, int]:
    """What a router dropped: by our rules, and (kernel's count) for being too big."""
    counters = firewall.rule_counters(
        json.loads(system.run(["ip", "netns", "exec", namespace, "nft", "-j", "list", "ruleset"]))
    )
    snmp = system.run(
        ["ip", "netns", "exec", namespace, "cat", "/proc/net/snmp", "/proc/net/snmp6"]
    )
    return {
        # IPv4: a packet with DF set that does not fit the next link counts as FragFails.
        "too_big_ipv4": _snmp_value(snmp, "Ip", "FragFails"),
        "too_big_ipv6": _snmp_value(snmp, "Ip6", "Ip6InTooBigErrors"),
        "icmp_dropped": counters.get("icmp-dest-unreachable", 0)
        + counters.get("icmpv6-packet-too-big", 0),
        "random_loss_dropped": counters.get(firewall.LOSS_COMMENT, 0),
        "outage_dropped": counters.get(firewall.OUTAGE_COMMENT, 0),
    }


def _snmp_value(text: str, table: str, name: str) -> int:
    """A counter from /proc/net/snmp (header line + value line) or snmp6 (name value)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        fields = line.split()
        if table == "Ip6" and fields[:1] == [name] and len(fields) == 2:
            return int(fields[1])
        if fields[:1] == [f"{table}:"] and name in fields and i + 1 < len(lines):
            values = lines[i + 1].split()
            if values[:1] == [f"{table}:"]:
                return int(values[fields.index(name)])
    return 0


def _deliver(scenario: Scenario, recordings: list[Recording], output: Path) -> list[CaptureFile]:
    """Move the finished captures to where the caller asked (pcapng: one merged file)."""
    if scenario.format == "pcapng":
        with output.open("wb") as out:
            write_pcapng(
                [Interface(r.path, r.interface) for r in recordings], out, f"pcapmtu {__version__}"
            )
        return [
            CaptureFile(
                points=tuple(r.point for r in recordings),
                path=output,
                link_types=tuple(read_pcap_header(r.path).link_type for r in recordings),
                packets_captured=sum(r.packets_captured for r in recordings),
                packets_dropped_by_kernel=sum(r.packets_dropped_by_kernel for r in recordings),
            )
        ]
    paths = output_paths(scenario, output)
    files = []
    for r in recordings:
        link_type = read_pcap_header(r.path).link_type
        shutil.move(str(r.path), paths[r.point])
        files.append(
            CaptureFile(
                (r.point,),
                paths[r.point],
                (link_type,),
                r.packets_captured,
                r.packets_dropped_by_kernel,
            )
        )
    return files


@dataclass(frozen=True)
class LiveLab:
    """A lab that is up: its namespaces, and how to run a command in one of them."""

    scenario: Scenario
    ns: Namespaces

    def address(self, role: str, where: str) -> str:
        """The address of "home" or "proxy": "tunnel" (inside it) or "underlay" (its endpoint)."""
        if where == "tunnel":
            return topology.tunnel_address(role, self.scenario.inner)
        return topology.underlay_address(role, self.scenario.outer)

    def run(self, role: str, argv: list[str], timeout: float = 120.0) -> str:
        """Run `argv` inside `role`'s namespace; its stdout (a failure is a LabSetupError, unless
        it exits 1, which pcapmtu's own commands use for "found")."""
        done = self.execute(role, argv, timeout)
        if done.returncode not in (0, 1):
            raise LabSetupError(f"{argv[0]} in {role}: {done.stderr.strip() or done.returncode}")
        return done.stdout

    def execute(
        self, role: str, argv: list[str], timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside `role`'s namespace, whatever it exits with."""
        return subprocess.run(
            ["ip", "netns", "exec", self.ns[role], *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )


@contextlib.contextmanager
def running(scenario: Scenario) -> Iterator[LiveLab]:
    """The lab of `scenario`, built, its tunnel up (an echo got through) and the HTTP server
    listening on home's tunnel address (port 8080: `/bytes/N` answers N bytes), for as long as
    the block runs; then torn down as `run_scenario` tears down, whatever happens."""
    implementation = system.check_requirements(scenario.wireguard)
    ns = Namespaces(f"{os.getpid()}-{secrets.token_hex(2)}")
    processes = system.Processes(lifetime_s=run_budget_s(scenario))
    workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    created: list[str] = []
    try:
        with _sigterm_as_interrupt():
            _build(scenario, ns, implementation, workdir, processes, created)
            lab = LiveLab(scenario, ns)
            address = lab.address("home", "tunnel" if scenario.tunnel != "none" else "underlay")
            log = workdir / "server.log"
            _start_server(ns, address, run_budget_s(scenario), [], log, processes)
            for where in ("underlay", "tunnel"):  # addresses settle (IPv6 DAD), peers handshake
                target = lab.address("proxy", where)
                echo = [sys.executable, "-m", "pcapmtu.probing.icmp", target, "0.5"]
                system.wait_until(
                    lambda echo=echo: lab.execute("home", echo, 10).returncode == 0,  # type: ignore[misc]
                    PROBE_TIMEOUT_S,
                    f"the lab's {where} to carry an echo to {target}",
                )
            yield lab
    finally:
        _teardown(processes, created, workdir)


def _teardown(processes: system.Processes, namespaces: list[str], workdir: Path) -> list[str]:
    """Stop what the run started and delete what it made; return problems, never raise. A
    Ctrl-C (or SIGTERM) meanwhile does not stop it half-way: it is said and the teardown goes
    on. What could not be removed is printed with the command that removes it."""
    with _interrupts_wait():
        problems = _tear_down(processes, namespaces, workdir)
    if problems:
        try:
            listed = system.run(["ip", "netns", "list"])
        except LabSetupError:
            listed = ""
        left = [n for n in namespaces if n in listed]
        print(
            "pcapmtu: the lab could not remove everything it made"
            + (f" (namespaces left: {', '.join(left)})" if left else "")
            + "; run: pcapmtu lab cleanup",
            file=sys.stderr,
        )
    return problems


@contextlib.contextmanager
def _interrupts_wait() -> Iterator[None]:
    """SIGINT and SIGTERM are said, not raised, while the lab is torn down."""

    def later(signum: int, frame: object) -> None:
        print("pcapmtu: removing the lab first; it takes a moment", file=sys.stderr)

    try:
        previous = {s: signal.signal(s, later) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals are not delivered here anyway
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _tear_down(processes: system.Processes, namespaces: list[str], workdir: Path) -> list[str]:
    problems = processes.stop_all()
    for namespace in reversed(namespaces):
        try:
            system.run(["ip", "netns", "del", namespace])
        except LabSetupError as exc:
            problems.append(str(exc))
            continue
        marks.unmark(namespace)
    shutil.rmtree(workdir, ignore_errors=True)
    wireguard.remove_run_dir()
    return problems


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so `finally` tears the lab down either way."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals cannot be caught here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _environment(implementation: str) -> dict[str, str]:
    return {
        "kernel": platform.release(),
        "wireguard": wireguard.version(implementation),
        "tcpdump": _first_line(["tcpdump", "--version"]),
        "python": platform.python_version(),
    }


def _first_line(argv: list[str]) -> str:
    try:
        return system.run(argv).splitlines()[0].strip()
    except (LabSetupError, IndexError):
        return "unknown"
