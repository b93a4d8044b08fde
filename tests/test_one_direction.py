"""A capture of one direction only (a `src host` filter, asymmetric routing), taken where the
data arrives: a lost packet shows only as a jump in the sender's sequence numbers, with no ACK
to tell what arrived. pcapmtu must never call that clean (`detect.unseen_sends`,
`DirectionFacts.skipped_unacked`, computed alike by both passes)."""

from __future__ import annotations

import json
from pathlib import Path

import dpkt
import pytest
from click.testing import CliRunner

from pcapmtu import analyze, cli
from pcapmtu.detect import KIND_SUSPECTED
from pcapmtu.report import VERDICT_CLEAN, VERDICT_INCONCLUSIVE
from tests import synthetic as syn
from tests.conftest import SAMPLES


def _incident_at_the_receiver() -> syn.Conversation:
    """SYNTHETIC: the incident at the proxy: the 1368-byte first segment of the response never
    arrives, the 392-byte second one does."""
    return syn.Conversation().handshake().data(1369, 392).at(1.0).data(1761, 0, flags=syn.FIN)


def test_a_gap_in_one_direction_only_is_never_clean(engine: str) -> None:
    report = analyze(_incident_at_the_receiver().server_only().pcap())
    server = next(f.facts for f in report.flows if f.flow.sport == 80)
    assert server.skipped_unacked == 1368
    assert report.verdict == VERDICT_INCONCLUSIVE
    (finding,) = report.findings
    assert finding.kind == KIND_SUSPECTED and finding.one_direction
    assert "capture both directions" in (report.to_decide() or "")


def test_a_gap_filled_later_is_not_one(engine: str) -> None:
    """SYNTHETIC: the missing bytes arrive later, resent in two smaller packets."""
    c = _incident_at_the_receiver().at(2.0).data(1, 700).data(701, 668).server_only()
    report = analyze(c.pcap())
    server = next(f.facts for f in report.flows if f.flow.sport == 80)
    assert server.skipped_unacked == 0
    assert report.verdict == VERDICT_CLEAN


def test_with_the_acks_the_gap_is_judged_as_before(engine: str) -> None:
    """SYNTHETIC: the same receiver-side capture with both directions: the ACKs show the gap,
    and the fact of one direction only stays 0 (the receiver's rules judge it)."""
    c = _incident_at_the_receiver().ack(1, sack=[(1369, 1761)])
    report = analyze(c.pcap())
    server = next(f.facts for f in report.flows if f.flow.sport == 80)
    assert server.skipped_unacked == 0
    assert not any(f.one_direction for f in report.findings)


def test_the_incident_at_the_receiver_filtered_to_the_server_is_not_clean(
    tmp_path: Path,
) -> None:
    """The real receiver-side capture of the incident, with the client's packets filtered out
    (as `tcpdump -w - 'src host 198.19.0.1'` would): it said "no MTU black hole" before."""
    filtered = tmp_path / "server-only.pcap"
    with (SAMPLES / "incident.proxy-wg0.pcap").open("rb") as f, filtered.open("wb") as out:
        reader = dpkt.pcap.Reader(f)
        writer = dpkt.pcap.Writer(out, linktype=reader.datalink())
        for ts, buf in reader:  # the sample's link type is raw IP
            if buf[0] >> 4 == 4 and buf[12:16] == syn.addr("198.19.0.1"):
                writer.writepkt(buf, ts)
    result = CliRunner().invoke(cli.cli, ["analyze", "--json", str(filtered)])
    data = json.loads(result.stdout)
    assert result.exit_code == cli.EXIT_FOUND
    assert data["verdict"] == VERDICT_INCONCLUSIVE
    (finding,) = data["findings"]
    assert finding["one_direction"] is True and finding["flow"]["sport"] == 8080


# -- the other direction only: the receiver's packets (its request and ACKs), not the data ------


def _acks_of_the_incident(sack: bool = True) -> syn.Conversation:
    """SYNTHETIC: the incident as the client's ACKs tell it: the 1368-byte first segment of
    the response never arrives, the 392-byte second one does (SACKed, or without SACK a
    duplicate ACK, twice: for it and for the FIN), and 8 s later the client gives up."""
    c = syn.Conversation(sack=sack).handshake().request(39).data(1369, 392)
    c = c.ack(1, sack=[(1369, 1761)] if sack else [])
    c = c.data(1761, 0, flags=syn.FIN).ack(1, sack=[(1369, 1762)] if sack else [])
    return c.at(8.0).ack(1, sack=[(1369, 1762)] if sack else [])


