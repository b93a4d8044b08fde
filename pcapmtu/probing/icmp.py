"""ICMP echo with Don't Fragment, packet by packet: the sender `search.largest_passing` asks.

Each echo request is a whole IP packet of the size asked for (IPv4: 20 + 8 + payload; IPv6:
40 + 8 + payload), sent with `IP_PMTUDISC_PROBE` / `IPV6_PMTUDISC_PROBE`: Don't Fragment set,
and the kernel's cached path MTU ignored (a size learnt from an earlier ICMP too-big must not
stop the probe from trying it). A reply with our identifier and sequence number passes; an
ICMP too-big quoting our request is a router's report; nothing in time is a loss; EMSGSIZE is
the local interface's limit.

Unprivileged ICMP sockets (`SOCK_DGRAM`) are used where `net.ipv4.ping_group_range` allows the
user's group; otherwise raw sockets, which need root (CAP_NET_RAW). Nothing is sent to any
address but the one given.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from types import TracebackType

from pcapmtu.probing.search import Outcome

# Linux socket options Python does not name (linux/in.h, linux/in6.h)
IP_MTU_DISCOVER, IP_PMTUDISC_PROBE, IP_MTU = 10, 3, 14
IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE, IPV6_MTU = 23, 3, 24
ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY, ICMP_UNREACHABLE, ICMP_FRAG_NEEDED = 8, 0, 3, 4
ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY, ICMP6_PACKET_TOO_BIG = 128, 129, 2
HEADERS = {4: 20 + 8, 6: 40 + 8}  # IP + ICMP echo header: the smallest packet
RECEIVE_BUFFER = 65_535


class ProbeSocketError(Exception):
    """The probe cannot open an ICMP socket here (no permission)."""


def family_of(address: str) -> int:
    """4 or 6, for a literal address; ValueError for anything else."""
    for family, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
        try:
            socket.inet_pton(family, address)
            return version
        except OSError:
            continue
    raise ValueError(f"{address!r} is not an IPv4 or IPv6 address")


class Pinger:
    """Echo requests of a given IP size to one address, Don't Fragment set."""

    def __init__(self, address: str, timeout_s: float = 1.0) -> None:
        self.address = address
        self.version = family_of(address)
        self.timeout_s = timeout_s
        self.sock, self.raw = _open(self.version)
        self.ident = os.getpid() & 0xFFFF
        self.seq = 0
        dont_fragment(self.sock, self.version)
        self.sock.connect((address, 0))

    def local_mtu(self) -> int:
        """The MTU of the interface the route to the address leaves by: the largest packet this
        host can send there (IP_MTU / IPV6_MTU on the connected socket; with PMTUDISC_PROBE the
        kernel reports the device's, not a cached path MTU)."""
        return route_mtu(self.sock, self.version)

    @property
    def smallest(self) -> int:
        return HEADERS[self.version]

    def send(self, size: int) -> Outcome:
        """One echo request of `size` bytes of IP packet; its fate."""
        self.seq = (self.seq + 1) & 0xFFFF
        payload = struct.pack("!d", time.time()).ljust(size - HEADERS[self.version], b"p")
        kind = ICMP6_ECHO_REQUEST if self.version == 6 else ICMP_ECHO_REQUEST
        header = struct.pack("!BBHHH", kind, 0, 0, self.ident, self.seq)
        if self.version == 4:  # the kernel checksums ICMPv6 (and DGRAM ICMP), not raw ICMP
            header = struct.pack(
                "!BBHHH", kind, 0, _checksum(header + payload), self.ident, self.seq
            )
        try:
            self.sock.send(header + payload)
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                return Outcome.TOO_BIG_HERE
            raise
        return self._wait(self.seq)

    def _wait(self, seq: int) -> Outcome:
        deadline = time.monotonic() + self.timeout_s
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                break
            try:
                data = self.sock.recv(RECEIVE_BUFFER)
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:  # a too-big report, queued as an error
                    return Outcome.TOO_BIG_REPORTED
                continue
            outcome = self._judge(data, seq)
            if outcome is not None:
                return outcome
        return Outcome.LOST

    def _judge(self, data: bytes, seq: int) -> Outcome | None:
        """The outcome a received packet means for request `seq`, or None (not ours)."""
        if self.raw and self.version == 4 and data:
            data = data[(data[0] & 0x0F) * 4 :]  # raw IPv4 sockets give the IP header too
        if len(data) < 8:
            return None
        kind, code, _sum, ident, got = struct.unpack_from("!BBHHH", data)
        reply = ICMP6_ECHO_REPLY if self.version == 6 else ICMP_ECHO_REPLY
        if kind == reply and got == seq and (ident == self.ident or not self.raw):
            return Outcome.PASSED
        too_big = (kind, code) == (
            (ICMP6_PACKET_TOO_BIG, 0) if self.version == 6 else (ICMP_UNREACHABLE, ICMP_FRAG_NEEDED)
        )
        if not too_big:
            return None
        quoted = data[8:]  # the request it quotes: its IP header, then our echo header
        start = 40 if self.version == 6 else ((quoted[0] & 0x0F) * 4 if quoted else 0)
        if len(quoted) >= start + 8 and self.raw:
            q_ident, q_seq = struct.unpack_from("!HH", quoted, start + 4)
            if (q_ident, q_seq) != (self.ident, seq):
                return None
        return Outcome.TOO_BIG_REPORTED

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Pinger:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def dont_fragment(sock: socket.socket, version: int) -> None:
    """Don't Fragment on every packet `sock` sends, the kernel's cached path MTU ignored
    (IP_PMTUDISC_PROBE / IPV6_PMTUDISC_PROBE)."""
    if version == 6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)


def route_mtu(sock: socket.socket, version: int) -> int:
    """The MTU of the route a connected socket sends by (IP_MTU / IPV6_MTU)."""
    if version == 6:
        return int(sock.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU))
    return int(sock.getsockopt(socket.IPPROTO_IP, IP_MTU))


def _open(version: int) -> tuple[socket.socket, bool]:
    """An ICMP socket: unprivileged (DGRAM) if allowed, else raw; (socket, is_raw)."""
    family = socket.AF_INET6 if version == 6 else socket.AF_INET
    proto = socket.IPPROTO_ICMPV6 if version == 6 else socket.IPPROTO_ICMP
    try:
        return socket.socket(family, socket.SOCK_DGRAM, proto), False
    except PermissionError:
        pass
    try:
        return socket.socket(family, socket.SOCK_RAW, proto), True
    except PermissionError as exc:
        raise ProbeSocketError(
            "cannot open an ICMP socket: run as root, or allow your group unprivileged ICMP "
            "(sysctl net.ipv4.ping_group_range); or use the TCP mode"
        ) from exc


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def main(argv: list[str] | None = None) -> int:
    """`python -m pcapmtu.probing.icmp ADDRESS [TIMEOUT]`: one small echo; exit 0 if answered (the
    lab waits with it until a path carries packets)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    timeout = float(args[1]) if len(args) > 1 else 1.0
    with Pinger(args[0], timeout) as pinger:
        return 0 if pinger.send(pinger.smallest) is Outcome.PASSED else 1


if __name__ == "__main__":
    raise SystemExit(main())
