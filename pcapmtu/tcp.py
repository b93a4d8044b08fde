"""The TCP rules both passes apply, each defined once: sequence unwrapping, what counts as a
retransmission and as a duplicate ACK, when a 4-tuple starts a new connection, which MSS sizes a
direction's segments.

The exact pass (`flows.py`) calls these functions segment by segment. The fast pass applies the
same rules in compiled code (`fast/src/screen.c`), row by row; tests check that both give the
same facts for every direction of every capture (`tests/test_facts.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pcapmtu.model import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN

SEQ_MOD = 1 << 32
SEQ_HALF = 1 << 31


def signed_delta(raw: int, ref_raw: int) -> int:
    """raw - ref_raw as a signed 32-bit sequence-space difference (RFC 9293 section 3.4)."""
    delta = (raw - ref_raw) % SEQ_MOD
    return delta - SEQ_MOD if delta >= SEQ_HALF else delta


def unwrap(raw: int, last_raw: int | None, last_abs: int) -> int:
    """A raw 32-bit sequence number as a 64-bit one, relative to the direction's previous segment
    (`last_raw`, unwrapped to `last_abs`); the first segment of a direction is 0."""
    return 0 if last_raw is None else last_abs + signed_delta(raw, last_raw)


def seq_length(flags: int, payload_len: int) -> int:
    """The sequence space a segment takes: its payload, plus one each for SYN and FIN."""
    return payload_len + (flags & TCP_SYN != 0) + (flags & TCP_FIN != 0)


def is_keepalive(
    seq: int, snd_max: int | None, flags: int, payload_len: int, cum_ack: int | None = None
) -> bool:
    """A keep-alive probe: no more than one byte, just below the highest sequence sent, no SYN
    or FIN (RFC 9293 section 3.8.4), sent when everything was acknowledged (`cum_ack`, the
    peer's cumulative ACK of this direction, reached `snd_max`). Wireshark leaves out that last
    condition, and so calls the resend of a last 1-byte segment still unacknowledged a
    keep-alive: it is a retransmission."""
    return (
        snd_max is not None
        and payload_len <= 1
        and seq == snd_max - 1
        and not flags & (TCP_SYN | TCP_FIN)
        and cum_ack is not None
        and cum_ack >= snd_max
    )


def is_retransmission(
    seq: int, snd_max: int | None, flags: int, payload_len: int, cum_ack: int | None = None
) -> bool:
    """A segment taking sequence space that starts below the highest sequence its direction had
    sent before it (`snd_max`, unwrapped), keep-alives excepted."""
    return (
        seq_length(flags, payload_len) > 0
        and snd_max is not None
        and seq < snd_max
        and not is_keepalive(seq, snd_max, flags, payload_len, cum_ack)
    )


def is_pure_ack(flags: int, payload_len: int) -> bool:
    """An ACK that carries nothing else: no data, no SYN, FIN or RST."""
    return payload_len == 0 and not flags & (TCP_SYN | TCP_FIN | TCP_RST)


def is_dup_ack(
    flags: int,
    payload_len: int,
    ack: int,
    window: int,
    previous: tuple[int, int] | None,
    snd_max: int | None,
) -> bool:
    """A pure ACK repeating the previous ACK's number and window (`previous`: both, when that ACK
    was pure) while data beyond that number had been sent (`snd_max` of the acknowledged
    direction): RFC 5681 section 2's definition, as Wireshark applies it."""
    return (
        is_pure_ack(flags, payload_len)
        and previous == (ack, window)
        and snd_max is not None
        and ack < snd_max
    )


def opens_new_connection(flags: int, finished: bool) -> bool:
    """A SYN without ACK on a 4-tuple whose connection had ended (FIN or RST seen in either
    direction): port reuse, so a new flow begins."""
    return bool(flags & TCP_SYN) and not flags & TCP_ACK and finished


def ends_connection(flags: int) -> bool:
    return bool(flags & (TCP_FIN | TCP_RST))


def is_dsack(left: int, right: int, ack: int) -> bool:
    """A SACK block at or below the cumulative ACK reports a duplicate (RFC 2883)."""
    return signed_delta(right, ack) <= 0


def is_valid_sack(left: int, right: int) -> bool:
    return signed_delta(right, left) > 0


def skips_unseen(seq: int, snd_max: int | None, flags: int, payload_len: int) -> bool:
    """A segment without data numbered beyond every byte its sender was seen to send: the
    sender sent bytes the capture never saw (at a receiver: bytes that never arrived)."""
    if payload_len or flags & (TCP_SYN | TCP_RST) or snd_max is None:
        return False
    return seq > snd_max


