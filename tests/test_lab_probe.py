"""`pcapmtu probe` against the truth (issue 12, point 5): real lab paths of known MTU, the probe
run inside the home namespace as a user would, its answer compared with what the path is, and
the MTU it recommends set for real (Linux, root)."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace

import pytest

from pcapmtu.lab import Scenario, run_scenario
from pcapmtu.lab.runner import LiveLab, running
from pcapmtu.tunnels import WIREGUARD

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_ready")]
WG_MTU = 1420  # the lab's tunnel MTU: wg-quick's default
CASES = [
    *((mtu, 4, "blocked") for mtu in (1280, 1380, 1400, 1412, 1420, 1450, 1472, 1492, 1500)),
    *((mtu, 6, "blocked") for mtu in (1280, 1380, 1400, 1412, 1420, 1450, 1472, 1492, 1500)),
    *((mtu, 4, "allowed") for mtu in (1280, 1400, 1492)),
    *((mtu, 6, "allowed") for mtu in (1280, 1400, 1492)),
]


def _probe(lab: LiveLab, via: str) -> dict[str, object]:
    target = lab.address("proxy", via)
    argv = [sys.executable, "-m", "pcapmtu", "probe", target, "--via", via, "--json"]
    return json.loads(lab.run("home", [*argv, "--timeout", "0.2", "--tries", "2"]))  # type: ignore[no-any-return]


def _largest_inner(path_mtu: int, outer: int) -> int:
    """The truth through the tunnel, from WireGuard's rule, not from pcapmtu's code: the largest
    inner packet n <= the tunnel MTU with min(ceil16(n), MTU) + overhead <= the path."""
    overhead = 60 if outer == 4 else 80
    fits = [
        n
        for n in range(576, WG_MTU + 1)
        if min(math.ceil(n / 16) * 16, WG_MTU) + overhead <= path_mtu
    ]
    return max(fits)


@pytest.mark.parametrize(
    ("path_mtu", "outer", "icmp"), CASES, ids=[f"{m}-v{o}-{i}" for m, o, i in CASES]
)
def test_the_probe_measures_the_path_exactly(path_mtu: int, outer: int, icmp: str) -> None:
    with running(Scenario(path_mtu=path_mtu, outer=outer, icmp=icmp)) as lab:
        underlay = _probe(lab, "underlay")
        tunnel = _probe(lab, "tunnel")
    overhead = WIREGUARD.overhead(outer)
    # the underlay: exactly the path (the endpoints' own links are 1500 or the path, if larger)
    assert underlay["largest_passing"] == path_mtu
    assert underlay["smallest_failing"] in (path_mtu + 1, None)
    rec = underlay["recommendation"]
    assert isinstance(rec, dict) and rec["mtu"] == path_mtu - overhead
    if icmp == "allowed":
        # PMTUD works: the sender learns the path MTU and fragments the tunnel's UDP, so every
        # inner size up to the tunnel's MTU gets through; it fits
        assert (tunnel["largest_passing"], tunnel["fits"]) == (WG_MTU, True)
        return
    # through the tunnel: the largest inner packet, WireGuard's padding applied; never above
    inner = _largest_inner(path_mtu, outer)
    assert tunnel["largest_passing"] == inner
    rec = tunnel["recommendation"]
    assert isinstance(rec, dict)
    assert rec["mtu"] <= min(path_mtu - overhead, WG_MTU)
    if rec["max_mtu"] is not None:
        assert rec["mtu"] <= path_mtu - overhead <= rec["max_mtu"]
    assert tunnel["fits"] is (path_mtu - overhead >= WG_MTU)


@pytest.mark.parametrize(("path_mtu", "outer"), [(1400, 4), (1412, 4), (1400, 6)])
def test_the_mtu_the_probe_recommends_makes_the_transfer_complete(
    path_mtu: int, outer: int, tmp_path: object
) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    scenario = Scenario(path_mtu=path_mtu, outer=outer, timeout_s=4.0)
    with running(scenario) as lab:
        rec = _probe(lab, "underlay")["recommendation"]
        through = _probe(lab, "tunnel")["recommendation"]
    assert isinstance(rec, dict) and isinstance(through, dict)
    # what the probe through the tunnel proves works too (it is the padded size, at most that)
    proven = run_scenario(
        replace(scenario, wg_mtu_home=through["mtu"], wg_mtu_proxy=through["mtu"]),
        tmp_path / "p.pcap",
    )
    assert proven.outcome.complete, through
    fixed = run_scenario(
        replace(scenario, wg_mtu_home=rec["mtu"], wg_mtu_proxy=rec["mtu"]), tmp_path / "f.pcap"
    )
    assert fixed.outcome.complete, rec
    one_more = run_scenario(
        replace(scenario, wg_mtu_home=rec["mtu"] + 1, wg_mtu_proxy=rec["mtu"] + 1),
        tmp_path / "g.pcap",
    )
    assert not one_more.outcome.complete  # exact: one byte more black-holes again


def test_the_probe_judges_a_wg_quick_config(tmp_path: object) -> None:
    """`--endpoint-from wg0.conf`: the peer's Endpoint is probed on the underlay, and the
    config's MTU judged against the path measured (wg-quick's 1420 over a 1400-byte path)."""
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    with running(Scenario(path_mtu=1400)) as lab:
        conf = tmp_path / "wg0.conf"
        endpoint = lab.address("proxy", "underlay")
        for mtu, fits in ((1420, False), (1340, True)):
            conf.write_text(f"[Interface]\nMTU = {mtu}\n\n[Peer]\nEndpoint = {endpoint}:51820\n")
            argv = [sys.executable, "-m", "pcapmtu", "probe", "--endpoint-from", str(conf)]
            result = json.loads(
                lab.run("home", [*argv, "--json", "--timeout", "0.2", "--tries", "2"])
            )
            assert (result["target"], result["tunnel_mtu_now"]) == (endpoint, mtu)
            assert result["fits"] is fits


TCP_CASES = [
    *((mtu, 4) for mtu in (1280, 1380, 1400, 1412, 1420, 1450, 1472, 1492, 1500)),
    *((mtu, 6) for mtu in (1280, 1400, 1500)),
]


@pytest.mark.parametrize(("path_mtu", "outer"), TCP_CASES, ids=[f"{m}-v{o}" for m, o in TCP_CASES])
def test_the_tcp_mode_measures_the_tunnel_without_raw_sockets(path_mtu: int, outer: int) -> None:
    """From the client (proxy), against the lab's HTTP server through the tunnel, with the
    capability for raw sockets dropped (as a user without root has it): the server's packets
    towards us, the same answer as the ICMP mode's, by WireGuard's rule."""
    with running(Scenario(path_mtu=path_mtu, outer=outer)) as lab:
        server = lab.address("home", "tunnel")
        target = f"{server}:8080" if ":" not in server else f"[{server}]:8080"
        argv = [sys.executable, "-m", "pcapmtu", "probe", target, "--path", "/bytes/20000"]
        no_raw = ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--"]
        result = json.loads(
            lab.run("proxy", [*no_raw, *argv, "--json", "--timeout", "0.2", "--tries", "2"])
        )
    assert (result["mode"], result["via"]) == ("tcp", "tunnel")
    assert result["largest_passing"] == _largest_inner(path_mtu, outer)
    # TCP_INFO saw segments that large arrive: the largest passing size's payload, within the
    # 12 bytes of TCP timestamps the server puts in each segment
    mss = result["largest_passing"] - 40  # IPv4 inside the tunnel, whatever the underlay
    segment = result["largest_segment_received"]
    assert isinstance(segment, int) and mss - 12 <= segment <= mss
    assert result["fits"] is (path_mtu - WIREGUARD.overhead(outer) >= WG_MTU)


@pytest.mark.parametrize(("path_mtu", "outer"), [(1400, 4), (1450, 4), (1400, 6)])
def test_the_tcp_mode_measures_uploads_too(path_mtu: int, outer: int) -> None:
    """`--upload`: the client's own packets towards the server, Don't Fragment forced, pass
    when acknowledged; the lab's path is the same both ways, so is the answer."""
    with running(Scenario(path_mtu=path_mtu, outer=outer)) as lab:
        server = lab.address("home", "tunnel")
        target = f"{server}:8080" if ":" not in server else f"[{server}]:8080"
        argv = [sys.executable, "-m", "pcapmtu", "probe", target, "--upload", "--path", "/up"]
        no_raw = ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--"]
        result = json.loads(
            lab.run("proxy", [*no_raw, *argv, "--json", "--timeout", "0.2", "--tries", "2"])
        )
    assert result["mode"] == "tcp-upload"
    assert result["largest_passing"] == _largest_inner(path_mtu, outer)
