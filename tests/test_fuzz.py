"""Property-based tests (hypothesis) of the readers and the analysis, bounded so that the normal
suite runs them in seconds: whatever bytes arrive, pcapmtu reads what it can and fails only with
its own errors; whatever conversation the packets tell, the fast pass and the exact pass agree.
A coverage-guided fuzzer (atheris) runs the same target for as long as asked:
`benchmarks/fuzz.py` (README, Tests)."""

from __future__ import annotations

import warnings

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from benchmarks.fuzz import target  # noqa: E402
from pcapmtu import analyze  # noqa: E402
from pcapmtu.capture import Capture  # noqa: E402
from pcapmtu.errors import CaptureError  # noqa: E402
from tests import synthetic as syn  # noqa: E402
from tests.conftest import SAMPLES  # noqa: E402

BOUNDED = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples every run: a failure is reproducible
)
SEEDS = [
    (SAMPLES / "incident.home-wg0.pcap").read_bytes(),
    (SAMPLES / "pcapng-two-interfaces.pcapng").read_bytes(),
    (SAMPLES / "underlay-both-ends.home-underlay.pcap").read_bytes(),
]


def _read_all(data: bytes) -> int:
    """Read every record; only pcapmtu's own errors may stop it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Capture(data) as capture:
                return sum(len(batch) for batch in capture.batches())
        except CaptureError:
            return -1


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real capture with some bytes overwritten, cut, or repeated."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data) - 1))
        data[at : at + 4] = draw(st.binary(min_size=1, max_size=4))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        start = draw(st.integers(0, len(data)))
        data[start:start] = data[start : start + draw(st.integers(0, 200))]
    return bytes(data)


@BOUNDED
@given(st.binary(max_size=4096))
def test_any_bytes_are_read_or_refused(data: bytes) -> None:
    assert _read_all(data) >= -1


@BOUNDED
@given(mutated())
def test_a_damaged_capture_is_read_as_far_as_it_goes(data: bytes) -> None:
    assert _read_all(data) >= -1


@BOUNDED
@given(mutated())
def test_the_analysis_of_a_damaged_capture_is_a_report_or_a_capture_error(data: bytes) -> None:
    report = target(data)  # the coverage-guided fuzzer's target, bounded
    if report is None:
        return  # refused with a CaptureError
    assert report.verdict in ("black_hole", "inconclusive", "clean")
    assert report.to_json() and report.render_text().startswith("VERDICT: ")


@st.composite
def conversations(draw: st.DrawFn) -> bytes:
    """A SYNTHETIC conversation: a handshake, then segments of drawn sizes, some resent at
    backing-off times, some ACKed or SACKed, some never."""
    c = syn.Conversation(mss=draw(st.sampled_from([536, 1240, 1380, 1460])))
    c.handshake()
    t, seq, sent = 0.01, 1, []
    for _ in range(draw(st.integers(1, 12))):
        size = draw(st.integers(1, 1460))
        c.at(t).data(seq, size)
        sent.append((seq, size))
        seq += size
        t += draw(st.floats(0.0001, 0.3))
        if draw(st.booleans()):
            acked = draw(st.sampled_from(sent))
            c.at(t).ack(acked[0] + acked[1])
    for resend in range(draw(st.integers(0, 6))):
        first = sent[0]
        t += 0.2 * 2**resend
        c.at(t).data(*first)
        if draw(st.booleans()) and len(sent) > 1:
            c.at(t + 0.001).ack(1, sack=[(sent[-1][0], sent[-1][0] + sent[-1][1])])
    return c.pcap()


@settings(max_examples=200, deadline=None, derandomize=True)
@given(conversations())
def test_the_fast_pass_and_the_exact_pass_agree_on_any_conversation(capture: bytes) -> None:
    from tests.conftest import require_fast_pass

    require_fast_pass()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = analyze(capture, names=["c"])
        exact = analyze(capture, names=["c"], shortlist=False)
    assert fast.to_dict() == exact.to_dict()


def test_a_one_byte_segment_resent_is_judged_alike_by_both_passes() -> None:
    """Found by the test above: a 1-byte segment resent was a keep-alive to the facts' rule
    (Wireshark's: one byte just below the highest sent), so the shortlist passed over it while
    the exact pass followed its copies (PATH DOWN). A keep-alive is now only sent when all was
    acknowledged."""
    from tests.conftest import require_fast_pass

    require_fast_pass()
    c = syn.Conversation(mss=536).handshake()
    c.at(0.01).data(1, 1)
    c.at(0.2).data(1, 1)
    c.at(0.6).data(1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = analyze(c.pcap(), names=["c"])
        exact = analyze(c.pcap(), names=["c"], shortlist=False)
    assert [f.kind for f in fast.findings] == [f.kind for f in exact.findings] == ["path_down"]


@st.composite
def deliveries(draw: st.DrawFn) -> bytes:
    """A SYNTHETIC conversation made to try what each path delivered, by size: with or without
    its handshake (the peer's MSS then comes from another connection's SYN, or from none),
    segments larger than the MSS (super-packets captured before the NIC cut them), bytes re-sent
    whole or in smaller packets, cumulative ACKs and SACK blocks anywhere, a FIN alone, and
    packets at the same instant."""
    mss = draw(st.sampled_from([536, 1240, 1380]))
    c = syn.Conversation(mss=mss)
    if draw(st.booleans()):  # another connection's SYN: the client's MSS, for a late capture
        c.at(0.0).client_syn(5001, draw(st.sampled_from([1240, 1460])))
    if draw(st.booleans()):
        c.handshake()
    t, seq, sent = 0.01, 1, []
    for _ in range(draw(st.integers(1, 10))):
        size = draw(st.integers(1, 3000))
        c.at(t).data(seq, size)
        sent.append((seq, size))
        seq += size
        if draw(st.booleans()):
            t += draw(st.sampled_from([0.0, 0.001, 0.2]))
        if draw(st.integers(0, 2)) == 0:
            start, length = draw(st.sampled_from(sent))
            part = draw(st.integers(1, length))  # re-sent whole, or a smaller first part
            c.at(t).data(start, part)
        if draw(st.booleans()):
            edge = draw(st.integers(1, seq))
            blocks = []
            if draw(st.booleans()):
                left = draw(st.integers(1, seq))
                blocks = [(left, draw(st.integers(left, seq + 10)))]
            c.at(t).ack(edge, sack=blocks)
    if draw(st.booleans()):
        c.at(t).data(seq, 0, flags=syn.FIN | syn.ACK)
        if draw(st.booleans()):
            c.at(t + 0.001).ack(seq + 1)
    c.packets.sort(key=lambda item: item[0])
    return c.pcap()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(deliveries())
def test_both_passes_see_the_same_deliveries_on_any_conversation(capture: bytes) -> None:
    """The fast pass's path evidence (compiled) equals the exact pass's, size by size, with
    the send time and frame of the latest packet of each size."""
    from pcapmtu.analysis import _first_pass, _Input
    from tests.conftest import require_fast_pass

    require_fast_pass()

    def paths(exact: bool) -> dict[object, object]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one = _first_pass(_Input(capture, "c", capture), None, exact, None)
        return {key: summary.delivered for key, summary in one.paths.items()}

    assert paths(exact=False) == paths(exact=True)
