"""`pcapmtu report`'s page: made from what the analysis kept, without pandas or matplotlib; its
pictures are the charts the notebooks' plots draw, as SVG a browser can read; a Ctrl-C still
writes it."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pcapmtu import charts, frames, page, svg
from pcapmtu.kept import gather
from pcapmtu.postmortem import Postmortem
from tests.conftest import SAMPLES

INCIDENT = SAMPLES / "incident.home-wg0.pcap"
# a WireGuard capture and its underlay: the page reads the underlay again for its messages
BOTH_LAYERS = [SAMPLES / "icmp-allowed.home-wg0.pcap", SAMPLES / "icmp-allowed.home-underlay.pcap"]
MADE = re.compile(r"<small>pcapmtu [^<]*</small>")  # the version and the minute it was made
SVG = "{http://www.w3.org/2000/svg}"
SAMPLE_FILES = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".pcap", ".pcapng"))


def _same(page_html: str) -> str:
    return MADE.sub("", page_html)


def test_the_report_command_never_loads_pandas_or_matplotlib(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from click.testing import CliRunner
        from pcapmtu import cli
        done = CliRunner().invoke(
            cli.cli, ["report", {str(INCIDENT)!r}, {str(BOTH_LAYERS[1])!r}, "-o", sys.argv[1]]
        )
        assert done.exit_code == 1, done.output
        made = open(sys.argv[1]).read()
        assert made.count('role="img"') >= 3, made[:300]
        print(sorted(m for m in ("pandas", "matplotlib") if m in sys.modules))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "page.html")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("captures", [[INCIDENT], BOTH_LAYERS], ids=["incident", "underlay"])
def test_the_command_writes_the_postmortems_page(captures: list[Path], tmp_path: Path) -> None:
    target = tmp_path / "page.html"
    command = [sys.executable, "-m", "pcapmtu", "report", *map(str, captures), "-o", str(target)]
    command += ["--title", "T"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    made = Postmortem.of(gather(captures)).to_html(title="T")
    assert _same(target.read_text()) == _same(made)
    if len(captures) > 1:
        assert "WireGuard messages on the underlay" in made


@pytest.mark.parametrize("capture", SAMPLE_FILES, ids=lambda p: p.name)
def test_the_page_and_the_plots_draw_the_same_charts(capture: Path) -> None:
    """What the page shows (from what the analysis kept) is what the notebooks' plots draw
    (from the frames), chart for chart, value for value."""
    kept = gather(capture)
    pm = Postmortem.of(kept)
    report = kept.report
    from_kept = charts.segment_rows(kept)
    from_frames = frames.segment_rows(pm.segments)
    assert from_frames == from_kept
    assert charts.size_histogram(from_frames, report) == charts.size_histogram(from_kept, report)
    for capture_name, flow in pm.stalled():
        mine = pm.acks[(pm.acks["flow"] == flow) & (pm.acks["capture"] == capture_name)]
        acks = [a for a in charts.ack_rows(kept) if (a.capture, a.flow) == (capture_name, flow)]
        assert [(a.ts_s, a.ack, a.sack_blocks) for a in acks] == list(
            zip(mine["ts_s"], mine["ack"], mine["sack_blocks"], strict=True)
        )
    sending = charts.direction_rows(report)
    assert len(sending) == int((pm.flows["data_packets"] > 0).sum())


def _drawn(chart: charts.Chart) -> ET.Element:
    """The chart's SVG, parsed (it must be well-formed XML)."""
    return ET.fromstring(svg.svg(chart))


