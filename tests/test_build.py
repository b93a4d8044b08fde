"""The compiled parts build, and a wheel built as the cibuildwheel settings build it carries
them (so a normal install gets the fast pass)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, require_fast_pass


def test_the_cibuildwheel_settings_require_the_compiled_parts() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    settings = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["cibuildwheel"]
    assert settings["environment"] == {"PCAPMTU_REQUIRE_COMPILED": "1"}
    command = settings["test-command"]
    assert command.startswith("python -c ")
    code = command[len("python -c ") :].strip('"').replace('\\"', '"')
    subprocess.run([sys.executable, "-c", code], check=True)  # holds for this install


def test_a_wheel_carries_both_compiled_parts(tmp_path: Path) -> None:
    require_fast_pass()  # a C compiler is at hand
    source = tmp_path / "source"  # setuptools builds in the source tree: a copy of it
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "pcapmtu", source / "pcapmtu", ignore=shutil.ignore_patterns("*.so"))
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "-w", str(tmp_path), str(source)],
        check=True,
        env={**os.environ, "PCAPMTU_REQUIRE_COMPILED": "1"},
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("pcapmtu-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("pcapmtu/fast/_native.") and n.endswith(".so") for n in names)
    assert any(n.startswith("pcapmtu/capture/_walk.") and n.endswith(".so") for n in names)


WITHOUT_COMPILED_PARTS = """
import sys

class NoCompiledParts:  # as an install without a C compiler: neither module exists
    def find_spec(self, name, path=None, target=None):
        if name in ("pcapmtu.fast._native", "pcapmtu.capture._walk"):
            raise ImportError(name)
        return None

sys.meta_path.insert(0, NoCompiledParts())
import pcapmtu.capture.walk, pcapmtu.fast
from pcapmtu.cli import main
assert not pcapmtu.fast.AVAILABLE and not pcapmtu.capture.walk.COMPILED
main()
"""


def test_without_the_compiled_parts_every_sample_gets_its_golden_report() -> None:
    """The exact pass alone, the Python walk, the same reports: what an install without a C
    compiler runs (the `engine` fixture only switches the fast pass off in this one)."""
    from tests.test_golden import CASES, EXPECTED

    for case, code, captures in CASES:
        done = subprocess.run(
            [sys.executable, "-c", WITHOUT_COMPILED_PARTS, "analyze", *captures],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300,
        )
        assert done.returncode == code, (case, done.stderr)
        assert done.stdout == (EXPECTED / f"{case}.txt").read_text(), case
        assert done.stderr == "", case


def test_without_the_compiled_parts_stdin_is_read_as_with_them() -> None:
    """A pipe read by the Python loop (`walk.fill` without `_walk`): the same report."""
    data = (REPO / "sample_captures" / "healthy-random-loss.pcap").read_bytes()
    runs = [
        subprocess.run(
            [sys.executable, *how, "analyze", "-"],
            input=data,
            capture_output=True,
            cwd=REPO,
            timeout=300,
        )
        for how in (["-c", WITHOUT_COMPILED_PARTS], ["-m", "pcapmtu"])
    ]
    assert runs[0].returncode == runs[1].returncode == 0, runs[0].stderr
    assert runs[0].stdout == runs[1].stdout and b"<stdin>" in runs[0].stdout
    assert runs[0].stderr == runs[1].stderr == b""
