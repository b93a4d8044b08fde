"""MTU arithmetic: tunnel overheads, MSS <-> MTU, the bracket, and the fix to recommend.

Pure functions of numbers; no packets, no I/O. Each tunnel's overhead is in `tunnels`. The
WireGuard facts (measured in the lab, and in WireGuard's source): each inner packet is padded to
a multiple of 16 bytes, capped at the interface MTU, then wrapped in 32 bytes of WireGuard
header and a UDP/IP header, so

    outer = min(ceil16(inner), wg_mtu) + 60   (IPv4 underlay)
    outer = min(ceil16(inner), wg_mtu) + 80   (IPv6 underlay)

and `MTU = N` on wg0 fits an underlay path of P bytes exactly when N + overhead <= P. The other
tunnels add a fixed overhead (`outer = inner + overhead`); with no tunnel the path MTU is the
MTU to set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pcapmtu.tunnels import IPV4_HEADER, IPV6_HEADER, WIREGUARD, WIREGUARD_PORT, Tunnel

WG_OVERHEAD_IPV4 = WIREGUARD.overhead(4)  # 60
WG_OVERHEAD_IPV6 = WIREGUARD.overhead(6)  # 80
WG_PADDING = WIREGUARD.padding  # WireGuard pads the inner packet to a multiple of 16 bytes
TCP_HEADER = 20
ICMP_ECHO_HEADER = 8
MSS_OVERHEAD = {4: IPV4_HEADER + TCP_HEADER, 6: IPV6_HEADER + TCP_HEADER}  # 40 / 60
PING_OVERHEAD = {4: IPV4_HEADER + ICMP_ECHO_HEADER, 6: IPV6_HEADER + ICMP_ECHO_HEADER}  # 28 / 48
IPV6_MIN_MTU = 1280  # RFC 8200: IPv6 inside the tunnel needs at least this
ETHERNET_MTU = 1500  # RFC 894: the link MTU almost every path starts from
__all__ = ["WIREGUARD_PORT"]  # re-exported: where the report looks for WireGuard's UDP
# wg-quick without an MTU line: the MTU of the route to the endpoint (or the default route,
# else 1500) minus 80, room for an IPv6 underlay whichever is used (wg-quick's set_mtu_up)
WG_QUICK_MARGIN = WG_OVERHEAD_IPV6
DEFAULT_WG_MTU = ETHERNET_MTU - WG_QUICK_MARGIN  # 1420: wg-quick's choice on a 1500-byte link
MIN_LINK_MTU = 576  # RFC 791: every IPv4 host must accept datagrams of this size
MAX_LINK_MTU = 65535  # the largest IPv4 total length (and a sane bound for jumbo links)


def wg_overhead(outer_version: int) -> int:
    return WIREGUARD.overhead(outer_version)


def ceil16(n: int) -> int:
    return -(-n // WG_PADDING) * WG_PADDING


def wg_outer_size(inner: int, wg_mtu: int, outer_version: int = 4) -> int:
    """The underlay packet that carries an inner packet of `inner` bytes."""
    return WIREGUARD.outer_size(inner, wg_mtu, outer_version)


def largest_wg_mtu(path_mtu: int, outer_version: int = 4) -> int:
    """The largest `MTU = N` on wg0 whose packets all fit an underlay path of `path_mtu`
    bytes: padding never takes a packet past N, so N + overhead is the largest outer packet."""
    return path_mtu - wg_overhead(outer_version)


def wg_quick_mtu(link_mtu: int) -> int:
    """The MTU wg-quick gives wg0 when its config has no MTU line, over a link of `link_mtu`."""
    return link_mtu - WG_QUICK_MARGIN


def mtu_from_mss(mss: int, ip_version: int) -> int:
    """The interface MTU that a SYN's MSS implies (Linux: MSS = MTU - 40 / - 60)."""
    return mss + MSS_OVERHEAD[ip_version]


def floor16(n: int) -> int:
    return n // WG_PADDING * WG_PADDING


def clamp_mss(mtu: int, ip_version: int, padding: int = WG_PADDING) -> int:
    """The MSS to clamp to so that full-size packets fit even if the tunnel keeps a larger MTU.

    Clamping is what you do when you cannot lower a peer's MTU, and then WireGuard pads each
    packet up to a multiple of 16 bytes (capped at that larger MTU): a packet of `mtu` bytes may
    grow by up to 15. Packets of floor16(mtu) bytes do not grow at all. Other tunnels do not
    pad (`padding` 1).
    """
    return mtu // padding * padding - MSS_OVERHEAD[ip_version]


