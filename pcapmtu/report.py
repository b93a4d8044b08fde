"""The result of an analysis, and its renderings: text for a terminal or a ticket, versioned JSON,
and HTML for Jupyter. The CLI and notebooks show exactly these, so they can never disagree.

JSON schema (version 1; bumped only on an incompatible change; documented in the README):
`schema_version`, `tool`, `verdict`, `summary`, `findings[]`, `paths[]`, `recommendation`,
`captures[]`, `flows[]`, `underlay` (`sessions[]`, `ties[]`: WireGuard on the underlay).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pcapmtu import linktypes
from pcapmtu.detect import (
    KIND_BLACK_HOLE,
    KIND_FRAGMENTED,
    KIND_MSS_CLAMPED,
    KIND_PATH_DOWN,
    KIND_SUSPECTED,
    KIND_TOO_BIG,
    KIND_ZERO_WINDOW,
    VERDICT_BLACK_HOLE,
    VERDICT_CLEAN,
    VERDICT_INCONCLUSIVE,
    Finding,
)
from pcapmtu.model import (
    DirectionFacts,
    FlowKey,
    duration,
    flow_text,
    format_address,
    plural,
)
from pcapmtu.mtu import BASIS_CONSERVATIVE, WIREGUARD_PORT, Recommendation, clamp_rules
from pcapmtu.report_html import report_html
from pcapmtu.tunnels import Recognised
from pcapmtu.wgwire import Session, Tie

SCHEMA_VERSION = 1
MAX_EVIDENCE_SHOWN = 12
MAX_SESSIONS_SHOWN = 16  # rows of the underlay's tunnels in the text (a day re-keys ~700 times)
__all__ = [  # the names other modules take from here
    "SCHEMA_VERSION",
    "VERDICT_BLACK_HOLE",
    "VERDICT_CLEAN",
    "VERDICT_INCONCLUSIVE",
    "CaptureReport",
    "FlowReport",
    "PathReport",
    "Report",
    "flow_text",
    "iso_time",
]


def iso_time(ts: float | None) -> str | None:
    """ISO 8601 in UTC; None when absent or outside what a date can hold (damaged captures)."""
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds")
    except (ValueError, OverflowError, OSError):
        return None


def clock(ts: float | None) -> str:
    """A time as people read it next to logs: UTC, to the millisecond."""
    if ts is None:
        return "?"
    try:
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    except (ValueError, OverflowError, OSError):
        return f"{ts:.3f}"


@dataclass(frozen=True)
class PathReport:
    """One direction of travel and the bracket for the largest inner packet that crosses it."""

    src: bytes
    dst: bytes
    ip_version: int
    largest_delivered: int | None
    smallest_dropped: int | None
    tunnel_mtu: int | None  # from the receiver's SYN MSS
    mtu_fell_at: float | None = None  # its MTU fell during the capture: the bracket is from then
    # its MTU rose during the capture (a black hole the path recovered): the bracket is until then
    mtu_rose_at: float | None = None
    tunnel_mtu_at_least: int | None = None  # no SYN to tell the tunnel MTU: its largest packet
    underlay: bool = False  # an outer path, judged from WireGuard's messages (padded sizes)

    @property
    def fits_max(self) -> int | None:
        return self.smallest_dropped - 1 if self.smallest_dropped is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "src": format_address(self.src),
            "dst": format_address(self.dst),
            "ip_version": self.ip_version,
            "fits_ip_len": {"min": self.largest_delivered, "max": self.fits_max},
            "largest_delivered_ip_len": self.largest_delivered,
            "smallest_dropped_ip_len": self.smallest_dropped,
            "tunnel_mtu": self.tunnel_mtu,
            "mtu_fell_at": iso_time(self.mtu_fell_at),
            "mtu_rose_at": iso_time(self.mtu_rose_at),
            "tunnel_mtu_at_least": self.tunnel_mtu_at_least,
            "underlay": self.underlay,
        }


@dataclass(frozen=True, slots=True)
class FlowReport:
    """One direction of one TCP flow in one capture, and its facts (the counts shown)."""

    capture: str
    facts: DirectionFacts

    @property
    def flow(self) -> FlowKey:
        return self.facts.flow

    def to_dict(self) -> dict[str, Any]:
        f = self.facts
        return {
            "capture": self.capture,
            "flow": _flow(*f.flow),
            "ip_version": f.flow.ip_version,
            "packets": f.packets,
            "data_packets": f.data_packets,
            "data_bytes": f.data_bytes,
            "retransmissions": f.retransmissions,
            "dup_acks_received": f.dup_acks,
            "sack_blocks_received": f.sack_blocks,
            "dsacks_received": f.dsacks,
            "mss": f.peer_syn_mss,
            "largest_ip_len": f.largest_ip_len,
            "first_time": iso_time(f.first_ts),
            "last_time": iso_time(f.last_ts),
        }


@dataclass(frozen=True)
class CaptureReport:
    """What one capture file was, and what reading it met."""

    name: str
    format: str
    compression: str | None
    timestamp_precision: str
    link_types: dict[int, int]
    packets: int
    tcp_segments: int
    too_big_messages: int
    truncated_by_snaplen: int
    first_ts: float | None
    last_ts: float | None
    skipped: dict[str, int]
    warnings: tuple[str, ...]
    tunnels: dict[str, int] = field(default_factory=dict)  # packets by the tunnel wrapping them
    interfaces: tuple[str, ...] = ()  # pcapng interface names
    # flows without data counted and forgotten while reading (`analysis.analyze`'s every_flow)
    flows_forgotten: int = 0
    directions_forgotten: int = 0
    packets_forgotten: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "compression": self.compression,
            "timestamp_precision": self.timestamp_precision,
            "link_types": [
                {"link_type": lt, "name": linktypes.name(lt), "packets": n}
                for lt, n in sorted(self.link_types.items())
            ],
            "packets": self.packets,
            "tcp_segments": self.tcp_segments,
            "icmp_too_big": self.too_big_messages,
            "truncated_by_snaplen": self.truncated_by_snaplen,
            "first_time": iso_time(self.first_ts),
            "last_time": iso_time(self.last_ts),
            "skipped": dict(sorted(self.skipped.items())),
            "tunnels": dict(sorted(self.tunnels.items())),
            "interfaces": list(self.interfaces),
            "warnings": list(self.warnings),
        }


def _flow(src: bytes, sport: int, dst: bytes, dport: int) -> dict[str, Any]:
    return {"src": format_address(src), "sport": sport, "dst": format_address(dst), "dport": dport}


def finding_to_dict(f: Finding) -> dict[str, Any]:
    return {
        "kind": f.kind,
        "side": f.side,
        "capture": f.capture,
        "flow": _flow(f.src, f.sport, f.dst, f.dport),
        "ip_version": f.ip_version,
        "dropped_ip_len": f.dropped_ip_len,
        "largest_delivered_ip_len": f.largest_delivered_ip_len,
        "transmissions": f.transmissions,
        "one_direction": f.one_direction,
        "too_soon_s": f.too_soon_s,
        "recovered": (
            {"by": f.recovered.by, "after_s": f.recovered.after_s} if f.recovered else None
        ),
        "mss": f.mss,
        "icmp_mtu": f.icmp_mtu,
        "copies_at_s": list(f.copies_at_s),
        "first_time": iso_time(f.first_ts),
        "path_fell_after": iso_time(f.path_fell_after),
        "path_rose_at": iso_time(f.path_rose_at),
        "stopped_s": f.stopped_s,
        "lost_seen": f.lost_seen,
        "zero_window_s": f.zero_window_s,
        "fragment_len": f.fragment_len,
        "fragments_sent": f.fragments_sent,
        "evidence": [
            {"frame": e.frame, "time": iso_time(e.ts), "what": e.what, "capture": e.capture}
            for e in f.evidence
        ],
    }


def session_to_dict(s: Session) -> dict[str, Any]:
    return {
        "capture": s.capture,
        "flow": _flow(s.src, s.sport, s.dst, s.dport),
        "receiver": s.receiver,
        "messages": s.messages,
        "keepalives": s.keepalives,
        "largest_inner": s.largest_inner,
        "largest_outer": s.largest_outer,
        "fragmented": s.fragmented,
        "handshake": {
            "initiations": s.initiations,
            "responses": s.responses,
            "cookies": s.cookies,
        },
        "first_time": iso_time(s.first_ts),
        "last_time": iso_time(s.last_ts),
        "icmp_too_big": s.too_big,
        "icmp_mtu": s.too_big_mtu,
    }


def tie_to_dict(t: Tie) -> dict[str, Any]:
    return {
        "inner": {"capture": t.inner.capture, "frame": t.inner.frame, "ip_len": t.inner.ip_len},
        "outer": {
            "capture": t.outer.capture,
            "frame": t.outer.frame,
            "ip_len": t.outer.outer_ip_len,
            "counter": t.outer.counter,
            "receiver": t.outer.receiver,
            "fragments": t.outer.fragments,
        },
    }


def recommendation_to_dict(r: Recommendation) -> dict[str, Any]:
    low, high = r.underlay_path_mtu
    other_mtu, other_basis = r.other_underlay
    wireguard = r.tunnel.kind == "wireguard"
    return {
        "tunnel": r.tunnel.kind,
        "tunnel_how": r.tunnel_how,
        "mtu": r.mtu,
        "wireguard_mtu": r.wireguard_mtu,
        "set_mtu": list(r.set_mtu),
        "basis": r.basis,
        "max_mtu": r.max_mtu,
        "certainty": r.certainty,
        "other_underlay": {
            "mtu": other_mtu,
            "wireguard_mtu": other_mtu if wireguard else None,
            "basis": other_basis,
        },
        "mss_ipv4": r.mss_ipv4,
        "mss_ipv6": r.mss_ipv6,
        "underlay_path_mtu": {"min": low, "max": high},
        "outer_ip_version_assumed": r.outer_version_assumed,
        "reasons": list(r.reasons),
        "confirm": r.confirm,
        "clamp_rules": list(r.clamp_rules),
        "warnings": list(r.warnings),
    }


@dataclass(frozen=True)
class Report:
    """Everything an analysis found; render it with `render_text`, `to_json` or in Jupyter."""

    verdict: str
    findings: tuple[Finding, ...]
    paths: tuple[PathReport, ...]
    recommendation: Recommendation | None
    captures: tuple[CaptureReport, ...]
    flows: tuple[FlowReport, ...] = field(default_factory=tuple)
    tool_version: str = ""
    tunnel: Recognised | None = None  # the tunnel the captures were taken on, and how told
    sessions: tuple[Session, ...] = ()  # WireGuard on the underlay: per endpoint pair, receiver
    ties: tuple[Tie, ...] = ()  # inner packets and the WireGuard messages that carried them

    @property
    def black_holes(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == KIND_BLACK_HOLE)

    @property
    def suspected(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == KIND_SUSPECTED)

    def too_soon(self) -> bool:
        """Whether every suspected black hole is one the capture ended too soon after to judge
        (`Finding.too_soon_s`)."""
        return bool(self.suspected) and all(f.too_soon_s is not None for f in self.suspected)

    def lost_both_ends(self) -> bool:
        """Whether every suspected black hole is a WireGuard resend that both ends' underlay
        captures show lost (`Finding.lost_seen`), with nothing smaller of its session getting
        there after it."""
        return bool(self.suspected) and all(
            f.side == "underlay" and f.lost_seen for f in self.suspected
        )

    def other_end_given(self) -> bool:
        """Whether every suspected black hole seen on one end's underlay has its WireGuard
        session in another capture too (the other end's, given with it): the two were matched
        by counter and did not decide it, as when that capture was not running while the large
        messages were sent."""
        underlay = [f for f in self.suspected if f.side == "underlay"]
        return bool(underlay) and all(
            any(
                s.capture != f.capture
                and s.endpoints == (f.flow.src, f.flow.sport, f.flow.dst, f.flow.dport)
                for s in self.sessions
            )
            for f in underlay
        )

    def others_holding(self, finding: Finding) -> tuple[str, ...]:
        """The other captures given that hold packets of the finding's connection, either way
        (the other end's, as a rule)."""
        keys = {finding.flow, finding.flow.reverse()}
        return tuple(
            dict.fromkeys(
                f.capture for f in self.flows if f.capture != finding.capture and f.flow in keys
            )
        )

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w for c in self.captures for w in c.warnings)

    def summary(self) -> str:
        """One line: the verdict in words."""
        if self.verdict == VERDICT_BLACK_HOLE:
            sizes = sorted({f.dropped_ip_len for f in self.black_holes if f.dropped_ip_len})
            recovered = sum(1 for f in self.black_holes if f.recovered)
            text = (
                f"MTU black hole: {plural(len(self.black_holes), 'flow')} lost packets of "
                f"{', '.join(map(str, sizes))} bytes while smaller packets got through"
            )
            return text + (f" ({recovered} recovered)" if recovered else "")
        if self.verdict == VERDICT_INCONCLUSIVE:
            if self.lost_both_ends():
                return (
                    f"inconclusive: {plural(len(self.suspected), 'WireGuard session')} resent a "
                    "large message as a backing-off timer does and the other end's underlay "
                    "capture shows every copy lost, but nothing smaller of the session got "
                    "there after them to prove the size is the cause"
                )
            if any(f.side == "underlay" for f in self.suspected):
                cannot = (
                    "the other end's underlay capture shows it running while too few of the "
                    "copies were sent to tell whether they arrived"
                    if self.other_end_given()
                    else "one end's underlay capture cannot tell whether the copies arrived"
                )
                return (
                    f"inconclusive: {plural(len(self.suspected), 'WireGuard session')} resent a "
                    f"large message as a backing-off timer does, but {cannot}"
                )
            if self.too_soon():
                n = len(self.suspected)
                lost = (
                    "lost a full-size packet while smaller ones got through"
                    if all(f.dropped_ip_len for f in self.suspected)
                    else f"{'waits' if n == 1 else 'wait'} for bytes that never arrived while "
                    "smaller packets got through"
                )
                return (
                    f"inconclusive: {plural(n, 'flow')} {lost}, but the capture ends too soon "
                    "after it to tell a black hole from a loss the sender repairs"
                )
            if self.suspected:
                return (
                    f"inconclusive: {plural(len(self.suspected), 'flow')} stalled on full-size "
                    "packets, but nothing smaller of the same connection got through after "
                    "them to prove the size is the cause"
                    if any(f.side == "sender" for f in self.suspected)
                    else f"inconclusive: {plural(len(self.suspected), 'flow')} "
                    f"{'waits' if len(self.suspected) == 1 else 'wait'} for bytes that "
                    "never arrived, but the capture cannot tell the size of what was lost"
                )
            return "inconclusive: the capture holds no TCP data to judge by"
        down = [f for f in self.findings if f.kind == KIND_PATH_DOWN]
        if down:
            first = min(down, key=lambda f: f.first_ts)
            return (
                f"no MTU black hole: the path {format_address(first.src)} -> "
                f"{format_address(first.dst)} stopped carrying packets of any size at "
                f"{clock(first.first_ts)} (an outage, a dead peer or a firewall dropping "
                "everything), which is not a size problem"
            )
        closed = [f for f in self.findings if f.kind == KIND_ZERO_WINDOW]
        if closed:
            worst = max(closed, key=lambda f: f.zero_window_s or 0.0)
            return (
                f"no MTU black hole: {format_address(worst.dst)} stopped reading: it kept its "
                f"receive window closed for {worst.zero_window_s:.1f} s (a zero window), so "
                f"{format_address(worst.src)} waited on it, not on the network"
            )
        icmp = [f.icmp_mtu for f in self.findings if f.kind == KIND_TOO_BIG and f.icmp_mtu]
        cut = [f for f in self.findings if f.kind == KIND_FRAGMENTED]
        fragments = (
            "only thanks to fragmentation: "
            f"{plural(sum(f.transmissions for f in cut), 'WireGuard message')} crossed in IP "
            f"fragments, cut to {min(f.fragment_len or 0 for f in cut)} bytes"
            if cut
            else ""
        )
        if icmp:
            return (
                "no MTU black hole: path MTU discovery works (a router's ICMP too-big "
                f"arrived: next hop {min(icmp)} bytes)" + (f", but {fragments}" if cut else "")
            )
        if cut:
            return f"no MTU black hole: the tunnel works {fragments}"
        return "no MTU black hole: no packet was lost for its size"

    def one_direction_flows(self) -> tuple[FlowReport, ...]:
        """The directions with data whose flow has no packet the other way in their capture
        (a filter, asymmetric routing, or a capture that ended first)."""
        seen = {(f.capture, f.flow) for f in self.flows}
        return tuple(
            f
            for f in self.flows
            if f.facts.data_packets and (f.capture, f.flow.reverse()) not in seen
        )

    def _to_decide_given(self, stalled: list[Finding]) -> str:
        """What decides TCP stalls when more than one capture was given: not the other end's
        capture again when it was given."""
        if all(self.others_holding(f) for f in stalled):
            return (
                "another capture given holds the stalled connection too, but nothing smaller "
                "got through on its path after the large packets, so nothing shows the size is "
                "the cause: while the transfer still hangs, send something small the same way "
                "between the same two hosts (from the host whose data stalled, e.g. curl a "
                "small page the other serves) with both captures running, and analyse them "
                "again (pcapmtu analyze A B): a smaller packet delivered on that path after "
                "the large ones were lost proves it"
            )
        given = (
            "the other capture given holds no packet"
            if len(self.captures) == 2
            else "none of the other captures given holds a packet"
        )
        return (
            f"{given} of the stalled connection (taken at the other end, it was not "
            "running while the large packets were sent, or was taken elsewhere): capture both "
            f"ends again, both {_WHOLE_HANG}, and analyse both files together (pcapmtu "
            "analyze A B): the receiving side shows whether the large packets arrived; while "
            "it hangs, something small sent the same way between the same hosts (curl a small "
            "page) shows whether smaller packets get through"
        )

    def caution(self) -> str | None:
        """For a clean verdict on a capture with flows seen one way only: what it cannot show
        (a reply of which not one packet arrived looks like no reply at all); None otherwise."""
        if self.verdict != VERDICT_CLEAN:
            return None
        alone = self.one_direction_flows()
        if not alone:
            return None
        return (
            f"{plural(len(alone), 'flow')} with data {'is' if len(alone) == 1 else 'are'} in "
            "the capture one way only (a filter, asymmetric routing): what the other way sent "
            "is not in it, and a reply lost whole looks like no reply at all; capture both "
            "directions to be sure"
        )

    def to_decide(self) -> str | None:
        """For an inconclusive verdict: the capture that would decide it; None otherwise."""
        if self.verdict != VERDICT_INCONCLUSIVE:
            return None
        if self.lost_both_ends():
            return (
                "while it still hangs, send something small through the tunnel the same way "
                "(from the host whose message was lost: ping -c 3 -s 100 the other peer's "
                "tunnel address, or curl a small page it serves) with both ends' underlay "
                "captures running, and analyse them again (pcapmtu analyze A B): a smaller "
                "message that gets there after the large ones were lost proves a black hole; "
                "if it is lost too, the path is down"
            )
        if any(f.side == "underlay" for f in self.suspected):
            if self.other_end_given():
                return (
                    f"capture both ends' underlays again, both {_WHOLE_HANG} (pcapmtu "
                    "analyze A B): a message is known lost only when the other end's capture "
                    "was running while it was sent (it holds the session's messages before and "
                    "after it, or other packets around it)"
                )
            return (
                "give the other end's underlay capture too, taken at the same time (pcapmtu "
                "analyze A B): their WireGuard messages are matched by counter, so each is "
                "known delivered or lost"
            )
        if self.too_soon():
            again = (
                "capture again for 10 s or more after the hang begins"
                if all(f.dropped_ip_len for f in self.suspected)
                else "capture again from before the client connects (its SYN tells the MSS, "
                "and with it the size of what was lost) to 10 s or more after the hang begins"
            )
            return (
                f"{again}, with the client waiting that long too (curl -m 15): a black hole "
                "shows the same packet resent while the receiver keeps waiting for it"
            )
        if any(f.one_direction for f in self.suspected):
            return (
                "capture both directions, without a filter that keeps one side only (tcpdump "
                "-i wg0): the ACKs show what arrived; at the sender, the resent copies show "
                "the size that was lost"
            )
        stalled = [f for f in self.suspected if f.side in ("sender", "receiver")]
        if stalled and len(self.captures) > 1:
            return self._to_decide_given(stalled)
        if self.suspected and all(f.stopped_s is not None for f in self.suspected):
            return (
                "capture at the sender at the same time and analyse both files together "
                "(pcapmtu analyze A B): its copies show whether it kept sending and what was "
                "lost; while it hangs, send something small the same way between the same two "
                "hosts (curl a small page the sender serves): whether it gets through tells an "
                "MTU that fell from an outage"
            )
        if self.suspected and all(f.side == "receiver" for f in self.suspected):
            return (
                "capture at the sender at the same time and analyse both files together "
                "(pcapmtu analyze A B), or capture from the connection's start (its SYN "
                "tells the MSS, and with it the size of the lost packet)"
            )
        if self.suspected:
            return (
                "capture longer, until a smaller packet gets through after the large ones: "
                "while it hangs, send something small the same way between the same two "
                "hosts (from the host whose data stalled, e.g. curl a small page the other "
                "serves) inside the capture; the other end's capture, taken at the same time "
                "and analysed with this one (pcapmtu analyze A B), shows whether the large "
                "packets arrived"
            )
        udp = sum(c.skipped.get("UDP", 0) for c in self.captures)
        tcp = sum(c.tcp_segments for c in self.captures)
        unknown = sorted({lt for c in self.captures for lt in c.link_types} - linktypes.SUPPORTED)
        if unknown and not tcp:
            return (
                f"pcapmtu cannot decode its link type ({', '.join(map(str, unknown))}): capture "
                "on the tunnel interface (tcpdump -i wg0) or on an Ethernet interface"
            )
        if udp and not tcp:
            return (
                f"this capture holds {udp} UDP packets and no TCP: if it was taken on the "
                "underlay (the tunnel's encrypted packets), give the other end's underlay "
                "capture too (pcapmtu analyze A B: their WireGuard messages are matched), or "
                "capture on the tunnel interface (tcpdump -i wg0)"
            )
        if tcp:
            return (
                "its TCP segments carry no data: capture while data flows, on the tunnel "
                "interface of the peer that sends it (the server, for a download)"
            )
        raw = {c for cap in self.captures for c in cap.link_types}
        if raw and raw <= linktypes.RAW_IP:
            one = len(self.captures) == 1
            return (
                f"no TCP packet crossed the tunnel interface{'' if one else 's'} while the "
                f"capture{' ' if one else 's '}ran: nothing of the transfer arrived or left "
                "there then (the path down, a peer that stopped sending, or the traffic on "
                "another interface); capture both ends' tunnel interfaces (tcpdump -i wg0 on "
                f"each){'' if one else ' again'}, {_WHOLE_HANG}, and analyse them together "
                "(pcapmtu analyze A B)"
            )
        return "capture on the tunnel interface (tcpdump -i wg0) while the transfer hangs"

    def fix_text(self) -> str:
        """The fix (or, without a black hole, the advice) as the text report words it; ""
        when the capture gives nothing to base one on."""
        if self.recommendation is None:
            return ""
        broken = self.verdict == VERDICT_BLACK_HOLE
        advice = _advice_for(self.findings)
        rose = min((p.mtu_rose_at for p in self.paths if p.mtu_rose_at is not None), default=None)
        # the TCP flows' own IP versions (not an underlay's, nor a quoted packet's)
        versions = {f.ip_version for f in self.findings if f.side in ("sender", "receiver")}
        lines = _fix_lines(
            self.recommendation, broken, self.probe_commands(), advice, rose, versions
        )
        return "\n".join(lines)

    def probe_commands(self) -> tuple[str, ...]:
        """For each path that black-holed a packet: the `pcapmtu probe` that measures it live,
        from its sender (through the tunnel: the receiver's address, as the capture shows it)."""
        if self.verdict != VERDICT_BLACK_HOLE or (
            self.recommendation is not None and self.recommendation.basis == "measured"
        ):
            return ()
        kind = self.recommendation.tunnel.kind if self.recommendation is not None else None
        option = "" if kind in (None, "wireguard") else f" --tunnel {kind}"
        via = "underlay" if kind == "none" else "tunnel"
        return tuple(
            f"pcapmtu probe {format_address(p.dst)} --via {'underlay' if p.underlay else via}"
            f"{option}  (on {format_address(p.src)})"
            for p in self.paths
            if p.smallest_dropped is not None
        )

    def next_steps(self) -> tuple[str, ...]:
        """What to check next, in order: the closing part of a postmortem."""
        r = self.recommendation
        if self.verdict == VERDICT_BLACK_HOLE and r is not None:
            steps = [f"Confirm the limit from one peer: {r.confirm}" if r.confirm else ""]
            steps += [
                f"Set {_setting(r)}, or clamp the TCP MSS to {r.mss_ipv4} (IPv6: {r.mss_ipv6}); "
                "clamping helps TCP only: UDP such as QUIC still needs the MTU.",
                "Capture again on the tunnel interface with the fix in place and run "
                "`pcapmtu analyze` on it: the verdict should be clean.",
                'Find why no ICMP "fragmentation needed" came back: a firewall dropping ICMP '
                "on the underlay (types 3/4 and IPv6 type 2 must pass), or a link that drops "
                "large packets silently.",
                "Check the underlay for a smaller link than expected: PPPoE (1492), some cloud "
                "networks (1460), another tunnel or VPN on the way.",
            ]
            return tuple(step for step in steps if step)
        if self.verdict == VERDICT_INCONCLUSIVE:
            return (
                f"To decide it, {self.to_decide()}.",
                "Capture longer, through the stall: the capture must show a smaller packet "
                "getting through after the large one stopped.",
                "Capture at both ends of the tunnel at once and analyse the two files "
                "together: the receiver's side shows what never arrived.",
                "Send a small and a large request (curl a small and a large file) while capturing.",
            )
        steps = [
            "No packet was lost for its size in this capture: if the symptom persists, "
            "capture while it happens, on the tunnel interface of the sending peer."
        ]
        if any(f.kind == KIND_PATH_DOWN for f in self.findings):
            steps.insert(
                0,
                "The path stopped carrying anything: check that the peer is up (wg show: "
                "its latest handshake), the underlay link, and firewalls on the way.",
            )
        if r is not None:
            steps.append(
                f"{_setting(r)[0].upper()}{_setting(r)[1:]} would keep the tunnel's packets "
                "from being fragmented on this path."
            )
        return tuple(steps)

    def listed_flows(self, every: bool = False) -> tuple[FlowReport, ...]:
        """The flows the JSON lists: those that sent data or have a finding (all with
        `every`). A flood of connections without data is counted, not listed."""
        if every:
            return self.flows
        found = {(f.capture, f.flow) for f in self.findings}
        found |= {(f.capture, f.flow.reverse()) for f in self.findings}
        return tuple(f for f in self.flows if f.facts.data_packets or (f.capture, f.flow) in found)

    def to_dict(self, every_flow: bool = False) -> dict[str, Any]:
        """The JSON object; `flows[]` lists the flows with data or findings (`listed_flows`),
        and `flows_not_listed` counts the rest (`every_flow` lists them all)."""
        listed = self.listed_flows(every_flow)
        shown = {id(f) for f in listed}
        left = [f for f in self.flows if id(f) not in shown]
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "pcapmtu", "version": self.tool_version},
            "verdict": self.verdict,
            "summary": self.summary(),
            "to_decide": self.to_decide(),
            "caution": self.caution(),
            "probe_commands": list(self.probe_commands()),
            "tunnel": (
                {
                    "kind": self.tunnel.tunnel.kind,
                    "name": self.tunnel.tunnel.name,
                    "how": self.tunnel.how,
                    "certain": self.tunnel.certain,
                }
                if self.tunnel is not None
                else None
            ),
            "findings": [finding_to_dict(f) for f in self.findings],
            "paths": [p.to_dict() for p in self.paths],
            "recommendation": (
                recommendation_to_dict(self.recommendation) if self.recommendation else None
            ),
            "captures": [c.to_dict() for c in self.captures],
            "flows": [f.to_dict() for f in listed],
            "flows_not_listed": {
                "directions": len(left) + sum(c.directions_forgotten for c in self.captures),
                "packets": sum(f.facts.packets for f in left)
                + sum(c.packets_forgotten for c in self.captures),
            },
            "underlay": {
                "sessions": [session_to_dict(x) for x in self.sessions],
                "ties": [tie_to_dict(t) for t in self.ties],
            },
        }

    def to_json(self, indent: int | None = 2, every_flow: bool = False) -> str:
        return json.dumps(self.to_dict(every_flow), indent=indent)

    def render_text(self) -> str:
        return "\n".join(_text_lines(self)) + "\n"

    def _repr_html_(self) -> str:
        """How Jupyter shows a report: headings and tables (`report_html`)."""
        return report_html(self)


