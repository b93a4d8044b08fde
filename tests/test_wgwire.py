"""WireGuard's messages off the wire, and both ends' underlay captures matched (issue 13): on
the real lab captures of the incident taken on both peers' eth0 (`underlay-both-ends`)."""

from __future__ import annotations

from pathlib import Path

from pcapmtu import analyze, wgwire
from pcapmtu.tunnels import WG_TRANSPORT
from tests.conftest import SAMPLES

HOME = SAMPLES / "underlay-both-ends.home-underlay.pcap"
PROXY = SAMPLES / "underlay-both-ends.proxy-underlay.pcap"


def test_transport_messages_tell_their_inner_size_and_name() -> None:
    home = list(wgwire.messages(HOME))
    transport = [m for m in home if m.kind == WG_TRANSPORT]
    assert transport and all(m.receiver is not None and m.counter is not None for m in transport)
    # 1420-byte inner packets (the tunnel's MTU: capped, not padded further) leave as 1480
    full = [m for m in transport if m.outer_ip_len == 1480]
    assert full and all(m.padded_inner == 1420 for m in full)
    assert all((m.padded_inner or 0) % 16 == 0 for m in transport if m.outer_ip_len < 1480)
    # counters only grow within a session, each name once
    names = [(m.receiver, m.counter) for m in transport]
    assert len(names) == len(set(names))


def test_the_two_ends_matched_by_counter_lose_exactly_the_large_messages() -> None:
    fates = wgwire.matched(wgwire.messages(HOME), wgwire.messages(PROXY))
    lost = [f.sent for f in fates if not f.delivered]
    delivered = [f.sent for f in fates if f.delivered]
    assert len(lost) >= 3 and {m.outer_ip_len for m in lost} == {1480}
    assert all(m.outer_ip_len < 1480 for m in delivered)
    # matching is by name alone: the order of the captures does not matter
    again = wgwire.matched(wgwire.messages(PROXY), wgwire.messages(HOME))
    assert sorted((f.sent.counter, f.delivered) for f in again) == sorted(
        (f.sent.counter, f.delivered) for f in fates
    )


def test_the_clocks_need_not_agree() -> None:
    """The proxy's capture shifted by an hour (SYNTHETIC shift of real messages): the same."""
    from dataclasses import replace

    shifted = [replace(m, ts=m.ts + 3600) for m in wgwire.messages(PROXY)]
    fates = wgwire.matched(wgwire.messages(HOME), shifted)
    plain = wgwire.matched(wgwire.messages(HOME), wgwire.messages(PROXY))
    assert [(f.sent.counter, f.delivered) for f in fates] == [
        (f.sent.counter, f.delivered) for f in plain
    ]


def test_both_underlays_together_prove_the_black_hole() -> None:
    report = analyze([HOME, PROXY])
    assert report.verdict == "black_hole"
    (finding,) = report.black_holes
    assert finding.side == "underlay" and finding.dropped_ip_len == 1420
    (path,) = [p for p in report.paths if p.smallest_dropped is not None]
    assert path.underlay and path.fits_max == 1419
    r = report.recommendation
    assert r is not None and r.underlay_path_mtu[1] == 1479
    for alone in (HOME, PROXY):
        single = analyze(alone)
        assert single.verdict == "inconclusive"
        assert "give the other end's underlay capture too" in (single.to_decide() or "")


def _fates(lost_at: list[float], small_after: float) -> list[wgwire.Fate]:
    """SYNTHETIC fates of one session: 1480-byte messages lost at `lost_at`, a 124-byte one
    delivered at `small_after`."""
    src, dst = bytes([198, 18, 1, 1]), bytes([198, 18, 3, 2])

    def message(counter: int, ts: float, size: int) -> wgwire.WgMessage:
        return wgwire.WgMessage("a", counter, ts, src, dst, 51820, 51820, size, 4, 7, counter)

    fates = [wgwire.Fate(message(i, t, 1480), False) for i, t in enumerate(lost_at)]
    return [*fates, wgwire.Fate(message(len(lost_at), small_after, 124), True)]


def test_a_burst_of_loss_is_not_a_black_hole_a_backing_off_resend_is() -> None:
    from pcapmtu.detect import DetectConfig, from_underlay

    config = DetectConfig()
    burst = _fates([10.0, 10.001, 10.002, 10.003], 11.0)  # four large messages lost at once
    assert from_underlay(burst, "a", config) == []
    resent = _fates([10.0, 10.2, 10.6, 11.4], 12.0)  # one packet, the timer doubling
    (finding,) = from_underlay(resent, "a", config)
    assert (finding.dropped_ip_len, finding.largest_delivered_ip_len) == (1420, 64)


