"""The lab's network as data: four namespaces in a line, their links, addresses and routes.

    home ──eth0────home── r1 ──r2────r1── r2 ──proxy────eth0── proxy
                               path MTU (both ends)

`plan_underlay` turns a `Scenario` into the exact commands that build it, without running any,
so the plan can be checked without root. The small link between the routers carries the
scenario's path MTU on both ends, so both directions are constrained. Routes name only the
lab's own subnets (there is no default route), so no packet can leave the lab.

Addresses come from ranges reserved for exactly this: 198.18.0.0/15 is set aside for network
benchmark tests (RFC 2544), and fd00::/8 for local use (RFC 4193).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pcapmtu.lab.scenario import Scenario

ROLES = ("home", "r1", "r2", "proxy")
ENDPOINTS = ("home", "proxy")
ROUTERS = ("r1", "r2")
ETHERNET_MTU = 1500
UNDERLAY_IFACE = "eth0"  # the endpoints' underlay interface
WG_IFACE = "wg0"
VXLAN_IFACE = "vxlan0"
WG_PORT = 51820  # WireGuard's customary port
HTTP_PORT = 8080
CLAMPED_HTTP_PORT = 8081  # the second service: its SYNs are MSS-clamped with --clamp-mss
HTTPS_PORT = 8443  # the tls workload's server
NAMESPACE_PREFIX = "pcapmtu-"
# A run's work folder (keys, logs, raw captures) in the temporary folder, named by owner PID.
WORKDIR_PREFIX = "pcapmtu-lab-"

UNDERLAY_V4 = ("198.18.1.0/24", "198.18.2.0/24", "198.18.3.0/24")
UNDERLAY_V6 = ("fd18:1::/64", "fd18:2::/64", "fd18:3::/64")
TUNNEL_V4 = "198.19.0.0/24"
TUNNEL_V6 = "fd19::/64"


@dataclass(frozen=True)
class Link:
    """A veth pair: side a gets host 1 of the subnet, side b host 2."""

    a_role: str
    a_iface: str
    b_role: str
    b_iface: str
    subnet_index: int
    mtu: int


@dataclass(frozen=True)
class Step:
    """One command of the plan, with what it is for (used in error messages)."""

    argv: tuple[str, ...]
    stdin: str | None = None


@dataclass(frozen=True)
class Namespaces:
    """The namespace names of one run: unique, and carrying the owner's PID for cleanup."""

    run_id: str

    def __getitem__(self, role: str) -> str:
        return f"{NAMESPACE_PREFIX}{self.run_id}-{role}"

    def all(self) -> list[str]:
        return [self[role] for role in ROLES]


def links(scenario: Scenario) -> tuple[Link, ...]:
    """The three links; the middle one is the small path."""
    edge_mtu = max(ETHERNET_MTU, scenario.path_mtu)
    return (
        Link("home", UNDERLAY_IFACE, "r1", "home", 0, edge_mtu),
        Link("r1", "r2", "r2", "r1", 1, scenario.path_mtu),
        Link("r2", "proxy", "proxy", UNDERLAY_IFACE, 2, edge_mtu),
    )


def host(family: int, subnet_index: int, host_number: int) -> str:
    """The address of host `host_number` on underlay subnet `subnet_index`."""
    subnets = UNDERLAY_V6 if family == 6 else UNDERLAY_V4
    network = ipaddress.ip_network(subnets[subnet_index])
    return str(network.network_address + host_number)


def prefix_len(family: int) -> int:
    return 64 if family == 6 else 24


def underlay_address(role: str, family: int) -> str:
    """An endpoint's underlay address (the WireGuard endpoint)."""
    return host(family, 0, 1) if role == "home" else host(family, 2, 2)


def tunnel_address(role: str, family: int) -> str:
    """An endpoint's address inside the tunnel."""
    network = ipaddress.ip_network(TUNNEL_V6 if family == 6 else TUNNEL_V4)
    return str(network.network_address + (1 if role == "home" else 2))


def tunnel_prefix(family: int) -> str:
    return TUNNEL_V6 if family == 6 else TUNNEL_V4


