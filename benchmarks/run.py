"""Time pcapmtu against tcptrace and tshark on the benchmark captures; print a table.

    python benchmarks/run.py CAPTURE... [--repeat 3] [--tshark-max-mb 200] [--exact-max-mb 200]

Each tool runs `--repeat` times per capture, the tools taking turns (so a slower or faster
spell of the machine affects them alike); the file is read once first, so every run reads from
the page cache. pcapmtu's modules are byte-compiled first, as an install does. The table shows
the median wall time, packets and megabytes per second, the peak RSS of the process (of
`pcapmtu report`: of it and any process it starts, together, sampled in a run of its own),
and the time relative to `tcptrace -n -l`. Beside them: `cat > /dev/null` (reading the file
from the page cache, the floor for any reader), `pcapmtu report` (the postmortem page), and,
first, the start-up (`import pcapmtu.cli`). pcapmtu runs three ways: on the file, from stdin
(`cat CAPTURE | pcapmtu analyze -`), and as an install without the compiled fast pass runs
(the exact pass on everything; only on captures up to --exact-max-mb). tshark runs only on
captures up to --tshark-max-mb (it grows faster than linearly). pcapmtu's verdict is printed
too: on the benchmark captures it must be "black_hole" with two flows.

After the table, the speed goals as ratios (`pcapmtu` to tcptrace and to the page-cache read,
stdin and `report` to the file), each of two runs of one round, with the least, median and
most of the rounds beside the most asked.
This is not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pcapmtu
from pcapmtu import fast
from pcapmtu.capture import walk

MB = 1_000_000


GNU_TIME = Path("/usr/bin/time")  # Debian package "time": reports the real child's peak RSS


def measure(argv: list[str]) -> tuple[float, float, bytes]:
    """(wall seconds, peak RSS in MB, stdout) of one run.

    A process forked from Python starts with Python's resident pages counted in its peak RSS,
    so GNU time (which forks the command itself) measures it where it is installed.
    """
    with tempfile.TemporaryFile() as rss_file:
        wrapper = [str(GNU_TIME), "-f", "%M", "-o", f"/dev/fd/{rss_file.fileno()}"]
        use_time = GNU_TIME.exists()
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*wrapper, *argv] if use_time else argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            pass_fds=(rss_file.fileno(),),
        )
        out = proc.stdout.read() if proc.stdout else b""
        _pid, _status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        rss_file.seek(0)
        text = rss_file.read().decode().strip().splitlines()
    rss_kb = float(text[-1]) if use_time and text else usage.ru_maxrss
    return wall, rss_kb / 1024, out


def tree_peak_mb(argv: list[str]) -> float:
    """The peak of the resident memory of a command and every process it starts, together
    (a page drawn in another process would count), sampled every 10 ms in a run of its own."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        tree, total = [proc.pid], 0
        while tree:
            pid = tree.pop()
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                for task in Path(f"/proc/{pid}/task").iterdir():
                    tree += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue  # ended meanwhile
        peak = max(peak, total)
        time.sleep(0.01)
    return peak / 1024


EXACT_ONLY = (  # what an install without a C compiler runs: the exact pass on everything
    "import sys, pcapmtu; print(pcapmtu.analyze(sys.argv[1], shortlist=False).to_json())"
)