def test_one_end_alone_shows_the_resend_but_cannot_prove_it() -> None:
    for name in ("underlay-both-ends.home-underlay.pcap", "outer-ipv6.home-underlay.pcap"):
        report = analyze(SAMPLES / name)
        assert report.verdict == "inconclusive"
        (suspected,) = report.suspected
        assert (suspected.side, suspected.dropped_ip_len) == ("underlay", 1420)
        assert suspected.transmissions >= 3
        assert "give the other end's underlay capture too" in (report.to_decide() or "")


def test_no_public_wireguard_capture_shows_the_resend_signature() -> None:
    from tests.test_corpus import CORPUS

    files = sorted(CORPUS.glob("wg_*")) if CORPUS.is_dir() else []
    if not files:
        import pytest

        pytest.skip("the public corpus is not beside the checkout")
    for path in files:
        kinds = {(f.kind, f.side) for f in analyze(path).findings}
        assert not {k for k in kinds if k[1] == "underlay"}, path.name


def test_both_underlays_of_a_path_whose_mtu_rose_prove_a_black_hole_the_path_recovered() -> None:
    """The `mtu-rises` sample's underlays: five 1420-byte messages lost, the sixth got there
    (a wrong inconclusive once, that asked for the other end's capture it had been given)."""
    home = SAMPLES / "mtu-rises.home-underlay.pcap"
    report = analyze([home, SAMPLES / "mtu-rises.proxy-underlay.pcap"])
    assert report.verdict == "black_hole"
    (finding,) = report.findings
    assert (finding.side, finding.dropped_ip_len, finding.transmissions) == ("underlay", 1420, 5)
    assert finding.recovered is not None and finding.recovered.by == "path"
    full = [m for m in wgwire.messages(home) if m.padded_inner == 1420]
    assert finding.path_rose_at == full[-1].ts  # the last copy got there
    (path,) = [p for p in report.paths if p.smallest_dropped is not None]
    assert path.underlay and path.fits_max == 1419 and path.mtu_rose_at == finding.path_rose_at


def _session(events: list[tuple[float, int, bool]]) -> list[wgwire.Fate]:
    """SYNTHETIC fates of one session: (time, outer size, delivered) per message."""
    src, dst = bytes([198, 18, 1, 1]), bytes([198, 18, 3, 2])
    return [
        wgwire.Fate(wgwire.WgMessage("a", i, t, src, dst, 51820, 51820, size, 4, 7, i), got)
        for i, (t, size, got) in enumerate(events)
    ]


LOST_RESENT = [(10.0, 1480, False), (10.05, 508, True), (10.2, 1480, False), (10.6, 1480, False)]


def test_a_resend_that_got_there_at_last_on_an_underlay_that_never_carried_its_size() -> None:
    from pcapmtu.detect import DetectConfig, from_underlay

    config = DetectConfig()
    (finding,) = from_underlay(_session([*LOST_RESENT, (11.4, 1480, True)]), "a", config)
    assert finding.recovered is not None and finding.recovered.by == "path"
    assert (finding.dropped_ip_len, finding.largest_delivered_ip_len) == (1420, 448)
    assert finding.path_rose_at == 11.4
    # carried before: a lossy link, or an MTU that fell and rose back
    assert (
        from_underlay(_session([(9.0, 1480, True), *LOST_RESENT, (11.4, 1480, True)]), "a", config)
        == []
    )
    # lost again after one got there
    again = [*LOST_RESENT, (11.4, 1480, True), (12.0, 1480, False)]
    assert from_underlay(_session(again), "a", config) == []
    # nothing smaller got there between the lost copies
    quiet = [m for m in LOST_RESENT if m[1] == 1480] + [(11.0, 508, True), (11.4, 1480, True)]
    assert from_underlay(_session(quiet), "a", config) == []


# -- both captures started late: the other capture's span tells it was running ---------------

LATE_HOME = SAMPLES / "underlay-late.home-underlay.pcap"
LATE_PROXY = SAMPLES / "underlay-late.proxy-underlay.pcap"


def _late() -> tuple[list[wgwire.WgMessage], list[wgwire.WgMessage], wgwire.Span, wgwire.Span]:
    home, home_span = wgwire.captured(LATE_HOME)
    proxy, proxy_span = wgwire.captured(LATE_PROXY)
    assert home_span is not None and proxy_span is not None
    return home, proxy, home_span, proxy_span


