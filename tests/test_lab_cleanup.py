"""Finding what killed lab runs left behind, by the owner PID in the names (no root needed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pcapmtu.lab.cleanup import owner_pid, remove_stale_workdirs


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_owner_pid_is_read_only_from_lab_names() -> None:
    assert owner_pid("pcapmtu-4242-abcd-home") == 4242
    assert owner_pid("pcapmtu-lab-77-xyz", "pcapmtu-lab-") == 77
    assert owner_pid("someone-elses-namespace") is None
    assert owner_pid("pcapmtu-notapid-home") is None


def test_only_work_folders_of_dead_runs_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"pcapmtu-lab-{_dead_pid()}-abc"
    alive = tmp_path / f"pcapmtu-lab-{os.getpid()}-def"
    unrelated = tmp_path / "pcapmtu-labrador"
    for folder in (dead, alive, unrelated):
        folder.mkdir()
        (folder / "wg-home.conf").write_text("[Interface]\n")
    assert remove_stale_workdirs(tmp_path) == [dead]
    assert not dead.exists() and alive.exists() and unrelated.exists()
