"""The Report and its renderings (JSON schema v1, text, HTML), on a real sample capture."""

from __future__ import annotations

import json

from pcapmtu import analyze, mtu
from pcapmtu.report import SCHEMA_VERSION, _fix_lines
from tests.conftest import SAMPLES

INCIDENT = SAMPLES / "incident.home-wg0.pcap"


def test_json_schema_v1_has_every_documented_field() -> None:
    data = json.loads(analyze(INCIDENT).to_json())
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert data["verdict"] == "black_hole"
    (finding,) = data["findings"]
    assert set(finding) >= {
        "kind",
        "flow",
        "dropped_ip_len",
        "largest_delivered_ip_len",
        "transmissions",
        "recovered",
        "evidence",
    }
    assert set(finding["flow"]) == {"src", "sport", "dst", "dport"}
    assert finding["flow"]["src"] == "198.19.0.1" and finding["flow"]["sport"] == 8080
    path = data["paths"][0]
    assert set(path) >= {"src", "dst", "fits_ip_len"}
    assert path["fits_ip_len"] == {"min": 444, "max": 1419}
    assert set(data["recommendation"]) >= {"wireguard_mtu", "mss_ipv4", "mss_ipv6"}
    (capture,) = data["captures"]
    assert capture["format"] == "pcap" and capture["packets"] == 19
    assert capture["link_types"] == [{"link_type": 101, "name": "RAW", "packets": 19}]
    assert capture["warnings"] == []


def test_text_puts_the_verdict_first_then_evidence_then_the_fix() -> None:
    text = analyze(INCIDENT).render_text()
    lines = text.splitlines()
    assert lines[0].startswith("VERDICT: MTU black hole")
    assert text.index("BLACK HOLE:") < text.index("Paths") < text.index("FIX:")


def test_html_for_jupyter_escapes_and_shows_the_verdict() -> None:
    html = analyze(INCIDENT)._repr_html_()
    assert "MTU black hole" in html and "<pre" in html and "->" not in html


def test_to_decide_never_asks_for_a_capture_it_was_given() -> None:
    """An upload stalls on full-size segments only: with the other end's capture given, it is
    not asked for again; a small packet sent the same way is. Given but holding none of the
    connection (both begun late), it is named as such."""
    sender, receiver = SAMPLES / "upload.proxy-wg0.pcap", SAMPLES / "upload.home-wg0.pcap"
    alone = analyze(sender)
    both = analyze([sender, receiver])
    assert alone.verdict == both.verdict == "inconclusive"
    (stalled,) = both.suspected
    assert both.others_holding(stalled) == (str(receiver),)
    assert "the other end's capture" in (alone.to_decide() or "")
    decide = both.to_decide()
    assert decide is not None and decide.startswith("another capture given holds the stalled")
    assert "send something small the same way" in decide
    late = analyze([SAMPLES / "upload-late.proxy-wg0.pcap", SAMPLES / "upload-late.home-wg0.pcap"])
    (stalled,) = late.suspected
    assert late.others_holding(stalled) == ()
    assert (late.to_decide() or "").startswith("the other capture given holds no packet")


def test_a_tunnel_capture_without_tcp_is_not_told_to_capture_the_tunnel() -> None:
    """wg0 captured at the receiver of an upload, begun after the handshake: nothing of the
    connection crossed it. It was taken on the tunnel interface already: the advice is both ends,
    from before the client connects."""
    report = analyze(SAMPLES / "upload-late.home-wg0.pcap")
    assert report.summary() == "inconclusive: the capture holds no TCP data to judge by"
    decide = report.to_decide() or ""
    assert decide.startswith("no TCP packet crossed the tunnel interface while the capture ran")
    assert "started before the client connects" in decide


def test_the_clamping_rules_shown_are_for_the_stalled_flows_ip_version() -> None:
    """An IPv4 rule clamps no IPv6 connection: the examples follow the flows found."""

    def shown(*names: str) -> list[str]:
        fix = analyze([SAMPLES / n for n in names]).fix_text().splitlines()
        start = next(i for i, line in enumerate(fix) if "clamp the MSS instead" in line)
        return [line.strip() for line in fix[start + 1 :] if line.startswith("    ")]

    ipv6, ipv4 = shown("inner-ipv6.pcap"), shown("incident.home-wg0.pcap")
    assert ipv6 and all(r.startswith("ip6tables ") or " ipv6 " in r for r in ipv6)
    assert ipv4 and all(r.startswith("iptables ") or " ipv4 " in r for r in ipv4)
    both = shown("inner-ipv6.pcap", "incident.home-wg0.pcap")
    assert {r.split()[0] for r in both} == {"iptables", "ip6tables", "nft"}
    assert any(" ipv4 " in r for r in both) and any(" ipv6 " in r for r in both)


def test_the_fix_claims_this_path_only_when_the_capture_proves_it() -> None:
    """The conservative 1280 is not shown to cross the path (a 1300-byte one loses it: the
    `underlay-falls-bulk` sample's path after its fall), so the headline says on which paths it
    works and points to the confirm ping; a size that crossed (`tight` bracket) is this path's."""
    falls = analyze(
        [
            SAMPLES / "underlay-falls-bulk.home-underlay.pcap",
            SAMPLES / "underlay-falls-bulk.proxy-underlay.pcap",
        ]
    )
    r = falls.recommendation
    assert r is not None and (r.mtu, r.basis) == (1280, "conservative")
    head = next(line for line in falls.render_text().splitlines() if line.startswith("FIX:"))
    assert "it works on any path that carries 1340 bytes (confirm it below)" in head
    assert "works on this path" not in head
    assert r.confirm is not None and "-s 1312" in r.confirm
    proven = mtu.recommend(mtu.Bracket(1300, 1339), tunnel_mtu=1340)
    assert proven is not None and proven.basis == "proven"
    assert "it works on this path" in _fix_lines(proven, broken=True)[0]
