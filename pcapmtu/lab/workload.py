"""The traffic of a lab run: a tiny HTTP server on the home side, a client on the proxy side.

It runs inside the lab's namespaces as `python -m pcapmtu.lab.workload serve|fetch ...`, uses
only the standard library, and reports what the *client* saw (bytes received, complete or not) as
one JSON object on stdout. That outcome is the ground truth the analyser is tested against, so it
must not depend on the analyser.

The server answers each request with one `sendall` of the whole response, so the first segment
on the wire is a full-size one, as in the incident (a 1760-byte response is one full segment plus
a smaller one). Every loop here is bounded by a deadline.
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

HEADER_END = b"\r\n\r\n"
MAX_HEADER_BYTES = 16_384
RECV_CHUNK = 65_536
# A small request used to bring the tunnel up (WireGuard handshake) before capturing starts.
PROBE_RESPONSE_BYTES = 300
PROBE_ATTEMPTS = 10
# Sizes of the parallel requests of the "many" workload, besides the large one it is given.
MANY_SMALL_SIZES = (300, 600, 900)
MANY_LARGE_COUNT = 3
MAX_RESPONSE_BYTES = 50_000_000
SSH_PORT = 2222  # the lab's sshd (`lab/sshd.py`)
# A reader that stops reading: a small receive buffer fills at once, and its window closes.
STALLED_READER_RCVBUF = 16_384


def build_response(total_bytes: int, keep_alive: bool = False) -> bytes:
    """An HTTP response of exactly `total_bytes` bytes, headers included."""
    body_len = total_bytes
    connection = "keep-alive" if keep_alive else "close"
    for _ in range(8):  # the header's length depends on the digits of Content-Length
        header = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {body_len}\r\nConnection: {connection}\r\n\r\n"
        ).encode()
        if len(header) + body_len == total_bytes:
            break
        body_len = max(total_bytes - len(header), 0)
    body = (b"pcapmtu-lab " * (body_len // 12 + 1))[:body_len]
    return header + body


def _read_headers(conn: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    """Read until the end of the headers; return (headers, bytes of body already read)."""
    data = b""
    while HEADER_END not in data:
        conn.settimeout(max(deadline - time.monotonic(), 0.01))
        chunk = conn.recv(RECV_CHUNK)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_HEADER_BYTES:
            break
    head, _, rest = data.partition(HEADER_END)
    return head, rest


def _read_body(conn: socket.socket, body: bytes, length: int, deadline: float) -> bytes:
    """Read until the body has `length` bytes, the peer closes, or the deadline passes."""
    while len(body) < length and time.monotonic() < deadline:
        conn.settimeout(max(deadline - time.monotonic(), 0.01))
        chunk = conn.recv(RECV_CHUNK)
        if not chunk:
            break
        body += chunk
    return body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _wants_keep_alive(head: bytes) -> bool:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"connection":
            return value.strip().lower() == b"keep-alive"
    return False


def _serve_one(conn: socket.socket, deadline: float, tls: ssl.SSLContext | None = None) -> None:
    if tls is not None:  # HTTPS: the handshake first (its certificate chain is the payload)
        try:
            # as HTTPS servers do (nginx's tcp_nodelay): the flight's short tail is not held
            # back by Nagle while its full-size packets wait for an ACK
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(max(deadline - time.monotonic(), 0.01))
            conn = tls.wrap_socket(conn, server_side=True)
        except OSError:
            conn.close()
            return
    with conn:
        try:
            head, body = _read_headers(conn, deadline)
            # Keep-alive: answer each request on the connection until the client closes it.
            while head and _wants_keep_alive(head) and time.monotonic() < deadline:
                words = head.split(b"\r\n", 1)[0].decode("ascii", "replace").split()
                size = _size_of(words[1]) if len(words) > 1 else 1000
                conn.settimeout(max(deadline - time.monotonic(), 0.01))
                conn.sendall(build_response(size, keep_alive=True))
                head, body = _read_headers(conn, deadline)
            if not head:
                return
            request_line = head.split(b"\r\n", 1)[0].decode("ascii", "replace").split()
            if len(request_line) < 2:
                return
            method, path = request_line[0], request_line[1]
            if method == "POST":
                body = _read_body(conn, body, _content_length(head), deadline)
                reply = json.dumps({"received": len(body)}).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(reply)}\r\nConnection: close\r\n\r\n".encode()
                    + reply
                )
            else:
                size = _size_of(path)
                conn.settimeout(max(deadline - time.monotonic(), 0.01))
                conn.sendall(build_response(size))
            conn.shutdown(socket.SHUT_WR)
            # Wait for the client to close, so the server's side ends cleanly on the wire.
            conn.settimeout(max(min(deadline - time.monotonic(), 2.0), 0.01))
            while conn.recv(RECV_CHUNK):
                pass
        except OSError:
            pass  # a black hole makes sends time out: that is the experiment, not an error


def _size_of(path: str) -> int:
    """The response size a request path asks for: `/bytes/N`, else 1000."""
    if path.startswith("/bytes/") and path[7:].isdigit():
        return min(int(path[7:]), MAX_RESPONSE_BYTES)
    return 1000


def serve(
    address: str,
    ports: Sequence[int],
    lifetime_s: float,
    tls_port: int | None = None,
    tls_files: tuple[str, str] | None = None,
) -> int:
    """Serve on every port until `lifetime_s` has passed; print `ready` once listening. With
    `tls_port` and `tls_files` (certificate chain, key), that port serves HTTPS."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    deadline = time.monotonic() + lifetime_s
    listeners = []
    tls: ssl.SSLContext | None = None
    if tls_port is not None and tls_files is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(*tls_files)
        ports = [*ports, tls_port]
    for port in ports:
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
        listener.listen(64)
        listeners.append(listener)
    with selectors.DefaultSelector() as selector:
        for listener in listeners:
            selector.register(listener, selectors.EVENT_READ)
        print("ready", flush=True)
        while time.monotonic() < deadline:
            for key, _events in selector.select(max(min(deadline - time.monotonic(), 1.0), 0.01)):
                conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                wrap = tls if tls is not None and conn.getsockname()[1] == tls_port else None
                threading.Thread(
                    target=_serve_one, args=(conn, deadline, wrap), daemon=True
                ).start()
    for listener in listeners:
        listener.close()
    return 0


