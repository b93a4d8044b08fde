"""Tunnels (issue 11, point 4): each one's overhead and fix, how a capture tells which tunnel it
was taken on, and the decoders' count of tunnelled packets. The packets built here are
SYNTHETIC (tests/synthetic.py); the real captures are the samples and the public corpus."""

from __future__ import annotations

import struct

import pytest
from click.testing import CliRunner

from pcapmtu import analyze, cli, mtu, tunnels
from pcapmtu.capture import Capture
from pcapmtu.decode import Decoder
from pcapmtu.tunnels import TunnelEvidence, by_kind, recognise
from tests import synthetic as syn
from tests.conftest import SAMPLES, require_fast_pass

# (kind, overhead over IPv4, over IPv6), from the headers each tunnel adds
OVERHEADS = [
    ("wireguard", 60, 80),
    ("vxlan", 50, 70),
    ("geneve", 50, 70),
    ("gre", 24, 44),
    ("gre:8", 28, 48),
    ("gretap", 38, 58),
    ("gretap:8", 42, 62),
    ("ipip", 20, 40),
    ("sit", 20, 40),
    ("ip6tnl", 20, 40),
    ("none", 0, 0),
]


@pytest.mark.parametrize(("kind", "v4", "v6"), OVERHEADS, ids=[o[0] for o in OVERHEADS])
def test_overheads(kind: str, v4: int, v6: int) -> None:
    tunnel = by_kind(kind)
    assert (tunnel.overhead(4), tunnel.overhead(6)) == (v4, v6)


def test_only_wireguard_pads() -> None:
    assert tunnels.WIREGUARD.outer_size(1330, 1420, 4) == 1344 + 60
    assert tunnels.WIREGUARD.outer_size(1419, 1420, 4) == 1420 + 60  # capped at its MTU
    assert tunnels.VXLAN.outer_size(1330, 1450, 4) == 1330 + 50
    assert tunnels.NONE.outer_size(1330, 1500, 4) == 1330


def test_unknown_kinds_are_refused() -> None:
    for bad in ("foo", "gre:x", "vxlan:8", "wireguard:1"):
        with pytest.raises(ValueError, match="unknown tunnel"):
            tunnels.check_kind(bad)
    result = CliRunner().invoke(
        cli.cli, ["analyze", "--tunnel", "foo", str(SAMPLES / "incident.home-wg0.pcap")]
    )
    assert result.exit_code == 2 and "unknown tunnel 'foo'" in result.output


def test_recognised_by_what_the_capture_shows_first() -> None:
    told = recognise(TunnelEvidence(outer={"wireguard": 9}), "vxlan")
    assert (told.tunnel.kind, told.certain) == ("vxlan", True)
    outer = recognise(TunnelEvidence(outer={"gre:8": 5, "wireguard": 1}, interfaces=["wg0"]))
    assert (outer.tunnel.kind, outer.tunnel.overhead(4), outer.certain) == ("gre", 28, True)
    named = recognise(TunnelEvidence(interfaces=["any", "vxlan100"], syn_mss={(1380, 4): 2}))
    assert (named.tunnel.kind, named.certain) == ("vxlan", True)
    guessed = recognise(TunnelEvidence(syn_mss={(1460, 4): 4, (1380, 4): 1}))
    assert (guessed.tunnel.kind, guessed.certain) == ("none", False)
    assert recognise(TunnelEvidence(syn_mss={(1440, 6): 1})).tunnel.kind == "none"
    assert recognise(TunnelEvidence(syn_mss={(1440, 4): 1})).tunnel.kind == "wireguard"  # unknown
    assert recognise(TunnelEvidence(syn_mss={(1410, 4): 1})).tunnel.kind == "vxlan"
    assert recognise(TunnelEvidence(syn_mss={(1360, 6): 1})).tunnel.kind == "wireguard"
    assumed = recognise(TunnelEvidence(syn_mss={(1234, 4): 1}))
    assert (assumed.tunnel.kind, assumed.certain) == ("wireguard", False)
    assert "assumed" in assumed.how
    # no SYN: its largest packet, when it is a tunnel's usual MTU; a SYN's MSS tells first
    link = recognise(TunnelEvidence(largest_packet=1500))
    assert (link.tunnel.kind, link.certain) == ("none", False)
    assert "largest packets, 1500 bytes" in link.how
    assert recognise(TunnelEvidence(largest_packet=1450)).tunnel.kind == "vxlan"
    assert "assumed" in recognise(TunnelEvidence(largest_packet=1400)).how
    assert recognise(TunnelEvidence(syn_mss={(1380, 4): 1}, largest_packet=1500)).tunnel.kind == (
        "wireguard"
    )


