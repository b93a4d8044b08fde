"""What the underlay shows of a WireGuard tunnel (issue 13, points 1 and 3 to 5): messages sent
in IP fragments, per-session summaries, ICMP too-big tied to the message it quoted, inner
packets tied to their messages, the `outer` frame and its plot. On the lab's real captures
(`fragmented`: ICMP allowed over IPv6; `icmp-allowed`: over IPv4, with wg0 captured too;
`pcapng-two-interfaces` and `any-sll2`: tunnel and underlay in one file), with SYNTHETIC
packets where the lab cannot make the case (named so)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pcapmtu import analyze, detect, wgwire
from pcapmtu.errors import CaptureWarning
from pcapmtu.tunnels import WG_TRANSPORT
from tests.conftest import SAMPLES

FRAG_HOME = SAMPLES / "fragmented.home-underlay.pcap"
FRAG_PROXY = SAMPLES / "fragmented.proxy-underlay.pcap"
ICMP_WG0 = SAMPLES / "icmp-allowed.home-wg0.pcap"
ICMP_UNDERLAY = SAMPLES / "icmp-allowed.home-underlay.pcap"
BOTH_IN_ONE = [SAMPLES / "pcapng-two-interfaces.pcapng", SAMPLES / "any-sll2.pcap"]


# -- fragments --------------------------------------------------------------------------------


def test_an_ipv6_message_in_fragments_is_read_from_its_first_fragment() -> None:
    messages = list(wgwire.messages(FRAG_HOME))
    cut = [m for m in messages if m.fragments > 1]
    assert len(cut) == 14
    # a 1420-byte inner packet leaves as 1500 bytes over IPv6; the kernel cut it at 1400
    assert {(m.outer_ip_len, m.padded_inner, m.fragments) for m in cut} == {(1500, 1420, 2)}
    assert {m.first_fragment_len for m in cut} == {1400}
    # the second fragments are not messages: every counter once
    names = [(m.receiver, m.counter) for m in messages if m.kind == WG_TRANSPORT]
    assert len(names) == len(set(names))
    # the message the router refused went whole, before the ICMP; the rest were cut after it
    whole = [m for m in messages if m.outer_ip_len == 1500 and m.fragments == 1]
    assert len(whole) == 1 and whole[0].ts < min(m.ts for m in cut)


def test_an_ipv4_message_in_fragments_is_read_from_its_first_fragment() -> None:
    (cut,) = [m for m in wgwire.messages(ICMP_UNDERLAY) if m.fragments > 1]
    assert (cut.counter, cut.outer_ip_len, cut.first_fragment_len, cut.fragments) == (
        10,
        1480,
        1396,
        2,
    )


def _ipv4_udp(payload: bytes, *, more: bool, offset: int, total: int | None = None) -> bytes:
    """A SYNTHETIC IPv4 packet (no link layer) from 198.18.1.1 to 198.18.3.2 carrying
    `payload`, with the fragment fields given."""
    flags = (0x2000 if more else 0) | (offset // 8)
    length = total if total is not None else 20 + len(payload)
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, length, 7, flags, 64, 17, 0, bytes([198, 18, 1, 1]),
        bytes([198, 18, 3, 2]),
    )  # fmt: skip
    return header + payload


def _transport(inner_len: int, counter: int = 5) -> bytes:
    """A SYNTHETIC WireGuard transport message with an inner packet of `inner_len` bytes."""
    return struct.pack("<I I Q", WG_TRANSPORT, 0x11223344, counter) + bytes(inner_len + 16)


def test_synthetic_fragments_give_the_whole_message_and_the_rest_are_not_messages() -> None:
    message = _transport(1424)
    udp = struct.pack("!HHHH", 51820, 51820, 8 + len(message), 0) + message
    first = _ipv4_udp(udp[:1376], more=True, offset=0)
    rest = _ipv4_udp(udp[1376:], more=False, offset=1376)
    found = wgwire._message("synthetic", 1, 0.0, 101, first)
    assert found is not None
    assert (found.outer_ip_len, found.padded_inner, found.fragments) == (20 + len(udp), 1424, 2)
    assert found.first_fragment_len == 1396 and found.counter == 5
    assert wgwire._message("synthetic", 2, 0.0, 101, rest) is None


def test_fragments_that_never_arrive_are_said() -> None:
    """SYNTHETIC fates: of three fragmented messages, the other end holds one."""
    src, dst = bytes([198, 18, 1, 1]), bytes([198, 18, 3, 2])
    cut = [
        wgwire.WgMessage("a", i, i * 0.1, src, dst, 51820, 51820, 1480, 4, 7, i, 2, 1396)
        for i in range(3)
    ]
    fates: dict[tuple[int | None, int | None], bool] = {(7, 0): True, (7, 1): False, (7, 2): False}
    (finding,) = detect.fragmented(cut, "a", fates)
    assert finding.kind == detect.KIND_FRAGMENTED and finding.fragments_sent == 6
    assert "holds 1 of the 3" in finding.evidence[-1].what
    assert "2 never reached it" in finding.evidence[-1].what


def test_the_tunnel_works_only_thanks_to_fragmentation() -> None:
    report = analyze([FRAG_HOME, FRAG_PROXY])
    assert report.verdict == "clean"
    assert "only thanks to fragmentation" in report.summary()
    (cut,) = [f for f in report.findings if f.kind == detect.KIND_FRAGMENTED]
    assert (cut.transmissions, cut.fragments_sent, cut.fragment_len) == (14, 28, 1400)
    assert "holds 14 of the 14" in cut.evidence[-1].what
    text = report.render_text()
    assert "FRAGMENTED:" in text and "Its cost: 28 packets on the wire for 14" in text
    # the fix is for the IPv6 underlay the messages crossed: 1320 + 80 = 1400 fits the path
    r = report.recommendation
    assert r is not None and r.outer_version_assumed == 6
    assert r.mtu + 80 <= 1400 and r.mtu == 1320


def test_no_fragments_no_fragmented_finding() -> None:
    for name in ("underlay-both-ends.home-underlay.pcap", "outer-ipv6.home-underlay.pcap"):
        report = analyze(SAMPLES / name)
        assert not [f for f in report.findings if f.kind == detect.KIND_FRAGMENTED]


# -- per tunnel --------------------------------------------------------------------------------


def test_sessions_per_endpoint_pair_and_receiver_index() -> None:
    report = analyze([ICMP_WG0, ICMP_UNDERLAY])
    by_way = {(s.src, s.dst): s for s in report.sessions}
    home, proxy = bytes([198, 18, 1, 1]), bytes([198, 18, 3, 2])
    out, back = by_way[(home, proxy)], by_way[(proxy, home)]
    assert out.receiver != back.receiver
    assert (out.largest_inner, out.largest_outer, out.fragmented) == (1420, 1480, 1)
    assert (out.too_big, out.too_big_mtu) == (1, 1400)
    assert back.too_big == 0 and back.largest_inner < 576
    assert out.messages + back.messages == len(list(wgwire.messages(ICMP_UNDERLAY)))


def test_handshakes_and_keepalives_are_named() -> None:
    """SYNTHETIC messages: an initiation, a response and a keepalive."""
    src, dst = bytes([198, 18, 1, 1]), bytes([198, 18, 3, 2])
    messages = [
        wgwire.WgMessage("a", 1, 0.0, src, dst, 1, 2, 20 + 8 + 148, 1),
        wgwire.WgMessage("a", 2, 0.1, dst, src, 2, 1, 20 + 8 + 92, 2),
        wgwire.WgMessage("a", 3, 0.2, src, dst, 1, 2, 20 + 8 + 32, 4, 9, 0),
    ]
    sessions = {(s.src, s.receiver): s for s in wgwire.sessions(messages)}
    assert sessions[(src, None)].initiations == 1
    assert sessions[(dst, None)].responses == 1
    assert sessions[(src, 9)].keepalives == 1 and sessions[(src, 9)].largest_inner == 0


def test_the_wireguard_port_can_be_pinned() -> None:
    assert list(wgwire.messages(ICMP_UNDERLAY, port=51820))
    assert not list(wgwire.messages(ICMP_UNDERLAY, port=51821))
    with pytest.warns(CaptureWarning, match="none on UDP port 51821"):
        report = analyze(ICMP_UNDERLAY, wireguard_port=51821)
    assert not report.sessions
    assert any("none on UDP port 51821" in w for w in report.warnings)


# -- ties --------------------------------------------------------------------------------------


def test_the_icmp_too_big_is_tied_to_the_message_it_quoted_and_its_inner_packet() -> None:
    report = analyze([ICMP_WG0, ICMP_UNDERLAY])
    (icmp,) = [f for f in report.findings if f.kind == detect.KIND_TOO_BIG]
    what = icmp.evidence[0].what
    assert "counter 7)" in what and "frame 6 of" in what
    assert f"frame 6 of {ICMP_WG0}, a 1420-byte inner packet" in what
    (cut,) = [f for f in report.findings if f.kind == detect.KIND_FRAGMENTED]
    assert f"it carried frame 11 of {ICMP_WG0}, a 1420-byte inner packet" in cut.evidence[0].what


@pytest.mark.parametrize("capture", BOTH_IN_ONE, ids=lambda p: p.name)
def test_each_copy_of_the_lost_packet_is_tied_to_its_message(capture: Path) -> None:
    report = analyze(capture)
    (hole,) = report.black_holes
    copies = [e for e in hole.evidence if e.what.startswith("sent 1420 bytes")]
    assert len(copies) == hole.transmissions == 7
    assert all("on the underlay: a 1480-byte WireGuard message" in e.what for e in copies)
    counters = [int(e.what.split("(counter ")[1].split(")")[0]) for e in copies]
    assert counters == sorted(counters) and len(set(counters)) == 7
    # inner packets go out in the direction of their outer messages, never crossed
    ways = {(t.inner.src, t.inner.dst, t.outer.src, t.outer.dst) for t in report.ties}
    inner_ways = {(a, b) for a, b, _, _ in ways}
    assert ways and len(ways) == len(inner_ways)


def test_a_capture_of_another_time_ties_nothing() -> None:
    """The underlay's messages moved an hour on (SYNTHETIC shift): no packet is tied."""
    from dataclasses import replace

    inner = wgwire.inner_packets(ICMP_WG0, near=[m.ts for m in wgwire.messages(ICMP_UNDERLAY)])
    shifted = [replace(m, ts=m.ts + 3600) for m in wgwire.messages(ICMP_UNDERLAY)]
    assert len(inner) == 14
    assert wgwire.tie(inner, shifted) == []
    assert len(wgwire.tie(inner, list(wgwire.messages(ICMP_UNDERLAY)))) == 14