@dataclass
class RequestResult:
    """What the client saw of one request."""

    kind: str
    port: int
    bytes_expected: int
    bytes_received: int
    complete: bool
    status: int | None
    duration_s: float
    error: str | None


def _fetch(
    address: str, port: int, kind: str, size: int, deadline: float, tls: bool = False
) -> RequestResult:
    """One request on its own connection (over TLS: `tls`); never raises, always returns what
    was seen."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    started = time.monotonic()
    received = 0
    status: int | None = None
    error: str | None = None
    expected = size
    try:
        with socket.socket(family, socket.SOCK_STREAM) as plain:
            plain.settimeout(max(deadline - time.monotonic(), 0.01))
            plain.connect((address, port))
            conn = _client_tls().wrap_socket(plain) if tls else plain
            if kind == "upload":
                payload = b"u" * size
                conn.sendall(
                    f"POST /upload HTTP/1.1\r\nHost: lab\r\nContent-Length: {size}\r\n"
                    "Connection: close\r\n\r\n".encode()
                    + payload
                )
            else:
                conn.sendall(f"GET /bytes/{size} HTTP/1.1\r\nHost: lab\r\n\r\n".encode())
            head, body = _read_headers(conn, deadline)
            received = len(body)
            if head:
                status = int(head.split(b" ", 2)[1])
                body = _read_body(conn, body, _content_length(head), deadline)
                received = len(head) + len(HEADER_END) + len(body)
                if kind == "upload":
                    # The upload's outcome is what the server says it received.
                    received = int(json.loads(body or b"{}").get("received", 0))
    except (OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration = time.monotonic() - started
    complete = status == 200 and received >= expected and error is None
    return RequestResult(
        kind, port, expected, received, complete, status, round(duration, 3), error
    )


def _ssh_key_exchange(address: str, port: int, deadline: float) -> RequestResult:
    """An OpenSSH client's key exchange with the lab's sshd: complete when the keys were
    exchanged (the login after it is refused, and need not succeed)."""
    started = time.monotonic()
    argv = [
        "ssh",
        "-vv",
        "-p",
        str(port),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "HostKeyAlgorithms=rsa-sha2-512",
        f"lab@{address}",
        "true",
    ]
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=max(deadline - time.monotonic(), 0.1),
            check=False,
            stdin=subprocess.DEVNULL,
        )
        log, error = done.stderr, None
    except subprocess.TimeoutExpired as exc:
        out = exc.stderr
        log = out.decode(errors="replace") if isinstance(out, bytes) else (out or "")
        waiting = [line for line in log.splitlines() if "expecting" in line]
        error = f"timed out: {waiting[-1].strip() if waiting else 'no key exchange'}"
    except OSError as exc:
        log, error = "", f"{type(exc).__name__}: {exc}"
    exchanged = "SSH2_MSG_NEWKEYS received" in log
    return RequestResult(
        "ssh",
        port,
        1,
        int(exchanged),
        exchanged,
        None,
        round(time.monotonic() - started, 3),
        error,
    )


def _client_tls() -> ssl.SSLContext:
    """The lab's TLS client: it checks nothing (the chain is there for its size, not trust)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _fetch_keep_alive(
    address: str, port: int, sizes: Sequence[int], pause_s: float, deadline: float
) -> list[RequestResult]:
    """The requests of `sizes`, one after another on one connection, `pause_s` apart; a
    request that fails ends the connection, and the ones after it are reported as not sent."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    results: list[RequestResult] = []
    try:
        conn = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        return [_failed("get", port, size, 0.0, exc) for size in sizes]
    with conn:
        broken: OSError | ValueError | None = None
        for index, size in enumerate(sizes):
            started = time.monotonic()
            if broken is not None:
                results.append(_failed("get", port, size, 0.0, broken))
                continue
            try:
                conn.settimeout(max(deadline - time.monotonic(), 0.01))
                if index == 0:
                    conn.connect((address, port))
                conn.sendall(
                    f"GET /bytes/{size} HTTP/1.1\r\nHost: lab\r\n"
                    "Connection: keep-alive\r\n\r\n".encode()
                )
                head, body = _read_headers(conn, deadline)
                if not head:
                    raise ValueError("the connection closed before a response")
                body = _read_body(conn, body, _content_length(head), deadline)
                received = len(head) + len(HEADER_END) + len(body)
                status = int(head.split(b" ", 2)[1])
                complete = status == 200 and received >= size
                duration = round(time.monotonic() - started, 3)
                results.append(
                    RequestResult("get", port, size, received, complete, status, duration, None)
                )
                if not complete:
                    broken = ValueError(f"incomplete response: {received} of {size} bytes")
                elif index + 1 < len(sizes):
                    time.sleep(max(min(pause_s, deadline - time.monotonic()), 0))
            except (OSError, ValueError) as exc:
                broken = exc
                results.append(_failed("get", port, size, time.monotonic() - started, exc))
    return results


def _fetch_and_stop_reading(address: str, port: int, size: int, deadline: float) -> RequestResult:
    """A GET whose client reads the headers, then stops reading until the deadline: its small
    receive buffer fills and it advertises a zero window (a hung application, not the network)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    started = time.monotonic()
    try:
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALLED_READER_RCVBUF)
            conn.settimeout(max(deadline - time.monotonic(), 0.01))
            conn.connect((address, port))
            conn.sendall(f"GET /bytes/{size} HTTP/1.1\r\nHost: lab\r\n\r\n".encode())
            head, body = _read_headers(conn, deadline)
            time.sleep(max(deadline - time.monotonic() - 0.5, 0))
            status = int(head.split(b" ", 2)[1]) if head else None
            received = len(head) + len(HEADER_END) + len(body)
            return RequestResult(
                "get",
                port,
                size,
                received,
                False,
                status,
                round(time.monotonic() - started, 3),
                "stopped reading (on purpose)",
            )
    except (OSError, ValueError) as exc:
        return _failed("get", port, size, time.monotonic() - started, exc)


