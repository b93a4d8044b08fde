"""The probe's search and arithmetic (issue 12), on a SIMULATED path: a function that answers
or drops each size as a path of known MTU, with loss, would. The real paths are in
tests/test_lab_probe.py."""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner

from pcapmtu import cli
from pcapmtu.probing.result import VIA_TUNNEL, VIA_UNDERLAY, ProbeResult
from pcapmtu.probing.search import BudgetSpent, Outcome, PathSilent, Search, largest_passing
from pcapmtu.tunnels import VXLAN, WIREGUARD, Tunnel


def simulated(mtu: int, local: int = 1500, loss: float = 0.0, seed: int = 1):  # type: ignore[no-untyped-def]
    draw = random.Random(seed)

    def send(size: int) -> Outcome:
        if size > local:
            return Outcome.TOO_BIG_HERE
        if draw.random() < loss:
            return Outcome.LOST
        return Outcome.PASSED if size <= mtu else Outcome.LOST

    return send


@pytest.mark.parametrize("mtu", [576, 1280, 1399, 1400, 1420, 1492, 1499])
def test_bisection_finds_the_exact_mtu(mtu: int) -> None:
    found = largest_passing(simulated(mtu), 28, 1500)
    assert (found.largest_passing, found.smallest_failing) == (mtu, mtu + 1)
    assert found.exact and found.sent <= 64


def test_a_path_that_carries_everything_takes_two_packets() -> None:
    found = largest_passing(simulated(9000), 28, 1500)
    assert (found.largest_passing, found.smallest_failing, found.local_limit) == (1500, None, 1500)
    assert found.sent == 2


@pytest.mark.parametrize("seed", range(10))
def test_random_loss_is_not_taken_for_size(seed: int) -> None:
    found = largest_passing(simulated(1400, loss=0.2, seed=seed), 28, 1500, budget=200)
    assert found.largest_passing == 1400


def test_silence_is_an_error_not_a_small_mtu() -> None:
    with pytest.raises(PathSilent, match="nothing answered"):
        largest_passing(simulated(0), 28, 1500)


def test_a_path_that_goes_silent_midway_is_an_error() -> None:
    calls = {"n": 0}

    def send(size: int) -> Outcome:
        calls["n"] += 1
        return Outcome.PASSED if calls["n"] < 3 and size <= 1400 else Outcome.LOST

    with pytest.raises(PathSilent, match="stopped answering"):
        largest_passing(send, 28, 1500)


def test_the_budget_bounds_the_packets() -> None:
    with pytest.raises(BudgetSpent) as spent:
        largest_passing(simulated(1400), 28, 1500, budget=10)
    assert spent.value.search.sent == 10


def test_a_router_report_counts_at_once() -> None:
    def send(size: int) -> Outcome:
        return Outcome.PASSED if size <= 1400 else Outcome.TOO_BIG_REPORTED

    found = largest_passing(send, 28, 1500)
    assert found.largest_passing == 1400
    assert sum(1 for _size, what in found.log if what == "too_big_reported") <= 11


def _result(
    via: str,
    largest: int,
    failing: int | None,
    local: int = 1420,
    tunnel: Tunnel = WIREGUARD,
    now: int | None = None,
) -> ProbeResult:
    search = Search(largest_passing=largest, smallest_failing=failing, sent=20)
    return ProbeResult("198.19.0.2", 4, "icmp", via, tunnel, local, search, tunnel_mtu_now=now)


def test_through_a_wireguard_tunnel_the_padding_is_explained() -> None:
    """The issue's own numbers: wg 1420 on a 1400-byte path: 1328 passes, 1329 does not (it
    leaves as 1344 + 60 = 1404); MTU 1328 is proven, the path allows up to 1343 (1340 is the
    truth, which the underlay probe gives)."""
    r = _result(VIA_TUNNEL, 1328, 1329, now=1420)
    assert (r.proven_mtu, r.max_mtu, r.fits, r.exit_code()) == (1328, 1343, False, 1)
    text = r.render_text()
    assert "1329 bytes is sent as 1344 plus its overhead" in text
    assert "MTU = 1328 is proven" in text and "at most 1343" in text


