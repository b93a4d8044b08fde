"""The fast lane of decoding gives, field by field, what the exact decoder (dpkt) gives."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from pcapmtu import fast
from pcapmtu.capture import Capture
from pcapmtu.decode import Decoder
from pcapmtu.errors import CaptureError
from pcapmtu.model import Segment, TooBig
from tests.conftest import REPO, SAMPLES, require_fast_pass

CORPUS = REPO.parent / "shared" / "corpus" / "public"
FILES = sorted(SAMPLES.glob("*.pcap*")) + sorted(
    p for p in CORPUS.glob("*") if p.name != "MANIFEST.tsv"
)


def _decode_all(
    source: Path | bytes, lane: str
) -> tuple[dict[str, np.ndarray], Decoder, list[TooBig]]:
    from pcapmtu.fast import columns

    decoder = Decoder()
    parts: list[columns.Columns] = []
    too_big: list[TooBig] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            capture = Capture(source)
        except CaptureError:
            return columns.empty(), decoder, []
        for batch in capture.batches():
            decoded = columns.decode(batch, decoder, lane=lane)
            parts.append(decoded.segments)
            too_big += decoded.too_big
    return columns.concat(parts or [columns.empty()]), decoder, too_big


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_fast_lane_equals_the_exact_decoder(path: Path) -> None:
    require_fast_pass()
    from pcapmtu.fast import columns

    lane, lane_decoder, lane_too_big = _decode_all(path, "fast")
    exact, exact_decoder, exact_too_big = _decode_all(path, "exact")
    for name in columns.COLUMNS:
        assert np.array_equal(lane[name], exact[name]), name
    assert lane_decoder.skipped == exact_decoder.skipped
    assert lane_decoder.tunnels == exact_decoder.tunnels
    assert lane_decoder.unknown_link_types == exact_decoder.unknown_link_types
    assert lane_too_big == exact_too_big


def test_icmp_other_than_too_big_is_skipped_by_the_fast_lane_as_by_the_exact_decoder() -> None:
    """SYNTHETIC ICMP and ICMPv6 messages: an echo request (skipped without the exact decoder:
    it is no too-big), a too-big, one cut before its 8-byte header, one with a quote cut short:
    the same skipped counts and too-big messages either way."""
    import struct

    from tests import synthetic as syn

    require_fast_pass()
    quoted = syn.tcp("198.19.0.1", "198.19.0.2", 80, 5000, 1, 1, syn.ACK, payload=1400)
    quoted6 = syn.tcp("2001:db8::1", "2001:db8::2", 80, 5000, 1, 1, syn.ACK, payload=1400)
    echo = syn.ip("198.19.0.9", "198.19.0.1", 1, struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"x" * 8)
    echo6 = syn.ip("2001:db8::9", "2001:db8::1", 58, struct.pack("!BBHI", 128, 0, 0, 1))
    packets = [
        echo,
        echo6,
        syn.icmp_frag_needed(
            "198.19.0.9", "198.19.0.1", 1400, syn.ip("198.19.0.1", "198.19.0.2", 6, quoted)
        ),
        syn.icmpv6_too_big(
            "2001:db8::9", "2001:db8::1", 1400, syn.ip("2001:db8::1", "2001:db8::2", 6, quoted6)
        ),
        echo[:24],  # the ICMP header cut by the snaplen
        syn.icmp_frag_needed("198.19.0.9", "198.19.0.1", 1400, b"\x45\x00"),  # quote cut short
    ]
    capture = syn.pcap([(1.0 + k, packet) for k, packet in enumerate(packets)])
    lane, lane_decoder, lane_too_big = _decode_all(capture, "fast")
    exact, exact_decoder, exact_too_big = _decode_all(capture, "exact")
    assert all(np.array_equal(lane[name], exact[name]) for name in lane)  # no TCP at all
    assert lane_decoder.skipped == exact_decoder.skipped
    assert lane_decoder.skipped["other ICMP"] == 2
    assert lane_too_big == exact_too_big and len(lane_too_big) == 2


def test_ipv6_extension_headers_are_walked_by_the_fast_lane_as_by_the_exact_decoder() -> None:
    """SYNTHETIC IPv6 packets with extension headers: TCP behind hop-by-hop, destination
    options, routing, AH and an atomic fragment, a multicast listener report (ICMPv6 behind
    hop-by-hop, as on every eth0), a too-big behind destination options, UDP behind one, TCP
    behind fifteen; and those the exact decoder reads: a real fragment, an extension cut by
    the snaplen, one longer than the packet, sixteen (its limit: malformed). The same columns
    and counts either way, the first kinds without the exact decoder."""
    import struct

    from tests import synthetic as syn

    require_fast_pass()
    a, b = "2001:db8::1", "2001:db8::2"

    def options(next_header: int, units: int = 0) -> bytes:  # hop-by-hop or dest-opts, PadN
        return bytes([next_header, units, 1, 4 + 8 * units]) + bytes(4 + 8 * units)

    def routing(next_header: int) -> bytes:  # type 0, no segments left
        return bytes([next_header, 0, 0, 0]) + bytes(4)

    def auth(next_header: int) -> bytes:  # AH with a 12-byte ICV: 24 bytes, length 4
        return bytes([next_header, 4, 0, 0]) + bytes(20)

    def fragment(next_header: int, offset_and_more: int) -> bytes:
        return struct.pack("!BBHI", next_header, 0, offset_and_more, 7)

    segment = syn.tcp(a, b, 80, 5000, 1, 1, syn.ACK, payload=100)[40:]  # no IPv6 header
    quoted = syn.tcp(a, b, 80, 5000, 1, 1, syn.ACK, payload=1400)
    report = struct.pack("!BBHHH", 143, 0, 0, 0, 0)  # MLDv2 report, no records
    too_big = struct.pack("!BBHI", 2, 0, 0, 1400) + quoted[:1232]
    udp = struct.pack("!HHHH", 5353, 5353, 12, 0) + b"mdns"
    fifteen = b"".join(options(60) for _ in range(14)) + options(6)  # walked
    sixteen = b"".join(options(60) for _ in range(15)) + options(6)  # the most: malformed
    walked = [
        syn.ip(a, b, 0, options(6) + segment),
        syn.ip(a, b, 60, options(6, units=2) + segment),
        syn.ip(a, b, 0, options(43) + routing(60) + options(6) + segment),
        syn.ip(a, b, 51, auth(6) + segment),
        syn.ip(a, b, 44, fragment(6, 0) + segment),  # atomic
        syn.ip(a, b, 0, options(58) + report),
        syn.ip(a, b, 60, options(58) + too_big),
        syn.ip(a, b, 0, options(17) + udp),
        syn.ip(a, b, 60, fifteen + segment),
    ]
    left = [
        syn.ip(a, b, 44, fragment(6, 1) + segment),  # more fragments to come
        syn.ip(a, b, 44, fragment(6, 8 << 3) + segment),  # a later fragment
        syn.ip(a, b, 0, options(6) + segment)[:44],  # the extension cut by the snaplen
        syn.ip(a, b, 0, options(6, units=30)),  # longer than the packet
        syn.ip(a, b, 60, sixteen + segment),
    ]
    capture = syn.pcap([(1.0 + k, packet) for k, packet in enumerate(walked + left)])
    lane, lane_decoder, lane_too_big = _decode_all(capture, "fast")
    exact, exact_decoder, exact_too_big = _decode_all(capture, "exact")
    for name in lane:
        assert np.array_equal(lane[name], exact[name]), name
    assert lane_decoder.skipped == exact_decoder.skipped
    assert lane_too_big == exact_too_big and len(lane_too_big) == 1
    tcp = [*walked[:5], walked[-1]]
    assert list(lane["ip_len"]) == [len(packet) for packet in tcp]
    from pcapmtu.fast import columns

    with Capture(capture) as read:
        (batch,) = list(read.batches())
        _, slow, udp_kinds, other_icmp, _ = columns._compiled_lane(batch)
    assert slow.tolist() == [6, *range(len(walked), len(walked) + len(left))]  # the too-big
    assert other_icmp == 1 and sum(udp_kinds.values()) == 1


def test_the_fast_lane_takes_the_segments_of_a_real_capture() -> None:
    require_fast_pass()
    from pcapmtu.fast import columns

    decoder = Decoder()
    with Capture(SAMPLES / "healthy-random-loss.pcap") as capture:
        decoded = [columns.decode(batch, decoder) for batch in capture.batches()]
    segments = sum(len(d.segments["frame"]) for d in decoded)
    assert sum(d.fast for d in decoded) == segments > 1000


def test_the_fast_pass_is_compiled_under_ci() -> None:
    import os

    if os.environ.get("CI") == "true":
        assert fast.AVAILABLE, "pcapmtu.fast._native was not built: is a C compiler installed?"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_segments_the_exact_pass_is_given_are_the_exact_decoders(path: Path) -> None:
    """The second pass takes its segments from the fast lane's columns (`replay._segments`):
    record by record, the same `Segment`s as the exact decoder's."""
    require_fast_pass()
    from pcapmtu import replay
    from pcapmtu.fast import columns

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            capture = Capture(path)
        except CaptureError:
            return
        for batch in capture.batches():
            decoder = Decoder()
            c = columns.decode(batch, decoder).segments
            lane = replay._segments(c, replay._record_of(batch), decoder)
            exact = [Decoder().decode(r) for r in batch.records()]
            assert lane == [s for s in exact if isinstance(s, Segment)]


