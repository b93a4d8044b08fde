"""Time many captures analysed one after another, and on a local Dask cluster of 1 to N workers.

    python benchmarks/fleet.py [--from sample_captures] [--count 200] [--workers 2]

The captures: the real ones in `--from`, taken in turn until there are `--count` (links in a
temporary folder, so each is its own capture to the cluster). Each way runs
`pcapmtu.fleet.analyze_many` on all of them: without a client (in this process, serially), then
on a `local:N` cluster for N = 1 to `--workers` (started before the clock starts, as a running
cluster would be). The table shows the wall time, captures per second and the speed-up over
the serial run; every way must give the same reports. Needs the fleet extra (Dask).
This is not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
import warnings
from pathlib import Path

from pcapmtu.check import CAPTURE_SUFFIXES
from pcapmtu.fleet import analyze_many, connect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, default=Path("sample_captures"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    real = sorted(p for p in options.source.iterdir() if p.name.lower().endswith(CAPTURE_SUFFIXES))
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, capture in zip(range(options.count), itertools.cycle(real)):
            link = Path(folder) / f"{i:04d}-{capture.name}"
            link.symlink_to(capture.resolve())
            paths.append(str(link))
        size = sum(Path(p).stat().st_size for p in paths) / 1e6
        print(f"{len(paths)} captures ({size:.0f} MB) from {options.source}")
        print("| way | wall s | captures/s | speed-up |")
        print("|---|---|---|---|")
        start = time.perf_counter()
        serial = analyze_many(paths)
        base = time.perf_counter() - start
        print(f"| serial, one process | {base:.2f} | {len(paths) / base:.0f} | 1.00 |")
        expected = {p: r.to_json() for p, r in serial.reports.items()}
        for workers in range(1, options.workers + 1):
            with connect(f"local:{workers}") as client:
                client.run(lambda: __import__("pcapmtu.analysis"))  # warm the workers' imports
                start = time.perf_counter()
                fleet = analyze_many(paths, client=client)
                wall = time.perf_counter() - start
            same = {p: r.to_json() for p, r in fleet.reports.items()} == expected
            print(
                f"| local:{workers} | {wall:.2f} | {len(paths) / wall:.0f} | {base / wall:.2f} |"
                + ("" if same else " REPORTS DIFFER")
            )


if __name__ == "__main__":
    main()
