"""The public API is exactly __all__, sorted, and imports no presentation libraries."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pcapmtu


def test_all_is_sorted_and_complete() -> None:
    assert pcapmtu.__all__ == sorted(pcapmtu.__all__)
    public = {name for name in dir(pcapmtu) if not name.startswith("_")}
    modules = {m.name for m in pkgutil.iter_modules(pcapmtu.__path__)}
    assert public - modules <= set(pcapmtu.__all__)
    for name in pcapmtu.__all__:
        assert hasattr(pcapmtu, name), name


def test_importing_pcapmtu_loads_no_click_pandas_or_matplotlib() -> None:
    code = (
        "import sys, pcapmtu; print(sorted(m for m in ('click', 'pandas', 'matplotlib') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
