"""The page `pcapmtu report` writes, drawn in a helper process while the captures are read.

Drawing needs pandas and matplotlib: importing them takes about a second, and drawing the
pictures most of another, longer than analysing a gigabyte. So `Painter` starts a helper process
at once, which imports them while this process reads the captures (`kept.gather`); the helper
then makes the frames and draws the page from what the analysis kept, its pictures on both
cores where there are two (`drawn_in_two`). The page is the one
`postmortem.Postmortem.to_html` makes (tests/test_page.py).
Where no helper process can start, or it dies, or the analysis kept more than the helper should
be handed (`HELPER_MOST_KEPT`), the page is drawn here, as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import select
import signal
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection, Pipe
from types import TracebackType
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # not loaded before the helper starts: it loads numpy and the analysis
    from pcapmtu.kept import Kept
    from pcapmtu.postmortem import Figure

# Past this many segments and ACKs kept (`--keep all` on a large capture), the page is drawn
# here: handing them to the helper would hold them twice, and memory is what `--keep all` costs.
HELPER_MOST_KEPT = 200_000
# The helper: a fresh interpreter, never a copy of this process (a fork would copy its threads'
# locks, in a test run or a notebook, and the captures' open files), with this one's import
# path. Started as a plain process, not by multiprocessing: its forkserver and spawn both hold
# the command up for a third of a second here, and start the helper later.
HELPER_MAIN = (
    "import sys, json; sys.path[:] = json.loads(sys.argv[2]); "
    "from pcapmtu.page import serve; serve(int(sys.argv[1]))"
)
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent ends
# How long the helper waits for what its copy drew (`drawn_in_two`), past the time drawing it
# itself would take this many times over, before it ends the copy and draws the rest itself
COPY_GRACE_S = 10.0
COPY_GRACE_TIMES = 3


class HelperTraceback(Exception):
    """Where an error raised in the helper process came from (its traceback, as text)."""


class Painter:
    """Draws a postmortem's page in a helper process that loads the plotting libraries from
    the start; use as a context manager, so the helper ends with it."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        if not sys.executable:  # an embedded Python: no interpreter to start
            return
        ours, theirs = Pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", HELPER_MAIN, str(theirs.fileno()), json.dumps(sys.path)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the command's output is its own
                # a session of its own: a Ctrl-C at the terminal is the command's to handle
                # (it ends the helper), never a traceback of the helper's
                start_new_session=True,
            )
        except (OSError, ValueError):
            ours.close()
            return  # no helper: the page is drawn in this process
        finally:
            theirs.close()
        self._conn = ours

    @property
    def pid(self) -> int | None:
        """The helper process's id, while there is one."""
        return self._process.pid if self._process is not None else None

    def page(self, kept: Kept, title: str | None = None) -> str:
        """The postmortem's HTML page, from the helper if it is there, else drawn here."""
        if self._conn is not None and _kept_rows(kept) > HELPER_MOST_KEPT:
            self.close()
        if self._conn is not None:
            try:
                self._conn.send((kept, title))
                outcome, value, where = self._conn.recv()
            except (OSError, EOFError):  # the helper died (killed, out of memory)
                self.close()
            else:
                if outcome == "page":
                    return str(value)
                raise value from HelperTraceback(where)
        return draw(kept, title)

    def close(self) -> None:
        """End the helper (it may still be importing, when the analysis failed early)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
            self._process.wait()
            self._process = None

    def __enter__(self) -> Painter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def draw(kept: Kept, title: str | None = None, *, two_cores: bool = False) -> str:
    """The page, drawn in this process; with `two_cores`, its pictures are drawn by this
    process and a copy of it (`drawn_in_two`): only where a fork is safe, as in the helper."""
    from pcapmtu.postmortem import Postmortem

    return Postmortem.of(kept).to_html(title=title, draw=drawn_in_two if two_cores else None)


def drawn_in_two(figures: Sequence[Figure]) -> list[bytes]:
    """Each figure's PNG, as `postmortem.pictures` draws it, drawn by this process and a
    copy of it (`os.fork`) that take the figures in turn: the pictures are most of the
    page's time, and once the analysis is over the command waits on one core while the other
    is idle. Where there is one core, or no fork, or the copy fails, this process draws what
    the copy did not (so an error drawing a figure is raised here). Only for a process that
    is safe to fork: the helper, whose only other threads are its libraries' idle pools."""
    from pcapmtu import plot
    from pcapmtu.postmortem import pictures

    # Two figures at least to share, each numbered in one byte (the pipe of turns below), on
    # Linux only: macOS's system libraries are not safe to use in a fork of a process that
    # loaded them, and Windows has no fork
    if not 2 <= len(figures) <= 255 or sys.platform != "linux" or (os.cpu_count() or 1) < 2:
        return pictures(figures)
    # the figures to draw, one byte each, in a pipe both processes read a byte at a time
    turns, ahead = os.pipe()
    os.write(ahead, bytes(range(len(figures))))
    os.close(ahead)
    result, out = os.pipe()
    parent = os.getpid()
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns of any other thread: here numpy's and pyarrow's idle pools,
            # which their own fork handlers stop and start again
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        for fd in (turns, result, out):
            os.close(fd)
        return pictures(figures)
    if pid == 0:  # the copy: draw in turn, send what it drew, and end without cleaning up
        status = 1
        try:
            os.close(result)
            if _end_with(parent):
                drawn = {i: plot.png(figures[i].draw) for i in _taken(turns)}
                with os.fdopen(out, "wb") as sent:
                    pickle.dump(drawn, sent)
                status = 0
        finally:
            os._exit(status)
    os.close(out)
    theirs: dict[int, bytes] = {}
    try:
        started = time.monotonic()
        mine = {i: plot.png(figures[i].draw) for i in _taken(turns)}
        left = len(figures) - len(mine)
        if left:  # the copy took some: wait for them, as long as drawing them here would take
            each = (time.monotonic() - started) / max(len(mine), 1)
            theirs = _received(result, COPY_GRACE_S + COPY_GRACE_TIMES * each * left)
    finally:
        os.close(result)
        os.close(turns)
        _ended(pid)
    drawn = {**theirs, **mine}
    return [drawn[i] if i in drawn else plot.png(f.draw) for i, f in enumerate(figures)]