def _window(packet: bytes, window: int) -> bytes:
    """The packet with its TCP window set (IPv4, 20-byte IP header; the checksum is not
    checked)."""
    return packet[:34] + window.to_bytes(2, "big") + packet[36:]


def test_acks_stopped_below_sacked_bytes_are_never_clean(engine: str) -> None:
    report = analyze(_acks_of_the_incident().client_only().pcap())
    (client,) = (f.facts for f in report.flows)
    assert client.stuck_ack_hole == 1368
    assert 7.9 < client.stuck_ack_s < 8.1
    assert report.verdict == VERDICT_INCONCLUSIVE
    (finding,) = report.findings
    assert finding.kind == KIND_SUSPECTED and finding.one_direction
    assert finding.flow.sport == 80  # named in the direction of the lost data
    assert "1368 bytes below those it SACKed" in finding.evidence[0].what
    assert "capture both directions" in (report.to_decide() or "")


def test_acks_stopped_of_a_side_that_sent_no_data_make_no_finding(engine: str) -> None:
    """SYNTHETIC: the same ACKs from a client that sent no data: a direction without data is
    forgotten in a flood (so it must decide nothing), and a spoofed ACK proves nothing."""
    c = syn.Conversation().handshake().data(1369, 392).ack(1, sack=[(1369, 1761)])
    report = analyze(c.at(8.0).ack(1, sack=[(1369, 1761)]).client_only().pcap())
    (client,) = (f.facts for f in report.flows)
    assert client.stuck_ack_s > 7.9 and client.data_packets == 0
    assert not report.findings


def test_acks_stopped_without_sack_are_never_clean(engine: str) -> None:
    """SYNTHETIC: no SACK: the two duplicate ACKs are the only sign later bytes arrived."""
    report = analyze(_acks_of_the_incident(sack=False).client_only().pcap())
    (client,) = (f.facts for f in report.flows)
    assert client.stuck_ack_hole == 0 and client.stuck_ack_s > 7.9
    assert report.verdict == VERDICT_INCONCLUSIVE
    assert "duplicate ACKs" in report.findings[0].evidence[0].what


def test_acks_that_move_on_are_clean(engine: str) -> None:
    """SYNTHETIC: the missing bytes arrive 0.3 s later; the ACK moves past the hole."""
    c = _acks_of_the_incident().at(0.3).data(1, 1368).ack(1762)
    c.packets.sort(key=lambda tp: tp[0])
    report = analyze(c.client_only().pcap())
    (client,) = (f.facts for f in report.flows)
    assert client.stuck_ack_s == 0 and client.stuck_ack_hole == 0
    assert report.verdict == VERDICT_CLEAN


def test_acks_stopped_briefly_before_the_capture_ends_are_clean(engine: str) -> None:
    """SYNTHETIC: the hole is reported 0.5 s before the capture ends: recovery may still be
    under way (below `DetectConfig.min_hole_s`)."""
    c = syn.Conversation().handshake().request(39).data(1369, 392).ack(1, sack=[(1369, 1761)])
    report = analyze(c.at(0.5).ack(1, sack=[(1369, 1761)]).client_only().pcap())
    (client,) = (f.facts for f in report.flows)
    assert 0.4 < client.stuck_ack_s < 0.6
    assert report.verdict == VERDICT_CLEAN


def test_repeated_acks_that_answer_probes_are_not_duplicates(engine: str) -> None:
    """SYNTHETIC, no SACK: the same ACK repeated a second or more apart (answers to keep-alive
    probes), and repeated with the window closed (answers to window probes), report no data."""
    c = syn.Conversation(sack=False).handshake().request(39)
    for k in range(4):  # keep-alive answers, 10 s apart
        c = c.at(10.0 * (k + 1)).ack(1)
    closed = syn.Conversation(sack=False).handshake().request(39).at(1.0)
    for k in range(4):  # window probes answered with a zero window, 0.2 s apart
        closed = closed.at(1.0 + 0.2 * k).ack(1)
    closed.packets[4:] = [(t, _window(p, 0)) for t, p in closed.packets[4:]]
    for conversation in (c, closed):
        report = analyze(conversation.client_only().pcap())
        (client,) = (f.facts for f in report.flows)
        assert client.stuck_ack_s == 0
        assert report.verdict == VERDICT_CLEAN