def _failed(kind: str, port: int, size: int, duration: float, exc: BaseException) -> RequestResult:
    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return RequestResult(kind, port, size, 0, False, None, round(duration, 3), error)


def fetch(
    address: str,
    ports: Sequence[int],
    workload: str,
    size: int,
    upload: int,
    timeout: float,
    keep_alive: Sequence[int] = (),
    pause_s: float = 0.0,
    tls_port: int | None = None,
    ssh_port: int | None = None,
) -> int:
    """Run one workload; print a JSON outcome; exit 0 if every request completed, else 1.

    `ports[0]` is the service every workload uses; "services" also fetches from `ports[1]`
    (the lab's second service, the one whose MSS can be clamped).
    """
    deadline = time.monotonic() + timeout
    port = ports[0]
    if workload in ("keepalive", "stalled-reader"):
        if workload == "keepalive":
            done = _fetch_keep_alive(address, port, keep_alive or [size], pause_s, deadline)
        else:
            done = [_fetch_and_stop_reading(address, port, size, deadline)]
        complete = all(r.complete for r in done)
        print(json.dumps({"complete": complete, "requests": [asdict(r) for r in done]}))
        return 0 if complete else 1
    plan: list[tuple[str, int, int]]
    if workload == "upload":
        plan = [("upload", upload, port)]
    elif workload == "many":
        plan = [("get", s, port) for s in MANY_SMALL_SIZES]
        plan += [("get", size, port)] * MANY_LARGE_COUNT
    elif workload == "services":
        plan = [("get", size, p) for p in ports]
    elif workload == "probe":
        plan = [("get", PROBE_RESPONSE_BYTES, port)]
    elif workload == "tls":
        plan = [("tls", size, tls_port or port)]
    elif workload == "ssh":
        plan = [("ssh", 0, ssh_port or SSH_PORT)]
    else:
        plan = [("get", size, port)]
    results: list[RequestResult | None] = [None] * len(plan)

    def worker(index: int, kind: str, nbytes: int, to_port: int) -> None:
        if kind == "ssh":
            results[index] = _ssh_key_exchange(address, to_port, deadline)
            return
        tls = kind == "tls"
        results[index] = _fetch(address, to_port, "get" if tls else kind, nbytes, deadline, tls)

    threads = [
        threading.Thread(target=worker, args=(i, kind, nbytes, to_port), daemon=True)
        for i, (kind, nbytes, to_port) in enumerate(plan)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0) + 1.0)
    done = [r for r in results if r is not None]
    complete = len(done) == len(plan) and all(r.complete for r in done)
    print(json.dumps({"complete": complete, "requests": [asdict(r) for r in done]}), flush=True)
    return 0 if complete else 1