def _text_lines(report: Report) -> list[str]:
    lines = [f"VERDICT: {report.summary()}"]
    decide = report.to_decide()
    if decide is not None:
        lines.append(f"TO DECIDE: {decide}")
    caution = report.caution()
    if caution is not None:
        lines.append(f"CAUTION: {caution}")
    lines.append("")
    wireguard = frozenset(x.endpoints for x in report.sessions)
    for f in report.findings:
        lines += _finding_lines(f, wireguard)
    holed = [p for p in report.paths if p.smallest_dropped is not None]
    if holed:
        lines.append("Paths (largest inner IP packet that gets through):")
        for p in holed:
            low = p.largest_delivered if p.largest_delivered is not None else "?"
            high = p.fits_max if p.fits_max is not None else "?"
            tunnel = f"; tunnel MTU {p.tunnel_mtu} (from the SYN's MSS)" if p.tunnel_mtu else ""
            if p.tunnel_mtu_at_least:
                tunnel = (
                    f"; tunnel MTU at least {p.tunnel_mtu_at_least} (its largest packet: no SYN "
                    "in the capture to tell the MSS)"
                )
            since = f" since its MTU fell ({clock(p.mtu_fell_at)})" if p.mtu_fell_at else ""
            if p.mtu_rose_at is not None:
                since += f" until its MTU rose ({clock(p.mtu_rose_at)})"
            span = f"at most {high} bytes" if low == "?" else f"between {low} and {high} bytes"
            lines.append(
                f"  {format_address(p.src)} -> {format_address(p.dst)}: {span}{since}{tunnel}"
            )
        lines.append("")
    if report.recommendation is not None:
        lines += report.fix_text().split("\n")
    lines += _underlay_lines(report)
    for c in report.captures:
        types = ", ".join(f"{linktypes.name(lt)} ({lt})" for lt in sorted(c.link_types))
        lines.append(
            f"Capture {c.name}: {c.format}{' (gzip)' if c.compression else ''}, "
            f"{c.packets} packets, {c.tcp_segments} TCP segments, link type {types or '-'}"
        )
        if c.flows_forgotten:
            lines.append(
                f"  {plural(c.flows_forgotten, 'flow')} without data "
                f"({plural(c.packets_forgotten, 'packet')}) counted and forgotten while reading, "
                "to keep memory bounded (--all-flows keeps them)"
            )
        lines += [f"  warning: {w}" for w in c.warnings]
    return lines


