"""Many captures on a Dask cluster (`pcapmtu.fleet`, `--scheduler`): the same reports as the
serial run, on a LocalCluster of two worker processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLES

SAMPLE_GLOB = str(SAMPLES / "*.pcap*")


def _needs_dask() -> None:
    """Skip where the fleet extra is not installed, except in CI, which installs it."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI installs pcapmtu[fleet]: dask.distributed is missing")
        pytest.skip("the fleet extra (dask.distributed) is not installed")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    _needs_dask()
    from pcapmtu.fleet import connect

    with connect("local:2") as client:
        assert len(client.scheduler_info()["workers"]) == 2
        yield client


def test_every_sample_gives_the_serial_report_on_two_workers(client: Any) -> None:
    import warnings

    from pcapmtu import analyze
    from pcapmtu.fleet import analyze_many, findings_frame

    fleet = analyze_many([SAMPLE_GLOB], client=client)
    assert not fleet.errors
    samples = sorted(str(p) for p in SAMPLES.glob("*.pcap*"))
    assert list(fleet.reports) == samples
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = {path: analyze(path) for path in samples}
    for path, report in fleet.reports.items():
        assert report.to_json() == serial[path].to_json(), path
    assert fleet.findings.equals(findings_frame(list(serial.values())))
    assert set(fleet.findings["kind"]) >= {"black_hole", "icmp_too_big"}


def test_without_a_client_the_captures_are_analysed_here() -> None:
    from pcapmtu import analyze
    from pcapmtu.fleet import analyze_many

    paths = [str(SAMPLES / "incident.home-wg0.pcap"), str(SAMPLES / "ssh.pcap")]
    fleet = analyze_many(paths)
    assert [r.to_json() for r in fleet.reports.values()] == [analyze(p).to_json() for p in paths]
    assert len(fleet.findings) == sum(len(r.findings) for r in fleet.reports.values())


def test_a_capture_that_cannot_be_read_is_an_error_of_its_own(client: Any, tmp_path: Path) -> None:
    from pcapmtu.fleet import analyze_many

    text = tmp_path / "notes.pcap"
    text.write_text("not a capture\n")
    missing = tmp_path / "missing.pcap"
    good = str(SAMPLES / "incident.home-wg0.pcap")
    fleet = analyze_many([str(text), good, str(missing)], client=client)
    assert list(fleet.reports) == [good]
    assert set(fleet.errors) == {str(text), str(missing)}
    assert all(str(tmp_path) in why and "\n" not in why for why in fleet.errors.values())


def test_urls_are_read_where_the_worker_runs(client: Any) -> None:
    """An fsspec URL (file:// here; s3:// and gs:// the same way, given their packages), its
    glob expanded by its filesystem: the same verdicts and findings, named by the URL."""
    from pcapmtu import analyze
    from pcapmtu.fleet import analyze_many

    url = f"file://{SAMPLES}/incident.*-wg0.pcap"
    fleet = analyze_many([url], client=client)
    assert [Path(u.removeprefix("file://")).name for u in fleet.reports] == [
        "incident.home-wg0.pcap",
        "incident.proxy-wg0.pcap",
    ]
    for name, report in fleet.reports.items():
        alone = analyze(name.removeprefix("file://"))
        assert report.verdict == alone.verdict and report.recommendation == alone.recommendation
        assert [f.flow for f in report.findings] == [f.flow for f in alone.findings]
        assert all(f.capture == name for f in report.findings)


def test_lazy_findings_are_a_dask_frame_of_the_same_rows(client: Any) -> None:
    import dask.dataframe as dd

    from pcapmtu.fleet import analyze_many

    paths = [str(SAMPLES / "incident.home-wg0.pcap"), str(SAMPLES / "icmp-allowed.home-wg0.pcap")]
    eager = analyze_many(paths, client=client)
    lazy = analyze_many(paths, client=client, lazy=True)
    assert isinstance(lazy.findings, dd.DataFrame)
    assert lazy.findings.compute().reset_index(drop=True).equals(eager.findings)


def test_globs_are_expanded_sorted_and_one_that_matches_nothing_is_an_error(
    tmp_path: Path,
) -> None:
    from pcapmtu.errors import UsageError
    from pcapmtu.fleet import expand

    for name in ("b.pcap", "a.pcap", "c.txt"):
        (tmp_path / name).write_bytes(b"")
    assert expand([str(tmp_path / "*.pcap"), "x.pcap"]) == [
        str(tmp_path / "a.pcap"),
        str(tmp_path / "b.pcap"),
        "x.pcap",
    ]
    with pytest.raises(UsageError, match="no capture matches"):
        expand([str(tmp_path / "*.pcapng")])


def _pcapmtu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pcapmtu", *args], capture_output=True, text=True, timeout=300
    )


def test_analyze_on_a_cluster_prints_the_same_report() -> None:
    """Both ends' captures together: their first passes on two workers, the report as one
    process makes it."""
    _needs_dask()
    both = [str(SAMPLES / "incident.home-wg0.pcap"), str(SAMPLES / "incident.proxy-wg0.pcap")]
    here = _pcapmtu("analyze", "--json", *both)
    there = _pcapmtu("analyze", "--json", "--scheduler", "local:2", *both)
    assert there.returncode == here.returncode == 1, there.stderr
    assert json.loads(there.stdout) == json.loads(here.stdout)
    assert there.stderr == here.stderr


def test_check_on_a_cluster_gives_the_same_results() -> None:
    _needs_dask()
    here = _pcapmtu("check", "--json", str(SAMPLES))
    there = _pcapmtu("check", "--json", "--scheduler", "local:2", str(SAMPLES))
    assert there.returncode == here.returncode == 0, there.stderr

    def without_times(out: str) -> Any:
        results = json.loads(out)
        for result in results["results"]:
            result.pop("seconds")
        return results

    assert without_times(there.stdout) == without_times(here.stdout)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--scheduler", "local:0"], "local:N takes a number of workers, 1 to 256"),
        (["--scheduler", "local:two"], "local:N takes a number of workers"),
        (["--scheduler", "local:2", "-j", "2"], "--jobs and --scheduler: give one"),
    ],
)
def test_a_bad_scheduler_is_a_usage_error_in_one_line(args: list[str], said: str) -> None:
    _needs_dask()
    done = _pcapmtu("analyze", *args, str(SAMPLES / "ssh.pcap"))
    assert done.returncode == 2
    assert said in done.stderr and "Traceback" not in done.stderr


def test_a_scheduler_that_refuses_is_said_at_once() -> None:
    """Dask retries an address for its whole timeout (10 s); a refused connection is told now."""
    _needs_dask()
    with socket.socket() as probe:  # a port of loopback that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    done = _pcapmtu("analyze", "--scheduler", f"tcp://127.0.0.1:{port}", str(SAMPLES / "ssh.pcap"))
    assert done.returncode == 2, done.stderr
    said = f"--scheduler tcp://127.0.0.1:{port}: cannot reach it (Connection refused)"
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 8  # start-up and Dask's import, not its 10 s timeout
