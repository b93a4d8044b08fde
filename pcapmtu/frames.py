"""pandas views of an analysis, for notebooks: declared columns, units in their names.

The edge of the library: nothing below imports pandas. Each frame has the columns and dtypes
declared here, also when empty (an empty capture gives empty frames, never None). Times are
pandas datetimes in UTC (`time`) and seconds since the capture's first packet (`ts_s`);
sequence numbers are relative to the first one seen in their direction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from pcapmtu.analysis import CaptureTrace
from pcapmtu.capture import Source
from pcapmtu.charts import MessageRow, SegmentRow
from pcapmtu.detect import Finding
from pcapmtu.model import flow_text
from pcapmtu.report import FlowReport, Report
from pcapmtu.underlay import messages_and_fates

SEGMENT_COLUMNS: dict[str, str] = {
    "time": "datetime64[ns, UTC]",
    "ts_s": "float64",  # seconds since the capture's first packet
    "capture": "string",
    "flow": "string",  # "src:sport -> dst:dport" ("[v6]:port"), in the direction of the data
    "frame": "int64",
    "seq_start": "int64",  # relative sequence number of the first byte
    "seq_end": "int64",  # ... after the last byte
    "payload_len_bytes": "int64",
    "ip_len_bytes": "int64",  # as the IP header says
    "wire_ip_len_bytes": "int64",  # a GSO super-packet at its MSS-sized pieces' size
    "retrans_count": "int64",  # 0: first sent; n: the nth re-send of (some of) its bytes
    # "ack" / "sack": this copy got through; "resent": a later copy carried its bytes again
    # before they were acknowledged (presumably lost); "never": not acknowledged, or only
    # after its bytes were re-sent in smaller packets; "duplicate": acknowledged before
    "delivered_by": "string",
}
ACK_COLUMNS: dict[str, str] = {
    "time": "datetime64[ns, UTC]",
    "ts_s": "float64",
    "capture": "string",
    "flow": "string",  # the data direction it acknowledges
    "frame": "int64",
    "ack": "int64",  # relative, in the acknowledged direction's sequence space
    "sack_blocks": "object",  # tuple of (left, right), relative
}
FLOW_COLUMNS: dict[str, str] = {
    "capture": "string",
    "flow": "string",
    "ip_version": "int64",
    "packets": "int64",
    "data_packets": "int64",
    "data_bytes": "int64",
    "retrans_count": "int64",
    "dup_acks_count": "int64",
    "sack_blocks_count": "int64",
    "dsacks_count": "int64",
    "mss_bytes": "Int64",  # announced by the peer; <NA>: not seen
    "largest_ip_len_bytes": "int64",
    "first_time": "datetime64[ns, UTC]",
    "last_time": "datetime64[ns, UTC]",
}
FINDING_COLUMNS: dict[str, str] = {
    "kind": "string",  # black_hole, suspected_black_hole, mss_clamped, icmp_too_big, ...
    "side": "string",
    "capture": "string",
    "flow": "string",
    "ip_version": "int64",
    "dropped_ip_len_bytes": "Int64",
    "largest_delivered_ip_len_bytes": "Int64",
    "transmissions": "int64",
    "recovered_by": "string",  # <NA>, smaller_segments, pmtud, path
    "recovered_after_s": "float64",
    "mss_bytes": "Int64",
    "icmp_mtu_bytes": "Int64",
    "first_time": "datetime64[ns, UTC]",
}
EVIDENCE_COLUMNS: dict[str, str] = {
    "time": "datetime64[ns, UTC]",
    "kind": "string",  # the finding's
    "flow": "string",  # the finding's
    "capture": "string",  # where the frame is
    "frame": "int64",
    "what": "string",
}
TOO_BIG_COLUMNS: dict[str, str] = {
    "time": "datetime64[ns, UTC]",
    "capture": "string",
    "quoted_flow": "string",  # the packet the router could not forward
    "quoted_ip_len_bytes": "Int64",
    "mtu_bytes": "Int64",  # the next-hop MTU the router announced
}
OUTER_COLUMNS: dict[str, str] = {
    "time": "datetime64[ns, UTC]",
    "ts_s": "float64",  # seconds since its capture's first WireGuard message
    "capture": "string",
    "tunnel": "string",  # the outer UDP, "src:sport -> dst:dport", in the direction sent
    "receiver": "Int64",  # the receiver's index (transport messages); <NA>: a handshake
    "type": "string",  # initiation, response, cookie, transport, keepalive
    "counter": "Int64",
    "frame": "int64",
    "outer_ip_len_bytes": "int64",  # the whole message's IP packet, also when fragmented
    "inner_padded_bytes": "Int64",  # the inner packet, padded to 16; 0: a keepalive
    "fragments": "int64",  # IP fragments that carried it (1: not fragmented)
    "delivered": "boolean",  # the other end's capture holds it; <NA>: no capture tells
}

# Each frame's function name -> its columns: for docs and tests that walk them all.
COLUMNS: dict[str, dict[str, str]] = {
    "segments": SEGMENT_COLUMNS,
    "acks": ACK_COLUMNS,
    "flows": FLOW_COLUMNS,
    "findings": FINDING_COLUMNS,
    "evidence": EVIDENCE_COLUMNS,
    "too_big": TOO_BIG_COLUMNS,
    "outer": OUTER_COLUMNS,
}


def flow_label(src: bytes, sport: int, dst: bytes, dport: int) -> str:
    """The `flow` column's text: "src:sport -> dst:dport", an IPv6 address in brackets."""
    return flow_text(src, sport, dst, dport)


