"""The pipeline in one place: captures -> two passes -> findings -> `Report`.

One route for every input: a capture that cannot be read twice (stdin, a file object) is copied
to a temporary file as the first pass reads it (`capture.Tee`; of a pcap, each record as the
fast pass hands it over, a TCP segment cut after its headers), and the second pass reads the
copy: every capture takes the same two passes.

1. The fast pass (`fast`) reads each capture in batches, decodes their headers, computes the
   facts of every flow direction and what each path delivered, by size, and notes where each
   connection's segments are (`replay`).
2. `detect` judges those facts: what each path surely delivered, and which connections are
   worth the exact pass (`detect.worth_exact_pass`).
3. The exact pass (`decode` with dpkt, `flows`, `detect`) reads those connections' segments
   again and finds the black holes, judged against what every flow on their paths delivered
   (the fast pass's path evidence, equal to the exact pass's: tests/test_facts.py).

Without the compiled fast pass (no C compiler at install), or with `shortlist=False`, the first
pass is the exact pass over everything, and there is no second one: the same report, slower.

Each capture gets its own flow table (two captures of one connection, taken at both ends of a
tunnel, must not be mixed into one sequence space), while what each path delivered is pooled
across all of them, so a path's evidence adds up.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, cast

from pcapmtu import detect, fast, tunnels
from pcapmtu import underlay as underlay_pass
from pcapmtu.capture import Capture, Source, Tee, replayable, size_of
from pcapmtu.decode import Decoder
from pcapmtu.detect import DetectConfig, Finding, HostMss
from pcapmtu.errors import (
    CaptureWarning,
    InterruptedCaptureWarning,
    UndecodablePacketWarning,
    UnknownLinkTypeWarning,
)
from pcapmtu.flows import FlowTable, PathSummary, Trace
from pcapmtu.model import CaptureInfo, DirectionFacts, FlowKey, Forgotten, TooBig
from pcapmtu.mtu import ETHERNET_MTU
from pcapmtu.replay import Conn, Keeper, conn_of, feed, pair_of, replay, times_of
from pcapmtu.report import CaptureReport, FlowReport, Report, clock
from pcapmtu.summary import path_reports, recommendation
from pcapmtu.tunnels import TunnelEvidence
from pcapmtu.version import __version__

if TYPE_CHECKING:  # loaded when captures go to worker processes: not for one capture
    import concurrent.futures

DEFAULT_CONFIG = DetectConfig()
PART_RECORDS = 1 << 15  # records the fast pass decodes at once


@dataclass(frozen=True)
class Progress:
    """How far the reading of one capture has got (for a progress line; never printed here)."""

    capture: str
    packets: int
    bytes_read: int
    total_bytes: int | None  # None when unknown (gzip)
    elapsed_s: float

    @property
    def fraction(self) -> float | None:
        return min(self.bytes_read / self.total_bytes, 1.0) if self.total_bytes else None


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class TraceRequest:
    """Keep the segments and ACKs of flows for a postmortem's pictures: of every flow when no
    more than `max_directions` directions sent data and no more than `max_segments` data
    segments in all (or with `keep` "all", whatever it costs); else of the flows the exact pass
    reads for findings and, as a sample of the others between the same hosts, the connections
    with the fewest data segments first, as long as the segments kept for the sample stay
    within `max_segments`."""

    max_directions: int
    max_segments: int = 10_000
    keep: str = "sample"  # or "all"

    def every_flow(self, flows: Iterable[DirectionFacts]) -> bool:
        """Whether every flow is kept."""
        if self.keep == "all":
            return True
        sent = [f.data_packets for f in flows if f.data_packets]
        return len(sent) <= self.max_directions and sum(sent) <= self.max_segments

    def chosen(
        self, flows: Sequence[DirectionFacts], needed: set[FlowKey]
    ) -> frozenset[FlowKey] | None:
        """The flows to keep (each named by one direction's key; `needed`: those the exact pass
        reads for findings), or None for every flow."""
        if self.every_flow(flows):
            return None
        kept = set(needed) | {flow.reverse() for flow in needed}
        read = {pair_of(flow) for flow in needed}  # the sample: between the same hosts
        cost: dict[FlowKey, list[int]] = {}  # connection (its first direction) -> segments, frame
        for f in flows:
            if f.flow not in kept and pair_of(f.flow) in read:
                key = f.flow if f.flow.reverse() not in cost else f.flow.reverse()
                entry = cost.setdefault(key, [0, f.flow_first_frame])
                entry[0] += f.data_packets
        used = 0
        for key, (segments, _) in sorted(cost.items(), key=lambda kv: (kv[1][0], kv[1][1])):
            if not segments:
                continue  # no data: nothing to draw
            if used + segments > self.max_segments:
                break
            kept |= {key, key.reverse()}
            used += segments
        return frozenset(kept)


@dataclass
class _Analysed:
    """One capture through the passes."""

    name: str
    source: Source  # one that can be read again
    report: CaptureReport
    too_big: list[TooBig]
    facts: list[DirectionFacts]  # of every direction: the first pass's
    host_mss: HostMss
    table: FlowTable | None  # the exact pass: complete when `exact`, else after the replay
    keeper: Keeper | None  # where to find each connection's segments again
    exact: bool  # the first pass was the exact pass over everything
    forgotten: Forgotten  # flows without data the fast pass counted and forgot
    # per path: what every flow delivered, by size (the exact pass's or the fast pass's)
    paths: dict[detect.Path, PathSummary]
    host_syns: dict[bytes, list[tuple[int, int]]]  # SYNs that raised a host's largest MSS
    replayed: set[Conn] = field(default_factory=set)  # the connections the exact pass read


@dataclass(frozen=True)
class CaptureTrace:
    """One capture's segments and ACKs, each data segment with what became of it."""

    name: str
    first_ts: float | None  # of the capture's first packet: plots count seconds from it
    trace: Trace


