"""The shared values."""

from __future__ import annotations

from pcapmtu.model import FlowKey, flow_text, format_address

V4_A, V4_B = bytes([198, 19, 0, 1]), bytes([198, 19, 0, 2])
V6_A = bytes.fromhex("fd190000000000000000000000000001")


def test_format_address() -> None:
    assert format_address(V4_A) == "198.19.0.1"
    assert format_address(V6_A) == "fd19::1"


def test_a_flow_key_names_one_direction() -> None:
    key = FlowKey(V4_A, 8080, V4_B, 60378)
    assert key.ip_version == 4 and key.reverse() == FlowKey(V4_B, 60378, V4_A, 8080)
    assert key.text() == flow_text(*key) == "198.19.0.1:8080 -> 198.19.0.2:60378"
    assert FlowKey(V6_A, 1, V6_A, 2).text() == "[fd19::1]:1 -> [fd19::1]:2"
    assert FlowKey(V6_A, 1, V6_A, 2).ip_version == 6