def _underlay_lines(report: Report) -> list[str]:
    """WireGuard as the underlay captures show it: each direction's sessions, and how many
    inner packets were tied to their messages."""
    if not report.sessions:
        return []
    lines = ["WireGuard on the underlay (per endpoint pair and receiver index):"]
    for s in report.sessions[:MAX_SESSIONS_SHOWN]:
        pair = flow_text(s.src, s.sport, s.dst, s.dport)
        if s.receiver is None:
            said = [
                plural(n, what, many)
                for n, what, many in (
                    (s.initiations, "handshake initiation", None),
                    (s.responses, "handshake response", None),
                    (s.cookies, "cookie reply", "cookie replies"),
                )
                if n
            ]
            lines.append(f"  {pair} ({s.capture}): {', '.join(said)}")
            continue
        parts = [plural(s.messages, "transport message")]
        if s.keepalives:
            parts.append(plural(s.keepalives, "keepalive"))
        parts.append(f"inner up to {s.largest_inner} bytes padded ({s.largest_outer} outer)")
        if s.fragmented:
            parts.append(f"{s.fragmented} sent in IP fragments")
        if s.too_big:
            parts.append(f"{s.too_big} ICMP too-big quoting it (next hop {s.too_big_mtu})")
        lines.append(f"  {pair} receiver {s.receiver:#010x} ({s.capture}): {'; '.join(parts)}")
    if len(report.sessions) > MAX_SESSIONS_SHOWN:
        lines.append(f"  ... and {len(report.sessions) - MAX_SESSIONS_SHOWN} more (see the JSON)")
    if report.ties:
        pairs = sorted({(t.inner.capture, t.outer.capture) for t in report.ties})
        names = ", ".join(f"{a} with {b}" for a, b in pairs)
        lines.append(
            f"  {plural(len(report.ties), 'inner packet')} tied to the WireGuard message that "
            f"carried it, by time and padded size ({names}); the evidence shows those it names"
        )
    lines.append("")
    return lines