@dataclass(frozen=True)
class Bracket:
    """The largest inner IP packet that crosses a path lies in [low, high]."""

    low: int | None  # the largest packet seen delivered
    high: int | None  # one less than the smallest packet seen black-holed


def bracket(largest_delivered: int | None, smallest_dropped: int | None) -> Bracket:
    high = smallest_dropped - 1 if smallest_dropped is not None else None
    low = largest_delivered
    if low is not None and high is not None and low > high:
        low = None  # contradictory evidence (the path changed?): keep only the drop
    return Bracket(low, high)


CONSERVATIVE_MTU = 1280  # what Tailscale and NetBird ship; IPv6's minimum link MTU (RFC 8200)
BASIS_ICMP = "icmp"  # a router on the path reported its MTU
BASIS_MEASURED = "measured"  # pcapmtu probe measured the underlay path exactly
BASIS_PROVEN = "proven"  # a packet that large crossed the path in the capture
BASIS_CONSERVATIVE = "conservative"  # CONSERVATIVE_MTU, which the capture does not rule out
BASIS_UPPER_BOUND = "upper_bound"  # the largest not ruled out; not shown to work


def basis_words(basis: str, tunnel: Tunnel = WIREGUARD) -> str:
    """Why an MTU of that basis works, in words that read after "MTU N: "."""
    v4, v6 = CONSERVATIVE_MTU + tunnel.overhead(4), CONSERVATIVE_MTU + tunnel.overhead(6)
    if basis == BASIS_ICMP:
        return "a router on the path reported its MTU"
    if basis == BASIS_MEASURED:
        return "pcapmtu probe measured the path: the largest that fits it"
    if basis == BASIS_PROVEN:
        return "a packet that large crossed this path"
    if basis == BASIS_CONSERVATIVE:
        who = "as Tailscale and NetBird ship it" if tunnel is WIREGUARD else "IPv6's minimum MTU"
        over = f" ({v6} over IPv6)" if tunnel.is_tunnel else ""
        return (
            f"{who}; it works on any path that carries {v4} bytes{over}, and the capture does "
            "not rule that out"
        )
    return (
        "the largest the capture does not rule out, not shown to work: the path does not carry "
        f"the {v4} bytes that {CONSERVATIVE_MTU} needs"
    )


@dataclass(frozen=True)
class Recommendation:
    """What to set, and why it works."""

    mtu: int  # the tunnel MTU to set (no tunnel: the path's): it carries traffic (`basis`)
    basis: str  # BASIS_ICMP, BASIS_MEASURED, BASIS_PROVEN, BASIS_CONSERVATIVE, BASIS_UPPER_BOUND
    max_mtu: int  # the largest the capture does not rule out (below the smallest lost size)
    certainty: str  # "exact": the largest that works; "safe": it works, a larger one may too;
    # "at_most": not shown to work (BASIS_UPPER_BOUND)
    mss_ipv4: int  # to clamp to: fits even where wg0 keeps its larger MTU (see clamp_mss)
    mss_ipv6: int
    underlay_path_mtu: tuple[int | None, int]  # (known to carry, largest it may carry)
    outer_version_assumed: int
    other_underlay: tuple[int, str]  # (MTU, basis) over the other underlay IP version
    reasons: tuple[str, ...] = field(default_factory=tuple)
    confirm: str | None = None
    clamp_rules: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)
    tunnel: Tunnel = WIREGUARD
    tunnel_how: str = ""  # how the tunnel was told (`tunnels.recognise`)

    @property
    def wireguard_mtu(self) -> int | None:
        """`MTU =` for wg-quick, when the tunnel is WireGuard."""
        return self.mtu if self.tunnel.kind == WIREGUARD.kind else None

    @property
    def set_mtu(self) -> tuple[str, ...]:
        """How to set it: the command, then its persistent forms."""
        return self.tunnel.set_mtu(self.mtu)


def _choose(
    path_low: int | None,
    path_high: int,
    overhead: int,
    inner_high: int | None,
    icmp: bool,
    exact_width: int = WG_PADDING,
) -> tuple[int, str, int]:
    """(MTU to set, its basis, the largest not ruled out) for one underlay overhead; a bracket
    narrower than `exact_width` (the tunnel's padding step) cannot be narrowed further."""
    max_mtu = path_high - overhead
    if inner_high is not None:
        max_mtu = min(max_mtu, inner_high)  # strictly below the smallest packet seen lost
    if icmp:
        return max_mtu, BASIS_ICMP, max_mtu
    if path_low is not None and path_low == path_high and exact_width == 0:
        return max_mtu, BASIS_MEASURED, max_mtu
    proven = min(path_low - overhead, max_mtu) if path_low is not None else None
    if proven is not None and (proven >= CONSERVATIVE_MTU or max_mtu - proven < exact_width):
        return proven, BASIS_PROVEN, max_mtu
    if max_mtu >= CONSERVATIVE_MTU:
        return CONSERVATIVE_MTU, BASIS_CONSERVATIVE, max_mtu
    if proven is not None and proven > 0:
        return proven, BASIS_PROVEN, max_mtu
    return max_mtu, BASIS_UPPER_BOUND, max_mtu


