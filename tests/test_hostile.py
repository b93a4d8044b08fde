"""Hostile and odd input (issue 14): the reproducers in `../shared/robustness/` (skipped when
that folder is absent) and the same shapes built here."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLES

ROBUSTNESS = REPO.parent / "shared" / "robustness"


def _needs(name: str) -> Path:
    path = ROBUSTNESS / name
    if not path.is_file():
        pytest.skip(f"{path} is not beside the checkout")
    return path


def test_the_reproducer_of_the_finalizer_deadlock_does_not_hang() -> None:
    script = _needs("deadlock_gc_finalizer.py")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "no hang", done.stderr


# A half-read capture freed by the cyclic GC while another thread starts: the GC's finalizer
# must not join the reading thread (it would wait on a lock the starting thread holds).
HALF_READ = textwrap.dedent(
    """
    import gc, threading, warnings, faulthandler, sys
    warnings.simplefilter("ignore")
    import pcapmtu.capture as C
    faulthandler.dump_traceback_later(20, exit=True)
    C.BATCH_BYTES = 1 << 16
    gc.disable()
    cap = C.Capture(sys.argv[1])
    for batch in cap.batches():
        break
    if sys.argv[2] == "close":
        cap.close()  # what a pass that stops early does
    del cap, batch
    original = threading._maintain_shutdown_locks
    def with_gc():
        gc.collect()
        return original()
    threading._maintain_shutdown_locks = with_gc
    t = threading.Thread(target=lambda: None); t.start(); t.join()
    readers = [t for t in threading.enumerate() if t.name.startswith("pcapmtu-read")]
    for reader in readers:
        reader.join(5)  # told to stop, it ends by itself
    print("no hang", sum(reader.is_alive() for reader in readers))
    """
)


@pytest.mark.parametrize("how", ["freed", "close"])
@pytest.mark.parametrize(
    "capture", ["healthy-random-loss.pcap", "pcapng-two-interfaces.pcapng"], ids=str
)
def test_a_half_read_capture_neither_hangs_nor_leaves_its_reader(capture: str, how: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HALF_READ, str(SAMPLES / capture), how],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["no", "hang", "0"]  # and no reading thread left behind
