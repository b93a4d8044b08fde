"""What a capture file's first bytes say: pcap (its byte order and clock), pcapng, or neither."""

from __future__ import annotations

PCAP_MAGICS: dict[bytes, tuple[str, int]] = {  # first 4 bytes -> (byte order, ticks per second)
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}
PCAP_MODIFIED_MAGICS = (b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34")  # Kuznetzov's patched pcap
PCAP_HEADER_LEN = 24
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"  # the Section Header Block type, the same in both orders
GZIP_MAGIC = b"\x1f\x8b"