def analyze(
    sources: Source | Sequence[Source],
    *,
    names: Sequence[str] | None = None,
    config: DetectConfig = DEFAULT_CONFIG,
    jobs: int = 1,
    progress: ProgressCallback | None = None,
    shortlist: bool = True,
    tunnel: str | None = None,
    measured_path_mtu: int | None = None,
    wireguard_port: int | None = None,
    every_flow: bool = False,
    executor: concurrent.futures.Executor | None = None,
) -> Report:
    """Analyse one capture, or several together, and return the `Report`.

    `sources` is a path ("-" for stdin), bytes, a binary file object, or a list of them.
    With `jobs` > 1, captures are read in that many processes at once; the report is the same
    as with one. With an `executor` (a Dask client's `get_executor()`: `fleet.connect`), each
    capture's first pass runs there, where its path must be readable too; the report is the
    same. `progress` is called after each batch of records read in this process. Raises
    a `CaptureError` for a capture that cannot be read at all; damage found while reading is a
    `CaptureWarning` (also listed in the report) and the rest is still analysed.

    `shortlist=False` runs the exact pass on everything, as an install without the compiled
    fast pass does: the same report, slower (tests compare them).

    `tunnel` ("wireguard", "vxlan", "geneve", "gre", "gre:8" for GRE with an 8-byte header,
    "gretap", "ipip", "sit", "ip6tnl" or "none") says which tunnel the capture was taken on,
    when it cannot tell itself (`tunnels.recognise`); its overhead and fix text follow.
    `measured_path_mtu`: the underlay path MTU `pcapmtu probe` measured; the recommendation is
    then exact (`basis` "measured").
    `wireguard_port`: read WireGuard's messages on the underlay only on this UDP port (by
    default they are recognised by their format on any port).
    `every_flow`: keep every flow's facts in `Report.flows`. By default, past
    `fast.screen.LIVE_LIMIT` flow directions, flows without data are counted and forgotten while
    reading (a SYN flood would otherwise cost memory by its length): the findings are the same.
    """
    report, _ = analyze_and_trace(
        sources,
        names=names,
        config=config,
        jobs=jobs,
        progress=progress,
        shortlist=shortlist,
        tunnel=tunnel,
        measured_path_mtu=measured_path_mtu,
        wireguard_port=wireguard_port,
        every_flow=every_flow,
        executor=executor,
    )
    return report


