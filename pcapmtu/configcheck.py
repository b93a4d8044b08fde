"""Does a wg-quick config's MTU fit a path? The judgement `pcapmtu config-check` prints.

A config fits when every packet wg0 sends fits the underlay path once wrapped:
MTU + 60 (IPv4 underlay) or + 80 (IPv6) <= the path MTU (see `mtu.py`: padding never takes a
packet past the MTU). Without an MTU line, wg-quick sets the link's MTU minus 80.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pcapmtu.errors import InputFileError
from pcapmtu.mtu import ETHERNET_MTU, IPV6_MIN_MTU, largest_wg_mtu, wg_overhead, wg_quick_mtu
from pcapmtu.wgconfig import WgQuickConfig, endpoint_version, read_config

SCHEMA_VERSION = 1

FITS = "ok"
TOO_BIG = "fail"
UNKNOWN = "unknown"  # a template expression, or a conditional MTU line: cannot be judged
INVALID = "invalid"  # wg-quick would refuse it


@dataclass(frozen=True)
class ConfigVerdict:
    """One config judged against one path."""

    path: str
    status: str  # FITS, TOO_BIG, UNKNOWN or INVALID
    mtu: int | None  # what wg0 gets, when it can be known
    largest_fitting: int  # the largest MTU that fits the path
    reason: str  # one sentence: why
    notes: tuple[str, ...] = ()  # anything else worth fixing
    outer_versions: tuple[int, ...] = (4,)  # the underlay IP versions it was judged for

    @property
    def ok(self) -> bool:
        return self.status == FITS

    def line(self) -> str:
        return f"{self.status.upper():<7} {self.path}: {self.reason}"


def check_configs(
    paths: Sequence[str | Path],
    *,
    path_mtu: int,
    outer_version: int | None = None,
    link_mtu: int = ETHERNET_MTU,
    variables: Mapping[str, int] | None = None,
) -> list[ConfigVerdict]:
    """Read and judge each config; raises `InputFileError` for one that cannot be read."""
    return [
        judge(
            read_config(p, variables),
            path_mtu=path_mtu,
            outer_version=outer_version,
            link_mtu=link_mtu,
        )
        for p in paths
    ]


def to_dict(
    verdicts: Sequence[ConfigVerdict], path_mtu: int, outer_version: int | None
) -> dict[str, Any]:
    """The versioned JSON of `pcapmtu config-check --json` (`outer_ip_version` null: taken
    from each config's Endpoint, per config in `outer_ip_versions`)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "path_mtu": path_mtu,
        "outer_ip_version": outer_version,
        "configs": [
            {
                "config": v.path,
                "status": v.status,
                "mtu": v.mtu,
                "largest_fitting_mtu": v.largest_fitting,
                "outer_ip_versions": list(v.outer_versions),
                "reason": v.reason,
                "notes": list(v.notes),
            }
            for v in verdicts
        ],
    }


def effective_mtu(config: WgQuickConfig, *, link_mtu: int = ETHERNET_MTU) -> tuple[int, str]:
    """The MTU wg-quick would give wg0 with this config, and how it was found; raises
    `InputFileError` when the config cannot tell it (a template expression not resolved by
    the variables given, a conditional MTU line, a value that is not a number)."""
    problem, mtu, text = _read_mtu(config, link_mtu)
    if problem is not None or mtu is None:
        raise InputFileError(f"{config.path}: {text}")
    return mtu, text


def underlay_versions(
    config: WgQuickConfig, outer_version: int | None
) -> tuple[tuple[int, ...], str]:
    """The underlay IP versions to judge a config for, and how they were found: `--outer`
    when given; else its peers' Endpoint addresses; both when an Endpoint is a name (the
    resolver may give either) or there is none (a server: its peers may come over either)."""
    if outer_version is not None:
        return (outer_version,), f"--outer {outer_version}"
    if not config.endpoints:
        return (4, 6), "no Endpoint: both underlays checked"
    versions = {endpoint_version(host) for host in config.endpoints}
    if None in versions:
        name = next(h for h in config.endpoints if endpoint_version(h) is None)
        return (4, 6), f"Endpoint {name} is a name: both underlays checked"
    shown = ", ".join(config.endpoints)
    return tuple(sorted(v for v in versions if v is not None)), f"from Endpoint {shown}"


