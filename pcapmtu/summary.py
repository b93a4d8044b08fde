"""From findings and facts to what the report states about each path and what to set: the
bracket for the largest packet that crosses a path, and the recommendation (`mtu.recommend`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from pcapmtu.detect import KIND_FRAGMENTED, KIND_TOO_BIG, Finding, Path
from pcapmtu.flows import PathSummary
from pcapmtu.model import DirectionFacts
from pcapmtu.mtu import ETHERNET_MTU, Bracket, Recommendation, mtu_from_mss, recommend
from pcapmtu.report import PathReport
from pcapmtu.tunnels import WIREGUARD, Recognised, Tunnel


def tunnel_mtus(facts: Iterable[DirectionFacts]) -> dict[Path, int]:
    """Per path (src, dst): the MTU of the receiver's interface, from the largest MSS the
    receiver announced in a SYN to the sender."""
    found: dict[Path, int] = {}
    for f in facts:
        if f.syn_mss:
            key = (f.flow.dst, f.flow.src)  # it announced its MSS to the path towards it
            mtu = mtu_from_mss(f.syn_mss, f.flow.ip_version)
            found[key] = max(found.get(key, 0), mtu)
    return found


def path_reports(
    facts: list[DirectionFacts],
    paths: dict[Path, PathSummary],
    dropped: dict[Path, int],
    delivered: dict[Path, int],
    fell: dict[Path, float] | None = None,
    underlay: dict[Path, int | None] | None = None,
    forgotten_mss: dict[Path, tuple[int, int]] | None = None,
    rose: dict[Path, float] | None = None,
) -> list[PathReport]:
    """Paths with a black hole, plus every path that carried segments, black holes first.

    The largest size delivered: on a path with a black hole, the largest below the lost size
    (the exact pass saw every packet of it), sent after its MTU fell when it did (`fell`);
    elsewhere the largest surely delivered (`detect.surely_delivered`), sent before its MTU
    rose when it did (`rose`). `forgotten_mss`: per path, the largest MSS (and IP version) of
    SYNs of flows forgotten while reading.
    """
    fell, rose = fell or {}, rose or {}
    underlay = underlay or {}  # outer paths judged from WireGuard's messages: what got through
    mtus = tunnel_mtus(facts)
    for key, (mss, version) in (forgotten_mss or {}).items():
        mtus[key] = max(mtus.get(key, 0), mtu_from_mss(mss, version))
    versions: dict[Path, int] = {}
    largest: dict[Path, int] = {}  # the largest packet each path was seen to carry
    for f in facts:
        key = (f.flow.src, f.flow.dst)
        versions.setdefault(key, f.flow.ip_version)
        if f.largest_ip_len <= ETHERNET_MTU:  # larger: a super-packet, not on the wire so
            largest[key] = max(largest.get(key, 0), f.largest_ip_len)
    reports = []
    for key in sorted(set(versions) | set(dropped), key=lambda k: (k not in dropped, k)):
        smallest = dropped.get(key)
        if smallest is not None:
            summary = paths.get(key)
            sizes = summary.delivered if summary is not None else {}
            since, until = fell.get(key), rose.get(key)
            low = max(
                (
                    size
                    for size, (sent_ts, _frame, _name) in sizes.items()
                    if size < smallest
                    and (since is None or sent_ts >= since)
                    and (until is None or sent_ts < until)
                ),
                default=None,
            )
        else:
            low = delivered.get(key)
        if key in underlay:
            low = underlay[key]
        reports.append(
            PathReport(
                src=key[0],
                dst=key[1],
                ip_version=versions.get(key, 6 if len(key[0]) == 16 else 4),
                largest_delivered=low,
                smallest_dropped=smallest,
                tunnel_mtu=mtus.get(key),
                mtu_fell_at=fell.get(key),
                mtu_rose_at=rose.get(key),
                # no SYN: the tunnel's MTU is at least its largest packet
                tunnel_mtu_at_least=(largest.get(key) or None) if key not in mtus else None,
                underlay=key in underlay,
            )
        )
    return reports


def underlay_mtu(
    findings: list[Finding],
    tunnel: Tunnel = WIREGUARD,
    endpoints: Collection[tuple[bytes, int, bytes, int]] = (),
) -> int | None:
    """The smallest next-hop MTU from an ICMP too-big quoting the tunnel's UDP (its port, or
    the `endpoints` of a session seen on the underlay); without one, the size the tunnel's
    sender cut its messages' fragments to (the path MTU its kernel learned, at most)."""
    told = _underlay_told(findings, tunnel, endpoints)
    return told[0] if told else None


