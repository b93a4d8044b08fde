"""wg-quick configs and templates: the MTU line found as wg-quick finds it, templates not
rendered, and real-world shapes (comments, several peers, any case and spacing, Jinja)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pcapmtu.errors import InputFileError, UsageError
from pcapmtu.wgconfig import parse_config, parse_variables, read_config

# Shapes met in real repositories (wg-quick files and Ansible/Jinja templates).
PLAIN = """\
# wg0 on the home server
[Interface]
Address = 10.8.0.1/24, fd00::1/64
ListenPort = 51820
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
MTU = 1380   # was 1420 until the incident

[Peer]
# proxy
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
AllowedIPs = 10.8.0.2/32
Endpoint = 192.0.2.10:51820

[Peer]
PublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
AllowedIPs = 10.8.0.3/32
"""


def _mtu(text: str, **variables: int) -> int | None:
    line = parse_config(text, variables=variables).mtu
    assert line is not None
    return line.value


def test_a_plain_config_with_comments_and_several_peers() -> None:
    config = parse_config(PLAIN)
    assert config.mtu is not None
    assert (config.mtu.line, config.mtu.value, config.mtu.written) == (6, 1380, "1380")
    assert config.peers == 2
    assert not config.is_template and not config.peer_mtu_lines and not config.overridden_lines


@pytest.mark.parametrize(
    "line", ["MTU=1380", "mtu = 1380", "  Mtu   =   1380  ", "MTU =1380#comment", "\tMTU\t=\t1380"]
)
def test_mtu_in_any_case_and_spacing(line: str) -> None:
    assert _mtu(f"[Interface]\nPrivateKey = x\n{line}\n") == 1380


@pytest.mark.parametrize("header", ["[interface]", "[INTERFACE]", "  [Interface]  # wg0"])
def test_section_names_in_any_case(header: str) -> None:
    assert _mtu(f"{header}\nMTU = 1400\n") == 1400


def test_the_last_mtu_line_wins_and_the_others_are_noted() -> None:
    config = parse_config("[Interface]\nMTU = 1420\nAddress = 10.0.0.1/24\nMTU = 1380\n")
    assert config.mtu is not None and config.mtu.value == 1380
    assert config.overridden_lines == (2,)


def test_a_commented_out_mtu_is_no_mtu() -> None:
    assert parse_config("[Interface]\n# MTU = 1380\n;x\n").mtu is None


def test_mtu_under_a_peer_is_not_the_interfaces() -> None:
    config = parse_config("[Interface]\nPrivateKey = x\n[Peer]\nPublicKey = y\nMTU = 1380\n")
    assert config.mtu is None
    assert config.peer_mtu_lines == (5,)


@pytest.mark.parametrize(
    ("written", "variables", "value", "variable", "default"),
    [
        ("{{ wg_mtu }}", {}, None, "wg_mtu", None),
        ("{{ wg_mtu }}", {"wg_mtu": 1380}, 1380, "wg_mtu", None),
        ("{{ wg_mtu | default(1420) }}", {}, None, "wg_mtu", 1420),
        ("{{ wg_mtu | default(1420) }}", {"wg_mtu": 1340}, 1340, "wg_mtu", 1420),
        ("{{wg_mtu|default(1420, true)|int}}", {}, None, "wg_mtu", 1420),
        ("{{ wireguard.mtu | int }}", {"wireguard.mtu": 1412}, 1412, "wireguard.mtu", None),
        ("{{ hostvars[inventory_hostname].mtu }}", {}, None, None, None),
        ("{{ .MTU }}", {}, None, None, None),  # a Go template
        ("${wg_mtu}", {"wg_mtu": 1380}, None, None, None),  # Terraform: not resolved
    ],
)
def test_template_expressions_are_read_not_rendered(
    written: str,
    variables: dict[str, int],
    value: int | None,
    variable: str | None,
    default: int | None,
) -> None:
    config = parse_config(f"[Interface]\nMTU = {written}\n", variables=variables)
    assert config.is_template
    line = config.mtu
    assert line is not None and line.expression == written
    assert (line.value, line.variable, line.default) == (value, variable, default)


def test_an_mtu_line_inside_a_template_block_is_conditional() -> None:
    text = "[Interface]\n{% if wg_mtu is defined %}\nMTU = {{ wg_mtu }}\n{% endif %}\n"
    line = parse_config(text, variables={"wg_mtu": 1380}).mtu
    assert line is not None and line.conditional and line.value == 1380
    outside = parse_config("[Interface]\n{% if x %}\nDNS = 1.1.1.1\n{% endif %}\nMTU = 1380\n")
    assert outside.mtu is not None and not outside.mtu.conditional


def test_not_a_number() -> None:
    line = parse_config("[Interface]\nMTU = auto\n").mtu
    assert line is not None and line.value is None and line.expression is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"\x00\x01binary", "a binary file"),
        (b"\xff\xfe[\x00I", "binary"),
        (b"[Peer]\nPublicKey = x\n", r"no \[Interface\] section"),
        (b"\xe9t\xe9\n", "not UTF-8"),
    ],
)
def test_unusable_files_are_errors_naming_the_file(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "wg0.conf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputFileError, match=message) as caught:
        read_config(path)
    assert str(path) in str(caught.value)


def test_variables_from_the_command_line() -> None:
    assert parse_variables(["wg_mtu=1380", " a.b = 7 "]) == {"wg_mtu": 1380, "a.b": 7}
    for bad in ("wg_mtu", "=1380", "wg_mtu=big"):
        with pytest.raises(UsageError, match="NAME=NUMBER"):
            parse_variables([bad])


@pytest.mark.skipif(shutil.which("wg-quick") is None, reason="wg-quick is not installed")
@pytest.mark.parametrize(
    "text",
    [
        PLAIN,
        "[interface]\nmtu=1400\nPrivateKey = x\n",
        "[Interface]\nMTU = 1420\nMTU = 1380\n[Peer]\nPublicKey = y\nMTU = 1300\n",
        "  [INTERFACE] # x\n  Mtu  =  1300  # y\n",
    ],
)
def test_the_lines_wg_quick_takes_as_mtu_are_ours(tmp_path: Path, text: str) -> None:
    """`wg-quick strip` prints the config without the lines it consumed itself (MTU among
    them): the MTU lines it keeps are exactly those the parser leaves out of [Interface]."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root, but this test is not")
        pytest.skip("wg-quick strip asks for root")
    path = tmp_path / "wg9.conf"
    path.write_text(text)
    path.chmod(0o600)
    tmp_path.chmod(0o700)
    stripped = subprocess.run(
        ["wg-quick", "strip", str(path)], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    kept = [line for line in stripped.splitlines() if line.split("=")[0].strip().lower() == "mtu"]
    config = parse_config(text)
    all_mtu = [
        n
        for n, line in enumerate(text.splitlines(), 1)
        if "=" in line.split("#")[0] and line.split("=")[0].strip().lower() == "mtu"
    ]
    taken = {config.mtu.line} if config.mtu else set()
    taken |= set(config.overridden_lines)
    assert len(kept) == len(config.peer_mtu_lines)
    assert len(all_mtu) - len(kept) == len(taken)
