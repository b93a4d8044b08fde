"""The fast lane of decoding gives, field by field, what the one-by-one `Decoder` gives."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from pcapmtu import headers
from pcapmtu.capture import Capture
from pcapmtu.decode import Decoder
from pcapmtu.errors import CaptureError
from pcapmtu.model import TooBig
from tests.conftest import REPO, SAMPLES

CORPUS = REPO.parent / "shared" / "corpus" / "public"
FILES = sorted(SAMPLES.glob("*.pcap*")) + sorted(
    p for p in CORPUS.glob("*") if p.name != "MANIFEST.tsv"
)


def _decode_all(source: Path | bytes, lane: str) -> tuple[headers.Columns, Decoder, list[TooBig]]:
    decoder = Decoder()
    parts: list[headers.Columns] = []
    too_big: list[TooBig] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            capture = Capture(source)
        except CaptureError:
            return headers.empty(), decoder, []
        for batch in capture.batches():
            decoded = headers.decode(batch, decoder, lane=lane)
            parts.append(decoded.segments)
            too_big += decoded.too_big
    return headers.concat(parts or [headers.empty()]), decoder, too_big


COMPILED = headers._compiled is not None  # type: ignore[attr-defined]
LANES = ["numpy", "compiled"] if COMPILED else ["numpy"]


def _assert_same(source: Path | bytes, lane: str) -> int:
    fast, fast_decoder, fast_too_big = _decode_all(source, lane)
    slow, slow_decoder, slow_too_big = _decode_all(source, "none")
    for name in headers.COLUMNS:
        assert np.array_equal(fast[name], slow[name]), name
    assert fast_decoder.skipped == slow_decoder.skipped
    assert fast_decoder.unknown_link_types == slow_decoder.unknown_link_types
    assert fast_too_big == slow_too_big
    return len(fast["frame"])


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fast_lanes_equal_the_decoder(path: Path, lane: str) -> None:
    _assert_same(path, lane)


@pytest.mark.parametrize("lane", LANES)
def test_the_fast_lanes_take_the_segments_of_a_real_capture(lane: str) -> None:
    decoder = Decoder()
    with Capture(SAMPLES / "healthy-random-loss.pcap") as capture:
        decoded = [headers.decode(batch, decoder, lane=lane) for batch in capture.batches()]
    segments = sum(len(d.segments["frame"]) for d in decoded)
    syns = sum(int(np.count_nonzero(d.segments["flags"] & 0x02)) for d in decoded)
    slow = syns if lane == "numpy" else 0  # the numpy lane leaves a SYN's options to decode
    assert sum(d.fast for d in decoded) == segments - slow > 1000


def test_the_fast_lane_is_compiled_under_ci() -> None:
    import os

    if os.environ.get("CI") == "true":
        assert COMPILED, "pcapmtu._native was not built"
