"""Whether a config's MTU fits a path: the arithmetic at its edges, and the words."""

from __future__ import annotations

import pytest

from pcapmtu.configcheck import (
    FITS,
    INVALID,
    TOO_BIG,
    UNKNOWN,
    effective_mtu,
    judge,
)
from pcapmtu.errors import InputFileError
from pcapmtu.mtu import wg_outer_size
from pcapmtu.wgconfig import parse_config


def _judged(text: str, path_mtu: int, outer: int = 4, **variables: int) -> tuple[str, str]:
    verdict = judge(parse_config(text, variables=variables), path_mtu=path_mtu, outer_version=outer)
    return verdict.status, verdict.reason


@pytest.mark.parametrize(
    ("path_mtu", "outer", "largest"),
    [
        (1500, 4, 1440),
        (1500, 6, 1420),
        (1492, 4, 1432),
        (1492, 6, 1412),
        (1460, 4, 1400),
        (1280, 6, 1200),
        (1400, 4, 1340),
    ],
)
def test_the_largest_mtu_that_fits_is_the_edge(path_mtu: int, outer: int, largest: int) -> None:
    assert _judged(f"[Interface]\nMTU = {largest}\n", path_mtu, outer)[0] == FITS
    status, reason = _judged(f"[Interface]\nMTU = {largest + 1}\n", path_mtu, outer)
    assert status == TOO_BIG
    assert f"set MTU = {largest} or lower" in reason


@pytest.mark.parametrize("outer", [4, 6])
def test_fits_exactly_when_every_wrapped_packet_fits(outer: int) -> None:
    """The verdict agrees with the size of the largest outer packet of each inner size."""
    path_mtu = 1400
    for mtu in range(1200, 1501):
        biggest = max(wg_outer_size(inner, mtu, outer) for inner in range(mtu - 40, mtu + 1))
        status, _ = _judged(f"[Interface]\nMTU = {mtu}\n", path_mtu, outer)
        assert (status == FITS) == (biggest <= path_mtu), mtu


def test_no_mtu_line_is_wg_quicks_choice() -> None:
    config = parse_config("[Interface]\nPrivateKey = x\n")
    fits = judge(config, path_mtu=1500, outer_version=6)
    assert fits.status == FITS and fits.mtu == 1420
    assert "wg-quick sets the MTU of the route to the endpoint minus 80" in fits.reason
    pppoe = judge(config, path_mtu=1492, outer_version=6)
    assert pppoe.status == TOO_BIG and pppoe.mtu == 1420
    smaller_link = judge(config, path_mtu=1492, outer_version=6, link_mtu=1492)
    assert smaller_link.status == FITS and smaller_link.mtu == 1412


def test_a_template_is_unknown_and_says_how_to_know() -> None:
    status, reason = _judged("[Interface]\nMTU = {{ wg_mtu | default(1420) }}\n", 1400)
    assert status == UNKNOWN
    assert "--var wg_mtu=N" in reason and "default 1420 does not fit" in reason
    assert "the largest that fits a 1400-byte path" in reason and "1340" in reason
    assert _judged("[Interface]\nMTU = {{ wg_mtu }}\n", 1400, wg_mtu=1340)[0] == FITS
    assert _judged("[Interface]\nMTU = {{ .MTU }}\n", 1400)[0] == UNKNOWN


def test_a_conditional_mtu_line_is_unknown() -> None:
    text = "[Interface]\n{% if wg_mtu %}\nMTU = 1340\n{% endif %}\n"
    status, reason = _judged(text, 1400)
    assert status == UNKNOWN and "template block" in reason


def test_what_wg_quick_would_refuse_is_invalid() -> None:
    assert _judged("[Interface]\nMTU = auto\n", 1400)[0] == INVALID
    assert _judged("[Interface]\n[Peer]\nMTU = 1300\n", 1400)[0] == INVALID


def test_notes_for_overridden_lines_and_small_mtus() -> None:
    verdict = judge(parse_config("[Interface]\nMTU = 1400\nMTU = 1200\n"), path_mtu=1500)
    assert verdict.status == FITS
    assert any("ignores line 2" in n for n in verdict.notes)
    assert any("below 1280" in n for n in verdict.notes)


def test_effective_mtu_for_the_lab() -> None:
    assert effective_mtu(parse_config("[Interface]\nMTU = 1380\n")) == (1380, "MTU = 1380 (line 2)")
    assert effective_mtu(parse_config("[Interface]\n"))[0] == 1420
    template = "[Interface]\nMTU = {{ wg_mtu | default(1420) }}\n"
    assert effective_mtu(parse_config(template, variables={"wg_mtu": 1412}))[0] == 1412
    with pytest.raises(InputFileError, match="--var wg_mtu=N"):
        effective_mtu(parse_config(template))


@pytest.mark.parametrize(
    ("endpoint", "versions", "status"),
    [
        ("[2001:db8::1]:51820", (6,), TOO_BIG),  # 1340 + 80 = 1420 > 1400
        ("192.0.2.1:51820", (4,), FITS),  # 1340 + 60 = 1400
        ("vpn.example.com:51820", (4, 6), TOO_BIG),  # a name: both, IPv6 decides
        (None, (4, 6), TOO_BIG),  # no Endpoint: a server, its peers may use either
    ],
)
def test_the_underlay_family_comes_from_the_endpoint(
    endpoint: str | None, versions: tuple[int, ...], status: str
) -> None:
    text = "[Interface]\nMTU = 1340\n" + (f"[Peer]\nEndpoint = {endpoint}\n" if endpoint else "")
    verdict = judge(parse_config(text), path_mtu=1400)
    assert (verdict.outer_versions, verdict.status) == (versions, status)
    assert "Endpoint" in verdict.reason
    assert judge(parse_config(text), path_mtu=1400, outer_version=4).status == FITS