def analyze_and_trace(
    sources: Source | Sequence[Source],
    *,
    names: Sequence[str] | None = None,
    config: DetectConfig = DEFAULT_CONFIG,
    jobs: int = 1,
    progress: ProgressCallback | None = None,
    shortlist: bool = True,
    traced: TraceRequest | None = None,
    tunnel: str | None = None,
    measured_path_mtu: int | None = None,
    wireguard_port: int | None = None,
    every_flow: bool = False,
    executor: concurrent.futures.Executor | None = None,
) -> tuple[Report, list[CaptureTrace]]:
    """`analyze`, and with `traced` the segments and ACKs the exact pass followed (for a
    postmortem's pictures): no pass more than the analysis itself takes."""
    if tunnel is not None:
        tunnels.check_kind(tunnel)
    items: list[Source] = list(sources) if isinstance(sources, list | tuple) else [sources]  # type: ignore[list-item]
    labels: list[str | None] = list(names) if names is not None else [None] * len(items)
    exact = not shortlist or not fast.AVAILABLE
    with _replayable(items, labels) as readable:
        with _first_ctrl_c_stops([i.tee for i in readable if i.tee is not None]):
            analysed = _first_pass_all(
                readable, jobs, progress, exact, traced, every_flow, executor
            )
        groups = _groups_taken_together(analysed, config.clock_skew_s)
        delivered_then = [_surely_delivered(group) for group in groups]  # at each group's time
        conns, only = _conns_to_replay(groups, delivered_then, config, traced)
        for one in analysed:
            _second_pass(one, conns, traced, only)
        report = _report(
            analysed, groups, delivered_then, config, tunnel, measured_path_mtu, wireguard_port
        )
    traces = _traces(analysed, only) if traced is not None else []
    return report, traces


@dataclass(frozen=True)
class _Input:
    """A capture as the passes read it: the first pass from `source`, the second from `again`
    (a temporary copy where the source could be read only once)."""

    source: Source
    name: str | None
    again: Source
    tee: Tee | None = None


@contextmanager
def _replayable(items: list[Source], labels: list[str | None]) -> Iterator[list[_Input]]:
    """Every capture as something the second pass can read again: stdin and file objects are
    copied to temporary files as the first pass reads them, removed afterwards."""
    tees: list[Tee] = []
    inputs = []
    try:
        for item, label in zip(items, labels, strict=True):
            if replayable(item):
                inputs.append(_Input(item, label, item))
            else:
                tee = Tee(item, label)
                tees.append(tee)
                inputs.append(_Input(cast(IO[bytes], tee), tee.name, str(tee.path), tee))
        yield inputs
    finally:
        for tee in tees:
            tee.close()


@contextmanager
def _first_ctrl_c_stops(tees: list[Tee]) -> Iterator[None]:
    """While streams are read, the first Ctrl-C (SIGINT) stops reading them, as tcpdump stops
    and prints its summary, and what arrived is analysed; the second interrupts
    (KeyboardInterrupt: exit 130). The first never interrupts, even when the stream has just
    ended: the terminal sends it to the writer too, which may close the pipe first."""
    if not tees or threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupts = 0

    def on_interrupt(_signum: int, _frame: object) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            raise KeyboardInterrupt
        for tee in tees:
            tee.stop()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -- the first pass -------------------------------------------------------------------------------


def _first_pass_all(
    inputs: list[_Input],
    jobs: int,
    progress: ProgressCallback | None,
    exact: bool,
    traced: TraceRequest | None,
    every_flow: bool,
    executor: concurrent.futures.Executor | None = None,
) -> list[_Analysed]:
    """The first pass over every capture, in worker processes (or on `executor`) when asked
    and possible: captures named by path, no trace kept."""
    by_path = all(isinstance(i.source, str | os.PathLike) for i in inputs)
    elsewhere = executor is not None or (jobs > 1 and len(inputs) >= 2)
    if not elsewhere or not by_path or traced is not None:
        return [_first_pass(i, progress, exact, traced, every_flow) for i in inputs]
    many = [exact] * len(inputs), [every_flow] * len(inputs)
    if executor is not None:
        analysed = list(executor.map(_first_pass_quietly, inputs, *many))
    else:
        import concurrent.futures

        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
            analysed = list(pool.map(_first_pass_quietly, inputs, *many))
    for one in analysed:  # the workers' warnings did not reach this process
        for message in one.report.warnings:
            warnings.warn(message, CaptureWarning, stacklevel=3)
    return analysed


def _first_pass_quietly(given: _Input, exact: bool, every_flow: bool) -> _Analysed:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)
        return _first_pass(given, None, exact, None, every_flow)


