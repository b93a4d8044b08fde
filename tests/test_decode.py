"""Decoding link layers, IP and TCP, and ICMP too-big messages (synthetic packets)."""

from __future__ import annotations

import struct

import dpkt
import pytest

from pcapmtu.decode import Decoder, options
from pcapmtu.model import Record, TooBig
from tests import synthetic as syn

V4 = syn.FULL_SIZE_V4
V6 = syn.FULL_SIZE_V6


_decode = syn.decode_one
_segment = syn.decode_segment


def test_ipv6_sizes_and_header_lengths() -> None:
    seg = _segment(V6)
    assert (seg.ip_version, seg.ip_len, seg.ip_header_len, seg.tcp_header_len) == (6, 1420, 40, 32)


def test_sizes_come_from_the_ip_header_not_the_snaplen() -> None:
    seg = _segment(V4[:60], orig_len=len(V4))  # tcpdump -s 60: headers only
    assert (seg.ip_len, seg.payload_len) == (1420, 1368)


def test_tso_length_zero_falls_back_to_the_wire_length() -> None:
    packet = syn.tcp("10.0.0.1", "10.0.0.2", 1, 2, seq=5, payload=3000, ip_len_override=0)
    seg = _segment(packet)
    assert (seg.ip_len, seg.payload_len) == (3040, 3000)


def test_tcp_options() -> None:
    options = syn.tcp_options(mss=1380, wscale=7, sack_ok=True, timestamps=True)
    seg = _segment(syn.tcp("10.0.0.1", "10.0.0.2", 1, 2, seq=0, flags=syn.SYN, options=options))
    assert seg.mss == 1380  # among the other options of a SYN
    sack = syn.tcp_options(sack=[(100, 200), (300, 400)])
    seg = _segment(syn.tcp("10.0.0.1", "10.0.0.2", 1, 2, seq=0, options=sack))
    assert seg.sack_blocks == ((100, 200), (300, 400))


@pytest.mark.parametrize(
    "options",
    [
        b"\x02\x00\x05\x00",
        b"\x08\x0a\x00\x00",
        b"\x01\x01\x02\x04",
        b"\x00\x02\x04\x05\xb4\x00\x00\x00",
    ],
    ids=["zero-length", "cut-timestamp", "cut-mss", "after-end-of-options"],
)
def test_malformed_options_never_raise(options: bytes) -> None:
    padded = options + b"\0" * (-len(options) % 4)
    seg = _segment(syn.tcp("10.0.0.1", "10.0.0.2", 1, 2, seq=0, options=padded))
    assert seg.mss is None


def test_ipv6_extension_headers_are_walked() -> None:
    tcp_part = V6[40:]
    hop_by_hop = struct.pack("!BB6s", 6, 0, b"")  # next header TCP, 8 bytes
    packet = syn.ip("fd19::1", "fd19::2", 0, hop_by_hop + tcp_part)
    seg = _segment(packet)
    assert (seg.ip_header_len, seg.ip_len, seg.payload_len) == (48, 1428, 1348)


def test_fragments_are_skipped_and_counted() -> None:
    packet = bytearray(V4)
    packet[6:8] = struct.pack("!H", 0x2000)  # more fragments
    decoder = Decoder()
    assert decoder.decode(Record(1, 1.0, 101, bytes(packet), len(packet))) is None
    assert decoder.skipped["IP fragment"] == 1


def test_icmp_frag_needed_and_packet_too_big() -> None:
    outer = syn.ip(
        "198.18.1.1", "198.18.3.2", 17, struct.pack("!HHHH", 51820, 51820, 1460, 0) + b"\0" * 1452
    )
    found = _decode(syn.icmp_frag_needed("198.18.1.2", "198.18.1.1", 1400, outer))
    assert isinstance(found, TooBig)
    assert (found.mtu, found.quoted_ip_len, found.quoted_protocol) == (1400, 1480, 17)
    assert (found.quoted_sport, found.quoted_dport) == (51820, 51820)
    found6 = _decode(syn.icmpv6_too_big("fd18:1::2", "fd19::1", 1280, V6))
    assert isinstance(found6, TooBig)
    assert (found6.mtu, found6.quoted_ip_len, found6.quoted_seq) == (1280, 1420, 1)


def test_6in4_tunnel_is_unwrapped() -> None:
    packet = syn.ip("192.0.2.1", "192.0.2.2", 41, V6)
    seg = _segment(packet)
    assert seg.ip_version == 6 and seg.ip_len == 1420