# How a capture that is to decide must run: across the whole hang, from before it began
_WHOLE_HANG = (
    "started before the client connects and running until 10 s or more after the hang begins"
)


def _copy_offsets(f: Finding) -> str:
    """When each full-size copy was sent, after the first: "+0.00, +0.21, ..."."""
    return ", ".join(f"+{t:.2f}" for t in f.copies_at_s)


_UNDERLAY_MATCHED = "WireGuard's UDP, both ends' underlay captures matched"


def _finding_lines(f: Finding, wireguard: frozenset[tuple[bytes, int, bytes, int]]) -> list[str]:
    flow = flow_text(f.src, f.sport, f.dst, f.dport)
    if f.kind == KIND_TOO_BIG:
        ours = WIREGUARD_PORT in (f.sport, f.dport) or (f.src, f.sport, f.dst, f.dport) in wireguard
        what = " (WireGuard's outer UDP)" if ours else ""
        return [
            f"ICMP too-big: a router says the next hop takes at most {f.icmp_mtu} bytes "
            f"(it quoted a {f.dropped_ip_len}-byte packet {flow}{what})",
            *(f"    {e.frame}: {e.what} ({e.capture})" for e in f.evidence),
            "",
        ]
    if f.kind == KIND_FRAGMENTED:
        return [
            f"FRAGMENTED: {flow} (IPv{f.ip_version}, WireGuard's UDP, {f.capture})",
            f"  {plural(f.transmissions, 'WireGuard message')} carrying inner packets of "
            f"{f.dropped_ip_len} bytes or more (padded) were sent in IP fragments, the first "
            f"cut to {f.fragment_len} bytes: the sender learned that the path carries no more "
            "(a router's ICMP too-big told it). The tunnel works only thanks to fragmentation.",
            f"  Its cost: {plural(f.fragments_sent, 'packet')} on the wire for "
            f"{plural(f.transmissions, 'message')}, each fragment with its own IP header; the "
            "receiver must reassemble them; one lost fragment loses the whole message "
            "(and TCP resends the inner packet); and a path or NAT that drops fragments, or a "
            "change of route, turns it into a black hole. Lower the tunnel's MTU (below) so "
            "that nothing needs cutting.",
            "  Evidence (frame: what):",
            *(f"    {e.frame}: {e.what}" for e in f.evidence),
            "",
        ]
    if f.kind == KIND_MSS_CLAMPED:
        return [
            f"MSS CLAMPED: {flow} (IPv{f.ip_version}, {f.capture})",
            f"  Its MSS was clamped to {f.mss} and its full-size {f.largest_delivered_ip_len}-byte "
            f"packets got through: clamping to {f.mss} works on this path.",
            *(f"    {e.frame}: {e.what}" for e in f.evidence),
            "",
        ]
    if f.kind == KIND_ZERO_WINDOW:
        return [
            f"ZERO WINDOW: {flow} (IPv{f.ip_version}, {f.capture})",
            f"  The receiver kept its window closed for {f.zero_window_s:.1f} s: its "
            "application stopped reading (the sender's window probes got a zero window "
            "back). Not a network problem: look at the receiving application.",
            "",
        ]
    if f.kind == KIND_PATH_DOWN and f.side == "underlay":
        return [
            f"PATH DOWN: {flow} (IPv{f.ip_version}, {_UNDERLAY_MATCHED}, {f.capture})",
            f"  A WireGuard message carrying a {f.dropped_ip_len}-byte inner packet (padded) "
            f"was sent {f.transmissions} times from {clock(f.first_ts)} on and never reached "
            "the other end, and nothing the session sent after it got there, of any size "
            "(matched by receiver index and counter): not an MTU problem, the path (or the "
            "peer) stopped carrying anything: an outage, a dead peer, a firewall dropping "
            "everything.",
            *(f"    {e.frame}: {e.what}" for e in f.evidence[:MAX_EVIDENCE_SHOWN]),
            "",
        ]
    if f.kind == KIND_PATH_DOWN:
        return [
            f"PATH DOWN: {flow} (IPv{f.ip_version}, captured at the sender, {f.capture})",
            f"  A {f.dropped_ip_len}-byte packet was sent {f.transmissions} times from "
            f"{clock(f.first_ts)} on and never acknowledged, and nothing sent on this path "
            "after it got through, of any size: not an MTU problem, the path (or the peer) "
            "stopped carrying anything: an outage, a dead peer, a firewall dropping everything.",
            *(f"    {e.frame}: {e.what}" for e in f.evidence[:MAX_EVIDENCE_SHOWN]),
            "",
        ]
    title = "BLACK HOLE" if f.kind == KIND_BLACK_HOLE else "SUSPECTED BLACK HOLE"
    where = {
        "sender": "captured at the sender",
        "receiver": "captured at the receiver",
        "underlay": _UNDERLAY_MATCHED
        if f.kind == KIND_BLACK_HOLE or f.lost_seen
        else "WireGuard's UDP, one end's underlay capture",
    }[f.side]
    if f.one_direction:  # where it was taken, one direction cannot show
        where = "one direction only in the capture"
    lines = [f"{title}: {flow} (IPv{f.ip_version}, {where}, {f.capture})"]
    if f.side == "underlay" and f.kind == KIND_SUSPECTED and f.lost_seen:
        offsets = _copy_offsets(f)
        lines.append(
            f"  A WireGuard message carrying a {f.dropped_ip_len}-byte inner packet (padded) "
            f"was sent {f.transmissions} times, at {offsets} s: a resend by a timer backing "
            "off. None of the copies reached the other end (matched by receiver index and "
            "counter), and no message of the session with an inner packet got there after "
            "them: the path's MTU fell (or it never carried this size), or the path stopped "
            "carrying anything; the captures cannot tell which."
        )
    elif f.side == "underlay" and f.kind == KIND_SUSPECTED:
        offsets = _copy_offsets(f)
        lines.append(
            f"  A WireGuard message carrying a {f.dropped_ip_len}-byte inner packet (padded) "
            f"was sent {f.transmissions} times, at {offsets} s: a resend by a timer backing "
            "off, while the other end kept sending. Whether the copies arrived, one end's "
            "capture cannot say."
        )
    elif f.side == "underlay" and f.copies_at_s:  # a resend seen lost, all or in part
        offsets = _copy_offsets(f)
        seen = (
            "None of the copies reached the other end"
            if f.lost_seen >= f.transmissions
            else "The copies sent while the other end's capture ran never reached it"
        )
        lines.append(
            f"  A WireGuard message carrying a {f.dropped_ip_len}-byte inner packet (padded) "
            f"was sent {f.transmissions} times, at {offsets} s: a resend by a timer backing "
            f"off. {seen}, while a smaller message of the same session sent after the loss "
            "began did (matched by receiver index and counter)."
        )
    elif f.side == "underlay":
        lines.append(
            f"  {f.transmissions} WireGuard messages carrying inner packets of {f.dropped_ip_len} "
            "bytes (padded) left one end and never reached the other; the same session's "
            "smaller messages sent after them did (matched by receiver index and counter)."
        )
    elif f.side == "sender" and f.recovered is not None and f.recovered.by == "path":
        lines.append(
            f"  A {f.dropped_ip_len}-byte packet was sent {plural(f.transmissions, 'time')}: "
            f"the first {f.transmissions - 1} copies were lost, the last got through."
        )
        offsets = _copy_offsets(f)
        lines.append(f"  Copies at {offsets} s.")
    elif f.side == "sender":
        lines.append(
            f"  A {f.dropped_ip_len}-byte packet was sent "
            f"{plural(f.transmissions, 'time')} and never acknowledged at that size."
        )
        if len(f.copies_at_s) > 1:
            offsets = _copy_offsets(f)
            why = ": the retransmission timer backing off" if len(f.copies_at_s) > 2 else ""
            lines.append(f"  Copies at {offsets} s{why}.")

    elif f.recovered is not None and f.recovered.by == "path":
        lines.append(
            f"  A packet of about {f.dropped_ip_len} bytes was missing "
            f"{f.recovered.after_s:.1f} s while later, smaller data arrived; then one of that "
            "size filled the gap."
        )
    elif f.stopped_s is not None:
        lines.append(
            "  Its data stopped arriving mid-transfer (its newest bytes came in a full-size "
            f"segment: evidence below), and none came for {f.stopped_s:.1f} s "
            "to the end of the capture, though the receiver had acknowledged everything, its "
            "window open, and the sender never closed: the path stopped carrying the sender's "
            "packets (an outage, or an MTU that fell, with nothing smaller after them to tell "
            "which), or the sender stopped. The capture holds none of the packets lost, so it "
            "cannot tell their size."
        )
    elif f.one_direction:
        lines.append(
            "  Bytes the sender sent never arrived while later data did; the capture holds "
            "one direction of this flow only, so it cannot tell lost from not yet resent, "
            "nor the size of the packets that carried them (evidence below)."
        )
    elif f.dropped_ip_len is not None:
        lines.append(
            f"  A packet of about {f.dropped_ip_len} bytes never arrived; the receiver "
            "kept acknowledging the gap it left."
        )
    else:
        lines.append(
            "  Bytes the sender sent never arrived, and the receiver kept acknowledging what "
            "came before them; the capture cannot tell the size of the packets that carried "
            "them (evidence below)."
        )
    if f.path_fell_after is not None and f.kind == KIND_BLACK_HOLE:
        lines.append(
            f"  The path carried {f.dropped_ip_len}-byte packets until "
            f"{clock(f.path_fell_after)} and lost them from {clock(f.first_ts)} on: its "
            "MTU fell in between (a route change, a failover link); only what got through "
            "after that counts."
        )
    elif f.path_fell_after is not None:
        lines.append(
            f"  The path carried {f.dropped_ip_len}-byte packets until "
            f"{clock(f.path_fell_after)}; this one was lost from {clock(f.first_ts)} on."
        )
    if f.largest_delivered_ip_len is not None:
        lines.append(
            f"  A smaller packet ({f.largest_delivered_ip_len} bytes) got through on the same path."
        )
    elif f.kind == KIND_BLACK_HOLE:
        lines.append("  Smaller packets got through on the same path (evidence below).")
    elif f.kind == KIND_SUSPECTED and f.path_fell_after is not None and f.side != "underlay":
        lines.append(
            "  Nothing of this connection got through after it: the path's MTU fell, or the "
            "path (or this connection) stopped carrying anything; the capture cannot tell which."
        )
    elif f.kind == KIND_SUSPECTED and f.side == "sender":
        lines.append(
            "  Nothing smaller was sent after it, so the size cannot be proven to be "
            "the cause (a dead peer looks the same)."
        )
    if f.too_soon_s is not None:
        lines.append(
            f"  The capture ends {duration(f.too_soon_s)} after that: too soon to tell a black "
            "hole from a loss the sender's next copy repairs."
        )
    if f.recovered is not None:
        how = {
            "smaller_segments": "the sender resent the bytes in smaller packets (PLPMTUD)",
            "pmtud": "an ICMP too-big message reached the sender (PMTUD)",
            "path": f"the path carried {f.dropped_ip_len}-byte packets again (its MTU rose: "
            "the MTU fixed on a link, or a route back); it may fall again",
        }[f.recovered.by]
        lines.append(f"  Recovered after {f.recovered.after_s:.1f} s: {how}.")
    shown = f.evidence[:MAX_EVIDENCE_SHOWN]
    lines.append("  Evidence (frame: what):")
    lines += [
        f"    {e.frame}: {e.what}"
        if e.capture == f.capture
        else f"    {e.frame} (in {e.capture}): {e.what}"
        for e in shown
    ]
    if len(f.evidence) > len(shown):
        lines.append(f"    ... and {len(f.evidence) - len(shown)} more (see --json)")
    lines.append("")
    return lines


