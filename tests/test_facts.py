"""The two passes: the fast pass computes the same facts as the exact pass, and its shortlist
never hides a finding.

For every sample capture, every golden case (several captures analysed together) and every
public corpus capture: the facts of every flow direction are equal, field by field, and the
report is the same whether the exact pass runs on everything (as an install without the
compiled fast pass does) or only on the host pairs `detect.worth_exact_pass` picks.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path
from typing import cast

import pytest

from pcapmtu import analyze, detect
from pcapmtu.analysis import DEFAULT_CONFIG, _first_pass, _Input
from pcapmtu.detect import DetectConfig
from pcapmtu.errors import CaptureError
from pcapmtu.fast.screen import _LaterSizes
from pcapmtu.model import DirectionFacts, LowestUnacked
from tests import synthetic as syn
from tests.conftest import REPO, SAMPLES, require_fast_pass
from tests.test_detect import timer_resend
from tests.test_golden import CASES

CORPUS = REPO.parent / "shared" / "corpus" / "public"
CORPUS_FILES = sorted(p for p in CORPUS.glob("*") if p.name != "MANIFEST.tsv")
SAMPLE_FILES = sorted(SAMPLES.glob("*.pcap*"))


def _both(captures: list[Path], config: DetectConfig = DEFAULT_CONFIG) -> None:
    require_fast_pass()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exact = analyze(captures, config=config, shortlist=False)
        except CaptureError:
            return
        screened = analyze(captures, config=config)
    assert screened.to_dict() == exact.to_dict()
    assert screened.flows == exact.flows  # every fact, not only those the JSON shows


def _facts(source: Path | bytes, exact: bool) -> list[DirectionFacts] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _first_pass(_Input(source, None, source), None, exact, None).facts
        except CaptureError:
            return None


@pytest.mark.parametrize("path", SAMPLE_FILES + CORPUS_FILES, ids=lambda p: p.name)
def test_both_passes_give_the_same_facts(path: Path) -> None:
    require_fast_pass()
    assert _facts(path, exact=False) == _facts(path, exact=True)


def _paths(source: Path, exact: bool) -> dict[object, object] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            paths = _first_pass(_Input(source, None, source), None, exact, None).paths
        except CaptureError:
            return None
    return {
        key: (summary.ip_version, summary.delivered, summary.first)
        for key, summary in paths.items()
    }


@pytest.mark.parametrize("path", SAMPLE_FILES + CORPUS_FILES, ids=lambda p: p.name)
def test_both_passes_give_the_same_path_evidence(path: Path) -> None:
    """What every path delivered, by wire size (the latest send time and frame of each, and the
    earliest send time): the fast pass's equals the exact pass's, so the exact pass need only
    follow a few flows."""
    require_fast_pass()
    assert _paths(path, exact=False) == _paths(path, exact=True)


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
    for path in SAMPLE_FILES:
        _both([path], config)


def _worth(path: Path) -> list[DirectionFacts]:
    require_fast_pass()
    one = _first_pass(_Input(path, None, path), None, False, None)
    delivered = detect.surely_delivered_by_path(one.facts, one.host_mss)
    return [
        f for f in one.facts if detect.worth_exact_pass(f, delivered, one.host_mss, DEFAULT_CONFIG)
    ]


def test_the_incident_is_shortlisted_and_a_healthy_transfer_is_not() -> None:
    assert [f.flow.sport for f in _worth(SAMPLES / "incident.home-wg0.pcap")] == [8080]
    assert _worth(SAMPLES / "healthy-random-loss.pcap") == []
    healthy = _first_pass(
        _Input(SAMPLES / "healthy-random-loss.pcap", None, SAMPLES / "healthy-random-loss.pcap"),
        None,
        False,
        None,
    )
    # that transfer lost packets, and full-size segments were surely delivered
    assert sum(f.retransmissions for f in healthy.facts) > 0
    delivered = detect.surely_delivered_by_path(healthy.facts, healthy.host_mss)
    assert max(delivered.values()) == 1420


def _transfer_cut(receiver_side: bool, last_full: bool) -> bytes:
    """SYNTHETIC: the capture stopped 1 ms after the receiver's SACK showed a full-size segment
    lost: a reply's first segment, then its short tail; or a bulk transfer, 10 segments
    acknowledged, then the 11th lost and 29 more, all full-size. At the receiver the lost
    segment is not in the capture."""
    c = syn.Conversation().handshake()
    acked, sizes = (10, [1368] * 40) if last_full else (0, [1368, 392])
    seq = 1
    for k, size in enumerate(sizes):
        if k != acked or not receiver_side:
            c.data(seq, size)
        seq += size
        if k < acked:
            c.ack(seq)
    c.ack(1 + acked * 1368, sack=[(1 + (acked + 1) * 1368, seq)])
    return c.pcap()


@pytest.mark.parametrize("receiver_side", [True, False], ids=["receiver", "sender"])
def test_a_capture_stopped_right_after_a_loss_is_shortlisted_unless_full_size_followed(
    tmp_path: Path, receiver_side: bool
) -> None:
    """`detect.could_end_too_soon`: a loss at the end, too soon to judge, is replayed; a bulk
    transfer cut while full-size segments still arrived is not (on a gigabyte, its whole flow
    would be): at the receiver the last data was full-size, at the sender that size was
    delivered before."""
    tail, full = tmp_path / "tail.pcap", tmp_path / "full.pcap"
    tail.write_bytes(_transfer_cut(receiver_side, last_full=False))
    full.write_bytes(_transfer_cut(receiver_side, last_full=True))
    assert [f.flow.sport for f in _worth(tail)] == [80]
    assert analyze(tail).verdict == "inconclusive"
    assert _worth(full) == []
    assert analyze(full).verdict == "clean"
    _both([tail])
    _both([full])


def test_a_timer_resend_at_the_end_is_shortlisted_only_on_a_path_that_delivers(
    tmp_path: Path,
) -> None:
    """`_stopped_early` judges a segment the timer resent, with no SACK, only on a path that
    surely delivered: a capture of the senders alone (no ACK) is never replayed for it."""
    delivers, silent = tmp_path / "delivers.pcap", tmp_path / "silent.pcap"
    delivers.write_bytes(timer_resend(reply_at=0.1))
    silent.write_bytes(timer_resend(reply_at=0.1, acked=False))
    assert [f.flow.dport for f in _worth(delivers)] == [5001]
    assert _worth(silent) == []
    _both([delivers])
    _both([silent])


def _sender_only(resends: dict[int, int], segments: int = 40) -> bytes:
    """SYNTHETIC: a capture of the data sender's packets only (no ACK ever seen, as with a
    `src host` filter): `segments` full-size segments, the k-th re-sent `resends[k]` times."""
    c = syn.Conversation().handshake()
    for k in range(segments):
        c = c.data(1 + 1368 * k, 1368)
    for k, times in resends.items():
        for copy in range(times):
            c = c.at(0.2 * 2**copy).data(1 + 1368 * k, 1368)
    return c.server_only().pcap()


def test_a_sender_side_capture_of_one_direction_is_not_all_shortlisted(tmp_path: Path) -> None:
    """With no ACK in the capture nothing is known delivered: a flow that lost a packet now
    and then (each re-sent once) used to go whole to the exact pass (on 1 GB: 24 s, 540 MB).
    Only a segment sent `min_full_size_copies` times can make a stall
    (`DirectionFacts.most_copies`); the report is the exact pass's over everything."""
    bulk, stalled = tmp_path / "bulk.pcap", tmp_path / "stalled.pcap"
    bulk.write_bytes(_sender_only({3: 1, 17: 1, 30: 1}))
    stalled.write_bytes(_sender_only({3: 1, 17: 6}))
    assert _worth(bulk) == []
    (worth,) = _worth(stalled)
    assert worth.most_copies == 7 and worth.flow.sport == 80
    assert [f.most_copies for f in _facts(bulk, exact=False) or [] if f.data_packets] == [2]
    _both([bulk])
    _both([stalled])


