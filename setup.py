"""pcapmtu's compiled parts: the record walk (pcapmtu/capture/_walk.c) and the fast pass
(pcapmtu/fast/src/). Without a C compiler at install time the package installs without them,
and pcapmtu reads with the Python walk and analyses with the exact pass alone (the same
reports, slower; README, "Speed"). Wheels are built with them required
(PCAPMTU_REQUIRE_COMPILED=1, set by the cibuildwheel settings in pyproject.toml).
"""

import os

from setuptools import Extension, setup

FAST_SOURCES = ["module.c", "decode.c", "keys.c", "screen.c", "deliver.c", "waiting.c", "dirs.c"]
OPTIONAL = os.environ.get("PCAPMTU_REQUIRE_COMPILED") != "1"

setup(
    ext_modules=[
        Extension("pcapmtu.capture._walk", ["pcapmtu/capture/_walk.c"], optional=OPTIONAL),
        Extension(
            "pcapmtu.fast._native",
            [f"pcapmtu/fast/src/{name}" for name in FAST_SOURCES],
            depends=["pcapmtu/fast/src/native.h"],
            optional=OPTIONAL,
        ),
    ]
)