def probe(address: str, port: int, timeout: float) -> int:
    """Retry a small request until it passes: brings the tunnel up and proves it works."""
    deadline = time.monotonic() + timeout
    for _ in range(PROBE_ATTEMPTS):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        result = _fetch(
            address,
            port,
            "get",
            PROBE_RESPONSE_BYTES,
            time.monotonic() + min(remaining, timeout / PROBE_ATTEMPTS * 2),
        )
        if result.complete:
            print(json.dumps(asdict(result)), flush=True)
            return 0
        time.sleep(0.1)
    print(json.dumps({"complete": False, "error": "no small request got through"}), flush=True)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pcapmtu.lab.workload")
    sub = parser.add_subparsers(dest="command", required=True)
    srv = sub.add_parser("serve")
    srv.add_argument("--address", required=True)
    srv.add_argument("--port", type=int, action="append", required=True)
    srv.add_argument("--lifetime", type=float, required=True)
    srv.add_argument("--tls-port", type=int)
    srv.add_argument("--tls-cert")
    srv.add_argument("--tls-key")
    cli = sub.add_parser("fetch")
    cli.add_argument("--address", required=True)
    cli.add_argument("--port", type=int, action="append", required=True)
    cli.add_argument(
        "--workload",
        choices=(
            "get",
            "upload",
            "bulk",
            "many",
            "services",
            "keepalive",
            "stalled-reader",
            "tls",
            "ssh",
            "probe",
        ),
    )
    cli.add_argument("--tls-port", type=int)
    cli.add_argument("--ssh-port", type=int)
    cli.add_argument("--keep-alive", type=int, action="append", default=[])
    cli.add_argument("--pause", type=float, default=0.0)
    cli.add_argument("--size", type=int, default=PROBE_RESPONSE_BYTES)
    cli.add_argument("--upload", type=int, default=0)
    cli.add_argument("--timeout", type=float, required=True)
    args = parser.parse_args(argv)
    if args.command == "serve":
        files = (args.tls_cert, args.tls_key) if args.tls_cert and args.tls_key else None
        return serve(args.address, args.port, args.lifetime, args.tls_port, files)
    if args.workload == "probe":
        return probe(args.address, args.port[0], args.timeout)
    return fetch(
        args.address,
        args.port,
        args.workload,
        args.size,
        args.upload,
        args.timeout,
        args.keep_alive,
        args.pause,
        args.tls_port,
        args.ssh_port,
    )


if __name__ == "__main__":
    sys.exit(main())
