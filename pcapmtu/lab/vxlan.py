"""A real VXLAN tunnel between the lab's home and proxy namespaces (the kernel's vxlan driver).

Each side gets `vxlan0` with the other's underlay address as its only remote, the tunnel
addresses WireGuard would have, and the scenario's tunnel MTU. `df set` makes the kernel set
Don't Fragment on the outer IPv4 header, as deployments that want PMTUD do; then a router that
cannot forward the outer packet drops it, and with ICMP blocked that is a black hole. (Over an
IPv6 underlay routers never fragment: the outer packet is dropped either way.)
"""

from __future__ import annotations

from pcapmtu.lab import system
from pcapmtu.lab.scenario import Scenario
from pcapmtu.lab.topology import (
    VXLAN_IFACE,
    Namespaces,
    tunnel_up_steps,
    underlay_address,
)

VXLAN_ID = 42
VXLAN_PORT = 4789  # IANA's


def build(scenario: Scenario, ns: Namespaces) -> None:
    """Make vxlan0 on both endpoints, addressed and up."""
    mtus = {"home": scenario.wg_mtu_home, "proxy": scenario.wg_mtu_proxy}
    for role, peer in (("home", "proxy"), ("proxy", "home")):
        namespace = ns[role]
        link = [
            *("ip", "-n", namespace, "link", "add", VXLAN_IFACE, "type", "vxlan"),
            *("id", str(VXLAN_ID), "dstport", str(VXLAN_PORT)),
            *("local", underlay_address(role, scenario.outer)),
            *("remote", underlay_address(peer, scenario.outer)),
        ]
        if scenario.outer == 4:
            link += ["df", "set"]
        system.run(link)
        for step in tunnel_up_steps(namespace, VXLAN_IFACE, role, scenario.inner, mtus[role]):
            system.run(step.argv)
