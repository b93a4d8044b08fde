"""The pipeline in one place: captures -> batches -> segments -> screen -> flows -> findings.

Two passes. The first reads each capture in batches, decodes their headers (`headers`), counts
every flow and shortlists the host pairs where a black hole could be (`screen`), and notes
where each pair's segments are (`replay`). The second gives the exact analysis (`flows`,
`detect`) the shortlisted pairs' segments only. The report's per-flow counts are the screen's;
its findings, the exact analysis's.

Each capture gets its own flow table (two captures of one connection, taken at both ends of a
tunnel, must not be mixed into one sequence space), while what each path delivered is pooled
across all of them, so a path's evidence adds up.
"""

from __future__ import annotations

import concurrent.futures
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pcapmtu import __version__, headers
from pcapmtu.capture import STDIN_NAME, Bytes, Capture, Source
from pcapmtu.decode import Decoder
from pcapmtu.detect import (
    KIND_BLACK_HOLE,
    KIND_SUSPECTED,
    KIND_TOO_BIG,
    DetectConfig,
    Finding,
    clamped_flows,
    confirm_by_path,
    detect,
    smallest_dropped,
    sort_findings,
)
from pcapmtu.errors import CaptureWarning, UndecodablePacketWarning, UnknownLinkTypeWarning
from pcapmtu.flows import FlowTable, PathSummary, Trace
from pcapmtu.model import TooBig, format_address
from pcapmtu.mtu import Bracket, Recommendation, mtu_from_mss, recommend
from pcapmtu.replay import Keeper, feed, replay
from pcapmtu.report import (
    VERDICT_BLACK_HOLE,
    VERDICT_CLEAN,
    VERDICT_INCONCLUSIVE,
    WIREGUARD_PORT,
    CaptureReport,
    FlowReport,
    PathReport,
    Report,
)
from pcapmtu.screen import Screen, ScreenResult

DEFAULT_CONFIG = DetectConfig()


@dataclass(frozen=True)
class Progress:
    """How far the reading of one capture has got (for a progress line; never printed here)."""

    capture: str
    packets: int
    bytes_read: int
    total_bytes: int | None  # None when unknown (stdin, gzip)
    elapsed_s: float

    @property
    def fraction(self) -> float | None:
        return min(self.bytes_read / self.total_bytes, 1.0) if self.total_bytes else None


ProgressCallback = Callable[[Progress], None]


@dataclass
class _Analysed:
    name: str
    screen: ScreenResult
    too_big: list[TooBig]
    report: CaptureReport
    table: FlowTable | None  # the exact analysis: None until the shortlist is replayed
    source: Source
    keeper: Keeper | None  # where to find the shortlist's segments again


def analyze(
    sources: Source | Sequence[Source],
    *,
    names: Sequence[str] | None = None,
    config: DetectConfig = DEFAULT_CONFIG,
    jobs: int = 1,
    progress: ProgressCallback | None = None,
    shortlist: bool = True,
) -> Report:
    """Analyse one capture, or several together, and return the `Report`.

    `sources` is a path ("-" for stdin), bytes, a binary file object, or a list of them.
    With `jobs` > 1, captures given as paths are read in that many processes at once; the
    report is the same as with one. `progress` is called after each batch of records read in
    this process. Raises a `CaptureError` for a capture that cannot be read at all; damage
    found while reading is a `CaptureWarning` (also listed in the report) and the rest is
    still analysed.

    Two passes: the screen counts every flow and shortlists the host pairs where a black hole
    could be; the exact analysis then reads only those again. `shortlist=False` runs the exact
    analysis on everything in the first pass (the same report, slower; tests compare them).
    A capture that cannot be read twice (stdin, a file object) always gets that.
    """
    items: list[Source] = list(sources) if isinstance(sources, list | tuple) else [sources]  # type: ignore[list-item]
    labels: list[str | None] = list(names) if names is not None else [None] * len(items)
    analysed = _read_all(items, labels, jobs, progress, config, shortlist)
    delivered: dict[tuple[bytes, bytes], int] = {}
    for one in analysed:
        for key, size in one.screen.certainly_delivered.items():
            delivered[key] = max(delivered.get(key, 0), size)
    hosts: set[frozenset[bytes]] = set()
    for one in analysed:
        hosts |= one.screen.hosts_to_replay(delivered, config)
    _replay_all(analysed, hosts)
    tables = [(one, one.table or FlowTable(one.name)) for one in analysed]
    paths: dict[tuple[bytes, bytes], PathSummary] = {}
    for _, table in tables:
        for key, summary in table.paths.items():
            paths.setdefault(key, PathSummary(summary.src, summary.dst, summary.ip_version))
            paths[key].merge(summary)
    findings: list[Finding] = []
    for one, table in tables:
        end = one.report.last_ts or 0.0
        findings += detect(table, paths, one.too_big, one.name, end, config)
    findings = confirm_by_path(findings)
    dropped = smallest_dropped(findings)
    for one, table in tables:
        findings += clamped_flows(table, dropped, one.name)
    findings = _merge_same_flow(sort_findings(findings))
    path_reports = _paths(analysed, paths, dropped, delivered)
    return Report(
        verdict=_verdict(findings, analysed),
        findings=tuple(findings),
        paths=tuple(path_reports),
        recommendation=_recommendation(findings, path_reports),
        captures=tuple(one.report for one in analysed),
        flows=tuple(_flow_reports(analysed)),
        tool_version=__version__,
    )


