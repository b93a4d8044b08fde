"""The TCP rules both passes apply (synthetic values); tests/test_facts.py checks that the
compiled fast pass applies them as the exact pass does on every capture."""

from __future__ import annotations

from pcapmtu import tcp
from pcapmtu.model import TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN


def test_signed_delta_and_unwrap_cross_the_wrap() -> None:
    assert tcp.signed_delta(5, 2**32 - 5) == 10
    assert tcp.signed_delta(2**32 - 5, 5) == -10
    assert tcp.unwrap(7, None, 0) == 0  # a direction's first segment
    assert tcp.unwrap(3, 2**32 - 2, 100) == 105


def test_syn_and_fin_take_sequence_space() -> None:
    assert tcp.seq_length(TCP_SYN, 0) == 1
    assert tcp.seq_length(TCP_FIN | TCP_ACK, 5) == 6
    assert tcp.seq_length(TCP_ACK, 0) == 0


def test_retransmission_and_keepalive() -> None:
    assert not tcp.is_retransmission(100, None, TCP_ACK, 10)  # nothing sent before
    assert not tcp.is_retransmission(100, 100, TCP_ACK, 10)  # new data
    assert tcp.is_retransmission(90, 100, TCP_ACK, 10)  # partly below: resent
    # the last byte again, everything acknowledged: a keep-alive probe
    assert not tcp.is_retransmission(99, 100, TCP_ACK, 1, cum_ack=100)
    assert not tcp.is_retransmission(99, 100, TCP_ACK, 0, cum_ack=100)  # an empty keep-alive
    # the last byte again while it is not acknowledged: a retransmission (Wireshark says
    # keep-alive); a 1-byte segment resent by a backing-off timer is one
    assert tcp.is_retransmission(99, 100, TCP_ACK, 1, cum_ack=99)
    assert tcp.is_retransmission(99, 100, TCP_ACK, 1, cum_ack=None)
    assert tcp.is_retransmission(99, 100, TCP_ACK | TCP_FIN, 0)  # a FIN again is resent
    assert not tcp.is_retransmission(50, 100, TCP_ACK, 0)  # a pure ACK takes no space


def test_duplicate_ack() -> None:
    same = (1000, 500)
    assert tcp.is_dup_ack(TCP_ACK, 0, 1000, 500, same, 2000)
    assert not tcp.is_dup_ack(TCP_ACK, 0, 1000, 501, same, 2000)  # a window update
    assert not tcp.is_dup_ack(TCP_ACK, 0, 1000, 500, None, 2000)  # the previous was not pure
    assert not tcp.is_dup_ack(TCP_ACK, 0, 1000, 500, same, 1000)  # nothing beyond it sent
    assert not tcp.is_dup_ack(TCP_ACK | TCP_PSH, 10, 1000, 500, same, 2000)  # carries data


def test_a_syn_on_a_finished_tuple_opens_a_new_connection() -> None:
    assert tcp.opens_new_connection(TCP_SYN, finished=True)
    assert not tcp.opens_new_connection(TCP_SYN, finished=False)
    assert not tcp.opens_new_connection(TCP_SYN | TCP_ACK, finished=True)
    assert tcp.ends_connection(TCP_RST) and tcp.ends_connection(TCP_FIN | TCP_ACK)


def test_sack_blocks() -> None:
    assert tcp.is_valid_sack(100, 200) and not tcp.is_valid_sack(200, 100)
    assert tcp.is_dsack(100, 200, 300) and not tcp.is_dsack(300, 400, 300)
