"""An OpenSSH server on the lab's home side, for the ssh workload: a key exchange is the
classic thing a black hole stops ("expecting SSH2_MSG_KEX_ECDH_REPLY").

Its host key is RSA of `HOST_KEY_BITS`, so the server's key exchange reply (the host key, its
signature and the post-quantum hybrid's ciphertext) needs more than one full-size packet. The
server runs in the foreground under the lab's process tracking, with a config, host key and log
of its own in the run's work folder; it accepts no login (the key exchange is all the workload
needs).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pcapmtu.errors import LabUnavailableError
from pcapmtu.lab import system

HOST_KEY_BITS = 4096
SSH_PORT = 2222
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without it
READY_WAIT_S = 10.0


def start(namespace: str, address: str, workdir: Path, processes: system.Processes) -> None:
    """Start sshd in `namespace`, listening on `address`, and wait until it listens."""
    sshd = shutil.which("sshd") or shutil.which("/usr/sbin/sshd")
    if sshd is None:
        raise LabUnavailableError(
            "the ssh workload needs sshd: install it with apt-get install openssh-server"
        )
    key = workdir / "ssh_host_rsa_key"
    system.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", str(HOST_KEY_BITS), "-N", "", "-f", str(key)]
    )
    config = workdir / "sshd_config"
    config.write_text(
        f"ListenAddress {address}\nPort {SSH_PORT}\nHostKey {key}\nPidFile none\n"
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication no\nAuthorizedKeysFile none\nLogLevel VERBOSE\n"
    )
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    log = workdir / "sshd.log"
    proc = processes.start(
        "sshd (home)", ["ip", "netns", "exec", namespace, sshd, "-D", "-e", "-f", str(config)], log
    )

    def listening() -> bool:
        if proc.poll() is not None:
            raise LabUnavailableError(f"sshd exited: {log.read_text().strip()[-300:]}")
        return b"Server listening" in log.read_bytes()

    system.wait_until(listening, READY_WAIT_S, "sshd to listen")