# -- the frame and the plot --------------------------------------------------------------------


def test_the_outer_frame_tells_every_message_and_its_fate() -> None:
    from pcapmtu import frames

    both = [SAMPLES / "underlay-both-ends.home-underlay.pcap"]
    both.append(SAMPLES / "underlay-both-ends.proxy-underlay.pcap")
    outer = frames.outer(both)
    assert list(outer.columns) == list(frames.OUTER_COLUMNS)
    assert {str(t) for t in outer.dtypes} >= {"string", "Int64", "boolean"}
    lost = outer[outer["delivered"] == False]  # noqa: E712
    assert len(lost) >= 3 and set(lost["outer_ip_len_bytes"]) == {1480}
    delivered = outer[outer["delivered"] == True]  # noqa: E712
    assert delivered["outer_ip_len_bytes"].max() < 1480
    # a delivered message is delivered in both captures' rows
    assert set(delivered["capture"]) == {str(p) for p in both}
    alone = frames.outer(FRAG_HOME)
    assert alone["delivered"].isna().all() and (alone["fragments"] > 1).sum() == 14


def test_the_outer_sizes_plot_draws_each_fate_and_the_path() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from pcapmtu import frames, plot

    both = [SAMPLES / "underlay-both-ends.home-underlay.pcap"]
    both.append(SAMPLES / "underlay-both-ends.proxy-underlay.pcap")
    ax = plot.outer_sizes(frames.outer(both), report=analyze(both))
    labels = ax.get_legend_handles_labels()[1]
    assert any(label.startswith("lost (") for label in labels)
    assert any(label.startswith("delivered (") for label in labels)
    assert "1479: the most it may carry" in labels
    assert "1340: the largest outer packet with MTU = 1280" in labels
    ax = plot.outer_sizes(frames.outer([FRAG_HOME]))
    assert any(
        label.startswith("sent in IP fragments (14)") for label in ax.get_legend_handles_labels()[1]
    )