def _udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


WG_DATA = b"\x04\0\0\0" + b"\x11" * 12 + b"\x22" * (16 * 5 + 16)  # 32 + 16n bytes
WG_INIT = b"\x01\0\0\0" + b"\x33" * 144
VXLAN = b"\x08\0\0\0\0\0\x2a\0" + syn.ethernet(syn.ip("10.0.0.1", "10.0.0.2", 6, b"\0" * 20))
GENEVE = b"\0\0\x65\x58\0\0\x2a\0" + syn.ethernet(syn.ip("10.0.0.1", "10.0.0.2", 6, b"\0" * 20))
INNER = syn.tcp("198.19.0.1", "198.19.0.2", 80, 5000, seq=1, payload=100)
INNER6 = syn.tcp("fd19::1", "fd19::2", 80, 5000, seq=1, payload=100)
OUTER = ("198.18.1.1", "198.18.3.2")
SYNTHETIC_TUNNELLED = [
    ("wireguard", syn.ip(*OUTER, 17, _udp(40000, 51999, WG_DATA))),  # any port: by its shape
    ("wireguard", syn.ip("fd18::1", "fd18::2", 17, _udp(51820, 51820, WG_INIT))),
    ("vxlan", syn.ip(*OUTER, 17, _udp(33333, 4789, VXLAN))),
    ("geneve", syn.ip(*OUTER, 17, _udp(33333, 6081, GENEVE))),
    ("gre:4", syn.ip(*OUTER, 47, b"\0\0\x08\0" + INNER)),
    ("gre:8", syn.ip(*OUTER, 47, b"\x20\0\x08\0" + b"\0\0\0\x07" + INNER)),  # with a key
    ("ipip", syn.ip(*OUTER, 4, INNER)),
    ("sit", syn.ip(*OUTER, 41, INNER6)),
    ("ip6tnl", syn.ip("fd18::1", "fd18::2", 41, INNER6)),
]
NOT_TUNNELLED = [
    syn.ip(*OUTER, 17, _udp(5353, 53, b"\x01\0\0\0" + b"\0" * 40)),  # DNS-ish, not WG's length
    syn.ip(*OUTER, 17, _udp(33333, 4789, b"\0" * 30)),  # VXLAN port, no VXLAN flag
    syn.ip(*OUTER, 17, _udp(33333, 4790, VXLAN)),  # VXLAN header, another port
]


@pytest.mark.parametrize(
    ("kind", "packet"), SYNTHETIC_TUNNELLED, ids=[k for k, _ in SYNTHETIC_TUNNELLED]
)
def test_both_decoders_count_what_tunnel_a_packet_came_in(kind: str, packet: bytes) -> None:
    from tests.test_columns import _decode_all

    require_fast_pass()
    data = syn.pcap([syn.ethernet(packet)], link_type=1)
    counted = [dict(_decode_all(data, lane)[1].tunnels) for lane in ("exact", "fast")]
    assert counted == [{kind: 1}, {kind: 1}]


def test_other_udp_is_no_tunnel() -> None:
    decoder = Decoder()
    with Capture(syn.pcap([syn.ethernet(p) for p in NOT_TUNNELLED], link_type=1)) as capture:
        for batch in capture.batches():
            for i in range(len(batch)):
                decoder.decode(batch.record(i))
    assert not decoder.tunnels and decoder.skipped["UDP"] == 3


