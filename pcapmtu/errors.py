"""The errors pcapmtu raises, so callers can tell a bad input from a broken machine.

Only the command line maps these to exit codes; the library raises and warns, and never prints.

    PcapmtuError
    ├── UsageError             a value the caller gave cannot work (exit 2)
    └── LabError               the lab could not build or run a scenario
        ├── LabUnavailableError   not Linux, not root, or a tool is missing (exit 2)
        └── LabSetupError         a step of building or running the lab failed (exit 3)
"""

from __future__ import annotations


class PcapmtuError(Exception):
    """Base class of every error pcapmtu raises on purpose."""


class UsageError(PcapmtuError, ValueError):
    """A value given by the caller cannot work; the message names the value."""


class LabError(PcapmtuError):
    """The lab could not build or run a scenario."""


class LabUnavailableError(LabError):
    """This machine cannot run the lab: the message says what to install or change."""


class LabSetupError(LabError):
    """A step of building, running or tearing down the lab failed."""
