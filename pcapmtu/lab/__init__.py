"""The lab: real WireGuard tunnels in network namespaces, captured while they black-hole.

Public surface: `Scenario`, `Sysctl`, `run_scenario`, `LabResult`, and `samples`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pcapmtu.lab.runner import LabResult, run_scenario
    from pcapmtu.lab.scenario import Scenario, Sysctl

__all__ = ["LabResult", "Scenario", "Sysctl", "run_scenario"]

_HOMES = {
    "LabResult": "runner",
    "run_scenario": "runner",
    "Scenario": "scenario",
    "Sysctl": "scenario",
}


def __getattr__(name: str) -> Any:
    """The lab's names, imported when first used: `pcapmtu analyze` never pays for the lab."""
    if name in _HOMES:
        return getattr(importlib.import_module(f"pcapmtu.lab.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
