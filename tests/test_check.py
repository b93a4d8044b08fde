"""`pcapmtu check`: captures found, expectations read and compared, results for CI."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pcapmtu import check_output, cli
from pcapmtu.check import (
    ERROR,
    FAIL,
    MANIFEST_NAME,
    PASS,
    Expectation,
    check_captures,
    find_captures,
)
from pcapmtu.errors import InputFileError, UsageError
from tests.conftest import SAMPLES

INCIDENT = "incident.home-wg0.pcap"
FIXED = "fixed-mtu1340.pcap"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of two real sample captures: the incident and the fix."""
    for name in (INCIDENT, FIXED):
        shutil.copy(SAMPLES / name, tmp_path / name)
    return tmp_path


def _write(path: Path, data: object) -> None:
    path.write_text(json.dumps(data))


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli.cli, ["check", *args])


def test_every_sample_has_an_expectation_and_meets_it() -> None:
    listed = json.loads((SAMPLES / MANIFEST_NAME).read_text())["captures"]
    captures = [p for p, _ in find_captures([SAMPLES])]
    assert sorted(p.name for p in captures) == sorted(listed)  # none falls back to the default
    results = check_captures([SAMPLES])
    assert [r.status for r in results] == [PASS] * len(listed), [r.line() for r in results]


def test_without_expectations_a_capture_must_show_no_black_hole(folder: Path) -> None:
    results = {Path(r.capture).name: r for r in check_captures([folder])}
    assert results[FIXED].status == PASS
    assert results[FIXED].expectation == Expectation()
    incident = results[INCIDENT]
    assert incident.status == FAIL
    assert incident.problems[0].startswith("expected no black hole, got black_hole: MTU black hole")


def test_a_sidecar_states_the_expectation(folder: Path) -> None:
    sidecar = folder / "incident.home-wg0.expect.json"
    _write(
        sidecar,
        {"verdict": "black_hole", "affected_flows": 1, "bracket": {"min": 444, "max": 1419}},
    )
    result = check_captures([folder / INCIDENT])[0]
    assert result.status == PASS and result.expectation.source == str(sidecar)
    _write(
        sidecar,
        {"verdict": "black_hole", "affected_flows": 2, "bracket": {"min": 500, "max": 1419}},
    )
    result = check_captures([folder / INCIDENT])[0]
    assert result.status == FAIL
    assert result.problems == (
        "expected 2 affected flows, got 1",
        "expected bracket 500-1419, got 444-1419",
    )


def test_a_manifest_and_its_default(folder: Path) -> None:
    _write(
        folder / MANIFEST_NAME,
        {"default": {"verdict": "clean"}, "captures": {INCIDENT: {"verdict": "black_hole"}}},
    )
    results = {Path(r.capture).name: r for r in check_captures([folder])}
    assert results[INCIDENT].status == PASS
    assert results[FIXED].status == PASS and results[FIXED].expectation.verdict == "clean"
    (folder / "sub").mkdir()
    shutil.copy(folder / INCIDENT, folder / "sub" / "again.pcap")
    nested = {Path(r.capture).name: r for r in check_captures([folder])}
    assert nested["again.pcap"].status == FAIL  # the folder's default reaches below it


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"verdit": "clean"}', "unknown key(s) verdit"),
        ('{"verdict": "broken"}', "verdict 'broken' is not one of"),
        ('{"verdict": "clean", "affected_flows": -1}', "affected_flows must be a whole number"),
        ('{"verdict": "clean", "bracket": [1, 2]}', "bracket must be"),
        ('["clean"]', "must be a JSON object"),
    ],
)
def test_a_bad_expectation_is_an_error_naming_its_file(
    folder: Path, content: str, message: str
) -> None:
    sidecar = folder / "fixed-mtu1340.expect.json"
    sidecar.write_text(content)
    with pytest.raises(InputFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_captures([folder])
    result = _run(str(folder))
    assert result.exit_code == cli.EXIT_USAGE
    assert str(sidecar) in result.stderr


def test_a_manifest_naming_a_missing_capture_or_doubling_a_sidecar(folder: Path) -> None:
    _write(folder / MANIFEST_NAME, {"captures": {"gone.pcap": {}}})
    with pytest.raises(InputFileError, match="no such capture beside the manifest"):
        check_captures([folder])
    _write(folder / MANIFEST_NAME, {"captures": {FIXED: {"verdict": "clean"}}})
    _write(folder / "fixed-mtu1340.expect.json", {"verdict": "clean"})
    with pytest.raises(InputFileError, match="expected in both"):
        check_captures([folder])


def test_nothing_to_check_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UsageError, match="no captures to check"):
        check_captures([tmp_path])