def test_most_copies_is_not_known_once_segments_were_forgotten(tmp_path: Path) -> None:
    """SYNTHETIC: past 262,144 segments outstanding in one direction the fast pass forgets the
    oldest (memory), so it no longer knows how often each was sent: the fact is None, and the
    shortlist's test on it does not apply."""
    path = tmp_path / "many-outstanding.pcap"
    path.write_bytes(syn.one_way(262_200))
    (sender,) = [f for f in _facts(path, exact=False) or [] if f.data_packets]
    assert sender.data_packets == 262_200 and sender.most_copies is None
    assert sender.lowest_unacked is None  # its lowest segment was forgotten too


def test_the_lowest_segment_unacknowledged_and_what_got_through_after_it() -> None:
    """SYNTHETIC: a 1420-byte packet delivered, then one lost, re-sent 0.3 s later, while a
    444-byte one sent after it is SACKed (`DirectionFacts.lowest_unacked`, what the shortlist
    asks of a loss on a size the path carried before)."""
    require_fast_pass()
    c = syn.Conversation().handshake().data(1, 1368).ack(1369)
    c.at(1).data(1369, 1368).data(2737, 392).ack(1369, sack=[(2737, 3129)])
    c.at(1.3).data(1369, 1368)
    facts = {f.flow.sport: f for f in _facts(c.pcap(), exact=False) or []}
    low = facts[80].lowest_unacked
    assert low is not None
    assert low == LowestUnacked(1420, 444, 444, holds_ack_point=True)  # at the sender
    assert facts[5000].lowest_unacked == LowestUnacked(0, 0, 0)  # all of it acknowledged


