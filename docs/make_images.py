"""Redraw the README's pictures from the incident sample: python docs/make_images.py [FOLDER]"""

from __future__ import annotations

import sys
from pathlib import Path

from pcapmtu import plot
from pcapmtu.postmortem import postmortem

HERE = Path(__file__).resolve().parent
INCIDENT = HERE.parent / "sample_captures" / "incident.home-wg0.pcap"


def main(folder: Path = HERE) -> None:
    made = postmortem(INCIDENT)
    (capture, flow), *_ = made.stalled()
    pictures = {
        "segment-sizes.png": lambda ax: plot.segment_sizes(
            made.segments, report=made.report, ax=ax
        ),
        "time-sequence.png": lambda ax: plot.time_sequence(
            made.segments, made.acks, flow=flow, capture=capture, ax=ax
        ),
    }
    for name, draw in pictures.items():
        (folder / name).write_bytes(plot.png(draw, dpi=80))
        print(f"wrote {folder / name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
