"""The scenario's defaults and its validation (no root needed)."""

from __future__ import annotations

import pytest

from pcapmtu.errors import UsageError
from pcapmtu.lab.scenario import Scenario, Sysctl


def test_defaults_reproduce_the_incident() -> None:
    s = Scenario()
    assert (s.wg_mtu_home, s.wg_mtu_proxy, s.path_mtu, s.icmp) == (1420, 1420, 1400, "blocked")
    assert s.workload == "get"
    assert s.effective_response_bytes == 1760
    assert s.captures == ("home-wg0",)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"outer": 6, "path_mtu": 1279}, "--path-mtu 1279"),
        ({"inner": 6, "wg_mtu_home": 1200}, "--wg-mtu (home) 1200"),
        ({"path_mtu": 100}, "--path-mtu 100"),
        ({"captures": ()}, "at least one --capture"),
        ({"captures": ("home-wg0", "home-wg0")}, "--capture names a point twice"),
        ({"captures": ("router-wg0",)}, "--capture 'router-wg0'"),
        ({"icmp": "sometimes"}, "--icmp 'sometimes'"),
        ({"loss_percent": 75.0}, "--loss 75.0"),
        ({"timeout_s": 0.0}, "--timeout 0.0"),
        ({"response_bytes": 10}, "--response-bytes 10"),
        ({"snaplen": 10}, "--snaplen 10"),
        ({"outer": 5}, "--outer 5"),
        ({"tunnel": "gre"}, "--tunnel 'gre'"),
        ({"tunnel": "none"}, "--capture home-wg0: no such point with --tunnel none"),
        ({"tunnel": "vxlan", "captures": ("proxy-wg0",)}, "--capture proxy-wg0: no such point"),
        ({"path_event": "flood"}, "--path-event 'flood'"),
        ({"path_event": "mtu"}, "--event-path-mtu goes with --path-event mtu"),
        ({"event_path_mtu": 1300}, "--event-path-mtu goes with --path-event mtu"),
        ({"path_event": "mtu", "event_path_mtu": 500}, "--event-path-mtu 500"),
        ({"path_event": "outage", "event_at_s": 99.0}, "--event-at 99.0"),
        ({"capture_after_s": -1.0}, "--capture-after -1.0"),
        ({"keep_alive": (300,)}, "--keep-alive sizes go with --workload keepalive"),
        ({"workload": "keepalive", "keep_alive": (10,)}, "--keep-alive 10"),
    ],
)
def test_impossible_values_are_refused_with_the_value(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Scenario(**changes)  # type: ignore[arg-type]


def test_ipv6_bounds_are_accepted_at_the_minimum() -> None:
    s = Scenario(outer=6, inner=6, path_mtu=1280, wg_mtu_home=1280, wg_mtu_proxy=1280)
    assert s.path_mtu == 1280


@pytest.mark.parametrize(
    ("text", "side", "key", "value"),
    [
        ("net.ipv4.tcp_mtu_probing=1", "both", "net.ipv4.tcp_mtu_probing", "1"),
        ("home:net.ipv4.tcp_sack=0", "home", "net.ipv4.tcp_sack", "0"),
        (
            "proxy:net.ipv4.tcp_rmem=4096 131072 6291456",
            "proxy",
            "net.ipv4.tcp_rmem",
            "4096 131072 6291456",
        ),
    ],
)
def test_sysctl_parsing(text: str, side: str, key: str, value: str) -> None:
    sysctl = Sysctl.parse(text)
    assert (sysctl.side, sysctl.key, sysctl.value) == (side, key, value)
    assert str(sysctl) == text


@pytest.mark.parametrize(
    "text",
    [
        "kernel.panic=1",  # not a network setting
        "net.ipv4.tcp_sack",  # no value
        "net.ipv4.tcp_sack=0; rm -rf /",  # shell metacharacters
        "net.ipv4.../../../etc/passwd=1",  # a path, not a key
        "router:net.ipv4.tcp_sack=0",  # no such side
    ],
)
def test_sysctl_refuses_anything_but_a_plain_network_setting(text: str) -> None:
    with pytest.raises(UsageError, match="bad sysctl"):
        Sysctl.parse(text)


def test_to_dict_records_every_setting() -> None:
    s = Scenario(workload="bulk", sysctls=(Sysctl.parse("home:net.ipv4.tcp_sack=0"),))
    data = s.to_dict()
    assert data["response_bytes"] == 3_000_000
    assert data["sysctls"] == ["home:net.ipv4.tcp_sack=0"]
    assert set(data) >= {
        "path_mtu",
        "wg_mtu_home",
        "wg_mtu_proxy",
        "outer",
        "inner",
        "icmp",
        "captures",
        "snaplen",
        "workload",
        "loss_percent",
        "timeout_s",
    }


def test_keep_alive_sizes_default_to_small_ones_then_the_response() -> None:
    assert Scenario(workload="keepalive").keep_alive_sizes == (300, 600, 1760)
    given = Scenario(workload="keepalive", keep_alive=(20_000, 1760))
    assert given.keep_alive_sizes == (20_000, 1760)
    assert given.to_dict()["keep_alive"] == [20_000, 1760]
