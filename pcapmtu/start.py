"""The command's first moments: Ctrl-C while Python loads pcapmtu ends it quietly (exit 130),
as it does once the command runs, not with a traceback from the middle of an import."""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

EXIT_INTERRUPTED = 130


def _interrupted_while_starting(signum: int, frame: object) -> None:
    print("pcapmtu: interrupted", file=sys.stderr, flush=True)
    os._exit(EXIT_INTERRUPTED)  # nothing to clean up yet: no file written, no lab made


def main() -> NoReturn:
    """Console entry point: load the command line, then run it."""
    signal.signal(signal.SIGINT, _interrupted_while_starting)
    from pcapmtu.cli import main as run  # the slow part: numpy, click, the decoders

    signal.signal(signal.SIGINT, signal.default_int_handler)
    run()
