"""MTU arithmetic (pure functions)."""

from __future__ import annotations

import pytest

from pcapmtu import mtu


@pytest.mark.parametrize(
    ("inner", "wg_mtu", "outer_version", "outer"),
    [
        (1420, 1420, 4, 1480),  # the incident's full-size packet
        (444, 1420, 4, 508),  # padded to 448
        (1419, 1420, 4, 1480),  # padded to 1424, capped at the MTU
        (1340, 1340, 4, 1400),
        (1420, 1420, 6, 1500),
        (1, 1420, 4, 76),
    ],
)
def test_wireguard_outer_size(inner: int, wg_mtu: int, outer_version: int, outer: int) -> None:
    assert mtu.wg_outer_size(inner, wg_mtu, outer_version) == outer


def test_overheads_are_the_header_sums() -> None:
    assert mtu.WG_OVERHEAD_IPV4 == 60 and mtu.WG_OVERHEAD_IPV6 == 80


def test_mss_and_mtu() -> None:
    assert mtu.mtu_from_mss(1380, 4) == 1420 and mtu.mtu_from_mss(1360, 6) == 1420


def test_bracket_drops_contradictory_lower_bound() -> None:
    assert mtu.bracket(444, 1420) == mtu.Bracket(444, 1419)
    assert mtu.bracket(1500, 1420) == mtu.Bracket(None, 1419)


def test_recommendation_from_a_wide_bracket_is_an_upper_bound() -> None:
    r = mtu.recommend(mtu.Bracket(444, 1419), tunnel_mtu=1420, peer="198.19.0.2")
    assert r is not None
    assert (r.wireguard_mtu, r.certainty) == (1419, "at_most")
    assert r.underlay_path_mtu == (508, 1479)
    assert (r.mss_ipv4, r.mss_ipv6) == (1368, 1348)  # floor16(1419) = 1408
    assert r.confirm is not None and "-s 1391 198.19.0.2" in r.confirm


def test_recommendation_stays_below_every_dropped_size_after_padding() -> None:
    for dropped in range(600, 1500, 7):
        r = mtu.recommend(mtu.Bracket(None, dropped - 1), tunnel_mtu=1420)
        assert r is not None
        assert r.wireguard_mtu < dropped
        # every inner packet up to the recommended MTU leaves smaller than the dropped one did
        assert mtu.wg_outer_size(r.wireguard_mtu, r.wireguard_mtu) < mtu.wg_outer_size(
            dropped, 1420
        )


def test_icmp_next_hop_mtu_makes_it_exact() -> None:
    r = mtu.recommend(mtu.Bracket(None, None), tunnel_mtu=None, icmp_underlay_mtu=1400)
    assert r is not None
    assert (r.wireguard_mtu, r.certainty, r.confirm) == (1340, "exact", None)
    r6 = mtu.recommend(
        mtu.Bracket(None, None), tunnel_mtu=None, icmp_underlay_mtu=1400, outer_version=6
    )
    assert r6 is not None and r6.wireguard_mtu == 1320


def test_tight_bracket_is_exact() -> None:
    # 1328 bytes crossed (1388 on the underlay), 1329 did not (padded to 1344: 1404)
    r = mtu.recommend(mtu.Bracket(1328, 1328), tunnel_mtu=1420)
    assert r is not None and r.certainty == "exact" and r.wireguard_mtu == 1328


def test_ipv6_inside_below_1280_is_warned() -> None:
    r = mtu.recommend(mtu.Bracket(None, 1250), tunnel_mtu=1420, inner_version=6)
    assert r is not None and r.warnings and "1280" in r.warnings[0]


def test_nothing_to_recommend_without_evidence() -> None:
    assert mtu.recommend(mtu.Bracket(444, None), tunnel_mtu=1420) is None


def test_clamp_rules_cover_both_directions_and_families() -> None:
    rules = mtu.clamp_rules(1300, 1280)
    assert sum("-o wg0" in r for r in rules) == 2 and sum("-i wg0" in r for r in rules) == 2
    assert any("ip6tables" in r and "1280" in r for r in rules)
    assert any('iifname "wg0"' in r and "ipv4" in r and "1300" in r for r in rules)


def test_clamped_mss_fits_even_when_the_tunnel_keeps_mtu_1420() -> None:
    """On a 1400-byte path MTU 1340 works, but clamping to 1340 - 40 = 1300 does not while wg0
    stays at 1420: 1340-byte packets are padded to 1344 and leave as 1404 bytes."""
    r = mtu.recommend(mtu.Bracket(None, None), tunnel_mtu=1420, icmp_underlay_mtu=1400)
    assert r is not None and r.wireguard_mtu == 1340
    assert mtu.wg_outer_size(1300 + 40, 1420) == 1404  # the naive clamp still fails
    assert (r.mss_ipv4, r.mss_ipv6) == (1288, 1268)
    assert mtu.wg_outer_size(r.mss_ipv4 + 40, 1420) <= 1400
    assert mtu.wg_outer_size(r.mss_ipv6 + 60, 1420) <= 1400