def _first_pass(
    given: _Input,
    progress: ProgressCallback | None,
    exact: bool,
    traced: TraceRequest | None,
    every_flow: bool = False,
) -> _Analysed:
    """Read a capture once: the fast pass's facts, or the exact pass over everything."""
    source = given.source
    capture = Capture(source, name=given.name)
    info = capture.info
    decoder = Decoder()
    too_big: list[TooBig] = []
    segments = 0
    total = size_of(source) if info.compression is None else None
    started = time.monotonic()

    def tell() -> None:
        if progress is not None:
            elapsed = time.monotonic() - started
            progress(Progress(info.name, info.packets, info.bytes_read, total, elapsed))

    tee = given.tee
    if tee is not None:
        _choose_copy(tee, capture, exact)
    if exact:
        table = FlowTable(info.name, trace=Trace() if traced is not None else None)
        with capture:
            for batch in capture.batches():
                count, messages = feed(table, batch.records(), decoder)
                segments += count
                too_big += messages
                tell()
        table.finish(info.last_ts)
        facts, host_mss, keeper = table.facts(), table.host_mss, None
        forgotten, paths, host_syns = Forgotten(), table.paths, {}
    else:
        from pcapmtu.fast import columns
        from pcapmtu.fast.screen import LIVE_LIMIT, Screen

        screen = Screen(info.name, limit=None if every_flow else LIVE_LIMIT)
        keeper = Keeper()
        with capture:
            for whole in capture.batches():
                # a batch of small records is taken in parts: its columns cost memory by the
                # record, and a part of a flood adds at most this many new directions before
                # the screen forgets some
                for batch in whole.parts(PART_RECORDS):
                    decoded = columns.decode(batch, decoder)
                    segments += len(decoded.segments["frame"])
                    too_big += decoded.too_big
                    dirs = screen.add(decoded.segments, float(batch.ts[-1]))
                    placed = tee.add(batch, decoded.needed) if tee is not None else None
                    keeper.add(batch, decoded.segments, dirs, screen.keys, placed)
                    renumbered = screen.evict()
                    if renumbered is not None:
                        keeper.renumber(renumbered, screen.keys)
                tell()
        result = screen.finish(info.last_ts)
        facts, host_mss, table = result.directions, result.host_mss, None
        forgotten, paths, host_syns = result.forgotten, result.paths, result.host_syns
    if given.tee is not None:
        given.tee.finish()
        if given.tee.stopped:
            _warn(
                info,
                f"reading was interrupted (Ctrl-C); analysed the {info.packets} packets "
                "that had arrived",
                InterruptedCaptureWarning,
            )
    _warn_skipped(info, decoder)
    report = _capture_report(info, decoder, segments, len(too_big), forgotten)
    return _Analysed(
        info.name,
        given.again,
        report,
        too_big,
        facts,
        host_mss,
        table,
        keeper,
        exact,
        forgotten,
        paths,
        host_syns,
    )


def _choose_copy(tee: Tee, capture: Capture, exact: bool) -> None:
    """The form of the copy of a stream read once: a plain pcap's records, or a plain pcapng's
    blocks, as the fast pass hands them over, cut to what the second pass reads
    (`Tee.copy_records`, `Tee.copy_blocks`); else the stream byte for byte."""
    header, blocks = capture.pcap_header, capture.pcapng_header
    if exact or capture.info.compression is not None:
        tee.copy_whole()
    elif header is not None:
        if not tee.copy_records(*header):
            tee.copy_whole()
    elif blocks is not None and tee.copy_blocks(blocks):
        capture.copy_blocks()
    else:
        tee.copy_whole()


def _warn(info: CaptureInfo, what: str, kind: type[CaptureWarning]) -> None:
    message = f"{info.name}: {what}"
    info.warnings.append(message)
    warnings.warn(message, kind, stacklevel=4)


def _warn_skipped(info: CaptureInfo, decoder: Decoder) -> None:
    for link_type, count in sorted(decoder.unknown_link_types.items()):
        what = (
            f"skipped {count} packets of link type {link_type}, which pcapmtu cannot decode "
            "(it reads raw IP, Ethernet, Linux cooked, NULL/LOOP, PPP and Cisco HDLC)"
        )
        _warn(info, what, UnknownLinkTypeWarning)
    undecodable = decoder.skipped.get("malformed", 0) + decoder.skipped.get("truncated", 0)
    if undecodable:
        what = f"skipped {undecodable} packets too short or malformed to decode"
        _warn(info, what, UndecodablePacketWarning)


def _capture_report(
    info: CaptureInfo, decoder: Decoder, segments: int, too_big: int, forgotten: Forgotten
) -> CaptureReport:
    return CaptureReport(
        name=info.name,
        format=info.format,
        compression=info.compression,
        timestamp_precision=info.timestamp_precision,
        link_types=dict(info.link_types),
        packets=info.packets,
        tcp_segments=segments,
        too_big_messages=too_big,
        truncated_by_snaplen=info.truncated_by_snaplen,
        first_ts=info.first_ts,
        last_ts=info.last_ts,
        skipped=dict(decoder.skipped),
        warnings=tuple(info.warnings),
        tunnels=dict(decoder.tunnels),
        interfaces=tuple(info.interfaces),
        flows_forgotten=forgotten.flows,
        directions_forgotten=forgotten.directions,
        packets_forgotten=forgotten.packets,
    )