def test_a_syn_whose_mss_option_says_0_is_not_a_syn_without_one() -> None:
    """SYNTHETIC: SYNs with an MSS option of 0 and with none are both 0 in the columns; the
    segments the exact pass is given tell them apart as the exact decoder does."""
    from pcapmtu import replay
    from pcapmtu.fast import columns
    from tests import synthetic as syn

    require_fast_pass()
    zero = syn.tcp(
        "10.0.0.1", "10.0.0.2", 1, 2, seq=0, flags=syn.SYN, options=syn.tcp_options(mss=0)
    )
    none = syn.tcp("10.0.0.2", "10.0.0.1", 2, 1, seq=0, flags=syn.SYN | syn.ACK)
    with Capture(syn.pcap([(1.0, zero), (1.1, none)])) as capture:
        (batch,) = capture.batches()
    decoder = Decoder()
    c = columns.decode(batch, decoder).segments
    assert c["mss"].tolist() == [0, 0]
    assert [s.mss for s in columns.to_segments(c)] == [None, None]
    assert [s.mss for s in replay._segments(c, replay._record_of(batch), decoder)] == [0, None]


def test_each_row_is_found_in_the_table_of_known_directions_by_its_whole_key() -> None:
    """SYNTHETIC keys: `known_directions` gives each row the direction whose key it has, or -1
    (a key not in the table, or one whose mix the table holds for another direction's key: a
    collision, left to the exact lookup), whatever order the rows come in: runs of one
    direction, two alternating (a transfer's data and ACKs), a third between them."""
    require_fast_pass()
    from pcapmtu.fast import _native  # type: ignore[attr-defined]
    from pcapmtu.fast.screen import mix

    # six keys alike but for one value each (as a host's connections differ by a port)
    base = np.random.default_rng(7).integers(0, 1 << 62, size=7, dtype=np.uint64)
    keys = np.tile(base, (7, 1))  # the seventh, unchanged, is in no table
    for k in range(6):
        keys[k, k] ^= np.uint64(k + 1)
    mixes = mix([keys[:, k].copy() for k in range(7)])
    # directions 0 to 3 known by their own mix; 4's entry holds the mix of key 5 (a collision)
    table = {int(mixes[d]): d for d in range(4)} | {int(mixes[5]): 4}
    order = np.argsort(np.array(list(table), dtype=np.uint64))
    table_mix = np.array(list(table), dtype=np.uint64)[order]
    table_dir = np.array(list(table.values()), dtype=np.int64)[order]
    rows = np.array([0, 0, 1, 0, 1, 1, 2, 0, 1, 5, 4, 3, 3, 5, 0, 6, 2, 1, 0, 6], dtype=np.int64)
    columns = tuple(np.ascontiguousarray(keys[rows, k]) for k in range(7))
    raw = _native.known_directions(columns, table_mix, table_dir, np.ascontiguousarray(keys))
    found = np.frombuffer(raw, dtype=np.int64)
    expected = [r if r < 4 else -1 for r in rows.tolist()]
    assert found.tolist() == expected
