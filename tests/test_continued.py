"""Rotated captures (tcpdump -C/-G/-W, dumpcap -b) read as one: real sample captures cut into
files at record boundaries, as the writers cut them (each file with its own file header), must
give the report of the whole."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLES

INCIDENT = SAMPLES / "incident.home-wg0.pcap"
TWO_INTERFACES = SAMPLES / "pcapng-two-interfaces.pcapng"


def _pcap_pieces(capture: Path, names: list[Path], cuts: list[int]) -> None:
    """The capture's records cut into files at `cuts` (record numbers), each file with the
    capture's pcap header, as tcpdump -C writes them."""
    data = capture.read_bytes()
    header, at, records = data[:24], 24, []
    while at + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, at + 8)[0]
        records.append(data[at : at + 16 + caplen])
        at += 16 + caplen
    bounds = [0, *cuts, len(records)]
    for name, a, b in zip(names, bounds, bounds[1:], strict=False):
        name.write_bytes(header + b"".join(records[a:b]))


def _pcapng_pieces(capture: Path, names: list[Path]) -> None:
    """The pcapng's packet blocks shared out among files, each beginning with the capture's
    section and interface blocks, as dumpcap -b writes them."""
    data = capture.read_bytes()
    blocks, at = [], 0
    while at + 12 <= len(data):
        kind, length = struct.unpack_from("<II", data, at)
        blocks.append((kind, data[at : at + length]))
        at += length
    first_packet = next(i for i, (kind, _) in enumerate(blocks) if kind in (3, 6))
    head = b"".join(block for _, block in blocks[:first_packet])
    rest = [block for _, block in blocks[first_packet:]]
    share = -(-len(rest) // len(names))
    for i, name in enumerate(names):
        name.write_bytes(head + b"".join(rest[i * share : (i + 1) * share]))


def _without_names(report: Any, *names: str) -> str:
    """The report's JSON with the captures' names taken out (they differ by design)."""
    text: str = report.to_json()
    for name in names:
        text = text.replace(json.dumps(name)[1:-1], "CAPTURE")
    return text


def test_tcpdump_pieces_are_joined_by_their_names(tmp_path: Path) -> None:
    from pcapmtu import analyze
    from pcapmtu.capture.continued import Continued, group

    names = [tmp_path / n for n in ("cap.pcap", "cap.pcap1", "cap.pcap2")]
    _pcap_pieces(INCIDENT, names, [6, 12])
    other = str(SAMPLES / "ssh.pcap")
    joined, notes = group([*map(str, names), other])
    assert joined == [Continued(tuple(map(str, names))), other] and notes == []
    one = analyze(joined[0])
    whole = analyze(INCIDENT)
    assert one.captures[0].packets == whole.captures[0].packets == 19
    assert _without_names(one, one.captures[0].name) == _without_names(
        whole, whole.captures[0].name
    )


def test_a_ring_buffer_is_read_oldest_file_first(tmp_path: Path) -> None:
    """tcpdump -W 3 -C reuses its numbers: cap.pcap1 may hold the oldest packets."""
    from pcapmtu import analyze
    from pcapmtu.capture.continued import group

    oldest, middle, newest = (tmp_path / n for n in ("cap.pcap1", "cap.pcap2", "cap.pcap0"))
    _pcap_pieces(INCIDENT, [oldest, middle, newest], [6, 12])
    joined, _ = group([str(newest), str(oldest), str(middle)])
    assert len(joined) == 1
    assert joined[0].paths == (str(oldest), str(middle), str(newest))  # type: ignore[union-attr]
    assert analyze(joined[0]).black_holes


def test_dumpcap_pieces_are_joined_by_their_names(tmp_path: Path) -> None:
    from pcapmtu import analyze
    from pcapmtu.capture.continued import group

    names = [tmp_path / f"wg_{i:05d}_2026113005{i:04d}.pcapng" for i in (1, 2, 3)]
    _pcapng_pieces(TWO_INTERFACES, names)
    joined, _ = group([str(n) for n in reversed(names)])
    assert len(joined) == 1
    one, whole = analyze(joined[0]), analyze(TWO_INTERFACES)
    assert one.verdict == whole.verdict == "black_hole"
    assert one.captures[0].packets == whole.captures[0].packets
    assert _without_names(one, one.captures[0].name) == _without_names(
        whole, whole.captures[0].name
    )


def test_files_that_do_not_continue_one_another_stay_apart(tmp_path: Path) -> None:
    from pcapmtu.capture.continued import group

    first, second = tmp_path / "cap.pcap", tmp_path / "cap.pcap1"
    _pcap_pieces(INCIDENT, [first, tmp_path / "unused.pcap"], [6])
    second.write_bytes((SAMPLES / "any-sll2.pcap").read_bytes())  # another link type
    joined, notes = group([str(first), str(second)])
    assert joined == [str(first), str(second)]
    assert notes == [f"read as separate captures: {second} has link type 276, {first} has 101"]
    lone, _ = group([str(first), str(SAMPLES / "ssh.pcap")])
    assert lone == [str(first), str(SAMPLES / "ssh.pcap")]
    twice, _ = group([str(first), str(first)])
    assert twice == [str(first), str(first)]  # one file given twice is not a series


def _pcapmtu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pcapmtu", *args], capture_output=True, text=True, timeout=120
    )


def test_continued_joins_any_names_in_the_order_given(tmp_path: Path) -> None:
    names = [tmp_path / n for n in ("monday.pcap", "tuesday.pcap", "wednesday.pcap")]
    _pcap_pieces(INCIDENT, names, [6, 12])
    apart = _pcapmtu("analyze", "--json", *map(str, names))
    joined = _pcapmtu("analyze", "--json", "--continued", *map(str, names))
    whole = _pcapmtu("analyze", "--json", str(INCIDENT))
    assert len(json.loads(apart.stdout)["captures"]) == 3
    assert joined.returncode == whole.returncode == 1
    got, want = json.loads(joined.stdout), json.loads(whole.stdout)
    assert got["findings"][0]["evidence"] == [
        {**e, "capture": got["captures"][0]["name"]} for e in want["findings"][0]["evidence"]
    ]
    assert got["captures"][0]["name"] == f"{names[0]} (+2 continued)"
    backwards = _pcapmtu("analyze", "--continued", str(names[1]), str(names[0]))
    assert backwards.returncode == 2
    assert backwards.stderr.strip() == (
        f"pcapmtu: error: not one capture in pieces: {names[0]} begins before {names[1]}"
    )


@pytest.mark.parametrize("args", [["-"], ["only.pcap"]])
def test_continued_needs_two_files(args: list[str]) -> None:
    done = _pcapmtu("analyze", "--continued", *args)
    assert done.returncode == 2 and "--continued joins two or more capture files" in done.stderr


def test_check_reads_a_folders_rotated_capture_as_one(tmp_path: Path) -> None:
    """`pcapmtu check` of a folder: the pieces are one capture, with its first file's
    expectation (a sidecar named after it)."""
    names = [tmp_path / n for n in ("cap.pcap", "cap.pcap1", "cap.pcap2")]
    _pcap_pieces(INCIDENT, names, [6, 12])
    (tmp_path / "cap.expect.json").write_text(
        json.dumps(
            {"verdict": "black_hole", "affected_flows": 1, "bracket": {"min": 444, "max": 1419}}
        )
    )
    done = _pcapmtu("check", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"PASS  {names[0]} (+2 continued): black hole, 1 affected flow, bracket 444-1419",
        "1 capture: 1 passed",
    ]
