"""The command's first moments: Ctrl-C while Python loads pcapmtu ends it quietly (exit 130),
as it does once the command runs, not with a traceback from the middle of an import."""

from __future__ import annotations

import os
import sys

# Only what Python has loaded already, until the handler is set: typing, signal (its enums)
# and contextlib took long enough on a slow machine for a Ctrl-C to land in their imports.
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without loading typing
if TYPE_CHECKING:
    from typing import NoReturn

EXIT_INTERRUPTED = 130


def _interrupted_while_starting(signum: int, frame: object) -> None:
    print("pcapmtu: interrupted", file=sys.stderr, flush=True)
    os._exit(EXIT_INTERRUPTED)  # nothing to clean up yet: no file written, no lab made


# pcapmtu does no linear algebra; numpy's OpenBLAS would start a thread per core at import,
# which spins a while waiting for work, on a core the reading and the analysis could use
# (about 0.03 s of a gigabyte's 0.5 on 2 cores). A value the user set is kept.
QUIET_LIBRARIES = {"OPENBLAS_NUM_THREADS": "1"}


def main() -> NoReturn:
    """Console entry point: load the command line, then run it."""
    import _signal  # type: ignore[import-not-found]  # signal's compiled core, loaded already

    _signal.signal(_signal.SIGINT, _interrupted_while_starting)
    for name, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(name, value)
    from pcapmtu.cli import main as run  # the slow part: numpy, click, the decoders

    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    try:
        run()
    except SystemExit as done:
        if done.code == EXIT_INTERRUPTED:
            _exit_interrupted()
        raise


def _exit_interrupted() -> NoReturn:
    """Exit 130 after Ctrl-C, already told and cleaned up (the command's `finally` blocks ran).
    Not by `sys.exit`: when the KeyboardInterrupt came while Python ran code made from a string
    (a dataclass being created as a module loads, for one), CPython marks it as unhandled
    however it was caught, and at exit kills the process with SIGINT instead (exit -2)."""
    import contextlib

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or a broken pipe
            stream.flush()
    os._exit(EXIT_INTERRUPTED)