def test_with_the_data_the_acks_are_judged_as_before(engine: str) -> None:
    """SYNTHETIC: both directions: the fact of the other direction only stays 0."""
    report = analyze(_acks_of_the_incident().pcap())
    assert all(f.facts.stuck_ack_s == 0 for f in report.flows)
    assert not any(f.one_direction for f in report.findings)


BLACK_HOLES_SEEN_BY_ACKS = [
    "incident.proxy-wg0.pcap",  # at the receiver
    "incident.home-wg0.pcap",  # at the sender: the same ACKs, arriving
    "keepalive.pcap",
    "no-sack.pcap",
    "tls.proxy-wg0.pcap",
    "still-broken-mtu1380.pcap",
]


def _packets_from(sample: str, host: str, out: Path) -> Path:
    """The sample with only `host`'s packets (as `tcpdump -w - 'src host HOST'` would)."""
    with (SAMPLES / sample).open("rb") as f, out.open("wb") as written:
        reader = dpkt.pcap.Reader(f)
        writer = dpkt.pcap.Writer(written, linktype=reader.datalink())
        for ts, buf in reader:  # these samples' link type is raw IP
            if buf[0] >> 4 == 4 and buf[12:16] == syn.addr(host):
                writer.writepkt(buf, ts)
    return out


@pytest.mark.parametrize("sample", BLACK_HOLES_SEEN_BY_ACKS)
def test_a_real_black_hole_seen_by_the_receivers_packets_only_is_not_clean(
    sample: str, tmp_path: Path
) -> None:
    """The real captures of black holes, filtered to the client's packets: they said "no MTU
    black hole" before. Both passes compute the same facts of them."""
    filtered = _packets_from(sample, "198.19.0.2", tmp_path / "client-only.pcap")
    result = CliRunner().invoke(cli.cli, ["analyze", "--json", str(filtered)])
    data = json.loads(result.stdout)
    assert result.exit_code == cli.EXIT_FOUND
    assert data["verdict"] == VERDICT_INCONCLUSIVE
    assert all(f["one_direction"] for f in data["findings"])
    assert {f["flow"]["dst"] for f in data["findings"]} == {"198.19.0.2"}  # toward the client
    fast_facts = [f.facts for f in analyze(filtered).flows]
    assert fast_facts == [f.facts for f in analyze(filtered, shortlist=False).flows]
    assert any(f.stuck_ack_s > 5 for f in fast_facts)


@pytest.mark.parametrize("sample", ["healthy-random-loss.pcap", "stalled-reader.pcap"])
@pytest.mark.parametrize("host", ["198.19.0.1", "198.19.0.2"])
def test_real_healthy_captures_of_one_direction_stay_clean(
    sample: str, host: str, tmp_path: Path
) -> None:
    """Loss repaired within an RTO or two, and a reader that stopped reading (its closed
    window answers the sender's probes): either side's packets alone are still clean."""
    report = analyze(_packets_from(sample, host, tmp_path / "one-side.pcap"))
    assert report.verdict == VERDICT_CLEAN


def test_a_clean_verdict_on_flows_seen_one_way_says_what_it_cannot_show(tmp_path: Path) -> None:
    """The real `many-flows` capture filtered to the client: each large reply was lost whole,
    so its ACKs show nothing missing, and the verdict stays clean; but the report cautions
    that the other direction is not in the capture (text, JSON and HTML alike)."""
    filtered = _packets_from("many-flows.pcap", "198.19.0.2", tmp_path / "client-only.pcap")
    report = analyze(filtered)
    assert report.verdict == VERDICT_CLEAN
    requests = [f for f in report.flows if f.facts.data_packets]
    assert len(report.one_direction_flows()) == len(requests) > 1
    caution = report.caution() or ""
    assert f"{len(requests)} flows with data are in the capture one way only" in caution
    assert f"CAUTION: {caution}" in report.render_text()
    assert report.to_dict()["caution"] == caution
    assert "Caution:" in report._repr_html_()
    whole = analyze(SAMPLES / "many-flows.pcap")
    assert not whole.one_direction_flows() and whole.caution() is None
    page = tmp_path / "postmortem.html"
    result = CliRunner().invoke(cli.cli, ["report", str(filtered), "-o", str(page)])
    assert result.exit_code == cli.EXIT_OK
    assert result.stdout.splitlines()[1] == f"CAUTION: {caution}"
    assert f"<b>Caution:</b> {caution}." in page.read_text(encoding="utf-8")