def _lost(fates: list[wgwire.Fate]) -> list[int]:
    return sorted(f.sent.counter or 0 for f in fates if not f.delivered)


def _arrival(counter: int, home: list[wgwire.WgMessage], proxy: list[wgwire.WgMessage]) -> float:
    """When home's message `counter` would have reached the proxy, on the proxy's clock:
    reckoned from the first message of its session the proxy holds."""
    sent = {m.counter or 0: m for m in home if m.receiver == home[0].receiver}
    seen = {m.counter or 0: m for m in proxy if m.receiver == home[0].receiver}
    near = min(seen)
    return seen[near].ts - (sent[near].ts - sent[counter].ts)


def test_a_message_missing_while_the_other_capture_ran_is_lost_though_no_counter_brackets_it() -> (
    None
):
    home, proxy, home_span, proxy_span = _late()
    full = [m for m in home if m.outer_ip_len == 1480]
    assert [m.counter for m in full] == [12, 13, 14, 15]
    assert all(m.receiver == home[0].receiver for m in full)
    # the proxy's capture holds none of that session's messages before the large ones
    assert min(m.counter or 0 for m in proxy if m.receiver == full[0].receiver) > 15
    # counters alone tell nothing of them
    assert not [f for f in wgwire.matched(home, proxy) if f.sent.outer_ip_len == 1480]
    # the proxy's own packets show it running from before the second copy would have arrived;
    # the first copy went before it started
    fates = wgwire.matched(home, proxy, (home_span, proxy_span))
    assert _lost(fates) == [13, 14, 15]
    started = proxy_span[0] + wgwire.RUNNING_MARGIN_S
    assert _arrival(12, home, proxy) < started <= _arrival(13, home, proxy)
    # either order of the captures, and either clock shifted by an hour: the same fates
    again = wgwire.matched(proxy, home, (proxy_span, home_span))
    assert sorted((f.sent.counter, f.delivered) for f in again) == sorted(
        (f.sent.counter, f.delivered) for f in fates
    )
    from dataclasses import replace

    shifted = [replace(m, ts=m.ts + 3600) for m in proxy]
    moved = (proxy_span[0] + 3600, proxy_span[1] + 3600)
    later = wgwire.matched(home, shifted, (home_span, moved))
    assert [(f.sent.counter, f.delivered) for f in later] == [
        (f.sent.counter, f.delivered) for f in fates
    ]


def test_a_capture_that_started_later_tells_nothing_of_what_came_before_it() -> None:
    """The proxy's capture as if it had started 0.2 s before the third copy would have
    arrived (its span moved, a SYNTHETIC change): only the copy after it is lost."""
    home, proxy, home_span, proxy_span = _late()
    later = (_arrival(14, home, proxy) - 0.2, proxy_span[1])
    fates = wgwire.matched(home, proxy, (home_span, later))
    assert _lost(fates) == [15]
    # nor after it: a capture that stopped before a message would have arrived
    earlier = (proxy_span[0], _arrival(15, home, proxy) + 0.2)
    fates = wgwire.matched(home, proxy, (home_span, earlier))
    assert _lost(fates) == [13, 14]


def test_both_ends_given_but_the_other_not_running_asks_for_both_again(tmp_path: Path) -> None:
    """The proxy's real capture cut to its last two packets (SYNTHETIC: as if it had started
    7 s late): the two ends are matched but cannot decide, and the report says so instead of
    asking for the capture it was given."""
    import dpkt

    cut = tmp_path / "late.proxy-underlay.pcap"
    with LATE_PROXY.open("rb") as f, cut.open("wb") as out:
        reader = dpkt.pcap.Reader(f)
        writer = dpkt.pcap.Writer(out, linktype=reader.datalink())
        for ts, data in list(reader)[-2:]:
            writer.writepkt(data, ts)
    report = analyze([LATE_HOME, cut])
    assert report.verdict == "inconclusive"
    assert report.other_end_given()
    assert "shows it running while too few of the copies were sent" in report.summary()
    assert (report.to_decide() or "").startswith("capture both ends' underlays again")
    alone = analyze(LATE_HOME)
    assert alone.verdict == "inconclusive" and not alone.other_end_given()
    assert "give the other end's underlay capture too" in (alone.to_decide() or "")


def _told(fates: list[wgwire.Fate]) -> dict[tuple[int | None, int | None], bool]:
    return {(f.sent.receiver, f.sent.counter): f.delivered for f in fates}


