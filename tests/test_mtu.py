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


def test_a_wide_bracket_recommends_what_works_and_states_the_bound() -> None:
    """The incident: 444 bytes crossed, 1420 did not. 1419 is only the bound; 1280 works."""
    r = mtu.recommend(mtu.Bracket(444, 1419), tunnel_mtu=1420)
    assert r is not None
    assert (r.mtu, r.basis, r.certainty, r.max_mtu) == (
        1280,
        "conservative",
        "safe",
        1419,
    )
    assert r.underlay_path_mtu == (508, 1479)
    assert (r.mss_ipv4, r.mss_ipv6) == (1240, 1220)
    # the confirmation probes the underlay, so it works whatever wg0's MTU is now
    assert r.confirm is not None and r.confirm.startswith("ping -M do -c 3 -s 1312 ENDPOINT")
    assert r.other_underlay == (1280, "conservative")


@pytest.mark.parametrize("tunnel_mtu", [1420, 1380, 1340])
@pytest.mark.parametrize("delivered", [None, 444, 1076, 1300])
def test_the_recommended_mtu_works_on_every_path_the_capture_allows(
    tunnel_mtu: int, delivered: int | None
) -> None:
    """For each real path MTU: what the capture of a black hole through it shows (the smallest
    inner packet lost, some smaller one delivered), and the MTU recommended from that must
    carry traffic on that path, unless it says it is only a bound."""
    for path in range(1300, 1500):
        lost = next(
            (n for n in range(576, tunnel_mtu + 1) if mtu.wg_outer_size(n, tunnel_mtu) > path),
            None,
        )
        if lost is None or (delivered is not None and delivered >= lost):
            continue  # no black hole on this path, or a capture it cannot produce
        r = mtu.recommend(mtu.Bracket(delivered, lost - 1), tunnel_mtu=tunnel_mtu)
        assert r is not None
        assert r.mtu <= r.max_mtu < lost
        if r.basis != mtu.BASIS_UPPER_BOUND:
            # every packet through a tunnel of that MTU fits the real path
            assert r.mtu + mtu.WG_OVERHEAD_IPV4 <= path, (path, r)
            assert r.certainty in ("exact", "safe")


@pytest.mark.parametrize("tunnel_mtu", [1420, 1380])
def test_from_full_size_segments_lost_it_works_on_any_path_of_1340_bytes_or_more(
    tunnel_mtu: int,
) -> None:
    """What TCP really shows: full-size segments (the tunnel's MTU) lost, small ones delivered.
    The capture cannot tell a 1340-byte path from a 1479-byte one; the recommendation works on
    both (and on a smaller path the confirmation ping fails first)."""
    for path in range(1340, mtu.wg_outer_size(tunnel_mtu, tunnel_mtu)):
        r = mtu.recommend(mtu.Bracket(444, tunnel_mtu - 1), tunnel_mtu=tunnel_mtu)
        assert r is not None and r.mtu + mtu.WG_OVERHEAD_IPV4 <= path


@pytest.mark.parametrize("tunnel_mtu", [1440, 1420, 1380, 1340])
def test_padded_sizes_seen_on_the_underlay_leave_as_they_are(tunnel_mtu: int) -> None:
    """WireGuard's messages on the underlay give inner sizes padded already, capped at a
    tunnel MTU the capture does not tell: 1380 padded left as 1440, not as a 1380-byte packet
    padded again under an assumed 1420 (1452). The path MTU stated is the message's, and the
    MTU recommended works on every path of 1340 bytes or more that lost it (as TCP's)."""
    r = mtu.recommend(mtu.Bracket(448, tunnel_mtu - 1), tunnel_mtu=None, padded=True)
    assert r is not None and r.underlay_path_mtu == (508, tunnel_mtu + 59)
    assert f"left as {tunnel_mtu + 60} bytes ({tunnel_mtu} + 60)" in r.reasons[0]
    assert r.mtu <= r.max_mtu < tunnel_mtu
    for path in range(1340, tunnel_mtu + 60):
        if r.basis != mtu.BASIS_UPPER_BOUND:
            assert r.mtu + mtu.WG_OVERHEAD_IPV4 <= path, (path, r)
    # an inner packet's size (TCP's) is padded: 1380 to 1392 under the assumed 1420
    unpadded = mtu.recommend(mtu.Bracket(448, 1379), tunnel_mtu=None)
    assert unpadded is not None and unpadded.underlay_path_mtu[1] == 1451