def skips_data(seq: int, snd_max: int | None, payload_len: int) -> bool:
    """A data segment numbered beyond every byte its sender was seen to send: the bytes in
    between were sent and not captured (at a receiver: they never arrived, or not yet)."""
    return payload_len > 0 and snd_max is not None and seq > snd_max


def fill_skip(skip: tuple[int, int], start: int, end: int) -> tuple[int, int] | None:
    """What is left of the skipped bytes `skip` ([first, end)) after a segment [start, end)
    arrived: one that covers the first of them fills them from there; None once all are."""
    first, last = skip
    if start <= first < end:
        first = end
    return (first, last) if first < last else None


def unseen_bytes(start: int | None, end: int | None, cum_ack: int | None) -> int:
    """How many of the bytes a direction was seen to skip ([start, end): `skips_unseen`) its
    peer never acknowledged by the end of the capture."""
    if start is None or end is None or (cum_ack is not None and cum_ack >= end):
        return 0
    return end - max(start, cum_ack if cum_ack is not None else start)


def window_state(flags: int, window: int) -> int:
    """What an ACK says of its sender's receive window: 1 closed (a zero window: the
    application stopped reading, RFC 9293 section 3.8.6.1), 0 open, -1 nothing (a SYN or RST
    carries no window to judge by)."""
    if flags & (TCP_SYN | TCP_RST) or not flags & TCP_ACK:
        return -1
    return 1 if window == 0 else 0


STUCK_DUP_ACKS = 2  # duplicate ACKs at one point that show later data arrived, without SACK
# a duplicate ACK sent this long or longer after the ACK before it answers a keep-alive probe
# (sent after an idle second at the least) rather than data that arrived out of order
DUP_ACK_WITHIN_S = 1.0


@dataclass(slots=True)
class StuckAck:
    """What a direction's own ACKs say of its peer's data, followed while the capture holds no
    packet of that peer (one direction only, taken where the data arrives: a `src host`
    filter, asymmetric routing): the cumulative ACK it stopped at and, once its ACKs report
    later bytes arrived there, since when and how many bytes are missing (`stuck_ack`)."""

    last_raw: int | None = None  # the raw and unwrapped number of its latest ACK
    last_abs: int = 0
    last_ts: float = 0.0  # when it was sent
    cum: int | None = None  # the highest, unwrapped
    window: int = 0  # of its latest ACK
    dups: int = 0  # duplicate ACKs at `cum`
    hole: int = 0  # bytes from `cum` to the lowest SACKed byte above it (0: none SACKed)
    since: float | None = None  # when its ACKs first reported later bytes at `cum`


def stuck_ack(
    state: StuckAck,
    flags: int,
    payload_len: int,
    ack_raw: int,
    window: int,
    sack_blocks: tuple[tuple[int, int], ...],
    ts: float,
    probe: bool,
) -> None:
    """Fold one of the direction's own segments into `state`. A cumulative ACK that moves
    starts afresh; at one that does not, a SACK block above it (the hole's size: its lowest
    left edge, less the ACK) or the `STUCK_DUP_ACKS`-th duplicate ACK shows that later bytes
    arrived while those at the ACK did not. A duplicate ACK (RFC 5681): a pure ACK with the
    number and window of the ACK before it, sent within `DUP_ACK_WITHIN_S` of it, with its
    window open (a closed one answers window probes) and not itself a probe (`probe`: numbered
    below the highest sequence it sent, a keep-alive or window probe). SYNs and RSTs
    acknowledge nothing to judge by."""
    if not flags & TCP_ACK or flags & (TCP_SYN | TCP_RST):
        return
    ack = unwrap(ack_raw, state.last_raw, state.last_abs)
    first = state.cum is None
    if state.cum is None or ack > state.cum:
        state.cum, state.dups, state.hole, state.since = ack, 0, 0, None
    cum = state.cum
    if (
        not first
        and is_pure_ack(flags, payload_len)
        and not probe
        and window > 0
        and ack == cum == state.last_abs
        and window == state.window
        and ts - state.last_ts < DUP_ACK_WITHIN_S
    ):
        state.dups += 1
    state.last_raw, state.last_abs, state.last_ts, state.window = ack_raw, ack, ts, window
    beyond = False
    for left_raw, right_raw in sack_blocks:
        left = ack + signed_delta(left_raw, ack_raw)
        if is_valid_sack(left_raw, right_raw) and left > cum:
            beyond = True
            state.hole = left - cum if state.hole == 0 else min(state.hole, left - cum)
    if (beyond or state.dups >= STUCK_DUP_ACKS) and state.since is None:
        state.since = ts
