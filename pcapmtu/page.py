"""The page `pcapmtu report` writes, drawn in a helper process while the captures are read.

Drawing needs pandas and matplotlib: importing them takes about a second, and drawing the
pictures most of another, longer than analysing a gigabyte. So `Painter` starts a helper process
at once, which imports them while this process reads the captures (`kept.gather`); the helper
then makes the frames and draws the page from what the analysis kept, on a second core where
there is one. The page is the one `postmortem.Postmortem.to_html` makes (tests/test_page.py).
Where no helper process can start, or it dies, or the analysis kept more than the helper should
be handed (`HELPER_MOST_KEPT`), the page is drawn here, as before.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not loaded before the helper starts: it loads numpy and the analysis
    from pcapmtu.kept import Kept

# Past this many segments and ACKs kept (`--keep all` on a large capture), the page is drawn
# here: handing them to the helper would hold them twice, and memory is what `--keep all` costs.
HELPER_MOST_KEPT = 200_000
# a fresh process for the helper, never a copy of this one: `fork` would copy its threads'
# locks (a test run, a notebook) and the capture's open files
START_METHODS = ("forkserver", "spawn")


class HelperTraceback(Exception):
    """Where an error raised in the helper process came from (its traceback, as text)."""


class Painter:
    """Draws a postmortem's page in a helper process that loads the plotting libraries from
    the start; use as a context manager, so the helper ends with it."""

    def __init__(self) -> None:
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        try:
            available = multiprocessing.get_all_start_methods()
            method = next(m for m in START_METHODS if m in available)
            context = multiprocessing.get_context(method)
            ours, theirs = context.Pipe()
            process = context.Process(  # type: ignore[attr-defined]
                target=_serve, args=(theirs,), name="pcapmtu-painter", daemon=True
            )
            process.start()
        except (OSError, ValueError, RuntimeError, StopIteration):
            return  # no helper: the page is drawn in this process
        theirs.close()
        self._process, self._conn = process, ours

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
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
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


def draw(kept: Kept, title: str | None = None) -> str:
    """The page, drawn in this process."""
    from pcapmtu.postmortem import Postmortem

    return Postmortem.of(kept).to_html(title=title)


def _kept_rows(kept: Kept) -> int:
    return sum(len(t.trace.segments) + len(t.trace.acks) for t in kept.traces)


def _serve(conn: Connection) -> None:
    """The helper: load the plotting libraries, then draw the one page it is asked for."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's to handle
    import pcapmtu.postmortem  # noqa: F401  (pandas and matplotlib: the slow part)

    try:
        kept, title = conn.recv()
    except (EOFError, OSError):
        return  # the command ended before asking
    message: tuple[str, object, str]
    try:
        message = ("page", draw(kept, title), "")
    except Exception as exc:  # given back to the command, which raises it
        message = ("error", exc, traceback.format_exc())
    try:
        conn.send(message)
    except (OSError, EOFError):
        pass  # the command is gone
    except Exception:  # an error that cannot be pickled: its words, then
        error = message[1]
        conn.send(("error", RuntimeError(f"{type(error).__name__}: {error}"), message[2]))
