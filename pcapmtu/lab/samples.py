"""The sample captures shipped in `sample_captures/`, and the one function that makes them all.

Each `Sample` is a named lab scenario with a sentence on what it shows and the outcome it is
meant to have. `make_samples` runs every one for real, checks the outcome the client saw is the
one intended (a sample that does not show what it claims is an error, not a sample), and writes
`README.md` from the sidecars, so the table cannot drift from the files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pcapmtu.errors import LabSetupError, UsageError
from pcapmtu.lab.runner import LabResult, output_paths, run_scenario
from pcapmtu.lab.scenario import Scenario, Sysctl

README = "README.md"
MAX_FILE_BYTES = 1_000_000
MAX_FOLDER_BYTES = 10_000_000
# A black hole needs only a few retransmissions to be plain; a short timeout keeps files small.
BLACK_HOLE_TIMEOUT_S = 8.0


@dataclass(frozen=True)
class Sample:
    """One sample capture: its lab scenario and what it is for."""

    name: str
    shows: str
    scenario: Scenario
    complete: bool  # the outcome the client must see for the sample to show what it claims
    extension: str = ".pcap"


def _s(**changes: Any) -> Scenario:
    base = Scenario(timeout_s=BLACK_HOLE_TIMEOUT_S)
    return replace(base, **changes)


SAMPLES: tuple[Sample, ...] = (
    Sample(
        "incident",
        "The incident: wg MTU 1420 over a 1400-byte path, ICMP blocked. The 1368-byte segment "
        "(1420-byte packet) is retransmitted and never ACKed while the smaller one is SACKed; "
        "seen on both ends of the tunnel.",
        _s(captures=("home-wg0", "proxy-wg0")),
        complete=False,
    ),
    Sample(
        "fixed-mtu1340",
        "The fix: MTU = 1340 on both peers (path 1400 - 60) fits; the response arrives.",
        _s(wg_mtu_home=1340, wg_mtu_proxy=1340),
        complete=True,
    ),
    Sample(
        "still-broken-mtu1380",
        "A guessed fix that still fails: MTU = 1380 makes 1440-byte outer packets, too big for "
        "a 1400-byte path.",
        _s(wg_mtu_home=1380, wg_mtu_proxy=1380),
        complete=False,
    ),
    Sample(
        "mtu-probing",
        "Linux PLPMTUD (net.ipv4.tcp_mtu_probing=1) on both peers: after a few retransmissions "
        "the sender resends the bytes in smaller segments and the transfer recovers.",
        _s(sysctls=(Sysctl("net.ipv4.tcp_mtu_probing", "1"),), timeout_s=20.0),
        complete=True,
    ),
    Sample(
        "icmp-allowed",
        "Working PMTUD: the router's ICMP 'fragmentation needed' reaches the home server, which "
        "then fragments the outer UDP; one inner retransmission, then delivery. The underlay "
        "capture holds the ICMP.",
        _s(icmp="allowed", captures=("home-wg0", "home-underlay")),
        complete=True,
    ),
    Sample(
        "no-sack",
        "The incident with SACK off (net.ipv4.tcp_sack=0): the receiver can only send "
        "duplicate ACKs for the small segment that arrived.",
        _s(sysctls=(Sysctl("net.ipv4.tcp_sack", "0"),)),
        complete=False,
    ),
    Sample(
        "upload",
        "An upload (100 kB POST from proxy to home) into the black hole: the proxy resends its "
        "full-size segments; every data segment is full-size, so the receiver (home) sees the "
        "handshake and then nothing.",
        _s(workload="upload", captures=("proxy-wg0", "home-wg0")),
        complete=False,
    ),
    Sample(
        "upload-late",
        "The upload into the black hole, both ends' wg0 captured from 0.5 s into it, after the "
        "handshake: the proxy's capture holds the resent full-size segments, the home's none "
        "of the connection. Nothing smaller is sent, so the size is suspected, not proven; the "
        "home capture shows nothing arrived only while it ran.",
        _s(workload="upload", capture_after_s=0.5, captures=("proxy-wg0", "home-wg0")),
        complete=False,
    ),
    Sample(
        "inner-ipv6",
        "IPv6 inside the tunnel (IPv4 underlay): the 1420-byte IPv6 packet carries 1348 bytes "
        "of payload and vanishes.",
        _s(inner=6),
        complete=False,
    ),
    Sample(
        "outer-ipv6",
        "An IPv6 underlay: WireGuard adds 80 bytes, so 1420 + 80 = 1500 does not fit a "
        "1400-byte path; ICMPv6 packet-too-big is dropped.",
        _s(outer=6, captures=("home-wg0", "home-underlay")),
        complete=False,
    ),
    Sample(
        "many-flows",
        "Six parallel requests: the small responses (300, 600, 900 bytes) arrive, the three "
        "20 kB responses stall.",
        _s(workload="many"),
        complete=False,
    ),
    Sample(
        "mss-clamped-service",
        "Two services through the black hole, the second MSS-clamped on both peers' wg0 (as "
        "Docker's NAT path does) to 1288: its 1328-byte packets fit a 1400-byte path, so it "
        "works while the first service stalls.",
        _s(workload="services", clamp_mss=1288),
        complete=False,
    ),
    Sample(
        "mss-clamped-too-little",
        "The same, clamped to 1300 (= MTU 1340 - 40): not enough, because WireGuard pads the "
        "1340-byte packets to 1344, and 1344 + 60 = 1404 does not fit; both services stall.",
        _s(workload="services", clamp_mss=1300),
        complete=False,
    ),
    Sample(
        "any-sll2",
        "The incident captured with `tcpdump -i any` (Linux cooked v2 headers): inner wg0 "
        "packets and outer eth0 UDP packets in one file.",
        _s(captures=("home-any",)),
        complete=False,
    ),
    Sample(
        "pcapng-two-interfaces",
        "The incident as pcapng with two interfaces (wg0 raw IP and eth0 Ethernet), "
        "nanosecond timestamps.",
        _s(captures=("home-wg0", "home-underlay"), format="pcapng", tstamp_precision="nano"),
        complete=False,
        extension=".pcapng",
    ),
    Sample(
        "keepalive",
        "A keep-alive connection: two small responses (300 and 600 bytes) get through, then "
        "the 1760-byte one stalls on its 1420-byte packet. The small packets before the loss "
        "prove the path carries them as much as later ones would.",
        _s(workload="keepalive", pause_s=0.5),
        complete=False,
    ),
    Sample(
        "capture-late",
        "Capture started after the connection was up, as people do once they notice the "
        "hang: no SYN, so no MSS; a 300-byte response before the capture, then the "
        "1760-byte one stalls. The receiver's side alone cannot tell the lost packet's size.",
        _s(
            workload="keepalive",
            keep_alive=(300, 1760),
            pause_s=1.5,
            capture_after_s=0.8,
            captures=("home-wg0", "proxy-wg0"),
        ),
        complete=False,
    ),
    Sample(
        "stopped-early",
        "The client gave up after 1 s (curl -m 1, a health check's timeout) and the capture "
        "ended with it, at the receiving end (proxy wg0): the gap the lost 1420-byte packet "
        "left was open 1 s, less than the 1.5 s that tells a black hole from a loss the "
        "sender repairs. Too soon to tell: inconclusive, never clean.",
        _s(timeout_s=1.0, captures=("proxy-wg0",)),
        complete=False,
    ),
    Sample(
        "late-and-early",
        "Both at once, at the receiving end (proxy wg0): the capture started after the "
        "keep-alive connection was up (no SYN, so no MSS), and the client gave up 1.5 s after "
        "it connected (curl -m 1.5), 1 s into the stalled response; the capture ended with it. "
        "The 2500-byte response's first 1368 bytes never arrive, its 1132-byte rest does: too "
        "soon to tell, and of unknown size; inconclusive, never clean.",
        _s(
            workload="keepalive",
            keep_alive=(300, 2500),
            pause_s=0.5,
            capture_after_s=0.3,
            timeout_s=1.5,
            captures=("proxy-wg0",),
        ),
        complete=False,
    ),
    Sample(
        "mtu-falls",
        "The path's MTU falls mid-connection (1500 to 1400 at 1 s, a route change): a 20 kB "
        "response crosses at full size, then the next response's 1420-byte packet stalls "
        "while its 444-byte one gets through.",
        _s(
            path_mtu=1500,
            workload="keepalive",
            keep_alive=(20_000, 1760),
            pause_s=2.0,
            path_event="mtu",
            event_at_s=1.0,
            event_path_mtu=1400,
            captures=("home-wg0", "proxy-wg0"),
        ),
        complete=False,
    ),
    Sample(
        "falls-stopped-early",
        "mtu-falls stopped early, at the sender (home wg0): the path carried 1420-byte "
        "packets until its MTU fell, and the client gave up 0.15 s after its next request "
        "(curl -m), the capture with it: the 1420-byte packet was sent twice, its 444-byte "
        "tail SACKed. Too soon to tell: inconclusive, never clean.",
        _s(
            path_mtu=1500,
            workload="keepalive",
            keep_alive=(20_000, 1760),
            pause_s=2.0,
            path_event="mtu",
            event_at_s=1.0,
            event_path_mtu=1400,
            timeout_s=2.15,
            captures=("home-wg0",),
        ),
        complete=False,
    ),
    Sample(
        "mtu-rises",
        "The fix applied while the capture runs: the path's MTU rises (1400 to 1500 at 2.5 s, "
        "the MTU fixed on a link). The 1760-byte response's 1420-byte packet is lost again and "
        "again while its 444-byte one gets through, then crosses once the path carries it; the "
        "client gets the whole response, late. A black hole while it lasted, recovered by the "
        "path, never clean; seen at both ends, on wg0 and on the underlay.",
        _s(
            workload="keepalive",
            keep_alive=(300, 1760),
            pause_s=0.5,
            path_event="mtu",
            event_at_s=2.5,
            event_path_mtu=1500,
            captures=("home-wg0", "proxy-wg0", "home-underlay", "proxy-underlay"),
        ),
        complete=True,
    ),
    Sample(
        "outage",
        "Not an MTU problem: the path stops carrying anything at 1 s (the first router drops "
        "everything). A 20 kB response crosses, then the client's next request (115 bytes) is "
        "resent and never answered.",
        _s(
            path_mtu=1500,
            workload="keepalive",
            keep_alive=(20_000, 1760),
            pause_s=2.0,
            path_event="outage",
            event_at_s=1.0,
            captures=("proxy-wg0", "home-wg0", "proxy-underlay", "home-underlay"),
        ),
        complete=False,
    ),
    Sample(
        "outage-bulk",
        "Not shown to be an MTU problem: the path (wg MTU 1340, which fits) stops carrying "
        "anything early in a 300 kB transfer. A 1340-byte packet is lost, one sent "
        "just after it still arrives, then every copy of the lost one is lost. The sender's "
        "capture, alone or with the receiver's, cannot tell an outage from an MTU that fell: "
        "inconclusive. The receiver's alone sees its data stop in order, then its FIN resent "
        "and never answered: the path down.",
        _s(
            wg_mtu_home=1340,
            wg_mtu_proxy=1340,
            workload="bulk",
            response_bytes=300_000,
            rate_mbit=10,
            path_event="outage",
            event_at_s=0.15,
            captures=("home-wg0", "proxy-wg0", "home-underlay", "proxy-underlay"),
        ),
        complete=False,
    ),
    Sample(
        "outage-upload",
        "Not shown to be an MTU problem: the path (wg MTU 1340, which fits) stops carrying "
        "anything 0.3 s into a 300 kB upload at 5 Mbit/s (proxy to home). The sender's "
        "capture holds the "
        "resent full-size segment; the receiver's sees the data stop in order, its newest "
        "segment filling the MSS, the connection left open: inconclusive at either end, never "
        "clean.",
        _s(
            wg_mtu_home=1340,
            wg_mtu_proxy=1340,
            workload="upload",
            upload_bytes=300_000,
            rate_mbit=5,
            path_event="outage",
            event_at_s=0.3,
            captures=("proxy-wg0", "home-wg0"),
        ),
        complete=False,
    ),
    Sample(
        "stalled-reader",
        "Not an MTU problem: the client reads the headers of a 1 MB response, then stops "
        "reading; its window closes and the server sends window probes until the end.",
        _s(path_mtu=1500, workload="stalled-reader"),
        complete=False,
    ),
    Sample(
        "tls",
        "HTTPS with a large certificate chain (two intermediates, RSA-4096): the server's "
        "first flight needs full-size packets, which are lost while its 723-byte tail gets "
        "through; the handshake never completes. Seen at both ends.",
        _s(workload="tls", captures=("home-wg0", "proxy-wg0")),
        complete=False,
    ),
    Sample(
        "ssh",
        "An OpenSSH key exchange (RSA-4096 host key): the server's KEX reply needs a full-size "
        "packet, lost while its smaller rest gets through; the client waits, as ssh -v says, "
        "'expecting SSH2_MSG_KEX_ECDH_REPLY'.",
        _s(workload="ssh"),
        complete=False,
    ),
    Sample(
        "vxlan",
        "Not WireGuard: a VXLAN tunnel (MTU 1450, 50 bytes of overhead, DF set on the outer "
        "header) over the 1400-byte path. The 1760-byte response leaves as one 1450-byte "
        "packet and its tail; both are lost, and the FIN that follows is SACKed. The underlay "
        "capture holds the same flow inside VXLAN's UDP.",
        _s(
            tunnel="vxlan",
            wg_mtu_home=1450,
            wg_mtu_proxy=1450,
            captures=("home-vxlan0", "home-underlay"),
        ),
        complete=False,
    ),
    Sample(
        "no-tunnel",
        "No tunnel at all: the server's eth0 (MTU 1500, TSO on) and the 1400-byte path, "
        "captured on eth0. tcpdump sees the 1760-byte response as one 1812-byte TSO "
        "super-packet: it counts as the 1500- and 364-byte packets it leaves as.",
        _s(tunnel="none", wg_mtu_home=1500, wg_mtu_proxy=1500, captures=("home-underlay",)),
        complete=False,
    ),
    Sample(
        "no-tunnel-late",
        "No tunnel, captured on the server's eth0 after the keep-alive connection was up (no "
        "SYN, so no MSS): the 1760-byte response leaves as one TSO super-packet, its 312-byte "
        "tail is sent again at once (a tail loss probe) and SACKed, and its first 1448 bytes "
        "are resent as a 1500-byte packet, again and again.",
        _s(
            tunnel="none",
            wg_mtu_home=1500,
            wg_mtu_proxy=1500,
            workload="keepalive",
            capture_after_s=1.2,
            captures=("home-underlay",),
        ),
        complete=False,
    ),
    Sample(
        "underlay-both-ends",
        "The incident captured only where people think the network is: eth0 on both peers, "
        "encrypted WireGuard UDP. The 1480-byte messages carrying the lost segment are in "
        "the home capture and missing from the proxy's; the smaller ones are in both.",
        _s(captures=("home-underlay", "proxy-underlay")),
        complete=False,
    ),
    Sample(
        "underlay-ipv6",
        "Both ends' underlays again, over an IPv6 underlay (80 bytes of overhead: the 1420-byte "
        "inner packet leaves as a 1500-byte message). The home capture holds the 1500-byte "
        "messages; the proxy's does not; the smaller ones are in both.",
        _s(outer=6, captures=("home-underlay", "proxy-underlay")),
        complete=False,
    ),
    Sample(
        "underlay-late",
        "Both ends' underlays (eth0), both captures started after the hang began (0.3 s into "
        "the GET). The proxy's capture holds none of the session's messages before the lost "
        "ones, but its other packets (the lab's IPv6 and ARP chatter) show it was running while "
        "the later copies were sent: the 1480-byte messages missing from it were lost.",
        _s(capture_after_s=0.3, captures=("home-underlay", "proxy-underlay")),
        complete=False,
    ),
    Sample(
        "underlay-late-ipv6",
        "Both ends' underlays over IPv6, both captures started after the hang began (0.3 s "
        "into the GET). The proxy's capture ran for only some of the 1500-byte copies (its "
        "other packets show when); those are missing from it, and the smaller message after "
        "them is in both: the timer's resend is proven a black hole.",
        _s(outer=6, capture_after_s=0.3, captures=("home-underlay", "proxy-underlay")),
        complete=False,
    ),
    Sample(
        "underlay-big",
        "The incident with a 100 kB response, on both peers' eth0: the first flight's 1480-byte "
        "messages are all lost at once, then the first is resent at the timer's intervals, and "
        "a smaller message (the server's reply when the client gives up) gets there after "
        "them: a black hole, which once read as a burst of loss, not one resend (clean).",
        _s(response_bytes=100_000, captures=("home-underlay", "proxy-underlay")),
        complete=False,
    ),
    Sample(
        "underlay-falls-bulk",
        "The path's MTU falls (1400 to 1300) 0.15 s into a 200 kB transfer at 5 Mbit/s (wg "
        "1340), on both peers' eth0: the 1400-byte messages carried until then are all lost "
        "after it, the last one resent at the timer's intervals, while a 700-byte one gets "
        "there: a black hole after the path carried the size, once clean.",
        _s(
            wg_mtu_home=1340,
            wg_mtu_proxy=1340,
            workload="bulk",
            response_bytes=200_000,
            rate_mbit=5,
            path_event="mtu",
            event_at_s=0.15,
            event_path_mtu=1300,
            captures=("home-underlay", "proxy-underlay"),
        ),
        complete=False,
    ),
    Sample(
        "underlay-healthy",
        "Not an MTU problem, seen from both ends' underlays: a 300 kB download over a path that "
        "fits (wg 1420, path 1500) with 2% random loss. Messages of every size are lost now "
        "and then, and their TCP resends get through; most 1480-byte messages arrive. "
        "Captured with snaplen 96 (WireGuard's header is all pcapmtu reads).",
        _s(
            path_mtu=1500,
            workload="bulk",
            response_bytes=300_000,
            loss_percent=2.0,
            snaplen=96,
            timeout_s=30.0,
            captures=("home-underlay", "proxy-underlay"),
        ),
        complete=True,
    ),
    Sample(
        "fragmented",
        "ICMP allowed over an IPv6 underlay, both ends' underlays: the router's packet too big "
        "reaches the home peer, whose kernel from then on sends the 1500-byte messages in "
        "IPv6 fragments. They arrive (the proxy's capture holds them) and the download "
        "completes: the tunnel works only thanks to fragmentation.",
        _s(
            outer=6,
            icmp="allowed",
            workload="get",
            response_bytes=20_000,
            captures=("home-underlay", "proxy-underlay"),
        ),
        complete=True,
    ),
    Sample(
        "healthy-random-loss",
        "Not an MTU problem: a 1 MB download over a path that fits (wg 1420, path 1500) with "
        "2% random loss at the router; ordinary retransmissions of all sizes, all delivered. "
        "Captured with snaplen 96.",
        _s(
            path_mtu=1500,
            workload="bulk",
            response_bytes=1_000_000,
            loss_percent=2.0,
            snaplen=96,
            timeout_s=30.0,
        ),
        complete=True,
    ),
)


def by_name(names: Iterable[str]) -> list[Sample]:
    """The samples named (all when `names` is empty); unknown names are a usage error."""
    wanted = list(names)
    known = {s.name: s for s in SAMPLES}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise UsageError(f"unknown sample {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in wanted] if wanted else list(SAMPLES)


def make_samples(
    folder: Path,
    names: Iterable[str] = (),
    progress: Callable[[str], None] = lambda line: None,
) -> list[LabResult]:
    """Run the samples into `folder`, check each outcome, and rewrite the folder's README."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder")
    results = []
    for sample in by_name(names):
        progress(f"{sample.name}: running")
        result = run_scenario(sample.scenario, folder / f"{sample.name}{sample.extension}")
        if result.outcome.complete != sample.complete:
            want = "complete" if sample.complete else "incomplete"
            raise LabSetupError(
                f"sample {sample.name}: the transfer was meant to be {want}, but the client got "
                f"{result.outcome.bytes_received} of {result.outcome.bytes_expected} bytes"
            )
        for capture in result.captures:
            size = capture.path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise LabSetupError(f"sample {capture.path.name} is {size} bytes, over 1 MB")
        progress(f"{sample.name}: {result.summary().splitlines()[0]}")
        results.append(result)
    write_readme(folder)
    return results


