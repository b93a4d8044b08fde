"""What one lab run builds and does, as a checked, immutable value.

A `Scenario` is the whole configuration of a run: it is validated once, here, so the rest of the
lab can trust it, and it is written verbatim into the run's sidecar JSON. The defaults reproduce
the incident pcapmtu was written for: WireGuard MTU 1420 over a 1400-byte underlay path with
ICMP "fragmentation needed" dropped, and an HTTP GET of a ~1760-byte response.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pcapmtu.errors import UsageError

Workload = Literal[
    "get", "upload", "bulk", "many", "services", "keepalive", "stalled-reader", "tls", "ssh"
]
Side = Literal["home", "proxy", "both"]

WORKLOADS: tuple[str, ...] = (
    "get",
    "upload",
    "bulk",
    "many",
    "services",
    "keepalive",
    "stalled-reader",
    "tls",
    "ssh",
)
# What happens to the path between the routers during the workload, `event_at_s` after it
# starts: its MTU falls to `event_path_mtu` (a route change, a failover link), or it stops
# carrying anything (a cut link, a firewall dropping everything).
PATH_EVENTS: tuple[str, ...] = ("none", "mtu", "outage")
# The keep-alive workload's responses, the last of the default size: small ones first.
DEFAULT_KEEP_ALIVE = (300, 600)
DEFAULT_PAUSE_S = 1.0
# Where tcpdump listens: the namespace's role and the interface inside it.
CAPTURE_POINTS: dict[str, tuple[str, str]] = {
    "home-wg0": ("home", "wg0"),
    "proxy-wg0": ("proxy", "wg0"),
    "home-vxlan0": ("home", "vxlan0"),
    "proxy-vxlan0": ("proxy", "vxlan0"),
    "home-underlay": ("home", "eth0"),
    "proxy-underlay": ("proxy", "eth0"),
    "home-any": ("home", "any"),
}
# The tunnel between home and proxy: WireGuard, the kernel's VXLAN (with DF set on the outer
# header), or none (the HTTP traffic goes over the underlay itself: eth0's MTU is --wg-mtu).
TUNNEL_KINDS: tuple[str, ...] = ("wireguard", "vxlan", "none")
# The capture points that exist with each tunnel.
_POINTS_OF = {
    "wireguard": {"home-wg0", "proxy-wg0", "home-underlay", "proxy-underlay", "home-any"},
    "vxlan": {"home-vxlan0", "proxy-vxlan0", "home-underlay", "proxy-underlay", "home-any"},
    "none": {"home-underlay", "proxy-underlay", "home-any"},
}
ICMP_MODES: tuple[str, ...] = ("blocked", "allowed")
WIREGUARD_IMPLEMENTATIONS: tuple[str, ...] = ("auto", "kernel", "userspace")
FORMATS: tuple[str, ...] = ("pcap", "pcapng")
TSTAMP_PRECISIONS: tuple[str, ...] = ("micro", "nano")

# The incident: wg-quick's default MTU (1500 - 80) over a path that is 100 bytes short.
DEFAULT_WG_MTU = 1420
DEFAULT_PATH_MTU = 1400
# Response sizes: the incident's ~1760-byte response is one full segment plus a smaller one.
DEFAULT_RESPONSE_BYTES: dict[str, int] = {
    "get": 1760,
    "bulk": 3_000_000,
    "many": 20_000,
    "services": 20_000,
    "stalled-reader": 1_000_000,
    "tls": 300,  # the handshake's certificate chain is the large part
}
DEFAULT_UPLOAD_BYTES = 100_000
DEFAULT_TIMEOUT_S = 10.0
# The routers pace the underlay with a token bucket so wireguard-go's UDP receive buffer
# (net.core.rmem_* is read-only inside a namespace) never overflows: every loss is asked for.
DEFAULT_RATE_MBIT = 100
DEFAULT_SNAPLEN = 262_144  # tcpdump's own default

IPV4_MIN_MTU = 576  # RFC 791: every IPv4 host must accept 576-byte datagrams
IPV6_MIN_MTU = 1280  # RFC 8200 section 5
MAX_MTU = 9000  # jumbo frames; veth allows more, but no real tunnel path does
MIN_CLAMP_MSS = 536  # RFC 879: the MSS every IPv4 host accepts
MIN_SNAPLEN = 64  # enough for the IP and TCP headers tcpdump keeps of each packet
MAX_TIMEOUT_S = 600.0
MAX_RESPONSE_BYTES = 50_000_000
MIN_RESPONSE_BYTES = 200  # the HTTP status line and headers need about 100 bytes
MAX_LOSS_PERCENT = 50.0
MAX_RATE_MBIT = 10_000

# Only the network stack's own knobs may be set, and only with plain values.
_SYSCTL_KEY = re.compile(r"^net\.(ipv4|ipv6|core)\.[A-Za-z0-9_.\-]+$")
_SYSCTL_VALUE = re.compile(r"^[A-Za-z0-9_ \-]{1,64}$")


@dataclass(frozen=True)
class Sysctl:
    """A kernel setting applied in one or both endpoint namespaces before the workload."""

    key: str
    value: str
    side: Side = "both"

    @classmethod
    def parse(cls, text: str) -> Sysctl:
        """Parse `[home:|proxy:]net.ipv4.tcp_mtu_probing=1`."""
        side: Side = "both"
        body = text
        for prefix in ("home", "proxy"):
            if text.startswith(prefix + ":"):
                side = "home" if prefix == "home" else "proxy"
                body = text[len(prefix) + 1 :]
        key, sep, value = body.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _SYSCTL_KEY.match(key) or not _SYSCTL_VALUE.match(value):
            raise UsageError(
                f"bad sysctl {text!r}: expected [home:|proxy:]net.<ipv4|ipv6|core>.<name>=<value>"
            )
        return cls(key=key, value=value, side=side)

    def __str__(self) -> str:
        prefix = "" if self.side == "both" else f"{self.side}:"
        return f"{prefix}{self.key}={self.value}"


@dataclass(frozen=True)
class Scenario:
    """One lab run: topology, tunnel, capture points and workload. Validated on creation."""

    path_mtu: int = DEFAULT_PATH_MTU
    wg_mtu_home: int = DEFAULT_WG_MTU
    wg_mtu_proxy: int = DEFAULT_WG_MTU
    outer: int = 4
    inner: int = 4
    icmp: str = "blocked"
    captures: tuple[str, ...] = ("home-wg0",)
    snaplen: int = DEFAULT_SNAPLEN
    tstamp_precision: str = "micro"
    format: str = "pcap"
    workload: str = "get"
    response_bytes: int | None = None
    upload_bytes: int = DEFAULT_UPLOAD_BYTES
    sysctls: tuple[Sysctl, ...] = field(default_factory=tuple)
    loss_percent: float = 0.0
    rate_mbit: int = DEFAULT_RATE_MBIT
    timeout_s: float = DEFAULT_TIMEOUT_S
    wireguard: str = "auto"
    clamp_mss: int | None = None  # MSS clamping on both peers' wg0, for the second service only
    keep_alive: tuple[int, ...] = ()  # keepalive: the response sizes, in order, on one connection
    pause_s: float = DEFAULT_PAUSE_S  # keepalive: between one response and the next request
    path_event: str = "none"
    event_at_s: float = 0.0  # seconds after the workload starts
    event_path_mtu: int | None = None  # path_event "mtu": the path's MTU from then on
    capture_after_s: float = 0.0  # start capturing this long after the workload starts
    tunnel: str = "wireguard"

    def __post_init__(self) -> None:
        _check_choice("--outer", self.outer, (4, 6))
        _check_choice("--inner", self.inner, (4, 6))
        _check_choice("--icmp", self.icmp, ICMP_MODES)
        _check_choice("--workload", self.workload, WORKLOADS)
        _check_choice("--format", self.format, FORMATS)
        _check_choice("--tstamp-precision", self.tstamp_precision, TSTAMP_PRECISIONS)
        _check_choice("--wireguard", self.wireguard, WIREGUARD_IMPLEMENTATIONS)
        if not self.captures:
            raise UsageError("at least one --capture point is needed")
        for point in self.captures:
            _check_choice("--capture", point, tuple(CAPTURE_POINTS))
        _check_choice("--tunnel", self.tunnel, TUNNEL_KINDS)
        missing = [p for p in self.captures if p not in _POINTS_OF[self.tunnel]]
        if missing:
            raise UsageError(
                f"--capture {', '.join(missing)}: no such point with --tunnel {self.tunnel} "
                f"(there are: {', '.join(sorted(_POINTS_OF[self.tunnel]))})"
            )
        if len(set(self.captures)) != len(self.captures):
            raise UsageError(f"--capture names a point twice: {', '.join(self.captures)}")
        outer_min = IPV6_MIN_MTU if self.outer == 6 else IPV4_MIN_MTU
        _check_range("--path-mtu", self.path_mtu, outer_min, MAX_MTU, f"IPv{self.outer} underlay")
        inner_min = IPV6_MIN_MTU if self.inner == 6 else IPV4_MIN_MTU
        for name, mtu in (("home", self.wg_mtu_home), ("proxy", self.wg_mtu_proxy)):
            _check_range(f"--wg-mtu ({name})", mtu, inner_min, MAX_MTU, f"IPv{self.inner} inside")
        _check_range("--snaplen", self.snaplen, MIN_SNAPLEN, DEFAULT_SNAPLEN, "bytes")
        _check_range("--timeout", self.timeout_s, 1.0, MAX_TIMEOUT_S, "seconds")
        _check_range("--loss", self.loss_percent, 0.0, MAX_LOSS_PERCENT, "percent")
        _check_range("--rate", self.rate_mbit, 1, MAX_RATE_MBIT, "Mbit/s")
        _check_range("--upload-bytes", self.upload_bytes, 1, MAX_RESPONSE_BYTES, "bytes")
        if self.clamp_mss is not None:
            _check_range("--clamp-mss", self.clamp_mss, MIN_CLAMP_MSS, MAX_MTU, "bytes")
        _check_choice("--path-event", self.path_event, PATH_EVENTS)
        if self.path_event != "none":
            _check_range("--event-at", self.event_at_s, 0.0, self.timeout_s, "seconds")
        if (self.path_event == "mtu") != (self.event_path_mtu is not None):
            raise UsageError("--event-path-mtu goes with --path-event mtu, and only with it")
        if self.event_path_mtu is not None:
            _check_range("--event-path-mtu", self.event_path_mtu, outer_min, MAX_MTU, "bytes")
        _check_range("--capture-after", self.capture_after_s, 0.0, self.timeout_s, "seconds")
        _check_range("--pause", self.pause_s, 0.0, self.timeout_s, "seconds")
        if self.keep_alive and self.workload != "keepalive":
            raise UsageError("--keep-alive sizes go with --workload keepalive only")
        for size in self.keep_alive:
            _check_range("--keep-alive", size, MIN_RESPONSE_BYTES, MAX_RESPONSE_BYTES, "bytes")
        if self.response_bytes is not None:
            _check_range(
                "--response-bytes",
                self.response_bytes,
                MIN_RESPONSE_BYTES,
                MAX_RESPONSE_BYTES,
                "bytes",
            )

    @property
    def effective_response_bytes(self) -> int:
        """The size of the (largest) HTTP response the workload asks for."""
        if self.response_bytes is not None:
            return self.response_bytes
        return DEFAULT_RESPONSE_BYTES.get(self.workload, DEFAULT_RESPONSE_BYTES["get"])

    @property
    def keep_alive_sizes(self) -> tuple[int, ...]:
        """The keepalive workload's responses: as given, or small ones and then the default."""
        return self.keep_alive or (*DEFAULT_KEEP_ALIVE, self.effective_response_bytes)

    def to_dict(self) -> dict[str, Any]:
        """Every setting, as written into the sidecar JSON."""
        data = asdict(self)
        data["sysctls"] = [str(s) for s in self.sysctls]
        data["captures"] = list(self.captures)
        data["response_bytes"] = self.effective_response_bytes
        data["keep_alive"] = list(self.keep_alive_sizes) if self.workload == "keepalive" else []
        return data


def _check_choice(option: str, value: object, choices: tuple[object, ...]) -> None:
    if value not in choices:
        allowed = ", ".join(str(c) for c in choices)
        raise UsageError(f"{option} {value!r} is not one of: {allowed}")


def _check_range(option: str, value: float, low: float, high: float, unit: str) -> None:
    if not low <= value <= high:
        raise UsageError(f"{option} {value} is outside {low}..{high} ({unit})")
