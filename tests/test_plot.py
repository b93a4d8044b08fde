"""The plots draw what the frames hold, the report's thresholds, and stay readable."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display in tests; set before pyplot is imported

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch

import pcapmtu
from pcapmtu import frames, plot
from tests import synthetic
from tests.conftest import SAMPLES

INCIDENT = SAMPLES / "incident.home-wg0.pcap"
RESPONSE = "198.19.0.1:8080 -> 198.19.0.2:60378"


@pytest.fixture
def ax() -> Iterator[Axes]:
    figure, axes = plt.subplots(figsize=(9, 4.5), layout="constrained")
    yield axes
    plt.close(figure)


def _data(path: Path) -> tuple[pcapmtu.Report, object, object]:
    traced = pcapmtu.trace(path)
    return pcapmtu.analyze(path), frames.segments(traced), frames.acks(traced)


def _scatter(ax: Axes, label_start: str) -> np.ndarray:
    for c in ax.collections:
        if isinstance(c, PathCollection) and str(c.get_label()).startswith(label_start):
            return np.asarray(c.get_offsets())
    raise AssertionError(f"no scatter labelled {label_start!r}")


def _level_lines(ax: Axes) -> dict[str, float]:
    """label -> the constant value of each threshold line (horizontal or vertical)."""
    found = {}
    for line in ax.get_lines():
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        value = y[0] if np.all(y == y[0]) and len(set(x)) > 1 else x[0]
        found[str(line.get_label())] = float(value)
    return found


def test_segment_sizes_draws_each_fate_and_the_thresholds(ax: Axes) -> None:
    report, segments, _ = _data(INCIDENT)
    assert plot.segment_sizes(segments, report=report, ax=ax) is ax
    never = _scatter(ax, "never delivered")
    assert len(never) == 7 and set(never[:, 1]) == {1420}
    assert sorted(_scatter(ax, "delivered (")[:, 1]) == [91, 444]
    lines = _level_lines(ax)
    assert lines["1500: Ethernet MTU"] == 1500
    assert lines["1420: tunnel MTU (SYN MSS)"] == 1420
    assert lines["444: largest delivered"] == 444
    assert lines["1419: largest that may fit"] == 1419
    assert report.recommendation is not None
    mtu = report.recommendation.mtu
    assert lines[f"{mtu}: WireGuard MTU to set"] == mtu == 1280  # safe, not a bound
    assert ax.get_ylabel() == "IP packet size (bytes)" and "(s)" in ax.get_xlabel()


def test_segment_sizes_keeps_one_flow_when_asked(ax: Axes) -> None:
    report, segments, _ = _data(INCIDENT)
    plot.segment_sizes(segments, report=report, flow=RESPONSE, ax=ax)
    assert sorted(_scatter(ax, "delivered (")[:, 1]) == [444]  # the request's 91 is gone
    assert RESPONSE in ax.get_title()


def test_histogram_counts_sizes_delivered_and_never(ax: Axes) -> None:
    report, segments, _ = _data(INCIDENT)
    plot.size_histogram(segments, report=report, ax=ax)
    steps = {str(p.get_label()): p for p in ax.patches if isinstance(p, StepPatch)}
    top, edges, bottom = steps["never delivered (7)"].get_data()
    heights = {round(x): h for x, h in zip(edges, np.asarray(top) - bottom, strict=False) if h}
    assert heights == {1420: 7}
    top, edges, _ = steps["delivered (2)"].get_data()
    assert {round(x): h for x, h in zip(edges, top, strict=False) if h} == {80: 1, 440: 1}
    assert _level_lines(ax)["1420: tunnel MTU (SYN MSS)"] == 1420


def test_time_sequence_shows_the_stalled_bytes_and_the_sack_beyond(ax: Axes) -> None:
    _, segments, acks = _data(INCIDENT)
    plot.time_sequence(segments, acks, ax=ax)  # the busiest flow: the stalled response
    assert RESPONSE in ax.get_title()
    by_label = {str(c.get_label()): c for c in ax.collections}
    resent = by_label["retransmission (6)"]
    assert isinstance(resent, LineCollection)
    assert all((np.asarray(seg)[:, 1] == [1, 1369]).all() for seg in resent.get_segments())
    sacked = by_label["SACKed: the receiver holds these bytes"]
    assert isinstance(sacked, PolyCollection)
    ys = np.concatenate([np.asarray(p.vertices)[:, 1] for p in sacked.get_paths()])
    assert ys.min() == 1369 and ys.max() >= 1761
    ack_line = next(line for line in ax.get_lines() if line.get_label() == "cumulative ACK")
    assert set(np.asarray(ack_line.get_ydata())) == {1}


def test_flow_overview_marks_the_stalled_directions(ax: Axes) -> None:
    report = pcapmtu.analyze(SAMPLES / "many-flows.pcap")
    plot.flow_overview(frames.flows(report), frames.findings(report), ax=ax)
    stalled = _scatter(ax, "stalled")
    assert len(stalled) == len(report.black_holes) == 3
    assert set(stalled[:, 1]) == {1420}
    assert "3 stalled" in ax.get_title()


PLOTS: dict[str, Callable[..., Axes]] = {
    "segment_sizes": lambda s, a, r, f, fd, ax: plot.segment_sizes(s, report=r, ax=ax),
    "size_histogram": lambda s, a, r, f, fd, ax: plot.size_histogram(s, report=r, ax=ax),
    "time_sequence": lambda s, a, r, f, fd, ax: plot.time_sequence(s, a, ax=ax),
    "flow_overview": lambda s, a, r, f, fd, ax: plot.flow_overview(f, fd, ax=ax),
}


@pytest.mark.parametrize("name", PLOTS)
def test_every_plot_draws_empty_frames(name: str, ax: Axes) -> None:
    empty = synthetic.pcap([])  # SYNTHETIC: a pcap header and no packets
    report, segments, acks = _data(empty)  # type: ignore[arg-type]
    drawn = PLOTS[name](segments, acks, report, frames.flows(report), frames.findings(report), ax)
    assert drawn is ax
    ax.figure.canvas.draw()


def _boxes_overlap(a: object, b: object) -> bool:
    return bool(a.overlaps(b))  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", PLOTS)
@pytest.mark.parametrize(
    "capture",
    ["incident.home-wg0.pcap", "many-flows.pcap", "mtu-probing.pcap", "inner-ipv6.pcap"],
)
def test_plots_are_readable(name: str, capture: str) -> None:
    """Text stays inside the figure, the legend never covers the plot, and no two labels
    of the axes overlap: what looking at the PNGs checked, kept as a test."""
    traced = pcapmtu.trace(SAMPLES / capture)
    report = pcapmtu.analyze(SAMPLES / capture)
    segments, acks = frames.segments(traced), frames.acks(traced)
    figure = Figure(figsize=(9, 4.5), dpi=100, layout="constrained")
    ax = figure.add_subplot()
    PLOTS[name](segments, acks, report, frames.flows(report), frames.findings(report), ax)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    whole = figure.bbox
    legend = ax.get_legend()
    assert legend is not None
    texts = [ax.title, ax.xaxis.label, ax.yaxis.label, legend]
    for artist in texts:
        box = artist.get_window_extent(renderer)
        assert whole.x0 - 1 <= box.x0 and box.x1 <= whole.x1 + 1, artist
        assert whole.y0 - 1 <= box.y0 and box.y1 <= whole.y1 + 1, artist
    assert not _boxes_overlap(legend.get_window_extent(renderer), ax.get_window_extent(renderer))
    labels = [ax.title, ax.xaxis.label, ax.yaxis.label]
    for i, first in enumerate(labels):
        for second in labels[i + 1 :]:
            assert not _boxes_overlap(
                first.get_window_extent(renderer), second.get_window_extent(renderer)
            )
    ticks = [t for t in ax.get_xticklabels() if t.get_text()]
    for left, right in itertools.pairwise(ticks):
        assert not _boxes_overlap(
            left.get_window_extent(renderer), right.get_window_extent(renderer)
        )


def test_png_draws_on_a_figure_of_its_own() -> None:
    report, segments, _ = _data(INCIDENT)
    open_before = plt.get_fignums()
    data = plot.png(lambda ax: plot.segment_sizes(segments, report=report, ax=ax))
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert plt.get_fignums() == open_before  # nothing left open for a notebook to show


def test_without_an_axes_a_plot_makes_a_figure() -> None:
    report, segments, _ = _data(INCIDENT)
    ax = plot.segment_sizes(segments, report=report)
    try:
        assert ax.figure is not None and ax in ax.figure.axes
    finally:
        plt.close(ax.figure)  # type: ignore[arg-type]