def recommend(
    inner: Bracket,
    *,
    tunnel_mtu: int | None,
    icmp_underlay_mtu: int | None = None,
    outer_version: int = 4,
    inner_version: int = 4,
    tunnel: Tunnel = WIREGUARD,
    tunnel_how: str = "",
    measured_underlay_mtu: int | None = None,
    icmp_told: str | None = None,
    padded: bool = False,
) -> Recommendation | None:
    """The tunnel MTU to set on both ends, given what crossed the inner path: one that carries
    traffic on this path. An ICMP next-hop MTU for the underlay makes it exact; a packet seen
    delivered proves a size; otherwise the conservative 1280 when the capture does not rule it
    out. The smallest packet seen lost bounds it from above (`max_mtu`), the tunnel's padding
    applied. With no tunnel, the inner packets are the path's own. `icmp_told` says how the
    ICMP-given underlay MTU was learned, when not from the router's message itself. `padded`:
    the bracket's sizes are padded already (WireGuard's messages seen on the underlay), so each
    leaves as its size plus the overhead, whatever the tunnel's MTU."""
    if inner.high is None and icmp_underlay_mtu is None and measured_underlay_mtu is None:
        return None
    overhead = tunnel.overhead(outer_version)
    wg_mtu = tunnel_mtu or DEFAULT_WG_MTU
    reasons = []
    path_low: int | None
    if measured_underlay_mtu is not None:
        path_high = measured_underlay_mtu
        path_low = measured_underlay_mtu
        reasons.append(f"pcapmtu probe measured the underlay path: {measured_underlay_mtu} bytes")
    elif icmp_underlay_mtu is not None:
        path_high = icmp_underlay_mtu
        path_low = icmp_underlay_mtu
        reasons.append(
            icmp_told or f"a router reported the underlay next-hop MTU: {icmp_underlay_mtu} bytes"
        )
    else:
        assert inner.high is not None
        dropped = inner.high + 1
        if padded:
            path_high = dropped + overhead - 1
            path_low = inner.low + overhead if inner.low else None
        else:
            path_high = tunnel.outer_size(dropped, wg_mtu, outer_version) - 1
            path_low = tunnel.outer_size(inner.low, wg_mtu, outer_version) if inner.low else None
        if not tunnel.is_tunnel:
            reasons.append(f"a packet of {dropped} bytes never arrived")
        elif padded:
            reasons.append(
                f"a message carrying an inner packet of {dropped} bytes (padded) left as "
                f"{path_high + 1} bytes ({dropped} + {overhead}) and never arrived"
            )
        elif tunnel.padding > 1:
            reasons.append(
                f"an inner packet of {dropped} bytes leaves as {path_high + 1} bytes "
                f"(min(ceil{tunnel.padding}({dropped}), {wg_mtu}) + {overhead}) and never arrived"
            )
        else:
            reasons.append(
                f"an inner packet of {dropped} bytes leaves as {path_high + 1} bytes "
                f"({dropped} + {overhead}) and never arrived"
            )
        if inner.low and padded:
            reasons.append(
                f"a message carrying an inner packet of {inner.low} bytes (padded) left as "
                f"{path_low} bytes and arrived"
            )
        elif inner.low and tunnel.is_tunnel:
            reasons.append(
                f"an inner packet of {inner.low} bytes ({path_low} on the underlay) arrived"
            )
        elif inner.low:
            reasons.append(f"a packet of {inner.low} bytes arrived")
    if path_low is not None and path_low > path_high:
        path_low = path_high
    icmp = icmp_underlay_mtu is not None and measured_underlay_mtu is None
    width = tunnel.padding
    if measured_underlay_mtu is not None:
        width = 0  # the path itself was measured: exact, whatever the padding
    mtu, basis, max_mtu = _choose(path_low, path_high, overhead, inner.high, icmp, width)
    other_version = 6 if outer_version == 4 else 4
    other_overhead = tunnel.overhead(other_version)
    other = _choose(path_low, path_high, other_overhead, inner.high, icmp, width)[:2]
    exact = basis in (BASIS_ICMP, BASIS_MEASURED) or (
        basis == BASIS_PROVEN and max_mtu - mtu < width
    )
    certainty = "exact" if exact else ("at_most" if basis == BASIS_UPPER_BOUND else "safe")
    reasons.append(f"MTU {mtu}: {basis_words(basis, tunnel)}")
    warnings = []
    if inner_version == 6 and mtu < IPV6_MIN_MTU:
        warnings.append(
            f"MTU {mtu} is below IPv6's minimum of {IPV6_MIN_MTU}: IPv6 inside the tunnel "
            "cannot work over this path; fix the underlay path instead"
        )
    confirm = None if exact else _confirm(mtu, outer_version, tunnel)
    mss4, mss6 = clamp_mss(mtu, 4, tunnel.padding), clamp_mss(mtu, 6, tunnel.padding)
    return Recommendation(
        mtu=mtu,
        basis=basis,
        max_mtu=max_mtu,
        certainty=certainty,
        mss_ipv4=mss4,
        mss_ipv6=mss6,
        underlay_path_mtu=(path_low, path_high),
        outer_version_assumed=outer_version,
        other_underlay=other,
        reasons=tuple(reasons),
        confirm=confirm,
        clamp_rules=clamp_rules(mss4, mss6, tunnel.interface),
        warnings=tuple(warnings),
        tunnel=tunnel,
        tunnel_how=tunnel_how,
    )


