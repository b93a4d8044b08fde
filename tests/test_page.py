"""`pcapmtu report`'s page, drawn in a helper process: the same page as drawn in the command's
own process, which never loads pandas or matplotlib; drawn there anyway when no helper can
start or the helper dies; the helper's errors raised in the command; no helper left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pcapmtu import page
from pcapmtu.errors import PcapmtuError
from pcapmtu.kept import Kept, gather
from tests.conftest import SAMPLES

INCIDENT = SAMPLES / "incident.home-wg0.pcap"
# a WireGuard capture and its underlay: the helper reads the underlay again for its messages
BOTH_LAYERS = [SAMPLES / "icmp-allowed.home-wg0.pcap", SAMPLES / "icmp-allowed.home-underlay.pcap"]
MADE = re.compile(r"<small>pcapmtu [^<]*</small>")  # the version and the minute it was made


def _same(page_html: str) -> str:
    return MADE.sub("", page_html)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("captures", [[INCIDENT], BOTH_LAYERS], ids=["incident", "underlay"])
def test_the_helper_draws_the_page_drawn_here(captures: list[Path]) -> None:
    kept = gather(captures)
    with page.Painter() as painter:
        assert painter.pid is not None
        helped = painter.page(kept, title="T")
    here = page.draw(kept, title="T")
    assert "<img" in here
    if len(captures) > 1:
        assert "WireGuard messages on the underlay" in here
    assert _same(helped) == _same(here)


def test_the_command_itself_never_loads_pandas_or_matplotlib(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from pcapmtu.page import Painter
        if __name__ == "__main__":
            with Painter() as painter:
                from pcapmtu.kept import gather
                html = painter.page(gather([{str(INCIDENT)!r}]))
            assert html.count("<img") >= 3, html[:300]
            print(sorted(m for m in ("pandas", "matplotlib") if m in sys.modules))
        """
    )
    (tmp_path / "run.py").write_text(script)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "run.py")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_a_helper_the_page_is_drawn_here(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = gather([INCIDENT])
    monkeypatch.setattr(sys, "executable", str(Path("/nonexistent") / "python"))
    with page.Painter() as painter:
        assert painter.pid is None
        drawn = painter.page(kept)
    assert _same(drawn) == _same(page.draw(kept))


def test_a_helper_that_dies_leaves_the_page_to_this_process() -> None:
    kept = gather([INCIDENT])
    with page.Painter() as painter:
        pid = painter.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        drawn = painter.page(kept)
        assert painter.pid is None
    assert _same(drawn) == _same(page.draw(kept))


def test_an_error_in_the_helper_is_raised_here_with_its_traceback(tmp_path: Path) -> None:
    kept = gather([INCIDENT])
    broken = Kept(kept.report, kept.traces, kept.traced_all, [(str(tmp_path / "gone"), "gone")])
    with page.Painter() as painter, pytest.raises(PcapmtuError) as raised:
        painter.page(broken)
    assert isinstance(raised.value.__cause__, page.HelperTraceback)
    assert "Traceback" in str(raised.value.__cause__)
    with pytest.raises(type(raised.value)):
        page.draw(broken)  # the same error as drawn here


def test_no_helper_is_left_behind() -> None:
    with page.Painter() as painter:
        pid = painter.pid  # still loading the libraries: ended all the same
    assert pid is not None and _gone(pid)
    assert painter.pid is None


@pytest.mark.skipif(sys.platform != "linux", reason="a process group and /proc: Linux")
def test_ctrl_c_in_a_terminal_still_writes_the_page_and_leaves_no_process(tmp_path: Path) -> None:
    """`tcpdump -w - | pcapmtu report - -o page.html`, then Ctrl-C: the terminal signals the
    whole process group (the helper has a session of its own); the page is written."""
    target = tmp_path / "page.html"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcapmtu", "report", "-", "-o", str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a process group of its own, as a terminal's job
    )
    assert proc.stdin is not None
    proc.stdin.write(INCIDENT.read_bytes())
    proc.stdin.flush()
    time.sleep(2.0)  # read, waiting for more; the helper started
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err  # the verdict's exit code: a black hole
    assert "Traceback" not in err.decode()
    assert "wrote" in out.decode() and "<img" in target.read_text()
    deadline = time.monotonic() + 10
    while _group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group(proc.pid)


def _group(pgid: int) -> list[int]:
    """The processes still in a process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[2]) == pgid:
                found.append(int(entry.name))
    return found


def test_much_kept_is_drawn_here_not_handed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = gather([INCIDENT])
    monkeypatch.setattr(page, "HELPER_MOST_KEPT", 5)  # the incident keeps more than that
    with page.Painter() as painter:
        pid = painter.pid
        drawn = painter.page(kept)
        assert painter.pid is None and pid is not None and _gone(pid)
    assert _same(drawn) == _same(page.draw(kept))


_TWO_CORES = """
import os, sys, time
from dataclasses import replace
from pcapmtu import page
from pcapmtu.postmortem import pictures, postmortem

def main():
    figures = postmortem({capture!r}).figures()
    me, drawers, copy = os.getpid(), {drawers!r}, {copy!r}
    page.COPY_GRACE_S, page.COPY_GRACE_TIMES = 1.0, 1

    def noted(draw):
        def drawn(ax):
            with open(drawers, "a") as out:
                out.write(f"{{os.getpid()}}\\n")
            if os.getpid() != me and copy == "dies":
                os._exit(9)  # the copy dies on its first figure
            if os.getpid() != me and copy == "hangs":
                time.sleep(600)  # stuck on its first figure, as on a lock held at the fork
            return draw(ax)
        return drawn

    figures = [replace(f, draw=noted(f.draw)) for f in figures]
    started = time.monotonic()
    two = page.drawn_in_two(figures)
    took = time.monotonic() - started
    print(len(figures), two == pictures(figures), me, round(took))

main()
"""


@pytest.mark.skipif(
    sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="a fork on Linux, 2 cores"
)
@pytest.mark.parametrize("copy", ["draws", "dies", "hangs"])
def test_the_helper_draws_its_pictures_on_two_cores(tmp_path: Path, copy: str) -> None:
    """The helper and a copy of it take the figures in turn (the copy's pictures equal to the
    ones drawn in one process); a copy that dies, or is stuck, leaves its figures to the helper,
    which ends it."""
    drawers = tmp_path / "drawers"
    script = _TWO_CORES.format(capture=str(INCIDENT), drawers=str(drawers), copy=copy)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    count, same, me, took = done.stdout.split()
    assert int(count) >= 3 and same == "True"
    by = drawers.read_text().split()
    # drawn by the two, then once more each in one process (`pictures`)
    assert len(by) == 2 * int(count) + (0 if copy == "draws" else 1)
    copies = set(by) - {me}
    assert len(copies) == 1
    (pid,) = copies
    assert _gone(int(pid))  # ended and reaped, stuck or not
    if copy == "draws":
        assert by[: int(count)].count(me) < int(count)
    else:
        assert by.count(pid) == 1
    if copy == "hangs":
        assert int(took) < 60  # the grace (1 s, and the time the helper's own took), not 600
