"""The command line: every exit code, one clear line per error, and help for everything."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import pcapmtu.analysis
import pcapmtu.lab
import pcapmtu.lab.samples
from pcapmtu import cli
from pcapmtu.errors import LabSetupError
from pcapmtu.lab import system
from tests.conftest import SAMPLES


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _one_error_line(result: Any) -> str:
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return str(lines[0])


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix}{name} ")
    return found


def test_every_command_and_option_has_help() -> None:
    for name, command in _commands(cli.cli):
        assert command.help, f"{name} has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help"


COMMANDS = ["analyze", "report", "check", "config-check", "probe", "lab run", "lab samples",
            "lab cleanup"]  # fmt: skip


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_each_command_shows_its_own_exit_codes_wrapped(
    runner: CliRunner, command: str, flag: str
) -> None:
    result = runner.invoke(cli.cli, [*command.split(), flag], terminal_width=72)
    assert result.exit_code == 0, result.output
    shown = result.output[result.output.index("Exit codes:") :].splitlines()[1:]
    assert max(len(line) for line in shown) <= 72
    rows: list[list[str]] = []
    for line in shown:
        first, *rest = line.split(maxsplit=1)
        if first.isdigit() and line.startswith("  ") and not line.startswith("   "):
            rows.append([first, *rest])
        elif line.strip():
            rows[-1].append(line.strip())
    table = [(int(code), _words(" ".join(words))) for code, *words in rows]
    # exactly its own codes, with their own meanings, and no other command's
    assert table == [(code, _words(meaning)) for code, meaning in cli.exit_codes_of(command)]


def test_the_top_level_help_shows_every_exit_code(runner: CliRunner) -> None:
    for flag in ("--help", "-h"):
        result = runner.invoke(cli.cli, [flag], terminal_width=200)
        assert result.exit_code == 0
        for code, meaning in cli.EXIT_CODES:
            assert _words(f"{code} {meaning}") in _words(result.output)


@pytest.mark.parametrize(("given", "kept"), [(None, "1"), ("4", "4")])
def test_the_command_quiets_openblas_threads_unless_told(
    monkeypatch: pytest.MonkeyPatch, given: str | None, kept: str
) -> None:
    """numpy's OpenBLAS threads spin at import on cores the analysis uses; the user's value
    stays."""
    from pcapmtu import start

    if given is None:
        monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", given)
    monkeypatch.setattr(sys, "argv", ["pcapmtu", "--version"])
    handler = signal.getsignal(signal.SIGINT)  # the command sets its own
    try:
        with pytest.raises(SystemExit) as done:
            start.main()
    finally:
        signal.signal(signal.SIGINT, handler)
    assert done.value.code == 0
    assert os.environ["OPENBLAS_NUM_THREADS"] == kept


@pytest.mark.parametrize("was_on", [True, False])
def test_loading_pauses_the_garbage_collector_and_restores_it(was_on: bool) -> None:
    import gc

    from pcapmtu.loading import loading

    before = gc.isenabled()
    try:
        gc.enable() if was_on else gc.disable()
        with loading():
            assert not gc.isenabled()
        assert gc.isenabled() is was_on
        with pytest.raises(ImportError), loading():
            import pcapmtu.no_such_module  # type: ignore[import-not-found]  # noqa: F401
        assert gc.isenabled() is was_on
    finally:
        gc.enable() if before else gc.disable()


# What analysing one capture file never needs: the stream's temporary copy (tempfile, with
# shutil and random), worker processes (concurrent.futures, with logging), a traceback; nor,
# for these, the exact decoder (dpkt): an eth0 capture's ARP and IPv6 multicast listener
# reports (ICMPv6 behind a hop-by-hop header) are skipped without it.
_LOADED_FOR_A_FILE = """
import sys
sys.argv = ["pcapmtu", "analyze", sys.argv[1]]
from pcapmtu.start import main
try:
    main()