def tools(
    capture: Path, tshark_max_mb: float, exact_max_mb: float, report: Path
) -> dict[str, list[str]]:
    analyze = [sys.executable, "-m", "pcapmtu", "analyze", "--json"]
    found = {
        "cat > /dev/null (the page-cache read)": [
            *("sh", "-c", 'cat "$1" > /dev/null', "sh", str(capture)),
        ],
        "pcapmtu": [*analyze, str(capture)],
        "pcapmtu, from stdin": [
            "sh",
            "-c",
            f'cat "$1" | {" ".join(analyze)} -',
            "sh",
            str(capture),
        ],
    }
    found["pcapmtu report"] = [
        *(sys.executable, "-m", "pcapmtu", "report", str(capture), "-o", str(report)),
    ]
    if capture.stat().st_size <= exact_max_mb * MB:
        found["pcapmtu, exact pass only"] = [sys.executable, "-c", EXACT_ONLY, str(capture)]
    if shutil.which("tcptrace"):
        found["tcptrace -n -l"] = ["tcptrace", "-n", "-l", str(capture)]
    if shutil.which("tshark") and capture.stat().st_size <= tshark_max_mb * MB:
        found["tshark -z expert"] = ["tshark", "-q", "-z", "expert", "-r", str(capture)]
    return found


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def install_kind() -> str:
    """How pcapmtu is installed here: an editable install (`pip install -e`) starts slower,
    its import hook searching the checkout."""
    import json
    from importlib import metadata

    found = list(metadata.distributions(name="pcapmtu"))  # (a checkout's egg-info is one)
    if not found:
        return "the checkout (not installed)"
    urls = [json.loads(d.read_text("direct_url.json") or "{}") for d in found]
    if any(url.get("dir_info", {}).get("editable") for url in urls):
        return "an editable install (pip install -e)"
    return "a regular install"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("captures", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tshark-max-mb", type=float, default=200)
    parser.add_argument("--exact-max-mb", type=float, default=200)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    compileall.compile_dir(Path(pcapmtu.__file__).parent, quiet=1)
    walk_built, fast_built = ("yes" if b else "NO" for b in (walk.COMPILED, fast.AVAILABLE))
    built = f"record walk {walk_built}, fast pass {fast_built}"
    print(f"pcapmtu {pcapmtu.__version__}, compiled: {built}")
    if not GNU_TIME.exists():
        print("(no /usr/bin/time: peak RSS includes the launching Python's pages)")
    starts = [measure([sys.executable, "-c", "import pcapmtu.cli"])[0] for _ in range(9)]
    print(
        f"start-up (import pcapmtu.cli): {statistics.median(starts):.3f} s, median of 9, "
        f"from {install_kind()}"
    )
    page = Path(tempfile.gettempdir()) / "pcapmtu-benchmark-report.html"
    print(
        "| capture | MB | packets | tool | wall s (median) | packets/s | MB/s | peak RSS MB | "
        "x tcptrace |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    goals: list[str] = []
    for capture in args.captures:
        size = capture.stat().st_size / MB
        with capture.open("rb") as f:  # warm the page cache
            while f.read(1 << 24):
                pass
        commands = tools(capture, args.tshark_max_mb, args.exact_max_mb, page)
        runs: dict[str, list[tuple[float, float, bytes]]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, argv in commands.items():
                runs[name].append(measure(argv))
        results = {
            name: (statistics.median(r[0] for r in done), max(r[1] for r in done))
            for name, done in runs.items()
        }
        if "pcapmtu report" in commands and Path("/proc/self/task").exists():
            wall, _ = results["pcapmtu report"]
            results["pcapmtu report"] = (wall, tree_peak_mb(commands["pcapmtu report"]))
        report = json.loads(runs["pcapmtu"][-1][2])
        packets = sum(c["packets"] for c in report["captures"])
        holes = sum(1 for f in report["findings"] if f["kind"] == "black_hole")
        verdict = f"{report['verdict']}, {holes} black-holed flows"
        base = results.get("tcptrace -n -l", (None, None))[0]
        for name, (wall, rss) in results.items():
            ratio = f"{wall / base:.2f}" if base else "-"
            print(
                f"| {capture.name} | {size:.0f} | {packets} | {name} | {wall:.2f} | "
                f"{packets / wall:,.0f} | {size / wall:.0f} | {rss:.0f} | {ratio} |"
            )
        print(f"pcapmtu verdict on {capture.name}: {verdict}", file=sys.stderr)
        goals += side_by_side(capture.name, runs)
    if goals:
        print()
        print(f"Side by side: each ratio of two runs of the same round (of {args.repeat}):")
        print()
        print("| capture | ratio | min | median | max | asked |")
        print("|---|---|---|---|---|---|")
        print("\n".join(goals))


# (numerator, denominator, the most asked): the speed goals, as ratios of two tools' times
GOALS = (
    ("pcapmtu", "tcptrace -n -l", 0.5),
    ("pcapmtu", "cat > /dev/null (the page-cache read)", 4.0),
    ("pcapmtu, from stdin", "pcapmtu", 1.5),
    ("pcapmtu report", "pcapmtu", 2.0),
)


def side_by_side(name: str, runs: dict[str, list[tuple[float, float, bytes]]]) -> list[str]:
    """The goals' ratios, each of two runs of one round (the tools take turns within a round,
    so a slow spell of the machine touches both): a table row per goal."""
    rows = []
    for top, bottom, most in GOALS:
        if top not in runs or bottom not in runs:
            continue
        ratios = sorted(a[0] / b[0] for a, b in zip(runs[top], runs[bottom], strict=True))
        low, mid, high = ratios[0], statistics.median(ratios), ratios[-1]
        rows.append(
            f"| {name} | {top} / {bottom} | {low:.2f} | {mid:.2f} | {high:.2f} | <= {most:g} |"
        )
    return rows


if __name__ == "__main__":
    main()
