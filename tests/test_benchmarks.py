"""A small smoke run of the benchmark scripts (not timed): they build and they measure.

The real figures come from `benchmarks/` on 100 MB and 1 GB captures (see the README).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, SAMPLES


def test_build_and_run_on_a_small_capture(tmp_path: Path) -> None:
    build = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "build_captures.py"),
            str(tmp_path),
            "--base",
            str(SAMPLES / "healthy-random-loss.pcap"),
            "--sizes",
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert "bench-2MB.pcap" in build.stdout and "bench-2MB.pcapng" in build.stdout
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            str(tmp_path / "bench-2MB.pcap"),
            "--repeat",
            "1",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert "| bench-2MB.pcap |" in run.stdout and "| pcapmtu |" in run.stdout
    assert "verdict on bench-2MB.pcap: black_hole, 2 black-holed flows" in run.stderr