except SystemExit:
    pass
print(sorted(m for m in ("tempfile", "concurrent.futures", "logging", "traceback", "dpkt")
             if m in sys.modules))
"""


@pytest.mark.parametrize("name", ["incident.home-wg0.pcap", "outage.home-underlay.pcap"])
def test_analysing_a_file_loads_no_module_only_streams_or_workers_need(name: str) -> None:
    capture = SAMPLES / name
    done = subprocess.run(
        [sys.executable, "-c", _LOADED_FOR_A_FILE, str(capture)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


_COMMAND_WITH = """
import atexit, sys, threading, time
class TornDown:
    def __del__(self):
        print("torn down", flush=True)
KEPT = TornDown()  # freed only when Python tears the interpreter down at exit
atexit.register(lambda: print("atexit ran", flush=True))
if sys.argv[1] == "busy":  # a thread Python waits for at exit
    threading.Thread(target=time.sleep, args=(0.5,)).start()
sys.argv[1:2] = []
from pcapmtu.start import command
command()
"""


@pytest.mark.parametrize("thread", ["none", "busy"])
def test_the_command_exits_without_tearing_python_down_but_runs_atexit(thread: str) -> None:
    """The console entry exits at once (module teardown costs 0.04 to 0.07 s), after its
    output and the atexit handlers; with a thread Python would wait for, the usual exit."""
    incident = str(SAMPLES / "incident.home-wg0.pcap")
    done = subprocess.run(
        [sys.executable, "-c", _COMMAND_WITH, thread, "analyze", "--json", incident],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == cli.EXIT_FOUND, done.stderr
    report, _, after = done.stdout.rpartition("}")
    assert json.loads(report + "}")["verdict"] == "black_hole"
    assert "atexit ran" in after
    assert ("torn down" in after) is (thread == "busy")


def test_the_command_keeps_its_exit_code_and_output_through_a_pipe() -> None:
    """A usage error (exit 2, its message on stderr) and a clean verdict (exit 0), both read
    whole from pipes."""
    bad = subprocess.run(
        [sys.executable, "-m", "pcapmtu", "analyze", "no-such.pcap"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == cli.EXIT_USAGE
    assert "no-such.pcap" in bad.stderr
    clean = subprocess.run(
        [sys.executable, "-m", "pcapmtu", "analyze", str(SAMPLES / "fixed-mtu1340.pcap")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert clean.returncode == cli.EXIT_OK, clean.stdout
    assert clean.stdout.startswith("VERDICT: no MTU black hole")
    assert clean.stdout.rstrip().endswith("link type RAW (101)")


def test_clock_skew_is_an_option_of_analyze_and_report(runner: CliRunner, tmp_path: Path) -> None:
    """Two samples six days apart: judged apart by default (the black hole stands, a warning
    on stderr), together with --clock-skew covering the days between them."""
    pair = [str(SAMPLES / "incident.home-wg0.pcap"), str(SAMPLES / "outage.home-wg0.pcap")]
    apart = runner.invoke(cli.cli, ["analyze", *pair])
    assert apart.exit_code == cli.EXIT_FOUND
    assert "judged apart" in apart.stderr and "--clock-skew" in apart.stderr
    together = runner.invoke(cli.cli, ["analyze", "--clock-skew", "1e6", *pair])
    assert together.exit_code == cli.EXIT_OK, together.output
    assert "judged apart" not in together.stderr
    page = tmp_path / "page.html"
    reported = runner.invoke(cli.cli, ["report", *pair, "-o", str(page)])
    assert reported.exit_code == cli.EXIT_FOUND and page.is_file()
    assert "judged apart" in reported.stderr


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli.cli, ["--version"])
    assert result.exit_code == 0 and pcapmtu.__version__ in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lab", "run"], "Missing option '-o'"),
        (["lab", "run", "-o", "x.pcap", "--outer", "5"], "'5' is not one of"),
        (["lab", "run", "-o", "x.pcap", "--path-mtu", "many"], "'many' is not a valid integer"),
        (["no-such-command"], "No such command"),
    ],
)
def test_click_usage_errors_exit_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(cli.cli, args)
    assert result.exit_code == cli.EXIT_USAGE
    assert message in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--inner", "6", "--wg-mtu", "1200"],
            "pcapmtu: error: --wg-mtu (home) 1200 is outside 1280..9000 (IPv6 inside)",
        ),
        (["--sysctl", "kernel.panic=1"], "pcapmtu: error: bad sysctl 'kernel.panic=1'"),
        (
            ["--capture", "home-wg0", "--capture", "home-wg0"],
            "pcapmtu: error: --capture names a point twice: home-wg0, home-wg0",
        ),
    ],
)
def test_impossible_scenarios_exit_2_with_the_value(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(cli.cli, ["lab", "run", "-o", str(tmp_path / "x.pcap"), *args])
    assert result.exit_code == cli.EXIT_USAGE
    assert _one_error_line(result).startswith(message)


def test_output_in_a_missing_folder_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli.cli, ["lab", "run", "-o", str(tmp_path / "nope" / "x.pcap")])
    assert result.exit_code == cli.EXIT_USAGE
    assert "does not exist" in _one_error_line(result)


def test_not_root_exits_2(runner: CliRunner, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = runner.invoke(cli.cli, ["lab", "run", "-o", str(tmp_path / "x.pcap")])
    assert result.exit_code == cli.EXIT_USAGE
    assert _one_error_line(result) == (
        "pcapmtu: error: the lab needs root (it creates network namespaces): run it with sudo"
    )


def test_missing_tools_are_named_with_their_packages(
    runner: CliRunner, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(system, "kernel_wireguard_loaded", lambda: False)
    monkeypatch.setattr(
        shutil, "which", lambda tool: None if tool in ("nft", "wireguard-go") else "/bin/x"
    )
    result = runner.invoke(cli.cli, ["lab", "run", "-o", str(tmp_path / "x.pcap")])
    assert result.exit_code == cli.EXIT_USAGE
    assert _one_error_line(result) == (
        "pcapmtu: error: the lab needs nft, wireguard-go: "
        "install them with apt-get install nftables wireguard-go"
    )


def test_kernel_wireguard_asked_for_but_absent(
    runner: CliRunner, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(system, "kernel_wireguard_loaded", lambda: False)
    result = runner.invoke(
        cli.cli, ["lab", "run", "-o", str(tmp_path / "x.pcap"), "--wireguard", "kernel"]
    )
    assert result.exit_code == cli.EXIT_USAGE
    assert "modprobe wireguard" in _one_error_line(result)


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            LabSetupError("`ip netns add x` failed: File exists"),
            cli.EXIT_INTERNAL,
            "pcapmtu: error: `ip netns add x` failed: File exists",
        ),
        (
            RuntimeError("boom"),
            cli.EXIT_INTERNAL,
            "pcapmtu: internal error: RuntimeError: boom (set PCAPMTU_DEBUG=1",
        ),
        (KeyboardInterrupt(), cli.EXIT_INTERRUPTED, "pcapmtu: interrupted"),
    ],
)
def test_failures_map_to_exit_codes(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: Any,
    error: BaseException,
    code: int,
    message: str,
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(pcapmtu.lab, "run_scenario", fail)
    result = runner.invoke(cli.cli, ["lab", "run", "-o", str(tmp_path / "x.pcap")])
    assert result.exit_code == code
    assert _one_error_line(result).startswith(message)


def test_outcome_sets_the_exit_code(runner: CliRunner, tmp_path: Path, monkeypatch: Any) -> None:
    """0 when the client got everything, 1 when it did not (the lab's "problem found")."""

    class Outcome:
        def __init__(self, complete: bool) -> None:
            self.complete = complete

    class Result:
        warnings = ("the kernel dropped 2 packets",)

        def __init__(self, complete: bool) -> None:
            self.outcome = Outcome(complete)

        def summary(self) -> str:
            return "summary line"

    for complete, code in ((True, cli.EXIT_OK), (False, cli.EXIT_FOUND)):
        monkeypatch.setattr(pcapmtu.lab, "run_scenario", lambda s, o, c=complete: Result(c))
        result = runner.invoke(cli.cli, ["lab", "run", "-o", str(tmp_path / "x.pcap")])
        assert result.exit_code == code
        assert result.stdout == "summary line\n"
        assert result.stderr == "pcapmtu: warning: the kernel dropped 2 packets\n"


def test_samples_list_and_unknown_name(runner: CliRunner) -> None:
    listed = runner.invoke(cli.cli, ["lab", "samples", "--list"])
    assert listed.exit_code == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        s.name for s in pcapmtu.lab.samples.SAMPLES
    ]
    unknown = runner.invoke(cli.cli, ["lab", "samples", "--list", "--only", "nope"])
    assert unknown.exit_code == cli.EXIT_USAGE
    assert _one_error_line(unknown).startswith("pcapmtu: error: unknown sample nope")


