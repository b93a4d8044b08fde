"""The fast pass: every record's TCP/IP headers decoded a batch at a time, and every flow
direction's facts, in compiled code (`src/`, built at install time).

    columns.py  a batch of records -> its TCP segments' header fields, as columns
    screen.py   those columns -> the facts of every flow direction (`model.DirectionFacts`)

It is one of the two implementations pcapmtu keeps; the other, the reference, is the exact pass
(`decode.py`, `flows.py`), and tests check that both give the same facts and the same report on
every capture. Without a C compiler at install time there is no fast pass (`AVAILABLE` is
False) and the analysis runs the exact pass on everything: the same report, slower.
"""

from __future__ import annotations

try:
    from pcapmtu.fast import _native  # type: ignore[attr-defined]  # noqa: F401
except ImportError:  # built without a C compiler: the exact pass does everything
    AVAILABLE = False
else:
    AVAILABLE = True
