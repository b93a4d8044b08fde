"""The routers' nftables scripts (checked as text; the lab tests load them into nft)."""

from __future__ import annotations

from pcapmtu.lab import firewall
from pcapmtu.lab.scenario import Scenario


def test_blocked_icmp_is_dropped_on_forward_and_on_the_routers_own_output() -> None:
    rules = firewall.router_rules(Scenario(icmp="blocked"), "r1")
    forward, output = rules.split("chain output")
    for text in (forward, output):
        assert "icmp type destination-unreachable counter drop" in text
        assert "icmpv6 type packet-too-big counter drop" in text


def test_allowed_icmp_has_no_drop_rules() -> None:
    rules = firewall.router_rules(Scenario(icmp="allowed"), "r2")
    assert "drop" not in rules


def test_random_loss_only_on_r1_with_the_asked_rate() -> None:
    scenario = Scenario(icmp="allowed", loss_percent=2.5)
    assert "numgen random mod 10000 < 250 counter drop" in firewall.router_rules(scenario, "r1")
    assert "numgen" not in firewall.router_rules(scenario, "r2")


def test_rule_counters_sums_by_comment_and_ignores_other_tables() -> None:
    # Synthetic `nft -j list ruleset` output, shaped as nftables 1.0 prints it.
    listing = {
        "nftables": [
            {"metainfo": {"json_schema_version": 1}},
            {
                "rule": {
                    "table": "pcapmtu_lab",
                    "chain": "forward",
                    "comment": "random-loss",
                    "expr": [{"counter": {"packets": 7, "bytes": 900}}, {"drop": None}],
                }
            },
            {
                "rule": {
                    "table": "pcapmtu_lab",
                    "chain": "output",
                    "comment": "icmp-dest-unreachable",
                    "expr": [{"counter": {"packets": 2, "bytes": 1}}, {"drop": None}],
                }
            },
            {
                "rule": {
                    "table": "pcapmtu_lab",
                    "chain": "forward",
                    "comment": "icmp-dest-unreachable",
                    "expr": [{"counter": {"packets": 3, "bytes": 1}}, {"drop": None}],
                }
            },
            {
                "rule": {
                    "table": "other",
                    "chain": "x",
                    "comment": "random-loss",
                    "expr": [{"counter": {"packets": 100, "bytes": 1}}],
                }
            },
        ]
    }
    assert firewall.rule_counters(listing) == {"random-loss": 7, "icmp-dest-unreachable": 5}


def test_endpoint_clamp_rules_only_for_the_second_service() -> None:
    assert firewall.endpoint_rules(Scenario(), 8081) is None
    rules = firewall.endpoint_rules(Scenario(clamp_mss=1288), 8081)
    assert rules is not None
    assert (
        'oifname "wg0" tcp sport 8081 tcp flags & syn == syn tcp option maxseg size set 1288'
        in rules
    )
    assert (
        'oifname "wg0" tcp dport 8081 tcp flags & syn == syn tcp option maxseg size set 1288'
        in rules
    )
    assert "8080" not in rules
