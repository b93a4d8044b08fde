"""Where the IP header starts in each link type (synthetic frames)."""

from __future__ import annotations

import struct

import pytest

from pcapmtu import linktypes
from tests import synthetic as syn

V4 = syn.FULL_SIZE_V4


_segment = syn.decode_segment


@pytest.mark.parametrize(
    ("frame", "link_type"),
    [
        (V4, linktypes.LINKTYPE_RAW),
        (V4, linktypes.LINKTYPE_DLT_RAW_BSD),
        (V4, linktypes.LINKTYPE_IPV4),
        (syn.ethernet(V4), linktypes.LINKTYPE_ETHERNET),
        (syn.ethernet(V4, vlans=[0x8100]), linktypes.LINKTYPE_ETHERNET),
        (syn.ethernet(V4, vlans=[0x88A8, 0x8100]), linktypes.LINKTYPE_ETHERNET),
        (
            syn.ethernet(
                struct.pack("!BBHHH", 0x11, 0, 1, len(V4) + 2, 0x0021) + V4, ethertype=0x8864
            ),
            linktypes.LINKTYPE_ETHERNET,
        ),
        (struct.pack("!HHH8sH", 0, 1, 6, b"", 0x0800) + V4, linktypes.LINKTYPE_LINUX_SLL),
        (struct.pack("!HHIHBB8s", 0x0800, 0, 3, 1, 0, 0, b"") + V4, linktypes.LINKTYPE_LINUX_SLL2),
        (struct.pack("<I", 2) + V4, linktypes.LINKTYPE_NULL),
        (struct.pack("!I", 2) + V4, linktypes.LINKTYPE_LOOP),
        (b"\xff\x03\x00\x21" + V4, linktypes.LINKTYPE_PPP),
    ],
    ids=[
        "raw101",
        "raw12",
        "ipv4-228",
        "ethernet",
        "vlan",
        "qinq",
        "pppoe",
        "sll",
        "sll2",
        "null",
        "loop",
        "ppp",
    ],
)
def test_every_link_type_reaches_the_same_segment(frame: bytes, link_type: int) -> None:
    seg = _segment(frame, link_type)
    assert (seg.sport, seg.dport, seg.seq, seg.ip_len, seg.payload_len) == (
        8080,
        40000,
        1,
        1420,
        1368,
    )


def test_mpls_labels_are_skipped() -> None:
    labels = struct.pack("!I", (16 << 12) | 64) + struct.pack("!I", (17 << 12) | 0x100 | 64)
    frame = syn.ethernet(labels + V4, ethertype=0x8847)
    assert linktypes.ip_offset(linktypes.LINKTYPE_ETHERNET, frame) == 14 + 8


def test_non_ip_frames_and_unknown_types() -> None:
    arp = syn.ethernet(b"\x00" * 28, ethertype=0x0806)
    assert linktypes.ip_offset(linktypes.LINKTYPE_ETHERNET, arp) is None
    assert linktypes.ip_offset(182, V4) is None
    assert linktypes.name(182) == "unknown (182)" and linktypes.name(101) == "RAW"
    for short in (b"", b"\x00" * 5):
        for link_type in linktypes.SUPPORTED:
            assert linktypes.ip_offset(link_type, short) in (None, 0, 4)