def sample_files(sample: Sample) -> list[str]:
    """The capture file names a sample writes."""
    output = Path(f"{sample.name}{sample.extension}")
    return sorted({p.name for p in output_paths(sample.scenario, output).values()})


def write_readme(folder: Path) -> None:
    """Write `README.md` from the sidecars present in `folder`."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder")
    (folder / README).write_text(render_readme(folder))


def render_readme(folder: Path) -> str:
    """The folder's README: one row per capture file, from its run's sidecar."""
    rows = []
    for sample in SAMPLES:
        sidecar = folder / f"{sample.name}.json"
        if not sidecar.exists():
            continue
        data = json.loads(sidecar.read_text())
        for capture in data["captures"]:
            rows.append(_row(sample, data, capture))
    return README_HEAD + "\n".join(rows) + "\n" + README_TAIL


def _row(sample: Sample, data: dict[str, Any], capture: dict[str, Any]) -> str:
    s, o = data["scenario"], data["outcome"]
    what = {"wireguard": "wg", "vxlan": "vxlan", "none": "no tunnel, eth0"}[
        s.get("tunnel", "wireguard")
    ]
    config = [
        f"path {s['path_mtu']}",
        f"{what} {s['wg_mtu_home']}"
        if s["wg_mtu_home"] == s["wg_mtu_proxy"]
        else f"{what} {s['wg_mtu_home']}/{s['wg_mtu_proxy']}",
        f"IPv{s['inner']} in IPv{s['outer']}",
        f"ICMP {s['icmp']}",
        s["workload"],
    ]
    config += [f"`{x}`" for x in s["sysctls"]]
    if s.get("clamp_mss"):
        config.append(f"MSS clamped to {s['clamp_mss']} for port 8081")
    if s["workload"] == "keepalive":
        config.append(
            f"responses {', '.join(map(str, s['keep_alive']))} B, {s['pause_s']:g} s apart"
        )
    if s.get("path_event") == "mtu":
        config.append(f"path MTU {s['event_path_mtu']} from {s['event_at_s']:g} s")
    elif s.get("path_event") == "outage":
        config.append(f"outage from {s['event_at_s']:g} s")
    if s.get("capture_after_s"):
        config.append(f"capture from {s['capture_after_s']:g} s")
    if s["loss_percent"]:
        config.append(f"loss {s['loss_percent']:g}%")
    if s["snaplen"] != Scenario().snaplen:
        config.append(f"snaplen {s['snaplen']}")
    too_big = sum(r["too_big_ipv4"] + r["too_big_ipv6"] for r in data["routers"].values())
    lost = sum(r["random_loss_dropped"] for r in data["routers"].values())
    state = "complete" if o["complete"] else "**incomplete**"
    outcome = f"{state}: {o['bytes_received']}/{o['bytes_expected']} B; {too_big} too big"
    if lost:
        outcome += f", {lost} lost at random"
    points = ", ".join(capture["points"])
    link_types = ", ".join(str(t) for t in capture["link_types"])
    return (
        f"| `{capture['file']}` | {points} | {link_types} | {capture['packets_captured']} | "
        f"{sample.shows} | {'; '.join(config)} | {outcome} |"
    )


README_HEAD = """\
# Sample captures