def _read_all(
    items: list[Source],
    labels: list[str | None],
    jobs: int,
    progress: ProgressCallback | None,
    config: DetectConfig,
    shortlist: bool,
) -> list[_Analysed]:
    """The first pass over every capture, in worker processes when asked and possible."""
    by_path = all(_replayable(item) and not isinstance(item, Bytes) for item in items)
    if jobs <= 1 or len(items) < 2 or not by_path:
        return [
            _read(item, label, progress, config, shortlist)
            for item, label in zip(items, labels, strict=True)
        ]
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        analysed = list(
            pool.map(
                _read_quietly,
                items,
                labels,
                [config] * len(items),
                [shortlist] * len(items),
            )
        )
    for one in analysed:  # the workers' warnings did not reach this process
        for message in one.report.warnings:
            warnings.warn(message, CaptureWarning, stacklevel=3)
    return analysed


def _read_quietly(
    source: Source, name: str | None, config: DetectConfig, shortlist: bool
) -> _Analysed:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)
        return _read(source, name, None, config, shortlist)


def _replayable(source: Source) -> bool:
    """Whether a source can be read a second time (a file by its path, or bytes)."""
    return isinstance(source, Bytes) or (
        isinstance(source, str | os.PathLike) and str(source) != STDIN_NAME
    )


