"""Hostile and odd input (issue 14): the reproducers in `../shared/robustness/` (skipped when
that folder is absent) and the same shapes built here."""

from __future__ import annotations

import functools
import json
import os
import struct
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.hostile import sack_ack, spoofed, syn, write_flood
from tests.conftest import REPO, SAMPLES

ROBUSTNESS = REPO.parent / "shared" / "robustness"


def _needs(name: str) -> Path:
    path = ROBUSTNESS / name
    if not path.is_file():
        pytest.skip(f"{path} is not beside the checkout")
    return path


def test_the_reproducer_of_the_finalizer_deadlock_does_not_hang() -> None:
    script = _needs("deadlock_gc_finalizer.py")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "no hang", done.stderr


# A half-read capture freed by the cyclic GC while another thread starts: the GC's finalizer
# must not join the reading thread (it would wait on a lock the starting thread holds).
HALF_READ = textwrap.dedent(
    """
    import gc, threading, warnings, faulthandler, sys
    warnings.simplefilter("ignore")
    import pcapmtu.capture as C
    faulthandler.dump_traceback_later(20, exit=True)
    C.BATCH_BYTES = 1 << 16
    gc.disable()
    cap = C.Capture(sys.argv[1])
    for batch in cap.batches():
        break
    if sys.argv[2] == "close":
        cap.close()  # what a pass that stops early does
    del cap, batch
    original = threading._maintain_shutdown_locks
    def with_gc():
        gc.collect()
        return original()
    threading._maintain_shutdown_locks = with_gc
    t = threading.Thread(target=lambda: None); t.start(); t.join()
    readers = [t for t in threading.enumerate() if t.name.startswith("pcapmtu-read")]
    for reader in readers:
        reader.join(5)  # told to stop, it ends by itself
    print("no hang", sum(reader.is_alive() for reader in readers))
    """
)


@pytest.mark.parametrize("how", ["freed", "close"])
@pytest.mark.parametrize(
    "capture", ["healthy-random-loss.pcap", "pcapng-two-interfaces.pcapng"], ids=str
)
def test_a_half_read_capture_neither_hangs_nor_leaves_its_reader(capture: str, how: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HALF_READ, str(SAMPLES / capture), how],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["no", "hang", "0"]  # and no reading thread left behind


# -- pcapng with other blocks between its packets --------------------------------------------


def _with_blocks_between(pcapng: bytes, block: bytes) -> bytes:
    """SYNTHETIC: the real pcapng (little-endian) with `block` after every Enhanced Packet
    Block."""
    out, at = bytearray(), 0
    while at + 8 <= len(pcapng):
        kind, length = struct.unpack_from("<II", pcapng, at)
        out += pcapng[at : at + length]
        if kind == 6:
            out += block
        at += length
    return bytes(out)


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


BETWEEN = {
    "name resolution": _block(4, struct.pack("<HH", 0, 0)),  # nrb_record_end only
    "interface statistics": _block(5, struct.pack("<III", 0, 0, 0)),
    "custom": _block(0x00000BAD, struct.pack("<I", 32473) + b"pcapmtu!"),
}


@pytest.mark.parametrize("what", list(BETWEEN))
def test_blocks_between_the_packets_change_nothing(what: str) -> None:
    from pcapmtu import analyze

    plain = (SAMPLES / "pcapng-two-interfaces.pcapng").read_bytes()
    mixed = _with_blocks_between(plain, BETWEEN[what])
    assert len(mixed) > len(plain)
    a, b = analyze(plain, names=["x"]), analyze(mixed, names=["x"])
    assert a.render_text().replace(str(len(plain)), "") == b.render_text().replace(
        str(len(mixed)), ""
    )
    assert a.to_dict()["findings"] == b.to_dict()["findings"]


# The peak RSS of this process since it started: VmHWM, not ru_maxrss, which a process forked
# from a large one (pytest) inherits across exec.
PEAK_KB = textwrap.dedent(
    """
    def peak_kb():
        import resource
        try:
            with open("/proc/self/status") as status:
                line = next(x for x in status if x.startswith("VmHWM:"))
            return int(line.split()[1])
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    """
)


