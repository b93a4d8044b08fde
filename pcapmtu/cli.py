"""The `pcapmtu` command: options in, one library call, a line out, an exit code.

Exit codes follow the checker convention (ruff, mypy): they are the table in EXIT_CODES,
also shown in the README, and a test keeps the two equal.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from pcapmtu.errors import (
    CaptureError,
    LabSetupError,
    LabUnavailableError,
    PcapmtuError,
    UsageError,
)
from pcapmtu.lab import scenario as scenario_spec
from pcapmtu.loading import loading
from pcapmtu.model import DetectConfig, is_number, printable
from pcapmtu.mtu import ETHERNET_MTU, MAX_LINK_MTU, MIN_LINK_MTU
from pcapmtu.tunnels import TUNNELS
from pcapmtu.version import __version__

if TYPE_CHECKING:  # the analysis (numpy and the decoders) loads when a command needs it
    from pcapmtu.analysis import Progress
    from pcapmtu.report import Report

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
FLEET_INSTALL = "pip install 'pcapmtu[fleet]'"  # the optional extra with Dask
DEBUG_ENV = "PCAPMTU_DEBUG"
INTERFACE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")  # what Linux takes as an interface name

# (code, meaning): the one table behind --help and the README (a test keeps them equal).
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (
        EXIT_OK,
        "no black hole: the capture shows none (check: every capture met its expectation; "
        "config-check: every "
        "MTU fits; lab run: the client got the whole response; probe: the tunnel MTU in use "
        "fits the path)",
    ),
    (
        EXIT_FOUND,
        "black hole found, confirmed or suspected, or the capture cannot decide "
        "(inconclusive) (check: a capture did not meet its "
        "expectation; config-check: an MTU does not fit or cannot be known; lab run: the "
        "transfer did not complete; probe: the tunnel MTU in use does not fit)",
    ),
    (
        EXIT_USAGE,
        "usage error, unreadable capture, the lab cannot run on this machine, or the probe's "
        "target does not answer at all",
    ),
    (EXIT_INTERNAL, "internal error, or a lab step failed"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C or SIGTERM)"),
)
# Each command's own meaning of 0, 1, 2 and 3 (130 is the same everywhere): its --help shows
# only these, wrapped to the terminal.
_CAPTURE_UNREADABLE = "usage error, or a capture that cannot be read"
_LAB_UNAVAILABLE = "usage error, or the lab cannot run on this machine"
_INTERNAL = "internal error"
_LAB_FAILED = "internal error, or a lab step failed"
_OWN: dict[str, tuple[str, str | None, str, str]] = {  # None: not used
    "analyze": (
        "no black hole: the capture shows none",
        "black hole found, confirmed or suspected, or the capture cannot decide (inconclusive)",
        _CAPTURE_UNREADABLE,
        _INTERNAL,
    ),
    "check": (
        "every capture met its expectation",
        "a capture did not meet its expectation",
        _CAPTURE_UNREADABLE,
        _INTERNAL,
    ),
    "config-check": (
        "every MTU fits",
        "an MTU does not fit or cannot be known",
        "usage error, or a config that cannot be read",
        _INTERNAL,
    ),
    "probe": (
        "the tunnel MTU in use fits the path",
        "the tunnel MTU in use does not fit",
        "usage error, or the target does not answer at all",
        _INTERNAL,
    ),
    "lab run": (
        "the client got the whole response",
        "the transfer did not complete",
        _LAB_UNAVAILABLE,
        _LAB_FAILED,
    ),
    "lab samples": (
        "every sample made, each with the outcome it is meant to have",
        None,
        _LAB_UNAVAILABLE,
        "internal error, a lab step failed, or a sample did not have its outcome",
    ),
    "lab cleanup": (
        "done: what was removed is listed",
        None,
        _LAB_UNAVAILABLE,
        _LAB_FAILED,
    ),
}
_OWN["report"] = _OWN["analyze"]


def exit_codes_of(command: str) -> tuple[tuple[int, str], ...]:
    """The exit codes `command` ("analyze", "lab run", ...; "" for all) can end with."""
    if command not in _OWN:
        return EXIT_CODES
    codes = (EXIT_OK, EXIT_FOUND, EXIT_USAGE, EXIT_INTERNAL)
    own = [(code, meaning) for code, meaning in zip(codes, _OWN[command], strict=True) if meaning]
    return (*own, EXIT_CODES[-1])


class _ExitCodesHelp:
    """--help ends with the command's exit codes, each wrapped to the terminal's width."""

    exit_codes_for = ""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Exit codes"):
            rows = [(str(code), meaning) for code, meaning in exit_codes_of(self.exit_codes_for)]
            formatter.write_dl(rows, col_max=6)


HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}


class Command(_ExitCodesHelp, click.Command):
    def __init__(self, *args: Any, exit_codes_for: str = "", **kwargs: Any) -> None:
        kwargs["context_settings"] = {**HELP_OPTIONS, **kwargs.get("context_settings", {})}
        super().__init__(*args, **kwargs)
        self.exit_codes_for = exit_codes_for or (self.name or "")


class Group(_ExitCodesHelp, click.Group):
    command_class = Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["context_settings"] = {**HELP_OPTIONS, **kwargs.get("context_settings", {})}
        super().__init__(*args, **kwargs)


CLOCK_SKEW_OPTION = click.option(
    "--clock-skew",
    type=click.FloatRange(0, 1e10),
    default=DetectConfig().clock_skew_s,
    show_default=True,
    help="Seconds apart the captures may be and still be judged together (their evidence "
    "adding up); captures further apart are judged apart, each by what was delivered at its "
    "own time. Raise it for both ends of one hang taken on hosts whose clocks disagree.",
)


class ExitCodeGroup(Group):
    """A click group whose errors and interrupts end in pcapmtu's exit codes, not click's.

    Click exits 1 on Ctrl-C and prints a traceback for anything unexpected; here every known
    error is one line on stderr, and an unexpected one says how to see its traceback.
    """

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_USAGE)
        except (click.Abort, KeyboardInterrupt):
            click.echo("pcapmtu: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except (UsageError, LabUnavailableError, CaptureError) as exc:
            click.echo(f"pcapmtu: error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except (LabSetupError, PcapmtuError) as exc:
            click.echo(f"pcapmtu: error: {exc}", err=True)
            sys.exit(EXIT_INTERNAL)
        except Exception as exc:  # the last line of defence: no traceback unless asked for
            if os.environ.get(DEBUG_ENV):
                import traceback

                traceback.print_exc()
            click.echo(
                f"pcapmtu: internal error: {type(exc).__name__}: {exc} "
                f"(set {DEBUG_ENV}=1 to see the traceback; please report it)",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _pieces_joined(captures: Sequence[str], every: bool) -> list[Any]:
    """The captures to analyse: files that continue one another (a rotated capture) joined
    into one, told by their names, or all of them with --continued (`capture.continued`)."""
    from pcapmtu.capture import continued

    if every:
        if len(captures) < 2 or "-" in captures:
            raise click.UsageError("--continued joins two or more capture files (not stdin)")
        return [continued.continued(captures)]
    joined, notes = continued.group(list(captures))
    for note in notes:
        click.echo(f"pcapmtu: warning: {note}", err=True)
    return joined


@contextlib.contextmanager
def _cluster(scheduler: str | None) -> Iterator[Any]:
    """The Dask client of --scheduler (`fleet.connect`), or None without one."""
    if scheduler is None:
        yield None
        return
    from pcapmtu.fleet import connect

    with connect(scheduler) as client:
        yield client


def _tunnel_kind(value: str | None) -> str | None:
    """--tunnel, checked: a tunnel kind pcapmtu knows."""
    from pcapmtu.tunnels import check_kind

    if value is not None:
        try:
            check_kind(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@click.group(cls=ExitCodeGroup)
@click.version_option(__version__, prog_name="pcapmtu")
def cli() -> None:
    """Find MTU black holes in packet captures, and reproduce them in a lab."""


@cli.command()
@click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the report as JSON (schema in the README) instead of text.",
)
@click.option(
    "--min-copies",
    type=click.IntRange(2, 100),
    default=DetectConfig().min_full_size_copies,
    show_default=True,
    help="Full-size copies of a segment, all unacknowledged, before it counts as lost "
    "(fewer, with the capture ending within --min-gap of the first: too soon to tell, "
    "inconclusive).",
)
@click.option(
    "--min-gap",
    type=click.FloatRange(0.1, 600),
    default=DetectConfig().min_hole_s,
    show_default=True,
    help="Seconds a receiver-side gap must stay open before it counts as lost (one still "
    "open when the capture ends sooner: too soon to tell, inconclusive).",
)
@CLOCK_SKEW_OPTION
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Read this many captures at once, in separate processes.",
)
@click.option(
    "--continued",
    is_flag=True,
    help="The captures are one capture in pieces, in this order (a rotated capture: tcpdump "
    "-C/-G/-W, dumpcap -b): read them as one, so flows crossing files are whole. Without it, "
    "pieces are joined when their names tell (tcpdump's cap.pcap, cap.pcap1, ...; dumpcap's "
    "prefix_00001_TIME.pcapng) and their link types and times agree.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Read each capture's first pass on a Dask cluster: a scheduler's address "
    "(tcp://host:8786), or local:N for N worker processes here. Its workers must see the "
    f"same paths. The report is the same. Needs {FLEET_INSTALL}.",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No progress line on stderr (it is shown only when stderr is a terminal).",
)
@click.option(
    "--tunnel",
    metavar="KIND",
    callback=lambda _ctx, _param, value: _tunnel_kind(value),
    help="The tunnel the capture was taken on, when the capture cannot tell: "
    f"{', '.join(TUNNELS)}, or gre:N (an N-byte GRE header). Its overhead and the fix "
    "follow it. Default: told from the capture (outer headers, interface names, MSS).",
)
@click.option(
    "--measured",
    metavar="N|PROBE.json",
    default=None,
    help="The underlay path MTU, measured (a number, or the JSON of `pcapmtu probe --via "
    "underlay --json`): the MTU to set is then exact (basis: measured).",
)
@click.option(
    "--all-flows",
    is_flag=True,
    help="Keep every flow: past 65,536 flow directions, flows without data are by default "
    "counted and forgotten while reading, to bound memory (a SYN flood); and with --json, "
    "list every flow direction in flows[] (by default only those that sent data or have a "
    "finding; the rest are counted in flows_not_listed). Memory then grows with the flows.",
)
@click.option(
    "--wireguard-port",
    metavar="PORT",
    type=click.IntRange(1, 65535),
    default=None,
    help="Read WireGuard's messages on the underlay only on this UDP port (the endpoint's "
    "ListenPort). Default: any port, WireGuard told by its messages' format.",
)
def analyze(
    captures: tuple[str, ...],
    as_json: bool,
    min_copies: int,
    min_gap: float,
    clock_skew: float,
    jobs: int,
    quiet: bool,
    tunnel: str | None,
    measured: str | None,
    wireguard_port: int | None,
    all_flows: bool,
    scheduler: str | None,
    continued: bool,
) -> int:
    """Find MTU black holes in CAPTURE files (pcap or pcapng, gzip too; - for stdin).

    Several captures are analysed together: take them at both ends of the tunnel
    and their evidence adds up (captures taken at other times, more than
    --clock-skew apart, are judged apart). Prints the verdict first, then the evidence, the
    bracket for the largest packet that gets through, and the MTU to set.

    Underlay captures (tcpdump -i eth0 udp port 51820) are read for WireGuard's
    messages: both ends' captures together prove a black hole (messages matched
    by counter); one end's shows the resend's signature. A capture of the tunnel's
    interface with one of its underlay (two files of one host, a pcapng with
    both, or -i any) ties each inner packet to the message that carried it.

    Reading from stdin (-), the first Ctrl-C stops reading and analyses what
    arrived (as tcpdump stops and prints its summary); a second one gives up
    (exit 130). The capture is kept in a temporary file meanwhile, then removed.

    \b
    Example:
      pcapmtu analyze sample_captures/incident.home-wg0.pcap
      pcapmtu analyze home-eth0.pcap proxy-eth0.pcap --wireguard-port 51820
      tcpdump -i wg0 -w - | pcapmtu analyze -
    """
    import warnings

    from pcapmtu.errors import CaptureWarning

    with loading():
        from pcapmtu.analysis import analyze as run_analysis  # numpy and the passes

    if "-" in captures and sys.stdin.isatty():
        raise click.UsageError(
            "'-' reads a capture from stdin, but stdin is a terminal: pipe one in, "
            "e.g. tcpdump -i wg0 -w - | pcapmtu analyze -"
        )
    if scheduler is not None and jobs > 1:
        raise click.UsageError("--jobs and --scheduler: give one (the cluster has its workers)")
    sources = _pieces_joined(captures, continued)
    config = DetectConfig(
        min_full_size_copies=min_copies, min_hole_s=min_gap, clock_skew_s=clock_skew
    )
    show = not quiet and sys.stderr.isatty()
    with warnings.catch_warnings(), _cluster(scheduler) as client:
        warnings.simplefilter("ignore", CaptureWarning)  # the report lists them; printed below
        report = run_analysis(
            sources,
            config=config,
            jobs=jobs,
            progress=_progress_line if show else None,
            tunnel=tunnel,
            measured_path_mtu=_path_mtu(measured, "--measured") if measured else None,
            wireguard_port=wireguard_port,
            every_flow=all_flows,
            executor=client.get_executor() if client is not None else None,
        )
    if show:
        click.echo("\r\033[K", nl=False, err=True)
    for warning in report.warnings:
        click.echo(f"pcapmtu: warning: {warning}", err=True)
    click.echo(
        report.to_json(every_flow=all_flows) if as_json else report.render_text(), nl=as_json
    )
    return exit_code(report)


@cli.command()
@click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="HTML file to write (replaced if it exists).",
)
@click.option("--title", default=None, help="The page's title [default: MTU postmortem: CAPTURE].")
@click.option(
    "--keep",
    type=click.Choice(["sample", "all"]),
    default="sample",
    show_default=True,
    help="Whose segments the pictures draw: of every flow when there are few; else of the "
    "flows that could hold a finding and a sample of the others between the same hosts, the "
    "smallest first, up to 10,000 segments (memory stays bounded). all: every flow, at the "
    "time and memory it takes.",
)
@CLOCK_SKEW_OPTION
def report(
    captures: tuple[str, ...], output: Path, title: str | None, keep: str, clock_skew: float
) -> int:
    """Write a postmortem of CAPTURE files as one self-contained HTML page.

    The page holds the verdict, the pictures (segment sizes against the MTU
    thresholds, sizes delivered and lost, a time-sequence graph of each stalled
    flow, all flows), the evidence, the fix and what to check next; the
    pictures are embedded, so the file can be mailed or attached to a ticket.
    The exit code is the verdict's, as for analyze.

    \b
    Example:
      pcapmtu report sample_captures/incident.home-wg0.pcap -o postmortem.html
    """
    import warnings

    from pcapmtu import output as written
    from pcapmtu.errors import CaptureWarning

    with loading():
        from pcapmtu.kept import gather  # numpy and the passes
        from pcapmtu.page import html

    if not output.parent.is_dir():
        raise UsageError(f"cannot write {output}: no such folder {output.parent}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)  # the report lists them; below
        kept = gather(list(captures), keep=keep, config=DetectConfig(clock_skew_s=clock_skew))
    for warning in kept.report.warnings:
        click.echo(f"pcapmtu: warning: {warning}", err=True)
    page = html(kept, title)
    try:
        written.write_text(output, page)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from exc
    caution = kept.report.caution()
    click.echo(kept.report.summary() + (f"\nCAUTION: {caution}" if caution else ""))
    click.echo(f"wrote {printable(str(output))}")
    return exit_code(kept.report)


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of lines.")
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the results as JUnit XML (one test case per capture) to this file.",
)
@click.option(
    "--exit-zero",
    is_flag=True,
    help="Exit 0 even when a capture does not meet its expectation (unreadable input still "
    "exits 2).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Analyse the captures on a Dask cluster, each on a worker: a scheduler's address "
    "(tcp://host:8786), or local:N for N worker processes here. Its workers must see the "
    f"same paths. The results are the same. Needs {FLEET_INSTALL}.",
)
def check(
    paths: tuple[str, ...],
    as_json: bool,
    junit: Path | None,
    exit_zero: bool,
    scheduler: str | None,
) -> int:
    """Check captures against the outcome expected of them: a regression test.

    PATH is a capture or a folder (searched below for .pcap, .pcapng, .cap and
    their .gz). Each capture is analysed on its own and compared with its
    expectation: a sidecar NAME.expect.json beside it, or an entry in the
    folder's expectations.json manifest; without one it must show no black
    hole. One line per capture (PASS, FAIL and why, or ERROR), then a summary.

    \b
    An expectation (every key but verdict optional):
      {"verdict": "black_hole", "affected_flows": 1,
       "bracket": {"min": 444, "max": 1419}}
    verdict: black_hole, clean, inconclusive, or no_black_hole (the default:
    neither a black hole nor a suspected one); affected_flows: flows with a
    black hole or a suspected one; bracket: the largest inner IP packet that
    gets through, as analyze's paths[].fits_ip_len. A manifest:
      {"default": {...}, "captures": {"NAME.pcap": {...}, ...}}

    \b
    Example:
      pcapmtu check sample_captures/ --junit pcapmtu-junit.xml
    """
    from pcapmtu import check_output, output

    with loading():
        from pcapmtu.check import ERROR, FAIL, check_captures  # numpy and the passes

    if junit is not None and not junit.parent.is_dir():
        raise UsageError(f"cannot write {junit}: no such folder {junit.parent}")
    with _cluster(scheduler) as client:
        results = check_captures(list(paths), client=client)
    for r in results:
        for warning in r.warnings:
            click.echo(f"pcapmtu: warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(check_output.to_dict(results), indent=2))
    else:
        for r in results:  # a capture that could not be read is an error: on stderr
            click.echo(r.line(), err=r.status == ERROR)
        click.echo(check_output.summary(results))
    if junit is not None:
        try:
            output.write_text(junit, check_output.junit_xml(results))
        except OSError as exc:
            raise UsageError(f"cannot write {junit}: {exc.strerror or exc}") from exc
    if any(r.status == ERROR for r in results):
        return EXIT_USAGE
    failed = any(r.status == FAIL for r in results)
    return EXIT_FOUND if failed and not exit_zero else EXIT_OK


@cli.command("config-check")
@click.argument("configs", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--path-mtu",
    "path_mtu_given",
    default=str(ETHERNET_MTU),
    show_default=True,
    help="MTU of the underlay path between the peers, or the JSON a `pcapmtu probe --via "
    "underlay --json` wrote (the path it measured). Common: 1500 Ethernet, 1492 PPPoE, "
    "1460 Google Cloud, 1280 the IPv6 minimum (fits everywhere IPv6 works).",
)
@click.option(
    "--outer",
    type=click.Choice(["auto", "4", "6"]),
    default="auto",
    show_default=True,
    help="IP version of the underlay: WireGuard adds 60 bytes over IPv4, 80 over IPv6. auto: "
    "from each config's Endpoint address ([2001:db8::1]:51820 is IPv6); a name, or no "
    "Endpoint, is checked for both.",
)
@click.option(
    "--link-mtu",
    type=click.IntRange(MIN_LINK_MTU, MAX_LINK_MTU),
    default=ETHERNET_MTU,
    show_default=True,
    help="MTU of the link towards the endpoint: without an MTU line wg-quick sets this minus 80.",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=N",
    help="A template variable's value, e.g. --var wg_mtu=1380 for MTU = {{ wg_mtu }} (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of lines.")
def config_check(
    configs: tuple[str, ...],
    path_mtu_given: str,
    outer: str,
    link_mtu: int,
    variables: tuple[str, ...],
    as_json: bool,
) -> int:
    """Check that the MTU in wg-quick configs fits the path, before they ship.

    FILE is a wg-quick config (wg0.conf) or a template of one (Jinja and the
    like: read as text, not rendered). The MTU line in [Interface] must leave
    room for WireGuard's 60 bytes (IPv4 underlay) or 80 (IPv6) on a path of
    --path-mtu bytes. A template expression makes the MTU unknowable unless
    --var gives its variable; that fails too, as does an MTU line that may not
    be rendered. No MTU line means wg-quick picks one (--link-mtu minus 80).
    One line per file: OK, FAIL (and the MTU to set), UNKNOWN or INVALID.

    \b
    Example:
      pcapmtu config-check docs/examples/*_wg0.conf.j2 --path-mtu 1492 --var wg_mtu=1412
    """
    from pcapmtu.configcheck import check_configs, to_dict
    from pcapmtu.wgconfig import parse_variables

    outer_version = None if outer == "auto" else int(outer)
    path_mtu = _path_mtu(path_mtu_given, "--path-mtu")
    verdicts = check_configs(
        list(configs),
        path_mtu=path_mtu,
        outer_version=outer_version,
        link_mtu=link_mtu,
        variables=parse_variables(variables),
    )
    if as_json:
        click.echo(json.dumps(to_dict(verdicts, path_mtu, outer_version), indent=2))
    else:
        for v in verdicts:
            click.echo(v.line())
            for note in v.notes:
                click.echo(f"        note: {note}")
    return EXIT_OK if all(v.ok for v in verdicts) else EXIT_FOUND


@cli.command()
@click.argument("target", required=False)
@click.option(
    "--endpoint-from",
    "endpoint_from",
    metavar="CONF",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Probe the underlay to the Endpoint of this wg-quick config's peer, and judge its "
    "MTU line (or wg-quick's default) against the path: TARGET and --tunnel-mtu come from it. "
    "An interface name instead (wg0): its live peer (wg show) and MTU (ip link).",
)
@click.option(
    "--via",
    type=click.Choice(["tunnel", "underlay"]),
    default=None,
    help="TARGET is the peer's address inside the tunnel (measures inner packets; WireGuard's "
    "padding explained) or its endpoint on the underlay (measures the path MTU exactly). "
    "Default: tunnel when the route to TARGET leaves by a tunnel interface (wg*, vxlan*, ...).",
)
@click.option(
    "--tunnel",
    metavar="KIND",
    callback=lambda _ctx, _param, value: _tunnel_kind(value),
    help=f"The tunnel whose overhead applies: {', '.join(TUNNELS)}. Default: the interface's "
    "kind, else wireguard.",
)
@click.option(
    "--tunnel-mtu",
    type=click.IntRange(MIN_LINK_MTU, MAX_LINK_MTU),
    default=None,
    help="Via the underlay: the tunnel MTU in use, to say whether it fits (exit 1 if not).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON (schema_version 1)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.05, 10),
    default=1.0,
    show_default=True,
    help="Seconds to wait for each answer.",
)
@click.option(
    "--tries",
    type=click.IntRange(1, 10),
    default=3,
    show_default=True,
    help="Echo requests of a size before it counts as lost (the known-good size is sent "
    "again between them, so plain loss is not taken for size).",
)
@click.option(
    "--budget",
    type=click.IntRange(8, 500),
    default=64,
    show_default=True,
    help="Echo requests at most, in all: with --timeout, the longest the probe can take.",
)
@click.option(
    "--path",
    "http_path",
    default="/",
    show_default=True,
    help="TCP mode (TARGET is HOST:PORT): the HTTP path to GET; its response must be several "
    "segments long (a few kB or more).",
)
@click.option(
    "--upload",
    is_flag=True,
    help="TCP mode: measure this host's packets towards the peer instead (POSTs of full-size "
    "segments with Don't Fragment forced; they pass when acknowledged).",
)
def probe(
    target: str | None,
    endpoint_from: Path | None,
    via: str | None,
    tunnel: str | None,
    tunnel_mtu: int | None,
    as_json: bool,
    timeout: float,
    tries: int,
    budget: int,
    http_path: str,
    upload: bool,
) -> int:
    """Measure the largest packet that crosses the live path to TARGET, and the MTU to set.

    Sends ICMP echo requests with Don't Fragment to TARGET only (an IPv4 or IPv6
    address), bisecting between the smallest echo and the MTU of the interface
    the route leaves by, ignoring any path MTU the kernel has cached. A size
    counts as lost only after --tries unanswered requests while smaller ones
    keep passing; at most --budget requests, --timeout seconds each. Needs
    root, or a group in net.ipv4.ping_group_range.

    TCP mode, no root: TARGET is HOST:PORT of an HTTP service on the far side.
    Each try is a GET of --path on a new connection whose SYN's MSS caps the
    peer's packets at the size tried; it passes when the whole response
    arrives in time. That measures the peer's packets towards this host,
    through whatever is on the way, even where ICMP echo is filtered.

    Exit 0 when the tunnel MTU in use fits the path (via the tunnel: every
    size up to its MTU passed), 1 when it does not (a black hole now), 2 when
    nothing answers at all or the probe cannot run.

    
    Example:
      pcapmtu probe 10.0.0.2                  # the peer's tunnel address
      pcapmtu probe 203.0.113.7 --tunnel-mtu 1420   # its endpoint
      pcapmtu probe --endpoint-from /etc/wireguard/wg0.conf
      pcapmtu probe 10.0.0.1:8080 --path /big.iso   # TCP, no root
    """
    from pcapmtu.probing import BudgetSpent, PathSilent, ProbeSocketError, ServiceRefused
    from pcapmtu.probing import probe as run_probe
    from pcapmtu.tunnels import by_kind

    if endpoint_from is not None:
        target, tunnel_mtu = _endpoint_of(endpoint_from, target, tunnel_mtu)
        via = via or "underlay"
    if target is None:
        raise click.UsageError("give TARGET (an address), or --endpoint-from a wg-quick config")
    try:
        result = run_probe(
            target,
            via=via,
            tunnel=by_kind(tunnel) if tunnel else None,
            tunnel_mtu_now=tunnel_mtu,
            timeout_s=timeout,
            tries=tries,
            budget=budget,
            path=http_path,
            upload=upload,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="TARGET") from None
    except (PathSilent, ProbeSocketError, BudgetSpent, ServiceRefused) as exc:
        raise UsageError(f"probe {target}: {exc}") from None
    click.echo(result.to_json() if as_json else result.render_text(), nl=as_json)
    return result.exit_code()


def _endpoint_of(conf: Path, target: str | None, mtu: int | None) -> tuple[str, int]:
    """--endpoint-from: (the peer's endpoint address, the tunnel MTU in use), from a wg-quick
    config, or from a live interface (`wg show IFACE endpoints`, its MTU from `ip link`)."""
    from pcapmtu.configcheck import effective_mtu
    from pcapmtu.probing import interface_endpoints
    from pcapmtu.wgconfig import endpoint_host, read_config

    if not conf.exists() and INTERFACE_NAME.match(str(conf)):
        try:
            live, live_mtu = interface_endpoints(str(conf))
        except OSError as exc:
            raise UsageError(f"--endpoint-from {conf}: {exc}") from None
        hosts, mtu = [endpoint_host(e) for e in live], mtu or live_mtu
    else:
        config = read_config(conf)
        if mtu is None:
            mtu = effective_mtu(config)[0]
        hosts = [endpoint_host(e) for e in config.endpoints]
    if target is not None:
        return target, mtu
    if len(hosts) != 1:
        raise click.UsageError(
            f"{conf}: {len(hosts)} peers with an Endpoint; give TARGET, the one to probe"
        )
    return hosts[0], mtu


def _path_mtu(value: str, option: str) -> int:
    """--path-mtu, --measured: a number, or a probe's JSON file (the underlay path MTU it
    measured); read when the command runs."""
    if is_number(value):
        mtu = int(value)
    else:
        try:
            data = json.loads(Path(value).read_text())
        except (OSError, ValueError) as exc:
            problem = f"{value}: neither a number nor a probe's JSON ({exc})"
            raise click.BadParameter(param_hint=option, message=problem) from None
        if not isinstance(data, dict) or data.get("via") != "underlay":
            raise click.BadParameter(
                param_hint=option,
                message=f"{value}: not the JSON of a probe via the underlay (pcapmtu probe "
                "ENDPOINT --via underlay --json): only that measures the path itself",
            )
        if data.get("smallest_failing") is None:
            raise click.BadParameter(
                param_hint=option,
                message=f"{value}: the probe found no size that fails (up to "
                f"{data.get('largest_passing')}): the path MTU is at least that, not known",
            )
        mtu = int(data["largest_passing"])
    if not MIN_LINK_MTU <= mtu <= MAX_LINK_MTU:
        raise click.BadParameter(
            param_hint=option, message=f"{mtu} is outside {MIN_LINK_MTU}..{MAX_LINK_MTU}"
        )
    return mtu


def _progress_line(progress: Progress) -> None:
    """One updating line on a terminal: how far, how fast."""
    rate = progress.packets / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
    done = (
        f"{progress.fraction:.0%}"
        if progress.fraction is not None
        else (f"{progress.bytes_read / 1e6:.0f} MB")
    )
    click.echo(
        f"\r\033[Kreading {progress.capture}: {done}, {progress.packets:,} packets, "
        f"{rate:,.0f} packets/s",
        nl=False,
        err=True,
    )


def exit_code(report: Report) -> int:
    """0 only when the capture shows no black hole; 1 when it shows one, confirmed or
    suspected, and when it cannot decide (inconclusive): never a wrong "clean" exit."""
    from pcapmtu.detect import VERDICT_CLEAN

    return EXIT_OK if report.verdict == VERDICT_CLEAN else EXIT_FOUND


@cli.group(cls=Group)
def lab() -> None:
    """Build real WireGuard tunnels in network namespaces and capture them (Linux, root).

    \b
    Topology: home -- r1 -- r2 -- proxy, the r1-r2 link set to the path MTU,
    a WireGuard tunnel (wg0) between home and proxy, an HTTP server on home,
    a client on proxy. Nothing leaves the lab's own namespaces.
    """


def _parse_sysctls(values: Sequence[str]) -> tuple[Any, ...]:
    from pcapmtu.lab import Sysctl

    return tuple(Sysctl.parse(v) for v in values)


@lab.command("run", exit_codes_for="lab run")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Capture file to write; the sidecar goes beside it as NAME.json.",
)
@click.option(
    "--path-mtu",
    type=int,
    default=scenario_spec.DEFAULT_PATH_MTU,
    show_default=True,
    help="MTU of the underlay link between the routers (both directions).",
)
@click.option(
    "--wg-mtu",
    type=int,
    default=scenario_spec.DEFAULT_WG_MTU,
    show_default=True,
    help="MTU of wg0 on both peers.",
)
@click.option(
    "--wg-mtu-from",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Take wg0's MTU on both peers from this wg-quick config or template (its MTU line, "
    "or wg-quick's own choice without one), instead of --wg-mtu.",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=N",
    help="With --wg-mtu-from: a template variable's value, e.g. --var wg_mtu=1380 (repeatable).",
)
@click.option("--wg-mtu-home", type=int, default=None, help="Override --wg-mtu on the home side.")
@click.option("--wg-mtu-proxy", type=int, default=None, help="Override --wg-mtu on the proxy side.")
@click.option(
    "--outer",
    type=click.Choice(["4", "6"]),
    default="4",
    show_default=True,
    help="IP version of the underlay (WireGuard's UDP packets).",
)
@click.option(
    "--inner",
    type=click.Choice(["4", "6"]),
    default="4",
    show_default=True,
    help="IP version inside the tunnel.",
)
@click.option(
    "--icmp",
    type=click.Choice(scenario_spec.ICMP_MODES),
    default="blocked",
    show_default=True,
    help="Whether the routers drop ICMP dest-unreachable / ICMPv6 packet-too-big.",
)
@click.option(
    "--capture",
    "captures",
    multiple=True,
    type=click.Choice(list(scenario_spec.CAPTURE_POINTS)),
    help="Capture point; repeat for several (one file each).  [default: home-wg0]",
)
@click.option(
    "--snaplen",
    type=int,
    default=scenario_spec.DEFAULT_SNAPLEN,
    show_default=True,
    help="Bytes kept of each packet (tcpdump -s).",
)
@click.option(
    "--tstamp-precision",
    type=click.Choice(scenario_spec.TSTAMP_PRECISIONS),
    default="micro",
    show_default=True,
    help="Timestamp precision of the pcap.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(scenario_spec.FORMATS),
    default="pcap",
    show_default=True,
    help="pcapng puts every capture point into one file, one interface each.",
)
@click.option(
    "--workload",
    type=click.Choice(scenario_spec.WORKLOADS),
    default="get",
    show_default=True,
    help="get: one HTTP GET; upload: a POST; bulk: a large GET; "
    "many: parallel small and large GETs; services: a large GET from each of two services; "
    "keepalive: GETs one after another on one connection; stalled-reader: a GET whose client "
    "stops reading; tls: HTTPS with a large certificate chain; ssh: an OpenSSH key exchange.",
)
@click.option(
    "--response-bytes",
    type=int,
    default=None,
    help="Size of the (large) HTTP response, headers included.  [default: "
    + ", ".join(f"{k} {v}" for k, v in scenario_spec.DEFAULT_RESPONSE_BYTES.items())
    + "]",
)
@click.option(
    "--upload-bytes",
    type=int,
    default=scenario_spec.DEFAULT_UPLOAD_BYTES,
    show_default=True,
    help="Body size of the upload workload.",
)
@click.option(
    "--sysctl",
    "sysctls",
    multiple=True,
    metavar="[home:|proxy:]KEY=VALUE",
    help="Kernel setting for the endpoints, e.g. net.ipv4.tcp_mtu_probing=1.",
)
@click.option(
    "--loss",
    type=float,
    default=0.0,
    show_default=True,
    help="Random loss at router r1, in percent (both directions).",
)
@click.option(
    "--rate",
    type=int,
    default=scenario_spec.DEFAULT_RATE_MBIT,
    show_default=True,
    help="Underlay pacing rate, Mbit/s (keeps wireguard-go from dropping).",
)
@click.option(
    "--timeout",
    type=float,
    default=scenario_spec.DEFAULT_TIMEOUT_S,
    show_default=True,
    help="Seconds the client waits for the workload to finish.",
)
@click.option(
    "--clamp-mss",
    type=int,
    default=None,
    help="Clamp the MSS of the second service (port 8081) on both peers' wg0, as Docker's "
    "NAT path does; the services workload fetches from both.",
)
@click.option(
    "--wireguard",
    type=click.Choice(scenario_spec.WIREGUARD_IMPLEMENTATIONS),
    default="auto",
    show_default=True,
    help="Kernel module or wireguard-go.",
)
@click.option(
    "--tunnel",
    type=click.Choice(scenario_spec.TUNNEL_KINDS),
    default="wireguard",
    show_default=True,
    help="The tunnel between home and proxy: WireGuard, VXLAN (DF set on the outer header; "
    "capture points home-vxlan0, proxy-vxlan0), or none (the traffic crosses the underlay "
    "itself; --wg-mtu is then the endpoints' eth0 MTU).",
)
@click.option(
    "--keep-alive",
    "keep_alive",
    type=int,
    multiple=True,
    help="keepalive workload: the size of each response, in order, all on one connection "
    "(repeat it; default 300, 600, then --response-bytes).",
)
@click.option(
    "--pause",
    type=float,
    default=scenario_spec.DEFAULT_PAUSE_S,
    show_default=True,
    help="keepalive workload: seconds between a response and the next request.",
)
@click.option(
    "--path-event",
    type=click.Choice(scenario_spec.PATH_EVENTS),
    default="none",
    show_default=True,
    help="Change the path during the workload: lower its MTU (--event-path-mtu), or an "
    "outage (the first router drops everything).",
)
@click.option(
    "--event-at",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds after the workload starts that --path-event happens.",
)
@click.option(
    "--event-path-mtu",
    type=int,
    default=None,
    help="--path-event mtu: the path's MTU from then on.",
)
@click.option(
    "--capture-after",
    type=float,
    default=0.0,
    show_default=True,
    help="Start capturing this many seconds after the workload starts, as people do once "
    "they notice a hang.",
)
def lab_run(
    output: Path,
    path_mtu: int,
    wg_mtu: int,
    wg_mtu_from: Path | None,
    variables: tuple[str, ...],
    wg_mtu_home: int | None,
    wg_mtu_proxy: int | None,
    outer: str,
    inner: str,
    icmp: str,
    captures: tuple[str, ...],
    snaplen: int,
    tstamp_precision: str,
    fmt: str,
    workload: str,
    response_bytes: int | None,
    upload_bytes: int,
    sysctls: tuple[str, ...],
    loss: float,
    rate: int,
    timeout: float,
    wireguard: str,
    clamp_mss: int | None,
    keep_alive: tuple[int, ...],
    pause: float,
    path_event: str,
    event_at: float,
    event_path_mtu: int | None,
    capture_after: float,
    tunnel: str,
) -> int:
    """Build the lab, run one workload through the tunnel, capture it, tear it all down.

    The defaults reproduce the incident: wg MTU 1420 over a 1400-byte path with
    ICMP blocked, and a GET of a 1760-byte response that never arrives.

    As a pre-deploy gate, take the MTU from the config you are about to ship:
    the run exits 1 when its transfer does not complete.

    \b
    Example:
      sudo pcapmtu lab run --wg-mtu 1340 --path-mtu 1400 -o fixed.pcap
      sudo pcapmtu lab run --wg-mtu-from docs/examples/server_wg0.conf.j2 \\
          --var wg_mtu=1412 --path-mtu 1492 -o gate.pcap
    """
    from pcapmtu.lab import Scenario, run_scenario

    if wg_mtu_from is not None:
        wg_mtu = _mtu_from_config(wg_mtu_from, variables)
    elif variables:
        raise click.UsageError("--var needs --wg-mtu-from")

    scenario = Scenario(
        path_mtu=path_mtu,
        wg_mtu_home=wg_mtu_home if wg_mtu_home is not None else wg_mtu,
        wg_mtu_proxy=wg_mtu_proxy if wg_mtu_proxy is not None else wg_mtu,
        outer=int(outer),
        inner=int(inner),
        icmp=icmp,
        captures=captures or (_DEFAULT_POINT[tunnel],),
        snaplen=snaplen,
        tstamp_precision=tstamp_precision,
        format=fmt,
        workload=workload,
        response_bytes=response_bytes,
        upload_bytes=upload_bytes,
        sysctls=_parse_sysctls(sysctls),
        loss_percent=loss,
        rate_mbit=rate,
        timeout_s=timeout,
        wireguard=wireguard,
        clamp_mss=clamp_mss,
        keep_alive=keep_alive,
        pause_s=pause,
        path_event=path_event,
        event_at_s=event_at,
        event_path_mtu=event_path_mtu,
        capture_after_s=capture_after,
        tunnel=tunnel,
    )
    result = run_scenario(scenario, output)
    click.echo(result.summary())
    for warning in result.warnings:
        click.echo(f"pcapmtu: warning: {warning}", err=True)
    return EXIT_OK if result.outcome.complete else EXIT_FOUND


_DEFAULT_POINT = {"wireguard": "home-wg0", "vxlan": "home-vxlan0", "none": "home-underlay"}


def _mtu_from_config(path: Path, variables: tuple[str, ...]) -> int:
    """--wg-mtu-from: the MTU wg-quick would set from `path` (it measures the lab's 1500-byte
    link when the config has none); refuses to be combined with --wg-mtu."""
    from pcapmtu.configcheck import effective_mtu
    from pcapmtu.wgconfig import parse_variables, read_config

    context = click.get_current_context()
    if context.get_parameter_source("wg_mtu") is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError("give --wg-mtu or --wg-mtu-from, not both")
    mtu, how = effective_mtu(read_config(path, parse_variables(variables)))
    click.echo(f"wg0 MTU {mtu} on both peers ({path}: {how})")
    return mtu


@lab.command("samples", exit_codes_for="lab samples")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option(
    "--only",
    "names",
    multiple=True,
    metavar="NAME",
    help="Make only this sample (repeatable). Default: all of them.",
)
@click.option("--list", "list_only", is_flag=True, help="List the samples and exit.")
@click.option(
    "--readme-only",
    is_flag=True,
    help="Rewrite FOLDER/README.md from the sidecars already there; run nothing.",
)
def lab_samples(
    folder: Path | None, names: tuple[str, ...], list_only: bool, readme_only: bool
) -> int:
    """Make the sample captures in FOLDER, each a real lab run, and its README.md.

    Every sample must show the outcome it is meant to (for example: the
    incident must not complete, the fix must); otherwise this fails.
    """
    from pcapmtu.lab import samples

    if list_only:
        for sample in samples.by_name(names):
            state = "complete" if sample.complete else "incomplete"
            click.echo(f"{sample.name:24} {state:10} {', '.join(samples.sample_files(sample))}")
        return EXIT_OK
    if folder is None:
        raise click.UsageError("missing argument FOLDER (where to write the samples)")
    if readme_only:
        samples.write_readme(folder)
        click.echo(f"wrote {folder / samples.README}")
        return EXIT_OK
    samples.make_samples(folder, names, progress=lambda line: click.echo(line, err=True))
    click.echo(f"wrote {folder / samples.README}")
    return EXIT_OK


@lab.command("cleanup", exit_codes_for="lab cleanup")
def lab_cleanup() -> int:
    """Remove namespaces, processes and work folders left by lab runs that were killed.

    Only what is named after a lab run whose process no longer exists is touched.
    """
    from pcapmtu.lab.cleanup import remove_stale, remove_stale_workdirs
    from pcapmtu.lab.system import check_linux_root

    check_linux_root()
    removed = remove_stale()
    folders = remove_stale_workdirs()
    for name in [*removed, *folders]:
        click.echo(f"removed {name}")
    click.echo(f"{len(removed)} stale lab namespaces and {len(folders)} work folders removed")
    return EXIT_OK


def main() -> NoReturn:
    """Console entry point."""
    cli.main(prog_name="pcapmtu")