def _read(
    source: Source,
    name: str | None,
    progress: ProgressCallback | None,
    config: DetectConfig,
    shortlist: bool,
) -> _Analysed:
    """The first pass: decode, count, screen; with no shortlist, the exact analysis too."""
    capture = Capture(source, name=name)
    screen = Screen(capture.info.name, config)
    exact = not (shortlist and _replayable(source))
    table = FlowTable(capture.info.name) if exact else None
    keeper = Keeper()
    decoder = Decoder()
    replay_decoder = Decoder()  # its counts are not reported: each record is counted once
    too_big: list[TooBig] = []
    segments = 0
    total = _size_of(source) if capture.info.compression is None else None
    started = time.monotonic()
    with capture:
        for batch in capture.batches():
            decoded = headers.decode(batch, decoder)
            segments += len(decoded.segments["frame"])
            too_big += decoded.too_big
            dirs = screen.add(decoded.segments, float(batch.ts[-1]))
            if table is not None:
                rows = (decoded.segments["frame"] - batch.first_frame).tolist()
                feed(table, (batch.record(i) for i in rows), replay_decoder)
            else:
                keeper.add(batch, decoded.segments, dirs, screen.info)
            if progress is not None:
                info = capture.info
                progress(
                    Progress(
                        info.name, info.packets, info.bytes_read, total, time.monotonic() - started
                    )
                )
    if table is not None:
        table.finish()
    info = capture.info
    result = screen.finish(info.last_ts)
    for link_type, count in sorted(decoder.unknown_link_types.items()):
        message = (
            f"{info.name}: skipped {count} packets of link type {link_type}, which "
            "pcapmtu cannot decode (it reads raw IP, Ethernet, Linux cooked, NULL/LOOP, "
            "PPP and Cisco HDLC)"
        )
        info.warnings.append(message)
        warnings.warn(message, UnknownLinkTypeWarning, stacklevel=3)
    undecodable = decoder.skipped.get("malformed", 0) + decoder.skipped.get("truncated", 0)
    if undecodable:
        message = f"{info.name}: skipped {undecodable} packets too short or malformed to decode"
        info.warnings.append(message)
        warnings.warn(message, UndecodablePacketWarning, stacklevel=3)
    report = CaptureReport(
        name=info.name,
        format=info.format,
        compression=info.compression,
        timestamp_precision=info.timestamp_precision,
        link_types=dict(info.link_types),
        packets=info.packets,
        tcp_segments=segments,
        too_big_messages=len(too_big),
        truncated_by_snaplen=info.truncated_by_snaplen,
        first_ts=info.first_ts,
        last_ts=info.last_ts,
        skipped=dict(decoder.skipped),
        warnings=tuple(info.warnings),
    )
    return _Analysed(info.name, result, too_big, report, table, source, None if exact else keeper)


@dataclass(frozen=True)
class CaptureTrace:
    """One capture's segments and ACKs, each data segment with what became of it."""

    name: str
    first_ts: float | None  # of the capture's first packet: plots count seconds from it
    trace: Trace


def trace(
    source: Source,
    *,
    name: str | None = None,
    flows: Iterable[tuple[bytes, int, bytes, int]] | None = None,
) -> CaptureTrace:
    """Every data segment and ACK of one capture and what became of each segment, for
    postmortems (`frames.segments`, `frames.acks`): the exact analysis of every flow, keeping
    it all, so memory grows with the capture (unlike `analyze`). `flows` keeps only those
    connections, each named by either direction's (src, sport, dst, dport)."""
    capture = Capture(source, name=name)
    only = frozenset(flows) if flows is not None else None
    table = FlowTable(capture.info.name, trace=Trace(only=only))
    decoder = Decoder()
    with capture:
        feed(table, capture, decoder)
    table.finish()
    assert table.trace is not None
    return CaptureTrace(capture.info.name, capture.info.first_ts, table.trace)


def _replay_all(analysed: list[_Analysed], hosts: set[frozenset[bytes]]) -> None:
    """The second pass: the exact analysis of the shortlisted host pairs, per capture."""
    for one in analysed:
        if one.table is not None:
            continue
        one.table = FlowTable(one.name)
        span = one.screen.frames_to_replay(hosts)
        if span is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CaptureWarning)  # told in the first pass
                replay(one.source, one.name, one.table, hosts, span, one.keeper)
        one.table.finish()


def _merge_same_flow(findings: list[Finding]) -> list[Finding]:
    """One finding per flow and kind: the same flow captured at both ends is one black hole."""
    seen: set[tuple[object, ...]] = set()
    kept = []
    for f in findings:
        key = (f.kind, f.src, f.sport, f.dst, f.dport)
        if f.kind != KIND_TOO_BIG and key in seen:
            continue
        seen.add(key)
        kept.append(f)
    return kept


def _verdict(findings: list[Finding], analysed: list[_Analysed]) -> str:
    kinds = {f.kind for f in findings}
    if KIND_BLACK_HOLE in kinds:
        return VERDICT_BLACK_HOLE
    if KIND_SUSPECTED in kinds:
        return VERDICT_INCONCLUSIVE
    if KIND_TOO_BIG in kinds:
        return VERDICT_CLEAN  # the router's ICMP reached this host: path MTU discovery works
    if not any(one.screen.data_seen for one in analysed):
        return VERDICT_INCONCLUSIVE
    return VERDICT_CLEAN


