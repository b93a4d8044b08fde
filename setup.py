"""pcapmtu's compiled parts: the record walk (pcapmtu/capture/_walk.c) and the fast pass
(pcapmtu/fast/src/). Both are optional: without a C compiler the package installs without them,
and pcapmtu reads with the Python walk and analyses with the exact pass alone (the same
reports, slower; README, "Speed").
"""

from setuptools import Extension, setup

FAST_SOURCES = ["module.c", "decode.c", "keys.c", "screen.c"]

setup(
    ext_modules=[
        Extension("pcapmtu.capture._walk", ["pcapmtu/capture/_walk.c"], optional=True),
        Extension(
            "pcapmtu.fast._native",
            [f"pcapmtu/fast/src/{name}" for name in FAST_SOURCES],
            depends=["pcapmtu/fast/src/native.h"],
            optional=True,
        ),
    ]
)