# -- the second pass ------------------------------------------------------------------------------


def taken_together(
    spans: Sequence[tuple[float | None, float | None]], skew_s: float
) -> list[list[int]]:
    """The captures, by their (first, last) timestamps, in groups taken at the same time: spans
    that overlap or lie within `skew_s` of each other (`DetectConfig.clock_skew_s`), one after
    another. A capture without packets (no first timestamp) is a group of its own. Indices
    into `spans`; groups and their members in the order given. What a path delivered at one
    time proves nothing of it at another: a path that carried 1420 bytes last week does not
    clear today's black hole."""
    order = sorted((first, last, i) for i, (first, last) in enumerate(spans) if first is not None)
    group_of = list(range(len(spans)))  # each capture: the first index of its group
    end: float | None = None
    head = 0
    for first, last, i in order:
        if end is None or first > end + skew_s:
            head, end = i, first
        end = max(end, last if last is not None else first)
        group_of[i] = head
    groups: dict[int, list[int]] = {}
    for i in range(len(spans)):
        groups.setdefault(group_of[i], []).append(i)
    return sorted(groups.values())


def _groups_taken_together(analysed: list[_Analysed], skew_s: float) -> list[list[_Analysed]]:
    spans = [(one.report.first_ts, one.report.last_ts) for one in analysed]
    return [[analysed[i] for i in group] for group in taken_together(spans, skew_s)]


def _surely_delivered(group: list[_Analysed]) -> dict[detect.Path, int]:
    """Per path, the largest size some flow of these captures surely delivered."""
    return _largest_by_path(
        detect.surely_delivered_by_path(one.facts, one.host_mss) for one in group
    )


def _largest_by_path(sizes: Iterable[dict[detect.Path, int]]) -> dict[detect.Path, int]:
    """Per path, the largest of the sizes given for it."""
    largest: dict[detect.Path, int] = {}
    for by_path in sizes:
        for key, size in by_path.items():
            largest[key] = max(largest.get(key, 0), size)
    return largest


def _merged_paths(group: list[_Analysed]) -> dict[detect.Path, PathSummary]:
    """Per path, what the flows of these captures delivered, by size."""
    paths: dict[detect.Path, PathSummary] = {}
    for one in group:
        for key, summary in one.paths.items():
            paths.setdefault(key, PathSummary(summary.src, summary.dst, summary.ip_version))
            paths[key].merge(summary)
    return paths


def _conns_to_replay(
    groups: list[list[_Analysed]],
    delivered_then: list[dict[detect.Path, int]],
    config: DetectConfig,
    traced: TraceRequest | None,
) -> tuple[set[Conn], frozenset[FlowKey] | None]:
    """The connections where the exact pass could find something (`detect.worth_exact_pass`,
    against what the captures taken at the same time delivered), in any capture; for a
    postmortem, also the flows its pictures keep (`TraceRequest.chosen`: returned too, None
    for every flow that carried data)."""
    needed: set[FlowKey] = set()
    for group, delivered in zip(groups, delivered_then, strict=True):
        for one in group:
            needed |= {
                f.flow
                for f in one.facts
                if detect.worth_exact_pass(f, delivered, one.host_mss, config)
            }
    conns = {conn_of(flow) for flow in needed}
    if traced is None:
        return conns, None
    every = [f for group in groups for one in group for f in one.facts]
    only = traced.chosen(every, needed)
    # the pictures draw data and its ACKs: a flow without data has none to draw
    conns |= {conn_of(f.flow) for f in every if f.data_packets and (only is None or f.flow in only)}
    return conns, only


def _second_pass(
    one: _Analysed,
    conns: set[Conn],
    traced: TraceRequest | None,
    only: frozenset[FlowKey] | None = None,
) -> None:
    """The exact pass over the segments of the connections `conns` in one capture, keeping
    with `traced` the segments of the flows `only` names (None: of all)."""
    if one.exact:
        return
    one.replayed = conns & {conn_of(f.flow) for f in one.facts}
    one.table = _exact_pass(one, one.replayed, Trace(only=only) if traced is not None else None)


