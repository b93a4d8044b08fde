"""The screen: its counts, and the promise that its shortlist never hides a finding.

The exact analysis is run on everything (`shortlist=False`) and on the screen's shortlist
only; the reports must be equal on every sample capture, every golden case (several captures
analysed together) and every public corpus capture.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import pytest

from pcapmtu import analyze
from pcapmtu.analysis import DEFAULT_CONFIG, _read
from pcapmtu.detect import DetectConfig
from pcapmtu.errors import CaptureError
from pcapmtu.screen import NATIVE, DirectionCounts, Screen, ScreenResult
from tests import synthetic as syn
from tests.conftest import REPO, SAMPLES
from tests.test_golden import CASES

CORPUS = REPO.parent / "shared" / "corpus" / "public"
CORPUS_FILES = sorted(p for p in CORPUS.glob("*") if p.name != "MANIFEST.tsv")


def _both(captures: list[Path], config: DetectConfig = DEFAULT_CONFIG) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exact = analyze(captures, config=config, shortlist=False)
        except CaptureError:
            return
        screened = analyze(captures, config=config)
    assert screened.to_dict() == exact.to_dict()


@pytest.mark.parametrize(
    ("case", "captures"), [(c[0], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_shortlist_and_full_analysis_agree_on_the_golden_cases(
    case: str, captures: list[str]
) -> None:
    _both([REPO / c for c in captures])


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_shortlist_and_full_analysis_agree_on_the_corpus(path: Path) -> None:
    _both([path])


@pytest.mark.parametrize(
    ("case", "captures"), [(c[0], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_gzipped_capture_gets_the_same_report(
    case: str, captures: list[str], tmp_path: Path
) -> None:
    """The second pass re-reads records by their place in the decompressed capture."""
    zipped = []
    for name in captures:
        target = tmp_path / (Path(name).name + ".gz")
        target.write_bytes(gzip.compress((REPO / name).read_bytes()))
        zipped.append(target)
    plain = analyze([REPO / c for c in captures], names=[Path(c).name for c in captures])
    packed = analyze(zipped, names=[Path(c).name for c in captures])
    assert packed.verdict == plain.verdict
    assert packed.findings == plain.findings and packed.paths == plain.paths
    assert packed.flows == plain.flows and packed.recommendation == plain.recommendation
    assert all(c.compression == "gzip" for c in packed.captures)
    _both(zipped)


@pytest.mark.parametrize("copies", [1, 2, 5])
def test_shortlist_agrees_whatever_the_thresholds(copies: int) -> None:
    config = DetectConfig(min_full_size_copies=copies, min_hole_s=0.2)
    for path in sorted(SAMPLES.glob("*.pcap*")):
        _both([path], config)


def test_the_incident_is_shortlisted_and_a_healthy_transfer_is_not() -> None:
    config = DetectConfig()
    incident = _read(SAMPLES / "incident.home-wg0.pcap", None, None, config, True).screen
    assert incident.hosts_to_replay(incident.certainly_delivered, config)
    healthy = _read(SAMPLES / "healthy-random-loss.pcap", None, None, config, True).screen
    assert healthy.hosts_to_replay(healthy.certainly_delivered, config) == set()
    # that transfer lost packets, and full-size segments were certainly delivered
    assert sum(d.retransmissions for d in healthy.directions) > 0
    assert max(healthy.certainly_delivered.values()) == 1420


def test_counts_of_a_synthetic_conversation() -> None:
    """SYNTHETIC: handshake, three segments, the second lost and resent, SACK, D-SACK."""
    c = syn.Conversation().handshake()
    c.data(1, 1000).data(1001, 1000).data(2001, 1000)
    c.ack(1001).ack(1001, sack=[(2001, 3001)]).ack(1001, sack=[(2001, 3001)])
    c.data(1001, 1000).ack(3001).ack(3001, sack=[(1001, 2001)])
    screen = _read(c.pcap(), None, None, DetectConfig(), True).screen
    client, server = screen.directions
    assert (client.info.sport, server.info.sport) == (5000, 80)
    assert (server.packets, server.data_packets, server.data_bytes) == (5, 4, 4000)
    assert (client.packets, client.data_packets) == (7, 0)
    assert server.retransmissions == 1 and client.retransmissions == 0
    assert (server.sack_blocks, server.dsacks) == (3, 1)
    # the same ACK (and window) twice more while data was outstanding; not once all was
    assert server.dup_acks == 2
    assert server.peer_syn_mss == client.syn_mss == 1380
    assert server.largest_ip_len == 20 + 32 + 1000


def test_a_replay_by_scanning_gives_the_same_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing kept, the second pass reads the capture again from the first frame that
    matters to the last; the report must not change."""
    from pcapmtu import replay

    captures = [REPO / c for c in CASES[2][2]]  # both ends of the incident, together
    expected = analyze(captures).to_dict()
    monkeypatch.setattr(replay, "KEEP_PER_PAIR", 0)
    one = _read(captures[0], None, None, DEFAULT_CONFIG, True)
    pairs = one.screen.hosts_to_replay(one.screen.certainly_delivered, DEFAULT_CONFIG)
    assert pairs and one.keeper is not None and one.keeper.index_for(pairs) is None
    assert analyze(captures).to_dict() == expected
    for path in sorted(SAMPLES.glob("*.pcap*")):
        _both([path])


