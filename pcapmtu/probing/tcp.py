"""The probe's TCP mode: no root, and the very path that black-holed, middleboxes included.

A packet size S is tried by opening a connection to a TCP service on the far side with our
SYN's MSS set to S less the IP and TCP headers (`TCP_MAXSEG` before `connect`): the peer then
sends segments of at most that size, so its full-size packets are exactly S bytes. An HTTP GET
of `path` asks for a response of several segments; it passes when the whole response arrives
in time (Content-Length, or the peer closing), and `TCP_INFO`'s `tcpi_rcv_mss` (the largest
segment received) confirms segments of that size came. This measures the download direction:
the peer towards us.
"""

from __future__ import annotations

import socket
import struct
import time

from pcapmtu.probing.icmp import dont_fragment, route_mtu
from pcapmtu.probing.search import Outcome

TCP_MAXSEG = getattr(socket, "TCP_MAXSEG", 2)
TCP_INFO = getattr(socket, "TCP_INFO", 11)
TCP_INFO_RCV_MSS = 20  # offsets in struct tcp_info (linux/tcp.h): tcpi_rcv_mss,
TCP_INFO_UNACKED = 24  # tcpi_unacked (segments sent, not yet acknowledged)
UPLOAD_SEGMENTS = 4  # full-size segments an upload try sends
HEADERS = {4: 20 + 20, 6: 40 + 20}  # IP + TCP, without options: MSS = packet - these
MIN_MSS = {4: 536, 6: 1220}  # RFC 879; IPv6's minimum link MTU less its headers
MAX_MSS = 32_767  # the largest TCP_MAXSEG Linux takes
RECEIVE = 65_536


class TcpFetcher:
    """GETs of `path` from HOST:PORT, each on a new connection with our MSS capped; or, with
    `upload`, POSTs of a few full-size segments to it, watching them be acknowledged."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str = "/",
        timeout_s: float = 2.0,
        upload: bool = False,
    ) -> None:
        self.host, self.port, self.path, self.timeout_s = host, port, path, timeout_s
        self.upload = upload
        self.version = 6 if ":" in host else 4
        self.largest_segment = 0  # tcpi_rcv_mss of the last fetch that passed
        self.response_bytes = 0  # of the last fetch that passed

    @property
    def smallest(self) -> int:
        return MIN_MSS[self.version] + HEADERS[self.version]

    def local_mtu(self) -> int:
        """The MTU of the interface the route leaves by (a connected UDP socket's IP_MTU)."""
        family = socket.AF_INET6 if self.version == 6 else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.connect((self.host, self.port))
            mtu = route_mtu(udp, self.version)
        return min(mtu, MAX_MSS + HEADERS[self.version])

    def send(self, size: int) -> Outcome:
        """One fetch with the peer's packets capped at `size` bytes."""
        mss = size - HEADERS[self.version]
        family = socket.AF_INET6 if self.version == 6 else socket.AF_INET
        deadline = time.monotonic() + self.timeout_s
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            try:
                conn.setsockopt(socket.IPPROTO_TCP, TCP_MAXSEG, mss)
            except OSError:  # above what the kernel takes (32767)
                return Outcome.TOO_BIG_HERE
            conn.settimeout(self.timeout_s)
            try:
                conn.connect((self.host, self.port))
            except ConnectionRefusedError as exc:
                raise ServiceRefused(f"{self.host}:{self.port} refused the connection") from exc
            except OSError:
                return Outcome.LOST
            if self.upload:
                return self._upload(conn, mss, deadline)
            request = f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nConnection: close\r\n\r\n"
            try:
                conn.sendall(request.encode())
                received = _read_response(conn, deadline)
            except OSError:
                return Outcome.LOST
            if received is None:
                return Outcome.LOST
            info = conn.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 104)
            segment = struct.unpack_from("I", info, TCP_INFO_RCV_MSS)[0]
            self.largest_segment = max(self.largest_segment, segment)
            self.response_bytes = received
        if received <= 2 * mss:
            raise ServiceRefused(
                f"the response from {self.host}:{self.port}{self.path} is {received} bytes: "
                f"too short to need segments of {mss} bytes; give a --path with a larger one"
            )
        return Outcome.PASSED

    def _upload(self, conn: socket.socket, mss: int, deadline: float) -> Outcome:
        """Send a POST of `UPLOAD_SEGMENTS` full segments, Don't Fragment forced; it passes
        when the peer's TCP has acknowledged every segment in time (its application need not
        read it: the kernel acknowledges what fits its window)."""
        dont_fragment(conn, self.version)
        body = b"u" * (UPLOAD_SEGMENTS * mss)
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        try:
            conn.sendall(head + body)
        except OSError:
            return Outcome.LOST
        while time.monotonic() < deadline:
            info = conn.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 104)
            if struct.unpack_from("I", info, TCP_INFO_UNACKED)[0] == 0:
                return Outcome.PASSED
            time.sleep(0.01)
        return Outcome.LOST


class ServiceRefused(Exception):
    """The TCP service cannot be used for the probe (refused, or too short a response)."""


def _read_response(conn: socket.socket, deadline: float) -> int | None:
    """The bytes of a complete HTTP response, or None when it did not complete in time."""
    data = b""
    length: int | None = None
    head_end = -1
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        conn.settimeout(left)
        try:
            chunk = conn.recv(RECEIVE)
        except TimeoutError:
            return None
        if not chunk:
            return len(data) if head_end >= 0 and length is None else None
        data += chunk
        if head_end < 0:
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                for line in data[:head_end].split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length" and value.strip().isdigit():
                        length = int(value.strip())
        if length is not None and len(data) - head_end - 4 >= length:
            return len(data)
