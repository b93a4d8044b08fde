"""Proof that a network namespace is the lab's own, beyond its name.

When the lab makes a namespace it writes a mark: a file in /run/pcapmtu-lab named after the
namespace, holding the owner's PID and the identity (device and inode) of the namespace's
handle in /run/netns. `pcapmtu lab cleanup` touches a namespace only when its mark is there and
names that very namespace: one made by someone else under a lab-like name (or a lab name made
again later) has no mark, or a mark of another inode, and is left alone with its processes.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

MARK_DIR = Path("/run/pcapmtu-lab")
NETNS_DIR = Path("/run/netns")


def _identity(namespace: str) -> tuple[int, int] | None:
    try:
        found = (NETNS_DIR / namespace).stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def mark(namespace: str) -> None:
    """Note that this process made `namespace` (right after `ip netns add`)."""
    identity = _identity(namespace)
    if identity is None:
        return
    MARK_DIR.mkdir(mode=0o700, exist_ok=True)
    path = MARK_DIR / namespace
    path.write_text(f"{os.getpid()} {identity[0]} {identity[1]}\n")
    path.chmod(0o600)


def owner(namespace: str) -> int | None:
    """The PID of the lab run that made `namespace`, when its mark proves the lab made it."""
    try:
        pid, dev, ino = (int(x) for x in (MARK_DIR / namespace).read_text().split())
    except (OSError, ValueError):
        return None
    return pid if _identity(namespace) == (dev, ino) else None


def unmark(namespace: str) -> None:
    """Forget the mark of a namespace the lab deleted."""
    with contextlib.suppress(OSError):
        (MARK_DIR / namespace).unlink()


def forget_stale_marks() -> list[str]:
    """Remove marks whose namespace is gone (deleted, or the machine restarted)."""
    gone = []
    if MARK_DIR.is_dir():
        for path in MARK_DIR.iterdir():
            if _identity(path.name) is None:
                unmark(path.name)
                gone.append(path.name)
    return gone