PEAK = textwrap.dedent(
    """
    import resource, sys, time, warnings
    warnings.simplefilter("ignore")
    import pcapmtu
    start = time.process_time()
    pcapmtu.analyze(sys.argv[1])
    print(peak_kb(), time.process_time() - start)
    """
)


def _peak_kb_and_cpu_s(path: Path) -> tuple[int, float]:
    done = subprocess.run(
        [sys.executable, "-c", PEAK_KB + PEAK, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    kb, seconds = done.stdout.split()
    return int(kb), float(seconds)


@pytest.mark.parametrize(
    "name", ["pcapng-nrb-after-every-packet.pcapng", "pcapng-idb-epb-interleaved-5000.pcapng"]
)
def test_interleaved_blocks_cost_what_any_pcapng_costs(name: str) -> None:
    """Were 874 MB and 2.3 GB (every run of packets between two blocks copied the whole read
    buffer), and 13 s for the 5000 interfaces (their table made again for each run)."""
    kb, seconds = _peak_kb_and_cpu_s(_needs(name))
    baseline, _ = _peak_kb_and_cpu_s(SAMPLES / "pcapng-two-interfaces.pcapng")
    assert kb < baseline + 40_000, (kb, baseline)
    assert seconds < 5.0


# -- empty and tiny records ----------------------------------------------------------------------


def _pcap_of(link_type: int, records: list[bytes]) -> bytes:
    """SYNTHETIC: a pcap of `records` (orig_len = captured length, one microsecond apart)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, link_type))
    for i, data in enumerate(records):
        out += struct.pack("<IIII", 1, i, len(data), len(data)) + data
    return bytes(out)


@pytest.mark.parametrize("link_type", [1, 101, 113, 276, 147], ids=str)
def test_tiny_records_take_the_fast_lane_and_count_as_the_exact_decoder_counts(
    link_type: int,
) -> None:
    """Thousands of records of 0 to 16 bytes (random, some repeated: IP versions 4 and 6,
    Ethernet types), and a real capture's packets among them: both lanes agree."""
    import random

    from tests.conftest import require_fast_pass
    from tests.test_columns import _decode_all

    require_fast_pass()
    rng = random.Random(link_type)
    tiny = [bytes(rng.choice((0, 0x45, 0x60, 0x08, 0xFF)) for _ in range(rng.randint(0, 16)))]
    tiny += [rng.randbytes(rng.randint(0, 16)) for _ in range(3000)]
    tiny += [b""] * 5000 + [b"\x45"] * 500
    rng.shuffle(tiny)
    capture = _pcap_of(link_type, tiny)
    fast, fast_decoder, _ = _decode_all(capture, "fast")
    exact, exact_decoder, _ = _decode_all(capture, "exact")
    assert sum(exact_decoder.skipped.values()) + sum(
        exact_decoder.unknown_link_types.values()
    ) == len(tiny)
    assert fast_decoder.skipped == exact_decoder.skipped
    assert fast_decoder.unknown_link_types == exact_decoder.unknown_link_types
    assert len(fast["frame"]) == len(exact["frame"]) == 0


def test_millions_of_empty_records_take_seconds(tmp_path: Path) -> None:
    """Was 90 s of CPU for the shared reproducer's 16.8 M empty records (about 3 s per
    million, each decoded alone): 4 M here, in a few seconds and bounded memory (the batch's
    arrays, not the capture)."""
    from tests.conftest import require_fast_pass

    require_fast_pass()
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    path = tmp_path / "empty.pcap"
    path.write_bytes(header + struct.pack("<IIII", 1, 0, 0, 0) * 4_000_000)
    kb, seconds = _peak_kb_and_cpu_s(path)
    assert seconds < 6.0, seconds
    assert kb < 600_000, kb


# -- names and values from outside ----------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "\u00b2",
        "\u0661\u0664\u0662\u0660",
        "\uff11\uff14\uff12\uff10",
        "1420\u00b2",
        "\u2074\u00b2\u2070",
    ],
    ids=["superscript", "arabic", "fullwidth", "mixed", "super3"],
)
def test_only_ascii_digits_are_an_mtu(written: str, tmp_path: Path) -> None:
    """wg-quick reads ASCII digits only: the rest is INVALID (exit 1), never an internal
    error (was: ValueError, exit 3) and never OK (was: "١٤٢٠" read as 1420)."""
    conf = tmp_path / "wg0.conf"
    conf.write_text(f"[Interface]\nMTU = {written}\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pcapmtu", "config-check", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("INVALID") and "is not a number" in done.stdout


@pytest.mark.parametrize(
    "name", ["config-mtu-superscript-two.conf", "config-mtu-arabic-indic-digits.conf"]
)
def test_the_shared_config_reproducers_are_invalid(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pcapmtu", "config-check", str(_needs(name))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout.split()[0]) == (1, "INVALID"), done.stderr


def test_a_huge_config_is_refused_in_one_line_and_a_long_expression_shortened(
    tmp_path: Path,
) -> None:
    huge = tmp_path / "huge.conf"
    huge.write_text("[Interface]\nMTU = 1420\n" + "# padding\n" * 120_000)
    done = subprocess.run(
        [sys.executable, "-m", "pcapmtu", "config-check", str(huge)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "too large for a wg-quick config" in done.stderr
    long = tmp_path / "long.conf"
    long.write_text("[Interface]\nMTU = {{ " + "x" * 5000 + " }}\n")
    done = subprocess.run(
        [sys.executable, "-m", "pcapmtu", "config-check", str(long)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "more characters" in done.stdout
    assert len(done.stdout) < 1000


def test_output_files_are_written_whole_or_not_at_all(tmp_path: Path) -> None:
    import os

    from pcapmtu import output

    page = tmp_path / "page.html"
    page.write_text("the old page")
    os.chmod(page, 0o640)
    output.write_text(page, "the new page")
    assert page.read_text() == "the new page" and page.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]  # no temporary left

    class Interrupted(Exception):
        pass

    def interrupted(*_: object) -> None:
        raise Interrupted

    real = os.replace
    os.replace = interrupted  # type: ignore[assignment]
    try:
        with pytest.raises(Interrupted):
            output.write_text(page, "half")
    finally:
        os.replace = real
    assert page.read_text() == "the new page"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_a_failed_report_leaves_the_old_page(tmp_path: Path) -> None:
    page = tmp_path / "postmortem.html"
    page.write_text("yesterday's postmortem")
    bad = tmp_path / "text.pcap"
    bad.write_text("not a capture\n")
    done = subprocess.run(
        [sys.executable, "-m", "pcapmtu", "report", str(bad), "-o", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert page.read_text() == "yesterday's postmortem"


# -- rough edges ----------------------------------------------------------------------------


@pytest.mark.parametrize("capture", sorted(SAMPLES.glob("*.pcap*")), ids=lambda p: p.name)
def test_every_piece_of_evidence_has_its_time(capture: Path) -> None:
    """JSON's evidence `time` is null only where a timestamp cannot be a date (was null for
    frames a rule kept by number alone: 21 of the samples had some)."""
    from pcapmtu import analyze

    report = analyze(capture).to_dict()
    untimed = [e for f in report["findings"] for e in f["evidence"] if e["time"] is None]
    assert untimed == []


# -- a flood of flows ------------------------------------------------------------------------


def test_flows_without_data_are_counted_not_listed(tmp_path: Path) -> None:

    flood = tmp_path / "syn-flood.pcap"
    write_flood(flood, 5000)
    run = [sys.executable, "-m", "pcapmtu", "analyze", "--json", str(flood)]
    short = json.loads(subprocess.run(run, capture_output=True, timeout=300).stdout)
    assert short["flows"] == []
    assert short["flows_not_listed"] == {"directions": 5000, "packets": 5000}
    every = json.loads(subprocess.run([*run, "--all-flows"], capture_output=True).stdout)
    assert len(every["flows"]) == 5000 and every["flows_not_listed"]["directions"] == 0


def test_the_flows_listed_are_those_with_data_or_findings() -> None:
    from pcapmtu import analyze

    report = analyze(SAMPLES / "many-flows.pcap")
    listed = report.listed_flows()
    assert listed and all(
        f.facts.data_packets or any(f.flow in (x.flow, x.flow.reverse()) for x in report.findings)
        for f in listed
    )
    assert len(report.to_dict()["flows"]) + report.to_dict()["flows_not_listed"][
        "directions"
    ] == len(report.flows)


def test_past_the_limit_flows_without_data_are_forgotten_unless_all_are_asked_for(
    tmp_path: Path,
) -> None:

    from pcapmtu.fast.screen import LIVE_LIMIT
    from tests.conftest import require_fast_pass

    require_fast_pass()
    flows = LIVE_LIMIT + 5000
    flood = tmp_path / "syn-flood.pcap"
    write_flood(flood, flows)
    run = [sys.executable, "-m", "pcapmtu", "analyze", str(flood)]
    text = subprocess.run(run, capture_output=True, text=True, timeout=300).stdout
    short = json.loads(subprocess.run([*run, "--json"], capture_output=True, timeout=300).stdout)
    assert short["flows"] == []
    assert short["flows_not_listed"] == {"directions": flows, "packets": flows}
    forgotten = next(line for line in text.splitlines() if "forgotten" in line).split()[0]
    assert flows - LIVE_LIMIT < int(forgotten) <= flows  # down to half the limit, then more
    every = json.loads(subprocess.run([*run, "--json", "--all-flows"], capture_output=True).stdout)
    assert len(every["flows"]) == flows and every["flows_not_listed"]["directions"] == 0


def test_the_all_flows_help_states_the_limit() -> None:
    from pcapmtu.fast.screen import LIVE_LIMIT

    done = subprocess.run(
        [sys.executable, "-m", "pcapmtu", "analyze", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert f"past {LIVE_LIMIT:,} flow directions" in done.stdout


def test_forgetting_flows_without_data_changes_no_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sample, with every flow forgotten as soon as it has no data, a few records at a
    time (one: so flows in their handshake are forgotten, and come back mid-stream when their data
    comes): the same verdict, findings and fix as when nothing is forgotten."""
    import warnings

    import pcapmtu.analysis
    import pcapmtu.fast.screen
    from pcapmtu import analyze
    from tests.conftest import require_fast_pass

    require_fast_pass()
    warnings.simplefilter("ignore")
    forgot = {}
    for capture in sorted(SAMPLES.glob("*.pcap*")):
        monkeypatch.setattr(pcapmtu.fast.screen, "LIVE_LIMIT", 1 << 16)
        monkeypatch.setattr(pcapmtu.analysis, "PART_RECORDS", 1 << 15)
        kept = analyze(capture)
        monkeypatch.setattr(pcapmtu.fast.screen, "LIVE_LIMIT", 0)
        monkeypatch.setattr(pcapmtu.analysis, "PART_RECORDS", 1)
        forgetting = analyze(capture)
        a, b = kept.to_dict(), forgetting.to_dict()
        for key in ("verdict", "summary", "to_decide", "recommendation", "underlay"):
            assert a[key] == b[key], (capture.name, key)
        assert [_but_where_it_began(f) for f in a["findings"]] == [
            _but_where_it_began(f) for f in b["findings"]
        ], capture.name
        forgot[capture.name] = sum(c.directions_forgotten for c in forgetting.captures)
        assert sum(c.directions_forgotten for c in kept.captures) == 0
    assert forgot["many-flows.pcap"] > 0 and forgot["incident.home-wg0.pcap"] > 0, forgot


def _but_where_it_began(finding: dict[str, Any]) -> dict[str, Any]:
    """A zero-window finding cites its direction's first segment: when the flow was forgotten
    in its handshake, that is the first one after it. The rest must not change."""
    if finding["kind"] != "zero_window":
        return finding
    return {k: v for k, v in finding.items() if k not in ("evidence", "first_time")}


def _buried(sample: Path, flows: int, path: Path) -> None:
    """SYNTHETIC flood around a real capture: `flows` SYNs (raw IP, as the sample's link type)
    spread over the sample's span and a second either side, merged with its records by time."""
    import dpkt

    with sample.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        assert reader.datalink() == 101  # raw IP
        real = [(ts, bytes(data)) for ts, data in reader]
    first, last = real[0][0] - 1, real[-1][0] + 1
    fake = ((first + (last - first) * i / flows, syn(i, link=b"")) for i in range(flows))
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    for ts, data in sorted([*real, *fake], key=lambda r: r[0]):
        micros = round(ts * 1e6)
        out += struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(data), len(data))
        out += data
    path.write_bytes(bytes(out))


def test_a_black_hole_buried_in_a_flood_is_found_as_it_is_alone(tmp_path: Path) -> None:
    """The incident, with 150,000 SYNs of other hosts around and among its packets: the same
    verdict, black hole, bracket and fix; the flood is counted, not kept."""
    from pcapmtu import analyze
    from tests.conftest import require_fast_pass

    require_fast_pass()
    sample = SAMPLES / "incident.home-wg0.pcap"
    flooded = tmp_path / "flooded.pcap"
    _buried(sample, 150_000, flooded)
    alone, among = analyze(sample), analyze(flooded)
    assert among.verdict == alone.verdict == "black_hole"
    assert among.recommendation == alone.recommendation
    assert [(f.kind, f.flow, f.dropped_ip_len, f.largest_delivered_ip_len, f.transmissions)
            for f in among.findings] == [
        (f.kind, f.flow, f.dropped_ip_len, f.largest_delivered_ip_len, f.transmissions)
        for f in alone.findings
    ]  # fmt: skip
    assert [f.flow for f in among.listed_flows()] == [f.flow for f in alone.listed_flows()]
    assert sum(c.directions_forgotten for c in among.captures) > 150_000 - (1 << 16)


PEAK_OF = textwrap.dedent(
    """
    import resource, sys, time, warnings
    warnings.simplefilter("ignore")
    import pcapmtu
    start = time.process_time()
    report = pcapmtu.analyze(sys.argv[1])
    assert report.captures[0].packets == int(sys.argv[2]), report.captures[0].packets
    print(peak_kb(), time.process_time() - start)
    """
)


def _flood_peak_kb(
    flows: int, tmp_path: Path, stdin: bool = False, make: Callable[[int], bytes] = syn
) -> int:
    """Peak RSS of analysing a flood of `flows` SYNs: from a file, or streamed into stdin."""
    path = tmp_path / f"flood-{flows}.pcap"
    write_flood(path, flows, make)
    where = "-" if stdin else str(path)
    with path.open("rb") as stream:
        done = subprocess.run(
            [sys.executable, "-c", PEAK_KB + PEAK_OF, where, str(flows)],
            stdin=stream if stdin else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    path.unlink()
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[0])


@pytest.mark.parametrize(
    ("stdin", "make", "bound_kb", "growth_kb"),
    [
        (False, syn, 300_000, 64_000),
        (True, syn, 300_000, 64_000),
        (False, spoofed, 400_000, 96_000),
        (False, sack_ack, 450_000, 128_000),
    ],
    ids=["file", "stdin", "spoofed", "sack-ack"],
)
def test_a_flood_of_flows_runs_in_bounded_memory(
    stdin: bool, make: Callable[[int], bytes], bound_kb: int, growth_kb: int, tmp_path: Path
) -> None:
    """Was 1.9 GB at 1 M flows, 1.9 KB a flow: now three times the flows cost little more
    memory (about 30 MB here, the tables settling), from a file or streamed into stdin, and
    stay under the README's bound. Spoofed: each SYN from its own address, with an MSS (the
    hosts' MSS are forgotten with their flows). SACK-ACK: each a pure ACK from its own address
    SACKing bytes above its ACK: a stuck ACK does not keep a direction without data from being
    forgotten, nor make a finding (1 M: 370 MB, 364 MB before the stuck-ACK rule; ACKs grow
    more than SYNs from 150,000 to 450,000 flows, 85 MB against 42). Spoofed SYNs settle
    later (their hosts' tables too): 278, 306, 340 and 337 MB at 150,000, 300,000, 450,000
    and 900,000 flows on an EPYC, so 62 MB of growth here and 64 to 72 MB on a Xeon, against
    570 MB at 1.9 KB a flow."""
    from tests.conftest import require_fast_pass

    require_fast_pass()
    small = _flood_peak_kb(150_000, tmp_path, stdin, make)
    large = _flood_peak_kb(450_000, tmp_path, stdin, make)
    assert large < small + growth_kb, (small, large)  # 1.9 KB a flow would be 570 MB more
    assert large < bound_kb, large


def test_one_direction_held_at_the_outstanding_limit_is_read_in_linear_time(
    tmp_path: Path,
) -> None:
    """SYNTHETIC: a capture of the sending side only (no ACK ever seen) whose one flow has
    600,000 segments: past 262,144 outstanding the fast pass forgets the oldest. It used to
    move all the others for each segment sent after that (0.3 ms a packet: about 2 minutes
    here); now under a second (the timeout leaves a wide margin)."""
    from tests import synthetic
    from tests.conftest import require_fast_pass

    require_fast_pass()
    path = tmp_path / "sender-only.pcap"
    path.write_bytes(synthetic.one_way(600_000))
    done = subprocess.run(
        [sys.executable, "-m", "pcapmtu", "analyze", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    (flow,) = json.loads(done.stdout)["flows"]
    assert flow["data_packets"] == 600_000


# -- the lab touches only what it made ---------------------------------------------------------


def _netns(*args: str) -> None:
    subprocess.run(["ip", "netns", *args], check=True, capture_output=True, timeout=30)


@pytest.mark.lab
@pytest.mark.usefixtures("lab_ready")
def test_cleanup_removes_only_namespaces_the_lab_marked() -> None:
    """A namespace named like a dead run's but not made by the lab (no mark) survives, and its
    process is not signalled; one the lab marked, whose run is gone, is removed."""
    from pcapmtu.lab import marks
    from pcapmtu.lab.cleanup import remove_stale

    dead = subprocess.Popen(["true"])
    dead.wait()
    decoy, ours = "pcapmtu-999999-decoy-home", f"pcapmtu-{dead.pid}-test-home"
    sleepers = []
    try:
        for name in (decoy, ours):
            _netns("add", name)
            sleepers.append(
                subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"])  # ours to end
            )
        marks.mark(ours)
        (marks.MARK_DIR / ours).write_text(
            (marks.MARK_DIR / ours).read_text().replace(str(os.getpid()), str(dead.pid), 1)
        )
        removed = remove_stale()
        assert ours in removed and decoy not in removed
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert decoy in listed and ours not in listed
        assert sleepers[0].poll() is None  # the decoy's process was left alone
        assert not (marks.MARK_DIR / ours).exists()
    finally:
        for proc in sleepers:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for name in (decoy, ours):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        marks.unmark(ours)


@pytest.mark.lab
@pytest.mark.usefixtures("lab_ready")
@pytest.mark.parametrize("after_s", [0.3, 1.5, 3.0])
def test_two_ctrl_c_leave_nothing_behind(after_s: float, tmp_path: Path) -> None:
    """Ctrl-C, and another one a moment later (during the teardown): exit 130, no traceback,
    and no namespace, mark, process or work folder of the run left."""
    import signal
    import time

    from pcapmtu.lab import marks

    run = subprocess.Popen(
        [sys.executable, "-m", "pcapmtu", "lab", "run", "-o", str(tmp_path / "x.pcap")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(after_s)
    run.send_signal(signal.SIGINT)
    time.sleep(0.2)
    if run.poll() is None:
        run.send_signal(signal.SIGINT)
    _out, err = run.communicate(timeout=120)
    assert run.returncode == 130 and "Traceback" not in err, err
    mine = f"pcapmtu-{run.pid}-"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert mine not in listed
    assert not (marks.MARK_DIR.is_dir() and list(marks.MARK_DIR.glob(f"{mine}*")))
    assert not list(Path("/tmp").glob(f"pcapmtu-lab-{run.pid}-*"))
    left = subprocess.run(["pgrep", "-f", f"pcapmtu-lab-{run.pid}-"], capture_output=True)
    assert left.returncode == 1  # no process of the run (they name its work folder)


def test_names_from_outside_are_shown_escaped_everywhere(tmp_path: Path) -> None:
    """A file name that is not UTF-8 and holds a terminal escape: escaped in the text, the
    JSON, the JUnit XML (valid XML: was an internal error) and the HTML page; the same for a
    missing one in the error line."""
    import xml.dom.minidom

    raw = os.fsencode(tmp_path) + b"/bad\xffname\x1b[31m.pcap"
    with open(raw, "wb") as f:
        f.write((SAMPLES / "incident.home-wg0.pcap").read_bytes())
    name = os.fsdecode(raw)
    shown = f"{tmp_path}/bad\\xffname\\x1b[31m.pcap"

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "pcapmtu", *args], capture_output=True)

    text = run("analyze", name)
    assert shown.encode() in text.stdout and b"\x1b" not in text.stdout
    data = json.loads(run("analyze", "--json", name).stdout)
    assert data["captures"][0]["name"] == shown
    junit = tmp_path / "junit.xml"
    done = run("check", name, "--junit", str(junit))
    assert done.returncode == 1 and b"internal error" not in done.stderr
    xml.dom.minidom.parse(str(junit))
    page = tmp_path / "page.html"
    assert run("report", name, "-o", str(page)).returncode == 1
    assert "\x1b" not in page.read_text() and "bad\\xffname" in page.read_text()
    missing = run("analyze", os.fsdecode(os.fsencode(tmp_path) + b"/gone\x1b[2J\xff.pcap"))
    assert missing.returncode == 2 and b"\x1b" not in missing.stderr
    assert b"gone\\x1b[2J\\xff.pcap: no such file" in missing.stderr


def test_a_manifest_names_only_files_in_its_folder(tmp_path: Path) -> None:

    outside = tmp_path / "outside.pcap"
    outside.write_bytes((SAMPLES / "incident.home-wg0.pcap").read_bytes())
    folder = tmp_path / "checked"
    folder.mkdir()
    (folder / "fixed.pcap").write_bytes((SAMPLES / "fixed-mtu1340.pcap").read_bytes())
    (folder / "linked.pcap").symlink_to(outside)  # a link out of the folder: not followed
    manifest = {"captures": {"../outside.pcap": {"verdict": "black_hole"}}}
    (folder / "expectations.json").write_text(json.dumps(manifest))
    run = [sys.executable, "-m", "pcapmtu", "check", str(folder)]
    done = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "outside the manifest's folder" in done.stderr
    (folder / "expectations.json").write_text(json.dumps({"captures": {}}))
    done = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fixed.pcap" in done.stdout and "linked.pcap" not in done.stdout + done.stderr


def test_thresholds_of_one_value_are_one_line_and_the_bracket_has_its_legend() -> None:
    from pcapmtu.charts import Rule, Thresholds

    t = Thresholds(tunnel_mtu=1420, largest_delivered=444, smallest_dropped=1420,
                   recommended_mtu=1419)  # fmt: skip
    layers = t.layers(across=True)
    labels = [layer.label for layer in layers]
    assert "1419: largest that may fit; WireGuard MTU to set" in labels
    assert [label.split(":")[0] for label in labels if ":" in label].count("1419") == 1
    assert "444 to 1419: where the path's limit lies" in labels
    assert [r.value for r in layers if isinstance(r, Rule)] == [1500, 1420, 444, 1419]


def test_the_page_tells_the_verdict_and_the_fix_before_the_pictures(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    capture = SAMPLES / "many-flows.pcap"
    done = subprocess.run(
        [sys.executable, "-m", "pcapmtu", "report", str(capture), "-o", str(page)],
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 1
    html = page.read_text()
    verdict, fix = html.index("pcapmtu-verdict"), html.index("<h2>Fix</h2>")
    assert verdict < fix < html.index("<figure>") < html.index("<h2>Evidence</h2>")
    assert html.count("<h2>Fix</h2>") == 1 and "<h3>Fix</h3>" not in html
    titles = [t.split("</h3>")[0] for t in html.split("<h3>")[1:] if t.startswith("Black hole")]
    assert len(titles) == len(set(titles)) > 1  # three flows between the same hosts


def test_the_readme_config_check_example_is_what_it_prints() -> None:
    """The templates the README and --help name exist, and give the output the README shows."""
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    block = readme[readme.index("$ pcapmtu config-check docs/examples/") :]
    block = block[: block.index("```")]
    commands = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    shown = [line for line in block.splitlines() if line and not line.startswith("$ ")]
    printed = []
    for command in commands:
        args = command.split()[1:]
        files = [a for a in args if a.endswith(".j2")]
        if any("*" in a for a in files):
            glob = next(a for a in files if "*" in a)
            expanded = sorted(str(p.relative_to(REPO)) for p in REPO.glob(glob))
            args = [x for a in args for x in (expanded if a == glob else [a])]
        done = subprocess.run(
            [sys.executable, "-m", "pcapmtu", *args], capture_output=True, text=True, cwd=REPO
        )
        printed += done.stdout.splitlines()
    assert printed == shown
    help_text = subprocess.run(
        [sys.executable, "-m", "pcapmtu", "config-check", "--help"], capture_output=True, text=True
    ).stdout
    for name in ("docs/examples/server_wg0.conf.j2", "docs/examples/client_wg0.conf.j2"):
        assert (REPO / name).is_file()
    assert "docs/examples/" in help_text


def test_captions_say_only_what_is_drawn() -> None:
    import warnings

    from pcapmtu.postmortem import postmortem

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        broken = postmortem(SAMPLES / "incident.home-wg0.pcap").figures()
        fixed = postmortem(SAMPLES / "fixed-mtu1340.pcap").figures()
        no_sack = postmortem(SAMPLES / "no-sack.pcap").figures()
        both = postmortem(
            [SAMPLES / f"underlay-both-ends.{end}-underlay.pcap" for end in ("home", "proxy")]
        ).figures()
    assert "Never delivered (and sent again) (red): segments of 1420 bytes." in broken[0].caption
    assert "Every size sent got through." in fixed[0].caption
    sequence = next(f for f in no_sack if f.title.startswith("Time-sequence"))
    assert "SACK" not in sequence.caption and "sent again (red)" in sequence.caption
    assert [f.title for f in both] == ["WireGuard messages on the underlay"]  # no TCP to draw
    assert "as both ends' captures tell it" in both[0].caption


@functools.cache
def _package_loaded_s() -> float:
    """How long Python takes here to start and import the pcapmtu package, the slowest of five:
    before that, a Ctrl-C meets Python's own start-up (its traceback, not pcapmtu's). About
    0.03 s on a fast machine, 0.08 s on a slow one."""
    import time

    took = []
    for _ in range(5):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import pcapmtu"], check=True)
        took.append(time.monotonic() - started)
    return max(took)


@pytest.mark.parametrize("after_s", [0.0, 0.04, 0.09, 0.14])
def test_ctrl_c_while_the_command_starts_is_quiet(after_s: float, tmp_path: Path) -> None:
    """Ctrl-C while Python loads pcapmtu, or just after: exit 130, one line, no traceback
    (was: a KeyboardInterrupt traceback from inside an import, exit 1 or -2; then, now and then
    under load, exit -2 after the message: see `start._exit_interrupted`). `after_s` counts from
    when Python has loaded the package here (`_package_loaded_s`): the command's imports take
    longer than that on any machine. The capture (4 M empty records) takes longer to read than
    the signal takes to come."""
    import signal
    import time

    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    capture = tmp_path / "long.pcap"
    capture.write_bytes(header + struct.pack("<IIII", 1, 0, 0, 0) * 4_000_000)
    run = subprocess.Popen(
        [sys.executable, "-m", "pcapmtu", "analyze", str(capture)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(_package_loaded_s() + after_s)
    run.send_signal(signal.SIGINT)
    _out, err = run.communicate(timeout=60)
    assert "Traceback" not in err
    assert run.returncode == 130 and err.strip().endswith("pcapmtu: interrupted"), err
