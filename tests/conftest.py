"""Shared fixtures: where the repository's files are, and whether the lab can run here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
