"""Many captures, each analysed on its own, on a Dask cluster: when one machine is not enough.

    import pcapmtu.fleet
    with pcapmtu.fleet.connect("local:4") as client:  # or a scheduler's address
        fleet = pcapmtu.fleet.analyze_many(["captures/*.pcap", "s3://bucket/day/*.pcap.gz"],
                                           client=client)
    fleet.findings      # one DataFrame: every capture's findings (`frames.findings`' columns)
    fleet.reports       # capture -> its Report; fleet.errors: capture -> why it was not read

Each capture is read and analysed where a worker runs (`pcapmtu.analyze`, the same report as a
serial run: tests compare them): a local path must be readable there (the same machine, or a
shared folder), an fsspec URL (s3://, gs://, ...) needs that filesystem's package on the
workers. Without a client the captures are analysed one after another in this process.

Dask is the optional extra `pcapmtu[fleet]` (dask.distributed, fsspec); nothing else in pcapmtu
imports this module.
"""

from __future__ import annotations

import glob
import logging
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pcapmtu.analysis import DEFAULT_CONFIG
from pcapmtu.analysis import analyze as analyze_one
from pcapmtu.detect import DetectConfig
from pcapmtu.errors import UsageError
from pcapmtu.report import Report

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

LOCAL = "local:"  # --scheduler local:N starts a cluster of N worker processes here
MAX_LOCAL_WORKERS = 256
CONNECT_TIMEOUT_S = 10
INSTALL = "pip install 'pcapmtu[fleet]'"


@dataclass
class Fleet:
    """What `analyze_many` found: per capture its report, or why it could not be read; and every
    finding in one frame."""

    reports: dict[str, Report] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    findings: Any = None  # a pandas DataFrame (a dask DataFrame with lazy=True)


@contextmanager
def connect(scheduler: str) -> Iterator[Client]:
    """A dask.distributed client, closed (with its cluster) on leaving: `local:N` starts a
    LocalCluster of N worker processes (one thread each: the analysis holds the GIL); anything
    else is a running scheduler's address (tcp://host:8786). Raises `UsageError` when Dask is
    not installed, N is not a number, or the scheduler cannot be reached."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(f"--scheduler needs Dask: {INSTALL}") from None
    if scheduler.startswith(LOCAL):
        count = scheduler[len(LOCAL) :]
        if not (count.isascii() and count.isdigit() and 0 < int(count) <= MAX_LOCAL_WORKERS):
            raise UsageError(
                f"--scheduler {scheduler}: local:N takes a number of workers, 1 to "
                f"{MAX_LOCAL_WORKERS}"
            )
        with (
            LocalCluster(
                n_workers=int(count),
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",  # any free port: two clusters do not collide
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    _reachable(scheduler)
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"--scheduler {scheduler}: cannot reach it ({exc})") from None
    with client:
        yield client


def _reachable(scheduler: str) -> None:
    """A tcp:// scheduler that refuses the connection, or whose name does not resolve, is said
    at once: Dask itself retries it for its whole timeout. Other addresses are left to Dask."""
    if not scheduler.startswith("tcp://"):
        return
    host, _, port = scheduler[len("tcp://") :].rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        return  # Dask says what is wrong with it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise UsageError(f"--scheduler {scheduler}: cannot reach it ({why})") from None


def expand(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Each capture named: local paths as given, local globs expanded (sorted), fsspec URLs
    (scheme://...) with their globs expanded by their filesystem. A glob that matches nothing
    is a `UsageError`."""
    found: list[str] = []
    for given in [os.fspath(p) for p in paths]:
        if "://" in given:
            found += _remote(given)
        elif glob.has_magic(given):
            matched = sorted(glob.glob(given, recursive=True))
            if not matched:
                raise UsageError(f"{given}: no capture matches")
            found += matched
        else:
            found.append(given)
    return found


def _remote(url: str) -> list[str]:
    try:
        import fsspec
    except ImportError:
        raise UsageError(f"{url}: reading URLs needs fsspec: {INSTALL}") from None
    if not glob.has_magic(url):
        return [url]
    files = fsspec.open_files(url)
    if not files:
        raise UsageError(f"{url}: no capture matches")
    return sorted(f.full_name for f in files)


def analyze_many(
    paths: Sequence[str | os.PathLike[str]],
    client: Client | None = None,
    *,
    config: DetectConfig = DEFAULT_CONFIG,
    tunnel: str | None = None,
    wireguard_port: int | None = None,
    lazy: bool = False,
) -> Fleet:
    """Analyse each capture of `paths` (`expand`) on its own: on the workers of `client`, or
    here, one after another, without one. The reports are those `pcapmtu.analyze` gives each
    capture alone. With `lazy` (and a client), `findings` is a dask DataFrame whose parts stay
    on the workers until computed: for more findings than this machine should hold."""
    captures = expand(paths)
    options: dict[str, Any] = {"config": config, "tunnel": tunnel, "wireguard_port": wireguard_port}
    if client is None:
        results = [analyze_capture(c, **options) for c in captures]
    else:
        futures = client.map(analyze_capture, captures, pure=False, **options)
        results = client.gather(futures)
    fleet = Fleet()
    for capture, result in zip(captures, results, strict=True):
        if isinstance(result, Report):
            fleet.reports[capture] = result
        else:
            fleet.errors[capture] = result
    if lazy and client is not None:
        fleet.findings = _lazy_findings(client, futures)
    else:
        fleet.findings = findings_frame(list(fleet.reports.values()))
    return fleet


def analyze_capture(
    capture: str,
    *,
    config: DetectConfig = DEFAULT_CONFIG,
    tunnel: str | None = None,
    wireguard_port: int | None = None,
) -> Report | str:
    """One capture's report, read where this runs (a worker); its one-line error instead when
    it cannot be read."""
    import warnings

    from pcapmtu.errors import CaptureError, CaptureWarning

    options: dict[str, Any] = {"config": config, "tunnel": tunnel, "wireguard_port": wireguard_port}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CaptureWarning)  # the report lists them
            if "://" not in capture:
                return analyze_one(capture, **options)
            import fsspec

            with fsspec.open(capture, "rb") as stream:
                return analyze_one(stream, names=[capture], **options)
    except CaptureError as exc:
        return str(exc)  # it names the capture
    except OSError as exc:  # an fsspec filesystem's
        return f"{capture}: {exc}"


def findings_frame(reports: Sequence[Report]) -> pd.DataFrame:
    """Every finding of the reports, in their order, as `frames.findings` gives them."""
    import pandas as pd

    from pcapmtu import frames

    parts = [frames.findings(r) for r in reports]
    if not parts:
        return frames.findings(Report("", (), (), None, ()))
    return pd.concat(parts, ignore_index=True)


def _findings_of(result: Report | str) -> pd.DataFrame:
    return findings_frame([result] if isinstance(result, Report) else [])


def _lazy_findings(client: Client, futures: list[Any]) -> Any:
    import dask.dataframe as dd

    parts = client.map(_findings_of, futures)
    return dd.from_delayed(parts, meta=findings_frame([]), verify_meta=False)