def test_samples_needs_a_folder(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(cli.cli, ["lab", "samples"]).exit_code == cli.EXIT_USAGE
    missing = runner.invoke(cli.cli, ["lab", "samples", "--readme-only", str(tmp_path / "no")])
    assert missing.exit_code == cli.EXIT_USAGE
    assert "no such folder" in _one_error_line(missing)


def test_cleanup_needs_root(runner: CliRunner, monkeypatch: Any) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = runner.invoke(cli.cli, ["lab", "cleanup"])
    assert result.exit_code == cli.EXIT_USAGE
    assert "needs root" in _one_error_line(result)


# analyze -------------------------------------------------------------------------------------

INCIDENT = SAMPLES / "incident.home-wg0.pcap"
FIXED = SAMPLES / "fixed-mtu1340.pcap"


def test_analyze_exit_0_when_clean_and_1_on_a_black_hole(runner: CliRunner) -> None:
    clean = runner.invoke(cli.cli, ["analyze", str(FIXED)])
    assert clean.exit_code == cli.EXIT_OK and clean.stdout.startswith("VERDICT: no MTU")
    found = runner.invoke(cli.cli, ["analyze", str(INCIDENT)])
    assert found.exit_code == cli.EXIT_FOUND and found.stdout.startswith("VERDICT: MTU black")
    assert found.stderr == ""


def test_analyze_json_is_the_report(runner: CliRunner) -> None:
    result = runner.invoke(cli.cli, ["analyze", "--json", str(INCIDENT)])
    data = json.loads(result.stdout)
    assert data["verdict"] == "black_hole" and data["schema_version"] == 1


def test_analyze_reads_stdin(runner: CliRunner) -> None:
    result = runner.invoke(cli.cli, ["analyze", "-"], input=INCIDENT.read_bytes())
    assert result.exit_code == cli.EXIT_FOUND
    assert "Capture <stdin>: pcap" in result.stdout


def test_analyze_several_captures_together(runner: CliRunner) -> None:
    result = runner.invoke(
        cli.cli, ["analyze", str(INCIDENT), str(SAMPLES / "incident.proxy-wg0.pcap")]
    )
    assert result.exit_code == cli.EXIT_FOUND
    assert result.stdout.count("BLACK HOLE:") == 1  # one flow, seen at both ends


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"not a capture\n", "is a text file, not a pcap or pcapng capture"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "cut within its 24-byte pcap header"),
    ],
    ids=["missing", "empty", "text", "cut-header"],
)
def test_analyze_unreadable_input_exits_2(
    runner: CliRunner, tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "input.pcap"
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(cli.cli, ["analyze", str(path)])
    assert result.exit_code == cli.EXIT_USAGE
    line = _one_error_line(result)
    assert line.startswith("pcapmtu: error: ") and message in line and str(path) in line


def test_analyze_a_folder_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli.cli, ["analyze", str(tmp_path)])
    assert result.exit_code == cli.EXIT_USAGE
    assert "is a folder" in _one_error_line(result)


