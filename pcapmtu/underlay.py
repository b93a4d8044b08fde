"""What the underlay shows of a WireGuard tunnel, for the report: one more pass, over the
captures that hold WireGuard's UDP, read for its messages (`wgwire`).

- Findings: both ends' underlays matched message by message (`detect.from_underlay`); else
  each end's own resend signature (`detect.from_one_underlay`), for captures that hold no
  TCP (where the tunnel's interface was captured too, its TCP tells more); and messages sent
  in IP fragments (`detect.fragmented`), in every capture.
- Sessions: per endpoint pair and receiver index, its messages, handshakes, keepalives,
  fragments and the ICMP too-big messages that quote its UDP (`wgwire.sessions`).
- Ties: where the tunnel's interface was captured too (another file of the same host, a
  pcapng with both interfaces, `-i any`), the inner packets the findings cite and the
  messages that carried them (`wgwire.tie`), written into the evidence side by side.

The pass keeps every message in memory: an incident's captures, not gigabytes of underlay.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pcapmtu import detect, wgwire
from pcapmtu.capture import Source
from pcapmtu.detect import DetectConfig, Evidence, Finding
from pcapmtu.errors import CaptureWarning
from pcapmtu.model import TooBig
from pcapmtu.wgwire import Session, Tie, WgMessage


@dataclass(frozen=True)
class UnderlayInput:
    """One capture, as the underlay pass needs it."""

    name: str
    source: Source  # one that can be read again
    wireguard: int  # WireGuard messages the first pass counted
    tcp_segments: int
    too_big: Sequence[TooBig] = ()


@dataclass
class Underlay:
    """What the underlay pass found: its findings, the sessions and every message read."""

    findings: list[Finding] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    messages: list[WgMessage] = field(default_factory=list)
    # Transport messages with an inner packet that both ends' captures hold: what got through.
    delivered: int = 0
    # Captures with WireGuard messages, none of them on the port asked for: capture -> warning.
    off_port: dict[str, str] = field(default_factory=dict)


def read(captures: Sequence[UnderlayInput], config: DetectConfig, port: int | None) -> Underlay:
    """The underlay pass: WireGuard messages of every capture that holds them (only on `port`
    when given), judged and summed up."""
    holding = [c for c in captures if c.wireguard]
    found = Underlay()
    if not holding:
        return found
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)  # told in the first pass
        pairs = [wgwire.captured(c.source, name=c.name, port=port) for c in holding]
    read_, spans = [m for m, _ in pairs], [s for _, s in pairs]
    underlay_only = [i for i, c in enumerate(holding) if not c.tcp_segments]
    told: dict[tuple[int | None, int | None], bool] = {}  # by (receiver index, counter)
    for n, i in enumerate(underlay_only):
        for j in underlay_only[n + 1 :]:
            fates = wgwire.matched(read_[i], read_[j], (spans[i], spans[j]))
            found.findings += detect.from_underlay(fates, holding[i].name, config)
            told.update(((f.sent.receiver, f.sent.counter), f.delivered) for f in fates)
            found.delivered += sum(1 for f in fates if f.delivered and f.sent.padded_inner)
    if not found.findings:  # one end alone, or the ends did not decide it: what one end shows
        for i in underlay_only:
            found.findings += detect.from_one_underlay(read_[i], holding[i].name, config, told)
    for c, messages in zip(holding, read_, strict=True):
        if port is not None and not messages:
            found.off_port[c.name] = (
                f"{c.wireguard} WireGuard messages, none on UDP port {port} (--wireguard-port): "
                "read none of them"
            )
        found.findings += detect.fragmented(messages, c.name, told)
        found.sessions += wgwire.sessions(messages, c.too_big)
        found.messages += messages
    return found


def ties(
    captures: Sequence[UnderlayInput], findings: Sequence[Finding], messages: Sequence[WgMessage]
) -> list[Tie]:
    """The inner packets the findings cite, or that the messages they cite carried, tied to
    their messages: read again from the captures holding TCP, only at those frames and times."""
    inner = [c for c in captures if c.tcp_segments]
    if not inner or not messages:
        return []
    cited = {(e.capture, e.frame) for f in findings for e in f.evidence}
    wanted = set(quoted(findings, messages).values())
    near = [
        m.ts for m in messages if (m.capture, m.frame) in cited or m.fragments > 1 or m in wanted
    ]
    packets: list[wgwire.InnerPacket] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)
        for c in inner:
            frames = [frame for capture, frame in cited if capture == c.name]
            packets += wgwire.inner_packets(c.source, name=c.name, frames=frames, near=near)
    return wgwire.tie(packets, messages)


def quoted(
    findings: Sequence[Finding], messages: Sequence[WgMessage]
) -> dict[tuple[str, int], WgMessage]:
    """The WireGuard message each ICMP too-big quoted (by its evidence's capture and frame):
    between the quoted endpoints, of the quoted size, sent whole (a fragment quoted would
    have its own size); the last one sent before the ICMP arrived, else (the two in captures
    whose clocks differ a little) the first within `QUOTE_WINDOW_S` after it."""
    found = {}
    for f in findings:
        if f.kind != detect.KIND_TOO_BIG or not f.evidence:
            continue
        candidates = [
            m
            for m in messages
            if (m.src, m.sport, m.dst, m.dport) == (f.src, f.sport, f.dst, f.dport)
            and m.outer_ip_len == f.dropped_ip_len
            and m.fragments == 1
        ]
        before = [m for m in candidates if m.ts <= f.first_ts]
        after = [m for m in candidates if f.first_ts < m.ts <= f.first_ts + QUOTE_WINDOW_S]
        chosen = (
            max(before, key=lambda m: m.ts)
            if before
            else min(after, key=lambda m: m.ts, default=None)
        )
        if chosen is not None:
            e = f.evidence[0]
            found[(e.capture, e.frame)] = chosen
    return found


QUOTE_WINDOW_S = 0.01  # an ICMP too-big and the message it quotes, on different captures


def with_ties(
    findings: Sequence[Finding], ties_: Sequence[Tie], messages: Sequence[WgMessage]
) -> list[Finding]:
    """The findings with each tied packet's other half written beside it in the evidence,
    and the message each ICMP too-big quoted."""
    outer_of = {(t.inner.capture, t.inner.frame): t.outer for t in ties_}
    inner_of = {(t.outer.capture, t.outer.frame): t.inner for t in ties_}
    quoting = quoted(findings, messages)
    if not ties_ and not quoting:
        return list(findings)
    return [
        replace(f, evidence=tuple(_tied(e, outer_of, inner_of, quoting) for e in f.evidence))
        for f in findings
    ]


def _tied(
    e: Evidence,
    outer_of: dict[tuple[str, int], WgMessage],
    inner_of: dict[tuple[str, int], wgwire.InnerPacket],
    quoting: dict[tuple[str, int], WgMessage],
) -> Evidence:
    key = (e.capture, e.frame)
    if key in outer_of:
        return replace(e, what=f"{e.what}; on the underlay: {message_text(outer_of[key])}")
    if key in inner_of:
        return replace(e, what=f"{e.what}; it carried {_inner_text(inner_of[key])}")
    if key in quoting:
        m = quoting[key]
        carried = inner_of.get((m.capture, m.frame))
        what = f"{e.what}: {message_text(m)}"
        if carried is not None:
            what += f", which carried {_inner_text(carried)}"
        return replace(e, what=what)
    return e


def _inner_text(packet: wgwire.InnerPacket) -> str:
    return f"frame {packet.frame} of {packet.capture}, a {packet.ip_len}-byte inner packet"


def message_text(m: WgMessage) -> str:
    """A transport message in words: its size, counter, fragments and where it is."""
    cut = f", in {m.fragments} IP fragments" if m.fragments > 1 else ""
    return (
        f"a {m.outer_ip_len}-byte WireGuard message (counter {m.counter}{cut}), frame "
        f"{m.frame} of {m.capture}"
    )


def messages_and_fates(
    sources: Sequence[Source], names: Sequence[str] | None = None, port: int | None = None
) -> list[tuple[WgMessage, bool | None]]:
    """Every WireGuard message of the captures, each with its fate where two of them tell it
    (`wgwire.matched`: True delivered, on both ends' rows; False lost) and None elsewhere;
    for notebooks
    (`frames.outer`), so every message is held in memory."""
    labels = list(names) if names is not None else [None] * len(sources)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)
        pairs = [
            wgwire.captured(s, name=n, port=port) for s, n in zip(sources, labels, strict=True)
        ]
    read_, spans = [m for m, _ in pairs], [s for _, s in pairs]
    fate: dict[tuple[int | None, int | None], bool] = {}  # by (receiver index, counter)
    for i, first in enumerate(read_):
        for j in range(i + 1, len(read_)):
            for f in wgwire.matched(first, read_[j], (spans[i], spans[j])):
                fate[(f.sent.receiver, f.sent.counter)] = f.delivered
    return [
        (m, fate.get((m.receiver, m.counter)) if m.counter is not None else None)
        for messages in read_
        for m in messages
    ]
