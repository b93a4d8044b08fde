"""The README cannot drift from the code: its exit-code table and its commands."""

from __future__ import annotations

import re
from pathlib import Path

from pcapmtu import cli
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_readme_exit_code_table_is_the_codes() -> None:
    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section, flags=re.MULTILINE)
    assert [(int(code), meaning) for code, meaning in rows] == list(cli.EXIT_CODES)


def test_readme_test_command_is_what_ci_runs() -> None:
    assert "\nscripts/test\n" in README
    assert "exec scripts/test" in (REPO / ".ci" / "run").read_text()


def test_readme_lab_options_exist() -> None:
    run = cli.lab.commands["run"]
    options = {opt for param in run.params for opt in getattr(param, "opts", [])}
    section = README.split("### Options", 1)[1].split("\n\n", 2)[1]  # the table
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    documented = set(re.findall(r"`(--[a-z0-9-]+)", table))
    assert documented <= options
    assert options - {"--help", "--output"} <= documented | {"-o"}


def test_readme_example_report_is_the_real_output(monkeypatch: object) -> None:
    import pytest

    from pcapmtu import analyze

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.chdir(REPO)
    marker = "It prints (and exits 1, because it found a black hole):\n\n```\n"
    start = README.index(marker) + len(marker)
    shown = README[start : README.index("\n```", start)] + "\n"
    assert shown == analyze("sample_captures/incident.home-wg0.pcap").render_text()


def test_readme_pictures_exist_and_are_redrawn_by_the_script(tmp_path: Path) -> None:
    import runpy

    from matplotlib.image import imread

    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert pictures == ["docs/segment-sizes.png", "docs/time-sequence.png"]
    script = runpy.run_path(str(REPO / "docs" / "make_images.py"))
    script["main"](tmp_path)
    for picture in pictures:
        committed, redrawn = REPO / picture, tmp_path / Path(picture).name
        assert imread(str(committed)).shape == imread(str(redrawn)).shape, picture


def test_readme_frame_columns_are_the_declared_ones() -> None:
    from pcapmtu import frames

    section = README.split("| frame | one row per | columns |", 1)[1].split("\n\n", 1)[0]
    declared = frames.COLUMNS
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (.+) \|$", section, flags=re.MULTILINE)
    assert [name for name, _ in rows] == list(declared)
    for name, columns in rows:
        assert re.findall(r"(?:^|, )`(\w+)`", columns) == list(declared[name]), name


def _pcapmtu_commands(text: str) -> list[list[str]]:
    """Each `pcapmtu ...` command in a CI file's shell lines, as arguments."""
    import shlex

    found = []
    for line in text.splitlines():
        for part in re.split(r"&&|\|\||;", line):
            match = re.search(r"(?:^|[\s/\"'])pcapmtu\"?\)?\"? +(.+)$", part)
            if match and not part.strip().startswith("#") and "pip install" not in part:
                args = shlex.split(match.group(1).replace('"$PATH_MTU"', "1492"))
                found.append(args[: args.index(">")] if ">" in args else args)  # redirection
    return found


def test_ci_examples_are_valid_yaml_with_real_commands() -> None:
    """The GitHub Actions and GitLab CI files users copy: they parse, and every pcapmtu
    command in them is one the CLI accepts (options, values), without running it."""
    import click
    import yaml

    for name in ("github-actions.yml", "gitlab-ci.yml"):
        text = (REPO / "docs" / "ci" / name).read_text()
        assert isinstance(yaml.safe_load(text), dict), name
        commands = _pcapmtu_commands(text)
        used = {args[0] if args[0] != "lab" else "lab run" for args in commands}
        assert used == {"config-check", "check", "lab run", "analyze", "probe"}, name
        for args in commands:
            command: click.Command | None = cli.cli
            words = list(args)
            while isinstance(command, click.Group):
                name, words = words[0], words[1:]
                command = command.get_command(click.Context(command), name)
                assert command is not None, args
            assert command is not None
            command.make_context(str(command.name), words)  # raises on a bad option or value
    assert "docs/ci/github-actions.yml" in README and "docs/ci/gitlab-ci.yml" in README


def test_readme_json_table_is_what_to_dict_gives() -> None:
    """Every field `analyze --json` prints is in the README's JSON section, and every field the
    table names is printed: top level, and each finding's, path's and capture's fields."""
    from pcapmtu import analyze

    section = README.split("## JSON output", 1)[1].split("\n## ", 1)[0]
    rows = {
        line.split("|")[1].strip().strip("`").removesuffix("[]"): line.split("|", 2)[2]
        for line in section.splitlines()
        if line.startswith("| `")
    }
    data = analyze(
        [REPO / "sample_captures" / "icmp-allowed.home-wg0.pcap",
         REPO / "sample_captures" / "icmp-allowed.home-underlay.pcap"]
    ).to_dict()  # fmt: skip
    assert set(rows) <= set(data)
    for key in set(data) - set(rows):
        assert any(f in section for f in (f"`{key}`", f"`{key}[]`", f'`"{key}"')), key
    for table in ("findings", "paths", "captures", "flows"):
        if data[table]:
            for field in data[table][0]:
                said = (f"`{field}`", f"`{field}[]`")
                assert any(f in rows[table] for f in said), (table, field)