def segments(traced: CaptureTrace | Sequence[CaptureTrace]) -> pd.DataFrame:
    """One row per data segment (a TCP segment carrying bytes), in frame order."""
    rows = []
    for t in _each(traced):
        start = t.first_ts or 0.0
        for c in t.trace.segments:
            row = (c.ts, c.ts - start, t.name, c.flow.text(), c.frame, c.start, c.end)
            rows.append((*row, c.payload_len, c.ip_len, c.size, c.resends, t.trace.fate(c.frame)))
    return _frame(rows, SEGMENT_COLUMNS)


def acks(traced: CaptureTrace | Sequence[CaptureTrace]) -> pd.DataFrame:
    """One row per ACK, in frame order, with its SACK blocks."""
    rows = []
    for t in _each(traced):
        start = t.first_ts or 0.0
        for a in t.trace.acks:
            rows.append((a.ts, a.ts - start, t.name, a.flow.text(), a.frame, a.ack, a.sack_blocks))
    return _frame(rows, ACK_COLUMNS)


def flows(report: Report) -> pd.DataFrame:
    """One row per flow and direction, with the counts the report shows."""
    return _frame([_flow_row(f) for f in report.flows], FLOW_COLUMNS)


def findings(report: Report) -> pd.DataFrame:
    """One row per finding, black holes first."""
    return _frame([_finding_row(f) for f in report.findings], FINDING_COLUMNS)


def evidence(report: Report) -> pd.DataFrame:
    """One row per piece of evidence of each finding, in the findings' order."""
    rows = [
        (e.ts, f.kind, f.flow.text(), e.capture, e.frame, e.what)
        for f in report.findings
        for e in f.evidence
    ]
    return _frame(rows, EVIDENCE_COLUMNS)


def too_big(report: Report) -> pd.DataFrame:
    """One row per ICMP "fragmentation needed" / "packet too big" message."""
    rows = [
        (
            f.first_ts,
            f.capture,
            f.flow.text(),
            f.dropped_ip_len,
            f.icmp_mtu,
        )
        for f in report.findings
        if f.kind == "icmp_too_big"
    ]
    return _frame(rows, TOO_BIG_COLUMNS)