def _exact_pass(one: _Analysed, conns: set[Conn], trace: Trace | None = None) -> FlowTable:
    """The exact pass over the segments of the connections `conns` of one capture. What the
    other flows tell it (each host's MSS) comes from the fast pass's facts, as does what each
    path delivered (`_Analysed.paths`)."""
    host_syns = sorted(
        (frame, host, mss) for host, syns in one.host_syns.items() for frame, mss in syns
    )
    table = FlowTable(one.name, trace=trace, host_syns=host_syns)
    span = _span(one, conns)
    if span is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CaptureWarning)  # told in the first pass
            replay(one.source, one.name, table, conns, span, one.keeper)
    table.finish(one.report.last_ts)  # as the fast pass ends (a spell still open counts)
    return table


def _span(one: _Analysed, conns: set[Conn]) -> tuple[int, int] | None:
    """The first and last frame of these connections' segments."""
    spans = [(f.first_frame, f.last_frame) for f in one.facts if conn_of(f.flow) in conns]
    if not spans:
        return None
    return min(first for first, _ in spans), max(last for _, last in spans)


# -- the report -----------------------------------------------------------------------------------


def _report(
    analysed: list[_Analysed],
    groups: list[list[_Analysed]],
    delivered_then: list[dict[detect.Path, int]],
    config: DetectConfig,
    tunnel: str | None = None,
    measured: int | None = None,
    wireguard_port: int | None = None,
) -> Report:
    tables = [(one, one.table or FlowTable(one.name)) for one in analysed]
    paths = _merged_paths(analysed)  # what the report shows of each path, every capture's
    paths_then = [_merged_paths(group) for group in groups]  # at each group's time
    group_of = {one.name: i for i, group in enumerate(groups) for one in group}
    delivered = _largest_by_path(delivered_then)  # what the report shows, every capture's
    findings: list[Finding] = []
    for one, table in tables:  # each capture judged by what was delivered at its time
        at, end = group_of[one.name], one.report.last_ts or 0.0
        findings += detect.detect(
            table, paths_then[at], one.too_big, one.name, end, config, delivered_then[at]
        )
    inputs = [
        underlay_pass.UnderlayInput(
            one.name,
            one.source,
            one.report.tunnels.get("wireguard", 0),
            one.report.tcp_segments,
            one.too_big,
        )
        for one in analysed
    ]
    seen = underlay_pass.read(inputs, config, wireguard_port)
    for one in analysed:
        if one.name in seen.off_port:
            warnings.warn(seen.off_port[one.name], CaptureWarning, stacklevel=4)
            one.report = replace(
                one.report, warnings=(*one.report.warnings, seen.off_port[one.name])
            )
    if len(groups) > 1:
        _warn_judged_apart(groups, config.clock_skew_s)
    findings += seen.findings
    findings = detect.confirm_by_path(findings, lambda capture: group_of.get(capture, -1))
    dropped = detect.smallest_dropped(findings)
    for one, table in tables:
        findings += detect.clamped_flows(table, dropped, one.name)
        others = _maybe_clamped(one, dropped)
        if others:
            findings += detect.clamped_flows(_exact_pass(one, others), dropped, one.name)
    for one in analysed:
        findings += detect.zero_windows(_facts(one), one.name, config)
        findings += detect.unseen_sends(_facts(one), one.name, findings, config)
    for one in analysed:
        findings += detect.stopped_mid_write(
            _facts(one), one.name, one.report.last_ts or 0.0, findings, one.host_mss, config
        )
    findings = _merge_same_flow(detect.sort_findings(findings))
    ties = underlay_pass.ties(inputs, findings, seen.messages)
    findings = underlay_pass.with_ties(findings, ties, seen.messages)
    findings = _with_times(findings, analysed)
    flows = [FlowReport(one.name, facts) for one in analysed for facts in _facts(one)]
    fell = detect.fell_at(findings)
    underlay = {
        (f.src, f.dst): f.largest_delivered_ip_len for f in findings if f.side == "underlay"
    }
    forgotten_mss: dict[detect.Path, tuple[int, int]] = {}
    for one in analysed:
        for key, value in one.forgotten.path_mss.items():
            forgotten_mss[key] = max(forgotten_mss.get(key, value), value)
    reports = path_reports(
        [f.facts for f in flows],
        _shown_paths(paths, paths_then, group_of, findings),
        dropped,
        delivered,
        fell,
        underlay,
        forgotten_mss,
        rose=detect.rose_at(findings),
    )
    evidence = TunnelEvidence(largest_packet=_largest_packet(findings, paths))
    for one in analysed:
        evidence.merge(tunnel_evidence(one.report, _facts(one), one.forgotten))
    recognised = tunnels.recognise(evidence, tunnel)
    return Report(
        # data seen: TCP data, or WireGuard messages both ends' underlays show delivered
        verdict=detect.verdict(
            findings, any(f.facts.data_packets for f in flows) or seen.delivered > 0
        ),
        findings=tuple(findings),
        paths=tuple(reports),
        recommendation=recommendation(
            findings, reports, recognised, measured, {s.endpoints for s in seen.sessions}
        ),
        captures=tuple(one.report for one in analysed),
        flows=tuple(flows),
        tool_version=__version__,
        tunnel=recognised,
        sessions=tuple(seen.sessions),
        ties=tuple(ties),
    )


