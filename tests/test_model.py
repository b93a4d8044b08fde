"""The shared values."""

from __future__ import annotations

from pcapmtu.model import TCP_FIN, TCP_SYN, Segment, format_address


def _segment(flags: int, payload: int, seq: int) -> Segment:
    return Segment(
        frame=1,
        ts=0.0,
        src=b"\x01" * 4,
        dst=b"\x02" * 4,
        sport=1,
        dport=2,
        seq=seq,
        ack=0,
        flags=flags,
        window=0,
        ip_version=4,
        ip_len=40 + payload,
        ip_header_len=20,
        tcp_header_len=20,
        payload_len=payload,
    )


def test_end_seq_counts_syn_and_fin_and_wraps() -> None:
    assert _segment(TCP_SYN, 0, 10).end_seq == 11
    assert _segment(TCP_FIN, 5, 10).end_seq == 16
    assert _segment(0, 10, 2**32 - 4).end_seq == 6


def test_format_address() -> None:
    assert format_address(bytes([198, 19, 0, 1])) == "198.19.0.1"
    assert format_address(bytes.fromhex("fd190000000000000000000000000001")) == "fd19::1"