def underlay_told_by_fragments(
    findings: list[Finding],
    tunnel: Tunnel = WIREGUARD,
    endpoints: Collection[tuple[bytes, int, bytes, int]] = (),
) -> str | None:
    """Why the underlay MTU is what it is, when fragments told it (no ICMP too-big seen)."""
    told = _underlay_told(findings, tunnel, endpoints)
    if told is None or not told[2]:
        return None
    return (
        f"the tunnel's sender cut its messages into IP fragments of {told[0]} bytes: the "
        "underlay path MTU its kernel learned from a router's ICMP too-big (at most)"
    )


def underlay_version(
    findings: list[Finding],
    tunnel: Tunnel = WIREGUARD,
    endpoints: Collection[tuple[bytes, int, bytes, int]] = (),
) -> int:
    """The underlay's IP version: of the ICMP too-big or fragments that told its MTU, else of
    the tunnel's sessions seen on the underlay when they agree, else 4 (assumed)."""
    told = _underlay_told(findings, tunnel, endpoints)
    if told:
        return told[1]
    versions = {6 if len(src) == 16 else 4 for src, _, _, _ in endpoints}
    return versions.pop() if len(versions) == 1 else 4


def _underlay_told(
    findings: list[Finding],
    tunnel: Tunnel,
    endpoints: Collection[tuple[bytes, int, bytes, int]],
) -> tuple[int, int, bool] | None:
    """(MTU, IP version, told by fragments) of the underlay as ICMP too-big, or else
    fragments, tell it."""
    icmp = [
        (f.icmp_mtu, f.ip_version, False)
        for f in findings
        if f.kind == KIND_TOO_BIG
        and f.icmp_mtu
        and (
            {f.sport, f.dport} & set(tunnel.ports) or (f.src, f.sport, f.dst, f.dport) in endpoints
        )
    ]
    cut = [
        (f.fragment_len, f.ip_version, True)
        for f in findings
        if f.kind == KIND_FRAGMENTED and f.fragment_len
    ]
    return min(icmp, default=None) or min(cut, default=None)


def recommendation(
    findings: list[Finding],
    paths: list[PathReport],
    tunnel: Recognised | None = None,
    measured: int | None = None,
    endpoints: Collection[tuple[bytes, int, bytes, int]] = (),
) -> Recommendation | None:
    """What to set, from the worst black-holed path (and any ICMP from the underlay, or the
    underlay path MTU `pcapmtu probe` measured), for the tunnel the capture was taken on
    (WireGuard when not said)."""
    told = tunnel or Recognised(WIREGUARD, "", False)
    underlay = underlay_mtu(findings, told.tunnel, endpoints)
    version = underlay_version(findings, told.tunnel, endpoints)
    how = underlay_told_by_fragments(findings, told.tunnel, endpoints)
    holed = [p for p in paths if p.smallest_dropped is not None]
    if holed:
        worst = min(holed, key=lambda p: p.smallest_dropped or 0)
        return recommend(
            Bracket(worst.largest_delivered, worst.fits_max),
            tunnel_mtu=worst.tunnel_mtu,
            icmp_underlay_mtu=underlay,
            outer_version=worst.ip_version if worst.underlay else version,
            inner_version=4 if worst.underlay else worst.ip_version,
            tunnel=told.tunnel,
            tunnel_how=told.how,
            measured_underlay_mtu=measured,
            icmp_told=how,
            padded=worst.underlay,
        )
    if underlay is not None or measured is not None:
        return recommend(
            Bracket(None, None),
            tunnel_mtu=None,
            icmp_underlay_mtu=underlay,
            outer_version=version,
            tunnel=told.tunnel,
            tunnel_how=told.how,
            measured_underlay_mtu=measured,
            icmp_told=how,
        )
    return None