def test_analyze_cut_capture_warns_and_keeps_the_verdict(runner: CliRunner, tmp_path: Path) -> None:
    data = INCIDENT.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-30])  # the last record (the final ACK) cut short
    result = runner.invoke(cli.cli, ["analyze", str(cut)])
    assert result.exit_code == cli.EXIT_FOUND
    assert result.stderr.startswith("pcapmtu: warning: ") and "ends inside record" in result.stderr
    assert "warning:" in result.stdout  # the report lists it too


def test_analyze_unknown_link_type_warns(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "lt.pcap"
    data = bytearray(FIXED.read_bytes())
    data[20:24] = (182).to_bytes(4, "little")  # a link type pcapmtu does not decode
    path.write_bytes(bytes(data))
    result = runner.invoke(cli.cli, ["analyze", str(path)])
    assert result.exit_code == cli.EXIT_FOUND  # nothing to judge by: inconclusive, never clean
    assert "skipped 12 packets of link type 182" in result.stderr
    assert "TO DECIDE: pcapmtu cannot decode its link type (182)" in result.stdout


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (RuntimeError("boom"), cli.EXIT_INTERNAL, "pcapmtu: internal error: RuntimeError: boom"),
        (KeyboardInterrupt(), cli.EXIT_INTERRUPTED, "pcapmtu: interrupted"),
    ],
)
def test_analyze_failures_map_to_exit_codes(
    runner: CliRunner, monkeypatch: Any, error: BaseException, code: int, message: str
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(pcapmtu.analysis, "analyze", fail)
    result = runner.invoke(cli.cli, ["analyze", str(INCIDENT)])
    assert result.exit_code == code
    assert _one_error_line(result).startswith(message)


def test_analyze_prints_no_progress_when_stderr_is_not_a_terminal(runner: CliRunner) -> None:
    for args in (
        ["analyze", str(INCIDENT)],
        ["analyze", "-q", "-j", "2", str(INCIDENT), str(FIXED)],
    ):
        result = runner.invoke(cli.cli, args)
        assert result.stderr == "" and result.exit_code == cli.EXIT_FOUND


def test_progress_line_text() -> None:
    from pcapmtu.analysis import Progress

    runner = CliRunner()

    @click.command()
    def show() -> None:
        cli._progress_line(Progress("x.pcap", 100_000, 50_000_000, 100_000_000, 2.0))

    result = runner.invoke(show)
    assert "reading x.pcap: 50%, 100,000 packets, 50,000 packets/s" in result.stderr


def test_analyze_stdin_from_a_terminal_is_a_usage_error() -> None:
    """`pcapmtu analyze -` typed without a pipe would wait forever; it says so instead."""
    import pty
    import subprocess
    import sys

    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pcapmtu", "analyze", "-"],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(controller)
        os.close(terminal)
    assert done.returncode == cli.EXIT_USAGE
    assert "stdin is a terminal: pipe one in" in done.stderr and "Traceback" not in done.stderr


def test_report_writes_the_page_and_exits_with_the_verdict(
    runner: CliRunner, tmp_path: Path
) -> None:
    page = tmp_path / "postmortem.html"
    result = runner.invoke(cli.cli, ["report", str(INCIDENT), "-o", str(page)])
    assert result.exit_code == cli.EXIT_FOUND
    assert result.stdout.splitlines() == [
        pcapmtu.analysis.analyze(INCIDENT).summary(),
        f"wrote {page}",
    ]
    assert result.stderr == ""
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page.read_text(encoding="utf-8")
    clean = runner.invoke(
        cli.cli, ["report", str(SAMPLES / "fixed-mtu1340.pcap"), "-o", str(page), "--title", "X"]
    )
    assert clean.exit_code == cli.EXIT_OK
    assert "<title>X</title>" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{missing}"], "no such file"),
        (["{text}"], "is a text file"),
    ],
    ids=["missing", "text"],
)
def test_report_bad_input_exits_2(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n")
    filled = [a.format(missing=tmp_path / "nope.pcap", text=text) for a in args]
    page = tmp_path / "out.html"
    result = runner.invoke(cli.cli, ["report", *filled, "-o", str(page)])
    assert result.exit_code == cli.EXIT_USAGE
    assert message in result.stderr and "Traceback" not in result.output
    assert not page.exists()


def test_report_reads_stdin(runner: CliRunner, tmp_path: Path) -> None:
    page = tmp_path / "out.html"
    result = runner.invoke(cli.cli, ["report", "-", "-o", str(page)], input=INCIDENT.read_bytes())
    assert result.exit_code == cli.EXIT_FOUND, result.output
    assert "MTU postmortem: &lt;stdin&gt;" in page.read_text(encoding="utf-8")


def test_report_into_a_missing_folder_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "page.html"
    result = runner.invoke(cli.cli, ["report", str(INCIDENT), "-o", str(target)])
    assert result.exit_code == cli.EXIT_USAGE
    assert "no such folder" in _one_error_line(result)


def test_report_needs_an_output(runner: CliRunner) -> None:
    result = runner.invoke(cli.cli, ["report", str(INCIDENT)])
    assert result.exit_code == cli.EXIT_USAGE
    assert "--output" in result.stderr


TEMPLATE = """\
# templates/server_wg0.conf.j2
[Interface]
Address = {{ wg_address }}
PrivateKey = {{ wg_private_key }}
MTU = {{ wg_mtu | default(1420) }}

{% for peer in wg_peers %}
[Peer]
PublicKey = {{ peer.public_key }}
AllowedIPs = {{ peer.allowed_ips }}
{% endfor %}
"""


def test_config_check_exit_codes_and_lines(runner: CliRunner, tmp_path: Path) -> None:
    template = tmp_path / "server_wg0.conf.j2"
    template.write_text(TEMPLATE)
    plain = tmp_path / "wg0.conf"
    plain.write_text("[Interface]\nmtu = 1412\n")

    unknown = runner.invoke(cli.cli, ["config-check", str(template), "--path-mtu", "1492"])
    assert unknown.exit_code == cli.EXIT_FOUND
    assert unknown.stdout.startswith(f"UNKNOWN {template}: MTU = {{{{ wg_mtu | default(1420) }}}}")

    args = ["config-check", str(template), str(plain), "--path-mtu", "1492"]
    fits = runner.invoke(cli.cli, [*args, "--var", "wg_mtu=1432", "--outer", "4"])
    assert fits.exit_code == cli.EXIT_OK
    assert [line.split()[0] for line in fits.stdout.splitlines()] == ["OK", "OK"]

    # no Endpoint (a server): its peers may come over either underlay, so IPv6 decides
    both = runner.invoke(cli.cli, [*args, "--var", "wg_mtu=1432"])
    assert both.exit_code == cli.EXIT_FOUND and "no Endpoint: both underlays" in both.stdout

    outer6 = runner.invoke(cli.cli, [*args, "--var", "wg_mtu=1432", "--outer", "6"])
    assert outer6.exit_code == cli.EXIT_FOUND
    assert "set MTU = 1412 or lower" in outer6.stdout.splitlines()[0]
    assert outer6.stdout.splitlines()[1].startswith("OK")

    data = json.loads(
        runner.invoke(cli.cli, [*args, "--var", "wg_mtu=1440", "--outer", "4", "--json"]).stdout
    )
    assert [c["status"] for c in data["configs"]] == ["fail", "ok"]
    assert data["configs"][0]["largest_fitting_mtu"] == 1432 and data["path_mtu"] == 1492


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{missing}"], "no such file"),
        (["{folder}"], "is a folder"),
        (["{plain}", "--var", "wg_mtu"], "expected NAME=NUMBER"),
        (["{plain}", "--path-mtu", "100"], "--path-mtu"),
    ],
    ids=["missing", "folder", "bad-var", "tiny-path"],
)
def test_config_check_bad_input_exits_2(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    plain = tmp_path / "wg0.conf"
    plain.write_text("[Interface]\nMTU = 1380\n")
    filled = [a.format(missing=tmp_path / "nope.conf", folder=tmp_path, plain=plain) for a in args]
    result = runner.invoke(cli.cli, ["config-check", *filled])
    assert result.exit_code == cli.EXIT_USAGE
    assert message in result.stderr and "Traceback" not in result.output


def test_lab_run_takes_the_mtu_from_one_place(runner: CliRunner, tmp_path: Path) -> None:
    template = tmp_path / "server_wg0.conf.j2"
    template.write_text(TEMPLATE)
    out = str(tmp_path / "x.pcap")
    both = runner.invoke(
        cli.cli, ["lab", "run", "--wg-mtu", "1380", "--wg-mtu-from", str(template), "-o", out]
    )
    assert both.exit_code == cli.EXIT_USAGE and "not both" in both.stderr
    lone_var = runner.invoke(cli.cli, ["lab", "run", "--var", "wg_mtu=1380", "-o", out])
    assert lone_var.exit_code == cli.EXIT_USAGE and "--var needs --wg-mtu-from" in lone_var.stderr
    unknown = runner.invoke(cli.cli, ["lab", "run", "--wg-mtu-from", str(template), "-o", out])
    assert unknown.exit_code == cli.EXIT_USAGE
    assert "give it with --var wg_mtu=N" in _one_error_line(unknown)


def _unread(pipe: int) -> int:
    """How many bytes wait in a pipe (FIONREAD works on either end, Linux)."""
    import fcntl
    import termios

    count = bytearray(4)
    fcntl.ioctl(pipe, termios.FIONREAD, count)
    return int.from_bytes(count, sys.byteorder)


def _start_reading_a_pipe(data: bytes) -> subprocess.Popen[bytes]:
    """`pcapmtu analyze -` reading `data` from a pipe that stays open, once it has read it all
    (so it is past its start-up: a Ctrl-C then meets the reading, not the imports)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcapmtu", "analyze", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(data)
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while _unread(proc.stdin.fileno()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # past the read: waiting for more
    return proc


@pytest.mark.skipif(sys.platform != "linux", reason="FIONREAD on a pipe: Linux")
def test_ctrl_c_on_a_pipe_stops_reading_and_gives_the_verdict() -> None:
    """As in `tcpdump -i wg0 -w - | pcapmtu analyze -` and Ctrl-C: the pipe is still open."""
    proc = _start_reading_a_pipe(INCIDENT.read_bytes())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == cli.EXIT_FOUND, err
    assert out.decode().startswith("VERDICT: MTU black hole")
    assert "reading was interrupted (Ctrl-C); analysed the 19 packets" in err.decode()
    assert "Traceback" not in err.decode()


@pytest.mark.skipif(sys.platform != "linux", reason="FIONREAD on a pipe: Linux")
def test_a_second_ctrl_c_gives_up_with_130() -> None:
    proc = _start_reading_a_pipe(INCIDENT.read_bytes())
    assert proc.stdin is not None
    proc.send_signal(signal.SIGINT)
    for _ in range(5):  # the writer keeps writing: reading goes on for a moment
        proc.stdin.write(b"\0" * 4096)
        proc.stdin.flush()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == cli.EXIT_INTERRUPTED
    assert "pcapmtu: interrupted" in err.decode() and "Traceback" not in err.decode()