def outer(
    captures: Source | Sequence[Source],
    *,
    names: Sequence[str] | None = None,
    wireguard_port: int | None = None,
) -> pd.DataFrame:
    """One row per WireGuard message in underlay captures (pcapmtu.analyze tells the verdict;
    this shows every message): its tunnel, type, counter, outer and inner sizes, fragments, and,
    where two captures (both ends) tell it, whether it was delivered. Holds every message."""
    sources: list[Source] = (
        list(captures) if isinstance(captures, list | tuple) else [captures]  # type: ignore[list-item]
    )
    read = messages_and_fates(sources, names, wireguard_port)
    first: dict[str, float] = {}
    for m, _ in read:
        first.setdefault(m.capture, m.ts)
    rows = [
        (
            m.ts,
            m.ts - first[m.capture],
            m.capture,
            flow_text(m.src, m.sport, m.dst, m.dport),
            m.receiver,
            _MESSAGE_TYPES.get(m.kind, "transport") if m.padded_inner != 0 else "keepalive",
            m.counter,
            m.frame,
            m.outer_ip_len,
            m.padded_inner,
            m.fragments,
            delivered,
        )
        for m, delivered in read
    ]
    return _frame(rows, OUTER_COLUMNS)


_MESSAGE_TYPES = {1: "initiation", 2: "response", 3: "cookie", 4: "transport"}


def segment_rows(segments: pd.DataFrame) -> list[SegmentRow]:
    """The rows of a `segments` frame as the pictures take them (`charts.py`)."""
    columns = [segments[name] for name in SegmentRow.__dataclass_fields__]
    return [
        SegmentRow(float(t), str(c), str(f), int(a), int(b), int(n), int(w), int(r), str(d))
        for t, c, f, a, b, n, w, r, d in zip(*columns, strict=True)
    ]


def message_rows(outer: pd.DataFrame) -> list[MessageRow]:
    """The transport messages and keepalives of an `outer` frame as the pictures take them."""
    shown = outer[outer["type"].isin(["transport", "keepalive"])]
    return [
        MessageRow(
            float(ts), str(c), str(t), int(size), int(pieces), None if pd.isna(d) else bool(d)
        )
        for ts, c, t, size, pieces, d in zip(
            shown["ts_s"],
            shown["capture"],
            shown["tunnel"],
            shown["outer_ip_len_bytes"],
            shown["fragments"],
            shown["delivered"],
            strict=True,
        )
    ]


def _each(traced: CaptureTrace | Sequence[CaptureTrace]) -> Iterable[CaptureTrace]:
    return [traced] if isinstance(traced, CaptureTrace) else traced


def _flow_row(report: FlowReport) -> tuple[Any, ...]:
    f = report.facts
    return (
        report.capture,
        f.flow.text(),
        f.flow.ip_version,
        f.packets,
        f.data_packets,
        f.data_bytes,
        f.retransmissions,
        f.dup_acks,
        f.sack_blocks,
        f.dsacks,
        f.peer_syn_mss,
        f.largest_ip_len,
        f.first_ts,  # seconds: `_frame` turns them into times, all at once
        f.last_ts,
    )


def _finding_row(f: Finding) -> tuple[Any, ...]:
    return (
        f.kind,
        f.side,
        f.capture,
        f.flow.text(),
        f.ip_version,
        f.dropped_ip_len,
        f.largest_delivered_ip_len,
        f.transmissions,
        f.recovered.by if f.recovered else None,
        f.recovered.after_s if f.recovered else float("nan"),
        f.mss,
        f.icmp_mtu,
        f.first_ts,
    )


def _frame(rows: list[tuple[Any, ...]], columns: dict[str, str]) -> pd.DataFrame:
    """A frame of `rows` with the declared columns and dtypes. The values of time columns are
    seconds since the epoch (None: unknown); a time no date can hold (a damaged capture's) is
    NaT, as the report's null."""
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for name, dtype in columns.items():
        if dtype.startswith("datetime64"):
            seconds = frame[name].astype("float64")
            frame[name] = pd.to_datetime(seconds, unit="s", utc=True, errors="coerce")
    return frame.astype(columns)