def test_sack_blocks_that_deliver_runs_near_either_end_of_the_window(tmp_path: Path) -> None:
    """SYNTHETIC: twelve segments in flight, each of its own size; holes at the second and the
    eleventh, SACK blocks delivering the runs after each (a run with fewer segments before it
    than behind it, and one the other way), the holes re-sent, then all acknowledged. What the
    path delivered, by size, is the exact pass's: each segment counted once, at its own size
    (the fast pass closes a delivered run's gap from whichever side holds fewer segments)."""
    require_fast_pass()
    c = syn.Conversation().handshake()
    starts, seq = [], 1
    for k in range(12):
        starts.append(seq)
        c.data(seq, 1000 + 10 * k)
        seq += 1000 + 10 * k
    ends = [*starts[1:], seq]
    c.ack(starts[1], sack=[(starts[2], ends[2])])  # a run just after the first hole
    c.ack(starts[1], sack=[(starts[2], ends[4])])
    c.ack(starts[1], sack=[(starts[2], ends[9]), (starts[11], ends[11])])  # near the end
    c.at(0.3).data(starts[1], 1010).data(starts[10], 1100)
    c.ack(seq)
    capture = tmp_path / "sack-runs.pcap"
    capture.write_bytes(c.pcap())
    fast, exact = _paths(capture, exact=False), _paths(capture, exact=True)
    assert fast == exact
    assert fast is not None
    _version, delivered, _first = cast(
        "tuple[int, dict[int, object], object]", fast[(syn.addr(c.server), syn.addr(c.client))]
    )
    assert sorted(delivered) == sorted(20 + 20 + 12 + 1000 + 10 * k for k in range(12))


def test_data_in_flight_at_a_sender_without_the_syn_is_not_shortlisted(tmp_path: Path) -> None:
    """SYNTHETIC: a capture begun after the SYN, at the sender of many connections, each with
    a segment in flight when it ends (its ACK below data sent, after that data): no
    receiver's gap opened there, since the capture holds the bytes waited for
    (`LowestUnacked.holds_ack_point`). On 30,000 such connections the shortlist once took
    them all (10 s instead of 2.4 s); a receiver's capture of the same is still shortlisted."""
    sender, receiver = tmp_path / "sender.pcap", tmp_path / "receiver.pcap"
    c = syn.Conversation().request(63).data(1, 1368).data(1369, 392).ack(1369)
    sender.write_bytes(c.pcap())
    (facts,) = [f for f in _facts(sender, exact=False) or [] if f.flow.sport == 80]
    assert facts.gap_open_at_end and facts.lowest_unacked is not None
    assert facts.lowest_unacked.holds_ack_point
    assert _worth(sender) == []
    lost = syn.Conversation().request(63).data(1369, 392).ack(1, sack=[(1369, 1761)])
    receiver.write_bytes(lost.pcap())
    assert [f.flow.sport for f in _worth(receiver)] == [80]
    _both([sender])
    _both([receiver])


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_the_largest_size_sent_after_a_time_is_the_path_summarys(path: Path) -> None:
    """`screen._LaterSizes` answers `PathSummary.largest_sent_after` by bisection: the same
    answer at every send time a path holds, and just before and after each."""
    require_fast_pass()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            paths = _first_pass(_Input(path, None, path), None, False, None).paths
        except CaptureError:
            return
    for summary in paths.values():
        later = _LaterSizes(summary)
        for ts, _frame, _capture in summary.delivered.values():
            for at in (ts - 1e-6, ts, ts + 1e-6):
                expected = summary.largest_sent_after(at)
                assert later.largest_after(at) == (expected[0] if expected else 0)


