"""The lab's network plan, checked without building it: safety and the MTU where it belongs."""

from __future__ import annotations

import ipaddress

import pytest

from pcapmtu.lab import firewall
from pcapmtu.lab.scenario import Scenario
from pcapmtu.lab.topology import (
    ROUTERS,
    Namespaces,
    Step,
    links,
    plan_underlay,
    routes,
    tunnel_address,
    underlay_address,
)

NS = Namespaces("4242-abcd")
LAB_RANGES = [ipaddress.ip_network(n) for n in ("198.18.0.0/15", "fd00::/8")]


def _plan(scenario: Scenario) -> list[Step]:
    rules = {role: firewall.router_rules(scenario, role) for role in ROUTERS}
    return plan_underlay(scenario, NS, rules)


def _in_lab_ranges(address: str) -> bool:
    ip = ipaddress.ip_interface(address).ip
    return any(ip in net for net in LAB_RANGES if net.version == ip.version)


@pytest.mark.parametrize("outer", [4, 6])
def test_small_link_is_between_the_routers_on_both_ends(outer: int) -> None:
    steps = _plan(Scenario(outer=outer, path_mtu=1380))
    mtus = {
        (s.argv[2], s.argv[5]): int(s.argv[7])
        for s in steps
        if s.argv[:2] == ("ip", "-n") and s.argv[3:5] == ("link", "set") and "mtu" in s.argv
    }
    assert mtus[(NS["r1"], "r2")] == 1380
    assert mtus[(NS["r2"], "r1")] == 1380
    others = [m for key, m in mtus.items() if key not in {(NS["r1"], "r2"), (NS["r2"], "r1")}]
    assert others and all(m == 1500 for m in others)


def test_jumbo_path_keeps_the_edges_at_least_as_large() -> None:
    assert all(link.mtu >= 9000 for link in links(Scenario(path_mtu=9000)))


def _namespaces_named(argv: tuple[str, ...]) -> set[str]:
    """The namespaces a command acts in: `ip -n NS`, `ip netns add|exec NS`, `... netns NS`."""
    names = set()
    for i, word in enumerate(argv[:-1]):
        if word == "-n":
            names.add(argv[i + 1])
        elif word == "netns":
            names.add(argv[i + 2] if argv[i + 1] in ("add", "exec") else argv[i + 1])
    return names


@pytest.mark.parametrize("outer", [4, 6])
def test_every_command_stays_inside_the_runs_namespaces(outer: int) -> None:
    """No step touches the machine's own namespace: each names only this run's."""
    for step in _plan(Scenario(outer=outer, loss_percent=1.0)):
        named = _namespaces_named(step.argv)
        assert named, f"step names no namespace: {step.argv}"
        assert named <= set(NS.all()), step.argv
        if step.argv[:3] == ("ip", "link", "add"):
            assert step.argv.count("netns") == 2, "both veth ends must be created in the lab"


@pytest.mark.parametrize("outer", [4, 6])
def test_addresses_and_routes_stay_in_reserved_lab_ranges(outer: int) -> None:
    for step in _plan(Scenario(outer=outer)):
        if "addr" in step.argv and "add" in step.argv:
            assert _in_lab_ranges(step.argv[step.argv.index("add") + 1]), step.argv
    for _role, destination, via in routes(outer):
        assert destination not in ("default", "0.0.0.0/0", "::/0")
        assert _in_lab_ranges(destination) and _in_lab_ranges(via)
    for inner in (4, 6):
        for role in ("home", "proxy"):
            assert _in_lab_ranges(tunnel_address(role, inner))
            assert _in_lab_ranges(underlay_address(role, outer))


def test_route_next_hops_are_neighbours_on_a_shared_subnet() -> None:
    assigned: dict[str, list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]] = {}
    for step in _plan(Scenario()):
        if "addr" in step.argv and "add" in step.argv:
            assigned[step.argv[2]] = [
                *assigned.get(step.argv[2], []),
                ipaddress.ip_interface(step.argv[step.argv.index("add") + 1]),
            ]
    for role, _destination, via in routes(4):
        connected = [iface.network for iface in assigned[NS[role]]]
        assert any(ipaddress.ip_address(via) in net for net in connected), (role, via)


def test_both_router_directions_are_paced() -> None:
    tbf = [s.argv for s in _plan(Scenario(rate_mbit=50)) if "tbf" in s.argv]
    assert {(a[3], a[8]) for a in tbf} == {(NS["r1"], "r2"), (NS["r2"], "r1")}
    assert all("50mbit" in a for a in tbf)


def test_namespace_names_carry_the_owner_pid() -> None:
    assert NS["home"] == "pcapmtu-4242-abcd-home"
    assert len(set(NS.all())) == 4