def _tunnel_mtus(analysed: list[_Analysed]) -> dict[tuple[bytes, bytes], int]:
    """Per path (src, dst): the MTU of the receiver's interface, from the largest MSS the
    receiver announced in a SYN to the sender."""
    found: dict[tuple[bytes, bytes], int] = {}
    for one in analysed:
        for d in one.screen.directions:
            if d.syn_mss:
                key = (d.info.dst, d.info.src)  # it announced its MSS to the path towards it
                mtu = mtu_from_mss(d.syn_mss, d.info.ip_version)
                found[key] = max(found.get(key, 0), mtu)
    return found


def _paths(
    analysed: list[_Analysed],
    paths: dict[tuple[bytes, bytes], PathSummary],
    dropped: dict[tuple[bytes, bytes], int],
    delivered: dict[tuple[bytes, bytes], int],
) -> list[PathReport]:
    """Paths with a black hole, plus every path that carried segments, black holes first.

    The largest size delivered: on a path with a black hole, the largest below the lost size
    (the exact analysis saw every packet of it); elsewhere the largest the screen is sure of.
    """
    tunnel_mtus = _tunnel_mtus(analysed)
    versions: dict[tuple[bytes, bytes], int] = {}
    for one in analysed:
        for key, version in one.screen.paths.items():
            versions.setdefault(key, version)
    reports = []
    for key in sorted(set(versions) | set(dropped), key=lambda k: (k not in dropped, k)):
        smallest = dropped.get(key)
        if smallest is not None:
            summary = paths.get(key)
            sizes = summary.delivered if summary is not None else {}
            largest = max((size for size in sizes if size < smallest), default=None)
        else:
            largest = delivered.get(key)
        reports.append(
            PathReport(
                src=key[0],
                dst=key[1],
                ip_version=versions.get(key, 4),
                largest_delivered=largest,
                smallest_dropped=smallest,
                tunnel_mtu=tunnel_mtus.get(key),
            )
        )
    return reports


def _underlay_mtu(findings: list[Finding]) -> int | None:
    """The smallest next-hop MTU from an ICMP too-big quoting WireGuard's UDP (the underlay)."""
    mtus = [
        f.icmp_mtu
        for f in findings
        if f.kind == KIND_TOO_BIG and f.icmp_mtu and WIREGUARD_PORT in (f.sport, f.dport)
    ]
    return min(mtus, default=None)


def _recommendation(findings: list[Finding], paths: list[PathReport]) -> Recommendation | None:
    underlay = _underlay_mtu(findings)
    holed = [p for p in paths if p.smallest_dropped is not None]
    if holed:
        worst = min(holed, key=lambda p: p.smallest_dropped or 0)
        return recommend(
            Bracket(worst.largest_delivered, worst.fits_max),
            tunnel_mtu=worst.tunnel_mtu,
            icmp_underlay_mtu=underlay,
            inner_version=worst.ip_version,
            peer=format_address(worst.dst),
        )
    if underlay is not None:
        return recommend(Bracket(None, None), tunnel_mtu=None, icmp_underlay_mtu=underlay)
    return None


def _flow_reports(analysed: Iterable[_Analysed]) -> list[FlowReport]:
    return [
        FlowReport(
            capture=one.name,
            src=d.info.src,
            sport=d.info.sport,
            dst=d.info.dst,
            dport=d.info.dport,
            ip_version=d.info.ip_version,
            packets=d.packets,
            data_packets=d.data_packets,
            data_bytes=d.data_bytes,
            retransmissions=d.retransmissions,
            dup_acks=d.dup_acks,
            sack_blocks=d.sack_blocks,
            dsacks=d.dsacks,
            mss=d.peer_syn_mss,
            largest_ip_len=d.largest_ip_len,
            first_ts=d.first_ts,
            last_ts=d.last_ts,
        )
        for one in analysed
        for d in one.screen.directions
    ]


def _size_of(source: Source) -> int | None:
    if isinstance(source, str | os.PathLike) and str(source) != "-":
        try:
            return os.stat(source).st_size
        except OSError:
            return None
    return len(source) if isinstance(source, bytes | bytearray) else None