def _server_counts(c: syn.Conversation) -> DirectionCounts:
    screen = _read(c.pcap(), None, None, DEFAULT_CONFIG, True).screen
    return next(d for d in screen.directions if d.info.sport == 80)


def test_retransmissions_across_a_sequence_wrap() -> None:
    """SYNTHETIC: four segments across 2^32, then a resend of the first."""
    c = syn.Conversation(isn=2**32 - 2000).handshake()
    for i in range(4):
        c.data(1 + 1368 * i, 1368)
    c.ack(1 + 1368 * 4)
    assert _server_counts(c).retransmissions == 0
    c.data(1, 1368)
    assert _server_counts(c).retransmissions == 1


def test_full_and_partial_retransmissions_are_counted() -> None:
    """SYNTHETIC: a full and a partial overlap; a keep-alive is not a retransmission."""
    c = syn.Conversation().handshake().data(1, 1000).data(1001, 1000)
    c.data(1, 1000)  # full overlap
    c.data(501, 1000)  # partial overlap
    c.ack(2001)
    c.data(2000, 1)  # keep-alive: the last byte again
    d = _server_counts(c)
    assert (d.retransmissions, d.data_packets) == (2, 5)


def test_a_dsack_is_counted_as_a_sack_block_too() -> None:
    """SYNTHETIC: a resent segment that had arrived is reported by a D-SACK."""
    c = syn.Conversation().handshake().data(1, 100).ack(101).data(1, 100).ack(101, sack=[(1, 101)])
    d = _server_counts(c)
    assert (d.sack_blocks, d.dsacks, d.retransmissions) == (1, 1, 1)


def test_duplicate_acks_without_sack() -> None:
    """SYNTHETIC: three pure ACKs repeating the handshake's, with data outstanding."""
    c = syn.Conversation(sack=False).handshake().data(1, 1368).data(1369, 392)
    c.ack(1).ack(1).ack(1)
    assert _server_counts(c).dup_acks == 3


def _screens(path: Path) -> tuple[ScreenResult, ScreenResult] | None:
    from pcapmtu import headers
    from pcapmtu.capture import Capture
    from pcapmtu.decode import Decoder

    screens = [Screen(path.name, DEFAULT_CONFIG, native=n) for n in (True, False)]
    decoder = Decoder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            capture = Capture(path)
        except CaptureError:
            return None
        with capture:
            for batch in capture.batches():
                segments = headers.decode(batch, decoder).segments
                for screen in screens:
                    screen.add(segments, float(batch.ts[-1]))
    last = capture.info.last_ts
    return screens[0].finish(last), screens[1].finish(last)


@pytest.mark.skipif(not NATIVE, reason="pcapmtu._native was not built")
@pytest.mark.parametrize(
    "path", sorted(SAMPLES.glob("*.pcap*")) + CORPUS_FILES, ids=lambda p: p.name
)
def test_the_compiled_and_numpy_screens_agree(path: Path) -> None:
    results = _screens(path)
    if results is not None:
        compiled, numpy_path = results
        assert compiled == numpy_path


def test_the_screen_is_compiled_under_ci() -> None:
    import os

    if os.environ.get("CI") == "true":
        assert NATIVE, "pcapmtu._native was not built"
