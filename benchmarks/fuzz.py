"""Coverage-guided fuzzing of pcapmtu's readers and analysis (atheris, libFuzzer).

    pip install '.[fuzz]'      # atheris
    python benchmarks/fuzz.py [--minutes 10] [--work DIR]

It starts from the sample captures (copied into DIR/corpus, which then grows with the inputs
that reach new code) and feeds mutated bytes to `pcapmtu.analyze` for the given time. Any
exception other than pcapmtu's `CaptureError` is a finding: libFuzzer writes the input as
DIR/crash-* and stops (rerun one with `python benchmarks/fuzz.py --replay FILE`). The same
target, bounded, runs in the normal test suite with hypothesis (tests/test_fuzz.py). This is
not a test: it finds, it does not pass or fail.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pcapmtu import Report

REPO = Path(__file__).resolve().parent.parent


def target(data: bytes) -> Report | None:
    """One input: analysed and rendered (its report), or refused with pcapmtu's own
    `CaptureError` (None), the expected refusal."""
    from pcapmtu import CaptureError, analyze

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            report = analyze(data, names=["fuzzed"])
        except CaptureError:
            return None
    report.to_json()
    report.render_text()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/pcapmtu-fuzz"))
    parser.add_argument("--replay", type=Path, help="run the target once on this input")
    options = parser.parse_args()
    if options.replay is not None:
        target(options.replay.read_bytes())
        print(f"{options.replay}: no finding")
        return
    atheris: Any = importlib.import_module("atheris")  # optional: '.[fuzz]'

    corpus = options.work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for sample in sorted((REPO / "sample_captures").glob("*.pcap*")):
        if sample.stat().st_size < 200_000:
            shutil.copy(sample, corpus / sample.name)
    with atheris.instrument_imports():
        import pcapmtu  # noqa: F401  (instrumented: coverage guides the mutations)
    args = [
        sys.argv[0],
        f"-max_total_time={int(options.minutes * 60)}",
        f"-artifact_prefix={options.work}/",
        "-max_len=65536",
        "-rss_limit_mb=4096",
        str(corpus),
    ]
    atheris.Setup(args, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