def test_unknown_link_type_and_garbage_are_counted_not_raised() -> None:
    decoder = Decoder()
    assert decoder.decode(Record(1, 1.0, 182, V4, len(V4))) is None
    assert decoder.unknown_link_types[182] == 1
    for junk in (b"", b"\x45", b"\x45" + b"\xff" * 30, b"\x60" * 10, b"\x4f" * 60):
        assert decoder.decode(Record(1, 1.0, 101, junk, len(junk))) is None


# -- dpkt's traps, each neutralised in pcapmtu/decode.py ------------------------------------------


def test_trap_a_cut_tcp_option_ends_the_parse() -> None:
    """dpkt's parse_opts gives None for an option whose length byte is cut off."""
    raw = b"\x01\x01\x05\x0a\x00\x00\x00\x01\x00\x00\x00\x02\x02"  # a SACK block, then MSS cut
    assert dpkt.tcp.parse_opts(raw)[-1] is None
    assert options(raw) == {"sack_blocks": ((1, 2),)}
    packet = syn.tcp("10.0.0.1", "10.0.0.2", 1, 2, seq=0, options=raw + b"\0" * 3)
    assert _segment(packet[: 20 + 20 + 13], orig_len=len(packet)).mss is None  # cut by snaplen


def test_trap_dpkt_parses_on_past_end_of_options() -> None:
    """What follows End-of-Options is padding, though dpkt reads an MSS there."""
    raw = b"\x00\x02\x04\x05\xb4\x00\x00\x00"
    assert (dpkt.tcp.TCP_OPT_MSS, b"\x05\xb4") in dpkt.tcp.parse_opts(raw)
    assert options(raw) == {}


def test_trap_a_tcp_header_cut_by_the_snaplen_is_counted_not_decoded() -> None:
    """dpkt keeps the bytes of a TCP header it cannot read as the IP payload, silently."""
    cut = V4[:30]  # the IP header and 10 bytes of TCP
    assert isinstance(dpkt.ip.IP(cut).data, bytes)
    decoder = Decoder()
    assert decoder.decode(Record(1, 1.0, 101, cut, len(V4))) is None
    assert decoder.skipped == {"TCP header cut by snaplen": 1}
    seg = _segment(V4[:60], orig_len=len(V4))  # the whole header: sizes from the IP header
    assert (seg.ip_len, seg.payload_len) == (1420, 1368)


def _extension(next_header: int, body: bytes = b"\0" * 6) -> bytes:
    return struct.pack("!BB", next_header, (len(body) + 2) // 8 - 1) + body


def test_trap_ipv6_extension_chains_are_walked_here() -> None:
    """dpkt keeps one extension header per type and walks no Mobility header: a chain of
    hop-by-hop, destination options twice, an atomic fragment and Mobility is walked."""
    fragment = struct.pack("!BBHI", 60, 0, 0, 7)  # atomic: offset 0, no more fragments
    chain = _extension(60) + _extension(44) + fragment + _extension(135) + _extension(6)
    packet = syn.ip("fd19::1", "fd19::2", 0, chain + V6[40:])
    seg = _segment(packet)
    assert seg.ip_header_len == 40 + 5 * 8 and seg.payload_len == 1348


def test_trap_a_first_fragment_behind_another_extension_is_skipped() -> None:
    """dpkt decodes a first fragment as a whole packet unless its header comes first."""
    fragment = struct.pack("!BBHI", 6, 0, 1, 7)  # offset 0, more fragments
    packet = syn.ip("fd19::1", "fd19::2", 0, _extension(44) + fragment + V6[40:])
    decoder = Decoder()
    assert decoder.decode(Record(1, 1.0, 101, packet, len(packet))) is None
    assert decoder.skipped == {"IP fragment": 1}


def test_dpkt_is_imported_only_when_a_record_needs_it() -> None:
    """Its import costs about 35 ms, a tenth of a small capture's run: `pcapmtu --help`,
    config-check and a capture the fast lane reads whole (both passes: the exact pass takes
    its segments from the fast lane too) do without it; the exact decoder loads it at its
    first record (here: the exact route over everything, as without the compiled lane)."""
    import subprocess
    import sys

    from tests.conftest import SAMPLES, require_fast_pass

    require_fast_pass()
    loaded = "print('dpkt' in sys.modules)"
    clean, incident = (
        str(SAMPLES / name) for name in ("fixed-mtu1340.pcap", "incident.home-wg0.pcap")
    )
    code = (
        f"import sys, pcapmtu.cli; {loaded}; "
        f"pcapmtu.analyze({clean!r}); {loaded}; "
        f"r = pcapmtu.analyze({incident!r}); print(r.findings[0].kind); {loaded}; "
        f"pcapmtu.analyze({incident!r}, shortlist=False); {loaded}"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "black_hole", "False", "True"]
