"""A small smoke run of the benchmark scripts (not timed): they build and they measure.

The real figures come from `benchmarks/` on 100 MB and 1 GB captures (see the README).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLES


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A benchmark script run to its end (not timed), its output kept."""
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / name), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )


def test_build_and_run_on_a_small_capture(tmp_path: Path) -> None:
    base = str(SAMPLES / "healthy-random-loss.pcap")
    build = _script("build_captures.py", str(tmp_path), "--base", base, "--sizes", "2")
    assert "bench-2MB.pcap" in build.stdout and "bench-2MB.pcapng" in build.stdout
    run = _script("run.py", str(tmp_path / "bench-2MB.pcap"), "--repeat", "1")
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


@pytest.mark.parametrize(
    "name", ["incident.home-wg0.pcap", "pcapng-two-interfaces.pcapng"], ids=str
)
def test_a_captures_headers_alone_read_as_no_packets(tmp_path: Path, name: str) -> None:
    """The start-up's run (`instructions.headers_only`): a pcap's file header, a pcapng's
    section and interfaces, read as a capture of the same format without packets."""
    from benchmarks.instructions import headers_only
    from pcapmtu.capture import Capture
    from pcapmtu.errors import EmptyCaptureError

    capture = SAMPLES / name
    empty = headers_only(capture, tmp_path / name)
    assert 0 < empty.stat().st_size < capture.stat().st_size
    assert capture.read_bytes().startswith(empty.read_bytes())
    try:
        with Capture(empty) as read:
            assert sum(len(batch) for batch in read.batches()) == 0
    except EmptyCaptureError:
        pass  # said so, as of a file with no packets


def test_the_costliest_functions_are_read_from_callgrinds_annotation() -> None:
    """SYNTHETIC callgrind_annotate lines: the functions, their counts and shares, the object
    file and a build folder cut; the totals line left out."""
    from benchmarks.instructions import collected, parse_annotated

    text = "\n".join(
        [
            "2,478,765,845 (100.0%)  PROGRAM TOTALS",
            "302,149,076 (12.19%)  pcapmtu/fast/src/screen.c:screen_rows [/x/_native.so]",
            " 82,090,543 ( 9.08%)  /tmp/python-build.2026/Python-3.11.7/Python/ceval.c:"
            "_PyEval_EvalFrameDefault'2 [/root/libpython3.11.so.1.0]",
            "not a function line",
        ]
    )
    assert parse_annotated(text) == [
        (302_149_076, 12.19, "pcapmtu/fast/src/screen.c:screen_rows"),
        (82_090_543, 9.08, "Python/ceval.c:_PyEval_EvalFrameDefault'2"),
    ]
    assert collected("==1== Events\n==1== Collected : 904221151\n") == 904_221_151
    with pytest.raises(RuntimeError, match="counted nothing"):
        collected("valgrind: no such program")


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_instructions_are_counted_on_a_small_capture() -> None:
    done = _script("instructions.py", str(SAMPLES / "incident.home-wg0.pcap"), "--top", "3")
    rows = [line.split("|") for line in done.stdout.splitlines() if "| incident" in line]
    (_, _, none, empty, start_up, _, _), (_, _, packets, whole_run, whole, per_packet, _) = rows
    assert none.strip() == "0" and "headers only" in empty
    assert int(packets) == 19 and whole_run.strip() == "pcapmtu analyze"
    assert 0 < int(start_up.replace(",", "")) < int(whole.replace(",", ""))
    assert int(per_packet.replace(",", "")) > 0
    assert "The 3 costliest functions" in done.stdout


def test_a_compressed_capture_has_no_headers_alone(tmp_path: Path) -> None:
    import gzip

    from benchmarks.instructions import headers_only

    packed = tmp_path / "incident.pcap.gz"
    packed.write_bytes(gzip.compress((SAMPLES / "incident.home-wg0.pcap").read_bytes()))
    with pytest.raises(ValueError, match="compressed"):
        headers_only(packed, tmp_path / "headers.gz")
