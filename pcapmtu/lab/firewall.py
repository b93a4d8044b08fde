"""The routers' nftables rules: the lost ICMP that makes a black hole, and random loss.

A router that cannot forward a packet because it is too big for the next link (and may not
fragment it) drops it and answers with ICMP "fragmentation needed" (IPv4) or "packet too big"
(IPv6). The router sends that ICMP itself, so it leaves through the *output* hook; ICMP from
further along passes the *forward* hook. Blocking both is what a careless firewall does, and it
turns the drop into a black hole. Counters on every rule let the run report what was dropped.
"""

from __future__ import annotations

from pcapmtu.lab.scenario import Scenario

TABLE = "pcapmtu_lab"
# nftables' numgen draws from 0..LOSS_SCALE-1, so loss can be set to a hundredth of a percent.
LOSS_SCALE = 10_000
ICMP_DROP_RULES = (
    'icmp type destination-unreachable counter drop comment "icmp-dest-unreachable"',
    'icmpv6 type packet-too-big counter drop comment "icmpv6-packet-too-big"',
)
LOSS_COMMENT = "random-loss"
OUTAGE_COMMENT = "outage"  # the rule a path event "outage" adds: drop everything forwarded


def router_rules(scenario: Scenario, role: str) -> str:
    """The nft script for router `role` ("r1" or "r2")."""
    icmp = list(ICMP_DROP_RULES) if scenario.icmp == "blocked" else []
    forward = list(icmp)
    # Random loss on one router only, in both directions, so the asked-for rate is the rate seen.
    if scenario.loss_percent > 0 and role == "r1":
        threshold = round(scenario.loss_percent * LOSS_SCALE / 100)
        forward.append(
            f'numgen random mod {LOSS_SCALE} < {threshold} counter drop comment "{LOSS_COMMENT}"'
        )
    return "\n".join(
        [
            f"table inet {TABLE} {{",
            "  chain forward {",
            "    type filter hook forward priority filter; policy accept;",
            *(f"    {rule}" for rule in forward),
            "  }",
            "  chain output {",
            "    type filter hook output priority filter; policy accept;",
            *(f"    {rule}" for rule in icmp),
            "  }",
            "}",
            "",
        ]
    )


def rule_counters(ruleset_json: object) -> dict[str, int]:
    """Packets dropped per rule comment, summed over chains, from `nft -j list ruleset`."""
    totals: dict[str, int] = {}
    items = ruleset_json.get("nftables", []) if isinstance(ruleset_json, dict) else []
    if not isinstance(items, list):
        return totals
    for item in items:
        rule = item.get("rule") if isinstance(item, dict) else None
        if not isinstance(rule, dict) or rule.get("table") != TABLE:
            continue
        comment = rule.get("comment")
        for expr in rule.get("expr", []):
            counter = expr.get("counter") if isinstance(expr, dict) else None
            if isinstance(comment, str) and isinstance(counter, dict):
                totals[comment] = totals.get(comment, 0) + int(counter.get("packets", 0))
    return totals


CLAMP_TABLE = "pcapmtu_clamp"


def endpoint_rules(scenario: Scenario, clamped_port: int) -> str | None:
    """MSS clamping on an endpoint's wg0 for one service, as Docker's NAT path does for its
    containers: SYNs to or from `clamped_port` leave with their MSS set to `clamp_mss`."""
    if scenario.clamp_mss is None:
        return None
    mss = scenario.clamp_mss
    rules = [
        f'oifname "wg0" tcp {direction} {clamped_port} tcp flags & syn == syn '
        f"tcp option maxseg size set {mss}"
        for direction in ("sport", "dport")
    ]
    return "\n".join(
        [
            f"table inet {CLAMP_TABLE} {{",
            "  chain output {",
            "    type filter hook output priority mangle; policy accept;",
            *(f"    {rule}" for rule in rules),
            "  }",
            "}",
            "",
        ]
    )
