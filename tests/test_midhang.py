"""Captures started while the transfer already hangs (issue 11, point 1): the real sample
captures, cut at the first retransmission of their stalled segment, as `editcap -r` would."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pcapmtu import analyze
from pcapmtu.detect import KIND_BLACK_HOLE, KIND_SUSPECTED
from tests.conftest import SAMPLES

PCAP_HEADER_LEN = 24
RECORD_HEADER_LEN = 16


def cut_from(path: Path, frame: int) -> bytes:
    """The pcap file `path` from record `frame` (1-based) on, its header kept."""
    data = path.read_bytes()
    kept, at, number = [data[:PCAP_HEADER_LEN]], PCAP_HEADER_LEN, 1
    while at + RECORD_HEADER_LEN <= len(data):
        caplen = struct.unpack_from("<I", data, at + 8)[0]
        end = at + RECORD_HEADER_LEN + caplen
        if number >= frame:
            kept.append(data[at:end])
        at, number = end, number + 1
    return b"".join(kept)


# The black-hole samples whose loss the capture shows at the sender.
SENDER_SIDE = [
    "incident.home-wg0.pcap",
    "still-broken-mtu1380.pcap",
    "many-flows.pcap",
    "no-sack.pcap",
    "inner-ipv6.pcap",
    "outer-ipv6.home-wg0.pcap",
    "any-sll2.pcap",
]


@pytest.mark.parametrize("name", SENDER_SIDE)
def test_a_capture_started_mid_hang_is_never_called_clean(name: str) -> None:
    full = analyze(SAMPLES / name)
    stalled = [f for f in full.findings if f.kind == KIND_BLACK_HOLE and f.side == "sender"]
    assert stalled, "the sample shows a black hole at the sender"
    second_copy = sorted(e.frame for e in stalled[0].evidence if "(copy 2)" in e.what)[0]
    cut = analyze(cut_from(SAMPLES / name, second_copy), names=[f"{name} from {second_copy}"])
    kinds = {f.kind for f in cut.findings}
    assert cut.verdict != "clean", cut.render_text()
    assert kinds & {KIND_BLACK_HOLE, KIND_SUSPECTED}


def test_the_incident_from_its_first_retransmission_is_a_black_hole() -> None:
    """`editcap -r incident.home-wg0.pcap cut.pcap 11-19`: six copies of the 1420-byte packet
    and the receiver's SACK of the next, smaller segment, which the cut capture does not hold."""
    cut = analyze(cut_from(SAMPLES / "incident.home-wg0.pcap", 11))
    assert cut.verdict == "black_hole"
    (finding,) = cut.black_holes
    assert (finding.dropped_ip_len, finding.transmissions) == (1420, 6)
    assert any("SACKed 393 bytes beyond it" in e.what for e in finding.evidence)
    assert cut.paths[0].fits_max == 1419


@pytest.mark.parametrize("first", [2, 3, 4, 5, 6])
def test_a_receiver_side_capture_started_mid_hang_is_never_called_clean(first: int) -> None:
    """The client's capture of the incident from frame `first` on: without the SYN the MSS is
    unknown, so the 1368-byte gap may be one lost packet or several; inconclusive, never clean
    (`first` = 2, 3: the server's SYN-ACK still tells its MSS, so it is a black hole)."""
    name = "incident.proxy-wg0.pcap"
    cut = analyze(cut_from(SAMPLES / name, first), names=[f"{name} from {first}"])
    assert cut.verdict != "clean", cut.render_text()
    (finding,) = [f for f in cut.findings if f.kind in (KIND_BLACK_HOLE, KIND_SUSPECTED)]
    assert finding.side == "receiver"
    if finding.kind == KIND_SUSPECTED:
        assert finding.dropped_ip_len is None
        assert any("may be one packet of 1420 bytes" in e.what for e in finding.evidence)
        assert "capture at the sender" in (cut.to_decide() or "")
    else:
        assert finding.dropped_ip_len == 1420


def test_bytes_the_receiver_never_got_with_nothing_after_them_are_not_clean() -> None:
    """SYNTHETIC, as seen at the client: the handshake and its request, then nothing of the
    server's 4096-byte reply (all full-size packets, lost), and at the end the server's ACK of
    the client's FIN, numbered 4096 bytes on: never clean (a real capture of this, a TLS server
    whose short tail Nagle held back, was called clean)."""
    from tests import synthetic as syn

    server, client, isn, cisn = "198.19.0.1", "198.19.0.2", 1000, 5000
    ack, fin = 0x10, 0x01
    c = syn.Conversation(server, client, isn=isn, client_isn=cisn).handshake()
    request = syn.tcp(client, server, 5000, 80, cisn + 1, isn + 1, ack | 0x08, payload=517)
    c.at(0.01)._add(request)
    c.at(0.02)._add(syn.tcp(server, client, 80, 5000, isn + 1, cisn + 518, ack))
    c.at(8.0)._add(syn.tcp(client, server, 5000, 80, cisn + 518, isn + 1, ack | fin))
    # the server's ACK of that FIN, numbered past the 4096 bytes of its reply, never seen here
    c.at(8.05)._add(syn.tcp(server, client, 80, 5000, isn + 4097, cisn + 519, ack))
    report = analyze(syn.pcap(c.packets))
    assert report.verdict == "inconclusive", report.render_text()
    (suspected,) = report.suspected
    assert suspected.side == "receiver" and "4096 bytes" in suspected.evidence[0].what


@pytest.mark.parametrize("first", [6, 7, 8, 9])
def test_a_capture_on_eth0_started_at_the_super_packet_is_never_clean(first: int) -> None:
    """The no-tunnel sample (eth0, TSO on) from its 1812-byte super-packet, or from the FIN
    after it: without the SYN its wire size is unknown, and the bytes were sent before the
    capture; the 1500-byte copies re-sent after them make the stall (a wrong clean once)."""
    name = "no-tunnel.pcap"
    cut = analyze(cut_from(SAMPLES / name, first), names=[f"{name} from {first}"])
    assert cut.verdict == "black_hole", cut.render_text()
    assert [f.dropped_ip_len for f in cut.black_holes] == [1500]