def _warn_judged_apart(groups: list[list[_Analysed]], skew_s: float) -> None:
    """Tell each capture that was judged apart from others, taken at other times."""
    for group in groups:
        others = [one for other in groups if other is not group for one in other]
        if not others or group[0].report.first_ts is None:
            continue  # a capture without packets: nothing judged
        text = (
            f"taken at another time than {_names_and_times(others)}: judged apart from "
            f"{'it' if len(others) == 1 else 'them'} (captures are judged together when "
            f"taken within {skew_s:g} s of each other: what a path delivered at one time "
            "proves nothing of it at another; for two ends of one hang on hosts whose clocks "
            "disagree more, --clock-skew SECONDS)"
        )
        for one in group:
            message = f"{one.name}: {text}"
            warnings.warn(message, CaptureWarning, stacklevel=5)
            one.report = replace(one.report, warnings=(*one.report.warnings, message))


def _names_and_times(analysed: list[_Analysed]) -> str:
    shown = [
        f"{one.name} ({clock(one.report.first_ts)} UTC)"
        for one in analysed
        if one.report.first_ts is not None
    ]
    return ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")


def _shown_paths(
    paths: dict[detect.Path, PathSummary],
    paths_then: list[dict[detect.Path, PathSummary]],
    group_of: dict[str, int],
    findings: list[Finding],
) -> dict[detect.Path, PathSummary]:
    """What the report shows each path delivered: on a path that lost packets, what the
    captures taken at the time of the losses show (`paths_then`, by group; those proving the
    least, when it lost them at several times: the advice must hold at each); on the others,
    and when all were taken at one time, what every capture shows (`paths`)."""
    if len(paths_then) < 2:
        return paths
    lost: dict[detect.Path, tuple[int, set[int]]] = {}
    for f in findings:
        if f.dropped_ip_len is not None:
            smallest, where = lost.get((f.src, f.dst), (f.dropped_ip_len, set()))
            where.add(group_of.get(f.capture, -1))
            lost[(f.src, f.dst)] = (min(smallest, f.dropped_ip_len), where)
    shown = dict(paths)
    for key, (smallest, where) in lost.items():
        seen = [paths_then[i][key] for i in sorted(where) if i >= 0 and key in paths_then[i]]
        if not seen:
            shown.pop(key, None)
            continue
        shown[key] = min(
            seen, key=lambda s: max((size for size in s.delivered if size < smallest), default=0)
        )
    return shown


def _largest_packet(findings: list[Finding], paths: dict[detect.Path, PathSummary]) -> int:
    """The largest packet of known wire size the captures show sent: lost (a finding's) or
    delivered (on any path); not a super-packet's size, which no packet on the wire had."""
    sizes = [f.dropped_ip_len or 0 for f in findings]
    sizes += [size for summary in paths.values() for size in summary.delivered]
    return max((size for size in sizes if size <= ETHERNET_MTU), default=0)


def _with_times(findings: list[Finding], analysed: list[_Analysed]) -> list[Finding]:
    """Evidence whose rule kept only the frame number gets its time (from the records the
    first pass kept, else read again): JSON's `time` is null only for a timestamp that cannot
    be a date."""
    missing: dict[str, set[int]] = {}
    conns: dict[str, set[Conn]] = {}  # the connections whose kept records may hold them
    for f in findings:
        for e in f.evidence:
            if e.ts is None:
                missing.setdefault(e.capture, set()).add(e.frame)
                conns.setdefault(e.capture, set()).add(conn_of(f.flow))
    if not missing:
        return findings
    times: dict[tuple[str, int], float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)  # told in the first pass
        for one in analysed:
            if one.name in missing:
                kept = one.keeper.index_for(conns[one.name]) if one.keeper else None
                found = times_of(one.source, missing[one.name], kept, one.name)
                times.update(((one.name, frame), ts) for frame, ts in found.items())
    return [
        replace(
            f,
            evidence=tuple(
                replace(e, ts=times.get((e.capture, e.frame))) if e.ts is None else e
                for e in f.evidence
            ),
        )
        for f in findings
    ]