def test_the_command_line_exit_codes(folder: Path) -> None:
    result = _run(str(folder))
    assert result.exit_code == cli.EXIT_FOUND
    lines = result.stdout.splitlines()
    assert lines[0] == f"PASS  {folder / FIXED}: no black hole"
    assert lines[1].startswith(f"FAIL  {folder / INCIDENT}: expected no black hole")
    assert lines[2] == "2 captures: 1 passed, 1 failed"
    assert _run(str(folder), "--exit-zero").exit_code == cli.EXIT_OK
    assert _run(str(folder / FIXED)).exit_code == cli.EXIT_OK
    (folder / "broken.pcap").write_text("not a capture\n")
    broken = _run(str(folder), "--exit-zero")
    assert broken.exit_code == cli.EXIT_USAGE
    error = f"ERROR {folder / 'broken.pcap'}: "
    assert error in broken.stderr and error not in broken.stdout
    assert broken.stderr.count(str(folder / "broken.pcap")) == 1  # named once
    missing = _run(str(folder / "nope.pcap"))
    assert missing.exit_code == cli.EXIT_USAGE
    assert missing.stderr.strip() == f"ERROR {folder / 'nope.pcap'}: no such file"


def test_junit_xml_is_one_test_case_per_capture(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.pcap").write_text("not a capture\n")
    target = tmp_path / "junit.xml"
    result = _run(str(folder), "--junit", str(target))
    assert result.exit_code == cli.EXIT_USAGE
    root = ET.parse(target).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {Path(c.get("name", "")).name: c for c in suite.findall("testcase")}
    assert sorted(cases) == ["broken.pcap", FIXED, INCIDENT]
    assert cases[FIXED].find("failure") is None and cases[FIXED].find("error") is None
    failure = cases[INCIDENT].find("failure")
    assert failure is not None and "expected no black hole" in failure.get("message", "")
    assert "VERDICT: MTU black hole" in (cases[INCIDENT].findtext("system-out") or "")
    error = cases["broken.pcap"].find("error")
    assert error is not None and "is a text file" in error.get("message", "")
    assert all(float(c.get("time", "-1")) >= 0 for c in cases.values())


def test_json_results(folder: Path) -> None:
    result = _run(str(folder), "--json")
    data = json.loads(result.stdout)
    assert data["schema_version"] == check_output.SCHEMA_VERSION
    assert (data["passed"], data["failed"], data["errors"]) == (1, 1, 0)
    incident = next(r for r in data["results"] if r["capture"].endswith(INCIDENT))
    assert incident["status"] == FAIL
    assert incident["got"]["verdict"] == "black_hole"
    assert incident["got"]["brackets"] == [{"min": 444, "max": 1419}]
    assert incident["expected"]["verdict"] == "no_black_hole"
    assert ERROR not in {r["status"] for r in data["results"]}


def test_junit_into_a_missing_folder(folder: Path, tmp_path: Path) -> None:
    result = _run(str(folder), "--junit", str(tmp_path / "no" / "j.xml"))
    assert result.exit_code == cli.EXIT_USAGE
    assert "no such folder" in result.stderr


def test_gzipped_captures_in_subfolders_are_found(tmp_path: Path) -> None:
    import gzip

    (tmp_path / "2026" / "march").mkdir(parents=True)
    target = tmp_path / "2026" / "march" / "incident.pcap.gz"
    target.write_bytes(gzip.compress((SAMPLES / INCIDENT).read_bytes()))
    (tmp_path / "2026" / "march" / "incident.expect.json").write_text('{"verdict": "black_hole"}')
    (tmp_path / "notes.md").write_text("not a capture")
    results = check_captures([tmp_path])
    assert [(Path(r.capture).name, r.status) for r in results] == [("incident.pcap.gz", PASS)]