@pytest.mark.parametrize("capture", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_picture_of_every_sample_is_well_formed_svg(capture: Path) -> None:
    kept = gather(capture)
    for chart in charts.figures(kept):
        root = _drawn(chart)
        assert root.get("role") == "img" and root.get("aria-label") == chart.heading
        texts = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
        assert chart.x_label in texts and chart.y_label in texts
        for layer in chart.layers:
            if layer.label:
                assert layer.label[:20] in texts


def _box(root: ET.Element) -> tuple[float, float, float, float]:
    inner = root.find(f"{SVG}svg")
    assert inner is not None
    x, y = float(inner.get("x", 0)), float(inner.get("y", 0))
    return x, y, x + float(inner.get("width", 0)), y + float(inner.get("height", 0))


def test_a_threshold_is_drawn_at_its_value() -> None:
    """SYNTHETIC chart: a line across at 750 of 0..1000 lies a quarter of the way down."""
    rule = charts.Rule(750, True, "tab:olive", charts.LONG_DASH, 2, "750: the MTU to set")
    chart = charts.Chart("t", "c", "x", "y", [rule], x_range=(0, 10), y_range=(0, 1000))
    root = _drawn(chart)
    _, top, _, bottom = _box(root)
    inner = root.find(f"{SVG}svg")
    assert inner is not None
    (line,) = [p for p in inner.iter(f"{SVG}path") if p.get("stroke") == "#bcbd22"]
    y = float(re.findall(r"M[\d.]+ ([\d.]+)", line.get("d", ""))[0])
    assert math.isclose(y, top + (bottom - top) / 4, abs_tol=0.5)
    assert line.get("stroke-dasharray") == svg.DASHES[charts.LONG_DASH]


def test_each_point_is_one_marker_and_many_stay_a_small_picture() -> None:
    """SYNTHETIC points: 40 apart, 40 markers; 300,000 of three sizes (as a bulk transfer's
    segments are), at most one marker per half pixel of each size's line: a picture bounded by
    its width, not by the segments (a `--keep all` page on a large capture)."""
    few = charts.Points(
        [float(i) for i in range(40)], [100.0 * i for i in range(40)], "tab:red", "X"
    )
    chart = charts.Chart("t", "c", "x", "y", [few])
    (path,) = [p for p in _drawn(chart).iter(f"{SVG}path") if p.get("stroke") == "#d62728"]
    assert path.get("d", "").count("M") == 40
    n = 300_000
    sizes = (91.0, 1420.0, 1500.0)
    many = charts.Points(
        [i / n for i in range(n)], [sizes[i % 3] for i in range(n)], "tab:green", "o"
    )
    root = _drawn(charts.Chart("t", "c", "x", "y", [many]))
    left, _, right, _ = _box(root)
    (dots,) = [p for p in root.iter(f"{SVG}path") if p.get("fill") == "#2ca02c"]
    assert len(sizes) <= dots.get("d", "").count("M") <= len(sizes) * (2 * (right - left) + 1)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 1620, [0, 250, 500, 750, 1000, 1250, 1500]),
        (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (-0.05, 1.05, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (3, 3, [3]),
    ],
)
def test_ticks_are_round_values_within_the_range(
    low: float, high: float, expected: list[float]
) -> None:
    assert svg.ticks(low, high) == expected


@pytest.mark.parametrize(
    ("ticks", "words"),
    [
        ([0, 250, 500, 750, 1000, 1250, 1500], ["0", "250", "500", "750", "1\u2009000"]),
        ([0, 2.5, 5.0, 7.5], ["0.0", "2.5", "5.0", "7.5"]),
        ([0, 0.25, 0.5], ["0.00", "0.25", "0.50"]),
        ([0.0007, 0.0008, 0.0009], ["0.0007", "0.0008", "0.0009"]),
    ],
)
def test_tick_words_show_each_tick_exactly(ticks: list[float], words: list[str]) -> None:
    step = ticks[1] - ticks[0]
    assert [svg.tick_text(v, round(step, 12)) for v in ticks][: len(words)] == words


def test_an_empty_capture_draws_no_picture_and_says_so() -> None:
    from tests import synthetic

    kept = gather(synthetic.pcap([]))  # SYNTHETIC: a pcap header and no packets
    made = page.html(kept)
    assert "No pictures" in made and 'role="img"' not in made


def test_the_notebooks_frames_and_the_page_agree_on_the_underlay() -> None:
    kept = gather(BOTH_LAYERS)
    rows = charts.message_rows(kept)
    outer = frames.outer([s for s, _ in kept.underlay], names=[n for _, n in kept.underlay])
    shown = outer[outer["type"].isin(["transport", "keepalive"])]
    assert len(rows) == len(shown) > 0
    assert [r.outer_ip_len_bytes for r in rows] == shown["outer_ip_len_bytes"].tolist()
    assert frames.message_rows(outer) == rows  # what the notebooks' postmortem hands the page


@pytest.mark.skipif(sys.platform != "linux", reason="a process group and /proc: Linux")
def test_ctrl_c_in_a_terminal_still_writes_the_page_and_leaves_no_process(tmp_path: Path) -> None:
    """`tcpdump -w - | pcapmtu report - -o page.html`, then Ctrl-C: the terminal signals the
    whole process group; the page of what was read is written."""
    target = tmp_path / "page.html"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcapmtu", "report", "-", "-o", str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a process group of its own, as a terminal's job
    )
    assert proc.stdin is not None
    proc.stdin.write(INCIDENT.read_bytes())
    proc.stdin.flush()
    time.sleep(2.0)  # read, waiting for more
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err  # the verdict's exit code: a black hole
    assert "Traceback" not in err.decode()
    assert "wrote" in out.decode() and 'role="img"' in target.read_text()
    deadline = time.monotonic() + 10
    while _group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group(proc.pid)


def _group(pgid: int) -> list[int]:
    """The processes still in a process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[2]) == pgid:
                found.append(int(entry.name))
    return found
