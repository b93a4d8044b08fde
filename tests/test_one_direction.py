"""A capture of one direction only (a `src host` filter, asymmetric routing), taken where the
data arrives: a lost packet shows only as a jump in the sender's sequence numbers, with no ACK
to tell what arrived. pcapmtu must never call that clean (`detect.unseen_sends`,
`DirectionFacts.skipped_unacked`, computed alike by both passes)."""

from __future__ import annotations

import json
from pathlib import Path

import dpkt
from click.testing import CliRunner

from pcapmtu import analyze, cli
from pcapmtu.detect import KIND_SUSPECTED
from pcapmtu.report import VERDICT_CLEAN, VERDICT_INCONCLUSIVE
from tests import synthetic as syn
from tests.conftest import SAMPLES


def _server_only(c: syn.Conversation) -> syn.Conversation:
    """Keep the server's packets only, as `tcpdump 'src host SERVER'` would."""
    server = syn.addr(c.server)
    c.packets = [(t, p) for t, p in c.packets if p[12:16] == server]
    return c


def _incident_at_the_receiver() -> syn.Conversation:
    """SYNTHETIC: the incident at the proxy: the 1368-byte first segment of the response never
    arrives, the 392-byte second one does."""
    return syn.Conversation().handshake().data(1369, 392).at(1.0).data(1761, 0, flags=syn.FIN)


def test_a_gap_in_one_direction_only_is_never_clean(engine: str) -> None:
    report = analyze(_server_only(_incident_at_the_receiver()).pcap())
    server = next(f.facts for f in report.flows if f.flow.sport == 80)
    assert server.skipped_unacked == 1368
    assert report.verdict == VERDICT_INCONCLUSIVE
    (finding,) = report.findings
    assert finding.kind == KIND_SUSPECTED and finding.one_direction
    assert "capture both directions" in (report.to_decide() or "")


def test_a_gap_filled_later_is_not_one(engine: str) -> None:
    """SYNTHETIC: the missing bytes arrive later, resent in two smaller packets."""
    c = _server_only(_incident_at_the_receiver().at(2.0).data(1, 700).data(701, 668))
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