def test_a_timer_resend_the_other_end_saw_lost_in_part_is_proven() -> None:
    """One end's resend (four copies at the timer's intervals), the other end's capture running
    for the last two only (its span moved, a SYNTHETIC change of the real underlay-late pair):
    two lost, none delivered, the smaller message after them delivered: a black hole, which the
    matched messages alone (two lost) do not prove. One lost is not enough; a copy delivered
    is no black hole."""
    from pcapmtu.detect import MIN_COPIES_SEEN_LOST, DetectConfig, from_one_underlay, from_underlay

    home, proxy, home_span, proxy_span = _late()
    config = DetectConfig()
    assert MIN_COPIES_SEEN_LOST == 2
    two = wgwire.matched(home, proxy, (home_span, (_arrival(14, home, proxy) - 0.3, proxy_span[1])))
    assert _lost(two) == [14, 15] and not from_underlay(two, "home", config)
    (finding,) = from_one_underlay(home, "home", config, _told(two))
    assert (finding.kind, finding.side, finding.dropped_ip_len) == ("black_hole", "underlay", 1420)
    assert finding.transmissions == 4 and finding.largest_delivered_ip_len == 64
    words = [e.what for e in finding.evidence]
    assert sum("never reached the other end" in w for w in words) == 2
    assert sum("before the other end's capture shows it running" in w for w in words) == 2
    one = wgwire.matched(home, proxy, (home_span, (_arrival(15, home, proxy) - 0.3, proxy_span[1])))
    assert _lost(one) == [15]
    (alone,) = from_one_underlay(home, "home", config, _told(one))
    assert alone.kind == "suspected_black_hole"
    delivered = {**_told(two), (home[0].receiver, 13): True}
    (through,) = from_one_underlay(home, "home", config, delivered)
    assert through.kind == "suspected_black_hole"
    assert from_one_underlay(home, "home", config)[0].kind == "suspected_black_hole"


# -- a resend nothing of its session got past: the path down, or suspected (never clean) -------

CARRIED = [(9.0, 1400, True), (9.1, 1400, True)]  # the session carried 1340-byte messages
RESENT = [(10.0, 1400, False), (10.2, 1400, False), (10.6, 1400, False), (11.4, 1400, False)]


def test_a_resend_lost_with_nothing_after_it_is_suspected_never_clean() -> None:
    """SYNTHETIC fates: the session carried 1340-byte messages, then one is resent at the
    timer's intervals and every copy is lost, with nothing of the session after it (an outage
    in the middle of a transfer, or an MTU that fell: `outage-bulk`'s underlays)."""
    from pcapmtu.detect import DetectConfig, from_underlay

    config = DetectConfig()
    (finding,) = from_underlay(_session([*CARRIED, *RESENT]), "b", config)
    assert (finding.kind, finding.side, finding.dropped_ip_len) == (
        "suspected_black_hole",
        "underlay",
        1340,
    )
    assert finding.transmissions == finding.lost_seen == 4 and finding.capture == "a"
    assert finding.path_fell_after == 9.1 and finding.copies_at_s == (0.0, 0.2, 0.6, 1.4)
    assert finding.largest_delivered_ip_len is None
    # a keepalive got there after the first copy: the path is not down, still not proven
    (alive,) = from_underlay(_session([*CARRIED, *RESENT, (12.0, 60, True)]), "a", config)
    assert alive.kind == "suspected_black_hole"
    assert any("a keepalive sent after the first copy, got there" in e.what for e in alive.evidence)
    # a smaller message with an inner packet got there after it: a black hole, as before
    (proven,) = from_underlay(_session([*CARRIED, *RESENT, (12.0, 508, True)]), "a", config)
    assert (proven.kind, proven.largest_delivered_ip_len) == ("black_hole", 448)
    # two copies lost are too few to tell a resend; four lost at once are a burst of loss
    assert from_underlay(_session([*CARRIED, *RESENT[:2]]), "a", config) == []
    burst = [(10.0 + i / 1000, 1400, False) for i in range(4)]
    assert from_underlay(_session([*CARRIED, *burst]), "a", config) == []