def test_icmp_next_hop_mtu_makes_it_exact() -> None:
    r = mtu.recommend(mtu.Bracket(None, None), tunnel_mtu=None, icmp_underlay_mtu=1400)
    assert r is not None
    assert (r.mtu, r.certainty, r.confirm) == (1340, "exact", None)
    r6 = mtu.recommend(
        mtu.Bracket(None, None), tunnel_mtu=None, icmp_underlay_mtu=1400, outer_version=6
    )
    assert r6 is not None and r6.mtu == 1320


def test_tight_bracket_is_exact() -> None:
    # 1328 bytes crossed (1388 on the underlay), 1329 did not (padded to 1344: 1404)
    r = mtu.recommend(mtu.Bracket(1328, 1328), tunnel_mtu=1420)
    assert r is not None and r.certainty == "exact" and r.mtu == 1328
    assert r.basis == "proven" and r.confirm is None


def test_a_path_too_small_for_1280_gets_the_bound_said_as_such() -> None:
    r = mtu.recommend(mtu.Bracket(None, 1250), tunnel_mtu=1420)
    assert r is not None and r.basis == "upper_bound" and r.certainty == "at_most"
    assert r.mtu == r.max_mtu < 1280


def test_ipv6_inside_below_1280_is_warned() -> None:
    r = mtu.recommend(mtu.Bracket(None, 1250), tunnel_mtu=1420, inner_version=6)
    assert r is not None and r.warnings and "1280" in r.warnings[0]


def test_nothing_to_recommend_without_evidence() -> None:
    assert mtu.recommend(mtu.Bracket(444, None), tunnel_mtu=1420) is None


def test_clamp_rules_cover_both_directions_families_and_the_hosts_own_traffic() -> None:
    rules = mtu.clamp_rules(1300, 1280)
    assert sum("FORWARD -o wg0" in r for r in rules) == 2 and sum("-i wg0" in r for r in rules) == 2
    assert sum("OUTPUT -o wg0" in r for r in rules) == 2  # connections the host itself opens
    assert sum("inet filter output" in r for r in rules) == 2
    assert any("ip6tables" in r and "1280" in r for r in rules)
    assert any('iifname "wg0"' in r and "ipv4" in r and "1300" in r for r in rules)
    ipv6_out = mtu.clamp_rules(1300, 1280, versions=(6,), outbound_only=True)
    assert len(ipv6_out) == 4 and set(ipv6_out) < set(rules)
    assert all("1280" in r and "-i wg0" not in r and "iifname" not in r for r in ipv6_out)


def test_clamped_mss_fits_even_when_the_tunnel_keeps_mtu_1420() -> None:
    """On a 1400-byte path MTU 1340 works, but clamping to 1340 - 40 = 1300 does not while wg0
    stays at 1420: 1340-byte packets are padded to 1344 and leave as 1404 bytes."""
    r = mtu.recommend(mtu.Bracket(None, None), tunnel_mtu=1420, icmp_underlay_mtu=1400)
    assert r is not None and r.mtu == 1340
    assert mtu.wg_outer_size(1300 + 40, 1420) == 1404  # the naive clamp still fails
    assert (r.mss_ipv4, r.mss_ipv6) == (1288, 1268)
    assert mtu.wg_outer_size(r.mss_ipv4 + 40, 1420) <= 1400
    assert mtu.wg_outer_size(r.mss_ipv6 + 60, 1420) <= 1400