def test_most_copies_is_never_below_what_the_exact_pass_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shortlist skips a direction whose most copied segment has fewer copies than a stall
    needs: on every sample, the fast pass's count is at least the exact pass's (full-size
    copies of a segment, when it is delivered or at the end)."""
    from pcapmtu import flows

    require_fast_pass()
    most: dict[tuple[object, int], int] = {}
    delivered, finish = flows.Direction._delivered, flows.Direction.finish

    def count(direction: flows.Direction, sent: flows.Sent) -> None:
        key = (direction.key, direction.facts.first_frame)
        most[key] = max(most.get(key, 0), len(sent.full_size_copies()))

    def spy_delivered(self: flows.Direction, sent: flows.Sent, *rest: object) -> None:
        count(self, sent)
        delivered(self, sent, *rest)  # type: ignore[arg-type]

    def spy_finish(self: flows.Direction, end_ts: float | None, alone: bool = False) -> None:
        for sent in self.outstanding:
            count(self, sent)
        finish(self, end_ts, alone)

    monkeypatch.setattr(flows.Direction, "_delivered", spy_delivered)
    monkeypatch.setattr(flows.Direction, "finish", spy_finish)
    compared, highest = 0, 0
    for path in SAMPLE_FILES:
        most.clear()
        exact, fast = _facts(path, exact=True), _facts(path, exact=False)
        assert exact is not None and fast is not None
        for f in fast:
            if f.data_packets:
                assert f.most_copies is not None, (path.name, f.flow.text())
                assert f.most_copies >= most.get((f.flow, f.first_frame), 0), path.name
                compared += 1
        highest = max([highest, *most.values()])
    assert highest >= 7 and compared > 50  # stalls resent many times were among them


def test_a_replay_by_scanning_gives_the_same_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing kept, the second pass reads the capture again from the first frame that
    matters to the last; the report must not change."""
    from pcapmtu import replay

    require_fast_pass()
    captures = [REPO / c for c in CASES[2][2]]  # both ends of the incident, together
    expected = analyze(captures).to_dict()
    monkeypatch.setattr(replay, "KEEP_PER_DIRECTION", 0)
    assert analyze(captures).to_dict() == expected
    for path in SAMPLE_FILES:
        _both([path])


