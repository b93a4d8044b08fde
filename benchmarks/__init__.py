"""Benchmarks: scripts that build captures and print figures (not timed tests); tests import
their capture builders so that each shape is written once."""
