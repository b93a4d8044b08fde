"""A real WireGuard tunnel between the lab's home and proxy namespaces.

With the kernel module, `ip link add type wireguard` makes the interface. Without it,
wireguard-go makes a TUN device in the namespace it runs in, and keeps its control socket in
/var/run/wireguard, which all namespaces share. So each instance, and each `wg` that talks to
it, runs under `unshare -m` with a private bind mount of its own folder over /var/run/wireguard;
`exec` keeps the PID of wireguard-go the PID the lab started, so it can be stopped by PID.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from pcapmtu.errors import LabSetupError
from pcapmtu.lab import system
from pcapmtu.lab.scenario import Scenario
from pcapmtu.lab.topology import (
    WG_IFACE,
    WG_PORT,
    Namespaces,
    tunnel_address,
    tunnel_up_steps,
    underlay_address,
)

WG_RUN_DIR = Path("/var/run/wireguard")
SOCKET_WAIT_S = 5.0
_BIND_AND_EXEC = 'mount --bind "$1" /var/run/wireguard && shift && exec "$@"'


@dataclass(frozen=True)
class Keys:
    private: str
    public: str


def generate_keys() -> Keys:
    """A fresh key pair from `wg genkey` / `wg pubkey`."""
    private = system.run(["wg", "genkey"]).strip()
    public = system.run(["wg", "pubkey"], stdin=private + "\n").strip()
    return Keys(private, public)


def config_text(own: Keys, peer: Keys, peer_role: str, scenario: Scenario) -> str:
    """The `wg setconf` file for one side (no wg-quick keys: addresses and MTU are set by ip)."""
    endpoint = underlay_address(peer_role, scenario.outer)
    host = f"[{endpoint}]" if scenario.outer == 6 else endpoint
    allowed = f"{tunnel_address(peer_role, scenario.inner)}/{128 if scenario.inner == 6 else 32}"
    return (
        f"[Interface]\nPrivateKey = {own.private}\nListenPort = {WG_PORT}\n\n"
        f"[Peer]\nPublicKey = {peer.public}\nAllowedIPs = {allowed}\nEndpoint = {host}:{WG_PORT}\n"
    )


def _in_private_run_dir(namespace: str, socket_dir: Path, argv: list[str]) -> list[str]:
    return [
        "ip",
        "netns",
        "exec",
        namespace,
        "unshare",
        "-m",
        "sh",
        "-c",
        _BIND_AND_EXEC,
        "sh",
        str(socket_dir),
        *argv,
    ]


class Tunnel:
    """Builds the tunnel on both sides; `processes` tracks any wireguard-go it starts."""

    def __init__(
        self,
        scenario: Scenario,
        ns: Namespaces,
        implementation: str,
        workdir: Path,
        processes: system.Processes,
    ) -> None:
        self.scenario = scenario
        self.ns = ns
        self.implementation = implementation
        self.workdir = workdir
        self.processes = processes

    def socket_dir(self, role: str) -> Path:
        return self.workdir / f"wg-{role}"

    def build(self) -> None:
        keys = {role: generate_keys() for role in ("home", "proxy")}
        mtus = {"home": self.scenario.wg_mtu_home, "proxy": self.scenario.wg_mtu_proxy}
        for role, peer in (("home", "proxy"), ("proxy", "home")):
            namespace = self.ns[role]
            # the private key goes to `wg` on its stdin: it is never written to a file
            conf = config_text(keys[role], keys[peer], peer, self.scenario)
            setconf = ["wg", "setconf", WG_IFACE, "/dev/stdin"]
            if self.implementation == "kernel":
                system.run(["ip", "-n", namespace, "link", "add", WG_IFACE, "type", "wireguard"])
                system.run(["ip", "netns", "exec", namespace, *setconf], stdin=conf)
            else:
                self._start_userspace(role)
                socket_dir = self.socket_dir(role)
                system.run(_in_private_run_dir(namespace, socket_dir, setconf), stdin=conf)
            inner = self.scenario.inner
            for step in tunnel_up_steps(namespace, WG_IFACE, role, inner, mtus[role]):
                system.run(step.argv)

    def _start_userspace(self, role: str) -> None:
        global _MADE_RUN_DIR
        if not WG_RUN_DIR.exists():  # the bind mount needs the folder: made, and removed after
            WG_RUN_DIR.mkdir(parents=True)
            _MADE_RUN_DIR = True
        socket_dir = self.socket_dir(role)
        socket_dir.mkdir(mode=0o700)
        namespace = self.ns[role]
        proc = self.processes.start(
            f"wireguard-go ({role})",
            _in_private_run_dir(namespace, socket_dir, ["wireguard-go", "-f", WG_IFACE]),
            self.workdir / f"wireguard-go-{role}.log",
        )
        sock = socket_dir / f"{WG_IFACE}.sock"

        def ready() -> bool:
            if proc.poll() is not None:
                log = (self.workdir / f"wireguard-go-{role}.log").read_text(errors="replace")
                raise LabSetupError(
                    f"wireguard-go ({role}) exited with status {proc.returncode}: "
                    + (log.strip().splitlines() or ["no output"])[-1]
                )
            return sock.exists()

        system.wait_until(ready, SOCKET_WAIT_S, f"wireguard-go ({role}) to open {sock}")


_MADE_RUN_DIR = False  # this process made /var/run/wireguard (for the bind mounts)


def remove_run_dir() -> None:
    """Remove /var/run/wireguard when the lab made it and it is empty again."""
    global _MADE_RUN_DIR
    if _MADE_RUN_DIR:
        with contextlib.suppress(OSError):
            WG_RUN_DIR.rmdir()
        _MADE_RUN_DIR = False


def version(implementation: str) -> str:
    """What ran the tunnel, for the sidecar."""
    if implementation == "kernel":
        return "kernel module"
    try:
        return system.run(["wireguard-go", "--version"]).splitlines()[0].strip()
    except (LabSetupError, IndexError):
        return "wireguard-go (version unknown)"
