"""The postmortem: the report, its frames, its pictures, and the self-contained page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

import pcapmtu
from pcapmtu import kept as kept_module
from pcapmtu.postmortem import postmortem
from tests.conftest import SAMPLES

INCIDENT = SAMPLES / "incident.home-wg0.pcap"


class _Page(HTMLParser):
    """What a browser would fetch and show: image sources, links, scripts, text."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.pictures: list[str] = []  # each inline picture's label (an <svg role="img">)
        self.fetched: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "img":
            self.images.append(found.get("src") or "")
        if tag == "svg" and found.get("role") == "img":
            self.pictures.append(found.get("aria-label") or "")
        for name in ("src", "href"):
            value = found.get(name)
            if value and not value.startswith("data:"):
                self.fetched.append(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    return parsed


def test_the_page_holds_the_verdict_the_pictures_the_evidence_and_the_fix() -> None:
    made = postmortem(INCIDENT)
    page = _parse(made.to_html())
    text = " ".join(page.text)
    assert made.report.summary() in text
    assert not page.fetched  # self-contained: nothing to fetch
    titles = [f.title for f in made.figures()]
    assert titles[:2] == ["Segment sizes against the MTU thresholds", "Sizes delivered and lost"]
    assert any(t.startswith("Time-sequence graph: 198.19.0.1:8080") for t in titles)
    assert len(page.pictures) == len(titles) and not page.images
    assert page.pictures == [f.heading for f in made.figures()]
    for evidence in made.report.black_holes[0].evidence:
        assert evidence.what in text
    assert "MTU = 1280" in text and "at most 1419" in text
    for step in made.report.next_steps():
        assert step in text


def test_a_clean_capture_gets_no_time_sequence_and_says_so() -> None:
    made = postmortem(SAMPLES / "fixed-mtu1340.pcap")
    assert made.report.verdict == "clean"
    assert made.stalled() == []
    assert not any(f.title.startswith("Time-sequence") for f in made.figures())
    assert made.report.summary() in made.to_html()


def test_both_ends_get_pictures_per_capture() -> None:
    made = postmortem([INCIDENT, SAMPLES / "incident.proxy-wg0.pcap"])
    titles = [f.title for f in made.figures()]
    assert "Segment sizes against the MTU thresholds (incident.home-wg0.pcap)" in titles
    assert "Segment sizes against the MTU thresholds (incident.proxy-wg0.pcap)" in titles
    assert set(made.segments["capture"]) == {c.name for c in made.report.captures}


def test_a_capture_with_many_flows_keeps_segments_only_of_the_stalled_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the limits and with no room for a sample, only the flows the exact pass reads for
    findings keep their segments."""
    monkeypatch.setattr(kept_module, "MAX_TRACED_DIRECTIONS", 2)
    monkeypatch.setattr(kept_module, "MAX_TRACED_SEGMENTS", 0)
    made = postmortem(SAMPLES / "many-flows.pcap")
    assert not made.traced_all
    stalled = {flow for _, flow in made.stalled()}
    data_flows = set(made.segments[made.segments["payload_len_bytes"] > 0]["flow"])
    replies = {" -> ".join(reversed(flow.split(" -> "))) for flow in stalled}
    assert stalled <= data_flows <= stalled | replies
    assert len(made.flows) == len(made.report.flows)  # the counts still cover every flow
    assert "the flows that could hold a finding and, of the others" in made.to_html()


def test_the_sample_of_the_other_flows_is_the_smallest_within_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kept_module, "MAX_TRACED_DIRECTIONS", 2)
    monkeypatch.setattr(kept_module, "MAX_TRACED_SEGMENTS", 5)
    made = postmortem(SAMPLES / "many-flows.pcap")
    every = postmortem(SAMPLES / "many-flows.pcap", keep="all")
    assert not made.traced_all and every.traced_all
    stalled = {flow for _, flow in made.stalled()}
    replies = {" -> ".join(reversed(flow.split(" -> "))) for flow in stalled}
    sent = every.flows[every.flows["data_packets"] > 0].set_index("flow")["data_packets"]
    drawn = set(made.segments[made.segments["payload_len_bytes"] > 0]["flow"])
    sample = drawn - stalled - replies
    # three connections of one request and one reply each: two fit in five segments
    assert len(sample) == 4 and sum(int(sent[f]) for f in sample) == 4
    left_out = set(sent.index) - drawn - stalled - replies
    assert len(left_out) == 2
    assert set(every.segments["flow"]) >= drawn


def test_keep_is_sample_or_all() -> None:
    from pcapmtu.errors import UsageError

    with pytest.raises(UsageError, match="'sample' or 'all'"):
        postmortem(INCIDENT, keep="everything")


def test_the_page_escapes_what_the_capture_names() -> None:
    made = postmortem(INCIDENT)
    page = made.to_html(title="<script>alert(1)</script>")
    assert "<script>alert" not in page
    assert "&lt;script&gt;" in page


def test_write_html_writes_the_page(tmp_path: object) -> None:
    from pathlib import Path

    target = Path(str(tmp_path)) / "postmortem.html"
    postmortem(INCIDENT).write_html(target)
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert len(re.findall(r'<svg [^>]*role="img"', page)) >= 3


def test_report_renders_in_jupyter_as_tables() -> None:
    report = pcapmtu.analyze(INCIDENT)
    page = _parse(report._repr_html_())
    text = " ".join(page.text)
    assert report.summary() in text
    assert "Black hole: 198.19.0.1:8080 -> 198.19.0.2:60378" in text  # with ports
    for evidence in report.black_holes[0].evidence:
        assert evidence.what in text
    assert report.fix_text().splitlines()[0] in text


@pytest.mark.parametrize(
    ("capture", "verdict", "first_words"),
    [
        ("incident.home-wg0.pcap", "black_hole", "Confirm the limit"),
        ("upload.home-wg0.pcap", "inconclusive", "To decide it, its TCP segments carry no data"),
        ("fixed-mtu1340.pcap", "clean", "No packet was lost"),
    ],
)
def test_next_steps_follow_the_verdict(capture: str, verdict: str, first_words: str) -> None:
    report = pcapmtu.analyze(SAMPLES / capture)
    assert report.verdict == verdict
    assert report.next_steps()[0].startswith(first_words)
