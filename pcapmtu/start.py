"""The command's first moments and its last: Ctrl-C while Python loads pcapmtu ends it quietly
(exit 130), as it does once the command runs, not with a traceback from the middle of an
import; and once it has run, the process ends without tearing Python down (`command`)."""

from __future__ import annotations

import os
import sys

# Only what Python has loaded already, until the handler is set: typing, signal (its enums)
# and contextlib took long enough on a slow machine for a Ctrl-C to land in their imports.
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without loading typing
if TYPE_CHECKING:
    from typing import NoReturn

EXIT_INTERRUPTED = 130
EXIT_FLUSH_FAILED = 120  # as CPython exits when it cannot flush stdout at the end


def _interrupted_while_starting(signum: int, frame: object) -> None:
    print("pcapmtu: interrupted", file=sys.stderr, flush=True)
    os._exit(EXIT_INTERRUPTED)  # nothing to clean up yet: no file written, no lab made


# pcapmtu does no linear algebra; numpy's OpenBLAS would start a thread per core at import,
# which spins a while waiting for work, on a core the reading and the analysis could use
# (about 0.03 s of a gigabyte's 0.5 on 2 cores). A value the user set is kept.
QUIET_LIBRARIES = {"OPENBLAS_NUM_THREADS": "1"}


def main() -> NoReturn:
    """Load the command line, then run it; ends by raising SystemExit (tests call it in their
    own process). The console entry point is `command`."""
    import _signal  # type: ignore[import-not-found]  # signal's compiled core, loaded already

    _signal.signal(_signal.SIGINT, _interrupted_while_starting)
    for name, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(name, value)
    from pcapmtu.loading import loading

    with loading():
        from pcapmtu.cli import main as run  # the slow part: click, the options' values

    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    try:
        run()
    except SystemExit as done:
        if done.code == EXIT_INTERRUPTED:
            _exit_interrupted()
        raise


def command() -> NoReturn:
    """The console entry point (`pcapmtu`, `python -m pcapmtu`): `main`, then the exit of a
    process that is about to end (`_exit_at_once`), never of one that called `main` itself."""
    try:
        main()
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            _exit_at_once(done.code or 0)
        raise


def _exit_at_once(code: int) -> None:
    """Exit without freeing every module and object first: CPython tears the interpreter down
    module by module at exit, 0.04 to 0.07 s once numpy, dpkt and the analysis are loaded (a
    tenth of a gigabyte's analysis, a quarter of 100 MB's). Everything the command wrote is
    closed by then (each file in a `with`, temporary copies removed in `finally`), and the
    atexit handlers still run (a Dask client's, multiprocessing's). Returns, for the usual
    exit, while a thread Python would wait for still runs, or when the output cannot be
    flushed (a closed pipe: Python's own exit reports it)."""
    import atexit
    import threading

    main_thread = threading.main_thread()
    if any(not t.daemon for t in threading.enumerate() if t is not main_thread):
        return
    if not _flushed():
        return
    atexit._run_exitfuncs()
    os._exit(code if _flushed() else EXIT_FLUSH_FAILED)


def _flushed() -> bool:
    """Flush stdout and stderr: whether both went out (not when closed, or a broken pipe)."""
    flushed = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            flushed = False
    return flushed


def _exit_interrupted() -> NoReturn:
    """Exit 130 after Ctrl-C, already told and cleaned up (the command's `finally` blocks ran).
    Not by `sys.exit`: when the KeyboardInterrupt came while Python ran code made from a string
    (a dataclass being created as a module loads, for one), CPython marks it as unhandled
    however it was caught, and at exit kills the process with SIGINT instead (exit -2)."""
    _flushed()
    os._exit(EXIT_INTERRUPTED)
