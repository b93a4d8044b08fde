"""pcapmtu: find MTU black holes in packet captures, and reproduce them in a lab."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
