"""Shared fixtures: where the repository's files are, and whether the lab can run here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pcapmtu import fast
from pcapmtu.errors import LabUnavailableError
from pcapmtu.lab.system import check_requirements

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_captures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-golden",
        action="store_true",
        help="rewrite tests/golden/expected/ from the current output instead of comparing",
    )


@pytest.fixture
def regen_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regen-golden"))


def lab_unavailable_reason() -> str | None:
    """Why the lab cannot run on this machine, or None when it can."""
    try:
        check_requirements("auto")
    except LabUnavailableError as exc:
        return str(exc)
    return None


@pytest.fixture
def lab_ready() -> None:
    """Skip a lab test where the lab cannot run, except in CI, where that is a failure."""
    reason = lab_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the lab tests, but: {reason}")
    pytest.skip(reason)


ENGINES = ["fast", "exact"]


def require_fast_pass() -> None:
    """Skip where the compiled fast pass was not built, except in CI, where that is a failure."""
    if fast.AVAILABLE:
        return
    if os.environ.get("CI"):
        pytest.fail("CI must build the compiled fast pass: is a C compiler installed?")
    pytest.skip("the compiled fast pass was not built (no C compiler at install time)")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with the fast pass and then as an install without it (the exact pass on
    everything): every report must be the same (as CPython's json tests run with and without
    their C accelerator)."""
    if request.param == "fast":
        require_fast_pass()
    else:
        monkeypatch.setattr(fast, "AVAILABLE", False)
    return str(request.param)
