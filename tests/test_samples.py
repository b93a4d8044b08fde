"""The shipped sample captures: real lab runs that show what their README row says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pcapmtu.check import MANIFEST_NAME
from pcapmtu.lab import samples
from pcapmtu.lab.recorder import read_pcap_header
from tests.conftest import SAMPLES

CAPTURE_SUFFIXES = (".pcap", ".pcapng")
PCAPNG_SECTION_HEADER = b"\x0a\x0d\x0d\x0a"
LINKTYPE_RAW, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2 = 101, 1, 276


def _sidecars() -> dict[str, dict[str, Any]]:
    return {
        p.stem: json.loads(p.read_text())
        for p in sorted(SAMPLES.glob("*.json"))
        if p.name != MANIFEST_NAME  # what `pcapmtu check` expects, not a lab sidecar
    }


def _every(predicate: Any) -> list[str]:
    return [name for name, data in _sidecars().items() if predicate(data["scenario"], data)]


def test_every_catalogued_sample_is_present_with_its_files() -> None:
    sidecars = _sidecars()
    for sample in samples.SAMPLES:
        assert sample.name in sidecars, f"{sample.name}: run `pcapmtu lab samples`"
        listed = sorted(c["file"] for c in sidecars[sample.name]["captures"])
        assert listed == samples.sample_files(sample)


def test_every_capture_file_has_a_sidecar_and_a_readme_row() -> None:
    listed = {c["file"] for data in _sidecars().values() for c in data["captures"]}
    present = {p.name for p in SAMPLES.iterdir() if p.suffix in CAPTURE_SUFFIXES}
    assert present == listed
    readme = (SAMPLES / "README.md").read_text()
    for name in present:
        assert f"| `{name}` |" in readme


def test_readme_is_what_the_sidecars_say() -> None:
    assert (SAMPLES / "README.md").read_text() == samples.render_readme(SAMPLES)


def test_each_sample_had_the_outcome_it_claims() -> None:
    sidecars = _sidecars()
    for sample in samples.SAMPLES:
        outcome = sidecars[sample.name]["outcome"]
        assert outcome["complete"] is sample.complete, sample.name
        assert (outcome["bytes_received"] == outcome["bytes_expected"]) is sample.complete


def test_black_holes_were_made_by_the_path_and_healthy_runs_by_nothing_else() -> None:
    for name, data in _sidecars().items():
        routers = data["routers"].values()
        too_big = sum(r["too_big_ipv4"] + r["too_big_ipv6"] for r in routers)
        outage = sum(r.get("outage_dropped", 0) for r in routers)
        if data["scenario"].get("path_event") == "outage":
            # not an MTU problem: the router dropped everything, and nothing for its size
            assert outage >= 3 and too_big == 0, name
        elif data["scenario"]["workload"] == "stalled-reader":
            assert too_big == 0, f"{name}: the client stopped reading; nothing was too big"
        elif not data["outcome"]["complete"]:
            # a client that gave up early (stopped-early) saw fewer copies resent, never none
            early = data["scenario"]["timeout_s"] < samples.BLACK_HOLE_TIMEOUT_S
            least = 1 if early else 3
            assert too_big >= least, f"{name}: incomplete, yet the path dropped only {too_big}"
        for capture in data["captures"]:
            assert capture["packets_dropped_by_kernel"] == 0, name
        assert data["warnings"] == [], name


def test_files_are_small() -> None:
    files = [p for p in SAMPLES.iterdir() if p.is_file()]
    assert all(p.stat().st_size < samples.MAX_FILE_BYTES for p in files)
    assert sum(p.stat().st_size for p in files) < samples.MAX_FOLDER_BYTES


def test_file_headers_match_the_sidecars() -> None:
    for data in _sidecars().values():
        for capture in data["captures"]:
            path = SAMPLES / capture["file"]
            if path.suffix == ".pcapng":
                assert path.read_bytes()[:4] == PCAPNG_SECTION_HEADER
                assert len(capture["link_types"]) >= 2
            else:
                assert [read_pcap_header(path).link_type] == capture["link_types"]


@pytest.mark.parametrize(
    ("case", "predicate"),
    [
        (
            "incident at home wg0",
            lambda s, d: (
                "home-wg0" in s["captures"]
                and s["wg_mtu_home"] == 1420
                and s["path_mtu"] == 1400
                and not d["outcome"]["complete"]
            ),
        ),
        (
            "incident at proxy wg0",
            lambda s, d: (
                "proxy-wg0" in s["captures"]
                and s["workload"] == "get"
                and not d["outcome"]["complete"]
            ),
        ),
        (
            "the fix working",
            lambda s, d: (
                s["icmp"] == "blocked"
                and s["path_mtu"] < 1500
                and d["outcome"]["complete"]
                and not s["sysctls"]
            ),
        ),
        (
            "an MTU that still fails",
            lambda s, d: 1340 < s["wg_mtu_home"] < 1420 and not d["outcome"]["complete"],
        ),
        (
            "tcp_mtu_probing recovering",
            lambda s, d: "net.ipv4.tcp_mtu_probing=1" in s["sysctls"] and d["outcome"]["complete"],
        ),
        ("no SACK", lambda s, d: "net.ipv4.tcp_sack=0" in s["sysctls"]),
        ("upload", lambda s, d: s["workload"] == "upload" and not d["outcome"]["complete"]),
        ("IPv6 inside", lambda s, d: s["inner"] == 6),
        ("IPv6 underlay", lambda s, d: s["outer"] == 6),
        ("many flows", lambda s, d: s["workload"] == "many"),
        (
            "-i any (SLL2)",
            lambda s, d: any(LINKTYPE_LINUX_SLL2 in c["link_types"] for c in d["captures"]),
        ),
        ("pcapng", lambda s, d: s["format"] == "pcapng"),
        (
            "healthy with random loss",
            lambda s, d: (
                s["loss_percent"] > 0
                and d["outcome"]["complete"]
                and sum(r["random_loss_dropped"] for r in d["routers"].values()) > 0
            ),
        ),
    ],
)
def test_the_samples_cover_every_case_asked_for(case: str, predicate: Any) -> None:
    assert _every(predicate), f"no sample shows: {case}"


def test_sample_folder_path_is_the_repositorys() -> None:
    assert Path(__file__).resolve().parent.parent / "sample_captures" == SAMPLES


def test_clamped_service_works_while_the_other_stalls() -> None:
    requests = _sidecars()["mss-clamped-service"]["outcome"]["requests"]
    by_port = {r["port"]: r["complete"] for r in requests}
    assert by_port == {8080: False, 8081: True}
    too_little = _sidecars()["mss-clamped-too-little"]["outcome"]["requests"]
    assert {r["port"]: r["complete"] for r in too_little} == {8080: False, 8081: False}
