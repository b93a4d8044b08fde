"""`pcapmtu probe`: measure the largest packet that crosses a live path, and the MTU to set.

`probe(target, ...)` returns a `ProbeResult`; the CLI only calls it. The search is in
`search.py` (bisection, bounded, loss told from size), the packets in `icmp.py` (echo requests
with Don't Fragment), what it means in `result.py`.
"""

from __future__ import annotations

import json
import shutil
import subprocess

from pcapmtu.model import is_number
from pcapmtu.probing.icmp import Pinger, ProbeSocketError, family_of
from pcapmtu.probing.result import VIA_TUNNEL, VIA_UNDERLAY, ProbeResult
from pcapmtu.probing.search import BudgetSpent, PathSilent, largest_passing
from pcapmtu.probing.tcp import ServiceRefused, TcpFetcher
from pcapmtu.tunnels import NONE, WIREGUARD, Tunnel, interface_tunnel

__all__ = [
    "BudgetSpent",
    "PathSilent",
    "ProbeResult",
    "ProbeSocketError",
    "ServiceRefused",
    "interface_endpoints",
    "parse_target",
    "probe",
]
DEFAULT_TIMEOUT_S = 1.0  # to wait for each answer
DEFAULT_TRIES = 3  # sends of a size before it counts as lost (while smaller ones pass)
DEFAULT_BUDGET = 64  # packets, at most


def probe(
    target: str,
    *,
    via: str | None = None,
    tunnel: Tunnel | None = None,
    tunnel_mtu_now: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    tries: int = DEFAULT_TRIES,
    budget: int = DEFAULT_BUDGET,
    path: str = "/",
    upload: bool = False,
) -> ProbeResult:
    """Measure the largest IP packet that reaches `target` (an IPv4 or IPv6 address) and comes
    back answered, by ICMP echo with Don't Fragment, bisecting between the smallest echo and
    the MTU of the interface the route leaves by.

    `via`: "tunnel" (the target is the peer's address inside the tunnel: inner sizes) or
    "underlay" (the peer's endpoint: the path MTU); by default "tunnel" when the route leaves
    by a tunnel interface (wg*, vxlan*, ...). `tunnel`: whose overhead and padding apply (by
    default the one that interface is, else WireGuard). `tunnel_mtu_now`: the tunnel MTU in
    use, to say whether it fits (via the tunnel it is the interface's own).

    A target with a port (`HOST:PORT`, `[V6]:PORT`) is probed in TCP mode instead, without
    root: GETs of `path` from that service with our SYN's MSS capped (`tcp.py`), which
    measures the peer's packets towards us; with `upload`, POSTs of full-size segments with
    Don't Fragment forced, acknowledged or not: our packets towards the peer.

    Raises `PathSilent` when nothing answers at all, `ProbeSocketError` without permission
    for ICMP sockets, `ServiceRefused` when the TCP service cannot serve the probe,
    `BudgetSpent` when `budget` packets did not reach an exact answer, and ValueError for a
    target that is not an address.
    """
    target, port = parse_target(target)
    version = family_of(target)
    device = egress_interface(target)
    kind = interface_tunnel(device) if device else None
    if via is None:
        via = VIA_TUNNEL if kind is not None and kind is not NONE else VIA_UNDERLAY
    if via not in (VIA_TUNNEL, VIA_UNDERLAY):
        raise ValueError(f"via {via!r}: 'tunnel' or 'underlay'")
    if tunnel is None:
        tunnel = kind if kind is not None and kind is not NONE and via == VIA_TUNNEL else WIREGUARD
    if port is not None:
        fetcher = TcpFetcher(target, port, path, max(timeout_s, 0.2), upload)
        local = fetcher.local_mtu()
        search = largest_passing(fetcher.send, fetcher.smallest, local, tries=tries, budget=budget)
        mode = "tcp-upload" if upload else "tcp"
        segment = fetcher.largest_segment or None
    else:
        with Pinger(target, timeout_s) as pinger:
            local = pinger.local_mtu()
            search = largest_passing(
                pinger.send, pinger.smallest, local, tries=tries, budget=budget
            )
        mode = "icmp"
        segment = None
    return ProbeResult(
        target=target
        if port is None
        else f"{target}:{port}"
        if version == 4
        else f"[{target}]:{port}",
        ip_version=version,
        mode=mode,
        via=via,
        tunnel=tunnel,
        local_mtu=local,
        search=search,
        tunnel_mtu_now=local if via == VIA_TUNNEL else tunnel_mtu_now,
        largest_segment=segment,
    )


def parse_target(target: str) -> tuple[str, int | None]:
    """(address, port or None) from "10.0.0.2", "10.0.0.2:8080", "fd00::2" or "[fd00::2]:8080"."""
    if target.startswith("["):
        address, _, rest = target[1:].partition("]")
        if not rest.startswith(":") or not is_number(rest[1:]):
            raise ValueError(f"{target!r}: expected [IPv6]:PORT")
        return address, _port(rest[1:])
    if target.count(":") == 1:
        address, _, port = target.partition(":")
        if not is_number(port):
            raise ValueError(f"{target!r}: expected HOST:PORT with a numeric port")
        return address, _port(port)
    return target, None


def _port(text: str) -> int:
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is outside 1..65535")
    return port


def interface_endpoints(interface: str) -> tuple[list[str], int]:
    """(its peers' endpoints, its MTU) for a live WireGuard interface: `wg show IFACE
    endpoints` and `ip -j link show IFACE`. OSError when either cannot tell."""
    tools = {name: shutil.which(name) for name in ("wg", "ip")}
    if None in tools.values():
        raise OSError("needs wg (wireguard-tools) and ip (iproute2)")
    try:
        shown = subprocess.run(
            [str(tools["wg"]), "show", interface, "endpoints"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
        link = json.loads(
            subprocess.run(
                [str(tools["ip"]), "-j", "link", "show", interface],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout
        )
    except subprocess.CalledProcessError as exc:
        raise OSError(f"{interface}: {(exc.stderr or '').strip() or 'no such interface'}") from exc
    except (subprocess.SubprocessError, ValueError) as exc:
        raise OSError(f"{interface}: {exc}") from exc
    endpoints = [
        fields[1]
        for fields in (line.split("\t") for line in shown.splitlines())
        if len(fields) == 2 and fields[1] != "(none)"
    ]
    return endpoints, int(link[0]["mtu"])


def egress_interface(target: str) -> str | None:
    """The interface the route to `target` leaves by (`ip route get`), or None."""
    ip = shutil.which("ip")
    if ip is None:
        return None
    try:
        out = subprocess.run(
            [ip, "-j", "route", "get", target],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
        routes = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    device = routes[0].get("dev") if isinstance(routes, list) and routes else None
    return device if isinstance(device, str) else None
