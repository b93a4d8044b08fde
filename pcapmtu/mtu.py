"""MTU arithmetic: tunnel overheads, MSS <-> MTU, the bracket, and the fix to recommend.

Pure functions of numbers; no packets, no I/O. The WireGuard facts (measured in the lab, and in
WireGuard's source): each inner packet is padded to a multiple of 16 bytes, capped at the
interface MTU, then wrapped in 32 bytes of WireGuard header and a UDP/IP header, so

    outer = min(ceil16(inner), wg_mtu) + 60   (IPv4 underlay)
    outer = min(ceil16(inner), wg_mtu) + 80   (IPv6 underlay)

and `MTU = N` on wg0 fits an underlay path of P bytes exactly when N + overhead <= P.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WG_HEADER = 32  # type/reserved 4 + receiver index 4 + counter 8 + Poly1305 tag 16
UDP_HEADER = 8
IPV4_HEADER = 20
IPV6_HEADER = 40
WG_OVERHEAD_IPV4 = IPV4_HEADER + UDP_HEADER + WG_HEADER  # 60
WG_OVERHEAD_IPV6 = IPV6_HEADER + UDP_HEADER + WG_HEADER  # 80
WG_PADDING = 16  # WireGuard pads the inner packet to a multiple of 16 bytes
TCP_HEADER = 20
ICMP_ECHO_HEADER = 8
MSS_OVERHEAD = {4: IPV4_HEADER + TCP_HEADER, 6: IPV6_HEADER + TCP_HEADER}  # 40 / 60
PING_OVERHEAD = {4: IPV4_HEADER + ICMP_ECHO_HEADER, 6: IPV6_HEADER + ICMP_ECHO_HEADER}  # 28 / 48
IPV6_MIN_MTU = 1280  # RFC 8200: IPv6 inside the tunnel needs at least this
EXACT_WIDTH = WG_PADDING  # a bracket narrower than the padding step cannot be narrowed further
ETHERNET_MTU = 1500  # RFC 894: the link MTU almost every path starts from
WIREGUARD_PORT = 51820  # WireGuard's customary UDP port
# wg-quick without an MTU line: the MTU of the route to the endpoint (or the default route,
# else 1500) minus 80, room for an IPv6 underlay whichever is used (wg-quick's set_mtu_up)
WG_QUICK_MARGIN = WG_OVERHEAD_IPV6
DEFAULT_WG_MTU = ETHERNET_MTU - WG_QUICK_MARGIN  # 1420: wg-quick's choice on a 1500-byte link
MIN_LINK_MTU = 576  # RFC 791: every IPv4 host must accept datagrams of this size
MAX_LINK_MTU = 65535  # the largest IPv4 total length (and a sane bound for jumbo links)


def wg_overhead(outer_version: int) -> int:
    return WG_OVERHEAD_IPV6 if outer_version == 6 else WG_OVERHEAD_IPV4


def ceil16(n: int) -> int:
    return -(-n // WG_PADDING) * WG_PADDING


def wg_outer_size(inner: int, wg_mtu: int, outer_version: int = 4) -> int:
    """The underlay packet that carries an inner packet of `inner` bytes."""
    return min(ceil16(inner), wg_mtu) + wg_overhead(outer_version)


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


def clamp_mss(mtu: int, ip_version: int) -> int:
    """The MSS to clamp to so that full-size packets fit even if wg0 keeps a larger MTU.

    Clamping is what you do when you cannot lower a peer's MTU, and then WireGuard pads each
    packet up to a multiple of 16 bytes (capped at that larger MTU): a packet of `mtu` bytes may
    grow by up to 15. Packets of floor16(mtu) bytes do not grow at all.
    """
    return floor16(mtu) - MSS_OVERHEAD[ip_version]


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


@dataclass(frozen=True)
class Recommendation:
    """What to set, and how sure it is."""

    wireguard_mtu: int
    certainty: str  # "exact" (from an ICMP MTU or a tight bracket) or "at_most"
    mss_ipv4: int  # to clamp to: fits even where wg0 keeps its larger MTU (see clamp_mss)
    mss_ipv6: int
    underlay_path_mtu: tuple[int | None, int]  # (known to carry, largest it may carry)
    outer_version_assumed: int
    reasons: tuple[str, ...] = field(default_factory=tuple)
    confirm: str | None = None
    clamp_rules: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)


def recommend(
    inner: Bracket,
    *,
    tunnel_mtu: int | None,
    icmp_underlay_mtu: int | None = None,
    outer_version: int = 4,
    inner_version: int = 4,
    peer: str | None = None,
) -> Recommendation | None:
    """The WireGuard MTU to set on both peers, given what crossed the inner path.

    With an ICMP next-hop MTU for the underlay, the answer is exact. Otherwise the smallest
    black-holed inner packet bounds it from above: the recommended MTU is the largest that
    stays strictly below it once WireGuard's padding is applied, and is stated as "at most".
    """
    if inner.high is None and icmp_underlay_mtu is None:
        return None
    overhead = wg_overhead(outer_version)
    wg_mtu = tunnel_mtu or DEFAULT_WG_MTU
    reasons = []
    if icmp_underlay_mtu is not None:
        path_high = icmp_underlay_mtu
        path_low: int | None = icmp_underlay_mtu
        reasons.append(f"a router reported the underlay next-hop MTU: {icmp_underlay_mtu} bytes")
    else:
        assert inner.high is not None
        dropped = inner.high + 1
        path_high = wg_outer_size(dropped, wg_mtu, outer_version) - 1
        path_low = wg_outer_size(inner.low, wg_mtu, outer_version) if inner.low else None
        reasons.append(
            f"an inner packet of {dropped} bytes leaves as {path_high + 1} bytes "
            f"(min(ceil16({dropped}), {wg_mtu}) + {overhead}) and never arrived"
        )
        if inner.low:
            reasons.append(
                f"an inner packet of {inner.low} bytes ({path_low} on the underlay) arrived"
            )
    mtu = path_high - overhead
    if inner.high is not None:
        mtu = min(mtu, inner.high)  # strictly below the smallest packet seen black-holed
    if path_low is not None and path_low > path_high:
        path_low = path_high
    exact = icmp_underlay_mtu is not None or (
        path_low is not None and path_high - path_low < EXACT_WIDTH
    )
    warnings = []
    if inner_version == 6 and mtu < IPV6_MIN_MTU:
        warnings.append(
            f"MTU {mtu} is below IPv6's minimum of {IPV6_MIN_MTU}: IPv6 inside the tunnel "
            "cannot work over this path; fix the underlay path instead"
        )
    confirm = None
    if not exact:
        size = mtu - PING_OVERHEAD[inner_version]
        flag = "-6 " if inner_version == 6 else ""
        target = peer or "<peer's tunnel address>"
        confirm = (
            f"ping {flag}-M do -c 3 -s {size} {target}  (an inner packet of {mtu} bytes; if it "
            "gets no reply, lower -s until it does: MTU = -s + "
            f"{PING_OVERHEAD[inner_version]})"
        )
    mss4, mss6 = clamp_mss(mtu, 4), clamp_mss(mtu, 6)
    return Recommendation(
        wireguard_mtu=mtu,
        certainty="exact" if exact else "at_most",
        mss_ipv4=mss4,
        mss_ipv6=mss6,
        underlay_path_mtu=(path_low, path_high),
        outer_version_assumed=outer_version,
        reasons=tuple(reasons),
        confirm=confirm,
        clamp_rules=clamp_rules(mss4, mss6),
        warnings=tuple(warnings),
    )


def clamp_rules(mss4: int, mss6: int, interface: str = "wg0") -> tuple[str, ...]:
    """MSS clamping on a router that forwards into and out of the tunnel (both SYN directions)."""
    rules = []
    for tool, mss in (("iptables", mss4), ("ip6tables", mss6)):
        for direction in ("-o", "-i"):
            rules.append(
                f"{tool} -t mangle -A FORWARD {direction} {interface} -p tcp "
                f"--tcp-flags SYN,RST SYN -j TCPMSS --set-mss {mss}"
            )
    for family, mss in (("ipv4", mss4), ("ipv6", mss6)):
        for key in ("oifname", "iifname"):
            rules.append(
                f'nft add rule inet filter forward {key} "{interface}" meta nfproto {family} '
                f"tcp flags syn tcp option maxseg size set {mss}"
            )
    return tuple(rules)