def _received(result: int, wait_s: float) -> dict[int, bytes]:
    """What the copy drew, sent on `result`: nothing if it failed, or sent nothing within
    `wait_s` (stuck: a fork of a process with threads can deadlock on a lock one of them held)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + wait_s
    while (left := deadline - time.monotonic()) > 0 and select.select([result], [], [], left)[0]:
        chunk = os.read(result, 1 << 16)
        if not chunk:  # the copy closed it: all sent, or it ended
            try:
                drawn = pickle.loads(b"".join(chunks))  # what our own copy drew
            except (pickle.UnpicklingError, EOFError, ValueError):
                return {}  # it died while sending
            return cast(dict[int, bytes], drawn) if isinstance(drawn, dict) else {}
        chunks.append(chunk)
    return {}


def _ended(pid: int) -> None:
    """End the copy, if it has not ended, and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _taken(turns: int) -> Iterator[int]:
    """The figures' numbers this process takes from the shared pipe, until none is left."""
    while taken := os.read(turns, 1):
        yield taken[0]


def _end_with(parent: int) -> bool:
    """Have the system end this process when `parent` ends (Linux): the helper is ended when
    the command is, and the copy with it. Whether `parent` is still there."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the copy ends when it has drawn its figures, or fails to send them
    return os.getppid() == parent


def _kept_rows(kept: Kept) -> int:
    return sum(len(t.trace.segments) + len(t.trace.acks) for t in kept.traces)


def serve(fd: int) -> None:
    """The helper (`HELPER_MAIN`): load the plotting libraries, then draw the one page it is
    asked for on the connection `fd`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's to handle
    conn = Connection(fd)
    import pcapmtu.postmortem  # noqa: F401  (pandas and matplotlib: the slow part)

    try:
        kept, title = conn.recv()
    except (EOFError, OSError):
        return  # the command ended before asking
    message: tuple[str, object, str]
    try:
        message = ("page", draw(kept, title, two_cores=True), "")
    except Exception as exc:  # given back to the command, which raises it
        message = ("error", exc, traceback.format_exc())
    try:
        conn.send(message)
    except (OSError, EOFError):
        pass  # the command is gone
    except Exception:  # an error that cannot be pickled: its words, then
        error = message[1]
        conn.send(("error", RuntimeError(f"{type(error).__name__}: {error}"), message[2]))
