"""Regression checks: captures with the outcome expected of them (`pcapmtu check`).

Each capture may carry an expectation, in a sidecar `NAME.expect.json` (NAME: the capture's
file name without its capture extension) or in one manifest `expectations.json` for a folder
(its own folder or a folder above, up to the folder given); a capture with neither is expected
to show no black hole. An expectation states the verdict and, optionally, how many flows
stalled and the bracket for the largest inner packet that gets through:

    {"verdict": "black_hole", "affected_flows": 1, "bracket": {"min": 444, "max": 1419}}

A manifest maps file names (relative to its folder) to expectations, with an optional default
for the captures it does not list:

    {"default": {"verdict": "no_black_hole"},
     "captures": {"incident.pcap": {"verdict": "black_hole"}}}
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pcapmtu.analysis import analyze
from pcapmtu.capture.continued import TCPDUMP_PIECE, Continued, group
from pcapmtu.detect import DetectConfig
from pcapmtu.errors import CaptureError, CaptureWarning, InputFileError, UsageError
from pcapmtu.model import plural, printable
from pcapmtu.report import VERDICT_BLACK_HOLE, VERDICT_CLEAN, VERDICT_INCONCLUSIVE, Report

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")
SIDECAR_SUFFIX = ".expect.json"
MANIFEST_NAME = "expectations.json"
NO_BLACK_HOLE = "no_black_hole"  # neither a black hole nor a suspected one: analyze exits 0
VERDICTS = (VERDICT_BLACK_HOLE, VERDICT_CLEAN, VERDICT_INCONCLUSIVE, NO_BLACK_HOLE)
PASS, FAIL, ERROR = "pass", "fail", "error"
_KEYS = {"verdict", "affected_flows", "bracket", "comment"}


@dataclass(frozen=True)
class Expectation:
    """What a capture must show."""

    verdict: str = NO_BLACK_HOLE
    affected_flows: int | None = None  # flows with a black hole or a suspected one
    bracket: tuple[int | None, int | None] | None = None  # a path's fits_ip_len (min, max)
    source: str = "default"  # the file it came from

    def describe(self) -> str:
        parts = [self.verdict.replace("_", " ")]
        if self.affected_flows is not None:
            parts.append(plural(self.affected_flows, "affected flow"))
        if self.bracket is not None:
            parts.append(f"bracket {_bracket_text(self.bracket)}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.bracket if self.bracket is not None else (None, None)
        return {
            "verdict": self.verdict,
            "affected_flows": self.affected_flows,
            "bracket": {"min": low, "max": high} if self.bracket is not None else None,
            "source": self.source,
        }


@dataclass(frozen=True)
class CheckResult:
    """One capture checked: pass, fail (and why), or error (it could not be read)."""

    capture: str
    expectation: Expectation
    status: str
    problems: tuple[str, ...] = ()
    report: Report | None = None
    seconds: float = 0.0
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def line(self) -> str:
        if self.status == ERROR:  # the file named once (the error's text may name it too)
            said = [p.removeprefix(f"{self.capture}: ") for p in self.problems]
            return f"ERROR {self.capture}: {'; '.join(said)}"
        if self.status == FAIL:
            return f"FAIL  {self.capture}: {'; '.join(self.problems)}"
        return f"PASS  {self.capture}: {self.expectation.describe()}"


def affected_flows(report: Report) -> int:
    return len(report.black_holes) + len(report.suspected)


def brackets(report: Report) -> list[tuple[int | None, int | None]]:
    """The fits_ip_len bracket of each path that black-holed a packet."""
    return [(p.largest_delivered, p.fits_max) for p in report.paths if p.fits_max is not None]


def compare(report: Report, expected: Expectation) -> list[str]:
    """Why the report does not meet the expectation; empty when it does."""
    problems = []
    if expected.verdict == NO_BLACK_HOLE:
        if affected_flows(report):
            problems.append(f"expected no black hole, got {report.verdict}: {report.summary()}")
    elif report.verdict != expected.verdict:
        problems.append(f"expected {expected.verdict}, got {report.verdict}: {report.summary()}")
    found = affected_flows(report)
    if expected.affected_flows is not None and found != expected.affected_flows:
        problems.append(f"expected {plural(expected.affected_flows, 'affected flow')}, got {found}")
    if expected.bracket is not None and expected.bracket not in brackets(report):
        got = ", ".join(_bracket_text(b) for b in brackets(report)) or "none"
        problems.append(f"expected bracket {_bracket_text(expected.bracket)}, got {got}")
    return problems


def check_captures(
    paths: Sequence[str | Path], *, config: DetectConfig | None = None, client: Any = None
) -> list[CheckResult]:
    """Find the captures under `paths` and their expectations, analyse each capture on its
    own (on the workers of `client`, a Dask client, when given: `fleet.connect`), and
    compare. Raises `InputFileError` for a bad expectation or manifest, and `UsageError` when
    there is nothing to check; an unreadable capture is an ERROR result."""
    found = find_captures(paths)
    if client is None:
        return [_check_one(path, expected, config) for path, expected in found]
    futures = client.map(
        _check_one, [p for p, _ in found], [e for _, e in found], config=config, pure=False
    )
    return list(client.gather(futures))


def find_captures(paths: Sequence[str | Path]) -> list[tuple[Path | Continued, Expectation]]:
    """Each capture to check, with its expectation, in the order given (folders sorted). In a
    folder, the pieces of a rotated capture (`capture.continued.group`) are one capture, with
    the expectation of its first file."""
    found: list[tuple[Path | Continued, Expectation]] = []
    for given in map(Path, paths):
        if given.is_dir():
            captures = sorted(
                p for p in given.rglob("*") if p.is_file() and _is_capture(p) and _inside(p, given)
            )
            top = given
        else:
            captures, top = [given], given.parent  # missing: analyse reports it as an ERROR
        manifests = _manifests(top, captures)
        joined, _ = group([str(c) for c in captures]) if given.is_dir() else (captures, [])
        for one in joined:
            first = Path(one.paths[0]) if isinstance(one, Continued) else Path(one)
            found.append(
                (one if isinstance(one, Continued) else first, _expectation(first, top, manifests))
            )
    if not found:
        names = ", ".join(map(str, paths))
        raise UsageError(
            f"no captures to check in {names} (looked for {', '.join(CAPTURE_SUFFIXES)})"
        )
    return found


def _check_one(
    path: Path | Continued, expected: Expectation, config: DetectConfig | None
) -> CheckResult:
    name = path.name if isinstance(path, Continued) else printable(str(path))
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CaptureWarning)  # the report lists them
            report = analyze(path, config=config or DetectConfig())
    except CaptureError as exc:
        return CheckResult(name, expected, ERROR, (str(exc),))
    problems = compare(report, expected)
    return CheckResult(
        name,
        expected,
        FAIL if problems else PASS,
        tuple(problems),
        report,
        time.perf_counter() - started,
        report.warnings,
    )


def _is_capture(path: Path) -> bool:
    """A capture by its name, or a piece of a rotated one (tcpdump -C: cap.pcap1, ...)."""
    name = path.name.lower()
    piece = TCPDUMP_PIECE.match(name)
    return name.endswith(CAPTURE_SUFFIXES) or (
        piece is not None and piece["base"].endswith(CAPTURE_SUFFIXES)
    )


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(CAPTURE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


@dataclass(frozen=True)
class _Manifest:
    folder: Path
    default: Expectation | None
    captures: Mapping[str, Expectation]


def _manifests(top: Path, captures: Iterable[Path]) -> dict[Path, _Manifest]:
    """The manifests in `top` and the folders between it and each capture."""
    folders = {top}
    for capture in captures:
        folders.update(p for p in capture.parents if p == top or top in p.parents)
    loaded = {}
    for folder in folders:
        manifest = folder / MANIFEST_NAME
        if manifest.is_file():
            loaded[folder] = _read_manifest(manifest)
    return loaded


def _expectation(capture: Path, top: Path, manifests: Mapping[Path, _Manifest]) -> Expectation:
    sidecar = capture.with_name(_stem(capture) + SIDECAR_SUFFIX)
    listed = [
        m.captures[key]
        for m in manifests.values()
        if (key := _relative(capture, m.folder)) is not None and key in m.captures
    ]
    if sidecar.is_file() and listed:
        raise InputFileError(
            f"{capture}: expected in both {sidecar} and {listed[0].source}: keep one"
        )
    if sidecar.is_file():
        return _parse_expectation(_read_json(sidecar), str(sidecar))
    if listed:
        return listed[0]
    for folder in [capture.parent, *capture.parent.parents]:  # the nearest default
        manifest = manifests.get(folder)
        if manifest is not None and manifest.default is not None:
            return manifest.default
        if folder == top:
            break
    return Expectation()


def _relative(capture: Path, folder: Path) -> str | None:
    try:
        return capture.relative_to(folder).as_posix()
    except ValueError:
        return None


def _read_manifest(path: Path) -> _Manifest:
    data = _read_json(path)
    unknown = set(data) - {"default", "captures", "comment"}
    if unknown:
        raise InputFileError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    listed = data.get("captures", {})
    if not isinstance(listed, dict):
        raise InputFileError(f'{path}: "captures" must map file names to expectations')
    captures = {}
    for name, item in listed.items():
        where = f'{path} ("{printable(name)}")'
        if not _inside(path.parent / name, path.parent):
            raise InputFileError(f"{where}: names a file outside the manifest's folder")
        if not (path.parent / name).is_file():
            raise InputFileError(f"{where}: no such capture beside the manifest")
        captures[name] = _parse_expectation(item, where)
    default = data.get("default")
    return _Manifest(
        path.parent,
        _parse_expectation(default, f"{path} (default)") if default is not None else None,
        captures,
    )


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path`, symbolic links followed, is in `folder` (or below it)."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a loop of links
        return False


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read it: {exc}") from None


def _parse_expectation(data: Any, source: str) -> Expectation:
    if not isinstance(data, dict):
        raise InputFileError(f"{source}: an expectation must be a JSON object")
    unknown = set(data) - _KEYS
    if unknown:
        known = ", ".join(sorted(_KEYS))
        raise InputFileError(f"{source}: unknown key(s) {', '.join(sorted(unknown))} ({known})")
    verdict = data.get("verdict", NO_BLACK_HOLE)
    if verdict not in VERDICTS:
        raise InputFileError(f"{source}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    flows = data.get("affected_flows")
    if flows is not None and (not isinstance(flows, int) or isinstance(flows, bool) or flows < 0):
        raise InputFileError(f"{source}: affected_flows must be a whole number, not {flows!r}")
    return Expectation(verdict, flows, _parse_bracket(data.get("bracket"), source), source)


def _parse_bracket(data: Any, source: str) -> tuple[int | None, int | None] | None:
    if data is None:
        return None
    ok = isinstance(data, dict) and set(data) == {"min", "max"}
    values = (data.get("min"), data.get("max")) if ok else (None, None)
    if not ok or not all(v is None or (isinstance(v, int) and v > 0) for v in values):
        raise InputFileError(
            f'{source}: bracket must be {{"min": N or null, "max": N}}, not {data!r}'
        )
    return values


def _bracket_text(bracket: tuple[int | None, int | None]) -> str:
    low, high = bracket
    return f"{low if low is not None else '?'}-{high if high is not None else '?'}"
