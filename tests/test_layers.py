"""The layers of ARCHITECTURE.md: each module imports only from its own layer or below, no
import is circular, and each module can be imported alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pcapmtu"

# Lowest first; a module may import from its own layer (without a cycle) or any below it.
LAYERS: list[set[str]] = [
    {"errors", "version", "model", "tunnels", "mtu", "linktypes", "tcp", "output", "loading"},
    {"capture"},  # file formats, batching, sources
    {"decode", "dpkt_layers", "wgwire"},  # the exact decoder (dpkt); WireGuard's messages
    {"flows", "fast"},  # the exact pass's TCP state; the fast pass's facts
    {"detect"},  # every decision
    {"replay"},  # the second pass
    {"report_html", "report", "summary", "underlay"},
    {"analysis"},  # the pipeline
    # what a picture shows (no pandas) and its SVG; pandas, matplotlib; checks
    {"charts", "svg", "frames", "plot", "kept", "check", "check_output"}
    | {"wgconfig", "configcheck", "lab", "probing"},
    # the page of one analysis (no pandas); its frames; many captures on a Dask cluster
    {"postmortem", "page", "fleet"},
    {"cli", "__main__", "__init__", "start"},
]
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _top(module: str) -> str:
    """The layer a module belongs to: its first component below `pcapmtu`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    """The pcapmtu modules `path` imports when it runs (not those named for type checking)."""
    tree = ast.parse(path.read_text())
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(n) for child in node.body for n in ast.walk(child)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("pcapmtu")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pcapmtu"):
            module = node.module or ""
            for alias in node.names:  # `from pcapmtu import fast` imports a module
                name = f"{module}.{alias.name}"
                found.add(name if name in MODULES else module)
    return found


GRAPH = {module: _imports(path) for module, path in MODULES.items()}


def test_every_module_has_a_layer() -> None:
    assert {_top(m) for m in MODULES} <= set(LAYER_OF), "add new modules to LAYERS"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_or_sideways(module: str) -> None:
    rank = LAYER_OF[_top(module)]
    upward = [m for m in GRAPH[module] if LAYER_OF[_top(m)] > rank]
    assert upward == [], f"{module} imports from a higher layer"


def test_no_import_is_circular() -> None:
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(module: str, path: list[str]) -> None:
        if state.get(module) == 2:
            return
        assert state.get(module) != 1, " -> ".join([*path, module])
        state[module] = 1
        for imported in sorted(GRAPH.get(module, ())):
            if imported in MODULES and imported != module and not module.startswith(imported):
                visit(imported, [*path, module])
        state[module] = 2

    for module in sorted(MODULES):
        visit(module, [])


def test_each_module_imports_alone() -> None:
    """In a fresh interpreter each: an import that works only after another would fail."""
    names = [m for m in sorted(MODULES) if not m.endswith("__main__")]
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m.startswith('pcapmtu')]:\n"
        "        if not loaded.endswith('_native') and not loaded.endswith('_walk'):\n"
        "            del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
