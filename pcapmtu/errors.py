"""The errors pcapmtu raises, so callers can tell a bad input from a broken machine.

Only the command line maps these to exit codes; the library raises and warns, and never prints.

    PcapmtuError
    ├── UsageError             a value the caller gave cannot work (exit 2)
    │   └── InputFileError        a config or expectation file is missing or malformed
    ├── CaptureError           a capture cannot be read at all (exit 2)
    │   ├── CaptureNotFoundError  no such file, or a folder
    │   ├── EmptyCaptureError     zero bytes
    │   ├── NotACaptureError      not pcap, pcapng or gzip of one (a text file, say)
    │   └── CorruptCaptureError   a capture whose header is damaged or of an unknown version
    └── LabError               the lab could not build or run a scenario
        ├── LabUnavailableError   not Linux, not root, or a tool is missing (exit 2)
        └── LabSetupError         a step of building or running the lab failed (exit 3)

    CaptureWarning             something was skipped, but the rest was analysed
    ├── TruncatedCaptureWarning   the file ends mid-record, or a record is absurdly long
    ├── InterruptedCaptureWarning reading a pipe was stopped by Ctrl-C: what arrived was analysed
    ├── UnknownLinkTypeWarning    packets of a link type pcapmtu cannot decode were skipped
    └── UndecodablePacketWarning  packets too short or malformed to decode were skipped
"""

from __future__ import annotations


class PcapmtuError(Exception):
    """Base class of every error pcapmtu raises on purpose."""


class UsageError(PcapmtuError, ValueError):
    """A value given by the caller cannot work; the message names the value."""


class InputFileError(UsageError):
    """A file given besides captures (a wg-quick config, an expectation) cannot be used; the
    message names the file, and the line where there is one."""


class LabError(PcapmtuError):
    """The lab could not build or run a scenario."""


class LabUnavailableError(LabError):
    """This machine cannot run the lab: the message says what to install or change."""


class LabSetupError(LabError):
    """A step of building, running or tearing down the lab failed."""


class CaptureError(PcapmtuError):
    """A capture cannot be read at all; the message names the file and the reason."""


class CaptureNotFoundError(CaptureError):
    """The path does not exist, or is a folder."""


class EmptyCaptureError(CaptureError):
    """The file has no bytes."""


class NotACaptureError(CaptureError):
    """The file is not pcap, pcapng, or a gzip of one."""


class CorruptCaptureError(CaptureError):
    """The file starts like a capture, but its header is damaged or of an unknown version."""


class CaptureWarning(UserWarning):
    """Part of a capture was skipped; what remains was analysed."""


class TruncatedCaptureWarning(CaptureWarning):
    """The file ends in the middle of a record, or a record claims an absurd length."""


class InterruptedCaptureWarning(CaptureWarning):
    """Reading a capture from a pipe was stopped by Ctrl-C; what had arrived was analysed."""


class UnknownLinkTypeWarning(CaptureWarning):
    """Packets of a link type that pcapmtu cannot decode were skipped."""


class UndecodablePacketWarning(CaptureWarning):
    """Packets too short or malformed to decode were skipped."""