def _confirm(mtu: int, outer_version: int, tunnel: Tunnel = WIREGUARD) -> str:
    """A check from one peer that works whatever the tunnel's MTU is now: a ping on the
    underlay to the other peer's endpoint, of the size the tunnel's largest packet will be."""
    overhead = tunnel.overhead(outer_version)
    outer = mtu + overhead
    size = outer - PING_OVERHEAD[outer_version]
    flag = "-6 " if outer_version == 6 else ""
    if not tunnel.is_tunnel:
        return (
            f"ping {flag}-M do -c 3 -s {size} DEST  (DEST: the host the lost packets went to; a "
            f"{outer}-byte packet: it must answer. The largest -s that answers (raise it while "
            f"it answers, lower it if this one does not) gives the MTU that works: "
            f"MTU = -s + {PING_OVERHEAD[outer_version]})"
        )
    where = "from `wg show`" if tunnel is WIREGUARD else f"the remote of {tunnel.interface}"
    return (
        f"ping {flag}-M do -c 3 -s {size} ENDPOINT  (ENDPOINT: the other peer's address on the "
        f"underlay, {where}; a {outer}-byte packet, as the tunnel's largest will be: it "
        f"must answer. The largest -s that answers (raise it while it answers, lower it if "
        f"this one does not) gives the MTU that works: "
        f"MTU = -s - {overhead - PING_OVERHEAD[outer_version]})"
    )


def clamp_rules(
    mss4: int,
    mss6: int,
    interface: str = "wg0",
    *,
    versions: Iterable[int] = (4, 6),
    outbound_only: bool = False,
) -> tuple[str, ...]:
    """MSS clamping for TCP into and out of the tunnel: connections a router forwards (both SYN
    directions) and those the host itself opens through it (the incident's own case), for the
    IP `versions` asked; with `outbound_only`, the rules for SYNs leaving into the tunnel only."""
    wanted = set(versions)
    families = [
        (tool, family, mss)
        for version, tool, family, mss in (
            (4, "iptables", "ipv4", mss4),
            (6, "ip6tables", "ipv6", mss6),
        )
        if version in wanted
    ]
    # (iptables chain and option, nft chain and key): into the tunnel, out of it, the host's own
    chains = [
        ("FORWARD", "-o", "forward", "oifname"),
        ("FORWARD", "-i", "forward", "iifname"),
        ("OUTPUT", "-o", "output", "oifname"),
    ]
    if outbound_only:
        chains = [c for c in chains if c[1] == "-o"]
    rules = [
        f"{tool} -t mangle -A {chain} {option} {interface} -p tcp "
        f"--tcp-flags SYN,RST SYN -j TCPMSS --set-mss {mss}"
        for tool, _, mss in families
        for chain, option, _, _ in chains
    ]
    rules += [
        f'nft add rule inet filter {chain} {key} "{interface}" meta nfproto {family} '
        f"tcp flags syn tcp option maxseg size set {mss}"
        for _, family, mss in families
        for _, _, chain, key in chains
    ]
    return tuple(rules)
