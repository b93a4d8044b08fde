"""Every public capture in ../shared/corpus/public: no traceback, exit 0, 1 or 2.

The corpus holds many link types, pcapng variants and deliberately malformed files. It is not
part of this repository (some files are GPL/LGPL); the test skips when it is absent.
"""

from __future__ import annotations

import json
import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcapmtu import analyze, cli
from tests.conftest import REPO

CORPUS = REPO.parent / "shared" / "corpus" / "public"
FILES = sorted(p for p in CORPUS.glob("*") if p.name != "MANIFEST.tsv") if CORPUS.is_dir() else []


@pytest.mark.skipif(not FILES, reason=f"no public corpus at {CORPUS}")
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_public_capture_is_handled(path: Path) -> None:
    result = CliRunner().invoke(cli.cli, ["analyze", "--json", str(path)])
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pcapmtu: error: "), result.stderr
    else:
        assert all(line.startswith("pcapmtu: warning: ") for line in result.stderr.splitlines())


@pytest.mark.skipif(not FILES, reason=f"no public corpus at {CORPUS}")
def test_known_public_cases() -> None:
    """A few corpus files whose outcome is known from their manifest rows."""
    runner = CliRunner()

    def run(name: str) -> tuple[int, str]:
        result = runner.invoke(cli.cli, ["analyze", "--json", str(CORPUS / name)])
        return result.exit_code, result.stdout

    assert run("bad_pcap_ver1.pcap")[0] == 2  # pcap major version 1
    assert run("bad_ng_ver.pcapng")[0] == 2  # pcapng version 0.1
    code, out = run("pmtud_fragneed_1492.pcap")  # real PMTUD: ICMP frag-needed, MTU 1492
    assert code == 0 and '"icmp_mtu": 1492' in out
    code, out = run("icmp6_ptb_1280.pcap")
    assert '"icmp_mtu": 1280' in out


ORDINARY_LOSS = [p for p in FILES if p.name.startswith("tcp_")]


@pytest.mark.skipif(not ORDINARY_LOSS, reason=f"no public corpus at {CORPUS}")
@pytest.mark.parametrize("path", ORDINARY_LOSS, ids=[p.name for p in ORDINARY_LOSS])
def test_real_ordinary_loss_is_not_a_black_hole(path: Path) -> None:
    """Real captures with retransmissions, dup ACKs, SACK, GRO and mid-stream starts, none of
    them an MTU problem: pcapmtu must not cry wolf on any of them. Where a capture cannot tell
    a black hole from a dead peer it says so (inconclusive, exit 1), never clean."""
    result = CliRunner().invoke(cli.cli, ["analyze", "--json", str(path)])
    report = json.loads(result.stdout)
    kinds = {f["kind"] for f in report["findings"]}
    assert "black_hole" not in kinds, result.stdout[:2000]
    if report["verdict"] == "clean":
        assert result.exit_code == 0
        return
    assert report["verdict"] == "inconclusive" and result.exit_code == 1
    data = sum(f["data_packets"] for f in report["flows"])
    if path.name in UNDECIDABLE:
        assert kinds == {"suspected_black_hole"}
    elif path.name in ONE_DIRECTION:
        assert kinds == {"suspected_black_hole"}
        assert all(f["one_direction"] for f in report["findings"])
    else:  # nothing to judge by: no TCP data at all
        assert data == 0 and not kinds


# Captures that cannot tell a black hole from a dead peer: every packet is the same segment,
# resent with the timer backing off, nothing else on the path.
UNDECIDABLE = {"tcp_retx_book.pcapng"}
# Captures where a direction's sequence numbers skip bytes never seen again and no ACK of that
# direction is in the capture: lost or not, it cannot tell (`DirectionFacts.skipped_unacked`).
ONE_DIRECTION = {
    "tcp_unidir_gap.pcap",  # its manifest: a unidirectional stream with a missing segment
    "tcp_1kxun_many.pcap",  # one of its flows: 8,568 bytes skipped after the GET, no ACK after
}


@pytest.mark.skipif(not FILES, reason=f"no public corpus at {CORPUS}")
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_public_capture_gets_a_postmortem_page(path: Path, tmp_path: Path) -> None:
    """`pcapmtu report` on every public capture: a page, or one clear error line; never a
    traceback (damaged timestamps, odd link types and empty flows reach the plots too)."""
    page = tmp_path / "page.html"
    result = CliRunner().invoke(cli.cli, ["report", str(path), "-o", str(page)])
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        assert result.stderr.startswith("pcapmtu: error: ") and not page.exists()
    else:
        text = page.read_text(encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the damage the page lists
            report = analyze(path)
        drawn = re.findall(r"<figure>(.*?)<figcaption>", text, flags=re.DOTALL)
        for picture in drawn:  # each one well-formed SVG, whatever the capture's damage
            assert ET.fromstring(picture).get("role") == "img"
        pictures = len(drawn)
        if any(c.tcp_segments for c in report.captures):
            assert pictures >= 2  # segment sizes and what got through, at least
        elif report.sessions:
            assert pictures == 1  # WireGuard's messages on the underlay
        else:
            assert pictures == 0 and "No pictures: the captures hold no TCP segments" in text