def test_the_underlay_gives_the_exact_mtu_per_tunnel() -> None:
    r = _result(VIA_UNDERLAY, 1400, 1401, local=1500, now=1420)
    assert (r.proven_mtu, r.max_mtu, r.exact, r.fits, r.exit_code()) == (1340, 1340, True, False, 1)
    assert "MTU = 1340 fits exactly" in r.render_text()
    vx = _result(VIA_UNDERLAY, 1400, 1401, local=1500, tunnel=VXLAN, now=1350)
    assert (vx.proven_mtu, vx.fits, vx.exit_code()) == (1350, True, 0)
    assert vx.to_dict()["recommendation"]["set_mtu"][0].startswith(
        "ip link set dev vxlan0 mtu 1350"
    )


def test_the_cli_refuses_what_is_not_an_address() -> None:
    result = CliRunner().invoke(cli.cli, ["probe", "example.org"])
    assert result.exit_code == 2 and "is not an IPv4 or IPv6 address" in result.output


def test_the_cli_help_states_the_bounds() -> None:
    text = CliRunner().invoke(cli.cli, ["probe", "--help"]).output
    assert "--budget" in text and "--timeout" in text and "Exit 0" in text


def test_config_check_takes_the_path_mtu_a_probe_measured(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    conf = tmp_path / "wg0.conf"
    conf.write_text("[Interface]\nMTU = 1380\n[Peer]\nEndpoint = 203.0.113.7:51820\n")
    measured = _result(VIA_UNDERLAY, 1400, 1401, local=1500)
    probe_json = tmp_path / "probe.json"
    probe_json.write_text(measured.to_json())
    run = CliRunner().invoke(cli.cli, ["config-check", "--path-mtu", str(probe_json), str(conf)])
    assert run.exit_code == 1 and "FAIL" in run.output and "1340" in run.output
    through = tmp_path / "through.json"
    through.write_text(_result(VIA_TUNNEL, 1328, 1329).to_json())
    refused = CliRunner().invoke(cli.cli, ["config-check", "--path-mtu", str(through), str(conf)])
    assert refused.exit_code == 2 and "only that measures the path itself" in refused.output


def test_analyze_takes_the_measured_path_and_is_then_exact(tmp_path: object) -> None:
    from pathlib import Path

    from pcapmtu import analyze
    from tests.conftest import SAMPLES

    assert isinstance(tmp_path, Path)
    probe_json = tmp_path / "probe.json"
    probe_json.write_text(_result(VIA_UNDERLAY, 1400, 1401, local=1500).to_json())
    report = analyze(SAMPLES / "incident.home-wg0.pcap", measured_path_mtu=1400)
    r = report.recommendation
    assert r is not None and (r.mtu, r.basis, r.certainty) == (1340, "measured", "exact")
    assert report.probe_commands() == ()
    run = CliRunner().invoke(
        cli.cli,
        ["analyze", "--measured", str(probe_json), str(SAMPLES / "incident.home-wg0.pcap")],
    )
    assert "FIX: set MTU = 1340 in [Interface] on both peers" in run.output


@pytest.mark.parametrize(
    ("given", "parsed"),
    [
        ("10.0.0.2", ("10.0.0.2", None)),
        ("10.0.0.2:8080", ("10.0.0.2", 8080)),
        ("fd00::2", ("fd00::2", None)),
        ("[fd00::2]:443", ("fd00::2", 443)),
    ],
)
def test_targets_with_a_port_are_tcp_mode(given: str, parsed: tuple[str, int | None]) -> None:
    from pcapmtu.probing import parse_target

    assert parse_target(given) == parsed


@pytest.mark.parametrize("bad", ["10.0.0.2:http", "10.0.0.2:0", "[fd00::2]", "[fd00::2]:x"])
def test_bad_targets_are_refused(bad: str) -> None:
    from pcapmtu.probing import parse_target

    with pytest.raises(ValueError):
        parse_target(bad)


def test_the_endpoint_of_a_live_interface(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--endpoint-from wg0`: its peer from `wg show wg0 endpoints` and its MTU from `ip link`
    (SYNTHETIC stand-ins for the two tools, printing what they print)."""
    from pathlib import Path

    from pcapmtu.probing import interface_endpoints

    assert isinstance(tmp_path, Path)
    wg_says = "kXyZpub=\t127.0.0.1:51820\nkOther=\t(none)\n"
    ip_says = '[{"ifname": "wg0", "mtu": 1420}]'
    for tool, says in (("wg", wg_says), ("ip", ip_says)):  # printf: a builtin, no PATH needed
        (tmp_path / tool).write_text(f"#!/bin/sh\nprintf '%s' '{says}'\n")
    for tool in ("wg", "ip"):
        (tmp_path / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert interface_endpoints("wg0") == (["127.0.0.1:51820"], 1420)
