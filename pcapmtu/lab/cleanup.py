"""Remove what a lab run left behind when it could not clean up after itself (kill -9, a crash).

Every lab namespace is named `pcapmtu-<owner pid>-<random>-<role>`, and marked when made
(`marks`: the owner's PID and the namespace's identity). Only a marked namespace is the lab's:
one whose owner is still alive belongs to a running lab and is left alone; for the others, the
processes inside (which only a lab run started there) are stopped and the namespace is deleted.
A namespace with a lab-like name and no mark (or the mark of another namespace) is not touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

from pcapmtu.errors import LabSetupError
from pcapmtu.lab import marks, system
from pcapmtu.lab.topology import NAMESPACE_PREFIX, WORKDIR_PREFIX
from pcapmtu.model import is_number


def owner_pid(name: str, prefix: str = NAMESPACE_PREFIX) -> int | None:
    """The PID in a lab namespace's (or work folder's) name; None when it is not a lab's."""
    if not name.startswith(prefix):
        return None
    pid_text = name[len(prefix) :].split("-", 1)[0]
    return int(pid_text) if is_number(pid_text) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_namespaces() -> list[str]:
    """Lab namespaces whose owning process is gone."""
    listing = system.run(["ip", "netns", "list"])
    names = [line.split()[0] for line in listing.splitlines() if line.strip()]
    stale = []
    for name in names:
        pid = marks.owner(name) if owner_pid(name) is not None else None
        if pid is not None and not _alive(pid):
            stale.append(name)
    return stale


def remove_stale() -> list[str]:
    """Stop the processes in each stale lab namespace and delete it; return the names."""
    removed = []
    for name in stale_namespaces():
        pids = system.run(["ip", "netns", "pids", name]).split()
        for pid in (int(p) for p in pids if is_number(p)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            system.run(["ip", "netns", "del", name])
        except LabSetupError:
            continue
        marks.unmark(name)
        removed.append(name)
    marks.forget_stale_marks()
    return removed


def remove_stale_workdirs(parent: Path | None = None) -> list[Path]:
    """Delete the work folders (keys, logs, raw captures) of lab runs that are gone."""
    removed = []
    for path in Path(parent or tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        pid = owner_pid(path.name, WORKDIR_PREFIX)
        if path.is_dir() and pid is not None and not _alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
