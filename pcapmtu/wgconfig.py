"""wg-quick config files (plain, or templates such as Jinja) -> the MTU wg-quick would set.

Read the way wg-quick reads them (its `parse_options`): a `#` starts a comment, keys and
section names are matched without regard to case and with the spaces around them trimmed, and
the last `MTU =` in `[Interface]` wins. A template is not rendered: an MTU written as a template
expression is reported as one, resolved only from variables the caller gives, and an MTU line
inside a template's `{% if %}` or `{% for %}` may or may not be there.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pcapmtu.errors import InputFileError, UsageError
from pcapmtu.model import is_number, printable

INTERFACE = "[interface]"
PEER = "[peer]"
MTU_KEY = "mtu"
ENDPOINT_KEY = "endpoint"
# Template syntaxes whose expressions stand for values: Jinja/Go/Helm {{ }}, Jinja {% %},
# shell/Terraform ${ }, ERB <% %>.
TEMPLATE_MARKS = ("{{", "{%", "${", "<%")
# {{ name }}, {{ name | int }}, {{ name | default(1420) }}, {{ name | default(1420, true) | int }}
_SIMPLE_EXPRESSION = re.compile(
    r"^\{\{-?\s*(?P<name>[A-Za-z_][\w.]*)\s*"
    r"(?:\|\s*int\s*)?"
    r"(?:\|\s*(?:default|d)\(\s*(?P<default>[0-9]+)\s*(?:,\s*(?:true|True)\s*)?\)\s*)?"
    r"(?:\|\s*int\s*)?-?\}\}$"
)
_BLOCK_OPEN = re.compile(r"\{%-?\s*(if|for|macro|block|with|filter|call)\b")
_BLOCK_CLOSE = re.compile(r"\{%-?\s*end(if|for|macro|block|with|filter|call)\b")


@dataclass(frozen=True)
class MtuLine:
    """The `MTU =` line wg-quick would use, as written and as far as it can be known."""

    line: int  # 1-based
    written: str  # the value as written
    value: int | None  # the number: written as one, or a template resolved by the variables
    expression: str | None = None  # the template expression, when it is one
    variable: str | None = None  # the one variable a simple expression reads
    default: int | None = None  # ... and its default(N)
    conditional: bool = False  # inside a template {% if %} / {% for %} block


@dataclass(frozen=True)
class WgQuickConfig:
    """What a wg-quick config says about wg0's MTU."""

    path: str
    mtu: MtuLine | None  # None: no MTU line, wg-quick picks one itself
    overridden_lines: tuple[int, ...] = ()  # earlier MTU lines in [Interface]: the last wins
    peer_mtu_lines: tuple[int, ...] = ()  # MTU under [Peer]: `wg setconf` refuses the file
    peers: int = 0
    is_template: bool = False
    endpoints: tuple[str, ...] = ()  # the hosts of the peers' `Endpoint =` lines, as written


MAX_CONFIG_BYTES = 1_000_000  # a wg-quick config with thousands of peers is a few hundred kB


def read_config(path: str | Path, variables: Mapping[str, int] | None = None) -> WgQuickConfig:
    """Read a wg-quick config or template; `variables` resolve simple template expressions."""
    name = printable(str(path))
    try:
        with Path(path).open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise InputFileError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{name}: is a folder, not a wg-quick config") from None
    except OSError as exc:
        raise InputFileError(f"{name}: cannot read it: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise InputFileError(
            f"{name}: over {MAX_CONFIG_BYTES // 1_000_000} MB, too large for a wg-quick config"
        )
    if b"\0" in raw:
        raise InputFileError(f"{name}: a binary file, not a wg-quick config")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(f"{name}: not UTF-8 text, not a wg-quick config") from None
    return parse_config(text, name, variables)


def parse_config(
    text: str, path: str = "<config>", variables: Mapping[str, int] | None = None
) -> WgQuickConfig:
    section: str | None = None
    depth = 0  # template blocks open around the current line
    seen_interface = False
    mtu_lines: list[tuple[int, str, bool]] = []
    peer_mtu: list[int] = []
    endpoints: list[str] = []
    peers = 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.split("#", 1)[0]
        key, _, value = stripped.partition("=")
        key, value = key.strip(), value.strip()
        opened = len(_BLOCK_OPEN.findall(line))
        closed = len(_BLOCK_CLOSE.findall(line))
        if key.startswith("["):
            section = key.lower()
            seen_interface |= section == INTERFACE
            peers += section == PEER
        elif key.lower() == ENDPOINT_KEY and section == PEER and value:
            endpoints.append(endpoint_host(value))
        elif key.lower() == MTU_KEY and "=" in stripped:
            if section == INTERFACE:
                mtu_lines.append((number, value, depth > 0 or opened > closed))
            else:
                peer_mtu.append(number)
        depth = max(0, depth + opened - closed)
    if not seen_interface:
        raise InputFileError(f"{path}: no [Interface] section: not a wg-quick config")
    chosen = _mtu_line(*mtu_lines[-1], variables or {}) if mtu_lines else None
    return WgQuickConfig(
        path=path,
        mtu=chosen,
        overridden_lines=tuple(n for n, _, _ in mtu_lines[:-1]),
        peer_mtu_lines=tuple(peer_mtu),
        peers=peers,
        is_template=any(mark in text for mark in TEMPLATE_MARKS),
        endpoints=tuple(endpoints),
    )


def endpoint_host(endpoint: str) -> str:
    """The host of an `Endpoint = host:port` value: "[2001:db8::1]:51820" -> "2001:db8::1"."""
    if endpoint.startswith("["):
        return endpoint[1:].split("]", 1)[0]
    host, sep, port = endpoint.rpartition(":")
    return host if sep and is_number(port) and ":" not in host else endpoint


def endpoint_version(host: str) -> int | None:
    """4 or 6 for an address literal; None for a name (or a template expression), whose address
    family only the resolver knows."""
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None


def _mtu_line(
    number: int, written: str, conditional: bool, variables: Mapping[str, int]
) -> MtuLine:
    if is_number(written):
        return MtuLine(number, written, int(written), conditional=conditional)
    if not any(mark in written for mark in TEMPLATE_MARKS):
        return MtuLine(number, written, None, conditional=conditional)  # not a number: invalid
    simple = _SIMPLE_EXPRESSION.match(written)
    if simple is None:
        return MtuLine(number, written, None, expression=written, conditional=conditional)
    name, default = simple.group("name"), simple.group("default")
    return MtuLine(
        number,
        written,
        variables.get(name),
        expression=written,
        variable=name,
        default=int(default) if default is not None else None,
        conditional=conditional,
    )


def parse_variables(assignments: tuple[str, ...] | list[str]) -> dict[str, int]:
    """NAME=NUMBER pairs, as given on the command line (`--var wg_mtu=1380`)."""
    found = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not is_number(value.strip()):
            raise UsageError(f"--var {item!r}: expected NAME=NUMBER, e.g. wg_mtu=1380")
        found[name.strip()] = int(value)
    return found
