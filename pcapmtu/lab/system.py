"""Running commands for the lab, and ending exactly the processes it started.

Everything the lab does to the machine goes through here: `check_requirements` says in one line
what is missing, `run` turns a failed command into a `LabSetupError` carrying its stderr, and
`Processes` remembers each long-running child by PID so teardown can stop it (and only it), on
success, failure or Ctrl-C. Every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pcapmtu.errors import LabSetupError, LabUnavailableError

# Tool -> the Debian package that provides it, for the one-line "install this" error.
REQUIRED_TOOLS: dict[str, str] = {
    "ip": "iproute2",
    "tc": "iproute2",
    "nft": "nftables",
    "tcpdump": "tcpdump",
    "wg": "wireguard-tools",
}
USERSPACE_WIREGUARD = ("wireguard-go", "wireguard-go")
TUN_DEVICE = Path("/dev/net/tun")
KERNEL_WIREGUARD_MODULE = Path("/sys/module/wireguard")
COMMAND_TIMEOUT_S = 30.0
STOP_GRACE_S = 3.0
POLL_INTERVAL_S = 0.02


def kernel_wireguard_loaded() -> bool:
    """True when the WireGuard kernel module is loaded (or built in)."""
    return KERNEL_WIREGUARD_MODULE.exists()


def check_linux_root() -> None:
    """Raise `LabUnavailableError` unless this is Linux and we are root."""
    if not sys.platform.startswith("linux"):
        raise LabUnavailableError(f"the lab needs Linux network namespaces; this is {sys.platform}")
    if os.geteuid() != 0:
        raise LabUnavailableError(
            "the lab needs root (it creates network namespaces): run it with sudo"
        )


def check_requirements(wireguard: str) -> str:
    """Raise `LabUnavailableError` naming what is missing; return the WireGuard to use.

    `wireguard` is "auto", "kernel" or "userspace"; the answer is "kernel" or "userspace".
    """
    check_linux_root()
    missing = {pkg: tool for tool, pkg in REQUIRED_TOOLS.items() if shutil.which(tool) is None}
    implementation = wireguard
    if wireguard == "auto":
        implementation = "kernel" if kernel_wireguard_loaded() else "userspace"
    if implementation == "kernel" and not kernel_wireguard_loaded():
        raise LabUnavailableError(
            "--wireguard kernel: the wireguard kernel module is not loaded (modprobe wireguard)"
        )
    if implementation == "userspace":
        tool, pkg = USERSPACE_WIREGUARD
        if shutil.which(tool) is None:
            missing[pkg] = tool
        if not TUN_DEVICE.exists():
            raise LabUnavailableError(f"userspace WireGuard needs {TUN_DEVICE}, which is missing")
    if missing:
        tools = ", ".join(sorted(missing.values()))
        packages = " ".join(sorted(missing))
        raise LabUnavailableError(
            f"the lab needs {tools}: install them with apt-get install {packages}"
        )
    return implementation


def run(
    argv: Sequence[str], *, stdin: str | None = None, timeout: float = COMMAND_TIMEOUT_S
) -> str:
    """Run a short command to completion; return its stdout or raise `LabSetupError`."""
    try:
        done = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise LabSetupError(f"cannot run {argv[0]}: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabSetupError(f"`{' '.join(argv)}` did not finish in {timeout:g} s") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        reason = detail[-1] if detail else f"exit status {done.returncode}"
        raise LabSetupError(f"`{' '.join(argv)}` failed: {reason}")
    return done.stdout


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; raise `LabSetupError` saying `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise LabSetupError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_INTERVAL_S)


class Processes:
    """The long-running children of one lab run, each remembered by PID until it is stopped.

    Each child runs under coreutils `timeout`, so even if the lab itself is killed (kill -9)
    its children stop by themselves after `lifetime_s`; `timeout` passes on the signals the lab
    sends to stop them earlier.
    """

    def __init__(self, lifetime_s: float) -> None:
        self.lifetime_s = lifetime_s
        self._running: dict[int, tuple[str, subprocess.Popen[bytes]]] = {}

    def start(self, name: str, argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        """Start `argv` with stdout and stderr to `log`, in its own session.

        Its own session keeps a terminal's Ctrl-C away from it, so teardown can stop the
        children in order (tcpdump must get SIGINT to flush its file).
        """
        with log.open("wb") as out:
            try:
                proc = subprocess.Popen(
                    [*self._bounded(), *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise LabSetupError(f"cannot start {name} ({argv[0]}): {exc}") from exc
        self._running[proc.pid] = (name, proc)
        return proc

    def _bounded(self) -> list[str]:
        return ["timeout", f"--kill-after={STOP_GRACE_S:g}", f"{self.lifetime_s:.0f}"]

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
        """Send `sig`, wait a little, then SIGKILL; return the exit status."""
        self._running.pop(proc.pid, None)
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_GRACE_S)
        return proc.returncode

    def stop_all(self) -> list[str]:
        """Stop every child still running, newest first; return problems met (never raises)."""
        problems: list[str] = []
        for pid in sorted(self._running, reverse=True):
            name, proc = self._running[pid]
            try:
                self.stop(proc)
            except (OSError, subprocess.SubprocessError) as exc:
                problems.append(f"could not stop {name} (pid {pid}): {exc}")
        return problems
