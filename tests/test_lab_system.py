"""Running commands and children for the lab (no root needed)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from pcapmtu.errors import LabSetupError
from pcapmtu.lab import system


def test_run_returns_stdout() -> None:
    assert system.run(["echo", "hello"]) == "hello\n"


def test_failed_command_raises_with_its_last_stderr_line() -> None:
    with pytest.raises(LabSetupError, match=r"`sh -c .*` failed: second line"):
        system.run(["sh", "-c", "echo first >&2; echo second line >&2; exit 3"])


def test_missing_program_raises() -> None:
    with pytest.raises(LabSetupError, match="cannot run no-such-program-pcapmtu"):
        system.run(["no-such-program-pcapmtu"])


def test_hanging_command_is_cut_off() -> None:
    with pytest.raises(LabSetupError, match=r"did not finish in 0.3 s"):
        system.run(["sleep", "5"], timeout=0.3)


def test_wait_until_gives_up_naming_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(LabSetupError, match=r"timed out after 0\.2 s waiting for Godot"):
        system.wait_until(lambda: False, 0.2, "Godot")
    assert time.monotonic() - started < 2


def test_children_stop_by_themselves_after_their_lifetime(tmp_path: Path) -> None:
    """Even if the lab is killed and never stops them, its children end on their own."""
    processes = system.Processes(lifetime_s=1)
    proc = processes.start("sleeper", ["sleep", "30"], tmp_path / "sleep.log")
    started = time.monotonic()
    proc.wait(10)
    assert time.monotonic() - started < 5
    assert proc.returncode == 124  # coreutils timeout: the time limit ended it


def test_stop_passes_the_signal_to_the_child(tmp_path: Path) -> None:
    processes = system.Processes(lifetime_s=60)
    script = "trap 'echo got INT; exit 0' INT; while :; do sleep 0.05; done"
    proc = processes.start("trapper", ["sh", "-c", script], tmp_path / "trap.log")
    time.sleep(0.3)
    assert processes.stop(proc, signal.SIGINT) == 0
    assert "got INT" in (tmp_path / "trap.log").read_text()


def test_stop_all_stops_everything_still_running(tmp_path: Path) -> None:
    processes = system.Processes(lifetime_s=60)
    procs = [processes.start(f"s{i}", ["sleep", "30"], tmp_path / f"{i}.log") for i in range(3)]
    assert processes.stop_all() == []
    assert all(p.poll() is not None for p in procs)