def test_a_keeper_that_fills_up_gives_the_same_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past KEEP_TOTAL records kept, the directions met later are not kept, and their
    connections are read by scanning: the reports do not change. (With flows forgotten as they
    go, the records of the forgotten stay while there is room: tests/test_hostile.py.)"""
    from pcapmtu import replay

    require_fast_pass()
    monkeypatch.setattr(replay, "KEEP_TOTAL", 16)
    for path in SAMPLE_FILES:
        _both([path])


def test_the_exact_pass_reads_only_the_connections_it_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a tunnel every flow shares the same two addresses: the exact pass reads again the
    connections worth it, not the others between the same hosts (whose deliveries it takes
    from the fast pass), and the report is that of the exact pass over everything."""
    from pcapmtu import analysis, replay

    require_fast_pass()
    path = SAMPLES / "many-flows.pcap"
    read: list[set[replay.Conn]] = []

    def spy(
        source: object, name: str, table: object, conns: set[replay.Conn], *rest: object
    ) -> None:
        read.append(set(conns))
        replay.replay(source, name, table, conns, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(analysis, "replay", spy)
    _both([path])
    worth = {replay.conn_of(f.flow) for f in _worth(path)}
    every = {replay.conn_of(f.flow) for f in _facts(path, exact=False) or []}
    assert read == [worth]
    assert {replay.pair_of(f.flow) for f in _worth(path)} == {
        replay.pair_of(f.flow) for f in _facts(path, exact=False) or []
    }  # one host pair
    assert 0 < len(worth) < len(every) == 6


# -- the counts, on synthetic conversations, with each pass (`engine`) --------------------------


def _server(c: syn.Conversation, port: int = 80) -> DirectionFacts:
    report = analyze(c.pcap())
    return next(f.facts for f in report.flows if f.flow.sport == port)


def test_counts_of_a_synthetic_conversation(engine: str) -> None:
    """SYNTHETIC: handshake, three segments, the second lost and resent, SACK, D-SACK."""
    c = syn.Conversation().handshake()
    c.data(1, 1000).data(1001, 1000).data(2001, 1000)
    c.ack(1001).ack(1001, sack=[(2001, 3001)]).ack(1001, sack=[(2001, 3001)])
    c.data(1001, 1000).ack(3001).ack(3001, sack=[(1001, 2001)])
    server, client = _server(c), _server(c, 5000)
    assert (server.packets, server.data_packets, server.data_bytes) == (5, 4, 4000)
    assert (client.packets, client.data_packets) == (7, 0)
    assert server.retransmissions == 1 and client.retransmissions == 0
    assert (server.sack_blocks, server.dsacks) == (3, 1)
    # the same ACK (and window) twice more while data was outstanding; not once all was
    assert server.dup_acks == 2
    assert server.peer_syn_mss == client.syn_mss == 1380
    assert server.largest_ip_len == 20 + 32 + 1000
    assert server.new_data == {1052: [3, 1000, 1000]}  # all three acknowledged at last
    assert server.resent == {1052: [1, 1000, 1000]}


def test_retransmissions_across_a_sequence_wrap(engine: str) -> None:
    """SYNTHETIC: four segments across 2^32, then a resend of the first."""
    c = syn.Conversation(isn=2**32 - 2000).handshake()
    for i in range(4):
        c.data(1 + 1368 * i, 1368)
    c.ack(1 + 1368 * 4)
    assert _server(c).retransmissions == 0
    c.data(1, 1368)
    assert _server(c).retransmissions == 1


def test_full_and_partial_retransmissions_are_counted(engine: str) -> None:
    """SYNTHETIC: a full and a partial overlap; a keep-alive is not a retransmission."""
    c = syn.Conversation().handshake().data(1, 1000).data(1001, 1000)
    c.data(1, 1000)  # full overlap
    c.data(501, 1000)  # partial overlap
    c.ack(2001)
    c.data(2000, 1)  # keep-alive: the last byte again
    d = _server(c)
    assert (d.retransmissions, d.data_packets) == (2, 5)


def test_a_dsack_is_counted_as_a_sack_block_too(engine: str) -> None:
    """SYNTHETIC: a resent segment that had arrived is reported by a D-SACK."""
    c = syn.Conversation().handshake().data(1, 100).ack(101).data(1, 100).ack(101, sack=[(1, 101)])
    d = _server(c)
    assert (d.sack_blocks, d.dsacks, d.retransmissions) == (1, 1, 1)


def test_duplicate_acks_without_sack(engine: str) -> None:
    """SYNTHETIC: three pure ACKs repeating the handshake's, with data outstanding."""
    c = syn.Conversation(sack=False).handshake().data(1, 1368).data(1369, 392)
    c.ack(1).ack(1).ack(1)
    assert _server(c).dup_acks == 3


def test_a_port_reused_after_fin_is_a_new_flow(engine: str) -> None:
    """SYNTHETIC: a connection ends (FIN), a new one opens on the same ports."""
    c = syn.Conversation().handshake().data(1, 10, flags=syn.ACK | syn.FIN).ack(12)
    c.handshake()
    flows = [f for f in analyze(c.pcap()).flows if f.flow.sport == 80]
    assert len(flows) == 2 and flows[0].facts.first_frame < flows[1].facts.first_frame