def test_recommendations_follow_the_tunnel() -> None:
    bracket = mtu.Bracket(444, 1419)
    wg = mtu.recommend(bracket, tunnel_mtu=1420)
    vx = mtu.recommend(bracket, tunnel_mtu=None, tunnel=tunnels.VXLAN)
    plain = mtu.recommend(bracket, tunnel_mtu=None, tunnel=tunnels.NONE)
    assert wg is not None and vx is not None and plain is not None
    assert wg.underlay_path_mtu == (508, 1479) and wg.wireguard_mtu == wg.mtu
    assert vx.underlay_path_mtu == (494, 1469) and vx.wireguard_mtu is None
    assert plain.underlay_path_mtu == (444, 1419)
    assert "ip link set dev vxlan0 mtu" in vx.set_mtu[0]
    assert "ip route change DEST" in plain.set_mtu[0]
    assert (vx.mss_ipv4, plain.mss_ipv4) == (vx.mtu - 40, plain.mtu - 40)  # no padding
    assert wg.mss_ipv4 == wg.mtu // 16 * 16 - 40


def test_the_report_says_the_tunnel_and_its_fix() -> None:
    incident = SAMPLES / "incident.home-wg0.pcap"
    guessed = analyze(incident)
    assert guessed.tunnel is not None and guessed.tunnel.tunnel.kind == "wireguard"
    assert not guessed.tunnel.certain  # raw IP on wg0, no outer headers: the MSS suggests it
    told = analyze(incident, tunnel="gre")
    assert told.recommendation is not None and told.recommendation.tunnel.kind == "gre"
    text = told.render_text()
    assert "FIX: set the GRE tunnel's MTU to" in text and "ip link set dev gre1 mtu" in text
    data = told.to_dict()
    assert data["tunnel"]["kind"] == "gre" and data["recommendation"]["wireguard_mtu"] is None
    both_ends = analyze(SAMPLES / "pcapng-two-interfaces.pcapng")
    assert both_ends.tunnel is not None and both_ends.tunnel.certain
    assert "underlay" in both_ends.tunnel.how  # its eth0 interface holds WireGuard's UDP
    assert both_ends.captures[0].interfaces == ("wg0", "eth0")


def test_a_real_vxlan_capture_on_the_underlay_is_unwrapped() -> None:
    report = analyze(SAMPLES / "vxlan.home-underlay.pcap")
    assert report.tunnel is not None
    assert (report.tunnel.tunnel.kind, report.tunnel.certain) == ("vxlan", True)
    assert report.captures[0].tunnels["vxlan"] >= 20
    (finding,) = report.black_holes
    assert finding.dropped_ip_len == 1450  # the inner packet, not its 1500-byte VXLAN wrapping
    r = report.recommendation
    assert r is not None and r.tunnel.kind == "vxlan" and r.underlay_path_mtu[1] == 1499
    # the capture on vxlan0 itself shows the same, the tunnel guessed from its MSS (1450 - 40)
    inside = analyze(SAMPLES / "vxlan.home-vxlan0.pcap")
    assert inside.tunnel is not None and inside.tunnel.tunnel.kind == "vxlan"
    assert not inside.tunnel.certain
    assert [f.dropped_ip_len for f in inside.black_holes] == [1450]


def test_no_tunnel_with_tso_counts_the_super_packet_at_wire_size() -> None:
    report = analyze(SAMPLES / "no-tunnel.pcap")
    sizes = [f.facts.largest_ip_len for f in report.flows if f.facts.flow.sport == 8080]
    assert max(sizes) > 1500  # the server's side: tcpdump saw a TSO super-packet
    (finding,) = report.black_holes
    assert finding.dropped_ip_len == 1500  # the MSS-sized packet it left as
    r = report.recommendation
    assert r is not None and r.tunnel.kind == "none" and r.underlay_path_mtu == (52, 1499)
    assert "[Interface]" not in report.fix_text() and "ip link set dev eth0" in report.fix_text()


def test_an_icmp_too_big_quoting_vxlan_gives_the_exact_mtu() -> None:
    """SYNTHETIC: a router's "fragmentation needed" (next hop 1400) quoting a VXLAN packet."""
    quoted = syn.ip(*OUTER, 17, _udp(33333, 4789, VXLAN + b"\0" * 1400))
    icmp = syn.icmp_frag_needed("198.18.2.1", OUTER[0], 1400, quoted)
    report = analyze(syn.pcap([syn.ethernet(icmp)], link_type=1), tunnel="vxlan")
    r = report.recommendation
    assert r is not None and (r.basis, r.mtu) == ("icmp", 1400 - 50)
    # the same message is no evidence about a WireGuard tunnel's underlay
    assert analyze(syn.pcap([syn.ethernet(icmp)], link_type=1)).recommendation is None
