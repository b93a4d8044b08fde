"""The pipeline's entry point: sources, several captures together, detection settings."""

from __future__ import annotations

import warnings

import pytest

from pcapmtu import DetectConfig, analyze
from pcapmtu.errors import CaptureWarning, TruncatedCaptureWarning
from tests.conftest import SAMPLES

INCIDENT = SAMPLES / "incident.home-wg0.pcap"


def test_analyze_accepts_path_text_bytes_file_and_lists() -> None:
    data = INCIDENT.read_bytes()
    with INCIDENT.open("rb") as stream:
        from_stream = analyze(stream).verdict
    verdicts = {
        analyze(INCIDENT).verdict,
        analyze(str(INCIDENT)).verdict,
        analyze(data).verdict,
        from_stream,
        analyze([INCIDENT, SAMPLES / "fixed-mtu1340.pcap"]).verdict,
    }
    assert verdicts == {"black_hole"}


def test_both_ends_of_one_flow_are_one_finding() -> None:
    report = analyze([INCIDENT, SAMPLES / "incident.proxy-wg0.pcap"])
    assert len(report.black_holes) == 1 and len(report.captures) == 2


def test_names_label_the_captures() -> None:
    report = analyze([INCIDENT.read_bytes()], names=["home"])
    assert report.captures[0].name == "home" and report.black_holes[0].capture == "home"


def test_detection_thresholds_are_settings() -> None:
    strict = analyze(INCIDENT, config=DetectConfig(min_full_size_copies=8))
    assert strict.verdict == "clean"  # the incident's segment was sent 7 times


def test_damage_warns_and_the_rest_is_analysed() -> None:
    cut = INCIDENT.read_bytes()[:-30]
    with pytest.warns(TruncatedCaptureWarning):
        report = analyze(cut)
    assert report.verdict == "black_hole" and len(report.warnings) == 1


def test_no_warning_on_a_clean_capture() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert analyze(INCIDENT).warnings == ()


def test_several_processes_give_the_same_report() -> None:
    captures = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".pcap", ".pcapng"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)  # the samples were taken on many days
        assert analyze(captures, jobs=2).to_dict() == analyze(captures).to_dict()


@pytest.mark.parametrize(
    ("spans", "groups"),
    [
        ([(0.0, 10.0), (5.0, 20.0)], [[0, 1]]),  # overlapping: both ends of one hang
        ([(0.0, 10.0), (70.0, 80.0)], [[0, 1]]),  # 60 s apart: clocks apart, files end to end
        ([(0.0, 10.0), (70.1, 80.0)], [[0], [1]]),  # further: another time
        ([(300.0, 310.0), (0.0, 100.0), (150.0, 160.0)], [[0], [1, 2]]),  # by time, not order
        ([(0.0, 10.0), (65.0, 130.0), (185.0, 190.0)], [[0, 1, 2]]),  # a chain
        ([(0.0, 10.0), (None, None), (5.0, None)], [[0, 2], [1]]),  # no packets: alone
    ],
)
def test_captures_are_judged_together_only_when_taken_at_the_same_time(
    spans: list[tuple[float | None, float | None]], groups: list[list[int]]
) -> None:
    from pcapmtu.analysis import taken_together

    assert taken_together(spans, 60.0) == groups


def test_a_path_that_carried_the_size_on_another_day_does_not_clear_a_black_hole() -> None:
    """The incident (a black hole) given with a capture of the same lab path taken six days
    later, when it carried 1420-byte packets: each is judged by what was delivered at its own
    time, so the black hole stands as the incident alone shows it (it said clean before), with
    a warning that they were judged apart; both ends of one hang are still judged together."""
    incident = SAMPLES / "incident.home-wg0.pcap"
    later = SAMPLES / "outage.home-wg0.pcap"
    alone = analyze(incident)
    with pytest.warns(CaptureWarning, match="taken at another time than"):
        joined = analyze([incident, later])
    assert joined.verdict == alone.verdict == "black_hole"
    shown, shown_alone = joined.to_dict(), alone.to_dict()
    assert shown["findings"] == shown_alone["findings"]
    assert shown["paths"][:1] == shown_alone["paths"][:1]
    assert shown["recommendation"] == shown_alone["recommendation"]
    assert any("judged apart" in w for w in joined.captures[1].warnings)
    both_ends = analyze([incident, SAMPLES / "incident.proxy-wg0.pcap"])  # no warning: errors
    assert not any("judged apart" in w for c in both_ends.captures for w in c.warnings)


def test_the_clock_skew_allowed_joins_captures_the_user_says_were_taken_together() -> None:
    """`--clock-skew` (DetectConfig.clock_skew_s): two ends of one hang on hosts whose clocks
    disagree by days are judged together when told so, their evidence adding up (here the
    path's later deliveries clear the loss, as the user's claim implies), with no warning."""
    captures = [SAMPLES / "incident.home-wg0.pcap", SAMPLES / "outage.home-wg0.pcap"]
    joined = analyze(captures, config=DetectConfig(clock_skew_s=7 * 86400))
    assert joined.verdict == "clean"
    assert not any("judged apart" in w for c in joined.captures for w in c.warnings)


def test_progress_is_reported_through_the_callback() -> None:
    from pcapmtu.analysis import Progress

    seen: list[Progress] = []
    big = SAMPLES / "healthy-random-loss.pcap"
    report = analyze(big, progress=seen.append)
    assert len(seen) >= 1  # after each batch of records; a sample is one batch
    assert seen[-1].packets == report.captures[0].packets
    assert seen[-1].fraction is not None and seen[-1].fraction > 0.99  # all but the header
    assert all(p.fraction is None or 0 < p.fraction <= 1 for p in seen)


def test_the_first_ctrl_c_stops_reading_and_the_second_interrupts() -> None:
    import io
    import signal

    from pcapmtu.analysis import _first_ctrl_c_stops
    from pcapmtu.capture import Tee

    # what was there before is restored: Python's handler, or SIG_IGN in a process started in
    # the background (`nohup`, `cmd &` in a script)
    before = signal.getsignal(signal.SIGINT)
    for data in (b"\x00" * 10, b""):  # still being read, or already ended (the writer quit)
        tee = Tee(io.BytesIO(data))
        try:
            tee.read(5)
            with _first_ctrl_c_stops([tee]):
                signal.raise_signal(signal.SIGINT)  # the first: reading stops, nothing raised
                assert tee.stopped
                with pytest.raises(KeyboardInterrupt):
                    signal.raise_signal(signal.SIGINT)  # the second
        finally:
            tee.close()
    assert signal.getsignal(signal.SIGINT) is before
