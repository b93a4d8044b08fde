"""The postmortem page as a reader sees it: opened in headless Chromium, screenshot taken."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from pcapmtu.postmortem import postmortem
from tests.conftest import SAMPLES

WIDTH, HEIGHT = 1200, 4000
VERDICT_RED = (0xB0, 0x00, 0x20)  # report_html.VERDICT_COLOURS["black_hole"]
PLOT_RED = (0xD6, 0x27, 0x28)  # matplotlib's tab:red: the never-delivered segments
# After the load event, the probe writes what the browser made of each picture (an inline
# SVG) into the page: its drawn width and height, how many marks it holds, and how far its
# widest text reaches past the picture's right edge, as the browser's font draws it (the
# legend's room is estimated; at most 0: every word inside).
PROBE = """<script>
window.addEventListener("load", () => {
  const drawn = Array.from(document.querySelectorAll('svg[role="img"]')).map(s => {
    const box = s.getBoundingClientRect();
    const past = Math.max(...Array.from(s.querySelectorAll("text")).map(t => {
      const b = t.getBoundingClientRect();  // as drawn, turned or not
      return Math.max(b.right - box.right, box.left - b.left);
    }));
    return [box.width, box.height, s.querySelectorAll("path").length, past];
  });
  document.body.setAttribute("data-probe", JSON.stringify(drawn));
});
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """Skip where Chromium is missing, except in CI, which installs it: there it is a failure."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test, but chromium is not installed")
        pytest.skip("chromium is not installed")
    return found


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # tests run as root, where Chromium's sandbox refuses to start
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _has_colour(pixels: np.ndarray, rgb: tuple[int, int, int], at_least: int) -> bool:
    colour = np.asarray(rgb) / 255
    close = np.all(np.abs(pixels[:, :, :3] - colour) < 8 / 255, axis=2)
    return int(close.sum()) >= at_least


def test_the_page_shows_the_verdict_and_its_pictures(chromium: str, tmp_path: Path) -> None:
    made = postmortem(SAMPLES / "incident.home-wg0.pcap")
    page = tmp_path / "postmortem.html"
    made.write_html(page)

    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = _run(
        chromium,
        tmp_path / "profile",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probed.as_uri(),
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert made.report.summary() in dom.stdout
    found = re.search(r'data-probe="([^"]*)"', dom.stdout)
    assert found, "the page's load event never came"
    pictures = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(pictures) == len(made.figures())
    assert all(width > 300 and height > 150 and marks > 3 for width, height, marks, _ in pictures)
    assert all(past <= 0 for *_, past in pictures), pictures

    shot = tmp_path / "screenshot.png"
    taken = _run(
        chromium,
        tmp_path / "profile",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    assert taken.returncode == 0, taken.stderr[-2000:]
    pixels = imread(str(shot))
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    assert _has_colour(pixels, VERDICT_RED, 200)  # the verdict line, rendered
    assert _has_colour(pixels, PLOT_RED, 200)  # the never-delivered segments, in the pictures
