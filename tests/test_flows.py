"""Per-flow TCP state for detection: sequence wrap, ACK, SACK, duplicate ACKs, GSO (synthetic).

The counts (facts) both passes compute are compared in tests/test_facts.py."""

from __future__ import annotations

from pcapmtu.capture import Capture
from pcapmtu.decode import Decoder
from pcapmtu.flows import Direction, FlowTable
from pcapmtu.model import Segment
from tests import synthetic as syn

HEADERS = 20 + 32  # IPv4 + TCP with timestamps


def _table(conversation: syn.Conversation) -> FlowTable:
    table = FlowTable()
    decoder = Decoder()
    for record in Capture(conversation.pcap()):
        item = decoder.decode(record)
        if isinstance(item, Segment):
            table.add(item)
    table.finish()
    return table


def _server(table: FlowTable) -> Direction:
    (flow,) = table.all_flows()
    return next(d for d in flow.directions() if d.sport == 80)


def test_sequence_wrap_is_followed() -> None:
    c = syn.Conversation(isn=2**32 - 2000).handshake()
    for i in range(4):
        c.data(1 + 1368 * i, 1368)
    c.ack(1 + 1368 * 4)
    d = _server(_table(c))
    assert d.outstanding == [] and not d.stalls
    assert d.cum_ack == 1 + 1368 * 4


def test_sack_delivers_out_of_order_data_and_dsack_delivers_nothing() -> None:
    c = syn.Conversation().handshake().data(1, 1368).data(1369, 392)
    c.ack(1, sack=[(1369, 1761)])
    table = _table(c)
    d = _server(table)
    assert [(s.start, s.end) for s in d.outstanding] == [(1, 1369)]
    assert table.paths[(syn.addr("198.19.0.1"), syn.addr("198.19.0.2"))].largest() == 392 + HEADERS


def test_duplicate_acks_are_counted_at_their_ack() -> None:
    c = syn.Conversation(sack=False).handshake().data(1, 1368).data(1369, 392)
    c.ack(1).ack(1).ack(1)  # the handshake's ACK already said 1: all three are duplicates
    d = _server(_table(c))
    assert d.dup_acks_at[1] == 3


def test_gso_super_packet_counts_as_mss_sized_pieces() -> None:
    c = syn.Conversation(mss=1380).handshake().data(1, 2 * 1368).ack(2 * 1368 + 1)
    table = _table(c)
    assert _server(table).largest_sent == 1368 + HEADERS
    summary = table.paths[(syn.addr("198.19.0.1"), syn.addr("198.19.0.2"))]
    assert summary.largest() == 1368 + HEADERS


def test_a_new_syn_on_a_finished_tuple_is_a_new_flow() -> None:
    c = syn.Conversation().handshake().data(1, 10, flags=syn.ACK | syn.FIN).ack(12)
    c.handshake()
    table = _table(c)
    assert len(table.all_flows()) == 2


def test_a_super_packet_resent_in_part_is_followed_as_the_packets_it_left_as() -> None:
    """No SYN, so no MSS (SYNTHETIC, the shape of the real sample no-tunnel-late): a 1760-byte
    super-packet of unknown wire size; its 312-byte tail sent again at once (a tail loss probe)
    and SACKed; its first 1448 bytes resent three times as 1500-byte packets, never
    acknowledged. The tail's copy no longer gives the whole super-packet its size: the head is
    the stall, at 1500 bytes, and the tail got through at 364."""
    c = syn.Conversation().data(1, 1760).data(1449, 312).ack(1, sack=[(1449, 1761)])
    for _ in range(3):
        c.data(1, 1448)
    table = _table(c)
    d = _server(table)
    (stall,) = d.stalls
    assert (stall.end - stall.start, stall.size, len(stall.copies)) == (1448, 1448 + HEADERS, 3)
    assert stall.smaller == []  # the super-packet's copy tells no size, smaller or not
    summary = table.paths[(syn.addr("198.19.0.1"), syn.addr("198.19.0.2"))]
    assert summary.largest() == 312 + HEADERS
