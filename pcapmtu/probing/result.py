"""What a probe measured, what it means for the tunnel's MTU, and how it is shown.

Two places a probe can measure from (`via`):

- **underlay**: to the tunnel's other end (its endpoint): the largest packet that passes is the
  path MTU itself, exactly when the next size up failed; the tunnel MTU it allows is that less
  the tunnel's overhead (WireGuard: 60 over IPv4, 80 over IPv6).
- **tunnel**: to the peer's address inside the tunnel: the largest *inner* packet that passes.
  WireGuard pads each inner packet to a multiple of 16 bytes (capped at its MTU), so the inner
  size that passes is not the MTU to set: through a 1420 tunnel on a 1400-byte path the largest
  inner packet is 1328 (1329 is padded to 1344, + 60 = 1404), while MTU = 1340 would work. The
  probe proves the padded size (1328) and bounds the rest (up to 1343); the underlay probe
  gives the exact value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pcapmtu.mtu import clamp_mss
from pcapmtu.probing.search import Search
from pcapmtu.tunnels import Tunnel

SCHEMA_VERSION = 1
VIA_UNDERLAY = "underlay"
VIA_TUNNEL = "tunnel"


@dataclass(frozen=True)
class ProbeResult:
    """One probe's measurement and its consequences; `to_dict`, `render_text`, `exit_code`."""

    target: str
    ip_version: int  # of the target: the underlay's, when via the underlay
    mode: str  # "icmp", "tcp" (the peer's packets towards us), "tcp-upload" (ours to it)
    via: str  # VIA_UNDERLAY or VIA_TUNNEL
    tunnel: Tunnel
    local_mtu: int  # of the interface the probe left by (via the tunnel: the tunnel's MTU now)
    search: Search
    tunnel_mtu_now: int | None = None  # the tunnel MTU in use, when known (via: its interface)
    largest_segment: int | None = None  # TCP mode: the largest segment TCP_INFO saw received

    @property
    def largest_passing(self) -> int:
        return self.search.largest_passing

    @property
    def all_passed(self) -> bool:
        """Every size up to the local interface's MTU got through."""
        return self.search.smallest_failing is None

    @property
    def proven_mtu(self) -> int:
        """The largest tunnel MTU the measurement proves works on this path."""
        largest = self.largest_passing
        if self.via == VIA_UNDERLAY:
            return largest - self.tunnel.overhead(self.ip_version)
        return self.tunnel.padded(largest, self.local_mtu)  # the size it left as

    @property
    def max_mtu(self) -> int | None:
        """The largest tunnel MTU the measurement does not rule out; None when nothing failed
        (the path may carry more than this host could send)."""
        failing = self.search.smallest_failing
        if failing is None:
            return None
        if self.via == VIA_UNDERLAY:
            return failing - 1 - self.tunnel.overhead(self.ip_version)
        return self.tunnel.padded(failing, self.local_mtu) - 1

    @property
    def exact(self) -> bool:
        return self.max_mtu == self.proven_mtu

    @property
    def fits(self) -> bool | None:
        """Whether the tunnel MTU in use fits the path (None: not known which is in use)."""
        now = self.tunnel_mtu_now
        if self.via == VIA_TUNNEL:
            return self.all_passed
        if now is None:
            return None
        return now <= self.proven_mtu or (self.max_mtu is None)

    def exit_code(self) -> int:
        """0: the MTU in use fits (or none is known and nothing failed); 1: it does not."""
        fits = self.fits
        if fits is None:
            return 0 if self.all_passed else 1
        return 0 if fits else 1

    def to_dict(self) -> dict[str, Any]:
        s = self.search
        return {
            "schema_version": SCHEMA_VERSION,
            "target": self.target,
            "ip_version": self.ip_version,
            "mode": self.mode,
            "via": self.via,
            "tunnel": self.tunnel.kind,
            "local_mtu": self.local_mtu,
            "largest_passing": s.largest_passing,
            "smallest_failing": s.smallest_failing,
            "reported_mtu": s.reported_mtu,
            "packets_sent": s.sent,
            "largest_segment_received": self.largest_segment,
            "tunnel_mtu_now": self.tunnel_mtu_now,
            "fits": self.fits,
            "recommendation": {
                "mtu": self.proven_mtu,
                "max_mtu": self.max_mtu,
                "exact": self.exact,
                "set_mtu": list(self.tunnel.set_mtu(self.proven_mtu)),
                "mss_ipv4": clamp_mss(self.proven_mtu, 4, self.tunnel.padding),
                "mss_ipv6": clamp_mss(self.proven_mtu, 6, self.tunnel.padding),
            },
            "log": [{"size": size, "outcome": outcome} for size, outcome in s.log],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def render_text(self) -> str:
        return "\n".join(_lines(self)) + "\n"


def _lines(r: ProbeResult) -> list[str]:
    s = r.search
    what = "packet" if r.via == VIA_UNDERLAY else "inner packet through the tunnel"
    failing = s.smallest_failing
    how = {
        "tcp": "TCP, our MSS capped: the peer's packets towards us",
        "tcp-upload": "TCP upload, Don't Fragment: our packets towards the peer",
    }.get(r.mode, "ICMP echo, Don't Fragment")
    unit = "connections" if r.mode.startswith("tcp") else "packets sent"
    lines = [f"PROBE {r.target} ({how}, via the {r.via}): {s.sent} {unit}"]
    if failing is None:
        lines.append(
            f"  every size up to {s.largest_passing} bytes (this host's interface MTU) passed"
        )
    else:
        lines.append(
            f"  largest {what} that passes: {s.largest_passing} bytes; {failing} bytes does not"
        )
    if s.reported_mtu:
        lines.append(f"  a router reported its next-hop MTU: {s.reported_mtu}")
    name = r.tunnel.name
    if r.via == VIA_UNDERLAY and r.tunnel.is_tunnel:
        overhead = r.tunnel.overhead_text(r.ip_version)
        if failing is not None:
            lines.append(f"  the path MTU is {s.largest_passing} bytes (exactly)")
        how = " exactly" if r.exact else " (the path may carry more: this host sends no more)"
        lines.append(f"  {name} adds {overhead}: MTU = {r.proven_mtu} fits{how}")
    elif r.via == VIA_TUNNEL and r.tunnel.padding > 1 and failing is not None:
        padded = r.tunnel.padded(failing, r.local_mtu)
        lines.append(
            f"  {name} pads each inner packet to a multiple of {r.tunnel.padding}: {failing} "
            f"bytes is sent as "
            f"{padded} plus its overhead, and that is what is lost; so MTU = {r.proven_mtu} is "
            f"proven to work, and the path allows at most {r.max_mtu}: probe the underlay (the "
            "peer's endpoint) for the exact value"
        )
    if r.tunnel_mtu_now is not None and r.via == VIA_UNDERLAY:
        verdict = "fits" if r.fits else "does NOT fit: a black hole for its largest packets"
        lines.append(f"  the tunnel MTU in use, {r.tunnel_mtu_now}, {verdict}")
    elif r.via == VIA_TUNNEL:
        verdict = (
            "fits the path"
            if r.all_passed
            else "does NOT fit the path: its largest packets are lost (a black hole)"
        )
        lines.append(f"  the tunnel's MTU now, {r.local_mtu}, {verdict}")
    if not r.all_passed or r.via == VIA_UNDERLAY:
        lines.append(f"SET: {r.tunnel.set_mtu(r.proven_mtu)[0]}")
        lines.append(
            f"  or clamp the TCP MSS to {clamp_mss(r.proven_mtu, 4, r.tunnel.padding)} (IPv4), "
            f"{clamp_mss(r.proven_mtu, 6, r.tunnel.padding)} (IPv6)"
        )
    return lines