def judge(
    config: WgQuickConfig,
    *,
    path_mtu: int,
    outer_version: int | None = None,
    link_mtu: int = ETHERNET_MTU,
) -> ConfigVerdict:
    """Judge `config` against an underlay path of `path_mtu` bytes, for the underlay IP
    versions `underlay_versions` finds (the stricter decides); `link_mtu` is the MTU of the
    link wg-quick measures when the config has no MTU line."""
    versions, source = underlay_versions(config, outer_version)
    strictest = max(versions, key=wg_overhead)
    largest = largest_wg_mtu(path_mtu, strictest)
    overhead = wg_overhead(strictest)
    family = " and ".join(f"IPv{v}" for v in versions)
    where = f"a {path_mtu}-byte path (IPv{strictest} underlay, +{overhead}; {family}: {source})"
    problem, mtu, text = _read_mtu(config, link_mtu, largest)
    if problem == UNKNOWN:
        reason = f"{text}; the largest that fits {where} is {largest}"
    elif problem == INVALID or mtu is None:
        problem, reason = INVALID, text
    else:
        said = f"{text} (--link-mtu)" if config.mtu is None else text
        problem, reason = _fits(mtu, largest, overhead, where, said)
    return ConfigVerdict(config.path, problem, mtu, largest, reason, _notes(config), versions)


def _read_mtu(
    config: WgQuickConfig, link_mtu: int, largest: int | None = None
) -> tuple[str | None, int | None, str]:
    """(problem, MTU, words): problem is None when the config tells the MTU (the words say
    how), else UNKNOWN or INVALID (the words say why). `largest`, when given, lets the words
    say whether a template's default would fit."""
    if config.peer_mtu_lines:
        lines = ", ".join(map(str, config.peer_mtu_lines))
        return (
            INVALID,
            None,
            f"MTU under [Peer] (line {lines}): wg-quick passes it to `wg setconf`, which "
            "refuses the file; MTU belongs in [Interface]",
        )
    line = config.mtu
    if line is None:
        mtu = wg_quick_mtu(link_mtu)
        return (
            None,
            mtu,
            f"no MTU line: wg-quick sets the MTU of the route to the endpoint minus 80, "
            f"{mtu} on a {link_mtu}-byte link",
        )
    at = f"MTU = {shortened(line.written)} (line {line.line})"
    if line.conditional:
        return (
            UNKNOWN,
            line.value,
            f"{at} is inside a template block ({{% if %}} or {{% for %}}): whether it is "
            "rendered is unknowable without rendering",
        )
    if line.value is None and line.expression is not None:
        return UNKNOWN, None, _unknowable(at, line.variable, line.default, largest)
    if line.value is None:
        return INVALID, None, f"{at} is not a number: wg-quick would fail to set it"
    return None, line.value, at if line.expression is None else f"{at} = {line.value}"


MAX_SHOWN = 80  # characters of a value shown in a line of output


def shortened(text: str, limit: int = MAX_SHOWN) -> str:
    """A value from the config as shown: cut to `limit` characters, saying how many more."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def _fits(mtu: int, largest: int, overhead: int, where: str, said: str) -> tuple[str, str]:
    if mtu <= largest:
        return FITS, f"{said}: {mtu} + {overhead} = {mtu + overhead} fits {where}"
    return (
        TOO_BIG,
        f"{said}: {mtu} + {overhead} = {mtu + overhead} does not fit {where}; "
        f"set MTU = {largest} or lower on both peers",
    )


def _unknowable(
    at: str, variable: str | None, default: int | None, largest: int | None = None
) -> str:
    """Why a template expression's MTU cannot be known, and how to give it."""
    text = f"{at} is a template expression: its value is unknowable without rendering"
    if variable is not None:
        text += f"; give it with --var {shortened(variable)}=N"
        if default is not None and largest is not None:
            fits = "fits" if default <= largest else "does not fit"
            text += f" (unset, its default {default} {fits})"
        elif default is not None:
            text += f" (unset, its default is {default})"
    return text


def _notes(config: WgQuickConfig) -> tuple[str, ...]:
    notes = []
    if config.overridden_lines:
        lines = ", ".join(map(str, config.overridden_lines))
        notes.append(f"MTU is set more than once in [Interface]; wg-quick ignores line {lines}")
    mtu = config.mtu.value if config.mtu is not None else None
    if mtu is not None and mtu < IPV6_MIN_MTU:
        notes.append(f"MTU {mtu} is below {IPV6_MIN_MTU}: IPv6 inside the tunnel will not work")
    return tuple(notes)
