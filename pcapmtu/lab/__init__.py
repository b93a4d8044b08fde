"""The lab: real WireGuard tunnels in network namespaces, captured while they black-hole.

Public surface: `Scenario`, `Sysctl`, `run_scenario`, `LabResult`, and `samples`.
"""

from __future__ import annotations

from pcapmtu.lab.runner import LabResult, run_scenario
from pcapmtu.lab.scenario import Scenario, Sysctl

__all__ = ["LabResult", "Scenario", "Sysctl", "run_scenario"]