def test_the_command_line_pins_the_port_and_refuses_a_bad_one() -> None:
    import subprocess
    import sys

    run = [sys.executable, "-m", "pcapmtu", "analyze", str(ICMP_UNDERLAY), "--wireguard-port"]
    bad = subprocess.run([*run, "0"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--wireguard-port" in bad.stderr
    off = subprocess.run([*run, "51821"], capture_output=True, text=True, timeout=60)
    # the router's ICMP still tells; the messages on the other port are left unread
    assert off.returncode == 0 and "FRAGMENTED:" not in off.stdout
    assert "none on UDP port 51821" in off.stderr and "Traceback" not in off.stderr
    on = subprocess.run([*run, "51820"], capture_output=True, text=True, timeout=60)
    assert on.returncode == 0 and "FRAGMENTED:" in on.stdout


def test_the_postmortem_draws_the_underlay_not_empty_segment_pictures() -> None:
    from pcapmtu.postmortem import postmortem

    pm = postmortem([FRAG_HOME, FRAG_PROXY])
    titles = [f.title for f in pm.figures()]
    assert titles == ["WireGuard messages on the underlay"]
    assert len(pm.outer) == len(list(wgwire.messages(FRAG_HOME))) + len(
        list(wgwire.messages(FRAG_PROXY))
    )
    both = postmortem([ICMP_WG0, ICMP_UNDERLAY])
    titles = [f.title for f in both.figures()]
    assert any(t.startswith("Segment sizes") and "home-wg0" in t for t in titles)
    assert not any("home-underlay" in t for t in titles if t.startswith("Segment sizes"))
    assert "WireGuard messages on the underlay" in titles


def test_both_healthy_underlays_are_clean_and_every_random_loss_is_matched() -> None:
    import json

    from pcapmtu import frames

    pair = [SAMPLES / f"underlay-healthy.{end}-underlay.pcap" for end in ("home", "proxy")]
    report = analyze(pair)
    assert report.verdict == "clean" and not report.black_holes and not report.suspected
    # every message the router dropped at random is one the matching calls lost
    routers = json.loads((SAMPLES / "underlay-healthy.json").read_text())["routers"]
    dropped = sum(r["random_loss_dropped"] for r in routers.values())
    outer = frames.outer(pair)
    lost = outer[outer["delivered"] == False]  # noqa: E712
    assert dropped > 0 and len(lost) == dropped
    assert len(set(lost["outer_ip_len_bytes"])) > 1  # large and small alike: not the size
    for alone in pair:
        assert analyze(alone).verdict == "inconclusive"


def test_real_handshakes_cookies_and_keepalives_are_named() -> None:
    """The public corpus's WireGuard captures (skipped without it): wg_4types holds one of
    each message type; wg_trace8 re-keys, with keepalives: 9 receiver indexes and 10
    keepalives, as tshark counts them (`-d udp.port==51820,wg`, type 4, UDP length 40)."""
    from tests.test_corpus import CORPUS

    if not (CORPUS / "wg_4types.pcapng").is_file():
        pytest.skip("the public corpus is not beside the checkout")
    sessions = analyze(CORPUS / "wg_4types.pcapng").sessions
    handshake = [s for s in sessions if s.receiver is None]
    counted = [
        sum(getattr(s, k) for s in handshake) for k in ("initiations", "responses", "cookies")
    ]
    assert counted == [1, 1, 1]
    assert sum(s.messages for s in sessions if s.receiver is not None) == 1
    trace = analyze(CORPUS / "wg_trace8.pcap")
    transport = [s for s in trace.sessions if s.receiver is not None]
    assert len(transport) == 9 and sum(s.keepalives for s in transport) == 10
    assert "3 handshake initiations, 2 handshake responses" in trace.render_text()


def test_fragments_alone_tell_the_underlay_mtu() -> None:
    """The receiving end's underlay: no ICMP too-big there, but the fragments that arrived
    were cut to the path MTU the sender's kernel learned."""
    report = analyze(FRAG_PROXY)
    assert not [f for f in report.findings if f.kind == detect.KIND_TOO_BIG]
    r = report.recommendation
    assert r is not None and (r.mtu, r.outer_version_assumed) == (1320, 6)
    assert r.underlay_path_mtu == (1400, 1400)
    assert any("cut its messages into IP fragments of 1400 bytes" in x for x in r.reasons)


def test_a_long_list_of_sessions_is_cut_in_the_text_not_in_the_json() -> None:
    """A day's capture re-keys hundreds of times: the text shows the first rows only."""
    import json
    from dataclasses import replace

    from pcapmtu.report import MAX_SESSIONS_SHOWN

    report = analyze(ICMP_UNDERLAY)
    many = replace(report, sessions=report.sessions * MAX_SESSIONS_SHOWN)
    extra = len(many.sessions) - MAX_SESSIONS_SHOWN
    assert extra > 0 and f"... and {extra} more (see the JSON)" in many.render_text()
    assert len(json.loads(many.to_json())["underlay"]["sessions"]) == len(many.sessions)
