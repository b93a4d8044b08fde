"""The lab's HTTP server and client, on loopback (no root needed).

The client's report is the ground truth of every lab run, so it is tested against a real server,
a refused connection and a server that never answers.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pcapmtu.lab import workload


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serving(*ports: int) -> Iterator[None]:
    """The lab's server on loopback, on `ports`, stopped (and its pipe closed) afterwards."""
    args = [arg for port in ports for arg in ("--port", str(port))]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pcapmtu.lab.workload",
            "serve",
            "--address",
            "127.0.0.1",
            *args,
            "--lifetime",
            "60",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        yield
    finally:
        proc.terminate()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    port = _free_port()
    with _serving(port):
        yield port


def _fetch(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = workload.main(["fetch", "--address", "127.0.0.1", *args])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("size", [200, 1760, 9_999, 10_000, 1_000_000])
def test_response_is_exactly_the_asked_size(size: int) -> None:
    response = workload.build_response(size)
    assert len(response) == size
    head, _, body = response.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(body)}".encode() in head


def test_get_completes_with_every_byte(server: int, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _fetch(
        capsys, "--port", str(server), "--workload", "get", "--size", "1760", "--timeout", "5"
    )
    assert code == 0 and report["complete"] is True
    (request,) = report["requests"]
    assert request["bytes_received"] == request["bytes_expected"] == 1760
    assert request["status"] == 200 and request["error"] is None


def test_upload_counts_what_the_server_received(
    server: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _fetch(
        capsys,
        "--port",
        str(server),
        "--workload",
        "upload",
        "--upload",
        "100000",
        "--timeout",
        "5",
    )
    assert code == 0
    (request,) = report["requests"]
    assert request["kind"] == "upload" and request["bytes_received"] == 100_000


def test_many_runs_small_and_large_requests_in_parallel(
    server: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _fetch(
        capsys, "--port", str(server), "--workload", "many", "--size", "20000", "--timeout", "5"
    )
    assert code == 0
    sizes = sorted(r["bytes_expected"] for r in report["requests"])
    assert sizes == sorted([*workload.MANY_SMALL_SIZES] + [20000] * workload.MANY_LARGE_COUNT)


def test_refused_connection_is_incomplete_with_the_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = _fetch(
        capsys, "--port", str(_free_port()), "--workload", "get", "--size", "1760", "--timeout", "2"
    )
    assert code == 1 and report["complete"] is False
    (request,) = report["requests"]
    assert "ConnectionRefused" in request["error"]


def test_silent_server_times_out_at_the_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    """What a black hole looks like to the client: connected, then nothing, until the deadline."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        started = time.monotonic()
        code, report = _fetch(
            capsys, "--port", str(port), "--workload", "get", "--size", "1760", "--timeout", "1.5"
        )
        elapsed = time.monotonic() - started
    assert code == 1 and report["complete"] is False
    (request,) = report["requests"]
    assert request["bytes_received"] == 0
    assert 1.4 <= elapsed < 4.0


def test_probe_succeeds_on_a_working_path(server: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = workload.main(
        [
            "fetch",
            "--address",
            "127.0.0.1",
            "--port",
            str(server),
            "--workload",
            "probe",
            "--timeout",
            "5",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["complete"] is True


def test_services_fetches_from_each_port(capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _free_port(), _free_port()
    with _serving(first, second):
        code, report = _fetch(
            capsys,
            "--port",
            str(first),
            "--port",
            str(second),
            "--workload",
            "services",
            "--size",
            "20000",
            "--timeout",
            "5",
        )
    assert code == 0
    assert sorted(r["port"] for r in report["requests"]) == sorted([first, second])
    assert all(r["bytes_received"] == 20000 for r in report["requests"])