def routes(family: int) -> list[tuple[str, str, str]]:
    """(role, destination subnet, next hop): each side reaches the far subnet, nothing else."""
    subnets = UNDERLAY_V6 if family == 6 else UNDERLAY_V4
    return [
        ("home", subnets[2], host(family, 0, 2)),
        ("r1", subnets[2], host(family, 1, 2)),
        ("r2", subnets[0], host(family, 1, 1)),
        ("proxy", subnets[0], host(family, 2, 1)),
    ]


def tunnel_up_steps(namespace: str, iface: str, role: str, family: int, mtu: int) -> list[Step]:
    """A tunnel interface made: `role`'s tunnel address on it (IPv6 without duplicate address
    detection, which would hold it back), its MTU, and up."""
    address = f"{tunnel_address(role, family)}/{prefix_len(family)}"
    add = ("ip", "-n", namespace, "addr", "add", address, "dev", iface)
    return [
        Step((*add, "nodad") if family == 6 else add),
        Step(("ip", "-n", namespace, "link", "set", iface, "mtu", str(mtu))),
        Step(("ip", "-n", namespace, "link", "set", iface, "up")),
    ]


def sysctl_step(namespace: str, key: str, value: str) -> Step:
    """Write a sysctl inside a namespace (/proc/sys/net follows the writer's namespace)."""
    path = "/proc/sys/" + key.replace(".", "/")
    script = 'printf "%s\\n" "$1" > "$2"'
    return Step(("ip", "netns", "exec", namespace, "sh", "-c", script, "sh", value, path))


def plan_underlay(scenario: Scenario, ns: Namespaces, router_rules: dict[str, str]) -> list[Step]:
    """Every command that builds the underlay, in order (namespaces, links, routes, rules)."""
    family = scenario.outer
    steps = [Step(("ip", "netns", "add", ns[role])) for role in ROLES]
    steps += [Step(("ip", "-n", ns[role], "link", "set", "lo", "up")) for role in ROLES]
    for link in links(scenario):
        steps.append(
            Step(
                (
                    "ip",
                    "link",
                    "add",
                    link.a_iface,
                    "netns",
                    ns[link.a_role],
                    "type",
                    "veth",
                    "peer",
                    "name",
                    link.b_iface,
                    "netns",
                    ns[link.b_role],
                )
            )
        )
        for role, iface, number in ((link.a_role, link.a_iface, 1), (link.b_role, link.b_iface, 2)):
            address = f"{host(family, link.subnet_index, number)}/{prefix_len(family)}"
            add = ["ip", "-n", ns[role], "addr", "add", address, "dev", iface]
            if family == 6:
                add.append("nodad")  # no duplicate address detection: usable at once
            steps.append(Step(("ip", "-n", ns[role], "link", "set", iface, "mtu", str(link.mtu))))
            steps.append(Step(tuple(add)))
            steps.append(Step(("ip", "-n", ns[role], "link", "set", iface, "up")))
    for role in ROUTERS:
        steps.append(sysctl_step(ns[role], "net.ipv4.ip_forward", "1"))
        steps.append(sysctl_step(ns[role], "net.ipv6.conf.all.forwarding", "1"))
    for role, destination, via in routes(family):
        steps.append(Step(("ip", "-n", ns[role], "route", "add", destination, "via", via)))
    for role, rules in router_rules.items():
        steps.append(Step(("ip", "netns", "exec", ns[role], "nft", "-f", "-"), stdin=rules))
    steps += pacing_steps(scenario, ns)
    return steps


def pacing_steps(scenario: Scenario, ns: Namespaces) -> list[Step]:
    """A token bucket with a deep queue on both ends of the small link.

    wireguard-go drops packets when its UDP receive buffer overflows, and a namespace cannot
    raise net.core.rmem_max; pacing the underlay keeps every loss one the scenario asked for.
    """
    rate = f"{scenario.rate_mbit}mbit"
    burst = str(max(4 * scenario.path_mtu, 32_000))
    queue_limit = str(8_000_000)  # bytes: deep enough that the bucket itself never drops
    return [
        Step(
            (
                "ip",
                "netns",
                "exec",
                ns[role],
                "tc",
                "qdisc",
                "add",
                "dev",
                iface,
                "root",
                "tbf",
                "rate",
                rate,
                "burst",
                burst,
                "limit",
                queue_limit,
            )
        )
        for role, iface in (("r1", "r2"), ("r2", "r1"))
    ]
