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
    # the goals, side by side: ratios of runs of one round, the least to the most
    row = next(
        line for line in run.stdout.splitlines() if "| pcapmtu, from stdin / pcapmtu |" in line
    )
    low, mid, high = (float(cell) for cell in row.split("|")[3:6])
    assert 0 < low <= mid <= high
    assert row.endswith("| <= 1.5 |")


def test_side_by_side_takes_each_ratio_within_a_round() -> None:
    """Synthetic run times: round by round, the ratio of the two tools' times of that round,
    not of their medians."""
    from benchmarks.run import side_by_side

    runs = {
        "pcapmtu": [(1.0, 0.0, b""), (4.0, 0.0, b""), (2.0, 0.0, b"")],
        "tcptrace -n -l": [(4.0, 0.0, b""), (4.0, 0.0, b""), (2.0, 0.0, b"")],
    }
    (row,) = side_by_side("x.pcap", runs)
    assert row == "| x.pcap | pcapmtu / tcptrace -n -l | 0.25 | 1.00 | 1.00 | <= 0.5 |"
