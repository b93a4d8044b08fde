"""The tunnels pcapmtu knows, as data: what each adds to a packet, and how its MTU is set.

A tunnel wraps each inner packet in an outer IP header and its own header; the inner packet
must fit what is left of the underlay path:

    outer = pad(inner) + outer IP header + tunnel header

WireGuard pads the inner packet to a multiple of 16 bytes, capped at its MTU; the others add a
fixed header: VXLAN and GENEVE carry an inner Ethernet frame in UDP (8 + 8 + 14 = 30 bytes, and
GENEVE's options), GRE 4 bytes plus 4 for each of its checksum, key and sequence options (and
14 for an inner Ethernet frame: gretap), IP-in-IP and 6in4 nothing but the outer header. With
no tunnel the packet is itself the outer one.

Which tunnel a capture shows is told by `recognise` from what it holds (`TunnelEvidence`): the
outer headers, the capture interfaces' names, and the SYNs' MSS; `--tunnel` says it when the
capture cannot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from pcapmtu.model import is_number

IPV4_HEADER = 20
IPV6_HEADER = 40
UDP_HEADER = 8
ETHERNET_HEADER = 14
WG_HEADER = 32  # type/reserved 4 + receiver index 4 + counter 8 + Poly1305 tag 16
VXLAN_HEADER = 8
GENEVE_HEADER = 8  # without options
GRE_HEADER = 4  # without options; each of checksum, key, sequence adds 4
WIREGUARD_PORT = 51820
WG_INITIATION, WG_RESPONSE, WG_COOKIE = 1, 2, 3  # the handshake's messages
WG_MESSAGE_LEN = {WG_INITIATION: 148, WG_RESPONSE: 92, WG_COOKIE: 64}
WG_TRANSPORT = 4  # transport data: 16 bytes of header, the inner packet, a 16-byte tag
WG_TRANSPORT_MIN = 32  # a keepalive: header and tag, nothing inside
VXLAN_PORTS = (4789, 8472)  # IANA's, and Linux's default before it
GENEVE_PORT = 6081


@dataclass(frozen=True)
class Tunnel:
    """One kind of tunnel: its overhead and how its MTU is set."""

    kind: str  # "wireguard", "vxlan", "geneve", "gre", "ipip", "sit", "ip6tnl", "none"
    name: str  # as people write it
    header: int  # bytes between the outer IP header and the inner packet
    interface: str  # a typical interface name, for the commands shown
    padding: int = 1  # the inner packet is padded to a multiple of this (WireGuard: 16)
    outer_versions: tuple[int, ...] = (4, 6)  # the outer IP versions it runs over
    ports: tuple[int, ...] = ()  # its customary UDP ports (an ICMP too-big quoting them)

    @property
    def is_tunnel(self) -> bool:
        return self.kind != "none"

    def overhead(self, outer_version: int) -> int:
        """What the tunnel adds to each packet: the outer IP header and its own."""
        if not self.is_tunnel:
            return 0
        return (IPV6_HEADER if outer_version == 6 else IPV4_HEADER) + self.header

    def padded(self, inner: int, tunnel_mtu: int) -> int:
        """An inner packet of `inner` bytes as the tunnel sends it: padded to its step (capped
        at its MTU); unchanged by a tunnel that does not pad."""
        if self.padding == 1:
            return inner
        return min(math.ceil(inner / self.padding) * self.padding, tunnel_mtu)

    def outer_size(self, inner: int, tunnel_mtu: int, outer_version: int) -> int:
        """The underlay packet that carries an inner packet of `inner` bytes."""
        return self.padded(inner, tunnel_mtu) + self.overhead(outer_version)

    def set_mtu(self, mtu: int) -> tuple[str, ...]:
        """How to set the MTU: the command, then its persistent forms."""
        if self.kind == "wireguard":
            return (
                f"MTU = {mtu} in the [Interface] section of both peers' wg-quick config "
                f"(live: ip link set dev {self.interface} mtu {mtu})",
            )
        if not self.is_tunnel:
            return (
                f"ip link set dev {self.interface} mtu {mtu} on the sending host (every "
                f"destination), or for the affected one only: ip route change DEST via GATEWAY "
                f"mtu {mtu}",
                f"systemd-networkd: MTUBytes={mtu} in the [Link] section of the interface's "
                ".network file; netplan: mtu: " + str(mtu) + " under the interface",
            )
        return (
            f"ip link set dev {self.interface} mtu {mtu} on both ends of the tunnel",
            f"systemd-networkd: MTUBytes={mtu} in the [Link] section of the tunnel's .network "
            f"file (or its .netdev's [NetDev]); netplan: mtu: {mtu} under the tunnel",
        )

    def overhead_text(self, outer_version: int) -> str:
        """The overhead in words: "60 (IPv4 20 + UDP 8 + WireGuard 32)"."""
        if not self.is_tunnel:
            return "0 (no tunnel)"
        ip = f"IPv{outer_version} {IPV6_HEADER if outer_version == 6 else IPV4_HEADER}"
        return f"{self.overhead(outer_version)} ({ip} + {self.name} {self.header})"


WIREGUARD = Tunnel(
    "wireguard", "WireGuard", UDP_HEADER + WG_HEADER, "wg0", padding=16, ports=(WIREGUARD_PORT,)
)
VXLAN = Tunnel(
    "vxlan", "VXLAN", UDP_HEADER + VXLAN_HEADER + ETHERNET_HEADER, "vxlan0", ports=VXLAN_PORTS
)
GENEVE = Tunnel(
    "geneve",
    "GENEVE",
    UDP_HEADER + GENEVE_HEADER + ETHERNET_HEADER,
    "geneve0",
    ports=(GENEVE_PORT,),
)
GRE = Tunnel("gre", "GRE", GRE_HEADER, "gre1")
GRETAP = Tunnel("gretap", "GRE (gretap)", GRE_HEADER + ETHERNET_HEADER, "gretap1")
IPIP = Tunnel("ipip", "IP-in-IP", 0, "ipip1", outer_versions=(4,))
SIT = Tunnel("sit", "6in4 (sit)", 0, "sit1", outer_versions=(4,))
IP6TNL = Tunnel("ip6tnl", "IP-in-IPv6", 0, "ip6tnl1", outer_versions=(6,))
NONE = Tunnel("none", "no tunnel", 0, "eth0")
TUNNELS: dict[str, Tunnel] = {
    t.kind: t for t in (WIREGUARD, VXLAN, GENEVE, GRE, GRETAP, IPIP, SIT, IP6TNL, NONE)
}

# Interface names as Linux tools create them, first match wins.
_INTERFACE_NAMES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(wg|wireguard)"), "wireguard"),
    (re.compile(r"^(vxlan|flannel\.|vx-)"), "vxlan"),
    (re.compile(r"^(geneve|genev_sys)"), "geneve"),
    (re.compile(r"^gretap"), "gretap"),
    (re.compile(r"^(gre|erspan)"), "gre"),
    (re.compile(r"^(ipip|tunl)"), "ipip"),
    (re.compile(r"^sit"), "sit"),
    (re.compile(r"^ip6tnl"), "ip6tnl"),
    (re.compile(r"^(eth|en[opsx]|em|bond|br)"), "none"),
)
# The usual MTU of each tunnel over a 1500-byte link (WireGuard's is wg-quick's 1420): a SYN's
# MSS of that MTU less 40 (IPv4) or 60 (IPv6) suggests the tunnel it was sent into.
_USUAL_MTU: dict[int, str] = {1420: "wireguard", 1450: "vxlan", 1476: "gre", 1500: "none"}
_USUAL_MSS: dict[tuple[int, int], str] = {
    (mtu - overhead, version): kind
    for mtu, kind in _USUAL_MTU.items()
    for version, overhead in ((4, 40), (6, 60))
}


@dataclass
class TunnelEvidence:
    """What a capture shows of the tunnel it was taken on (or under)."""

    # packets by encapsulation seen: "wireguard", "vxlan", "geneve", "gre:N" (N: its header
    # bytes), "gretap:N", "ipip", "sit", "ip6tnl"
    outer: dict[str, int] = field(default_factory=dict)
    interfaces: list[str] = field(default_factory=list)  # pcapng interface names
    link_types: set[int] = field(default_factory=set)
    syn_mss: dict[tuple[int, int], int] = field(default_factory=dict)  # (MSS, IP version) -> SYNs
    # the largest packet of known wire size seen sent (lost or delivered): the interface it
    # was sent on carries at least that much, and a full-size segment fills it
    largest_packet: int = 0

    def merge(self, other: TunnelEvidence) -> None:
        for kind, count in other.outer.items():
            self.outer[kind] = self.outer.get(kind, 0) + count
        self.interfaces += [i for i in other.interfaces if i not in self.interfaces]
        self.link_types |= other.link_types
        for mss, count in other.syn_mss.items():
            self.syn_mss[mss] = self.syn_mss.get(mss, 0) + count
        self.largest_packet = max(self.largest_packet, other.largest_packet)


@dataclass(frozen=True)
class Recognised:
    """The tunnel a capture was taken on, and how that was told."""

    tunnel: Tunnel
    how: str  # in words, for the report
    certain: bool  # told by outer headers, an interface name or --tunnel; not a guess


def is_wireguard_message(kind: int, reserved: bytes, payload_len: int) -> bool:
    """Whether a UDP payload has WireGuard's message shape (any port): type 1 to 4, three
    zero bytes, and the length its type has (transport data: padded to 16, or capped at the
    tunnel's MTU, so any length from a keepalive's on). The compiled lane (`udp_kind` in
    `fast/src/decode.c`) applies the same rule."""
    if reserved != b"\0\0\0":
        return False
    if kind == WG_TRANSPORT:
        return payload_len >= WG_TRANSPORT_MIN
    return payload_len == WG_MESSAGE_LEN.get(kind)


def by_kind(kind: str) -> Tunnel:
    """The tunnel of `kind`, as `--tunnel` names it; "gre:8" is GRE with an 8-byte header."""
    base, _, header = kind.partition(":")
    tunnel = TUNNELS[base]
    if header:
        extra = ETHERNET_HEADER if base == "gretap" else 0
        tunnel = replace(tunnel, header=int(header) + extra)
    return tunnel


def check_kind(kind: str) -> None:
    """Raise ValueError unless `kind` names a tunnel (`by_kind`)."""
    base, _, header = kind.partition(":")
    if base not in TUNNELS or (header and not (base in ("gre", "gretap") and is_number(header))):
        known = ", ".join(TUNNELS)
        raise ValueError(f"unknown tunnel {kind!r}: one of {known} (gre:N: an N-byte GRE header)")


def recognise(evidence: TunnelEvidence, told: str | None = None) -> Recognised:
    """The tunnel: as told; else from the outer headers the capture holds; else from its
    interfaces' names; else guessed from the SYNs' MSS, or from its largest packet when that
    is a tunnel's usual MTU; else WireGuard, said to be assumed."""
    if told is not None:
        return Recognised(by_kind(told), "as told (--tunnel)", True)
    if evidence.outer:
        kind, count = max(evidence.outer.items(), key=lambda item: (item[1], item[0]))
        tunnel = by_kind(kind)
        return Recognised(tunnel, f"seen on the underlay ({count} packets)", True)
    named = _from_interfaces(evidence.interfaces)
    if named is not None:
        name, kind = named
        return Recognised(TUNNELS[kind], f"told by the capture's interface name {name}", True)
    if evidence.syn_mss:
        mss, version = max(evidence.syn_mss, key=lambda m: (evidence.syn_mss[m], m))
        usual = _USUAL_MSS.get((mss, version))
        if usual is not None:
            mtu = mss + (60 if version == 6 else 40)
            what = "a 1500-byte link" if usual == "none" else f"{TUNNELS[usual].name}'s usual MTU"
            return Recognised(
                TUNNELS[usual],
                f"guessed from the SYNs' MSS {mss} (MTU {mtu}: {what}); --tunnel to say",
                False,
            )
    usual = _USUAL_MTU.get(evidence.largest_packet)
    if usual is not None:
        what = "a 1500-byte link" if usual == "none" else f"{TUNNELS[usual].name}'s usual MTU"
        return Recognised(
            TUNNELS[usual],
            f"guessed from its largest packets, {evidence.largest_packet} bytes ({what}), "
            "with no SYN to tell the MSS; --tunnel to say",
            False,
        )
    return Recognised(WIREGUARD, "assumed: the capture does not show it; --tunnel to say", False)


def interface_tunnel(name: str) -> Tunnel | None:
    """The tunnel an interface's name says it is (`NONE` for an Ethernet-like name), or None."""
    found = _from_interfaces([name])
    return TUNNELS[found[1]] if found is not None else None


def _from_interfaces(names: Iterable[str]) -> tuple[str, str] | None:
    for name in names:
        for pattern, kind in _INTERFACE_NAMES:
            if pattern.match(name):
                return name, kind
    return None


def kinds() -> Mapping[str, Tunnel]:
    """Every tunnel `--tunnel` accepts, by kind."""
    return TUNNELS
