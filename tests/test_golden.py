"""Golden tests: every sample capture, analysed, must give exactly the expected report, with
the fast pass and without it (`engine`).

Cases are rows of tests/golden/CASES.tsv (as tcpdump's tests/TESTLIST). Expected files are
made by running `pytest tests/test_golden.py --regen-golden`, never by hand; the tool's version
is the only volatile field and is canonicalised. A case fails on unexpected stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pcapmtu import analyze, cli
from tests.conftest import REPO, SAMPLES

GOLDEN = REPO / "tests" / "golden"
EXPECTED = GOLDEN / "expected"


def _cases() -> list[tuple[str, int, list[str]]]:
    rows = []
    for line in (GOLDEN / "CASES.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        case, code, captures, _why = line.split("\t")
        rows.append((case, int(code), captures.split()))
    return rows


CASES = _cases()


def canonical(data: dict[str, Any]) -> dict[str, Any]:
    data["tool"]["version"] = "VERSION"
    return data


@pytest.mark.parametrize(("case", "code", "captures"), CASES, ids=[c[0] for c in CASES])
def test_golden(
    case: str, code: int, captures: list[str], regen_golden: bool, monkeypatch: Any, engine: str
) -> None:
    monkeypatch.chdir(REPO)  # reports name captures as given: relative to the repository
    report = analyze(captures)
    got_json = json.dumps(canonical(report.to_dict()), indent=2) + "\n"
    got_text = report.render_text()
    json_path, text_path = EXPECTED / f"{case}.json", EXPECTED / f"{case}.txt"
    if regen_golden and engine == "fast":
        json_path.write_text(got_json)
        text_path.write_text(got_text)
    assert got_json == json_path.read_text(), f"{case}: JSON differs (--regen-golden?)"
    assert got_text == text_path.read_text(), f"{case}: text differs (--regen-golden?)"
    result = CliRunner().invoke(cli.cli, ["analyze", *captures])
    assert result.exit_code == code, result.output
    assert result.stdout == got_text
    assert result.stderr == ""


def test_every_sample_capture_has_a_case() -> None:
    covered = {Path(c).name for _case, _code, captures in CASES for c in captures}
    present = {p.name for p in SAMPLES.iterdir() if p.suffix in (".pcap", ".pcapng")}
    assert present == covered


def test_no_stale_expected_files() -> None:
    cases = {case for case, _code, _captures in CASES}
    assert {p.stem for p in EXPECTED.iterdir()} == cases