Real captures of real WireGuard tunnels (wireguard-go between network namespaces, an underlay
path of the stated MTU, routers that drop ICMP unless stated), recorded by tcpdump inside the
lab; two are of the kernel's VXLAN instead, and one of no tunnel at all. Nothing here is
hand-made. Each run's full configuration and the outcome the *client* saw
(bytes received, complete or not, and what each router dropped: packets too big for the path,
ICMP errors, random loss) are in the sidecar `NAME.json` beside the capture; a run with several
capture points writes one file per point (`NAME.POINT.pcap`) and one sidecar. tcpdump writes only
pcap, so the `.pcapng` sample is tcpdump's records rewritten byte for byte into a pcapng with one
interface per capture point, as dumpcap writes when given several interfaces.

This file is generated. To make every sample again (Linux, as root):

```
pcapmtu lab samples sample_captures/
```

Columns: the capture point (`home-wg0`: tcpdump -i wg0 on the home server, the sender of the
response; `proxy-wg0`: on the proxy, the client; `home-vxlan0`: -i vxlan0 on the home server;
`home-underlay`: the home server's eth0, outer UDP (no tunnel: the TCP itself); `home-any`:
-i any), the link types (101 raw IP, 1 Ethernet, 276 Linux cooked v2), and the
packet count.

| file | capture point | link type | packets | what it shows | configuration | outcome |
|---|---|---|---|---|---|---|
"""

README_TAIL = """
Sizes: "path" is the MTU of the link between the two routers; "wg" is the MTU of wg0 on both
peers ("vxlan": of vxlan0; "no tunnel, eth0": of the endpoints' eth0). An inner packet of N
bytes leaves as a UDP packet of min(ceil16(N), wg MTU) + 60 bytes (IPv4 underlay) or + 80 (IPv6
underlay); through VXLAN as N + 50 (+ 70).

`expectations.json` (written by hand, not by the lab) states what `pcapmtu check` must find in
each capture on its own: the verdict, the flows affected and the bracket. CI runs
`pcapmtu check sample_captures/`.
"""