def _setting(r: Recommendation, mtu: int | None = None) -> str:
    """What to set, in words: "MTU = 1340 in [Interface] on both peers"."""
    value = r.mtu if mtu is None else mtu
    if r.tunnel.kind == "wireguard":
        return f"MTU = {value} in [Interface] on both peers"
    if not r.tunnel.is_tunnel:
        return f"the MTU to {value} on the sending host's interface or route (no tunnel)"
    return f"the {r.tunnel.name} tunnel's MTU to {value} on both ends"


_ADVICE = {
    KIND_FRAGMENTED: "would end the fragmenting of the tunnel's packets.",
    KIND_TOO_BIG: "would keep the tunnel's packets within what the path carries: a router "
    "dropped a larger one and said so (path MTU discovery recovered it).",
    KIND_SUSPECTED: "would get the stalled packets through if their size is the cause "
    "(suspected, not proven).",
}


def _advice_for(findings: tuple[Finding, ...]) -> str:
    """What the advice (no proven black hole) is for: the first kind of finding it answers."""
    kinds = {f.kind for f in findings}
    return next((kind for kind in _ADVICE if kind in kinds), KIND_SUSPECTED)


def _fix_lines(
    r: Recommendation,
    broken: bool,
    probes: tuple[str, ...] = (),
    advice: str = KIND_SUSPECTED,
    rose_at: float | None = None,
    versions: set[int] | None = None,
) -> list[str]:
    """The fix's lines; `rose_at`: when a black-holed path's MTU rose, if one did;
    `versions`: the IP versions of the TCP flows the findings are about (the clamping rules
    shown are theirs; IPv4 when none)."""
    low, high = r.underlay_path_mtu
    outer = f" (IPv{r.outer_version_assumed} underlay)" if r.tunnel.is_tunnel else ""
    setting = _setting(r)
    if not broken:
        head = f"ADVICE: {setting}{outer} {_ADVICE[advice]}"
    elif r.certainty == "exact":
        head = f"FIX: set {setting}{outer}: the largest that works on this path."
    elif r.certainty == "safe" and r.basis == BASIS_CONSERVATIVE:
        # the capture does not show this path carries it: say on which paths it works
        carries = r.mtu + r.tunnel.overhead(r.outer_version_assumed)
        head = (
            f"FIX: set {setting}{outer}: it works on any path that carries {carries} bytes "
            f"(confirm it below); the capture shows the MTU must be at most {r.max_mtu}."
        )
    elif r.certainty == "safe":
        head = (
            f"FIX: set {setting}{outer}: it works on this path; the capture shows the MTU "
            f"must be at most {r.max_mtu}."
        )
    else:
        head = (
            f"FIX: set {setting} at most{outer}; the capture shows it cannot be larger, not "
            "that it is enough."
        )
    lines = [head]
    if r.tunnel_how:
        lines.append(f"  tunnel: {r.tunnel.name}, {r.tunnel_how}")
    lines += [f"  because {reason}" for reason in r.reasons]
    path = "the underlay path" if r.tunnel.is_tunnel else "the path"
    if low == high:
        lines.append(f"  {path} carries {high} bytes")
    elif low is not None:
        lines.append(f"  {path} carries between {low} and {high} bytes")
    else:
        lines.append(f"  {path} carries at most {high} bytes")
    if rose_at is not None:
        lines[-1] += (
            f" while the black hole lasted; more once its MTU rose ({clock(rose_at)}), and "
            "this MTU works if it falls again"
        )
    if r.tunnel.kind != "wireguard":
        lines += [f"  how: {how}" for how in r.set_mtu]
    if r.confirm:
        lines.append(f"  confirm: {r.confirm}")
    lines += [f"  measure it live: {command}" for command in probes]
    other_mtu, other_basis = r.other_underlay
    other_outer = 4 if r.outer_version_assumed == 6 else 6
    if r.tunnel.is_tunnel and other_outer in r.tunnel.outer_versions:
        lines.append(f"  over an IPv{other_outer} underlay use MTU = {other_mtu} ({other_basis})")
    padding = (
        f", leaving room for {r.tunnel.name}'s {r.tunnel.padding}-byte padding"
        if r.tunnel.padding > 1
        else ""
    )
    lines.append(
        f"  or clamp the MSS instead: {r.mss_ipv4} (IPv4), {r.mss_ipv6} (IPv6){padding}, for "
        "connections forwarded and the host's own, e.g."
    )
    # Examples per tool for the IP versions of the flows found (an IPv4 rule clamps no IPv6
    # connection), forwarded into the tunnel and sent by the host; the JSON has all.
    examples = [
        rule
        for version in sorted(versions or {4})
        for rule in clamp_rules(
            r.mss_ipv4, r.mss_ipv6, r.tunnel.interface, versions=(version,), outbound_only=True
        )
    ]
    lines += [f"    {rule}" for rule in examples]
    lines += [f"  warning: {w}" for w in r.warnings]
    lines.append("")
    return lines
