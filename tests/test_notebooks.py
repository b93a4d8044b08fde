"""The notebooks run top to bottom on the sample captures, and are committed clean."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import pcapmtu
from tests.conftest import REPO, SAMPLES

NOTEBOOKS = REPO / "notebooks"
# What a notebook may import of pcapmtu: the public API, nothing internal.
PUBLIC_MODULES = {"pcapmtu", "pcapmtu.frames", "pcapmtu.plot", "pcapmtu.postmortem"}


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _run(path: Path, parameters: str | None = None) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    if parameters is not None:
        cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
        cell.source = parameters
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": NOTEBOOKS}}
    ).execute()
    return notebook


def _outputs(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]


def _text(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for o in _outputs(notebook):
        parts.append(o.get("text", ""))
        parts += [str(v) for k, v in o.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


def _images(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for o in _outputs(notebook))


def test_there_are_notebooks() -> None:
    assert [p.name for p in _notebooks()] == ["before-after.ipynb", "postmortem.ipynb"]


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_committed_without_outputs_and_with_a_parameters_cell(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebooks_import_only_the_public_api(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {f"{node.module}.{a.name}" for a in node.names}
                if node.module.startswith("pcapmtu"):
                    assert node.module in PUBLIC_MODULES or names <= PUBLIC_MODULES, names
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("pcapmtu"):
                        assert alias.name in PUBLIC_MODULES, alias.name
            assert not isinstance(node, ast.FunctionDef | ast.ClassDef)  # no logic of its own


def test_postmortem_tells_the_incident_story() -> None:
    notebook = _run(NOTEBOOKS / "postmortem.ipynb")
    report = pcapmtu.analyze(SAMPLES / "incident.home-wg0.pcap")
    text = _text(notebook)
    assert report.summary() in text
    assert report.fix_text().splitlines()[0] in text
    assert report.next_steps()[0] in text
    # sizes, histogram, one time-sequence graph (one stalled flow), the overview
    assert _images(notebook) == 4


def test_postmortem_takes_other_captures_as_parameters() -> None:
    both = [str(SAMPLES / "incident.home-wg0.pcap"), str(SAMPLES / "incident.proxy-wg0.pcap")]
    notebook = _run(NOTEBOOKS / "postmortem.ipynb", f"CAPTURES = {both!r}")
    report = pcapmtu.analyze(both)
    assert report.summary() in _text(notebook)
    assert _images(notebook) == 2 + 2 + len(report.black_holes) + 1  # per capture: 2


def test_before_after_compares_the_two_verdicts() -> None:
    notebook = _run(NOTEBOOKS / "before-after.ipynb")
    text = _text(notebook)
    before = pcapmtu.analyze(SAMPLES / "incident.home-wg0.pcap")
    after = pcapmtu.analyze(SAMPLES / "fixed-mtu1340.pcap")
    assert f"before: {before.summary()}" in text
    assert f"after: {after.summary()}" in text
    assert _images(notebook) == 1


def test_a_capture_path_relative_to_the_repository_works_too() -> None:
    notebook = _run(
        NOTEBOOKS / "postmortem.ipynb",
        'CAPTURES = ["sample_captures/incident.home-wg0.pcap"]',
    )
    assert "MTU black hole" in _text(notebook)


def test_a_missing_capture_says_where_it_looked_in_one_line() -> None:
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError) as failed:
        _run(NOTEBOOKS / "postmortem.ipynb", 'CAPTURES = ["no/such/capture.pcap"]')
    said = str(failed.value)
    assert "CaptureNotFoundError" in said and "no such file (looked for" in said
    assert str(NOTEBOOKS / "no/such/capture.pcap") in said and "Traceback" not in said