def test_a_resend_lost_with_smaller_messages_lost_after_it_is_the_path_down() -> None:
    """SYNTHETIC fates: smaller messages sent after the first copy were lost too, or the
    resent message is small enough for any path (a request never answered: `outage`'s
    underlays): nothing of any size got through, the path down, not a size problem."""
    from pcapmtu.detect import DetectConfig, from_underlay

    config = DetectConfig()
    smaller = [*CARRIED, *RESENT, (10.5, 508, False)]
    (down,) = from_underlay(_session(smaller), "a", config)
    assert (down.kind, down.dropped_ip_len, down.transmissions) == ("path_down", 1340, 4)
    assert any("sent after it: never reached the other end" in e.what for e in down.evidence)
    request = [(9.0, 188, True), *((t, 188, False) for t, _, _ in RESENT)]
    (small,) = from_underlay(_session(request), "a", config)
    assert (small.kind, small.dropped_ip_len) == ("path_down", 128)
    # a keepalive got there after the small message's copies: not down, and not a size
    assert from_underlay(_session([*request, (12.0, 60, True)]), "a", config) == []


def test_both_underlays_of_an_outage_are_never_clean() -> None:
    """The real `outage` and `outage-bulk` samples' underlays, taken with their wg0 captures:
    both ends' underlays said clean ("no packet was lost for its size") before; now what the
    wg0 captures say: path down, and suspected (inconclusive)."""
    down = analyze([SAMPLES / "outage.proxy-underlay.pcap", SAMPLES / "outage.home-underlay.pcap"])
    (finding,) = down.findings
    assert (finding.kind, finding.side) == ("path_down", "underlay")
    assert down.summary().startswith("no MTU black hole: the path 198.18.3.2 -> 198.18.1.1")
    tunnel = analyze(SAMPLES / "outage.proxy-wg0.pcap")
    assert [f.kind for f in tunnel.findings] == ["path_down"]
    bulk = analyze(
        [SAMPLES / "outage-bulk.home-underlay.pcap", SAMPLES / "outage-bulk.proxy-underlay.pcap"]
    )
    assert bulk.verdict == "inconclusive" and bulk.lost_both_ends()
    (suspected,) = bulk.suspected
    assert suspected.dropped_ip_len == 1340 and suspected.lost_seen == suspected.transmissions
    assert "ping -c 3 -s 100" in (bulk.to_decide() or "")
    assert analyze(SAMPLES / "outage-bulk.home-wg0.pcap").verdict == "inconclusive"


def test_a_resend_after_a_burst_lost_at_once_is_read_from_the_end_of_the_lost_run() -> None:
    """SYNTHETIC fates: a flight of 1340-byte messages lost at once, then the first of them
    resent at the timer's intervals (the burst and the copies are one run of lost messages,
    which as a whole is no timer's): with a smaller message delivered after the loss began, a
    black hole; after the session carried the size, one since its MTU fell."""
    from pcapmtu.detect import DetectConfig, from_underlay

    config = DetectConfig()
    burst = [(9.5 + i / 1000, 1400, False) for i in range(8)]
    smaller = [(9.6, 700, True)]
    (found,) = from_underlay(_session([*burst, *smaller, *RESENT]), "a", config)
    assert (found.kind, found.dropped_ip_len, found.largest_delivered_ip_len) == (
        "black_hole",
        1340,
        640,
    )
    assert found.transmissions == 4 and found.copies_at_s == (0.0, 0.2, 0.6, 1.4)
    assert found.first_ts == 9.5 and found.path_fell_after is None  # never carried
    (fell,) = from_underlay(_session([*CARRIED, *burst, *smaller, *RESENT]), "a", config)
    assert fell.kind == "black_hole" and fell.path_fell_after == 9.1
    # two messages sent together are no timer's copies: the run starts after them
    together = [*CARRIED, (9.9, 1400, False), (9.9001, 1400, False), *RESENT]
    (run,) = from_underlay(_session(together), "a", config)
    assert run.copies_at_s == (0.0, 0.2, 0.6, 1.4)


def test_both_underlays_of_a_flight_lost_at_once_or_an_mtu_that_fell_prove_it() -> None:
    """The real `underlay-big` (100 kB response: the first flight lost at once) and
    `underlay-falls-bulk` (the MTU falls mid-transfer) samples: both ends' underlays said clean
    before; a black hole now, the bracket from the smaller message that got there."""
    for name, size, low in (("underlay-big", 1420, 64), ("underlay-falls-bulk", 1340, 640)):
        pair = [SAMPLES / f"{name}.home-underlay.pcap", SAMPLES / f"{name}.proxy-underlay.pcap"]
        report = analyze(pair)
        assert report.verdict == "black_hole", name
        (finding,) = report.black_holes
        assert (finding.side, finding.dropped_ip_len) == ("underlay", size)
        assert finding.largest_delivered_ip_len == low
        assert finding.lost_seen == finding.transmissions >= 3
        r = report.recommendation
        assert r is not None and r.underlay_path_mtu[1] == size + 59