def tunnel_evidence(
    capture: CaptureReport, facts: list[DirectionFacts], forgotten: Forgotten | None = None
) -> TunnelEvidence:
    """What one capture shows of its tunnel: outer headers, interface names, SYNs' MSS (of
    the flows forgotten while reading too)."""
    mss = dict(forgotten.syn_mss) if forgotten is not None else {}
    for f in facts:
        if f.syn_mss:
            key = (f.syn_mss, f.flow.ip_version)
            mss[key] = mss.get(key, 0) + 1
    return TunnelEvidence(
        outer=dict(capture.tunnels),
        interfaces=list(capture.interfaces),
        link_types=set(capture.link_types),
        syn_mss=mss,
    )


def _facts(one: _Analysed) -> list[DirectionFacts]:
    """Every direction's facts: the exact pass's where it followed the direction, the fast
    pass's elsewhere (tests check that both give the same)."""
    if one.exact or not one.replayed or one.table is None:
        return one.facts
    exact = {(f.flow, f.first_frame): f for f in one.table.facts()}
    return [
        exact.get((f.flow, f.first_frame), f) if conn_of(f.flow) in one.replayed else f
        for f in one.facts
    ]


def _maybe_clamped(one: _Analysed, holed: dict[detect.Path, int]) -> set[Conn]:
    """The connections the exact pass did not read that `detect.clamped_flows` could name: on
    a path with a black hole (`holed`), data sent to a receiver that announced an MSS smaller
    than the largest its host announced, or none the facts know of when the fast pass forgot
    flows (one forgotten in its handshake came back without its SYN). The exact pass reads
    them to judge."""
    if one.exact or not holed:
        return set()

    def could_be(f: DirectionFacts) -> bool:
        if (f.flow.src, f.flow.dst) not in holed or not f.data_packets:
            return False
        if f.peer_syn_mss:
            return f.peer_syn_mss < one.host_mss.get(f.flow.dst, (0, 0))[1]
        return one.forgotten.flows > 0

    return {conn_of(f.flow) for f in one.facts if could_be(f)} - one.replayed


def _merge_same_flow(findings: list[Finding]) -> list[Finding]:
    """One finding per flow and kind: the same flow captured at both ends is one black hole,
    and one proven at one end is not also suspected at the other (a receiver's capture alone
    cannot tell the lost size that the sender's proves)."""
    proven = {f.flow for f in findings if f.kind == detect.KIND_BLACK_HOLE}
    seen: set[tuple[object, ...]] = set()
    kept = []
    for f in findings:
        key = (f.kind, f.flow)
        if f.kind != detect.KIND_TOO_BIG and key in seen:
            continue
        if f.kind == detect.KIND_SUSPECTED and f.flow in proven:
            continue
        seen.add(key)
        kept.append(f)
    return kept


def _traces(analysed: list[_Analysed], only: frozenset[FlowKey] | None) -> list[CaptureTrace]:
    """The segments and ACKs the exact pass kept: of every flow, or of those `only` names
    (`TraceRequest.chosen`)."""
    traces = []
    for one in analysed:
        trace = one.table.trace if one.table is not None else None
        trace = trace or Trace()
        if only is not None:
            trace = trace.only_flows(only)  # the exact pass over everything kept them all
        traces.append(CaptureTrace(one.name, one.report.first_ts, trace))
    return traces


def trace(
    source: Source,
    *,
    name: str | None = None,
    flows: Iterable[tuple[bytes, int, bytes, int]] | None = None,
) -> CaptureTrace:
    """Every data segment and ACK of one capture and what became of each segment, for
    postmortems (`frames.segments`, `frames.acks`): the exact pass over every flow, keeping it
    all, so memory grows with the capture (unlike `analyze`). `flows` keeps only those
    connections, each named by either direction's (src, sport, dst, dport)."""
    capture = Capture(source, name=name)
    only = frozenset(FlowKey(*f) for f in flows) if flows is not None else None
    table = FlowTable(capture.info.name, trace=Trace(only=only))
    with capture:
        feed(table, capture, Decoder())
    table.finish()
    assert table.trace is not None
    return CaptureTrace(capture.info.name, capture.info.first_ts, table.trace)
